//! Signed email links: an unsigned token is never accepted.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let ring = reinstate::links::KeyRing::new(&[("k1".into(), vec![7u8; 32])], "k1").expect("ring");
    let token = String::from_utf8_lossy(data);
    assert!(ring.verify(&token, 1_700_000_000).is_err());
});
