//! reinstate's form in Slack (issue 21): a shortcut or the App Home's button opens a modal
//! with the trigger Slack handed out (within its three seconds, through the bus and the
//! outbox); the modal's submission is a request as the slash command's is, answered by a
//! direct message; the App Home opened shows its page with that button; the Events API's
//! `url_verification` is answered with its challenge — every one signed, or refused.

use serde_json::Value;

use crate::support::slack_sim::{SLACK_SIGNING_SECRET, SlackSim, slack_signature};
use crate::support::*;

const ZED: &str = "U2147483697";

async fn post(app: &TestApp, path: &str, body: &str, signed: bool) -> (u16, Value) {
    let ts = time::OffsetDateTime::now_utc().unix_timestamp().to_string();
    let mut r = app
        .http
        .post(format!("{}{path}", app.url))
        .header("x-slack-request-timestamp", &ts)
        .body(body.to_string());
    if signed {
        r = r.header(
            "x-slack-signature",
            slack_signature(SLACK_SIGNING_SECRET, &ts, body),
        );
    }
    let r = r.send().await.expect("post");
    let status = r.status().as_u16();
    let text = r.text().await.unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shortcut_opens_the_form_whose_submission_restores_and_answers_by_message() {
    let slack = SlackSim::start().await;
    slack.person(ZED, "zed@example.com");
    let app = TestApp::start_with(
        BusMode::Embedded,
        Options {
            slack_toml: slack.toml(),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(app.put_rules(standard_rules()).await.status(), 200);
    let interactions = "/v1/hooks/slack/interactions";

    // Unsigned: refused, nothing opened.
    let trigger = slack.trigger();
    let shortcut = slack.shortcut_body(ZED, &trigger);
    assert_eq!(post(&app, interactions, &shortcut, false).await.0, 401);

    // The shortcut, signed: the modal opens with its trigger, within Slack's three seconds.
    let (status, _) = post(&app, interactions, &shortcut, true).await;
    assert_eq!(status, 200);
    let views = slack.wait_for_views(1).await;
    let (method, opened) = &views[0];
    assert_eq!(method, "views.open", "{opened}");
    assert_eq!(opened["trigger_id"], trigger.as_str());
    let view = &opened["view"];
    assert_eq!(view["type"], "modal");
    assert_eq!(view["callback_id"], "reinstate_ask");
    let options = &view["blocks"][1]["element"]["options"];
    assert_eq!(options[0]["value"], "jira-software", "{view}");
    assert_eq!(options[0]["text"]["text"], "Jira Software");
    assert_eq!(view["blocks"][2]["optional"], true);

    // Zed submits Jira Software: restored for who Slack says zed is, told by direct message.
    let submitted = slack.submission_body(ZED, "jira-software", "back on the project");
    let (status, answer) = post(&app, interactions, &submitted, true).await;
    assert_eq!(status, 200);
    assert_eq!(
        answer,
        Value::String(String::new()),
        "an empty 200 closes the modal"
    );
    let entry = app.wait_for_outcome("zed@example.com", "restored").await;
    assert_eq!(entry["source"], "slack");
    assert_eq!(app.sim.group_adds("acc-zed").len(), 1);
    let messages = slack.wait_for_messages(1).await;
    assert_eq!(messages[0]["channel"], ZED, "{messages:?}");
    assert!(
        messages[0]["text"]
            .as_str()
            .is_some_and(|t| t.starts_with("Restored Jira Software.")),
        "{messages:?}"
    );
    // The same submission again (Slack retrying it): acted on once.
    let (status, refused) = post(&app, interactions, &submitted, true).await;
    assert_eq!((status, refused["error"].as_str()), (409, Some("replayed")));

    // The Events API: its challenge answered (signed only), the App Home page published.
    let events = "/v1/hooks/slack/events";
    let verification = std::fs::read_to_string(format!(
        "{}/tests/fixtures/slack/url-verification.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("fixture");
    assert_eq!(post(&app, events, &verification, false).await.0, 401);
    let (status, answer) = post(&app, events, &verification, true).await;
    assert_eq!(status, 200);
    assert_eq!(
        answer["challenge"],
        "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
    );
    let opened = slack.home_opened_body(ZED, "Ev0HOME1");
    assert_eq!(post(&app, events, &opened, true).await.0, 200);
    let views = slack.wait_for_views(2).await;
    let (method, home) = &views[1];
    assert_eq!(method, "views.publish");
    assert_eq!(home["user_id"], ZED);
    assert_eq!(home["view"]["type"], "home");
    let button = &home["view"]["blocks"][1]["elements"][0];
    assert_eq!(button["action_id"], "reinstate_open_form");

    // Its button opens the modal too.
    let trigger = slack.trigger();
    let click = slack.click_body(ZED, "reinstate_open_form", "");
    let mut payload: Value = serde_json::from_str(
        &url::form_urlencoded::parse(click.as_bytes())
            .find(|(k, _)| k == "payload")
            .expect("payload")
            .1,
    )
    .expect("json");
    payload["trigger_id"] = trigger.clone().into();
    let click = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("payload", &payload.to_string())
        .finish();
    assert_eq!(post(&app, interactions, &click, true).await.0, 200);
    let views = slack.wait_for_views(3).await;
    assert_eq!(views[2].0, "views.open");
    assert_eq!(views[2].1["trigger_id"], trigger.as_str());
    assert!(
        !slack
            .calls()
            .iter()
            .any(|c| c.contains("users.info") && !c.ends_with(ZED)),
        "{:?}",
        slack.calls()
    );
}
