//! The console on a phone and in the dark (issue 24, item 10): at 390 CSS pixels every page is
//! as wide as the screen (tables scroll in their own box, the navigation folds behind *Menu*),
//! and with `prefers-color-scheme: dark` every page is dark with the same contrast — axe-core on
//! each, a screenshot of each (`target/console-screenshots/phone-*`, `dark-*`).

use serde_json::{Value, json};

use crate::console::{app, sign_in, wait_done};
use crate::support::browser::{Browser, Screen};
use crate::support::*;

/// Every console page worth a look, with a preview run to show: (name, path).
async fn pages(app: &TestApp) -> Vec<(&'static str, String)> {
    let policies = json!({"policies": [{"name": "confluence 90", "products": ["confluence"],
        "inactive_after_days": 90, "action": "remove-product-access"}]});
    let r = crate::reclaim::put_policies(app, policies).await;
    assert_eq!(r.status(), 200);
    let r = app
        .admin_post(
            ADMIN_TOKEN,
            "/api/v1/reclaim/runs",
            &json!({"dry_run": true}),
        )
        .await;
    assert_eq!(r.status(), 202);
    let run: Value = r.json().await.expect("run");
    let preview = format!("/console/jobs/{}", run["run"]["id"].as_str().expect("id"));
    vec![
        ("overview", "/console".into()),
        ("users", "/console/users?inactive_after=90".into()),
        ("user", "/console/users/acc-cleo".into()),
        ("rules", "/console/rules".into()),
        ("requests", "/console/requests".into()),
        ("reclamation", "/console/reclaim".into()),
        ("preview", preview),
        ("audit", "/console/audit".into()),
        ("sessions", "/console/sessions".into()),
        ("not-found", "/console/no-such-page".into()),
    ]
}

async fn open(browser: &Browser, app: &TestApp, path: &str) {
    browser.goto(&format!("{}{path}", app.url)).await;
    browser.wait_for_text("Sign out").await;
    if path.starts_with("/console/jobs/") {
        wait_done(browser).await;
    }
}

/// The page is no wider than the screen: nothing to scroll sideways.
async fn fits(browser: &Browser, page: &str) {
    let sizes = browser
        .eval("return [document.documentElement.scrollWidth, window.innerWidth];")
        .await;
    assert_eq!(sizes[1], 390, "{page}: a phone's viewport");
    assert!(
        sizes[0].as_u64() <= sizes[1].as_u64(),
        "{page}: the page is wider than the screen: {sizes}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_console_page_fits_a_phone_with_the_navigation_behind_its_menu() {
    let app = app().await;
    let pages = pages(&app).await;
    let browser = Browser::start_with(Screen {
        phone: true,
        dark: false,
    })
    .await;
    sign_in(&browser, &app, ADMIN_TOKEN).await;
    fits(&browser, "after sign-in").await;
    for (name, path) in &pages {
        open(&browser, &app, path).await;
        fits(&browser, name).await;
        browser.assert_accessible(&format!("phone {name}")).await;
        browser.screenshot(&format!("phone-{name}")).await;
    }

    // The navigation is folded behind Menu, which opens it.
    open(&browser, &app, "/console").await;
    let shown =
        "return getComputedStyle(document.getElementById('console-nav')).display !== 'none';";
    assert_eq!(browser.eval(shown).await, false, "folded on a phone");
    browser.click(".nav-toggle").await;
    assert_eq!(browser.eval(shown).await, true, "Menu opens it");
    let expanded = "return document.querySelector('.nav-toggle').getAttribute('aria-expanded');";
    assert_eq!(browser.eval(expanded).await, "true");
    browser.assert_accessible("phone navigation open").await;
    browser.screenshot("phone-navigation").await;

    // The confirm step of a danger action, reached as an admin would on the phone.
    open(&browser, &app, "/console/users?inactive_after=90").await;
    browser.click("input[data-select][value=acc-ada]").await;
    browser
        .select("select[name=action]", "remove-all-access")
        .await;
    browser.click("div.bulkbar button[type=submit]").await;
    browser.wait_for_text("Type 1 to confirm").await;
    fits(&browser, "confirm").await;
    browser.assert_accessible("phone confirm").await;
    browser.screenshot("phone-confirm").await;
}

/// Relative luminance (WCAG) of a computed `rgb(…)` colour.
fn luminance(css: &str) -> f64 {
    let inner = css
        .trim_start_matches("rgba(")
        .trim_start_matches("rgb(")
        .trim_end_matches(')');
    let c: Vec<f64> = inner
        .split(',')
        .take(3)
        .map(|v| v.trim().parse::<f64>().expect("a channel") / 255.0)
        .map(|v| {
            if v <= 0.04045 {
                v / 12.92
            } else {
                ((v + 0.055) / 1.055).powf(2.4)
            }
        })
        .collect();
    0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dark_colour_scheme_gets_a_dark_console_with_the_same_contrast() {
    let app = app().await;
    let pages = pages(&app).await;
    let browser = Browser::start_with(Screen {
        phone: false,
        dark: true,
    })
    .await;
    sign_in(&browser, &app, ADMIN_TOKEN).await;
    let dark = browser
        .eval("return matchMedia('(prefers-color-scheme: dark)').matches;")
        .await;
    assert_eq!(dark, true, "the browser asks for the dark scheme");
    for (name, path) in &pages {
        open(&browser, &app, path).await;
        let colours = browser
            .eval("const s = getComputedStyle(document.body); return [s.backgroundColor, s.color, getComputedStyle(document.querySelector('header.top')).backgroundColor];")
            .await;
        let [background, ink, header] =
            [0, 1, 2].map(|i| luminance(colours[i].as_str().expect("a colour")));
        assert!(
            background < 0.05 && header < 0.05,
            "{name}: a dark background: {colours}"
        );
        assert!(ink > 0.6, "{name}: light text: {colours}");
        browser.assert_accessible(&format!("dark {name}")).await;
        browser.screenshot(&format!("dark-{name}")).await;
    }
}
