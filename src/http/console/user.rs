//! A user: identity, status, products with licence and last activity, groups; everything that
//! happened to them; what the ledger holds as taken (with a give-back); and what would happen
//! if they logged in now.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{Markup, html};

use super::layout::page as frame;
use super::table::scroll;
use super::{Console, Signed, day, failed, when, words};
use crate::domain::{Email, Spelling};
use crate::flows::inventory::access::Access;
use crate::flows::inventory::query::{self, UserRow};
use crate::flows::queries;
use crate::http::api::{Role, Session};
use crate::store::AuditFilter;

/// `GET /console/users/{account}`
pub async fn page(
    State(console): State<Console>,
    Signed(session): Signed,
    Path(account_id): Path<String>,
) -> Response {
    let ctx = &console.flows;
    let mut account = match query::user(ctx, &account_id) {
        Ok(Some(a)) => a,
        Ok(None) => {
            let e = crate::flows::FlowError::NotFound {
                code: "not_found",
                detail: format!("The inventory has no account {account_id}."),
            };
            return failed(&console, &session, &e);
        }
        Err(e) => return failed(&console, &session, &e),
    };
    if let Err(e) = crate::flows::reclaim::protect::mark(ctx, std::slice::from_mut(&mut account)) {
        return failed(&console, &session, &e);
    }
    let email = account.email.as_deref().and_then(|e| Email::parse(e).ok());
    let timeline = match &email {
        Some(email) => {
            let filter = AuditFilter {
                user: Some(email.clone()),
                ..AuditFilter::default()
            };
            queries::audit(ctx, &filter, 50, None).unwrap_or_default()
        }
        None => Vec::new(),
    };
    let ledger = queries::open_ledger(ctx, &account.account_id).unwrap_or_default();
    let explained = match &email {
        Some(email) => explain(&console, email).await,
        None => html! { p.muted { "No email address: reinstate cannot decide for this account." } },
    };
    let title = account
        .name
        .clone()
        .or(account.email.clone())
        .unwrap_or(account.account_id.clone());
    let access = match ctx.store.account(&account.account_id) {
        Ok(Some(a)) => crate::flows::inventory::access::of(ctx, &a)
            .await
            .map_err(|e| e.to_string()),
        Ok(None) => Ok(Vec::new()),
        Err(e) => Err(e.to_string()),
    };
    let body = html! {
        (identity(&console, &account, &access))
        h2 #groups { "Groups" }
        div.card { @for g in &account.groups { span.badge { (g) } } @if account.groups.is_empty() { span.muted { "None." } } }
        h2 { "What would happen if they logged in now" }
        div.card { (explained) }
        h2 #remove { "Changed by reinstate, not yet given back" }
        (taken(&session, &account, &ledger))
        h2 { "Timeline" }
        ol.timeline {
            @if timeline.is_empty() { li.muted { "Nothing recorded yet." } }
            @for e in &timeline {
                li {
                    strong { (words::capital(&words::plain(e.outcome.key()))) } " · " (when(e.at))
                    @if let Some(p) = e.product { " · " (words::product(p)) }
                    @if let Some(s) = e.source { " · from " (words::source(s)) }
                    div.muted { (console.look.spelling.say(&e.reason)) }
                }
            }
        }
    };
    frame(
        &console,
        &session,
        "/console/users",
        StatusCode::OK,
        &title,
        body,
    )
}

fn identity(console: &Console, a: &UserRow, access: &Result<Vec<Access>, String>) -> Markup {
    let sp = console.look.spelling;
    html! {
        div.cards {
            div.card {
                div.muted { "Email address" } div { (a.email.as_deref().unwrap_or("—")) }
                div.muted { "Account" } div { code { (a.account_id) } }
                @if let Some(u) = &a.username { div.muted { "Username" } div { (u) } }
                @if let Some(edit) = console.look.edit_user_url(&a.account_id) {
                    p { a href=(edit) rel="noreferrer" target="_blank" { "Edit User in Atlassian administration" } }
                }
            }
            div.card {
                div.muted { "Status" } div { (super::users::standing(console, a)) }
                div.muted { "Last seen" } div { (day(a.last_seen)) }
                div.muted { "Added" } div { (day(a.added_at)) }
            }
        }
    (scroll("Products", html! {
        table {
            thead { tr { th { "Product" } th { (sp.say("Licence")) } th { "Last active" } th { "Given by" } th { "reinstate can take it back" } } }
            tbody {
                @for p in &a.products {
                    @let given = access.as_ref().ok().and_then(|all| all.iter().find(|x| x.key == p.key));
                    tr {
                        td { (words::product_key(&p.key)) }
                        td { @if p.licensed { span.badge.active { "licensed" } } @else { span.badge { (sp.say("no licence")) } } }
                        td { (super::last_used(p)) @if let Some(by) = p.seen_by { div.muted { (words::seen_by(by)) } } }
                        td { (given_by(given, sp)) }
                        td { (can_take(given, sp)) }
                    }
                }
            }
        }
    }))
    @if let Err(e) = access { p.muted { "Which groups give which product is not known right now: " (e) } }
    }
}

/// The account's groups that give the product.
fn given_by(given: Option<&Access>, sp: Spelling) -> Markup {
    html! {
        @match given {
            Some(g) if !g.groups.is_empty() => { @for n in &g.groups { span.badge { (n) } } }
            _ => { span.muted { (sp.say("no licence group")) } }
        }
    }
}

/// Whether an action can take the product back, and why not.
fn can_take(given: Option<&Access>, sp: Spelling) -> Markup {
    html! {
        @match given {
            Some(Access { cannot: Some(why), .. }) => { "No: " (sp.say(why)) }
            Some(g) if !g.groups.is_empty() => { "Yes, by removing those groups" }
            _ => { "—" }
        }
    }
}

fn taken(session: &Session, a: &UserRow, ledger: &[crate::store::LedgerEntry]) -> Markup {
    html! {
            @if ledger.is_empty() {
                p.muted { "Nothing." }
            } @else {
    (scroll("Changed by reinstate, not yet given back", html! {
                table {
                    thead { tr { th { "When" } th { "Product" } th { "What" } th { "By" } } }
                    tbody {
                        @for l in ledger {
                            tr {
                                td { (when(l.at)) }
                                td { (l.product.map_or("Every product", words::product)) }
                                td { (l.change) }
                                td { a href={ "/console/jobs/" (l.run) } { (l.run) } }
                            }
                        }
                    }
                }
                }))
            }
            @if session.role == Role::Admin {
                div.row-actions {
                    @if !ledger.is_empty() {
                        form method="post" action="/console/users/bulk" {
                            input type="hidden" name="csrf" value=(session.csrf);
                            input type="hidden" name="user" value=(a.account_id);
                            input type="hidden" name="action" value="enable-licences";
                            button.primary type="submit" { "Give back exactly what was taken" }
                        }
                    }
                    form method="post" action="/console/users/bulk" {
                        input type="hidden" name="csrf" value=(session.csrf);
                        input type="hidden" name="user" value=(a.account_id);
                        input type="hidden" name="action" value="remove-all-access";
                        button.danger type="submit" { "Remove all access" }
                    }
                }
            }
        }
}

/// The rules' answer for this user now, per product.
async fn explain(console: &Console, email: &Email) -> Markup {
    let req = serde_json::from_value(serde_json::json!({"user": {"email": email.as_str()}}));
    let answer = match req {
        Ok(req) => crate::flows::rules::explain(&console.flows, req).await,
        Err(e) => return html! { p.muted { (e.to_string()) } },
    };
    let answer = match answer.map(|a| serde_json::to_value(a).unwrap_or_default()) {
        Ok(a) => a,
        Err(e) => return html! { p.muted { (e.to_string()) } },
    };
    html! {
        @if let Some(reason) = answer["reason"].as_str() { p { strong { (words::plain(answer["outcome"].as_str().unwrap_or(""))) } ": " (reason) } }
        @for p in answer["products"].as_array().into_iter().flatten() {
            p {
                strong { (words::product_key(p["product"].as_str().unwrap_or(""))) } ": "
                @if p["already_licensed"].as_bool() == Some(true) { "already licensed" } @else {
                    (words::plain(p["decision"]["outcome"].as_str().unwrap_or(""))) " — " (p["decision"]["reason"].as_str().unwrap_or(""))
                }
            }
        }
    }
}
