//! The one way an event enters, whoever sends it (a webhook, the portal, a link, an admin's
//! approval, a poller): an id handled before is accepted and does nothing more; a store that
//! cannot keep what it accepts refuses; otherwise the event is published, and only the bus's
//! durable acknowledgement makes it accepted. An intake process (`server.role = "intake"`) has
//! no store: JetStream's duplicate window and the state process's record of handled ids stop
//! a repeat there.

use std::sync::Arc;

use tracing::Instrument;

use crate::bus::{Bus, Published};
use crate::domain::Event;
use crate::metrics::Metrics;
use crate::store::{Store, StoreError};

/// Publishes events; cheap to clone.
#[derive(Clone)]
pub struct Intake {
    bus: Arc<dyn Bus>,
    store: Option<Store>,
    metrics: Arc<Metrics>,
}

/// An event the bus holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accepted {
    /// Stored durably for the first time.
    New,
    /// Seen before (on the bus, or already handled): nothing more happens.
    Duplicate,
}

impl Accepted {
    pub fn key(self) -> &'static str {
        match self {
            Accepted::New => "accepted",
            Accepted::Duplicate => "duplicate",
        }
    }
}

/// Why an event was not accepted; the sender should try again later.
#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    /// The bus or the store's disk cannot take it now.
    #[error("{0}")]
    Unavailable(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Intake {
    pub fn new(bus: Arc<dyn Bus>, store: Option<Store>, metrics: Arc<Metrics>) -> Intake {
        Intake {
            bus,
            store,
            metrics,
        }
    }

    /// Publishes `event`; `Ok` only once the bus holds it durably.
    pub async fn accept(&self, event: Event) -> Result<Accepted, IntakeError> {
        // One span per event, carrying its id (the worker's span carries it on).
        let span = tracing::info_span!("intake", id = %event.id, user = %event.user_key());
        self.publish(event).instrument(span).await
    }

    async fn publish(&self, event: Event) -> Result<Accepted, IntakeError> {
        // Handled before (later than the bus's duplicate window): accept and do nothing more.
        if let Some(store) = &self.store {
            if store.processed(event.id.as_str())?.is_some() {
                return Ok(Accepted::Duplicate);
            }
            // A disk that cannot keep what is accepted refuses it instead.
            if let Err(e) = store.writable() {
                return Err(IntakeError::Unavailable(e.to_string()));
            }
        }
        let started = std::time::Instant::now();
        let published = self.bus.publish(&event).await;
        let took = started.elapsed().as_secs_f64();
        self.metrics.publish_seconds.observe(took);
        match published {
            Ok(Published::New) => {
                tracing::info!("event accepted");
                Ok(Accepted::New)
            }
            Ok(Published::Duplicate) => Ok(Accepted::Duplicate),
            Err(e) => {
                tracing::warn!(error = %e, "event not accepted: bus unavailable");
                Err(IntakeError::Unavailable(
                    "the event could not be stored durably right now; retry later".into(),
                ))
            }
        }
    }
}
