//! The rules document (`PUT /api/v1/rules`, `reinstate rules import`).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| reinstate::fuzzing::rules_json(data));
