//! The cases an outside tester tried against the release binary that did not hold (issue 25),
//! kept as tests: each names what was sent and what must happen instead.

use serde_json::Value;

use crate::support::*;

/// A sign-in's `next=` holding CR/LF (a header injection) used to answer a bare 500 that
/// logged nothing; it falls back to `/console`, as any other target outside the console does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sign_in_next_with_control_characters_goes_to_the_console() {
    let app = TestApp::start(BusMode::Embedded).await;
    for next in [
        "/console\r\nSet-Cookie: stolen=1",
        "/console/users\nLocation: //evil.example",
        "/console\u{7f}",
        "/console/\\evil.example",
        "//evil.example/console",
        "https://evil.example/console",
    ] {
        let r = no_redirects()
            .post(format!("{}/console/sign-in", app.url))
            .form(&[("token", ADMIN_TOKEN), ("next", next)])
            .send()
            .await
            .expect("sign in");
        assert_eq!(r.status(), 303, "{next:?}");
        assert_eq!(r.headers()["location"], "/console", "{next:?}");
        assert!(
            r.headers()
                .get_all("set-cookie")
                .iter()
                .all(|c| !c.to_str().unwrap_or_default().contains("stolen")),
            "{next:?}"
        );
        // The form shows it escaped, never as markup.
        let page = app
            .http
            .get(format!("{}/console/sign-in", app.url))
            .query(&[("next", next)])
            .send()
            .await
            .expect("form");
        assert_eq!(page.status(), 200, "{next:?}");
        let html = page.text().await.expect("html");
        assert!(
            html.contains("name=\"next\" value=\"/console\""),
            "{next:?}"
        );
    }
    // A good target is kept.
    let r = no_redirects()
        .post(format!("{}/console/sign-in", app.url))
        .form(&[
            ("token", ADMIN_TOKEN),
            ("next", "/console/users?status=active"),
        ])
        .send()
        .await
        .expect("sign in");
    assert_eq!(r.headers()["location"], "/console/users?status=active");
}

/// Quoted local parts and markup (`"><svg/onload=…>@example.com`) were accepted as identities by
/// the senders and the portal; no directory holds them, so they are refused as not an email.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quoted_local_parts_are_not_identities() {
    let app = TestApp::start(BusMode::Embedded).await;
    assert_eq!(app.put_rules(standard_rules()).await.status(), 200);
    for email in [
        "\"><svg/onload=alert(1)>@example.com",
        "\"grace hopper\"@example.com",
        "<grace>@example.com",
    ] {
        let r = app.login(email, Some("jira-software")).await;
        assert_eq!(r.status(), 400, "{email}");
        let e: Value = r.json().await.expect("json");
        assert_eq!(e["error"], "invalid_event", "{email}: {e}");
        assert!(
            e["detail"].as_str().unwrap_or_default().contains("email"),
            "{e}"
        );
        // The portal's answer names the field, and asks again.
        let form = app
            .http
            .get(format!("{}/portal", app.url))
            .send()
            .await
            .expect("form");
        let cookie = cookie_pair(&form);
        let html = form.text().await.expect("html");
        let csrf = html
            .split("name=\"csrf\" value=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .expect("csrf")
            .to_string();
        let r = app
            .http
            .post(format!("{}/portal", app.url))
            .header("cookie", cookie)
            .form(&[
                ("csrf", csrf.as_str()),
                ("email", email),
                ("product", "jira-software"),
            ])
            .send()
            .await
            .expect("ask");
        assert_eq!(r.status(), 400, "{email}");
        let html = r.text().await.expect("html");
        assert!(html.contains("valid email address"), "{email}");
        assert!(!html.contains("<svg"), "{email}");
    }
    assert!(app.smtp.mails().is_empty(), "nothing was sent");
    assert!(app.audit_of("restored").await.is_empty());
}

async fn bulk_csv(app: &TestApp, query: &str, csv: &str) -> (u16, Value) {
    let r = app
        .http
        .post(format!("{}/api/v1/users/bulk?{query}", app.url))
        .bearer_auth(ADMIN_TOKEN)
        .header("content-type", "text/csv")
        .body(csv.to_string())
        .send()
        .await
        .expect("post");
    (r.status().as_u16(), r.json().await.expect("json"))
}

/// A bulk `rename` whose rows lacked a second cell, with a duplicate row, came out with as many
/// names as users — misaligned, so one user got another's new name. Each name stays with its
/// row; missing names and names or users given twice are refused with their line numbers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bulk_rename_never_gives_a_user_another_users_name() {
    let app = TestApp::start_with(
        BusMode::Embedded,
        Options {
            directory_kind: "jira-data-center",
            ..Default::default()
        },
    )
    .await;
    for (name, email) in [
        ("ann", "ann@example.com"),
        ("bob", "bob@example.com"),
        ("cy", "cy@example.com"),
    ] {
        app.sim.add_person(name, email);
    }
    app.sync_inventory().await;
    // Row 2 has no new name, row 4 repeats ann: three names for three users, but not theirs.
    let csv = "email,new\nann@example.com,ann.new\nbob@example.com\ncy@example.com,cy.new\nann@example.com,bob.new\n";
    let (status, e) = bulk_csv(&app, "action=rename&confirm=3", csv).await;
    assert_eq!(status, 400, "{e}");
    assert_eq!(e["error"], "invalid_csv");
    assert!(
        e["detail"].as_str().expect("detail").contains("line 3"),
        "{e}"
    );
    // Every name there, but one account twice.
    let csv = "ann@example.com,ann.new\nbob@example.com,bob.new\nANN@example.com,ann.other\n";
    let (status, e) = bulk_csv(&app, "action=rename&confirm=3", csv).await;
    assert_eq!(status, 400, "{e}");
    let detail = e["detail"].as_str().expect("detail");
    assert!(
        detail.contains("same account") && detail.contains("line 1 and line 3"),
        "{detail}"
    );
    // One new name for two users.
    let csv = "ann@example.com,same.name\nbob@example.com,Same.Name\n";
    let (status, e) = bulk_csv(&app, "action=rename&confirm=2", csv).await;
    assert_eq!(status, 400, "{e}");
    let detail = e["detail"].as_str().expect("detail");
    assert!(
        detail.contains("same new username") && detail.contains("line 1 and line 2"),
        "{detail}"
    );
    // The JSON form: a name per user, in order.
    let body = serde_json::json!({"action": "rename", "users": ["ann@example.com", "bob@example.com"],
                                  "new_names": ["ann.new"], "confirm": 2});
    let r = app
        .admin_post(ADMIN_TOKEN, "/api/v1/users/bulk", &body)
        .await;
    assert_eq!(r.status(), 400);
    // Nothing was renamed by any of them.
    for name in ["ann", "bob", "cy"] {
        assert!(app.sim.email_of(name).is_some(), "{name} kept its name");
    }
    // And a good file renames each user to its own row's name.
    let csv = "email,new\nbob@example.com,bob.new\nann@example.com,ann.new\n";
    let (status, job) = bulk_csv(&app, "action=rename&confirm=2", csv).await;
    assert_eq!(status, 202, "{job}");
    let id = job["run"]["id"].as_str().expect("id").to_string();
    crate::reclaim::wait_done(&app, &format!("/api/v1/jobs/{id}")).await;
    assert_eq!(
        app.sim.email_of("ann.new").as_deref(),
        Some("ann@example.com")
    );
    assert_eq!(
        app.sim.email_of("bob.new").as_deref(),
        Some("bob@example.com")
    );
}

/// `revoke-product-access` with `confirm: 1` stripped a site admin's licence: bulk actions
/// never asked who is always protected. Now a danger action refuses them before anything runs
/// (`400 protected_users`, naming each and why) unless the request names them again in
/// `override_protected`, which the entries and the audit record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_actions_refuse_the_always_protected_unless_overridden_by_name() {
    let app = TestApp::start_with(
        BusMode::Embedded,
        Options {
            extra_toml: "[reclaim]\nprotect_accounts = [\"vip@example.com\"]\n".into(),
            ..Default::default()
        },
    )
    .await;
    let admin = crate::reclaim::person(&app, "boss", &["site-admins", "jira-software-users"], 5);
    let vip = crate::reclaim::person(&app, "vip", &["jira-software-users"], 5);
    let plain = crate::reclaim::person(&app, "plain", &["jira-software-users"], 5);
    app.sync_inventory().await;
    let body = serde_json::json!({"action": "revoke-product-access", "product": "jira-software",
        "users": [&admin, "vip@example.com", &plain], "confirm": 3});
    let r = app
        .admin_post(ADMIN_TOKEN, "/api/v1/users/bulk", &body)
        .await;
    assert_eq!(r.status(), 400);
    let e: Value = r.json().await.expect("json");
    assert_eq!(e["error"], "protected_users", "{e}");
    let detail = e["detail"].as_str().expect("detail");
    assert!(
        detail.contains("boss@example.com") && detail.contains("site-admins"),
        "{detail}"
    );
    assert!(
        detail.contains("vip@example.com") && detail.contains("protect_accounts"),
        "{detail}"
    );
    assert!(!detail.contains("plain@example.com"), "{detail}");
    assert!(
        app.sim.calls().iter().all(|c| c.method != "DELETE"),
        "nothing ran"
    );
    // A name in override_protected that is not one of them is refused too.
    let mut stray = body.clone();
    stray["override_protected"] = serde_json::json!([&admin, "vip@example.com", &plain]);
    let r = app
        .admin_post(ADMIN_TOKEN, "/api/v1/users/bulk", &stray)
        .await;
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.json::<Value>().await.expect("json")["error"],
        "invalid_request"
    );
    // Named again: the job acts on them, and says whose protection it overrode.
    let mut overriding = body.clone();
    overriding["override_protected"] = serde_json::json!(["boss@example.com", &vip]);
    let r = app
        .admin_post(ADMIN_TOKEN, "/api/v1/users/bulk", &overriding)
        .await;
    assert_eq!(r.status(), 202, "{}", r.text().await.unwrap_or_default());
    let job: Value = r.json().await.expect("json");
    let id = job["run"]["id"].as_str().expect("id").to_string();
    let done = crate::reclaim::wait_done(&app, &format!("/api/v1/jobs/{id}")).await;
    for e in done["entries"].as_array().expect("entries") {
        assert_eq!(e["result"], "done", "{e}");
        let overrode = e["reason"]
            .as_str()
            .expect("reason")
            .contains("overriding the protection");
        assert_eq!(overrode, e["account_id"] != plain.as_str(), "{e}");
    }
    let audit = app.audit("boss@example.com").await;
    assert!(
        audit.iter().any(|a| a["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("override_protected")),
        "{audit:#?}"
    );
    assert!(
        !app.sim
            .groups_of(&admin)
            .contains(&"jira-software-users".to_string())
    );
}

/// Adding someone to an administrators' group makes them an administrator: confirmed by count.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adding_to_an_administrators_group_is_confirmed_by_count() {
    let app = TestApp::start(BusMode::Embedded).await;
    let who = crate::reclaim::person(&app, "newbie", &["jira-software-users"], 5);
    app.sync_inventory().await;
    let body =
        serde_json::json!({"action": "add-to-group", "group": "Site-Admins", "users": [&who]});
    let r = app
        .admin_post(ADMIN_TOKEN, "/api/v1/users/bulk", &body)
        .await;
    assert_eq!(r.status(), 400);
    let e: Value = r.json().await.expect("json");
    assert_eq!(e["error"], "confirm_required", "{e}");
    assert!(
        e["detail"]
            .as_str()
            .expect("detail")
            .contains("administrators"),
        "{e}"
    );
    assert!(
        app.sim
            .calls()
            .iter()
            .all(|c| c.method != "POST" || !c.path.contains("group/user"))
    );
    // Another group is not a danger action (nobody is in "staff" yet: said to exist).
    let body = serde_json::json!({"action": "add-to-group", "group": "staff", "users": [&who],
        "confirm_group": "staff"});
    let r = app
        .admin_post(ADMIN_TOKEN, "/api/v1/users/bulk", &body)
        .await;
    assert_eq!(r.status(), 202);
}

const ORG: &str =
    "org_id = \"org-1\"\norg_api_key = \"sim-api-token\"\nadmin_api_url = \"{SIM_URL}\"\n";

/// Okta reports these users deactivated (an Event Hook delivery, as Okta documents it).
async fn okta_deactivates(app: &TestApp, uuid: &str, emails: &[&str]) {
    let events: Vec<Value> = emails
        .iter()
        .enumerate()
        .map(|(i, email)| {
            serde_json::json!({
                "uuid": format!("{uuid}{i:012}"), "published": crate::reclaim::days_ago(0),
                "eventType": "user.lifecycle.deactivate", "outcome": {"result": "SUCCESS"},
                "actor": {"id": "00uadmin", "type": "User", "alternateId": "admin@example.com"},
                "target": [{"id": format!("00u{i}"), "type": "User", "alternateId": email}]})
        })
        .collect();
    let delivery = serde_json::json!({"eventType": "com.okta.event_hook",
                                      "data": {"events": events}});
    let r = app.post_okta(&delivery).await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<Value>().await.expect("json")["leavers"],
        emails.len()
    );
}

/// The audit entry of the leaver event about `email`, once it is handled.
async fn leaver_entry(app: &TestApp, email: &str) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let audit = app.audit(email).await;
        if let Some(e) = audit.iter().find(|e| {
            e["kind"] == "leaver" || e["reason"].as_str().unwrap_or_default().contains("leaver")
        }) {
            return e.clone();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the leaver {email} was not handled: {audit:#?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// A leaver report used to apply the `leavers` policy to anyone: an administrator, the service
/// account, and users the policy itself protects lost their access. Now each is audited
/// `protected` and keeps everything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leaver_report_never_takes_from_the_protected() {
    let options = Options {
        directory_toml: ORG.into(),
        extra_toml: "[reclaim]\nprotect_accounts = [\"kept@example.com\"]\n".into(),
        ..Default::default()
    };
    let app = TestApp::start_with(BusMode::Embedded, options).await;
    let admin = crate::reclaim::person(&app, "boss", &["jira-software-users", "site-admins"], 1);
    let vip = crate::reclaim::person(&app, "vip", &["jira-software-users", "board"], 1);
    let kept = crate::reclaim::person(&app, "kept", &["jira-software-users"], 1);
    let plain = crate::reclaim::person(&app, "plain", &["jira-software-users"], 1);
    app.sync_inventory().await;
    let policies = serde_json::json!({"policies": [{"name": "leavers",
        "products": ["jira-software"], "inactive_after_days": 1, "action": "suspend",
        "protect": {"groups": ["board"]}}]});
    assert_eq!(
        crate::reclaim::put_policies(&app, policies).await.status(),
        200
    );
    okta_deactivates(
        &app,
        "5a1e2c1a-0000-4000-8000-",
        &[
            "boss@example.com",
            "vip@example.com",
            "kept@example.com",
            "plain@example.com",
        ],
    )
    .await;
    // The one nobody protects is suspended; by then the others have been decided too.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while app.sim.is_active(&plain) {
        assert!(std::time::Instant::now() < deadline, "plain not suspended");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    for (email, account, why) in [
        ("boss@example.com", &admin, "site-admins"),
        ("vip@example.com", &vip, "protected group \"board\""),
        ("kept@example.com", &kept, "protect_accounts"),
    ] {
        let e = leaver_entry(&app, email).await;
        assert_eq!(e["outcome"], "protected", "{e}");
        assert!(
            e["reason"].as_str().unwrap_or_default().contains(why),
            "{e}"
        );
        assert!(app.sim.is_active(account), "{email} was suspended");
        assert!(
            app.sim
                .groups_of(account)
                .contains(&"jira-software-users".to_string()),
            "{email} lost a group"
        );
    }
}

/// Okta's Event Hook is authenticated by a static header only: with `confirm_leavers`, a
/// report about an account the inventory shows active is acted on only once Okta's Users API
/// says the user is deprovisioned or suspended (or a deactivation is under way), and a login
/// Okta cannot be asked about by login is not taken at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_okta_leaver_is_confirmed_by_okta_before_anything_is_taken() {
    let okta = crate::support::okta_sim::OktaSim::start().await;
    let options = Options {
        directory_toml: ORG.into(),
        okta_toml: format!(
            "confirm_leavers = true\napi_url = \"{}\"\napi_token = \"{}\"\n",
            okta.url,
            crate::support::okta_sim::OKTA_API_TOKEN
        ),
        ..Default::default()
    };
    let app = TestApp::start_with(BusMode::Embedded, options).await;
    let still = crate::reclaim::person(&app, "still", &["jira-software-users"], 1);
    let gone = crate::reclaim::person(&app, "gone", &["jira-software-users"], 1);
    let going = crate::reclaim::person(&app, "going", &["jira-software-users"], 1);
    let deleted = crate::reclaim::person(&app, "deleted", &["jira-software-users"], 1);
    okta.set("still@example.com", "ACTIVE", None);
    okta.set("gone@example.com", "DEPROVISIONED", None);
    okta.set("going@example.com", "ACTIVE", Some("DEPROVISIONED"));
    app.sync_inventory().await;
    let policies = serde_json::json!({"policies": [{"name": "leavers",
        "products": ["jira-software"], "inactive_after_days": 1, "action": "suspend"}]});
    assert_eq!(
        crate::reclaim::put_policies(&app, policies).await.status(),
        200
    );
    okta_deactivates(
        &app,
        "5a1e2c1a-0000-4000-8001-",
        &[
            "still@example.com",
            "gone@example.com",
            "going@example.com",
            "deleted@example.com",
        ],
    )
    .await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while [&gone, &going, &deleted]
        .iter()
        .any(|a| app.sim.is_active(a))
    {
        assert!(
            std::time::Instant::now() < deadline,
            "confirmed leavers not suspended"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let e = leaver_entry(&app, "still@example.com").await;
    assert_eq!(e["outcome"], "skipped", "{e}");
    let reason = e["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("ACTIVE") && reason.contains("confirm_leavers"),
        "{e}"
    );
    assert!(
        app.sim.is_active(&still),
        "an unconfirmed leaver was suspended"
    );
    let mut asked = okta.calls();
    asked.sort();
    assert_eq!(
        asked,
        [
            "deleted@example.com",
            "going@example.com",
            "gone@example.com",
            "still@example.com"
        ]
    );
}

/// Two restores deciding at the same moment used to both take the last seat of a product: each
/// read one seat left, and the product ended over its cap. A seat is now held for a restore
/// from its decision to its end, so exactly one is restored and the other waits for an admin.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_restores_never_take_more_seats_than_are_left() {
    let app = TestApp::start(BusMode::Embedded).await;
    assert_eq!(app.put_rules(standard_rules()).await.status(), 200);
    // ada holds one of two seats: one is left.
    app.sim.set_seats(2);
    // Each group add is slow, so that both restores decide before either is done.
    for _ in 0..2 {
        app.sim.push_fault_on(
            "/rest/api/3/group/user",
            Fault::Delay(std::time::Duration::from_millis(1500)),
        );
    }
    let (a, b) = tokio::join!(
        app.login("grace@example.com", Some("jira-software")),
        app.login("zed@example.com", Some("jira-software")),
    );
    assert_eq!((a.status().as_u16(), b.status().as_u16()), (202, 202));
    let mut restored = Vec::new();
    let mut waiting = Vec::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while restored.len() + waiting.len() < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "{restored:?} {waiting:?}"
        );
        restored.clear();
        waiting.clear();
        for email in ["grace@example.com", "zed@example.com"] {
            for e in app.audit(email).await {
                match e["outcome"].as_str() {
                    Some("restored") => restored.push(email),
                    Some("approval_required") => waiting.push((email, e["reason"].clone())),
                    _ => {}
                }
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(restored.len(), 1, "{restored:?} {waiting:?}");
    assert_eq!(waiting.len(), 1, "{restored:?} {waiting:?}");
    let reason = waiting[0].1.as_str().unwrap_or_default();
    assert!(reason.contains("no seats left"), "{reason}");
    let adds = app.sim.group_adds("acc-grace").len() + app.sim.group_adds("acc-zed").len();
    assert_eq!(adds, 1, "the product went over its seats");
    let pending = app.admin_get("/api/v1/requests").await;
    assert_eq!(pending["requests"][0]["email"], waiting[0].0);
}

/// Connections from 127.0.0.2 (another address on loopback) that send nothing, opened again as
/// soon as they close, for `for_how_long`; returns what each got, and whether the server
/// closed it before the flood ended.
async fn flood(
    target: std::net::SocketAddr,
    sockets: usize,
    for_how_long: std::time::Duration,
) -> Vec<(String, bool)> {
    use tokio::io::AsyncReadExt;
    let until = std::time::Instant::now() + for_how_long;
    let mut tasks = Vec::new();
    for _ in 0..sockets {
        tasks.push(tokio::spawn(async move {
            let mut answers = Vec::new();
            while std::time::Instant::now() < until {
                let socket = tokio::net::TcpSocket::new_v4().expect("socket");
                socket
                    .bind("127.0.0.2:0".parse().expect("addr"))
                    .expect("bind 127.0.0.2");
                let Ok(mut stream) = socket.connect(target).await else {
                    continue;
                };
                let mut answer = Vec::new();
                let left = until.saturating_duration_since(std::time::Instant::now());
                let read = tokio::time::timeout(left, stream.read_to_end(&mut answer)).await;
                let closed = matches!(read, Ok(Ok(_)));
                answers.push((String::from_utf8_lossy(&answer).into_owned(), closed));
            }
            answers
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("flood"));
    }
    all
}

/// One address holding every connection used to make health probes wait past the 3 s Okta
/// waits: now an address holds at most `max_connections_per_client`, the rest are answered
/// `429 too_many_connections` and counted, a connection that sends nothing is closed after
/// `first_byte_timeout_secs`, and the probes from another address keep being answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_client_cannot_take_the_connections_the_others_need() {
    let options = Options {
        server_toml: "max_connections = 96\nmax_connections_per_client = 32\n\
                      first_byte_timeout_secs = 1\n"
            .into(),
        ..Default::default()
    };
    let app = TestApp::start_with(BusMode::Embedded, options).await;
    let target: std::net::SocketAddr = app.url.trim_start_matches("http://").parse().expect("addr");
    let flooding = tokio::spawn(flood(target, 160, std::time::Duration::from_secs(4)));
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let probe = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(2))
        .pool_max_idle_per_host(0)
        .build()
        .expect("client");
    for i in 0..6 {
        let r = probe
            .get(format!("{}/healthz", app.url))
            .send()
            .await
            .unwrap_or_else(|e| panic!("probe {i} was not answered within 2 s: {e}"));
        assert_eq!(r.status(), 200);
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    let answers = flooding.await.expect("flood");
    let refused: Vec<&String> = answers
        .iter()
        .map(|(a, _)| a)
        .filter(|a| a.starts_with("HTTP/1.1 429"))
        .collect();
    assert!(!refused.is_empty(), "no connection was refused");
    assert!(
        refused[0].contains("\"error\":\"too_many_connections\""),
        "{}",
        refused[0]
    );
    // The ones let in that sent nothing were closed by the server after a second (the header
    // deadline, 10 s, is longer than the flood), with no answer.
    assert!(
        answers.iter().any(|(a, closed)| a.is_empty() && *closed),
        "no idle connection was closed"
    );
    let metrics = app.metrics().await;
    let line = metrics
        .lines()
        .find(|l| l.starts_with("reinstate_connections_refused_total"))
        .expect("the refusals' metric");
    let counted: f64 = line.rsplit(' ').next().expect("n").parse().expect("number");
    assert!(
        counted >= refused.len() as f64,
        "{line} < {}",
        refused.len()
    );
}

/// Behind a proxy every connection is the proxy's, so the cap counts each real client's requests
/// in progress (its address from the header, `trusted_proxies` from the right): one client
/// holding its cap is answered `429 too_many_connections` at once, whatever it writes further
/// left in the header, while another client through the same proxy is answered as usual.
#[tokio::test]
async fn behind_a_proxy_one_real_client_cannot_take_the_requests_the_others_need() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let options = Options {
        server_toml: "max_connections_per_client = 4\n".into(),
        extra_toml: "[portal]\nclient_ip_header = \"x-forwarded-for\"\ntrusted_proxies = 1\n"
            .into(),
        ..Default::default()
    };
    let app = TestApp::start_with(BusMode::Embedded, options).await;
    let target = app.url.trim_start_matches("http://").to_string();
    // Four requests of one client in progress: headers sent, the body promised but not sent.
    let mut holding = Vec::new();
    for _ in 0..4 {
        let mut stream = tokio::net::TcpStream::connect(&target)
            .await
            .expect("connect");
        let head = format!(
            "POST /v1/hooks/login HTTP/1.1\r\nhost: {target}\r\nx-forwarded-for: 203.0.113.7\r\n\
             content-type: application/json\r\ncontent-length: 400\r\n\r\n{{"
        );
        stream.write_all(head.as_bytes()).await.expect("write");
        holding.push(stream);
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(5))
        .build()
        .expect("client");
    let healthz = |xff: &'static str| {
        client
            .get(format!("{}/healthz", app.url))
            .header("x-forwarded-for", xff)
            .send()
    };
    for forged in ["203.0.113.7", "198.51.100.1, 203.0.113.7"] {
        let r = healthz(forged).await.expect("answered at once");
        assert_eq!(r.status(), 429, "{forged}");
        assert_eq!(r.headers()["retry-after"], "1");
        let body: serde_json::Value = r.json().await.expect("json");
        assert_eq!(body["error"], "too_many_connections", "{body}");
        assert!(
            body["detail"]
                .as_str()
                .is_some_and(|d| d.contains("203.0.113.7")),
            "{body}"
        );
    }
    // Another client through the same proxy (the same connection address) is let through.
    let r = healthz("198.51.100.2").await.expect("answered");
    assert_eq!(r.status(), 200);
    // The held requests are still being served: each one's body, once sent, is answered.
    let mut first = holding.remove(0);
    first.write_all(&[b' '; 399]).await.expect("write");
    let mut answer = vec![0u8; 12];
    first.read_exact(&mut answer).await.expect("read");
    assert!(
        answer.starts_with(b"HTTP/1.1 4"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    drop(first);
    // And once it is done, the client may start another.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(
        healthz("203.0.113.7").await.expect("answered").status(),
        200
    );
    let metrics = app.metrics().await;
    let line = metrics
        .lines()
        .find(|l| l.starts_with("reinstate_connections_refused_total"))
        .expect("the refusals' metric");
    assert!(line.ends_with(" 2"), "{line}");
}
