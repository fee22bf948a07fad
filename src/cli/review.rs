//! `irp review CASE`: the terminal UI in read-only mode over a case's journal.

use std::path::PathBuf;

use clap::Args;

use super::{CliError, Output};
use crate::report::CaseRecord;

#[derive(Debug, Args)]
pub struct ReviewArgs {
    /// The case folder (or its `journal.jsonl`), or `s3://BUCKET/PREFIX` of a shared case (read
    /// into this responder's replica first).
    pub case: PathBuf,
    #[command(flatten)]
    pub aws: super::AwsArgs,
}

pub fn cmd_review(out: Output, args: &ReviewArgs) -> Result<(), CliError> {
    crate::ui::check_terminal().map_err(|e| {
        CliError::user(
            e.to_string(),
            "`irp report CASE` writes the same case as Markdown, HTML or JSON without a terminal",
        )
    })?;
    let case = super::case::readable_case(out, &args.case, &args.aws)?;
    let record = CaseRecord::read(&case).map_err(|e| CliError::User {
        hints: e.hints(),
        message: e.to_string(),
    })?;
    crate::ui::review::run(&record, out.wants_color())
        .map_err(|e| CliError::user(e.to_string(), "the case was only read; nothing changed"))?;
    if let Some(p) = &record.problem {
        out.error(
            &format!("the journal is damaged at {p}; the review showed the entries before it"),
            &["`irp verify CASE` names the damage".to_owned()],
        );
    }
    Ok(())
}
