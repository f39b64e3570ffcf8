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
             poll_secs = 1\nadmin_api_url = \"{{SIM_URL}}\"\nrequests_per_minute = 600\n\
             action = \"login_success\"\n"
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
    app.sim.push_fault_on(
        "/admin/v1/orgs/org-1/events-stream",
        Fault::Status(401, None),
    );
    app.sim.push_fault_on(
        "/admin/v1/orgs/org-1/events-stream",
        Fault::Status(429, Some(1)),
    );
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
    let calls = app.sim.calls();
    let polls: Vec<&Call> = calls
        .iter()
        .filter(|c| c.path == "/admin/v1/orgs/org-1/events-stream")
        .collect();
    assert!(polls.len() >= 4, "polled {} times", polls.len());
    // After the first page, each poll goes on from the stream's cursor.
    assert!(
        polls.iter().skip(3).all(|c| c.query.contains("cursor=")),
        "{polls:?}"
    );
    // The configured action is not one the organisation lists: the log-in action was found by
    // its name ("Logged in to account"), once per start.
    let actions = calls
        .iter()
        .filter(|c| c.path == "/admin/v1/orgs/org-1/event-actions")
        .count();
    assert_eq!(actions, 2, "once before the restart, once after");
}

/// The first polls fail (the key refused while an administrator fixes it): a log-in made
/// meanwhile is still read, because a first start reads the stream from when polling began,
/// not from whenever a poll first succeeds.
#[tokio::test]
async fn a_log_in_while_the_first_audit_polls_fail_is_not_missed() {
    let options = Options {
        extra_toml: format!(
            "[sources.atlassian_audit]\norg_id = \"org-1\"\napi_key = \"{SIM_TOKEN}\"\n\
             poll_secs = 1\nadmin_api_url = \"{{SIM_URL}}\"\nrequests_per_minute = 600\n"
        ),
        faults_at_start: vec![
            (
                "/admin/v1/orgs/org-1/event-actions",
                Fault::Status(401, None),
            ),
            (
                "/admin/v1/orgs/org-1/events-stream",
                Fault::Status(401, None),
            ),
        ],
        ..Default::default()
    };
    let app = TestApp::start_with(BusMode::Embedded, options).await;
    assert_eq!(app.put_rules(standard_rules()).await.status(), 200);
    app.sim.push_audit_event(
        "ev-1",
        "user_logged_in",
        Some("grace@example.com"),
        "acc-grace",
    );
    let grace = app.wait_for_outcome("grace@example.com", "restored").await;
    assert_eq!(grace["event_id"], "atlassian:ev-1");
    let polls = app
        .sim
        .calls()
        .iter()
        .filter(|c| c.path == "/admin/v1/orgs/org-1/events-stream")
        .count();
    assert!(polls >= 2, "the refused poll was tried again: {polls}");
}

/// A fixture file of `tests/fixtures/`, as its sender sends it.
fn fixture(path: &str) -> Vec<u8> {
    let full = format!("{}/tests/fixtures/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
}

fn with_default_domain() -> Options {
    Options {
        extra_toml: "[identity]\ndefault_domain = \"example.com\"\n".into(),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn okta_documented_sample_and_a_delivery_with_unusable_events_each_event_on_its_own() {
    let app = TestApp::start_with(BusMode::Embedded, with_default_domain()).await;
    assert_eq!(app.put_rules(standard_rules()).await.status(), 200);
    let r = app
        .http
        .post(format!("{}/v1/hooks/okta", app.url))
        .header("authorization", OKTA_SECRET)
        .header("content-type", "application/json")
        .body(fixture("okta/event-hook-sample.json"))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<Value>().await.expect("json"),
        json!({"logins": 1, "leavers": 0, "unusable": 0, "skipped": 0})
    );
    let admin = app.wait_for_outcome("admin@okta.com", "unknown_user").await;
    assert_eq!(
        admin["event_id"],
        "okta:f1d0b993-cc19-11ed-a688-db22c99ef6c4"
    );

    // A login name, a login without an actor, one without a uuid, a failed one, and an
    // address: the usable ones act, the others are audited, and Okta is answered 200.
    let mut no_uuid = okta_login("x", "zed@example.com", "SUCCESS");
    no_uuid.as_object_mut().expect("object").remove("uuid");
    let mut no_actor = okta_login("22222222-0000-4000-8000-000000000002", "x", "SUCCESS");
    no_actor["actor"] = json!({"id": "00u2", "type": "User"});
    let batch = okta_batch(vec![
        okta_login("11111111-0000-4000-8000-000000000001", "grace", "SUCCESS"),
        no_actor,
        no_uuid,
        okta_login("33333333-0000-4000-8000-000000000003", "ivy", "FAILURE"),
        okta_login(
            "44444444-0000-4000-8000-000000000004",
            "ada@example.com",
            "SUCCESS",
        ),
    ]);
    let r = okta_post(&app, OKTA_SECRET, &batch).await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<Value>().await.expect("json"),
        json!({"logins": 2, "leavers": 0, "unusable": 2, "skipped": 1})
    );
    let grace = app.wait_for_outcome("grace@example.com", "restored").await;
    assert_eq!(grace["identity"], "grace", "{grace}");
    app.wait_for_outcome("ada@example.com", "already_licensed")
        .await;
    let unusable = app.wait_for_entries("unusable_event", 2).await;
    let mut reasons: Vec<&str> = unusable
        .iter()
        .map(|e| e["reason"].as_str().expect("reason"))
        .collect();
    reasons.sort();
    assert!(
        reasons[0].contains("data.events[1].actor.alternateId: missing"),
        "{reasons:?}"
    );
    assert!(reasons[1].contains("data.events[2].uuid"), "{reasons:?}");
    assert!(unusable.iter().any(|e| e["identity"] == "zed@example.com"));
    assert!(
        app.audit("zed@example.com").await.is_empty(),
        "nothing acted for zed"
    );
    // Okta redelivers: nothing is done twice, not even the audit of the unusable ones.
    assert_eq!(okta_post(&app, OKTA_SECRET, &batch).await.status(), 200);
    app.login_and_wait("linus@example.com", "jira-software", "unknown_user")
        .await;
    assert_eq!(app.audit_of("unusable_event").await.len(), 2);
    assert_eq!(app.sim.group_adds("acc-grace").len(), 1);
}

fn keycloak_sign_with(secret: &str, body: &[u8], sha1: bool) -> String {
    if sha1 {
        let mut mac = Hmac::<sha1::Sha1>::new_from_slice(secret.as_bytes()).expect("key");
        mac.update(body);
        hex::encode(mac.finalize().into_bytes())
    } else {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("key");
        mac.update(body);
        hex::encode(mac.finalize().into_bytes())
    }
}

async fn keycloak_post_raw(
    app: &TestApp,
    body: Vec<u8>,
    headers: &[(&str, String)],
) -> reqwest::Response {
    let mut r = app
        .http
        .post(format!("{}/v1/hooks/keycloak", app.url))
        .header("content-type", "application/json");
    for (name, value) in headers {
        r = r.header(*name, value);
    }
    r.body(body).send().await.expect("post")
}

/// p2-inc `keycloak-events`: its documented `access.LOGIN`, as is (username only, `uid`),
/// signed in hex; its HmacSHA1 option only where configured.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keycloak_p2_inc_documented_login_restores_by_username() {
    let app = TestApp::start_with(BusMode::Embedded, with_default_domain()).await;
    assert_eq!(app.put_rules(standard_rules()).await.status(), 200);
    app.sim.add_person("acc-johndoe", "johndoe@example.com");
    let body = fixture("keycloak/p2-inc-access-login.json");
    let sha1 = keycloak_sign_with(KEYCLOAK_SECRET, &body, true);
    let r = keycloak_post_raw(&app, body.clone(), &[("x-keycloak-signature", sha1)]).await;
    assert_eq!(r.status(), 401, "HmacSHA1 is not configured here");
    let sha256 = keycloak_sign_with(KEYCLOAK_SECRET, &body, false);
    let r = keycloak_post_raw(&app, body, &[("x-keycloak-signature", sha256)]).await;
    assert_eq!(r.status(), 202);
    assert_eq!(
        r.json::<Value>().await.expect("json")["id"],
        "keycloak:8d76de08-1c12-4d9a-bb86-fd1c602b2486"
    );
    let entry = app
        .wait_for_outcome("johndoe@example.com", "restored")
        .await;
    assert_eq!(entry["identity"], "johndoe");
    assert_eq!(entry["account_id"], "acc-johndoe");

    let sha1_app = TestApp::start_with(
        BusMode::Embedded,
        Options {
            keycloak_toml: "algorithm = \"HmacSHA1\"".into(),
            ..Default::default()
        },
    )
    .await;
    let body = fixture("keycloak/p2-inc-access-login.json");
    let sha1 = keycloak_sign_with(KEYCLOAK_SECRET, &body, true);
    let r = keycloak_post_raw(&sha1_app, body, &[("x-keycloak-signature", sha1)]).await;
    assert_eq!(r.status(), 202, "signed as configured");
    // No default domain there, a Cloud directory: the username matches nobody, and says so.
    let unknown = sha1_app.wait_for_entries("unknown_user", 1).await;
    assert_eq!(unknown[0]["identity"], "johndoe");
    let reason = unknown[0]["reason"].as_str().expect("reason");
    assert!(
        reason.contains("\"johndoe\"") && reason.contains("identity.default_domain is not set"),
        "{reason}"
    );
}

const VYMALO_TOKEN: &str = "vymalo-shared-token-0123";
const VYMALO_BASIC: &str = "reinstate:vymalo-basic-password";

/// vymalo `keycloak-webhook` cannot sign: opt-in shared tokens (Bearer, Basic, `X-API-KEY`).
/// On Data Center the username resolves through the inventory, else the directory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keycloak_vymalo_with_shared_tokens_resolves_usernames_on_data_center() {
    let app = TestApp::start_with(
        BusMode::Embedded,
        Options {
            directory_kind: "jira-data-center",
            keycloak_toml: format!("tokens = [\"{VYMALO_TOKEN}\", \"{VYMALO_BASIC}\"]"),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(app.put_rules(standard_rules()).await.status(), 200);
    app.sim.add_person("jdoe", "jdoe@example.com");
    app.sync_inventory().await;
    app.sim.add_person("jroe", "jroe@example.com");
    let body = fixture("keycloak/vymalo-login.json");
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(VYMALO_BASIC)
    );
    for wrong in [
        vec![("authorization", "Bearer not-the-token-0123".to_string())],
        vec![("x-api-key", format!("{VYMALO_TOKEN}x"))],
        vec![],
    ] {
        let r = keycloak_post_raw(&app, body.clone(), &wrong).await;
        assert_eq!(r.status(), 401, "{wrong:?}");
        let e: Value = r.json().await.expect("json");
        assert_eq!(e["error"], "invalid_credentials");
    }
    let before = app.sim.calls().len();
    let r = keycloak_post_raw(&app, body.clone(), &[("authorization", basic)]).await;
    assert_eq!(r.status(), 202);
    let jdoe = app.wait_for_outcome("jdoe@example.com", "restored").await;
    assert_eq!(
        (jdoe["identity"].as_str(), jdoe["account_id"].as_str()),
        (Some("jdoe"), Some("jdoe"))
    );
    let asked: Vec<_> = app.sim.calls()[before..]
        .iter()
        .filter(|c| c.path == "/rest/api/2/user")
        .map(|c| c.query.clone())
        .collect();
    assert!(asked.is_empty(), "the inventory knew jdoe: {asked:?}");

    // jroe came after the sync: Data Center finds the username itself.
    let mut jroe: Value = serde_json::from_slice(&body).expect("json");
    jroe["id"] = json!("1f2b9e64-4c2d-4a7e-9a55-6f0d3a1c8e22");
    jroe["details"]["username"] = json!("jroe");
    let jroe = serde_json::to_vec(&jroe).expect("json");
    for headers in [
        vec![("authorization", format!("Bearer {VYMALO_TOKEN}"))],
        vec![("x-api-key", VYMALO_TOKEN.to_string())],
    ] {
        let r = keycloak_post_raw(&app, jroe.clone(), &headers).await;
        assert_eq!(r.status(), 202, "{headers:?}");
    }
    let entry = app.wait_for_outcome("jroe@example.com", "restored").await;
    assert_eq!(entry["identity"], "jroe");
    assert!(
        app.sim
            .calls()
            .iter()
            .any(|c| c.path == "/rest/api/2/user" && c.query.contains("username=jroe")),
        "Data Center was asked for jroe"
    );
    assert_eq!(
        app.sim.group_adds_dc("jroe"),
        1,
        "the same login twice acts once"
    );
}
