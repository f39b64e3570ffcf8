//! A bulk action's CSV body: rows kept with their line numbers, in order, each with a first
//! cell and its second only when there is one.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| reinstate::fuzzing::bulk_csv(data));
