//! `reinstate bench inventory`: a real `reinstate serve` (a child process, so its memory is its
//! own) syncing an organisation of 50,000 users from a simulated organisation API that allows
//! `RATE` requests a second (429 beyond), then serving inventory queries and logins.
//!
//! 1. **Sync**: its calls and its time next to the rate limit's floor (pages ÷ rate), and the
//!    429s it met.
//! 2. **Memory**: the service's resident memory during the sync (its peak) and after queries.
//! 3. **Queries**: a filtered, sorted page of 100, p50/p99 over HTTP, next to a plain scan of
//!    the same sled tree (reading and decoding every account), measured after the service stops.
//! 4. **Calls per login** for already-licensed users, next to the same logins with the
//!    inventory not trusted (`inventory.trust_secs = 0`: the directory look-up as before).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::extract::{Path, Query, State};
use axum::routing::{get, post};
use serde_json::{Value, json};
use sha2::Digest;

use super::{Options, ms, percentile};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
pub(super) const ADMIN: &str = "bench-admin-token";
const TOKEN: &str = "bench-site-token";
/// Requests a second the simulated organisation allows, and reinstate is configured for.
pub(super) const RATE: u32 = 20;
/// What reinstate's bucket lets through at once (below the organisation's one second's worth).
const BURST: u32 = 5;

/// The simulated organisation: `users` accounts, two in three holding Jira Software. Its
/// organisation API and its site each allow `rate` requests a second, apart (Atlassian limits
/// them separately).
pub(super) struct Org {
    users: usize,
    /// The organisation API's budget (`/admin/...`).
    pub(super) admin: Bucket,
    /// The site's budget (`/rest/...`).
    pub(super) site: Bucket,
}

/// Atlassian-style limiting: `rate` a second, one second's worth at once.
pub(super) struct Bucket {
    rate: u32,
    state: std::sync::Mutex<(f64, Instant)>,
    pub(super) answered: AtomicU64,
    pub(super) limited: AtomicU64,
}

impl Bucket {
    fn new(rate: u32) -> Bucket {
        Bucket {
            rate,
            state: std::sync::Mutex::new((rate as f64, Instant::now())),
            answered: AtomicU64::new(0),
            limited: AtomicU64::new(0),
        }
    }

    fn admit(&self) -> bool {
        let rate = self.rate as f64;
        let mut b = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        b.0 = (b.0 + now.duration_since(b.1).as_secs_f64() * rate).min(rate);
        b.1 = now;
        let ok = b.0 >= 1.0;
        if ok {
            b.0 -= 1.0;
            self.answered.fetch_add(1, Ordering::Relaxed);
        } else {
            self.limited.fetch_add(1, Ordering::Relaxed);
        }
        ok
    }

    pub(super) fn answered(&self) -> u64 {
        self.answered.load(Ordering::Relaxed)
    }

    pub(super) fn limited(&self) -> u64 {
        self.limited.load(Ordering::Relaxed)
    }
}

impl Org {
    pub(super) fn new(users: usize, rate: u32) -> Org {
        Org {
            users,
            admin: Bucket::new(rate),
            site: Bucket::new(rate),
        }
    }

    /// Calls answered and answered 429, both APIs together.
    pub(super) fn totals(&self) -> (u64, u64) {
        (
            self.admin.answered() + self.site.answered(),
            self.admin.limited() + self.site.limited(),
        )
    }
}

/// Account `i`: last active `(i * 7919) % 200` days ago; two in three hold Jira Software.
pub(super) fn account(i: usize) -> Value {
    let days = (i * 7919) % 200;
    let at = time::OffsetDateTime::now_utc() - time::Duration::days(days as i64);
    let at = at
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let licensed = !i.is_multiple_of(3);
    json!({"accountId": format!("acc-{i}"), "accountType": "atlassian", "status": "active",
           "accountStatus": "active", "name": format!("User {i}"), "email": format!("u{i}@example.com"),
           "productAccess": if licensed { json!([{"key": "jira", "lastActiveTimestamp": at}]) } else { json!([]) },
           "groups": if licensed { json!([{"id": "g1", "name": "jira-software-users"}, {"id": "g2", "name": "staff"}]) } else { json!([{"id": "g2", "name": "staff"}]) }})
}

type Shared = State<Arc<Org>>;

async fn limited(bucket: &Bucket, answer: impl FnOnce() -> Value) -> axum::response::Response {
    use axum::response::IntoResponse;
    if bucket.admit() {
        axum::Json(answer()).into_response()
    } else {
        let mut r = axum::http::StatusCode::TOO_MANY_REQUESTS.into_response();
        r.headers_mut().insert("retry-after", 1.into());
        r
    }
}

async fn search(
    State(org): Shared,
    Path((_o, _d)): Path<(String, String)>,
    axum::Json(body): axum::Json<Value>,
) -> axum::response::Response {
    let limit = body["limit"].as_u64().unwrap_or(50) as usize;
    let offset: usize = body["cursor"]
        .as_str()
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    // `emails` and `accountIds` filter exactly, as the organisation API documents.
    let index = |v: &Value, prefix: &str, suffix: &str| -> Option<usize> {
        let s = v.as_str()?.strip_prefix(prefix)?.strip_suffix(suffix)?;
        s.parse().ok().filter(|i| *i < org.users)
    };
    let wanted: Option<Vec<usize>> =
        match (body["emails"].as_array(), body["accountIds"].as_array()) {
            (Some(emails), _) => Some(
                emails
                    .iter()
                    .filter_map(|e| index(e, "u", "@example.com"))
                    .collect(),
            ),
            (None, Some(ids)) => Some(ids.iter().filter_map(|a| index(a, "acc-", "")).collect()),
            (None, None) => None,
        };
    let end = (offset + limit).min(org.users);
    limited(&org.admin, || match wanted {
        Some(found) => json!({"data": found.into_iter().map(account).collect::<Vec<_>>(), "links": {"next": null}}),
        None => {
            let data: Vec<Value> = (offset..end).map(account).collect();
            json!({"data": data, "links": {"next": (end < org.users).then(|| end.to_string())}})
        }
    })
    .await
}

/// The site's calls a login makes without the inventory: a search, the groups, the roles.
async fn user_search(
    State(org): Shared,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> axum::response::Response {
    let email = q.get("query").cloned().unwrap_or_default();
    let i: usize = email
        .trim_start_matches('u')
        .split('@')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    limited(&org.site, || json!([{"accountId": format!("acc-{i}"), "emailAddress": email, "active": true, "accountType": "atlassian"}])).await
}

async fn user_groups(
    State(org): Shared,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> axum::response::Response {
    let i: usize = q
        .get("accountId")
        .and_then(|a| a.trim_start_matches("acc-").parse().ok())
        .unwrap_or(0);
    let licensed = !i.is_multiple_of(3);
    limited(&org.site, || {
        if licensed {
            json!([{"name": "jira-software-users"}, {"name": "staff"}])
        } else {
            json!([{"name": "staff"}])
        }
    })
    .await
}

async fn roles(State(org): Shared) -> axum::response::Response {
    let used = org.users - org.users / 3;
    limited(&org.site, || json!([{"key": "jira-software", "groups": ["jira-software-users"], "defaultGroups": ["jira-software-users"],
        "numberOfSeats": org.users, "remainingSeats": org.users - used, "userCount": used, "hasUnlimitedSeats": false}])).await
}

/// Removing a member (a reclaim's one call per user).
async fn remove_member(State(org): Shared) -> axum::response::Response {
    limited(&org.site, || json!({})).await
}

pub(super) async fn simulator(org: Arc<Org>) -> Result<String, String> {
    let app = axum::Router::new()
        .route(
            "/admin/v2/orgs/{org}/directories",
            get(|State(org): Shared| async move {
                limited(
                    &org.admin,
                    || json!({"data": [{"directoryId": "d1"}], "links": {"next": null}}),
                )
                .await
            }),
        )
        .route(
            "/admin/v2/orgs/{org}/directories/{dir}/users/search",
            post(search),
        )
        .route("/rest/api/3/user/search", get(user_search))
        .route("/rest/api/3/user/groups", get(user_groups))
        .route("/rest/api/3/applicationrole", get(roles))
        .route(
            "/rest/api/3/group/user",
            axum::routing::delete(remove_member),
        )
        .with_state(org);
    super::serve_local(app).await
}

/// `reinstate serve` against the simulator, with its state in `path`, its connector's budget at
/// `rate` requests a second.
fn serve(
    path: &std::path::Path,
    sim: &str,
    port: u16,
    trust_secs: u64,
    rate: u32,
) -> Result<std::process::Child, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let admin = hex::encode(sha2::Sha256::digest(ADMIN.as_bytes()));
    let env = [
        ("REINSTATE__STORE__PATH", path.display().to_string()),
        ("REINSTATE__STORE__MIN_FREE_MB", "0".into()),
        ("REINSTATE__SERVER__LISTEN", format!("127.0.0.1:{port}")),
        (
            "REINSTATE__SOURCES__LOGIN__SECRETS",
            format!("[\"{SECRET}\"]"),
        ),
        ("REINSTATE__ADMIN__TOKEN_SHA256", format!("[\"{admin}\"]")),
        ("REINSTATE__DIRECTORY__KIND", "jira-cloud".into()),
        ("REINSTATE__DIRECTORY__SITE_URL", sim.into()),
        ("REINSTATE__DIRECTORY__EMAIL", "svc@example.com".into()),
        ("REINSTATE__DIRECTORY__API_TOKEN", TOKEN.into()),
        ("REINSTATE__DIRECTORY__ORG_ID", "org-1".into()),
        ("REINSTATE__DIRECTORY__ORG_API_KEY", TOKEN.into()),
        ("REINSTATE__DIRECTORY__ADMIN_API_URL", sim.into()),
        ("REINSTATE__DIRECTORY__RATE_LIMIT_PER_SEC", rate.to_string()),
        ("REINSTATE__DIRECTORY__RATE_LIMIT_BURST", BURST.to_string()),
        ("REINSTATE__INVENTORY__SYNC_EVERY", "0s".into()),
        ("REINSTATE__INVENTORY__TRUST_SECS", trust_secs.to_string()),
        ("REINSTATE__LOG__FILTER", "error".into()),
    ];
    std::process::Command::new(exe)
        .arg("serve")
        .envs(env)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|e| format!("starting reinstate serve: {e}"))
}

fn rss(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024)
}

/// A running `reinstate serve` and how to ask it things.
pub(super) struct Service {
    child: std::process::Child,
    pub(super) url: String,
    http: reqwest::Client,
}

impl Service {
    pub(super) async fn start(
        path: &std::path::Path,
        sim: &str,
        trust_secs: u64,
        rate: u32,
    ) -> Result<Service, String> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| e.to_string())?
            .port();
        let service = Service {
            child: serve(path, sim, port, trust_secs, rate)?,
            url: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::new(),
        };
        super::wait_ready(&service.http, &service.url).await?;
        Ok(service)
    }

    /// An admin's request with a JSON body; the answer's JSON.
    pub(super) async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: &Value,
    ) -> Result<Value, String> {
        let r = self
            .http
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(ADMIN)
            .json(body)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        r.json().await.map_err(|e| e.to_string())
    }

    pub(super) async fn get(&self, path: &str) -> Result<Value, String> {
        let r = self
            .http
            .get(format!("{}{path}", self.url))
            .bearer_auth(ADMIN)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        r.json().await.map_err(|e| e.to_string())
    }

    /// Syncs; returns how long it took and the peak resident memory meanwhile.
    pub(super) async fn sync(&self) -> Result<(Duration, u64), String> {
        let started = Instant::now();
        self.http
            .post(format!("{}/api/v1/inventory/sync", self.url))
            .bearer_auth(ADMIN)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let mut peak = 0;
        loop {
            peak = peak.max(rss(self.child.id()).unwrap_or(0));
            let s = self.get("/api/v1/inventory/sync").await?;
            match s["state"].as_str() {
                Some("finished") => return Ok((started.elapsed(), peak)),
                Some("failed") => return Err(format!("the sync failed: {s}")),
                _ => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    /// The calls-per-login histogram's sum and count for already-licensed logins.
    async fn calls_per_login(&self) -> Result<(f64, f64), String> {
        let text = self
            .http
            .get(format!("{}/metrics", self.url))
            .send()
            .await
            .map_err(|e| e.to_string())?
            .text()
            .await
            .map_err(|e| e.to_string())?;
        let value = |name: &str| {
            text.lines()
                .find(|l| l.starts_with(name) && l.contains("outcome=\"already_licensed\""))
                .and_then(|l| l.rsplit(' ').next())
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        Ok((
            value("reinstate_calls_per_event_sum"),
            value("reinstate_calls_per_event_count"),
        ))
    }

    pub(super) fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Signed first logins of `n` licensed users (round 1 and 2 pick different ones), one at a
/// time; waits until the service handled them.
async fn logins(service: &Service, n: usize, round: usize) -> Result<(), String> {
    let secret = crate::sources::signature::WebhookSecret::parse(SECRET).map_err(String::from)?;
    for k in 0..n {
        let i = 1 + 3 * (k + (round - 1) * n); // i % 3 != 0: licensed
        let body = serde_json::to_vec(&json!({"type": "login.succeeded", "user": {"email": format!("u{i}@example.com")},
            "product": "jira-software", "occurred_at": time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap_or_default()}))
            .map_err(|e| e.to_string())?;
        super::post_login(
            &service.http,
            &service.url,
            &secret,
            &format!("msg_inv{round}_{k}"),
            body,
        )
        .await
        .map_err(|e| e.to_string())?;
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    while service.calls_per_login().await?.1 < n as f64 {
        if Instant::now() > deadline {
            return Err("the logins were not all handled".into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

/// p50 and p99 of a filtered, sorted page of 100, over varied filters.
async fn queries(service: &Service, n: usize) -> Result<(Duration, Duration), String> {
    let filters = [
        "product=jira-software&inactive_after_days=30&sort=last_seen&order=asc",
        "licensed=true&sort=email&order=desc",
        "q=u12&sort=name",
        "product=jira-software&last_active_before=2026-09-01&sort=last_seen&order=desc",
    ];
    let mut times = Vec::with_capacity(n);
    for k in 0..n {
        let start = Instant::now();
        let page = service
            .get(&format!(
                "/api/v1/inventory/users?{}&limit=100",
                filters[k % filters.len()]
            ))
            .await?;
        times.push(start.elapsed());
        if page["users"].as_array().is_none() {
            return Err(format!("not a page: {page}"));
        }
    }
    times.sort();
    Ok((percentile(&times, 0.5), percentile(&times, 0.99)))
}

/// The baseline of a query: reading and decoding every account of the inventory tree.
fn plain_scan(path: &std::path::Path) -> Result<Duration, String> {
    let db = sled::Config::new()
        .path(path)
        .open()
        .map_err(|e| e.to_string())?;
    let tree = db.open_tree("inventory").map_err(|e| e.to_string())?;
    let start = Instant::now();
    let mut n = 0usize;
    for value in tree.iter().values() {
        let v: Value = serde_json::from_slice(&value.map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
        n += std::hint::black_box(v).is_object() as usize;
    }
    std::hint::black_box(n);
    Ok(start.elapsed())
}

pub async fn run(options: Options) -> Result<(), String> {
    let users = if options.quick { 2_000 } else { 50_000 };
    let org = Arc::new(Org::new(users, RATE));
    let sim = simulator(org.clone()).await?;
    let dir = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
    let state = dir.path().join("state");
    let service = Service::start(&state, &sim, 3600, RATE).await?;
    let idle = rss(service.child.id()).unwrap_or(0);
    let (took, peak) = service.sync().await?;
    let (calls, limited) = org.totals();
    let pages = users.div_ceil(100) as f64;
    // The pages and the directories are the organisation API's; the floor is its budget's.
    let busiest = org.admin.answered();
    let floor = Duration::from_secs_f64(((busiest as f64) - BURST as f64).max(0.0) / RATE as f64);
    println!("inventory: {users} users from the organisation API at {RATE} requests/s");
    println!(
        "  sync                {:>9}  {calls} calls ({pages:.0} pages), {limited} answered 429",
        ms(took),
    );
    println!(
        "  baseline, the rate limit's floor ((organisation API calls - burst) / rate) {:>9}  ratio {:.2}",
        ms(floor),
        took.as_secs_f64() / floor.as_secs_f64().max(1e-9)
    );
    let (q50, q99) = queries(&service, if options.quick { 40 } else { 400 }).await?;
    let serving = rss(service.child.id()).unwrap_or(0);
    println!(
        "  memory: {:.0} MB idle, {:.0} MB peak during the sync, {:.0} MB serving queries (target <= 200 MB)",
        idle as f64 / 1e6,
        peak as f64 / 1e6,
        serving as f64 / 1e6
    );
    let n = if options.quick { 30 } else { 300 };
    logins(&service, n, 1).await?;
    let (sum, count) = service.calls_per_login().await?;
    service.stop();
    let scan = plain_scan(&state)?;
    println!(
        "  query, a filtered sorted page of 100: p50 {:>9}  p99 {:>9} (target p99 <= 50 ms)",
        ms(q50),
        ms(q99)
    );
    println!(
        "  baseline, a plain scan of the inventory tree {:>9}  ratio p99/scan {:.2}",
        ms(scan),
        q99.as_secs_f64() / scan.as_secs_f64()
    );
    let untrusted = Service::start(&state, &sim, 0, RATE).await?;
    logins(&untrusted, n, 2).await?;
    let (base_sum, base_count) = untrusted.calls_per_login().await?;
    untrusted.stop();
    println!(
        "  directory calls per already-licensed login: {:.2} ({count:.0} logins)",
        sum / count.max(1.0)
    );
    println!(
        "  baseline, the inventory not trusted (trust_secs = 0): {:.2} ({base_count:.0} logins)",
        base_sum / base_count.max(1.0)
    );
    Ok(())
}
