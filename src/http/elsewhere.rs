//! What a process answers for the parts another process serves (`server.role`): an intake
//! names the state service for the admin API and the console, the state service names the
//! intake for the receivers; and a state process that does not hold the state lease refuses
//! the admin API and the console (`503`) rather than act on a store that is not the state.

use axum::Router;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, any};

use super::error::ApiError;
use crate::bus::lease::Ownership;

/// Answers `404 not_here` with `detail`, whatever the method.
fn answer(detail: String) -> MethodRouter {
    any(move || {
        let detail = detail.clone();
        async move { ApiError::new(StatusCode::NOT_FOUND, "not_here", detail).into_response() }
    })
}

/// `404 not_here` for a path and everything under it.
fn not_here(detail: String) -> Router {
    Router::new()
        .route("/", answer(detail.clone()))
        .route("/{*rest}", answer(detail))
}

fn at(url: &Option<String>) -> String {
    url.as_ref().map(|u| format!(" at {u}")).unwrap_or_default()
}

/// The admin API and the console, from an intake process.
pub fn state_service(state_url: &Option<String>) -> Router {
    let detail = format!(
        "this process only receives events (server.role = \"intake\"): the admin API and the \
         console are served by the state service{}",
        at(state_url)
    );
    let here = not_here(detail.clone());
    Router::new()
        .nest("/api", here.clone())
        .nest("/console", here)
        .route("/", answer(detail))
}

/// The receivers, from a state process.
pub fn intake_service(intake_url: &Option<String>) -> Router {
    let detail = format!(
        "this process keeps the state (server.role = \"state\"): webhooks, email links and the \
         portal are received by the intake service{}",
        at(intake_url)
    );
    let here = not_here(detail);
    Router::new()
        .nest("/v1", here.clone())
        .nest("/portal", here)
}

/// Refuses a request while this process does not own the state.
pub async fn owner_only(
    State(ownership): State<Ownership>,
    request: Request,
    next: Next,
) -> Response {
    if ownership.owns() {
        return next.run(request).await;
    }
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "not_state_owner",
        format!(
            "this process does not own the state now: {}",
            ownership.why()
        ),
    )
    .into_response()
}
