//! Users, and reclaims recorded by tools outside reinstate.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use schemars::generate::SchemaGenerator;
use serde::Deserialize;
use time::OffsetDateTime;

use super::{Admin, Api, Viewer};
use crate::domain::{Email, GroupInput, Product};
use crate::flows::queries;
use crate::flows::reclaim::{ReportedReclaim, record_reclaimed};
use crate::http::body::AdminJson;
use crate::http::error::ApiError;
use crate::http::routes::{Operation, Routes, schema};
use crate::store::UserRecord;

/// `GET /api/v1/users/{user}`: what reinstate knows of a user, by email or account id.
pub async fn user(
    _: Viewer,
    State(api): State<Api>,
    Path(who): Path<String>,
) -> Result<Json<queries::UserAnswer>, ApiError> {
    Ok(Json(queries::user_answer(&api.flows, who.trim())?))
}

/// The body of `POST /api/v1/reclaimed`.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReclaimedRequest {
    email: String,
    #[serde(default)]
    account_id: Option<String>,
    product: Product,
    /// The groups that were removed, exactly; a restore puts these back.
    groups: Vec<GroupInput>,
    /// When it happened (RFC 3339); now when absent.
    #[serde(default)]
    reclaimed_at: Option<String>,
}

/// `POST /api/v1/reclaimed`: records that a user's licence was reclaimed and which groups were
/// removed, for reclaim tools and scripts to call.
pub async fn reclaimed(
    admin: Admin,
    State(api): State<Api>,
    AdminJson(req): AdminJson<ReclaimedRequest>,
) -> Result<(StatusCode, Json<UserRecord>), ApiError> {
    let bad = |m: String| ApiError::bad_request("invalid_request", m);
    let email = Email::parse(&req.email).map_err(|e| bad(format!("email: {e}")))?;
    let at = match &req.reclaimed_at {
        Some(t) => Some(
            OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
                .map_err(|_| bad(format!("reclaimed_at: {t:?} is not an RFC 3339 date-time")))?,
        ),
        None => None,
    };
    let reclaim = ReportedReclaim {
        email,
        account_id: req.account_id,
        product: req.product,
        groups: req.groups.into_iter().map(GroupInput::into_ref).collect(),
        at,
    };
    let user = record_reclaimed(&api.flows, reclaim, &admin.actor).await?;
    Ok((StatusCode::CREATED, Json(user)))
}

/// Users, and reclaims recorded elsewhere.
pub(super) fn operations(g: &mut SchemaGenerator) -> Vec<Operation> {
    use crate::http::routes::Access::*;
    let user = schema::<UserRecord>(g);
    vec![
        Operation::new(
            "get",
            "/api/v1/users/{user}",
            "What reinstate knows of a user, by email or Atlassian account id: its record (logins, restores, warnings) and the inventory's row (status, products, groups).",
            Viewer,
            ("200", "the user"),
        )
        .returns(schema::<queries::UserAnswer>(g)),
        Operation::new(
            "post",
            "/api/v1/reclaimed",
            "Records a reclaimed licence and the groups removed.",
            Admin,
            ("201", "the user record"),
        )
        .body(schema::<ReclaimedRequest>(g))
        .returns(user),
    ]
}

/// Users, and reclaims recorded elsewhere.
pub(super) fn routes() -> Routes<Api> {
    Routes::default()
        .route("/api/v1/users/{user}", get(user))
        .route("/api/v1/reclaimed", post(reclaimed))
}
