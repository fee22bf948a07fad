//! The state of a case: what folding its events gives. `State::apply` is the only way it changes,
//! and it never fails: it reads facts, it does not judge them (`decide` does that before a fact is
//! written).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};

use super::event::{
    ArtifactRef, CaseOpened, Chosen, Event, EvidenceAdded, Execution, Intent, NextStep, NotCollected, Outcome,
};

#[derive(Debug, Clone, Default, PartialEq)]
pub struct State {
    /// The `case_opened` payload; `None` before the first entry.
    pub opened: Option<CaseOpened>,
    /// SHA-256 of the playbook the case now follows (changes with `playbook_changed`).
    pub playbook_sha256: String,
    /// The snapshot of that playbook in the case folder, relative to it.
    pub playbook_snapshot: Option<String>,
    pub position: Position,
    pub paused: Option<String>,
    pub closed: Option<String>,
    pub steps: BTreeMap<String, StepState>,
    /// Every step entered, in order (re-entries included).
    pub path: Vec<String>,
    /// Capture values by name, from the latest successful run of the query that defines them.
    pub captures: BTreeMap<String, serde_json::Value>,
    pub notes: Vec<Note>,
    pub evidence: Vec<Evidence>,
    /// A rehearsal's exercise, once set.
    pub exercise: Option<super::event::ExerciseSet>,
    /// The injects that have landed, by name.
    pub injects: Vec<String>,
    /// The identity a live case's AWS calls are made as (its ARN, as STS reported it).
    pub aws_identity: Option<String>,
    /// The sources (logical tables) found not collected for this case, with where and why.
    pub not_collected: BTreeMap<String, NotCollectedAt>,
    /// The playbook's roles taken in a team's case: role id → the responder holding it.
    pub roles: BTreeMap<String, String>,
    /// Entries of a shared case its readers refused, by seq of the entry that says so.
    pub rejected: Vec<super::event::EntryRejected>,
    /// Number of events applied (the next entry's seq).
    pub applied: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Position {
    #[default]
    NotStarted,
    At(String),
    /// The playbook's end was reached; the case can be closed.
    End,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct StepState {
    /// How many times the step was entered.
    pub visits: u32,
    pub status: StepStatus,
    pub confirmed: bool,
    pub checklist: BTreeSet<usize>,
    pub last_error: Option<String>,
    pub last_outcome: Option<Outcome>,
    pub decided: Option<String>,
    pub skip_reason: Option<String>,
    /// A rollback of the step's action has started and not finished.
    pub rollback_in_flight: bool,
    /// How the last rollback of the step's action ended.
    pub rolled_back: Option<Outcome>,
    /// The step's last query run (kept when the case moves on; replaced when it runs again).
    pub query: Option<QueryRun>,
    /// How many times the step's query was submitted in the case.
    pub query_runs: u32,
    /// The step's last action run, with its rollback.
    pub action: Option<ActionRun>,
    /// The state of the resource the responder saw at the step's last confirmation.
    pub seen: Option<ArtifactRef>,
    /// The rationale of the step's last decision.
    pub rationale: Option<String>,
    /// The entry of the step's last failure: a `query_failed`, a `query_cancelled`, or an
    /// `action_finished` that did not succeed.
    pub failed_at: Option<u64>,
    /// A `for_each` step: the items of the last confirmation.
    pub chosen: Option<Chosen>,
    /// A `for_each` step: each item's last run, by index.
    pub items: BTreeMap<usize, ActionRun>,
    /// A `for_each` step whose list was empty.
    pub nothing_to_do: bool,
}

/// A run of a query step as the journal has it. Entries are named by seq, so a driver or a
/// report that holds the entries reads their payloads there; the fields the screens show are
/// copied.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueryRun {
    /// The `query_submitted` entry; `None` for an ending the journal holds without one.
    pub submitted: Option<u64>,
    /// The SQL as sent.
    pub sql: Option<String>,
    pub backend: Option<String>,
    /// The entry that ended the run: `query_succeeded`, `query_failed` or `query_cancelled`.
    pub ended: Option<u64>,
    /// The rows of a run that succeeded.
    pub rows: Option<u64>,
    /// The stored result of a run that succeeded.
    pub artifact: Option<ArtifactRef>,
    /// What the backend reported of the run (Athena).
    pub execution: Option<Execution>,
    /// Why the run failed.
    pub error: Option<String>,
    /// Why the run was cancelled.
    pub cancelled: Option<String>,
    /// Why the step read nothing: its source is not collected (`source_not_collected`).
    pub not_collected: Option<String>,
}

/// Where a source was found not collected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotCollectedAt {
    pub step: String,
    pub found: NotCollected,
    pub reason: String,
}

impl QueryRun {
    pub fn bytes_scanned(&self) -> Option<u64> {
        self.execution.as_ref().map(|x| x.bytes_scanned)
    }
}

/// A run of an action step: its intent, how it ended, whether it was verified, and its rollback.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionRun {
    /// The `action_started` entry.
    pub started: u64,
    /// The call as journaled.
    pub intent: Intent,
    pub simulated: bool,
    /// The before-state stored with the intent.
    pub before: Option<ArtifactRef>,
    /// The exact change worked out from the before-state (live AWS actions).
    pub request: Option<ArtifactRef>,
    /// The `action_finished` entry, once there is one.
    pub finished: Option<u64>,
    /// `None` while the action is in flight; a verification that finds it in place makes it
    /// `Succeeded`.
    pub outcome: Option<Outcome>,
    /// The last word on it: the result's detail, or a verification's.
    pub detail: Option<String>,
    /// The state it left: the result's, or the one a verification read.
    pub after: Option<ArtifactRef>,
    /// Set once the action is known to be in place (it succeeded, or a verification found it
    /// so), with the state read then: what a rollback undoes.
    pub in_place: Option<InPlace>,
    pub rollback: Option<RollbackRun>,
    /// A rollback of this run succeeded.
    pub undone: bool,
}

/// The action is in place: the entry that says so and the state it read.
#[derive(Debug, Clone, PartialEq)]
pub struct InPlace {
    pub seq: u64,
    pub after: Option<ArtifactRef>,
}

/// The last rollback of an action run.
#[derive(Debug, Clone, PartialEq)]
pub struct RollbackRun {
    /// The `rollback_started` entry.
    pub started: u64,
    pub operation: String,
    /// The `rollback_finished` entry, once there is one.
    pub finished: Option<u64>,
    pub outcome: Option<Outcome>,
    pub detail: Option<String>,
    pub simulated: bool,
}

impl StepState {
    /// The SQL of the step's query in flight: submitted, not yet ended.
    pub fn running_query(&self) -> Option<&str> {
        self.query
            .as_ref()
            .filter(|r| r.ended.is_none())
            .and_then(|r| r.sql.as_deref())
    }

    /// The intent of the step's action started and not yet finished (of any item, for a
    /// `for_each` step).
    pub fn action_in_flight(&self) -> Option<&Intent> {
        self.action
            .iter()
            .chain(self.items.values())
            .find(|r| r.finished.is_none())
            .map(|r| &r.intent)
    }

    /// The item of a `for_each` step started and not yet finished.
    pub fn item_in_flight(&self) -> Option<usize> {
        self.items
            .iter()
            .find(|(_, r)| r.finished.is_none())
            .map(|(i, _)| *i)
    }

    /// The run of `item`, or the step's own run when `item` is `None`.
    pub fn run(&self, item: Option<usize>) -> Option<&ActionRun> {
        match item {
            Some(i) => self.items.get(&i),
            None => self.action.as_ref(),
        }
    }

    fn run_mut(&mut self, item: Option<usize>) -> Option<&mut ActionRun> {
        match item {
            Some(i) => self.items.get_mut(&i),
            None => self.action.as_mut(),
        }
    }

    /// Whether every confirmed item of a `for_each` step has a known outcome (true when nothing
    /// was confirmed: the step acts on every item and the engine says when it is settled).
    pub fn items_settled(&self) -> bool {
        self.chosen.as_ref().is_none_or(|c| {
            c.items.iter().all(|i| {
                self.items
                    .get(i)
                    .and_then(|r| r.outcome)
                    .is_some_and(|o| o != Outcome::Unknown)
            })
        })
    }

    /// Whether item `i`'s action is in place (succeeded, or verified so).
    pub fn item_done(&self, i: usize) -> bool {
        self.items
            .get(&i)
            .is_some_and(|r| r.outcome == Some(Outcome::Succeeded))
    }

    /// The query run an ending entry (`seq`) closes: the open one, or, for an ending the journal
    /// holds without a submission, a run of its own.
    fn ending_run(&mut self, seq: u64) -> &mut QueryRun {
        if self.query.as_ref().is_none_or(|r| r.ended.is_some()) {
            self.query = Some(QueryRun::default());
        }
        let run = self.query.get_or_insert_with(QueryRun::default);
        run.ended = Some(seq);
        run
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum StepStatus {
    #[default]
    Pending,
    Current,
    /// A query or an action is in flight.
    Running,
    Done,
    Failed,
    Skipped,
}

impl StepStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            StepStatus::Pending => "pending",
            StepStatus::Current => "current",
            StepStatus::Running => "running",
            StepStatus::Done => "done",
            StepStatus::Failed => "failed",
            StepStatus::Skipped => "skipped",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub step: NextStep,
    /// The visit of `step` the note was made in (0 when there is no step).
    pub visit: u32,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evidence {
    pub added: EvidenceAdded,
    pub visit: u32,
}

impl State {
    /// Folds a whole sequence of events.
    pub fn replay<'a>(events: impl IntoIterator<Item = &'a Event>) -> State {
        let mut state = State::default();
        for e in events {
            state.apply(e);
        }
        state
    }

    pub fn current_step(&self) -> Option<&str> {
        match &self.position {
            Position::At(s) => Some(s),
            _ => None,
        }
    }

    pub fn step(&self, id: &str) -> Option<&StepState> {
        self.steps.get(id)
    }

    pub fn visits(&self, id: &str) -> u32 {
        self.steps.get(id).map_or(0, |s| s.visits)
    }

    /// Whether actions change the account (a live case) rather than being simulated.
    pub fn is_live(&self) -> bool {
        self.opened
            .as_ref()
            .is_some_and(|o| o.mode == super::event::Mode::Live)
    }

    pub fn is_open(&self) -> bool {
        self.opened.is_some() && self.closed.is_none()
    }

    /// Notes recorded on `step` during its visit `visit`.
    pub fn notes_in(&self, step: &str, visit: u32) -> usize {
        self.notes
            .iter()
            .filter(|n| n.step.as_deref() == Some(step) && n.visit == visit)
            .count()
    }

    /// Evidence recorded on `step` during its visit `visit`.
    pub fn evidence_in(&self, step: &str, visit: u32) -> usize {
        self.evidence
            .iter()
            .filter(|e| e.added.step.as_deref() == Some(step) && e.visit == visit)
            .count()
    }

    pub fn apply(&mut self, event: &Event) {
        // Entries are applied in order from seq 0, so the count so far is this entry's seq.
        let seq = self.applied;
        self.applied += 1;
        match event {
            Event::CaseOpened(o) => {
                self.playbook_sha256.clone_from(&o.playbook.sha256);
                self.playbook_snapshot = Some(o.playbook.snapshot.clone());
                self.opened = Some(o.clone());
            }
            Event::PlaybookChanged(c) => {
                self.playbook_sha256.clone_from(&c.new_sha256);
                self.playbook_snapshot = Some(c.snapshot.clone());
            }
            Event::AwsIdentity(a) => self.aws_identity = Some(a.arn.clone()),
            Event::SessionStarted(_)
            | Event::LockTakenOver(_)
            | Event::TornTailSetAside(_)
            | Event::CaseSealed(_)
            | Event::SealFailed { .. } => {}
            Event::RoleTaken(r) => {
                self.roles.insert(r.role.clone(), r.responder.clone());
            }
            Event::RoleHandedOver(r) => {
                self.roles.insert(r.role.clone(), r.to.clone());
            }
            Event::RoleOverridden(r) => {
                self.roles.insert(r.role.clone(), r.to.clone());
            }
            Event::EntryRejected(r) => self.rejected.push(r.clone()),
            Event::Started { first } => self.enter(Some(first)),
            Event::QuerySubmitted(q) => {
                for t in &q.not_collected {
                    self.not_collected
                        .entry(t.clone())
                        .or_insert_with(|| NotCollectedAt {
                            step: q.step.clone(),
                            found: NotCollected::NoTable,
                            reason: "the backend has no such table; the query read it as empty".to_owned(),
                        });
                }
                let s = self.entry(&q.step);
                s.status = StepStatus::Running;
                s.query_runs += 1;
                s.query = Some(QueryRun {
                    submitted: Some(seq),
                    sql: Some(q.sql.clone()),
                    backend: Some(q.backend.clone()),
                    ..QueryRun::default()
                });
            }
            Event::SourceNotCollected(n) => {
                let s = self.entry(&n.step);
                s.status = StepStatus::Done;
                s.last_error = None;
                let run = s.ending_run(seq);
                run.rows = Some(0);
                run.artifact.clone_from(&n.artifact);
                run.execution.clone_from(&n.execution);
                run.not_collected = Some(n.reason.clone());
                for t in &n.tables {
                    self.not_collected
                        .entry(t.clone())
                        .or_insert_with(|| NotCollectedAt {
                            step: n.step.clone(),
                            found: n.found,
                            reason: n.reason.clone(),
                        });
                }
                self.captures
                    .extend(n.captures.iter().map(|(k, v)| (k.clone(), v.clone())));
                self.enter(n.next.as_deref());
            }
            Event::QuerySucceeded(q) => {
                // The coverage check that found no events found some when run again (the
                // window widened, or delivery caught up). A missing table stays missing: the
                // rows came from the step's other tables.
                self.not_collected
                    .retain(|_, at| at.step != q.step || at.found == NotCollected::NoTable);
                let s = self.entry(&q.step);
                s.status = StepStatus::Done;
                s.last_error = None;
                let run = s.ending_run(seq);
                run.rows = Some(q.rows);
                run.artifact.clone_from(&q.artifact);
                run.execution.clone_from(&q.execution);
                self.captures
                    .extend(q.captures.iter().map(|(k, v)| (k.clone(), v.clone())));
                self.enter(q.next.as_deref());
            }
            Event::QueryFailed(q) => {
                let s = self.entry(&q.step);
                s.status = StepStatus::Failed;
                s.last_error = Some(q.error.clone());
                s.failed_at = Some(seq);
                let run = s.ending_run(seq);
                run.error = Some(q.error.clone());
                run.execution.clone_from(&q.execution);
                if !q.stay {
                    self.enter(q.next.as_deref());
                }
            }
            Event::QueryCancelled { step, reason } => {
                let s = self.entry(step);
                s.status = StepStatus::Failed;
                s.last_error = Some(format!("cancelled: {reason}"));
                s.failed_at = Some(seq);
                s.ending_run(seq).cancelled = Some(reason.clone());
            }
            Event::Decided(d) => {
                let s = self.entry(&d.step);
                s.status = StepStatus::Done;
                s.decided = Some(d.option.clone());
                s.rationale.clone_from(&d.rationale);
                self.enter(d.next.as_deref());
            }
            Event::ActionConfirmed(a) => {
                let s = self.entry(&a.step);
                s.confirmed = true;
                s.seen.clone_from(&a.seen);
                s.chosen.clone_from(&a.items);
            }
            Event::ActionNothingToDo { step, next, .. } => {
                let s = self.entry(step);
                s.status = StepStatus::Done;
                s.nothing_to_do = true;
                s.last_error = None;
                self.enter(next.as_deref());
            }
            Event::ActionStarted(a) => {
                let s = self.entry(&a.step);
                s.status = StepStatus::Running;
                let run = ActionRun {
                    started: seq,
                    intent: a.intent.clone(),
                    simulated: a.simulated,
                    before: a.before.clone(),
                    request: a.request.clone(),
                    finished: None,
                    outcome: None,
                    detail: None,
                    after: None,
                    in_place: None,
                    rollback: None,
                    undone: false,
                };
                match a.item {
                    Some(i) => {
                        s.items.insert(i, run);
                    }
                    None => s.action = Some(run),
                }
            }
            Event::ActionFinished(a) => {
                let s = self.entry(&a.step);
                if let Some(run) = s.run_mut(a.item) {
                    run.finished = Some(seq);
                    run.outcome = Some(a.outcome);
                    run.detail = Some(a.detail.clone());
                    run.after.clone_from(&a.after);
                    if a.outcome == Outcome::Succeeded {
                        run.in_place = Some(InPlace {
                            seq,
                            after: a.after.clone(),
                        });
                    }
                }
                if a.item.is_none() || !a.stay {
                    s.last_outcome = Some(a.outcome);
                }
                if a.outcome != Outcome::Succeeded {
                    s.failed_at = Some(seq);
                }
                match (a.item, a.outcome) {
                    (None, Outcome::Succeeded) => {
                        s.status = StepStatus::Done;
                        s.last_error = None;
                    }
                    (None, Outcome::Failed | Outcome::Unknown) | (Some(_), Outcome::Unknown) => {
                        s.status = StepStatus::Failed;
                        s.last_error = Some(a.detail.clone());
                    }
                    (Some(_), _) => {
                        // An item: the step goes on while items remain; once every chosen item
                        // is settled it is done, or failed naming the items that failed.
                        let failed: Vec<String> = s
                            .items
                            .iter()
                            .filter(|(i, r)| {
                                r.outcome == Some(Outcome::Failed)
                                    && s.chosen.as_ref().is_none_or(|c| c.items.contains(i))
                            })
                            .map(|(i, r)| format!("item {i}: {}", r.detail.as_deref().unwrap_or("failed")))
                            .collect();
                        if !s.items_settled() || (failed.is_empty() && a.stay) {
                            s.status = StepStatus::Current;
                        } else if failed.is_empty() {
                            s.status = StepStatus::Done;
                            s.last_error = None;
                        } else {
                            s.status = StepStatus::Failed;
                            s.last_error = Some(failed.join("; "));
                        }
                    }
                }
                if !a.stay {
                    self.enter(a.next.as_deref());
                }
            }
            Event::ActionConflict(c) => {
                let s = self.entry(&c.step);
                s.confirmed = false;
                s.chosen = None;
                s.status = StepStatus::Current;
            }
            Event::ActionVerified(v) => {
                let s = self.entry(&v.step);
                s.last_error = None;
                if let Some(run) = s.run_mut(v.item) {
                    run.detail = Some(v.detail.clone());
                    if v.after.is_some() {
                        run.after.clone_from(&v.after);
                    }
                    if v.in_place {
                        run.outcome = Some(Outcome::Succeeded);
                        run.in_place = Some(InPlace {
                            seq,
                            after: v.after.clone(),
                        });
                    } else if v.item.is_some() {
                        // Not in place: the item's call did not take; it may run again.
                        run.outcome = Some(Outcome::Failed);
                    }
                }
                if v.item.is_some() {
                    // An item verified: the step is settled when the verification moves on.
                    s.status = if v.stay {
                        StepStatus::Current
                    } else {
                        StepStatus::Done
                    };
                    if !v.stay {
                        s.last_outcome = Some(Outcome::Succeeded);
                    }
                } else if v.in_place {
                    s.status = StepStatus::Done;
                    s.last_outcome = Some(Outcome::Succeeded);
                } else {
                    s.status = StepStatus::Current;
                    s.last_outcome = None;
                    s.confirmed = false;
                }
                if !v.stay {
                    self.enter(v.next.as_deref());
                }
            }
            Event::RollbackStarted(r) => {
                let s = self.entry(&r.step);
                s.rollback_in_flight = true;
                if let Some(run) = s.run_mut(r.item) {
                    run.rollback = Some(RollbackRun {
                        started: seq,
                        operation: r.operation.clone(),
                        finished: None,
                        outcome: None,
                        detail: None,
                        simulated: r.simulated,
                    });
                }
            }
            Event::RollbackFinished(r) => {
                let s = self.entry(&r.step);
                s.rollback_in_flight = false;
                s.rolled_back = Some(r.outcome);
                if let Some(run) = s.run_mut(r.item) {
                    run.undone |= r.outcome == Outcome::Succeeded;
                    if let Some(rb) = &mut run.rollback {
                        rb.finished = Some(seq);
                        rb.outcome = Some(r.outcome);
                        rb.detail = Some(r.detail.clone());
                        rb.simulated = r.simulated;
                    }
                }
            }
            Event::ChecklistItemDone { step, item, .. } => {
                self.entry(step).checklist.insert(*item);
            }
            Event::StepCompleted { step, next } => {
                self.entry(step).status = StepStatus::Done;
                self.enter(next.as_deref());
            }
            Event::StepSkipped { step, reason, next } => {
                let s = self.entry(step);
                s.status = StepStatus::Skipped;
                s.skip_reason = Some(reason.clone());
                self.enter(next.as_deref());
            }
            Event::WentBack { from, to } => {
                if let Some(from) = from {
                    let s = self.entry(from);
                    if matches!(s.status, StepStatus::Current) {
                        s.status = StepStatus::Pending;
                    }
                }
                self.enter(Some(to));
            }
            Event::NoteAdded { step, text, .. } => {
                let visit = step.as_deref().map_or(0, |s| self.visits(s));
                self.notes.push(Note {
                    step: step.clone(),
                    visit,
                    text: text.clone(),
                });
            }
            Event::EvidenceAdded(e) => {
                let visit = e.step.as_deref().map_or(0, |s| self.visits(s));
                self.evidence.push(Evidence {
                    added: e.clone(),
                    visit,
                });
            }
            Event::Paused { reason } => self.paused = Some(reason.clone()),
            Event::Unpaused {} => self.paused = None,
            Event::CaseClosed { summary } => {
                self.closed = Some(summary.clone());
                self.paused = None;
            }
            Event::ExerciseSet(x) => self.exercise = Some(x.clone()),
            Event::InjectLanded(i) => self.injects.push(i.name.clone()),
        }
    }

    /// The step's last query run, if any.
    pub fn query_run(&self, id: &str) -> Option<&QueryRun> {
        self.steps.get(id)?.query.as_ref()
    }

    /// The step's last action run, if any.
    pub fn action_run(&self, id: &str) -> Option<&ActionRun> {
        self.steps.get(id)?.action.as_ref()
    }

    fn entry(&mut self, step: &str) -> &mut StepState {
        self.steps.entry(step.to_owned()).or_default()
    }

    /// Moves the case to `next` (a new visit) or to the end.
    fn enter(&mut self, next: Option<&str>) {
        match next {
            Some(id) => {
                let s = self.entry(id);
                s.visits += 1;
                s.status = StepStatus::Current;
                s.confirmed = false;
                s.checklist.clear();
                s.decided = None;
                s.skip_reason = None;
                s.last_error = None;
                s.last_outcome = None;
                self.path.push(id.to_owned());
                self.position = Position::At(id.to_owned());
            }
            None => self.position = Position::End,
        }
    }
}

/// Time on steps. A visit runs from the entry that enters a step to the entry that leaves it (a
/// pause included: the case stood on that step). Fed each entry's time after the state applied
/// it, it says which visit just ended.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VisitClock {
    open: Option<(String, DateTime<Utc>)>,
}

/// One visit of a step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Visit {
    pub step: String,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

impl VisitClock {
    /// After `state` applied the entry written at `at`: the visit it ended, if the case moved.
    pub fn observe(&mut self, state: &State, at: DateTime<Utc>) -> Option<Visit> {
        let now = state.current_step();
        if self.open.as_ref().map(|(s, _)| s.as_str()) == now {
            return None;
        }
        let ended = self.open.take().map(|(step, from)| Visit { step, from, to: at });
        self.open = now.map(|s| (s.to_owned(), at));
        ended
    }

    /// The visit under way: the step the case stands on, and since when.
    pub fn open(&self) -> Option<(&str, DateTime<Utc>)> {
        self.open.as_ref().map(|(s, t)| (s.as_str(), *t))
    }
}
