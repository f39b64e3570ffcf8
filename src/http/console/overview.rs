//! The overview: seats per product, what was reclaimed and restored this month and what it
//! saves, what waits for an admin or failed — and pictures of licences in use over 90 days and
//! of restores and reclaims per day.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use time::{Date, Duration, OffsetDateTime};

use super::layout::page as frame;
use super::table::scroll;
use super::{AdminForm, Console, Signed, charts, failed};
use crate::domain::AuditOutcome;
use crate::flows::inventory::{figures, query};
use crate::flows::{Context, FlowError, queries};
use crate::store::{AuditEntry, AuditFilter, DailyFigures, LedgerEntry, RequestState};

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

/// A count per day, oldest first.
type Days = Vec<(Date, f64)>;

/// Times per day, for the last `days` days (oldest first).
fn per_day(times: &[OffsetDateTime], today: Date, days: i64) -> Days {
    let mut count: BTreeMap<Date, f64> = BTreeMap::new();
    for t in times {
        *count.entry(t.date()).or_default() += 1.0;
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

/// Licences in use per recorded day (every product's seats used), and today's now.
fn in_use(history: &[DailyFigures], now: f64, today: Date) -> Vec<(String, f64)> {
    let mut series: Vec<(String, f64)> = history
        .iter()
        .filter(|d| d.day < today)
        .map(|d| {
            let used: u64 = d.products.iter().map(|p| p.seats_used).sum();
            (d.day.to_string(), used as f64)
        })
        .collect();
    series.push((today.to_string(), now));
    series
}

/// Restores and takes per day: the rules' restores (audit) and what runs and bulk actions
/// took or gave back (the ledger).
fn per_day_changes(
    restored: &[AuditEntry],
    ledger: &[LedgerEntry],
    today: Date,
    days: i64,
) -> (Days, Days) {
    let taken: Vec<OffsetDateTime> = ledger.iter().map(|l| l.at).collect();
    let mut given: Vec<OffsetDateTime> = restored.iter().map(|e| e.at).collect();
    given.extend(ledger.iter().filter_map(|l| l.closed_at));
    (per_day(&given, today, days), per_day(&taken, today, days))
}

/// The inactive threshold an admin's policies use for a product: the shortest of the enabled
/// policies naming it, else 30 days.
fn policy_days(ctx: &Context, key: &str) -> u32 {
    crate::flows::reclaim::policies::get(ctx)
        .map(|doc| {
            doc.policies
                .iter()
                .filter(|p| p.enabled && p.products.iter().any(|q| q.key() == key))
                .map(|p| p.inactive_after_days)
                .min()
                .unwrap_or(30)
        })
        .unwrap_or(30)
}

/// `GET /console`
pub async fn page(State(console): State<Console>, Signed(session): Signed) -> Response {
    let ctx = &console.flows;
    let sp = console.look.spelling;
    let now = OffsetDateTime::now_utc();
    let today = now.date();
    let month = today
        .replace_day(1)
        .unwrap_or(today)
        .midnight()
        .assume_utc();
    let gathered = (|| -> Result<_, FlowError> {
        let summary = query::summary(ctx, None, 30)?;
        let restored = since(ctx, AuditOutcome::Restored, now - Duration::days(30))?;
        let reclaimed = since(ctx, AuditOutcome::Reclaimed, month)?;
        let ledger = ctx.store.ledger_since(now - Duration::days(30))?;
        let failures = since(ctx, AuditOutcome::Failed, now - Duration::days(7))?.len();
        let pending = queries::requests(ctx, Some(RequestState::PendingApproval))?.len();
        let history = figures::history(ctx, 90)?;
        let sync = crate::flows::inventory::sync::status(ctx)?;
        Ok((
            summary, restored, reclaimed, ledger, failures, pending, history, sync,
        ))
    })();
    let (summary, restored, reclaimed, ledger, failures, pending, history, sync) = match gathered {
        Ok(g) => g,
        Err(e) => return failed(&console, &session, &e),
    };
    let restored_this_month = restored.iter().filter(|e| e.at >= month).count()
        + ledger
            .iter()
            .filter(|l| l.closed_at.is_some_and(|t| t >= month))
            .count();
    let reclaimed_this_month = ledger.iter().filter(|l| l.at >= month).count();
    let priced = !ctx.settings.reclaim.price_per_seat.is_empty();
    let saving = savings(ctx, &reclaimed, month);
    let threshold = ctx.settings.alerts.seat_threshold_percent;
    let used_now: f64 = summary.products.iter().map(|p| p.seats_used as f64).sum();
    let in_use = in_use(&history, used_now, today);
    let recorded_since = history.first().map(|d| d.day);
    let (ups, downs) = per_day_changes(&restored, &ledger, today, 30);
    let daily: Vec<(String, f64, f64)> = ups
        .iter()
        .zip(&downs)
        .map(|(u, d)| (u.0.to_string(), u.1, d.1))
        .collect();
    let inactive: Vec<(u32, usize)> = summary
        .products
        .iter()
        .map(|p| {
            let days = policy_days(ctx, &p.key);
            let n = if days == 30 {
                p.inactive_licensed
            } else {
                query::summary(ctx, Some(&p.key), days)
                    .ok()
                    .and_then(|s| s.products.first().map(|q| q.inactive_licensed))
                    .unwrap_or(p.inactive_licensed)
            };
            (days, n)
        })
        .collect();
    let admin = session.role == crate::http::api::Role::Admin;
    let body = html! {
            div.cards {
                div.card { div.muted { "Restored this month" } div.metric { (restored_this_month) } div.muted { "logins, requests, undo and bulk give-backs" } }
                div.card { div.muted { "Reclaimed this month" } div.metric { (reclaimed_this_month) } div.muted { "runs, leavers and bulk actions" } }
                div.card {
                    div.muted { "Estimated monthly savings" }
                    @if priced {
                        div.metric { (format!("{saving:.2}")) small { " " (ctx.settings.reclaim.currency) } }
                    } @else {
                        div.metric { "—" }
                        div.muted { "No seat price set: add " code { "[reclaim.price_per_seat]" } " (a price per product) to the configuration to estimate it." }
                    }
                }
                div.card { div.muted { "Pending approvals" } div.metric { a href="/console/requests" { (pending) } } }
                div.card { div.muted { "Failures in the last 7 days" } div.metric { a href="/console/audit?outcome=failed" { (failures) } } }
            }
            h2 { "Seats per product" }
            div.row-actions.sync {
                span.muted {
                    @match sync.synced_at {
                        Some(t) => { "Directory last read " (super::when(t)) "; seats since follow what reinstate took and gave at once." }
                        None => { "The directory has not been read yet." }
                    }
                    @match sync.state {
                        crate::store::SyncPhase::Requested => { " A sync is asked for." }
                        crate::store::SyncPhase::Running => { " A sync is running." }
                        crate::store::SyncPhase::Failed => { " The last sync stopped: " (sync.last_error.clone().unwrap_or_default()) }
                        _ => {}
                    }
                }
                @if admin {
                    form method="post" action="/console/sync" {
                        input type="hidden" name="csrf" value=(session.csrf);
                        button type="submit" { "Sync now" }
                    }
                }
            }
    (scroll("Seats per product", html! {
            table {
                thead { tr { th { "Product" } th { "Used" } th { "Total" } th { "Alert threshold" } th { "Inactive holders" } } }
                tbody {
                    @for (p, (days, n)) in summary.products.iter().zip(&inactive) {
                        tr {
                            td { (super::words::product_key(&p.key)) }
                            td { (p.seats_used) }
                            td { (p.seats_total.map_or("—".to_string(), |t| t.to_string())) }
                            td { @if threshold > 0 { (threshold) "%" } @else { "off" } }
                            td { a href={ "/console/users?licensed=yes&inactive_after=" (inactive_choice(*days)) "&product=" (filter_key(&p.key)) } { (n) } " (" (days) " days)" }
                        }
                    }
                }
            }
            }))
            h2 { (sp.say("Licences in use, last 90 days")) }
            div.card {
                (charts::line(&sp.say("Licences in use"), &in_use))
                p.muted {
                    @match recorded_since {
                        Some(first) => { "As recorded each day since " (first) " (a day with no record is left out), and now." }
                        None => { "Nothing recorded yet: reinstate records the day's figures every hour and after each sync." }
                    }
                }
            }
            h2 { "Restores and reclaims per day, last 30 days" }
            div.card { (charts::bars(("restored", "reclaimed"), &daily)) }
            (channels(&console))
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

/// Where people ask and approvers decide besides the portal: each channel, whether it is
/// configured, its last event and its last error.
fn channels(console: &Console) -> Markup {
    let ctx = &console.flows;
    let approvals = ctx.settings.slack_approvers_channel.as_deref();
    let slack = html! {
        @if ctx.settings.slack.is_some() {
            "yes" @if let Some(c) = approvals { ", approvals in " code { (c) } } @else { ", no approvers' channel" }
        } @else { "no (" code { "[sources.slack]" } ")" }
    };
    let teams = html! {
        @if ctx.settings.teams.is_some() {
            "yes" @if let Some((_, c)) = &ctx.settings.teams_approvers { ", approvals in " code { (c) } } @else { ", no approvers' conversation" }
        } @else { "no (" code { "[sources.teams]" } " with app_id and app_secret)" }
    };
    let services = &ctx.settings.mail_services;
    let mail = html! {
        @if services.is_empty() { "no (" code { "[sources.mail]" } ")" }
        @else { "yes, through " (services.join(" and ")) }
    };
    html! {
        h2 { "Channels" }
        (super::table::scroll("Channels", html! {
            table {
                thead { tr { th { "Channel" } th { "Configured" } th { "Last event" } th { "Last error" } } }
                tbody {
                    (channel(console, "Slack", "slack", slack))
                    (channel(console, "Microsoft Teams", "teams", teams))
                    (channel(console, "Email requests", "mail", mail))
                }
            }
        }))
    }
}

/// One channel's row: its name, how it is configured, its last event and its last error.
fn channel(console: &Console, name: &str, key: &str, configured: Markup) -> Markup {
    let at = |ms: i64| {
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
            .map_or_else(|_| "—".to_string(), super::when)
    };
    let state = console.flows.store.channel(key).unwrap_or_default();
    html! {
        tr {
            td { (name) }
            td { (configured) }
            td { @match &state.last_event { Some((t, what)) => { (at(*t)) " · " (what) } None => { "none yet" } } }
            td { @match &state.last_error { Some((t, what)) => { (at(*t)) " · " (what) } None => { "none" } } }
        }
    }
}

/// The Inactive Users page's choice for `days`: a preset, or custom.
fn inactive_choice(days: u32) -> String {
    if [30, 60, 90, 180].contains(&days) {
        days.to_string()
    } else {
        format!("custom&custom_days={days}")
    }
}

/// `POST /console/sync`: a sync of the directory now.
pub async fn sync_now(State(console): State<Console>, form: AdminForm) -> Response {
    match crate::flows::inventory::sync::request(&console.flows).await {
        Ok(_) => axum::response::Redirect::to("/console").into_response(),
        Err(e) => failed(&console, &form.session, &e),
    }
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
