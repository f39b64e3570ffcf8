//! What each fuzz target runs (`fuzz/fuzz_targets/<name>.rs` is one call into here), so that the
//! inputs kept in `tests/fixtures/fuzz/<name>/` — the seeds, and every input a fuzzer found
//! that crashed a target — are replayed by the test suite too (`tests/it/fuzz_cases.rs`), with
//! no fuzzer installed. Each function feeds its bytes to the parser a receiver, the API or the
//! console uses, and asserts what must hold for any input.

use std::sync::OnceLock;

use axum::http::{HeaderMap, HeaderValue, header};

use crate::http::api::{Lifetimes, Role, Session, Sessions, Viewer};
use crate::http::console::AdminForm;

/// A target: what it runs on one input.
pub type Target = fn(&[u8]);

/// Every target, by name.
pub const TARGETS: [(&str, Target); 11] = [
    ("login_body", login_body),
    ("webhook_signature", webhook_signature),
    ("link_token", link_token),
    ("idp_bodies", idp_bodies),
    ("rules_json", rules_json),
    ("config_toml", config_toml),
    ("bulk_csv", bulk_csv),
    ("policies", policies),
    ("inventory_query", inventory_query),
    ("console_forms", console_forms),
    ("session_cookie", session_cookie),
];

const EPOCH: time::OffsetDateTime = time::OffsetDateTime::UNIX_EPOCH;

/// The login webhook's body, after its signature was verified.
pub fn login_body(data: &[u8]) {
    let _ = crate::sources::login::parse_login("msg_fuzz", data, EPOCH);
}

/// Standard Webhooks verification: id, timestamp and signature lines, then the body; never
/// accepted (no one here holds the secret's signatures).
pub fn webhook_signature(data: &[u8]) {
    use crate::sources::signature::{SignedHeaders, WebhookSecret, verify};
    let text = String::from_utf8_lossy(data);
    let mut parts = text.splitn(4, '\n');
    let (id, timestamp, signature) = (parts.next(), parts.next(), parts.next());
    let body = parts.next().unwrap_or_default().as_bytes();
    let Ok(secret) = WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw") else {
        unreachable!("a valid secret");
    };
    let headers = SignedHeaders {
        id,
        timestamp,
        signature,
    };
    assert!(verify(&[secret], &headers, body, 1_700_000_000, 300).is_err());
}

/// Signed email links: a token not signed with the ring's key is never accepted.
pub fn link_token(data: &[u8]) {
    let Ok(ring) = crate::links::KeyRing::new(&[("k1".into(), vec![7u8; 32])], "k1") else {
        unreachable!("a valid key ring");
    };
    assert!(
        ring.verify(&String::from_utf8_lossy(data), 1_700_000_000)
            .is_err()
    );
}

/// Okta's, Keycloak's and Service Management's bodies, as JSON after their signatures, and
/// Slack's forms (a slash command, a click's `payload`) as decoded once authenticated, and
/// Mailgun's signed forms, and Bot Framework activities.
pub fn idp_bodies(data: &[u8]) {
    // Slack's forms (a slash command, a click's `payload`), decoded as once authenticated.
    let mut slack = crate::sources::slack::SlackSourceConfig::default();
    slack.signing_secrets = vec!["a-long-enough-signing-secret".into()];
    slack.response_url_prefix = String::new();
    let Ok(Some(source)) = slack.source() else {
        unreachable!("a valid source");
    };
    let _ = source.decode("1700000000", data, EPOCH);
    let _ = source.decode_action("1700000000", data, EPOCH);
    if let Ok(payload) = crate::sources::slack::payload(data) {
        let _ = crate::sources::slack_forms::decode(source, "1700000000", data, &payload, EPOCH);
    }
    let _ = crate::sources::slack_forms::decode_event(source, data, EPOCH);
    let mut mail = crate::sources::mail::MailSourceConfig::default();
    mail.postmark_credentials = vec!["postmark:a-long-enough-password".into()];
    mail.mailgun_signing_keys = vec!["key-a-long-enough-signing-key".into()];
    let Ok(Some(mail)) = mail.source() else {
        unreachable!("a valid source");
    };
    let _ = mail.decode(data, EPOCH);
    // Mailgun's forms: the signature is checked before anything else in them is read.
    if let Ok(fields) = crate::sources::mailgun::Fields::urlencoded(data) {
        let _ = mail.decode_mailgun(&fields, EPOCH);
    }
    // A Bot Framework activity, as decoded once its token verified.
    let mut teams = crate::sources::teams::TeamsSourceConfig::default();
    teams.app_id = "c9e8c047-2a74-40a2-b28a-b162d5f5327c".into();
    let Ok(Some(teams)) = teams.source() else {
        unreachable!("a valid source");
    };
    if let Ok(activity) = serde_json::from_slice::<crate::sources::teams::Activity>(data) {
        let _ = teams.decode(&activity, EPOCH);
    }
    let Ok(body) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let _ = crate::sources::okta::logins(&body, EPOCH);
    let _ = crate::sources::keycloak::login(&body, data, EPOCH);
    let mut config = crate::sources::jsm::JsmSourceConfig::default();
    config.secrets = vec!["a-long-enough-shared-secret".into()];
    config.request_type_ids = vec!["25".into()];
    let Ok(source) = crate::sources::jsm::JsmSource::new(&config) else {
        unreachable!("a valid source");
    };
    let _ = crate::sources::jsm::classify(&source, &body);
}

/// The rules document (`PUT /api/v1/rules`, `reinstate rules import`): accepted only when it
/// is one JSON document with nothing after it.
pub fn rules_json(data: &[u8]) {
    if crate::domain::rules::RuleList::parse(data).is_ok() {
        assert!(serde_json::from_slice::<serde_json::Value>(data).is_ok());
    }
}

/// The configuration file.
pub fn config_toml(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = crate::config::Config::from_toml(text);
    }
}

/// A bulk action's CSV body: rows kept with their line numbers, in order, each with a first
/// cell and its second only when there is one.
pub fn bulk_csv(data: &[u8]) {
    let Ok(rows) = crate::http::api::reclaim::users_of_csv(data) else {
        return;
    };
    assert!(!rows.is_empty());
    let mut last = 0;
    for (line, cell, second) in rows {
        assert!(line > last, "line numbers in order");
        last = line;
        assert!(!cell.is_empty() && cell.trim() == cell);
        assert!(second.is_none_or(|s| !s.is_empty() && s.trim() == s));
    }
}

/// Reclamation policies (accepted only as one JSON document with nothing after it), and the
/// schedule with its time zone (first line, second line).
pub fn policies(data: &[u8]) {
    if crate::domain::reclaim::PolicyList::parse(data).is_ok() {
        assert!(serde_json::from_slice::<serde_json::Value>(data).is_ok());
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let (expr, zone) = text.split_once('\n').unwrap_or((text, "UTC"));
        let _ = crate::flows::reclaim::config::Schedule::parse(expr, zone);
    }
}

/// The inventory's query string, and a page's cursor (one written is read back the same).
pub fn inventory_query(data: &[u8]) {
    use crate::flows::inventory::query::{decode_cursor, encode_cursor};
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(uri) = format!("/api/v1/inventory/users?{text}").parse::<axum::http::Uri>() {
        let _ = crate::http::api::inventory::users_filter(&uri);
    }
    if let Ok(key) = decode_cursor(text) {
        assert_eq!(decode_cursor(&encode_cursor(&key)).ok(), Some(key));
    }
}

/// The console's rules editor: any posted form read into rules, errors on their rules.
pub fn console_forms(data: &[u8]) {
    let form = AdminForm {
        session: Session {
            id: String::new(),
            actor: "admin:fuzz".into(),
            role: Role::Admin,
            csrf: String::new(),
        },
        fields: url::form_urlencoded::parse(data).into_owned().collect(),
    };
    let (rules, errors) = crate::http::console::rules::read(&form);
    assert!(rules.len() <= 10_000);
    assert!(errors.iter().all(|((i, _), _)| *i < rules.len()));
}

/// The console's session cookie: whatever a `Cookie` header holds, it signs in only with the
/// secret of a session that was opened.
pub fn session_cookie(data: &[u8]) {
    let (sessions, secret) = open_session();
    let Ok(value) = HeaderValue::from_bytes(data) else {
        return;
    };
    let mut headers = HeaderMap::new();
    headers.insert(header::COOKIE, value);
    if sessions.read(&headers).is_some() {
        assert!(String::from_utf8_lossy(data).contains(secret.as_str()));
    }
}

/// Where `session_cookie` keeps its temporary store: one per process, to remove when done.
pub fn scratch_dir() -> std::path::PathBuf {
    std::env::temp_dir().join(format!("reinstate-fuzz-{}", std::process::id()))
}

/// One session opened in a temporary store, once per process, and its cookie's secret.
fn open_session() -> &'static (Sessions, String) {
    static OPEN: OnceLock<(Sessions, String)> = OnceLock::new();
    OPEN.get_or_init(|| {
        let dir = scratch_dir();
        let Ok(store) = crate::store::Store::open(&dir) else {
            panic!("{}: a temporary store could not be opened", dir.display());
        };
        let lifetimes = Lifetimes {
            ttl_secs: 3600,
            idle_secs: 3600,
        };
        let sessions = Sessions::new(store, lifetimes, false, Default::default());
        let who = Viewer {
            actor: "admin:fuzz".into(),
            role: Role::Admin,
        };
        let peer = std::net::SocketAddr::from(([127, 0, 0, 1], 1));
        let Ok(cookie) = sessions.open(&who, "the token", peer, &HeaderMap::new()) else {
            panic!("a session could not be opened");
        };
        let secret = cookie
            .split(';')
            .next()
            .and_then(|pair| pair.split_once('='))
            .map(|(_, v)| v.to_string())
            .unwrap_or_default();
        (sessions, secret)
    })
}
