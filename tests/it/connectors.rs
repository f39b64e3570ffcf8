//! Connectors beyond Jira Cloud, each against the simulator over real HTTP: Jira Data Center,
//! Confluence Cloud and Data Center through `[[products]]`, and giving accounts their access
//! back (Data Center's `active` flag; on Cloud the organisation API's v2 restore for a
//! suspension, user management's lifecycle for a deactivation; an identity provider's account
//! left to it).

use std::time::Duration;

use serde_json::json;

use crate::support::*;

/// Every example.com user gets every product back; contractors never.
fn all_products_rules() -> serde_json::Value {
    json!({"rules": [
        {"name": "contractors never", "when": {"groups_any": ["contractors"]}, "then": "deny"},
        {"name": "staff get everything back", "when": {"domains": ["example.com"]}, "then": "restore"}
    ]})
}

async fn start(kind: &'static str, directory_toml: &str, extra_toml: &str) -> TestApp {
    let app = TestApp::start_with(
        BusMode::Embedded,
        Options {
            directory_kind: kind,
            directory_toml: directory_toml.into(),
            extra_toml: extra_toml.into(),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(app.put_rules(all_products_rules()).await.status(), 200);
    app
}

/// A login that happened `secs_ago` (outside the window in which logins count as one).
async fn login_earlier(app: &TestApp, email: &str, product: &str, secs_ago: i64) {
    let mut body: serde_json::Value =
        serde_json::from_slice(&login_body(email, Some(product))).expect("json");
    let at = time::OffsetDateTime::now_utc() - time::Duration::seconds(secs_ago);
    body["occurred_at"] = at
        .format(&time::format_description::well_known::Rfc3339)
        .expect("format")
        .into();
    assert_eq!(app.post_login_json(&body).await.status(), 202);
}

fn calls_to(app: &TestApp, method: &str, path: &str) -> Vec<Call> {
    app.sim
        .calls()
        .into_iter()
        .filter(|c| c.method == method && c.path == path)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jira_data_center_restores_by_username_with_a_personal_access_token() {
    let app = start("jira-data-center", "", "").await;
    let entry = app
        .login_and_wait("grace@example.com", "jira-software", "restored")
        .await;
    assert_eq!(entry["account_id"], "acc-grace");
    let adds = calls_to(&app, "POST", "/rest/api/2/group/user");
    assert_eq!(adds.len(), 1);
    assert_eq!(adds[0].query, "groupname=jira-software-users");
    assert_eq!(adds[0].body, json!({"name": "acc-grace"}));
    assert!(
        app.sim
            .groups_of("acc-grace")
            .contains(&"jira-software-users".into())
    );
    // Idempotent: a later login finds the licence held and adds nothing.
    login_earlier(&app, "grace@example.com", "jira-software", 120).await;
    app.wait_for_outcome("grace@example.com", "already_licensed")
        .await;
    assert_eq!(calls_to(&app, "POST", "/rest/api/2/group/user").len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_token_fails_fast_and_says_to_check_it() {
    let app = start("jira-data-center", "", "").await;
    app.sim.push_fault(Fault::Status(401, None));
    let entry = app
        .login_and_wait("grace@example.com", "jira-software", "failed")
        .await;
    let reason = entry["reason"].as_str().expect("reason");
    assert!(reason.contains("credentials were rejected"), "{reason}");
    assert_eq!(app.sim.calls().len(), 1, "no retries of a 401");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deactivated_data_center_user_is_left_alone_unless_allowed() {
    let app = start("jira-data-center", "", "").await;
    app.login_and_wait("ivy@example.com", "jira-software", "account_inactive")
        .await;
    assert!(calls_to(&app, "PUT", "/rest/api/2/user").is_empty());
    assert_eq!(app.sim.group_adds_dc("acc-ivy"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deactivated_data_center_user_is_reactivated_when_allowed() {
    let app = start("jira-data-center", "reactivate = true", "").await;
    let entry = app
        .login_and_wait("ivy@example.com", "jira-software", "restored")
        .await;
    assert!(
        entry["reason"]
            .as_str()
            .expect("reason")
            .contains("reactivated"),
        "{entry}"
    );
    let puts = calls_to(&app, "PUT", "/rest/api/2/user");
    assert_eq!(puts.len(), 1);
    assert_eq!(puts[0].query, "username=acc-ivy");
    assert_eq!(puts[0].body, json!({"active": true}));
    assert_eq!(app.sim.group_adds_dc("acc-ivy"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confluence_cloud_is_restored_through_its_group_by_id() {
    let products = format!(
        r#"
[[products]]
key = "jira-software"
[[products]]
key = "confluence"
connector = "confluence-cloud"
groups = [{{ id = "{}", name = "{}" }}]
"#,
        CONFLUENCE_GROUP.0, CONFLUENCE_GROUP.1
    );
    let app = start("jira-cloud", "", &products).await;
    // Rate limited first: the Retry-After is waited out.
    app.sim.push_fault(Fault::Status(429, Some(1)));
    app.login_and_wait("grace@example.com", "confluence", "restored")
        .await;
    let adds = calls_to(&app, "POST", "/wiki/rest/api/group/userByGroupId");
    assert_eq!(adds.len(), 1);
    assert_eq!(adds[0].query, "groupId=g-conf");
    assert_eq!(adds[0].body, json!({"accountId": "acc-grace"}));
    // Jira's groups are the site's: a later login sees the Confluence licence held.
    login_earlier(&app, "grace@example.com", "confluence", 120).await;
    app.wait_for_outcome("grace@example.com", "already_licensed")
        .await;
    assert_eq!(
        calls_to(&app, "POST", "/wiki/rest/api/group/userByGroupId").len(),
        1
    );
    // A login without a product decides each configured product.
    let r = app.login("zed@example.com", None).await;
    assert_eq!(r.status(), 202);
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let audit = app.audit("zed@example.com").await;
        let restored: Vec<_> = audit
            .iter()
            .filter(|e| e["outcome"] == "restored")
            .filter_map(|e| e["product"].as_str())
            .collect();
        if restored.len() == 2 {
            assert!(restored.contains(&"confluence") && restored.contains(&"jira-software"));
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{audit:#?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confluence_data_center_on_its_own_instance_is_restored_and_enabled() {
    // The Confluence "instance" is the same simulator under another name.
    let products = format!(
        r#"
[[products]]
key = "confluence"
connector = "confluence-data-center"
site_url = "{{SIM_URL}}/"
api_token = "{SIM_TOKEN}"
groups = ["{}"]
"#,
        CONFLUENCE_GROUP.1
    );
    let app = start("jira-data-center", "reactivate = true", &products).await;
    app.login_and_wait("zed@example.com", "confluence", "restored")
        .await;
    assert_eq!(
        calls_to(&app, "PUT", "/rest/api/user/acc-zed/group/confluence-users").len(),
        1
    );
    // Its groups are read on that instance too.
    assert_eq!(calls_to(&app, "GET", "/rest/api/user/memberof").len(), 1);
    // A deactivated user is enabled on the Confluence instance before the group.
    app.login_and_wait("ivy@example.com", "confluence", "restored")
        .await;
    assert_eq!(
        calls_to(&app, "PUT", "/rest/api/admin/user/acc-ivy/enable").len(),
        1
    );
    // Jira's own products are not reinstate's to decide here.
    let r = app.login("grace@example.com", Some("jira-software")).await;
    assert_eq!(r.status(), 202);
    app.wait_for_outcome("grace@example.com", "unsupported_product")
        .await;
}

const ORG: &str = "reactivate = true\norg_id = \"org-1\"\norg_api_key = \"sim-api-token\"\nadmin_api_url = \"{SIM_URL}\"";

/// A suspended account — which Jira's user search does not find (AX-286) — is found by email
/// through the organisation API and restored by v2 `…/directories/{dir}/users/{id}/restore`
/// in its own directory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_suspended_cloud_account_is_found_and_restored_in_its_directory() {
    let app = start("jira-cloud", ORG, "").await;
    app.sim.set_directories(&["dir-1", "dir-2"]);
    app.sim.set_directory("acc-zed", "dir-2");
    app.sim.suspend("acc-zed");
    let entry = app
        .login_and_wait("zed@example.com", "jira-software", "restored")
        .await;
    assert!(
        entry["reason"]
            .as_str()
            .expect("reason")
            .contains("reactivated"),
        "{entry}"
    );
    let searches = calls_to(
        &app,
        "POST",
        "/admin/v2/orgs/org-1/directories/-/users/search",
    );
    assert!(
        searches
            .iter()
            .any(|c| c.body["emails"] == json!(["zed@example.com"])),
        "{searches:?}"
    );
    let restores = calls_to(
        &app,
        "POST",
        "/admin/v2/orgs/org-1/directories/dir-2/users/acc-zed/restore",
    );
    assert_eq!(restores.len(), 1);
    assert_eq!(restores[0].body, json!({}));
    assert_eq!(app.sim.standing_of("acc-zed"), Some("active"));
    assert_eq!(app.sim.group_adds("acc-zed").len(), 1);
    assert!(
        calls_to(
            &app,
            "POST",
            "/admin/v1/orgs/org-1/directory/users/acc-zed/restore-access"
        )
        .is_empty()
    );
}

/// A deactivated account is enabled through user management's lifecycle API — not a restore
/// of access, which would leave it deactivated.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deactivated_cloud_account_is_enabled_when_allowed() {
    let app = start("jira-cloud", ORG, "").await;
    let entry = app
        .login_and_wait("ivy@example.com", "jira-software", "restored")
        .await;
    assert!(
        entry["reason"]
            .as_str()
            .expect("reason")
            .contains("reactivated")
    );
    assert_eq!(
        calls_to(&app, "POST", "/users/acc-ivy/manage/lifecycle/enable").len(),
        1
    );
    assert_eq!(app.sim.standing_of("acc-ivy"), Some("active"));
    assert_eq!(app.sim.group_adds("acc-ivy").len(), 1);
}

/// Without the organisation API, a user Jira's search cannot find is audited with why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_the_site_search_cannot_find_is_audited_with_why() {
    let app = start("jira-cloud", "", "").await;
    app.sim.hide_email("acc-grace");
    let entry = app
        .login_and_wait("grace@example.com", "jira-software", "unknown_user")
        .await;
    let reason = entry["reason"].as_str().expect("reason");
    assert!(
        reason.contains("AX-286") && reason.contains("directory.org_id"),
        "{reason}"
    );
}

/// An account an identity provider provisions is the provider's to reactivate: a SCIM change
/// here would be overwritten by its next push, so reinstate says so and changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_identity_provider_managed_account_is_left_to_the_identity_provider() {
    let toml = format!(
        "reactivate = true\nscim_directory_id = \"dir-1\"\nscim_token = \"{SIM_TOKEN}\"\nadmin_api_url = \"{{SIM_URL}}\""
    );
    let app = start("jira-cloud", &toml, "").await;
    app.sim.set_synced("acc-ivy");
    // The inventory knows ivy's account: found by id, where the site's search finds active
    // users only.
    app.sync_inventory().await;
    // The look-up is retried through a rate limit and an outage.
    app.sim
        .push_fault_on("/scim/directory/dir-1/Users", Fault::Status(429, Some(1)));
    app.sim
        .push_fault_on("/scim/directory/dir-1/Users", Fault::Status(503, None));
    let entry = app
        .login_and_wait("ivy@example.com", "jira-software", "failed")
        .await;
    let reason = entry["reason"].as_str().expect("reason");
    assert!(
        reason.contains("managed by an identity provider"),
        "{reason}"
    );
    let lookups = calls_to(&app, "GET", "/scim/directory/dir-1/Users");
    assert!(
        lookups
            .iter()
            .any(|c| c.status == 200 && c.query.contains("ivy%40example.com")),
        "{lookups:?}"
    );
    assert!(app.sim.calls().iter().all(|c| c.method != "PATCH"));
    assert_eq!(app.sim.standing_of("acc-ivy"), Some("deactivated"));
    assert!(app.sim.group_adds("acc-ivy").is_empty());

    // The organisation API says so too (`managementSource: synced`).
    let app = start("jira-cloud", ORG, "").await;
    app.sim.set_synced("acc-ivy");
    let entry = app
        .login_and_wait("ivy@example.com", "jira-software", "failed")
        .await;
    let reason = entry["reason"].as_str().expect("reason");
    assert!(
        reason.contains("managed by an identity provider"),
        "{reason}"
    );
    assert!(calls_to(&app, "POST", "/users/acc-ivy/manage/lifecycle/enable").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_portal_only_customer_is_given_no_agent_licence() {
    let app = start("jira-cloud", "", "").await;
    let entry = app
        .login_and_wait("pat@example.com", "jira-servicedesk", "portal_customer")
        .await;
    assert!(
        entry["reason"]
            .as_str()
            .expect("reason")
            .contains("needs no licence")
    );
    assert!(app.sim.group_adds("qm:pat").is_empty());
    // An agent is given the agent group the site names for Service Management.
    app.login_and_wait("zed@example.com", "jira-servicedesk", "restored")
        .await;
    assert!(
        app.sim
            .groups_of("acc-zed")
            .contains(&"jira-servicedesk-users".into())
    );
}

/// One connector's write call, for the fault suite.
struct Case {
    kind: &'static str,
    directory_toml: &'static str,
    products: &'static str,
    email: &'static str,
    product: &'static str,
    method: &'static str,
    path: &'static str,
}

const CONFLUENCE_CLOUD: &str = "[[products]]\nkey = \"confluence\"\nconnector = \"confluence-cloud\"\ngroups = [{ id = \"g-conf\", name = \"confluence-users\" }]\n";
const CONFLUENCE_DC: &str = "[[products]]\nkey = \"confluence\"\nconnector = \"confluence-data-center\"\nsite_url = \"{SIM_URL}/\"\ngroups = [\"confluence-users\"]\n";

/// Rate limits, outages and stalls on the connector's own call are retried until the licence
/// is back, with one successful write; a 403 fails at once, audited, without retries.
async fn fault_suite(case: Case) {
    let app = start(case.kind, case.directory_toml, case.products).await;
    for fault in [
        Fault::Status(429, Some(1)),
        Fault::Status(503, None),
        // Longer than the 2 s request timeout of the test configuration.
        Fault::Delay(Duration::from_secs(3)),
    ] {
        app.sim.push_fault_on(case.path, fault);
    }
    app.login_and_wait(case.email, case.product, "restored")
        .await;
    let writes = calls_to(&app, case.method, case.path);
    assert_eq!(
        writes.iter().filter(|c| c.status < 300).count(),
        1,
        "{} {}: {writes:#?}",
        case.method,
        case.path
    );
    assert!(writes.iter().any(|c| c.status == 429) && writes.iter().any(|c| c.status == 503));

    let app = start(case.kind, case.directory_toml, case.products).await;
    app.sim.push_fault_on(case.path, Fault::Status(403, None));
    let entry = app.login_and_wait(case.email, case.product, "failed").await;
    assert!(
        entry["reason"].as_str().expect("reason").contains("403"),
        "{entry}"
    );
    assert_eq!(
        calls_to(&app, case.method, case.path).len(),
        1,
        "no retries of a 403"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jira_data_center_survives_faults() {
    fault_suite(Case {
        kind: "jira-data-center",
        directory_toml: "",
        products: "",
        email: "grace@example.com",
        product: "jira-software",
        method: "POST",
        path: "/rest/api/2/group/user",
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confluence_cloud_survives_faults() {
    fault_suite(Case {
        kind: "jira-cloud",
        directory_toml: "",
        products: CONFLUENCE_CLOUD,
        email: "grace@example.com",
        product: "confluence",
        method: "POST",
        path: "/wiki/rest/api/group/userByGroupId",
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confluence_data_center_survives_faults() {
    fault_suite(Case {
        kind: "jira-data-center",
        directory_toml: "",
        products: CONFLUENCE_DC,
        email: "zed@example.com",
        product: "confluence",
        method: "PUT",
        path: "/rest/api/user/acc-zed/group/confluence-users",
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_organisation_api_survives_faults() {
    fault_suite(Case {
        kind: "jira-cloud",
        directory_toml: ORG,
        products: "",
        email: "ivy@example.com",
        product: "jira-software",
        method: "POST",
        path: "/users/acc-ivy/manage/lifecycle/enable",
    })
    .await;
}
