//! Who is signed in to the console: each open session with its role, since when, its last use,
//! where it signed in from and its browser; an admin ends any of them at once.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;

use super::layout::page as frame;
use super::table::{badge, table};
use super::{AdminForm, Console, Signed, failed, when};
use crate::flows::FlowError;
use crate::http::api::Role;

fn at(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .map(when)
        .unwrap_or_default()
}

/// `GET /console/sessions`
pub async fn page(State(console): State<Console>, Signed(session): Signed) -> Response {
    let open = match console.tokens.sessions.open_ones().await {
        Ok(open) => open,
        Err(e) => return failed(&console, &session, &FlowError::Store(e)),
    };
    let admin = session.role == Role::Admin;
    let head = [
        "Who",
        "Role",
        "Signed in",
        "Last used",
        "Ends at the latest",
        "From",
        "Browser",
        "",
    ];
    let body = html! {
        p.muted {
            "A session ends when it is signed out or ended here, after "
            "server.session_idle_minutes without use, server.session_hours after sign-in, and "
            "when the token it was opened with is removed from the configuration (at the next start)."
        }
        (table("Sessions", &head, Some("No one is signed in."), open.iter().map(|s| html! {
            tr {
                td { (s.actor) }
                td { (badge(&s.role)) }
                td { (at(s.created_ms)) }
                td { (at(s.last_used_ms)) }
                td { (at(s.expires_ms)) }
                td { (s.client) }
                td.agent { (s.agent) }
                td {
                    @if s.id == session.id {
                        "This session"
                    } @else if admin {
                        form.row-actions method="post" action="/console/sessions" {
                            input type="hidden" name="csrf" value=(session.csrf);
                            input type="hidden" name="id" value=(s.id);
                            button type="submit" aria-label={ "End the session of " (s.actor) " signed in " (at(s.created_ms)) } { "End" }
                        }
                    }
                }
            }
        })))
    };
    frame(
        &console,
        &session,
        "/console/sessions",
        StatusCode::OK,
        "Sessions",
        body,
    )
}

/// `POST /console/sessions`: an admin ends a session.
pub async fn end(State(console): State<Console>, form: AdminForm) -> Response {
    let id = form.get("id");
    match console.tokens.sessions.end(id).await {
        Ok(ended) => {
            if ended {
                tracing::info!(actor = %form.session.actor, session = %id.get(..12).unwrap_or(id), "console session ended by an admin");
            }
            Redirect::to("/console/sessions").into_response()
        }
        Err(e) => failed(&console, &form.session, &FlowError::Store(e)),
    }
}
