//! The Jira site: Cloud's REST v3 (account ids), Data Center's REST v2 (usernames, its version
//! in `serverInfo` and the caps that version puts on `user/search`), and Service Management.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::{
    CONFLUENCE_GROUP, GROUPS, LEGACY_GROUP, Q, Sim, SimRoutes, SimUser, find_user, join,
    synced_refusal,
};

pub(super) fn routes() -> SimRoutes {
    SimRoutes::new()
        .at(&["GET"], "/rest/api/3/user/search", get(search))
        .at(&["GET"], "/rest/api/3/user", get(user))
        .at(&["GET"], "/rest/api/3/user/groups", get(user_groups))
        .at(&["GET"], "/rest/api/3/applicationrole", get(roles))
        .at(
            &["POST", "DELETE"],
            "/rest/api/3/group/user",
            post(add_member).delete(remove_member),
        )
        .at(
            &["POST"],
            "/rest/api/3/issue/{key}/transitions",
            post(transition),
        )
        .at(&["GET"], "/rest/api/2/serverInfo", get(server_info))
        .at(&["GET"], "/rest/api/2/user/search", get(dc_search))
        .at(
            &["GET", "PUT"],
            "/rest/api/2/user",
            get(dc_user).put(dc_update),
        )
        .at(&["GET"], "/rest/api/2/applicationrole", get(dc_roles))
        .at(
            &["POST", "DELETE"],
            "/rest/api/2/group/user",
            post(dc_add_member).delete(remove_member),
        )
        .at(
            &["POST"],
            "/rest/api/2/issue/{key}/transitions",
            post(transition),
        )
        .at(
            &["GET"],
            "/rest/servicedeskapi/request/{key}",
            get(jsm_request),
        )
        .at(
            &["GET"],
            "/rest/servicedeskapi/request/{key}/approval",
            get(jsm_approval),
        )
        .at(
            &["POST"],
            "/rest/servicedeskapi/request/{key}/comment",
            post(jsm_comment),
        )
}

/// A Cloud user as the site shows it: `active` false while suspended or deactivated, the email
/// only when profile visibility shows it.
pub(super) fn user_json(u: &SimUser) -> Value {
    let mut v = json!({"accountId": u.account_id, "active": u.usable(),
        "accountType": if u.account_id.starts_with("qm:") { "customer" } else { "atlassian" },
        "displayName": u.email.split('@').next()});
    if !u.email_hidden {
        v["emailAddress"] = u.email.clone().into();
    }
    v
}

/// `user/search?query=`: active users only — suspended and deactivated accounts are not found
/// (AX-286) — matched by a prefix of the name or the email; a hidden email is neither matched
/// nor shown.
async fn search(State(sim): State<Arc<Sim>>, Query(q): Q) -> Json<Value> {
    let query = q.get("query").cloned().unwrap_or_default().to_lowercase();
    let max = q
        .get("maxResults")
        .and_then(|m| m.parse().ok())
        .unwrap_or(50usize);
    let users = sim.users.lock().expect("lock");
    Json(Value::Array(
        users
            .iter()
            .filter(|u| u.usable())
            .filter(|u| {
                let name = u.email.split('@').next().unwrap_or_default();
                (!u.email_hidden && u.email.starts_with(&query)) || name.starts_with(&query)
            })
            .take(max)
            .map(user_json)
            .collect(),
    ))
}

fn groups_json(u: &SimUser) -> Value {
    json!({"size": u.groups.len(), "items": u.groups.iter()
        .map(|g| json!({"name": g, "groupId": format!("id-{g}")})).collect::<Vec<_>>()})
}

async fn user(State(sim): State<Arc<Sim>>, Query(q): Q) -> Response {
    let users = sim.users.lock().expect("lock");
    match users
        .iter()
        .find(|u| Some(&u.account_id) == q.get("accountId"))
    {
        Some(u) => {
            let mut v = user_json(u);
            if q.get("expand")
                .is_some_and(|e| e.split(',').any(|x| x == "groups"))
            {
                v["groups"] = groups_json(u);
            }
            Json(v).into_response()
        }
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({"errorMessages": ["User does not exist"]})),
        )
            .into_response(),
    }
}

async fn user_groups(State(sim): State<Arc<Sim>>, Query(q): Q) -> Response {
    let users = sim.users.lock().expect("lock");
    match users
        .iter()
        .find(|u| Some(&u.account_id) == q.get("accountId"))
    {
        Some(u) => Json(Value::Array(
            u.groups
                .iter()
                .map(|g| json!({"name": g, "groupId": format!("id-{g}")}))
                .collect(),
        ))
        .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn roles(State(sim): State<Arc<Sim>>) -> Json<Value> {
    let users = sim.users.lock().expect("lock");
    let seats = sim.seats.load(Ordering::SeqCst);
    Json(Value::Array(
        GROUPS
            .iter()
            .map(|(key, id, name)| {
                let used = users.iter().filter(|u| u.groups.iter().any(|g| g == name)).count();
                let groups = if *key == "jira-software" { vec![*name, LEGACY_GROUP.1] } else { vec![*name] };
                json!({"key": key, "groups": groups, "defaultGroups": [name],
                       "defaultGroupsDetails": [{"groupId": id, "name": name}],
                       "numberOfSeats": seats, "remainingSeats": seats.saturating_sub(used), "userCount": used, "hasUnlimitedSeats": false})
            })
            .collect(),
    ))
}

/// The groups the site has: the products', the administrators', and any a user is in.
fn group_named(sim: &Sim, id: Option<&str>, name: Option<&str>) -> Option<String> {
    let fixed = GROUPS
        .iter()
        .map(|(_, id, name)| (*id, *name))
        .chain([LEGACY_GROUP, CONFLUENCE_GROUP]);
    for (gid, gname) in fixed {
        if id == Some(gid) || name == Some(gname) {
            return Some(gname.to_string());
        }
    }
    let users = sim.users.lock().expect("lock");
    let known = [
        "site-admins",
        "jira-administrators",
        "confluence-administrators",
    ];
    let all = users
        .iter()
        .flat_map(|u| u.groups.iter().map(String::as_str))
        .chain(known);
    for g in all {
        if name == Some(g) || id == Some(format!("id-{g}").as_str()) {
            return Some(g.to_string());
        }
    }
    None
}

fn no_such_group() -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({"errorMessages": ["Specified group does not exist."]})),
    )
        .into_response()
}

/// The group a membership change names (`groupId` or `groupname`): 404 when there is none,
/// 400 when the identity provider owns it.
fn changeable_group(
    sim: &Sim,
    q: &std::collections::HashMap<String, String>,
) -> Result<String, Box<Response>> {
    let name = group_named(
        sim,
        q.get("groupId").map(String::as_str),
        q.get("groupname").map(String::as_str),
    )
    .ok_or_else(|| Box::new(no_such_group()))?;
    match synced_refusal(sim, &name) {
        Some(refused) => Err(Box::new(refused)),
        None => Ok(name),
    }
}

async fn add_member(State(sim): State<Arc<Sim>>, Query(q): Q, Json(body): Json<Value>) -> Response {
    let name = match changeable_group(&sim, &q) {
        Ok(name) => name,
        Err(refused) => return *refused,
    };
    let mut users = sim.users.lock().expect("lock");
    let Some(user) = find_user(&mut users, body["accountId"].as_str()) else {
        return (StatusCode::NOT_FOUND, "no such user").into_response();
    };
    if !join(user, &name) {
        return (StatusCode::BAD_REQUEST, Json(json!({"errorMessages": [format!("Cannot add user. User is already a member of '{name}'")]}))).into_response();
    }
    (
        StatusCode::CREATED,
        Json(json!({"name": name, "groupId": format!("id-{name}")})),
    )
        .into_response()
}

/// Removes a member (Cloud by `groupId` or `groupname` and `accountId`; Data Center by
/// `groupname` and `username`); 400 when not a member.
async fn remove_member(State(sim): State<Arc<Sim>>, Query(q): Q) -> Response {
    let name = match changeable_group(&sim, &q) {
        Ok(name) => name,
        Err(refused) => return *refused,
    };
    let mut users = sim.users.lock().expect("lock");
    let who = q.get("accountId").or(q.get("username")).map(String::as_str);
    let Some(user) = find_user(&mut users, who) else {
        return (StatusCode::NOT_FOUND, "no such user").into_response();
    };
    if !user.groups.contains(&name) {
        let message = format!("The user is not a member of '{name}'");
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"errorMessages": [message]})),
        )
            .into_response();
    }
    user.groups.retain(|g| *g != name);
    StatusCode::OK.into_response()
}

async fn transition() -> StatusCode {
    StatusCode::NO_CONTENT
}

/// Every request is zed's "restore my access" (type 25); `name` is Data Center's username.
async fn jsm_request(Path(key): Path<String>) -> Json<Value> {
    Json(json!({"issueKey": key, "requestTypeId": "25",
                "reporter": {"accountId": "acc-zed", "name": "acc-zed", "emailAddress": "zed@example.com"}}))
}

async fn jsm_approval(State(sim): State<Arc<Sim>>) -> Json<Value> {
    let decision = sim.jsm_approval.lock().expect("lock").clone();
    Json(
        json!({"size": 1, "start": 0, "limit": 50, "isLastPage": true,
                "values": [{"id": "1", "name": "Access", "finalDecision": decision}]}),
    )
}

async fn jsm_comment(Json(body): Json<Value>) -> Response {
    (
        StatusCode::CREATED,
        Json(json!({"id": "1000", "body": body["body"], "public": body["public"]})),
    )
        .into_response()
}

// --- Data Center ---------------------------------------------------------------------------

fn version(sim: &Sim) -> (u32, u32, u32) {
    *sim.dc_version.lock().expect("lock")
}

async fn server_info(State(sim): State<Arc<Sim>>, headers: HeaderMap) -> Json<Value> {
    let (a, b, c) = version(&sim);
    let host = headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    Json(
        json!({"baseUrl": format!("http://{host}"), "version": format!("{a}.{b}.{c}"),
                "versionNumbers": [a, b, c], "deploymentType": "Server", "buildNumber": a * 100_000 + b * 1000 + c,
                "serverTitle": "Jira"}),
    )
}

/// A Data Center user; `lastLoginTime` from 11.0 (the 11.3 model has it).
pub(super) fn dc_user_json(sim: &Sim, u: &SimUser, groups: bool) -> Value {
    let mut v = json!({"name": u.account_id, "key": format!("key-{}", u.account_id),
                       "emailAddress": u.email, "active": u.active, "displayName": u.email, "deleted": false});
    if version(sim).0 >= 11 {
        v["lastLoginTime"] = u.last_active.get("jira").cloned().into();
    }
    if groups {
        v["groups"] = json!({"size": u.groups.len(),
                             "items": u.groups.iter().map(|g| json!({"name": g})).collect::<Vec<_>>()});
    }
    v
}

/// `user/search`: `username` matches a prefix of the username, display name or email; `.`
/// matches everyone. Jira 10 caps `maxResults` at 100 and never answers past the first 100
/// (JRASERVER-78660); Jira 9 and earlier, past the first 1,000 (JRASERVER-65089).
async fn dc_search(State(sim): State<Arc<Sim>>, Query(q): Q) -> Json<Value> {
    let query = q
        .get("username")
        .cloned()
        .unwrap_or_default()
        .to_lowercase();
    let cap = if version(&sim).0 >= 10 { 100 } else { 1000 };
    let number = |k: &str, d: usize| q.get(k).and_then(|s| s.parse().ok()).unwrap_or(d);
    let start = number("startAt", 0);
    let max = number("maxResults", 50).min(cap);
    let inactive = q.get("includeInactive").is_some_and(|v| v == "true");
    let active = q.get("includeActive").is_none_or(|v| v == "true");
    let users = sim.users.lock().expect("lock");
    let matching = users
        .iter()
        .filter(|u| if u.active { active } else { inactive })
        .filter(|u| {
            query == "."
                || u.account_id.to_lowercase().starts_with(&query)
                || u.email.to_lowercase().starts_with(&query)
        });
    let end = (start + max).min(cap);
    Json(Value::Array(
        matching
            .skip(start)
            .take(end.saturating_sub(start))
            .map(|u| dc_user_json(&sim, u, false))
            .collect(),
    ))
}

async fn dc_user(State(sim): State<Arc<Sim>>, Query(q): Q) -> Response {
    let mut users = sim.users.lock().expect("lock");
    match find_user(&mut users, q.get("username").map(String::as_str)) {
        Some(u) => {
            let groups = q.get("expand").is_some_and(|e| e.contains("groups"));
            Json(dc_user_json(&sim, u, groups)).into_response()
        }
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn dc_update(State(sim): State<Arc<Sim>>, Query(q): Q, Json(body): Json<Value>) -> Response {
    let mut users = sim.users.lock().expect("lock");
    match find_user(&mut users, q.get("username").map(String::as_str)) {
        Some(u) => {
            if let Some(active) = body["active"].as_bool() {
                u.active = active;
            }
            if let Some(email) = body["emailAddress"].as_str() {
                u.email = email.to_string();
            }
            if let Some(name) = body["name"].as_str() {
                u.account_id = name.to_string();
            }
            let v = json!({"name": u.account_id, "key": format!("key-{}", u.account_id),
                           "emailAddress": u.email, "active": u.active});
            Json(v).into_response()
        }
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// Data Center's roles name default groups without ids.
async fn dc_roles(State(sim): State<Arc<Sim>>) -> Json<Value> {
    let Json(mut roles) = roles(State(sim)).await;
    for role in roles.as_array_mut().into_iter().flatten() {
        role.as_object_mut()
            .expect("object")
            .remove("defaultGroupsDetails");
    }
    Json(roles)
}

async fn dc_add_member(
    State(sim): State<Arc<Sim>>,
    Query(q): Q,
    Json(body): Json<Value>,
) -> Response {
    let Some(name) = group_named(&sim, None, q.get("groupname").map(String::as_str)) else {
        return no_such_group();
    };
    let mut users = sim.users.lock().expect("lock");
    let Some(user) = find_user(&mut users, body["name"].as_str()) else {
        return (StatusCode::NOT_FOUND, "no such user").into_response();
    };
    if !join(user, &name) {
        return (StatusCode::BAD_REQUEST, Json(json!({"errorMessages": [format!("Cannot add user. User is already a member of '{name}'")]}))).into_response();
    }
    StatusCode::CREATED.into_response()
}
