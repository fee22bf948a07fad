//! The YAML reader: bytes -> text -> a generic tree of spanned nodes, under strict budgets.
//!
//! Every later check works on positions taken from here. Duplicate keys are passed through to the
//! tree (not rejected by the parser) so that the shape check can report all of them at once.

use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

use super::diag::{Diagnostic, Pos};

/// Largest playbook file accepted. Real playbooks are tens of kilobytes.
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;
/// Deepest nesting of mappings and lists. The S3 playbook nests 8 deep.
pub const MAX_DEPTH: usize = 48;
/// Most values (after alias expansion). The S3 playbook has about 2,500.
pub const MAX_NODES: usize = 40_000;
/// Most anchors or aliases.
pub const MAX_ALIASES: usize = 2_000;

/// A value and the position of the YAML node it came from.
#[derive(Debug, Clone)]
pub struct Sp<T> {
    pub value: T,
    pub pos: Pos,
}

impl<T> Sp<T> {
    pub fn new(value: T, pos: Pos) -> Self {
        Sp { value, pos }
    }
}

impl<T> std::ops::Deref for Sp<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Sp<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = serde_saphyr::Spanned::<T>::deserialize(d)?;
        Ok(Sp {
            value: s.value,
            pos: s.referenced.into(),
        })
    }
}

impl<T: schemars::JsonSchema> schemars::JsonSchema for Sp<T> {
    fn inline_schema() -> bool {
        T::inline_schema()
    }
    fn schema_name() -> std::borrow::Cow<'static, str> {
        T::schema_name()
    }
    fn schema_id() -> std::borrow::Cow<'static, str> {
        T::schema_id()
    }
    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        T::json_schema(generator)
    }
}

/// A YAML node of any kind. Maps keep every entry in order, duplicates included.
#[derive(Debug, Clone)]
pub enum Node {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Sp<Node>>),
    Map(Vec<(Sp<Node>, Sp<Node>)>),
}

impl Node {
    /// The word used in messages: "expected a string, found a list".
    pub fn kind_name(&self) -> &'static str {
        match self {
            Node::Null => "null",
            Node::Bool(_) => "a boolean",
            Node::Int(_) => "an integer",
            Node::Float(_) => "a number",
            Node::Str(_) => "a string",
            Node::Seq(_) => "a list",
            Node::Map(_) => "a mapping",
        }
    }

    /// The text of a scalar, as a key or an enum value would be compared.
    pub fn scalar_text(&self) -> Option<String> {
        match self {
            Node::Bool(b) => Some(b.to_string()),
            Node::Int(i) => Some(i.to_string()),
            Node::Float(x) => Some(x.to_string()),
            Node::Str(s) => Some(s.clone()),
            Node::Null | Node::Seq(_) | Node::Map(_) => None,
        }
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_unit<E>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }
    fn visit_none<E>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Node, E> {
        Ok(Node::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Node, E> {
        Ok(Node::Int(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Node, E> {
        #[allow(clippy::cast_precision_loss)] // only integers beyond i64 land here
        Ok(i64::try_from(v).map_or(Node::Float(v as f64), Node::Int))
    }
    fn visit_i128<E>(self, v: i128) -> Result<Node, E> {
        #[allow(clippy::cast_precision_loss)]
        Ok(i64::try_from(v).map_or(Node::Float(v as f64), Node::Int))
    }
    fn visit_u128<E>(self, v: u128) -> Result<Node, E> {
        #[allow(clippy::cast_precision_loss)]
        Ok(i64::try_from(v).map_or(Node::Float(v as f64), Node::Int))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Node, E> {
        Ok(Node::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Node, E> {
        Ok(Node::Str(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Node, E> {
        Ok(Node::Str(v))
    }
    fn visit_bytes<E>(self, v: &[u8]) -> Result<Node, E> {
        Ok(Node::Str(String::from_utf8_lossy(v).into_owned()))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Sp<Node>>()? {
            items.push(item);
        }
        Ok(Node::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Sp<Node>>()? {
            let value = map.next_value::<Sp<Node>>()?;
            entries.push((key, value));
        }
        Ok(Node::Map(entries))
    }
}

/// The parser options used for every read of a playbook: small budgets, since a playbook is
/// small and every byte of it may come from someone else's repository.
pub fn yaml_options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_depth: MAX_DEPTH,
            flow_nesting_limit: MAX_DEPTH,
            max_events: 3 * MAX_NODES,
            max_nodes: MAX_NODES,
            max_aliases: MAX_ALIASES,
            max_anchors: MAX_ALIASES,
            max_documents: 1,
            max_total_scalar_bytes: 1024 * 1024,
            max_merge_keys: 1_000,
        },
        alias_limits: serde_saphyr::alias_limits! {
            max_total_replayed_events: 100_000,
            max_replay_stack_depth: 16,
            max_alias_expansions_per_anchor: 1_000,
        },
        duplicate_keys: serde_saphyr::DuplicateKeyPolicy::PassThrough,
        strict_booleans: true,
        with_snippet: false,
    }
}

/// Playbooks are UTF-8. A stray byte is reported where it is, not as a parser failure later.
pub fn decode_utf8(bytes: Vec<u8>) -> Result<String, Diagnostic> {
    let bytes = match bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]) {
        Some(rest) => rest.to_vec(),
        None => bytes,
    };
    String::from_utf8(bytes).map_err(|e| {
        let valid = e.utf8_error().valid_up_to();
        let before = &e.as_bytes()[..valid];
        let line = before.iter().filter(|&&b| b == b'\n').count() as u64 + 1;
        let line_start = before.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        let col = String::from_utf8_lossy(&before[line_start..]).chars().count() as u64 + 1;
        Diagnostic::error(
            Pos::new(line, col),
            format!(
                "the file is not valid UTF-8 (byte 0x{:02X} at offset {valid})",
                e.as_bytes()[valid]
            ),
        )
        .with_hint("save the playbook as UTF-8 text")
    })
}

/// Parses YAML text into a spanned tree. Syntax errors and budget breaches come back as one
/// diagnostic: the parser cannot go on after them.
pub fn parse_tree(src: &str) -> Result<Sp<Node>, Diagnostic> {
    if src.trim().is_empty()
        || src
            .lines()
            .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
    {
        return Err(Diagnostic::error(Pos::new(1, 1), "the file is empty")
            .with_hint("a playbook starts with `irp: 1`, then `id`, `title`, `version` and `stages`"));
    }
    serde_saphyr::from_str_with_options::<Sp<Node>>(src, yaml_options()).map_err(|e| yaml_error(src, &e))
}

/// Turns a parser error into a diagnostic with the position and a hint for the usual causes.
pub fn yaml_error(src: &str, e: &serde_saphyr::Error) -> Diagnostic {
    let mut pos = e.location().map_or(Pos::UNKNOWN, Pos::from);
    let raw = e.without_snippet().to_string();
    let mut message = strip_location_suffix(strip_location_prefix(&raw).trim()).to_owned();
    let lower = message.to_ascii_lowercase();
    let mut hint = None;
    if lower.contains("tab") {
        if let Some(tab) = first_indent_tab(src) {
            pos = tab;
        }
        "tab character in indentation".clone_into(&mut message);
        hint = Some("YAML indents with spaces only; replace the tabs with spaces".to_owned());
    } else if let Some((text, h)) = budget_message(&lower) {
        message = text;
        hint = Some(h.to_owned());
    } else if lower.contains("alias") || lower.contains("anchor") {
        hint = Some("aliases (`*name`) must refer to an anchor (`&name`) defined earlier".to_owned());
    } else if lower.contains("document") {
        hint = Some("a playbook file holds one YAML document; remove the extra `---`".to_owned());
    } else if lower.contains("mapping values are not allowed") || lower.contains("did not find expected key")
    {
        hint = Some("check the indentation and quote values that contain `: `".to_owned());
    }
    Diagnostic::error(pos, format!("invalid YAML: {message}")).with_hint_opt(hint)
}

/// Budget breaches in words, with the limit that was hit.
fn budget_message(lower: &str) -> Option<(String, &'static str)> {
    // A schema error lists the expected fields, which may be named `events` or `nodes`.
    if [
        "unknown field",
        "missing field",
        "invalid type",
        "unknown variant",
    ]
    .iter()
    .any(|m| lower.contains(m))
    {
        return None;
    }
    let nested = "a playbook never nests this deep; is this file generated or hostile?";
    let found = if lower.contains("recursion limit") || lower.contains("depth") {
        (format!("nesting deeper than {MAX_DEPTH} levels"), nested)
    } else if lower.contains("documents") {
        (
            "the file holds more than one YAML document".to_owned(),
            "a playbook file holds one document; remove the extra `---`",
        )
    } else if lower.contains("nodes") || lower.contains("events") || lower.contains("replay") {
        (
            format!("more than {MAX_NODES} values once aliases are expanded"),
            "a playbook is far smaller; aliases (`*name`) that expand into each other multiply the size",
        )
    } else if lower.contains("budget") && (lower.contains("alias") || lower.contains("anchor")) {
        (
            format!("more than {MAX_ALIASES} anchors or aliases"),
            "a playbook needs few anchors, if any",
        )
    } else if lower.contains("budget") {
        (
            "the document exceeds the size limits of a playbook".to_owned(),
            nested,
        )
    } else {
        return None;
    };
    Some(found)
}

/// serde-saphyr prefixes messages with "line N column M: "; the position is reported separately.
fn strip_location_prefix(msg: &str) -> &str {
    let msg = msg.strip_prefix("error: ").unwrap_or(msg);
    if let Some(rest) = msg.strip_prefix("line ")
        && let Some(idx) = rest.find(": ")
    {
        let head = &rest[..idx];
        if head
            .split_whitespace()
            .all(|w| w == "column" || w.chars().all(|c| c.is_ascii_digit()))
        {
            return &rest[idx + 2..];
        }
    }
    msg
}

/// Some parser messages end with " at line N, column M"; the position is reported separately.
fn strip_location_suffix(msg: &str) -> &str {
    if let Some(idx) = msg.rfind(" at line ") {
        let tail = &msg[idx + " at line ".len()..];
        if tail
            .split(", column ")
            .all(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
        {
            return &msg[..idx];
        }
    }
    msg
}

fn first_indent_tab(src: &str) -> Option<Pos> {
    src.lines().enumerate().find_map(|(i, line)| {
        let indent: String = line.chars().take_while(|c| *c == ' ' || *c == '\t').collect();
        indent.find('\t').map(|c| Pos::new(i as u64 + 1, c as u64 + 1))
    })
}
