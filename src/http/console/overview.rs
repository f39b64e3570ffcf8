//! The overview: seats per product, what was reclaimed and restored this month and what it
//! saves, what waits for an admin or failed — and pictures of licences in use over 90 days and
//! of restores and reclaims per day.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use maud::html;
use time::{Date, Duration, OffsetDateTime};

use super::layout::page as frame;
use super::table::scroll;
use super::{Console, Signed, charts, failed};
use crate::domain::AuditOutcome;
use crate::flows::inventory::query;
use crate::flows::{Context, FlowError, queries};
use crate::store::{AuditEntry, AuditFilter, RequestState};

/// Entries of one outcome since `from`.
fn since(
    ctx: &Context,
    outcome: AuditOutcome,
    from: OffsetDateTime,
) -> Result<Vec<AuditEntry>, FlowError> {
    let filter = AuditFilter {
        outcome: Some(outcome),
        from: Some(from),
        ..AuditFilter::default()
    };
    queries::audit(ctx, &filter, 100_000, None)
}

/// Entries per day, for the last `days` days (oldest first).
fn per_day(entries: &[AuditEntry], today: time::Date, days: i64) -> Vec<(time::Date, f64)> {
    let mut count: BTreeMap<time::Date, f64> = BTreeMap::new();
    for e in entries {
        *count.entry(e.at.date()).or_default() += 1.0;
    }
    (0..days)
        .rev()
        .map(|back| {
            let d = today - Duration::days(back);
            (d, count.get(&d).copied().unwrap_or(0.0))
        })
        .collect()
}

/// The estimated saving of this month's reclaims, at the configured price per seat.
fn savings(ctx: &Context, reclaimed: &[AuditEntry], month: OffsetDateTime) -> f64 {
    let prices = &ctx.settings.reclaim.price_per_seat;
    // A fold from +0.0: `sum()` of no floats is -0.0, shown as "-0.00".
    reclaimed
        .iter()
        .filter(|e| e.at >= month)
        .map(|e| prices.get(e.product.map_or("", |p| p.key())).copied())
        .fold(0.0, |total, price| total + price.unwrap_or(0.0))
}

/// Licences in use, day by day: today's count, less what was restored since, plus what was
/// reclaimed since.
fn in_use(used_now: f64, ups: &[(Date, f64)], downs: &[(Date, f64)]) -> Vec<(String, f64)> {
    let mut series = Vec::with_capacity(ups.len());
    let mut level = used_now;
    for i in (0..ups.len()).rev() {
        series.push((ups[i].0.to_string(), level.max(0.0)));
        level = level - ups[i].1 + downs[i].1;
    }
    series.reverse();
    series
}

/// `GET /console`
pub async fn page(State(console): State<Console>, Signed(session): Signed) -> Response {
    let ctx = &console.flows;
    let now = OffsetDateTime::now_utc();
    let today = now.date();
    let month = today
        .replace_day(1)
        .unwrap_or(today)
        .midnight()
        .assume_utc();
    let gathered = (|| -> Result<_, FlowError> {
        let summary = query::summary(ctx, None, 30)?;
        let restored = since(ctx, AuditOutcome::Restored, now - Duration::days(90))?;
        let reclaimed = since(ctx, AuditOutcome::Reclaimed, now - Duration::days(90))?;
        let failures = since(ctx, AuditOutcome::Failed, now - Duration::days(7))?.len();
        let pending = queries::requests(ctx, Some(RequestState::PendingApproval))?.len();
        Ok((summary, restored, reclaimed, failures, pending))
    })();
    let (summary, restored, reclaimed, failures, pending) = match gathered {
        Ok(g) => g,
        Err(e) => return failed(&console, &session, &e),
    };
    let this_month = |list: &[AuditEntry]| list.iter().filter(|e| e.at >= month).count();
    let saving = savings(ctx, &reclaimed, month);
    let threshold = ctx.settings.alerts.seat_threshold_percent;
    let used_now: f64 = summary.products.iter().map(|p| p.seats_used as f64).sum();
    let (ups, downs) = (
        per_day(&restored, today, 90),
        per_day(&reclaimed, today, 90),
    );
    let in_use = in_use(used_now, &ups, &downs);
    let daily: Vec<(String, f64, f64)> = ups[60..]
        .iter()
        .zip(&downs[60..])
        .map(|(u, d)| (u.0.to_string(), u.1, d.1))
        .collect();
    let body = html! {
            div.cards {
                div.card { div.muted { "Restored this month" } div.metric { (this_month(&restored)) } }
                div.card { div.muted { "Reclaimed this month" } div.metric { (this_month(&reclaimed)) } }
                div.card { div.muted { "Estimated monthly savings" } div.metric { (format!("{saving:.2}")) small { " " (ctx.settings.reclaim.currency) } } }
                div.card { div.muted { "Pending approvals" } div.metric { a href="/console/requests" { (pending) } } }
                div.card { div.muted { "Failures in the last 7 days" } div.metric { a href="/console/audit?outcome=failed" { (failures) } } }
            }
            h2 { "Seats per product" }
    (scroll("Seats per product", html! {
            table {
                thead { tr { th { "Product" } th { "Used" } th { "Total" } th { "Alert threshold" } th { "Inactive holders (30 days)" } } }
                tbody {
                    @for p in &summary.products {
                        tr {
                            td { (super::words::product_key(&p.key)) }
                            td { (p.seats_used) }
                            td { (p.seats_total.map_or("—".to_string(), |t| t.to_string())) }
                            td { @if threshold > 0 { (threshold) "%" } @else { "off" } }
                            td { a href={ "/console/users?inactive_after=30&product=" (filter_key(&p.key)) } { (p.inactive_licensed) } }
                        }
                    }
                }
            }
            }))
            h2 { "Licences in use, last 90 days" }
            div.card { (charts::line("Licences in use", &in_use)) p.muted { "Today's count from the directory; earlier days less what reinstate restored since and plus what it reclaimed since." } }
            h2 { "Restores and reclaims per day, last 30 days" }
            div.card { (charts::bars(("restored", "reclaimed"), &daily)) }
        };
    frame(
        &console,
        &session,
        "/console",
        StatusCode::OK,
        "Overview",
        body,
    )
}

/// The Inactive Users page's name for a product key.
fn filter_key(key: &str) -> &str {
    match key {
        "jira-software" => "jira",
        "jira-servicedesk" => "jsm",
        "confluence" | "assets" => key,
        _ => "other",
    }
}
