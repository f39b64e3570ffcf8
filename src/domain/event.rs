//! The one `Event` type every source is normalised into, and the values it carries.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{Email, Product};

/// Where an event came from; rules can match on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    /// The generic signed login webhook (`POST /v1/hooks/login`).
    Login,
    /// A signed link in an email ("keep my access", "give it back").
    Link,
    /// reinstate's own portal page (confirmed through an emailed link).
    Portal,
    /// A Jira Service Management request.
    Jsm,
    /// An admin, through the admin API.
    Admin,
    /// An Okta Event Hook (`user.session.start`, `user.authentication.sso`).
    Okta,
    /// A Keycloak event-listener webhook (`LOGIN`).
    Keycloak,
    /// The Atlassian organisation audit log (a `user_logged_in` event, polled).
    Atlassian,
    /// A reclaim run of the policies.
    Reclaim,
    /// A Slack app: a slash command (`POST /v1/hooks/slack/commands`).
    Slack,
    /// A mailed request, through a mail service's inbound webhook (confirmed through an
    /// emailed link, as the portal's).
    Mail,
    /// A Microsoft Teams bot (`POST /v1/hooks/teams/messages`): a message, a card's button.
    Teams,
}

impl Source {
    pub fn key(self) -> &'static str {
        match self {
            Source::Login => "login",
            Source::Link => "link",
            Source::Portal => "portal",
            Source::Jsm => "jsm",
            Source::Admin => "admin",
            Source::Okta => "okta",
            Source::Keycloak => "keycloak",
            Source::Atlassian => "atlassian",
            Source::Reclaim => "reclaim",
            Source::Slack => "slack",
            Source::Mail => "mail",
            Source::Teams => "teams",
        }
    }
}

/// An event id: stable across re-deliveries of the same thing (idempotency key).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub struct EventId(String);

impl EventId {
    /// `source:sender-id`, so ids of different senders never collide.
    pub fn new(source: Source, sender_id: &str) -> EventId {
        EventId(format!("{}:{}", source.key(), sender_id))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
impl std::fmt::Display for EventId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The user an event is about, as the sender saw them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct EventUser {
    /// The email, when the sender gave one (every login does; a Service Management delivery
    /// may hide the reporter's, which the worker then reads from Jira).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<Email>,
    pub account_id: Option<String>,
    /// The login name the sender gave instead of an email (a Keycloak `details.username`, an
    /// Okta `alternateId` that is not an address): the worker resolves it to the account. For
    /// an `unusable` event, the identity as it was seen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    pub roles: Vec<String>,
    pub groups: Vec<String>,
}

impl EventUser {
    /// A user known by email (and account id, when the sender gave one), with no groups or
    /// roles from an identity provider.
    pub fn new(email: Email, account_id: Option<String>) -> EventUser {
        EventUser {
            email: Some(email),
            account_id,
            username: None,
            roles: vec![],
            groups: vec![],
        }
    }

    /// A user named only by a login name, to be resolved to an account by the worker.
    pub fn by_username(username: String) -> EventUser {
        EventUser {
            email: None,
            account_id: None,
            username: Some(username),
            roles: vec![],
            groups: vec![],
        }
    }

    /// Who the sender named, for the audit log when no account matched: the email, else the
    /// login name, else the account id.
    pub fn identity(&self) -> Option<String> {
        self.email
            .as_ref()
            .map(|e| e.as_str().to_string())
            .or_else(|| self.username.clone())
            .or_else(|| self.account_id.clone())
    }
}

/// Largest login name reinstate accepts (Keycloak's and Okta's own limits are lower).
pub const MAX_USERNAME: usize = 256;

/// A login name as a sender gave it, trimmed: 1 to 256 characters, no spaces or controls.
pub fn parse_username(raw: &str) -> Option<String> {
    let name = raw.trim();
    (!name.is_empty()
        && name.len() <= MAX_USERNAME
        && !name.chars().any(|c| c.is_whitespace() || c.is_control()))
    .then(|| name.to_string())
}

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// The user logged in successfully at the identity provider.
    Login,
    /// The user asked for their licence back (a link, the portal).
    Restore,
    /// The user asked to keep their licence (before a reclaim).
    Keep,
    /// Someone asked on the portal: a confirmation link goes to the address, if it is a user's.
    Ask,
    /// An approver approved the request (JSM): restore without asking the rules again.
    Approve,
    /// An approver declined the request (JSM).
    Decline,
    /// A Service Management request changed, and the delivery lacked what it means (the
    /// reporter's email, the request type, the new status): the worker reads it from Jira.
    JsmUpdate,
    /// An authentic delivery's event that cannot be acted on (`Event::problem` says why): the
    /// worker audits it, so that the sender's other events in the same delivery still count.
    Unusable,
    /// One action of a reclaim run, an admin's bulk job or an undo (`Event::order`).
    Order,
    /// An identity provider reports the user deactivated: the `leavers` policy applies.
    Leaver,
    /// Someone opened reinstate's form in a chat app: with a trigger (a Slack shortcut, the
    /// App Home's button) the form to ask is shown to them; without one (the App Home opened)
    /// the App Home's page with its button.
    Form,
}

impl EventKind {
    pub fn key(self) -> &'static str {
        match self {
            EventKind::Login => "login",
            EventKind::Restore => "restore",
            EventKind::Keep => "keep",
            EventKind::Ask => "ask",
            EventKind::Approve => "approve",
            EventKind::Decline => "decline",
            EventKind::JsmUpdate => "jsm_update",
            EventKind::Unusable => "unusable",
            EventKind::Order => "order",
            EventKind::Leaver => "leaver",
            EventKind::Form => "form",
        }
    }
}

/// The normalised event that travels on the bus. Versioned: `v` changes with the shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Event {
    pub v: u32,
    pub id: EventId,
    pub kind: EventKind,
    pub source: Source,
    pub user: EventUser,
    /// `None`: every product the rules allow.
    pub product: Option<Product>,
    #[serde(with = "time::serde::rfc3339")]
    #[schemars(with = "String", extend("format" = "date-time"))]
    pub occurred_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schemars(with = "String", extend("format" = "date-time"))]
    pub received_at: OffsetDateTime,
    /// Set when an admin approved this request: the restore needs no rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<String>,
    /// Why the user asked (portal), carried into the confirmation link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The Jira Service Management request (issue key) this event is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issue: Option<String>,
    /// What a `jsm_update` delivery did say, to be completed from Jira.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jsm: Option<JsmDelivery>,
    /// Why an `unusable` event cannot be acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
    /// What an `order` event asks for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<crate::domain::reclaim::Order>,
    /// Who asked in a chat app, and where the answer goes (a Slack slash command): the worker
    /// reads the person's email from the app, never from what they typed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chat: Option<ChatAsker>,
}

/// A person who asked in a chat app, as the app's signed request named them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ChatAsker {
    /// The workspace (Slack's `team_id`).
    pub team: String,
    /// The app's id of the person (Slack's `user_id`).
    pub user: String,
    /// Where the answer is posted (Slack's `response_url`).
    pub reply_url: String,
    /// The email the app holds for the person, once the worker asked it (never from the
    /// request itself).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<Email>,
    /// Where the app says who the person is, when it is a URL of the conversation (Teams'
    /// conversation member); Slack's `users.info` needs only `user`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lookup: Option<String>,
    /// What lets the app open a form for the person now (Slack's `trigger_id`, valid for
    /// three seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger: Option<String>,
}

/// What a Service Management delivery said about its request (the issue key is `Event::issue`,
/// the reporter `Event::user`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct JsmDelivery {
    pub change: JsmChange,
    /// The request type's id, when the delivery carried it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_type: Option<String>,
    /// The new status's id, when the delivery carried it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
}

/// What happened to a Service Management request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum JsmChange {
    Created,
    StatusChanged,
}

impl Event {
    pub const VERSION: u32 = 1;

    /// An event of `source`, identified by the sender's id, received now; with no approved
    /// request, reason or issue (set those fields when there are).
    pub fn new(
        source: Source,
        sender_id: &str,
        kind: EventKind,
        user: EventUser,
        product: Option<Product>,
        occurred_at: OffsetDateTime,
    ) -> Event {
        Event {
            v: Event::VERSION,
            id: EventId::new(source, sender_id),
            kind,
            source,
            user,
            product,
            occurred_at,
            received_at: OffsetDateTime::now_utc(),
            request: None,
            reason: None,
            issue: None,
            jsm: None,
            problem: None,
            order: None,
            chat: None,
        }
    }

    /// The subject token that identifies the user: keeps partitioning by user possible. An
    /// event that names no email yet is keyed by the account id, else by the login name, else
    /// by its own id.
    pub fn user_key(&self) -> String {
        let user = &self.user;
        match (&user.email, &user.account_id, &user.username) {
            (Some(email), _, _) => email.user_key(),
            (None, Some(account), _) => super::email::short_hash(&format!("account:{account}")),
            (None, None, Some(name)) => {
                super::email::short_hash(&format!("username:{}", name.to_lowercase()))
            }
            (None, None, None) => super::email::short_hash(self.id.as_str()),
        }
    }
}

impl Event {
    /// A login event, for tests.
    #[doc(hidden)]
    pub fn login_for_tests(sender_id: &str, email: &str, product: Option<Product>) -> Event {
        let now = OffsetDateTime::now_utc();
        Event::new(
            Source::Login,
            sender_id,
            EventKind::Login,
            EventUser::new(Email::parse(email).unwrap_or_else(|e| panic!("{e}")), None),
            product,
            now,
        )
    }
}

/// The JSON Schema of the event on the bus (`schemas/bus-event.schema.json`).
pub fn bus_event_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(Event)).unwrap_or_default()
}
