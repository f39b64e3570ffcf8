//! Microsoft's Bot Framework, for the Teams bot.
//!
//! - **Signing keys** of the Bot Connector's tokens: the OpenID metadata
//!   (`https://login.botframework.com/v1/.well-known/openidconfiguration`) names a `jwks_uri`
//!   whose keys (`kid`, RSA `n`/`e`, and the channels each key `endorsements`) verify the
//!   tokens the receiver is sent. Kept in memory, fetched at the first activity, again every
//!   day, and again when a token names a key not held (Microsoft rotates them), at most once a
//!   second — as `botframework-connector`'s `OpenIdMetadata` does.
//! - **The bot's token**: `POST {login}/{tenant}/oauth2/v2.0/token`, the client-credentials
//!   grant with the app id and secret and the scope `https://api.botframework.com/.default`
//!   ("Authenticate requests from your bot to the Bot Connector service"); kept until five
//!   minutes before `expires_in`, asked again after a `401`.
//! - **The Connector API** at an activity's `serviceUrl`: the conversation member (`GET
//!   /v3/conversations/{id}/members/{member}`, Teams' `TeamsChannelAccount` with `email` and
//!   `userPrincipalName`), a reply (`POST /v3/conversations/{id}/activities/{activity}`), a
//!   message to a conversation (`POST /v3/conversations/{id}/activities`) and an update of a
//!   card (`PUT /v3/conversations/{id}/activities/{activity}`); `429` with `Retry-After` and
//!   `5xx` are retried by the shared client.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::DecodingKey;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::config::DirectoryConfig;
use super::http::{Auth, Http, refused};
use super::{CallLog, DirectoryError};
use crate::domain::Email;

/// The scope of the bot's token.
pub const SCOPE: &str = "https://api.botframework.com/.default";
/// How long keys are kept before they are fetched again anyway.
const KEYS_FOR: Duration = Duration::from_secs(24 * 3600);
/// The least time between two fetches of the keys.
const REFRESH_GAP: Duration = Duration::from_secs(1);

/// A signing key and the channels it endorses.
#[derive(Clone)]
pub struct SigningKey {
    pub key: Arc<DecodingKey>,
    pub endorsements: Vec<String>,
}

#[derive(Default)]
struct Held {
    keys: HashMap<String, SigningKey>,
    fetched: Option<Instant>,
}

/// The Bot Connector's signing keys.
pub struct BotKeys {
    client: reqwest::Client,
    metadata_url: String,
    held: tokio::sync::Mutex<Held>,
}

impl std::fmt::Debug for BotKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BotKeys({})", self.metadata_url)
    }
}

#[derive(Deserialize)]
struct Metadata {
    jwks_uri: String,
}

#[derive(Deserialize)]
struct Jwks {
    keys: Vec<Jwk>,
}

#[derive(Deserialize)]
struct Jwk {
    #[serde(default)]
    kty: String,
    #[serde(default)]
    kid: String,
    #[serde(default)]
    n: String,
    #[serde(default)]
    e: String,
    #[serde(default)]
    endorsements: Vec<String>,
}

impl BotKeys {
    pub fn new(metadata_url: &str, timeout: Duration) -> Result<BotKeys, DirectoryError> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .user_agent(concat!("reinstate/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| DirectoryError::Permanent(format!("HTTP client: {e}")))?;
        Ok(BotKeys {
            client,
            metadata_url: metadata_url.to_string(),
            held: tokio::sync::Mutex::new(Held::default()),
        })
    }

    /// The key `kid`, fetching the keys when they are old or do not hold it; `None` when the
    /// Bot Framework does not publish it.
    pub async fn key(&self, kid: &str) -> Result<Option<SigningKey>, DirectoryError> {
        let mut held = self.held.lock().await;
        let age = held.fetched.map(|at| at.elapsed());
        let stale = age.is_none_or(|a| a > KEYS_FOR);
        let missing = !held.keys.contains_key(kid) && age.is_none_or(|a| a >= REFRESH_GAP);
        if stale || missing {
            held.keys = self.fetch().await?;
            held.fetched = Some(Instant::now());
            tracing::info!(keys = held.keys.len(), "Bot Framework signing keys fetched");
        }
        Ok(held.keys.get(kid).cloned())
    }

    async fn fetch(&self) -> Result<HashMap<String, SigningKey>, DirectoryError> {
        let metadata: Metadata = self.get(&self.metadata_url).await?;
        let jwks: Jwks = self.get(&metadata.jwks_uri).await?;
        let mut keys = HashMap::new();
        for jwk in jwks.keys.into_iter().filter(|k| k.kty == "RSA") {
            match DecodingKey::from_rsa_components(&jwk.n, &jwk.e) {
                Ok(key) => {
                    let key = SigningKey {
                        key: Arc::new(key),
                        endorsements: jwk.endorsements,
                    };
                    keys.insert(jwk.kid, key);
                }
                Err(e) => tracing::warn!(kid = %jwk.kid, error = %e, "unusable Bot Framework key"),
            }
        }
        Ok(keys)
    }

    async fn get<T: for<'de> Deserialize<'de>>(&self, url: &str) -> Result<T, DirectoryError> {
        let transient = |why: String| DirectoryError::Transient(format!("GET {url}: {why}"));
        let r = self
            .client
            .get(url)
            .send()
            .await
            .map_err(|e| transient(e.to_string()))?;
        if !r.status().is_success() {
            return Err(transient(format!("answered {}", r.status())));
        }
        r.json().await.map_err(|e| transient(e.to_string()))
    }
}

/// Who a Teams member is, to reinstate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TeamsPerson {
    /// By the email (else the user principal name) Teams holds for them.
    Email(Email),
    /// Not someone to act for, and why.
    Not(String),
}

/// The bot's calls to the Connector API, with its own token.
pub struct TeamsApi {
    http: Http,
    client: reqwest::Client,
    token_url: String,
    app_id: String,
    secret: SecretString,
    token: Arc<RwLock<Option<SecretString>>>,
    until: tokio::sync::Mutex<Option<Instant>>,
}

impl std::fmt::Debug for TeamsApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TeamsApi({})", self.app_id)
    }
}

#[derive(Deserialize)]
struct Token {
    access_token: String,
    #[serde(default)]
    expires_in: u64,
}

impl TeamsApi {
    /// `login_url` and `tenant` name the token endpoint; the Connector API's URLs are the
    /// activities' own.
    pub fn new(
        login_url: &str,
        tenant: &str,
        app_id: &str,
        secret: SecretString,
        limits: &DirectoryConfig,
    ) -> Result<TeamsApi, DirectoryError> {
        let token = Arc::new(RwLock::new(None));
        let client = reqwest::Client::builder()
            .timeout(Duration::from_millis(limits.request_timeout_ms))
            .user_agent(concat!("reinstate/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| DirectoryError::Permanent(format!("HTTP client: {e}")))?;
        Ok(TeamsApi {
            http: Http::new(login_url, Auth::Shared(token.clone()), limits)?,
            client,
            token_url: format!(
                "{}/{tenant}/oauth2/v2.0/token",
                login_url.trim_end_matches('/')
            ),
            app_id: app_id.to_string(),
            secret,
            token,
            until: tokio::sync::Mutex::new(None),
        })
    }

    /// A token valid for five more minutes at least, asked for when there is none.
    async fn ensure_token(&self) -> Result<(), DirectoryError> {
        let mut until = self.until.lock().await;
        if until.is_some_and(|u| u > Instant::now() + Duration::from_secs(300)) {
            return Ok(());
        }
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", self.app_id.as_str()),
            ("client_secret", self.secret.expose_secret()),
            ("scope", SCOPE),
        ];
        let what = format!("POST {}", self.token_url);
        let r = self
            .client
            .post(&self.token_url)
            .form(&form)
            .send()
            .await
            .map_err(|e| DirectoryError::Transient(format!("{what}: {e}")))?;
        let status = r.status();
        if status.as_u16() == 429 || status.is_server_error() {
            return Err(DirectoryError::Transient(format!(
                "{what} answered {status}"
            )));
        }
        if !status.is_success() {
            let text: String = r
                .text()
                .await
                .unwrap_or_default()
                .chars()
                .take(200)
                .collect();
            return Err(DirectoryError::Permanent(format!(
                "{what} answered {status}: {text} (check sources.teams.app_id, app_secret and \
                 tenant)"
            )));
        }
        let token: Token = r
            .json()
            .await
            .map_err(|e| DirectoryError::Transient(format!("{what}: {e}")))?;
        if let Ok(mut slot) = self.token.write() {
            *slot = Some(SecretString::from(token.access_token));
        }
        *until = Some(Instant::now() + Duration::from_secs(token.expires_in.max(60)));
        Ok(())
    }

    /// Forgets the token (the Connector refused it).
    async fn forget_token(&self) {
        *self.until.lock().await = None;
    }

    async fn call(
        &self,
        verb: reqwest::Method,
        url: &str,
        body: Option<serde_json::Value>,
        calls: &mut CallLog,
    ) -> Result<super::http::Answer, DirectoryError> {
        self.ensure_token().await?;
        let answer = self.http.call(verb.clone(), url, &[], body, calls).await?;
        if answer.status.as_u16() == 401 {
            self.forget_token().await;
            return Err(DirectoryError::Transient(format!(
                "{verb} {url}: the Bot Connector refused the bot's token; a new one is asked next time"
            )));
        }
        Ok(answer)
    }

    /// The member at `url` (an activity's conversation member).
    pub async fn person(
        &self,
        url: &str,
        calls: &mut CallLog,
    ) -> Result<TeamsPerson, DirectoryError> {
        let answer = self.call(reqwest::Method::GET, url, None, calls).await?;
        let what = format!("GET {url}");
        if answer.status.as_u16() == 404 {
            return Ok(TeamsPerson::Not(
                "Teams knows no such member of the conversation".into(),
            ));
        }
        if !answer.status.is_success() {
            return Err(refused(&what, &answer));
        }
        let member: serde_json::Value = Http::json(&answer, &what)?;
        let address =
            member["email"]
                .as_str()
                .filter(|e| !e.is_empty())
                .or(member["userPrincipalName"]
                    .as_str()
                    .filter(|e| !e.is_empty()));
        match address.map(Email::parse) {
            Some(Ok(email)) => Ok(TeamsPerson::Email(email)),
            Some(Err(e)) => Ok(TeamsPerson::Not(format!(
                "Teams' email of the member is not an address: {e}"
            ))),
            None => Ok(TeamsPerson::Not(
                "Teams holds neither an email nor a user principal name for the member".into(),
            )),
        }
    }

    /// Posts (`POST`) or updates (`PUT`) an activity at `url`.
    pub async fn send(
        &self,
        verb: &str,
        url: &str,
        body: serde_json::Value,
        calls: &mut CallLog,
    ) -> Result<(), DirectoryError> {
        let verb = reqwest::Method::from_bytes(verb.as_bytes())
            .map_err(|_| DirectoryError::Permanent(format!("no HTTP method {verb}")))?;
        let answer = self.call(verb.clone(), url, Some(body), calls).await?;
        if answer.status.is_success() {
            Ok(())
        } else {
            Err(refused(&format!("{verb} {url}"), &answer))
        }
    }
}
