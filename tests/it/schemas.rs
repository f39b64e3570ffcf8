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
