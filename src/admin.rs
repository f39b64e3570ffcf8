//! The admin API: bearer tokens checked against configured SHA-256 hashes; rules, audit,
//! pending requests and users.

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::app::AppState;
use crate::event::Email;
use crate::http_error::ApiError;
use crate::ingress::read_body;
use crate::rules::RuleList;

/// An authenticated admin; `actor` is a short hash of the token, for the audit log.
pub struct Admin {
    pub actor: String,
}

impl FromRequestParts<Arc<AppState>> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Admin, ApiError> {
        let token = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                ApiError::unauthorized(
                    "missing_token",
                    "send an admin token as Authorization: Bearer <token>",
                )
            })?;
        let hash: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let known = state
            .admin_hashes
            .iter()
            .fold(0u8, |acc, h| acc | h.ct_eq(&hash).unwrap_u8());
        if known == 1 {
            Ok(Admin {
                actor: format!("admin:{}", hex::encode(&hash[..4])),
            })
        } else {
            Err(ApiError::unauthorized(
                "invalid_token",
                "the admin token is not valid",
            ))
        }
    }
}

/// `GET /api/v1/rules`
pub async fn get_rules(
    _: Admin,
    State(state): State<Arc<AppState>>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let doc = state.store.rules().map_err(|e| ApiError::internal(&e))?;
    Ok(Json(serde_json::json!({
        "version": doc.version,
        "updated_at": doc.updated_at.and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok()),
        "rules": doc.rules,
    })))
}

/// `PUT /api/v1/rules`: replaces the whole ordered list.
pub async fn put_rules(
    admin: Admin,
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<serde_json::Value>, ApiError> {
    let body = read_body(&headers, body).await?;
    let list = RuleList::parse(&body)
        .map_err(|e| ApiError::bad_request("invalid_rules", e.to_string()))?;
    let doc = state
        .store
        .replace_rules(list.rules, &admin.actor)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    tracing::info!(actor = %admin.actor, version = doc.version, "rules replaced");
    get_rules(admin, State(state)).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    user: Option<String>,
    limit: Option<usize>,
    before: Option<String>,
}

/// `GET /api/v1/audit?user=<email>&limit=&before=<cursor>`: newest first.
pub async fn audit(
    _: Admin,
    State(state): State<Arc<AppState>>,
    query: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))?;
    let user = q
        .user
        .as_deref()
        .map(Email::parse)
        .transpose()
        .map_err(|e| ApiError::bad_request("invalid_query", format!("user: {e}")))?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid_query",
            "limit: must be 1 to 1000",
        ));
    }
    if let Some(b) = &q.before
        && (b.len() != 32 || hex::decode(b).is_err())
    {
        return Err(ApiError::bad_request(
            "invalid_query",
            "before: not a cursor from a previous page",
        ));
    }
    let entries = state
        .store
        .audit(user.as_ref(), limit, q.before.as_deref())
        .map_err(|e| ApiError::internal(&e))?;
    let next = if entries.len() == limit {
        entries.last().map(|e| e.id.clone())
    } else {
        None
    };
    Ok(Json(
        serde_json::json!({ "entries": entries, "next": next }),
    ))
}

/// `GET /api/v1/requests`: requests waiting for an admin.
pub async fn requests(
    _: Admin,
    State(state): State<Arc<AppState>>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let requests = state.store.requests().map_err(|e| ApiError::internal(&e))?;
    Ok(Json(serde_json::json!({ "requests": requests })))
}

/// `GET /api/v1/users/{email}`: what reinstate knows of a user's licences.
pub async fn user(
    _: Admin,
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
            axum::http::StatusCode::NOT_FOUND,
            "unknown_user",
            "reinstate has no record of this user",
        )),
    }
}
