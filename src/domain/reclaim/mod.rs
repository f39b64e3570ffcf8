//! Reclamation: the policies admins write (who is inactive, what is taken, the warning, who is
//! protected, what follows), their validation, and the plan a run makes from them — pure, like
//! the rules. What is taken is recorded by the store's ledger, so that it can be given back.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::domain::{Email, Product};

mod order;
mod plan;
pub use order::{Order, OrderAction};
pub use plan::{Person, PlanInput, Planned, Step, Use, plan, plan_person};

/// The body of `PUT /api/v1/reclaim/policies`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "reinstate reclaim policies", extend("$id" = "https://reinstate.dev/schemas/reclaim-policies.schema.json"))]
pub struct PolicyList {
    pub policies: Vec<Policy>,
}

/// One policy: users inactive in its products for `inactive_after_days` lose what `action`
/// takes, after a warning `warn_days_before` days ahead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Unique. The policy named `leavers` is applied to leavers (see the README).
    pub name: String,
    #[serde(default = "yes")]
    pub enabled: bool,
    /// The products whose inactivity counts (and whose access `remove-product-access` takes).
    pub products: Vec<Product>,
    /// Days without activity in a product before its licence is reclaimed.
    pub inactive_after_days: u32,
    /// Also reclaim from users never seen active, once their account is that old.
    #[serde(default)]
    pub include_never_active: bool,
    /// An account with no activity data either way (a site that reports none, and no login
    /// reinstate received): left alone (`skip`, the default), or counted as inactive since
    /// reinstate started watching its logins (`reclaim`: taken once it has watched for
    /// `inactive_after_days` without seeing one).
    #[serde(default)]
    pub unknown_activity: UnknownActivity,
    pub action: TakeAction,
    /// Days ahead the user is warned by email, with a link to keep their access; 0: no warning.
    #[serde(default)]
    pub warn_days_before: u32,
    /// Reclaim users who cannot be warned (no email address, or email is off); otherwise they
    /// are left alone and listed.
    #[serde(default)]
    pub warning_optional: bool,
    #[serde(default)]
    pub protect: Protect,
    /// What follows, when the user has not come back `after_days` after the reclaim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub then: Option<Then>,
}

fn yes() -> bool {
    true
}

/// What a policy does with an account whose activity nothing reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum UnknownActivity {
    /// Left alone, and listed as unknown.
    #[default]
    Skip,
    /// Inactive since reinstate started watching, when it has seen no login since.
    Reclaim,
}

/// What a policy takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum TakeAction {
    /// Removes the user from the groups that give the product (exactly those, recorded).
    RemoveProductAccess,
    /// Suspends the account's access in the organisation (Cloud; reversible, not billed).
    Suspend,
    /// Deactivates the account (Cloud managed accounts, Data Center).
    Deactivate,
}

/// The escalation after a reclaim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Then {
    pub after_days: u32,
    pub action: ThenAction,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ThenAction {
    Suspend,
    Deactivate,
    /// Removes the user from every group that gives any product.
    RemoveAllAccess,
    /// Cloud's account deletion, with its 14-day grace: undone within the grace, final after.
    Delete,
}

/// Users a policy never touches.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Protect {
    #[serde(default)]
    pub groups: Vec<String>,
    #[serde(default)]
    pub users: Vec<Email>,
    /// `example.com`, or `*.example.com` for its subdomains.
    #[serde(default)]
    pub domains: Vec<String>,
}

/// A policy list that cannot be used; names the policy and the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct InvalidPolicy {
    pub field: String,
    pub reason: String,
}

/// The name of the policy applied to leavers.
pub const LEAVERS: &str = "leavers";

impl PolicyList {
    /// Parses and validates a policy document: `{"policies": [...]}`.
    pub fn parse(body: &[u8]) -> Result<PolicyList, InvalidPolicy> {
        let de = &mut serde_json::Deserializer::from_slice(body);
        let list: PolicyList = serde_path_to_error::deserialize(&mut *de).map_err(|e| {
            let path = e.path().to_string();
            InvalidPolicy {
                field: if path == "." || path == "?" {
                    "body".into()
                } else {
                    path
                },
                reason: e.inner().to_string(),
            }
        })?;
        // Nothing but whitespace after the document.
        de.end().map_err(|e| InvalidPolicy {
            field: "body".into(),
            reason: e.to_string(),
        })?;
        list.validate()?;
        Ok(list)
    }

    pub fn validate(&self) -> Result<(), InvalidPolicy> {
        let mut names = std::collections::HashSet::new();
        for (i, policy) in self.policies.iter().enumerate() {
            let at = |field: &str, reason: &str| InvalidPolicy {
                field: format!("policies[{i}].{field}"),
                reason: format!("policy {:?}: {reason}", policy.name),
            };
            if policy.name.trim().is_empty() || policy.name.len() > 200 {
                return Err(at("name", "must be 1 to 200 characters"));
            }
            if !names.insert(policy.name.as_str()) {
                return Err(at("name", "another policy has the same name"));
            }
            policy.check(&at)?;
        }
        Ok(())
    }

    /// The policy applied to leavers, when there is one and it is enabled.
    pub fn leavers(&self) -> Option<&Policy> {
        leavers(&self.policies)
    }
}

/// The policy applied to leavers, when there is one and it is enabled.
pub fn leavers(policies: &[Policy]) -> Option<&Policy> {
    policies.iter().find(|p| p.enabled && p.name == LEAVERS)
}

impl Policy {
    fn check(&self, at: &dyn Fn(&str, &str) -> InvalidPolicy) -> Result<(), InvalidPolicy> {
        if self.products.is_empty() {
            return Err(at("products", "name at least one product"));
        }
        if !(1..=3650).contains(&self.inactive_after_days) {
            return Err(at("inactive_after_days", "must be 1 to 3650"));
        }
        if self.warn_days_before >= self.inactive_after_days {
            return Err(at(
                "warn_days_before",
                "must be less than inactive_after_days (the warning comes during the inactivity)",
            ));
        }
        for (j, d) in self.protect.domains.iter().enumerate() {
            if !crate::domain::rules::valid_domain_pattern(d) {
                let field = format!("protect.domains[{j}]");
                return Err(at(&field, "not a domain like example.com or *.example.com"));
            }
        }
        if let Some((j, _)) = self
            .protect
            .groups
            .iter()
            .enumerate()
            .find(|(_, g)| g.trim().is_empty() || g.len() > 256)
        {
            return Err(at(&format!("protect.groups[{j}]"), "1 to 256 characters"));
        }
        if let Some(then) = &self.then
            && !(1..=3650).contains(&then.after_days)
        {
            return Err(at("then.after_days", "must be 1 to 3650"));
        }
        Ok(())
    }

    /// Whether the policy's own `protect` covers this user; the reason when it does.
    pub fn protects(&self, email: Option<&Email>, groups: &[String]) -> Option<String> {
        let p = &self.protect;
        if let Some(e) = email {
            if p.users.contains(e) {
                return Some("listed in the policy's protected users".into());
            }
            let domain = e.domain();
            if let Some(d) = p
                .domains
                .iter()
                .find(|d| crate::domain::rules::domain_matches(d, domain))
            {
                return Some(format!("in the protected domain {d}"));
            }
        }
        p.groups
            .iter()
            .find(|g| groups.iter().any(|u| u.eq_ignore_ascii_case(g)))
            .map(|g| format!("in the protected group {g:?}"))
    }
}

impl TakeAction {
    pub fn key(self) -> &'static str {
        match self {
            TakeAction::RemoveProductAccess => "remove-product-access",
            TakeAction::Suspend => "suspend",
            TakeAction::Deactivate => "deactivate",
        }
    }
}

impl ThenAction {
    pub fn key(self) -> &'static str {
        match self {
            ThenAction::Suspend => "suspend",
            ThenAction::Deactivate => "deactivate",
            ThenAction::RemoveAllAccess => "remove-all-access",
            ThenAction::Delete => "delete",
        }
    }
}

/// A change of an account's standing, and its reverse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Standing {
    /// Cloud: the organisation suspends the account's access (reversible; not billed).
    Suspend,
    Unsuspend,
    /// The account is deactivated (Cloud managed accounts; Data Center's `active` flag).
    Deactivate,
    Activate,
    /// Cloud: the account is deleted after a 14-day grace.
    Delete,
    /// Cloud: a deletion within its grace is cancelled.
    CancelDelete,
}

impl Standing {
    /// The standing the change leads to.
    pub fn to(self) -> &'static str {
        match self {
            Standing::Suspend => "suspended",
            Standing::Deactivate => "deactivated",
            Standing::Delete => "deleted",
            Standing::Unsuspend | Standing::Activate | Standing::CancelDelete => "active",
        }
    }

    /// What gives it back.
    pub fn reverse(self) -> Standing {
        match self {
            Standing::Suspend => Standing::Unsuspend,
            Standing::Unsuspend => Standing::Suspend,
            Standing::Deactivate => Standing::Activate,
            Standing::Activate => Standing::Deactivate,
            Standing::Delete => Standing::CancelDelete,
            Standing::CancelDelete => Standing::Delete,
        }
    }

    pub fn key(self) -> &'static str {
        match self {
            Standing::Suspend => "suspend",
            Standing::Unsuspend => "unsuspend",
            Standing::Deactivate => "deactivate",
            Standing::Activate => "activate",
            Standing::Delete => "delete",
            Standing::CancelDelete => "cancel-delete",
        }
    }

    /// The changes that bring an account made `to` back to `from`: a deletion within its grace
    /// is cancelled, and the account enabled again when it was enabled before.
    pub fn back(to: &str, from: &str) -> Vec<Standing> {
        match (Standing::from_to(to), from) {
            (Some(Standing::Delete), "deactivated") => vec![Standing::CancelDelete],
            (Some(Standing::Delete), _) => vec![Standing::CancelDelete, Standing::Activate],
            (Some(change), _) => vec![change.reverse()],
            (None, _) => Vec::new(),
        }
    }

    pub fn from_to(to: &str) -> Option<Standing> {
        match to {
            "suspended" => Some(Standing::Suspend),
            "deactivated" => Some(Standing::Deactivate),
            "deleted" => Some(Standing::Delete),
            _ => None,
        }
    }
}

/// The JSON Schema of a policy list (`schemas/reclaim-policies.schema.json`).
pub fn policies_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(PolicyList)).unwrap_or_default()
}

#[cfg(test)]
mod tests;
