//! A click on *Approve* or *Deny* in a chat app (a Slack request's message), decided: counted
//! only from an approver, only while the request waits, then decided as an admin's decision is.

use super::Context;
use super::chat::who_asked;
use super::lookup::Stop;
use super::outcome::{Handled, WorkError, finish_with};
use crate::directory::CallLog;
use crate::domain::{AuditOutcome, Email, Event, EventKind, EventUser, Source};
use crate::store::RequestState;

/// Who may decide a request outside the console: `requests.approvers`, and the
/// administrators — an account of the inventory in one of `reclaim.admin_groups`, or holding an
/// organisation admin role, as the directory answers now.
async fn is_approver(ctx: &Context, email: &Email, calls: &mut CallLog) -> Result<bool, Stop> {
    if ctx.settings.requests.approvers.contains(email) {
        return Ok(true);
    }
    let Some(account) = ctx
        .store
        .account_by_email(email)
        .map_err(|e| Stop::Retry(e.into()))?
    else {
        return Ok(false);
    };
    let groups = ctx
        .directory
        .user_groups(&account.account_id, calls)
        .await?;
    let admin_groups = ctx.settings.reclaim.admin_group_names();
    if groups
        .iter()
        .any(|g| admin_groups.iter().any(|a| a.eq_ignore_ascii_case(g)))
    {
        return Ok(true);
    }
    Ok(!ctx
        .directory
        .admin_roles(&account.account_id, calls)
        .await?
        .is_empty())
}

/// A click on *Approve* or *Deny* in Slack: counted only from an approver, only while the
/// request waits; then decided as an admin's decision is, the message replaced by who decided
/// and what came of it. Anything else changes nothing and tells the one who clicked why.
pub(super) async fn decide(
    ctx: &Context,
    event: &Event,
    attempt: u32,
) -> Result<Handled, WorkError> {
    let mut calls = ctx.calls();
    let event = match who_asked(ctx, event, &mut calls).await {
        Ok(Some(e)) => e,
        Ok(None) => event.clone(),
        Err(Stop::Retry(e)) => return Err(e),
        Err(Stop::End(outcome, reason)) => {
            return finish_with(ctx, event, attempt, outcome, reason, calls).await;
        }
    };
    let mut event = event;
    let Some(approver) = event.user.email.clone() else {
        let why = "the click names no one".to_string();
        return finish_with(
            ctx,
            &event,
            attempt,
            AuditOutcome::UnusableEvent,
            why,
            calls,
        )
        .await;
    };
    if let Some(chat) = event.chat.as_mut() {
        chat.email = Some(approver.clone());
    }
    let nothing = |why: String| (AuditOutcome::UnusableEvent, why);
    let id = event.request.clone().unwrap_or_default();
    let actor = format!("slack:{approver}");
    let approves = match is_approver(ctx, &approver, &mut calls).await {
        Ok(approves) => approves,
        Err(Stop::Retry(e)) => return Err(e),
        Err(Stop::End(outcome, why)) => {
            return finish_with(ctx, &event, attempt, outcome, why, calls).await;
        }
    };
    if !approves {
        let (outcome, why) = nothing(format!(
            "{approver} is not an approver (requests.approvers, or an administrator: \
             reclaim.admin_groups or an organisation admin role): the click changed nothing"
        ));
        return finish_with(ctx, &event, attempt, outcome, why, calls).await;
    }
    let Some(mut request) = ctx.store.request(&id)? else {
        let why = format!("there is no request {id}");
        return finish_with(
            ctx,
            &event,
            attempt,
            AuditOutcome::UnusableEvent,
            why,
            calls,
        )
        .await;
    };
    // Approved by this very click before a crash: the restore is what is left to do.
    let resumed = request.state == RequestState::Approved
        && request.history.last().is_some_and(|s| s.by == actor);
    if request.state != RequestState::PendingApproval && !resumed {
        let by = request.history.last().map_or("", |s| s.by.as_str());
        let state = serde_json::to_value(request.state).unwrap_or_default();
        let why = format!(
            "request {id} is already {} (by {by}): the click changed nothing",
            state.as_str().unwrap_or("closed").replace('_', " ")
        );
        return finish_with(
            ctx,
            &event,
            attempt,
            AuditOutcome::UnusableEvent,
            why,
            calls,
        )
        .await;
    }
    if event.kind == EventKind::Decline {
        let reason = format!("denied in Slack by {approver}");
        let mut denied = super::requests::denial(ctx, &mut request, &actor, &reason, Source::Slack);
        denied.processed = super::outcome::processed(ctx, &event, AuditOutcome::Denied.key());
        super::chat::reply(ctx, &event, &mut denied);
        ctx.store.record(denied).await?;
        return Ok(Handled::Done(vec![AuditOutcome::Denied]));
    }
    if !resumed {
        let note = format!("approved in Slack by {approver}");
        let approved = super::requests::approval(&mut request, &actor, &note, Source::Slack);
        ctx.store.record(approved).await?;
    }
    // The restore of the requester, under this click's id: once, whatever happens.
    let mut restore = event.clone();
    restore.kind = EventKind::Restore;
    restore.user = EventUser::new(request.email.clone(), request.account_id.clone());
    restore.product = Some(request.product);
    super::restore::run(ctx, &restore, attempt).await
}
