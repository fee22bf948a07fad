//! The validator: raw mirror -> checked `Playbook`, reporting every problem it finds (ids,
//! references, reachability, templates and their variables, tables, operations and parameters,
//! inputs and their defaults) with a position and a hint.

use std::collections::{HashMap, HashSet, VecDeque};

use chrono::{DateTime, Utc};
use indexmap::IndexMap;

use super::context::{
    BUILTINS, ITEM_VARS, ROW, ROWS, SQL_BUILTINS, TableNaming, is_reserved, sample_context,
};
use super::diag::{Diagnostic, Pos, did_you_mean};
use super::model::{
    ActionKind, ActionStep, CaptureDef, CaptureRule, DecisionOption, DecisionStep, FailurePolicy, InputSpec,
    Next, Playbook, QueryStep, SeverityGuide, Stage, Step, StepKind,
};
use super::node::Sp;
use super::raw::{self, Confirm, InputType, ParamValue};
use super::sql;
use super::table::LogicalTable;
use super::template::{self, TemplateError};
use super::value::{check_input_value, compile_pattern, parse_duration};
use crate::action::{self, Effect};

/// The fixed "now" that sample renders use, so validation output never depends on the clock.
pub const SAMPLE_NOW: &str = "2026-01-15T12:00:00Z";

/// CSF 2.0 categories (SP 800-61 r3 Community Profile).
const CSF_CATEGORIES: &[&str] = &[
    "GV.OC", "GV.RM", "GV.RR", "GV.PO", "GV.OV", "GV.SC", "ID.AM", "ID.RA", "ID.IM", "PR.AA", "PR.AT",
    "PR.DS", "PR.PS", "PR.IR", "DE.CM", "DE.AE", "RS.MA", "RS.AN", "RS.CO", "RS.MI", "RC.RP", "RC.CO",
];

const SHELLS: &[&str] = &[
    "sh",
    "bash",
    "zsh",
    "dash",
    "ksh",
    "fish",
    "cmd",
    "cmd.exe",
    "powershell",
    "pwsh",
];

/// Why `program` with `args` would run code given inline (a shell string, `python -c`, a wrapper
/// that runs another program), if it would.
fn runs_inline_code(program: &str, args: &[&str]) -> Option<String> {
    let lower = program.to_ascii_lowercase();
    // A short-flag bundle (`-lc`, `-ec`) holding one of `letters`.
    let bundle = |letters: &[char]| {
        args.iter().any(|a| {
            a.starts_with('-') && !a.starts_with("--") && a[1..].chars().any(|c| letters.contains(&c))
        })
    };
    let long = |names: &[&str]| {
        args.iter().any(|a| {
            names
                .iter()
                .any(|n| a.eq_ignore_ascii_case(n) || a.starts_with(&format!("{n}=")))
        })
    };
    if SHELLS.contains(&lower.as_str()) {
        let powershell = lower.starts_with("powershell") || lower.starts_with("pwsh");
        return (bundle(&['c'])
            || args.contains(&"/c")
            || args.contains(&"/C")
            || (powershell && long(&["-Command", "-EncodedCommand", "-c", "-e", "-ec"])))
        .then(|| format!("`{program}` with a command string"));
    }
    if WRAPPERS.contains(&lower.as_str()) {
        return Some(format!(
            "`{program}` runs another program (or a remote shell) from its arguments"
        ));
    }
    let interpreter = |name: &str| {
        lower == name
            || lower
                .strip_prefix(name)
                .is_some_and(|v| v.chars().all(|c| c.is_ascii_digit() || c == '.'))
    };
    let inline = if interpreter("python") {
        bundle(&['c'])
    } else if interpreter("perl") {
        bundle(&['e', 'E'])
    } else if interpreter("ruby") || interpreter("lua") {
        bundle(&['e'])
    } else if interpreter("node") || interpreter("nodejs") || interpreter("deno") || interpreter("bun") {
        bundle(&['e', 'p']) || long(&["--eval", "--print"]) || args.contains(&"eval")
    } else if interpreter("php") {
        bundle(&['r'])
    } else if interpreter("awk") || interpreter("gawk") || interpreter("mawk") {
        // Its first operand is a program, and `system()` runs a shell.
        true
    } else {
        false
    };
    inline.then(|| format!("`{program}` with code in its arguments"))
}

/// Programs that run another program, or a shell on another machine, from their arguments.
const WRAPPERS: &[&str] = &[
    "env", "ssh", "xargs", "sudo", "doas", "nohup", "timeout", "nice", "setsid", "busybox", "exec", "script",
    "su", "runuser", "chroot", "stdbuf", "watch", "parallel",
];

/// Validates a raw playbook. `src` is the file's text (for positions inside templates).
pub fn validate(raw: &raw::Playbook, src: &str) -> (Option<Playbook>, Vec<Diagnostic>) {
    let mut v = Validator {
        lines: src.lines().collect(),
        diags: Vec::new(),
    };
    let pb = v.run(raw);
    let has_errors = v.diags.iter().any(Diagnostic::is_error);
    (if has_errors { None } else { pb }, v.diags)
}

struct Validator<'a> {
    /// The file's lines, for positions inside templates.
    lines: Vec<&'a str>,
    diags: Vec<Diagnostic>,
}

/// Positions of things a step refers to, kept for the second pass.
struct StepRefs {
    id_pos: Pos,
    next: Option<Sp<String>>,
    /// Each decision option's `next`, in option order.
    option_targets: Vec<Sp<String>>,
    goto: Option<Sp<String>>,
    templates: Vec<TemplateUse>,
    captures: Vec<(String, Pos)>,
    /// The capture a `for_each` action runs over.
    for_each: Option<Sp<String>>,
}

impl StepRefs {
    fn template(&mut self, text: &str, pos: Pos, what: &'static str, kind: TemplateKind) {
        self.templates.push(TemplateUse {
            text: text.to_owned(),
            pos,
            what,
            kind,
        });
    }
}

/// A template or expression in a step, checked once the variables in scope are known.
struct TemplateUse {
    text: String,
    pos: Pos,
    what: &'static str,
    kind: TemplateKind,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum TemplateKind {
    Sql,
    Text,
    Expr,
    /// A capture expression: may read `rows`.
    Capture,
    /// A record capture's `where`: may read `row`.
    RowFilter,
}

impl Validator<'_> {
    fn err(&mut self, pos: Pos, msg: impl Into<String>, hint: impl Into<Option<String>>) {
        self.diags
            .push(Diagnostic::error(pos, msg).with_hint_opt(hint.into()));
    }

    /// A playbook date: `2026-11-01` (midnight UTC) or an RFC 3339 time.
    fn date(&mut self, d: &Sp<String>, field: &str) -> Option<DateTime<Utc>> {
        let v = d.value.trim();
        let parsed = DateTime::parse_from_rfc3339(v)
            .map(|t| t.with_timezone(&Utc))
            .ok()
            .or_else(|| {
                chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d")
                    .ok()
                    .and_then(|day| day.and_hms_opt(0, 0, 0))
                    .map(|t| t.and_utc())
            });
        if parsed.is_none() {
            self.err(
                d.pos,
                format!("`{field}` is `{}`, which is not a date", d.value),
                Some("write a date (`2026-11-01`) or an RFC 3339 time (`2026-11-01T09:30:00Z`)".to_owned()),
            );
        }
        parsed
    }

    fn run(&mut self, raw: &raw::Playbook) -> Option<Playbook> {
        if raw.irp.value != 1 {
            self.err(
                raw.irp.pos,
                format!("unsupported playbook format version {}", raw.irp.value),
                Some("this irp reads format `irp: 1`".to_owned()),
            );
        }
        self.check_id(&raw.id, "playbook");
        if raw.version.value.trim().is_empty() {
            self.err(
                raw.version.pos,
                "`version` is empty",
                Some("e.g. `version: 1.0.0`".to_owned()),
            );
        }
        let severity = raw
            .severity
            .iter()
            .map(|s| SeverityGuide {
                level: s.level.clone(),
                when: s.when.clone(),
                respond_within: s.respond_within.as_ref().and_then(|d| self.duration(d)),
            })
            .collect();
        for (role, description) in &raw.roles {
            if !is_id(role) {
                self.err(
                    description.pos,
                    format!("role id `{role}` is not lowercase letters, digits and dashes"),
                    Some(format!("e.g. `{}`", suggest_id(role))),
                );
            }
        }
        let inputs = self.inputs(&raw.inputs);

        // Stages and steps, first pass: structure, ids, kinds, references by name.
        let mut stages = Vec::new();
        let mut steps: Vec<Step> = Vec::new();
        let mut refs: Vec<StepRefs> = Vec::new();
        let mut stage_ids: HashMap<String, Pos> = HashMap::new();
        let mut step_ids: HashMap<String, Pos> = HashMap::new();
        if raw.stages.is_empty() {
            self.err(
                Pos::new(1, 1),
                "the playbook has no stages",
                Some("add at least one stage with steps under `stages:`".to_owned()),
            );
        }
        let frameworks = raw
            .framework
            .as_ref()
            .map_or_else(|| vec![raw::Framework::Nist80061r2], raw::Frameworks::list);
        if frameworks.is_empty() {
            self.err(
                Pos::new(1, 1),
                "`framework` is an empty list",
                Some("name `nist-800-61r2`, `nist-800-61r3` or both".to_owned()),
            );
        }
        let r3_only = frameworks.iter().all(|f| *f == raw::Framework::Nist80061r3) && !frameworks.is_empty();
        for t in &raw.attack {
            self.check_attack(t);
        }
        for (si, stage) in raw.stages.iter().enumerate() {
            self.check_id(&stage.id, "stage");
            self.unique(
                &mut stage_ids,
                &stage.id,
                "stage",
                "stage ids must be unique in the playbook",
            );
            for c in &stage.csf {
                self.check_csf(c);
            }
            if stage.steps.is_empty() {
                self.err(
                    stage.id.pos,
                    format!("stage `{}` has no steps", stage.id.value),
                    Some("add steps under `steps:` or remove the stage".to_owned()),
                );
            }
            let start = steps.len();
            for step in &stage.steps {
                self.check_id(&step.id, "step");
                if step.id.value == "end" {
                    self.err(
                        step.id.pos,
                        "`end` is reserved and cannot be a step id",
                        Some("`next: end` closes the case; rename the step".to_owned()),
                    );
                }
                self.unique(
                    &mut step_ids,
                    &step.id,
                    "step",
                    "step ids must be unique across the whole playbook",
                );
                let (built, r) = self.step(step, si, &raw.roles);
                steps.push(built);
                refs.push(r);
            }
            let functions = self.functions(stage, &steps[start..], &frameworks);
            let phase = stage.phase.unwrap_or_else(|| {
                if !r3_only {
                    self.err(
                        stage.id.pos,
                        format!("stage `{}` has no `phase`", stage.id.value),
                        Some("give its NIST SP 800-61 r2 phase (`phase: detection-and-analysis`), or make `framework: nist-800-61r3` the playbook's only framework".to_owned()),
                    );
                }
                phase_of_function(functions.first().map_or("", String::as_str))
            });
            stages.push(Stage {
                id: stage.id.value.clone(),
                title: stage.title.clone(),
                phase,
                functions,
                csf: stage.csf.iter().map(|c| c.value.clone()).collect(),
                description: stage.description.clone(),
                steps: start..steps.len(),
            });
        }

        // Second pass: resolve `next`, options and gotos by name.
        let index: HashMap<String, usize> = {
            let mut m = HashMap::new();
            for (i, s) in steps.iter().enumerate() {
                m.entry(s.id.clone()).or_insert(i);
            }
            m
        };
        let ids: Vec<String> = steps.iter().map(|s| s.id.clone()).collect();
        let count = steps.len();
        for i in 0..count {
            let r = &refs[i];
            let default_next = if i + 1 < count {
                Next::Step(i + 1)
            } else {
                Next::End
            };
            let next = match &r.next {
                Some(n) => self.resolve(n, &index, &ids, "next").unwrap_or(Next::End),
                None => default_next,
            };
            steps[i].next = next;
            if let StepKind::Decision(d) = &mut steps[i].kind {
                let mut resolved = Vec::new();
                for target in &r.option_targets {
                    resolved.push(self.resolve(target, &index, &ids, "next").unwrap_or(Next::End));
                }
                for (opt, n) in d.options.iter_mut().zip(resolved) {
                    opt.next = n;
                }
            }
            if let Some(g) = &r.goto {
                if let Some(Next::Step(t)) = self.resolve(g, &index, &ids, "on_failure goto") {
                    steps[i].on_failure = FailurePolicy::Goto(t);
                } else if g.value == "end" {
                    self.err(
                        g.pos,
                        "`on_failure: { goto: end }` is not allowed",
                        Some("a failed step cannot close the case; go to a step that records why".to_owned()),
                    );
                }
            }
        }

        let created = raw.created.as_ref().and_then(|d| self.date(d, "created"));
        let modified = raw.modified.as_ref().and_then(|d| self.date(d, "modified"));
        if let (Some(c), Some(m)) = (created, modified)
            && m < c
            && let Some(d) = &raw.modified
        {
            self.err(
                d.pos,
                format!(
                    "`modified` ({}) is before `created` ({})",
                    d.value,
                    c.format("%Y-%m-%d")
                ),
                None,
            );
        }
        let pb = Playbook {
            id: raw.id.value.clone(),
            title: raw.title.clone(),
            version: raw.version.value.clone(),
            description: raw.description.clone(),
            references: raw.references.clone(),
            owner: raw.owner.clone(),
            frameworks: {
                let mut f = frameworks.clone();
                f.dedup();
                f
            },
            attack: raw.attack.iter().map(|t| t.value.clone()).collect(),
            created,
            modified: modified.or(created),
            tlp: raw.tlp,
            severity,
            roles: raw
                .roles
                .iter()
                .map(|(k, v)| (k.clone(), v.value.clone()))
                .collect(),
            inputs,
            from_finding: raw.from_finding.as_ref().map(|f| f.value.sql.value.clone()),
            stages,
            steps,
        };
        if let Some(f) = &raw.from_finding {
            self.check_from_finding(&pb, f);
        }
        if pb.steps.is_empty() {
            return None;
        }
        let succ: Vec<Vec<Next>> = (0..pb.steps.len()).map(|i| pb.successors(i)).collect();
        self.reachability(&pb, &refs, &succ);
        self.templates(&pb, &refs, &succ);
        Some(pb)
    }

    /// Records `id` in `seen`, or reports it as a duplicate of the first one.
    fn unique(&mut self, seen: &mut HashMap<String, Pos>, id: &Sp<String>, what: &str, hint: &str) {
        if let Some(first) = seen.get(&id.value) {
            let msg = format!(
                "duplicate {what} id `{}` (first at line {})",
                id.value, first.line
            );
            self.err(id.pos, msg, Some(hint.to_owned()));
        } else {
            seen.insert(id.value.clone(), id.pos);
        }
    }

    fn check_id(&mut self, id: &Sp<String>, what: &str) {
        if !is_id(&id.value) {
            self.err(
                id.pos,
                format!(
                    "{what} id `{}` is not lowercase letters, digits and dashes",
                    id.value
                ),
                Some(format!("e.g. `{}`", suggest_id(&id.value))),
            );
        }
    }

    /// An ATT&CK Enterprise technique id, known to the pinned copy of ATT&CK and current in it.
    fn check_attack(&mut self, t: &Sp<String>) {
        if !crate::standards::is_technique_id(&t.value) {
            self.err(
                t.pos,
                format!("`{}` is not an ATT&CK technique id", t.value),
                Some("write `T` and four digits, and `.` and three more for a sub-technique: `T1530`, `T1078.004`".to_owned()),
            );
            return;
        }
        let v = crate::standards::ATTACK_VERSION;
        match crate::standards::technique(&t.value) {
            None => {
                let hint = did_you_mean(&t.value, crate::standards::technique_ids())
                    .unwrap_or_else(|| "look it up on attack.mitre.org (Enterprise)".to_owned());
                self.err(
                    t.pos,
                    format!("`{}` is not a technique of ATT&CK Enterprise v{v}", t.value),
                    Some(hint),
                );
            }
            Some(x) if x.status != crate::standards::Status::Active => {
                let what = if x.status == crate::standards::Status::Revoked {
                    "revoked"
                } else {
                    "deprecated"
                };
                self.diags.push(
                    Diagnostic::warning(
                        t.pos,
                        format!("`{}` ({}) is {what} in ATT&CK Enterprise v{v}", t.value, x.name),
                    )
                    .with_hint("use the technique that replaced it (attack.mitre.org names it)"),
                );
            }
            Some(_) => {}
        }
    }

    /// A D3FEND technique id known to the pinned D3FEND list.
    fn check_d3fend(&mut self, d: &Sp<String>) {
        if !crate::standards::is_defence_id(&d.value) {
            self.err(
                d.pos,
                format!("`{}` is not a D3FEND technique id", d.value),
                Some("write `D3-` and the technique's letters: `D3-CR` (credential revocation), `D3-NI` (network isolation)".to_owned()),
            );
        } else if crate::standards::defence(&d.value).is_none() {
            let hint = did_you_mean(&d.value, crate::standards::defence_ids())
                .unwrap_or_else(|| "look it up on d3fend.mitre.org".to_owned());
            self.err(
                d.pos,
                format!(
                    "`{}` is not a D3FEND technique ({})",
                    d.value,
                    crate::standards::D3FEND_SOURCE
                ),
                Some(hint),
            );
        }
    }

    /// A stage's CSF 2.0 functions: given (each checked), or those of its and its steps'
    /// `csf` tags, in CSF order. With r3 declared, a stage must end up with one.
    fn functions(
        &mut self,
        stage: &raw::Stage,
        steps: &[Step],
        frameworks: &[raw::Framework],
    ) -> Vec<String> {
        let known: Vec<&str> = crate::standards::CSF_FUNCTIONS.iter().map(|(f, _)| *f).collect();
        let tagged: Vec<String> = {
            let of_tags: HashSet<&str> = stage
                .csf
                .iter()
                .map(|c| c.value.as_str())
                .chain(steps.iter().flat_map(|s| s.csf.iter().map(String::as_str)))
                .filter_map(|c| c.split('.').next())
                .collect();
            known
                .iter()
                .filter(|f| of_tags.contains(*f))
                .map(|f| (*f).to_owned())
                .collect()
        };
        let mut out = Vec::new();
        for f in &stage.functions {
            if !known.contains(&f.value.as_str()) {
                let hint = did_you_mean(&f.value, known.iter().copied())
                    .unwrap_or_else(|| "the CSF 2.0 functions are GV, ID, PR, DE, RS and RC".to_owned());
                self.err(
                    f.pos,
                    format!("unknown CSF 2.0 function `{}`", f.value),
                    Some(hint),
                );
            } else if out.contains(&f.value) {
                self.err(f.pos, format!("function `{}` is given twice", f.value), None);
            } else {
                out.push(f.value.clone());
            }
        }
        if out.is_empty() {
            out = tagged;
        } else if let Some(extra) = tagged.iter().find(|t| !out.contains(t)) {
            self.diags.push(
                Diagnostic::warning(
                    stage.functions[0].pos,
                    format!(
                        "stage `{}` has `csf` tags of the function `{extra}`, which its `functions` do not name",
                        stage.id.value
                    ),
                )
                .with_hint(format!("add `{extra}` to `functions`, or correct the tag")),
            );
        }
        if out.is_empty() && frameworks.contains(&raw::Framework::Nist80061r3) {
            self.err(
                stage.id.pos,
                format!(
                    "stage `{}` has no CSF 2.0 function, which `nist-800-61r3` needs",
                    stage.id.value
                ),
                Some("give `functions: [RS]` (say), or `csf` tags on the stage or its steps".to_owned()),
            );
        }
        out
    }

    fn check_csf(&mut self, c: &Sp<String>) {
        let cat = c.value.split('-').next().unwrap_or_default();
        let sub_ok = c
            .value
            .split_once('-')
            .is_none_or(|(_, n)| n.len() == 2 && n.chars().all(|d| d.is_ascii_digit()));
        if !CSF_CATEGORIES.contains(&cat) || !sub_ok {
            let hint = did_you_mean(cat, CSF_CATEGORIES.iter().copied()).unwrap_or_else(|| {
                "use a CSF 2.0 category such as `RS.AN` or a subcategory such as `RS.MA-02`".to_owned()
            });
            self.err(
                c.pos,
                format!("unknown CSF 2.0 category `{}`", c.value),
                Some(hint),
            );
        }
    }

    fn duration(&mut self, d: &Sp<String>) -> Option<std::time::Duration> {
        match parse_duration(&d.value) {
            Ok(x) => Some(x),
            Err(e) => {
                self.err(d.pos, format!("invalid duration: {e}"), None);
                None
            }
        }
    }

    fn inputs(&mut self, raw: &IndexMap<String, Sp<raw::Input>>) -> IndexMap<String, InputSpec> {
        let mut out = IndexMap::new();
        for (name, input) in raw {
            let pos = input.pos;
            let reserved = is_reserved(name);
            if !is_var(name) {
                self.err(
                    pos,
                    format!("input name `{name}` is not a template variable name"),
                    Some("use lowercase letters, digits and `_`, starting with a letter".to_owned()),
                );
            } else if reserved {
                self.err(
                    pos,
                    format!("input name `{name}` is reserved"),
                    Some(format!("`{name}` is provided by irp; rename the input")),
                );
            }
            let ty = input.ty.value;
            let items = input.items.as_ref().map_or(InputType::String, |i| i.value);
            if let Some(it) = &input.items {
                if ty != InputType::List {
                    self.err(
                        it.pos,
                        format!("`items` is only for `list` inputs (`{name}` is not a list)"),
                        None,
                    );
                } else if matches!(it.value, InputType::List | InputType::Enum) {
                    self.err(it.pos, "list items cannot be lists or enums", None);
                }
            }
            let values = input.values.clone().unwrap_or_default();
            if ty == InputType::Enum && values.is_empty() {
                self.err(
                    pos,
                    format!("enum input `{name}` has no `values`"),
                    Some("list the allowed values under `values:`".to_owned()),
                );
            }
            if ty != InputType::Enum && input.values.is_some() {
                self.err(
                    pos,
                    format!("`values` is only for `enum` inputs (`{name}` is not an enum)"),
                    None,
                );
            }
            let pattern = input.pattern.as_ref().and_then(|p| {
                if matches!(ty, InputType::Integer | InputType::Boolean) {
                    self.err(
                        p.pos,
                        format!("`pattern` does not apply to {ty:?} inputs").to_lowercase(),
                        None,
                    );
                    return None;
                }
                match compile_pattern(&p.value) {
                    Ok(re) => Some(re),
                    Err(e) => {
                        self.err(p.pos, format!("`pattern` of input `{name}`: {e}"), None);
                        None
                    }
                }
            });
            let protected = input.protected.as_ref().is_some_and(|p| {
                let names = matches!(ty, InputType::String | InputType::Arn)
                    || (ty == InputType::List && matches!(items, InputType::String | InputType::Arn));
                if p.value && !names {
                    self.err(
                        p.pos,
                        format!("`protected` input `{name}` does not hold principal names"),
                        Some("give it `type: string`, `type: arn`, or `type: list` of those".to_owned()),
                    );
                }
                p.value && names
            });
            for (what, val) in [("default", &input.default), ("example", &input.example)] {
                if let Some(val) = val
                    && let Err(e) = check_input_value(&val.value, ty, items, pattern.as_ref(), &values)
                {
                    self.err(
                        val.pos,
                        format!("the {what} of input `{name}` is invalid: {e}"),
                        Some(format!("fix the {what} or the input's `type`/`pattern`")),
                    );
                }
            }
            out.insert(
                name.clone(),
                InputSpec {
                    ty,
                    items,
                    required: input.required,
                    pattern,
                    default: input.default.as_ref().map(|d| d.value.clone()),
                    example: input.example.as_ref().map(|d| d.value.clone()),
                    description: input.description.clone(),
                    values,
                    protected,
                },
            );
        }
        out
    }

    fn step(
        &mut self,
        step: &raw::Step,
        stage: usize,
        roles: &IndexMap<String, Sp<String>>,
    ) -> (Step, StepRefs) {
        let mut r = StepRefs {
            id_pos: step.id.pos,
            next: step.next.clone(),
            option_targets: Vec::new(),
            goto: None,
            templates: Vec::new(),
            captures: Vec::new(),
            for_each: None,
        };
        if let Some(role) = &step.role
            && !roles.contains_key(&role.value)
        {
            let hint = did_you_mean(&role.value, roles.keys().map(String::as_str))
                .unwrap_or_else(|| "declare it under `roles:` at the top of the playbook".to_owned());
            self.err(role.pos, format!("unknown role `{}`", role.value), Some(hint));
        }
        for c in &step.csf {
            self.check_csf(c);
        }
        for t in &step.attack {
            self.check_attack(t);
        }
        for d in &step.d3fend {
            self.check_d3fend(d);
        }
        if let (Some(first), None) = (step.d3fend.first(), &step.action) {
            self.err(
                first.pos,
                "`d3fend` names the defence an action applies; this step is not an action",
                Some("move the D3FEND ids to the action step that applies them".to_owned()),
            );
        }
        let timeout = step.timeout.as_ref().and_then(|t| self.duration(t));
        let on_failure = match step.on_failure.as_ref().map(|o| &o.value) {
            None | Some(raw::OnFailure::Ask) => FailurePolicy::Ask,
            Some(raw::OnFailure::Continue) => FailurePolicy::Continue,
            Some(raw::OnFailure::Goto(g)) => {
                r.goto = Some(g.clone());
                FailurePolicy::Ask
            }
        };
        if let Some(g) = &step.guidance {
            r.template(&g.value, g.pos, "guidance", TemplateKind::Text);
        }
        let kinds = [
            step.query.as_ref().map(|q| q.pos),
            step.decision.as_ref().map(|d| d.pos),
            step.action.as_ref().map(|a| a.pos),
            step.note.as_ref().map(|n| n.pos),
        ];
        let present = kinds.iter().flatten().count();
        if present == 0 {
            self.err(
                step.id.pos,
                format!("step `{}` has no kind", step.id.value),
                Some("add one of `query:`, `decision:`, `action:` or `note:`".to_owned()),
            );
        } else if present > 1 {
            let second = kinds.iter().flatten().nth(1).copied().unwrap_or(step.id.pos);
            self.err(
                second,
                format!("step `{}` has more than one kind", step.id.value),
                Some(
                    "a step is one of `query`, `decision`, `action` or `note`; split it into several steps"
                        .to_owned(),
                ),
            );
        }
        let kind = if let Some(q) = &step.query {
            StepKind::Query(self.query(q, &mut r))
        } else if let Some(d) = &step.decision {
            if let Some(n) = &step.next {
                self.err(
                    n.pos,
                    "a decision has no `next`; each option says where it leads",
                    Some("remove `next` and set `next` on the options".to_owned()),
                );
            }
            StepKind::Decision(self.decision(d, &mut r))
        } else if let Some(a) = &step.action {
            StepKind::Action(self.action(a, &mut r))
        } else if let Some(n) = &step.note {
            r.template(&n.value, n.pos, "note", TemplateKind::Text);
            StepKind::Note(n.value.clone())
        } else {
            StepKind::Note(String::new())
        };
        let built = Step {
            id: step.id.value.clone(),
            title: step.title.clone(),
            stage,
            guidance: step.guidance.as_ref().map(|g| g.value.clone()),
            role: step.role.as_ref().map(|r| r.value.clone()),
            csf: step.csf.iter().map(|c| c.value.clone()).collect(),
            attack: step.attack.iter().map(|t| t.value.clone()).collect(),
            d3fend: step.d3fend.iter().map(|d| d.value.clone()).collect(),
            timeout,
            on_failure,
            kind,
            next: Next::End,
            line: step.id.pos.line,
        };
        (built, r)
    }

    fn table(&mut self, t: &Sp<String>) -> Option<LogicalTable> {
        let found = LogicalTable::parse(&t.value);
        if found.is_none() {
            let names = LogicalTable::ALL.map(LogicalTable::as_str);
            let hint = did_you_mean(&t.value, names)
                .unwrap_or_else(|| format!("known tables: {}", names.join(", ")));
            self.err(t.pos, format!("unknown table `{}`", t.value), Some(hint));
        }
        found
    }

    fn query(&mut self, q: &Sp<raw::Query>, r: &mut StepRefs) -> QueryStep {
        let mut tables = Vec::new();
        let primary = q.table.as_ref().and_then(|t| self.table(t));
        tables.extend(primary);
        for t in &q.tables {
            if let Some(lt) = self.table(t)
                && !tables.contains(&lt)
            {
                tables.push(lt);
            }
        }
        if q.table.is_none() && q.tables.is_empty() {
            self.err(q.pos, "the query names no table", Some("add `table: cloud_trail_mgmt` (or another logical table) and use `{{ table }}` in the SQL".to_owned()));
        }
        if q.sql.value.trim().is_empty() {
            self.err(q.sql.pos, "the query's `sql` is empty", None);
        }
        r.template(&q.sql.value, q.sql.pos, "sql", TemplateKind::Sql);
        let mut captures = IndexMap::new();
        for (name, cap) in &q.capture {
            if !is_var(name) {
                self.err(
                    cap.pos,
                    format!("capture name `{name}` is not a template variable name"),
                    Some("use lowercase letters, digits and `_`, starting with a letter".to_owned()),
                );
            }
            r.captures.push((name.clone(), cap.pos));
            let (rule, example, description) = match &cap.value {
                raw::Capture::Expr(e) => (Some(expr_rule(e)), None, None),
                raw::Capture::Full(f) => {
                    let rule = match (&f.expr, &f.fields) {
                        (Some(e), None) => {
                            if f.filter.is_some() {
                                self.err(
                                    cap.pos,
                                    format!("capture `{name}` has `where` without `fields`"),
                                    Some("`where` picks the rows a record capture keeps; an `expr` filters with `selectattr`".to_owned()),
                                );
                            }
                            Some(expr_rule(e))
                        }
                        (None, Some(fields)) => {
                            self.record_fields(name, fields, f.filter.as_deref(), cap.pos)
                        }
                        (Some(_), Some(_)) => {
                            self.err(
                                cap.pos,
                                format!("capture `{name}` has both `expr` and `fields`"),
                                Some(CAPTURE_FORMS.to_owned()),
                            );
                            None
                        }
                        (None, None) => {
                            self.err(
                                cap.pos,
                                format!("capture `{name}` has neither `expr` nor `fields`"),
                                Some(CAPTURE_FORMS.to_owned()),
                            );
                            None
                        }
                    };
                    (rule, f.example.clone(), f.description.clone())
                }
            };
            let Some(rule) = rule else { continue };
            match &rule {
                CaptureRule::Expr(expr) => r.template(expr, cap.pos, "capture", TemplateKind::Capture),
                CaptureRule::Records { fields, filter } => {
                    if let Some(ex) = &example {
                        self.check_record_example(name, fields, ex, cap.pos);
                    }
                    if let Some(filter) = filter {
                        r.template(filter, cap.pos, "capture's `where`", TemplateKind::RowFilter);
                    }
                }
            }
            captures.insert(
                name.clone(),
                CaptureDef {
                    rule,
                    example,
                    description,
                },
            );
        }
        QueryStep {
            table: tables.first().copied().unwrap_or(LogicalTable::CloudTrailMgmt),
            tables,
            sql: q.sql.value.clone(),
            coverage: q.coverage,
            captures,
        }
    }

    /// The fields of a record capture: at least one, each named once.
    fn record_fields(
        &mut self,
        name: &str,
        fields: &[String],
        filter: Option<&str>,
        pos: Pos,
    ) -> Option<CaptureRule> {
        if fields.is_empty() {
            self.err(
                pos,
                format!("capture `{name}` takes no field"),
                Some(
                    "list the result's columns the records keep, e.g. `fields: [user_name, access_key_id]`"
                        .to_owned(),
                ),
            );
            return None;
        }
        let mut seen: Vec<&str> = Vec::new();
        for f in fields {
            if f.trim().is_empty() {
                self.err(pos, format!("capture `{name}` has an empty field name"), None);
                return None;
            }
            if seen.contains(&f.as_str()) {
                self.err(pos, format!("capture `{name}` takes field `{f}` twice"), None);
                return None;
            }
            seen.push(f);
        }
        Some(CaptureRule::Records {
            fields: fields.to_vec(),
            filter: filter.map(|f| template::bare_expression(f).to_owned()),
        })
    }

    /// A record capture's example: a list of mappings with exactly the capture's fields.
    fn check_record_example(&mut self, name: &str, fields: &[String], example: &serde_json::Value, pos: Pos) {
        let fits = example.as_array().is_some_and(|records| {
            records.iter().all(|r| {
                r.as_object()
                    .is_some_and(|o| o.len() == fields.len() && fields.iter().all(|f| o.contains_key(f)))
            })
        });
        if !fits {
            self.err(
                pos,
                format!(
                    "the example of capture `{name}` is not a list of records with the fields {}",
                    fields.join(", ")
                ),
                Some(format!(
                    "write it as `example: [{{{}}}]`",
                    fields
                        .iter()
                        .map(|f| format!("{f}: …"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            );
        }
    }

    /// `from_finding`: the playbook has a `finding_id` text input, the SQL renders, and each
    /// column it returns (where that can be known without the tables) is another input.
    fn check_from_finding(&mut self, pb: &Playbook, f: &Sp<raw::FromFinding>) {
        use crate::playbook::context::FINDING_ID;
        match pb.inputs.get(FINDING_ID) {
            None => {
                self.err(
                    f.pos,
                    format!(
                        "`from_finding` needs an input `{FINDING_ID}` (the finding to open the case from)"
                    ),
                    Some(format!(
                        "declare `{FINDING_ID}: {{ type: string, default: \"\" }}` under `inputs:`"
                    )),
                );
                return;
            }
            Some(spec) if spec.ty != raw::InputType::String => {
                self.err(
                    f.pos,
                    format!("input `{FINDING_ID}` must be of type string"),
                    None,
                );
                return;
            }
            Some(_) => {}
        }
        let naming = TableNaming::default();
        let sql = match crate::playbook::context::finding_sql(pb, "sample", &naming, chrono::Utc::now()) {
            Some(Ok(sql)) => sql,
            Some(Err(e)) => {
                self.err(
                    f.value.sql.pos,
                    format!("`from_finding.sql` fails to render: {}", e.message),
                    Some(format!(
                        "it may read only `{{{{ {FINDING_ID} }}}}` and `{{{{ table }}}}`"
                    )),
                );
                return;
            }
            None => return,
        };
        if !f.value.sql.value.contains(FINDING_ID) {
            self.err(
                f.value.sql.pos,
                format!("`from_finding.sql` does not read `{{{{ {FINDING_ID} }}}}`"),
                Some("bind the query to the finding the case is opened from".to_owned()),
            );
        }
        for column in sql::result_columns(&sql).unwrap_or_default() {
            if column == FINDING_ID || !pb.inputs.contains_key(&column) {
                self.err(
                    f.value.sql.pos,
                    format!(
                        "`from_finding.sql` returns column `{column}`, which is not an input it can fill"
                    ),
                    Some("name each column after the input it fills (`AS account`)".to_owned()),
                );
            }
        }
    }

    /// The record captures of a query against the columns its SQL (`sql`, rendered) returns,
    /// where they can be known without the tables.
    fn check_record_columns(&mut self, q: &QueryStep, sql: &str, captures: &[(String, Pos)]) {
        // The SQL is parsed only for a query that has record captures to check.
        let has_records = q
            .captures
            .values()
            .any(|c| matches!(c.rule, CaptureRule::Records { .. }));
        let Some(columns) = has_records.then(|| sql::result_columns(sql)).flatten() else {
            return;
        };
        for (name, pos) in captures {
            let Some(CaptureDef {
                rule: CaptureRule::Records { fields, filter },
                ..
            }) = q.captures.get(name)
            else {
                continue;
            };
            let read = filter
                .as_deref()
                .and_then(|f| template::attributes_read(f, ROW).ok())
                .unwrap_or_default();
            for f in read.iter().filter(|f| !columns.contains(f)) {
                let hint = did_you_mean(f, columns.iter().map(String::as_str))
                    .unwrap_or_else(|| format!("the query returns {}", columns.join(", ")));
                self.err(
                    *pos,
                    format!(
                        "the `where` of capture `{name}` reads `row.{f}`, which the query does not return"
                    ),
                    Some(hint),
                );
            }
            for f in fields.iter().filter(|f| !columns.contains(f)) {
                let hint = did_you_mean(f, columns.iter().map(String::as_str))
                    .unwrap_or_else(|| format!("the query returns {}", columns.join(", ")));
                self.err(
                    *pos,
                    format!("capture `{name}` takes field `{f}`, which the query does not return"),
                    Some(hint),
                );
            }
        }
    }

    fn decision(&mut self, d: &Sp<raw::Decision>, r: &mut StepRefs) -> DecisionStep {
        r.template(&d.prompt.value, d.prompt.pos, "prompt", TemplateKind::Text);
        if d.options.len() < 2 {
            self.err(
                d.pos,
                "a decision needs at least two options",
                Some("if there is nothing to choose, use a `note` step".to_owned()),
            );
        }
        let mut seen: HashMap<String, Pos> = HashMap::new();
        let mut options = Vec::new();
        for o in &d.options {
            self.check_id(&o.id, "option");
            self.unique(
                &mut seen,
                &o.id,
                "option",
                "option ids must be unique within a decision",
            );
            let suggest = o
                .suggest
                .as_ref()
                .map(|s| template::bare_expression(&s.value).to_owned());
            if let (Some(s), Some(text)) = (&o.suggest, &suggest) {
                r.template(text, s.pos, "suggest", TemplateKind::Expr);
            }
            r.option_targets.push(o.next.clone());
            options.push(DecisionOption {
                id: o.id.value.clone(),
                label: o.label.clone(),
                next: Next::End,
                suggest,
            });
        }
        DecisionStep {
            prompt: d.prompt.value.clone(),
            options,
        }
    }

    fn action(&mut self, a: &Sp<raw::Action>, r: &mut StepRefs) -> ActionStep {
        let step = self.action_kind(a, r);
        if let Some(f) = &a.for_each {
            r.for_each = Some(f.clone());
        }
        ActionStep {
            for_each: a.for_each.as_ref().map(|f| f.value.clone()),
            ..step
        }
    }

    /// The names a command's `env` passes on: variable names, each once, none that irp sets.
    fn command_env(&mut self, a: &Sp<raw::Action>) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        for name in a.env.iter().flat_map(|e| e.value.iter()) {
            let n = &name.value;
            let plain = n
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !plain {
                self.err(
                    name.pos,
                    format!("`{n}` is not a variable name"),
                    Some("name a variable of the responder's environment: letters, digits and `_`, e.g. `AWS_REGION`".to_owned()),
                );
            } else if crate::action::command::SET_BY_IRP.contains(&n.as_str()) {
                self.err(
                    name.pos,
                    format!("`{n}` is set by irp for every command"),
                    Some("leave it out: a command's `HOME` is a scratch folder, and the instance metadata service is off".to_owned()),
                );
            } else if crate::action::command::PASSED_ENV.contains(&n.as_str()) {
                self.err(
                    name.pos,
                    format!("`{n}` is passed to every command already"),
                    Some("leave it out".to_owned()),
                );
            } else if names.contains(n) {
                self.err(name.pos, format!("`{n}` is named twice"), None);
            } else {
                names.push(n.clone());
            }
        }
        names
    }

    fn action_kind(&mut self, a: &Sp<raw::Action>, r: &mut StepRefs) -> ActionStep {
        let present = [a.aws.is_some(), a.command.is_some(), a.manual.is_some()]
            .iter()
            .filter(|x| **x)
            .count();
        if present != 1 {
            self.err(a.pos, if present == 0 { "the action says nothing to do" } else { "the action has more than one of `aws`, `command`, `manual`" },
                Some("an action is exactly one of `aws: <operation>`, `command: [program, args...]` or `manual: [items...]`".to_owned()));
        }
        if a.aws.is_none() && !a.params.is_empty() {
            self.err(
                a.pos,
                "`params` is only for `aws` actions",
                Some("a `command` takes its arguments in the list itself".to_owned()),
            );
        }
        if let Some(env) = &a.env
            && a.command.is_none()
        {
            self.err(
                env.pos,
                "`env` is only for `command` actions",
                Some("an `aws` action uses irp's own credentials; a checklist runs nothing".to_owned()),
            );
        }
        let env = self.command_env(a);
        let confirm_given = a.confirm.as_ref().map(|c| c.value);
        if let Some(op_name) = &a.aws {
            let Some(op) = action::find_operation(&op_name.value) else {
                let hint = did_you_mean(&op_name.value, action::operations().iter().map(|o| o.name))
                    .unwrap_or_else(|| "see docs/actions.md for the registered operations".to_owned());
                self.err(
                    op_name.pos,
                    format!("unknown AWS operation `{}`", op_name.value),
                    Some(hint),
                );
                return ActionStep {
                    confirm: Confirm::Typed,
                    kind: ActionKind::Manual { items: Vec::new() },
                    for_each: None,
                };
            };
            let mut params = IndexMap::new();
            for (name, value) in &a.params {
                let Some(spec) = op.param(name) else {
                    let hint = did_you_mean(name, op.params.iter().map(|p| p.name)).unwrap_or_else(|| {
                        format!(
                            "`{}` takes: {}",
                            op.name,
                            op.params.iter().map(|p| p.name).collect::<Vec<_>>().join(", ")
                        )
                    });
                    self.err(
                        value.pos,
                        format!("unknown parameter `{name}` for `{}`", op.name),
                        Some(hint),
                    );
                    continue;
                };
                self.param(op.name, spec, value, r);
                params.insert(name.clone(), value.value.clone());
            }
            for spec in op.params.iter().filter(|p| p.required) {
                if !a.params.contains_key(spec.name) {
                    self.err(
                        op_name.pos,
                        format!(
                            "`{}` needs the parameter `{}` ({})",
                            op.name, spec.name, spec.description
                        ),
                        Some(format!("add `params: {{ {}: ... }}`", spec.name)),
                    );
                }
            }
            if !op.require_any.is_empty() && !op.require_any.iter().any(|n| a.params.contains_key(*n)) {
                self.err(
                    op_name.pos,
                    format!(
                        "`{}` needs at least one of: {}",
                        op.name,
                        op.require_any.join(", ")
                    ),
                    None,
                );
            }
            let default = match op.effect() {
                Effect::ReadOnly => Confirm::None,
                Effect::Destructive => Confirm::Typed,
            };
            if let (Some(c), Effect::Destructive) = (&a.confirm, op.effect())
                && c.value == Confirm::None
            {
                self.err(
                    c.pos,
                    format!(
                        "`{}` changes the account and cannot run without confirmation",
                        op.name
                    ),
                    Some("use `confirm: typed` (the default) or `confirm: yes`".to_owned()),
                );
            }
            return ActionStep {
                confirm: confirm_given.unwrap_or(default),
                kind: ActionKind::Aws { op, params },
                for_each: None,
            };
        }
        if let Some(cmd) = &a.command {
            if cmd.value.is_empty() {
                self.err(
                    cmd.pos,
                    "the command is empty",
                    Some("write the program and its arguments as a list: `[program, arg1, arg2]`".to_owned()),
                );
            }
            if let Some(program) = cmd.value.first() {
                if program.value.contains("{{") || program.value.contains("{%") {
                    self.err(
                        program.pos,
                        "the program of a command must be written out, not templated",
                        Some("values may only fill arguments, never choose the program".to_owned()),
                    );
                }
                let base = program.value.rsplit('/').next().unwrap_or_default();
                let args: Vec<&str> = cmd.value.iter().skip(1).map(|a| a.value.as_str()).collect();
                if let Some(why) = runs_inline_code(base, &args) {
                    self.err(
                        program.pos,
                        format!("a command may not run code given inline: {why}"),
                        Some("call the program directly with one list element per argument; an interpreter or a wrapper would re-read values as code".to_owned()),
                    );
                }
            }
            for arg in &cmd.value {
                r.template(&arg.value, arg.pos, "command argument", TemplateKind::Text);
            }
            if let Some(c) = &a.confirm
                && c.value == Confirm::None
            {
                self.err(
                    c.pos,
                    "a command cannot run without confirmation",
                    Some("use `confirm: yes` or `confirm: typed`".to_owned()),
                );
            }
            return ActionStep {
                confirm: confirm_given.unwrap_or(Confirm::Yes),
                kind: ActionKind::Command {
                    argv: cmd.value.iter().map(|a| a.value.clone()).collect(),
                    env,
                },
                for_each: None,
            };
        }
        let items = a.manual.as_ref().map(|m| {
            if m.value.is_empty() {
                self.err(
                    m.pos,
                    "the checklist is empty",
                    Some("list what the responder must do, one item per line".to_owned()),
                );
            }
            for item in &m.value {
                r.template(&item.value, item.pos, "checklist item", TemplateKind::Text);
            }
            m.value.iter().map(|i| i.value.clone()).collect()
        });
        ActionStep {
            confirm: confirm_given.unwrap_or(Confirm::None),
            kind: ActionKind::Manual {
                items: items.unwrap_or_default(),
            },
            for_each: None,
        }
    }

    fn param(&mut self, op: &str, spec: &action::ParamSpec, value: &Sp<ParamValue>, r: &mut StepRefs) {
        let is_template = |s: &str| s.contains("{{") || s.contains("{%");
        let mut literal = |this: &mut Self, s: &str| {
            if is_template(s) {
                r.template(s, value.pos, "parameter", TemplateKind::Text);
            } else if let Err(e) = spec.kind.check(s) {
                this.err(
                    value.pos,
                    format!("parameter `{}` of `{op}`: {e}", spec.name),
                    None,
                );
            }
        };
        match &value.value {
            // For a list parameter, a string is one item, or one expression that yields a list
            // (`"{{ suspects }}"`); `literal` checks templates and literals alike.
            ParamValue::Str(s) => literal(self, s),
            ParamValue::List(items) if spec.kind.is_list() => {
                for i in items {
                    literal(self, i);
                }
            }
            _ => self.err(
                value.pos,
                format!(
                    "parameter `{}` of `{op}` must be {}",
                    spec.name,
                    spec.kind.describe()
                ),
                None,
            ),
        }
    }

    fn resolve(
        &mut self,
        target: &Sp<String>,
        index: &HashMap<String, usize>,
        ids: &[String],
        what: &str,
    ) -> Option<Next> {
        if target.value == "end" {
            return Some(Next::End);
        }
        if let Some(i) = index.get(&target.value) {
            return Some(Next::Step(*i));
        }
        let hint = did_you_mean(&target.value, ids.iter().map(String::as_str).chain(["end"]))
            .unwrap_or_else(|| "use the id of a step in this playbook, or `end`".to_owned());
        self.err(
            target.pos,
            format!("`{what}` refers to unknown step `{}`", target.value),
            Some(hint),
        );
        None
    }

    fn reachability(&mut self, pb: &Playbook, refs: &[StepRefs], succ: &[Vec<Next>]) {
        let n = pb.steps.len();
        // Forward from the first step.
        let mut reached = vec![false; n];
        let mut queue = VecDeque::from([0usize]);
        reached[0] = true;
        while let Some(i) = queue.pop_front() {
            for s in &succ[i] {
                if let Next::Step(j) = *s
                    && !reached[j]
                {
                    reached[j] = true;
                    queue.push_back(j);
                }
            }
        }
        // Backward from the end.
        let mut ends = vec![false; n];
        let mut changed = true;
        while changed {
            changed = false;
            for i in 0..n {
                if !ends[i]
                    && succ[i].iter().any(|s| match s {
                        Next::End => true,
                        Next::Step(j) => ends[*j],
                    })
                {
                    ends[i] = true;
                    changed = true;
                }
            }
        }
        for i in 0..n {
            if !reached[i] {
                self.err(
                    refs[i].id_pos,
                    format!("step `{}` is never reached", pb.steps[i].id),
                    Some(
                        "no `next` or decision option leads here; link it from an earlier step or remove it"
                            .to_owned(),
                    ),
                );
            } else if !ends[i] {
                self.err(refs[i].id_pos, format!("no path from step `{}` leads to the end", pb.steps[i].id),
                    Some("the case would loop forever; give one of the steps on this loop a way out (`next: end` or an option leading on)".to_owned()));
            }
        }
    }

    fn templates(&mut self, pb: &Playbook, refs: &[StepRefs], succ: &[Vec<Next>]) {
        // Who captures what.
        let mut captured_by: HashMap<String, (usize, Pos)> = HashMap::new();
        for (i, r) in refs.iter().enumerate() {
            for (name, pos) in &r.captures {
                if pb.inputs.contains_key(name) {
                    self.err(
                        *pos,
                        format!("capture `{name}` has the name of an input"),
                        Some("rename the capture".to_owned()),
                    );
                } else if is_reserved(name) {
                    self.err(
                        *pos,
                        format!("capture name `{name}` is reserved"),
                        Some("rename the capture".to_owned()),
                    );
                } else if let Some((other, _)) = captured_by.get(name) {
                    self.err(
                        *pos,
                        format!("`{name}` is already captured by step `{}`", pb.steps[*other].id),
                        Some("capture names must be unique in the playbook".to_owned()),
                    );
                } else {
                    captured_by.insert(name.clone(), (i, *pos));
                }
            }
        }
        // Predecessors of each step, for the steps that come before it on some path.
        let mut preds: Vec<Vec<usize>> = vec![Vec::new(); succ.len()];
        for (i, ss) in succ.iter().enumerate() {
            for s in ss {
                if let Next::Step(j) = *s {
                    preds[j].push(i);
                }
            }
        }
        let now: DateTime<Utc> = DateTime::parse_from_rfc3339(SAMPLE_NOW)
            .map(|d| d.with_timezone(&Utc))
            .unwrap_or_default();
        let naming = TableNaming::default();
        // Sample renders only make sense on a structurally sound playbook; decided once, so that
        // one render failure does not hide the next.
        let sound = !self.diags.iter().any(Diagnostic::is_error);
        for (i, r) in refs.iter().enumerate() {
            let before = ancestors(&preds, i);
            let mut scope: HashSet<String> = pb.inputs.keys().cloned().collect();
            scope.extend(BUILTINS.iter().map(|s| (*s).to_owned()));
            for (name, (j, _)) in &captured_by {
                if before.contains(j) {
                    scope.insert(name.clone());
                }
            }
            let mut sample = None;
            let mut columns_to_check = None;
            let item = r.for_each.as_ref().and_then(|f| {
                let shape = self.for_each_items(pb, f, &captured_by, &before);
                scope.extend(ITEM_VARS.iter().map(|v| (*v).to_owned()));
                shape
            });
            for t in &r.templates {
                // A template that reads a field the items lack is reported once, not rendered.
                let errors = self.diags.len();
                if let Some(shape) = &item {
                    self.check_item_fields(t, shape, r.for_each.as_ref().map_or("", |f| &f.value));
                }
                let fields_ok = self.diags.len() == errors;
                let parsed = match t.kind {
                    TemplateKind::Sql | TemplateKind::Text => template::parse_template(&t.text, false),
                    TemplateKind::Expr | TemplateKind::Capture | TemplateKind::RowFilter => {
                        template::parse_expression(&t.text)
                    }
                };
                let vars = match parsed {
                    Ok(v) => v,
                    Err(e) => {
                        let pos = self.template_pos(t, &e);
                        self.err(
                            pos,
                            format!("template error in {}: {}", t.what, e.message),
                            Some("see docs/playbook-format.md#templates".to_owned()),
                        );
                        continue;
                    }
                };
                let mut missing = false;
                let mut names: Vec<&String> = vars.iter().collect();
                names.sort();
                for var in names {
                    let ok = scope.contains(var)
                        || (t.kind == TemplateKind::Sql && SQL_BUILTINS.contains(&var.as_str()))
                        || (t.kind == TemplateKind::Capture && var == ROWS)
                        || (t.kind == TemplateKind::RowFilter && var == ROW);
                    if ok {
                        continue;
                    }
                    missing = true;
                    let hint = if let Some((j, _)) = captured_by.get(var) {
                        format!(
                            "`{var}` is captured by step `{}`, which does not come before this step",
                            pb.steps[*j].id
                        )
                    } else if ITEM_VARS.contains(&var.as_str()) {
                        format!("`{var}` is only available in the templates of a `for_each` action")
                    } else if var == ROWS {
                        "`rows` is only available in a query's `capture` expressions".to_owned()
                    } else if var == ROW {
                        "`row` is only available in a record capture's `where`".to_owned()
                    } else if SQL_BUILTINS.contains(&var.as_str()) {
                        format!("`{var}` is only available in a query's `sql`")
                    } else {
                        did_you_mean(var, scope.iter().map(String::as_str)).unwrap_or_else(|| {
                            "declare it under `inputs:` or capture it in an earlier query".to_owned()
                        })
                    };
                    let pos = self.variable_pos(t, var);
                    self.err(pos, format!("unknown variable `{var}` in {}", t.what), Some(hint));
                }
                if t.kind == TemplateKind::Sql
                    && let StepKind::Query(q) = &pb.steps[i].kind
                {
                    self.check_table_refs(t, q);
                }
                if t.kind == TemplateKind::Sql
                    && let Some((line, place)) = placeholder_out_of_place(&t.text)
                {
                    self.err(
                        t.pos,
                        format!("{} has a placeholder {place} (line {line} of the SQL)", t.what),
                        Some(
                            "write placeholders where a value may stand, bare and apart: `AND bucket = {{ bucket }}`; \
                             escaping cannot protect a value inside a comment (a newline ends it) or a quoted string, \
                             nor one glued to a name, a number, a quote or another value"
                                .to_owned(),
                        ),
                    );
                }
                // Render with the sample values, to catch what only shows at run time.
                if sound
                    && fields_ok
                    && !missing
                    && !matches!(t.kind, TemplateKind::Capture | TemplateKind::RowFilter)
                {
                    let ctx = sample.get_or_insert_with(|| {
                        let ctx = sample_context(pb, i, now, &naming);
                        match item.as_ref().and_then(ItemShape::sample) {
                            Some(x) => minijinja::context! { item => x, index => 0, ..ctx },
                            None => ctx,
                        }
                    });
                    let sampled = vars
                        .iter()
                        .all(|v| ctx.get_attr(v).is_ok_and(|x| !x.is_undefined()));
                    if sampled {
                        let mut not_a_read = None;
                        let rendered = match t.kind {
                            TemplateKind::Sql => template::render_sql(&t.text, ctx).map(|sql| {
                                if let StepKind::Query(q) = &pb.steps[i].kind {
                                    let reach =
                                        crate::playbook::read_only::Reach::tables(q.tables.iter().map(|t| {
                                            (
                                                naming.database(),
                                                t.table_name(&naming.region, naming.source_version),
                                            )
                                        }));
                                    not_a_read = crate::playbook::read_only::check_reach(&sql, &reach).err();
                                    columns_to_check = Some((q, sql));
                                }
                            }),
                            TemplateKind::Text => template::render_text(&t.text, ctx).map(drop),
                            _ => template::eval_expression(&t.text, ctx).map(drop),
                        };
                        if let Some(e) = not_a_read {
                            self.err(
                                t.pos,
                                format!("{} is refused: {e}", t.what),
                                Some(
                                    "a query step only reads the tables it declares in `tables:`; export, change or join other data outside the playbook"
                                        .to_owned(),
                                ),
                            );
                        }
                        if let Err(e) = rendered {
                            let pos = self.template_pos(t, &e);
                            self.err(
                                pos,
                                format!("{} fails to render with the sample inputs: {}", t.what, e.message),
                                Some(
                                    "check the inputs' `example` values and the template's filters"
                                        .to_owned(),
                                ),
                            );
                        }
                    }
                }
            }
            if let Some((q, sql)) = columns_to_check {
                self.check_record_columns(q, &sql, &r.captures);
            }
        }
    }

    /// What a `for_each` runs over: a list capture of a step before this one. `None` (after an
    /// error) when it is not one, or when its items cannot be known.
    fn for_each_items(
        &mut self,
        pb: &Playbook,
        f: &Sp<String>,
        captured_by: &HashMap<String, (usize, Pos)>,
        before: &HashSet<usize>,
    ) -> Option<ItemShape> {
        let name = &f.value;
        let Some((j, _)) = captured_by.get(name).filter(|(j, _)| before.contains(j)) else {
            let hint = if captured_by.contains_key(name) {
                format!("`{name}` is captured by a step that does not come before this one")
            } else {
                did_you_mean(name, captured_by.keys().map(String::as_str))
                    .unwrap_or_else(|| "name a list capture of an earlier query".to_owned())
            };
            self.err(
                f.pos,
                format!("`for_each` names `{name}`, which no earlier query captures"),
                Some(hint),
            );
            return None;
        };
        let StepKind::Query(q) = &pb.steps[*j].kind else {
            return None;
        };
        let def = q.captures.get(name)?;
        let example = def.example.as_ref();
        match (&def.rule, example) {
            (CaptureRule::Records { fields, .. }, _) => Some(ItemShape::Record {
                fields: fields.clone(),
                example: example
                    .and_then(|e| e.as_array())
                    .and_then(|a| a.first())
                    .cloned(),
            }),
            (CaptureRule::Expr(_), Some(serde_json::Value::Array(items))) => Some(match items.first() {
                Some(serde_json::Value::Object(o)) => ItemShape::Record {
                    fields: o.keys().cloned().collect(),
                    example: items.first().cloned(),
                },
                first => ItemShape::Value(first.cloned()),
            }),
            (CaptureRule::Expr(_), Some(other)) => {
                self.err(
                    f.pos,
                    format!("`for_each` runs over `{name}`, which is not a list (its example is {other})"),
                    Some("capture a list: `fields: [...]`, or an expression ending in `| list`".to_owned()),
                );
                None
            }
            (CaptureRule::Expr(_), None) => {
                self.err(
                    f.pos,
                    format!("`for_each` runs over `{name}`, whose items irp cannot know"),
                    Some(format!(
                        "give capture `{name}` an `example` list (or capture records with `fields`), so that the items the action reads can be checked"
                    )),
                );
                None
            }
        }
    }

    /// Every `item.<field>` a template of a `for_each` step reads must be a field of the items.
    fn check_item_fields(&mut self, t: &TemplateUse, shape: &ItemShape, list: &str) {
        let parsed = match t.kind {
            TemplateKind::Sql | TemplateKind::Text => template::parse_template(&t.text, true),
            TemplateKind::Expr | TemplateKind::Capture | TemplateKind::RowFilter => return,
        };
        let Ok(vars) = parsed else { return };
        let mut read: Vec<&String> = vars.iter().filter(|v| v.starts_with("item.")).collect();
        read.sort();
        for var in read {
            let field = var["item.".len()..].split('.').next().unwrap_or_default();
            let problem = match shape {
                ItemShape::Record { fields, .. } if !fields.iter().any(|f| f == field) => Some((
                    format!("`{var}`: the items of `{list}` have no field `{field}`"),
                    did_you_mean(field, fields.iter().map(String::as_str))
                        .unwrap_or_else(|| format!("their fields: {}", fields.join(", "))),
                )),
                ItemShape::Value(_) => Some((
                    format!("`{var}`: the items of `{list}` are values, not records"),
                    "read the item itself as `item`, or capture records with `fields`".to_owned(),
                )),
                ItemShape::Record { .. } => None,
            };
            if let Some((msg, hint)) = problem {
                let pos = self.variable_pos(t, var);
                self.err(pos, msg, Some(hint));
            }
        }
    }

    fn check_table_refs(&mut self, t: &TemplateUse, q: &QueryStep) {
        let Ok(nested) = template::parse_template(&t.text, true) else {
            return;
        };
        for var in nested {
            if let Some(name) = var.strip_prefix("tables.") {
                let name = name.split('.').next().unwrap_or_default();
                if !q.tables.iter().any(|lt| lt.as_str() == name) {
                    let hint = if LogicalTable::parse(name).is_some() {
                        format!("add `{name}` to the query's `tables:`")
                    } else {
                        did_you_mean(name, q.tables.iter().map(|lt| lt.as_str()))
                            .unwrap_or_else(|| "use a table listed in `table:` or `tables:`".to_owned())
                    };
                    self.err(
                        t.pos,
                        format!("`tables.{name}` is not a table of this query"),
                        Some(hint),
                    );
                }
            }
        }
    }

    /// Where a variable first appears inside a template, mapped to the file.
    fn variable_pos(&self, t: &TemplateUse, var: &str) -> Pos {
        let bytes = t.text.as_bytes();
        let is_word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
        let found = t.text.match_indices(var).find(|(i, _)| {
            let before = i.checked_sub(1).map(|j| bytes[j]);
            let after = bytes.get(i + var.len()).copied();
            !before.is_some_and(is_word) && !after.is_some_and(is_word)
        });
        let Some((offset, _)) = found else { return t.pos };
        let line = t.text[..offset].matches('\n').count() + 1;
        let line_start = t.text[..offset].rfind('\n').map_or(0, |i| i + 1);
        let col = t.text[line_start..offset].chars().count() + 1;
        self.template_pos(
            t,
            &TemplateError {
                line,
                col,
                message: String::new(),
            },
        )
    }

    /// Maps a line/column inside a template to the file. The span is at the value's first
    /// non-blank character: for a block scalar (`|`, `>`), the first character of its first
    /// non-blank content line, whose indentation the later lines share. Leading blank lines of a
    /// block scalar are in the template text but come before the span. A folded scalar (`>`)
    /// joins its lines, so a position inside one points at the first line of the paragraph.
    fn template_pos(&self, t: &TemplateUse, e: &TemplateError) -> Pos {
        let lead = t.text.chars().take_while(|c| *c == '\n').count();
        let tline = e.line.saturating_sub(lead).max(1) as u64;
        let at = usize::try_from(t.pos.line)
            .ok()
            .and_then(|l| self.lines.get(l.checked_sub(1)?))
            .map(|first| {
                first
                    .chars()
                    .skip(usize::try_from(t.pos.col).unwrap_or(1).saturating_sub(1))
            })
            .and_then(|mut rest| rest.next());
        if tline == 1 {
            let quoted = u64::from(matches!(at, Some('"' | '\'')));
            Pos::new(t.pos.line, t.pos.col + quoted + e.col as u64 - 1)
        } else {
            Pos::new(t.pos.line + tline - 1, t.pos.col.saturating_sub(1) + e.col as u64)
        }
    }
}

/// Steps from which `target` can be reached (not `target` itself, unless it is on a loop).
fn ancestors(preds: &[Vec<usize>], target: usize) -> HashSet<usize> {
    let mut seen = HashSet::new();
    let mut queue: VecDeque<usize> = preds[target].iter().copied().collect();
    while let Some(i) = queue.pop_front() {
        if seen.insert(i) {
            queue.extend(preds[i].iter().copied());
        }
    }
    seen
}

/// Ids: lowercase letters, digits and dashes, starting with a letter or digit.
/// What the items of a `for_each` list are, as far as the playbook says.
enum ItemShape {
    /// Records with these fields (from `fields`, or the example's first item).
    Record {
        fields: Vec<String>,
        example: Option<serde_json::Value>,
    },
    /// Plain values.
    Value(Option<serde_json::Value>),
}

impl ItemShape {
    /// The item the sample renders use: the example's first.
    fn sample(&self) -> Option<minijinja::Value> {
        match self {
            ItemShape::Record { example, .. } | ItemShape::Value(example) => {
                example.as_ref().map(template::value_from_json)
            }
        }
    }
}

/// The two forms of a capture, for a hint.
const CAPTURE_FORMS: &str =
    "give `expr` for a value worked out from the rows, or `fields` for a list of records";

/// An expression capture, without its `{{ }}`.
fn expr_rule(expr: &str) -> CaptureRule {
    CaptureRule::Expr(template::bare_expression(expr).to_owned())
}

/// The NIST SP 800-61 r2 phase of a stage that gives only r3 functions, from its first one.
fn phase_of_function(f: &str) -> raw::Phase {
    match f {
        "DE" => raw::Phase::DetectionAndAnalysis,
        "RS" | "RC" => raw::Phase::ContainmentEradicationRecovery,
        _ => raw::Phase::Preparation,
    }
}

pub fn is_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// Template variable names: lowercase letters, digits and `_`, starting with a letter.
pub fn is_var(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn suggest_id(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    let out = out.trim_end_matches('-').to_owned();
    if out.is_empty() { "my-step".to_owned() } else { out }
}

/// The first `{{ … }}` or `{% … %}` of SQL template text that sits where no escaping can keep a
/// value in its place: inside a `--` or `/* */` comment, a quoted string or a quoted identifier
/// (a newline in the value ends the comment; a literal inside a literal), or a `{{ … }}` glued to
/// a word, a number, a quote, a dot or another value (`col{{ n }}` makes `col5` a name but
/// `col(-5)` a call; `'a'{{ s }}` merges two literals into one). Returns its 1-based line and
/// where it is, worded to follow "a placeholder".
pub fn placeholder_out_of_place(text: &str) -> Option<(usize, &'static str)> {
    #[derive(Clone, Copy, PartialEq)]
    enum In {
        Code,
        LineComment,
        BlockComment,
        Str,
        Ident,
    }
    let b = text.as_bytes();
    let (mut state, mut line, mut i) = (In::Code, 1, 0);
    while i < b.len() {
        let c = b[i];
        let next = b.get(i + 1).copied();
        if c == b'\n' {
            line += 1;
        }
        if c == b'{' && matches!(next, Some(b'{' | b'%' | b'#')) {
            // `{{-` (and `{%-`, `{#-`) trims the line break that ends a `--` comment, pulling
            // what follows into it.
            if state == In::Code && b.get(i + 2) == Some(&b'-') {
                let before = text[..i].trim_end();
                if text[before.len()..i].contains('\n')
                    && before.rsplit('\n').next().is_some_and(|l| l.contains("--"))
                {
                    return Some((line, "trimming the line break that ends a `--` comment"));
                }
            }
            if state != In::Code && next != Some(b'#') {
                return Some((
                    line,
                    match state {
                        In::LineComment => "inside a `--` comment",
                        In::BlockComment => "inside a `/* */` comment",
                        In::Str => "inside a quoted string",
                        _ => "inside a quoted identifier",
                    },
                ));
            }
            // A tag's own text (its quotes and dashes) is the template's, not the SQL's.
            let close = match next {
                Some(b'{') => "}}",
                Some(b'%') => "%}",
                _ => "#}",
            };
            if state == In::Code || next == Some(b'#') {
                let len = text[i + 2..].find(close)?;
                let end = i + 2 + len + 2;
                if next == Some(b'{') && state == In::Code && glued(text, i, end) {
                    return Some((line, "glued to the text or value beside it"));
                }
                line += text[i..end].matches('\n').count();
                i = end;
                continue;
            }
        }
        state = match (state, c, next) {
            (In::Code, b'-', Some(b'-')) => {
                i += 1;
                In::LineComment
            }
            (In::Code, b'/', Some(b'*')) => {
                i += 1;
                In::BlockComment
            }
            (In::Code, b'\'', _) => In::Str,
            (In::Code, b'"', _) => In::Ident,
            (In::BlockComment, b'*', Some(b'/')) => {
                i += 1;
                In::Code
            }
            // A doubled quote stays inside.
            (In::Str, b'\'', Some(b'\'')) | (In::Ident, b'"', Some(b'"')) => {
                i += 1;
                state
            }
            (In::Str, b'\'', _) | (In::Ident, b'"', _) | (In::LineComment, b'\n', _) => In::Code,
            (s, _, _) => s,
        };
        i += 1;
    }
    None
}

/// Whether the `{{ … }}` at `start..end` of `text` touches a word, a number, a quote, a dot or
/// another `{{ … }}` in the rendered SQL: `{% … %}` and `{# … #}` tags render nothing, and
/// `{{-` / `-}}` trim the whitespace beside them.
fn glued(text: &str, start: usize, end: usize) -> bool {
    let sticks = |c: char| c.is_alphanumeric() || matches!(c, '_' | '$' | '\'' | '"' | '.' | '}');
    let trim_left = text[start + 2..].starts_with('-');
    let trim_right = text[..end - 2].ends_with('-');
    // Back over tags and (when trimmed) whitespace.
    let mut before = &text[..start];
    loop {
        if trim_left {
            before = before.trim_end();
        }
        let tag = ["%}", "#}"].iter().find(|t| before.ends_with(**t)).and_then(|t| {
            let open = if *t == "%}" { "{%" } else { "{#" };
            before.rfind(open)
        });
        match tag {
            Some(open) => before = &before[..open],
            None => break,
        }
    }
    // `}` before is only another value's `}}`.
    let left = before
        .chars()
        .next_back()
        .is_some_and(|c| sticks(c) && (c != '}' || before.ends_with("}}")));
    let mut after = &text[end..];
    loop {
        if trim_right {
            after = after.trim_start();
        }
        let tag = ["{%", "{#"]
            .iter()
            .find(|t| after.starts_with(**t))
            .and_then(|t| {
                let close = if *t == "{%" { "%}" } else { "#}" };
                after.find(close).map(|n| n + 2)
            });
        match tag {
            Some(n) => after = &after[n..],
            None => break,
        }
    }
    let right = after.starts_with("{{") || after.chars().next().is_some_and(|c| c != '}' && sticks(c));
    left || right
}
