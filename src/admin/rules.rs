//! Rules: read, replace, explain ("why was I not restored?") and simulate a proposed list.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::{Admin, Viewer, parse_json};
use crate::app::AppState;
use crate::directory::CallLog;
use crate::event::{Email, EventUser, Product, Source};
use crate::http_error::ApiError;
use crate::ingress::read_body;
use crate::rules::{Facts, RuleList, RuleSet};
use crate::worker::{LookedUp, Stop, look_up};

/// `GET /api/v1/rules`
pub async fn get(
    _: Viewer,
    State(state): State<Arc<AppState>>,
) -> Result<Json<serde_json::Value>, ApiError> {
    rules_json(&state)
}

fn rules_json(state: &AppState) -> Result<Json<serde_json::Value>, ApiError> {
    let doc = state.store.rules().map_err(|e| ApiError::internal(&e))?;
    Ok(Json(
        serde_json::to_value(doc).map_err(|e| ApiError::internal(&e))?,
    ))
}

/// `PUT /api/v1/rules`: replaces the whole ordered list.
pub async fn put(
    admin: Admin,
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<serde_json::Value>, ApiError> {
    let body = read_body(&headers, body, crate::ingress::MAX_ADMIN_BODY).await?;
    let list = RuleList::parse(&body)
        .map_err(|e| ApiError::bad_request("invalid_rules", e.to_string()))?;
    let doc = state
        .store
        .replace_rules(list.rules, &admin.actor)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    tracing::info!(actor = %admin.actor, version = doc.version, "rules replaced");
    rules_json(&state)
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExplainUser {
    email: String,
    #[serde(default)]
    account_id: Option<String>,
    #[serde(default)]
    roles: Vec<String>,
    #[serde(default)]
    groups: Vec<String>,
}

/// A user, or a login event body as sent (its `type` and `occurred_at` are ignored).
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExplainRequest {
    user: ExplainUser,
    #[serde(default)]
    product: Option<Product>,
    #[serde(default)]
    source: Option<Source>,
    #[serde(default, rename = "type")]
    _type: Option<String>,
    #[serde(default)]
    occurred_at: Option<String>,
}

#[derive(Serialize, schemars::JsonSchema)]
pub struct ProductExplanation {
    product: Product,
    already_licensed: bool,
    previously_reclaimed: bool,
    seats: crate::rules::Seats,
    #[serde(flatten)]
    explanation: crate::rules::Explanation,
}

/// `POST /api/v1/rules/explain`: the decision the live rules make for a user, with the
/// directory's view of them, and rule by rule which condition matched or failed. Acts on nothing.
pub async fn explain(
    _: Viewer,
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<serde_json::Value>, ApiError> {
    let body = read_body(&headers, body, crate::ingress::MAX_ADMIN_BODY).await?;
    let req: ExplainRequest = parse_json(&body, "invalid_request")?;
    let _ = req.occurred_at;
    let email = Email::parse(&req.user.email)
        .map_err(|e| ApiError::bad_request("invalid_request", format!("user.email: {e}")))?;
    let source = req.source.unwrap_or(Source::Login);
    let event_user = EventUser {
        email: email.clone(),
        account_id: req.user.account_id,
        roles: req.user.roles,
        groups: req.user.groups,
    };
    let mut calls = CallLog::with_metrics(state.metrics.clone(), state.directory.kind());
    let known = state
        .store
        .user(&email)
        .map_err(|e| ApiError::internal(&e))?
        .and_then(|u| u.account_id);
    let found = match look_up(
        state.directory.as_ref(),
        &event_user,
        known.as_deref(),
        req.product,
        &mut calls,
    )
    .await
    {
        Ok(found) => found,
        Err(Stop::Retry(e)) => {
            return Err(ApiError::unavailable(format!(
                "the directory could not be asked: {e}"
            )));
        }
        Err(Stop::End(outcome, reason)) => {
            return answer(ExplainAnswer {
                email,
                outcome: Some(outcome),
                reason: Some(reason),
                account_id: None,
                groups: None,
                roles: None,
                source: None,
                products: Vec::new(),
            });
        }
    };
    let LookedUp {
        user,
        groups,
        targets,
    } = found;
    let known = state
        .store
        .user(&email)
        .map_err(|e| ApiError::internal(&e))?;
    let rules = state
        .store
        .compiled_rules()
        .map_err(|e| ApiError::internal(&e))?;
    let products: Vec<ProductExplanation> = targets
        .iter()
        .map(|access| {
            let reclaimed = known
                .as_ref()
                .and_then(|u| u.products.get(&access.product))
                .is_some_and(|p| p.reclaimed.is_some());
            let facts = Facts::new(
                &email,
                &groups,
                &event_user.roles,
                access.product,
                source,
                reclaimed,
            );
            let already = groups.iter().any(|g| {
                access
                    .access_groups
                    .iter()
                    .any(|a| a.eq_ignore_ascii_case(g))
            });
            ProductExplanation {
                product: access.product,
                already_licensed: already,
                previously_reclaimed: reclaimed,
                seats: access.seats,
                explanation: rules.explain(&facts, Some(access.seats)),
            }
        })
        .collect();
    answer(ExplainAnswer {
        email,
        outcome: None,
        reason: None,
        account_id: Some(user.account_id),
        groups: Some(groups),
        roles: Some(event_user.roles),
        source: Some(source),
        products,
    })
}

fn answer<T: Serialize>(body: T) -> Result<Json<serde_json::Value>, ApiError> {
    Ok(Json(
        serde_json::to_value(body).map_err(|e| ApiError::internal(&e))?,
    ))
}

/// The answer of `POST /api/v1/rules/explain`. When the user cannot be decided for (unknown,
/// deactivated, …) it carries `outcome` and `reason` and no products.
#[derive(Serialize, schemars::JsonSchema)]
pub struct ExplainAnswer {
    email: Email,
    #[serde(skip_serializing_if = "Option::is_none")]
    outcome: Option<crate::store::AuditOutcome>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    account_id: Option<String>,
    /// Groups from the directory and the identity provider together.
    #[serde(skip_serializing_if = "Option::is_none")]
    groups: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    roles: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    source: Option<Source>,
    products: Vec<ProductExplanation>,
}

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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimulateQuery {
    format: Option<String>,
}

/// One user and product whose outcome the proposed rules would change.
#[derive(Serialize, schemars::JsonSchema)]
pub struct Change {
    email: Email,
    product: Product,
    live_outcome: &'static str,
    live_rule: Option<String>,
    proposed_outcome: &'static str,
    proposed_rule: Option<String>,
}

/// Changes listed in the JSON answer; the CSV has them all.
const MAX_CHANGES_LISTED: usize = 1000;

/// `POST /api/v1/rules/simulate[?format=csv]`: evaluates a proposed rule list against every
/// known user (their last-seen groups and roles) without acting, next to the live rules.
pub async fn simulate(
    _: Viewer,
    State(state): State<Arc<AppState>>,
    query: Result<Query<SimulateQuery>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))?;
    let csv = match q.format.as_deref() {
        None | Some("json") => false,
        Some("csv") => true,
        Some(other) => {
            return Err(ApiError::bad_request(
                "invalid_query",
                format!("format: {other:?} is not json or csv"),
            ));
        }
    };
    let body = read_body(&headers, body, crate::ingress::MAX_ADMIN_BODY).await?;
    let proposed = RuleList::parse(&body)
        .map_err(|e| ApiError::bad_request("invalid_rules", e.to_string()))?;
    let live = state
        .store
        .compiled_rules()
        .map_err(|e| ApiError::internal(&e))?;
    let store = state.store.clone();
    // CPU-bound over every user: off the async threads.
    let result = tokio::task::spawn_blocking(move || {
        run_simulation(&store, &live, &RuleSet::compile(&proposed.rules))
    })
    .await
    .map_err(|e| ApiError::internal(&e))?
    .map_err(|e| ApiError::internal(&e))?;
    if csv {
        let mut out = crate::admin::audit::csv_writer();
        out.write_record([
            "email",
            "product",
            "live_outcome",
            "live_rule",
            "proposed_outcome",
            "proposed_rule",
        ])
        .map_err(|e| ApiError::internal(&e))?;
        for c in &result.changes {
            out.write_record(
                [
                    c.email.as_str(),
                    c.product.key(),
                    c.live_outcome,
                    c.live_rule.as_deref().unwrap_or(""),
                    c.proposed_outcome,
                    c.proposed_rule.as_deref().unwrap_or(""),
                ]
                .map(crate::admin::audit::safe_cell),
            )
            .map_err(|e| ApiError::internal(&e))?;
        }
        let bytes = out.into_inner().map_err(|e| ApiError::internal(&e))?;
        return Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], bytes).into_response());
    }
    let changed_total = result.changes.len();
    let mut changed = result.changes;
    changed.truncate(MAX_CHANGES_LISTED);
    Ok(answer(SimulateAnswer {
        users: result.users,
        decisions: result.decisions,
        counts: result.proposed_counts,
        live_counts: result.live_counts,
        changed_total,
        changed,
    })?
    .into_response())
}

pub struct Simulation {
    pub users: usize,
    pub decisions: usize,
    pub live_counts: BTreeMap<&'static str, usize>,
    pub proposed_counts: BTreeMap<&'static str, usize>,
    pub changes: Vec<Change>,
}

fn outcome_key(o: crate::rules::Outcome) -> &'static str {
    match o {
        crate::rules::Outcome::Restore => "restore",
        crate::rules::Outcome::Approve => "approve",
        crate::rules::Outcome::Deny => "deny",
    }
}

/// Evaluates both rule sets for every known user and product; pure apart from reading users.
pub fn run_simulation(
    store: &crate::store::Store,
    live: &RuleSet,
    proposed: &RuleSet,
) -> Result<Simulation, crate::store::StoreError> {
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
