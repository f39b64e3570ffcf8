//! Reclamation: the policies (edited as their JSON document, checked before saving, errors
//! named by policy and field), the next scheduled run, a preview (a dry run: who would be
//! warned, reclaimed or protected, and why) — the only way to a run, from the preview's page —
//! and the runs with their CSV and Undo.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;

use super::layout::page as frame;
use super::table::{badge, slug, table};
use super::{AdminForm, Console, Signed, failed, when};
use crate::domain::reclaim::PolicyList;
use crate::flows::queries;
use crate::flows::reclaim::{policies, run};
use crate::http::api::{Role, Session};
use crate::store::RunKind;

fn render(
    console: &Console,
    session: &Session,
    draft: Option<&str>,
    error: Option<&str>,
) -> Response {
    let ctx = &console.flows;
    let doc = match policies::get(ctx) {
        Ok(doc) => doc,
        Err(e) => return failed(console, session, &e),
    };
    let text = draft.map(String::from).unwrap_or_else(|| {
        let list = PolicyList {
            policies: doc.policies.clone(),
        };
        serde_json::to_string_pretty(&list).unwrap_or_default()
    });
    let runs = queries::runs(ctx, RunKind::Reclaim, 30).unwrap_or_default();
    let next = queries::next_scheduled_run(ctx).ok().flatten();
    let admin = session.role == Role::Admin;
    let body = html! {
        @if let Some(e) = error { div.message.error role="alert" { (e) } }
        div.cards {
            div.card { div.muted { "Policies" } div.metric { (doc.policies.len()) } div.muted { "version " (doc.version) } }
            div.card { div.muted { "Next scheduled run" } div { @if let Some(t) = next { (when(t)) } @else { "not scheduled (reclaim.schedule)" } } }
        }
        @if admin {
            form.row-actions method="post" action="/console/reclaim" {
                input type="hidden" name="csrf" value=(session.csrf);
                button.primary type="submit" name="op" value="preview" { "Preview a run" }
            }
            p.muted { "A run starts from its preview: check who it would warn and reclaim, take out anyone, then type the number of accounts it will change." }
        }
        h2 { "Runs" }
        (table("Runs", &["Run", "Started", "Kind", "State", "Users", "CSV"], Some("No run yet."), runs.iter().map(|r| html! {
            tr {
                td { a href={ "/console/jobs/" (r.id) } { (r.id) } }
                td { (when(r.started_at)) " · " (r.trigger) }
                td { @if r.dry_run { "preview" } @else { "run" } }
                td { (badge(&slug(&r.state))) }
                td { (r.entries) }
                td { a href={ "/api/v1/reclaim/runs/" (r.id) ".csv" } { "CSV" } }
            }
        })))
        h2 { "Policies" }
        form method="post" action="/console/reclaim" {
            input type="hidden" name="csrf" value=(session.csrf);
            label for="policies" { "The policies, as JSON (see the README's Reclamation section)" }
            textarea #policies name="policies" spellcheck="false" readonly[!admin] { (text) }
            @if admin { p { button.primary type="submit" name="op" value="save" { "Save policies" } } }
        }
    };
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    frame(
        console,
        session,
        "/console/reclaim",
        status,
        "Reclamation",
        body,
    )
}

/// `GET /console/reclaim`
pub async fn page(State(console): State<Console>, Signed(session): Signed) -> Response {
    render(&console, &session, None, None)
}

/// `POST /console/reclaim`: save the policies, preview, or run now.
pub async fn submit(State(console): State<Console>, form: AdminForm) -> Response {
    let session = form.session.clone();
    match form.get("op") {
        "save" => {
            let text = form.get("policies").to_string();
            match PolicyList::parse(text.as_bytes()) {
                Err(e) => render(&console, &session, Some(&text), Some(&e.to_string())),
                Ok(list) => {
                    match policies::replace(&console.flows, list.policies, &session.actor).await {
                        Ok(_) => Redirect::to("/console/reclaim").into_response(),
                        Err(e) => failed(&console, &session, &e),
                    }
                }
            }
        }
        "preview" => {
            let req = run::RunRequest {
                dry_run: true,
                trigger: session.actor.clone(),
                from_preview: None,
            };
            match run::start(&console.flows, &console.intake, req).await {
                Ok(r) => Redirect::to(&format!("/console/jobs/{}", r.id)).into_response(),
                Err(e) => render(&console, &session, None, Some(&e.to_string())),
            }
        }
        "run" => render(
            &console,
            &session,
            None,
            Some("A run starts from its preview: preview it, then run it from the preview's page."),
        ),
        _ => render(&console, &session, None, Some("Unknown action.")),
    }
}
