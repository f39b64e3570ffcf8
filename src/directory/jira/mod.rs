//! Jira (Software, Service Management), Cloud or Data Center. Cloud: REST API v3, Basic auth
//! with the service account's email and API token, users by account id. Data Center: REST API
//! v2, a personal access token as bearer, users by username. Products' groups and seats come
//! from `applicationrole`; licences are granted by group membership.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use reqwest::Method;

use super::cloud_admin::CloudAdmin;
use super::config::DirectoryConfig;
use super::http::{Auth, Http, refused, token};
use super::{
    Added, CallLog, Directory, DirectoryError, DirectoryUser, ProductAccess, Removed, Standing,
};
use crate::domain::Seats;
use crate::domain::{Email, GroupRef, Product};

mod wire;
use wire::{ApplicationRole, JiraGroup, JiraUser};

pub struct Jira {
    http: Arc<Http>,
    /// Data Center (REST v2, usernames) rather than Cloud (REST v3, account ids).
    dc: bool,
    /// `directory.reactivate`.
    reactivate: bool,
    /// Changes Cloud accounts' standing (organisation API, user management, SCIM), when
    /// configured.
    admin: Option<CloudAdmin>,
    cache_ttl: Duration,
    cache: Mutex<Option<(Instant, Vec<ProductAccess>)>>,
}

impl Jira {
    /// Jira Cloud at `directory.site_url`.
    pub fn cloud(config: &DirectoryConfig, org: Option<Arc<Http>>) -> Result<Jira, DirectoryError> {
        let auth = Auth::Basic {
            user: config.email.clone().unwrap_or_default(),
            token: token(&config.api_token),
        };
        // Also for taking access away (suspend, deactivate); restoring accounts stays off
        // unless `directory.reactivate`.
        let admin = CloudAdmin::new(config, org)?;
        Jira::new(config, auth, false, admin)
    }

    /// Jira Data Center at `directory.site_url`, with a personal access token.
    pub fn data_center(config: &DirectoryConfig) -> Result<Jira, DirectoryError> {
        Jira::new(config, Auth::Bearer(token(&config.api_token)), true, None)
    }

    fn new(
        config: &DirectoryConfig,
        auth: Auth,
        dc: bool,
        admin: Option<CloudAdmin>,
    ) -> Result<Jira, DirectoryError> {
        let site = config
            .site_url
            .as_deref()
            .ok_or_else(|| DirectoryError::Permanent("directory.site_url is missing".into()))?;
        Ok(Jira {
            http: Arc::new(Http::new(site, auth, config)?),
            dc,
            reactivate: config.reactivate,
            admin,
            cache_ttl: Duration::from_secs(config.products_cache_secs),
            cache: Mutex::new(None),
        })
    }

    /// The site's client, shared with the inventory's listing (one token bucket).
    pub fn http(&self) -> Arc<Http> {
        self.http.clone()
    }

    fn api(&self, path: &str) -> String {
        format!("/rest/api/{}/{path}", if self.dc { 2 } else { 3 })
    }

    /// The query parameter that names a user.
    fn user_param(&self) -> &'static str {
        if self.dc { "username" } else { "accountId" }
    }

    /// Data Center: `PUT /rest/api/2/user?username=` with the fields to change.
    async fn update_dc(
        &self,
        username: &str,
        body: serde_json::Value,
        calls: &mut CallLog,
    ) -> Result<(), DirectoryError> {
        self.http
            .send_ok(
                Method::PUT,
                &self.api("user"),
                &[("username", username)],
                Some(body),
                calls,
            )
            .await
    }

    /// A user with their groups, by account id (Cloud) or username (Data Center).
    async fn user_by_id(
        &self,
        id: &str,
        calls: &mut CallLog,
    ) -> Result<Option<DirectoryUser>, DirectoryError> {
        let path = self.api("user");
        let answer = self
            .http
            .call(
                Method::GET,
                &path,
                // The groups come with the user: one call instead of two.
                &[(self.user_param(), id), ("expand", "groups")],
                None,
                calls,
            )
            .await?;
        match answer.status.as_u16() {
            200 => {
                let u: JiraUser = Http::json(&answer, &format!("GET {path}"))?;
                Ok(u.into_user(self.dc))
            }
            404 => Ok(None),
            _ => Err(refused(&format!("GET {path}"), &answer)),
        }
    }
}

#[async_trait]
impl Directory for Jira {
    fn kind(&self) -> &'static str {
        if self.dc {
            "jira-data-center"
        } else {
            "jira-cloud"
        }
    }

    async fn find_user(
        &self,
        account_id: Option<&str>,
        email: &Email,
        calls: &mut CallLog,
    ) -> Result<Option<DirectoryUser>, DirectoryError> {
        if let Some(id) = account_id {
            return self.user_by_id(id, calls).await;
        }
        // With the organisation API: by exact email (`emails[]`), suspended and hidden-email
        // accounts included, which the site's search cannot find (AX-286).
        if let Some(admin) = self.admin.as_ref().filter(|a| a.has_org() && !self.dc) {
            let found = admin
                .search(serde_json::json!({"emails": [email.as_str()]}), calls)
                .await?;
            if let Some(a) = found.into_iter().next() {
                return Ok(Some(DirectoryUser {
                    active: a.status == "active",
                    email: a.email.or(Some(email.to_string())),
                    account_id: a.account_id,
                    groups: None,
                    customer: false,
                }));
            }
        }
        // Search prefix-matches names and emails; keep only the exact account of a person
        // (customers included, to say why they get nothing; apps never).
        let path = self.api("user/search");
        let query: &[(&str, &str)] = if self.dc {
            &[
                ("username", email.as_str()),
                ("includeInactive", "true"),
                ("maxResults", "50"),
            ]
        } else {
            &[("query", email.as_str()), ("maxResults", "50")]
        };
        let answer = self
            .http
            .call(Method::GET, &path, query, None, calls)
            .await?;
        if !answer.status.is_success() {
            return Err(refused(&format!("GET {path}"), &answer));
        }
        let users: Vec<JiraUser> = Http::json(&answer, &format!("GET {path}"))?;
        Ok(users
            .into_iter()
            .filter(|u| {
                u.account_type
                    .as_deref()
                    .is_none_or(|t| t == "atlassian" || t == "customer")
            })
            .find(|u| {
                u.email_address
                    .as_deref()
                    .is_some_and(|e| e.eq_ignore_ascii_case(email.as_str()))
            })
            .and_then(|u| u.into_user(self.dc)))
    }

    fn has_usernames(&self) -> bool {
        self.dc
    }

    async fn group_members(
        &self,
        group: &str,
        calls: &mut CallLog,
    ) -> Result<Option<Vec<String>>, DirectoryError> {
        let path = self.api("group/member");
        let id_key = if self.dc { "name" } else { "accountId" };
        let mut members = Vec::new();
        loop {
            let start = members.len().to_string();
            let query = [
                ("groupname", group),
                ("includeInactiveUsers", "true"),
                ("startAt", start.as_str()),
                ("maxResults", "50"),
            ];
            let answer = self
                .http
                .call(Method::GET, &path, &query, None, calls)
                .await?;
            match answer.status.as_u16() {
                200 => {}
                // The site has no such group: nobody is in it.
                404 => return Ok(Some(members)),
                _ => return Err(refused(&format!("GET {path} ({group})"), &answer)),
            }
            let v: serde_json::Value = Http::json(&answer, &format!("GET {path}"))?;
            let values = v["values"].as_array().cloned().unwrap_or_default();
            members.extend(
                values
                    .iter()
                    .filter_map(|m| m[id_key].as_str().map(String::from)),
            );
            if v["isLast"] != false || values.is_empty() {
                return Ok(Some(members));
            }
        }
    }

    async fn admin_roles(
        &self,
        account_id: &str,
        calls: &mut CallLog,
    ) -> Result<Vec<String>, DirectoryError> {
        match self.admin.as_ref().filter(|a| a.has_org() && !self.dc) {
            Some(admin) => Ok(admin
                .account(account_id, calls)
                .await?
                .map(|a| a.admin_roles)
                .unwrap_or_default()),
            None => Ok(Vec::new()),
        }
    }

    async fn synced_groups(
        &self,
        groups: &[String],
        calls: &mut CallLog,
    ) -> Result<Vec<String>, DirectoryError> {
        match self.admin.as_ref().filter(|a| a.has_org() && !self.dc) {
            Some(admin) => admin.synced_groups(groups, calls).await,
            None => Ok(Vec::new()),
        }
    }

    fn why_unfound(&self) -> Option<&'static str> {
        let org = self.admin.as_ref().is_some_and(|a| a.has_org());
        (!self.dc && !org).then_some(
            "Jira Cloud's user search finds active users only and cannot match an email that \
             profile visibility hides (AX-286): a suspended user, or one whose email is hidden, \
             is found only through the organisation API (directory.org_id)",
        )
    }

    async fn find_by_username(
        &self,
        username: &str,
        calls: &mut CallLog,
    ) -> Result<Option<DirectoryUser>, DirectoryError> {
        if !self.dc {
            return Ok(None);
        }
        // On Data Center the account id is the username.
        self.user_by_id(username, calls).await
    }

    async fn user_groups(
        &self,
        account_id: &str,
        calls: &mut CallLog,
    ) -> Result<Vec<String>, DirectoryError> {
        if self.dc {
            return match self.user_by_id(account_id, calls).await? {
                Some(u) => Ok(u.groups.unwrap_or_default()),
                None => Err(DirectoryError::Permanent(format!(
                    "user {account_id} no longer exists"
                ))),
            };
        }
        let groups: Vec<JiraGroup> = self
            .http
            .get_json(
                &self.api("user/groups"),
                &[("accountId", account_id)],
                calls,
            )
            .await?;
        Ok(groups.into_iter().map(|g| g.name).collect())
    }

    async fn products(&self, calls: &mut CallLog) -> Result<Vec<ProductAccess>, DirectoryError> {
        if let Ok(cache) = self.cache.lock()
            && let Some((at, products)) = cache.as_ref()
            && at.elapsed() < self.cache_ttl
        {
            return Ok(products.clone());
        }
        let roles: Vec<ApplicationRole> = self
            .http
            .get_json(&self.api("applicationrole"), &[], calls)
            .await?;
        let products: Vec<ProductAccess> = roles
            .into_iter()
            .filter_map(ApplicationRole::into_access)
            .collect();
        if let Ok(mut cache) = self.cache.lock() {
            *cache = Some((Instant::now(), products.clone()));
        }
        Ok(products)
    }

    async fn jsm_request(
        &self,
        issue: &str,
        with_approval: bool,
        calls: &mut CallLog,
    ) -> Result<super::JsmRequest, DirectoryError> {
        let v: serde_json::Value = self
            .http
            .get_json(&format!("/rest/servicedeskapi/request/{issue}"), &[], calls)
            .await?;
        let s = |p: &str| {
            v.pointer(p)
                .and_then(serde_json::Value::as_str)
                .map(String::from)
        };
        let mut request = super::JsmRequest {
            reporter_account_id: s(if self.dc {
                "/reporter/name"
            } else {
                "/reporter/accountId"
            }),
            reporter_email: s("/reporter/emailAddress"),
            request_type_id: s("/requestTypeId"),
            approval: None,
        };
        if with_approval {
            // Data Center marks the approvals API experimental: it wants the header (Cloud
            // ignores it).
            let path = format!("/rest/servicedeskapi/request/{issue}/approval");
            let experimental = [("X-ExperimentalApi", "true")];
            let answer = self
                .http
                .call_with(Method::GET, &path, &[], &experimental, None, calls)
                .await?;
            if !answer.status.is_success() {
                return Err(refused(&format!("GET {path}"), &answer));
            }
            let v: serde_json::Value = Http::json(&answer, &format!("GET {path}"))?;
            // The latest approval decides.
            request.approval = v["values"]
                .as_array()
                .and_then(|a| a.last())
                .and_then(|a| a["finalDecision"].as_str())
                .map(String::from);
        }
        Ok(request)
    }

    async fn comment(
        &self,
        issue: &str,
        text: &str,
        calls: &mut CallLog,
    ) -> Result<(), DirectoryError> {
        let body = serde_json::json!({ "body": text, "public": true });
        self.http
            .send_ok(
                Method::POST,
                &format!("/rest/servicedeskapi/request/{issue}/comment"),
                &[],
                Some(body),
                calls,
            )
            .await
    }

    async fn transition(
        &self,
        issue: &str,
        transition_id: &str,
        calls: &mut CallLog,
    ) -> Result<(), DirectoryError> {
        let body = serde_json::json!({ "transition": { "id": transition_id } });
        self.http
            .send_ok(
                Method::POST,
                &self.api(&format!("issue/{issue}/transitions")),
                &[],
                Some(body),
                calls,
            )
            .await
    }

    fn seat_taken(&self, product: Product) -> Option<Seats> {
        let mut cache = self.cache.lock().ok()?;
        let (_, products) = cache.as_mut()?;
        let access = products.iter_mut().find(|p| p.product == product)?;
        access.seats = access.seats.plus_one();
        Some(access.seats)
    }

    fn can_reactivate(&self) -> bool {
        self.reactivate && (self.dc || self.admin.is_some())
    }

    async fn reactivate(
        &self,
        account_id: &str,
        email: &Email,
        directory: Option<&str>,
        _product: Product,
        calls: &mut CallLog,
    ) -> Result<(), DirectoryError> {
        match &self.admin {
            _ if !self.reactivate => Err(DirectoryError::Permanent(
                "reactivating accounts is off (directory.reactivate)".into(),
            )),
            Some(admin) => admin.reactivate(account_id, email, directory, calls).await,
            None if self.dc => {
                self.http
                    .send_ok(
                        Method::PUT,
                        &self.api("user"),
                        &[("username", account_id)],
                        Some(serde_json::json!({ "active": true })),
                        calls,
                    )
                    .await
            }
            None => Err(DirectoryError::Permanent(
                "reactivating Cloud accounts needs directory.org_id or directory.scim_directory_id"
                    .into(),
            )),
        }
    }

    async fn remove_from_group(
        &self,
        account_id: &str,
        _product: Product,
        group: &GroupRef,
        calls: &mut CallLog,
    ) -> Result<Removed, DirectoryError> {
        let path = self.api("group/user");
        let group_param = match &group.id {
            Some(id) if !self.dc => ("groupId", id.as_str()),
            _ => ("groupname", group.name.as_str()),
        };
        let user_param = if self.dc {
            ("username", account_id)
        } else {
            ("accountId", account_id)
        };
        let answer = self
            .http
            .call(
                Method::DELETE,
                &path,
                &[group_param, user_param],
                None,
                calls,
            )
            .await?;
        match answer.status.as_u16() {
            200..=299 => Ok(Removed::Removed),
            // The user is not (or no longer) in the group: what was asked is so.
            404 => Ok(Removed::NotMember),
            400 if answer.text().to_ascii_lowercase().contains("not a member") => {
                Ok(Removed::NotMember)
            }
            _ => Err(refused(&format!("DELETE {path} ({})", group.name), &answer)),
        }
    }

    async fn set_standing(
        &self,
        account_id: &str,
        directory: Option<&str>,
        change: Standing,
        calls: &mut CallLog,
    ) -> Result<(), DirectoryError> {
        match (&self.admin, self.dc, change) {
            (_, true, Standing::Deactivate | Standing::Activate) => {
                let active = change == Standing::Activate;
                self.http
                    .send_ok(
                        Method::PUT,
                        &self.api("user"),
                        &[("username", account_id)],
                        Some(serde_json::json!({ "active": active })),
                        calls,
                    )
                    .await
            }
            (_, true, _) => Err(DirectoryError::Permanent(format!(
                "Jira Data Center has no way to make an account {}: use deactivate",
                change.to()
            ))),
            (Some(admin), false, _) => admin.change(account_id, directory, change, calls).await,
            (None, false, _) => Err(DirectoryError::Permanent(format!(
                "making a Cloud account {} needs directory.org_id and directory.org_api_key",
                change.to()
            ))),
        }
    }

    async fn change_email(
        &self,
        account_id: &str,
        email: &Email,
        calls: &mut CallLog,
    ) -> Result<(), DirectoryError> {
        match (&self.admin, self.dc) {
            (_, true) => {
                let body = serde_json::json!({ "emailAddress": email.as_str() });
                self.update_dc(account_id, body, calls).await
            }
            (Some(admin), false) => admin.change_email(account_id, email, calls).await,
            (None, false) => Err(DirectoryError::Permanent(
                "changing a Cloud account's email needs directory.org_id and directory.org_api_key"
                    .into(),
            )),
        }
    }

    async fn rename(
        &self,
        account_id: &str,
        to: &str,
        calls: &mut CallLog,
    ) -> Result<(), DirectoryError> {
        if !self.dc {
            return Err(DirectoryError::Permanent(
                "Cloud accounts have no username to rename".into(),
            ));
        }
        self.update_dc(account_id, serde_json::json!({ "name": to }), calls)
            .await
    }

    async fn add_to_group(
        &self,
        account_id: &str,
        _product: Product,
        group: &GroupRef,
        calls: &mut CallLog,
    ) -> Result<Added, DirectoryError> {
        let path = self.api("group/user");
        // By id when known (names can be renamed); by name for recorded reclaims and on
        // Data Center, which has no group ids.
        let query = match &group.id {
            Some(id) if !self.dc => ("groupId", id.as_str()),
            _ => ("groupname", group.name.as_str()),
        };
        let body = if self.dc {
            serde_json::json!({ "name": account_id })
        } else {
            serde_json::json!({ "accountId": account_id })
        };
        let answer = self
            .http
            .call(Method::POST, &path, &[query], Some(body), calls)
            .await?;
        match answer.status.as_u16() {
            200..=299 => Ok(Added::Added),
            // Jira answers 400 "Cannot add user. User is already a member of '…'" (AX-17).
            400 if answer
                .text()
                .to_ascii_lowercase()
                .contains("already a member") =>
            {
                Ok(Added::AlreadyMember)
            }
            _ => Err(refused(&format!("POST {path} ({})", group.name), &answer)),
        }
    }
}
