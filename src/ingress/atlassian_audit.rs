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

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

use crate::app::AppState;
use crate::config::{AtlassianAuditSourceConfig, DirectoryConfig};
use crate::directory::CallLog;
use crate::directory::http::{Auth, Http};
use crate::event::{Email, Event, EventKind, EventUser, Source};

const POLLER: &str = "atlassian_audit";
/// Pages followed in one poll at most (the next poll continues from the saved position).
const MAX_PAGES: usize = 50;

/// Where the poller is: events up to `from_ms` are published, those at exactly `from_ms` in
/// `ids` (the API's `from` is inclusive).
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct Position {
    pub from_ms: i64,
    pub ids: Vec<String>,
}

#[derive(Deserialize)]
struct Page {
    #[serde(default)]
    data: Vec<AuditEvent>,
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
fn to_event(e: &AuditEvent) -> Result<Event, String> {
    let email = e
        .attributes
        .actor
        .email
        .as_deref()
        .ok_or("no actor email")?;
    let email = Email::parse(email).map_err(|err| format!("actor email: {err}"))?;
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

pub struct Poller {
    http: Http,
    org: String,
    action: String,
    every: Duration,
}

impl Poller {
    /// `None` when the source is off.
    pub fn new(
        config: &AtlassianAuditSourceConfig,
        limits: &DirectoryConfig,
    ) -> Result<Option<Poller>, String> {
        let Some(org) = &config.org_id else {
            return Ok(None);
        };
        let key = config
            .api_key
            .clone()
            .ok_or("sources.atlassian_audit.api_key: required with org_id")?;
        let http = Http::new(&config.admin_api_url, Auth::Bearer(key), limits)
            .map_err(|e| format!("sources.atlassian_audit: {e}"))?;
        Ok(Some(Poller {
            http,
            org: org.clone(),
            action: config.action.clone(),
            every: Duration::from_secs(config.poll_secs),
        }))
    }

    /// Polls until cancelled.
    pub async fn run(self, state: Arc<AppState>, cancel: CancellationToken) {
        loop {
            if let Err(e) = self.poll(&state).await {
                tracing::warn!(error = %e, "polling the Atlassian audit log failed; will try again");
            }
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(self.every) => {}
            }
        }
    }

    /// One poll: reads every page since the saved position, publishes, saves.
    pub async fn poll(&self, state: &AppState) -> Result<usize, String> {
        let store = &state.store;
        let mut position = match store.poller_state::<Position>(POLLER) {
            Ok(Some(p)) => p,
            // First start: from now on (earlier log-ins predate reinstate).
            Ok(None) => Position {
                from_ms: millis(OffsetDateTime::now_utc()),
                ids: vec![],
            },
            Err(e) => return Err(e.to_string()),
        };
        let path = format!("/admin/v1/orgs/{}/events", self.org);
        let from = position.from_ms.to_string();
        let mut events = Vec::new();
        let mut cursor: Option<String> = None;
        let mut calls = CallLog::default();
        for _ in 0..MAX_PAGES {
            let mut query = vec![("action", self.action.as_str()), ("from", from.as_str())];
            if let Some(c) = &cursor {
                query.push(("cursor", c.as_str()));
            }
            let page: Page = self
                .http
                .get_json(&path, &query, &mut calls)
                .await
                .map_err(|e| e.to_string())?;
            events.extend(page.data);
            cursor = page.links.next.as_deref().and_then(next_cursor);
            if cursor.is_none() {
                break;
            }
        }
        let mut published = 0;
        for e in fresh(&position, events) {
            if e.attributes.action == self.action {
                match to_event(&e) {
                    Ok(event) => {
                        // Stop at the first event the bus cannot take; the saved position
                        // makes the next poll start there.
                        if let Err(err) = super::accept(state, event).await {
                            store
                                .save_poller_state(POLLER, &position)
                                .await
                                .map_err(|e| e.to_string())?;
                            return Err(format!("publishing {}: {}", e.id, err.detail));
                        }
                        published += 1;
                    }
                    Err(why) => tracing::warn!(id = %e.id, why, "audit-log log-in skipped"),
                }
            }
            advance(&mut position, &e);
        }
        store
            .save_poller_state(POLLER, &position)
            .await
            .map_err(|e| e.to_string())?;
        Ok(published)
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
