//! Jira Service Management requests: signed webhooks, rules that restore at once (with a
//! comment and a transition), JSM approvals and declines, forged and replayed deliveries.

use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::support::*;

fn request(status: &str, email: &str) -> Value {
    json!({"key": "HELP-7", "fields": {
        "reporter": {"accountId": "acc-zed", "emailAddress": email},
        "status": {"id": status},
        "customfield_10010": {"requestType": {"id": "25"}}}})
}

fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

async fn deliver(
    app: &TestApp,
    body: &Value,
    identifier: Option<&str>,
    secret: &str,
) -> reqwest::Response {
    // Jira and Automation bodies carry the time they were sent.
    let mut body = body.clone();
    if body.get("timestamp").is_none() {
        body["timestamp"] = json!(now_ms());
    }
    let bytes = serde_json::to_vec(&body).expect("json");
    let mut r = app
        .http
        .post(format!("{}/v1/hooks/jira", app.url))
        .header("content-type", "application/json")
        .header("x-hub-signature", sign(secret, &bytes))
        .body(bytes);
    if let Some(id) = identifier {
        r = r.header("x-atlassian-webhook-identifier", id);
    }
    r.send().await.expect("post")
}

fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

fn jsm_calls(app: &TestApp) -> Vec<String> {
    app.sim
        .calls()
        .into_iter()
        .filter(|c| c.path.contains("servicedeskapi") || c.path.contains("/issue/"))
        .map(|c| format!("{} {}", c.path, c.body))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_the_rules_restore_is_restored_then_commented_and_transitioned() {
    let app = TestApp::start(BusMode::Embedded).await;
    let rules = json!({"rules": [{"name": "jsm staff", "when": {"sources": ["jsm"], "domains": ["example.com"], "products": ["jira-software"]}, "then": "restore"}]});
    assert_eq!(app.put_rules(rules).await.status(), 200);
    let created =
        json!({"webhookEvent": "jira:issue_created", "issue": request("1", "zed@example.com")});
    assert_eq!(
        deliver(&app, &created, Some("d-1"), JSM_SECRET)
            .await
            .status(),
        202
    );
    let entry = app.wait_for_outcome("zed@example.com", "restored").await;
    assert_eq!(
        (entry["source"].as_str(), entry["rule"].as_str()),
        (Some("jsm"), Some("jsm staff"))
    );
    assert!(
        entry["reason"]
            .as_str()
            .expect("reason")
            .contains("answered on HELP-7"),
        "{entry}"
    );
    assert_eq!(app.sim.group_adds("acc-zed").len(), 1);
    let calls = jsm_calls(&app);
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert!(
        calls[0].starts_with("/rest/servicedeskapi/request/HELP-7/comment")
            && calls[0].contains("\"public\":true"),
        "{calls:?}"
    );
    assert!(
        calls[1].starts_with("/rest/api/3/issue/HELP-7/transitions") && calls[1].contains("\"31\""),
        "{calls:?}"
    );
    // A replayed delivery is accepted and does nothing more.
    assert_eq!(
        deliver(&app, &created, Some("d-1"), JSM_SECRET)
            .await
            .status(),
        202
    );
    app.login_and_wait("grace@example.com", "jira-software", "approval_required")
        .await;
    assert_eq!(app.sim.group_adds("acc-zed").len(), 1);
    assert_eq!(jsm_calls(&app).len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_left_to_jsm_approval_is_restored_when_approved_and_not_when_declined() {
    let app = TestApp::start(BusMode::Embedded).await;
    // No rule: the request waits for the JSM approval.
    let created =
        json!({"webhookEvent": "jira:issue_created", "issue": request("1", "zed@example.com")});
    assert_eq!(
        deliver(&app, &created, Some("d-1"), JSM_SECRET)
            .await
            .status(),
        202
    );
    app.wait_for_outcome("zed@example.com", "approval_required")
        .await;
    assert!(
        jsm_calls(&app).is_empty(),
        "nothing is said on the issue while it waits"
    );
    // Automation's "send web request": no webhookEvent, no identifier.
    let approved = json!({"event": "status_changed", "issue": request("10001", "zed@example.com")});
    assert_eq!(
        deliver(&app, &approved, None, JSM_SECRET).await.status(),
        202
    );
    let entry = app.wait_for_outcome("zed@example.com", "restored").await;
    assert!(
        entry["reason"]
            .as_str()
            .expect("reason")
            .contains("approved in Jira Service Management (HELP-7)"),
        "{entry}"
    );
    assert_eq!(app.sim.group_adds("acc-zed").len(), 1);
    assert_eq!(
        jsm_calls(&app).len(),
        1,
        "a comment; the approver already moved the issue"
    );

    let declined = json!({"webhookEvent": "jira:issue_updated", "issue": request("10002", "bob@contractor.example.net"),
                          "changelog": {"items": [{"field": "status", "to": "10002"}]}});
    assert_eq!(
        deliver(&app, &declined, Some("d-9"), JSM_SECRET)
            .await
            .status(),
        202
    );
    let entry = app
        .wait_for_outcome("bob@contractor.example.net", "denied")
        .await;
    assert!(
        entry["reason"]
            .as_str()
            .expect("reason")
            .contains("declined"),
        "{entry}"
    );
    assert!(app.sim.group_adds("acc-bob").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_unsigned_and_unrelated_deliveries_change_nothing() {
    let app = TestApp::start(BusMode::Embedded).await;
    assert_eq!(
        app.put_rules(json!({"rules": [{"name": "all", "then": "restore"}]}))
            .await
            .status(),
        200
    );
    let created =
        json!({"webhookEvent": "jira:issue_created", "issue": request("1", "zed@example.com")});
    let r = deliver(&app, &created, Some("d-1"), "not-the-secret-0123456789").await;
    assert_eq!(r.status(), 401);
    let v: Value = r.json().await.expect("json");
    assert_eq!(v["error"], "invalid_signature");
    let unsigned = app
        .http
        .post(format!("{}/v1/hooks/jira", app.url))
        .body(serde_json::to_vec(&created).expect("json"))
        .send()
        .await
        .expect("post");
    assert_eq!(unsigned.status(), 401);
    let mut other_type = created.clone();
    other_type["issue"]["fields"]["customfield_10010"]["requestType"]["id"] = json!("99");
    let r = deliver(&app, &other_type, Some("d-2"), JSM_SECRET).await;
    assert_eq!(r.status(), 202);
    assert_eq!(r.json::<Value>().await.expect("json")["status"], "ignored");
    let mut keyless = created.clone();
    keyless["issue"]
        .as_object_mut()
        .expect("issue")
        .remove("key");
    let r = deliver(&app, &keyless, Some("d-3"), JSM_SECRET).await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.expect("text").contains("issue.key"));
    app.login_and_wait("grace@example.com", "jira-software", "restored")
        .await;
    assert!(app.audit("zed@example.com").await.is_empty());
    assert!(app.sim.group_adds("acc-zed").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_a_delivery_lacks_is_read_from_the_service_management_api() {
    let app = TestApp::start(BusMode::Embedded).await;
    let rules =
        json!({"rules": [{"name": "jsm staff", "when": {"sources": ["jsm"]}, "then": "approve"}]});
    assert_eq!(app.put_rules(rules).await.status(), 200);
    // An Automation body with nothing but the key.
    let created = json!({"event": "created", "issue": {"key": "HELP-7"}});
    assert_eq!(
        deliver(&app, &created, None, JSM_SECRET).await.status(),
        202
    );
    app.wait_for_outcome("zed@example.com", "approval_required")
        .await;
    assert!(
        app.sim
            .calls()
            .iter()
            .any(|c| c.path == "/rest/servicedeskapi/request/HELP-7")
    );
    // The status change says nothing either: the approval's decision is read.
    app.sim.set_jsm_approval("approved");
    let changed = json!({"event": "status_changed", "issue": {"key": "HELP-7"}});
    assert_eq!(
        deliver(&app, &changed, None, JSM_SECRET).await.status(),
        202
    );
    app.wait_for_outcome("zed@example.com", "restored").await;
    assert!(
        app.sim
            .calls()
            .iter()
            .any(|c| c.path == "/rest/servicedeskapi/request/HELP-7/approval")
    );
    assert_eq!(app.sim.group_adds("acc-zed").len(), 1);
    // When Jira cannot be read, the delivery is still accepted — it is on the bus, and the
    // receiver calls nothing — and the worker reads the request again, with backoff, until Jira
    // answers.
    app.sim.set_down(true);
    let other = json!({"event": "created", "issue": {"key": "HELP-8"}});
    assert_eq!(deliver(&app, &other, None, JSM_SECRET).await.status(), 202);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    app.sim.set_down(false);
    app.wait_for_outcome("zed@example.com", "already_licensed")
        .await;
}

/// The waiting requests, as `product issue` (`-` without one), sorted.
async fn pending(app: &TestApp) -> Vec<String> {
    let v = app
        .admin_get("/api/v1/requests?state=pending_approval")
        .await;
    let mut products: Vec<String> = v["requests"]
        .as_array()
        .expect("requests")
        .iter()
        .map(|r| {
            let product = r["product"].as_str().unwrap_or_default();
            format!("{product} {}", r["issue"].as_str().unwrap_or("-"))
        })
        .collect();
    products.sort();
    products
}

/// The same signed bytes sent again under a new identifier are the same delivery; an old
/// delivery is refused; a decline settles only the request its issue opened.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replays_under_new_identifiers_change_nothing_and_a_decline_names_its_request() {
    let app = TestApp::start(BusMode::Embedded).await;
    let rules = json!({"rules": [{"name": "service desk waits", "when": {"products": ["jira-servicedesk"]}, "then": "approve"}]});
    assert_eq!(app.put_rules(rules).await.status(), 200);
    // Two waiting requests of zed: Service Management through a login, Jira Software in HELP-7.
    app.login_and_wait("zed@example.com", "jira-servicedesk", "approval_required")
        .await;
    let created = json!({"timestamp": now_ms(), "webhookEvent": "jira:issue_created",
                         "issue": request("1", "zed@example.com")});
    assert_eq!(
        deliver(&app, &created, Some("d-1"), JSM_SECRET)
            .await
            .status(),
        202
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while pending(&app).await.len() < 2 {
        assert!(std::time::Instant::now() < deadline, "two requests wait");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(
        pending(&app).await,
        ["jira-servicedesk -", "jira-software HELP-7"]
    );

    // A decline two hours old, however it is labelled, is refused.
    let old = json!({"timestamp": now_ms() - 2 * 3600 * 1000, "webhookEvent": "jira:issue_updated",
                     "issue": request("10002", "zed@example.com"),
                     "changelog": {"items": [{"field": "status", "to": "10002"}]}});
    let r = deliver(&app, &old, Some("d-new"), JSM_SECRET).await;
    assert_eq!(r.status(), 401);
    assert_eq!(
        r.json::<Value>().await.expect("json")["error"],
        "timestamp_out_of_tolerance"
    );
    // A fresh decline of HELP-7 denies HELP-7's request only.
    let mut declined = old.clone();
    declined["timestamp"] = json!(now_ms());
    assert_eq!(
        deliver(&app, &declined, Some("d-2"), JSM_SECRET)
            .await
            .status(),
        202
    );
    app.wait_for_outcome("zed@example.com", "denied").await;
    assert_eq!(pending(&app).await, ["jira-servicedesk -"]);

    // An approval, then the same bytes under a new identifier: one restore, not two.
    let approved = json!({"timestamp": now_ms(), "event": "status_changed",
                          "issue": {"key": "HELP-8", "fields": {
                              "reporter": {"accountId": "acc-grace", "emailAddress": "grace@example.com"},
                              "status": {"id": "10001"},
                              "customfield_10010": {"requestType": {"id": "25"}}}}});
    let first = deliver(&app, &approved, Some("d-3"), JSM_SECRET).await;
    assert_eq!(
        first.json::<Value>().await.expect("json")["status"],
        "accepted"
    );
    app.wait_for_outcome("grace@example.com", "restored").await;
    let again = deliver(&app, &approved, Some("d-4"), JSM_SECRET).await;
    assert_eq!(again.status(), 202);
    assert_eq!(
        again.json::<Value>().await.expect("json")["status"],
        "duplicate"
    );
    app.login_and_wait("ada@example.com", "jira-software", "already_licensed")
        .await;
    assert_eq!(app.sim.group_adds("acc-grace").len(), 1);
    assert_eq!(
        app.audit("grace@example.com").await.len(),
        1,
        "handled once"
    );
}
