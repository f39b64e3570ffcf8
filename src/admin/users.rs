//! Users, pending requests, and recorded reclaims.

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use time::OffsetDateTime;

use super::{Admin, Viewer, parse_json};
use crate::app::AppState;
use crate::directory::GroupInput;
use crate::event::{Email, Product};
use crate::http_error::ApiError;
use crate::ingress::read_body;
use crate::store::Reclaimed;

/// `GET /api/v1/users/{email}`: what reinstate knows of a user's licences.
pub async fn user(
    _: Viewer,
    State(state): State<Arc<AppState>>,
    Path(email): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let email = Email::parse(&email).map_err(|e| ApiError::bad_request("invalid_email", e))?;
    match state
        .store
        .user(&email)
        .map_err(|e| ApiError::internal(&e))?
    {
        Some(u) => Ok(Json(
            serde_json::to_value(u).map_err(|e| ApiError::internal(&e))?,
        )),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_user",
            "reinstate has no record of this user",
        )),
    }
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
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let body = read_body(&headers, body, crate::ingress::MAX_BODY).await?;
    let req: ReclaimedRequest = parse_json(&body, "invalid_request")?;
    let bad = |m: String| ApiError::bad_request("invalid_request", m);
    let email = Email::parse(&req.email).map_err(|e| bad(format!("email: {e}")))?;
    if req.groups.is_empty() {
        return Err(bad(
            "groups: list the groups that were removed (at least one)".into(),
        ));
    }
    let mut groups = Vec::with_capacity(req.groups.len());
    for (i, g) in req.groups.into_iter().enumerate() {
        let g = g.into_ref();
        if g.name.trim().is_empty()
            || g.name.len() > 256
            || g.id.as_ref().is_some_and(|id| id.trim().is_empty())
        {
            return Err(bad(format!(
                "groups[{i}]: a group needs a non-empty name (and id, when given)"
            )));
        }
        groups.push(g);
    }
    let at = match &req.reclaimed_at {
        Some(t) => OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
            .map_err(|_| bad(format!("reclaimed_at: {t:?} is not an RFC 3339 date-time")))?,
        None => OffsetDateTime::now_utc(),
    };
    let record = Reclaimed {
        at,
        groups,
        recorded_by: admin.actor,
    };
    let user = state
        .store
        .record_reclaimed(&email, req.account_id, req.product, record)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    Ok((
        StatusCode::CREATED,
        Json(serde_json::to_value(user).map_err(|e| ApiError::internal(&e))?),
    ))
}
