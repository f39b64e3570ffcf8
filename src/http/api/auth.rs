//! Admin API authentication: bearer tokens checked against configured SHA-256 hashes, of two
//! kinds — `admin` (everything) and `viewer` (read-only). Checked on the server for every
//! route, whatever a client shows.

use std::sync::{Arc, OnceLock};

use axum::extract::{FromRef, FromRequestParts};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::sessions::Sessions;
use crate::domain::Problems;
use crate::http::error::ApiError;

/// `[admin]`
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdminConfig {
    /// Hex SHA-256 of each accepted admin bearer token (may read and change everything).
    pub token_sha256: Vec<String>,
    /// Hex SHA-256 of each accepted viewer token (read-only: rules, explain, simulate, audit).
    pub viewer_token_sha256: Vec<String>,
    #[serde(skip)]
    parsed: OnceLock<Result<Vec<TokenHash>, Problems>>,
}

impl AdminConfig {
    /// The configured hashes, parsed once; each problem names its key.
    pub fn tokens(&self) -> Result<&[TokenHash], &Problems> {
        let parsed = self.parsed.get_or_init(|| {
            let (mut ok, mut problems) = (Vec::new(), Problems::default());
            let lists = [
                ("admin.token_sha256", &self.token_sha256, Role::Admin),
                (
                    "admin.viewer_token_sha256",
                    &self.viewer_token_sha256,
                    Role::Viewer,
                ),
            ];
            for (key, list, role) in lists {
                for (i, hash) in list.iter().enumerate() {
                    match TokenHash::parse(hash, role) {
                        Some(t) => ok.push(t),
                        None => problems.add(
                            &format!("{key}[{i}]"),
                            "must be 64 hex digits (the SHA-256 of a token)",
                        ),
                    }
                }
            }
            problems.or(ok)
        });
        parsed.as_deref()
    }

    pub fn check(&self, problems: &mut Problems) {
        if let Err(found) = self.tokens() {
            problems.extend(found.clone().into_vec());
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Admin,
    Viewer,
}

/// A configured token hash and what it may do.
#[derive(Debug, Clone)]
pub struct TokenHash {
    pub sha256: [u8; 32],
    pub role: Role,
}

impl TokenHash {
    /// 64 hex digits.
    pub fn parse(hex_digest: &str, role: Role) -> Option<TokenHash> {
        let bytes = hex::decode(hex_digest).ok()?;
        Some(TokenHash {
            sha256: <[u8; 32]>::try_from(bytes).ok()?,
            role,
        })
    }

    /// The hash of a token given in the clear (the sandbox's).
    pub fn of(token: &str, role: Role) -> TokenHash {
        TokenHash {
            sha256: Sha256::digest(token.as_bytes()).into(),
            role,
        }
    }
}

/// The tokens the API accepts, and the console's sessions opened with them.
#[derive(Clone)]
pub struct Tokens {
    pub hashes: Arc<[TokenHash]>,
    pub sessions: Arc<Sessions>,
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

fn authenticate(parts: &Parts, tokens: &Tokens) -> Result<Viewer, ApiError> {
    let token = parts
        .headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty());
    let Some(token) = token else {
        // A console session may read (downloads), never change: its forms carry CSRF tokens,
        // the API's writes do not.
        let reading = matches!(
            parts.method,
            axum::http::Method::GET | axum::http::Method::HEAD
        );
        if reading && let Some(session) = tokens.sessions.read(&parts.headers) {
            return Ok(Viewer {
                actor: session.actor,
                role: session.role,
            });
        }
        return Err(ApiError::unauthorized(
            "missing_token",
            "send an admin or viewer token as Authorization: Bearer <token>",
        ));
    };
    tokens
        .verify(token)
        .ok_or_else(|| ApiError::unauthorized("invalid_token", "the token is not valid"))
}

impl Tokens {
    /// Who a token is, when it is one of the configured ones (compared against every hash, in
    /// constant time each).
    pub fn verify(&self, token: &str) -> Option<Viewer> {
        let hash: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let mut role = None;
        for known in self.hashes.iter() {
            if bool::from(known.sha256.ct_eq(&hash)) {
                role = Some(known.role);
            }
        }
        let role = role?;
        let kind = match role {
            Role::Admin => "admin",
            Role::Viewer => "viewer",
        };
        Some(Viewer {
            actor: format!("{kind}:{}", hex::encode(&hash[..4])),
            role,
        })
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Viewer
where
    Tokens: FromRef<S>,
{
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Viewer, ApiError> {
        authenticate(parts, &Tokens::from_ref(state))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Admin
where
    Tokens: FromRef<S>,
{
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Admin, ApiError> {
        let who = authenticate(parts, &Tokens::from_ref(state))?;
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
