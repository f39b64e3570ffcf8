//! Every answer of `POST /v1/hooks/login`, and that only accepted events reach the directory.

use std::time::Duration;

use serde_json::Value;

use crate::both_buses;
use crate::support::*;

async fn error_of(r: reqwest::Response) -> (u16, String, String) {
    let status = r.status().as_u16();
    let v: Value = r.json().await.expect("error body is JSON");
    (
        status,
        v["error"].as_str().unwrap_or_default().into(),
        v["detail"].as_str().unwrap_or_default().into(),
    )
}

/// After a rejected request, a valid one for another user is processed; the rejected user
/// never reached the directory.
async fn assert_nothing_reached_directory_for(app: &TestApp, account_id: &str, email: &str) {
    app.login_and_wait("grace@example.com", "jira-software", "restored")
        .await;
    assert!(
        app.sim.group_adds(account_id).is_empty(),
        "directory was asked to add {account_id}"
    );
    assert!(
        app.audit(email).await.is_empty(),
        "rejected request left an audit entry"
    );
}

async fn bad_signature_is_rejected_and_restores_nothing(mode: BusMode) {
    let app = TestApp::start(mode).await;
    assert_eq!(app.put_rules(standard_rules()).await.status(), 200);
    let body = login_body("zed@example.com", Some("jira-software"));
    let other = "whsec_dGhpcyBpcyBub3QgdGhlIHNlY3JldCB0aGV5IGNvbmZpZ3VyZWQ=";
    let (status, code, _) =
        error_of(app.post_signed(other, &new_id(), body.clone(), 0).await).await;
    assert_eq!((status, code.as_str()), (401, "invalid_signature"));
    // A body changed after signing fails too: the signature covers the raw bytes.
    let id = new_id();
    let ts = time::OffsetDateTime::now_utc().unix_timestamp();
    let sig = reinstate::sources::signature::WebhookSecret::parse(SECRET_A)
        .expect("secret")
        .sign(&id, ts, &body);
    let mut tampered = body.clone();
    tampered.push(b' ');
    let r = app
        .post_login_raw(
            tampered,
            &[
                ("webhook-id", id),
                ("webhook-timestamp", ts.to_string()),
                ("webhook-signature", sig),
            ],
        )
        .await;
    assert_eq!(r.status(), 401);
    // Verified before parsing: garbage with a bad signature is a 401, not a 400.
    let r = app
        .post_signed(other, &new_id(), b"{not json".to_vec(), 0)
        .await;
    assert_eq!(r.status(), 401);
    let (status, code, detail) = error_of(app.post_login_raw(body, &[]).await).await;
    assert_eq!((status, code.as_str()), (401, "missing_signature"));
    assert!(detail.contains("webhook-id"), "{detail}");
    assert_nothing_reached_directory_for(&app, "acc-zed", "zed@example.com").await;
}
both_buses!(bad_signature_is_rejected_and_restores_nothing);

async fn timestamp_outside_five_minutes_is_rejected(mode: BusMode) {
    let app = TestApp::start(mode).await;
    assert_eq!(app.put_rules(standard_rules()).await.status(), 200);
    for skew in [-301, 301] {
        let r = app
            .post_signed(
                SECRET_A,
                &new_id(),
                login_body("zed@example.com", Some("jira-software")),
                skew,
            )
            .await;
        let (status, code, _) = error_of(r).await;
        assert_eq!(
            (status, code.as_str()),
            (401, "timestamp_out_of_tolerance"),
            "skew {skew}"
        );
    }
    assert_nothing_reached_directory_for(&app, "acc-zed", "zed@example.com").await;
}
both_buses!(timestamp_outside_five_minutes_is_rejected);

async fn either_rotated_secret_is_accepted(mode: BusMode) {
    let app = TestApp::start(mode).await;
    assert_eq!(app.put_rules(standard_rules()).await.status(), 200);
    let r = app
        .post_signed(
            SECRET_B,
            &new_id(),
            login_body("grace@example.com", Some("jira-software")),
            0,
        )
        .await;
    assert_eq!(r.status(), 202);
    app.wait_for_outcome("grace@example.com", "restored").await;
    let r = app
        .post_signed(
            SECRET_A,
            &new_id(),
            login_body("zed@example.com", Some("jira-software")),
            0,
        )
        .await;
    assert_eq!(r.status(), 202);
    app.wait_for_outcome("zed@example.com", "restored").await;
}
both_buses!(either_rotated_secret_is_accepted);

/// Svix, the most common Standard Webhooks sender, names the headers `svix-*` by default.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn svix_headers_are_accepted_with_the_same_rules() {
    let app = TestApp::start(BusMode::Embedded).await;
    assert_eq!(app.put_rules(standard_rules()).await.status(), 200);
    let secret = reinstate::sources::signature::WebhookSecret::parse(SECRET_B).expect("secret");
    let svix =
        |id: &str, ts: i64, body: &[u8], key: &reinstate::sources::signature::WebhookSecret| {
            vec![
                ("svix-id", id.to_string()),
                ("svix-timestamp", ts.to_string()),
                ("svix-signature", key.sign(id, ts, body)),
            ]
        };
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let zed = login_body("zed@example.com", Some("jira-software"));
    let other = reinstate::sources::signature::WebhookSecret::parse(
        "whsec_dGhpcyBpcyBub3QgdGhlIHNlY3JldCB0aGV5IGNvbmZpZ3VyZWQ=",
    )
    .expect("secret");
    let forged = app
        .post_login_raw(zed.clone(), &svix(&new_id(), now, &zed, &other))
        .await;
    assert_eq!(error_of(forged).await.1, "invalid_signature");
    let late = app
        .post_login_raw(zed.clone(), &svix(&new_id(), now - 301, &zed, &secret))
        .await;
    assert_eq!(error_of(late).await.1, "timestamp_out_of_tolerance");
    let body = login_body("grace@example.com", Some("jira-software"));
    let r = app
        .post_login_raw(body.clone(), &svix("msg_svix1", now, &body, &secret))
        .await;
    assert_eq!(r.status(), 202);
    assert_eq!(
        r.json::<Value>().await.expect("json")["id"],
        "login:msg_svix1"
    );
    app.wait_for_outcome("grace@example.com", "restored").await;
    assert!(app.audit("zed@example.com").await.is_empty());
}

async fn malformed_bodies_get_400_naming_the_field(mode: BusMode) {
    let app = TestApp::start(mode).await;
    assert_eq!(app.put_rules(standard_rules()).await.status(), 200);
    let cases: &[(&str, &str)] = &[
        ("{", "body"),
        (
            r#"{"type":"login.succeeded","user":{"email":"zed@example.com"},"product":"bamboo","occurred_at":"2026-11-22T09:00:00Z"}"#,
            "product",
        ),
        (
            r#"{"type":"login.succeeded","user":{"email":"not-an-email"},"occurred_at":"2026-11-22T09:00:00Z"}"#,
            "user.email",
        ),
        (
            r#"{"type":"login.succeeded","user":{"email":"zed@example.com"},"occurred_at":"last tuesday"}"#,
            "occurred_at",
        ),
        (
            r#"{"type":"logout","user":{"email":"zed@example.com"},"occurred_at":"2026-11-22T09:00:00Z"}"#,
            "type",
        ),
    ];
    for (body, field) in cases {
        let r = app
            .post_signed(SECRET_A, &new_id(), body.as_bytes().to_vec(), 0)
            .await;
        let (status, code, detail) = error_of(r).await;
        assert_eq!((status, code.as_str()), (400, "invalid_event"), "{body}");
        assert!(
            detail.starts_with(field),
            "detail {detail:?} should name {field}"
        );
    }
    assert_nothing_reached_directory_for(&app, "acc-zed", "zed@example.com").await;
}
both_buses!(malformed_bodies_get_400_naming_the_field);

async fn bodies_over_64_kib_get_413(mode: BusMode) {
    let app = TestApp::start(mode).await;
    let mut body = login_body("zed@example.com", None);
    body.truncate(body.len() - 1);
    body.extend_from_slice(format!(r#","pad":"{}"}}"#, "x".repeat(70 * 1024)).as_bytes());
    let (status, code, _) = error_of(app.post_signed(SECRET_A, &new_id(), body, 0).await).await;
    assert_eq!((status, code.as_str()), (413, "body_too_large"));
    assert!(app.sim.calls().is_empty());
}
both_buses!(bodies_over_64_kib_get_413);

async fn a_repeated_webhook_id_is_accepted_and_acts_once(mode: BusMode) {
    let app = TestApp::start(mode).await;
    assert_eq!(app.put_rules(standard_rules()).await.status(), 200);
    let id = new_id();
    let body = login_body("grace@example.com", Some("jira-software"));
    let first = app.post_signed(SECRET_A, &id, body.clone(), 0).await;
    assert_eq!(first.status(), 202);
    // Immediately (inside the bus's duplicate window) and after handling (sled's record).
    let again: Value = app
        .post_signed(SECRET_A, &id, body.clone(), 0)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(again["status"], "duplicate");
    app.wait_for_outcome("grace@example.com", "restored").await;
    let later = app.post_signed(SECRET_A, &id, body, 0).await;
    assert_eq!(later.status(), 202);
    // Let the worker catch up on anything it might still do, then count.
    app.login_and_wait("zed@example.com", "jira-software", "restored")
        .await;
    assert_eq!(app.sim.group_adds("acc-grace").len(), 1);
    assert_eq!(app.audit("grace@example.com").await.len(), 1);
}
both_buses!(a_repeated_webhook_id_is_accepted_and_acts_once);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_unavailable_answers_503_and_loses_nothing_accepted() {
    let mut app = TestApp::start(BusMode::Nats).await;
    assert_eq!(app.put_rules(standard_rules()).await.status(), 200);
    assert_eq!(
        app.login("grace@example.com", Some("jira-software"))
            .await
            .status(),
        202
    );
    app.nats.as_mut().expect("nats").stop();
    let body = login_body("zed@example.com", Some("jira-software"));
    let id = new_id();
    let r = app.post_signed(SECRET_A, &id, body.clone(), 0).await;
    assert_eq!(r.status(), 503);
    assert!(r.headers().contains_key("retry-after"));
    let v: Value = r.json().await.expect("json");
    assert_eq!(v["error"], "unavailable");
    let ready = app
        .http
        .get(format!("{}/readyz", app.url))
        .send()
        .await
        .expect("readyz");
    assert_eq!(ready.status(), 503);
    app.nats.as_mut().expect("nats").restart();
    // The sender retries, as Standard Webhooks senders do, until accepted.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let r = app.post_signed(SECRET_A, &id, body.clone(), 0).await;
        if r.status() == 202 {
            break;
        }
        assert_eq!(r.status(), 503);
        assert!(
            std::time::Instant::now() < deadline,
            "reinstate did not recover after NATS came back"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    app.wait_for_outcome("grace@example.com", "restored").await;
    app.wait_for_outcome("zed@example.com", "restored").await;
    assert_eq!(app.sim.group_adds("acc-zed").len(), 1);
    assert_eq!(app.sim.group_adds("acc-grace").len(), 1);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn started_while_nats_is_down_it_is_not_ready_then_recovers_by_itself() {
    let options = Options {
        nats_down_at_start: true,
        ..Default::default()
    };
    let mut app = TestApp::start_with(BusMode::Nats, options).await;
    let ready = app
        .http
        .get(format!("{}/readyz", app.url))
        .send()
        .await
        .expect("readyz");
    assert_eq!(ready.status(), 503);
    let v: Value = ready.json().await.expect("json");
    assert_eq!(v["error"], "not_ready");
    assert!(
        v["detail"].as_str().expect("detail").starts_with("bus:"),
        "{v}"
    );
    let r = app.login("grace@example.com", Some("jira-software")).await;
    assert_eq!(r.status(), 503);
    app.nats.as_mut().expect("nats").restart();
    app.wait_ready().await;
    assert_eq!(app.put_rules(standard_rules()).await.status(), 200);
    app.login_and_wait("grace@example.com", "jira-software", "restored")
        .await;
    app.stop().await;
}
