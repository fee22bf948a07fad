//! The moves every driver makes on a case: record a command and report the line it finishes, run
//! a query step on a backend, settle what a killed process left in flight. The headless driver,
//! the UI's worker and rollback share them, and stop on one error type, [`MoveError`].

use super::actions;
use super::backend::{CANCELLED, QueryRunner, Watch};
use super::{CaseError, Session};
use crate::engine::{self, Command, Event, Intent, Outcome, StepLine, line_for};
use crate::playbook::model::StepKind;
use crate::playbook::table::LogicalTable;

/// Why a move on a case could not be made. Every driver (headless, the UI's worker, rollback)
/// stops on it; the case stays resumable in every case.
#[derive(Debug, thiserror::Error)]
pub enum MoveError {
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

impl MoveError {
    pub fn hints(&self) -> Vec<String> {
        match self {
            MoveError::MissingAnswer { step, .. } => vec![format!(
                "add an answer for `{step}` to the answers file, then `irp resume CASE --headless --answers FILE`"
            )],
            MoveError::NoBackend { step } => vec![format!(
                "answer `{step}` with `skip: <reason>` to go on without it, or run it where a query backend is available"
            )],
            MoveError::StepFailed { step, .. } => vec![format!(
                "fix the cause and resume, or answer `{step}` with `skip: <reason>`"
            )],
            MoveError::Conflict { .. } => vec![
                "someone else changed it: find out who, then resume to confirm again against the state as it is now".to_owned(),
            ],
            MoveError::Case(e) => e.hints(),
            MoveError::Loop { .. } => vec!["give the decision a list of choices, one per visit".to_owned()],
        }
    }
}

/// Records one command and reports the line it finishes, if any.
pub(crate) fn exec(
    session: &mut Session,
    cmd: &Command,
    report: &mut dyn FnMut(&StepLine),
) -> Result<(), MoveError> {
    let entry = session.execute(cmd)?;
    if let Some(line) = line_for(entry.seq, &entry.event) {
        report(&line);
    }
    Ok(())
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
) -> Result<(), MoveError> {
    let failed = |error: String| MoveError::StepFailed {
        step: id.to_owned(),
        error,
    };
    let index = session
        .playbook
        .step_index(id)
        .ok_or_else(|| MoveError::Case(CaseError::Engine(engine::EngineError::UnknownStep(id.to_owned()))))?;
    let StepKind::Query(q) = &session.playbook.steps[index].kind else {
        return Err(failed("this step is not a query".to_owned()));
    };
    // A source the backend has no table for is not collected. The primary table missing, the
    // step has nothing to read; another table missing, the query reads it as empty.
    let naming = session.naming().clone();
    let database = naming.database();
    let physical = |t: LogicalTable| t.table_name(&naming.region, naming.source_version);
    let no_table = |backend: &dyn QueryRunner, tables: &[LogicalTable], said: bool| {
        format!(
            "the {} backend {} table {} in {database}: the source is not enabled (Security Lake creates a source's table when it is)",
            backend.name(),
            if said { "says there is no" } else { "has no" },
            tables.iter().map(|t| physical(*t)).collect::<Vec<_>>().join(", ")
        )
    };
    let mut absent: Vec<LogicalTable> = q
        .tables
        .iter()
        .copied()
        .filter(|t| backend.has_table(&database, &physical(*t)) == Some(false))
        .collect();
    let primary = q.table;
    let tables = q.tables.clone();
    let template = q.sql.clone();
    let Watch { cancel, progress } = watch;
    // Each round either ends the step or finds one more table missing (Athena), so there are at
    // most as many rounds as tables.
    loop {
        if absent.contains(&primary) {
            let cmd = Command::SourceNotCollected {
                step: id.to_owned(),
                tables: absent.iter().map(|t| t.as_str().to_owned()).collect(),
                reason: no_table(&*backend, &absent, false),
                execution: None,
            };
            return exec(session, &cmd, report);
        }
        let mut env = session.env();
        env.naming.absent.clone_from(&absent);
        let ctx = engine::template_context(&session.playbook, &session.state, index, &env);
        let sql = crate::playbook::template::render_sql(&template, &ctx)
            .map_err(|e| failed(format!("the SQL cannot be rendered: {}", e.message)))?;
        // The step reads only the tables it declares, whatever its template rendered.
        let reach = crate::playbook::read_only::Reach::tables(
            tables.iter().map(|t| (database.clone(), physical(*t))),
        );
        crate::playbook::read_only::check_reach(&sql, &reach).map_err(|e| failed(e.to_string()))?;
        let submit = Command::SubmitQuery {
            step: id.to_owned(),
            sql: sql.clone(),
            backend: backend.name().to_owned(),
            not_collected: absent.iter().map(|t| t.as_str().to_owned()).collect(),
        };
        exec(session, &submit, report)?;
        submitted(session);
        let started = std::time::Instant::now();
        let watch = Watch {
            cancel,
            progress: &mut *progress,
        };
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
            Err(f) => match f
                .missing_table
                .as_deref()
                .and_then(|m| tables.iter().find(|t| physical(**t) == m && !absent.contains(t)))
            {
                // Athena: the table does not exist. Its database does (a wrong database or
                // region is a `SCHEMA_NOT_FOUND`, a failure the responder fixes).
                Some(t) if *t == primary => Command::SourceNotCollected {
                    step: id.to_owned(),
                    tables: std::iter::once(t)
                        .chain(&absent)
                        .map(|t| t.as_str().to_owned())
                        .collect(),
                    reason: no_table(&*backend, &[*t], true),
                    execution: f.execution.map(|x| *x),
                },
                Some(t) => {
                    // Another table: the query runs again, reading it as empty.
                    absent.push(*t);
                    let cmd = Command::CancelQuery {
                        step: id.to_owned(),
                        reason: format!(
                            "{}; running the query again with it read as empty",
                            no_table(&*backend, &[*t], true)
                        ),
                    };
                    exec(session, &cmd, report)?;
                    continue;
                }
                None => Command::QueryFailed {
                    step: id.to_owned(),
                    error: f.error,
                    artifact: None,
                    execution: f.execution.map(|x| *x),
                },
            },
        };
        return exec(session, &cmd, report);
    }
}

/// Settles what a process that died left in flight on step `id`, before anything else happens
/// there: a query is recorded as cancelled (so it can run again; on Athena the same request token
/// gets the same query back), an action's intent gets its result (simulated in a rehearsal;
/// unknown in a live case, for the responder to verify). Says whether it recorded anything.
pub fn settle_leftover(
    session: &mut Session,
    id: &str,
    report: &mut dyn FnMut(&StepLine),
) -> Result<bool, MoveError> {
    // In a team's case, a move another responder has in flight is theirs to finish: they may
    // be at it now. Their irp settles it when it comes back.
    if session.shared_url().is_some()
        && session
            .entries
            .iter()
            .rev()
            .find(|e| {
                e.event.step() == Some(id)
                    && matches!(e.event, Event::QuerySubmitted(_) | Event::ActionStarted(_))
            })
            .is_some_and(|e| e.actor != session.actor())
    {
        return Ok(false);
    }
    let st = session.state.step(id);
    let running = st.is_some_and(|s| s.running_query().is_some());
    let in_flight = st.and_then(|s| s.action_in_flight().cloned().map(|i| (i, s.item_in_flight())));
    if running {
        let cmd = Command::CancelQuery {
            step: id.to_owned(),
            reason: "irp stopped while the query ran; running it again".to_owned(),
        };
        exec(session, &cmd, report)?;
        return Ok(true);
    }
    if let Some((intent, item)) = in_flight {
        settle_in_flight(session, actions::Target { id, item }, &intent, report)?;
        return Ok(true);
    }
    Ok(false)
}

/// Finishes an action whose intent is recorded. In a rehearsal nothing outside irp runs, so the
/// simulated result can always be recorded (again, after a crash). A live action whose outcome
/// is not known is recorded as such for the responder to verify.
fn settle_in_flight(
    session: &mut Session,
    t: actions::Target<'_>,
    intent: &Intent,
    report: &mut dyn FnMut(&StepLine),
) -> Result<(), MoveError> {
    let id = t.id;
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
    exec(session, &actions::finish_for(t, outcome, detail), report)
}
