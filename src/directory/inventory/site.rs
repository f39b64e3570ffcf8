//! The site's listing, when no organisation API is configured. First every user: Jira Cloud's
//! `GET /rest/api/3/users/search` (1,000 a page, until an empty page); Jira Data Center's
//! `GET /rest/api/2/user/list` (a cursor, 10.3 and later), or on older versions
//! `GET /rest/api/2/user/search?username=.` (which Jira 9 and earlier truncate at 1,000 users).
//! Then the members of each product's licence groups (`…/group/member`, 50 a page), which say
//! who holds which licence. Last, with Confluence Data Center, its licensed users with their
//! last login (`GET /rest/api/admin/users/list/active?expand=lastLogin`). The site reports no
//! per-product activity: that comes from the logins reinstate receives.

use std::sync::Arc;

use async_trait::async_trait;
use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Holder, Listed, Lister, Page, instant, read_cursor, write_cursor};
use crate::directory::http::{Http, refused};
use crate::directory::{CallLog, Directory, DirectoryError};
use crate::domain::{AccountStatus, AccountType, Product};

pub struct SiteLister {
    http: Arc<Http>,
    dc: bool,
    /// Says which groups grant which product (`applicationrole` and `[[products]]`).
    directory: Arc<dyn Directory>,
    /// Confluence Data Center on its own instance.
    confluence: Option<Arc<Http>>,
}

#[derive(Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum Phase {
    #[default]
    Users,
    Members,
    Confluence,
}

#[derive(Default, Serialize, Deserialize)]
struct Cursor {
    phase: Phase,
    start: u64,
    /// Data Center's `user/list` cursor.
    next: Option<String>,
    /// Data Center older than 10.3: `user/search` instead of `user/list`.
    search: bool,
    /// The licence groups to list, as (product key, group), once known.
    groups: Vec<(String, String)>,
    group: usize,
}

const USERS_PAGE: u64 = 1000;
const MEMBERS_PAGE: u64 = 50;
const CONFLUENCE_PAGE: u64 = 200;

impl SiteLister {
    pub fn new(
        http: Arc<Http>,
        dc: bool,
        directory: Arc<dyn Directory>,
        confluence: Option<Arc<Http>>,
    ) -> SiteLister {
        SiteLister {
            http,
            dc,
            directory,
            confluence,
        }
    }

    fn api(&self, path: &str) -> String {
        format!("/rest/api/{}/{path}", if self.dc { 2 } else { 3 })
    }

    async fn get(
        &self,
        path: &str,
        query: &[(&str, &str)],
        calls: &mut CallLog,
    ) -> Result<Option<Value>, DirectoryError> {
        let answer = self
            .http
            .call(Method::GET, path, query, None, calls)
            .await?;
        match answer.status.as_u16() {
            200..=299 => Http::json(&answer, &format!("GET {path}")).map(Some),
            404 => Ok(None),
            _ => Err(refused(&format!("GET {path}"), &answer)),
        }
    }

    /// A page of users; moves to the members phase after the last.
    async fn users(
        &self,
        at: &mut Cursor,
        calls: &mut CallLog,
    ) -> Result<Vec<Listed>, DirectoryError> {
        let max = USERS_PAGE.to_string();
        let start = at.start.to_string();
        let (values, more) = if !self.dc {
            let query = [("startAt", start.as_str()), ("maxResults", max.as_str())];
            let v = self
                .get(&self.api("users/search"), &query, calls)
                .await?
                .unwrap_or_default();
            let values = v.as_array().cloned().unwrap_or_default();
            let more = !values.is_empty();
            (values, more)
        } else if !at.search {
            let mut query = vec![("maxResults", max.as_str())];
            if let Some(c) = &at.next {
                query.push(("cursor", c.as_str()));
            }
            match self.get(&self.api("user/list"), &query, calls).await? {
                Some(v) => {
                    at.next = v["nextCursor"].as_str().map(String::from);
                    let more = v["isLast"] == false && at.next.is_some();
                    (v["values"].as_array().cloned().unwrap_or_default(), more)
                }
                None => {
                    // Before 10.3: no `user/list`.
                    at.search = true;
                    return Ok(Vec::new());
                }
            }
        } else {
            let query = [
                ("username", "."),
                ("includeInactive", "true"),
                ("startAt", start.as_str()),
                ("maxResults", max.as_str()),
            ];
            let v = self
                .get(&self.api("user/search"), &query, calls)
                .await?
                .unwrap_or_default();
            let values = v.as_array().cloned().unwrap_or_default();
            let more = values.len() as u64 == USERS_PAGE;
            (values, more)
        };
        at.start += values.len() as u64;
        if !more {
            at.phase = Phase::Members;
            at.start = 0;
            at.groups = self.licence_groups(calls).await?;
        }
        Ok(values.iter().filter_map(|u| self.listed(u)).collect())
    }

    fn listed(&self, u: &Value) -> Option<Listed> {
        let s = |k: &str| u[k].as_str().map(String::from);
        let account_id = if self.dc { s("name")? } else { s("accountId")? };
        let status = if u["deleted"] == true {
            AccountStatus::Gone
        } else if u["active"] == false {
            AccountStatus::Deactivated
        } else {
            AccountStatus::Active
        };
        Some(Listed {
            username: self.dc.then(|| account_id.clone()),
            account_id,
            email: s("emailAddress"),
            name: s("displayName"),
            account_type: AccountType::from_atlassian(u["accountType"].as_str()),
            status,
            groups: None,
            products: None,
            added_at: None,
        })
    }

    /// Every product's licence groups, as (product key, group).
    async fn licence_groups(
        &self,
        calls: &mut CallLog,
    ) -> Result<Vec<(String, String)>, DirectoryError> {
        let mut groups = Vec::new();
        for access in self.directory.products(calls).await? {
            // Confluence Data Center is its own instance, listed in its own phase.
            if self.dc && self.confluence.is_some() && access.product == Product::Confluence {
                continue;
            }
            for g in access.access_groups {
                groups.push((access.product.key().to_string(), g));
            }
        }
        Ok(groups)
    }

    /// A page of one licence group's members; moves to the next group after its last page.
    async fn members(
        &self,
        at: &mut Cursor,
        calls: &mut CallLog,
    ) -> Result<Vec<Holder>, DirectoryError> {
        let Some((product, group)) = at.groups.get(at.group).cloned() else {
            at.phase = Phase::Confluence;
            at.start = 0;
            return Ok(Vec::new());
        };
        let (start, max) = (at.start.to_string(), MEMBERS_PAGE.to_string());
        let query = [
            ("groupname", group.as_str()),
            ("includeInactiveUsers", "true"),
            ("startAt", start.as_str()),
            ("maxResults", max.as_str()),
        ];
        // A group the site does not have (renamed, or another instance's) holds no one here.
        let v = self
            .get(&self.api("group/member"), &query, calls)
            .await?
            .unwrap_or_default();
        let values = v["values"].as_array().cloned().unwrap_or_default();
        let id_key = if self.dc { "name" } else { "accountId" };
        let holders = values
            .iter()
            .filter_map(|m| m[id_key].as_str())
            .map(|id| Holder {
                account_id: id.to_string(),
                product: product.clone(),
                group: Some(group.clone()),
                last_active: None,
            })
            .collect();
        if v["isLast"] == false && !values.is_empty() {
            at.start += values.len() as u64;
        } else {
            at.group += 1;
            at.start = 0;
        }
        Ok(holders)
    }

    /// A page of Confluence Data Center's licensed users, with their last login.
    async fn confluence(
        &self,
        http: &Http,
        at: &mut Cursor,
        calls: &mut CallLog,
    ) -> Result<(Vec<Holder>, bool), DirectoryError> {
        let (start, limit) = (at.start.to_string(), CONFLUENCE_PAGE.to_string());
        let query = [
            ("start", start.as_str()),
            ("limit", limit.as_str()),
            ("expand", "lastLogin"),
        ];
        let v: Value = http
            .get_json("/rest/api/admin/users/list/active", &query, calls)
            .await?;
        let results = v["results"].as_array().cloned().unwrap_or_default();
        let holders = results
            .iter()
            .filter_map(|u| {
                Some(Holder {
                    account_id: u["username"].as_str()?.to_string(),
                    product: Product::Confluence.key().to_string(),
                    group: None,
                    last_active: instant(&u["lastLogin"]),
                })
            })
            .collect();
        at.start += results.len() as u64;
        Ok((holders, results.len() as u64 == CONFLUENCE_PAGE))
    }
}

#[async_trait]
impl Lister for SiteLister {
    fn source(&self) -> &'static str {
        if self.dc {
            "Jira Data Center"
        } else {
            "Jira Cloud site"
        }
    }

    async fn page(
        &self,
        cursor: Option<&str>,
        calls: &mut CallLog,
    ) -> Result<Page, DirectoryError> {
        let mut at: Cursor = read_cursor(cursor);
        let mut page = Page::default();
        let more = match at.phase {
            Phase::Users => {
                page.accounts = self.users(&mut at, calls).await?;
                true
            }
            Phase::Members => {
                page.holders = self.members(&mut at, calls).await?;
                true
            }
            Phase::Confluence => match &self.confluence {
                Some(http) if self.dc => {
                    let (holders, more) = self.confluence(http, &mut at, calls).await?;
                    page.holders = holders;
                    more
                }
                _ => false,
            },
        };
        page.to_do = match at.phase {
            Phase::Users => format!("users from {} on", at.start),
            Phase::Members => format!(
                "{} licence groups' members",
                at.groups.len().saturating_sub(at.group)
            ),
            Phase::Confluence if more => "Confluence's licensed users".into(),
            Phase::Confluence => "nothing: the listing is complete".into(),
        };
        page.next = if more { write_cursor(&at) } else { None };
        Ok(page)
    }
}
