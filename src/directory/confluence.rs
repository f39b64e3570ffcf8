//! Confluence, Cloud or Data Center: licences by group membership, in groups the configuration
//! names (`[[products]] groups`; Confluence has no API that says which groups hold a licence).
//! Users are found through Jira (the same Atlassian account on Cloud; on Data Center the same
//! username, from the user directory both instances share).

use async_trait::async_trait;
use reqwest::Method;
use secrecy::SecretString;
use serde::Deserialize;

use super::config::{DirectoryConfig, ProductConfig};
use super::http::{Auth, Http, refused};
use super::{
    Added, CallLog, Directory, DirectoryError, DirectoryUser, ProductAccess, Removed, Standing,
};
use crate::domain::Seats;
use crate::domain::{Email, GroupRef, Product};

pub struct Confluence {
    http: std::sync::Arc<Http>,
    dc: bool,
    /// `directory.reactivate` (Data Center: enable disabled users).
    reactivate: bool,
    groups: Vec<GroupRef>,
    /// Cloud group ids found by name.
    ids: std::sync::Mutex<std::collections::HashMap<String, String>>,
}

#[derive(Deserialize)]
struct Page {
    #[serde(default)]
    results: Vec<Named>,
    #[serde(default, rename = "_links")]
    links: Links,
}

#[derive(Deserialize, Default)]
struct Links {
    next: Option<String>,
}

#[derive(Deserialize)]
struct Named {
    name: String,
    #[serde(default)]
    id: Option<String>,
}

/// What a path segment must not hold as is (RFC 3986; group names may hold spaces and slashes).
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}');

/// A path segment, percent-encoded.
fn seg(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, SEGMENT).to_string()
}

impl Confluence {
    /// The instance's client, shared with the inventory's listing (one token bucket).
    pub fn http(&self) -> std::sync::Arc<Http> {
        self.http.clone()
    }

    /// Confluence for `product`: Cloud on the Jira site with the same credentials, or Data
    /// Center at the product's own `site_url` with its personal access token.
    pub fn new(
        config: &DirectoryConfig,
        product: &ProductConfig,
        dc: bool,
    ) -> Result<Confluence, DirectoryError> {
        let site = product
            .site_url
            .as_deref()
            .or(config.site_url.as_deref())
            .ok_or_else(|| DirectoryError::Permanent("confluence: no site_url".into()))?;
        let token: SecretString = product
            .api_token
            .clone()
            .or_else(|| config.api_token.clone())
            .unwrap_or_else(|| SecretString::from(""));
        let auth = if dc {
            Auth::Bearer(token)
        } else {
            Auth::Basic {
                user: config.email.clone().unwrap_or_default(),
                token,
            }
        };
        Ok(Confluence {
            http: std::sync::Arc::new(Http::new(site, auth, config)?),
            dc,
            reactivate: config.reactivate,
            groups: product
                .groups
                .iter()
                .cloned()
                .map(|g| g.into_ref())
                .collect(),
            ids: Default::default(),
        })
    }

    /// Confluence Cloud's id of a group: the configured one, else found by name in the site's
    /// groups (`GET /wiki/rest/api/group`, every page) and kept. The by-name membership calls
    /// (`/wiki/rest/api/group/user?name=`) are gone from Atlassian's current API.
    async fn group_id(
        &self,
        group: &GroupRef,
        calls: &mut CallLog,
    ) -> Result<String, DirectoryError> {
        if let Some(id) = &group.id {
            return Ok(id.clone());
        }
        if let Some(id) = self
            .ids
            .lock()
            .ok()
            .and_then(|ids| ids.get(&group.name).cloned())
        {
            return Ok(id);
        }
        let mut start = 0usize;
        loop {
            let s = start.to_string();
            let query = [("start", s.as_str()), ("limit", "200")];
            let page: Page = self
                .http
                .get_json("/wiki/rest/api/group", &query, calls)
                .await?;
            let n = page.results.len();
            if let Some(id) = page
                .results
                .into_iter()
                .find(|g| g.name.eq_ignore_ascii_case(&group.name))
                .and_then(|g| g.id)
            {
                if let Ok(mut ids) = self.ids.lock() {
                    ids.insert(group.name.clone(), id.clone());
                }
                return Ok(id);
            }
            start += n;
            if page.links.next.is_none() || n == 0 {
                return Err(DirectoryError::Permanent(format!(
                    "Confluence has no group {:?}",
                    group.name
                )));
            }
        }
    }

    fn unsupported(&self, what: &str) -> DirectoryError {
        DirectoryError::Permanent(format!("the {} connector cannot {what}", self.kind()))
    }
}

#[async_trait]
impl Directory for Confluence {
    fn kind(&self) -> &'static str {
        if self.dc {
            "confluence-data-center"
        } else {
            "confluence-cloud"
        }
    }

    async fn find_user(
        &self,
        _account_id: Option<&str>,
        _email: &Email,
        _calls: &mut CallLog,
    ) -> Result<Option<DirectoryUser>, DirectoryError> {
        Err(self.unsupported("find users (Jira does)"))
    }

    /// Every page of the user's groups (`user/memberof`, following `_links.next`).
    async fn user_groups(
        &self,
        account_id: &str,
        calls: &mut CallLog,
    ) -> Result<Vec<String>, DirectoryError> {
        let (path, param) = if self.dc {
            ("/rest/api/user/memberof", "username")
        } else {
            ("/wiki/rest/api/user/memberof", "accountId")
        };
        let mut groups = Vec::new();
        loop {
            let start = groups.len().to_string();
            let query = [
                (param, account_id),
                ("start", start.as_str()),
                ("limit", "200"),
            ];
            let answer = self
                .http
                .call(Method::GET, path, &query, None, calls)
                .await?;
            let page: Page = match answer.status.as_u16() {
                200 => Http::json(&answer, &format!("GET {path}"))?,
                // Not on this instance yet: in none of its groups.
                404 => return Ok(groups),
                _ => return Err(refused(&format!("GET {path}"), &answer)),
            };
            let more = page.links.next.is_some() && !page.results.is_empty();
            groups.extend(page.results.into_iter().map(|g| g.name));
            if !more || groups.len() > 10_000 {
                return Ok(groups);
            }
        }
    }

    async fn products(&self, _calls: &mut CallLog) -> Result<Vec<ProductAccess>, DirectoryError> {
        Ok(vec![ProductAccess {
            product: Product::Confluence,
            default_groups: self.groups.clone(),
            access_groups: self.groups.iter().map(|g| g.name.clone()).collect(),
            // Confluence reports no seat counts per group through its REST API.
            seats: Seats::default(),
        }])
    }

    fn seat_taken(&self, _product: Product) -> Option<Seats> {
        None
    }

    async fn jsm_request(
        &self,
        _issue: &str,
        _with_approval: bool,
        _calls: &mut CallLog,
    ) -> Result<super::JsmRequest, DirectoryError> {
        Err(self.unsupported("read Service Management requests"))
    }

    async fn comment(
        &self,
        _issue: &str,
        _text: &str,
        _calls: &mut CallLog,
    ) -> Result<(), DirectoryError> {
        Err(self.unsupported("comment on issues"))
    }

    async fn transition(
        &self,
        _issue: &str,
        _transition_id: &str,
        _calls: &mut CallLog,
    ) -> Result<(), DirectoryError> {
        Err(self.unsupported("transition issues"))
    }

    fn can_reactivate(&self) -> bool {
        self.dc && self.reactivate
    }

    /// Data Center: `PUT /rest/api/admin/user/{username}/enable` (idempotent).
    async fn reactivate(
        &self,
        account_id: &str,
        _email: &Email,
        _directory: Option<&str>,
        _product: Product,
        calls: &mut CallLog,
    ) -> Result<(), DirectoryError> {
        if !self.can_reactivate() {
            return Err(self.unsupported("reactivate accounts here (directory.reactivate; on Cloud the organisation API does)"));
        }
        self.http
            .send_ok(
                Method::PUT,
                &format!("/rest/api/admin/user/{}/enable", seg(account_id)),
                &[],
                None,
                calls,
            )
            .await
    }

    async fn remove_from_group(
        &self,
        account_id: &str,
        _product: Product,
        group: &GroupRef,
        calls: &mut CallLog,
    ) -> Result<Removed, DirectoryError> {
        let answer = if self.dc {
            // Idempotent: 204 whether or not the user was a member.
            let path = format!(
                "/rest/api/user/{}/group/{}",
                seg(account_id),
                seg(&group.name)
            );
            self.http
                .call(Method::DELETE, &path, &[], None, calls)
                .await?
        } else {
            let id = self.group_id(group, calls).await?;
            let query = [("groupId", id.as_str()), ("accountId", account_id)];
            self.http
                .call(
                    Method::DELETE,
                    "/wiki/rest/api/group/userByGroupId",
                    &query,
                    None,
                    calls,
                )
                .await?
        };
        match answer.status.as_u16() {
            200..=299 => Ok(Removed::Removed),
            404 => Ok(Removed::NotMember),
            _ => Err(refused(
                &format!("removing from Confluence group {}", group.name),
                &answer,
            )),
        }
    }

    async fn set_standing(
        &self,
        account_id: &str,
        _directory: Option<&str>,
        change: Standing,
        calls: &mut CallLog,
    ) -> Result<(), DirectoryError> {
        let verb = match change {
            Standing::Deactivate => "disable",
            Standing::Activate => "enable",
            _ => {
                return Err(self.unsupported(&format!("make an account {}", change.to())));
            }
        };
        if !self.dc {
            return Err(self.unsupported("deactivate accounts (the organisation does)"));
        }
        let path = format!("/rest/api/admin/user/{}/{verb}", seg(account_id));
        self.http
            .send_ok(Method::PUT, &path, &[], None, calls)
            .await
    }

    async fn add_to_group(
        &self,
        account_id: &str,
        _product: Product,
        group: &GroupRef,
        calls: &mut CallLog,
    ) -> Result<Added, DirectoryError> {
        let answer = if self.dc {
            // Idempotent: 204 whether or not the user was a member.
            let path = format!(
                "/rest/api/user/{}/group/{}",
                seg(account_id),
                seg(&group.name)
            );
            self.http.call(Method::PUT, &path, &[], None, calls).await?
        } else {
            let body = Some(serde_json::json!({ "accountId": account_id }));
            let id = self.group_id(group, calls).await?;
            self.http
                .call(
                    Method::POST,
                    "/wiki/rest/api/group/userByGroupId",
                    &[("groupId", id.as_str())],
                    body,
                    calls,
                )
                .await?
        };
        match answer.status.as_u16() {
            200..=299 => Ok(Added::Added),
            400 | 409 if answer.text().to_ascii_lowercase().contains("already") => {
                Ok(Added::AlreadyMember)
            }
            _ => Err(refused(
                &format!("adding to Confluence group {}", group.name),
                &answer,
            )),
        }
    }
}
