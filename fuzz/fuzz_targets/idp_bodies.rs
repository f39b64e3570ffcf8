//! Okta, Keycloak and Jira Service Management bodies, as JSON after their signatures.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(body) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let now = time::OffsetDateTime::UNIX_EPOCH;
    let _ = reinstate::ingress::okta::logins(&body, now);
    let _ = reinstate::ingress::keycloak::login(&body, data, now);
    let config = reinstate::config::JsmSourceConfig {
        secrets: vec!["a-long-enough-shared-secret".into()],
        request_type_ids: vec!["25".into()],
        ..Default::default()
    };
    let source = reinstate::jsm::JsmSource::new(&config).expect("source");
    let _ = reinstate::jsm::classify(&source, &body);
});
