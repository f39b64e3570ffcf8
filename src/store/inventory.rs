//! The inventory: every account the directory reports, indexed by email and by username, and
//! the state of the sync that keeps it. The whole inventory is also held in memory (one process
//! owns sled), so that queries filter and sort it without decoding the tree.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock, RwLockReadGuard};

use serde::{Deserialize, Serialize};
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError};
use time::OffsetDateTime;

use super::{Store, StoreError, dec, enc};
use crate::domain::{AccountStatus, AccountType, Email};

/// One account, as the directory last reported it and as reinstate saw it log in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    pub v: u32,
    pub account_id: String,
    #[serde(default)]
    pub email: Option<Email>,
    #[serde(default)]
    pub name: Option<String>,
    /// Data Center: the username logins may name.
    #[serde(default)]
    pub username: Option<String>,
    pub account_type: AccountType,
    pub status: AccountStatus,
    #[serde(default)]
    pub groups: Vec<String>,
    /// The sync that last reported the groups.
    #[serde(default)]
    pub groups_generation: u64,
    /// By product key (`jira-software`, `confluence`, `loom`, …).
    #[serde(default)]
    pub products: BTreeMap<String, ProductUse>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub added_at: Option<OffsetDateTime>,
    /// The last login reinstate received, whatever the product.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub last_login: Option<OffsetDateTime>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub gone_at: Option<OffsetDateTime>,
    /// When a sync last saw the account; `None` when only logins made the record.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub synced_at: Option<OffsetDateTime>,
    /// The sync that last saw it.
    #[serde(default)]
    pub generation: u64,
    /// The organisation directory the account is in (the organisation API's listing).
    #[serde(default)]
    pub directory: Option<String>,
    /// The organisation's admin roles of the account (`atlassian/org-admin`, …).
    #[serde(default)]
    pub admin_roles: Vec<String>,
    /// Provisioned by an identity provider: its to change.
    #[serde(default)]
    pub synced: bool,
    /// The last login the site itself reports (Jira Data Center 11's `lastLoginTime`): a use of
    /// the site's Jira products.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub site_login: Option<OffsetDateTime>,
}

/// One product for one account.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductUse {
    pub licensed: bool,
    /// The sync that last found the licence held.
    #[serde(default)]
    pub seen: u64,
    /// As the directory reports it (the organisation API: up to a day late).
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub last_active: Option<OffsetDateTime>,
    /// The last login to this product reinstate received.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub last_login: Option<OffsetDateTime>,
    /// The directory reports this product's activity (the organisation API): no `last_active`
    /// then means never used, not unknown.
    #[serde(default)]
    pub reported: bool,
}

impl Account {
    /// A record for an account seen first at a login, before any sync.
    pub fn new(account_id: &str, email: Option<Email>) -> Account {
        Account {
            v: 1,
            account_id: account_id.to_string(),
            email,
            name: None,
            username: None,
            account_type: AccountType::Person,
            status: AccountStatus::Active,
            groups: Vec::new(),
            groups_generation: 0,
            products: BTreeMap::new(),
            added_at: None,
            last_login: None,
            gone_at: None,
            synced_at: None,
            generation: 0,
            directory: None,
            admin_roles: Vec::new(),
            synced: false,
            site_login: None,
        }
    }

    /// When the account was last active in `product`: what the directory reports, a login to
    /// the product, or a login that named no product (an identity provider's login is a sign
    /// of use of every product the account holds).
    pub fn last_active(&self, product: &str) -> Option<OffsetDateTime> {
        self.last_active_by(product).map(|(t, _)| t)
    }

    /// The last activity in `product` and what saw it: `activity` (the directory's activity
    /// data), `product_login` (a login reinstate received naming the product), `login` (one
    /// naming none, or another) or `site_login` (the Jira site's own last login).
    pub fn last_active_by(&self, product: &str) -> Option<(OffsetDateTime, &'static str)> {
        self.last_active_in(product, self.products.get(product))
    }

    /// The product's use as the inventory holds it and its last activity, found once (a
    /// planner reading every product of every account looks each up one time).
    pub fn activity(&self, product: &str) -> (Option<&ProductUse>, Option<OffsetDateTime>) {
        let used = self.products.get(product);
        (used, self.last_active_in(product, used).map(|(t, _)| t))
    }

    fn last_active_in(
        &self,
        product: &str,
        p: Option<&ProductUse>,
    ) -> Option<(OffsetDateTime, &'static str)> {
        [
            (p.and_then(|p| p.last_active), "activity"),
            (p.and_then(|p| p.last_login), "product_login"),
            (self.last_login, "login"),
            (self.site_login.filter(|_| on_jira(product)), "site_login"),
        ]
        .into_iter()
        .filter_map(|(t, by)| t.map(|t| (t, by)))
        .max_by_key(|(t, _)| *t)
    }

    /// Whether anything says how the account used `product`: an activity or a login seen, or a
    /// directory that reports the product's activity (its silence means never). Without any, a
    /// missing `last_active` is unknown, not "inactive forever".
    pub fn activity_known(&self, product: &str) -> bool {
        self.last_active(product).is_some()
            || self.products.get(product).is_some_and(|p| p.reported)
    }

    /// The latest activity in any product, or login.
    pub fn last_seen(&self) -> Option<OffsetDateTime> {
        self.products
            .values()
            .flat_map(|p| [p.last_active, p.last_login])
            .chain([self.last_login, self.site_login])
            .flatten()
            .max()
    }
}

/// The products a Jira site's own login is a use of.
fn on_jira(product: &str) -> bool {
    product.starts_with("jira") || product == "assets"
}

impl Account {
    /// Whether the organisation gives the account an admin role.
    pub fn is_admin(&self) -> bool {
        !self.admin_roles.is_empty()
    }
}

/// Where the sync is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SyncPhase {
    /// No sync has run yet.
    Never,
    /// Asked for, not started.
    Requested,
    Running,
    Finished,
    /// The last attempt stopped on an error; the next one resumes from the saved cursor.
    Failed,
}

/// A product's seats, as read at the start of the last sync.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ProductSeats {
    pub key: String,
    pub total: Option<u64>,
    pub used: Option<u64>,
    /// The accounts the inventory held with the licence when that sync finished: what
    /// reinstate took or gave since is the difference to the holders now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held_at_sync: Option<u64>,
}

/// The sync's state, saved with every page so that a crash resumes where it was.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncState {
    pub v: u32,
    pub phase: SyncPhase,
    /// The sync under way (or last run); accounts it has not seen when it finishes are gone.
    pub generation: u64,
    /// Where the next page starts (the source's own cursor); `None` at the start.
    pub cursor: Option<String>,
    pub pages: u64,
    pub users_seen: u64,
    /// What the source said is still to do.
    pub to_do: Option<String>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub requested_at: Option<OffsetDateTime>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub started_at: Option<OffsetDateTime>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub finished_at: Option<OffsetDateTime>,
    /// When the last complete sync finished: the age of the inventory.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub synced_at: Option<OffsetDateTime>,
    pub last_error: Option<String>,
    #[serde(default)]
    pub seats: Vec<ProductSeats>,
    /// Why the sync under way (or the last) could not list everyone, when it could not: it
    /// then marks nobody it did not see as gone.
    #[serde(default)]
    pub incomplete: Option<String>,
    /// When the first sync started: since then, reinstate has seen the logins it receives.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub watching_since: Option<OffsetDateTime>,
}

impl Default for SyncState {
    fn default() -> Self {
        SyncState {
            v: 1,
            phase: SyncPhase::Never,
            generation: 0,
            cursor: None,
            pages: 0,
            users_seen: 0,
            to_do: None,
            requested_at: None,
            started_at: None,
            finished_at: None,
            synced_at: None,
            last_error: None,
            seats: Vec::new(),
            incomplete: None,
            watching_since: None,
        }
    }
}

const SYNC_KEY: &[u8] = b"sync";

/// The inventory held in memory, by account id; loaded at first use.
#[derive(Default)]
pub struct InventoryCache {
    loaded: bool,
    accounts: HashMap<String, Account>,
}

pub type Accounts<'a> = RwLockReadGuard<'a, InventoryCache>;

impl InventoryCache {
    pub fn accounts(&self) -> impl Iterator<Item = &Account> {
        self.accounts.values()
    }
    pub fn get(&self, account_id: &str) -> Option<&Account> {
        self.accounts.get(account_id)
    }
    pub fn len(&self) -> usize {
        self.accounts.len()
    }
    pub fn is_empty(&self) -> bool {
        self.accounts.is_empty()
    }
}

/// The index keys of an account: its email, and its username lower-cased.
fn index_keys(a: &Account) -> (Option<String>, Option<String>) {
    (
        a.email.as_ref().map(|e| e.as_str().to_string()),
        a.username.as_ref().map(|u| u.to_lowercase()),
    )
}

impl Store {
    /// The inventory in memory, read-locked.
    pub fn accounts(&self) -> Result<Accounts<'_>, StoreError> {
        self.load_inventory()?;
        Ok(self
            .inventory_cache
            .read()
            .unwrap_or_else(|e| e.into_inner()))
    }

    fn load_inventory(&self) -> Result<(), StoreError> {
        if self.inventory_cache.read().is_ok_and(|c| c.loaded) {
            return Ok(());
        }
        let mut cache = self
            .inventory_cache
            .write()
            .unwrap_or_else(|e| e.into_inner());
        if cache.loaded {
            return Ok(());
        }
        for value in self.inventory.iter().values() {
            let account: Account = dec(&value?)?;
            cache.accounts.insert(account.account_id.clone(), account);
        }
        cache.loaded = true;
        Ok(())
    }

    /// The account with this id.
    pub fn account(&self, account_id: &str) -> Result<Option<Account>, StoreError> {
        Ok(self.accounts()?.get(account_id).cloned())
    }

    /// The account with this email, if the inventory has one.
    pub fn account_by_email(&self, email: &Email) -> Result<Option<Account>, StoreError> {
        self.account_by(&self.inventory_by_email, email.as_str())
    }

    /// The account with this username (any case), if the inventory has one.
    pub fn account_by_username(&self, username: &str) -> Result<Option<Account>, StoreError> {
        self.account_by(&self.inventory_by_username, &username.to_lowercase())
    }

    fn account_by(&self, index: &sled::Tree, key: &str) -> Result<Option<Account>, StoreError> {
        match index.get(key)? {
            Some(id) => self.account(&String::from_utf8_lossy(&id)),
            None => Ok(None),
        }
    }

    pub fn sync_state(&self) -> Result<SyncState, StoreError> {
        Ok(match self.inventory_meta.get(SYNC_KEY)? {
            Some(v) => dec(&v)?,
            None => SyncState::default(),
        })
    }

    /// Saves the sync's state alone, flushed.
    pub async fn save_sync_state(&self, state: &SyncState) -> Result<(), StoreError> {
        self.inventory_meta.insert(SYNC_KEY, enc(state)?)?;
        self.flush().await
    }

    /// Writes accounts, their indexes and the sync's state in one transaction, then flushes.
    pub async fn put_accounts(
        &self,
        accounts: &[Account],
        state: Option<&SyncState>,
    ) -> Result<(), StoreError> {
        self.write_accounts(accounts, state)?;
        self.flush().await
    }

    /// As `put_accounts`, without the flush (the caller's next record flushes it).
    pub fn write_accounts(
        &self,
        accounts: &[Account],
        state: Option<&SyncState>,
    ) -> Result<(), StoreError> {
        self.load_inventory()?;
        let rows = accounts
            .iter()
            .map(|a| Ok((a.account_id.clone(), index_keys(a), enc(a)?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        let state = state.map(enc).transpose()?;
        let trees = (
            &self.inventory,
            &self.inventory_by_email,
            &self.inventory_by_username,
            &self.inventory_meta,
        );
        let result: Result<(), TransactionError<()>> =
            trees.transaction(|(inventory, by_email, by_username, meta)| {
                for (id, (email, username), value) in &rows {
                    if let Some(old) = inventory.get(id.as_bytes())? {
                        let old: Account = serde_json::from_slice(&old)
                            .map_err(|_| ConflictableTransactionError::Abort(()))?;
                        let (old_email, old_username) = index_keys(&old);
                        if old_email.is_some() && old_email != *email {
                            by_email.remove(old_email.unwrap_or_default().as_bytes())?;
                        }
                        if old_username.is_some() && old_username != *username {
                            by_username.remove(old_username.unwrap_or_default().as_bytes())?;
                        }
                    }
                    inventory.insert(id.as_bytes(), value.as_slice())?;
                    if let Some(e) = email {
                        by_email.insert(e.as_bytes(), id.as_bytes())?;
                    }
                    if let Some(u) = username {
                        by_username.insert(u.as_bytes(), id.as_bytes())?;
                    }
                }
                if let Some(state) = &state {
                    meta.insert(SYNC_KEY, state.as_slice())?;
                }
                Ok(())
            });
        match result {
            Ok(()) => {}
            Err(TransactionError::Abort(())) => {
                return Err(StoreError::Corrupt(serde::de::Error::custom(
                    "an inventory record could not be read",
                )));
            }
            Err(TransactionError::Storage(e)) => return Err(e.into()),
        }
        let mut cache = self
            .inventory_cache
            .write()
            .unwrap_or_else(|e| e.into_inner());
        for a in accounts {
            cache.accounts.insert(a.account_id.clone(), a.clone());
        }
        Ok(())
    }
}

/// Shared by every handle of one store.
pub(super) fn new_cache() -> Arc<RwLock<InventoryCache>> {
    Arc::default()
}
