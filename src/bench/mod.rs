//! `reinstate bench …`: each figure next to a baseline measured in the same run, interleaved
//! (A B A B …), median of the rounds — absolute numbers on a shared 2-core machine swing too
//! much to mean anything alone.

use std::time::Duration;

mod console;
mod ingress;
mod inventory;
mod nats;
mod pipeline;
mod reclaim;
mod rules;
mod slack;
mod state;

#[derive(Clone, Copy)]
pub struct Options {
    /// Fewer users, shorter and fewer rounds: proves the benchmark runs, measures little.
    pub quick: bool,
}

/// The benchmarks, by name.
pub const NAMES: &[&str] = &[
    "rules",
    "ingress",
    "pipeline",
    "state",
    "inventory",
    "reclaim",
    "console",
    "slack",
    "all",
];

/// A benchmark that could not run, and why.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BenchError(String);

pub fn run(what: &str, options: Options) -> Result<(), BenchError> {
    run_named(what, options).map_err(BenchError)
}

fn run_named(what: &str, options: Options) -> Result<(), String> {
    match what {
        "rules" => rules::run(options),
        "ingress" => runtime()?.block_on(ingress::run(options)),
        "pipeline" => runtime()?.block_on(pipeline::run(options)),
        "state" => runtime()?.block_on(state::run(options)),
        "inventory" => runtime()?.block_on(inventory::run(options)),
        "reclaim" => runtime()?.block_on(reclaim::run(options)),
        "console" => runtime()?.block_on(console::run(options)),
        "slack" => runtime()?.block_on(slack::run(options)),
        "all" => {
            rules::run(options)?;
            let rt = runtime()?;
            rt.block_on(ingress::run(options))?;
            rt.block_on(pipeline::run(options))?;
            rt.block_on(state::run(options))?;
            rt.block_on(inventory::run(options))?;
            rt.block_on(reclaim::run(options))?;
            rt.block_on(console::run(options))?;
            rt.block_on(slack::run(options))
        }
        other => Err(format!(
            "{other:?} is not a benchmark; try one of {}",
            NAMES.join(", ")
        )),
    }
}

/// reinstate itself, in this process, on a random port.
pub(crate) struct Running {
    pub url: String,
    stop: tokio_util::sync::CancellationToken,
    served: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Running {
    pub async fn start(toml: &str) -> Result<Running, String> {
        let config = crate::config::Config::from_toml(toml).map_err(|e| e.to_string())?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| e.to_string())?;
        let app = crate::startup::Application::build(config, listener)
            .await
            .map_err(|e| e.to_string())?;
        let running = Running {
            url: format!("http://{}", app.addr()),
            stop: app.cancel_token(),
            served: tokio::spawn(app.run_until_stopped()),
        };
        // On NATS a process that keeps the state serves the admin API once it holds the lease.
        wait_ready(&reqwest::Client::new(), &running.url).await?;
        Ok(running)
    }

    /// Stops it and waits for the drain.
    pub async fn stop(self) {
        self.stop.cancel();
        let _ = self.served.await;
    }
}

/// Serves `app` (a simulator) on a random local port; its base URL.
pub(crate) async fn serve_local(app: axum::Router) -> Result<String, String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let url = format!(
        "http://{}",
        listener.local_addr().map_err(|e| e.to_string())?
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(url)
}

/// Waits up to a minute for the reinstate at `url` to answer `/readyz` with success.
pub(crate) async fn wait_ready(http: &reqwest::Client, url: &str) -> Result<(), String> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let why = match http.get(format!("{url}/readyz")).send().await {
            Ok(r) if r.status().is_success() => return Ok(()),
            Ok(r) => r.text().await.unwrap_or_default(),
            Err(e) => e.to_string(),
        };
        if std::time::Instant::now() > deadline {
            return Err(format!("the service at {url} did not get ready: {why}"));
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("runtime: {e}"))
}

pub(crate) fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

pub(crate) fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

pub(crate) fn median_f64(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Posts `body` to reinstate's login receiver at `url`, signed as Standard Webhooks message `id`.
pub(crate) async fn post_login(
    http: &reqwest::Client,
    url: &str,
    secret: &crate::sources::signature::WebhookSecret,
    id: &str,
    body: Vec<u8>,
) -> reqwest::Result<reqwest::Response> {
    let ts = time::OffsetDateTime::now_utc().unix_timestamp();
    http.post(format!("{url}/v1/hooks/login"))
        .header("webhook-id", id)
        .header("webhook-timestamp", ts.to_string())
        .header("webhook-signature", secret.sign(id, ts, &body))
        .body(body)
        .send()
        .await
}

/// CPU time (user + system) process `pid` has used so far, from `/proc/<pid>/stat`; `None`
/// where that cannot be read (not Linux, process gone).
fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_secs_f64(
        ticks as f64 / rustix::param::clock_ticks_per_second() as f64,
    ))
}

/// CPU used so far by this process (load generator, reinstate, simulators) and by
/// nats-server: two marks apportion a run's CPU per unit of work — on a machine whose cores
/// are all busy, that is what a throughput ratio is made of.
#[derive(Clone, Copy)]
pub(crate) struct CpuMark {
    this: Option<Duration>,
    nats: Option<Duration>,
    nats_pid: u32,
    at: std::time::Instant,
}

/// CPU per unit of work, in µs: this process, nats-server.
#[derive(Clone, Copy, Default)]
pub(crate) struct CpuPer {
    pub this: f64,
    pub nats: f64,
}

impl CpuMark {
    pub fn now(nats_pid: u32) -> CpuMark {
        CpuMark {
            this: cpu_time(std::process::id()),
            nats: cpu_time(nats_pid),
            nats_pid,
            at: std::time::Instant::now(),
        }
    }

    /// The CPU used since this mark, per each of `units`; `None` for a run shorter than half
    /// a second, which the kernel's clock ticks (usually 10 ms) cannot apportion.
    pub fn per(&self, units: f64) -> Option<CpuPer> {
        if self.at.elapsed() < Duration::from_millis(500) {
            return None;
        }
        let now = CpuMark::now(self.nats_pid);
        let per = |a: Option<Duration>, b: Option<Duration>| {
            Some(b?.saturating_sub(a?).as_secs_f64() * 1e6 / units.max(1.0))
        };
        Some(CpuPer {
            this: per(self.this, now.this)?,
            nats: per(self.nats, now.nats)?,
        })
    }
}

/// The median of the runs' CPU figures that could be read.
pub(crate) fn median_cpu(v: impl Iterator<Item = Option<CpuPer>>) -> Option<CpuPer> {
    let read: Vec<CpuPer> = v.flatten().collect();
    if read.is_empty() {
        return None;
    }
    Some(CpuPer {
        this: median_f64(read.iter().map(|c| c.this).collect()),
        nats: median_f64(read.iter().map(|c| c.nats).collect()),
    })
}

/// `CPU/unit: this process X µs, nats-server Y µs`, or that it could not be read.
pub(crate) fn cpu_line(cpu: Option<CpuPer>, unit: &str) -> String {
    match cpu {
        Some(c) => format!(
            "CPU per {unit}: this process {:.0} µs, nats-server {:.0} µs",
            c.this, c.nats
        ),
        None => format!("CPU per {unit}: not measured (run too short, or no /proc)"),
    }
}

pub(crate) fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}
