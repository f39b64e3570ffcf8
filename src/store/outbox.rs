//! Emails and chat messages waiting to be sent: written with the decision that caused them,
//! removed once sent.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{Store, StoreError, dec, enc};

/// An email waiting in the outbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxEmail {
    pub v: u32,
    /// What it is about, e.g. `seat_threshold`, `seats_full`.
    pub kind: String,
    pub to: Vec<String>,
    pub subject: String,
    pub text: String,
    pub html: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    pub attempts: u32,
    /// Unix milliseconds before which it is not tried again.
    pub next_attempt_ms: i64,
    pub last_error: Option<String>,
}

impl OutboxEmail {
    pub fn new(
        kind: &str,
        to: &[String],
        subject: String,
        text: String,
        html: String,
    ) -> OutboxEmail {
        OutboxEmail {
            v: 1,
            kind: kind.into(),
            to: to.to_vec(),
            subject,
            text,
            html,
            created_at: OffsetDateTime::now_utc(),
            attempts: 0,
            next_attempt_ms: 0,
            last_error: None,
        }
    }
}

impl Store {
    /// Signalled when emails are queued.
    pub fn outbox_wake(&self) -> Arc<tokio::sync::Notify> {
        self.outbox_wake.clone()
    }

    /// Emails due at `now_ms`, oldest first, at most `limit`.
    pub fn outbox_due(
        &self,
        now_ms: i64,
        limit: usize,
    ) -> Result<Vec<(sled::IVec, OutboxEmail)>, StoreError> {
        let mut out = Vec::new();
        for item in self.outbox.range(..[POST].as_slice()) {
            let (key, value) = item?;
            let email: OutboxEmail = dec(&value)?;
            if email.next_attempt_ms <= now_ms {
                out.push((key, email));
                if out.len() >= limit {
                    break;
                }
            }
        }
        Ok(out)
    }

    /// When the next waiting email is due, if any.
    pub fn outbox_next_due(&self) -> Result<Option<i64>, StoreError> {
        let mut next: Option<i64> = None;
        for value in self.outbox.range(..[POST].as_slice()).values() {
            let email: OutboxEmail = dec(&value?)?;
            next = Some(next.map_or(email.next_attempt_ms, |n| n.min(email.next_attempt_ms)));
        }
        Ok(next)
    }

    /// Emails and chat messages waiting to be sent.
    pub fn outbox_len(&self) -> usize {
        self.outbox.len()
    }

    pub async fn outbox_sent(&self, key: &[u8]) -> Result<(), StoreError> {
        self.outbox.remove(key)?;
        self.flush().await
    }

    pub async fn outbox_retry(&self, key: &[u8], email: &OutboxEmail) -> Result<(), StoreError> {
        self.outbox.insert(key, enc(email)?)?;
        self.flush().await
    }
}

/// A chat message waiting in the outbox (a Slack reply to `response_url`), kept under its own
/// key prefix beside the emails.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxPost {
    pub v: u32,
    /// What it is, e.g. `slack_reply`.
    pub kind: String,
    /// Where it is posted: a `response_url` (empty for a Web API method).
    pub url: String,
    /// A Slack Web API method to call with the bot token instead (`chat.postMessage`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// A direct message: the channel is the Slack member with this email, looked up
    /// (`users.lookupByEmail`) when it is posted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_email: Option<String>,
    /// A call of the Bot Framework's Connector API (`POST`, `PUT`) at `url`, with the Teams
    /// bot's token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verb: Option<String>,
    /// The JSON posted.
    pub body: serde_json::Value,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    pub attempts: u32,
    /// Unix milliseconds before which it is not tried again.
    pub next_attempt_ms: i64,
    pub last_error: Option<String>,
}

impl OutboxPost {
    /// A message posted to `url` (a `response_url`) as it is.
    pub fn new(kind: &str, url: &str, body: serde_json::Value) -> OutboxPost {
        OutboxPost {
            v: 1,
            kind: kind.into(),
            url: url.into(),
            method: None,
            to_email: None,
            verb: None,
            body,
            created_at: OffsetDateTime::now_utc(),
            attempts: 0,
            next_attempt_ms: 0,
            last_error: None,
        }
    }
}

impl OutboxPost {
    /// A direct message from the Slack app to the member whose email is `email`.
    pub fn slack_dm(kind: &str, email: &str, body: serde_json::Value) -> OutboxPost {
        OutboxPost {
            to_email: Some(email.into()),
            ..OutboxPost::slack_api(kind, "chat.postMessage", body)
        }
    }

    /// A Connector API call (`verb` `POST` or `PUT`) at `url` with the Teams bot's token.
    pub fn teams(kind: &str, verb: &str, url: &str, body: serde_json::Value) -> OutboxPost {
        OutboxPost {
            verb: Some(verb.into()),
            ..OutboxPost::new(kind, url, body)
        }
    }

    /// The channel the post belongs to, for the Overview.
    pub fn channel(&self) -> &'static str {
        if self.verb.is_some() {
            "teams"
        } else {
            "slack"
        }
    }

    /// A call of a Slack Web API `method` with the bot token.
    pub fn slack_api(kind: &str, method: &str, body: serde_json::Value) -> OutboxPost {
        OutboxPost {
            method: Some(method.into()),
            ..OutboxPost::new(kind, "", body)
        }
    }
}

/// The first byte of a chat message's key. An email's key starts with the big-endian
/// milliseconds of its time, whose first byte is 0 for the next two thousand years.
const POST: u8 = b'p';

/// A chat message's key: the prefix, then an audit-style key (time, then a unique id).
pub(super) fn post_key(key: [u8; 16]) -> [u8; 17] {
    let mut out = [POST; 17];
    out[1..].copy_from_slice(&key);
    out
}

/// The chat messages due now, and when the next of the others is.
pub struct DuePosts {
    pub due: Vec<(sled::IVec, OutboxPost)>,
    pub next: Option<i64>,
}

impl Store {
    /// Signalled when chat messages are queued.
    pub fn posts_wake(&self) -> Arc<tokio::sync::Notify> {
        self.posts_wake.clone()
    }

    /// Chat messages due at `now_ms`, oldest first, at most `limit`; and when the next one
    /// not yet due is.
    pub fn posts_due(&self, now_ms: i64, limit: usize) -> Result<DuePosts, StoreError> {
        let mut due = Vec::new();
        let mut next: Option<i64> = None;
        for item in self.outbox.scan_prefix([POST]) {
            let (key, value) = item?;
            let post: OutboxPost = dec(&value)?;
            if post.next_attempt_ms <= now_ms && due.len() < limit {
                due.push((key, post));
            } else {
                next = Some(next.map_or(post.next_attempt_ms, |n| n.min(post.next_attempt_ms)));
            }
        }
        Ok(DuePosts { due, next })
    }

    /// A chat message posted, or given up on.
    pub async fn post_done(&self, key: &[u8]) -> Result<(), StoreError> {
        self.outbox.remove(key)?;
        self.flush().await
    }

    pub async fn post_retry(&self, key: &[u8], post: &OutboxPost) -> Result<(), StoreError> {
        self.outbox.insert(key, enc(post)?)?;
        self.flush().await
    }
}
