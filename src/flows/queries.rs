//! What admins read: the rules, the audit log, requests, users and accounts, runs and the
//! ledger. Reads only.

use super::{Context, FlowError};
use crate::domain::Email;
use crate::store::{
    AuditEntry, AuditFilter, LedgerEntry, RequestRecord, RequestState, RulesDoc, RunEntry, RunKind,
    RunRecord, UserRecord,
};

/// The live rules with their version.
pub fn rules(ctx: &Context) -> Result<RulesDoc, FlowError> {
    Ok(ctx.store.rules()?)
}

/// Audit entries matching `filter`, newest first, at most `limit`, older than the entry whose
/// id is `before` (the cursor of the previous page).
pub fn audit(
    ctx: &Context,
    filter: &AuditFilter,
    limit: usize,
    before: Option<&str>,
) -> Result<Vec<AuditEntry>, FlowError> {
    Ok(ctx.store.audit(filter, limit, before)?)
}

/// Requests, oldest first; only those in `state` when given.
pub fn requests(
    ctx: &Context,
    state: Option<RequestState>,
) -> Result<Vec<RequestRecord>, FlowError> {
    Ok(ctx.store.requests(state)?)
}

/// A user as the API answers them: reinstate's record (logins, restores, warnings, keeps) and
/// the inventory's row (status, products, groups: what the console lists), each when known.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct UserAnswer {
    #[serde(flatten)]
    pub record: Option<UserRecord>,
    /// The inventory's row, the same the console shows; absent when the inventory does not
    /// hold the account.
    pub inventory: Option<crate::flows::inventory::query::UserRow>,
}

/// A user by email or Atlassian account id: found when reinstate has a record of them or the
/// inventory holds their account.
pub fn user_answer(ctx: &Context, who: &str) -> Result<UserAnswer, FlowError> {
    let email = Email::parse(who).ok();
    let account = match &email {
        Some(email) => ctx.store.account_by_email(email)?,
        None => ctx.store.account(who)?,
    };
    let email = email.or_else(|| account.as_ref().and_then(|a| a.email.clone()));
    let record = match &email {
        Some(email) => ctx.store.user(email)?,
        None => None,
    };
    let inventory = match &account {
        Some(a) => crate::flows::inventory::query::user(ctx, &a.account_id)?,
        None => None,
    };
    if record.is_none() && inventory.is_none() {
        return Err(FlowError::NotFound {
            code: "unknown_user",
            detail: format!(
                "neither reinstate's records nor the inventory know {who:?} (an email address or an Atlassian account id)"
            ),
        });
    }
    Ok(UserAnswer { record, inventory })
}

/// What reinstate recorded of a user, when it has (logins, restores, warnings, keeps).
pub fn user_record(ctx: &Context, email: &Email) -> Result<Option<UserRecord>, FlowError> {
    Ok(ctx.store.user(email)?)
}

/// A run or job with its entries, in plan order.
pub fn run(ctx: &Context, id: &str) -> Result<Option<(RunRecord, Vec<RunEntry>)>, FlowError> {
    let Some(run) = ctx.store.run(id)? else {
        return Ok(None);
    };
    let entries = ctx.store.run_entries(id)?;
    Ok(Some((run, entries)))
}

/// Runs (or jobs) of one kind, newest first.
pub fn runs(ctx: &Context, kind: RunKind, limit: usize) -> Result<Vec<RunRecord>, FlowError> {
    Ok(ctx.store.runs(kind, limit)?)
}

/// Whether a run or job took something that has not been given back (what an Undo would give).
pub fn undoable(ctx: &Context, run: &str) -> Result<bool, FlowError> {
    Ok(ctx
        .store
        .ledger_of_run(run)?
        .iter()
        .any(|l| l.state == crate::store::LedgerState::Open))
}

/// What the ledger holds as taken from an account and not given back.
pub fn open_ledger(ctx: &Context, account_id: &str) -> Result<Vec<LedgerEntry>, FlowError> {
    Ok(ctx.store.open_ledger(account_id)?)
}

/// The next time the reclaim schedule fires, when one is set.
pub fn next_scheduled_run(ctx: &Context) -> Result<Option<time::OffsetDateTime>, FlowError> {
    Ok(super::reclaim::schedules::due(ctx)?
        .into_iter()
        .filter_map(|d| d.next_run)
        .min())
}
