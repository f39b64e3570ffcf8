//! Asking by email (issue 21): a request mailed to reinstate's address, as Postmark's inbound
//! webhook posts it, authenticated by the Basic credentials of the webhook's URL, and answered
//! as the portal answers an ask — a confirmation link to the directory's address of the sender,
//! the same answer whether or not the address is anyone's, a few a sender an hour.
//! Mailgun's routes post the same mail as a signed form (urlencoded, or multipart with its
//! attachments); the signature covers only timestamp and token, so a token is acted on once.

use std::time::Duration;

use base64::Engine;
use serde_json::Value;

use crate::support::*;

const CREDENTIALS: &str = MAIL_CREDENTIALS;

/// Postmark's documented inbound example (`tests/fixtures/postmark/inbound.json`) as mailed
/// by `from`, with this subject and message id.
fn mail(from: &str, subject: &str, id: &str) -> Value {
    let path = format!(
        "{}/tests/fixtures/postmark/inbound.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut body: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("json");
    body["From"] = from.into();
    body["FromFull"]["Email"] = from.into();
    body["Subject"] = subject.into();
    body["TextBody"] = "Thanks".into();
    body["MessageID"] = id.into();
    body
}

async fn post(app: &TestApp, credentials: Option<&str>, body: &Value) -> (u16, Value) {
    let mut request = app
        .http
        .post(format!("{}/v1/hooks/mail/postmark", app.url))
        .json(body);
    if let Some(c) = credentials {
        let basic = base64::engine::general_purpose::STANDARD.encode(c);
        request = request.header("authorization", format!("Basic {basic}"));
    }
    let r = request.send().await.expect("post");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mailed_request_is_answered_as_the_portal_answers_whoever_sent_it() {
    let app = TestApp::start_with(
        BusMode::Embedded,
        Options {
            mail_toml: "per_sender_per_hour = 3\n".into(),
            ..Default::default()
        },
    )
    .await;
    // Without the URL's credentials, or with others: refused, nothing asked.
    let first = mail("zed@example.com", "Access to Jira please", "m-1");
    assert_eq!(post(&app, None, &first).await.0, 401);
    let (status, refused) = post(&app, Some("postmark:another-password-000"), &first).await;
    assert_eq!(
        (status, refused["error"].as_str()),
        (401, Some("invalid_credentials"))
    );

    // Zed asks by mail: a confirmation link goes to zed's directory address.
    let (status, answer) = post(&app, Some(CREDENTIALS), &first).await;
    assert_eq!((status, answer["status"].as_str()), (200, Some("received")));
    let mails = app.smtp.wait_for(1).await;
    let confirm = mails
        .iter()
        .find(|m| m.to == ["zed@example.com"])
        .expect("to zed");
    assert!(
        confirm
            .text()
            .contains("Jira Software by mailing reinstate")
            && confirm.text().contains("/v1/links/v1."),
        "{}",
        confirm.text()
    );
    let ask = app.wait_for_outcome("zed@example.com", "link_sent").await;
    assert_eq!(ask["source"], "mail");
    // Postmark sending the same message again asks once.
    assert_eq!(post(&app, Some(CREDENTIALS), &first).await.0, 200);

    // An address nobody has gets the same answer and no email; a mail naming no product is
    // received and ignored.
    let stranger = mail("nobody@elsewhere.example", "jira", "m-2");
    assert_eq!(
        post(&app, Some(CREDENTIALS), &stranger).await,
        (200, answer.clone())
    );
    let vague = mail("zed@example.com", "hello", "m-3");
    assert_eq!(
        post(&app, Some(CREDENTIALS), &vague).await,
        (200, answer.clone())
    );
    // A sender over the limit: the same answer, no more emails to that inbox.
    for id in ["m-4", "m-5"] {
        let again = mail("zed@example.com", "confluence", id);
        assert_eq!(
            post(&app, Some(CREDENTIALS), &again).await,
            (200, answer.clone())
        );
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let to_zed = app
        .smtp
        .mails()
        .iter()
        .filter(|m| m.to == ["zed@example.com"])
        .count();
    assert_eq!(
        to_zed, 2,
        "within the hour's three: the first ask, its copy (acted on once), one more"
    );
    assert!(
        !app.smtp
            .mails()
            .iter()
            .any(|m| m.to == ["nobody@elsewhere.example"])
    );
}

/// Mailgun's route forward (`tests/fixtures/mailgun/route-forward.txt`) as mailed by `from`,
/// with this subject, a fresh token and timestamp, signed with `key`.
fn mailgun_form(
    from: &str,
    subject: &str,
    token: &str,
    key: &str,
    age_secs: i64,
) -> Vec<(String, String)> {
    let path = format!(
        "{}/tests/fixtures/mailgun/route-forward.txt",
        env!("CARGO_MANIFEST_DIR")
    );
    let raw = std::fs::read(path).expect("fixture");
    let timestamp = time::OffsetDateTime::now_utc().unix_timestamp() - age_secs;
    let signature = reinstate::sources::mailgun::sign(key, timestamp, token);
    url::form_urlencoded::parse(&raw)
        .map(|(k, v)| {
            let v = match &*k {
                "from" => format!("Someone <{from}>"),
                "sender" => from.to_string(),
                "subject" => subject.to_string(),
                "timestamp" => timestamp.to_string(),
                "token" => token.to_string(),
                "signature" => signature.clone(),
                _ => v.into_owned(),
            };
            (k.into_owned(), v)
        })
        .collect()
}

async fn post_mailgun(app: &TestApp, content_type: &str, body: Vec<u8>) -> (u16, Value) {
    let r = app
        .http
        .post(format!("{}/v1/hooks/mail/mailgun", app.url))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .expect("post");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn urlencoded(app: &TestApp, form: &[(String, String)]) -> (u16, Value) {
    let body = serde_urlencoded::to_string(form).expect("form");
    post_mailgun(app, "application/x-www-form-urlencoded", body.into_bytes()).await
}

/// The same form as `multipart/form-data` with an attachment, as Mailgun sends a mail that has one.
async fn multipart(app: &TestApp, form: &[(String, String)]) -> (u16, Value) {
    let boundary = "mailgun-boundary-7d3a";
    let mut body = Vec::new();
    for (k, v) in form {
        body.extend(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n")
                .bytes(),
        );
    }
    body.extend(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"attachment-count\"\r\n\r\n1\r\n"
        )
        .bytes(),
    );
    body.extend(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"attachment-1\"; filename=\"badge.png\"\r\nContent-Type: image/png\r\n\r\n").bytes());
    body.extend([0x89, b'P', b'N', b'G', 0, 0xff, 0xfe, 0]);
    body.extend(format!("\r\n--{boundary}--\r\n").bytes());
    post_mailgun(
        app,
        &format!("multipart/form-data; boundary={boundary}"),
        body,
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_mailed_through_mailgun_restores_once_confirmed_and_its_token_only_once() {
    let app = TestApp::start(BusMode::Embedded).await;
    let rules = serde_json::json!({"rules": [{"name": "mailed asks restore", "when": {"sources": ["mail"]}, "then": "restore"}]});
    assert_eq!(app.put_rules(rules).await.status(), 200);
    let token = |n: u8| format!("{n:02}b5477167110d68991efc6b9f89f0a11066af27834600e123");

    // Not signed by Mailgun's key, no signature, or signed 9 hours ago: refused, nothing asked.
    let forged = mailgun_form(
        "grace@example.com",
        "jira",
        &token(1),
        "key-someone-elses-0000",
        0,
    );
    let (status, refused) = urlencoded(&app, &forged).await;
    assert_eq!(
        (status, refused["error"].as_str()),
        (401, Some("invalid_signature"))
    );
    let mut unsigned = mailgun_form("grace@example.com", "jira", &token(1), MAILGUN_KEY, 0);
    unsigned.retain(|(k, _)| k != "signature");
    assert_eq!(urlencoded(&app, &unsigned).await.0, 401);
    let stale = mailgun_form(
        "grace@example.com",
        "jira",
        &token(1),
        MAILGUN_KEY,
        9 * 3600,
    );
    let (status, refused) = urlencoded(&app, &stale).await;
    assert_eq!(
        (status, refused["error"].as_str()),
        (401, Some("timestamp_out_of_tolerance"))
    );
    let (status, refused) = post_mailgun(&app, "application/json", b"{}".to_vec()).await;
    assert_eq!(
        (status, refused["error"].as_str()),
        (400, Some("invalid_event"))
    );

    // Grace mails "Access to Jira please": a confirmation link to her directory address.
    let first = mailgun_form(
        "grace@example.com",
        "Access to Jira please",
        &token(1),
        MAILGUN_KEY,
        30,
    );
    let (status, answer) = urlencoded(&app, &first).await;
    assert_eq!(
        (status, answer["status"].as_str()),
        (200, Some("received")),
        "{answer}"
    );
    let confirm = app.smtp.wait_for(1).await.remove(0);
    assert_eq!(confirm.to, ["grace@example.com"]);
    let text = confirm.text();
    assert!(
        text.contains("Jira Software by mailing reinstate"),
        "{text}"
    );
    let link = text
        .split_whitespace()
        .find(|w| w.contains("/v1/links/v1."))
        .expect("a link")
        .to_string();
    assert!(
        app.sim.group_adds("acc-grace").is_empty(),
        "asked, not restored"
    );

    // The same signed token carrying another message (the signature does not cover it): refused
    // with 406, which Mailgun does not retry, and nothing is asked for zed.
    let rider = mailgun_form("zed@example.com", "jira", &token(1), MAILGUN_KEY, 30);
    let (status, refused) = urlencoded(&app, &rider).await;
    assert_eq!((status, refused["error"].as_str()), (406, Some("replayed")));

    // The link confirmed: restored, from the mail source, by the rule.
    app.http.post(&link).send().await.expect("confirm");
    let entry = app.wait_for_outcome("grace@example.com", "restored").await;
    assert_eq!(
        (entry["source"].as_str(), entry["rule"].as_str()),
        (Some("mail"), Some("mailed asks restore"))
    );
    assert!(!app.sim.group_adds("acc-grace").is_empty());

    // A mail with an attachment comes as multipart: the attachment is skipped, the ask made.
    let with_badge = mailgun_form("zed@example.com", "Confluence", &token(2), MAILGUN_KEY, 0);
    let (status, answer) = multipart(&app, &with_badge).await;
    assert_eq!(
        (status, answer["status"].as_str()),
        (200, Some("received")),
        "{answer}"
    );
    let ask = app.wait_for_outcome("zed@example.com", "link_sent").await;
    assert_eq!(
        (ask["source"].as_str(), ask["product"].as_str()),
        (Some("mail"), Some("confluence"))
    );
    mail_eventually(&app, "zed@example.com", &["Confluence"]).await;
    let to_zed = app
        .smtp
        .mails()
        .iter()
        .filter(|m| m.to == ["zed@example.com"])
        .count();
    assert_eq!(
        to_zed, 1,
        "only the multipart mail's confirmation: the rider asked nothing"
    );

    // The Overview shows the channel: both services configured, its last event.
    let cookie = console_sign_in(&app, ADMIN_TOKEN).await;
    let (status, overview) = console_page(&app, &cookie, "/console").await;
    assert_eq!(status, 200);
    let channels = &overview[overview.find("<h2>Channels</h2>").expect("channels")..];
    for shown in [
        "<td>Email requests</td>",
        "yes, through Postmark and Mailgun",
        "ask: link_sent",
    ] {
        assert!(channels.contains(shown), "{shown}: {channels}");
    }
}
