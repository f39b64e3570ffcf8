//! The hard edges found by attacking reinstate on loopback: each test here failed before its fix.

use serde_json::json;

use crate::support::*;

/// A signed login naming one user's email and another user's account id restores nobody.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_whose_account_id_is_another_users_is_audited_as_a_mismatch() {
    let app = TestApp::start(BusMode::Embedded).await;
    assert_eq!(app.put_rules(standard_rules()).await.status(), 200);
    app.sim.add_person("acc-newbie", "newbie@example.com");
    let now = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .expect("format");
    let body = json!({"type": "login.succeeded", "product": "jira-software", "occurred_at": now,
                      "user": {"email": "newbie@example.com", "account_id": "acc-grace"}});
    assert_eq!(app.post_login_json(&body).await.status(), 202);
    let entry = app
        .wait_for_outcome("newbie@example.com", "account_mismatch")
        .await;
    let reason = entry["reason"].as_str().expect("reason");
    assert!(
        reason.contains("acc-grace") && reason.contains("grace@example.com"),
        "{reason}"
    );
    assert!(
        app.sim.group_adds("acc-grace").is_empty(),
        "grace was not restored"
    );
    assert!(app.sim.group_adds("acc-newbie").is_empty());
    // Both named, and both the same person's: restored.
    let body = json!({"type": "login.succeeded", "product": "jira-software", "occurred_at": now,
                      "user": {"email": "grace@example.com", "account_id": "acc-grace"}});
    assert_eq!(app.post_login_json(&body).await.status(), 202);
    app.wait_for_outcome("grace@example.com", "restored").await;
}

/// A server with short deadlines, for the slow-client tests.
fn short_deadlines(max_connections: usize) -> Options {
    Options {
        server_toml: format!(
            "header_timeout_secs = 1\nbody_timeout_secs = 1\nidle_timeout_secs = 2\n\
             max_connections = {max_connections}\n"
        ),
        ..Default::default()
    }
}

/// Opens a connection and writes `bytes` (possibly an unfinished request), then waits.
async fn open_with(app: &TestApp, bytes: &[u8]) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt;
    let addr = app.url.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream.write_all(bytes).await.expect("write");
    stream
}

/// What the server sends before it closes the connection (within 15 s), or `None` when it
/// keeps it open longer.
async fn until_closed(stream: &mut tokio::net::TcpStream) -> Option<String> {
    use tokio::io::AsyncReadExt;
    let mut got = Vec::new();
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(15),
        stream.read_to_end(&mut got),
    )
    .await;
    read.ok()
        .map(|_| String::from_utf8_lossy(&got).into_owned())
}

const PARTIAL_HEAD: &[u8] = b"POST /v1/hooks/login HTTP/1.1\r\nHost: x\r\nContent-Type: applic";
const PARTIAL_BODY: &[u8] =
    b"POST /v1/hooks/login HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"type\":";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_silent_clients_are_cut_off_while_health_and_logins_are_served() {
    let app = TestApp::start_with(BusMode::Embedded, short_deadlines(64)).await;
    assert_eq!(app.put_rules(standard_rules()).await.status(), 200);
    let mut slow = Vec::new();
    for _ in 0..15 {
        slow.push(("partial headers", open_with(&app, PARTIAL_HEAD).await));
        slow.push(("partial body", open_with(&app, PARTIAL_BODY).await));
        slow.push(("silent", open_with(&app, b"").await));
    }
    for _ in 0..5 {
        let r = app
            .http
            .get(format!("{}/healthz", app.url))
            .send()
            .await
            .expect("healthz");
        assert_eq!(r.status(), 200);
    }
    app.login_and_wait("grace@example.com", "jira-software", "restored")
        .await;
    for (what, stream) in &mut slow {
        let answer = until_closed(stream)
            .await
            .unwrap_or_else(|| panic!("a client with {what} was not cut off"));
        if *what == "partial body" {
            assert!(answer.starts_with("HTTP/1.1 408"), "{what}: {answer}");
            assert!(answer.contains("\"error\":\"body_timeout\""), "{answer}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_connection_limit_a_new_client_waits_for_a_slot_and_is_served() {
    let app = TestApp::start_with(BusMode::Embedded, short_deadlines(4)).await;
    let mut silent = Vec::new();
    for _ in 0..4 {
        silent.push(open_with(&app, b"").await);
    }
    // The four hold every slot until their header deadline; the fifth waits, then is served.
    let r = app
        .http
        .get(format!("{}/healthz", app.url))
        .send()
        .await
        .expect("healthz");
    assert_eq!(r.status(), 200);
    for stream in &mut silent {
        assert!(until_closed(stream).await.is_some(), "cut off");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn made_up_methods_share_one_label_and_oversized_headers_get_431() {
    let app = TestApp::start(BusMode::Embedded).await;
    for i in 0..200 {
        let method = reqwest::Method::from_bytes(format!("X{i}{}", "M".repeat(2000)).as_bytes())
            .expect("a token");
        let r = app
            .http
            .request(method, format!("{}/healthz", app.url))
            .send()
            .await
            .expect("request");
        assert_eq!(r.status(), 405);
    }
    let r = app
        .http
        .get(format!("{}/healthz", app.url))
        .header("x-padding", "p".repeat(20 * 1024))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 431);
    let metrics = app.metrics().await;
    assert!(!metrics.contains("MMMM"), "a made-up method became a label");
    let other = metrics
        .lines()
        .find(|l| l.starts_with("reinstate_http_requests_total{") && l.contains("method=\"other\""))
        .expect("a line for other methods");
    assert!(other.ends_with(" 200"), "{other}");
    assert!(
        metrics.len() < 64 * 1024,
        "{} bytes of metrics",
        metrics.len()
    );
}
