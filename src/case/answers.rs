//! The answers file of a headless run: per step id, what the responder would have done. It is
//! checked against the playbook before anything runs, so a typo stops the run at once instead of
//! half-way through a case.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::engine::Observable;
use crate::playbook::Diagnostic;
use crate::playbook::diag::did_you_mean;
use crate::playbook::model::{ActionKind, Playbook, StepKind};
use crate::playbook::raw::Confirm;

/// `choose: suggested` takes the option the playbook suggests.
pub const SUGGESTED: &str = "suggested";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Answers {
    /// Who the entries are recorded as (overridden by `--actor`).
    #[serde(default)]
    pub actor: Option<String>,
    #[serde(default)]
    pub steps: BTreeMap<String, StepAnswer>,
    /// The summary the case is closed with at the end of the playbook.
    #[serde(default)]
    pub close: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepAnswer {
    /// A decision's option id (or label), or `suggested`; a list gives one per visit.
    #[serde(default)]
    pub choose: Option<OneOrMany>,
    #[serde(default)]
    pub rationale: Option<String>,
    /// `yes` for `confirm: yes`; the resource name for `confirm: typed`.
    #[serde(default)]
    pub confirm: Option<String>,
    /// Skip the step with this reason.
    #[serde(default)]
    pub skip: Option<String>,
    /// Tick every item of a manual checklist.
    #[serde(default)]
    pub done: Option<bool>,
    /// Notes recorded when the step is entered.
    #[serde(default)]
    pub notes: Vec<String>,
    /// Evidence recorded when the step is entered.
    #[serde(default)]
    pub evidence: Vec<EvidenceAnswer>,
    /// For an action whose outcome is unknown (irp stopped between the intent and the result):
    /// `verify` (irp reads the resource), `done` or `not_done` (the responder checked).
    #[serde(default)]
    pub unknown: Option<String>,
    /// For a `for_each` action: `all` (the default), or the items to act on, by index from 0.
    /// The others still to act on must then be listed under `exclude` with a reason.
    #[serde(default)]
    pub items: Option<ItemsAnswer>,
    /// For a `for_each` action: items left out, each with the responder's reason.
    #[serde(default)]
    pub exclude: Vec<ExcludeAnswer>,
}

/// Which items of a `for_each` action the responder confirms.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum ItemsAnswer {
    /// `all`.
    All(String),
    /// The items, by index from 0.
    Some(Vec<usize>),
}

/// An item left out of a `for_each` action, with the reason.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExcludeAnswer {
    pub item: usize,
    pub reason: String,
}

impl StepAnswer {
    /// The items the answer confirms, as the engine takes them.
    pub fn item_choice(&self) -> crate::engine::ItemChoice {
        crate::engine::ItemChoice {
            chosen: match &self.items {
                Some(ItemsAnswer::Some(list)) => list.clone(),
                Some(ItemsAnswer::All(_)) | None => Vec::new(),
            },
            left_out: self
                .exclude
                .iter()
                .map(|e| crate::engine::LeftOut {
                    item: e.item,
                    reason: e.reason.clone(),
                })
                .collect(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    /// The answer for visit `visit` (1-based): the one answer, or the list's item.
    pub fn for_visit(&self, visit: u32) -> Option<&str> {
        match self {
            OneOrMany::One(s) => Some(s),
            OneOrMany::Many(list) => list.get(visit.saturating_sub(1) as usize).map(String::as_str),
        }
    }

    fn all(&self) -> Vec<&str> {
        match self {
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(list) => list.iter().map(String::as_str).collect(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvidenceAnswer {
    #[serde(rename = "type")]
    pub observable: String,
    /// The value to record…
    #[serde(default)]
    pub value: Option<String>,
    /// …or the capture whose value(s) to record, one entry per item of a list (nothing while
    /// the capture has no value).
    #[serde(default)]
    pub capture: Option<String>,
    #[serde(default)]
    pub note: Option<String>,
}

impl EvidenceAnswer {
    /// The values this answer records, given the case's captures.
    pub fn values(&self, captures: &BTreeMap<String, serde_json::Value>) -> Vec<String> {
        match (&self.value, &self.capture) {
            (Some(v), _) => vec![v.clone()],
            (None, Some(c)) => captures
                .get(c)
                .map(crate::playbook::value::texts)
                .unwrap_or_default(),
            (None, None) => Vec::new(),
        }
    }
}

/// Every piece of evidence the answers for one step record, in order, given the captures.
pub fn evidence_values(
    list: &[EvidenceAnswer],
    captures: &BTreeMap<String, serde_json::Value>,
) -> Vec<(Observable, String, Option<String>)> {
    list.iter()
        .flat_map(|e| {
            let o = Observable::parse(&e.observable).unwrap_or(Observable::Text);
            e.values(captures)
                .into_iter()
                .map(move |v| (o, v, e.note.clone()))
        })
        .collect()
}

impl Answers {
    /// Reads an answers file (YAML) and checks it against the playbook. Each problem is one
    /// message naming the step and what to write instead.
    pub fn load(path: &Path, pb: &Playbook) -> Result<Answers, Vec<String>> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| vec![format!("{}: cannot read the answers file: {e}", path.display())])?;
        let answers: Answers =
            serde_saphyr::from_str_with_options(&text, crate::playbook::node::yaml_options()).map_err(
                |e| {
                    let d: Diagnostic = crate::playbook::node::yaml_error(&text, &e);
                    vec![d.display(path).to_string()]
                },
            )?;
        let problems = answers.check(pb);
        if problems.is_empty() {
            Ok(answers)
        } else {
            Err(problems
                .into_iter()
                .map(|p| format!("{}: {p}", path.display()))
                .collect())
        }
    }

    pub fn check(&self, pb: &Playbook) -> Vec<String> {
        let mut problems = Vec::new();
        for (id, a) in &self.steps {
            let Some(step) = pb.step(id) else {
                let hint = did_you_mean(id, pb.steps.iter().map(|s| s.id.as_str()))
                    .map(|h| format!(" ({h})"))
                    .unwrap_or_default();
                problems.push(format!("`{id}` is not a step of playbook `{}`{hint}", pb.id));
                continue;
            };
            let kind = step.kind.name();
            let mut not_for = |key: &str| {
                problems.push(format!(
                    "step `{id}` is a {kind} step; `{key}` does not apply to it"
                ));
            };
            match &step.kind {
                StepKind::Decision(d) => {
                    if a.unknown.is_some() {
                        not_for("unknown");
                    }
                    if a.confirm.is_some() {
                        not_for("confirm");
                    }
                    if a.done.is_some() {
                        not_for("done");
                    }
                    if a.skip.is_some() {
                        problems.push(format!(
                            "step `{id}` is a decision, which cannot be skipped; use `choose`"
                        ));
                    }
                    for choice in a.choose.iter().flat_map(OneOrMany::all) {
                        if choice != SUGGESTED
                            && !d.options.iter().any(|o| o.id == choice || o.label == choice)
                        {
                            let ids: Vec<String> = d.options.iter().map(|o| format!("`{}`", o.id)).collect();
                            problems.push(format!(
                                "step `{id}` has no option `{choice}` (options: {}, or `{SUGGESTED}`)",
                                ids.join(", ")
                            ));
                        }
                    }
                }
                StepKind::Action(action) => {
                    if a.choose.is_some() {
                        not_for("choose");
                    }
                    let manual = matches!(action.kind, ActionKind::Manual { .. });
                    if a.done.is_some() && !manual {
                        not_for("done");
                    }
                    if let Some(u) = &a.unknown {
                        if crate::case::actions::UnknownAnswer::parse(u).is_none() {
                            problems.push(format!(
                                "step `{id}`: `unknown: {u}` is not an answer (use verify, done or not_done)"
                            ));
                        } else if manual {
                            problems.push(format!(
                                "step `{id}` is a manual checklist; `unknown` does not apply to it"
                            ));
                        }
                    }
                    if !action.runs_per_item() && (a.items.is_some() || !a.exclude.is_empty()) {
                        problems.push(format!(
                            "the action of step `{id}` acts once; `items` and `exclude` are for `for_each` actions"
                        ));
                    }
                    if let Some(ItemsAnswer::All(word)) = &a.items
                        && word != "all"
                    {
                        problems.push(format!(
                            "step `{id}`: `items: {word}` is not an answer (use `all`, or a list of item numbers from 0)"
                        ));
                    }
                    if a.exclude.iter().any(|e| e.reason.trim().is_empty()) {
                        problems.push(format!("step `{id}`: each `exclude` item needs a reason"));
                    }
                    if a.confirm.is_some() && action.confirm == Confirm::None {
                        problems.push(format!(
                            "the action of step `{id}` asks for no confirmation; remove `confirm`"
                        ));
                    }
                }
                StepKind::Query(_) | StepKind::Note(_) => {
                    if a.items.is_some() || !a.exclude.is_empty() {
                        not_for("items");
                    }
                    if a.choose.is_some() {
                        not_for("choose");
                    }
                    if a.confirm.is_some() {
                        not_for("confirm");
                    }
                    if a.unknown.is_some() {
                        not_for("unknown");
                    }
                    if a.done.is_some() && matches!(step.kind, StepKind::Query(_)) {
                        not_for("done");
                    }
                }
            }
            if a.skip.as_deref().is_some_and(|r| r.trim().is_empty()) {
                problems.push(format!("step `{id}`: `skip` needs a reason"));
            }
            for e in &a.evidence {
                match (&e.value, &e.capture) {
                    (Some(_), Some(_)) | (None, None) => problems.push(format!(
                        "step `{id}`: evidence takes one of `value` and `capture`"
                    )),
                    (None, Some(c)) if !pb.captures().any(|name| name == c) => {
                        let hint = did_you_mean(c, pb.captures())
                            .map(|h| format!(" ({h})"))
                            .unwrap_or_default();
                        problems.push(format!(
                            "step `{id}`: evidence `capture: {c}` names no capture of playbook `{}`{hint}",
                            pb.id
                        ));
                    }
                    _ => {}
                }
                match Observable::parse(&e.observable) {
                    Some(o) => {
                        if let Some(value) = &e.value
                            && let Err(err) = crate::engine::check_observable(o, value)
                        {
                            problems.push(format!("step `{id}`: evidence {err}"));
                        }
                    }
                    None => problems.push(format!(
                        "step `{id}`: `{}` is not an evidence type (types: {})",
                        e.observable,
                        Observable::ALL.map(Observable::as_str).join(", ")
                    )),
                }
            }
        }
        problems
    }
}
