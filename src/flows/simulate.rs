//! Simulating a proposed rule list: every known user (their last-seen groups and roles) decided
//! by it and by the live rules, without acting; the counts, and whose outcome would change.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{Context, FlowError};
use crate::domain::rules::{Facts, Outcome, RuleSet};
use crate::domain::{Email, Product, Source};
use crate::store::{Store, StoreError};

/// The JSON answer of `POST /api/v1/rules/simulate`.
#[derive(Serialize, schemars::JsonSchema)]
pub struct SimulateAnswer {
    /// Users evaluated.
    users: usize,
    /// User and product pairs decided.
    decisions: usize,
    /// Outcomes under the proposed rules.
    counts: BTreeMap<&'static str, usize>,
    /// Outcomes under the live rules.
    live_counts: BTreeMap<&'static str, usize>,
    changed_total: usize,
    /// The first 1,000 changes (the CSV has them all).
    changed: Vec<Change>,
}

/// One user and product whose outcome the proposed rules would change.
#[derive(Serialize, schemars::JsonSchema)]
pub struct Change {
    pub email: Email,
    pub product: Product,
    pub live_outcome: &'static str,
    pub live_rule: Option<String>,
    pub proposed_outcome: &'static str,
    pub proposed_rule: Option<String>,
}

/// Changes listed in the JSON answer; the CSV has them all.
const MAX_CHANGES_LISTED: usize = 1000;

/// Simulates `proposed` next to the live rules, off the async threads (CPU-bound over every
/// user).
pub async fn simulate(ctx: &Context, proposed: RuleSet) -> Result<Simulation, FlowError> {
    let live = ctx.store.compiled_rules()?;
    let store = ctx.store.clone();
    let run = tokio::task::spawn_blocking(move || run_simulation(&store, &live, &proposed));
    run.await
        .map_err(|e| FlowError::Unavailable(format!("the simulation stopped: {e}")))?
        .map_err(FlowError::from)
}

/// The answer with at most the first `MAX_CHANGES_LISTED` changes.
pub fn answer(result: Simulation) -> SimulateAnswer {
    let changed_total = result.changes.len();
    let mut changed = result.changes;
    changed.truncate(MAX_CHANGES_LISTED);
    SimulateAnswer {
        users: result.users,
        decisions: result.decisions,
        counts: result.proposed_counts,
        live_counts: result.live_counts,
        changed_total,
        changed,
    }
}

pub struct Simulation {
    pub users: usize,
    pub decisions: usize,
    pub live_counts: BTreeMap<&'static str, usize>,
    pub proposed_counts: BTreeMap<&'static str, usize>,
    pub changes: Vec<Change>,
}

fn outcome_key(o: Outcome) -> &'static str {
    match o {
        Outcome::Restore => "restore",
        Outcome::Approve => "approve",
        Outcome::Deny => "deny",
    }
}

/// Evaluates both rule sets for every known user and product; pure apart from reading users.
pub fn run_simulation(
    store: &Store,
    live: &RuleSet,
    proposed: &RuleSet,
) -> Result<Simulation, StoreError> {
    let mut sim = Simulation {
        users: 0,
        decisions: 0,
        live_counts: BTreeMap::new(),
        proposed_counts: BTreeMap::new(),
        changes: Vec::new(),
    };
    for user in store.users() {
        let user = user?;
        sim.users += 1;
        for (product, state) in &user.products {
            sim.decisions += 1;
            if state.licensed {
                *sim.live_counts.entry("already_licensed").or_default() += 1;
                *sim.proposed_counts.entry("already_licensed").or_default() += 1;
                continue;
            }
            let facts = Facts::new(
                &user.email,
                &user.groups,
                &user.roles,
                *product,
                Source::Login,
                state.reclaimed.is_some(),
            );
            let (a, b) = (live.decide(&facts, None), proposed.decide(&facts, None));
            *sim.live_counts.entry(outcome_key(a.outcome)).or_default() += 1;
            *sim.proposed_counts
                .entry(outcome_key(b.outcome))
                .or_default() += 1;
            if a.outcome != b.outcome {
                sim.changes.push(Change {
                    email: user.email.clone(),
                    product: *product,
                    live_outcome: outcome_key(a.outcome),
                    live_rule: a.rule,
                    proposed_outcome: outcome_key(b.outcome),
                    proposed_rule: b.rule,
                });
            }
        }
    }
    Ok(sim)
}
