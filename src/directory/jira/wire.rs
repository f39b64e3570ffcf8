//! Jira's answers as they arrive: users (Cloud account ids or Data Center usernames, with their
//! groups when expanded) and application roles (a product's groups and seats).

use serde::Deserialize;

use crate::directory::{DirectoryUser, ProductAccess};
use crate::domain::{GroupRef, Product, Seats};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct JiraUser {
    /// Cloud.
    #[serde(default)]
    pub(super) account_id: Option<String>,
    /// Data Center: the username.
    #[serde(default)]
    pub(super) name: Option<String>,
    #[serde(default)]
    pub(super) email_address: Option<String>,
    #[serde(default = "yes")]
    pub(super) active: bool,
    #[serde(default)]
    pub(super) account_type: Option<String>,
    /// With `expand=groups`.
    #[serde(default)]
    pub(super) groups: Option<GroupList>,
}

impl JiraUser {
    pub(super) fn into_user(self, dc: bool) -> Option<DirectoryUser> {
        let id = if dc { self.name } else { self.account_id }?;
        Some(DirectoryUser {
            customer: self.account_type.as_deref() == Some("customer"),
            account_id: id,
            active: self.active,
            email: self.email_address,
            groups: self
                .groups
                .map(|g| g.items.into_iter().map(|g| g.name).collect()),
        })
    }
}

#[derive(Deserialize)]
pub(super) struct GroupList {
    #[serde(default)]
    pub(super) items: Vec<JiraGroup>,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
pub(super) struct JiraGroup {
    pub(super) name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ApplicationRole {
    pub(super) key: String,
    #[serde(default)]
    pub(super) groups: Vec<String>,
    /// Names only (Data Center, older Cloud answers).
    #[serde(default)]
    pub(super) default_groups: Vec<String>,
    #[serde(default)]
    pub(super) default_groups_details: Vec<GroupDetails>,
    #[serde(default)]
    pub(super) number_of_seats: Option<u64>,
    #[serde(default)]
    pub(super) remaining_seats: Option<u64>,
    #[serde(default)]
    pub(super) user_count: Option<u64>,
    #[serde(default)]
    pub(super) has_unlimited_seats: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct GroupDetails {
    pub(super) group_id: String,
    pub(super) name: String,
}

impl ApplicationRole {
    pub(super) fn into_access(self) -> Option<ProductAccess> {
        let product = Product::from_key(&self.key)?;
        let default_groups = if self.default_groups_details.is_empty() {
            self.default_groups
                .into_iter()
                .map(|name| GroupRef { id: None, name })
                .collect()
        } else {
            self.default_groups_details
                .into_iter()
                .map(|g| GroupRef {
                    id: Some(g.group_id),
                    name: g.name,
                })
                .collect()
        };
        Some(ProductAccess {
            product,
            default_groups,
            access_groups: self.groups,
            seats: Seats {
                total: self.number_of_seats,
                used: self.user_count,
                remaining: self.remaining_seats,
                unlimited: self.has_unlimited_seats,
            },
        })
    }
}
