//! The JSON Schema of the playbook format, generated from the raw serde mirror. It is the
//! authority on the format's shape: `irp schema` prints it, `schemas/playbook.schema.json` is its
//! checked-in copy, and the shape check walks every file against it.

use std::sync::OnceLock;

use serde_json::Value;

/// Where editors can find the checked-in schema.
pub const SCHEMA_ID: &str = "https://irp.invalid/schemas/playbook.schema.json";

/// The schema as a JSON value (generated once per process).
pub fn playbook_schema() -> &'static Value {
    static SCHEMA: OnceLock<Value> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        let schema = schemars::generate::SchemaSettings::draft2020_12()
            .for_deserialize()
            .into_generator()
            .into_root_schema_for::<super::raw::Playbook>();
        let mut value = schema.to_value();
        if let Value::Object(map) = &mut value {
            map.insert("$id".to_owned(), Value::String(SCHEMA_ID.to_owned()));
        }
        value
    })
}

/// The schema as pretty-printed JSON with a trailing newline, exactly as checked in.
pub fn playbook_schema_text() -> String {
    let mut text = serde_json::to_string_pretty(playbook_schema()).unwrap_or_default();
    text.push('\n');
    text
}
