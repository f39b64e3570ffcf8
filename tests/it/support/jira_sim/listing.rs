//! The site's listings the inventory syncs from: Jira Cloud's `users/search` (a bare array,
//! until an empty one) and `group/member`, Jira Data Center's `user/list` (a cursor; 10.3 and
//! later only) and `group/member`.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

use super::site::{dc_user_json, user_json};
use super::{Q, Sim, SimRoutes, SimUser};

pub(super) fn routes() -> SimRoutes {
    SimRoutes::new()
        .at(&["GET"], "/rest/api/3/users/search", get(site_users))
        .at(&["GET"], "/rest/api/3/group/member", get(site_members))
        .at(&["GET"], "/rest/api/2/user/list", get(dc_users))
        .at(&["GET"], "/rest/api/2/group/member", get(dc_members))
}

type Params = std::collections::HashMap<String, String>;

fn number(q: &Params, key: &str, default: usize) -> usize {
    q.get(key).and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// A bare array of every account (active, inactive, suspended), `maxResults` at most 1,000.
async fn site_users(State(sim): State<Arc<Sim>>, Query(q): Q) -> Json<Value> {
    let (start, max) = (
        number(&q, "startAt", 0),
        number(&q, "maxResults", 50).min(1000),
    );
    let users = sim.users.lock().expect("lock");
    Json(Value::Array(
        users.iter().skip(start).take(max).map(user_json).collect(),
    ))
}

/// A page of a group's members (`maxResults` 1 to 50), by `groupname` or `groupId`.
fn members_page(sim: &Sim, q: &Params, member: impl Fn(&SimUser) -> Value) -> Json<Value> {
    let group = match (q.get("groupname"), q.get("groupId")) {
        (Some(name), _) => name.clone(),
        (None, Some(id)) => id.strip_prefix("id-").unwrap_or(id).to_string(),
        (None, None) => String::new(),
    };
    let (start, max) = (
        number(q, "startAt", 0),
        number(q, "maxResults", 50).clamp(1, 50),
    );
    let inactive = q.get("includeInactiveUsers").is_some_and(|v| v == "true");
    let users = sim.users.lock().expect("lock");
    let members: Vec<&SimUser> = users
        .iter()
        .filter(|u| u.groups.contains(&group) && (inactive || u.usable()))
        .collect();
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
    members_page(&sim, &q, user_json)
}

/// Data Center's streaming list (10.3 LTS and 11.0 on; 404 before): `cursor` is the offset,
/// written opaquely.
async fn dc_users(State(sim): State<Arc<Sim>>, Query(q): Q) -> Response {
    let (major, minor, _) = *sim.dc_version.lock().expect("lock");
    if (major, minor) < (10, 3) {
        return StatusCode::NOT_FOUND.into_response();
    }
    let max = number(&q, "maxResults", 2000);
    let offset: usize = q
        .get("cursor")
        .and_then(|c| c.strip_prefix("dc-"))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let users = sim.users.lock().expect("lock");
    let values: Vec<Value> = users
        .iter()
        .skip(offset)
        .take(max)
        .map(|u| dc_user_json(&sim, u, false))
        .collect();
    let end = offset + values.len();
    let last = end >= users.len();
    Json(json!({"maxResults": max, "isLast": last, "nextCursor": (!last).then(|| format!("dc-{end}")), "values": values})).into_response()
}

async fn dc_members(State(sim): State<Arc<Sim>>, Query(q): Q) -> Json<Value> {
    members_page(&sim, &q, |u| dc_user_json(&sim, u, false))
}
