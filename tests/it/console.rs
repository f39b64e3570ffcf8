//! The console in a real headless Chromium: each page's main task, axe-core on every page, and
//! a screenshot of each (`target/console-screenshots/`).

use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::browser::Browser;
use crate::support::*;

const ORG: &str =
    "org_id = \"org-1\"\norg_api_key = \"sim-api-token\"\nadmin_api_url = \"{SIM_URL}\"\n";

fn days_ago(n: i64) -> String {
    (time::OffsetDateTime::now_utc() - time::Duration::days(n))
        .format(&time::format_description::well_known::Rfc3339)
        .expect("format")
}

/// An app whose inventory holds a few people inactive in Confluence, one busy one.
pub(crate) async fn app() -> TestApp {
    app_with("").await
}

/// [`app`] with extra keys of the `[server]` section.
pub(crate) async fn app_with(server_toml: &str) -> TestApp {
    let app = TestApp::start_with(
        BusMode::Embedded,
        Options {
            directory_toml: ORG.into(),
            server_toml: server_toml.into(),
            ..Default::default()
        },
    )
    .await;
    for name in ["cleo", "dora"] {
        let account = format!("acc-{name}");
        app.sim.add_member_of(
            &account,
            &format!("{name}@example.com"),
            &["confluence-users"],
        );
        app.sim
            .set_last_active(&account, "confluence", &days_ago(120));
    }
    app.sim
        .add_member_of("acc-busy", "busy@example.com", &["confluence-users"]);
    app.sim
        .set_last_active("acc-busy", "confluence", &days_ago(2));
    app.sync_inventory().await;
    app
}

pub(crate) async fn sign_in(browser: &Browser, app: &TestApp, token: &str) {
    browser.goto(&format!("{}/", app.url)).await;
    assert!(
        browser.url().await.contains("/console/sign-in"),
        "{}",
        browser.url().await
    );
    browser.assert_accessible("sign-in").await;
    browser.screenshot("sign-in").await;
    browser.fill("#token", token).await;
    browser.click("button[type=submit]").await;
    browser.wait_for_text("Overview").await;
}

/// Waits until a job or run page says it is done (it refreshes itself).
pub(crate) async fn wait_done(browser: &Browser) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let text = browser.text().await;
        if !text.contains("Running: this page refreshes") && text.contains("done") {
            return text;
        }
        assert!(Instant::now() < deadline, "the job never finished: {text}");
        tokio::time::sleep(Duration::from_millis(300)).await;
        browser.client.refresh().await.ok();
    }
}

fn adds(app: &TestApp, account: &str) -> usize {
    app.sim
        .calls()
        .iter()
        .filter(|c| {
            c.method == "POST"
                && c.path == "/rest/api/3/group/user"
                && c.body["accountId"] == account
                && c.status < 300
        })
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_filters_inactive_users_enables_licences_and_undoes_a_confirmed_danger_action() {
    let app = app().await;
    let browser = Browser::start().await;
    sign_in(&browser, &app, ADMIN_TOKEN).await;
    browser.assert_accessible("overview").await;
    browser.screenshot("overview").await;
    assert!(
        browser.exists("svg.chart").await,
        "the overview draws its charts"
    );

    browser.goto(&format!("{}/console/users", app.url)).await;
    browser.select("select[name=product]", "confluence").await;
    browser.select("select[name=inactive_after]", "90").await;
    browser.click("form.filters button[type=submit]").await;
    let text = browser
        .wait_for_text("Users inactive for more than 90 days")
        .await;
    assert!(
        text.contains("cleo@example.com") && text.contains("dora@example.com"),
        "{text}"
    );
    assert!(
        !text.contains("busy@example.com"),
        "active users are not listed"
    );
    browser.assert_accessible("inactive-users").await;
    browser.screenshot("inactive-users").await;

    // Two selected: the bar counts them; Enable Licenses grants Jira Software's default group.
    browser.click("input[data-select][value=acc-cleo]").await;
    browser.click("input[data-select][value=acc-dora]").await;
    browser.wait_for_text("2 users selected").await;
    browser
        .select("select[name=action]", "enable-licences")
        .await;
    browser
        .select("div.bulkbar select[name=product]", "jira-software")
        .await;
    browser.click("div.bulkbar button[type=submit]").await;
    let job = wait_done(&browser).await;
    assert!(
        job.contains("Enable licences — 2 users, by admin:"),
        "{job}"
    );
    browser.assert_accessible("job").await;
    browser.screenshot("job").await;
    assert_eq!((adds(&app, "acc-cleo"), adds(&app, "acc-dora")), (1, 1));

    // A danger action: a wrong count is refused, the right one runs, Undo puts it back.
    browser
        .goto(&format!(
            "{}/console/users?product=confluence&inactive_after=90",
            app.url
        ))
        .await;
    browser.click("input[data-select][value=acc-cleo]").await;
    browser.click("input[data-select][value=acc-dora]").await;
    browser
        .select("select[name=action]", "remove-from-group")
        .await;
    browser
        .fill("div.bulkbar input[name=group]", "jira-software-users")
        .await;
    browser.click("div.bulkbar button[type=submit]").await;
    browser.wait_for_text("Type 2 to confirm").await;
    browser.assert_accessible("confirm").await;
    browser.screenshot("confirm").await;
    browser.fill("#confirm", "1").await;
    browser.click("button.danger").await;
    browser.wait_for_text("not the number of users").await;
    assert!(
        app.sim
            .groups_of("acc-cleo")
            .contains(&"jira-software-users".to_string()),
        "nothing changed"
    );
    browser.fill("#confirm", "2").await;
    browser.click("button.danger").await;
    wait_done(&browser).await;
    assert!(
        !app.sim
            .groups_of("acc-cleo")
            .contains(&"jira-software-users".to_string())
    );
    browser.click("form[action$='/undo'] button").await;
    let undo = wait_done(&browser).await;
    assert!(undo.contains("Undo"), "{undo}");
    assert!(
        app.sim
            .groups_of("acc-cleo")
            .contains(&"jira-software-users".to_string())
    );
    assert!(
        app.sim
            .groups_of("acc-dora")
            .contains(&"jira-software-users".to_string())
    );

    browser
        .goto(&format!("{}/console/users/acc-cleo", app.url))
        .await;
    browser
        .wait_for_text("What would happen if they logged in now")
        .await;
    // What Enable Licenses changed, in words, ready to be given back.
    browser
        .wait_for_text("added to groups jira-software-users")
        .await;
    browser.assert_accessible("user").await;
    browser.screenshot("user").await;
    browser.client.clone().close().await.ok();
}

/// A danger action over a selection holding an administrator: the confirm page lists the always
/// protected and leaves them out; the count to type is of those it acts on; ticking one overrides
/// its protection, and the job says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_confirm_step_lists_the_always_protected_and_leaves_them_out_unless_ticked() {
    let app = app().await;
    app.sim.add_member_of(
        "acc-ada",
        "ada@example.com",
        &["confluence-users", "site-admins"],
    );
    app.sim
        .set_last_active("acc-ada", "confluence", &days_ago(150));
    app.sync_inventory().await;
    let browser = Browser::start().await;
    sign_in(&browser, &app, ADMIN_TOKEN).await;
    let select_three = || async {
        browser
            .goto(&format!(
                "{}/console/users?product=confluence&inactive_after=90",
                app.url
            ))
            .await;
        for id in ["acc-ada", "acc-cleo", "acc-dora"] {
            browser
                .click(&format!("input[data-select][value={id}]"))
                .await;
        }
        browser
            .select("select[name=action]", "remove-from-group")
            .await;
        browser
            .fill("div.bulkbar input[name=group]", "confluence-users")
            .await;
        browser.click("div.bulkbar button[type=submit]").await;
    };
    select_three().await;
    let text = browser.wait_for_text("1 always protected").await;
    assert!(
        text.contains("ada@example.com") && text.contains("site-admins"),
        "{text}"
    );
    assert!(text.contains("Type 2 to confirm"), "{text}");
    browser.assert_accessible("confirm-protected").await;
    browser.screenshot("confirm-protected").await;
    browser.fill("#confirm", "2").await;
    browser.click("button.danger").await;
    wait_done(&browser).await;
    let member = |id: &str| {
        app.sim
            .groups_of(id)
            .contains(&"confluence-users".to_string())
    };
    assert!(member("acc-ada"), "the administrator was left out");
    assert!(!member("acc-cleo") && !member("acc-dora"));
    // Ticked: overridden, and the job's entry says whose protection it was.
    // Cleo and Dora are no longer in the group: named as left out before anything runs.
    select_three().await;
    let text = browser.wait_for_text("1 always protected").await;
    assert!(
        text.contains("2 users it cannot act on")
            && text.contains("cleo@example.com — not in the group \"confluence-users\""),
        "{text}"
    );
    browser.click("input[name=override][value=acc-ada]").await;
    browser.fill("#confirm", "1").await;
    browser.click("button.danger").await;
    let job = wait_done(&browser).await;
    assert!(!member("acc-ada"), "overridden by the admin");
    assert!(job.contains("overriding the protection"), "{job}");
    browser.client.clone().close().await.ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_edits_and_previews_a_rule_approves_a_request_runs_a_preview_and_downloads_the_audit()
 {
    let app = app().await;
    let browser = Browser::start().await;
    sign_in(&browser, &app, ADMIN_TOKEN).await;

    browser.goto(&format!("{}/console/rules", app.url)).await;
    browser.click("button[value=add]").await;
    browser.wait_for_text("Rule 1").await;
    browser
        .fill("input[name='r0.name']", "staff get jira")
        .await;
    browser
        .fill("input[name='r0.domains']", "example.com")
        .await;
    browser.select("select[name='r0.then']", "restore").await;
    browser
        .click("input[name='r0.products'][value=jira-software]")
        .await;
    browser.click("button[value=preview]").await;
    let preview = browser.wait_for_text("Preview:").await;
    // The counts say of what, and both sets add up to the same decisions.
    assert!(
        preview.contains("(a user and a product each)")
            && preview.contains("With these rules, of ")
            && preview.contains("With the live rules, of "),
        "{preview}"
    );
    assert!(
        preview.contains("Jira Service Management") && !preview.contains("jira-servicedesk"),
        "product names: {preview}"
    );
    browser.assert_accessible("rules").await;
    browser.screenshot("rules").await;
    // An invalid domain is named next to its field, and nothing is saved.
    browser
        .fill("input[name='r0.domains']", "Not A Domain")
        .await;
    browser.click("button[value=save]").await;
    browser.wait_for_text("not a domain").await;
    assert!(browser.exists("#r0-domains-error").await);
    assert_eq!(app.admin_get("/api/v1/rules").await["version"], 0);
    browser
        .fill("input[name='r0.domains']", "example.com")
        .await;
    browser.click("button[value=save]").await;
    browser.wait_for_text("History").await;
    let rules = app.admin_get("/api/v1/rules").await;
    assert_eq!(rules["rules"][0]["name"], "staff get jira", "{rules}");

    // Who is signed in: this session, marked as such (ending others is `sessions.rs`'s).
    browser.goto(&format!("{}/console/sessions", app.url)).await;
    browser.wait_for_text("This session").await;
    browser.assert_accessible("sessions").await;
    browser.screenshot("sessions").await;

    // A request waits (Service Management is left to an admin by those rules); approve it.
    app.login_and_wait("cleo@example.com", "jira-servicedesk", "approval_required")
        .await;
    browser.goto(&format!("{}/console/requests", app.url)).await;
    browser.wait_for_text("cleo@example.com").await;
    browser.assert_accessible("requests").await;
    browser.screenshot("requests").await;
    browser.click("button[value=approve]").await;
    app.wait_for_outcome("cleo@example.com", "restored").await;

    // Reclamation: policies saved, then a preview of who would be warned or reclaimed.
    browser.goto(&format!("{}/console/reclaim", app.url)).await;
    let policies = json!({"policies": [{"name": "confluence 90", "products": ["confluence"],
        "inactive_after_days": 90, "action": "remove-product-access"}]});
    browser.click("details.advanced summary").await;
    browser.fill("#policies", &policies.to_string()).await;
    browser.click("button[value=save]").await;
    browser.wait_for_text("version 1").await;
    browser.assert_accessible("reclamation").await;
    browser.screenshot("reclamation").await;
    browser.click("button[value=preview]").await;
    let preview = wait_done(&browser).await;
    assert!(
        preview.contains("Preview") && preview.contains("dora@example.com"),
        "{preview}"
    );
    assert!(
        app.sim
            .groups_of("acc-dora")
            .contains(&"confluence-users".to_string()),
        "a preview changes nothing"
    );
    // A run starts only from here: what it would do, users to take out, the number to type.
    assert!(browser.exists("#run-preview input[name=confirm]").await);
    assert!(browser.exists("input[type=checkbox][name=exclude]").await);
    browser.assert_accessible("run-confirmation").await;
    browser.screenshot("run-confirmation").await;

    browser.goto(&format!("{}/console/audit", app.url)).await;
    let all = browser.wait_for_text("restored").await;
    assert!(all.contains("approval required"), "{all}");
    browser.select("select[name=outcome]", "restored").await;
    browser.click("form.filters button[type=submit]").await;
    browser.wait_for_text("restored").await;
    let rows = browser
        .client
        .find(fantoccini::Locator::Css("table tbody"))
        .await
        .expect("table")
        .text()
        .await
        .expect("rows");
    assert!(
        rows.contains("restored") && !rows.contains("approval_required"),
        "{rows}"
    );
    browser.assert_accessible("audit").await;
    browser.screenshot("audit").await;
    // The CSV link downloads with the session cookie, and not without it.
    let url = format!("{}{}", app.url, browser.href("a[href*='audit.csv']").await);
    let anonymous = app.http.get(&url).send().await.expect("get");
    assert_eq!(anonymous.status(), 401);
    let csv = browser.get_signed_in(&url).await;
    assert_eq!(csv.status(), 200);
    let csv = csv.text().await.expect("body");
    assert!(csv.starts_with("id,at,outcome"), "{csv}");
    assert!(csv.contains("cleo@example.com"), "{csv}");
    assert!(
        csv.lines().skip(1).all(|l| l.contains(",restored,")),
        "the CSV keeps the page's filter: {csv}"
    );
    browser.client.clone().close().await.ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_finds_no_write_controls_and_forged_posts_are_refused() {
    let app = app().await;
    let browser = Browser::start().await;
    sign_in(&browser, &app, VIEWER_TOKEN).await;
    browser
        .goto(&format!(
            "{}/console/users?product=confluence&inactive_after=90",
            app.url
        ))
        .await;
    browser.wait_for_text("cleo@example.com").await;
    assert!(!browser.exists("input[data-select]").await && !browser.exists("div.bulkbar").await);
    // Export CSV, open to viewers, holds exactly the page's filter.
    let export = browser.href("a[href*='users.csv']").await;
    let csv = browser
        .get_signed_in(&format!("{}{export}", app.url))
        .await
        .text()
        .await
        .expect("csv");
    assert!(
        csv.contains("cleo@example.com") && csv.contains("dora@example.com"),
        "{csv}"
    );
    assert!(!csv.contains("busy@example.com"), "{csv}");
    browser.goto(&format!("{}/console/rules", app.url)).await;
    assert!(!browser.exists("button[value=save]").await);
    browser.goto(&format!("{}/console/reclaim", app.url)).await;
    assert!(!browser.exists("button[value=run]").await);
    // The viewer's own session and CSRF token, posting a bulk action anyway.
    let cookie = browser
        .client
        .get_named_cookie("reinstate_session")
        .await
        .expect("session");
    let csrf = browser
        .client
        .find(fantoccini::Locator::Css("input[name=csrf]"))
        .await
        .expect("sign-out form")
        .attr("value")
        .await
        .expect("attr")
        .expect("csrf");
    let forged = app
        .http
        .post(format!("{}/console/users/bulk", app.url))
        .header("cookie", format!("reinstate_session={}", cookie.value()))
        .form(&[
            ("csrf", csrf.as_str()),
            ("action", "remove-all-access"),
            ("user", "acc-cleo"),
            ("confirm", "1"),
        ])
        .send()
        .await
        .expect("post");
    assert_eq!(forged.status(), 403);
    // An admin's session without the form's CSRF token is refused too.
    let admin = no_redirects()
        .post(format!("{}/console/sign-in", app.url))
        .form(&[("token", ADMIN_TOKEN)])
        .send()
        .await
        .expect("sign in");
    let session = cookie_pair(&admin);
    let no_csrf = app
        .http
        .post(format!("{}/console/users/bulk", app.url))
        .header("cookie", session)
        .form(&[
            ("action", "remove-all-access"),
            ("user", "acc-cleo"),
            ("confirm", "1"),
        ])
        .send()
        .await
        .expect("post");
    assert_eq!(no_csrf.status(), 403);
    assert!(
        app.sim
            .groups_of("acc-cleo")
            .contains(&"confluence-users".to_string())
    );
    browser.client.clone().close().await.ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn someone_coming_back_asks_confirms_through_the_emailed_link_and_sees_the_outcome() {
    let app = TestApp::start(BusMode::Embedded).await;
    assert_eq!(app.put_rules(json!({"rules": [{"name": "portal asks restore", "when": {"sources": ["portal"]}, "then": "restore"}]})).await.status(), 200);
    let browser = Browser::start().await;
    // A phone's screen: the page fits its width, nothing to scroll sideways.
    browser
        .client
        .set_window_size(390, 844)
        .await
        .expect("resize");
    browser.goto(&format!("{}/portal", app.url)).await;
    let overflow = browser
        .client
        .execute(
            "return document.documentElement.scrollWidth - window.innerWidth;",
            vec![],
        )
        .await
        .expect("widths");
    assert!(
        overflow.as_i64().is_some_and(|o| o <= 0),
        "the portal is wider than a phone by {overflow}px"
    );
    browser.assert_accessible("portal").await;
    browser.screenshot("portal").await;
    browser.fill("input[name=email]", "grace@example.com").await;
    browser
        .select("select[name=product]", "jira-software")
        .await;
    browser.click("button[type=submit]").await;
    browser.wait_for_text("Check your inbox").await;
    browser.assert_accessible("portal-sent").await;
    let mail = app.smtp.wait_for(1).await.remove(0).text();
    let link = mail
        .split_whitespace()
        .find(|w| w.contains("/v1/links/v1."))
        .expect("a link")
        .to_string();
    browser.goto(&link).await;
    browser.wait_for_text("Confirm your request").await;
    browser.assert_accessible("link-confirm").await;
    browser.screenshot("link-confirm").await;
    browser.click("button[type=submit]").await;
    let done = browser.wait_for_text("Done").await;
    assert!(done.contains("restored") || done.contains("back"), "{done}");
    browser.assert_accessible("link-outcome").await;
    browser.screenshot("link-outcome").await;
    browser.client.clone().close().await.ok();
}

/// The newcomer's path through the real binary: `reinstate serve` with no configuration, the
/// banner's console URL and admin token, the sandbox's inactive users, an Enable Licenses bulk
/// action and a dry run of the starter reclamation policy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newcomer_signs_in_to_the_sandbox_from_the_banner_and_acts() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Port 0: the banner names the port the sandbox really listens on, so no other test can
    // take it between choosing and binding.
    let mut server = std::process::Command::new(env!("CARGO_BIN_EXE_reinstate"))
        .arg("serve")
        .env("REINSTATE__SERVER__LISTEN", "127.0.0.1:0")
        .env(
            "REINSTATE__STORE__PATH",
            dir.path().join("data").display().to_string(),
        )
        .stdout(std::process::Stdio::piped())
        .stderr(std::fs::File::create(dir.path().join("stderr")).expect("stderr file"))
        .spawn()
        .expect("serve");
    /// Stops the sandbox; if it had already stopped, says how and shows what it wrote.
    struct Kill(std::process::Child, std::path::PathBuf);
    impl Drop for Kill {
        fn drop(&mut self) {
            if let Ok(Some(status)) = self.0.try_wait() {
                let said = std::fs::read_to_string(&self.1).unwrap_or_default();
                eprintln!("the sandbox had stopped ({status}); it wrote:\n{said}");
            }
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let stdout = server.stdout.take().expect("stdout");
    let _server = Kill(server, dir.path().join("stderr"));
    let (found, banner) = std::sync::mpsc::channel();
    // The reader keeps draining stdout to the end, so the service never writes to a closed pipe.
    std::thread::spawn(move || {
        let (mut console, mut token) = (None, None);
        for line in std::io::BufRead::lines(std::io::BufReader::new(stdout)) {
            let Ok(line) = line else { break };
            let words: Vec<&str> = line.split_whitespace().collect();
            match words.as_slice() {
                ["console", url, ..] => console = Some(url.to_string()),
                ["admin", "token", t] => token = Some(t.to_string()),
                _ => {}
            }
            if let (Some(c), Some(t)) = (&console, &token) {
                let _ = found.send((c.clone(), t.clone()));
                console = None;
            }
        }
    });
    let (console, token) = tokio::task::spawn_blocking(move || {
        banner
            .recv_timeout(Duration::from_secs(30))
            .expect("the banner names the console and prints the admin token")
    })
    .await
    .expect("banner");
    let base = console.trim_end_matches("/console").to_string();
    wait_ready_at(&base).await;

    let browser = Browser::start().await;
    browser.goto(&console).await;
    browser.fill("#token", &token).await;
    browser.click("button[type=submit]").await;
    browser.wait_for_text("Overview").await;
    browser.screenshot("sandbox-overview").await;
    browser
        .client
        .find(fantoccini::Locator::LinkText("Inactive Users"))
        .await
        .expect("the Inactive Users link")
        .click()
        .await
        .expect("click");
    // The sandbox's inventory syncs within seconds of the start.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !browser.exists("input[data-select]").await {
        assert!(
            Instant::now() < deadline,
            "no inactive users: {}",
            browser.text().await
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
        browser.client.refresh().await.ok();
    }
    browser
        .wait_for_text("Users inactive for more than 30 days")
        .await;
    browser.screenshot("sandbox-inactive-users").await;
    let boxes = browser
        .client
        .find_all(fantoccini::Locator::Css("input[data-select]"))
        .await
        .expect("rows");
    for b in boxes.iter().take(2) {
        b.click().await.expect("tick");
    }
    browser.wait_for_text("2 users selected").await;
    browser
        .select("select[name=action]", "enable-licences")
        .await;
    browser
        .select("div.bulkbar select[name=product]", "jira-software")
        .await;
    browser.click("div.bulkbar button[type=submit]").await;
    wait_done(&browser).await;
    let job = browser.url().await;
    let id = job.rsplit('/').next().expect("job id");
    let done: serde_json::Value = reqwest::Client::new()
        .get(format!("{base}/api/v1/jobs/{id}"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("job")
        .json()
        .await
        .expect("json");
    assert_eq!(done["counts"]["results"]["done"], 2, "{done:#}");

    browser.goto(&format!("{base}/console/reclaim")).await;
    browser.click("button[value=preview]").await;
    let preview = wait_done(&browser).await;
    assert!(preview.contains("Preview"), "{preview}");
    browser.screenshot("sandbox-preview").await;
    browser.client.clone().close().await.ok();
}
