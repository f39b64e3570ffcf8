//! Okta's Users API, read to confirm a leaver before reinstate acts on Okta's report (an Event
//! Hook is authenticated only by a static header): `GET /api/v1/users/{login}` with an API token
//! (`Authorization: SSWS <token>`), documented at
//! <https://developer.okta.com/docs/api/openapi/okta-management/management/tag/User/#tag/User/operation/getUser>
//! — the path takes a user's id or login (URL-encoded), except that `me` is the token's own
//! user and a login holding `/` can only be fetched by id; `status` is one of `ACTIVE`,
//! `DEPROVISIONED`, `LOCKED_OUT`, `PASSWORD_EXPIRED`, `PROVISIONED`, `RECOVERY`, `STAGED`,
//! `SUSPENDED`, and `transitioningToStatus` names the status an asynchronous change (such as a
//! deactivation) is moving to. Its rate limit headers are `X-Rate-Limit-Remaining` and
//! `X-Rate-Limit-Reset` (epoch seconds).

use secrecy::SecretString;

use super::config::DirectoryConfig;
use super::http::{Auth, Http, refused};
use super::{CallLog, DirectoryError};

pub struct OktaUsers {
    http: Http,
}

impl std::fmt::Debug for OktaUsers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OktaUsers")
    }
}

/// What Okta says of a user now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OktaStatus {
    /// Okta knows no such user (deleted).
    Unknown,
    /// The user's `status`, as Okta spells it, and `transitioningToStatus` while a change runs.
    Status {
        status: String,
        transitioning: Option<String>,
    },
}

impl OktaStatus {
    /// Whether Okta confirms the user left: deprovisioned (deactivated), suspended, or deleted.
    pub fn left(&self) -> bool {
        match self {
            OktaStatus::Unknown => true,
            OktaStatus::Status {
                status,
                transitioning,
            } => [Some(status), transitioning.as_ref()]
                .into_iter()
                .flatten()
                .any(|s| s == "DEPROVISIONED" || s == "SUSPENDED"),
        }
    }
}

/// Why Okta cannot be asked about `login` by login, when it cannot: `me` is the API token's own
/// user, and a login holding `/` can only be fetched by id.
pub fn unreadable(login: &str) -> Option<&'static str> {
    if login.eq_ignore_ascii_case("me") {
        Some("`me` names the API token's own user in Okta's Users API")
    } else if login.contains('/') {
        Some("Okta's Users API fetches a login holding `/` only by id")
    } else {
        None
    }
}

impl OktaUsers {
    /// Okta's organisation at `base` (e.g. `https://example.okta.com`), with the retries and
    /// timeouts of `limits`.
    pub fn new(
        base: &str,
        token: SecretString,
        limits: &DirectoryConfig,
    ) -> Result<OktaUsers, DirectoryError> {
        Ok(OktaUsers {
            http: Http::new(base, Auth::Ssws(token), limits)?,
        })
    }

    /// The user's status, by login (or id).
    pub async fn status(
        &self,
        login: &str,
        calls: &mut CallLog,
    ) -> Result<OktaStatus, DirectoryError> {
        let path = format!(
            "/api/v1/users/{}",
            percent_encoding::utf8_percent_encode(login, percent_encoding::NON_ALPHANUMERIC)
        );
        let answer = self
            .http
            .call(reqwest::Method::GET, &path, &[], None, calls)
            .await?;
        if answer.status.as_u16() == 404 {
            return Ok(OktaStatus::Unknown);
        }
        if !answer.status.is_success() {
            return Err(refused(&format!("GET {path}"), &answer));
        }
        let user: serde_json::Value = Http::json(&answer, &format!("GET {path}"))?;
        match user["status"].as_str() {
            Some(s) => Ok(OktaStatus::Status {
                status: s.to_string(),
                transitioning: user["transitioningToStatus"].as_str().map(String::from),
            }),
            None => Err(DirectoryError::Permanent(format!(
                "GET {path} answered a user without a status"
            ))),
        }
    }
}
