//! What templates see during a case (inputs as resolved at opening, captures so far, the case,
//! `now`), and the engine's uses of it: captures, suggestions, rendered action intents, inputs.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use minijinja::Value;

use super::Env;
use super::event::Intent;
use super::state::State;
use crate::playbook::context::{ROW, input_value, insert_tables};
use crate::playbook::diag::did_you_mean;
use crate::playbook::model::{ActionKind, ActionStep, CaptureRule, Playbook, StepKind};
use crate::playbook::raw::{InputType, ParamValue};
use crate::playbook::template::{self, SqlTimestamp, value_from_json};
use crate::playbook::value::{TimeSpec, check_input_value};

/// Why a value of the case cannot be worked out from the playbook's templates and the case's
/// values: what was being worked out, and what went wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    #[error("step `{0}` is not an action")]
    NotAnAction(String),
    #[error("step `{0}` does not run over a list (`for_each`)")]
    NotAList(String),
    #[error("the list `{name}` the step runs over cannot be read: {why}")]
    NoList { name: String, why: String },
    /// A template or expression (`text`) that cannot be rendered or evaluated.
    #[error("`{text}`: {message}")]
    Template { text: String, message: String },
    /// A command's argv or a checklist item that cannot be rendered; the template's message
    /// says where.
    #[error("{0}")]
    Text(String),
    #[error("capture `{name}` (`{expr}`): {message}")]
    Capture {
        name: String,
        expr: String,
        message: String,
    },
    #[error("capture `{name}`: {why}")]
    CaptureValue { name: String, why: Box<RenderError> },
    #[error("part of the value is undefined (does the result have the column the expression reads?)")]
    Undefined,
    #[error("the value cannot be stored: {0}")]
    Unstorable(String),
}

impl RenderError {
    fn template(text: &str, e: template::TemplateError) -> RenderError {
        RenderError::Template {
            text: text.to_owned(),
            message: e.message,
        }
    }
}

/// The template context for step `index`: inputs, captures, `case`, `now`, and for a query its
/// tables, named as the environment's backend names them.
pub fn template_context(pb: &Playbook, state: &State, index: usize, env: &Env) -> Value {
    let mut vars: BTreeMap<String, Value> = BTreeMap::new();
    let opened_at = env.now;
    if let Some(opened) = &state.opened {
        for (name, raw) in &opened.inputs {
            match pb.inputs.get(name) {
                Some(spec) => vars.insert(name.clone(), input_value(spec, raw, opened_at)),
                None => vars.insert(name.clone(), value_from_json(raw)),
            };
        }
    }
    for (name, v) in &state.captures {
        vars.insert(name.clone(), value_from_json(v));
    }
    if let StepKind::Query(q) = &pb.steps[index].kind {
        insert_tables(&mut vars, q, &env.naming);
    }
    vars.insert("now".to_owned(), Value::from_object(SqlTimestamp(env.now)));
    let mut case: BTreeMap<String, Value> = BTreeMap::new();
    if let Some(o) = &state.opened {
        case.insert("id".to_owned(), Value::from(o.case.as_str()));
        case.insert("mode".to_owned(), Value::from(o.mode.as_str()));
    }
    case.insert(
        "not_collected".to_owned(),
        Value::from(state.not_collected.keys().cloned().collect::<Vec<_>>()),
    );
    case.insert("playbook".to_owned(), Value::from(pb.id.as_str()));
    vars.insert("case".to_owned(), Value::from(case));
    Value::from(vars)
}

/// Evaluates a query step's captures against its result rows. A message names the capture that
/// failed and why.
pub fn evaluate_captures(
    pb: &Playbook,
    state: &State,
    index: usize,
    rows: &[serde_json::Value],
    row_count: u64,
    env: &Env,
) -> Result<BTreeMap<String, serde_json::Value>, RenderError> {
    let StepKind::Query(q) = &pb.steps[index].kind else {
        return Ok(BTreeMap::new());
    };
    let base = template_context(pb, state, index, env);
    let rows_value = Value::from(rows.iter().map(value_from_json).collect::<Vec<_>>());
    let ctx = minijinja::context! { rows => rows_value, ..base.clone() };
    let mut out = BTreeMap::new();
    for (name, def) in &q.captures {
        let failed = |message: String| RenderError::Capture {
            name: name.clone(),
            expr: def.rule.text(),
            message,
        };
        let json = match &def.rule {
            CaptureRule::Expr(expr) => {
                let v = template::eval_expression(expr, &ctx).map_err(|e| failed(e.message))?;
                to_json(&v).map_err(|e| RenderError::CaptureValue {
                    name: name.clone(),
                    why: Box::new(e),
                })?
            }
            CaptureRule::Records { fields, filter } => {
                let kept = match filter {
                    Some(f) => rows_where(rows, f, &base).map_err(failed)?,
                    None => rows.iter().collect(),
                };
                records(rows, &kept, row_count, fields).map_err(failed)?
            }
        };
        out.insert(name.clone(), json);
    }
    Ok(out)
}

/// A column `names` holds that the result's rows (all of the same columns) lack.
struct MissingColumn {
    column: String,
    columns: Vec<String>,
}

impl std::fmt::Display for MissingColumn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the result has no column `{}` (its columns: {})",
            self.column,
            self.columns.join(", ")
        )
    }
}

fn missing_column(rows: &[serde_json::Value], names: &[String]) -> Option<MissingColumn> {
    let first = rows.first()?.as_object()?;
    let column = names.iter().find(|c| !first.contains_key(c.as_str()))?;
    Some(MissingColumn {
        column: column.clone(),
        columns: first.keys().cloned().collect(),
    })
}

/// The rows a record capture's `where` holds for, each read as `row` beside the case's
/// variables. A column the condition reads that the result does not have is an error naming the
/// result's columns: an unknown column must not quietly empty the list an action runs over.
fn rows_where<'r>(
    rows: &'r [serde_json::Value],
    filter: &str,
    base: &Value,
) -> Result<Vec<&'r serde_json::Value>, String> {
    let cond = template::Condition::compile(filter).map_err(|e| e.message)?;
    if let Some(e) = missing_column(rows, &cond.attributes(ROW)) {
        return Err(format!("`where` reads `row.{}`: {e}", e.column));
    }
    let mut kept = Vec::new();
    for row in rows {
        let ctx = minijinja::context! { row => value_from_json(row), ..base.clone() };
        if cond.holds(ctx).map_err(|e| format!("`where`: {}", e.message))? {
            kept.push(row);
        }
    }
    Ok(kept)
}

/// The records of a capture with `fields`: one per distinct row of `kept` (all the rows, or
/// those a `where` holds for), in row order, each with the row's values of `fields`. A field the
/// rows do not have is an error that names their columns; so is a result of `row_count` rows of
/// which only a prefix (`rows`) was kept, since a list that actions run over must not miss any.
fn records(
    rows: &[serde_json::Value],
    kept: &[&serde_json::Value],
    row_count: u64,
    fields: &[String],
) -> Result<serde_json::Value, String> {
    if (rows.len() as u64) < row_count {
        return Err(format!(
            "the result has {row_count} rows and irp keeps the first {} for captures, so the records would miss some: group the query by the fields (`GROUP BY {}`) so that each record is one row",
            rows.len(),
            fields.join(", ")
        ));
    }
    if let Some(e) = missing_column(rows, fields) {
        return Err(e.to_string());
    }
    let mut out: Vec<serde_json::Value> = Vec::new();
    let mut seen: std::collections::HashSet<String> = std::collections::HashSet::new();
    for row in kept {
        let Some(row) = row.as_object() else {
            return Err("a row of the result is not a record".to_owned());
        };
        let mut record = serde_json::Map::new();
        for f in fields {
            record.insert(f.clone(), row.get(f).cloned().unwrap_or(serde_json::Value::Null));
        }
        let record = serde_json::Value::Object(record);
        if seen.insert(record.to_string()) {
            out.push(record);
        }
    }
    Ok(serde_json::Value::Array(out))
}

/// The option a decision's `suggest` expressions point at: the first whose expression is true.
/// `Ok(None)` when none is; an error when an expression cannot be evaluated (e.g. a capture it
/// reads has no value because its query was skipped).
pub fn suggestion(
    pb: &Playbook,
    state: &State,
    index: usize,
    env: &Env,
) -> Result<Option<String>, RenderError> {
    suggestion_of(&explain_suggestions(pb, state, index, env))
}

/// The suggestion the reasons give, in option order: the first option whose expression holds,
/// unless an expression before it cannot be evaluated.
pub fn suggestion_of(reasons: &[SuggestionReason]) -> Result<Option<String>, RenderError> {
    for r in reasons {
        match &r.value {
            Ok(true) => return Ok(Some(r.option.clone())),
            Ok(false) => {}
            Err(e) => {
                return Err(RenderError::Template {
                    text: r.expr.clone(),
                    message: e.clone(),
                });
            }
        }
    }
    Ok(None)
}

/// Why a decision suggests what it does: each option's `suggest` expression, what it evaluates
/// to now (or why it cannot be), and the values of the inputs and captures it reads.
#[derive(Debug, Clone, PartialEq)]
pub struct SuggestionReason {
    pub option: String,
    pub expr: String,
    pub value: Result<bool, String>,
    /// `(name, value)` for every capture or input the expression names.
    pub evidence: Vec<(String, serde_json::Value)>,
}

pub fn explain_suggestions(pb: &Playbook, state: &State, index: usize, env: &Env) -> Vec<SuggestionReason> {
    let StepKind::Decision(d) = &pb.steps[index].kind else {
        return Vec::new();
    };
    let ctx = template_context(pb, state, index, env);
    let inputs = state.opened.as_ref().map(|o| &o.inputs);
    d.options
        .iter()
        .filter_map(|o| {
            let expr = o.suggest.as_ref()?;
            let value = template::eval_expression(template::bare_expression(expr), &ctx)
                .map(|v| v.is_true())
                .map_err(|e| e.message);
            let names = identifiers(expr);
            let evidence = names
                .iter()
                .filter_map(|n| {
                    state
                        .captures
                        .get(n)
                        .or_else(|| inputs.and_then(|i| i.get(n)))
                        .map(|v| (n.clone(), v.clone()))
                })
                .collect();
            Some(SuggestionReason {
                option: o.id.clone(),
                expr: expr.clone(),
                value,
                evidence,
            })
        })
        .collect()
}

/// The distinct identifiers of an expression, in order of first appearance.
fn identifiers(expr: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut chars = expr.char_indices().peekable();
    let mut quote: Option<char> = None;
    while let Some((i, c)) = chars.next() {
        if let Some(q) = quote {
            if c == q {
                quote = None;
            }
            continue;
        }
        if c == '\'' || c == '"' {
            quote = Some(c);
        } else if c.is_ascii_alphabetic() || c == '_' {
            let mut end = i + c.len_utf8();
            while let Some(&(j, d)) = chars.peek() {
                if d.is_ascii_alphanumeric() || d == '_' {
                    end = j + d.len_utf8();
                    chars.next();
                } else {
                    break;
                }
            }
            let word = &expr[i..end];
            if !out.iter().any(|w| w == word) {
                out.push(word.to_owned());
            }
        }
    }
    out
}

/// An action step rendered with the case's values: exactly what will be called.
pub fn render_intent(pb: &Playbook, state: &State, index: usize, env: &Env) -> Result<Intent, RenderError> {
    let StepKind::Action(a) = &pb.steps[index].kind else {
        return Err(RenderError::NotAnAction(pb.steps[index].id.clone()));
    };
    if a.for_each.is_some() && !a.runs_per_item() {
        // A checklist over a list: its lines once per item, in the list's order.
        let mut items = Vec::new();
        for intent in render_item_intents(pb, state, index, env)? {
            if let Intent::Manual { items: lines } = intent {
                items.extend(lines);
            }
        }
        return Ok(Intent::Manual { items });
    }
    intent_in(a, &template_context(pb, state, index, env))
}

/// A manual action's checklist, each line rendered (once per item of its list, with `for_each`).
pub fn checklist(pb: &Playbook, state: &State, index: usize, env: &Env) -> Result<Vec<String>, RenderError> {
    match render_intent(pb, state, index, env)? {
        Intent::Manual { items } => Ok(items),
        _ => Err(RenderError::NotAnAction(pb.steps[index].id.clone())),
    }
}

/// The list a `for_each` step runs over, as the case captured it.
pub fn item_list<'s>(
    pb: &Playbook,
    state: &'s State,
    index: usize,
) -> Result<&'s [serde_json::Value], RenderError> {
    let StepKind::Action(a) = &pb.steps[index].kind else {
        return Err(RenderError::NotAnAction(pb.steps[index].id.clone()));
    };
    let Some(name) = &a.for_each else {
        return Err(RenderError::NotAList(pb.steps[index].id.clone()));
    };
    match state.captures.get(name) {
        Some(serde_json::Value::Array(items)) => Ok(items),
        Some(serde_json::Value::Null) | None => Err(RenderError::NoList {
            name: name.clone(),
            why: "it has no value".to_owned(),
        }),
        Some(other) => Err(RenderError::NoList {
            name: name.clone(),
            why: format!("it is not a list: {other}"),
        }),
    }
}

/// Item `item` of a `for_each` step rendered with the case's values: exactly what will be called
/// for it.
pub fn render_item_intent(
    pb: &Playbook,
    state: &State,
    index: usize,
    item: usize,
    env: &Env,
) -> Result<Intent, RenderError> {
    let list = item_list(pb, state, index)?;
    let value = list.get(item).ok_or_else(|| RenderError::NoList {
        name: for_each_of(pb, index),
        why: format!("it has {} items, not an item {item}", list.len()),
    })?;
    item_intent(pb, index, &template_context(pb, state, index, env), item, value)
}

/// Every item of a `for_each` step rendered, in order, with the case's context built once.
pub fn render_item_intents(
    pb: &Playbook,
    state: &State,
    index: usize,
    env: &Env,
) -> Result<Vec<Intent>, RenderError> {
    let list = item_list(pb, state, index)?;
    let base = template_context(pb, state, index, env);
    list.iter()
        .enumerate()
        .map(|(i, value)| item_intent(pb, index, &base, i, value))
        .collect()
}

/// The capture a `for_each` step runs over.
fn for_each_of(pb: &Playbook, index: usize) -> String {
    match &pb.steps[index].kind {
        StepKind::Action(a) => a.for_each.clone().unwrap_or_default(),
        _ => String::new(),
    }
}

/// Item `i` (`value`) of step `index` rendered in the step's context `base`.
fn item_intent(
    pb: &Playbook,
    index: usize,
    base: &Value,
    i: usize,
    value: &serde_json::Value,
) -> Result<Intent, RenderError> {
    let StepKind::Action(a) = &pb.steps[index].kind else {
        return Err(RenderError::NotAnAction(pb.steps[index].id.clone()));
    };
    let ctx = minijinja::context! { item => value_from_json(value), index => i, ..base.clone() };
    intent_in(a, &ctx)
}

/// An action rendered in a template context.
fn intent_in(a: &ActionStep, ctx: &Value) -> Result<Intent, RenderError> {
    let text = |s: &str| template::render_text(s, ctx).map_err(|e| RenderError::template(s, e));
    match &a.kind {
        ActionKind::Aws { op, params } => {
            let mut out = BTreeMap::new();
            for (name, value) in params {
                let v = match value {
                    ParamValue::Bool(b) => serde_json::Value::Bool(*b),
                    ParamValue::Int(i) => serde_json::Value::from(*i),
                    ParamValue::Str(s) => {
                        let single =
                            op.param(name).is_some_and(|p| p.kind.is_list()) && is_single_expression(s);
                        if single {
                            // `"{{ suspects }}"` for a list parameter: keep the list a list.
                            let v = template::eval_expression(template::bare_expression(s), ctx)
                                .map_err(|e| RenderError::template(s, e))?;
                            to_json(&v)?
                        } else {
                            serde_json::Value::String(text(s)?)
                        }
                    }
                    ParamValue::List(items) => serde_json::Value::Array(
                        items
                            .iter()
                            .map(|i| text(i).map(serde_json::Value::String))
                            .collect::<Result<_, _>>()?,
                    ),
                };
                out.insert(name.clone(), v);
            }
            let target = out.get(op.target).map(|v| match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            });
            Ok(Intent::Aws {
                operation: op.name.to_owned(),
                api: op.api.to_owned(),
                params: out,
                target,
            })
        }
        ActionKind::Command { argv, env } => Ok(Intent::Command {
            argv: template::render_argv(argv, ctx).map_err(|e| RenderError::Text(e.message))?,
            env: env.clone(),
        }),
        ActionKind::Manual { items } => Ok(Intent::Manual {
            items: items.iter().map(|i| text(i)).collect::<Result<_, _>>()?,
        }),
    }
}

fn has_undefined(v: &Value) -> bool {
    if v.is_undefined() {
        return true;
    }
    match v.kind() {
        minijinja::value::ValueKind::Seq | minijinja::value::ValueKind::Map => v.try_iter().is_ok_and(|it| {
            it.into_iter().any(|k| {
                if v.kind() == minijinja::value::ValueKind::Map {
                    v.get_item(&k).map_or(true, |x| has_undefined(&x))
                } else {
                    has_undefined(&k)
                }
            })
        }),
        _ => false,
    }
}

fn is_single_expression(s: &str) -> bool {
    let t = s.trim();
    t.starts_with("{{") && t.ends_with("}}") && t.matches("{{").count() == 1
}

fn to_json(v: &Value) -> Result<serde_json::Value, RenderError> {
    if let Some(ts) = v.downcast_object_ref::<SqlTimestamp>() {
        return Ok(serde_json::Value::String(
            ts.0.to_rfc3339_opts(SecondsFormat::Millis, true),
        ));
    }
    if has_undefined(v) {
        return Err(RenderError::Undefined);
    }
    serde_json::to_value(v).map_err(|e| RenderError::Unstorable(e.to_string()))
}

/// See `engine::resolve_inputs`.
pub(super) fn resolve_inputs(
    pb: &Playbook,
    given: &[(String, String)],
    now: DateTime<Utc>,
) -> Result<BTreeMap<String, serde_json::Value>, Vec<String>> {
    let mut problems = Vec::new();
    let mut raw: BTreeMap<String, serde_json::Value> = BTreeMap::new();
    for (name, text) in given {
        let Some(spec) = pb.inputs.get(name) else {
            let hint = did_you_mean(name, pb.inputs.keys().map(String::as_str))
                .map(|h| format!("; {h}"))
                .unwrap_or_default();
            problems.push(format!(
                "`{name}` is not an input of playbook `{}` (inputs: {}){hint}",
                pb.id,
                pb.inputs.keys().cloned().collect::<Vec<_>>().join(", ")
            ));
            continue;
        };
        if raw.contains_key(name) {
            problems.push(format!("input `{name}` is given twice"));
            continue;
        }
        raw.insert(name.clone(), parse_input(spec.ty, spec.items, text));
    }
    for (name, spec) in &pb.inputs {
        if !raw.contains_key(name) {
            if let Some(d) = &spec.default {
                raw.insert(name.clone(), d.clone());
            } else if spec.required {
                problems.push(format!(
                    "input `{name}` is required{}; give it with `--input {name}=VALUE`",
                    spec.description
                        .as_deref()
                        .map(|d| format!(" ({})", d.trim()))
                        .unwrap_or_default()
                ));
            }
        }
    }
    let mut out = BTreeMap::new();
    for (name, value) in raw {
        let Some(spec) = pb.inputs.get(&name) else {
            continue;
        };
        if let Err(e) = check_input_value(&value, spec.ty, spec.items, spec.pattern.as_ref(), &spec.values) {
            problems.push(format!("input `{name}`: {e}"));
            continue;
        }
        out.insert(name, absolute_times(spec.ty, spec.items, value, now));
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

/// A command-line value as the input's type: lists are comma-separated, numbers and booleans
/// are parsed (a value that does not parse stays text, and the type check says what is wrong).
fn parse_input(ty: InputType, items: InputType, text: &str) -> serde_json::Value {
    let one = |ty: InputType, t: &str| -> serde_json::Value {
        match ty {
            InputType::Integer => t.trim().parse::<i64>().map_or_else(
                |_| serde_json::Value::String(t.to_owned()),
                serde_json::Value::from,
            ),
            InputType::Boolean => match t.trim() {
                "true" => serde_json::Value::Bool(true),
                "false" => serde_json::Value::Bool(false),
                _ => serde_json::Value::String(t.to_owned()),
            },
            _ => serde_json::Value::String(t.to_owned()),
        }
    };
    if ty == InputType::List {
        if text.trim().is_empty() {
            return serde_json::Value::Array(Vec::new());
        }
        return serde_json::Value::Array(text.split(',').map(|t| one(items, t.trim())).collect());
    }
    one(ty, text)
}

/// Relative timestamps (`-7d`, `now`) resolved against the case's opening time, so every later
/// render, replay and report sees the same instant.
fn absolute_times(
    ty: InputType,
    items: InputType,
    value: serde_json::Value,
    now: DateTime<Utc>,
) -> serde_json::Value {
    let one = |v: serde_json::Value| match v {
        serde_json::Value::String(s) => match TimeSpec::parse(&s) {
            Ok(t) => serde_json::Value::String(t.resolve(now).to_rfc3339_opts(SecondsFormat::Millis, true)),
            Err(_) => serde_json::Value::String(s),
        },
        other => other,
    };
    match (ty, value) {
        (InputType::Timestamp, v) => one(v),
        (InputType::List, serde_json::Value::Array(list)) if items == InputType::Timestamp => {
            serde_json::Value::Array(list.into_iter().map(one).collect())
        }
        (_, v) => v,
    }
}
