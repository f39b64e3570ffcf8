//! The frame of every console page: the organisation's name, the navigation, who is signed
//! in (the head, the look and the headers are `http::page`'s, shared with the public pages).

use axum::http::StatusCode;
use axum::response::Response;
use maud::{DOCTYPE, Markup, html};

use super::Console;
use crate::http::api::{Role, Session};
use crate::http::page::{brand, head, respond};

const NAV: [(&str, &str); 7] = [
    ("/console", "Overview"),
    ("/console/users", "Inactive Users"),
    ("/console/rules", "Rules"),
    ("/console/requests", "Requests"),
    ("/console/reclaim", "Reclamation"),
    ("/console/audit", "Audit"),
    ("/console/sessions", "Sessions"),
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
        html lang=(look.spelling.locale()) {
            (head(title, look))
            body {
                a.skip href="#main" { "Skip to the content" }
                header.top {
                    (brand(look, "/console"))
                    button.nav-toggle type="button" aria-controls="console-nav" aria-expanded="false" { "Menu" }
                    nav #console-nav aria-label="Console" {
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
