//! Keycloak event-listener webhooks, as the plugins send them:
//! - signed: `X-Keycloak-Signature` is the HMAC of the raw body under a shared secret, in hex or
//!   base64 (p2-inc `keycloak-events` signs in hex, HmacSHA256 unless configured HmacSHA1);
//! - or, for plugins that cannot sign (vymalo `keycloak-webhook`), opt-in shared tokens in
//!   `Authorization: Bearer`, `Authorization: Basic` or `X-API-KEY` — weaker: a token is the same
//!   on every delivery, so anyone who sees one delivery can send their own.
//!
//! `LOGIN` and `access.LOGIN` events become logins, by email when the event carries one, else by
//! the username (resolved by the worker). The event's `id` or `uid` (or, without one, the
//! body's hash) deduplicates them.

use std::sync::OnceLock;

use axum::http::HeaderMap;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::Value;
use time::OffsetDateTime;

use super::signature::{Algorithm, BodySecrets, SharedTokens};
use super::{Decoded, Rejected, Webhook, header};
use crate::domain::{Email, Event, EventKind, EventUser, Problems, Source, parse_username};

/// `[sources.keycloak]`
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KeycloakSourceConfig {
    /// Shared secrets of the `X-Keycloak-Signature` HMAC (hex or base64); several while rotating.
    pub secrets: Vec<SecretString>,
    /// The HMAC of the signature: `HmacSHA256`, or `HmacSHA1` for a p2-inc plugin set to it.
    pub algorithm: Algorithm,
    /// Opt-in, for plugins that cannot sign: tokens accepted as `Authorization: Bearer <token>`,
    /// `X-API-KEY: <token>`, or `Authorization: Basic` of `user:password` (the token is then
    /// `user:password`). Several while rotating.
    pub tokens: Vec<SecretString>,
    #[serde(skip)]
    built: OnceLock<Result<KeycloakSource, Problems>>,
}

impl KeycloakSourceConfig {
    /// The source, built once; `None` while neither secrets nor tokens are configured.
    pub fn source(&self) -> Result<Option<&KeycloakSource>, &Problems> {
        if self.secrets.is_empty() && self.tokens.is_empty() {
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
pub const HEADER_API_KEY: &str = "x-api-key";

#[derive(Clone, Debug)]
pub struct KeycloakSource {
    secrets: BodySecrets,
    tokens: SharedTokens,
}

impl KeycloakSource {
    pub fn new(config: &KeycloakSourceConfig) -> Result<KeycloakSource, Problems> {
        let mut problems = Problems::default();
        for (i, t) in config.tokens.iter().enumerate() {
            use secrecy::ExposeSecret;
            if t.expose_secret().len() < 16 {
                problems.add(
                    &format!("sources.keycloak.tokens[{i}]"),
                    "at least 16 characters",
                );
            }
        }
        let tokens = SharedTokens::new(&config.tokens);
        match BodySecrets::with(
            "sources.keycloak.secrets",
            &config.secrets,
            config.algorithm,
        ) {
            Ok(secrets) => problems.or(KeycloakSource { secrets, tokens }),
            Err(found) => {
                problems.extend(found.into_vec());
                Err(problems)
            }
        }
    }

    /// Accepts `<hex>`, `<base64>` or `sha256=<hex>`, against every secret, in constant time.
    pub fn verify(&self, header: Option<&str>, body: &[u8]) -> bool {
        let Some(raw) = header.map(|h| h.trim()) else {
            return false;
        };
        let raw = raw.strip_prefix("sha256=").unwrap_or(raw);
        let candidates: Vec<Vec<u8>> = [hex::decode(raw).ok(), STANDARD.decode(raw).ok()]
            .into_iter()
            .flatten()
            .filter(|c| c.len() == self.secrets.tag_len())
            .collect();
        self.secrets.verify(&candidates, body)
    }

    /// Whether the delivery carries a configured token (Bearer, Basic or `X-API-KEY`).
    fn token_presented(&self, headers: &HeaderMap) -> bool {
        if self.tokens.is_empty() {
            return false;
        }
        let authorization = header(headers, "authorization").unwrap_or_default();
        let (scheme, value) = authorization.split_once(' ').unwrap_or_default();
        let from_authorization = match scheme.to_ascii_lowercase().as_str() {
            "bearer" => Some(value.trim().as_bytes().to_vec()),
            "basic" => STANDARD.decode(value.trim()).ok(),
            _ => None,
        };
        let api_key = header(headers, HEADER_API_KEY).map(|k| k.as_bytes().to_vec());
        [from_authorization, api_key]
            .into_iter()
            .flatten()
            .fold(false, |ok, t| ok | self.tokens.accepts(&t))
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
    let user = user(body)?;
    let id = match body
        .get("id")
        .or_else(|| body.get("uid"))
        .and_then(Value::as_str)
    {
        Some(id)
            if !id.is_empty()
                && id.len() <= 100
                && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') =>
        {
            id.to_string()
        }
        Some(_) => return Err(Rejected::invalid("id: not an id")),
        None => format!("body-{}", super::body_hash(raw)),
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
            user,
            None,
            occurred_at,
        )
    }))
}

/// Who logged in: `details.email` when the realm puts it there; else the username the user
/// typed (`details.username`, or p2-inc's `authDetails.username`), an email or a login name.
fn user(body: &Value) -> Result<EventUser, Rejected> {
    if let Some(email) = body.pointer("/details/email").and_then(Value::as_str) {
        let email =
            Email::parse(email).map_err(|r| Rejected::invalid(format!("details.email: {r}")))?;
        return Ok(EventUser::new(email, None));
    }
    let (field, name) = [
        ("details.username", "/details/username"),
        ("authDetails.username", "/authDetails/username"),
    ]
    .into_iter()
    .find_map(|(field, at)| Some((field, body.pointer(at)?.as_str()?)))
    .ok_or_else(|| Rejected::invalid("details.username: missing (and no details.email)"))?;
    if let Ok(email) = Email::parse(name) {
        return Ok(EventUser::new(email, None));
    }
    parse_username(name)
        .map(EventUser::by_username)
        .ok_or_else(|| Rejected::invalid(format!("{field}: neither an email nor a login name")))
}

impl Webhook for KeycloakSource {
    fn authenticate(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        _now: OffsetDateTime,
    ) -> Result<Option<String>, Rejected> {
        if self.token_presented(headers) || self.verify(header(headers, HEADER_SIGNATURE), body) {
            return Ok(None);
        }
        Err(if self.tokens.is_empty() {
            Rejected::unauthenticated(
                "invalid_signature",
                "X-Keycloak-Signature is missing or does not match any configured secret",
            )
        } else {
            Rejected::unauthenticated(
                "invalid_credentials",
                "neither a matching X-Keycloak-Signature nor a configured token (Authorization: \
                 Bearer or Basic, or X-API-KEY)",
            )
        })
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
    use sha2::Sha256;

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
        let by_name = login(
            &json!({"type": "LOGIN", "details": {"username": "grace"}}),
            b"{}",
            OffsetDateTime::now_utc(),
        )
        .expect("valid")
        .expect("a login");
        assert_eq!(by_name.user.username.as_deref(), Some("grace"));
        assert_eq!(by_name.user.email, None);
        let err = login(
            &json!({"type": "LOGIN", "details": {}}),
            b"",
            OffsetDateTime::now_utc(),
        )
        .expect_err("nobody");
        assert!(err.detail.starts_with("details.username"), "{err}");
    }

    #[test]
    fn tokens_are_taken_from_bearer_basic_or_api_key_and_only_when_configured() {
        let with_tokens = KeycloakSource::new(&KeycloakSourceConfig {
            tokens: vec!["a-shared-token-0123".to_string().into()],
            ..Default::default()
        })
        .expect("source");
        let headers = |name: &str, value: &str| {
            let mut h = HeaderMap::new();
            h.insert(
                axum::http::HeaderName::from_bytes(name.as_bytes()).expect("name"),
                value.parse().expect("value"),
            );
            h
        };
        let basic = format!("Basic {}", STANDARD.encode("a-shared-token-0123"));
        for h in [
            headers("authorization", "Bearer a-shared-token-0123"),
            headers("authorization", &basic),
            headers("x-api-key", "a-shared-token-0123"),
        ] {
            assert!(
                with_tokens
                    .authenticate(&h, b"{}", OffsetDateTime::now_utc())
                    .is_ok()
            );
            assert!(
                source()
                    .authenticate(&h, b"{}", OffsetDateTime::now_utc())
                    .is_err(),
                "tokens are opt-in"
            );
        }
        let wrong = headers("authorization", "Bearer a-shared-token-0124");
        let err = with_tokens
            .authenticate(&wrong, b"{}", OffsetDateTime::now_utc())
            .expect_err("wrong token");
        assert_eq!(err.code, "invalid_credentials");
        let short = KeycloakSource::new(&KeycloakSourceConfig {
            tokens: vec!["short".to_string().into()],
            ..Default::default()
        });
        assert!(short.is_err());
    }

    #[test]
    fn sha1_signatures_verify_only_when_configured() {
        let body = br#"{"type":"access.LOGIN"}"#;
        let mut mac = Hmac::<sha1::Sha1>::new_from_slice(b"keycloak-secret-0123").expect("key");
        mac.update(body);
        let sha1 = hex::encode(mac.finalize().into_bytes());
        assert!(!source().verify(Some(&sha1), body));
        let configured = KeycloakSource::new(&KeycloakSourceConfig {
            secrets: vec!["keycloak-secret-0123".to_string().into()],
            algorithm: Algorithm::HmacSha1,
            ..Default::default()
        })
        .expect("source");
        assert!(configured.verify(Some(&sha1), body));
    }
}
