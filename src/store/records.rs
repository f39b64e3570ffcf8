//! The records reinstate keeps: JSON values carrying a version `v`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::directory::GroupRef;
use crate::event::{Email, Product, Source};
use crate::rules::{Decision, Outcome, Rule, Seats};

/// What the worker did about one product for one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuditOutcome {
    Restored,
    AlreadyLicensed,
    ApprovalRequired,
    Denied,
    UnknownUser,
    AccountInactive,
    ReclaimRecorded,
    KeepRecorded,
    Approved,
    Expired,
    LinkSent,
    DuplicateLogin,
    UnsupportedProduct,
    /// A Jira Service Management portal-only customer: the portal needs no licence.
    PortalCustomer,
    Failed,
    RulesChanged,
}

impl AuditOutcome {
    pub fn from_rule(outcome: Outcome) -> AuditOutcome {
        match outcome {
            Outcome::Restore => AuditOutcome::Restored,
            Outcome::Approve => AuditOutcome::ApprovalRequired,
            Outcome::Deny => AuditOutcome::Denied,
        }
    }
    pub fn key(self) -> &'static str {
        match self {
            AuditOutcome::Restored => "restored",
            AuditOutcome::AlreadyLicensed => "already_licensed",
            AuditOutcome::ApprovalRequired => "approval_required",
            AuditOutcome::Denied => "denied",
            AuditOutcome::UnknownUser => "unknown_user",
            AuditOutcome::AccountInactive => "account_inactive",
            AuditOutcome::ReclaimRecorded => "reclaim_recorded",
            AuditOutcome::KeepRecorded => "keep_recorded",
            AuditOutcome::Approved => "approved",
            AuditOutcome::Expired => "expired",
            AuditOutcome::LinkSent => "link_sent",
            AuditOutcome::DuplicateLogin => "duplicate_login",
            AuditOutcome::UnsupportedProduct => "unsupported_product",
            AuditOutcome::PortalCustomer => "portal_customer",
            AuditOutcome::Failed => "failed",
            AuditOutcome::RulesChanged => "rules_changed",
        }
    }
}

/// One call made to the directory, as recorded in the audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DirectoryCall {
    pub method: String,
    pub path: String,
    /// Final HTTP status; `None` when no answer came (timeout, connection error).
    pub status: Option<u16>,
    pub attempts: u32,
}

/// One audit record: every decision and action, who, what, which rule, source, latency.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AuditEntry {
    pub v: u32,
    /// Time-ordered id (assigned when written).
    #[serde(default)]
    pub id: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schemars(with = "String", extend("format" = "date-time"))]
    pub at: OffsetDateTime,
    pub outcome: AuditOutcome,
    pub event_id: Option<String>,
    pub source: Option<Source>,
    pub user: Option<Email>,
    pub account_id: Option<String>,
    pub product: Option<Product>,
    pub rule: Option<String>,
    pub reason: String,
    #[serde(default)]
    pub directory_calls: Vec<DirectoryCall>,
    pub seats_before: Option<Seats>,
    /// Seats after a restore, as the directory reports them afterwards.
    #[serde(default)]
    pub seats_after: Option<Seats>,
    /// The deciding rule's message for the user.
    #[serde(default)]
    pub message: Option<String>,
    /// From the event's `occurred_at` to the moment this was recorded.
    pub latency_ms: Option<i64>,
    /// Delivery attempt of the event that led here.
    pub attempt: Option<u32>,
    /// For admin actions: a short hash of the admin token that acted.
    pub actor: Option<String>,
}

impl AuditEntry {
    pub fn new(outcome: AuditOutcome, reason: impl Into<String>) -> AuditEntry {
        AuditEntry {
            v: 1,
            id: String::new(),
            at: OffsetDateTime::now_utc(),
            outcome,
            event_id: None,
            source: None,
            user: None,
            account_id: None,
            product: None,
            rule: None,
            reason: reason.into(),
            directory_calls: Vec::new(),
            seats_before: None,
            seats_after: None,
            message: None,
            latency_ms: None,
            attempt: None,
            actor: None,
        }
    }
    pub fn with_decision(mut self, d: &Decision) -> AuditEntry {
        self.rule = d.rule.clone();
        self.message = d.message.clone();
        self
    }
}

/// Licence state of one user for one product.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ProductState {
    pub licensed: bool,
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[schemars(with = "Option<String>", extend("format" = "date-time"))]
    pub restored_at: Option<OffsetDateTime>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[schemars(with = "Option<String>", extend("format" = "date-time"))]
    pub last_login: Option<OffsetDateTime>,
    /// Groups reinstate added, exactly.
    #[serde(default)]
    pub groups_added: Vec<String>,
    /// Set when the licence was recorded as reclaimed; a restore puts back exactly these groups.
    #[serde(default)]
    pub reclaimed: Option<Reclaimed>,
}

/// A recorded reclaim: when, which groups were removed, and who said so.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Reclaimed {
    #[serde(with = "time::serde::rfc3339")]
    #[schemars(with = "String", extend("format" = "date-time"))]
    pub at: OffsetDateTime,
    pub groups: Vec<GroupRef>,
    pub recorded_by: String,
}

/// A user reinstate has seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct UserRecord {
    pub v: u32,
    pub email: Email,
    pub account_id: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schemars(with = "Option<String>", extend("format" = "date-time"))]
    pub last_login: Option<OffsetDateTime>,
    pub products: BTreeMap<Product, ProductState>,
    /// When the user last asked to keep their licences (a "keep my access" link).
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[schemars(with = "Option<String>", extend("format" = "date-time"))]
    pub keep_requested_at: Option<OffsetDateTime>,
    /// Groups (directory and identity provider) and roles last seen, for simulations.
    #[serde(default)]
    pub groups: Vec<String>,
    #[serde(default)]
    pub roles: Vec<String>,
}

impl UserRecord {
    pub fn new(email: &Email) -> UserRecord {
        UserRecord {
            v: 1,
            email: email.clone(),
            account_id: None,
            last_login: None,
            products: BTreeMap::new(),
            keep_requested_at: None,
            groups: Vec::new(),
            roles: Vec::new(),
        }
    }
}

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

/// The outcome of an event already handled (idempotency), with an expiry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessedRecord {
    pub v: u32,
    pub outcome: String,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

/// The live rule list, versioned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RulesDoc {
    pub v: u32,
    pub version: u64,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schemars(with = "Option<String>", extend("format" = "date-time"))]
    pub updated_at: Option<OffsetDateTime>,
    pub rules: Vec<Rule>,
}

/// Everything one event changes, written in one transaction.
#[derive(Debug, Default)]
pub struct EventOutcome {
    pub user: Option<UserRecord>,
    pub audit: Vec<AuditEntry>,
    pub requests: Vec<RequestChange>,
    pub processed: Option<(String, ProcessedRecord)>,
    /// Emails to send, written to the outbox with the rest.
    pub emails: Vec<crate::notify::OutboxEmail>,
    /// Seat-alert states that changed.
    pub alerts: Vec<(Product, crate::notify::AlertState)>,
}
