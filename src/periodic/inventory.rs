//! Keeps the inventory fresh: a sync every `inventory.sync_every` (the first at once), another
//! when an admin asks, and a sync that a crash or a restart interrupted resumed at start. A
//! failed sync is tried again after a minute, then with growing delays.

use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

use crate::flows::Context;
use crate::flows::inventory::sync;
use crate::store::{SyncPhase, SyncState};

pub async fn run(ctx: Arc<Context>, intake: crate::flows::Intake, cancel: CancellationToken) {
    let mut failures = 0u32;
    loop {
        let wait = match sync::state(&ctx) {
            Ok(state) => due_in(&state, ctx.inventory.config.sync_every, failures),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the inventory sync's state");
                Some(Duration::from_secs(60))
            }
        };
        let woken = ctx.inventory.wake.notified();
        if let Some(wait) = wait.filter(|w| !w.is_zero()) {
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = woken => {}
                _ = cancel.cancelled() => return,
            }
        } else if wait.is_none() {
            tokio::select! {
                _ = woken => {}
                _ = cancel.cancelled() => return,
            }
        }
        let synced = tokio::select! {
            r = sync::run(&ctx, ctx.lister.as_ref()) => r,
            // The position is saved with every page: the next start resumes from there.
            _ = cancel.cancelled() => return,
        };
        failures = match synced {
            Ok(state) => {
                super::record_figures(&ctx).await;
                // Accounts this sync found gone are leavers (when a `leavers` policy is on).
                match crate::flows::reclaim::leavers::gone(&ctx, &intake, &state).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(leavers = n, "accounts gone from the directory"),
                    Err(e) => {
                        tracing::warn!(error = %e, "leavers gone from the directory not reported")
                    }
                }
                0
            }
            Err(_) => failures + 1,
        };
    }
}

/// How long until the next sync is due; `None`: not until an admin asks.
fn due_in(state: &SyncState, every: Duration, failures: u32) -> Option<Duration> {
    let since = |t: Option<OffsetDateTime>| {
        t.map_or(Duration::MAX, |t| {
            Duration::try_from(OffsetDateTime::now_utc() - t).unwrap_or_default()
        })
    };
    match state.phase {
        SyncPhase::Running | SyncPhase::Requested => Some(Duration::ZERO),
        SyncPhase::Failed => {
            let backoff = Duration::from_secs(60 * 2u64.pow(failures.min(5)));
            Some(backoff)
        }
        _ if every.is_zero() => None,
        SyncPhase::Never => Some(Duration::ZERO),
        SyncPhase::Finished => Some(every.saturating_sub(since(state.finished_at))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syncs_are_due_on_schedule_at_once_when_asked_and_later_after_failures() {
        let hour = Duration::from_secs(3600);
        let mut s = SyncState::default();
        assert_eq!(due_in(&s, hour, 0), Some(Duration::ZERO), "never synced");
        assert_eq!(due_in(&s, Duration::ZERO, 0), None, "on demand only");
        s.phase = SyncPhase::Finished;
        s.finished_at = Some(OffsetDateTime::now_utc() - time::Duration::minutes(30));
        let due = due_in(&s, hour, 0).expect("scheduled");
        assert!(due > Duration::from_secs(1700) && due <= Duration::from_secs(1800));
        s.phase = SyncPhase::Requested;
        assert_eq!(due_in(&s, Duration::ZERO, 0), Some(Duration::ZERO));
        s.phase = SyncPhase::Failed;
        assert_eq!(due_in(&s, hour, 2), Some(Duration::from_secs(240)));
    }
}
