//! A Slack app's slash command (`/access jira-software [reason]`), as Slack documents it
//! (<https://api.slack.com/interactivity/slash-commands>): an
//! `application/x-www-form-urlencoded` POST with `command`, `text`, `user_id`, `team_id`,
//! `response_url` and `trigger_id`, signed as "Verifying requests from Slack" describes
//! (<https://api.slack.com/authentication/verifying-requests-from-slack>): `X-Slack-Signature`
//! is `v0=` and the hex HMAC-SHA256, under the app's signing secret, of
//! `v0:{X-Slack-Request-Timestamp}:{raw body}`; a timestamp more than five minutes from now is
//! refused. The request becomes a `restore` event of the person `user_id` names — who they are
//! (their email) the worker asks Slack's `users.info`, never the text typed. Slack waits three
//! seconds for the answer: the receiver answers at once, the work happens behind the bus, and
//! the outcome is posted to `response_url`.

use std::sync::OnceLock;

use axum::http::HeaderMap;
use secrecy::SecretString;
use serde::Deserialize;
use time::OffsetDateTime;

use super::signature::BodySecrets;
use super::{Rejected, body_hash, header};
use crate::domain::{ChatAsker, Event, EventKind, EventUser, Problems, Product, Source};

/// `[sources.slack]`
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SlackSourceConfig {
    /// The app's signing secret (*Basic Information → App Credentials*); several while
    /// rotating. The receiver is off while this is empty.
    pub signing_secrets: Vec<SecretString>,
    /// The bot token (`xoxb-…`) the worker reads `users.info` with (scopes `users:read` and
    /// `users:read.email`).
    pub bot_token: Option<SecretString>,
    /// Slack's Web API.
    pub api_url: String,
    /// The slash command the app defines.
    pub command: String,
    /// The workspace (`team_id`) whose requests are taken; any the app is installed in when
    /// unset.
    pub team_id: Option<String>,
    /// Where a `response_url` may lead: Slack's own host.
    pub response_url_prefix: String,
    /// The channel (id, `C…`) where a request the rules leave to an admin is posted with
    /// *Approve* and *Deny*; the bot must be a member. No such message when unset.
    pub approvers_channel: Option<String>,
    #[serde(skip)]
    built: OnceLock<Result<SlackSource, Problems>>,
}

impl Default for SlackSourceConfig {
    fn default() -> Self {
        SlackSourceConfig {
            signing_secrets: Vec::new(),
            bot_token: None,
            api_url: "https://slack.com/api".into(),
            command: "/access".into(),
            team_id: None,
            response_url_prefix: "https://hooks.slack.com/".into(),
            approvers_channel: None,
            built: OnceLock::new(),
        }
    }
}

impl SlackSourceConfig {
    /// The receiver, built once; `None` while no signing secret is configured.
    pub fn source(&self) -> Result<Option<&SlackSource>, &Problems> {
        if self.signing_secrets.is_empty() {
            return Ok(None);
        }
        let built = self.built.get_or_init(|| SlackSource::new(self));
        built.as_ref().map(Some)
    }

    pub fn check(&self, problems: &mut Problems) {
        if let Err(e) = self.source() {
            problems.extend(e.clone().into_vec());
        }
        problems.http_url("sources.slack.api_url", &self.api_url);
        if !self.command.starts_with('/') || self.command.len() < 2 {
            problems.add(
                "sources.slack.command",
                "a slash command such as \"/access\"",
            );
        }
        if !self.response_url_prefix.starts_with("https://")
            && !self.response_url_prefix.starts_with("http://127.0.0.1:")
        {
            problems.add("sources.slack.response_url_prefix", "an https URL");
        }
    }
}

pub const HEADER_SIGNATURE: &str = "x-slack-signature";
pub const HEADER_TIMESTAMP: &str = "x-slack-request-timestamp";
/// How far a request's timestamp may be from now (Slack: five minutes).
pub const TOLERANCE_SECS: i64 = 300;

/// The slash command receiver.
#[derive(Clone, Debug)]
pub struct SlackSource {
    secrets: BodySecrets,
    command: String,
    team_id: Option<String>,
    response_url_prefix: String,
}

/// What a slash command asks, once authenticated.
#[derive(Debug)]
pub enum Command {
    /// A request for a product: the event to publish.
    Ask(Box<Event>),
    /// Nothing to publish: the answer tells the person how to ask (no product named, or one
    /// reinstate does not give back).
    Usage(String),
}

/// The fields of a slash command reinstate reads (Slack sends more).
#[derive(Debug, Deserialize)]
struct Form {
    command: String,
    #[serde(default)]
    text: String,
    user_id: String,
    team_id: String,
    response_url: String,
}

impl SlackSource {
    pub fn new(config: &SlackSourceConfig) -> Result<SlackSource, Problems> {
        let secrets = BodySecrets::new("sources.slack.signing_secrets", &config.signing_secrets)?;
        Ok(SlackSource {
            secrets,
            command: config.command.clone(),
            team_id: config.team_id.clone(),
            response_url_prefix: config.response_url_prefix.clone(),
        })
    }

    /// Checks `X-Slack-Signature` over `v0:{timestamp}:{body}`, the timestamp within five
    /// minutes of `now`; returns the timestamp, part of what the request is.
    pub fn authenticate<'h>(
        &self,
        headers: &'h HeaderMap,
        body: &[u8],
        now: OffsetDateTime,
    ) -> Result<&'h str, Rejected> {
        let unsigned = || {
            Rejected::unauthenticated(
                "invalid_signature",
                "X-Slack-Signature is missing or is not v0= and the HMAC-SHA256 of \
                 v0:{X-Slack-Request-Timestamp}:{body} under a configured signing secret",
            )
        };
        let timestamp = header(headers, HEADER_TIMESTAMP).ok_or_else(|| {
            Rejected::unauthenticated("missing_timestamp", "X-Slack-Request-Timestamp is missing")
        })?;
        let ts = super::unix_seconds(timestamp).ok_or_else(|| {
            Rejected::unauthenticated(
                "invalid_timestamp",
                "X-Slack-Request-Timestamp is not Unix seconds",
            )
        })?;
        let skew = now.unix_timestamp() - ts;
        if skew.abs() > TOLERANCE_SECS {
            return Err(Rejected::unauthenticated(
                "timestamp_out_of_tolerance",
                format!(
                    "X-Slack-Request-Timestamp is {skew} s from now; Slack's requests are taken \
                     within {TOLERANCE_SECS} s (an older one may be a replay)"
                ),
            ));
        }
        let signature = header(headers, HEADER_SIGNATURE).ok_or_else(unsigned)?;
        let tag = signature
            .strip_prefix("v0=")
            .and_then(|h| hex::decode(h).ok())
            .ok_or_else(unsigned)?;
        let mut base = Vec::with_capacity(body.len() + 16);
        base.extend_from_slice(b"v0:");
        base.extend_from_slice(timestamp.as_bytes());
        base.push(b':');
        base.extend_from_slice(body);
        if self.secrets.verify(&[tag], &base) {
            Ok(timestamp)
        } else {
            Err(unsigned())
        }
    }

    /// Decodes an authenticated slash command. The event's id is the hash of the timestamp
    /// and the body: the same request sent again is the same event, acted on once.
    pub fn decode(
        &self,
        timestamp: &str,
        body: &[u8],
        now: OffsetDateTime,
    ) -> Result<Command, Rejected> {
        let form: Form = serde_urlencoded::from_bytes(body)
            .map_err(|e| Rejected::invalid(format!("not a slash command's form: {e}")))?;
        if form.command != self.command {
            return Err(Rejected::invalid(format!(
                "command: {:?} is not this app's command ({:?}, sources.slack.command)",
                form.command, self.command
            )));
        }
        self.check_origin(&form.team_id, &form.response_url)?;
        if form.user_id.is_empty() || form.user_id.len() > 64 {
            return Err(Rejected::invalid("user_id: 1 to 64 characters"));
        }
        let (product, reason) = match asked(&form.text) {
            Ok(asked) => asked,
            Err(usage) => return Ok(Command::Usage(usage)),
        };
        let mut event = Event::new(
            Source::Slack,
            &request_id(timestamp, body),
            EventKind::Restore,
            EventUser::default(),
            Some(product),
            now,
        );
        event.reason = reason;
        event.chat = Some(ChatAsker {
            team: form.team_id,
            user: form.user_id,
            reply_url: form.response_url,
            email: None,
            lookup: None,
            trigger: None,
        });
        Ok(Command::Ask(Box::new(event)))
    }

    /// Decodes an authenticated interaction (`payload`, the JSON of a `block_actions` click):
    /// *Approve* or *Deny* on a request's message becomes an `approve` or `decline` event of
    /// the person who clicked, for the request the button names. Other interactions are not
    /// reinstate's (`None`).
    pub fn decode_action(
        &self,
        timestamp: &str,
        body: &[u8],
        now: OffsetDateTime,
    ) -> Result<Option<Event>, Rejected> {
        let payload = payload(body)?;
        if payload["type"] != "block_actions" {
            return Ok(None);
        }
        let action = &payload["actions"][0];
        let kind = match action["action_id"].as_str() {
            Some(APPROVE) => EventKind::Approve,
            Some(DENY) => EventKind::Decline,
            _ => return Ok(None),
        };
        let text = |v: &serde_json::Value, name: &str| -> Result<String, Rejected> {
            v.as_str()
                .filter(|s| !s.is_empty() && s.len() <= 256)
                .map(String::from)
                .ok_or_else(|| Rejected::invalid(format!("payload: {name} is missing")))
        };
        let request = text(&action["value"], "actions[0].value")?;
        if !request
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(Rejected::invalid(
                "payload: actions[0].value is not a request id",
            ));
        }
        let user = text(&payload["user"]["id"], "user.id")?;
        let team = text(&payload["team"]["id"], "team.id")?;
        let reply_url = text(&payload["response_url"], "response_url")?;
        self.check_origin(&team, &reply_url)?;
        let mut event = Event::new(
            Source::Slack,
            &request_id(timestamp, body),
            kind,
            EventUser::default(),
            None,
            now,
        );
        event.request = Some(request);
        event.chat = Some(ChatAsker {
            team,
            user,
            reply_url,
            email: None,
            lookup: None,
            trigger: None,
        });
        Ok(Some(event))
    }

    /// The workspace is the configured one (any, when none is).
    pub(super) fn check_team(&self, team: &str) -> Result<(), Rejected> {
        match &self.team_id {
            Some(configured) if configured != team => Err(Rejected::unauthenticated(
                "other_workspace",
                format!("team_id {team:?} is not the workspace sources.slack.team_id names"),
            )),
            _ => Ok(()),
        }
    }

    /// The workspace is the configured one, and the answer goes to Slack.
    fn check_origin(&self, team: &str, reply_url: &str) -> Result<(), Rejected> {
        self.check_team(team)?;
        if !reply_url.starts_with(&self.response_url_prefix) {
            return Err(Rejected::invalid(format!(
                "response_url: not under {} (sources.slack.response_url_prefix)",
                self.response_url_prefix
            )));
        }
        Ok(())
    }
}

/// The JSON of an interaction's form (`payload=<JSON>`).
pub fn payload(body: &[u8]) -> Result<serde_json::Value, Rejected> {
    #[derive(Deserialize)]
    struct Wrapped {
        payload: String,
    }
    let wrapped: Wrapped = serde_urlencoded::from_bytes(body)
        .map_err(|e| Rejected::invalid(format!("not an interaction's form: {e}")))?;
    serde_json::from_str(&wrapped.payload)
        .map_err(|e| Rejected::invalid(format!("payload: not JSON: {e}")))
}

/// A request's id: the hash of its signed timestamp and body, so that the same request sent
/// again is the same event, acted on once.
pub(super) fn request_id(timestamp: &str, body: &[u8]) -> String {
    let mut signed = Vec::with_capacity(body.len() + timestamp.len() + 1);
    signed.extend_from_slice(timestamp.as_bytes());
    signed.push(b':');
    signed.extend_from_slice(body);
    body_hash(&signed)
}

/// The `action_id`s of a request's buttons.
pub const APPROVE: &str = "reinstate_approve";
pub const DENY: &str = "reinstate_deny";

/// The words a person may name a product by, first word of the command's text.
const NAMES: [(&str, Product); 9] = [
    ("jira", Product::JiraSoftware),
    ("jira-software", Product::JiraSoftware),
    ("software", Product::JiraSoftware),
    ("confluence", Product::Confluence),
    ("wiki", Product::Confluence),
    ("jsm", Product::JiraServicedesk),
    ("jira-service-management", Product::JiraServicedesk),
    ("jira-servicedesk", Product::JiraServicedesk),
    ("service-management", Product::JiraServicedesk),
];

/// The product the text names first, and the rest as the reason; else how to ask.
fn asked(text: &str) -> Result<(Product, Option<String>), String> {
    let text = text.trim();
    let (first, rest) = text.split_once(char::is_whitespace).unwrap_or((text, ""));
    let wanted = first.to_ascii_lowercase();
    match NAMES.iter().find(|(name, _)| *name == wanted) {
        Some((_, product)) => Ok((*product, super::reason(rest))),
        None => Err(format!(
            "{}Name the product first, then why if you like: `jira`, `confluence` or `jsm` \
             — for example `jira my project starts again`.",
            if first.is_empty() {
                String::new()
            } else {
                format!("reinstate does not give back {first:?}. ")
            }
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_word_names_the_product_and_the_rest_says_why() {
        assert_eq!(
            asked("Jira  back on the project").expect("jira"),
            (Product::JiraSoftware, Some("back on the project".into()))
        );
        assert_eq!(
            asked("confluence").expect("confluence"),
            (Product::Confluence, None)
        );
        assert!(
            asked("")
                .expect_err("nothing")
                .starts_with("Name the product")
        );
        assert!(
            asked("bitbucket please")
                .expect_err("bitbucket")
                .starts_with("reinstate does not give back \"bitbucket\"")
        );
    }
}
