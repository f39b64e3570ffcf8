//! The admin API under `/api/v1`: thin handlers over `flows`, behind bearer tokens.

use std::sync::Arc;

use axum::Router;
use axum::extract::FromRef;
use axum::routing::{get, post};

use crate::flows::{Context, Intake};

pub mod audit;
pub mod auth;
mod csv;
pub mod inventory;
pub mod reclaim;
pub mod requests;
pub mod rules;
pub mod users;

pub use auth::{
    Admin, AdminConfig, Role, SESSION_COOKIE, Session, Sessions, TokenHash, Tokens, Viewer,
};

/// What the admin API uses.
#[derive(Clone)]
pub struct Api {
    pub flows: Arc<Context>,
    pub intake: Intake,
    pub tokens: Tokens,
}

impl FromRef<Api> for Tokens {
    fn from_ref(api: &Api) -> Tokens {
        api.tokens.clone()
    }
}

pub fn router(api: Api) -> Router {
    Router::new()
        .route("/api/v1/rules", get(rules::get).put(rules::put))
        .route("/api/v1/rules/explain", post(rules::explain))
        .route("/api/v1/rules/simulate", post(rules::simulate))
        .route("/api/v1/audit", get(audit::list))
        .route("/api/v1/audit.csv", get(audit::csv))
        .route("/api/v1/requests", get(requests::list))
        .route("/api/v1/requests/{id}/approve", post(requests::approve))
        .route("/api/v1/requests/{id}/deny", post(requests::deny))
        .route("/api/v1/users/{email}", get(users::user))
        .route("/api/v1/reclaimed", post(users::reclaimed))
        .route("/api/v1/inventory/summary", get(inventory::summary))
        .route("/api/v1/inventory/users", get(inventory::users))
        .route("/api/v1/inventory/users.csv", get(inventory::users_csv))
        .route(
            "/api/v1/inventory/sync",
            get(inventory::sync_status).post(inventory::sync_now),
        )
        .route(
            "/api/v1/reclaim/policies",
            get(reclaim::get_policies).put(reclaim::put_policies),
        )
        .route(
            "/api/v1/reclaim/runs",
            get(reclaim::list_runs).post(reclaim::start_run),
        )
        .route("/api/v1/reclaim/runs/{id}", get(reclaim::get_run))
        .route("/api/v1/reclaim/runs/{id}/undo", post(reclaim::undo))
        .route("/api/v1/users/bulk", post(reclaim::bulk))
        .route("/api/v1/jobs/{id}", get(reclaim::get_job))
        .route("/api/v1/jobs/{id}/undo", post(reclaim::undo))
        .with_state(api)
}
