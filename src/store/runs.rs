//! Reclamation's runs, in the `reclaim` tree: the policies (versioned like the rules), runs and
//! jobs with one entry per user flagged and a count of their actions still to settle, and when
//! the schedule last started a run. What the actions took is the ledger (`ledger.rs`), in the
//! same tree.
//!
//! Keys: `policies`; `run/<id>`; `entry/<run>/<seq>`; `pending/<run>`; `finished/<run>`;
//! `schedule`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{ReclaimWrite, Store, StoreError, dec, enc};
use crate::domain::reclaim::Policy;
use crate::domain::{Email, Product};

/// The live policies, versioned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PoliciesDoc {
    pub v: u32,
    pub version: u64,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schemars(with = "Option<String>", extend("format" = "date-time"))]
    pub updated_at: Option<OffsetDateTime>,
    pub policies: Vec<Policy>,
}

/// What kind of batch a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunKind {
    /// The policies, on a schedule or when asked.
    Reclaim,
    /// An admin's bulk action.
    Job,
    /// Giving back what a run or job took.
    Undo,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    /// Its entries are being written and its actions published.
    Planning,
    /// Its actions are on the bus; workers carry them out.
    Running,
    /// Every entry has its result.
    Done,
}

/// A run of the policies, a bulk job, or an undo.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RunRecord {
    pub v: u32,
    pub id: String,
    pub kind: RunKind,
    /// A preview: planned, nothing done.
    pub dry_run: bool,
    /// `schedule`, or the admin who asked (`admin:<hash>`).
    pub trigger: String,
    /// A job's action; an undo's run or job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub undo_of: Option<String>,
    pub state: RunState,
    #[serde(with = "time::serde::rfc3339")]
    #[schemars(with = "String", extend("format" = "date-time"))]
    pub started_at: OffsetDateTime,
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[schemars(with = "Option<String>", extend("format" = "date-time"))]
    pub finished_at: Option<OffsetDateTime>,
    /// Entries written (users flagged, or users of a job).
    pub entries: u32,
    /// The admins' summary was sent.
    #[serde(default)]
    pub summary_sent: bool,
}

/// What became of one entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum EntryResult {
    /// Waiting for its worker.
    Planned,
    Done,
    Failed,
    /// Nothing to do (already so), or left alone by the plan (protected, waiting).
    Skipped,
    /// A dry run: this is what would happen.
    Preview,
}

/// One user (and product) of a run: what the plan said, why, and what became of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RunEntry {
    pub seq: u32,
    pub account_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<Email>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product: Option<Product>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    /// `warn`, `remove-product-access`, `suspend`, …, `protected`, `waiting`, `cannot-warn`,
    /// `refused`.
    pub step: String,
    pub reason: String,
    /// The action's event, for steps that act.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    /// A warning's reclaim date, a waiting user's.
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[schemars(with = "Option<String>", extend("format" = "date-time"))]
    pub due: Option<OffsetDateTime>,
    pub result: EntryResult,
    /// What was done, or why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[schemars(with = "Option<String>", extend("format" = "date-time"))]
    pub at: Option<OffsetDateTime>,
    /// The products whose seats the step frees (an account-wide step: every product the account
    /// held when it was planned), by key.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub frees: Vec<String>,
    /// The action to carry out, kept so that a run stopped while publishing can publish it
    /// again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<crate::domain::reclaim::Order>,
}

const POLICIES: &[u8] = b"policies";

fn run_key(id: &str) -> Vec<u8> {
    format!("run/{id}").into_bytes()
}
fn entry_key(run: &str, seq: u32) -> Vec<u8> {
    format!("entry/{run}/{seq:08}").into_bytes()
}
pub(super) fn pending_key(run: &str) -> Vec<u8> {
    format!("pending/{run}").into_bytes()
}

/// A stored counter (8 bytes, big-endian); 0 when absent.
pub(super) fn count(value: Option<&[u8]>) -> u64 {
    value
        .and_then(|v| <[u8; 8]>::try_from(v).ok())
        .map_or(0, u64::from_be_bytes)
}

/// The rows that write a run entry.
pub fn entry_write(run: &str, entry: &RunEntry) -> Result<ReclaimWrite, StoreError> {
    Ok((entry_key(run, entry.seq), Some(enc(entry)?)))
}

impl Store {
    pub fn policies(&self) -> Result<PoliciesDoc, StoreError> {
        Ok(match self.reclaim.get(POLICIES)? {
            Some(v) => dec(&v)?,
            None => PoliciesDoc {
                v: 1,
                version: 0,
                updated_at: None,
                policies: Vec::new(),
            },
        })
    }

    /// Stores the policies (flushed by the audit entry recorded with the change).
    pub fn put_policies(&self, doc: &PoliciesDoc) -> Result<(), StoreError> {
        self.reclaim.insert(POLICIES, enc(doc)?)?;
        Ok(())
    }

    /// Writes a run, entries of it and (when given) its count of actions to go, then flushes.
    pub async fn put_run(
        &self,
        run: &RunRecord,
        entries: &[RunEntry],
        actions: Option<u64>,
    ) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        batch.insert(run_key(&run.id), enc(run)?);
        for e in entries {
            batch.insert(entry_key(&run.id, e.seq), enc(e)?);
        }
        if let Some(n) = actions {
            batch.insert(pending_key(&run.id), &n.to_be_bytes());
        }
        self.reclaim.apply_batch(batch)?;
        self.flush().await
    }

    /// Moves a run from planning to running, unless it has moved on already (its actions, once
    /// published, may all settle and finish it before the publisher gets here); the run as it
    /// now stands.
    pub async fn mark_running(&self, id: &str) -> Result<Option<RunRecord>, StoreError> {
        loop {
            let Some(current) = self.reclaim.get(run_key(id))? else {
                return Ok(None);
            };
            let mut run: RunRecord = dec(&current)?;
            if run.state != RunState::Planning {
                return Ok(Some(run));
            }
            run.state = RunState::Running;
            let swapped =
                self.reclaim
                    .compare_and_swap(run_key(id), Some(current), Some(enc(&run)?))?;
            if swapped.is_ok() {
                self.flush().await?;
                return Ok(Some(run));
            }
        }
    }

    /// The run's actions not settled yet.
    pub fn run_pending(&self, run: &str) -> Result<u64, StoreError> {
        Ok(count(self.reclaim.get(pending_key(run))?.as_deref()))
    }

    /// Whether this caller is the one to finish the run (once, whoever asks first).
    pub fn claim_finish(&self, run: &str) -> Result<bool, StoreError> {
        let key = format!("finished/{run}");
        Ok(self
            .reclaim
            .compare_and_swap(key, None as Option<&[u8]>, Some(b"1".as_slice()))?
            .is_ok())
    }

    pub fn run(&self, id: &str) -> Result<Option<RunRecord>, StoreError> {
        self.reclaim.get(run_key(id))?.map(|v| dec(&v)).transpose()
    }

    /// Runs (or jobs) newest first.
    pub fn runs(&self, kind: RunKind, limit: usize) -> Result<Vec<RunRecord>, StoreError> {
        let mut out = Vec::new();
        for item in self.reclaim.scan_prefix(b"run/").rev() {
            let run: RunRecord = dec(&item?.1)?;
            if run.kind == kind {
                out.push(run);
                if out.len() >= limit {
                    break;
                }
            }
        }
        Ok(out)
    }

    /// Runs not finished (a restart resumes them).
    pub fn unfinished_runs(&self) -> Result<Vec<RunRecord>, StoreError> {
        let mut out = Vec::new();
        for item in self.reclaim.scan_prefix(b"run/") {
            let run: RunRecord = dec(&item?.1)?;
            if run.state != RunState::Done {
                out.push(run);
            }
        }
        Ok(out)
    }

    pub fn run_entries(&self, run: &str) -> Result<Vec<RunEntry>, StoreError> {
        self.reclaim
            .scan_prefix(format!("entry/{run}/"))
            .map(|item| dec(&item?.1))
            .collect()
    }

    pub fn run_entry(&self, run: &str, seq: u32) -> Result<Option<RunEntry>, StoreError> {
        self.reclaim
            .get(entry_key(run, seq))?
            .map(|v| dec(&v))
            .transpose()
    }

    /// When the schedule last started a run.
    pub fn last_scheduled(&self) -> Result<Option<OffsetDateTime>, StoreError> {
        Ok(match self.reclaim.get(b"schedule")? {
            Some(v) => Some(dec::<TimeValue>(&v)?.0),
            None => None,
        })
    }

    pub async fn set_last_scheduled(&self, at: OffsetDateTime) -> Result<(), StoreError> {
        self.reclaim.insert(b"schedule", enc(&TimeValue(at))?)?;
        self.flush().await
    }
}

#[derive(Serialize, Deserialize)]
struct TimeValue(#[serde(with = "time::serde::rfc3339")] OffsetDateTime);

#[cfg(test)]
mod tests {
    use super::*;

    fn planning(id: &str) -> RunRecord {
        RunRecord {
            v: 1,
            id: id.into(),
            kind: RunKind::Job,
            dry_run: false,
            trigger: "admin:test".into(),
            action: None,
            undo_of: None,
            state: RunState::Planning,
            started_at: OffsetDateTime::now_utc(),
            finished_at: None,
            entries: 1,
            summary_sent: false,
        }
    }

    #[tokio::test]
    async fn a_run_finished_before_its_publisher_marks_it_running_stays_done() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("open");
        store
            .put_run(&planning("job-1"), &[], Some(1))
            .await
            .expect("put");
        assert_eq!(
            store
                .mark_running("job-1")
                .await
                .expect("mark")
                .map(|r| r.state),
            Some(RunState::Running)
        );
        // Its one action settles and finishes it before the publisher's write.
        let mut done = planning("job-2");
        store.put_run(&done, &[], Some(1)).await.expect("put");
        done.state = RunState::Done;
        store.put_run(&done, &[], None).await.expect("finish");
        let now = store.mark_running("job-2").await.expect("mark");
        assert_eq!(now.map(|r| r.state), Some(RunState::Done));
        assert_eq!(
            store.run("job-2").expect("run").map(|r| r.state),
            Some(RunState::Done)
        );
        assert!(store.mark_running("absent").await.expect("mark").is_none());
    }
}
