//! `reinstate bench pipeline`: the whole path against a directory simulator that answers in
//! 0 ms (benchmark code: the Jira Cloud calls a restore makes).
//!
//! 1. **Login to licence**: a steady rate of signed logins for distinct users; latency from
//!    sending the login to the simulator receiving the group addition, next to the ingress's own
//!    answer time for the same requests, and how many were still in flight when sending stopped.
//! 2. **Worker throughput vs the consumer ceiling**: N events waiting on the stream, handled by
//!    the worker pipeline (rules, three directory calls, the flushed sled transaction), next to a
//!    bare pull consumer fetching and acking N messages of the same size, interleaved. A second
//!    baseline, the directory floor, is the bare consumer making the same three HTTP calls to the
//!    same simulator per message before its ack (16 at a time, as the workers): what those
//!    calls alone cost, so that the gap splits into the calls and reinstate's own work. CPU per
//!    event (this process — reinstate and the simulator — and nats-server) is reported for each.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Query, State};
use axum::routing::{get, post};
use futures::StreamExt;
use sha2::Digest;

use super::nats::NatsServer;
use super::{CpuMark, CpuPer, Options, Running, cpu_line, median_cpu, median_f64, ms, percentile};
use crate::sources::signature::WebhookSecret;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const ADMIN: &str = "bench-admin-token";

/// When each account's group addition arrived.
pub(super) type Received = Arc<Mutex<HashMap<String, Instant>>>;

/// Jira Cloud answering in 0 ms: user `p{n}@example.com` is `acc-{n}`, in no group yet; each
/// group addition's arrival is noted in `received`.
pub(super) async fn simulator(received: Received) -> Result<String, String> {
    type Q = Query<HashMap<String, String>>;
    let user = |email: &str| {
        let n = email
            .trim_start_matches('p')
            .split('@')
            .next()
            .unwrap_or("0");
        serde_json::json!({"accountId": format!("acc-{n}"), "emailAddress": email,
                           "active": true, "accountType": "atlassian"})
    };
    let app = axum::Router::new()
        .route(
            "/rest/api/3/user/search",
            get(move |Query(q): Q| async move {
                axum::Json(serde_json::json!([user(q.get("query").map_or("", |s| s))]))
            }),
        )
        .route(
            "/rest/api/3/user/groups",
            get(|| async { axum::Json(serde_json::json!([])) }),
        )
        .route(
            "/rest/api/3/applicationrole",
            get(|| async {
                axum::Json(
                    serde_json::json!([{"key": "jira-software", "groups": ["jsw-users"],
                    "defaultGroupsDetails": [{"groupId": "g1", "name": "jsw-users"}],
                    "hasUnlimitedSeats": true}]),
                )
            }),
        )
        .route(
            "/rest/api/3/group/user",
            post(
                |State(received): State<Received>, body: axum::Json<serde_json::Value>| async move {
                    if let Some(id) = body["accountId"].as_str() {
                        received
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .insert(id.to_string(), Instant::now());
                    }
                    axum::http::StatusCode::CREATED
                },
            ),
        )
        .with_state(received);
    super::serve_local(app).await
}

/// A running reinstate (NATS, `workers` workers, the simulator as Jira Cloud); its URL and a
/// handle that stops it.
pub(super) struct Service {
    pub url: String,
    running: Running,
    _dir: tempfile::TempDir,
}

impl Service {
    /// `workers` 0: a receiver only (`server.role = "intake"`). Each run's events go through
    /// the stream `stream`, on subjects of its own (a state owner takes over only its own
    /// store's stream, and streams' subjects must not overlap).
    async fn start(nats: &str, sim: &str, workers: usize, stream: &str) -> Result<Service, String> {
        Service::start_with(nats, sim, workers, stream, "").await
    }

    /// `start`, with more configuration (whole sections) appended.
    pub(super) async fn start_with(
        nats: &str,
        sim: &str,
        workers: usize,
        stream: &str,
        extra: &str,
    ) -> Result<Service, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let store = dir.path().join("state");
        let admin = hex::encode(sha2::Sha256::digest(ADMIN.as_bytes()));
        let role = if workers == 0 {
            // The load generator is one address with many connections.
            "[server]\nrole = \"intake\"\nmax_connections_per_client = 1024\n".to_string()
        } else {
            // The rules are in the store before the workers take the backlog.
            seed_rules(&store).await?;
            format!("[worker]\nconcurrency = {workers}\nlogin_dedupe_secs = 0\n")
        };
        let running = Running::start(&format!(
            "[store]\npath = \"{}\"\nmin_free_mb = 0\n[bus]\nnats_url = \"{nats}\"\nstream = \"{stream}\"\nsubject_prefix = \"{prefix}\"\n\
             [sources.login]\nsecrets = [\"{SECRET}\"]\n{role}[admin]\ntoken_sha256 = [\"{admin}\"]\n\
             [directory]\nkind = \"jira-cloud\"\nsite_url = \"{sim}\"\nemail = \"svc@example.com\"\n\
             api_token = \"t\"\nrate_limit_per_sec = 1000000\nrate_limit_burst = 100000\n\
             max_concurrency = 64\n[log]\nfilter = \"error\"\n{extra}",
            store.display(),
            prefix = stream.to_lowercase(),
        ))
        .await?;
        Ok(Service {
            url: running.url.clone(),
            running,
            _dir: dir,
        })
    }

    /// How many audit entries of each outcome it holds, to say why events went missing.
    async fn outcomes(&self) -> String {
        let audit: serde_json::Value = match reqwest::Client::new()
            .get(format!("{}/api/v1/audit?limit=1000", self.url))
            .bearer_auth(ADMIN)
            .send()
            .await
        {
            Ok(r) => r.json().await.unwrap_or_default(),
            Err(e) => return e.to_string(),
        };
        let mut outcomes: HashMap<String, usize> = HashMap::new();
        for entry in audit["entries"].as_array().into_iter().flatten() {
            let outcome = entry["outcome"].as_str().unwrap_or("?").to_string();
            *outcomes.entry(outcome).or_default() += 1;
        }
        format!("{outcomes:?}")
    }

    /// What the audit says of the first few of `ids` (account `acc-{n}`, user
    /// `p{n}@example.com`) whose addition never arrived.
    async fn missing(&self, received: &Received, ids: &[String]) -> String {
        let lost: Vec<String> = {
            let r = received.lock().unwrap_or_else(|e| e.into_inner());
            let mut lost = ids.iter().filter(|id| !r.contains_key(*id));
            lost.by_ref().take(3).cloned().collect()
        };
        let mut said = String::new();
        for id in lost {
            let email = format!("p{}@example.com", id.trim_start_matches("acc-"));
            let audit: serde_json::Value = match reqwest::Client::new()
                .get(format!("{}/api/v1/audit?user={email}", self.url))
                .bearer_auth(ADMIN)
                .send()
                .await
            {
                Ok(r) => r.json().await.unwrap_or_default(),
                Err(e) => serde_json::json!(e.to_string()),
            };
            let entries = audit["entries"].as_array().cloned().unwrap_or_default();
            let what: Vec<String> = entries
                .iter()
                .map(|e| format!("{} ({})", e["outcome"], e["reason"]))
                .collect();
            said.push_str(&format!("\n    not restored: {email}: audit {what:?}"));
        }
        said
    }

    pub(super) async fn stop(self) {
        self.running.stop().await;
    }
}

/// Writes the bench's one rule (restore everyone at example.com) into the store at `path`.
async fn seed_rules(path: &std::path::Path) -> Result<(), String> {
    let rules = serde_json::json!({"v": 1, "version": 1, "updated_at": null, "rules": [
        {"name": "staff", "when": {"domains": ["example.com"]}, "then": "restore"}
    ]});
    let doc: crate::store::RulesDoc = serde_json::from_value(rules).map_err(|e| e.to_string())?;
    let store = crate::store::Store::open(path).map_err(|e| e.to_string())?;
    store.put_rules(&doc).map_err(|e| e.to_string())?;
    store.flush().await.map_err(|e| e.to_string())
}

/// Posts a signed login of user `n`; the time until the answer, if it was `202`.
pub(super) async fn login(http: &reqwest::Client, url: &str, n: usize) -> Option<Duration> {
    let secret = WebhookSecret::parse(SECRET).ok()?;
    let body = serde_json::to_vec(&serde_json::json!({
        "type": "login.succeeded",
        "user": {"email": format!("p{n}@example.com")},
        "product": "jira-software",
        "occurred_at": time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339).ok()?,
    }))
    .ok()?;
    let id = format!("msg_pipe{n:012}");
    let start = Instant::now();
    let r = super::post_login(http, url, &secret, &id, body)
        .await
        .ok()?;
    (r.status().as_u16() == 202).then(|| start.elapsed())
}

/// Waits until the simulator received the additions of every one of `ids` (or `within`
/// passed); how many arrived. Between checks it only reads the map's size, so waiting takes
/// no CPU from the service it measures and holds the simulator's lock for no time: the ids are
/// looked up once at the start and again only when enough additions arrived to cover them.
pub(super) async fn wait_received(received: &Received, ids: &[String], within: Duration) -> usize {
    let deadline = Instant::now() + within;
    let lock = || received.lock().unwrap_or_else(|e| e.into_inner());
    // The ids not received yet, and the map's size when that was true.
    let missing = |ids: &[String]| -> (Vec<String>, usize) {
        let r = lock();
        let left = ids.iter().filter(|id| !r.contains_key(*id)).cloned();
        (left.collect(), r.len())
    };
    let (mut waiting, mut size) = missing(ids);
    loop {
        if waiting.is_empty() {
            return ids.len();
        }
        if lock().len() >= size + waiting.len() {
            (waiting, size) = missing(&waiting);
            continue;
        }
        if Instant::now() > deadline {
            return ids.len() - missing(&waiting).0.len();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn latency(
    nats: &str,
    sim: &str,
    received: &Received,
    rate: usize,
    length: Duration,
) -> Result<(), String> {
    let service = Service::start(nats, sim, 16, "BENCH_LATENCY").await?;
    let http = reqwest::Client::new();
    let total = (rate as f64 * length.as_secs_f64()) as usize;
    let sent: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let answers: Arc<Mutex<Vec<Duration>>> = Arc::default();
    let mut ticker = tokio::time::interval(Duration::from_secs(1) / rate as u32);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(total);
    let mut in_flight_half = 0;
    for n in 0..total {
        ticker.tick().await;
        if n == total / 2 {
            in_flight_half = n - received.lock().unwrap_or_else(|e| e.into_inner()).len();
        }
        let (http, url, sent, answers) = (
            http.clone(),
            service.url.clone(),
            sent.clone(),
            answers.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let at = Instant::now();
            sent.lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(format!("acc-{n}"), at);
            if let Some(d) = login(&http, &url, n).await {
                answers.lock().unwrap_or_else(|e| e.into_inner()).push(d);
            }
        }));
    }
    let sending = started.elapsed();
    let in_flight_end = total - received.lock().unwrap_or_else(|e| e.into_inner()).len();
    for t in tasks {
        let _ = t.await;
    }
    let ids: Vec<String> = (0..total).map(|n| format!("acc-{n}")).collect();
    let got = wait_received(received, &ids, Duration::from_secs(60)).await;
    let lost = if got < total {
        service.missing(received, &ids).await
    } else {
        String::new()
    };
    let mut e2e: Vec<Duration> = {
        let (sent, received) = (
            sent.lock().unwrap_or_else(|e| e.into_inner()),
            received.lock().unwrap_or_else(|e| e.into_inner()),
        );
        ids.iter()
            .filter_map(|id| Some(received.get(id)?.saturating_duration_since(*sent.get(id)?)))
            .collect()
    };
    e2e.sort();
    let mut answers = answers.lock().unwrap_or_else(|e| e.into_inner()).clone();
    answers.sort();
    println!(
        "pipeline, login to licence: {rate} logins/s for {:.1} s ({total} users, sent in {:.1} s), 0 ms directory",
        length.as_secs_f64(),
        sending.as_secs_f64()
    );
    println!(
        "  login sent → group call received  p50 {:>9}  p99 {:>9}  max {:>9}  ({got} of {total} restored, {} accepted; target p99 <= 10 ms, max <= 50 ms){lost}",
        ms(percentile(&e2e, 0.5)),
        ms(percentile(&e2e, 0.99)),
        ms(e2e.last().copied().unwrap_or_default()),
        answers.len()
    );
    println!(
        "  baseline, login sent → 202        p50 {:>9}  p99 {:>9}",
        ms(percentile(&answers, 0.5)),
        ms(percentile(&answers, 0.99))
    );
    println!(
        "  in flight (accepted, not yet restored): {in_flight_half} halfway, {in_flight_end} when sending stopped (no growth = keeping up)"
    );
    service.stop().await;
    Ok(())
}

/// What a consumer does per message before its ack.
#[derive(Clone, Copy)]
enum PerMessage<'a> {
    /// Nothing: the ceiling.
    Nothing,
    /// The three directory calls a worker makes for a first-time user, to this simulator.
    DirectoryCalls(&'a str),
}

/// The three calls reinstate's Jira Cloud connector makes for user `i` (search by email,
/// groups, add to the group), bodies read and parsed as reinstate does.
async fn directory_calls(http: &reqwest::Client, sim: &str, i: usize) -> Result<(), String> {
    let get = |path: String| async move {
        let r = http.get(path).send().await.map_err(|e| e.to_string())?;
        r.json::<serde_json::Value>()
            .await
            .map_err(|e| e.to_string())
    };
    get(format!(
        "{sim}/rest/api/3/user/search?query=floor{i}@example.com"
    ))
    .await?;
    get(format!("{sim}/rest/api/3/user/groups?accountId=floor-{i}")).await?;
    let r = http
        .post(format!("{sim}/rest/api/3/group/user?groupId=g1"))
        .json(&serde_json::json!({"accountId": format!("floor-{i}")}))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    r.bytes().await.map_err(|e| e.to_string())?;
    Ok(())
}

/// A bare pull consumer fetching and acking `n` messages of `size` bytes, doing `per` for
/// each (16 at a time); messages per second, and CPU per message.
async fn ceiling(
    js: &async_nats::jetstream::Context,
    nats_pid: u32,
    n: usize,
    size: usize,
    per: PerMessage<'_>,
) -> Result<(f64, Option<CpuPer>), String> {
    use async_nats::jetstream::{consumer::pull, stream};
    let name = format!("CEILING_{}", rand::random::<u32>());
    let subject = format!("ceiling.{name}");
    let s = js
        .create_stream(stream::Config {
            name: name.clone(),
            subjects: vec![subject.clone()],
            retention: stream::RetentionPolicy::WorkQueue,
            ..Default::default()
        })
        .await
        .map_err(|e| format!("ceiling stream: {e}"))?;
    let body = bytes::Bytes::from(vec![b'x'; size]);
    let acks: Vec<_> = futures::stream::iter(0..n)
        .map(|_| {
            let (js, subject, body) = (js.clone(), subject.clone(), body.clone());
            async move { js.publish(subject, body).await.ok()?.await.ok() }
        })
        .buffer_unordered(64)
        .collect()
        .await;
    if acks.iter().any(Option::is_none) {
        return Err("publishing the ceiling's messages failed".into());
    }
    let consumer = s
        .create_consumer(pull::Config {
            durable_name: Some("ceiling".into()),
            ack_policy: async_nats::jetstream::consumer::AckPolicy::Explicit,
            max_ack_pending: 1000,
            ..Default::default()
        })
        .await
        .map_err(|e| format!("ceiling consumer: {e}"))?;
    let (start, mark) = (Instant::now(), CpuMark::now(nats_pid));
    let messages = consumer
        .messages()
        .await
        .map_err(|e| format!("ceiling messages: {e}"))?;
    let http = reqwest::Client::new();
    let handled: Vec<Result<(), String>> = messages
        .take(n)
        .enumerate()
        .map(|(i, m)| {
            let http = &http;
            async move {
                let m = m.map_err(|e| format!("the ceiling's consumer stopped: {e}"))?;
                if let PerMessage::DirectoryCalls(sim) = per {
                    directory_calls(http, sim, i).await?;
                }
                m.ack().await.map_err(|e| format!("ack: {e}"))
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    if handled.len() < n {
        return Err("the ceiling's consumer stopped".into());
    }
    handled.into_iter().collect::<Result<Vec<()>, String>>()?;
    let rate = n as f64 / start.elapsed().as_secs_f64();
    let cpu = mark.per(n as f64);
    let _ = js.delete_stream(&name).await;
    Ok((rate, cpu))
}

/// `n` logins accepted by an ingress-only reinstate, then handled by a worker reinstate from
/// a standing start; events per second, and CPU per event.
async fn workers(
    nats: &NatsServer,
    sim: &str,
    received: &Received,
    first: usize,
    n: usize,
) -> Result<(f64, Option<CpuPer>), String> {
    let nats_pid = nats.pid();
    let nats = nats.url.as_str();
    let stream = format!("BENCH_WORKERS_{first}");
    let ingress = Service::start(nats, sim, 0, &stream).await?;
    let http = reqwest::Client::new();
    let accepted: Vec<Option<Duration>> = futures::stream::iter(first..first + n)
        .map(|i| {
            let (http, url) = (http.clone(), ingress.url.clone());
            async move {
                // As a sender would: retry while the just-started ingress is not ready yet.
                for _ in 0..50 {
                    if let Some(d) = login(&http, &url, i).await {
                        return Some(d);
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                None
            }
        })
        .buffer_unordered(32)
        .collect()
        .await;
    ingress.stop().await;
    if accepted.iter().any(Option::is_none) {
        return Err("the ingress refused a login".into());
    }
    let ids: Vec<String> = (first..first + n).map(|i| format!("acc-{i}")).collect();
    let (start, mark) = (Instant::now(), CpuMark::now(nats_pid));
    let worker = Service::start(nats, sim, 16, &stream).await?;
    let got = wait_received(received, &ids, Duration::from_secs(120)).await;
    let rate = got as f64 / start.elapsed().as_secs_f64();
    let cpu = mark.per(got as f64);
    if got < n {
        let outcomes = worker.outcomes().await;
        worker.stop().await;
        return Err(format!(
            "only {got} of {n} events were handled; the audit holds {outcomes}"
        ));
    }
    worker.stop().await;
    Ok((rate, cpu))
}

pub async fn run(options: Options) -> Result<(), String> {
    let (rate, length, rounds, n) = if options.quick {
        (200, Duration::from_secs(2), 1, 300)
    } else {
        (1000, Duration::from_secs(60), 3, 5_000)
    };
    let nats = NatsServer::start()?;
    let received: Received = Arc::default();
    let sim = simulator(received.clone()).await?;
    latency(&nats.url, &sim, &received, rate, length).await?;

    let client = async_nats::connect(&nats.url)
        .await
        .map_err(|e| format!("nats: {e}"))?;
    let js = async_nats::jetstream::new(client);
    let (mut measured, mut baseline, mut floor) = (Vec::new(), Vec::new(), Vec::new());
    let mut first = 10_000_000;
    for _ in 0..rounds {
        measured.push(workers(&nats, &sim, &received, first, n).await?);
        baseline.push(ceiling(&js, nats.pid(), n, 400, PerMessage::Nothing).await?);
        floor.push(ceiling(&js, nats.pid(), n, 400, PerMessage::DirectoryCalls(&sim)).await?);
        first += n;
    }
    let summary = |runs: &[(f64, Option<CpuPer>)]| {
        (
            median_f64(runs.iter().map(|r| r.0).collect()),
            cpu_line(median_cpu(runs.iter().map(|r| r.1)), "event"),
        )
    };
    let ((m, mcpu), (b, bcpu), (f, fcpu)) =
        (summary(&measured), summary(&baseline), summary(&floor));
    println!(
        "pipeline, worker throughput: {n} waiting events, median of {rounds} interleaved rounds"
    );
    println!("  workers (rules, 3 directory calls, sled transaction)  {m:>8.0} events/s  {mcpu}");
    println!("  baseline, bare pull consumer fetch + ack              {b:>8.0} msg/s  {bcpu}");
    println!("  directory floor, bare consumer + the same 3 calls     {f:>8.0} msg/s  {fcpu}");
    println!(
        "  ratio {:.2} to the bare consumer; the three calls alone reach {:.2} of it; workers reach {:.2} of that floor (target >= 0.5)",
        m / b,
        f / b,
        m / f
    );
    Ok(())
}
