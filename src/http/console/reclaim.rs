//! Reclamation: the policies (edited as a form or, in the advanced view, as their JSON
//! document; checked before saving, errors named by policy and field), the next scheduled run, a preview (a dry run: who would be
//! warned, reclaimed or protected, and why) — the only way to a run, from the preview's page —
//! and the runs with their CSV and Undo.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;

use super::layout::page as frame;
use super::policies::{self, Draft, Problems};
use super::schedules;
use super::table::{badge, slug, table};
use super::{AdminForm, Console, Signed, failed, when};
use crate::domain::reclaim::PolicyList;
use crate::flows::queries;
use crate::flows::reclaim::run;
use crate::http::api::{Role, Session};
use crate::store::RunKind;

/// The policies' form as typed, with what is wrong with it (after a save refused, or a policy
/// added).
struct Typed {
    drafts: Vec<Draft>,
    problems: Problems,
}

/// What the page shows besides what is saved: a JSON draft refused, an error, the policies'
/// or the schedules' form as typed.
#[derive(Default)]
struct Shown<'a> {
    draft: Option<&'a str>,
    error: Option<&'a str>,
    typed: Option<Typed>,
    schedules: Option<schedules::Typed>,
}

impl<'a> Shown<'a> {
    fn error(error: &'a str) -> Shown<'a> {
        Shown {
            error: Some(error),
            ..Shown::default()
        }
    }
}

fn render(console: &Console, session: &Session, shown: Shown<'_>) -> Response {
    let Shown {
        draft,
        error,
        typed,
        schedules: typed_schedules,
    } = shown;
    let ctx = &console.flows;
    let doc = match crate::flows::reclaim::policies::get(ctx) {
        Ok(doc) => doc,
        Err(e) => return failed(console, session, &e),
    };
    let text = draft.map(String::from).unwrap_or_else(|| {
        let list = PolicyList {
            policies: doc.policies.clone(),
        };
        serde_json::to_string_pretty(&list).unwrap_or_default()
    });
    let typed = typed.unwrap_or_else(|| Typed {
        drafts: doc.policies.iter().map(Draft::of).collect(),
        problems: Problems::default(),
    });
    let runs = queries::runs(ctx, RunKind::Reclaim, 30).unwrap_or_default();
    let next = queries::next_scheduled_run(ctx).ok().flatten();
    let due = match crate::flows::reclaim::schedules::due(ctx) {
        Ok(due) => due,
        Err(e) => return failed(console, session, &e),
    };
    let typed_schedules = typed_schedules.unwrap_or_else(|| schedules::Typed::saved(&due));
    let admin = session.role == Role::Admin;
    let body = html! {
        @if let Some(e) = error { div.message.error role="alert" { (e) } }
        div.cards {
            div.card { div.muted { "Policies" } div.metric { (doc.policies.len()) } div.muted { "version " (doc.version) } }
            div.card { div.muted { "Next scheduled run" } div { @if let Some(t) = next { (when(t)) } @else { "not scheduled: add a schedule below" } } }
        }
        @if admin {
            form.row-actions method="post" action="/console/reclaim" {
                input type="hidden" name="csrf" value=(session.csrf);
                button.primary type="submit" name="op" value="preview" { "Preview a run" }
            }
            p.muted { "A run starts from its preview: check who it would warn and reclaim, take out anyone, then type the number of accounts it will change." }
        }
        (schedules::section(&due, &typed_schedules, &session.csrf, admin))
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
        p.muted { "Saved policies are versioned and audited (version " (doc.version) "); the same checks as the API's apply." }
        (typed.problems.summary())
        (policies::form(&typed.drafts, &typed.problems, &session.csrf, admin))
        details.advanced open[draft.is_some()] {
            summary { "Advanced: the policies as JSON" }
            form method="post" action="/console/reclaim" {
                input type="hidden" name="csrf" value=(session.csrf);
                label for="policies" { "The policies, as JSON (see the README's Reclamation section)" }
                textarea #policies name="policies" spellcheck="false" readonly[!admin] { (text) }
                @if admin { p { button.primary type="submit" name="op" value="save" { "Save the JSON" } } }
            }
        }
    };
    let status = if error.is_some() || !typed.problems.is_empty() || typed_schedules.is_refused() {
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

/// Saves checked policies, then the page again.
async fn save(console: &Console, session: &Session, list: PolicyList) -> Response {
    let ctx = &console.flows;
    match crate::flows::reclaim::policies::replace(ctx, list.policies, &session.actor).await {
        Ok(_) => Redirect::to("/console/reclaim").into_response(),
        Err(e) => failed(console, session, &e),
    }
}

/// `GET /console/reclaim`
pub async fn page(State(console): State<Console>, Signed(session): Signed) -> Response {
    render(&console, &session, Shown::default())
}

/// `POST /console/reclaim`: save the policies, preview, or run now.
pub async fn submit(State(console): State<Console>, form: AdminForm) -> Response {
    let session = form.session.clone();
    match form.get("op") {
        "save" => {
            let text = form.get("policies").to_string();
            match PolicyList::parse(text.as_bytes()) {
                Err(e) => {
                    let error = e.to_string();
                    let shown = Shown {
                        draft: Some(&text),
                        error: Some(&error),
                        ..Shown::default()
                    };
                    render(&console, &session, shown)
                }
                Ok(list) => save(&console, &session, list).await,
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
                Err(e) => render(&console, &session, Shown::error(&e.to_string())),
            }
        }
        "run" => render(
            &console,
            &session,
            Shown::error(
                "A run starts from its preview: preview it, then run it from the preview's page.",
            ),
        ),
        "save_form" => {
            let drafts = policies::drafts(&form);
            match policies::policies(&drafts) {
                Err(problems) => {
                    let typed = Some(Typed { drafts, problems });
                    render(
                        &console,
                        &session,
                        Shown {
                            typed,
                            ..Shown::default()
                        },
                    )
                }
                Ok(list) => save(&console, &session, list).await,
            }
        }
        "add_policy" => {
            let mut drafts = policies::drafts(&form);
            drafts.push(Draft::blank());
            let typed = Some(Typed {
                drafts,
                problems: Problems::default(),
            });
            render(
                &console,
                &session,
                Shown {
                    typed,
                    ..Shown::default()
                },
            )
        }
        "save_schedules" => {
            let typed = schedules::Typed::read(&form);
            let (list, places) = typed.list();
            match crate::flows::reclaim::schedules::replace(&console.flows, list, &session.actor)
                .await
            {
                Ok(_) => Redirect::to("/console/reclaim").into_response(),
                Err(e @ crate::flows::FlowError::Invalid { .. }) => {
                    let schedules = Some(typed.refused(&e, &places));
                    render(
                        &console,
                        &session,
                        Shown {
                            schedules,
                            ..Shown::default()
                        },
                    )
                }
                Err(e) => failed(&console, &session, &e),
            }
        }
        _ => render(&console, &session, Shown::error("Unknown action.")),
    }
}
