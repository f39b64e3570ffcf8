//! The portal: one answer for every address, a confirmation link only for real users, CSRF and
//! rate limits.

use serde_json::json;

use crate::support::*;

/// Loads the form; returns its CSRF token and the cookie it is bound to.
async fn form(app: &TestApp) -> (String, String) {
    let r = app
        .http
        .get(format!("{}/portal", app.url))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let cookie = r.headers()["set-cookie"]
        .to_str()
        .expect("cookie")
        .to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let cookie = cookie.split(';').next().expect("pair").to_string();
    let html = r.text().await.expect("html");
    let token = html
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .expect("csrf field")
        .split('"')
        .next()
        .expect("value")
        .to_string();
    (token, cookie)
}

async fn ask_with(app: &TestApp, token: &str, cookie: Option<&str>, email: &str) -> (u16, String) {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("csrf", token)
        .append_pair("email", email)
        .append_pair("product", "jira-software")
        .append_pair("reason", "back from leave")
        .finish();
    let mut r = app
        .http
        .post(format!("{}/portal", app.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body);
    if let Some(c) = cookie {
        r = r.header("cookie", c);
    }
    let r = r.send().await.expect("post");
    (r.status().as_u16(), r.text().await.expect("html"))
}

async fn ask(app: &TestApp, email: &str) -> (u16, String) {
    let (token, cookie) = form(app).await;
    ask_with(app, &token, Some(&cookie), email).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn known_and_unknown_addresses_get_the_same_answer_and_only_users_get_a_link() {
    let app = TestApp::start(BusMode::Embedded).await;
    let known = ask(&app, "grace@example.com").await;
    let unknown = ask(&app, "nobody@example.com").await;
    assert_eq!(known.0, 200);
    assert_eq!(
        known, unknown,
        "the answer must not tell whether an address exists"
    );
    assert!(known.1.contains("Check your inbox"));
    app.wait_for_outcome("grace@example.com", "link_sent").await;
    app.wait_for_outcome("nobody@example.com", "unknown_user")
        .await;
    let mails = app.smtp.wait_for(1).await;
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].to, vec!["grace@example.com"]);
    assert!(
        mails[0].text().contains("/v1/links/v1.k1."),
        "{}",
        mails[0].text()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_emailed_link_confirms_the_request_which_the_rules_decide() {
    let app = TestApp::start(BusMode::Embedded).await;
    let rules = json!({"rules": [{"name": "portal asks restore", "when": {"sources": ["portal"], "domains": ["example.com"]}, "then": "restore"}]});
    assert_eq!(app.put_rules(rules).await.status(), 200);
    assert_eq!(ask(&app, "grace@example.com").await.0, 200);
    let mail = app.smtp.wait_for(1).await.remove(0);
    let text = mail.text();
    let link = text
        .split_whitespace()
        .find(|w| w.contains("/v1/links/v1."))
        .expect("a link in the email")
        .to_string();
    // Well-formed: a Message-ID on the sender's domain, and a real button in the HTML part.
    let message_id = text
        .lines()
        .find_map(|l| l.strip_prefix("Message-ID: "))
        .expect("a Message-ID header");
    assert!(
        message_id.starts_with("<reinstate.") && message_id.ends_with("@example.com>"),
        "{message_id}"
    );
    let button = format!("<a href=\"{}\"", link.replace('&', "&amp;"));
    assert!(text.contains(&button), "{text}");
    assert!(text.contains(">Open the confirmation page</a>"), "{text}");
    assert!(!text.contains("<pre"), "{text}");
    let page = app
        .http
        .get(&link)
        .send()
        .await
        .expect("get")
        .text()
        .await
        .expect("html");
    assert!(
        page.contains("Confirm your request for Jira Software"),
        "{page}"
    );
    assert!(
        app.sim.group_adds("acc-grace").is_empty(),
        "opening the link changes nothing"
    );
    app.http.post(&link).send().await.expect("post");
    let entry = app.wait_for_outcome("grace@example.com", "restored").await;
    assert_eq!(
        (entry["source"].as_str(), entry["rule"].as_str()),
        (Some("portal"), Some("portal asks restore"))
    );
    let mails = app.smtp.wait_for(2).await;
    assert!(
        mails
            .iter()
            .any(|m| m.to == ["grace@example.com"] && m.text().contains("licence is back"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_form_without_its_cookie_or_token_is_refused_and_sends_nothing() {
    let app = TestApp::start(BusMode::Embedded).await;
    let (token, cookie) = form(&app).await;
    let (other_token, _) = form(&app).await;
    for (token, cookie) in [
        (token.as_str(), None),
        ("", Some(cookie.as_str())),
        (other_token.as_str(), Some(cookie.as_str())),
    ] {
        let (status, html) = ask_with(&app, token, cookie, "grace@example.com").await;
        assert_eq!(status, 403);
        assert!(html.contains("form expired"), "{html}");
    }
    // Something to wait for, so that nothing from the refused posts can still be on its way.
    assert_eq!(ask(&app, "zed@example.com").await.0, 200);
    app.wait_for_outcome("zed@example.com", "link_sent").await;
    assert!(app.audit("grace@example.com").await.is_empty());
    assert_eq!(app.smtp.wait_for(1).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn asks_are_rate_limited_per_client_and_per_address() {
    let options = Options {
        extra_toml: "[portal]\nper_ip_per_minute = 3\nper_address_per_hour = 1\n".into(),
        ..Default::default()
    };
    let app = TestApp::start_with(BusMode::Embedded, options).await;
    let first = ask(&app, "grace@example.com").await;
    let second = ask(&app, "grace@example.com").await;
    assert_eq!(
        first, second,
        "over the per-address limit the answer is the same"
    );
    assert_eq!(ask(&app, "zed@example.com").await.0, 200);
    let (status, html) = ask(&app, "ada@example.com").await;
    assert_eq!(status, 429, "{html}");
    app.wait_for_outcome("zed@example.com", "link_sent").await;
    let mails = app.smtp.wait_for(2).await;
    assert_eq!(
        mails
            .iter()
            .filter(|m| m.to == ["grace@example.com"])
            .count(),
        1,
        "one email per address per hour"
    );
    assert!(app.audit("ada@example.com").await.is_empty());
}

/// Behind one proxy, what a client writes into `X-Forwarded-For` does not make it a new client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_cannot_escape_the_limit_by_writing_forwarded_for() {
    let options = Options {
        extra_toml: "[portal]\nper_ip_per_minute = 2\nclient_ip_header = \"x-forwarded-for\"\n\
                     trusted_proxies = 1\n"
            .into(),
        ..Default::default()
    };
    let app = TestApp::start_with(BusMode::Embedded, options).await;
    let mut statuses = Vec::new();
    for i in 0..3 {
        let (token, cookie) = form(&app).await;
        let body = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("csrf", &token)
            .append_pair("email", &format!("nobody{i}@example.com"))
            .finish();
        // The client claims a new address each time; the proxy appends the one it saw.
        let r = app
            .http
            .post(format!("{}/portal", app.url))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("cookie", cookie)
            .header("x-forwarded-for", format!("192.0.2.{i}, 198.51.100.7"))
            .body(body)
            .send()
            .await
            .expect("post");
        statuses.push(r.status().as_u16());
    }
    assert_eq!(statuses, [200, 200, 429]);
    // Another client, as the proxy saw it, is not limited.
    let (token, cookie) = form(&app).await;
    let body = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("csrf", &token)
        .append_pair("email", "nobody9@example.com")
        .finish();
    let r = app
        .http
        .post(format!("{}/portal", app.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("cookie", cookie)
        .header("x-forwarded-for", "198.51.100.8")
        .body(body)
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 200);
}

/// A token whose time is written otherwise than issued, or a form posted from another site, is
/// refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn respelled_tokens_and_other_origins_are_refused() {
    let app = TestApp::start(BusMode::Embedded).await;
    let (token, cookie) = form(&app).await;
    for respelled in [format!("+{token}"), format!("0{token}")] {
        let (status, _) = ask_with(&app, &respelled, Some(&cookie), "grace@example.com").await;
        assert_eq!(status, 403, "{respelled}");
    }
    let body = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("csrf", &token)
        .append_pair("email", "grace@example.com")
        .finish();
    let r = app
        .http
        .post(format!("{}/portal", app.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("cookie", &cookie)
        .header("origin", "https://evil.example.net")
        .body(body)
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 403);
    let (status, _) = ask_with(&app, &token, Some(&cookie), "zed@example.com").await;
    assert_eq!(status, 200, "the same token from this page still works");
    app.wait_for_outcome("zed@example.com", "link_sent").await;
    assert!(app.audit("grace@example.com").await.is_empty());
}
