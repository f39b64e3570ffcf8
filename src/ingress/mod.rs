//! Receivers: authenticate the sender over the raw bytes, validate and normalise the body into
//! an `Event`, publish it, and answer 202 only once the bus has durably accepted it.

use std::sync::Arc;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use time::OffsetDateTime;
use tracing::Instrument;

use crate::app::AppState;

pub mod atlassian_audit;
pub mod keycloak;
pub mod okta;
use crate::bus::Published;
use crate::event::{self, Event};
use crate::http_error::ApiError;
use crate::signature::{self, SignatureError, SignedHeaders, WebhookSecret};

/// Largest body a receiver reads.
pub const MAX_BODY: usize = 64 * 1024;
/// Largest admin body (a rule list of a few thousand rules).
pub const MAX_ADMIN_BODY: usize = 4 * 1024 * 1024;

/// Settings of the login receiver.
pub struct LoginSource {
    pub secrets: Vec<WebhookSecret>,
    pub tolerance_secs: i64,
}

/// Reads at most `limit` bytes, answering 413 past that (before reading it all).
pub async fn read_body(headers: &HeaderMap, body: Body, limit: usize) -> Result<Bytes, ApiError> {
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("the body is larger than {limit} bytes"),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| too_large())
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// `POST /v1/hooks/login`: a Standard Webhooks signed login event.
pub async fn login(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Result<impl IntoResponse, ApiError> {
    let body = read_body(&headers, body, MAX_BODY).await?;
    let source = &state.login;
    let now = OffsetDateTime::now_utc();
    let signed = SignedHeaders {
        id: header(&headers, signature::HEADER_ID),
        timestamp: header(&headers, signature::HEADER_TIMESTAMP),
        signature: header(&headers, signature::HEADER_SIGNATURE),
    };
    let id = signature::verify(
        &source.secrets,
        &signed,
        &body,
        now.unix_timestamp(),
        source.tolerance_secs,
    )
    .map_err(|e| {
        tracing::info!(reason = %e, "login webhook rejected");
        let code = match e {
            SignatureError::OutsideTolerance(_) => "timestamp_out_of_tolerance",
            SignatureError::MissingHeader(_) | SignatureError::MalformedHeader(_) => {
                "missing_signature"
            }
            SignatureError::NoMatch => "invalid_signature",
        };
        ApiError::unauthorized(code, e.to_string())
    })?;
    let event = event::parse_login(id, &body, now)
        .map_err(|e| ApiError::bad_request("invalid_event", e.to_string()))?;
    accept(&state, event).await
}

/// Publishes a validated event; 202 once durable, 503 when the bus cannot take it.
pub async fn accept(
    state: &AppState,
    event: Event,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    // One span per event, carrying its id (the worker's span carries it on).
    let span = tracing::info_span!("ingress", id = %event.id, user = %event.user_key());
    publish(state, event).instrument(span).await
}

async fn publish(
    state: &AppState,
    event: Event,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    // Handled before (later than the bus's duplicate window): accept and do nothing more.
    match state.store.processed(event.id.as_str()) {
        Ok(Some(_)) => return Ok(accepted(&event, "duplicate")),
        Ok(None) => {}
        Err(e) => return Err(ApiError::internal(&e)),
    }
    // A disk that cannot keep what is accepted refuses it instead.
    if let Err(e) = state.store.writable() {
        return Err(ApiError::unavailable(e.to_string()));
    }
    let started = std::time::Instant::now();
    let published = state.bus.publish(&event).await;
    state
        .metrics
        .publish_seconds
        .observe(started.elapsed().as_secs_f64());
    match published {
        Ok(Published::New) => {
            tracing::info!("event accepted");
            Ok(accepted(&event, "accepted"))
        }
        Ok(Published::Duplicate) => Ok(accepted(&event, "duplicate")),
        Err(e) => {
            tracing::warn!(id = %event.id, error = %e, "event not accepted: bus unavailable");
            Err(ApiError::unavailable(
                "the event could not be stored durably right now; retry later",
            ))
        }
    }
}

fn accepted(event: &Event, status: &str) -> (StatusCode, Json<serde_json::Value>) {
    (
        StatusCode::ACCEPTED,
        Json(serde_json::json!({ "id": event.id.as_str(), "status": status })),
    )
}
