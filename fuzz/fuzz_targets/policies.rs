//! Reclamation policies (accepted only as one JSON document with nothing after it), and the
//! schedule with its time zone (first line, second line).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| reinstate::fuzzing::policies(data));
