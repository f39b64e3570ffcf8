//! A simulated Atlassian: a Jira site (Cloud REST v3 and Data Center REST v2, Service
//! Management), Confluence (Cloud and Data Center), the organisation API, user management and
//! SCIM — each route answering what Atlassian documents (`tests/contract/atlassian.toml`),
//! including the inconvenient parts: searches without suspended users, hidden emails, Data
//! Center's caps, Jira's rate-limit headers, refusals for groups an identity provider syncs,
//! endpoints that are gone. Faults can be injected (429 + Retry-After, 5xx, delays, resets,
//! "down"), every call is logged, and a request the contract does not hold is answered 501 and
//! fails the test that sent it (when the last handle on the simulator is dropped).

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;
use axum::{Json, Router};
use serde_json::{Value, json};

use super::contract::contract;

mod confluence;
mod listing;
mod org;
mod site;

pub const SIM_EMAIL: &str = "svc@example.com";
pub const SIM_TOKEN: &str = "sim-api-token";

/// Confluence's licence group in the simulated site.
pub const CONFLUENCE_GROUP: (&str, &str) = ("g-conf", "confluence-users");
/// A second group that gives Jira Software (not a default group: a restore adds it back only
/// when a reclaim took it).
pub const LEGACY_GROUP: (&str, &str) = ("g-jsw-legacy", "jira-software-legacy");

/// The site's products: (application role key, default group id, default group name).
const GROUPS: &[(&str, &str, &str)] = &[
    ("jira-software", "g-jsw", "jira-software-users"),
    ("jira-servicedesk", "g-jsm", "jira-servicedesk-users"),
    // Not a product reinstate restores by default, but a group a reclaim may have removed.
    ("jira-core", "g-core", "jira-core-users"),
];

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

/// One account, as the organisation and the site know it.
pub(super) struct SimUser {
    pub(super) account_id: String,
    pub(super) email: String,
    pub(super) groups: Vec<String>,
    /// `false`: deactivated.
    pub(super) active: bool,
    /// The organisation suspended the account's access (membership suspended).
    pub(super) suspended: bool,
    /// Scheduled for deletion (within the 14 days' grace).
    pub(super) for_deletion: bool,
    /// Profile visibility hides the email from the site's APIs.
    pub(super) email_hidden: bool,
    /// Provisioned by an identity provider (`managementSource: synced`).
    pub(super) synced: bool,
    /// The organisation's admin roles (`platformRoles`).
    pub(super) roles: Vec<String>,
    pub(super) directory: String,
    /// When last active, per organisation product key (`jira`, `confluence`), as Atlassian
    /// writes it; Data Center's `lastLoginTime` and Confluence's `lastLogin` are these too.
    pub(super) last_active: BTreeMap<String, String>,
}

impl SimUser {
    fn new(account_id: &str, email: &str) -> SimUser {
        SimUser {
            account_id: account_id.into(),
            email: email.into(),
            groups: Vec::new(),
            active: true,
            suspended: false,
            for_deletion: false,
            email_hidden: false,
            synced: false,
            roles: Vec::new(),
            directory: "dir-1".into(),
            last_active: BTreeMap::new(),
        }
    }

    /// Whether the account can use what it holds: active, not suspended.
    pub(super) fn usable(&self) -> bool {
        self.active && !self.suspended
    }
}

pub struct Sim {
    pub(super) users: Mutex<Vec<SimUser>>,
    /// Faults, each for any request or only for paths starting with a prefix.
    faults: Mutex<VecDeque<(Option<String>, Fault)>>,
    calls: Mutex<Vec<Call>>,
    /// Requests the contract does not hold.
    violations: Mutex<Vec<String>>,
    down: AtomicBool,
    /// The final decision `/approval` reports for every request.
    pub(super) jsm_approval: Mutex<String>,
    /// Seats of every product (100 unless set).
    pub(super) seats: std::sync::atomic::AtomicUsize,
    /// Requests per second allowed (a bucket holding one second's worth); beyond, 429.
    rate_limit: Mutex<Option<Bucket>>,
    /// The organisation's audit log (oldest first).
    pub(super) audit_events: Mutex<Vec<Value>>,
    /// Random faults on every request, when set.
    chaos: Mutex<Option<Chaos>>,
    /// Jira Data Center's version (`serverInfo`): what it lists and how far.
    pub(super) dc_version: Mutex<(u32, u32, u32)>,
    /// The organisation API's v1 suspend-access and restore-access are gone (404).
    pub(super) v1_removed: AtomicBool,
    /// The organisation API has no v2 suspend and restore here (404), as for some tenants.
    pub(super) v2_missing: AtomicBool,
    /// Groups an identity provider syncs: the site refuses to change their members.
    pub(super) synced_groups: Mutex<Vec<String>>,
    /// Confluence Data Center without `admin/users/list/active` (older versions).
    pub(super) confluence_legacy: AtomicBool,
    /// The organisation's directories.
    pub(super) directories: Mutex<Vec<String>>,
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

/// Fails the test when the last handle goes and a request broke the contract.
struct ContractGuard(Arc<Sim>);

impl Drop for ContractGuard {
    fn drop(&mut self) {
        let violations = self.0.violations.lock().expect("lock").clone();
        if !violations.is_empty() && !std::thread::panicking() {
            panic!(
                "requests the contract with Atlassian does not hold (tests/contract/atlassian.toml): {violations:#?}"
            );
        }
    }
}

#[derive(Clone)]
pub struct JiraSim {
    pub url: String,
    sim: Arc<Sim>,
    _guard: Arc<ContractGuard>,
}

/// The simulator's routes, each also named so that a test can hold them to the contract.
pub(super) struct SimRoutes {
    pub(super) router: Router<Arc<Sim>>,
    pub(super) routes: Vec<(&'static str, &'static str)>,
}

impl SimRoutes {
    pub(super) fn new() -> SimRoutes {
        SimRoutes {
            router: Router::new(),
            routes: Vec::new(),
        }
    }

    /// `methods` are those `handler` answers.
    pub(super) fn at(
        mut self,
        methods: &[&'static str],
        path: &'static str,
        handler: MethodRouter<Arc<Sim>>,
    ) -> SimRoutes {
        self.router = self.router.route(path, handler);
        self.routes.extend(methods.iter().map(|m| (*m, path)));
        self
    }

    pub(super) fn merge(mut self, other: SimRoutes) -> SimRoutes {
        self.router = self.router.merge(other.router);
        self.routes.extend(other.routes);
        self
    }
}

fn routes() -> SimRoutes {
    site::routes()
        .merge(confluence::routes())
        .merge(org::routes())
        .merge(listing::routes())
}

/// Every route the simulator serves, as (method, path template).
pub fn simulated_routes() -> Vec<(&'static str, &'static str)> {
    routes().routes
}

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
            groups: groups.into_iter().map(String::from).collect(),
            // ivy's account is deactivated.
            active: id != "acc-ivy",
            ..SimUser::new(id, email)
        })
        .collect();
        let sim = Arc::new(Sim {
            users: Mutex::new(users),
            faults: Mutex::new(VecDeque::new()),
            calls: Mutex::new(Vec::new()),
            violations: Mutex::new(Vec::new()),
            down: AtomicBool::new(false),
            seats: std::sync::atomic::AtomicUsize::new(100),
            jsm_approval: Mutex::new("pending".into()),
            rate_limit: Mutex::new(None),
            audit_events: Mutex::new(Vec::new()),
            chaos: Mutex::new(None),
            dc_version: Mutex::new((11, 3, 0)),
            v1_removed: AtomicBool::new(true),
            v2_missing: AtomicBool::new(false),
            synced_groups: Mutex::new(Vec::new()),
            confluence_legacy: AtomicBool::new(false),
            directories: Mutex::new(vec!["dir-1".into()]),
        });
        let app = routes()
            .router
            .fallback(outside_the_contract)
            .layer(axum::middleware::from_fn_with_state(sim.clone(), faults))
            .with_state(sim.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind sim");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        JiraSim {
            url,
            _guard: Arc::new(ContractGuard(sim.clone())),
            sim,
        }
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

    /// Limits the site to `per_sec` requests a second; the excess is answered 429 as Jira
    /// does: `Retry-After: 1`, `X-RateLimit-Remaining: 0` and `X-RateLimit-Reset` to the minute.
    pub fn set_rate_limit(&self, per_sec: u32) {
        *self.sim.rate_limit.lock().expect("lock") = Some(Bucket {
            per_sec: per_sec as f64,
            tokens: per_sec as f64,
            at: std::time::Instant::now(),
        });
    }

    /// Jira Data Center's version, as `serverInfo` reports it.
    pub fn set_dc_version(&self, major: u32, minor: u32, patch: u32) {
        *self.sim.dc_version.lock().expect("lock") = (major, minor, patch);
    }

    /// The organisation API without v2 suspend and restore (404), its v1 endpoints still there.
    pub fn without_org_v2(&self) {
        self.sim.v2_missing.store(true, Ordering::SeqCst);
        self.sim.v1_removed.store(false, Ordering::SeqCst);
    }

    /// An identity provider syncs this group: the site refuses to change its members.
    pub fn sync_group(&self, group: &str) {
        self.sim
            .synced_groups
            .lock()
            .expect("lock")
            .push(group.into());
    }

    /// Confluence Data Center from before `admin/users/list/active`.
    pub fn confluence_without_active_list(&self) {
        self.sim.confluence_legacy.store(true, Ordering::SeqCst);
    }

    /// The organisation's directories (one a page when listed).
    pub fn set_directories(&self, directories: &[&str]) {
        *self.sim.directories.lock().expect("lock") =
            directories.iter().map(|d| d.to_string()).collect();
    }

    fn with_user(&self, account_id: &str, change: impl FnOnce(&mut SimUser)) {
        let mut users = self.sim.users.lock().expect("lock");
        if let Some(u) = users.iter_mut().find(|u| u.account_id == account_id) {
            change(u);
        }
    }

    /// Profile visibility hides the user's email from the site's APIs.
    pub fn hide_email(&self, account_id: &str) {
        self.with_user(account_id, |u| u.email_hidden = true);
    }
    /// The organisation's admin roles of a user (`atlassian/org-admin`, …).
    pub fn set_roles(&self, account_id: &str, roles: &[&str]) {
        self.with_user(account_id, |u| {
            u.roles = roles.iter().map(|r| r.to_string()).collect();
        });
    }
    /// The user is provisioned by an identity provider.
    pub fn set_synced(&self, account_id: &str) {
        self.with_user(account_id, |u| u.synced = true);
    }
    /// The directory the user is in.
    pub fn set_directory(&self, account_id: &str, directory: &str) {
        self.with_user(account_id, |u| u.directory = directory.into());
    }

    /// Adds `n` active users `{prefix}{i}@example.com` (accounts `acc-{prefix}{i}`) in no group.
    pub fn add_users(&self, prefix: &str, n: usize) {
        let mut users = self.sim.users.lock().expect("lock");
        users.extend((0..n).map(|i| {
            SimUser::new(
                &format!("acc-{prefix}{i}"),
                &format!("{prefix}{i}@example.com"),
            )
        }));
    }

    /// Adds one active user with this account id (the username on Data Center) and email.
    pub fn add_person(&self, account_id: &str, email: &str) {
        self.sim
            .users
            .lock()
            .expect("lock")
            .push(SimUser::new(account_id, email));
    }

    /// Adds one active user in these groups.
    pub fn add_member_of(&self, account_id: &str, email: &str, groups: &[&str]) {
        self.add_person(account_id, email);
        self.with_user(account_id, |u| {
            u.groups = groups.iter().map(|g| g.to_string()).collect();
        });
    }

    /// The email the organisation holds for an account.
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
            .any(|u| u.account_id == account_id && u.usable())
    }

    /// Whether the account is suspended, deactivated or scheduled for deletion, in words.
    pub fn standing_of(&self, account_id: &str) -> Option<&'static str> {
        let users = self.sim.users.lock().expect("lock");
        users.iter().find(|u| u.account_id == account_id).map(|u| {
            if u.for_deletion {
                "for_deletion"
            } else if !u.active {
                "deactivated"
            } else if u.suspended {
                "suspended"
            } else {
                "active"
            }
        })
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
            "attributes": {"time": now, "processedAt": now, "action": action, "actor": actor,
                           "context": [], "container": [], "location": {"ip": "203.0.113.9"}},
            "links": {"self": format!("https://api.atlassian.com/admin/v1/orgs/org-1/events/{id}")}
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
    /// Requests the contract did not hold so far.
    pub fn violations(&self) -> Vec<String> {
        self.sim.violations.lock().expect("lock").clone()
    }
    /// Forgets the requests the contract did not hold (a test that sends one on purpose).
    pub fn forget_violations(&self) -> Vec<String> {
        std::mem::take(&mut *self.sim.violations.lock().expect("lock"))
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
    /// Sets when the organisation saw the user last active in `product` (its key, e.g. `jira`),
    /// written as Atlassian writes it.
    pub fn set_last_active(&self, account_id: &str, product: &str, at: &str) {
        self.with_user(account_id, |u| {
            u.last_active.insert(product.into(), at.into());
        });
    }
    /// Suspends a user's access in the organisation.
    pub fn suspend(&self, account_id: &str) {
        self.with_user(account_id, |u| u.suspended = true);
    }
    /// Adds a user to one more group.
    pub fn join(&self, account_id: &str, group: &str) {
        self.with_user(account_id, |u| u.groups.push(group.into()));
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

/// A route the simulator does not have: what Atlassian has at that address is not simulated,
/// so the contract cannot hold it either.
async fn outside_the_contract(method: Method, uri: Uri) -> Response {
    let body = json!({"errorMessages": [format!("{method} {} is not simulated", uri.path())]});
    (StatusCode::NOT_IMPLEMENTED, Json(body)).into_response()
}

/// Checks the request against the contract, authenticates it, applies rate limits and faults,
/// and logs it.
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
    let query_keys: Vec<String> =
        url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
            .map(|(k, _)| k.into_owned())
            .collect();
    let checked = contract().check(
        method.as_str(),
        uri.path(),
        &query_keys,
        &body_json,
        &headers,
    );
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
    let response = if let Err(why) = &checked {
        sim.violations.lock().expect("lock").push(why.clone());
        let body = json!({"errorMessages": [format!("not in the contract: {why}")]});
        (StatusCode::NOT_IMPLEMENTED, Json(body)).into_response()
    } else if sim.down.load(Ordering::SeqCst) {
        StatusCode::SERVICE_UNAVAILABLE.into_response()
    } else if !auth_ok {
        (StatusCode::UNAUTHORIZED, "bad credentials").into_response()
    } else if let Some(limit) = sim
        .rate_limit
        .lock()
        .expect("lock")
        .as_mut()
        .and_then(|b| (!b.take()).then_some(b.per_sec))
    {
        rate_limited(limit)
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
        let pass = || {
            next.run(axum::extract::Request::from_parts(
                parts,
                axum::body::Body::from(bytes.clone()),
            ))
        };
        match fault {
            Some(Fault::Status(429, retry_after)) => {
                let mut r = rate_limited(1.0);
                match retry_after {
                    Some(s) => r.headers_mut().insert("retry-after", s.into()),
                    None => r.headers_mut().remove("retry-after"),
                };
                r
            }
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
                pass().await
            }
            Some(Fault::Reset) => {
                let (head, _) = pass().await.into_parts();
                let broken = futures::stream::once(async {
                    Err::<bytes::Bytes, std::io::Error>(std::io::Error::other("injected reset"))
                });
                Response::from_parts(head, axum::body::Body::from_stream(broken))
            }
            None => pass().await,
        }
    };
    sim.calls
        .lock()
        .expect("lock")
        .push(record(response.status().as_u16()));
    response
}

/// A 429 as Jira Cloud sends it (JRACLOUD-69262): `Retry-After` in seconds, the limit, nothing
/// remaining, and the reset as `yyyy-MM-ddTHH:mmZ` (to the minute, no seconds).
fn rate_limited(limit: f64) -> Response {
    let next_minute = time::OffsetDateTime::now_utc() + time::Duration::minutes(1);
    let reset = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}Z",
        next_minute.year(),
        next_minute.month() as u8,
        next_minute.day(),
        next_minute.hour(),
        next_minute.minute()
    );
    let mut r = (StatusCode::TOO_MANY_REQUESTS, "Rate limit exceeded").into_response();
    let h = r.headers_mut();
    h.insert("retry-after", 1.into());
    h.insert("x-ratelimit-limit", (limit.max(1.0) as u64).into());
    h.insert("x-ratelimit-remaining", 0.into());
    h.insert("x-ratelimit-reset", reset.parse().expect("header"));
    h.insert(
        "ratelimit-reason",
        "jira-burst-based".parse().expect("header"),
    );
    r
}

fn base64_encode(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

pub(super) type Q = Query<std::collections::HashMap<String, String>>;

pub(super) fn find_user<'a>(users: &'a mut [SimUser], id: Option<&str>) -> Option<&'a mut SimUser> {
    users.iter_mut().find(|u| Some(u.account_id.as_str()) == id)
}

/// Adds `group` to the user's groups; `false` when already a member.
pub(super) fn join(user: &mut SimUser, group: &str) -> bool {
    if user.groups.iter().any(|g| g == group) {
        return false;
    }
    user.groups.push(group.to_string());
    true
}

/// The site's refusal to change a group an identity provider syncs.
pub(super) fn synced_refusal(sim: &Sim, group: &str) -> Option<Response> {
    let synced = sim
        .synced_groups
        .lock()
        .expect("lock")
        .iter()
        .any(|g| g == group);
    synced.then(|| {
        let message = format!(
            "The group '{group}' is synced from an identity provider; manage its members there"
        );
        (
            StatusCode::FORBIDDEN,
            Json(json!({"errorMessages": [message]})),
        )
            .into_response()
    })
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
