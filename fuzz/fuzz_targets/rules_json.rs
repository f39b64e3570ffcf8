//! The rules document (`PUT /api/v1/rules`, `reinstate rules import`): accepted only when it
//! is one JSON document with nothing after it.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| reinstate::fuzzing::rules_json(data));
