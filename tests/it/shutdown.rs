//! SIGTERM under load: the process stops accepting, drains, exits 0, and nothing it answered
//! 202 for is lost — in both bus modes. Runs the real binary.

use std::collections::HashSet;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::*;

async fn sigterm_under_load_loses_nothing_accepted(mode: BusMode) {
    let sim = JiraSim::start().await;
    let nats = (mode == BusMode::Nats).then(NatsServer::start);
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(
        dir.path(),
        &sim,
        nats.as_ref(),
        "[server]\nshutdown_grace_secs = 10",
    );
    let mut service = start_service(&config, None).await;
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
                    let sent = post_login(&http, &url, &email, &id).await;
                    match sent {
                        Some(202) => {
                            accepted.lock().expect("lock").insert(format!("login:{id}"));
                        }
                        Some(_) => {}
                        None => return,
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
    let service = start_service(&config, None).await;
    wait_all_handled(&service.url, &accepted, Duration::from_secs(60)).await;
    drop(service);
}
crate::both_buses!(sigterm_under_load_loses_nothing_accepted);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_email_in_the_outbox_survives_kill_9_and_is_sent_after_restart() {
    let sim = JiraSim::start().await;
    let smtp = SmtpSink::start().await;
    smtp.set_paused(true);
    let dir = tempfile::tempdir().expect("tempdir");
    let extra = format!(
        "[smtp]\nurl = \"{}\"\nfrom = \"reinstate@example.com\"\n[alerts]\nemails = [\"{ALERT_EMAIL}\"]",
        smtp.url()
    );
    let config = write_config(dir.path(), &sim, None, &extra);
    let mut service = start_service(&config, None).await;
    // No rule: zed's login opens a request, and the admins' email goes to the outbox with it.
    let http = reqwest::Client::new();
    let status = post_login(&http, &service.url, "zed@example.com", &new_id()).await;
    assert_eq!(status, Some(202));
    wait_outbox_at(&service.url, 1).await;
    assert!(
        smtp.mails().is_empty(),
        "the SMTP server refuses mail for now"
    );
    service.kill_9();
    smtp.set_paused(false);
    let _service = start_service(&config, None).await;
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
