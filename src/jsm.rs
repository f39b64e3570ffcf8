//! Jira Service Management requests: `POST /v1/hooks/jira`, signed with
//! `X-Hub-Signature: sha256=<hex>` (HMAC-SHA256 of the raw body), deduplicated on
//! `X-Atlassian-Webhook-Identifier`. A new request of a configured "restore my access" type
//! becomes a restore decided by the rules; a status change to the approved status restores, to
//! the declined status denies. Jira webhooks and Automation "send web request" bodies both work.

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde_json::Value;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::app::AppState;
use crate::event::{Email, Event, EventKind, EventUser, Source};
use crate::http_error::ApiError;

pub const HEADER_SIGNATURE: &str = "x-hub-signature";
pub const HEADER_IDENTIFIER: &str = "x-atlassian-webhook-identifier";

/// The JSM source as configured.
#[derive(Clone, Debug)]
pub struct JsmSource {
    secrets: crate::signature::BodySecrets,
    pub request_type_ids: Vec<String>,
    pub request_type_field: String,
    pub approved_status_ids: Vec<String>,
    pub declined_status_ids: Vec<String>,
    pub product: Option<crate::event::Product>,
}

impl JsmSource {
    pub fn new(config: &crate::config::JsmSourceConfig) -> Result<JsmSource, String> {
        let secrets = crate::signature::BodySecrets::new("sources.jsm.secrets", &config.secrets)?;
        Ok(JsmSource {
            secrets,
            request_type_ids: config.request_type_ids.clone(),
            request_type_field: config.request_type_field.clone(),
            approved_status_ids: config.approved_status_ids.clone(),
            declined_status_ids: config.declined_status_ids.clone(),
            product: config.product,
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

/// Reads a Jira webhook (`webhookEvent`, `issue`, `changelog`) or an Automation body (`issue`
/// with `fields`, plus `event`: `created` | `status_changed`).
pub fn classify(source: &JsmSource, body: &Value) -> Result<JsmAction, String> {
    let issue = body.get("issue").ok_or("issue: missing")?;
    let key = str_at(issue, &["key"])
        .ok_or("issue.key: missing")?
        .to_string();
    let fields = issue.get("fields").cloned().unwrap_or(Value::Null);
    let reporter = Reporter {
        account_id: str_at(&fields, &["reporter", "accountId"]).map(String::from),
        email: str_at(&fields, &["reporter", "emailAddress"]).map(String::from),
    };
    let request_type = str_at(
        &fields,
        &[source.request_type_field.as_str(), "requestType", "id"],
    )
    .map(String::from);
    let event = body
        .get("webhookEvent")
        .and_then(Value::as_str)
        .or_else(|| body.get("event").and_then(Value::as_str))
        .unwrap_or_default();
    let is_ours = || {
        request_type
            .as_ref()
            .is_none_or(|t| source.request_type_ids.contains(t))
    };
    match event {
        "jira:issue_created" | "issue_created" | "created" => {
            if request_type
                .as_ref()
                .is_some_and(|t| source.request_type_ids.contains(t))
            {
                Ok(JsmAction::Created {
                    issue: key,
                    reporter,
                })
            } else {
                Ok(JsmAction::Ignore(format!(
                    "{key} is not a configured request type ({request_type:?})"
                )))
            }
        }
        "jira:issue_updated" | "issue_updated" | "status_changed" => {
            if !is_ours() {
                return Ok(JsmAction::Ignore(format!(
                    "{key} is not a configured request type"
                )));
            }
            // The new status: from the changelog (webhooks), else the issue's current status.
            let changed = body
                .get("changelog")
                .and_then(|c| c.get("items"))
                .and_then(Value::as_array)
                .and_then(|items| {
                    items
                        .iter()
                        .find(|i| i.get("field").and_then(Value::as_str) == Some("status"))
                })
                .and_then(|i| i.get("to").and_then(Value::as_str))
                .or_else(|| str_at(&fields, &["status", "id"]))
                .map(String::from);
            match changed {
                Some(s) if source.approved_status_ids.contains(&s) => Ok(JsmAction::Approved {
                    issue: key,
                    reporter,
                }),
                Some(s) if source.declined_status_ids.contains(&s) => Ok(JsmAction::Declined {
                    issue: key,
                    reporter,
                }),
                other => Ok(JsmAction::Ignore(format!(
                    "{key}: status {other:?} means nothing to reinstate"
                ))),
            }
        }
        other => Ok(JsmAction::Ignore(format!("event {other:?} is not handled"))),
    }
}

fn is_status_change(body: &Value) -> bool {
    let event = body
        .get("webhookEvent")
        .or_else(|| body.get("event"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    matches!(
        event,
        "jira:issue_updated" | "issue_updated" | "status_changed"
    )
}

/// Fills in what a delivery lacks (the reporter's email, the request type, the new status)
/// from the Service Management API, so the rest reads one shape. A failed read answers 503:
/// Jira delivers again.
async fn enrich(state: &AppState, source: &JsmSource, body: &mut Value) -> Result<(), ApiError> {
    let Some(key) = body
        .pointer("/issue/key")
        .and_then(Value::as_str)
        .map(String::from)
    else {
        return Ok(()); // classify names the missing field
    };
    let type_pointer = format!("/issue/fields/{}/requestType/id", source.request_type_field);
    let needs_email = body
        .pointer("/issue/fields/reporter/emailAddress")
        .is_none();
    let needs_type = body.pointer(&type_pointer).is_none();
    let has_status = body.pointer("/issue/fields/status/id").is_some()
        || body
            .pointer("/changelog/items")
            .and_then(Value::as_array)
            .is_some_and(|i| i.iter().any(|i| i["field"] == "status"));
    let needs_approval = is_status_change(body) && !has_status;
    if !(needs_email || needs_type || needs_approval) {
        return Ok(());
    }
    let mut calls =
        crate::directory::CallLog::with_metrics(state.metrics.clone(), state.directory.kind());
    let request = state
        .directory
        .jsm_request(&key, needs_approval, &mut calls)
        .await
        .map_err(|e| {
            if e.is_transient() {
                ApiError::unavailable(format!(
                    "{key} could not be read from Jira Service Management: {e}"
                ))
            } else {
                ApiError::bad_request(
                    "invalid_event",
                    format!("the delivery lacks details and {key} could not be read: {e}"),
                )
            }
        })?;
    let issue = &mut body["issue"];
    if !issue["fields"].is_object() {
        issue["fields"] = serde_json::json!({});
    }
    let fields = &mut issue["fields"];
    if needs_email {
        if !fields["reporter"].is_object() {
            fields["reporter"] = serde_json::json!({});
        }
        if let Some(email) = &request.reporter_email {
            fields["reporter"]["emailAddress"] = Value::String(email.clone());
        }
        if fields["reporter"]["accountId"].is_null()
            && let Some(id) = &request.reporter_account_id
        {
            fields["reporter"]["accountId"] = Value::String(id.clone());
        }
    }
    if needs_type && let Some(t) = &request.request_type_id {
        fields[source.request_type_field.as_str()] =
            serde_json::json!({ "requestType": { "id": t } });
    }
    if needs_approval {
        let status = match request.approval.as_deref() {
            Some("approved") => source.approved_status_ids.first(),
            Some("declined") => source.declined_status_ids.first(),
            _ => None,
        };
        if let Some(s) = status {
            fields["status"] = serde_json::json!({ "id": s });
        }
    }
    Ok(())
}

/// `POST /v1/hooks/jira`
pub async fn hook(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let source = state.jsm.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_configured",
            "the Jira Service Management source is not configured",
        )
    })?;
    let body = crate::ingress::read_body(&headers, body, crate::ingress::MAX_BODY).await?;
    let signature = headers.get(HEADER_SIGNATURE).and_then(|v| v.to_str().ok());
    if !source.verify(signature, &body) {
        return Err(ApiError::unauthorized(
            "invalid_signature",
            "X-Hub-Signature is missing or does not match any configured secret",
        ));
    }
    let mut json: Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request("invalid_event", format!("body: {e}")))?;
    enrich(&state, source, &mut json).await?;
    let action = classify(source, &json).map_err(|e| ApiError::bad_request("invalid_event", e))?;
    // Jira's delivery id; Automation bodies have none, so their content identifies them.
    let delivery = headers
        .get(HEADER_IDENTIFIER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 128
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        .map(String::from)
        .unwrap_or_else(|| format!("body-{}", hex::encode(&Sha256::digest(&body)[..12])));
    let (kind, issue, reporter) = match action {
        JsmAction::Created { issue, reporter } => (EventKind::Restore, issue, reporter),
        JsmAction::Approved { issue, reporter } => (EventKind::Approve, issue, reporter),
        JsmAction::Declined { issue, reporter } => (EventKind::Decline, issue, reporter),
        JsmAction::Ignore(why) => {
            tracing::info!(%why, "JSM delivery ignored");
            return Ok((
                StatusCode::ACCEPTED,
                Json(serde_json::json!({ "status": "ignored", "detail": why })),
            ));
        }
    };
    let email = reporter
        .email
        .as_deref()
        .ok_or_else(|| {
            ApiError::bad_request(
                "invalid_event",
                "issue.fields.reporter.emailAddress: missing (hidden by the user's privacy settings, or the webhook's user cannot see emails)",
            )
        })
        .and_then(|e| Email::parse(e).map_err(|e| ApiError::bad_request("invalid_event", format!("issue.fields.reporter.emailAddress: {e}"))))?;
    let now = OffsetDateTime::now_utc();
    let event = Event {
        issue: Some(issue),
        ..Event::new(
            Source::Jsm,
            &delivery,
            kind,
            EventUser::new(email, reporter.account_id),
            source.product,
            now,
        )
    };
    crate::ingress::accept(&state, event).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use hmac::{Hmac, Mac};
    use serde_json::json;

    fn source() -> JsmSource {
        JsmSource::new(&crate::config::JsmSourceConfig {
            secrets: vec![
                "old-secret-0123456789".to_string().into(),
                "new-secret-0123456789".to_string().into(),
            ],
            request_type_ids: vec!["25".into()],
            request_type_field: "customfield_10010".into(),
            approved_status_ids: vec!["10001".into()],
            declined_status_ids: vec!["10002".into()],
            transition_id: None,
            product: None,
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
}
