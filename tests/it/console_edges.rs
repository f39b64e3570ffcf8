//! The console's rough edges (issue 24, items 8, 11 and 12): bad filter input named at its
//! field, words instead of slugs, job pages titled by what they did with their CSV, the
//! console's own 404 and 405 pages, the deny reason's inline error, the row menu's Escape, and
//! the user API finding everyone the console lists.

use serde_json::{Value, json};

use crate::console::{app, sign_in, wait_done};
use crate::support::browser::Browser;
use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_filter_input_is_named_at_its_field_and_nothing_is_replaced_by_a_default() {
    let app = app().await;
    let cookie = console_sign_in(&app, ADMIN_TOKEN).await;
    let cases = [
        (
            "/console/users?inactive_after=custom&custom_days=0",
            "custom_days",
            "\"0\" is not a number of days",
        ),
        (
            "/console/users?inactive_after=custom&custom_days=abc",
            "custom_days",
            "\"abc\" is not a number of days",
        ),
        (
            "/console/users?inactive_after=custom&custom_days=",
            "custom_days",
            "\"\" is not a number of days",
        ),
        (
            "/console/users?product=bogus",
            "product",
            "\"bogus\" is not one of",
        ),
        (
            "/console/users?last_active=2026-13-45",
            "last_active",
            "is not a date",
        ),
        (
            "/console/audit?user=ada",
            "user",
            "\"ada\" is not a whole email address",
        ),
        ("/console/audit?from=yesterday", "from", "is not a date"),
        (
            "/console/audit?outcome=restroed",
            "outcome",
            "is not an outcome",
        ),
    ];
    for (path, field, why) in cases {
        let (status, html) = console_page(&app, &cookie, path).await;
        let html = html.replace("&quot;", "\"");
        assert_eq!(status, 400, "{path}: {html}");
        assert!(
            html.contains(&format!("id=\"{field}-error\"")) && html.contains(why),
            "{path}: the error at {field}: {html}"
        );
        assert!(
            html.contains(&format!("aria-describedby=\"{field}-error\"")),
            "{path}: {field} points at its error"
        );
        assert!(
            !html.contains("<table"),
            "{path}: nothing shown under a filter that was not applied: {html}"
        );
    }
    // Good input still shows the table, and an empty custom field with a preset is no error.
    for path in [
        "/console/users?inactive_after=90&custom_days=",
        "/console/users?inactive_after=custom&custom_days=45",
        "/console/audit?user=cleo%40example.com&from=2026-01-01",
    ] {
        let (status, html) = console_page(&app, &cookie, path).await;
        assert_eq!(status, 200, "{path}: {html}");
        assert!(html.contains("<table"), "{path}");
    }

    let browser = Browser::start().await;
    sign_in(&browser, &app, ADMIN_TOKEN).await;
    browser
        .goto(&format!(
            "{}/console/users?inactive_after=custom&custom_days=abc",
            app.url
        ))
        .await;
    browser.wait_for_text("is not a number of days").await;
    assert!(browser.exists("#custom_days[aria-invalid=true]").await);
    browser.assert_accessible("users-bad-filter").await;
    browser.screenshot("users-bad-filter").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_say_products_and_actions_in_words_and_a_job_is_titled_by_what_it_did() {
    let app = app().await;
    let cookie = console_sign_in(&app, ADMIN_TOKEN).await;
    let (_, users) = console_page(&app, &cookie, "/console/users?inactive_after=90").await;
    assert!(
        users.contains("Licence usage") && !users.contains("icense"),
        "one spelling: {users}"
    );
    assert!(
        users.contains("Confluence: ") && !users.contains("confluence: "),
        "product names, not keys: {users}"
    );
    assert!(users.contains(">Jira Service Management<"), "{users}");

    // A suspension of one user, as an admin would start it.
    let r = app
        .admin_post(
            ADMIN_TOKEN,
            "/api/v1/users/bulk",
            &json!({"action": "disable-licences", "users": ["cleo@example.com"], "confirm": 1}),
        )
        .await;
    assert_eq!(r.status(), 202);
    let job: Value = r.json().await.expect("job");
    let id = job["run"]["id"].as_str().expect("id").to_string();
    let browser = Browser::start().await;
    sign_in(&browser, &app, ADMIN_TOKEN).await;
    browser
        .goto(&format!("{}/console/jobs/{id}", app.url))
        .await;
    let text = wait_done(&browser).await;
    let title = browser.client.title().await.expect("title");
    assert!(
        title.starts_with("Suspend accounts (every product) — 1 user, by admin:"),
        "titled by what it did: {title}"
    );
    assert!(text.contains("Every product"), "{text}");
    assert_eq!(
        browser.href("nav a[aria-current=page]").await,
        "/console/users",
        "a bulk job is Inactive Users' work"
    );
    let csv = browser.href("a[href$='.csv']").await;
    assert_eq!(csv, format!("/api/v1/jobs/{id}.csv"));
    let got = browser.get_signed_in(&format!("{}{csv}", app.url)).await;
    assert_eq!(got.status(), 200);
    let body = got.text().await.expect("csv");
    let lines: Vec<&str> = body.lines().collect();
    assert_eq!(lines.len(), 2, "{body}");
    assert!(lines[0].starts_with("seq,email,account_id"), "{body}");
    assert!(
        lines[1].contains("cleo@example.com") && lines[1].contains("disable-licences"),
        "{body}"
    );
    browser.assert_accessible("job-titled").await;
    browser.screenshot("job-titled").await;

    // The row menu closes on Escape.
    browser
        .goto(&format!("{}/console/users?inactive_after=90", app.url))
        .await;
    browser.wait_for_text("Licence usage").await;
    browser.click("details.menu summary").await;
    assert!(browser.exists("details.menu[open]").await);
    browser
        .client
        .find(fantoccini::Locator::Css("details.menu summary"))
        .await
        .expect("summary")
        .send_keys("\u{e00c}")
        .await
        .expect("Escape");
    assert!(
        !browser.exists("details.menu[open]").await,
        "Escape closes the menu"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_console_addresses_and_wrong_methods_answer_console_pages() {
    let app = app().await;
    let cookie = console_sign_in(&app, ADMIN_TOKEN).await;
    let ask = |method: reqwest::Method, path: &str| {
        no_redirects()
            .request(method, format!("{}{path}", app.url))
            .header("cookie", cookie.clone())
            .send()
    };
    let r = ask(reqwest::Method::GET, "/console/no-such-page")
        .await
        .expect("404");
    assert_eq!(r.status(), 404);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .expect("a value")
            .starts_with("text/html")
    );
    let html = r.text().await.expect("a value");
    assert!(
        html.contains("Page not found") && html.contains("aria-label=\"Console\""),
        "a console page: {html}"
    );
    for (method, path, allow) in [
        (reqwest::Method::GET, "/console/sign-out", "POST"),
        (reqwest::Method::GET, "/console/users/bulk", "POST"),
        (reqwest::Method::PUT, "/console/users", "GET,HEAD"),
    ] {
        let r = ask(method.clone(), path).await.expect("405");
        assert_eq!(r.status(), 405, "{method} {path}");
        assert_eq!(r.headers()["allow"], allow, "{method} {path}");
        assert!(
            r.headers()["content-type"]
                .to_str()
                .expect("a value")
                .starts_with("text/html")
        );
        let html = r.text().await.expect("a value");
        assert!(
            html.contains("aria-label=\"Console\""),
            "{method} {path}: {html}"
        );
    }
    // Not signed in: the sign-in page first, as for any console page.
    let r = no_redirects()
        .get(format!("{}/console/no-such-page", app.url))
        .send()
        .await
        .expect("a value");
    assert!(r.status().is_redirection());
    assert!(
        r.headers()["location"]
            .to_str()
            .expect("a value")
            .starts_with("/console/sign-in?next=")
    );
    // The API keeps its JSON errors.
    let r = app
        .http
        .get(format!("{}/api/v1/no-such", app.url))
        .send()
        .await
        .expect("a value");
    assert_eq!(r.status(), 404);
    let e: Value = r.json().await.expect("a value");
    assert_eq!(e["error"], "not_found");

    let browser = Browser::start().await;
    sign_in(&browser, &app, ADMIN_TOKEN).await;
    browser
        .goto(&format!("{}/console/no-such-page", app.url))
        .await;
    browser
        .wait_for_text("There is no console page at this address")
        .await;
    browser.assert_accessible("not-found").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deny_without_a_reason_is_an_error_at_the_reason_and_the_request_still_waits() {
    let app = app().await;
    app.login_and_wait("cleo@example.com", "jira-servicedesk", "approval_required")
        .await;
    let browser = Browser::start().await;
    sign_in(&browser, &app, ADMIN_TOKEN).await;
    browser.goto(&format!("{}/console/requests", app.url)).await;
    let text = browser.wait_for_text("cleo@example.com").await;
    assert!(
        text.contains("asks for Jira Service Management through a signed login"),
        "{text}"
    );
    browser.click("button[value=deny]").await;
    let text = browser.wait_for_text("say why").await;
    assert!(
        browser
            .exists("input[name=reason][aria-invalid=true]")
            .await,
        "{text}"
    );
    assert!(
        browser.exists("button[value=approve]").await,
        "still pending"
    );
    browser.assert_accessible("deny-without-reason").await;
    let requests = app.admin_get("/api/v1/requests").await;
    assert_eq!(
        requests["requests"][0]["state"], "pending_approval",
        "{requests}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_user_api_finds_everyone_the_console_lists_with_the_same_products_and_groups() {
    let app = app().await;
    let listed = app
        .admin_get("/api/v1/inventory/users?account_type=person")
        .await;
    let listed = listed["users"].as_array().expect("users").clone();
    assert!(listed.len() >= 8, "{listed:?}");
    for row in &listed {
        let email = row["email"].as_str().expect("email");
        for who in [email, row["account_id"].as_str().expect("id")] {
            let found = app.admin_get(&format!("/api/v1/users/{who}")).await;
            assert_eq!(found["inventory"]["products"], row["products"], "{who}");
            assert_eq!(found["inventory"]["groups"], row["groups"], "{who}");
            assert_eq!(found["inventory"]["account_id"], row["account_id"], "{who}");
        }
    }
    // Someone reinstate has a record of keeps its record beside the row.
    app.login_and_wait("grace@example.com", "jira-software", "approval_required")
        .await;
    let grace = app.admin_get("/api/v1/users/acc-grace").await;
    assert_eq!(grace["email"], "grace@example.com", "{grace}");
    assert!(grace["last_login"].is_string(), "{grace}");
    assert_eq!(grace["inventory"]["account_id"], "acc-grace");
    let r = app
        .http
        .get(format!("{}/api/v1/users/nobody@example.com", app.url))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("a value");
    assert_eq!(r.status(), 404);
    let e: Value = r.json().await.expect("a value");
    assert_eq!(e["error"], "unknown_user", "{e}");
}

/// What a page shows a reader: its text without the markup (attribute values, such as the
/// `enable-licences` a form sends, are not prose).
fn prose(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                out.push(' ');
            }
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out
}

/// British spellings reinstate's phrases use.
const BRITISH: [&str; 2] = ["icence", "rganisation"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_american_organisation_reads_license_everywhere_and_its_data_as_it_is() {
    let app = crate::console::app_with("locale = \"en-US\"\n").await;
    // A group whose name happens to be spelt the British way is data: it keeps its name.
    app.sim.add_member_of(
        "acc-cleo",
        "cleo@example.com",
        &["confluence-users", "Licence Holders"],
    );
    app.sim
        .add_member_of("acc-jo", "jo@example.com", &["jira-software-users"]);
    app.sync_inventory().await;
    let policies = json!({"policies": [{"name": "confluence 90", "products": ["confluence"],
        "inactive_after_days": 90, "action": "remove-product-access", "warn_days_before": 7}]});
    assert_eq!(
        crate::reclaim::put_policies(&app, policies).await.status(),
        200
    );
    let preview = crate::reclaim::run(&app, true).await;
    crate::reclaim::run(&app, false).await;
    let mut job = String::new();
    for action in [
        json!({"action": "revoke-product-access", "product": "jira-software",
            "users": ["jo@example.com"], "confirm": 1}),
        json!({"action": "enable-licences", "users": ["jo@example.com"]}),
    ] {
        let r = app
            .admin_post(ADMIN_TOKEN, "/api/v1/users/bulk", &action)
            .await;
        let started: Value = r.json().await.expect("job");
        job = started["run"]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("{started}"))
            .to_string();
        crate::reclaim::wait_done(&app, &format!("/api/v1/jobs/{job}")).await;
    }

    let cookie = console_sign_in(&app, ADMIN_TOKEN).await;
    let mut read = String::new();
    for path in [
        "/console".to_string(),
        "/console/users?inactive_after=90&cols=1&col=email&col=usage&col=groups&col=products"
            .into(),
        "/console/users/acc-cleo".into(),
        "/console/rules".into(),
        "/console/requests".into(),
        "/console/reclaim".into(),
        format!(
            "/console/jobs/{}",
            preview["run"]["id"].as_str().expect("id")
        ),
        format!("/console/jobs/{job}"),
        "/console/audit".into(),
        "/console/sessions".into(),
    ] {
        let (status, html) = console_page(&app, &cookie, &path).await;
        assert_eq!(status, 200, "{path}: {html}");
        assert!(html.contains("<html lang=\"en-US\">"), "{path}: {html}");
        let text = prose(&html).replace("Licence Holders", "");
        for british in BRITISH {
            assert!(!text.contains(british), "{path} says {british}: {text}");
        }
        read.push_str(&text);
    }
    for american in [
        "License usage",
        "Licenses in use, last 90 days",
        "Enable licenses — 1 user, by admin:",
        "no license group",
    ] {
        assert!(read.contains(american), "{american}: {read}");
    }
    let (_, users) = console_page(
        &app,
        &cookie,
        "/console/users?inactive_after=90&cols=1&col=groups",
    )
    .await;
    assert!(
        users.contains("Licence Holders"),
        "the group's own name: {users}"
    );

    // The warning email, the keep link's pages and what they say once used.
    let mails = app.smtp.wait_for(3).await;
    let warning = mails
        .iter()
        .find(|m| m.to == ["cleo@example.com"])
        .expect("cleo is warned")
        .text();
    assert!(
        warning.contains("your Confluence license will be taken back"),
        "{warning}"
    );
    for mail in &mails {
        for british in BRITISH {
            assert!(!mail.text().contains(british), "{}", mail.text());
        }
    }
    let link = warning
        .split_whitespace()
        .find(|w| w.contains("/v1/links/v1."))
        .expect("a keep link")
        .to_string();
    let page = reqwest::get(&link).await.expect("link page");
    let html = page.text().await.expect("html");
    assert!(
        html.contains("Keep your Confluence license")
            && html.contains("Your license will be kept when inactive licenses are reclaimed."),
        "{html}"
    );
    let done = reqwest::Client::new()
        .post(&link)
        .send()
        .await
        .expect("redeem")
        .text()
        .await
        .expect("html");
    assert!(
        done.contains("Your license will be kept.") || done.contains("being handled"),
        "{done}"
    );
    for british in BRITISH {
        assert!(!prose(&html).contains(british) && !prose(&done).contains(british));
    }
}
