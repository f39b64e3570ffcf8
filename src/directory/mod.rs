//! Connectors: the only code that talks to Atlassian. One trait; each implementation owns its
//! retries, `Retry-After`, concurrency limit and "already a member" quirks.

use async_trait::async_trait;

use crate::domain::{DirectoryCall, Email, GroupRef, Product, Seats};

pub mod atlassian_audit;
pub mod botframework;
mod cloud_admin;
pub mod config;
pub mod confluence;
mod connect;
pub mod http;
pub mod inventory;
pub mod jira;
pub mod okta;
mod retry;
pub mod routed;
pub mod simulated;
pub mod slack;

pub use connect::{Connected, connect};

#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    /// Worth trying again later (429, 5xx, timeouts, connection errors, after the retries).
    #[error("directory temporarily unavailable: {0}")]
    Transient(String),
    /// Will not succeed by retrying (permissions, missing group, bad configuration).
    #[error("directory refused: {0}")]
    Permanent(String),
}

impl DirectoryError {
    pub fn is_transient(&self) -> bool {
        matches!(self, DirectoryError::Transient(_))
    }
}

/// A user as the directory knows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryUser {
    pub account_id: String,
    pub active: bool,
    /// The email the directory shows, when it shows one (profile visibility may hide it).
    pub email: Option<String>,
    /// The user's group names, when the look-up returned them (saves a call).
    pub groups: Option<Vec<String>>,
    /// A Jira Service Management portal-only customer (Cloud `accountType: customer`), who
    /// uses the portal without a licence.
    pub customer: bool,
}

/// How a product's licence is granted on this site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductAccess {
    pub product: Product,
    /// Groups a restore adds the user to.
    pub default_groups: Vec<GroupRef>,
    /// Every group whose members hold the licence (names).
    pub access_groups: Vec<String>,
    pub seats: Seats,
}

/// Directory calls made while handling one event, for the audit log; each HTTP attempt is also
/// counted in the metrics when a registry is attached.
#[derive(Default)]
pub struct CallLog {
    pub calls: Vec<DirectoryCall>,
    metrics: Option<(std::sync::Arc<crate::metrics::Metrics>, &'static str)>,
    /// Calls of a background task (a sync): they wait while restores wait for the bucket.
    pub background: bool,
}

impl CallLog {
    pub fn with_metrics(
        metrics: std::sync::Arc<crate::metrics::Metrics>,
        connector: &'static str,
    ) -> CallLog {
        CallLog {
            calls: Vec::new(),
            metrics: Some((metrics, connector)),
            background: false,
        }
    }

    /// A call log for background work (a sync), counted under `connector`.
    pub fn background(
        metrics: std::sync::Arc<crate::metrics::Metrics>,
        connector: &'static str,
    ) -> CallLog {
        CallLog {
            background: true,
            ..CallLog::with_metrics(metrics, connector)
        }
    }

    /// One HTTP attempt (`status` `None`: no answer came).
    pub fn attempt(&self, status: Option<u16>, retry: bool) {
        if let Some((m, connector)) = &self.metrics {
            m.directory_attempt(connector, status, retry);
        }
    }

    /// The calls recorded so far, leaving the log empty.
    pub fn take(&mut self) -> Vec<DirectoryCall> {
        std::mem::take(&mut self.calls)
    }

    /// One call, after its retries.
    pub fn push(&mut self, method: &str, path: &str, status: Option<u16>, attempts: u32) {
        self.calls.push(DirectoryCall {
            method: method.to_string(),
            path: path.to_string(),
            status,
            attempts,
        });
    }
}

/// A Jira Service Management request, as its API describes it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JsmRequest {
    pub reporter_account_id: Option<String>,
    pub reporter_email: Option<String>,
    pub request_type_id: Option<String>,
    /// The approval's final decision: `approved`, `declined` or `pending`.
    pub approval: Option<String>,
}

/// Result of removing a user from a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removed {
    Removed,
    NotMember,
}

pub use crate::domain::reclaim::Standing;

/// Result of adding a user to a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Added {
    Added,
    AlreadyMember,
}

#[async_trait]
pub trait Directory: Send + Sync {
    /// "jira-cloud", "sandbox", …
    fn kind(&self) -> &'static str;
    /// Finds the user by account id when given, else by exact email.
    async fn find_user(
        &self,
        account_id: Option<&str>,
        email: &Email,
        calls: &mut CallLog,
    ) -> Result<Option<DirectoryUser>, DirectoryError>;
    /// What a search by email cannot find here, when something: said when no one is found.
    fn why_unfound(&self) -> Option<&'static str> {
        None
    }
    /// Whether accounts here have login names (Data Center) that `find_by_username` finds.
    fn has_usernames(&self) -> bool {
        false
    }
    /// Finds the user by login name, where the directory has them (Data Center).
    async fn find_by_username(
        &self,
        _username: &str,
        _calls: &mut CallLog,
    ) -> Result<Option<DirectoryUser>, DirectoryError> {
        Ok(None)
    }
    /// The accounts in `group` (account ids; usernames on Data Center), every page; `None`
    /// when this directory cannot list a group's members.
    async fn group_members(
        &self,
        _group: &str,
        _calls: &mut CallLog,
    ) -> Result<Option<Vec<String>>, DirectoryError> {
        Ok(None)
    }
    /// The admin roles the organisation gives the account now (`atlassian/org-admin`, …),
    /// where an organisation API can say.
    async fn admin_roles(
        &self,
        _account_id: &str,
        _calls: &mut CallLog,
    ) -> Result<Vec<String>, DirectoryError> {
        Ok(Vec::new())
    }
    /// Those of `groups` an identity provider syncs (Atlassian refuses changes to their
    /// members), where this directory can say; none where it cannot.
    async fn synced_groups(
        &self,
        _groups: &[String],
        _calls: &mut CallLog,
    ) -> Result<Vec<String>, DirectoryError> {
        Ok(Vec::new())
    }
    /// Names of the groups the user is in.
    async fn user_groups(
        &self,
        account_id: &str,
        calls: &mut CallLog,
    ) -> Result<Vec<String>, DirectoryError>;
    /// The products this site licenses, with their groups and seats (may be cached briefly).
    async fn products(&self, calls: &mut CallLog) -> Result<Vec<ProductAccess>, DirectoryError>;
    /// Counts one more seat in use for `product` in cached product data (the site's own
    /// count is read again when the cache expires), returning the seats now when cached.
    /// Re-reading after every restore would cost a call per restore in a burst.
    fn seat_taken(&self, product: Product) -> Option<Seats>;
    /// Reads a Jira Service Management request (and its approval, when asked), for webhooks
    /// that lack what reinstate needs.
    async fn jsm_request(
        &self,
        issue: &str,
        with_approval: bool,
        calls: &mut CallLog,
    ) -> Result<JsmRequest, DirectoryError>;
    /// Comments on a Jira Service Management request, visibly to the requester.
    async fn comment(
        &self,
        issue: &str,
        text: &str,
        calls: &mut CallLog,
    ) -> Result<(), DirectoryError>;
    /// Moves an issue through a workflow transition.
    async fn transition(
        &self,
        issue: &str,
        transition_id: &str,
        calls: &mut CallLog,
    ) -> Result<(), DirectoryError>;
    /// Adds the user to one of `product`'s groups; already being a member counts as success.
    async fn add_to_group(
        &self,
        account_id: &str,
        product: Product,
        group: &GroupRef,
        calls: &mut CallLog,
    ) -> Result<Added, DirectoryError>;
    /// Removes the user from one of `product`'s groups; not being a member counts as success.
    async fn remove_from_group(
        &self,
        _account_id: &str,
        _product: Product,
        _group: &GroupRef,
        _calls: &mut CallLog,
    ) -> Result<Removed, DirectoryError> {
        Err(DirectoryError::Permanent(format!(
            "the {} connector cannot remove users from groups",
            self.kind()
        )))
    }
    /// Changes the account's standing (suspend, deactivate, delete, and back). `directory`:
    /// the organisation directory the inventory saw the account in, when it did.
    async fn set_standing(
        &self,
        _account_id: &str,
        _directory: Option<&str>,
        change: Standing,
        _calls: &mut CallLog,
    ) -> Result<(), DirectoryError> {
        Err(DirectoryError::Permanent(format!(
            "the {} connector cannot make an account {}",
            self.kind(),
            change.to()
        )))
    }
    /// Changes the account's email address (Cloud managed accounts, Data Center).
    async fn change_email(
        &self,
        _account_id: &str,
        _email: &Email,
        _calls: &mut CallLog,
    ) -> Result<(), DirectoryError> {
        Err(DirectoryError::Permanent(format!(
            "the {} connector cannot change email addresses",
            self.kind()
        )))
    }
    /// Renames a Data Center account (its username, which is its id here).
    async fn rename(
        &self,
        _account_id: &str,
        _to: &str,
        _calls: &mut CallLog,
    ) -> Result<(), DirectoryError> {
        Err(DirectoryError::Permanent(format!(
            "the {} connector has no usernames to rename",
            self.kind()
        )))
    }
    /// Whether a suspended or deactivated account can be given its access back here.
    fn can_reactivate(&self) -> bool {
        false
    }
    /// Reactivates an account reinstate did not deactivate, before `product` is restored, by
    /// what the directory says it is (`directory` as for `set_standing`).
    async fn reactivate(
        &self,
        _account_id: &str,
        _email: &Email,
        _directory: Option<&str>,
        _product: Product,
        _calls: &mut CallLog,
    ) -> Result<(), DirectoryError> {
        Err(DirectoryError::Permanent(format!(
            "the {} connector cannot reactivate accounts",
            self.kind()
        )))
    }
}
