//! Keys used once across every process that receives: an email link's nonce. One process keeps
//! them in its store; on NATS they are created in a JetStream key-value bucket, whose create is
//! atomic (put-if-absent), so a link works once whichever receiver it reaches.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::kv;
use async_trait::async_trait;
use tokio::sync::OnceCell;

use super::BusError;
use super::nats::NatsBus;
use crate::store::Store;

#[async_trait]
pub trait UseOnce: Send + Sync {
    /// Marks `key` used, recording `value`: `true` for the first caller only.
    async fn claim(&self, key: &str, value: &str) -> Result<bool, BusError>;
    /// Undoes a claim whose work could not be accepted, so the key can be used again.
    async fn release(&self, key: &str) -> Result<(), BusError>;
    /// What the key's use recorded, if it was used.
    async fn used(&self, key: &str) -> Result<Option<String>, BusError>;
}

fn unavailable(e: impl std::fmt::Display) -> BusError {
    BusError::Unavailable(e.to_string())
}

/// In this process's store: one process receives.
pub struct InStore(pub Store);

#[async_trait]
impl UseOnce for InStore {
    async fn claim(&self, key: &str, value: &str) -> Result<bool, BusError> {
        self.0.consume_link(key, value).await.map_err(unavailable)
    }
    async fn release(&self, key: &str) -> Result<(), BusError> {
        self.0.release_link(key).await.map_err(unavailable)
    }
    async fn used(&self, key: &str) -> Result<Option<String>, BusError> {
        self.0.link_use(key).map_err(unavailable)
    }
}

/// In the JetStream bucket `<stream>-links`, shared by every receiver; entries expire after
/// `keep` (longer than a link lives), so the bucket does not grow for ever.
pub struct InBucket {
    bus: Arc<NatsBus>,
    keep: Duration,
    bucket: OnceCell<kv::Store>,
}

impl InBucket {
    pub fn new(bus: Arc<NatsBus>, keep: Duration) -> InBucket {
        InBucket {
            bus,
            keep,
            bucket: OnceCell::new(),
        }
    }

    /// The bucket, made at first use (NATS may be down when the process starts).
    async fn bucket(&self) -> Result<&kv::Store, BusError> {
        self.bucket
            .get_or_try_init(|| self.bus.bucket("links", self.keep))
            .await
    }
}

/// A key the bucket accepts: link nonces are URL-safe base64; anything else is hex-encoded.
fn kv_key(key: &str) -> String {
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if plain {
        key.to_string()
    } else {
        format!("x{}", hex::encode(key))
    }
}

#[async_trait]
impl UseOnce for InBucket {
    async fn claim(&self, key: &str, value: &str) -> Result<bool, BusError> {
        let bucket = self.bucket().await?;
        match bucket.create(kv_key(key), value.to_string().into()).await {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(unavailable(format!("the links bucket: {e}"))),
        }
    }
    async fn release(&self, key: &str) -> Result<(), BusError> {
        let bucket = self.bucket().await?;
        bucket
            .delete(kv_key(key))
            .await
            .map_err(|e| unavailable(format!("the links bucket: {e}")))
    }
    async fn used(&self, key: &str) -> Result<Option<String>, BusError> {
        let bucket = self.bucket().await?;
        let value = bucket
            .get(kv_key(key))
            .await
            .map_err(|e| unavailable(format!("the links bucket: {e}")))?;
        Ok(value.map(|v| String::from_utf8_lossy(&v).into_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::kv_key;

    #[test]
    fn keys_the_bucket_would_refuse_are_encoded() {
        assert_eq!(kv_key("AbC-_9"), "AbC-_9");
        assert_eq!(kv_key("a.b"), format!("x{}", hex::encode("a.b")));
        assert_eq!(kv_key(""), "x");
    }
}
