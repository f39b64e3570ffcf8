//! Slack, as its documents describe the parts reinstate uses (see `tests/fixtures/README.md`):
//! the Web API's `users.info` (`GET /api/users.info?user=…`, `Authorization: Bearer` the bot
//! token; always `200` with `"ok"`, and `"error": "user_not_found"` or `"invalid_auth"` when
//! not; the email in `user.profile.email`) and `chat.postMessage` (`POST`, JSON; `"error":
//! "channel_not_found"` for a channel it does not hold), and a slash command's or a button's
//! `response_url`, which takes a JSON message. Each can be made to answer a fault first (`429`
//! with `Retry-After`, `5xx`). It also signs requests as Slack does, for the tests to send.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use hmac::{Hmac, Mac};
use serde_json::Value;

/// The bot token the simulator accepts (the shape of Slack's examples).
pub const SLACK_BOT_TOKEN: &str = "xoxb-17653672481-19874698323-pdFZKVeTuE8sk7oOcBrzbqgy";
/// The signing secret of "Verifying requests from Slack"'s example.
pub const SLACK_SIGNING_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";

#[derive(Clone)]
enum Person {
    Email(String),
    Deleted(String),
}

#[derive(Default)]
struct Sim {
    people: HashMap<String, Person>,
    /// (path: `users.info` or `reply`, status, Retry-After)
    faults: VecDeque<(&'static str, u16, Option<u64>)>,
    replies: Vec<Value>,
    /// (channel, body) of each chat.postMessage taken.
    messages: Vec<Value>,
    channels: Vec<String>,
    calls: Vec<String>,
    /// Triggers handed out (a shortcut's, a button's): when, and whether a view used it.
    triggers: HashMap<String, (Instant, bool)>,
    /// (method, body) of each views.open and views.publish taken.
    views: Vec<(String, Value)>,
}

#[derive(Clone)]
pub struct SlackSim {
    pub url: String,
    sim: Arc<Mutex<Sim>>,
}

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/slack/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).expect("fixture")).expect("json")
}

impl SlackSim {
    pub async fn start() -> SlackSim {
        let sim = Arc::new(Mutex::new(Sim::default()));
        let app = axum::Router::new()
            .route("/api/users.info", get(users_info))
            .route("/api/chat.postMessage", post(post_message))
            .route("/api/users.lookupByEmail", get(lookup_by_email))
            .route("/api/views.open", post(views_open))
            .route("/api/views.publish", post(views_publish))
            .route("/commands/{team}/{id}/{token}", post(reply))
            .route("/actions/{team}/{id}/{token}", post(reply))
            .with_state(sim.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        SlackSim { url, sim }
    }

    /// The keys of `[sources.slack]` that point a test service at this simulator (the test
    /// configuration holds its signing secret and bot token).
    pub fn toml(&self) -> String {
        format!(
            "api_url = \"{}/api\"\nresponse_url_prefix = \"{}/\"\n",
            self.url, self.url
        )
    }

    /// Slack's member `id`, whose profile email is `email`.
    pub fn person(&self, id: &str, email: &str) {
        let mut sim = self.sim.lock().expect("lock");
        sim.people.insert(id.into(), Person::Email(email.into()));
    }

    /// A member deactivated in Slack.
    pub fn deleted(&self, id: &str, email: &str) {
        let mut sim = self.sim.lock().expect("lock");
        sim.people.insert(id.into(), Person::Deleted(email.into()));
    }

    /// A channel the bot is a member of.
    pub fn channel(&self, id: &str) {
        self.sim.lock().expect("lock").channels.push(id.into());
    }

    /// The messages chat.postMessage took, in order.
    pub fn messages(&self) -> Vec<Value> {
        self.sim.lock().expect("lock").messages.clone()
    }

    /// Waits until chat.postMessage took `n` messages.
    pub async fn wait_for_messages(&self, n: usize) -> Vec<Value> {
        self.until(n, "messages", || self.messages()).await
    }

    /// Waits until `taken` holds `n` things (or fails the test, naming what Slack was asked).
    async fn until(&self, n: usize, what: &str, taken: impl Fn() -> Vec<Value>) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let got = taken();
            if got.len() >= n {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "{} of {n} {what}; calls: {:?}",
                got.len(),
                self.calls()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// A click by `user` on the button `action_id` whose value is `value`, in the shape of
    /// Slack's documented `block_actions` example (`tests/fixtures/slack/block-actions.json`),
    /// as the form Slack posts (`payload=<JSON>`).
    pub fn click_body(&self, user: &str, action_id: &str, value: &str) -> String {
        let mut payload = fixture("block-actions.json");
        payload["team"]["id"] = "T0001".into();
        payload["user"]["id"] = user.into();
        payload["user"]["team_id"] = "T0001".into();
        payload["response_url"] = format!(
            "{}/actions/T0001/1232321423432/D09sSasdasdAS9091209",
            self.url
        )
        .into();
        payload["actions"][0]["action_id"] = action_id.into();
        payload["actions"][0]["value"] = value.into();
        payload["actions"][0]["action_ts"] = format!(
            "{}.840180",
            time::OffsetDateTime::now_utc().unix_timestamp()
        )
        .into();
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair("payload", &payload.to_string())
            .finish()
    }

    /// A `trigger_id` as Slack hands one out with an interaction, valid for three seconds.
    pub fn trigger(&self) -> String {
        let mut sim = self.sim.lock().expect("lock");
        let n = sim.triggers.len() + 1;
        let trigger = format!("944799105734.773906753841.{n:032x}");
        sim.triggers
            .insert(trigger.clone(), (Instant::now(), false));
        trigger
    }

    /// The views taken: (views.open or views.publish, body).
    pub fn views(&self) -> Vec<(String, Value)> {
        self.sim.lock().expect("lock").views.clone()
    }

    /// Waits until `n` views were taken.
    pub async fn wait_for_views(&self, n: usize) -> Vec<(String, Value)> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let views = self.views();
            if views.len() >= n {
                return views;
            }
            assert!(
                Instant::now() < deadline,
                "{} of {n} views; calls: {:?}",
                views.len(),
                self.calls()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// A global shortcut by `user` (`tests/fixtures/slack/shortcut.json`), its `callback_id`
    /// the app manifest's, as the form Slack posts.
    pub fn shortcut_body(&self, user: &str, trigger: &str) -> String {
        let mut payload = fixture("shortcut.json");
        payload["team"]["id"] = "T0001".into();
        payload["user"]["id"] = user.into();
        payload["callback_id"] = "reinstate_ask".into();
        payload["trigger_id"] = trigger.into();
        form_of(&payload)
    }

    /// The modal's submission by `user` (`tests/fixtures/slack/view-submission.json`) with
    /// this product chosen and this reason.
    pub fn submission_body(&self, user: &str, product: &str, reason: &str) -> String {
        let mut payload = fixture("view-submission.json");
        payload["team"]["id"] = "T0001".into();
        payload["user"]["id"] = user.into();
        payload["view"]["callback_id"] = "reinstate_ask".into();
        payload["view"]["state"]["values"] = serde_json::json!({
            "product": {"product": {"type": "static_select", "selected_option": {
                "text": {"type": "plain_text", "text": product}, "value": product}}},
            "reason": {"reason": {"type": "plain_text_input", "value": reason}},
        });
        form_of(&payload)
    }

    /// `app_home_opened` of `user`'s Home tab (`tests/fixtures/slack/app-home-opened.json`).
    pub fn home_opened_body(&self, user: &str, event_id: &str) -> String {
        let mut envelope = fixture("app-home-opened.json");
        envelope["team_id"] = "T0001".into();
        envelope["event"]["user"] = user.into();
        envelope["event_id"] = event_id.into();
        envelope.to_string()
    }

    /// The next call to `path` (`users.info`, `chat.postMessage` or `reply`) answers `status`
    /// first.
    pub fn fault(&self, path: &'static str, status: u16, retry_after: Option<u64>) {
        let mut sim = self.sim.lock().expect("lock");
        sim.faults.push_back((path, status, retry_after));
    }

    /// The users `users.info` was asked for, and the replies tried, in order.
    pub fn calls(&self) -> Vec<String> {
        self.sim.lock().expect("lock").calls.clone()
    }

    /// The messages posted to response URLs.
    pub fn replies(&self) -> Vec<Value> {
        self.sim.lock().expect("lock").replies.clone()
    }

    /// Waits until `n` messages were posted to response URLs.
    pub async fn wait_for_replies(&self, n: usize) -> Vec<Value> {
        self.until(n, "replies", || self.replies()).await
    }

    /// A slash command's `response_url` here.
    pub fn response_url(&self) -> String {
        format!("{}/commands/T0001/1234/5678", self.url)
    }

    /// The slash command of Slack's documentation (`tests/fixtures/slack/slash-command.txt`)
    /// as `user` typing `/access {text}`, answering to this simulator.
    pub fn command_body(&self, user: &str, text: &str) -> String {
        let raw = std::fs::read_to_string(format!(
            "{}/tests/fixtures/slack/slash-command.txt",
            env!("CARGO_MANIFEST_DIR")
        ))
        .expect("fixture");
        let mut form: Vec<(String, String)> = url::form_urlencoded::parse(raw.trim().as_bytes())
            .into_owned()
            .collect();
        for (key, value) in &mut form {
            match key.as_str() {
                "user_id" => *value = user.into(),
                "command" => *value = "/access".into(),
                "text" => *value = text.into(),
                "response_url" => *value = self.response_url(),
                _ => {}
            }
        }
        url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish()
    }
}

/// An interaction's form, as Slack posts it (`payload=<JSON>`).
fn form_of(payload: &Value) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .append_pair("payload", &payload.to_string())
        .finish()
}

/// `views.open` (<https://api.slack.com/methods/views.open>): a trigger Slack did not hand out
/// is `invalid_trigger_id`, one older than three seconds `expired_trigger_id`, one used
/// already `exchanged_trigger_id`.
async fn views_open(
    State(sim): State<Arc<Mutex<Sim>>>,
    headers: HeaderMap,
    body: axum::Json<Value>,
) -> Response {
    let mut sim = sim.lock().expect("lock");
    let trigger = body["trigger_id"].as_str().unwrap_or_default().to_string();
    if let Some(early) = web_api(
        &mut sim,
        "views.open",
        format!("views.open {trigger}"),
        &headers,
    ) {
        return early;
    }
    let error = match sim.triggers.get_mut(&trigger) {
        None => Some("invalid_trigger_id"),
        Some((at, _)) if at.elapsed() > Duration::from_secs(3) => Some("expired_trigger_id"),
        Some((_, true)) => Some("exchanged_trigger_id"),
        Some((_, used)) => {
            *used = true;
            None
        }
    };
    if let Some(error) = error {
        return axum::Json(serde_json::json!({"ok": false, "error": error})).into_response();
    }
    sim.views.push(("views.open".into(), body.0.clone()));
    let mut answer = fixture("views-open.json");
    answer["view"]["callback_id"] = body["view"]["callback_id"].clone();
    axum::Json(answer).into_response()
}

/// `views.publish` (<https://api.slack.com/methods/views.publish>): a user's Home tab.
async fn views_publish(
    State(sim): State<Arc<Mutex<Sim>>>,
    headers: HeaderMap,
    body: axum::Json<Value>,
) -> Response {
    let mut sim = sim.lock().expect("lock");
    let user = body["user_id"].as_str().unwrap_or_default().to_string();
    if let Some(early) = web_api(
        &mut sim,
        "views.publish",
        format!("views.publish {user}"),
        &headers,
    ) {
        return early;
    }
    sim.views.push(("views.publish".into(), body.0.clone()));
    let mut answer = fixture("views-open.json");
    answer["view"]["type"] = "home".into();
    axum::Json(answer).into_response()
}

/// `X-Slack-Signature` of `body` at `timestamp` under `secret`, as Slack computes it.
pub fn slack_signature(secret: &str, timestamp: &str, body: &str) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(format!("v0:{timestamp}:{body}").as_bytes());
    format!("v0={}", hex::encode(mac.finalize().into_bytes()))
}

/// The fault queued for `path`, if the next one is for it.
fn fault(sim: &mut Sim, path: &str) -> Option<Response> {
    let (p, status, retry_after) = *sim.faults.front()?;
    if p != path {
        return None;
    }
    sim.faults.pop_front();
    let mut response = (StatusCode::from_u16(status).expect("status"), "fault").into_response();
    if let Some(s) = retry_after {
        response
            .headers_mut()
            .insert("retry-after", s.to_string().parse().expect("header"));
    }
    Some(response)
}

/// What every Web API method does first: the call noted, a queued fault answered, and a bot
/// token other than the app's refused as Slack refuses it (`200`, `"error": "invalid_auth"`).
fn web_api(
    sim: &mut Sim,
    method: &'static str,
    call: String,
    headers: &HeaderMap,
) -> Option<Response> {
    sim.calls.push(call);
    if let Some(f) = fault(sim, method) {
        return Some(f);
    }
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    (auth != format!("Bearer {SLACK_BOT_TOKEN}"))
        .then(|| axum::Json(fixture("users-info-invalid-auth.json")).into_response())
}

async fn users_info(
    State(sim): State<Arc<Mutex<Sim>>>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let mut sim = sim.lock().expect("lock");
    let user = query.get("user").cloned().unwrap_or_default();
    if let Some(early) = web_api(
        &mut sim,
        "users.info",
        format!("users.info {user}"),
        &headers,
    ) {
        return early;
    }
    let Some(person) = sim.people.get(&user).cloned() else {
        return axum::Json(fixture("users-info-not-found.json")).into_response();
    };
    let mut body = fixture("users-info.json");
    body["user"]["id"] = user.clone().into();
    body["user"]["team_id"] = "T0001".into();
    let email = match person {
        Person::Email(e) => e,
        Person::Deleted(e) => {
            body["user"]["deleted"] = true.into();
            e
        }
    };
    body["user"]["profile"]["email"] = email.into();
    axum::Json(body).into_response()
}

async fn post_message(
    State(sim): State<Arc<Mutex<Sim>>>,
    headers: HeaderMap,
    body: axum::Json<Value>,
) -> Response {
    let mut sim = sim.lock().expect("lock");
    let call = "chat.postMessage".to_string();
    if let Some(early) = web_api(&mut sim, "chat.postMessage", call, &headers) {
        return early;
    }
    let channel = body["channel"].as_str().unwrap_or_default().to_string();
    // A member's id is their direct messages with the app.
    if !sim.channels.contains(&channel) && !sim.people.contains_key(&channel) {
        return axum::Json(serde_json::json!({"ok": false, "error": "channel_not_found"}))
            .into_response();
    }
    sim.messages.push(body.0);
    let mut answer = fixture("chat-postmessage.json");
    answer["channel"] = channel.into();
    axum::Json(answer).into_response()
}

async fn lookup_by_email(
    State(sim): State<Arc<Mutex<Sim>>>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let mut sim = sim.lock().expect("lock");
    let email = query.get("email").cloned().unwrap_or_default();
    let call = format!("users.lookupByEmail {email}");
    if let Some(early) = web_api(&mut sim, "users.lookupByEmail", call, &headers) {
        return early;
    }
    let found = sim.people.iter().find(|(_, p)| match p {
        Person::Email(e) => e.eq_ignore_ascii_case(&email),
        Person::Deleted(_) => false,
    });
    let Some((id, _)) = found else {
        return axum::Json(serde_json::json!({"ok": false, "error": "users_not_found"}))
            .into_response();
    };
    let mut body = fixture("users-info.json");
    body["user"]["id"] = id.clone().into();
    body["user"]["profile"]["email"] = email.into();
    axum::Json(body).into_response()
}

async fn reply(
    State(sim): State<Arc<Mutex<Sim>>>,
    Path((_team, _id, _token)): Path<(String, String, String)>,
    body: axum::Json<Value>,
) -> Response {
    let mut sim = sim.lock().expect("lock");
    sim.calls.push("reply".into());
    if let Some(f) = fault(&mut sim, "reply") {
        return f;
    }
    sim.replies.push(body.0);
    (StatusCode::OK, "ok").into_response()
}
