//! The OpenAPI 3.1 document of the HTTP API (`GET /api/v1/openapi.json`,
//! `schemas/openapi.json`): every route the router serves, with request bodies and the error
//! body generated from the Rust types that parse and write them.

use schemars::generate::{SchemaGenerator, SchemaSettings};
use serde_json::{Map, Value, json};

use super::api::audit::AuditPage;
use super::api::reclaim::{RunBody, RunList, RunPage};
use super::api::requests::{RequestDecision, RequestList};
use super::api::users::ReclaimedRequest;
use super::error::ErrorBody;
use crate::domain::reclaim::PolicyList;
use crate::domain::rules::RuleList;
use crate::flows::inventory::query::{Summary, UsersPage};
use crate::flows::inventory::sync::SyncStatus;
use crate::flows::reclaim::jobs::BulkRequest;
use crate::flows::rules::{ExplainAnswer, ExplainRequest};
use crate::flows::simulate::SimulateAnswer;
use crate::sources::login::LoginEventBody;
use crate::store::{PoliciesDoc, RequestRecord, RulesDoc, UserRecord};

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

impl Operation {
    fn new(
        method: &'static str,
        path: &'static str,
        summary: &'static str,
        access: Access,
        ok: (&'static str, &'static str),
    ) -> Operation {
        Operation {
            method,
            path,
            summary,
            access,
            body: None,
            ok,
            returns: None,
        }
    }
    fn body(self, schema: Value) -> Operation {
        Operation {
            body: Some(schema),
            ..self
        }
    }
    fn returns(self, schema: Value) -> Operation {
        Operation {
            returns: Some(schema),
            ..self
        }
    }
}

/// A `$ref` to `T`'s schema, added to the document's components.
fn schema<T: schemars::JsonSchema>(g: &mut SchemaGenerator) -> Value {
    serde_json::to_value(g.subschema_for::<T>()).unwrap_or_default()
}

fn external(who: &str) -> Value {
    json!({"type": "object", "description": format!("{who}'s own payload format")})
}

fn operations(g: &mut SchemaGenerator) -> Vec<Operation> {
    let mut ops = operations_ops();
    ops.extend(operations_hooks(g));
    ops.extend(operations_public());
    ops.extend(operations_rules(g));
    ops.extend(operations_admin(g));
    ops.extend(operations_inventory(g));
    ops.extend(operations_reclaim(g));
    ops
}

/// Reclamation: policies, runs, bulk jobs, undo.
fn operations_reclaim(g: &mut SchemaGenerator) -> Vec<Operation> {
    use Access::*;
    let policies = schema::<PoliciesDoc>(g);
    let page = schema::<RunPage>(g);
    let run = "/api/v1/reclaim/runs/{id}";
    vec![
        Operation::new("get", "/api/v1/reclaim/policies", "The reclaim policies, versioned.", Viewer, ("200", "the policies"))
            .returns(policies.clone()),
        Operation::new("put", "/api/v1/reclaim/policies", "Replaces the reclaim policies (audited).", Admin, ("200", "the new policies"))
            .body(schema::<PolicyList>(g))
            .returns(policies),
        Operation::new("post", "/api/v1/reclaim/runs", "Plans and starts a run of the policies; `dry_run` only previews.", Admin, ("202", "the run's page"))
            .body(schema::<RunBody>(g))
            .returns(page.clone()),
        Operation::new("get", "/api/v1/reclaim/runs", "Runs, newest first (`limit`).", Viewer, ("200", "the runs"))
            .returns(schema::<RunList>(g)),
        Operation::new("get", run, "A run: counts and every user flagged, with the reason and result (`{id}.csv`: the same as CSV).", Viewer, ("200", "the run's page"))
            .returns(page.clone()),
        Operation::new("post", "/api/v1/reclaim/runs/{id}/undo", "Gives back exactly what the run took and is still taken.", Admin, ("202", "the undo's page"))
            .returns(page.clone()),
        Operation::new("post", "/api/v1/users/bulk", "A bulk action as a job (JSON, or `text/csv` with `?action=`); danger actions need `confirm`.", Admin, ("202", "the job's page"))
            .body(schema::<BulkRequest>(g))
            .returns(page.clone()),
        Operation::new("get", "/api/v1/jobs/{id}", "A job's (or an undo's) progress and per-user results.", Viewer, ("200", "the job's page"))
            .returns(page.clone()),
        Operation::new("post", "/api/v1/jobs/{id}/undo", "Gives back what the job changed.", Admin, ("202", "the undo's page"))
            .returns(page),
    ]
}

/// The inventory.
fn operations_inventory(g: &mut SchemaGenerator) -> Vec<Operation> {
    use Access::*;
    let status = schema::<SyncStatus>(g);
    vec![
        Operation::new(
            "get",
            "/api/v1/inventory/summary",
            "Users, inactive users and seats per product (`product`, `inactive_after_days`).",
            Viewer,
            ("200", "the summary"),
        )
        .returns(schema::<Summary>(g)),
        Operation::new(
            "get",
            "/api/v1/inventory/users",
            "Users, filtered and sorted (`product`, `inactive_after_days`, `last_active_before`, `status`, `account_type`, `licensed`, `q`, `sort`, `order`, `limit`, `cursor`).",
            Viewer,
            ("200", "a page of users and the next cursor"),
        )
        .returns(schema::<UsersPage>(g)),
        Operation::new(
            "get",
            "/api/v1/inventory/users.csv",
            "The same users as CSV, every one the filters select.",
            Viewer,
            ("200", "text/csv"),
        ),
        Operation::new("get", "/api/v1/inventory/sync", "Where the inventory's sync is.", Viewer, ("200", "the sync's state"))
            .returns(status.clone()),
        Operation::new(
            "post",
            "/api/v1/inventory/sync",
            "Starts a sync of the inventory (a running one goes on).",
            Admin,
            ("202", "the sync's state"),
        )
        .returns(status),
    ]
}

/// Liveness, readiness, metrics and this document.
fn operations_ops() -> Vec<Operation> {
    use Access::*;
    vec![
        Operation::new(
            "get",
            "/healthz",
            "The process is up.",
            Anyone,
            ("200", "`{\"status\": \"ok\"}`"),
        ),
        Operation::new(
            "get",
            "/readyz",
            "The store and the bus are usable; emails waiting in the outbox.",
            Anyone,
            ("200", "ready (503 when not)"),
        ),
        Operation::new(
            "get",
            "/metrics",
            "Prometheus metrics.",
            Anyone,
            ("200", "text exposition format"),
        ),
        Operation::new(
            "get",
            "/api/v1/openapi.json",
            "This document.",
            Anyone,
            ("200", "OpenAPI 3.1"),
        ),
    ]
}

/// The webhook receivers.
fn operations_hooks(g: &mut SchemaGenerator) -> Vec<Operation> {
    use Access::*;
    vec![
        Operation::new(
            "post",
            "/v1/hooks/login",
            "A successful login (Standard Webhooks signature; `webhook-*` or `svix-*` headers).",
            Signed,
            ("202", "accepted once the bus holds it"),
        )
        .body(schema::<LoginEventBody>(g)),
        Operation::new(
            "post",
            "/v1/hooks/okta",
            "Okta Event Hook deliveries.",
            Signed,
            (
                "200",
                "`{\"logins\": n, \"unusable\": n, \"skipped\": n}`: unusable events are audited",
            ),
        )
        .body(external("Okta")),
        Operation::new(
            "get",
            "/v1/hooks/okta",
            "Okta's one-time verification.",
            Signed,
            ("200", "`{\"verification\": \"…\"}`"),
        ),
        Operation::new(
            "post",
            "/v1/hooks/keycloak",
            "Keycloak event-listener webhooks (X-Keycloak-Signature, or opt-in shared tokens).",
            Signed,
            ("202", "accepted"),
        )
        .body(external("Keycloak")),
        Operation::new(
            "post",
            "/v1/hooks/jira",
            "Jira Service Management webhooks (X-Hub-Signature).",
            Signed,
            ("202", "accepted"),
        )
        .body(external("Jira")),
    ]
}

/// The links and the portal.
fn operations_public() -> Vec<Operation> {
    use Access::*;
    let form = json!({"type": "object", "description": "application/x-www-form-urlencoded: email, product, reason, csrf"});
    vec![
        Operation::new(
            "get",
            "/v1/links/{token}",
            "A signed email link's confirmation page (acts on nothing).",
            Signed,
            ("200", "HTML page"),
        ),
        Operation::new(
            "post",
            "/v1/links/{token}",
            "Redeems a signed email link, once.",
            Signed,
            ("200", "HTML page"),
        ),
        Operation::new(
            "get",
            "/portal",
            "reinstate's portal page.",
            Anyone,
            ("200", "HTML form"),
        ),
        Operation::new(
            "post",
            "/portal",
            "Asks for a licence back (form; a confirmation link is emailed).",
            Anyone,
            ("200", "HTML page, the same for every address"),
        )
        .body(form),
    ]
}

/// Rules, explain and simulate.
fn operations_rules(g: &mut SchemaGenerator) -> Vec<Operation> {
    use Access::*;
    let (rules, doc) = (schema::<RuleList>(g), schema::<RulesDoc>(g));
    vec![
        Operation::new(
            "get",
            "/api/v1/rules",
            "The live rules.",
            Viewer,
            ("200", "the rules document"),
        )
        .returns(doc.clone()),
        Operation::new(
            "put",
            "/api/v1/rules",
            "Replaces the rules (audited with who and what changed).",
            Admin,
            ("200", "the stored rules"),
        )
        .body(rules.clone())
        .returns(doc),
        Operation::new(
            "post",
            "/api/v1/rules/explain",
            "The decision the live rules make for a user, condition by condition.",
            Viewer,
            ("200", "per product: the decision and its trace"),
        )
        .body(schema::<ExplainRequest>(g))
        .returns(schema::<ExplainAnswer>(g)),
        Operation::new(
            "post",
            "/api/v1/rules/simulate",
            "What proposed rules would change over every known user (`?format=csv`).",
            Viewer,
            ("200", "counts and changes (JSON or CSV)"),
        )
        .body(rules)
        .returns(schema::<SimulateAnswer>(g)),
    ]
}

/// The audit log, requests and users.
fn operations_admin(g: &mut SchemaGenerator) -> Vec<Operation> {
    use Access::*;
    let (decision, request, user) = (
        schema::<RequestDecision>(g),
        schema::<RequestRecord>(g),
        schema::<UserRecord>(g),
    );
    vec![
        Operation::new(
            "get",
            "/api/v1/audit",
            "Audit entries, newest first (`user`, `from`, `to`, `outcome`, `source`, `limit`, `before`).",
            Viewer,
            ("200", "entries and the next cursor"),
        )
        .returns(schema::<AuditPage>(g)),
        Operation::new("get", "/api/v1/audit.csv", "The audit log as CSV, streamed.", Viewer, ("200", "text/csv")),
        Operation::new(
            "get",
            "/api/v1/requests",
            "Requests (`state=pending|all|<state>`), with their history.",
            Viewer,
            ("200", "requests"),
        )
        .returns(schema::<RequestList>(g)),
        Operation::new(
            "post",
            "/api/v1/requests/{id}/approve",
            "Approves a pending request.",
            Admin,
            ("200", "the request (409 when not pending)"),
        )
        .body(decision.clone())
        .returns(request.clone()),
        Operation::new(
            "post",
            "/api/v1/requests/{id}/deny",
            "Denies a pending request, with a reason.",
            Admin,
            ("200", "the request (409 when not pending)"),
        )
        .body(decision)
        .returns(request),
        Operation::new("get", "/api/v1/users/{email}", "What reinstate knows of a user.", Viewer, ("200", "the user record"))
            .returns(user.clone()),
        Operation::new(
            "post",
            "/api/v1/reclaimed",
            "Records a reclaimed licence and the groups removed.",
            Admin,
            ("201", "the user record"),
        )
        .body(schema::<ReclaimedRequest>(g))
        .returns(user),
    ]
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
        let (path, method) = (op.path, op.method);
        let item = paths
            .entry(path)
            .or_insert_with(|| Value::Object(Map::new()));
        item[method] = operation(op, &error);
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

/// One operation: its responses (the success, and each error it may answer), its body, its
/// security and its path parameters.
fn operation(op: Operation, error: &Value) -> Value {
    let mut operation = json!({"summary": op.summary, "responses": responses(&op, error)});
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
    operation
}

fn responses(op: &Operation, error: &Value) -> Map<String, Value> {
    let mut responses = Map::new();
    let mut ok = json!({"description": op.ok.1});
    if let Some(schema) = &op.returns {
        ok["content"] = json!({"application/json": {"schema": schema}});
    }
    responses.insert(op.ok.0.into(), ok);
    let mut error_response = |status: &str, why: &str| {
        let body = json!({"description": why, "content": {"application/json": {"schema": error}}});
        responses.insert(status.into(), body);
    };
    if op.body.is_some() {
        error_response("400", "the body is invalid; `detail` names the problem");
    }
    match op.access {
        Access::Anyone => {}
        Access::Signed => {
            error_response("401", "the signature, secret or token is missing or wrong");
        }
        Access::Viewer => error_response("401", "no valid bearer token"),
        Access::Admin => {
            error_response("401", "no valid bearer token");
            error_response("403", "a viewer token may not change anything");
        }
    }
    error_response(
        "503",
        "the store or the bus is unavailable (with Retry-After)",
    );
    responses
}
