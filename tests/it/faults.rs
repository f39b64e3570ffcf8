//! Directory faults: rate limits, outages, and events that run out of deliveries.

use std::time::Duration;

use crate::both_buses;
use crate::support::*;

async fn a_429_with_retry_after_is_waited_out_then_the_licence_restored(mode: BusMode) {
    let app = TestApp::start(mode).await;
    assert_eq!(app.put_rules(standard_rules()).await.status(), 200);
    app.sim.push_fault(Fault::Status(429, Some(1)));
    let sent = std::time::Instant::now();
    let entry = app
        .login_and_wait("grace@example.com", "jira-software", "restored")
        .await;
    assert!(
        sent.elapsed() >= Duration::from_secs(1),
        "Retry-After was not honoured"
    );
    let calls = app.sim.calls();
    assert_eq!(calls[0].status, 429);
    assert_eq!(app.sim.group_adds("acc-grace").len(), 1);
    let recorded = entry["directory_calls"].as_array().expect("calls");
    assert!(recorded.iter().any(|c| c["attempts"] == 2), "{recorded:?}");
}
both_buses!(a_429_with_retry_after_is_waited_out_then_the_licence_restored);

/// Jira Cloud may answer 429 with `X-RateLimit-Reset` (`yyyy-MM-ddTHH:mmZ`, to the minute) and
/// no `Retry-After`: the connector waits for the reset (at most `retry_max_ms`, 1.5 s here), not
/// its shortest backoff.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_with_only_a_rate_limit_reset_waits_for_the_reset() {
    let app = TestApp::start(BusMode::Embedded).await;
    assert_eq!(app.put_rules(standard_rules()).await.status(), 200);
    // The reset is the next minute, to the minute: a 429 in a minute's last seconds would reset
    // a moment later (and a shorter wait would be right). Start clear of that edge.
    let second = time::OffsetDateTime::now_utc().second();
    if second >= 50 {
        tokio::time::sleep(Duration::from_secs(u64::from(61 - second))).await;
    }
    app.sim
        .push_fault_on("/rest/api/3/group/user", Fault::Status(429, None));
    app.login_and_wait("grace@example.com", "jira-software", "restored")
        .await;
    let adds: Vec<Call> = app
        .sim
        .calls()
        .into_iter()
        .filter(|c| c.path == "/rest/api/3/group/user")
        .collect();
    assert_eq!(adds.len(), 2, "{adds:?}");
    assert_eq!(adds[0].status, 429);
    let waited = adds[1].at - adds[0].at;
    assert!(
        waited >= Duration::from_millis(1400),
        "retried after {waited:?}, before the reset (capped at retry_max_ms)"
    );
}

async fn a_directory_outage_is_retried_until_it_comes_back(mode: BusMode) {
    let app = TestApp::start(mode).await;
    assert_eq!(app.put_rules(standard_rules()).await.status(), 200);
    app.sim.set_down(true);
    assert_eq!(
        app.login("grace@example.com", Some("jira-software"))
            .await
            .status(),
        202
    );
    // Several calls fail (retries inside a delivery, then redeliveries) before it comes back.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while app.sim.calls().iter().filter(|c| c.status == 503).count() < 4 {
        assert!(
            std::time::Instant::now() < deadline,
            "reinstate did not retry the directory"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        app.audit("grace@example.com")
            .await
            .iter()
            .all(|e| e["outcome"] != "restored")
    );
    app.sim.set_down(false);
    let entry = app.wait_for_outcome("grace@example.com", "restored").await;
    assert!(
        entry["attempt"].as_u64().expect("attempt") >= 2,
        "restored on a redelivery: {entry}"
    );
    assert_eq!(
        app.sim
            .group_adds("acc-grace")
            .iter()
            .filter(|c| c.status == 201)
            .count(),
        1
    );
}
both_buses!(a_directory_outage_is_retried_until_it_comes_back);

async fn an_event_that_runs_out_of_deliveries_is_recorded_as_failed(mode: BusMode) {
    let app = TestApp::start_with(
        mode,
        Options {
            max_deliver: 2,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(app.put_rules(standard_rules()).await.status(), 200);
    app.sim.set_down(true);
    let entry = app
        .login_and_wait("grace@example.com", "jira-software", "failed")
        .await;
    let reason = entry["reason"].as_str().expect("reason");
    assert!(reason.contains("gave up after 2 deliveries"), "{reason}");
    assert_eq!(entry["attempt"], 2);
    assert!(app.sim.group_adds("acc-grace").is_empty());
    // Never silently dropped: admins are told.
    let mails = app.smtp.wait_for(1).await;
    assert!(
        mails[0].text().contains("gave up after 2 deliveries"),
        "{}",
        mails[0].text()
    );
}
both_buses!(an_event_that_runs_out_of_deliveries_is_recorded_as_failed);

async fn a_directory_that_refuses_permissions_fails_fast_without_retries(mode: BusMode) {
    let app = TestApp::start(mode).await;
    assert_eq!(app.put_rules(standard_rules()).await.status(), 200);
    app.sim.push_fault(Fault::Status(403, None));
    let entry = app
        .login_and_wait("grace@example.com", "jira-software", "failed")
        .await;
    assert!(
        entry["reason"].as_str().expect("reason").contains("403"),
        "{entry}"
    );
    assert_eq!(entry["attempt"], 1);
    assert_eq!(app.sim.calls().len(), 1);
    // Admins are told what to fix, once: a second refusal within the hour is only audited.
    let mails = app.smtp.wait_for(1).await;
    assert_eq!(mails[0].to, vec![ALERT_EMAIL.to_string()]);
    let text = mails[0].text();
    assert!(
        text.contains("a restore failed") && text.contains("lacks a permission"),
        "{text}"
    );
    app.sim.push_fault(Fault::Status(403, None));
    app.login_and_wait("zed@example.com", "jira-software", "failed")
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(app.smtp.mails().len(), 1, "one alert per hour");
}
both_buses!(a_directory_that_refuses_permissions_fails_fast_without_retries);

/// 5,000 logins of distinct users at once against a site that allows 100 requests a second:
/// the connector's token bucket spreads the calls out, so the site never answers 429, and
/// every user gets their licence back exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_5000_logins_meets_no_429_and_restores_everyone() {
    use futures::StreamExt;
    const USERS: usize = 5000;
    let options = Options {
        directory_toml: "rate_limit_per_sec = 100\nrate_limit_burst = 20\nmax_concurrency = 16"
            .into(),
        extra_toml: String::new(),
        ..Default::default()
    };
    let app = TestApp::start_with(BusMode::Nats, options).await;
    assert_eq!(app.put_rules(standard_rules()).await.status(), 200);
    app.sim.add_users("burst", USERS);
    app.sim.set_seats(USERS + 100);
    app.sim.set_rate_limit(100);
    let started = std::time::Instant::now();
    let accepted = futures::stream::iter(0..USERS)
        .map(|i| {
            let app = &app;
            async move {
                // The identity provider knows the Atlassian account id of these users.
                let mut body: serde_json::Value = serde_json::from_slice(&login_body(
                    &format!("burst{i}@example.com"),
                    Some("jira-software"),
                ))
                .expect("json");
                body["user"]["account_id"] = format!("acc-burst{i}").into();
                app.post_login_json(&body).await.status().as_u16()
            }
        })
        .buffer_unordered(32)
        .filter(|s| std::future::ready(*s == 202))
        .count()
        .await;
    assert_eq!(accepted, USERS);
    let deadline = started + Duration::from_secs(400);
    let restored = |calls: &[Call]| {
        calls
            .iter()
            .filter(|c| c.method == "POST" && c.status == 201)
            .count()
    };
    let mut progress = (0, std::time::Instant::now());
    loop {
        let calls = app.sim.calls();
        let done = restored(&calls);
        if done >= USERS {
            break;
        }
        if done > progress.0 {
            progress = (done, std::time::Instant::now());
        }
        assert!(
            std::time::Instant::now() < deadline && progress.1.elapsed() < Duration::from_secs(30),
            "{done} of {USERS} restored after {:?}, {} answered 429",
            started.elapsed(),
            calls.iter().filter(|c| c.status == 429).count()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let calls = app.sim.calls();
    let throttled = calls.iter().filter(|c| c.status == 429).count();
    assert_eq!(throttled, 0, "the site answered 429 {throttled} times");
    for i in [0, USERS / 2, USERS - 1] {
        let id = format!("acc-burst{i}");
        assert_eq!(app.sim.group_adds(&id).len(), 1, "{id}");
        assert!(
            app.sim
                .groups_of(&id)
                .contains(&"jira-software-users".to_string())
        );
    }
    let adds = calls.iter().filter(|c| c.method == "POST").count();
    assert_eq!(adds, USERS, "no user's group was added twice");
    eprintln!(
        "burst: {USERS} users restored in {:?} with {} directory calls",
        started.elapsed(),
        calls.len()
    );
}

async fn a_stalled_directory_call_times_out_and_is_retried(mode: BusMode) {
    let app = TestApp::start(mode).await;
    assert_eq!(app.put_rules(standard_rules()).await.status(), 200);
    // Longer than directory.request_timeout_ms (2 s in the test configuration).
    app.sim.push_fault(Fault::Delay(Duration::from_secs(4)));
    let entry = app
        .login_and_wait("grace@example.com", "jira-software", "restored")
        .await;
    let recorded = entry["directory_calls"].as_array().expect("calls");
    assert!(recorded.iter().any(|c| c["attempts"] == 2), "{recorded:?}");
    assert_eq!(
        app.sim
            .group_adds("acc-grace")
            .iter()
            .filter(|c| c.status == 201)
            .count(),
        1
    );
}
both_buses!(a_stalled_directory_call_times_out_and_is_retried);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn work_slower_than_the_ack_wait_is_not_handed_to_a_second_worker() {
    let options = Options {
        ack_wait_secs: 2,
        request_timeout_ms: 8000,
        ..Default::default()
    };
    let app = TestApp::start_with(BusMode::Nats, options).await;
    assert_eq!(app.put_rules(standard_rules()).await.status(), 200);
    // The first directory call takes 5 s: longer than the 2 s ack wait.
    app.sim.push_fault(Fault::Delay(Duration::from_secs(5)));
    app.login_and_wait("grace@example.com", "jira-software", "restored")
        .await;
    assert_eq!(
        app.sim.group_adds("acc-grace").len(),
        1,
        "processed twice: {:#?}",
        app.sim.calls()
    );
    let audit = app.audit("grace@example.com").await;
    assert_eq!(audit.len(), 1, "{audit:#?}");
    assert_eq!(audit[0]["attempt"], 1);
}

/// Sustained chaos at the directory — 30 % of requests answered 503, bursts of 429 with
/// `Retry-After`, connections cut after the write happened, 10 s stalls — and still every
/// user is restored exactly once, without ever exceeding the connector's request rate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn directory_chaos_is_survived_within_the_rate_limit() {
    use futures::StreamExt;
    const USERS: usize = 300;
    const RATE: usize = 50;
    const BURST: usize = 10;
    let options = Options {
        max_deliver: 30,
        directory_toml: format!(
            "rate_limit_per_sec = {RATE}\nrate_limit_burst = {BURST}\nmax_concurrency = 16"
        ),
        ..Default::default()
    };
    let app = TestApp::start_with(BusMode::Nats, options).await;
    assert_eq!(app.put_rules(standard_rules()).await.status(), 200);
    app.sim.add_users("c", USERS);
    app.sim.set_seats(USERS + 100);
    app.sim.set_chaos(Chaos {
        p_5xx: 0.30,
        p_reset: 0.03,
        p_stall: 0.01,
        stall: Duration::from_secs(10),
        p_429_burst: 0.01,
        burst_429: 5,
    });
    let accepted = futures::stream::iter(0..USERS)
        .map(|i| {
            let app = &app;
            async move {
                let mut body: serde_json::Value = serde_json::from_slice(&login_body(
                    &format!("c{i}@example.com"),
                    Some("jira-software"),
                ))
                .expect("json");
                body["user"]["account_id"] = format!("acc-c{i}").into();
                app.post_login_json(&body).await.status().as_u16()
            }
        })
        .buffer_unordered(16)
        .filter(|s| std::future::ready(*s == 202))
        .count()
        .await;
    assert_eq!(accepted, USERS);
    let started = std::time::Instant::now();
    loop {
        let done = (0..USERS)
            .filter(|i| {
                app.sim
                    .groups_of(&format!("acc-c{i}"))
                    .contains(&"jira-software-users".to_string())
            })
            .count();
        if done == USERS {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(240),
            "{done} of {USERS} restored"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let calls = app.sim.calls();
    for i in 0..USERS {
        let id = format!("acc-c{i}");
        let ok = calls
            .iter()
            .filter(|c| c.method == "POST" && c.body["accountId"] == id.as_str() && c.status < 300)
            .count();
        assert_eq!(ok, 1, "{id} added {ok} times");
    }
    // No second ever saw more requests than the bucket allows (with a little clock slack).
    let mut times: Vec<std::time::Instant> = calls.iter().map(|c| c.at).collect();
    times.sort();
    let busiest = (0..times.len())
        .map(|i| {
            times[i..]
                .iter()
                .take_while(|t| **t - times[i] < Duration::from_secs(1))
                .count()
        })
        .max()
        .unwrap_or(0);
    // GCRA bounds any second at RATE + BURST as sent; arrival jitter may squeeze a few more.
    assert!(
        busiest <= RATE + BURST + 5,
        "{busiest} requests in one second"
    );
    let by_status = |s: u16| calls.iter().filter(|c| c.status == s).count();
    eprintln!(
        "chaos: {USERS} restored once each in {:?}; {} calls ({} 503, {} 429); busiest second {busiest}",
        started.elapsed(),
        calls.len(),
        by_status(503),
        by_status(429)
    );
}
