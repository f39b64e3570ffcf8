//! Requests waiting for an admin: list, approve (the licence is then restored by a worker),
//! deny (the requester is told why). Every step is kept in the request's history and audited.

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use time::OffsetDateTime;

use super::{Admin, Viewer, parse_json};
use crate::app::AppState;
use crate::event::{Event, EventKind, EventUser, Source};
use crate::http_error::ApiError;
use crate::ingress::read_body;
use crate::notify::OutboxEmail;
use crate::store::{
    AuditEntry, AuditOutcome, EventOutcome, RequestChange, RequestRecord, RequestState,
};

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
    State(state): State<Arc<AppState>>,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
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
    let requests = state
        .store
        .requests(filter)
        .map_err(|e| ApiError::internal(&e))?;
    Ok(Json(
        serde_json::to_value(RequestList { requests }).map_err(|e| ApiError::internal(&e))?,
    ))
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
pub struct Decision {
    /// Why (required to deny: the requester reads it).
    #[serde(default)]
    reason: Option<String>,
}

fn pending(state: &AppState, id: &str) -> Result<RequestRecord, ApiError> {
    let request = state
        .store
        .request(id)
        .map_err(|e| ApiError::internal(&e))?
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "unknown_request",
                format!("no request {id:?}"),
            )
        })?;
    if request.state != RequestState::PendingApproval {
        let state = serde_json::to_value(request.state).unwrap_or_default();
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "not_pending",
            format!(
                "request {id} is {}, not pending approval",
                state.as_str().unwrap_or("closed")
            ),
        ));
    }
    Ok(request)
}

async fn body_of(headers: &HeaderMap, body: Body) -> Result<Decision, ApiError> {
    let bytes = read_body(headers, body, crate::ingress::MAX_BODY).await?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Decision::default());
    }
    parse_json(&bytes, "invalid_request")
}

fn audit(
    request: &RequestRecord,
    outcome: AuditOutcome,
    actor: &str,
    reason: String,
) -> AuditEntry {
    let mut entry = AuditEntry::new(outcome, reason);
    entry.user = Some(request.email.clone());
    entry.account_id = request.account_id.clone();
    entry.product = Some(request.product);
    entry.source = Some(Source::Admin);
    entry.event_id = Some(request.event_id.clone());
    entry.actor = Some(actor.to_string());
    entry
}

/// `POST /api/v1/requests/{id}/approve` `{"reason"?}`: the licence is restored by a worker
/// (no rule is asked again); the requester is told the outcome.
pub async fn approve(
    admin: Admin,
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let decision = body_of(&headers, body).await?;
    let mut request = pending(&state, &id)?;
    let note = decision.reason.unwrap_or_else(|| "approved".into());
    request.step(RequestState::Approved, &admin.actor, note.clone());
    let entry = audit(
        &request,
        AuditOutcome::Approved,
        &admin.actor,
        format!("request {id} approved: {note}"),
    );
    // Recorded before the restore is queued, so the worker's outcome always comes after it.
    state
        .store
        .record(EventOutcome {
            requests: vec![RequestChange::Update(request.clone())],
            audit: vec![entry],
            ..Default::default()
        })
        .await
        .map_err(|e| ApiError::internal(&e))?;
    let now = OffsetDateTime::now_utc();
    let event = Event {
        request: Some(id.clone()),
        ..Event::new(
            Source::Admin,
            &format!("approve-{id}"),
            EventKind::Restore,
            EventUser::new(request.email.clone(), request.account_id.clone()),
            Some(request.product),
            now,
        )
    };
    if let Err(e) = state.bus.publish(&event).await {
        tracing::warn!(error = %e, "approval not queued; the request goes back to pending");
        request.step(
            RequestState::PendingApproval,
            "reinstate",
            "the approval could not be queued; approve again",
        );
        let _ = state
            .store
            .record(EventOutcome {
                requests: vec![RequestChange::Update(request)],
                ..Default::default()
            })
            .await;
        return Err(ApiError::unavailable(
            "the approval could not be queued right now; approve again in a minute",
        ));
    }
    Ok((
        StatusCode::ACCEPTED,
        Json(serde_json::to_value(&request).map_err(|e| ApiError::internal(&e))?),
    ))
}

/// `POST /api/v1/requests/{id}/deny` `{"reason"}`: closes the request and tells the requester.
/// A denial never blocks a later request.
pub async fn deny(
    admin: Admin,
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<serde_json::Value>, ApiError> {
    let decision = body_of(&headers, body).await?;
    let reason = decision
        .reason
        .filter(|r| !r.trim().is_empty() && r.len() <= 1000)
        .ok_or_else(|| {
            ApiError::bad_request(
                "invalid_request",
                "reason: say why (1 to 1000 characters); the requester reads it",
            )
        })?;
    let mut request = pending(&state, &id)?;
    request.step(RequestState::Denied, &admin.actor, reason.clone());
    let p = request.product.key();
    let email = OutboxEmail::new(
        "requester_outcome",
        &[request.email.to_string()],
        format!("[reinstate] Your request for {p} was not granted"),
        format!(
            "An administrator did not grant your request for a {p} licence.\n\nTheir reason: {reason}\n\nYou can ask again later."
        ),
    );
    let entry = audit(
        &request,
        AuditOutcome::Denied,
        &admin.actor,
        format!("request {id} denied: {reason}"),
    );
    state
        .store
        .record(EventOutcome {
            requests: vec![RequestChange::Update(request.clone())],
            audit: vec![entry],
            emails: vec![email],
            ..Default::default()
        })
        .await
        .map_err(|e| ApiError::internal(&e))?;
    Ok(Json(
        serde_json::to_value(&request).map_err(|e| ApiError::internal(&e))?,
    ))
}
