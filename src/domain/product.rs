//! Products, their licence groups and their seats.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The Atlassian products whose licence reinstate restores.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Product {
    JiraSoftware,
    Confluence,
    JiraServicedesk,
}

impl Product {
    pub const ALL: [Product; 3] = [
        Product::JiraSoftware,
        Product::Confluence,
        Product::JiraServicedesk,
    ];
    pub fn key(self) -> &'static str {
        match self {
            Product::JiraSoftware => "jira-software",
            Product::Confluence => "confluence",
            Product::JiraServicedesk => "jira-servicedesk",
        }
    }
    /// The product's name, as Atlassian writes it.
    pub fn name(self) -> &'static str {
        match self {
            Product::JiraSoftware => "Jira Software",
            Product::Confluence => "Confluence",
            Product::JiraServicedesk => "Jira Service Management",
        }
    }
    pub fn from_key(key: &str) -> Option<Product> {
        Product::ALL.into_iter().find(|p| p.key() == key)
    }
}

/// A product's seats, as the directory reports them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Seats {
    pub total: Option<u64>,
    pub used: Option<u64>,
    pub remaining: Option<u64>,
    pub unlimited: bool,
}

impl Seats {
    /// True when no seat is left for one more user.
    pub fn full(&self) -> bool {
        !self.unlimited && self.remaining == Some(0)
    }

    /// The seats after one more user took one.
    pub fn plus_one(self) -> Seats {
        Seats {
            used: self.used.map(|u| u + 1),
            remaining: self.remaining.map(|r| r.saturating_sub(1)),
            ..self
        }
    }
}

/// A group, by id (Cloud APIs, when known) and name (rules, audit, Data Center).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupRef {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub name: String,
}

/// A group as configuration or a reclaim tool gives it: a name, or `{"id", "name"}`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum GroupInput {
    Name(String),
    Ref(GroupRef),
}

impl GroupInput {
    pub fn into_ref(self) -> GroupRef {
        match self {
            GroupInput::Name(name) => GroupRef { id: None, name },
            GroupInput::Ref(r) => r,
        }
    }
}
