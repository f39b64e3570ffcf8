//! Confluence: Cloud's REST v1 under `/wiki` (groups by id; the by-name membership calls are
//! gone), and Data Center's REST on its own instance (idempotent group membership, enable,
//! the licensed users with their last login, or on older versions only the groups' members).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde_json::{Value, json};

use super::{CONFLUENCE_GROUP, Q, Sim, SimRoutes, find_user, join};

pub(super) fn routes() -> SimRoutes {
    SimRoutes::new()
        .at(&["GET"], "/wiki/rest/api/user/memberof", get(memberof))
        .at(&["GET"], "/wiki/rest/api/group", get(groups))
        .at(
            &["POST", "DELETE"],
            "/wiki/rest/api/group/userByGroupId",
            post(add_by_id).delete(remove_by_id),
        )
        .at(&["GET"], "/rest/api/user/memberof", get(memberof))
        .at(
            &["PUT", "DELETE"],
            "/rest/api/user/{user}/group/{group}",
            put(dc_add).delete(dc_remove),
        )
        .at(
            &["PUT"],
            "/rest/api/admin/user/{user}/enable",
            put(dc_enable),
        )
        .at(
            &["PUT"],
            "/rest/api/admin/user/{user}/disable",
            put(dc_disable),
        )
        .at(
            &["GET"],
            "/rest/api/admin/users/list/active",
            get(dc_active),
        )
        .at(
            &["GET"],
            "/rest/api/group/{group}/member",
            get(dc_group_members),
        )
}

/// The site caps a page of groups at this many, whatever `limit` asks.
const PAGE_CAP: usize = 2;

fn number(q: &std::collections::HashMap<String, String>, key: &str, default: usize) -> usize {
    q.get(key).and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// A user's groups, a page at a time (`start`, `limit` capped), `_links.next` while there is more.
async fn memberof(
    State(sim): State<Arc<Sim>>,
    uri: axum::http::Uri,
    axum::extract::Query(q): Q,
) -> Response {
    let id = q.get("accountId").or(q.get("username")).map(String::as_str);
    let mut users = sim.users.lock().expect("lock");
    let Some(u) = find_user(&mut users, id) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let start = number(&q, "start", 0);
    let limit = number(&q, "limit", 200).min(PAGE_CAP);
    let page: Vec<Value> = u
        .groups
        .iter()
        .skip(start)
        .take(limit)
        .map(|g| json!({"type": "group", "name": g}))
        .collect();
    let size = page.len();
    let mut links = json!({"base": "http://sim", "context": if uri.path().starts_with("/wiki") { "/wiki" } else { "" }});
    if start + size < u.groups.len() {
        let who = if q.contains_key("accountId") {
            "accountId"
        } else {
            "username"
        };
        links["next"] = format!(
            "/rest/api/user/memberof?{who}={}&start={}&limit={limit}",
            u.account_id,
            start + size
        )
        .into();
    }
    Json(json!({"results": page, "start": start, "limit": limit, "size": size, "_links": links}))
        .into_response()
}

/// The site's groups: the licence group with its id, then any group a user is in.
async fn groups(State(sim): State<Arc<Sim>>, axum::extract::Query(q): Q) -> Json<Value> {
    let users = sim.users.lock().expect("lock");
    let mut names: Vec<String> = users.iter().flat_map(|u| u.groups.clone()).collect();
    names.push(CONFLUENCE_GROUP.1.into());
    names.sort();
    names.dedup();
    let start = number(&q, "start", 0);
    let limit = number(&q, "limit", 25).min(PAGE_CAP);
    let results: Vec<Value> = names
        .iter()
        .skip(start)
        .take(limit)
        .map(|n| {
            let id = if n == CONFLUENCE_GROUP.1 {
                CONFLUENCE_GROUP.0.to_string()
            } else {
                format!("id-{n}")
            };
            json!({"type": "group", "name": n, "id": id})
        })
        .collect();
    let size = results.len();
    let mut links = json!({"base": "http://sim", "context": "/wiki"});
    if start + size < names.len() {
        links["next"] = format!("/rest/api/group?start={}&limit={limit}", start + size).into();
    }
    Json(json!({"results": results, "start": start, "limit": limit, "size": size, "_links": links}))
}

fn group_of_id(id: Option<&String>) -> Option<&'static str> {
    (id.map(String::as_str) == Some(CONFLUENCE_GROUP.0)).then_some(CONFLUENCE_GROUP.1)
}

async fn add_by_id(
    State(sim): State<Arc<Sim>>,
    axum::extract::Query(q): Q,
    Json(body): Json<Value>,
) -> Response {
    let Some(group) = group_of_id(q.get("groupId")) else {
        return (StatusCode::NOT_FOUND, "no such group").into_response();
    };
    let mut users = sim.users.lock().expect("lock");
    match find_user(&mut users, body["accountId"].as_str()) {
        Some(u) => {
            join(u, group);
            StatusCode::CREATED.into_response()
        }
        None => (StatusCode::NOT_FOUND, "no such user").into_response(),
    }
}

async fn remove_by_id(State(sim): State<Arc<Sim>>, axum::extract::Query(q): Q) -> Response {
    let Some(group) = group_of_id(q.get("groupId")) else {
        return (StatusCode::NOT_FOUND, "no such group").into_response();
    };
    let mut users = sim.users.lock().expect("lock");
    match find_user(&mut users, q.get("accountId").map(String::as_str)) {
        Some(u) => {
            u.groups.retain(|g| g != group);
            StatusCode::NO_CONTENT.into_response()
        }
        None => (StatusCode::NOT_FOUND, "no such user").into_response(),
    }
}

async fn dc_add(
    State(sim): State<Arc<Sim>>,
    Path((user, group)): Path<(String, String)>,
) -> Response {
    if group != CONFLUENCE_GROUP.1 {
        return (StatusCode::NOT_FOUND, "no such group").into_response();
    }
    let mut users = sim.users.lock().expect("lock");
    match find_user(&mut users, Some(&user)) {
        Some(u) => {
            join(u, &group); // idempotent, as Confluence's is
            StatusCode::NO_CONTENT.into_response()
        }
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn dc_remove(
    State(sim): State<Arc<Sim>>,
    Path((user, group)): Path<(String, String)>,
) -> Response {
    let mut users = sim.users.lock().expect("lock");
    match find_user(&mut users, Some(&user)) {
        Some(u) => {
            u.groups.retain(|g| *g != group); // idempotent, as Confluence's is
            StatusCode::NO_CONTENT.into_response()
        }
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

fn set_active(sim: &Sim, user: &str, active: bool) -> Response {
    let mut users = sim.users.lock().expect("lock");
    match find_user(&mut users, Some(user)) {
        Some(u) => {
            u.active = active;
            StatusCode::NO_CONTENT.into_response()
        }
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn dc_enable(State(sim): State<Arc<Sim>>, Path(user): Path<String>) -> Response {
    set_active(&sim, &user, true)
}

async fn dc_disable(State(sim): State<Arc<Sim>>, Path(user): Path<String>) -> Response {
    set_active(&sim, &user, false)
}

/// Data Center's licensed users: active members of `confluence-users`, with `lastLogin` as
/// the simulator holds it (the `confluence` activity) when `expand=lastLogin`; 404 on older
/// versions.
async fn dc_active(State(sim): State<Arc<Sim>>, axum::extract::Query(q): Q) -> Response {
    if sim.confluence_legacy.load(Ordering::SeqCst) {
        return StatusCode::NOT_FOUND.into_response();
    }
    let (start, limit) = (number(&q, "start", 0), number(&q, "limit", 25).min(200));
    let last_login = q
        .get("expand")
        .is_some_and(|e| e.split(',').any(|x| x == "lastLogin"));
    let users = sim.users.lock().expect("lock");
    let results: Vec<Value> = users
        .iter()
        .filter(|u| u.active && u.groups.iter().any(|g| g == CONFLUENCE_GROUP.1))
        .skip(start)
        .take(limit)
        .map(|u| {
            let mut v = json!({"type": "known", "username": u.account_id, "userKey": format!("key-{}", u.account_id),
                               "displayName": u.email, "email": u.email});
            if last_login {
                v["lastLogin"] = u.last_active.get("confluence").cloned().into();
            }
            v
        })
        .collect();
    Json(json!({"results": results, "start": start, "limit": limit, "size": results.len()}))
        .into_response()
}

/// A group's members, a page at a time.
async fn dc_group_members(
    State(sim): State<Arc<Sim>>,
    Path(group): Path<String>,
    axum::extract::Query(q): Q,
) -> Json<Value> {
    let (start, limit) = (number(&q, "start", 0), number(&q, "limit", 200).min(200));
    let users = sim.users.lock().expect("lock");
    let results: Vec<Value> = users
        .iter()
        .filter(|u| u.groups.contains(&group))
        .skip(start)
        .take(limit)
        .map(|u| json!({"type": "known", "username": u.account_id, "userKey": format!("key-{}", u.account_id), "displayName": u.email}))
        .collect();
    Json(json!({"results": results, "start": start, "limit": limit, "size": results.len()}))
}
