//! The listings the inventory syncs from, over the simulator's users: the organisation API's
//! directories and user search (opaque cursors, `limit`, productAccess with `jira` as the key of
//! Jira, groups), Jira Cloud's `users/search` and `group/member`, Jira Data Center's
//! `user/list` (cursor) and `group/member`, and Confluence Data Center's licensed users.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

use super::{Q, Sim, SimUser};

pub fn routes() -> Router<Arc<Sim>> {
    Router::new()
        .route("/admin/v2/orgs/{org}/directories", get(directories))
        .route(
            "/admin/v2/orgs/{org}/directories/{dir}/users/search",
            post(org_search),
        )
        .route("/rest/api/3/users/search", get(site_users))
        .route("/rest/api/3/group/member", get(site_members))
        .route("/rest/api/2/user/list", get(dc_users))
        .route("/rest/api/2/group/member", get(dc_members))
        .route("/rest/api/admin/users/list/active", get(confluence_active))
}

/// The product a group grants, as the organisation API names it.
fn product_of(group: &str) -> Option<&'static str> {
    match group {
        "jira-software-users" => Some("jira"),
        "jira-servicedesk-users" => Some("jira-servicedesk"),
        "confluence-users" => Some("confluence"),
        _ => None,
    }
}

type Params = std::collections::HashMap<String, String>;

fn number(q: &Params, key: &str, default: usize) -> usize {
    q.get(key).and_then(|v| v.parse().ok()).unwrap_or(default)
}

async fn directories() -> Json<Value> {
    Json(
        json!({"data": [{"directoryId": "dir-1", "name": "Sim directory"}],
                "links": {"self": null, "prev": null, "next": null}}),
    )
}

fn org_user(u: &SimUser) -> Value {
    let products: Vec<Value> = u
        .groups
        .iter()
        .filter_map(|g| product_of(g))
        .map(|key| {
            json!({"key": key, "id": format!("instance-{key}"),
                          "lastActiveTimestamp": u.last_active.get(key)})
        })
        .collect();
    let status = match (u.active, u.suspended) {
        (false, _) => "deactivated",
        (true, true) => "suspended",
        (true, false) => "active",
    };
    json!({"accountId": u.account_id,
           "accountType": if u.account_id.starts_with("qm:") { "customer" } else { "atlassian" },
           "status": status, "accountStatus": if u.active { "active" } else { "inactive" },
           "membershipStatus": if u.suspended { "suspended" } else { "active" },
           "name": u.email.split('@').next(), "email": u.email,
           "addedToOrg": "2024-01-10T09:00:00Z",
           "productAccess": products,
           "groups": u.groups.iter().map(|g| json!({"id": format!("id-{g}"), "name": g})).collect::<Vec<_>>()})
}

/// Pages of `limit` (50 by default); the cursor is opaque to the caller.
async fn org_search(
    State(sim): State<Arc<Sim>>,
    Path((_org, _dir)): Path<(String, String)>,
    Json(body): Json<Value>,
) -> Json<Value> {
    let limit = body["limit"].as_u64().unwrap_or(50) as usize;
    let offset: usize = body["cursor"]
        .as_str()
        .and_then(|c| c.strip_prefix("page-after-"))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let users = sim.users.lock().expect("lock");
    let data: Vec<Value> = users
        .iter()
        .skip(offset)
        .take(limit)
        .map(org_user)
        .collect();
    let end = offset + data.len();
    let next = (end < users.len()).then(|| format!("page-after-{end}"));
    Json(json!({"data": data, "links": {"self": null, "prev": null, "next": next}}))
}

fn site_user(u: &SimUser) -> Value {
    super::user_json(u)
}

/// A bare array, until an empty one.
async fn site_users(State(sim): State<Arc<Sim>>, Query(q): Q) -> Json<Value> {
    let (start, max) = (
        number(&q, "startAt", 0),
        number(&q, "maxResults", 50).min(1000),
    );
    let users = sim.users.lock().expect("lock");
    Json(Value::Array(
        users.iter().skip(start).take(max).map(site_user).collect(),
    ))
}

fn members_page(sim: &Sim, q: &Params, member: impl Fn(&SimUser) -> Value) -> Json<Value> {
    let group = q.get("groupname").cloned().unwrap_or_default();
    let (start, max) = (number(q, "startAt", 0), number(q, "maxResults", 50).min(50));
    let users = sim.users.lock().expect("lock");
    let members: Vec<&SimUser> = users.iter().filter(|u| u.groups.contains(&group)).collect();
    let values: Vec<Value> = members
        .iter()
        .skip(start)
        .take(max)
        .map(|u| member(u))
        .collect();
    let last = start + values.len() >= members.len();
    Json(
        json!({"startAt": start, "maxResults": max, "total": members.len(), "isLast": last, "values": values}),
    )
}

async fn site_members(State(sim): State<Arc<Sim>>, Query(q): Q) -> Json<Value> {
    members_page(&sim, &q, site_user)
}

fn dc_user(u: &SimUser) -> Value {
    json!({"key": format!("key-{}", u.account_id), "name": u.account_id, "emailAddress": u.email,
           "displayName": u.email, "active": u.active, "deleted": false,
           "lastLoginTime": u.last_active.get("jira")})
}

/// Data Center's streaming list: `cursor` is the offset, written opaquely.
async fn dc_users(State(sim): State<Arc<Sim>>, Query(q): Q) -> Json<Value> {
    let max = number(&q, "maxResults", 2000);
    let offset: usize = q
        .get("cursor")
        .and_then(|c| c.strip_prefix("dc-"))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let users = sim.users.lock().expect("lock");
    let values: Vec<Value> = users.iter().skip(offset).take(max).map(dc_user).collect();
    let end = offset + values.len();
    let last = end >= users.len();
    Json(json!({"maxResults": max, "isLast": last,
                "nextCursor": (!last).then(|| format!("dc-{end}")), "values": values}))
}

async fn dc_members(State(sim): State<Arc<Sim>>, Query(q): Q) -> Json<Value> {
    members_page(&sim, &q, dc_user)
}

/// Confluence Data Center's licensed users: members of `confluence-users`, with their last
/// login (the simulator's `confluence` activity).
async fn confluence_active(State(sim): State<Arc<Sim>>, Query(q): Q) -> Json<Value> {
    let (start, limit) = (number(&q, "start", 0), number(&q, "limit", 25));
    let users = sim.users.lock().expect("lock");
    let results: Vec<Value> = users
        .iter()
        .filter(|u| u.groups.iter().any(|g| g == "confluence-users"))
        .skip(start)
        .take(limit)
        .map(|u| json!({"type": "known", "username": u.account_id, "userKey": format!("key-{}", u.account_id),
                        "displayName": u.email, "email": u.email, "lastLogin": u.last_active.get("confluence")}))
        .collect();
    Json(json!({"results": results, "start": start, "limit": limit, "size": results.len()}))
}
