//! Crash suites: `kill -9` under load in both bus modes, and NATS restarting under load.
//! Nothing answered `202` is lost, and no licence is granted twice.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::Rng;

use crate::support::*;

const USERS: usize = 2000;

/// Settings that let the suite finish quickly: a fast directory budget, short ack waits.
const FAST: &[(&str, &str)] = &[
    ("REINSTATE__DIRECTORY__RATE_LIMIT_PER_SEC", "5000"),
    ("REINSTATE__DIRECTORY__RATE_LIMIT_BURST", "500"),
    ("REINSTATE__DIRECTORY__MAX_CONCURRENCY", "32"),
    ("REINSTATE__DIRECTORY__RETRY_INITIAL_MS", "50"),
    ("REINSTATE__WORKER__CONCURRENCY", "16"),
    ("REINSTATE__WORKER__BACKOFF_INITIAL_MS", "100"),
    ("REINSTATE__WORKER__BACKOFF_MAX_MS", "1000"),
    ("REINSTATE__BUS__ACK_WAIT_SECS", "3"),
    // A killed process holds the state lease until it lapses; its restart waits that long.
    ("REINSTATE__BUS__LEASE_SECS", "4"),
];

/// Every user restored, by exactly one successful group addition; repeats the directory
/// answered "already a member" are counted and reported.
fn assert_restored_once(sim: &JiraSim, prefix: &str) -> usize {
    let mut posts: HashMap<String, (usize, usize)> = HashMap::new();
    for c in sim.calls().iter().filter(|c| c.method == "POST") {
        let id = c.body["accountId"].as_str().unwrap_or_default().to_string();
        let e = posts.entry(id).or_default();
        e.0 += 1;
        if c.status < 300 {
            e.1 += 1;
        }
    }
    let mut repeats = 0;
    for i in 0..USERS {
        let id = format!("acc-{prefix}{i}");
        let (all, ok) = posts.get(&id).copied().unwrap_or_default();
        assert_eq!(ok, 1, "{id}: {ok} successful additions");
        assert!(
            sim.groups_of(&id)
                .contains(&"jira-software-users".to_string())
        );
        repeats += all - ok;
    }
    repeats
}

/// 2,000 logins of distinct users from 16 senders that retry until they get `202`; meanwhile
/// the process is killed with SIGKILL three times at random moments and started again.
async fn kill_9_under_load_loses_nothing_and_grants_once(mode: BusMode) {
    let sim = JiraSim::start().await;
    sim.add_users("k", USERS);
    sim.set_seats(USERS + 100);
    let nats = (mode == BusMode::Nats).then(NatsServer::start);
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path(), &sim, nats.as_ref(), "");
    let mut service = start_service_with(&config, None, FAST).await;
    let (url, port) = (service.url.clone(), service.port);
    put_standard_rules(&url).await;

    let next = Arc::new(AtomicUsize::new(0));
    let accepted: Arc<Mutex<HashSet<String>>> = Arc::default();
    let senders: Vec<_> = (0..16)
        .map(|_| {
            let (url, next, accepted) = (url.clone(), next.clone(), accepted.clone());
            tokio::spawn(async move {
                let http = reqwest::Client::new();
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= USERS {
                        return;
                    }
                    // A sender retries the same event (same id) until it is accepted.
                    let id = format!("msg_kill_{i}");
                    while post_login(&http, &url, &format!("k{i}@example.com"), &id).await
                        != Some(202)
                    {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    accepted.lock().expect("lock").insert(format!("login:{id}"));
                }
            })
        })
        .collect();
    let mut kills = Vec::new();
    for _ in 0..3 {
        let wait = rand::rng().random_range(300..1500);
        tokio::time::sleep(Duration::from_millis(wait)).await;
        kills.push(accepted.lock().expect("lock").len());
        service.kill_9();
        service = start_service_with(&config, Some(port), FAST).await;
    }
    for s in senders {
        s.await.expect("sender");
    }
    let accepted = accepted.lock().expect("lock").clone();
    assert_eq!(accepted.len(), USERS);
    assert!(
        kills.iter().any(|&k| k > 0 && k < USERS),
        "no kill landed under load: {kills:?}"
    );
    wait_all_handled(&service.url, &accepted, Duration::from_secs(120)).await;
    let repeats = assert_restored_once(&sim, "k");
    eprintln!(
        "kill -9 ({mode:?}): killed after {kills:?} accepted; {USERS} restored once each; \
         {repeats} repeated additions answered \"already a member\""
    );
}
crate::both_buses!(kill_9_under_load_loses_nothing_and_grants_once);

/// An answer other than `202`: status, `Retry-After`, body.
type Refusal = (u16, Option<String>, String);

/// NATS stops for a while under load: ingress answers `503` with the error body and
/// `Retry-After` meanwhile, recovers by itself when NATS is back, and every event it answered
/// `202` for is handled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_restarting_under_load_loses_nothing_accepted() {
    const N: usize = 1000;
    let options = Options {
        directory_toml: "rate_limit_per_sec = 5000\nrate_limit_burst = 500".into(),
        ..Default::default()
    };
    let mut app = TestApp::start_with(BusMode::Nats, options).await;
    assert_eq!(app.put_rules(standard_rules()).await.status(), 200);
    app.sim.add_users("n", N);
    app.sim.set_seats(N + 100);
    let next = Arc::new(AtomicUsize::new(0));
    let accepted: Arc<Mutex<HashSet<String>>> = Arc::default();
    let refusals: Arc<Mutex<Vec<Refusal>>> = Arc::default();
    let url = app.url.clone();
    let senders: Vec<_> = (0..8)
        .map(|_| {
            let (url, next, accepted, refusals) = (
                url.clone(),
                next.clone(),
                accepted.clone(),
                refusals.clone(),
            );
            tokio::spawn(async move {
                let http = reqwest::Client::new();
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= N {
                        return;
                    }
                    let id = format!("msg_nats_{i}");
                    let email = format!("n{i}@example.com");
                    loop {
                        let r = send_login(&http, &url, &email, &id)
                            .await
                            .expect("reinstate answers while NATS is down");
                        let status = r.status().as_u16();
                        if status == 202 {
                            accepted.lock().expect("lock").insert(format!("login:{id}"));
                            break;
                        }
                        let retry_after = r
                            .headers()
                            .get("retry-after")
                            .and_then(|v| v.to_str().ok())
                            .map(String::from);
                        let text = r.text().await.unwrap_or_default();
                        refusals
                            .lock()
                            .expect("lock")
                            .push((status, retry_after, text));
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    while accepted.lock().expect("lock").len() < N / 4 {
        assert!(Instant::now() < deadline, "load did not build up");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let nats = app.nats.as_mut().expect("nats");
    nats.stop();
    let deadline = Instant::now() + Duration::from_secs(20);
    while refusals.lock().expect("lock").is_empty() {
        assert!(
            Instant::now() < deadline,
            "ingress never refused while NATS was down"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    nats.restart();
    for s in senders {
        s.await.expect("sender");
    }
    let accepted = accepted.lock().expect("lock").clone();
    assert_eq!(accepted.len(), N);
    for (status, retry_after, text) in refusals.lock().expect("lock").iter() {
        assert_eq!(*status, 503, "{text}");
        assert!(retry_after.is_some(), "503 without Retry-After");
        let body: serde_json::Value = serde_json::from_str(text).expect("error body");
        assert_eq!(body["error"], "unavailable", "{body}");
    }
    wait_all_handled(&app.url, &accepted, Duration::from_secs(90)).await;
    let restored = app
        .sim
        .calls()
        .iter()
        .filter(|c| c.method == "POST" && c.status < 300)
        .count();
    assert_eq!(restored, N, "each user restored exactly once");
    eprintln!(
        "NATS restart: {} refusals (503) while down; {N} accepted, all handled",
        refusals.lock().expect("lock").len()
    );
}
