//! `reinstate bench state`: a store holding 1,000,000 users — its disk use, the resident memory
//! of a running service on it (next to the same service on an empty store), and the per-event
//! state work (read the user, write user + audit + processed id in one flushed transaction), its
//! p50/p99 next to the same work on a store of 1,000 users, interleaved.

use std::path::Path;
use std::time::{Duration, Instant};

use time::OffsetDateTime;

use super::{Options, ms, percentile};
use crate::domain::{AuditOutcome, Email, Product};
use crate::store::{AuditEntry, EventOutcome, ProcessedRecord, ProductState, Store, UserRecord};

fn email(i: usize) -> Email {
    Email::parse(&format!("user{i}@d{}.example.com", i % 500)).unwrap_or_else(|_| unreachable!())
}

fn record(i: usize) -> UserRecord {
    let mut r = UserRecord::new(&email(i));
    r.account_id = Some(format!("5b10ac8d82e05b22cc{i:06x}"));
    r.groups = (0..10)
        .map(|g| format!("group-{}", (i + g * 7) % 5000))
        .collect();
    r.roles = vec!["engineer".into()];
    r.last_login = Some(OffsetDateTime::now_utc());
    r.products.insert(
        Product::JiraSoftware,
        ProductState {
            licensed: !i.is_multiple_of(3),
            ..Default::default()
        },
    );
    r
}

fn fill(path: &Path, users: usize) -> Result<Store, String> {
    let store = Store::open(path).map_err(|e| e.to_string())?;
    for i in 0..users {
        store.put_user(&record(i)).map_err(|e| e.to_string())?;
    }
    Ok(store)
}

fn dir_size(path: &Path) -> u64 {
    std::fs::read_dir(path)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

/// One event's state work for user `i`: read, then record, flushed.
async fn event(store: &Store, i: usize, n: usize) -> Result<Duration, String> {
    let start = Instant::now();
    let mut user = store
        .user(&email(i))
        .map_err(|e| e.to_string())?
        .unwrap_or_else(|| record(i));
    user.last_login = Some(OffsetDateTime::now_utc());
    let mut entry = AuditEntry::new(AuditOutcome::AlreadyLicensed, "already holds a licence");
    entry.user = Some(user.email.clone());
    entry.product = Some(Product::JiraSoftware);
    let now = OffsetDateTime::now_utc();
    store
        .record(EventOutcome {
            user: Some(user),
            audit: vec![entry],
            processed: Some((
                format!("login:bench-{n}"),
                ProcessedRecord {
                    v: 1,
                    outcome: "already_licensed".into(),
                    at: now,
                    expires_at: now + time::Duration::days(30),
                },
            )),
            ..Default::default()
        })
        .await
        .map_err(|e| e.to_string())?;
    Ok(start.elapsed())
}

/// Resident memory of `reinstate serve` on the store at `path`, once ready and after `events`
/// logins of known users were handled.
async fn service_rss(path: &Path, users: usize, events: usize) -> Result<u64, String> {
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| e.to_string())?
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut child = std::process::Command::new(exe)
        .arg("serve")
        .env("REINSTATE__STORE__PATH", path)
        .env("REINSTATE__STORE__MIN_FREE_MB", "0")
        .env("REINSTATE__SERVER__LISTEN", format!("127.0.0.1:{port}"))
        .env(
            "REINSTATE__SOURCES__LOGIN__SECRETS",
            format!("[\"{SECRET}\"]"),
        )
        .env("REINSTATE__LOG__FILTER", "error")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|e| e.to_string())?;
    let http = reqwest::Client::new();
    let result = async {
        super::wait_ready(&http, &url).await?;
        let secret =
            crate::sources::signature::WebhookSecret::parse(SECRET).map_err(String::from)?;
        for n in 0..events {
            let i = (n * 7919) % users.max(1);
            let body = serde_json::to_vec(&serde_json::json!({
                "type": "login.succeeded",
                "user": {"email": email(i).as_str()},
                "occurred_at": OffsetDateTime::now_utc()
                    .format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_default(),
            }))
            .map_err(|e| e.to_string())?;
            let id = format!("msg_rss{n:08}");
            let _ = super::post_login(&http, &url, &secret, &id, body).await;
        }
        // Let the workers drain what was accepted.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let status = std::fs::read_to_string(format!("/proc/{}/status", child.id()))
            .map_err(|e| format!("reading the service's memory: {e}"))?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|kb| kb * 1024)
            .ok_or_else(|| "no VmRSS".to_string())
    }
    .await;
    let _ = child.kill();
    let _ = child.wait();
    result
}

pub async fn run(options: Options) -> Result<(), String> {
    let (users, rounds, per_round, rss_events) = if options.quick {
        (20_000, 3, 200, 100)
    } else {
        (1_000_000, 5, 2_000, 2_000)
    };
    let dir = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
    let (big_path, small_path) = (dir.path().join("big"), dir.path().join("small"));
    let started = Instant::now();
    let big = fill(&big_path, users)?;
    big.flush().await.map_err(|e| e.to_string())?;
    let loaded = started.elapsed();
    let small = fill(&small_path, 1_000)?;
    let (mut big_times, mut small_times) = (Vec::new(), Vec::new());
    let mut n = 0;
    for _ in 0..rounds {
        for k in 0..per_round {
            n += 1;
            big_times.push(event(&big, (k * 7919 + n) % users, n).await?);
            small_times.push(event(&small, (k * 7919 + n) % 1_000, n).await?);
        }
    }
    big_times.sort();
    small_times.sort();
    drop(big);
    drop(small);
    let disk = dir_size(&big_path);
    // sled releases its lock when its flusher next wakes.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let rss_full = service_rss(&big_path, users, rss_events).await?;
    let empty_path = dir.path().join("empty");
    let rss_empty = service_rss(&empty_path, users, rss_events).await?;
    let mb = |b: u64| b as f64 / (1024.0 * 1024.0);
    println!(
        "state: {users} users loaded in {:.1} s",
        loaded.as_secs_f64()
    );
    println!("  disk use                      {:>8.0} MiB", mb(disk));
    println!(
        "  service RSS, {users} users     {:>8.0} MiB after {rss_events} logins (target <= 250 MB)",
        mb(rss_full)
    );
    println!(
        "  baseline, empty store          {:>8.0} MiB after the same logins",
        mb(rss_empty)
    );
    println!(
        "  per-event state read+write, {} events interleaved: p50 {} p99 {}",
        big_times.len(),
        ms(percentile(&big_times, 0.5)),
        ms(percentile(&big_times, 0.99))
    );
    println!(
        "  baseline, 1,000 users:                               p50 {} p99 {}",
        ms(percentile(&small_times, 0.5)),
        ms(percentile(&small_times, 0.99))
    );
    println!(
        "  ratio at p99: {:.2}x",
        percentile(&big_times, 0.99).as_secs_f64()
            / percentile(&small_times, 0.99).as_secs_f64().max(1e-9)
    );
    Ok(())
}
