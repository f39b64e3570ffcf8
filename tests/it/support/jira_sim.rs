//! A simulated Jira Cloud site: the REST calls reinstate makes, with injectable faults
//! (429 + Retry-After, 5xx, delays, "down"), and a log of every call received.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

mod listing;

pub const SIM_EMAIL: &str = "svc@example.com";
pub const SIM_TOKEN: &str = "sim-api-token";

#[derive(Debug, Clone)]
pub enum Fault {
    Status(u16, Option<u64>),
    Delay(Duration),
    /// Handled, then the connection is cut before the body of the answer.
    Reset,
}

#[derive(Debug, Clone)]
pub struct Call {
    /// When it arrived.
    pub at: std::time::Instant,
    pub method: String,
    pub path: String,
    pub query: String,
    pub body: Value,
    pub status: u16,
}

pub(super) struct SimUser {
    account_id: String,
    email: String,
    groups: Vec<String>,
    active: bool,
    /// The organisation's view: suspended (access), and when last active per product key.
    suspended: bool,
    last_active: std::collections::BTreeMap<String, String>,
}

pub struct Sim {
    users: Mutex<Vec<SimUser>>,
    /// Faults, each for any request or only for paths starting with a prefix.
    faults: Mutex<VecDeque<(Option<String>, Fault)>>,
    calls: Mutex<Vec<Call>>,
    down: AtomicBool,
    /// The final decision `/approval` reports for every request.
    jsm_approval: Mutex<String>,
    /// Seats of every product (100 unless set).
    seats: std::sync::atomic::AtomicUsize,
    /// Requests per second allowed (a bucket holding one second's worth); beyond, 429.
    rate_limit: Mutex<Option<Bucket>>,
    /// The organisation's audit log (newest last).
    audit_events: Mutex<Vec<Value>>,
    /// Random faults on every request, when set.
    chaos: Mutex<Option<Chaos>>,
}

/// Random faults: each request independently may fail so; 429s come in bursts.
#[derive(Debug, Clone, Copy)]
pub struct Chaos {
    /// Answered 503.
    pub p_5xx: f64,
    /// Handled, then the connection is cut before the answer's body (the write happened).
    pub p_reset: f64,
    /// Held this long before being handled.
    pub p_stall: f64,
    pub stall: Duration,
    /// Starts a burst of `burst_429` answers 429 with `Retry-After: 1`.
    pub p_429_burst: f64,
    pub burst_429: u32,
}

/// Atlassian-style rate limiting: `per_sec` requests a second, one second's worth at once.
struct Bucket {
    per_sec: f64,
    tokens: f64,
    at: std::time::Instant,
}

impl Bucket {
    fn take(&mut self) -> bool {
        let now = std::time::Instant::now();
        let refill = now.duration_since(self.at).as_secs_f64() * self.per_sec;
        self.tokens = (self.tokens + refill).min(self.per_sec);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[derive(Clone)]
pub struct JiraSim {
    pub url: String,
    sim: Arc<Sim>,
}

const GROUPS: &[(&str, &str, &str)] = &[
    ("jira-software", "g-jsw", "jira-software-users"),
    ("jira-servicedesk", "g-jsm", "jira-servicedesk-users"),
    // Not a product reinstate restores by default, but a group a reclaim may have removed.
    ("jira-core", "g-core", "jira-core-users"),
];

impl JiraSim {
    pub async fn start() -> JiraSim {
        let users = [
            (
                "acc-ada",
                "ada@example.com",
                vec!["jira-software-users", "engineering"],
            ),
            ("acc-grace", "grace@example.com", vec!["engineering"]),
            ("acc-zed", "zed@example.com", vec![]),
            ("acc-bob", "bob@contractor.example.net", vec!["contractors"]),
            ("acc-ivy", "ivy@example.com", vec![]),
            // A Service Management portal-only customer.
            ("qm:pat", "pat@example.com", vec![]),
        ]
        .into_iter()
        .map(|(id, email, groups)| SimUser {
            account_id: id.into(),
            email: email.into(),
            groups: groups.into_iter().map(String::from).collect(),
            // ivy's account is deactivated.
            active: id != "acc-ivy",
            suspended: false,
            last_active: Default::default(),
        })
        .collect();
        let sim = Arc::new(Sim {
            users: Mutex::new(users),
            faults: Mutex::new(VecDeque::new()),
            calls: Mutex::new(Vec::new()),
            down: AtomicBool::new(false),
            seats: std::sync::atomic::AtomicUsize::new(100),
            jsm_approval: Mutex::new("pending".into()),
            rate_limit: Mutex::new(None),
            audit_events: Mutex::new(Vec::new()),
            chaos: Mutex::new(None),
        });
        let app = Router::new()
            .route("/rest/api/3/user/search", get(search))
            .route("/rest/api/3/user", get(user))
            .route("/rest/api/3/user/groups", get(user_groups))
            .route("/rest/api/3/applicationrole", get(roles))
            .route(
                "/rest/api/3/group/user",
                post(add_member).delete(remove_member),
            )
            // Jira Data Center: REST v2, users by username (the sim's account id).
            .route("/rest/api/2/user/search", get(dc_search))
            .route("/rest/api/2/user", get(dc_user).put(dc_set_active))
            .route("/rest/api/2/applicationrole", get(dc_roles))
            .route(
                "/rest/api/2/group/user",
                post(dc_add_member).delete(remove_member),
            )
            // Confluence Cloud and Data Center.
            .route("/wiki/rest/api/user/memberof", get(memberof))
            .route(
                "/wiki/rest/api/group/userByGroupId",
                post(confluence_add_by_id).delete(remove_member),
            )
            .route("/rest/api/user/memberof", get(memberof))
            .route(
                "/rest/api/user/{user}/group/{group}",
                axum::routing::put(confluence_dc_add).delete(confluence_dc_remove),
            )
            .route(
                "/rest/api/admin/user/{user}/enable",
                axum::routing::put(confluence_dc_enable),
            )
            // Organisation API and SCIM (api.atlassian.com).
            .route(
                "/admin/v1/orgs/{org}/directory/users/{account}/restore-access",
                post(org_restore),
            )
            .route(
                "/admin/v1/orgs/{org}/directory/users/{account}/suspend-access",
                post(org_suspend),
            )
            .route("/users/{account}/manage/lifecycle/{verb}", post(lifecycle))
            .route(
                "/users/{account}/manage/profile",
                axum::routing::patch(profile),
            )
            .route("/admin/v1/orgs/{org}/events", get(org_events))
            .route("/scim/directory/{dir}/Users", get(scim_users))
            .route(
                "/scim/directory/{dir}/Users/{id}",
                axum::routing::patch(scim_patch),
            )
            .route("/rest/servicedeskapi/request/{key}", get(jsm_request))
            .route(
                "/rest/servicedeskapi/request/{key}/approval",
                get(jsm_approval),
            )
            .route(
                "/rest/servicedeskapi/request/{key}/comment",
                post(|| async { StatusCode::CREATED }),
            )
            .route(
                "/rest/api/3/issue/{key}/transitions",
                post(|| async { StatusCode::NO_CONTENT }),
            )
            .merge(listing::routes())
            .layer(axum::middleware::from_fn_with_state(sim.clone(), faults))
            .with_state(sim.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind sim");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        JiraSim { url, sim }
    }

    /// Faults applied, in order, to the next requests.
    pub fn push_fault(&self, fault: Fault) {
        self.sim
            .faults
            .lock()
            .expect("lock")
            .push_back((None, fault));
    }
    /// A fault for the next request whose path starts with `prefix`.
    pub fn push_fault_on(&self, prefix: &str, fault: Fault) {
        self.sim
            .faults
            .lock()
            .expect("lock")
            .push_back((Some(prefix.to_string()), fault));
    }
    /// While down, every request is answered 503.
    pub fn set_down(&self, down: bool) {
        self.sim.down.store(down, Ordering::SeqCst);
    }
    /// Sets the final decision of every request's approval.
    pub fn set_jsm_approval(&self, decision: &str) {
        *self.sim.jsm_approval.lock().expect("lock") = decision.into();
    }

    /// Limits the site to `per_sec` requests a second; the excess is answered 429 with
    /// `Retry-After: 1`.
    pub fn set_rate_limit(&self, per_sec: u32) {
        *self.sim.rate_limit.lock().expect("lock") = Some(Bucket {
            per_sec: per_sec as f64,
            tokens: per_sec as f64,
            at: std::time::Instant::now(),
        });
    }

    /// Adds `n` active users `{prefix}{i}@example.com` (accounts `acc-{prefix}{i}`) in no group.
    pub fn add_users(&self, prefix: &str, n: usize) {
        let mut users = self.sim.users.lock().expect("lock");
        users.extend((0..n).map(|i| SimUser {
            account_id: format!("acc-{prefix}{i}"),
            email: format!("{prefix}{i}@example.com"),
            groups: Vec::new(),
            active: true,
            suspended: false,
            last_active: Default::default(),
        }));
    }

    /// Adds one active user with this account id (the username on Data Center) and email.
    pub fn add_person(&self, account_id: &str, email: &str) {
        self.sim.users.lock().expect("lock").push(SimUser {
            account_id: account_id.into(),
            email: email.into(),
            groups: Vec::new(),
            active: true,
            suspended: false,
            last_active: Default::default(),
        });
    }

    /// Adds one active user in these groups.
    pub fn add_member_of(&self, account_id: &str, email: &str, groups: &[&str]) {
        self.add_person(account_id, email);
        let mut users = self.sim.users.lock().expect("lock");
        if let Some(u) = users.iter_mut().find(|u| u.account_id == account_id) {
            u.groups = groups.iter().map(|g| g.to_string()).collect();
        }
    }

    /// The email the site shows for an account.
    pub fn email_of(&self, account_id: &str) -> Option<String> {
        let users = self.sim.users.lock().expect("lock");
        users
            .iter()
            .find(|u| u.account_id == account_id)
            .map(|u| u.email.clone())
    }

    /// Whether the user's account is active (not suspended or deactivated).
    pub fn is_active(&self, account_id: &str) -> bool {
        let users = self.sim.users.lock().expect("lock");
        users
            .iter()
            .any(|u| u.account_id == account_id && u.active && !u.suspended)
    }

    /// Adds `n` active users `{prefix}{i}@example.com` in `group`.
    pub fn add_users_in(&self, prefix: &str, n: usize, group: &str) {
        self.add_users(prefix, n);
        let mut users = self.sim.users.lock().expect("lock");
        for u in users
            .iter_mut()
            .filter(|u| u.account_id.starts_with(&format!("acc-{prefix}")))
        {
            u.groups.push(group.to_string());
        }
    }

    /// Appends an event to the organisation's audit log, timed now.
    pub fn push_audit_event(&self, id: &str, action: &str, email: Option<&str>, account: &str) {
        let now = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .expect("time");
        let mut actor = json!({"id": account, "name": account});
        if let Some(e) = email {
            actor["email"] = e.into();
        }
        self.sim.audit_events.lock().expect("lock").push(json!({
            "id": id, "type": "events",
            "attributes": {"time": now, "action": action, "actor": actor,
                           "context": [], "container": [], "location": {"ip": "203.0.113.9"}}
        }));
    }

    /// Injects random faults into every request from now on.
    pub fn set_chaos(&self, chaos: Chaos) {
        *self.sim.chaos.lock().expect("lock") = Some(chaos);
    }

    /// Sets the seats of every product.
    pub fn set_seats(&self, seats: usize) {
        self.sim.seats.store(seats, Ordering::SeqCst);
    }
    pub fn calls(&self) -> Vec<Call> {
        self.sim.calls.lock().expect("lock").clone()
    }
    /// Successful-or-not group additions received for an account.
    pub fn group_adds(&self, account_id: &str) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| {
                c.method == "POST"
                    && c.path == "/rest/api/3/group/user"
                    && c.body["accountId"] == account_id
            })
            .collect()
    }
    /// Jira Data Center group additions received for a username.
    pub fn group_adds_dc(&self, username: &str) -> usize {
        self.calls()
            .iter()
            .filter(|c| c.path == "/rest/api/2/group/user" && c.body["name"] == username)
            .count()
    }
    /// Removes a user from the site and the organisation (a leaver).
    pub fn remove_user(&self, account_id: &str) {
        self.sim
            .users
            .lock()
            .expect("lock")
            .retain(|u| u.account_id != account_id);
    }
    /// Sets when the organisation saw the user last active in `product` (its key, e.g. `jira`).
    pub fn set_last_active(&self, account_id: &str, product: &str, at: &str) {
        let mut users = self.sim.users.lock().expect("lock");
        if let Some(u) = users.iter_mut().find(|u| u.account_id == account_id) {
            u.last_active.insert(product.into(), at.into());
        }
    }
    /// Suspends a user's access in the organisation.
    pub fn suspend(&self, account_id: &str) {
        let mut users = self.sim.users.lock().expect("lock");
        if let Some(u) = users.iter_mut().find(|u| u.account_id == account_id) {
            u.suspended = true;
        }
    }
    pub fn groups_of(&self, account_id: &str) -> Vec<String> {
        let users = self.sim.users.lock().expect("lock");
        users
            .iter()
            .find(|u| u.account_id == account_id)
            .map(|u| u.groups.clone())
            .unwrap_or_default()
    }
}

async fn faults(
    State(sim): State<Arc<Sim>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20)
        .await
        .unwrap_or_default();
    let body_json: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let arrived = std::time::Instant::now();
    let record = |status: u16| Call {
        at: arrived,
        method: method.to_string(),
        path: uri.path().to_string(),
        query: uri.query().unwrap_or_default().to_string(),
        body: body_json.clone(),
        status,
    };
    // Cloud site APIs: Basic with the service account; Data Center personal access tokens,
    // organisation and SCIM keys: the same token as bearer.
    let auth_ok = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v == format!(
                "Basic {}",
                base64_encode(&format!("{SIM_EMAIL}:{SIM_TOKEN}"))
            ) || v == format!("Bearer {SIM_TOKEN}")
        });
    let response = if sim.down.load(Ordering::SeqCst) {
        StatusCode::SERVICE_UNAVAILABLE.into_response()
    } else if !auth_ok {
        (StatusCode::UNAUTHORIZED, "bad credentials").into_response()
    } else if sim
        .rate_limit
        .lock()
        .expect("lock")
        .as_mut()
        .is_some_and(|b| !b.take())
    {
        let mut r = (StatusCode::TOO_MANY_REQUESTS, "rate limited").into_response();
        r.headers_mut().insert("retry-after", 1.into());
        r
    } else {
        let fault = {
            let mut faults = sim.faults.lock().expect("lock");
            faults
                .iter()
                .position(|(prefix, _)| prefix.as_deref().is_none_or(|p| uri.path().starts_with(p)))
                .and_then(|i| faults.remove(i))
                .map(|(_, f)| f)
        }
        .or_else(|| chaos_fault(&sim));
        match fault {
            Some(Fault::Status(code, retry_after)) => {
                let mut r = (
                    StatusCode::from_u16(code).expect("status"),
                    "injected fault",
                )
                    .into_response();
                if let Some(s) = retry_after {
                    r.headers_mut().insert("retry-after", s.into());
                }
                r
            }
            Some(Fault::Delay(d)) => {
                tokio::time::sleep(d).await;
                next.run(axum::extract::Request::from_parts(
                    parts,
                    axum::body::Body::from(bytes.clone()),
                ))
                .await
            }
            Some(Fault::Reset) => {
                let handled = next
                    .run(axum::extract::Request::from_parts(
                        parts,
                        axum::body::Body::from(bytes.clone()),
                    ))
                    .await;
                let (head, _) = handled.into_parts();
                let broken = futures::stream::once(async {
                    Err::<bytes::Bytes, std::io::Error>(std::io::Error::other("injected reset"))
                });
                Response::from_parts(head, axum::body::Body::from_stream(broken))
            }
            None => {
                next.run(axum::extract::Request::from_parts(
                    parts,
                    axum::body::Body::from(bytes.clone()),
                ))
                .await
            }
        }
    };
    sim.calls
        .lock()
        .expect("lock")
        .push(record(response.status().as_u16()));
    response
}

fn base64_encode(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

pub(super) type Q = Query<std::collections::HashMap<String, String>>;

pub(super) fn user_json(u: &SimUser) -> Value {
    json!({"accountId": u.account_id, "emailAddress": u.email, "active": u.active, "accountType": if u.account_id.starts_with("qm:") { "customer" } else { "atlassian" }, "displayName": u.email})
}

async fn search(State(sim): State<Arc<Sim>>, Query(q): Q) -> Json<Value> {
    let query = q.get("query").cloned().unwrap_or_default().to_lowercase();
    let users = sim.users.lock().expect("lock");
    Json(Value::Array(
        users
            .iter()
            .filter(|u| u.email.starts_with(&query))
            .map(user_json)
            .collect(),
    ))
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
                v["groups"] = json!({"size": u.groups.len(), "items": u.groups.iter()
                    .map(|g| json!({"name": g, "groupId": format!("id-{g}")})).collect::<Vec<_>>()});
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

async fn add_member(State(sim): State<Arc<Sim>>, Query(q): Q, Json(body): Json<Value>) -> Response {
    let legacy = ("jira-software", LEGACY_GROUP.0, LEGACY_GROUP.1);
    let Some((_, _, name)) = GROUPS.iter().chain([&legacy]).find(|(_, id, name)| {
        q.get("groupId").map(String::as_str) == Some(*id)
            || q.get("groupname").map(String::as_str) == Some(*name)
    }) else {
        return (StatusCode::NOT_FOUND, "no such group").into_response();
    };
    let mut users = sim.users.lock().expect("lock");
    let Some(user) = users
        .iter_mut()
        .find(|u| Some(u.account_id.as_str()) == body["accountId"].as_str())
    else {
        return (StatusCode::NOT_FOUND, "no such user").into_response();
    };
    if user.groups.iter().any(|g| g == name) {
        return (StatusCode::BAD_REQUEST, Json(json!({"errorMessages": [format!("Cannot add user. User is already a member of '{name}'")]}))).into_response();
    }
    user.groups.push(name.to_string());
    (
        StatusCode::CREATED,
        Json(json!({"name": name, "groupId": q.get("groupId")})),
    )
        .into_response()
}

/// Every request is zed's "restore my access" (type 25).
async fn jsm_request(axum::extract::Path(key): axum::extract::Path<String>) -> Json<Value> {
    Json(json!({"issueKey": key, "requestTypeId": "25",
                "reporter": {"accountId": "acc-zed", "emailAddress": "zed@example.com"}}))
}

async fn jsm_approval(State(sim): State<Arc<Sim>>) -> Json<Value> {
    let decision = sim.jsm_approval.lock().expect("lock").clone();
    Json(json!({"values": [{"id": "1", "name": "Access", "finalDecision": decision}]}))
}

/// Confluence's licence group in the simulated site.
pub const CONFLUENCE_GROUP: (&str, &str) = ("g-conf", "confluence-users");
/// A second group that gives Jira Software (not a default group: a restore adds it back only
/// when a reclaim took it).
pub const LEGACY_GROUP: (&str, &str) = ("g-jsw-legacy", "jira-software-legacy");

fn find_user<'a>(users: &'a mut [SimUser], id: Option<&str>) -> Option<&'a mut SimUser> {
    users.iter_mut().find(|u| Some(u.account_id.as_str()) == id)
}

/// Adds `group` to the user's groups; `false` when already a member.
fn join(user: &mut SimUser, group: &str) -> bool {
    if user.groups.iter().any(|g| g == group) {
        return false;
    }
    user.groups.push(group.to_string());
    true
}

fn dc_user_json(u: &SimUser, groups: bool) -> Value {
    let mut v = json!({"name": u.account_id, "key": format!("key-{}", u.account_id),
                       "emailAddress": u.email, "active": u.active, "displayName": u.email});
    if groups {
        v["groups"] = json!({"size": u.groups.len(),
                             "items": u.groups.iter().map(|g| json!({"name": g})).collect::<Vec<_>>()});
    }
    v
}

async fn dc_search(State(sim): State<Arc<Sim>>, Query(q): Q) -> Json<Value> {
    let query = q
        .get("username")
        .cloned()
        .unwrap_or_default()
        .to_lowercase();
    let users = sim.users.lock().expect("lock");
    // Jira answers `username=.` with every user, a page at a time (`startAt`, `maxResults`).
    let start: usize = q.get("startAt").and_then(|s| s.parse().ok()).unwrap_or(0);
    let max: usize = q
        .get("maxResults")
        .and_then(|s| s.parse().ok())
        .unwrap_or(50);
    Json(Value::Array(
        users
            .iter()
            .filter(|u| query == "." || u.email.starts_with(&query))
            .skip(start)
            .take(max)
            .map(|u| dc_user_json(u, false))
            .collect(),
    ))
}

async fn dc_user(State(sim): State<Arc<Sim>>, Query(q): Q) -> Response {
    let mut users = sim.users.lock().expect("lock");
    match find_user(&mut users, q.get("username").map(String::as_str)) {
        Some(u) => Json(dc_user_json(
            u,
            q.get("expand").is_some_and(|e| e.contains("groups")),
        ))
        .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn dc_set_active(
    State(sim): State<Arc<Sim>>,
    Query(q): Q,
    Json(body): Json<Value>,
) -> Response {
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
            Json(dc_user_json(u, false)).into_response()
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
    let Some((_, _, name)) = GROUPS
        .iter()
        .find(|(_, _, name)| q.get("groupname").map(String::as_str) == Some(*name))
    else {
        return (StatusCode::NOT_FOUND, "no such group").into_response();
    };
    let mut users = sim.users.lock().expect("lock");
    let Some(user) = find_user(&mut users, body["name"].as_str()) else {
        return (StatusCode::NOT_FOUND, "no such user").into_response();
    };
    if !join(user, name) {
        return (StatusCode::BAD_REQUEST, Json(json!({"errorMessages": [format!("Cannot add user. User is already a member of '{name}'")]}))).into_response();
    }
    StatusCode::CREATED.into_response()
}

async fn memberof(State(sim): State<Arc<Sim>>, Query(q): Q) -> Response {
    let id = q.get("accountId").or(q.get("username")).map(String::as_str);
    let mut users = sim.users.lock().expect("lock");
    match find_user(&mut users, id) {
        Some(u) => Json(json!({"results": u.groups.iter().map(|g| json!({"type": "group", "name": g})).collect::<Vec<_>>()}))
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn confluence_add_by_id(
    State(sim): State<Arc<Sim>>,
    Query(q): Q,
    Json(body): Json<Value>,
) -> Response {
    if q.get("groupId").map(String::as_str) != Some(CONFLUENCE_GROUP.0) {
        return (StatusCode::NOT_FOUND, "no such group").into_response();
    }
    let mut users = sim.users.lock().expect("lock");
    match find_user(&mut users, body["accountId"].as_str()) {
        Some(u) => {
            join(u, CONFLUENCE_GROUP.1);
            StatusCode::CREATED.into_response()
        }
        None => (StatusCode::NOT_FOUND, "no such user").into_response(),
    }
}

async fn confluence_dc_add(
    State(sim): State<Arc<Sim>>,
    axum::extract::Path((user, group)): axum::extract::Path<(String, String)>,
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

/// Reactivates a user (Confluence Data Center's `enable`, the org API's `restore-access`).
fn activate(sim: &Sim, id: &str) -> Response {
    let mut users = sim.users.lock().expect("lock");
    match find_user(&mut users, Some(id)) {
        Some(u) => {
            u.active = true;
            u.suspended = false;
            (StatusCode::OK, Json(json!({"message": "ok"}))).into_response()
        }
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn confluence_dc_enable(
    State(sim): State<Arc<Sim>>,
    axum::extract::Path(user): axum::extract::Path<String>,
) -> Response {
    activate(&sim, &user)
}

/// Removes a member (Jira Cloud by `groupId` or `groupname` and `accountId`, Jira Data Center
/// by `groupname` and `username`, Confluence Cloud by `groupId`); 400 when not a member.
async fn remove_member(State(sim): State<Arc<Sim>>, Query(q): Q) -> Response {
    let by_id = |id: &str| {
        GROUPS
            .iter()
            .find(|(_, gid, _)| *gid == id)
            .map(|(_, _, name)| name.to_string())
            .or_else(|| (id == CONFLUENCE_GROUP.0).then(|| CONFLUENCE_GROUP.1.to_string()))
            .or_else(|| (id == LEGACY_GROUP.0).then(|| LEGACY_GROUP.1.to_string()))
    };
    let name = match (q.get("groupId"), q.get("groupname").or(q.get("name"))) {
        (Some(id), _) => by_id(id),
        (None, Some(name)) => Some(name.clone()),
        _ => None,
    };
    let Some(name) = name else {
        return (StatusCode::NOT_FOUND, "no such group").into_response();
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

async fn confluence_dc_remove(
    State(sim): State<Arc<Sim>>,
    axum::extract::Path((user, group)): axum::extract::Path<(String, String)>,
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

async fn org_suspend(
    State(sim): State<Arc<Sim>>,
    axum::extract::Path((_org, account)): axum::extract::Path<(String, String)>,
) -> Response {
    let mut users = sim.users.lock().expect("lock");
    match find_user(&mut users, Some(&account)) {
        Some(u) => {
            u.suspended = true;
            (StatusCode::OK, Json(json!({"message": "suspended"}))).into_response()
        }
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// The user-management lifecycle API: `disable`, `enable`, `delete`, `cancel-delete`; an
/// account whose id starts `scim-managed` is refused as Atlassian refuses IdP-managed ones.
async fn lifecycle(
    State(sim): State<Arc<Sim>>,
    axum::extract::Path((account, verb)): axum::extract::Path<(String, String)>,
) -> Response {
    if account.starts_with("scim-managed") {
        let body = json!({"key": "forbidden.action", "context": {"allowed": false, "reason": {"key": "externalDirectory.scim"}}});
        return (StatusCode::FORBIDDEN, Json(body)).into_response();
    }
    let mut users = sim.users.lock().expect("lock");
    let Some(u) = find_user(&mut users, Some(&account)) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    match verb.as_str() {
        "disable" | "delete" => u.active = false,
        "enable" | "cancel-delete" => u.active = true,
        _ => return StatusCode::NOT_FOUND.into_response(),
    }
    StatusCode::NO_CONTENT.into_response()
}

/// The user-management profile API: a managed account's email changes.
async fn profile(
    State(sim): State<Arc<Sim>>,
    axum::extract::Path(account): axum::extract::Path<String>,
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

async fn org_restore(
    State(sim): State<Arc<Sim>>,
    axum::extract::Path((_org, account)): axum::extract::Path<(String, String)>,
) -> Response {
    activate(&sim, &account)
}

/// SCIM users are the sim's users, `id` = `scim-<account id>`; the filter is
/// `userName eq "<email>"`.
async fn scim_users(State(sim): State<Arc<Sim>>, Query(q): Q) -> Json<Value> {
    let filter = q.get("filter").cloned().unwrap_or_default();
    let users = sim.users.lock().expect("lock");
    let found: Vec<Value> = users
        .iter()
        .filter(|u| filter == format!("userName eq \"{}\"", u.email))
        .map(|u| json!({"id": format!("scim-{}", u.account_id), "userName": u.email, "active": u.active}))
        .collect();
    Json(
        json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
                "totalResults": found.len(), "Resources": found}),
    )
}

async fn scim_patch(
    State(sim): State<Arc<Sim>>,
    axum::extract::Path((_dir, id)): axum::extract::Path<(String, String)>,
    Json(body): Json<Value>,
) -> Response {
    let op = &body["Operations"][0];
    if body["schemas"][0] != "urn:ietf:params:scim:api:messages:2.0:PatchOp"
        || op["op"] != "replace"
        || op["path"] != "active"
        || op["value"] != true
    {
        return (StatusCode::BAD_REQUEST, "unsupported patch").into_response();
    }
    match id.strip_prefix("scim-") {
        Some(account) => activate(&sim, account),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// The audit log, newest first, two events a page, `from` (epoch ms, inclusive) and `action`
/// filters, `cursor` = offset.
async fn org_events(
    State(sim): State<Arc<Sim>>,
    uri: Uri,
    headers: HeaderMap,
    Query(q): Q,
) -> Json<Value> {
    let from: i128 = q.get("from").and_then(|f| f.parse().ok()).unwrap_or(0);
    let events = sim.audit_events.lock().expect("lock");
    let mut matching: Vec<Value> = events
        .iter()
        .filter(|e| {
            q.get("action")
                .is_none_or(|a| e["attributes"]["action"] == a.as_str())
        })
        .filter(|e| {
            let t = time::OffsetDateTime::parse(
                e["attributes"]["time"].as_str().expect("time"),
                &time::format_description::well_known::Rfc3339,
            )
            .expect("time");
            t.unix_timestamp_nanos() / 1_000_000 >= from
        })
        .cloned()
        .collect();
    matching.reverse();
    let offset: usize = q.get("cursor").and_then(|c| c.parse().ok()).unwrap_or(0);
    let page: Vec<Value> = matching.iter().skip(offset).take(2).cloned().collect();
    let next = (offset + 2 < matching.len()).then(|| {
        let host = headers
            .get("host")
            .and_then(|h| h.to_str().ok())
            .unwrap_or("localhost");
        let mut params: Vec<String> = q
            .iter()
            .filter(|(k, _)| *k != "cursor")
            .map(|(k, v)| format!("{k}={}", v.replace(' ', "%20")))
            .collect();
        params.push(format!("cursor={}", offset + 2));
        format!("http://{host}{}?{}", uri.path(), params.join("&"))
    });
    Json(json!({"data": page, "links": {"self": uri.to_string(), "next": next}}))
}

/// Draws the chaos fault for one request, if any.
fn chaos_fault(sim: &Sim) -> Option<Fault> {
    use rand::Rng;
    let chaos = (*sim.chaos.lock().expect("lock"))?;
    let mut rng = rand::rng();
    let draw: f64 = rng.random();
    if draw < chaos.p_429_burst {
        let mut faults = sim.faults.lock().expect("lock");
        for _ in 1..chaos.burst_429 {
            faults.push_back((None, Fault::Status(429, Some(1))));
        }
        return Some(Fault::Status(429, Some(1)));
    }
    let draw = draw - chaos.p_429_burst;
    if draw < chaos.p_5xx {
        Some(Fault::Status(503, None))
    } else if draw < chaos.p_5xx + chaos.p_reset {
        Some(Fault::Reset)
    } else if draw < chaos.p_5xx + chaos.p_reset + chaos.p_stall {
        Some(Fault::Delay(chaos.stall))
    } else {
        None
    }
}
