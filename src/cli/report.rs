//! `irp report CASE`: the post-incident report of a case, as Markdown, HTML or JSON, or in the
//! standards other tools read (ATT&CK Navigator, OCSF, STIX). Reads only.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::{CliError, Output};
use crate::report::{CaseRecord, build, html, interop, markdown};

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    /// Markdown (GitHub-flavoured, with a Mermaid graph of the path).
    Md,
    /// One self-contained HTML file (no network, no scripts), readable printed.
    Html,
    /// JSON following `schemas/report.schema.json` (`irp schema report`).
    Json,
    /// A MITRE ATT&CK Navigator layer (format 4.5): the techniques the evidence speaks for.
    AttackNavigator,
    /// OCSF 1.1 Incident Finding events (class 2005), one JSON object per line.
    Ocsf,
    /// A STIX 2.1 bundle: the incident, the playbook as a course of action, the evidence as
    /// observed data, indicators and sightings, the techniques as attack patterns.
    Stix,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The case folder (or its `journal.jsonl`), or `s3://BUCKET/PREFIX` of a shared case (read
    /// into this responder's replica first).
    pub case: PathBuf,
    #[command(flatten)]
    pub aws: super::AwsArgs,
    /// Output format.
    #[arg(long, short, value_enum, default_value = "md")]
    pub format: Format,
    /// Write to this file instead of standard output.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
}

fn pretty(v: &serde_json::Value) -> String {
    let mut t = serde_json::to_string_pretty(v).unwrap_or_default();
    t.push('\n');
    t
}

pub fn cmd_report(out: Output, args: &ReportArgs) -> Result<(), CliError> {
    let case = super::case::readable_case(out, &args.case, &args.aws)?;
    let record = CaseRecord::read(&case).map_err(|e| CliError::User {
        hints: e.hints(),
        message: e.to_string(),
    })?;
    let clock = crate::clock::Clock::from_env()
        .map_err(|e| CliError::user(e, "unset IRP_NOW or give an RFC 3339 time"))?;
    let mut report = build(&record, clock.now());
    crate::rehearse::attach_score(&record, &mut report);
    let text = match args.format {
        Format::Md => markdown::render(&report, &record.playbook),
        Format::Html => html::render(&report, &record.playbook),
        Format::Json => pretty(&serde_json::to_value(&report).unwrap_or_default()),
        Format::AttackNavigator => pretty(&interop::navigator(&report, &record.playbook)),
        Format::Stix => pretty(&interop::stix(&report, &record.playbook)),
        Format::Ocsf => {
            let mut lines = String::new();
            for e in interop::ocsf(&report, &record.playbook) {
                lines.push_str(&serde_json::to_string(&e).unwrap_or_default());
                lines.push('\n');
            }
            lines
        }
    };
    match &args.output {
        Some(path) => crate::journal::write_durably(path, text.as_bytes()).map_err(|e| {
            CliError::user(
                format!("cannot write {}: {e}", path.display()),
                "check that the folder exists and is writable, or leave out -o to print to standard output",
            )
        })?,
        None => out.data(&text),
    }
    if let Some(p) = &record.problem {
        // The report is written (it says so too), but a damaged journal is never a success.
        return Err(CliError::User {
            message: format!("the journal is damaged at {p}; the report covers the entries before it"),
            hints: vec!["`irp verify CASE` names the damage".to_owned()],
        });
    }
    if let Some(t) = &record.scan.torn {
        out.error(
            &format!(
                "warning: the journal's last line is cut short ({} bytes, a write interrupted by a crash); the report covers the complete entries",
                t.len()
            ),
            &["`irp resume` sets it aside and journals that it did".to_owned()],
        );
    }
    if let Some(path) = &args.output {
        out.status(&format!("wrote {}", path.display()));
    }
    Ok(())
}
