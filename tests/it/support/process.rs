//! The real binary as a child process, for tests that stop it with signals: its configuration
//! file, start, signed logins, and which events its audit log shows handled.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};

use sha2::{Digest, Sha256};

use super::*;

pub struct Service {
    pub child: Child,
    pub url: String,
    pub port: u16,
    /// Where its output goes.
    pub log: PathBuf,
}

impl Drop for Service {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let output = self.output();
            let tail: Vec<&str> = output.lines().rev().take(30).collect();
            eprintln!(
                "--- the last lines reinstate at {} wrote ---\n{}",
                self.url,
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Service {
    /// What it has written so far.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `kill -9`: no drain, no flush.
    pub fn kill_9(&mut self) {
        self.child.kill().expect("kill -9");
        self.child.wait().expect("wait");
    }
}

/// Writes `reinstate.toml` in `dir` for the simulator (and NATS, when given), with `extra`
/// appended; returns its path.
pub fn write_config(dir: &Path, sim: &JiraSim, nats: Option<&NatsServer>, extra: &str) -> PathBuf {
    let config = dir.join("reinstate.toml");
    let nats_line = nats
        .map(|n| format!("nats_url = \"{}\"", n.url()))
        .unwrap_or_default();
    std::fs::write(
        &config,
        format!(
            "[store]\npath = \"{store}\"\n[bus]\n{nats_line}\n\
             [sources.login]\nsecrets = [\"{SECRET_A}\"]\n\
             [admin]\ntoken_sha256 = [\"{admin}\"]\n{extra}\n\
             [directory]\nkind = \"jira-cloud\"\nsite_url = \"{site}\"\nemail = \"{email}\"\napi_token = \"{token}\"\n",
            store = dir.join("state").display(),
            site = sim.url,
            email = jira_sim::SIM_EMAIL,
            token = jira_sim::SIM_TOKEN,
            admin = hex::encode(Sha256::digest(ADMIN_TOKEN.as_bytes())),
        ),
    )
    .expect("write config");
    config
}

/// Starts the binary on `port` (a free one when `None`) and waits until it is ready.
pub async fn start_service(config: &Path, port: Option<u16>) -> Service {
    start_service_with(config, port, &[]).await
}

/// As `start_service`, with more `REINSTATE__…` settings in the environment. A port chosen free
/// can be taken by another socket before the process binds it: then it starts again, on another
/// free port, or on the same one a moment later when `port` was given.
pub async fn start_service_with(config: &Path, port: Option<u16>, env: &[(&str, &str)]) -> Service {
    let mut attempts = 0;
    loop {
        let mut service = spawn_service(config, port, env);
        match wait_started(&mut service).await {
            Ok(()) => return service,
            Err(output) if output.contains("Address already in use") && attempts < 5 => {
                attempts += 1;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(output) => panic!("reinstate at {} stopped: {output}", service.url),
        }
    }
}

/// Waits until the process is ready; its output if it stopped first.
async fn wait_started(service: &mut Service) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !reqwest::get(format!("{}/readyz", service.url))
        .await
        .is_ok_and(|r| r.status() == 200)
    {
        if let Ok(Some(status)) = service.child.try_wait() {
            return Err(format!("{status}: {}", service.output()));
        }
        assert!(
            Instant::now() < deadline,
            "reinstate at {} did not become ready",
            service.url
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

/// Starts the binary without waiting for it to be ready: a state process standing by never is.
/// What it writes (its log, and any panic) goes to `reinstate-<port>.log` beside the
/// configuration.
pub fn spawn_service(config: &Path, port: Option<u16>, env: &[(&str, &str)]) -> Service {
    let port = port.unwrap_or_else(free_port);
    let url = format!("http://127.0.0.1:{port}");
    let log_path = config.with_file_name(format!("reinstate-{port}.log"));
    let log = std::fs::File::create(&log_path).expect("log file");
    let child = Command::new(env!("CARGO_BIN_EXE_reinstate"))
        .args(["serve", "--config"])
        .arg(config)
        .env("REINSTATE__SERVER__LISTEN", format!("127.0.0.1:{port}"))
        .env("REINSTATE__SERVER__PUBLIC_URL", &url)
        .envs(env.iter().copied())
        .stdout(log.try_clone().expect("log file"))
        .stderr(log)
        .spawn()
        .expect("start reinstate");
    Service {
        child,
        url,
        port,
        log: log_path,
    }
}

/// Waits until the process at `url` answers `/healthz`.
pub async fn wait_live_at(url: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !reqwest::get(format!("{url}/healthz"))
        .await
        .is_ok_and(|r| r.status() == 200)
    {
        assert!(
            Instant::now() < deadline,
            "reinstate at {url} never started"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Posts a signed login of `email` with webhook id `id`; the status, or `None` without answer.
pub async fn post_login(http: &reqwest::Client, url: &str, email: &str, id: &str) -> Option<u16> {
    send_login(http, url, email, id)
        .await
        .ok()
        .map(|r| r.status().as_u16())
}

/// Posts a signed login of `email` (Jira Software) with webhook id `id`, signed now.
pub async fn send_login(
    http: &reqwest::Client,
    url: &str,
    email: &str,
    id: &str,
) -> reqwest::Result<reqwest::Response> {
    let body = login_body(email, Some("jira-software"));
    let ts = time::OffsetDateTime::now_utc().unix_timestamp();
    let sig = reinstate::sources::signature::WebhookSecret::parse(SECRET_A)
        .expect("secret")
        .sign(id, ts, &body);
    http.post(format!("{url}/v1/hooks/login"))
        .header("webhook-id", id)
        .header("webhook-timestamp", ts.to_string())
        .header("webhook-signature", sig)
        .body(body)
        .send()
        .await
}

/// Event ids the audit log shows handled.
async fn handled_event_ids(http: &reqwest::Client, url: &str) -> HashSet<String> {
    let csv = http
        .get(format!("{url}/api/v1/audit.csv"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("audit")
        .text()
        .await
        .expect("csv");
    csv.lines()
        .skip(1)
        .filter_map(|l| l.split(',').nth(4))
        .map(String::from)
        .collect()
}

/// Replaces the rules of the reinstate at `url` with the standard ones.
pub async fn put_standard_rules(url: &str) {
    let r = reqwest::Client::new()
        .put(format!("{url}/api/v1/rules"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&standard_rules())
        .send()
        .await
        .expect("rules");
    assert_eq!(r.status(), 200, "PUT {url}/api/v1/rules");
}

/// Waits until the audit log shows every accepted event handled.
pub async fn wait_all_handled(url: &str, accepted: &HashSet<String>, within: Duration) {
    let http = reqwest::Client::new();
    let deadline = Instant::now() + within;
    loop {
        let handled = handled_event_ids(&http, url).await;
        let missing: Vec<&String> = accepted
            .iter()
            .filter(|id| !handled.contains(*id))
            .collect();
        if missing.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {} accepted events never handled, e.g. {:?}",
            missing.len(),
            accepted.len(),
            &missing[..missing.len().min(3)]
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}
