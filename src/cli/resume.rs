//! `irp resume CASE --headless --answers FILE`: continues a case from its journal.

use std::path::PathBuf;

use clap::Args;

use super::run::{answers_error, drive};
use super::{CliError, Output, case_error, session_context};
use crate::case::answers::Answers;
use crate::case::{PlaybookChoice, Session};

#[derive(Debug, Args)]
#[allow(clippy::struct_excessive_bools)] // clap flags
pub struct ResumeArgs {
    /// The case folder.
    pub case: PathBuf,
    /// Continue without a terminal UI, taking every answer from `--answers`.
    #[arg(long, requires = "answers")]
    pub headless: bool,
    /// The answers file (YAML) of a headless run.
    #[arg(long, value_name = "FILE")]
    pub answers: Option<PathBuf>,
    /// Continue with the playbook snapshot in the case folder, even if the file changed.
    #[arg(long, conflicts_with = "accept_playbook_change")]
    pub use_snapshot: bool,
    /// Continue with the playbook file as it is now; the change is journaled.
    #[arg(long)]
    pub accept_playbook_change: bool,
    /// Where query steps run: `local`, the embedded engine over `--lake`.
    #[arg(long, value_enum, requires = "lake")]
    pub backend: Option<super::run::Backend>,
    /// The local lake the `local` backend reads.
    #[arg(long, value_name = "DIR")]
    pub lake: Option<PathBuf>,
    /// Who the journal records as acting.
    #[arg(long)]
    pub actor: Option<String>,
    /// One JSON object per finished step instead of text.
    #[arg(long)]
    pub json: bool,
}

pub fn cmd_resume(out: Output, args: &ResumeArgs) -> Result<(), CliError> {
    let Some(answers_path) = args.answers.as_ref().filter(|_| args.headless) else {
        return Err(CliError::User {
            message: "resuming interactively needs the terminal UI, which this build does not include yet"
                .to_owned(),
            hints: vec![
                "resume with `--headless --answers FILE`".to_owned(),
                format!(
                    "`irp journal {}` shows where the case stands",
                    args.case.display()
                ),
            ],
        });
    };
    let choice = if args.use_snapshot {
        PlaybookChoice::Snapshot
    } else if args.accept_playbook_change {
        PlaybookChoice::AcceptChange
    } else {
        PlaybookChoice::Source
    };
    // The answers name the actor, so read them (unchecked) first; they are checked against the
    // playbook the case continues with once the session has chosen it.
    let actor_hint = std::fs::read_to_string(answers_path)
        .ok()
        .and_then(|t| {
            serde_saphyr::from_str_with_options::<Answers>(&t, crate::playbook::node::yaml_options()).ok()
        })
        .and_then(|a| a.actor);
    let ctx = session_context(args.actor.as_deref(), actor_hint.as_deref(), "resume")?;
    let (mut session, report) = Session::resume(&args.case, choice, ctx).map_err(|e| case_error(out, e))?;
    if let Some(h) = &report.stale_lock {
        out.note(&format!(
            "the previous irp on this case ({h}) ended without closing it; took over"
        ));
    }
    for t in &report.torn {
        out.note(&format!(
            "the journal's last line was cut short ({} bytes); set aside in {}, untouched",
            t.bytes, t.file
        ));
    }
    let answers = Answers::load(answers_path, &session.playbook).map_err(answers_error)?;
    let status = if args.json { Output::note } else { Output::status };
    status(
        &out,
        &format!(
            "case {} resumed at {} ({} entries)",
            session.state.opened.as_ref().map_or("", |o| o.case.as_str()),
            match &session.state.position {
                crate::engine::Position::At(s) => format!("step `{s}`"),
                crate::engine::Position::End => "the end of the playbook".to_owned(),
                crate::engine::Position::NotStarted => "the start".to_owned(),
            },
            session.entries.len()
        ),
    );
    if session.state.closed.is_some() {
        status(&out, "the case is closed; nothing left to do");
        return Ok(());
    }
    let mut backend = super::run::open_backend(args.backend, args.lake.as_deref())?;
    drive(out, &mut session, &answers, backend.as_mut(), args.json)
}
