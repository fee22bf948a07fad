//! The headless driver: walks a case to its end with the answers file standing in for the
//! responder. Every step it takes goes through `Session::execute`, so a run killed at any point
//! resumes where its journal stops: what was recorded is never asked again, and what was not is
//! done next.

use std::sync::atomic::AtomicBool;

use super::actions::{self, Executor};
use super::answers::{Answers, SUGGESTED};
use super::{CaseError, Session};
use crate::engine::{self, ArtifactRef, Command, Event, Execution, Intent, Outcome, Position};
use crate::playbook::model::{ActionKind, StepKind};
use crate::playbook::raw::Confirm;

/// Runs playbook queries for a driver. The embedded engine and Athena implement it; tests may
/// use a double that replays stored results.
pub trait QueryRunner {
    /// The backend's name, recorded with each query.
    fn name(&self) -> &str;
    /// Runs `sql` for `step`. Rows go to the captures; the full result is stored as an artifact
    /// with `session.write_artifact` when the backend keeps one. `watch` hears the query's
    /// progress and stops it when its flag is set (the result is then an error).
    fn run(
        &mut self,
        session: &Session,
        step: &str,
        sql: &str,
        watch: Watch<'_>,
    ) -> Result<QueryResult, QueryFailure>;

    /// Files were added to the data the backend reads (a rehearsal's inject landed); the next
    /// query must see them.
    fn lake_changed(&mut self) {}
}

/// A driver's view of a query while it runs, and its way to stop it.
pub struct Watch<'a> {
    /// Set to stop the query; the backend checks it at least every 100 ms.
    pub cancel: &'a AtomicBool,
    /// Called as the query advances (not more than a few times a second).
    pub progress: &'a mut (dyn FnMut(&Progress) + Send),
}

impl std::fmt::Debug for Watch<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watch")
            .field("cancel", &self.cancel)
            .finish_non_exhaustive()
    }
}

/// Where a running query stands.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Progress {
    /// The backend's word for it (`RUNNING`, `QUEUED`, `FETCHING`…).
    pub state: String,
    /// Rows received so far.
    pub rows: u64,
    /// Bytes the backend has read so far, when it says.
    pub bytes_scanned: Option<u64>,
}

#[derive(Debug, Clone)]
pub struct QueryResult {
    pub rows: Vec<serde_json::Value>,
    pub row_count: u64,
    pub artifact: Option<ArtifactRef>,
    pub execution: Option<Execution>,
}

/// Why a query failed, and what the backend knows of its run.
#[derive(Debug, Clone)]
pub struct QueryFailure {
    pub error: String,
    pub execution: Option<Execution>,
}

impl From<String> for QueryFailure {
    fn from(error: String) -> Self {
        QueryFailure {
            error,
            execution: None,
        }
    }
}

/// Why a headless run stopped before the end. The case stays resumable in every case.
#[derive(Debug, thiserror::Error)]
pub enum Stop {
    #[error("step `{step}` needs an answer: {what}")]
    MissingAnswer { step: String, what: String },
    #[error("step `{step}` is a query and no query backend was given")]
    NoBackend { step: String },
    #[error("step `{step}` failed: {error}")]
    StepFailed { step: String, error: String },
    #[error(
        "step `{step}`: the resource changed since the action was confirmed, so the confirmation no longer holds:\n{difference}"
    )]
    Conflict { step: String, difference: String },
    #[error("step `{step}` has been entered {visits} times; the answers send the case round a loop")]
    Loop { step: String, visits: u32 },
    #[error(transparent)]
    Case(#[from] CaseError),
}

impl Stop {
    pub fn hints(&self) -> Vec<String> {
        match self {
            Stop::MissingAnswer { step, .. } => vec![format!(
                "add an answer for `{step}` to the answers file, then `irp resume CASE --headless --answers FILE`"
            )],
            Stop::NoBackend { step } => vec![format!(
                "answer `{step}` with `skip: <reason>` to go on without it, or run it where a query backend is available"
            )],
            Stop::StepFailed { step, .. } => vec![format!(
                "fix the cause and resume, or answer `{step}` with `skip: <reason>`"
            )],
            Stop::Conflict { .. } => vec![
                "someone else changed it: find out who, then resume to confirm again against the state as it is now".to_owned(),
            ],
            Stop::Case(e) => e.hints(),
            Stop::Loop { .. } => vec!["give the decision a list of choices, one per visit".to_owned()],
        }
    }

    /// 3 when the run waits for an answer; 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            Stop::MissingAnswer { .. } => 3,
            _ => 1,
        }
    }
}

/// A step the run has finished with, for the one-line-per-step output.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StepLine {
    pub seq: u64,
    pub step: Option<String>,
    pub kind: &'static str,
    pub outcome: String,
}

/// How a query the responder stopped is recorded (the start of `query_cancelled`'s reason).
/// A query cancelled this way is over on the backend, so running the step again is a new
/// attempt (Athena: a new request token); one cancelled because irp had stopped is not.
pub const CANCELLED: &str = "cancelled by the responder";

/// The most visits a step may get in one case before the run calls it a loop.
const MAX_VISITS: u32 = 1_000;

/// Drives the session until the case is closed or an answer is missing.
pub fn drive(
    session: &mut Session,
    answers: &Answers,
    backend: Option<&mut dyn QueryRunner>,
    executor: &mut Executor,
    report: &mut dyn FnMut(&StepLine),
) -> Result<(), Stop> {
    drive_with(session, answers, backend, executor, report, &mut |_, _| Ok(false))
}

/// Something that happens between moves, outside the playbook: a rehearsal's injects landing.
/// It says whether it changed the data the queries read.
pub type Between<'a> = dyn FnMut(&mut Session, &mut dyn FnMut(&StepLine)) -> Result<bool, Stop> + 'a;

/// [`drive`], calling `between` before every move.
pub fn drive_with(
    session: &mut Session,
    answers: &Answers,
    mut backend: Option<&mut dyn QueryRunner>,
    executor: &mut Executor,
    report: &mut dyn FnMut(&StepLine),
    between: &mut Between<'_>,
) -> Result<(), Stop> {
    // A query step that failed before this run (a throttled Athena, a wrong workgroup fixed
    // since) runs again; one that fails during this run stops it, so nothing loops.
    let first_seq = session.entries.len() as u64;
    loop {
        if session.state.closed.is_some() {
            return Ok(());
        }
        if between(session, report)?
            && let Some(b) = backend.as_deref_mut()
        {
            b.lake_changed();
        }
        if session.state.paused.is_some() {
            exec(session, &Command::Unpause, report)?;
            continue;
        }
        let step_id = match session.state.position.clone() {
            Position::NotStarted => {
                exec(session, &Command::Start, report)?;
                continue;
            }
            Position::End => {
                let summary = answers
                    .close
                    .clone()
                    .unwrap_or_else(|| "reached the end of the playbook".to_owned());
                exec(session, &Command::Close { summary }, report)?;
                continue;
            }
            Position::At(id) => id,
        };
        step(
            session,
            answers,
            &step_id,
            &mut backend,
            executor,
            first_seq,
            report,
        )?;
    }
}

/// Records one command and reports the line it finishes, if any.
pub(crate) fn exec(
    session: &mut Session,
    cmd: &Command,
    report: &mut dyn FnMut(&StepLine),
) -> Result<(), Stop> {
    let entry = session.execute(cmd)?;
    if let Some(line) = line_for(entry.seq, &entry.event) {
        report(&line);
    }
    Ok(())
}

/// One move on the current step (recording a note, confirming, deciding…); the loop calls again
/// until the step is left.
fn step(
    session: &mut Session,
    answers: &Answers,
    id: &str,
    backend: &mut Option<&mut dyn QueryRunner>,
    executor: &mut Executor,
    first_seq: u64,
    report: &mut dyn FnMut(&StepLine),
) -> Result<(), Stop> {
    let st = session.state.step(id).cloned().unwrap_or_default();
    if st.visits > MAX_VISITS {
        return Err(Stop::Loop {
            step: id.to_owned(),
            visits: st.visits,
        });
    }
    let answer = answers.steps.get(id);
    // Notes and evidence first, each once per visit (a resumed run skips those already recorded).
    if let Some(a) = answer {
        let done = session.state.notes_in(id, st.visits);
        if let Some(text) = a.notes.get(done) {
            return exec(session, &Command::AddNote { text: text.clone() }, report);
        }
        let done = session.state.evidence_in(id, st.visits);
        let evidence = super::answers::evidence_values(&a.evidence, &session.state.captures);
        if let Some((observable, value, note)) = evidence.into_iter().nth(done) {
            return exec(
                session,
                &Command::AddEvidence {
                    observable,
                    value,
                    note,
                },
                report,
            );
        }
    }
    if settle_leftover(session, id, report)? {
        return Ok(());
    }
    if st.last_outcome == Some(Outcome::Unknown) {
        let intent = session.entries.iter().rev().find_map(|e| match &e.event {
            Event::ActionStarted(a) if a.step == id => Some(a.intent.clone()),
            _ => None,
        });
        if let Some(intent) = intent {
            let unknown = answer
                .and_then(|a| a.unknown.as_deref())
                .and_then(actions::UnknownAnswer::parse);
            return actions::settle_unknown(session, executor, id, &intent, unknown, report);
        }
    }
    let failed = matches!(st.status, engine::StepStatus::Failed);
    if let Some(reason) = answer.and_then(|a| a.skip.clone()) {
        let cmd = Command::Skip {
            step: id.to_owned(),
            reason,
        };
        return exec(session, &cmd, report);
    }
    let failed_before = || {
        session.entries.iter().rev().find_map(|e| match &e.event {
            Event::QueryFailed(q) if q.step == id => Some(e.seq < first_seq),
            Event::ActionFinished(a) if a.step == id => Some(e.seq < first_seq),
            _ => None,
        })
    };
    let is_action = matches!(
        session.playbook.step(id).map(|s| &s.kind),
        Some(StepKind::Action(_))
    );
    if failed && !((backend.is_some() || is_action) && failed_before() == Some(true)) {
        return Err(Stop::StepFailed {
            step: id.to_owned(),
            error: st.last_error.unwrap_or_default(),
        });
    }
    let index = session
        .playbook
        .step_index(id)
        .ok_or_else(|| Stop::Case(CaseError::Engine(engine::EngineError::UnknownStep(id.to_owned()))))?;
    let kind = session.playbook.steps[index].kind.clone();
    match kind {
        StepKind::Note(_) => exec(session, &Command::Complete { step: id.to_owned() }, report),
        StepKind::Decision(_) => {
            let missing = || Stop::MissingAnswer {
                step: id.to_owned(),
                what: "which option to choose (`choose:`)".to_owned(),
            };
            let a = answer.ok_or_else(missing)?;
            let choice = a
                .choose
                .as_ref()
                .and_then(|c| c.for_visit(st.visits))
                .ok_or_else(missing)?;
            let option = if choice == SUGGESTED {
                let env = session.env();
                engine::suggestion(&session.playbook, &session.state, index, &env)
                    .ok()
                    .flatten()
                    .ok_or_else(|| Stop::MissingAnswer {
                        step: id.to_owned(),
                        what:
                            "the playbook suggests no option here, so `choose: suggested` has nothing to take"
                                .to_owned(),
                    })?
            } else {
                choice.to_owned()
            };
            let cmd = Command::Decide {
                step: id.to_owned(),
                option,
                rationale: a.rationale.clone(),
            };
            exec(session, &cmd, report)
        }
        StepKind::Query(_) => {
            let Some(backend) = backend.as_deref_mut() else {
                return Err(Stop::NoBackend { step: id.to_owned() });
            };
            let never = AtomicBool::new(false);
            let watch = Watch {
                cancel: &never,
                progress: &mut |_| {},
            };
            query_step(session, backend, id, watch, &mut |_| {}, report)
        }
        StepKind::Action(action) => {
            // Render first: an action whose values are missing must not be confirmed or run.
            let env = session.env();
            let intent = engine::render_intent(&session.playbook, &session.state, index, &env).map_err(|message| {
                Stop::StepFailed {
                    step: id.to_owned(),
                    error: format!(
                        "the action cannot be rendered: {message}; a value it reads has none (was the query that captures it skipped or failed?)"
                    ),
                }
            })?;
            // A confirmation may be written as a template over the case's values (what the
            // screen would show), so one answers file serves every seed of a scenario.
            let typed: Option<String> = match answer.and_then(|a| a.confirm.as_deref()) {
                Some(c) if c.contains("{{") => {
                    let ctx = engine::template_context(&session.playbook, &session.state, index, &env);
                    Some(
                        crate::playbook::template::render_text(c, &ctx).map_err(|e| Stop::StepFailed {
                            step: id.to_owned(),
                            error: format!("the answers' `confirm` cannot be rendered: {}", e.message),
                        })?,
                    )
                }
                other => other.map(str::to_owned),
            };
            let typed = typed.as_deref();
            let ActionKind::Manual { items } = &action.kind else {
                let timeout = session.playbook.steps[index].timeout;
                let step = actions::ActionStep {
                    id,
                    intent: &intent,
                    confirm: action.confirm,
                    typed,
                    timeout,
                };
                return actions::advance(session, executor, step, report);
            };
            if action.confirm != Confirm::None && !st.confirmed {
                let typed = typed.ok_or_else(|| Stop::MissingAnswer {
                    step: id.to_owned(),
                    what: match action.confirm {
                        Confirm::Typed => format!(
                            "a typed confirmation (`confirm: {}`)",
                            intent.confirmation_word(id)
                        ),
                        _ => "a confirmation (`confirm: yes`)".to_owned(),
                    },
                })?;
                let cmd = Command::ConfirmAction {
                    step: id.to_owned(),
                    typed: Some(typed.to_owned()),
                    seen: None,
                };
                return exec(session, &cmd, report);
            }
            if answer.and_then(|a| a.done) != Some(true) {
                return Err(Stop::MissingAnswer {
                    step: id.to_owned(),
                    what: "whether the checklist was done (`done: true`)".to_owned(),
                });
            }
            match (0..items.len()).find(|i| !st.checklist.contains(i)) {
                Some(item) => exec(
                    session,
                    &Command::CheckItem {
                        step: id.to_owned(),
                        item,
                    },
                    report,
                ),
                None => exec(session, &Command::Complete { step: id.to_owned() }, report),
            }
        }
    }
}

/// Runs query step `id`: renders its SQL with the case's values, journals the submission (then
/// calls `submitted`), runs it on `backend` under `watch`, and journals how it ended: the result,
/// the failure, or, when `watch`'s flag stopped it, the cancellation.
pub fn query_step(
    session: &mut Session,
    backend: &mut dyn QueryRunner,
    id: &str,
    watch: Watch<'_>,
    submitted: &mut dyn FnMut(&Session),
    report: &mut dyn FnMut(&StepLine),
) -> Result<(), Stop> {
    let failed = |error: String| Stop::StepFailed {
        step: id.to_owned(),
        error,
    };
    let index = session
        .playbook
        .step_index(id)
        .ok_or_else(|| Stop::Case(CaseError::Engine(engine::EngineError::UnknownStep(id.to_owned()))))?;
    let StepKind::Query(q) = &session.playbook.steps[index].kind else {
        return Err(failed("this step is not a query".to_owned()));
    };
    let env = session.env();
    let ctx = engine::template_context(&session.playbook, &session.state, index, &env);
    let sql = crate::playbook::template::render_sql(&q.sql, &ctx)
        .map_err(|e| failed(format!("the SQL cannot be rendered: {}", e.message)))?;
    let submit = Command::SubmitQuery {
        step: id.to_owned(),
        sql: sql.clone(),
        backend: backend.name().to_owned(),
    };
    exec(session, &submit, report)?;
    submitted(session);
    let started = std::time::Instant::now();
    let cancel = watch.cancel;
    let cmd = match backend.run(session, id, &sql, watch) {
        Ok(r) => Command::QuerySucceeded {
            step: id.to_owned(),
            rows: r.rows,
            row_count: r.row_count,
            artifact: r.artifact,
            execution: r.execution,
        },
        Err(_) if cancel.load(std::sync::atomic::Ordering::Relaxed) => Command::CancelQuery {
            step: id.to_owned(),
            reason: format!("{CANCELLED} after {:.1} s", started.elapsed().as_secs_f64()),
        },
        Err(f) => Command::QueryFailed {
            step: id.to_owned(),
            error: f.error,
            artifact: None,
            execution: f.execution,
        },
    };
    exec(session, &cmd, report)
}

/// Settles what a process that died left in flight on step `id`, before anything else happens
/// there: a query is recorded as cancelled (so it can run again; on Athena the same request token
/// gets the same query back), an action's intent gets its result (simulated in a rehearsal;
/// unknown in a live case, for the responder to verify). Says whether it recorded anything.
pub fn settle_leftover(
    session: &mut Session,
    id: &str,
    report: &mut dyn FnMut(&StepLine),
) -> Result<bool, Stop> {
    let st = session.state.step(id).cloned().unwrap_or_default();
    if st.running_query.is_some() {
        let cmd = Command::CancelQuery {
            step: id.to_owned(),
            reason: "irp stopped while the query ran; running it again".to_owned(),
        };
        exec(session, &cmd, report)?;
        return Ok(true);
    }
    if let Some(intent) = st.action_in_flight {
        settle_in_flight(session, id, &intent, report)?;
        return Ok(true);
    }
    Ok(false)
}

/// Finishes an action whose intent is recorded. In a rehearsal nothing outside irp runs, so the
/// simulated result can always be recorded (again, after a crash). A live action whose outcome
/// is not known is recorded as such for the responder to verify.
fn settle_in_flight(
    session: &mut Session,
    id: &str,
    intent: &Intent,
    report: &mut dyn FnMut(&StepLine),
) -> Result<(), Stop> {
    let live = session.state.is_live();
    let (outcome, detail) = if live {
        (
            Outcome::Unknown,
            "irp stopped between recording the intent and the result; check whether the change was made"
                .to_owned(),
        )
    } else {
        let params = actions::params_of(id, intent)?;
        let now = session.now_text();
        (
            Outcome::Succeeded,
            actions::simulated_detail(intent, params.as_ref(), &now, id),
        )
    };
    exec(session, &actions::finish(id, outcome, detail), report)
}

/// What a rehearsal records instead of calling: the exact call, in words.
pub fn simulated_detail(intent: &Intent) -> String {
    match intent {
        Intent::Aws { api, target, .. } => format!(
            "simulated: would call {api}{}",
            target.as_deref().map(|t| format!(" on {t}")).unwrap_or_default()
        ),
        Intent::Command { argv } => format!(
            "simulated: would run {}",
            serde_json::to_string(argv).unwrap_or_default()
        ),
        Intent::Manual { .. } => "checklist".to_owned(),
    }
}

/// The output line for an entry that finishes a step (or the case), if it does.
pub fn line_for(seq: u64, event: &Event) -> Option<StepLine> {
    let (step, kind, outcome) = match event {
        Event::Decided(d) => (
            Some(d.step.clone()),
            "decision",
            format!(
                "chose `{}`{}",
                d.option,
                match &d.suggested {
                    Some(s) if *s == d.option => " (suggested)".to_owned(),
                    Some(s) => format!(" (suggested: `{s}`)"),
                    None => String::new(),
                }
            ),
        ),
        Event::QuerySucceeded(q) => (Some(q.step.clone()), "query", format!("{} rows", q.rows)),
        Event::QueryFailed(q) => (Some(q.step.clone()), "query", format!("failed: {}", q.error)),
        Event::ActionFinished(a) => (
            Some(a.step.clone()),
            "action",
            match a.outcome {
                Outcome::Succeeded => a.detail.clone(),
                Outcome::Failed => format!("failed: {}", a.detail),
                Outcome::Unknown => format!("outcome unknown: {}", a.detail),
            },
        ),
        Event::ActionConflict(c) => (
            Some(c.step.clone()),
            "action",
            "the resource changed since the confirmation; confirm again".to_owned(),
        ),
        Event::ActionVerified(v) => (
            Some(v.step.clone()),
            "action",
            format!(
                "{}: {}",
                if v.in_place { "verified" } else { "not in place" },
                v.detail
            ),
        ),
        Event::AwsIdentity(i) => (
            None,
            "aws",
            format!(
                "acting as {} (account {}) in {}{}",
                i.arn,
                i.account,
                i.region,
                i.endpoint
                    .as_deref()
                    .map(|e| format!(" at {e}"))
                    .unwrap_or_default()
            ),
        ),
        Event::RollbackFinished(r) => (
            Some(r.step.clone()),
            "rollback",
            match r.outcome {
                Outcome::Succeeded => r.detail.clone(),
                Outcome::Failed => format!("failed: {}", r.detail),
                Outcome::Unknown => format!("outcome unknown: {}", r.detail),
            },
        ),
        Event::StepCompleted { step, .. } => (Some(step.clone()), "step", "done".to_owned()),
        Event::StepSkipped { step, reason, .. } => (Some(step.clone()), "step", format!("skipped: {reason}")),
        Event::CaseClosed { summary } => (None, "case", format!("closed: {summary}")),
        Event::InjectLanded(i) => (None, "inject", format!("landed: {}", i.title)),
        _ => return None,
    };
    Some(StepLine {
        seq,
        step,
        kind,
        outcome,
    })
}

/// An entry in words, for the journal lines.
pub fn describe(event: &Event) -> String {
    if let Some(line) = line_for(0, event) {
        return match line.step {
            Some(s) => format!("{} {s}: {}", line.kind, line.outcome),
            None => format!("{}: {}", line.kind, line.outcome),
        };
    }
    match event {
        Event::CaseOpened(o) => format!(
            "case opened: {} {} ({})",
            o.playbook.id,
            o.playbook.version,
            o.mode.as_str()
        ),
        Event::SessionStarted(s) => format!("session started: irp {} {}", s.irp, s.command),
        Event::Started { first } => format!("started at {first}"),
        Event::QuerySubmitted(q) => format!("query {}: submitted to {}", q.step, q.backend),
        Event::QueryCancelled { step, reason } => format!("query {step}: {reason}"),
        Event::ActionConfirmed(a) => format!("action {}: confirmed", a.step),
        Event::ActionStarted(a) => format!(
            "action {}: {}started",
            a.step,
            if a.simulated { "simulated, " } else { "" }
        ),
        Event::ChecklistItemDone { step, text, .. } => format!("checklist {step}: ticked {text}"),
        Event::WentBack { to, .. } => format!("went back to {to}"),
        Event::NoteAdded { text, .. } => format!("note: {}", text.lines().next().unwrap_or("")),
        Event::EvidenceAdded(e) => format!("evidence {}: {}", e.observable.as_str(), e.value),
        Event::Paused { reason } => format!("paused: {reason}"),
        Event::Unpaused {} => "carried on".to_owned(),
        Event::ExerciseSet(x) => format!("exercise: {} (seed {})", x.title, x.seed),
        other => other.kind().replace('_', " "),
    }
}
