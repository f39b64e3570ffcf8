//! The embedded bus: a durable queue in sled, for a single process with no other service.
//! Same semantics as the JetStream bus: duplicate ids dropped, explicit ack, redelivery with a
//! delay, and every message that was acknowledged to a publisher survives a crash.

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use sled::Transactional;
use sled::transaction::ConflictableTransactionError;
use time::OffsetDateTime;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::{Acker, Bus, BusError, Delivery, Published};
use crate::domain::Event;
use crate::store::Store;

#[derive(Serialize, Deserialize)]
struct Entry {
    v: u32,
    event: Event,
    /// Deliveries so far (persisted before each delivery, so a crash loop still counts).
    deliveries: u32,
    /// Unix milliseconds before which the entry is not delivered.
    not_before_ms: i64,
}

struct Inner {
    store: Store,
    queue: sled::Tree,
    ids: sled::Tree,
    /// Sequences delivered and not yet acked or naked, in this process.
    in_flight: Mutex<HashSet<u64>>,
    wake: Notify,
    cancel: CancellationToken,
}

#[derive(Clone)]
pub struct EmbeddedBus {
    inner: std::sync::Arc<Inner>,
}

fn now_ms() -> i64 {
    (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

fn unavailable(e: impl std::fmt::Display) -> BusError {
    BusError::Unavailable(e.to_string())
}

impl EmbeddedBus {
    /// Opens the queue. Ids of published events are remembered until `Bus::sweep` forgets them.
    pub fn open(store: &Store, cancel: CancellationToken) -> Result<EmbeddedBus, BusError> {
        Self::open_trees(store, cancel)
    }

    fn open_trees(store: &Store, cancel: CancellationToken) -> Result<EmbeddedBus, BusError> {
        let db = store.db();
        Ok(EmbeddedBus {
            inner: std::sync::Arc::new(Inner {
                store: store.clone(),
                queue: db.open_tree("queue").map_err(unavailable)?,
                ids: db.open_tree("queue_ids").map_err(unavailable)?,
                in_flight: Mutex::new(HashSet::new()),
                wake: Notify::new(),
                cancel,
            }),
        })
    }

    /// Forgets the ids of events published longer ago than `retention`; returns how many.
    pub fn purge_ids(&self, retention: Duration) -> Result<usize, BusError> {
        let cutoff = now_ms() - retention.as_millis() as i64;
        let mut removed = 0;
        for item in self.inner.ids.iter() {
            let (key, value) = item.map_err(unavailable)?;
            let published = <[u8; 8]>::try_from(value.as_ref())
                .map(i64::from_be_bytes)
                .unwrap_or(i64::MIN);
            if published < cutoff {
                self.inner.ids.remove(key).map_err(unavailable)?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Messages waiting or in flight.
    pub fn depth(&self) -> usize {
        self.inner.queue.len()
    }

    /// Finds the first due entry not in flight; returns it, or how long until one is due.
    fn take_due(&self) -> Result<Result<(u64, Entry), Option<Duration>>, BusError> {
        let inner = &self.inner;
        let now = now_ms();
        let mut soonest: Option<i64> = None;
        let mut in_flight = inner
            .in_flight
            .lock()
            .map_err(|_| unavailable("queue lock poisoned"))?;
        for item in inner.queue.iter() {
            let (key, value) = item.map_err(unavailable)?;
            let seq = u64::from_be_bytes(
                key.as_ref()
                    .try_into()
                    .map_err(|_| unavailable("bad queue key"))?,
            );
            if in_flight.contains(&seq) {
                continue;
            }
            let mut entry: Entry = serde_json::from_slice(&value)?;
            if entry.not_before_ms > now {
                soonest = Some(soonest.map_or(entry.not_before_ms, |s| s.min(entry.not_before_ms)));
                continue;
            }
            entry.deliveries += 1;
            inner
                .queue
                .insert(key, serde_json::to_vec(&entry)?)
                .map_err(unavailable)?;
            in_flight.insert(seq);
            return Ok(Ok((seq, entry)));
        }
        Ok(Err(
            soonest.map(|s| Duration::from_millis((s - now).max(1) as u64))
        ))
    }
}

#[async_trait]
impl Bus for EmbeddedBus {
    async fn publish(&self, event: &Event) -> Result<Published, BusError> {
        let inner = &self.inner;
        if inner.cancel.is_cancelled() {
            return Err(BusError::Closed);
        }
        let seq = inner.store.db().generate_id().map_err(unavailable)?;
        let value = serde_json::to_vec(&Entry {
            v: 1,
            event: event.clone(),
            deliveries: 0,
            not_before_ms: 0,
        })?;
        let id = event.id.as_str().as_bytes();
        let published_at = now_ms().to_be_bytes();
        let added = (&inner.queue, &inner.ids)
            .transaction(|(queue, ids)| {
                if ids.get(id)?.is_some() {
                    return Ok(false);
                }
                ids.insert(id, &published_at)?;
                queue.insert(&seq.to_be_bytes(), value.as_slice())?;
                Ok::<bool, ConflictableTransactionError<()>>(true)
            })
            .map_err(|e| unavailable(format!("{e:?}")))?;
        // Durable before the publisher hears "accepted".
        inner.store.flush().await.map_err(unavailable)?;
        if added {
            inner.wake.notify_one();
            Ok(Published::New)
        } else {
            Ok(Published::Duplicate)
        }
    }

    async fn next(&self) -> Result<Delivery, BusError> {
        loop {
            if self.inner.cancel.is_cancelled() {
                return Err(BusError::Closed);
            }
            // Register interest before scanning so a publish in between is not missed.
            let notified = self.inner.wake.notified();
            match self.take_due()? {
                Ok((seq, entry)) => {
                    let acker = EmbeddedAcker {
                        bus: self.clone(),
                        seq,
                    };
                    return Ok(Delivery::new(
                        entry.event,
                        entry.deliveries,
                        Box::new(acker),
                    ));
                }
                Err(wait) => {
                    let wait = wait.unwrap_or(Duration::from_secs(60));
                    tokio::select! {
                        _ = notified => {}
                        _ = tokio::time::sleep(wait) => {}
                        _ = self.inner.cancel.cancelled() => return Err(BusError::Closed),
                    }
                }
            }
        }
    }

    async fn ready(&self) -> Result<(), BusError> {
        self.inner.store.probe().await.map_err(unavailable)
    }

    fn kind(&self) -> &'static str {
        "embedded"
    }

    async fn depth(&self) -> Option<super::BusDepth> {
        let messages = self.inner.queue.len() as u64;
        let in_flight = self
            .inner
            .in_flight
            .lock()
            .map(|s| s.len() as u64)
            .unwrap_or(0);
        Some(super::BusDepth {
            messages,
            pending: messages.saturating_sub(in_flight),
        })
    }

    fn sweep(&self, retention: Duration) -> Result<usize, BusError> {
        self.purge_ids(retention)
    }
}

struct EmbeddedAcker {
    bus: EmbeddedBus,
    seq: u64,
}

impl EmbeddedAcker {
    fn release(&self) {
        if let Ok(mut set) = self.bus.inner.in_flight.lock() {
            set.remove(&self.seq);
        }
    }
}

#[async_trait]
impl Acker for EmbeddedAcker {
    async fn ack(self: Box<Self>) -> Result<(), BusError> {
        // The id stays in `queue_ids`, so a later re-publish of the same id is still dropped.
        let inner = &self.bus.inner;
        inner
            .queue
            .remove(self.seq.to_be_bytes())
            .map_err(unavailable)?;
        inner.store.flush().await.map_err(unavailable)?;
        self.release();
        Ok(())
    }

    async fn nak(self: Box<Self>, delay: Duration) -> Result<(), BusError> {
        let inner = &self.bus.inner;
        let key = self.seq.to_be_bytes();
        if let Some(value) = inner.queue.get(key).map_err(unavailable)? {
            let mut entry: Entry = serde_json::from_slice(&value)?;
            entry.not_before_ms = now_ms() + delay.as_millis() as i64;
            inner
                .queue
                .insert(key, serde_json::to_vec(&entry)?)
                .map_err(unavailable)?;
        }
        self.release();
        inner.wake.notify_one();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: &str) -> Event {
        Event::login_for_tests(id, "a@example.com", None)
    }

    #[tokio::test]
    async fn published_events_survive_a_restart_and_acked_ones_do_not_come_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let store = Store::open(dir.path()).expect("open");
            let bus = EmbeddedBus::open_trees(&store, CancellationToken::new()).expect("bus");
            assert_eq!(
                bus.publish(&event("one")).await.expect("publish"),
                Published::New
            );
            assert_eq!(
                bus.publish(&event("two")).await.expect("publish"),
                Published::New
            );
            assert_eq!(
                bus.publish(&event("one")).await.expect("publish"),
                Published::Duplicate
            );
            let first = bus.next().await.expect("delivery");
            assert_eq!((first.event.id.as_str(), first.attempt), ("login:one", 1));
            first.ack().await.expect("ack");
            // "two" is delivered but never settled: a crash here must not lose it.
            let second = bus.next().await.expect("delivery");
            assert_eq!(second.event.id.as_str(), "login:two");
            drop(second);
        }
        let store = Store::open(dir.path()).expect("reopen");
        let bus = EmbeddedBus::open_trees(&store, CancellationToken::new()).expect("bus");
        assert_eq!(bus.depth(), 1);
        let again = bus.next().await.expect("redelivery");
        assert_eq!((again.event.id.as_str(), again.attempt), ("login:two", 2));
        again.nak(Duration::from_millis(30)).await.expect("nak");
        let third = bus.next().await.expect("delayed redelivery");
        assert_eq!(third.attempt, 3);
        third.ack().await.expect("ack");
        assert_eq!(bus.depth(), 0);
        assert_eq!(
            bus.publish(&event("two")).await.expect("publish"),
            Published::Duplicate
        );
        assert_eq!(bus.purge_ids(Duration::ZERO).expect("purge"), 2);
        assert_eq!(
            bus.publish(&event("two")).await.expect("publish"),
            Published::New
        );
    }
}
