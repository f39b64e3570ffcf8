//! Several processes on one NATS: stateless intakes in front of one state owner. Webhooks
//! answered `202` by any intake are handled once, whichever intake or state process is killed;
//! a link works once across intakes; a second state process stands by and acts on nothing.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reinstate::domain::{Email, Product};
use reinstate::links::{Claims, KeyRing, Purpose};
use serde_json::Value;

use crate::support::*;

/// Fast budgets and short leases, so a killed state owner's lease lapses within seconds.
const FAST: &[(&str, &str)] = &[
    ("REINSTATE__DIRECTORY__RATE_LIMIT_PER_SEC", "5000"),
    ("REINSTATE__DIRECTORY__RATE_LIMIT_BURST", "500"),
    ("REINSTATE__DIRECTORY__MAX_CONCURRENCY", "32"),
    ("REINSTATE__WORKER__CONCURRENCY", "16"),
    ("REINSTATE__WORKER__BACKOFF_INITIAL_MS", "100"),
    ("REINSTATE__WORKER__BACKOFF_MAX_MS", "1000"),
    ("REINSTATE__BUS__ACK_WAIT_SECS", "3"),
    ("REINSTATE__BUS__LEASE_SECS", "4"),
];

const LINKS: &str = "[links]\nactive = \"k1\"\nkeys = [{ id = \"k1\", secret = \"test-link-secret-0123456789abcdef0123\" }]";

fn with_role<'a>(role: &'a str, more: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut env = FAST.to_vec();
    env.push(("REINSTATE__SERVER__ROLE", role));
    env.extend_from_slice(more);
    env
}

async fn start_role(config: &std::path::Path, role: &str, more: &[(&str, &str)]) -> Service {
    start_service_with(config, None, &with_role(role, more)).await
}

/// Every user restored by exactly one successful group addition.
fn assert_restored_once(sim: &JiraSim, prefix: &str, n: usize) {
    let mut adds: HashMap<String, usize> = HashMap::new();
    for c in sim
        .calls()
        .iter()
        .filter(|c| c.method == "POST" && c.status < 300)
    {
        let id = c.body["accountId"].as_str().unwrap_or_default().to_string();
        *adds.entry(id).or_default() += 1;
    }
    for i in 0..n {
        let id = format!("acc-{prefix}{i}");
        assert_eq!(adds.get(&id).copied().unwrap_or(0), 1, "{id}");
    }
}

async fn error_of(r: reqwest::Response) -> (u16, Value) {
    let status = r.status().as_u16();
    (status, r.json().await.expect("error body"))
}

/// Logins spread over two intakes as a load balancer would (the next one when one does not
/// answer `202`); one intake is killed with SIGKILL under load, and the state owner is killed
/// and started again. Every login answered `202` is handled, each licence granted once; an
/// intake refuses the admin API naming the state service, and the rules the state owner was
/// given are the ones it decides with.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn intakes_and_the_state_owner_killed_under_load_lose_nothing() {
    const N: usize = 600;
    let sim = JiraSim::start().await;
    sim.add_users("t", N);
    sim.set_seats(N + 100);
    let nats = NatsServer::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path(), &sim, Some(&nats), "");
    let mut state = start_role(&config, "state", &[]).await;
    let state_url = state.url.clone();
    let intake_env = [("REINSTATE__SERVER__STATE_URL", state_url.as_str())];
    let mut intakes = [
        start_role(&config, "intake", &intake_env).await,
        start_role(&config, "intake", &intake_env).await,
    ];
    let http = reqwest::Client::new();

    let ready: Value = http
        .get(format!("{}/readyz", intakes[0].url))
        .send()
        .await
        .expect("readyz")
        .json()
        .await
        .expect("json");
    assert_eq!(ready["role"], "intake");
    let r = http
        .put(format!("{}/api/v1/rules", intakes[0].url))
        .bearer_auth(ADMIN_TOKEN)
        .json(&standard_rules())
        .send()
        .await
        .expect("rules to an intake");
    let (status, body) = error_of(r).await;
    assert_eq!(status, 404);
    assert_eq!(body["error"], "not_here");
    assert!(
        body["detail"]
            .as_str()
            .expect("detail")
            .contains(&state_url),
        "{body}"
    );
    let r = http
        .get(format!("{}/console", intakes[1].url))
        .send()
        .await
        .expect("console from an intake");
    assert_eq!(r.status(), 404);
    put_standard_rules(&state_url).await;
    let (status, body) = error_of(
        send_login(&http, &state_url, "t0@example.com", "msg_wrong_door")
            .await
            .expect("login to the state service"),
    )
    .await;
    assert_eq!((status, body["error"].as_str()), (404, Some("not_here")));

    let urls: Arc<Vec<String>> = Arc::new(intakes.iter().map(|s| s.url.clone()).collect());
    let next = Arc::new(AtomicUsize::new(0));
    let accepted: Arc<Mutex<HashSet<String>>> = Arc::default();
    let senders: Vec<_> = (0..8)
        .map(|s| {
            let (urls, next, accepted) = (urls.clone(), next.clone(), accepted.clone());
            tokio::spawn(async move {
                let http = reqwest::Client::new();
                let mut door = s;
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= N {
                        return;
                    }
                    let id = format!("msg_topology_{i}");
                    loop {
                        door += 1;
                        let url = &urls[door % urls.len()];
                        if post_login(&http, url, &format!("t{i}@example.com"), &id).await
                            == Some(202)
                        {
                            break;
                        }
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    accepted.lock().expect("lock").insert(format!("login:{id}"));
                }
            })
        })
        .collect();

    let progress = |at: usize| {
        let accepted = accepted.clone();
        async move {
            let deadline = Instant::now() + Duration::from_secs(60);
            while accepted.lock().expect("lock").len() < at {
                assert!(Instant::now() < deadline, "load stalled before {at}");
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    };
    progress(N / 5).await;
    intakes[0].kill_9();
    let after_intake = accepted.lock().expect("lock").len();
    progress(N * 2 / 5).await;
    state.kill_9();
    let after_state = accepted.lock().expect("lock").len();
    progress(N * 3 / 5).await;
    let state = start_service_with(&config, Some(state.port), &with_role("state", &[])).await;
    for s in senders {
        s.await.expect("sender");
    }
    let accepted = accepted.lock().expect("lock").clone();
    assert_eq!(accepted.len(), N);
    assert!(
        after_intake < N && after_state < N,
        "the kills landed after the load"
    );
    wait_all_handled(&state.url, &accepted, Duration::from_secs(120)).await;
    assert_restored_once(&sim, "t", N);
    eprintln!(
        "topology: intake killed after {after_intake}, state owner after {after_state} of {N} \
         logins accepted; every one restored once"
    );
}

fn restore_link(email: &str) -> String {
    link_keys().sign(&Claims {
        sub: Email::parse(email).expect("email"),
        purpose: Purpose::Restore,
        product: Some(Product::JiraSoftware),
        reason: None,
        exp: time::OffsetDateTime::now_utc().unix_timestamp() + 3600,
        nonce: KeyRing::nonce(),
    })
}

/// The same link posted to two intakes at the same moment is redeemed once: the nonce is
/// consumed in a JetStream key-value bucket both intakes share.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_posted_to_two_intakes_at_once_acts_once() {
    const LINKS_SENT: usize = 20;
    let sim = JiraSim::start().await;
    sim.add_users("l", LINKS_SENT);
    sim.set_seats(LINKS_SENT + 10);
    let nats = NatsServer::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path(), &sim, Some(&nats), LINKS);
    let state = start_role(&config, "state", &[]).await;
    let a = start_role(&config, "intake", &[]).await;
    let b = start_role(&config, "intake", &[]).await;
    let http = reqwest::Client::new();
    put_standard_rules(&state.url).await;

    let mut used_pages = 0;
    for i in 0..LINKS_SENT {
        let token = restore_link(&format!("l{i}@example.com"));
        let (ra, rb) = tokio::join!(
            http.post(format!("{}/v1/links/{token}", a.url)).send(),
            http.post(format!("{}/v1/links/{token}", b.url)).send(),
        );
        let pages = [
            ra.expect("a").text().await.expect("html"),
            rb.expect("b").text().await.expect("html"),
        ];
        let used = pages.iter().filter(|p| p.contains("already used")).count();
        assert_eq!(used, 1, "exactly one intake redeems link {i}: {pages:?}");
        used_pages += used;
        let again = http
            .get(format!("{}/v1/links/{token}", b.url))
            .send()
            .await
            .expect("get")
            .text()
            .await
            .expect("html");
        assert!(again.contains("already used"), "{again}");
    }
    assert_eq!(used_pages, LINKS_SENT);
    let ids: HashSet<String> = (0..LINKS_SENT)
        .map(|i| format!("l{i}@example.com"))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let restored: HashSet<String> = audit_rows(&http, &state.url)
            .await
            .into_iter()
            .filter(|e| e["outcome"] == "restored")
            .filter_map(|e| e["user"].as_str().map(String::from))
            .collect();
        if ids.is_subset(&restored) {
            break;
        }
        assert!(Instant::now() < deadline, "links not all restored");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_restored_once(&sim, "l", LINKS_SENT);
}

async fn audit_rows(http: &reqwest::Client, url: &str) -> Vec<Value> {
    let v: Value = http
        .get(format!("{url}/api/v1/audit?limit=1000"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("audit")
        .json()
        .await
        .expect("json");
    v["entries"].as_array().cloned().unwrap_or_default()
}

/// Copies the store directory `from` to `to`, as a restored backup would.
fn copy_store(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("store") {
        let path = entry.expect("entry").path();
        let target = to.join(path.file_name().expect("name"));
        if path.is_dir() {
            copy_store(&path, &target);
        } else {
            std::fs::copy(&path, &target).expect("copy");
        }
    }
}

/// Posts logins `range` of users `s…` to the intake, each answered `202`; their event ids.
async fn logins_through(intake: &str, range: std::ops::Range<usize>) -> HashSet<String> {
    let http = reqwest::Client::new();
    let mut accepted = HashSet::new();
    for i in range {
        let id = format!("msg_standby_{i}");
        let status = post_login(&http, intake, &format!("s{i}@example.com"), &id).await;
        assert_eq!(
            status,
            Some(202),
            "the intake accepts whatever the state processes do"
        );
        accepted.insert(format!("login:{id}"));
    }
    accepted
}

/// `reinstate_state_owner` of the process at `url`.
async fn state_owner(url: &str) -> String {
    let metrics = reqwest::get(format!("{url}/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix("reinstate_state_owner "))
        .expect("reinstate_state_owner")
        .to_string()
}

/// Polls `/readyz` of `url`, which must stay `503`, until its detail says `why`.
async fn stands_by(url: &str, why: &str) -> String {
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let r = http
            .get(format!("{url}/readyz"))
            .send()
            .await
            .expect("readyz");
        let (status, body) = error_of(r).await;
        assert_eq!(status, 503, "{url} must not own the state: {body}");
        let detail = body["detail"].as_str().unwrap_or_default();
        if detail.contains(why) {
            return detail.to_string();
        }
        assert!(Instant::now() < deadline, "{url}: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A second state process, started by mistake on a copy of the owner's store, says why it
/// stands by, is not ready, refuses the admin API and handles nothing while the owner runs; a
/// process with another store never takes over, even when the owner is gone; the copy takes
/// over once the owner's lease lapses, and handles what the intake accepted meanwhile. The
/// owner, stopped with SIGTERM, releases its lease, so its restart takes over at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_state_process_stands_by_and_acts_on_nothing() {
    const N: usize = 40;
    let sim = JiraSim::start().await;
    sim.add_users("s", N);
    sim.set_seats(N + 10);
    let nats = NatsServer::start();
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().expect("tmp")).collect();
    let configs: Vec<_> = dirs
        .iter()
        .map(|d| write_config(d.path(), &sim, Some(&nats), ""))
        .collect();
    let owner = start_role(&configs[0], "state", &[]).await;
    let intake = start_role(&configs[0], "intake", &[]).await;
    let http = reqwest::Client::new();
    put_standard_rules(&owner.url).await;

    // SIGTERM: the owner drains and releases the lease; its store is copied meanwhile.
    let port = owner.port;
    let mut owner = owner;
    let pid = owner.child.id().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill -TERM");
    assert!(killed.success());
    assert_eq!(owner.child.wait().expect("wait").code(), Some(0));
    copy_store(&dirs[0].path().join("state"), &dirs[1].path().join("state"));
    let mut owner = start_service_with(&configs[0], Some(port), &with_role("state", &[])).await;

    let copy = spawn_service(&configs[1], None, &with_role("state", &[]));
    let stranger = spawn_service(&configs[2], None, &with_role("state", &[]));
    wait_live_at(&copy.url).await;
    wait_live_at(&stranger.url).await;
    let why = stands_by(&copy.url, "holds the state lease").await;
    assert!(
        copy.output().contains("holds the state lease"),
        "it logs why"
    );
    stands_by(&stranger.url, "belongs to another store").await;
    let r = http
        .get(format!("{}/api/v1/rules", copy.url))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("rules");
    let (status, body) = error_of(r).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (503, Some("not_state_owner"))
    );
    assert!(
        body["detail"].as_str().expect("detail").contains(&why),
        "{body}"
    );

    assert_eq!(state_owner(&copy.url).await, "0");
    assert_eq!(state_owner(&owner.url).await, "1");

    let first = logins_through(&intake.url, 0..N / 2).await;
    wait_all_handled(&owner.url, &first, Duration::from_secs(30)).await;

    // The owner dies; once its lease lapses the copy takes over, the stranger never does.
    owner.kill_9();
    let second = logins_through(&intake.url, N / 2..N).await;
    wait_ready_at(&copy.url).await;
    wait_all_handled(&copy.url, &second, Duration::from_secs(60)).await;
    stands_by(&stranger.url, "belongs to another store").await;
    assert_restored_once(&sim, "s", N);
}
