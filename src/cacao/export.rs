//! `irp export cacao`: a validated playbook as a CACAO 2.0 playbook.
//!
//! Stages and steps become workflow steps in file order, linked as the case walks them
//! (`on_completion`, or `on_success`/`on_failure` where a failure goes elsewhere); a decision
//! with two options is an `if-condition` and one with more a `switch-condition`, both on the
//! responder's answer (`__answer__`); every other step is an `action` whose commands are
//! `manual` (the SQL of a query, the call of an AWS action with its before-state and rollback,
//! a checklist's lines), done by the step's role as an `individual` agent. What CACAO has no
//! words for travels in irp's extension, which an import reads back.

use chrono::{DateTime, Utc};
use std::fmt::Write as _;

use serde_json::{Map, Value, json};

use super::{
    EXTENSION_VERSION, TLP_CREATED, TLP_CREATED_BY, TLP_MARKINGS, cacao_id, extension_id, irp_identity,
};
use crate::playbook::Playbook;
use crate::playbook::model::{ActionKind, FailurePolicy, Next, Step, StepKind};
use crate::playbook::raw::{InputType, ParamValue, Phase};

/// A CACAO document and what the export had to say about it.
#[derive(Debug)]
pub struct Exported {
    pub document: Value,
    pub warnings: Vec<String>,
}

/// The playbook's YAML as plain data (what `source` holds), read with the playbook parser's
/// limits. Only called on text that has validated.
pub fn source_data(src: &str) -> Result<Value, String> {
    serde_saphyr::from_str_with_options::<Value>(src, crate::playbook::node::yaml_options())
        .map_err(|e| format!("reading the playbook's YAML again: {}", e.without_snippet()))
}

/// Exports `pb`, whose YAML read as data is `source` (see `source_data`).
pub fn export(pb: &Playbook, source: &Value) -> Result<Exported, String> {
    let mut warnings = Vec::new();
    let raw_steps = raw_steps(source, pb)?;
    let ext = extension_id();
    let pid = &pb.id;
    let end_id = cacao_id("end", &format!("end:{pid}"));
    let start_id = cacao_id("start", &format!("start:{pid}"));
    let ids: Vec<String> = pb.steps.iter().map(|s| step_id(pid, s)).collect();
    let target = |n: Next| match n {
        Next::Step(i) => ids[i].clone(),
        Next::End => end_id.clone(),
    };

    let creator = cacao_id(
        "identity",
        &format!("identity:{}", pb.owner.as_deref().unwrap_or("irp")),
    );
    let (created, modified) = if let Some(c) = pb.created {
        (timestamp(c), timestamp(pb.modified.unwrap_or(c)))
    } else {
        warnings.push(
            "the playbook has no `created:` date, so the export says 1970-01-01; add `created: YYYY-MM-DD` (and `modified:` when it changes)"
                .to_owned(),
        );
        let epoch = "1970-01-01T00:00:00.000Z".to_owned();
        (epoch.clone(), epoch)
    };

    // Agents: one `individual` per role, and one for the steps that name none.
    let mut agents = Map::new();
    let role_agent = |role: &str| cacao_id("individual", &format!("role:{pid}/{role}"));
    for (role, what) in &pb.roles {
        agents.insert(
            role_agent(role),
            json!({ "type": "individual", "name": role, "description": what }),
        );
    }
    let responder = cacao_id("individual", &format!("responder:{pid}"));
    let needs_responder = pb
        .steps
        .iter()
        .any(|s| s.role.is_none() && !matches!(s.kind, StepKind::Decision(_)));
    if needs_responder {
        agents.insert(
            responder.clone(),
            json!({ "type": "individual", "name": "responder", "description": "The responder working the case (the step names no role)." }),
        );
    }

    let mut workflow = Map::new();
    let first = if pb.steps.is_empty() {
        end_id.clone()
    } else {
        ids[0].clone()
    };
    workflow.insert(
        start_id.clone(),
        json!({ "type": "start", "name": "Case opened", "on_completion": first }),
    );
    let mut activities: Vec<&'static str> = Vec::new();
    for (i, step) in pb.steps.iter().enumerate() {
        let phase = pb.stages[step.stage].phase;
        let mut w = Map::new();
        w.insert(
            "type".into(),
            json!(ids[i].split("--").next().unwrap_or("action")),
        );
        w.insert("name".into(), json!(step.title));
        let mut step_ext = Map::new();
        step_ext.insert("stage".into(), json!(pb.stages[step.stage].id));
        step_ext.insert("step".into(), raw_steps[i].clone());
        match &step.kind {
            StepKind::Decision(d) => {
                let mut text = d.prompt.clone();
                text.push_str("\n\nThe responder's answer (`__answer__`):");
                for o in &d.options {
                    let _ = write!(text, "\n- `{}`: {}", o.id, o.label);
                    if let Some(s) = &o.suggest {
                        let _ = write!(text, " (suggested when `{s}`)");
                    }
                }
                w.insert("description".into(), json!(with_guidance(step, &text)));
                let ids_list: Vec<&str> = d.options.iter().map(|o| o.id.as_str()).collect();
                w.insert(
                    "step_variables".into(),
                    json!({ "__answer__": {
                        "type": "string",
                        "description": format!("The responder's answer: one of {}.", ids_list.join(", ")),
                        "constant": false,
                        "external": true,
                    }}),
                );
                if d.options.len() == 2 {
                    w.insert(
                        "condition".into(),
                        json!(format!("__answer__:value = '{}'", d.options[0].id)),
                    );
                    w.insert("on_true".into(), json!(target(d.options[0].next)));
                    w.insert("on_false".into(), json!(target(d.options[1].next)));
                } else {
                    w.insert("switch".into(), json!("__answer__:value"));
                    let cases: Map<String, Value> = d
                        .options
                        .iter()
                        .map(|o| (o.id.clone(), json!(target(o.next))))
                        .collect();
                    w.insert("cases".into(), Value::Object(cases));
                }
            }
            kind => {
                let (commands, activity) = commands(kind, phase, &mut step_ext);
                activities.push(activity);
                let description = step.guidance.clone().unwrap_or_else(|| step.title.clone());
                w.insert("description".into(), json!(description));
                w.insert(
                    "commands".into(),
                    Value::Array(
                        commands
                            .into_iter()
                            .map(|c| {
                                let mut c = c;
                                c["playbook_activity"] = json!(activity);
                                c
                            })
                            .collect(),
                    ),
                );
                let agent = step.role.as_deref().map_or_else(|| responder.clone(), role_agent);
                w.insert("agent".into(), json!(agent));
                if let Some(t) = step.timeout {
                    let ms = u64::try_from(t.as_millis()).unwrap_or(u64::MAX);
                    w.insert("timeout".into(), json!(ms));
                }
                match step.on_failure {
                    FailurePolicy::Goto(g) => {
                        w.insert("on_success".into(), json!(target(step.next)));
                        w.insert("on_failure".into(), json!(ids[g]));
                    }
                    FailurePolicy::Ask | FailurePolicy::Continue => {
                        w.insert("on_completion".into(), json!(target(step.next)));
                    }
                }
            }
        }
        w.insert(
            "step_extensions".into(),
            json!({ ext.clone(): Value::Object(step_ext) }),
        );
        workflow.insert(ids[i].clone(), Value::Object(w));
    }
    workflow.insert(end_id.clone(), json!({ "type": "end", "name": "Case closed" }));

    let mut doc = Map::new();
    doc.insert("type".into(), json!("playbook"));
    doc.insert("spec_version".into(), json!("cacao-2.0"));
    doc.insert(
        "id".into(),
        json!(cacao_id("playbook", &format!("playbook:{pid}"))),
    );
    doc.insert("name".into(), json!(pb.title));
    if let Some(d) = &pb.description {
        doc.insert("description".into(), json!(d));
    }
    let types = playbook_types(pb);
    if !types.is_empty() {
        doc.insert("playbook_types".into(), json!(types));
    }
    let mut seen = Vec::new();
    for a in activities {
        if !seen.contains(&a) {
            seen.push(a);
        }
    }
    if !seen.is_empty() {
        doc.insert("playbook_activities".into(), json!(seen));
    }
    doc.insert("created_by".into(), json!(creator));
    doc.insert("created".into(), json!(created));
    doc.insert("modified".into(), json!(modified));
    let mut labels = vec![
        "irp".to_owned(),
        format!("irp-playbook:{pid}"),
        format!("version:{}", pb.version),
    ];
    if pb.count_kind(|k| matches!(k, StepKind::Query(_))) > 0 {
        labels.push("amazon-security-lake".to_owned());
    }
    doc.insert("labels".into(), json!(labels));
    if !pb.references.is_empty() {
        doc.insert(
            "external_references".into(),
            Value::Array(pb.references.iter().map(|r| external_reference(r)).collect()),
        );
    }
    if let Some(tlp) = pb.tlp {
        let (label, id) = TLP_MARKINGS
            .iter()
            .find(|(l, _)| *l == tlp.label())
            .copied()
            .unwrap_or(TLP_MARKINGS[0]);
        doc.insert("markings".into(), json!([id]));
        doc.insert(
            "data_marking_definitions".into(),
            json!({ id: {
                "type": "marking-tlp",
                "id": id,
                "created_by": TLP_CREATED_BY,
                "created": TLP_CREATED,
                "tlpv2_level": label,
            }}),
        );
    }
    if !pb.inputs.is_empty() {
        doc.insert("playbook_variables".into(), variables(pb));
    }
    doc.insert("workflow_start".into(), json!(start_id));
    doc.insert("workflow".into(), Value::Object(workflow));
    if !agents.is_empty() {
        doc.insert("agent_definitions".into(), Value::Object(agents));
    }
    doc.insert(
        "extension_definitions".into(),
        json!({ ext.clone(): {
            "type": "extension-definition",
            "name": "irp playbook",
            "description": "The irp playbook this CACAO playbook was exported from, so that nothing is lost: `playbook_extensions` holds the playbook's own fields (format 1), each stage listing its steps by id; each workflow step's `step_extensions` holds that step as the playbook writes it (`step`), its stage (`stage`) and, for a typed AWS action, the call, its before-state read and its rollback (`aws_operation`). Athena SQL over Amazon Security Lake (OCSF 1.1) tables; `{{ name }}` in it is an irp input or capture, rendered as an escaped SQL literal. `irp import cacao` reads it back.",
            "created_by": irp_identity(),
            "schema": "irp's playbook format 1: `irp schema` prints its JSON Schema; docs/cacao.md describes this extension.",
            "version": EXTENSION_VERSION,
        }}),
    );
    doc.insert(
        "playbook_extensions".into(),
        json!({ ext: { "format": 1, "playbook": playbook_fields(source) } }),
    );
    Ok(Exported {
        document: Value::Object(doc),
        warnings,
    })
}

/// The CACAO id of a step: its kind and a `UUIDv5` of the playbook's and the step's ids.
fn step_id(pid: &str, step: &Step) -> String {
    let kind = match &step.kind {
        StepKind::Decision(d) if d.options.len() == 2 => "if-condition",
        StepKind::Decision(_) => "switch-condition",
        _ => "action",
    };
    cacao_id(kind, &format!("step:{pid}/{}", step.id))
}

/// CACAO timestamps are UTC with exactly three digits of milliseconds.
fn timestamp(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// The steps as the YAML writes them, in file order (the order of `pb.steps`).
fn raw_steps(source: &Value, pb: &Playbook) -> Result<Vec<Value>, String> {
    let steps: Vec<Value> = source
        .get("stages")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .flat_map(|s| {
            s.get("steps")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        })
        .collect();
    let same = steps.len() == pb.steps.len()
        && steps
            .iter()
            .zip(&pb.steps)
            .all(|(r, s)| r.get("id").and_then(Value::as_str) == Some(s.id.as_str()));
    if same {
        Ok(steps)
    } else {
        Err("the playbook's YAML and its validated steps differ; this is a bug in irp".to_owned())
    }
}

/// The playbook's top-level fields, each stage's steps given by id.
fn playbook_fields(source: &Value) -> Value {
    let mut top = source.clone();
    if let Some(stages) = top.get_mut("stages").and_then(Value::as_array_mut) {
        for stage in stages {
            if let Some(steps) = stage.get_mut("steps") {
                let ids: Vec<Value> = steps
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|s| s.get("id").cloned())
                    .collect();
                *steps = Value::Array(ids);
            }
        }
    }
    top
}

fn with_guidance(step: &Step, text: &str) -> String {
    match &step.guidance {
        Some(g) => format!("{g}\n\n{text}"),
        None => text.to_owned(),
    }
}

/// The manual commands of a step that is not a decision, and the CACAO activity it performs;
/// an AWS action's call also goes into the step's extension (`aws_operation`).
fn commands(kind: &StepKind, phase: Phase, step_ext: &mut Map<String, Value>) -> (Vec<Value>, &'static str) {
    let manual = |text: &str, description: Option<String>| {
        let mut c = json!({ "type": "manual", "command": text });
        if let Some(d) = description {
            c["description"] = json!(d);
        }
        c
    };
    match kind {
        StepKind::Query(q) => {
            let tables: Vec<String> = q.tables.iter().map(ToString::to_string).collect();
            (
                vec![manual(
                    &q.sql,
                    Some(format!(
                        "Athena SQL over Amazon Security Lake ({}); each `{{{{ name }}}}` is an irp input or capture, rendered as an escaped SQL literal.",
                        tables.join(", ")
                    )),
                )],
                "analyze-collected-data",
            )
        }
        StepKind::Action(a) => {
            let each = a
                .for_each
                .as_ref()
                .map(|f| format!(" Once for each item of `{f}`."))
                .unwrap_or_default();
            match &a.kind {
                ActionKind::Aws { op, params } => {
                    let args: Vec<String> = params
                        .iter()
                        .map(|(k, v)| format!("{k}={}", param_text(v)))
                        .collect();
                    let mut how = format!("{} ({}).", op.summary, op.name);
                    if let Some(b) = op.before_state {
                        let _ = write!(how, " irp first stores the before-state ({b})");
                        match op.rollback {
                            Some(r) => {
                                let _ = write!(how, ", from which it rolls back: {r}.");
                            }
                            None => how.push('.'),
                        }
                    }
                    how.push_str(" After the call irp reads the state again to verify the change.");
                    how.push_str(&each);
                    step_ext.insert(
                        "aws_operation".into(),
                        json!({
                            "operation": op.name,
                            "api": op.api,
                            "cloudtrail_event": op.cloudtrail_event,
                            "read_only": op.is_read_only(),
                            "before_state": op.before_state,
                            "rollback": op.rollback,
                            "permissions": op.permissions,
                        }),
                    );
                    let activity = if op.is_read_only() {
                        "analyze-collected-data"
                    } else {
                        "restrict-access"
                    };
                    (
                        vec![manual(&format!("{} {}", op.api, args.join(" ")), Some(how))],
                        activity,
                    )
                }
                ActionKind::Command { argv, .. } => (
                    vec![manual(
                        &argv.iter().map(|a| shown_arg(a)).collect::<Vec<_>>().join(" "),
                        Some(format!(
                            "A program and its arguments, one per list element, run without a shell after the responder confirms.{each}"
                        )),
                    )],
                    "configure-systems",
                ),
                ActionKind::Manual { items } => (
                    items
                        .iter()
                        .map(|i| manual(i, (!each.is_empty()).then(|| each.trim().to_owned())))
                        .collect(),
                    phase_activity(phase),
                ),
            }
        }
        StepKind::Note(text) => (vec![manual(text, None)], phase_activity(phase)),
        StepKind::Decision(_) => (Vec::new(), "identify-steps"),
    }
}

/// What a checklist or a note does, by the life-cycle phase of its stage.
fn phase_activity(phase: Phase) -> &'static str {
    match phase {
        Phase::Preparation => "identify-steps",
        Phase::DetectionAndAnalysis => "analyze-collected-data",
        Phase::ContainmentEradicationRecovery => "eliminate-risk",
        Phase::PostIncidentActivity => "compose-content",
    }
}

fn playbook_types(pb: &Playbook) -> Vec<&'static str> {
    let has = |p: Phase| pb.stages.iter().any(|s| s.phase == p && !s.steps.is_empty());
    let mut out = Vec::new();
    if has(Phase::DetectionAndAnalysis) {
        out.push("investigation");
    }
    if has(Phase::ContainmentEradicationRecovery) {
        out.push("mitigation");
        out.push("remediation");
    }
    out
}

fn param_text(v: &ParamValue) -> String {
    match v {
        ParamValue::Bool(b) => b.to_string(),
        ParamValue::Int(i) => i.to_string(),
        ParamValue::Str(s) => shown_arg(s),
        ParamValue::List(l) => format!(
            "[{}]",
            l.iter().map(|s| shown_arg(s)).collect::<Vec<_>>().join(", ")
        ),
    }
}

/// An argument as a reader sees it: quoted when it holds a space or a quote.
fn shown_arg(a: &str) -> String {
    if a.is_empty() || a.contains(|c: char| c.is_whitespace() || c == '\'' || c == '"') {
        format!("'{}'", a.replace('\'', "'\\''"))
    } else {
        a.to_owned()
    }
}

fn external_reference(r: &str) -> Value {
    let url = r.starts_with("https://") || r.starts_with("http://");
    if url {
        let host = r.split('/').nth(2).unwrap_or(r);
        json!({ "name": host, "url": r })
    } else {
        json!({ "name": r, "description": r })
    }
}

/// The inputs as playbook variables, given from outside when a case opens.
fn variables(pb: &Playbook) -> Value {
    let mut out = Map::new();
    for (name, spec) in &pb.inputs {
        let ty = match spec.ty {
            InputType::Integer => "integer",
            InputType::Boolean => "bool",
            _ => "string",
        };
        let mut v = Map::new();
        v.insert("type".into(), json!(ty));
        let mut description = spec.description.clone().unwrap_or_default();
        if spec.ty == InputType::List {
            description = format!("{description} (a list, irp input type `list`)");
            description = description.trim().to_owned();
        }
        if !description.is_empty() {
            v.insert("description".into(), json!(description));
        }
        if let Some(d) = &spec.default {
            let text = match d {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            v.insert("value".into(), json!(text));
        }
        v.insert("constant".into(), json!(false));
        v.insert("external".into(), json!(true));
        out.insert(format!("__{name}__"), Value::Object(v));
    }
    Value::Object(out)
}
