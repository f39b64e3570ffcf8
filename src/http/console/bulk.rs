//! The selection's bulk actions from Inactive Users: a job once checked, the confirm step of a
//! danger action (the number of users typed; the always protected and those it cannot act on
//! listed and left out), an unknown group named at its field, and the selection as CSV.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;

use super::layout::page as frame;
use super::users::group_picker;
use super::{AdminForm, Console, failed, words};
use crate::flows::FlowError;
use crate::flows::inventory::query::{self, Filter, Order, Sort, UserRow};
use crate::flows::reclaim::jobs::{self, BulkAction, BulkRequest};

/// `POST /console/users/bulk`: a job, after the typed confirmation for danger actions.
pub async fn bulk(State(console): State<Console>, form: AdminForm) -> Response {
    let users = form.all("user");
    let action = form.get("action").to_string();
    let session = form.session.clone();
    if users.is_empty() {
        let body = html! { div.message.error role="alert" { "Select at least one user." } p { a href="/console/users" { "Back to Inactive Users" } } };
        return frame(
            &console,
            &session,
            "/console/users",
            StatusCode::BAD_REQUEST,
            "Nothing selected",
            body,
        );
    }
    if action == "export-csv" {
        return export(&console, &session, &users).await;
    }
    let danger = BulkAction::parse(&action).is_some_and(BulkAction::danger);
    let typed = form.get("confirm");
    let mut req = BulkRequest {
        action: action.clone(),
        users: users.clone(),
        group: Some(form.get("group").to_string()).filter(|g| !g.is_empty()),
        // One product select serves the bar; a suspension is of whole accounts, whatever it shows.
        product: serde_json::from_value(serde_json::Value::String(form.get("product").into()))
            .ok()
            .filter(|_| action != BulkAction::DisableLicences.key()),
        confirm: typed.parse().ok(),
        confirm_group: Some(form.get("confirm_group").to_string()).filter(|g| !g.is_empty()),
        ..BulkRequest::default()
    };
    if danger {
        // The always protected are listed before anything runs, and left out unless ticked.
        let protected = match protected_among(&console, &users).await {
            Ok(p) => p,
            Err(e) => return failed(&console, &session, &e),
        };
        let cannot = match cannot_among(&console, &req, &protected).await {
            Ok(c) => c,
            Err(e) => return failed(&console, &session, &e),
        };
        let left = Left {
            protected: &protected,
            cannot: &cannot,
        };
        let ticked = form.all("override");
        let overriding = protected
            .iter()
            .filter(|(id, _, _)| ticked.contains(id))
            .count();
        let acting = users.len() - protected.len() - cannot.len() + overriding;
        if typed.is_empty() {
            return confirm_page(&console, &form, &users, &left, None);
        }
        if typed.parse() != Ok(acting) {
            let why = "The number typed is not the number of users this acts on (those not left out, and each protected user ticked).";
            return confirm_page(&console, &form, &users, &left, Some(why));
        }
        let (overridden, left_out): (Vec<_>, Vec<_>) = protected
            .iter()
            .map(|(id, _, _)| id.clone())
            .partition(|id| ticked.contains(id));
        req.users
            .retain(|u| !left_out.contains(u) && !cannot.iter().any(|(id, _, _)| id == u));
        if req.users.is_empty() {
            let why = "No selected user can be acted on (always protected, or nothing to take): nothing was done.";
            return confirm_page(&console, &form, &users, &left, Some(why));
        }
        req.confirm = Some(req.users.len());
        req.override_protected = overridden;
    }
    match jobs::start(&console.flows, &console.intake, req, &session.actor).await {
        Ok(run) => Redirect::to(&format!("/console/jobs/{}", run.id)).into_response(),
        Err(FlowError::Invalid {
            code: "confirm_required",
            ..
        }) => confirm_page(
            &console,
            &form,
            &users,
            &Left::default(),
            Some("The number typed is not the number of users selected."),
        ),
        Err(FlowError::Invalid {
            code: "unknown_group",
            detail,
        }) => unknown_group(&console, &form, &users, &detail).await,
        Err(e) => failed(&console, &session, &e),
    }
}

/// An unknown group, named at its field: fix the name (the picker offers those reinstate
/// knows), or say it exists with nobody in it yet.
async fn unknown_group(
    console: &Console,
    form: &AdminForm,
    users: &[String],
    why: &str,
) -> Response {
    let groups = crate::flows::inventory::access::known_groups(&console.flows)
        .await
        .unwrap_or_default();
    let group = form.get("group");
    let body = html! {
        div.message.error role="alert" { "Nothing was started: the group is not one reinstate knows." }
        form.card method="post" action="/console/users/bulk" {
            input type="hidden" name="csrf" value=(form.session.csrf);
            input type="hidden" name="action" value=(form.get("action"));
            input type="hidden" name="product" value=(form.get("product"));
            @for u in users { input type="hidden" name="user" value=(u); }
            div.field {
                label for="group" { "Group" }
                input #group type="text" name="group" value=(group) list="known-groups" autocomplete="off" aria-invalid="true" aria-describedby="group-error";
                span.field-error #group-error { (why) }
                (group_picker(&groups))
            }
            label {
                input type="checkbox" name="confirm_group" value=(group);
                " " (group) " exists, with nobody in it yet: add them anyway"
            }
            p { button.primary type="submit" { (words::step(form.get("action"))) " — " (words::count(users.len(), "user")) } " " a href="/console/users" { "Cancel" } }
        }
    };
    frame(
        console,
        &form.session,
        "/console/users",
        StatusCode::BAD_REQUEST,
        "Check the group",
        body,
    )
}

/// The always protected among the selected users: (account id, who, why).
async fn protected_among(
    console: &Console,
    users: &[String],
) -> Result<Vec<(String, String, String)>, FlowError> {
    let accounts = jobs::resolve(&console.flows, users)?;
    let protected = crate::flows::reclaim::protect::among(&console.flows, &accounts).await?;
    Ok(protected
        .into_iter()
        .map(|(i, why)| {
            let a = &accounts[i];
            let who = a
                .email
                .as_ref()
                .map_or(a.account_id.clone(), |e| e.to_string());
            (a.account_id.clone(), who, why)
        })
        .collect())
}

/// The selected users a danger action leaves out: (account id, who, why).
type Named = Vec<(String, String, String)>;

/// Who the confirm step lists as left out: the always protected (each can be ticked back in)
/// and those the action cannot act on.
#[derive(Default)]
struct Left<'a> {
    protected: &'a [(String, String, String)],
    cannot: &'a [(String, String, String)],
}

/// The selected users (not always protected) the action cannot act on, and why: nothing it
/// could take (a product given by no group reinstate can remove), not in the group, already
/// suspended. Said before anything runs instead of skipped after.
async fn cannot_among(
    console: &Console,
    req: &BulkRequest,
    protected: &[(String, String, String)],
) -> Result<Named, FlowError> {
    let ctx = &console.flows;
    let action = BulkAction::parse(&req.action);
    let accounts = jobs::resolve(ctx, &req.users)?;
    let mut out = Vec::new();
    for a in accounts
        .iter()
        .filter(|a| !protected.iter().any(|(id, _, _)| *id == a.account_id))
    {
        let why = match action {
            Some(BulkAction::RevokeProductAccess) | Some(BulkAction::RemoveAllAccess) => {
                let product = req
                    .product
                    .filter(|_| action == Some(BulkAction::RevokeProductAccess));
                let access = crate::flows::inventory::access::of(ctx, a).await?;
                crate::flows::inventory::access::cannot_take(&access, product)
            }
            Some(BulkAction::RemoveFromGroup) => req
                .group
                .as_ref()
                .filter(|g| !a.groups.iter().any(|m| m.eq_ignore_ascii_case(g)))
                .map(|g| format!("not in the group {g}")),
            Some(BulkAction::DisableLicences) => (a.status != crate::domain::AccountStatus::Active)
                .then(|| format!("already {}: nothing to suspend", a.status.key())),
            _ => None,
        };
        if let Some(why) = why {
            let who = a
                .email
                .as_ref()
                .map_or(a.account_id.clone(), |e| e.to_string());
            out.push((a.account_id.clone(), who, why));
        }
    }
    Ok(out)
}

fn confirm_page(
    console: &Console,
    form: &AdminForm,
    users: &[String],
    left: &Left<'_>,
    error: Option<&str>,
) -> Response {
    let action = form.get("action");
    let protected = left.protected;
    let n = users.len() - protected.len() - left.cannot.len();
    let body = html! {
        @if let Some(e) = error { div.message.error role="alert" { (e) } }
        div.message.warn {
            "This takes access away from " strong { (words::count(n, "user")) } " (" (words::step(action)) "). "
            "reinstate records exactly what it takes: the job's page has an Undo that puts it back."
            @if let Some(c) = BulkAction::parse(action).and_then(BulkAction::consequence) { " " (c) "." }
        }
        @if !protected.is_empty() {
            section.card aria-labelledby="protected-title" {
                h2 #protected-title { (protected.len()) " always protected — left out" }
                p { "These users are never acted on unless you tick them: ticking one overrides its protection, and the audit records that you did." }
                ul {
                    @for (id, who, why) in protected {
                        li {
                            label {
                                input type="checkbox" name="override" value=(id) form="confirm-form";
                                " " strong { (who) } " — " (why)
                            }
                        }
                    }
                }
            }
        }
        @if !left.cannot.is_empty() {
            section.card aria-labelledby="cannot-title" {
                h2 #cannot-title { (words::count(left.cannot.len(), "user")) " it cannot act on — left out" }
                ul {
                    @for (_, who, why) in left.cannot {
                        li { strong { (who) } " — " (why) }
                    }
                }
            }
        }
        @if n == 0 && protected.is_empty() {
            div.message.error role="alert" { "None of the selected users can be acted on: there is nothing to run." }
            p { a href="/console/users" { "Back to Inactive Users" } }
        } @else {
        form.card #confirm-form method="post" action="/console/users/bulk" {
            input type="hidden" name="csrf" value=(form.session.csrf);
            input type="hidden" name="action" value=(action);
            input type="hidden" name="group" value=(form.get("group"));
            input type="hidden" name="product" value=(form.get("product"));
            @for u in users { input type="hidden" name="user" value=(u); }
            label for="confirm" {
                "Type " (n) " to confirm"
                @if !protected.is_empty() { " (one more for each protected user you tick)" }
            }
            input #confirm type="text" name="confirm" inputmode="numeric" autocomplete="off" required;
            p { button.danger type="submit" { "Yes, " (words::step(action).to_lowercase()) } " " a href="/console/users" { "Cancel" } }
        }
        }
    };
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    frame(
        console,
        &form.session,
        "/console/users",
        status,
        "Confirm",
        body,
    )
}

/// The selected users as CSV (the inventory's columns).
async fn export(
    console: &Console,
    session: &crate::http::api::Session,
    users: &[String],
) -> Response {
    let rows = match query::all_users(
        &console.flows,
        &Filter::default(),
        (Sort::Email, Order::Asc),
    ) {
        Ok(rows) => rows,
        Err(e) => return failed(console, session, &e),
    };
    let mut chosen: Vec<UserRow> = rows
        .into_iter()
        .filter(|r| users.contains(&r.account_id))
        .collect();
    if let Err(e) = crate::flows::reclaim::protect::mark(&console.flows, &mut chosen) {
        return failed(console, session, &e);
    }
    crate::http::api::inventory::csv_of(&chosen).unwrap_or_else(IntoResponse::into_response)
}
