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
        cleo.contains("No: the jira-cloud directory does not say which groups give confluence"),
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
