//! Requests left to an admin: approve, deny, expiry — each step in the history, the audit and
//! the requester's inbox.

use reinstate::domain::{Email, Product};
use reinstate::links::{Claims, KeyRing, Purpose};
use serde_json::{Value, json};

use crate::support::*;

/// zed asks through a "give it back" link; with no rule, it waits for an admin.
async fn zed_asks(app: &TestApp) -> Value {
    let claims = Claims {
        sub: Email::parse("zed@example.com").expect("email"),
        purpose: Purpose::Restore,
        product: Some(Product::JiraSoftware),
        reason: None,
        exp: time::OffsetDateTime::now_utc().unix_timestamp() + 3600,
        nonce: KeyRing::nonce(),
    };
    let url = format!("{}/v1/links/{}", app.url, link_keys().sign(&claims));
    app.http.post(&url).send().await.expect("post");
    app.wait_for_outcome("zed@example.com", "approval_required")
        .await;
    let pending = app.admin_get("/api/v1/requests").await;
    pending["requests"]
        .as_array()
        .expect("requests")
        .iter()
        .find(|r| r["email"] == "zed@example.com")
        .expect("zed's request")
        .clone()
}

fn mail_to<'a>(mails: &'a [smtp::Mail], to: &str, subject: &str) -> Option<&'a smtp::Mail> {
    mails
        .iter()
        .find(|m| m.to.iter().any(|t| t == to) && m.text().contains(subject))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_approves_a_waiting_request_and_the_requester_is_told() {
    let app = TestApp::start(BusMode::Embedded).await;
    let request = zed_asks(&app).await;
    assert_eq!(request["state"], "pending_approval");
    assert_eq!(request["source"], "link");
    let id = request["id"].as_str().expect("id").to_string();
    let mails = app.smtp.wait_for(2).await;
    assert!(
        mail_to(&mails, "zed@example.com", "is waiting for approval").is_some(),
        "{mails:#?}"
    );
    assert!(
        mail_to(&mails, ALERT_EMAIL, "waiting for approval")
            .is_some_and(|m| m.text().contains(&id))
    );

    let path = format!("/api/v1/requests/{id}/approve");
    assert_eq!(
        app.admin_post(VIEWER_TOKEN, &path, &json!({}))
            .await
            .status(),
        403
    );
    let r = app
        .admin_post(
            ADMIN_TOKEN,
            &path,
            &json!({"reason": "needed for the migration"}),
        )
        .await;
    assert_eq!(r.status(), 202);
    let entry = app.wait_for_outcome("zed@example.com", "restored").await;
    assert_eq!(entry["source"], "admin");
    assert_eq!(app.sim.group_adds("acc-zed").len(), 1);
    let audit = app.audit("zed@example.com").await;
    let approved = audit
        .iter()
        .find(|e| e["outcome"] == "approved")
        .expect("approval audited");
    assert!(
        approved["actor"]
            .as_str()
            .expect("actor")
            .starts_with("admin:")
    );
    let mails = app.smtp.wait_for(3).await;
    assert!(
        mail_to(&mails, "zed@example.com", "licence is back").is_some(),
        "{mails:#?}"
    );

    let done = app.admin_get("/api/v1/requests?state=restored").await;
    let history: Vec<&str> = done["requests"][0]["history"]
        .as_array()
        .expect("history")
        .iter()
        .map(|h| h["state"].as_str().expect("state"))
        .collect();
    assert_eq!(history, vec!["pending_approval", "approved", "restored"]);
    assert_eq!(
        app.admin_post(ADMIN_TOKEN, &path, &json!({}))
            .await
            .status(),
        409,
        "a closed request cannot be approved again"
    );
    assert_eq!(
        app.admin_post(ADMIN_TOKEN, "/api/v1/requests/req_nope/approve", &json!({}))
            .await
            .status(),
        404
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_denial_tells_the_requester_why_and_never_blocks_a_later_request() {
    let app = TestApp::start(BusMode::Embedded).await;
    let first = zed_asks(&app).await;
    let path = format!(
        "/api/v1/requests/{}/deny",
        first["id"].as_str().expect("id")
    );
    let r = app.admin_post(ADMIN_TOKEN, &path, &json!({})).await;
    assert_eq!(r.status(), 400, "a denial needs a reason");
    let r = app
        .admin_post(
            ADMIN_TOKEN,
            &path,
            &json!({"reason": "no budget this quarter"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let denied: Value = r.json().await.expect("json");
    assert_eq!(denied["state"], "denied");
    let mails = app.smtp.wait_for(3).await;
    let told = mail_to(&mails, "zed@example.com", "was not granted").expect("denial email");
    assert!(
        told.text().contains("no budget this quarter"),
        "{}",
        told.text()
    );
    assert!(app.sim.group_adds("acc-zed").is_empty());
    // Asking again opens a new request.
    let second = zed_asks(&app).await;
    assert_ne!(second["id"], first["id"]);
    assert_eq!(second["state"], "pending_approval");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_nobody_decides_is_reminded_then_expires() {
    let options = Options {
        extra_toml:
            "[requests]\nexpire_after = \"3s\"\nremind_before = \"2s\"\ncheck_every = \"100ms\"\n"
                .into(),
        ..Default::default()
    };
    let app = TestApp::start_with(BusMode::Embedded, options).await;
    let request = zed_asks(&app).await;
    let id = request["id"].as_str().expect("id").to_string();
    let mails = app.smtp.wait_for(3).await;
    assert!(
        mail_to(&mails, ALERT_EMAIL, "is still waiting").is_some_and(|m| m.text().contains(&id)),
        "{mails:#?}"
    );
    app.wait_for_outcome("zed@example.com", "expired").await;
    let mails = app.smtp.wait_for(4).await;
    assert!(
        mail_to(&mails, "zed@example.com", "expired").is_some(),
        "{mails:#?}"
    );
    let expired = app.admin_get("/api/v1/requests?state=expired").await;
    assert_eq!(expired["requests"][0]["id"], id.as_str());
    assert_eq!(expired["requests"][0]["reminded"], true);
    assert_eq!(
        app.admin_get("/api/v1/requests").await["requests"],
        json!([])
    );
    assert_eq!(
        app.smtp
            .mails()
            .iter()
            .filter(|m| m.text().contains("is still waiting"))
            .count(),
        1,
        "one reminder"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restore_by_any_path_closes_the_open_request() {
    let app = TestApp::start(BusMode::Embedded).await;
    zed_asks(&app).await;
    assert_eq!(app.put_rules(standard_rules()).await.status(), 200);
    app.login_and_wait("zed@example.com", "jira-software", "restored")
        .await;
    let restored = app.admin_get("/api/v1/requests?state=restored").await;
    assert_eq!(restored["requests"][0]["email"], "zed@example.com");
    assert_eq!(
        app.admin_get("/api/v1/requests").await["requests"],
        json!([])
    );
    let r = app
        .http
        .get(format!("{}/api/v1/requests?state=bogus", app.url))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("r");
    assert_eq!(r.status(), 400);
}
