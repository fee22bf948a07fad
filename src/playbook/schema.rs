//! The JSON Schema of the playbook format, generated from the raw serde mirror. It is the
//! authority on the format's shape: `irp schema` prints it, `schemas/playbook.schema.json` is its
//! checked-in copy, and the shape check walks every file against it.

use std::sync::OnceLock;

use serde_json::Value;

/// The schema as a JSON value (generated once per process).
pub fn playbook_schema() -> &'static Value {
    static SCHEMA: OnceLock<Value> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        let schema = schemars::generate::SchemaSettings::draft2020_12()
            .for_deserialize()
            .into_generator()
            .into_root_schema_for::<super::raw::Playbook>();
        let mut value = schema.to_value();
        forbid_null_properties(&mut value);
        value
    })
}

/// The schema as pretty-printed JSON with a trailing newline, exactly as checked in.
pub fn playbook_schema_text() -> String {
    let mut text = serde_json::to_string_pretty(playbook_schema()).unwrap_or_default();
    text.push('\n');
    text
}

/// An optional key may be left out, but not written with an empty value: `note: ~` or a bare
/// `guidance:` is a mistake, and the shape check should say so. schemars makes every `Option`
/// field nullable; this removes the `null` alternative from object properties.
fn forbid_null_properties(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if let Some(Value::Object(props)) = map.get_mut("properties") {
                for prop in props.values_mut() {
                    strip_null(prop);
                }
            }
            for v in map.values_mut() {
                forbid_null_properties(v);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(forbid_null_properties),
        _ => {}
    }
}

fn strip_null(schema: &mut Value) {
    let Value::Object(map) = schema else { return };
    if let Some(Value::Array(types)) = map.get("type") {
        let kept: Vec<Value> = types
            .iter()
            .filter(|t| t.as_str() != Some("null"))
            .cloned()
            .collect();
        if kept.len() == 1 {
            map.insert("type".to_owned(), kept[0].clone());
        } else {
            map.insert("type".to_owned(), Value::Array(kept));
        }
    }
    if let Some(Value::Array(alts)) = map.get("anyOf") {
        let kept: Vec<Value> = alts
            .iter()
            .filter(|a| a.get("type").and_then(Value::as_str) != Some("null"))
            .cloned()
            .collect();
        if kept.len() == 1 {
            map.remove("anyOf");
            if let Value::Object(only) = &kept[0] {
                for (k, v) in only {
                    map.entry(k.clone()).or_insert_with(|| v.clone());
                }
            }
        } else {
            map.insert("anyOf".to_owned(), Value::Array(kept));
        }
    }
    if map.get("default") == Some(&Value::Null) {
        map.remove("default");
    }
}
