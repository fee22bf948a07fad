//! The checked playbook: every reference resolved, every template parsed, every operation known.
//! Built only by `validate`; the engine, the UI and the reports read it and never re-check.

use std::ops::Range;
use std::time::Duration;

use indexmap::IndexMap;
use regex::Regex;

use chrono::{DateTime, Utc};

use super::raw::{Confirm, Framework, InputType, ParamValue, Phase, Tlp};
use super::table::LogicalTable;
use crate::action::AwsOperation;

#[derive(Debug, Clone)]
pub struct Playbook {
    pub id: String,
    pub title: String,
    pub version: String,
    pub description: Option<String>,
    pub references: Vec<String>,
    pub owner: Option<String>,
    /// When the playbook was written and last changed (`created`, `modified`).
    pub created: Option<DateTime<Utc>>,
    pub modified: Option<DateTime<Utc>>,
    pub tlp: Option<Tlp>,
    /// The frameworks the stages are mapped to (`nist-800-61r2` when the playbook names none).
    pub frameworks: Vec<Framework>,
    /// ATT&CK techniques of the incidents the playbook is for.
    pub attack: Vec<String>,
    pub severity: Vec<SeverityGuide>,
    pub roles: IndexMap<String, String>,
    pub inputs: IndexMap<String, InputSpec>,
    /// The SQL that reads a finding into the inputs (`from_finding.sql`).
    pub from_finding: Option<String>,
    pub stages: Vec<Stage>,
    /// All steps of all stages, in file order; `Stage::steps` ranges index into it.
    pub steps: Vec<Step>,
}

impl Playbook {
    pub fn step_index(&self, id: &str) -> Option<usize> {
        self.steps.iter().position(|s| s.id == id)
    }

    pub fn step(&self, id: &str) -> Option<&Step> {
        self.steps.iter().find(|s| s.id == id)
    }

    /// Where the case can go from step `i` (decision options, `next`, `on_failure: {goto}`).
    pub fn successors(&self, i: usize) -> Vec<Next> {
        let step = &self.steps[i];
        let mut out = match &step.kind {
            StepKind::Decision(d) => d.options.iter().map(|o| o.next).collect(),
            _ => vec![step.next],
        };
        if let FailurePolicy::Goto(g) = step.on_failure {
            out.push(Next::Step(g));
        }
        out
    }

    /// The names of every query step's captures, in playbook order.
    pub fn captures(&self) -> impl Iterator<Item = &str> {
        self.steps.iter().flat_map(|s| match &s.kind {
            StepKind::Query(q) => q.captures.keys().map(String::as_str).collect::<Vec<_>>(),
            _ => Vec::new(),
        })
    }

    pub fn count_kind(&self, pred: impl Fn(&StepKind) -> bool) -> usize {
        self.steps.iter().filter(|s| pred(&s.kind)).count()
    }
}

#[derive(Debug, Clone)]
pub struct SeverityGuide {
    pub level: String,
    pub when: String,
    pub respond_within: Option<Duration>,
}

#[derive(Debug, Clone)]
pub struct InputSpec {
    pub ty: InputType,
    /// Item type of a list input (`String` otherwise).
    pub items: InputType,
    pub required: bool,
    pub pattern: Option<Regex>,
    pub default: Option<serde_json::Value>,
    pub example: Option<serde_json::Value>,
    pub description: Option<String>,
    /// Allowed values of an enum input.
    pub values: Vec<String>,
    /// The value names principals `for_each` actions leave out unless named.
    pub protected: bool,
}

#[derive(Debug, Clone)]
pub struct Stage {
    pub id: String,
    pub title: String,
    pub phase: Phase,
    /// CSF 2.0 functions (`RS`, `RC`): given, or from the stage's and its steps' `csf` tags.
    pub functions: Vec<String>,
    pub csf: Vec<String>,
    pub description: Option<String>,
    pub steps: Range<usize>,
}

/// Where a step leads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Next {
    Step(usize),
    End,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailurePolicy {
    Ask,
    Continue,
    Goto(usize),
}

#[derive(Debug, Clone)]
pub struct Step {
    pub id: String,
    pub title: String,
    /// Index into `Playbook::stages`.
    pub stage: usize,
    pub guidance: Option<String>,
    pub role: Option<String>,
    pub csf: Vec<String>,
    /// ATT&CK techniques the step's findings are evidence of.
    pub attack: Vec<String>,
    /// D3FEND techniques the action applies.
    pub d3fend: Vec<String>,
    pub timeout: Option<Duration>,
    pub on_failure: FailurePolicy,
    pub kind: StepKind,
    /// For decisions this is `End` and unused: options carry the targets.
    pub next: Next,
    /// Line of the step's `id` in the file, for messages.
    pub line: u64,
}

#[derive(Debug, Clone)]
pub enum StepKind {
    Query(QueryStep),
    Decision(DecisionStep),
    Action(ActionStep),
    Note(String),
}

impl StepKind {
    pub fn name(&self) -> &'static str {
        match self {
            StepKind::Query(_) => "query",
            StepKind::Decision(_) => "decision",
            StepKind::Action(_) => "action",
            StepKind::Note(_) => "note",
        }
    }
}

#[derive(Debug, Clone)]
pub struct QueryStep {
    /// The primary table (`{{ table }}`).
    pub table: LogicalTable,
    /// Every table the query may read (`{{ tables.<name> }}`), the primary one included.
    pub tables: Vec<LogicalTable>,
    pub sql: String,
    /// No rows means the table is not collected for this case (`coverage: true`).
    pub coverage: bool,
    pub captures: IndexMap<String, CaptureDef>,
}

#[derive(Debug, Clone)]
pub struct CaptureDef {
    pub rule: CaptureRule,
    pub example: Option<serde_json::Value>,
    pub description: Option<String>,
}

/// How a capture is worked out from a query's rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaptureRule {
    /// A template expression over `rows` (without `{{ }}`).
    Expr(String),
    /// A list of records: one per distinct row (of those `filter` holds for), each with these
    /// columns of it, in row order.
    Records {
        fields: Vec<String>,
        /// A boolean expression over `row` (without `{{ }}`).
        filter: Option<String>,
    },
}

impl CaptureRule {
    /// The capture as the playbook states it: the expression, or `fields: [a, b]`.
    pub fn text(&self) -> String {
        match self {
            CaptureRule::Expr(e) => e.clone(),
            CaptureRule::Records { fields, filter: None } => format!("fields: [{}]", fields.join(", ")),
            CaptureRule::Records {
                fields,
                filter: Some(f),
            } => format!("fields: [{}] where: {f}", fields.join(", ")),
        }
    }
}

#[derive(Debug, Clone)]
pub struct DecisionStep {
    pub prompt: String,
    pub options: Vec<DecisionOption>,
}

#[derive(Debug, Clone)]
pub struct DecisionOption {
    pub id: String,
    pub label: String,
    pub next: Next,
    /// A boolean expression (without `{{ }}`).
    pub suggest: Option<String>,
}

#[derive(Debug, Clone)]
pub struct ActionStep {
    pub confirm: Confirm,
    pub kind: ActionKind,
    /// The list capture the action runs over, once per item (`item`, `index` in its templates).
    pub for_each: Option<String>,
}

impl ActionStep {
    /// Whether the action runs once per item, each with its own intent, result and rollback
    /// (`aws` and `command` with `for_each`). A checklist with `for_each` is one checklist whose
    /// lines repeat for every item, ticked as any checklist is.
    pub fn runs_per_item(&self) -> bool {
        self.for_each.is_some() && !matches!(self.kind, ActionKind::Manual { .. })
    }
}

#[derive(Debug, Clone)]
pub enum ActionKind {
    Aws {
        op: &'static AwsOperation,
        params: IndexMap<String, ParamValue>,
    },
    Command {
        argv: Vec<String>,
        /// Variables of the responder's environment passed on by name (`env:`).
        env: Vec<String>,
    },
    Manual {
        items: Vec<String>,
    },
}
