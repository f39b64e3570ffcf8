//! A run, job or undo: its state and counts, every user with what became of them, the CSV, and
//! Undo. Refreshes itself while it runs.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;

use super::layout::page as frame;
use super::table::{badge, slug, table};
use super::{AdminForm, Console, Signed, failed, when};
use crate::flows::queries;
use crate::flows::reclaim::jobs;
use crate::http::api::Role;
use crate::store::{RunKind, RunState};

/// `GET /console/jobs/{id}`
pub async fn page(
    State(console): State<Console>,
    Signed(session): Signed,
    Path(id): Path<String>,
) -> Response {
    let (run, entries) = match queries::run(&console.flows, &id) {
        Ok(Some(found)) => found,
        Ok(None) => {
            let e = crate::flows::FlowError::NotFound {
                code: "not_found",
                detail: format!("No run or job {id}."),
            };
            return failed(&console, &session, &e);
        }
        Err(e) => return failed(&console, &session, &e),
    };
    let counts = crate::flows::reclaim::finish::counts(&console.flows, &entries);
    let running = run.state != RunState::Done;
    let kind = match run.kind {
        RunKind::Reclaim if run.dry_run => "Preview",
        RunKind::Reclaim => "Reclaim run",
        RunKind::Job => "Bulk job",
        RunKind::Undo => "Undo",
    };
    let title = format!("{kind} {}", run.id);
    let state = slug(&run.state);
    let csv = if run.kind == RunKind::Job {
        None
    } else {
        Some(format!("/api/v1/reclaim/runs/{}.csv", run.id))
    };
    let body = html! {
        @if running { div.message data-refresh role="status" { "Running: this page refreshes until every user is done." } }
        div.cards {
            div.card { div.muted { "State" } div.metric { span class={ "badge " (state) } { (state) } } }
            div.card { div.muted { "Started" } div { (when(run.started_at)) } div.muted { "by " (run.trigger) } }
            @for (result, n) in &counts.results { div.card { div.muted { @if result == "preview" { "Users in the preview" } @else { "Users " (result) } } div.metric { (n) } } }
            @for (product, n) in &counts.seats_freed { div.card { div.muted { @if run.dry_run { "Seats it would free: " } @else { "Seats freed: " } (product) } div.metric { (n) } } }
        }
        @if let Some(of) = &run.undo_of { p { "Undoes " a href={ "/console/jobs/" (of) } { (of) } "." } }
        div.row-actions {
            @if let Some(csv) = csv { a.button href=(csv) { "Download CSV" } }
            @if session.role == Role::Admin && !run.dry_run && run.kind != RunKind::Undo {
                form method="post" action={ "/console/jobs/" (run.id) "/undo" } {
                    input type="hidden" name="csrf" value=(session.csrf);
                    button type="submit" { "Undo" }
                }
            }
        }
        (table(&["User", "Product", "Step", "Why", "Result", "Detail"], None, entries.iter().map(|e| html! {
            tr {
                td { a href={ "/console/users/" (super::users::enc(&e.account_id)) } { (e.email.as_ref().map(|m| m.to_string()).unwrap_or(e.account_id.clone())) } }
                td { (e.product.map_or("—", |p| p.key())) }
                td { (e.step) }
                td { (e.reason) }
                td { (badge(&slug(&e.result))) }
                td { (e.detail.as_deref().unwrap_or("")) }
            }
        })))
    };
    frame(
        &console,
        &session,
        "/console/reclaim",
        StatusCode::OK,
        &title,
        body,
    )
}

/// `POST /console/jobs/{id}/undo`
pub async fn undo(
    State(console): State<Console>,
    Path(id): Path<String>,
    form: AdminForm,
) -> Response {
    match jobs::undo(&console.flows, &console.intake, &id, &form.session.actor).await {
        Ok(run) => Redirect::to(&format!("/console/jobs/{}", run.id)).into_response(),
        Err(e) => failed(&console, &form.session, &e),
    }
}
