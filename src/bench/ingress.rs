//! `reinstate bench ingress`: the real `POST /v1/hooks/login` against its floor — a bare axum
//! route (benchmark code, not the product) that publishes the raw body to the same JetStream
//! stream and awaits the ack, with no verification, parsing or dedupe. Same load generator,
//! same signed ~1 KB logins, 16 and 64 connections, interleaved rounds. The raw async-nats
//! publish rate at the same concurrency is reported for context. reinstate runs ingress-only
//! (`worker.concurrency = 0`), so both sides publish into a stream nobody drains. Each run's CPU
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
         [sources.login]\nsecrets = [\"{SECRET}\"]\n[worker]\nconcurrency = 0\n\
         [log]\nfilter = \"error\"\n",
        dir.path().join("state").display(),
        nats.url
    ))
    .await?;
    let real = format!("{}/v1/hooks/login", reinstate.url);

    // The floor: publish the raw body, await the ack, answer 202. `/floor-dedupe` does the
    // same with the webhook id as `Nats-Msg-Id`, to show what JetStream's dedupe costs.
    let client = async_nats::connect(&nats.url)
        .await
        .map_err(|e| format!("nats: {e}"))?;
    let js = async_nats::jetstream::new(client);
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
    let floor_listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let floor_addr = floor_listener.local_addr().map_err(|e| e.to_string())?;
    let floor = format!("http://{floor_addr}/floor");
    let floor_dedupe = format!("http://{floor_addr}/floor-dedupe");
    let floor_partitioned = format!("http://{floor_addr}/floor-partitioned");
    let floor_server = tokio::spawn(async move { axum::serve(floor_listener, floor_app).await });

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
        let (mut a, mut b, mut c, mut d) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for _ in 0..rounds {
            a.push(load(&real, conns, length, nats.pid()).await?);
            b.push(load(&floor, conns, length, nats.pid()).await?);
            c.push(load(&floor_dedupe, conns, length, nats.pid()).await?);
            d.push(load(&floor_partitioned, conns, length, nats.pid()).await?);
        }
        let summary = |runs: &[Run]| {
            (
                median_f64(runs.iter().map(|r| r.per_sec).collect()),
                median(runs.iter().map(|r| r.p50).collect()),
                median(runs.iter().map(|r| r.p99).collect()),
                runs.iter().map(|r| r.errors).sum::<u64>(),
                cpu_line(median_cpu(runs.iter().map(|r| r.cpu)), "request"),
            )
        };
        let (ar, a50, a99, ae, acpu) = summary(&a);
        let (br, b50, b99, be, bcpu) = summary(&b);
        let (cr, c50, c99, ce, ccpu) = summary(&c);
        let (dr, d50, d99, de, dcpu) = summary(&d);
        let raw = raw_publish(&js, conns, length).await?;
        println!("  {conns} connections:");
        println!(
            "    POST /v1/hooks/login  {ar:>8.0} req/s  p50 {:>9}  p99 {:>9}  ({ae} not 202)  {acpu}",
            ms(a50),
            ms(a99)
        );
        println!(
            "    baseline, bare route  {br:>8.0} req/s  p50 {:>9}  p99 {:>9}  ({be} not 202)  {bcpu}",
            ms(b50),
            ms(b99)
        );
        println!(
            "    bare route + Nats-Msg-Id {cr:>5.0} req/s  p50 {:>9}  p99 {:>9}  ({ce} not 202)  {ccpu}",
            ms(c50),
            ms(c99)
        );
        println!(
            "    + a subject per event      {dr:>5.0} req/s  p50 {:>9}  p99 {:>9}  ({de} not 202)  {dcpu}",
            ms(d50),
            ms(d99)
        );
        println!(
            "    ratio {:.2} to the bare route (target >= 0.8), {:.2} with JetStream dedupe, {:.2} with dedupe and per-event subjects",
            ar / br,
            ar / cr,
            ar / dr
        );
        println!("    raw async-nats publish, {conns} in flight: {raw:.0} msg/s");
    }
    reinstate.stop().await;
    floor_server.abort();
    Ok(())
}
