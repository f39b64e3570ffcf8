//! Users reinstate has seen: per product, whether it holds the licence, what it added, and what
//! was reclaimed.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{Store, StoreError, dec, enc};
use crate::domain::{Email, GroupRef, Product};

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
    /// Reclaim warnings sent, by policy: the reclaim comes not before their `due`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub warnings: BTreeMap<String, Warning>,
}

/// A warning emailed before a reclaim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Warning {
    #[serde(with = "time::serde::rfc3339")]
    #[schemars(with = "String", extend("format" = "date-time"))]
    pub at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schemars(with = "String", extend("format" = "date-time"))]
    pub due: OffsetDateTime,
    /// The run that sent it.
    pub run: String,
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
            warnings: BTreeMap::new(),
        }
    }
}

impl Store {
    pub fn user(&self, email: &Email) -> Result<Option<UserRecord>, StoreError> {
        self.users
            .get(email.user_key())?
            .map(|v| dec(&v))
            .transpose()
    }

    /// Writes one user record (not flushed: for tools and benchmarks that flush at the end).
    pub fn put_user(&self, user: &UserRecord) -> Result<(), StoreError> {
        self.users.insert(user.email.user_key(), enc(user)?)?;
        Ok(())
    }

    /// Every user reinstate knows, in key order.
    pub fn users(&self) -> impl Iterator<Item = Result<UserRecord, StoreError>> + '_ {
        self.users.iter().values().map(|v| dec(&v?))
    }
}
