//! Microsoft Teams (issue 21): the bot's messaging endpoint takes only activities whose Bot
//! Connector token verifies as Microsoft documents (its key from the OpenID metadata, issuer,
//! audience, lifetime, the key's endorsement, the `serviceUrl` claim); who asked is the
//! conversation member's email; the answer is a reply in the conversation; a request left to
//! an admin is a card with Approve and Deny in the approvers' channel, a click counting only
//! from an approver, the card then updated with who decided.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::teams_sim::{TEAMS_APP_ID, TeamsSim};
use crate::support::*;

const GRACE: &str = "29:1grace-aad-0001";
const ZED: &str = "29:1zed-aad-0002";
const ADA: &str = "29:1ada-aad-0003";

async fn send(app: &TestApp, token: Option<&str>, activity: &Value) -> (u16, Value) {
    let mut r = app
        .http
        .post(format!("{}/v1/hooks/teams/messages", app.url))
        .json(activity);
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    let r = r.send().await.expect("post");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn start(teams: &TeamsSim) -> TestApp {
    let app = TestApp::start_with(
        BusMode::Embedded,
        Options {
            teams_toml: teams.toml(),
            extra_toml: "[requests]\napprovers = [\"ada@example.com\"]\n".into(),
            ..Default::default()
        },
    )
    .await;
    let rules = json!({"rules": [{"name": "Grace asking in Teams is restored", "when": {"sources": ["teams"], "users": ["grace@example.com"]}, "then": "restore"}]});
    assert_eq!(app.put_rules(rules).await.status(), 200);
    app
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_that_is_not_the_bot_connectors_for_this_activity_changes_nothing() {
    let teams = TeamsSim::start().await;
    teams.member(GRACE, "grace@example.com");
    let app = start(&teams).await;
    let activity = teams.message(GRACE, "1700000000001", "access jira");
    let refused = |code: &'static str| (401u16, Some(code));
    let code = |(status, body): (u16, Value)| (status, body["error"].as_str().map(String::from));
    let check = |got: (u16, Option<String>), want: (u16, Option<&str>), what: &str| {
        assert_eq!((got.0, got.1.as_deref()), want, "{what}");
    };

    check(
        code(send(&app, None, &activity).await),
        refused("missing_token"),
        "no token",
    );
    // `alg: none`, and a token signed with a secret instead of the Connector's key.
    let none = format!(
        "{}.{}.",
        base64_url(&json!({"alg": "none", "typ": "JWT", "kid": "test-k1"})),
        base64_url(&json!({"iss": "https://api.botframework.com", "aud": TEAMS_APP_ID}))
    );
    check(
        code(send(&app, Some(&none), &activity).await),
        refused("invalid_token"),
        "alg none",
    );
    let hs256 = jsonwebtoken::encode(
        &jsonwebtoken::Header {
            kid: Some("test-k1".into()),
            ..jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256)
        },
        &json!({"iss": "https://api.botframework.com", "aud": TEAMS_APP_ID, "exp": 4_000_000_000u64}),
        &jsonwebtoken::EncodingKey::from_secret(b"guessable"),
    )
    .expect("sign");
    check(
        code(send(&app, Some(&hs256), &activity).await),
        refused("invalid_token"),
        "HS256",
    );
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    for (claims, want, what) in [
        (
            json!({"aud": "another-bot"}),
            "invalid_audience",
            "another audience",
        ),
        (
            json!({"iss": "https://sts.windows.net/evil/"}),
            "invalid_issuer",
            "another issuer",
        ),
        (
            json!({"exp": now - 600, "nbf": now - 4000}),
            "token_expired",
            "expired",
        ),
        (
            json!({"serviceUrl": "https://smba.trafficmanager.net/amer/"}),
            "service_url_mismatch",
            "serviceUrl claim",
        ),
    ] {
        let token = teams.token("test-k1", &activity, &claims);
        check(
            code(send(&app, Some(&token), &activity).await),
            refused(want),
            what,
        );
    }
    // A key Microsoft does not publish, and one it does named over another's signature.
    let rogue = teams.token("test-rogue", &activity, &json!({}));
    check(
        code(send(&app, Some(&rogue), &activity).await),
        refused("unknown_key"),
        "unknown key",
    );
    let forged = teams.token_signed_by("test-k1", "test-rogue", &activity, &json!({}));
    check(
        code(send(&app, Some(&forged), &activity).await),
        refused("invalid_signature"),
        "forged",
    );
    // A key that does not endorse the activity's channel.
    let mut webchat = activity.clone();
    webchat["channelId"] = "webchat".into();
    let token = teams.token("test-k1", &webchat, &json!({}));
    check(
        code(send(&app, Some(&token), &webchat).await),
        refused("not_endorsed"),
        "endorsement",
    );

    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(app.audit("grace@example.com").await.is_empty());
    assert!(teams.sent().is_empty(), "{:?}", teams.calls());
    assert!(
        !teams.calls().iter().any(|c| c.starts_with("member")),
        "nobody was looked up: {:?}",
        teams.calls()
    );
}

fn base64_url(v: &Value) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_to_the_bot_restores_and_an_approver_decides_a_card_in_teams() {
    let teams = TeamsSim::start().await;
    teams.member(GRACE, "grace@example.com");
    teams.member(ZED, "zed@example.com");
    teams.member(ADA, "ada@example.com");
    let app = start(&teams).await;

    // Grace writes "access jira …": restored; the answer is a reply to her message, after
    // the Connector's 429 and a member lookup's 503.
    teams.fault("member", 503, None);
    teams.fault("reply", 429, Some(1));
    let asked = teams.message(GRACE, "1700000000101", "access jira back from leave");
    let token = teams.token("test-k1", &asked, &json!({}));
    let (status, body) = send(&app, Some(&token), &asked).await;
    assert_eq!(status, 200, "{body}");
    let entry = app.wait_for_outcome("grace@example.com", "restored").await;
    assert_eq!(entry["source"], "teams", "{entry}");
    assert_eq!(app.sim.group_adds("acc-grace").len(), 1);
    let sent = teams.wait_for_sent(1).await;
    let (verb, path, reply) = &sent[0];
    assert_eq!(verb, "POST");
    assert_eq!(path, &format!("a:personal-{GRACE}/1700000000101"));
    assert!(
        reply["text"]
            .as_str()
            .is_some_and(|t| t.starts_with("Restored Jira Software.")),
        "{reply}"
    );
    // The same activity again (the Connector re-sending it): acted on once.
    let (status, _) = send(&app, Some(&token), &asked).await;
    assert_eq!(status, 200);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(app.sim.group_adds("acc-grace").len(), 1);
    assert_eq!(teams.sent().len(), 1);

    // Microsoft rotates its keys: a token of the new key is taken once the keys are fetched
    // again (at most once a second).
    teams.rotate_in("test-k2");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let waits = teams.message(ZED, "1700000000102", "access jira new project");
    let token = teams.token("test-k2", &waits, &json!({}));
    let (status, body) = send(&app, Some(&token), &waits).await;
    assert_eq!(status, 200, "{body}");
    app.wait_for_outcome("zed@example.com", "approval_required")
        .await;
    let sent = teams.wait_for_sent(3).await;
    let card_post = sent
        .iter()
        .find(|(_, path, _)| path == teams_sim::APPROVERS)
        .expect("a card to the approvers' channel");
    let card = &card_post.2["attachments"][0];
    assert_eq!(
        card["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    let content = &card["content"];
    assert!(
        content["body"][0]["text"]
            .as_str()
            .is_some_and(|t| t.contains("zed@example.com asks for Jira Software")),
        "{content}"
    );
    let approve = content["actions"][0]["data"].clone();
    assert_eq!(content["actions"][0]["title"], "Approve");
    assert_eq!(content["actions"][1]["title"], "Deny");
    assert!(
        sent.iter()
            .any(|(_, path, body)| path.ends_with("/1700000000102")
                && body["text"]
                    .as_str()
                    .is_some_and(|t| t.contains("waiting for an approver"))),
        "{sent:?}"
    );
    let card_id = "1:card-1";

    // Zed approving his own request is no approver's click: nothing changes, and he is told why
    // under the card.
    let click = teams.click(ZED, "1700000000103", card_id, &approve);
    let token = teams.token("test-k1", &click, &json!({}));
    assert_eq!(send(&app, Some(&token), &click).await.0, 200);
    let sent = teams.wait_for_sent(4).await;
    let (verb, _, answer) = &sent[3];
    assert_eq!(verb, "POST");
    assert!(
        answer["text"]
            .as_str()
            .is_some_and(|t| t.contains("zed@example.com is not an approver")),
        "{answer}"
    );
    assert!(app.sim.group_adds("acc-zed").is_empty());

    // Ada approves: zed has Confluence, and the card says who decided.
    let click = teams.click(ADA, "1700000000104", card_id, &approve);
    let token = teams.token("test-k1", &click, &json!({}));
    assert_eq!(send(&app, Some(&token), &click).await.0, 200);
    app.wait_for_outcome("zed@example.com", "restored").await;
    let approved = app.wait_for_outcome("zed@example.com", "approved").await;
    assert_eq!(approved["actor"], "teams:ada@example.com");
    let sent = teams.wait_for_sent(5).await;
    let (verb, path, update) = &sent[4];
    assert_eq!(verb, "PUT");
    assert!(path.ends_with(&format!("/{card_id}")), "{path}");
    assert_eq!(
        update["attachments"][0]["content"]["body"][0]["text"],
        "Approved by ada@example.com: zed@example.com has Jira Software again."
    );
    assert!(
        update["attachments"][0]["content"]["actions"]
            .as_array()
            .is_some_and(Vec::is_empty),
        "the decided card has no buttons: {update}"
    );
    assert!(!app.sim.group_adds("acc-zed").is_empty());
    let (keys_fetched, tokens) = teams.counts();
    assert_eq!(keys_fetched, 2, "once at first, once for the rotated key");
    assert_eq!(tokens, 1, "the bot's token is kept while it is valid");

    // A message naming no product is answered with how to ask.
    let vague = teams.message(GRACE, "1700000000105", "hello there");
    let token = teams.token("test-k1", &vague, &json!({}));
    assert_eq!(send(&app, Some(&token), &vague).await.0, 200);
    let sent = teams.wait_for_sent(6).await;
    assert!(
        sent[5].2["text"]
            .as_str()
            .is_some_and(|t| t.contains("access jira")),
        "{:?}",
        sent[5]
    );
    // … with the card to ask on: its product choice and why come back as the click's value.
    let card = &sent[5].2["attachments"][0]["content"];
    assert_eq!(card["body"][1]["type"], "Input.ChoiceSet", "{card}");
    assert_eq!(card["body"][1]["choices"][0]["value"], "jira-software");
    let mut data = card["actions"][0]["data"].clone();
    data["product"] = "jira-software".into();
    data["reason"] = "from the card".into();
    let mut chosen = teams.message(GRACE, "1700000000106", "");
    chosen.as_object_mut().expect("object").remove("text");
    chosen["replyToId"] = "1:1700000000105-reply".into();
    chosen["value"] = data;
    let token = teams.token("test-k1", &chosen, &json!({}));
    assert_eq!(send(&app, Some(&token), &chosen).await.0, 200);
    let sent = teams.wait_for_sent(7).await;
    assert!(
        sent[6].2["text"]
            .as_str()
            .is_some_and(|t| t.starts_with("You already have Jira Software")),
        "{:?}",
        sent[6]
    );

    // The Overview shows the channel.
    let cookie = console_sign_in(&app, ADMIN_TOKEN).await;
    let (_, overview) = console_page(&app, &cookie, "/console").await;
    let channels = &overview[overview.find("<h2>Channels</h2>").expect("channels")..];
    for shown in [
        "<td>Microsoft Teams</td>",
        "approvals in",
        "restore: already_licensed",
    ] {
        assert!(channels.contains(shown), "{shown}: {channels}");
    }
}

/// The Teams app manifest the README tells admins to upload names the bot and its one command,
/// the word the receiver reads first, in the scopes where people ask and approvers decide.
#[test]
fn the_teams_app_manifest_offers_the_command_the_receiver_reads() {
    let path = format!(
        "{}/docs/teams-app-manifest.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("manifest")).expect("json");
    let bot = &manifest["bots"][0];
    assert_eq!(
        bot["botId"], manifest["id"],
        "the bot is the app (its app id, in both)"
    );
    for scope in ["personal", "team"] {
        assert!(
            bot["scopes"]
                .as_array()
                .is_some_and(|s| s.iter().any(|x| x == scope)),
            "{scope}"
        );
    }
    assert_eq!(bot["commandLists"][0]["commands"][0]["title"], "access");
    assert_eq!(manifest["manifestVersion"], "1.17");
}
