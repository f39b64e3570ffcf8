//! Okta Event Hooks: the one-time verification `GET` (`x-okta-verification-challenge` →
//! `{"verification": …}`), then batches of System Log events authenticated by a shared secret
//! in a configured header. Successful `user.session.start` and `user.authentication.sso` events
//! become logins, each deduplicated on its `uuid`; the answer comes once all are on the bus
//! (Okta waits 3 s and retries once).

use axum::http::HeaderMap;
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::Value;
use time::OffsetDateTime;

use super::signature::SharedTokens;
use super::{Batch, Decoded, Rejected, Webhook, header};
use crate::domain::{Email, Event, EventKind, EventUser, Problems, Source, parse_username};

/// `[sources.okta]`
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OktaSourceConfig {
    /// The header Okta sends the secret in (the Event Hook's "Authentication field").
    pub header: String,
    /// Accepted values of that header; several while rotating.
    pub secrets: Vec<SecretString>,
    /// An Event Hook is authenticated only by that static header: with this on, a leaver Okta
    /// reports, whom the inventory still shows active, is acted on only once Okta's Users API
    /// says the user is deprovisioned, suspended or deleted.
    pub confirm_leavers: bool,
    /// The Okta organisation's URL, for its Users API (e.g. `https://example.okta.com`).
    pub api_url: Option<String>,
    /// An Okta API token (read-only admin is enough), sent as `SSWS <token>`.
    pub api_token: Option<SecretString>,
}

impl Default for OktaSourceConfig {
    fn default() -> Self {
        Self {
            header: "authorization".into(),
            secrets: Vec::new(),
            confirm_leavers: false,
            api_url: None,
            api_token: None,
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
        if self.confirm_leavers {
            match &self.api_url {
                Some(url) => problems.http_url("sources.okta.api_url", url),
                None => problems.add("sources.okta.api_url", "required with confirm_leavers"),
            }
            if self
                .api_token
                .as_ref()
                .is_none_or(|t| secrecy::ExposeSecret::expose_secret(t).is_empty())
            {
                problems.add("sources.okta.api_token", "required with confirm_leavers");
            }
        }
    }

    /// The source; `None` while no secret is configured (the source is off).
    pub fn source(&self) -> Option<OktaSource> {
        (!self.secrets.is_empty()).then(|| OktaSource::new(self))
    }
}

pub const CHALLENGE: &str = "x-okta-verification-challenge";
const LOGIN_TYPES: &[&str] = &["user.session.start", "user.authentication.sso"];
/// Lifecycle changes that make a user a leaver.
const LEAVER_TYPES: &[&str] = &["user.lifecycle.deactivate", "user.lifecycle.suspend"];
/// Okta delivers at most 50 events at once; a delivery of more is not Okta's.
const MAX_EVENTS: usize = 500;

#[derive(Clone, Debug)]
pub struct OktaSource {
    header: String,
    secrets: SharedTokens,
}

impl OktaSource {
    fn new(config: &OktaSourceConfig) -> OktaSource {
        OktaSource {
            header: config.header.to_ascii_lowercase(),
            secrets: SharedTokens::new(&config.secrets),
        }
    }

    fn authentic(&self, headers: &HeaderMap) -> bool {
        headers
            .get(&self.header)
            .is_some_and(|v| self.secrets.accepts(v.as_bytes()))
    }

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

/// The logins of one delivery, each event on its own: a login whose user or id cannot be
/// read becomes an `unusable` event (audited with why), so that the others still count; other
/// event types are skipped. Okta does not retry a delivery answered 4xx, so only a body that is
/// not an Event Hook delivery at all is refused. Pure.
pub fn logins(body: &Value, received_at: OffsetDateTime) -> Result<Batch, Rejected> {
    let events = body
        .pointer("/data/events")
        .and_then(Value::as_array)
        .ok_or_else(|| Rejected::invalid("data.events: missing"))?;
    if events.len() > MAX_EVENTS {
        return Err(Rejected::invalid(format!(
            "data.events: more than {MAX_EVENTS} events"
        )));
    }
    let mut batch = Batch::default();
    for (i, e) in events.iter().enumerate() {
        match login(i, e, received_at) {
            Some(event) => batch.events.push(event),
            None => batch.skipped += 1,
        }
    }
    Ok(batch)
}

/// One System Log event: a login, an unusable login, or `None` (not a successful login).
fn login(i: usize, e: &Value, received_at: OffsetDateTime) -> Option<Event> {
    let kind = e.get("eventType").and_then(Value::as_str)?;
    let success = e.pointer("/outcome/result").and_then(Value::as_str) == Some("SUCCESS");
    let event_kind = if LOGIN_TYPES.contains(&kind) {
        EventKind::Login
    } else if LEAVER_TYPES.contains(&kind) {
        EventKind::Leaver
    } else {
        return None;
    };
    if !success {
        return None;
    }
    let occurred_at = e
        .get("published")
        .and_then(Value::as_str)
        .and_then(|p| OffsetDateTime::parse(p, &time::format_description::well_known::Rfc3339).ok())
        .unwrap_or(received_at);
    let uuid = e.get("uuid").and_then(Value::as_str).filter(|u| {
        !u.is_empty() && u.len() <= 100 && u.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    });
    // A login is the actor's; a lifecycle change is about its target user.
    let (who, seen) = match event_kind {
        EventKind::Leaver => (
            "target[User].alternateId",
            e.get("target")
                .and_then(Value::as_array)
                .and_then(|t| t.iter().find(|t| t["type"] == "User"))
                .and_then(|t| t.get("alternateId"))
                .and_then(Value::as_str),
        ),
        _ => (
            "actor.alternateId",
            e.pointer("/actor/alternateId").and_then(Value::as_str),
        ),
    };
    let user = seen.and_then(|id| match Email::parse(id) {
        Ok(email) => Some(EventUser::new(email, None)),
        Err(_) => parse_username(id).map(EventUser::by_username),
    });
    let problem = match (uuid, seen, user) {
        (Some(uuid), Some(_), Some(user)) => {
            return Some(Event {
                received_at,
                ..Event::new(Source::Okta, uuid, event_kind, user, None, occurred_at)
            });
        }
        (None, _, _) => format!("data.events[{i}].uuid: missing or not an id"),
        (_, None, _) => format!("data.events[{i}].{who}: missing"),
        (_, Some(id), None) => format!(
            "data.events[{i}].{who}: {:?} is neither an email nor a login name",
            shorten(id)
        ),
    };
    // Without a usable uuid, the event's own bytes identify it (a redelivery is the same).
    let id = match uuid {
        Some(uuid) => uuid.to_string(),
        None => format!("unusable-{}", super::body_hash(e.to_string().as_bytes())),
    };
    let seen = EventUser {
        username: seen.map(shorten),
        ..EventUser::default()
    };
    Some(Event {
        received_at,
        problem: Some(problem),
        ..Event::new(
            Source::Okta,
            &id,
            EventKind::Unusable,
            seen,
            None,
            occurred_at,
        )
    })
}

/// At most 100 characters of an identity as seen, for the audit log.
fn shorten(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(100).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }

    #[test]
    fn confirming_leavers_needs_oktas_address_and_a_token() {
        let mut problems = Problems::default();
        let config = OktaSourceConfig {
            confirm_leavers: true,
            api_url: Some("example.okta.com".into()),
            ..Default::default()
        };
        config.check(&mut problems);
        let problems = problems.into_vec().join("\n");
        assert!(problems.contains("sources.okta.api_url"), "{problems}");
        assert!(problems.contains("sources.okta.api_token"), "{problems}");
        let mut none = Problems::default();
        OktaSourceConfig::default().check(&mut none);
        assert!(none.is_empty());
    }

    #[test]
    fn only_successful_login_events_become_logins() {
        let body = json!({"eventType": "com.okta.event_hook", "data": {"events": [
            {"uuid": "f790999f-fe87-467a-9880-6982a583986c", "published": "2026-11-22T09:00:00.000Z", "eventType": "user.session.start",
             "actor": {"alternateId": "Grace@Example.com"}, "outcome": {"result": "SUCCESS"}},
            {"uuid": "a1", "eventType": "user.session.start", "actor": {"alternateId": "zed@example.com"}, "outcome": {"result": "FAILURE"}},
            {"uuid": "a2", "eventType": "user.account.lock", "actor": {"alternateId": "zed@example.com"}, "outcome": {"result": "SUCCESS"}},
            {"uuid": "a3", "eventType": "user.authentication.sso", "actor": {"alternateId": "zed@example.com"}, "outcome": {"result": "SUCCESS"}}
        ]}});
        let batch = logins(&body, now()).expect("valid");
        let events = &batch.events;
        assert_eq!((events.len(), batch.skipped), (2, 2));
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
    fn each_event_stands_alone_and_login_names_are_kept() {
        let body = json!({"data": {"events": [
            {"uuid": "b1", "eventType": "user.session.start", "actor": {"alternateId": "jdoe"}, "outcome": {"result": "SUCCESS"}},
            {"uuid": "b2", "eventType": "user.session.start", "actor": {"alternateId": "two words"}, "outcome": {"result": "SUCCESS"}},
            {"eventType": "user.session.start", "actor": {"alternateId": "ada@example.com"}, "outcome": {"result": "SUCCESS"}},
            {"uuid": "b4", "eventType": "user.session.start", "actor": {}, "outcome": {"result": "SUCCESS"}},
            {"uuid": "b5", "eventType": "user.session.start", "actor": {"alternateId": "ada@example.com"}, "outcome": {"result": "SUCCESS"}}
        ]}});
        let batch = logins(&body, now()).expect("valid");
        let kinds: Vec<_> = batch.events.iter().map(|e| e.kind).collect();
        use EventKind::{Login, Unusable};
        assert_eq!(kinds, [Login, Unusable, Unusable, Unusable, Login]);
        assert_eq!(batch.events[0].user.username.as_deref(), Some("jdoe"));
        let problems: Vec<_> = batch.events[1..4]
            .iter()
            .map(|e| e.problem.clone().unwrap_or_default())
            .collect();
        assert!(
            problems[0].contains("data.events[1].actor.alternateId"),
            "{problems:?}"
        );
        assert_eq!(batch.events[1].user.username.as_deref(), Some("two words"));
        assert!(
            problems[1].starts_with("data.events[2].uuid"),
            "{problems:?}"
        );
        assert!(batch.events[2].id.as_str().starts_with("okta:unusable-"));
        assert!(problems[2].contains("alternateId: missing"), "{problems:?}");
        // The same unusable event delivered again has the same id.
        let again = logins(&body, now()).expect("valid");
        assert_eq!(again.events[2].id, batch.events[2].id);
    }

    #[test]
    fn deactivated_and_suspended_users_are_leavers_named_by_their_target() {
        let body = json!({"data": {"events": [
            {"uuid": "c1", "eventType": "user.lifecycle.deactivate", "outcome": {"result": "SUCCESS"},
             "actor": {"alternateId": "admin@example.com"},
             "target": [{"type": "User", "alternateId": "gone@example.com"}]},
            {"uuid": "c2", "eventType": "user.lifecycle.suspend", "outcome": {"result": "SUCCESS"},
             "actor": {"alternateId": "admin@example.com"}, "target": [{"type": "AppInstance", "alternateId": "x"}]}
        ]}});
        let batch = logins(&body, now()).expect("valid");
        assert_eq!(batch.events[0].kind, EventKind::Leaver);
        assert_eq!(
            batch.events[0].user.email.as_ref().map(|e| e.as_str()),
            Some("gone@example.com")
        );
        assert_eq!(batch.events[1].kind, EventKind::Unusable, "no user target");
    }

    #[test]
    fn only_a_body_that_is_no_delivery_is_refused() {
        let e = logins(&json!({"data": {}}), now()).expect_err("no events");
        assert!(e.detail.starts_with("data.events"), "{e}");
        let many: Vec<Value> = (0..501).map(|_| json!({})).collect();
        let e = logins(&json!({"data": {"events": many}}), now()).expect_err("too many");
        assert!(e.detail.contains("more than 500"), "{e}");
    }
}
