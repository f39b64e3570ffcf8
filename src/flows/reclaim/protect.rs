//! Who is always protected, whatever a policy, a bulk action or a leaver report says: the
//! service account reinstate acts as, `reclaim.protect_accounts`, and administrators — by the
//! organisation's admin roles (`platformRoles`), and by the members of the administrators'
//! groups (`site-admins`, `jira-administrators`, `confluence-administrators` and
//! `reclaim.admin_groups`), read from the directory at the start of every run, and again, for
//! the one account, just before any action that takes access away.

use std::collections::HashMap;

use super::super::{Context, FlowError};
use crate::directory::{CallLog, DirectoryError};
use crate::domain::Email;
use crate::store::Account;

/// The administrators as a run reads them at its start: the administrators' groups' names and
/// their members, read from the directory now (every page).
#[derive(Debug, Default)]
pub struct Admins {
    groups: Vec<String>,
    /// Each member, with the administrators' group it was found in.
    members: HashMap<String, String>,
}

impl Admins {
    pub async fn read(ctx: &Context) -> Result<Admins, FlowError> {
        let mut calls = ctx.calls();
        let groups = ctx.settings.reclaim.admin_group_names();
        let mut members = HashMap::new();
        for group in &groups {
            let found = ctx
                .directory
                .group_members(group, &mut calls)
                .await
                .map_err(|e| {
                    FlowError::Unavailable(format!(
                        "the administrators' group {group:?} could not be read, so nothing was \
                         started (it would not know whom to protect): {e}"
                    ))
                })?;
            for member in found.into_iter().flatten() {
                members.entry(member).or_insert_with(|| group.clone());
            }
        }
        Ok(Admins { groups, members })
    }

    /// The administrators' groups only, no members read (what the inventory says of each
    /// account's groups still counts).
    pub fn by_group(ctx: &Context) -> Admins {
        Admins {
            groups: ctx.settings.reclaim.admin_group_names(),
            members: HashMap::new(),
        }
    }
}

/// Why an account is always protected, from what the inventory knows of it and the
/// administrators read at the start of the run; `None` when it is not.
pub fn always(ctx: &Context, account: &Account, admins: &Admins) -> Option<String> {
    let config = &ctx.settings.reclaim;
    let email = account.email.as_ref();
    if service_account(ctx, email) {
        return Some("the service account reinstate uses".into());
    }
    if config.protects(&account.account_id, email) {
        return Some("listed in reclaim.protect_accounts".into());
    }
    if account.is_admin() {
        return Some(format!(
            "an administrator (the organisation's {})",
            account.admin_roles.join(", ")
        ));
    }
    let by_group = account
        .groups
        .iter()
        .find(|g| admins.groups.iter().any(|a| a.eq_ignore_ascii_case(g)));
    if let Some(g) = by_group {
        return Some(format!("an administrator (member of {g})"));
    }
    admins
        .members
        .get(&account.account_id)
        .map(|g| format!("an administrator (member of {g})"))
}

/// The always-protected among `accounts` (a bulk action's), by their place: the administrators
/// read from the directory now, the service account, `protect_accounts`, and whoever asked to
/// keep their access within the longest enabled policy's period (90 days without one).
pub async fn among(ctx: &Context, accounts: &[Account]) -> Result<Vec<(usize, String)>, FlowError> {
    let admins = Admins::read(ctx).await?;
    protected_by(ctx, accounts, &admins)
}

/// The always-protected among `accounts` as the inventory knows them (the administrators by
/// their roles and groups there, no directory call): what the console's confirm step lists.
/// The job reads the administrators again before it takes anything, and refuses anyone the
/// directory names that this did not.
pub fn among_known(ctx: &Context, accounts: &[Account]) -> Result<Vec<(usize, String)>, FlowError> {
    protected_by(ctx, accounts, &Admins::by_group(ctx))
}

/// The protected among `accounts` with the administrators as given.
fn protected_by(
    ctx: &Context,
    accounts: &[Account],
    admins: &Admins,
) -> Result<Vec<(usize, String)>, FlowError> {
    let period = ctx
        .store
        .policies()?
        .policies
        .iter()
        .filter(|p| p.enabled)
        .map(|p| p.inactive_after_days)
        .max()
        .unwrap_or(90);
    let since = time::OffsetDateTime::now_utc() - time::Duration::days(i64::from(period));
    let mut out = Vec::new();
    for (i, account) in accounts.iter().enumerate() {
        if let Some(why) = always(ctx, account, admins) {
            out.push((i, why));
            continue;
        }
        let user = match &account.email {
            Some(e) => ctx.store.user(e)?,
            None => None,
        };
        if let Some(at) = user
            .and_then(|u| u.keep_requested_at)
            .filter(|k| *k > since)
        {
            out.push((i, format!("asked to keep their access on {}", at.date())));
        }
    }
    Ok(out)
}

/// Marks the rows of users that are always protected (or asked to keep their access within
/// the policies' period) with why, as every action would find them from what the inventory
/// knows — the administrators by their roles and groups in the inventory, with no directory
/// call per page (an action reads the administrators' groups again before it takes anything).
pub fn mark(
    ctx: &Context,
    rows: &mut [crate::flows::inventory::query::UserRow],
) -> Result<(), FlowError> {
    let accounts: Vec<Account> = rows
        .iter()
        .filter_map(|r| ctx.store.account(&r.account_id).ok().flatten())
        .collect();
    let found = protected_by(ctx, &accounts, &Admins::by_group(ctx))?;
    for row in rows.iter_mut() {
        let why = found
            .iter()
            .find(|(i, _)| accounts[*i].account_id == row.account_id)
            .map(|(_, why)| why.clone());
        row.protected = why.is_some();
        row.protected_why = why;
    }
    Ok(())
}

fn service_account(ctx: &Context, email: Option<&Email>) -> bool {
    ctx.settings
        .service_account
        .as_deref()
        .is_some_and(|s| email.is_some_and(|e| e.as_str().eq_ignore_ascii_case(s)))
}

/// An account as checked just before an action takes access from it.
pub struct Checked {
    /// Why it is protected, when it is.
    pub protected: Option<String>,
    /// Its groups, as the directory answered just now (the action takes from these).
    pub groups: Vec<String>,
}

/// Checks the account just before an action takes access from it: the service account and
/// `protect_accounts`, then its admin roles and groups asked of the directory now (a sync can
/// be hours old).
pub async fn now(
    ctx: &Context,
    account_id: &str,
    email: Option<&Email>,
    calls: &mut CallLog,
) -> Result<Checked, DirectoryError> {
    let config = &ctx.settings.reclaim;
    let fixed = if service_account(ctx, email) {
        Some("the service account reinstate uses".to_string())
    } else if config.protects(account_id, email) {
        Some("listed in reclaim.protect_accounts".to_string())
    } else {
        None
    };
    // The groups are read either way: an admin's override acts on them.
    let groups = ctx.directory.user_groups(account_id, calls).await?;
    if fixed.is_some() {
        return Ok(Checked {
            protected: fixed,
            groups,
        });
    }
    let roles = ctx.directory.admin_roles(account_id, calls).await?;
    let admin_groups = config.admin_group_names();
    let protected = if roles.is_empty() {
        groups
            .iter()
            .find(|g| admin_groups.iter().any(|a| a.eq_ignore_ascii_case(g)))
            .map(|g| format!("an administrator (member of {g}, checked just now)"))
    } else {
        Some(format!(
            "an administrator (the organisation's {}, checked just now)",
            roles.join(", ")
        ))
    };
    Ok(Checked { protected, groups })
}
