//! Console sessions kept in the state process's store (issue 25, item 3): signing out ends the
//! session for every copy of its cookie, an idle one ends, an admin sees and ends them in the
//! console and the API, and removing a token from the configuration ends its sessions at the
//! next start — while the others survive the restart.

use sha2::{Digest, Sha256};

use crate::support::*;

/// The status of a console page with the cookie (303: sent to sign in).
async fn console_status(app: &TestApp, cookie: &str, path: &str) -> u16 {
    no_redirects()
        .get(format!("{}{path}", app.url))
        .header("cookie", cookie)
        .send()
        .await
        .expect("page")
        .status()
        .as_u16()
}

/// The CSRF token of the session's forms, from a page.
async fn csrf_of(app: &TestApp, cookie: &str) -> String {
    let html = no_redirects()
        .get(format!("{}/console", app.url))
        .header("cookie", cookie)
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    csrf_in(&html)
}

/// The session's id: the hex SHA-256 of its cookie's secret.
fn id_of(cookie: &str) -> String {
    let secret = cookie.split_once('=').expect("pair").1;
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Posts the console's End form for session `id` as the session `cookie`: the status.
async fn end_in_console(app: &TestApp, cookie: &str, id: &str) -> u16 {
    let csrf = csrf_of(app, cookie).await;
    no_redirects()
        .post(format!("{}/console/sessions", app.url))
        .header("cookie", cookie)
        .form(&[("csrf", csrf.as_str()), ("id", id)])
        .send()
        .await
        .expect("post")
        .status()
        .as_u16()
}

async fn sessions_api(app: &TestApp) -> serde_json::Value {
    app.admin_get("/api/v1/sessions").await
}

/// A copy of the cookie taken before sign-out used to keep working for `session_hours`
/// (console pages, API downloads, and the CSRF token derived from it); now sign-out ends the
/// session itself.
#[tokio::test]
async fn signing_out_ends_the_session_for_every_copy_of_its_cookie() {
    let app = TestApp::start(BusMode::Embedded).await;
    let cookie = console_sign_in(&app, ADMIN_TOKEN).await;
    let copy = cookie.clone();
    assert_eq!(console_status(&app, &cookie, "/console").await, 200);
    assert_eq!(console_status(&app, &copy, "/api/v1/audit").await, 200);
    let csrf = csrf_of(&app, &cookie).await;
    let out = no_redirects()
        .post(format!("{}/console/sign-out", app.url))
        .header("cookie", &cookie)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .expect("sign out");
    assert_eq!(out.status(), 303);
    assert!(
        out.headers()["set-cookie"]
            .to_str()
            .is_ok_and(|c| c.contains("Max-Age=0")),
        "the browser forgets it"
    );
    // The copy: sent to sign in, refused by the API, its forms refused.
    assert_eq!(console_status(&app, &copy, "/console").await, 303);
    assert_eq!(console_status(&app, &copy, "/api/v1/audit").await, 401);
    let forged = no_redirects()
        .post(format!("{}/console/rules", app.url))
        .header("cookie", &copy)
        .form(&[("csrf", csrf.as_str()), ("rules", "{\"rules\": []}")])
        .send()
        .await
        .expect("post");
    assert_eq!(forged.status(), 303, "sent to sign in, nothing changed");
    let open = sessions_api(&app).await;
    assert_eq!(open["sessions"], serde_json::json!([]), "{open}");
}

/// A session unused for `server.session_idle_minutes` ends; one in use does not.
#[tokio::test]
async fn an_idle_session_ends_and_a_used_one_does_not() {
    let options = Options {
        server_toml: "session_idle_minutes = 30\n".into(),
        ..Default::default()
    };
    let app = TestApp::start_with(BusMode::Embedded, options).await;
    let idle = console_sign_in(&app, ADMIN_TOKEN).await;
    let busy = console_sign_in(&app, ADMIN_TOKEN).await;
    // Thirty-one minutes pass for one of them: its last use moved back in the store.
    let store = app.store();
    let mut record = store
        .session(&id_of(&idle))
        .expect("store")
        .expect("the session is on record");
    record.last_used_ms -= 31 * 60 * 1000;
    record.created_ms -= 31 * 60 * 1000;
    store.open_session(&record).expect("store");
    assert_eq!(console_status(&app, &idle, "/console").await, 303);
    assert_eq!(console_status(&app, &idle, "/api/v1/audit").await, 401);
    // Twenty-nine minutes for the other: still open, and the use moves its last use to now.
    let mut record = store
        .session(&id_of(&busy))
        .expect("store")
        .expect("on record");
    let before = reinstate::store::now_ms();
    record.last_used_ms -= 29 * 60 * 1000;
    store.open_session(&record).expect("store");
    assert_eq!(console_status(&app, &busy, "/console").await, 200);
    let used = store.session(&id_of(&busy)).expect("store").expect("open");
    assert!(used.last_used_ms >= before, "{used:?}");
    let open = sessions_api(&app).await;
    let ids: Vec<&str> = open["sessions"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|s| s["id"].as_str())
        .collect();
    assert_eq!(ids, [id_of(&busy)], "the idle one is gone: {open}");
}

/// An admin lists the open sessions (who, role, since when, from where, which browser) and ends
/// one, in the console and through the API; a viewer sees the list and cannot end any.
#[tokio::test]
async fn an_admin_sees_and_ends_sessions_in_the_console_and_the_api() {
    let app = TestApp::start(BusMode::Embedded).await;
    let admin = console_sign_in(&app, ADMIN_TOKEN).await;
    let viewer = console_sign_in(&app, VIEWER_TOKEN).await;
    let other = console_sign_in(&app, VIEWER_TOKEN).await;
    let open = sessions_api(&app).await;
    let list = open["sessions"].as_array().expect("list");
    assert_eq!(list.len(), 3, "{open}");
    let viewer_row = list
        .iter()
        .find(|s| s["id"] == id_of(&viewer).as_str())
        .expect("the viewer's session");
    assert_eq!(viewer_row["role"], "viewer");
    assert_eq!(viewer_row["client"], "127.0.0.1");
    assert_eq!(
        viewer_row["agent"],
        format!("tests/{VIEWER_TOKEN}").as_str()
    );
    assert!(
        viewer_row["actor"]
            .as_str()
            .is_some_and(|a| a.starts_with("viewer:"))
    );
    for key in ["created", "last_used", "expires"] {
        assert!(
            viewer_row[key].as_str().is_some_and(|t| t.ends_with('Z')),
            "{key}: {viewer_row}"
        );
    }
    assert!(viewer_row.get("csrf").is_none() && viewer_row.get("token_sha256").is_none());

    // The console: the admin's own row says so; the others have an End button.
    let page = no_redirects()
        .get(format!("{}/console/sessions", app.url))
        .header("cookie", &admin)
        .send()
        .await
        .expect("page");
    assert_eq!(page.status(), 200);
    let html = page.text().await.expect("html");
    assert!(html.contains("This session"), "{html}");
    assert_eq!(html.matches(">End</button>").count(), 2, "{html}");
    // A viewer sees the list, with no End button, and its post is refused.
    let page = no_redirects()
        .get(format!("{}/console/sessions", app.url))
        .header("cookie", &viewer)
        .send()
        .await
        .expect("page");
    let html = page.text().await.expect("html");
    assert!(html.contains("This session") && !html.contains(">End</button>"));
    assert_eq!(end_in_console(&app, &viewer, &id_of(&admin)).await, 403);
    assert_eq!(console_status(&app, &admin, "/console").await, 200);

    // The admin ends the viewer's session: that cookie stops working at once.
    assert_eq!(end_in_console(&app, &admin, &id_of(&viewer)).await, 303);
    assert_eq!(console_status(&app, &viewer, "/console").await, 303);
    assert_eq!(console_status(&app, &other, "/console").await, 200);

    // Through the API: the other viewer's, then again (gone), then a malformed id.
    let delete = |id: String| {
        app.http
            .delete(format!("{}/api/v1/sessions/{id}", app.url))
            .bearer_auth(ADMIN_TOKEN)
            .send()
    };
    let r = delete(id_of(&other)).await.expect("delete");
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<serde_json::Value>().await.expect("json")["ended"],
        id_of(&other).as_str()
    );
    assert_eq!(console_status(&app, &other, "/console").await, 303);
    let again = delete(id_of(&other)).await.expect("delete");
    assert_eq!(again.status(), 404);
    let body: serde_json::Value = again.json().await.expect("json");
    assert_eq!(body["error"], "session_not_found", "{body}");
    let bad = delete("not-a-session".into()).await.expect("delete");
    assert_eq!(bad.status(), 400);
    let body: serde_json::Value = bad.json().await.expect("json");
    assert_eq!(body["error"], "invalid_session", "{body}");
    // Only admins list or end them through the API.
    let as_viewer = app
        .http
        .get(format!("{}/api/v1/sessions", app.url))
        .bearer_auth(VIEWER_TOKEN)
        .send()
        .await
        .expect("get");
    assert_eq!(as_viewer.status(), 403);
    let open = sessions_api(&app).await;
    assert_eq!(open["sessions"].as_array().map(Vec::len), Some(1), "{open}");
}

/// Removing a token from the configuration used to take effect only because a restart signed
/// everyone out; sessions now survive a restart, so those of a removed token are ended at start.
#[tokio::test]
async fn removing_a_token_from_the_configuration_ends_its_sessions_at_the_next_start() {
    let mut app = TestApp::start(BusMode::Embedded).await;
    let admin = console_sign_in(&app, ADMIN_TOKEN).await;
    let viewer = console_sign_in(&app, VIEWER_TOKEN).await;
    let viewer_hash = hex::encode(Sha256::digest(VIEWER_TOKEN.as_bytes()));
    app.reconfigure(|toml| {
        let edited = toml.replace(
            &format!("viewer_token_sha256 = [\"{viewer_hash}\"]"),
            "viewer_token_sha256 = []",
        );
        assert_ne!(edited, toml);
        edited
    });
    app.restart().await;
    assert_eq!(console_status(&app, &admin, "/console").await, 200, "kept");
    assert_eq!(
        console_status(&app, &viewer, "/console").await,
        303,
        "ended"
    );
    assert!(
        app.store()
            .session(&id_of(&viewer))
            .expect("store")
            .is_none()
    );
    let open = sessions_api(&app).await;
    assert_eq!(open["sessions"].as_array().map(Vec::len), Some(1), "{open}");
}
