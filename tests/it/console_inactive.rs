//! "Inactive" reads clearly (issue 24, item 7): the product past the threshold is marked on the
//! row, a login that named no product explains a "never", suspended and deactivated accounts
//! are not counted as inactive holders unless asked for, *protected* and *recently restored*
//! are badges, and the CSV's `protected` is true where every action would find the user
//! protected.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::console::{app, sign_in};
use crate::support::browser::Browser;
use crate::support::*;

fn inactive_confluence(summary: &Value) -> u64 {
    summary["products"]
        .as_array()
        .expect("products")
        .iter()
        .find(|p| p["key"] == "confluence")
        .and_then(|p| p["inactive_licensed"].as_u64())
        .expect("confluence")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inactive_users_are_marked_explained_and_counted_only_when_they_hold_a_seat() {
    let app = app().await;
    app.sim.add_member_of(
        "acc-ada",
        "ada@example.com",
        &["jira-software-users", "site-admins"],
    );
    app.sim.suspend("acc-dora");
    app.sync_inventory().await;

    // Dora is suspended: no seat, so not an inactive holder, and not listed unless asked.
    let summary = app
        .admin_get("/api/v1/inventory/summary?inactive_after_days=90")
        .await;
    assert_eq!(inactive_confluence(&summary), 1, "Cleo only: {summary}");
    let cookie = console_sign_in(&app, ADMIN_TOKEN).await;
    let page = |path: &'static str| {
        let cookie = cookie.clone();
        let app = &app;
        async move {
            let (status, html) = console_page(app, &cookie, path).await;
            assert_eq!(status, 200, "{path}");
            html
        }
    };
    let listed = page("/console/users?inactive_after=90").await;
    assert!(
        listed.contains("cleo@example.com") && !listed.contains("dora@example.com"),
        "{listed}"
    );
    let any = page("/console/users?inactive_after=90&status=any").await;
    assert!(any.contains("dora@example.com"), "asked for: {any}");

    // Ada is an administrator: protected, on the page and in the CSV.
    assert!(
        listed.contains("class=\"badge protected\" title=\"an administrator"),
        "{listed}"
    );
    let csv = app
        .http
        .get(format!(
            "{}/api/v1/inventory/users.csv?inactive_after_days=90&account_type=person",
            app.url
        ))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("csv")
        .text()
        .await
        .expect("body");
    let mut rows = csv::Reader::from_reader(csv.as_bytes());
    let header = rows.headers().expect("header").clone();
    let column = header
        .iter()
        .position(|h| h == "protected")
        .expect("a protected column");
    let protected_of = |email: &str| {
        csv::Reader::from_reader(csv.as_bytes())
            .records()
            .map(|r| r.expect("a row"))
            .find(|r| r.iter().any(|c| c == email))
            .map(|r| r[column].to_string())
    };
    assert_eq!(
        protected_of("ada@example.com").as_deref(),
        Some("true"),
        "{csv}"
    );
    assert_eq!(
        protected_of("cleo@example.com").as_deref(),
        Some("false"),
        "{csv}"
    );

    // Cleo's Confluence is past the threshold, marked on the row.
    assert!(listed.contains("inactive over 90 days"), "{listed}");

    // A login that names no product: the date it gives each product says what saw it.
    assert_eq!(
        app.login("ada@example.com", None).await.status(),
        202,
        "a login"
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let html = page("/console/users/acc-ada").await;
        if html.contains("a login reinstate received (naming no product, or another)") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the login never explained: {html}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        listed.contains("Confluence: 2026") && listed.contains("Atlassian&#39;s activity data")
            || listed.contains("Atlassian's activity data"),
        "Cleo's date is the directory's: {listed}"
    );

    // Given back by an admin's approval: "recently restored".
    app.login_and_wait("grace@example.com", "jira-software", "approval_required")
        .await;
    let pending = app.admin_get("/api/v1/requests").await;
    let id = pending["requests"]
        .as_array()
        .expect("requests")
        .iter()
        .find(|r| r["email"] == "grace@example.com")
        .and_then(|r| r["id"].as_str())
        .expect("grace's request");
    let r = app
        .admin_post(
            ADMIN_TOKEN,
            &format!("/api/v1/requests/{id}/approve"),
            &json!({}),
        )
        .await;
    assert!(r.status().is_success(), "{}", r.status());

    app.wait_for_outcome("grace@example.com", "restored").await;
    let html = page("/console/users/acc-grace").await;
    assert!(html.contains("recently restored"), "{html}");

    let browser = Browser::start().await;
    sign_in(&browser, &app, ADMIN_TOKEN).await;
    browser
        .goto(&format!(
            "{}/console/users?inactive_after=90&status=any",
            app.url
        ))
        .await;
    browser.wait_for_text("inactive over 90 days").await;
    browser.assert_accessible("inactive-badges").await;
    browser.screenshot("inactive-badges").await;
}
