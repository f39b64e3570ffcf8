//! Polls the Atlassian organisation audit log for log-ins every `poll_secs`, for organisations
//! without an identity-provider webhook (`[sources.atlassian_audit]`).

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::directory::DirectoryError;
use crate::directory::atlassian_audit::AtlassianAudit;
use crate::directory::config::DirectoryConfig;
use crate::flows::{Context, Intake};
use crate::sources::atlassian_audit::AtlassianAuditSourceConfig;

pub struct Poller {
    log: AtlassianAudit,
    /// The configured log-in action, until the organisation's event actions confirm it.
    action: String,
    confirmed: Option<String>,
    every: Duration,
}

impl Poller {
    /// `None` when the source is off; the directory's limits apply to its calls.
    pub fn new(
        config: &AtlassianAuditSourceConfig,
        limits: &DirectoryConfig,
    ) -> Result<Option<Poller>, DirectoryError> {
        let (Some(org), Some(key)) = (&config.org_id, &config.api_key) else {
            return Ok(None);
        };
        let per_minute = config.requests_per_minute;
        Ok(Some(Poller {
            log: AtlassianAudit::new(&config.admin_api_url, org, key.clone(), limits, per_minute)?,
            action: config.action.clone(),
            confirmed: None,
            every: Duration::from_secs(config.poll_secs),
        }))
    }

    /// Polls until cancelled; a failed poll is tried again at the next tick.
    pub async fn run(mut self, ctx: Arc<Context>, intake: Intake, cancel: CancellationToken) {
        use crate::flows::atlassian_audit::{login_action, now_ms, poll};
        let started = now_ms();
        loop {
            let polled = match &self.confirmed {
                Some(action) => poll(&ctx, &intake, &self.log, action, started).await,
                None => match login_action(&ctx, &self.log, &self.action).await {
                    Ok(action) => {
                        let polled = poll(&ctx, &intake, &self.log, &action, started).await;
                        self.confirmed = Some(action);
                        polled
                    }
                    Err(e) => Err(e),
                },
            };
            match polled {
                Ok(0) => {}
                Ok(n) => tracing::info!(published = n, "audit-log log-ins published"),
                Err(e) => {
                    tracing::warn!(error = %e, "polling the Atlassian audit log failed; will try again")
                }
            }
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(self.every) => {}
            }
        }
    }
}
