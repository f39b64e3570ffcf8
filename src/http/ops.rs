//! Operations: liveness, readiness (the store and the bus usable, and, for a state process on
//! NATS, the state lease held), Prometheus metrics, and the OpenAPI document. They probe the
//! store and the bus themselves: they are not use-cases.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::http::routes::{Operation, Routes};
use serde_json::{Value, json};

use super::error::ApiError;
use crate::bus::Bus;
use crate::bus::lease::Ownership;
use crate::metrics::Metrics;
use crate::store::Store;

#[derive(Clone)]
pub struct Ops {
    /// None in an intake process.
    pub store: Option<Store>,
    pub bus: Arc<dyn Bus>,
    pub metrics: Arc<Metrics>,
    /// Whether this process owns the state (always, unless it must hold the lease first).
    pub ownership: Ownership,
    /// `all`, `intake` or `state`.
    pub role: &'static str,
}

/// The operations routes; `document` is the OpenAPI document, served as it is.
pub fn router(ops: Ops, document: Arc<Value>) -> Routes {
    Routes::default()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route(
            "/api/v1/openapi.json",
            get(move || async move { Json(document.as_ref().clone()) }),
        )
        .with_state(ops)
}

/// Liveness, readiness, metrics and the OpenAPI document.
pub fn operations() -> Vec<Operation> {
    use crate::http::routes::Access::*;
    vec![
        Operation::new(
            "get",
            "/healthz",
            "The process is up.",
            Anyone,
            ("200", "`{\"status\": \"ok\"}`"),
        ),
        Operation::new(
            "get",
            "/readyz",
            "The store and the bus are usable; emails waiting in the outbox.",
            Anyone,
            ("200", "ready (503 when not)"),
        ),
        Operation::new(
            "get",
            "/metrics",
            "Prometheus metrics.",
            Anyone,
            ("200", "text exposition format"),
        ),
        Operation::new(
            "get",
            "/api/v1/openapi.json",
            "This document.",
            Anyone,
            ("200", "OpenAPI 3.1"),
        ),
    ]
}

async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

async fn readyz(State(ops): State<Ops>) -> Result<Json<Value>, ApiError> {
    let probe = async {
        if let Some(store) = &ops.store {
            store.probe().await.map_err(|e| format!("store: {e}"))?;
        }
        ops.bus.ready().await.map_err(|e| format!("bus: {e}"))?;
        if ops.ownership.owns() {
            Ok(())
        } else {
            Err(ops.ownership.why())
        }
    };
    match tokio::time::timeout(Duration::from_secs(5), probe).await {
        Ok(Ok(())) => Ok(Json(json!({
            "status": "ready",
            "role": ops.role,
            "bus": ops.bus.kind(),
            "outbox": ops.store.as_ref().map(Store::outbox_len),
        }))),
        Ok(Err(detail)) => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            detail,
        )),
        Err(_) => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            "readiness probe timed out",
        )),
    }
}

/// `GET /metrics`
async fn metrics(State(ops): State<Ops>) -> Response {
    let m = &ops.metrics;
    if let Some(depth) = ops.bus.depth().await {
        m.bus_messages.set(depth.messages as i64);
        m.bus_pending.set(depth.pending as i64);
    }
    if let Some(store) = &ops.store {
        m.outbox.set(store.outbox_len() as i64);
        m.state_owner.set(i64::from(ops.ownership.owns()));
    }
    match m.encode() {
        Ok(body) => (
            [(
                axum::http::header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            body,
        )
            .into_response(),
        Err(e) => ApiError::internal(&e).into_response(),
    }
}
