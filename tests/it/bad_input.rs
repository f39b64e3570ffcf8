//! Arbitrary bytes at every receiver, correctly authenticated so that they reach the parser:
//! always a 4xx with the `{"error", "detail"}` body, never a 2xx, a 5xx or a dropped connection,
//! and nothing reaches the bus. Inputs come from proptest (fixed seed per run is not needed:
//! every case is checked).

use base64::Engine;
use hmac::{Hmac, Mac};
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::TestRunner;
use sha2::Sha256;

use crate::support::*;

const CASES: usize = 40;

fn hmac_hex(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// Arbitrary bodies: raw bytes, and JSON-looking text.
fn bodies() -> Vec<Vec<u8>> {
    let strategy = proptest::prop_oneof![
        proptest::collection::vec(proptest::arbitrary::any::<u8>(), 0..600),
        "[{}\\[\\]\":,a-z0-9 .@_-]{0,300}".prop_map(String::into_bytes),
    ];
    let mut runner = TestRunner::deterministic();
    (0..CASES)
        .map(|_| strategy.new_tree(&mut runner).expect("value").current())
        .collect()
}

async fn assert_refused(what: &str, r: reqwest::Response, body: &[u8]) {
    let status = r.status().as_u16();
    let text = r.text().await.expect("an answer");
    assert!(
        (400..500).contains(&status),
        "{what} answered {status} to {:?}: {text}",
        String::from_utf8_lossy(body)
    );
    let parsed: reinstate::http::error::ErrorBody = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{what}: not the error body ({e}): {text}"));
    assert!(!parsed.error.is_empty() && !parsed.detail.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_receiver_refuses_arbitrary_bytes_with_the_error_body() {
    let app = TestApp::start(BusMode::Embedded).await;
    let post = |path: &str| app.http.post(format!("{}{path}", app.url));
    for body in bodies() {
        let r = app.post_signed(SECRET_A, &new_id(), body.clone(), 0).await;
        assert_refused("login", r, &body).await;

        let r = post("/v1/hooks/okta")
            .header("authorization", OKTA_SECRET)
            .body(body.clone())
            .send()
            .await
            .expect("okta");
        assert_refused("okta", r, &body).await;

        let r = post("/v1/hooks/keycloak")
            .header("x-keycloak-signature", hmac_hex(KEYCLOAK_SECRET, &body))
            .body(body.clone())
            .send()
            .await
            .expect("keycloak");
        assert_refused("keycloak", r, &body).await;

        let r = post("/v1/hooks/jira")
            .header(
                "x-hub-signature",
                format!("sha256={}", hmac_hex(JSM_SECRET, &body)),
            )
            .body(body.clone())
            .send()
            .await
            .expect("jira");
        assert_refused("jira", r, &body).await;

        let basic = base64::engine::general_purpose::STANDARD.encode(MAIL_CREDENTIALS);
        let r = post("/v1/hooks/mail/postmark")
            .header("authorization", format!("Basic {basic}"))
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await
            .expect("postmark");
        assert_refused("postmark", r, &body).await;

        // Mailgun's signature is inside the form: bytes that are no form never reach it.
        let r = post("/v1/hooks/mail/mailgun")
            .header("content-type", "multipart/form-data; boundary=b0undary")
            .body(body.clone())
            .send()
            .await
            .expect("mailgun");
        assert_refused("mailgun", r, &body).await;

        for (method, path) in [
            (reqwest::Method::PUT, "/api/v1/rules"),
            (reqwest::Method::POST, "/api/v1/rules/explain"),
            (reqwest::Method::POST, "/api/v1/rules/simulate"),
            (reqwest::Method::POST, "/api/v1/reclaimed"),
        ] {
            let r = app
                .http
                .request(method, format!("{}{path}", app.url))
                .bearer_auth(ADMIN_TOKEN)
                .header("content-type", "application/json")
                .body(body.clone())
                .send()
                .await
                .expect("admin");
            assert_refused(path, r, &body).await;
        }
    }
    // Nothing reached the bus or the directory.
    assert!(app.sim.calls().is_empty(), "{:?}", app.sim.calls());
    let audit = app.admin_get("/api/v1/audit").await;
    assert!(
        audit["entries"]
            .as_array()
            .expect("entries")
            .iter()
            .all(|e| e["outcome"] == "rules_changed"),
        "{audit}"
    );
}

/// Every admin body is read the same way: a body declared as something other than JSON (or
/// CSV, where a handler takes it) is refused with `415` and the error body, and changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_body_of_another_media_type_is_refused_and_changes_nothing() {
    let app = TestApp::start(BusMode::Embedded).await;
    let rules = app.admin_get("/api/v1/rules").await;
    for (method, path, media) in [
        (reqwest::Method::PUT, "/api/v1/rules", "text/plain"),
        (reqwest::Method::PUT, "/api/v1/rules", "text/csv"),
        (
            reqwest::Method::POST,
            "/api/v1/rules/explain",
            "application/xml",
        ),
        (
            reqwest::Method::PUT,
            "/api/v1/reclaim/policies",
            "multipart/form-data",
        ),
        (
            reqwest::Method::POST,
            "/api/v1/reclaim/runs",
            "application/x-www-form-urlencoded",
        ),
        (reqwest::Method::POST, "/api/v1/users/bulk", "text/html"),
    ] {
        let r = app
            .http
            .request(method, format!("{}{path}", app.url))
            .bearer_auth(ADMIN_TOKEN)
            .header("content-type", media)
            .body(r#"{"rules": []}"#)
            .send()
            .await
            .expect("admin");
        assert_eq!(r.status().as_u16(), 415, "{path} as {media}");
        let body: reinstate::http::error::ErrorBody = r.json().await.expect("error body");
        assert_eq!(body.error, "unsupported_media_type", "{path}");
        assert!(body.detail.contains(media), "{path}: {}", body.detail);
    }
    // JSON with parameters, or a +json type, is JSON.
    for media in [
        "application/json; charset=utf-8",
        "application/merge-patch+json",
    ] {
        let r = app
            .http
            .post(format!("{}/api/v1/rules/explain", app.url))
            .bearer_auth(ADMIN_TOKEN)
            .header("content-type", media)
            .body(r#"{"user": {"email": "grace@example.com"}}"#)
            .send()
            .await
            .expect("explain");
        assert_eq!(
            r.status().as_u16(),
            200,
            "{media}: {}",
            r.text().await.unwrap_or_default()
        );
    }
    assert_eq!(app.admin_get("/api/v1/rules").await, rules);
    let writes: Vec<_> = app
        .sim
        .calls()
        .into_iter()
        .filter(|c| c.method != "GET")
        .collect();
    assert!(writes.is_empty(), "{writes:?}");
}
