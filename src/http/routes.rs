//! How each part of the HTTP surface declares itself: `Routes`, a router that remembers the
//! paths it routes, and `Operation`, one documented operation, kept beside the part's router so
//! that a route and its documentation change together (`openapi` assembles the document).

use axum::Router;
use axum::routing::MethodRouter;
use schemars::generate::SchemaGenerator;
use serde_json::{Map, Value, json};

/// A part's router and the paths it routes.
pub struct Routes<S = ()> {
    router: Router<S>,
    paths: Vec<&'static str>,
}

impl<S: Clone + Send + Sync + 'static> Default for Routes<S> {
    fn default() -> Self {
        Routes {
            router: Router::new(),
            paths: Vec::new(),
        }
    }
}

impl<S: Clone + Send + Sync + 'static> Routes<S> {
    pub fn route(mut self, path: &'static str, method_router: MethodRouter<S>) -> Routes<S> {
        self.router = self.router.route(path, method_router);
        self.paths.push(path);
        self
    }

    /// What answers a path routed so far when asked with a method it does not take (the
    /// `Allow` header is still set).
    pub fn method_not_allowed_fallback<H, T>(mut self, handler: H) -> Routes<S>
    where
        H: axum::handler::Handler<T, S>,
        T: 'static,
    {
        self.router = self.router.method_not_allowed_fallback(handler);
        self
    }

    pub fn merge(mut self, other: Routes<S>) -> Routes<S> {
        self.router = self.router.merge(other.router);
        self.paths.extend(other.paths);
        self
    }

    /// The routes with their state, ready to serve.
    pub fn with_state(self, state: S) -> Routes {
        Routes {
            router: self.router.with_state(state),
            paths: self.paths,
        }
    }
}

impl Routes {
    /// A router that names no operation of its own (what another process serves).
    pub fn unlisted(router: Router) -> Routes {
        Routes {
            router,
            paths: Vec::new(),
        }
    }

    pub fn into_parts(self) -> (Router, Vec<&'static str>) {
        (self.router, self.paths)
    }
}

/// Who may call an operation.
#[derive(Clone, Copy)]
pub enum Access {
    Anyone,
    /// A signature or secret of the sender, checked over the raw body.
    Signed,
    Viewer,
    Admin,
}

/// One documented operation.
pub struct Operation {
    pub(super) method: &'static str,
    pub(super) path: &'static str,
    summary: &'static str,
    access: Access,
    /// A `$ref` to the request body's schema, or an inline schema.
    body: Option<Value>,
    /// The body's media types (JSON unless a sender posts forms).
    media: &'static [&'static str],
    /// Errors this operation answers besides those of every operation of its access.
    refusals: Vec<(&'static str, &'static str)>,
    /// The success status and what it carries.
    ok: (&'static str, &'static str),
    /// The success body's schema, when it is JSON of a documented type.
    returns: Option<Value>,
}

impl Operation {
    pub fn new(
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
            media: &["application/json"],
            refusals: Vec::new(),
            ok,
            returns: None,
        }
    }

    pub fn body(self, schema: Value) -> Operation {
        Operation {
            body: Some(schema),
            ..self
        }
    }

    /// Another error this operation answers, and when.
    pub fn refuses(mut self, status: &'static str, why: &'static str) -> Operation {
        self.refusals.push((status, why));
        self
    }

    /// A body a sender posts as a form (`who`'s own format) in these media types.
    pub fn form(self, who: &str, media: &'static [&'static str]) -> Operation {
        Operation {
            body: Some(external(who)),
            media,
            ..self
        }
    }
    pub fn returns(self, schema: Value) -> Operation {
        Operation {
            returns: Some(schema),
            ..self
        }
    }
}

/// A `$ref` to `T`'s schema, added to the document's components.
pub fn schema<T: schemars::JsonSchema>(g: &mut SchemaGenerator) -> Value {
    serde_json::to_value(g.subschema_for::<T>()).unwrap_or_default()
}

/// A body in a sender's own format.
pub fn external(who: &str) -> Value {
    json!({"type": "object", "description": format!("{who}'s own payload format")})
}

/// One operation: its responses (the success, and each error it may answer), its body, its
/// security and its path parameters.
pub(super) fn render(op: Operation, error: &Value) -> Value {
    let mut operation = json!({"summary": op.summary, "responses": responses(&op, error)});
    if let Some(schema) = op.body {
        let content: serde_json::Map<String, Value> = op
            .media
            .iter()
            .map(|m| (m.to_string(), json!({"schema": schema})))
            .collect();
        operation["requestBody"] = json!({"required": true, "content": content});
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
    for (status, why) in &op.refusals {
        error_response(status, why);
    }
    error_response(
        "503",
        "the store or the bus is unavailable (with Retry-After)",
    );
    responses
}
