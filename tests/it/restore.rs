//! What the worker does with an accepted login: restore, deny, approve, already licensed.

use serde_json::Value;

use crate::both_buses;
use crate::support::*;

async fn a_matching_restore_rule_adds_the_user_to_the_products_default_group(mode: BusMode) {
    let app = TestApp::start(mode).await;
    assert_eq!(app.put_rules(standard_rules()).await.status(), 200);
    let entry = app
        .login_and_wait("grace@example.com", "jira-software", "restored")
        .await;
    assert_eq!(entry["rule"], "staff get jira back");
    assert_eq!(entry["product"], "jira-software");
    assert_eq!(entry["account_id"], "acc-grace");
    assert!(entry["latency_ms"].as_i64().is_some());
    assert!(entry["seats_before"]["remaining"].as_u64().is_some());
    let adds = app.sim.group_adds("acc-grace");
    assert_eq!(adds.len(), 1);
    assert_eq!(adds[0].query, "groupId=g-jsw");
    assert_eq!(adds[0].status, 201);
    assert!(
        app.sim
            .groups_of("acc-grace")
            .contains(&"jira-software-users".to_string())
    );
    let calls = entry["directory_calls"].as_array().expect("calls");
    assert!(
        calls
            .iter()
            .any(|c| c["method"] == "POST" && c["status"] == 201),
        "{calls:?}"
    );
    // The user record shows the licence.
    let user: Value = app.admin_get("/api/v1/users/grace@example.com").await;
    assert_eq!(user["products"]["jira-software"]["licensed"], true);
    assert_eq!(
        user["products"]["jira-software"]["groups_added"][0],
        "jira-software-users"
    );
}
both_buses!(a_matching_restore_rule_adds_the_user_to_the_products_default_group);

async fn a_deny_rule_restores_nothing_and_is_audited(mode: BusMode) {
    let app = TestApp::start(mode).await;
    assert_eq!(app.put_rules(standard_rules()).await.status(), 200);
    assert_eq!(
        app.login("bob@contractor.example.net", Some("jira-software"))
            .await
            .status(),
        202
    );
    let entry = app
        .wait_for_outcome("bob@contractor.example.net", "denied")
        .await;
    assert_eq!(entry["rule"], "contractors never");
    assert!(app.sim.group_adds("acc-bob").is_empty());
}
both_buses!(a_deny_rule_restores_nothing_and_is_audited);

async fn no_matching_rule_waits_for_an_admin(mode: BusMode) {
    let app = TestApp::start(mode).await;
    assert_eq!(
        app.login("zed@example.com", Some("jira-software"))
            .await
            .status(),
        202
    );
    let entry = app
        .wait_for_outcome("zed@example.com", "approval_required")
        .await;
    assert_eq!(entry["rule"], Value::Null);
    assert!(app.sim.group_adds("acc-zed").is_empty());
    let pending: Value = app.admin_get("/api/v1/requests").await;
    let requests = pending["requests"].as_array().expect("requests");
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0]["email"], "zed@example.com");
    assert_eq!(requests[0]["state"], "pending_approval");
}
both_buses!(no_matching_rule_waits_for_an_admin);

async fn without_a_product_each_licensed_product_is_decided_separately(mode: BusMode) {
    let app = TestApp::start(mode).await;
    assert_eq!(app.put_rules(standard_rules()).await.status(), 200);
    // ada already holds Jira Software; Service Management has no restore rule.
    assert_eq!(app.login("ada@example.com", None).await.status(), 202);
    let licensed = app
        .wait_for_outcome("ada@example.com", "already_licensed")
        .await;
    assert_eq!(licensed["product"], "jira-software");
    let approval = app
        .wait_for_outcome("ada@example.com", "approval_required")
        .await;
    assert_eq!(approval["product"], "jira-servicedesk");
    assert!(app.sim.group_adds("acc-ada").is_empty());
}
both_buses!(without_a_product_each_licensed_product_is_decided_separately);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_unknown_to_the_directory_is_audited_not_retried() {
    let app = TestApp::start(BusMode::Embedded).await;
    assert_eq!(app.put_rules(standard_rules()).await.status(), 200);
    assert_eq!(
        app.login("nobody@example.com", Some("jira-software"))
            .await
            .status(),
        202
    );
    let entry = app
        .wait_for_outcome("nobody@example.com", "unknown_user")
        .await;
    assert_eq!(entry["attempt"], 1);
    assert!(app.sim.calls().iter().all(|c| c.method == "GET"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deactivated_account_is_not_given_a_seat() {
    let app = TestApp::start(BusMode::Embedded).await;
    assert_eq!(app.put_rules(standard_rules()).await.status(), 200);
    let body = serde_json::json!({
        "type": "login.succeeded",
        "user": {"email": "ivy@example.com", "account_id": "acc-ivy"},
        "product": "jira-software",
        "occurred_at": time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).expect("time"),
    });
    assert_eq!(app.post_login_json(&body).await.status(), 202);
    let entry = app
        .wait_for_outcome("ivy@example.com", "account_inactive")
        .await;
    assert!(
        entry["reason"]
            .as_str()
            .expect("reason")
            .contains("deactivated")
    );
    assert!(app.sim.group_adds("acc-ivy").is_empty());
    // Looked up by account id, not by search (which hides inactive users).
    assert!(
        app.sim
            .calls()
            .iter()
            .any(|c| c.path == "/rest/api/3/user" && c.query.starts_with("accountId=acc-ivy"))
    );
}
