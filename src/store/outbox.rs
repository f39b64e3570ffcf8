//! Emails waiting to be sent: written with the decision that caused them, removed once sent.

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
        for item in self.outbox.iter() {
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
        for value in self.outbox.iter().values() {
            let email: OutboxEmail = dec(&value?)?;
            next = Some(next.map_or(email.next_attempt_ms, |n| n.min(email.next_attempt_ms)));
        }
        Ok(next)
    }

    /// Emails waiting to be sent.
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
