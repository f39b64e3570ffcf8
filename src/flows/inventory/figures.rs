//! The figures of each day as they were: recorded hourly and after each sync (the day's last
//! record stands for it), and read back for the Overview's history — never recomputed from
//! today backwards.

use time::{Duration, OffsetDateTime};

use super::super::{Context, FlowError};
use super::query;
use crate::store::{DailyFigures, ProductFigures};

/// Records today's figures: seats used per product now (following reinstate's own changes)
/// and the accounts holding each.
pub async fn record(ctx: &Context) -> Result<DailyFigures, FlowError> {
    let now = OffsetDateTime::now_utc();
    let summary = query::summary(ctx, None, 30)?;
    let held: Vec<(String, usize)> = {
        let accounts = ctx.store.accounts()?;
        query::holders(&accounts)
            .into_iter()
            .map(|(k, n)| (k.to_string(), n))
            .collect()
    };
    let figures = DailyFigures {
        v: 1,
        day: now.date(),
        recorded_at: now,
        products: summary
            .products
            .iter()
            .map(|p| ProductFigures {
                key: p.key.clone(),
                seats_used: p.seats_used,
                seats_total: p.seats_total,
                holders: held
                    .iter()
                    .find(|(k, _)| *k == p.key)
                    .map_or(0, |(_, n)| *n as u64),
            })
            .collect(),
    };
    ctx.store.record_figures(&figures).await?;
    Ok(figures)
}

/// The days recorded within the last `days` days, oldest first.
pub fn history(ctx: &Context, days: i64) -> Result<Vec<DailyFigures>, FlowError> {
    let from = OffsetDateTime::now_utc().date() - Duration::days(days - 1);
    Ok(ctx.store.figures_since(from)?)
}
