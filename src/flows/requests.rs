//! Requests the rules left to an admin, and the people waiting on them: opened (admins told),
//! approved or denied by an admin, closed when the licence comes back by any path, expired when
//! nobody decides (admins reminded first), and the requester told the outcome of what they asked.

use serde::Deserialize;
use time::OffsetDateTime;

use super::{Context, FlowError, Intake};
use crate::domain::rules::Decision;
use crate::domain::{
    AuditOutcome, Email, Event, EventKind, EventUser, Problems, Product, Source, Spelling,
};
use crate::notify::email;
use crate::store::{
    AuditEntry, EventOutcome, RequestChange, RequestRecord, RequestState, Store, StoreError,
};

/// `[requests]`
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RequestsConfig {
    /// A request nobody decides within this long expires (the requester is told), e.g. "14d".
    #[serde(with = "humantime_serde")]
    pub expire_after: std::time::Duration,
    /// Admins are reminded this long before a request expires, e.g. "3d".
    #[serde(with = "humantime_serde")]
    pub remind_before: std::time::Duration,
    /// How often waiting requests are checked.
    #[serde(with = "humantime_serde")]
    pub check_every: std::time::Duration,
    /// Who may approve or deny a waiting request outside the console (a button in Slack), by
    /// email; members of `reclaim.admin_groups`, as the inventory knows them, may too.
    pub approvers: Vec<Email>,
}

impl Default for RequestsConfig {
    fn default() -> Self {
        let day = std::time::Duration::from_secs(86_400);
        Self {
            expire_after: day * 14,
            remind_before: day * 3,
            check_every: std::time::Duration::from_secs(300),
            approvers: Vec::new(),
        }
    }
}

impl RequestsConfig {
    pub fn check(&self, problems: &mut Problems) {
        if self.remind_before >= self.expire_after {
            problems.add(
                "requests.remind_before",
                "must be shorter than requests.expire_after",
            );
        }
        if self.check_every.is_zero() {
            problems.add("requests.check_every", "must be greater than 0");
        }
    }
}

/// Whether the person behind the event asked for something and expects an answer by email.
/// A login is not asking (the user sees the outcome in the product), a JSM requester is
/// answered on their request, and one who asked in Slack is answered there — until an approver
/// decides in Slack, by when the command's answer address has long expired (Teams alike). A mailed request,
/// once its link is confirmed, is answered by email like the portal's.
pub fn is_ask(event: &Event) -> bool {
    matches!(
        event.source,
        Source::Link | Source::Portal | Source::Admin | Source::Mail
    ) || (matches!(event.source, Source::Slack | Source::Teams) && event.request.is_some())
}

/// The rules left a product to an admin: opens a request unless one is already open, and tells
/// the admins about a new one.
pub(super) fn open(
    ctx: &Context,
    event: &Event,
    account_id: &str,
    product: Product,
    decision: &Decision,
    outcome: &mut EventOutcome,
) -> Result<bool, StoreError> {
    let Some(user) = event.user.email.clone() else {
        return Ok(false);
    };
    if ctx.store.open_request(&user, product)?.is_some() {
        return Ok(false);
    }
    let mut request = RequestRecord {
        v: 1,
        id: RequestRecord::id_for(event.id.as_str()),
        state: RequestState::PendingApproval,
        email: user,
        account_id: Some(account_id.to_string()),
        product,
        source: event.source,
        event_id: event.id.to_string(),
        issue: event.issue.clone(),
        reason: decision.reason.clone(),
        created_at: OffsetDateTime::now_utc(),
        updated_at: None,
        history: Vec::new(),
        reminded: false,
    };
    let why = decision.reason.clone();
    request.step(RequestState::PendingApproval, "rules", why);
    let admins = &ctx.settings.alerts.emails;
    if !admins.is_empty() {
        outcome.emails.push(email(
            ctx.settings.spelling,
            "request_waiting",
            admins,
            format!(
                "[reinstate] {} asks for {}: waiting for approval",
                request.email,
                product.key()
            ),
            format!(
                "{} ({} via {}) is waiting for a {} licence.\n\nWhy it waits: {}\n\nApprove or deny: POST {}/api/v1/requests/{}/approve or /deny",
                request.email,
                account_id,
                event.source.key(),
                product.key(),
                decision.reason,
                ctx.settings.public_url.trim_end_matches('/'),
                request.id,
            ),
        ));
    }
    if let (Some(channel), Some(_)) = (&ctx.settings.slack_approvers_channel, &ctx.settings.slack) {
        outcome
            .posts
            .push(super::chat::approval_message(ctx, channel, &request));
    }
    if let (Some(approvers), Some(_)) = (&ctx.settings.teams_approvers, &ctx.settings.teams) {
        outcome
            .posts
            .push(super::chat::approval_card(ctx, approvers, &request));
    }
    outcome.requests.push(RequestChange::Open(request));
    Ok(true)
}

/// The licence is back (by whatever path): the open request, if any, is done.
pub(super) fn close(
    ctx: &Context,
    user: &Email,
    product: Product,
    state: RequestState,
    by: &str,
    note: &str,
    outcome: &mut EventOutcome,
) -> Result<(), StoreError> {
    if let Some(mut request) = ctx.store.open_request(user, product)? {
        request.step(state, by, note);
        outcome.requests.push(RequestChange::Update(request));
    }
    Ok(())
}

/// The products of the user's open requests that `issue` opened.
pub(super) fn opened_by(
    ctx: &Context,
    user: &Email,
    issue: &str,
) -> Result<Vec<Product>, StoreError> {
    let mut products = Vec::new();
    for product in Product::ALL {
        if let Some(request) = ctx.store.open_request(user, product)?
            && request.issue.as_deref() == Some(issue)
        {
            products.push(product);
        }
    }
    Ok(products)
}

/// The email telling a requester what became of their ask.
pub(super) fn tell_requester(
    sp: Spelling,
    user: &Email,
    product: Product,
    result: AuditOutcome,
    message: Option<&str>,
    outcome: &mut EventOutcome,
) {
    let p = product.name();
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
        Some(m) => format!("{text}\n\nYour administrators add: \u{201c}{m}\u{201d}"),
        None => text,
    };
    let to = [user.to_string()];
    outcome.emails.push(email(
        sp,
        "requester_outcome",
        &to,
        format!("[reinstate] {subject}"),
        text,
    ));
}

/// Expires requests nobody decided in time (telling the requester), and reminds admins of those
/// about to expire (once). Returns (expired, reminded).
pub async fn sweep(ctx: &Context) -> Result<(usize, usize), StoreError> {
    let config = &ctx.settings.requests;
    let now = OffsetDateTime::now_utc();
    let (mut expired, mut reminded) = (0, 0);
    for mut request in ctx.store.requests(Some(RequestState::PendingApproval))? {
        let age: std::time::Duration = (now - request.created_at).try_into().unwrap_or_default();
        let mut outcome = EventOutcome::default();
        if age >= config.expire_after {
            expire(ctx.settings.spelling, &mut request, config, &mut outcome);
            expired += 1;
        } else if age + config.remind_before >= config.expire_after
            && !request.reminded
            && !ctx.settings.alerts.emails.is_empty()
        {
            remind(ctx, &mut request, &mut outcome);
            reminded += 1;
        } else {
            continue;
        }
        outcome.requests.push(RequestChange::Update(request));
        ctx.store.record(outcome).await?;
    }
    Ok((expired, reminded))
}

fn expire(
    sp: Spelling,
    request: &mut RequestRecord,
    config: &RequestsConfig,
    outcome: &mut EventOutcome,
) {
    let p = request.product.name();
    let days = config.expire_after.as_secs_f64() / 86_400.0;
    let why = format!("no decision within {days:.1} days");
    request.step(RequestState::Expired, "expiry", why);
    let mut entry = AuditEntry::new(
        AuditOutcome::Expired,
        format!("request {} expired without a decision", request.id),
    );
    entry.user = Some(request.email.clone());
    entry.product = Some(request.product);
    entry.event_id = Some(request.event_id.clone());
    outcome.audit.push(entry);
    outcome.emails.push(email(
        sp,
        "requester_outcome",
        &[request.email.to_string()],
        format!("[reinstate] Your request for {p} expired"),
        format!("Nobody decided your request for a {p} licence in time, so it expired. You can ask again."),
    ));
}

fn remind(ctx: &Context, request: &mut RequestRecord, outcome: &mut EventOutcome) {
    let p = request.product.key();
    request.reminded = true;
    outcome.emails.push(email(
        ctx.settings.spelling,
        "request_reminder",
        &ctx.settings.alerts.emails,
        format!("[reinstate] {} is still waiting for {p}", request.email),
        format!(
            "The request {} of {} for {p} expires soon without a decision.\n\nApprove or deny: POST {}/api/v1/requests/{}/approve or /deny",
            request.id,
            request.email,
            ctx.settings.public_url.trim_end_matches('/'),
            request.id
        ),
    ));
}

/// A request that is still waiting for an admin.
fn pending(store: &Store, id: &str) -> Result<RequestRecord, FlowError> {
    let request = store.request(id)?.ok_or_else(|| FlowError::NotFound {
        code: "unknown_request",
        detail: format!("no request {id:?}"),
    })?;
    if request.state != RequestState::PendingApproval {
        let state = serde_json::to_value(request.state).unwrap_or_default();
        return Err(FlowError::Conflict {
            code: "not_pending",
            detail: format!(
                "request {id} is {}, not pending approval",
                state.as_str().unwrap_or("closed")
            ),
        });
    }
    Ok(request)
}

fn decided_entry(
    request: &RequestRecord,
    outcome: AuditOutcome,
    actor: &str,
    reason: String,
    source: Source,
) -> AuditEntry {
    let mut entry = AuditEntry::new(outcome, reason);
    entry.user = Some(request.email.clone());
    entry.account_id = request.account_id.clone();
    entry.product = Some(request.product);
    entry.source = Some(source);
    entry.event_id = Some(request.event_id.clone());
    entry.actor = Some(actor.to_string());
    entry
}

/// An admin approves a pending request: recorded, then a restore is queued that no rule is
/// asked about again (the requester is told its outcome). If it cannot be queued, the request
/// goes back to pending.
pub async fn approve(
    ctx: &Context,
    intake: &Intake,
    id: &str,
    actor: &str,
    note: Option<String>,
) -> Result<RequestRecord, FlowError> {
    let mut request = pending(&ctx.store, id)?;
    let note = note.unwrap_or_else(|| "approved".into());
    // Recorded before the restore is queued, so the worker's outcome always comes after it.
    let approved = approval(&mut request, actor, &note, Source::Admin);
    ctx.store.record(approved).await?;
    let event = Event {
        request: Some(id.to_string()),
        ..Event::new(
            Source::Admin,
            &format!("approve-{id}"),
            EventKind::Restore,
            EventUser::new(request.email.clone(), request.account_id.clone()),
            Some(request.product),
            OffsetDateTime::now_utc(),
        )
    };
    if let Err(e) = intake.accept(event).await {
        tracing::warn!(error = %e, "approval not queued; the request goes back to pending");
        let back = "the approval could not be queued; approve again";
        request.step(RequestState::PendingApproval, "reinstate", back);
        let _ = ctx
            .store
            .record(EventOutcome {
                requests: vec![RequestChange::Update(request)],
                ..Default::default()
            })
            .await;
        return Err(FlowError::Unavailable(
            "the approval could not be queued right now; approve again in a minute".into(),
        ));
    }
    Ok(request)
}

/// An admin denies a pending request with a reason the requester reads. A denial never blocks
/// a later request.
pub async fn deny(
    ctx: &Context,
    id: &str,
    actor: &str,
    reason: Option<String>,
) -> Result<RequestRecord, FlowError> {
    let reason = reason
        .filter(|r| !r.trim().is_empty() && r.len() <= 1000)
        .ok_or_else(|| {
            FlowError::invalid(
                "invalid_request",
                "reason: say why (1 to 1000 characters); the requester reads it",
            )
        })?;
    let mut request = pending(&ctx.store, id)?;
    let denied = denial(ctx, &mut request, actor, &reason, Source::Admin);
    ctx.store.record(denied).await?;
    Ok(request)
}

/// What approving `request` writes: the step and the audit entry (the restore comes after).
pub(super) fn approval(
    request: &mut RequestRecord,
    actor: &str,
    note: &str,
    source: Source,
) -> EventOutcome {
    request.step(RequestState::Approved, actor, note.to_string());
    let reason = format!("request {} approved: {note}", request.id);
    let entry = decided_entry(request, AuditOutcome::Approved, actor, reason, source);
    EventOutcome {
        requests: vec![RequestChange::Update(request.clone())],
        audit: vec![entry],
        ..Default::default()
    }
}

/// What denying `request` writes: the step, the audit entry and the requester's email.
pub(super) fn denial(
    ctx: &Context,
    request: &mut RequestRecord,
    actor: &str,
    reason: &str,
    source: Source,
) -> EventOutcome {
    request.step(RequestState::Denied, actor, reason.to_string());
    let p = request.product.name();
    let told = email(
        ctx.settings.spelling,
        "requester_outcome",
        &[request.email.to_string()],
        format!("[reinstate] Your request for {p} was not granted"),
        format!(
            "An administrator did not grant your request for a {p} licence.\n\nTheir reason: \"{reason}\"\n\nYou can ask again later."
        ),
    );
    let why = format!("request {} denied: {reason}", request.id);
    let entry = decided_entry(request, AuditOutcome::Denied, actor, why, source);
    EventOutcome {
        requests: vec![RequestChange::Update(request.clone())],
        audit: vec![entry],
        emails: vec![told],
        ..Default::default()
    }
}
