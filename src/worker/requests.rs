//! What a decision means for requests and for the people waiting on them: requests opened for
//! an admin (and the admins told), closed when the licence comes back, and the requester told
//! the outcome of anything they asked for.

use time::OffsetDateTime;

use super::WorkerContext;
use crate::event::{Email, Event, Product, Source};
use crate::notify::OutboxEmail;
use crate::rules::Decision;
use crate::store::{
    AuditOutcome, EventOutcome, RequestChange, RequestRecord, RequestState, StoreError,
};

/// Whether the person behind the event asked for something and expects an answer by email.
/// A login is not asking (the user sees the outcome in the product), and a JSM requester is
/// answered on their request.
pub fn is_ask(event: &Event) -> bool {
    matches!(event.source, Source::Link | Source::Portal | Source::Admin)
}

/// The rules left a product to an admin: opens a request unless one is already open, and tells
/// the admins about a new one.
pub fn open(
    ctx: &WorkerContext,
    event: &Event,
    account_id: &str,
    product: Product,
    decision: &Decision,
    outcome: &mut EventOutcome,
) -> Result<bool, StoreError> {
    if ctx
        .store
        .open_request(&event.user.email, product)?
        .is_some()
    {
        return Ok(false);
    }
    let now = OffsetDateTime::now_utc();
    let mut request = RequestRecord {
        v: 1,
        id: RequestRecord::id_for(event.id.as_str()),
        state: RequestState::PendingApproval,
        email: event.user.email.clone(),
        account_id: Some(account_id.to_string()),
        product,
        source: event.source,
        event_id: event.id.to_string(),
        reason: decision.reason.clone(),
        created_at: now,
        updated_at: None,
        history: Vec::new(),
        reminded: false,
    };
    request.step(
        RequestState::PendingApproval,
        "rules",
        decision.reason.clone(),
    );
    let c = &ctx.config;
    if !c.alert_emails.is_empty() {
        outcome.emails.push(OutboxEmail::new(
            "request_waiting",
            &c.alert_emails,
            format!("[reinstate] {} asks for {}: waiting for approval", request.email, product.key()),
            format!(
                "{} ({} via {}) is waiting for a {} licence.\n\nWhy it waits: {}\n\nApprove or deny: POST {}/api/v1/requests/{}/approve or /deny",
                request.email,
                account_id,
                event.source.key(),
                product.key(),
                decision.reason,
                c.public_url.trim_end_matches('/'),
                request.id,
            ),
        ));
    }
    outcome.requests.push(RequestChange::Open(request));
    Ok(true)
}

/// The licence is back (by whatever path): the open request, if any, is done.
pub fn close(
    ctx: &WorkerContext,
    email: &Email,
    product: Product,
    state: RequestState,
    by: &str,
    note: &str,
    outcome: &mut EventOutcome,
) -> Result<(), StoreError> {
    if let Some(mut request) = ctx.store.open_request(email, product)? {
        request.step(state, by, note);
        outcome.requests.push(RequestChange::Update(request));
    }
    Ok(())
}

/// The email telling a requester what became of their ask.
pub fn tell_requester(
    event: &Event,
    product: Product,
    result: AuditOutcome,
    message: Option<&str>,
    outcome: &mut EventOutcome,
) {
    let p = product.key();
    let (subject, text) = match result {
        AuditOutcome::Restored => (
            format!("Your {p} licence is back"),
            format!(
                "Your {p} licence has been restored. It may take a minute to show in the product."
            ),
        ),
        AuditOutcome::AlreadyLicensed => (
            format!("You already have {p}"),
            format!("You already hold a {p} licence: nothing needed to change."),
        ),
        AuditOutcome::ApprovalRequired => (
            format!("Your request for {p} is waiting for approval"),
            format!(
                "Your request for a {p} licence needs an administrator's approval. You will get another email when it is decided."
            ),
        ),
        AuditOutcome::Denied => (
            format!("Your request for {p} was not granted"),
            format!(
                "Your request for a {p} licence was not granted. You can ask again later, or contact your administrator."
            ),
        ),
        AuditOutcome::Failed => (
            format!("Your request for {p} could not be completed"),
            format!(
                "Restoring your {p} licence failed. Your administrators can see why in reinstate's audit log."
            ),
        ),
        _ => return,
    };
    let text = match message {
        Some(m) => format!("{text}\n\n{m}"),
        None => text,
    };
    outcome.emails.push(OutboxEmail::new(
        "requester_outcome",
        &[event.user.email.to_string()],
        format!("[reinstate] {subject}"),
        text,
    ));
}

/// Expires requests nobody decided in time (telling the requester), and reminds admins of those
/// about to expire (once). Returns (expired, reminded).
pub async fn sweep(
    store: &crate::store::Store,
    config: &crate::config::RequestsConfig,
    admins: &[String],
    public_url: &str,
) -> Result<(usize, usize), StoreError> {
    let now = OffsetDateTime::now_utc();
    let (mut expired, mut reminded) = (0, 0);
    for mut request in store.requests(Some(RequestState::PendingApproval))? {
        let age: std::time::Duration = (now - request.created_at).try_into().unwrap_or_default();
        let p = request.product.key();
        let mut outcome = EventOutcome::default();
        if age >= config.expire_after {
            let days = config.expire_after.as_secs_f64() / 86_400.0;
            request.step(
                RequestState::Expired,
                "expiry",
                format!("no decision within {days:.1} days"),
            );
            let mut entry = crate::store::AuditEntry::new(
                AuditOutcome::Expired,
                format!("request {} expired without a decision", request.id),
            );
            entry.user = Some(request.email.clone());
            entry.product = Some(request.product);
            entry.event_id = Some(request.event_id.clone());
            outcome.audit.push(entry);
            outcome.emails.push(OutboxEmail::new(
                "requester_outcome",
                &[request.email.to_string()],
                format!("[reinstate] Your request for {p} expired"),
                format!("Nobody decided your request for a {p} licence in time, so it expired. You can ask again."),
            ));
            expired += 1;
        } else if age + config.remind_before >= config.expire_after
            && !request.reminded
            && !admins.is_empty()
        {
            request.reminded = true;
            outcome.emails.push(OutboxEmail::new(
                "request_reminder",
                admins,
                format!("[reinstate] {} is still waiting for {p}", request.email),
                format!(
                    "The request {} of {} for {p} expires soon without a decision.\n\nApprove or deny: POST {}/api/v1/requests/{}/approve or /deny",
                    request.id,
                    request.email,
                    public_url.trim_end_matches('/'),
                    request.id
                ),
            ));
            reminded += 1;
        } else {
            continue;
        }
        outcome.requests.push(RequestChange::Update(request));
        store.record(outcome).await?;
    }
    Ok((expired, reminded))
}

/// A portal ask: when the address is a directory user's, email them a link that confirms the
/// request; otherwise nothing leaves (the portal's answer was the same either way).
pub async fn send_confirmation(
    ctx: &WorkerContext,
    event: &Event,
    attempt: u32,
) -> Result<super::Handled, super::WorkError> {
    let mut calls =
        crate::directory::CallLog::with_metrics(ctx.metrics.clone(), ctx.directory.kind());
    let found = match ctx
        .directory
        .find_user(None, &event.user.email, &mut calls)
        .await
    {
        Ok(found) => found,
        Err(e) if e.is_transient() => return Err(e.into()),
        Err(e) => {
            return super::finish_with(
                ctx,
                event,
                attempt,
                AuditOutcome::Failed,
                e.to_string(),
                calls,
            )
            .await;
        }
    };
    let Some(links) = ctx
        .links
        .as_ref()
        .filter(|_| found.as_ref().is_some_and(|u| u.active))
    else {
        let reason = if found.is_some() {
            "the directory account is deactivated: no link sent"
        } else {
            "no directory account has this address: no link sent"
        };
        return super::finish_with(
            ctx,
            event,
            attempt,
            AuditOutcome::UnknownUser,
            reason.into(),
            calls,
        )
        .await;
    };
    let link = links.create(
        &event.user.email,
        crate::links::Purpose::Request,
        event.product,
        event.reason.clone(),
    );
    let what = event
        .product
        .map_or("your Atlassian products".to_string(), |p| {
            p.key().to_string()
        });
    let hours = links.ttl.as_secs() / 3600;
    let mut outcome = EventOutcome::default();
    outcome.emails.push(OutboxEmail::new(
        "portal_confirmation",
        &[event.user.email.to_string()],
        format!("[reinstate] Confirm your request for {what}"),
        format!(
            "Someone, hopefully you, asked for access to {what} on the reinstate portal.\n\n\
             To confirm, open this link (valid {hours} hours, once) and press the button:\n{link}\n\n\
             If it was not you, ignore this email: nothing happens without the button."
        ),
    ));
    let mut entry = super::base_entry(
        event,
        attempt,
        AuditOutcome::LinkSent,
        "portal ask: confirmation link emailed",
    );
    entry.product = event.product;
    entry.directory_calls = calls.take();
    outcome.audit.push(entry);
    outcome.processed = super::processed(ctx, event, AuditOutcome::LinkSent.key());
    ctx.store.record(outcome).await?;
    Ok(super::Handled::Done(vec![AuditOutcome::LinkSent]))
}

/// A JSM request reinstate restored itself is answered on the issue: a comment for the
/// requester, then (unless an approver already moved it) the configured transition. Failures
/// are noted in the audit, not retried: the licence is already back.
pub async fn answer_jsm(
    ctx: &WorkerContext,
    event: &Event,
    issue: &str,
    outcomes: &[AuditOutcome],
    calls: &mut crate::directory::CallLog,
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
    let approved_in_jsm = event.kind == crate::event::EventKind::Approve;
    if !approved_in_jsm
        && let Some(id) = &ctx.config.jsm_transition_id
        && let Err(e) = ctx.directory.transition(issue, id, calls).await
    {
        problems.push(format!("transition {id}: {e}"));
    }
    let note = if problems.is_empty() {
        format!("answered on {issue}")
    } else {
        format!("could not fully answer {issue}: {}", problems.join("; "))
    };
    if !problems.is_empty() {
        tracing::warn!(%issue, problems = ?problems, "JSM request not fully answered");
    }
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

/// A JSM approver declined the request: audited, nothing restored; an open request closes.
pub async fn record_decline(
    ctx: &WorkerContext,
    event: &Event,
    attempt: u32,
) -> Result<super::Handled, super::WorkError> {
    let issue = event.issue.as_deref().unwrap_or("?");
    let mut outcome = EventOutcome::default();
    let mut entry = super::base_entry(
        event,
        attempt,
        AuditOutcome::Denied,
        format!("declined in Jira Service Management ({issue})"),
    );
    entry.product = event.product;
    outcome.audit.push(entry);
    for product in Product::ALL {
        close(
            ctx,
            &event.user.email,
            product,
            RequestState::Denied,
            "jsm",
            &format!("declined in {issue}"),
            &mut outcome,
        )?;
    }
    outcome.processed = super::processed(ctx, event, AuditOutcome::Denied.key());
    ctx.store.record(outcome).await?;
    Ok(super::Handled::Done(vec![AuditOutcome::Denied]))
}
