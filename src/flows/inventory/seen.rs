//! What reinstate itself sees, written into the inventory at once: a login (the directory's
//! activity data can be a day late), and the groups and licences of its own restores.

use time::OffsetDateTime;

use super::super::Context;
use crate::directory::DirectoryUser;
use crate::domain::{AccountStatus, Email, Product};
use crate::store::{Account, StoreError};

/// The inventory's record of `email`, when it is recent enough to act on without asking the
/// directory: synced within `inventory.trust_secs`, and active.
pub fn trusted(ctx: &Context, email: &Email) -> Result<Option<Account>, StoreError> {
    let Some(account) = ctx.store.account_by_email(email)? else {
        return Ok(None);
    };
    let trust = time::Duration::seconds(ctx.inventory.config.trust_secs as i64);
    let fresh = account
        .synced_at
        .is_some_and(|at| OffsetDateTime::now_utc() - at <= trust);
    Ok((fresh && account.status == AccountStatus::Active).then_some(account))
}

/// The directory's view of an inventory record, as a look-up would have given it.
pub fn as_directory_user(account: &Account) -> DirectoryUser {
    DirectoryUser {
        account_id: account.account_id.clone(),
        active: account.status == AccountStatus::Active,
        email: account.email.as_ref().map(|e| e.to_string()),
        groups: Some(account.groups.clone()),
        customer: account.account_type == crate::domain::AccountType::Customer,
    }
}

/// What a handled login or restore changes in the inventory. `None` when nothing does.
pub struct Seen<'a> {
    pub account_id: &'a str,
    pub email: &'a Email,
    /// When the user logged in (a login event), and to which product, if it said.
    pub login: Option<(OffsetDateTime, Option<Product>)>,
    /// Groups reinstate added, and the products they granted.
    pub added: &'a [(Product, Vec<String>)],
    /// reinstate gave the account its access back (it is active again).
    pub reactivated: bool,
}

/// Writes what was seen into the account's record (created when the inventory has none yet),
/// unflushed: the event's record, written next, flushes it.
pub fn record(ctx: &Context, seen: Seen<'_>) -> Result<(), StoreError> {
    if seen.login.is_none() && seen.added.is_empty() && !seen.reactivated {
        return Ok(());
    }
    let mut account = ctx
        .store
        .account(seen.account_id)?
        .unwrap_or_else(|| Account::new(seen.account_id, Some(seen.email.clone())));
    if let Some((at, product)) = seen.login {
        account.last_login = account.last_login.max(Some(at));
        if let Some(p) = product {
            let used = account.products.entry(p.key().to_string()).or_default();
            used.last_login = used.last_login.max(Some(at));
        }
    }
    if seen.reactivated {
        account.status = AccountStatus::Active;
    }
    for (product, groups) in seen.added {
        account
            .products
            .entry(product.key().to_string())
            .or_default()
            .licensed = true;
        for g in groups {
            if !account.groups.contains(g) {
                account.groups.push(g.clone());
            }
        }
    }
    ctx.store.write_accounts(&[account], None)
}

/// What a reclaim or an admin's action changed, written into the account's record at once
/// (unflushed, like `record`): groups removed or added, licences that follow, a standing.
pub struct Changed<'a> {
    pub account_id: &'a str,
    pub removed: &'a [String],
    pub added: &'a [String],
    /// Products whose licence was taken (`false`) or given (`true`).
    pub licences: &'a [(Product, bool)],
    pub status: Option<AccountStatus>,
}

/// Writes a change into the inventory; an account the inventory does not know is left alone.
pub fn changed(ctx: &Context, change: Changed<'_>) -> Result<(), StoreError> {
    let Some(mut account) = ctx.store.account(change.account_id)? else {
        return Ok(());
    };
    account
        .groups
        .retain(|g| !change.removed.iter().any(|r| r.eq_ignore_ascii_case(g)));
    for g in change.added {
        if !account.groups.contains(g) {
            account.groups.push(g.clone());
        }
    }
    for (product, licensed) in change.licences {
        account
            .products
            .entry(product.key().to_string())
            .or_default()
            .licensed = *licensed;
    }
    if let Some(status) = change.status {
        account.status = status;
    }
    ctx.store.write_accounts(&[account], None)
}
