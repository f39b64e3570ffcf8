//! The public pages, for the people who come back: email links and the portal.

use std::sync::Arc;

use axum::routing::get;
use serde_json::json;

use crate::bus::once::UseOnce;
use crate::flows::Intake;
use crate::http::routes::{Operation, Routes};
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

pub fn router(state: Public) -> Routes {
    Routes::default()
        .route("/v1/links/{token}", get(links::confirm).post(links::redeem))
        .route("/portal", get(portal::show).post(portal::ask))
        .with_state(state)
}

/// The links and the portal.
pub fn operations() -> Vec<Operation> {
    use crate::http::routes::Access::*;
    let form = json!({"type": "object", "description": "application/x-www-form-urlencoded: email, product, reason, csrf"});
    vec![
        Operation::new(
            "get",
            "/v1/links/{token}",
            "A signed email link's confirmation page (acts on nothing).",
            Signed,
            ("200", "HTML page"),
        ),
        Operation::new(
            "post",
            "/v1/links/{token}",
            "Redeems a signed email link, once.",
            Signed,
            ("200", "HTML page"),
        ),
        Operation::new(
            "get",
            "/portal",
            "reinstate's portal page.",
            Anyone,
            ("200", "HTML form"),
        ),
        Operation::new(
            "post",
            "/portal",
            "Asks for a licence back (form; a confirmation link is emailed).",
            Anyone,
            ("200", "HTML page, the same for every address"),
        )
        .body(form),
    ]
}
