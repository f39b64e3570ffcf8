//! The Atlassian organisation audit log as a login source, for organisations without an
//! identity-provider webhook: `GET /admin/v1/orgs/{org}/events?action=user_logged_in&from=…`,
//! every page followed, each log-in published as a login event (id `atlassian:<event id>`).
//!
//! The position (the latest event time published, and the ids published at that exact time) is
//! saved in sled only after the events it covers are on the bus, so a restart neither misses
//! an event nor publishes one twice; a repeat that slips through (a crash between publishing and
//! saving) is still one event id, which the bus and the worker deduplicate. The response shape
//! (`data[].attributes.{time, action, actor}`) follows Atlassian's Organizations REST API; the
//! actor's email field is not confirmed on a live tenant, so events without one are skipped and
//! logged.

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::Rejected;
use crate::domain::{Email, Event, EventKind, EventUser, Problems, Source};

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AtlassianAuditSourceConfig {
    /// The organisation whose audit log is read (`GET /admin/v1/orgs/{org_id}/events`).
    pub org_id: Option<String>,
    /// An organisation API key with `read:events:admin` (bearer).
    pub api_key: Option<SecretString>,
    /// Seconds between polls.
    pub poll_secs: u64,
    /// The audit action that means "logged in".
    pub action: String,
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
        problems.positive(&[("sources.atlassian_audit.poll_secs", self.poll_secs)]);
        problems.http_url("sources.atlassian_audit.admin_api_url", &self.admin_api_url);
    }
}

/// Where the poller is: events up to `from_ms` are published, those at exactly `from_ms` in
/// `ids` (the API's `from` is inclusive).
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct Position {
    pub from_ms: i64,
    pub ids: Vec<String>,
}

/// One page of `GET /admin/v1/orgs/{org}/events`.
#[derive(Deserialize)]
pub struct Page {
    #[serde(default)]
    pub data: Vec<AuditEvent>,
    #[serde(default)]
    links: Links,
}

#[derive(Default, Deserialize)]
struct Links {
    #[serde(default)]
    next: Option<String>,
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

    /// The cursor of the next page, if any.
    pub fn next_cursor(&self) -> Option<String> {
        self.links.next.as_deref().and_then(next_cursor)
    }
}

/// The `cursor` of a `links.next` URL (or the value itself when it is not a URL).
fn next_cursor(next: &str) -> Option<String> {
    match url::Url::parse(next) {
        Ok(u) => u
            .query_pairs()
            .find(|(k, _)| k == "cursor")
            .map(|(_, v)| v.into_owned()),
        Err(_) => (!next.is_empty()).then(|| next.to_string()),
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
    fn cursors_come_from_next_links() {
        assert_eq!(
            next_cursor("https://api.atlassian.com/admin/v1/orgs/o/events?cursor=abc%3D&x=1"),
            Some("abc=".into())
        );
        assert_eq!(
            next_cursor("https://api.atlassian.com/admin/v1/orgs/o/events"),
            None
        );
        assert_eq!(next_cursor("opaque"), Some("opaque".into()));
    }
}
