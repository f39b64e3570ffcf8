//! The Atlassian organisation audit log, read for log-ins (`GET /admin/v1/orgs/{org}/events`)
//! with an organisation API key, under the same retries and rate limits as every connector. The
//! pages are returned as sent; `sources::atlassian_audit` decodes them.

use secrecy::SecretString;

use super::config::DirectoryConfig;
use super::http::{Auth, Http};
use super::{CallLog, DirectoryError};

pub struct AtlassianAudit {
    http: Http,
    path: String,
}

impl AtlassianAudit {
    /// The audit log of organisation `org` at `base`, with the limits of `limits`.
    pub fn new(
        base: &str,
        org: &str,
        key: SecretString,
        limits: &DirectoryConfig,
    ) -> Result<AtlassianAudit, DirectoryError> {
        Ok(AtlassianAudit {
            http: Http::new(base, Auth::Bearer(key), limits)?,
            path: format!("/admin/v1/orgs/{org}/events"),
        })
    }

    /// One page of events of `action` from `from_ms` (inclusive), after `cursor` when given.
    pub async fn page(
        &self,
        action: &str,
        from_ms: i64,
        cursor: Option<&str>,
        calls: &mut CallLog,
    ) -> Result<bytes::Bytes, DirectoryError> {
        let from = from_ms.to_string();
        let mut query = vec![("action", action), ("from", from.as_str())];
        if let Some(c) = cursor {
            query.push(("cursor", c));
        }
        let answer = self
            .http
            .call(reqwest::Method::GET, &self.path, &query, None, calls)
            .await?;
        if answer.status.is_success() {
            Ok(answer.body)
        } else {
            Err(super::http::refused(&format!("GET {}", self.path), &answer))
        }
    }
}
