//! A run, job or undo: its state and counts, every user with what became of them, the CSV, and
//! Undo. Refreshes itself while it runs. A finished preview says what a run would do (per step
//! and product, the seats and the saving) and is where a run starts: users taken out, then the
//! number of accounts it will change typed.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;

use super::layout::page as frame;
use super::table::{badge, scroll, slug, table};
use super::{AdminForm, Console, Signed, failed, when, words};
use crate::domain::reclaim::Step;
use crate::flows::queries;
use crate::flows::reclaim::{jobs, run};
use crate::http::api::Role;
use crate::store::{RunKind, RunState};

/// How the users of a run are ordered: `?sort=user|name|last_active|step|result&order=desc`
/// (in the order planned when not said).
#[derive(serde::Deserialize, Default)]
pub struct EntriesQuery {
    #[serde(default)]
    sort: String,
    #[serde(default)]
    order: String,
}

const SORTS: [(&str, &str); 5] = [
    ("user", "User"),
    ("name", "Name"),
    ("last_active", "Last active"),
    ("step", "Step"),
    ("result", "Result"),
];

impl EntriesQuery {
    /// What is wrong with it, named.
    fn check(&self) -> Option<String> {
        if !self.sort.is_empty() && !SORTS.iter().any(|(k, _)| *k == self.sort) {
            let keys: Vec<&str> = SORTS.iter().map(|(k, _)| *k).collect();
            return Some(format!(
                "sort: {:?} is not a column to sort by ({})",
                self.sort,
                keys.join(", ")
            ));
        }
        if !["", "asc", "desc"].contains(&self.order.as_str()) {
            return Some(format!("order: {:?} is not asc or desc", self.order));
        }
        None
    }

    /// The page sorted by `key` (the order turned when it is sorted by it already).
    fn link(&self, id: &str, key: &str) -> String {
        let order = if self.sort == key && self.order != "desc" {
            "desc"
        } else {
            "asc"
        };
        format!("/console/jobs/{id}?sort={key}&order={order}")
    }

    fn head(&self, id: &str, key: &str, label: &str) -> maud::Markup {
        let sorted = (self.sort == key).then_some(self.order == "desc");
        super::table::sort_head(label, &self.link(id, key), sorted)
    }
}

/// One user of a run, with what the inventory knows of them now: name, last activity (in the
/// entry's product, or anywhere).
struct Row<'a> {
    entry: &'a crate::store::RunEntry,
    who: String,
    name: Option<String>,
    last_active: Option<time::OffsetDateTime>,
}

fn rows<'a>(
    console: &Console,
    entries: &'a [crate::store::RunEntry],
    q: &EntriesQuery,
) -> Result<Vec<Row<'a>>, crate::flows::FlowError> {
    let accounts = console.flows.store.accounts()?;
    let mut rows: Vec<Row<'a>> = entries
        .iter()
        .map(|e| {
            let account = accounts.get(&e.account_id);
            Row {
                entry: e,
                who: e
                    .email
                    .as_ref()
                    .map_or(e.account_id.clone(), |m| m.to_string()),
                name: account.and_then(|a| a.name.clone()),
                last_active: account.and_then(|a| match e.product {
                    Some(p) => a.last_active(p.key()),
                    None => a.last_seen(),
                }),
            }
        })
        .collect();
    match q.sort.as_str() {
        "user" => rows.sort_by(|a, b| a.who.cmp(&b.who)),
        "name" => rows.sort_by_key(|r| r.name.as_deref().unwrap_or_default().to_lowercase()),
        "last_active" => rows.sort_by_key(|r| r.last_active),
        "step" => rows.sort_by(|a, b| a.entry.step.cmp(&b.entry.step)),
        "result" => rows.sort_by_key(|r| slug(&r.entry.result)),
        _ => {}
    }
    if q.order == "desc" {
        rows.reverse();
    }
    Ok(rows)
}

/// `GET /console/jobs/{id}`
pub async fn page(
    State(console): State<Console>,
    Signed(session): Signed,
    Path(id): Path<String>,
    Query(q): Query<EntriesQuery>,
) -> Response {
    if let Some(why) = q.check() {
        return failed(
            &console,
            &session,
            &crate::flows::FlowError::invalid("invalid_query", why),
        );
    }
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
    let rows = match rows(&console, &entries, &q) {
        Ok(rows) => rows,
        Err(e) => return failed(&console, &session, &e),
    };
    let running = run.state != RunState::Done;
    let sp = console.look.spelling;
    let title = title(&run, &entries, sp);
    let of_job = run.kind == RunKind::Job
        || run.undo_of.as_deref().is_some_and(|of| {
            matches!(queries::run(&console.flows, of), Ok(Some((r, _))) if r.kind == RunKind::Job)
        });
    let nav = if of_job {
        "/console/users"
    } else {
        "/console/reclaim"
    };
    let state = slug(&run.state);
    let runnable = session.role == Role::Admin
        && run.kind == RunKind::Reclaim
        && run.dry_run
        && run.state == RunState::Done;
    let acting: Vec<&crate::store::RunEntry> =
        entries.iter().filter(|e| Step::key_acts(&e.step)).collect();
    let changing = acting
        .iter()
        .map(|e| e.account_id.as_str())
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    let mut what: std::collections::BTreeMap<(String, &str), usize> = Default::default();
    for e in &acting {
        *what
            .entry((
                e.step.clone(),
                e.product.map_or("Every product", words::product),
            ))
            .or_default() += 1;
    }
    // Undo only while something it took is still taken (not for an undone run, nor one that
    // took nothing).
    let undoable = session.role == Role::Admin
        && !run.dry_run
        && run.kind != RunKind::Undo
        && queries::undoable(&console.flows, &run.id).unwrap_or(false);
    let csv = if run.kind == RunKind::Job {
        format!("/api/v1/jobs/{}.csv", run.id)
    } else {
        format!("/api/v1/reclaim/runs/{}.csv", run.id)
    };
    let body = html! {
        @if running { div.message data-refresh role="status" { "Running: this page refreshes until every user is done." } }
        div.cards {
            div.card { div.muted { "State" } div.metric { (badge(&state)) } }
            div.card { div.muted { "Started" } div { (when(run.started_at)) } div.muted { "by " (run.trigger) } div.muted { (run.id) } }
            @for (result, n) in &counts.results { div.card { div.muted { @if result == "preview" { "Users in the preview" } @else { "Users " (words::plain(result)) } } div.metric { (n) } } }
            @for (product, n) in &counts.seats_freed { div.card { div.muted { @if run.dry_run { "Seats it would free: " } @else { "Seats freed: " } (words::product_key(product)) } div.metric { (n) } } }
        }
        @if let Some(of) = &run.undo_of { p { "Undoes " a href={ "/console/jobs/" (of) } { (of) } "." } }
        div.row-actions {
            a.button href=(csv) { "Download CSV" }
            @if undoable {
                form method="post" action={ "/console/jobs/" (run.id) "/undo" } {
                    input type="hidden" name="csrf" value=(session.csrf);
                    button type="submit" { "Undo" }
                }
            }
        }
        @if runnable && changing > 0 {
            h2 { "What a run would do" }
            (table("What a run would do", &["Step", "Product", "Users"], None, what.iter().map(|((step, product), n)| html! {
                tr { td { (words::step(step, sp)) } td { (product) } td { (words::count(*n, "user")) } }
            })))
            @for (product, saving) in &counts.monthly_saving {
                p { "Saving a month, " (words::product_key(product)) ": " (format!("{saving:.2}")) " " (console.flows.settings.reclaim.currency) }
            }
        }
        @if runnable && changing == 0 {
            p.muted { "Nothing in this preview would change: there is no run to start." }
        }
        @let form_id = "run-preview";
        h2 { "Every user, and what became of them" }
        (scroll("Users of this run", html! {
            table {
                thead { tr {
                    (q.head(&run.id, "user", "User"))
                    (q.head(&run.id, "name", "Name"))
                    (q.head(&run.id, "last_active", "Last active"))
                    th { "Product" }
                    (q.head(&run.id, "step", "Step"))
                    th { "Why" }
                    (q.head(&run.id, "result", "Result"))
                    th { "Detail" }
                } }
                tbody {
                    @for r in &rows {
                        @let e = r.entry;
                        tr {
                            td {
                                @if runnable && Step::key_acts(&e.step) {
                                    input type="checkbox" form=(form_id) name="exclude" value=(e.account_id) id={ "x-" (e.seq) } aria-label={ "Take " (r.who) " out of the run" };
                                    " "
                                }
                                a href={ "/console/users/" (super::users::enc(&e.account_id)) } { (r.who) }
                            }
                            td { (r.name.as_deref().unwrap_or("—")) }
                            td { (super::day(r.last_active)) }
                            td { (e.product.map_or("Every product", words::product)) }
                            td { (words::step(&e.step, sp)) }
                            td { (sp.say(&e.reason)) }
                            td { (badge(&slug(&e.result))) }
                            td { (sp.say(e.detail.as_deref().unwrap_or(""))) }
                        }
                    }
                }
            }
        }))
        @if runnable && changing > 0 {
            form.card #(form_id) method="post" action={ "/console/jobs/" (run.id) "/run" } {
                input type="hidden" name="csrf" value=(session.csrf);
                h2 { "Run it" }
                p { "It will change " strong { (words::count(changing, "account")) } " as above (tick a user in the table to take them out). What no longer applies when it starts is left alone." }
                label for="confirm" { "Type the number of accounts it will change: " (changing) ", less those you took out" }
                input #confirm type="text" inputmode="numeric" name="confirm" autocomplete="off" required size="8";
                p { button.primary.danger type="submit" { "Run it" } }
            }
        }
    };
    frame(&console, &session, nav, StatusCode::OK, &title, body)
}

/// What a run or job did, by whom: "Suspend accounts (every product) — 3 users, by admin:…".
fn title(
    run: &crate::store::RunRecord,
    entries: &[crate::store::RunEntry],
    sp: crate::domain::Spelling,
) -> String {
    let users = entries
        .iter()
        .map(|e| e.account_id.as_str())
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    let what = match run.kind {
        RunKind::Reclaim if run.dry_run => "Preview of a reclaim run".to_string(),
        RunKind::Reclaim => "Reclaim run".to_string(),
        RunKind::Job => words::step(run.action.as_deref().unwrap_or("bulk job"), sp),
        RunKind::Undo => match &run.undo_of {
            Some(of) => format!("Undo of {of}"),
            None => "Undo".to_string(),
        },
    };
    let by = if run.trigger == "schedule" {
        "on schedule".to_string()
    } else if let Some(name) = run.trigger.strip_prefix("schedule:") {
        format!("on the schedule {name}")
    } else {
        format!("by {}", run.trigger)
    };
    format!("{what} — {}, {by}", words::count(users, "user"))
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

/// `POST /console/jobs/{id}/run`: a finished preview run, less the users taken out, once the
/// number of accounts it will change is typed.
pub async fn run_preview(
    State(console): State<Console>,
    Path(id): Path<String>,
    form: AdminForm,
) -> Response {
    let Ok(confirm) = form.get("confirm").parse::<usize>() else {
        let e = crate::flows::FlowError::invalid(
            "confirm_required",
            "Type the number of accounts the run will change (a number), then run it.",
        );
        return failed(&console, &form.session, &e);
    };
    let req = run::RunRequest {
        dry_run: false,
        trigger: form.session.actor.clone(),
        from_preview: Some(run::FromPreview {
            id,
            exclude: form.all("exclude"),
            confirm,
        }),
    };
    match run::start(&console.flows, &console.intake, req).await {
        Ok(r) => Redirect::to(&format!("/console/jobs/{}", r.id)).into_response(),
        Err(e) => failed(&console, &form.session, &e),
    }
}
