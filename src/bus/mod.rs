//! The event bus: publish with a durable acknowledgement, consume with explicit ack or nak.
//! Two implementations behind one trait: NATS JetStream, and an embedded queue in sled.

use std::time::Duration;

use async_trait::async_trait;

use crate::event::Event;

pub mod embedded;
pub mod nats;

#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// The bus cannot take the event now; the sender should retry.
    #[error("the event bus is unavailable: {0}")]
    Unavailable(String),
    #[error("the event could not be encoded: {0}")]
    Encode(#[from] serde_json::Error),
    #[error("the bus is shutting down")]
    Closed,
}

/// How many events the bus holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BusDepth {
    /// Waiting or in flight.
    pub messages: u64,
    /// Not yet delivered to a worker (consumer lag).
    pub pending: u64,
}

/// What a publish achieved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Published {
    /// Stored durably for the first time.
    New,
    /// The bus already held an event with this id; nothing was added.
    Duplicate,
}

/// One delivered event, to be acked once handled or handed back with a delay.
pub struct Delivery {
    pub event: Event,
    /// 1 for the first delivery.
    pub attempt: u32,
    acker: Box<dyn Acker>,
}

impl Delivery {
    pub fn new(event: Event, attempt: u32, acker: Box<dyn Acker>) -> Delivery {
        Delivery {
            event,
            attempt,
            acker,
        }
    }
    /// Done: the bus forgets the event.
    pub async fn ack(self) -> Result<(), BusError> {
        self.acker.ack().await
    }
    /// Still working (see `Acker::in_progress`).
    pub async fn in_progress(&self) -> Result<(), BusError> {
        self.acker.in_progress().await
    }
    pub fn progress_every(&self) -> Option<Duration> {
        self.acker.progress_every()
    }
    /// Not done: deliver again after `delay`.
    pub async fn nak(self, delay: Duration) -> Result<(), BusError> {
        self.acker.nak(delay).await
    }
}

#[async_trait]
pub trait Acker: Send + Sync {
    async fn ack(self: Box<Self>) -> Result<(), BusError>;
    async fn nak(self: Box<Self>, delay: Duration) -> Result<(), BusError>;
    /// Still working: keeps the bus from redelivering while the work takes long.
    async fn in_progress(&self) -> Result<(), BusError> {
        Ok(())
    }
    /// How often `in_progress` must be said; `None` when the bus does not redeliver in-flight work.
    fn progress_every(&self) -> Option<Duration> {
        None
    }
}

#[async_trait]
pub trait Bus: Send + Sync {
    /// Stores the event durably (returns only after the bus acknowledged it), dropping a
    /// duplicate id.
    async fn publish(&self, event: &Event) -> Result<Published, BusError>;
    /// The next delivery; waits until one is due. `Err(Closed)` after shutdown.
    async fn next(&self) -> Result<Delivery, BusError>;
    /// Whether a publish could succeed now.
    async fn ready(&self) -> Result<(), BusError>;
    /// "nats" or "embedded".
    fn kind(&self) -> &'static str;
    /// Events held, for metrics; `None` when the bus cannot be asked now.
    async fn depth(&self) -> Option<BusDepth>;
    /// After the last `next`: hands back deliveries fetched but never started, so they are
    /// redelivered at once rather than after the ack wait.
    async fn close(&self) {}
    /// Periodic housekeeping (forgetting old dedupe records); returns how many were removed.
    fn sweep(&self, _retention: Duration) -> Result<usize, BusError> {
        Ok(0)
    }
}

/// The subject of an event: `<prefix>.events.<kind>.<user-key>`.
pub fn subject(prefix: &str, event: &Event) -> String {
    format!("{prefix}.events.{}.{}", event.kind.key(), event.user_key())
}
