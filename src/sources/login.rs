//! The generic login webhook (`POST /v1/hooks/login`): a Standard Webhooks signed body,
//! documented as `schemas/login-event.schema.json`, decoded into a login `Event`.

use std::sync::OnceLock;

use axum::http::HeaderMap;
use schemars::JsonSchema;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use time::OffsetDateTime;

use super::signature::{self, SignatureError, SignedHeaders, WebhookSecret};
use super::{Decoded, Rejected, Webhook, header};
use crate::domain::{Email, Event, EventKind, EventUser, Problems, Product, Source};

/// The widest `tolerance_secs` accepted.
const MAX_TOLERANCE_SECS: u64 = 3600;

/// `[sources.login]`
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoginSourceConfig {
    /// Standard Webhooks secrets (`whsec_<base64>`); several at once while rotating.
    pub secrets: Vec<SecretString>,
    /// How far `webhook-timestamp` may be from now, either way.
    pub tolerance_secs: u64,
    #[serde(skip)]
    parsed: OnceLock<Result<Vec<WebhookSecret>, Problems>>,
}

impl Default for LoginSourceConfig {
    fn default() -> Self {
        Self {
            secrets: Vec::new(),
            tolerance_secs: 300,
            parsed: OnceLock::new(),
        }
    }
}

impl LoginSourceConfig {
    /// The secrets, parsed once; each problem names its key.
    pub fn parsed_secrets(&self) -> Result<&[WebhookSecret], &Problems> {
        let parsed = self.parsed.get_or_init(|| {
            let mut ok = Vec::new();
            let mut problems = Problems::default();
            for (i, s) in self.secrets.iter().enumerate() {
                match WebhookSecret::parse(s.expose_secret()) {
                    Ok(secret) => ok.push(secret),
                    Err(e) => problems.add(&format!("sources.login.secrets[{i}]"), e),
                }
            }
            problems.or(ok)
        });
        parsed.as_deref()
    }

    pub fn check(&self, problems: &mut Problems) {
        if let Err(found) = self.parsed_secrets() {
            problems.extend(found.clone().into_vec());
        }
        if !(1..=MAX_TOLERANCE_SECS).contains(&self.tolerance_secs) {
            problems.add(
                "sources.login.tolerance_secs",
                format!(
                    "{} is outside 1 to {MAX_TOLERANCE_SECS} (an hour): a wider window lets a \
                     captured delivery be replayed for longer",
                    self.tolerance_secs
                ),
            );
        }
    }

    /// The receiver, with `extra` secrets (the sandbox's) besides the configured ones.
    pub fn source(&self, extra: Option<WebhookSecret>) -> LoginSource {
        let mut secrets = self.parsed_secrets().map(<[_]>::to_vec).unwrap_or_default();
        secrets.extend(extra);
        LoginSource {
            secrets,
            tolerance_secs: self.tolerance_secs as i64,
        }
    }
}

/// The login receiver: Standard Webhooks over the raw body, several secrets for rotation.
pub struct LoginSource {
    pub secrets: Vec<WebhookSecret>,
    pub tolerance_secs: i64,
}

impl Webhook for LoginSource {
    fn authenticate(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        now: OffsetDateTime,
    ) -> Result<Option<String>, Rejected> {
        // Svix, the most common sender, names the same three headers `svix-*`; its own
        // verifier takes either set, header by header, and so does this one.
        let either =
            |name: &str, svix: &str| header(headers, name).or_else(|| header(headers, svix));
        let signed = SignedHeaders {
            id: either(signature::HEADER_ID, "svix-id"),
            timestamp: either(signature::HEADER_TIMESTAMP, "svix-timestamp"),
            signature: either(signature::HEADER_SIGNATURE, "svix-signature"),
        };
        signature::verify(
            &self.secrets,
            &signed,
            body,
            now.unix_timestamp(),
            self.tolerance_secs,
        )
        .map(|id| Some(id.to_string()))
        .map_err(|e| {
            let code = match e {
                SignatureError::OutsideTolerance(_) => "timestamp_out_of_tolerance",
                SignatureError::MissingHeader(_) | SignatureError::MalformedHeader(_) => {
                    "missing_signature"
                }
                SignatureError::NoMatch => "invalid_signature",
            };
            Rejected::unauthenticated(code, e.to_string())
        })
    }

    fn decode(
        &self,
        delivery_id: Option<&str>,
        body: &[u8],
        now: OffsetDateTime,
    ) -> Result<Decoded, Rejected> {
        let id = delivery_id.unwrap_or_default();
        parse_login(id, body, now)
            .map(|e| Decoded::One(Box::new(e)))
            .map_err(|e| Rejected::invalid(e.to_string()))
    }
}

/// A successful login reported by an identity provider.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "reinstate login event", extend("$id" = "https://reinstate.dev/schemas/login-event.schema.json"))]
pub struct LoginEventBody {
    /// `login.succeeded`; or `user.deactivated`, a leaver (the `leavers` policy applies).
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
    schemars::json_schema!({"type": "string", "enum": ["login.succeeded", "user.deactivated"]})
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
    let kind = match parsed.kind.as_str() {
        "login.succeeded" => EventKind::Login,
        "user.deactivated" => EventKind::Leaver,
        other => {
            return Err(invalid(
                "type",
                format!("{other:?} is not \"login.succeeded\" or \"user.deactivated\""),
            ));
        }
    };
    let email =
        Email::parse(&parsed.user.email).map_err(|r| invalid("user.email", r.to_string()))?;
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
            kind,
            EventUser {
                email: Some(email),
                account_id: parsed.user.account_id,
                username: None,
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
        assert_eq!(
            e.user.email.as_ref().map(|e| e.as_str()),
            Some("ada@example.com")
        );
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
}
