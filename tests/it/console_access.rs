//! One definition of *licensed* and *the groups that give a product* (issue 24, item 3): the
//! user page says which group gives which product and whether reinstate can take it back, and
//! a danger action says before it runs which of the selected users it cannot act on, and why,
//! instead of skipping them after ("in no group that gives a product: nothing to take").

use crate::console::{app, sign_in, wait_done};
use crate::support::browser::Browser;
use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_user_page_and_the_confirm_step_say_which_group_gives_what_and_what_cannot_be_taken() {
    let app = app().await;
    let browser = Browser::start().await;
    sign_in(&browser, &app, ADMIN_TOKEN).await;

    // Ada holds Jira Software through its licence group; Cleo's Confluence is listed by the
    // organisation, but this Jira directory does not say which groups give Confluence.
    browser
        .goto(&format!("{}/console/users/acc-ada", app.url))
        .await;
    let ada = browser.wait_for_text("Given by").await;
    assert!(
        ada.contains("jira-software-users") && ada.contains("Yes, by removing those groups"),
        "{ada}"
    );
    browser
        .goto(&format!("{}/console/users/acc-cleo", app.url))
        .await;
    let cleo = browser.wait_for_text("Given by").await;
    assert!(
        cleo.contains("No: the jira-cloud directory does not say which groups give Confluence"),
        "{cleo}"
    );
    browser.assert_accessible("user-access").await;
    browser.screenshot("user-access").await;

    // Revoke Confluence from Cleo and Dora: neither can be acted on, and nothing runs.
    browser
        .goto(&format!(
            "{}/console/users?product=confluence&inactive_after=90",
            app.url
        ))
        .await;
    browser.wait_for_text("cleo@example.com").await;
    browser.click("input[data-select][value=acc-cleo]").await;
    browser.click("input[data-select][value=acc-dora]").await;
    browser
        .select("select[name=action]", "revoke-product-access")
        .await;
    browser
        .select("div.bulkbar select[name=product]", "confluence")
        .await;
    browser.click("div.bulkbar button[type=submit]").await;
    let confirm = browser.wait_for_text("it cannot act on").await;
    assert!(
        confirm.contains("2 users it cannot act on — left out")
            && confirm.contains("None of the selected users can be acted on"),
        "{confirm}"
    );
    assert!(!browser.exists("#confirm").await, "nothing to run");
    browser.assert_accessible("confirm-cannot").await;
    browser.screenshot("confirm-cannot").await;

    // Remove All Access from Ada and Cleo: Cleo is left out and named; Ada's is taken.
    browser
        .goto(&format!("{}/console/users?inactive_after=90", app.url))
        .await;
    browser.wait_for_text("ada@example.com").await;
    browser.click("input[data-select][value=acc-ada]").await;
    browser.click("input[data-select][value=acc-cleo]").await;
    browser
        .select("select[name=action]", "remove-all-access")
        .await;
    browser.click("div.bulkbar button[type=submit]").await;
    let confirm = browser.wait_for_text("Type 1 to confirm").await;
    assert!(
        confirm.contains("1 user it cannot act on — left out")
            && confirm.contains("cleo@example.com"),
        "{confirm}"
    );
    browser.fill("#confirm", "1").await;
    browser.click("button.danger").await;
    let job = wait_done(&browser).await;
    assert!(job.contains("1 user"), "only Ada's: {job}");
    assert!(
        !app.sim
            .groups_of("acc-ada")
            .contains(&"jira-software-users".to_string()),
        "Ada's licence group was removed"
    );
    assert!(
        app.sim
            .groups_of("acc-cleo")
            .contains(&"confluence-users".to_string()),
        "Cleo was left alone"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_nobody_is_in_is_checked_before_the_job_starts_and_a_missing_one_is_named() {
    let app = app().await;
    // A typing mistake: refused before anything starts, the field named.
    let typo = serde_json::json!({"action": "add-to-group", "users": ["cleo@example.com"],
        "group": "confluence-user"});
    let calls = app.sim.calls().len();
    let r = app
        .admin_post(ADMIN_TOKEN, "/api/v1/users/bulk", &typo)
        .await;
    assert_eq!(r.status(), 400);
    let e: serde_json::Value = r.json().await.expect("error");
    assert_eq!(e["error"], "unknown_group", "{e}");
    assert!(
        e["detail"]
            .as_str()
            .is_some_and(|d| d.starts_with("group: ")
                && d.contains("\"confluence-user\"")
                && d.contains("confirm_group")),
        "{e}"
    );
    assert!(
        !app.sim
            .calls()
            .iter()
            .skip(calls)
            .any(|c| c.path.contains("/group/user")),
        "nothing was called"
    );
    // Said to exist: it starts, and the entry says what Atlassian answered.
    let mut confirmed = typo.clone();
    confirmed["confirm_group"] = "confluence-user".into();
    let r = app
        .admin_post(ADMIN_TOKEN, "/api/v1/users/bulk", &confirmed)
        .await;
    assert_eq!(r.status(), 202);
    let job: serde_json::Value = r.json().await.expect("job");
    let id = job["run"]["id"].as_str().expect("id").to_string();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let entry = loop {
        let page = app.admin_get(&format!("/api/v1/jobs/{id}")).await;
        if page["run"]["state"] == "done" {
            break page["entries"][0].clone();
        }
        assert!(std::time::Instant::now() < deadline, "{page}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_eq!(entry["result"], "failed", "{entry}");
    assert!(
        entry["detail"]
            .as_str()
            .is_some_and(|d| d.contains("does not exist")),
        "not done: {entry}"
    );

    // The console offers the groups it knows, and names an unknown one at its field.
    let browser = Browser::start().await;
    sign_in(&browser, &app, ADMIN_TOKEN).await;
    browser
        .goto(&format!("{}/console/users?inactive_after=90", app.url))
        .await;
    browser.wait_for_text("cleo@example.com").await;
    for g in ["confluence-users", "jira-software-users"] {
        assert!(
            browser
                .exists(&format!("datalist#known-groups option[value='{g}']"))
                .await,
            "{g} offered"
        );
    }
    browser.click("input[data-select][value=acc-cleo]").await;
    browser.select("select[name=action]", "add-to-group").await;
    browser
        .fill("div.bulkbar input[name=group]", "confluence-user")
        .await;
    browser.click("div.bulkbar button[type=submit]").await;
    let page = browser.wait_for_text("Check the group").await;
    assert!(page.contains("no account in the inventory is in"), "{page}");
    assert!(browser.exists("#group[aria-invalid=true]").await);
    browser.assert_accessible("unknown-group").await;
    browser.screenshot("unknown-group").await;
    // Corrected, it runs.
    browser.fill("#group", "jira-software-users").await;
    browser.click("form.card button.primary").await;
    wait_done(&browser).await;
    assert!(
        app.sim
            .groups_of("acc-cleo")
            .contains(&"jira-software-users".to_string())
    );
}
