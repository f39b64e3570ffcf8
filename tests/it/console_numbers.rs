//! The Overview's numbers are true (issue 24, item 2): seats follow what reinstate took and gave
//! at once, not the last directory read; *Sync now*; the history is plotted from the figures
//! recorded each day, never recomputed from today backwards; the month's counts include bulk
//! work; no seat price says how to set one; the inactive column leads to the users it counts.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::console::{app, sign_in};
use crate::support::browser::Browser;
use crate::support::*;

async fn job_done(app: &TestApp, r: reqwest::Response) -> Value {
    assert_eq!(r.status(), 202, "a job");
    let started: Value = r.json().await.expect("job");
    let id = started["run"]["id"].as_str().expect("id").to_string();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let page = app.admin_get(&format!("/api/v1/jobs/{id}")).await;
        if page["run"]["state"] == "done" {
            return page;
        }
        assert!(Instant::now() < deadline, "the job never finished: {page}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn used(summary: &Value, key: &str) -> u64 {
    summary["products"]
        .as_array()
        .expect("products")
        .iter()
        .find(|p| p["key"] == key)
        .and_then(|p| p["seats_used"].as_u64())
        .unwrap_or_else(|| panic!("{key} in {summary}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seats_and_counts_follow_what_reinstate_did_at_once_and_history_is_as_recorded() {
    let app = app().await;
    // The first sync (at start) and the one asked for may finish in either order: one more.
    app.sync_inventory().await;
    let before = app.admin_get("/api/v1/inventory/summary").await;
    let jira = used(&before, "jira-software");
    assert!(jira >= 1, "{before}");

    // A bulk revoke of ada's Jira Software: the seat is free at once, with no sync since.
    let revoke = json!({"action": "revoke-product-access", "users": ["ada@example.com"],
        "product": "jira-software", "confirm": 1});
    let job = job_done(
        &app,
        app.admin_post(ADMIN_TOKEN, "/api/v1/users/bulk", &revoke)
            .await,
    )
    .await;
    assert_eq!(job["entries"][0]["result"], "done", "{job}");
    let after = app.admin_get("/api/v1/inventory/summary").await;
    assert_eq!(used(&after, "jira-software"), jira - 1, "{after}");
    assert_eq!(after["synced_at"], before["synced_at"], "no sync between");

    // The Overview counts the bulk take as reclaimed this month, and its seats are today's.
    let cookie = console_sign_in(&app, ADMIN_TOKEN).await;
    let overview = |cookie: String| {
        let app = &app;
        async move { console_page(app, &cookie, "/console").await.1 }
    };
    let html = overview(cookie.clone()).await;
    assert!(
        html.contains("Reclaimed this month</div><div class=\"metric\">1<"),
        "a bulk take counts: {html}"
    );
    assert!(html.contains("Directory last read"), "{html}");
    assert!(
        html.contains("No seat price set"),
        "says how to set one: {html}"
    );

    // Undo gives the seat back at once, and counts as restored.
    let id = job["run"]["id"].as_str().expect("id");
    let undo = job_done(
        &app,
        app.admin_post(ADMIN_TOKEN, &format!("/api/v1/jobs/{id}/undo"), &json!({}))
            .await,
    )
    .await;
    assert_eq!(undo["entries"][0]["result"], "done", "{undo}");
    let back = app.admin_get("/api/v1/inventory/summary").await;
    assert_eq!(used(&back, "jira-software"), jira, "{back}");
    let html = overview(cookie.clone()).await;
    assert!(
        html.contains("Restored this month</div><div class=\"metric\">1<"),
        "the give-back counts: {html}"
    );

    // History: what was recorded on a past day is what the chart shows for it.
    let store = app.store();
    let day = time::OffsetDateTime::now_utc().date() - time::Duration::days(3);
    store
        .record_figures(&reinstate::store::DailyFigures {
            v: 1,
            day,
            recorded_at: day.midnight().assume_utc(),
            products: vec![reinstate::store::ProductFigures {
                key: "jira-software".into(),
                seats_used: 41,
                seats_total: Some(50),
                holders: 41,
            }],
        })
        .await
        .expect("recorded");
    let html = overview(cookie.clone()).await;
    assert!(
        html.contains(&format!("Licences in use: from 41 on {day}")),
        "the recorded figure, not today's less what changed since: {html}"
    );
    assert!(
        html.contains(&format!("As recorded each day since {day}")),
        "{html}"
    );

    // Sync now asks for a sync; the sync records today's figures when it finishes.
    let csrf = csrf_in(&html);
    let before_sync = app.admin_get("/api/v1/inventory/sync").await["finished_at"].clone();
    let r = no_redirects()
        .post(format!("{}/console/sync", app.url))
        .header("cookie", cookie.clone())
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .expect("sync now");
    assert_eq!(r.status(), 303);
    app.wait_synced(&before_sync).await;
    let today = time::OffsetDateTime::now_utc().date();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let recorded = store.figures_since(today).expect("figures");
        if let Some(t) = recorded.first() {
            assert_eq!(t.day, today);
            let j = t.products.iter().find(|p| p.key == "jira-software");
            assert_eq!(j.map(|p| p.seats_used), Some(jira), "{recorded:?}");
            break;
        }
        assert!(Instant::now() < deadline, "today's figures never recorded");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_inactive_column_uses_the_policy_days_and_leads_to_the_users_it_counts() {
    let app = app().await;
    let policies = json!({"policies": [{"name": "confluence 100", "products": ["confluence"],
        "inactive_after_days": 100, "action": "remove-product-access"}]});
    let r = crate::reclaim::put_policies(&app, policies).await;
    assert_eq!(r.status(), 200);
    let browser = Browser::start().await;
    sign_in(&browser, &app, ADMIN_TOKEN).await;
    browser.goto(&format!("{}/console", app.url)).await;
    let text = browser.wait_for_text("Seats per product").await;
    assert!(text.contains("(100 days)"), "the policy's days: {text}");
    browser.assert_accessible("overview-numbers").await;
    let link = "a[href*='product=confluence']";
    let shown: usize = browser
        .client
        .find(fantoccini::Locator::Css(link))
        .await
        .expect("the link")
        .text()
        .await
        .expect("text")
        .parse()
        .expect("a count");
    assert_eq!(shown, 2, "cleo and dora, 120 days inactive: {text}");
    browser.click(link).await;
    let users = browser.wait_for_text("Inactive Users").await;
    assert!(
        users.contains(&format!("{shown} of")),
        "the page lists the number the Overview showed: {users}"
    );
    assert!(
        browser.url().await.contains("custom_days=100"),
        "{}",
        browser.url().await
    );
}
