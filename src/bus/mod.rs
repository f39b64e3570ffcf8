//! The event bus: publish with a durable acknowledgement, consume with explicit ack or nak.
//! Two implementations behind one trait: NATS JetStream, and an embedded queue in sled.

use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;

use crate::domain::{Event, Problems};

pub mod embedded;
pub mod lease;
pub mod nats;
pub mod once;

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

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BusConfig {
    /// NATS server URL; when absent, the embedded durable queue in sled is used.
    pub nats_url: Option<String>,
    /// JetStream stream name (created at start when absent).
    pub stream: String,
    /// First token of every subject: `<subject_prefix>.events.<kind>.<user-key>`.
    pub subject_prefix: String,
    /// Durable pull consumer name shared by the workers.
    pub consumer: String,
    /// How long a publish may wait for the bus's acknowledgement before ingress answers 503.
    pub publish_timeout_ms: u64,
    /// Window in which JetStream drops a re-published event id (`Nats-Msg-Id`).
    pub duplicate_window_secs: u64,
    /// How long a delivered message may stay unacknowledged before it is redelivered.
    pub ack_wait_secs: u64,
    /// Copies JetStream keeps of the stream and the key-value buckets (3 on a 3-node cluster).
    pub replicas: usize,
    /// How long the state owner's lease lasts without renewal (it is renewed every quarter of
    /// it; an owner that could not renew stops acting before it lapses).
    pub lease_secs: u64,
}

impl Default for BusConfig {
    fn default() -> Self {
        Self {
            nats_url: None,
            stream: "REINSTATE_EVENTS".into(),
            subject_prefix: "reinstate".into(),
            consumer: "reinstate-worker".into(),
            publish_timeout_ms: 3000,
            duplicate_window_secs: 120,
            ack_wait_secs: 30,
            replicas: 1,
            lease_secs: 15,
        }
    }
}

impl BusConfig {
    pub fn check(&self, problems: &mut Problems) {
        if let Some(url) = &self.nats_url
            && url.trim().is_empty()
        {
            problems.add("bus.nats_url", "is empty; omit it for the embedded queue");
        }
        for (key, value) in [
            ("bus.stream", &self.stream),
            ("bus.consumer", &self.consumer),
        ] {
            if value.is_empty()
                || !value
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                problems.add(
                    key,
                    format!("{value:?} must be letters, digits, '_' or '-'"),
                );
            }
        }
        let prefix = &self.subject_prefix;
        if prefix.is_empty()
            || prefix
                .split('.')
                .any(|t| t.is_empty() || t.contains(['*', '>', ' ']))
        {
            problems.add(
                "bus.subject_prefix",
                format!("{prefix:?} is not a NATS subject prefix"),
            );
        }
        if !(1..=5).contains(&self.replicas) {
            problems.add("bus.replicas", "from 1 to 5 (JetStream's limit)");
        }
        if self.lease_secs < 3 {
            problems.add("bus.lease_secs", "at least 3");
        }
        problems.positive(&[
            ("bus.publish_timeout_ms", self.publish_timeout_ms),
            ("bus.ack_wait_secs", self.ack_wait_secs),
            ("bus.duplicate_window_secs", self.duplicate_window_secs),
        ]);
    }
}
