//! Okta's Users API as Okta documents `GET /api/v1/users/{id}` ("Retrieve a user", see
//! `tests/fixtures/README.md`): the path takes an id or a login (URL-encoded); `me` is the
//! token's own user; a login holding `/` can only be fetched by id; an unknown user is `404`
//! with `E0000007`, a wrong `Authorization: SSWS` token `401` with `E0000011`. Answers are the
//! fixtures with the user's status put in.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::Value;

/// The API token the simulator accepts.
pub const OKTA_API_TOKEN: &str = "00okta-api-token-0123456789";

#[derive(Default)]
struct Users {
    /// login (lower case) → (status, transitioningToStatus)
    by_login: HashMap<String, (String, Option<String>)>,
    calls: Vec<String>,
}

#[derive(Clone)]
pub struct OktaSim {
    pub url: String,
    users: Arc<Mutex<Users>>,
}

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/okta/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).expect("fixture")).expect("json")
}

impl OktaSim {
    pub async fn start() -> OktaSim {
        let users = Arc::new(Mutex::new(Users::default()));
        let app = axum::Router::new()
            .route("/api/v1/users/{id}", get(user))
            .with_state(users.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        OktaSim { url, users }
    }

    /// Okta holds `login` with this status (and a transition under way, if any).
    pub fn set(&self, login: &str, status: &str, transitioning: Option<&str>) {
        self.users.lock().expect("lock").by_login.insert(
            login.to_ascii_lowercase(),
            (status.into(), transitioning.map(String::from)),
        );
    }

    /// The ids or logins asked for, in order.
    pub fn calls(&self) -> Vec<String> {
        self.users.lock().expect("lock").calls.clone()
    }
}

async fn user(
    State(users): State<Arc<Mutex<Users>>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if auth != format!("SSWS {OKTA_API_TOKEN}") {
        let body = fixture("users-api-invalid-token.json");
        return (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response();
    }
    let mut users = users.lock().expect("lock");
    users.calls.push(id.clone());
    // `me` is the token's user, not a user of that login; `/` cannot be fetched by login.
    let found = (!id.eq_ignore_ascii_case("me") && !id.contains('/'))
        .then(|| users.by_login.get(&id.to_ascii_lowercase()).cloned())
        .flatten();
    let Some((status, transitioning)) = found else {
        let mut body = fixture("users-api-not-found.json");
        body["errorSummary"] = format!("Not found: Resource not found: {id} (User)").into();
        return (StatusCode::NOT_FOUND, axum::Json(body)).into_response();
    };
    let mut body = fixture("users-api-user.json");
    body["status"] = status.into();
    if let Some(t) = transitioning {
        body["transitioningToStatus"] = t.into();
    }
    body["profile"]["login"] = id.clone().into();
    body["profile"]["email"] = id.into();
    let reset = (time::OffsetDateTime::now_utc().unix_timestamp() + 60).to_string();
    let mut response = axum::Json(body).into_response();
    let h = response.headers_mut();
    h.insert("x-rate-limit-limit", "600".parse().expect("header"));
    h.insert("x-rate-limit-remaining", "599".parse().expect("header"));
    h.insert("x-rate-limit-reset", reset.parse().expect("header"));
    response
}
