//! `irp cases [DIR]`: the cases in a folder, one line each. Reads only the journals.

use std::fmt::Write as _;
use std::path::PathBuf;

use clap::Args;

use super::{CliError, Output};
use crate::report::{duration_text, list_cases, second_text};

#[derive(Debug, Args)]
pub struct CasesArgs {
    /// A folder holding case folders (or a case folder itself).
    #[arg(default_value = ".", conflicts_with = "rehearsals")]
    pub dir: PathBuf,
    /// The rehearsal cases `irp rehearse` opened (in `$XDG_DATA_HOME/irp/cases/`; those an older
    /// irp kept in the cache are moved there first).
    #[arg(long)]
    pub rehearsals: bool,
    /// One JSON object per line instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub fn cmd_cases(out: Output, args: &CasesArgs) -> Result<(), CliError> {
    let dir = if args.rehearsals {
        super::rehearse::note_moved_cases(out);
        crate::rehearse::lake::cases_root()
    } else {
        args.dir.clone()
    };
    if args.rehearsals && !dir.exists() {
        out.status(&format!(
            "no rehearsal cases yet ({} does not exist)",
            dir.display()
        ));
        return Ok(());
    }
    let cases = list_cases(&dir).map_err(|e| {
        CliError::user(
            format!("cannot read {}: {e}", dir.display()),
            "give the folder that holds the case folders (`irp run --case-dir` made them)",
        )
    })?;
    let mut text = String::new();
    if args.json {
        for c in &cases {
            let _ = writeln!(text, "{}", serde_json::to_string(c).unwrap_or_default());
        }
        out.data(&text);
        return Ok(());
    }
    if cases.is_empty() {
        out.status(&format!("no cases in {}", dir.display()));
        return Ok(());
    }
    let _ = writeln!(
        text,
        "{:<36}  {:<32}  {:<9}  {:<20}  {:<7}  {:>10}  FOLDER",
        "CASE", "PLAYBOOK", "MODE", "OPENED", "STATUS", "DURATION"
    );
    for c in &cases {
        let status = if c.problem.is_some() {
            "DAMAGED"
        } else {
            c.status.as_str()
        };
        let _ = writeln!(
            text,
            "{:<36}  {:<32}  {:<9}  {:<20}  {:<7}  {:>10}  {}",
            c.case,
            crate::cli::journal::escape_controls(&c.playbook),
            c.mode,
            second_text(&c.opened),
            status,
            duration_text(c.duration_s),
            crate::cli::journal::escape_controls(&c.folder)
        );
    }
    out.data(&text);
    Ok(())
}
