//! Atomic claims: a link's single use, a user's login within the dedupe window, a poller's
//! position; and the store's own identity.

use super::{Store, StoreError, dec, enc, now_ms};
use crate::domain::Email;

impl Store {
    /// This store's identity: random, made the first time it is asked for and kept in the store
    /// (a state owner takes over only the state of its own store).
    pub async fn identity(&self) -> Result<String, StoreError> {
        let meta = self.db.open_tree("meta")?;
        let mut fresh = [0u8; 16];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut fresh);
        let fresh = format!("store-{}", hex::encode(fresh));
        let made = meta
            .compare_and_swap("store_id", None as Option<&[u8]>, Some(fresh.as_bytes()))?
            .is_ok();
        if made {
            self.flush().await?;
        }
        match meta.get("store_id")? {
            Some(id) => Ok(String::from_utf8_lossy(&id).into_owned()),
            None => Ok(fresh),
        }
    }

    /// Claims a user's login for `event_id`, atomically: `Some(first event)` when another event
    /// already claimed a login of this user that happened within `window_ms` of this one.
    pub fn claim_login(
        &self,
        email: &Email,
        event_id: &str,
        occurred_ms: i64,
        window_ms: i64,
    ) -> Result<Option<String>, StoreError> {
        let key = email.user_key();
        loop {
            let current = self.recent_logins.get(&key)?;
            if let Some(bytes) = &current {
                let (ms, id): (i64, String) = dec(bytes)?;
                if id == event_id {
                    return Ok(None); // a redelivery of the event that holds the claim
                }
                if (occurred_ms - ms).abs() < window_ms {
                    return Ok(Some(id));
                }
            }
            let claim = enc(&(occurred_ms, event_id))?;
            if self
                .recent_logins
                .compare_and_swap(&key, current, Some(claim))?
                .is_ok()
            {
                return Ok(None);
            }
        }
    }

    /// Marks a link's nonce used, atomically: `true` for the first caller only. Flushed.
    pub async fn consume_link(&self, nonce: &str, event_id: &str) -> Result<bool, StoreError> {
        let record =
            enc(&serde_json::json!({ "v": 1, "event_id": event_id, "used_at": now_ms() }))?;
        let first = self
            .links
            .compare_and_swap(nonce, None as Option<&[u8]>, Some(record))?
            .is_ok();
        if first {
            self.flush().await?;
        }
        Ok(first)
    }

    /// Undoes `consume_link` when the event could not be accepted, so the link works again.
    pub async fn release_link(&self, nonce: &str) -> Result<(), StoreError> {
        self.links.remove(nonce)?;
        self.flush().await
    }

    /// The event a used link produced, if it was used.
    pub fn link_use(&self, nonce: &str) -> Result<Option<String>, StoreError> {
        Ok(match self.links.get(nonce)? {
            Some(v) => dec::<serde_json::Value>(&v)?["event_id"]
                .as_str()
                .map(String::from),
            None => None,
        })
    }

    /// A poller's saved position (JSON), if any.
    pub fn poller_state<T: serde::de::DeserializeOwned>(
        &self,
        poller: &str,
    ) -> Result<Option<T>, StoreError> {
        match self.db.open_tree("pollers")?.get(poller)? {
            Some(v) => Ok(Some(dec(&v)?)),
            None => Ok(None),
        }
    }

    /// Saves a poller's position, flushed: it is written only after what it covers is on the bus.
    pub async fn save_poller_state<T: serde::Serialize>(
        &self,
        poller: &str,
        state: &T,
    ) -> Result<(), StoreError> {
        self.db.open_tree("pollers")?.insert(poller, enc(state)?)?;
        self.flush().await
    }
}
