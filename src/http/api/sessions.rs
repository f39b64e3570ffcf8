//! The console's sessions, kept in the state process's store: the cookie holds a random secret,
//! the store the SHA-256 of it with who signed in, the role, when, from where, and the CSRF
//! token of its forms. A session ends on sign-out, when an admin ends it (console or API), after
//! `server.session_idle_minutes` without use, `server.session_hours` after sign-in, and at
//! start when the token it was opened with is no longer configured. The API lists and ends them.

use std::net::SocketAddr;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, header};
use axum::routing::{delete, get};
use schemars::generate::SchemaGenerator;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::{Admin, Api, Role, TokenHash, Viewer};
use crate::http::client::{ClientAddress, cookie};
use crate::http::error::ApiError;
use crate::http::routes::{Operation, Routes, schema};
use crate::store::{SessionRecord, Store, StoreError, now_ms};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "reinstate_session";

/// How long a `User-Agent` is kept.
const AGENT_CHARS: usize = 200;

/// The console's sessions.
pub struct Sessions {
    store: Store,
    ttl_ms: i64,
    idle_ms: i64,
    secure: bool,
    clients: ClientAddress,
}

/// A signed-in console user.
#[derive(Debug, Clone)]
pub struct Session {
    /// The session's id (the hex SHA-256 of its cookie's secret).
    pub id: String,
    pub actor: String,
    pub role: Role,
    /// The CSRF token every form of this session carries.
    pub csrf: String,
}

/// How long sessions last.
pub struct Lifetimes {
    /// Whatever their use, after sign-in.
    pub ttl_secs: i64,
    /// Without a request.
    pub idle_secs: i64,
}

fn role_key(role: Role) -> &'static str {
    match role {
        Role::Admin => "admin",
        Role::Viewer => "viewer",
    }
}

fn random_hex() -> String {
    let mut bytes = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
    hex::encode(bytes)
}

impl Sessions {
    /// Sessions in `store`; `secure` cookies when the service is served over https; clients'
    /// addresses found as `clients` says.
    pub fn new(store: Store, lifetimes: Lifetimes, secure: bool, clients: ClientAddress) -> Self {
        Sessions {
            store,
            ttl_ms: lifetimes.ttl_secs * 1000,
            idle_ms: lifetimes.idle_secs * 1000,
            secure,
            clients,
        }
    }

    /// Opens a session for `who`, signed in with `token` from `peer`: the `Set-Cookie` value.
    pub fn open(
        &self,
        who: &Viewer,
        token: &str,
        peer: SocketAddr,
        headers: &HeaderMap,
    ) -> Result<String, StoreError> {
        let secret = random_hex();
        let now = now_ms();
        let agent = headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        self.store.open_session(&SessionRecord {
            v: 1,
            id: id_of(&secret),
            actor: who.actor.clone(),
            role: role_key(who.role).to_string(),
            token_sha256: hex::encode(Sha256::digest(token.as_bytes())),
            csrf: random_hex(),
            created_ms: now,
            last_used_ms: now,
            expires_ms: now + self.ttl_ms,
            client: self.clients.of(peer, headers).to_string(),
            agent: agent.chars().take(AGENT_CHARS).collect(),
        })?;
        Ok(self.cookie(&secret, self.ttl_ms / 1000))
    }

    /// The `Set-Cookie` value that forgets the session in the browser.
    pub fn forget(&self) -> String {
        self.cookie("", 0)
    }

    fn cookie(&self, value: &str, max_age: i64) -> String {
        let secure = if self.secure { "; Secure" } else { "" };
        format!(
            "{SESSION_COOKIE}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}"
        )
    }

    /// The open session the request's cookie names, marked used now.
    pub fn read(&self, headers: &HeaderMap) -> Option<Session> {
        let secret = cookie(headers, SESSION_COOKIE)
            .filter(|v| v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()))?;
        let id = id_of(secret);
        let found = self.store.session(&id).and_then(|record| {
            let now = now_ms();
            let record = record.filter(|r| r.live(now, self.idle_ms));
            if record.is_some() {
                self.store.touch_session(&id, now)?;
            }
            Ok(record)
        });
        let record = match found {
            Ok(record) => record?,
            Err(e) => {
                tracing::error!(error = %e, "a console session could not be read");
                return None;
            }
        };
        let role = match record.role.as_str() {
            "admin" => Role::Admin,
            "viewer" => Role::Viewer,
            _ => return None,
        };
        Some(Session {
            id,
            actor: record.actor,
            role,
            csrf: record.csrf,
        })
    }

    /// Ends a session (sign-out, or an admin ending it): `true` when it was open.
    pub async fn end(&self, id: &str) -> Result<bool, StoreError> {
        self.store.end_session(id).await
    }

    /// The sessions that can still be used, the most recently used first; the others are
    /// removed.
    pub async fn open_ones(&self) -> Result<Vec<SessionRecord>, StoreError> {
        let now = now_ms();
        self.store
            .end_sessions_where(|s| !s.live(now, self.idle_ms))
            .await?;
        self.store.sessions()
    }

    /// At start: ends every session whose token is not one of `tokens` any more, and those
    /// past their time. Returns how many ended for their token.
    pub async fn end_unconfigured(&self, tokens: &[TokenHash]) -> Result<usize, StoreError> {
        let configured = |s: &SessionRecord| {
            tokens
                .iter()
                .any(|t| hex::encode(t.sha256) == s.token_sha256 && role_key(t.role) == s.role)
        };
        let ended = self.store.end_sessions_where(|s| !configured(s)).await?;
        for s in &ended {
            tracing::info!(actor = %s.actor, session = %&s.id[..12], "console session ended: its token is no longer configured");
        }
        self.open_ones().await?;
        Ok(ended.len())
    }
}

/// A session's id: the hex SHA-256 of its cookie's secret.
fn id_of(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// One open session, as the API lists it (neither its CSRF token nor its token's hash).
#[derive(Serialize, schemars::JsonSchema)]
pub struct SessionView {
    /// Names the session to end it (`DELETE /api/v1/sessions/{id}`); not a credential.
    pub id: String,
    pub actor: String,
    /// `admin` or `viewer`.
    pub role: String,
    /// RFC 3339.
    pub created: String,
    pub last_used: String,
    /// When it ends at the latest, used or not.
    pub expires: String,
    /// The client address it signed in from.
    pub client: String,
    /// The browser's `User-Agent` at sign-in.
    pub agent: String,
}

/// RFC 3339 of Unix milliseconds.
pub fn rfc3339(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

impl From<SessionRecord> for SessionView {
    fn from(s: SessionRecord) -> SessionView {
        SessionView {
            created: rfc3339(s.created_ms),
            last_used: rfc3339(s.last_used_ms),
            expires: rfc3339(s.expires_ms),
            id: s.id,
            actor: s.actor,
            role: s.role,
            client: s.client,
            agent: s.agent,
        }
    }
}

/// `GET /api/v1/sessions`
#[derive(Serialize, schemars::JsonSchema)]
pub struct SessionList {
    pub sessions: Vec<SessionView>,
}

async fn list(_: Admin, State(api): State<Api>) -> Result<Json<SessionList>, ApiError> {
    let sessions = api.tokens.sessions.open_ones().await?;
    Ok(Json(SessionList {
        sessions: sessions.into_iter().map(SessionView::from).collect(),
    }))
}

/// `DELETE /api/v1/sessions/{id}`
#[derive(Serialize, schemars::JsonSchema)]
pub struct SessionEnded {
    pub ended: String,
}

async fn end(
    admin: Admin,
    State(api): State<Api>,
    Path(id): Path<String>,
) -> Result<Json<SessionEnded>, ApiError> {
    if id.len() != 64 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ApiError::bad_request(
            "invalid_session",
            "a session id is 64 hex digits, as GET /api/v1/sessions lists it",
        ));
    }
    if !api.tokens.sessions.end(&id).await? {
        return Err(ApiError::new(
            axum::http::StatusCode::NOT_FOUND,
            "session_not_found",
            "no open session has this id (signed out, ended or expired)",
        ));
    }
    tracing::info!(actor = %admin.actor, session = %&id[..12], "console session ended by an admin");
    Ok(Json(SessionEnded { ended: id }))
}

pub(super) fn routes() -> Routes<Api> {
    Routes::default()
        .route("/api/v1/sessions", get(list))
        .route("/api/v1/sessions/{id}", delete(end))
}

pub(super) fn operations(g: &mut SchemaGenerator) -> Vec<Operation> {
    use crate::http::routes::Access::*;
    vec![
        Operation::new(
            "get",
            "/api/v1/sessions",
            "The console's open sessions: who, role, since when, last use, from where.",
            Admin,
            ("200", "the open sessions, the most recently used first"),
        )
        .returns(schema::<SessionList>(g)),
        Operation::new(
            "delete",
            "/api/v1/sessions/{id}",
            "Ends a console session at once (its cookie stops working).",
            Admin,
            (
                "200",
                "the session ended (404 when none is open with this id)",
            ),
        )
        .returns(schema::<SessionEnded>(g)),
    ]
}
