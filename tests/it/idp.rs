//! Identity providers: Okta Event Hooks and Keycloak webhooks, in their senders' shapes.

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
