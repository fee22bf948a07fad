//! `irp import cacao`: a CACAO 2.0 playbook as an irp playbook.
//!
//! An irp export comes back exactly from irp's extension. Any other CACAO playbook is walked
//! from `workflow_start` into irp steps with explicit `next` links, in CACAO's terms: a branch
//! of an `if-condition`, `switch-condition` or `while-condition` that reaches an `end` goes on
//! at the condition's `on_completion`; a `parallel` step's branches run one after another; a
//! step reached from two places that go on differently is written twice. Commands irp does not
//! run itself (`bash`, `ssh`, `http-api`, …) become checklist lines that show them: irp never
//! makes a command step out of an imported command. What cannot be carried is listed.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;

use base64::Engine as _;
use indexmap::IndexMap;
use serde_json::{Map, Value, json};

use super::{EXTENSION_VERSION, TLP_MARKINGS, extension_id};
use crate::playbook::validate::{is_id, is_var};

/// The largest CACAO file `irp import cacao` reads.
pub const MAX_CACAO_BYTES: u64 = 8 * 1024 * 1024;
/// Steps an import may write (a workflow whose branches rejoin in many ways is written out
/// once per way; past this it is refused rather than grown without end).
const MAX_STEPS: usize = 2_000;
/// The walk's stack: room for a path of `MAX_STEPS` steps (a few KB each, unoptimised).
const WALK_STACK: usize = 256 * 1024 * 1024;

/// An imported playbook: its YAML (validated), and what could not be carried.
#[derive(Debug)]
pub struct Imported {
    pub yaml: String,
    pub playbook_id: String,
    pub steps: usize,
    pub not_carried: Vec<String>,
    /// Whether the document was an irp export, read back from irp's extension.
    pub from_irp: bool,
}

/// Imports CACAO JSON text. The result validates as an irp playbook, or this fails saying why.
pub fn import(text: &str, source_name: &str) -> Result<Imported, String> {
    let doc: Value = serde_json::from_str(text)
        .map_err(|e| format!("is not JSON (line {}, column {}): {e}", e.line(), e.column()))?;
    let Some(obj) = doc.as_object() else {
        return Err("is JSON but not an object; a CACAO playbook is one JSON object".to_owned());
    };
    if obj.get("type").and_then(Value::as_str) != Some("playbook") {
        return Err("has no `\"type\": \"playbook\"`; is this a CACAO playbook?".to_owned());
    }
    match obj.get("spec_version").and_then(Value::as_str) {
        Some("cacao-2.0") => {}
        Some(v) => {
            return Err(format!(
                "is a `{v}` document; irp reads CACAO 2.0 (`\"spec_version\": \"cacao-2.0\"`)"
            ));
        }
        None => return Err("has no `spec_version`; irp reads CACAO 2.0 (`cacao-2.0`)".to_owned()),
    }
    let ext = extension_id();
    let (playbook, not_carried, from_irp) =
        if obj.get("playbook_extensions").and_then(|e| e.get(&ext)).is_some() {
            let (pb, nc) = from_extension(obj, &ext)?;
            (pb, nc, true)
        } else {
            // The walk recurses once per step along a path (up to `MAX_STEPS`): it gets a stack
            // of its own, large enough for that whatever thread calls the import.
            let (pb, nc) = std::thread::scope(|scope| {
                std::thread::Builder::new()
                    .stack_size(WALK_STACK)
                    .spawn_scoped(scope, || Walk::new(obj)?.run())
                    .map_err(|e| format!("cannot start the import: {e}"))?
                    .join()
                    .map_err(|_| "the import stopped unexpectedly".to_owned())?
            })?;
            (pb, nc, false)
        };
    let playbook_id = playbook
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let mut yaml = String::new();
    let _ = writeln!(
        yaml,
        "# Imported by `irp import cacao` from {} ({}).",
        one_line(source_name),
        one_line(obj.get("id").and_then(Value::as_str).unwrap_or("no id"))
    );
    if !not_carried.is_empty() {
        yaml.push_str("# Not carried over:\n");
        for n in &not_carried {
            let _ = writeln!(yaml, "#   - {}", one_line(n));
        }
    }
    let body = serde_saphyr::to_string(&playbook)
        .map_err(|e| format!("could not write the playbook as YAML: {e}"))?;
    yaml.push_str(&body);
    let loaded = crate::playbook::load_str(&yaml);
    if loaded.has_errors() {
        let problems: Vec<String> = loaded
            .diagnostics
            .iter()
            .filter(|d| d.is_error())
            .map(|d| format!("line {}: {}", d.pos.line, d.message))
            .collect();
        return Err(format!(
            "the playbook made from it does not validate: {}",
            problems.join("; ")
        ));
    }
    let steps = loaded.playbook.map_or(0, |p| p.steps.len());
    Ok(Imported {
        yaml,
        playbook_id,
        steps,
        not_carried,
        from_irp,
    })
}

fn one_line(s: &str) -> String {
    s.replace(['\n', '\r'], " ")
}

/// An irp export: the playbook's fields from the playbook extension, each step from its own.
fn from_extension(obj: &Map<String, Value>, ext: &str) -> Result<(Value, Vec<String>), String> {
    let version = obj
        .get("extension_definitions")
        .and_then(|d| d.get(ext))
        .and_then(|d| d.get("version"))
        .and_then(Value::as_str)
        .unwrap_or(EXTENSION_VERSION);
    if version.split('.').next() != EXTENSION_VERSION.split('.').next() {
        return Err(format!(
            "carries irp's extension version {version}; this irp reads version {EXTENSION_VERSION}"
        ));
    }
    let pext = &obj["playbook_extensions"][ext];
    if pext.get("format").and_then(Value::as_u64) != Some(1) {
        return Err("carries irp's extension with a playbook format other than 1".to_owned());
    }
    let mut playbook = pext
        .get("playbook")
        .filter(|p| p.is_object())
        .cloned()
        .ok_or("irp's extension holds no `playbook` object")?;
    let workflow = obj
        .get("workflow")
        .and_then(Value::as_object)
        .ok_or("has no `workflow` object")?;
    let mut by_id: HashMap<String, &Value> = HashMap::new();
    let mut not_carried = Vec::new();
    for (cid, w) in workflow {
        let step = w
            .get("step_extensions")
            .and_then(|e| e.get(ext))
            .and_then(|e| e.get("step"));
        if let Some((s, id)) = step.and_then(|s| Some((s, s.get("id")?.as_str()?))) {
            if let (Some(name), Some(title)) = (
                w.get("name").and_then(Value::as_str),
                s.get("title").and_then(Value::as_str),
            ) && name != title
            {
                not_carried.push(format!(
                    "step `{id}` is named `{name}` in the CACAO workflow; irp's extension, which wins, calls it `{title}`"
                ));
            }
            by_id.insert(id.to_owned(), s);
        } else {
            let ty = w.get("type").and_then(Value::as_str).unwrap_or("?");
            if ty != "start" && ty != "end" {
                not_carried.push(format!(
                    "workflow step {cid} ({ty}{}) has no irp extension: it was added outside irp",
                    w.get("name")
                        .and_then(Value::as_str)
                        .map(|n| format!(", `{n}`"))
                        .unwrap_or_default()
                ));
            }
        }
    }
    let mut listed = HashSet::new();
    let stages = playbook
        .get_mut("stages")
        .and_then(Value::as_array_mut)
        .ok_or("irp's extension holds no stages")?;
    for stage in stages {
        let stage_id = stage.get("id").and_then(Value::as_str).unwrap_or("?").to_owned();
        let ids = stage
            .get("steps")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let mut steps = Vec::new();
        for id in ids {
            let id = id.as_str().unwrap_or_default().to_owned();
            let step = by_id.get(&id).ok_or_else(|| {
                format!(
                    "irp's extension lists step `{id}` in stage `{stage_id}`, but no workflow step carries it"
                )
            })?;
            listed.insert(id);
            steps.push((*step).clone());
        }
        stage["steps"] = Value::Array(steps);
    }
    let mut unlisted: Vec<&String> = by_id.keys().filter(|k| !listed.contains(*k)).collect();
    unlisted.sort();
    for id in unlisted {
        not_carried.push(format!(
            "step `{id}` is in the workflow but in no stage of irp's extension"
        ));
    }
    Ok((playbook, not_carried))
}

/// Where the case goes on from a point of the workflow.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Cont {
    End,
    Step(String),
}

impl Cont {
    fn yaml(&self) -> Value {
        match self {
            Cont::End => json!("end"),
            Cont::Step(s) => json!(s),
        }
    }
}

/// The walk of a CACAO workflow that is not an irp export.
struct Walk<'a> {
    doc: &'a Map<String, Value>,
    workflow: &'a Map<String, Value>,
    /// Irp steps, in the order the walk made them (`None` while being made).
    steps: Vec<Option<Value>>,
    memo: HashMap<(String, Cont), String>,
    used: HashSet<String>,
    roles: IndexMap<String, Value>,
    agent_roles: HashMap<String, String>,
    /// CACAO playbook variables carried as inputs: `__name__` → input name.
    inputs: IndexMap<String, (String, Value)>,
    not_carried: Vec<String>,
}

impl<'a> Walk<'a> {
    fn new(doc: &'a Map<String, Value>) -> Result<Self, String> {
        let workflow = doc
            .get("workflow")
            .and_then(Value::as_object)
            .ok_or("has no `workflow` object")?;
        Ok(Walk {
            doc,
            workflow,
            steps: Vec::new(),
            memo: HashMap::new(),
            used: HashSet::from(["end".to_owned()]),
            roles: IndexMap::new(),
            agent_roles: HashMap::new(),
            inputs: IndexMap::new(),
            not_carried: Vec::new(),
        })
    }

    fn run(mut self) -> Result<(Value, Vec<String>), String> {
        self.playbook_variables();
        let start = self
            .doc
            .get("workflow_start")
            .and_then(Value::as_str)
            .ok_or("has no `workflow_start`")?
            .to_owned();
        self.go(Some(&start), &Cont::End, 0)?;
        if self.steps.is_empty() {
            return Err("has no step between its start and its end: there is nothing to import".to_owned());
        }
        let reached: HashSet<&str> = self.memo.keys().map(|(c, _)| c.as_str()).collect();
        let mut unreached: Vec<String> = self
            .workflow
            .iter()
            .filter(|(id, w)| {
                !reached.contains(id.as_str())
                    && !matches!(
                        w.get("type").and_then(Value::as_str),
                        Some("start" | "end" | "parallel")
                    )
            })
            .map(|(id, w)| {
                format!(
                    "workflow step {id}{} is never reached from `workflow_start`",
                    name_of(w).map(|n| format!(" (`{n}`)")).unwrap_or_default()
                )
            })
            .collect();
        self.not_carried.append(&mut unreached);
        self.playbook_level_losses();

        let name = self
            .doc
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("Imported playbook");
        let mut pb = Map::new();
        pb.insert("irp".into(), json!(1));
        let id = slug(name, 56);
        pb.insert(
            "id".into(),
            json!(if id.is_empty() {
                "imported-playbook".to_owned()
            } else {
                id
            }),
        );
        pb.insert("title".into(), json!(one_line(name)));
        let version = self
            .doc
            .get("modified")
            .and_then(Value::as_str)
            .map_or_else(|| "1".to_owned(), |m| format!("cacao-{m}"));
        pb.insert("version".into(), json!(version));
        if let Some(d) = self.doc.get("description").and_then(Value::as_str) {
            pb.insert("description".into(), json!(d));
        }
        for (field, key) in [("created", "created"), ("modified", "modified")] {
            if let Some(t) = self.doc.get(key).and_then(Value::as_str)
                && chrono::DateTime::parse_from_rfc3339(t).is_ok()
            {
                pb.insert(field.into(), json!(t));
            }
        }
        if let Some(tlp) = self.tlp() {
            pb.insert("tlp".into(), json!(tlp));
        }
        let refs = self.references();
        if !refs.is_empty() {
            pb.insert("references".into(), json!(refs));
        }
        if !self.roles.is_empty() {
            pb.insert(
                "roles".into(),
                Value::Object(self.roles.iter().map(|(k, v)| (k.clone(), v.clone())).collect()),
            );
        }
        if !self.inputs.is_empty() {
            let inputs: Map<String, Value> = self.inputs.values().cloned().collect();
            pb.insert("inputs".into(), Value::Object(inputs));
        }
        let phase = self.phase();
        let steps: Vec<Value> = self.steps.into_iter().flatten().collect();
        pb.insert(
            "stages".into(),
            json!([{
                "id": "workflow",
                "title": "Workflow",
                "phase": phase,
                "description": "The CACAO playbook's workflow, walked from its start: CACAO has no stages.",
                "steps": steps,
            }]),
        );
        Ok((Value::Object(pb), self.not_carried))
    }

    /// Where the case goes for a CACAO step reference, given where it goes after the branch
    /// the reference is in (`cont`). `hops` counts the `start` and `parallel` steps passed
    /// through since the last step made: only they can loop without making steps (steps are
    /// made once per continuation, at most `MAX_STEPS`).
    fn go(&mut self, target: Option<&str>, cont: &Cont, hops: usize) -> Result<Cont, String> {
        let Some(cid) = target else {
            return Ok(cont.clone());
        };
        if hops > 400 {
            return Err(format!(
                "its workflow nests too deep at {cid} (parallel or start steps in a loop?)"
            ));
        }
        let w = self
            .workflow
            .get(cid)
            .ok_or_else(|| format!("refers to step {cid}, which is not in its workflow"))?;
        let ty = w.get("type").and_then(Value::as_str).unwrap_or_default();
        match ty {
            "end" => return Ok(cont.clone()),
            "start" => return self.go(str_field(w, "on_completion"), cont, hops + 1),
            "parallel" => {
                let after = self.go(str_field(w, "on_completion"), cont, hops + 1)?;
                let branches: Vec<String> = w
                    .get("next_steps")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect();
                let note = format!(
                    "parallel step {cid}{}: its {} branches are walked one after another",
                    name_of(w).map(|n| format!(" (`{n}`)")).unwrap_or_default(),
                    branches.len()
                );
                if !self.not_carried.contains(&note) {
                    self.not_carried.push(note);
                }
                let mut next = after;
                for b in branches.iter().rev() {
                    next = self.go(Some(b), &next, hops + 1)?;
                }
                return Ok(next);
            }
            _ => {}
        }
        let key = (cid.to_owned(), cont.clone());
        if let Some(id) = self.memo.get(&key) {
            return Ok(Cont::Step(id.clone()));
        }
        if self.steps.len() >= MAX_STEPS {
            return Err(format!(
                "its workflow would make more than {MAX_STEPS} irp steps (branches that rejoin are written once per way they go on)"
            ));
        }
        let id = self.new_id(name_of(w).unwrap_or(ty));
        self.memo.insert(key, id.clone());
        let slot = self.steps.len();
        self.steps.push(None);
        let step = match ty {
            "if-condition" | "switch-condition" | "while-condition" => self.decision(cid, w, &id, cont)?,
            "playbook-action" => {
                let called = str_field(w, "playbook_id").unwrap_or("(not named)");
                self.not_carried.push(format!(
                    "playbook-action {cid}: irp runs one playbook per case, so it is a note to run playbook {called}"
                ));
                let mut s = self.base(w, &id);
                s.insert(
                    "note".into(),
                    json!(literal(&format!(
                        "Run the playbook `{called}`{}.",
                        str_field(w, "description")
                            .map(|d| format!(": {d}"))
                            .unwrap_or_default()
                    ))),
                );
                let next = self.go(
                    str_field(w, "on_completion").or(str_field(w, "on_success")),
                    cont,
                    0,
                )?;
                s.insert("next".into(), next.yaml());
                s
            }
            "action" => self.action(cid, w, &id, cont)?,
            other => {
                self.not_carried.push(format!(
                    "workflow step {cid} has type `{other}`, which CACAO 2.0 does not define; it is a note"
                ));
                let mut s = self.base(w, &id);
                s.insert("note".into(), json!(literal(name_of(w).unwrap_or(other))));
                let next = self.go(str_field(w, "on_completion"), cont, 0)?;
                s.insert("next".into(), next.yaml());
                s
            }
        };
        self.steps[slot] = Some(Value::Object(step));
        Ok(Cont::Step(id))
    }

    /// `id`, `title` and the fields every kind shares.
    fn base(&mut self, w: &Value, id: &str) -> Map<String, Value> {
        let mut s = Map::new();
        s.insert("id".into(), json!(id));
        let ty = w.get("type").and_then(Value::as_str).unwrap_or("step");
        s.insert("title".into(), json!(one_line(name_of(w).unwrap_or(ty))));
        if let Some(ms) = w.get("timeout").and_then(Value::as_u64)
            && ms > 0
        {
            s.insert("timeout".into(), json!(format!("{}s", ms.div_ceil(1000))));
        }
        if w.get("delay").is_some() {
            self.not_carried.push(format!(
                "the delay of step `{id}` (irp starts a step when the responder does)"
            ));
        }
        if w.get("step_variables").is_some() || w.get("in_args").is_some() || w.get("out_args").is_some() {
            self.not_carried.push(format!(
                "the step variables and arguments of step `{id}` (irp's steps share inputs and query captures instead)"
            ));
        }
        s
    }

    fn decision(
        &mut self,
        cid: &str,
        w: &Value,
        id: &str,
        cont: &Cont,
    ) -> Result<Map<String, Value>, String> {
        let ty = w.get("type").and_then(Value::as_str).unwrap_or_default();
        let mut s = self.base(w, id);
        let after = self.go(str_field(w, "on_completion"), cont, 0)?;
        let mut prompt = name_of(w).unwrap_or("Which way?").to_owned();
        if let Some(d) = str_field(w, "description") {
            let _ = write!(prompt, "\n\n{d}");
        }
        let mut options = Vec::new();
        match ty {
            "if-condition" => {
                let condition = str_field(w, "condition").unwrap_or("(no condition given)");
                let _ = write!(prompt, "\n\nCondition: `{condition}`");
                let on_true = self.go(str_field(w, "on_true"), &after, 0)?;
                let on_false = self.go(str_field(w, "on_false"), &after, 0)?;
                options.push(
                    json!({ "id": "true", "label": "Yes: the condition holds", "next": on_true.yaml() }),
                );
                options.push(json!({ "id": "false", "label": "No", "next": on_false.yaml() }));
            }
            "while-condition" => {
                let condition = str_field(w, "condition").unwrap_or("(no condition given)");
                let _ = write!(prompt, "\n\nRepeat while: `{condition}`");
                let again = self.go(str_field(w, "on_true"), &Cont::Step(id.to_owned()), 0)?;
                options.push(json!({ "id": "repeat", "label": "Yes: the condition holds, run the loop again", "next": again.yaml() }));
                options.push(json!({ "id": "done", "label": "No: go on", "next": after.yaml() }));
            }
            _ => {
                let switch = str_field(w, "switch").unwrap_or("(no value named)");
                let _ = write!(prompt, "\n\nThe value of `{switch}`:");
                let cases = w
                    .get("cases")
                    .and_then(Value::as_object)
                    .cloned()
                    .unwrap_or_default();
                let mut used = HashSet::new();
                for (case, step) in &cases {
                    let mut oid = slug(case, 40);
                    if oid.is_empty() {
                        "case".clone_into(&mut oid);
                    }
                    let base = oid.clone();
                    let mut n = 2;
                    while !used.insert(oid.clone()) {
                        oid = format!("{base}-{n}");
                        n += 1;
                    }
                    let next = self.go(step.as_str(), &after, 0)?;
                    let label = if case == "default" {
                        "Any other value (default)".to_owned()
                    } else {
                        one_line(case)
                    };
                    options.push(json!({ "id": oid, "label": label, "next": next.yaml() }));
                }
                if !cases.contains_key("default") {
                    options.push(
                        json!({ "id": "none-of-these", "label": "None of these", "next": after.yaml() }),
                    );
                }
                if options.len() < 2 {
                    options.push(json!({ "id": "go-on", "label": "Go on", "next": after.yaml() }));
                }
            }
        }
        if w.get("on_failure").is_some() || w.get("on_success").is_some() {
            self.not_carried.push(format!(
                "on_success/on_failure of condition {cid}: a decision in irp cannot fail"
            ));
        }
        s.insert(
            "decision".into(),
            json!({ "prompt": literal(&prompt), "options": options }),
        );
        Ok(s)
    }

    fn action(&mut self, cid: &str, w: &Value, id: &str, cont: &Cont) -> Result<Map<String, Value>, String> {
        let mut s = self.base(w, id);
        let mut guidance = str_field(w, "description").map(str::to_owned).unwrap_or_default();
        if let Some(agent) = str_field(w, "agent") {
            let role = self.role(agent);
            s.insert("role".into(), json!(role));
        }
        let targets = self.targets(w);
        if !targets.is_empty() {
            let _ = write!(guidance, "\n\nTargets: {}.", targets.join("; "));
        }
        let commands: Vec<&Value> = w
            .get("commands")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .collect();
        if commands.is_empty() {
            let text = if guidance.trim().is_empty() {
                name_of(w).unwrap_or("(no text)").to_owned()
            } else {
                guidance.trim().to_owned()
            };
            s.insert("note".into(), json!(self.with_inputs(&literal(&text))));
        } else {
            let mut items = Vec::new();
            for (n, c) in commands.iter().enumerate() {
                let ty = c.get("type").and_then(Value::as_str).unwrap_or("command");
                let content = command_text(c);
                if ty == "manual" {
                    let text = content
                        .or_else(|| str_field(c, "description").map(str::to_owned))
                        .unwrap_or_else(|| "(no instruction given)".to_owned());
                    items.push(self.with_inputs(&literal(text.trim())));
                } else {
                    let content = content.unwrap_or_default();
                    let first = content.lines().next().unwrap_or_default();
                    let short = if content.lines().count() > 1 || first.chars().count() > 120 {
                        format!("{}…", first.chars().take(100).collect::<String>())
                    } else {
                        first.to_owned()
                    };
                    items.push(self.with_inputs(&literal(&format!(
                        "Carry out by hand, or in the tool that runs it, the `{ty}` command {}: {short}",
                        n + 1
                    ))));
                    let _ = write!(
                        guidance,
                        "\n\nCommand {} ({ty}{}), not run by irp:\n\n~~~\n{}\n~~~",
                        n + 1,
                        str_field(c, "description")
                            .map(|d| format!(": {}", one_line(d)))
                            .unwrap_or_default(),
                        content.replace("~~~", "~ ~ ~")
                    );
                    let note = format!(
                        "`{ty}` commands become checklist lines that show them; irp does not run them"
                    );
                    if !self.not_carried.contains(&note) {
                        self.not_carried.push(note);
                    }
                }
            }
            s.insert("action".into(), json!({ "manual": items }));
        }
        if !guidance.trim().is_empty() && s.contains_key("action") {
            s.insert(
                "guidance".into(),
                json!(self.with_inputs(&literal(guidance.trim()))),
            );
        }
        let next = self.go(
            str_field(w, "on_success").or(str_field(w, "on_completion")),
            cont,
            0,
        )?;
        s.insert("next".into(), next.yaml());
        if let Some(f) = str_field(w, "on_failure") {
            match self.go(Some(f), cont, 0)? {
                Cont::Step(g) => {
                    s.insert("on_failure".into(), json!({ "goto": g }));
                }
                Cont::End => self.not_carried.push(format!(
                    "the on_failure of action {cid} ends the playbook; irp asks the responder what to do instead"
                )),
            }
        }
        Ok(s)
    }

    /// The role of an agent: its name as an id, declared with its description.
    fn role(&mut self, agent: &str) -> String {
        if let Some(r) = self.agent_roles.get(agent) {
            return r.clone();
        }
        let def = self.doc.get("agent_definitions").and_then(|d| d.get(agent));
        let name = def
            .and_then(name_of)
            .unwrap_or(agent.split("--").next().unwrap_or("agent"));
        let mut role = slug(name, 40);
        if role.is_empty() {
            "agent".clone_into(&mut role);
        }
        let base = role.clone();
        let mut n = 2;
        while self.roles.contains_key(&role) {
            role = format!("{base}-{n}");
            n += 1;
        }
        let ty = def.and_then(|d| str_field(d, "type")).unwrap_or("agent");
        let what = def
            .and_then(|d| str_field(d, "description"))
            .map_or_else(|| format!("CACAO {ty} agent `{}`", one_line(name)), one_line);
        self.roles.insert(role.clone(), json!(what));
        self.agent_roles.insert(agent.to_owned(), role.clone());
        role
    }

    /// The targets of an action, as text: name, type, addresses.
    fn targets(&self, w: &Value) -> Vec<String> {
        let defs = self.doc.get("target_definitions");
        w.get("targets")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(|t| {
                let def = defs.and_then(|d| d.get(t));
                let name = def.and_then(name_of).unwrap_or(t);
                let ty = def.and_then(|d| str_field(d, "type")).unwrap_or("target");
                let addresses: Vec<String> = def
                    .and_then(|d| d.get("address"))
                    .and_then(Value::as_object)
                    .into_iter()
                    .flatten()
                    .flat_map(|(_, v)| v.as_array().cloned().unwrap_or_default())
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect();
                if addresses.is_empty() {
                    format!("{} ({ty})", one_line(name))
                } else {
                    format!("{} ({ty}: {})", one_line(name), addresses.join(", "))
                }
            })
            .collect()
    }

    /// Playbook variables become inputs (given when a case opens), and `__name__:value` in step
    /// text becomes `{{ name }}`.
    fn playbook_variables(&mut self) {
        let Some(vars) = self.doc.get("playbook_variables").and_then(Value::as_object) else {
            return;
        };
        for (var, spec) in vars {
            let name = var.trim_matches('_').replace('-', "_").to_lowercase();
            if !is_var(&name) || self.inputs.values().any(|(n, _)| *n == name) {
                self.not_carried.push(format!(
                    "playbook variable {var} (not a name irp can give an input)"
                ));
                continue;
            }
            let value = spec.get("value").and_then(Value::as_str);
            let (ty, default) = match spec.get("type").and_then(Value::as_str) {
                Some("integer" | "long") => (
                    "integer",
                    value.and_then(|v| v.parse::<i64>().ok()).map(Value::from),
                ),
                Some("bool") => (
                    "boolean",
                    value.and_then(|v| v.parse::<bool>().ok()).map(Value::from),
                ),
                _ => ("string", value.map(Value::from)),
            };
            let mut input = Map::new();
            input.insert("type".into(), json!(ty));
            if let Some(d) = str_field(spec, "description") {
                input.insert("description".into(), json!(d));
            }
            match default {
                Some(d) => {
                    input.insert("default".into(), d);
                }
                None => {
                    input.insert(
                        "example".into(),
                        if ty == "string" {
                            json!(name)
                        } else if ty == "integer" {
                            json!(0)
                        } else {
                            json!(false)
                        },
                    );
                }
            }
            self.inputs
                .insert(var.clone(), (name.clone(), Value::Object(input)));
        }
    }

    /// `text` with each `__var__:value` of a carried playbook variable as `{{ input }}`.
    fn with_inputs(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for (var, (name, _)) in &self.inputs {
            out = out.replace(&format!("{var}:value"), &format!("{{{{ {name} }}}}"));
        }
        out
    }

    fn tlp(&self) -> Option<&'static str> {
        let markings = self.doc.get("markings").and_then(Value::as_array)?;
        let levels = ["clear", "green", "amber", "amber+strict", "red"];
        // The most restrictive marking applies.
        markings
            .iter()
            .filter_map(Value::as_str)
            .filter_map(|m| TLP_MARKINGS.iter().position(|(_, id)| *id == m))
            .max()
            .map(|i| levels[i])
    }

    fn references(&self) -> Vec<String> {
        self.doc
            .get("external_references")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|r| {
                let name = str_field(r, "name").unwrap_or_default();
                match (
                    str_field(r, "url"),
                    str_field(r, "description"),
                    str_field(r, "source"),
                ) {
                    (Some(u), _, _) => Some(u.to_owned()),
                    (None, Some(d), _) if d != name => Some(one_line(&format!("{name}: {d}"))),
                    (None, _, Some(s)) => Some(one_line(&format!("{name}: {s}"))),
                    _ if !name.is_empty() => Some(one_line(name)),
                    _ => None,
                }
            })
            .collect()
    }

    fn phase(&self) -> &'static str {
        let types: Vec<&str> = self
            .doc
            .get("playbook_types")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let has = |t: &str| types.contains(&t);
        if has("investigation") || has("detection") || types.is_empty() {
            "detection-and-analysis"
        } else if has("mitigation") || has("remediation") || has("prevention") {
            "containment-eradication-recovery"
        } else {
            "detection-and-analysis"
        }
    }

    fn playbook_level_losses(&mut self) {
        let notes = [
            (
                "authentication_info_definitions",
                "authentication info: credentials are never imported",
            ),
            (
                "signatures",
                "the playbook's signatures (they sign the CACAO document, not the irp playbook)",
            ),
            (
                "workflow_exception",
                "workflow_exception: irp asks the responder when a step fails",
            ),
            ("labels", "labels"),
            ("playbook_processing_summary", "playbook_processing_summary"),
            ("derived_from", "derived_from"),
            ("related_to", "related_to"),
            (
                "priority",
                "priority, severity and impact (irp's severity guidance is words)",
            ),
            ("industry_sectors", "industry_sectors"),
            ("valid_until", "valid_from and valid_until"),
        ];
        for (key, note) in notes {
            if self.doc.contains_key(key) {
                self.not_carried.push(note.to_owned());
            }
        }
        let ext = extension_id();
        for key in ["extension_definitions", "playbook_extensions"] {
            if let Some(defs) = self.doc.get(key).and_then(Value::as_object) {
                for id in defs.keys().filter(|k| **k != ext) {
                    let note = format!("extension {id}");
                    if !self.not_carried.contains(&note) {
                        self.not_carried.push(note);
                    }
                }
            }
        }
    }

    fn new_id(&mut self, name: &str) -> String {
        let mut base = slug(name, 48);
        if base.is_empty() || !is_id(&base) {
            "step".clone_into(&mut base);
        }
        let mut id = base.clone();
        let mut n = 2;
        while self.used.contains(&id) {
            id = format!("{base}-{n}");
            n += 1;
        }
        self.used.insert(id.clone());
        id
    }
}

fn str_field<'v>(v: &'v Value, key: &str) -> Option<&'v str> {
    v.get(key).and_then(Value::as_str)
}

fn name_of(v: &Value) -> Option<&str> {
    str_field(v, "name").filter(|n| !n.trim().is_empty())
}

/// A command's content: `command`, or `command_b64` decoded (as text), or its HTTP parts.
fn command_text(c: &Value) -> Option<String> {
    if let Some(t) = str_field(c, "command") {
        return Some(t.to_owned());
    }
    if let Some(b) = str_field(c, "command_b64") {
        return Some(match base64::engine::general_purpose::STANDARD.decode(b.trim()) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(_) => format!("(command_b64 that is not base64: {b})"),
        });
    }
    let parts: Vec<String> = ["content", "content_b64", "sources", "statement"]
        .iter()
        .filter_map(|k| {
            c.get(*k)
                .map(|v| format!("{k}: {}", v.as_str().map_or_else(|| v.to_string(), str::to_owned)))
        })
        .collect();
    (!parts.is_empty()).then(|| parts.join("\n"))
}

/// Lowercase letters, digits and dashes from `s`, at most `max` characters.
fn slug(s: &str, max: usize) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
        if out.len() >= max {
            break;
        }
    }
    out.trim_end_matches('-').to_owned()
}

/// Text that renders as itself in irp's templates: each `{` that would open a tag (`{{`, `{%`,
/// `{#`) is written as an expression that prints `{`.
pub fn literal(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '{' && matches!(chars.peek(), Some('{' | '%' | '#')) {
            out.push_str("{{ '{' }}");
        } else {
            out.push(c);
        }
    }
    out
}
