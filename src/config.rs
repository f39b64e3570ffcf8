//! Configuration: built-in defaults, then an optional TOML file, then `REINSTATE__SECTION__KEY`
//! environment variables. Validated once, at start, into typed structs.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Toml};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::signature::WebhookSecret;

/// The whole configuration. Every section is optional; the defaults make a sandbox.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// HTTP server.
    pub server: ServerConfig,
    /// The sled state directory.
    pub store: StoreConfig,
    /// The event bus: NATS JetStream, or the embedded queue when `nats_url` is absent.
    pub bus: BusConfig,
    /// Inbound event sources.
    pub sources: SourcesConfig,
    /// The Atlassian directory that licences are restored in.
    pub directory: DirectoryConfig,
    /// Per product: its connector, groups and instance (`[[products]]`). Empty: every product
    /// the `directory` site licenses, with the site's default groups.
    pub products: Vec<ProductConfig>,
    /// Workers that consume events.
    pub worker: WorkerConfig,
    /// The admin API.
    pub admin: AdminConfig,
    /// Signed links in emails.
    pub links: LinksConfig,
    /// Requests waiting for an admin.
    pub requests: RequestsConfig,
    /// reinstate's own portal page.
    pub portal: PortalConfig,
    /// Outgoing email.
    pub smtp: SmtpConfig,
    /// Alerts to admins.
    pub alerts: AlertsConfig,
    /// Logging.
    pub log: LogConfig,
}

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address the HTTP server listens on.
    pub listen: String,
    /// The externally reachable base URL, used to build links.
    pub public_url: String,
    /// On SIGTERM, how long in-flight requests, events and the email being sent may take
    /// before the process exits anyway (unfinished events are delivered again later).
    pub shutdown_grace_secs: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            public_url: "http://127.0.0.1:8080".into(),
            shutdown_grace_secs: 25,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// Directory of the sled database (created when absent). One process owns it.
    pub path: PathBuf,
    /// Below this much free space on the store's filesystem (or when it is read-only),
    /// readiness fails and new events are answered 503 instead of accepted.
    pub min_free_mb: u64,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            path: PathBuf::from("./reinstate-data"),
            min_free_mb: 64,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BusConfig {
    /// NATS server URL; when absent, the embedded durable queue in sled is used.
    pub nats_url: Option<String>,
    /// JetStream stream name (created at start when absent).
    pub stream: String,
    /// First token of every subject: `<subject_prefix>.events.<kind>.<user-key>`.
    pub subject_prefix: String,
    /// Durable pull consumer name shared by the workers.
    pub consumer: String,
    /// How long a publish may wait for the bus's acknowledgement before ingress answers 503.
    pub publish_timeout_ms: u64,
    /// Window in which JetStream drops a re-published event id (`Nats-Msg-Id`).
    pub duplicate_window_secs: u64,
    /// How long a delivered message may stay unacknowledged before it is redelivered.
    pub ack_wait_secs: u64,
}

impl Default for BusConfig {
    fn default() -> Self {
        Self {
            nats_url: None,
            stream: "REINSTATE_EVENTS".into(),
            subject_prefix: "reinstate".into(),
            consumer: "reinstate-worker".into(),
            publish_timeout_ms: 3000,
            duplicate_window_secs: 120,
            ack_wait_secs: 30,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SourcesConfig {
    /// The generic login webhook (Standard Webhooks).
    pub login: LoginSourceConfig,
    /// Jira Service Management requests (`POST /v1/hooks/jira`); off while `secrets` is empty.
    pub jsm: JsmSourceConfig,
    /// Okta Event Hooks (`/v1/hooks/okta`); off while `secrets` is empty.
    pub okta: OktaSourceConfig,
    /// Keycloak event-listener webhooks (`POST /v1/hooks/keycloak`); off while `secrets` is empty.
    pub keycloak: KeycloakSourceConfig,
    /// The Atlassian organisation audit log, polled for log-ins; off while `org_id` is unset.
    pub atlassian_audit: AtlassianAuditSourceConfig,
}

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AtlassianAuditSourceConfig {
    /// The organisation whose audit log is read (`GET /admin/v1/orgs/{org_id}/events`).
    pub org_id: Option<String>,
    /// An organisation API key with `read:events:admin` (bearer).
    pub api_key: Option<SecretString>,
    /// Seconds between polls.
    pub poll_secs: u64,
    /// The audit action that means "logged in".
    pub action: String,
    /// Base URL of the organisation API.
    pub admin_api_url: String,
}

impl Default for AtlassianAuditSourceConfig {
    fn default() -> Self {
        Self {
            org_id: None,
            api_key: None,
            poll_secs: 60,
            action: "user_logged_in".into(),
            admin_api_url: "https://api.atlassian.com".into(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OktaSourceConfig {
    /// The header Okta sends the secret in (the Event Hook's "Authentication field").
    pub header: String,
    /// Accepted values of that header; several while rotating.
    pub secrets: Vec<SecretString>,
}

impl Default for OktaSourceConfig {
    fn default() -> Self {
        Self {
            header: "authorization".into(),
            secrets: Vec::new(),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KeycloakSourceConfig {
    /// Shared secrets of the HMAC-SHA256 `X-Keycloak-Signature` (hex or base64); several while rotating.
    pub secrets: Vec<SecretString>,
}

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JsmSourceConfig {
    /// Secrets of the Jira webhook (`X-Hub-Signature: sha256=…`); several while rotating.
    pub secrets: Vec<SecretString>,
    /// Request type ids that mean "restore my access".
    pub request_type_ids: Vec<String>,
    /// The custom field carrying the request type in webhooks (site-specific).
    pub request_type_field: String,
    /// Status ids that mean approved (restore) and declined (deny).
    pub approved_status_ids: Vec<String>,
    pub declined_status_ids: Vec<String>,
    /// Transition to apply after reinstate restored access itself (e.g. to "Resolved").
    pub transition_id: Option<String>,
    /// The product these requests are for; absent = every product the rules allow (and an
    /// approval in JSM then restores every product the site licenses).
    pub product: Option<crate::event::Product>,
}

impl Default for JsmSourceConfig {
    fn default() -> Self {
        Self {
            secrets: Vec::new(),
            request_type_ids: Vec::new(),
            request_type_field: "customfield_10010".into(),
            approved_status_ids: Vec::new(),
            declined_status_ids: Vec::new(),
            transition_id: None,
            product: None,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoginSourceConfig {
    /// Standard Webhooks secrets (`whsec_<base64>`); several at once while rotating.
    pub secrets: Vec<SecretString>,
    /// How far `webhook-timestamp` may be from now, either way.
    pub tolerance_secs: u64,
}

impl Default for LoginSourceConfig {
    fn default() -> Self {
        Self {
            secrets: Vec::new(),
            tolerance_secs: 300,
        }
    }
}

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
    pub key: crate::event::Product,
    /// The connector that restores it; `directory.kind` when absent.
    #[serde(default)]
    pub connector: Option<DirectoryKind>,
    /// The groups a restore adds the user to (names, or `{id, name}`); when absent, the
    /// site's default groups for the product (Jira's `applicationrole`). Required for
    /// Confluence, which has no such API.
    #[serde(default)]
    pub groups: Vec<crate::directory::GroupInput>,
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

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WorkerConfig {
    /// Events processed at once. 0 with NATS: an ingress-only process (receivers and admin
    /// API), for deployments that scale receivers and workers separately.
    pub concurrency: usize,
    /// Deliveries of one event before it is recorded as failed.
    pub max_deliver: u32,
    /// Delay before the first redelivery; doubles per delivery.
    pub backoff_initial_ms: u64,
    /// Longest delay between redeliveries.
    pub backoff_max_ms: u64,
    /// How long processed event ids are remembered (idempotency beyond the bus's window).
    pub processed_ttl_days: u64,
    /// Logins of the same user that happened this close together (reported by two sources, say)
    /// act once; 0 turns this off.
    pub login_dedupe_secs: u64,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            concurrency: 16,
            max_deliver: 8,
            backoff_initial_ms: 2_000,
            backoff_max_ms: 300_000,
            processed_ttl_days: 30,
            login_dedupe_secs: 60,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdminConfig {
    /// Hex SHA-256 of each accepted admin bearer token (may read and change everything).
    pub token_sha256: Vec<String>,
    /// Hex SHA-256 of each accepted viewer token (read-only: rules, explain, simulate, audit).
    pub viewer_token_sha256: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PortalConfig {
    /// Serve `/portal` (it also needs email links and SMTP).
    pub enabled: bool,
    /// Asks accepted per client address per minute (more get 429).
    pub per_ip_per_minute: u32,
    /// Confirmation emails per email address per hour (more are silently not sent).
    pub per_address_per_hour: u32,
    /// Header carrying the client address behind a proxy (e.g. "x-forwarded-for"); absent =
    /// the connection's address.
    pub client_ip_header: Option<String>,
}

impl Default for PortalConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            per_ip_per_minute: 10,
            per_address_per_hour: 3,
            client_ip_header: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RequestsConfig {
    /// A request nobody decides within this long expires (the requester is told), e.g. "14d".
    #[serde(with = "humantime_serde")]
    pub expire_after: std::time::Duration,
    /// Admins are reminded this long before a request expires, e.g. "3d".
    #[serde(with = "humantime_serde")]
    pub remind_before: std::time::Duration,
    /// How often waiting requests are checked.
    #[serde(with = "humantime_serde")]
    pub check_every: std::time::Duration,
}

impl Default for RequestsConfig {
    fn default() -> Self {
        let day = std::time::Duration::from_secs(86_400);
        Self {
            expire_after: day * 14,
            remind_before: day * 3,
            check_every: std::time::Duration::from_secs(300),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LinksConfig {
    /// Signing keys; every key verifies, `active` signs. Remove a key to revoke its links.
    pub keys: Vec<LinkKey>,
    /// The key id that signs new links.
    pub active: Option<String>,
    /// How long a link stays valid.
    pub ttl_hours: u64,
}

impl Default for LinksConfig {
    fn default() -> Self {
        Self {
            keys: Vec::new(),
            active: None,
            ttl_hours: 72,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkKey {
    pub id: String,
    /// At least 32 characters of random secret.
    pub secret: SecretString,
}

impl LinksConfig {
    /// The key ring, when keys are configured.
    pub fn key_ring(&self) -> Result<Option<crate::links::KeyRing>, String> {
        if self.keys.is_empty() {
            return Ok(None);
        }
        let keys: Vec<(String, Vec<u8>)> = self
            .keys
            .iter()
            .map(|k| (k.id.clone(), k.secret.expose_secret().as_bytes().to_vec()))
            .collect();
        let active = self
            .active
            .as_deref()
            .ok_or("links.active: name the key that signs new links")?;
        crate::links::KeyRing::new(&keys, active)
            .map(Some)
            .map_err(|e| format!("links.keys: {e}"))
    }
}

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SmtpConfig {
    /// `smtp://host:port` (plain), `smtp://host:587?tls=required` (STARTTLS) or
    /// `smtps://host:465`; absent = no email.
    pub url: Option<String>,
    /// Sender address.
    pub from: String,
    /// Credentials, when the server wants them.
    pub username: Option<String>,
    pub password: Option<SecretString>,
    /// Timeout of one SMTP conversation.
    pub timeout_ms: u64,
}

impl Default for SmtpConfig {
    fn default() -> Self {
        Self {
            url: None,
            from: "reinstate@localhost.localdomain".into(),
            username: None,
            password: None,
            timeout_ms: 10_000,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlertsConfig {
    /// Admins who receive alerts (seats running out, restores waiting for seats).
    pub emails: Vec<String>,
    /// Alert once when a product's seat use reaches this percentage (0 = never).
    pub seat_threshold_percent: u8,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        Self {
            emails: Vec::new(),
            seat_threshold_percent: 90,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// `tracing` filter, e.g. `info` or `reinstate=debug,info`; `RUST_LOG` wins when set.
    pub filter: String,
    /// Log as JSON lines instead of human-readable text.
    pub json: bool,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            filter: "info".into(),
            json: false,
        }
    }
}

/// A configuration that failed to load or validate; every message names the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration file {0} does not exist")]
    MissingFile(PathBuf),
    #[error("{0}")]
    Parse(String),
    #[error("invalid configuration:\n  - {}", .0.join("\n  - "))]
    Invalid(Vec<String>),
}

impl Config {
    /// Defaults, then the file (when given), then `REINSTATE__SECTION__KEY` variables.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        let mut figment = Figment::new();
        if let Some(path) = file {
            if !path.exists() {
                return Err(ConfigError::MissingFile(path.to_path_buf()));
            }
            figment = figment.merge(Toml::file_exact(path));
        }
        figment = figment.merge(Env::prefixed("REINSTATE__").split("__"));
        Self::extract(figment)
    }

    /// Parses a TOML document (no environment), for tests and tools.
    pub fn from_toml(toml: &str) -> Result<Config, ConfigError> {
        Self::extract(Figment::new().merge(Toml::string(toml)))
    }

    fn extract(figment: Figment) -> Result<Config, ConfigError> {
        let config: Config = figment.extract().map_err(|errors| {
            ConfigError::Parse(
                errors
                    .into_iter()
                    .map(|e| describe_figment_error(&e))
                    .collect::<Vec<_>>()
                    .join("; "),
            )
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Checks every value and reports all problems at once.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut problems = Vec::new();
        if self.server.listen.parse::<SocketAddr>().is_err() {
            problems.push(format!(
                "server.listen: {:?} is not an address like 127.0.0.1:8080",
                self.server.listen
            ));
        }
        check_http_url("server.public_url", &self.server.public_url, &mut problems);
        if let Some(url) = &self.bus.nats_url
            && url.trim().is_empty()
        {
            problems.push("bus.nats_url: is empty; omit it for the embedded queue".into());
        }
        for (key, value) in [
            ("bus.stream", &self.bus.stream),
            ("bus.consumer", &self.bus.consumer),
        ] {
            if value.is_empty()
                || !value
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                problems.push(format!(
                    "{key}: {value:?} must be letters, digits, '_' or '-'"
                ));
            }
        }
        let prefix = &self.bus.subject_prefix;
        if prefix.is_empty()
            || prefix
                .split('.')
                .any(|t| t.is_empty() || t.contains(['*', '>', ' ']))
        {
            problems.push(format!(
                "bus.subject_prefix: {prefix:?} is not a NATS subject prefix"
            ));
        }
        for (key, value) in [
            (
                "server.shutdown_grace_secs",
                self.server.shutdown_grace_secs,
            ),
            ("bus.publish_timeout_ms", self.bus.publish_timeout_ms),
            ("bus.ack_wait_secs", self.bus.ack_wait_secs),
            ("bus.duplicate_window_secs", self.bus.duplicate_window_secs),
            (
                "directory.request_timeout_ms",
                self.directory.request_timeout_ms,
            ),
            ("directory.retry_max_ms", self.directory.retry_max_ms),
            ("worker.backoff_max_ms", self.worker.backoff_max_ms),
            ("worker.processed_ttl_days", self.worker.processed_ttl_days),
        ] {
            if value == 0 {
                problems.push(format!("{key}: must be greater than 0"));
            }
        }
        for (key, value) in [
            ("directory.max_concurrency", self.directory.max_concurrency),
            (
                "directory.rate_limit_per_sec",
                self.directory.rate_limit_per_sec as usize,
            ),
            (
                "directory.rate_limit_burst",
                self.directory.rate_limit_burst as usize,
            ),
        ] {
            if value == 0 {
                problems.push(format!("{key}: must be at least 1"));
            }
        }
        if self.worker.concurrency == 0 && self.bus.nats_url.is_none() {
            problems.push(
                "worker.concurrency: 0 (ingress only) needs bus.nats_url: with the embedded \
                 queue, nothing else would handle the events"
                    .into(),
            );
        }
        if self.worker.max_deliver == 0 {
            problems.push("worker.max_deliver: must be at least 1".into());
        }
        for (i, secret) in self.sources.login.secrets.iter().enumerate() {
            if let Err(e) = WebhookSecret::parse(secret.expose_secret()) {
                problems.push(format!("sources.login.secrets[{i}]: {e}"));
            }
        }
        for (key, list) in [
            ("admin.token_sha256", &self.admin.token_sha256),
            ("admin.viewer_token_sha256", &self.admin.viewer_token_sha256),
        ] {
            for (i, hash) in list.iter().enumerate() {
                if hash.len() != 64 || hex::decode(hash).is_err() {
                    problems.push(format!(
                        "{key}[{i}]: must be 64 hex digits (the SHA-256 of a token)"
                    ));
                }
            }
        }
        if let Some(url) = &self.smtp.url {
            let builder = lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::from_url(url);
            if let Err(e) = builder {
                problems.push(format!("smtp.url: {url:?}: {e}"));
            }
            if self.smtp.from.parse::<lettre::message::Mailbox>().is_err() {
                problems.push(format!(
                    "smtp.from: {:?} is not an email address",
                    self.smtp.from
                ));
            }
            if self.smtp.username.is_some() != self.smtp.password.is_some() {
                problems.push("smtp.username and smtp.password: give both or neither".into());
            }
            if self.smtp.timeout_ms == 0 {
                problems.push("smtp.timeout_ms: must be greater than 0".into());
            }
        } else if !self.alerts.emails.is_empty() {
            problems
                .push("smtp.url: required to send the alerts configured in alerts.emails".into());
        }
        for (i, e) in self.alerts.emails.iter().enumerate() {
            if crate::event::Email::parse(e).is_err() {
                problems.push(format!("alerts.emails[{i}]: {e:?} is not an email address"));
            }
        }
        if !self.sources.jsm.secrets.is_empty() {
            if let Err(e) = crate::jsm::JsmSource::new(&self.sources.jsm) {
                problems.push(e);
            }
            if self.sources.jsm.request_type_ids.is_empty() {
                problems.push("sources.jsm.request_type_ids: name the request types that mean \"restore my access\"".into());
            }
        }
        if !self.sources.okta.secrets.is_empty() && self.sources.okta.header.trim().is_empty() {
            problems.push("sources.okta.header: name the header Okta sends the secret in".into());
        }
        if let Err(e) = crate::ingress::keycloak::KeycloakSource::new(&self.sources.keycloak) {
            problems.push(e);
        }
        if let Err(e) = self.links.key_ring() {
            problems.push(e);
        }
        if self.requests.remind_before >= self.requests.expire_after {
            problems
                .push("requests.remind_before: must be shorter than requests.expire_after".into());
        }
        if self.portal.per_ip_per_minute == 0 || self.portal.per_address_per_hour == 0 {
            problems.push(
                "portal.per_ip_per_minute and portal.per_address_per_hour: must be at least 1"
                    .into(),
            );
        }
        if self.requests.check_every.is_zero() {
            problems.push("requests.check_every: must be greater than 0".into());
        }
        if !(1..=720).contains(&self.links.ttl_hours) {
            problems.push("links.ttl_hours: must be 1 to 720".into());
        }
        if self.alerts.seat_threshold_percent > 100 {
            problems.push("alerts.seat_threshold_percent: must be 0 (off) to 100".into());
        }
        self.validate_directory(&mut problems);
        let audit = &self.sources.atlassian_audit;
        if audit.org_id.is_some() {
            if audit
                .api_key
                .as_ref()
                .is_none_or(|k| k.expose_secret().is_empty())
            {
                problems.push("sources.atlassian_audit.api_key: required with org_id".into());
            }
            if audit.poll_secs == 0 {
                problems.push("sources.atlassian_audit.poll_secs: must be greater than 0".into());
            }
            check_http_url(
                "sources.atlassian_audit.admin_api_url",
                &audit.admin_api_url,
                &mut problems,
            );
        }
        match self.directory.kind {
            DirectoryKind::Sandbox => {}
            _ => {
                if self.sources.login.secrets.is_empty() {
                    problems.push(
                        "sources.login.secrets: at least one secret is required outside the sandbox"
                            .into(),
                    );
                }
                if self.admin.token_sha256.is_empty() {
                    problems.push(
                        "admin.token_sha256: at least one token hash is required outside the sandbox"
                            .into(),
                    );
                }
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::Invalid(problems))
        }
    }

    /// The directory section and `[[products]]`.
    fn validate_directory(&self, problems: &mut Vec<String>) {
        let d = &self.directory;
        let kind = d.kind.key();
        let empty =
            |t: &Option<SecretString>| t.as_ref().is_none_or(|t| t.expose_secret().is_empty());
        match d.kind {
            DirectoryKind::Sandbox => {
                if !self.products.is_empty() {
                    problems.push(
                        "products: the sandbox has its own products; remove [[products]]".into(),
                    );
                }
                return;
            }
            DirectoryKind::ConfluenceCloud | DirectoryKind::ConfluenceDataCenter => {
                problems.push(format!(
                    "directory.kind: {kind} cannot find users by email; use jira-cloud or \
                 jira-data-center here and give Confluence its connector in [[products]]"
                ))
            }
            _ => {}
        }
        match &d.site_url {
            Some(url) => check_http_url("directory.site_url", url, problems),
            None => problems.push(format!("directory.site_url: required for kind {kind}")),
        }
        if d.kind.is_cloud() && d.email.as_deref().is_none_or(str::is_empty) {
            problems.push(format!("directory.email: required for kind {kind}"));
        }
        if empty(&d.api_token) {
            problems.push(format!("directory.api_token: required for kind {kind}"));
        }
        check_http_url("directory.admin_api_url", &d.admin_api_url, problems);
        if d.org_id.is_some() != d.org_api_key.is_some() {
            problems.push("directory.org_id and directory.org_api_key: set both or neither".into());
        }
        if d.scim_directory_id.is_some() != d.scim_token.is_some() {
            problems.push(
                "directory.scim_directory_id and directory.scim_token: set both or neither".into(),
            );
        }
        if (d.org_id.is_some() || d.scim_directory_id.is_some()) && !d.kind.is_cloud() {
            problems.push(
                "directory.org_id / scim_directory_id: only for Cloud; Data Center reactivates \
                 through its own API"
                    .into(),
            );
        }
        if d.reactivate && d.kind.is_cloud() && d.org_id.is_none() && d.scim_directory_id.is_none()
        {
            problems.push(
                "directory.reactivate: on Cloud it needs directory.org_id (organisation API) or \
                 directory.scim_directory_id (SCIM)"
                    .into(),
            );
        }
        let mut seen = std::collections::HashSet::new();
        for (i, p) in self.products.iter().enumerate() {
            let at = format!("products[{i}] ({})", p.key.key());
            if !seen.insert(p.key) {
                problems.push(format!("{at}: listed twice"));
            }
            let connector = p.connector.unwrap_or(d.kind);
            if connector == DirectoryKind::Sandbox {
                problems.push(format!(
                    "{at}.connector: sandbox is not a product connector"
                ));
            } else if connector.is_cloud() != d.kind.is_cloud() {
                problems.push(format!(
                    "{at}.connector: {} cannot share users with directory.kind {kind}: Cloud and \
                     Data Center accounts differ; run one reinstate per deployment",
                    connector.key()
                ));
            }
            let confluence = matches!(
                connector,
                DirectoryKind::ConfluenceCloud | DirectoryKind::ConfluenceDataCenter
            );
            if confluence != (p.key == crate::event::Product::Confluence) {
                problems.push(format!(
                    "{at}.connector: {} does not restore {}",
                    connector.key(),
                    p.key.key()
                ));
            }
            if confluence && p.groups.is_empty() {
                problems.push(format!(
                    "{at}.groups: Confluence has no API naming its licence groups; list them"
                ));
            }
            if let Some(url) = &p.site_url {
                check_http_url(&format!("{at}.site_url"), url, problems);
            }
            if p.api_token.is_some() && p.site_url.is_none() {
                problems.push(format!("{at}.api_token: only with its own site_url"));
            }
        }
    }

    /// True when this configuration runs the self-contained demo.
    pub fn is_sandbox(&self) -> bool {
        self.directory.kind == DirectoryKind::Sandbox
    }
}

fn check_http_url(key: &str, value: &str, problems: &mut Vec<String>) {
    match url::Url::parse(value) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
        _ => problems.push(format!("{key}: {value:?} is not an http(s) URL")),
    }
}

/// Figment's messages name the key as a path; drop its "default." profile prefix.
fn describe_figment_error(error: &figment::Error) -> String {
    let key = error.path.join(".");
    let mut kind = error.kind.to_string();
    if let figment::error::Kind::UnknownField(field, _) = &error.kind {
        kind = format!("unknown key `{field}`");
    }
    let origin = error
        .metadata
        .as_ref()
        .map(|m| format!(" (from {})", m.name))
        .unwrap_or_default();
    if key.is_empty() {
        format!("{kind}{origin}")
    } else {
        format!("{key}: {kind}{origin}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_config_is_the_sandbox() {
        let c = Config::from_toml("").expect("defaults are valid");
        assert!(c.is_sandbox());
        assert_eq!(c.server.listen, "127.0.0.1:8080");
        assert!(c.bus.nats_url.is_none());
    }

    #[test]
    fn ingress_only_needs_nats() {
        let err = Config::from_toml("[worker]\nconcurrency = 0").expect_err("invalid");
        assert!(err.to_string().contains("needs bus.nats_url"), "{err}");
        let ok = Config::from_toml(
            "[worker]\nconcurrency = 0\n[bus]\nnats_url = \"nats://127.0.0.1:4222\"",
        );
        assert!(ok.is_ok(), "{ok:?}");
    }

    #[test]
    fn products_are_checked_against_their_connectors() {
        let base = "[directory]\nkind = \"jira-cloud\"\nsite_url = \"https://x.atlassian.net\"\n\
                    email = \"a@b.c\"\napi_token = \"t\"\nreactivate = true\n";
        let err = Config::from_toml(&format!(
            "{base}[[products]]\nkey = \"confluence\"\nconnector = \"confluence-cloud\"\n\
             [[products]]\nkey = \"jira-software\"\nconnector = \"jira-data-center\"\n\
             [[products]]\nkey = \"jira-software\"\n"
        ))
        .expect_err("invalid");
        let text = err.to_string();
        for expected in [
            "products[0] (confluence).groups",
            "products[1] (jira-software).connector: jira-data-center cannot share users",
            "products[2] (jira-software): listed twice",
            "directory.reactivate: on Cloud it needs",
        ] {
            assert!(text.contains(expected), "{expected} missing from: {text}");
        }
        let ok = Config::from_toml(&format!(
            "{base}org_id = \"o\"\norg_api_key = \"k\"\n[sources.login]\nsecrets = [\"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"]\n\
             [admin]\ntoken_sha256 = [\"{}\"]\n\
             [[products]]\nkey = \"confluence\"\nconnector = \"confluence-cloud\"\ngroups = [\"confluence-users\"]\n",
            "0".repeat(64)
        ));
        assert!(ok.is_ok(), "{ok:?}");
    }

    #[test]
    fn bad_values_are_reported_together_naming_each_key() {
        let err = Config::from_toml(
            "[server]\nlisten = \"nope\"\n[directory]\nkind = \"jira-cloud\"\n[admin]\ntoken_sha256 = [\"xyz\"]",
        )
        .expect_err("invalid");
        let text = err.to_string();
        for key in [
            "server.listen",
            "directory.site_url",
            "directory.api_token",
            "sources.login.secrets",
            "admin.token_sha256[0]",
        ] {
            assert!(text.contains(key), "{key} missing from: {text}");
        }
    }

    #[test]
    fn unknown_keys_and_wrong_types_name_the_key() {
        let text = Config::from_toml("[server]\nlisen = \"x\"")
            .expect_err("typo")
            .to_string();
        assert!(text.contains("lisen"), "{text}");
        let text = Config::from_toml("[worker]\nconcurrency = \"many\"")
            .expect_err("type")
            .to_string();
        assert!(text.contains("worker.concurrency"), "{text}");
    }

    #[test]
    fn secrets_are_redacted_in_debug() {
        let c = Config::from_toml(
            "[directory]\napi_token = \"very-secret-token\"\n[sources.login]\nsecrets = [\"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"]",
        )
        .expect("valid");
        let debug = format!("{c:?}");
        assert!(!debug.contains("very-secret-token"));
        assert!(!debug.contains("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"));
    }
}
