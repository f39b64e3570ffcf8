//! api.atlassian.com: the organisation API (directories, the user and group searches, v2
//! suspend and restore — v1's suspend-access and restore-access are gone unless a test brings
//! them back — the audit log's event stream and its actions), user management (lifecycle,
//! email) and SCIM (read only: the accounts an identity provider provisions).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde_json::{Value, json};

use super::{CONFLUENCE_GROUP, GROUPS, LEGACY_GROUP, Q, Sim, SimRoutes, SimUser, find_user};

pub(super) fn routes() -> SimRoutes {
    SimRoutes::new()
        .at(
            &["GET"],
            "/admin/v2/orgs/{org}/directories",
            get(directories),
        )
        .at(
            &["POST"],
            "/admin/v2/orgs/{org}/directories/{dir}/users/search",
            post(user_search),
        )
        .at(
            &["POST"],
            "/admin/v2/orgs/{org}/directories/{dir}/groups/search",
            post(group_search),
        )
        .at(
            &["POST"],
            "/admin/v2/orgs/{org}/directories/{dir}/users/{account}/suspend",
            post(suspend),
        )
        .at(
            &["POST"],
            "/admin/v2/orgs/{org}/directories/{dir}/users/{account}/restore",
            post(restore),
        )
        .at(
            &["POST"],
            "/admin/v1/orgs/{org}/directory/users/{account}/suspend-access",
            post(suspend_v1),
        )
        .at(
            &["POST"],
            "/admin/v1/orgs/{org}/directory/users/{account}/restore-access",
            post(restore_v1),
        )
        .at(
            &["GET"],
            "/admin/v1/orgs/{org}/events-stream",
            get(events_stream),
        )
        .at(
            &["GET"],
            "/admin/v1/orgs/{org}/event-actions",
            get(event_actions),
        )
        .at(
            &["POST"],
            "/users/{account}/manage/lifecycle/{verb}",
            post(lifecycle),
        )
        .at(&["PUT"], "/users/{account}/manage/email", put(set_email))
        .at(&["GET"], "/scim/directory/{dir}/Users", get(scim_users))
}

/// Directories, one a page: `links.next` is an opaque cursor; `accountId` keeps those holding
/// the account.
async fn directories(State(sim): State<Arc<Sim>>, axum::extract::Query(q): Q) -> Json<Value> {
    let mut all = sim.directories.lock().expect("lock").clone();
    if let Some(account) = q.get("accountId") {
        let users = sim.users.lock().expect("lock");
        all.retain(|d| {
            users
                .iter()
                .any(|u| &u.account_id == account && &u.directory == d)
        });
    }
    let at: usize = q
        .get("cursor")
        .and_then(|c| c.strip_prefix("dirs-"))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let page: Vec<Value> = all
        .iter()
        .skip(at)
        .take(1)
        .map(|d| json!({"directoryId": d, "name": format!("Directory {d}")}))
        .collect();
    let next = (at + 1 < all.len()).then(|| format!("dirs-{}", at + 1));
    Json(json!({"data": page, "links": {"self": null, "prev": null, "next": next}}))
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

/// A user of the organisation's search, with what `expand` asked for.
fn org_user(u: &SimUser, expand: &[String]) -> Value {
    let has = |x: &str| expand.iter().any(|e| e == x);
    let status = match (u.active, u.suspended) {
        (false, _) => "deactivated",
        (true, true) => "suspended",
        (true, false) => "active",
    };
    let mut v = json!({"accountId": u.account_id,
           "accountType": if u.account_id.starts_with("qm:") { "customer" } else { "atlassian" },
           "status": status, "accountStatus": if u.active { "active" } else { "inactive" },
           "membershipStatus": if u.suspended { "suspended" } else { "active" },
           "name": u.email.split('@').next(), "email": u.email, "claimStatus": "managed",
           "managementSource": if u.synced { "synced" } else { "invited" },
           "addedToOrg": "2024-01-10T09:00:00Z", "forDeletion": u.for_deletion,
           "links": {"self": format!("user-{}", u.account_id)}});
    if has("productAccess") {
        v["productAccess"] = u
            .groups
            .iter()
            .filter_map(|g| product_of(g))
            .map(|key| json!({"key": key, "id": format!("instance-{key}"), "lastActiveTimestamp": u.last_active.get(key)}))
            .collect::<Vec<_>>()
            .into();
    }
    if has("groups") {
        v["groups"] = u
            .groups
            .iter()
            .map(|g| json!({"id": format!("id-{g}"), "name": g}))
            .collect::<Vec<_>>()
            .into();
    }
    if has("platformRoles") {
        v["platformRoles"] = u.roles.clone().into();
    }
    v
}

fn strings(v: &Value) -> Option<Vec<String>> {
    v.as_array().map(|a| {
        a.iter()
            .filter_map(|s| s.as_str().map(String::from))
            .collect()
    })
}

/// Pages of `limit` (50 by default) of one directory's users (`-`: every directory), filtered
/// by `emails` (exact) or `accountIds`; `searchTerm` and `emails` together are refused (400).
async fn user_search(
    State(sim): State<Arc<Sim>>,
    Path((_org, dir)): Path<(String, String)>,
    Json(body): Json<Value>,
) -> Response {
    if body.get("searchTerm").is_some() && body.get("emails").is_some() {
        let body = json!({"code": 400, "message": "searchTerm and emails are mutually exclusive"});
        return (StatusCode::BAD_REQUEST, Json(body)).into_response();
    }
    let limit = body["limit"].as_u64().unwrap_or(50) as usize;
    let offset: usize = body["cursor"]
        .as_str()
        .and_then(|c| c.strip_prefix("page-after-"))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let expand = strings(&body["expand"]).unwrap_or_default();
    let emails = strings(&body["emails"])
        .map(|e| e.into_iter().map(|e| e.to_lowercase()).collect::<Vec<_>>());
    let ids = strings(&body["accountIds"]);
    let users = sim.users.lock().expect("lock");
    let matching: Vec<&SimUser> = users
        .iter()
        .filter(|u| dir == "-" || u.directory == dir)
        .filter(|u| {
            emails
                .as_ref()
                .is_none_or(|e| e.contains(&u.email.to_lowercase()))
        })
        .filter(|u| ids.as_ref().is_none_or(|i| i.contains(&u.account_id)))
        .collect();
    let data: Vec<Value> = matching
        .iter()
        .skip(offset)
        .take(limit)
        .map(|u| org_user(u, &expand))
        .collect();
    let end = offset + data.len();
    let next = (end < matching.len()).then(|| format!("page-after-{end}"));
    Json(json!({"data": data, "links": {"self": null, "prev": null, "next": next}})).into_response()
}

/// Groups by name, with whether an identity provider syncs them.
async fn group_search(State(sim): State<Arc<Sim>>, Json(body): Json<Value>) -> Json<Value> {
    let names = strings(&body["groupNames"]).unwrap_or_default();
    let synced = sim.synced_groups.lock().expect("lock").clone();
    let known: Vec<&str> = GROUPS
        .iter()
        .map(|(_, _, n)| *n)
        .chain([LEGACY_GROUP.1, CONFLUENCE_GROUP.1])
        .collect();
    let users = sim.users.lock().expect("lock");
    let data: Vec<Value> = names
        .iter()
        .filter(|n| known.contains(&n.as_str()) || users.iter().any(|u| u.groups.contains(n)))
        .map(|n| {
            json!({"id": format!("id-{n}"), "name": n, "externalSynced": synced.contains(n),
                        "managementAccess": {"modifiable": !synced.contains(n)}})
        })
        .collect();
    Json(json!({"data": data, "links": {"self": null, "prev": null, "next": null}}))
}

/// v2 suspend and restore: the user must be in that directory; a POST that is not JSON is
/// refused 415 (reported of this API by third parties; reinstate sends `{}`).
fn directory_change(
    sim: &Sim,
    headers: &HeaderMap,
    dir: &str,
    account: &str,
    suspend: bool,
) -> Response {
    if sim.v2_missing.load(Ordering::SeqCst) {
        return StatusCode::NOT_FOUND.into_response();
    }
    let json = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !json {
        return StatusCode::UNSUPPORTED_MEDIA_TYPE.into_response();
    }
    let mut users = sim.users.lock().expect("lock");
    match find_user(&mut users, Some(account)).filter(|u| u.directory == dir) {
        Some(u) => {
            u.suspended = suspend;
            StatusCode::NO_CONTENT.into_response()
        }
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({"errors": [{"title": "User not found in this directory"}]})),
        )
            .into_response(),
    }
}

async fn suspend(
    State(sim): State<Arc<Sim>>,
    headers: HeaderMap,
    Path((_org, dir, account)): Path<(String, String, String)>,
) -> Response {
    directory_change(&sim, &headers, &dir, &account, true)
}

async fn restore(
    State(sim): State<Arc<Sim>>,
    headers: HeaderMap,
    Path((_org, dir, account)): Path<(String, String, String)>,
) -> Response {
    directory_change(&sim, &headers, &dir, &account, false)
}

fn access_v1(sim: &Sim, account: &str, suspend: bool) -> Response {
    if sim.v1_removed.load(Ordering::SeqCst) {
        return StatusCode::NOT_FOUND.into_response();
    }
    let mut users = sim.users.lock().expect("lock");
    match find_user(&mut users, Some(account)) {
        Some(u) => {
            u.suspended = suspend;
            (
                StatusCode::OK,
                Json(json!({"message": if suspend { "suspended" } else { "restored" }})),
            )
                .into_response()
        }
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn suspend_v1(
    State(sim): State<Arc<Sim>>,
    Path((_org, account)): Path<(String, String)>,
) -> Response {
    access_v1(&sim, &account, true)
}

async fn restore_v1(
    State(sim): State<Arc<Sim>>,
    Path((_org, account)): Path<(String, String)>,
) -> Response {
    access_v1(&sim, &account, false)
}

fn time_ms(event: &Value) -> i128 {
    let t = event["attributes"]["processedAt"].as_str().expect("time");
    time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
        .expect("time")
        .unix_timestamp_nanos()
        / 1_000_000
}

/// The event stream, oldest first by processing time: `from` (epoch ms), `limit` (200 by
/// default, 500 at most), and `meta.next`, a cursor that keeps working past the last page
/// (polled later, it brings what came since).
async fn events_stream(State(sim): State<Arc<Sim>>, axum::extract::Query(q): Q) -> Json<Value> {
    let from: i128 = q.get("from").and_then(|f| f.parse().ok()).unwrap_or(0);
    let limit = q
        .get("limit")
        .and_then(|l| l.parse().ok())
        .unwrap_or(200usize)
        .min(500);
    let events = sim.audit_events.lock().expect("lock");
    let after: usize = q
        .get("cursor")
        .and_then(|c| c.strip_prefix("stream-"))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let page: Vec<(usize, &Value)> = events
        .iter()
        .enumerate()
        .skip(after)
        .filter(|(_, e)| time_ms(e) >= from)
        .take(limit)
        .collect();
    let next = page.last().map_or(after, |(i, _)| i + 1);
    let data: Vec<Value> = page.into_iter().map(|(_, e)| e.clone()).collect();
    Json(
        json!({"data": data, "meta": {"next": format!("stream-{next}"), "page_size": limit}, "links": {}}),
    )
}

async fn event_actions() -> Json<Value> {
    let action = |id: &str, name: &str| json!({"id": id, "type": "event-actions", "attributes": {"displayName": name, "groupDisplayName": "Atlassian accounts"}});
    Json(json!({"data": [
        action("user_logged_in", "Logged in to account"),
        action("user_logged_out", "Logged out of account"),
        action("account_deactivated", "Deactivated account"),
    ]}))
}

/// The lifecycle API: `disable`, `enable`, `delete` (14 days' grace), `cancel-delete`; an
/// identity provider's account is refused as Atlassian refuses them, and a deletion must be
/// cancelled before the account is enabled.
async fn lifecycle(
    State(sim): State<Arc<Sim>>,
    Path((account, verb)): Path<(String, String)>,
) -> Response {
    let mut users = sim.users.lock().expect("lock");
    let Some(u) = find_user(&mut users, Some(&account)) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if u.synced || account.starts_with("scim-managed") {
        let body = json!({"key": "forbidden.action", "context": {"allowed": false, "reason": {"key": "externalDirectory.scim"}}});
        return (StatusCode::FORBIDDEN, Json(body)).into_response();
    }
    match verb.as_str() {
        "disable" => u.active = false,
        "enable" if u.for_deletion => {
            let body = json!({"key": "forbidden.action", "context": {"allowed": false, "reason": {"key": "deletion.scheduled"}}});
            return (StatusCode::FORBIDDEN, Json(body)).into_response();
        }
        "enable" => u.active = true,
        "delete" => {
            u.active = false;
            u.for_deletion = true;
        }
        "cancel-delete" => u.for_deletion = false,
        _ => return StatusCode::NOT_FOUND.into_response(),
    }
    StatusCode::NO_CONTENT.into_response()
}

/// `PUT /users/{id}/manage/email`: a managed account's email (its sessions end).
async fn set_email(
    State(sim): State<Arc<Sim>>,
    Path(account): Path<String>,
    Json(body): Json<Value>,
) -> Response {
    let mut users = sim.users.lock().expect("lock");
    match (
        find_user(&mut users, Some(&account)),
        body["email"].as_str(),
    ) {
        (Some(u), Some(email)) => {
            u.email = email.to_string();
            StatusCode::NO_CONTENT.into_response()
        }
        (None, _) => StatusCode::NOT_FOUND.into_response(),
        (_, None) => StatusCode::BAD_REQUEST.into_response(),
    }
}

/// The SCIM directory's users: those an identity provider provisions, `id` = `scim-<account>`;
/// the filter is `userName eq "<email>"`.
async fn scim_users(State(sim): State<Arc<Sim>>, axum::extract::Query(q): Q) -> Json<Value> {
    let filter = q.get("filter").cloned().unwrap_or_default();
    let users = sim.users.lock().expect("lock");
    let found: Vec<Value> = users
        .iter()
        .filter(|u| u.synced && filter == format!("userName eq \"{}\"", u.email))
        .map(|u| json!({"id": format!("scim-{}", u.account_id), "userName": u.email, "active": u.usable()}))
        .collect();
    Json(
        json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
                "totalResults": found.len(), "Resources": found}),
    )
}
