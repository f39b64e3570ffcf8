//! Okta's, Keycloak's and Service Management's bodies, as JSON after their signatures.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| reinstate::fuzzing::idp_bodies(data));
