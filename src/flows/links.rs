//! Redeeming an email link: its nonce is consumed atomically (the link works once), its event
//! published through the intake, and the nonce released again if the bus cannot take it.

use std::time::Duration;

use time::OffsetDateTime;

use super::{Context, FlowError, Intake};
use crate::domain::{Event, EventKind, EventUser, Source};
use crate::links::{Claims, Purpose};

/// What redeeming a link came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redeemed {
    /// Accepted: the event's id, to watch for its outcome.
    Accepted(String),
    /// The link was used before.
    AlreadyUsed,
    /// The bus could not take it; the link still works.
    TryAgain,
}

/// Whether the link's nonce was used already.
pub fn used(ctx: &Context, nonce: &str) -> Result<bool, FlowError> {
    Ok(ctx.store.link_use(nonce)?.is_some())
}

/// Consumes the link and publishes its event.
pub async fn redeem(
    ctx: &Context,
    intake: &Intake,
    claims: &Claims,
) -> Result<Redeemed, FlowError> {
    let (kind, source) = match claims.purpose {
        Purpose::Keep => (EventKind::Keep, Source::Link),
        Purpose::Restore => (EventKind::Restore, Source::Link),
        Purpose::Request => (EventKind::Restore, Source::Portal),
    };
    let event = Event {
        source,
        ..Event::new(
            Source::Link,
            &claims.nonce,
            kind,
            EventUser::new(claims.sub.clone(), None),
            claims.product,
            OffsetDateTime::now_utc(),
        )
    };
    let id = event.id.to_string();
    if !ctx.store.consume_link(&claims.nonce, &id).await? {
        return Ok(Redeemed::AlreadyUsed);
    }
    if let Err(e) = intake.accept(event).await {
        tracing::warn!(error = %e, "link redeemed but not accepted; the link stays usable");
        if let Err(e) = ctx.store.release_link(&claims.nonce).await {
            tracing::error!(error = %e, "could not release the link");
        }
        return Ok(Redeemed::TryAgain);
    }
    tracing::info!(%id, user = %claims.sub.user_key(), "link redeemed");
    Ok(Redeemed::Accepted(id))
}

/// The outcome summary of a handled event (`restored,approval_required`, …), waiting up to
/// `wait` for it: most events are handled within a second.
pub async fn outcome(ctx: &Context, event_id: &str, wait: Duration) -> Option<String> {
    let step = Duration::from_millis(100);
    let mut waited = Duration::ZERO;
    loop {
        if let Ok(Some(done)) = ctx.store.processed(event_id) {
            return Some(done.outcome);
        }
        if waited >= wait {
            return None;
        }
        tokio::time::sleep(step).await;
        waited += step;
    }
}
