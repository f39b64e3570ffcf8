//! The inventory's query string, and a page's cursor (one written is read back the same).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| reinstate::fuzzing::inventory_query(data));
