//! The login webhook body parser (after its signature was verified).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = reinstate::sources::login::parse_login("msg_fuzz", data, time::OffsetDateTime::UNIX_EPOCH);
});
