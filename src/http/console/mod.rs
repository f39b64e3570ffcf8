//! The admin console under `/console`: server-rendered HTML (maud, checked at compile time,
//! every value escaped), our own CSS and a little of our own JavaScript, forms that work
//! without it. Every page is built from the same use-cases (`flows`) as the API. Sign-in turns
//! an admin or viewer token into a session cookie; every form carries the session's CSRF
//! token; a viewer sees no write controls and its writes are refused here too.

use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use crate::flows::{Context, Intake};
use crate::http::api::{Role, Session, Tokens};
use crate::http::routes::Routes;

mod audit;
mod bulk;
mod charts;
mod fields;
mod filter;
mod jobs;
mod layout;
mod overview;
mod policies;
mod reclaim;
mod requests;
pub mod rules;
mod schedules;
mod sessions;
mod signin;
mod table;
mod user;
mod users;
mod views;
mod words;

use crate::http::page::Look;

/// What the console uses.
#[derive(Clone)]
pub struct Console {
    pub flows: Arc<Context>,
    pub intake: Intake,
    pub tokens: Tokens,
    pub look: Arc<Look>,
}

impl FromRef<Console> for Tokens {
    fn from_ref(c: &Console) -> Tokens {
        c.tokens.clone()
    }
}

/// The console's pages (HTML, outside the OpenAPI document).
pub fn router(console: Console) -> Routes {
    Routes::default()
        .route("/", get(|| async { Redirect::to("/console") }))
        .route("/console/assets/console.css", get(css))
        .route("/console/assets/console.js", get(js))
        .route(
            "/console/sign-in",
            get(signin::form_page).post(signin::sign_in),
        )
        .route("/console/sign-out", post(signin::sign_out))
        .route("/console", get(overview::page))
        .route("/console/sync", post(overview::sync_now))
        .route("/console/users", get(users::page))
        .route("/console/users/bulk", post(bulk::bulk))
        .route("/console/users/views", post(views::save))
        .route("/console/users/views/delete", post(views::delete))
        .route("/console/users/{account}", get(user::page))
        .route("/console/jobs/{id}", get(jobs::page))
        .route("/console/jobs/{id}/undo", post(jobs::undo))
        .route("/console/jobs/{id}/run", post(jobs::run_preview))
        .route("/console/rules", get(rules::page).post(rules::submit))
        .route("/console/requests", get(requests::page))
        .route("/console/requests/{id}", post(requests::decide))
        .route("/console/reclaim", get(reclaim::page).post(reclaim::submit))
        .route("/console/audit", get(audit::page))
        .route("/console/sessions", get(sessions::page).post(sessions::end))
        .route("/console/{*rest}", axum::routing::any(no_such_page))
        .method_not_allowed_fallback(wrong_method)
        .with_state(console)
}

async fn css() -> Response {
    asset(
        "text/css; charset=utf-8",
        include_str!("assets/console.css"),
    )
}

async fn js() -> Response {
    asset(
        "text/javascript; charset=utf-8",
        include_str!("assets/console.js"),
    )
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    r
}

/// A signed-in console user; otherwise the sign-in page, coming back here after.
pub struct Signed(pub Session);

impl FromRequestParts<Console> for Signed {
    type Rejection = Response;
    async fn from_request_parts(parts: &mut Parts, state: &Console) -> Result<Signed, Response> {
        match state.tokens.sessions.read(&parts.headers) {
            Some(session) => Ok(Signed(session)),
            None => {
                let back = parts
                    .uri
                    .path_and_query()
                    .map(|p| p.as_str())
                    .filter(|p| p.starts_with("/console"))
                    .unwrap_or("/console");
                let to = format!(
                    "/console/sign-in?next={}",
                    url::form_urlencoded::byte_serialize(back.as_bytes()).collect::<String>()
                );
                Err(Redirect::to(&to).into_response())
            }
        }
    }
}

/// A form posted by a signed-in admin, with the session's CSRF token: its fields.
pub struct AdminForm {
    pub session: Session,
    pub fields: Vec<(String, String)>,
}

impl AdminForm {
    /// The first value of a field, trimmed ("" when absent).
    pub fn get(&self, name: &str) -> &str {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.trim())
    }

    /// Every value of a field (checkboxes, multiple selects).
    pub fn all(&self, name: &str) -> Vec<String> {
        self.fields
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .collect()
    }
}

impl axum::extract::FromRequest<Console> for AdminForm {
    type Rejection = Response;
    async fn from_request(
        req: axum::extract::Request,
        state: &Console,
    ) -> Result<AdminForm, Response> {
        let (mut parts, body) = req.into_parts();
        let Signed(session) = Signed::from_request_parts(&mut parts, state).await?;
        if session.role != Role::Admin {
            return Err(refused(
                state,
                &session,
                "A viewer can look, not change anything.",
            ));
        }
        let bytes = crate::http::body::read_body(&parts.headers, body, 4 * 1024 * 1024)
            .await
            .map_err(IntoResponse::into_response)?;
        let fields: Vec<(String, String)> =
            url::form_urlencoded::parse(&bytes).into_owned().collect();
        let csrf = fields
            .iter()
            .find(|(k, _)| k == "csrf")
            .map_or("", |(_, v)| v.as_str());
        let same = subtle::ConstantTimeEq::ct_eq(csrf.as_bytes(), session.csrf.as_bytes());
        if !bool::from(same) {
            return Err(refused(
                state,
                &session,
                "This form expired or did not come from this console. Reload the page and try again.",
            ));
        }
        Ok(AdminForm { session, fields })
    }
}

/// `404` for a console address that is no page: a console page saying so.
async fn no_such_page(State(console): State<Console>, Signed(session): Signed) -> Response {
    let body = maud::html! {
        div.message.error role="alert" { "There is no console page at this address." }
        p { a href="/console" { "Go to the Overview" } }
    };
    layout::page(
        &console,
        &session,
        "",
        StatusCode::NOT_FOUND,
        "Page not found",
        body,
    )
}

/// `405` for a console page asked with a method it does not take (a form's address visited,
/// a page posted to): a console page saying so, with the `Allow` header.
async fn wrong_method(
    State(console): State<Console>,
    method: axum::http::Method,
    Signed(session): Signed,
) -> Response {
    let (title, why) = if method == axum::http::Method::GET {
        (
            "Not a page to visit",
            "This address takes a form sent from a console page; it is not a page to visit.",
        )
    } else {
        ("Not allowed here", "This page cannot take that request.")
    };
    let body = maud::html! {
        div.message.error role="alert" { (why) }
        p { a href="/console" { "Go to the Overview" } }
    };
    layout::page(
        &console,
        &session,
        "",
        StatusCode::METHOD_NOT_ALLOWED,
        title,
        body,
    )
}

/// A `403` page.
fn refused(console: &Console, session: &Session, why: &str) -> Response {
    let body = maud::html! { div.message.error role="alert" { (why) } };
    layout::page(
        console,
        session,
        "",
        StatusCode::FORBIDDEN,
        "Not allowed",
        body,
    )
}

/// A page answering an error of a use-case.
fn failed(console: &Console, session: &Session, e: &crate::flows::FlowError) -> Response {
    let status = match e {
        crate::flows::FlowError::Invalid { .. } => StatusCode::BAD_REQUEST,
        crate::flows::FlowError::NotFound { .. } => StatusCode::NOT_FOUND,
        crate::flows::FlowError::Conflict { .. } => StatusCode::CONFLICT,
        crate::flows::FlowError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        crate::flows::FlowError::Store(err) => {
            tracing::error!(error = %err, "console page failed");
            StatusCode::INTERNAL_SERVER_ERROR
        }
    };
    let text = match e {
        crate::flows::FlowError::Store(_) => "Something went wrong; it is in the log.".to_string(),
        other => other.to_string(),
    };
    let body =
        maud::html! { div.message.error role="alert" { (console.look.spelling.say(&text)) } };
    layout::page(console, session, "", status, "That did not work", body)
}

/// Dates as admins read them.
pub(crate) fn day(t: Option<time::OffsetDateTime>) -> String {
    t.map_or_else(|| "never".to_string(), |t| t.date().to_string())
}

/// When a product was last used, in words: a date, "never", or — when nothing reports its
/// activity — that it is unknown.
pub(crate) fn last_used(p: &crate::flows::inventory::query::ProductRow) -> String {
    match (p.last_active, p.activity_known) {
        (Some(t), _) => t.date().to_string(),
        (None, true) => "never".into(),
        (None, false) => "never seen by reinstate, no activity data".into(),
    }
}

/// Date and time, to the minute, UTC.
pub(crate) fn when(t: time::OffsetDateTime) -> String {
    format!("{} {:02}:{:02} UTC", t.date(), t.hour(), t.minute())
}
