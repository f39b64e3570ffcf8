//! Atlassian as its documents describe it: each call the connectors make, against the
//! simulators held to `tests/contract/atlassian.toml`, with the inconvenient parts — v1 endpoints
//! that are gone, searches that skip suspended users, caps, platform roles, sites that report no
//! activity, Data Center versions without the newer endpoints.

use std::time::Duration;

use serde_json::{Value, json};

use crate::reclaim::{days_ago, person, put_policies, run, wait_done};
use crate::support::*;

const ORG: &str =
    "org_id = \"org-1\"\norg_api_key = \"sim-api-token\"\nadmin_api_url = \"{SIM_URL}\"\n";

fn org() -> Options {
    Options {
        directory_toml: ORG.into(),
        ..Default::default()
    }
}

fn calls_to(app: &TestApp, method: &str, path: &str) -> Vec<Call> {
    app.sim
        .calls()
        .into_iter()
        .filter(|c| c.method == method && c.path == path)
        .collect()
}

/// The entry of a run's page for an account.
fn entry_of(page: &Value, account: &str) -> Value {
    page["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .find(|e| e["account_id"] == account)
        .cloned()
        .unwrap_or_else(|| panic!("no entry for {account}: {page:#}"))
}

async fn bulk(app: &TestApp, body: Value) -> Value {
    let r = app
        .admin_post(ADMIN_TOKEN, "/api/v1/users/bulk", &body)
        .await;
    assert_eq!(r.status(), 202, "{}", r.text().await.unwrap_or_default());
    let job: Value = r.json().await.expect("json");
    let id = job["run"]["id"].as_str().expect("id").to_string();
    wait_done(app, &format!("/api/v1/jobs/{id}")).await
}

/// Suspension goes through the organisation API's v2, in the directory the inventory saw the
/// account in, with `{}` as JSON; a login gives it back the same way. Nothing calls v1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_suspension_is_made_and_given_back_through_v2_in_the_accounts_directory() {
    let app = TestApp::start_with(BusMode::Embedded, org()).await;
    app.sim.set_directories(&["dir-1", "dir-2"]);
    let idle = person(&app, "idle", &["jira-software-users"], 200);
    app.sim.set_directory(&idle, "dir-2");
    app.sync_inventory().await;
    // Both directories were listed (a page each, following `links.next`).
    let listed = app.admin_get("/api/v1/inventory/users?q=idle").await;
    assert_eq!(listed["total"], 1, "{listed}");
    let policies = json!({"policies": [{"name": "suspend 90", "products": ["jira-software"],
        "inactive_after_days": 90, "action": "suspend"}]});
    assert_eq!(put_policies(&app, policies).await.status(), 200);
    let page = run(&app, false).await;
    assert_eq!(entry_of(&page, &idle)["result"], "done", "{page:#}");
    let suspends = calls_to(
        &app,
        "POST",
        &format!("/admin/v2/orgs/org-1/directories/dir-2/users/{idle}/suspend"),
    );
    assert_eq!(suspends.len(), 1);
    assert_eq!(suspends[0].body, json!({}));
    assert_eq!(app.sim.standing_of(&idle), Some("suspended"));
    // Back on login: exactly what reinstate did, undone — whatever `directory.reactivate` says.
    assert_eq!(app.put_rules(standard_rules()).await.status(), 200);
    let back = app
        .login_and_wait("idle@example.com", "jira-software", "restored")
        .await;
    let reason = back["reason"].as_str().expect("reason");
    assert!(
        reason.contains("given back: suspended → active"),
        "{reason}"
    );
    let restores = calls_to(
        &app,
        "POST",
        &format!("/admin/v2/orgs/org-1/directories/dir-2/users/{idle}/restore"),
    );
    assert_eq!(restores.len(), 1);
    assert_eq!(app.sim.standing_of(&idle), Some("active"));
    assert!(
        app.sim
            .calls()
            .iter()
            .all(|c| !c.path.starts_with("/admin/v1/"))
    );
    // The ledger's entry was closed by the login: the run has nothing left to undo.
    let id = page["run"]["id"].as_str().expect("id");
    let r = app
        .admin_post(
            ADMIN_TOKEN,
            &format!("/api/v1/reclaim/runs/{id}/undo"),
            &json!({}),
        )
        .await;
    assert_eq!(r.status(), 409);
    assert_eq!(
        r.json::<Value>().await.expect("json")["error"],
        "nothing_to_undo"
    );
}

/// Where v2 answers 404 (a tenant without it), the deprecated v1 is used, and said once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn where_v2_answers_404_the_deprecated_v1_suspend_access_is_used() {
    let app = TestApp::start_with(BusMode::Embedded, org()).await;
    app.sim.without_org_v2();
    let who = person(&app, "old", &["jira-software-users"], 10);
    app.sync_inventory().await;
    let job = bulk(
        &app,
        json!({"action": "disable-licences", "users": [&who], "confirm": 1}),
    )
    .await;
    assert_eq!(job["entries"][0]["result"], "done", "{job:#}");
    assert_eq!(
        calls_to(
            &app,
            "POST",
            &format!("/admin/v2/orgs/org-1/directories/dir-1/users/{who}/suspend")
        )[0]
        .status,
        404
    );
    assert_eq!(
        calls_to(
            &app,
            "POST",
            &format!("/admin/v1/orgs/org-1/directory/users/{who}/suspend-access")
        )
        .len(),
        1
    );
    assert_eq!(app.sim.standing_of(&who), Some("suspended"));
}

/// A deactivation reinstate made is given back on login through user management's lifecycle
/// (enable), not a restore of access — even with `directory.reactivate` off.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deactivation_reinstate_made_is_given_back_on_login_by_lifecycle_enable() {
    let app = TestApp::start_with(BusMode::Embedded, org()).await;
    let who = person(&app, "gone", &["jira-software-users"], 300);
    app.sync_inventory().await;
    let policies = json!({"policies": [{"name": "deactivate 180", "products": ["jira-software"],
        "inactive_after_days": 180, "action": "deactivate"}]});
    assert_eq!(put_policies(&app, policies).await.status(), 200);
    let page = run(&app, false).await;
    assert_eq!(entry_of(&page, &who)["result"], "done", "{page:#}");
    assert_eq!(app.sim.standing_of(&who), Some("deactivated"));
    assert_eq!(app.put_rules(standard_rules()).await.status(), 200);
    let entry = app
        .login_and_wait("gone@example.com", "jira-software", "restored")
        .await;
    let reason = entry["reason"].as_str().expect("reason");
    assert_eq!(
        calls_to(
            &app,
            "POST",
            &format!("/users/{who}/manage/lifecycle/enable")
        )
        .len(),
        1,
        "{reason}"
    );
    assert_eq!(app.sim.standing_of(&who), Some("active"));
}

/// The organisation API's admins are protected by their roles (`platformRoles`), whatever
/// groups they are in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_organisation_admin_by_role_is_never_planned() {
    let app = TestApp::start_with(BusMode::Embedded, org()).await;
    let boss = person(&app, "boss", &["jira-software-users"], 400);
    app.sim.set_roles(&boss, &["atlassian/org-admin"]);
    let plain = person(&app, "plain", &["jira-software-users"], 400);
    app.sync_inventory().await;
    let policies = json!({"policies": [{"name": "jira 90", "products": ["jira-software"],
        "inactive_after_days": 90, "action": "remove-product-access"}]});
    assert_eq!(put_policies(&app, policies).await.status(), 200);
    let page = run(&app, true).await;
    let boss_entry = entry_of(&page, &boss);
    assert_eq!(boss_entry["step"], "protected");
    assert!(
        boss_entry["reason"]
            .as_str()
            .expect("reason")
            .contains("atlassian/org-admin"),
        "{boss_entry}"
    );
    assert_eq!(entry_of(&page, &plain)["step"], "remove-product-access");
}

fn data_center() -> Options {
    Options {
        directory_kind: "jira-data-center",
        ..Default::default()
    }
}

/// On a site (no organisation API) the administrators' groups are read at each run, and the
/// account is checked again, live, just before an action takes from it; Data Center 11's
/// `lastLoginTime` is the activity a site reports.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_site_the_administrators_groups_are_read_at_each_run_and_again_before_acting() {
    let app = TestApp::start_with(BusMode::Embedded, data_center()).await;
    for name in ["jadmin", "plain", "late"] {
        app.sim.add_member_of(
            name,
            &format!("{name}@example.com"),
            &["jira-software-users"],
        );
        app.sim.set_last_active(name, "jira", &days_ago(200));
    }
    app.sim.add_member_of(
        "jadmin",
        "jadmin@example.com",
        &["jira-software-users", "jira-administrators"],
    );
    app.sync_inventory().await;
    let plain = app.admin_get("/api/v1/inventory/users?q=plain").await;
    let product = &plain["users"][0]["products"][0];
    assert_eq!(
        product["activity_known"], true,
        "lastLoginTime counts: {plain}"
    );
    let policies = json!({"policies": [{"name": "jira 90", "products": ["jira-software"],
        "inactive_after_days": 90, "action": "remove-product-access"}]});
    assert_eq!(put_policies(&app, policies).await.status(), 200);
    let page = run(&app, true).await;
    let admin = entry_of(&page, "jadmin");
    assert_eq!(admin["step"], "protected", "{admin}");
    assert!(
        admin["reason"]
            .as_str()
            .expect("reason")
            .contains("administrator")
    );
    assert_eq!(entry_of(&page, "plain")["step"], "remove-product-access");
    // Made an administrator after the job's own reading (while its action waits on the site):
    // the action checks again, just before taking, and takes nothing.
    app.sim
        .push_fault_on("/rest/api/2/user", Fault::Delay(Duration::from_millis(800)));
    let body = json!({"action": "revoke-product-access", "users": ["late"],
                      "product": "jira-software", "confirm": 1});
    let r = app
        .admin_post(ADMIN_TOKEN, "/api/v1/users/bulk", &body)
        .await;
    assert_eq!(r.status(), 202, "not an administrator yet");
    let started: Value = r.json().await.expect("json");
    app.sim.add_member_of(
        "late",
        "late@example.com",
        &["jira-software-users", "site-admins"],
    );
    let id = started["run"]["id"].as_str().expect("id");
    let job = wait_done(&app, &format!("/api/v1/jobs/{id}")).await;
    let e = &job["entries"][0];
    assert_eq!(e["result"], "skipped", "{job:#}");
    assert!(
        e["detail"]
            .as_str()
            .expect("detail")
            .contains("site-admins"),
        "{e}"
    );
    assert!(
        app.sim
            .groups_of("late")
            .contains(&"jira-software-users".to_string())
    );
    app.wait_for_outcome("late@example.com", "protected").await;
}

/// A site that reports no activity (Jira Cloud without the organisation API) and a user
/// reinstate never saw log in: unknown, not "inactive forever" — not counted, not planned.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_activity_data_is_unknown_not_inactive_forever() {
    let app = TestApp::start(BusMode::Embedded).await;
    app.sim.add_users_in("quiet", 3, "jira-software-users");
    app.sync_inventory().await;
    let summary = app
        .admin_get("/api/v1/inventory/summary?inactive_after_days=30")
        .await;
    let jsw = summary["products"]
        .as_array()
        .expect("products")
        .iter()
        .find(|p| p["key"] == "jira-software")
        .cloned()
        .expect("jira-software");
    assert_eq!(jsw["inactive_licensed"], 0, "{summary}");
    assert_eq!(jsw["unknown_activity"], 4, "ada and the three: {summary}");
    let row = app.admin_get("/api/v1/inventory/users?q=quiet0").await;
    assert_eq!(
        row["users"][0]["products"][0]["activity_known"], false,
        "{row}"
    );
    let policies = json!({"policies": [{"name": "jira 90", "products": ["jira-software"],
        "inactive_after_days": 90, "action": "remove-product-access", "include_never_active": true}]});
    assert_eq!(put_policies(&app, policies).await.status(), 200);
    let page = run(&app, true).await;
    assert_eq!(page["entries"], json!([]), "nobody planned: {page:#}");
    // A login seen is evidence: the user is known active.
    assert_eq!(app.put_rules(standard_rules()).await.status(), 200);
    app.login_and_wait("quiet0@example.com", "jira-software", "already_licensed")
        .await;
    let row = app.admin_get("/api/v1/inventory/users?q=quiet0").await;
    assert_eq!(
        row["users"][0]["products"][0]["activity_known"], true,
        "{row}"
    );
}

/// Confluence Data Center: `lastLogin` in Java's `+0100` form is read; a version without
/// `admin/users/list/active` (404) is listed through its licence groups' members; a user's
/// groups past the first page are followed (`_links.next`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confluence_data_center_as_its_versions_answer() {
    let products = "[[products]]\nkey = \"jira-software\"\n[[products]]\nkey = \"confluence\"\n\
                    connector = \"confluence-data-center\"\nsite_url = \"{SIM_URL}\"\ngroups = [\"confluence-users\"]\n";
    let options = Options {
        directory_kind: "jira-data-center",
        directory_toml: "reactivate = true".into(),
        extra_toml: products.into(),
        ..Default::default()
    };
    let app = TestApp::start_with(BusMode::Embedded, options).await;
    app.sim
        .add_member_of("cora", "cora@example.com", &["confluence-users"]);
    app.sim
        .set_last_active("cora", "confluence", "2026-05-01T08:12:44.000+0100");
    app.sync_inventory().await;
    let cora = app.admin_get("/api/v1/inventory/users?q=cora").await;
    assert_eq!(
        cora["users"][0]["products"][0]["last_active"], "2026-05-01T07:12:44Z",
        "{cora}"
    );
    app.sim.confluence_without_active_list();
    app.sync_inventory().await;
    let members = calls_to(&app, "GET", "/rest/api/group/confluence-users/member");
    assert!(!members.is_empty());
    let cora = app.admin_get("/api/v1/inventory/users?q=cora").await;
    assert_eq!(cora["users"][0]["products"][0]["licensed"], true, "{cora}");
    assert_eq!(
        app.admin_get("/api/v1/inventory/sync").await["incomplete"],
        Value::Null
    );
    // Three groups: two pages of memberof; a login sees the licence held.
    app.sim.add_member_of(
        "tri",
        "tri@example.com",
        &["a-team", "b-team", "confluence-users"],
    );
    assert_eq!(
        app.put_rules(json!({"rules": [{"name": "all", "then": "restore"}]}))
            .await
            .status(),
        200
    );
    app.login_and_wait("tri@example.com", "confluence", "already_licensed")
        .await;
    let pages = calls_to(&app, "GET", "/rest/api/user/memberof");
    assert!(
        pages.iter().any(|c| c.query.contains("start=2")),
        "{pages:?}"
    );
}

/// What the identity provider owns, Atlassian refuses: a licence through a group it syncs is
/// planned `refused` before the run (the organisation API says which groups are synced), and
/// an account it provisions is not deactivated; neither is warned nor touched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_the_identity_provider_owns_is_refused_before_the_run_not_tried() {
    let app = TestApp::start_with(BusMode::Embedded, org()).await;
    let through_idp = person(&app, "viaidp", &["jira-software-users"], 200);
    let local = person(&app, "local", &["jira-servicedesk-users"], 200);
    app.sim
        .set_last_active(&local, "jira-servicedesk", &days_ago(200));
    app.sim.sync_group("jira-software-users");
    app.sync_inventory().await;
    let policies = json!({"policies": [{"name": "idle 90", "products": ["jira-software", "jira-servicedesk"],
        "inactive_after_days": 90, "action": "remove-product-access"}]});
    assert_eq!(put_policies(&app, policies).await.status(), 200);
    let page = run(&app, false).await;
    let refused = entry_of(&page, &through_idp);
    assert_eq!(refused["step"], "refused", "{page:#}");
    let reason = refused["reason"].as_str().expect("reason");
    assert!(
        reason.contains("jira-software-users") && reason.contains("identity provider"),
        "{reason}"
    );
    assert_eq!(entry_of(&page, &local)["result"], "done", "{page:#}");
    assert!(
        calls_to(&app, "DELETE", "/rest/api/3/group/user")
            .iter()
            .all(|c| !c.query.contains(&through_idp)),
        "the synced group was not tried"
    );
    let searched = calls_to(
        &app,
        "POST",
        "/admin/v2/orgs/org-1/directories/-/groups/search",
    );
    assert_eq!(searched.len(), 1, "read once, before the run");
    assert!(
        searched[0].body["groupNames"]
            .as_array()
            .expect("names")
            .contains(&json!("jira-software-users"))
    );
    // An account the identity provider provisions is not deactivated here.
    let provisioned = person(&app, "scimmed", &["jira-servicedesk-users"], 200);
    app.sim
        .set_last_active(&provisioned, "jira-servicedesk", &days_ago(200));
    app.sim.set_synced(&provisioned);
    app.sync_inventory().await;
    let policies = json!({"policies": [{"name": "off 90", "products": ["jira-servicedesk"],
        "inactive_after_days": 90, "action": "deactivate"}]});
    assert_eq!(put_policies(&app, policies).await.status(), 200);
    let page = run(&app, false).await;
    let entry = entry_of(&page, &provisioned);
    assert_eq!(entry["step"], "refused", "{page:#}");
    assert!(
        entry["reason"]
            .as_str()
            .expect("reason")
            .contains("deactivate it in the identity provider")
    );
    assert!(
        calls_to(
            &app,
            "POST",
            &format!("/users/{provisioned}/manage/lifecycle/disable")
        )
        .is_empty()
    );
}

/// Without the organisation API nothing can say beforehand: the removal meets Atlassian's
/// refusal, and the entry says the identity provider manages the group.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_organisation_api_a_synced_groups_refusal_is_reported_per_user() {
    let app = TestApp::start(BusMode::Embedded).await;
    let through_idp = person(&app, "viaidp", &["jira-software-users"], 200);
    app.sim.sync_group("jira-software-users");
    app.sync_inventory().await;
    let job = bulk(
        &app,
        json!({"action": "revoke-product-access", "users": [&through_idp],
               "product": "jira-software", "confirm": 1}),
    )
    .await;
    let entry = &job["entries"][0];
    assert_eq!(entry["result"], "failed", "{job:#}");
    assert!(
        entry
            .to_string()
            .contains("an identity provider manages this"),
        "{entry:#}"
    );
    // The group is still the user's.
    assert!(
        app.sim
            .groups_of(&through_idp)
            .contains(&"jira-software-users".to_string())
    );
}
