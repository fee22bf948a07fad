//! The shape check: walks the spanned YAML tree against the generated JSON Schema and reports
//! every unknown or duplicate key, missing key, wrong type and unknown enum value at once, each
//! with its position and a hint. Only the schema features that `schema.rs` generates are used.

use serde_json::{Map, Value};

use super::diag::{Diagnostic, Pos, did_you_mean};
use super::node::{Node, Sp};

/// Checks `tree` against `schema` (a root schema with `$defs`).
pub fn check(tree: &Sp<Node>, schema: &Value) -> Vec<Diagnostic> {
    let mut walker = Walker {
        root: schema,
        diags: Vec::new(),
    };
    walker.walk(
        tree,
        schema,
        &Ctx {
            what: "playbook",
            field: None,
        },
    );
    walker.diags
}

/// What is being checked, for messages: the object kind and the key that led here.
#[derive(Clone, Copy)]
struct Ctx<'a> {
    what: &'a str,
    field: Option<&'a str>,
}

impl Ctx<'_> {
    fn subject(&self) -> String {
        match self.field {
            Some(f) => format!("`{f}`"),
            None => format!("the {}", self.what),
        }
    }
}

struct Walker<'s> {
    root: &'s Value,
    diags: Vec<Diagnostic>,
}

impl<'s> Walker<'s> {
    /// Follows `$ref` to `$defs`, returning the schema and the definition's human name.
    fn resolve(&self, schema: &'s Value) -> (&'s Value, Option<String>) {
        let (schema, def) = resolve_ref(self.root, schema);
        (schema, def.map(humanize))
    }

    fn walk(&mut self, node: &Sp<Node>, schema: &'s Value, ctx: &Ctx<'_>) {
        let (schema, def_name) = self.resolve(schema);
        let what_owned;
        let ctx = match &def_name {
            Some(n) => {
                what_owned = n.clone();
                Ctx {
                    what: &what_owned,
                    field: ctx.field,
                }
            }
            None => *ctx,
        };
        if schema == &Value::Bool(true) || schema.as_object().is_some_and(Map::is_empty) {
            return;
        }
        if let Some(alts) = alternatives(schema) {
            self.walk_alternatives(node, alts, &ctx);
            return;
        }
        if let Some(c) = schema.get("const") {
            self.check_enum(node, std::slice::from_ref(c), &ctx);
            return;
        }
        if !type_matches(self.root, &node.value, schema) {
            self.type_error(node, &expected_kinds(self.root, schema), &ctx);
            return;
        }
        if let Some(values) = schema.get("enum").and_then(Value::as_array) {
            self.check_enum(node, values, &ctx);
        }
        match &node.value {
            Node::Map(entries) => self.walk_map(node.pos, entries, schema, &ctx),
            Node::Seq(items) => {
                if let Some(item_schema) = schema.get("items") {
                    for item in items {
                        self.walk(
                            item,
                            item_schema,
                            &Ctx {
                                what: ctx.what,
                                field: ctx.field,
                            },
                        );
                    }
                }
            }
            _ => {}
        }
    }

    fn walk_map(&mut self, pos: Pos, entries: &[(Sp<Node>, Sp<Node>)], schema: &'s Value, ctx: &Ctx<'_>) {
        let props = schema.get("properties").and_then(Value::as_object);
        let additional = schema.get("additionalProperties");
        let mut seen: Vec<(String, Pos)> = Vec::new();
        for (key, value) in entries {
            let Some(name) = key.value.scalar_text() else {
                self.diags.push(
                    Diagnostic::error(
                        key.pos,
                        format!("keys of {} must be plain strings", ctx.subject()),
                    )
                    .with_hint("write `name: value` with a plain name as the key"),
                );
                continue;
            };
            if let Some((_, first)) = seen.iter().find(|(k, _)| *k == name) {
                self.diags.push(
                    Diagnostic::error(
                        key.pos,
                        format!(
                            "duplicate key `{name}` in {} (first at line {})",
                            ctx.what, first.line
                        ),
                    )
                    .with_hint("keys in a mapping must be unique; remove or rename one of them"),
                );
                continue;
            }
            seen.push((name.clone(), key.pos));
            if let Some(prop) = props.and_then(|p| p.get(&name)) {
                self.walk(
                    value,
                    prop,
                    &Ctx {
                        what: ctx.what,
                        field: Some(&name),
                    },
                );
            } else {
                match additional {
                    Some(Value::Bool(false)) => {
                        let allowed: Vec<&str> = props
                            .map(|p| p.keys().map(String::as_str).collect())
                            .unwrap_or_default();
                        let hint = did_you_mean(&name, allowed.iter().copied())
                            .unwrap_or_else(|| format!("allowed keys: {}", allowed.join(", ")));
                        self.diags.push(
                            Diagnostic::error(key.pos, format!("unknown key `{name}` in {}", ctx.what))
                                .with_hint(hint),
                        );
                    }
                    Some(s) if s.is_object() => {
                        self.walk(
                            value,
                            s,
                            &Ctx {
                                what: ctx.what,
                                field: Some(&name),
                            },
                        );
                    }
                    _ => {}
                }
            }
        }
        if let Some(required) = schema.get("required").and_then(Value::as_array) {
            for req in required.iter().filter_map(Value::as_str) {
                if !seen.iter().any(|(k, _)| k == req) {
                    let doc = props
                        .and_then(|p| p.get(req))
                        .and_then(|s| s.get("description"))
                        .and_then(Value::as_str)
                        .map(|d| d.lines().next().unwrap_or_default().to_owned());
                    let hint = match doc {
                        Some(d) => format!("add `{req}:` ({})", d.trim_end_matches('.').to_lowercase()),
                        None => format!("add `{req}:`"),
                    };
                    self.diags.push(
                        Diagnostic::error(pos, format!("missing key `{req}` in {}", ctx.what))
                            .with_hint(hint),
                    );
                }
            }
        }
    }

    fn walk_alternatives(&mut self, node: &Sp<Node>, alts: &'s [Value], ctx: &Ctx<'_>) {
        let mut outcomes = Vec::new();
        for alt in alts {
            let mut sub = Walker {
                root: self.root,
                diags: Vec::new(),
            };
            sub.walk(node, alt, ctx);
            if sub.diags.is_empty() {
                return;
            }
            outcomes.push((alt, sub.diags));
        }
        // All alternatives failed. Enum-like alternatives (string constants) give "unknown value".
        let consts: Vec<Value> = alts
            .iter()
            .filter_map(|a| self.resolve(a).0.get("const").cloned())
            .collect();
        let scalar = node.value.scalar_text().is_some();
        let typed: Vec<_> = outcomes
            .into_iter()
            .filter(|(alt, _)| self.resolve(alt).0.get("const").is_none())
            .filter(|(alt, _)| type_matches(self.root, &node.value, alt))
            .collect();
        if scalar && !consts.is_empty() && typed.is_empty() {
            let object_forms = alts
                .iter()
                .filter_map(|a| {
                    let s = self.resolve(a).0;
                    let key = s.get("required")?.as_array()?.first()?.as_str()?;
                    Some(format!("{{ {key}: ... }}"))
                })
                .collect::<Vec<_>>();
            self.check_enum_with_extra(node, &consts, &object_forms, ctx);
            return;
        }
        if let Some((_, diags)) = typed.into_iter().min_by_key(|(_, d)| d.len()) {
            self.diags.extend(diags);
        } else {
            self.type_error(node, &kinds_of(self.root, alts), ctx);
        }
    }

    fn check_enum(&mut self, node: &Sp<Node>, values: &[Value], ctx: &Ctx<'_>) {
        self.check_enum_with_extra(node, values, &[], ctx);
    }

    fn check_enum_with_extra(&mut self, node: &Sp<Node>, values: &[Value], extra: &[String], ctx: &Ctx<'_>) {
        let names: Vec<String> = values
            .iter()
            .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
            .collect();
        let text = node.value.scalar_text();
        if let Some(t) = &text
            && names.iter().any(|n| n == t)
        {
            return;
        }
        let mut all: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
        all.extend(extra.iter().map(|e| format!("`{e}`")));
        let hint = text
            .as_deref()
            .and_then(|t| did_you_mean(t, names.iter().map(String::as_str)))
            .unwrap_or_else(|| format!("expected one of {}", all.join(", ")));
        let shown = text.map_or_else(|| node.value.kind_name().to_owned(), |t| format!("`{t}`"));
        self.diags.push(
            Diagnostic::error(node.pos, format!("unknown value {shown} for {}", ctx.subject()))
                .with_hint(hint),
        );
    }

    fn type_error(&mut self, node: &Sp<Node>, kinds: &[String], ctx: &Ctx<'_>) {
        let expected = join_or(kinds);
        let diag = if matches!(node.value, Node::Null) {
            Diagnostic::error(node.pos, format!("{} is empty", ctx.subject()))
                .with_hint(format!("write {expected} here, or remove the key"))
        } else {
            let mut d = Diagnostic::error(
                node.pos,
                format!(
                    "{} must be {expected}, found {}",
                    ctx.subject(),
                    node.value.kind_name()
                ),
            );
            if kinds.iter().any(|k| k == "a list") && !matches!(node.value, Node::Seq(_)) {
                d = d.with_hint("write the items one per line, each starting with `- `");
            } else if kinds.iter().any(|k| k == "a mapping") {
                d = d.with_hint("write `key: value` pairs, indented under the key");
            }
            d
        };
        self.diags.push(diag);
    }
}

/// Whether the node's kind is one the schema accepts. Scalars are accepted where a string is
/// expected, as the typed reader does (`version: 1.0` is the string "1.0").
fn type_matches(root: &Value, node: &Node, schema: &Value) -> bool {
    let schema = resolve_plain(root, schema);
    if let Some(alts) = alternatives(schema) {
        return alts.iter().any(|a| type_matches(root, node, a));
    }
    if schema.get("const").is_some() {
        return node.scalar_text().is_some();
    }
    let Some(types) = schema_types(schema) else {
        return true;
    };
    types.iter().any(|t| {
        matches!(
            (*t, node),
            ("null", Node::Null)
                | ("boolean", Node::Bool(_))
                | ("integer", Node::Int(_))
                | ("number", Node::Int(_) | Node::Float(_))
                | (
                    "string",
                    Node::Str(_) | Node::Int(_) | Node::Float(_) | Node::Bool(_)
                )
                | ("array", Node::Seq(_))
                | ("object", Node::Map(_))
        )
    })
}

/// Follows `$ref` to `$defs` (a bounded number of times); returns the schema and the name of the
/// last definition followed.
fn resolve_ref<'a>(root: &'a Value, schema: &'a Value) -> (&'a Value, Option<&'a str>) {
    let mut schema = schema;
    let mut name = None;
    for _ in 0..16 {
        let Some(def) = schema
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| r.strip_prefix("#/$defs/"))
        else {
            break;
        };
        match root.get("$defs").and_then(|d| d.get(def)) {
            Some(s) => {
                schema = s;
                name = Some(def);
            }
            None => break,
        }
    }
    (schema, name)
}

fn resolve_plain<'a>(root: &'a Value, schema: &'a Value) -> &'a Value {
    resolve_ref(root, schema).0
}

/// The alternatives of an `anyOf`/`oneOf` schema.
fn alternatives(schema: &Value) -> Option<&Vec<Value>> {
    schema
        .get("anyOf")
        .or_else(|| schema.get("oneOf"))
        .and_then(Value::as_array)
}

/// The JSON types a schema names (`"type": "x"` or `"type": ["x", "y"]`); `None` if it names none.
fn schema_types(schema: &Value) -> Option<Vec<&str>> {
    match schema.get("type") {
        Some(Value::String(t)) => Some(vec![t.as_str()]),
        Some(Value::Array(ts)) => Some(ts.iter().filter_map(Value::as_str).collect()),
        _ => None,
    }
}

/// The kinds any of `alts` accepts, in words, each once.
fn kinds_of(root: &Value, alts: &[Value]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for a in alts {
        for k in expected_kinds(root, a) {
            if !out.contains(&k) {
                out.push(k);
            }
        }
    }
    out
}

fn expected_kinds(root: &Value, schema: &Value) -> Vec<String> {
    let schema = resolve_plain(root, schema);
    if let Some(alts) = alternatives(schema) {
        return kinds_of(root, alts);
    }
    if schema.get("const").is_some() {
        return vec!["a string".to_owned()];
    }
    schema_types(schema)
        .unwrap_or_default()
        .into_iter()
        .filter(|t| *t != "null")
        .map(|t| {
            match t {
                "boolean" => "`true` or `false`",
                "integer" => "a whole number",
                "number" => "a number",
                "string" => "a string",
                "array" => "a list",
                "object" => "a mapping",
                other => other,
            }
            .to_owned()
        })
        .collect()
}

fn join_or(items: &[String]) -> String {
    match items {
        [] => "a value".to_owned(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// `DecisionOption` -> "decision option".
fn humanize(def: &str) -> String {
    let mut out = String::new();
    for (i, c) in def.chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            out.push(' ');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}
