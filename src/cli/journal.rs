//! `irp journal CASE`: prints a case's entries, one per line (or as JSON Lines with `--json`).

use std::fmt::Write as _;
use std::path::PathBuf;

use clap::Args;

use super::verify::read_journal;
use super::{CliError, Output};
use crate::engine::Event;
use crate::journal::Entry;

#[derive(Debug, Args)]
pub struct JournalArgs {
    /// The case folder (or its `journal.jsonl`).
    pub case: PathBuf,
    /// Print the entries as JSON Lines, exactly as stored.
    #[arg(long)]
    pub json: bool,
}

pub fn cmd_journal(out: Output, args: &JournalArgs) -> Result<(), CliError> {
    let (_, bytes, scan) = read_journal(&args.case)?;
    let mut text = String::new();
    if args.json {
        // The checked entries, byte for byte as stored.
        let good = usize::try_from(scan.good_len).unwrap_or(0).min(bytes.len());
        text.push_str(&String::from_utf8_lossy(&bytes[..good]));
    } else {
        for e in &scan.entries {
            let _ = writeln!(
                text,
                "{:>5}  {}  {:<12} {:<20} {}",
                e.seq,
                e.at.format("%Y-%m-%d %H:%M:%S%.3fZ"),
                e.actor,
                e.event.kind(),
                summary(e)
            );
        }
    }
    out.data(&text);
    if let Some(c) = &scan.corruption {
        return Err(CliError::User {
            message: format!("the journal is damaged at {c}; entries after it are not shown"),
            hints: vec!["`irp verify` checks the whole case".to_owned()],
        });
    }
    if scan.torn.is_some() {
        out.error(
            "warning: the last line is cut short (a write interrupted by a crash)",
            &["`irp resume` sets it aside and journals that it did".to_owned()],
        );
    }
    Ok(())
}

/// ` · item N` for an entry about one item of a `for_each` step.
fn item_text(item: Option<usize>) -> String {
    item.map(|i| format!(" · item {i}")).unwrap_or_default()
}

/// One short line saying what an entry records. Values from logs or answers are shown with
/// control characters escaped, so a hostile string cannot rewrite the terminal.
pub fn summary(e: &Entry) -> String {
    let s = match &e.event {
        Event::CaseOpened(o) => format!(
            "case {} · {} {} · {}",
            o.case,
            o.playbook.id,
            o.playbook.version,
            o.mode.as_str()
        ),
        Event::SessionStarted(s) => format!("{} · pid {} on {} · irp {}", s.command, s.pid, s.host, s.irp),
        Event::LockTakenOver(h) => format!("from pid {} on {} (since {})", h.pid, h.host, h.since),
        Event::TornTailSetAside(t) => format!("{} bytes → {}", t.bytes, t.file),
        Event::PlaybookChanged(c) => format!("now version {} ({})", c.version, c.snapshot),
        Event::Started { first } => format!("at `{first}`"),
        Event::QuerySubmitted(q) => format!("{} · {}", q.step, q.backend),
        Event::QuerySucceeded(q) => format!("{} · {} rows → {}", q.step, q.rows, target(q.next.as_deref())),
        Event::QueryFailed(q) => format!("{} · {}", q.step, q.error),
        Event::SourceNotCollected(n) => format!(
            "{} · {} not collected: {} → {}",
            n.step,
            n.tables.join(", "),
            n.reason,
            target(n.next.as_deref())
        ),
        Event::QueryCancelled { step, reason } | Event::StepSkipped { step, reason, .. } => {
            format!("{step} · {reason}")
        }
        Event::Decided(d) => format!("{} · `{}` → {}", d.step, d.option, target(d.next.as_deref())),
        Event::ActionConfirmed(a) => match &a.items {
            Some(c) => format!(
                "{} · {} · items {:?} of {}{}",
                a.step,
                a.confirmation,
                c.items,
                c.total,
                if c.left_out.is_empty() {
                    String::new()
                } else {
                    format!(" · {} left out", c.left_out.len())
                }
            ),
            None => format!("{} · {}", a.step, a.confirmation),
        },
        Event::ActionNothingToDo { step, list, next } => {
            format!(
                "{step} · `{list}` is empty: nothing to do → {}",
                target(next.as_deref())
            )
        }
        Event::ActionStarted(a) => format!(
            "{}{} · {}{}",
            a.step,
            item_text(a.item),
            serde_json::to_string(&a.intent).unwrap_or_default(),
            if a.simulated { " (simulated)" } else { "" }
        ),
        Event::ActionFinished(a) => {
            format!("{}{} · {:?} · {}", a.step, item_text(a.item), a.outcome, a.detail)
        }
        Event::ActionConflict(c) => format!(
            "{}{} · the resource changed since the confirmation",
            c.step,
            item_text(c.item)
        ),
        Event::ActionVerified(v) => format!(
            "{}{} · {} · {} · {}",
            v.step,
            item_text(v.item),
            v.method,
            if v.in_place { "in place" } else { "not in place" },
            v.detail
        ),
        Event::AwsIdentity(i) => format!(
            "{} · account {} · {}{}",
            i.arn,
            i.account,
            i.region,
            i.endpoint
                .as_deref()
                .map(|e| format!(" · {e}"))
                .unwrap_or_default()
        ),
        Event::RollbackStarted(r) => format!(
            "{} · {} on {}{}{}",
            r.step,
            r.operation,
            r.target,
            if r.overwrites_changes {
                " (overwriting later changes)"
            } else {
                ""
            },
            if r.simulated { " (simulated)" } else { "" }
        ),
        Event::RollbackFinished(r) => format!("{} · {:?} · {}", r.step, r.outcome, r.detail),
        Event::RoleTaken(r) => format!("{} takes {}", r.responder, r.role),
        Event::RoleHandedOver(r) => format!("{} from {} to {}", r.role, r.from, r.to),
        Event::RoleOverridden(r) => format!(
            "{} from {} to {} · {}",
            r.role,
            r.from.as_deref().unwrap_or("nobody"),
            r.to,
            r.reason
        ),
        Event::EntryRejected(r) => format!(
            "slot {} (claimed by {}) · {} · kept in {}",
            r.slot,
            r.claimed_actor.as_deref().unwrap_or("?"),
            r.why,
            r.file
        ),
        Event::ChecklistItemDone { step, item, text } => format!("{step} · {} · {text}", item + 1),
        Event::StepCompleted { step, next } => format!("{step} → {}", target(next.as_deref())),
        Event::WentBack { from, to } => format!("{} → {to}", from.as_deref().unwrap_or("end")),
        Event::NoteAdded { text, .. } => text.clone(),
        Event::EvidenceAdded(ev) => format!("{} {}", ev.observable.as_str(), ev.value),
        Event::Paused { reason } => reason.clone(),
        Event::Unpaused {} => String::new(),
        Event::CaseClosed { summary } => summary.clone(),
        Event::ExerciseSet(x) => format!("{} (seed {}) on {}", x.scenario, x.seed, x.lake),
        Event::InjectLanded(i) => format!("{} · {} event(s) · {}", i.name, i.events, i.title),
        Event::CaseSealed(s) => format!(
            "{} · seq 0–{} · head {} · object lock: {}",
            s.location,
            s.entries.saturating_sub(1),
            crate::journal::entry::short_hash(&s.head),
            s.object_lock
        ),
        Event::SealFailed { location, error } => format!("{location} · {error}"),
    };
    escape_controls(&s)
}

fn target(next: Option<&str>) -> &str {
    next.unwrap_or("end")
}

/// Control characters (escape sequences, newlines) shown as `\u{..}`.
pub fn escape_controls(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            if c.is_control() {
                c.escape_unicode().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}
