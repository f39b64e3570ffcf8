//! The inventory: a summary, pages of users (and the same as CSV), and its sync.

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use schemars::generate::SchemaGenerator;
use serde::Deserialize;
use time::OffsetDateTime;

use super::csv::attachment;
use super::{Admin, Api, Viewer};
use crate::domain::{AccountStatus, AccountType, product_key};
use crate::flows::inventory::query::{self, Filter, Order, Sort, Summary, UserRow, UsersPage};
use crate::flows::inventory::sync::{self, SyncStatus};
use crate::http::error::ApiError;
use crate::http::routes::{Operation, Routes, schema};

type QueryResult<T> = Result<Query<T>, axum::extract::rejection::QueryRejection>;

fn bad(detail: impl Into<String>) -> ApiError {
    ApiError::bad_request("invalid_query", detail)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SummaryQuery {
    product: Option<String>,
    inactive_after_days: Option<u32>,
}

/// `GET /api/v1/inventory/summary?product=&inactive_after_days=30`
pub async fn summary(
    _: Viewer,
    State(api): State<Api>,
    query: QueryResult<SummaryQuery>,
) -> Result<Json<Summary>, ApiError> {
    let Query(q) = query.map_err(|e| bad(e.body_text()))?;
    let days = days(q.inactive_after_days)?.unwrap_or(30);
    Ok(Json(query::summary(
        &api.flows,
        q.product.as_deref(),
        days,
    )?))
}

fn days(value: Option<u32>) -> Result<Option<u32>, ApiError> {
    match value {
        Some(d) if !(1..=3650).contains(&d) => Err(bad("inactive_after_days: must be 1 to 3650")),
        d => Ok(d),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsersQuery {
    product: Option<String>,
    inactive_after_days: Option<u32>,
    /// RFC 3339 date-time, or a date (`2026-09-01`).
    last_active_before: Option<String>,
    status: Option<String>,
    account_type: Option<String>,
    licensed: Option<bool>,
    q: Option<String>,
    /// Only users in this group / not in this group (any case).
    group: Option<String>,
    not_group: Option<String>,
    /// Only users with no activity seen (in the product, or anywhere).
    #[serde(default)]
    never_active: bool,
    #[serde(default)]
    sort: Sort,
    #[serde(default)]
    order: Order,
    limit: Option<usize>,
    cursor: Option<String>,
}

/// The filter of an inventory query string, exactly as the endpoints read it.
pub fn users_filter(uri: &axum::http::Uri) -> Result<Filter, ApiError> {
    let Query(q) = Query::<UsersQuery>::try_from_uri(uri).map_err(|e| bad(e.body_text()))?;
    filter(&q)
}

fn filter(q: &UsersQuery) -> Result<Filter, ApiError> {
    let status = q
        .status
        .as_deref()
        .map(|s| {
            AccountStatus::from_key(s).ok_or_else(|| {
                bad(format!(
                    "status: {s:?} is not active, suspended, deactivated or gone"
                ))
            })
        })
        .transpose()?;
    let account_type = match q.account_type.as_deref() {
        None => None,
        Some("person") => Some(AccountType::Person),
        Some("app") => Some(AccountType::App),
        Some("customer") => Some(AccountType::Customer),
        Some(t) => {
            return Err(bad(format!(
                "account_type: {t:?} is not person, app or customer"
            )));
        }
    };
    Ok(Filter {
        product: q.product.as_deref().map(product_key),
        inactive_after_days: days(q.inactive_after_days)?,
        last_active_before: q.last_active_before.as_deref().map(instant).transpose()?,
        status,
        account_type,
        licensed: q.licensed,
        q: q.q.clone().filter(|s| !s.trim().is_empty()),
        in_group: q.group.clone().filter(|g| !g.trim().is_empty()),
        not_in_group: q.not_group.clone().filter(|g| !g.trim().is_empty()),
        never_active: q.never_active,
    })
}

/// An RFC 3339 date-time, or a date meaning its start (UTC).
fn instant(value: &str) -> Result<OffsetDateTime, ApiError> {
    let rfc3339 = &time::format_description::well_known::Rfc3339;
    OffsetDateTime::parse(value, rfc3339)
        .or_else(|_| {
            let format = time::macros::format_description!("[year]-[month]-[day]");
            time::Date::parse(value, &format).map(|d| d.midnight().assume_utc())
        })
        .map_err(|_| {
            bad(format!(
                "last_active_before: {value:?} is not a date or an RFC 3339 date-time"
            ))
        })
}

/// `GET /api/v1/inventory/users?product=&inactive_after_days=&last_active_before=&status=&licensed=&q=&group=&not_group=&never_active=&sort=&order=&limit=&cursor=`
pub async fn users(
    _: Viewer,
    State(api): State<Api>,
    query: QueryResult<UsersQuery>,
) -> Result<Json<UsersPage>, ApiError> {
    let Query(q) = query.map_err(|e| bad(e.body_text()))?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(bad("limit: must be 1 to 1000"));
    }
    let mut page = query::users(
        &api.flows,
        &filter(&q)?,
        (q.sort, q.order),
        limit,
        q.cursor.as_deref(),
    )?;
    crate::flows::reclaim::protect::mark(&api.flows, &mut page.users)?;
    Ok(Json(page))
}

const COLUMNS: [&str; 11] = [
    "account_id",
    "email",
    "name",
    "username",
    "account_type",
    "status",
    "last_seen",
    "added_at",
    "products",
    "groups",
    "protected",
];

fn time_cell(t: Option<OffsetDateTime>) -> String {
    t.and_then(|t| {
        t.format(&time::format_description::well_known::Rfc3339)
            .ok()
    })
    .unwrap_or_default()
}

fn csv_row(u: &UserRow) -> [String; 11] {
    let products = u
        .products
        .iter()
        .map(|p| {
            let held = if p.licensed {
                "licensed"
            } else {
                "not licensed"
            };
            format!(
                "{} ({held}, last active {})",
                p.key,
                time_cell(p.last_active)
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    [
        u.account_id.clone(),
        u.email.clone().unwrap_or_default(),
        u.name.clone().unwrap_or_default(),
        u.username.clone().unwrap_or_default(),
        u.account_type.key().into(),
        u.status.key().into(),
        time_cell(u.last_seen),
        time_cell(u.added_at),
        products,
        u.groups.join("; "),
        u.protected.to_string(),
    ]
}

/// `GET /api/v1/inventory/users.csv`: every user the filters select, as RFC 4180 CSV.
pub async fn users_csv(
    _: Viewer,
    State(api): State<Api>,
    query: QueryResult<UsersQuery>,
) -> Result<Response, ApiError> {
    let Query(q) = query.map_err(|e| bad(e.body_text()))?;
    if q.limit.is_some() || q.cursor.is_some() {
        return Err(bad("limit and cursor: the CSV has every matching user"));
    }
    let mut rows = query::all_users(&api.flows, &filter(&q)?, (q.sort, q.order))?;
    crate::flows::reclaim::protect::mark(&api.flows, &mut rows)?;
    csv_of(&rows)
}

/// Users as the inventory's CSV.
pub fn csv_of<'a>(rows: impl IntoIterator<Item = &'a UserRow>) -> Result<Response, ApiError> {
    attachment(
        "reinstate-inventory.csv",
        COLUMNS,
        rows.into_iter().map(csv_row),
    )
}

/// `GET /api/v1/inventory/sync`
pub async fn sync_status(_: Viewer, State(api): State<Api>) -> Result<Json<SyncStatus>, ApiError> {
    Ok(Json(sync::status(&api.flows)?))
}

/// `POST /api/v1/inventory/sync`: starts a sync (a running one goes on); `202` once recorded.
pub async fn sync_now(
    admin: Admin,
    State(api): State<Api>,
) -> Result<(StatusCode, Json<SyncStatus>), ApiError> {
    sync::request(&api.flows).await?;
    tracing::info!(actor = %admin.actor, "inventory sync asked for");
    Ok((StatusCode::ACCEPTED, Json(sync::status(&api.flows)?)))
}

/// The inventory.
pub(super) fn operations(g: &mut SchemaGenerator) -> Vec<Operation> {
    use crate::http::routes::Access::*;
    let status = schema::<SyncStatus>(g);
    vec![
        Operation::new(
            "get",
            "/api/v1/inventory/summary",
            "Users, inactive users and seats per product (`product`, `inactive_after_days`).",
            Viewer,
            ("200", "the summary"),
        )
        .returns(schema::<Summary>(g)),
        Operation::new(
            "get",
            "/api/v1/inventory/users",
            "Users, filtered and sorted (`product`, `inactive_after_days`, `last_active_before`, `status`, `account_type`, `licensed`, `q`, `group`, `not_group`, `never_active`, `sort` (`last_seen`, `email`, `name`, `status`, `products`, `usage`), `order`, `limit`, `cursor`).",
            Viewer,
            ("200", "a page of users and the next cursor"),
        )
        .returns(schema::<UsersPage>(g)),
        Operation::new(
            "get",
            "/api/v1/inventory/users.csv",
            "The same users as CSV, every one the filters select.",
            Viewer,
            ("200", "text/csv"),
        ),
        Operation::new("get", "/api/v1/inventory/sync", "Where the inventory's sync is.", Viewer, ("200", "the sync's state"))
            .returns(status.clone()),
        Operation::new(
            "post",
            "/api/v1/inventory/sync",
            "Starts a sync of the inventory (a running one goes on).",
            Admin,
            ("202", "the sync's state"),
        )
        .returns(status),
    ]
}

/// The inventory.
pub(super) fn routes() -> Routes<Api> {
    Routes::default()
        .route("/api/v1/inventory/summary", get(summary))
        .route("/api/v1/inventory/users", get(users))
        .route("/api/v1/inventory/users.csv", get(users_csv))
        .route("/api/v1/inventory/sync", get(sync_status).post(sync_now))
}
