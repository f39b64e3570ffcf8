//! Inactive Users, as admins know the page: the summary, the filters, the table with its row
//! menu and badges, and the bulk-action bar (its actions are `bulk.rs`'s).

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{Markup, html};
use serde::Deserialize;
use time::OffsetDateTime;

use super::fields::Invalid;
use super::layout::page as frame;
use super::table::{badge, scroll};
use super::{Console, Signed, day, failed, words};
use crate::flows::inventory::query::{self, Filter, Order, Sort, UserRow};
use crate::http::api::Role;

/// The Product filter, by the names on screen.
const PRODUCTS: [(&str, &str, &str); 5] = [
    ("jira", "jira-software", "Jira Software"),
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
    /// `yes`: only users holding a licence of the product filtered on (the Overview's links).
    #[serde(default)]
    licensed: String,
    /// The accounts' status: active when not said (suspended and deactivated accounts hold no
    /// seat), a status's key, or `any`.
    #[serde(default)]
    status: String,
}

impl UsersQuery {
    /// The days chosen: a preset, or the custom days when Custom is chosen (30 when nothing
    /// is); what `check` names when it is not a number of days.
    fn chosen_days(&self) -> Result<u32, String> {
        let (field, chosen) = if self.inactive_after == "custom" {
            ("Custom days", self.custom_days.trim())
        } else {
            ("Inactive after", self.inactive_after.trim())
        };
        if chosen.is_empty() && self.inactive_after != "custom" {
            return Ok(30);
        }
        chosen
            .parse()
            .ok()
            .filter(|d| (1..=3650).contains(d))
            .ok_or_else(|| format!("{field}: {chosen:?} is not a number of days from 1 to 3650"))
    }

    fn days(&self) -> u32 {
        self.chosen_days().unwrap_or(30)
    }

    fn last_active_before(&self) -> Result<Option<OffsetDateTime>, String> {
        let typed = self.last_active.trim();
        if typed.is_empty() {
            return Ok(None);
        }
        time::Date::parse(typed, &time::format_description::well_known::Iso8601::DATE)
            .map(|d| Some(d.midnight().assume_utc()))
            .map_err(|_| format!("Last active (before): {typed:?} is not a date (YYYY-MM-DD)"))
    }

    /// What is wrong with the filter, by field: nothing is replaced by a default.
    fn check(&self) -> Invalid {
        let mut bad = Invalid::default();
        if !self.product.is_empty() && self.product_key().is_none() {
            let known: Vec<&str> = PRODUCTS.iter().map(|(k, _, _)| *k).collect();
            bad.add(
                "product",
                format!(
                    "Product: {:?} is not one of {}",
                    self.product,
                    known.join(", ")
                ),
            );
        }
        if let Err(why) = self.chosen_days() {
            let field = if self.inactive_after == "custom" {
                "custom_days"
            } else {
                "inactive_after"
            };
            bad.add(field, why);
        }
        if let Err(why) = self.last_active_before() {
            bad.add("last_active", why);
        }
        if !["", "name", "email", "last_seen"].contains(&self.sort.as_str()) {
            bad.add(
                "sort",
                format!("Sort: {:?} is not a column to sort by", self.sort),
            );
        }
        if !["", "any"].contains(&self.status.as_str())
            && crate::domain::AccountStatus::from_key(&self.status).is_none()
        {
            bad.add(
                "status",
                format!(
                    "Status: {:?} is not active, suspended, deactivated, gone or any",
                    self.status
                ),
            );
        }
        if !["", "yes"].contains(&self.licensed.as_str()) {
            bad.add(
                "licensed",
                format!("Licensed: {:?} is not yes", self.licensed),
            );
        }
        if !["", "asc", "desc"].contains(&self.order.as_str()) {
            bad.add(
                "order",
                format!("Order: {:?} is not asc or desc", self.order),
            );
        }
        bad
    }

    /// The status filtered on: active unless another (or any) is asked for.
    fn status(&self) -> Option<crate::domain::AccountStatus> {
        match self.status.as_str() {
            "" => Some(crate::domain::AccountStatus::Active),
            "any" => None,
            other => crate::domain::AccountStatus::from_key(other),
        }
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
        let before = self.last_active_before().ok().flatten();
        Filter {
            product: self.product_key().map(String::from),
            inactive_after_days: Some(self.days()),
            last_active_before: before,
            q: Some(self.q.trim().to_string()).filter(|q| !q.is_empty()),
            account_type: Some(crate::domain::AccountType::Person),
            licensed: (self.licensed == "yes").then_some(true),
            status: self.status(),
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
        if self.licensed == "yes" {
            s.append_pair("licensed", "true");
        }
        if let Some(status) = self.status() {
            s.append_pair("status", status.key());
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
            ("licensed", &q.licensed),
            ("status", &q.status),
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
    let bad = q.check();
    if !bad.is_empty() {
        let body = html! { (bad.summary()) (filters(&q, &bad)) };
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
    let cursor = Some(q.cursor.as_str()).filter(|c| !c.is_empty());
    let found = query::users(ctx, &q.filter(), q.sort(), 50, cursor)
        .and_then(|rows| Ok((rows, query::people(ctx)?)));
    let (mut rows, people) = match found {
        Ok(found) => found,
        Err(e) => return failed(&console, &session, &e),
    };
    if let Err(e) = crate::flows::reclaim::protect::mark(ctx, &mut rows.users) {
        return failed(&console, &session, &e);
    }
    let admin = session.role == Role::Admin;
    let groups = if admin {
        crate::flows::inventory::access::suggested_groups(ctx).await
    } else {
        Vec::new()
    };
    let body = html! {
        div.cards {
            div.card { div.muted { "Inactive Users" } div.metric { (rows.total) small { " of " (people) } } }
            div.card { div.muted { "Inactive After" } div.metric { (days) small { " days" } } }
        }
        div.message { "Users inactive for more than " (days) " days. Consider taking back their licences to reduce costs." }
        (filters(&q, &bad))
        form method="post" action="/console/users/bulk" {
            input type="hidden" name="csrf" value=(session.csrf);
            @if admin { (bulk_bar(&groups)) }
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

fn filters(q: &UsersQuery, bad: &Invalid) -> Markup {
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
    html! {
        form.filters.card method="get" action="/console/users" novalidate {
            (bad.select("product", "Product", &products, &q.product))
            (bad.input("last_active", "Last active (before)", "date", &q.last_active))
            (bad.select("inactive_after", "Inactive after (days)", &days, chosen_days))
            (bad.input("custom_days", "Custom days", "text", &q.custom_days))
            (bad.select("status", "Status", &statuses, &q.status))
            div.field {
                label for="q" { "Search" }
                input #q type="search" name="q" value=(q.q) placeholder="name, email, username";
            }
            @if q.licensed == "yes" {
                input type="hidden" name="licensed" value="yes";
                span.muted { "Only users holding a licence of the product." }
            }
            @for hidden in ["sort", "order", "licensed"] {
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

fn bulk_bar(groups: &[String]) -> Markup {
    html! {
        div.bulkbar data-bulkbar role="region" aria-label="Bulk actions" {
            strong data-selected-count { "Select users below" }
            label { "Bulk Actions"
                select name="action" required {
                    optgroup label="Standard actions" {
                        option value="enable-licences" { "Enable licences" }
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
            (group_picker(groups))
            label { "Product"
                select name="product" {
                    option value="" { "—" }
                    @for p in crate::domain::Product::ALL {
                        option value=(p.key()) { (words::product(p)) }
                    }
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
    (scroll("Users", html! {
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
                    th { "Licence usage" }
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
                            td { (standing(console, u)) }
                            td { (day(u.last_seen)) }
                            td { @for p in &u.products { div { (activity(p, cutoff, days)) } } }
                            td { @for p in &licensed { span.badge { (words::product_key(&p.key)) } } }
                            td { (in_use) " of " (licensed.len()) " in use" }
                            td { (row_menu(console, u, &who)) }
                        }
                    }
                }
            }
            }))
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
        @if let Some(why) = &u.protected_why {
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
