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

/// What reinstate knows of a user.
pub fn user(ctx: &Context, email: &Email) -> Result<UserRecord, FlowError> {
    ctx.store.user(email)?.ok_or_else(|| FlowError::NotFound {
        code: "unknown_user",
        detail: "reinstate has no record of this user".into(),
    })
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
    let Some(schedule) = ctx.settings.reclaim.schedule() else {
        return Ok(None);
    };
    let now = time::OffsetDateTime::now_utc();
    let from = ctx.store.last_scheduled()?.unwrap_or(now);
    Ok(schedule.next_after(from))
}
