//! Answering the Service Management request a restore came from: a comment for the requester,
//! then the configured transition. After the licence is back, so a failure here is noted in the
//! audit, never retried.

use super::super::Context;
use crate::directory::CallLog;
use crate::domain::{AuditOutcome, Event, EventKind};
use crate::store::EventOutcome;

/// A JSM request reinstate restored itself is answered on the issue: a comment for the
/// requester, then (unless an approver already moved it) the configured transition. Failures
/// are noted in the audit, not retried: the licence is already back.
pub(super) async fn answer(
    ctx: &Context,
    event: &Event,
    issue: &str,
    outcomes: &[AuditOutcome],
    calls: &mut CallLog,
    outcome: &mut EventOutcome,
) {
    if !outcomes.contains(&AuditOutcome::Restored) {
        return;
    }
    let mut problems = Vec::new();
    let text =
        "Your access has been restored by reinstate. It may take a minute to show in the product.";
    if let Err(e) = ctx.directory.comment(issue, text, calls).await {
        problems.push(format!("comment: {e}"));
    }
    let approved_in_jsm = event.kind == EventKind::Approve;
    if !approved_in_jsm
        && let Some(id) = &ctx.settings.jsm_transition_id
        && let Err(e) = ctx.directory.transition(issue, id, calls).await
    {
        problems.push(format!("transition {id}: {e}"));
    }
    let note = if problems.is_empty() {
        format!("answered on {issue}")
    } else {
        tracing::warn!(%issue, problems = ?problems, "JSM request not fully answered");
        format!("could not fully answer {issue}: {}", problems.join("; "))
    };
    if let Some(entry) = outcome
        .audit
        .iter_mut()
        .rev()
        .find(|e| e.outcome == AuditOutcome::Restored)
    {
        entry.directory_calls.extend(calls.take());
        entry.reason = format!("{}; {note}", entry.reason);
    }
}
