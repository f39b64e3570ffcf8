//! The Atlassian organisation audit log, read for log-ins with an organisation API key:
//! `GET /admin/v1/orgs/{org}/events-stream` (the endpoint Atlassian points pollers to; `/events`
//! is limited to 10 requests a minute since May 2025) and, to confirm which action means a
//! log-in, `GET /admin/v1/orgs/{org}/event-actions`. Under the same retries as every connector,
//! and at most `requests_per_minute` requests a minute. The pages are returned as sent;
//! `sources::atlassian_audit` decodes them.

use secrecy::SecretString;

use super::config::DirectoryConfig;
use super::http::{Auth, Http};
use super::{CallLog, DirectoryError};

/// Events asked for per page (the stream's most).
const PAGE: &str = "500";

pub struct AtlassianAudit {
    http: Http,
    org: String,
}

impl AtlassianAudit {
    /// The audit log of organisation `org` at `base`, with the retries of `limits` and at most
    /// `per_minute` requests a minute.
    pub fn new(
        base: &str,
        org: &str,
        key: SecretString,
        limits: &DirectoryConfig,
        per_minute: u32,
    ) -> Result<AtlassianAudit, DirectoryError> {
        Ok(AtlassianAudit {
            http: Http::per_minute(base, Auth::Bearer(key), limits, per_minute)?,
            org: org.to_string(),
        })
    }

    async fn get(
        &self,
        path: &str,
        query: &[(&str, &str)],
        calls: &mut CallLog,
    ) -> Result<bytes::Bytes, DirectoryError> {
        let answer = self
            .http
            .call(reqwest::Method::GET, path, query, None, calls)
            .await?;
        if answer.status.is_success() {
            Ok(answer.body)
        } else {
            Err(super::http::refused(&format!("GET {path}"), &answer))
        }
    }

    /// One page of the event stream, oldest first: from the stream's `cursor` when the last
    /// poll left one, else from `from_ms` (inclusive).
    pub async fn page(
        &self,
        cursor: Option<&str>,
        from_ms: i64,
        calls: &mut CallLog,
    ) -> Result<bytes::Bytes, DirectoryError> {
        let from = from_ms.to_string();
        let mut query = vec![("limit", PAGE), ("sortOrder", "asc")];
        match cursor {
            Some(c) => query.push(("cursor", c)),
            None => query.push(("from", from.as_str())),
        }
        let path = format!("/admin/v1/orgs/{}/events-stream", self.org);
        self.get(&path, &query, calls).await
    }

    /// The organisation's event actions (ids and display names).
    pub async fn actions(&self, calls: &mut CallLog) -> Result<bytes::Bytes, DirectoryError> {
        let path = format!("/admin/v1/orgs/{}/event-actions", self.org);
        self.get(&path, &[], calls).await
    }
}
