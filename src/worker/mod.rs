//! The consumer loop: at most `worker.concurrency` events in flight, each handled by
//! `flows::handle`, then acked; handed back to the bus with a growing delay when it cannot
//! finish now; recorded as failed after `worker.max_deliver` deliveries. Long work tells the bus
//! it is still in progress.

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use time::OffsetDateTime;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use crate::bus::{Bus, BusError, Delivery};
use crate::domain::{AuditOutcome, Event, Problems};
use crate::flows::{Context, Handled, WorkError, handle, record_exhausted};

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WorkerConfig {
    /// Events processed at once (a process that only receives is `server.role = "intake"`).
    pub concurrency: usize,
    /// Deliveries of one event before it is recorded as failed.
    pub max_deliver: u32,
    /// Delay before the first redelivery; doubles per delivery.
    pub backoff_initial_ms: u64,
    /// Longest delay between redeliveries.
    pub backoff_max_ms: u64,
    /// How long processed event ids are remembered (idempotency beyond the bus's window).
    pub processed_ttl_days: u64,
    /// Logins of the same user that happened this close together (reported by two sources, say)
    /// act once; 0 turns this off.
    pub login_dedupe_secs: u64,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            concurrency: 16,
            max_deliver: 8,
            backoff_initial_ms: 2_000,
            backoff_max_ms: 300_000,
            processed_ttl_days: 30,
            login_dedupe_secs: 60,
        }
    }
}

impl WorkerConfig {
    pub fn check(&self, problems: &mut Problems) {
        problems.positive(&[
            ("worker.backoff_max_ms", self.backoff_max_ms),
            ("worker.processed_ttl_days", self.processed_ttl_days),
        ]);
        if self.max_deliver == 0 {
            problems.add("worker.max_deliver", "must be at least 1");
        }
        if self.concurrency == 0 {
            problems.add(
                "worker.concurrency",
                "must be at least 1; for a process that only receives, set server.role = \"intake\"",
            );
        }
    }
}

/// How the loop consumes.
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    pub concurrency: usize,
    pub max_deliver: u32,
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
}

impl From<&WorkerConfig> for WorkerSettings {
    fn from(c: &WorkerConfig) -> Self {
        WorkerSettings {
            concurrency: c.concurrency,
            max_deliver: c.max_deliver,
            backoff_initial: Duration::from_millis(c.backoff_initial_ms),
            backoff_max: Duration::from_millis(c.backoff_max_ms),
        }
    }
}

/// What the loop works with.
pub struct Worker {
    pub ctx: Arc<Context>,
    pub settings: WorkerSettings,
    /// Whether this process owns the state: checked before each event is handled.
    pub ownership: crate::bus::lease::Ownership,
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
fn count(ctx: &Context, event: &Event, handled: &Handled) {
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

/// Handles one delivery, telling the bus it is in progress while it takes long.
async fn work(ctx: &Context, delivery: &Delivery) -> Result<Handled, WorkError> {
    let work = handle(ctx, &delivery.event, delivery.attempt);
    tokio::pin!(work);
    let Some(every) = delivery.progress_every() else {
        return work.await;
    };
    // Long directory retries must not let the bus hand the event to another worker.
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    loop {
        tokio::select! {
            r = &mut work => return r,
            _ = tick.tick() => {
                if let Err(e) = delivery.in_progress().await {
                    tracing::debug!(error = %e, "could not tell the bus the event is in progress");
                }
            }
        }
    }
}

/// Handles one delivery and settles it with the bus: ack, or nak with a delay, or (out of
/// deliveries) record it as failed and ack.
async fn settle(worker: &Worker, delivery: Delivery) {
    let (ctx, settings) = (worker.ctx.as_ref(), &worker.settings);
    let (event, attempt) = (delivery.event.clone(), delivery.attempt);
    if attempt > 1 {
        ctx.metrics.redeliveries.inc();
    }
    let settled = match work(ctx, &delivery).await {
        Ok(handled) => {
            tracing::info!(outcome = ?handled, "event handled");
            count(ctx, &event, &handled);
            delivery.ack().await
        }
        Err(error) if attempt >= settings.max_deliver => {
            tracing::error!(%error, attempt, "event ran out of deliveries; recorded as failed");
            match record_exhausted(ctx, &event, attempt, &error).await {
                Ok(()) => {
                    ctx.metrics.events_failed.inc();
                    count(ctx, &event, &Handled::Done(vec![AuditOutcome::Failed]));
                    delivery.ack().await
                }
                Err(e) => {
                    tracing::error!(error = %e, "could not record the failure; handing the event back");
                    delivery.nak(settings.backoff_max).await
                }
            }
        }
        Err(error) => {
            let delay = redelivery_delay(settings, attempt);
            tracing::warn!(%error, attempt, delay_ms = delay.as_millis() as u64, "event will be redelivered");
            delivery.nak(delay).await
        }
    };
    if let Err(e) = settled {
        // The bus redelivers an unsettled message; the processed record makes that harmless.
        tracing::warn!(error = %e, "could not settle the message with the bus");
    }
}

/// Consumes until cancelled, with at most `concurrency` events in flight; then waits for them.
pub async fn run(worker: Arc<Worker>, bus: Arc<dyn Bus>, cancel: CancellationToken) {
    let limit = Arc::new(Semaphore::new(worker.settings.concurrency));
    let tasks = TaskTracker::new();
    loop {
        let permit = tokio::select! {
            p = limit.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
            _ = cancel.cancelled() => break,
        };
        let next = tokio::select! {
            next = bus.next() => next,
            _ = cancel.cancelled() => break,
        };
        let delivery = match next {
            Ok(d) if !worker.ownership.owns() => {
                // The state lease may lapse: hand it back for the owner, and stop.
                let _ = d.nak(Duration::ZERO).await;
                break;
            }
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
        let worker = worker.clone();
        tasks.spawn(
            async move {
                settle(&worker, delivery).await;
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
