//! Jira Cloud (Jira Software, Jira Service Management) through REST API v3, Basic auth with the
//! service account's email and API token. Products' groups and seats come from
//! `GET /rest/api/3/applicationrole`; licences are granted by group membership.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tokio::sync::Semaphore;

use super::retry::{RetryPolicy, parse_retry_after, retryable_status};
use super::{Added, CallLog, Directory, DirectoryError, DirectoryUser, GroupRef, ProductAccess};
use crate::config::DirectoryConfig;
use crate::event::{Email, Product};
use crate::rules::Seats;

pub struct JiraCloud {
    http: reqwest::Client,
    base: url::Url,
    email: String,
    token: SecretString,
    retry: RetryPolicy,
    limit: Semaphore,
    cache_ttl: Duration,
    cache: Mutex<Option<(Instant, Vec<ProductAccess>)>>,
}

/// An answer, once the retries are over.
struct Answer {
    status: StatusCode,
    body: bytes::Bytes,
}

impl JiraCloud {
    pub fn new(config: &DirectoryConfig) -> Result<JiraCloud, DirectoryError> {
        let bad = |m: &str| DirectoryError::Permanent(m.to_string());
        let site = config
            .site_url
            .as_deref()
            .ok_or_else(|| bad("directory.site_url is missing"))?;
        let mut base = url::Url::parse(site).map_err(|_| bad("directory.site_url is not a URL"))?;
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_millis(config.request_timeout_ms))
            .user_agent(concat!("reinstate/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| bad(&format!("HTTP client: {e}")))?;
        Ok(JiraCloud {
            http,
            base,
            email: config.email.clone().unwrap_or_default(),
            token: config
                .api_token
                .clone()
                .unwrap_or_else(|| SecretString::from("")),
            retry: RetryPolicy {
                max_retries: config.max_retries,
                initial: Duration::from_millis(config.retry_initial_ms),
                max: Duration::from_millis(config.retry_max_ms),
            },
            limit: Semaphore::new(config.max_concurrency),
            cache_ttl: Duration::from_secs(config.products_cache_secs),
            cache: Mutex::new(None),
        })
    }

    /// One call with retries; returns the final answer, or `Transient` when the retries ran out.
    async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<serde_json::Value>,
        calls: &mut CallLog,
    ) -> Result<Answer, DirectoryError> {
        let url = self
            .base
            .join(path.trim_start_matches('/'))
            .map_err(|e| DirectoryError::Permanent(format!("bad path {path}: {e}")))?;
        let mut attempts = 0;
        loop {
            attempts += 1;
            let result = {
                let _permit = self
                    .limit
                    .acquire()
                    .await
                    .map_err(|_| DirectoryError::Transient("shutting down".into()))?;
                let mut request = self
                    .http
                    .request(method.clone(), url.clone())
                    .query(query)
                    .basic_auth(&self.email, Some(self.token.expose_secret()))
                    .header("Accept", "application/json");
                if let Some(b) = &body {
                    request = request.json(b);
                }
                match request.send().await {
                    Ok(response) => {
                        let status = response.status();
                        let retry_after = response
                            .headers()
                            .get("retry-after")
                            .and_then(|v| v.to_str().ok())
                            .and_then(parse_retry_after);
                        match response.bytes().await {
                            Ok(body) => Ok((status, retry_after, body)),
                            Err(e) => Err(e),
                        }
                    }
                    Err(e) => Err(e),
                }
            };
            calls.attempt(
                result.as_ref().ok().map(|(s, _, _)| s.as_u16()),
                attempts > 1,
            );
            let (retry_after, failure, last_status) = match result {
                Ok((status, _, body)) if !retryable_status(status.as_u16()) => {
                    calls.push(method.as_str(), path, Some(status.as_u16()), attempts);
                    return Ok(Answer { status, body });
                }
                Ok((status, retry_after, _)) => (
                    retry_after,
                    format!("{method} {path} answered {status}"),
                    Some(status.as_u16()),
                ),
                Err(e) => (None, format!("{method} {path}: {}", describe(&e)), None),
            };
            if attempts > self.retry.max_retries {
                calls.push(method.as_str(), path, last_status, attempts);
                return Err(DirectoryError::Transient(format!(
                    "{failure} after {attempts} attempts"
                )));
            }
            let delay = self.retry.delay(attempts - 1, retry_after);
            tracing::debug!(%failure, delay_ms = delay.as_millis() as u64, "directory call will be retried");
            tokio::time::sleep(delay).await;
        }
    }

    fn parse<T: for<'de> Deserialize<'de>>(
        answer: &Answer,
        what: &str,
    ) -> Result<T, DirectoryError> {
        serde_json::from_slice(&answer.body).map_err(|e| {
            DirectoryError::Transient(format!("{what}: unexpected response body: {e}"))
        })
    }

    /// A GET that must succeed, its body parsed.
    async fn get_json<T: for<'de> Deserialize<'de>>(
        &self,
        path: &str,
        query: &[(&str, &str)],
        calls: &mut CallLog,
    ) -> Result<T, DirectoryError> {
        let answer = self.call(Method::GET, path, query, None, calls).await?;
        if !answer.status.is_success() {
            return Err(refused(&format!("GET {path}"), &answer));
        }
        Self::parse(&answer, &format!("GET {path}"))
    }

    /// A POST that must succeed.
    async fn post_ok(
        &self,
        path: &str,
        body: serde_json::Value,
        calls: &mut CallLog,
    ) -> Result<(), DirectoryError> {
        let answer = self
            .call(Method::POST, path, &[], Some(body), calls)
            .await?;
        if answer.status.is_success() {
            Ok(())
        } else {
            Err(refused(&format!("POST {path}"), &answer))
        }
    }
}

fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "could not connect".into()
    } else {
        "connection failed".into()
    }
}

fn refused(what: &str, answer: &Answer) -> DirectoryError {
    let text = String::from_utf8_lossy(&answer.body);
    let snippet: String = text.chars().take(200).collect();
    DirectoryError::Permanent(format!("{what} answered {}: {snippet}", answer.status))
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
                .call(
                    Method::GET,
                    "/rest/api/3/user",
                    &[("accountId", id)],
                    None,
                    calls,
                )
                .await?;
            return match answer.status.as_u16() {
                200 => {
                    let u: JiraUser = Self::parse(&answer, "GET /rest/api/3/user")?;
                    Ok(Some(DirectoryUser {
                        account_id: u.account_id,
                        active: u.active,
                    }))
                }
                404 => Ok(None),
                _ => Err(refused("GET /rest/api/3/user", &answer)),
            };
        }
        // Search prefix-matches names and emails; keep only the exact, human account.
        let answer = self
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
        let users: Vec<JiraUser> = Self::parse(&answer, "GET /rest/api/3/user/search")?;
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
            }))
    }

    async fn user_groups(
        &self,
        account_id: &str,
        calls: &mut CallLog,
    ) -> Result<Vec<String>, DirectoryError> {
        let groups: Vec<JiraGroup> = self
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
        self.post_ok(
            &format!("/rest/servicedeskapi/request/{issue}/comment"),
            body,
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
        self.post_ok(
            &format!("/rest/api/3/issue/{issue}/transitions"),
            body,
            calls,
        )
        .await
    }

    fn invalidate_products(&self) {
        if let Ok(mut cache) = self.cache.lock() {
            *cache = None;
        }
    }

    async fn add_to_group(
        &self,
        account_id: &str,
        group: &GroupRef,
        calls: &mut CallLog,
    ) -> Result<Added, DirectoryError> {
        let answer = self
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
