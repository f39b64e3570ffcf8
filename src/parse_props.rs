//! Property tests for every parser and verifier that sees outside input: arbitrary bytes and
//! strings never panic, and garbage is refused. (The HTTP-level counterpart, in
//! `tests/it/bad_input.rs`, checks that each receiver answers such input with a 4xx and the
//! error body.)

use proptest::prelude::*;
use time::OffsetDateTime;

use crate::domain::Email;
use crate::links::KeyRing;
use crate::sources::signature::{BodySecrets, SignedHeaders, WebhookSecret};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

/// Arbitrary text, biased towards JSON-looking input.
fn texty() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[{}\\[\\]\":,a-z0-9 .@_-]{0,200}",
        Just("{}".to_string()),
        Just("null".to_string()),
    ]
}

/// Arbitrary JSON values, a few levels deep.
fn json() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        "[a-zA-Z0-9@._ -]{0,20}".prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::from),
            prop::collection::btree_map(
                prop_oneof![
                    "[a-z]{1,10}",
                    Just("type".to_string()),
                    Just("user".to_string()),
                    Just("data".to_string()),
                    Just("events".to_string()),
                    Just("details".to_string()),
                    Just("issue".to_string()),
                ],
                inner,
                0..6
            )
            .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn emails_never_panic(s in texty()) {
        if let Ok(e) = Email::parse(&s) {
            prop_assert!(e.as_str().contains('@'));
        }
    }

    #[test]
    fn webhook_secrets_never_panic(s in texty()) {
        let _ = WebhookSecret::parse(&s);
    }

    #[test]
    fn standard_webhooks_signatures_refuse_what_was_not_signed(
        id in proptest::option::of(texty()),
        ts in proptest::option::of(texty()),
        sig in proptest::option::of(texty()),
        body in any::<Vec<u8>>(),
    ) {
        let secrets = [WebhookSecret::parse(SECRET).expect("secret")];
        let headers = SignedHeaders {
            id: id.as_deref(),
            timestamp: ts.as_deref(),
            signature: sig.as_deref(),
        };
        prop_assert!(crate::sources::signature::verify(&secrets, &headers, &body, now().unix_timestamp(), 300).is_err());
    }

    #[test]
    fn body_signatures_refuse_what_was_not_signed(sig in texty(), body in any::<Vec<u8>>()) {
        let secrets = BodySecrets::new("k", &["a-long-enough-shared-secret".into()]).expect("secrets");
        prop_assert!(!secrets.verify(&[sig.into_bytes()], &body));
    }

    #[test]
    fn link_tokens_refuse_garbage(token in texty()) {
        let ring = KeyRing::new(&[("k1".into(), vec![7u8; 32])], "k1").expect("ring");
        prop_assert!(ring.verify(&token, now().unix_timestamp()).is_err());
    }

    #[test]
    fn login_bodies_never_panic(body in any::<Vec<u8>>()) {
        prop_assert!(crate::sources::login::parse_login("msg_1", &body, now()).is_err());
    }

    #[test]
    fn json_shaped_login_bodies_never_panic(body in json()) {
        let bytes = serde_json::to_vec(&body).expect("json");
        let _ = crate::sources::login::parse_login("msg_1", &bytes, now());
    }

    #[test]
    fn okta_batches_never_panic(body in json()) {
        let _ = crate::sources::okta::logins(&body, now());
    }

    #[test]
    fn keycloak_events_never_panic(body in json()) {
        let raw = serde_json::to_vec(&body).expect("json");
        let _ = crate::sources::keycloak::login(&body, &raw, now());
    }

    #[test]
    fn jsm_webhooks_never_panic(body in json()) {
        let mut config = crate::sources::jsm::JsmSourceConfig::default();
        config.secrets = vec!["a-long-enough-shared-secret".into()];
        config.request_type_ids = vec!["25".into()];
        let source = crate::sources::jsm::JsmSource::new(&config).expect("source");
        let _ = crate::sources::jsm::classify(&source, &body);
    }

    #[test]
    fn any_method_becomes_one_of_ten_labels(token in "[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}") {
        let method = axum::http::Method::from_bytes(token.as_bytes()).expect("a token is a method");
        let label = crate::metrics::method_label(&method);
        const LABELS: [&str; 10] =
            ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE", "other"];
        prop_assert!(LABELS.contains(&label), "{label}");
        prop_assert_eq!(label == token, LABELS[..9].contains(&token.as_str()));
    }

    #[test]
    fn rules_documents_never_panic(body in any::<Vec<u8>>()) {
        // Any bytes: an error, or (rarely: `[]` is an empty bare list) one JSON document and
        // nothing after it (`[]` then a stray byte was accepted once).
        if crate::domain::rules::RuleList::parse(&body).is_ok() {
            prop_assert!(serde_json::from_slice::<serde_json::Value>(&body).is_ok());
        }
    }

    #[test]
    fn json_shaped_rules_never_panic(body in json()) {
        let _ = crate::domain::rules::RuleList::parse(&serde_json::to_vec(&body).expect("json"));
    }

    #[test]
    fn configurations_never_panic(toml in texty()) {
        let _ = crate::config::Config::from_toml(&toml);
    }
}
