//! The HTTP surface: each part has its router and the state it needs, merged here under one
//! fallback, one error body and the request metrics.
//!
//! * `hooks` — the webhook receivers (login, Okta, Keycloak, Jira Service Management).
//! * `public` — the pages people who come back see: email links and the portal.
//! * `api` — the admin API under `/api/v1`, behind bearer tokens.
//! * `console` — the admin console under `/console`, behind a signed session.
//! * `ops` — health, readiness, metrics and the OpenAPI document.
//! * `elsewhere` — what a process answers for the parts its role leaves to another process.
//!
//! `page` frames every HTML page (the look, the headers); `server` accepts connections and
//! holds every client to its deadlines.

use std::sync::Arc;

use axum::Router;

use crate::metrics::Metrics;

pub mod api;
pub mod body;
pub mod console;
pub mod elsewhere;
pub mod error;
pub mod hooks;
pub mod openapi;
pub mod ops;
pub mod page;
pub mod public;
pub mod server;

pub use error::{ApiError, ErrorBody};

/// Every part of the surface, each with its state; a part another process serves is `None`.
pub struct Parts {
    /// The receivers (roles `all` and `intake`).
    pub receivers: Option<(hooks::Hooks, public::Public)>,
    /// The admin API and the console (roles `all` and `state`), answered only while this
    /// process owns the state.
    pub state: Option<(api::Api, console::Console)>,
    pub ops: ops::Ops,
    /// Where the other services answer, for the `404` of the parts not served here.
    pub state_url: Option<String>,
    pub intake_url: Option<String>,
}

pub fn router(parts: Parts, metrics: Arc<Metrics>) -> Router {
    let standing = parts.ops.standing.clone();
    let receivers = match parts.receivers {
        Some((hooks, public)) => hooks::router(hooks).merge(public::router(public)),
        None => elsewhere::intake_service(&parts.intake_url),
    };
    let state = match parts.state {
        Some((api, console)) => api::router(api).merge(console::router(console)).layer(
            axum::middleware::from_fn_with_state(standing, elsewhere::owner_only),
        ),
        None => elsewhere::state_service(&parts.state_url),
    };
    Router::new()
        .merge(ops::router(parts.ops))
        .merge(receivers)
        .merge(state)
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            metrics,
            crate::metrics::track,
        ))
}
