//! Which alerts were sent: per product the seat alerts of the current crossing, and throttles.

use serde::{Deserialize, Serialize};

use super::{Store, StoreError, dec, enc};
use crate::domain::Product;

/// Per product: which seat alerts have been sent for the current crossing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertState {
    /// Use is at or above the threshold, and admins were told.
    pub above_threshold: bool,
    /// A restore waited for lack of seats, and admins were told.
    pub full: bool,
}

impl Store {
    /// Claims the right to send the alert `kind` now: `true` at most once per `window_ms`
    /// (atomic, so concurrent workers send one). The claim is flushed with the next record.
    pub fn claim_alert(&self, kind: &str, now_ms: i64, window_ms: i64) -> Result<bool, StoreError> {
        let key = format!("throttle/{kind}");
        loop {
            let current = self.alerts.get(&key)?;
            if let Some(bytes) = &current {
                let last: i64 = dec(bytes)?;
                if now_ms - last < window_ms {
                    return Ok(false);
                }
            }
            let claim = enc(&now_ms)?;
            if self
                .alerts
                .compare_and_swap(&key, current, Some(claim))?
                .is_ok()
            {
                return Ok(true);
            }
        }
    }

    /// Which seat alerts were sent for the product's current crossing.
    pub fn alert_state(&self, product: Product) -> Result<AlertState, StoreError> {
        Ok(match self.alerts.get(product.key())? {
            Some(v) => dec(&v)?,
            None => Default::default(),
        })
    }
}
