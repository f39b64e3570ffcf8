//! Periodic work, each until cancelled: housekeeping (waiting requests, expired idempotency and
//! dedupe records, today's figures hourly), the Atlassian audit-log poller, the inventory's sync and reclaim runs on
//! their schedule. Each task only calls into `flows`.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::bus::Bus;
use crate::flows::Context;

pub mod atlassian_audit;
pub mod inventory;
pub mod reclaim;

/// Waiting requests every `requests.check_every` (expiry, reminders); hourly, processed-event
/// ids past their expiry and the bus's old dedupe records.
pub async fn housekeeping(
    ctx: Arc<Context>,
    bus: Arc<dyn Bus>,
    retention: Duration,
    cancel: CancellationToken,
) {
    let mut last_purge: Option<std::time::Instant> = None;
    loop {
        match crate::flows::requests::sweep(&ctx).await {
            Ok((0, 0)) => {}
            Ok((expired, reminded)) => {
                tracing::info!(expired, reminded, "waiting requests checked")
            }
            Err(e) => tracing::warn!(error = %e, "could not check waiting requests"),
        }
        if last_purge.is_none_or(|t| t.elapsed() >= Duration::from_secs(3600)) {
            last_purge = Some(std::time::Instant::now());
            purge(&ctx, bus.as_ref(), retention);
            record_figures(&ctx).await;
        }
        tokio::select! {
            _ = tokio::time::sleep(ctx.settings.requests.check_every) => {}
            _ = cancel.cancelled() => return,
        }
    }
}

/// Records today's figures (the Overview's history reads them back as they were).
pub(crate) async fn record_figures(ctx: &Context) {
    if let Err(e) = crate::flows::inventory::figures::record(ctx).await {
        tracing::warn!(error = %e, "today's figures not recorded");
    }
}

/// Forgets the bus's dedupe records and the processed-event records past their time.
fn purge(ctx: &Context, bus: &dyn Bus, retention: Duration) {
    match bus.sweep(retention) {
        Ok(0) => {}
        Ok(n) => tracing::info!(removed = n, "expired bus dedupe records removed"),
        Err(e) => tracing::warn!(error = %e, "could not purge bus dedupe records"),
    }
    match ctx
        .store
        .purge_expired_processed(time::OffsetDateTime::now_utc())
    {
        Ok(0) => {}
        Ok(n) => tracing::info!(removed = n, "expired processed-event records removed"),
        Err(e) => tracing::warn!(error = %e, "could not purge processed-event records"),
    }
}
