//! Decisions admins can trust: the seat cap, exact restores, explain, simulate, the audit
//! export and read-only viewer tokens.

use serde_json::{Value, json};

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restore_that_would_exceed_the_seat_cap_waits_for_an_admin() {
    let app = TestApp::start(BusMode::Embedded).await;
    assert_eq!(app.put_rules(standard_rules()).await.status(), 200);
    // ada holds the only seat.
    app.sim.set_seats(1);
    assert_eq!(
        app.login("grace@example.com", Some("jira-software"))
            .await
            .status(),
        202
    );
    let entry = app
        .wait_for_outcome("grace@example.com", "approval_required")
        .await;
    assert_eq!(entry["rule"], "staff get jira back");
    let reason = entry["reason"].as_str().expect("reason");
    assert!(reason.contains("no seats left (1 of 1 used)"), "{reason}");
    assert!(app.sim.group_adds("acc-grace").is_empty());
    let pending = app.admin_get("/api/v1/requests").await;
    assert_eq!(pending["requests"][0]["email"], "grace@example.com");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recorded_reclaim_is_restored_exactly_with_seats_before_and_after() {
    let app = TestApp::start(BusMode::Embedded).await;
    assert_eq!(app.put_rules(standard_rules()).await.status(), 200);
    let record = json!({"email": "grace@example.com", "product": "jira-software",
                        "groups": [{"id": "g-jsw", "name": "jira-software-users"}, "jira-core-users"]});
    let r = app
        .admin_post(ADMIN_TOKEN, "/api/v1/reclaimed", &record)
        .await;
    assert_eq!(r.status(), 201);
    let user: Value = r.json().await.expect("json");
    assert_eq!(
        user["products"]["jira-software"]["reclaimed"]["groups"][1]["name"],
        "jira-core-users"
    );

    let entry = app
        .login_and_wait("grace@example.com", "jira-software", "restored")
        .await;
    let adds: Vec<String> = app
        .sim
        .group_adds("acc-grace")
        .into_iter()
        .map(|c| c.query)
        .collect();
    assert_eq!(adds, vec!["groupId=g-jsw", "groupname=jira-core-users"]);
    assert_eq!(entry["seats_before"]["used"], 1);
    assert_eq!(entry["seats_after"]["used"], 2);
    let user = app.admin_get("/api/v1/users/grace@example.com").await;
    assert_eq!(
        user["products"]["jira-software"]["groups_added"],
        json!(["jira-software-users", "jira-core-users"])
    );
    assert_eq!(user["products"]["jira-software"]["reclaimed"], Value::Null);
    // The reclaim record itself is in the audit, with who recorded it.
    let audit = app.audit("grace@example.com").await;
    let recorded = audit
        .iter()
        .find(|e| e["outcome"] == "reclaim_recorded")
        .expect("reclaim audited");
    assert!(
        recorded["actor"]
            .as_str()
            .expect("actor")
            .starts_with("admin:")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn previously_reclaimed_users_can_be_restored_by_their_own_rule() {
    let app = TestApp::start(BusMode::Embedded).await;
    let rules = json!({"rules": [{"name": "returning users", "when": {"previously_reclaimed": true}, "then": "restore",
                                  "message": "welcome back"}]});
    assert_eq!(app.put_rules(rules).await.status(), 200);
    app.login_and_wait("zed@example.com", "jira-software", "approval_required")
        .await;
    let record = json!({"email": "grace@example.com", "product": "jira-software", "groups": ["jira-software-users"]});
    assert_eq!(
        app.admin_post(ADMIN_TOKEN, "/api/v1/reclaimed", &record)
            .await
            .status(),
        201
    );
    let entry = app
        .login_and_wait("grace@example.com", "jira-software", "restored")
        .await;
    assert_eq!(
        (entry["rule"].as_str(), entry["message"].as_str()),
        (Some("returning users"), Some("welcome back"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_traces_each_rule_with_the_directorys_view_and_acts_on_nothing() {
    let app = TestApp::start(BusMode::Embedded).await;
    assert_eq!(app.put_rules(standard_rules()).await.status(), 200);
    let r = app
        .admin_post(
            VIEWER_TOKEN,
            "/api/v1/rules/explain",
            &json!({"user": {"email": "grace@example.com"}, "product": "jira-software"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.expect("json");
    assert_eq!(v["account_id"], "acc-grace");
    assert_eq!(v["groups"], json!(["engineering"]));
    let p = &v["products"][0];
    assert_eq!(p["product"], "jira-software");
    assert_eq!(p["already_licensed"], false);
    assert_eq!(p["decision"]["outcome"], "restore");
    assert_eq!(p["decision"]["rule"], "staff get jira back");
    let first = &p["rules"][0];
    assert_eq!(
        (first["rule"].as_str(), first["matched"].as_bool()),
        (Some("contractors never"), Some(false))
    );
    assert_eq!(first["conditions"][0]["condition"], "groups_any");
    assert!(
        first["conditions"][0]["detail"]
            .as_str()
            .expect("detail")
            .contains("engineering")
    );
    // A login event body can be pasted as is.
    let event: Value = serde_json::from_slice(&login_body(
        "bob@contractor.example.net",
        Some("jira-software"),
    ))
    .expect("json");
    let v: Value = app
        .admin_post(ADMIN_TOKEN, "/api/v1/rules/explain", &event)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(v["products"][0]["decision"]["outcome"], "deny");
    // Unknown users say so.
    let v: Value = app
        .admin_post(
            ADMIN_TOKEN,
            "/api/v1/rules/explain",
            &json!({"user": {"email": "nobody@example.com"}}),
        )
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(v["outcome"], "unknown_user");
    assert!(
        app.sim.calls().iter().all(|c| c.method == "GET"),
        "explain must not act"
    );
    assert!(
        app.audit("grace@example.com").await.is_empty(),
        "explain must not audit decisions"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulate_counts_outcomes_and_lists_what_would_change() {
    let app = TestApp::start(BusMode::Embedded).await;
    let live = json!({"rules": [{"name": "contractors never", "when": {"groups_any": ["contractors"]}, "then": "deny"}]});
    assert_eq!(app.put_rules(live).await.status(), 200);
    for who in ["zed@example.com", "bob@contractor.example.net"] {
        assert_eq!(app.login(who, Some("jira-software")).await.status(), 202);
    }
    assert_eq!(
        app.login("ada@example.com", Some("jira-software"))
            .await
            .status(),
        202
    );
    app.wait_for_outcome("zed@example.com", "approval_required")
        .await;
    app.wait_for_outcome("bob@contractor.example.net", "denied")
        .await;
    app.wait_for_outcome("ada@example.com", "already_licensed")
        .await;

    let r = app
        .admin_post(VIEWER_TOKEN, "/api/v1/rules/simulate", &standard_rules())
        .await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.expect("json");
    assert_eq!(v["users"], 3);
    assert_eq!(
        v["live_counts"],
        json!({"already_licensed": 1, "approve": 1, "deny": 1})
    );
    assert_eq!(
        v["counts"],
        json!({"already_licensed": 1, "deny": 1, "restore": 1})
    );
    assert_eq!(v["changed_total"], 1);
    assert_eq!(
        v["changed"][0],
        json!({"email": "zed@example.com", "product": "jira-software", "live_outcome": "approve",
                                       "live_rule": null, "proposed_outcome": "restore", "proposed_rule": "staff get jira back"})
    );
    let csv = app
        .http
        .post(format!("{}/api/v1/rules/simulate?format=csv", app.url))
        .bearer_auth(VIEWER_TOKEN)
        .json(&standard_rules())
        .send()
        .await
        .expect("request");
    assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
    let text = csv.text().await.expect("text");
    assert_eq!(
        text,
        "email,product,live_outcome,live_rule,proposed_outcome,proposed_rule\r\nzed@example.com,jira-software,approve,,restore,staff get jira back\r\n"
    );
    // Simulating changed nothing.
    assert!(app.sim.group_adds("acc-zed").is_empty());
    assert_eq!(app.admin_get("/api/v1/rules").await["version"], 1);
    let bad = app
        .admin_post(
            ADMIN_TOKEN,
            "/api/v1/rules/simulate",
            &json!({"rules": [{"name": "x", "then": "sometimes"}]}),
        )
        .await;
    assert_eq!(bad.status(), 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_exports_as_csv_with_formula_cells_neutralised_and_filters_apply() {
    let app = TestApp::start(BusMode::Embedded).await;
    let rules = json!({"rules": [
        {"name": "=HYPERLINK(\"http://evil\")", "when": {"groups_any": ["contractors"]}, "then": "deny", "message": "@ask your manager"},
        {"name": "+staff", "when": {"domains": ["example.com"], "products": ["jira-software"]}, "then": "restore", "message": "-welcome"}
    ]});
    assert_eq!(app.put_rules(rules).await.status(), 200);
    assert_eq!(
        app.login("bob@contractor.example.net", Some("jira-software"))
            .await
            .status(),
        202
    );
    assert_eq!(
        app.login("grace@example.com", Some("jira-software"))
            .await
            .status(),
        202
    );
    app.wait_for_outcome("bob@contractor.example.net", "denied")
        .await;
    app.wait_for_outcome("grace@example.com", "restored").await;

    let denied = app
        .admin_get("/api/v1/audit?outcome=denied&source=login")
        .await;
    let entries = denied["entries"].as_array().expect("entries");
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["user"], "bob@contractor.example.net");
    let future = app
        .admin_get("/api/v1/audit?from=2099-01-01T00:00:00Z")
        .await;
    assert!(future["entries"].as_array().expect("entries").is_empty());
    let r = app
        .http
        .get(format!("{}/api/v1/audit?from=yesterday", app.url))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("r");
    assert_eq!(r.status(), 400);

    let r = app
        .http
        .get(format!("{}/api/v1/audit.csv", app.url))
        .bearer_auth(VIEWER_TOKEN)
        .send()
        .await
        .expect("r");
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/csv; charset=utf-8");
    let text = r.text().await.expect("text");
    let mut lines = text.split("\r\n");
    assert!(
        lines
            .next()
            .expect("header")
            .starts_with("id,at,outcome,source,event_id,user,")
    );
    assert_eq!(
        text.matches("\r\n").count(),
        4,
        "header + rules change + 2 decisions:\n{text}"
    );
    assert!(
        text.contains("\"'=HYPERLINK(\"\"http://evil\"\")\""),
        "{text}"
    );
    assert!(text.contains(",'@ask your manager,"), "{text}");
    assert!(
        text.contains(",'+staff,") && text.contains(",'-welcome,"),
        "{text}"
    );
    let only_grace = app
        .http
        .get(format!(
            "{}/api/v1/audit.csv?user=grace@example.com",
            app.url
        ))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("r");
    assert_eq!(
        only_grace
            .text()
            .await
            .expect("text")
            .matches("\r\n")
            .count(),
        2
    );
    // The newest `limit` entries; a limit that is not one is refused, not ignored.
    let csv = |query: &'static str| {
        let r = app
            .http
            .get(format!("{}/api/v1/audit.csv?{query}", app.url))
            .bearer_auth(ADMIN_TOKEN)
            .send();
        async move { r.await.expect("r") }
    };
    let newest = csv("limit=1").await.text().await.expect("text");
    assert_eq!(newest.matches("\r\n").count(), 2, "{newest}");
    for bad in ["limit=0", "limit=many", "limit=-1"] {
        let r = csv(bad).await;
        assert_eq!(r.status(), 400, "{bad}");
        let v: Value = r.json().await.expect("json");
        assert_eq!(v["error"], "invalid_query", "{bad}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viewer_tokens_read_but_are_refused_on_every_change() {
    let app = TestApp::start(BusMode::Embedded).await;
    for path in [
        "/api/v1/rules",
        "/api/v1/audit",
        "/api/v1/audit.csv",
        "/api/v1/requests",
    ] {
        let r = app
            .http
            .get(format!("{}{path}", app.url))
            .bearer_auth(VIEWER_TOKEN)
            .send()
            .await
            .expect("r");
        assert_eq!(r.status(), 200, "{path}");
    }
    let put = app
        .http
        .put(format!("{}/api/v1/rules", app.url))
        .bearer_auth(VIEWER_TOKEN)
        .json(&standard_rules())
        .send()
        .await
        .expect("r");
    assert_eq!(put.status(), 403);
    let v: Value = put.json().await.expect("json");
    assert_eq!(v["error"], "forbidden");
    let record = json!({"email": "grace@example.com", "product": "jira-software", "groups": ["jira-software-users"]});
    assert_eq!(
        app.admin_post(VIEWER_TOKEN, "/api/v1/reclaimed", &record)
            .await
            .status(),
        403
    );
    assert_eq!(
        app.admin_get("/api/v1/rules").await["version"],
        0,
        "nothing changed"
    );
    let r = app
        .http
        .get(format!("{}/api/v1/users/grace@example.com", app.url))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("r");
    assert_eq!(r.status(), 404, "the refused reclaim recorded nothing");
}

/// Waits until every queued email has been delivered (the outbox is empty).
async fn outbox_drained(app: &TestApp) {
    wait_outbox_at(&app.url, 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_are_emailed_once_when_restores_wait_for_seats() {
    let app = TestApp::start(BusMode::Embedded).await;
    assert_eq!(app.put_rules(standard_rules()).await.status(), 200);
    app.sim.set_seats(1);
    app.login_and_wait("grace@example.com", "jira-software", "approval_required")
        .await;
    // Full (1 of 1) is also above the 90 % threshold: two alerts, each once.
    // Seats full, above the threshold, and a request waiting: three emails to admins.
    let mails = app.smtp.wait_for(3).await;
    let full = mails
        .iter()
        .find(|m| m.data.contains("has no seats left"))
        .expect("seats-full alert");
    assert_eq!(full.to, vec![ALERT_EMAIL]);
    assert_eq!(full.from, "reinstate@example.com");
    assert!(full.data.contains("grace@example.com"), "{}", full.data);
    assert!(
        full.data.contains("Content-Type: text/plain")
            && full.data.contains("Content-Type: text/html"),
        "{}",
        full.data
    );
    assert!(!full.data.contains("<img") && !full.data.contains("<script"));
    assert!(
        mails
            .iter()
            .any(|m| m.data.contains("jira-software seats: 1 of 1 in use"))
    );
    // Another restore waiting for seats: recorded, but no second alert.
    app.login_and_wait("zed@example.com", "jira-software", "approval_required")
        .await;
    outbox_drained(&app).await;
    let seat_alerts = |needle: &str| {
        app.smtp
            .mails()
            .iter()
            .filter(|m| m.text().contains(needle))
            .count()
    };
    assert_eq!(
        seat_alerts("has no seats left: restores are waiting"),
        1,
        "one seats-full alert per crossing"
    );
    assert_eq!(
        seat_alerts("seats: 1 of 1 in use"),
        1,
        "one threshold alert per crossing"
    );
    assert_eq!(
        seat_alerts("asks for jira-software"),
        2,
        "each waiting request is announced"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crossing_the_seat_threshold_alerts_once() {
    let app = TestApp::start(BusMode::Embedded).await;
    assert_eq!(app.put_rules(standard_rules()).await.status(), 200);
    app.sim.set_seats(3);
    // ada holds 1 of 3; grace makes 2 of 3 (67 %), zed 3 of 3 (100 % ≥ 90 %).
    app.login_and_wait("grace@example.com", "jira-software", "restored")
        .await;
    outbox_drained(&app).await;
    assert!(app.smtp.mails().is_empty(), "67 % is below the threshold");
    let entry = app
        .login_and_wait("zed@example.com", "jira-software", "restored")
        .await;
    assert_eq!(entry["seats_after"]["used"], 3);
    let mails = app.smtp.wait_for(1).await;
    assert!(
        mails[0].data.contains("jira-software seats: 3 of 3 in use"),
        "{}",
        mails[0].data
    );
    // Still above the threshold: later events send nothing more.
    app.login_and_wait("ada@example.com", "jira-software", "already_licensed")
        .await;
    outbox_drained(&app).await;
    assert_eq!(app.smtp.mails().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_queued_during_an_smtp_outage_survives_a_restart_and_is_delivered() {
    let mut app = TestApp::start(BusMode::Embedded).await;
    assert_eq!(app.put_rules(standard_rules()).await.status(), 200);
    app.smtp.set_paused(true);
    app.sim.set_seats(1);
    app.login_and_wait("grace@example.com", "jira-software", "approval_required")
        .await;
    assert_eq!(
        outbox_at(&app.url).await,
        3,
        "both seat alerts and the waiting request's email wait in the outbox"
    );
    app.restart().await;
    app.smtp.set_paused(false);
    let mails = app.smtp.wait_for(3).await;
    assert!(mails.iter().any(|m| m.data.contains("has no seats left")));
    outbox_drained(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_round_trip_through_export_and_import_files() {
    let app = TestApp::start(BusMode::Embedded).await;
    assert_eq!(app.put_rules(standard_rules()).await.status(), 200);
    let dir = tempfile::tempdir().expect("tempdir");
    let bin = env!("CARGO_BIN_EXE_reinstate");
    let run = |args: &[&str]| {
        std::process::Command::new(bin)
            .args(args)
            .args(["--url", &app.url])
            .env("REINSTATE_ADMIN_TOKEN", ADMIN_TOKEN)
            .env("REINSTATE__STORE__PATH", dir.path())
            .output()
            .expect("run reinstate")
    };
    let out = run(&["rules", "export"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let exported: Value = serde_json::from_slice(&out.stdout).expect("exported JSON");
    assert_eq!(exported, standard_rules());

    let mut edited = exported.clone();
    edited["rules"][1]["enabled"] = json!(false);
    let file = dir.path().join("rules.json");
    std::fs::write(&file, serde_json::to_vec_pretty(&edited).expect("json")).expect("write");
    let out = run(&["rules", "import", file.to_str().expect("path")]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let live = app.admin_get("/api/v1/rules").await;
    assert_eq!(
        (live["version"].as_u64(), &live["rules"][1]["enabled"]),
        (Some(2), &json!(false))
    );

    std::fs::write(
        &file,
        br#"{"rules": [{"name": "x", "when": {"domian": ["example.com"]}, "then": "restore"}]}"#,
    )
    .expect("write");
    let out = run(&["rules", "import", file.to_str().expect("path")]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("rules[0].when") && err.contains("domian"),
        "{err}"
    );
    assert_eq!(
        app.admin_get("/api/v1/rules").await["version"],
        2,
        "a rejected import changes nothing"
    );
}
