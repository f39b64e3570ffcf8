//! Workers: consume events, decide, act through the directory, record, then ack.
//! `process_one` is the step (tests drive it directly); `run` adds concurrency, ack/nak,
//! backoff and the bounded number of deliveries.

use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use crate::bus::{Bus, BusError, Delivery};
use crate::config::WorkerConfig;
use crate::directory::{CallLog, Directory, DirectoryError, DirectoryUser, ProductAccess};
use crate::event::Event;
use crate::event::{EventUser, Product};
use crate::rules::{self, Facts, Outcome, Seats};

pub mod requests;
use crate::store::{
    AuditEntry, AuditOutcome, EventOutcome, ProcessedRecord, RequestState, Store, StoreError,
    UserRecord,
};

pub struct WorkerContext {
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Signs the confirmation links of portal asks.
    pub links: Option<Arc<crate::links::LinkSettings>>,
    pub store: Store,
    pub directory: Arc<dyn Directory>,
    pub config: WorkerSettings,
}

#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// Transition applied to a JSM request after reinstate restored access itself.
    pub jsm_transition_id: Option<String>,
    /// Admins who receive seat alerts.
    pub alert_emails: Vec<String>,
    pub seat_threshold_percent: u8,
    /// Base URL for links in emails.
    pub public_url: String,
    pub concurrency: usize,
    pub max_deliver: u32,
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
    pub processed_ttl: time::Duration,
    /// Logins of one user closer together than this act once.
    pub login_window: time::Duration,
}

impl WorkerSettings {
    pub fn new(config: &crate::config::Config) -> WorkerSettings {
        WorkerSettings {
            alert_emails: config.alerts.emails.clone(),
            jsm_transition_id: config.sources.jsm.transition_id.clone(),
            seat_threshold_percent: config.alerts.seat_threshold_percent,
            public_url: config.server.public_url.clone(),
            ..WorkerSettings::from(&config.worker)
        }
    }
}

impl From<&WorkerConfig> for WorkerSettings {
    fn from(c: &WorkerConfig) -> Self {
        WorkerSettings {
            jsm_transition_id: None,
            alert_emails: Vec::new(),
            seat_threshold_percent: 0,
            public_url: String::new(),
            concurrency: c.concurrency,
            max_deliver: c.max_deliver,
            backoff_initial: Duration::from_millis(c.backoff_initial_ms),
            backoff_max: Duration::from_millis(c.backoff_max_ms),
            processed_ttl: time::Duration::days(c.processed_ttl_days as i64),
            login_window: time::Duration::seconds(c.login_dedupe_secs as i64),
        }
    }
}

/// What handling an event came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handled {
    /// The id was handled before; nothing was done.
    Duplicate,
    /// Handled; the outcome per product (or one outcome when no product applied).
    Done(Vec<AuditOutcome>),
}

/// Could not finish now; the event goes back to the bus.
#[derive(Debug, thiserror::Error)]
pub enum WorkError {
    #[error(transparent)]
    Directory(#[from] DirectoryError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub(crate) fn base_entry(
    event: &Event,
    attempt: u32,
    outcome: AuditOutcome,
    reason: impl Into<String>,
) -> AuditEntry {
    let mut e = AuditEntry::new(outcome, reason);
    e.event_id = Some(event.id.to_string());
    e.source = Some(event.source);
    e.user = Some(event.user.email.clone());
    e.account_id = event.user.account_id.clone();
    e.attempt = Some(attempt);
    e.latency_ms =
        Some((OffsetDateTime::now_utc() - event.occurred_at).whole_milliseconds() as i64);
    e
}

fn processed(
    ctx: &WorkerContext,
    event: &Event,
    outcome: &str,
) -> Option<(String, ProcessedRecord)> {
    let now = OffsetDateTime::now_utc();
    Some((
        event.id.to_string(),
        ProcessedRecord {
            v: 1,
            outcome: outcome.into(),
            at: now,
            expires_at: now + ctx.config.processed_ttl,
        },
    ))
}

/// Handles one event: idempotent (a second call with the same id does nothing), and everything
/// it changed is flushed to sled before it returns `Ok`.
pub async fn process_one(
    ctx: &WorkerContext,
    event: &Event,
    attempt: u32,
) -> Result<Handled, WorkError> {
    if ctx.store.processed(event.id.as_str())?.is_some() {
        return Ok(Handled::Duplicate);
    }
    match event.kind {
        crate::event::EventKind::Keep => return record_keep(ctx, event, attempt).await,
        crate::event::EventKind::Ask => {
            return requests::send_confirmation(ctx, event, attempt).await;
        }
        crate::event::EventKind::Decline => {
            return requests::record_decline(ctx, event, attempt).await;
        }
        _ => {}
    }
    let window = ctx.config.login_window.whole_milliseconds() as i64;
    if event.kind == crate::event::EventKind::Login && window > 0 {
        let occurred = (event.occurred_at.unix_timestamp_nanos() / 1_000_000) as i64;
        if let Some(first) =
            ctx.store
                .claim_login(&event.user.email, event.id.as_str(), occurred, window)?
        {
            let reason = format!("the same login was already handled as {first}");
            return finish_with(
                ctx,
                event,
                attempt,
                AuditOutcome::DuplicateLogin,
                reason,
                CallLog::default(),
            )
            .await;
        }
    }
    let mut user_record = ctx
        .store
        .user(&event.user.email)?
        .unwrap_or_else(|| UserRecord::new(&event.user.email));
    let mut calls = CallLog::with_metrics(ctx.metrics.clone(), ctx.directory.kind());
    let LookedUp {
        user,
        groups,
        targets,
    } = match look_up(
        ctx.directory.as_ref(),
        &event.user,
        user_record.account_id.as_deref(),
        event.product,
        &mut calls,
    )
    .await
    {
        Ok(found) => found,
        Err(Stop::Retry(e)) => return Err(e),
        Err(Stop::End(outcome, reason)) => {
            return finish_with(ctx, event, attempt, outcome, reason, calls).await;
        }
    };

    let rules = ctx.store.compiled_rules()?;
    user_record.account_id = Some(user.account_id.clone());
    user_record.last_login = Some(latest(user_record.last_login, event.occurred_at));
    user_record.groups = groups.clone();
    user_record.roles = event.user.roles.clone();

    let mut outcome = EventOutcome::default();
    let mut outcomes = Vec::new();
    let mut capped_user = None;
    for access in &targets {
        let product = access.product;
        let state = user_record.products.entry(product).or_default();
        state.last_login = Some(latest(state.last_login, event.occurred_at));
        let mut entry = base_entry(event, attempt, AuditOutcome::AlreadyLicensed, "");
        entry.account_id = Some(user.account_id.clone());
        entry.product = Some(product);
        entry.seats_before = Some(access.seats);

        let holds = groups.iter().any(|g| {
            access
                .access_groups
                .iter()
                .any(|a| a.eq_ignore_ascii_case(g))
        });
        if holds {
            state.licensed = true;
            state.reclaimed = None;
            entry.reason = format!("already holds a {} licence", product.key());
        } else {
            let facts = Facts::new(
                &event.user.email,
                &groups,
                &event.user.roles,
                product,
                event.source,
                state.reclaimed.is_some(),
            );
            // An admin's approval decides by itself: the rules already left it to them.
            let approved_by = match (&event.request, &event.issue) {
                (Some(id), _) => Some(format!("approved by an admin (request {id})")),
                (None, Some(issue)) if event.kind == crate::event::EventKind::Approve => {
                    Some(format!("approved in Jira Service Management ({issue})"))
                }
                _ => None,
            };
            let decision = match approved_by {
                Some(reason) => rules::Decision {
                    outcome: Outcome::Restore,
                    rule: None,
                    reason,
                    message: None,
                    seat_capped: false,
                },
                None => rules.decide(&facts, Some(access.seats)),
            };
            if decision.seat_capped {
                capped_user = Some(event.user.email.clone());
            }
            entry = entry.with_decision(&decision);
            entry.outcome = AuditOutcome::from_rule(decision.outcome);
            entry.reason = decision.reason.clone();
            match decision.outcome {
                Outcome::Restore => {
                    // Exactly the groups that were reclaimed, when recorded; else the defaults.
                    let to_add = match &state.reclaimed {
                        Some(r) if !r.groups.is_empty() => r.groups.clone(),
                        _ => access.default_groups.clone(),
                    };
                    let mut added = Vec::new();
                    let mut result = Ok(());
                    if !user.active {
                        // Only reached when the directory can reactivate (see `look_up`).
                        result = ctx
                            .directory
                            .reactivate(&user.account_id, &event.user.email, product, &mut calls)
                            .await;
                        if result.is_ok() {
                            entry.reason = format!("{}; the account was reactivated", entry.reason);
                        }
                    }
                    if result.is_ok() {
                        for group in &to_add {
                            match ctx
                                .directory
                                .add_to_group(&user.account_id, product, group, &mut calls)
                                .await
                            {
                                Ok(_) => added.push(group.name.clone()),
                                Err(e) => {
                                    result = Err(e);
                                    break;
                                }
                            }
                        }
                    }
                    let mut failure = match result {
                        Err(e) if e.is_transient() => {
                            // Keep the audit of what was already done; the retry finds it done.
                            outcome.audit.push(entry_failed(&entry, &e, calls.take()));
                            outcome.user = Some(user_record);
                            ctx.store.record(outcome).await?;
                            return Err(e.into());
                        }
                        Err(e) => Some(e),
                        Ok(()) => None,
                    };
                    if to_add.is_empty() {
                        failure = Some(DirectoryError::Permanent(format!(
                            "{} has no default access group to add the user to",
                            product.key()
                        )));
                    }
                    match failure {
                        None => {
                            state.licensed = true;
                            state.restored_at = Some(OffsetDateTime::now_utc());
                            state.groups_added = added;
                            state.reclaimed = None;
                            entry.seats_after = Some(
                                ctx.directory
                                    .seat_taken(product)
                                    .unwrap_or_else(|| access.seats.plus_one()),
                            );
                        }
                        Some(e) => {
                            entry.outcome = AuditOutcome::Failed;
                            entry.reason = format!("{}; restore failed: {e}", decision.reason);
                        }
                    }
                }
                Outcome::Approve => {
                    requests::open(
                        ctx,
                        event,
                        &user.account_id,
                        product,
                        &decision,
                        &mut outcome,
                    )?;
                }
                Outcome::Deny => {}
            }
        }
        match entry.outcome {
            AuditOutcome::Restored => {
                let by = if event.request.is_some() {
                    "admin approval"
                } else {
                    "rules"
                };
                requests::close(
                    ctx,
                    &event.user.email,
                    product,
                    RequestState::Restored,
                    by,
                    "licence restored",
                    &mut outcome,
                )?;
            }
            AuditOutcome::Failed if event.request.is_some() => {
                requests::close(
                    ctx,
                    &event.user.email,
                    product,
                    RequestState::Failed,
                    "worker",
                    &entry.reason,
                    &mut outcome,
                )?;
            }
            _ => {}
        }
        if requests::is_ask(event) {
            requests::tell_requester(
                event,
                product,
                entry.outcome,
                entry.message.as_deref(),
                &mut outcome,
            );
        }
        if entry.outcome == AuditOutcome::Failed {
            failure_alert(
                ctx,
                &event.user.email,
                Some(product),
                &entry.reason,
                &mut outcome,
            )?;
        }
        let seats = entry.seats_after.unwrap_or(access.seats);
        let capped = capped_user.take();
        seat_alerts(ctx, product, seats, capped.as_ref(), &mut outcome)?;
        entry.directory_calls = calls.take();
        outcomes.push(entry.outcome);
        outcome.audit.push(entry);
    }
    if let Some(issue) = &event.issue {
        requests::answer_jsm(ctx, event, issue, &outcomes, &mut calls, &mut outcome).await;
    }
    let summary = outcomes
        .iter()
        .map(|o| o.key())
        .collect::<Vec<_>>()
        .join(",");
    outcome.user = Some(user_record);
    outcome.processed = processed(ctx, event, &summary);
    ctx.store.record(outcome).await?;
    Ok(Handled::Done(outcomes))
}

/// Why handling stopped before any decision.
pub enum Stop {
    /// Try again later (the bus redelivers).
    Retry(WorkError),
    /// Record this outcome and stop.
    End(AuditOutcome, String),
}

impl From<DirectoryError> for Stop {
    fn from(e: DirectoryError) -> Stop {
        if e.is_transient() {
            Stop::Retry(e.into())
        } else {
            Stop::End(AuditOutcome::Failed, e.to_string())
        }
    }
}

/// What the directory says about the user of an event.
pub struct LookedUp {
    pub user: DirectoryUser,
    /// Groups from the directory and the identity provider together.
    pub groups: Vec<String>,
    /// The products to decide: the event's, or every product the directory licenses.
    pub targets: Vec<ProductAccess>,
}

/// Finds the user, their groups (directory and identity provider) and the products to decide.
/// `known_account_id` is the account reinstate recorded for this email before: looked up by
/// id (with the groups in the same call), it saves the search; if it no longer exists or now
/// shows another email, the search decides.
pub async fn look_up(
    dir: &dyn Directory,
    event_user: &EventUser,
    known_account_id: Option<&str>,
    product: Option<Product>,
    calls: &mut CallLog,
) -> Result<LookedUp, Stop> {
    let mut found = None;
    if event_user.account_id.is_none()
        && let Some(id) = known_account_id
    {
        found = dir
            .find_user(Some(id), &event_user.email, calls)
            .await?
            .filter(|u| {
                u.email
                    .as_deref()
                    .is_none_or(|e| e.eq_ignore_ascii_case(event_user.email.as_str()))
            });
    }
    if found.is_none() {
        found = dir
            .find_user(event_user.account_id.as_deref(), &event_user.email, calls)
            .await?;
    }
    let mut user = found.ok_or_else(|| {
        Stop::End(
            AuditOutcome::UnknownUser,
            "no directory account matches this user".into(),
        )
    })?;
    if user.customer {
        return Err(Stop::End(
            AuditOutcome::PortalCustomer,
            "a Jira Service Management portal-only customer: the portal needs no licence, so none \
             is given"
                .into(),
        ));
    }
    if !user.active && !dir.can_reactivate() {
        // A deactivated account cannot use a licence; restoring would only spend a seat.
        return Err(Stop::End(
            AuditOutcome::AccountInactive,
            "the directory account is deactivated; reactivate it first, or let reinstate do it (directory.reactivate)".into(),
        ));
    }
    let mut groups = match user.groups.take() {
        Some(groups) => groups,
        None => dir.user_groups(&user.account_id, calls).await?,
    };
    groups.extend(event_user.groups.iter().cloned());
    let products = dir.products(calls).await?;
    let targets = match product {
        None => products,
        Some(p) => {
            let access = products
                .into_iter()
                .find(|a| a.product == p)
                .ok_or_else(|| {
                    Stop::End(
                        AuditOutcome::UnsupportedProduct,
                        format!("the {} directory does not license {}", dir.kind(), p.key()),
                    )
                })?;
            vec![access]
        }
    };
    Ok(LookedUp {
        user,
        groups,
        targets,
    })
}

/// Queues the seat alerts a fresh seat reading calls for (once per crossing), in `outcome`.
fn seat_alerts(
    ctx: &WorkerContext,
    product: Product,
    seats: Seats,
    capped: Option<&crate::event::Email>,
    outcome: &mut EventOutcome,
) -> Result<(), StoreError> {
    let c = &ctx.config;
    let before = ctx.store.alert_state(product)?;
    let (after, alerts) =
        crate::notify::seat_alerts(seats, capped, c.seat_threshold_percent, before);
    if after != before {
        outcome.alerts.push((product, after));
    }
    for alert in alerts {
        tracing::warn!(product = product.key(), ?seats, "seat alert");
        if !c.alert_emails.is_empty() {
            outcome.emails.push(crate::notify::seat_alert_email(
                product,
                &alert,
                &c.alert_emails,
                &c.public_url,
            ));
        }
    }
    Ok(())
}

/// How often admins are emailed about failed restores at most.
const FAILURE_ALERT_EVERY_MS: i64 = 3_600_000;

/// Queues the admin alert for a restore that failed for good (at most one email an hour:
/// one misconfiguration fails every event, and the audit log has each one), in `outcome`.
fn failure_alert(
    ctx: &WorkerContext,
    user: &crate::event::Email,
    product: Option<Product>,
    reason: &str,
    outcome: &mut EventOutcome,
) -> Result<(), StoreError> {
    let c = &ctx.config;
    tracing::warn!(%user, reason, "restore failed");
    if !c.alert_emails.is_empty()
        && ctx.store.claim_alert(
            "restore_failed",
            crate::store::now_ms(),
            FAILURE_ALERT_EVERY_MS,
        )?
    {
        outcome.emails.push(crate::notify::failure_alert_email(
            user,
            product,
            reason,
            &c.alert_emails,
            &c.public_url,
        ));
    }
    Ok(())
}

fn latest(known: Option<OffsetDateTime>, seen: OffsetDateTime) -> OffsetDateTime {
    known.map_or(seen, |k| k.max(seen))
}

fn entry_failed(
    entry: &AuditEntry,
    e: &DirectoryError,
    calls: Vec<crate::store::DirectoryCall>,
) -> AuditEntry {
    let mut failed = entry.clone();
    failed.outcome = AuditOutcome::Failed;
    failed.reason = format!("{}; will retry: {e}", entry.reason);
    failed.directory_calls = calls;
    failed
}

/// "Keep my licence": remembered on the user for the reclaim that would take it; no
/// directory call is needed.
async fn record_keep(
    ctx: &WorkerContext,
    event: &Event,
    attempt: u32,
) -> Result<Handled, WorkError> {
    let mut user = ctx
        .store
        .user(&event.user.email)?
        .unwrap_or_else(|| UserRecord::new(&event.user.email));
    user.keep_requested_at = Some(event.occurred_at);
    let what = event.product.map_or("their licences".to_string(), |p| {
        format!("their {} licence", p.key())
    });
    let mut entry = base_entry(
        event,
        attempt,
        AuditOutcome::KeepRecorded,
        format!("the user asked to keep {what}"),
    );
    entry.product = event.product;
    let outcome = EventOutcome {
        user: Some(user),
        audit: vec![entry],
        processed: processed(ctx, event, AuditOutcome::KeepRecorded.key()),
        ..Default::default()
    };
    ctx.store.record(outcome).await?;
    Ok(Handled::Done(vec![AuditOutcome::KeepRecorded]))
}

/// Records an event that ends without a per-product decision.
pub(crate) async fn finish_with(
    ctx: &WorkerContext,
    event: &Event,
    attempt: u32,
    outcome: AuditOutcome,
    reason: String,
    calls: CallLog,
) -> Result<Handled, WorkError> {
    let mut record = EventOutcome::default();
    if outcome == AuditOutcome::Failed {
        failure_alert(ctx, &event.user.email, event.product, &reason, &mut record)?;
    }
    let mut entry = base_entry(event, attempt, outcome, reason);
    entry.product = event.product;
    entry.directory_calls = calls.calls;
    record.audit.push(entry);
    record.processed = processed(ctx, event, outcome.key());
    ctx.store.record(record).await?;
    Ok(Handled::Done(vec![outcome]))
}

/// Records an event that ran out of deliveries: audited as failed and remembered as processed,
/// so that it is surfaced to admins instead of being retried forever or dropped.
pub async fn record_exhausted(
    ctx: &WorkerContext,
    event: &Event,
    attempt: u32,
    error: &WorkError,
) -> Result<(), StoreError> {
    let reason = format!("gave up after {attempt} deliveries: {error}");
    let mut record = EventOutcome::default();
    failure_alert(ctx, &event.user.email, event.product, &reason, &mut record)?;
    let mut entry = base_entry(event, attempt, AuditOutcome::Failed, reason);
    entry.product = event.product;
    record.audit.push(entry);
    record.processed = processed(ctx, event, "failed");
    ctx.store.record(record).await
}

/// Delay before redelivery `attempt + 1`.
pub fn redelivery_delay(settings: &WorkerSettings, attempt: u32) -> Duration {
    let exp = settings
        .backoff_initial
        .saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1)));
    let jitter = rand::Rng::random_range(&mut rand::rng(), 0.8..=1.2);
    exp.min(settings.backoff_max).mul_f64(jitter)
}

/// Counts an event's outcomes in the metrics.
fn count(ctx: &WorkerContext, event: &Event, handled: &Handled) {
    let Handled::Done(outcomes) = handled else {
        return;
    };
    let m = &ctx.metrics;
    let latency = (OffsetDateTime::now_utc() - event.occurred_at)
        .as_seconds_f64()
        .max(0.0);
    for outcome in outcomes {
        let labels = crate::metrics::EventLabels {
            source: event.source.key().into(),
            outcome: outcome.key().into(),
        };
        m.events.get_or_create(&labels).inc();
        if *outcome == AuditOutcome::Restored {
            m.restore_latency_seconds.observe(latency);
        }
    }
}

/// Handles one delivery and settles it with the bus.
async fn handle(ctx: &WorkerContext, delivery: Delivery) {
    let event = delivery.event.clone();
    let attempt = delivery.attempt;
    if attempt > 1 {
        ctx.metrics.redeliveries.inc();
    }
    let result = {
        let work = process_one(ctx, &event, attempt);
        tokio::pin!(work);
        match delivery.progress_every() {
            None => work.await,
            Some(every) => {
                // Long directory retries must not let the bus hand the event to another worker.
                let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
                loop {
                    tokio::select! {
                        r = &mut work => break r,
                        _ = tick.tick() => {
                            if let Err(e) = delivery.in_progress().await {
                                tracing::debug!(error = %e, "could not tell the bus the event is in progress");
                            }
                        }
                    }
                }
            }
        }
    };
    let settle = match result {
        Ok(handled) => {
            tracing::info!(outcome = ?handled, "event handled");
            count(ctx, &event, &handled);
            delivery.ack().await
        }
        Err(error) if attempt >= ctx.config.max_deliver => {
            tracing::error!(%error, attempt, "event ran out of deliveries; recorded as failed");
            match record_exhausted(ctx, &event, attempt, &error).await {
                Ok(()) => {
                    ctx.metrics.events_failed.inc();
                    count(ctx, &event, &Handled::Done(vec![AuditOutcome::Failed]));
                    delivery.ack().await
                }
                Err(e) => {
                    tracing::error!(error = %e, "could not record the failure; handing the event back");
                    delivery.nak(ctx.config.backoff_max).await
                }
            }
        }
        Err(error) => {
            let delay = redelivery_delay(&ctx.config, attempt);
            tracing::warn!(%error, attempt, delay_ms = delay.as_millis() as u64, "event will be redelivered");
            delivery.nak(delay).await
        }
    };
    if let Err(e) = settle {
        // The bus redelivers an unsettled message; the processed record makes that harmless.
        tracing::warn!(error = %e, "could not settle the message with the bus");
    }
}

/// Consumes until cancelled, with at most `concurrency` events in flight; then waits for them.
pub async fn run(ctx: Arc<WorkerContext>, bus: Arc<dyn Bus>, cancel: CancellationToken) {
    let limit = Arc::new(Semaphore::new(ctx.config.concurrency));
    let tasks = TaskTracker::new();
    loop {
        let permit = tokio::select! {
            p = limit.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
            _ = cancel.cancelled() => break,
        };
        let delivery = match bus.next().await {
            Ok(d) => d,
            Err(BusError::Closed) => break,
            Err(e) => {
                tracing::warn!(error = %e, "could not take the next event");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(500)) => continue,
                    _ = cancel.cancelled() => break,
                }
            }
        };
        let span = tracing::info_span!("event", id = %delivery.event.id, user = %delivery.event.user_key(), attempt = delivery.attempt);
        let ctx = ctx.clone();
        tasks.spawn(
            async move {
                handle(&ctx, delivery).await;
                drop(permit);
            }
            .instrument(span),
        );
    }
    tasks.close();
    tasks.wait().await;
    bus.close().await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::sandbox::Sandbox;
    use crate::event::Product;

    fn ctx(dir: &std::path::Path) -> WorkerContext {
        WorkerContext {
            metrics: Arc::new(crate::metrics::Metrics::new()),
            links: None,
            store: Store::open(dir).expect("store"),
            directory: Arc::new(Sandbox::new()),
            config: WorkerSettings::from(&WorkerConfig::default()),
        }
    }

    /// A worker over a fresh store holding the sandbox's starter rules.
    async fn with_starter_rules(dir: &std::path::Path) -> WorkerContext {
        let ctx = ctx(dir);
        ctx.store
            .replace_rules(crate::sandbox::starter_rules(), "test")
            .await
            .expect("rules");
        ctx
    }

    fn login(id: &str, email: &str, product: Option<Product>) -> Event {
        Event::login_for_tests(id, email, product)
    }

    #[tokio::test]
    async fn a_restore_rule_restores_once_and_a_repeat_does_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ctx = with_starter_rules(dir.path()).await;
        let event = login("1", "grace@example.com", Some(Product::JiraSoftware));
        assert_eq!(
            process_one(&ctx, &event, 1).await.expect("handled"),
            Handled::Done(vec![AuditOutcome::Restored])
        );
        assert_eq!(
            process_one(&ctx, &event, 2).await.expect("handled"),
            Handled::Duplicate
        );
        // A new login of the same user finds the licence in place.
        // Two minutes later (closer logins count as the same one).
        let mut again = login("2", "grace@example.com", Some(Product::JiraSoftware));
        again.occurred_at += time::Duration::minutes(2);
        assert_eq!(
            process_one(&ctx, &again, 1).await.expect("handled"),
            Handled::Done(vec![AuditOutcome::AlreadyLicensed])
        );
        let user = ctx
            .store
            .user(&event.user.email)
            .expect("read")
            .expect("user");
        assert_eq!(
            user.products[&Product::JiraSoftware].groups_added,
            vec!["jira-software-users"]
        );
    }

    #[tokio::test]
    async fn the_same_login_from_two_sources_acts_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ctx = with_starter_rules(dir.path()).await;
        let first = login("a", "grace@example.com", Some(Product::JiraSoftware));
        let mut second =
            Event::login_for_tests("b", "grace@example.com", Some(Product::JiraSoftware));
        second.source = crate::event::Source::Okta;
        second.occurred_at = first.occurred_at + time::Duration::seconds(3);
        assert_eq!(
            process_one(&ctx, &first, 1).await.expect("first"),
            Handled::Done(vec![AuditOutcome::Restored])
        );
        assert_eq!(
            process_one(&ctx, &second, 1).await.expect("second"),
            Handled::Done(vec![AuditOutcome::DuplicateLogin])
        );
        // A redelivery of the first is still the first, not a duplicate of itself.
        assert_eq!(
            process_one(&ctx, &first, 2).await.expect("again"),
            Handled::Duplicate
        );
    }

    #[tokio::test]
    async fn outcomes_follow_the_rules_per_product() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ctx = with_starter_rules(dir.path()).await;
        let all = login("3", "linus@example.com", None);
        assert_eq!(
            process_one(&ctx, &all, 1).await.expect("handled"),
            Handled::Done(vec![AuditOutcome::Restored, AuditOutcome::ApprovalRequired])
        );
        let contractor = login(
            "4",
            "mallory@contractor.example.net",
            Some(Product::JiraSoftware),
        );
        assert_eq!(
            process_one(&ctx, &contractor, 1).await.expect("handled"),
            Handled::Done(vec![AuditOutcome::ApprovalRequired])
        );
        let stranger = login("5", "nobody@example.com", None);
        assert_eq!(
            process_one(&ctx, &stranger, 1).await.expect("handled"),
            Handled::Done(vec![AuditOutcome::UnknownUser])
        );
        let confluence = login("6", "grace@example.com", Some(Product::Confluence));
        assert_eq!(
            process_one(&ctx, &confluence, 1).await.expect("handled"),
            Handled::Done(vec![AuditOutcome::UnsupportedProduct])
        );
        let pending = ctx.store.requests(None).expect("requests");
        assert_eq!(pending.len(), 2, "{pending:?}");
    }

    #[test]
    fn redelivery_delays_grow_and_cap() {
        let s = WorkerSettings::from(&WorkerConfig {
            backoff_initial_ms: 1000,
            backoff_max_ms: 4000,
            ..Default::default()
        });
        assert!(redelivery_delay(&s, 1) <= Duration::from_millis(1200));
        assert!(redelivery_delay(&s, 3) >= Duration::from_millis(3200));
        assert!(redelivery_delay(&s, 30) <= Duration::from_millis(4800));
    }
}
