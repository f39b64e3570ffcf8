//! Reclamation's background work: at start, runs a crash or a stop interrupted are resumed (their
//! actions published again under the same ids, so none is done twice and none skipped); then a
//! run at each time a schedule names — `reclaim.schedule` and those saved in the console — and
//! one at start for a time missed while the process was down; saved schedules are read again
//! the moment they change.

use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

use crate::flows::reclaim::run::{self, RunRequest};
use crate::flows::reclaim::schedules;
use crate::flows::{Context, Intake};

pub async fn run(ctx: Arc<Context>, intake: Intake, cancel: CancellationToken) {
    match run::resume(&ctx, &intake).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(runs = n, "interrupted reclaim runs resumed"),
        Err(e) => tracing::warn!(error = %e, "could not resume interrupted reclaim runs"),
    }
    let wake = ctx.store.schedules_wake();
    loop {
        let now = OffsetDateTime::now_utc();
        let due = schedules::due(&ctx).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "cannot read the reclaim schedules");
            Vec::new()
        });
        // The earliest next run of any schedule: the first time after it last fired, so that
        // a time missed while the process was down comes due at once.
        let next = due
            .iter()
            .filter_map(|d| d.next_run.map(|t| (t, d.name.clone())))
            .min();
        let wait = match &next {
            Some((t, _)) => Duration::try_from(*t - now).unwrap_or_default(),
            None => Duration::from_secs(3600),
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            // The schedules changed: read them again.
            _ = wake.notified() => continue,
            _ = cancel.cancelled() => return,
        }
        let Some((at, name)) = next else { continue };
        let trigger = if name == schedules::CONFIGURED {
            "schedule".to_string()
        } else {
            format!("schedule:{name}")
        };
        let request = RunRequest {
            from_preview: None,
            dry_run: false,
            trigger,
        };
        match run::start(&ctx, &intake, request).await {
            Ok(r) => tracing::info!(run = %r.id, schedule = %name, "scheduled reclaim run started"),
            Err(e) => {
                tracing::warn!(error = %e, schedule = %name, "the scheduled reclaim run did not start")
            }
        }
        if let Err(e) = schedules::fired(&ctx, &name, at.max(now)).await {
            tracing::warn!(error = %e, "cannot save when the schedule last ran");
        }
    }
}
