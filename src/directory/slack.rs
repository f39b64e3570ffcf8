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

    /// Calls `method` (`chat.postMessage`) with `body` as JSON. Slack answers every error
    /// `200` with `"ok": false`: `ratelimited` and Slack's own failures are transient, the rest
    /// (a channel the bot is not in, a missing scope) are not.
    pub async fn post(
        &self,
        method: &str,
        body: serde_json::Value,
        calls: &mut CallLog,
    ) -> Result<(), DirectoryError> {
        let what = format!("POST {method}");
        let answer = self
            .http
            .call(reqwest::Method::POST, method, &[], Some(body), calls)
            .await?;
        if !answer.status.is_success() {
            return Err(refused(&what, &answer));
        }
        let body: serde_json::Value = Http::json(&answer, &what)?;
        if body["ok"] == true {
            return Ok(());
        }
        let error = body["error"].as_str().unwrap_or("no error named");
        match error {
            "ratelimited"
            | "internal_error"
            | "fatal_error"
            | "service_unavailable"
            | "request_timeout" => Err(DirectoryError::Transient(format!(
                "{what}: Slack answered {error}"
            ))),
            _ => Err(DirectoryError::Permanent(format!(
                "{what}: Slack refused it: {error}"
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
        let answer = self
            .http
            .call(
                reqwest::Method::GET,
                "users.info",
                &[("user", user)],
                None,
                calls,
            )
            .await?;
        if !answer.status.is_success() {
            return Err(refused(what, &answer));
        }
        let body: serde_json::Value = Http::json(&answer, what)?;
        if body["ok"] != true {
            let error = body["error"].as_str().unwrap_or("no error named");
            return match error {
                "user_not_found" | "users_not_found" => Ok(SlackPerson::Not(format!(
                    "Slack knows no user {user:?} (users.info: user_not_found)"
                ))),
                "ratelimited"
                | "internal_error"
                | "fatal_error"
                | "service_unavailable"
                | "request_timeout" => Err(DirectoryError::Transient(format!(
                    "{what}: Slack answered {error}"
                ))),
                _ => Err(DirectoryError::Permanent(format!(
                    "{what}: Slack refused the bot token's call: {error} (the app needs the \
                     users:read and users:read.email scopes, and sources.slack.bot_token its \
                     xoxb- token)"
                ))),
            };
        }
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
