//! `reinstate bench slack`: a request made in Slack against a login, in the same run, the same
//! service and the same 0 ms directory: from sending a signed slash command (`/access jira`) to
//! the directory receiving the group addition — the receiver, the bus, `users.info` asked of a
//! Slack simulator answering in 0 ms, the rules, the restore and the outbox's answer — next to a
//! signed login's, sent alternately at the same rate (A B A B …).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::Query;
use axum::routing::{get, post};
use hmac::{Hmac, Mac};

use super::nats::NatsServer;
use super::pipeline::{Received, Service, login, simulator, wait_received};
use super::{Options, ms, percentile};

const SIGNING_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
const BOT_TOKEN: &str = "xoxb-bench-0000000000-0000000000";

/// Slack answering in 0 ms: member `U{n}` is `p{n}@example.com`; answers are taken and dropped.
async fn slack() -> Result<String, String> {
    type Q = Query<HashMap<String, String>>;
    let app = axum::Router::new()
        .route(
            "/api/users.info",
            get(|Query(q): Q| async move {
                let user = q.get("user").cloned().unwrap_or_default();
                let n = user.trim_start_matches('U');
                axum::Json(
                    serde_json::json!({"ok": true, "user": {"id": user, "deleted": false,
                    "is_bot": false, "profile": {"email": format!("p{n}@example.com")}}}),
                )
            }),
        )
        .route("/commands/{a}/{b}/{c}", post(|| async { "ok" }));
    super::serve_local(app).await
}

/// Sends `/access jira` as member `U{n}`, signed as Slack signs it; the time to the answer, if
/// it was `200`.
async fn command(http: &reqwest::Client, url: &str, slack: &str, n: usize) -> Option<Duration> {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("team_id", "T0001")
        .append_pair("user_id", &format!("U{n}"))
        .append_pair("command", "/access")
        .append_pair("text", "jira")
        .append_pair("response_url", &format!("{slack}/commands/T0001/{n}/x"))
        .finish();
    let ts = time::OffsetDateTime::now_utc().unix_timestamp().to_string();
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(SIGNING_SECRET.as_bytes()).ok()?;
    mac.update(format!("v0:{ts}:{body}").as_bytes());
    let signature = format!("v0={}", hex::encode(mac.finalize().into_bytes()));
    let start = Instant::now();
    let r = http
        .post(format!("{url}/v1/hooks/slack/commands"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-slack-request-timestamp", ts)
        .header("x-slack-signature", signature)
        .body(body)
        .send()
        .await
        .ok()?;
    (r.status().as_u16() == 200).then(|| start.elapsed())
}

pub async fn run(options: Options) -> Result<(), String> {
    let (rate, length) = if options.quick {
        (100, Duration::from_secs(2))
    } else {
        (200, Duration::from_secs(30))
    };
    let nats = NatsServer::start()?;
    let received: Received = Arc::default();
    let sim = simulator(received.clone()).await?;
    let slack = slack().await?;
    let extra = format!(
        "[sources.slack]\nsigning_secrets = [\"{SIGNING_SECRET}\"]\nbot_token = \"{BOT_TOKEN}\"\n\
         api_url = \"{slack}/api\"\nresponse_url_prefix = \"{slack}/\"\n"
    );
    let service = Service::start_with(&nats.url, &sim, 16, "BENCH_SLACK", &extra).await?;
    let http = reqwest::Client::new();
    let total = (rate as f64 * length.as_secs_f64()) as usize;
    let sent: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let mut ticker = tokio::time::interval(Duration::from_secs(1) / rate as u32);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut tasks = Vec::with_capacity(total);
    // Users far from the other benchmarks' (they share nothing, but ids stay readable).
    let first = 20_000_000;
    for i in 0..total {
        ticker.tick().await;
        let n = first + i;
        let (http, url, slack, sent) = (
            http.clone(),
            service.url.clone(),
            slack.clone(),
            sent.clone(),
        );
        tasks.push(tokio::spawn(async move {
            sent.lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(format!("acc-{n}"), Instant::now());
            if i % 2 == 0 {
                login(&http, &url, n).await
            } else {
                command(&http, &url, &slack, n).await
            }
        }));
    }
    let mut answered = [Vec::new(), Vec::new()];
    for (i, t) in tasks.into_iter().enumerate() {
        if let Ok(Some(d)) = t.await {
            answered[i % 2].push(d);
        }
    }
    let ids: Vec<String> = (0..total).map(|i| format!("acc-{}", first + i)).collect();
    let got = wait_received(&received, &ids, Duration::from_secs(60)).await;
    let mut e2e = [Vec::new(), Vec::new()];
    {
        let (sent, received) = (
            sent.lock().unwrap_or_else(|e| e.into_inner()),
            received.lock().unwrap_or_else(|e| e.into_inner()),
        );
        for (i, id) in ids.iter().enumerate() {
            if let (Some(s), Some(r)) = (sent.get(id), received.get(id)) {
                e2e[i % 2].push(r.saturating_duration_since(*s));
            }
        }
    }
    for v in e2e.iter_mut().chain(answered.iter_mut()) {
        v.sort();
    }
    let [logins, slacks] = &e2e;
    println!(
        "slack, request to licence: {rate} requests/s for {:.0} s, Slack commands and signed logins alternately ({got} of {total} restored), 0 ms directory and Slack",
        length.as_secs_f64()
    );
    println!(
        "  Slack command sent → group call   p50 {:>9}  p99 {:>9}  max {:>9}  (answered: p99 {})",
        ms(percentile(slacks, 0.5)),
        ms(percentile(slacks, 0.99)),
        ms(slacks.last().copied().unwrap_or_default()),
        ms(percentile(&answered[1], 0.99))
    );
    println!(
        "  baseline, login sent → group call p50 {:>9}  p99 {:>9}  max {:>9}  (answered: p99 {})",
        ms(percentile(logins, 0.5)),
        ms(percentile(logins, 0.99)),
        ms(logins.last().copied().unwrap_or_default()),
        ms(percentile(&answered[0], 0.99))
    );
    let ratio =
        percentile(slacks, 0.99).as_secs_f64() / percentile(logins, 0.99).as_secs_f64().max(1e-9);
    println!("  ratio {ratio:.2} at p99 (target <= 1.5)");
    service.stop().await;
    Ok(())
}
