//! Microsoft's Bot Framework, as its documents describe the parts reinstate uses (see
//! `tests/fixtures/README.md`): the OpenID metadata and its signing keys (the test's own RSA
//! keys, `tests/fixtures/teams/test-keys.jwks.json`, each endorsing `msteams`; a key is served
//! only once the test rotates it in), the token endpoint
//! (`POST /{tenant}/oauth2/v2.0/token`, client credentials, `invalid_client` for a wrong
//! secret), and the Connector API under `/teams/` (the activities' `serviceUrl`): a
//! conversation member, a reply, a message to a conversation, a card's update — each refusing
//! a request without the token it issued (`401`), and each able to answer a fault first (`429`
//! with `Retry-After`, `5xx`). It also builds and signs activities as the Bot Connector sends
//! them, for the tests to post.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

/// The bot's app id and secret in the test configuration.
pub const TEAMS_APP_ID: &str = "c9e8c047-2a74-40a2-b28a-b162d5f5327c";
pub const TEAMS_APP_SECRET: &str = "teams-bot-secret-0123456789";
/// The token the simulated token endpoint issues.
const ISSUED: &str = "sim-bot-framework-token";
/// The conversation of the approvers' channel.
pub const APPROVERS: &str = "19:approvers-0123@thread.tacv2";

fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/teams/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).expect("fixture")
}

#[derive(Default)]
struct Sim {
    url: String,
    /// Key ids served in the JWKS.
    served: Vec<String>,
    /// Teams member id → email.
    members: HashMap<String, String>,
    /// (route, status, Retry-After)
    faults: VecDeque<(&'static str, u16, Option<u64>)>,
    /// (verb, path, body) of each Connector call that succeeded.
    sent: Vec<(String, String, Value)>,
    calls: Vec<String>,
    keys_fetched: usize,
    cards: usize,
    tokens_issued: usize,
}

#[derive(Clone)]
pub struct TeamsSim {
    pub url: String,
    sim: Arc<Mutex<Sim>>,
}

impl TeamsSim {
    pub async fn start() -> TeamsSim {
        let sim = Arc::new(Mutex::new(Sim {
            served: vec!["test-k1".into()],
            ..Sim::default()
        }));
        let app = axum::Router::new()
            .route("/v1/.well-known/openidconfiguration", get(metadata))
            .route("/v1/.well-known/keys", get(keys))
            .route("/{tenant}/oauth2/v2.0/token", post(token))
            .route(
                "/teams/v3/conversations/{conversation}/members/{member}",
                get(member),
            )
            .route(
                "/teams/v3/conversations/{conversation}/activities",
                post(to_conversation),
            )
            .route(
                "/teams/v3/conversations/{conversation}/activities/{activity}",
                post(reply).put(update),
            )
            .with_state(sim.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        sim.lock().expect("lock").url = url.clone();
        tokio::spawn(async move { axum::serve(listener, app).await });
        TeamsSim { url, sim }
    }

    /// The activities' `serviceUrl`.
    pub fn service_url(&self) -> String {
        format!("{}/teams/", self.url)
    }

    /// The keys of `[sources.teams]` that point a test service at this simulator, approvals
    /// going to `APPROVERS`.
    pub fn toml(&self) -> String {
        format!(
            "app_id = \"{TEAMS_APP_ID}\"\napp_secret = \"{TEAMS_APP_SECRET}\"\n\
             openid_metadata_url = \"{url}/v1/.well-known/openidconfiguration\"\n\
             login_url = \"{url}\"\nservice_url_prefixes = [\"{url}/teams/\"]\n\
             approvers_conversation = \"{APPROVERS}\"\napprovers_service_url = \"{url}/teams/\"\n",
            url = self.url
        )
    }

    /// A member of the conversations, whose email Teams holds as `email`.
    pub fn member(&self, id: &str, email: &str) {
        let mut sim = self.sim.lock().expect("lock");
        sim.members.insert(id.into(), email.into());
    }

    /// Microsoft publishes another signing key (a rotation).
    pub fn rotate_in(&self, kid: &str) {
        self.sim.lock().expect("lock").served.push(kid.into());
    }

    /// The next call to `route` (`member`, `reply`, `post`, `update` or `token`) answers
    /// `status` first.
    pub fn fault(&self, route: &'static str, status: u16, retry_after: Option<u64>) {
        let mut sim = self.sim.lock().expect("lock");
        sim.faults.push_back((route, status, retry_after));
    }

    /// Each Connector call taken: (verb, path, body).
    pub fn sent(&self) -> Vec<(String, String, Value)> {
        self.sim.lock().expect("lock").sent.clone()
    }

    /// Every call, faults included, in order.
    pub fn calls(&self) -> Vec<String> {
        self.sim.lock().expect("lock").calls.clone()
    }

    /// How often the keys were fetched, and how many tokens were issued.
    pub fn counts(&self) -> (usize, usize) {
        let sim = self.sim.lock().expect("lock");
        (sim.keys_fetched, sim.tokens_issued)
    }

    /// Waits until the Connector took `n` calls (or fails, naming the calls).
    pub async fn wait_for_sent(&self, n: usize) -> Vec<(String, String, Value)> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let sent = self.sent();
            if sent.len() >= n {
                return sent;
            }
            assert!(
                Instant::now() < deadline,
                "{} of {n} Connector calls; calls: {:?}",
                sent.len(),
                self.calls()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// A message from `member` in a personal chat with the bot, in the shape of Teams'
    /// documented example (`tests/fixtures/teams/message-activity.json`), this simulator its
    /// `serviceUrl`.
    pub fn message(&self, member: &str, id: &str, text: &str) -> Value {
        let mut activity: Value =
            serde_json::from_str(&fixture("message-activity.json")).expect("json");
        activity["id"] = id.into();
        activity["serviceUrl"] = self.service_url().into();
        activity["from"]["id"] = member.into();
        activity["conversation"]["id"] = format!("a:personal-{member}").into();
        activity["text"] = text.into();
        activity["timestamp"] = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .expect("time")
            .into();
        activity
    }

    /// A click by `member` on an approval card's button: the message Teams sends for an
    /// `Action.Submit`, its `value` the button's data, `replyToId` the card's activity.
    pub fn click(&self, member: &str, id: &str, card: &str, data: &Value) -> Value {
        let mut activity = self.message(member, id, "");
        activity.as_object_mut().expect("object").remove("text");
        activity["conversation"] = json!({
            "conversationType": "channel",
            "id": format!("{APPROVERS};messageid={card}"),
            "isGroup": true,
            "tenantId": "72f988bf-86f1-41af-91ab-2d7cd011db47",
        });
        activity["replyToId"] = card.into();
        activity["value"] = data.clone();
        activity
    }

    /// The Bot Connector's token for `activity`, signed with the test key `kid`; `claims`
    /// replaces or adds claims (another `aud`, `iss`, `exp` …).
    pub fn token(&self, kid: &str, activity: &Value, claims: &Value) -> String {
        self.token_signed_by(kid, kid, activity, claims)
    }

    /// A token whose header names `kid` but which the key `signer` signed.
    pub fn token_signed_by(
        &self,
        kid: &str,
        signer: &str,
        activity: &Value,
        claims: &Value,
    ) -> String {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let mut body = json!({
            "serviceurl": activity["serviceUrl"],
            "serviceUrl": activity["serviceUrl"],
            "nbf": now - 10,
            "exp": now + 3600,
            "iss": "https://api.botframework.com",
            "aud": TEAMS_APP_ID,
        });
        for (k, v) in claims.as_object().expect("claims") {
            body[k] = v.clone();
        }
        let pem = fixture(&format!("{}.pem", signer.replace("test-", "test-key-")));
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(pem.as_bytes()).expect("key");
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        header.kid = Some(kid.into());
        header.typ = Some("JWT".into());
        jsonwebtoken::encode(&header, &body, &key).expect("sign")
    }
}

type Shared = State<Arc<Mutex<Sim>>>;

/// A fault queued for `route`, noting the call.
fn first(sim: &Arc<Mutex<Sim>>, route: &'static str, call: String) -> Option<Response> {
    let mut sim = sim.lock().expect("lock");
    sim.calls.push(call);
    let at = sim.faults.iter().position(|(r, _, _)| *r == route)?;
    let (_, status, retry_after) = sim.faults.remove(at)?;
    let status = StatusCode::from_u16(status).expect("status");
    let mut response = (
        status,
        axum::Json(json!({"error": {"code": "ServiceError", "message": "simulated fault"}})),
    )
        .into_response();
    if let Some(secs) = retry_after {
        response
            .headers_mut()
            .insert("retry-after", secs.to_string().parse().expect("header"));
    }
    Some(response)
}

/// The Connector API's refusal of a request without the issued token.
fn unauthorized(headers: &HeaderMap) -> Option<Response> {
    let presented = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    (presented != Some(ISSUED)).then(|| {
        let body = json!({"message": "Authorization has been denied for this request."});
        (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response()
    })
}

async fn metadata(State(sim): Shared) -> Response {
    let url = sim.lock().expect("lock").url.clone();
    let mut doc: Value = serde_json::from_str(&fixture("openid-configuration.json")).expect("json");
    doc["jwks_uri"] = format!("{url}/v1/.well-known/keys").into();
    axum::Json(doc).into_response()
}

async fn keys(State(sim): Shared) -> Response {
    let mut sim = sim.lock().expect("lock");
    sim.keys_fetched += 1;
    let all: Value = serde_json::from_str(&fixture("test-keys.jwks.json")).expect("json");
    let keys: Vec<Value> = all["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .filter(|k| sim.served.iter().any(|s| k["kid"] == s.as_str()))
        .cloned()
        .collect();
    axum::Json(json!({ "keys": keys })).into_response()
}

async fn token(State(sim): Shared, Path(tenant): Path<String>, body: String) -> Response {
    let form: HashMap<String, String> = serde_urlencoded::from_str(&body).unwrap_or_default();
    if let Some(fault) = first(&sim, "token", format!("token {tenant}")) {
        return fault;
    }
    let good = tenant == "botframework.com"
        && form.get("grant_type").map(String::as_str) == Some("client_credentials")
        && form.get("client_id").map(String::as_str) == Some(TEAMS_APP_ID)
        && form.get("client_secret").map(String::as_str) == Some(TEAMS_APP_SECRET)
        && form.get("scope").map(String::as_str) == Some("https://api.botframework.com/.default");
    if !good {
        let body = json!({"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided."});
        return (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response();
    }
    sim.lock().expect("lock").tokens_issued += 1;
    let mut body: Value = serde_json::from_str(&fixture("token-response.json")).expect("json");
    body["access_token"] = ISSUED.into();
    axum::Json(body).into_response()
}

async fn member(
    State(sim): Shared,
    headers: HeaderMap,
    Path((conversation, member)): Path<(String, String)>,
) -> Response {
    if let Some(fault) = first(&sim, "member", format!("member {conversation} {member}")) {
        return fault;
    }
    if let Some(refused) = unauthorized(&headers) {
        return refused;
    }
    let email = sim.lock().expect("lock").members.get(&member).cloned();
    let Some(email) = email else {
        let body = json!({"error": {"code": "MemberNotFoundInConversation", "message": "The member is not in the conversation."}});
        return (StatusCode::NOT_FOUND, axum::Json(body)).into_response();
    };
    let mut account: Value =
        serde_json::from_str(&fixture("conversation-member.json")).expect("json");
    account["id"] = member.into();
    account["email"] = email.clone().into();
    account["userPrincipalName"] = email.into();
    axum::Json(account).into_response()
}

/// A Connector call that takes an activity: recorded, answered with its id.
fn taken(sim: &Arc<Mutex<Sim>>, verb: &str, path: String, body: Value, id: String) -> Response {
    let mut sim = sim.lock().expect("lock");
    sim.sent.push((verb.into(), path, body));
    axum::Json(json!({ "id": id })).into_response()
}

async fn to_conversation(
    State(sim): Shared,
    headers: HeaderMap,
    Path(conversation): Path<String>,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    if let Some(fault) = first(&sim, "post", format!("post {conversation}")) {
        return fault;
    }
    if let Some(refused) = unauthorized(&headers) {
        return refused;
    }
    let n = {
        let mut sim = sim.lock().expect("lock");
        sim.cards += 1;
        sim.cards
    };
    taken(&sim, "POST", conversation, body, format!("1:card-{n}"))
}

async fn reply(
    State(sim): Shared,
    headers: HeaderMap,
    Path((conversation, activity)): Path<(String, String)>,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    if let Some(fault) = first(&sim, "reply", format!("reply {conversation} {activity}")) {
        return fault;
    }
    if let Some(refused) = unauthorized(&headers) {
        return refused;
    }
    taken(
        &sim,
        "POST",
        format!("{conversation}/{activity}"),
        body,
        format!("1:{activity}-reply"),
    )
}

async fn update(
    State(sim): Shared,
    headers: HeaderMap,
    Path((conversation, activity)): Path<(String, String)>,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    if let Some(fault) = first(&sim, "update", format!("update {conversation} {activity}")) {
        return fault;
    }
    if let Some(refused) = unauthorized(&headers) {
        return refused;
    }
    taken(
        &sim,
        "PUT",
        format!("{conversation}/{activity}"),
        body,
        activity,
    )
}
