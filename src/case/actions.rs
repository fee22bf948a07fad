//! Running a playbook's `aws` and `command` actions for a driver, one journal entry per move.
//!
//! A live AWS change goes: read the resource (shown and stored with the confirmation) →
//! confirmation → read again (a difference voids the confirmation) → intent with the stored
//! before-state and the exact request, fsynced → the call → read back and verify → result. A
//! crash between intent and result leaves the step's outcome unknown; `settle_unknown` checks
//! it by reading the resource (or takes the responder's word) before anything else happens.
//! In a rehearsal nothing leaves irp: the journal records the calls that would have been made.

use std::time::Duration;

use serde_json::{Value, json};

use super::moves::{MoveError, exec};
use super::{CaseError, Session};
use crate::action::aws::{self, ActionError, Aws, AwsSettings, Params, Snapshot};
use crate::action::command;
use crate::action::registry::find_operation;
use crate::engine::{ArtifactRef, AwsIdentity, Command, Intent, Outcome};
use crate::engine::{StepLine, line_for};
use crate::playbook::raw::Confirm;

/// How actions run in this process.
#[derive(Debug)]
pub enum Executor {
    /// Nothing outside irp is called.
    Rehearsal,
    Live(Box<Live>),
}

#[derive(Debug)]
pub struct Live {
    aws: Aws,
    runtime: tokio::runtime::Runtime,
    /// Recorded once per session, before the first call.
    identity: Option<aws::Identity>,
}

impl Executor {
    /// Loads the AWS configuration for a live case (no call yet).
    pub fn live(settings: &AwsSettings) -> Result<Executor, String> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the AWS runtime: {e}"))?;
        let aws = runtime
            .block_on(Aws::connect(settings))
            .map_err(|e| format!("{e} ({})", e.hint()))?;
        Ok(Executor::Live(Box::new(Live {
            aws,
            runtime,
            identity: None,
        })))
    }

    pub fn is_live(&self) -> bool {
        matches!(self, Executor::Live(_))
    }
}

impl Live {
    fn block<T>(&self, f: impl std::future::Future<Output = T>) -> T {
        self.runtime.block_on(f)
    }

    /// Asks STS who the calls are made as and journals it, once per session.
    pub fn ensure_identity(
        &mut self,
        session: &mut Session,
        report: &mut dyn FnMut(&StepLine),
    ) -> Result<(), MoveError> {
        if self.identity.is_some() {
            return Ok(());
        }
        let id = self
            .block(self.aws.identity())
            .map_err(|e| MoveError::StepFailed {
                step: session.state.current_step().unwrap_or("").to_owned(),
                error: format!(
                    "cannot tell who irp would act as, so nothing was called: {e} ({})",
                    e.hint()
                ),
            })?;
        let entry = session.record_identity(AwsIdentity {
            account: id.account.clone(),
            arn: id.arn.clone(),
            user_id: id.user_id.clone(),
            region: self.aws.region.clone(),
            endpoint: self.aws.endpoint.clone(),
        })?;
        if let Some(line) = line_for(entry.seq, &entry.event) {
            report(&line);
        }
        self.identity = Some(id);
        Ok(())
    }

    pub fn read(&self, p: &Params<'_>) -> Result<Snapshot, ActionError> {
        self.block(self.aws.read_state(p))
    }

    pub fn restore(&self, p: &Params<'_>, before: &Snapshot) -> Result<aws::Applied, ActionError> {
        self.block(self.aws.restore(p, before))
    }
}

/// The answer for an action whose outcome is unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnknownAnswer {
    /// irp reads the resource and checks (AWS actions, live).
    Verify,
    /// The responder checked: the change was made.
    Done,
    /// The responder checked: it was not; the action may be confirmed and run again.
    NotDone,
}

impl UnknownAnswer {
    pub fn parse(s: &str) -> Option<UnknownAnswer> {
        match s {
            "verify" => Some(UnknownAnswer::Verify),
            "done" => Some(UnknownAnswer::Done),
            "not_done" => Some(UnknownAnswer::NotDone),
            _ => None,
        }
    }
}

pub(super) fn failed(step: &str, what: &str, e: &ActionError) -> MoveError {
    MoveError::StepFailed {
        step: step.to_owned(),
        error: format!("{what}: {e} ({})", e.hint()),
    }
}

pub(super) fn json_artifact(
    session: &Session,
    step: &str,
    ext: &str,
    v: &Value,
) -> Result<ArtifactRef, MoveError> {
    let bytes = serde_json::to_vec_pretty(v).unwrap_or_default();
    Ok(session.write_artifact(step, ext, &bytes)?)
}

/// The operation and checked parameters of an AWS intent.
pub fn params_of<'a>(step: &str, intent: &'a Intent) -> Result<Option<Params<'a>>, MoveError> {
    let Intent::Aws {
        operation, params, ..
    } = intent
    else {
        return Ok(None);
    };
    let op = find_operation(operation).ok_or_else(|| MoveError::StepFailed {
        step: step.to_owned(),
        error: format!("`{operation}` is not an operation of this irp"),
    })?;
    Params::new(op, params)
        .map(Some)
        .map_err(|e| failed(step, "the action was not run", &e))
}

/// What an action move is for: a step, and the item of a `for_each` step.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    pub id: &'a str,
    pub item: Option<usize>,
}

impl<'a> Target<'a> {
    /// A step that acts once.
    pub fn step(id: &'a str) -> Self {
        Target { id, item: None }
    }
}

/// An action step as the driver hands it over.
#[derive(Debug, Clone, Copy)]
pub struct ActionStep<'a> {
    pub id: &'a str,
    /// The step's action, rendered.
    pub intent: &'a Intent,
    pub confirm: Confirm,
    /// The responder's confirmation, if given; `None` when one is needed stops the run for it.
    pub typed: Option<&'a str>,
    /// The step's timeout (commands).
    pub timeout: Option<Duration>,
}

/// One move on an `aws` or `command` action step.
pub fn advance(
    session: &mut Session,
    executor: &mut Executor,
    step: ActionStep<'_>,
    report: &mut dyn FnMut(&StepLine),
) -> Result<(), MoveError> {
    let ActionStep {
        id,
        intent,
        confirm,
        typed,
        timeout,
    } = step;
    let confirmed = session.state.step(id).is_some_and(|s| s.confirmed);
    let params = params_of(id, intent)?;
    let need_confirm = confirm != Confirm::None && !confirmed;
    let confirmation_missing = || MoveError::MissingAnswer {
        step: id.to_owned(),
        what: match confirm {
            Confirm::Typed => format!(
                "a typed confirmation (`confirm: {}`)",
                intent.confirmation_word(id)
            ),
            _ => "a confirmation (`confirm: yes`)".to_owned(),
        },
    };
    let now = session.now_text();
    let live = match executor {
        Executor::Rehearsal => {
            if need_confirm {
                let typed = typed.ok_or_else(confirmation_missing)?;
                return exec(session, &confirm_cmd(id, typed, None), report);
            }
            let start = Command::StartAction {
                step: id.to_owned(),
                intent: intent.clone(),
                simulated: true,
                before: None,
                request: None,
                item: None,
            };
            exec(session, &start, report)?;
            let detail = simulated_detail(intent, params.as_ref(), &now, id);
            return exec(session, &finish(id, Outcome::Succeeded, detail), report);
        }
        Executor::Live(live) => live,
    };
    let Some(p) = params else {
        // A command, for real.
        if need_confirm {
            let typed = typed.ok_or_else(confirmation_missing)?;
            return exec(session, &confirm_cmd(id, typed, None), report);
        }
        return run_command(session, Target::step(id), intent, timeout, report);
    };
    live.ensure_identity(session, report)?;
    if p.op().is_read_only() {
        if need_confirm {
            let typed = typed.ok_or_else(confirmation_missing)?;
            return exec(session, &confirm_cmd(id, typed, None), report);
        }
        return read_evidence(session, live, Target::step(id), intent, &p, report);
    }
    if need_confirm {
        // What the responder confirms: the resource as it is now and the change irp will make.
        let seen = live
            .read(&p)
            .map_err(|e| failed(id, "cannot read the resource before the change", &e))?;
        let plan = aws::plan(&p, &seen, &now, id).map_err(|e| failed(id, "the change cannot be made", &e))?;
        let Some(typed) = typed else {
            // Without the answer, the stop shows what would be confirmed: the calls and the diff.
            let MoveError::MissingAnswer { step, what } = confirmation_missing() else {
                return Err(confirmation_missing());
            };
            return Err(MoveError::MissingAnswer {
                step,
                what: format!("{what}, for this change:\n{}", describe_plan(&plan)),
            });
        };
        let seen_ref = json_artifact(session, id, "seen.json", &json!({ "state": seen, "plan": plan }))?;
        return exec(session, &confirm_cmd(id, typed, Some(seen_ref)), report);
    }
    change(session, live, Target::step(id), intent, &p, &now, report)
}

/// What confirming an `aws` or `command` step will do, in words, for the responder to read before
/// confirming: in a rehearsal the calls that would be made; in a live case the resource as it is
/// now and the change irp would make to it (read, never changed, here).
pub fn preview(
    session: &mut Session,
    executor: &mut Executor,
    id: &str,
    intent: &Intent,
    report: &mut dyn FnMut(&StepLine),
) -> Result<String, MoveError> {
    let params = params_of(id, intent)?;
    let now = session.now_text();
    let live = match executor {
        Executor::Rehearsal => {
            return Ok(format!(
                "rehearsal: nothing outside irp is called; the journal records that irp {}",
                simulated_detail(intent, params.as_ref(), &now, id).trim_start_matches("simulated: ")
            ));
        }
        Executor::Live(live) => live,
    };
    let Some(p) = params else {
        return Ok(format!("LIVE: runs {} on this machine", command_line(intent)));
    };
    if p.op().is_read_only() {
        return Ok(format!(
            "LIVE, read-only: calls {}; nothing is changed, the output is stored as evidence",
            aws::simulated_calls(&p, &now, id).join("; ")
        ));
    }
    live.ensure_identity(session, report)?;
    let seen = live
        .read(&p)
        .map_err(|e| failed(id, "cannot read the resource before the change", &e))?;
    let plan = aws::plan(&p, &seen, &now, id).map_err(|e| failed(id, "the change cannot be made", &e))?;
    Ok(format!(
        "LIVE: this changes the AWS account.\n{}",
        describe_plan(&plan)
    ))
}

/// The command and the names of the responder's variables it sees, as confirmed.
fn command_line(intent: &Intent) -> String {
    match intent {
        Intent::Command { argv, env } => crate::engine::event::command_words(argv, env),
        _ => String::new(),
    }
}

fn confirm_cmd(id: &str, typed: &str, seen: Option<ArtifactRef>) -> Command {
    Command::ConfirmAction {
        step: id.to_owned(),
        typed: Some(typed.to_owned()),
        seen,
        items: None,
    }
}

/// The result of an action with nothing but its outcome and detail.
pub(crate) fn finish(id: &str, outcome: Outcome, detail: String) -> Command {
    finish_for(Target::step(id), outcome, detail)
}

/// The result of an action (of one item) with nothing but its outcome and detail.
pub(crate) fn finish_for(t: Target<'_>, outcome: Outcome, detail: String) -> Command {
    Command::FinishAction {
        step: t.id.to_owned(),
        outcome,
        detail,
        after: None,
        request_ids: Vec::new(),
        verification: None,
        outputs: Vec::new(),
        item: t.item,
    }
}

/// The change as the responder reviews it before confirming: the calls, what to know, the diff.
pub fn describe_plan(plan: &aws::Plan) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    for c in &plan.calls {
        let _ = writeln!(out, "  call: {c}");
    }
    if let Some(a) = &plan.already {
        let _ = writeln!(out, "  already in place: {a}");
    }
    for n in &plan.notes {
        let _ = writeln!(out, "  note: {n}");
    }
    for line in plan.diff.lines() {
        let _ = writeln!(out, "  {line}");
    }
    out.trim_end().to_owned()
}

/// The intent of a real action (`before` and `request` for AWS changes).
pub(super) fn start_cmd(
    t: Target<'_>,
    intent: &Intent,
    before: Option<ArtifactRef>,
    request: Option<ArtifactRef>,
) -> Command {
    Command::StartAction {
        step: t.id.to_owned(),
        intent: intent.clone(),
        simulated: false,
        before,
        request,
        item: t.item,
    }
}

/// What a rehearsal records instead of calling: the exact calls, in words.
pub fn simulated_detail(intent: &Intent, params: Option<&Params<'_>>, now: &str, step: &str) -> String {
    match (intent, params) {
        (Intent::Aws { .. }, Some(p)) => format!(
            "simulated: would call {}",
            aws::simulated_calls(p, now, step).join("; ")
        ),
        (Intent::Command { argv, env }, _) => format!(
            "simulated: would run {}",
            crate::engine::event::command_words(argv, env)
        ),
        _ => crate::engine::simulated_detail(intent),
    }
}

/// A read-only operation: the output is the evidence, stored as an artifact.
pub(super) fn read_evidence(
    session: &mut Session,
    live: &Live,
    t: Target<'_>,
    intent: &Intent,
    p: &Params<'_>,
    report: &mut dyn FnMut(&StepLine),
) -> Result<(), MoveError> {
    exec(session, &start_cmd(t, intent, None, None), report)?;
    let cmd = match live.read(p) {
        Ok(state) => {
            let evidence = json_artifact(session, t.id, "evidence.json", &state)?;
            Command::FinishAction {
                step: t.id.to_owned(),
                outcome: Outcome::Succeeded,
                detail: format!("{} read; stored as evidence in {}", p.op().api, evidence.path),
                after: Some(evidence),
                request_ids: Vec::new(),
                verification: None,
                outputs: Vec::new(),
                item: t.item,
            }
        }
        Err(e) => finish_for(t, Outcome::Failed, format!("{e} ({})", e.hint())),
    };
    exec(session, &cmd, report)
}

/// The confirmed change: re-read, compare with what was confirmed, intent, call, verify.
pub(super) fn change(
    session: &mut Session,
    live: &Live,
    t: Target<'_>,
    intent: &Intent,
    p: &Params<'_>,
    now: &str,
    report: &mut dyn FnMut(&StepLine),
) -> Result<(), MoveError> {
    let before = live
        .read(p)
        .map_err(|e| failed(t.id, "cannot read the resource before the change", &e))?;
    if let Some(seen_ref) = last_seen(session, t.id) {
        let seen = read_json(session, &seen_ref)?;
        // A `for_each` step's confirmation stored each item's state under its index (none for
        // an item that could not be read then: there is nothing to compare it with).
        let seen_state = match t.item {
            Some(i) => seen.pointer(&format!("/items/{i}/state")).cloned(),
            None => Some(seen.get("state").cloned().unwrap_or(Value::Null)),
        };
        if let Some(seen_state) = seen_state
            && aws::comparable(&seen_state) != aws::comparable(&before)
        {
            let difference = aws::state_diff(&seen_state, &before);
            let now_ref = json_artifact(session, t.id, "now.json", &before)?;
            let cmd = Command::Conflict {
                step: t.id.to_owned(),
                seen: Some(seen_ref),
                now: now_ref,
                difference: difference.clone(),
                item: t.item,
            };
            exec(session, &cmd, report)?;
            return Err(MoveError::Conflict {
                step: t.id.to_owned(),
                difference,
            });
        }
    }
    let plan = aws::plan(p, &before, now, t.id).map_err(|e| failed(t.id, "the change cannot be made", &e))?;
    let before_ref = json_artifact(session, t.id, "before.json", &before)?;
    let request_ref = json_artifact(
        session,
        t.id,
        "request.json",
        &serde_json::to_value(&plan).unwrap_or(Value::Null),
    )?;
    exec(
        session,
        &start_cmd(t, intent, Some(before_ref), Some(request_ref)),
        report,
    )?;
    let applied = match &plan.already {
        Some(why) => Ok(aws::Applied {
            request_ids: Vec::new(),
            calls: vec![format!("nothing called: {why}")],
        }),
        None => live.block(live.aws.apply(p, &plan)),
    };
    let applied = match applied {
        Ok(a) => a,
        Err(e) => {
            let cmd = finish_for(t, Outcome::Failed, format!("{e} ({})", e.hint()));
            return exec(session, &cmd, report);
        }
    };
    let cmd = match live.read(p) {
        Ok(after) => {
            let after_ref = json_artifact(session, t.id, "after.json", &after)?;
            let (outcome, verification) = match aws::check_applied(p, &plan.request, Some(&before), &after) {
                Ok(v) => (Outcome::Succeeded, v),
                Err(v) => (
                    Outcome::Failed,
                    format!("the call returned but the change is not in place: {v}"),
                ),
            };
            Command::FinishAction {
                step: t.id.to_owned(),
                outcome,
                detail: format!("{}; verified: {verification}", applied.calls.join("; ")),
                after: Some(after_ref),
                request_ids: applied.request_ids,
                verification: Some(verification),
                outputs: Vec::new(),
                item: t.item,
            }
        }
        Err(e) => Command::FinishAction {
            step: t.id.to_owned(),
            outcome: Outcome::Unknown,
            detail: format!(
                "{} returned, but reading the resource back failed ({e}); verify it",
                applied.calls.join("; ")
            ),
            after: None,
            request_ids: applied.request_ids,
            verification: None,
            outputs: Vec::new(),
            item: t.item,
        },
    };
    exec(session, &cmd, report)
}

pub(super) fn run_command(
    session: &mut Session,
    t: Target<'_>,
    intent: &Intent,
    timeout: Option<Duration>,
    report: &mut dyn FnMut(&StepLine),
) -> Result<(), MoveError> {
    let Intent::Command { argv, env } = intent else {
        return Ok(());
    };
    exec(session, &start_cmd(t, intent, None, None), report)?;
    let cmd = match command::run(argv, env, timeout.unwrap_or(command::DEFAULT_TIMEOUT)) {
        Ok(ran) => {
            let stdout = session.write_artifact(t.id, "stdout", &ran.stdout)?;
            let stderr = session.write_artifact(t.id, "stderr", &ran.stderr)?;
            Command::FinishAction {
                step: t.id.to_owned(),
                outcome: if ran.succeeded() {
                    Outcome::Succeeded
                } else {
                    Outcome::Failed
                },
                detail: ran.summary(),
                after: None,
                request_ids: Vec::new(),
                verification: None,
                outputs: vec![stdout, stderr],
                item: t.item,
            }
        }
        Err(e) => finish_for(t, Outcome::Failed, e),
    };
    exec(session, &cmd, report)
}

/// Settles an action whose outcome is unknown: irp reads the resource (`verify`), or takes the
/// responder's word.
pub fn settle_unknown(
    session: &mut Session,
    executor: &mut Executor,
    t: Target<'_>,
    intent: &Intent,
    answer: Option<UnknownAnswer>,
    report: &mut dyn FnMut(&StepLine),
) -> Result<(), MoveError> {
    let what = match intent {
        Intent::Aws { api, target, .. } => format!("{api} on {}", target.as_deref().unwrap_or("?")),
        Intent::Command { argv, .. } => serde_json::to_string(argv).unwrap_or_default(),
        Intent::Manual { .. } => "the checklist".to_owned(),
    };
    let Some(answer) = answer else {
        return Err(MoveError::MissingAnswer {
            step: t.id.to_owned(),
            what: format!(
                "the outcome of {what} is unknown (irp stopped between recording the intent and the result): answer `unknown: verify` to have irp read the resource and check{}, or `unknown: done` / `unknown: not_done` after checking yourself",
                if matches!(intent, Intent::Aws { .. }) {
                    ""
                } else {
                    " (AWS actions only)"
                }
            ),
        });
    };
    let cmd = match answer {
        UnknownAnswer::Done | UnknownAnswer::NotDone => Command::VerifyAction {
            step: t.id.to_owned(),
            method: "responder".to_owned(),
            in_place: answer == UnknownAnswer::Done,
            detail: format!(
                "the responder checked: {what} {}",
                if answer == UnknownAnswer::Done {
                    "was made"
                } else {
                    "was not made"
                }
            ),
            after: None,
            item: t.item,
        },
        UnknownAnswer::Verify => {
            let (Some(p), Executor::Live(live)) = (params_of(t.id, intent)?, executor) else {
                return Err(MoveError::StepFailed {
                    step: t.id.to_owned(),
                    error: "`unknown: verify` reads the resource, which needs a live AWS action and `--live`; check yourself and answer `done` or `not_done`".to_owned(),
                });
            };
            live.ensure_identity(session, report)?;
            let (before, request) = last_intent_artifacts(session, t)?;
            let now = live
                .read(&p)
                .map_err(|e| failed(t.id, "cannot read the resource to verify", &e))?;
            let after = json_artifact(session, t.id, "verify.json", &now)?;
            let planned = request.get("request").cloned().unwrap_or(Value::Null);
            let (in_place, detail) = match aws::check_applied(&p, &planned, before.as_ref(), &now) {
                Ok(v) => (true, format!("read back: {v}")),
                Err(v) => (false, format!("read back: {v}; the change was not made")),
            };
            Command::VerifyAction {
                step: t.id.to_owned(),
                method: "read".to_owned(),
                in_place,
                detail,
                after: Some(after),
                item: t.item,
            }
        }
    };
    exec(session, &cmd, report)
}

/// The state the responder saw at the step's last confirmation, if it stored one.
fn last_seen(session: &Session, id: &str) -> Option<ArtifactRef> {
    session.state.step(id)?.seen.clone()
}

/// The before-state and the request of the step's last intent.
fn last_intent_artifacts(session: &Session, t: Target<'_>) -> Result<(Option<Snapshot>, Value), MoveError> {
    let Some(run) = session.state.step(t.id).and_then(|s| s.run(t.item)) else {
        return Ok((None, Value::Null));
    };
    let before = run.before.as_ref().map(|r| read_json(session, r)).transpose()?;
    let request = run
        .request
        .as_ref()
        .map(|r| read_json(session, r))
        .transpose()?
        .unwrap_or(Value::Null);
    Ok((before, request))
}

/// A JSON artifact of the case, checked against the hash its entry recorded.
pub fn read_json(session: &Session, r: &ArtifactRef) -> Result<Value, MoveError> {
    let bytes = session.read_artifact(r)?;
    serde_json::from_slice(&bytes).map_err(|e| {
        MoveError::Case(CaseError::Io {
            what: "cannot parse",
            path: session.dir.path(&r.path),
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
        })
    })
}

/// A rollback worked out and ready for its confirmation.
#[derive(Debug, Clone)]
pub struct RollbackPlan {
    pub step: String,
    /// The item of a `for_each` step.
    pub item: Option<usize>,
    pub operation: String,
    /// The resource; the responder types it to confirm.
    pub target: String,
    /// The calls, in words.
    pub calls: Vec<String>,
    /// How the resource differs from what the action left, when someone changed it since.
    pub changed_since: Option<String>,
    intent: Intent,
    restore: Option<ArtifactRef>,
    before: Option<Snapshot>,
    current: Option<Snapshot>,
}

/// What the last action of `step` left, for a rollback: its intent, stored before-state and
/// the state it left (`after`), if it changed the account (or was simulated as doing so).
fn rollback_source(
    session: &Session,
    step: &str,
    item: Option<usize>,
) -> Result<(Intent, Option<ArtifactRef>, Option<ArtifactRef>), String> {
    let for_each = session
        .playbook
        .step(step)
        .is_some_and(|s| matches!(&s.kind, crate::playbook::model::StepKind::Action(a) if a.runs_per_item()));
    let st = session.state.step(step);
    match (for_each, item) {
        (true, None) => {
            let done: Vec<String> = st
                .map(|s| {
                    s.items
                        .iter()
                        .filter(|(_, r)| r.in_place.is_some() && !r.undone)
                        .map(|(i, _)| i.to_string())
                        .collect()
                })
                .unwrap_or_default();
            return Err(format!(
                "it runs once per item: name one with `--item N` (items in place: {})",
                if done.is_empty() {
                    "none".to_owned()
                } else {
                    done.join(", ")
                }
            ));
        }
        (false, Some(_)) => return Err("it acts once: it has no items, drop `--item`".to_owned()),
        _ => {}
    }
    let Some(run) = st.and_then(|s| s.run(item)) else {
        return Err(match item {
            Some(i) => format!("its item {i} never ran"),
            None => "its action never ran".to_owned(),
        });
    };
    let seq = run.started;
    let Some(in_place) = &run.in_place else {
        return Err(format!(
            "its action (entry {seq}) did not succeed, so there is nothing to undo"
        ));
    };
    if run.undone {
        return Err(format!("its action (entry {seq}) was rolled back already"));
    }
    if let Intent::Aws { operation, .. } = &run.intent {
        if find_operation(operation).is_some_and(crate::action::AwsOperation::is_read_only) {
            return Err(format!("`{operation}` only reads; it changed nothing"));
        }
    } else {
        return Err("only AWS actions can be rolled back".to_owned());
    }
    if !run.simulated && run.before.is_none() {
        return Err(format!("its action (entry {seq}) stored no before-state"));
    }
    Ok((run.intent.clone(), run.before.clone(), in_place.after.clone()))
}

/// Works out the rollback of `step`'s last action: reads the resource now (live) and compares it
/// with what the action left. Nothing is recorded or changed.
pub fn prepare_rollback(
    session: &mut Session,
    executor: &mut Executor,
    step: &str,
    item: Option<usize>,
    report: &mut dyn FnMut(&StepLine),
) -> Result<RollbackPlan, MoveError> {
    let nothing = |why: String| {
        MoveError::Case(CaseError::Engine(crate::engine::EngineError::NothingToRollBack {
            step: step.to_owned(),
            why,
        }))
    };
    let (intent, restore, after) = rollback_source(session, step, item).map_err(nothing)?;
    let p =
        params_of(step, &intent)?.ok_or_else(|| nothing("only AWS actions can be rolled back".to_owned()))?;
    let op = p.op();
    let mut plan = RollbackPlan {
        step: step.to_owned(),
        item,
        operation: op.name.to_owned(),
        target: p.target(),
        calls: vec![op.rollback.unwrap_or("—").to_owned()],
        changed_since: None,
        intent: intent.clone(),
        restore: restore.clone(),
        before: None,
        current: None,
    };
    let Executor::Live(live) = executor else {
        return Ok(plan);
    };
    live.ensure_identity(session, report)?;
    let before = match &restore {
        Some(r) => read_json(session, r)?,
        None => return Err(nothing("its action stored no before-state".to_owned())),
    };
    let current = live
        .read(&p)
        .map_err(|e| failed(step, "cannot read the resource before the rollback", &e))?;
    if let Some(after) = after.as_ref().map(|r| read_json(session, r)).transpose()?
        && aws::comparable(&after) != aws::comparable(&current)
    {
        plan.changed_since = Some(aws::state_diff(&after, &current));
    }
    plan.before = Some(before);
    plan.current = Some(current);
    Ok(plan)
}

/// Runs a prepared rollback: the confirmed intent is recorded first, then the before-state is
/// put back, read back and compared.
pub fn run_rollback(
    session: &mut Session,
    executor: &mut Executor,
    plan: &RollbackPlan,
    typed: &str,
    overwrite_changes: bool,
    report: &mut dyn FnMut(&StepLine),
) -> Result<(), MoveError> {
    let id = plan.step.as_str();
    if let Some(diff) = &plan.changed_since
        && !overwrite_changes
    {
        return Err(MoveError::Conflict {
            step: id.to_owned(),
            difference: format!(
                "the resource changed since the action; putting the before-state back would undo that too:\n{diff}"
            ),
        });
    }
    // A rollback cut short by a crash is recorded as such before it runs again.
    if let Some(st) = session.state.step(id).filter(|s| s.rollback_in_flight) {
        // The item whose rollback was cut short (none for a step that acts once).
        let cut = st
            .items
            .iter()
            .find(|(_, r)| r.rollback.as_ref().is_some_and(|rb| rb.finished.is_none()))
            .map(|(i, _)| *i);
        let cmd = Command::FinishRollback {
            step: id.to_owned(),
            outcome: Outcome::Unknown,
            detail: "irp stopped during the rollback; it runs again now".to_owned(),
            after: None,
            request_ids: Vec::new(),
            item: cut,
        };
        exec(session, &cmd, report)?;
    }
    let current = match &plan.current {
        Some(c) => Some(json_artifact(session, id, "rollback-current.json", c)?),
        None => None,
    };
    let live = executor.is_live();
    let start = Command::StartRollback(crate::engine::RollbackStarted {
        step: id.to_owned(),
        operation: plan.operation.clone(),
        target: plan.target.clone(),
        typed: typed.to_owned(),
        restore: plan.restore.clone(),
        current,
        calls: plan.calls.clone(),
        overwrites_changes: plan.changed_since.is_some(),
        simulated: !live,
        item: plan.item,
    });
    exec(session, &start, report)?;
    let Executor::Live(live) = executor else {
        let cmd = Command::FinishRollback {
            step: id.to_owned(),
            outcome: Outcome::Succeeded,
            detail: format!("simulated: would call {}", plan.calls.join("; ")),
            after: None,
            request_ids: Vec::new(),
            item: plan.item,
        };
        return exec(session, &cmd, report);
    };
    let p = params_of(id, &plan.intent)?.ok_or_else(|| MoveError::StepFailed {
        step: id.to_owned(),
        error: "not an AWS action".to_owned(),
    })?;
    let before = plan.before.clone().unwrap_or(Value::Null);
    let cmd = match live.restore(&p, &before) {
        Err(e) => Command::FinishRollback {
            step: id.to_owned(),
            outcome: Outcome::Failed,
            detail: format!("{e} ({})", e.hint()),
            after: None,
            request_ids: Vec::new(),
            item: plan.item,
        },
        Ok(applied) => match live.read(&p) {
            Ok(after) => {
                let after_ref = json_artifact(session, id, "rollback-after.json", &after)?;
                let (outcome, check) = match aws::check_restored(&p, &before, &after) {
                    Ok(v) => (Outcome::Succeeded, v),
                    Err(v) => (Outcome::Failed, v),
                };
                Command::FinishRollback {
                    step: id.to_owned(),
                    outcome,
                    detail: format!("{}; verified: {check}", applied.calls.join("; ")),
                    after: Some(after_ref),
                    request_ids: applied.request_ids,
                    item: plan.item,
                }
            }
            Err(e) => Command::FinishRollback {
                step: id.to_owned(),
                outcome: Outcome::Unknown,
                detail: format!(
                    "{} returned, but reading the resource back failed ({e})",
                    applied.calls.join("; ")
                ),
                after: None,
                request_ids: applied.request_ids,
                item: plan.item,
            },
        },
    };
    exec(session, &cmd, report)
}
