//! Reclamation over real HTTP, against the simulated organisation and site and a real SMTP
//! sink: warnings before reclaims, protected users, keep, dry runs, exact takes, undo, a login
//! that restores exactly what was taken, bulk jobs, leavers, and a run killed half-way.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::*;

const ORG: &str =
    "org_id = \"org-1\"\norg_api_key = \"sim-api-token\"\nadmin_api_url = \"{SIM_URL}\"\n";

fn options(extra: &str) -> Options {
    Options {
        directory_toml: ORG.into(),
        extra_toml: extra.into(),
        ..Default::default()
    }
}

pub(crate) fn days_ago(n: i64) -> String {
    (time::OffsetDateTime::now_utc() - time::Duration::days(n))
        .format(&time::format_description::well_known::Rfc3339)
        .expect("format")
}

/// An account in these groups, last active in Jira `idle_days` ago.
pub(crate) fn person(app: &TestApp, name: &str, groups: &[&str], idle_days: i64) -> String {
    let account = format!("acc-{name}");
    app.sim
        .add_member_of(&account, &format!("{name}@example.com"), groups);
    app.sim
        .set_last_active(&account, "jira", &days_ago(idle_days));
    account
}

pub(crate) async fn put_policies(app: &TestApp, policies: Value) -> reqwest::Response {
    app.http
        .put(format!("{}/api/v1/reclaim/policies", app.url))
        .bearer_auth(ADMIN_TOKEN)
        .json(&policies)
        .send()
        .await
        .expect("put")
}

fn jira_policy(warn_days: u32) -> Value {
    json!({"policies": [{"name": "jira 90", "products": ["jira-software"], "inactive_after_days": 90,
                         "action": "remove-product-access", "warn_days_before": warn_days,
                         "protect": {"groups": ["vip"]}}]})
}

/// Starts a run and waits until it is done; returns its page.
pub(crate) async fn run(app: &TestApp, dry_run: bool) -> Value {
    let r = app
        .admin_post(
            ADMIN_TOKEN,
            "/api/v1/reclaim/runs",
            &json!({"dry_run": dry_run}),
        )
        .await;
    assert_eq!(r.status(), 202);
    let page: Value = r.json().await.expect("json");
    let id = page["run"]["id"].as_str().expect("id").to_string();
    wait_done(app, &format!("/api/v1/reclaim/runs/{id}")).await
}

/// Polls a run's or job's page until it is done.
pub(crate) async fn wait_done(app: &TestApp, path: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let page = app.admin_get(path).await;
        if page["run"]["state"] == "done" {
            return page;
        }
        assert!(Instant::now() < deadline, "not done: {page:#}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `email → (step, result)` of a run's entries.
fn steps(page: &Value) -> std::collections::BTreeMap<String, (String, String)> {
    page["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| {
            (
                e["email"].as_str().unwrap_or_default().to_string(),
                (
                    e["step"].as_str().unwrap_or_default().to_string(),
                    e["result"].as_str().unwrap_or_default().to_string(),
                ),
            )
        })
        .collect()
}

fn deletes(app: &TestApp) -> Vec<Call> {
    app.sim
        .calls()
        .into_iter()
        .filter(|c| c.method == "DELETE")
        .collect()
}

fn pair(step: &str, result: &str) -> (String, String) {
    (step.to_string(), result.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_are_warned_before_any_reclaim_protected_ones_listed_and_a_dry_run_changes_nothing() {
    let app = TestApp::start_with(BusMode::Embedded, options("")).await;
    for name in ["idle1", "idle2"] {
        person(&app, name, &["jira-software-users"], 120);
    }
    person(&app, "vip", &["jira-software-users", "vip"], 120);
    person(&app, "root", &["jira-software-users", "site-admins"], 120);
    person(&app, "busy", &["jira-software-users"], 3);
    app.sync_inventory().await;
    assert_eq!(put_policies(&app, jira_policy(7)).await.status(), 200);

    let preview = run(&app, true).await;
    let expected = [
        ("idle1@example.com", pair("warn", "preview")),
        ("idle2@example.com", pair("warn", "preview")),
        ("root@example.com", pair("protected", "preview")),
        ("vip@example.com", pair("protected", "preview")),
    ];
    let listed = steps(&preview);
    assert_eq!(listed.len(), 4, "{listed:?}");
    for (who, step) in &expected {
        assert_eq!(listed.get(*who), Some(step), "{who}: {listed:?}");
    }
    let reasons: Vec<&str> = preview["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| e["reason"].as_str().unwrap_or_default())
        .collect();
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("always protected: an administrator")),
        "{reasons:?}"
    );
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("in the protected group \"vip\"")),
        "{reasons:?}"
    );
    assert!(
        deletes(&app).is_empty() && app.smtp.mails().is_empty(),
        "a dry run changes nothing"
    );

    let real = run(&app, false).await;
    let listed = steps(&real);
    assert_eq!(listed["idle1@example.com"], pair("warn", "done"));
    assert_eq!(listed["vip@example.com"], pair("protected", "skipped"));
    let mails = app.smtp.wait_for(3).await;
    let warning = mails
        .iter()
        .find(|m| m.to == ["idle1@example.com"])
        .expect("a warning for idle1")
        .text();
    assert!(
        warning.contains(">Keep my access</a>") && warning.contains("/v1/links/v1."),
        "{warning}"
    );
    assert!(
        mails.iter().any(|m| m.to == [ALERT_EMAIL]),
        "the admins' summary"
    );
    assert_eq!(app.audit_of("warned").await.len(), 2);

    // Warned today: the reclaim waits for the warning's seven days, whatever runs meanwhile.
    let again = run(&app, false).await;
    assert_eq!(steps(&again)["idle1@example.com"].0, "waiting");
    assert!(
        deletes(&app).is_empty(),
        "nobody reclaimed before the warning ran out"
    );
    for account in ["acc-vip", "acc-root", "acc-busy"] {
        assert!(
            app.sim
                .groups_of(account)
                .contains(&"jira-software-users".to_string())
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reclaim_takes_exact_groups_a_login_and_an_undo_give_back_exactly_those() {
    let app = TestApp::start_with(
        BusMode::Embedded,
        options("[reclaim]\nprice_per_seat = { \"jira-software\" = 8.6 }\n"),
    )
    .await;
    assert_eq!(app.put_rules(standard_rules()).await.status(), 200);
    let both = ["jira-software-users", "jira-software-legacy", "engineering"];
    let old1 = person(&app, "old1", &both, 200);
    let old2 = person(&app, "old2", &["jira-software-users"], 200);
    let old3 = person(&app, "old3", &both, 200);
    app.sync_inventory().await;
    assert_eq!(put_policies(&app, jira_policy(0)).await.status(), 200);

    let page = run(&app, false).await;
    let id = page["run"]["id"].as_str().expect("id").to_string();
    assert_eq!(page["counts"]["seats_freed"]["jira-software"], 3);
    assert_eq!(app.sim.groups_of(&old1), ["engineering"]);
    assert!(app.sim.groups_of(&old2).is_empty());
    let summary = app
        .smtp
        .wait_for(1)
        .await
        .into_iter()
        .find(|m| m.to == [ALERT_EMAIL])
        .expect("summary")
        .text();
    assert!(
        summary.contains("jira-software: 3 seats freed, about 25.80 USD a month"),
        "{summary}"
    );
    let csv = app
        .http
        .get(format!("{}/api/v1/reclaim/runs/{id}.csv", app.url))
        .bearer_auth(VIEWER_TOKEN)
        .send()
        .await
        .expect("csv")
        .text()
        .await
        .expect("text");
    assert!(
        csv.starts_with("seq,email,account_id,product,policy,step,reason"),
        "{csv}"
    );
    assert_eq!(csv.matches("remove-product-access").count(), 3, "{csv}");

    // old3 logs in: the rules give Jira Software back — exactly the two groups taken.
    app.login_and_wait("old3@example.com", "jira-software", "restored")
        .await;
    let mut back = app.sim.groups_of(&old3);
    back.sort();
    assert_eq!(
        back,
        ["engineering", "jira-software-legacy", "jira-software-users"]
    );

    // The undo gives back what is still taken: old1's two groups, old2's one.
    let r = app
        .admin_post(
            ADMIN_TOKEN,
            &format!("/api/v1/reclaim/runs/{id}/undo"),
            &json!({}),
        )
        .await;
    assert_eq!(r.status(), 202);
    let undo: Value = r.json().await.expect("json");
    assert_eq!(
        undo["entries"].as_array().map(Vec::len),
        Some(2),
        "{undo:#}"
    );
    let undo_id = undo["run"]["id"].as_str().expect("id");
    wait_done(&app, &format!("/api/v1/jobs/{undo_id}")).await;
    let mut back = app.sim.groups_of(&old1);
    back.sort();
    assert_eq!(
        back,
        ["engineering", "jira-software-legacy", "jira-software-users"]
    );
    assert_eq!(app.sim.groups_of(&old2), ["jira-software-users"]);
    let r = app
        .admin_post(
            ADMIN_TOKEN,
            &format!("/api/v1/reclaim/runs/{id}/undo"),
            &json!({}),
        )
        .await;
    assert_eq!(r.status(), 409, "nothing left to undo");

    // Given back: left alone for reclaim.min_days_since_restore, though idle.
    let after = run(&app, false).await;
    let listed = steps(&after);
    assert_eq!(listed["old1@example.com"].0, "protected", "{listed:?}");
    assert!(
        !listed.contains_key("old3@example.com"),
        "old3 logged in: active, not flagged"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pressing_keep_in_the_warning_stops_the_reclaim() {
    let app = TestApp::start_with(BusMode::Embedded, options("")).await;
    person(&app, "keeper", &["jira-software-users"], 150);
    app.sync_inventory().await;
    assert_eq!(put_policies(&app, jira_policy(7)).await.status(), 200);
    run(&app, false).await;
    let mails = app.smtp.wait_for(1).await;
    let warning = mails
        .iter()
        .find(|m| m.to == ["keeper@example.com"])
        .expect("warning")
        .text();
    let link = warning
        .split_whitespace()
        .find(|w| w.contains("/v1/links/v1."))
        .expect("a link")
        .to_string();
    assert_eq!(
        app.http.post(&link).send().await.expect("keep").status(),
        200
    );
    app.wait_for_outcome("keeper@example.com", "keep_recorded")
        .await;
    let after = run(&app, false).await;
    let entry = &after["entries"][0];
    assert_eq!(entry["step"], "protected");
    assert!(
        entry["reason"]
            .as_str()
            .expect("reason")
            .contains("asked to keep"),
        "{entry}"
    );
    assert!(deletes(&app).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_danger_actions_need_confirm_csv_users_are_checked_whole_and_jobs_undo() {
    let app = TestApp::start_with(BusMode::Embedded, options("")).await;
    let b1 = person(&app, "b1", &["jira-software-users"], 1);
    let b2 = person(&app, "b2", &["jira-software-users"], 1);
    app.sync_inventory().await;
    let body = json!({"action": "remove-from-group", "users": ["b1@example.com", b2],
                      "group": "jira-software-users"});
    let r = app
        .admin_post(ADMIN_TOKEN, "/api/v1/users/bulk", &body)
        .await;
    assert_eq!(r.status(), 400);
    let e: Value = r.json().await.expect("json");
    assert_eq!(e["error"], "confirm_required");
    assert!(
        e["detail"]
            .as_str()
            .expect("detail")
            .contains("\"confirm\": 2"),
        "{e}"
    );
    assert!(deletes(&app).is_empty(), "nothing happened");

    let mut confirmed = body.clone();
    confirmed["confirm"] = json!(2);
    let r = app
        .admin_post(ADMIN_TOKEN, "/api/v1/users/bulk", &confirmed)
        .await;
    assert_eq!(r.status(), 202);
    let job: Value = r.json().await.expect("json");
    let id = job["run"]["id"].as_str().expect("id").to_string();
    let done = wait_done(&app, &format!("/api/v1/jobs/{id}")).await;
    assert_eq!(done["counts"]["results"]["done"], 2, "{done:#}");
    assert!(app.sim.groups_of(&b1).is_empty() && app.sim.groups_of(&b2).is_empty());

    // A CSV of users is checked whole: one unknown user, and nothing runs.
    let csv = app
        .http
        .post(format!(
            "{}/api/v1/users/bulk?action=add-to-group&group=jira-software-users",
            app.url
        ))
        .bearer_auth(ADMIN_TOKEN)
        .header("content-type", "text/csv")
        .body("email\r\nb1@example.com\r\nnobody@example.com\r\n")
        .send()
        .await
        .expect("csv");
    assert_eq!(csv.status(), 400);
    let e: Value = csv.json().await.expect("json");
    assert_eq!(e["error"], "unknown_users");
    assert!(
        e["detail"]
            .as_str()
            .expect("detail")
            .contains("nobody@example.com"),
        "{e}"
    );
    assert!(app.sim.groups_of(&b1).is_empty(), "nothing ran");

    let r = app
        .admin_post(ADMIN_TOKEN, &format!("/api/v1/jobs/{id}/undo"), &json!({}))
        .await;
    assert_eq!(r.status(), 202);
    let undo: Value = r.json().await.expect("json");
    wait_done(
        &app,
        &format!("/api/v1/jobs/{}", undo["run"]["id"].as_str().expect("id")),
    )
    .await;
    assert_eq!(app.sim.groups_of(&b1), ["jira-software-users"]);
    assert_eq!(app.sim.groups_of(&b2), ["jira-software-users"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leaver_reported_by_okta_or_a_signed_webhook_gets_the_leavers_policy() {
    let app = TestApp::start_with(BusMode::Embedded, options("")).await;
    let gone = person(&app, "gone", &["jira-software-users"], 1);
    let left = person(&app, "left", &["jira-software-users"], 1);
    app.sync_inventory().await;
    let policies = json!({"policies": [{"name": "leavers", "products": ["jira-software"],
        "inactive_after_days": 1, "action": "suspend"}]});
    assert_eq!(put_policies(&app, policies).await.status(), 200);
    let delivery = json!({"eventType": "com.okta.event_hook", "data": {"events": [
        {"uuid": "5a1e2c1a-0000-4000-8000-000000000001", "published": days_ago(0),
         "eventType": "user.lifecycle.deactivate", "outcome": {"result": "SUCCESS"},
         "actor": {"id": "00uadmin", "type": "User", "alternateId": "admin@example.com"},
         "target": [{"id": "00ugone", "type": "User", "alternateId": "gone@example.com"}]}]}});
    let r = app.post_okta(&delivery).await;
    assert_eq!(r.json::<Value>().await.expect("json")["leavers"], 1);
    let body = json!({"type": "user.deactivated", "user": {"email": "left@example.com"},
                      "occurred_at": days_ago(0)});
    assert_eq!(app.post_login_json(&body).await.status(), 202);
    let deadline = Instant::now() + Duration::from_secs(20);
    while app.sim.is_active(&gone) || app.sim.is_active(&left) {
        assert!(Instant::now() < deadline, "leavers not suspended");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let reclaimed = app.wait_for_entries("reclaimed", 2).await;
    assert!(reclaimed.iter().all(|e| {
        e["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("suspended")
    }));
    // An account a sync no longer finds is a leaver too: the policy is tried on it, and what
    // the directory answers (here: no such user) is on record.
    let went = person(&app, "went", &["jira-software-users"], 1);
    app.sync_inventory().await;
    app.sim.remove_user(&went);
    app.sync_inventory().await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let audit = app.audit("went@example.com").await;
        if let Some(e) = audit.iter().find(|e| {
            e["event_id"]
                .as_str()
                .unwrap_or_default()
                .contains(":gone:")
        }) {
            assert_eq!(e["outcome"], "failed", "{e}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the gone account was not handled: {audit:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A run killed with SIGKILL while its actions are carried out resumes after the restart: every
/// user reclaimed once, none skipped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_killed_half_way_resumes_with_no_user_reclaimed_twice_and_none_skipped() {
    const N: usize = 200;
    let sim = JiraSim::start().await;
    sim.add_users_in("r", N, "jira-software-users");
    for i in 0..N {
        sim.set_last_active(&format!("acc-r{i}"), "jira", &days_ago(200));
    }
    sim.set_rate_limit(40);
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path(), &sim, None, "[inventory]\nsync_every = \"0s\"\n");
    let env = [
        ("REINSTATE__DIRECTORY__ORG_ID", "org-1"),
        ("REINSTATE__DIRECTORY__ORG_API_KEY", "sim-api-token"),
        ("REINSTATE__DIRECTORY__ADMIN_API_URL", sim.url.as_str()),
        ("REINSTATE__DIRECTORY__RATE_LIMIT_PER_SEC", "40"),
        ("REINSTATE__DIRECTORY__RATE_LIMIT_BURST", "10"),
        ("REINSTATE__BUS__ACK_WAIT_SECS", "3"),
    ];
    let mut service = start_service_with(&config, None, &env).await;
    let http = reqwest::Client::new();
    let admin = |method: reqwest::Method, path: &str| {
        http.request(method, format!("{}{path}", service.url))
            .bearer_auth(ADMIN_TOKEN)
    };
    let r = admin(reqwest::Method::PUT, "/api/v1/reclaim/policies")
        .json(&jira_policy(0))
        .send()
        .await
        .expect("policies");
    assert_eq!(r.status(), 200);
    let r = admin(reqwest::Method::POST, "/api/v1/inventory/sync")
        .send()
        .await
        .expect("sync");
    assert_eq!(r.status(), 202);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let s: Value = admin(reqwest::Method::GET, "/api/v1/inventory/sync")
            .send()
            .await
            .expect("sync")
            .json()
            .await
            .expect("json");
        if s["state"] == "finished" {
            break;
        }
        assert!(Instant::now() < deadline, "no sync: {s}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let r = admin(reqwest::Method::POST, "/api/v1/reclaim/runs")
        .json(&json!({"dry_run": false}))
        .send()
        .await
        .expect("run");
    assert_eq!(r.status(), 202);
    let id = r.json::<Value>().await.expect("json")["run"]["id"]
        .as_str()
        .expect("id")
        .to_string();
    // Kill it once some, not all, were reclaimed.
    let removed = |sim: &JiraSim| {
        sim.calls()
            .iter()
            .filter(|c| c.method == "DELETE" && c.status == 200)
            .count()
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while removed(&sim) < N / 4 {
        assert!(Instant::now() < deadline, "the run made no progress");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    service.kill_9();
    let at_kill = removed(&sim);
    assert!(at_kill < N, "killed after the end: {at_kill}");
    service = start_service_with(&config, Some(service.port), &env).await;
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    let page: Value = loop {
        let page: Value = http
            .get(format!("{}/api/v1/reclaim/runs/{id}", service.url))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .expect("run")
            .json()
            .await
            .expect("json");
        if page["run"]["state"] == "done" {
            break page;
        }
        assert!(
            Instant::now() < deadline,
            "the run did not finish after the restart"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(page["counts"]["results"]["done"], N, "{:#}", page["counts"]);
    let mut per_account = std::collections::HashMap::<String, usize>::new();
    for c in sim
        .calls()
        .iter()
        .filter(|c| c.method == "DELETE" && c.status == 200)
    {
        let account = c
            .query
            .split('&')
            .find_map(|kv| kv.strip_prefix("accountId="))
            .unwrap_or_default()
            .to_string();
        *per_account.entry(account).or_default() += 1;
    }
    for i in 0..N {
        let account = format!("acc-r{i}");
        assert_eq!(
            per_account.get(&account),
            Some(&1),
            "{account} removed once"
        );
        assert!(sim.groups_of(&account).is_empty(), "{account}");
    }
    eprintln!("reclaim run killed after {at_kill} of {N} removals; resumed; each removed once");
}

/// Acquisitions: a domain's addresses move to another, recorded and undone; what Atlassian
/// refuses (an account an identity provider manages) fails that user's entry with the reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn email_domains_change_and_back_and_refused_deactivations_say_why() {
    let app = TestApp::start_with(BusMode::Embedded, options("")).await;
    let c1 = person(&app, "c1", &["jira-software-users"], 1);
    let managed = "scim-managed-1";
    app.sim
        .add_member_of(managed, "idp@example.com", &["jira-software-users"]);
    app.sim.set_last_active(managed, "jira", &days_ago(300));
    app.sync_inventory().await;
    // The confirm step says what Atlassian does besides: it ends the account's sessions.
    let unconfirmed = json!({"action": "change-email-domain", "users": ["c1@example.com"],
                             "from": "example.com", "to": "acme.test"});
    let r = app
        .admin_post(ADMIN_TOKEN, "/api/v1/users/bulk", &unconfirmed)
        .await;
    assert_eq!(r.status(), 400);
    let refused: Value = r.json().await.expect("json");
    assert_eq!(refused["error"], "confirm_required");
    assert!(
        refused["detail"]
            .as_str()
            .expect("detail")
            .contains("ends every session"),
        "{refused}"
    );
    let body = json!({"action": "change-email-domain", "users": ["c1@example.com"],
                      "from": "example.com", "to": "acme.test", "confirm": 1});
    let r = app
        .admin_post(ADMIN_TOKEN, "/api/v1/users/bulk", &body)
        .await;
    assert_eq!(r.status(), 202);
    let job: Value = r.json().await.expect("json");
    let id = job["run"]["id"].as_str().expect("id").to_string();
    wait_done(&app, &format!("/api/v1/jobs/{id}")).await;
    assert_eq!(app.sim.email_of(&c1).as_deref(), Some("c1@acme.test"));
    // Through the documented call: PUT /users/{id}/manage/email.
    let puts: Vec<Call> = app
        .sim
        .calls()
        .into_iter()
        .filter(|c| c.method == "PUT" && c.path == format!("/users/{c1}/manage/email"))
        .collect();
    assert_eq!(puts.len(), 1, "{puts:?}");
    assert_eq!(puts[0].body, json!({"email": "c1@acme.test"}));
    let r = app
        .admin_post(ADMIN_TOKEN, &format!("/api/v1/jobs/{id}/undo"), &json!({}))
        .await;
    let undo: Value = r.json().await.expect("json");
    wait_done(
        &app,
        &format!("/api/v1/jobs/{}", undo["run"]["id"].as_str().expect("id")),
    )
    .await;
    assert_eq!(app.sim.email_of(&c1).as_deref(), Some("c1@example.com"));

    let policies = json!({"policies": [{"name": "deactivate 180", "products": ["jira-software"],
        "inactive_after_days": 180, "action": "deactivate"}]});
    assert_eq!(put_policies(&app, policies).await.status(), 200);
    let page = run(&app, false).await;
    let entry = page["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .find(|e| e["account_id"] == managed)
        .cloned()
        .expect("the managed account is flagged");
    assert_eq!(entry["result"], "failed", "{entry}");
    let detail = entry["detail"].as_str().expect("detail");
    assert!(
        detail.contains("managed by an identity provider"),
        "{detail}"
    );
    assert!(app.sim.is_active(managed));
}

/// Data Center usernames: renamed in bulk (confirmed), and back by undo.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_center_usernames_are_renamed_and_back() {
    let app = TestApp::start_with(
        BusMode::Embedded,
        Options {
            directory_kind: "jira-data-center",
            ..Default::default()
        },
    )
    .await;
    app.sim.add_person("jdoe", "jdoe@example.com");
    app.sync_inventory().await;
    let body = json!({"action": "rename", "users": ["jdoe@example.com"], "new_names": ["john.doe"],
                      "confirm": 1});
    let r = app
        .admin_post(ADMIN_TOKEN, "/api/v1/users/bulk", &body)
        .await;
    assert_eq!(r.status(), 202);
    let job: Value = r.json().await.expect("json");
    let id = job["run"]["id"].as_str().expect("id").to_string();
    wait_done(&app, &format!("/api/v1/jobs/{id}")).await;
    assert_eq!(
        app.sim.email_of("john.doe").as_deref(),
        Some("jdoe@example.com")
    );
    let r = app
        .admin_post(ADMIN_TOKEN, &format!("/api/v1/jobs/{id}/undo"), &json!({}))
        .await;
    let undo: Value = r.json().await.expect("json");
    wait_done(
        &app,
        &format!("/api/v1/jobs/{}", undo["run"]["id"].as_str().expect("id")),
    )
    .await;
    assert_eq!(
        app.sim.email_of("jdoe").as_deref(),
        Some("jdoe@example.com")
    );
}

/// Issue 24, item 1: *Run now* used to take licences in one click. Now a run starts only from a
/// finished preview's page: it says what it would do, users can be taken out, and it runs only
/// with the number of accounts it will change typed — a wrong number, or a number the excluded
/// users no longer make, changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_starts_only_from_its_preview_with_the_number_it_will_change_typed() {
    let app = TestApp::start_with(
        BusMode::Embedded,
        options("[reclaim]\nprice_per_seat = { \"jira-software\" = 8.6 }\n"),
    )
    .await;
    let groups = ["jira-software-users"];
    let old: Vec<String> = (1..=3)
        .map(|i| person(&app, &format!("old{i}"), &groups, 200))
        .collect();
    person(&app, "fresh", &groups, 3);
    app.sync_inventory().await;
    assert_eq!(put_policies(&app, jira_policy(0)).await.status(), 200);
    let cookie = console_sign_in(&app, ADMIN_TOKEN).await;
    let get = |path: String| {
        no_redirects()
            .get(format!("{}{path}", app.url))
            .header("cookie", &cookie)
            .send()
    };
    let page = get("/console/reclaim".into()).await.expect("page");
    let html = page.text().await.expect("html");
    assert!(!html.contains("value=\"run\""), "no one-click run: {html}");
    let csrf = csrf_in(&html);
    let post = |path: String, form: Vec<(&'static str, String)>| {
        no_redirects()
            .post(format!("{}{path}", app.url))
            .header("cookie", &cookie)
            .form(&form)
            .send()
    };
    // A one-click run posted anyway starts nothing.
    let r = post(
        "/console/reclaim".into(),
        vec![("csrf", csrf.clone()), ("op", "run".into())],
    )
    .await
    .expect("post");
    assert_eq!(r.status(), 400);
    assert!(
        r.text()
            .await
            .expect("html")
            .contains("starts from its preview")
    );
    let runs = app.admin_get("/api/v1/reclaim/runs").await;
    assert_eq!(runs["runs"].as_array().map(Vec::len), Some(0), "{runs}");

    // The preview says what a run would do, and offers the run.
    let r = post(
        "/console/reclaim".into(),
        vec![("csrf", csrf.clone()), ("op", "preview".into())],
    )
    .await
    .expect("post");
    assert_eq!(r.status(), 303);
    let preview = r.headers()["location"]
        .to_str()
        .expect("location")
        .to_string();
    let id = preview.trim_start_matches("/console/jobs/").to_string();
    wait_done(&app, &format!("/api/v1/reclaim/runs/{id}")).await;
    let html = get(preview.clone())
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert!(html.contains("What a run would do"), "{html}");
    assert!(
        html.contains("It will change <strong>3 accounts</strong>"),
        "{html}"
    );
    assert!(html.contains("25.80"), "the saving: {html}");
    assert_eq!(html.matches("name=\"exclude\"").count(), 3, "{html}");

    // A wrong number, or one that forgets the user taken out, changes nothing.
    let run_path = format!("{preview}/run");
    for (confirm, exclude) in [("4", None), ("3", Some(old[0].clone())), ("three", None)] {
        let mut form = vec![("csrf", csrf.clone()), ("confirm", confirm.to_string())];
        form.extend(exclude.map(|x| ("exclude", x)));
        let r = post(run_path.clone(), form).await.expect("post");
        assert!(
            matches!(r.status().as_u16(), 400 | 409),
            "{confirm}: {}",
            r.status()
        );
        let text = r.text().await.expect("html");
        assert!(
            text.contains("Type the number") || text.contains("would change"),
            "{text}"
        );
    }
    assert!(old.iter().all(|a| app.sim.groups_of(a) == groups));
    // Taking one user out and typing 2 runs on the other two only.
    let r = post(
        run_path,
        vec![
            ("csrf", csrf.clone()),
            ("confirm", "2".into()),
            ("exclude", old[0].clone()),
        ],
    )
    .await
    .expect("post");
    assert_eq!(r.status(), 303);
    let real = r.headers()["location"]
        .to_str()
        .expect("location")
        .to_string();
    assert_ne!(real, preview);
    let done = wait_done(
        &app,
        &real.replace("/console/jobs/", "/api/v1/reclaim/runs/"),
    )
    .await;
    assert_eq!(done["run"]["dry_run"], false);
    assert_eq!(
        done["counts"]["seats_freed"]["jira-software"], 2,
        "{done:#}"
    );
    assert_eq!(app.sim.groups_of(&old[0]), groups, "taken out of the run");
    assert!(app.sim.groups_of(&old[1]).is_empty() && app.sim.groups_of(&old[2]).is_empty());
    // The API does the same, and refuses from_preview without confirm.
    let r = app
        .admin_post(
            ADMIN_TOKEN,
            "/api/v1/reclaim/runs",
            &json!({"from_preview": id}),
        )
        .await;
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["error"], "confirm_required", "{body}");
}

/// Issue 24, item 4: *Disable Licenses* with a product chosen suspended the whole account but
/// counted that product's seat only. It is named for what it does, its confirm step says so,
/// the API refuses a product with it, and the seats of every product the account held count.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suspending_accounts_says_so_and_counts_every_product_freed() {
    let app = TestApp::start_with(BusMode::Embedded, options("")).await;
    let both = person(
        &app,
        "both",
        &["jira-software-users", "confluence-users"],
        200,
    );
    app.sync_inventory().await;
    let held = app.admin_get("/api/v1/inventory/users?q=both").await;
    let products = &held["users"][0]["products"];
    assert!(
        products.to_string().contains("jira-software")
            && products.to_string().contains("confluence"),
        "{held:#}"
    );
    // The API refuses a product with it, naming the field and what to use instead.
    let r = app
        .admin_post(
            ADMIN_TOKEN,
            "/api/v1/users/bulk",
            &json!({"action": "disable-licences", "users": [&both], "product": "confluence", "confirm": 1}),
        )
        .await;
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.expect("json");
    assert!(
        body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("whole accounts") && d.contains("revoke-product-access")),
        "{body}"
    );
    // The console names it for what it does, and its confirm step says it.
    let cookie = console_sign_in(&app, ADMIN_TOKEN).await;
    let html = no_redirects()
        .get(format!("{}/console/users", app.url))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert!(html.contains("Suspend accounts (every product)"), "{html}");
    let csrf = csrf_in(&html);
    let confirm = no_redirects()
        .post(format!("{}/console/users/bulk", app.url))
        .header("cookie", &cookie)
        .form(&[
            ("csrf", csrf.as_str()),
            ("action", "disable-licences"),
            ("product", "confluence"),
            ("user", both.as_str()),
        ])
        .send()
        .await
        .expect("post")
        .text()
        .await
        .expect("html");
    assert!(confirm.contains("every product it holds"), "{confirm}");
    // Confirmed there (the product the bar showed is not used): both products' seats count.
    let r = no_redirects()
        .post(format!("{}/console/users/bulk", app.url))
        .header("cookie", &cookie)
        .form(&[
            ("csrf", csrf.as_str()),
            ("action", "disable-licences"),
            ("product", "confluence"),
            ("user", both.as_str()),
            ("confirm", "1"),
        ])
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 303);
    let job = r.headers()["location"]
        .to_str()
        .expect("location")
        .to_string();
    let done = wait_done(&app, &job.replace("/console/jobs/", "/api/v1/jobs/")).await;
    assert_eq!(done["entries"][0]["result"], "done", "{done:#}");
    let freed = &done["counts"]["seats_freed"];
    assert_eq!(freed["jira-software"], 1, "{done:#}");
    assert_eq!(freed["confluence"], 1, "{done:#}");
    assert!(freed.get("all products").is_none(), "{done:#}");
}

/// Issue 24, item 5: results that were not true. Restoring an account that is active said
/// "done — the account is now active"; giving back licences to users from whom nothing was
/// taken ran a job where everyone was skipped. Now a job with nothing to do does not start,
/// and an entry says what really happened.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_results_say_what_really_happened_and_empty_jobs_do_not_start() {
    let app = TestApp::start_with(BusMode::Embedded, options("")).await;
    let active = person(&app, "active", &["jira-software-users"], 5);
    let away = person(&app, "away", &["jira-software-users"], 5);
    app.sync_inventory().await;
    let app = &app;
    let bulk = |body: Value| async move {
        app.admin_post(ADMIN_TOKEN, "/api/v1/users/bulk", &body)
            .await
    };
    let refused = |r: reqwest::Response, code: &'static str| async move {
        assert_eq!(r.status(), 400);
        let body: Value = r.json().await.expect("json");
        assert_eq!(body["error"], code, "{body}");
        body["detail"].as_str().unwrap_or_default().to_string()
    };
    let writes = || app.sim.calls().iter().filter(|c| c.method != "GET").count();
    let before = writes();
    // Nothing to do: no job.
    let detail = refused(
        bulk(json!({"action": "restore-suspended", "users": [&active]})).await,
        "nothing_to_do",
    )
    .await;
    assert!(detail.contains("already active"), "{detail}");
    let detail = refused(
        bulk(json!({"action": "enable-licences", "users": [&active, &away]})).await,
        "nothing_to_do",
    )
    .await;
    assert!(detail.contains("grant-product-access"), "{detail}");
    assert_eq!(
        app.admin_get("/api/v1/reclaim/runs").await["runs"],
        json!([])
    );
    assert_eq!(writes(), before, "nothing was called");
    // One suspended, one active: the job runs, and the active one is said to be already so.
    let r = bulk(json!({"action": "disable-licences", "users": [&away], "confirm": 1})).await;
    let job: Value = r.json().await.expect("json");
    wait_done(
        app,
        &format!("/api/v1/jobs/{}", job["run"]["id"].as_str().expect("id")),
    )
    .await;
    let r = bulk(json!({"action": "restore-suspended", "users": [&active, &away]})).await;
    assert_eq!(r.status(), 202);
    let job: Value = r.json().await.expect("json");
    let done = wait_done(
        app,
        &format!("/api/v1/jobs/{}", job["run"]["id"].as_str().expect("id")),
    )
    .await;
    let by_account = |id: &str| {
        done["entries"]
            .as_array()
            .expect("entries")
            .iter()
            .find(|e| e["account_id"] == id)
            .cloned()
            .expect("entry")
    };
    let a = by_account(&active);
    assert_eq!(a["result"], "skipped", "{a}");
    assert_eq!(a["detail"], "already active: nothing to do", "{a}");
    let b = by_account(&away);
    assert_eq!(b["result"], "done", "{b}");
    assert_eq!(b["detail"], "the account is now active", "{b}");
}

/// Issue 24, item 12 (in part): an undone job still offered Undo. The button shows only while
/// something the job took is still taken.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undo_is_offered_only_while_something_is_still_taken() {
    let app = TestApp::start_with(BusMode::Embedded, options("")).await;
    let who = person(&app, "who", &["jira-software-users"], 200);
    app.sync_inventory().await;
    let r = app
        .admin_post(
            ADMIN_TOKEN,
            "/api/v1/users/bulk",
            &json!({"action": "disable-licences", "users": [&who], "confirm": 1}),
        )
        .await;
    let id = r.json::<Value>().await.expect("json")["run"]["id"]
        .as_str()
        .expect("id")
        .to_string();
    wait_done(&app, &format!("/api/v1/jobs/{id}")).await;
    let cookie = console_sign_in(&app, ADMIN_TOKEN).await;
    let undo_offered = || async {
        no_redirects()
            .get(format!("{}/console/jobs/{id}", app.url))
            .header("cookie", &cookie)
            .send()
            .await
            .expect("page")
            .text()
            .await
            .expect("html")
            .contains(&format!("action=\"/console/jobs/{id}/undo\""))
    };
    assert!(undo_offered().await, "taken: Undo offered");
    let r = app
        .admin_post(ADMIN_TOKEN, &format!("/api/v1/jobs/{id}/undo"), &json!({}))
        .await;
    assert_eq!(r.status(), 202);
    let undo = r.json::<Value>().await.expect("json")["run"]["id"]
        .as_str()
        .expect("id")
        .to_string();
    wait_done(&app, &format!("/api/v1/jobs/{undo}")).await;
    assert!(!undo_offered().await, "given back: no Undo");
}
