//! Action steps that run once per item of a list capture (`for_each`). Each item has its own
//! intent, call, result, verification and rollback; the confirmation covers the items the
//! responder chose, and names those left out with a reason. The step is settled when every
//! chosen item is: it moves on when all are in place, and follows `on_failure` when one failed.
//! One item runs at a time, so a process killed mid-step leaves at most one outcome unknown.

use std::collections::{BTreeMap, BTreeSet};

use super::context::{RenderError, item_list, render_item_intent, render_item_intents};
use super::event::{ActionConfirmed, ActionConflict, ActionFinished, ActionStarted, ActionVerified, Chosen};
use super::state::{State, StepState};
use super::{Command, EngineError, Env, Event, Intent, ItemChoice, Outcome};
use crate::playbook::model::{ActionKind, ActionStep, Playbook, Step};
use crate::playbook::raw::Confirm;

/// What a step's items are called: `3 access keys`, `1 bucket` (the resource the operation
/// changes), `2 commands`.
pub fn count_of(a: &ActionStep, n: usize) -> String {
    let (one, many) = match &a.kind {
        ActionKind::Aws { op, .. } => op.param(op.target).map_or(("item", "items"), |p| p.kind.noun()),
        ActionKind::Command { .. } => ("command", "commands"),
        ActionKind::Manual { .. } => ("item", "items"),
    };
    format!("{n} {}", if n == 1 { one } else { many })
}

/// A principal a `for_each` confirmation leaves out unless its item is named: the identity irp
/// acts as, and the values of `protected` inputs.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Protected {
    /// The names it goes by: as given, and the user or role name of an ARN.
    names: Vec<String>,
    why: String,
}

/// The names a principal goes by: the value, and for an IAM user or role ARN its name (an
/// assumed-role session's ARN gives its role).
fn principal_names(value: &str) -> Vec<String> {
    let mut names = vec![value.to_owned()];
    let resource = value
        .strip_prefix("arn:")
        .and_then(|rest| rest.splitn(5, ':').nth(4));
    if let Some(resource) = resource {
        let parts: Vec<&str> = resource.split('/').collect();
        let name = match parts.as_slice() {
            ["assumed-role", role, ..] => Some(*role),
            ["user" | "role", .., last] => Some(*last),
            _ => None,
        };
        names.extend(name.filter(|n| !n.is_empty()).map(str::to_owned));
    }
    names
}

/// Every protected principal of the case.
fn protected_principals(pb: &Playbook, state: &State) -> Vec<Protected> {
    let mut out = Vec::new();
    if let Some(arn) = &state.aws_identity {
        out.push(Protected {
            names: principal_names(arn),
            why: format!("the identity irp acts as ({arn})"),
        });
    }
    let inputs = state.opened.as_ref().map(|o| &o.inputs);
    for (name, spec) in pb.inputs.iter().filter(|(_, s)| s.protected) {
        let value = inputs.and_then(|i| i.get(name)).or(spec.default.as_ref());
        let values: Vec<&str> = match value {
            Some(serde_json::Value::String(s)) => vec![s.as_str()],
            Some(serde_json::Value::Array(a)) => a.iter().filter_map(serde_json::Value::as_str).collect(),
            _ => Vec::new(),
        };
        for v in values.into_iter().map(str::trim).filter(|v| !v.is_empty()) {
            out.push(Protected {
                names: principal_names(v),
                why: format!("named in input `{name}`"),
            });
        }
    }
    out
}

/// The items whose call would act on a protected principal, each with why: a parameter (or an
/// argument) that names one. A confirmation leaves them out unless it names them.
pub fn protected_items(pb: &Playbook, state: &State, intents: &[Intent]) -> BTreeMap<usize, String> {
    let protected = protected_principals(pb, state);
    let mut out = BTreeMap::new();
    if protected.is_empty() {
        return out;
    }
    for (i, intent) in intents.iter().enumerate() {
        let values: Vec<&str> = match intent {
            Intent::Aws { params, .. } => params.values().filter_map(serde_json::Value::as_str).collect(),
            Intent::Command { argv, .. } => argv.iter().skip(1).map(String::as_str).collect(),
            Intent::Manual { .. } => Vec::new(),
        };
        let hit = values.iter().find_map(|v| {
            let names = principal_names(v);
            protected
                .iter()
                .find(|p| p.names.iter().any(|n| names.contains(n)))
                .map(|p| format!("protected: `{v}` is {}", p.why))
        });
        if let Some(why) = hit {
            out.insert(i, why);
        }
    }
    out
}

/// `choice` as a confirmation sends it: every protected item still to act on (`open`) that the
/// responder neither named among the items nor left out is left out, with why.
pub fn with_protection(
    choice: &ItemChoice,
    open: &[usize],
    protected: &BTreeMap<usize, String>,
) -> ItemChoice {
    let mut choice = choice.clone();
    for (i, why) in protected {
        let named = choice.chosen.contains(i) || choice.left_out.iter().any(|l| l.item == *i);
        if open.contains(i) && !named {
            choice.left_out.push(super::LeftOut {
                item: *i,
                reason: why.clone(),
            });
        }
    }
    choice.left_out.sort_by_key(|l| l.item);
    choice
}

/// The items a confirmation takes, as the engine judges them: every item still to act on less
/// those left out, or the list given.
pub fn chosen_items(open: &[usize], choice: &ItemChoice) -> Vec<usize> {
    if choice.chosen.is_empty() {
        open.iter()
            .copied()
            .filter(|i| !choice.left_out.iter().any(|l| l.item == *i))
            .collect()
    } else {
        choice.chosen.clone()
    }
}

/// The items a confirmation may choose from: those not yet in place.
pub fn pending(st: &StepState, total: usize) -> Vec<usize> {
    (0..total).filter(|i| !st.item_done(*i)).collect()
}

/// The items the step acts on: the confirmed ones, or every item when no confirmation is needed.
fn acted_on(a: &ActionStep, st: &StepState, total: usize) -> BTreeSet<usize> {
    match (&st.chosen, a.confirm) {
        (_, Confirm::None) => (0..total).collect(),
        (Some(c), _) => c.items.iter().copied().collect(),
        (None, _) => BTreeSet::new(),
    }
}

/// A step of a case at `index`, with its action.
#[allow(missing_debug_implementations)] // borrowed views, built and dropped within `decide`
pub struct ItemStep<'a> {
    pub pb: &'a Playbook,
    pub state: &'a State,
    pub index: usize,
    pub step: &'a Step,
    pub action: &'a ActionStep,
    pub st: &'a StepState,
    pub env: &'a Env,
    /// Where the case goes when the step is settled with every item in place.
    pub next: Option<String>,
    /// Where a failure sends it: (next, stay).
    pub on_failure: (Option<String>, bool),
}

impl ItemStep<'_> {
    fn id(&self) -> String {
        self.step.id.clone()
    }

    fn template(&self, why: RenderError) -> EngineError {
        EngineError::Template { step: self.id(), why }
    }

    fn list_len(&self) -> Result<usize, EngineError> {
        item_list(self.pb, self.state, self.index)
            .map(<[_]>::len)
            .map_err(|why| self.template(why))
    }

    fn item(&self, item: Option<usize>) -> Result<usize, EngineError> {
        let i = item.ok_or_else(|| EngineError::ItemRequired(self.id()))?;
        let total = self.list_len()?;
        if i >= total {
            return Err(EngineError::NoListItem {
                step: self.id(),
                item: i,
                total,
            });
        }
        Ok(i)
    }

    /// Where the case goes once `item` ends with `outcome`: on when every item acted on is in
    /// place, by `on_failure` when all are settled and one is not, nowhere while items remain.
    fn after(&self, item: usize, outcome: Outcome) -> Result<(Option<String>, bool), EngineError> {
        if outcome == Outcome::Unknown {
            return Ok((None, true));
        }
        let total = self.list_len()?;
        let acted = acted_on(self.action, self.st, total);
        let outcome_of = |i: usize| {
            if i == item {
                Some(outcome)
            } else {
                self.st.items.get(&i).and_then(|r| r.outcome)
            }
        };
        if acted
            .iter()
            .any(|i| outcome_of(*i).is_none() || outcome_of(*i) == Some(Outcome::Unknown))
        {
            return Ok((None, true));
        }
        if acted.iter().all(|i| outcome_of(*i) == Some(Outcome::Succeeded)) {
            Ok((self.next.clone(), false))
        } else {
            Ok(self.on_failure.clone())
        }
    }

    pub fn decide(&self, cmd: &Command) -> Result<Event, EngineError> {
        let id = self.id();
        let st = self.st;
        match cmd {
            Command::NothingToDo { .. } => {
                if self.list_len()? > 0 {
                    return Err(EngineError::ItemsToDo(id));
                }
                Ok(Event::ActionNothingToDo {
                    step: id,
                    list: self.action.for_each.clone().unwrap_or_default(),
                    next: self.next.clone(),
                })
            }
            Command::ConfirmAction {
                typed, seen, items, ..
            } => {
                if st.action_in_flight().is_some() {
                    return Err(EngineError::ActionInFlight(id));
                }
                if st.items.values().any(|r| r.outcome == Some(Outcome::Unknown)) {
                    return Err(EngineError::OutcomeUnknown(id));
                }
                let total = self.list_len()?;
                let open = pending(st, total);
                if st.confirmed
                    && open
                        .iter()
                        .any(|i| st.chosen.as_ref().is_some_and(|c| c.items.contains(i)))
                {
                    return Err(EngineError::AlreadyConfirmed(id));
                }
                if open.is_empty() {
                    return Err(EngineError::ActionDone(id));
                }
                let chosen = self.choose(&open, items.as_ref())?;
                self.check_protected(&chosen, items.as_ref())?;
                let confirmation = match self.action.confirm {
                    Confirm::None => return Err(EngineError::NoConfirmationNeeded(id)),
                    Confirm::Yes => "yes",
                    Confirm::Typed => {
                        let expected = count_of(self.action, chosen.items.len());
                        if typed.as_deref().map(str::trim) != Some(expected.as_str()) {
                            return Err(EngineError::ConfirmationMismatch { step: id, expected });
                        }
                        "typed"
                    }
                };
                Ok(Event::ActionConfirmed(ActionConfirmed {
                    step: id,
                    confirmation: confirmation.to_owned(),
                    typed: typed.clone().filter(|_| confirmation == "typed"),
                    seen: seen.clone(),
                    items: Some(Chosen { total, ..chosen }),
                }))
            }
            Command::StartAction {
                item,
                intent,
                simulated,
                before,
                request,
                ..
            } => {
                let i = self.item(*item)?;
                if st.action_in_flight().is_some() {
                    return Err(EngineError::ActionInFlight(id));
                }
                match st.items.get(&i).and_then(|r| r.outcome) {
                    Some(Outcome::Succeeded) => return Err(EngineError::ActionDone(id)),
                    Some(Outcome::Unknown) => return Err(EngineError::OutcomeUnknown(id)),
                    _ => {}
                }
                if self.action.confirm != Confirm::None {
                    if !st.confirmed {
                        return Err(EngineError::NotConfirmed(id));
                    }
                    if !st.chosen.as_ref().is_some_and(|c| c.items.contains(&i)) {
                        return Err(EngineError::ItemNotChosen { step: id, item: i });
                    }
                }
                let expected = render_item_intent(self.pb, self.state, self.index, i, self.env)
                    .map_err(|why| self.template(why))?;
                if *intent != expected {
                    return Err(EngineError::IntentMismatch(id));
                }
                if *simulated == self.state.is_live() {
                    return Err(EngineError::WrongMode {
                        step: id,
                        live: self.state.is_live(),
                    });
                }
                Ok(Event::ActionStarted(ActionStarted {
                    step: id,
                    item: Some(i),
                    intent: intent.clone(),
                    simulated: *simulated,
                    before: before.clone(),
                    request: request.clone(),
                }))
            }
            Command::FinishAction {
                item,
                outcome,
                detail,
                after,
                request_ids,
                verification,
                outputs,
                ..
            } => {
                let i = self.item(*item)?;
                if st.item_in_flight() != Some(i) {
                    return Err(EngineError::ActionNotStarted(id));
                }
                let (next, stay) = self.after(i, *outcome)?;
                Ok(Event::ActionFinished(ActionFinished {
                    step: id,
                    item: Some(i),
                    outcome: *outcome,
                    detail: detail.clone(),
                    simulated: !self.state.is_live(),
                    after: after.clone(),
                    next,
                    stay,
                    request_ids: request_ids.clone(),
                    verification: verification.clone(),
                    outputs: outputs.clone(),
                }))
            }
            Command::Conflict {
                item,
                seen,
                now,
                difference,
                ..
            } => {
                let i = self.item(*item)?;
                if !st.confirmed || st.action_in_flight().is_some() {
                    return Err(EngineError::NotConfirmed(id));
                }
                Ok(Event::ActionConflict(ActionConflict {
                    step: id,
                    item: Some(i),
                    seen: seen.clone(),
                    now: now.clone(),
                    difference: difference.clone(),
                }))
            }
            Command::VerifyAction {
                item,
                method,
                in_place,
                detail,
                after,
                ..
            } => {
                let i = self.item(*item)?;
                if st.items.get(&i).and_then(|r| r.outcome) != Some(Outcome::Unknown) {
                    return Err(EngineError::OutcomeKnown(id));
                }
                if method != "read" && method != "responder" {
                    return Err(EngineError::Empty("verification method (`read` or `responder`)"));
                }
                let outcome = if *in_place {
                    Outcome::Succeeded
                } else {
                    Outcome::Failed
                };
                let (next, stay) = self.after(i, outcome)?;
                Ok(Event::ActionVerified(ActionVerified {
                    step: id,
                    item: Some(i),
                    method: method.clone(),
                    in_place: *in_place,
                    detail: detail.clone(),
                    after: after.clone(),
                    next,
                    stay,
                }))
            }
            _ => Err(EngineError::WrongKind {
                step: id,
                kind: "action",
                expected: "action",
                what: "this command",
            }),
        }
    }

    /// The items a confirmation covers: every open item by default; a choice must name each open
    /// item once, chosen or left out with a reason, and choose at least one.
    /// A confirmation that lets the items run by default (no list named) must leave every
    /// protected item out: acting on one takes naming it.
    fn check_protected(&self, chosen: &Chosen, choice: Option<&ItemChoice>) -> Result<(), EngineError> {
        if choice.is_some_and(|c| !c.chosen.is_empty()) {
            return Ok(());
        }
        let intents = render_item_intents(self.pb, self.state, self.index, self.env)
            .map_err(|why| self.template(why))?;
        let protected = protected_items(self.pb, self.state, &intents);
        match chosen
            .items
            .iter()
            .find_map(|i| protected.get(i).map(|why| (i, why)))
        {
            Some((i, why)) => Err(EngineError::BadChoice {
                step: self.id(),
                why: format!(
                    "item {i} is {why}: leave it out with a reason, or name the items to act on, it among them"
                ),
            }),
            None => Ok(()),
        }
    }

    fn choose(&self, open: &[usize], choice: Option<&ItemChoice>) -> Result<Chosen, EngineError> {
        let id = self.id();
        let Some(choice) = choice.filter(|c| !c.chosen.is_empty() || !c.left_out.is_empty()) else {
            return Ok(Chosen {
                total: 0,
                items: open.to_vec(),
                left_out: Vec::new(),
            });
        };
        let mut seen = BTreeSet::new();
        let named = choice
            .chosen
            .iter()
            .chain(choice.left_out.iter().map(|l| &l.item));
        for i in named {
            if !open.contains(i) {
                return Err(EngineError::BadChoice {
                    step: id,
                    why: format!("item {i} is not one still to act on (those are {open:?})"),
                });
            }
            if !seen.insert(*i) {
                return Err(EngineError::BadChoice {
                    step: id,
                    why: format!("item {i} is named twice"),
                });
            }
        }
        if let Some(l) = choice.left_out.iter().find(|l| l.reason.trim().is_empty()) {
            return Err(EngineError::BadChoice {
                step: id,
                why: format!("item {} is left out without a reason", l.item),
            });
        }
        let chosen: Vec<usize> = if choice.chosen.is_empty() {
            open.iter().copied().filter(|i| !seen.contains(i)).collect()
        } else {
            if let Some(i) = open.iter().find(|i| !seen.contains(i)) {
                return Err(EngineError::BadChoice {
                    step: id,
                    why: format!("item {i} is neither chosen nor left out with a reason"),
                });
            }
            let mut c = choice.chosen.clone();
            c.sort_unstable();
            c
        };
        if chosen.is_empty() {
            return Err(EngineError::BadChoice {
                step: id,
                why: "no item is chosen; to act on none, skip the step with a reason".to_owned(),
            });
        }
        Ok(Chosen {
            total: 0,
            items: chosen,
            left_out: choice.left_out.clone(),
        })
    }
}
