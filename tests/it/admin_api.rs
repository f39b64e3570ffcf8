//! The admin API: tokens, rule validation, health.

use serde_json::{Value, json};

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_api_requires_a_configured_token() {
    let app = TestApp::start(BusMode::Embedded).await;
    let url = format!("{}/api/v1/rules", app.url);
    let r = app.http.get(&url).send().await.expect("request");
    assert_eq!(r.status(), 401);
    let v: Value = r.json().await.expect("json");
    assert_eq!(v["error"], "missing_token");
    let r = app
        .http
        .get(&url)
        .bearer_auth("wrong")
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 401);
    let r = app
        .http
        .put(&url)
        .bearer_auth("wrong")
        .json(&standard_rules())
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 401);
    let r = app
        .http
        .get(&url)
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_are_replaced_whole_and_invalid_ones_rejected_naming_rule_and_field() {
    let app = TestApp::start(BusMode::Embedded).await;
    let r = app.put_rules(standard_rules()).await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.expect("json");
    assert_eq!(v["version"], 1);
    assert_eq!(v["rules"][1]["name"], "staff get jira back");

    let bad = json!({"rules": [
        {"name": "ok", "then": "deny"},
        {"name": "typo", "when": {"domain": ["example.com"]}, "then": "restore"}
    ]});
    let r = app.put_rules(bad).await;
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.expect("json");
    assert_eq!(v["error"], "invalid_rules");
    let detail = v["detail"].as_str().expect("detail");
    assert!(
        detail.contains("rules[1].when") && detail.contains("domain"),
        "{detail}"
    );

    // The rejected list changed nothing.
    let v: Value = app.admin_get("/api/v1/rules").await;
    assert_eq!(v["version"], 1);
    assert_eq!(v["rules"].as_array().expect("rules").len(), 2);

    // A bare list is the list; its errors are named as in the document.
    let r = app
        .put_rules(
            json!([{"name": "bare", "when": {"domains": ["example.com"]}, "then": "restore"}]),
        )
        .await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.expect("json");
    assert_eq!(
        (v["version"].as_u64(), v["rules"][0]["name"].as_str()),
        (Some(2), Some("bare"))
    );
    let r = app.put_rules(json!([{"name": "x", "then": "maybe"}])).await;
    let v: Value = r.json().await.expect("json");
    let detail = v["detail"].as_str().expect("detail");
    assert!(detail.starts_with("rules[0].then: "), "{detail}");

    // The change itself is audited.
    let v: Value = app.admin_get("/api/v1/audit").await;
    assert_eq!(v["entries"][0]["outcome"], "rules_changed");
    assert!(
        v["entries"][0]["actor"]
            .as_str()
            .expect("actor")
            .starts_with("admin:")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_unknown_routes_answer_json() {
    let app = TestApp::start(BusMode::Nats).await;
    let r = app
        .http
        .get(format!("{}/healthz", app.url))
        .send()
        .await
        .expect("r");
    assert_eq!(r.status(), 200);
    let v: Value = app
        .http
        .get(format!("{}/readyz", app.url))
        .send()
        .await
        .expect("r")
        .json()
        .await
        .expect("json");
    assert_eq!(v["bus"], "nats");
    let r = app
        .http
        .get(format!("{}/nope", app.url))
        .send()
        .await
        .expect("r");
    assert_eq!(r.status(), 404);
    let v: Value = r.json().await.expect("json");
    assert_eq!(v["error"], "not_found");
    let r = app
        .http
        .get(format!("{}/v1/hooks/login", app.url))
        .send()
        .await
        .expect("r");
    assert_eq!(r.status(), 405);
    let r = app
        .http
        .get(format!("{}/api/v1/audit?limit=0", app.url))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("r");
    assert_eq!(r.status(), 400);
}
