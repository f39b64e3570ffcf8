//! `reinstate bench …`: each figure next to a baseline measured in the same run, interleaved
//! (A B A B …), median of the rounds — absolute numbers on a shared 2-core machine swing too
//! much to mean anything alone.

use std::time::Duration;

mod ingress;
mod nats;
mod pipeline;
mod rules;
mod state;

#[derive(Clone, Copy)]
pub struct Options {
    /// Fewer users, shorter and fewer rounds: proves the benchmark runs, measures little.
    pub quick: bool,
}

/// The benchmarks, by name.
pub const NAMES: &[&str] = &["rules", "ingress", "pipeline", "state", "all"];

pub fn run(what: &str, options: Options) -> Result<(), String> {
    match what {
        "rules" => rules::run(options),
        "ingress" => runtime()?.block_on(ingress::run(options)),
        "pipeline" => runtime()?.block_on(pipeline::run(options)),
        "state" => runtime()?.block_on(state::run(options)),
        "all" => {
            rules::run(options)?;
            let rt = runtime()?;
            rt.block_on(ingress::run(options))?;
            rt.block_on(pipeline::run(options))?;
            rt.block_on(state::run(options))
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
        let app = crate::app::Application::build(config, listener)
            .await
            .map_err(|e| e.to_string())?;
        Ok(Running {
            url: format!("http://{}", app.addr()),
            stop: app.cancel_token(),
            served: tokio::spawn(app.run_until_stopped()),
        })
    }

    /// Stops it and waits for the drain.
    pub async fn stop(self) {
        self.stop.cancel();
        let _ = self.served.await;
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

pub(crate) fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}
