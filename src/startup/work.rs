//! The state's work — workers, housekeeping, the inventory and reclaim schedules, the audit-log
//! poller, the email sender — started at once in a process that is the only possible owner of
//! its state, or, on NATS, each time this process takes the state lease (and stopped when it
//! might lose it).

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::StartError;
use crate::bus::Bus;
use crate::bus::lease::{Lease, Ownership};
use crate::bus::nats::NatsBus;
use crate::config::Config;
use crate::flows::{Context, Intake};
use crate::metrics::Metrics;
use crate::store::Store;
use crate::worker::{Worker, WorkerSettings};

/// Everything the state's work needs, to start it again after a lapse of the lease.
pub(super) struct Work {
    pub config: Arc<Config>,
    pub ctx: Arc<Context>,
    pub intake: Intake,
    pub bus: Arc<dyn Bus>,
    pub metrics: Arc<Metrics>,
    pub ownership: Ownership,
    /// The SMTP transport (built once: its connection pool) and the sender; `None` without
    /// `smtp.url`.
    pub mail: Option<(crate::notify::sender::Mailer, lettre::message::Mailbox)>,
}

impl Work {
    /// Starts the work under `cancel`; its tasks end once it is cancelled.
    fn start(&self, cancel: &CancellationToken) -> Vec<JoinHandle<()>> {
        let (config, ctx) = (&self.config, &self.ctx);
        let worker = Arc::new(Worker {
            ctx: ctx.clone(),
            settings: WorkerSettings::from(&config.worker),
            ownership: self.ownership.clone(),
        });
        let mut tasks = vec![tokio::spawn(crate::worker::run(
            worker,
            self.bus.clone(),
            cancel.clone(),
        ))];
        let retention = Duration::from_secs(config.worker.processed_ttl_days * 86_400);
        let housekeeping =
            crate::periodic::housekeeping(ctx.clone(), self.bus.clone(), retention, cancel.clone());
        tasks.push(tokio::spawn(housekeeping));
        let inventory =
            crate::periodic::inventory::run(ctx.clone(), self.intake.clone(), cancel.clone());
        tasks.push(tokio::spawn(inventory));
        let reclaim =
            crate::periodic::reclaim::run(ctx.clone(), self.intake.clone(), cancel.clone());
        tasks.push(tokio::spawn(reclaim));
        // Stops at the next tick once cancelled; its position is saved only after publishing.
        // Awaited with the rest, so a poller never runs beside the next owner's.
        let audit = &config.sources.atlassian_audit;
        match crate::periodic::atlassian_audit::Poller::new(audit, &config.directory) {
            Ok(Some(poller)) => {
                let poll = poller.run(ctx.clone(), self.intake.clone(), cancel.clone());
                tasks.push(tokio::spawn(poll));
            }
            Ok(None) => {}
            Err(e) => tracing::error!(error = %e, "the audit-log poller cannot start"),
        }
        if ctx.settings.slack.is_some() || ctx.settings.teams.is_some() {
            let timeout = Duration::from_millis(config.directory.request_timeout_ms);
            let apps = crate::notify::chat::Apps {
                slack: ctx.settings.slack.clone(),
                teams: ctx.settings.teams.clone(),
            };
            let run = crate::notify::chat::run(ctx.store.clone(), apps, timeout, cancel.clone());
            tasks.push(tokio::spawn(run));
        }
        if let Some((mailer, from)) = &self.mail {
            let run = crate::notify::sender::run(
                ctx.store.clone(),
                mailer.clone(),
                from.clone(),
                self.metrics.clone(),
                cancel.clone(),
            );
            tasks.push(tokio::spawn(run));
        }
        tasks
    }

    /// Runs the work for as long as this process owns the state: at once when it is the only
    /// possible owner, else whenever it holds the lease. One task, ending after `cancel`.
    pub(super) async fn spawn(
        self,
        lease: Option<(Arc<NatsBus>, &Store)>,
        cancel: &CancellationToken,
    ) -> Result<JoinHandle<()>, StartError> {
        let cancel = cancel.clone();
        let Some((bus, store)) = lease else {
            let tasks = self.start(&cancel);
            return Ok(tokio::spawn(async move {
                for task in tasks {
                    let _ = task.await;
                }
            }));
        };
        let lease = Lease {
            bus,
            ttl: Duration::from_secs(self.config.bus.lease_secs),
            holder: holder(),
            store_id: store.identity().await?,
            ownership: self.ownership.clone(),
        };
        Ok(tokio::spawn(async move {
            lease.hold(cancel, |work| self.start(&work)).await;
        }))
    }
}

/// This process as others see it in the lease: host, process id, a random tag.
fn holder() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "unknown-host".into());
    let tag: u32 = rand::random();
    format!("{host}/pid-{}/{tag:08x}", std::process::id())
}

/// The email sender's transport and sender address, when email is configured.
pub(super) fn mail(
    config: &Config,
) -> Result<Option<(crate::notify::sender::Mailer, lettre::message::Mailbox)>, StartError> {
    let Some(url) = &config.smtp.url else {
        return Ok(None);
    };
    let transport = crate::notify::sender::mailer(&config.smtp, url)?;
    let from = config
        .smtp
        .from
        .parse()
        .map_err(|e| StartError::Config(format!("smtp.from: {e}").into()))?;
    Ok(Some((transport, from)))
}
