//! Reading the inventory: the summary (users, inactive users, seats per product) and pages of
//! users, filtered and sorted, over the inventory held in memory. A product's *inactive* users
//! hold its licence and were last active in it (or, if never, added) more than N days ago; apps
//! and portal customers are never counted as inactive people (a filter lists theirs when it
//! names their account type), and neither is an account with no activity data either way (a
//! site that reports none, no login received): its activity is *unknown*.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::super::{Context, FlowError};
use crate::domain::{AccountStatus, AccountType, product_key};
use crate::store::{Account, Accounts, ProductSeats, SyncPhase};

/// Which users, and in what order.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// A product key: only what concerns this product.
    pub product: Option<String>,
    /// Only users inactive for more than this many days.
    pub inactive_after_days: Option<u32>,
    /// Only users last active before this (never active counts as before).
    pub last_active_before: Option<OffsetDateTime>,
    pub status: Option<AccountStatus>,
    pub account_type: Option<AccountType>,
    /// Holding the product (or any product) or not.
    pub licensed: Option<bool>,
    /// Part of the email, name or username, any case.
    pub q: Option<String>,
    /// Only users in this group (any case).
    pub in_group: Option<String>,
    /// Only users not in this group (any case).
    pub not_in_group: Option<String>,
    /// Only users with no activity or login seen in the product (or anywhere), where that is
    /// known (a directory that reports activity, or no product to report it of).
    pub never_active: bool,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sort {
    #[default]
    LastSeen,
    Email,
    Name,
    /// Active, suspended, deactivated, gone.
    Status,
    /// How many products' licences the account holds (of the product filtered on).
    Products,
    /// The share of its licences the account used within the filter's days (30 without):
    /// accounts holding none first, then the least used.
    Usage,
}

impl Sort {
    /// Every sort, by its key.
    pub const KEYS: [&'static str; 6] =
        ["last_seen", "email", "name", "status", "products", "usage"];

    pub fn from_key(key: &str) -> Option<Sort> {
        serde_json::from_value(serde_json::Value::String(key.into())).ok()
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Order {
    #[default]
    Asc,
    Desc,
}

/// `GET /api/v1/inventory/summary`
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(title = "reinstate inventory summary", extend("$id" = "https://reinstate.dev/schemas/inventory-summary.schema.json"))]
pub struct Summary {
    /// People in the directory (apps and gone accounts aside).
    pub users: usize,
    /// People inactive for more than `inactive_after_days` in a product they hold (that
    /// product, when one was asked for); active accounts only.
    pub inactive_users: usize,
    pub inactive_after_days: u32,
    /// When the last complete sync finished; `null` before the first.
    #[serde(with = "time::serde::rfc3339::option")]
    #[schemars(with = "Option<String>", extend("format" = "date-time"))]
    pub synced_at: Option<OffsetDateTime>,
    pub products: Vec<ProductSummary>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct ProductSummary {
    pub key: String,
    /// As the directory reported it at the last sync, when it does.
    pub seats_total: Option<u64>,
    /// The directory's count at the last sync, moved at once by what reinstate took or gave
    /// since (the active accounts holding it now against those when that sync finished); the
    /// active accounts holding it when the directory reports no count.
    pub seats_used: u64,
    /// People holding it, inactive in it for more than `inactive_after_days` (active accounts:
    /// a suspended or deactivated one holds no seat).
    pub inactive_licensed: usize,
    /// People holding it of whom nothing says how they use it (never seen by reinstate, and a
    /// directory that reports no activity): neither inactive nor active.
    pub unknown_activity: usize,
}

/// `GET /api/v1/inventory/users`
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(title = "reinstate inventory users", extend("$id" = "https://reinstate.dev/schemas/inventory-users.schema.json"))]
pub struct UsersPage {
    /// How many users match the filter, on every page.
    pub total: usize,
    pub users: Vec<UserRow>,
    /// The `cursor` of the next page; `null` on the last.
    pub next: Option<String>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct UserRow {
    pub account_id: String,
    pub email: Option<String>,
    pub name: Option<String>,
    pub username: Option<String>,
    pub account_type: AccountType,
    pub status: AccountStatus,
    /// The latest activity in any product, or login.
    #[serde(with = "time::serde::rfc3339::option")]
    #[schemars(with = "Option<String>", extend("format" = "date-time"))]
    pub last_seen: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schemars(with = "Option<String>", extend("format" = "date-time"))]
    pub added_at: Option<OffsetDateTime>,
    pub products: Vec<ProductRow>,
    pub groups: Vec<String>,
    /// Left alone by every reclaim and danger action: an administrator, the service account,
    /// `reclaim.protect_accounts`, or someone who asked to keep their access within the
    /// policies' period (a "keep my access" link).
    pub protected: bool,
    /// Why, when protected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protected_why: Option<String>,
    /// The last login reinstate received (any product, or none named).
    #[serde(with = "time::serde::rfc3339::option")]
    #[schemars(with = "Option<String>", extend("format" = "date-time"))]
    pub last_login: Option<OffsetDateTime>,
    /// When reinstate last gave the account a licence back.
    #[serde(with = "time::serde::rfc3339::option")]
    #[schemars(with = "Option<String>", extend("format" = "date-time"))]
    pub restored_at: Option<OffsetDateTime>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ProductRow {
    pub key: String,
    pub licensed: bool,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schemars(with = "Option<String>", extend("format" = "date-time"))]
    pub last_active: Option<OffsetDateTime>,
    /// Something says how the account used the product; `false`: unknown (never seen by
    /// reinstate, and the directory reports no activity), which is not "never".
    pub activity_known: bool,
    /// What saw `last_active`: `activity` (the directory's activity data), `product_login` (a
    /// login reinstate received naming the product), `login` (one naming none, or another) or
    /// `site_login` (the Jira site's own last login).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seen_by: Option<&'static str>,
}

/// Whether `a` holds `product` (and is still in the directory).
fn holder(a: &Account, product: &str) -> bool {
    a.products.get(product).is_some_and(|p| p.licensed) && a.status != AccountStatus::Gone
}

/// Whether `a` holds `product`, inactive in it for longer than `days`.
fn inactive_in(a: &Account, product: &str, days: u32, now: OffsetDateTime) -> bool {
    let since = a.last_active(product).or(a.added_at);
    holder(a, product)
        && a.activity_known(product)
        && since.is_none_or(|t| now - t > time::Duration::days(days as i64))
}

/// The products a filter is about: `other` is every product but Jira, Confluence, Service
/// Management and Assets.
pub const OTHER: &str = "other";
const NAMED: [&str; 4] = ["jira-software", "confluence", "jira-servicedesk", "assets"];

/// The product keys of `a` a filter on `product` concerns (every one without a filter).
fn scope<'a>(a: &'a Account, product: Option<&'a str>) -> Vec<&'a str> {
    match product {
        None => a.products.keys().map(String::as_str).collect(),
        Some(OTHER) => a
            .products
            .keys()
            .map(String::as_str)
            .filter(|k| !NAMED.contains(k))
            .collect(),
        Some(p) => a
            .products
            .contains_key(p)
            .then_some(p)
            .into_iter()
            .collect(),
    }
}

/// Whether `a` is inactive in the product (or in any product it holds).
fn inactive(a: &Account, product: Option<&str>, days: u32, now: OffsetDateTime) -> bool {
    scope(a, product)
        .into_iter()
        .any(|p| inactive_in(a, p, days, now))
}

/// The last activity in the product (or anywhere).
fn last_in(a: &Account, product: Option<&str>) -> Option<OffsetDateTime> {
    match product {
        None => a.last_seen(),
        Some(_) => scope(a, product)
            .into_iter()
            .filter_map(|p| a.last_active(p))
            .max(),
    }
}

impl Filter {
    fn matches(&self, a: &Account, now: OffsetDateTime) -> bool {
        let product = self.product.as_deref();
        let keys = scope(a, product);
        let holds = keys
            .iter()
            .any(|k| a.products.get(*k).is_some_and(|u| u.licensed));
        let last = last_in(a, product);
        let q = self.q.as_deref().map(str::to_lowercase);
        let text = |s: &Option<String>| {
            s.as_deref()
                .is_some_and(|s| q.as_deref().is_some_and(|q| s.to_lowercase().contains(q)))
        };
        self.status.is_none_or(|s| a.status == s)
            && self.account_type.is_none_or(|t| a.account_type == t)
            && self.licensed.is_none_or(|l| l == holds)
            && (product.is_none() || !keys.is_empty())
            && self
                .last_active_before
                .is_none_or(|b| last.is_none_or(|t| t < b))
            && self.inactive_after_days.is_none_or(|d| {
                // Inactive people, unless another account type is asked for by name.
                inactive(a, product, d, now)
                    && (self.account_type.is_some() || a.account_type == AccountType::Person)
            })
            && (q.is_none()
                || text(&a.email.as_ref().map(|e| e.to_string()))
                || text(&a.name)
                || text(&a.username))
            && self.in_group.as_deref().is_none_or(|g| member(a, g))
            && self.not_in_group.as_deref().is_none_or(|g| !member(a, g))
            && (!self.never_active
                || (last.is_none() && (keys.is_empty() || keys.iter().any(|k| reported(a, k)))))
    }
}

fn member(a: &Account, group: &str) -> bool {
    a.groups.iter().any(|g| g.eq_ignore_ascii_case(group))
}

/// Whether the directory reports the product's activity for the account (so no activity
/// means never).
fn reported(a: &Account, product: &str) -> bool {
    a.products.get(product).is_some_and(|p| p.reported)
}

/// How many of the account's licences (in the product filtered on) it holds, and how many of
/// those it used within `days`.
fn usage(a: &Account, product: Option<&str>, days: u32, now: OffsetDateTime) -> (usize, usize) {
    let cutoff = now - time::Duration::days(i64::from(days));
    let held: Vec<&str> = scope(a, product)
        .into_iter()
        .filter(|k| a.products.get(*k).is_some_and(|u| u.licensed))
        .collect();
    let used = held
        .iter()
        .filter(|k| a.last_active(k).is_some_and(|t| t > cutoff))
        .count();
    (held.len(), used)
}

/// How many people the inventory holds (not apps, not accounts gone from the directory).
pub fn people(ctx: &Context) -> Result<usize, FlowError> {
    let accounts = ctx.store.accounts()?;
    Ok(accounts
        .accounts()
        .filter(|a| a.account_type == AccountType::Person && a.status != AccountStatus::Gone)
        .count())
}

/// How many active accounts hold each product's licence, by key (a suspended or deactivated
/// account takes no seat).
pub fn holders<'a>(accounts: &'a Accounts<'_>) -> BTreeMap<&'a str, usize> {
    let mut held: BTreeMap<&str, usize> = BTreeMap::new();
    for a in accounts
        .accounts()
        .filter(|a| a.status == AccountStatus::Active)
    {
        for (key, _) in a.products.iter().filter(|(_, u)| u.licensed) {
            *held.entry(key.as_str()).or_default() += 1;
        }
    }
    held
}

/// Seats used now: the directory's count at the last sync, moved by what the inventory's
/// holders changed since (reinstate's own takes and gives, recorded at once); the holders
/// when the directory gave no count.
fn used_now(seats: Option<&ProductSeats>, holders: usize) -> u64 {
    let holders = holders as u64;
    match seats.map(|s| (s.used, s.held_at_sync)) {
        Some((Some(used), Some(then))) => (used + holders).saturating_sub(then),
        Some((Some(used), None)) => used,
        _ => holders,
    }
}

/// The summary over the whole inventory.
pub fn summary(ctx: &Context, product: Option<&str>, days: u32) -> Result<Summary, FlowError> {
    let now = OffsetDateTime::now_utc();
    let product = product.map(product_key);
    let state = ctx.store.sync_state()?;
    let accounts = ctx.store.accounts()?;
    let people = || {
        accounts
            .accounts()
            .filter(|a| a.account_type == AccountType::Person && a.status != AccountStatus::Gone)
    };
    let active = holders(&accounts);
    // Per product held by an account not gone: inactive holders, holders of unknown activity.
    let mut held: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for a in accounts
        .accounts()
        .filter(|a| a.status != AccountStatus::Gone)
    {
        for (key, _) in a.products.iter().filter(|(_, u)| u.licensed) {
            let entry = held.entry(key.as_str()).or_default();
            let person = a.account_type == AccountType::Person;
            // A suspended or deactivated account holds no seat: not an inactive holder.
            if person && a.status == AccountStatus::Active && inactive_in(a, key, days, now) {
                entry.0 += 1;
            }
            if person && holder(a, key) && !a.activity_known(key) {
                entry.1 += 1;
            }
        }
    }
    // A product the directory reports seats for is listed when nobody holds it (any more).
    for seats in &state.seats {
        held.entry(seats.key.as_str()).or_default();
    }
    let products = held
        .into_iter()
        .filter(|(key, _)| product.as_deref().is_none_or(|p| p == *key))
        .map(|(key, (inactive, unknown))| {
            let seats = state.seats.iter().find(|s| s.key == key);
            let holders = active.get(key).copied().unwrap_or(0);
            ProductSummary {
                key: key.to_string(),
                seats_total: seats.and_then(|s| s.total),
                seats_used: used_now(seats, holders),
                inactive_licensed: inactive,
                unknown_activity: unknown,
            }
        })
        .collect();
    Ok(Summary {
        users: people().count(),
        inactive_users: people()
            .filter(|a| a.status == AccountStatus::Active)
            .filter(|a| inactive(a, product.as_deref(), days, now))
            .count(),
        inactive_after_days: days,
        synced_at: state.synced_at.filter(|_| state.phase != SyncPhase::Never),
        products,
    })
}

/// A sort key: comparable, and writable into a cursor.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Key {
    Time(i64),
    Text(String),
    Number(i64),
}

fn key(a: &Account, sort: Sort, filter: &Filter, now: OffsetDateTime) -> (Key, String) {
    let product = filter.product.as_deref();
    let k = match sort {
        Sort::LastSeen => {
            let t = last_in(a, product);
            Key::Time(t.map_or(i64::MIN, |t| (t.unix_timestamp_nanos() / 1_000_000) as i64))
        }
        Sort::Email => Key::Text(a.email.as_ref().map(|e| e.to_string()).unwrap_or_default()),
        Sort::Name => Key::Text(a.name.as_deref().unwrap_or_default().to_lowercase()),
        Sort::Status => Key::Number(a.status as i64),
        Sort::Products => Key::Number(usage(a, product, 0, now).0 as i64),
        Sort::Usage => {
            let days = filter.inactive_after_days.unwrap_or(30);
            match usage(a, product, days, now) {
                (0, _) => Key::Number(-1),
                // In ten-thousandths, then by how many are held.
                (held, used) => Key::Number((used * 10_000 / held) as i64 * 1_000 + held as i64),
            }
        }
    };
    (k, a.account_id.clone())
}

/// Where a page starts: after a cursor's row (the API), or at a row's place (the console's
/// pages, which go back as well as forward).
#[derive(Debug, Clone, Copy)]
pub enum Start<'a> {
    After(Option<&'a str>),
    At(usize),
}

/// The page of users after `cursor`, at most `limit`, matching `filter` in `sort` `order`.
pub fn users(
    ctx: &Context,
    filter: &Filter,
    sort: (Sort, Order),
    limit: usize,
    cursor: Option<&str>,
) -> Result<UsersPage, FlowError> {
    users_from(ctx, filter, sort, limit, Start::After(cursor))
}

/// The page of users starting `from`, at most `limit`, matching `filter` in `sort` `order`.
pub fn users_from(
    ctx: &Context,
    filter: &Filter,
    (sort, order): (Sort, Order),
    limit: usize,
    from: Start<'_>,
) -> Result<UsersPage, FlowError> {
    let after = match from {
        Start::After(Some(c)) => Some(decode_cursor(c)?),
        _ => None,
    };
    let now = OffsetDateTime::now_utc();
    let product = filter.product.as_deref();
    let accounts = ctx.store.accounts()?;
    let mut matching: Vec<((Key, String), &Account)> = accounts
        .accounts()
        .filter(|a| filter.matches(a, now))
        .map(|a| (key(a, sort, filter, now), a))
        .collect();
    matching.sort_unstable_by(|x, y| match order {
        Order::Asc => x.0.cmp(&y.0),
        Order::Desc => y.0.cmp(&x.0),
    });
    let start = match (&after, from) {
        (Some(after), _) => matching.partition_point(|(k, _)| match order {
            Order::Asc => k <= after,
            Order::Desc => k >= after,
        }),
        (None, Start::At(at)) => at.min(matching.len()),
        (None, Start::After(_)) => 0,
    };
    let page: Vec<&((Key, String), &Account)> = matching[start..].iter().take(limit).collect();
    let more = start + page.len() < matching.len();
    let next = match page.last() {
        Some((k, _)) if more => Some(encode_cursor(k)),
        _ => None,
    };
    let rows = page
        .iter()
        .map(|(_, a)| row(ctx, a, product))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(UsersPage {
        total: matching.len(),
        users: rows,
        next,
    })
}

/// The account ids of every user matching `filter`, in no particular order: what "every user
/// matching" selects, resolved by the server from the filter itself.
pub fn matching_ids(ctx: &Context, filter: &Filter) -> Result<Vec<String>, FlowError> {
    let now = OffsetDateTime::now_utc();
    let accounts = ctx.store.accounts()?;
    Ok(accounts
        .accounts()
        .filter(|a| filter.matches(a, now))
        .map(|a| a.account_id.clone())
        .collect())
}

/// Every user matching `filter`, in `sort` `order` (for CSV).
pub fn all_users(
    ctx: &Context,
    filter: &Filter,
    sort: (Sort, Order),
) -> Result<Vec<UserRow>, FlowError> {
    Ok(users(ctx, filter, sort, usize::MAX, None)?.users)
}

/// One account as a row, every product shown: the same row a page of users gives.
pub fn user(ctx: &Context, account_id: &str) -> Result<Option<UserRow>, FlowError> {
    match ctx.store.account(account_id)? {
        Some(a) => Ok(Some(row(ctx, &a, None)?)),
        None => Ok(None),
    }
}

fn row(ctx: &Context, a: &Account, product: Option<&str>) -> Result<UserRow, FlowError> {
    let record = match &a.email {
        Some(email) => ctx.store.user(email)?,
        None => None,
    };
    // Asked to keep; the rest of what protects is marked by `protect::mark`.
    let protected = record
        .as_ref()
        .is_some_and(|u| u.keep_requested_at.is_some());
    let restored_at = record
        .as_ref()
        .and_then(|u| u.products.values().filter_map(|p| p.restored_at).max());
    let products = a
        .products
        .iter()
        .filter(|(key, _)| product.is_none_or(|p| p == key.as_str()))
        .map(|(key, used)| ProductRow {
            key: key.clone(),
            licensed: used.licensed,
            last_active: a.last_active(key),
            activity_known: a.activity_known(key),
            seen_by: a.last_active_by(key).map(|(_, by)| by),
        })
        .collect();
    Ok(UserRow {
        account_id: a.account_id.clone(),
        email: a.email.as_ref().map(|e| e.to_string()),
        name: a.name.clone(),
        username: a.username.clone(),
        account_type: a.account_type,
        status: a.status,
        last_seen: a.last_seen(),
        added_at: a.added_at,
        products,
        groups: a.groups.clone(),
        protected,
        protected_why: None,
        last_login: a.last_login,
        restored_at,
    })
}

/// The cursor of the page after `key`.
pub fn encode_cursor(key: &(Key, String)) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(key).unwrap_or_default())
}

/// A page's cursor, as `encode_cursor` wrote it (anything else is `invalid_query`).
pub fn decode_cursor(cursor: &str) -> Result<(Key, String), FlowError> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| {
            FlowError::invalid("invalid_query", "cursor: not a cursor from a previous page")
        })
}
