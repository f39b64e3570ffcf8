//! Listing every account of the directory, page by page, for the inventory: the organisation
//! API's user search (status, groups and per-product activity in one pass), else the site's
//! user list and the members of each product's licence groups (Cloud or Data Center, with
//! Confluence Data Center's licensed users and their last login). Pages go through the
//! connector's token bucket as background calls, so that restores go first. The cursor is the
//! lister's own; the sync saves it with every page, so a restart resumes where it stopped.

use async_trait::async_trait;
use time::OffsetDateTime;

use super::{CallLog, DirectoryError};
use crate::domain::{AccountStatus, AccountType};

mod org;
mod site;

pub use org::OrgLister;
pub use site::SiteLister;

/// An account as a listing reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub account_id: String,
    pub email: Option<String>,
    pub name: Option<String>,
    pub username: Option<String>,
    pub account_type: AccountType,
    pub status: AccountStatus,
    /// `Some` when the listing gives the account's groups (they replace what was known);
    /// `None` when a later phase lists the licence groups' members.
    pub groups: Option<Vec<String>>,
    /// The products held, with when last active if reported; `None` like `groups`.
    pub products: Option<Vec<(String, Option<OffsetDateTime>)>>,
    pub added_at: Option<OffsetDateTime>,
}

/// An account found holding a product: a member of one of its licence groups, or listed by the
/// product as licensed (with its last login, when reported).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub account_id: String,
    pub product: String,
    pub group: Option<String>,
    pub last_active: Option<OffsetDateTime>,
}

/// One page of a listing.
#[derive(Debug, Default)]
pub struct Page {
    pub accounts: Vec<Listed>,
    pub holders: Vec<Holder>,
    /// Where the next page starts; `None` when the listing is complete.
    pub next: Option<String>,
    /// What is still to do, in words.
    pub to_do: String,
}

/// Lists every account of a directory.
#[async_trait]
pub trait Lister: Send + Sync {
    /// What is listed, e.g. `organisation API` (for the sync's state).
    fn source(&self) -> &'static str;
    /// The page at `cursor` (`None`: the first).
    async fn page(&self, cursor: Option<&str>, calls: &mut CallLog)
    -> Result<Page, DirectoryError>;
}

/// Parses a listing's time: RFC 3339, or Unix milliseconds (Data Center).
pub(crate) fn instant(value: &serde_json::Value) -> Option<OffsetDateTime> {
    match value {
        serde_json::Value::String(s) => {
            OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()
        }
        serde_json::Value::Number(n) => n
            .as_i64()
            .and_then(|ms| OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000).ok()),
        _ => None,
    }
}

/// A cursor that cannot be read (from another version, or altered) starts the listing over.
pub(crate) fn read_cursor<T: serde::de::DeserializeOwned + Default>(cursor: Option<&str>) -> T {
    cursor
        .and_then(|c| serde_json::from_str(c).ok())
        .unwrap_or_default()
}

pub(crate) fn write_cursor<T: serde::Serialize>(cursor: &T) -> Option<String> {
    serde_json::to_string(cursor).ok()
}
