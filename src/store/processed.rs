//! Ids of events already handled, with an expiry: idempotency beyond the bus's window.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{Store, StoreError, dec};

/// The outcome of an event already handled (idempotency), with an expiry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessedRecord {
    pub v: u32,
    pub outcome: String,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

impl Store {
    pub fn processed(&self, event_id: &str) -> Result<Option<ProcessedRecord>, StoreError> {
        self.processed.get(event_id)?.map(|v| dec(&v)).transpose()
    }

    /// Deletes processed-event records past their expiry; returns how many.
    pub fn purge_expired_processed(&self, now: OffsetDateTime) -> Result<usize, StoreError> {
        let mut removed = 0;
        for item in self.processed.iter() {
            let (key, value) = item?;
            let expired = dec::<ProcessedRecord>(&value)
                .map(|p| p.expires_at <= now)
                .unwrap_or(false);
            if expired {
                self.processed.remove(key)?;
                removed += 1;
            }
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::EventOutcome;

    #[tokio::test]
    async fn state_survives_reopening() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let store = Store::open(dir.path()).expect("open");
            let now = OffsetDateTime::now_utc();
            let p = ProcessedRecord {
                v: 1,
                outcome: "restored".into(),
                at: now,
                expires_at: now,
            };
            store
                .record(EventOutcome {
                    processed: Some(("login:x".into(), p)),
                    ..Default::default()
                })
                .await
                .expect("record");
        }
        let store = Store::open(dir.path()).expect("reopen");
        assert!(store.processed("login:x").expect("read").is_some());
        assert_eq!(
            store
                .purge_expired_processed(OffsetDateTime::now_utc())
                .expect("purge"),
            1
        );
        assert!(store.processed("login:x").expect("read").is_none());
    }
}
