//! The OpenAPI 3.1 document of the HTTP API (`GET /api/v1/openapi.json`,
//! `schemas/openapi.json`), assembled from the operations each part keeps beside its router
//! (`ops`, `hooks`, `public`, `api::*`, declared with `routes`), with request bodies and the
//! error body generated from the Rust types that parse and write them.

use schemars::generate::{SchemaGenerator, SchemaSettings};
use serde_json::{Map, Value, json};

use super::error::ErrorBody;
use super::routes::{Operation, render};

fn operations(g: &mut SchemaGenerator) -> Vec<Operation> {
    let mut ops = super::ops::operations();
    ops.extend(super::hooks::operations(g));
    ops.extend(super::public::operations());
    ops.extend(super::api::operations(g));
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
        let (path, method) = (op.path, op.method);
        let item = paths
            .entry(path)
            .or_insert_with(|| Value::Object(Map::new()));
        item[method] = render(op, &error);
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
