//! Requests waiting for an admin: approve or deny with a reason; and what became of the others.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;

use super::layout::page as frame;
use super::table::{badge, slug, table};
use super::{AdminForm, Console, Signed, failed, when, words};
use crate::flows::FlowError;
use crate::flows::{queries, requests};
use crate::http::api::{Role, Session};
use crate::store::RequestState;

/// `GET /console/requests`
pub async fn page(State(console): State<Console>, Signed(session): Signed) -> Response {
    render(&console, &session, None)
}

/// The page; `error`: a decision refused, shown at its request's form (id, why).
fn render(console: &Console, session: &Session, error: Option<(&str, &str)>) -> Response {
    let all = match queries::requests(&console.flows, None) {
        Ok(all) => all,
        Err(e) => return failed(console, session, &e),
    };
    let (pending, done): (Vec<_>, Vec<_>) = all
        .into_iter()
        .partition(|r| r.state == RequestState::PendingApproval);
    let admin = session.role == Role::Admin;
    let body = html! {
        h2 { "Waiting for approval (" (pending.len()) ")" }
        @if pending.is_empty() { p.muted { "Nothing waits." } }
        @for r in &pending {
            div.card {
                strong { (r.email) } " asks for " strong { (words::product(r.product)) } " through " (words::source(r.source))
                div.muted { "Since " (when(r.created_at)) ". Why it waits: " (console.look.spelling.say(&r.reason)) }
                @if admin {
                    @let refused = error.filter(|(id, _)| *id == r.id).map(|(_, why)| why);
                    @let field = format!("reason-{}", r.id);
                    form.row-actions method="post" action={ "/console/requests/" (r.id) } {
                        input type="hidden" name="csrf" value=(session.csrf);
                        label for=(field) { "Reason (required to deny; the requester reads it)" }
                        input #(field) type="text" name="reason" size="48" aria-invalid=[refused.map(|_| "true")] aria-describedby=[refused.map(|_| format!("{field}-error"))];
                        @if let Some(why) = refused { span.field-error #{ (field) "-error" } role="alert" { (why) } }
                        button.primary type="submit" name="decision" value="approve" { "Approve" }
                        button type="submit" name="decision" value="deny" { "Deny" }
                    }
                }
            }
        }
        h2 { "History" }
        (table("Requests decided", &["User", "Product", "State", "Last step"], None, done.iter().rev().take(100).map(|r| html! {
            tr {
                td { (r.email) }
                td { (words::product(r.product)) }
                td { (badge(&slug(&r.state))) }
                td { @if let Some(s) = r.history.last() { (when(s.at)) " · " (s.by) " · " (s.note) } }
            }
        })))
    };
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    frame(
        console,
        session,
        "/console/requests",
        status,
        "Requests",
        body,
    )
}

/// `POST /console/requests/{id}`: approve, or deny with a reason.
pub async fn decide(
    State(console): State<Console>,
    Path(id): Path<String>,
    form: AdminForm,
) -> Response {
    let reason = Some(form.get("reason").to_string()).filter(|r| !r.is_empty());
    let actor = &form.session.actor;
    let decided = match form.get("decision") {
        "approve" => requests::approve(&console.flows, &console.intake, &id, actor, reason).await,
        _ => requests::deny(&console.flows, &id, actor, reason).await,
    };
    match decided {
        Ok(_) => Redirect::to("/console/requests").into_response(),
        Err(FlowError::Invalid { detail, .. }) => {
            render(&console, &form.session, Some((&id, &detail)))
        }
        Err(e) => failed(&console, &form.session, &e),
    }
}
