//! The moves of a `for_each` action step, one at a time as every driver makes them: nothing to
//! do for an empty list; the confirmation of the items chosen (in a live case, with each item's
//! state and the change irp would make to it); then each chosen item in turn, through the same
//! calls, checks and journal entries as a step that acts once, with the item named on each.

use std::fmt::Write as _;
use std::time::Duration;

use serde_json::{Map, json};

use super::Session;
use super::actions::{
    self, Executor, Target, change, describe_plan, finish_for, json_artifact, params_of, read_evidence,
    run_command, simulated_detail,
};
use super::moves::{MoveError, exec};
use crate::action::aws;
use crate::engine::items::{chosen_items as chosen, count_of, pending, protected_items, with_protection};
use crate::engine::{self, Command, Intent, ItemChoice, Outcome, StepLine};
use crate::playbook::model::ActionStep;
use crate::playbook::raw::Confirm;

/// A `for_each` step as the driver hands it over.
#[derive(Debug, Clone, Copy)]
pub struct ItemsStep<'a> {
    pub id: &'a str,
    pub index: usize,
    pub action: &'a ActionStep,
    /// What the responder typed to confirm (`3 access keys`), if given.
    pub typed: Option<&'a str>,
    /// The items chosen and left out; empty means every item still to act on.
    pub choice: &'a ItemChoice,
    /// The step's timeout (commands).
    pub timeout: Option<Duration>,
}

/// Why a step's items cannot be worked out, as the stop says it.
fn not_rendered(id: &str, why: &engine::RenderError) -> MoveError {
    MoveError::StepFailed {
        step: id.to_owned(),
        error: format!("the action cannot be rendered: {why}"),
    }
}

/// The items of the step, each rendered: what will be called for it.
pub fn intents(session: &Session, id: &str, index: usize) -> Result<Vec<Intent>, MoveError> {
    engine::render_item_intents(&session.playbook, &session.state, index, &session.env())
        .map_err(|why| not_rendered(id, &why))
}

/// How many items the step's list holds now.
fn item_count(session: &Session, id: &str, index: usize) -> Result<usize, MoveError> {
    engine::item_list(&session.playbook, &session.state, index)
        .map(<[_]>::len)
        .map_err(|why| not_rendered(id, &why))
}

/// What an item's intent acts on, in a few words.
fn target_text(intent: &Intent) -> String {
    match intent {
        Intent::Aws { api, target, .. } => format!("{api} on {}", target.as_deref().unwrap_or("?")),
        Intent::Command { argv, .. } => serde_json::to_string(argv).unwrap_or_default(),
        Intent::Manual { items } => items.join("; "),
    }
}

/// What confirming a `for_each` step would do, as `preview` works it out once.
#[derive(Debug)]
pub struct Preview {
    /// Each item chosen with its call (and, live, its state and plan); those left out and why.
    pub text: String,
    /// Live changes only: `{"<index>": {state, plan}}`, or `{problem}`.
    pub seen: Map<String, serde_json::Value>,
    /// The responder's choice with every protected item still to act on left out (with why),
    /// unless the responder named the items to act on and it among them.
    pub choice: ItemChoice,
    /// How many items the confirmation takes.
    pub chosen: usize,
}

/// One move on a `for_each` action step.
pub fn advance(
    session: &mut Session,
    executor: &mut Executor,
    step: ItemsStep<'_>,
    report: &mut dyn FnMut(&StepLine),
) -> Result<(), MoveError> {
    let id = step.id;
    let total = item_count(session, id, step.index)?;
    if total == 0 {
        return exec(session, &Command::NothingToDo { step: id.to_owned() }, report);
    }
    let st = session.state.step(id).cloned().unwrap_or_default();
    if step.action.confirm != Confirm::None && !st.confirmed {
        return confirm(session, executor, step, report);
    }
    let acted: Vec<usize> = match (&st.chosen, step.action.confirm) {
        (Some(c), Confirm::Yes | Confirm::Typed) => c.items.clone(),
        _ => (0..total).collect(),
    };
    let outcome = |i: &usize| st.items.get(i).and_then(|r| r.outcome);
    let next = acted
        .iter()
        .find(|i| outcome(i).is_none())
        .or_else(|| acted.iter().find(|i| outcome(i) == Some(Outcome::Failed)));
    let Some(&i) = next else {
        return Err(MoveError::StepFailed {
            step: id.to_owned(),
            error: "every chosen item is settled".to_owned(),
        });
    };
    // Only the item that runs is rendered: a move on a long list stays one item's work.
    let intent = engine::render_item_intent(&session.playbook, &session.state, step.index, i, &session.env())
        .map_err(|why| not_rendered(id, &why))?;
    run_item(session, executor, step, i, &intent, report)
}

/// What confirming the items chosen will do, item by item, and each item's state as read now
/// (live changes only: `{"<index>": {state, plan}}`, or `{problem}` for an item that cannot be
/// read or changed now; such an item is shown as such, not a reason to stop: its call fails on
/// its own, named, and the other items still run).
pub fn preview(
    session: &mut Session,
    executor: &mut Executor,
    step: ItemsStep<'_>,
    report: &mut dyn FnMut(&StepLine),
) -> Result<Preview, MoveError> {
    let id = step.id;
    let intents = intents(session, id, step.index)?;
    // In a live case that changes something, the identity irp acts as is learnt first: it is
    // protected too.
    if let (Executor::Live(live), Some(intent)) = (&mut *executor, intents.first())
        && params_of(id, intent)?.is_some_and(|p| !p.op().is_read_only())
    {
        live.ensure_identity(session, report)?;
    }
    let protected = protected_items(&session.playbook, &session.state, &intents);
    let st = session.state.step(id).cloned().unwrap_or_default();
    let open = pending(&st, intents.len());
    let choice = with_protection(step.choice, &open, &protected);
    let chosen = chosen(&open, &choice);
    let now = session.now_text();
    let mut preview = String::new();
    let mut seen = Map::new();
    let live = matches!(executor, Executor::Live(_));
    let _ = writeln!(
        preview,
        "{}: {} of {} item(s) to act on",
        if live {
            "LIVE: this changes the AWS account"
        } else {
            "rehearsal: nothing outside irp is called"
        },
        chosen.len(),
        intents.len()
    );
    for &i in &chosen {
        let Some(intent) = intents.get(i) else { continue };
        let _ = writeln!(preview, "  item {i}: {}", target_text(intent));
        if let Some(why) = protected.get(&i) {
            let _ = writeln!(preview, "    {why}; named, so acted on");
        }
        if let (Executor::Live(live), Some(p)) = (&mut *executor, params_of(id, intent)?)
            && !p.op().is_read_only()
        {
            live.ensure_identity(session, report)?;
            match live.read(&p) {
                Ok(state) => match aws::plan(&p, &state, &now, id) {
                    Ok(plan) => {
                        for line in describe_plan(&plan).lines() {
                            let _ = writeln!(preview, "  {line}");
                        }
                        seen.insert(i.to_string(), json!({ "state": state, "plan": plan }));
                    }
                    Err(e) => {
                        let why = format!("cannot be changed: {e} ({})", e.hint());
                        let _ = writeln!(preview, "    {why}");
                        seen.insert(i.to_string(), json!({ "state": state, "problem": why }));
                    }
                },
                Err(e) => {
                    let why = format!("cannot be read: {e} ({})", e.hint());
                    let _ = writeln!(preview, "    {why}");
                    seen.insert(i.to_string(), json!({ "problem": why }));
                }
            }
        }
    }
    for l in &choice.left_out {
        let _ = writeln!(preview, "  item {} left out: {}", l.item, l.reason);
    }
    if choice.left_out.iter().any(|l| protected.contains_key(&l.item)) {
        let _ = writeln!(
            preview,
            "  a protected item is acted on only when named: list the items to act on under `items:`, it among them"
        );
    }
    Ok(Preview {
        text: preview.trim_end().to_owned(),
        seen,
        chosen: chosen.len(),
        choice,
    })
}

/// The confirmation of the items chosen, with each item's state as read now (live changes).
fn confirm(
    session: &mut Session,
    executor: &mut Executor,
    step: ItemsStep<'_>,
    report: &mut dyn FnMut(&StepLine),
) -> Result<(), MoveError> {
    let id = step.id;
    let Preview {
        text: preview,
        seen,
        choice,
        chosen,
    } = preview(session, executor, step, report)?;
    let word = count_of(step.action, chosen);
    let Some(typed) = step.typed else {
        let what = match step.action.confirm {
            Confirm::Typed => format!("a typed confirmation (`confirm: {word}`)"),
            _ => "a confirmation (`confirm: yes`)".to_owned(),
        };
        return Err(MoveError::MissingAnswer {
            step: id.to_owned(),
            what: format!("{what}, for these items (`items:` and `exclude:` choose them):\n{preview}"),
        });
    };
    let seen = if seen.is_empty() {
        None
    } else {
        Some(json_artifact(
            session,
            id,
            "seen.json",
            &json!({ "items": seen }),
        )?)
    };
    let cmd = Command::ConfirmAction {
        step: id.to_owned(),
        typed: Some(typed.to_owned()),
        seen,
        items: Some(choice),
    };
    exec(session, &cmd, report)
}

/// Item `i`: simulated in a rehearsal; for real in a live case, as a step that acts once is.
fn run_item(
    session: &mut Session,
    executor: &mut Executor,
    step: ItemsStep<'_>,
    i: usize,
    intent: &Intent,
    report: &mut dyn FnMut(&StepLine),
) -> Result<(), MoveError> {
    let t = Target {
        id: step.id,
        item: Some(i),
    };
    let params = params_of(step.id, intent)?;
    let now = session.now_text();
    let live = match executor {
        Executor::Rehearsal => {
            let start = Command::StartAction {
                step: step.id.to_owned(),
                item: Some(i),
                intent: intent.clone(),
                simulated: true,
                before: None,
                request: None,
            };
            exec(session, &start, report)?;
            let detail = simulated_detail(intent, params.as_ref(), &now, step.id);
            return exec(session, &finish_for(t, Outcome::Succeeded, detail), report);
        }
        Executor::Live(live) => live,
    };
    let Some(p) = params else {
        return run_command(session, t, intent, step.timeout, report);
    };
    live.ensure_identity(session, report)?;
    let seq = session.state.applied;
    let ran = if p.op().is_read_only() {
        read_evidence(session, live, t, intent, &p, report)
    } else {
        change(session, live, t, intent, &p, &now, report)
    };
    match ran {
        // Stopped before its intent was recorded (the item cannot be read, or the change cannot
        // be worked out): the item fails on its own, named, and the others still run.
        Err(MoveError::StepFailed { error, .. }) if session.state.applied == seq => {
            let start = Command::StartAction {
                step: step.id.to_owned(),
                item: Some(i),
                intent: intent.clone(),
                simulated: false,
                before: None,
                request: None,
            };
            exec(session, &start, report)?;
            exec(session, &finish_for(t, Outcome::Failed, error), report)
        }
        other => other,
    }
}

/// Settles an item whose outcome is unknown, as `actions::settle_unknown` does for a step.
pub fn settle_unknown_item(
    session: &mut Session,
    executor: &mut Executor,
    id: &str,
    answer: Option<actions::UnknownAnswer>,
    report: &mut dyn FnMut(&StepLine),
) -> Result<bool, MoveError> {
    let Some((i, intent)) = session.state.step(id).and_then(|s| {
        s.items
            .iter()
            .find(|(_, r)| r.outcome == Some(Outcome::Unknown))
            .map(|(i, r)| (*i, r.intent.clone()))
    }) else {
        return Ok(false);
    };
    let t = Target { id, item: Some(i) };
    actions::settle_unknown(session, executor, t, &intent, answer, report).map(|()| true)
}
