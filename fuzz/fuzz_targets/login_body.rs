//! The login webhook's body, after its signature was verified.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| reinstate::fuzzing::login_body(data));
