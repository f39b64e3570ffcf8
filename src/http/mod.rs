//! The HTTP surface: each part has its router and the state it needs, merged here under one
//! fallback, one error body and the request metrics.
//!
//! * `hooks` — the webhook receivers (login, Okta, Keycloak, Jira Service Management).
//! * `public` — the pages people who come back see: email links and the portal.
//! * `api` — the admin API under `/api/v1`, behind bearer tokens.
//! * `ops` — health, readiness, metrics and the OpenAPI document.
//!
//! `server` accepts connections and holds every client to its deadlines.

use std::sync::Arc;

use axum::Router;

use crate::metrics::Metrics;

pub mod api;
pub mod body;
pub mod console;
pub mod error;
pub mod hooks;
pub mod openapi;
pub mod ops;
pub mod public;
pub mod server;

pub use error::{ApiError, ErrorBody};

/// Every part of the surface, each with its state.
pub struct Parts {
    pub hooks: hooks::Hooks,
    pub public: public::Public,
    pub api: api::Api,
    pub console: console::Console,
    pub ops: ops::Ops,
}

pub fn router(parts: Parts, metrics: Arc<Metrics>) -> Router {
    Router::new()
        .merge(ops::router(parts.ops))
        .merge(hooks::router(parts.hooks))
        .merge(public::router(parts.public))
        .merge(api::router(parts.api))
        .merge(console::router(parts.console))
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            metrics,
            crate::metrics::track,
        ))
}
