//! Email links. `GET /v1/links/{token}` only verifies and shows a confirmation page (mail
//! scanners follow GET and HEAD); `POST` verifies again, then redeems the link once
//! (`flows::links`) and shows the outcome.

use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::html;
use time::OffsetDateTime;

use super::Public;
use crate::domain::Spelling;
use crate::flows::links::{self, Redeemed};
use crate::http::error::ApiError;
use crate::http::page::{Look, public as page};
use crate::links::{Claims, Purpose, TokenError, mask};

/// What the link does, in the organisation's spelling: "Keep your Jira Software licence".
fn what(claims: &Claims, sp: Spelling) -> String {
    let product = claims
        .product
        .map_or("your Atlassian products", |p| p.name());
    let what = match claims.purpose {
        Purpose::Keep => format!("Keep your {product} licence"),
        Purpose::Restore => format!("Give back your {product} licence"),
        Purpose::Request | Purpose::MailedRequest => format!("Confirm your request for {product}"),
    };
    sp.say(&what).into_owned()
}

/// Why a link is not used.
enum Rejection {
    NotEnabled,
    Token(TokenError),
}

impl Rejection {
    fn respond(self, look: &Look) -> Response {
        match self {
            Rejection::NotEnabled => page(
                look,
                StatusCode::NOT_FOUND,
                "Links are not enabled",
                html! { p { "This reinstate does not issue email links." } },
            ),
            Rejection::Token(e) => {
                let status = if e == TokenError::Expired {
                    StatusCode::GONE
                } else {
                    StatusCode::BAD_REQUEST
                };
                let body = html! {
                    p { (e) ". Nothing was changed." }
                    p { "Ask for a new link, or contact your administrator." }
                };
                page(look, status, "This link cannot be used", body)
            }
        }
    }
}

fn verify(state: &Public, token: &str) -> Result<Claims, Rejection> {
    let settings = state.links.as_ref().ok_or(Rejection::NotEnabled)?;
    settings
        .keys
        .verify(token, OffsetDateTime::now_utc().unix_timestamp())
        .map_err(Rejection::Token)
}

/// `GET /v1/links/{token}` (and HEAD): verifies and asks for confirmation; changes nothing.
pub(super) async fn confirm(State(state): State<Public>, Path(token): Path<String>) -> Response {
    let claims = match verify(&state, &token) {
        Ok(claims) => claims,
        Err(rejection) => return rejection.respond(&state.look),
    };
    match links::used(state.link_uses.as_ref(), &claims.nonce).await {
        Ok(true) => return already_used(&state.look),
        Ok(false) => {}
        Err(e) => return ApiError::from(e).into_response(),
    }
    let sp = state.look.spelling;
    let title = what(&claims, sp);
    let explain = match claims.purpose {
        Purpose::Keep => "Your licence will be kept when inactive licences are reclaimed.",
        Purpose::Restore => {
            "Your licence will be restored if your organisation's rules allow it, or sent to an administrator for approval."
        }
        Purpose::Request | Purpose::MailedRequest => {
            "Your request will be handled by your organisation's rules, or sent to an administrator for approval."
        }
    };
    let body = html! {
        p { "For " strong { (mask(&claims.sub)) } "." }
        p { (sp.say(explain)) }
        form method="post" { button type="submit" { (title) } }
        p { small { "If you did not ask for this, ignore this page: nothing happens until the button is pressed." } }
    };
    page(&state.look, StatusCode::OK, &title, body)
}

fn already_used(look: &Look) -> Response {
    page(
        look,
        StatusCode::OK,
        "This link was already used",
        html! { p { "It works once. Your request was received the first time; you will get an email about the outcome." } },
    )
}

/// `POST /v1/links/{token}`: verifies, redeems the link (once), shows the result.
pub(super) async fn redeem(State(state): State<Public>, Path(token): Path<String>) -> Response {
    let claims = match verify(&state, &token) {
        Ok(claims) => claims,
        Err(rejection) => return rejection.respond(&state.look),
    };
    let id = match links::redeem(state.link_uses.as_ref(), &state.intake, &claims).await {
        Redeemed::Accepted(id) => id,
        Redeemed::AlreadyUsed => return already_used(&state.look),
        Redeemed::TryAgain => {
            return page(
                &state.look,
                StatusCode::SERVICE_UNAVAILABLE,
                "Please try again",
                html! { p { "Your request could not be taken right now. The link still works: try again in a minute." } },
            );
        }
    };
    let done = match &state.store {
        Some(store) => links::outcome(store, &id, Duration::from_secs(3)).await,
        None => None,
    };
    match done {
        Some(done) => page(
            &state.look,
            StatusCode::OK,
            "Done",
            html! { p { (state.look.spelling.say(describe_outcome(&done))) } },
        ),
        None => page(
            &state.look,
            StatusCode::ACCEPTED,
            "Received",
            html! { p { "Your request is being handled. You will get an email about the outcome." } },
        ),
    }
}

/// A sentence for a processed outcome summary (`restored,approval_required`, …).
fn describe_outcome(summary: &str) -> &'static str {
    let parts: Vec<&str> = summary.split(',').collect();
    let has = |o: &str| parts.contains(&o);
    if has("keep_recorded") {
        "Your licence will be kept."
    } else if has("restored") {
        "Your licence is back. It may take a minute to show in the product."
    } else if has("already_licensed") && parts.iter().all(|p| *p == "already_licensed") {
        "You already have this licence: nothing needed to change."
    } else if has("approval_required") {
        "Your request is waiting for an administrator's approval. You will get an email."
    } else if has("denied") {
        "Your organisation's rules do not allow restoring this licence automatically. Contact your administrator."
    } else {
        "Your request was handled. You will get an email about the outcome."
    }
}
