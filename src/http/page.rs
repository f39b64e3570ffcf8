//! Every HTML page reinstate serves, console and public alike, is framed here: the document
//! head, the organisation's look (name, logo) and the headers each page carries — no caching,
//! no referrer beyond this site, and a CSP that loads nothing from elsewhere. Pages are maud
//! templates, so every value shown is escaped by the compiler's template, never by hand.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::{DOCTYPE, Markup, PreEscaped, html};

use crate::domain::Spelling;

/// How the console and the public pages look, and where "Edit User" leads.
#[derive(Debug, Clone, Default)]
pub struct Look {
    pub organisation: String,
    pub logo_url: Option<String>,
    /// Atlassian administration's page of a user: `{account}` is replaced.
    pub edit_user: Option<String>,
    /// How reinstate's own phrases are spelt (`server.locale`).
    pub spelling: Spelling,
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

/// A page people who come back see (the portal, email links): the organisation's look, the
/// content in one card.
pub fn public(look: &Look, status: StatusCode, title: &str, body: Markup) -> Response {
    let html = html! {
        (DOCTYPE)
        html lang=(look.spelling.locale()) {
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

/// A console page before sign-in: the frame without navigation.
pub fn bare(look: &Look, status: StatusCode, title: &str, body: Markup) -> Response {
    let html = html! {
        (DOCTYPE)
        html lang=(look.spelling.locale()) {
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

/// The document head every page shares.
pub fn head(title: &str, look: &Look) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) " — " (look.organisation) }
            link rel="stylesheet" href="/console/assets/console.css";
        }
    }
}

/// The organisation's name (and logo), leading `home`.
pub fn brand(look: &Look, home: &str) -> Markup {
    html! {
        a.brand href=(home) {
            @if let Some(logo) = &look.logo_url {
                img src=(logo) alt="";
            }
            (look.organisation)
        }
    }
}

/// A rendered page with the headers every page carries.
pub fn respond(status: StatusCode, html: PreEscaped<String>, look: &Look) -> Response {
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
