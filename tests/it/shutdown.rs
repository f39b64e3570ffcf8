//! SIGTERM under load: the process stops accepting, drains, exits 0, and nothing it answered
//! 202 for is lost — in both bus modes. Runs the real binary.

use std::collections::HashSet;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::support::*;

struct Service {
    child: Child,
    url: String,
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start(config: &std::path::Path) -> Service {
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let child = Command::new(env!("CARGO_BIN_EXE_reinstate"))
        .args(["serve", "--config"])
        .arg(config)
        .env("REINSTATE__SERVER__LISTEN", format!("127.0.0.1:{port}"))
        .env("REINSTATE__SERVER__PUBLIC_URL", &url)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start reinstate");
    wait_ready_at(&url).await;
    Service { child, url }
}

async fn sigterm_under_load_loses_nothing_accepted(mode: BusMode) {
    let sim = JiraSim::start().await;
    let nats = (mode == BusMode::Nats).then(NatsServer::start);
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("reinstate.toml");
    let nats_line = nats
        .as_ref()
        .map(|n| format!("nats_url = \"{}\"", n.url()))
        .unwrap_or_default();
    std::fs::write(
        &config,
        format!(
            "[server]\nshutdown_grace_secs = 10\n[store]\npath = \"{store}\"\n[bus]\n{nats_line}\n\
             [sources.login]\nsecrets = [\"{SECRET_A}\"]\n\
             [directory]\nkind = \"jira-cloud\"\nsite_url = \"{site}\"\nemail = \"{email}\"\napi_token = \"{token}\"\n\
             [admin]\ntoken_sha256 = [\"{admin}\"]\n",
            store = dir.path().join("state").display(),
            site = sim.url,
            email = jira_sim::SIM_EMAIL,
            token = jira_sim::SIM_TOKEN,
            admin = hex::encode(Sha256::digest(ADMIN_TOKEN.as_bytes())),
        ),
    )
    .expect("write config");

    let mut service = start(&config).await;
    let accepted: Arc<Mutex<HashSet<String>>> = Arc::default();
    let url = service.url.clone();
    // 8 senders, each sending logins one after another until the service stops answering.
    let senders: Vec<_> = (0..8)
        .map(|s| {
            let (url, accepted) = (url.clone(), accepted.clone());
            tokio::spawn(async move {
                let http = reqwest::Client::new();
                for i in 0..400 {
                    let email = format!("user{s}x{i}@example.com");
                    let id = new_id();
                    let body = login_body(&email, Some("jira-software"));
                    let ts = time::OffsetDateTime::now_utc().unix_timestamp();
                    let sig = reinstate::signature::WebhookSecret::parse(SECRET_A)
                        .expect("secret")
                        .sign(&id, ts, &body);
                    let sent = http
                        .post(format!("{url}/v1/hooks/login"))
                        .header("webhook-id", &id)
                        .header("webhook-timestamp", ts.to_string())
                        .header("webhook-signature", sig)
                        .body(body)
                        .send()
                        .await;
                    match sent {
                        Ok(r) if r.status() == 202 => {
                            accepted.lock().expect("lock").insert(format!("login:{id}"));
                        }
                        Ok(_) => {}
                        Err(_) => return,
                    }
                }
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    while accepted.lock().expect("lock").len() < 150 {
        assert!(Instant::now() < deadline, "load did not build up");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let pid = service.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill")
            .success()
    );
    let stopped = Instant::now();
    let status = loop {
        if let Some(status) = service.child.try_wait().expect("wait") {
            break status;
        }
        assert!(
            stopped.elapsed() < Duration::from_secs(15),
            "did not exit within the grace period"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(status.code(), Some(0), "exit status after SIGTERM");
    for s in senders {
        let _ = s.await;
    }
    let accepted = accepted.lock().expect("lock").clone();
    assert!(accepted.len() >= 150);

    // Started again on the same state (and NATS), every accepted event gets handled.
    let service = start(&config).await;
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let csv = http
            .get(format!("{}/api/v1/audit.csv", service.url))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .expect("audit")
            .text()
            .await
            .expect("csv");
        let handled: HashSet<String> = csv
            .lines()
            .skip(1)
            .filter_map(|l| l.split(',').nth(4))
            .map(String::from)
            .collect();
        let missing: Vec<&String> = accepted
            .iter()
            .filter(|id| !handled.contains(*id))
            .collect();
        if missing.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {} accepted events never handled, e.g. {:?}",
            missing.len(),
            accepted.len(),
            &missing[..missing.len().min(3)]
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    drop(service);
}
crate::both_buses!(sigterm_under_load_loses_nothing_accepted);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_email_in_the_outbox_survives_kill_9_and_is_sent_after_restart() {
    let sim = JiraSim::start().await;
    let smtp = SmtpSink::start().await;
    smtp.set_paused(true);
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("reinstate.toml");
    std::fs::write(
        &config,
        format!(
            "[store]\npath = \"{store}\"\n[sources.login]\nsecrets = [\"{SECRET_A}\"]\n\
             [directory]\nkind = \"jira-cloud\"\nsite_url = \"{site}\"\nemail = \"{email}\"\napi_token = \"{token}\"\n\
             [admin]\ntoken_sha256 = [\"{admin}\"]\n[smtp]\nurl = \"{smtp_url}\"\nfrom = \"reinstate@example.com\"\n\
             [alerts]\nemails = [\"{ALERT_EMAIL}\"]\n",
            store = dir.path().join("state").display(),
            site = sim.url,
            email = jira_sim::SIM_EMAIL,
            token = jira_sim::SIM_TOKEN,
            admin = hex::encode(Sha256::digest(ADMIN_TOKEN.as_bytes())),
            smtp_url = smtp.url(),
        ),
    )
    .expect("write config");
    let mut service = start(&config).await;
    // No rule: zed's login opens a request, and the admins' email goes to the outbox with it.
    let http = reqwest::Client::new();
    let body = login_body("zed@example.com", Some("jira-software"));
    let id = new_id();
    let ts = time::OffsetDateTime::now_utc().unix_timestamp();
    let sig = reinstate::signature::WebhookSecret::parse(SECRET_A)
        .expect("secret")
        .sign(&id, ts, &body);
    let r = http
        .post(format!("{}/v1/hooks/login", service.url))
        .header("webhook-id", &id)
        .header("webhook-timestamp", ts.to_string())
        .header("webhook-signature", sig)
        .body(body)
        .send()
        .await
        .expect("login");
    assert_eq!(r.status(), 202);
    wait_outbox_at(&service.url, 1).await;
    assert!(
        smtp.mails().is_empty(),
        "the SMTP server refuses mail for now"
    );
    service.child.kill().expect("kill -9");
    service.child.wait().expect("wait");
    smtp.set_paused(false);
    let _service = start(&config).await;
    let mails = smtp.wait_for(1).await;
    assert_eq!(mails[0].to, vec![ALERT_EMAIL]);
    assert!(
        mails[0]
            .text()
            .contains("zed@example.com asks for jira-software"),
        "{}",
        mails[0].text()
    );
}
