//! The public pages, for the people who come back: email links and the portal.

use std::sync::Arc;

use axum::Router;
use axum::routing::get;

use crate::flows::{Context, Intake};
use crate::links::LinkSettings;

mod links;
mod page;
pub mod portal;

pub use page::page;

/// What the public pages use.
#[derive(Clone)]
pub struct Public {
    pub flows: Arc<Context>,
    pub intake: Intake,
    /// Email links, when keys are configured (or in the sandbox).
    pub links: Option<Arc<LinkSettings>>,
    /// The portal, when enabled and links are available.
    pub portal: Option<Arc<portal::Portal>>,
    /// The organisation's look, shared with the console.
    pub look: Arc<crate::http::console::Look>,
}

pub fn router(state: Public) -> Router {
    Router::new()
        .route("/v1/links/{token}", get(links::confirm).post(links::redeem))
        .route("/portal", get(portal::show).post(portal::ask))
        .with_state(state)
}
