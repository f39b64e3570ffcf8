//! Running it like production: metrics.

use serde_json::Value;

use crate::support::*;

fn sample(metrics: &str, prefix: &str) -> f64 {
    metrics
        .lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no sample {prefix} in:\n{metrics}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_cover_requests_events_bus_directory_email_and_restore_latency() {
    let app = TestApp::start(BusMode::Nats).await;
    assert_eq!(app.put_rules(standard_rules()).await.status(), 200);
    app.sim.set_seats(3);
    app.sim.push_fault(Fault::Status(429, Some(1)));
    app.login_and_wait("grace@example.com", "jira-software", "restored")
        .await;
    // A second restore fills the product past the alert threshold: an email goes out.
    app.login_and_wait("zed@example.com", "jira-software", "restored")
        .await;
    app.smtp.wait_for(1).await;
    app.login_and_wait("bob@contractor.example.net", "jira-software", "denied")
        .await;

    // Acks and the sent-email count land just after what the test waited for: let them settle.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let m = loop {
        let r = app
            .http
            .get(format!("{}/metrics", app.url))
            .send()
            .await
            .expect("metrics");
        assert_eq!(r.status(), 200);
        assert!(
            r.headers()["content-type"]
                .to_str()
                .expect("type")
                .starts_with("application/openmetrics-text")
        );
        let m = r.text().await.expect("text");
        let settled = m.lines().any(|l| l == "reinstate_bus_messages 0")
            && m.contains(r#"reinstate_emails_total{result="sent"} 1"#);
        if settled || std::time::Instant::now() > deadline {
            break m;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    for family in [
        "http_requests",
        "events",
        "publish_seconds",
        "bus_messages",
        "bus_pending",
        "redeliveries",
        "events_failed",
        "directory_calls",
        "directory_retries",
        "directory_rate_limited",
        "emails",
        "outbox",
        "restore_latency_seconds",
    ] {
        assert!(
            m.contains(&format!("# TYPE reinstate_{family} ")),
            "family {family} missing:\n{m}"
        );
    }
    assert_eq!(
        sample(
            &m,
            r#"reinstate_http_requests_total{route="/v1/hooks/login",method="POST",status="202"}"#
        ),
        3.0
    );
    assert_eq!(
        sample(
            &m,
            r#"reinstate_events_total{source="login",outcome="restored"}"#
        ),
        2.0
    );
    assert_eq!(
        sample(
            &m,
            r#"reinstate_events_total{source="login",outcome="denied"}"#
        ),
        1.0
    );
    assert_eq!(sample(&m, "reinstate_publish_seconds_count"), 3.0);
    assert_eq!(
        sample(
            &m,
            r#"reinstate_directory_calls_total{connector="jira-cloud",status="201"}"#
        ),
        2.0
    );
    assert_eq!(
        sample(
            &m,
            r#"reinstate_directory_calls_total{connector="jira-cloud",status="429"}"#
        ),
        1.0
    );
    assert_eq!(
        sample(
            &m,
            r#"reinstate_directory_rate_limited_total{connector="jira-cloud"}"#
        ),
        1.0
    );
    assert!(
        sample(
            &m,
            r#"reinstate_directory_retries_total{connector="jira-cloud"}"#
        ) >= 1.0
    );
    assert_eq!(sample(&m, r#"reinstate_emails_total{result="sent"}"#), 1.0);
    assert_eq!(sample(&m, "reinstate_restore_latency_seconds_count"), 2.0);
    let latency_sum = sample(&m, "reinstate_restore_latency_seconds_sum");
    assert!(
        latency_sum > 1.0 && latency_sum < 60.0,
        "the 429 made one restore wait about a second: {latency_sum}"
    );
    assert_eq!(
        sample(&m, "reinstate_bus_messages "),
        0.0,
        "everything was acked"
    );
    assert_eq!(sample(&m, "reinstate_bus_pending "), 0.0);
    assert_eq!(sample(&m, "reinstate_outbox "), 0.0);
    // Route templates, never raw paths with user data, label the requests.
    let _: Value = app.admin_get("/api/v1/users/grace@example.com").await;
    let m = app.metrics().await;
    assert!(
        m.contains(r#"route="/api/v1/users/{user}""#) && !m.contains("grace@example.com"),
        "{m}"
    );
}

/// Settings of the consumer, the stream and the key-value buckets changed between two runs take
/// effect when the process starts again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changed_bus_settings_take_effect_on_restart() {
    let nats = NatsServer::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let start = |ack_wait: u64, lease: u64, window: u64| {
        let toml = format!(
            "[store]\npath = \"{}\"\n[bus]\nnats_url = \"{}\"\nack_wait_secs = {ack_wait}\n\
             lease_secs = {lease}\nduplicate_window_secs = {window}\n",
            dir.path().join("state").display(),
            nats.url()
        );
        async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            let url = format!("http://{}", listener.local_addr().expect("addr"));
            let app = reinstate::Application::build(
                reinstate::Config::from_toml(&toml).expect("config"),
                listener,
            )
            .await
            .expect("start");
            wait_ready_at(&url).await;
            app
        }
    };
    start(40, 15, 120).await.shutdown().await.expect("stop");
    let app = start(7, 6, 60).await;
    let js = async_nats::jetstream::new(async_nats::connect(nats.url()).await.expect("connect"));
    let mut stream = js.get_stream("REINSTATE_EVENTS").await.expect("stream");
    let info = stream
        .consumer_info("reinstate-worker")
        .await
        .expect("consumer");
    assert_eq!(info.config.ack_wait, std::time::Duration::from_secs(7));
    let info = stream.info().await.expect("stream info");
    assert_eq!(
        info.config.duplicate_window,
        std::time::Duration::from_secs(60)
    );
    // The lease's entries expire as configured now, not as when the bucket was made: an entry
    // outliving its renewals would let a second owner act.
    let mut lease = js
        .get_stream("KV_REINSTATE_EVENTS-lease")
        .await
        .expect("lease bucket");
    let info = lease.info().await.expect("bucket info");
    assert_eq!(info.config.max_age, std::time::Duration::from_secs(6));
    app.shutdown().await.expect("stop");
}
