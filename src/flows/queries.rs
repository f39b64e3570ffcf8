//! What admins read: the rules, the audit log, requests and users. Reads only.

use super::{Context, FlowError};
use crate::domain::Email;
use crate::store::{AuditEntry, AuditFilter, RequestRecord, RequestState, RulesDoc, UserRecord};

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
