//! The organisation API's listing (Cloud, with `directory.org_id` and `org_api_key`): the
//! organisation's directories (`GET /admin/v2/orgs/{org}/directories`, every page of them),
//! then each directory's users (`POST …/directories/{id}/users/search`, `expand`
//! productAccess, groups and platformRoles), a page of 100 at a time. One pass gives every
//! account's status, groups, admin roles, who provisions it, and per-product last activity —
//! which Atlassian reports for every product held, so no time there means never used.

use std::sync::Arc;

use async_trait::async_trait;
use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{Listed, Lister, Page, instant, read_cursor, write_cursor};
use crate::directory::http::{Http, refused};
use crate::directory::{CallLog, DirectoryError};
use crate::domain::{AccountStatus, AccountType, product_key};

/// Accounts asked for per page.
const PAGE: u32 = 100;

pub struct OrgLister {
    http: Arc<Http>,
    org: String,
}

/// Where the listing is: the directories (once listed), which one, and its search cursor.
#[derive(Default, Serialize, Deserialize)]
struct Cursor {
    directories: Option<Vec<String>>,
    directory: usize,
    next: Option<String>,
}

impl OrgLister {
    pub fn new(http: Arc<Http>, org: &str) -> OrgLister {
        OrgLister {
            http,
            org: org.to_string(),
        }
    }

    async fn directories(&self, calls: &mut CallLog) -> Result<Vec<String>, DirectoryError> {
        let path = format!("/admin/v2/orgs/{}/directories", self.org);
        let mut ids: Vec<String> = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let query: Vec<(&str, &str)> = cursor.iter().map(|c| ("cursor", c.as_str())).collect();
            let v: Value = self.http.get_json(&path, &query, calls).await?;
            ids.extend(
                v["data"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|d| d["directoryId"].as_str().map(String::from)),
            );
            // `links.next` is an opaque cursor (the other parameters are then ignored).
            match v["links"]["next"].as_str().filter(|n| !n.is_empty()) {
                Some(next) if Some(next) != cursor.as_deref() => cursor = Some(next.to_string()),
                _ => break,
            }
        }
        // No directory listed (an older organisation): `-` searches every one the key sees.
        Ok(if ids.is_empty() {
            vec!["-".into()]
        } else {
            ids
        })
    }
}

#[async_trait]
impl Lister for OrgLister {
    fn source(&self) -> &'static str {
        "organisation API"
    }

    async fn page(
        &self,
        cursor: Option<&str>,
        calls: &mut CallLog,
    ) -> Result<Page, DirectoryError> {
        let mut at: Cursor = read_cursor(cursor);
        let directories = match at.directories.take() {
            Some(d) => d,
            None => self.directories(calls).await?,
        };
        let Some(directory) = directories.get(at.directory).cloned() else {
            return Ok(Page::default());
        };
        let path = format!(
            "/admin/v2/orgs/{}/directories/{directory}/users/search",
            self.org
        );
        let mut body =
            json!({"limit": PAGE, "expand": ["productAccess", "groups", "platformRoles"]});
        if let Some(next) = &at.next {
            body["cursor"] = Value::String(next.clone());
        }
        let answer = self
            .http
            .call(Method::POST, &path, &[], Some(body), calls)
            .await?;
        if !answer.status.is_success() {
            return Err(refused(&format!("POST {path}"), &answer));
        }
        let v: Value = Http::json(&answer, &format!("POST {path}"))?;
        let accounts: Vec<Listed> = v["data"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|u| listed(u, &directory))
            .collect();
        at.next = v["links"]["next"]
            .as_str()
            .filter(|n| !n.is_empty())
            .map(String::from);
        if at.next.is_none() {
            at.directory += 1;
        }
        let remaining = directories.len().saturating_sub(at.directory);
        let to_do = match (&at.next, remaining) {
            (Some(_), _) => {
                format!("directory {directory}: more pages; {remaining} directories to list")
            }
            (None, 0) => "nothing: the listing is complete".into(),
            (None, n) => format!("{n} directories to list"),
        };
        let done = at.next.is_none() && remaining == 0;
        at.directories = Some(directories);
        Ok(Page {
            accounts,
            holders: Vec::new(),
            next: if done { None } else { write_cursor(&at) },
            to_do,
            incomplete: None,
        })
    }
}

/// One user of a search page of `directory`.
fn listed(u: &Value, directory: &str) -> Option<Listed> {
    let s = |k: &str| u[k].as_str().map(String::from);
    let status = match (u["status"].as_str(), u["accountStatus"].as_str()) {
        (_, Some("closed")) => AccountStatus::Gone,
        (Some("active"), _) => AccountStatus::Active,
        (Some("deactivated" | "for_deletion"), _) | (_, Some("inactive")) => {
            AccountStatus::Deactivated
        }
        // Suspended, or no longer a member of any site (`not_invited`): no access now.
        _ => AccountStatus::Suspended,
    };
    let products = u["productAccess"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| {
            Some((
                product_key(p["key"].as_str()?),
                instant(&p["lastActiveTimestamp"]),
            ))
        })
        .collect();
    let groups = u["groups"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|g| g["name"].as_str().map(String::from))
        .collect();
    Some(Listed {
        email: s("email"),
        name: s("name").or_else(|| s("nickname")),
        groups: Some(groups),
        products: Some(products),
        added_at: instant(&u["addedToOrg"]),
        directory: (directory != "-").then(|| directory.to_string()),
        admin_roles: crate::directory::cloud_admin::admin_roles(&u["platformRoles"]),
        synced: u["managementSource"] == "synced",
        reports_activity: true,
        ..Listed::new(
            s("accountId")?,
            AccountType::from_atlassian(u["accountType"].as_str()),
            status,
        )
    })
}
