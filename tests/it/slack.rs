//! Asking in Slack (issue 21): a slash command, verified over the raw bytes with Slack's
//! signing scheme, answered at once, the person identified by the email Slack's `users.info`
//! holds for the signed `user_id`, decided by the rules, and the outcome posted to the
//! command's `response_url` — against a simulator of Slack that answers faults.

use std::time::Duration;

use serde_json::Value;

use crate::support::slack_sim::{SLACK_SIGNING_SECRET, SlackSim, slack_signature};
use crate::support::*;

const ZED: &str = "U2147483697";

async fn app_with(slack: &SlackSim) -> TestApp {
    let app = TestApp::start_with(
        BusMode::Embedded,
        Options {
            slack_toml: slack.toml(),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(app.put_rules(standard_rules()).await.status(), 200);
    app
}

fn now() -> String {
    time::OffsetDateTime::now_utc().unix_timestamp().to_string()
}

/// Sends `body` to the slash command receiver with these Slack headers.
async fn send(
    app: &TestApp,
    body: &str,
    timestamp: Option<&str>,
    signature: Option<&str>,
) -> (u16, Value) {
    let mut request = app
        .http
        .post(format!("{}/v1/hooks/slack/commands", app.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.to_string());
    if let Some(ts) = timestamp {
        request = request.header("x-slack-request-timestamp", ts);
    }
    if let Some(sig) = signature {
        request = request.header("x-slack-signature", sig);
    }
    let r = request.send().await.expect("send");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// Sends `body` signed as Slack signs it, now.
async fn signed(app: &TestApp, body: &str) -> (u16, Value) {
    let ts = now();
    let sig = slack_signature(SLACK_SIGNING_SECRET, &ts, body);
    send(app, body, Some(&ts), Some(&sig)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slash_command_restores_the_licence_of_who_slack_says_asked_and_answers_there() {
    let slack = SlackSim::start().await;
    slack.person(ZED, "zed@example.com");
    let app = app_with(&slack).await;
    // What the person typed names someone else: only the signed user_id counts.
    let body = slack.command_body(ZED, "jira for ada@example.com please");
    let ts = now();
    let sig = slack_signature(SLACK_SIGNING_SECRET, &ts, &body);
    let (status, answer) = send(&app, &body, Some(&ts), Some(&sig)).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["response_type"], "ephemeral");
    assert!(
        answer["text"]
            .as_str()
            .is_some_and(|t| t.starts_with("Asking for Jira Software")),
        "{answer}"
    );
    let entry = app.wait_for_outcome("zed@example.com", "restored").await;
    assert_eq!(entry["source"], "slack", "{entry}");
    assert_eq!(app.sim.group_adds("acc-zed").len(), 1);
    assert!(app.audit("ada@example.com").await.is_empty());
    let replies = slack.wait_for_replies(1).await;
    assert_eq!(replies[0]["response_type"], "ephemeral");
    assert!(
        replies[0]["text"]
            .as_str()
            .is_some_and(|t| t.starts_with("Restored Jira Software.")),
        "{replies:?}"
    );
    assert_eq!(slack.calls()[0], format!("users.info {ZED}"));

    // The same request again, signature and all: refused, and nothing happens twice.
    let (status, refused) = send(&app, &body, Some(&ts), Some(&sig)).await;
    assert_eq!(status, 409, "{refused}");
    assert_eq!(refused["error"], "replayed");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(app.sim.group_adds("acc-zed").len(), 1);
    assert_eq!(slack.replies().len(), 1);

    // Naming no product, or one reinstate does not give back, is answered with how to ask.
    for text in ["", "bitbucket please"] {
        let (status, usage) = signed(&app, &slack.command_body(ZED, text)).await;
        assert_eq!(status, 200);
        assert!(
            usage["text"]
                .as_str()
                .is_some_and(|t| t.contains("`jira`, `confluence` or `jsm`")),
            "{usage}"
        );
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(app.audit("zed@example.com").await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsigned_stale_forged_or_misdirected_commands_are_refused_and_change_nothing() {
    let slack = SlackSim::start().await;
    slack.person(ZED, "zed@example.com");
    let app = app_with(&slack).await;
    let body = slack.command_body(ZED, "jira");
    let ts = now();
    let good = slack_signature(SLACK_SIGNING_SECRET, &ts, &body);
    let stale = (time::OffsetDateTime::now_utc().unix_timestamp() - 301).to_string();
    // (what, timestamp, signature, body, status, error)
    type Case<'a> = (
        &'a str,
        Option<String>,
        Option<String>,
        String,
        u16,
        &'a str,
    );
    let cases: Vec<Case> = vec![
        (
            "no signature",
            Some(ts.clone()),
            None,
            body.clone(),
            401,
            "invalid_signature",
        ),
        (
            "no timestamp",
            None,
            Some(good.clone()),
            body.clone(),
            401,
            "missing_timestamp",
        ),
        (
            "another secret",
            Some(ts.clone()),
            Some(slack_signature("another-signing-secret-0000", &ts, &body)),
            body.clone(),
            401,
            "invalid_signature",
        ),
        (
            "a tampered body",
            Some(ts.clone()),
            Some(good.clone()),
            body.replace("text=jira", "text=confluence"),
            401,
            "invalid_signature",
        ),
        (
            "the signature of another timestamp",
            Some((ts.parse::<i64>().expect("ts") - 1).to_string()),
            Some(good.clone()),
            body.clone(),
            401,
            "invalid_signature",
        ),
        (
            "a stale timestamp",
            Some(stale.clone()),
            Some(slack_signature(SLACK_SIGNING_SECRET, &stale, &body)),
            body.clone(),
            401,
            "timestamp_out_of_tolerance",
        ),
        (
            "v1 instead of v0",
            Some(ts.clone()),
            Some(good.replace("v0=", "v1=")),
            body.clone(),
            401,
            "invalid_signature",
        ),
    ];
    for (what, ts, sig, body, status, code) in cases {
        let (got, answer) = send(&app, &body, ts.as_deref(), sig.as_deref()).await;
        assert_eq!(
            (got, answer["error"].as_str()),
            (status, Some(code)),
            "{what}: {answer}"
        );
        assert!(
            answer["detail"].as_str().is_some_and(|d| !d.is_empty()),
            "{what}"
        );
    }
    // Signed, but not this app's command, or answering somewhere that is not Slack.
    let other = body.replace("command=%2Faccess", "command=%2Fweather");
    let (got, answer) = signed(&app, &other).await;
    assert_eq!(
        (got, answer["error"].as_str()),
        (400, Some("invalid_event")),
        "{answer}"
    );
    let elsewhere = body.replace(
        &url::form_urlencoded::byte_serialize(slack.response_url().as_bytes()).collect::<String>(),
        "https%3A%2F%2Fattacker.example%2Fcollect",
    );
    assert_ne!(elsewhere, body);
    let (got, answer) = signed(&app, &elsewhere).await;
    assert_eq!(
        (got, answer["error"].as_str()),
        (400, Some("invalid_event")),
        "{answer}"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        slack.calls().is_empty(),
        "nothing reached the worker: {:?}",
        slack.calls()
    );
    assert!(app.audit("zed@example.com").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slack_is_asked_again_after_its_faults_and_a_deactivated_member_gets_nothing() {
    let slack = SlackSim::start().await;
    slack.person(ZED, "zed@example.com");
    slack.deleted("U0GONE", "ivy@example.com");
    let app = app_with(&slack).await;
    // users.info is rate limited, then fails once; the reply is refused once by a 5xx.
    slack.fault("users.info", 429, Some(1));
    slack.fault("users.info", 503, None);
    let (status, _) = signed(&app, &slack.command_body(ZED, "jira")).await;
    assert_eq!(status, 200);
    app.wait_for_outcome("zed@example.com", "restored").await;
    let asked = slack
        .calls()
        .iter()
        .filter(|c| c.starts_with("users.info"))
        .count();
    assert_eq!(asked, 3, "{:?}", slack.calls());
    slack.fault("reply", 500, None);
    let (status, _) = signed(&app, &slack.command_body("U0GONE", "confluence")).await;
    assert_eq!(status, 200);
    let replies = slack.wait_for_replies(2).await;
    let gone = replies[1]["text"].as_str().unwrap_or_default();
    assert!(gone.contains("is deactivated"), "{replies:?}");
    assert!(
        app.audit("ivy@example.com").await.is_empty(),
        "nobody acted for ivy"
    );
    assert!(app.sim.group_adds("acc-ivy").is_empty());
    let unknown = app.admin_get("/api/v1/audit?outcome=unknown_user").await;
    assert!(
        unknown["entries"][0]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("U0GONE")),
        "{unknown}"
    );
}

/// The app manifest the README tells admins to create the Slack app from asks for what the
/// receiver and the worker use: the configured default command at the receiver's path, and the
/// scopes `users.info` needs for the email.
#[test]
fn the_slack_app_manifest_matches_the_receiver_and_the_scopes_it_needs() {
    let path = format!(
        "{}/docs/slack-app-manifest.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("manifest")).expect("json");
    let command = &manifest["features"]["slash_commands"][0];
    let defaults = reinstate::sources::slack::SlackSourceConfig::default();
    assert_eq!(command["command"], defaults.command.as_str());
    assert!(
        command["url"]
            .as_str()
            .is_some_and(|u| u.starts_with("https://") && u.ends_with("/v1/hooks/slack/commands")),
        "{command}"
    );
    let scopes = manifest["oauth_config"]["scopes"]["bot"]
        .as_array()
        .expect("scopes");
    for needed in ["commands", "users:read", "users:read.email"] {
        assert!(scopes.iter().any(|s| s == needed), "{needed}: {scopes:?}");
    }
    assert_eq!(manifest["settings"]["socket_mode_enabled"], false);
}
