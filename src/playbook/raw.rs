//! The raw serde mirror of a playbook file (format v1). It accepts what the YAML says, typed but
//! unchecked; `validate` turns it into a checked `Playbook`. The JSON Schema (`irp schema`) is
//! generated from these types, so their doc comments are what an editor shows on hover.

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::Deserialize;

use super::node::Sp;

/// An executable incident-response playbook, format version 1.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "irp playbook")]
pub struct Playbook {
    /// Format version of this file. Always `1`.
    pub irp: Sp<u32>,
    /// Stable identifier of the playbook: lowercase letters, digits and dashes.
    pub id: Sp<String>,
    /// Human title, shown in the header of every screen and report.
    pub title: String,
    /// Version of this playbook (semantic versioning recommended). Recorded in every case journal.
    pub version: Sp<String>,
    /// What the playbook is for and when to use it (Markdown).
    #[serde(default)]
    pub description: Option<String>,
    /// The frameworks the stages are mapped to: `nist-800-61r2` (each stage's `phase`),
    /// `nist-800-61r3` (each stage's CSF 2.0 `functions`), or both as a list.
    #[serde(default)]
    pub framework: Option<Frameworks>,
    /// MITRE ATT&CK Enterprise techniques of the incidents the playbook responds to
    /// (`T1530`, `T1078.004`), checked against irp's pinned copy of ATT&CK.
    #[serde(default)]
    pub attack: Vec<Sp<String>>,
    /// Sources the playbook is modelled on (URLs or citations).
    #[serde(default)]
    pub references: Vec<String>,
    /// Team or person who maintains the playbook.
    #[serde(default)]
    pub owner: Option<String>,
    /// When the playbook was first written: a date (`2026-11-01`) or an RFC 3339 time. A CACAO
    /// export (`irp export cacao`) states it; without it the export says so and uses 1970-01-01.
    #[serde(default)]
    pub created: Option<Sp<String>>,
    /// When the playbook last changed (as `created`). Defaults to `created`.
    #[serde(default)]
    pub modified: Option<Sp<String>>,
    /// The Traffic Light Protocol (FIRST TLP 2.0) level at which the playbook may be shared,
    /// carried into exports as a data marking.
    #[serde(default)]
    pub tlp: Option<Tlp>,
    /// Severity guidance: how to rate an incident of this kind and how fast to respond.
    #[serde(default)]
    pub severity: Vec<SeverityLevel>,
    /// Roles that take part, by id (e.g. `ir-lead: Owns the case and its decisions`). Steps name
    /// who does them with `role`.
    #[serde(default)]
    pub roles: IndexMap<String, Sp<String>>,
    /// Typed inputs asked for when a case starts; templates refer to them by name.
    #[serde(default)]
    pub inputs: IndexMap<String, Sp<Input>>,
    /// How a case opens from a `GuardDuty` or Security Hub finding (`-i finding_id=…`): a query
    /// on `sh_findings` (`{{ table }}`) for the finding (`{{ finding_id }}`), each of whose
    /// columns is named after an input and fills it, unless the responder gave it.
    #[serde(default)]
    pub from_finding: Option<Sp<FromFinding>>,
    /// The stages, in order. Each is tagged with its NIST SP 800-61 r2 phase.
    pub stages: Vec<Stage>,
}

/// The query that reads a finding into the inputs.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FromFinding {
    /// Athena SQL over `{{ table }}` (Security Lake's `sh_findings`), bound to
    /// `{{ finding_id }}`; each column named after an input fills that input (the first
    /// non-empty value; a list input takes every distinct value).
    pub sql: Sp<String>,
}

/// A FIRST Traffic Light Protocol 2.0 level.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema, PartialEq, Eq)]
pub enum Tlp {
    /// TLP:CLEAR: no limit on disclosure.
    #[serde(rename = "clear")]
    Clear,
    /// TLP:GREEN: the community, not public channels.
    #[serde(rename = "green")]
    Green,
    /// TLP:AMBER: the recipient's organisation and its clients, on a need-to-know basis.
    #[serde(rename = "amber")]
    Amber,
    /// TLP:AMBER+STRICT: the recipient's organisation only.
    #[serde(rename = "amber+strict")]
    AmberStrict,
    /// TLP:RED: the named recipients only.
    #[serde(rename = "red")]
    Red,
}

impl Tlp {
    /// The level as FIRST writes it (`TLP:AMBER+STRICT`).
    pub fn label(self) -> &'static str {
        match self {
            Tlp::Clear => "TLP:CLEAR",
            Tlp::Green => "TLP:GREEN",
            Tlp::Amber => "TLP:AMBER",
            Tlp::AmberStrict => "TLP:AMBER+STRICT",
            Tlp::Red => "TLP:RED",
        }
    }
}

/// One framework, or several.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Frameworks {
    One(Framework),
    Many(Vec<Framework>),
}

impl Frameworks {
    pub fn list(&self) -> Vec<Framework> {
        match self {
            Frameworks::One(f) => vec![*f],
            Frameworks::Many(v) => v.clone(),
        }
    }
}

/// A framework stages are mapped to.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema, PartialEq, Eq)]
pub enum Framework {
    /// NIST SP 800-61 Revision 2 incident response life cycle: each stage has a `phase`.
    #[serde(rename = "nist-800-61r2")]
    Nist80061r2,
    /// NIST SP 800-61 Revision 3 (April 2025): the CSF 2.0 functions are the top level; each
    /// stage has `functions` (given, or from its and its steps' `csf` tags).
    #[serde(rename = "nist-800-61r3")]
    Nist80061r3,
}

impl Framework {
    pub fn id(self) -> &'static str {
        match self {
            Framework::Nist80061r2 => "nist-800-61r2",
            Framework::Nist80061r3 => "nist-800-61r3",
        }
    }
}

/// One level of the severity guidance.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SeverityLevel {
    /// The level's name, e.g. `P1`.
    pub level: String,
    /// When an incident is at this level.
    pub when: String,
    /// Target time to start responding, e.g. `15m`, `1h`, `24h`.
    #[serde(default)]
    pub respond_within: Option<Sp<String>>,
}

/// The type of an input value.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum InputType {
    /// Any text.
    String,
    /// A whole number.
    Integer,
    /// `true` or `false`.
    Boolean,
    /// A point in time: RFC 3339 (`2026-11-01T00:00:00Z`), `now`, or relative to now (`-7d`, `-24h`, `-30m`).
    Timestamp,
    /// An IPv4 or IPv6 address.
    Ip,
    /// An Amazon Resource Name (`arn:partition:service:region:account:resource`).
    Arn,
    /// A 12-digit AWS account id.
    AwsAccountId,
    /// One of the strings listed in `values`.
    Enum,
    /// A list of values of the type given by `items`.
    List,
}

/// A typed input of the playbook.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Input {
    /// The value's type.
    #[serde(rename = "type")]
    pub ty: Sp<InputType>,
    /// Whether a case cannot start without it. Inputs with a default are never missing.
    #[serde(default)]
    pub required: bool,
    /// Regular expression the whole value must match (string-like types; each item of a list).
    #[serde(default)]
    pub pattern: Option<Sp<String>>,
    /// The value used when none is given.
    #[serde(default)]
    pub default: Option<Sp<serde_json::Value>>,
    /// A realistic sample value: used by `irp validate` to render every template, and shown as a
    /// placeholder when the responder is asked for the input.
    #[serde(default)]
    pub example: Option<Sp<serde_json::Value>>,
    /// What the input is, in words a responder understands.
    #[serde(default)]
    pub description: Option<String>,
    /// The allowed values of an `enum` input.
    #[serde(default)]
    pub values: Option<Vec<String>>,
    /// The type of each item of a `list` input (default `string`).
    #[serde(default)]
    pub items: Option<Sp<InputType>>,
    /// The value names principals (users or roles, by name or ARN) that must never be contained
    /// by accident, such as break-glass and automation roles: a `for_each` action leaves out
    /// every item that acts on one unless the responder names that item (`string` and `list`).
    #[serde(default)]
    pub protected: Option<Sp<bool>>,
}

/// NIST SP 800-61 r2 incident response life-cycle phase.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema, PartialEq, Eq, Hash)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    /// Preparation (r2 §3.1).
    Preparation,
    /// Detection and Analysis (r2 §3.2).
    DetectionAndAnalysis,
    /// Containment, Eradication, and Recovery (r2 §3.3).
    ContainmentEradicationRecovery,
    /// Post-Incident Activity (r2 §3.4).
    PostIncidentActivity,
}

impl Phase {
    /// The life cycle's phases, in order.
    pub const ALL: [Phase; 4] = [
        Phase::Preparation,
        Phase::DetectionAndAnalysis,
        Phase::ContainmentEradicationRecovery,
        Phase::PostIncidentActivity,
    ];

    /// The phase as a playbook writes it (`detection-and-analysis`).
    pub fn id(self) -> &'static str {
        match self {
            Phase::Preparation => "preparation",
            Phase::DetectionAndAnalysis => "detection-and-analysis",
            Phase::ContainmentEradicationRecovery => "containment-eradication-recovery",
            Phase::PostIncidentActivity => "post-incident-activity",
        }
    }

    /// The phase's name as NIST SP 800-61 r2 writes it.
    pub fn title(self) -> &'static str {
        match self {
            Phase::Preparation => "Preparation",
            Phase::DetectionAndAnalysis => "Detection and Analysis",
            Phase::ContainmentEradicationRecovery => "Containment, Eradication, and Recovery",
            Phase::PostIncidentActivity => "Post-Incident Activity",
        }
    }
}

/// A stage of the playbook: a group of steps in one NIST phase.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Stage {
    /// Stable identifier, unique in the playbook.
    pub id: Sp<String>,
    /// Human title of the stage.
    pub title: String,
    /// The NIST SP 800-61 r2 phase this stage belongs to. Required unless the playbook's only
    /// framework is `nist-800-61r3`, where it follows from the stage's first function.
    #[serde(default)]
    pub phase: Option<Phase>,
    /// The NIST CSF 2.0 functions (SP 800-61 r3's top level) the stage serves, e.g. `[RS, RC]`
    /// for a stage that both responds and recovers. Default: the functions of the stage's and
    /// its steps' `csf` tags.
    #[serde(default)]
    pub functions: Vec<Sp<String>>,
    /// NIST CSF 2.0 categories (SP 800-61 r3) for the whole stage, e.g. `RS.MI`.
    #[serde(default)]
    pub csf: Vec<Sp<String>>,
    /// What the stage achieves (Markdown).
    #[serde(default)]
    pub description: Option<String>,
    /// The steps, in order.
    pub steps: Vec<Step>,
}

/// One step. Exactly one of `query`, `decision`, `action` or `note` says what kind it is.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// Stable identifier, unique in the playbook. `end` is reserved.
    pub id: Sp<String>,
    /// Human title of the step.
    pub title: String,
    /// What to do and why, in Markdown, for a responder who has never seen the source playbook.
    /// May use `{{ input }}` templates (rendered as plain text).
    #[serde(default)]
    pub guidance: Option<Sp<String>>,
    /// Who does the step: a role id declared under `roles`.
    #[serde(default)]
    pub role: Option<Sp<String>>,
    /// NIST CSF 2.0 categories or subcategories (SP 800-61 r3), e.g. `RS.AN` or `RS.MA-02`.
    #[serde(default)]
    pub csf: Vec<Sp<String>>,
    /// MITRE ATT&CK Enterprise techniques the step's findings are evidence of (`T1530`): a
    /// report lists them for the steps whose findings were recorded as evidence.
    #[serde(default)]
    pub attack: Vec<Sp<String>>,
    /// MITRE D3FEND techniques an action applies (`D3-CR`, credential revocation): a report
    /// lists them for the actions that were carried out. Action steps only.
    #[serde(default)]
    pub d3fend: Vec<Sp<String>>,
    /// The step that follows (default: the next step in file order; `end` closes the case).
    /// Not allowed on decisions, whose options say where to go.
    #[serde(default)]
    pub next: Option<Sp<String>>,
    /// How long the step may run before it is cancelled, e.g. `90s`, `10m`, `1h`.
    #[serde(default)]
    pub timeout: Option<Sp<String>>,
    /// What happens when the step fails (default `ask`).
    #[serde(default)]
    pub on_failure: Option<Sp<OnFailure>>,
    /// An Athena SQL query over Security Lake tables.
    #[serde(default)]
    pub query: Option<Sp<Query>>,
    /// A decision point: the responder picks an option, guided by a suggestion from the evidence.
    #[serde(default)]
    pub decision: Option<Sp<Decision>>,
    /// A containment, eradication or recovery action.
    #[serde(default)]
    pub action: Option<Sp<Action>>,
    /// Guidance only (Markdown): the responder reads it and marks it done.
    #[serde(default)]
    pub note: Option<Sp<String>>,
}

/// What happens when a step fails.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum OnFailure {
    /// The step stays failed; the responder re-runs it, skips it with a reason, or goes back.
    Ask,
    /// The failure is recorded and the case follows `next` as if the step had succeeded.
    Continue,
    /// The failure is recorded and the case goes to the named step (e.g. a manual fallback).
    Goto(Sp<String>),
}

/// An Athena SQL query step.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Query {
    /// The logical Security Lake table the query reads, available in SQL as `{{ table }}`.
    #[serde(default)]
    pub table: Option<Sp<String>>,
    /// More logical tables, available in SQL as `{{ tables.<name> }}` (e.g. for a `UNION ALL`).
    #[serde(default)]
    pub tables: Vec<Sp<String>>,
    /// Athena (Trino) SQL. Every `{{ value }}` is rendered as an escaped SQL literal; identifiers
    /// only through the `ident` filter.
    pub sql: Sp<String>,
    /// The query checks that its table holds events for the case (one row per day with events,
    /// say): when it returns no rows, the table is recorded as not collected for this case
    /// (`source_not_collected`), and later steps on it that find nothing say so.
    #[serde(default)]
    pub coverage: bool,
    /// Named values computed from the result (`rows`) for later steps: an expression,
    /// `{ expr, example, description }`, or a list of records `{ fields, example, description }`.
    #[serde(default)]
    pub capture: IndexMap<String, Sp<Capture>>,
}

/// A value captured from a query's result.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Capture {
    /// A template expression over `rows` (a list of row mappings), e.g. `rows | map(attribute='ip') | list`.
    Expr(String),
    /// An expression, or a list of records, with a sample value and a description.
    Full(CaptureSpec),
}

/// An expression or a list of records (exactly one of `expr` and `fields`, the records perhaps
/// of the rows `where` holds for), with a sample value and a description.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CaptureSpec {
    /// A template expression over `rows`.
    #[serde(default)]
    pub expr: Option<String>,
    /// Columns of the result taken together: the capture is a list of records, one per distinct
    /// row, each with these fields (`item.<field>` in a `for_each` step), so values that belong
    /// together stay together.
    #[serde(default)]
    pub fields: Option<Vec<String>>,
    /// With `fields`: a condition on each row (`row.<column>`), so that only the rows it holds
    /// for become records, e.g. `row.operation == 'CreateAccessKey' and row.status == 'Success'`.
    #[serde(default, rename = "where")]
    pub filter: Option<String>,
    /// A realistic sample of the captured value, used to render later templates in `irp validate`.
    #[serde(default)]
    pub example: Option<serde_json::Value>,
    /// What the captured value means.
    #[serde(default)]
    pub description: Option<String>,
}

/// A decision point.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Decision {
    /// The question put to the responder (may use templates, rendered as plain text).
    pub prompt: Sp<String>,
    /// The possible answers, each leading somewhere.
    pub options: Vec<DecisionOption>,
}

/// One answer to a decision.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionOption {
    /// Stable identifier, unique in the decision.
    pub id: Sp<String>,
    /// What the responder sees.
    pub label: String,
    /// The step this answer leads to, or `end`.
    pub next: Sp<String>,
    /// A boolean expression over inputs and captures; the first option whose `suggest` is true is
    /// shown as the suggested answer, with the expression and its values as the reason.
    #[serde(default)]
    pub suggest: Option<Sp<String>>,
}

/// A containment, eradication or recovery action: exactly one of `aws`, `command` or `manual`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Action {
    /// An operation from irp's registry of typed AWS operations (`irp schema` lists them in
    /// `docs/actions.md`), e.g. `s3.put_public_access_block`.
    #[serde(default)]
    pub aws: Option<Sp<String>>,
    /// Parameters of the `aws` operation. String values may use templates.
    #[serde(default)]
    pub params: IndexMap<String, Sp<ParamValue>>,
    /// A program and its arguments, one list element per argument (never a shell string). Each
    /// element may use templates and stays one argument whatever its value.
    #[serde(default)]
    pub command: Option<Sp<Vec<Sp<String>>>>,
    /// Variables of the responder's environment the `command` sees, by name, besides `PATH`,
    /// `LANG`, `LC_ALL`, `LC_CTYPE` and `TZ` (for example `AWS_ACCESS_KEY_ID`,
    /// `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION`). Nothing else of it reaches
    /// a command: no credentials unless named here, and the confirmation shows the names.
    #[serde(default)]
    pub env: Option<Sp<Vec<Sp<String>>>>,
    /// A checklist the responder ticks item by item.
    #[serde(default)]
    pub manual: Option<Sp<Vec<Sp<String>>>>,
    /// How the responder confirms before anything changes (default: `typed` for destructive
    /// operations, `yes` otherwise, `none` for read-only evidence operations).
    #[serde(default)]
    pub confirm: Option<Sp<Confirm>>,
    /// Run the action once per item of this list capture (for example a capture with `fields`),
    /// with `item` (and `index`, from 0) in its templates. Every item is confirmed, run, verified
    /// and journaled on its own; an empty list is recorded as nothing to do.
    #[serde(default)]
    pub for_each: Option<Sp<String>>,
}

/// A parameter value of an `aws` action.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum ParamValue {
    Bool(bool),
    Int(i64),
    Str(String),
    List(Vec<String>),
}

/// How an action is confirmed.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Confirm {
    /// No confirmation (only allowed for operations that change nothing).
    None,
    /// The responder answers yes.
    Yes,
    /// The responder types the name of the resource the action changes.
    Typed,
}
