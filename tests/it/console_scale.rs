//! Bulk work at scale (issue 24, item 6): every user matching the filter selected by the server
//! (a filter in the form, not the ids), shift-click ranges, a selection kept across pages, page
//! sizes with "26–50 of N", sorting by status, products and licence usage with arrows, filters
//! for group (in / not in), account type and "never active", saved views, a column chooser —
//! and each of their bad values named at its field.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::console::{app, sign_in, wait_done};
use crate::support::browser::Browser;
use crate::support::*;

fn days_ago(n: i64) -> String {
    (time::OffsetDateTime::now_utc() - time::Duration::days(n))
        .format(&time::format_description::well_known::Rfc3339)
        .expect("format")
}

/// The console's app with 60 more Confluence users: the even ones last active 120 days ago,
/// the odd ones never; u0–u9 in `contractors` too; and a portal customer with Confluence.
async fn crowded() -> TestApp {
    let app = app().await;
    app.sim.add_users_in("u", 60, "confluence-users");
    for i in 0..60 {
        let account = format!("acc-u{i}");
        if i % 2 == 0 {
            app.sim
                .set_last_active(&account, "confluence", &days_ago(120));
        }
        if i < 10 {
            app.sim.join(&account, "contractors");
        }
    }
    // A portal customer the organisation lists with Confluence.
    app.sim
        .add_member_of("qm:cy", "cy@example.com", &["confluence-users"]);
    app.sim
        .set_last_active("qm:cy", "confluence", &days_ago(120));
    app.sync_inventory().await;
    app
}

/// How many users the inventory API finds for `query`.
async fn total(app: &TestApp, query: &str) -> u64 {
    let page = app
        .admin_get(&format!("/api/v1/inventory/users?{query}&limit=1"))
        .await;
    page["total"].as_u64().unwrap_or_else(|| panic!("{page}"))
}

fn emails(page: &Value) -> Vec<String> {
    page["users"]
        .as_array()
        .expect("users")
        .iter()
        .filter_map(|u| u["email"].as_str().map(String::from))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_inventory_api_filters_by_group_and_never_active_and_sorts_by_products_and_usage() {
    let app = crowded().await;
    let people = "account_type=person&status=active";
    assert_eq!(
        total(&app, &format!("{people}&group=CONTRACTORS")).await,
        11,
        "u0–u9 and bob"
    );
    let outside = total(&app, &format!("{people}&not_group=confluence-users")).await;
    let everyone = total(&app, people).await;
    let inside = total(&app, &format!("{people}&group=confluence-users")).await;
    assert_eq!(
        outside + inside,
        everyone,
        "in and not in a group are the whole"
    );
    let never = app
        .admin_get(&format!(
            "/api/v1/inventory/users?{people}&product=confluence&never_active=true&limit=1000"
        ))
        .await;
    let never = emails(&never);
    assert!(
        never.contains(&"u1@example.com".to_string())
            && !never.contains(&"u0@example.com".to_string())
            && !never.contains(&"busy@example.com".to_string()),
        "{never:?}"
    );
    assert_eq!(never.len(), 30, "the odd u's: {never:?}");

    // Licence usage: Busy uses the one licence held (100 %), Cleo none of hers (0 %), and
    // someone holding nothing comes first.
    let by_usage = app
        .admin_get(&format!(
            "/api/v1/inventory/users?{people}&sort=usage&order=asc&limit=1000"
        ))
        .await;
    let order = emails(&by_usage);
    let at = |e: &str| {
        order
            .iter()
            .position(|x| x == e)
            .unwrap_or_else(|| panic!("{e} in {order:?}"))
    };
    assert!(
        at("grace@example.com") < at("cleo@example.com"),
        "{order:?}"
    );
    assert!(at("cleo@example.com") < at("busy@example.com"), "{order:?}");
    let by_products = app
        .admin_get(&format!(
            "/api/v1/inventory/users?{people}&sort=products&order=desc&limit=1"
        ))
        .await;
    let first = &by_products["users"][0];
    let held = |u: &Value| {
        u["products"]
            .as_array()
            .map_or(0, |p| p.iter().filter(|p| p["licensed"] == true).count())
    };
    let most = app
        .admin_get(&format!("/api/v1/inventory/users?{people}&limit=1000"))
        .await["users"]
        .as_array()
        .expect("users")
        .iter()
        .map(held)
        .max()
        .expect("someone");
    assert_eq!(held(first), most, "the most licences first: {first}");
    let by_status = app
        .admin_get("/api/v1/inventory/users?sort=status&order=desc&limit=1")
        .await;
    assert_eq!(
        by_status["users"][0]["status"], "deactivated",
        "{by_status}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_sorts_columns_filters_and_saved_views_work_as_an_admin_expects() {
    let app = crowded().await;
    let browser = Browser::start().await;
    sign_in(&browser, &app, ADMIN_TOKEN).await;
    let n = total(
        &app,
        "account_type=person&status=active&inactive_after_days=90&product=confluence",
    )
    .await;
    assert!(n > 50, "enough for pages: {n}");

    // Pages of 25: where this page is, next, previous.
    let base = format!(
        "{}/console/users?product=confluence&inactive_after=90&per_page=25",
        app.url
    );
    browser.goto(&base).await;
    browser.wait_for_text(&format!("1–25 of {n}")).await;
    assert!(
        !browser.exists("a[rel=prev]").await,
        "no page before the first"
    );
    browser.click("a[rel=next]").await;
    browser.wait_for_text(&format!("26–50 of {n}")).await;
    browser.click("a[rel=prev]").await;
    browser.wait_for_text(&format!("1–25 of {n}")).await;

    // Sorting by status, products and licence usage, the order shown by an arrow.
    for (label, key) in [
        ("Status", "status"),
        ("Assigned products", "products"),
        ("Licence usage", "usage"),
    ] {
        let th = format!("th a[href*='sort={key}']");
        browser.click(&th).await;
        browser.wait_for_text(&format!("1–25 of {n}")).await;
        let sort = browser
            .eval(&format!(
                "return [...document.querySelectorAll('th')].find(t => t.textContent.includes('{label}')).getAttribute('aria-sort')"
            ))
            .await;
        assert_eq!(sort, "ascending", "{label}");
        assert!(
            browser.text().await.contains(&format!("{label} ▲")),
            "{label}"
        );
        browser.click(&th).await;
        browser.wait_for_text(&format!("{label} ▼")).await;
    }

    // The column chooser: no email, the groups shown.
    browser.goto(&base).await;
    browser.click("details.columns summary").await;
    browser.click("details.columns input[value=email]").await;
    browser.click("details.columns input[value=groups]").await;
    browser.click("form.filters button[type=submit]").await;
    browser.wait_for_text("Groups").await;
    let heads = browser
        .eval("return [...document.querySelectorAll('th')].map(t => t.textContent).join('|')")
        .await;
    let heads = heads.as_str().expect("headings").to_string();
    assert!(
        heads.contains("Groups") && !heads.contains("Email address"),
        "{heads}"
    );
    assert!(
        browser.text().await.contains("confluence-users"),
        "the groups column"
    );

    // Saved as a view, opened from the plain page, deleted.
    browser.fill("#view-name", "Confluence idle").await;
    browser
        .click("form[action='/console/users/views'] button[type=submit]")
        .await;
    browser.wait_for_text("Confluence idle").await;
    browser.goto(&format!("{}/console/users", app.url)).await;
    browser.click("section.views a").await;
    browser.wait_for_text(&format!("1–25 of {n}")).await;
    let url = browser.url().await;
    assert!(
        url.contains("per_page=25")
            && url.contains("col=groups")
            && url.contains("product=confluence"),
        "{url}"
    );
    assert!(
        browser.exists("section.views a[aria-current=page]").await,
        "the view opened is marked"
    );
    browser.assert_accessible("users-view").await;
    browser.screenshot("users-view").await;
    browser
        .click("section.views button[aria-label='Delete the view Confluence idle']")
        .await;
    browser.wait_for_text("None yet").await;

    // Filters: in a group, not in one, account type, never active.
    let count = |path: String| {
        let browser = &browser;
        async move {
            browser.goto(&path).await;
            let text = browser.wait_for_text(" of ").await;
            let range = browser
                .eval("return document.querySelector('[data-range]').textContent")
                .await;
            (range.as_str().expect("range").to_string(), text)
        }
    };
    // The page lists the inactive (30 days here): u0–u9 are; Bob, holding nothing, is not.
    let (range, _) = count(format!("{}/console/users?group=contractors", app.url)).await;
    assert_eq!(range, "1–10 of 10");
    let outside = total(
        &app,
        "account_type=person&status=active&inactive_after_days=30&group=confluence-users&not_group=contractors",
    )
    .await;
    let (range, text) = count(format!(
        "{}/console/users?group=confluence-users&not_group=Contractors&per_page=100",
        app.url
    ))
    .await;
    assert_eq!(range, format!("1–{outside} of {outside}"));
    assert!(text.contains("u10@example.com"), "{text}");
    assert!(!browser.exists("input[value=acc-u9]").await, "a contractor");
    let (range, text) = count(format!("{}/console/users?account_type=customer", app.url)).await;
    assert_eq!(range, "1–1 of 1", "{text}");
    assert!(text.contains("cy@example.com"), "{text}");
    let (_, text) = count(format!("{}/console/users?per_page=200", app.url)).await;
    assert!(
        !text.contains("cy@example.com"),
        "people by default: {text}"
    );
    let (range, text) = count(format!(
        "{}/console/users?product=confluence&never=yes&per_page=100",
        app.url
    ))
    .await;
    assert!(range.ends_with(" of 30"), "{range}");
    assert!(text.contains("u1@example.com"), "{text}");
    assert!(
        !browser.exists("input[value=acc-u0]").await,
        "u0 was active once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_user_matching_is_found_by_the_server_and_confirmed_again_when_it_changed() {
    let app = crowded().await;
    let browser = Browser::start().await;
    sign_in(&browser, &app, ADMIN_TOKEN).await;
    let filter = "product=confluence&inactive_after=90";
    browser
        .goto(&format!("{}/console/users?{filter}&per_page=25", app.url))
        .await;
    browser.wait_for_text("1–25 of").await;

    // Shift-click ticks a range; ticks stay across pages.
    let nth = |i: usize| format!("tbody tr:nth-child({i}) input[data-select]");
    browser.click(&nth(1)).await;
    browser.shift_click(&nth(3)).await;
    browser.wait_for_text("3 users selected").await;
    browser.click("a[rel=next]").await;
    browser.wait_for_text("26–50 of").await;
    browser.wait_for_text("3 users selected").await;
    browser.click(&nth(1)).await;
    let selected = 4;
    browser
        .wait_for_text("4 users selected (3 on other pages)")
        .await;
    browser
        .select("select[name=action]", "enable-licences")
        .await;
    browser
        .select("div.bulkbar select[name=product]", "confluence")
        .await;
    browser.click("div.bulkbar button[type=submit]").await;
    let job = wait_done(&browser).await;
    assert!(
        job.contains(&format!("Enable licences — {selected} users")),
        "every page's ticks in one job: {job}"
    );

    // Every user matching, chosen from the banner.
    let n = total(
        &app,
        "account_type=person&status=active&inactive_after_days=90&product=confluence",
    )
    .await;
    browser
        .goto(&format!("{}/console/users?{filter}&per_page=25", app.url))
        .await;
    browser.wait_for_text("1–25 of").await;
    assert!(browser.exists("[data-select-matching][hidden]").await);
    browser.click("input[data-select-all]").await;
    browser.click("[data-choose-matching]").await;
    browser
        .wait_for_text(&format!("All {n} matching users selected"))
        .await;
    browser.assert_accessible("users-all-matching").await;
    browser.screenshot("users-all-matching").await;
    browser
        .select("select[name=action]", "remove-from-group")
        .await;
    browser
        .fill("div.bulkbar input[name=group]", "confluence-users")
        .await;
    browser.click("div.bulkbar button[type=submit]").await;
    let confirm = browser
        .wait_for_text("Every user matching the filters")
        .await;
    assert!(
        confirm.contains(&format!("{n} users now"))
            && confirm.contains(&format!("Type {n} to confirm")),
        "{confirm}"
    );
    let ids = browser
        .eval("return document.querySelectorAll('input[name=user]').length")
        .await;
    assert_eq!(ids, 0, "the filter is carried, not the ids");
    browser.assert_accessible("confirm-all-matching").await;
    browser.screenshot("confirm-all-matching").await;

    // Before the number is typed, u12 uses Confluence: one fewer user matches.
    assert_eq!(
        app.login("u12@example.com", Some("confluence"))
            .await
            .status(),
        202
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while total(
        &app,
        "account_type=person&status=active&inactive_after_days=90&product=confluence",
    )
    .await
        != n - 1
    {
        assert!(
            Instant::now() < deadline,
            "the login never reached the inventory"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    browser.fill("#confirm", &n.to_string()).await;
    browser.click("#confirm-form button[type=submit]").await;
    let again = browser.wait_for_text("acts on now").await;
    assert!(
        again.contains(&format!("Type {} to confirm", n - 1)),
        "{again}"
    );
    browser.fill("#confirm", &(n - 1).to_string()).await;
    browser.click("#confirm-form button[type=submit]").await;
    let job = wait_done(&browser).await;
    assert!(
        job.contains(&format!("Remove from group — {} users", n - 1)),
        "{job}"
    );
    assert!(
        app.sim
            .groups_of("acc-u12")
            .contains(&"confluence-users".to_string()),
        "u12 logged in: left alone"
    );
    assert!(
        !app.sim
            .groups_of("acc-u2")
            .contains(&"confluence-users".to_string()),
        "u2 matched: removed"
    );
    assert!(
        app.sim
            .groups_of("acc-busy")
            .contains(&"confluence-users".to_string()),
        "busy is active in Confluence: not matching, not touched"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_paging_columns_filters_views_and_selections_are_named_and_change_nothing() {
    let app = app().await;
    let cookie = console_sign_in(&app, ADMIN_TOKEN).await;
    for (query, says) in [
        ("per_page=7", "Rows per page: \"7\" is not 25, 50, 100, 200"),
        ("from=abc", "From: \"abc\" is not a row"),
        ("cols=1&col=bogus", "Columns: \"bogus\" is not a column"),
        ("sort=bogus", "Sort: \"bogus\" is not a column to sort by"),
        (
            "account_type=robot",
            "Account type: \"robot\" is not person",
        ),
        ("never=maybe", "Never active: \"maybe\" is not yes"),
        (
            "group=Staff&not_group=staff",
            "Not in group: \"staff\" is also the group users must be in",
        ),
    ] {
        let (status, html) = console_page(&app, &cookie, &format!("/console/users?{query}")).await;
        let html = html.replace("&quot;", "\"");
        assert_eq!(status, 400, "{query}");
        assert!(html.contains(says), "{query}: {html}");
        assert!(!html.contains("data-bulk-form"), "{query}: nothing listed");
    }

    let (_, html) = console_page(&app, &cookie, "/console/users").await;
    let csrf = csrf_in(&html);
    let post = |path: &'static str, form: Vec<(&'static str, String)>| {
        let (app, cookie) = (&app, cookie.clone());
        async move {
            let posted = console_post(app, &cookie, path, &form).await;
            (posted.status, posted.body)
        }
    };
    let (status, body) = post(
        "/console/users/views",
        vec![
            ("csrf", csrf.clone()),
            ("name", String::new()),
            ("query", "per_page=25".into()),
        ],
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("a view&#39;s name is 1 to 60 characters")
            || body.contains("a view's name is 1 to 60 characters"),
        "{body}"
    );
    let (status, body) = post(
        "/console/users/views",
        vec![
            ("csrf", csrf.clone()),
            ("name", "Broken".into()),
            ("query", "per_page=7".into()),
        ],
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        app.store().views().expect("views").is_empty(),
        "nothing saved"
    );

    // A viewer's session cannot save one.
    let viewer = console_sign_in(&app, VIEWER_TOKEN).await;
    let (_, html) = console_page(&app, &viewer, "/console/users").await;
    assert!(
        !html.contains("Save this view as"),
        "no write control for a viewer"
    );
    let r = no_redirects()
        .post(format!("{}/console/users/views", app.url))
        .header("cookie", viewer)
        .form(&[
            ("csrf", csrf_in(&html)),
            ("name", "Mine".into()),
            ("query", String::new()),
        ])
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 403);
    assert!(
        app.store().views().expect("views").is_empty(),
        "nothing saved"
    );

    // Every user matching a filter that is not one, or that matches nobody: nothing runs.
    let calls = app.sim.calls().len();
    for (filter, says) in [
        ("product=bogus", "Product: &quot;bogus&quot; is not one of"),
        ("q=nobody-at-all", "No user matches these filters now"),
    ] {
        let (status, body) = post(
            "/console/users/bulk",
            vec![
                ("csrf", csrf.clone()),
                ("scope", "matching".into()),
                ("filter", filter.into()),
                ("action", "remove-all-access".into()),
                ("confirm", "1".into()),
            ],
        )
        .await;
        assert_eq!(status, 400, "{filter}: {body}");
        assert!(body.contains(says), "{filter}: {body}");
    }
    assert_eq!(app.sim.calls().len(), calls, "no call to Atlassian");
    let jobs = app
        .store()
        .runs(reinstate::store::RunKind::Job, 10)
        .expect("jobs");
    assert!(jobs.is_empty(), "no job: {jobs:?}");
}

/// The confirm step lists the protected as the inventory knows them (no directory call per
/// look); the job reads the administrators again before it takes anything, so one the
/// directory names since the last sync is refused, listed, and the number asked again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_administrator_the_inventory_does_not_know_yet_is_found_before_anything_is_taken() {
    let app = app().await;
    app.sim.join("acc-cleo", "site-admins");
    let cookie = console_sign_in(&app, ADMIN_TOKEN).await;
    let (_, html) = console_page(&app, &cookie, "/console/users").await;
    let csrf = csrf_in(&html);
    let post = |confirm: &'static str, fresh: &'static str| {
        let form = [
            ("csrf", csrf.clone()),
            ("fresh", fresh.into()),
            ("scope", "matching".into()),
            ("filter", "product=confluence&inactive_after=90".into()),
            ("action", "remove-from-group".into()),
            ("group", "confluence-users".into()),
            ("confirm", confirm.into()),
        ];
        let (app, cookie) = (&app, cookie.clone());
        async move {
            let posted = console_post(app, &cookie, "/console/users/bulk", &form).await;
            (posted.status, posted.location, posted.body)
        }
    };
    let (status, _, first) = post("", "").await;
    assert_eq!(status, 200, "{first}");
    assert!(
        first.contains("Type 2 to confirm"),
        "Cleo and Dora: {first}"
    );
    assert!(!first.contains("always protected"), "{first}");
    let (status, _, again) = post("2", "").await;
    assert_eq!(status, 400, "{again}");
    assert!(
        again.contains("Nothing was started")
            && again.contains("an administrator (member of site-admins)")
            && again.contains("Type 1 to confirm"),
        "{again}"
    );
    assert!(
        app.store()
            .runs(reinstate::store::RunKind::Job, 10)
            .expect("jobs")
            .is_empty(),
        "no job yet"
    );
    assert!(
        again.contains(r#"name="fresh" value="1""#),
        "its next step reads the directory's administrators too: {again}"
    );
    let (status, to, body) = post("1", "1").await;
    assert_eq!(status, 303, "{body}");
    let job = to.expect("the job's page");
    let id = job.rsplit('/').next().expect("id");
    crate::reclaim::wait_done(&app, &format!("/api/v1/jobs/{id}")).await;
    assert!(
        app.sim
            .groups_of("acc-cleo")
            .contains(&"confluence-users".to_string()),
        "Cleo, an administrator now: left alone"
    );
    assert!(
        !app.sim
            .groups_of("acc-dora")
            .contains(&"confluence-users".to_string()),
        "Dora: removed"
    );
}

/// The API's bulk actions take "every user matching" too: the inventory's filter, resolved by
/// the server, a danger action confirmed by the number it finds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bulk_api_acts_on_every_user_matching_a_filter() {
    let app = crowded().await;
    let post = |body: Value| {
        let app = &app;
        async move {
            let r = app
                .admin_post(ADMIN_TOKEN, "/api/v1/users/bulk", &body)
                .await;
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let filter = "product=confluence&inactive_after_days=90&status=active&account_type=person&group=contractors";
    let calls = app.sim.calls().len();
    for (body, code) in [
        (
            serde_json::json!({"action": "remove-from-group", "group": "confluence-users", "matching": "product=confluence&bogus=1"}),
            "invalid_query",
        ),
        (
            serde_json::json!({"action": "remove-from-group", "group": "confluence-users", "matching": filter, "users": ["u0@example.com"]}),
            "invalid_bulk",
        ),
        (
            serde_json::json!({"action": "remove-from-group", "group": "confluence-users", "matching": "q=nobody-at-all"}),
            "no_users",
        ),
        (
            serde_json::json!({"action": "remove-from-group", "group": "confluence-users", "matching": filter}),
            "confirm_required",
        ),
    ] {
        let (status, answer) = post(body.clone()).await;
        assert_eq!(status, 400, "{body}: {answer}");
        assert_eq!(answer["error"], code, "{body}: {answer}");
    }
    let (_, answer) = post(serde_json::json!({"action": "remove-from-group", "group": "confluence-users", "matching": filter})).await;
    assert!(
        answer["detail"]
            .as_str()
            .is_some_and(|d| d.contains("\"confirm\": 10")),
        "the number found: {answer}"
    );
    assert_eq!(app.sim.calls().len(), calls, "nothing called yet");
    let (status, page) = post(serde_json::json!({"action": "remove-from-group", "group": "confluence-users", "matching": filter, "confirm": 10})).await;
    assert_eq!(status, 202, "{page}");
    let id = page["run"]["id"].as_str().expect("id").to_string();
    crate::reclaim::wait_done(&app, &format!("/api/v1/jobs/{id}")).await;
    assert!(
        !app.sim
            .groups_of("acc-u3")
            .contains(&"confluence-users".to_string())
    );
    assert!(
        app.sim
            .groups_of("acc-u13")
            .contains(&"confluence-users".to_string()),
        "not a contractor"
    );
}

/// *Export CSV* from the bulk bar: exactly the users ticked, or every user matching.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bulk_export_is_exactly_the_users_ticked_or_every_user_matching() {
    let app = crowded().await;
    let cookie = console_sign_in(&app, ADMIN_TOKEN).await;
    let (_, html) = console_page(&app, &cookie, "/console/users").await;
    let csrf = csrf_in(&html);
    let emails_of = |csv: &str| -> Vec<String> {
        let mut rows = csv::Reader::from_reader(csv.as_bytes());
        let at = rows
            .headers()
            .expect("header")
            .iter()
            .position(|h| h == "email")
            .expect("an email column");
        rows.records()
            .map(|r| r.expect("a row")[at].to_string())
            .collect()
    };
    let ticked = console_post(
        &app,
        &cookie,
        "/console/users/bulk",
        &[
            ("csrf", csrf.as_str()),
            ("action", "export-csv"),
            ("user", "acc-dora"),
            ("user", "acc-cleo"),
        ],
    )
    .await;
    assert_eq!(ticked.status, 200, "{}", ticked.body);
    assert_eq!(
        emails_of(&ticked.body),
        ["cleo@example.com", "dora@example.com"],
        "{}",
        ticked.body
    );
    let filter = "product=confluence&inactive_after=90&group=contractors";
    let matching = console_post(
        &app,
        &cookie,
        "/console/users/bulk",
        &[
            ("csrf", csrf.as_str()),
            ("action", "export-csv"),
            ("scope", "matching"),
            ("filter", filter),
        ],
    )
    .await;
    assert_eq!(matching.status, 200, "{}", matching.body);
    let found = emails_of(&matching.body);
    assert_eq!(found.len(), 10, "u0–u9: {found:?}");
    assert!(found.iter().all(|e| e.starts_with('u')), "{found:?}");
}
