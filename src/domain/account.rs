//! An account as the directory knows it: its status, what kind of account it is, and the keys
//! of the products it may hold (an open set: every key a directory reports is kept).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Product;

/// The account's standing in the directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AccountStatus {
    Active,
    /// Access suspended (reversible; the account keeps its groups).
    Suspended,
    /// The account is deactivated (Cloud `accountStatus: inactive`, Data Center `active: false`).
    Deactivated,
    /// No longer in the directory: reinstate keeps the record, with when it went.
    Gone,
}

impl AccountStatus {
    pub fn key(self) -> &'static str {
        match self {
            AccountStatus::Active => "active",
            AccountStatus::Suspended => "suspended",
            AccountStatus::Deactivated => "deactivated",
            AccountStatus::Gone => "gone",
        }
    }
    pub fn from_key(key: &str) -> Option<AccountStatus> {
        [
            AccountStatus::Active,
            AccountStatus::Suspended,
            AccountStatus::Deactivated,
            AccountStatus::Gone,
        ]
        .into_iter()
        .find(|s| s.key() == key)
    }
}

/// Who the account is for. Apps (bots, integrations) only call the API, which Atlassian never
/// counts as activity: they are kept apart so that they never look like inactive people.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AccountType {
    /// A person's Atlassian account.
    Person,
    /// An app or integration account.
    App,
    /// A Service Management portal-only customer.
    Customer,
}

impl AccountType {
    /// From Atlassian's `accountType` (`atlassian`, `app`, `customer`, `unknown`).
    pub fn from_atlassian(value: Option<&str>) -> AccountType {
        match value {
            Some("app") => AccountType::App,
            Some("customer") => AccountType::Customer,
            _ => AccountType::Person,
        }
    }
    pub fn key(self) -> &'static str {
        match self {
            AccountType::Person => "person",
            AccountType::App => "app",
            AccountType::Customer => "customer",
        }
    }
}

/// A product as a directory names it, normalised: lower case, and the names Atlassian uses for
/// the same product in different APIs made one (`jira` → `jira-software`,
/// `jira-service-desk` → `jira-servicedesk`).
pub fn product_key(raw: &str) -> String {
    let key = raw.trim().to_ascii_lowercase();
    match key.as_str() {
        "jira" => "jira-software".into(),
        "jira-service-desk" | "jira-service-management" | "jira-servicemanagement" => {
            "jira-servicedesk".into()
        }
        "confluence.ondemand" => "confluence".into(),
        _ => key,
    }
}

/// The product reinstate restores under `key`, if it is one of those.
pub fn restorable(key: &str) -> Option<Product> {
    Product::from_key(&product_key(key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn product_keys_from_every_api_meet() {
        assert_eq!(product_key("Jira"), "jira-software");
        assert_eq!(product_key("jira-service-desk"), "jira-servicedesk");
        assert_eq!(product_key("loom"), "loom");
        assert_eq!(restorable("jira"), Some(Product::JiraSoftware));
        assert_eq!(restorable("compass"), None);
    }
}
