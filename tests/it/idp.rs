//! Identity providers: Okta Event Hooks and Keycloak webhooks, in their senders' shapes.

use std::time::Duration;

use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::support::*;

fn okta_batch(events: Vec<Value>) -> Value {
    json!({"eventType": "com.okta.event_hook", "eventTypeVersion": "1.0", "cloudEventsVersion": "0.1",
           "eventId": "b5a188b9-5ece-4636-b041-482ffda96311", "data": {"events": events}})
}

fn okta_login(uuid: &str, who: &str, result: &str) -> Value {
    json!({"uuid": uuid, "published": "2026-11-22T09:00:00.000Z", "eventType": "user.session.start",
           "displayMessage": "User login to Okta", "actor": {"id": "00u1", "type": "User", "alternateId": who},
           "outcome": {"result": result}})
}

async fn okta_post(app: &TestApp, secret: &str, body: &Value) -> reqwest::Response {
    app.http
        .post(format!("{}/v1/hooks/okta", app.url))
        .header("authorization", secret)
        .json(body)
        .send()
        .await
        .expect("post")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn okta_verification_and_batches_of_logins_act_once_per_event() {
    let app = TestApp::start(BusMode::Embedded).await;
    assert_eq!(app.put_rules(standard_rules()).await.status(), 200);
    let url = format!("{}/v1/hooks/okta", app.url);
    let v: Value = app
        .http
        .get(&url)
        .header("authorization", OKTA_SECRET)
        .header("x-okta-verification-challenge", "We_ZjF2_1VHAT5TZ")
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(v, json!({"verification": "We_ZjF2_1VHAT5TZ"}));
    let r = app
        .http
        .get(&url)
        .header("x-okta-verification-challenge", "x")
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 401);

    let batch = okta_batch(vec![
        okta_login(
            "f790999f-fe87-467a-9880-6982a583986c",
            "grace@example.com",
            "SUCCESS",
        ),
        okta_login(
            "11111111-fe87-467a-9880-6982a583986c",
            "zed@example.com",
            "FAILURE",
        ),
    ]);
    let r = okta_post(&app, OKTA_SECRET, &batch).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.expect("json")["logins"], 1);
    let entry = app.wait_for_outcome("grace@example.com", "restored").await;
    assert_eq!(entry["source"], "okta");
    // Okta retries a delivery it thinks failed: the same uuid acts once.
    assert_eq!(okta_post(&app, OKTA_SECRET, &batch).await.status(), 200);
    assert_eq!(okta_post(&app, "wrong-secret", &batch).await.status(), 401);
    app.login_and_wait("ada@example.com", "jira-software", "already_licensed")
        .await;
    assert_eq!(app.sim.group_adds("acc-grace").len(), 1);
    assert!(
        app.audit("zed@example.com").await.is_empty(),
        "a failed login restores nothing"
    );
}

fn keycloak_sign(body: &[u8], base64: bool) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(KEYCLOAK_SECRET.as_bytes()).expect("key");
    mac.update(body);
    let tag = mac.finalize().into_bytes();
    if base64 {
        base64::engine::general_purpose::STANDARD.encode(tag)
    } else {
        hex::encode(tag)
    }
}

async fn keycloak_post(
    app: &TestApp,
    body: &Value,
    signature: Option<String>,
) -> reqwest::Response {
    let bytes = serde_json::to_vec(body).expect("json");
    let mut r = app
        .http
        .post(format!("{}/v1/hooks/keycloak", app.url))
        .header("content-type", "application/json");
    if let Some(s) = signature {
        r = r.header("x-keycloak-signature", s);
    }
    r.body(bytes).send().await.expect("post")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keycloak_logins_signed_in_hex_or_base64_restore_and_forgeries_change_nothing() {
    let app = TestApp::start(BusMode::Embedded).await;
    assert_eq!(app.put_rules(standard_rules()).await.status(), 200);
    let grace = json!({"id": "e-1", "time": 1795338000000i64, "type": "LOGIN", "realmId": "corp", "clientId": "jira",
                       "userId": "u-grace", "details": {"auth_method": "openid-connect", "username": "grace@example.com"}});
    let signature = keycloak_sign(&serde_json::to_vec(&grace).expect("json"), false);
    assert_eq!(
        keycloak_post(&app, &grace, Some(signature)).await.status(),
        202
    );
    let entry = app.wait_for_outcome("grace@example.com", "restored").await;
    assert_eq!(entry["source"], "keycloak");

    let zed = json!({"id": "e-2", "type": "LOGIN", "userId": "u-zed", "details": {"username": "zed", "email": "zed@example.com"}});
    let signature = keycloak_sign(&serde_json::to_vec(&zed).expect("json"), true);
    assert_eq!(
        keycloak_post(&app, &zed, Some(signature)).await.status(),
        202
    );
    app.wait_for_outcome("zed@example.com", "restored").await;

    let bob =
        json!({"id": "e-3", "type": "LOGIN", "details": {"email": "bob@contractor.example.net"}});
    assert_eq!(
        keycloak_post(&app, &bob, Some(keycloak_sign(b"something else", false)))
            .await
            .status(),
        401
    );
    assert_eq!(keycloak_post(&app, &bob, None).await.status(), 401);
    let logout =
        json!({"id": "e-4", "type": "LOGOUT", "details": {"email": "bob@contractor.example.net"}});
    let r = keycloak_post(
        &app,
        &logout,
        Some(keycloak_sign(
            &serde_json::to_vec(&logout).expect("json"),
            false,
        )),
    )
    .await;
    assert_eq!(r.status(), 202);
    assert_eq!(r.json::<Value>().await.expect("json")["status"], "ignored");
    app.login_and_wait("ada@example.com", "jira-software", "already_licensed")
        .await;
    assert!(app.audit("bob@contractor.example.net").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_login_reported_by_two_sources_acts_once() {
    let app = TestApp::start(BusMode::Nats).await;
    assert_eq!(app.put_rules(standard_rules()).await.status(), 200);
    let now = time::OffsetDateTime::now_utc();
    // The generic webhook and Keycloak report one login, a second apart, at the same moment.
    let generic = login_body("grace@example.com", Some("jira-software"));
    let keycloak = json!({"id": "e-9", "type": "LOGIN", "time": (now.unix_timestamp_nanos() / 1_000_000) as i64 + 1000,
                          "details": {"email": "grace@example.com"}});
    let signature = keycloak_sign(&serde_json::to_vec(&keycloak).expect("json"), false);
    let id = new_id();
    let (a, b) = tokio::join!(
        app.post_signed(SECRET_A, &id, generic, 0),
        keycloak_post(&app, &keycloak, Some(signature))
    );
    assert_eq!(
        (a.status(), b.status()),
        (reqwest::StatusCode::ACCEPTED, reqwest::StatusCode::ACCEPTED)
    );
    app.wait_for_outcome("grace@example.com", "restored").await;
    let duplicate = app
        .wait_for_outcome("grace@example.com", "duplicate_login")
        .await;
    assert!(
        duplicate["reason"]
            .as_str()
            .expect("reason")
            .contains("already handled"),
        "{duplicate}"
    );
    assert_eq!(app.sim.group_adds("acc-grace").len(), 1);
}

/// The organisation audit log as a login source: log-ins are polled, published once each, and
/// the position survives a restart (nothing missed, nothing repeated).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn atlassian_audit_log_ins_are_polled_once_each_across_a_restart() {
    let options = Options {
        extra_toml: format!(
            "[sources.atlassian_audit]\norg_id = \"org-1\"\napi_key = \"{SIM_TOKEN}\"\n\
             poll_secs = 1\nadmin_api_url = \"{{SIM_URL}}\"\n"
        ),
        ..Default::default()
    };
    let mut app = TestApp::start_with(BusMode::Embedded, options).await;
    assert_eq!(app.put_rules(standard_rules()).await.status(), 200);
    // Three pages' worth, with noise: another action, an actor without an email.
    app.sim.push_audit_event(
        "ev-1",
        "user_logged_in",
        Some("grace@example.com"),
        "acc-grace",
    );
    app.sim
        .push_audit_event("ev-2", "group_created", Some("zed@example.com"), "acc-zed");
    app.sim
        .push_audit_event("ev-3", "user_logged_in", None, "acc-ivy");
    app.sim
        .push_audit_event("ev-4", "user_logged_in", Some("zed@example.com"), "acc-zed");
    // A rejected key is logged and the next poll tries again; a 429 is waited out.
    app.sim
        .push_fault_on("/admin/v1/orgs/org-1/events", Fault::Status(401, None));
    app.sim
        .push_fault_on("/admin/v1/orgs/org-1/events", Fault::Status(429, Some(1)));
    let grace = app.wait_for_outcome("grace@example.com", "restored").await;
    assert_eq!(grace["source"], "atlassian");
    assert_eq!(grace["event_id"], "atlassian:ev-1");
    app.wait_for_outcome("zed@example.com", "restored").await;
    // Several polls later, and after a restart, nothing is published again.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    // A log-in while reinstate is down is picked up after the restart (the saved position,
    // not "now", is where polling resumes).
    app.stop().await;
    app.sim
        .push_audit_event("ev-5", "user_logged_in", Some("ada@example.com"), "acc-ada");
    tokio::time::sleep(Duration::from_millis(50)).await;
    app.restart().await;
    app.wait_for_outcome("ada@example.com", "already_licensed")
        .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // One audit entry per product decided, all from the one event.
    for email in ["grace@example.com", "zed@example.com"] {
        let audit = app.audit(email).await;
        let mut products: Vec<_> = audit.iter().map(|e| e["product"].to_string()).collect();
        products.sort();
        products.dedup();
        assert_eq!(
            products.len(),
            audit.len(),
            "{email} handled once: {audit:#?}"
        );
        assert!(audit.iter().all(|e| e["event_id"] == audit[0]["event_id"]));
    }
    assert_eq!(app.sim.group_adds("acc-grace").len(), 1);
    assert!(app.audit("ivy@example.com").await.is_empty());
    let polls = app
        .sim
        .calls()
        .iter()
        .filter(|c| c.path == "/admin/v1/orgs/org-1/events")
        .count();
    assert!(polls >= 4, "polled {polls} times");
}
