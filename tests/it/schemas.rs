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
        reinstate::event::login_event_schema(),
    );
}

#[test]
fn rules_schema_is_current() {
    check("rules.schema.json", reinstate::rules::rules_schema());
}

#[test]
fn bus_event_schema_is_current() {
    let schema = reinstate::event::bus_event_schema();
    // A real event has every required field and no field the schema does not name.
    let event = serde_json::to_value(reinstate::event::Event::login_for_tests(
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
    check("error.schema.json", reinstate::http_error::error_schema());
}
