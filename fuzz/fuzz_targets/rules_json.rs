//! The rules document (`PUT /api/v1/rules`, `reinstate rules import`).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = reinstate::domain::rules::RuleList::parse(data);
});
