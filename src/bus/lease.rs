//! One state owner at a time, on NATS: a lease in the JetStream key-value bucket
//! `<stream>-lease`, whose entry expires `bus.lease_secs` after its last write and is renewed
//! every quarter of that. The owner stops its work once it has not renewed for two thirds of
//! the lease (measured from before the renewal was sent), so it has stopped before anyone else
//! can take the lease. A process started while another holds the lease stands by: not ready,
//! no worker, no schedule. The first owner records its store's identity in `<stream>-owner`
//! (no expiry); only a process with that same store ever takes over.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_nats::jetstream::kv;
use serde_json::json;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::BusError;
use super::nats::NatsBus;

/// Whether this process owns the state now, and why not when it does not; cheap to clone.
#[derive(Clone)]
pub struct Ownership(Arc<Inner>);

struct Inner {
    /// No lease needed: the embedded queue (one process by construction) or no NATS.
    sole: bool,
    valid_until: Mutex<Option<Instant>>,
    why: Mutex<String>,
}

impl Ownership {
    /// The only process that could own this state.
    pub fn sole() -> Ownership {
        Ownership(Arc::new(Inner {
            sole: true,
            valid_until: Mutex::new(None),
            why: Mutex::new(String::new()),
        }))
    }

    /// A state process that must hold the lease first.
    pub fn leased() -> Ownership {
        Ownership(Arc::new(Inner {
            sole: false,
            valid_until: Mutex::new(None),
            why: Mutex::new("waiting for the state lease".into()),
        }))
    }

    /// Owns the state now.
    pub fn owns(&self) -> bool {
        self.0.sole
            || self
                .0
                .valid_until
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .is_some_and(|until| Instant::now() < until)
    }

    /// Why it does not own the state (empty when it does).
    pub fn why(&self) -> String {
        if self.owns() {
            return String::new();
        }
        self.0.why.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn acquired(&self, until: Instant) {
        *self.0.valid_until.lock().unwrap_or_else(|e| e.into_inner()) = Some(until);
    }

    /// Extends a lease still valid; one that lapsed stays lapsed (the work may have stopped on
    /// seeing it), even if a renewal sent before the lapse succeeds afterwards.
    fn renewed(&self, until: Instant) {
        let mut valid = self.0.valid_until.lock().unwrap_or_else(|e| e.into_inner());
        if valid.is_some_and(|v| Instant::now() < v) {
            *valid = Some(until);
        }
    }

    fn standing_by(&self, why: String) {
        *self.0.valid_until.lock().unwrap_or_else(|e| e.into_inner()) = None;
        *self.0.why.lock().unwrap_or_else(|e| e.into_inner()) = why;
    }
}

/// The lease of one state process.
pub struct Lease {
    pub bus: Arc<NatsBus>,
    pub ttl: Duration,
    /// Who this process is, as other processes see it: host, process id, start.
    pub holder: String,
    /// Its store's identity.
    pub store_id: String,
    pub ownership: Ownership,
}

/// What an attempt to take the lease came to.
enum Attempt {
    Held(u64),
    /// Another process holds it.
    Busy(String),
    /// The state belongs to another store.
    Foreign(String),
}

const KEY: &str = "holder";
const STORE: &str = "store";

fn unavailable(e: impl std::fmt::Display) -> BusError {
    BusError::Unavailable(e.to_string())
}

impl Lease {
    /// Runs until `cancel`: whenever the lease is held, `start` starts the state's work with a
    /// token that is cancelled, and the work awaited, as soon as the lease might lapse. On the
    /// way out the lease is released, so a successor takes over at once.
    pub async fn hold<F>(self, cancel: CancellationToken, mut start: F)
    where
        F: FnMut(CancellationToken) -> Vec<JoinHandle<()>>,
    {
        let mut said = String::new();
        while !cancel.is_cancelled() {
            let attempt = match self.buckets().await {
                Ok((lease, owner)) => self.attempt(&lease, &owner).await.map(|a| (a, lease)),
                Err(e) => Err(e),
            };
            let why = match attempt {
                Ok((Attempt::Held(revision), lease)) => {
                    tracing::info!(holder = %self.holder, store = %self.store_id, "state lease held: this process owns the state");
                    said.clear();
                    let work = cancel.child_token();
                    let tasks = start(work.clone());
                    let kept = self.keep(&lease, revision, &cancel).await;
                    work.cancel();
                    for task in tasks {
                        let _ = task.await;
                    }
                    match kept {
                        Some(revision) => {
                            let _ = lease.delete_expect_revision(KEY, Some(revision)).await;
                            tracing::info!("state lease released");
                            return;
                        }
                        None => tracing::error!(
                            "state lease lost: this process stopped its workers and schedules"
                        ),
                    }
                    "the state lease lapsed; trying to take it again".to_string()
                }
                Ok((Attempt::Busy(other), _)) => format!(
                    "another state process holds the state lease ({other}); ownership by: not ready, no workers, no schedules"
                ),
                Ok((Attempt::Foreign(other), _)) => format!(
                    "the state belongs to another store ({other}; this process has {}): it will never take over. If that store is gone for good, delete the key \"{STORE}\" of the key-value bucket {}-owner",
                    self.store_id,
                    self.bus.stream()
                ),
                Err(e) => format!("cannot reach the state lease: {e}"),
            };
            if why != said {
                tracing::warn!("{why}");
                said = why.clone();
            }
            self.ownership.standing_by(why);
            tokio::select! {
                _ = tokio::time::sleep(self.ttl / 4) => {}
                _ = cancel.cancelled() => {}
            }
        }
    }

    async fn buckets(&self) -> Result<(kv::Store, kv::Store), BusError> {
        let lease = self.bus.bucket("lease", self.ttl).await?;
        let owner = self.bus.bucket("owner", Duration::ZERO).await?;
        Ok((lease, owner))
    }

    fn value(&self) -> bytes::Bytes {
        json!({"holder": self.holder, "store": self.store_id})
            .to_string()
            .into()
    }

    /// Until when a renewal sent at `sent` lets this process act.
    fn until(&self, sent: Instant) -> Instant {
        sent + self.ttl * 2 / 3
    }

    async fn attempt(&self, lease: &kv::Store, owner: &kv::Store) -> Result<Attempt, BusError> {
        let recorded = owner.get(STORE).await.map_err(unavailable)?;
        let recorded = recorded.map(|v| String::from_utf8_lossy(&v).into_owned());
        if let Some(other) = recorded.as_ref().filter(|s| **s != self.store_id) {
            return Ok(Attempt::Foreign(other.clone()));
        }
        let sent = Instant::now();
        let revision = match lease.create(KEY, self.value()).await {
            Ok(revision) => revision,
            Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => {
                // Its own entry, from before a lapse: it may take it back.
                let entry = lease.entry(KEY).await.map_err(unavailable)?;
                let (value, revision) = entry.map_or((String::new(), 0), |e| {
                    (String::from_utf8_lossy(&e.value).into_owned(), e.revision)
                });
                let theirs: serde_json::Value = serde_json::from_str(&value).unwrap_or_default();
                if theirs["holder"] != self.holder.as_str() {
                    let who = theirs["holder"].as_str().unwrap_or("unknown").to_string();
                    return Ok(Attempt::Busy(who));
                }
                match lease.update(KEY, self.value(), revision).await {
                    Ok(revision) => revision,
                    Err(_) => return Ok(Attempt::Busy(self.holder.clone())),
                }
            }
            Err(e) => return Err(unavailable(format!("the lease bucket: {e}"))),
        };
        if recorded.is_none() {
            let mine = bytes::Bytes::from(self.store_id.clone());
            if let Err(e) = owner.create(STORE, mine).await {
                let now = owner.get(STORE).await.map_err(unavailable)?;
                let now = now.map(|v| String::from_utf8_lossy(&v).into_owned());
                if now.as_deref() != Some(self.store_id.as_str()) {
                    let _ = lease.delete_expect_revision(KEY, Some(revision)).await;
                    let other = now.unwrap_or_else(|| format!("unknown: {e}"));
                    return Ok(Attempt::Foreign(other));
                }
            }
        }
        self.ownership.acquired(self.until(sent));
        Ok(Attempt::Held(revision))
    }

    /// Renews until the lease is lost (`None`) or the process stops (`Some(revision)`, to
    /// release it).
    async fn keep(
        &self,
        lease: &kv::Store,
        mut revision: u64,
        cancel: &CancellationToken,
    ) -> Option<u64> {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(self.ttl / 4) => {}
                _ = cancel.cancelled() => return Some(revision),
            }
            let sent = Instant::now();
            let renewal =
                tokio::time::timeout(self.ttl / 4, lease.update(KEY, self.value(), revision)).await;
            match renewal {
                Ok(Ok(next)) => {
                    revision = next;
                    self.ownership.renewed(self.until(sent));
                }
                Ok(Err(e)) if e.kind() == kv::UpdateErrorKind::WrongLastRevision => {
                    self.ownership
                        .standing_by("another process took the state lease".into());
                    return None;
                }
                Ok(Err(e)) => tracing::warn!(error = %e, "could not renew the state lease"),
                Err(_) => tracing::warn!("renewing the state lease timed out"),
            }
            if !self.ownership.owns() {
                self.ownership
                    .standing_by("the state lease could not be renewed in time".into());
                return None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sole_process_owns_the_state_without_a_lease() {
        let ownership = Ownership::sole();
        assert!(ownership.owns());
        assert_eq!(ownership.why(), "");
    }

    #[test]
    fn a_leased_process_owns_the_state_only_while_its_lease_is_valid() {
        let ownership = Ownership::leased();
        assert!(!ownership.owns());
        assert_eq!(ownership.why(), "waiting for the state lease");

        ownership.acquired(Instant::now() + Duration::from_secs(60));
        assert!(ownership.owns());
        assert_eq!(ownership.why(), "");
        ownership.renewed(Instant::now() + Duration::from_secs(120));
        assert!(ownership.owns());

        ownership.standing_by("another process took the state lease".into());
        assert!(!ownership.owns());
        assert_eq!(ownership.why(), "another process took the state lease");
    }

    #[test]
    fn a_lapsed_lease_stays_lapsed_when_a_late_renewal_succeeds() {
        let ownership = Ownership::leased();
        ownership.acquired(Instant::now() - Duration::from_millis(1));
        assert!(!ownership.owns(), "valid until a moment ago");
        ownership.renewed(Instant::now() + Duration::from_secs(60));
        assert!(
            !ownership.owns(),
            "the work may have stopped on seeing the lapse; only a new acquisition restarts it"
        );
    }
}
