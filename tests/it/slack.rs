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
    // A click is held to the same scheme; an interaction that is not a request's button is
    // not reinstate's.
    let click = slack.click_body(ZED, "reinstate_approve", "req_0123456789ab");
    let interactions = format!("{}/v1/hooks/slack/interactions", app.url);
    let unsigned = app
        .http
        .post(&interactions)
        .body(click.clone())
        .send()
        .await
        .expect("send");
    assert_eq!(unsigned.status(), 401);
    let ts = now();
    let forged = app
        .http
        .post(&interactions)
        .header("x-slack-request-timestamp", &ts)
        .header(
            "x-slack-signature",
            slack_signature(SLACK_SIGNING_SECRET, &ts, &click),
        )
        .body(click.replace("U2147483697", "U0OTHER"))
        .send()
        .await
        .expect("send");
    assert_eq!(forged.status(), 401, "a click whose user was changed");
    let shortcut = url::form_urlencoded::Serializer::new(String::new())
        .append_pair(
            "payload",
            r#"{"type": "shortcut", "callback_id": "x", "trigger_id": "1"}"#,
        )
        .finish();
    let ts = now();
    let other = app
        .http
        .post(&interactions)
        .header("x-slack-request-timestamp", &ts)
        .header(
            "x-slack-signature",
            slack_signature(SLACK_SIGNING_SECRET, &ts, &shortcut),
        )
        .body(shortcut)
        .send()
        .await
        .expect("send");
    assert_eq!(other.status(), 200);
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
    // Both answers arrive, whichever the fault delayed.
    let replies = slack.wait_for_replies(2).await;
    assert!(
        replies.iter().any(|r| r["text"]
            .as_str()
            .is_some_and(|t| t.contains("is deactivated"))),
        "{replies:?}"
    );
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

    // The Overview shows the channel: configured, its last event and its last error.
    let cookie = console_sign_in(&app, ADMIN_TOKEN).await;
    let (status, overview) = console_page(&app, &cookie, "/console").await;
    assert_eq!(status, 200);
    let channels = &overview[overview.find("<h2>Channels</h2>").expect("channels")..];
    for shown in [
        "<td>Slack</td>",
        "yes, no approvers' channel",
        "restore: unknown_user",
        "slack_reply not posted yet: answered 500",
    ] {
        assert!(channels.contains(shown), "{shown}: {channels}");
    }
}

/// The app manifest the README tells admins to create the Slack app from asks for what the
/// receivers and the worker use: the configured default command at the receiver's path, the
/// buttons' clicks at the interactions receiver, the scopes `users.info` needs for the email
/// and the one `chat.postMessage` needs.
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
    for needed in ["commands", "users:read", "users:read.email", "chat:write"] {
        assert!(scopes.iter().any(|s| s == needed), "{needed}: {scopes:?}");
    }
    assert_eq!(manifest["settings"]["socket_mode_enabled"], false);
    // The shortcuts and the Home tab open the form; app_home_opened reaches the events receiver.
    for shortcut in manifest["features"]["shortcuts"]
        .as_array()
        .expect("shortcuts")
    {
        assert_eq!(
            shortcut["callback_id"],
            reinstate::sources::slack_forms::CALLBACK
        );
    }
    assert_eq!(manifest["features"]["app_home"]["home_tab_enabled"], true);
    let events = &manifest["settings"]["event_subscriptions"];
    assert!(
        events["request_url"]
            .as_str()
            .is_some_and(|u| u.ends_with("/v1/hooks/slack/events")),
        "{events}"
    );
    assert_eq!(events["bot_events"][0], "app_home_opened");
    let interactivity = &manifest["settings"]["interactivity"];
    assert_eq!(interactivity["is_enabled"], true);
    assert!(
        interactivity["request_url"]
            .as_str()
            .is_some_and(|u| u.ends_with("/v1/hooks/slack/interactions")),
        "{interactivity}"
    );
}

/// Sends a click on a request's button, signed now, to the interactions receiver.
async fn click(app: &TestApp, body: &str) -> (u16, Value) {
    click_at(app, body, &now()).await
}

/// Sends a click signed at `ts`.
async fn click_at(app: &TestApp, body: &str, ts: &str) -> (u16, Value) {
    let sig = slack_signature(SLACK_SIGNING_SECRET, ts, body);
    let r = app
        .http
        .post(format!("{}/v1/hooks/slack/interactions", app.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-slack-request-timestamp", ts)
        .header("x-slack-signature", sig)
        .body(body.to_string())
        .send()
        .await
        .expect("send");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// The request waiting for `email`, by the admin API.
async fn waiting(app: &TestApp, email: &str) -> Value {
    let pending = app.admin_get("/api/v1/requests").await;
    pending["requests"]
        .as_array()
        .expect("requests")
        .iter()
        .find(|r| r["email"] == email)
        .cloned()
        .unwrap_or(Value::Null)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_of_an_administrators_group_may_approve_in_slack_too() {
    let slack = SlackSim::start().await;
    slack.person(ZED, "zed@example.com");
    slack.person("U0ROOT", "root@example.com");
    slack.channel("C0APPROVERS");
    let app = TestApp::start_with(
        BusMode::Embedded,
        Options {
            slack_toml: format!("{}approvers_channel = \"C0APPROVERS\"\n", slack.toml()),
            ..Default::default()
        },
    )
    .await;
    app.sim
        .add_member_of("acc-root", "root@example.com", &["site-admins"]);
    app.sync_inventory().await;
    let (status, _) = signed(&app, &slack.command_body(ZED, "jira")).await;
    assert_eq!(status, 200);
    let messages = slack.wait_for_messages(1).await;
    let approve = &messages[0]["blocks"][2]["elements"][0];
    let body = slack.click_body(
        "U0ROOT",
        approve["action_id"].as_str().expect("action"),
        approve["value"].as_str().expect("id"),
    );
    let (status, _) = click(&app, &body).await;
    assert_eq!(status, 200);
    let replies = slack.wait_for_replies(2).await;
    app.wait_for_outcome("zed@example.com", "restored").await;
    assert_eq!(
        replies[1]["text"],
        "Approved by root@example.com: zed@example.com has Jira Software again."
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approver_approves_or_denies_in_slack_and_nobody_else_can() {
    let slack = SlackSim::start().await;
    slack.person(ZED, "zed@example.com");
    slack.person("U0ADA", "ada@example.com");
    slack.person("U0IVY", "ivy@example.com");
    slack.channel("C0APPROVERS");
    let app = TestApp::start_with(
        BusMode::Embedded,
        Options {
            slack_toml: format!("{}approvers_channel = \"C0APPROVERS\"\n", slack.toml()),
            extra_toml: "[requests]\napprovers = [\"ada@example.com\"]\n".into(),
            ..Default::default()
        },
    )
    .await;
    // No rule says restore: zed's request waits, and the approvers' channel is asked.
    let (status, _) = signed(&app, &slack.command_body(ZED, "jira new project")).await;
    assert_eq!(status, 200);
    app.wait_for_outcome("zed@example.com", "approval_required")
        .await;
    let replies = slack.wait_for_replies(1).await;
    assert!(
        replies[0]["text"]
            .as_str()
            .is_some_and(|t| t.contains("waiting for an approver")),
        "{replies:?}"
    );
    let messages = slack.wait_for_messages(1).await;
    let message = &messages[0];
    assert_eq!(message["channel"], "C0APPROVERS");
    let request = waiting(&app, "zed@example.com").await;
    let id = request["id"].as_str().expect("id").to_string();
    let buttons = &message["blocks"][2]["elements"];
    assert_eq!(buttons[0]["value"], id.as_str(), "{message}");
    assert_eq!(buttons[0]["style"], "primary");
    assert_eq!(buttons[1]["style"], "danger");
    assert!(
        message["text"]
            .as_str()
            .is_some_and(|t| t.contains("zed@example.com asks for Jira Software")),
        "{message}"
    );
    let approve = buttons[0]["action_id"]
        .as_str()
        .expect("action")
        .to_string();
    let deny = buttons[1]["action_id"]
        .as_str()
        .expect("action")
        .to_string();

    // Ivy is no approver: nothing changes, and only she is told why.
    let (status, _) = click(&app, &slack.click_body("U0IVY", &approve, &id)).await;
    assert_eq!(status, 200);
    let replies = slack.wait_for_replies(2).await;
    assert_eq!(replies[1]["replace_original"], false);
    assert_eq!(replies[1]["response_type"], "ephemeral");
    assert!(
        replies[1]["text"]
            .as_str()
            .is_some_and(|t| t.contains("ivy@example.com is not an approver")),
        "{replies:?}"
    );
    assert_eq!(
        waiting(&app, "zed@example.com").await["state"],
        "pending_approval"
    );
    assert!(app.sim.group_adds("acc-zed").is_empty());

    // Ada approves: zed's licence is back, and the message says who decided.
    let first = slack.click_body("U0ADA", &approve, &id);
    let first_ts = now();
    let (status, _) = click_at(&app, &first, &first_ts).await;
    assert_eq!(status, 200);
    app.wait_for_outcome("zed@example.com", "restored").await;
    let replies = slack.wait_for_replies(3).await;
    assert_eq!(replies[2]["replace_original"], true, "{replies:?}");
    assert_eq!(
        replies[2]["text"],
        "Approved by ada@example.com: zed@example.com has Jira Software again."
    );
    assert_eq!(app.sim.group_adds("acc-zed").len(), 1);
    let approved = app.wait_for_outcome("zed@example.com", "approved").await;
    assert_eq!(approved["source"], "slack");
    assert_eq!(approved["actor"], "slack:ada@example.com");
    mail_eventually(&app, "zed@example.com", &["licence is back"]).await;

    // A second click changes nothing and says why; the very same click again is refused.
    let (status, _) = click(&app, &slack.click_body("U0ADA", &deny, &id)).await;
    assert_eq!(status, 200);
    let replies = slack.wait_for_replies(4).await;
    assert!(
        replies[3]["text"]
            .as_str()
            .is_some_and(|t| t.contains("is already restored")),
        "{replies:?}"
    );
    assert_eq!(replies[3]["replace_original"], false);
    let (status, replayed) = click_at(&app, &first, &first_ts).await;
    assert_eq!(
        (status, replayed["error"].as_str()),
        (409, Some("replayed"))
    );
    assert_eq!(app.sim.group_adds("acc-zed").len(), 1, "restored once");

    // Ada denies grace's request: the message says so, grace is told by email.
    slack.person("U0GRACE", "grace@example.com");
    let (status, _) = signed(&app, &slack.command_body("U0GRACE", "jira")).await;
    assert_eq!(status, 200);
    let messages = slack.wait_for_messages(2).await;
    let second = messages[1]["blocks"][2]["elements"][1]["value"]
        .as_str()
        .expect("id")
        .to_string();
    assert_ne!(second, id);
    let (status, _) = click(&app, &slack.click_body("U0ADA", &deny, &second)).await;
    assert_eq!(status, 200);
    app.wait_for_outcome("grace@example.com", "denied").await;
    let replies = slack.wait_for_replies(6).await;
    let last = replies.last().expect("reply");
    assert_eq!(
        last["text"],
        "Denied by ada@example.com: grace@example.com is told by email."
    );
    assert_eq!(last["replace_original"], true);
    assert_eq!(waiting(&app, "grace@example.com").await, Value::Null);
    assert!(app.sim.group_adds("acc-grace").is_empty());
    mail_eventually(
        &app,
        "grace@example.com",
        &["was not granted", "denied in Slack by ada@example.com"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_warning_also_comes_as_a_slack_message_whose_button_is_the_keep_link() {
    let slack = SlackSim::start().await;
    slack.person("U0IDLE", "idle@example.com");
    let app = TestApp::start_with(
        BusMode::Embedded,
        Options {
            directory_toml: "org_id = \"org-1\"\norg_api_key = \"sim-api-token\"\nadmin_api_url = \"{SIM_URL}\"\n".into(),
            slack_toml: slack.toml(),
            extra_toml: "[reclaim]\nnotify = [\"email\", \"slack\"]\n".into(),
            ..Default::default()
        },
    )
    .await;
    for name in ["idle", "gone"] {
        crate::reclaim::person(&app, name, &["jira-software-users"], 120);
    }
    app.sync_inventory().await;
    let policy = serde_json::json!({"policies": [{"name": "jira 90", "products": ["jira-software"],
        "inactive_after_days": 90, "action": "remove-product-access", "warn_days_before": 7}]});
    assert_eq!(
        crate::reclaim::put_policies(&app, policy).await.status(),
        200
    );
    let run = crate::reclaim::run(&app, false).await;
    assert!(
        run["entries"]
            .as_array()
            .expect("entries")
            .iter()
            .any(|e| e["detail"]
                .as_str()
                .is_some_and(|d| d.starts_with("warned by email and in Slack"))),
        "{run:#}"
    );
    // Idle is in Slack: a direct message whose button is the keep link, as the email's.
    let messages = slack.wait_for_messages(1).await;
    assert_eq!(messages.len(), 1, "gone has no Slack member: {messages:?}");
    let dm = &messages[0];
    assert_eq!(dm["channel"], "U0IDLE");
    assert!(
        dm["text"]
            .as_str()
            .is_some_and(|t| t.contains("Jira Software licence")),
        "{dm}"
    );
    let button = &dm["blocks"][1]["elements"][0];
    let link = button["url"].as_str().expect("the keep link").to_string();
    mail_eventually(&app, "idle@example.com", &[link.as_str()]).await;
    // The link works once, for idle only.
    let kept = reqwest::Client::new()
        .post(&link)
        .send()
        .await
        .expect("keep");
    assert_eq!(kept.status(), 200);
    app.wait_for_outcome("idle@example.com", "keep_recorded")
        .await;
    let again = reqwest::Client::new()
        .post(&link)
        .send()
        .await
        .expect("again");
    assert!(
        again
            .text()
            .await
            .unwrap_or_default()
            .contains("already used")
    );
    // Gone is not in Slack: warned by email, and the Overview says why no message went.
    mail_eventually(&app, "gone@example.com", &["will be taken back"]).await;
    let cookie = console_sign_in(&app, ADMIN_TOKEN).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (_, overview) = console_page(&app, &cookie, "/console").await;
        if overview.contains("Slack has no member with the email gone@example.com") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{overview}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
