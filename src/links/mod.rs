//! Email links. `GET /v1/links/{token}` only verifies and shows a confirmation page (mail
//! scanners follow GET and HEAD); `POST` verifies again, consumes the link's nonce atomically,
//! publishes the event and shows the result. Pages load nothing from elsewhere.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use time::OffsetDateTime;

use crate::app::AppState;
use crate::bus::Published;
use crate::event::{Email, Event, EventKind, EventUser, Source};
use crate::notify::escape_html;

mod token;
pub use token::{Claims, KeyRing, Purpose, TokenError};

/// Links as configured: the keys and how long new links last.
#[derive(Debug, Clone)]
pub struct LinkSettings {
    pub keys: KeyRing,
    pub ttl: Duration,
    pub public_url: String,
}

impl LinkSettings {
    /// A link for `claims` fields, valid for the configured time.
    pub fn create(
        &self,
        sub: &Email,
        purpose: Purpose,
        product: Option<crate::event::Product>,
        reason: Option<String>,
    ) -> String {
        let claims = Claims {
            sub: sub.clone(),
            purpose,
            product,
            reason,
            exp: OffsetDateTime::now_utc().unix_timestamp() + self.ttl.as_secs() as i64,
            nonce: KeyRing::nonce(),
        };
        format!(
            "{}/v1/links/{}",
            self.public_url.trim_end_matches('/'),
            self.keys.sign(&claims)
        )
    }
}

/// "g***@example.com": enough for the user to recognise, little for anyone else.
pub fn mask(email: &Email) -> String {
    let (local, domain) = email
        .as_str()
        .split_once('@')
        .unwrap_or((email.as_str(), ""));
    let first: String = local.chars().take(1).collect();
    format!("{first}***@{domain}")
}

/// A complete page, with the headers every link and portal page carries.
pub fn page(status: StatusCode, title: &str, body_html: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\">\
         <title>{t}</title><style>body{{font-family:sans-serif;max-width:36em;margin:3em auto;padding:0 1em;line-height:1.5}}\
         button{{font-size:1em;padding:.5em 1.2em}}label{{display:block;margin-top:1em}}input,select,textarea{{width:100%;font-size:1em}}</style></head>\
         <body><h1>{t}</h1>{body_html}</body></html>",
        t = escape_html(title),
    );
    let mut response = (status, html).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"),
    );
    response
}

fn what(claims: &Claims) -> String {
    let product = claims
        .product
        .map_or("your Atlassian products".to_string(), |p| {
            p.key().to_string()
        });
    match claims.purpose {
        Purpose::Keep => format!("Keep your {product} licence"),
        Purpose::Restore => format!("Give back your {product} licence"),
        Purpose::Request => format!("Confirm your request for {product}"),
    }
}

/// Why a link is not used.
enum Rejection {
    NotEnabled,
    Token(TokenError),
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        match self {
            Rejection::NotEnabled => page(
                StatusCode::NOT_FOUND,
                "Links are not enabled",
                "<p>This reinstate does not issue email links.</p>",
            ),
            Rejection::Token(e) => {
                let status = if e == TokenError::Expired {
                    StatusCode::GONE
                } else {
                    StatusCode::BAD_REQUEST
                };
                let body = format!(
                    "<p>{}. Nothing was changed.</p><p>Ask for a new link, or contact your administrator.</p>",
                    escape_html(&e.to_string())
                );
                page(status, "This link cannot be used", &body)
            }
        }
    }
}

fn verify(state: &AppState, token: &str) -> Result<Claims, Rejection> {
    let settings = state.links.as_ref().ok_or(Rejection::NotEnabled)?;
    settings
        .keys
        .verify(token, OffsetDateTime::now_utc().unix_timestamp())
        .map_err(Rejection::Token)
}

/// `GET /v1/links/{token}` (and HEAD): verifies and asks for confirmation; changes nothing.
pub async fn confirm(State(state): State<Arc<AppState>>, Path(token): Path<String>) -> Response {
    let claims = match verify(&state, &token) {
        Ok(claims) => claims,
        Err(rejection) => return rejection.into_response(),
    };
    match state.store.link_use(&claims.nonce) {
        Ok(Some(_)) => return already_used(),
        Ok(None) => {}
        Err(e) => return crate::http_error::ApiError::internal(&e).into_response(),
    }
    let title = what(&claims);
    page(
        StatusCode::OK,
        &title,
        &format!(
            "<p>For <strong>{who}</strong>.</p><p>{explain}</p><form method=\"post\"><button type=\"submit\">{title}</button></form>\
             <p><small>If you did not ask for this, ignore this page: nothing happens until the button is pressed.</small></p>",
            who = escape_html(&mask(&claims.sub)),
            explain = match claims.purpose {
                Purpose::Keep => "Your licence will be kept when inactive licences are reclaimed.",
                Purpose::Restore =>
                    "Your licence will be restored if your organisation's rules allow it, or sent to an administrator for approval.",
                Purpose::Request =>
                    "Your request will be handled by your organisation's rules, or sent to an administrator for approval.",
            },
            title = escape_html(&title),
        ),
    )
}

fn already_used() -> Response {
    page(
        StatusCode::OK,
        "This link was already used",
        "<p>It works once. Your request was received the first time; you will get an email about the outcome.</p>",
    )
}

/// `POST /v1/links/{token}`: verifies, consumes the link (once), publishes, shows the result.
pub async fn redeem(State(state): State<Arc<AppState>>, Path(token): Path<String>) -> Response {
    let claims = match verify(&state, &token) {
        Ok(claims) => claims,
        Err(rejection) => return rejection.into_response(),
    };
    let now = OffsetDateTime::now_utc();
    let (kind, source) = match claims.purpose {
        Purpose::Keep => (EventKind::Keep, Source::Link),
        Purpose::Restore => (EventKind::Restore, Source::Link),
        Purpose::Request => (EventKind::Restore, Source::Portal),
    };
    let event = Event {
        source,
        ..Event::new(
            Source::Link,
            &claims.nonce,
            kind,
            EventUser::new(claims.sub.clone(), None),
            claims.product,
            now,
        )
    };
    match state
        .store
        .consume_link(&claims.nonce, event.id.as_str())
        .await
    {
        Ok(true) => {}
        Ok(false) => return already_used(),
        Err(e) => return crate::http_error::ApiError::internal(&e).into_response(),
    }
    match state.bus.publish(&event).await {
        Ok(Published::New | Published::Duplicate) => {}
        Err(e) => {
            tracing::warn!(error = %e, "link redeemed but not accepted; the link stays usable");
            if let Err(e) = state.store.release_link(&claims.nonce).await {
                tracing::error!(error = %e, "could not release the link");
            }
            return page(
                StatusCode::SERVICE_UNAVAILABLE,
                "Please try again",
                "<p>Your request could not be taken right now. The link still works: try again in a minute.</p>",
            );
        }
    }
    tracing::info!(id = %event.id, user = %event.user_key(), "link redeemed");
    // Most events are handled within a second: show the outcome when it is there.
    for _ in 0..30 {
        if let Ok(Some(done)) = state.store.processed(event.id.as_str()) {
            return page(
                StatusCode::OK,
                "Done",
                &format!("<p>{}</p>", escape_html(&describe_outcome(&done.outcome))),
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    page(
        StatusCode::ACCEPTED,
        "Received",
        "<p>Your request is being handled. You will get an email about the outcome.</p>",
    )
}

/// A sentence for a processed outcome summary (`restored,approval_required`, …).
fn describe_outcome(summary: &str) -> String {
    let parts: Vec<&str> = summary.split(',').collect();
    let has = |o: &str| parts.contains(&o);
    if has("keep_recorded") {
        "Your licence will be kept.".into()
    } else if has("restored") {
        "Your licence is back. It may take a minute to show in the product.".into()
    } else if has("already_licensed") && parts.iter().all(|p| *p == "already_licensed") {
        "You already have this licence: nothing needed to change.".into()
    } else if has("approval_required") {
        "Your request is waiting for an administrator's approval. You will get an email.".into()
    } else if has("denied") {
        "Your organisation's rules do not allow restoring this licence automatically. Contact your administrator.".into()
    } else {
        "Your request was handled. You will get an email about the outcome.".into()
    }
}
