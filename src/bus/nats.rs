//! The JetStream bus: one work-queue stream for inbound events, one durable pull consumer with
//! explicit acks. Publishes carry `Nats-Msg-Id` = event id and wait for the stream's ack.
//! Redelivery limits and backoff are enforced by the worker (the consumer itself never gives
//! up on a message), so a crash during the last attempt cannot strand an event.

use std::time::Duration;

use async_nats::jetstream::{self, AckKind, consumer::pull, stream};
use async_trait::async_trait;
use futures::StreamExt;
use tokio::sync::{Mutex, OnceCell};
use tokio_util::sync::CancellationToken;

use super::BusConfig;
use super::{Acker, Bus, BusError, Delivery, Published, subject};
use crate::domain::Event;

pub struct NatsBus {
    client: async_nats::Client,
    js: jetstream::Context,
    config: BusSettings,
    consumer: OnceCell<jetstream::consumer::Consumer<pull::Config>>,
    messages: Mutex<Option<pull::Stream>>,
    batch: usize,
    cancel: CancellationToken,
}

struct BusSettings {
    stream: String,
    consumer: String,
    prefix: String,
    publish_timeout: Duration,
    duplicate_window: Duration,
    ack_wait: Duration,
    replicas: usize,
}

fn unavailable(e: impl std::fmt::Display) -> BusError {
    BusError::Unavailable(e.to_string())
}

impl NatsBus {
    /// Connects in the background: reinstate starts (not ready) while NATS is unreachable.
    pub async fn connect(
        config: &BusConfig,
        url: &str,
        batch: usize,
        cancel: CancellationToken,
    ) -> Result<NatsBus, BusError> {
        let client = async_nats::ConnectOptions::new()
            .name("reinstate")
            .retry_on_initial_connect()
            .connect(url)
            .await
            .map_err(|e| unavailable(format!("bus.nats_url {url}: {e}")))?;
        let publish_timeout = Duration::from_millis(config.publish_timeout_ms);
        let js = jetstream::ContextBuilder::new()
            .timeout(publish_timeout)
            .build(client.clone());
        Ok(NatsBus {
            client,
            js,
            config: BusSettings {
                stream: config.stream.clone(),
                consumer: config.consumer.clone(),
                prefix: config.subject_prefix.clone(),
                publish_timeout,
                duplicate_window: Duration::from_secs(config.duplicate_window_secs),
                ack_wait: Duration::from_secs(config.ack_wait_secs),
                replicas: config.replicas,
            },
            consumer: OnceCell::new(),
            messages: Mutex::new(None),
            batch: batch.max(1),
            cancel,
        })
    }

    /// The stream's name (key-value buckets are named after it).
    pub fn stream(&self) -> &str {
        &self.config.stream
    }

    /// The key-value bucket `<stream>-<name>` (created when absent), whose entries last
    /// `max_age` after their last write (zero: for ever), kept at `bus.replicas` copies.
    pub async fn bucket(
        &self,
        name: &str,
        max_age: Duration,
    ) -> Result<jetstream::kv::Store, BusError> {
        let bucket = format!("{}-{name}", self.config.stream);
        let kv = jetstream::kv::Config {
            bucket: bucket.clone(),
            history: 1,
            max_age,
            num_replicas: self.config.replicas,
            storage: stream::StorageType::File,
            ..Default::default()
        };
        match self.js.get_key_value(&bucket).await {
            Ok(store) => {
                // A bucket made under other settings: its entries must expire as configured
                // now (a lease outliving its renewals would let two owners act).
                let kv_stream = self
                    .js
                    .get_stream(format!("KV_{bucket}"))
                    .await
                    .map_err(|e| unavailable(format!("key-value bucket {bucket}: {e}")))?;
                let config = kv_stream.cached_info().config.clone();
                self.keep_current(config, |c| {
                    c.max_age = max_age;
                    // JetStream refuses a duplicate window longer than the entries live.
                    if !max_age.is_zero() {
                        c.duplicate_window = c.duplicate_window.min(max_age);
                    }
                })
                .await?;
                Ok(store)
            }
            Err(_) => self
                .js
                .create_key_value(kv)
                .await
                .map_err(|e| unavailable(format!("key-value bucket {bucket}: {e}"))),
        }
    }

    /// Updates a stream made under other settings: `change` applies what the stream's own
    /// settings must be, `bus.replicas` is applied to every stream; nothing is sent when they
    /// already hold.
    async fn keep_current(
        &self,
        config: stream::Config,
        change: impl FnOnce(&mut stream::Config),
    ) -> Result<(), BusError> {
        let mut wanted = config.clone();
        change(&mut wanted);
        wanted.num_replicas = self.config.replicas;
        if wanted.max_age == config.max_age
            && wanted.num_replicas == config.num_replicas
            && wanted.duplicate_window == config.duplicate_window
        {
            return Ok(());
        }
        tracing::info!(stream = %config.name, replicas = wanted.num_replicas, max_age = ?wanted.max_age, "updating the stream to the configuration");
        self.js
            .update_stream(&wanted)
            .await
            .map(|_| ())
            .map_err(|e| unavailable(format!("updating stream {}: {e}", config.name)))
    }

    /// Creates the stream and the durable consumer when absent (idempotent), once.
    async fn setup(&self) -> Result<&jetstream::consumer::Consumer<pull::Config>, BusError> {
        self.consumer
            .get_or_try_init(|| async {
                let c = &self.config;
                let stream = self
                    .js
                    .get_or_create_stream(stream::Config {
                        name: c.stream.clone(),
                        subjects: vec![format!("{}.events.>", c.prefix)],
                        retention: stream::RetentionPolicy::WorkQueue,
                        storage: stream::StorageType::File,
                        duplicate_window: c.duplicate_window,
                        num_replicas: c.replicas,
                        ..Default::default()
                    })
                    .await
                    .map_err(|e| unavailable(format!("creating stream {}: {e}", c.stream)))?;
                let window = c.duplicate_window;
                self.keep_current(stream.cached_info().config.clone(), |s| {
                    s.duplicate_window = window;
                })
                .await?;
                stream
                    // Create, or update an existing one so configuration changes take effect.
                    .create_consumer(pull::Config {
                        durable_name: Some(c.consumer.clone()),
                        ack_policy: jetstream::consumer::AckPolicy::Explicit,
                        ack_wait: c.ack_wait,
                        max_deliver: -1,
                        max_ack_pending: 1000,
                        filter_subject: format!("{}.events.>", c.prefix),
                        ..Default::default()
                    })
                    .await
                    .map_err(|e| unavailable(format!("creating consumer {}: {e}", c.consumer)))
            })
            .await
    }

    fn connected(&self) -> Result<(), BusError> {
        match self.client.connection_state() {
            async_nats::connection::State::Connected => Ok(()),
            state => Err(unavailable(format!("NATS connection is {state:?}"))),
        }
    }
}

#[async_trait]
impl Bus for NatsBus {
    async fn publish(&self, event: &Event) -> Result<Published, BusError> {
        // Fail fast while disconnected, so the sender hears 503 at once and retries.
        self.connected()?;
        tokio::time::timeout(self.config.publish_timeout, self.setup())
            .await
            .map_err(|_| unavailable("timed out setting up the stream"))??;
        let payload = serde_json::to_vec(event)?;
        let ack = tokio::time::timeout(self.config.publish_timeout, async {
            self.js
                .send_publish(
                    subject(&self.config.prefix, event),
                    jetstream::message::PublishMessage::build()
                        .payload(payload.into())
                        .message_id(event.id.as_str()),
                )
                .await
                .map_err(unavailable)?
                .await
                .map_err(unavailable)
        })
        .await
        .map_err(|_| unavailable("timed out waiting for the stream's acknowledgement"))??;
        Ok(if ack.duplicate {
            Published::Duplicate
        } else {
            Published::New
        })
    }

    async fn next(&self) -> Result<Delivery, BusError> {
        let mut guard = self.messages.lock().await;
        loop {
            if self.cancel.is_cancelled() {
                return Err(BusError::Closed);
            }
            if guard.is_none() {
                let opened = async {
                    let consumer = self.setup().await?;
                    consumer
                        .stream()
                        .max_messages_per_batch(self.batch)
                        .messages()
                        .await
                        .map_err(unavailable)
                }
                .await;
                match opened {
                    Ok(stream) => *guard = Some(stream),
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot consume from NATS yet; retrying");
                        tokio::select! {
                            _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                            _ = self.cancel.cancelled() => return Err(BusError::Closed),
                        }
                    }
                }
            }
            let Some(stream) = guard.as_mut() else {
                continue;
            };
            let item = tokio::select! {
                item = stream.next() => item,
                _ = self.cancel.cancelled() => return Err(BusError::Closed),
            };
            match item {
                Some(Ok(message)) => {
                    let attempt = message
                        .info()
                        .map(|i| i.delivered.max(1) as u32)
                        .unwrap_or(1);
                    match serde_json::from_slice::<Event>(&message.payload) {
                        Ok(event) => {
                            return Ok(Delivery::new(
                                event,
                                attempt,
                                Box::new(NatsAcker {
                                    message,
                                    every: self.config.ack_wait / 3,
                                }),
                            ));
                        }
                        Err(e) => {
                            // Only reinstate publishes here; an unreadable message is a bug or
                            // a version skew. Keep it out of the way, loudly.
                            tracing::error!(subject = %message.subject, error = %e, "undecodable event on the bus; terminated");
                            let _ = message.ack_with(AckKind::Term).await;
                        }
                    }
                }
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "NATS consumer stream error; reopening");
                    *guard = None;
                }
                None => *guard = None,
            }
        }
    }

    async fn ready(&self) -> Result<(), BusError> {
        self.connected()?;
        tokio::time::timeout(self.config.publish_timeout, self.setup())
            .await
            .map_err(|_| unavailable("timed out setting up the stream"))??;
        Ok(())
    }

    fn kind(&self) -> &'static str {
        "nats"
    }

    async fn close(&self) {
        let mut guard = self.messages.lock().await;
        if let Some(stream) = guard.as_mut() {
            // Only what is already buffered (at most one batch); never pull more.
            for _ in 0..self.batch {
                match tokio::time::timeout(Duration::from_millis(100), stream.next()).await {
                    Ok(Some(Ok(message))) => {
                        let _ = message.ack_with(AckKind::Nak(None)).await;
                    }
                    _ => break,
                }
            }
        }
        *guard = None;
    }

    async fn depth(&self) -> Option<super::BusDepth> {
        self.connected().ok()?;
        let mut consumer = self.consumer.get()?.clone();
        let info = tokio::time::timeout(self.config.publish_timeout, consumer.info())
            .await
            .ok()?
            .ok()?;
        Some(super::BusDepth {
            messages: info.num_pending + info.num_ack_pending as u64,
            pending: info.num_pending,
        })
    }
}

struct NatsAcker {
    message: jetstream::Message,
    every: Duration,
}

#[async_trait]
impl Acker for NatsAcker {
    async fn ack(self: Box<Self>) -> Result<(), BusError> {
        self.message.ack().await.map_err(unavailable)
    }
    async fn nak(self: Box<Self>, delay: Duration) -> Result<(), BusError> {
        self.message
            .ack_with(AckKind::Nak(Some(delay)))
            .await
            .map_err(unavailable)
    }
    async fn in_progress(&self) -> Result<(), BusError> {
        self.message
            .ack_with(AckKind::Progress)
            .await
            .map_err(unavailable)
    }
    fn progress_every(&self) -> Option<Duration> {
        Some(self.every)
    }
}
