//! The committed JSON Schemas match the Rust types (regenerate with UPDATE_SCHEMAS=1).

fn check(file: &str, schema: serde_json::Value) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("schemas")
        .join(file);
    let rendered = format!("{}\n", serde_json::to_string_pretty(&schema).expect("json"));
    if std::env::var_os("UPDATE_SCHEMAS").is_some() {
        std::fs::write(&path, &rendered).expect("write schema");
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert_eq!(
        committed, rendered,
        "{file} drifted from the Rust types; run UPDATE_SCHEMAS=1 cargo test --test it schemas"
    );
}

#[test]
fn login_event_schema_is_current() {
    check(
        "login-event.schema.json",
        reinstate::sources::login::login_event_schema(),
    );
}

#[test]
fn rules_schema_is_current() {
    check(
        "rules.schema.json",
        reinstate::domain::rules::rules_schema(),
    );
}

#[test]
fn bus_event_schema_is_current() {
    let schema = reinstate::domain::bus_event_schema();
    // A real event has every required field and no field the schema does not name.
    let event = serde_json::to_value(reinstate::domain::Event::login_for_tests(
        "e1",
        "grace@example.com",
        None,
    ))
    .expect("json");
    let properties = schema["properties"].as_object().expect("properties");
    for key in event.as_object().expect("object").keys() {
        assert!(properties.contains_key(key), "{key} is not in the schema");
    }
    for key in schema["required"].as_array().expect("required") {
        assert!(
            event.get(key.as_str().expect("name")).is_some(),
            "{key} missing"
        );
    }
    check("bus-event.schema.json", schema);
}

#[test]
fn error_schema_is_current() {
    check("error.schema.json", reinstate::http::error::error_schema());
}

#[test]
fn inventory_schemas_are_current() {
    for (file, schema) in reinstate::flows::inventory::schemas() {
        check(file, schema);
    }
}

#[test]
fn reclaim_policies_schema_is_current() {
    check(
        "reclaim-policies.schema.json",
        reinstate::domain::reclaim::policies_schema(),
    );
}

#[test]
fn reclaim_schedules_schema_is_current() {
    check(
        "reclaim-schedules.schema.json",
        reinstate::flows::reclaim::schedules::schedules_schema(),
    );
}

#[test]
fn openapi_document_is_current() {
    check("openapi.json", reinstate::http::openapi::document());
}

/// A path template made concrete.
fn concrete(path: &str) -> String {
    path.replace("{token}", "x")
        .replace("{id}", "x")
        .replace("{email}", "x@example.com")
        .replace("{user}", "x@example.com")
        .replace("{account}", "x")
}

/// Every route served (the console's HTML pages aside) is in the document, method by method:
/// a method the router answers (anything but 405) is documented for that path.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_routed_operation_is_documented() {
    use crate::support::*;
    let app = TestApp::start(BusMode::Embedded).await;
    let document = reinstate::http::openapi::document();
    let documented = document["paths"].as_object().expect("paths");
    let routed: Vec<&str> = app
        .routes()
        .into_iter()
        .filter(|p| *p != "/" && !p.starts_with("/console"))
        .collect();
    assert!(routed.len() >= 30, "{routed:?}");
    for path in &routed {
        let item = documented
            .get(*path)
            .unwrap_or_else(|| panic!("{path} is routed but not in the OpenAPI document"));
        for method in ["GET", "POST", "PUT", "PATCH", "DELETE"] {
            let r = app
                .http
                .request(
                    reqwest::Method::from_bytes(method.as_bytes()).expect("method"),
                    format!("{}{}", app.url, concrete(path)),
                )
                .send()
                .await
                .expect("request");
            let answered = r.status().as_u16() != 405;
            assert_eq!(
                answered,
                item.get(method.to_lowercase()).is_some(),
                "{method} {path}: routed (not 405) is {answered}, documented is the opposite"
            );
        }
    }
    // Both ways: every documented path is one of those routed.
    for path in documented.keys() {
        assert!(
            routed.contains(&path.as_str()),
            "{path} is documented, not routed"
        );
    }
}

/// Every operation the document lists is served (the router and the document agree), and the
/// served document is the committed one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_documented_operation_is_routed() {
    use crate::support::*;
    let app = TestApp::start(BusMode::Embedded).await;
    let served: serde_json::Value = app
        .http
        .get(format!("{}/api/v1/openapi.json", app.url))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(served, reinstate::http::openapi::document());
    let mut checked = 0;
    for (path, item) in served["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("item").keys() {
            let concrete = concrete(path);
            let method =
                reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
            let r = app
                .http
                .request(method.clone(), format!("{}{concrete}", app.url))
                .send()
                .await
                .expect("request");
            let status = r.status().as_u16();
            let text = r.text().await.unwrap_or_default();
            assert!(
                status != 405 && !(status == 404 && text.contains("no such endpoint")),
                "{method} {path} is documented but not routed: {status} {text}"
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 48);
}
