//! The ledger, in the `reclaim` tree: exactly what each action took (or changed), by which run
//! or job, and whether it is in progress, open (not given back), closed (given back) or final.
//!
//! Keys: `ledger/<id>`; `ledger_run/<run>/<id>`; `ledger_open/<account hash>/<id>` while the
//! entry is in progress or open.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{ReclaimWrite, Store, StoreError, dec, enc};
use crate::domain::{Email, GroupRef, Product};

/// What one action changed, exactly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Change {
    /// Removed from these groups (given back: added to exactly these).
    GroupsRemoved { groups: Vec<GroupRef> },
    /// Added to these groups (given back: removed from exactly these).
    GroupsAdded { groups: Vec<GroupRef> },
    /// The account's standing: `suspended`, `deactivated`, `active`, `deleted`.
    Standing { from: String, to: String },
    /// The email address changed (given back: the old one).
    Email { from: String, to: String },
    /// The Data Center username changed (given back: the old one).
    Username { from: String, to: String },
}

/// In words, for people: "removed from groups jira-software-users", "status active → suspended".
impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names = |groups: &[GroupRef]| {
            groups
                .iter()
                .map(|g| g.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        match self {
            Change::GroupsRemoved { groups } => write!(f, "removed from groups {}", names(groups)),
            Change::GroupsAdded { groups } => write!(f, "added to groups {}", names(groups)),
            Change::Standing { from, to } => write!(f, "status {from} → {to}"),
            Change::Email { from, to } => write!(f, "email address {from} → {to}"),
            Change::Username { from, to } => write!(f, "username {from} → {to}"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LedgerState {
    /// The action was started; `change` holds what it means to take.
    InProgress,
    /// Taken, not given back.
    Open,
    /// Given back (a login, a request, a link, an undo).
    Closed,
    /// Cannot be given back (a deletion past its grace).
    Final,
}

/// One thing taken (or changed), exactly, by one action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct LedgerEntry {
    pub v: u32,
    /// The action's event id.
    pub id: String,
    pub run: String,
    pub seq: u32,
    pub account_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<Email>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product: Option<Product>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    pub change: Change,
    #[serde(with = "time::serde::rfc3339")]
    #[schemars(with = "String", extend("format" = "date-time"))]
    pub at: OffsetDateTime,
    pub state: LedgerState,
    /// What gave it back (an event id), or why it cannot be.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_by: Option<String>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[schemars(with = "Option<String>", extend("format" = "date-time"))]
    pub closed_at: Option<OffsetDateTime>,
    /// The policy's `then` was applied after it.
    #[serde(default)]
    pub escalated: bool,
}

impl LedgerEntry {
    pub fn is_open(&self) -> bool {
        self.state == LedgerState::Open
    }
}

fn ledger_key(id: &str) -> Vec<u8> {
    format!("ledger/{id}").into_bytes()
}
fn open_prefix(account: &str) -> String {
    format!("ledger_open/{}/", crate::domain::short_hash(account))
}
fn open_key(account: &str, id: &str) -> Vec<u8> {
    format!("{}{id}", open_prefix(account)).into_bytes()
}

/// The rows that write a ledger entry and keep its indexes.
pub fn ledger_writes(entry: &LedgerEntry) -> Result<Vec<ReclaimWrite>, StoreError> {
    let open = open_key(&entry.account_id, &entry.id);
    Ok(vec![
        (ledger_key(&entry.id), Some(enc(entry)?)),
        (
            format!("ledger_run/{}/{}", entry.run, entry.id).into_bytes(),
            Some(Vec::new()),
        ),
        (
            open,
            matches!(entry.state, LedgerState::Open | LedgerState::InProgress).then(Vec::new),
        ),
    ])
}

impl Store {
    pub fn ledger(&self, id: &str) -> Result<Option<LedgerEntry>, StoreError> {
        self.reclaim
            .get(ledger_key(id))?
            .map(|v| dec(&v))
            .transpose()
    }

    /// What a run or job took (or changed), in the order it happened.
    pub fn ledger_of_run(&self, run: &str) -> Result<Vec<LedgerEntry>, StoreError> {
        let mut out = Vec::new();
        for item in self.reclaim.scan_prefix(format!("ledger_run/{run}/")) {
            let key = item?.0;
            let id =
                String::from_utf8_lossy(&key[format!("ledger_run/{run}/").len()..]).into_owned();
            out.extend(self.ledger(&id)?);
        }
        out.sort_by_key(|e| (e.at, e.seq));
        Ok(out)
    }

    /// Open entries (taken, not given back) of one account.
    pub fn open_ledger(&self, account: &str) -> Result<Vec<LedgerEntry>, StoreError> {
        let prefix = open_prefix(account);
        let mut out = Vec::new();
        for item in self.reclaim.scan_prefix(&prefix) {
            let key = item?.0;
            let id = String::from_utf8_lossy(&key[prefix.len()..]).into_owned();
            out.extend(self.ledger(&id)?.filter(LedgerEntry::is_open));
        }
        Ok(out)
    }

    /// Every open entry, for a run's plan.
    pub fn all_open_ledger(&self) -> Result<Vec<LedgerEntry>, StoreError> {
        let mut out = Vec::new();
        for item in self.reclaim.scan_prefix(b"ledger_open/") {
            let key = item?.0;
            // `ledger_open/<16 hex>/<id>`
            let id = key.get("ledger_open/".len() + 17..).unwrap_or_default();
            out.extend(
                self.ledger(&String::from_utf8_lossy(id))?
                    .filter(LedgerEntry::is_open),
            );
        }
        Ok(out)
    }
}
