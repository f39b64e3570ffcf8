//! Requests the rules left to an admin, with an index of the open one per user and product.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{Store, StoreError, dec};
use crate::domain::{Email, Product, Source};

/// A request for a licence that the rules left to an admin, and what became of it. At most one
/// is open per user and product; a closed one (even denied) never blocks a later request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RequestRecord {
    pub v: u32,
    pub id: String,
    pub state: RequestState,
    pub email: Email,
    pub account_id: Option<String>,
    pub product: Product,
    /// Where the request came from (login, link, portal, jsm).
    pub source: Source,
    pub event_id: String,
    /// The Jira Service Management request (issue key) that opened it: only that issue's
    /// approval or decline settles it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issue: Option<String>,
    pub reason: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schemars(with = "String", extend("format" = "date-time"))]
    pub created_at: OffsetDateTime,
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[schemars(with = "Option<String>", extend("format" = "date-time"))]
    pub updated_at: Option<OffsetDateTime>,
    /// Every change of state: when, to what, by whom, why.
    #[serde(default)]
    pub history: Vec<RequestStep>,
    /// Admins were reminded that it is about to expire.
    #[serde(default)]
    pub reminded: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RequestStep {
    #[serde(with = "time::serde::rfc3339")]
    #[schemars(with = "String", extend("format" = "date-time"))]
    pub at: OffsetDateTime,
    pub state: RequestState,
    /// `rules`, `admin:<hash>`, `expiry`, …
    pub by: String,
    pub note: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RequestState {
    PendingApproval,
    Approved,
    Restored,
    Denied,
    Expired,
    Failed,
}

impl RequestState {
    pub fn is_open(self) -> bool {
        matches!(self, RequestState::PendingApproval | RequestState::Approved)
    }
}

impl RequestRecord {
    /// A stable id for the request an event opened.
    pub fn id_for(event_id: &str) -> String {
        use sha2::Digest;
        format!(
            "req_{}",
            hex::encode(&sha2::Sha256::digest(event_id.as_bytes())[..6])
        )
    }

    /// The key of the open-request index.
    pub fn open_key(&self) -> String {
        format!("{}/{}", self.email.user_key(), self.product.key())
    }

    /// Moves to `state`, noting who and why.
    pub fn step(&mut self, state: RequestState, by: &str, note: impl Into<String>) {
        let now = OffsetDateTime::now_utc();
        self.state = state;
        self.updated_at = Some(now);
        self.history.push(RequestStep {
            at: now,
            state,
            by: by.into(),
            note: note.into(),
        });
    }
}

/// A change to requests, made with the rest of an event's outcome.
#[derive(Debug, Clone)]
pub enum RequestChange {
    /// Opens a request unless one is already open for the user and product.
    Open(RequestRecord),
    /// Stores the request as it now is; closing it frees its user and product.
    Update(RequestRecord),
}

impl Store {
    /// Requests, oldest first; only those in `state` when given.
    pub fn requests(&self, state: Option<RequestState>) -> Result<Vec<RequestRecord>, StoreError> {
        let mut out: Vec<RequestRecord> = Vec::new();
        for value in self.requests.iter().values() {
            let r: RequestRecord = dec(&value?)?;
            if state.is_none_or(|s| s == r.state) {
                out.push(r);
            }
        }
        out.sort_by_key(|r| r.created_at);
        Ok(out)
    }

    pub fn request(&self, id: &str) -> Result<Option<RequestRecord>, StoreError> {
        self.requests.get(id)?.map(|v| dec(&v)).transpose()
    }

    /// The open request of a user for a product, if any.
    pub fn open_request(
        &self,
        email: &Email,
        product: crate::domain::Product,
    ) -> Result<Option<RequestRecord>, StoreError> {
        match self
            .open_requests
            .get(format!("{}/{}", email.user_key(), product.key()))?
        {
            Some(id) => self.request(&String::from_utf8_lossy(&id)),
            None => Ok(None),
        }
    }
}
