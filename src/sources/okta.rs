//! Okta Event Hooks: the one-time verification `GET` (`x-okta-verification-challenge` →
//! `{"verification": …}`), then batches of System Log events authenticated by a shared secret
//! in a configured header. Successful `user.session.start` and `user.authentication.sso` events
//! become logins, each deduplicated on its `uuid`; the answer comes once all are on the bus
//! (Okta waits 3 s and retries once).

use axum::http::HeaderMap;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::Value;
use subtle::ConstantTimeEq;
use time::OffsetDateTime;

use super::{Decoded, Rejected, Webhook, header};
use crate::domain::{Email, Event, EventKind, EventUser, Problems, Source};

/// `[sources.okta]`
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OktaSourceConfig {
    /// The header Okta sends the secret in (the Event Hook's "Authentication field").
    pub header: String,
    /// Accepted values of that header; several while rotating.
    pub secrets: Vec<SecretString>,
}

impl Default for OktaSourceConfig {
    fn default() -> Self {
        Self {
            header: "authorization".into(),
            secrets: Vec::new(),
        }
    }
}

impl OktaSourceConfig {
    pub fn check(&self, problems: &mut Problems) {
        if !self.secrets.is_empty() && self.header.trim().is_empty() {
            problems.add(
                "sources.okta.header",
                "name the header Okta sends the secret in",
            );
        }
    }

    /// The source; `None` while no secret is configured (the source is off).
    pub fn source(&self) -> Option<OktaSource> {
        (!self.secrets.is_empty()).then(|| OktaSource::new(self))
    }
}

pub const CHALLENGE: &str = "x-okta-verification-challenge";
const LOGIN_TYPES: &[&str] = &["user.session.start", "user.authentication.sso"];

#[derive(Clone)]
pub struct OktaSource {
    header: String,
    /// SHA-256 of each accepted secret: compared in constant time, whatever their lengths.
    secrets: Vec<[u8; 32]>,
}

impl std::fmt::Debug for OktaSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "OktaSource(header {:?}, {} secrets [redacted])",
            self.header,
            self.secrets.len()
        )
    }
}

fn digest(s: &str) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(s.as_bytes()).into()
}

impl OktaSource {
    fn new(config: &OktaSourceConfig) -> OktaSource {
        OktaSource {
            header: config.header.to_ascii_lowercase(),
            secrets: config
                .secrets
                .iter()
                .map(|s| digest(s.expose_secret()))
                .collect(),
        }
    }

    fn authentic(&self, headers: &HeaderMap) -> bool {
        let Some(value) = headers.get(&self.header).and_then(|v| v.to_str().ok()) else {
            return false;
        };
        let got = digest(value);
        self.secrets
            .iter()
            .fold(false, |ok, s| ok | bool::from(s.ct_eq(&got)))
    }
}

impl OktaSource {
    /// Okta's one-time verification: the challenge to echo, once the secret is checked.
    pub fn challenge<'a>(&self, headers: &'a HeaderMap) -> Result<&'a str, Rejected> {
        if !self.authentic(headers) {
            return Err(self.refused());
        }
        header(headers, CHALLENGE)
            .filter(|v| !v.is_empty() && v.len() <= 256)
            .ok_or_else(|| Rejected {
                code: "missing_challenge",
                ..Rejected::invalid(format!("the {CHALLENGE} header is missing"))
            })
    }

    fn refused(&self) -> Rejected {
        Rejected::unauthenticated(
            "invalid_secret",
            format!(
                "the {} header does not carry a configured secret",
                self.header
            ),
        )
    }
}

impl Webhook for OktaSource {
    fn max_body(&self) -> usize {
        super::MAX_BODY * 4
    }

    fn authenticate(
        &self,
        headers: &HeaderMap,
        _body: &[u8],
        _now: OffsetDateTime,
    ) -> Result<Option<String>, Rejected> {
        if self.authentic(headers) {
            Ok(None)
        } else {
            Err(self.refused())
        }
    }

    fn decode(
        &self,
        _delivery_id: Option<&str>,
        body: &[u8],
        now: OffsetDateTime,
    ) -> Result<Decoded, Rejected> {
        logins(&super::json(body)?, now).map(Decoded::Batch)
    }
}

/// The logins in one delivery; other events are skipped. Pure.
pub fn logins(body: &Value, received_at: OffsetDateTime) -> Result<Vec<Event>, Rejected> {
    let events = body
        .pointer("/data/events")
        .and_then(Value::as_array)
        .ok_or_else(|| Rejected::invalid("data.events: missing"))?;
    if events.len() > 500 {
        return Err(Rejected::invalid("data.events: more than 500 events"));
    }
    let mut out = Vec::new();
    for (i, e) in events.iter().enumerate() {
        let kind = e
            .get("eventType")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let success = e.pointer("/outcome/result").and_then(Value::as_str) == Some("SUCCESS");
        if !LOGIN_TYPES.contains(&kind) || !success {
            continue;
        }
        let uuid = e
            .get("uuid")
            .and_then(Value::as_str)
            .filter(|u| {
                !u.is_empty()
                    && u.len() <= 100
                    && u.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            })
            .ok_or_else(|| {
                Rejected::invalid(format!("data.events[{i}].uuid: missing or not an id"))
            })?;
        let login = e
            .pointer("/actor/alternateId")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                Rejected::invalid(format!("data.events[{i}].actor.alternateId: missing"))
            })?;
        let email = Email::parse(login)
            .map_err(|r| Rejected::invalid(format!("data.events[{i}].actor.alternateId: {r}")))?;
        let occurred_at = e
            .get("published")
            .and_then(Value::as_str)
            .and_then(|p| {
                OffsetDateTime::parse(p, &time::format_description::well_known::Rfc3339).ok()
            })
            .unwrap_or(received_at);
        out.push(Event {
            received_at,
            ..Event::new(
                Source::Okta,
                uuid,
                EventKind::Login,
                EventUser::new(email, None),
                None,
                occurred_at,
            )
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_successful_login_events_become_logins() {
        let body = json!({"eventType": "com.okta.event_hook", "data": {"events": [
            {"uuid": "f790999f-fe87-467a-9880-6982a583986c", "published": "2026-11-22T09:00:00.000Z", "eventType": "user.session.start",
             "actor": {"alternateId": "Grace@Example.com"}, "outcome": {"result": "SUCCESS"}},
            {"uuid": "a1", "eventType": "user.session.start", "actor": {"alternateId": "zed@example.com"}, "outcome": {"result": "FAILURE"}},
            {"uuid": "a2", "eventType": "user.account.lock", "actor": {"alternateId": "zed@example.com"}, "outcome": {"result": "SUCCESS"}},
            {"uuid": "a3", "eventType": "user.authentication.sso", "actor": {"alternateId": "zed@example.com"}, "outcome": {"result": "SUCCESS"}}
        ]}});
        let events = logins(&body, OffsetDateTime::now_utc()).expect("valid");
        assert_eq!(events.len(), 2);
        assert_eq!(
            events[0].id.as_str(),
            "okta:f790999f-fe87-467a-9880-6982a583986c"
        );
        assert_eq!(
            events[0].user.email.as_ref().map(|e| e.as_str()),
            Some("grace@example.com")
        );
        assert_eq!(events[0].occurred_at.year(), 2026);
        assert_eq!(events[1].source, Source::Okta);
    }

    #[test]
    fn malformed_deliveries_name_the_field() {
        let e = logins(&json!({"data": {}}), OffsetDateTime::now_utc()).expect_err("no events");
        assert!(e.detail.starts_with("data.events"), "{e}");
        let bad = json!({"data": {"events": [{"uuid": "x1", "eventType": "user.session.start", "actor": {"alternateId": "not-an-email"}, "outcome": {"result": "SUCCESS"}}]}});
        assert!(
            logins(&bad, OffsetDateTime::now_utc())
                .expect_err("bad email")
                .detail
                .contains("actor.alternateId")
        );
    }
}
