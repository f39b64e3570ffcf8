//! Requests waiting for an admin: list, approve (the licence is then restored by a worker),
//! deny (the requester is told why).

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use schemars::generate::SchemaGenerator;
use serde::Deserialize;

use super::{Admin, Api, Viewer};
use crate::flows::{queries, requests};
use crate::http::body::AdminBody;
use crate::http::error::ApiError;
use crate::http::routes::{Operation, Routes, schema};
use crate::store::{RequestRecord, RequestState};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// A state (`pending_approval`, `approved`, `restored`, `denied`, `expired`, `failed`),
    /// `pending` for `pending_approval`, or `all`; pending by default.
    state: Option<String>,
}

/// `GET /api/v1/requests?state=pending|all|<state>`, oldest first.
pub async fn list(
    _: Viewer,
    State(api): State<Api>,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<RequestList>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))?;
    let filter = match q.state.as_deref().unwrap_or("pending") {
        "all" => None,
        "pending" => Some(RequestState::PendingApproval),
        other => Some(
            serde_json::from_value(serde_json::Value::String(other.into())).map_err(|_| {
                ApiError::bad_request(
                    "invalid_query",
                    format!("state: {other:?} is not a request state"),
                )
            })?,
        ),
    };
    let requests = queries::requests(&api.flows, filter)?;
    Ok(Json(RequestList { requests }))
}

/// The answer of `GET /api/v1/requests`.
#[derive(serde::Serialize, schemars::JsonSchema)]
pub struct RequestList {
    /// Oldest first, each with its history.
    pub requests: Vec<RequestRecord>,
}

/// The body of approve (optional) and deny.
#[derive(Deserialize, Default, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestDecision {
    /// Why (required to deny: the requester reads it).
    #[serde(default)]
    reason: Option<String>,
}

/// `POST /api/v1/requests/{id}/approve` `{"reason"?}`: the licence is restored by a worker
/// (no rule is asked again); the requester is told the outcome.
pub async fn approve(
    admin: Admin,
    State(api): State<Api>,
    Path(id): Path<String>,
    body: AdminBody,
) -> Result<(StatusCode, Json<RequestRecord>), ApiError> {
    let note = body.json_or_default::<RequestDecision>()?.reason;
    let request = requests::approve(&api.flows, &api.intake, &id, &admin.actor, note).await?;
    Ok((StatusCode::ACCEPTED, Json(request)))
}

/// `POST /api/v1/requests/{id}/deny` `{"reason"}`: closes the request and tells the requester.
pub async fn deny(
    admin: Admin,
    State(api): State<Api>,
    Path(id): Path<String>,
    body: AdminBody,
) -> Result<Json<RequestRecord>, ApiError> {
    let reason = body.json_or_default::<RequestDecision>()?.reason;
    Ok(Json(
        requests::deny(&api.flows, &id, &admin.actor, reason).await?,
    ))
}

/// Requests waiting for an admin.
pub(super) fn operations(g: &mut SchemaGenerator) -> Vec<Operation> {
    use crate::http::routes::Access::*;
    let (decision, request) = (schema::<RequestDecision>(g), schema::<RequestRecord>(g));
    vec![
        Operation::new(
            "get",
            "/api/v1/requests",
            "Requests (`state=pending|all|<state>`), with their history.",
            Viewer,
            ("200", "requests"),
        )
        .returns(schema::<RequestList>(g)),
        Operation::new(
            "post",
            "/api/v1/requests/{id}/approve",
            "Approves a pending request.",
            Admin,
            ("200", "the request (409 when not pending)"),
        )
        .body(decision.clone())
        .returns(request.clone()),
        Operation::new(
            "post",
            "/api/v1/requests/{id}/deny",
            "Denies a pending request, with a reason.",
            Admin,
            ("200", "the request (409 when not pending)"),
        )
        .body(decision)
        .returns(request),
    ]
}

/// Requests waiting for an admin.
pub(super) fn routes() -> Routes<Api> {
    Routes::default()
        .route("/api/v1/requests", get(list))
        .route("/api/v1/requests/{id}/approve", post(approve))
        .route("/api/v1/requests/{id}/deny", post(deny))
}
