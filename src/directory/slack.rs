//! Slack's Web API, for who asked in Slack: `users.info`
//! (<https://api.slack.com/methods/users.info>), `GET {api}/users.info?user=U…` with the bot
//! token as `Authorization: Bearer`. Slack answers `200` with `{"ok": true, "user": {…}}` or
//! `{"ok": false, "error": "user_not_found"}`; the email is `user.profile.email`, present only
//! with the `users:read.email` scope; a rate limit is `429` with `Retry-After` (the shared
//! client waits and retries). A person deleted (deactivated) in Slack, a bot, or one without an
//! email is not someone reinstate gives access to.

use secrecy::SecretString;

use super::config::DirectoryConfig;
use super::http::{Auth, Http, refused};
use super::{CallLog, DirectoryError};
use crate::domain::Email;

pub struct SlackApi {
    http: Http,
}

impl std::fmt::Debug for SlackApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SlackApi")
    }
}

/// Who a Slack user is, to reinstate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlackPerson {
    /// A person of the workspace, by the email Slack holds for them.
    Email(Email),
    /// Not someone to act for, and why (deleted, a bot, no email, unknown).
    Not(String),
}

/// Errors Slack's Web API names for what a later try may not meet.
const TRANSIENT: [&str; 5] = [
    "ratelimited",
    "internal_error",
    "fatal_error",
    "service_unavailable",
    "request_timeout",
];

impl SlackApi {
    /// Slack's Web API at `base` (`https://slack.com/api`), with the bot token, and the
    /// retries and timeouts of `limits`.
    pub fn new(
        base: &str,
        bot_token: SecretString,
        limits: &DirectoryConfig,
    ) -> Result<SlackApi, DirectoryError> {
        Ok(SlackApi {
            http: Http::new(base, Auth::Bearer(bot_token), limits)?,
        })
    }

    /// Calls `method`: its answer when `"ok": true`, else the error Slack named (every error
    /// is `200` with `"ok": false`); an error a later try may not meet is `Transient`.
    async fn call(
        &self,
        verb: reqwest::Method,
        method: &str,
        query: &[(&str, &str)],
        body: Option<serde_json::Value>,
        calls: &mut CallLog,
    ) -> Result<Result<serde_json::Value, String>, DirectoryError> {
        let what = format!("{verb} {method}");
        let answer = self.http.call(verb, method, query, body, calls).await?;
        if !answer.status.is_success() {
            return Err(refused(&what, &answer));
        }
        let body: serde_json::Value = Http::json(&answer, &what)?;
        if body["ok"] == true {
            return Ok(Ok(body));
        }
        let error = body["error"]
            .as_str()
            .unwrap_or("no error named")
            .to_string();
        if TRANSIENT.contains(&error.as_str()) {
            return Err(DirectoryError::Transient(format!(
                "{what}: Slack answered {error}"
            )));
        }
        Ok(Err(error))
    }

    /// Calls `method` (`chat.postMessage`) with `body` as JSON; an error Slack names (a
    /// channel the bot is not in, a missing scope) is `Permanent`.
    pub async fn post(
        &self,
        method: &str,
        body: serde_json::Value,
        calls: &mut CallLog,
    ) -> Result<(), DirectoryError> {
        match self
            .call(reqwest::Method::POST, method, &[], Some(body), calls)
            .await?
        {
            Ok(_) => Ok(()),
            Err(error) => Err(DirectoryError::Permanent(format!(
                "POST {method}: Slack refused it: {error}"
            ))),
        }
    }

    /// The member whose email is `email` (`users.lookupByEmail`): their id, or `None` when
    /// Slack has none (`users_not_found`).
    pub async fn member(
        &self,
        email: &str,
        calls: &mut CallLog,
    ) -> Result<Option<String>, DirectoryError> {
        let query = [("email", email)];
        let get = reqwest::Method::GET;
        match self
            .call(get, "users.lookupByEmail", &query, None, calls)
            .await?
        {
            Ok(body) => Ok(body["user"]["id"].as_str().map(String::from)),
            Err(e) if e == "users_not_found" || e == "user_not_found" => Ok(None),
            Err(e) => Err(DirectoryError::Permanent(format!(
                "GET users.lookupByEmail: Slack refused it: {e} (the app needs users:read.email)"
            ))),
        }
    }

    /// The person `user` (a Slack user id) is.
    pub async fn person(
        &self,
        user: &str,
        calls: &mut CallLog,
    ) -> Result<SlackPerson, DirectoryError> {
        let what = "GET users.info";
        let query = [("user", user)];
        let body = match self
            .call(reqwest::Method::GET, "users.info", &query, None, calls)
            .await?
        {
            Ok(body) => body,
            Err(e) if e == "user_not_found" || e == "users_not_found" => {
                return Ok(SlackPerson::Not(format!(
                    "Slack knows no user {user:?} (users.info: user_not_found)"
                )));
            }
            Err(e) => {
                return Err(DirectoryError::Permanent(format!(
                    "{what}: Slack refused the bot token's call: {e} (the app needs the \
                     users:read and users:read.email scopes, and sources.slack.bot_token its \
                     xoxb- token)"
                )));
            }
        };
        let person = &body["user"];
        if person["deleted"] == true {
            return Ok(SlackPerson::Not(format!(
                "the Slack user {user:?} is deactivated"
            )));
        }
        if person["is_bot"] == true || person["is_app_user"] == true {
            return Ok(SlackPerson::Not(format!(
                "the Slack user {user:?} is a bot or an app"
            )));
        }
        match person["profile"]["email"].as_str() {
            Some(raw) if !raw.is_empty() => match Email::parse(raw) {
                Ok(email) => Ok(SlackPerson::Email(email)),
                Err(e) => Ok(SlackPerson::Not(format!(
                    "Slack's email of {user:?} is not an address: {e}"
                ))),
            },
            _ => Err(DirectoryError::Permanent(format!(
                "{what}: Slack answered no email for {user:?}: the app needs the \
                 users:read.email scope"
            ))),
        }
    }
}
