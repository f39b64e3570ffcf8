//! The one `Event` type every source is normalised into, and the validated values it carries.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

/// An email address, trimmed and lower-cased, checked for the shape `local@domain.tld`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Email, String> {
        let s = raw.trim().to_ascii_lowercase();
        let Some((local, domain)) = s.split_once('@') else {
            return Err(format!("{raw:?} is not an email address"));
        };
        let ok = !local.is_empty()
            && s.len() <= 254
            && local.len() <= 64
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..")
            && domain
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
            && !local
                .bytes()
                .any(|b| b.is_ascii_whitespace() || b.is_ascii_control() || b == b'@');
        if ok {
            Ok(Email(s))
        } else {
            Err(format!("{raw:?} is not an email address"))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub fn domain(&self) -> &str {
        self.0.rsplit_once('@').map(|(_, d)| d).unwrap_or_default()
    }
    /// A short stable hash: used in subjects and logs instead of the address (personal data).
    pub fn user_key(&self) -> String {
        hex::encode(&Sha256::digest(self.0.as_bytes())[..8])
    }
}

impl JsonSchema for Email {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Email".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({"type": "string", "format": "email", "maxLength": 254})
    }
}

impl TryFrom<String> for Email {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Email::parse(&value)
    }
}
impl From<Email> for String {
    fn from(e: Email) -> String {
        e.0
    }
}
impl std::fmt::Display for Email {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The Atlassian products whose licence reinstate restores.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Product {
    JiraSoftware,
    Confluence,
    JiraServicedesk,
}

impl Product {
    pub const ALL: [Product; 3] = [
        Product::JiraSoftware,
        Product::Confluence,
        Product::JiraServicedesk,
    ];
    pub fn key(self) -> &'static str {
        match self {
            Product::JiraSoftware => "jira-software",
            Product::Confluence => "confluence",
            Product::JiraServicedesk => "jira-servicedesk",
        }
    }
    pub fn from_key(key: &str) -> Option<Product> {
        Product::ALL.into_iter().find(|p| p.key() == key)
    }
}

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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct EventUser {
    pub email: Email,
    pub account_id: Option<String>,
    pub roles: Vec<String>,
    pub groups: Vec<String>,
}

impl EventUser {
    /// A user known by email (and account id, when the sender gave one), with no groups or
    /// roles from an identity provider.
    pub fn new(email: Email, account_id: Option<String>) -> EventUser {
        EventUser {
            email,
            account_id,
            roles: vec![],
            groups: vec![],
        }
    }
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
        }
    }

    /// The subject token that identifies the user: keeps partitioning by user possible.
    pub fn user_key(&self) -> String {
        self.user.email.user_key()
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

// ---- The login webhook body (documented as schemas/login-event.schema.json) ----

/// A successful login reported by an identity provider.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "reinstate login event", extend("$id" = "https://reinstate.dev/schemas/login-event.schema.json"))]
pub struct LoginEventBody {
    /// Always `login.succeeded`.
    #[serde(rename = "type")]
    #[schemars(schema_with = "login_type_schema")]
    pub kind: String,
    pub user: LoginUserBody,
    /// The product the user logged in to; absent means every product the rules allow.
    #[serde(default)]
    pub product: Option<Product>,
    /// When the login happened (RFC 3339).
    #[schemars(schema_with = "datetime_schema")]
    pub occurred_at: String,
}

/// The user who logged in.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginUserBody {
    /// The user's email address.
    #[schemars(schema_with = "email_schema")]
    pub email: String,
    /// The Atlassian account id, when the identity provider knows it.
    #[serde(default)]
    #[schemars(length(min = 1, max = 128))]
    pub account_id: Option<String>,
    /// Roles as the identity provider sees them.
    #[serde(default)]
    #[schemars(length(max = 256))]
    pub roles: Vec<String>,
    /// Groups as the identity provider sees them.
    #[serde(default)]
    #[schemars(length(max = 1024))]
    pub groups: Vec<String>,
}

fn login_type_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({"type": "string", "const": "login.succeeded"})
}
fn datetime_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({"type": "string", "format": "date-time"})
}
fn email_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({"type": "string", "format": "email", "maxLength": 254})
}

/// A body that is not a valid event: names the field and the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct InvalidEvent {
    pub field: String,
    pub reason: String,
}

fn invalid(field: &str, reason: impl Into<String>) -> InvalidEvent {
    InvalidEvent {
        field: field.into(),
        reason: reason.into(),
    }
}

/// Parses and validates a login body (after its signature has been verified).
pub fn parse_login(
    sender_id: &str,
    body: &[u8],
    received_at: OffsetDateTime,
) -> Result<Event, InvalidEvent> {
    // The fast path parses plainly; only a body that fails is parsed again to name the field.
    let parsed: LoginEventBody = match serde_json::from_slice(body) {
        Ok(parsed) => parsed,
        Err(plain) => {
            let de = &mut serde_json::Deserializer::from_slice(body);
            let (field, reason) = match serde_path_to_error::deserialize::<_, LoginEventBody>(de) {
                Err(e) => {
                    let path = e.path().to_string();
                    let field = if path == "." || path == "?" {
                        "body".to_string()
                    } else {
                        path
                    };
                    (field, e.inner().to_string())
                }
                Ok(_) => ("body".to_string(), plain.to_string()),
            };
            return Err(invalid(&field, reason));
        }
    };
    if parsed.kind != "login.succeeded" {
        return Err(invalid(
            "type",
            format!("{:?} is not \"login.succeeded\"", parsed.kind),
        ));
    }
    let email = Email::parse(&parsed.user.email).map_err(|r| invalid("user.email", r))?;
    if let Some(id) = &parsed.user.account_id
        && (id.is_empty()
            || id.len() > 128
            || id.chars().any(|c| c.is_whitespace() || c.is_control()))
    {
        return Err(invalid(
            "user.account_id",
            "must be 1 to 128 characters without spaces",
        ));
    }
    check_names("user.roles", &parsed.user.roles, 256)?;
    check_names("user.groups", &parsed.user.groups, 1024)?;
    let occurred_at = OffsetDateTime::parse(
        &parsed.occurred_at,
        &time::format_description::well_known::Rfc3339,
    )
    .map_err(|_| {
        invalid(
            "occurred_at",
            format!("{:?} is not an RFC 3339 date-time", parsed.occurred_at),
        )
    })?;
    Ok(Event {
        received_at,
        ..Event::new(
            Source::Login,
            sender_id,
            EventKind::Login,
            EventUser {
                email,
                account_id: parsed.user.account_id,
                roles: parsed.user.roles,
                groups: parsed.user.groups,
            },
            parsed.product,
            occurred_at,
        )
    })
}

fn check_names(field: &str, names: &[String], max: usize) -> Result<(), InvalidEvent> {
    if names.len() > max {
        return Err(invalid(field, format!("at most {max} entries")));
    }
    if let Some(i) = names
        .iter()
        .position(|n| n.trim().is_empty() || n.len() > 256)
    {
        return Err(invalid(
            &format!("{field}[{i}]"),
            "must be 1 to 256 characters",
        ));
    }
    Ok(())
}

/// The JSON Schema of the login body, as committed in `schemas/`.
pub fn login_event_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(LoginEventBody)).unwrap_or_default()
}

/// The JSON Schema of the event on the bus (`schemas/bus-event.schema.json`).
pub fn bus_event_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(Event)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }

    #[test]
    fn a_full_login_body_normalises() {
        let body = br#"{"type":"login.succeeded","user":{"email":" Ada@Example.com ","account_id":"5b10","roles":["engineer"],"groups":["eng"]},"product":"jira-software","occurred_at":"2026-11-22T09:00:00Z"}"#;
        let e = parse_login("msg_1", body, now()).expect("valid");
        assert_eq!(e.id.as_str(), "login:msg_1");
        assert_eq!(e.user.email.as_str(), "ada@example.com");
        assert_eq!(e.product, Some(Product::JiraSoftware));
        assert_eq!(e.user.roles, vec!["engineer"]);
    }

    #[test]
    fn invalid_bodies_name_the_field() {
        let cases: &[(&[u8], &str)] = &[
            (b"not json", "body"),
            (br#"{"type":"login.failed","user":{"email":"a@b.co"},"occurred_at":"2026-11-22T09:00:00Z"}"#, "type"),
            (br#"{"type":"login.succeeded","user":{"email":"nobody"},"occurred_at":"2026-11-22T09:00:00Z"}"#, "user.email"),
            (br#"{"type":"login.succeeded","user":{"email":"a@b.co"},"product":"bamboo","occurred_at":"2026-11-22T09:00:00Z"}"#, "product"),
            (br#"{"type":"login.succeeded","user":{"email":"a@b.co"},"occurred_at":"yesterday"}"#, "occurred_at"),
            (br#"{"type":"login.succeeded","user":{"email":"a@b.co"}}"#, "body"),
            (br#"{"type":"login.succeeded","user":{"email":"a@b.co","rolez":[]},"occurred_at":"2026-11-22T09:00:00Z"}"#, "user.rolez"),
            (br#"{"type":"login.succeeded","user":{"email":"a@b.co","groups":[""]},"occurred_at":"2026-11-22T09:00:00Z"}"#, "user.groups[0]"),
        ];
        for (body, field) in cases {
            let err = parse_login("m", body, now()).expect_err("invalid");
            assert_eq!(&err.field, field, "{err}");
        }
    }

    #[test]
    fn emails_are_validated() {
        for good in ["a@b.co", "first.last+tag@sub.example.com"] {
            assert!(Email::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "", "a", "@b.co", "a@", "a@b", "a@.b.co", "a b@c.co", "a@b..co", "a@b_c.co",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            Email::parse("x@Sub.Example.COM").expect("ok").domain(),
            "sub.example.com"
        );
    }
}
