//! The admin API under `/api/v1`: thin handlers over `flows`, behind bearer tokens.

use std::sync::Arc;

use axum::extract::FromRef;
use schemars::generate::SchemaGenerator;

use crate::flows::{Context, Intake};
use crate::http::routes::{Operation, Routes};

pub mod audit;
pub mod auth;
mod csv;
pub mod inventory;
pub mod reclaim;
pub mod requests;
pub mod rules;
pub mod sessions;
pub mod users;

pub use auth::{Admin, AdminConfig, Role, TokenHash, Tokens, Viewer};
pub use sessions::{Lifetimes, SESSION_COOKIE, Session, Sessions};

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

/// Every admin route, each part's beside its operations.
pub fn routes() -> Routes<Api> {
    rules::routes()
        .merge(audit::routes())
        .merge(requests::routes())
        .merge(users::routes())
        .merge(inventory::routes())
        .merge(reclaim::routes())
        .merge(sessions::routes())
}

pub fn router(api: Api) -> Routes {
    routes().with_state(api)
}

/// The admin API's operations, for the OpenAPI document.
pub fn operations(g: &mut SchemaGenerator) -> Vec<Operation> {
    let mut ops = rules::operations(g);
    ops.extend(audit::operations(g));
    ops.extend(requests::operations(g));
    ops.extend(users::operations(g));
    ops.extend(inventory::operations(g));
    ops.extend(reclaim::operations(g));
    ops.extend(sessions::operations(g));
    ops
}
