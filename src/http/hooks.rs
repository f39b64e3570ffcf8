//! The webhook receivers: read the body (capped), authenticate over the raw bytes and decode
//! (the sender's `sources::Webhook`), then hand the events to the intake; `202` only once the
//! bus holds them. A source that is not configured answers `404 not_configured`.

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use schemars::generate::SchemaGenerator;
use serde_json::json;
use time::OffsetDateTime;

use super::body::read_body;
use super::error::ApiError;
use super::routes::{Operation, Routes, external, schema};
use crate::domain::EventKind;
use crate::flows::Intake;
use crate::flows::intake::Accepted;
use crate::flows::teams::{Refused, Verifier};
use crate::sources::jsm::JsmSource;
use crate::sources::keycloak::KeycloakSource;
use crate::sources::login::{LoginEventBody, LoginSource};
use crate::sources::mail::{MailSource, Mailed};
use crate::sources::okta::OktaSource;
use crate::sources::slack::{Command, SlackSource};
use crate::sources::teams::Asked;
use crate::sources::{Decoded, Webhook};

/// The receivers that are on.
pub struct Hooks {
    pub intake: Intake,
    pub login: LoginSource,
    pub okta: Option<OktaSource>,
    pub keycloak: Option<KeycloakSource>,
    pub jsm: Option<JsmSource>,
    pub slack: Option<SlackSource>,
    pub mail: Option<MailSource>,
    /// The Teams bot's receiver, with the Bot Framework's signing keys it verifies with.
    pub teams: Option<Verifier>,
}

/// One receiver's state: its source and the intake.
struct Hook<W> {
    source: Arc<W>,
    intake: Intake,
}

impl<W> Clone for Hook<W> {
    fn clone(&self) -> Self {
        Hook {
            source: self.source.clone(),
            intake: self.intake.clone(),
        }
    }
}

pub fn router(hooks: Hooks) -> Routes {
    let intake = hooks.intake;
    let slack = hooks.slack.map(|source| Hook {
        source: Arc::new(source),
        intake: intake.clone(),
    });
    let mail = hooks
        .mail
        .map(|source| Arc::new(MailHook::new(source, intake.clone())));
    let mail_route =
        |on: fn(&MailSource) -> bool, route: MethodRouter<Arc<MailHook>>, name| match &mail {
            Some(hook) if on(&hook.source) => route.with_state(hook.clone()),
            _ => not_configured(name),
        };
    let okta = hooks.okta.map(Arc::new);
    let okta_route = match &okta {
        Some(source) => {
            let hook = Hook {
                source: source.clone(),
                intake: intake.clone(),
            };
            MethodRouter::new()
                .get(challenge)
                .post(receive::<OktaSource>)
                .with_state(hook)
        }
        None => not_configured("Okta"),
    };
    Routes::default()
        .route(
            "/v1/hooks/login",
            receiver(Some(hooks.login), &intake, "login"),
        )
        .route("/v1/hooks/okta", okta_route)
        .route(
            "/v1/hooks/keycloak",
            receiver(hooks.keycloak, &intake, "Keycloak"),
        )
        .route(
            "/v1/hooks/jira",
            receiver(hooks.jsm, &intake, "Jira Service Management"),
        )
        .route(
            "/v1/hooks/slack/commands",
            slack_route(&slack, post(slack_command)),
        )
        .route(
            "/v1/hooks/slack/interactions",
            slack_route(&slack, post(slack_action)),
        )
        .route(
            "/v1/hooks/slack/events",
            slack_route(&slack, post(slack_event)),
        )
        .route(
            "/v1/hooks/teams/messages",
            match hooks.teams {
                Some(verifier) => post(teams_message).with_state(Arc::new(TeamsHook {
                    verifier,
                    intake: intake.clone(),
                })),
                None => not_configured("Teams"),
            },
        )
        .route(
            "/v1/hooks/mail/postmark",
            mail_route(|s| s.postmark.is_some(), post(postmark), "Postmark"),
        )
        .route(
            "/v1/hooks/mail/mailgun",
            mail_route(|s| s.mailgun.is_some(), post(mailgun), "Mailgun"),
        )
}

/// The Teams receiver's state.
struct TeamsHook {
    verifier: Verifier,
    intake: Intake,
}

/// The Teams bot's messaging endpoint: the Bot Connector's token verified (its key, fetched
/// from the Bot Framework's OpenID metadata when not held; issuer, audience, lifetime, the
/// key's endorsement of the channel, the `serviceUrl` claim) before the activity is read; then
/// the request or the click goes to the bus. `200` with no body, as the Connector expects for
/// a message; the answer is posted by the worker.
async fn teams_message(
    State(hook): State<Arc<TeamsHook>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let body = read_body(&headers, body, crate::sources::MAX_BODY).await?;
    let authorization = crate::sources::header(&headers, "authorization");
    let activity = match hook.verifier.activity(authorization, &body).await {
        Ok(activity) => activity,
        Err(Refused::Rejected(e)) => return Err(e.into()),
        Err(Refused::Unavailable(e)) => {
            tracing::warn!(error = %e, "the Bot Framework's signing keys cannot be fetched");
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "keys_unavailable",
                format!("the Bot Framework's signing keys cannot be fetched now: {e}"),
            ));
        }
    };
    match hook
        .verifier
        .source
        .decode(&activity, OffsetDateTime::now_utc())?
    {
        Asked::Event(event) => {
            hook.intake.accept(*event).await?;
        }
        Asked::Ignored(why) => tracing::info!(%why, "Teams activity ignored"),
    }
    Ok(StatusCode::OK.into_response())
}

/// The mail receiver's state: its source, the intake, and how many asks each sender made.
struct MailHook {
    source: MailSource,
    intake: Intake,
    per_sender: governor::DefaultKeyedRateLimiter<String>,
}

impl MailHook {
    fn new(source: MailSource, intake: Intake) -> MailHook {
        let per_hour = std::num::NonZeroU32::new(source.per_sender_per_hour)
            .unwrap_or(std::num::NonZeroU32::MIN);
        MailHook {
            source,
            intake,
            per_sender: governor::RateLimiter::keyed(governor::Quota::per_hour(per_hour)),
        }
    }
}

/// Postmark's inbound webhook: the credentials of its URL checked before the body is read as
/// JSON, then an ask for the sender, answered the same whether or not the address is anyone's;
/// over `per_sender_per_hour`, not even asked. `200` stops Postmark's retries; the same
/// message again (its `MessageID`) is the same ask, acted on once.
async fn postmark(
    State(hook): State<Arc<MailHook>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    hook.source.authenticate(&headers)?;
    let body = read_body(&headers, body, MAX_MAIL).await?;
    let mailed = hook.source.decode(&body, OffsetDateTime::now_utc())?;
    hook.ask(mailed).await?;
    Ok((StatusCode::OK, Json(json!({ "status": "received" }))).into_response())
}

/// The largest mail read: attachments come with a Mailgun post, and are skipped.
const MAX_MAIL: usize = 10 * 1024 * 1024;

/// A Mailgun route's forward: the form's signature (timestamp and token) checked before
/// anything else in it is read; then the same ask as Postmark's. A token seen before is the
/// same delivery whatever message rides on it: `406 replayed`, which Mailgun does not retry.
async fn mailgun(
    State(hook): State<Arc<MailHook>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let body = read_body(&headers, body, MAX_MAIL).await?;
    let content_type = crate::sources::header(&headers, "content-type");
    let fields = crate::sources::mailgun::Fields::read(content_type, body).await?;
    let mailed = hook
        .source
        .decode_mailgun(&fields, OffsetDateTime::now_utc())?;
    match hook.ask(mailed).await? {
        Some(Accepted::Duplicate) => Err(ApiError::new(
            StatusCode::NOT_ACCEPTABLE,
            "replayed",
            "this token was already received: a Mailgun delivery is acted on once",
        )),
        _ => Ok((StatusCode::OK, Json(json!({ "status": "received" }))).into_response()),
    }
}

impl MailHook {
    /// Asks for a mail's sender unless it asked too often this hour; the same whatever the
    /// address is.
    async fn ask(&self, mailed: Mailed) -> Result<Option<Accepted>, ApiError> {
        match mailed {
            Mailed::Nothing(why) => {
                tracing::info!(%why, "mailed request ignored");
                Ok(None)
            }
            Mailed::Ask(event) => {
                let sender = event.user.email.as_ref().map(|e| e.as_str().to_string());
                if sender.is_some_and(|s| self.per_sender.check_key(&s).is_err()) {
                    tracing::info!("mailed request over the per-sender limit; not asked");
                    return Ok(None);
                }
                Ok(Some(self.intake.accept(*event).await?))
            }
        }
    }
}

/// A Slack receiver, or `404 not_configured` without the Slack app.
fn slack_route(
    slack: &Option<Hook<SlackSource>>,
    route: MethodRouter<Hook<SlackSource>>,
) -> MethodRouter {
    match slack {
        Some(hook) => route.with_state(hook.clone()),
        None => not_configured("Slack"),
    }
}

/// What Slack and Mailgun post.
const FORM: &[&str] = &["application/x-www-form-urlencoded"];
const MULTIPART: &[&str] = &["application/x-www-form-urlencoded", "multipart/form-data"];

/// The webhook receivers.
pub fn operations(g: &mut SchemaGenerator) -> Vec<Operation> {
    use crate::http::routes::Access::*;
    vec![
        Operation::new(
            "post",
            "/v1/hooks/login",
            "A successful login (Standard Webhooks signature; `webhook-*` or `svix-*` headers).",
            Signed,
            ("202", "accepted once the bus holds it"),
        )
        .body(schema::<LoginEventBody>(g)),
        Operation::new(
            "post",
            "/v1/hooks/okta",
            "Okta Event Hook deliveries.",
            Signed,
            (
                "200",
                "`{\"logins\": n, \"unusable\": n, \"skipped\": n}`: unusable events are audited",
            ),
        )
        .body(external("Okta")),
        Operation::new(
            "get",
            "/v1/hooks/okta",
            "Okta's one-time verification.",
            Signed,
            ("200", "`{\"verification\": \"…\"}`"),
        ),
        Operation::new(
            "post",
            "/v1/hooks/keycloak",
            "Keycloak event-listener webhooks (X-Keycloak-Signature, or opt-in shared tokens).",
            Signed,
            ("202", "accepted"),
        )
        .body(external("Keycloak")),
        Operation::new(
            "post",
            "/v1/hooks/jira",
            "Jira Service Management webhooks (X-Hub-Signature).",
            Signed,
            ("202", "accepted"),
        )
        .body(external("Jira")),
        Operation::new(
            "post",
            "/v1/hooks/slack/commands",
            "A Slack slash command (X-Slack-Signature, v0); answered at once, the outcome posted to its response_url.",
            Signed,
            (
                "200",
                "`{\"response_type\": \"ephemeral\", \"text\"}`: what Slack shows the person who asked",
            ),
        )
        .form("Slack", FORM)
        .refuses("409", "`replayed`: this request (its timestamp and body) was received before"),
        Operation::new(
            "post",
            "/v1/hooks/mail/postmark",
            "A request mailed to reinstate's address, as Postmark's inbound webhook posts it (Basic credentials of its URL); answered as the portal answers an ask.",
            Signed,
            ("200", "`{\"status\": \"received\"}`, whether or not the sender is anyone's"),
        )
        .body(external("Postmark")),
        Operation::new(
            "post",
            "/v1/hooks/slack/events",
            "Slack's Events API (X-Slack-Signature, v0): its url_verification, and app_home_opened, which shows the App Home page with the button that opens the form.",
            Signed,
            ("200", "`{\"challenge\"}` for a url_verification; else received"),
        )
        .body(external("Slack")),
        Operation::new(
            "post",
            "/v1/hooks/teams/messages",
            "The Teams bot's messaging endpoint: a Bot Framework activity (a message asking for access, a click on an approval card), its Bot Connector JWT verified; answered by the bot in Teams.",
            Signed,
            ("200", "received; the answer is posted in the conversation"),
        )
        .body(external("Bot Framework")),
        Operation::new(
            "post",
            "/v1/hooks/mail/mailgun",
            "A request mailed to reinstate's address, as a Mailgun route's forward() posts it (a urlencoded or multipart form; its signature over timestamp and token); answered as the portal answers an ask.",
            Signed,
            ("200", "`{\"status\": \"received\"}`, whether or not the sender is anyone's; a token seen before is `406 replayed`"),
        )
        .form("Mailgun", MULTIPART)
        .refuses("406", "`replayed`: this token was received before (Mailgun does not retry a 406)"),
        Operation::new(
            "post",
            "/v1/hooks/slack/interactions",
            "A Slack interaction (X-Slack-Signature, v0): a click on a request's Approve or Deny (block_actions), a shortcut or the App Home's button that opens the form, the form's submission (view_submission); the decision is the worker's.",
            Signed,
            ("200", "received; the message is updated once decided"),
        )
        .form("Slack", FORM)
        .refuses("409", "`replayed`: this request (its timestamp and body) was received before"),
    ]
}

/// `POST` to a source's receiver, or `404 not_configured` when it is off.
fn receiver<W: Webhook>(source: Option<W>, intake: &Intake, name: &'static str) -> MethodRouter {
    match source {
        Some(source) => post(receive::<W>).with_state(Hook {
            source: Arc::new(source),
            intake: intake.clone(),
        }),
        None => not_configured(name),
    }
}

fn not_configured(name: &'static str) -> MethodRouter {
    let answer = move || async move {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_configured",
            format!("the {name} source is not configured"),
        )
    };
    get(answer).post(answer)
}

/// Receives one delivery: read, authenticate, decode, hand over.
async fn receive<W: Webhook>(
    State(hook): State<Hook<W>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let body = read_body(&headers, body, hook.source.max_body()).await?;
    let now = OffsetDateTime::now_utc();
    let id = hook.source.authenticate(&headers, &body, now)?;
    match hook.source.decode(id.as_deref(), &body, now)? {
        Decoded::One(event) => {
            let id = event.id.to_string();
            let accepted = hook.intake.accept(*event).await?;
            let body = json!({ "id": id, "status": accepted.key() });
            Ok((StatusCode::ACCEPTED, Json(body)).into_response())
        }
        Decoded::Batch(batch) => {
            let count = |kind| batch.events.iter().filter(|e| e.kind == kind).count();
            let counts = json!({
                "logins": count(EventKind::Login),
                "leavers": count(EventKind::Leaver),
                "unusable": count(EventKind::Unusable),
                "skipped": batch.skipped,
            });
            for event in batch.events {
                hook.intake.accept(event).await?;
            }
            Ok((StatusCode::OK, Json(counts)).into_response())
        }
        Decoded::Ignored(why) => {
            tracing::info!(%why, "delivery ignored");
            let body = json!({ "status": "ignored", "detail": why });
            Ok((StatusCode::ACCEPTED, Json(body)).into_response())
        }
    }
}

/// A Slack request read and verified over its raw bytes: the body and its signed timestamp.
async fn verified(
    hook: &Hook<SlackSource>,
    headers: &HeaderMap,
    body: Body,
) -> Result<(axum::body::Bytes, OffsetDateTime, String), ApiError> {
    let body = read_body(headers, body, crate::sources::MAX_BODY).await?;
    let now = OffsetDateTime::now_utc();
    let timestamp = hook.source.authenticate(headers, &body, now)?.to_string();
    Ok((body, now, timestamp))
}

/// Puts a Slack request on the bus; the same request again (a replay: the same timestamp and
/// body) is refused, and changes nothing.
async fn accept_once(
    hook: &Hook<SlackSource>,
    event: crate::domain::Event,
) -> Result<(), ApiError> {
    match hook.intake.accept(event).await? {
        Accepted::New => Ok(()),
        Accepted::Duplicate => Err(ApiError::new(
            StatusCode::CONFLICT,
            "replayed",
            "this request (its timestamp and body) was already received: it is acted on once",
        )),
    }
}

/// A slash command: authenticated over the raw bytes, answered within Slack's three seconds
/// with a message only the person sees; the request itself goes to the bus.
async fn slack_command(
    State(hook): State<Hook<SlackSource>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let (body, now, timestamp) = verified(&hook, &headers, body).await?;
    let ephemeral = |text: String| Json(json!({ "response_type": "ephemeral", "text": text }));
    match hook.source.decode(&timestamp, &body, now)? {
        Command::Usage(text) => Ok(ephemeral(text).into_response()),
        Command::Ask(event) => {
            let product = event.product.map_or("access", |p| p.name());
            let text = format!("Asking for {product}: the answer comes here in a moment.");
            accept_once(&hook, *event).await?;
            Ok(ephemeral(text).into_response())
        }
    }
}

/// A click on a request's button: authenticated over the raw bytes, put on the bus, and
/// answered `200` with nothing (Slack waits three seconds); the message is updated once the
/// worker decided.
async fn slack_action(
    State(hook): State<Hook<SlackSource>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let (body, now, timestamp) = verified(&hook, &headers, body).await?;
    let event = match hook.source.decode_action(&timestamp, &body, now)? {
        Some(click) => Some(click),
        None => {
            let payload = crate::sources::slack::payload(&body)?;
            crate::sources::slack_forms::decode(&hook.source, &timestamp, &body, &payload, now)?
        }
    };
    if let Some(event) = event {
        accept_once(&hook, event).await?;
    }
    // For a modal's submission, an empty 200 closes it.
    Ok(StatusCode::OK.into_response())
}

/// The Events API: its `url_verification` answered with the challenge, an `app_home_opened`
/// put on the bus (its page is published by the worker); Slack retries a delivery not answered
/// `2xx` within three seconds, and the same `event_id` again is acted on once.
async fn slack_event(
    State(hook): State<Hook<SlackSource>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    use crate::sources::slack_forms::Delivered;
    let (body, now, _) = verified(&hook, &headers, body).await?;
    match crate::sources::slack_forms::decode_event(&hook.source, &body, now)? {
        Delivered::Challenge(challenge) => {
            Ok(Json(json!({ "challenge": challenge })).into_response())
        }
        Delivered::Event(event) => {
            hook.intake.accept(*event).await?;
            Ok(StatusCode::OK.into_response())
        }
        Delivered::Ignored(why) => {
            tracing::info!(%why, "Slack event ignored");
            Ok(StatusCode::OK.into_response())
        }
    }
}

/// `GET /v1/hooks/okta`: Okta's one-time verification.
async fn challenge(
    State(hook): State<Hook<OktaSource>>,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, ApiError> {
    let challenge = hook.source.challenge(&headers)?;
    Ok(Json(json!({ "verification": challenge })))
}
