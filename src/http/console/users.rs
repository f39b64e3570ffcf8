//! Inactive Users, as admins know the page: the summary, the filters, the table with its row
//! menu, and the selection's bulk actions (danger ones confirmed by typing the number of users).

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;
use time::OffsetDateTime;

use super::layout::page as frame;
use super::{AdminForm, Console, Signed, day, failed};
use crate::flows::FlowError;
use crate::flows::inventory::query::{self, Filter, Order, Sort, UserRow};
use crate::flows::reclaim::jobs::{self, BulkAction, BulkRequest};
use crate::http::api::Role;

/// The Product filter, by the names on screen.
const PRODUCTS: [(&str, &str, &str); 5] = [
    ("jira", "jira-software", "Jira"),
    ("confluence", "confluence", "Confluence"),
    ("jsm", "jira-servicedesk", "Jira Service Management"),
    ("assets", "assets", "Assets"),
    ("other", query::OTHER, "Other Atlassian products"),
];

#[derive(Deserialize, Default, Clone)]
pub struct UsersQuery {
    #[serde(default)]
    product: String,
    #[serde(default)]
    last_active: String,
    #[serde(default)]
    inactive_after: String,
    #[serde(default)]
    custom_days: String,
    #[serde(default)]
    q: String,
    #[serde(default)]
    sort: String,
    #[serde(default)]
    order: String,
    #[serde(default)]
    cursor: String,
}

impl UsersQuery {
    fn days(&self) -> u32 {
        let chosen = if self.inactive_after == "custom" {
            self.custom_days.trim()
        } else {
            self.inactive_after.trim()
        };
        chosen
            .parse()
            .ok()
            .filter(|d| (1..=3650).contains(d))
            .unwrap_or(30)
    }

    fn product_key(&self) -> Option<&'static str> {
        PRODUCTS
            .iter()
            .find(|(k, _, _)| *k == self.product)
            .map(|(_, key, _)| *key)
    }

    fn sort(&self) -> (Sort, Order) {
        let sort = match self.sort.as_str() {
            "name" => Sort::Name,
            "email" => Sort::Email,
            _ => Sort::LastSeen,
        };
        let order = if self.order == "desc" {
            Order::Desc
        } else {
            Order::Asc
        };
        (sort, order)
    }

    fn filter(&self) -> Filter {
        let before = time::Date::parse(
            self.last_active.trim(),
            &time::format_description::well_known::Iso8601::DATE,
        )
        .ok()
        .map(|d| d.midnight().assume_utc());
        Filter {
            product: self.product_key().map(String::from),
            inactive_after_days: Some(self.days()),
            last_active_before: before,
            q: Some(self.q.trim().to_string()).filter(|q| !q.is_empty()),
            account_type: Some(crate::domain::AccountType::Person),
            ..Filter::default()
        }
    }

    /// The inventory API's CSV of everyone this page's filter matches, in its order.
    fn csv_link(&self) -> String {
        let mut s = url::form_urlencoded::Serializer::new(String::new());
        s.append_pair("inactive_after_days", &self.days().to_string());
        s.append_pair("account_type", "person");
        if let Some(product) = self.product_key() {
            s.append_pair("product", product);
        }
        let pairs = [
            ("last_active_before", self.last_active.trim()),
            ("q", self.q.trim()),
            ("sort", self.sort.as_str()),
            ("order", self.order.as_str()),
        ];
        let known = |k: &str, v: &str| match k {
            "sort" => ["name", "email", "last_seen"].contains(&v),
            "order" => ["asc", "desc"].contains(&v),
            _ => true,
        };
        for (k, v) in pairs.iter().filter(|(k, v)| !v.is_empty() && known(k, v)) {
            s.append_pair(k, v);
        }
        format!("/api/v1/inventory/users.csv?{}", s.finish())
    }

    /// This page's link with one parameter changed (sorting, paging).
    fn with(&self, key: &str, value: &str) -> String {
        let mut q = self.clone();
        match key {
            "sort" => {
                q.order = if q.sort == value && q.order != "desc" {
                    "desc".into()
                } else {
                    "asc".into()
                };
                q.sort = value.into();
                q.cursor.clear();
            }
            "cursor" => q.cursor = value.into(),
            _ => {}
        }
        let pairs = [
            ("product", &q.product),
            ("last_active", &q.last_active),
            ("inactive_after", &q.inactive_after),
            ("custom_days", &q.custom_days),
            ("q", &q.q),
            ("sort", &q.sort),
            ("order", &q.order),
            ("cursor", &q.cursor),
        ];
        let mut s = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in pairs.iter().filter(|(_, v)| !v.is_empty()) {
            s.append_pair(k, v);
        }
        format!("/console/users?{}", s.finish())
    }
}

/// `GET /console/users`
pub async fn page(
    State(console): State<Console>,
    Signed(session): Signed,
    Query(q): Query<UsersQuery>,
) -> Response {
    let ctx = &console.flows;
    let days = q.days();
    let cursor = Some(q.cursor.as_str()).filter(|c| !c.is_empty());
    let found = query::users(ctx, &q.filter(), q.sort(), 50, cursor)
        .and_then(|rows| Ok((rows, query::people(ctx)?)));
    let (rows, people) = match found {
        Ok(found) => found,
        Err(e) => return failed(&console, &session, &e),
    };
    let admin = session.role == Role::Admin;
    let body = html! {
        div.cards {
            div.card { div.muted { "Inactive Users" } div.metric { (rows.total) small { " of " (people) } } }
            div.card { div.muted { "Inactive After" } div.metric { (days) small { " days" } } }
        }
        div.message { "Users inactive for more than " (days) " days. Consider revoking their licenses to reduce costs." }
        (filters(&q))
        form method="post" action="/console/users/bulk" {
            input type="hidden" name="csrf" value=(session.csrf);
            @if admin { (bulk_bar()) }
            (table(&console, &q, &rows.users, admin, days))
        }
        div.pager {
            @if let Some(next) = &rows.next {
                a.button href=(q.with("cursor", next)) { "Next page" }
            }
            a.button href=(q.csv_link()) { "Export CSV" }
        }
    };
    frame(
        &console,
        &session,
        "/console/users",
        StatusCode::OK,
        "Inactive Users",
        body,
    )
}

fn filters(q: &UsersQuery) -> Markup {
    let presets = ["30", "60", "90", "180"];
    let custom = !q.inactive_after.is_empty() && !presets.contains(&q.inactive_after.as_str());
    html! {
        form.filters.card method="get" action="/console/users" {
            label { "Product"
                select name="product" {
                    option value="" { "All products" }
                    @for (k, _, label) in PRODUCTS {
                        option value=(k) selected[q.product == k] { (label) }
                    }
                }
            }
            label { "Last Active (before)" input type="date" name="last_active" value=(q.last_active); }
            label { "Inactive After (Days)"
                select name="inactive_after" {
                    @for d in presets {
                        option value=(d) selected[q.inactive_after == d || (q.inactive_after.is_empty() && d == "30")] { (d) }
                    }
                    option value="custom" selected[custom || q.inactive_after == "custom"] { "Custom" }
                }
            }
            label { "Custom days" input type="number" name="custom_days" min="1" max="3650" value=(q.custom_days); }
            label { "Search" input type="search" name="q" value=(q.q) placeholder="name, email, username"; }
            button.primary type="submit" { "Apply" }
        }
    }
}

fn bulk_bar() -> Markup {
    html! {
        div.bulkbar data-bulkbar role="region" aria-label="Bulk actions" {
            strong data-selected-count { "Select users below" }
            label { "Bulk Actions"
                select name="action" required {
                    optgroup label="Standard actions" {
                        option value="enable-licences" { "Enable Licenses" }
                        option value="restore-suspended" { "Restore Suspended Accounts" }
                        option value="add-to-group" { "Add to Group" }
                        option value="grant-product-access" { "Grant Product Access" }
                        option value="export-csv" { "Export CSV" }
                    }
                    optgroup label="Danger Zone" {
                        option value="disable-licences" { "Suspend accounts (every product)" }
                        option value="remove-from-group" { "Remove from Group" }
                        option value="revoke-product-access" { "Revoke Product Access" }
                        option value="remove-all-access" { "Remove All Access" }
                    }
                }
            }
            label { "Group" input type="text" name="group" size="18"; }
            label { "Product"
                select name="product" {
                    option value="" { "—" }
                    option value="jira-software" { "Jira" }
                    option value="confluence" { "Confluence" }
                    option value="jira-servicedesk" { "Jira Service Management" }
                }
            }
            button.primary type="submit" { "Apply to selected" }
        }
    }
}

fn sort_link(q: &UsersQuery, key: &str, label: &str) -> Markup {
    let current = (if q.sort.is_empty() {
        "last_seen"
    } else {
        q.sort.as_str()
    }) == key;
    let sort = if current {
        if q.order == "desc" {
            "descending"
        } else {
            "ascending"
        }
    } else {
        "none"
    };
    html! { th aria-sort=(sort) { a href=(q.with("sort", key)) { (label) } } }
}

fn table(console: &Console, q: &UsersQuery, rows: &[UserRow], admin: bool, days: u32) -> Markup {
    let cutoff = OffsetDateTime::now_utc() - time::Duration::days(days as i64);
    html! {
        table {
            caption.skip { "Users" }
            thead { tr {
                @if admin { th { input type="checkbox" data-select-all aria-label="Select all users on this page"; } }
                (sort_link(q, "name", "User name"))
                (sort_link(q, "email", "Email address"))
                th { "Status" }
                (sort_link(q, "last_seen", "Last seen"))
                th { "Product activity" }
                th { "Assigned products" }
                th { "License usage" }
                th { "Actions" }
            } }
            tbody {
                @if rows.is_empty() { tr { td colspan="9" { "No user matches these filters." } } }
                @for u in rows {
                    @let licensed: Vec<_> = u.products.iter().filter(|p| p.licensed).collect();
                    @let in_use = licensed.iter().filter(|p| p.last_active.is_some_and(|t| t > cutoff)).count();
                    @let who = u.name.clone().or(u.email.clone()).unwrap_or(u.account_id.clone());
                    tr {
                        @if admin { td { input type="checkbox" name="user" value=(u.account_id) data-select aria-label={ "Select " (who) }; } }
                        td { a href={ "/console/users/" (enc(&u.account_id)) } { (who) } }
                        td { (u.email.as_deref().unwrap_or("—")) }
                        td { span class={ "badge " (u.status.key()) } { (u.status.key()) } }
                        td { (day(u.last_seen)) }
                        td { @for p in &u.products { div { (p.key) ": " (super::last_used(p)) } } }
                        td { @for p in &licensed { span.badge { (p.key) } } }
                        td { (in_use) " of " (licensed.len()) " in use" }
                        td { (row_menu(console, u, &who)) }
                    }
                }
            }
        }
    }
}

fn row_menu(console: &Console, u: &UserRow, who: &str) -> Markup {
    let profile = format!("/console/users/{}", enc(&u.account_id));
    html! {
        details.menu {
            summary aria-label={ "Actions for " (who) } { "•••" }
            ul {
                li { a href=(profile) { "View Profile" } }
                @if let Some(edit) = console.look.edit_user_url(&u.account_id) {
                    li { a href=(edit) rel="noreferrer" target="_blank" { "Edit User" } }
                }
                li { a href={ (profile) "#groups" } { "Manage Groups" } }
                li { a href={ (profile) "#remove" } { "Remove Access" } }
            }
        }
    }
}

/// A path segment, percent-encoded.
pub(super) fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

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
        return export(&console, &session, &users);
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
        ..BulkRequest::default()
    };
    if danger {
        // The always protected are listed before anything runs, and left out unless ticked.
        let protected = match protected_among(&console, &users).await {
            Ok(p) => p,
            Err(e) => return failed(&console, &session, &e),
        };
        let acting = users.len() - protected.len();
        if typed.is_empty() {
            return confirm_page(&console, &form, &users, &protected, None);
        }
        if typed.parse() != Ok(acting) {
            let why = "The number typed is not the number of users this acts on.";
            return confirm_page(&console, &form, &users, &protected, Some(why));
        }
        let ticked = form.all("override");
        let (overridden, left_out): (Vec<_>, Vec<_>) = protected
            .iter()
            .map(|(id, _, _)| id.clone())
            .partition(|id| ticked.contains(id));
        req.users.retain(|u| !left_out.contains(u));
        if req.users.is_empty() {
            let why = "Every selected user is always protected: nothing was done.";
            return confirm_page(&console, &form, &users, &protected, Some(why));
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
            &[],
            Some("The number typed is not the number of users selected."),
        ),
        Err(e) => failed(&console, &session, &e),
    }
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

fn confirm_page(
    console: &Console,
    form: &AdminForm,
    users: &[String],
    protected: &[(String, String, String)],
    error: Option<&str>,
) -> Response {
    let action = form.get("action");
    let n = users.len() - protected.len();
    let body = html! {
        @if let Some(e) = error { div.message.error role="alert" { (e) } }
        div.message.warn {
            "This takes access away from " strong { (n) " users" } " (" (action) "). "
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
        form.card #confirm-form method="post" action="/console/users/bulk" {
            input type="hidden" name="csrf" value=(form.session.csrf);
            input type="hidden" name="action" value=(action);
            input type="hidden" name="group" value=(form.get("group"));
            input type="hidden" name="product" value=(form.get("product"));
            @for u in users { input type="hidden" name="user" value=(u); }
            label for="confirm" { "Type " (n) " to confirm" }
            input #confirm type="text" name="confirm" inputmode="numeric" autocomplete="off" required;
            p { button.danger type="submit" { "Yes, " (action) } " " a href="/console/users" { "Cancel" } }
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
fn export(console: &Console, session: &crate::http::api::Session, users: &[String]) -> Response {
    let rows = match query::all_users(
        &console.flows,
        &Filter::default(),
        (Sort::Email, Order::Asc),
    ) {
        Ok(rows) => rows,
        Err(e) => return failed(console, session, &e),
    };
    let chosen = rows.iter().filter(|r| users.contains(&r.account_id));
    crate::http::api::inventory::csv_of(chosen).unwrap_or_else(IntoResponse::into_response)
}
