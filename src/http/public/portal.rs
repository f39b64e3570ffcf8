//! reinstate's own portal: `GET /portal` shows a small form; `POST /portal` always answers the
//! same "check your inbox" page, whatever the address, and leaves the rest to a worker (which
//! emails a confirmation link only to a directory user). CSRF-protected, rate limited per client
//! address and per email address, body limited.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;

use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use hmac::{Hmac, Mac};
use maud::{Markup, html};
use rand::RngCore;
use sha2::Sha256;
use time::OffsetDateTime;

use serde::Deserialize;

use super::Public;
use crate::domain::{Email, Event, EventKind, EventUser, Problems, Product, Source};
use crate::http::body::read_body;
use crate::http::client::{ClientAddress, cookie};
use crate::http::page::{Look, public as page};

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PortalConfig {
    /// Serve `/portal` (it also needs email links and SMTP).
    pub enabled: bool,
    /// Asks accepted per client address per minute (more get 429).
    pub per_ip_per_minute: u32,
    /// Confirmation emails per email address per hour (more are silently not sent).
    pub per_address_per_hour: u32,
    /// Header carrying the client address behind a proxy (e.g. "x-forwarded-for"); absent =
    /// the connection's address.
    pub client_ip_header: Option<String>,
    /// How many proxies in front of reinstate append to that header: the client address is
    /// taken that many entries from the right, where a client cannot write.
    pub trusted_proxies: usize,
}

impl Default for PortalConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            per_ip_per_minute: 10,
            per_address_per_hour: 3,
            client_ip_header: None,
            trusted_proxies: 1,
        }
    }
}

impl PortalConfig {
    /// How requests' clients are found (the connection, or the proxies' header).
    pub fn clients(&self) -> ClientAddress {
        ClientAddress::new(self.client_ip_header.as_deref(), self.trusted_proxies)
    }

    pub fn check(&self, problems: &mut Problems) {
        if self.per_ip_per_minute == 0 || self.per_address_per_hour == 0 {
            problems.add_sentence(
                "portal.per_ip_per_minute and portal.per_address_per_hour: must be at least 1",
            );
        }
        if self.client_ip_header.is_some() && !(1..=16).contains(&self.trusted_proxies) {
            problems.add(
                "portal.trusted_proxies",
                "between 1 and 16: how many proxies in front append to client_ip_header",
            );
        }
    }
}

/// Largest form accepted.
const MAX_FORM: usize = 8 * 1024;
/// How long a form stays valid.
const FORM_TTL_SECS: i64 = 2 * 3600;
const COOKIE: &str = "reinstate_portal";

pub struct Portal {
    /// Signs the forms' CSRF tokens: derived from the link keys, so a form shown by one
    /// receiver is accepted by another.
    csrf_key: Hmac<Sha256>,
    per_ip: DefaultKeyedRateLimiter<IpAddr>,
    per_address: DefaultKeyedRateLimiter<String>,
    clients: ClientAddress,
    /// `scheme://host[:port]` of `server.public_url`: a form posted from elsewhere is refused.
    origin: String,
    secure_cookie: bool,
    /// When idle rate-limit keys were last forgotten.
    shrunk: std::sync::Mutex<std::time::Instant>,
    /// The organisation's look.
    look: std::sync::Arc<Look>,
}

impl Portal {
    pub fn new(
        config: &PortalConfig,
        public_url: &str,
        look: std::sync::Arc<Look>,
        key: [u8; 32],
    ) -> Result<Portal, Problems> {
        let mut problems = Problems::default();
        config.check(&mut problems);
        let (Some(per_minute), Some(per_hour), Ok(csrf_key)) = (
            NonZeroU32::new(config.per_ip_per_minute),
            NonZeroU32::new(config.per_address_per_hour),
            Hmac::new_from_slice(&key),
        ) else {
            return Err(problems);
        };
        Ok(Portal {
            csrf_key,
            per_ip: RateLimiter::keyed(Quota::per_minute(per_minute)),
            per_address: RateLimiter::keyed(Quota::per_hour(per_hour)),
            clients: config.clients(),
            origin: url::Url::parse(public_url)
                .map(|u| u.origin().ascii_serialization())
                .unwrap_or_default(),
            secure_cookie: public_url.starts_with("https://"),
            shrunk: std::sync::Mutex::new(std::time::Instant::now()),
            look,
        })
    }

    fn mac(&self, ts: &str, nonce: &str) -> Hmac<Sha256> {
        let mut mac = self.csrf_key.clone();
        mac.update(ts.as_bytes());
        mac.update(b".");
        mac.update(nonce.as_bytes());
        mac
    }

    /// A form token and the cookie value it is bound to.
    fn issue(&self) -> (String, String) {
        let mut bytes = [0u8; 16];
        rand::rng().fill_bytes(&mut bytes);
        let nonce = hex::encode(bytes);
        let ts = OffsetDateTime::now_utc().unix_timestamp().to_string();
        let sig = URL_SAFE_NO_PAD.encode(self.mac(&ts, &nonce).finalize().into_bytes());
        (format!("{ts}.{nonce}.{sig}"), nonce)
    }

    /// The form token is ours as issued (its time in plain digits, signed as written), recent,
    /// and matches the browser's cookie.
    fn check(&self, token: &str, cookie: Option<&str>) -> bool {
        let mut parts = token.split('.');
        let (Some(ts), Some(nonce), Some(sig), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return false;
        };
        let canonical = !ts.is_empty()
            && ts.len() <= 12
            && ts.bytes().all(|b| b.is_ascii_digit())
            && !(ts.len() > 1 && ts.starts_with('0'));
        let (true, Ok(at), Ok(sig)) = (canonical, ts.parse::<i64>(), URL_SAFE_NO_PAD.decode(sig))
        else {
            return false;
        };
        let age = OffsetDateTime::now_utc().unix_timestamp() - at;
        self.mac(ts, nonce).verify_slice(&sig).is_ok()
            && (0..=FORM_TTL_SECS).contains(&age)
            && cookie == Some(nonce)
    }

    /// A browser names the page a form was posted from; when it does, it must be this one.
    fn same_origin(&self, headers: &HeaderMap) -> bool {
        match headers.get(header::ORIGIN).map(|o| o.to_str()) {
            None => true,
            Some(Ok(origin)) => origin.eq_ignore_ascii_case(&self.origin),
            Some(Err(_)) => false,
        }
    }

    /// Forgets idle rate-limit keys, at most hourly, so that the limiters stay small.
    fn shrink(&self) {
        let mut last = self.shrunk.lock().unwrap_or_else(|e| e.into_inner());
        if last.elapsed() >= std::time::Duration::from_secs(3600) {
            *last = std::time::Instant::now();
            self.per_ip.retain_recent();
            self.per_address.retain_recent();
        }
    }
}

fn form(token: &str, error: Option<&str>) -> Markup {
    html! {
        @if let Some(e) = error { p { strong { (e) } } }
        p { "Lost access to an Atlassian product? Ask here. We will email you a link to confirm." }
        form method="post" action="/portal" {
            input type="hidden" name="csrf" value=(token);
            label { "Work email" input type="email" name="email" required maxlength="254" autocomplete="email"; }
            label { "Product" select name="product" {
                option value="" { "everything I had" }
                @for p in Product::ALL { option value=(p.key()) { (p.key()) } }
            } }
            label { "Why (optional)" textarea name="reason" maxlength="500" rows="3" {} }
            p { button type="submit" { "Ask for access" } }
        }
    }
}

fn with_cookie(mut response: Response, portal: &Portal, nonce: &str) -> Response {
    let secure = if portal.secure_cookie { "; Secure" } else { "" };
    let cookie = format!(
        "{COOKIE}={nonce}; Path=/portal; Max-Age={FORM_TTL_SECS}; HttpOnly; SameSite=Strict{secure}"
    );
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}

fn fresh_form(portal: &Portal, status: StatusCode, error: Option<&str>) -> Response {
    let (token, nonce) = portal.issue();
    with_cookie(
        page(&portal.look, status, "Ask for access", form(&token, error)),
        portal,
        &nonce,
    )
}

fn disabled(look: &Look) -> Response {
    page(
        look,
        StatusCode::NOT_FOUND,
        "The portal is not enabled",
        html! { p { "Ask your administrator for access." } },
    )
}

/// `GET /portal`
pub(super) async fn show(State(state): State<Public>) -> Response {
    match &state.portal {
        Some(portal) => fresh_form(portal, StatusCode::OK, None),
        None => disabled(&state.look),
    }
}

/// The page every accepted ask gets, whether or not the address belongs to anyone.
fn check_your_inbox(look: &Look) -> Response {
    page(
        look,
        StatusCode::OK,
        "Check your inbox",
        html! { p { (look.spelling.say("If this address belongs to a user of your organisation's Atlassian products, a message with a link to confirm the request is on its way. The link works once and expires.")) } },
    )
}

/// `POST /portal`
pub(super) async fn ask(
    State(state): State<Public>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Some(portal) = state.portal.as_ref() else {
        return disabled(&state.look);
    };
    portal.shrink();
    if portal
        .per_ip
        .check_key(&portal.clients.of(peer, &headers))
        .is_err()
    {
        return page(
            &portal.look,
            StatusCode::TOO_MANY_REQUESTS,
            "Too many requests",
            html! { p { "Please wait a minute and try again." } },
        );
    }
    let Ok(bytes) = read_body(&headers, body, MAX_FORM).await else {
        return page(
            &portal.look,
            StatusCode::PAYLOAD_TOO_LARGE,
            "Too long",
            html! { p { "That was more than the form holds." } },
        );
    };
    let (email, product, reason) = match read_form(portal, &headers, &bytes) {
        Ok(form) => form,
        Err(again) => return *again,
    };
    // Per address: the same answer, but no more emails to that inbox for now.
    if portal
        .per_address
        .check_key(&email.as_str().to_string())
        .is_err()
    {
        tracing::info!(user = %email.user_key(), "portal ask over the per-address limit; not sent");
        return check_your_inbox(&portal.look);
    }
    let mut nonce = [0u8; 12];
    rand::rng().fill_bytes(&mut nonce);
    let event = Event {
        reason: (!reason.is_empty()).then_some(reason),
        ..Event::new(
            Source::Portal,
            &hex::encode(nonce),
            EventKind::Ask,
            EventUser::new(email, None),
            product,
            OffsetDateTime::now_utc(),
        )
    };
    match state.intake.accept(event).await {
        Ok(_) => check_your_inbox(&portal.look),
        Err(e) => {
            tracing::warn!(error = %e, "portal ask not accepted");
            page(
                &portal.look,
                StatusCode::SERVICE_UNAVAILABLE,
                "Please try again",
                html! { p { "Your request could not be taken right now. Please try again in a minute." } },
            )
        }
    }
}

/// The form's email, product and reason, once its CSRF token checks out; else the form again
/// with what to fix.
fn read_form(
    portal: &Portal,
    headers: &HeaderMap,
    bytes: &[u8],
) -> Result<(Email, Option<Product>, String), Box<Response>> {
    let fields: std::collections::HashMap<String, String> =
        url::form_urlencoded::parse(bytes).into_owned().collect();
    let field = |k: &str| fields.get(k).map(|v| v.trim()).unwrap_or_default();
    let again = |status, why| Box::new(fresh_form(portal, status, Some(why)));
    if !portal.same_origin(headers) || !portal.check(field("csrf"), cookie(headers, COOKIE)) {
        let why = "This form expired or was not sent from this page. Please try again.";
        return Err(again(StatusCode::FORBIDDEN, why));
    }
    let Ok(email) = Email::parse(field("email")) else {
        let why = "Please enter a valid email address.";
        return Err(again(StatusCode::BAD_REQUEST, why));
    };
    let product = match field("product") {
        "" => None,
        key => match Product::from_key(key) {
            Some(p) => Some(p),
            None => {
                let why = "Please choose a product from the list.";
                return Err(again(StatusCode::BAD_REQUEST, why));
            }
        },
    };
    let reason: String = field("reason").chars().take(500).collect();
    Ok((email, product, reason))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn portal_with(key: u8) -> Portal {
        Portal::new(
            &PortalConfig::default(),
            "http://x",
            Default::default(),
            [key; 32],
        )
        .expect("portal")
    }

    #[test]
    fn a_form_token_is_bound_to_its_cookie_and_the_shared_key() {
        let p = portal_with(1);
        let (token, nonce) = p.issue();
        assert!(p.check(&token, Some(&nonce)));
        assert!(!p.check(&token, None), "no cookie");
        assert!(!p.check(&token, Some("0123")), "another browser's cookie");
        assert!(
            portal_with(1).check(&token, Some(&nonce)),
            "another receiver with the same link keys"
        );
        assert!(!portal_with(2).check(&token, Some(&nonce)), "other keys");
        let (ts, rest) = token.split_once('.').expect("ts");
        let old = format!(
            "{}.{rest}",
            ts.parse::<i64>().expect("ts") - FORM_TTL_SECS - 1
        );
        assert!(!p.check(&old, Some(&nonce)), "re-dated token");
        assert!(!p.check("garbage", Some(&nonce)));
        // The same number written otherwise is not the token that was signed.
        for other in [format!("+{ts}"), format!("0{ts}"), format!(" {ts}")] {
            let respelled = format!("{other}.{rest}");
            assert!(!p.check(&respelled, Some(&nonce)), "{respelled}");
        }
    }

    #[test]
    fn forms_posted_from_another_origin_are_refused() {
        let p = Portal::new(
            &PortalConfig::default(),
            "https://reinstate.example.com/",
            Default::default(),
            [0; 32],
        )
        .expect("portal");
        let with = |origin: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::ORIGIN, origin.parse().expect("origin"));
            h
        };
        assert!(
            p.same_origin(&HeaderMap::new()),
            "no Origin: the token decides"
        );
        assert!(p.same_origin(&with("https://reinstate.example.com")));
        assert!(!p.same_origin(&with("https://evil.example.net")));
        assert!(!p.same_origin(&with("http://reinstate.example.com")));
        assert!(!p.same_origin(&with("null")));
    }
}
