//! `[directory]` and `[[products]]`: which connectors find users and restore each product.

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::domain::{GroupInput, Problems, Product};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DirectoryKind {
    /// A simulated Jira site inside the process, for trying reinstate out.
    Sandbox,
    /// Jira Cloud (Jira Software and Jira Service Management) through its REST API v3.
    JiraCloud,
    /// Jira Data Center (Software, Service Management) through REST API v2, a personal
    /// access token as bearer.
    JiraDataCenter,
    /// Confluence Cloud group membership (`/wiki/rest/api/group/userByGroupId`); only for
    /// `[[products]]`, users are found through the Jira Cloud site.
    ConfluenceCloud,
    /// Confluence Data Center (`PUT /rest/api/user/{username}/group/{group}`, `…/enable`);
    /// only for `[[products]]`, users are found through Jira Data Center.
    ConfluenceDataCenter,
}

impl DirectoryKind {
    pub fn key(self) -> &'static str {
        match self {
            DirectoryKind::Sandbox => "sandbox",
            DirectoryKind::JiraCloud => "jira-cloud",
            DirectoryKind::JiraDataCenter => "jira-data-center",
            DirectoryKind::ConfluenceCloud => "confluence-cloud",
            DirectoryKind::ConfluenceDataCenter => "confluence-data-center",
        }
    }
    pub fn is_cloud(self) -> bool {
        matches!(
            self,
            DirectoryKind::JiraCloud | DirectoryKind::ConfluenceCloud
        )
    }
}

/// `[[products]]`: how one product's licence is restored.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProductConfig {
    /// `jira-software`, `jira-servicedesk` or `confluence`.
    pub key: Product,
    /// The connector that restores it; `directory.kind` when absent.
    #[serde(default)]
    pub connector: Option<DirectoryKind>,
    /// The groups a restore adds the user to (names, or `{id, name}`); when absent, the
    /// site's default groups for the product (Jira's `applicationrole`). Required for
    /// Confluence, which has no such API.
    #[serde(default)]
    pub groups: Vec<GroupInput>,
    /// Another instance for this product (Data Center: Confluence is usually its own host);
    /// `directory.site_url` when absent.
    #[serde(default)]
    pub site_url: Option<String>,
    /// The token for `site_url`; `directory.api_token` when absent.
    #[serde(default)]
    pub api_token: Option<SecretString>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DirectoryConfig {
    /// `sandbox`, `jira-cloud` or `jira-data-center`: the connector that finds users, and
    /// restores every product `[[products]]` does not give another connector.
    pub kind: DirectoryKind,
    /// Base URL of the Atlassian site, e.g. `https://example.atlassian.net`.
    pub site_url: Option<String>,
    /// Email of the service account whose API token is used (Cloud).
    pub email: Option<String>,
    /// Cloud: API token of the service account (Basic auth with `email`). Data Center: a
    /// personal access token, sent as a bearer token.
    pub api_token: Option<SecretString>,
    /// Give a licence back to a suspended or deactivated account too, by reactivating it first
    /// (Cloud: the organisation API or SCIM below; Data Center: the user's `active` flag).
    /// Off: such accounts are audited `account_inactive` and left alone.
    pub reactivate: bool,
    /// Cloud organisation id, for restoring suspended users' access
    /// (`POST /admin/v1/orgs/{org_id}/directory/users/{account_id}/restore-access`).
    pub org_id: Option<String>,
    /// Organisation API key (bearer) for `org_id`.
    pub org_api_key: Option<SecretString>,
    /// Base URL of the organisation and SCIM APIs.
    pub admin_api_url: String,
    /// SCIM directory id, for accounts an identity provider manages: reactivated with
    /// `PATCH /scim/directory/{id}/Users/{user}` setting `active` (instead of the org API).
    pub scim_directory_id: Option<String>,
    /// The SCIM directory's API key (bearer).
    pub scim_token: Option<SecretString>,
    /// Timeout of one HTTP request to the directory.
    pub request_timeout_ms: u64,
    /// Retries of one call on 429, 5xx, timeouts and connection errors, before the event is
    /// handed back to the bus for a later redelivery.
    pub max_retries: u32,
    /// First retry delay when the directory sends no `Retry-After`; doubles per retry.
    pub retry_initial_ms: u64,
    /// Longest retry delay, and the cap applied to `Retry-After`.
    pub retry_max_ms: u64,
    /// Directory calls in flight at once.
    pub max_concurrency: usize,
    /// Requests per second this connector sends at most (a token bucket), so that a burst of
    /// logins is spread out instead of meeting a storm of 429s.
    pub rate_limit_per_sec: u32,
    /// Requests the bucket lets through at once after a quiet spell.
    pub rate_limit_burst: u32,
    /// How long product definitions (`applicationrole`: groups and seats) are cached.
    pub products_cache_secs: u64,
}

impl Default for DirectoryConfig {
    fn default() -> Self {
        Self {
            kind: DirectoryKind::Sandbox,
            site_url: None,
            email: None,
            api_token: None,
            reactivate: false,
            org_id: None,
            org_api_key: None,
            admin_api_url: "https://api.atlassian.com".into(),
            scim_directory_id: None,
            scim_token: None,
            request_timeout_ms: 10_000,
            max_retries: 4,
            retry_initial_ms: 5_000,
            retry_max_ms: 30_000,
            max_concurrency: 8,
            rate_limit_per_sec: 20,
            rate_limit_burst: 20,
            products_cache_secs: 60,
        }
    }
}

impl DirectoryConfig {
    /// Checks the section and `[[products]]` against it.
    pub fn check(&self, products: &[ProductConfig], problems: &mut Problems) {
        problems.positive(&[
            ("directory.request_timeout_ms", self.request_timeout_ms),
            ("directory.retry_max_ms", self.retry_max_ms),
        ]);
        for (key, value) in [
            ("directory.max_concurrency", self.max_concurrency as u64),
            (
                "directory.rate_limit_per_sec",
                self.rate_limit_per_sec as u64,
            ),
            ("directory.rate_limit_burst", self.rate_limit_burst as u64),
        ] {
            if value == 0 {
                problems.add(key, "must be at least 1");
            }
        }
        match self.kind {
            DirectoryKind::Sandbox => {
                if !products.is_empty() {
                    problems.add(
                        "products",
                        "the sandbox has its own products; remove [[products]]",
                    );
                }
                return;
            }
            DirectoryKind::ConfluenceCloud | DirectoryKind::ConfluenceDataCenter => problems.add(
                "directory.kind",
                format!(
                    "{} cannot find users by email; use jira-cloud or jira-data-center here \
                         and give Confluence its connector in [[products]]",
                    self.kind.key()
                ),
            ),
            _ => {}
        }
        self.check_site(problems);
        for (i, p) in products.iter().enumerate() {
            if products[..i].iter().any(|q| q.key == p.key) {
                problems.add(&format!("products[{i}] ({})", p.key.key()), "listed twice");
            }
            p.check(i, self.kind, problems);
        }
    }

    /// The site, its credentials, and the organisation and SCIM APIs.
    fn check_site(&self, problems: &mut Problems) {
        let kind = self.kind.key();
        let empty =
            |t: &Option<SecretString>| t.as_ref().is_none_or(|t| t.expose_secret().is_empty());
        match &self.site_url {
            Some(url) => problems.http_url("directory.site_url", url),
            None => problems.add("directory.site_url", format!("required for kind {kind}")),
        }
        if self.kind.is_cloud() && self.email.as_deref().is_none_or(str::is_empty) {
            problems.add("directory.email", format!("required for kind {kind}"));
        }
        if empty(&self.api_token) {
            problems.add("directory.api_token", format!("required for kind {kind}"));
        }
        problems.http_url("directory.admin_api_url", &self.admin_api_url);
        if self.org_id.is_some() != self.org_api_key.is_some() {
            problems
                .add_sentence("directory.org_id and directory.org_api_key: set both or neither");
        }
        if self.scim_directory_id.is_some() != self.scim_token.is_some() {
            problems.add_sentence(
                "directory.scim_directory_id and directory.scim_token: set both or neither",
            );
        }
        if (self.org_id.is_some() || self.scim_directory_id.is_some()) && !self.kind.is_cloud() {
            problems.add(
                "directory.org_id / scim_directory_id",
                "only for Cloud; Data Center reactivates through its own API",
            );
        }
        if self.reactivate
            && self.kind.is_cloud()
            && self.org_id.is_none()
            && self.scim_directory_id.is_none()
        {
            problems.add(
                "directory.reactivate",
                "on Cloud it needs directory.org_id (organisation API) or \
                 directory.scim_directory_id (SCIM)",
            );
        }
    }
}

impl ProductConfig {
    /// Checks `[[products]]` entry `i` against the directory's kind.
    fn check(&self, i: usize, directory: DirectoryKind, problems: &mut Problems) {
        let at = format!("products[{i}] ({})", self.key.key());
        let connector = self.connector.unwrap_or(directory);
        if connector == DirectoryKind::Sandbox {
            problems.add(
                &format!("{at}.connector"),
                "sandbox is not a product connector",
            );
        } else if connector.is_cloud() != directory.is_cloud() {
            problems.add(
                &format!("{at}.connector"),
                format!(
                    "{} cannot share users with directory.kind {}: Cloud and Data Center \
                     accounts differ; run one reinstate per deployment",
                    connector.key(),
                    directory.key()
                ),
            );
        }
        let confluence = matches!(
            connector,
            DirectoryKind::ConfluenceCloud | DirectoryKind::ConfluenceDataCenter
        );
        if confluence != (self.key == Product::Confluence) {
            problems.add(
                &format!("{at}.connector"),
                format!("{} does not restore {}", connector.key(), self.key.key()),
            );
        }
        if confluence && self.groups.is_empty() {
            problems.add(
                &format!("{at}.groups"),
                "Confluence has no API naming its licence groups; list them",
            );
        }
        if let Some(url) = &self.site_url {
            problems.http_url(&format!("{at}.site_url"), url);
        }
        if self.api_token.is_some() && self.site_url.is_none() {
            problems.add(&format!("{at}.api_token"), "only with its own site_url");
        }
    }
}
