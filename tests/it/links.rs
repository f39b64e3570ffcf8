//! Email links: GET and HEAD change nothing, POST acts once, and every bad link changes nothing.

use reinstate::domain::{Email, Product};
use reinstate::links::{Claims, KeyRing, Purpose};
use serde_json::json;

use crate::support::*;

fn claims(email: &str, purpose: Purpose, exp_in_secs: i64) -> Claims {
    Claims {
        sub: Email::parse(email).expect("email"),
        purpose,
        product: Some(Product::JiraSoftware),
        reason: None,
        exp: time::OffsetDateTime::now_utc().unix_timestamp() + exp_in_secs,
        nonce: KeyRing::nonce(),
    }
}

fn link(app: &TestApp, token: &str) -> String {
    format!("{}/v1/links/{token}", app.url)
}

async fn nothing_happened(app: &TestApp, email: &str) {
    assert!(app.audit(email).await.is_empty(), "audit for {email}");
    assert!(
        app.sim.calls().is_empty(),
        "directory calls: {:?}",
        app.sim.calls()
    );
}

async fn a_link_only_confirms_on_get_and_restores_once_on_post(mode: BusMode) {
    let app = TestApp::start(mode).await;
    assert_eq!(app.put_rules(standard_rules()).await.status(), 200);
    let url = link(
        &app,
        &link_keys().sign(&claims("grace@example.com", Purpose::Restore, 3600)),
    );
    // What a mail scanner does: GET and HEAD.
    let r = app.http.get(&url).send().await.expect("get");
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    assert_eq!(r.headers()["referrer-policy"], "same-origin");
    assert!(
        r.headers()["content-security-policy"]
            .to_str()
            .expect("csp")
            .contains("default-src 'none'")
    );
    let html = r.text().await.expect("html");
    assert!(
        html.contains("Give back your Jira Software licence") && html.contains("g***@example.com"),
        "{html}"
    );
    assert!(
        html.contains("<form method=\"post\">")
            && !html.contains("<script")
            && !html.contains("<img")
    );
    assert_eq!(
        app.http.head(&url).send().await.expect("head").status(),
        200
    );
    nothing_happened(&app, "grace@example.com").await;

    let r = app.http.post(&url).send().await.expect("post");
    assert!(r.status() == 200 || r.status() == 202, "{}", r.status());
    let html = r.text().await.expect("html");
    assert!(
        html.contains("Your licence is back") || html.contains("being handled"),
        "{html}"
    );
    let entry = app.wait_for_outcome("grace@example.com", "restored").await;
    assert_eq!(entry["source"], "link");
    let again = app
        .http
        .post(&url)
        .send()
        .await
        .expect("post again")
        .text()
        .await
        .expect("html");
    assert!(again.contains("already used"), "{again}");
    let after = app
        .http
        .get(&url)
        .send()
        .await
        .expect("get")
        .text()
        .await
        .expect("html");
    assert!(after.contains("already used"), "{after}");
    assert_eq!(app.sim.group_adds("acc-grace").len(), 1);
    assert_eq!(app.audit("grace@example.com").await.len(), 1);
}
crate::both_buses!(a_link_only_confirms_on_get_and_restores_once_on_post);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_expired_unknown_key_and_cross_purpose_links_change_nothing() {
    let app = TestApp::start(BusMode::Embedded).await;
    assert_eq!(app.put_rules(standard_rules()).await.status(), 200);
    let keys = link_keys();
    let good = keys.sign(&claims("zed@example.com", Purpose::Keep, 3600));
    let parts: Vec<&str> = good.split('.').collect();
    // Another user's payload, or another purpose, under the original signature.
    let mut as_grace = claims("grace@example.com", Purpose::Keep, 3600);
    as_grace.nonce = serde_json::from_slice::<Claims>(&base64_url(parts[2]))
        .expect("claims")
        .nonce;
    let swapped_user = format!(
        "{}.{}.{}.{}",
        parts[0],
        parts[1],
        keys.sign(&as_grace).split('.').nth(2).expect("p"),
        parts[3]
    );
    let mut as_restore: Claims = serde_json::from_slice(&base64_url(parts[2])).expect("claims");
    as_restore.purpose = Purpose::Restore;
    let cross_purpose = format!(
        "{}.{}.{}.{}",
        parts[0],
        parts[1],
        keys.sign(&as_restore).split('.').nth(2).expect("p"),
        parts[3]
    );
    let expired = keys.sign(&claims("zed@example.com", Purpose::Restore, -10));
    let other_key = KeyRing::new(
        &[("k9".into(), b"another-secret-0123456789abcdef0123".to_vec())],
        "k9",
    )
    .expect("k9");
    let unknown_key = other_key.sign(&claims("zed@example.com", Purpose::Restore, 3600));
    let same_id_other_secret = KeyRing::new(
        &[(
            "k1".into(),
            b"not-the-real-k1-secret-0123456789abc".to_vec(),
        )],
        "k1",
    )
    .expect("k1");
    let forged = same_id_other_secret.sign(&claims("zed@example.com", Purpose::Restore, 3600));
    // Every bad link gets the same page, so that key ids cannot be confirmed one by one.
    let mut pages = std::collections::BTreeSet::new();
    for token in [
        swapped_user.as_str(),
        cross_purpose.as_str(),
        unknown_key.as_str(),
        forged.as_str(),
        "v1.k1.garbage",
        "v1.nokey.garbage.garbage",
    ] {
        let r = app.http.get(link(&app, token)).send().await.expect("get");
        pages.insert((r.status().as_u16(), r.text().await.expect("html")));
    }
    assert_eq!(pages.len(), 1, "{pages:#?}");
    for (token, status, says) in [
        (swapped_user.as_str(), 400, "not valid"),
        (cross_purpose.as_str(), 400, "not valid"),
        (expired.as_str(), 410, "expired"),
        (unknown_key.as_str(), 400, "not valid"),
        (forged.as_str(), 400, "not valid"),
        ("v1.k1.garbage", 400, "not valid"),
    ] {
        for r in [
            app.http.get(link(&app, token)).send().await.expect("get"),
            app.http.post(link(&app, token)).send().await.expect("post"),
        ] {
            assert_eq!(r.status(), status, "{token}");
            let html = r.text().await.expect("html");
            assert!(
                html.contains(says) && html.contains("Nothing was changed"),
                "{token}: {html}"
            );
        }
    }
    nothing_happened(&app, "zed@example.com").await;
    nothing_happened(&app, "grace@example.com").await;
}

fn base64_url(s: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .expect("base64url")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keep_link_records_the_wish_without_touching_the_directory() {
    let app = TestApp::start(BusMode::Embedded).await;
    let url = link(
        &app,
        &link_keys().sign(&claims("ada@example.com", Purpose::Keep, 3600)),
    );
    let html = app
        .http
        .post(&url)
        .send()
        .await
        .expect("post")
        .text()
        .await
        .expect("html");
    assert!(
        html.contains("will be kept") || html.contains("being handled"),
        "{html}"
    );
    let entry = app
        .wait_for_outcome("ada@example.com", "keep_recorded")
        .await;
    assert_eq!(
        (entry["source"].as_str(), entry["product"].as_str()),
        (Some("link"), Some("jira-software"))
    );
    let user = app.admin_get("/api/v1/users/ada@example.com").await;
    assert!(user["keep_requested_at"].is_string(), "{user}");
    assert!(app.sim.calls().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_confirmed_portal_request_is_decided_as_a_portal_request() {
    let app = TestApp::start(BusMode::Embedded).await;
    let rules = json!({"rules": [
        {"name": "portal asks need approval", "when": {"sources": ["portal"]}, "then": "approve"},
        {"name": "links restore", "when": {"sources": ["link"]}, "then": "restore"}
    ]});
    assert_eq!(app.put_rules(rules).await.status(), 200);
    let url = link(
        &app,
        &link_keys().sign(&claims("zed@example.com", Purpose::Request, 3600)),
    );
    assert!(
        app.http
            .get(&url)
            .send()
            .await
            .expect("get")
            .text()
            .await
            .expect("html")
            .contains("Confirm your request")
    );
    app.http.post(&url).send().await.expect("post");
    let entry = app
        .wait_for_outcome("zed@example.com", "approval_required")
        .await;
    assert_eq!(
        (entry["source"].as_str(), entry["rule"].as_str()),
        (Some("portal"), Some("portal asks need approval"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn link_create_prints_a_link_the_service_accepts() {
    let app = TestApp::start(BusMode::Embedded).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("reinstate.toml");
    std::fs::write(
        &config,
        format!("[server]\npublic_url = \"{}\"\n[links]\nkeys = [{{ id = \"k1\", secret = \"{LINK_SECRET}\" }}]\nactive = \"k1\"\n", app.url),
    )
    .expect("write");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_reinstate"))
        .args([
            "link",
            "create",
            "--email",
            "grace@example.com",
            "--purpose",
            "restore",
            "--product",
            "jira-software",
            "--config",
        ])
        .arg(&config)
        .env("REINSTATE__STORE__PATH", dir.path().join("unused"))
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let url = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(
        url.starts_with(&format!("{}/v1/links/v1.k1.", app.url)),
        "{url}"
    );
    let html = app
        .http
        .get(&url)
        .send()
        .await
        .expect("get")
        .text()
        .await
        .expect("html");
    assert!(
        html.contains("Give back your Jira Software licence"),
        "{html}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_redeemed_while_the_bus_is_down_stays_usable() {
    let mut app = TestApp::start(BusMode::Nats).await;
    assert_eq!(app.put_rules(standard_rules()).await.status(), 200);
    let url = link(
        &app,
        &link_keys().sign(&claims("grace@example.com", Purpose::Restore, 3600)),
    );
    app.nats.as_mut().expect("nats").stop();
    let r = app.http.post(&url).send().await.expect("post");
    assert_eq!(r.status(), 503);
    assert!(
        r.text()
            .await
            .expect("html")
            .contains("The link still works")
    );
    app.nats.as_mut().expect("nats").restart();
    app.wait_ready().await;
    let r = app.http.post(&url).send().await.expect("post");
    assert!(r.status() == 200 || r.status() == 202, "{}", r.status());
    app.wait_for_outcome("grace@example.com", "restored").await;
    app.stop().await;
}
