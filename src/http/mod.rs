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
//! Each part declares its routes and their OpenAPI operations with `routes`; `openapi`
//! assembles the document; `page` frames every HTML page (the look, the headers); `server`
//! accepts connections and holds every client to its deadlines.

use std::sync::Arc;

use axum::Router;

use crate::metrics::Metrics;

pub mod api;
pub mod body;
pub mod client;
pub mod console;
pub mod elsewhere;
pub mod error;
pub mod hooks;
pub mod limits;
pub mod openapi;
pub mod ops;
pub mod page;
pub mod public;
pub mod routes;
pub mod server;

pub use error::{ApiError, ErrorBody};
pub use routes::Routes;

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

/// The whole surface, and the paths it routes (those another process serves aside).
pub fn router(parts: Parts, metrics: Arc<Metrics>) -> (Router, Vec<&'static str>) {
    let ownership = parts.ops.ownership.clone();
    let receivers = match parts.receivers {
        Some((hooks, public)) => hooks::router(hooks).merge(public::router(public)),
        None => Routes::unlisted(elsewhere::intake_service(&parts.intake_url)),
    };
    let (state, state_paths) = match parts.state {
        Some((api, console)) => {
            let (router, paths) = api::router(api)
                .merge(console::router(console))
                .into_parts();
            let owner_only = axum::middleware::from_fn_with_state(ownership, elsewhere::owner_only);
            (router.layer(owner_only), paths)
        }
        None => (elsewhere::state_service(&parts.state_url), Vec::new()),
    };
    let document = Arc::new(openapi::document());
    let (rest, mut paths) = ops::router(parts.ops, document)
        .merge(receivers)
        .into_parts();
    paths.extend(state_paths);
    let router = rest
        .merge(state)
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            metrics,
            crate::metrics::track,
        ));
    (router, paths)
}
