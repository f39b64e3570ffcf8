//! Inactive Users' query string: its filters, sort, page and columns, each checked and named
//! at its field when wrong (never replaced by a default), turned into the inventory's filter,
//! and written back as links — the page's own, the CSV's, and the filter alone that "every user
//! matching" and saved views carry.

use serde::Deserialize;
use time::OffsetDateTime;

use super::fields::Invalid;
use crate::domain::{AccountStatus, AccountType};
use crate::flows::inventory::query::{self, Filter, Order, Sort};

/// The Product filter, by the names on screen.
pub const PRODUCTS: [(&str, &str, &str); 5] = [
    ("jira", "jira-software", "Jira Software"),
    ("confluence", "confluence", "Confluence"),
    ("jsm", "jira-servicedesk", "Jira Service Management"),
    ("assets", "assets", "Assets"),
    ("other", query::OTHER, "Other Atlassian products"),
];

/// The columns an admin may show or hide: key, heading, shown unless chosen otherwise. The
/// user's name and the row's menu are always shown.
pub const COLUMNS: [(&str, &str, bool); 9] = [
    ("email", "Email address", true),
    ("status", "Status", true),
    ("last_seen", "Last seen", true),
    ("activity", "Product activity", true),
    ("products", "Assigned products", true),
    ("usage", "Licence usage", true),
    ("groups", "Groups", false),
    ("added", "Added", false),
    ("last_login", "Last login", false),
];

/// Rows a page may show.
pub const PAGE_SIZES: [usize; 4] = [25, 50, 100, 200];

/// The filter's own parameters (what selects users), in the order links write them.
const FILTER_KEYS: [&str; 11] = [
    "product",
    "last_active",
    "inactive_after",
    "custom_days",
    "status",
    "account_type",
    "group",
    "not_group",
    "never",
    "q",
    "licensed",
];

#[derive(Deserialize, Default, Clone)]
pub struct UsersQuery {
    #[serde(default)]
    pub product: String,
    #[serde(default)]
    pub last_active: String,
    #[serde(default)]
    pub inactive_after: String,
    #[serde(default)]
    pub custom_days: String,
    #[serde(default)]
    pub q: String,
    #[serde(default)]
    pub sort: String,
    #[serde(default)]
    pub order: String,
    /// `yes`: only users holding a licence of the product filtered on (the Overview's links).
    #[serde(default)]
    pub licensed: String,
    /// The accounts' status: active when not said (suspended and deactivated accounts hold no
    /// seat), a status's key, or `any`.
    #[serde(default)]
    pub status: String,
    /// People when not said, `app`, `customer` or `any`.
    #[serde(default)]
    pub account_type: String,
    /// Only users in this group; only users not in this one.
    #[serde(default)]
    pub group: String,
    #[serde(default)]
    pub not_group: String,
    /// `yes`: only users with no activity seen.
    #[serde(default)]
    pub never: String,
    /// Rows a page (50 when not said).
    #[serde(default)]
    pub per_page: String,
    /// The first row's place (0 when not said).
    #[serde(default)]
    pub from: String,
    /// `1`: the columns are the `col` values (the column chooser was sent), else the default.
    #[serde(default)]
    pub cols: String,
    /// The saved view this page was opened from (its name, shown as chosen).
    #[serde(default)]
    pub view: String,
    /// The columns chosen (repeated `col`, read from the raw query string).
    #[serde(skip)]
    pub col: Vec<String>,
}

impl UsersQuery {
    /// The query of a page's query string (`None` for the empty string): every field, the
    /// repeated `col` too; what cannot be read at all is the error's detail.
    pub fn parse(raw: Option<&str>) -> Result<UsersQuery, String> {
        let raw = raw.unwrap_or_default();
        let uri: axum::http::Uri = format!("/console/users?{raw}")
            .parse()
            .map_err(|_| "the query string is not one".to_string())?;
        let axum::extract::Query(mut q) =
            axum::extract::Query::<UsersQuery>::try_from_uri(&uri).map_err(|e| e.body_text())?;
        q.col = url::form_urlencoded::parse(raw.as_bytes())
            .filter(|(k, _)| k == "col")
            .map(|(_, v)| v.into_owned())
            .collect();
        Ok(q)
    }

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

    pub fn days(&self) -> u32 {
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

    /// What is wrong with the query, by field: nothing is replaced by a default.
    pub fn check(&self) -> Invalid {
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
        if !self.sort.is_empty() && Sort::from_key(&self.sort).is_none() {
            bad.add(
                "sort",
                format!(
                    "Sort: {:?} is not a column to sort by ({})",
                    self.sort,
                    Sort::KEYS.join(", ")
                ),
            );
        }
        if !["", "any"].contains(&self.status.as_str())
            && AccountStatus::from_key(&self.status).is_none()
        {
            bad.add(
                "status",
                format!(
                    "Status: {:?} is not active, suspended, deactivated, gone or any",
                    self.status
                ),
            );
        }
        if !["", "person", "app", "customer", "any"].contains(&self.account_type.as_str()) {
            bad.add(
                "account_type",
                format!(
                    "Account type: {:?} is not person, app, customer or any",
                    self.account_type
                ),
            );
        }
        if !self.group.trim().is_empty()
            && self
                .group
                .trim()
                .eq_ignore_ascii_case(self.not_group.trim())
        {
            bad.add(
                "not_group",
                format!(
                    "Not in group: {:?} is also the group users must be in: nobody can match",
                    self.not_group.trim()
                ),
            );
        }
        for (field, label, value) in [
            ("licensed", "Licensed", &self.licensed),
            ("never", "Never active", &self.never),
        ] {
            if !["", "yes"].contains(&value.as_str()) {
                bad.add(field, format!("{label}: {value:?} is not yes"));
            }
        }
        if !["", "asc", "desc"].contains(&self.order.as_str()) {
            bad.add(
                "order",
                format!("Order: {:?} is not asc or desc", self.order),
            );
        }
        if self.per_page().is_none() {
            let sizes: Vec<String> = PAGE_SIZES.iter().map(usize::to_string).collect();
            bad.add(
                "per_page",
                format!(
                    "Rows per page: {:?} is not {}",
                    self.per_page,
                    sizes.join(", ")
                ),
            );
        }
        if self.start().is_none() {
            bad.add(
                "from",
                format!("From: {:?} is not a row's place (0 or more)", self.from),
            );
        }
        if let Some(c) = self
            .col
            .iter()
            .find(|c| !COLUMNS.iter().any(|(k, _, _)| k == c))
        {
            bad.add("cols", format!("Columns: {c:?} is not a column"));
        }
        bad
    }

    /// The rows a page (50 when not said); `None` when it is not one of the sizes.
    pub fn per_page(&self) -> Option<usize> {
        match self.per_page.trim() {
            "" => Some(50),
            n => n.parse().ok().filter(|n| PAGE_SIZES.contains(n)),
        }
    }

    /// The first row's place; `None` when it is not a number.
    pub fn start(&self) -> Option<usize> {
        match self.from.trim() {
            "" => Some(0),
            n => n.parse().ok(),
        }
    }

    /// Whether the column `key` is shown.
    pub fn shows(&self, key: &str) -> bool {
        if self.cols == "1" {
            self.col.iter().any(|c| c == key)
        } else {
            COLUMNS.iter().any(|(k, _, shown)| *k == key && *shown)
        }
    }

    /// The status filtered on: active unless another (or any) is asked for.
    fn status(&self) -> Option<AccountStatus> {
        match self.status.as_str() {
            "" => Some(AccountStatus::Active),
            "any" => None,
            other => AccountStatus::from_key(other),
        }
    }

    /// The account type filtered on: people unless another (or any) is asked for.
    fn account_type(&self) -> Option<AccountType> {
        match self.account_type.as_str() {
            "" | "person" => Some(AccountType::Person),
            "app" => Some(AccountType::App),
            "customer" => Some(AccountType::Customer),
            _ => None,
        }
    }

    pub fn product_key(&self) -> Option<&'static str> {
        PRODUCTS
            .iter()
            .find(|(k, _, _)| *k == self.product)
            .map(|(_, key, _)| *key)
    }

    /// The column sorted on, by its key (`last_seen` when not said).
    pub fn sort_key(&self) -> &str {
        if self.sort.is_empty() {
            "last_seen"
        } else {
            &self.sort
        }
    }

    pub fn sort(&self) -> (Sort, Order) {
        let sort = Sort::from_key(self.sort_key()).unwrap_or_default();
        let order = if self.order == "desc" {
            Order::Desc
        } else {
            Order::Asc
        };
        (sort, order)
    }

    fn text(value: &str) -> Option<String> {
        Some(value.trim().to_string()).filter(|v| !v.is_empty())
    }

    pub fn filter(&self) -> Filter {
        Filter {
            product: self.product_key().map(String::from),
            inactive_after_days: Some(self.days()),
            last_active_before: self.last_active_before().ok().flatten(),
            q: Self::text(&self.q),
            account_type: self.account_type(),
            licensed: (self.licensed == "yes").then_some(true),
            status: self.status(),
            in_group: Self::text(&self.group),
            not_in_group: Self::text(&self.not_group),
            never_active: self.never == "yes",
        }
    }

    /// The inventory API's CSV of everyone this page's filter matches, in its order.
    pub fn csv_link(&self) -> String {
        let mut s = url::form_urlencoded::Serializer::new(String::new());
        s.append_pair("inactive_after_days", &self.days().to_string());
        if let Some(t) = self.account_type() {
            s.append_pair("account_type", t.key());
        }
        if let Some(product) = self.product_key() {
            s.append_pair("product", product);
        }
        if self.licensed == "yes" {
            s.append_pair("licensed", "true");
        }
        if self.never == "yes" {
            s.append_pair("never_active", "true");
        }
        if let Some(status) = self.status() {
            s.append_pair("status", status.key());
        }
        let pairs = [
            ("last_active_before", self.last_active.trim()),
            ("q", self.q.trim()),
            ("group", self.group.trim()),
            ("not_group", self.not_group.trim()),
            ("sort", self.sort.as_str()),
            ("order", self.order.as_str()),
        ];
        for (k, v) in pairs.iter().filter(|(_, v)| !v.is_empty()) {
            s.append_pair(k, v);
        }
        format!("/api/v1/inventory/users.csv?{}", s.finish())
    }

    /// Every parameter that is set, in a fixed order (the columns once each, as chosen).
    fn pairs(&self) -> Vec<(&'static str, String)> {
        let fields: [(&'static str, &String); 17] = [
            ("product", &self.product),
            ("last_active", &self.last_active),
            ("inactive_after", &self.inactive_after),
            ("custom_days", &self.custom_days),
            ("status", &self.status),
            ("account_type", &self.account_type),
            ("group", &self.group),
            ("not_group", &self.not_group),
            ("never", &self.never),
            ("q", &self.q),
            ("licensed", &self.licensed),
            ("view", &self.view),
            ("sort", &self.sort),
            ("order", &self.order),
            ("per_page", &self.per_page),
            ("from", &self.from),
            ("cols", &self.cols),
        ];
        let mut out: Vec<(&'static str, String)> = fields
            .into_iter()
            .filter(|(_, v)| !v.trim().is_empty())
            .map(|(k, v)| (k, v.trim().to_string()))
            .collect();
        if self.cols == "1" {
            for (key, _, _) in COLUMNS.iter().filter(|(k, _, _)| self.shows(k)) {
                out.push(("col", key.to_string()));
            }
        }
        out
    }

    fn encode(pairs: &[(&'static str, String)]) -> String {
        let mut s = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in pairs {
            s.append_pair(k, v);
        }
        s.finish()
    }

    /// The page's link as it is.
    pub fn link(&self) -> String {
        format!("/console/users?{}", Self::encode(&self.pairs()))
    }

    /// What selects the users alone (no sort, page or columns): what "every user matching"
    /// sends to the server, which finds them itself.
    pub fn filter_query(&self) -> String {
        let pairs: Vec<_> = self
            .pairs()
            .into_iter()
            .filter(|(k, _)| FILTER_KEYS.contains(k))
            .collect();
        Self::encode(&pairs)
    }

    /// What a saved view keeps: the filter, sort, page size and columns (not the page).
    pub fn view_query(&self) -> String {
        let pairs: Vec<_> = self
            .pairs()
            .into_iter()
            .filter(|(k, _)| !["from", "view"].contains(k))
            .collect();
        Self::encode(&pairs)
    }

    /// This page's link sorted by `key` (the order turned when it is sorted by it already),
    /// from the first row.
    pub fn sorted_by(&self, key: &str) -> String {
        let mut q = self.clone();
        q.order = if q.sort_key() == key && q.order != "desc" {
            "desc".into()
        } else {
            "asc".into()
        };
        q.sort = key.into();
        q.from.clear();
        q.link()
    }

    /// This page's link from the row at `start`.
    pub fn at(&self, start: usize) -> String {
        let mut q = self.clone();
        q.from = if start == 0 {
            String::new()
        } else {
            start.to_string()
        };
        q.link()
    }
}
