//! Schedules set in the console (issue 24, item 9): named schedules with their next run, stored
//! and versioned like the policies, checked as the API checks them, each problem named at its
//! field; a saved schedule fires without a restart, and says so in the run's trigger.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::console::app;
use crate::reclaim::put_policies;
use crate::support::*;

async fn put(app: &TestApp, token: &str, body: Value) -> (u16, Value) {
    let r = app
        .http
        .put(format!("{}/api/v1/reclaim/schedules", app.url))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("put");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schedules_are_checked_versioned_audited_and_fire_once_saved() {
    let app = app().await;
    let none = app.admin_get("/api/v1/reclaim/schedules").await;
    assert_eq!(
        none,
        json!({"version": 0, "updated_at": null, "schedules": []})
    );

    for (body, says) in [
        (
            json!({"schedules": [{"name": "nightly", "cron": "61 * * * *"}]}),
            "schedules[0].cron:",
        ),
        (
            json!({"schedules": [{"name": "nightly", "cron": "0 2 * * *", "timezone": "Mars/Olympus"}]}),
            "schedules[0].timezone:",
        ),
        (
            json!({"schedules": [{"name": "a", "cron": "0 2 * * *"}, {"name": "A", "cron": "0 3 * * *"}]}),
            "schedules[1].name: another schedule is named",
        ),
        (
            json!({"schedules": [{"name": "configuration", "cron": "0 2 * * *"}]}),
            "is reclaim.schedule's",
        ),
        (
            json!({"schedules": [{"name": "x", "cron": "0 2 * * *", "when": 1}]}),
            "unknown field",
        ),
    ] {
        let (status, answer) = put(&app, ADMIN_TOKEN, body.clone()).await;
        assert_eq!(status, 400, "{body}: {answer}");
        assert_eq!(answer["error"], "invalid_schedules", "{answer}");
        assert!(
            answer["detail"].as_str().is_some_and(|d| d.contains(says)),
            "{body}: {answer}"
        );
    }
    let (status, _) = put(
        &app,
        VIEWER_TOKEN,
        json!({"schedules": [{"name": "nightly", "cron": "0 2 * * *"}]}),
    )
    .await;
    assert_eq!(status, 403, "a viewer cannot");
    assert_eq!(
        app.admin_get("/api/v1/reclaim/schedules").await["version"],
        0,
        "nothing saved"
    );

    // Nightly at 02:00 in Paris: its next run is the next 02:00 there.
    let (status, page) = put(
        &app,
        ADMIN_TOKEN,
        json!({"schedules": [{"name": "nightly", "cron": "0 2 * * *", "timezone": "Europe/Paris"}]}),
    )
    .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["version"], 1);
    let next = page["schedules"][0]["next_run"].as_str().expect("next run");
    let next = time::OffsetDateTime::parse(next, &time::format_description::well_known::Rfc3339)
        .expect("a time");
    let paris = time::UtcOffset::from_hms(1, 0, 0).expect("offset");
    assert_eq!(next.to_offset(paris).hour(), 2, "{next}");
    assert!(next > time::OffsetDateTime::now_utc());
    assert!(next - time::OffsetDateTime::now_utc() <= time::Duration::hours(24));
    let audit = app
        .admin_get("/api/v1/audit?outcome=rules_changed&limit=5")
        .await;
    assert!(
        audit
            .to_string()
            .contains("reclaim schedules version 0 → 1"),
        "{audit}"
    );

    // One every two seconds fires without a restart, named in its trigger.
    let policies = json!({"policies": [{"name": "confluence 90", "products": ["confluence"],
        "inactive_after_days": 90, "action": "remove-product-access", "warn_days_before": 30}]});
    assert_eq!(put_policies(&app, policies).await.status(), 200);
    let (status, _) = put(
        &app,
        ADMIN_TOKEN,
        json!({"schedules": [{"name": "often", "cron": "*/2 * * * * *"}]}),
    )
    .await;
    assert_eq!(status, 200);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let runs = app.admin_get("/api/v1/reclaim/runs").await;
        if runs.to_string().contains("schedule:often") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the schedule never fired: {runs}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (status, page) = put(
        &app,
        ADMIN_TOKEN,
        json!({"schedules": [{"name": "often", "cron": "*/2 * * * * *", "enabled": false}]}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        page["schedules"][0]["next_run"],
        Value::Null,
        "disabled: {page}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_sets_schedules_names_a_bad_one_at_its_field_and_shows_the_next_run() {
    let app = app().await;
    let cookie = console_sign_in(&app, ADMIN_TOKEN).await;
    let (status, html) = console_page(&app, &cookie, "/console/reclaim").await;
    assert_eq!(status, 200);
    assert!(
        html.contains("add one here"),
        "a blank row to add one: {html}"
    );
    let csrf = csrf_in(&html);
    let post = |rows: Vec<(&'static str, &'static str)>| {
        let mut form: Vec<(&str, String)> = vec![
            ("csrf", csrf.clone()),
            ("op", "save_schedules".into()),
            ("schedules", "1".into()),
        ];
        form.extend(rows.into_iter().map(|(k, v)| (k, v.to_string())));
        let (app, cookie) = (&app, cookie.clone());
        async move {
            let posted = console_post(app, &cookie, "/console/reclaim", &form).await;
            (posted.status, posted.body)
        }
    };
    let (status, refused) = post(vec![
        ("s0.name", "weekdays"),
        ("s0.cron", "30 6 * * 8"),
        ("s0.timezone", "UTC"),
        ("s0.enabled", "yes"),
    ])
    .await;
    assert_eq!(status, 400, "{refused}");
    assert!(
        refused.contains(r#"id="s0-cron-error""#) && refused.contains("weekday 8 is not 0 to 7"),
        "{refused}"
    );
    assert!(refused.contains(r#"value="30 6 * * 8""#), "kept as typed");
    assert_eq!(
        app.admin_get("/api/v1/reclaim/schedules").await["version"],
        0
    );
    let (status, _) = post(vec![
        ("s0.name", "weekdays"),
        ("s0.cron", "30 6 * * 1-5"),
        ("s0.timezone", "UTC"),
        ("s0.enabled", "yes"),
    ])
    .await;
    assert_eq!(status, 303);
    let (_, html) = console_page(&app, &cookie, "/console/reclaim").await;
    let saved = app.admin_get("/api/v1/reclaim/schedules").await;
    let next = saved["schedules"][0]["next_run"]
        .as_str()
        .expect("next run")
        .to_string();
    let shown = time::OffsetDateTime::parse(&next, &time::format_description::well_known::Rfc3339)
        .expect("time");
    assert!(
        html.contains(r#"value="weekdays""#) && html.contains(&shown.date().to_string()),
        "the row and its next run: {html}"
    );
    // Deleted with its tick.
    let (status, _) = post(vec![
        ("s0.name", "weekdays"),
        ("s0.cron", "30 6 * * 1-5"),
        ("s0.delete", "yes"),
    ])
    .await;
    assert_eq!(status, 303);
    let saved = app.admin_get("/api/v1/reclaim/schedules").await;
    assert_eq!(saved["version"], 2);
    assert_eq!(saved["schedules"], json!([]));
}
