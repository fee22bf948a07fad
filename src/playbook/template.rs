//! Templates (minijinja) with SQL-safe rendering.
//!
//! In SQL, every `{{ value }}` becomes a SQL literal: strings quoted with `'` doubled, numbers as
//! numbers, booleans as `TRUE`/`FALSE`, timestamps as `TIMESTAMP '…'`, lists as `(a, b)`. The
//! formatter decides this from the value's type alone; minijinja's "safe string" marker is ignored
//! and the `safe`/`escape` filters are removed, so no filter and no `{% autoescape %}` block can
//! let a value through raw. Only values of irp's own identifier type render unquoted: table
//! names, and what the `ident` filter produced after checking it is a plain (dotted) identifier.
//! Commands are argv lists rendered element by element, so a value is always one argument.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::sync::{Arc, OnceLock};

use chrono::{DateTime, SecondsFormat, Utc};
use minijinja::value::{Object, Value, ValueKind};
use minijinja::{Environment, Error, ErrorKind, UndefinedBehavior};

/// Work budget of one render: enough for any real playbook, small enough that a hostile
/// template (`{% for i in range(10**9) %}`) stops at once.
const FUEL: u64 = 200_000;

/// An SQL identifier that has been checked (table names, `ident` filter). Renders unquoted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlIdent(String);

impl SqlIdent {
    /// A plain or dotted identifier: `[A-Za-z_][A-Za-z0-9_]*` separated by dots.
    pub fn checked(name: &str) -> Option<SqlIdent> {
        let ok = !name.is_empty()
            && name.split('.').all(|part| {
                let mut chars = part.chars();
                chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                    && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
            });
        ok.then(|| SqlIdent(name.to_owned()))
    }

    /// A qualified name whose parts are each double-quoted (`"db"."table"`). Each part must be a
    /// plain identifier, so the quoting cannot be broken out of.
    pub fn quoted_parts(parts: &[&str]) -> Option<SqlIdent> {
        if parts
            .iter()
            .any(|p| SqlIdent::checked(p).is_none() || p.contains('.'))
        {
            return None;
        }
        Some(SqlIdent(
            parts
                .iter()
                .map(|p| format!("\"{p}\""))
                .collect::<Vec<_>>()
                .join("."),
        ))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// An empty relation with the columns of table `like`: what a query reads in place of a
    /// table that is not collected (`(SELECT * FROM "db"."t" WHERE false)`). Built from a
    /// checked identifier only.
    pub fn empty_like(like: &SqlIdent) -> SqlIdent {
        SqlIdent(format!("(SELECT * FROM {} WHERE false)", like.0))
    }
}

impl Object for SqlIdent {
    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A point in time. In SQL it renders as `TIMESTAMP 'YYYY-MM-DD HH:MM:SS.mmm'` (UTC), in text as
/// RFC 3339.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SqlTimestamp(pub DateTime<Utc>);

impl Object for SqlTimestamp {
    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.to_rfc3339_opts(SecondsFormat::Millis, true))
    }

    fn custom_cmp(self: &Arc<Self>, other: &minijinja::value::DynObject) -> Option<std::cmp::Ordering> {
        other.downcast_ref::<SqlTimestamp>().map(|o| self.0.cmp(&o.0))
    }
}

/// A template source problem: message and the 1-based line (and column, when known) inside the
/// template text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    pub line: usize,
    pub col: usize,
    pub message: String,
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for TemplateError {}

/// Renders a template value as a SQL literal. Errors (never silently) on what has no literal form.
pub fn sql_literal(value: &Value) -> Result<String, Error> {
    if let Some(id) = value.downcast_object_ref::<SqlIdent>() {
        return Ok(id.0.clone());
    }
    if let Some(ts) = value.downcast_object_ref::<SqlTimestamp>() {
        return Ok(format!("TIMESTAMP '{}'", ts.0.format("%Y-%m-%d %H:%M:%S%.3f")));
    }
    match value.kind() {
        ValueKind::Undefined => Err(Error::new(ErrorKind::UndefinedError, "undefined value in SQL")),
        ValueKind::None => Ok("NULL".to_owned()),
        ValueKind::Bool => Ok(if value.is_true() { "TRUE" } else { "FALSE" }.to_owned()),
        // A negative number is parenthesised: after a `-` in the template text, `-5` would make
        // `--5`, a comment that swallows the rest of the line.
        ValueKind::Number => {
            if let Some(i) = value.as_i64() {
                return Ok(if i < 0 { format!("({i})") } else { i.to_string() });
            }
            // An exponent is parenthesised too: parsers disagree on `1e5-1` (sqlglot reads one
            // number, Trino a subtraction).
            match f64::try_from(value.clone()) {
                Ok(x) if x.is_finite() => {
                    let text = format!("{x:?}");
                    Ok(if x.is_sign_negative() || text.contains('e') {
                        format!("({text})")
                    } else {
                        text
                    })
                }
                _ => Err(Error::new(
                    ErrorKind::InvalidOperation,
                    "a number without a SQL literal form",
                )),
            }
        }
        ValueKind::String => Ok(quote_string(value.as_str().unwrap_or_default())),
        ValueKind::Seq | ValueKind::Iterable => {
            let mut items = Vec::new();
            for item in value.try_iter()? {
                let typed = item.downcast_object_ref::<SqlTimestamp>().is_some()
                    || item.downcast_object_ref::<SqlIdent>().is_some();
                if !typed && matches!(item.kind(), ValueKind::Seq | ValueKind::Iterable | ValueKind::Map) {
                    return Err(Error::new(
                        ErrorKind::InvalidOperation,
                        "a list inside a list cannot be rendered into SQL",
                    ));
                }
                items.push(sql_literal(&item)?);
            }
            // `x IN ()` is a syntax error; `x IN (NULL)` is valid and matches nothing.
            if items.is_empty() {
                return Ok("(NULL)".to_owned());
            }
            Ok(format!("({})", items.join(", ")))
        }
        ValueKind::Map | ValueKind::Plain => Err(Error::new(
            ErrorKind::InvalidOperation,
            "a mapping cannot be rendered into SQL; pick one field, e.g. `{{ row.ip }}`",
        )),
        _ => Err(Error::new(
            ErrorKind::InvalidOperation,
            "this value cannot be rendered into SQL",
        )),
    }
}

/// `'…'` with every `'` doubled: Trino/Athena string literal syntax (backslash is not special).
pub fn quote_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        if c == '\'' {
            out.push('\'');
        }
        out.push(c);
    }
    out.push('\'');
    out
}

fn ident_filter(value: &Value) -> Result<Value, Error> {
    let text = value.as_str().ok_or_else(|| {
        Error::new(
            ErrorKind::InvalidOperation,
            "`ident` takes a string (a column or table name)",
        )
    })?;
    SqlIdent::checked(text).map(Value::from_object).ok_or_else(|| {
        Error::new(
            ErrorKind::InvalidOperation,
            format!("`{text}` is not a plain identifier (letters, digits, `_`, dots between parts)"),
        )
    })
}

fn base_env() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_fuel(Some(FUEL));
    env.set_recursion_limit(64);
    // Nothing may claim to be pre-escaped.
    env.remove_filter("safe");
    env.remove_filter("escape");
    env.remove_filter("e");
    env.add_filter("ident", ident_filter);
    env
}

/// The environment for SQL templates: values become literals.
pub fn sql_env() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = base_env();
        env.set_formatter(|out, _state, value| {
            let lit = sql_literal(value)?;
            out.write_str(&lit)
                .map_err(|_| Error::new(ErrorKind::WriteFailure, "write failed"))
        });
        env
    })
}

/// The environment for text (guidance, prompts, argv elements, action parameters): values are
/// written as they are, with no escaping; where they go decides their meaning.
pub fn text_env() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = base_env();
        env.set_formatter(|out, _state, value| {
            if value.is_undefined() {
                return Err(Error::new(ErrorKind::UndefinedError, "undefined value"));
            }
            if value.is_none() {
                return Ok(());
            }
            write!(out, "{value}").map_err(|_| Error::new(ErrorKind::WriteFailure, "write failed"))
        });
        env
    })
}

fn to_template_error(src: &str, e: &Error) -> TemplateError {
    let line = e.line().unwrap_or(1);
    let col = e.range().map_or(1, |r| {
        // Byte offsets from the parser; `get` keeps a surprising offset from panicking.
        let before = src.get(..r.start.min(src.len())).unwrap_or_default();
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        before[line_start..].chars().count() + 1
    });
    let mut message = e.kind().to_string();
    if let Some(detail) = e.detail() {
        message = format!("{message}: {detail}");
    }
    TemplateError { line, col, message }
}

/// Parses a template; returns the variables it reads: top-level names, or with `nested` the
/// dotted paths (`tables.s3_data`, `case.id`).
pub fn parse_template(src: &str, nested: bool) -> Result<HashSet<String>, TemplateError> {
    let tmpl = text_env()
        .template_from_str(src)
        .map_err(|e| to_template_error(src, &e))?;
    Ok(tmpl.undeclared_variables(nested))
}

/// Parses an expression; returns the top-level variable names it reads.
pub fn parse_expression(src: &str) -> Result<HashSet<String>, TemplateError> {
    let expr = text_env()
        .compile_expression(src)
        .map_err(|e| to_template_error(src, &e))?;
    Ok(expr.undeclared_variables(false))
}

/// The attributes of `var` an expression reads: `row.status and row.ip` → `ip`, `status`.
pub fn attributes_read(src: &str, var: &str) -> Result<Vec<String>, TemplateError> {
    Condition::compile(src).map(|c| c.attributes(var))
}

/// A boolean expression compiled once and evaluated for many contexts (a `where` per row).
pub struct Condition<'s> {
    src: &'s str,
    expr: minijinja::Expression<'s, 's>,
}

impl std::fmt::Debug for Condition<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Condition")
            .field("src", &self.src)
            .finish_non_exhaustive()
    }
}

impl<'s> Condition<'s> {
    pub fn compile(src: &'s str) -> Result<Self, TemplateError> {
        let expr = text_env()
            .compile_expression(src)
            .map_err(|e| to_template_error(src, &e))?;
        Ok(Condition { src, expr })
    }

    /// The attributes of `var` the expression reads, sorted, each once.
    pub fn attributes(&self, var: &str) -> Vec<String> {
        let prefix = format!("{var}.");
        let mut out: Vec<String> = self
            .expr
            .undeclared_variables(true)
            .into_iter()
            .filter_map(|v| {
                v.strip_prefix(&prefix)
                    .map(|rest| rest.split('.').next().unwrap_or_default().to_owned())
            })
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// Whether the expression is true in `ctx`.
    pub fn holds(&self, ctx: Value) -> Result<bool, TemplateError> {
        self.expr
            .eval(ctx)
            .map(|v| v.is_true())
            .map_err(|e| to_template_error(self.src, &e))
    }
}

/// Renders SQL: every interpolated value is a literal (see the module doc).
pub fn render_sql(src: &str, ctx: &Value) -> Result<String, TemplateError> {
    sql_env()
        .render_str(src, ctx.clone())
        .map_err(|e| to_template_error(src, &e))
}

/// Renders text with no escaping (guidance, prompts, one argv element, one parameter).
pub fn render_text(src: &str, ctx: &Value) -> Result<String, TemplateError> {
    text_env()
        .render_str(src, ctx.clone())
        .map_err(|e| to_template_error(src, &e))
}

/// Renders an argv list: element by element, each result exactly one argument.
/// A value that would start with `-` is refused unless the playbook's argv puts a literal `--`
/// before it: the program would read it as an option (`--output=/etc/…`, `-o`).
pub fn render_argv(argv: &[String], ctx: &Value) -> Result<Vec<String>, TemplateError> {
    let mut after_double_dash = false;
    let mut out = Vec::with_capacity(argv.len());
    for (i, a) in argv.iter().enumerate() {
        let templated = a.contains("{{") || a.contains("{%");
        let rendered = render_text(a, ctx)?;
        if templated && !after_double_dash && i > 0 && rendered.starts_with('-') {
            return Err(TemplateError {
                line: 1,
                col: 1,
                message: format!(
                    "argument {i} would be `{}`, which the program reads as an option: a value may start with `-` only after a `--` in the playbook's argv",
                    rendered.chars().take(40).collect::<String>()
                ),
            });
        }
        if !templated && a == "--" {
            after_double_dash = true;
        }
        out.push(rendered);
    }
    Ok(out)
}

/// Evaluates an expression (captures, suggestions).
pub fn eval_expression(src: &str, ctx: &Value) -> Result<Value, TemplateError> {
    let expr = text_env()
        .compile_expression(src)
        .map_err(|e| to_template_error(src, &e))?;
    expr.eval(ctx.clone()).map_err(|e| to_template_error(src, &e))
}

/// Strips one optional `{{ … }}` around an expression, so `suggest: "{{ x > 1 }}"` and
/// `suggest: "x > 1"` mean the same.
pub fn bare_expression(src: &str) -> &str {
    let t = src.trim();
    match t.strip_prefix("{{").and_then(|r| r.strip_suffix("}}")) {
        Some(inner) if !inner.contains("{{") && !inner.contains("}}") => inner.trim(),
        _ => t,
    }
}

/// Converts JSON (inputs, examples, query rows) into a template value.
pub fn value_from_json(v: &serde_json::Value) -> Value {
    match v {
        serde_json::Value::Null => Value::from(()),
        serde_json::Value::Bool(b) => Value::from(*b),
        serde_json::Value::Number(n) => n
            .as_i64()
            .map(Value::from)
            .or_else(|| n.as_f64().map(Value::from))
            .unwrap_or_else(|| Value::from(n.to_string())),
        serde_json::Value::String(s) => Value::from(s.as_str()),
        serde_json::Value::Array(items) => Value::from(items.iter().map(value_from_json).collect::<Vec<_>>()),
        serde_json::Value::Object(map) => Value::from(
            map.iter()
                .map(|(k, v)| (k.clone(), value_from_json(v)))
                .collect::<BTreeMap<String, Value>>(),
        ),
    }
}
