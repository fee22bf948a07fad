//! The report's sections, each worked out by a small observer of the journal. `build` folds the
//! entries into the engine's `State` once and shows each entry, with the state after it, to every
//! observer; what a step's runs were (its query, its action, its rollback) is the state's, never
//! kept again here.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::{
    Deviation, Ioc, Milestone, Participant, SessionItem, TimelineItem, action_detail, at_text, csf_of,
    is_containment, is_recovery, milestone, query_detail, rollback_detail,
};
use crate::engine::{ActionStarted, Event, Outcome, RollbackStarted, State, Visit, VisitClock};
use crate::journal::Entry;
use crate::playbook::model::{Playbook, StepKind};

/// The stage a step belongs to, by id.
pub(super) fn stage_of(pb: &Playbook, step: &str) -> Option<String> {
    pb.step(step).map(|s| pb.stages[s.stage].id.clone())
}

/// Who took part, the processes that worked on the case, the playbook versions accepted.
#[derive(Debug, Default)]
pub(super) struct People {
    pub participants: BTreeMap<String, Participant>,
    pub sessions: Vec<SessionItem>,
    pub changes: Vec<String>,
}

impl People {
    pub fn observe(&mut self, e: &Entry) {
        let p = self
            .participants
            .entry(e.actor.clone())
            .or_insert_with(|| Participant {
                actor: e.actor.clone(),
                entries: 0,
                first: at_text(e.at),
                last: at_text(e.at),
                roles: Vec::new(),
            });
        p.entries += 1;
        p.last = at_text(e.at);
        match &e.event {
            Event::SessionStarted(s) => self.sessions.push(SessionItem {
                seq: e.seq,
                at: at_text(e.at),
                actor: e.actor.clone(),
                command: s.command.clone(),
                host: s.host.clone(),
                irp: s.irp.clone(),
            }),
            Event::PlaybookChanged(c) => self.changes.push(c.version.clone()),
            _ => {}
        }
    }
}

/// Time on steps: every visit of every step.
#[derive(Debug, Default)]
pub(super) struct Visits {
    clock: VisitClock,
    by_step: BTreeMap<String, Vec<Visit>>,
}

impl Visits {
    pub fn observe(&mut self, state: &State, e: &Entry) {
        if let Some(v) = self.clock.observe(state, e.at) {
            self.by_step.entry(v.step.clone()).or_default().push(v);
        }
    }

    /// The visits by step; the visit under way runs to `last` (the case still stands on that
    /// step, or was closed on it).
    pub fn finish(mut self, last: DateTime<Utc>) -> BTreeMap<String, Vec<Visit>> {
        if let Some((step, from)) = self.clock.open() {
            let visit = Visit {
                step: step.to_owned(),
                from,
                to: last,
            };
            self.by_step.entry(step.to_owned()).or_default().push(visit);
        }
        self.by_step
    }
}

/// Time spent paused, and when the case was closed.
#[derive(Debug, Default)]
pub(super) struct Pauses {
    since: Option<DateTime<Utc>>,
    total: chrono::Duration,
    pub closed: Option<DateTime<Utc>>,
}

impl Pauses {
    pub fn observe(&mut self, e: &Entry) {
        match &e.event {
            Event::Paused { .. } => self.since = Some(e.at),
            Event::Unpaused {} | Event::CaseClosed { .. } => {
                if let Some(since) = self.since.take() {
                    self.total += e.at - since;
                }
                if matches!(e.event, Event::CaseClosed { .. }) {
                    self.closed = Some(e.at);
                }
            }
            _ => {}
        }
    }

    /// The total; a pause still under way runs to `last`.
    pub fn finish(&self, last: DateTime<Utc>) -> chrono::Duration {
        self.total
            + self
                .since
                .map_or_else(chrono::Duration::zero, |since| last - since)
    }
}

/// Departures from the playbook as written, in order.
#[derive(Debug, Default)]
pub(super) struct Deviations(pub Vec<Deviation>);

impl Deviations {
    pub fn observe(&mut self, state: &State, e: &Entry) {
        let (kind, step, detail): (&str, Option<&str>, String) = match &e.event {
            Event::QuerySubmitted(q) => {
                let n = state.step(&q.step).map_or(0, |s| s.query_runs);
                if n <= 1 {
                    return;
                }
                ("rerun", Some(&q.step), format!("run {n} of the query"))
            }
            Event::QueryFailed(q) => ("query_failed", Some(&q.step), q.error.clone()),
            Event::SourceNotCollected(n) => (
                "source_not_collected",
                Some(&n.step),
                format!("{}: {}", n.tables.join(", "), n.reason),
            ),
            Event::QueryCancelled { step, reason } => ("query_cancelled", Some(step), reason.clone()),
            Event::ActionFinished(a) => match a.outcome {
                Outcome::Failed => ("action_failed", Some(&a.step), a.detail.clone()),
                Outcome::Unknown => ("action_unknown", Some(&a.step), a.detail.clone()),
                Outcome::Succeeded => return,
            },
            Event::ActionConflict(c) => ("action_conflict", Some(&c.step), c.difference.clone()),
            Event::RollbackStarted(r) => (
                "rollback",
                Some(&r.step),
                format!("rollback of {} on {} started", r.operation, r.target),
            ),
            Event::StepSkipped { step, reason, .. } => ("skip", Some(step), reason.clone()),
            Event::WentBack { from, to } => (
                "back_step",
                Some(to),
                format!("from {} back to {to}", from.as_deref().unwrap_or("the end")),
            ),
            Event::Paused { reason } => ("pause", state.current_step(), reason.clone()),
            Event::PlaybookChanged(c) => (
                "playbook_changed",
                state.current_step(),
                format!("the responder accepted playbook version {}", c.version),
            ),
            Event::LockTakenOver(h) => (
                "lock_taken_over",
                None,
                format!("the previous holder (pid {} on {}) had died", h.pid, h.host),
            ),
            Event::TornTailSetAside(t) => (
                "torn_tail",
                None,
                format!("{} bytes cut short by a crash set aside as {}", t.bytes, t.file),
            ),
            _ => return,
        };
        self.0.push(Deviation {
            seq: e.seq,
            at: at_text(e.at),
            actor: e.actor.clone(),
            kind: kind.to_owned(),
            step: step.map(str::to_owned),
            detail,
        });
    }
}

/// The moves the case made between steps: (from, to, a back-step?) → times taken.
#[derive(Debug, Default)]
pub(super) struct Moves(pub BTreeMap<(String, String, bool), u32>);

impl Moves {
    pub fn observe(&mut self, e: &Entry) {
        let (from, next, back): (&str, &Option<String>, bool) = match &e.event {
            Event::Started { first } => {
                self.moved("start", Some(first), false);
                return;
            }
            Event::QuerySucceeded(q) => (&q.step, &q.next, false),
            Event::SourceNotCollected(n) => (&n.step, &n.next, false),
            Event::QueryFailed(q) if !q.stay => (&q.step, &q.next, false),
            Event::Decided(d) => (&d.step, &d.next, false),
            Event::ActionFinished(a) if !a.stay => (&a.step, &a.next, false),
            Event::ActionVerified(v) if !v.stay => (&v.step, &v.next, false),
            Event::StepCompleted { step, next } | Event::StepSkipped { step, next, .. } => {
                (step, next, false)
            }
            Event::WentBack { from: Some(from), to } => {
                self.moved(from, Some(to), true);
                return;
            }
            _ => return,
        };
        self.moved(from, next.as_deref(), back);
    }

    fn moved(&mut self, from: &str, to: Option<&str>, back: bool) {
        let to = to.unwrap_or("end").to_owned();
        *self.0.entry((from.to_owned(), to, back)).or_insert(0) += 1;
    }
}

/// The time-to milestones: the first evidence, and the last containment and recovery steps
/// finished.
#[derive(Debug, Default)]
pub(super) struct Milestones {
    pub detect: Option<Milestone>,
    pub contain: Option<Milestone>,
    pub recover: Option<Milestone>,
}

impl Milestones {
    pub fn observe(&mut self, pb: &Playbook, opened: DateTime<Utc>, e: &Entry) {
        let mark = |what: String| milestone(e, opened, e.event.step().map(str::to_owned), what);
        match &e.event {
            Event::ActionFinished(a) if a.outcome == Outcome::Succeeded => {
                let how = if a.simulated { "simulated" } else { "succeeded" };
                self.finished(pb, &a.step, mark(format!("{} {how}", a.step)));
            }
            Event::ActionVerified(v) if v.in_place => {
                let what = format!("{} verified in place ({})", v.step, v.method);
                self.finished(pb, &v.step, mark(what));
            }
            Event::StepCompleted { step, .. } => self.finished(pb, step, mark(format!("{step} done"))),
            Event::EvidenceAdded(ev) if self.detect.is_none() => {
                self.detect = Some(mark(format!("{} {} recorded", ev.observable.as_str(), ev.value)));
            }
            _ => {}
        }
    }

    /// A step finished at `m`: containment when it is an action tagged `RS.MI`/`RS.MI-01`,
    /// recovery when tagged `RC.*` (its own categories, or its stage's).
    fn finished(&mut self, pb: &Playbook, step: &str, m: Milestone) {
        let Some(i) = pb.step_index(step) else { return };
        let csf = csf_of(pb, i);
        if matches!(pb.steps[i].kind, StepKind::Action(_)) && is_containment(csf) {
            self.contain = Some(m.clone());
        }
        if is_recovery(csf) {
            self.recover = Some(m);
        }
    }
}

/// The observables recorded as evidence, one row per type and value.
#[derive(Debug, Default)]
pub(super) struct EvidenceTable {
    pub rows: Vec<Ioc>,
    index: BTreeMap<(String, String), usize>,
}

impl EvidenceTable {
    pub fn observe(&mut self, pb: &Playbook, e: &Entry) {
        let Event::EvidenceAdded(ev) = &e.event else {
            return;
        };
        let key = (ev.observable.as_str().to_owned(), ev.value.clone());
        if let Some(&i) = self.index.get(&key) {
            self.rows[i].count += 1;
            self.rows[i].notes.extend(ev.note.clone());
            return;
        }
        self.index.insert(key, self.rows.len());
        self.rows.push(Ioc {
            observable: ev.observable.as_str().to_owned(),
            value: ev.value.clone(),
            first_seen: at_text(e.at),
            seq: e.seq,
            step: ev.step.clone(),
            stage: ev.step.as_deref().and_then(|s| stage_of(pb, s)),
            count: 1,
            notes: ev.note.iter().cloned().collect(),
        });
    }
}

/// An entry as the timeline shows it: what it says, and what it vouches for. `None` for the
/// entries the timeline folds away (a session's start is in the summary; a query's submission is
/// shown with its result).
pub(super) fn timeline_item(
    pb: &Playbook,
    entries: &[Entry],
    state: &State,
    e: &Entry,
) -> Option<TimelineItem> {
    use super::Detail;
    let detail = match &e.event {
        Event::SessionStarted(_) | Event::QuerySubmitted(_) => return None,
        Event::QuerySucceeded(q) => query_detail(
            submission(entries, state, &q.step),
            Some(q.rows),
            q.artifact.clone(),
            None,
            q.execution.as_ref(),
            &q.captures,
        ),
        Event::QueryFailed(q) => query_detail(
            submission(entries, state, &q.step),
            None,
            q.artifact.clone(),
            Some(q.error.clone()),
            q.execution.as_ref(),
            &BTreeMap::new(),
        ),
        Event::SourceNotCollected(n) => {
            let mut d = query_detail(
                submission(entries, state, &n.step),
                Some(0),
                n.artifact.clone(),
                None,
                n.execution.as_ref(),
                &n.captures,
            );
            if let Detail::Query { not_collected, .. } = &mut d {
                *not_collected = Some(format!("{}: {}", n.tables.join(", "), n.reason));
            }
            d
        }
        Event::QueryCancelled { step, reason } => query_detail(
            submission(entries, state, step),
            None,
            None,
            Some(format!("cancelled: {reason}")),
            None,
            &BTreeMap::new(),
        ),
        Event::Decided(d) => Detail::Decision {
            option: d.option.clone(),
            label: d.label.clone(),
            suggested: d.suggested.clone(),
            rationale: d.rationale.clone(),
            next: d.next.clone(),
        },
        Event::ActionStarted(a) => action_detail(Some(a), None),
        Event::ActionFinished(a) => action_detail(action_started(entries, state, &a.step, a.item), Some(a)),
        Event::ActionVerified(v) => Detail::Action {
            intent: state
                .step(&v.step)
                .and_then(|s| s.run(v.item))
                .map(|run| run.intent.clone()),
            simulated: false,
            outcome: Some(if v.in_place { "in place" } else { "not in place" }.to_owned()),
            detail: Some(v.detail.clone()),
            before: None,
            request: None,
            after: v.after.clone(),
            request_ids: Vec::new(),
            verification: None,
        },
        Event::RollbackStarted(r) => rollback_detail(Some(r), None),
        Event::RollbackFinished(f) => {
            rollback_detail(rollback_started(entries, state, &f.step, f.item), Some(f))
        }
        Event::NoteAdded { text, .. } => Detail::Note { text: text.clone() },
        Event::EvidenceAdded(ev) => Detail::Evidence {
            observable: ev.observable.as_str().to_owned(),
            value: ev.value.clone(),
            note: ev.note.clone(),
        },
        _ => Detail::Other,
    };
    let step = e.event.step().map(str::to_owned);
    Some(TimelineItem {
        seq: e.seq,
        at: at_text(e.at),
        actor: e.actor.clone(),
        kind: e.event.kind().to_owned(),
        stage: step.as_deref().and_then(|s| stage_of(pb, s)),
        step,
        text: crate::engine::describe(&e.event),
        detail,
        signed_by: None,
    })
}

/// The entry `seq` names, when the report holds it.
fn entry_at(entries: &[Entry], seq: u64) -> Option<&Entry> {
    entries.get(usize::try_from(seq).ok()?).filter(|e| e.seq == seq)
}

/// The submission of the step's query run that the entry being read ended: SQL, backend, time.
fn submission(entries: &[Entry], state: &State, step: &str) -> Option<(String, String, String)> {
    let e = entry_at(entries, state.query_run(step)?.submitted?)?;
    match &e.event {
        Event::QuerySubmitted(q) => Some((q.sql.clone(), q.backend.clone(), at_text(e.at))),
        _ => None,
    }
}

/// The intent of the step's last action run (of `item`, for a `for_each` step).
fn action_started<'a>(
    entries: &'a [Entry],
    state: &State,
    step: &str,
    item: Option<usize>,
) -> Option<&'a ActionStarted> {
    match &entry_at(entries, state.step(step)?.run(item)?.started)?.event {
        Event::ActionStarted(a) => Some(a),
        _ => None,
    }
}

/// The intent of the last rollback of the step's action (of `item`, for a `for_each` step).
fn rollback_started<'a>(
    entries: &'a [Entry],
    state: &State,
    step: &str,
    item: Option<usize>,
) -> Option<&'a RollbackStarted> {
    let rollback = state.step(step)?.run(item)?.rollback.as_ref()?;
    match &entry_at(entries, rollback.started)?.event {
        Event::RollbackStarted(r) => Some(r),
        _ => None,
    }
}
