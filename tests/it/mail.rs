//! Asking by email (issue 21): a request mailed to reinstate's address, as Postmark's inbound
//! webhook posts it, authenticated by the Basic credentials of the webhook's URL, and answered
//! as the portal answers an ask — a confirmation link to the directory's address of the sender,
//! the same answer whether or not the address is anyone's, a few a sender an hour.

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
