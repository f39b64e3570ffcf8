//! Keycloak event-listener webhooks: `X-Keycloak-Signature` is the HMAC-SHA256 of the raw body
//! under a shared secret, in hex or base64 (senders differ). `LOGIN` events become logins; the
//! event's `id` (or, without one, the body's hash) deduplicates them.

use std::sync::OnceLock;

use axum::http::HeaderMap;
use base64::Engine;
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use super::signature::BodySecrets;
use super::{Decoded, Rejected, Webhook, header};
use crate::domain::{Email, Event, EventKind, EventUser, Problems, Source};

/// `[sources.keycloak]`
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KeycloakSourceConfig {
    /// Shared secrets of the HMAC-SHA256 `X-Keycloak-Signature` (hex or base64); several while rotating.
    pub secrets: Vec<SecretString>,
    #[serde(skip)]
    built: OnceLock<Result<KeycloakSource, Problems>>,
}

impl KeycloakSourceConfig {
    /// The source, built once; `None` while no secret is configured (the source is off).
    pub fn source(&self) -> Result<Option<&KeycloakSource>, &Problems> {
        if self.secrets.is_empty() {
            return Ok(None);
        }
        let built = self.built.get_or_init(|| KeycloakSource::new(self));
        built.as_ref().map(Some)
    }

    pub fn check(&self, problems: &mut Problems) {
        if let Err(e) = self.source() {
            problems.extend(e.clone().into_vec());
        }
    }
}

pub const HEADER_SIGNATURE: &str = "x-keycloak-signature";

#[derive(Clone, Debug)]
pub struct KeycloakSource {
    secrets: BodySecrets,
}

impl KeycloakSource {
    pub fn new(config: &KeycloakSourceConfig) -> Result<KeycloakSource, Problems> {
        Ok(KeycloakSource {
            secrets: BodySecrets::new("sources.keycloak.secrets", &config.secrets)?,
        })
    }

    /// Accepts `<hex>`, `<base64>` or `sha256=<hex>`, against every secret, in constant time.
    pub fn verify(&self, header: Option<&str>, body: &[u8]) -> bool {
        let Some(raw) = header.map(|h| h.trim()) else {
            return false;
        };
        let raw = raw.strip_prefix("sha256=").unwrap_or(raw);
        let candidates: Vec<Vec<u8>> = [
            hex::decode(raw).ok(),
            base64::engine::general_purpose::STANDARD.decode(raw).ok(),
        ]
        .into_iter()
        .flatten()
        .filter(|c| c.len() == 32)
        .collect();
        self.secrets.verify(&candidates, body)
    }
}

/// The login in one delivery, if it is one. Pure.
pub fn login(
    body: &Value,
    raw: &[u8],
    received_at: OffsetDateTime,
) -> Result<Option<Event>, Rejected> {
    let kind = body
        .get("type")
        .and_then(Value::as_str)
        .ok_or_else(|| Rejected::invalid("type: missing"))?;
    if kind != "LOGIN" && !kind.ends_with(".LOGIN") {
        return Ok(None);
    }
    let details = body.get("details").cloned().unwrap_or(Value::Null);
    let email = details
        .get("email")
        .and_then(Value::as_str)
        .or_else(|| {
            details
                .get("username")
                .and_then(Value::as_str)
                .filter(|u| u.contains('@'))
        })
        .ok_or_else(|| {
            Rejected::invalid("details.email: missing (and details.username is not an email)")
        })?;
    let email =
        Email::parse(email).map_err(|r| Rejected::invalid(format!("details.email: {r}")))?;
    let id = match body.get("id").and_then(Value::as_str) {
        Some(id)
            if !id.is_empty()
                && id.len() <= 100
                && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') =>
        {
            id.to_string()
        }
        Some(_) => return Err(Rejected::invalid("id: not an id")),
        None => format!("body-{}", hex::encode(&Sha256::digest(raw)[..12])),
    };
    let occurred_at = body
        .get("time")
        .and_then(Value::as_i64)
        .and_then(|ms| OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000).ok())
        .unwrap_or(received_at);
    Ok(Some(Event {
        received_at,
        ..Event::new(
            Source::Keycloak,
            &id,
            EventKind::Login,
            EventUser::new(email, None),
            None,
            occurred_at,
        )
    }))
}

impl Webhook for KeycloakSource {
    fn authenticate(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        _now: OffsetDateTime,
    ) -> Result<Option<String>, Rejected> {
        if self.verify(header(headers, HEADER_SIGNATURE), body) {
            Ok(None)
        } else {
            Err(Rejected::unauthenticated(
                "invalid_signature",
                "X-Keycloak-Signature is missing or does not match any configured secret",
            ))
        }
    }

    fn decode(
        &self,
        _delivery_id: Option<&str>,
        body: &[u8],
        now: OffsetDateTime,
    ) -> Result<Decoded, Rejected> {
        match login(&super::json(body)?, body, now)? {
            Some(event) => Ok(Decoded::One(Box::new(event))),
            None => Ok(Decoded::Ignored("not a LOGIN event".into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hmac::{Hmac, Mac};
    use serde_json::json;

    fn source() -> KeycloakSource {
        KeycloakSource::new(&KeycloakSourceConfig {
            secrets: vec!["keycloak-secret-0123".to_string().into()],
            ..Default::default()
        })
        .expect("source")
    }

    #[test]
    fn hex_base64_and_prefixed_signatures_verify() {
        let body = br#"{"type":"LOGIN"}"#;
        let mut mac = Hmac::<Sha256>::new_from_slice(b"keycloak-secret-0123").expect("key");
        mac.update(body);
        let tag = mac.finalize().into_bytes();
        let s = source();
        assert!(s.verify(Some(&hex::encode(tag)), body));
        assert!(s.verify(
            Some(&base64::engine::general_purpose::STANDARD.encode(tag)),
            body
        ));
        assert!(s.verify(Some(&format!("sha256={}", hex::encode(tag))), body));
        assert!(!s.verify(Some(&hex::encode(tag)), b"{}"));
        assert!(!s.verify(None, body));
    }

    #[test]
    fn login_events_become_logins_and_others_are_ignored() {
        let body = json!({"id": "e-1", "type": "LOGIN", "time": 1795338000000i64, "userId": "u1",
                          "details": {"username": "Grace@Example.com"}});
        let raw = serde_json::to_vec(&body).expect("json");
        let e = login(&body, &raw, OffsetDateTime::now_utc())
            .expect("valid")
            .expect("a login");
        assert_eq!(
            (
                e.id.as_str(),
                e.user
                    .email
                    .as_ref()
                    .map(|e| e.as_str())
                    .unwrap_or_default()
            ),
            ("keycloak:e-1", "grace@example.com")
        );
        assert_eq!(e.occurred_at.unix_timestamp(), 1795338000);
        assert!(
            login(&json!({"type": "LOGOUT"}), b"", OffsetDateTime::now_utc())
                .expect("valid")
                .is_none()
        );
        let err = login(
            &json!({"type": "LOGIN", "details": {"username": "grace"}}),
            b"",
            OffsetDateTime::now_utc(),
        )
        .expect_err("no email");
        assert!(err.detail.starts_with("details.email"), "{err}");
    }
}
