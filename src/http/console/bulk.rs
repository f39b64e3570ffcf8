//! The selection's bulk actions from Inactive Users: a job once checked, the confirm step of a
//! danger action (the number of users typed; the always protected and those it cannot act on
//! listed and left out), an unknown group named at its field, and the selection as CSV.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};

use super::filter::UsersQuery;
use super::layout::page as frame;
use super::users::group_picker;
use super::{AdminForm, Console, failed, words};
use crate::flows::FlowError;
use crate::flows::inventory::query::{self, UserRow};
use crate::flows::reclaim::jobs::{self, BulkAction, BulkRequest};

/// Who a bulk action is for: the users ticked (ids), or every user matching a filter — the
/// page's query string, which the server resolves itself (never thousands of ids in a form).
struct Chosen {
    users: Vec<String>,
    matching: Option<String>,
}

impl Chosen {
    /// The form's selection, as its hidden fields carry it on.
    fn carried(&self) -> Markup {
        html! {
            @if let Some(filter) = &self.matching {
                input type="hidden" name="scope" value="matching";
                input type="hidden" name="filter" value=(filter);
            } @else {
                @for u in &self.users { input type="hidden" name="user" value=(u); }
            }
        }
    }

    /// Where Cancel leads: the page the selection came from.
    fn back(&self) -> String {
        match &self.matching {
            Some(filter) => format!("/console/users?{filter}"),
            None => "/console/users".into(),
        }
    }
}

/// The selection of a bulk form; a page saying what is wrong when there is none.
fn chosen(console: &Console, form: &AdminForm) -> Result<Chosen, Box<Response>> {
    let nothing = |title: &str, why: Markup| {
        let body = html! { div.message.error role="alert" { (why) } p { a href="/console/users" { "Back to Inactive Users" } } };
        Box::new(frame(
            console,
            &form.session,
            "/console/users",
            StatusCode::BAD_REQUEST,
            title,
            body,
        ))
    };
    if form.get("scope") != "matching" {
        let users = form.all("user");
        if users.is_empty() {
            return Err(nothing(
                "Nothing selected",
                html! { "Select at least one user." },
            ));
        }
        return Ok(Chosen {
            users,
            matching: None,
        });
    }
    let filter = form.get("filter").to_string();
    let q = UsersQuery::parse(Some(&filter)).map_err(|why| {
        nothing(
            "Nothing selected",
            html! { "The filters cannot be read (" (why) "): nothing was done." },
        )
    })?;
    let bad = q.check();
    if !bad.is_empty() {
        return Err(nothing("Nothing selected", html! { (bad.summary()) }));
    }
    let users = query::matching_ids(&console.flows, &q.filter())
        .map_err(|e| Box::new(failed(console, &form.session, &e)))?;
    if users.is_empty() {
        return Err(nothing(
            "Nothing selected",
            html! { "No user matches these filters now: nothing was done." },
        ));
    }
    Ok(Chosen {
        users,
        matching: Some(filter),
    })
}

/// `POST /console/users/bulk`: a job, after the typed confirmation for danger actions and for
/// every user matching a filter.
pub async fn bulk(State(console): State<Console>, form: AdminForm) -> Response {
    let chosen = match chosen(&console, &form) {
        Ok(c) => c,
        Err(page) => return *page,
    };
    let users = &chosen.users;
    let action = form.get("action").to_string();
    let session = form.session.clone();
    if action == "export-csv" {
        return export(&console, &session, &chosen).await;
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
    if danger || chosen.matching.is_some() {
        // The always protected are listed before anything runs, and left out unless ticked.
        // After the job refused administrators the inventory did not know, the directory's.
        let fresh = form.get("fresh") == "1";
        let (protected, cannot) = if danger {
            match left_out(&console, &req, fresh).await {
                Ok(left) => left,
                Err(e) => return failed(&console, &session, &e),
            }
        } else {
            (Vec::new(), Vec::new())
        };
        let left = Left {
            protected: &protected,
            cannot: &cannot,
            fresh,
        };
        let ticked = form.all("override");
        let overriding = protected
            .iter()
            .filter(|(id, _, _)| ticked.contains(id))
            .count();
        let acting = users.len() - protected.len() - cannot.len() + overriding;
        if typed.is_empty() {
            return confirm_page(&console, &form, &chosen, &left, None);
        }
        if typed.parse() != Ok(acting) {
            let why = if chosen.matching.is_some() {
                "The number typed is not the number of users this acts on now (the users matching the filters, less those left out, and each protected user ticked)."
            } else {
                "The number typed is not the number of users this acts on (those not left out, and each protected user ticked)."
            };
            return confirm_page(&console, &form, &chosen, &left, Some(why));
        }
        let left_out: std::collections::HashSet<&String> = protected
            .iter()
            .map(|(id, _, _)| id)
            .filter(|id| !ticked.contains(id))
            .chain(cannot.iter().map(|(id, _, _)| id))
            .collect();
        let overridden: Vec<String> = protected
            .iter()
            .map(|(id, _, _)| id.clone())
            .filter(|id| ticked.contains(id))
            .collect();
        req.users.retain(|u| !left_out.contains(u));
        if req.users.is_empty() {
            let why = "No selected user can be acted on (always protected, or nothing to take): nothing was done.";
            return confirm_page(&console, &form, &chosen, &left, Some(why));
        }
        req.confirm = Some(req.users.len());
        req.override_protected = overridden;
    }
    let asked = req.clone();
    match jobs::start(&console.flows, &console.intake, req, &session.actor).await {
        Ok(run) => Redirect::to(&format!("/console/jobs/{}", run.id)).into_response(),
        Err(FlowError::Invalid {
            code: "protected_users",
            detail,
        }) => {
            // The directory, read as the job starts, names administrators the inventory did
            // not know yet: the confirm step again, with them listed from that read.
            let (protected, cannot) = match left_out(&console, &asked, true).await {
                Ok(left) => left,
                Err(e) => return failed(&console, &session, &e),
            };
            let left = Left {
                protected: &protected,
                cannot: &cannot,
                fresh: true,
            };
            let why = format!(
                "Nothing was started: {detail}. The directory names them as administrators now; they are listed below and left out — type the new number."
            );
            confirm_page(&console, &form, &chosen, &left, Some(&why))
        }
        Err(FlowError::Invalid {
            code: "confirm_required",
            ..
        }) => confirm_page(
            &console,
            &form,
            &chosen,
            &Left::default(),
            Some("The number typed is not the number of users selected."),
        ),
        Err(FlowError::Invalid {
            code: "unknown_group",
            detail,
        }) => unknown_group(&console, &form, &chosen, &detail).await,
        Err(e) => failed(&console, &session, &e),
    }
}

/// An unknown group, named at its field: fix the name (the picker offers those reinstate
/// knows), or say it exists with nobody in it yet.
async fn unknown_group(
    console: &Console,
    form: &AdminForm,
    chosen: &Chosen,
    why: &str,
) -> Response {
    let users = &chosen.users;
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
            (chosen.carried())
            div.field {
                label for="group" { "Group" }
                input #group type="text" name="group" value=(group) list="known-groups" autocomplete="off" aria-invalid="true" aria-describedby="group-error";
                span.field-error #group-error { (console.look.spelling.say(why)) }
                (group_picker(&groups))
            }
            label {
                input type="checkbox" name="confirm_group" value=(group);
                " " (group) " exists, with nobody in it yet: add them anyway"
            }
            p { button.primary type="submit" { (words::step(form.get("action"), console.look.spelling)) " — " (words::count(users.len(), "user")) } " " a href=(chosen.back()) { "Cancel" } }
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

/// Who a danger action leaves out, each (account id, who, why): the always protected — as
/// the inventory knows them, or `fresh` from the directory — and those it cannot act on. The
/// selection is resolved once for both.
async fn left_out(
    console: &Console,
    req: &BulkRequest,
    fresh: bool,
) -> Result<(Named, Named), FlowError> {
    let ctx = &console.flows;
    let accounts = jobs::resolve(ctx, &req.users)?;
    let protected = if fresh {
        crate::flows::reclaim::protect::among(ctx, &accounts).await?
    } else {
        crate::flows::reclaim::protect::among_known(ctx, &accounts)?
    };
    let protected: Named = protected
        .into_iter()
        .map(|(i, why)| (accounts[i].account_id.clone(), who(&accounts[i]), why))
        .collect();
    let cannot = cannot_among(ctx, req, &accounts, &protected).await?;
    Ok((protected, cannot))
}

/// An account as the confirm step names it: its email, else its id.
fn who(a: &crate::store::Account) -> String {
    a.email
        .as_ref()
        .map_or(a.account_id.clone(), |e| e.to_string())
}

/// The selected users a danger action leaves out: (account id, who, why).
type Named = Vec<(String, String, String)>;

/// Who the confirm step lists as left out: the always protected (each can be ticked back in)
/// and those the action cannot act on.
#[derive(Default)]
struct Left<'a> {
    protected: &'a [(String, String, String)],
    cannot: &'a [(String, String, String)],
    /// The protected were read from the directory (the form says so to its next step).
    fresh: bool,
}

/// The selected users (not always protected) the action cannot act on, and why: nothing it
/// could take (a product given by no group reinstate can remove), not in the group, already
/// suspended. Said before anything runs instead of skipped after.
async fn cannot_among(
    ctx: &crate::flows::Context,
    req: &BulkRequest,
    accounts: &[crate::store::Account],
    protected: &[(String, String, String)],
) -> Result<Named, FlowError> {
    let action = BulkAction::parse(&req.action);
    let protected: std::collections::HashSet<&String> =
        protected.iter().map(|(id, _, _)| id).collect();
    let products = crate::flows::inventory::access::Products::read(ctx).await?;
    let mut out = Vec::new();
    for a in accounts
        .iter()
        .filter(|a| !protected.contains(&a.account_id))
    {
        let why = match action {
            Some(BulkAction::RevokeProductAccess) | Some(BulkAction::RemoveAllAccess) => {
                let product = req
                    .product
                    .filter(|_| action == Some(BulkAction::RevokeProductAccess));
                crate::flows::inventory::access::cannot_take(&products.of(a), product)
            }
            Some(BulkAction::RemoveFromGroup) => req
                .group
                .as_ref()
                .filter(|g| !a.groups.iter().any(|m| m.eq_ignore_ascii_case(g)))
                .map(|g| format!("not in the group {g:?}")),
            Some(BulkAction::DisableLicences) => (a.status != crate::domain::AccountStatus::Active)
                .then(|| format!("already {}: nothing to suspend", a.status.key())),
            _ => None,
        };
        if let Some(why) = why {
            out.push((a.account_id.clone(), who(a), why));
        }
    }
    Ok(out)
}

/// How many of a long list a page names (the rest counted).
const LISTED: usize = 100;

fn confirm_page(
    console: &Console,
    form: &AdminForm,
    chosen: &Chosen,
    left: &Left<'_>,
    error: Option<&str>,
) -> Response {
    let action = form.get("action");
    let protected = left.protected;
    let n = chosen.users.len() - protected.len() - left.cannot.len();
    let danger = BulkAction::parse(action).is_some_and(BulkAction::danger);
    let more = |len: usize| len.saturating_sub(LISTED);
    let sp = console.look.spelling;
    let body = html! {
        @if let Some(e) = error { div.message.error role="alert" { (sp.say(e)) } }
        @if chosen.matching.is_some() {
            div.message {
                "Every user matching the filters: " strong { (words::count(chosen.users.len(), "user")) } " now. "
                "reinstate finds them again when you confirm; if that number has changed, it asks again."
            }
        }
        @if danger {
            div.message.warn {
                "This takes access away from " strong { (words::count(n, "user")) } " (" (words::step(action, sp))
                @if !form.get("group").is_empty() { " " strong { (form.get("group")) } }
                "). "
                "reinstate records exactly what it takes: the job's page has an Undo that puts it back."
                @if let Some(c) = BulkAction::parse(action).and_then(BulkAction::consequence) { " " (c) "." }
            }
        } @else {
            div.message.warn {
                (words::step(action, sp))
                @if !form.get("group").is_empty() { " " strong { (form.get("group")) } }
                " for " strong { (words::count(n, "user")) } "."
            }
        }
        @if !protected.is_empty() {
            section.card aria-labelledby="protected-title" {
                h2 #protected-title { (protected.len()) " always protected — left out" }
                p { "These users are never acted on unless you tick them: ticking one overrides its protection, and the audit records that you did." }
                ul {
                    @for (id, who, why) in protected.iter().take(LISTED) {
                        li {
                            label {
                                input type="checkbox" name="override" value=(id) form="confirm-form";
                                " " strong { (who) } " — " (sp.say(why))
                            }
                        }
                    }
                }
                @if more(protected.len()) > 0 { p.muted { "… and " (words::count(more(protected.len()), "more user")) ", left out." } }
            }
        }
        @if !left.cannot.is_empty() {
            section.card aria-labelledby="cannot-title" {
                h2 #cannot-title { (words::count(left.cannot.len(), "user")) " it cannot act on — left out" }
                ul {
                    @for (_, who, why) in left.cannot.iter().take(LISTED) {
                        li { strong { (who) } " — " (sp.say(why)) }
                    }
                }
                @if more(left.cannot.len()) > 0 { p.muted { "… and " (words::count(more(left.cannot.len()), "more user")) "." } }
            }
        }
        @if n == 0 && protected.is_empty() {
            div.message.error role="alert" { "None of the selected users can be acted on: there is nothing to run." }
            p { a href=(chosen.back()) { "Back to Inactive Users" } }
        } @else {
        form.card #confirm-form method="post" action="/console/users/bulk" {
            input type="hidden" name="csrf" value=(form.session.csrf);
            input type="hidden" name="action" value=(action);
            input type="hidden" name="group" value=(form.get("group"));
            input type="hidden" name="product" value=(form.get("product"));
            (chosen.carried())
            @if left.fresh { input type="hidden" name="fresh" value="1"; }
            label for="confirm" {
                "Type " (n) " to confirm"
                @if !protected.is_empty() { " (one more for each protected user you tick)" }
            }
            input #confirm type="text" name="confirm" inputmode="numeric" autocomplete="off" required;
            p {
                button.(if danger { "danger" } else { "primary" }) type="submit" { "Yes, " (words::step(action, sp).to_lowercase()) }
                " " a href=(chosen.back()) { "Cancel" }
            }
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

/// The selection as CSV (the inventory's columns): the users ticked, or every user matching.
async fn export(
    console: &Console,
    session: &crate::http::api::Session,
    chosen: &Chosen,
) -> Response {
    // Only the chosen users' rows are built (a row reads the user's record).
    let rows: Result<Vec<Option<UserRow>>, FlowError> = chosen
        .users
        .iter()
        .map(|id| query::user(&console.flows, id))
        .collect();
    let mut chosen: Vec<UserRow> = match rows {
        Ok(rows) => rows.into_iter().flatten().collect(),
        Err(e) => return failed(console, session, &e),
    };
    chosen.sort_by(|a, b| (&a.email, &a.account_id).cmp(&(&b.email, &b.account_id)));
    if let Err(e) = crate::flows::reclaim::protect::mark(&console.flows, &mut chosen) {
        return failed(console, session, &e);
    }
    crate::http::api::inventory::csv_of(&chosen).unwrap_or_else(IntoResponse::into_response)
}
