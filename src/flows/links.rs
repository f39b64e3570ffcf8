//! Redeeming an email link: its nonce is consumed atomically (the link works once, across every
//! receiver: see `bus::once`), its event published through the intake, and the nonce released
//! again if the bus cannot take it.

use std::time::Duration;

use time::OffsetDateTime;

use super::{FlowError, Intake};
use crate::bus::once::UseOnce;
use crate::domain::{Event, EventKind, EventUser, Source};
use crate::links::{Claims, Purpose};
use crate::store::Store;

/// What redeeming a link came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redeemed {
    /// Accepted: the event's id, to watch for its outcome.
    Accepted(String),
    /// The link was used before.
    AlreadyUsed,
    /// The bus, or the record of used links, could not take it; the link still works.
    TryAgain,
}

fn unavailable(e: crate::bus::BusError) -> FlowError {
    FlowError::Unavailable(format!("the record of used links: {e}"))
}

/// Whether the link's nonce was used already.
pub async fn used(uses: &dyn UseOnce, nonce: &str) -> Result<bool, FlowError> {
    Ok(uses.used(nonce).await.map_err(unavailable)?.is_some())
}

/// Consumes the link and publishes its event.
pub async fn redeem(uses: &dyn UseOnce, intake: &Intake, claims: &Claims) -> Redeemed {
    let (kind, source) = match claims.purpose {
        Purpose::Keep => (EventKind::Keep, Source::Link),
        Purpose::Restore => (EventKind::Restore, Source::Link),
        Purpose::Request => (EventKind::Restore, Source::Portal),
        Purpose::MailedRequest => (EventKind::Restore, Source::Mail),
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
    match uses.claim(&claims.nonce, &id).await {
        Ok(true) => {}
        Ok(false) => return Redeemed::AlreadyUsed,
        Err(e) => {
            // Nothing was consumed: the link stays usable.
            tracing::warn!(error = %e, "the record of used links is unavailable");
            return Redeemed::TryAgain;
        }
    }
    if let Err(e) = intake.accept(event).await {
        tracing::warn!(error = %e, "link redeemed but not accepted; the link stays usable");
        if let Err(e) = uses.release(&claims.nonce).await {
            tracing::error!(error = %e, "could not release the link");
        }
        return Redeemed::TryAgain;
    }
    tracing::info!(%id, user = %claims.sub.user_key(), "link redeemed");
    Redeemed::Accepted(id)
}

/// The outcome summary of a handled event (`restored,approval_required`, …), waiting up to
/// `wait` for it: most events are handled within a second. Only where the state is kept.
pub async fn outcome(store: &Store, event_id: &str, wait: Duration) -> Option<String> {
    let step = Duration::from_millis(100);
    let mut waited = Duration::ZERO;
    loop {
        if let Ok(Some(done)) = store.processed(event_id) {
            return Some(done.outcome);
        }
        if waited >= wait {
            return None;
        }
        tokio::time::sleep(step).await;
        waited += step;
    }
}
