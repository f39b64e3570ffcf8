//! Signed email links: a token not signed with the ring's key is never accepted.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| reinstate::fuzzing::link_token(data));
