//! The console's rules editor: any posted form read into rules, errors on their rules.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| reinstate::fuzzing::console_forms(data));
