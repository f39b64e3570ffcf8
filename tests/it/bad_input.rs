//! Arbitrary bytes at every receiver, correctly authenticated so that they reach the parser:
//! always a 4xx with the `{"error", "detail"}` body, never a 2xx, a 5xx or a dropped connection,
//! and nothing reaches the bus. Inputs come from proptest (fixed seed per run is not needed:
//! every case is checked).

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
