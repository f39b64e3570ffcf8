//! The inventory: every account of the directory, its status, groups, the products it holds
//! and when it was last active in each — synced from the directory (`sync`), updated at once by
//! every login reinstate receives and by its own restores (`seen`), and queried by admins
//! (`query`); the figures of each day recorded as they were (`figures`).

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use tokio::sync::Notify;

use crate::domain::Problems;

pub mod access;
pub mod figures;
pub mod query;
pub mod seen;
pub mod sync;

/// `[inventory]`
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct InventoryConfig {
    /// How often the directory is synced, e.g. "6h"; "0s" syncs only when an admin asks
    /// (`POST /api/v1/inventory/sync`). The first sync runs at once.
    #[serde(with = "humantime_serde")]
    pub sync_every: Duration,
    /// A login of a user whom an inventory synced this recently shows holding the product is
    /// recorded `already_licensed` without asking the directory.
    pub trust_secs: u64,
}

impl Default for InventoryConfig {
    fn default() -> Self {
        InventoryConfig {
            sync_every: Duration::from_secs(6 * 3600),
            trust_secs: 3600,
        }
    }
}

impl InventoryConfig {
    pub fn check(&self, problems: &mut Problems) {
        if !self.sync_every.is_zero() && self.sync_every < Duration::from_secs(60) {
            problems.add(
                "inventory.sync_every",
                "at least 1 minute (or 0s: on demand only)",
            );
        }
    }
}

/// The JSON Schemas of the inventory's answers, as committed in `schemas/`.
pub fn schemas() -> [(&'static str, serde_json::Value); 3] {
    let json = |s: schemars::Schema| serde_json::to_value(s).unwrap_or_default();
    [
        (
            "inventory-summary.schema.json",
            json(schemars::schema_for!(query::Summary)),
        ),
        (
            "inventory-users.schema.json",
            json(schemars::schema_for!(query::UsersPage)),
        ),
        (
            "inventory-sync.schema.json",
            json(schemars::schema_for!(sync::SyncStatus)),
        ),
    ]
}

/// The organisation directory the inventory saw an account in, for the calls that act in it.
pub fn directory_of(
    ctx: &super::Context,
    account_id: &str,
) -> Result<Option<String>, crate::store::StoreError> {
    Ok(ctx.store.account(account_id)?.and_then(|a| a.directory))
}

/// What the use-cases need of the inventory's settings, and the sync job's doorbell.
#[derive(Debug, Clone)]
pub struct Inventory {
    pub config: InventoryConfig,
    /// Rung when an admin asks for a sync.
    pub wake: Arc<Notify>,
    /// The groups the console's picker offers, kept a minute (`access::suggested_groups`).
    pub groups: access::GroupsCache,
}

impl Default for Inventory {
    fn default() -> Self {
        Inventory {
            config: InventoryConfig::default(),
            wake: Arc::new(Notify::new()),
            groups: access::GroupsCache::default(),
        }
    }
}
