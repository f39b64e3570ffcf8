//! The frame of every console page (the organisation's name, the navigation, who is signed
//! in) and of the public pages people who come back see, with the headers they all carry: no
//! caching, no referrer, and a CSP that loads nothing from elsewhere.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::{DOCTYPE, Markup, PreEscaped, html};

use super::Console;
use crate::http::api::{Role, Session};

/// How the console and the public pages look, and where "Edit User" leads.
#[derive(Debug, Clone, Default)]
pub struct Look {
    pub organisation: String,
    pub logo_url: Option<String>,
    /// Atlassian administration's page of a user: `{account}` is replaced.
    pub edit_user: Option<String>,
}

impl Look {
    /// Where Atlassian administration shows this account, when known.
    pub fn edit_user_url(&self, account_id: &str) -> Option<String> {
        let encoded: String = url::form_urlencoded::byte_serialize(account_id.as_bytes()).collect();
        self.edit_user
            .as_ref()
            .map(|t| t.replace("{account}", &encoded))
    }

    fn csp(&self) -> String {
        let logo = self
            .logo_url
            .as_deref()
            .and_then(|u| url::Url::parse(u).ok())
            .map(|u| format!(" {}", u.origin().ascii_serialization()))
            .unwrap_or_default();
        format!(
            "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:{logo}; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
        )
    }
}

const NAV: [(&str, &str); 6] = [
    ("/console", "Overview"),
    ("/console/users", "Inactive Users"),
    ("/console/rules", "Rules"),
    ("/console/requests", "Requests"),
    ("/console/reclaim", "Reclamation"),
    ("/console/audit", "Audit"),
];

/// A console page: the frame, the navigation with `active` marked, and `body`.
pub fn page(
    console: &Console,
    session: &Session,
    active: &str,
    status: StatusCode,
    title: &str,
    body: Markup,
) -> Response {
    let look = &console.look;
    let role = match session.role {
        Role::Admin => "admin",
        Role::Viewer => "viewer",
    };
    let html = html! {
        (DOCTYPE)
        html lang="en" {
            (head(title, look))
            body {
                a.skip href="#main" { "Skip to the content" }
                header.top {
                    (brand(look, "/console"))
                    nav aria-label="Console" {
                        ul {
                            @for (href, label) in NAV {
                                li {
                                    @if href == active {
                                        a href=(href) aria-current="page" { (label) }
                                    } @else {
                                        a href=(href) { (label) }
                                    }
                                }
                            }
                        }
                    }
                    div.who {
                        span { (session.actor) " · " (role) }
                        form method="post" action="/console/sign-out" {
                            input type="hidden" name="csrf" value=(session.csrf);
                            button type="submit" { "Sign out" }
                        }
                    }
                }
                main #main {
                    h1 { (title) }
                    (body)
                }
                script src="/console/assets/console.js" {}
            }
        }
    };
    respond(status, html, look)
}

/// A page people who come back see (the portal, email links): the organisation's look.
pub fn public_page(look: &Look, status: StatusCode, title: &str, body: Markup) -> Response {
    let html = html! {
        (DOCTYPE)
        html lang="en" {
            (head(title, look))
            body.public {
                header.top { (brand(look, "/portal")) }
                main #main {
                    div.card {
                        h1 { (title) }
                        (body)
                    }
                }
            }
        }
    };
    respond(status, html, look)
}

/// A page before sign-in: the frame without navigation.
pub fn bare_page(look: &Look, status: StatusCode, title: &str, body: Markup) -> Response {
    let html = html! {
        (DOCTYPE)
        html lang="en" {
            (head(title, look))
            body {
                header.top { (brand(look, "/console")) }
                main.narrow #main {
                    h1 { (title) }
                    (body)
                }
            }
        }
    };
    respond(status, html, look)
}

fn head(title: &str, look: &Look) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) " — " (look.organisation) }
            link rel="stylesheet" href="/console/assets/console.css";
        }
    }
}

fn brand(look: &Look, home: &str) -> Markup {
    html! {
        a.brand href=(home) {
            @if let Some(logo) = &look.logo_url {
                img src=(logo) alt="";
            }
            (look.organisation)
        }
    }
}

fn respond(status: StatusCode, html: PreEscaped<String>, look: &Look) -> Response {
    let mut response = (status, html.into_string()).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if let Ok(csp) = HeaderValue::from_str(&look.csp()) {
        h.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    response
}
