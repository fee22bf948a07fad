//! The engine: a pure state machine over a validated playbook. No I/O, no clock, no async.
//!
//! `decide(&Playbook, &State, &Command, &Env) -> Result<Event, EngineError>` judges a command
//! against the state and yields the one event that records it; `State::apply(&Event)` is the only
//! way state changes. A driver (the headless runner, the UI, a test) appends the event to the
//! journal and only then applies it, so folding the journal rebuilds exactly the state the
//! responder last saw. An illegal command yields an error and changes nothing.

mod context;
pub mod describe;
pub mod event;
pub mod items;
pub mod state;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

pub use context::{
    RenderError, SuggestionReason, checklist, evaluate_captures, explain_suggestions, item_list,
    render_intent, render_item_intent, render_item_intents, suggestion, suggestion_of, template_context,
};
pub use describe::{StepLine, describe, line_for, simulated_detail};
pub use event::*;
pub use state::{
    ActionRun, InPlace, NotCollectedAt, Position, QueryRun, RollbackRun, State, StepState, StepStatus, Visit,
    VisitClock,
};

use crate::playbook::model::{ActionKind, FailurePolicy, Next, Playbook, StepKind};
use crate::playbook::raw::Confirm;

/// The items of a `for_each` step a confirmation covers.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ItemChoice {
    /// The items to act on, by index; empty with `left_out` empty means every item.
    pub chosen: Vec<usize>,
    /// Items left out, each with the responder's reason.
    pub left_out: Vec<LeftOut>,
}

/// What a driver asks of the engine. Step commands name the step they are meant for, so a command
/// issued for a step the case has since left is refused rather than applied to the wrong step.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Open(CaseOpened),
    /// Begin at the playbook's first step.
    Start,
    SubmitQuery {
        step: String,
        sql: String,
        backend: String,
        /// Tables of the step the backend has no table for, read as empty relations.
        not_collected: Vec<String>,
    },
    /// The query's result: `rows` (as JSON objects) feed the captures; `row_count` may be larger
    /// than `rows.len()` when the backend kept only a prefix in memory.
    QuerySucceeded {
        step: String,
        rows: Vec<serde_json::Value>,
        row_count: u64,
        artifact: Option<ArtifactRef>,
        /// What the backend reports of the query's run (Athena: its id, bytes, timings).
        execution: Option<Execution>,
    },
    QueryFailed {
        step: String,
        error: String,
        artifact: Option<ArtifactRef>,
        execution: Option<Execution>,
    },
    CancelQuery {
        step: String,
        reason: String,
    },
    /// The backend has no table for some of the step's sources (`tables`, logical names): the
    /// query did not run, or Athena answered that the table does not exist.
    SourceNotCollected {
        step: String,
        tables: Vec<String>,
        reason: String,
        execution: Option<Execution>,
    },
    /// Choose a decision option by id (or by its label).
    Decide {
        step: String,
        option: String,
        rationale: Option<String>,
    },
    /// Confirm an action: `typed` is what the responder typed for `confirm: typed`.
    ConfirmAction {
        step: String,
        typed: Option<String>,
        /// The state of the resource shown with the confirmation (live AWS actions).
        seen: Option<ArtifactRef>,
        /// For a `for_each` step: the items chosen and those left out (`None`: every item).
        items: Option<ItemChoice>,
    },
    /// A `for_each` step whose list is empty: record that there is nothing to act on.
    NothingToDo {
        step: String,
    },
    /// Record the intent of an action; a driver runs the action only once this is durable.
    StartAction {
        step: String,
        /// The item of a `for_each` step.
        item: Option<usize>,
        intent: Intent,
        simulated: bool,
        before: Option<ArtifactRef>,
        request: Option<ArtifactRef>,
    },
    FinishAction {
        step: String,
        /// The item of a `for_each` step.
        item: Option<usize>,
        outcome: Outcome,
        detail: String,
        after: Option<ArtifactRef>,
        request_ids: Vec<String>,
        verification: Option<String>,
        outputs: Vec<ArtifactRef>,
    },
    /// The resource is not as it was when the action was confirmed: void the confirmation.
    Conflict {
        step: String,
        /// The item of a `for_each` step.
        item: Option<usize>,
        seen: Option<ArtifactRef>,
        now: ArtifactRef,
        difference: String,
    },
    /// Settle an action whose outcome is unknown.
    VerifyAction {
        step: String,
        /// The item of a `for_each` step.
        item: Option<usize>,
        method: String,
        in_place: bool,
        detail: String,
        after: Option<ArtifactRef>,
    },
    /// Record the intent of a rollback (confirmed) before it runs. Allowed on a closed case:
    /// recovery often comes after the case is closed.
    StartRollback(RollbackStarted),
    FinishRollback {
        step: String,
        /// The item of a `for_each` step.
        item: Option<usize>,
        outcome: Outcome,
        detail: String,
        after: Option<ArtifactRef>,
        request_ids: Vec<String>,
    },
    CheckItem {
        step: String,
        item: usize,
    },
    /// Mark a note step (or a fully ticked checklist) done.
    Complete {
        step: String,
    },
    Skip {
        step: String,
        reason: String,
    },
    /// Go back to a step entered earlier (to look again or re-run it).
    GoBack {
        to: String,
    },
    AddNote {
        text: String,
    },
    AddEvidence {
        observable: Observable,
        value: String,
        note: Option<String>,
    },
    Pause {
        reason: String,
    },
    Unpause,
    Close {
        summary: String,
    },
    /// Record a rehearsal's exercise (once, before the first step).
    SetExercise(ExerciseSet),
    /// Record an inject that landed in the exercise's lake.
    LandInject(InjectLanded),
    /// Take one of the playbook's roles (nobody holds it).
    TakeRole {
        role: String,
    },
    /// Give a role this responder holds to another responder.
    HandOverRole {
        role: String,
        to: String,
    },
    /// The lead gives a role to a responder without its holder's hand-over, with the reason.
    OverrideRole {
        role: String,
        to: String,
        reason: String,
    },
}

/// What the engine needs from outside that is not in the state: the time (for `now` in
/// templates) and where the backend finds Security Lake's tables (for `table` in a query's
/// SQL). Passed in, never read from the system.
#[derive(Debug, Clone, Default)]
pub struct Env {
    pub now: DateTime<Utc>,
    pub naming: crate::playbook::context::TableNaming,
    /// Who asks: the responder's name. Once roles are taken in a case, a step's role decides
    /// who may act on it (`None`: nobody is checked, e.g. a preview of a move).
    pub actor: Option<String>,
}

/// Why a command was refused. Nothing was recorded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    #[error("the case is not open yet")]
    NotOpened,
    #[error("the case is already open")]
    AlreadyOpened,
    #[error("the case is closed; nothing more can be recorded")]
    Closed,
    #[error("the case is paused ({0}); unpause it first")]
    Paused(String),
    #[error("the case is not paused")]
    NotPaused,
    #[error("the case has already started")]
    AlreadyStarted,
    #[error("the case has not started; start it at the first step")]
    NotStarted,
    #[error("unknown step `{0}`")]
    UnknownStep(String),
    #[error("step `{step}` is not the current step (the case is at {current})")]
    NotCurrent { step: String, current: String },
    #[error("step `{step}` is a {kind} step; {what} needs a {expected} step")]
    WrongKind {
        step: String,
        kind: &'static str,
        expected: &'static str,
        what: &'static str,
    },
    #[error("`{option}` is not an option of decision `{step}` (options: {options})")]
    UnknownOption {
        step: String,
        option: String,
        options: String,
    },
    #[error("a query of step `{0}` is already running")]
    QueryRunning(String),
    #[error("no query of step `{0}` is running")]
    NoQueryRunning(String),
    #[error("step `{step}` does not read {}: a source not collected must be one of its tables", tables.join(", "))]
    NotTheStepsTables { step: String, tables: Vec<String> },
    #[error("the action of step `{0}` is already confirmed")]
    AlreadyConfirmed(String),
    #[error("the action of step `{0}` needs confirmation first")]
    NotConfirmed(String),
    #[error("the confirmation of step `{step}` does not match: type `{expected}` exactly")]
    ConfirmationMismatch { step: String, expected: String },
    #[error("the action of step `{0}` does not ask for confirmation")]
    NoConfirmationNeeded(String),
    #[error("the action of step `{0}` is in flight; record its result first")]
    ActionInFlight(String),
    #[error("the action of step `{0}` has not started")]
    ActionNotStarted(String),
    #[error("the action of step `{0}` has already run")]
    ActionDone(String),
    #[error("step `{step}` has no checklist item {item} (it has {count})")]
    NoSuchItem { step: String, item: usize, count: usize },
    #[error("checklist item {item} of step `{step}` is already done")]
    ItemDone { step: String, item: usize },
    #[error("step `{step}` still has {left} checklist item(s) to do")]
    ChecklistOpen { step: String, left: usize },
    #[error("{0} needs a reason")]
    ReasonRequired(&'static str),
    #[error("a decision cannot be skipped: choose one of its options")]
    CannotSkipDecision,
    #[error("step `{0}` was never entered; only steps on the path taken can be gone back to")]
    NotVisited(String),
    #[error("the {0} is empty")]
    Empty(&'static str),
    #[error("{0}")]
    Exercise(&'static str),
    #[error("{observable} `{value}`: {problem}")]
    BadObservable {
        observable: &'static str,
        value: String,
        problem: String,
    },
    #[error("the outcome of step `{0}`'s action is unknown: verify it first")]
    OutcomeUnknown(String),
    #[error("the outcome of step `{0}`'s action is not in doubt; there is nothing to verify")]
    OutcomeKnown(String),
    #[error("step `{step}`: a {} case cannot record a {} action", if *live { "live" } else { "rehearsal" }, if *live { "simulated" } else { "real" })]
    WrongMode { step: String, live: bool },
    #[error("step `{step}` has nothing to roll back: {why}")]
    NothingToRollBack { step: String, why: String },
    #[error("the intent does not match step `{0}`: it must be the step's own action, rendered")]
    IntentMismatch(String),
    #[error("step `{0}` runs over a list: name the item (`item`, from 0)")]
    ItemRequired(String),
    #[error("step `{0}` acts once: it has no items")]
    NoItems(String),
    #[error("step `{step}` has {total} items: there is no item {item}")]
    NoListItem { step: String, item: usize, total: usize },
    #[error("step `{step}`: item {item} was not confirmed")]
    ItemNotChosen { step: String, item: usize },
    #[error("step `{0}` has items to act on: there is something to do")]
    ItemsToDo(String),
    #[error("step `{step}`: {why}")]
    BadChoice { step: String, why: String },
    #[error(
        "step `{step}` cannot be rendered: {why} (a value it reads has none: was the query that captures it skipped or failed?)"
    )]
    Template { step: String, why: RenderError },
    #[error(
        "{what} is the {role}'s to do, and {holder} holds that role: ask {holder} to hand it over (`irp handover CASE {role} --to NAME`) or the lead to override"
    )]
    NotYourRole {
        what: String,
        role: String,
        holder: String,
    },
    #[error(
        "{what} is the {role}'s to do; nobody has taken that role, so the lead ({holder}) stands in for it: take it (`irp join CASE --role {role}`) or ask {holder} to give it to you (`irp handover CASE {role} --to NAME --override REASON`)"
    )]
    LeadStandsIn {
        what: String,
        role: String,
        holder: String,
    },
    #[error("`{role}` is not a role of this playbook (its roles: {roles})")]
    UnknownRole { role: String, roles: String },
    #[error(
        "the {role} role is held by {holder}; ask them to hand it over (`irp handover`) or the lead to override"
    )]
    RoleHeld { role: String, holder: String },
    #[error("{actor} does not hold the {role} role ({})", holder.as_deref().map_or_else(|| "nobody does".to_owned(), |h| format!("{h} does")))]
    NotHolder {
        role: String,
        actor: String,
        holder: Option<String>,
    },
    #[error("only the lead ({lead}, held by {holder}) can override a role")]
    NotLead { lead: String, holder: String },
    #[error("{0}")]
    Role(&'static str),
}

/// The playbook's lead role: the first declared (decisions are the lead's unless a step says
/// otherwise, and the lead stands in for every role nobody holds).
pub fn lead_role(pb: &Playbook) -> Option<&str> {
    pb.roles.keys().next().map(String::as_str)
}

/// Who may act for `role` now: its holder, else the lead's holder, else anybody (`None`).
pub fn acting_for<'a>(pb: &Playbook, state: &'a State, role: &str) -> Option<&'a str> {
    state
        .roles
        .get(role)
        .or_else(|| lead_role(pb).and_then(|l| state.roles.get(l)))
        .map(String::as_str)
}

/// The role a step's moves belong to: its `role`, or the lead's for a decision without one.
pub fn step_role<'a>(pb: &'a Playbook, step: &'a crate::playbook::model::Step) -> Option<&'a str> {
    step.role.as_deref().or_else(|| {
        matches!(step.kind, StepKind::Decision(_))
            .then(|| lead_role(pb))
            .flatten()
    })
}

/// Refuses a move for `role` by a responder who may not make it. Nobody is checked until a role
/// is taken in the case, nor when the driver names no actor.
fn check_role(
    pb: &Playbook,
    state: &State,
    env: &Env,
    role: Option<&str>,
    what: impl FnOnce() -> String,
) -> Result<(), EngineError> {
    let (Some(actor), Some(role)) = (env.actor.as_deref(), role) else {
        return Ok(());
    };
    match acting_for(pb, state, role) {
        Some(holder) if holder != actor && state.roles.contains_key(role) => Err(EngineError::NotYourRole {
            what: what(),
            role: role.to_owned(),
            holder: holder.to_owned(),
        }),
        Some(holder) if holder != actor => Err(EngineError::LeadStandsIn {
            what: what(),
            role: role.to_owned(),
            holder: holder.to_owned(),
        }),
        _ => Ok(()),
    }
}

fn role_command(pb: &Playbook, state: &State, cmd: &Command, env: &Env) -> Result<Event, EngineError> {
    let known = |role: &str| {
        if pb.roles.contains_key(role) {
            Ok(())
        } else {
            Err(EngineError::UnknownRole {
                role: role.to_owned(),
                roles: if pb.roles.is_empty() {
                    "none".to_owned()
                } else {
                    pb.roles.keys().cloned().collect::<Vec<_>>().join(", ")
                },
            })
        }
    };
    let actor = env
        .actor
        .clone()
        .ok_or(EngineError::Role("a role move needs the responder's name"))?;
    let named = |to: &str| {
        if to.trim().is_empty() {
            Err(EngineError::Empty("name of the responder"))
        } else {
            Ok(())
        }
    };
    match cmd {
        Command::TakeRole { role } => {
            known(role)?;
            match state.roles.get(role) {
                Some(h) if *h == actor => Err(EngineError::Role("this responder already holds that role")),
                Some(h) => Err(EngineError::RoleHeld {
                    role: role.clone(),
                    holder: h.clone(),
                }),
                None => Ok(Event::RoleTaken(RoleTaken {
                    role: role.clone(),
                    responder: actor,
                })),
            }
        }
        Command::HandOverRole { role, to } => {
            known(role)?;
            named(to)?;
            if state.roles.get(role) != Some(&actor) {
                return Err(EngineError::NotHolder {
                    role: role.clone(),
                    actor,
                    holder: state.roles.get(role).cloned(),
                });
            }
            if *to == actor {
                return Err(EngineError::Role("a role is handed over to someone else"));
            }
            Ok(Event::RoleHandedOver(RoleHandedOver {
                role: role.clone(),
                from: actor,
                to: to.clone(),
            }))
        }
        Command::OverrideRole { role, to, reason } => {
            known(role)?;
            named(to)?;
            if reason.trim().is_empty() {
                return Err(EngineError::ReasonRequired("an override"));
            }
            let lead = lead_role(pb).unwrap_or_default();
            let holder = state.roles.get(role);
            if holder == Some(to) {
                return Err(EngineError::Role("that responder already holds that role"));
            }
            // The lead's holder overrides; the lead's own role, when its holder is gone, may be
            // taken over by anyone who holds a role (in the journal, for all to see).
            let lead_holder = state.roles.get(lead);
            let allowed = match lead_holder {
                None => true,
                Some(h) if *h == actor => true,
                Some(_) => role == lead && state.roles.values().any(|h| *h == actor),
            };
            if !allowed {
                return Err(EngineError::NotLead {
                    lead: lead.to_owned(),
                    holder: lead_holder.cloned().unwrap_or_default(),
                });
            }
            Ok(Event::RoleOverridden(RoleOverridden {
                role: role.clone(),
                from: holder.cloned(),
                to: to.clone(),
                reason: reason.clone(),
            }))
        }
        _ => unreachable!("role_command is given role commands"),
    }
}

/// Judges `cmd` against `state`; the event it returns is what the driver records.
pub fn decide(pb: &Playbook, state: &State, cmd: &Command, env: &Env) -> Result<Event, EngineError> {
    if let Command::Open(opened) = cmd {
        if state.opened.is_some() {
            return Err(EngineError::AlreadyOpened);
        }
        return Ok(Event::CaseOpened(opened.clone()));
    }
    if state.opened.is_none() {
        return Err(EngineError::NotOpened);
    }
    if let Command::StartRollback(r) = cmd {
        let role = pb.step(&r.step).and_then(|s| step_role(pb, s));
        check_role(pb, state, env, role, || format!("rolling back step `{}`", r.step))?;
    }
    if let Command::StartRollback(_) | Command::FinishRollback { .. } = cmd {
        return rollback_command(pb, state, cmd);
    }
    if state.closed.is_some() {
        return Err(EngineError::Closed);
    }
    match cmd {
        Command::Open(_) => Err(EngineError::AlreadyOpened),
        Command::TakeRole { .. } | Command::HandOverRole { .. } | Command::OverrideRole { .. } => {
            role_command(pb, state, cmd, env)
        }
        Command::AddNote { text } => {
            if text.trim().is_empty() {
                return Err(EngineError::Empty("note"));
            }
            Ok(Event::NoteAdded {
                step: state.current_step().map(str::to_owned),
                text: text.clone(),
                made_offline: None,
            })
        }
        Command::AddEvidence {
            observable,
            value,
            note,
        } => {
            check_observable(*observable, value)?;
            Ok(Event::EvidenceAdded(EvidenceAdded {
                step: state.current_step().map(str::to_owned),
                observable: *observable,
                value: value.clone(),
                note: note.clone(),
                made_offline: None,
            }))
        }
        Command::Pause { reason } => {
            if let Some(r) = &state.paused {
                return Err(EngineError::Paused(r.clone()));
            }
            Ok(Event::Paused {
                reason: reason.clone(),
            })
        }
        Command::Unpause => {
            if state.paused.is_none() {
                return Err(EngineError::NotPaused);
            }
            Ok(Event::Unpaused {})
        }
        Command::SetExercise(x) => {
            if state.exercise.is_some() {
                return Err(EngineError::Exercise("the case already has its exercise"));
            }
            if !matches!(state.position, Position::NotStarted) {
                return Err(EngineError::Exercise("the exercise is set before the first step"));
            }
            Ok(Event::ExerciseSet(x.clone()))
        }
        Command::LandInject(i) => {
            if state.exercise.is_none() {
                return Err(EngineError::Exercise("injects land only in an exercise"));
            }
            if state.injects.contains(&i.name) {
                return Err(EngineError::Exercise("that inject has landed already"));
            }
            Ok(Event::InjectLanded(i.clone()))
        }
        Command::Close { summary } => {
            check_role(pb, state, env, lead_role(pb), || "closing the case".to_owned())?;
            if summary.trim().is_empty() {
                return Err(EngineError::ReasonRequired("closing a case"));
            }
            if let Some(step) = in_flight(state) {
                return Err(EngineError::ActionInFlight(step));
            }
            Ok(Event::CaseClosed {
                summary: summary.clone(),
            })
        }
        _ => {
            if let Some(r) = &state.paused {
                return Err(EngineError::Paused(r.clone()));
            }
            step_command(pb, state, cmd, env)
        }
    }
}

/// A step whose action has started and not finished.
fn in_flight(state: &State) -> Option<String> {
    state
        .steps
        .iter()
        .find(|(_, s)| s.action_in_flight().is_some())
        .map(|(id, _)| id.clone())
}

fn step_command(pb: &Playbook, state: &State, cmd: &Command, env: &Env) -> Result<Event, EngineError> {
    match cmd {
        Command::Start => {
            if state.position != Position::NotStarted {
                return Err(EngineError::AlreadyStarted);
            }
            check_role(pb, state, env, lead_role(pb), || "starting the case".to_owned())?;
            let first = pb.steps.first().ok_or(EngineError::UnknownStep(String::new()))?;
            return Ok(Event::Started {
                first: first.id.clone(),
            });
        }
        Command::GoBack { to } => {
            if state.position == Position::NotStarted {
                return Err(EngineError::NotStarted);
            }
            if pb.step_index(to).is_none() {
                return Err(EngineError::UnknownStep(to.clone()));
            }
            if !state.path.iter().any(|s| s == to) {
                return Err(EngineError::NotVisited(to.clone()));
            }
            // Going back moves the whole team: the lead's move, or the target step's role's.
            let target = pb.step(to).and_then(|s| step_role(pb, s));
            if check_role(pb, state, env, target, String::new).is_err() {
                check_role(pb, state, env, lead_role(pb), || {
                    format!("going back to step `{to}`")
                })?;
            }
            if let Some(current) = state.current_step()
                && let Some(s) = state.step(current)
            {
                if s.running_query().is_some() {
                    return Err(EngineError::QueryRunning(current.to_owned()));
                }
                if s.action_in_flight().is_some() {
                    return Err(EngineError::ActionInFlight(current.to_owned()));
                }
            }
            return Ok(Event::WentBack {
                from: state.current_step().map(str::to_owned),
                to: to.clone(),
            });
        }
        _ => {}
    }
    let step_id = command_step(cmd);
    let Some(index) = pb.step_index(step_id) else {
        return Err(EngineError::UnknownStep(step_id.to_owned()));
    };
    match &state.position {
        Position::At(current) if current == step_id => {}
        Position::At(current) => {
            return Err(EngineError::NotCurrent {
                step: step_id.to_owned(),
                current: format!("step `{current}`"),
            });
        }
        Position::NotStarted => return Err(EngineError::NotStarted),
        Position::End => {
            return Err(EngineError::NotCurrent {
                step: step_id.to_owned(),
                current: "the end of the playbook".to_owned(),
            });
        }
    }
    let step = &pb.steps[index];
    // What follows a move already made (a result, a conflict seen) is recorded whoever holds
    // the role now; the moves themselves are the role's.
    if !matches!(
        cmd,
        Command::QuerySucceeded { .. }
            | Command::QueryFailed { .. }
            | Command::SourceNotCollected { .. }
            | Command::FinishAction { .. }
            | Command::Conflict { .. }
    ) {
        check_role(pb, state, env, step_role(pb, step), || {
            format!("step `{step_id}`")
        })?;
    }
    let empty = StepState::default();
    let st = state.step(step_id).unwrap_or(&empty);
    let next_of = |n: Next| match n {
        Next::Step(i) => Some(pb.steps[i].id.clone()),
        Next::End => None,
    };
    let wrong = |expected: &'static str, what: &'static str| EngineError::WrongKind {
        step: step_id.to_owned(),
        kind: step.kind.name(),
        expected,
        what,
    };
    // Where a failure sends the case: (next, stay).
    let on_failure = || match step.on_failure {
        FailurePolicy::Ask => (None, true),
        FailurePolicy::Continue => (next_of(step.next), false),
        FailurePolicy::Goto(g) => (Some(pb.steps[g].id.clone()), false),
    };
    if let StepKind::Action(a) = &step.kind
        && a.runs_per_item()
        && matches!(
            cmd,
            Command::ConfirmAction { .. }
                | Command::StartAction { .. }
                | Command::FinishAction { .. }
                | Command::Conflict { .. }
                | Command::VerifyAction { .. }
                | Command::NothingToDo { .. }
        )
    {
        return items::ItemStep {
            pb,
            state,
            index,
            step,
            action: a,
            st,
            env,
            next: next_of(step.next),
            on_failure: on_failure(),
        }
        .decide(cmd);
    }
    let item_given = match cmd {
        Command::StartAction { item, .. }
        | Command::FinishAction { item, .. }
        | Command::Conflict { item, .. }
        | Command::VerifyAction { item, .. } => item.is_some(),
        Command::ConfirmAction { items, .. } => items.is_some(),
        Command::NothingToDo { .. } => true,
        _ => false,
    };
    if item_given {
        return Err(EngineError::NoItems(step_id.to_owned()));
    }
    match cmd {
        Command::SubmitQuery {
            sql,
            backend,
            not_collected,
            ..
        } => {
            if !matches!(step.kind, StepKind::Query(_)) {
                return Err(wrong("query", "running a query"));
            }
            if st.running_query().is_some() {
                return Err(EngineError::QueryRunning(step_id.to_owned()));
            }
            if sql.trim().is_empty() {
                return Err(EngineError::Empty("query"));
            }
            Ok(Event::QuerySubmitted(QuerySubmitted {
                step: step_id.to_owned(),
                sql: sql.clone(),
                backend: backend.clone(),
                not_collected: not_collected.clone(),
            }))
        }
        Command::QuerySucceeded {
            rows,
            row_count,
            artifact,
            execution,
            ..
        } => {
            if !matches!(step.kind, StepKind::Query(_)) {
                return Err(wrong("query", "a query result"));
            }
            if st.running_query().is_none() {
                return Err(EngineError::NoQueryRunning(step_id.to_owned()));
            }
            if *row_count == 0
                && let Some((tables, reason)) = empty_source(pb, state, index)
            {
                return Ok(not_collected(
                    evaluate_captures(pb, state, index, &[], 0, env),
                    SourceNotCollected {
                        step: step_id.to_owned(),
                        tables,
                        found: NotCollected::NoEvents,
                        reason,
                        artifact: artifact.clone(),
                        captures: BTreeMap::new(),
                        next: next_of(step.next),
                        execution: execution.clone(),
                    },
                    on_failure(),
                ));
            }
            match evaluate_captures(pb, state, index, rows, *row_count, env) {
                Ok(captures) => Ok(Event::QuerySucceeded(QuerySucceeded {
                    step: step_id.to_owned(),
                    rows: *row_count,
                    artifact: artifact.clone(),
                    captures,
                    next: next_of(step.next),
                    execution: execution.clone(),
                })),
                // The result is kept (the artifact), but a capture the next steps rely on is
                // missing: that is a failure of the step, handled by its `on_failure`.
                Err(message) => {
                    let (next, stay) = on_failure();
                    Ok(Event::QueryFailed(QueryFailed {
                        step: step_id.to_owned(),
                        error: message.to_string(),
                        artifact: artifact.clone(),
                        next,
                        stay,
                        execution: execution.clone(),
                    }))
                }
            }
        }
        Command::QueryFailed {
            error,
            artifact,
            execution,
            ..
        } => {
            if !matches!(step.kind, StepKind::Query(_)) {
                return Err(wrong("query", "a query failure"));
            }
            if st.running_query().is_none() {
                return Err(EngineError::NoQueryRunning(step_id.to_owned()));
            }
            let (next, stay) = on_failure();
            Ok(Event::QueryFailed(QueryFailed {
                step: step_id.to_owned(),
                error: error.clone(),
                artifact: artifact.clone(),
                next,
                stay,
                execution: execution.clone(),
            }))
        }
        Command::SourceNotCollected {
            tables,
            reason,
            execution,
            ..
        } => {
            let StepKind::Query(q) = &step.kind else {
                return Err(wrong("query", "a source that is not collected"));
            };
            if tables.is_empty() || tables.iter().any(|t| !q.tables.iter().any(|l| l.as_str() == t)) {
                return Err(EngineError::NotTheStepsTables {
                    step: step_id.to_owned(),
                    tables: tables.clone(),
                });
            }
            Ok(not_collected(
                evaluate_captures(pb, state, index, &[], 0, env),
                SourceNotCollected {
                    step: step_id.to_owned(),
                    tables: tables.clone(),
                    found: NotCollected::NoTable,
                    reason: reason.clone(),
                    artifact: None,
                    captures: BTreeMap::new(),
                    next: next_of(step.next),
                    execution: execution.clone(),
                },
                on_failure(),
            ))
        }
        Command::CancelQuery { reason, .. } => {
            if st.running_query().is_none() {
                return Err(EngineError::NoQueryRunning(step_id.to_owned()));
            }
            Ok(Event::QueryCancelled {
                step: step_id.to_owned(),
                reason: reason.clone(),
            })
        }
        Command::Decide {
            option, rationale, ..
        } => {
            let StepKind::Decision(d) = &step.kind else {
                return Err(wrong("decision", "deciding"));
            };
            let chosen = d
                .options
                .iter()
                .find(|o| o.id == *option)
                .or_else(|| d.options.iter().find(|o| o.label == *option))
                .ok_or_else(|| EngineError::UnknownOption {
                    step: step_id.to_owned(),
                    option: option.clone(),
                    options: d
                        .options
                        .iter()
                        .map(|o| format!("`{}`", o.id))
                        .collect::<Vec<_>>()
                        .join(", "),
                })?;
            let suggested = suggestion(pb, state, index, env).ok().flatten();
            Ok(Event::Decided(Decided {
                step: step_id.to_owned(),
                option: chosen.id.clone(),
                label: chosen.label.clone(),
                suggested,
                rationale: rationale.clone().filter(|r| !r.trim().is_empty()),
                next: next_of(chosen.next),
            }))
        }
        Command::ConfirmAction { typed, seen, .. } => {
            let StepKind::Action(a) = &step.kind else {
                return Err(wrong("action", "confirming"));
            };
            if st.confirmed {
                return Err(EngineError::AlreadyConfirmed(step_id.to_owned()));
            }
            if st.action_in_flight().is_some() {
                return Err(EngineError::ActionInFlight(step_id.to_owned()));
            }
            if st.last_outcome.is_some() {
                return Err(EngineError::ActionDone(step_id.to_owned()));
            }
            match a.confirm {
                Confirm::None => Err(EngineError::NoConfirmationNeeded(step_id.to_owned())),
                Confirm::Yes => Ok(Event::ActionConfirmed(ActionConfirmed {
                    step: step_id.to_owned(),
                    confirmation: "yes".to_owned(),
                    typed: None,
                    seen: seen.clone(),
                    items: None,
                })),
                Confirm::Typed => {
                    let expected = confirmation_word(pb, state, index, env)?;
                    if typed.as_deref().map(str::trim) != Some(expected.as_str()) {
                        return Err(EngineError::ConfirmationMismatch {
                            step: step_id.to_owned(),
                            expected,
                        });
                    }
                    Ok(Event::ActionConfirmed(ActionConfirmed {
                        step: step_id.to_owned(),
                        confirmation: "typed".to_owned(),
                        typed: typed.clone(),
                        seen: seen.clone(),
                        items: None,
                    }))
                }
            }
        }
        Command::StartAction {
            intent,
            simulated,
            before,
            request,
            ..
        } => {
            let StepKind::Action(a) = &step.kind else {
                return Err(wrong("action", "starting an action"));
            };
            if st.action_in_flight().is_some() {
                return Err(EngineError::ActionInFlight(step_id.to_owned()));
            }
            if st.last_outcome == Some(Outcome::Succeeded) {
                return Err(EngineError::ActionDone(step_id.to_owned()));
            }
            if st.last_outcome == Some(Outcome::Unknown) {
                return Err(EngineError::OutcomeUnknown(step_id.to_owned()));
            }
            if a.confirm != Confirm::None && !st.confirmed {
                return Err(EngineError::NotConfirmed(step_id.to_owned()));
            }
            if matches!(a.kind, ActionKind::Manual { .. }) {
                return Err(wrong("aws or command action", "starting an action"));
            }
            // The intent must be exactly this step's action as rendered now: a driver cannot
            // record one call and make another.
            let expected = render_intent(pb, state, index, env).map_err(|why| EngineError::Template {
                step: step_id.to_owned(),
                why,
            })?;
            if *intent != expected {
                return Err(EngineError::IntentMismatch(step_id.to_owned()));
            }
            if *simulated == state.is_live() {
                return Err(EngineError::WrongMode {
                    step: step_id.to_owned(),
                    live: state.is_live(),
                });
            }
            Ok(Event::ActionStarted(ActionStarted {
                step: step_id.to_owned(),
                intent: intent.clone(),
                simulated: *simulated,
                before: before.clone(),
                request: request.clone(),
                item: None,
            }))
        }
        Command::FinishAction {
            outcome,
            detail,
            after,
            request_ids,
            verification,
            outputs,
            ..
        } => {
            if st.action_in_flight().is_none() {
                return Err(EngineError::ActionNotStarted(step_id.to_owned()));
            }
            // An unknown outcome always keeps the case on the step: the responder verifies first.
            let (next, stay) = match outcome {
                Outcome::Succeeded => (next_of(step.next), false),
                Outcome::Unknown => (None, true),
                Outcome::Failed => on_failure(),
            };
            Ok(Event::ActionFinished(ActionFinished {
                step: step_id.to_owned(),
                outcome: *outcome,
                detail: detail.clone(),
                simulated: !state.is_live(),
                after: after.clone(),
                next,
                stay,
                request_ids: request_ids.clone(),
                verification: verification.clone(),
                outputs: outputs.clone(),
                item: None,
            }))
        }
        Command::Conflict {
            seen,
            now,
            difference,
            ..
        } => {
            if !st.confirmed || st.action_in_flight().is_some() || st.last_outcome.is_some() {
                return Err(EngineError::NotConfirmed(step_id.to_owned()));
            }
            Ok(Event::ActionConflict(ActionConflict {
                step: step_id.to_owned(),
                seen: seen.clone(),
                now: now.clone(),
                difference: difference.clone(),
                item: None,
            }))
        }
        Command::VerifyAction {
            method,
            in_place,
            detail,
            after,
            ..
        } => {
            if st.last_outcome != Some(Outcome::Unknown) {
                return Err(EngineError::OutcomeKnown(step_id.to_owned()));
            }
            if method != "read" && method != "responder" {
                return Err(EngineError::Empty("verification method (`read` or `responder`)"));
            }
            let (next, stay) = if *in_place {
                (next_of(step.next), false)
            } else {
                (None, true)
            };
            Ok(Event::ActionVerified(ActionVerified {
                step: step_id.to_owned(),
                method: method.clone(),
                in_place: *in_place,
                detail: detail.clone(),
                after: after.clone(),
                next,
                stay,
                item: None,
            }))
        }
        Command::CheckItem { item, .. } => {
            let StepKind::Action(a) = &step.kind else {
                return Err(wrong("manual action", "ticking a checklist item"));
            };
            if !matches!(a.kind, ActionKind::Manual { .. }) {
                return Err(wrong("manual action", "ticking a checklist item"));
            }
            if a.confirm != Confirm::None && !st.confirmed {
                return Err(EngineError::NotConfirmed(step_id.to_owned()));
            }
            let items = checklist(pb, state, index, env).map_err(|why| EngineError::Template {
                step: step_id.to_owned(),
                why,
            })?;
            let text = items.get(*item).ok_or(EngineError::NoSuchItem {
                step: step_id.to_owned(),
                item: *item,
                count: items.len(),
            })?;
            if st.checklist.contains(item) {
                return Err(EngineError::ItemDone {
                    step: step_id.to_owned(),
                    item: *item,
                });
            }
            Ok(Event::ChecklistItemDone {
                step: step_id.to_owned(),
                item: *item,
                text: text.clone(),
            })
        }
        Command::Complete { .. } => match &step.kind {
            StepKind::Note(_) => Ok(Event::StepCompleted {
                step: step_id.to_owned(),
                next: next_of(step.next),
            }),
            StepKind::Action(a) if matches!(a.kind, ActionKind::Manual { .. }) => {
                let items = checklist(pb, state, index, env).map_err(|why| EngineError::Template {
                    step: step_id.to_owned(),
                    why,
                })?;
                let left = items.len() - st.checklist.len().min(items.len());
                if left > 0 {
                    return Err(EngineError::ChecklistOpen {
                        step: step_id.to_owned(),
                        left,
                    });
                }
                Ok(Event::StepCompleted {
                    step: step_id.to_owned(),
                    next: next_of(step.next),
                })
            }
            _ => Err(wrong("note or manual action", "completing")),
        },
        Command::Skip { reason, .. } => {
            if reason.trim().is_empty() {
                return Err(EngineError::ReasonRequired("skipping a step"));
            }
            if matches!(step.kind, StepKind::Decision(_)) {
                return Err(EngineError::CannotSkipDecision);
            }
            if st.running_query().is_some() {
                return Err(EngineError::QueryRunning(step_id.to_owned()));
            }
            if st.action_in_flight().is_some() {
                return Err(EngineError::ActionInFlight(step_id.to_owned()));
            }
            Ok(Event::StepSkipped {
                step: step_id.to_owned(),
                reason: reason.clone(),
                next: next_of(step.next),
            })
        }
        // Case-level commands are judged in `decide` and never reach here.
        Command::NothingToDo { .. } => Err(EngineError::NoItems(step_id.to_owned())),
        Command::Open(_)
        | Command::Start
        | Command::GoBack { .. }
        | Command::AddNote { .. }
        | Command::AddEvidence { .. }
        | Command::Pause { .. }
        | Command::Unpause
        | Command::Close { .. }
        | Command::SetExercise(_)
        | Command::LandInject(_)
        | Command::TakeRole { .. }
        | Command::HandOverRole { .. }
        | Command::OverrideRole { .. }
        | Command::StartRollback(_)
        | Command::FinishRollback { .. } => Err(EngineError::AlreadyOpened),
    }
}

/// Judges a rollback: only of an AWS action that changed the account (or, in a rehearsal, was
/// simulated as doing so), one at a time.
fn rollback_command(pb: &Playbook, state: &State, cmd: &Command) -> Result<Event, EngineError> {
    match cmd {
        Command::StartRollback(r) => {
            let step = pb
                .step(&r.step)
                .ok_or_else(|| EngineError::UnknownStep(r.step.clone()))?;
            if !matches!(&step.kind, StepKind::Action(a) if matches!(a.kind, ActionKind::Aws { .. })) {
                return Err(EngineError::NothingToRollBack {
                    step: r.step.clone(),
                    why: "it is not an AWS action".to_owned(),
                });
            }
            let for_each = matches!(&step.kind, StepKind::Action(a) if a.runs_per_item());
            if for_each && r.item.is_none() {
                return Err(EngineError::ItemRequired(r.step.clone()));
            }
            if !for_each && r.item.is_some() {
                return Err(EngineError::NoItems(r.step.clone()));
            }
            if state.step(&r.step).is_some_and(|s| s.rollback_in_flight) {
                return Err(EngineError::NothingToRollBack {
                    step: r.step.clone(),
                    why: "a rollback of it is in flight; record its result first".to_owned(),
                });
            }
            if r.simulated == state.is_live() {
                return Err(EngineError::WrongMode {
                    step: r.step.clone(),
                    live: state.is_live(),
                });
            }
            if r.typed.trim() != r.target {
                return Err(EngineError::ConfirmationMismatch {
                    step: r.step.clone(),
                    expected: r.target.clone(),
                });
            }
            Ok(Event::RollbackStarted(r.clone()))
        }
        Command::FinishRollback {
            step,
            item,
            outcome,
            detail,
            after,
            request_ids,
        } => {
            if !state.step(step).is_some_and(|s| s.rollback_in_flight) {
                return Err(EngineError::NothingToRollBack {
                    step: step.clone(),
                    why: "no rollback of it has started".to_owned(),
                });
            }
            Ok(Event::RollbackFinished(RollbackFinished {
                step: step.clone(),
                outcome: *outcome,
                detail: detail.clone(),
                after: after.clone(),
                request_ids: request_ids.clone(),
                simulated: !state.is_live(),
                item: *item,
            }))
        }
        _ => Err(EngineError::AlreadyOpened),
    }
}

/// The event for a query step whose source is not collected: `event` with the captures of an
/// empty result, or the step's failure when a capture cannot take an empty result.
fn not_collected(
    captures: Result<BTreeMap<String, serde_json::Value>, RenderError>,
    mut event: SourceNotCollected,
    (next, stay): (NextStep, bool),
) -> Event {
    match captures {
        Ok(captures) => {
            event.captures = captures;
            Event::SourceNotCollected(event)
        }
        Err(message) => Event::QueryFailed(QueryFailed {
            step: event.step,
            error: message.to_string(),
            artifact: event.artifact,
            next,
            stay,
            execution: event.execution,
        }),
    }
}

/// For a query step that found no rows: the tables it reads that are not collected for this
/// case, and why. A coverage check's tables are (it looked for their events and found none);
/// so is its primary table when an earlier coverage check found no events in it. An empty result
/// of a step whose primary table has events is an answer, whatever its other tables.
fn empty_source(pb: &Playbook, state: &State, index: usize) -> Option<(Vec<String>, String)> {
    let step = &pb.steps[index];
    let StepKind::Query(q) = &step.kind else {
        return None;
    };
    if q.coverage {
        let names: Vec<String> = q.tables.iter().map(|t| t.as_str().to_owned()).collect();
        let reason = format!(
            "the coverage check found no {} events for the case's account, region and window",
            names.join(" or ")
        );
        return Some((names, reason));
    }
    let primary = q.table.as_str();
    let at = state
        .not_collected
        .get(primary)
        .filter(|at| at.found == NotCollected::NoEvents)?;
    Some((
        vec![primary.to_owned()],
        format!(
            "no rows, as expected: {primary} was found not collected at step `{}` ({})",
            at.step, at.reason
        ),
    ))
}

fn command_step(cmd: &Command) -> &str {
    match cmd {
        Command::SubmitQuery { step, .. }
        | Command::QuerySucceeded { step, .. }
        | Command::QueryFailed { step, .. }
        | Command::CancelQuery { step, .. }
        | Command::SourceNotCollected { step, .. }
        | Command::Decide { step, .. }
        | Command::ConfirmAction { step, .. }
        | Command::StartAction { step, .. }
        | Command::FinishAction { step, .. }
        | Command::Conflict { step, .. }
        | Command::VerifyAction { step, .. }
        | Command::CheckItem { step, .. }
        | Command::NothingToDo { step }
        | Command::Complete { step }
        | Command::Skip { step, .. } => step,
        _ => "",
    }
}

/// What `confirm: typed` asks the responder to type for step `index` (see
/// `Intent::confirmation_word`).
pub fn confirmation_word(
    pb: &Playbook,
    state: &State,
    index: usize,
    env: &Env,
) -> Result<String, EngineError> {
    let step = &pb.steps[index].id;
    render_intent(pb, state, index, env)
        .map(|intent| intent.confirmation_word(step))
        .map_err(|why| EngineError::Template {
            step: step.clone(),
            why,
        })
}

/// Checks a typed observable's value.
pub fn check_observable(observable: Observable, value: &str) -> Result<(), EngineError> {
    let v = value.trim();
    let problem = if v.is_empty() {
        Some("the value is empty".to_owned())
    } else {
        match observable {
            Observable::Ip => v
                .parse::<std::net::IpAddr>()
                .err()
                .map(|_| "not an IPv4 or IPv6 address".to_owned()),
            Observable::Arn => {
                let parts: Vec<&str> = v.splitn(6, ':').collect();
                (parts.len() < 6 || parts[0] != "arn" || parts[2].is_empty())
                    .then(|| "not an ARN (`arn:partition:service:region:account:resource`)".to_owned())
            }
            Observable::AccessKeyId => (!(v.len() == 20
                && (v.starts_with("AKIA") || v.starts_with("ASIA"))
                && v.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())))
            .then(|| "not an access key id (20 characters, AKIA… or ASIA…)".to_owned()),
            Observable::AccountId => (!(v.len() == 12 && v.chars().all(|c| c.is_ascii_digit())))
                .then(|| "not a 12-digit AWS account id".to_owned()),
            Observable::Bucket => crate::action::ParamKind::BucketName.check(v).err(),
            Observable::ObjectKey | Observable::UserAgent | Observable::Text => None,
        }
    };
    match problem {
        Some(problem) => Err(EngineError::BadObservable {
            observable: observable.as_str(),
            value: value.to_owned(),
            problem,
        }),
        None => Ok(()),
    }
}

/// The resolved inputs of a case: the given values, defaults for the rest, relative times made
/// absolute against `now`. Returns a message per problem (unknown name, bad value, missing).
pub fn resolve_inputs(
    pb: &Playbook,
    given: &[(String, String)],
    now: DateTime<Utc>,
) -> Result<BTreeMap<String, serde_json::Value>, Vec<String>> {
    context::resolve_inputs(pb, given, now)
}
