//! Post-incident review: what a case's journal says, worked out once (`Report`) and written as
//! Markdown, self-contained HTML or JSON (`schemas/report.schema.json`). Reading only: a report
//! never runs, changes or re-queries anything; it reads the journal, the playbook snapshot and
//! the hashes of the files the entries vouch for.
//!
//! The definitions of the metrics are in `docs/review.md`.

pub mod facts;
pub mod html;
pub mod interop;
pub mod markdown;
mod observe;
pub mod score;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::Serialize;

use crate::engine::{ArtifactRef, CaseOpened, Event, Intent, Outcome, State, Visit};
use crate::journal::{CaseDir, Scan};
use crate::playbook::model::{ActionKind, Next, Playbook, StepKind};

/// The report format version (`report_version` in the JSON).
pub const VERSION: u32 = 1;

/// Everything a report shows, in the order the formats show it.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[schemars(
    title = "irp case report",
    description = "A post-incident report of one irp case, worked out from its journal (`irp report --format json`)."
)]
pub struct Report {
    pub report_version: u32,
    /// When the report was made (RFC 3339, UTC).
    pub generated_at: String,
    /// The irp version that made it.
    pub generated_by: String,
    pub summary: Summary,
    pub integrity: Integrity,
    pub metrics: Metrics,
    /// Every entry about the incident, in order (housekeeping entries are in `integrity` and
    /// `summary.sessions`; a query's submission is folded into its result).
    pub timeline: Vec<TimelineItem>,
    /// The observables recorded as evidence, one row per type and value.
    pub evidence: Vec<Ioc>,
    /// MITRE ATT&CK techniques the evidence speaks for, and the D3FEND defences applied.
    pub techniques: Techniques,
    pub path: PathTaken,
    /// A rehearsal's score against its exercise (`None` for a case that is not an exercise).
    pub score: Option<score::Score>,
    /// Why the exercise's score could not be worked out (its brief is missing or changed).
    pub exercise_problem: Option<String>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Summary {
    pub case: String,
    pub folder: String,
    /// `rehearsal` or `live`.
    pub mode: String,
    pub playbook: PlaybookSummary,
    /// The inputs as resolved when the case opened.
    pub inputs: BTreeMap<String, serde_json::Value>,
    /// Who took part: every actor with entries, `irp` (entries irp writes on its own) included.
    pub participants: Vec<Participant>,
    /// `closed`, `paused` or `open`.
    pub status: String,
    /// The closing summary, or where the case stands.
    pub outcome: String,
    pub opened: String,
    /// The last entry's time.
    pub last_entry: String,
    /// When the case was closed, if it was.
    pub closed: Option<String>,
    /// Opened to closed (or to the last entry of an open case), in seconds.
    pub duration_s: f64,
    /// Time spent paused, in seconds.
    pub paused_s: f64,
    /// Processes that worked on the case (`irp run`, `irp resume`, …).
    pub sessions: Vec<SessionItem>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct PlaybookSummary {
    pub id: String,
    pub title: String,
    pub version: String,
    /// SHA-256 of the playbook file the case ran.
    pub sha256: String,
    pub source: String,
    /// Versions accepted during the case (`playbook_changed`), oldest first.
    pub changes: Vec<String>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Participant {
    pub actor: String,
    pub entries: u64,
    pub first: String,
    pub last: String,
    /// The playbook's roles they held when the case ended (a team's case).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct SessionItem {
    pub seq: u64,
    pub at: String,
    pub actor: String,
    pub command: String,
    pub host: String,
    pub irp: String,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Integrity {
    /// True when the chain is intact and every file matches.
    pub verified: bool,
    pub entries: u64,
    /// The hash of the last good entry (keep it elsewhere to detect entries cut off the end).
    pub head: String,
    /// The first bad entry, when there is one; the report covers the entries before it.
    pub first_bad_seq: Option<u64>,
    pub problem: Option<String>,
    /// Bytes of a last line cut short by a crash (not part of the chain), if any.
    pub torn_tail_bytes: Option<u64>,
    /// Entries signed with a responder's SSH key (the signatures hold; `irp verify
    /// --allowed-signers` ties the keys to people).
    pub signed_entries: u64,
    /// Runs of consecutive entries signed by the same key.
    pub signers: Vec<SignerRun>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct SignerRun {
    pub from_seq: u64,
    pub to_seq: u64,
    /// `ED25519 SHA256:…`.
    pub key: String,
}

/// A time from the case's opening to a milestone.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Milestone {
    pub seconds: f64,
    pub at: String,
    pub seq: u64,
    pub step: Option<String>,
    /// What marks it, in words.
    pub what: String,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Metrics {
    /// Case open → the first evidence recorded.
    pub time_to_detect: Option<Milestone>,
    /// Case open → the last containment action that finished (succeeded, or verified in place).
    pub time_to_contain: Option<Milestone>,
    /// Case open → the last recovery step finished.
    pub time_to_recover: Option<Milestone>,
    pub stages: Vec<StageMetric>,
    /// NIST SP 800-61 r2 phases, in life-cycle order.
    pub phases: Vec<PhaseMetric>,
    /// NIST SP 800-61 r3's top level, the CSF 2.0 functions, with the stages mapped to each
    /// (a stage counts for each of its functions).
    pub csf_functions: Vec<CsfMetric>,
    pub deviations: Vec<Deviation>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct StageMetric {
    pub id: String,
    pub title: String,
    /// NIST SP 800-61 r2 phase.
    pub phase: String,
    /// NIST CSF 2.0 functions (SP 800-61 r3): given, or from the `csf` tags.
    pub functions: Vec<String>,
    pub csf: Vec<String>,
    /// Time on the stage's steps (all visits), in seconds.
    pub seconds: f64,
    pub first_entered: Option<String>,
    pub last_left: Option<String>,
    pub steps: Vec<StepMetric>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct StepMetric {
    pub id: String,
    pub title: String,
    /// `query`, `decision`, `action` or `note`.
    pub kind: String,
    pub csf: Vec<String>,
    pub visits: u32,
    pub seconds: f64,
    /// `pending` (never reached), `done`, `failed`, `skipped`, `current`, `running`.
    pub status: String,
    /// A `for_each` action's items, once it was confirmed or found nothing to do.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub items: Option<ItemCounts>,
    /// When the case stood on the step: one span per visit.
    pub spans: Vec<Span>,
}

/// How the items of a `for_each` step stand.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ItemCounts {
    /// Items the list held when the step was confirmed (0: nothing to do).
    pub total: usize,
    pub in_place: usize,
    pub failed: usize,
    /// Outcome unknown (a process stopped between the call and its result).
    pub unknown: usize,
    /// Left out at the confirmation, each with a reason in the journal.
    pub left_out: usize,
}

impl ItemCounts {
    fn of(st: &crate::engine::StepState) -> Option<ItemCounts> {
        let count = |o: Outcome| st.items.values().filter(|r| r.outcome == Some(o)).count();
        match &st.chosen {
            Some(c) => Some(ItemCounts {
                total: c.total,
                in_place: (0..c.total).filter(|i| st.item_done(*i)).count(),
                failed: count(Outcome::Failed),
                unknown: count(Outcome::Unknown),
                left_out: c.left_out.len(),
            }),
            None if st.nothing_to_do => Some(ItemCounts {
                total: 0,
                in_place: 0,
                failed: 0,
                unknown: 0,
                left_out: 0,
            }),
            None if !st.items.is_empty() => Some(ItemCounts {
                total: st.items.len(),
                in_place: st.items.keys().filter(|i| st.item_done(**i)).count(),
                failed: count(Outcome::Failed),
                unknown: count(Outcome::Unknown),
                left_out: 0,
            }),
            None => None,
        }
    }

    /// `2/3 in place, 1 left out`, or `nothing to do`.
    pub fn text(&self) -> String {
        if self.total == 0 {
            return "nothing to do".to_owned();
        }
        let mut t = format!("{}/{} in place", self.in_place, self.total);
        for (n, what) in [
            (self.failed, "failed"),
            (self.unknown, "unknown"),
            (self.left_out, "left out"),
        ] {
            if n > 0 {
                let _ = write!(t, ", {n} {what}");
            }
        }
        t
    }

    /// The step's status with its items: `done (2/3 in place, 1 left out)`.
    pub fn status(status: &str, items: Option<&ItemCounts>) -> String {
        match items {
            Some(i) => format!("{status} ({})", i.text()),
            None => status.to_owned(),
        }
    }
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Span {
    pub from: String,
    pub to: String,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct PhaseMetric {
    pub phase: String,
    pub title: String,
    pub seconds: f64,
    pub stages: Vec<String>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct CsfMetric {
    /// `GV`, `ID`, `PR`, `DE`, `RS`, `RC`.
    pub function: String,
    pub name: String,
    pub seconds: f64,
    pub stages: Vec<String>,
}

/// A departure from the playbook's straight path, or a problem on the way.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Deviation {
    pub seq: u64,
    pub at: String,
    pub actor: String,
    /// `skip`, `rerun`, `back_step`, `query_failed`, `query_cancelled`, `action_failed`,
    /// `action_unknown`, `action_conflict`, `rollback`, `playbook_changed`, `lock_taken_over`,
    /// `torn_tail`, `pause`.
    pub kind: String,
    pub step: Option<String>,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct TimelineItem {
    pub seq: u64,
    /// As journaled (RFC 3339, UTC, milliseconds).
    pub at: String,
    pub actor: String,
    /// The journal entry's kind.
    pub kind: String,
    pub step: Option<String>,
    pub stage: Option<String>,
    /// One line saying what happened.
    pub text: String,
    pub detail: Detail,
    /// The key that signed the entry (`ED25519 SHA256:…`), when it is signed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signed_by: Option<String>,
}

/// What a timeline item carries besides its line.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Detail {
    Query {
        sql: Option<String>,
        backend: Option<String>,
        submitted: Option<String>,
        query_id: Option<String>,
        state: Option<String>,
        rows: Option<u64>,
        bytes_scanned: Option<u64>,
        artifact: Option<ArtifactRef>,
        error: Option<String>,
        /// The step's source is not collected (`source_not_collected`): which, and why.
        #[serde(skip_serializing_if = "Option::is_none")]
        not_collected: Option<String>,
        captures: BTreeMap<String, serde_json::Value>,
    },
    Decision {
        option: String,
        label: String,
        suggested: Option<String>,
        rationale: Option<String>,
        next: Option<String>,
    },
    Action {
        intent: Option<Intent>,
        simulated: bool,
        outcome: Option<String>,
        detail: Option<String>,
        before: Option<ArtifactRef>,
        request: Option<ArtifactRef>,
        after: Option<ArtifactRef>,
        request_ids: Vec<String>,
        verification: Option<String>,
    },
    Rollback {
        operation: Option<String>,
        outcome: Option<String>,
        detail: Option<String>,
        restore: Option<ArtifactRef>,
        current: Option<ArtifactRef>,
        after: Option<ArtifactRef>,
        calls: Vec<String>,
        simulated: bool,
    },
    Note {
        text: String,
    },
    Evidence {
        #[serde(rename = "observable")]
        observable: String,
        value: String,
        note: Option<String>,
    },
    Other,
}

impl Detail {
    /// What kind of item it is, for styling: `query`, `decision`, `action`, `rollback`, `note`,
    /// `evidence` or `other`.
    pub fn class(&self) -> &'static str {
        match self {
            Detail::Query { .. } => "query",
            Detail::Decision { .. } => "decision",
            Detail::Action { .. } => "action",
            Detail::Rollback { .. } => "rollback",
            Detail::Note { .. } => "note",
            Detail::Evidence { .. } => "evidence",
            Detail::Other => "other",
        }
    }
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Ioc {
    #[serde(rename = "type")]
    pub observable: String,
    pub value: String,
    /// When it was first recorded.
    pub first_seen: String,
    pub seq: u64,
    /// The step that found it (the one the responder was on).
    pub step: Option<String>,
    pub stage: Option<String>,
    /// How many times it was recorded.
    pub count: u64,
    pub notes: Vec<String>,
}

/// What the intruder did (ATT&CK) and what the defence did (D3FEND), as far as the case shows.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Techniques {
    /// The ATT&CK version the ids are checked against.
    pub attack_version: String,
    /// Techniques of the steps whose findings were recorded as evidence.
    pub attack: Vec<TechniqueItem>,
    /// Techniques the playbook responds to (its `attack:`) that no evidence speaks for.
    pub attack_not_evidenced: Vec<TechniqueItem>,
    /// Defences of the action steps that were carried out.
    pub d3fend: Vec<DefenceItem>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct TechniqueItem {
    /// `T1530`, `T1078.004`.
    pub id: String,
    pub name: String,
    /// ATT&CK tactics (`collection`).
    pub tactics: Vec<String>,
    /// The steps whose findings were recorded as evidence of it (the step the responder was
    /// on, or the query step that captured the value).
    pub steps: Vec<String>,
    /// Evidence rows that are findings of those steps.
    pub evidence: u64,
    /// When the first of that evidence was recorded (RFC 3339).
    pub first_seen: Option<String>,
    /// When the last of it was first recorded.
    pub last_seen: Option<String>,
}

impl TechniqueItem {
    /// The technique with its name and tactics from the pinned catalogue, and no evidence.
    fn named(id: &str) -> TechniqueItem {
        let known = crate::standards::technique(id);
        TechniqueItem {
            id: id.to_owned(),
            name: known.map_or_else(String::new, |k| k.name.to_owned()),
            tactics: known.map_or_else(Vec::new, |k| k.tactics.iter().map(|t| (*t).to_owned()).collect()),
            steps: Vec::new(),
            evidence: 0,
            first_seen: None,
            last_seen: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct DefenceItem {
    /// `D3-CR`.
    pub id: String,
    pub name: String,
    /// `Harden`, `Detect`, `Isolate`, `Deceive`, `Evict`, `Restore` or `Model`.
    pub tactic: String,
    /// The action steps that applied it.
    pub steps: Vec<String>,
}

/// The playbook's graph with the case's path over it.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct PathTaken {
    /// Every step entered, in order (re-entries included).
    pub steps: Vec<String>,
    pub nodes: Vec<PathNode>,
    pub edges: Vec<PathEdge>,
    /// True when the case reached the end of the playbook.
    pub reached_end: bool,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct PathNode {
    pub id: String,
    pub title: String,
    pub stage: String,
    pub kind: String,
    pub visits: u32,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct PathEdge {
    pub from: String,
    /// A step id, or `end`.
    pub to: String,
    pub label: Option<String>,
    /// How many times the case went this way.
    pub taken: u32,
    /// `next`, `option`, `on_failure`, or `back` (a back-step, not an edge of the playbook).
    pub via: String,
}

/// Why a report cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("cannot read {path}: {error}")]
    Read { path: String, error: String },
    #[error("{0} holds no complete journal entry: there is no case to report on")]
    Empty(String),
    #[error("{path} is damaged at {what}: there is no intact entry to report on")]
    DamagedFromStart { path: String, what: String },
    #[error("the playbook snapshot `{path}` cannot be loaded: {error}")]
    Playbook { path: String, error: String },
}

impl ReportError {
    pub fn hints(&self) -> Vec<String> {
        match self {
            ReportError::Read { .. } => {
                vec!["give a case folder (the one `irp run --case-dir` created) or its journal.jsonl".to_owned()]
            }
            ReportError::Empty(_) => vec!["`irp journal CASE` shows what the file holds".to_owned()],
            ReportError::DamagedFromStart { .. } => {
                vec!["`irp verify CASE` names the damage; `irp journal CASE --json` shows the bytes".to_owned()]
            }
            ReportError::Playbook { .. } => vec![
                "`irp verify CASE` checks the snapshot against its hash; `irp journal CASE` still shows every entry"
                    .to_owned(),
            ],
        }
    }
}

/// A case as read from its folder: entries (the good ones), what checking found, the playbook.
#[derive(Debug)]
pub struct CaseRecord {
    pub dir: CaseDir,
    pub scan: Scan,
    /// The first problem: a break in the chain, or a file that does not match.
    pub problem: Option<crate::journal::Corruption>,
    /// The first entry: the case, its mode, the playbook it started with.
    pub opened: CaseOpened,
    pub playbook: Playbook,
    /// Who signed which entry (`signatures.jsonl`), checked without an allowed signers file.
    pub signatures: crate::journal::sign::SignatureReport,
}

impl CaseRecord {
    /// Reads a case folder (or its journal) and checks it, without taking its lock or writing.
    pub fn read(given: &Path) -> Result<CaseRecord, ReportError> {
        let (dir, journal) = CaseDir::locate(given);
        let bytes = std::fs::read(&journal).map_err(|e| ReportError::Read {
            path: journal.display().to_string(),
            error: e.to_string(),
        })?;
        let scan = crate::journal::store::scan(&bytes);
        // The reader accepts a first entry only if it is the case's opening.
        let Some(Event::CaseOpened(opened)) = scan.entries.first().map(|e| &e.event) else {
            let path = journal.display().to_string();
            return Err(match &scan.corruption {
                Some(c) => ReportError::DamagedFromStart {
                    path,
                    what: c.to_string(),
                },
                None => ReportError::Empty(path),
            });
        };
        let opened = opened.clone();
        let sig_path = dir.path(CaseDir::SIGNATURES);
        let signatures =
            crate::journal::sign::check(&sig_path, &scan.entries, None).map_err(|e| ReportError::Read {
                path: sig_path.display().to_string(),
                error: e.to_string(),
            })?;
        let problem = scan
            .corruption
            .clone()
            .or_else(|| crate::journal::check_files(&dir, &scan.entries))
            .or_else(|| crate::journal::sign::first_problem(&signatures, false));
        // The playbook the case follows now: the last one accepted, or the one it opened with.
        let snapshot = scan
            .entries
            .iter()
            .rev()
            .find_map(|e| match &e.event {
                Event::PlaybookChanged(c) => Some(c.snapshot.clone()),
                _ => None,
            })
            .unwrap_or_else(|| opened.playbook.snapshot.clone());
        let loaded = dir.inside(&snapshot).map(|p| crate::files::load_playbook(&p));
        let playbook = match loaded {
            Some(crate::playbook::Loaded {
                playbook: Some(p), ..
            }) => p,
            other => {
                return Err(ReportError::Playbook {
                    path: dir.path(&snapshot).display().to_string(),
                    error: other
                        .and_then(|l| l.diagnostics.into_iter().next())
                        .map_or_else(|| "outside the case folder".to_owned(), |d| d.message),
                });
            }
        };
        Ok(CaseRecord {
            dir,
            scan,
            problem,
            opened,
            playbook,
            signatures,
        })
    }

    pub fn integrity(&self) -> Integrity {
        Integrity {
            verified: self.problem.is_none(),
            entries: self.scan.entries.len() as u64,
            head: self.scan.head().to_owned(),
            first_bad_seq: self.problem.as_ref().map(|p| p.seq),
            problem: self.problem.as_ref().map(|p| p.what.clone()),
            torn_tail_bytes: self.scan.torn.as_ref().map(|t| t.len() as u64),
            signed_entries: self.signatures.signed_count() as u64,
            signers: self
                .signatures
                .signer_runs()
                .into_iter()
                .map(|(from_seq, to_seq, s)| SignerRun {
                    from_seq,
                    to_seq,
                    key: s.key_text,
                })
                .collect(),
        }
    }
}

fn at_text(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[allow(clippy::cast_precision_loss)] // milliseconds of a case, far below 2^52
fn secs(d: chrono::Duration) -> f64 {
    d.num_milliseconds() as f64 / 1000.0
}

/// The CSF 2.0 categories that apply to a step: its own, or else its stage's.
fn csf_of(pb: &Playbook, i: usize) -> &[String] {
    let s = &pb.steps[i];
    if s.csf.is_empty() {
        &pb.stages[s.stage].csf
    } else {
        &s.csf
    }
}

/// Containment: CSF `RS.MI` (mitigation) or `RS.MI-01` (incidents are contained).
fn is_containment(csf: &[String]) -> bool {
    csf.iter().any(|c| c == "RS.MI" || c == "RS.MI-01")
}

/// Recovery: any CSF 2.0 `RC` category.
fn is_recovery(csf: &[String]) -> bool {
    csf.iter().any(|c| c.starts_with("RC."))
}

/// `closed`, `paused` or `open`.
fn status_of(state: &State) -> &'static str {
    if state.closed.is_some() {
        "closed"
    } else if state.paused.is_some() {
        "paused"
    } else {
        "open"
    }
}

/// When the case was closed, if it was.
fn closed_at(entries: &[crate::journal::Entry]) -> Option<DateTime<Utc>> {
    entries
        .iter()
        .rev()
        .find(|e| matches!(e.event, Event::CaseClosed { .. }))
        .map(|e| e.at)
}

/// Works the report out. `now` is the generation time (pinned by `IRP_NOW` in tests).
pub fn build(record: &CaseRecord, now: DateTime<Utc>) -> Report {
    let pb = &record.playbook;
    let entries = &record.scan.entries;
    let opened_at = entries[0].at;

    // One pass: the state after each entry, shown to each section's observer.
    let mut state = State::default();
    let mut people = observe::People::default();
    let mut visits = observe::Visits::default();
    let mut pauses = observe::Pauses::default();
    let mut deviations = observe::Deviations::default();
    let mut moves = observe::Moves::default();
    let mut marks = observe::Milestones::default();
    let mut evidence = observe::EvidenceTable::default();
    let mut timeline = Vec::with_capacity(entries.len());
    for e in entries {
        state.apply(&e.event);
        people.observe(e);
        visits.observe(&state, e);
        pauses.observe(e);
        deviations.observe(&state, e);
        moves.observe(e);
        marks.observe(pb, opened_at, e);
        evidence.observe(pb, e);
        timeline.extend(observe::timeline_item(pb, entries, &state, e).map(|mut t| {
            t.signed_by = record.signatures.key_of(e.seq).map(str::to_owned);
            t
        }));
    }
    let last = entries[entries.len() - 1].at;
    let visits = visits.finish(last);
    let time_paused = pauses.finish(last);
    let closed = pauses.closed;
    let mut taken = moves.0;
    let outcome = match (&state.closed, &state.position) {
        (Some(summary), _) => summary.clone(),
        (None, crate::engine::Position::At(s)) => format!("open, at step `{s}`"),
        (None, crate::engine::Position::End) => "open, at the end of the playbook (not closed)".to_owned(),
        (None, crate::engine::Position::NotStarted) => "open, not started".to_owned(),
    };

    // Stages and steps: every time is a sum of visits.
    let stages: Vec<StageMetric> = pb
        .stages
        .iter()
        .map(|st| {
            let of: Vec<&Visit> = st
                .steps
                .clone()
                .filter_map(|i| visits.get(&pb.steps[i].id))
                .flatten()
                .collect();
            let steps: Vec<StepMetric> = st
                .steps
                .clone()
                .map(|i| {
                    let s = &pb.steps[i];
                    let mine = visits.get(&s.id).map_or(&[][..], Vec::as_slice);
                    StepMetric {
                        id: s.id.clone(),
                        title: s.title.clone(),
                        kind: s.kind.name().to_owned(),
                        csf: s.csf.clone(),
                        visits: state.visits(&s.id),
                        seconds: mine.iter().map(|v| secs(v.to - v.from)).sum(),
                        status: state
                            .step(&s.id)
                            .map_or("pending", |x| x.status.as_str())
                            .to_owned(),
                        items: state.step(&s.id).and_then(ItemCounts::of),
                        spans: mine
                            .iter()
                            .map(|v| Span {
                                from: at_text(v.from),
                                to: at_text(v.to),
                            })
                            .collect(),
                    }
                })
                .collect();
            StageMetric {
                id: st.id.clone(),
                title: st.title.clone(),
                phase: st.phase.id().to_owned(),
                functions: st.functions.clone(),
                csf: st.csf.clone(),
                seconds: steps.iter().map(|s| s.seconds).sum(),
                first_entered: of.iter().map(|v| v.from).min().map(at_text),
                last_left: of.iter().map(|v| v.to).max().map(at_text),
                steps,
            }
        })
        .collect();
    let phases = crate::playbook::raw::Phase::ALL
        .into_iter()
        .map(|p| {
            let of: Vec<&StageMetric> = stages.iter().filter(|s| s.phase == p.id()).collect();
            PhaseMetric {
                phase: p.id().to_owned(),
                title: p.title().to_owned(),
                seconds: of.iter().map(|s| s.seconds).sum(),
                stages: of.iter().map(|s| s.id.clone()).collect(),
            }
        })
        .collect();
    let csf_functions = crate::standards::CSF_FUNCTIONS
        .iter()
        .map(|(f, name)| {
            // A stage counts for each of its functions (a stage that responds and recovers
            // counts for both).
            let of: Vec<&StageMetric> = stages
                .iter()
                .filter(|s| s.functions.iter().any(|x| x == f))
                .collect();
            CsfMetric {
                function: (*f).to_owned(),
                name: (*name).to_owned(),
                seconds: of.iter().map(|s| s.seconds).sum(),
                stages: of.iter().map(|s| s.id.clone()).collect(),
            }
        })
        .collect();

    // The graph: every step, every edge of the playbook, and the back-steps taken.
    let nodes = pb
        .steps
        .iter()
        .map(|s| PathNode {
            id: s.id.clone(),
            title: s.title.clone(),
            stage: pb.stages[s.stage].id.clone(),
            kind: s.kind.name().to_owned(),
            visits: state.visits(&s.id),
        })
        .collect();
    let target = |n: Next| match n {
        Next::Step(j) => pb.steps[j].id.clone(),
        Next::End => "end".to_owned(),
    };
    let first = pb
        .steps
        .first()
        .map(|f| ("start".to_owned(), f.id.clone(), None, "next"));
    let drawn = crate::playbook::graph::edges(pb)
        .into_iter()
        .map(|(from, to, label, failure)| {
            let via = match (failure, &label) {
                (true, _) => "on_failure",
                (false, Some(_)) => "option",
                (false, None) => "next",
            };
            (pb.steps[from].id.clone(), target(to), label, via)
        });
    let mut edges: Vec<PathEdge> = first
        .into_iter()
        .chain(drawn)
        .map(|(from, to, label, via)| PathEdge {
            taken: taken.remove(&(from.clone(), to.clone(), false)).unwrap_or(0),
            from,
            to,
            label,
            via: via.to_owned(),
        })
        .collect();
    // What is left was not an edge of the playbook as drawn: back-steps, and moves along an
    // edge of a playbook version the case no longer follows.
    for ((from, to, back), n) in taken {
        edges.push(PathEdge {
            from,
            to,
            label: None,
            taken: n,
            via: if back { "back" } else { "next" }.to_owned(),
        });
    }

    let found = techniques(pb, &evidence.rows, &stages, &state.captures);
    Report {
        report_version: VERSION,
        generated_at: now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        generated_by: format!("irp {}", env!("CARGO_PKG_VERSION")),
        summary: Summary {
            case: record.opened.case.clone(),
            folder: record.dir.root.display().to_string(),
            mode: record.opened.mode.as_str().to_owned(),
            playbook: PlaybookSummary {
                id: record.opened.playbook.id.clone(),
                title: record.opened.playbook.title.clone(),
                version: record.opened.playbook.version.clone(),
                sha256: record.opened.playbook.sha256.clone(),
                source: record.opened.playbook.source.clone(),
                changes: people.changes,
            },
            inputs: record.opened.inputs.clone(),
            participants: {
                let mut participants = people.participants;
                for (role, holder) in &state.roles {
                    if let Some(p) = participants.get_mut(holder) {
                        p.roles.push(role.clone());
                    }
                }
                participants.into_values().collect()
            },
            status: status_of(&state).to_owned(),
            outcome,
            opened: at_text(opened_at),
            last_entry: at_text(last),
            closed: closed.map(at_text),
            duration_s: secs(closed.unwrap_or(last) - opened_at),
            paused_s: secs(time_paused),
            sessions: people.sessions,
        },
        integrity: record.integrity(),
        metrics: Metrics {
            time_to_detect: marks.detect,
            time_to_contain: marks.contain,
            time_to_recover: marks.recover,
            stages,
            phases,
            csf_functions,
            deviations: deviations.0,
        },
        timeline,
        techniques: found,
        evidence: evidence.rows,
        path: PathTaken {
            steps: state.path.clone(),
            nodes,
            edges,
            reached_end: matches!(state.position, crate::engine::Position::End) || state.closed.is_some(),
        },
        score: None,
        exercise_problem: None,
    }
}

/// ATT&CK techniques of the steps whose findings were recorded as evidence (the step the
/// responder was on, and the query steps that captured the value), in playbook order, and
/// the D3FEND defences of the actions carried out (done, or with items in place).
fn techniques(
    pb: &Playbook,
    evidence: &[Ioc],
    stages: &[StageMetric],
    captures: &BTreeMap<String, serde_json::Value>,
) -> Techniques {
    // Where each capture comes from: the query step that declares it.
    let producer: BTreeMap<&str, &str> = pb
        .steps
        .iter()
        .filter_map(|s| match &s.kind {
            StepKind::Query(q) => Some(q.captures.keys().map(move |c| (c.as_str(), s.id.as_str()))),
            _ => None,
        })
        .flatten()
        .collect();
    // The steps whose findings a piece of evidence is: the step the responder recorded it on,
    // and every query step that captured the value.
    let sources = |e: &Ioc| -> Vec<String> {
        let mut out: Vec<String> = e.step.iter().cloned().collect();
        for (name, value) in captures {
            if json_holds(value, &e.value)
                && let Some(step) = producer.get(name.as_str())
                && !out.iter().any(|o| o == step)
            {
                out.push((*step).to_owned());
            }
        }
        out
    };
    let by_step: Vec<(&Ioc, Vec<String>)> = evidence.iter().map(|e| (e, sources(e))).collect();
    let mut ids: Vec<&str> = Vec::new();
    for s in &pb.steps {
        for id in &s.attack {
            if !ids.contains(&id.as_str()) {
                ids.push(id);
            }
        }
    }
    let mut attack: Vec<TechniqueItem> = Vec::new();
    for id in ids {
        let steps: Vec<&str> = pb
            .steps
            .iter()
            .filter(|s| s.attack.iter().any(|a| a == id))
            .map(|s| s.id.as_str())
            .filter(|s| by_step.iter().any(|(_, src)| src.iter().any(|x| x == s)))
            .collect();
        let rows: Vec<&Ioc> = by_step
            .iter()
            .filter(|(_, src)| src.iter().any(|x| steps.contains(&x.as_str())))
            .map(|(e, _)| *e)
            .collect();
        if rows.is_empty() {
            continue;
        }
        attack.push(TechniqueItem {
            steps: steps.iter().map(|s| (*s).to_owned()).collect(),
            evidence: rows.len() as u64,
            first_seen: rows.iter().map(|e| e.first_seen.clone()).min(),
            last_seen: rows.iter().map(|e| e.first_seen.clone()).max(),
            ..TechniqueItem::named(id)
        });
    }
    let attack_not_evidenced = pb
        .attack
        .iter()
        .filter(|id| !attack.iter().any(|t| t.id == **id))
        .map(|id| TechniqueItem::named(id))
        .collect();
    let carried_out = |id: &str| {
        stages
            .iter()
            .flat_map(|st| &st.steps)
            .any(|x| x.id == id && (x.status == "done" || x.items.as_ref().is_some_and(|i| i.in_place > 0)))
    };
    let mut d3fend: Vec<DefenceItem> = Vec::new();
    for s in pb.steps.iter().filter(|s| carried_out(&s.id)) {
        for id in &s.d3fend {
            if let Some(d) = d3fend.iter_mut().find(|d| d.id == *id) {
                d.steps.push(s.id.clone());
            } else {
                let known = crate::standards::defence(id);
                d3fend.push(DefenceItem {
                    id: id.clone(),
                    name: known.map_or_else(String::new, |k| k.name.to_owned()),
                    tactic: known.map_or_else(String::new, |k| k.tactic.to_owned()),
                    steps: vec![s.id.clone()],
                });
            }
        }
    }
    Techniques {
        attack_version: crate::standards::ATTACK_VERSION.to_owned(),
        attack,
        attack_not_evidenced,
        d3fend,
    }
}

/// Whether a captured value holds `needle`: is it, or is it in its lists and records.
fn json_holds(v: &serde_json::Value, needle: &str) -> bool {
    match v {
        serde_json::Value::String(s) => s == needle,
        serde_json::Value::Array(a) => a.iter().any(|x| json_holds(x, needle)),
        serde_json::Value::Object(o) => o.values().any(|x| json_holds(x, needle)),
        _ => false,
    }
}

/// A milestone at entry `e`, timed from the case's opening.
fn milestone(
    e: &crate::journal::Entry,
    opened: DateTime<Utc>,
    step: Option<String>,
    what: String,
) -> Milestone {
    Milestone {
        seconds: secs(e.at - opened),
        at: at_text(e.at),
        seq: e.seq,
        step,
        what,
    }
}

fn query_detail(
    submitted: Option<(String, String, String)>,
    rows: Option<u64>,
    artifact: Option<ArtifactRef>,
    error: Option<String>,
    execution: Option<&crate::engine::Execution>,
    captures: &BTreeMap<String, serde_json::Value>,
) -> Detail {
    let (sql, backend, at) = match submitted {
        Some((s, b, a)) => (Some(s), Some(b), Some(a)),
        None => (None, None, None),
    };
    Detail::Query {
        sql,
        backend,
        submitted: at,
        query_id: execution.map(|x| x.query_id.clone()),
        state: execution.map(|x| x.state.clone()),
        rows,
        bytes_scanned: execution.map(|x| x.bytes_scanned),
        artifact,
        error,
        not_collected: None,
        captures: captures.clone(),
    }
}

fn action_detail(
    started: Option<&crate::engine::ActionStarted>,
    finished: Option<&crate::engine::ActionFinished>,
) -> Detail {
    Detail::Action {
        intent: started.map(|s| s.intent.clone()),
        simulated: started.is_some_and(|s| s.simulated) || finished.is_some_and(|f| f.simulated),
        outcome: finished.map(|f| f.outcome.as_str().to_owned()),
        detail: finished.map(|f| f.detail.clone()),
        before: started.and_then(|s| s.before.clone()),
        request: started.and_then(|s| s.request.clone()),
        after: finished.and_then(|f| f.after.clone()),
        request_ids: finished.map(|f| f.request_ids.clone()).unwrap_or_default(),
        verification: finished.and_then(|f| f.verification.clone()),
    }
}

fn rollback_detail(
    started: Option<&crate::engine::RollbackStarted>,
    finished: Option<&crate::engine::RollbackFinished>,
) -> Detail {
    Detail::Rollback {
        operation: started.map(|r| r.operation.clone()),
        outcome: finished.map(|f| f.outcome.as_str().to_owned()),
        detail: finished.map(|f| f.detail.clone()),
        restore: started.and_then(|r| r.restore.clone()),
        current: started.and_then(|r| r.current.clone()),
        after: finished.and_then(|f| f.after.clone()),
        calls: started.map(|r| r.calls.clone()).unwrap_or_default(),
        simulated: started.is_some_and(|r| r.simulated) || finished.is_some_and(|f| f.simulated),
    }
}

/// What kind of thing a step is, for filters and reports.
pub fn kind_class(event: &Event) -> &'static str {
    match event {
        Event::QuerySubmitted(_)
        | Event::QuerySucceeded(_)
        | Event::QueryFailed(_)
        | Event::SourceNotCollected(_)
        | Event::QueryCancelled { .. } => "query",
        Event::Decided(_) => "decision",
        Event::ActionConfirmed(_)
        | Event::ActionStarted(_)
        | Event::ActionFinished(_)
        | Event::ActionConflict(_)
        | Event::ActionVerified(_)
        | Event::ChecklistItemDone { .. }
        | Event::AwsIdentity(_) => "action",
        Event::RollbackStarted(_) | Event::RollbackFinished(_) => "rollback",
        Event::NoteAdded { .. } => "note",
        Event::EvidenceAdded(_) => "evidence",
        Event::StepSkipped { .. }
        | Event::WentBack { .. }
        | Event::StepCompleted { .. }
        | Event::Started { .. } => "step",
        _ => "case",
    }
}

/// The kinds `kind_class` gives, for filters and their help.
pub const KIND_CLASSES: [&str; 8] = [
    "query", "decision", "action", "rollback", "note", "evidence", "step", "case",
];

/// A duration as `1h 02m 03s` (or `4m 05s`, `6s`).
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // clamped to 0, rounded on purpose
pub fn duration_text(seconds: f64) -> String {
    let total = seconds.max(0.0).round() as u64;
    let (h, m, s) = (total / 3600, (total % 3600) / 60, total % 60);
    if h > 0 {
        format!("{h}h {m:02}m {s:02}s")
    } else if m > 0 {
        format!("{m}m {s:02}s")
    } else {
        format!("{s}s")
    }
}

/// An RFC 3339 time as `2026-11-28 03:14:07Z` (UTC, to the second).
pub fn second_text(at: &str) -> String {
    DateTime::parse_from_rfc3339(at).map_or_else(
        |_| at.to_owned(),
        |t| t.with_timezone(&Utc).format("%Y-%m-%d %H:%M:%SZ").to_string(),
    )
}

/// The kinds of the playbook's steps, for reports (`query`, `decision`, …, and the action's
/// operation when it has one).
pub fn step_kind_text(pb: &Playbook, id: &str) -> String {
    match pb.step(id).map(|s| &s.kind) {
        Some(StepKind::Action(a)) => match &a.kind {
            ActionKind::Aws { op, .. } => format!("action {}", op.name),
            ActionKind::Command { .. } => "action command".to_owned(),
            ActionKind::Manual { .. } => "action checklist".to_owned(),
        },
        Some(k) => k.name().to_owned(),
        None => "unknown step".to_owned(),
    }
}

/// The schema of the JSON report, pretty-printed with a trailing newline, exactly as checked in
/// at `schemas/report.schema.json`.
pub fn schema_text() -> String {
    crate::journal::schema_text::<Report>()
}

/// One line per case for `irp cases`.
#[derive(Debug, Clone, Serialize)]
pub struct CaseLine {
    pub folder: String,
    pub case: String,
    pub playbook: String,
    pub mode: String,
    pub opened: String,
    pub status: String,
    pub duration_s: f64,
    /// Set when the journal does not verify.
    pub problem: Option<String>,
}

impl CaseLine {
    /// Reads just the journal of a case folder (no playbook, no file hashes: `irp verify` does
    /// those).
    pub fn read(dir: &Path) -> Option<CaseLine> {
        let bytes = std::fs::read(dir.join(CaseDir::JOURNAL)).ok()?;
        let scan = crate::journal::store::scan(&bytes);
        let (Some(first), Some(last)) = (scan.entries.first(), scan.entries.last()) else {
            // Nothing intact: damaged from its first entry (listed, so it is not overlooked),
            // or a start cut short (not a case yet).
            return scan.corruption.map(|c| CaseLine {
                folder: dir.display().to_string(),
                case: "-".to_owned(),
                playbook: "-".to_owned(),
                mode: "-".to_owned(),
                opened: String::new(),
                status: "open".to_owned(),
                duration_s: 0.0,
                problem: Some(c.to_string()),
            });
        };
        let state = State::replay(scan.entries.iter().map(|e| &e.event));
        let opened = state.opened.as_ref()?;
        let closed = closed_at(&scan.entries);
        Some(CaseLine {
            folder: dir.display().to_string(),
            case: opened.case.clone(),
            playbook: format!("{} {}", opened.playbook.id, opened.playbook.version),
            mode: opened.mode.as_str().to_owned(),
            opened: at_text(first.at),
            status: status_of(&state).to_owned(),
            duration_s: secs(closed.unwrap_or(last.at) - first.at),
            problem: scan.corruption.map(|c| c.to_string()),
        })
    }
}

/// Lists the cases in `root`: the folder itself if it is a case, else its sub-folders that are
/// (one level down), newest first.
pub fn list_cases(root: &Path) -> std::io::Result<Vec<CaseLine>> {
    if root.join(CaseDir::JOURNAL).is_file() {
        return Ok(CaseLine::read(root).into_iter().collect());
    }
    let mut out = Vec::new();
    let dirs: Vec<_> = std::fs::read_dir(root)?
        .filter_map(Result::ok)
        .map(|d| d.path())
        // A staging folder left by a start killed before its case was moved into place is not
        // a case.
        .filter(|p| {
            !p.file_name()
                .is_some_and(|n| n.to_string_lossy().contains(".irp-new-"))
        })
        .filter(|p| p.join(CaseDir::JOURNAL).is_file())
        .collect();
    for d in dirs {
        if let Some(line) = CaseLine::read(&d) {
            out.push(line);
        }
    }
    out.sort_by(|a, b| b.opened.cmp(&a.opened).then_with(|| a.folder.cmp(&b.folder)));
    Ok(out)
}
