//! A run's end: once every action is settled it is marked done (once, whoever gets there
//! first), and the admins get its summary — seats freed per product and what that saves.

use std::collections::BTreeMap;

use time::OffsetDateTime;

use super::super::Context;
use crate::domain::reclaim::Step;
use crate::store::{EntryResult, EventOutcome, RunEntry, RunKind, RunRecord, RunState, StoreError};

/// Counts of a run's entries, for its summary and its page.
#[derive(Debug, Default, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct Counts {
    /// Entries by step (`warn`, `remove-product-access`, `protected`, …).
    pub steps: BTreeMap<String, u32>,
    /// Entries by result (`planned`, `done`, `failed`, `skipped`, `preview`).
    pub results: BTreeMap<String, u32>,
    /// Seats freed per product key (licences taken, done).
    pub seats_freed: BTreeMap<String, u32>,
    /// The monthly saving per product key, from `reclaim.price_per_seat`.
    pub monthly_saving: BTreeMap<String, f64>,
}

/// Steps that take the whole account: they free every product it holds.
const ACCOUNT_WIDE: [&str; 5] = [
    "suspend",
    "deactivate",
    "remove-all-access",
    "delete",
    "disable-licences",
];

/// Records with each entry that takes licences the products whose seats it frees: its product,
/// or for an account-wide step every product the inventory shows the account licensed for.
pub fn note_seats(ctx: &Context, entries: &mut [RunEntry]) {
    for e in entries {
        if ACCOUNT_WIDE.contains(&e.step.as_str()) {
            let held = ctx.store.account(&e.account_id).ok().flatten();
            e.frees = held
                .map(|a| {
                    a.products
                        .iter()
                        .filter(|(_, u)| u.licensed)
                        .map(|(k, _)| k.clone())
                        .collect()
                })
                .unwrap_or_default();
        }
    }
}

/// The counts of a run's entries.
pub fn counts(ctx: &Context, entries: &[RunEntry]) -> Counts {
    let mut c = Counts::default();
    // A step takes licences when it takes the whole account, or one product.
    let product_takes = [
        Step::Take(crate::domain::reclaim::TakeAction::RemoveProductAccess).key(),
        "revoke-product-access",
    ];
    let takes = |step: &str| ACCOUNT_WIDE.contains(&step) || product_takes.contains(&step);
    for e in entries {
        *c.steps.entry(e.step.clone()).or_default() += 1;
        let result = serde_json::to_value(e.result)
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default();
        *c.results.entry(result).or_default() += 1;
        let freed = e.result == EntryResult::Done || e.result == EntryResult::Preview;
        if freed && takes(&e.step) {
            if e.frees.is_empty() {
                let product = e.product.map_or("all products", |p| p.key());
                *c.seats_freed.entry(product.to_string()).or_default() += 1;
            }
            for product in &e.frees {
                *c.seats_freed.entry(product.clone()).or_default() += 1;
            }
        }
    }
    for (product, n) in &c.seats_freed {
        if let Some(price) = ctx.settings.reclaim.price_per_seat.get(product) {
            c.monthly_saving
                .insert(product.clone(), price * f64::from(*n));
        }
    }
    c
}

/// Marks the run done and, for a real run of the policies, emails the admins its summary.
pub async fn finish(ctx: &Context, run_id: &str) -> Result<(), StoreError> {
    if !ctx.store.claim_finish(run_id)? {
        return Ok(());
    }
    let Some(mut run) = ctx.store.run(run_id)? else {
        return Ok(());
    };
    run.state = RunState::Done;
    run.finished_at = Some(OffsetDateTime::now_utc());
    let admins = &ctx.settings.alerts.emails;
    let mut emails = Vec::new();
    if run.kind == RunKind::Reclaim && !run.dry_run && !admins.is_empty() {
        let entries = ctx.store.run_entries(run_id)?;
        emails.push(summary(ctx, &run, &counts(ctx, &entries), admins));
        run.summary_sent = true;
    }
    ctx.store.put_run(&run, &[], None).await?;
    if !emails.is_empty() {
        ctx.store
            .record(EventOutcome {
                emails,
                ..Default::default()
            })
            .await?;
    }
    tracing::info!(run = %run_id, kind = ?run.kind, "run finished");
    Ok(())
}

fn summary(
    ctx: &Context,
    run: &RunRecord,
    counts: &Counts,
    admins: &[String],
) -> crate::store::OutboxEmail {
    let currency = &ctx.settings.reclaim.currency;
    let mut lines = Vec::new();
    for (product, n) in &counts.seats_freed {
        let saving = counts
            .monthly_saving
            .get(product)
            .map(|s| format!(", about {s:.2} {currency} a month"))
            .unwrap_or_default();
        lines.push(format!("  {product}: {n} seats freed{saving}"));
    }
    if lines.is_empty() {
        lines.push("  no seat was freed".into());
    }
    let total: f64 = counts.monthly_saving.values().sum();
    let steps = counts
        .steps
        .iter()
        .map(|(s, n)| format!("{s} {n}"))
        .collect::<Vec<_>>()
        .join(", ");
    let failed = counts.results.get("failed").copied().unwrap_or(0);
    let base = ctx.settings.public_url.trim_end_matches('/');
    crate::notify::email(
        ctx.settings.spelling,
        "reclaim_summary",
        admins,
        format!(
            "[reinstate] reclaim run {}: {} seats freed",
            run.id,
            counts.seats_freed.values().sum::<u32>()
        ),
        format!(
            "The reclaim run {id} has finished.\n\n{lines}\n\nEstimated monthly saving: {total:.2} {currency}.\n\
             Users flagged: {steps}. Failed: {failed}.\n\nEvery user and action, with the reason: \
             {base}/api/v1/reclaim/runs/{id}.csv\nTo give back what this run took: POST \
             {base}/api/v1/reclaim/runs/{id}/undo",
            id = run.id,
            lines = lines.join("\n"),
        ),
    )
}
