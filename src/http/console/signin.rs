//! Signing in with an admin or viewer token (it opens a session, its cookie the browser's), and
//! out (the session ended in the store, so a copy of the cookie stops working too).

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use serde::Deserialize;

use super::{Console, Signed};
use crate::http::page::bare as bare_page;

#[derive(Deserialize, Default)]
pub struct Next {
    next: Option<String>,
}

/// Where to go after signing in: a console page, never elsewhere, and nothing that could not
/// be a `Location` header (control characters, CR/LF) or a browser reads as another host (`\`).
fn target(next: Option<&str>) -> String {
    next.filter(|n| n.starts_with("/console") && !n.starts_with("//"))
        .filter(|n| n.chars().all(|c| c.is_ascii_graphic()) && !n.contains('\\'))
        .unwrap_or("/console")
        .to_string()
}

fn sign_in_form(
    console: &Console,
    status: StatusCode,
    next: &str,
    error: Option<&str>,
) -> Response {
    let body = html! {
        @if let Some(e) = error {
            div.message.error role="alert" { (e) }
        }
        p.muted { "Sign in with an admin or viewer token (the sandbox prints its admin token when it starts)." }
        form.card method="post" action="/console/sign-in" {
            input type="hidden" name="next" value=(next);
            label for="token" { "Token" }
            input #token type="password" name="token" autocomplete="current-password" required size="48";
            p { button.primary type="submit" { "Sign in" } }
        }
    };
    bare_page(&console.look, status, "Sign in", body)
}

/// `GET /console/sign-in`
pub async fn form_page(State(console): State<Console>, Query(q): Query<Next>) -> Response {
    sign_in_form(&console, StatusCode::OK, &target(q.next.as_deref()), None)
}

/// `POST /console/sign-in`: the token in exchange for a session cookie.
pub async fn sign_in(
    State(console): State<Console>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Response {
    let Ok(bytes) = crate::http::body::read_body(&headers, body, 8 * 1024).await else {
        return sign_in_form(
            &console,
            StatusCode::PAYLOAD_TOO_LARGE,
            "/console",
            Some("That was too long."),
        );
    };
    let fields: Vec<(String, String)> = url::form_urlencoded::parse(&bytes).into_owned().collect();
    let field = |k: &str| fields.iter().find(|(n, _)| n == k).map(|(_, v)| v.trim());
    let next = target(field("next"));
    if !same_origin(&headers) {
        return sign_in_form(
            &console,
            StatusCode::FORBIDDEN,
            &next,
            Some("Sign in from this console's own page."),
        );
    }
    let token = field("token").unwrap_or_default();
    let Some(who) = console.tokens.verify(token) else {
        return sign_in_form(
            &console,
            StatusCode::UNAUTHORIZED,
            &next,
            Some("That token is not valid."),
        );
    };
    let cookie = match console.tokens.sessions.open(&who, token, peer, &headers) {
        Ok(cookie) => cookie,
        Err(e) => {
            tracing::error!(error = %e, "a console session could not be opened");
            return sign_in_form(
                &console,
                StatusCode::SERVICE_UNAVAILABLE,
                &next,
                Some("The session could not be recorded; try again in a moment."),
            );
        }
    };
    let mut r = Redirect::to(&next).into_response();
    if let Ok(cookie) = HeaderValue::from_str(&cookie) {
        r.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    tracing::info!(actor = %who.actor, "console sign-in");
    r
}

/// A browser names the page a form came from: it must be this host.
fn same_origin(headers: &HeaderMap) -> bool {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    match headers.get(header::ORIGIN).map(|o| o.to_str()) {
        None => true,
        Some(Ok(origin)) => url::Url::parse(origin)
            .ok()
            .and_then(|u| {
                Some(format!(
                    "{}{}",
                    u.host_str()?,
                    u.port().map(|p| format!(":{p}")).unwrap_or_default()
                ))
            })
            .is_some_and(|o| Some(o.as_str()) == host),
        Some(Err(_)) => false,
    }
}

/// `POST /console/sign-out`
pub async fn sign_out(
    State(console): State<Console>,
    Signed(session): Signed,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Response {
    let bytes = crate::http::body::read_body(&headers, body, 8 * 1024)
        .await
        .unwrap_or_default();
    let csrf = url::form_urlencoded::parse(&bytes)
        .find(|(k, _)| k == "csrf")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    if !bool::from(subtle::ConstantTimeEq::ct_eq(
        csrf.as_bytes(),
        session.csrf.as_bytes(),
    )) {
        return super::refused(&console, &session, "This form expired; reload the page.");
    }
    // Ended in the store first: a copy of the cookie stops working too.
    if let Err(e) = console.tokens.sessions.end(&session.id).await {
        tracing::error!(error = %e, "a console session could not be ended");
        return super::failed(&console, &session, &crate::flows::FlowError::Store(e));
    }
    tracing::info!(actor = %session.actor, "console sign-out");
    let mut r = Redirect::to("/console/sign-in").into_response();
    if let Ok(cookie) = HeaderValue::from_str(&console.tokens.sessions.forget()) {
        r.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    r
}
