//! `irp resume CASE --headless --answers FILE`: continues a case from its journal.

use std::path::PathBuf;

use clap::Args;

use super::run::{answers_error, drive};
use super::{CliError, Output, case_error, session_context};
use crate::case::answers::Answers;
use crate::case::{PlaybookChoice, Session};

#[derive(Debug, Args)]
pub struct ResumeArgs {
    /// The case folder, or `s3://BUCKET/PREFIX` of a shared case (joined: its journal is read
    /// into a local replica).
    pub case: PathBuf,
    /// Continue with the playbook snapshot in the case folder, even if the file changed.
    #[arg(long, conflicts_with = "accept_playbook_change")]
    pub use_snapshot: bool,
    /// Continue with the playbook file as it is now; the change is journaled.
    #[arg(long)]
    pub accept_playbook_change: bool,
    #[command(flatten)]
    pub drive: super::run::DriveArgs,
}

/// `irp join s3://…`: `irp resume` of a shared case.
pub fn cmd_join(out: Output, args: &ResumeArgs) -> Result<(), CliError> {
    if !args.case.to_string_lossy().starts_with("s3://") {
        return Err(CliError::user(
            format!(
                "`irp join` takes a shared case, `s3://BUCKET/PREFIX`; {} is not one",
                args.case.display()
            ),
            "continue a case folder with `irp resume`",
        ));
    }
    cmd_resume(out, args)
}

pub fn cmd_resume(out: Output, args: &ResumeArgs) -> Result<(), CliError> {
    let answers_path = args.drive.answers.as_ref().filter(|_| args.drive.headless);
    if answers_path.is_none() {
        super::run::ui_preflight()?;
    }
    let choice = if args.use_snapshot {
        PlaybookChoice::Snapshot
    } else if args.accept_playbook_change {
        PlaybookChoice::AcceptChange
    } else {
        PlaybookChoice::Source
    };
    // The answers name the actor, so read them (unchecked) first; they are checked against the
    // playbook the case continues with once the session has chosen it.
    let actor_hint = answers_path
        .and_then(|p| std::fs::read_to_string(p).ok())
        .and_then(|t| {
            serde_saphyr::from_str_with_options::<Answers>(&t, crate::playbook::node::yaml_options()).ok()
        })
        .and_then(|a| a.actor);
    let ctx = session_context(
        args.drive.actor.as_deref(),
        actor_hint.as_deref(),
        "resume",
        args.drive.signing.signer()?,
    )?;
    let auto_seal = super::case::auto_seal()?;
    let (mut session, report) = match super::case::shared_store(&args.case, &args.drive.athena)? {
        Some((store, cache)) => (
            Session::join_shared(store, &cache, ctx).map_err(|e| case_error(out, e))?,
            crate::case::ResumeReport::default(),
        ),
        None => Session::resume(&args.case, choice, ctx).map_err(|e| case_error(out, e))?,
    };
    if let Some(auto) = auto_seal {
        session.seal_as_it_goes(auto);
    }
    // A team exercise the facilitator's irp is still setting up: the case's first session is a
    // rehearsal's and its exercise is not journaled yet. A move now would start the case before
    // the exercise, which could then not be set.
    let first_command = session.entries.iter().find_map(|e| match &e.event {
        crate::engine::Event::SessionStarted(s) => Some(s.command.as_str()),
        _ => None,
    });
    if session.shared_url().is_some()
        && session.state.exercise.is_none()
        && session.state.position == crate::engine::Position::NotStarted
        && first_command == Some("rehearse")
    {
        return Err(CliError::user(
            "the facilitator's irp is still setting this exercise up (it is not in the journal yet)",
            "join again in a few seconds",
        ));
    }
    if session.state.closed.is_none() {
        super::run::take_role(out, &mut session, args.drive.role.as_deref())?;
    }
    // Who holds which role, so a responder who joins knows whom to ask.
    if !session.state.roles.is_empty() {
        let held: Vec<String> = session
            .state
            .roles
            .iter()
            .map(|(role, holder)| format!("{role}: {holder}"))
            .collect();
        let lead = crate::engine::lead_role(&session.playbook)
            .filter(|l| !session.state.roles.contains_key(*l))
            .map(|l| format!(" (nobody holds {l}: anyone may act for it and the roles nobody holds)"))
            .unwrap_or_default();
        out.note(&format!("roles: {}{lead}", held.join(", ")));
    }
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
    let answers = match answers_path {
        Some(p) => Some(Answers::load(p, &session.playbook).map_err(answers_error)?),
        None => None,
    };
    out.status_beside(
        args.drive.json,
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
        out.status_beside(args.drive.json, "the case is closed; nothing left to do");
        return Ok(());
    }
    let mode = session
        .state
        .opened
        .as_ref()
        .map_or(crate::engine::Mode::Rehearsal, |o| o.mode);
    let mut executor = super::run::executor_for(&args.drive, mode)?;
    let mut backend = super::run::open_backend(&args.drive, &mut session)?;
    if backend.is_none() {
        backend = exercise_backend(out, &session)?;
    }
    let Some(answers) = answers else {
        return super::run::interactive(out, session, backend, executor);
    };
    drive(
        out,
        &mut session,
        &answers,
        &mut backend,
        &mut executor,
        args.drive.json,
    )
}

/// A rehearsal's own lake, when no backend was asked for: the exercise's working lake, or, for
/// a player of a team exercise, their copy of the facilitator's, fetched from the case on S3.
fn exercise_backend(
    out: Output,
    session: &Session,
) -> Result<Option<Box<dyn crate::case::backend::QueryRunner + Send>>, CliError> {
    let Some(exercise) = crate::rehearse::exercise_of(session) else {
        return Ok(None);
    };
    let exercise =
        exercise.map_err(|e| CliError::user(e.to_string(), "`irp verify CASE` checks the case's files"))?;
    if exercise.fetches {
        let fetched = session
            .fetch_lake(&exercise.lake, true)
            .map_err(|e| case_error(out, e))?;
        if fetched > 0 {
            out.note(&format!(
                "the exercise's lake: {fetched} files fetched from the case into {}",
                exercise.lake.display()
            ));
        }
    } else if !exercise.lake.is_dir() {
        out.note(&format!(
            "the exercise's lake {} is not here: give `--lake DIR` to run its queries",
            exercise.lake.display()
        ));
        return Ok(None);
    }
    let runner = crate::case::backend::LocalRunner::open(
        &exercise.lake,
        crate::query::backend::local::Options::default(),
    )
    .map_err(|e| CliError::user(e.to_string(), "the exercise's lake is not readable"))?;
    Ok(Some(Box::new(runner)))
}
