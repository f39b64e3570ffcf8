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
    /// The organisation directory the account was found in.
    pub directory: Option<String>,
    /// The organisation's admin roles of the account (`platformRoles`).
    pub admin_roles: Vec<String>,
    /// Provisioned by an identity provider (`managementSource: synced`).
    pub synced: bool,
    /// Whether `products` reports each product's activity (then no time means never used).
    pub reports_activity: bool,
    /// The site's own last login of the account (Jira Data Center 11's `lastLoginTime`).
    pub site_login: Option<OffsetDateTime>,
}

impl Listed {
    /// An account a listing reports with only these, the rest unknown.
    pub fn new(account_id: String, account_type: AccountType, status: AccountStatus) -> Listed {
        Listed {
            account_id,
            email: None,
            name: None,
            username: None,
            account_type,
            status,
            groups: None,
            products: None,
            added_at: None,
            directory: None,
            admin_roles: Vec::new(),
            synced: false,
            reports_activity: false,
            site_login: None,
        }
    }
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
    /// Set on a listing's last page when it could not list everyone (a cap it cannot get
    /// past): why. The sync then marks no account it did not see as gone.
    pub incomplete: Option<String>,
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

/// Parses a listing's time in the forms Atlassian writes, as UTC: RFC 3339, Java's ISO form
/// with a `+0100` offset (Data Center's `lastLogin`, `lastLoginTime`), or Unix milliseconds (as
/// a number or a string).
pub fn instant(value: &serde_json::Value) -> Option<OffsetDateTime> {
    written(value).map(|t| t.to_offset(time::UtcOffset::UTC))
}

/// `instant`, in the offset it was written in.
fn written(value: &serde_json::Value) -> Option<OffsetDateTime> {
    use time::format_description::well_known::Rfc3339;
    let from_ms = |ms: i64| OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000).ok();
    match value {
        serde_json::Value::String(s) => {
            let s = s.trim();
            if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
                return Some(t);
            }
            if let Ok(ms) = s.parse::<i64>() {
                return from_ms(ms);
            }
            // `2026-05-01T08:12:44.000+0100`, `2026-05-01T08:12:44+0100`: the offset without
            // its colon.
            let (head, offset) = s.split_at(s.len().checked_sub(5)?);
            let colon =
                offset.starts_with(['+', '-']) && offset[1..].bytes().all(|b| b.is_ascii_digit());
            if !colon {
                return None;
            }
            OffsetDateTime::parse(
                &format!("{head}{}:{}", &offset[..3], &offset[3..]),
                &Rfc3339,
            )
            .ok()
        }
        serde_json::Value::Number(n) => n.as_i64().and_then(from_ms),
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn times_are_read_in_every_form_atlassian_writes() {
        let at = |s: &str| {
            OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).expect("time")
        };
        let utc = at("2026-05-01T07:12:44Z");
        assert_eq!(instant(&json!("2026-05-01T07:12:44Z")), Some(utc));
        assert_eq!(instant(&json!("2026-05-01T08:12:44.000+0100")), Some(utc));
        assert_eq!(instant(&json!("2026-05-01T08:12:44+0100")), Some(utc));
        assert_eq!(instant(&json!("2026-05-01T02:12:44-0500")), Some(utc));
        assert_eq!(instant(&json!(1777619564000i64)), Some(utc));
        assert_eq!(instant(&json!("1777619564000")), Some(utc));
        assert_eq!(instant(&json!("yesterday")), None);
        assert_eq!(instant(&json!(null)), None);
    }
}
