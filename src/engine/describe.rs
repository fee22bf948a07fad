//! Events in words: the one-line outcome a driver prints when an entry finishes a step, and the
//! text of every entry in journal listings, the review and the report. Pure, like the events.

use super::event::{Event, Intent, Outcome};

/// A step the run has finished with, for the one-line-per-step output.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StepLine {
    pub seq: u64,
    pub step: Option<String>,
    pub kind: &'static str,
    pub outcome: String,
}

/// What a rehearsal records instead of calling: the exact call, in words.
pub fn simulated_detail(intent: &Intent) -> String {
    match intent {
        Intent::Aws { api, target, .. } => format!(
            "simulated: would call {api}{}",
            target.as_deref().map(|t| format!(" on {t}")).unwrap_or_default()
        ),
        Intent::Command { argv, env } => {
            format!("simulated: would run {}", super::event::command_words(argv, env))
        }
        Intent::Manual { .. } => "checklist".to_owned(),
    }
}

/// `item 2: ` for an entry about one item of a `for_each` step.
fn item_prefix(item: Option<usize>) -> String {
    item.map(|i| format!("item {i}: ")).unwrap_or_default()
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
        Event::SourceNotCollected(n) => (
            Some(n.step.clone()),
            "query",
            format!("not collected: {} ({})", n.tables.join(", "), n.reason),
        ),
        Event::ActionFinished(a) => (
            Some(a.step.clone()),
            "action",
            format!("{}{}", item_prefix(a.item), outcome_text(a.outcome, &a.detail)),
        ),
        Event::ActionNothingToDo { step, list, .. } => (
            Some(step.clone()),
            "action",
            format!("nothing to do: `{list}` is empty"),
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
                "{}{}: {}",
                item_prefix(v.item),
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
            outcome_text(r.outcome, &r.detail),
        ),
        Event::StepCompleted { step, .. } => (Some(step.clone()), "step", "done".to_owned()),
        Event::StepSkipped { step, reason, .. } => (Some(step.clone()), "step", format!("skipped: {reason}")),
        Event::CaseClosed { summary } => (None, "case", format!("closed: {summary}")),
        Event::InjectLanded(i) => (None, "inject", format!("landed: {}", i.title)),
        Event::CaseSealed(s) => (
            None,
            "seal",
            format!(
                "sealed entries 0–{} to {} ({})",
                s.entries.saturating_sub(1),
                s.location,
                s.trigger
            ),
        ),
        Event::SealFailed { location, error } => {
            (None, "seal", format!("seal to {location} failed: {error}"))
        }
        Event::RoleTaken(r) => (None, "role", format!("{} takes {}", r.responder, r.role)),
        Event::RoleHandedOver(r) => (None, "role", format!("{} hands {} to {}", r.from, r.role, r.to)),
        Event::RoleOverridden(r) => (
            None,
            "role",
            format!(
                "{} given to {} by override (held by {}): {}",
                r.role,
                r.to,
                r.from.as_deref().unwrap_or("nobody"),
                r.reason
            ),
        ),
        Event::EntryRejected(r) => (
            None,
            "rejected",
            format!(
                "slot {} on S3 (claimed by {}) is not the case's: it {}; skipped",
                r.slot,
                r.claimed_actor.as_deref().unwrap_or("nobody"),
                r.why
            ),
        ),
        _ => return None,
    };
    Some(StepLine {
        seq,
        step,
        kind,
        outcome,
    })
}

/// How an action or a rollback ended, with its detail.
fn outcome_text(outcome: Outcome, detail: &str) -> String {
    match outcome {
        Outcome::Succeeded => detail.to_owned(),
        Outcome::Failed => format!("failed: {detail}"),
        Outcome::Unknown => format!("outcome unknown: {detail}"),
    }
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
