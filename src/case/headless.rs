//! The headless driver: walks a case to its end with the answers file standing in for the
//! responder. Every step it takes goes through `Session::execute`, so a run killed at any point
//! resumes where its journal stops: what was recorded is never asked again, and what was not is
//! done next.

use std::sync::atomic::AtomicBool;

use super::actions::{self, Executor};
use super::answers::{Answers, SUGGESTED};
use super::backend::{QueryRunner, Watch};
use super::moves::{MoveError, exec, query_step, settle_leftover};
use super::{CaseError, Session};
use crate::engine::{self, Command, Outcome, Position, StepLine};
use crate::playbook::model::StepKind;
use crate::playbook::raw::Confirm;

/// The most visits a step may get in one case before the run calls it a loop.
const MAX_VISITS: u32 = 1_000;

/// Drives the session until the case is closed or an answer is missing.
pub fn drive(
    session: &mut Session,
    answers: &Answers,
    backend: Option<&mut dyn QueryRunner>,
    executor: &mut Executor,
    report: &mut dyn FnMut(&StepLine),
) -> Result<(), MoveError> {
    drive_with(session, answers, backend, executor, report, &mut |_, _| Ok(false))
}

/// Something that happens between moves, outside the playbook: a rehearsal's injects landing.
/// It says whether it changed the data the queries read.
pub type Between<'a> = dyn FnMut(&mut Session, &mut dyn FnMut(&StepLine)) -> Result<bool, MoveError> + 'a;

/// [`drive`], calling `between` before every move.
pub fn drive_with(
    session: &mut Session,
    answers: &Answers,
    mut backend: Option<&mut dyn QueryRunner>,
    executor: &mut Executor,
    report: &mut dyn FnMut(&StepLine),
    between: &mut Between<'_>,
) -> Result<(), MoveError> {
    // What a killed process left in flight is settled first, as part of what came before.
    if let Some(id) = session.state.current_step().map(str::to_owned) {
        settle_leftover(session, &id, report)?;
    }
    // A query step that failed before this run (a throttled Athena, a wrong workgroup fixed
    // since, a query cut short by a kill) runs again; one that fails during this run stops it,
    // so nothing loops.
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
) -> Result<(), MoveError> {
    let st = session.state.step(id).cloned().unwrap_or_default();
    if st.visits > MAX_VISITS {
        return Err(MoveError::Loop {
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
    let is_for_each = matches!(
        session.playbook.step(id).map(|s| &s.kind),
        Some(StepKind::Action(a)) if a.runs_per_item()
    );
    if is_for_each {
        let unknown = answer
            .and_then(|a| a.unknown.as_deref())
            .and_then(actions::UnknownAnswer::parse);
        if super::items::settle_unknown_item(session, executor, id, unknown, report)? {
            return Ok(());
        }
    }
    if st.last_outcome == Some(Outcome::Unknown)
        && let Some(run) = &st.action
    {
        let unknown = answer
            .and_then(|a| a.unknown.as_deref())
            .and_then(actions::UnknownAnswer::parse);
        return actions::settle_unknown(
            session,
            executor,
            actions::Target::step(id),
            &run.intent,
            unknown,
            report,
        );
    }
    let failed = matches!(st.status, engine::StepStatus::Failed);
    if let Some(reason) = answer.and_then(|a| a.skip.clone()) {
        let cmd = Command::Skip {
            step: id.to_owned(),
            reason,
        };
        return exec(session, &cmd, report);
    }
    // Whether the step's last failure was recorded before this run started.
    let failed_before = st.failed_at.map(|seq| seq < first_seq);
    let is_action = matches!(
        session.playbook.step(id).map(|s| &s.kind),
        Some(StepKind::Action(_))
    );
    if failed && !((backend.is_some() || is_action) && failed_before == Some(true)) {
        return Err(MoveError::StepFailed {
            step: id.to_owned(),
            error: st.last_error.unwrap_or_default(),
        });
    }
    let index = session
        .playbook
        .step_index(id)
        .ok_or_else(|| MoveError::Case(CaseError::Engine(engine::EngineError::UnknownStep(id.to_owned()))))?;
    let kind = session.playbook.steps[index].kind.clone();
    match kind {
        StepKind::Note(_) => exec(session, &Command::Complete { step: id.to_owned() }, report),
        StepKind::Decision(_) => {
            let missing = || MoveError::MissingAnswer {
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
                    .ok_or_else(|| MoveError::MissingAnswer {
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
                return Err(MoveError::NoBackend { step: id.to_owned() });
            };
            let never = AtomicBool::new(false);
            let watch = Watch {
                cancel: &never,
                progress: &mut |_| {},
            };
            query_step(session, backend, id, watch, &mut |_| {}, report)
        }
        StepKind::Action(action) if action.runs_per_item() => {
            let typed = typed_answer(session, id, index, answer)?;
            let choice = answer
                .map(super::answers::StepAnswer::item_choice)
                .unwrap_or_default();
            let step = super::items::ItemsStep {
                id,
                index,
                action: &action,
                typed: typed.as_deref(),
                choice: &choice,
                timeout: session.playbook.steps[index].timeout,
            };
            super::items::advance(session, executor, step, report)
        }
        StepKind::Action(action) => {
            // Render first: an action whose values are missing must not be confirmed or run.
            let env = session.env();
            let intent = engine::render_intent(&session.playbook, &session.state, index, &env).map_err(|message| {
                MoveError::StepFailed {
                    step: id.to_owned(),
                    error: format!(
                        "the action cannot be rendered: {message}; a value it reads has none (was the query that captures it skipped or failed?)"
                    ),
                }
            })?;
            let typed = typed_answer(session, id, index, answer)?;
            let typed = typed.as_deref();
            let engine::Intent::Manual { items } = &intent else {
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
                let typed = typed.ok_or_else(|| MoveError::MissingAnswer {
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
                    items: None,
                };
                return exec(session, &cmd, report);
            }
            if answer.and_then(|a| a.done) != Some(true) {
                return Err(MoveError::MissingAnswer {
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

/// The answers' confirmation of an action step. It may be written as a template over the
/// case's values (what the screen would show), so one answers file serves every seed of a
/// scenario.
fn typed_answer(
    session: &Session,
    id: &str,
    index: usize,
    answer: Option<&super::answers::StepAnswer>,
) -> Result<Option<String>, MoveError> {
    match answer.and_then(|a| a.confirm.as_deref()) {
        Some(c) if c.contains("{{") => {
            let ctx = engine::template_context(&session.playbook, &session.state, index, &session.env());
            crate::playbook::template::render_text(c, &ctx)
                .map(Some)
                .map_err(|e| MoveError::StepFailed {
                    step: id.to_owned(),
                    error: format!("the answers' `confirm` cannot be rendered: {}", e.message),
                })
        }
        other => Ok(other.map(str::to_owned)),
    }
}
