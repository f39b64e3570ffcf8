//! The site's listing, when no organisation API is configured. First every user: Jira Cloud's
//! `GET /rest/api/3/users/search` (1,000 a page, until an empty page); Jira Data Center's
//! version from `GET /rest/api/2/serverInfo`, then `GET /rest/api/2/user/list` (a cursor,
//! 10.3 and later), or before 10.3 `GET /rest/api/2/user/search` by name prefixes, split while
//! an answer comes back at the version's cap (100 on Jira 10, 1,000 before) — a prefix still
//! capped makes the listing incomplete, and the sync then marks nobody gone. Then the members
//! of each product's licence groups (`…/group/member`, 50 a page), which say who holds which
//! licence. Last, with Confluence Data Center, its licensed users with their last login
//! (`GET /rest/api/admin/users/list/active?expand=lastLogin`), or on versions without it its
//! licence groups' members. The site reports no per-product activity; Jira Data Center 11
//! reports each user's last login to the site (`lastLoginTime`).

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
    /// Data Center's version, from `serverInfo`.
    version: Option<(u32, u32, u32)>,
    /// Data Center older than 10.3: `user/search` by prefixes still to ask (`.`: everyone).
    shards: Vec<String>,
    /// Prefixes still at the search's cap at the deepest split: who they hold past the cap
    /// cannot be listed.
    capped: Vec<String>,
    /// The licence groups to list, as (product key, group), once known.
    groups: Vec<(String, String)>,
    group: usize,
    /// Confluence Data Center without `admin/users/list/active`: its licence groups' members.
    confluence_groups: Option<Vec<String>>,
}

const USERS_PAGE: u64 = 1000;
const MEMBERS_PAGE: u64 = 50;
const CONFLUENCE_PAGE: u64 = 200;
/// What a prefix of `user/search` is split by when it comes back full.
const SHARD_ALPHABET: &str = "abcdefghijklmnopqrstuvwxyz0123456789._-@+'";
/// How long a prefix may grow before a full answer is taken as a cap that cannot be passed.
const MAX_SHARD: usize = 12;

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

    /// Data Center's version (`GET /rest/api/2/serverInfo`, `versionNumbers`).
    async fn version(&self, calls: &mut CallLog) -> Result<(u32, u32, u32), DirectoryError> {
        let v: Value = self
            .http
            .get_json(&self.api("serverInfo"), &[], calls)
            .await?;
        let n = |i: usize| v["versionNumbers"][i].as_u64().unwrap_or(0) as u32;
        Ok((n(0), n(1), n(2)))
    }

    /// A page of users; moves to the members phase after the last.
    async fn users(
        &self,
        at: &mut Cursor,
        calls: &mut CallLog,
    ) -> Result<Vec<Listed>, DirectoryError> {
        let max = USERS_PAGE.to_string();
        let start = at.start.to_string();
        let version = match (self.dc, at.version) {
            (true, None) => {
                let v = self.version(calls).await?;
                at.version = Some(v);
                if (v.0, v.1) < (10, 3) {
                    at.shards = vec![".".into()];
                }
                Some(v)
            }
            (_, v) => v,
        };
        let (values, more) = if !self.dc {
            let query = [("startAt", start.as_str()), ("maxResults", max.as_str())];
            let v = self
                .get(&self.api("users/search"), &query, calls)
                .await?
                .unwrap_or_default();
            let values = v.as_array().cloned().unwrap_or_default();
            let more = !values.is_empty();
            (values, more)
        } else if at.shards.is_empty() && version.is_some_and(|v| (v.0, v.1) >= (10, 3)) {
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
                // Not there after all (it never answers 404 for a bad cursor): the prefix
                // search lists everyone instead.
                None => {
                    at.shards = vec![".".into()];
                    at.start = 0;
                    (Vec::new(), true)
                }
            }
        } else {
            let values = self.shard(at, version.unwrap_or_default(), calls).await?;
            (values, !at.shards.is_empty())
        };
        at.start += values.len() as u64;
        if !more {
            at.phase = Phase::Members;
            at.start = 0;
            at.groups = self.licence_groups(calls).await?;
        }
        Ok(values.iter().filter_map(|u| self.listed(u)).collect())
    }

    /// One prefix of Data Center's `user/search`, which never answers past its cap (Jira 10:
    /// 100, JRASERVER-78660; Jira 9 and earlier: 1,000, JRASERVER-65089): a full answer is
    /// split into longer prefixes; one still full at `MAX_SHARD` characters is recorded as
    /// capped, so the sync knows it could not list everyone.
    async fn shard(
        &self,
        at: &mut Cursor,
        version: (u32, u32, u32),
        calls: &mut CallLog,
    ) -> Result<Vec<Value>, DirectoryError> {
        let Some(prefix) = at.shards.pop() else {
            return Ok(Vec::new());
        };
        let cap: usize = if version.0 >= 10 { 100 } else { 1000 };
        let max = cap.to_string();
        let query = [
            ("username", prefix.as_str()),
            ("includeInactive", "true"),
            ("startAt", "0"),
            ("maxResults", max.as_str()),
        ];
        let v = self
            .get(&self.api("user/search"), &query, calls)
            .await?
            .unwrap_or_default();
        let values = v.as_array().cloned().unwrap_or_default();
        if values.len() >= cap {
            let stem = if prefix == "." { "" } else { prefix.as_str() };
            if stem.chars().count() >= MAX_SHARD {
                at.capped.push(prefix.clone());
            } else {
                // Last in, first out: the queue stays as short as the prefix is long. A lone
                // `.` is the search for everyone, not a prefix.
                for c in SHARD_ALPHABET.chars().rev() {
                    if !(stem.is_empty() && c == '.') {
                        at.shards.push(format!("{stem}{c}"));
                    }
                }
            }
        }
        Ok(values)
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
            email: s("emailAddress"),
            name: s("displayName"),
            // Jira Data Center 11: the last login to the site.
            site_login: instant(&u["lastLoginTime"]),
            ..Listed::new(
                account_id,
                AccountType::from_atlassian(u["accountType"].as_str()),
                status,
            )
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

    /// A page of Confluence Data Center's licensed users, with their last login
    /// (`admin/users/list/active`); on a version without it (404), of its licence groups'
    /// members (`group/{group}/member`), who have no last login to report.
    async fn confluence(
        &self,
        http: &Http,
        at: &mut Cursor,
        calls: &mut CallLog,
    ) -> Result<(Vec<Holder>, bool), DirectoryError> {
        if at.confluence_groups.is_some() {
            return self.confluence_members(http, at, calls).await;
        }
        let (start, limit) = (at.start.to_string(), CONFLUENCE_PAGE.to_string());
        let query = [
            ("start", start.as_str()),
            ("limit", limit.as_str()),
            ("expand", "lastLogin"),
        ];
        let path = "/rest/api/admin/users/list/active";
        let answer = http.call(Method::GET, path, &query, None, calls).await?;
        if answer.status.as_u16() == 404 {
            let groups = self
                .directory
                .products(calls)
                .await?
                .into_iter()
                .filter(|p| p.product == Product::Confluence)
                .flat_map(|p| p.access_groups)
                .collect();
            at.confluence_groups = Some(groups);
            at.start = 0;
            at.group = 0;
            return Ok((Vec::new(), true));
        }
        if !answer.status.is_success() {
            return Err(refused(&format!("GET {path}"), &answer));
        }
        let v: Value = Http::json(&answer, &format!("GET {path}"))?;
        let results = v["results"].as_array().cloned().unwrap_or_default();
        let holders = confluence_holders(&results, None);
        at.start += results.len() as u64;
        Ok((holders, results.len() as u64 == CONFLUENCE_PAGE))
    }

    /// A page of one of Confluence's licence groups' members.
    async fn confluence_members(
        &self,
        http: &Http,
        at: &mut Cursor,
        calls: &mut CallLog,
    ) -> Result<(Vec<Holder>, bool), DirectoryError> {
        let groups = at.confluence_groups.clone().unwrap_or_default();
        let Some(group) = groups.get(at.group) else {
            return Ok((Vec::new(), false));
        };
        let (start, limit) = (at.start.to_string(), CONFLUENCE_PAGE.to_string());
        let path = format!("/rest/api/group/{}/member", segment(group));
        let query = [("start", start.as_str()), ("limit", limit.as_str())];
        let v: Value = http.get_json(&path, &query, calls).await?;
        let results = v["results"].as_array().cloned().unwrap_or_default();
        let holders = confluence_holders(&results, Some(group));
        if results.len() as u64 == CONFLUENCE_PAGE {
            at.start += results.len() as u64;
        } else {
            at.group += 1;
            at.start = 0;
        }
        Ok((holders, at.group < groups.len()))
    }
}

/// Confluence Data Center users as licence holders: of a licence group's members (`group`,
/// who carry no last login) or of the licensed users' list (with `lastLogin`).
fn confluence_holders(results: &[Value], group: Option<&String>) -> Vec<Holder> {
    results
        .iter()
        .filter_map(|u| {
            Some(Holder {
                account_id: u["username"].as_str()?.to_string(),
                product: Product::Confluence.key().to_string(),
                group: group.cloned(),
                last_active: instant(&u["lastLogin"]),
            })
        })
        .collect()
}

/// A path segment, percent-encoded (group names may hold spaces and slashes).
fn segment(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
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
            Phase::Users if !at.shards.is_empty() => {
                format!("users: {} name prefixes to search", at.shards.len())
            }
            Phase::Users => format!("users from {} on", at.start),
            Phase::Members => format!(
                "{} licence groups' members",
                at.groups.len().saturating_sub(at.group)
            ),
            Phase::Confluence if more => "Confluence's licensed users".into(),
            Phase::Confluence => "nothing: the listing is complete".into(),
        };
        if !more && !at.capped.is_empty() {
            let (a, b, c) = at.version.unwrap_or_default();
            let cap = if a >= 10 { 100 } else { 1000 };
            page.incomplete = Some(format!(
                "Jira Data Center {a}.{b}.{c} answers user/search with at most {cap} users \
                 (JRASERVER-78660, JRASERVER-65089) and has no user/list before 10.3: the \
                 prefixes {:?} still held {cap}, so some accounts could not be listed",
                at.capped
            ));
        }
        page.next = if more { write_cursor(&at) } else { None };
        Ok(page)
    }
}
