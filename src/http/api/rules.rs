//! Rules: read, replace, explain ("why was I not restored?") and simulate a proposed list.

use axum::Json;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{self, post};
use schemars::generate::SchemaGenerator;
use serde::Deserialize;

use super::{Admin, Api, Viewer};
use crate::domain::rules::{RuleList, RuleSet};
use crate::flows::rules::{ExplainAnswer, ExplainRequest};
use crate::flows::simulate::{self, SimulateAnswer, Simulation};
use crate::http::body::{AdminBody, AdminJson};
use crate::http::error::ApiError;
use crate::http::routes::{Operation, Routes, schema};
use crate::store::RulesDoc;

/// `GET /api/v1/rules`
pub async fn get(_: Viewer, State(api): State<Api>) -> Result<Json<RulesDoc>, ApiError> {
    Ok(Json(crate::flows::queries::rules(&api.flows)?))
}

/// `PUT /api/v1/rules`: replaces the whole ordered list.
pub async fn put(
    admin: Admin,
    State(api): State<Api>,
    body: AdminBody,
) -> Result<Json<RulesDoc>, ApiError> {
    let list = RuleList::parse(body.json_only()?)
        .map_err(|e| ApiError::bad_request("invalid_rules", e.to_string()))?;
    Ok(Json(
        crate::flows::rules::replace(&api.flows, list.rules, &admin.actor).await?,
    ))
}

/// `POST /api/v1/rules/explain`: the decision the live rules make for a user. Acts on nothing.
pub async fn explain(
    _: Viewer,
    State(api): State<Api>,
    AdminJson(req): AdminJson<ExplainRequest>,
) -> Result<Json<ExplainAnswer>, ApiError> {
    Ok(Json(crate::flows::rules::explain(&api.flows, req).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimulateQuery {
    format: Option<String>,
}

/// `POST /api/v1/rules/simulate[?format=csv]`: a proposed rule list against every known user,
/// next to the live rules, without acting.
pub async fn simulate(
    _: Viewer,
    State(api): State<Api>,
    query: Result<Query<SimulateQuery>, axum::extract::rejection::QueryRejection>,
    body: AdminBody,
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
    let proposed = RuleList::parse(body.json_only()?)
        .map_err(|e| ApiError::bad_request("invalid_rules", e.to_string()))?;
    let result = simulate::simulate(&api.flows, RuleSet::compile(&proposed.rules)).await?;
    if csv {
        return changes_csv(&result);
    }
    Ok(Json(simulate::answer(result)).into_response())
}

/// Every change, as CSV.
fn changes_csv(result: &Simulation) -> Result<Response, ApiError> {
    let internal = |e: &dyn std::fmt::Display| ApiError::internal(e);
    let mut out = super::csv::writer();
    out.write_record([
        "email",
        "product",
        "live_outcome",
        "live_rule",
        "proposed_outcome",
        "proposed_rule",
    ])
    .map_err(|e| internal(&e))?;
    for c in &result.changes {
        let row = [
            c.email.as_str(),
            c.product.key(),
            c.live_outcome,
            c.live_rule.as_deref().unwrap_or(""),
            c.proposed_outcome,
            c.proposed_rule.as_deref().unwrap_or(""),
        ];
        out.write_record(row.map(super::csv::safe_cell))
            .map_err(|e| internal(&e))?;
    }
    let bytes = out.into_inner().map_err(|e| internal(&e))?;
    Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], bytes).into_response())
}

/// Rules, explain and simulate.
pub(super) fn operations(g: &mut SchemaGenerator) -> Vec<Operation> {
    use crate::http::routes::Access::*;
    let (rules, doc) = (schema::<RuleList>(g), schema::<RulesDoc>(g));
    vec![
        Operation::new(
            "get",
            "/api/v1/rules",
            "The live rules.",
            Viewer,
            ("200", "the rules document"),
        )
        .returns(doc.clone()),
        Operation::new(
            "put",
            "/api/v1/rules",
            "Replaces the rules (audited with who and what changed).",
            Admin,
            ("200", "the stored rules"),
        )
        .body(rules.clone())
        .returns(doc),
        Operation::new(
            "post",
            "/api/v1/rules/explain",
            "The decision the live rules make for a user, condition by condition.",
            Viewer,
            ("200", "per product: the decision and its trace"),
        )
        .body(schema::<ExplainRequest>(g))
        .returns(schema::<ExplainAnswer>(g)),
        Operation::new(
            "post",
            "/api/v1/rules/simulate",
            "What proposed rules would change over every known user (`?format=csv`).",
            Viewer,
            ("200", "counts and changes (JSON or CSV)"),
        )
        .body(rules)
        .returns(schema::<SimulateAnswer>(g)),
    ]
}

/// Rules, explain and simulate.
pub(super) fn routes() -> Routes<Api> {
    Routes::default()
        .route("/api/v1/rules", routing::get(get).put(put))
        .route("/api/v1/rules/explain", post(explain))
        .route("/api/v1/rules/simulate", post(simulate))
}
