//! Sources: one file per sender — its configuration, how a delivery is authenticated over the
//! raw bytes, and how it decodes into events. Nothing here does I/O: the receivers in
//! `http::hooks` read the body and hand what these decode to the intake (`flows::intake`).

use axum::http::HeaderMap;
use serde::Deserialize;
use time::OffsetDateTime;

use crate::domain::{Event, Problems};

pub mod atlassian_audit;
pub mod jsm;
pub mod keycloak;
pub mod login;
pub mod mail;
pub mod mailgun;
pub mod okta;
pub mod signature;
pub mod slack;
pub mod slack_forms;
pub mod teams;

/// Largest body a receiver reads.
pub const MAX_BODY: usize = 64 * 1024;

/// `[sources]`: every inbound event source.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SourcesConfig {
    /// The generic login webhook (Standard Webhooks).
    pub login: login::LoginSourceConfig,
    /// Jira Service Management requests (`POST /v1/hooks/jira`); off while `secrets` is empty.
    pub jsm: jsm::JsmSourceConfig,
    /// Okta Event Hooks (`/v1/hooks/okta`); off while `secrets` is empty.
    pub okta: okta::OktaSourceConfig,
    /// Keycloak event-listener webhooks (`POST /v1/hooks/keycloak`); off while `secrets` is empty.
    pub keycloak: keycloak::KeycloakSourceConfig,
    /// The Atlassian organisation audit log, polled for log-ins; off while `org_id` is unset.
    pub atlassian_audit: atlassian_audit::AtlassianAuditSourceConfig,
    /// A Slack app's slash command (`POST /v1/hooks/slack/commands`); off while
    /// `signing_secrets` is empty.
    pub slack: slack::SlackSourceConfig,
    /// Mailed requests (`POST /v1/hooks/mail/postmark`, `POST /v1/hooks/mail/mailgun`); each
    /// off while its credentials or keys are not set.
    pub mail: mail::MailSourceConfig,
    /// A Microsoft Teams bot (`POST /v1/hooks/teams/messages`); off while `app_id` is empty.
    pub teams: teams::TeamsSourceConfig,
}

impl SourcesConfig {
    pub fn check(&self, problems: &mut Problems) {
        self.login.check(problems);
        self.jsm.check(problems);
        self.okta.check(problems);
        self.keycloak.check(problems);
        self.atlassian_audit.check(problems);
        self.slack.check(problems);
        self.mail.check(problems);
        self.teams.check(problems);
    }
}

/// Why a delivery is refused; it changes nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {detail}")]
pub struct Rejected {
    pub reason: Refusal,
    /// A stable, machine-readable code, e.g. `invalid_signature`.
    pub code: &'static str,
    /// A sentence naming the problem.
    pub detail: String,
}

/// Whether the sender could not be authenticated, or sent something that is not an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Unauthenticated,
    Invalid,
}

impl Rejected {
    pub fn unauthenticated(code: &'static str, detail: impl Into<String>) -> Rejected {
        Rejected {
            reason: Refusal::Unauthenticated,
            code,
            detail: detail.into(),
        }
    }
    /// An authenticated body that is not a valid event (`invalid_event`).
    pub fn invalid(detail: impl Into<String>) -> Rejected {
        Rejected {
            reason: Refusal::Invalid,
            code: "invalid_event",
            detail: detail.into(),
        }
    }
}

/// What an authenticated delivery decodes into.
#[derive(Debug)]
pub enum Decoded {
    /// One event: answered `202` with its id once the bus holds it.
    One(Box<Event>),
    /// A batch (Okta): answered `200` with the counts once every event is on the bus.
    Batch(Batch),
    /// Nothing for reinstate: answered `202 {"status": "ignored", "detail"}`.
    Ignored(String),
}

/// The events of a delivery that carries several, and how many it held that are not for
/// reinstate.
#[derive(Debug, Default)]
pub struct Batch {
    /// Logins, and `unusable` events to audit.
    pub events: Vec<Event>,
    /// Events of other types, or unsuccessful logins.
    pub skipped: usize,
}

/// A short hash of bytes that identifies a delivery or event that carries no id of its own.
pub(crate) fn body_hash(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(&sha2::Sha256::digest(bytes)[..12])
}

/// A webhook sender. The receiver authenticates a delivery over the raw bytes, and only then
/// decodes it.
pub trait Webhook: Send + Sync + 'static {
    /// Largest body accepted.
    fn max_body(&self) -> usize {
        MAX_BODY
    }
    /// Checks the sender's signature or secret over the raw body; returns the delivery's own
    /// id when the scheme carries one.
    fn authenticate(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        now: OffsetDateTime,
    ) -> Result<Option<String>, Rejected>;
    /// Decodes an authenticated body.
    fn decode(
        &self,
        delivery_id: Option<&str>,
        body: &[u8],
        now: OffsetDateTime,
    ) -> Result<Decoded, Rejected>;
}

/// Why someone asked, as typed: trimmed, at most 500 characters, `None` when empty.
pub(crate) fn reason(typed: &str) -> Option<String> {
    let reason: String = typed.trim().chars().take(500).collect();
    (!reason.is_empty()).then_some(reason)
}

/// A timestamp of Unix seconds, digits only.
pub(crate) fn unix_seconds(timestamp: &str) -> Option<i64> {
    timestamp
        .parse()
        .ok()
        .filter(|_| timestamp.bytes().all(|b| b.is_ascii_digit()))
}

/// A header's value, when present and text.
pub(crate) fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Parses an authenticated JSON body, naming the problem when it is not JSON.
pub(crate) fn json(body: &[u8]) -> Result<serde_json::Value, Rejected> {
    serde_json::from_slice(body).map_err(|e| Rejected::invalid(format!("body: {e}")))
}
