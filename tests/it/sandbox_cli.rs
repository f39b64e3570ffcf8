//! The newcomer's path, through the real binary: `reinstate serve` with no configuration, then
//! `reinstate send-login` restores an unlicensed sandbox user.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

struct Server(Child);
impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sandbox_restores_a_user_after_send_login() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = crate::support::free_port();
    let url = format!("http://127.0.0.1:{port}");
    let bin = env!("CARGO_BIN_EXE_reinstate");
    let started = Instant::now();
    let env = [
        ("REINSTATE__SERVER__LISTEN", format!("127.0.0.1:{port}")),
        ("REINSTATE__SERVER__PUBLIC_URL", url.clone()),
        (
            "REINSTATE__STORE__PATH",
            dir.path().join("data").display().to_string(),
        ),
    ];
    let _server = Server(
        Command::new(bin)
            .arg("serve")
            .envs(env.clone())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("serve"),
    );
    crate::support::wait_ready_at(&url).await;
    let http = reqwest::Client::new();
    let out = Command::new(bin)
        .args([
            "send-login",
            "--email",
            "grace@example.com",
            "--product",
            "jira-software",
        ])
        .envs(env)
        .output()
        .expect("send-login");
    assert!(
        out.status.success(),
        "send-login failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("202"));
    let creds: Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("data/sandbox-credentials.json")).expect("creds"),
    )
    .expect("json");
    let token = creds["admin_token"].as_str().expect("token");
    // The simulated organisation is in the inventory within seconds of the start.
    let deadline = started + Duration::from_secs(10);
    loop {
        let summary: Value = http
            .get(format!("{url}/api/v1/inventory/summary"))
            .bearer_auth(token)
            .send()
            .await
            .expect("summary")
            .json()
            .await
            .expect("json");
        if summary["users"].as_u64().is_some_and(|n| n >= 300) {
            assert!(
                summary["inactive_users"].as_u64().is_some_and(|n| n > 20),
                "{summary}"
            );
            let keys: Vec<&str> = summary["products"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|p| p["key"].as_str())
                .collect();
            assert!(
                keys.contains(&"confluence") && keys.contains(&"loom"),
                "{summary}"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no inventory 10 s after the start: {summary}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The README's reclamation example: a dry run, then a real run over the simulated people.
    let start = |dry_run: bool| {
        http.post(format!("{url}/api/v1/reclaim/runs"))
            .bearer_auth(token)
            .json(&serde_json::json!({"dry_run": dry_run}))
            .send()
    };
    let preview: Value = start(true)
        .await
        .expect("dry run")
        .json()
        .await
        .expect("json");
    let planned = preview["counts"]["steps"]["remove-product-access"]
        .as_u64()
        .unwrap_or_default();
    assert!(planned >= 20, "{:#}", preview["counts"]);
    assert_eq!(preview["run"]["state"], "done", "a preview is done at once");
    let real: Value = start(false).await.expect("run").json().await.expect("json");
    let id = real["run"]["id"].as_str().expect("id").to_string();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let page: Value = http
            .get(format!("{url}/api/v1/reclaim/runs/{id}"))
            .bearer_auth(token)
            .send()
            .await
            .expect("run")
            .json()
            .await
            .expect("json");
        if page["run"]["state"] == "done" {
            assert_eq!(
                page["counts"]["seats_freed"]["jira-software"].as_u64(),
                Some(planned),
                "{:#}",
                page["counts"]
            );
            eprintln!("sandbox reclaim run: {planned} Jira Software licences taken back");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the sandbox run did not finish: {page:#}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let v: Value = http
            .get(format!("{url}/api/v1/audit?user=grace@example.com"))
            .bearer_auth(token)
            .send()
            .await
            .expect("audit")
            .json()
            .await
            .expect("json");
        if v["entries"]
            .as_array()
            .is_some_and(|e| e.iter().any(|e| e["outcome"] == "restored"))
        {
            break;
        }
        assert!(Instant::now() < deadline, "grace was not restored: {v}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[test]
fn an_invalid_configuration_stops_serve_naming_the_key() {
    let out = Command::new(env!("CARGO_BIN_EXE_reinstate"))
        .arg("serve")
        .env("REINSTATE__WORKER__CONCURRENCY", "0")
        .env("REINSTATE__DIRECTORY__KIND", "jira-cloud")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("worker.concurrency") && err.contains("directory.site_url"),
        "{err}"
    );
}

#[test]
fn help_describes_each_subcommand() {
    let out = Command::new(env!("CARGO_BIN_EXE_reinstate"))
        .arg("--help")
        .output()
        .expect("run");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("serve") && text.contains("send-login"),
        "{text}"
    );
}

/// With a configuration that sets its own login secret and admin token, the sandbox's are not
/// accepted, so the banner does not print them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_banner_prints_only_credentials_that_work() {
    use sha2::Digest;
    let dir = tempfile::tempdir().expect("tempdir");
    let port = crate::support::free_port();
    let url = format!("http://127.0.0.1:{port}");
    let config = dir.path().join("reinstate.toml");
    let admin = hex::encode(sha2::Sha256::digest(b"my-own-admin-token-0123456789"));
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\npublic_url = \"{url}\"\n[store]\npath = \"{}\"\n\
             [sources.login]\nsecrets = [\"{}\"]\n[admin]\ntoken_sha256 = [\"{admin}\"]\n",
            dir.path().join("data").display(),
            crate::support::SECRET_A,
        ),
    )
    .expect("config");
    let mut server = Server(
        Command::new(env!("CARGO_BIN_EXE_reinstate"))
            .args(["serve", "--config"])
            .arg(&config)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("serve"),
    );
    crate::support::wait_ready_at(&url).await;
    let _ = server.0.kill();
    let mut banner = String::new();
    std::io::Read::read_to_string(server.0.stdout.as_mut().expect("stdout"), &mut banner)
        .expect("banner");
    let creds: Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("data/sandbox-credentials.json")).expect("creds"),
    )
    .expect("json");
    assert!(banner.contains("reinstate sandbox"), "{banner}");
    for unused in ["login_secret", "admin_token"] {
        let value = creds[unused].as_str().expect("credential");
        assert!(!banner.contains(value), "{unused} printed: {banner}");
    }
    assert!(
        banner.contains("(the configured sources.login.secrets)")
            && banner.contains("(the configured admin.token_sha256)"),
        "{banner}"
    );
}
