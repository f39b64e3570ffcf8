//! The audit log: every decision and action, newest first by a time-ordered key, indexed by
//! user.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{Store, StoreError, dec, ms_key};
use crate::domain::rules::Decision;
use crate::domain::{AuditOutcome, DirectoryCall, Email, Product, Seats, Source};

/// One audit record: every decision and action, who, what, which rule, source, latency.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AuditEntry {
    pub v: u32,
    /// Time-ordered id (assigned when written).
    #[serde(default)]
    pub id: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schemars(with = "String", extend("format" = "date-time"))]
    pub at: OffsetDateTime,
    pub outcome: AuditOutcome,
    pub event_id: Option<String>,
    pub source: Option<Source>,
    pub user: Option<Email>,
    /// Who the sender named, when it was not (only) this email: a login name, or an identity
    /// that matched no account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<String>,
    pub account_id: Option<String>,
    pub product: Option<Product>,
    pub rule: Option<String>,
    pub reason: String,
    #[serde(default)]
    pub directory_calls: Vec<DirectoryCall>,
    pub seats_before: Option<Seats>,
    /// Seats after a restore, as the directory reports them afterwards.
    #[serde(default)]
    pub seats_after: Option<Seats>,
    /// The deciding rule's message for the user.
    #[serde(default)]
    pub message: Option<String>,
    /// From the event's `occurred_at` to the moment this was recorded.
    pub latency_ms: Option<i64>,
    /// Delivery attempt of the event that led here.
    pub attempt: Option<u32>,
    /// For admin actions: a short hash of the admin token that acted.
    pub actor: Option<String>,
}

impl AuditEntry {
    pub fn new(outcome: AuditOutcome, reason: impl Into<String>) -> AuditEntry {
        AuditEntry {
            v: 1,
            id: String::new(),
            at: OffsetDateTime::now_utc(),
            outcome,
            event_id: None,
            source: None,
            user: None,
            identity: None,
            account_id: None,
            product: None,
            rule: None,
            reason: reason.into(),
            directory_calls: Vec::new(),
            seats_before: None,
            seats_after: None,
            message: None,
            latency_ms: None,
            attempt: None,
            actor: None,
        }
    }
    pub fn with_decision(mut self, d: &Decision) -> AuditEntry {
        self.rule = d.rule.clone();
        self.message = d.message.clone();
        self
    }
}

/// Which audit entries to read.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub user: Option<Email>,
    /// Inclusive.
    pub from: Option<OffsetDateTime>,
    /// Exclusive.
    pub to: Option<OffsetDateTime>,
    pub outcome: Option<AuditOutcome>,
    pub source: Option<crate::domain::Source>,
}

impl Store {
    pub(super) fn audit_key(&self) -> Result<[u8; 16], StoreError> {
        let ms = (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as u64;
        let mut key = [0u8; 16];
        key[..8].copy_from_slice(&ms.to_be_bytes());
        key[8..].copy_from_slice(&self.db.generate_id()?.to_be_bytes());
        Ok(key)
    }

    /// Audit entries matching `filter`, newest first, at most `limit`, older than the entry
    /// whose id is `before` (the cursor of the previous page).
    pub fn audit(
        &self,
        filter: &AuditFilter,
        limit: usize,
        before: Option<&str>,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let mut hi: Vec<u8> = filter.to.map_or(vec![0xff; 16], |t| ms_key(t).to_vec());
        if let Some(b) = before.and_then(|b| hex::decode(b).ok())
            && b < hi
        {
            hi = b;
        }
        let lo: Vec<u8> = filter.from.map(|t| ms_key(t).to_vec()).unwrap_or_default();
        let (tree, prefix) = match &filter.user {
            Some(email) => (&self.audit_by_user, email.user_key().into_bytes()),
            None => (&self.audit, Vec::new()),
        };
        let start = [prefix.as_slice(), &lo].concat();
        let end = [prefix.as_slice(), &hi].concat();
        let mut out = Vec::new();
        for item in tree.range(start..end).rev() {
            let (key, value) = item?;
            let entry: AuditEntry = if filter.user.is_some() {
                match self.audit.get(&key[prefix.len()..])? {
                    Some(v) => dec(&v)?,
                    None => continue,
                }
            } else {
                dec(&value)?
            };
            if filter.outcome.is_some_and(|o| o != entry.outcome)
                || filter.source.is_some_and(|s| Some(s) != entry.source)
            {
                continue;
            }
            out.push(entry);
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::EventOutcome;

    fn entry(email: &str, reason: &str) -> AuditEntry {
        let mut e = AuditEntry::new(AuditOutcome::Denied, reason);
        e.user = Some(Email::parse(email).expect("email"));
        e
    }

    /// Five entries, alternately of a@ (denied) and b@ (restored), r0 to r4.
    async fn five_entries(dir: &std::path::Path) -> Store {
        let store = Store::open(dir).expect("open");
        for i in 0..5 {
            let who = if i % 2 == 0 {
                "a@example.com"
            } else {
                "b@example.com"
            };
            store
                .record(EventOutcome {
                    audit: vec![{
                        let mut e = entry(who, &format!("r{i}"));
                        if i % 2 == 1 {
                            e.outcome = AuditOutcome::Restored;
                        }
                        e
                    }],
                    ..Default::default()
                })
                .await
                .expect("record");
        }
        store
    }

    #[tokio::test]
    async fn audit_reads_newest_first_per_user_and_filters() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = five_entries(dir.path()).await;
        let a = Email::parse("a@example.com").expect("email");
        let reasons: Vec<_> = store
            .audit(
                &AuditFilter {
                    user: Some(a.clone()),
                    ..Default::default()
                },
                10,
                None,
            )
            .expect("audit")
            .into_iter()
            .map(|e| e.reason)
            .collect();
        assert_eq!(reasons, vec!["r4", "r2", "r0"]);
        let reasons = |f: AuditFilter| -> Vec<String> {
            store
                .audit(&f, 10, None)
                .expect("audit")
                .into_iter()
                .map(|e| e.reason)
                .collect()
        };
        let restored = AuditFilter {
            outcome: Some(AuditOutcome::Restored),
            ..Default::default()
        };
        assert_eq!(reasons(restored.clone()), vec!["r3", "r1"]);
        assert!(
            reasons(AuditFilter {
                user: Some(a.clone()),
                ..restored
            })
            .is_empty()
        );
        let hour = time::Duration::hours(1);
        let now = OffsetDateTime::now_utc();
        assert!(
            reasons(AuditFilter {
                to: Some(now - hour),
                ..Default::default()
            })
            .is_empty()
        );
        assert_eq!(
            reasons(AuditFilter {
                user: Some(a),
                from: Some(now - hour),
                to: Some(now + hour),
                ..Default::default()
            })
            .len(),
            3
        );
    }

    #[tokio::test]
    async fn audit_pages_follow_the_cursor() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = five_entries(dir.path()).await;
        let page = store
            .audit(&AuditFilter::default(), 2, None)
            .expect("audit");
        assert_eq!(
            page.iter().map(|e| e.reason.as_str()).collect::<Vec<_>>(),
            vec!["r4", "r3"]
        );
        let next = store
            .audit(&AuditFilter::default(), 2, Some(&page[1].id))
            .expect("audit");
        assert_eq!(
            next.iter().map(|e| e.reason.as_str()).collect::<Vec<_>>(),
            vec!["r2", "r1"]
        );
    }
}
