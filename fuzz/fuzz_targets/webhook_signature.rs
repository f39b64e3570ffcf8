//! Standard Webhooks verification: id, timestamp and signature lines, then the body; never
//! accepted (no one here holds the secret's signatures).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| reinstate::fuzzing::webhook_signature(data));
