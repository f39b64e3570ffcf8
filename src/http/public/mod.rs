//! The public pages, for the people who come back: email links and the portal.

use std::sync::Arc;

use axum::Router;
use axum::routing::get;

use crate::bus::once::UseOnce;
use crate::flows::Intake;
use crate::links::LinkSettings;
use crate::store::Store;

mod links;
pub mod portal;

/// What the public pages use.
#[derive(Clone)]
pub struct Public {
    pub intake: Intake,
    /// Where a link's single use is recorded (shared by every receiver on NATS).
    pub link_uses: Arc<dyn UseOnce>,
    /// The store, where this process keeps the state: a redeemed link's page then waits a
    /// moment for the outcome. An intake process says "received" instead.
    pub store: Option<Store>,
    /// Email links, when keys are configured (or in the sandbox).
    pub links: Option<Arc<LinkSettings>>,
    /// The portal, when enabled and links are available.
    pub portal: Option<Arc<portal::Portal>>,
    /// The organisation's look, shared with the console.
    pub look: Arc<crate::http::page::Look>,
}

pub fn router(state: Public) -> Router {
    Router::new()
        .route("/v1/links/{token}", get(links::confirm).post(links::redeem))
        .route("/portal", get(portal::show).post(portal::ask))
        .with_state(state)
}
