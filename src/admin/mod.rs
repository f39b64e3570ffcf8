//! The admin API: bearer tokens checked against configured SHA-256 hashes, of two kinds —
//! `admin` (everything) and `viewer` (read-only: rules, explain, simulate, audit).

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::app::AppState;
use crate::http_error::ApiError;

pub mod audit;
pub mod requests;
pub mod rules;
pub mod users;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Admin,
    Viewer,
}

/// A configured token hash and what it may do.
#[derive(Clone)]
pub struct TokenHash {
    pub sha256: [u8; 32],
    pub role: Role,
}

/// Any valid token (admin or viewer): for reads. `actor` is a short hash of the token.
pub struct Viewer {
    pub actor: String,
    pub role: Role,
}

/// An admin token: for changes.
pub struct Admin {
    pub actor: String,
}

fn authenticate(parts: &Parts, state: &AppState) -> Result<Viewer, ApiError> {
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
                "send an admin or viewer token as Authorization: Bearer <token>",
            )
        })?;
    let hash: [u8; 32] = Sha256::digest(token.as_bytes()).into();
    // Compare against every configured hash, in constant time each.
    let mut role = None;
    for known in &state.tokens {
        if bool::from(known.sha256.ct_eq(&hash)) {
            role = Some(known.role);
        }
    }
    let role =
        role.ok_or_else(|| ApiError::unauthorized("invalid_token", "the token is not valid"))?;
    let kind = match role {
        Role::Admin => "admin",
        Role::Viewer => "viewer",
    };
    Ok(Viewer {
        actor: format!("{kind}:{}", hex::encode(&hash[..4])),
        role,
    })
}

impl FromRequestParts<Arc<AppState>> for Viewer {
    type Rejection = ApiError;
    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Viewer, ApiError> {
        authenticate(parts, state)
    }
}

impl FromRequestParts<Arc<AppState>> for Admin {
    type Rejection = ApiError;
    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Admin, ApiError> {
        let who = authenticate(parts, state)?;
        match who.role {
            Role::Admin => Ok(Admin { actor: who.actor }),
            Role::Viewer => Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "a viewer token can read but not change anything",
            )),
        }
    }
}

/// Parses a JSON body with the field path in the error.
pub fn parse_json<T: serde::de::DeserializeOwned>(
    body: &[u8],
    code: &'static str,
) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." || path == "?" {
            "body".to_string()
        } else {
            path
        };
        ApiError::bad_request(code, format!("{field}: {}", e.inner()))
    })
}
