//! Microsoft Teams, through a Bot Framework bot: the bot's messaging endpoint
//! (`POST /v1/hooks/teams/messages`) receives each activity with `Authorization: Bearer <JWT>`,
//! checked as "Authenticate requests from the Bot Connector Service to your bot" documents
//! (<https://learn.microsoft.com/azure/bot-service/rest-api/bot-framework-rest-connector-authentication>,
//! and `botframework-connector`'s `ChannelValidation`, `JwtTokenExtractor`,
//! `EndorsementsValidator`): signed with RS256 (RS384, RS512) by a key of the Bot Framework's
//! OpenID metadata (`kid`), issuer `https://api.botframework.com`, audience the bot's app id,
//! within its `nbf`/`exp` give or take five minutes, the key endorsing the activity's
//! `channelId`, and the token's `serviceUrl` claim the activity's. The keys themselves are
//! fetched by `directory::botframework`; nothing here does I/O.
//!
//! An activity decodes into a request (a message such as "access jira, back from leave") or
//! a click on an approval card's button (an `Action.Submit`, which Teams sends as a message
//! whose `value` is the button's data); who the person is, is left to the worker (the
//! conversation member's email or UPN, never the display name).

use std::sync::OnceLock;

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use secrecy::SecretString;
use serde::Deserialize;
use time::OffsetDateTime;

use super::{Rejected, body_hash};
use crate::domain::{ChatAsker, Event, EventKind, EventUser, Problems, Product, Source};

/// The issuer of the Bot Connector's tokens.
pub const ISSUER: &str = "https://api.botframework.com";
/// What an approval card's buttons put in their data.
pub const APPROVE: &str = "approve";
pub const DENY: &str = "deny";
/// What the asking card's button puts in its data (with `product` and `reason`, its inputs).
pub const ASK: &str = "ask";

/// `[sources.teams]`
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TeamsSourceConfig {
    /// The bot's Microsoft App ID (the tokens' audience). The receiver is off while empty.
    pub app_id: String,
    /// The bot's client secret (state processes: replies and approvals are posted with a
    /// token obtained with it).
    pub app_secret: Option<SecretString>,
    /// The tenant the token is asked of: `botframework.com` for a multi-tenant bot, the
    /// directory (tenant) id for a single-tenant one.
    pub tenant: String,
    /// The Bot Framework's OpenID metadata, whose `jwks_uri` lists the signing keys.
    pub openid_metadata_url: String,
    /// Microsoft's login endpoint (`{login_url}/{tenant}/oauth2/v2.0/token`).
    pub login_url: String,
    /// Where an activity's `serviceUrl` may point (replies are posted there).
    pub service_url_prefixes: Vec<String>,
    /// Only this tenant's activities (any, when unset).
    pub tenant_id: Option<String>,
    /// The conversation (a channel's or a group chat's id) where requests left to an admin are
    /// posted as cards with *Approve* and *Deny*; with `approvers_service_url`.
    pub approvers_conversation: Option<String>,
    /// The `serviceUrl` of that conversation (as its activities carry it).
    pub approvers_service_url: Option<String>,
    #[serde(skip)]
    built: OnceLock<Result<TeamsSource, Problems>>,
}

impl Default for TeamsSourceConfig {
    fn default() -> Self {
        TeamsSourceConfig {
            app_id: String::new(),
            app_secret: None,
            tenant: "botframework.com".into(),
            openid_metadata_url:
                "https://login.botframework.com/v1/.well-known/openidconfiguration".into(),
            login_url: "https://login.microsoftonline.com".into(),
            service_url_prefixes: vec!["https://smba.trafficmanager.net/".into()],
            tenant_id: None,
            approvers_conversation: None,
            approvers_service_url: None,
            built: OnceLock::new(),
        }
    }
}

impl TeamsSourceConfig {
    /// The receiver, built once; `None` while no app id is configured.
    pub fn source(&self) -> Result<Option<&TeamsSource>, &Problems> {
        if self.app_id.is_empty() {
            return Ok(None);
        }
        let built = self.built.get_or_init(|| TeamsSource::new(self));
        built.as_ref().map(Some)
    }

    pub fn check(&self, problems: &mut Problems) {
        if let Err(e) = self.source() {
            problems.extend(e.clone().into_vec());
        }
        if self.approvers_conversation.is_some() != self.approvers_service_url.is_some() {
            problems.add(
                "sources.teams.approvers_conversation",
                "set with approvers_service_url, or neither",
            );
        }
    }
}

/// The Teams receiver's checks.
#[derive(Debug, Clone)]
pub struct TeamsSource {
    app_id: String,
    tenant_id: Option<String>,
    prefixes: Vec<String>,
}

/// The claims reinstate reads (the library checks `iss`, `aud`, `exp`, `nbf`).
#[derive(Debug, Deserialize)]
struct Claims {
    #[serde(rename = "serviceUrl", default)]
    service_url: String,
}

/// The fields of an activity reinstate reads (Bot Framework's `Activity`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Activity {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub service_url: String,
    #[serde(default)]
    pub channel_id: String,
    #[serde(default)]
    pub from: Account,
    #[serde(default)]
    pub conversation: Conversation,
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub value: Option<serde_json::Value>,
    #[serde(default)]
    pub reply_to_id: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Account {
    #[serde(default)]
    pub id: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Conversation {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub tenant_id: Option<String>,
}

/// What an activity asks, once authenticated.
#[derive(Debug)]
pub enum Asked {
    /// A request, a click on an approval card, or a message that names no product (an
    /// unusable event, answered with how to ask): the event to publish.
    Event(Box<Event>),
    /// Not reinstate's (a conversation update, a reaction, typing …).
    Ignored(String),
}

impl TeamsSource {
    pub fn new(config: &TeamsSourceConfig) -> Result<TeamsSource, Problems> {
        let mut problems = Problems::default();
        if config.service_url_prefixes.is_empty()
            || config
                .service_url_prefixes
                .iter()
                .any(|p| !(p.starts_with("https://") || p.starts_with("http://127.0.0.1:")))
        {
            problems.add(
                "sources.teams.service_url_prefixes",
                "https:// URLs where activities' serviceUrl may point",
            );
        }
        problems.or(TeamsSource {
            app_id: config.app_id.clone(),
            tenant_id: config.tenant_id.clone(),
            prefixes: config.service_url_prefixes.clone(),
        })
    }

    /// The token of `Authorization: Bearer`, and the key id its header names.
    pub fn bearer<'h>(
        &self,
        authorization: Option<&'h str>,
    ) -> Result<(&'h str, String), Rejected> {
        let token = authorization
            .and_then(|a| a.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                Rejected::unauthenticated(
                    "missing_token",
                    "Authorization is not Bearer with the Bot Connector's token",
                )
            })?;
        let header = jsonwebtoken::decode_header(token).map_err(|e| {
            Rejected::unauthenticated(
                "invalid_token",
                format!("the token's header is not a JWT signed with RS256, RS384 or RS512: {e}"),
            )
        })?;
        if !matches!(
            header.alg,
            Algorithm::RS256 | Algorithm::RS384 | Algorithm::RS512
        ) {
            return Err(Rejected::unauthenticated(
                "invalid_token",
                format!(
                    "the token is signed with {:?}; the Bot Connector signs with RS256",
                    header.alg
                ),
            ));
        }
        let kid = header.kid.ok_or_else(|| {
            Rejected::unauthenticated("invalid_token", "the token's header names no key (kid)")
        })?;
        Ok((token, kid))
    }

    /// Verifies the token with the key its header named (and the channels that key
    /// endorses), then reads the activity: `Ok` only when the token is the Bot Connector's for
    /// this bot and for this very activity.
    pub fn verify(
        &self,
        token: &str,
        key: &DecodingKey,
        endorsements: &[String],
        body: &[u8],
    ) -> Result<Activity, Rejected> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|e| Rejected::unauthenticated("invalid_token", e.to_string()))?;
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[&self.app_id]);
        validation.leeway = 300;
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        let claims = jsonwebtoken::decode::<Claims>(token, key, &validation)
            .map_err(|e| {
                use jsonwebtoken::errors::ErrorKind as K;
                let (code, why) = match e.kind() {
                    K::InvalidIssuer => (
                        "invalid_issuer",
                        format!("the token's issuer is not {ISSUER}"),
                    ),
                    K::InvalidAudience => (
                        "invalid_audience",
                        "the token is not for this bot (its audience is not sources.teams.app_id)"
                            .into(),
                    ),
                    K::ExpiredSignature => ("token_expired", "the token has expired".into()),
                    K::ImmatureSignature => (
                        "token_not_yet_valid",
                        "the token is not valid yet (nbf)".into(),
                    ),
                    K::InvalidSignature => (
                        "invalid_signature",
                        "the token's signature does not verify under its key".into(),
                    ),
                    _ => ("invalid_token", format!("the token is not usable: {e}")),
                };
                Rejected::unauthenticated(code, why)
            })?
            .claims;
        let activity: Activity = serde_json::from_slice(body)
            .map_err(|e| Rejected::invalid(format!("not a Bot Framework activity: {e}")))?;
        if !activity.channel_id.is_empty()
            && !endorsements.iter().any(|e| e == &activity.channel_id)
        {
            return Err(Rejected::unauthenticated(
                "not_endorsed",
                format!(
                    "the token's key does not endorse the channel {:?}",
                    activity.channel_id
                ),
            ));
        }
        if claims.service_url != activity.service_url {
            return Err(Rejected::unauthenticated(
                "service_url_mismatch",
                "the token's serviceUrl claim is not the activity's serviceUrl",
            ));
        }
        if !self
            .prefixes
            .iter()
            .any(|p| activity.service_url.starts_with(p))
        {
            return Err(Rejected::unauthenticated(
                "service_url_not_allowed",
                "the activity's serviceUrl is not under sources.teams.service_url_prefixes",
            ));
        }
        Ok(activity)
    }

    /// Decodes a verified activity. The event's id is the conversation's and the activity's:
    /// the same activity delivered again is acted on once.
    pub fn decode(&self, activity: &Activity, now: OffsetDateTime) -> Result<Asked, Rejected> {
        if activity.kind != "message" {
            return Ok(Asked::Ignored(format!("a {} activity", activity.kind)));
        }
        let tenant = activity.conversation.tenant_id.clone().unwrap_or_default();
        if let Some(configured) = &self.tenant_id
            && configured != &tenant
        {
            return Err(Rejected::unauthenticated(
                "other_tenant",
                format!("the conversation's tenant {tenant:?} is not sources.teams.tenant_id"),
            ));
        }
        let limited = |v: &str, name: &str| {
            if v.is_empty() || v.len() > 512 {
                Err(Rejected::invalid(format!("{name}: 1 to 512 characters")))
            } else {
                Ok(())
            }
        };
        limited(&activity.id, "id")?;
        limited(&activity.from.id, "from.id")?;
        limited(&activity.conversation.id, "conversation.id")?;
        let conversation = format!(
            "{}v3/conversations/{}",
            with_slash(&activity.service_url),
            segment(&activity.conversation.id)
        );
        let asker = |reply_url: String| ChatAsker {
            team: tenant.clone(),
            user: activity.from.id.clone(),
            reply_url,
            email: None,
            lookup: Some(format!(
                "{conversation}/members/{}",
                segment(&activity.from.id)
            )),
            trigger: None,
        };
        let id = body_hash(format!("{}\n{}", activity.conversation.id, activity.id).as_bytes());
        let reply_url = format!("{conversation}/activities/{}", segment(&activity.id));
        if let Some(value) = activity.value.as_ref().filter(|v| v["reinstate"] == ASK) {
            // The asking card's Action.Submit: its inputs are the request.
            let Some(product) = value["product"]
                .as_str()
                .and_then(|p| serde_json::from_value::<Product>(p.into()).ok())
            else {
                return Ok(Asked::Event(Box::new(usage(&id, asker(reply_url), now))));
            };
            let reason = super::reason(value["reason"].as_str().unwrap_or_default());
            let event = request(&id, product, reason, asker(reply_url), now);
            return Ok(Asked::Event(Box::new(event)));
        }
        if let Some(value) = &activity.value {
            let kind = match value["reinstate"].as_str() {
                Some(APPROVE) => EventKind::Approve,
                Some(DENY) => EventKind::Decline,
                _ => {
                    return Ok(Asked::Ignored(
                        "a card's data that is not reinstate's".into(),
                    ));
                }
            };
            let request = value["request"]
                .as_str()
                .filter(|r| {
                    !r.is_empty()
                        && r.len() <= 128
                        && r.bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                })
                .ok_or_else(|| Rejected::invalid("value.request is not a request id"))?;
            let card = activity
                .reply_to_id
                .as_deref()
                .filter(|c| !c.is_empty() && c.len() <= 512)
                .ok_or_else(|| Rejected::invalid("a card's click without replyToId"))?;
            let mut event = Event::new(Source::Teams, &id, kind, EventUser::default(), None, now);
            event.request = Some(request.to_string());
            event.chat = Some(asker(format!(
                "{conversation}/activities/{}",
                segment(card)
            )));
            return Ok(Asked::Event(Box::new(event)));
        }
        let text = activity.text.as_deref().unwrap_or_default();
        let Some((product, reason)) = asked(text) else {
            return Ok(Asked::Event(Box::new(usage(&id, asker(reply_url), now))));
        };
        let event = request(&id, product, reason, asker(reply_url), now);
        Ok(Asked::Event(Box::new(event)))
    }
}

/// A request for `product` by the person `asker` names.
fn request(
    id: &str,
    product: Product,
    reason: Option<String>,
    asker: ChatAsker,
    now: OffsetDateTime,
) -> Event {
    let mut event = Event::new(
        Source::Teams,
        id,
        EventKind::Restore,
        EventUser::default(),
        Some(product),
        now,
    );
    event.reason = reason;
    event.chat = Some(asker);
    event
}

/// A message that asks for nothing usable: answered with how to ask, and the asking card.
fn usage(id: &str, asker: ChatAsker, now: OffsetDateTime) -> Event {
    let mut event = Event::new(
        Source::Teams,
        id,
        EventKind::Unusable,
        EventUser::default(),
        None,
        now,
    );
    event.problem = Some(
        "to ask for access, write: access jira (or confluence, or jsm), then why if you like, \
         for example \"access jira back from leave\" — or choose on this card"
            .into(),
    );
    event.chat = Some(asker);
    event
}

/// The product and the reason of a message such as "access jira back from leave" (the bot's
/// @mention, which Teams puts in a channel's text as `<at>…</at>`, left out).
fn asked(text: &str) -> Option<(Product, Option<String>)> {
    let mut clean = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("<at>") {
        clean.push_str(&rest[..start]);
        rest = rest[start..]
            .find("</at>")
            .map_or("", |end| &rest[start + end + 5..]);
    }
    clean.push_str(rest);
    let mut words = clean.split_whitespace();
    if !words.next()?.eq_ignore_ascii_case("access") {
        return None;
    }
    let product = match words.next()?.to_ascii_lowercase().as_str() {
        "jira" | "jira-software" => Product::JiraSoftware,
        "confluence" | "wiki" => Product::Confluence,
        "jsm" | "jira-servicedesk" | "servicedesk" => Product::JiraServicedesk,
        _ => return None,
    };
    Some((product, super::reason(&words.collect::<Vec<_>>().join(" "))))
}

fn with_slash(url: &str) -> String {
    if url.ends_with('/') {
        url.to_string()
    } else {
        format!("{url}/")
    }
}

/// An id as one path segment (conversation ids carry `:`, `;`, `@` …).
fn segment(id: &str) -> String {
    percent_encoding::utf8_percent_encode(id, percent_encoding::NON_ALPHANUMERIC).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_names_its_product_and_reason() {
        assert_eq!(
            asked("access jira back from leave"),
            Some((Product::JiraSoftware, Some("back from leave".into())))
        );
        assert_eq!(
            asked("<at>reinstate</at> access Confluence"),
            Some((Product::Confluence, None))
        );
        assert_eq!(asked("hello"), None);
        assert_eq!(asked("access something"), None);
    }
}
