//! The inventory, synced over real HTTP from the simulated organisation API, Jira Cloud site and
//! Data Center: paging and cursors through 429s and 5xx, a sync that resumes after a crash,
//! leavers marked gone, logins seen at once, and the restore path spared the directory.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::*;

/// The organisation API at the simulator (`org-1`), besides the site.
fn org_options() -> Options {
    Options {
        directory_toml:
            "org_id = \"org-1\"\norg_api_key = \"sim-api-token\"\nadmin_api_url = \"{SIM_URL}\"\n"
                .into(),
        ..Default::default()
    }
}

/// The inventory's row of one user.
async fn row(app: &TestApp, email: &str) -> Value {
    let page = app
        .admin_get(&format!("/api/v1/inventory/users?q={email}"))
        .await;
    page["users"]
        .as_array()
        .and_then(|u| u.iter().find(|u| u["email"] == email).cloned())
        .unwrap_or_else(|| panic!("{email} is not in the inventory: {page}"))
}

fn org_searches(app: &TestApp) -> Vec<Call> {
    app.sim
        .calls()
        .into_iter()
        .filter(|c| c.path.ends_with("/users/search") && c.path.starts_with("/admin/v2"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_organisation_api_fills_the_inventory_page_by_page_through_429_and_5xx() {
    let app = TestApp::start_with(BusMode::Embedded, org_options()).await;
    app.sim.add_users("u", 120);
    app.sim
        .set_last_active("acc-ada", "jira", "2026-11-20T08:00:00Z");
    app.sim.suspend("acc-bob");
    let search = "/admin/v2/orgs/org-1/directories/dir-1/users/search";
    app.sim.push_fault_on(search, Fault::Status(429, Some(1)));
    app.sim.push_fault_on(search, Fault::Status(503, None));
    let state = app.sync_inventory().await;
    assert_eq!(
        (state["pages"].as_u64(), state["users_seen"].as_u64()),
        (Some(2), Some(126)),
        "{state}"
    );
    assert_eq!(state["source"], "organisation API");
    let searches = org_searches(&app);
    let statuses: Vec<u16> = searches.iter().map(|c| c.status).collect();
    assert_eq!(
        statuses,
        [429, 503, 200, 200],
        "retried, then two pages of 100"
    );
    assert!(
        searches[1].at - searches[0].at >= Duration::from_secs(1),
        "Retry-After was waited out"
    );
    assert_eq!(searches[2].body["limit"], 100);
    assert!(
        searches[2].body.get("cursor").is_none() && searches[3].body["cursor"] == "page-after-100"
    );

    let ada = row(&app, "ada@example.com").await;
    assert_eq!(ada["status"], "active");
    let jira = ada["products"]
        .as_array()
        .expect("products")
        .iter()
        .find(|p| p["key"] == "jira-software")
        .cloned();
    assert_eq!(
        jira,
        Some(
            json!({"key": "jira-software", "licensed": true, "last_active": "2026-11-20T08:00:00Z", "activity_known": true, "seen_by": "activity"})
        ),
        "the organisation's `jira` is Jira Software, with its last activity"
    );
    assert_eq!(ada["groups"], json!(["jira-software-users", "engineering"]));
    assert_eq!(
        row(&app, "bob@contractor.example.net").await["status"],
        "suspended"
    );
    assert_eq!(row(&app, "ivy@example.com").await["status"], "deactivated");
    assert_eq!(
        row(&app, "pat@example.com").await["account_type"],
        "customer"
    );

    let summary = app
        .admin_get("/api/v1/inventory/summary?inactive_after_days=30")
        .await;
    assert_eq!(
        summary["users"], 125,
        "people, the portal customer aside: {summary}"
    );
    assert!(summary["synced_at"].is_string());
    let jsw = summary["products"]
        .as_array()
        .expect("products")
        .iter()
        .find(|p| p["key"] == "jira-software")
        .cloned()
        .expect("jsw");
    assert_eq!(
        (jsw["seats_total"].as_u64(), jsw["seats_used"].as_u64()),
        (Some(100), Some(1))
    );
    assert_eq!(jsw["inactive_licensed"], 0, "ada was active 10 days ago");
    let inactive = app
        .admin_get("/api/v1/inventory/summary?inactive_after_days=5")
        .await;
    assert_eq!(inactive["inactive_users"], 1, "{inactive}");
    let licensed = app
        .admin_get("/api/v1/inventory/users?product=jira-software&licensed=true")
        .await;
    assert_eq!(licensed["users"].as_array().map(Vec::len), Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_page_sort_filter_and_export_as_csv_and_viewers_cannot_sync() {
    let app = TestApp::start_with(BusMode::Embedded, org_options()).await;
    app.sim.add_users("u", 30);
    app.sync_inventory().await;
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let q = cursor
            .as_ref()
            .map(|c| format!("&cursor={c}"))
            .unwrap_or_default();
        let page = app
            .admin_get(&format!(
                "/api/v1/inventory/users?sort=email&order=desc&limit=7{q}"
            ))
            .await;
        seen.extend(
            page["users"]
                .as_array()
                .expect("users")
                .iter()
                .map(|u| u["email"].as_str().unwrap_or_default().to_string()),
        );
        match page["next"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => break,
        }
    }
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.reverse();
    assert_eq!(
        (seen.len(), &seen),
        (36, &sorted),
        "every user once, in order, across pages"
    );
    let r = app
        .http
        .get(format!("{}/api/v1/inventory/users.csv?q=u1", app.url))
        .bearer_auth(VIEWER_TOKEN)
        .send()
        .await
        .expect("csv");
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap_or_default()
            .starts_with("text/csv")
    );
    let text = r.text().await.expect("text");
    assert!(
        text.starts_with("account_id,email,name,username,account_type,status,"),
        "{text}"
    );
    assert_eq!(text.lines().count(), 1 + 11, "u1 and u10..u19: {text}");
    let bad = app
        .http
        .get(format!("{}/api/v1/inventory/users?status=happy", app.url))
        .bearer_auth(VIEWER_TOKEN)
        .send()
        .await
        .expect("get");
    assert_eq!(bad.status(), 400);
    assert!(bad.text().await.unwrap_or_default().contains("status"));
    let refused = app
        .admin_post(VIEWER_TOKEN, "/api/v1/inventory/sync", &json!({}))
        .await;
    assert_eq!(refused.status(), 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_stopped_in_the_middle_resumes_from_its_saved_cursor() {
    let mut app = TestApp::start_with(BusMode::Embedded, org_options()).await;
    app.sim.add_users("u", 250);
    let search = "/admin/v2/orgs/org-1/directories/dir-1/users/search";
    // The second page stalls; the process stops while it waits.
    app.sim.push_fault_on(search, Fault::Delay(Duration::ZERO));
    app.sim
        .push_fault_on(search, Fault::Delay(Duration::from_secs(30)));
    let r = app
        .admin_post(ADMIN_TOKEN, "/api/v1/inventory/sync", &json!({}))
        .await;
    assert_eq!(r.status(), 202);
    let deadline = Instant::now() + Duration::from_secs(20);
    while org_searches(&app).is_empty()
        || app.admin_get("/api/v1/inventory/sync").await["pages"] != 1
    {
        assert!(Instant::now() < deadline, "the first page was not written");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    app.restart().await;
    let state = app.wait_synced(&Value::Null).await;
    let searches = org_searches(&app);
    let cursors: Vec<Value> = searches
        .iter()
        .filter(|c| c.status == 200)
        .map(|c| c.body["cursor"].clone())
        .collect();
    assert_eq!(cursors.first(), Some(&Value::Null), "the first page, once");
    assert!(
        cursors[1..].iter().all(|c| c.is_string())
            && cursors.iter().filter(|c| c.is_null()).count() == 1,
        "after the restart the sync went on from the saved cursor, never from the start: {cursors:?}"
    );
    assert_eq!(state["users_seen"], 256, "{state}");
    let summary = app.admin_get("/api/v1/inventory/summary").await;
    assert_eq!(summary["users"], 255);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_removed_from_the_directory_is_marked_gone_not_deleted() {
    let app = TestApp::start_with(BusMode::Embedded, org_options()).await;
    app.sync_inventory().await;
    assert_eq!(row(&app, "zed@example.com").await["status"], "active");
    app.sim.remove_user("acc-zed");
    app.sync_inventory().await;
    let zed = row(&app, "zed@example.com").await;
    assert_eq!(zed["status"], "gone", "{zed}");
    let gone = app.admin_get("/api/v1/inventory/users?status=gone").await;
    assert_eq!(gone["users"].as_array().map(Vec::len), Some(1));
    assert_eq!(app.admin_get("/api/v1/inventory/summary").await["users"], 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_updates_last_seen_before_the_next_sync() {
    let app = TestApp::start_with(BusMode::Embedded, org_options()).await;
    app.sim
        .set_last_active("acc-ada", "jira", "2026-01-05T08:00:00Z");
    app.sync_inventory().await;
    assert_eq!(
        row(&app, "ada@example.com").await["last_seen"],
        "2026-01-05T08:00:00Z"
    );
    assert_eq!(app.put_rules(standard_rules()).await.status(), 200);
    app.login_and_wait("ada@example.com", "jira-software", "already_licensed")
        .await;
    let ada = row(&app, "ada@example.com").await;
    let seen = time::OffsetDateTime::parse(
        ada["last_seen"].as_str().expect("last seen"),
        &time::format_description::well_known::Rfc3339,
    )
    .expect("time");
    assert!(
        time::OffsetDateTime::now_utc() - seen < time::Duration::minutes(1),
        "{ada}"
    );
    let jira = &ada["products"]
        .as_array()
        .expect("products")
        .iter()
        .find(|p| p["key"] == "jira-software")
        .cloned()
        .expect("jira");
    assert_eq!(
        jira["last_active"], ada["last_seen"],
        "the login was to Jira Software"
    );
    let fresh = app
        .admin_get("/api/v1/inventory/summary?product=jira-software&inactive_after_days=30")
        .await;
    assert_eq!(fresh["inactive_users"], 0, "{fresh}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_already_licensed_login_asks_the_directory_nothing_and_a_restore_costs_one_call() {
    let app = TestApp::start_with(BusMode::Embedded, org_options()).await;
    assert_eq!(app.put_rules(standard_rules()).await.status(), 200);
    app.sync_inventory().await;
    let before = app.sim.calls().len();
    let ada = app
        .login_and_wait("ada@example.com", "jira-software", "already_licensed")
        .await;
    assert_eq!(ada["directory_calls"], json!([]), "{ada}");
    assert_eq!(app.sim.calls().len(), before, "no directory call");
    let grace = app
        .login_and_wait("grace@example.com", "jira-software", "restored")
        .await;
    let calls = &app.sim.calls()[before..];
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(
        (calls[0].method.as_str(), calls[0].path.as_str()),
        ("POST", "/rest/api/3/group/user")
    );
    assert_eq!(grace["directory_calls"].as_array().map(Vec::len), Some(1));
    // The restore is in the inventory at once.
    let row = row(&app, "grace@example.com").await;
    assert!(
        row["groups"]
            .as_array()
            .expect("groups")
            .contains(&json!("jira-software-users")),
        "{row}"
    );
    let metrics = app.metrics().await;
    let zero_calls = metrics.lines().find(|l| {
        l.starts_with("reinstate_calls_per_event_bucket")
            && l.contains("outcome=\"already_licensed\"")
            && l.contains("le=\"0.0\"")
    });
    assert!(zero_calls.is_some_and(|l| l.ends_with(" 1")), "{metrics}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jira_cloud_site_lists_its_users_and_licence_groups_page_by_page() {
    let app = TestApp::start(BusMode::Embedded).await;
    app.sim.add_users_in("m", 1060, "jira-software-users");
    app.sync_inventory().await;
    let calls = app.sim.calls();
    let pages = |path: &str| -> Vec<String> {
        calls
            .iter()
            .filter(|c| c.path == path)
            .map(|c| c.query.clone())
            .collect()
    };
    let users = pages("/rest/api/3/users/search");
    assert_eq!(
        users.len(),
        3,
        "1,000, then 66, then an empty page: {users:?}"
    );
    assert!(
        users[1].contains("startAt=1000") && users[2].contains("startAt=1066"),
        "{users:?}"
    );
    let members = pages("/rest/api/3/group/member");
    let jsw: Vec<&String> = members
        .iter()
        .filter(|q| q.contains("groupname=jira-software-users"))
        .collect();
    assert_eq!(jsw.len(), 22, "1,061 members, 50 a page: {members:?}");
    let summary = app.admin_get("/api/v1/inventory/summary").await;
    let held = summary["products"]
        .as_array()
        .expect("products")
        .iter()
        .find(|p| p["key"] == "jira-software")
        .cloned()
        .expect("jsw");
    assert_eq!(held["seats_used"], 1061, "{summary}");
    assert_eq!(
        app.admin_get("/api/v1/inventory/sync").await["source"],
        "Jira Cloud site"
    );
    let zed = row(&app, "zed@example.com").await;
    assert_eq!(zed["products"], json!([]), "zed holds nothing: {zed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jira_data_center_lists_users_by_cursor_and_confluence_its_licensed_users() {
    let app = TestApp::start_with(
        BusMode::Embedded,
        Options {
            directory_kind: "jira-data-center",
            extra_toml: "[[products]]\nkey = \"jira-software\"\n[[products]]\nkey = \"confluence\"\n\
                         connector = \"confluence-data-center\"\nsite_url = \"{SIM_URL}\"\ngroups = [\"confluence-users\"]\n"
                .into(),
            // A prefix search of 1,100 users takes about a thousand requests.
            directory_toml: "rate_limit_per_sec = 1000\nrate_limit_burst = 1000".into(),
            ..Default::default()
        },
    )
    .await;
    app.sim.add_users_in("c", 3, "confluence-users");
    app.sim
        .set_last_active("acc-c1", "confluence", "2026-10-01T12:00:00Z");
    app.sim.add_users("d", 1100);
    // Jira 10.2 and older have no user/list: the search goes on instead.
    app.sync_inventory().await;
    let calls = app.sim.calls();
    let lists: Vec<&Call> = calls
        .iter()
        .filter(|c| c.path == "/rest/api/2/user/list")
        .collect();
    assert_eq!(lists.len(), 2, "two pages of 1,000");
    assert!(lists[1].query.contains("cursor=dc-1000"), "{:?}", lists[1]);
    let c1 = row(&app, "c1@example.com").await;
    assert_eq!(c1["username"], "acc-c1");
    assert_eq!(
        c1["products"],
        json!([{"key": "confluence", "licensed": true, "last_active": "2026-10-01T12:00:00Z", "activity_known": true, "seen_by": "activity"}]),
        "{c1}"
    );
    assert_eq!(
        app.admin_get("/api/v1/inventory/sync").await["source"],
        "Jira Data Center"
    );
    // Jira 10.1: no user/list, and a user search that never answers past 100 users
    // (JRASERVER-78660): everyone is still listed, by name prefixes.
    app.sim.set_dc_version(10, 1, 0);
    let before = app.sim.calls().len();
    app.sync_inventory().await;
    let calls = app.sim.calls()[before..].to_vec();
    assert!(calls.iter().all(|c| c.path != "/rest/api/2/user/list"));
    let searches: Vec<&Call> = calls
        .iter()
        .filter(|c| c.path == "/rest/api/2/user/search")
        .collect();
    assert!(searches.len() > 11, "split by prefixes: {}", searches.len());
    assert!(searches.iter().all(|c| c.query.contains("maxResults=100")));
    let sync = app.admin_get("/api/v1/inventory/sync").await;
    assert_eq!(sync["incomplete"], Value::Null, "{sync}");
    assert_eq!(
        app.admin_get("/api/v1/inventory/summary").await["users"],
        1109
    );
    assert!(app.sim.violations().is_empty());
}

/// A listing the version's cap cuts short is not taken as complete: those it could not list are
/// not marked gone, and the sync says how far it got.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_data_center_listing_cut_short_by_the_search_cap_marks_nobody_gone() {
    let app = TestApp::start_with(
        BusMode::Embedded,
        Options {
            directory_kind: "jira-data-center",
            directory_toml: "rate_limit_per_sec = 1000\nrate_limit_burst = 1000".into(),
            ..Default::default()
        },
    )
    .await;
    // 150 usernames sharing a 17-character prefix: past any prefix the search can split by.
    for i in 0..150 {
        app.sim.add_person(
            &format!("jsmith.contractor{i:03}"),
            &format!("js{i:03}@example.com"),
        );
    }
    app.sync_inventory().await;
    assert_eq!(
        app.admin_get("/api/v1/inventory/summary").await["users"],
        156
    );
    app.sim.set_dc_version(10, 2, 1);
    app.sync_inventory().await;
    let sync = app.admin_get("/api/v1/inventory/sync").await;
    let why = sync["incomplete"].as_str().expect("incomplete");
    assert!(
        why.contains("10.2.1") && why.contains("jsmith.contr"),
        "{why}"
    );
    let gone = app.admin_get("/api/v1/inventory/users?status=gone").await;
    assert_eq!(gone["total"], 0, "nobody is marked gone: {gone}");
    assert_eq!(
        app.admin_get("/api/v1/inventory/summary").await["users"],
        156
    );
}

/// "Updated at once by every login it receives": a login naming a product this directory does
/// not license (Confluence, on a Jira site) restores nothing, and still moves the inventory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_for_a_product_the_directory_does_not_license_is_still_seen() {
    let app = crate::console::app().await;
    let before = app.admin_get("/api/v1/users/cleo@example.com").await;
    assert_eq!(before["inventory"]["last_login"], serde_json::Value::Null);
    assert_eq!(
        app.login("cleo@example.com", Some("confluence"))
            .await
            .status(),
        202
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let cleo = app.admin_get("/api/v1/users/cleo@example.com").await;
        let confluence = &cleo["inventory"]["products"][0];
        if confluence["seen_by"] == "login" {
            assert_eq!(confluence["key"], "confluence");
            assert!(cleo["inventory"]["last_login"].is_string(), "{cleo}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the login never reached the inventory: {cleo}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let audit = app.admin_get("/api/v1/audit?user=cleo@example.com").await;
    assert_eq!(
        audit["entries"][0]["outcome"], "unsupported_product",
        "nothing restored: {audit}"
    );
}
