//! What handling an event came to, and the directory calls it made: the vocabulary of the
//! audit log.

use serde::{Deserialize, Serialize};

use super::rules::Outcome;

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
    /// An authentic event that cannot be acted on (no usable identity or id); audited with why.
    UnusableEvent,
    /// The event's account id belongs to an account whose email is not the event's.
    AccountMismatch,
    /// A warning before a reclaim was emailed.
    Warned,
    /// A licence (or the account's access) was taken by a run, a job, or for a leaver.
    Reclaimed,
    /// An admin's bulk action or an undo changed the account (added, removed, given back).
    Changed,
    /// An action of a run or job left alone: nothing to do, or the user came back meanwhile.
    Skipped,
    /// Left alone because the account is always protected (an administrator, the service
    /// account, `reclaim.protect_accounts`), whatever asked.
    Protected,
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
            AuditOutcome::UnusableEvent => "unusable_event",
            AuditOutcome::AccountMismatch => "account_mismatch",
            AuditOutcome::Warned => "warned",
            AuditOutcome::Reclaimed => "reclaimed",
            AuditOutcome::Changed => "changed",
            AuditOutcome::Skipped => "skipped",
            AuditOutcome::Protected => "protected",
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
