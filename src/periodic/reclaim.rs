//! Reclamation's background work: at start, runs a crash or a stop interrupted are resumed (their
//! actions published again under the same ids, so none is done twice and none skipped); then,
//! when `reclaim.schedule` is set, a run at each time it names — and one at start when the
//! process was down at the last one.

use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

use crate::flows::reclaim::run::{self, RunRequest};
use crate::flows::{Context, Intake};

pub async fn run(ctx: Arc<Context>, intake: Intake, cancel: CancellationToken) {
    match run::resume(&ctx, &intake).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(runs = n, "interrupted reclaim runs resumed"),
        Err(e) => tracing::warn!(error = %e, "could not resume interrupted reclaim runs"),
    }
    let Some(schedule) = ctx.settings.reclaim.schedule() else {
        return;
    };
    loop {
        let now = OffsetDateTime::now_utc();
        let last = match ctx.store.last_scheduled() {
            Ok(last) => last,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read when the schedule last ran");
                None
            }
        };
        // The first time after the last scheduled run (or after now, the first time ever): a
        // time missed while the process was down comes due at once.
        let Some(next) = schedule.next_after(last.unwrap_or(now)) else {
            tracing::warn!("reclaim.schedule names no time in the future");
            return;
        };
        let wait = Duration::try_from(next - now).unwrap_or_default();
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = cancel.cancelled() => return,
        }
        let request = RunRequest {
            from_preview: None,
            dry_run: false,
            trigger: "schedule".into(),
        };
        match run::start(&ctx, &intake, request).await {
            Ok(r) => tracing::info!(run = %r.id, "scheduled reclaim run started"),
            Err(e) => tracing::warn!(error = %e, "the scheduled reclaim run did not start"),
        }
        if let Err(e) = ctx.store.set_last_scheduled(next.max(now)).await {
            tracing::warn!(error = %e, "cannot save when the schedule last ran");
        }
    }
}
