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

pub fn cmd_verify(out: Output, args: &VerifyArgs) -> Result<(), CliError> {
    let (dir, _, scan) = read_journal(&args.case)?;
    let problem = scan
        .corruption
        .clone()
        .or_else(|| check_files(&dir, &scan.entries));
    if args.json {
        let v = serde_json::json!({
            "ok": problem.is_none(),
            "entries": scan.entries.len(),
            "head": scan.head(),
            "first_bad_seq": problem.as_ref().map(|p| p.seq),
            "problem": problem.as_ref().map(|p| p.what.clone()),
            "torn_tail_bytes": scan.torn.as_ref().map(Vec::len),
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
