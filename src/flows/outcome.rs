//! What every use-case ends an event with, below them all: what handling came to (`Handled`),
//! why it could not finish now (`WorkError`), the audit entry an event starts from, the record
//! that makes a redelivery do nothing, and the two ways an event ends without a per-product
//! decision (`finish_with`, `record_exhausted`).

use time::OffsetDateTime;

use super::Context;
use crate::directory::{CallLog, DirectoryError};
use crate::domain::{AuditOutcome, Event};
use crate::store::{AuditEntry, EventOutcome, ProcessedRecord, StoreError};

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

/// The audit entry of an event, before its outcome is known.
pub(super) fn base_entry(
    event: &Event,
    attempt: u32,
    outcome: AuditOutcome,
    reason: impl Into<String>,
) -> AuditEntry {
    let mut e = AuditEntry::new(outcome, reason);
    e.event_id = Some(event.id.to_string());
    e.source = Some(event.source);
    e.user = event.user.email.clone();
    e.identity = match &event.user.email {
        Some(_) => event.user.username.clone(),
        None => event.user.identity(),
    };
    e.account_id = event.user.account_id.clone();
    e.attempt = Some(attempt);
    e.latency_ms =
        Some((OffsetDateTime::now_utc() - event.occurred_at).whole_milliseconds() as i64);
    e
}

/// The record that makes a redelivery of `event` do nothing.
pub(super) fn processed(
    ctx: &Context,
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
            expires_at: now + ctx.settings.processed_ttl,
        },
    ))
}

/// Records an event that ends without a per-product decision.
pub(super) async fn finish_with(
    ctx: &Context,
    event: &Event,
    attempt: u32,
    outcome: AuditOutcome,
    reason: String,
    calls: CallLog,
) -> Result<Handled, WorkError> {
    let mut record = EventOutcome::default();
    if outcome == AuditOutcome::Failed {
        super::alerts::failure_alert(ctx, event, event.product, &reason, &mut record)?;
    }
    let mut entry = base_entry(event, attempt, outcome, reason);
    entry.product = event.product;
    entry.directory_calls = calls.calls;
    record.audit.push(entry);
    record.processed = processed(ctx, event, outcome.key());
    super::chat::reply(ctx, event, &mut record);
    ctx.store.record(record).await?;
    Ok(Handled::Done(vec![outcome]))
}

/// Records an event that ran out of deliveries: audited as failed and remembered as processed,
/// so that it is surfaced to admins instead of being retried forever or dropped.
pub async fn record_exhausted(
    ctx: &Context,
    event: &Event,
    attempt: u32,
    error: &WorkError,
) -> Result<(), StoreError> {
    let reason = format!("gave up after {attempt} deliveries: {error}");
    let mut record = EventOutcome::default();
    super::alerts::failure_alert(ctx, event, event.product, &reason, &mut record)?;
    let mut entry = base_entry(event, attempt, AuditOutcome::Failed, reason);
    entry.product = event.product;
    record.audit.push(entry);
    record.processed = processed(ctx, event, "failed");
    super::chat::reply(ctx, event, &mut record);
    ctx.store.record(record).await
}
