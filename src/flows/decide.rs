//! A click on *Approve* or *Deny* in a chat app (a Slack request's message), decided: counted
//! only from an approver, only while the request waits, then decided as an admin's decision is.

use super::Context;
use super::chat::who_asked;
use super::lookup::Stop;
use super::outcome::{Handled, WorkError, finish_with};
use crate::directory::CallLog;
use crate::domain::{AuditOutcome, Email, Event, EventKind, EventUser, Source};
use crate::store::{RequestRecord, RequestState};

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
    let mut event = match who_asked(ctx, event, &mut calls).await {
        Ok(Some(e)) => e,
        Ok(None) => event.clone(),
        Err(Stop::Retry(e)) => return Err(e),
        Err(Stop::End(outcome, reason)) => {
            return finish_with(ctx, event, attempt, outcome, reason, calls).await;
        }
    };
    let counted = match counted(ctx, &mut event, &mut calls).await {
        Ok(counted) => counted,
        Err(Stop::Retry(e)) => return Err(e),
        Err(Stop::End(outcome, why)) => {
            return finish_with(ctx, &event, attempt, outcome, why, calls).await;
        }
    };
    let Counted {
        approver,
        mut request,
        resumed,
    } = counted;
    let source = event.source;
    let app = app_name(source);
    let actor = format!("{}:{approver}", source.key());
    if event.kind == EventKind::Decline {
        let reason = format!("denied in {app} by {approver}");
        let mut denied = super::requests::denial(ctx, &mut request, &actor, &reason, source);
        denied.processed = super::outcome::processed(ctx, &event, AuditOutcome::Denied.key());
        super::chat::reply(ctx, &event, &mut denied);
        ctx.store.record(denied).await?;
        return Ok(Handled::Done(vec![AuditOutcome::Denied]));
    }
    if !resumed {
        let note = format!("approved in {app} by {approver}");
        let approved = super::requests::approval(&mut request, &actor, &note, source);
        ctx.store.record(approved).await?;
    }
    // The restore of the requester, under this click's id: once, whatever happens.
    let mut restore = event.clone();
    restore.kind = EventKind::Restore;
    restore.user = EventUser::new(request.email.clone(), request.account_id.clone());
    restore.product = Some(request.product);
    super::restore::run(ctx, &restore, attempt).await
}

/// The chat app's name, as the decision's note gives it.
fn app_name(source: Source) -> &'static str {
    match source {
        Source::Teams => "Teams",
        _ => "Slack",
    }
}

/// A click that counts: who clicked, the request it decides, and whether this very click
/// approved it already (before a crash: the restore is what is left to do).
struct Counted {
    approver: Email,
    request: RequestRecord,
    resumed: bool,
}

/// Whether the click counts, or why it changes nothing (`Stop::End`); the event's asker
/// gets the approver's email for the answer.
async fn counted(ctx: &Context, event: &mut Event, calls: &mut CallLog) -> Result<Counted, Stop> {
    let nothing = |why: String| Stop::End(AuditOutcome::UnusableEvent, why);
    let Some(approver) = event.user.email.clone() else {
        return Err(nothing("the click names no one".into()));
    };
    if let Some(chat) = event.chat.as_mut() {
        chat.email = Some(approver.clone());
    }
    if !is_approver(ctx, &approver, calls).await? {
        return Err(nothing(format!(
            "{approver} is not an approver (requests.approvers, or an administrator: \
             reclaim.admin_groups or an organisation admin role): the click changed nothing"
        )));
    }
    let id = event.request.clone().unwrap_or_default();
    let request = ctx
        .store
        .request(&id)
        .map_err(|e| Stop::Retry(e.into()))?
        .ok_or_else(|| nothing(format!("there is no request {id}")))?;
    let actor = format!("{}:{approver}", event.source.key());
    let resumed = request.state == RequestState::Approved
        && request.history.last().is_some_and(|s| s.by == actor);
    if request.state != RequestState::PendingApproval && !resumed {
        let by = request.history.last().map_or("", |s| s.by.as_str());
        let state = serde_json::to_value(request.state).unwrap_or_default();
        return Err(nothing(format!(
            "request {id} is already {} (by {by}): the click changed nothing",
            state.as_str().unwrap_or("closed").replace('_', " ")
        )));
    }
    Ok(Counted {
        approver,
        request,
        resumed,
    })
}
