//! Jira Service Management: completing a delivery that lacked what it means (read from Jira
//! here, behind the bus, never in the receiver), then restoring (`restore`, which also answers
//! the request on its issue) or recording a decline.

use super::outcome::{Handled, WorkError, base_entry, finish_with, processed};
use super::{Context, requests};
use crate::directory::JsmRequest;
use crate::domain::{AuditOutcome, Event, EventKind, JsmChange};
use crate::sources::jsm::{Facts, JsmAction, JsmSource, Reporter, classify_facts};
use crate::store::{EventOutcome, RequestState};

/// A `jsm_update`: reads what the delivery lacked (the reporter's email, the request type, the
/// approval's decision) from Jira, then handles what it turns out to mean.
pub(super) async fn complete(
    ctx: &Context,
    event: &Event,
    attempt: u32,
) -> Result<Handled, WorkError> {
    let mut calls = ctx.calls();
    let (Some(source), Some(issue), Some(delivery)) = (
        ctx.settings.jsm.as_ref(),
        event.issue.as_deref(),
        event.jsm.as_ref(),
    ) else {
        let reason = "a Service Management update, but the source is not configured".into();
        return finish_with(ctx, event, attempt, AuditOutcome::Failed, reason, calls).await;
    };
    let with_approval = delivery.change == JsmChange::StatusChanged && delivery.status.is_none();
    let request = match ctx
        .directory
        .jsm_request(issue, with_approval, &mut calls)
        .await
    {
        Ok(request) => request,
        Err(e) if e.is_transient() => return Err(e.into()),
        Err(e) => {
            let reason = format!("{issue} could not be read from Jira Service Management: {e}");
            return finish_with(ctx, event, attempt, AuditOutcome::Failed, reason, calls).await;
        }
    };
    let facts = completed(source, event, issue, delivery.clone(), request);
    let action = classify_facts(source, facts);
    if let JsmAction::Ignore(why) = &action {
        tracing::info!(%why, "JSM delivery ignored");
        let outcome = EventOutcome {
            processed: processed(ctx, event, "ignored"),
            ..Default::default()
        };
        ctx.store.record(outcome).await?;
        return Ok(Handled::Done(Vec::new()));
    }
    let delivery_id = event.id.as_str().trim_start_matches("jsm:");
    let resolved = match crate::sources::jsm::event(source, delivery_id, action) {
        Ok(resolved) => Event {
            id: event.id.clone(),
            occurred_at: event.occurred_at,
            received_at: event.received_at,
            ..resolved
        },
        Err(why) => {
            let outcome = AuditOutcome::UnknownUser;
            return finish_with(ctx, event, attempt, outcome, why.detail, calls).await;
        }
    };
    match resolved.kind {
        EventKind::Decline => record_decline(ctx, &resolved, attempt).await,
        _ => super::restore::run(ctx, &resolved, attempt).await,
    }
}

/// The delivery's facts, with what Jira says filling what it lacked.
fn completed(
    source: &JsmSource,
    event: &Event,
    issue: &str,
    mut delivery: crate::domain::JsmDelivery,
    request: JsmRequest,
) -> Facts {
    if delivery.request_type.is_none() {
        delivery.request_type = request.request_type_id;
    }
    if delivery.change == JsmChange::StatusChanged && delivery.status.is_none() {
        delivery.status = match request.approval.as_deref() {
            Some("approved") => source.approved_status_ids.first().cloned(),
            Some("declined") => source.declined_status_ids.first().cloned(),
            _ => None,
        };
    }
    Facts {
        issue: issue.to_string(),
        reporter: Reporter {
            account_id: event
                .user
                .account_id
                .clone()
                .or(request.reporter_account_id),
            email: match &event.user.email {
                Some(email) => Some(email.to_string()),
                None => request.reporter_email,
            },
        },
        delivery,
    }
}

/// A JSM approver declined the request: audited, nothing restored; an open request closes.
pub(super) async fn record_decline(
    ctx: &Context,
    event: &Event,
    attempt: u32,
) -> Result<Handled, WorkError> {
    let issue = event.issue.as_deref().unwrap_or("?");
    let mut outcome = EventOutcome::default();
    let reason = format!("declined in Jira Service Management ({issue})");
    let mut entry = base_entry(event, attempt, AuditOutcome::Denied, reason);
    entry.product = event.product;
    outcome.audit.push(entry);
    // Only the requests this issue opened: never the user's others (a link, the portal).
    if let Some(user) = &event.user.email {
        let note = format!("declined in {issue}");
        for product in requests::opened_by(ctx, user, issue)? {
            let state = RequestState::Denied;
            requests::close(ctx, user, product, state, "jsm", &note, &mut outcome)?;
        }
    }
    outcome.processed = processed(ctx, event, AuditOutcome::Denied.key());
    ctx.store.record(outcome).await?;
    Ok(Handled::Done(vec![AuditOutcome::Denied]))
}
