//! Reclamation without the README (issue 24, item 9): the policies as a form — products, days,
//! action, warning, second stage, protect lists — checked by the API's own validation with each
//! problem under its field, policies added and deleted, the JSON kept as an advanced view; and
//! a preview's users sortable by name and last activity.

use serde_json::json;

use crate::console::{app, sign_in, wait_done};
use crate::reclaim::put_policies;
use crate::support::browser::Browser;
use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policies_are_edited_as_a_form_checked_like_the_api_and_previews_sort_by_name_and_activity()
{
    let app = app().await;
    let policies = json!({"policies": [{"name": "confluence 90", "products": ["confluence"],
        "inactive_after_days": 90, "action": "remove-product-access", "warn_days_before": 0,
        "protect": {"groups": ["vip"]}}]});
    assert_eq!(put_policies(&app, policies).await.status(), 200);
    let browser = Browser::start().await;
    sign_in(&browser, &app, ADMIN_TOKEN).await;
    browser.goto(&format!("{}/console/reclaim", app.url)).await;
    browser.wait_for_text("confluence 90").await;
    let value = |css: &'static str| {
        let browser = &browser;
        async move {
            browser
                .eval(&format!("return document.querySelector('{css}').value"))
                .await
        }
    };
    assert_eq!(value("#p0-inactive_after_days").await, "90");
    assert_eq!(value("#p0-protect_groups").await, "vip");
    assert_eq!(value("#p0-action").await, "remove-product-access");

    // Not a number, then a number the API refuses: each named under its field, nothing saved.
    browser.fill("#p0-inactive_after_days", "abc").await;
    browser.click("button[value=save_form]").await;
    let refused = browser.wait_for_text("Nothing was saved").await;
    assert!(
        refused.contains("inactive after \"abc\" is not a number of days"),
        "{refused}"
    );
    assert!(
        browser
            .exists("#p0-inactive_after_days[aria-invalid=true]")
            .await
    );
    browser.assert_accessible("policies-form-error").await;
    browser.screenshot("policies-form-error").await;
    browser.fill("#p0-inactive_after_days", "0").await;
    browser.click("button[value=save_form]").await;
    let refused = browser.wait_for_text("Nothing was saved").await;
    assert!(refused.contains("must be 1 to 3650"), "{refused}");
    assert!(browser.exists("#p0-inactive_after_days-error").await);
    let doc = app.admin_get("/api/v1/reclaim/policies").await;
    assert_eq!(doc["version"], 1, "nothing saved: {doc}");

    // 120 days and a second stage: saved, versioned.
    browser.fill("#p0-inactive_after_days", "120").await;
    browser.select("#p0-then_action", "suspend").await;
    browser.fill("#p0-then_after_days", "30").await;
    browser.click("button[value=save_form]").await;
    browser.wait_for_text("version 2").await;
    let doc = app.admin_get("/api/v1/reclaim/policies").await;
    let p = &doc["policies"][0];
    assert_eq!(p["inactive_after_days"], 120, "{doc}");
    assert_eq!(
        p["then"],
        json!({"after_days": 30, "action": "suspend"}),
        "{doc}"
    );
    assert_eq!(p["protect"]["groups"], json!(["vip"]), "kept: {doc}");

    // A policy added: a protected user that is not an address is refused at its field.
    browser.click("button[value=add_policy]").await;
    browser.wait_for_text("New policy").await;
    browser.fill("#p1-name", "jira 60").await;
    browser
        .click("input[name='p1.products'][value=jira-software]")
        .await;
    browser.fill("#p1-inactive_after_days", "60").await;
    browser.fill("#p1-protect_users", "not-an-address").await;
    browser.click("button[value=save_form]").await;
    let refused = browser.wait_for_text("Nothing was saved").await;
    assert!(
        refused.contains("protected user \"not-an-address\" is not an email address"),
        "{refused}"
    );
    browser.fill("#p1-protect_users", "ceo@example.com").await;
    browser.click("button[value=save_form]").await;
    browser.wait_for_text("version 3").await;
    let doc = app.admin_get("/api/v1/reclaim/policies").await;
    assert_eq!(doc["policies"][1]["name"], "jira 60", "{doc}");
    assert_eq!(doc["policies"][1]["products"], json!(["jira-software"]));
    assert_eq!(
        doc["policies"][1]["protect"]["users"],
        json!(["ceo@example.com"])
    );
    browser.assert_accessible("policies-form").await;
    browser.screenshot("policies-form").await;

    // Deleted with its tick; the JSON view shows what is saved.
    browser.click("input[name='p1.delete']").await;
    browser.click("button[value=save_form]").await;
    browser.wait_for_text("version 4").await;
    let doc = app.admin_get("/api/v1/reclaim/policies").await;
    assert_eq!(doc["policies"].as_array().map(Vec::len), Some(1), "{doc}");
    browser.click("details.advanced summary").await;
    let json = value("#policies").await;
    assert!(
        json.as_str()
            .is_some_and(|j| j.contains("\"after_days\": 30")),
        "{json}"
    );
    let audit = app
        .admin_get("/api/v1/audit?outcome=rules_changed&limit=20")
        .await;
    assert!(
        audit.to_string().contains("reclaim policies version 3 → 4"),
        "the changes are audited: {audit}"
    );

    // A preview's users sort by name and by last activity.
    browser.click("button[value=preview]").await;
    wait_done(&browser).await;
    browser.click("th a[href*='sort=last_active']").await;
    browser.wait_for_text("Last active ▲").await;
    let order = browser
        .eval("return [...document.querySelectorAll('tbody tr td:nth-child(3)')].map(t => t.textContent)")
        .await;
    let order: Vec<String> = order
        .as_array()
        .expect("cells")
        .iter()
        .map(|c| c.as_str().unwrap_or_default().to_string())
        .collect();
    let mut sorted = order.clone();
    sorted.sort_by_key(|d| (d != "never", d.clone()));
    assert_eq!(order, sorted, "by last activity, never first");
    browser.click("th a[href*='sort=name']").await;
    browser.wait_for_text("Name ▲").await;
    browser.click("th a[href*='sort=name']").await;
    browser.wait_for_text("Name ▼").await;
    browser.assert_accessible("preview-sorted").await;
    let (status, _) = console_page(
        &app,
        &console_sign_in(&app, ADMIN_TOKEN).await,
        &format!(
            "{}?sort=bogus",
            browser
                .url()
                .await
                .split('?')
                .next()
                .expect("path")
                .trim_start_matches(&app.url)
        ),
    )
    .await;
    assert_eq!(status, 400, "a sort that is not one is named");
}
