//! The hard edges found by attacking reinstate on loopback: each test here failed before its fix.

use serde_json::json;

use crate::support::*;

/// A signed login naming one user's email and another user's account id restores nobody.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_whose_account_id_is_another_users_is_audited_as_a_mismatch() {
    let app = TestApp::start(BusMode::Embedded).await;
    assert_eq!(app.put_rules(standard_rules()).await.status(), 200);
    app.sim.add_person("acc-newbie", "newbie@example.com");
    let now = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .expect("format");
    let body = json!({"type": "login.succeeded", "product": "jira-software", "occurred_at": now,
                      "user": {"email": "newbie@example.com", "account_id": "acc-grace"}});
    assert_eq!(app.post_login_json(&body).await.status(), 202);
    let entry = app
        .wait_for_outcome("newbie@example.com", "account_mismatch")
        .await;
    let reason = entry["reason"].as_str().expect("reason");
    assert!(
        reason.contains("acc-grace") && reason.contains("grace@example.com"),
        "{reason}"
    );
    assert!(
        app.sim.group_adds("acc-grace").is_empty(),
        "grace was not restored"
    );
    assert!(app.sim.group_adds("acc-newbie").is_empty());
    // Both named, and both the same person's: restored.
    let body = json!({"type": "login.succeeded", "product": "jira-software", "occurred_at": now,
                      "user": {"email": "grace@example.com", "account_id": "acc-grace"}});
    assert_eq!(app.post_login_json(&body).await.status(), 202);
    app.wait_for_outcome("grace@example.com", "restored").await;
}
