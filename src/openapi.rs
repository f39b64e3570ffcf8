//! The OpenAPI 3.1 document of the HTTP API (`GET /api/v1/openapi.json`,
//! `schemas/openapi.json`): every route the router serves, with request bodies and the error
//! body generated from the Rust types that parse and write them.

use schemars::generate::{SchemaGenerator, SchemaSettings};
use serde_json::{Map, Value, json};

use crate::admin::audit::AuditPage;
use crate::admin::requests::{Decision, RequestList};
use crate::admin::rules::ExplainRequest;
use crate::admin::users::ReclaimedRequest;
use crate::event::LoginEventBody;
use crate::http_error::ErrorBody;
use crate::rules::RuleList;
use crate::store::{RequestRecord, RulesDoc, UserRecord};

/// Who may call an operation.
#[derive(Clone, Copy)]
enum Access {
    Anyone,
    /// A signature or secret of the sender, checked over the raw body.
    Signed,
    Viewer,
    Admin,
}

struct Operation {
    method: &'static str,
    path: &'static str,
    summary: &'static str,
    access: Access,
    /// A `$ref` to the request body's schema, or an inline schema.
    body: Option<Value>,
    /// The success status and what it carries.
    ok: (&'static str, &'static str),
    /// The success body's schema, when it is JSON of a documented type.
    returns: Option<Value>,
}

fn operations(g: &mut SchemaGenerator) -> Vec<Operation> {
    let schema = |s: schemars::Schema| serde_json::to_value(s).unwrap_or_default();
    let login = schema(g.subschema_for::<LoginEventBody>());
    let rules = schema(g.subschema_for::<RuleList>());
    let explain = schema(g.subschema_for::<ExplainRequest>());
    let decision = schema(g.subschema_for::<Decision>());
    let reclaimed = schema(g.subschema_for::<ReclaimedRequest>());
    let rules_doc = schema(g.subschema_for::<RulesDoc>());
    let user = schema(g.subschema_for::<UserRecord>());
    let request = schema(g.subschema_for::<RequestRecord>());
    let requests = schema(g.subschema_for::<RequestList>());
    let audit = schema(g.subschema_for::<AuditPage>());
    let explained = schema(g.subschema_for::<crate::admin::rules::ExplainAnswer>());
    let simulated = schema(g.subschema_for::<crate::admin::rules::SimulateAnswer>());
    let external =
        |who: &str| json!({"type": "object", "description": format!("{who}'s own payload format")});
    use Access::*;
    let op = |method, path, summary, access, body: Option<Value>, ok| Operation {
        method,
        path,
        summary,
        access,
        body,
        ok,
        returns: None,
    };
    let mut ops = vec![
        op(
            "get",
            "/healthz",
            "The process is up.",
            Anyone,
            None,
            ("200", "`{\"status\": \"ok\"}`"),
        ),
        op(
            "get",
            "/readyz",
            "The store and the bus are usable; emails waiting in the outbox.",
            Anyone,
            None,
            ("200", "ready (503 when not)"),
        ),
        op(
            "get",
            "/metrics",
            "Prometheus metrics.",
            Anyone,
            None,
            ("200", "text exposition format"),
        ),
        op(
            "get",
            "/api/v1/openapi.json",
            "This document.",
            Anyone,
            None,
            ("200", "OpenAPI 3.1"),
        ),
        op(
            "post",
            "/v1/hooks/login",
            "A successful login (Standard Webhooks signature).",
            Signed,
            Some(login),
            ("202", "accepted once the bus holds it"),
        ),
        op(
            "post",
            "/v1/hooks/okta",
            "Okta Event Hook deliveries.",
            Signed,
            Some(external("Okta")),
            ("200", "`{\"logins\": n}`"),
        ),
        op(
            "get",
            "/v1/hooks/okta",
            "Okta's one-time verification.",
            Signed,
            None,
            ("200", "`{\"verification\": \"…\"}`"),
        ),
        op(
            "post",
            "/v1/hooks/keycloak",
            "Keycloak event-listener webhooks (X-Keycloak-Signature).",
            Signed,
            Some(external("Keycloak")),
            ("202", "accepted"),
        ),
        op(
            "post",
            "/v1/hooks/jira",
            "Jira Service Management webhooks (X-Hub-Signature).",
            Signed,
            Some(external("Jira")),
            ("202", "accepted"),
        ),
        op(
            "get",
            "/v1/links/{token}",
            "A signed email link's confirmation page (acts on nothing).",
            Signed,
            None,
            ("200", "HTML page"),
        ),
        op(
            "post",
            "/v1/links/{token}",
            "Redeems a signed email link, once.",
            Signed,
            None,
            ("200", "HTML page"),
        ),
        op(
            "get",
            "/portal",
            "reinstate's portal page.",
            Anyone,
            None,
            ("200", "HTML form"),
        ),
        op(
            "post",
            "/portal",
            "Asks for a licence back (form; a confirmation link is emailed).",
            Anyone,
            Some(
                json!({"type": "object", "description": "application/x-www-form-urlencoded: email, product, reason, csrf"}),
            ),
            ("200", "HTML page, the same for every address"),
        ),
        op(
            "get",
            "/api/v1/rules",
            "The live rules.",
            Viewer,
            None,
            ("200", "the rules document"),
        ),
        op(
            "put",
            "/api/v1/rules",
            "Replaces the rules (audited with who and what changed).",
            Admin,
            Some(rules.clone()),
            ("200", "the stored rules"),
        ),
        op(
            "post",
            "/api/v1/rules/explain",
            "The decision the live rules make for a user, condition by condition.",
            Viewer,
            Some(explain),
            ("200", "per product: the decision and its trace"),
        ),
        op(
            "post",
            "/api/v1/rules/simulate",
            "What proposed rules would change over every known user (`?format=csv`).",
            Viewer,
            Some(rules),
            ("200", "counts and changes (JSON or CSV)"),
        ),
        op(
            "get",
            "/api/v1/audit",
            "Audit entries, newest first (`user`, `from`, `to`, `outcome`, `source`, `limit`, `before`).",
            Viewer,
            None,
            ("200", "entries and the next cursor"),
        ),
        op(
            "get",
            "/api/v1/audit.csv",
            "The audit log as CSV, streamed.",
            Viewer,
            None,
            ("200", "text/csv"),
        ),
        op(
            "get",
            "/api/v1/requests",
            "Requests (`state=pending|all|<state>`), with their history.",
            Viewer,
            None,
            ("200", "requests"),
        ),
        op(
            "post",
            "/api/v1/requests/{id}/approve",
            "Approves a pending request.",
            Admin,
            Some(decision.clone()),
            ("200", "the request (409 when not pending)"),
        ),
        op(
            "post",
            "/api/v1/requests/{id}/deny",
            "Denies a pending request, with a reason.",
            Admin,
            Some(decision),
            ("200", "the request (409 when not pending)"),
        ),
        op(
            "get",
            "/api/v1/users/{email}",
            "What reinstate knows of a user.",
            Viewer,
            None,
            ("200", "the user record"),
        ),
        op(
            "post",
            "/api/v1/reclaimed",
            "Records a reclaimed licence and the groups removed.",
            Admin,
            Some(reclaimed),
            ("201", "the user record"),
        ),
    ];
    let returns = [
        ("get", "/api/v1/rules", &rules_doc),
        ("put", "/api/v1/rules", &rules_doc),
        ("get", "/api/v1/audit", &audit),
        ("post", "/api/v1/rules/explain", &explained),
        ("post", "/api/v1/rules/simulate", &simulated),
        ("get", "/api/v1/requests", &requests),
        ("post", "/api/v1/requests/{id}/approve", &request),
        ("post", "/api/v1/requests/{id}/deny", &request),
        ("get", "/api/v1/users/{email}", &user),
        ("post", "/api/v1/reclaimed", &user),
    ];
    for op in &mut ops {
        if let Some((_, _, schema)) = returns
            .iter()
            .find(|(m, p, _)| *m == op.method && *p == op.path)
        {
            op.returns = Some((*schema).clone());
        }
    }
    ops
}

/// The whole document.
pub fn document() -> Value {
    let settings = SchemaSettings::draft2020_12().with(|s| {
        s.definitions_path = "/components/schemas".into();
    });
    let mut g = SchemaGenerator::new(settings);
    let error = serde_json::to_value(g.subschema_for::<ErrorBody>()).unwrap_or_default();
    let mut paths = Map::new();
    for op in operations(&mut g) {
        let mut responses = Map::new();
        let mut ok = json!({"description": op.ok.1});
        if let Some(schema) = &op.returns {
            ok["content"] = json!({"application/json": {"schema": schema}});
        }
        responses.insert(op.ok.0.into(), ok);
        let error_response = |why: &str| json!({"description": why, "content": {"application/json": {"schema": error}}});
        if op.body.is_some() {
            responses.insert(
                "400".into(),
                error_response("the body is invalid; `detail` names the problem"),
            );
        }
        match op.access {
            Access::Anyone => {}
            Access::Signed => {
                responses.insert(
                    "401".into(),
                    error_response("the signature, secret or token is missing or wrong"),
                );
            }
            Access::Viewer | Access::Admin => {
                responses.insert("401".into(), error_response("no valid bearer token"));
                if matches!(op.access, Access::Admin) {
                    responses.insert(
                        "403".into(),
                        error_response("a viewer token may not change anything"),
                    );
                }
            }
        }
        responses.insert(
            "503".into(),
            error_response("the store or the bus is unavailable (with Retry-After)"),
        );
        let mut operation = json!({"summary": op.summary, "responses": responses});
        if let Some(schema) = op.body {
            operation["requestBody"] =
                json!({"required": true, "content": {"application/json": {"schema": schema}}});
        }
        if matches!(op.access, Access::Viewer | Access::Admin) {
            operation["security"] = json!([{"bearer": []}]);
        }
        let params: Vec<Value> = op
            .path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{')?.strip_suffix('}'))
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
            .collect();
        if !params.is_empty() {
            operation["parameters"] = Value::Array(params);
        }
        let item = paths
            .entry(op.path)
            .or_insert_with(|| Value::Object(Map::new()));
        item[op.method] = operation;
    }
    let schemas: Map<String, Value> = g.take_definitions(true).into_iter().collect();
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "reinstate",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Gives Atlassian users their product licence back when the organisation's rules allow it. Every error body is `ErrorBody`."
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "description": "an admin or viewer token"}}
        }
    })
}

/// `GET /api/v1/openapi.json`
pub async fn serve() -> axum::Json<Value> {
    axum::Json(document())
}
