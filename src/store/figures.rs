//! The figures of each day, recorded as they were (in the `inventory_meta` tree, key
//! `figures/<YYYY-MM-DD>`): seats used and held per product. A day's record is overwritten
//! during that day and never after, so a chart of the past reads what was, not a recomputation.
//! The ledger's takes and give-backs since a time are read here too, for the month's counts.

use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime};

use super::{LedgerEntry, Store, StoreError, dec, enc};

/// One product's figures on a day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductFigures {
    pub key: String,
    pub seats_used: u64,
    pub seats_total: Option<u64>,
    /// Accounts the inventory holds with the product's licence.
    pub holders: u64,
}

/// A day's figures, as last recorded that day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DailyFigures {
    pub v: u32,
    pub day: Date,
    #[serde(with = "time::serde::rfc3339")]
    pub recorded_at: OffsetDateTime,
    pub products: Vec<ProductFigures>,
}

fn key(day: Date) -> Vec<u8> {
    format!("figures/{day}").into_bytes()
}

impl Store {
    /// Records `figures` as its day's (replacing what that day had), then flushes.
    pub async fn record_figures(&self, figures: &DailyFigures) -> Result<(), StoreError> {
        self.inventory_meta
            .insert(key(figures.day), enc(figures)?)?;
        self.flush().await
    }

    /// The days recorded from `from` on, oldest first.
    pub fn figures_since(&self, from: Date) -> Result<Vec<DailyFigures>, StoreError> {
        let mut out = Vec::new();
        for item in self.inventory_meta.range(key(from)..b"figures0".to_vec()) {
            let (_, value) = item?;
            out.push(dec::<DailyFigures>(&value)?);
        }
        Ok(out)
    }

    /// Ledger entries taken, or given back, at or after `from`.
    pub fn ledger_since(&self, from: OffsetDateTime) -> Result<Vec<LedgerEntry>, StoreError> {
        let mut out = Vec::new();
        for item in self.reclaim.scan_prefix(b"ledger/") {
            let (_, value) = item?;
            let entry: LedgerEntry = dec(&value)?;
            if entry.at >= from || entry.closed_at.is_some_and(|t| t >= from) {
                out.push(entry);
            }
        }
        Ok(out)
    }
}
