//! Shared harness: the real application on a random port, against a real nats-server (or the
//! embedded queue), a temporary sled directory and the Jira Cloud simulator.

pub mod browser;
pub mod contract;
pub mod jira_sim;
pub mod nats;
pub mod okta_sim;
pub mod process;
pub mod slack_sim;
pub mod smtp;
pub mod teams_sim;

use std::time::{Duration, Instant};

use reinstate::sources::signature::WebhookSecret;
use reinstate::{Application, Config};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use slack_sim::{SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET};

pub use jira_sim::{CONFLUENCE_GROUP, Call, Chaos, Fault, JiraSim, SIM_TOKEN};
pub use nats::NatsServer;
pub use process::{
    Service, post_login, put_standard_rules, send_login, spawn_service, start_service,
    start_service_with, wait_all_handled, wait_live_at, write_config,
};
pub use smtp::SmtpSink;

/// The two Standard Webhooks secrets configured (rotation: both valid).
pub const SECRET_A: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
pub const SECRET_B: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789";
pub const VIEWER_TOKEN: &str = "test-viewer-token-9876543210";
/// The Okta Event Hook's secret (sent in `Authorization`) and Keycloak's HMAC secret in tests.
pub const OKTA_SECRET: &str = "okta-hook-secret-0123456789";
pub const KEYCLOAK_SECRET: &str = "keycloak-secret-0123456789";

/// The Jira webhook secret configured in tests.
pub const JSM_SECRET: &str = "jsm-webhook-secret-0123456789";

/// The link key configured in tests (`k1`, active).
pub const LINK_SECRET: &str = "test-link-secret-0123456789abcdef0123";

/// The key ring the test service signs links with.
pub fn link_keys() -> reinstate::links::KeyRing {
    reinstate::links::KeyRing::new(&[("k1".into(), LINK_SECRET.as_bytes().to_vec())], "k1")
        .expect("keys")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BusMode {
    Nats,
    Embedded,
}

/// Runs one scenario against both bus implementations.
#[macro_export]
macro_rules! both_buses {
    ($scenario:ident) => {
        mod $scenario {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn with_nats() {
                super::$scenario($crate::support::BusMode::Nats).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn with_embedded_queue() {
                super::$scenario($crate::support::BusMode::Embedded).await
            }
        }
    };
}

pub struct TestApp {
    pub url: String,
    pub http: reqwest::Client,
    pub sim: JiraSim,
    pub smtp: SmtpSink,
    pub nats: Option<NatsServer>,
    app: Option<Application>,
    /// The configuration, without `[server]` (a restart listens on a new port).
    toml: String,
    _dir: tempfile::TempDir,
}

/// The Basic credentials of the test service's Postmark inbound webhook.
pub const MAIL_CREDENTIALS: &str = "postmark:0123456789abcdef-inbound";
/// The Mailgun webhook signing key of the default test configuration.
pub const MAILGUN_KEY: &str = "key-0123456789abcdef-mailgun";

/// Admins who receive alerts in tests.
pub const ALERT_EMAIL: &str = "admins@example.com";

/// Settings a test may change.
pub struct Options {
    pub max_deliver: u32,
    /// Start with NATS stopped (its port known), to test starting without the bus.
    pub nats_down_at_start: bool,
    pub ack_wait_secs: u64,
    pub request_timeout_ms: u64,
    /// Extra sections appended to the configuration.
    pub extra_toml: String,
    /// Extra keys of the `[directory]` section. In both, `{SIM_URL}` is the simulator's URL.
    pub directory_toml: String,
    /// `directory.kind` (`jira-cloud` unless set).
    pub directory_kind: &'static str,
    /// The sled directory (a fresh temporary one unless set).
    pub store_path: Option<std::path::PathBuf>,
    /// Extra keys of the `[store]` section.
    pub store_toml: String,
    /// `inventory.sync_every` ("0s": on demand only, so tests sync when they ask).
    pub sync_every: &'static str,
    /// Extra keys of the `[sources.keycloak]` section.
    pub keycloak_toml: String,
    /// Extra keys of the `[sources.slack]` section (its secret and bot token are set).
    pub slack_toml: String,
    /// Extra keys of the `[sources.mail]` section (its credentials, `MAIL_CREDENTIALS`, are set).
    pub mail_toml: String,
    /// Extra keys of the `[sources.okta]` section.
    pub okta_toml: String,
    /// The keys of the `[sources.teams]` section (only the app id unless set: the receiver
    /// is on, nothing answers it).
    pub teams_toml: String,
    /// Extra keys of the `[server]` section.
    pub server_toml: String,
    /// Faults the simulator answers before the service starts (path, fault), for what a
    /// first start meets.
    pub faults_at_start: Vec<(&'static str, Fault)>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            max_deliver: 6,
            nats_down_at_start: false,
            ack_wait_secs: 10,
            request_timeout_ms: 2000,
            extra_toml: String::new(),
            directory_toml: String::new(),
            directory_kind: "jira-cloud",
            store_path: None,
            store_toml: String::new(),
            sync_every: "0s",
            keycloak_toml: String::new(),
            slack_toml: String::new(),
            mail_toml: String::new(),
            okta_toml: String::new(),
            teams_toml: format!(
                "app_id = \"{}\"\napp_secret = \"{}\"\n",
                teams_sim::TEAMS_APP_ID,
                teams_sim::TEAMS_APP_SECRET
            ),
            server_toml: String::new(),
            faults_at_start: Vec::new(),
        }
    }
}

impl TestApp {
    pub async fn start(mode: BusMode) -> TestApp {
        Self::start_with(mode, Options::default()).await
    }

    pub async fn start_with(mode: BusMode, mut options: Options) -> TestApp {
        let sim = JiraSim::start().await;
        for (path, fault) in std::mem::take(&mut options.faults_at_start) {
            sim.push_fault_on(path, fault);
        }
        let smtp = SmtpSink::start().await;
        let mut nats = (mode == BusMode::Nats).then(NatsServer::start);
        if options.nats_down_at_start {
            nats.as_mut().expect("nats mode").stop();
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let nats_line = nats
            .as_ref()
            .map(|n| format!("nats_url = \"{}\"", n.url()))
            .unwrap_or_default();
        let toml = format!(
            r#"{server_extra}
[smtp]
url = "{smtp_url}"
from = "reinstate@example.com"
[links]
keys = [{{ id = "k1", secret = "{LINK_SECRET}" }}]
active = "k1"
[alerts]
emails = ["{ALERT_EMAIL}"]
seat_threshold_percent = 90
[store]
path = "{store}"
{store_extra}
[bus]
{nats_line}
publish_timeout_ms = 1000
ack_wait_secs = {ack_wait}
[sources.login]
secrets = ["{SECRET_A}", "{SECRET_B}"]
[sources.okta]
secrets = ["{OKTA_SECRET}"]
{okta_extra}
[sources.keycloak]
secrets = ["{KEYCLOAK_SECRET}"]
{keycloak_extra}
[sources.slack]
signing_secrets = ["{SLACK_SIGNING_SECRET}"]
bot_token = "{SLACK_BOT_TOKEN}"
{slack_extra}
[sources.mail]
postmark_credentials = ["{MAIL_CREDENTIALS}"]
mailgun_signing_keys = ["{MAILGUN_KEY}"]
{mail_extra}
[sources.teams]
{teams_keys}
[sources.jsm]
secrets = ["{JSM_SECRET}"]
request_type_ids = ["25"]
approved_status_ids = ["10001"]
declined_status_ids = ["10002"]
transition_id = "31"
product = "jira-software"
[directory]
kind = "{kind}"
site_url = "{site}"
{email}
api_token = "{token}"
request_timeout_ms = {request_timeout}
max_retries = 2
retry_initial_ms = 50
retry_max_ms = 1500
{directory_extra}
[worker]
concurrency = 4
max_deliver = {max_deliver}
backoff_initial_ms = 100
backoff_max_ms = 800
[inventory]
sync_every = "{sync_every}"
[admin]
token_sha256 = ["{admin}"]
viewer_token_sha256 = ["{viewer}"]
{extra}
"#,
            store = options
                .store_path
                .clone()
                .unwrap_or_else(|| dir.path().join("state"))
                .display(),
            smtp_url = smtp.url(),
            ack_wait = options.ack_wait_secs,
            request_timeout = options.request_timeout_ms,
            extra = options.extra_toml.replace("{SIM_URL}", &sim.url),
            directory_extra = options.directory_toml.replace("{SIM_URL}", &sim.url),
            store_extra = options.store_toml,
            keycloak_extra = options.keycloak_toml,
            slack_extra = options.slack_toml,
            mail_extra = options.mail_toml,
            teams_keys = options.teams_toml,
            okta_extra = options.okta_toml,
            server_extra = options.server_toml,
            site = sim.url,
            kind = options.directory_kind,
            // Data Center uses the token alone, as a bearer personal access token.
            email = if options.directory_kind.contains("cloud") {
                format!("email = \"{}\"", jira_sim::SIM_EMAIL)
            } else {
                String::new()
            },
            token = jira_sim::SIM_TOKEN,
            max_deliver = options.max_deliver,
            sync_every = options.sync_every,
            admin = hex::encode(Sha256::digest(ADMIN_TOKEN.as_bytes())),
            viewer = hex::encode(Sha256::digest(VIEWER_TOKEN.as_bytes())),
        );
        let app = build(&toml, listener).await;
        let test = TestApp {
            url: format!("http://{addr}"),
            http: reqwest::Client::new(),
            sim,
            smtp,
            nats,
            app: Some(app),
            toml,
            _dir: dir,
        };
        if !options.nats_down_at_start {
            test.wait_ready().await;
        }
        test
    }

    pub async fn wait_ready(&self) {
        wait_ready_at(&self.url).await;
    }

    /// Stops the service and starts it again on the same state (on a new port).
    pub async fn restart(&mut self) {
        self.stop().await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        self.url = format!("http://{}", listener.local_addr().expect("addr"));
        self.app = Some(build(&self.toml, listener).await);
        self.wait_ready().await;
    }

    /// Changes the configuration the next `restart` starts with.
    pub fn reconfigure(&mut self, edit: impl FnOnce(&str) -> String) {
        self.toml = edit(&self.toml);
    }

    /// The running service's store.
    pub fn store(&self) -> &reinstate::store::Store {
        self.app
            .as_ref()
            .and_then(|a| a.store())
            .expect("a running state process")
    }

    /// The paths the running service routes.
    pub fn routes(&self) -> Vec<&'static str> {
        self.app
            .as_ref()
            .map(|a| a.routes().to_vec())
            .unwrap_or_default()
    }

    pub async fn stop(&mut self) {
        if let Some(app) = self.app.take() {
            app.shutdown().await.expect("clean shutdown");
        }
    }

    /// Posts a login body with explicit headers (no signing done here).
    pub async fn post_login_raw(
        &self,
        body: Vec<u8>,
        headers: &[(&str, String)],
    ) -> reqwest::Response {
        let mut r = self
            .http
            .post(format!("{}/v1/hooks/login", self.url))
            .header("content-type", "application/json")
            .body(body);
        for (k, v) in headers {
            r = r.header(*k, v);
        }
        r.send().await.expect("request")
    }

    /// Posts a body signed with `secret` under `id`, timestamped now + `skew_secs`.
    pub async fn post_signed(
        &self,
        secret: &str,
        id: &str,
        body: Vec<u8>,
        skew_secs: i64,
    ) -> reqwest::Response {
        let ts = time::OffsetDateTime::now_utc().unix_timestamp() + skew_secs;
        let sig = WebhookSecret::parse(secret)
            .expect("secret")
            .sign(id, ts, &body);
        self.post_login_raw(
            body,
            &[
                ("webhook-id", id.to_string()),
                ("webhook-timestamp", ts.to_string()),
                ("webhook-signature", sig),
            ],
        )
        .await
    }

    /// A login body, correctly signed with a fresh id; returns the response.
    pub async fn post_login_json(&self, body: &Value) -> reqwest::Response {
        let bytes = serde_json::to_vec(body).expect("json");
        self.post_signed(SECRET_A, &new_id(), bytes, 0).await
    }

    /// A correctly signed login of `email`, with a fresh id; returns the response.
    pub async fn login(&self, email: &str, product: Option<&str>) -> reqwest::Response {
        self.post_signed(SECRET_A, &new_id(), login_body(email, product), 0)
            .await
    }

    pub async fn put_rules(&self, rules: Value) -> reqwest::Response {
        self.http
            .put(format!("{}/api/v1/rules", self.url))
            .bearer_auth(ADMIN_TOKEN)
            .json(&rules)
            .send()
            .await
            .expect("request")
    }

    /// `GET` an admin endpoint with the admin token; asserts 200 and returns the JSON.
    pub async fn admin_get(&self, path_and_query: &str) -> Value {
        let r = self
            .http
            .get(format!("{}{path_and_query}", self.url))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .expect("request");
        assert_eq!(r.status(), 200, "GET {path_and_query}");
        r.json().await.expect("json")
    }

    /// `POST` JSON to an admin endpoint with a token; returns the response.
    pub async fn admin_post(&self, token: &str, path: &str, body: &Value) -> reqwest::Response {
        self.http
            .post(format!("{}{path}", self.url))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .expect("request")
    }

    /// Asks for an inventory sync and waits until it has finished; returns the sync's state.
    pub async fn sync_inventory(&self) -> Value {
        let before = self.admin_get("/api/v1/inventory/sync").await["finished_at"].clone();
        let r = self
            .admin_post(ADMIN_TOKEN, "/api/v1/inventory/sync", &json!({}))
            .await;
        assert_eq!(r.status(), 202, "sync asked for");
        self.wait_synced(&before).await
    }

    /// Waits until a sync finishes after the one that finished at `before`.
    pub async fn wait_synced(&self, before: &Value) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let s = self.admin_get("/api/v1/inventory/sync").await;
            if s["state"] == "finished" && s["finished_at"] != *before {
                return s;
            }
            assert!(Instant::now() < deadline, "the sync did not finish: {s}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Audit entries of one outcome, newest first.
    pub async fn audit_of(&self, outcome: &str) -> Vec<Value> {
        let page = self
            .admin_get(&format!("/api/v1/audit?outcome={outcome}&limit=1000"))
            .await;
        page["entries"].as_array().cloned().unwrap_or_default()
    }

    /// Waits until the audit log holds `n` entries of `outcome`; returns them, newest first.
    pub async fn wait_for_entries(&self, outcome: &str, n: usize) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let entries = self.audit_of(outcome).await;
            if entries.len() >= n {
                return entries;
            }
            assert!(
                Instant::now() < deadline,
                "{n} {outcome} entries expected, found {entries:#?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// An Okta Event Hook delivery, with the configured secret.
    pub async fn post_okta(&self, delivery: &Value) -> reqwest::Response {
        self.http
            .post(format!("{}/v1/hooks/okta", self.url))
            .header("authorization", OKTA_SECRET)
            .json(delivery)
            .send()
            .await
            .expect("okta")
    }

    /// `GET /metrics`, as text.
    pub async fn metrics(&self) -> String {
        self.http
            .get(format!("{}/metrics", self.url))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text")
    }

    pub async fn audit(&self, email: &str) -> Vec<Value> {
        let r = self
            .http
            .get(format!("{}/api/v1/audit", self.url))
            .query(&[("user", email)])
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .expect("request");
        assert_eq!(r.status(), 200);
        let v: Value = r.json().await.expect("json");
        v["entries"].as_array().cloned().unwrap_or_default()
    }

    /// Logs the user in (asserting 202) and waits for the outcome in the audit.
    pub async fn login_and_wait(&self, email: &str, product: &str, outcome: &str) -> Value {
        assert_eq!(
            self.login(email, Some(product)).await.status(),
            202,
            "login of {email}"
        );
        self.wait_for_outcome(email, outcome).await
    }

    /// Waits until the user's audit has an entry with this outcome (the worker is asynchronous).
    pub async fn wait_for_outcome(&self, email: &str, outcome: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let entries = self.audit(email).await;
            if let Some(e) = entries.iter().find(|e| e["outcome"] == outcome) {
                return e.clone();
            }
            assert!(
                Instant::now() < deadline,
                "no {outcome} audit entry for {email}; audit: {entries:#?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

async fn build(toml: &str, listener: tokio::net::TcpListener) -> Application {
    let addr = listener.local_addr().expect("addr");
    let full = format!("[server]\nlisten = \"{addr}\"\npublic_url = \"http://{addr}\"\n{toml}");
    let config = Config::from_toml(&full).expect("test config is valid");
    Application::build(config, listener)
        .await
        .expect("app starts")
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(app) = self.app.take() {
            app.cancel_token().cancel();
        }
    }
}

/// A port nothing listens on now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// Waits until the reinstate at `url` answers `/readyz` with 200.
pub async fn wait_ready_at(url: &str) {
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !http
        .get(format!("{url}/readyz"))
        .send()
        .await
        .is_ok_and(|r| r.status() == 200)
    {
        assert!(
            Instant::now() < deadline,
            "reinstate at {url} did not become ready"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Emails waiting in the outbox of the reinstate at `url` (from `/readyz`).
pub async fn outbox_at(url: &str) -> u64 {
    let v: Value = reqwest::get(format!("{url}/readyz"))
        .await
        .expect("readyz")
        .json()
        .await
        .expect("json");
    v["outbox"]
        .as_u64()
        .unwrap_or_else(|| panic!("no outbox depth in {v}"))
}

/// Waits until the outbox of the reinstate at `url` holds exactly `n` emails.
pub async fn wait_outbox_at(url: &str, n: u64) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let depth = outbox_at(url).await;
        if depth == n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "outbox holds {depth} emails, expected {n}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub fn new_id() -> String {
    use rand::RngCore;
    let mut b = [0u8; 12];
    rand::rng().fill_bytes(&mut b);
    format!("msg_{}", hex::encode(b))
}

pub fn login_body(email: &str, product: Option<&str>) -> Vec<u8> {
    let mut v = json!({
        "type": "login.succeeded",
        "user": {"email": email, "roles": ["engineer"]},
        "occurred_at": time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).expect("format"),
    });
    if let Some(p) = product {
        v["product"] = p.into();
    }
    serde_json::to_vec(&v).expect("json")
}

/// The rules most tests use: example.com restores Jira Software; contractors are denied.
pub fn standard_rules() -> Value {
    json!({"rules": [
        {"name": "contractors never", "when": {"groups_any": ["contractors"]}, "then": "deny"},
        {"name": "staff get jira back", "when": {"domains": ["example.com"], "products": ["jira-software"]}, "then": "restore"}
    ]})
}

/// A client that shows redirects instead of following them.
pub fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// Signs in to the console with `token` (as the browser `tests/<token>`): the session's
/// `Cookie` pair.
pub async fn console_sign_in(app: &TestApp, token: &str) -> String {
    let r = no_redirects()
        .post(format!("{}/console/sign-in", app.url))
        .header("user-agent", format!("tests/{token}"))
        .form(&[("token", token)])
        .send()
        .await
        .expect("sign in");
    assert_eq!(r.status(), 303, "sign-in");
    cookie_pair(&r)
}

/// A console page as the signed-in `cookie` gets it, redirects not followed: (status, HTML).
pub async fn console_page(app: &TestApp, cookie: &str, path: &str) -> (u16, String) {
    let r = no_redirects()
        .get(format!("{}{path}", app.url))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {path}: {e}"));
    let status = r.status().as_u16();
    (status, r.text().await.expect("the page"))
}

/// A console form posted as the signed-in `cookie`, redirects not followed: its status, where
/// it redirects (when it does) and its body.
pub struct Posted {
    pub status: u16,
    pub location: Option<String>,
    pub body: String,
}

pub async fn console_post<K: AsRef<str>, V: AsRef<str>>(
    app: &TestApp,
    cookie: &str,
    path: &str,
    form: &[(K, V)],
) -> Posted {
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_ref(), v.as_ref())).collect();
    let r = no_redirects()
        .post(format!("{}{path}", app.url))
        .header("cookie", cookie)
        .form(&form)
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {path}: {e}"));
    let location = r
        .headers()
        .get("location")
        .map(|l| l.to_str().expect("location").to_string());
    Posted {
        status: r.status().as_u16(),
        location,
        body: r.text().await.expect("the body"),
    }
}

/// The CSRF token a console page's forms carry.
pub fn csrf_in(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").expect("a csrf field") + 19;
    let len = html[at..].find('"').expect("the value's end");
    html[at..at + len].to_string()
}

/// The `name=value` of a response's first `Set-Cookie`, to send back as `Cookie`.
pub fn cookie_pair(response: &reqwest::Response) -> String {
    response.headers()["set-cookie"]
        .to_str()
        .expect("cookie")
        .split(';')
        .next()
        .expect("pair")
        .to_string()
}

/// Waits for an email to `to` whose text holds each of `needles`.
pub async fn mail_eventually(app: &TestApp, to: &str, needles: &[&str]) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let mails = app.smtp.mails();
        if mails
            .iter()
            .any(|m| m.to == [to] && needles.iter().all(|n| m.text().contains(n)))
        {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no such mail to {to}: {mails:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
