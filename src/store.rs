//! State in sled: one tree per kind of record, JSON values carrying a version `v`. Records that
//! change together change in one transaction, and are flushed to disk before a message is acked.

use std::collections::BTreeMap;
use std::path::Path;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError};
use time::OffsetDateTime;

use crate::event::{Email, Product, Source};
use crate::rules::{Decision, Outcome, Rule, Seats};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store.path {path}: could not open the sled database: {source}")]
    Open { path: String, source: sled::Error },
    #[error("sled: {0}")]
    Sled(#[from] sled::Error),
    #[error("a stored record could not be read: {0}")]
    Corrupt(#[from] serde_json::Error),
    #[error("the flush to disk did not finish")]
    FlushJoin,
}

/// What the worker did about one product for one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditOutcome {
    Restored,
    AlreadyLicensed,
    ApprovalRequired,
    Denied,
    UnknownUser,
    AccountInactive,
    UnsupportedProduct,
    Failed,
    RulesChanged,
}

impl AuditOutcome {
    pub fn from_rule(outcome: Outcome) -> AuditOutcome {
        match outcome {
            Outcome::Restore => AuditOutcome::Restored,
            Outcome::Approve => AuditOutcome::ApprovalRequired,
            Outcome::Deny => AuditOutcome::Denied,
        }
    }
    pub fn key(self) -> &'static str {
        match self {
            AuditOutcome::Restored => "restored",
            AuditOutcome::AlreadyLicensed => "already_licensed",
            AuditOutcome::ApprovalRequired => "approval_required",
            AuditOutcome::Denied => "denied",
            AuditOutcome::UnknownUser => "unknown_user",
            AuditOutcome::AccountInactive => "account_inactive",
            AuditOutcome::UnsupportedProduct => "unsupported_product",
            AuditOutcome::Failed => "failed",
            AuditOutcome::RulesChanged => "rules_changed",
        }
    }
}

/// One call made to the directory, as recorded in the audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectoryCall {
    pub method: String,
    pub path: String,
    /// Final HTTP status; `None` when no answer came (timeout, connection error).
    pub status: Option<u16>,
    pub attempts: u32,
}

/// One audit record: every decision and action, who, what, which rule, source, latency.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub v: u32,
    /// Time-ordered id (assigned when written).
    #[serde(default)]
    pub id: String,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub outcome: AuditOutcome,
    pub event_id: Option<String>,
    pub source: Option<Source>,
    pub user: Option<Email>,
    pub account_id: Option<String>,
    pub product: Option<Product>,
    pub rule: Option<String>,
    pub reason: String,
    #[serde(default)]
    pub directory_calls: Vec<DirectoryCall>,
    pub seats_before: Option<Seats>,
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
            account_id: None,
            product: None,
            rule: None,
            reason: reason.into(),
            directory_calls: Vec::new(),
            seats_before: None,
            latency_ms: None,
            attempt: None,
            actor: None,
        }
    }
    pub fn with_decision(mut self, d: &Decision) -> AuditEntry {
        self.rule = d.rule.clone();
        self
    }
}

/// Licence state of one user for one product.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductState {
    pub licensed: bool,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub restored_at: Option<OffsetDateTime>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub last_login: Option<OffsetDateTime>,
    /// Groups reinstate added, exactly.
    #[serde(default)]
    pub groups_added: Vec<String>,
}

/// A user reinstate has seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRecord {
    pub v: u32,
    pub email: Email,
    pub account_id: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_login: Option<OffsetDateTime>,
    pub products: BTreeMap<Product, ProductState>,
}

/// A request waiting for an admin (one open request per user and product).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestRecord {
    pub v: u32,
    pub id: String,
    pub state: RequestState,
    pub email: Email,
    pub account_id: Option<String>,
    pub product: Product,
    pub source: Source,
    pub event_id: String,
    pub reason: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestState {
    PendingApproval,
}

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

/// The live rule list, versioned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RulesDoc {
    pub v: u32,
    pub version: u64,
    #[serde(with = "time::serde::rfc3339::option")]
    pub updated_at: Option<OffsetDateTime>,
    pub rules: Vec<Rule>,
}

/// Everything one event changes, written in one transaction.
#[derive(Debug, Default)]
pub struct EventOutcome {
    pub user: Option<UserRecord>,
    pub audit: Vec<AuditEntry>,
    pub requests: Vec<RequestRecord>,
    pub processed: Option<(String, ProcessedRecord)>,
}

/// Handle to the database; cheap to clone.
#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    users: sled::Tree,
    processed: sled::Tree,
    audit: sled::Tree,
    audit_by_user: sled::Tree,
    requests: sled::Tree,
    rules: sled::Tree,
}

const RULES_KEY: &[u8] = b"current";

fn enc<T: Serialize>(value: &T) -> Result<Vec<u8>, serde_json::Error> {
    serde_json::to_vec(value)
}
fn dec<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, StoreError> {
    Ok(serde_json::from_slice(bytes)?)
}

impl Store {
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let db = sled::Config::new()
            .path(path)
            .open()
            .map_err(|source| StoreError::Open {
                path: path.display().to_string(),
                source,
            })?;
        Ok(Store {
            users: db.open_tree("users")?,
            processed: db.open_tree("processed")?,
            audit: db.open_tree("audit")?,
            audit_by_user: db.open_tree("audit_by_user")?,
            requests: db.open_tree("requests")?,
            rules: db.open_tree("rules")?,
            db,
        })
    }

    /// The underlying database, for the embedded queue's trees.
    pub fn db(&self) -> &sled::Db {
        &self.db
    }

    /// Writes sled's dirty pages to disk. Blocking `flush()` off the async threads: sled's
    /// `flush_async` is known to deadlock when several are polled at once.
    pub async fn flush(&self) -> Result<(), StoreError> {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || db.flush())
            .await
            .map_err(|_| StoreError::FlushJoin)??;
        Ok(())
    }

    /// The store can be written and flushed.
    pub async fn probe(&self) -> Result<(), StoreError> {
        self.db.insert(
            b"meta/probe",
            enc(&OffsetDateTime::now_utc().unix_timestamp())?,
        )?;
        self.flush().await
    }

    pub fn processed(&self, event_id: &str) -> Result<Option<ProcessedRecord>, StoreError> {
        self.processed.get(event_id)?.map(|v| dec(&v)).transpose()
    }

    pub fn user(&self, email: &Email) -> Result<Option<UserRecord>, StoreError> {
        self.users
            .get(email.user_key())?
            .map(|v| dec(&v))
            .transpose()
    }

    fn audit_key(&self) -> Result<[u8; 16], StoreError> {
        let ms = (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as u64;
        let mut key = [0u8; 16];
        key[..8].copy_from_slice(&ms.to_be_bytes());
        key[8..].copy_from_slice(&self.db.generate_id()?.to_be_bytes());
        Ok(key)
    }

    /// Writes everything an event changed in one transaction, then flushes.
    pub async fn record(&self, mut outcome: EventOutcome) -> Result<(), StoreError> {
        let mut audit_rows = Vec::with_capacity(outcome.audit.len());
        for entry in &mut outcome.audit {
            let key = self.audit_key()?;
            entry.id = hex::encode(key);
            let user_key = entry.user.as_ref().map(Email::user_key);
            audit_rows.push((key, user_key, enc(entry)?));
        }
        let user_row = match &outcome.user {
            Some(u) => Some((u.email.user_key(), enc(u)?)),
            None => None,
        };
        let request_rows = outcome
            .requests
            .iter()
            .map(|r| {
                Ok((
                    format!("{}/{}", r.email.user_key(), r.product.key()),
                    enc(r)?,
                ))
            })
            .collect::<Result<Vec<_>, serde_json::Error>>()?;
        let processed_row = match &outcome.processed {
            Some((id, p)) => Some((id.clone(), enc(p)?)),
            None => None,
        };
        let result: Result<(), TransactionError<()>> = (
            &self.users,
            &self.processed,
            &self.audit,
            &self.audit_by_user,
            &self.requests,
        )
            .transaction(|(users, processed, audit, by_user, requests)| {
                if let Some((key, value)) = &user_row {
                    users.insert(key.as_bytes(), value.as_slice())?;
                }
                for (key, user_key, value) in &audit_rows {
                    audit.insert(key.as_slice(), value.as_slice())?;
                    if let Some(uk) = user_key {
                        let mut index = uk.as_bytes().to_vec();
                        index.extend_from_slice(key);
                        by_user.insert(index, &[])?;
                    }
                }
                for (key, value) in &request_rows {
                    // One open request per user and product: the first one stays.
                    if requests.get(key.as_bytes())?.is_none() {
                        requests.insert(key.as_bytes(), value.as_slice())?;
                    }
                }
                if let Some((key, value)) = &processed_row {
                    processed.insert(key.as_bytes(), value.as_slice())?;
                }
                Ok::<(), ConflictableTransactionError<()>>(())
            });
        match result {
            Ok(()) => {}
            Err(TransactionError::Storage(e)) => return Err(e.into()),
            Err(TransactionError::Abort(())) => {}
        }
        self.flush().await
    }

    /// Audit entries newest first, optionally of one user, at most `limit`, older than `before`.
    pub fn audit(
        &self,
        user: Option<&Email>,
        limit: usize,
        before: Option<&str>,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let before_key = before.and_then(|b| hex::decode(b).ok());
        let mut out = Vec::new();
        match user {
            Some(email) => {
                let prefix = email.user_key();
                let mut iter = self.audit_by_user.scan_prefix(prefix.as_bytes());
                while let Some(item) = iter.next_back() {
                    let (key, _) = item?;
                    let audit_key = &key[prefix.len()..];
                    if before_key.as_deref().is_some_and(|b| audit_key >= b) {
                        continue;
                    }
                    if let Some(value) = self.audit.get(audit_key)? {
                        out.push(dec(&value)?);
                        if out.len() >= limit {
                            break;
                        }
                    }
                }
            }
            None => {
                let range = match &before_key {
                    Some(b) => self.audit.range(..b.as_slice()),
                    None => self.audit.iter(),
                };
                for item in range.rev().take(limit) {
                    let (_, value) = item?;
                    out.push(dec(&value)?);
                }
            }
        }
        Ok(out)
    }

    pub fn requests(&self) -> Result<Vec<RequestRecord>, StoreError> {
        self.requests.iter().values().map(|v| dec(&v?)).collect()
    }

    pub fn rules(&self) -> Result<RulesDoc, StoreError> {
        Ok(match self.rules.get(RULES_KEY)? {
            Some(v) => dec(&v)?,
            None => RulesDoc {
                v: 1,
                version: 0,
                updated_at: None,
                rules: Vec::new(),
            },
        })
    }

    /// Replaces the rule list, audits the change, flushes. Returns the new document.
    pub async fn replace_rules(
        &self,
        rules: Vec<Rule>,
        actor: &str,
    ) -> Result<RulesDoc, StoreError> {
        let old = self.rules()?;
        let doc = RulesDoc {
            v: 1,
            version: old.version + 1,
            updated_at: Some(OffsetDateTime::now_utc()),
            rules,
        };
        self.rules.insert(RULES_KEY, enc(&doc)?)?;
        let mut entry = AuditEntry::new(
            AuditOutcome::RulesChanged,
            format!(
                "rules replaced: version {} → {} ({} rules)",
                old.version,
                doc.version,
                doc.rules.len()
            ),
        );
        entry.actor = Some(actor.to_string());
        self.record(EventOutcome {
            audit: vec![entry],
            ..Default::default()
        })
        .await?;
        Ok(doc)
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

    fn entry(email: &str, reason: &str) -> AuditEntry {
        let mut e = AuditEntry::new(AuditOutcome::Denied, reason);
        e.user = Some(Email::parse(email).expect("email"));
        e
    }

    #[tokio::test]
    async fn audit_reads_newest_first_per_user_with_a_cursor() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("open");
        for i in 0..5 {
            let who = if i % 2 == 0 {
                "a@example.com"
            } else {
                "b@example.com"
            };
            store
                .record(EventOutcome {
                    audit: vec![entry(who, &format!("r{i}"))],
                    ..Default::default()
                })
                .await
                .expect("record");
        }
        let a = Email::parse("a@example.com").expect("email");
        let reasons: Vec<_> = store
            .audit(Some(&a), 10, None)
            .expect("audit")
            .into_iter()
            .map(|e| e.reason)
            .collect();
        assert_eq!(reasons, vec!["r4", "r2", "r0"]);
        let page = store.audit(None, 2, None).expect("audit");
        assert_eq!(
            page.iter().map(|e| e.reason.as_str()).collect::<Vec<_>>(),
            vec!["r4", "r3"]
        );
        let next = store.audit(None, 2, Some(&page[1].id)).expect("audit");
        assert_eq!(
            next.iter().map(|e| e.reason.as_str()).collect::<Vec<_>>(),
            vec!["r2", "r1"]
        );
    }

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
