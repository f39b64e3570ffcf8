//! A Cloud account's standing, through Atlassian's administration APIs at
//! `directory.admin_api_url` (bearer keys):
//!
//! * suspend and restore: the organisation API's v2
//!   `POST /admin/v2/orgs/{org}/directories/{dir}/users/{account}/suspend|restore`, in the
//!   account's directory (the inventory's, else `GET …/directories?accountId=`); v1's
//!   `…/directory/users/{account}/suspend-access|restore-access` only where v2 answers 404
//!   (v1 was announced for removal; the original user management never had it);
//! * deactivate, enable, delete and cancel a deletion: user management's
//!   `POST /users/{account}/manage/lifecycle/…`; an email: `PUT /users/{account}/manage/email`;
//! * who an account is: the organisation's user search (`status`, `managementSource`,
//!   `platformRoles`), or, with SCIM configured, whether the identity provider provisions it.
//!
//! An account an identity provider manages is its to reactivate: a change here would be
//! overwritten by its next push, so reinstate says so instead of making it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use reqwest::Method;
use serde::Deserialize;
use serde_json::{Value, json};

use super::config::DirectoryConfig;
use super::http::{Auth, Http, refused, token};
use super::{CallLog, DirectoryError, Standing};
use crate::domain::Email;

pub struct CloudAdmin {
    org: Option<(Arc<Http>, String)>,
    scim: Option<(Http, String)>,
    /// v2 suspend or restore answered 404 once (said in the log once).
    v1_fallback: AtomicBool,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ScimList {
    #[serde(default)]
    resources: Vec<Value>,
}

/// What the organisation says of an account.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrgAccount {
    pub account_id: String,
    /// `active`, `suspended`, `deactivated`, `not_invited`.
    pub status: String,
    pub email: Option<String>,
    /// Provisioned by an identity provider (`managementSource: synced`).
    pub synced: bool,
    pub for_deletion: bool,
    /// Admin roles (`atlassian/org-admin`, `atlassian/site-admin`, …).
    pub admin_roles: Vec<String>,
}

impl OrgAccount {
    fn of(u: &Value) -> Option<OrgAccount> {
        Some(OrgAccount {
            account_id: u["accountId"].as_str()?.to_string(),
            status: u["status"].as_str().unwrap_or("active").to_string(),
            email: u["email"].as_str().map(String::from),
            synced: u["managementSource"] == "synced",
            for_deletion: u["forDeletion"] == true,
            admin_roles: admin_roles(&u["platformRoles"]),
        })
    }
}

/// The admin roles among an account's `platformRoles` (an open list; `ai-access` is no admin).
pub fn admin_roles(roles: &Value) -> Vec<String> {
    roles
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .filter(|r| r.ends_with("-admin"))
        .map(String::from)
        .collect()
}

impl CloudAdmin {
    /// `None` when neither the organisation API nor SCIM is configured. `org` is the
    /// organisation API's client, shared with the inventory's listing.
    pub fn new(
        config: &DirectoryConfig,
        org: Option<Arc<Http>>,
    ) -> Result<Option<CloudAdmin>, DirectoryError> {
        let org = match (&config.org_id, org) {
            (Some(id), Some(http)) => Some((http, id.clone())),
            _ => None,
        };
        let scim = match &config.scim_directory_id {
            Some(id) => {
                let key = Auth::Bearer(token(&config.scim_token));
                Some((Http::new(&config.admin_api_url, key, config)?, id.clone()))
            }
            None => None,
        };
        Ok((org.is_some() || scim.is_some()).then_some(CloudAdmin {
            org,
            scim,
            v1_fallback: AtomicBool::new(false),
        }))
    }

    fn org(&self, what: &str) -> Result<(&Http, &str), DirectoryError> {
        match &self.org {
            Some((http, org)) => Ok((http, org)),
            None => Err(DirectoryError::Permanent(format!(
                "{what} needs directory.org_id and directory.org_api_key"
            ))),
        }
    }

    /// Whether the organisation API is configured.
    pub fn has_org(&self) -> bool {
        self.org.is_some()
    }

    /// The organisation's users matching `filter` (`emails` or `accountIds`), with their admin
    /// roles: `POST /admin/v2/orgs/{org}/directories/-/users/search`.
    pub async fn search(
        &self,
        filter: Value,
        calls: &mut CallLog,
    ) -> Result<Vec<OrgAccount>, DirectoryError> {
        let (http, org) = self.org("searching the organisation")?;
        let path = format!("/admin/v2/orgs/{org}/directories/-/users/search");
        let mut body = json!({"limit": 10, "expand": ["platformRoles"]});
        if let (Some(b), Some(f)) = (body.as_object_mut(), filter.as_object()) {
            b.extend(f.clone());
        }
        let answer = http
            .call(Method::POST, &path, &[], Some(body), calls)
            .await?;
        if !answer.status.is_success() {
            return Err(refused(&format!("POST {path}"), &answer));
        }
        let v: Value = Http::json(&answer, &format!("POST {path}"))?;
        Ok(v["data"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(OrgAccount::of)
            .collect())
    }

    /// The account by id, as the organisation knows it.
    pub async fn account(
        &self,
        account_id: &str,
        calls: &mut CallLog,
    ) -> Result<Option<OrgAccount>, DirectoryError> {
        let found = self
            .search(json!({"accountIds": [account_id]}), calls)
            .await?;
        Ok(found.into_iter().find(|a| a.account_id == account_id))
    }

    /// Those of `groups` an identity provider syncs (`externalSynced`), every page of
    /// `POST /admin/v2/orgs/{org}/directories/-/groups/search` by `groupNames`.
    pub async fn synced_groups(
        &self,
        groups: &[String],
        calls: &mut CallLog,
    ) -> Result<Vec<String>, DirectoryError> {
        let (http, org) = self.org("reading which groups an identity provider syncs")?;
        let path = format!("/admin/v2/orgs/{org}/directories/-/groups/search");
        let mut synced = Vec::new();
        let mut cursor: Option<String> = None;
        if groups.is_empty() {
            return Ok(synced);
        }
        loop {
            let mut body = json!({"groupNames": groups, "limit": 100});
            if let Some(c) = &cursor {
                body["cursor"] = json!(c);
            }
            let answer = http
                .call(Method::POST, &path, &[], Some(body), calls)
                .await?;
            if !answer.status.is_success() {
                return Err(refused(&format!("POST {path}"), &answer));
            }
            let v: Value = Http::json(&answer, &format!("POST {path}"))?;
            for g in v["data"].as_array().into_iter().flatten() {
                if g["externalSynced"] == true
                    && let Some(name) = g["name"].as_str()
                {
                    synced.push(name.to_string());
                }
            }
            match v["links"]["next"].as_str() {
                Some(next) if cursor.as_deref() != Some(next) => cursor = Some(next.to_string()),
                _ => return Ok(synced),
            }
        }
    }

    /// The directory holding the account: `GET /admin/v2/orgs/{org}/directories?accountId=`.
    async fn directory_of(
        &self,
        account_id: &str,
        calls: &mut CallLog,
    ) -> Result<String, DirectoryError> {
        let (http, org) = self.org("finding an account's directory")?;
        let path = format!("/admin/v2/orgs/{org}/directories");
        let v: Value = http
            .get_json(&path, &[("accountId", account_id)], calls)
            .await?;
        v["data"][0]["directoryId"]
            .as_str()
            .map(String::from)
            .ok_or_else(|| {
                DirectoryError::Permanent(format!(
                    "no directory of the organisation holds {account_id}"
                ))
            })
    }

    /// Suspends or restores the account's access in its directory (v2; v1 where v2 is 404).
    async fn suspension(
        &self,
        account_id: &str,
        directory: Option<&str>,
        suspend: bool,
        calls: &mut CallLog,
    ) -> Result<(), DirectoryError> {
        let (http, org) = self.org("suspending or restoring an account")?;
        let directory = match directory {
            Some(d) if d != "-" => d.to_string(),
            _ => self.directory_of(account_id, calls).await?,
        };
        let verb = if suspend { "suspend" } else { "restore" };
        let path =
            format!("/admin/v2/orgs/{org}/directories/{directory}/users/{account_id}/{verb}");
        // `{}` as JSON: a POST with no body may be refused 415.
        let answer = http
            .call(Method::POST, &path, &[], Some(json!({})), calls)
            .await?;
        if answer.status.is_success() {
            return Ok(());
        }
        if answer.status.as_u16() != 404 {
            return Err(refused(&format!("POST {path}"), &answer));
        }
        if !self.v1_fallback.swap(true, Ordering::SeqCst) {
            tracing::warn!(%path, "the organisation API's v2 {verb} answered 404: using v1 suspend-access and restore-access, which Atlassian announced for removal");
        }
        let v1 = if suspend {
            "suspend-access"
        } else {
            "restore-access"
        };
        let path = format!("/admin/v1/orgs/{org}/directory/users/{account_id}/{v1}");
        http.send_ok(Method::POST, &path, &[], Some(json!({})), calls)
            .await
    }

    /// Whether the identity provider provisions the account (SCIM, when configured): then the
    /// account is its to change.
    async fn scim_managed(
        &self,
        email: &Email,
        calls: &mut CallLog,
    ) -> Result<bool, DirectoryError> {
        let Some((http, dir)) = &self.scim else {
            return Ok(false);
        };
        let filter = format!("userName eq \"{}\"", email.as_str());
        let users: ScimList = http
            .get_json(
                &format!("/scim/directory/{dir}/Users"),
                &[("filter", filter.as_str())],
                calls,
            )
            .await?;
        Ok(!users.resources.is_empty())
    }

    /// Gives an account reinstate did not change its access back, by what the organisation
    /// says it is: suspended → restored, deactivated → enabled. An account an identity provider
    /// manages, or one scheduled for deletion, is left for the admins, with why.
    pub async fn reactivate(
        &self,
        account_id: &str,
        email: &Email,
        directory: Option<&str>,
        calls: &mut CallLog,
    ) -> Result<(), DirectoryError> {
        let idp = "the account is managed by an identity provider: reactivate it there (a change \
                   made here would be overwritten by its next push)";
        if self.scim_managed(email, calls).await? {
            return Err(DirectoryError::Permanent(idp.into()));
        }
        if self.org.is_none() {
            return Err(DirectoryError::Permanent(format!(
                "{email} is not in the SCIM directory, and reactivating a Cloud account needs \
                 directory.org_id and directory.org_api_key"
            )));
        }
        let Some(account) = self.account(account_id, calls).await? else {
            return Err(DirectoryError::Permanent(format!(
                "the organisation has no account {account_id}"
            )));
        };
        if account.synced {
            return Err(DirectoryError::Permanent(idp.into()));
        }
        if account.for_deletion {
            return Err(DirectoryError::Permanent(
                "an admin scheduled the account for deletion: cancel the deletion in Atlassian \
                 administration first"
                    .into(),
            ));
        }
        match account.status.as_str() {
            "suspended" => self.suspension(account_id, directory, false, calls).await,
            "deactivated" => {
                self.change(account_id, directory, Standing::Activate, calls)
                    .await
            }
            // Active in the organisation (the site's view lags): nothing to change.
            _ => Ok(()),
        }
    }

    /// Changes the account's standing: suspend and restore in its directory (organisation
    /// API), or the user-management lifecycle (deactivate, enable, delete, cancel the deletion;
    /// managed accounts only: Atlassian answers 403 with its reason for the others).
    pub async fn change(
        &self,
        account_id: &str,
        directory: Option<&str>,
        change: Standing,
        calls: &mut CallLog,
    ) -> Result<(), DirectoryError> {
        let verb = match change {
            Standing::Suspend => return self.suspension(account_id, directory, true, calls).await,
            Standing::Unsuspend => {
                return self.suspension(account_id, directory, false, calls).await;
            }
            Standing::Deactivate => "disable",
            Standing::Activate => "enable",
            Standing::Delete => "delete",
            Standing::CancelDelete => "cancel-delete",
        };
        let (http, _) = self.org(&format!("making an account {}", change.to()))?;
        let path = format!("/users/{account_id}/manage/lifecycle/{verb}");
        let body = Some(json!({}));
        let answer = http.call(Method::POST, &path, &[], body, calls).await?;
        if answer.status.is_success() {
            return Ok(());
        }
        // `{"key": "forbidden.action", "context": {"reason": {"key": "externalDirectory.scim"}}}`
        let reason = serde_json::from_slice::<Value>(answer.body.as_ref())
            .ok()
            .and_then(|v| {
                v.pointer("/context/reason/key")
                    .and_then(|k| k.as_str())
                    .map(String::from)
            });
        match reason {
            Some(why) => Err(DirectoryError::Permanent(format!(
                "POST {path}: Atlassian refused ({}): {}",
                answer.status.as_u16(),
                explain(&why)
            ))),
            None => Err(refused(&format!("POST {path}"), &answer)),
        }
    }

    /// Changes a managed account's email: `PUT /users/{id}/manage/email` (the `email.set`
    /// privilege; Atlassian ends the account's sessions).
    pub async fn change_email(
        &self,
        account_id: &str,
        email: &Email,
        calls: &mut CallLog,
    ) -> Result<(), DirectoryError> {
        let (http, _) = self.org("changing an email")?;
        let path = format!("/users/{account_id}/manage/email");
        let body = Some(json!({ "email": email.as_str() }));
        let answer = http.call(Method::PUT, &path, &[], body, calls).await?;
        if answer.status.is_success() {
            Ok(())
        } else {
            Err(refused(&format!("PUT {path}"), &answer))
        }
    }
}

/// Atlassian's reason keys for a refused lifecycle change, in words.
fn explain(key: &str) -> String {
    let words = match key {
        "externalDirectory.scim" | "externalDirectory.google" => {
            "the account is managed by an identity provider; change it there"
        }
        "managedAccount" => "the account is not managed by this organisation",
        "administrative" | "administrative.notMyself" => "administrators cannot be changed so",
        "blocked.exportControl" => "the account is blocked for export control",
        _ => "see Atlassian's reason key",
    };
    format!("{words} ({key})")
}
