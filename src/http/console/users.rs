//! Inactive Users, as admins know the page: the summary, the filters, the table with its row
//! menu and badges, and the bulk-action bar (its actions are `bulk.rs`'s).

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{Markup, html};
use time::OffsetDateTime;

use super::fields::Invalid;
use super::filter::{COLUMNS, PAGE_SIZES, PRODUCTS, UsersQuery};
use super::layout::page as frame;
use super::table::{badge, scroll, sort_head};
use super::{Console, Signed, day, failed, words};
use crate::domain::Spelling;
use crate::flows::inventory::query::{self, Start, UserRow};
use crate::http::api::Role;
use crate::store::SavedView;

/// `GET /console/users`
pub async fn page(
    State(console): State<Console>,
    Signed(session): Signed,
    RawQuery(raw): RawQuery,
) -> Response {
    let ctx = &console.flows;
    let q = match UsersQuery::parse(raw.as_deref()) {
        Ok(q) => q,
        Err(why) => {
            let body = html! { div.message.error role="alert" { "The address's filter cannot be read: " (why) } p { a href="/console/users" { "Inactive Users" } } };
            let status = StatusCode::BAD_REQUEST;
            return frame(
                &console,
                &session,
                "/console/users",
                status,
                "Inactive Users",
                body,
            );
        }
    };
    let views = match ctx.store.views() {
        Ok(v) => v,
        Err(e) => return failed(&console, &session, &e.into()),
    };
    let admin = session.role == Role::Admin;
    let sp = console.look.spelling;
    let bad = q.check();
    if !bad.is_empty() {
        let body = html! { (bad.summary()) (saved_views(&views, &q, admin, &session.csrf)) (filters(&q, &bad, sp)) };
        return frame(
            &console,
            &session,
            "/console/users",
            StatusCode::BAD_REQUEST,
            "Inactive Users",
            body,
        );
    }
    let days = q.days();
    let per_page = q.per_page().unwrap_or(50);
    let start = q.start().unwrap_or(0);
    let found = query::users_from(ctx, &q.filter(), q.sort(), per_page, Start::At(start))
        .and_then(|rows| Ok((rows, query::people(ctx)?)));
    let (mut rows, people) = match found {
        Ok(found) => found,
        Err(e) => return failed(&console, &session, &e),
    };
    if let Err(e) = crate::flows::reclaim::protect::mark(ctx, &mut rows.users) {
        return failed(&console, &session, &e);
    }
    let groups = crate::flows::inventory::access::suggested_groups(ctx).await;
    let page = Paged {
        start,
        shown: rows.users.len(),
        total: rows.total,
        per_page,
    };
    let body = html! {
        div.cards {
            div.card { div.muted { "Inactive Users" } div.metric { (rows.total) small { " of " (people) } } }
            div.card { div.muted { "Inactive After" } div.metric { (days) small { " days" } } }
        }
        div.message { "Users inactive for more than " (days) " days. " (sp.say("Consider taking back their licences to reduce costs.")) }
        (saved_views(&views, &q, admin, &session.csrf))
        (filters(&q, &bad, sp))
        (group_picker(&groups))
        form method="post" action="/console/users/bulk" data-bulk-form data-filter=(q.filter_query()) data-total=(rows.total) {
            input type="hidden" name="csrf" value=(session.csrf);
            input type="hidden" name="filter" value=(q.filter_query());
            @if admin { (bulk_bar(rows.total, sp)) }
            @if admin && rows.total > rows.users.len() {
                div.message.select-matching data-select-matching hidden {
                    "All " (rows.users.len()) " users on this page are selected. "
                    button type="button" data-choose-matching { "Select all " (words::count(rows.total, "user")) " matching these filters" }
                }
            }
            (table(&console, &q, &rows.users, admin, days))
        }
        (pager(&q, &page))
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

/// Where a page is in the rows matching.
struct Paged {
    start: usize,
    shown: usize,
    total: usize,
    per_page: usize,
}

/// "51–100 of 212", Previous and Next, the CSV.
fn pager(q: &UsersQuery, page: &Paged) -> Markup {
    let previous = page.start.saturating_sub(page.per_page);
    let next = page.start + page.shown;
    html! {
        nav.pager aria-label="Pages" {
            span data-range {
                @if page.shown == 0 { "0 of " (page.total) }
                @else { (page.start + 1) "–" (next) " of " (page.total) }
            }
            @if page.start > 0 { a.button href=(q.at(previous)) rel="prev" { "Previous page" } }
            @if next < page.total { a.button href=(q.at(next)) rel="next" { "Next page" } }
            a.button href=(q.csv_link()) { "Export CSV" }
        }
    }
}

/// The saved views as links (the one opened marked), and an admin's *Save this view* and
/// *Delete*.
fn saved_views(views: &[SavedView], q: &UsersQuery, admin: bool, csrf: &str) -> Markup {
    html! {
        section.card.views aria-labelledby="views-title" {
            h2 #views-title { "Saved views" }
            @if views.is_empty() { p.muted { "None yet: set the filters, sort and columns, then save them under a name." } }
            @else {
                ul.inline {
                    @for v in views {
                        li {
                            @let current = v.name.eq_ignore_ascii_case(q.view.trim());
                            a href={ "/console/users?" (v.query) "&view=" (enc(&v.name)) } aria-current=[current.then_some("page")] { (v.name) }
                            @if admin {
                                form.inline method="post" action="/console/users/views/delete" {
                                    input type="hidden" name="csrf" value=(csrf);
                                    input type="hidden" name="name" value=(v.name);
                                    button.link type="submit" aria-label={ "Delete the view " (v.name) } { "Delete" }
                                }
                            }
                        }
                    }
                }
            }
            @if admin {
                form.inline method="post" action="/console/users/views" {
                    input type="hidden" name="csrf" value=(csrf);
                    input type="hidden" name="query" value=(q.view_query());
                    label for="view-name" { "Save this view as" }
                    " "
                    input #view-name type="text" name="name" maxlength="60" required value=(q.view);
                    " "
                    button type="submit" { "Save view" }
                }
            }
        }
    }
}

fn filters(q: &UsersQuery, bad: &Invalid, sp: Spelling) -> Markup {
    let presets = ["30", "60", "90", "180"];
    let owned = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(v, l)| (v.to_string(), l.to_string()))
            .collect()
    };
    let products: Vec<(String, String)> = std::iter::once(("", "All products"))
        .chain(PRODUCTS.iter().map(|(k, _, label)| (*k, *label)))
        .map(|(v, l)| (v.to_string(), l.to_string()))
        .collect();
    let days: Vec<(String, String)> = presets
        .iter()
        .map(|d| (d.to_string(), d.to_string()))
        .chain([("custom".to_string(), "Custom".to_string())])
        .collect();
    // A number of days that is no preset shows as Custom; nothing chosen is 30.
    let chosen_days = match q.inactive_after.as_str() {
        "" => "30",
        d if presets.contains(&d) => d,
        _ => "custom",
    };
    let statuses = owned(&[
        ("", "Active"),
        ("suspended", "Suspended"),
        ("deactivated", "Deactivated"),
        ("any", "Any status"),
    ]);
    let types = owned(&[
        ("", "People"),
        ("app", "Apps"),
        ("customer", "Portal customers"),
        ("any", "Any type"),
    ]);
    let sizes: Vec<(String, String)> = PAGE_SIZES
        .iter()
        .map(|n| {
            (
                if *n == 50 {
                    String::new()
                } else {
                    n.to_string()
                },
                n.to_string(),
            )
        })
        .collect();
    let per_page = if q.per_page == "50" {
        ""
    } else {
        q.per_page.as_str()
    };
    html! {
        form.filters.card method="get" action="/console/users" novalidate {
            (bad.select("product", "Product", &products, &q.product))
            (bad.input("last_active", "Last active (before)", "date", &q.last_active))
            (bad.select("inactive_after", "Inactive after (days)", &days, chosen_days))
            (bad.input("custom_days", "Custom days", "text", &q.custom_days))
            (bad.select("status", "Status", &statuses, &q.status))
            (bad.select("account_type", "Account type", &types, &q.account_type))
            div.field {
                label for="group" { "In group" }
                input #group type="text" name="group" value=(q.group) list="known-groups" autocomplete="off";
            }
            (bad.input("not_group", "Not in group", "text", &q.not_group))
            div.field.check {
                label { input type="checkbox" name="never" value="yes" checked[q.never == "yes"]; " Never active" }
                (bad.under("never"))
            }
            div.field {
                label for="q" { "Search" }
                input #q type="search" name="q" value=(q.q) placeholder="name, email, username";
            }
            (bad.select("per_page", "Rows per page", &sizes, per_page))
            details.columns {
                summary { "Columns" }
                input type="hidden" name="cols" value="1";
                fieldset {
                    legend.skip { "Columns shown" }
                    @for (key, label, _) in COLUMNS {
                        label { input type="checkbox" name="col" value=(key) checked[q.shows(key)]; " " (sp.say(label)) }
                    }
                }
                (bad.under("cols"))
            }
            @if q.licensed == "yes" {
                input type="hidden" name="licensed" value="yes";
                span.muted { (sp.say("Only users holding a licence of the product.")) }
            }
            @for kept in ["sort", "order"] {
                @let value = if kept == "sort" { &q.sort } else { &q.order };
                @if !value.is_empty() { input type="hidden" name=(kept) value=(value); }
            }
            @for hidden in ["sort", "order", "licensed", "from"] {
                @if let Some(why) = bad.of(hidden) { span.field-error { (why) } }
            }
            button.primary type="submit" { "Apply" }
        }
    }
}

/// The groups reinstate knows, offered as the group field's suggestions.
pub(super) fn group_picker(groups: &[String]) -> Markup {
    html! {
        datalist #known-groups {
            @for g in groups { option value=(g) {} }
        }
    }
}

fn bulk_bar(total: usize, sp: Spelling) -> Markup {
    html! {
        div.bulkbar data-bulkbar role="region" aria-label="Bulk actions" {
            strong data-selected-count { "Select users below" }
            fieldset.scope {
                legend { "Apply to" }
                label { input type="radio" name="scope" value="selected" checked; " the users ticked" }
                label { input type="radio" name="scope" value="matching" data-scope-matching; " every user matching these filters (" (total) ")" }
            }
            label { "Bulk Actions"
                select name="action" required {
                    optgroup label="Standard actions" {
                        option value="enable-licences" { (sp.say("Enable licences")) }
                        option value="restore-suspended" { "Restore suspended accounts" }
                        option value="add-to-group" { "Add to group" }
                        option value="grant-product-access" { "Grant product access" }
                        option value="export-csv" { "Export CSV" }
                    }
                    optgroup label="Danger Zone" {
                        option value="disable-licences" { "Suspend accounts (every product)" }
                        option value="remove-from-group" { "Remove from group" }
                        option value="revoke-product-access" { "Revoke product access" }
                        option value="remove-all-access" { "Remove all access" }
                    }
                }
            }
            label { "Group" input type="text" name="group" size="18" list="known-groups" autocomplete="off"; }
            label { "Product"
                select name="product" {
                    option value="" { "—" }
                    @for p in crate::domain::Product::ALL {
                        option value=(p.key()) { (words::product(p)) }
                    }
                }
            }
            button.primary type="submit" { "Apply" }
            button type="button" data-clear-selection hidden { "Clear selection" }
        }
    }
}

/// A column's heading: a link that sorts by it (turning the order when it is sorted by it
/// already).
fn sort_link(q: &UsersQuery, key: &str, label: &str) -> Markup {
    let sorted = (q.sort_key() == key).then_some(q.order == "desc");
    sort_head(label, &q.sorted_by(key), sorted)
}

/// A heading of a column that cannot be sorted.
fn plain_head(label: &str) -> Markup {
    html! { th { (label) } }
}

fn table(console: &Console, q: &UsersQuery, rows: &[UserRow], admin: bool, days: u32) -> Markup {
    let cutoff = OffsetDateTime::now_utc() - time::Duration::days(days as i64);
    let shown: Vec<&str> = COLUMNS
        .iter()
        .map(|(k, _, _)| *k)
        .filter(|k| q.shows(k))
        .collect();
    let heading = |key: &str| -> Markup {
        let label = COLUMNS
            .iter()
            .find(|(k, _, _)| *k == key)
            .map_or(key, |(_, l, _)| *l);
        let label = &console.look.spelling.say(label);
        match key {
            "email" | "status" | "last_seen" | "products" | "usage" => sort_link(q, key, label),
            _ => plain_head(label),
        }
    };
    let width = shown.len() + 2 + usize::from(admin);
    html! {
    (scroll("Users", html! {
            table {
                caption.skip { "Users" }
                thead { tr {
                    @if admin { th { input type="checkbox" data-select-all aria-label="Select all users on this page"; } }
                    (sort_link(q, "name", "User name"))
                    @for key in &shown { (heading(key)) }
                    th { "Actions" }
                } }
                tbody {
                    @if rows.is_empty() { tr { td colspan=(width) { "No user matches these filters." } } }
                    @for u in rows {
                        @let who = u.name.clone().or(u.email.clone()).unwrap_or(u.account_id.clone());
                        tr {
                            @if admin { td { input type="checkbox" name="user" value=(u.account_id) data-select aria-label={ "Select " (who) }; } }
                            td { a href={ "/console/users/" (enc(&u.account_id)) } { (who) } }
                            @for key in &shown { td { (cell(console, u, key, cutoff, days)) } }
                            td { (row_menu(console, u, &who)) }
                        }
                    }
                }
            }
            }))
        }
}

/// One row's cell of the column `key`.
fn cell(console: &Console, u: &UserRow, key: &str, cutoff: OffsetDateTime, days: u32) -> Markup {
    let licensed = || u.products.iter().filter(|p| p.licensed);
    match key {
        "email" => html! { (u.email.as_deref().unwrap_or("—")) },
        "status" => standing(console, u),
        "last_seen" => html! { (day(u.last_seen)) },
        "activity" => html! { @for p in &u.products { div { (activity(p, cutoff, days)) } } },
        "products" => {
            html! { @for p in licensed() { span.badge { (words::product_key(&p.key)) } } }
        }
        "usage" => {
            let in_use = licensed()
                .filter(|p| p.last_active.is_some_and(|t| t > cutoff))
                .count();
            html! { (in_use) " of " (licensed().count()) " in use" }
        }
        "groups" => html! { (u.groups.join(", ")) },
        "added" => html! { (day(u.added_at)) },
        "last_login" => html! { (day(u.last_login)) },
        _ => html! {},
    }
}

/// The account's status, and the badges that say it is left alone: protected (why, as every
/// action finds it) and recently restored (within `reclaim.min_days_since_restore`).
pub(super) fn standing(console: &Console, u: &UserRow) -> Markup {
    let recent = time::Duration::days(i64::from(
        console.flows.settings.reclaim.min_days_since_restore,
    ));
    let restored = u
        .restored_at
        .filter(|t| OffsetDateTime::now_utc() - *t <= recent);
    html! {
        (badge(u.status.key()))
        @if let Some(why) = u.protected_why.as_deref().map(|w| console.look.spelling.say(w)) {
            span.badge.protected title=(why) { "protected" }
            span.skip { " (" (why) ")" }
        }
        @if let Some(t) = restored {
            span.badge.restored title={ "given back on " (t.date()) } { "recently restored" }
        }
    }
}

/// One product's activity: when it was last used and what saw it (so that a login today next
/// to a product's "never" explains itself), marked when past the page's threshold.
fn activity(p: &query::ProductRow, cutoff: OffsetDateTime, days: u32) -> Markup {
    let past = p.licensed && p.last_active.is_none_or(|t| t <= cutoff) && p.activity_known;
    html! {
        (words::product_key(&p.key)) ": " (super::last_used(p))
        @if let Some(by) = p.seen_by { span.muted { " — " (words::seen_by(by)) } }
        @if past { " " span.badge.inactive { "inactive over " (days) " days" } }
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
