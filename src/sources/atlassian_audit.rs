//! The Atlassian organisation audit log as a login source, for organisations without an
//! identity-provider webhook: `GET /admin/v1/orgs/{org}/events-stream` (oldest first, its
//! `meta.next` cursor kept from poll to poll), each log-in published as a login event (id
//! `atlassian:<event id>`). Which action is a log-in is confirmed against the organisation's
//! `event-actions`: the configured id, else the action Atlassian names "Logged in to account"
//! (no document publishes its id).
//!
//! The position (the stream's cursor, the latest event time published, and the ids published
//! at that exact time) is saved in sled only after the events it covers are on the bus, so a
//! restart neither misses an event nor publishes one twice; a repeat that slips through (a
//! crash between publishing and saving) is still one event id, which the bus and the worker
//! deduplicate. The actor's email is optional in Atlassian's model, so events without one are
//! skipped and logged.

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::Rejected;
use crate::domain::{Email, Event, EventKind, EventUser, Problems, Source};

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AtlassianAuditSourceConfig {
    /// The organisation whose audit log is read (`GET /admin/v1/orgs/{org_id}/events-stream`).
    pub org_id: Option<String>,
    /// An organisation API key with `read:events:admin` (bearer).
    pub api_key: Option<SecretString>,
    /// Seconds between polls.
    pub poll_secs: u64,
    /// The audit action that means "logged in", confirmed against the organisation's
    /// `event-actions`; when it is not listed, the action named "Logged in to account" is used.
    pub action: String,
    /// Requests a minute at most (Atlassian limits its audit-log API per minute: 10 for
    /// `/events`; the stream's limit is not published).
    pub requests_per_minute: u32,
    /// Base URL of the organisation API.
    pub admin_api_url: String,
}

impl Default for AtlassianAuditSourceConfig {
    fn default() -> Self {
        Self {
            org_id: None,
            api_key: None,
            poll_secs: 60,
            action: "user_logged_in".into(),
            requests_per_minute: 10,
            admin_api_url: "https://api.atlassian.com".into(),
        }
    }
}

impl AtlassianAuditSourceConfig {
    pub fn check(&self, problems: &mut Problems) {
        if self.org_id.is_none() {
            return;
        }
        if self
            .api_key
            .as_ref()
            .is_none_or(|k| k.expose_secret().is_empty())
        {
            problems.add("sources.atlassian_audit.api_key", "required with org_id");
        }
        problems.positive(&[
            ("sources.atlassian_audit.poll_secs", self.poll_secs),
            (
                "sources.atlassian_audit.requests_per_minute",
                u64::from(self.requests_per_minute),
            ),
        ]);
        problems.http_url("sources.atlassian_audit.admin_api_url", &self.admin_api_url);
    }
}

/// Where the poller is: the stream's cursor after the last page read, and events up to
/// `from_ms` published, those at exactly `from_ms` in `ids` (the API's `from` is inclusive;
/// without a cursor the stream is read from `from_ms`).
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct Position {
    #[serde(default)]
    pub cursor: Option<String>,
    pub from_ms: i64,
    pub ids: Vec<String>,
}

/// One page of `GET /admin/v1/orgs/{org}/events-stream`.
#[derive(Deserialize)]
pub struct Page {
    #[serde(default)]
    pub data: Vec<AuditEvent>,
    #[serde(default)]
    meta: Meta,
}

#[derive(Default, Deserialize)]
struct Meta {
    /// The cursor that goes on after this page (also past the last, for what comes later).
    #[serde(default)]
    next: Option<String>,
}

/// `GET /admin/v1/orgs/{org}/event-actions`.
#[derive(Deserialize)]
pub struct Actions {
    #[serde(default)]
    data: Vec<ActionModel>,
}

#[derive(Deserialize)]
struct ActionModel {
    id: String,
    #[serde(default)]
    attributes: ActionAttributes,
}

#[derive(Default, Deserialize)]
struct ActionAttributes {
    #[serde(default, rename = "displayName")]
    display_name: String,
}

/// How Atlassian names the log-in action (its audit log activities database).
pub const LOGIN_DISPLAY_NAME: &str = "Logged in to account";

impl Actions {
    pub fn parse(body: &[u8]) -> Result<Actions, Rejected> {
        serde_json::from_slice(body)
            .map_err(|e| Rejected::invalid(format!("the audit log's event actions: {e}")))
    }

    /// The log-in action's id: `configured` when the organisation lists it, else the action
    /// named "Logged in to account".
    pub fn login(&self, configured: &str) -> Result<String, String> {
        if self.data.iter().any(|a| a.id == configured) {
            return Ok(configured.to_string());
        }
        self.data
            .iter()
            .find(|a| {
                a.attributes
                    .display_name
                    .eq_ignore_ascii_case(LOGIN_DISPLAY_NAME)
            })
            .map(|a| a.id.clone())
            .ok_or_else(|| {
                format!(
                    "the organisation's audit log lists no action {configured:?} and none named \
                     {LOGIN_DISPLAY_NAME:?}: set sources.atlassian_audit.action to the log-in's id"
                )
            })
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct AuditEvent {
    pub id: String,
    pub attributes: Attributes,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Attributes {
    #[serde(with = "time::serde::rfc3339")]
    pub time: OffsetDateTime,
    pub action: String,
    #[serde(default)]
    pub actor: Actor,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Actor {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
}

fn millis(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

/// The events not yet published after `position`, oldest first, and the position after each.
pub fn fresh(position: &Position, mut events: Vec<AuditEvent>) -> Vec<AuditEvent> {
    events.retain(|e| {
        let ms = millis(e.attributes.time);
        ms > position.from_ms || (ms == position.from_ms && !position.ids.contains(&e.id))
    });
    events.sort_by(|a, b| (a.attributes.time, &a.id).cmp(&(b.attributes.time, &b.id)));
    events.dedup_by(|a, b| a.id == b.id);
    events
}

/// Moves the position past `event`.
pub fn advance(position: &mut Position, event: &AuditEvent) {
    let ms = millis(event.attributes.time);
    if ms > position.from_ms {
        position.from_ms = ms;
        position.ids.clear();
    }
    position.ids.push(event.id.clone());
}

/// The login event for an audit entry, or why there is none.
pub fn to_event(e: &AuditEvent) -> Result<Event, Rejected> {
    let email = e
        .attributes
        .actor
        .email
        .as_deref()
        .ok_or_else(|| Rejected::invalid("no actor email"))?;
    let email =
        Email::parse(email).map_err(|err| Rejected::invalid(format!("actor email: {err}")))?;
    let user = EventUser::new(email, e.attributes.actor.id.clone());
    Ok(Event::new(
        Source::Atlassian,
        &e.id,
        EventKind::Login,
        user,
        None,
        e.attributes.time,
    ))
}

impl Page {
    /// Decodes a page as the organisation API sends it.
    pub fn parse(body: &[u8]) -> Result<Page, Rejected> {
        serde_json::from_slice(body)
            .map_err(|e| Rejected::invalid(format!("an audit-log page: {e}")))
    }

    /// The stream's cursor after this page, if it gave one.
    pub fn next_cursor(&self) -> Option<String> {
        self.meta.next.clone().filter(|n| !n.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: &str, secs: i64) -> AuditEvent {
        AuditEvent {
            id: id.into(),
            attributes: Attributes {
                time: OffsetDateTime::from_unix_timestamp(secs).expect("time"),
                action: "user_logged_in".into(),
                actor: Actor::default(),
            },
        }
    }

    #[test]
    fn the_position_skips_what_was_published_and_nothing_else() {
        let mut p = Position::default();
        let first = fresh(&p, vec![event("b", 20), event("a", 10), event("c", 20)]);
        let ids: Vec<_> = first.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["a", "b", "c"], "oldest first");
        for e in &first[..2] {
            advance(&mut p, e);
        }
        assert_eq!(
            p,
            Position {
                cursor: None,
                from_ms: 20_000,
                ids: vec!["b".into()]
            }
        );
        // The API's `from` is inclusive: "b" comes again and is skipped; "c" at the same
        // millisecond was not published yet and is not.
        let again = fresh(
            &p,
            vec![
                event("b", 20),
                event("c", 20),
                event("d", 30),
                event("d", 30),
            ],
        );
        let ids: Vec<_> = again.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["c", "d"]);
    }

    #[test]
    fn the_login_action_is_the_configured_one_or_the_one_named_so() {
        let actions = Actions::parse(
            br#"{"data": [{"id": "user_logged_in_v2", "type": "event-actions",
                 "attributes": {"displayName": "Logged in to account"}},
                {"id": "user_logged_out", "type": "event-actions",
                 "attributes": {"displayName": "Logged out of account"}}]}"#,
        )
        .expect("actions");
        assert_eq!(
            actions.login("user_logged_out").as_deref(),
            Ok("user_logged_out")
        );
        assert_eq!(
            actions.login("user_logged_in").as_deref(),
            Ok("user_logged_in_v2")
        );
        let none = Actions::parse(br#"{"data": []}"#).expect("actions");
        assert!(none.login("user_logged_in").is_err());
    }

    #[test]
    fn the_cursor_comes_from_the_stream_s_meta() {
        let page = Page::parse(br#"{"data": [], "meta": {"next": "abc=", "page_size": 500}}"#)
            .expect("page");
        assert_eq!(page.next_cursor().as_deref(), Some("abc="));
        let last = Page::parse(br#"{"data": [], "meta": {}}"#).expect("page");
        assert_eq!(last.next_cursor(), None);
    }
}
