//! Jira Cloud (Jira Software, Jira Service Management) through REST API v3, Basic auth with the
//! service account's email and API token. Products' groups and seats come from
//! `GET /rest/api/3/applicationrole`; licences are granted by group membership.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use reqwest::Method;
use secrecy::SecretString;
use serde::Deserialize;

use super::http::{Auth, Http, refused};
use super::{Added, CallLog, Directory, DirectoryError, DirectoryUser, GroupRef, ProductAccess};
use crate::config::DirectoryConfig;
use crate::event::{Email, Product};
use crate::rules::Seats;

pub struct JiraCloud {
    http: Http,
    cache_ttl: Duration,
    cache: Mutex<Option<(Instant, Vec<ProductAccess>)>>,
}

impl JiraCloud {
    pub fn new(config: &DirectoryConfig) -> Result<JiraCloud, DirectoryError> {
        let site = config
            .site_url
            .as_deref()
            .ok_or_else(|| DirectoryError::Permanent("directory.site_url is missing".into()))?;
        let auth = Auth::Basic {
            user: config.email.clone().unwrap_or_default(),
            token: config
                .api_token
                .clone()
                .unwrap_or_else(|| SecretString::from("")),
        };
        Ok(JiraCloud {
            http: Http::new(site, auth, config)?,
            cache_ttl: Duration::from_secs(config.products_cache_secs),
            cache: Mutex::new(None),
        })
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JiraUser {
    account_id: String,
    #[serde(default)]
    email_address: Option<String>,
    #[serde(default = "yes")]
    active: bool,
    #[serde(default)]
    account_type: Option<String>,
    /// With `expand=groups`.
    #[serde(default)]
    groups: Option<GroupList>,
}

#[derive(Deserialize)]
struct GroupList {
    #[serde(default)]
    items: Vec<JiraGroup>,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
struct JiraGroup {
    name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ApplicationRole {
    key: String,
    #[serde(default)]
    groups: Vec<String>,
    #[serde(default)]
    default_groups_details: Vec<GroupDetails>,
    #[serde(default)]
    number_of_seats: Option<u64>,
    #[serde(default)]
    remaining_seats: Option<u64>,
    #[serde(default)]
    user_count: Option<u64>,
    #[serde(default)]
    has_unlimited_seats: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GroupDetails {
    group_id: String,
    name: String,
}

#[async_trait]
impl Directory for JiraCloud {
    fn kind(&self) -> &'static str {
        "jira-cloud"
    }

    async fn find_user(
        &self,
        account_id: Option<&str>,
        email: &Email,
        calls: &mut CallLog,
    ) -> Result<Option<DirectoryUser>, DirectoryError> {
        if let Some(id) = account_id {
            let answer = self
                .http
                .call(
                    Method::GET,
                    "/rest/api/3/user",
                    // The groups come with the user: one call instead of two.
                    &[("accountId", id), ("expand", "groups")],
                    None,
                    calls,
                )
                .await?;
            return match answer.status.as_u16() {
                200 => {
                    let u: JiraUser = Http::json(&answer, "GET /rest/api/3/user")?;
                    let groups = u
                        .groups
                        .map(|g| g.items.into_iter().map(|g| g.name).collect());
                    Ok(Some(DirectoryUser {
                        account_id: u.account_id,
                        active: u.active,
                        email: u.email_address,
                        groups,
                    }))
                }
                404 => Ok(None),
                _ => Err(refused("GET /rest/api/3/user", &answer)),
            };
        }
        // Search prefix-matches names and emails; keep only the exact, human account.
        let answer = self
            .http
            .call(
                Method::GET,
                "/rest/api/3/user/search",
                &[("query", email.as_str()), ("maxResults", "50")],
                None,
                calls,
            )
            .await?;
        if !answer.status.is_success() {
            return Err(refused("GET /rest/api/3/user/search", &answer));
        }
        let users: Vec<JiraUser> = Http::json(&answer, "GET /rest/api/3/user/search")?;
        Ok(users
            .into_iter()
            .filter(|u| u.account_type.as_deref().is_none_or(|t| t == "atlassian"))
            .find(|u| {
                u.email_address
                    .as_deref()
                    .is_some_and(|e| e.eq_ignore_ascii_case(email.as_str()))
            })
            .map(|u| DirectoryUser {
                account_id: u.account_id,
                active: u.active,
                email: u.email_address,
                groups: None,
            }))
    }

    async fn user_groups(
        &self,
        account_id: &str,
        calls: &mut CallLog,
    ) -> Result<Vec<String>, DirectoryError> {
        let groups: Vec<JiraGroup> = self
            .http
            .get_json(
                "/rest/api/3/user/groups",
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
            .get_json("/rest/api/3/applicationrole", &[], calls)
            .await?;
        let products: Vec<ProductAccess> = roles
            .into_iter()
            .filter_map(|r| {
                let product = Product::from_key(&r.key)?;
                Some(ProductAccess {
                    product,
                    default_groups: r
                        .default_groups_details
                        .into_iter()
                        .map(|g| GroupRef {
                            id: Some(g.group_id),
                            name: g.name,
                        })
                        .collect(),
                    access_groups: r.groups,
                    seats: Seats {
                        total: r.number_of_seats,
                        used: r.user_count,
                        remaining: r.remaining_seats,
                        unlimited: r.has_unlimited_seats,
                    },
                })
            })
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
            reporter_account_id: s("/reporter/accountId"),
            reporter_email: s("/reporter/emailAddress"),
            request_type_id: s("/requestTypeId"),
            approval: None,
        };
        if with_approval {
            let v: serde_json::Value = self
                .http
                .get_json(
                    &format!("/rest/servicedeskapi/request/{issue}/approval"),
                    &[],
                    calls,
                )
                .await?;
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
                &format!("/rest/api/3/issue/{issue}/transitions"),
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

    async fn add_to_group(
        &self,
        account_id: &str,
        group: &GroupRef,
        calls: &mut CallLog,
    ) -> Result<Added, DirectoryError> {
        let answer = self
            .http
            .call(
                Method::POST,
                "/rest/api/3/group/user",
                // By id when known (names can be renamed); by name for recorded reclaims.
                &[match &group.id {
                    Some(id) => ("groupId", id.as_str()),
                    None => ("groupname", group.name.as_str()),
                }],
                Some(serde_json::json!({ "accountId": account_id })),
                calls,
            )
            .await?;
        match answer.status.as_u16() {
            200..=299 => Ok(Added::Added),
            // Jira answers 400 "Cannot add user. User is already a member of '…'" (AX-17).
            400 if String::from_utf8_lossy(&answer.body)
                .to_ascii_lowercase()
                .contains("already a member") =>
            {
                Ok(Added::AlreadyMember)
            }
            _ => Err(refused(
                &format!("POST /rest/api/3/group/user ({})", group.name),
                &answer,
            )),
        }
    }
}
