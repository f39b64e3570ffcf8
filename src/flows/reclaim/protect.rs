//! Who is always protected, whatever a policy, a bulk action or a leaver report says: the
//! service account reinstate acts as, `reclaim.protect_accounts`, and administrators — by the
//! organisation's admin roles (`platformRoles`), and by the members of the administrators'
//! groups (`site-admins`, `jira-administrators`, `confluence-administrators` and
//! `reclaim.admin_groups`), read from the directory at the start of every run, and again, for
//! the one account, just before any action that takes access away.

use std::collections::HashSet;

use super::super::{Context, FlowError};
use crate::directory::{CallLog, DirectoryError};
use crate::domain::Email;
use crate::store::Account;

/// The administrators as a run reads them at its start: the administrators' groups' names and
/// their members, read from the directory now (every page).
#[derive(Debug, Default)]
pub struct Admins {
    groups: Vec<String>,
    members: HashSet<String>,
}

impl Admins {
    pub async fn read(ctx: &Context) -> Result<Admins, FlowError> {
        let mut calls = ctx.calls();
        let groups = ctx.settings.reclaim.admin_group_names();
        let mut members = HashSet::new();
        for group in &groups {
            let found = ctx
                .directory
                .group_members(group, &mut calls)
                .await
                .map_err(|e| {
                    FlowError::Unavailable(format!(
                        "the administrators' group {group} could not be read, so no run is \
                         planned (it would not know whom to protect): {e}"
                    ))
                })?;
            members.extend(found.into_iter().flatten());
        }
        Ok(Admins { groups, members })
    }

    /// The administrators' groups only, no members read (what the inventory says of each
    /// account's groups still counts).
    pub fn by_group(ctx: &Context) -> Admins {
        Admins {
            groups: ctx.settings.reclaim.admin_group_names(),
            members: HashSet::new(),
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
        .contains(&account.account_id)
        .then(|| "an administrator (member of an administrators' group)".into())
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
    if fixed.is_some() {
        return Ok(Checked {
            protected: fixed,
            groups: Vec::new(),
        });
    }
    let roles = ctx.directory.admin_roles(account_id, calls).await?;
    let groups = ctx.directory.user_groups(account_id, calls).await?;
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
