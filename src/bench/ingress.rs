//! `reinstate bench ingress`: the real `POST /v1/hooks/login` against its floor — a bare axum
//! route (benchmark code, not the product) that publishes the raw body to the same JetStream
//! stream and awaits the ack, with no verification, parsing or dedupe. Same load generator,
//! same signed ~1 KB logins, 16 and 64 connections, interleaved rounds. The raw async-nats
//! publish rate at the same concurrency is reported for context. reinstate runs as a receiver
//! only (`server.role = "intake"`), so both sides publish into a stream nobody drains. Each run's CPU
//! per request (this process, nats-server) shows where the difference between the lines goes.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::routing::post;

use super::nats::NatsServer;
use super::{
    CpuMark, CpuPer, Options, Running, cpu_line, median, median_cpu, median_f64, ms, percentile,
};
use crate::sources::signature::WebhookSecret;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

struct Run {
    per_sec: f64,
    p50: Duration,
    p99: Duration,
    errors: u64,
    /// CPU per accepted request.
    cpu: Option<CpuPer>,
}

/// A signed login of about 1 KB (the groups make up the size).
fn request(secret: &WebhookSecret, n: u64) -> (String, String, String, Vec<u8>) {
    let groups: Vec<String> = (0..30)
        .map(|g| format!("engineering-group-{g:04}"))
        .collect();
    let body = serde_json::json!({
        "type": "login.succeeded",
        "user": {"email": format!("bench{n}@example.com"), "groups": groups, "roles": ["engineer"]},
        "product": "jira-software",
        "occurred_at": time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
    });
    let body = serde_json::to_vec(&body).unwrap_or_default();
    let id = format!("msg_{n:016x}{:08x}", rand::random::<u32>());
    let ts = time::OffsetDateTime::now_utc().unix_timestamp();
    let sig = secret.sign(&id, ts, &body);
    (id, ts.to_string(), sig, body)
}

/// `conns` connections posting signed logins to `url` for `length`; CPU is apportioned with
/// nats-server's (`nats_pid`).
async fn load(url: &str, conns: usize, length: Duration, nats_pid: u32) -> Result<Run, String> {
    let mark = CpuMark::now(nats_pid);
    let secret = Arc::new(WebhookSecret::parse(SECRET).map_err(String::from)?);
    let counter = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + length;
    let mut tasks = Vec::with_capacity(conns);
    for _ in 0..conns {
        let (url, secret, counter, errors) = (
            url.to_string(),
            secret.clone(),
            counter.clone(),
            errors.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let http = reqwest::Client::builder()
                .pool_max_idle_per_host(1)
                .build()
                .unwrap_or_default();
            let mut latencies = Vec::new();
            while Instant::now() < deadline {
                let (id, ts, sig, body) = request(&secret, counter.fetch_add(1, Ordering::Relaxed));
                let start = Instant::now();
                let sent = http
                    .post(&url)
                    .header("webhook-id", id)
                    .header("webhook-timestamp", ts)
                    .header("webhook-signature", sig)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await;
                match sent {
                    Ok(r) if r.status().as_u16() == 202 => latencies.push(start.elapsed()),
                    _ => {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            latencies
        }));
    }
    let started = Instant::now();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.map_err(|e| format!("load task: {e}"))?);
    }
    let elapsed = started.elapsed().max(length);
    let cpu = mark.per(all.len() as f64);
    all.sort();
    Ok(Run {
        per_sec: all.len() as f64 / elapsed.as_secs_f64(),
        p50: percentile(&all, 0.5),
        p99: percentile(&all, 0.99),
        errors: errors.load(Ordering::Relaxed),
        cpu,
    })
}

/// `inflight` tasks publishing ~1 KB messages with async-nats and awaiting each ack.
async fn raw_publish(
    js: &async_nats::jetstream::Context,
    inflight: usize,
    length: Duration,
) -> Result<f64, String> {
    let body = bytes::Bytes::from(vec![b'x'; 1024]);
    let deadline = Instant::now() + length;
    let mut tasks = Vec::new();
    for _ in 0..inflight {
        let (js, body) = (js.clone(), body.clone());
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            while Instant::now() < deadline {
                if let Ok(ack) = js.publish("reinstate.events.bench.raw", body.clone()).await
                    && ack.await.is_ok()
                {
                    n += 1;
                }
            }
            n
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.map_err(|e| format!("publish task: {e}"))?;
    }
    Ok(total as f64 / length.as_secs_f64())
}

/// How much of JetStream's work a floor route does.
#[derive(Clone, Copy)]
enum Floor {
    /// Publish the raw body to one subject, await the ack.
    Bare,
    /// Also `Nats-Msg-Id` = the webhook id (JetStream's dedupe).
    Dedupe,
    /// Also a subject per event, as reinstate publishes (one per user).
    Partitioned,
}

async fn publish_floor(
    js: async_nats::jetstream::Context,
    headers: axum::http::HeaderMap,
    body: bytes::Bytes,
    floor: Floor,
) -> axum::http::StatusCode {
    let id = headers
        .get("webhook-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("none");
    let subject = match floor {
        Floor::Partitioned => format!("reinstate.events.bench.{id}"),
        _ => "reinstate.events.bench.floor".to_string(),
    };
    let published = match floor {
        Floor::Bare => js.publish(subject, body).await,
        _ => {
            let mut h = async_nats::HeaderMap::new();
            h.insert("Nats-Msg-Id", id);
            js.publish_with_headers(subject, h, body).await
        }
    };
    let acked = match published {
        Ok(ack) => ack.await.is_ok(),
        Err(_) => false,
    };
    if acked {
        axum::http::StatusCode::ACCEPTED
    } else {
        axum::http::StatusCode::SERVICE_UNAVAILABLE
    }
}

pub async fn run(options: Options) -> Result<(), String> {
    let (rounds, length) = if options.quick {
        (1, Duration::from_millis(700))
    } else {
        (5, Duration::from_secs(5))
    };
    let nats = NatsServer::start()?;
    let dir = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
    let reinstate = Running::start(&format!(
        "[store]\npath = \"{}\"\nmin_free_mb = 0\n[bus]\nnats_url = \"{}\"\n\
         [sources.login]\nsecrets = [\"{SECRET}\"]\n[server]\nrole = \"intake\"\n\
         max_connections_per_client = 1024\n[log]\nfilter = \"error\"\n",
        dir.path().join("state").display(),
        nats.url
    ))
    .await?;
    let real = format!("{}/v1/hooks/login", reinstate.url);
    let client = async_nats::connect(&nats.url)
        .await
        .map_err(|e| format!("nats: {e}"))?;
    let js = async_nats::jetstream::new(client);
    let (floors, floor_server) = floors(&js).await?;
    // The first login creates the stream both sides publish to.
    let warm = load(&real, 1, Duration::from_millis(200), nats.pid()).await?;
    if warm.per_sec == 0.0 {
        return Err("the real ingress accepted nothing while warming up".into());
    }
    println!(
        "ingress: signed ~1 KB logins, {} s per run, median of {rounds} interleaved rounds (A B A B …)",
        length.as_secs_f64()
    );
    for conns in [16, 64] {
        let mut runs: [Vec<Run>; 4] = Default::default();
        for _ in 0..rounds {
            for (i, url) in [&real, &floors[0], &floors[1], &floors[2]]
                .into_iter()
                .enumerate()
            {
                runs[i].push(load(url, conns, length, nats.pid()).await?);
            }
        }
        let raw = raw_publish(&js, conns, length).await?;
        report(conns, &runs, raw);
    }
    reinstate.stop().await;
    floor_server.abort();
    Ok(())
}

/// The floors: publish the raw body, await the ack, answer 202; `/floor-dedupe` does the same
/// with the webhook id as `Nats-Msg-Id` (what JetStream's dedupe costs), `/floor-partitioned`
/// also publishes on a subject per event, as reinstate does. Their URLs, and the server.
async fn floors(
    js: &async_nats::jetstream::Context,
) -> Result<([String; 3], tokio::task::JoinHandle<std::io::Result<()>>), String> {
    let route = |floor: Floor| {
        let js = js.clone();
        post(move |headers: axum::http::HeaderMap, body: bytes::Bytes| {
            publish_floor(js.clone(), headers, body, floor)
        })
    };
    let floor_app = axum::Router::new()
        .route("/floor", route(Floor::Bare))
        .route("/floor-dedupe", route(Floor::Dedupe))
        .route("/floor-partitioned", route(Floor::Partitioned));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let urls = ["floor", "floor-dedupe", "floor-partitioned"].map(|p| format!("http://{addr}/{p}"));
    Ok((
        urls,
        tokio::spawn(async move { axum::serve(listener, floor_app).await }),
    ))
}

/// Prints one connection count's figures: reinstate, the three floors, the ratios.
fn report(conns: usize, runs: &[Vec<Run>; 4], raw: f64) {
    let summary = |runs: &[Run]| {
        (
            median_f64(runs.iter().map(|r| r.per_sec).collect()),
            median(runs.iter().map(|r| r.p50).collect()),
            median(runs.iter().map(|r| r.p99).collect()),
            runs.iter().map(|r| r.errors).sum::<u64>(),
            cpu_line(median_cpu(runs.iter().map(|r| r.cpu)), "request"),
        )
    };
    let labels = [
        "POST /v1/hooks/login    ",
        "baseline, bare route    ",
        "bare route + Nats-Msg-Id",
        "+ a subject per event   ",
    ];
    println!("  {conns} connections:");
    let mut rates = [0.0; 4];
    for (i, label) in labels.iter().enumerate() {
        let (rate, p50, p99, errors, cpu) = summary(&runs[i]);
        rates[i] = rate;
        println!(
            "    {label} {rate:>8.0} req/s  p50 {:>9}  p99 {:>9}  ({errors} not 202)  {cpu}",
            ms(p50),
            ms(p99)
        );
    }
    println!(
        "    ratio {:.2} to the bare route, {:.2} with JetStream dedupe, {:.2} with dedupe and per-event subjects (target >= 0.9)",
        rates[0] / rates[1],
        rates[0] / rates[2],
        rates[0] / rates[3]
    );
    println!("    raw async-nats publish, {conns} in flight: {raw:.0} msg/s");
}
