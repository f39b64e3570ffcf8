//! One action of a run or a job, as it travels on the bus: what to do to which account, and
//! where its result goes (the run's entry).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::Standing;
use crate::domain::{Email, GroupRef, Product};

/// What a worker is asked to do; the event's `product` names the product when there is one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "do", rename_all = "kebab-case")]
pub enum OrderAction {
    /// Email the warning with a keep link; the reclaim comes not before `due`.
    Warn {
        #[serde(with = "time::serde::rfc3339")]
        #[schemars(with = "String", extend("format" = "date-time"))]
        due: OffsetDateTime,
    },
    /// Remove the user from every group that gives the product.
    RemoveProductAccess,
    /// Remove the user from every group that gives any product.
    RemoveAllAccess,
    /// Change the account's standing.
    Standing {
        change: Standing,
    },
    AddToGroup {
        group: GroupRef,
    },
    RemoveFromGroup {
        group: GroupRef,
    },
    /// Add the user to the product's default groups (seats permitting).
    GrantProductAccess,
    /// Give back what the ledger says was taken (the product's defaults when nothing was).
    GiveBackLicences,
    /// Undo one ledger entry, exactly.
    GiveBack {
        ledger: String,
    },
    /// Change the account's email address (an acquisition's new domain).
    ChangeEmail {
        to: Email,
    },
    /// Change a Data Center username.
    Rename {
        to: String,
    },
}

impl OrderAction {
    /// Whether the action takes access away from the account (which an always-protected
    /// account is never subject to).
    pub fn takes(&self) -> bool {
        match self {
            OrderAction::RemoveProductAccess
            | OrderAction::RemoveAllAccess
            | OrderAction::RemoveFromGroup { .. } => true,
            OrderAction::Standing { change } => matches!(
                change,
                Standing::Suspend | Standing::Deactivate | Standing::Delete
            ),
            _ => false,
        }
    }

    /// A short name for ids, entries and the audit log.
    pub fn key(&self) -> &'static str {
        match self {
            OrderAction::Warn { .. } => "warn",
            OrderAction::RemoveProductAccess => "remove-product-access",
            OrderAction::RemoveAllAccess => "remove-all-access",
            OrderAction::Standing { change } => change.key(),
            OrderAction::AddToGroup { .. } => "add-to-group",
            OrderAction::RemoveFromGroup { .. } => "remove-from-group",
            OrderAction::GrantProductAccess => "grant-product-access",
            OrderAction::GiveBackLicences => "enable-licences",
            OrderAction::GiveBack { .. } => "give-back",
            OrderAction::ChangeEmail { .. } => "change-email",
            OrderAction::Rename { .. } => "rename",
        }
    }
}

/// An action of a run or job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Order {
    /// The run or job, and the entry the result goes to.
    pub run: String,
    pub seq: u32,
    pub account_id: String,
    #[serde(flatten)]
    pub action: OrderAction,
    /// The policy that asked for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    /// When the plan was made: a user active since is left alone.
    #[serde(with = "time::serde::rfc3339")]
    #[schemars(with = "String", extend("format" = "date-time"))]
    pub planned_at: OffsetDateTime,
    /// An admin named this always-protected account again in a bulk action's
    /// `override_protected`: its protection is not applied (the entry and the audit say so).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub override_protected: bool,
}

impl Order {
    /// The event id: derived from the run, the account, the product and the action, so that
    /// publishing it again (a resumed run) is the same event.
    pub fn sender_id(&self, product: Option<Product>) -> String {
        let product = product.map_or("account", |p| p.key());
        let group = match &self.action {
            OrderAction::AddToGroup { group } | OrderAction::RemoveFromGroup { group } => {
                format!(":{}", crate::domain::short_hash(&group.name))
            }
            OrderAction::GiveBack { ledger } => format!(":{}", crate::domain::short_hash(ledger)),
            _ => String::new(),
        };
        format!(
            "{}:{}:{product}:{}{group}",
            self.run,
            crate::domain::short_hash(&self.account_id),
            self.action.key()
        )
    }
}
