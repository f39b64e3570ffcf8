//! State in sled: one tree per kind of record (a file each here), JSON values carrying a version
//! `v`. Records that change together change in one transaction (`record`), and are flushed to
//! disk before a message is acked.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError, TransactionalTree};
use time::OffsetDateTime;

use crate::domain::Product;
use crate::domain::rules::RuleSet;

mod alerts;
mod audit;
mod channels;
mod claims;
pub mod disk;
mod figures;
mod inventory;
mod ledger;
mod outbox;
mod processed;
mod requests;
mod rules;
mod runs;
mod schedules;
mod sessions;
mod users;
pub mod views;

pub use alerts::AlertState;
pub use audit::{AuditEntry, AuditFilter};
pub use channels::ChannelState;
pub use figures::{DailyFigures, ProductFigures};
pub use inventory::{Account, Accounts, ProductSeats, ProductUse, SyncPhase, SyncState};
pub use ledger::{Change, LedgerEntry, LedgerState, ledger_writes};
pub use outbox::{OutboxEmail, OutboxPost};
pub use processed::ProcessedRecord;
pub use requests::{RequestChange, RequestRecord, RequestState, RequestStep};
pub use rules::RulesDoc;
pub use runs::{EntryResult, PoliciesDoc, RunEntry, RunKind, RunRecord, RunState, entry_write};
pub use schedules::{NamedSchedule, SchedulesDoc};
pub use sessions::SessionRecord;
pub use users::{ProductState, Reclaimed, UserRecord, Warning};
pub use views::SavedView;

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// Directory of the sled database (created when absent). One process owns it.
    pub path: PathBuf,
    /// Below this much free space on the store's filesystem (or when it is read-only),
    /// readiness fails and new events are answered 503 instead of accepted.
    pub min_free_mb: u64,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            path: PathBuf::from("./reinstate-data"),
            min_free_mb: 64,
        }
    }
}

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
    Disk(#[from] disk::DiskUnfit),
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
    /// Account id → `Account`; and the indexes by email and by username.
    inventory: sled::Tree,
    inventory_by_email: sled::Tree,
    inventory_by_username: sled::Tree,
    /// The inventory sync's state.
    inventory_meta: sled::Tree,
    /// Reclamation: policies, runs and jobs (`runs.rs`), the ledger (`ledger.rs`).
    reclaim: sled::Tree,
    /// Console sessions (`sessions.rs`).
    sessions: sled::Tree,
    /// The console's saved views of Inactive Users (`views.rs`).
    views: sled::Tree,
    /// What each chat channel last did (`channels.rs`).
    channels: sled::Tree,
    inventory_cache: Arc<std::sync::RwLock<inventory::InventoryCache>>,
    /// Signalled whenever emails are written to the outbox.
    outbox_wake: Arc<tokio::sync::Notify>,
    /// Signalled whenever chat messages are written to the outbox.
    posts_wake: Arc<tokio::sync::Notify>,
    /// Signalled whenever reclamation's schedules are saved.
    schedules_wake: Arc<tokio::sync::Notify>,
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

/// Now, in Unix milliseconds.
pub fn now_ms() -> i64 {
    (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

fn ms_key(t: OffsetDateTime) -> [u8; 8] {
    ((t.unix_timestamp_nanos() / 1_000_000).max(0) as u64).to_be_bytes()
}

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
            inventory: db.open_tree("inventory")?,
            inventory_by_email: db.open_tree("inventory_by_email")?,
            inventory_by_username: db.open_tree("inventory_by_username")?,
            inventory_meta: db.open_tree("inventory_meta")?,
            reclaim: db.open_tree("reclaim")?,
            sessions: db.open_tree("sessions")?,
            views: db.open_tree("views")?,
            channels: db.open_tree("channels")?,
            inventory_cache: inventory::new_cache(),
            outbox_wake: Arc::new(tokio::sync::Notify::new()),
            posts_wake: Arc::new(tokio::sync::Notify::new()),
            schedules_wake: Arc::new(tokio::sync::Notify::new()),
            compiled: Arc::new(Mutex::new(None)),
            disk: Arc::new(disk::DiskGuard::new(path.to_path_buf(), min_free)),
            flushes: Arc::default(),
            db,
        })
    }

    /// Whether new work may be accepted: the filesystem is writable with room to spare.
    pub fn writable(&self) -> Result<(), StoreError> {
        Ok(self.disk.check()?)
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
}

/// One write of reclamation records, inside an event's transaction (`None`: remove the key).
pub type ReclaimWrite = (Vec<u8>, Option<Vec<u8>>);

/// Everything one event changes, written in one transaction.
#[derive(Debug, Default)]
pub struct EventOutcome {
    pub user: Option<UserRecord>,
    pub audit: Vec<AuditEntry>,
    pub requests: Vec<RequestChange>,
    pub processed: Option<(String, ProcessedRecord)>,
    /// Emails to send, written to the outbox with the rest.
    pub emails: Vec<OutboxEmail>,
    /// Chat messages to post (a Slack reply), written to the outbox with the rest.
    pub posts: Vec<OutboxPost>,
    /// Seat-alert states that changed.
    pub alerts: Vec<(Product, AlertState)>,
    /// Run entries and ledger entries that changed.
    pub reclaim: Vec<ReclaimWrite>,
    /// The run one of whose actions this settles (its count of actions to go drops by one).
    pub settles_run: Option<String>,
}

/// An outcome encoded into the rows it writes (outside the transaction, which may run twice).
struct Rows {
    /// (key, user key for the per-user index, value)
    audit: Vec<([u8; 16], Option<String>, Vec<u8>)>,
    user: Option<(String, Vec<u8>)>,
    /// (opens one?, id, open-index key, still open?, value)
    requests: Vec<(bool, String, String, bool, Vec<u8>)>,
    processed: Option<(String, Vec<u8>)>,
    emails: Vec<([u8; 16], Vec<u8>)>,
    posts: Vec<([u8; 17], Vec<u8>)>,
    alerts: Vec<(&'static str, Vec<u8>)>,
}

type Txn = ConflictableTransactionError<()>;

impl Rows {
    fn encode(store: &Store, outcome: &mut EventOutcome) -> Result<Rows, StoreError> {
        let mut audit = Vec::with_capacity(outcome.audit.len());
        for entry in &mut outcome.audit {
            let key = store.audit_key()?;
            entry.id = hex::encode(key);
            audit.push((key, entry.user.as_ref().map(|u| u.user_key()), enc(entry)?));
        }
        let user = match &outcome.user {
            Some(u) => Some((u.email.user_key(), enc(u)?)),
            None => None,
        };
        let mut requests = Vec::with_capacity(outcome.requests.len());
        for change in &outcome.requests {
            let (opens, r) = match change {
                RequestChange::Open(r) => (true, r),
                RequestChange::Update(r) => (false, r),
            };
            requests.push((
                opens,
                r.id.clone(),
                r.open_key(),
                r.state.is_open(),
                enc(r)?,
            ));
        }
        let processed = match &outcome.processed {
            Some((id, p)) => Some((id.clone(), enc(p)?)),
            None => None,
        };
        let mut emails = Vec::with_capacity(outcome.emails.len());
        for email in &outcome.emails {
            emails.push((store.audit_key()?, enc(email)?));
        }
        let mut posts = Vec::with_capacity(outcome.posts.len());
        for post in &outcome.posts {
            posts.push((outbox::post_key(store.audit_key()?), enc(post)?));
        }
        let mut alerts = Vec::with_capacity(outcome.alerts.len());
        for (product, state) in &outcome.alerts {
            alerts.push((product.key(), enc(state)?));
        }
        Ok(Rows {
            audit,
            user,
            requests,
            processed,
            emails,
            posts,
            alerts,
        })
    }

    fn write_audit(
        &self,
        audit: &TransactionalTree,
        by_user: &TransactionalTree,
    ) -> Result<(), Txn> {
        for (key, user_key, value) in &self.audit {
            audit.insert(key.as_slice(), value.as_slice())?;
            if let Some(uk) = user_key {
                let mut index = uk.as_bytes().to_vec();
                index.extend_from_slice(key);
                by_user.insert(index, &[])?;
            }
        }
        Ok(())
    }

    /// One open request per user and product: the first one stays; closing frees the slot.
    fn write_requests(
        &self,
        requests: &TransactionalTree,
        open: &TransactionalTree,
    ) -> Result<(), Txn> {
        for (opens, id, open_key, still_open, value) in &self.requests {
            let holder = open.get(open_key.as_bytes())?;
            if *opens {
                if holder.is_none() {
                    requests.insert(id.as_bytes(), value.as_slice())?;
                    open.insert(open_key.as_bytes(), id.as_bytes())?;
                }
                continue;
            }
            requests.insert(id.as_bytes(), value.as_slice())?;
            if !still_open && holder.as_deref() == Some(id.as_bytes()) {
                open.remove(open_key.as_bytes())?;
            }
        }
        Ok(())
    }
}

impl Store {
    /// Writes everything an event changed in one transaction, then flushes.
    pub async fn record(&self, mut outcome: EventOutcome) -> Result<(), StoreError> {
        let rows = Rows::encode(self, &mut outcome)?;
        let trees = (
            &self.users,
            &self.processed,
            &self.audit,
            &self.audit_by_user,
            &self.requests,
            &self.outbox,
            &self.alerts,
            &self.open_requests,
            &self.reclaim,
        );
        let result: Result<(), TransactionError<()>> = trees.transaction(
            |(
                users,
                processed,
                audit,
                by_user,
                requests,
                outbox,
                alerts,
                open_requests,
                reclaim,
            )| {
                for (key, value) in &outcome.reclaim {
                    match value {
                        Some(v) => reclaim.insert(key.as_slice(), v.as_slice())?,
                        None => reclaim.remove(key.as_slice())?,
                    };
                }
                if let Some(run) = &outcome.settles_run {
                    let key = runs::pending_key(run);
                    let left = runs::count(reclaim.get(&key)?.as_deref()).saturating_sub(1);
                    reclaim.insert(key, &left.to_be_bytes())?;
                }
                for (key, value) in &rows.emails {
                    outbox.insert(key.as_slice(), value.as_slice())?;
                }
                for (key, value) in &rows.posts {
                    outbox.insert(key.as_slice(), value.as_slice())?;
                }
                for (key, value) in &rows.alerts {
                    alerts.insert(key.as_bytes(), value.as_slice())?;
                }
                if let Some((key, value)) = &rows.user {
                    users.insert(key.as_bytes(), value.as_slice())?;
                }
                rows.write_audit(audit, by_user)?;
                rows.write_requests(requests, open_requests)?;
                if let Some((key, value)) = &rows.processed {
                    processed.insert(key.as_bytes(), value.as_slice())?;
                }
                Ok(())
            },
        );
        match result {
            Ok(()) | Err(TransactionError::Abort(())) => {}
            Err(TransactionError::Storage(e)) => return Err(e.into()),
        }
        self.flush().await?;
        if !rows.emails.is_empty() {
            self.outbox_wake.notify_one();
        }
        if !rows.posts.is_empty() {
            self.posts_wake.notify_one();
        }
        Ok(())
    }
}
