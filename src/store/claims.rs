//! Atomic claims: a link's single use, a user's login within the dedupe window, a poller's
//! position; a seat held while a restore runs; and the store's own identity.

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

/// How long a seat stays held for a restore that never finished (its process died and the
/// event was not delivered again).
const SEAT_HOLD_MS: i64 = 10 * 60 * 1000;

impl Store {
    /// Holds one of a product's seats for `event_id` while its restore runs, atomically with
    /// every other restore deciding at the same moment: `false` when the `remaining` seats (as
    /// last read from the directory) are all held already. Unknown or unlimited seats are never
    /// short. The same event holding again (a redelivery) keeps its hold.
    pub fn hold_seat(
        &self,
        product: &str,
        event_id: &str,
        remaining: Option<u64>,
    ) -> Result<bool, StoreError> {
        let Some(remaining) = remaining else {
            return Ok(true);
        };
        let tree = self.db.open_tree("seat_holds")?;
        let now = now_ms();
        loop {
            let current = tree.get(product)?;
            let mut holds: Vec<(String, i64)> = match &current {
                Some(bytes) => dec(bytes)?,
                None => Vec::new(),
            };
            holds.retain(|(_, at)| now - at < SEAT_HOLD_MS);
            if holds.iter().any(|(id, _)| id == event_id) {
                return Ok(true);
            }
            if holds.len() as u64 >= remaining {
                return Ok(false);
            }
            holds.push((event_id.to_string(), now));
            if tree
                .compare_and_swap(product, current, Some(enc(&holds)?))?
                .is_ok()
            {
                return Ok(true);
            }
        }
    }

    /// Gives back the seat `event_id` held: its restore is done (the directory's count now
    /// has it), refused, or handed back to the bus (the retry holds again).
    pub fn release_seat(&self, product: &str, event_id: &str) -> Result<(), StoreError> {
        let tree = self.db.open_tree("seat_holds")?;
        loop {
            let Some(current) = tree.get(product)? else {
                return Ok(());
            };
            let mut holds: Vec<(String, i64)> = dec(&current)?;
            let before = holds.len();
            holds.retain(|(id, _)| id != event_id);
            if holds.len() == before {
                return Ok(());
            }
            if tree
                .compare_and_swap(product, Some(current), Some(enc(&holds)?))?
                .is_ok()
            {
                return Ok(());
            }
        }
    }
}
