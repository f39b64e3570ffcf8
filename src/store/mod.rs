//! State in sled: one tree per kind of record, JSON values carrying a version `v`. Records that
//! change together change in one transaction, and are flushed to disk before a message is acked.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::Serialize;
use serde::de::DeserializeOwned;
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError};
use time::OffsetDateTime;

use crate::event::Email;
use crate::rules::{Rule, RuleSet};

pub mod disk;
mod records;
pub use records::*;

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
    #[error("the store's disk cannot take writes: {0}")]
    Disk(String),
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
    /// `<user key>/<product>` → id of the open request.
    open_requests: sled::Tree,
    rules: sled::Tree,
    outbox: sled::Tree,
    alerts: sled::Tree,
    links: sled::Tree,
    /// `<user key>` → the last login acted on (when it happened, which event).
    recent_logins: sled::Tree,
    /// Signalled whenever emails are written to the outbox.
    outbox_wake: Arc<tokio::sync::Notify>,
    /// The live rules, compiled; replaced whenever the rules change (one process owns sled).
    compiled: Arc<Mutex<Option<Arc<RuleSet>>>>,
    /// Whether the filesystem can take writes.
    disk: Arc<disk::DiskGuard>,
    /// Flushes shared by concurrent callers (see `flush`).
    flushes: Arc<Flushes>,
}

#[derive(Default)]
struct Flushes {
    /// Tickets handed out (one per `flush` call).
    requested: AtomicU64,
    /// Every ticket up to this one is on disk.
    done: AtomicU64,
    running: tokio::sync::Mutex<()>,
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
    pub source: Option<crate::event::Source>,
}

/// Now, in Unix milliseconds.
pub fn now_ms() -> i64 {
    (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

fn ms_key(t: OffsetDateTime) -> [u8; 8] {
    ((t.unix_timestamp_nanos() / 1_000_000).max(0) as u64).to_be_bytes()
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
        Store::open_with(path, 0)
    }

    /// Opens the store, refusing new work while its filesystem has less than `min_free` bytes
    /// free or is read-only.
    pub fn open_with(path: &Path, min_free: u64) -> Result<Store, StoreError> {
        // sled lets go of its file lock when its flusher thread next wakes, so a previous
        // owner that is shutting down (a restart in the same process, a pod being replaced)
        // can hold it a moment longer: wait a little before giving up.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let db = loop {
            match sled::Config::new().path(path).open() {
                Ok(db) => break db,
                Err(sled::Error::Io(e))
                    if e.to_string().contains("could not acquire lock")
                        && std::time::Instant::now() < deadline =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                Err(source) => {
                    return Err(StoreError::Open {
                        path: path.display().to_string(),
                        source,
                    });
                }
            }
        };
        Ok(Store {
            users: db.open_tree("users")?,
            processed: db.open_tree("processed")?,
            audit: db.open_tree("audit")?,
            audit_by_user: db.open_tree("audit_by_user")?,
            requests: db.open_tree("requests")?,
            open_requests: db.open_tree("open_requests")?,
            rules: db.open_tree("rules")?,
            outbox: db.open_tree("outbox")?,
            alerts: db.open_tree("alerts")?,
            links: db.open_tree("links")?,
            recent_logins: db.open_tree("recent_logins")?,
            outbox_wake: Arc::new(tokio::sync::Notify::new()),
            compiled: Arc::new(Mutex::new(None)),
            disk: Arc::new(disk::DiskGuard::new(path.to_path_buf(), min_free)),
            flushes: Arc::default(),
            db,
        })
    }

    /// Whether new work may be accepted: the filesystem is writable with room to spare.
    pub fn writable(&self) -> Result<(), StoreError> {
        self.disk.check().map_err(StoreError::Disk)
    }

    /// The underlying database, for the embedded queue's trees.
    pub fn db(&self) -> &sled::Db {
        &self.db
    }

    /// Writes sled's dirty pages to disk. Blocking `flush()` off the async threads: sled's
    /// `flush_async` is known to deadlock when several are polled at once.
    ///
    /// Group commit: concurrent callers share flushes. A caller takes a ticket after its
    /// writes; one flush at a time runs, covering every ticket taken before it started, so a
    /// caller whose ticket a finished flush covered returns without flushing again.
    pub async fn flush(&self) -> Result<(), StoreError> {
        let ticket = self.flushes.requested.fetch_add(1, Ordering::SeqCst) + 1;
        let _one_at_a_time = self.flushes.running.lock().await;
        if self.flushes.done.load(Ordering::SeqCst) >= ticket {
            return Ok(());
        }
        let covers = self.flushes.requested.load(Ordering::SeqCst);
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || db.flush())
            .await
            .map_err(|_| StoreError::FlushJoin)??;
        self.flushes.done.store(covers, Ordering::SeqCst);
        Ok(())
    }

    /// The store can be written and flushed.
    pub async fn probe(&self) -> Result<(), StoreError> {
        self.writable()?;
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
            .map(|change| {
                let (open, r) = match change {
                    RequestChange::Open(r) => (true, r),
                    RequestChange::Update(r) => (false, r),
                };
                Ok((open, r.id.clone(), r.open_key(), r.state.is_open(), enc(r)?))
            })
            .collect::<Result<Vec<_>, serde_json::Error>>()?;
        let processed_row = match &outcome.processed {
            Some((id, p)) => Some((id.clone(), enc(p)?)),
            None => None,
        };
        let mut email_rows = Vec::with_capacity(outcome.emails.len());
        for email in &outcome.emails {
            email_rows.push((self.audit_key()?, enc(email)?));
        }
        let alert_rows = outcome
            .alerts
            .iter()
            .map(|(p, state)| Ok((p.key(), enc(state)?)))
            .collect::<Result<Vec<_>, serde_json::Error>>()?;
        let result: Result<(), TransactionError<()>> = (
            &self.users,
            &self.processed,
            &self.audit,
            &self.audit_by_user,
            &self.requests,
            &self.outbox,
            &self.alerts,
            &self.open_requests,
        )
            .transaction(
                |(users, processed, audit, by_user, requests, outbox, alerts, open_requests)| {
                    for (key, value) in &email_rows {
                        outbox.insert(key.as_slice(), value.as_slice())?;
                    }
                    for (key, value) in &alert_rows {
                        alerts.insert(key.as_bytes(), value.as_slice())?;
                    }
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
                    for (open, id, open_key, still_open, value) in &request_rows {
                        let holder = open_requests.get(open_key.as_bytes())?;
                        if *open {
                            // One open request per user and product: the first one stays.
                            if holder.is_none() {
                                requests.insert(id.as_bytes(), value.as_slice())?;
                                open_requests.insert(open_key.as_bytes(), id.as_bytes())?;
                            }
                            continue;
                        }
                        requests.insert(id.as_bytes(), value.as_slice())?;
                        if !still_open && holder.as_deref() == Some(id.as_bytes()) {
                            open_requests.remove(open_key.as_bytes())?;
                        }
                    }
                    if let Some((key, value)) = &processed_row {
                        processed.insert(key.as_bytes(), value.as_slice())?;
                    }
                    Ok::<(), ConflictableTransactionError<()>>(())
                },
            );
        match result {
            Ok(()) => {}
            Err(TransactionError::Storage(e)) => return Err(e.into()),
            Err(TransactionError::Abort(())) => {}
        }
        self.flush().await?;
        if !email_rows.is_empty() {
            self.outbox_wake.notify_one();
        }
        Ok(())
    }

    /// Signalled when emails are queued.
    pub fn outbox_wake(&self) -> Arc<tokio::sync::Notify> {
        self.outbox_wake.clone()
    }

    /// Emails due at `now_ms`, oldest first, at most `limit`.
    pub fn outbox_due(
        &self,
        now_ms: i64,
        limit: usize,
    ) -> Result<Vec<(sled::IVec, crate::notify::OutboxEmail)>, StoreError> {
        let mut out = Vec::new();
        for item in self.outbox.iter() {
            let (key, value) = item?;
            let email: crate::notify::OutboxEmail = dec(&value)?;
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
            let email: crate::notify::OutboxEmail = dec(&value?)?;
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

    pub async fn outbox_retry(
        &self,
        key: &[u8],
        email: &crate::notify::OutboxEmail,
    ) -> Result<(), StoreError> {
        self.outbox.insert(key, enc(email)?)?;
        self.flush().await
    }

    /// Claims a user's login for `event_id`, atomically: `Some(first event)` when another event
    /// already claimed a login of this user that happened within `window_ms` of this one.
    pub fn claim_login(
        &self,
        email: &Email,
        event_id: &str,
        occurred_ms: i64,
        window_ms: i64,
    ) -> Result<Option<String>, StoreError> {
        let key = email.user_key();
        loop {
            let current = self.recent_logins.get(&key)?;
            if let Some(bytes) = &current {
                let (ms, id): (i64, String) = dec(bytes)?;
                if id == event_id {
                    return Ok(None); // a redelivery of the event that holds the claim
                }
                if (occurred_ms - ms).abs() < window_ms {
                    return Ok(Some(id));
                }
            }
            let claim = enc(&(occurred_ms, event_id))?;
            if self
                .recent_logins
                .compare_and_swap(&key, current, Some(claim))?
                .is_ok()
            {
                return Ok(None);
            }
        }
    }

    /// Marks a link's nonce used, atomically: `true` for the first caller only. Flushed.
    pub async fn consume_link(&self, nonce: &str, event_id: &str) -> Result<bool, StoreError> {
        let record =
            enc(&serde_json::json!({ "v": 1, "event_id": event_id, "used_at": now_ms() }))?;
        let first = self
            .links
            .compare_and_swap(nonce, None as Option<&[u8]>, Some(record))?
            .is_ok();
        if first {
            self.flush().await?;
        }
        Ok(first)
    }

    /// Undoes `consume_link` when the event could not be accepted, so the link works again.
    pub async fn release_link(&self, nonce: &str) -> Result<(), StoreError> {
        self.links.remove(nonce)?;
        self.flush().await
    }

    /// The event a used link produced, if it was used.
    pub fn link_use(&self, nonce: &str) -> Result<Option<String>, StoreError> {
        Ok(match self.links.get(nonce)? {
            Some(v) => dec::<serde_json::Value>(&v)?["event_id"]
                .as_str()
                .map(String::from),
            None => None,
        })
    }

    /// Claims the right to send the alert `kind` now: `true` at most once per `window_ms`
    /// (atomic, so concurrent workers send one). The claim is flushed with the next record.
    pub fn claim_alert(&self, kind: &str, now_ms: i64, window_ms: i64) -> Result<bool, StoreError> {
        let key = format!("throttle/{kind}");
        loop {
            let current = self.alerts.get(&key)?;
            if let Some(bytes) = &current {
                let last: i64 = dec(bytes)?;
                if now_ms - last < window_ms {
                    return Ok(false);
                }
            }
            let claim = enc(&now_ms)?;
            if self
                .alerts
                .compare_and_swap(&key, current, Some(claim))?
                .is_ok()
            {
                return Ok(true);
            }
        }
    }

    /// A poller's saved position (JSON), if any.
    pub fn poller_state<T: serde::de::DeserializeOwned>(
        &self,
        poller: &str,
    ) -> Result<Option<T>, StoreError> {
        match self.db.open_tree("pollers")?.get(poller)? {
            Some(v) => Ok(Some(dec(&v)?)),
            None => Ok(None),
        }
    }

    /// Saves a poller's position, flushed: it is written only after what it covers is on the bus.
    pub async fn save_poller_state<T: serde::Serialize>(
        &self,
        poller: &str,
        state: &T,
    ) -> Result<(), StoreError> {
        self.db.open_tree("pollers")?.insert(poller, enc(state)?)?;
        self.flush().await
    }

    /// Which seat alerts were sent for the product's current crossing.
    pub fn alert_state(
        &self,
        product: crate::event::Product,
    ) -> Result<crate::notify::AlertState, StoreError> {
        Ok(match self.alerts.get(product.key())? {
            Some(v) => dec(&v)?,
            None => Default::default(),
        })
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

    /// Writes one user record (not flushed: for tools and benchmarks that flush at the end).
    pub fn put_user(&self, user: &UserRecord) -> Result<(), StoreError> {
        self.users.insert(user.email.user_key(), enc(user)?)?;
        Ok(())
    }

    /// Every user reinstate knows, in key order.
    pub fn users(&self) -> impl Iterator<Item = Result<UserRecord, StoreError>> + '_ {
        self.users.iter().values().map(|v| dec(&v?))
    }

    /// Requests, oldest first; only those in `state` when given.
    pub fn requests(&self, state: Option<RequestState>) -> Result<Vec<RequestRecord>, StoreError> {
        let mut out: Vec<RequestRecord> = Vec::new();
        for value in self.requests.iter().values() {
            let r: RequestRecord = dec(&value?)?;
            if state.is_none_or(|s| s == r.state) {
                out.push(r);
            }
        }
        out.sort_by_key(|r| r.created_at);
        Ok(out)
    }

    pub fn request(&self, id: &str) -> Result<Option<RequestRecord>, StoreError> {
        self.requests.get(id)?.map(|v| dec(&v)).transpose()
    }

    /// The open request of a user for a product, if any.
    pub fn open_request(
        &self,
        email: &Email,
        product: crate::event::Product,
    ) -> Result<Option<RequestRecord>, StoreError> {
        match self
            .open_requests
            .get(format!("{}/{}", email.user_key(), product.key()))?
        {
            Some(id) => self.request(&String::from_utf8_lossy(&id)),
            None => Ok(None),
        }
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
        if let Ok(mut compiled) = self.compiled.lock() {
            *compiled = Some(Arc::new(RuleSet::compile(&doc.rules)));
        }
        let mut entry = AuditEntry::new(
            AuditOutcome::RulesChanged,
            format!(
                "rules version {} → {} ({} rules): {}",
                old.version,
                doc.version,
                doc.rules.len(),
                crate::rules::describe_change(&old.rules, &doc.rules),
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

    /// The live rules, compiled once per change.
    pub fn compiled_rules(&self) -> Result<Arc<RuleSet>, StoreError> {
        if let Ok(cache) = self.compiled.lock()
            && let Some(set) = cache.as_ref()
        {
            return Ok(set.clone());
        }
        let set = Arc::new(RuleSet::compile(&self.rules()?.rules));
        if let Ok(mut cache) = self.compiled.lock() {
            *cache = Some(set.clone());
        }
        Ok(set)
    }

    /// Records that a user's licence was reclaimed and which groups were removed, so that a
    /// later restore puts back exactly those. Audited; flushed before it returns.
    pub async fn record_reclaimed(
        &self,
        email: &Email,
        account_id: Option<String>,
        product: crate::event::Product,
        reclaimed: Reclaimed,
    ) -> Result<UserRecord, StoreError> {
        let mut user = self.user(email)?.unwrap_or_else(|| UserRecord::new(email));
        if account_id.is_some() {
            user.account_id = account_id;
        }
        let names: Vec<&str> = reclaimed.groups.iter().map(|g| g.name.as_str()).collect();
        let mut entry = AuditEntry::new(
            AuditOutcome::ReclaimRecorded,
            format!(
                "{} licence recorded as reclaimed; groups removed: {names:?}",
                product.key()
            ),
        );
        entry.user = Some(email.clone());
        entry.account_id = user.account_id.clone();
        entry.product = Some(product);
        entry.actor = Some(reclaimed.recorded_by.clone());
        let state = user.products.entry(product).or_default();
        state.licensed = false;
        state.reclaimed = Some(reclaimed);
        self.record(EventOutcome {
            user: Some(user.clone()),
            audit: vec![entry],
            ..Default::default()
        })
        .await?;
        Ok(user)
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
