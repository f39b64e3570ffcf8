//! Restoring a suspended Cloud account before its licence: through SCIM when an identity
//! provider manages the account (`PATCH /scim/directory/{id}/Users/{user}` setting `active`),
//! otherwise through the organisation API
//! (`POST /admin/v1/orgs/{org}/directory/users/{account}/restore-access`). Both take bearer keys
//! at `directory.admin_api_url`.

use std::sync::Arc;

use reqwest::Method;
use serde::Deserialize;

use super::config::DirectoryConfig;
use super::http::{Auth, Http, refused, token};
use super::{CallLog, DirectoryError, Standing};
use crate::domain::Email;

pub struct CloudAdmin {
    org: Option<(Arc<Http>, String)>,
    scim: Option<(Http, String)>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ScimList {
    #[serde(default)]
    resources: Vec<ScimUser>,
}

#[derive(Deserialize)]
struct ScimUser {
    id: String,
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
        Ok((org.is_some() || scim.is_some()).then_some(CloudAdmin { org, scim }))
    }

    /// Restores the account's access: SCIM for an account the identity provider manages (the
    /// organisation API cannot change those), else the organisation API.
    pub async fn restore(
        &self,
        account_id: &str,
        email: &Email,
        calls: &mut CallLog,
    ) -> Result<(), DirectoryError> {
        if let Some((http, dir)) = &self.scim {
            let filter = format!("userName eq \"{}\"", email.as_str());
            let users: ScimList = http
                .get_json(
                    &format!("/scim/directory/{dir}/Users"),
                    &[("filter", filter.as_str())],
                    calls,
                )
                .await?;
            if let Some(user) = users.resources.first() {
                let body = serde_json::json!({
                    "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                    "Operations": [{ "op": "replace", "path": "active", "value": true }],
                });
                return http
                    .send_ok(
                        Method::PATCH,
                        &format!("/scim/directory/{dir}/Users/{}", user.id),
                        &[],
                        Some(body),
                        calls,
                    )
                    .await;
            }
        }
        let Some((http, org)) = &self.org else {
            return Err(DirectoryError::Permanent(format!(
                "{email} is not in the SCIM directory, and no directory.org_id is configured to \
                 restore the account through the organisation API"
            )));
        };
        let path = format!("/admin/v1/orgs/{org}/directory/users/{account_id}/restore-access");
        let answer = http.call(Method::POST, &path, &[], None, calls).await?;
        if answer.status.is_success() {
            Ok(())
        } else {
            Err(refused(&format!("POST {path}"), &answer))
        }
    }

    /// Changes the account's standing through the organisation API (suspend, restore access)
    /// or the user-management lifecycle API (deactivate, enable, delete, cancel the deletion;
    /// managed accounts only: Atlassian answers 403 with its reason for the others).
    pub async fn change(
        &self,
        account_id: &str,
        change: Standing,
        calls: &mut CallLog,
    ) -> Result<(), DirectoryError> {
        let Some((http, org)) = &self.org else {
            return Err(DirectoryError::Permanent(format!(
                "making an account {} needs directory.org_id and directory.org_api_key",
                change.to()
            )));
        };
        let path = match change {
            Standing::Suspend => {
                format!("/admin/v1/orgs/{org}/directory/users/{account_id}/suspend-access")
            }
            Standing::Unsuspend => {
                format!("/admin/v1/orgs/{org}/directory/users/{account_id}/restore-access")
            }
            Standing::Deactivate => format!("/users/{account_id}/manage/lifecycle/disable"),
            Standing::Activate => format!("/users/{account_id}/manage/lifecycle/enable"),
            Standing::Delete => format!("/users/{account_id}/manage/lifecycle/delete"),
            Standing::CancelDelete => {
                format!("/users/{account_id}/manage/lifecycle/cancel-delete")
            }
        };
        let body = Some(serde_json::json!({}));
        let answer = http.call(Method::POST, &path, &[], body, calls).await?;
        if answer.status.is_success() {
            return Ok(());
        }
        // `{"key": "forbidden.action", "context": {"reason": {"key": "externalDirectory.scim"}}}`
        let reason = serde_json::from_slice::<serde_json::Value>(answer.body.as_ref())
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
}

impl CloudAdmin {
    /// Changes a managed account's email through the user-management profile API.
    pub async fn change_email(
        &self,
        account_id: &str,
        email: &Email,
        calls: &mut CallLog,
    ) -> Result<(), DirectoryError> {
        let Some((http, _)) = &self.org else {
            return Err(DirectoryError::Permanent(
                "changing an email needs directory.org_id and directory.org_api_key".into(),
            ));
        };
        let path = format!("/users/{account_id}/manage/profile");
        let body = Some(serde_json::json!({ "email": email.as_str() }));
        let answer = http.call(Method::PATCH, &path, &[], body, calls).await?;
        if answer.status.is_success() {
            Ok(())
        } else {
            Err(refused(&format!("PATCH {path}"), &answer))
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
