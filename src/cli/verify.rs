//! `irp verify CASE`: checks the journal's hash chain and every file its entries vouch for.

use std::path::{Path, PathBuf};

use clap::Args;

use super::{CliError, Output};
use crate::journal::{CaseDir, Scan, check_files};

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The case folder (or its `journal.jsonl`).
    pub case: PathBuf,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Reads a journal (its bytes and what checking them found), or says plainly why it cannot.
pub fn read_journal(given: &Path) -> Result<(CaseDir, Vec<u8>, Scan), CliError> {
    let (dir, journal) = CaseDir::locate(given);
    let bytes = std::fs::read(&journal).map_err(|e| {
        CliError::user(
            format!("cannot read {}: {e}", journal.display()),
            "give a case folder (the one `irp run --case-dir` created) or its journal.jsonl",
        )
    })?;
    let scan = crate::journal::store::scan(&bytes);
    Ok((dir, bytes, scan))
}

/// How far back an entry's time may be from the latest before it without being reported (the
/// clocks of two machines resuming the same case, or a clock stepped by NTP).
pub const CLOCK_TOLERANCE_MS: i64 = 2_000;

/// An entry recorded earlier than an entry before it, by more than [`CLOCK_TOLERANCE_MS`].
#[derive(Debug, Clone, serde::Serialize)]
pub struct Backwards {
    pub seq: u64,
    pub at: String,
    /// The entry before it with the latest time.
    pub after_seq: u64,
    pub after_at: String,
    pub by_ms: i64,
}

/// Every entry whose time goes backwards beyond the tolerance.
pub fn clock_backwards(entries: &[crate::journal::Entry]) -> Vec<Backwards> {
    let mut latest: Option<&crate::journal::Entry> = None;
    let mut found = Vec::new();
    for e in entries {
        match latest {
            Some(l) if e.at < l.at => {
                let by_ms = (l.at - e.at).num_milliseconds();
                if by_ms > CLOCK_TOLERANCE_MS {
                    found.push(Backwards {
                        seq: e.seq,
                        at: e.at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                        after_seq: l.seq,
                        after_at: l.at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                        by_ms,
                    });
                }
            }
            _ => latest = Some(e),
        }
    }
    found
}

pub fn cmd_verify(out: Output, args: &VerifyArgs) -> Result<(), CliError> {
    let (dir, _, scan) = read_journal(&args.case)?;
    let problem = scan
        .corruption
        .clone()
        .or_else(|| check_files(&dir, &scan.entries));
    let backwards = clock_backwards(&scan.entries);
    if args.json {
        let v = serde_json::json!({
            "ok": problem.is_none(),
            "entries": scan.entries.len(),
            "head": scan.head(),
            "first_bad_seq": problem.as_ref().map(|p| p.seq),
            "problem": problem.as_ref().map(|p| p.what.clone()),
            "torn_tail_bytes": scan.torn.as_ref().map(Vec::len),
            "clock_backwards": backwards,
        });
        out.data(&format!(
            "{}\n",
            serde_json::to_string_pretty(&v).unwrap_or_default()
        ));
    }
    if let Some(p) = problem {
        let message = format!("the journal is damaged at {p}");
        if args.json {
            return Err(CliError::Reported);
        }
        return Err(CliError::User {
            message,
            hints: vec![format!(
                "entries 0 to {} are intact; irp will not resume a damaged case",
                p.seq.saturating_sub(1)
            )],
        });
    }
    if !args.json {
        for b in &backwards {
            out.error(
                &format!(
                    "warning: seq {} is recorded at {}, {}.{} s before seq {} ({}): the clock went backwards or was set",
                    b.seq,
                    b.at,
                    b.by_ms / 1000,
                    b.by_ms % 1000 / 100,
                    b.after_seq,
                    b.after_at
                ),
                &["the hash chain says nothing about the times in it; compare the entries' times with the session_started entries' clock and host".to_owned()],
            );
        }
        if let Some(t) = &scan.torn {
            out.error(
                &format!(
                    "warning: the last line is cut short ({} bytes after seq {}): a write interrupted by a crash",
                    t.len(),
                    scan.entries.len().saturating_sub(1)
                ),
                &[format!("`irp resume {}` sets it aside and journals that it did", dir.root.display())],
            );
        }
        out.status(&format!(
            "ok: {} entries, hash chain intact, files match; head {}",
            scan.entries.len(),
            scan.head()
        ));
    }
    Ok(())
}
