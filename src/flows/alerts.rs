//! Alerts to admins, queued in the outbox with the decision that calls for them: a product's
//! seats crossing the threshold or running out (once per crossing), and restores that failed
//! for good (at most hourly).

use serde::Deserialize;

use super::Context;
use crate::domain::{Email, Event, Problems, Product, Seats};
use crate::store::{EventOutcome, StoreError};

/// `[alerts]`
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlertsConfig {
    /// Admins who receive alerts (seats running out, restores waiting for seats).
    pub emails: Vec<String>,
    /// Alert once when a product's seat use reaches this percentage (0 = never).
    pub seat_threshold_percent: u8,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        Self {
            emails: Vec::new(),
            seat_threshold_percent: 90,
        }
    }
}

impl AlertsConfig {
    pub fn check(&self, problems: &mut Problems) {
        for (i, e) in self.emails.iter().enumerate() {
            if Email::parse(e).is_err() {
                problems.add(
                    &format!("alerts.emails[{i}]"),
                    format!("{e:?} is not an email address"),
                );
            }
        }
        if self.seat_threshold_percent > 100 {
            problems.add("alerts.seat_threshold_percent", "must be 0 (off) to 100");
        }
    }
}

/// Queues the seat alerts a fresh seat reading calls for (once per crossing), in `outcome`.
pub(super) fn seat_alerts(
    ctx: &Context,
    product: Product,
    seats: Seats,
    capped: Option<&Email>,
    outcome: &mut EventOutcome,
) -> Result<(), StoreError> {
    let c = &ctx.settings.alerts;
    let before = ctx.store.alert_state(product)?;
    let (after, alerts) =
        crate::notify::seat_alerts(seats, capped, c.seat_threshold_percent, before);
    if after != before {
        outcome.alerts.push((product, after));
    }
    for alert in alerts {
        tracing::warn!(product = product.key(), ?seats, "seat alert");
        if !c.emails.is_empty() {
            outcome.emails.push(crate::notify::seat_alert_email(
                ctx.settings.spelling,
                product,
                &alert,
                &c.emails,
                &ctx.settings.public_url,
            ));
        }
    }
    Ok(())
}

/// How often admins are emailed about failed restores at most.
const FAILURE_ALERT_EVERY_MS: i64 = 3_600_000;

/// Queues the admin alert for a restore that failed for good (at most one email an hour:
/// one misconfiguration fails every event, and the audit log has each one), in `outcome`.
pub(super) fn failure_alert(
    ctx: &Context,
    event: &Event,
    product: Option<Product>,
    reason: &str,
    outcome: &mut EventOutcome,
) -> Result<(), StoreError> {
    let c = &ctx.settings.alerts;
    tracing::warn!(user = %event.user_key(), reason, "restore failed");
    if !c.emails.is_empty()
        && ctx.store.claim_alert(
            "restore_failed",
            crate::store::now_ms(),
            FAILURE_ALERT_EVERY_MS,
        )?
    {
        let who = match (&event.user.email, &event.user.account_id) {
            (Some(email), _) => email.to_string(),
            (None, Some(account)) => format!("account {account}"),
            (None, None) => format!("the user of event {}", event.id),
        };
        outcome.emails.push(crate::notify::failure_alert_email(
            ctx.settings.spelling,
            &who,
            product,
            reason,
            &c.emails,
            &ctx.settings.public_url,
        ));
    }
    Ok(())
}
