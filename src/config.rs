//! Configuration: built-in defaults, then an optional TOML file, then `REINSTATE__SECTION__KEY`
//! environment variables. Each section is defined, checked and built by the component that owns
//! it; this file assembles them, and checks what relates one section to another. Every problem
//! is reported at once, by key.

use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Toml};
use serde::Deserialize;

use crate::bus::BusConfig;
use crate::directory::config::{DirectoryConfig, DirectoryKind, ProductConfig};
use crate::domain::Problems;
use crate::flows::alerts::AlertsConfig;
use crate::flows::identify::IdentityConfig;
use crate::flows::inventory::InventoryConfig;
use crate::flows::reclaim::ReclaimConfig;
use crate::flows::requests::RequestsConfig;
use crate::http::api::AdminConfig;
use crate::http::public::portal::PortalConfig;
use crate::http::server::{ProcessRole, ServerConfig};
use crate::links::LinksConfig;
use crate::notify::sender::SmtpConfig;
use crate::sources::SourcesConfig;
use crate::store::StoreConfig;
use crate::worker::WorkerConfig;

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
    /// The inventory of every account: how often it is synced, how long it is trusted.
    pub inventory: InventoryConfig,
    /// How login names (senders that give no email) resolve to accounts.
    pub identity: IdentityConfig,
    /// Reclamation: the schedule of runs, who is always protected, what a seat costs.
    pub reclaim: ReclaimConfig,
    /// Logging.
    pub log: LogConfig,
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
        let figment = with_files(figment)?;
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
        let mut problems = Problems::default();
        self.server.check(&mut problems);
        self.bus.check(&mut problems);
        self.sources.check(&mut problems);
        if self.server.role.keeps_state() {
            // An intake never calls Atlassian, so it needs no directory credentials.
            self.directory.check(&self.products, &mut problems);
        }
        self.worker.check(&mut problems);
        self.admin.check(&mut problems);
        self.links.check(&mut problems);
        self.requests.check(&mut problems);
        self.portal.check(&mut problems);
        self.smtp.check(&mut problems);
        self.alerts.check(&mut problems);
        self.identity.check(&mut problems);
        self.reclaim.check(&mut problems);
        self.inventory.check(&mut problems);
        self.check_together(&mut problems);
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::Invalid(problems.into_vec()))
        }
    }

    /// What one section requires of another.
    fn check_together(&self, problems: &mut Problems) {
        let role = self.server.role;
        if role != ProcessRole::All && self.bus.nats_url.is_none() {
            problems.add(
                "server.role",
                format!(
                    "{:?} needs bus.nats_url: processes share their work only through NATS \
                     (with the embedded queue, one process does everything: \"all\")",
                    role.key()
                ),
            );
        }
        if role == ProcessRole::State && self.directory.kind == DirectoryKind::Sandbox {
            problems.add(
                "server.role",
                "\"state\" with the sandbox: the sandbox is one process (\"all\"); set \
                 directory.kind",
            );
        }
        let slack = &self.sources.slack;
        if !slack.signing_secrets.is_empty() && slack.bot_token.is_none() && role.keeps_state() {
            problems.add(
                "sources.slack.bot_token",
                "needed with sources.slack.signing_secrets: the worker asks Slack's users.info \
                 who sent a slash command (an intake process needs only the signing secret)",
            );
        }
        let teams = &self.sources.teams;
        if !teams.app_id.is_empty() && teams.app_secret.is_none() && role.keeps_state() {
            problems.add(
                "sources.teams.app_secret",
                "needed with sources.teams.app_id: the worker asks the Bot Framework for the \
                 token it reads who asked and replies with (an intake process needs only the \
                 app id)",
            );
        }
        if self.reclaim.notifies("slack") && slack.bot_token.is_none() && role.keeps_state() {
            problems.add(
                "reclaim.notify",
                "\"slack\" needs sources.slack.bot_token: the warning is a direct message from \
                 the Slack app",
            );
        }
        if self.smtp.url.is_none() && !self.alerts.emails.is_empty() {
            problems.add(
                "smtp.url",
                "required to send the alerts configured in alerts.emails",
            );
        }
        if self.directory.kind == DirectoryKind::Sandbox && role == ProcessRole::All {
            return;
        }
        if self.sources.login.secrets.is_empty() && role.receives() {
            problems.add(
                "sources.login.secrets",
                "at least one secret is required outside the sandbox",
            );
        }
        if self.admin.token_sha256.is_empty() && role.keeps_state() {
            problems.add(
                "admin.token_sha256",
                "at least one token hash is required outside the sandbox",
            );
        }
    }

    /// True when this configuration runs the self-contained demo.
    pub fn is_sandbox(&self) -> bool {
        self.directory.kind == DirectoryKind::Sandbox
    }
}

/// Every `<key>_file` (in the file or a `REINSTATE__…_FILE` variable) replaced by `<key>` with
/// that file's content, read now: a secret mounted as a file never passes through the
/// environment. A content starting with `[` is a TOML list (`["a", "b"]`, as the list keys
/// take); any other is the string, without its trailing line break.
fn with_files(figment: Figment) -> Result<Figment, ConfigError> {
    let mut value: serde_json::Value = figment
        .extract()
        .map_err(|e| ConfigError::Parse(describe_figment_error(&e)))?;
    let mut problems = Vec::new();
    read_files(&mut value, "", &mut problems);
    if !problems.is_empty() {
        return Err(ConfigError::Invalid(problems));
    }
    Ok(Figment::from(figment::providers::Serialized::defaults(
        value,
    )))
}

fn read_files(value: &mut serde_json::Value, at: &str, problems: &mut Vec<String>) {
    let serde_json::Value::Object(map) = value else {
        return;
    };
    let files: Vec<String> = map
        .keys()
        .filter(|k| k.ends_with("_file") && k.len() > "_file".len())
        .cloned()
        .collect();
    for file_key in files {
        let key = file_key.trim_end_matches("_file").to_string();
        let name = format!("{at}{file_key}");
        let Some(serde_json::Value::String(path)) = map.remove(&file_key) else {
            problems.push(format!("{name}: must be the path of a file"));
            continue;
        };
        if map.contains_key(&key) {
            problems.push(format!("{name}: {at}{key} is set too; give one of them"));
            continue;
        }
        match file_value(&path) {
            Ok(v) => {
                map.insert(key, v);
            }
            Err(why) => problems.push(format!("{name}: {path}: {why}")),
        }
    }
    for (k, v) in map.iter_mut() {
        read_files(v, &format!("{at}{k}."), problems);
    }
}

fn file_value(path: &str) -> Result<serde_json::Value, String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let text = text.trim_end_matches(['\n', '\r']);
    if !text.trim_start().starts_with('[') {
        return Ok(serde_json::Value::String(text.to_string()));
    }
    Figment::from(Toml::string(&format!("v = {text}")))
        .extract_inner("v")
        .map_err(|e| format!("not a TOML list: {e}"))
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
    fn secrets_can_be_read_from_files_named_by_file_keys() {
        use secrecy::ExposeSecret;
        let dir = tempfile::tempdir().expect("tempdir");
        let token = dir.path().join("directory-api-token");
        std::fs::write(&token, "tok-from-file\n").expect("write");
        let secrets = dir.path().join("login-secrets");
        std::fs::write(&secrets, "[\"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"]\n").expect("write");
        let base = format!(
            "[directory]\nkind = \"jira-cloud\"\nsite_url = \"https://x.atlassian.net\"\n\
             email = \"a@b.c\"\napi_token_file = \"{}\"\n\
             [sources.login]\nsecrets_file = \"{}\"\n[admin]\ntoken_sha256 = [\"{}\"]\n",
            token.display(),
            secrets.display(),
            "ab".repeat(32)
        );
        let c = Config::from_toml(&base).expect("valid");
        let read = c.directory.api_token.as_ref().expect("token");
        assert_eq!(read.expose_secret(), "tok-from-file");
        assert_eq!(c.sources.login.secrets.len(), 1);
        let both = format!("{base}token_sha256_file = \"/nope\"\n");
        let err = Config::from_toml(&both).expect_err("both");
        assert!(
            err.to_string().contains("admin.token_sha256 is set too"),
            "{err}"
        );
        let missing = base.replace(&token.display().to_string(), "/no/such/file");
        let err = Config::from_toml(&missing).expect_err("missing");
        assert!(
            err.to_string()
                .contains("directory.api_token_file: /no/such/file"),
            "{err}"
        );
    }

    #[test]
    fn empty_config_is_the_sandbox() {
        let c = Config::from_toml("").expect("defaults are valid");
        assert!(c.is_sandbox());
        assert_eq!(c.server.listen, "127.0.0.1:8080");
        assert!(c.bus.nats_url.is_none());
    }

    #[test]
    fn the_locale_is_one_reinstate_spells() {
        use crate::domain::Spelling;
        assert_eq!(
            Config::from_toml("").expect("default").server.spelling(),
            Spelling::British
        );
        let us = Config::from_toml("[server]\nlocale = \"en-US\"").expect("en-US");
        assert_eq!(us.server.spelling(), Spelling::American);
        let err = Config::from_toml("[server]\nlocale = \"fr-FR\"").expect_err("fr-FR");
        assert!(
            err.to_string()
                .contains("server.locale: \"fr-FR\" is not one of en-GB, en-US"),
            "{err}"
        );
    }

    #[test]
    fn slack_needs_a_bot_token_where_the_workers_run_and_only_there() {
        let slack = "[sources.slack]\nsigning_secrets = [\"8f742231b10e8888abcd99yyyzzz85a5\"]\n";
        let err = Config::from_toml(slack).expect_err("no bot token");
        assert!(err.to_string().contains("sources.slack.bot_token"), "{err}");
        let intake = format!(
            "[server]\nrole = \"intake\"\n[bus]\nnats_url = \"nats://127.0.0.1:4222\"\n\
             [sources.login]\nsecrets = [\"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"]\n{slack}"
        );
        let c = Config::from_toml(&intake).expect("an intake needs only the signing secret");
        assert!(c.sources.slack.source().expect("valid").is_some());
    }

    #[test]
    fn teams_needs_its_secret_where_the_workers_run_and_only_there() {
        let teams = "[sources.teams]\napp_id = \"c9e8c047-2a74-40a2-b28a-b162d5f5327c\"\n";
        let err = Config::from_toml(teams).expect_err("no secret");
        assert!(
            err.to_string().contains("sources.teams.app_secret"),
            "{err}"
        );
        let intake = format!(
            "[server]\nrole = \"intake\"\n[bus]\nnats_url = \"nats://127.0.0.1:4222\"\n\
             [sources.login]\nsecrets = [\"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"]\n{teams}"
        );
        let c = Config::from_toml(&intake).expect("an intake needs only the app id");
        assert!(c.sources.teams.source().expect("valid").is_some());
    }

    #[test]
    fn roles_that_split_the_work_need_nats() {
        let err = Config::from_toml("[server]\nrole = \"intake\"").expect_err("invalid");
        assert!(err.to_string().contains("needs bus.nats_url"), "{err}");
        let err = Config::from_toml("[worker]\nconcurrency = 0").expect_err("invalid");
        assert!(
            err.to_string().contains("server.role = \"intake\""),
            "{err}"
        );
        let intake = Config::from_toml(
            "[server]\nrole = \"intake\"\n[bus]\nnats_url = \"nats://127.0.0.1:4222\"\n\
             [sources.login]\nsecrets = [\"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"]",
        );
        assert!(intake.is_ok(), "{intake:?}");
        // An intake never calls Atlassian: no directory credentials, which a state needs.
        let cloud = "[bus]\nnats_url = \"nats://127.0.0.1:4222\"\n\
                     [sources.login]\nsecrets = [\"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"]\n\
                     [admin]\ntoken_sha256 = [\"{}\"]\n\
                     [directory]\nkind = \"jira-cloud\"\nsite_url = \"https://x.atlassian.net\"\n\
                     email = \"a@b.c\"\n";
        let cloud = cloud.replace("{}", &"a".repeat(64));
        let intake = Config::from_toml(&format!("[server]\nrole = \"intake\"\n{cloud}"));
        assert!(intake.is_ok(), "{intake:?}");
        let state = Config::from_toml(&format!("[server]\nrole = \"state\"\n{cloud}"))
            .expect_err("a state owner calls Atlassian");
        assert!(state.to_string().contains("directory.api_token"), "{state}");
        let state = Config::from_toml(
            "[server]\nrole = \"state\"\n[bus]\nnats_url = \"nats://127.0.0.1:4222\"",
        )
        .expect_err("the sandbox is one process");
        assert!(
            state.to_string().contains("the sandbox is one process"),
            "{state}"
        );
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
    fn windows_deadlines_and_limits_are_bounded() {
        let err = Config::from_toml(
            "[sources.login]\ntolerance_secs = 86400\n[sources.jsm]\nsecrets = [\"jsm-webhook-secret-0123\"]\n\
             request_type_ids = [\"25\"]\ntolerance_secs = 0\n[server]\nheader_timeout_secs = 0\n\
             max_header_bytes = 100\n[portal]\nclient_ip_header = \"x-forwarded-for\"\ntrusted_proxies = 0\n\
             [identity]\ndefault_domain = \"not a domain\"",
        )
        .expect_err("invalid");
        let text = err.to_string();
        for key in [
            "sources.login.tolerance_secs: 86400 is outside 1 to 3600",
            "sources.jsm.tolerance_secs",
            "server.header_timeout_secs",
            "server.max_header_bytes",
            "portal.trusted_proxies",
            "identity.default_domain",
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
