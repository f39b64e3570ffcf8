//! The console's session cookie: whatever a `Cookie` header holds, it signs in only with the
//! secret of a session that was opened.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| reinstate::fuzzing::session_cookie(data));
