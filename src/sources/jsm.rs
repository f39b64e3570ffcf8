//! Jira Service Management requests: `POST /v1/hooks/jira`, signed with
//! `X-Hub-Signature: sha256=<hex>` (HMAC-SHA256 of the raw body), deduplicated on
//! `X-Atlassian-Webhook-Identifier`. A new request of a configured "restore my access" type
//! becomes a restore decided by the rules; a status change to the approved status restores, to
//! the declined status denies. Jira webhooks and Automation "send web request" bodies both work.
//!
//! A delivery that lacks the reporter's email, the request type or the new status is published
//! as a `jsm_update`: the worker reads what is missing from Jira, then classifies it here.

use std::sync::OnceLock;

use axum::http::HeaderMap;
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::Value;
use time::OffsetDateTime;

use super::signature::BodySecrets;
use super::{Decoded, Rejected, Webhook, header};
use crate::domain::{
    Email, Event, EventKind, EventUser, JsmChange, JsmDelivery, Problems, Product, Source,
};

pub const HEADER_SIGNATURE: &str = "x-hub-signature";
pub const HEADER_IDENTIFIER: &str = "x-atlassian-webhook-identifier";
const MAX_TOLERANCE_SECS: u64 = 24 * 3600;

/// `[sources.jsm]`
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JsmSourceConfig {
    /// Secrets of the Jira webhook (`X-Hub-Signature: sha256=…`); several while rotating.
    pub secrets: Vec<SecretString>,
    /// Request type ids that mean "restore my access".
    pub request_type_ids: Vec<String>,
    /// The custom field carrying the request type in webhooks (site-specific).
    pub request_type_field: String,
    /// Status ids that mean approved (restore) and declined (deny).
    pub approved_status_ids: Vec<String>,
    pub declined_status_ids: Vec<String>,
    /// Transition to apply after reinstate restored access itself (e.g. to "Resolved").
    pub transition_id: Option<String>,
    /// The product these requests are for; absent = every product the rules allow (and an
    /// approval in JSM then restores every product the site licenses).
    pub product: Option<Product>,
    /// How far a delivery's own `timestamp` may be from now: Jira delivers late (up to about
    /// 30 minutes) but an older delivery is a replay.
    pub tolerance_secs: u64,
    #[serde(skip)]
    built: OnceLock<Result<JsmSource, Problems>>,
}

impl Default for JsmSourceConfig {
    fn default() -> Self {
        Self {
            secrets: Vec::new(),
            request_type_ids: Vec::new(),
            request_type_field: "customfield_10010".into(),
            approved_status_ids: Vec::new(),
            declined_status_ids: Vec::new(),
            transition_id: None,
            product: None,
            tolerance_secs: 3600,
            built: OnceLock::new(),
        }
    }
}

impl JsmSourceConfig {
    /// The source, built once; `None` while no secret is configured (the source is off).
    pub fn source(&self) -> Result<Option<&JsmSource>, &Problems> {
        if self.secrets.is_empty() {
            return Ok(None);
        }
        let built = self.built.get_or_init(|| JsmSource::new(self));
        built.as_ref().map(Some)
    }

    pub fn check(&self, problems: &mut Problems) {
        if self.secrets.is_empty() {
            return;
        }
        if let Err(e) = self.source() {
            problems.extend(e.clone().into_vec());
        }
        if !(1..=MAX_TOLERANCE_SECS).contains(&self.tolerance_secs) {
            problems.add(
                "sources.jsm.tolerance_secs",
                format!("between 1 and {MAX_TOLERANCE_SECS} (a day)"),
            );
        }
        if self.request_type_ids.is_empty() {
            problems.add(
                "sources.jsm.request_type_ids",
                "name the request types that mean \"restore my access\"",
            );
        }
    }
}

/// The JSM source as configured.
#[derive(Clone, Debug)]
pub struct JsmSource {
    secrets: BodySecrets,
    pub request_type_ids: Vec<String>,
    pub request_type_field: String,
    pub approved_status_ids: Vec<String>,
    pub declined_status_ids: Vec<String>,
    pub product: Option<Product>,
    tolerance_secs: i64,
}

impl JsmSource {
    pub fn new(config: &JsmSourceConfig) -> Result<JsmSource, Problems> {
        let secrets = BodySecrets::new("sources.jsm.secrets", &config.secrets)?;
        Ok(JsmSource {
            secrets,
            request_type_ids: config.request_type_ids.clone(),
            request_type_field: config.request_type_field.clone(),
            approved_status_ids: config.approved_status_ids.clone(),
            declined_status_ids: config.declined_status_ids.clone(),
            product: config.product,
            tolerance_secs: config.tolerance_secs as i64,
        })
    }

    /// `sha256=<hex>` over the raw body, against every configured secret, in constant time.
    pub fn verify(&self, header: Option<&str>, body: &[u8]) -> bool {
        let Some(sig) = header
            .and_then(|h| h.trim().strip_prefix("sha256="))
            .and_then(|h| hex::decode(h).ok())
        else {
            return false;
        };
        self.secrets.verify(&[sig], body)
    }
}

/// What a JSM delivery asks reinstate to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JsmAction {
    /// A new "restore my access" request from this reporter.
    Created { issue: String, reporter: Reporter },
    /// The request moved to the approved status.
    Approved { issue: String, reporter: Reporter },
    /// The request moved to the declined status.
    Declined { issue: String, reporter: Reporter },
    /// Nothing for reinstate (another request type, another status, another event).
    Ignore(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reporter {
    pub account_id: Option<String>,
    pub email: Option<String>,
}

/// What a delivery says about its request, whatever its shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    pub issue: String,
    pub reporter: Reporter,
    pub delivery: JsmDelivery,
}

impl Facts {
    /// Whether the request type or the new status is still unknown (the worker reads them).
    pub fn incomplete(&self) -> bool {
        self.delivery.request_type.is_none()
            || (self.delivery.change == JsmChange::StatusChanged && self.delivery.status.is_none())
    }
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut cur = v;
    for p in path {
        cur = cur.get(p)?;
    }
    match cur {
        Value::String(s) => Some(s.as_str()),
        _ => None,
    }
}

/// What a delivery turned out to be about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reading {
    /// A change of a request reinstate may care about.
    Request(Facts),
    /// Something else (another event), and why it is ignored.
    Other(String),
}

/// Reads a Jira webhook (`webhookEvent`, `issue`, `changelog`) or an Automation body (`issue`
/// with `fields`, plus `event`: `created` | `status_changed`); `Err` names a missing field.
pub fn facts(source: &JsmSource, body: &Value) -> Result<Reading, Rejected> {
    let issue = body
        .get("issue")
        .ok_or_else(|| Rejected::invalid("issue: missing"))?;
    let key = str_at(issue, &["key"]).ok_or_else(|| Rejected::invalid("issue.key: missing"))?;
    let fields = issue.get("fields").cloned().unwrap_or(Value::Null);
    let event = body
        .get("webhookEvent")
        .and_then(Value::as_str)
        .or_else(|| body.get("event").and_then(Value::as_str))
        .unwrap_or_default();
    let change = match event {
        "jira:issue_created" | "issue_created" | "created" => JsmChange::Created,
        "jira:issue_updated" | "issue_updated" | "status_changed" => JsmChange::StatusChanged,
        other => return Ok(Reading::Other(format!("event {other:?} is not handled"))),
    };
    // The new status: from the changelog (webhooks), else the issue's current status.
    let status = body
        .pointer("/changelog/items")
        .and_then(Value::as_array)
        .and_then(|items| items.iter().find(|i| i["field"] == "status"))
        .and_then(|i| i.get("to").and_then(Value::as_str))
        .or_else(|| str_at(&fields, &["status", "id"]))
        .map(String::from);
    let request_type = str_at(
        &fields,
        &[source.request_type_field.as_str(), "requestType", "id"],
    );
    Ok(Reading::Request(Facts {
        issue: key.to_string(),
        reporter: Reporter {
            account_id: str_at(&fields, &["reporter", "accountId"]).map(String::from),
            email: str_at(&fields, &["reporter", "emailAddress"]).map(String::from),
        },
        delivery: JsmDelivery {
            change,
            request_type: request_type.map(String::from),
            status,
        },
    }))
}

/// What the facts mean, by the configured request types and statuses. Pure.
pub fn classify_facts(source: &JsmSource, facts: Facts) -> JsmAction {
    let Facts {
        issue,
        reporter,
        delivery,
    } = facts;
    let ours = |t: &Option<String>| {
        t.as_ref()
            .is_some_and(|t| source.request_type_ids.contains(t))
    };
    match delivery.change {
        JsmChange::Created if ours(&delivery.request_type) => {
            JsmAction::Created { issue, reporter }
        }
        JsmChange::Created => JsmAction::Ignore(format!(
            "{issue} is not a configured request type ({:?})",
            delivery.request_type
        )),
        JsmChange::StatusChanged
            if delivery.request_type.is_some() && !ours(&delivery.request_type) =>
        {
            JsmAction::Ignore(format!("{issue} is not a configured request type"))
        }
        JsmChange::StatusChanged => match delivery.status {
            Some(s) if source.approved_status_ids.contains(&s) => {
                JsmAction::Approved { issue, reporter }
            }
            Some(s) if source.declined_status_ids.contains(&s) => {
                JsmAction::Declined { issue, reporter }
            }
            other => JsmAction::Ignore(format!(
                "{issue}: status {other:?} means nothing to reinstate"
            )),
        },
    }
}

/// Reads a delivery and classifies it as it stands. Pure.
pub fn classify(source: &JsmSource, body: &Value) -> Result<JsmAction, Rejected> {
    Ok(match facts(source, body)? {
        Reading::Request(facts) => classify_facts(source, facts),
        Reading::Other(why) => JsmAction::Ignore(why),
    })
}

/// The event an action makes, with the id of its delivery; `Err` when it makes none (ignored,
/// or the reporter's email is unknown).
pub fn event(source: &JsmSource, delivery: &str, action: JsmAction) -> Result<Event, Rejected> {
    let (kind, issue, reporter) = match action {
        JsmAction::Created { issue, reporter } => (EventKind::Restore, issue, reporter),
        JsmAction::Approved { issue, reporter } => (EventKind::Approve, issue, reporter),
        JsmAction::Declined { issue, reporter } => (EventKind::Decline, issue, reporter),
        JsmAction::Ignore(why) => return Err(Rejected::invalid(why)),
    };
    let email = reporter.email.as_deref().ok_or_else(|| {
        Rejected::invalid(
            "issue.fields.reporter.emailAddress: missing (hidden by the user's privacy \
             settings, or the webhook's user cannot see emails)",
        )
    })?;
    let email = Email::parse(email)
        .map_err(|e| Rejected::invalid(format!("issue.fields.reporter.emailAddress: {e}")))?;
    Ok(Event {
        issue: Some(issue),
        ..Event::new(
            Source::Jsm,
            delivery,
            kind,
            EventUser::new(email, reporter.account_id),
            source.product,
            OffsetDateTime::now_utc(),
        )
    })
}

impl Webhook for JsmSource {
    fn authenticate(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        _now: OffsetDateTime,
    ) -> Result<Option<String>, Rejected> {
        if !self.verify(header(headers, HEADER_SIGNATURE), body) {
            return Err(Rejected::unauthenticated(
                "invalid_signature",
                "X-Hub-Signature is missing or does not match any configured secret",
            ));
        }
        // The signed bytes identify a delivery. Jira's `X-Atlassian-Webhook-Identifier` is not
        // signed: the same bytes resent under a new identifier are the same delivery.
        if let Some(identifier) = header(headers, HEADER_IDENTIFIER) {
            tracing::debug!(%identifier, "Service Management delivery");
        }
        Ok(Some(format!("body-{}", super::body_hash(body))))
    }

    fn decode(
        &self,
        delivery_id: Option<&str>,
        body: &[u8],
        now: OffsetDateTime,
    ) -> Result<Decoded, Rejected> {
        let delivery = delivery_id.unwrap_or_default();
        let body = super::json(body)?;
        self.fresh(&body, now)?;
        let facts = match facts(self, &body)? {
            Reading::Request(facts) => facts,
            Reading::Other(why) => return Ok(Decoded::Ignored(why)),
        };
        if facts.incomplete() || facts.reporter.email.is_none() {
            return Ok(Decoded::One(Box::new(update(self, delivery, facts))));
        }
        match classify_facts(self, facts) {
            JsmAction::Ignore(why) => Ok(Decoded::Ignored(why)),
            action => event(self, delivery, action).map(|e| Decoded::One(Box::new(e))),
        }
    }
}

impl JsmSource {
    /// A delivery's own `timestamp` (epoch milliseconds, signed with the body) within the
    /// tolerance: an old delivery sent again, under whatever identifier, is refused.
    fn fresh(&self, body: &Value, now: OffsetDateTime) -> Result<(), Rejected> {
        let ms = body.get("timestamp").and_then(Value::as_i64).ok_or_else(|| {
            Rejected::invalid(
                "timestamp: missing (Jira webhooks and Automation bodies carry it; without it a \
                 delivery could be replayed at any time)",
            )
        })?;
        let skew = now.unix_timestamp() - ms.div_euclid(1000);
        if skew.abs() > self.tolerance_secs {
            return Err(Rejected::unauthenticated(
                "timestamp_out_of_tolerance",
                format!(
                    "the delivery's timestamp is {skew} seconds away from now, outside \
                     sources.jsm.tolerance_secs ({})",
                    self.tolerance_secs
                ),
            ));
        }
        Ok(())
    }
}

/// A `jsm_update`: what the delivery said, for the worker to complete from Jira.
fn update(source: &JsmSource, delivery: &str, facts: Facts) -> Event {
    let email = facts
        .reporter
        .email
        .as_deref()
        .and_then(|e| Email::parse(e).ok());
    Event {
        issue: Some(facts.issue),
        jsm: Some(facts.delivery),
        ..Event::new(
            Source::Jsm,
            delivery,
            EventKind::JsmUpdate,
            EventUser {
                email,
                account_id: facts.reporter.account_id,
                username: None,
                roles: vec![],
                groups: vec![],
            },
            source.product,
            OffsetDateTime::now_utc(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hmac::{Hmac, Mac};
    use serde_json::json;
    use sha2::Sha256;

    fn source() -> JsmSource {
        JsmSource::new(&JsmSourceConfig {
            secrets: vec![
                "old-secret-0123456789".to_string().into(),
                "new-secret-0123456789".to_string().into(),
            ],
            request_type_ids: vec!["25".into()],
            approved_status_ids: vec!["10001".into()],
            declined_status_ids: vec!["10002".into()],
            ..Default::default()
        })
        .expect("source")
    }

    fn sign(secret: &str, body: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("key");
        mac.update(body);
        format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
    }

    #[test]
    fn signatures_are_checked_over_the_raw_body_with_every_secret() {
        let s = source();
        let body = br#"{"issue":{}}"#;
        assert!(s.verify(Some(&sign("old-secret-0123456789", body)), body));
        assert!(s.verify(Some(&sign("new-secret-0123456789", body)), body));
        assert!(!s.verify(Some(&sign("another-secret-0123456", body)), body));
        assert!(!s.verify(Some(&sign("new-secret-0123456789", b"{}")), body));
        assert!(!s.verify(None, body));
        assert!(!s.verify(Some("sha1=abcd"), body));
    }

    fn issue(request_type: &str, status: &str) -> Value {
        json!({"key": "HELP-7", "fields": {
            "reporter": {"accountId": "acc-zed", "emailAddress": "zed@example.com"},
            "status": {"id": status},
            "customfield_10010": {"requestType": {"id": request_type}}}})
    }

    #[test]
    fn created_requests_of_the_configured_type_become_restores() {
        let s = source();
        let created = json!({"webhookEvent": "jira:issue_created", "issue": issue("25", "1")});
        assert!(
            matches!(classify(&s, &created), Ok(JsmAction::Created { ref issue, .. }) if issue == "HELP-7")
        );
        let other = json!({"webhookEvent": "jira:issue_created", "issue": issue("99", "1")});
        assert!(matches!(classify(&s, &other), Ok(JsmAction::Ignore(_))));
        let automation = json!({"event": "created", "issue": issue("25", "1")});
        assert!(matches!(
            classify(&s, &automation),
            Ok(JsmAction::Created { .. })
        ));
    }

    #[test]
    fn status_changes_to_approved_or_declined_are_recognised() {
        let s = source();
        let approved = json!({"webhookEvent": "jira:issue_updated", "issue": issue("25", "10001"),
                              "changelog": {"items": [{"field": "status", "from": "1", "to": "10001"}]}});
        assert!(matches!(
            classify(&s, &approved),
            Ok(JsmAction::Approved { .. })
        ));
        let declined = json!({"event": "status_changed", "issue": issue("25", "10002")});
        assert!(matches!(
            classify(&s, &declined),
            Ok(JsmAction::Declined { .. })
        ));
        let other = json!({"webhookEvent": "jira:issue_updated", "issue": issue("25", "3")});
        assert!(matches!(classify(&s, &other), Ok(JsmAction::Ignore(_))));
        assert!(classify(&s, &json!({"webhookEvent": "jira:issue_created"})).is_err());
    }

    #[test]
    fn a_delivery_that_lacks_details_is_left_to_the_worker() {
        let s = source();
        let now = OffsetDateTime::now_utc();
        let ms = now.unix_timestamp() * 1000;
        let bare = json!({"timestamp": ms, "event": "created", "issue": {"key": "HELP-7"}});
        let Decoded::One(event) = s
            .decode(Some("d-1"), bare.to_string().as_bytes(), now)
            .expect("decoded")
        else {
            panic!("one event expected");
        };
        assert_eq!(event.kind, EventKind::JsmUpdate);
        assert_eq!(event.issue.as_deref(), Some("HELP-7"));
        assert_eq!(event.user.email, None);
        assert_eq!(
            event.jsm.map(|d| d.change),
            Some(JsmChange::Created),
            "what it said travels with it"
        );
    }

    #[test]
    fn a_delivery_without_its_time_or_outside_the_tolerance_is_refused() {
        let s = source();
        let now = OffsetDateTime::now_utc();
        let at = |ms: Option<i64>| {
            let mut body = json!({"event": "created", "issue": {"key": "HELP-7"}});
            if let Some(ms) = ms {
                body["timestamp"] = json!(ms);
            }
            s.decode(Some("d"), body.to_string().as_bytes(), now)
        };
        let ms = now.unix_timestamp() * 1000;
        assert!(at(Some(ms - 3_600_000)).is_ok(), "an hour late is in time");
        for (ms, code) in [
            (None, "invalid_event"),
            (Some(ms - 3_601_000), "timestamp_out_of_tolerance"),
            (Some(ms + 3_601_000), "timestamp_out_of_tolerance"),
        ] {
            assert_eq!(at(ms).expect_err("refused").code, code, "{ms:?}");
        }
    }
}
