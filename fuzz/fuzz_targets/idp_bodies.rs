//! Okta, Keycloak and Jira Service Management bodies, as JSON after their signatures.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(body) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let now = time::OffsetDateTime::UNIX_EPOCH;
    let _ = reinstate::sources::okta::logins(&body, now);
    let _ = reinstate::sources::keycloak::login(&body, data, now);
    let mut config = reinstate::sources::jsm::JsmSourceConfig::default();
    config.secrets = vec!["a-long-enough-shared-secret".into()];
    config.request_type_ids = vec!["25".into()];
    let source = reinstate::sources::jsm::JsmSource::new(&config).expect("source");
    let _ = reinstate::sources::jsm::classify(&source, &body);
});
