//! `irp rehearse PLAYBOOK [--scenario NAME] [--seed N] [--lake DIR]`: a game-day rehearsal. The
//! scenario's lake is generated into the cache (or reused), a rehearsal case opens on it with
//! the exercise recorded, the terminal UI (or `--headless --answers FILE`) walks it, injects
//! land as they fall due, and the score is shown at the end.

use std::path::PathBuf;

use clap::Args;

use super::run::{answers_error, interactive, settings_of, ui_preflight, valid_playbook};
use super::{CliError, Output, session_context};
use crate::case::actions::Executor;
use crate::case::answers::Answers;
use crate::case::backend::LocalRunner;
use crate::engine::Mode;

#[derive(Debug, Args)]
pub struct RehearseArgs {
    /// The playbook file.
    pub playbook: PathBuf,
    /// The scenario: an id from the playbook's `scenarios/` folder, or a scenario file (default:
    /// the playbook's default scenario).
    #[arg(long)]
    pub scenario: Option<String>,
    /// The generator's seed (default: the scenario's). Another seed is another population,
    /// other keys and other IPs, with the same incident.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Run on this lake instead of generating the scenario's (e.g. one imported from real
    /// `CloudTrail` logs with `irp lake import`). Its `truth.json`, if any, feeds the scenario.
    #[arg(long, value_name = "DIR")]
    pub lake: Option<PathBuf>,
    /// The folder for the case (default: a new folder under `$XDG_DATA_HOME/irp/cases/`), or
    /// `s3://BUCKET/PREFIX` for an exercise a team plays: players join it with `irp join`, and
    /// this irp lands the injects (docs/rehearsals.md, "A team exercise").
    #[arg(long, value_name = "DIR")]
    pub case_dir: Option<PathBuf>,
    /// The S3 endpoint of a team exercise's case when it is not AWS's (a moto server); the
    /// actions stay simulated (`--endpoint-url` is for the actions).
    #[arg(long, value_name = "URL")]
    pub case_endpoint_url: Option<String>,
    /// Take this role of the playbook's in a team exercise.
    #[arg(long)]
    pub role: Option<String>,
    /// Run a team exercise (`--case-dir s3://…`) as its facilitator, without playing: the
    /// players' entries are printed as they land, the injects land when they fall due, and the
    /// score is shown when the case closes.
    #[arg(long, conflicts_with_all = ["headless", "answers", "role"])]
    pub facilitate: bool,
    /// Walk the exercise without a terminal, taking every answer from `--answers`.
    #[arg(long, requires = "answers")]
    pub headless: bool,
    /// The answers file of a headless rehearsal (see docs/cases.md).
    #[arg(long, value_name = "FILE")]
    pub answers: Option<PathBuf>,
    /// Who the journal records as acting.
    #[arg(long)]
    pub actor: Option<String>,
    /// Headless: one JSON object per finished step, then the score as JSON.
    #[arg(long)]
    pub json: bool,
    /// Send the actions to this AWS endpoint (a moto server) for a realistic drill: each is
    /// confirmed, called, verified and can be rolled back, as in a live case. Without it every
    /// action is simulated and nothing outside irp is called.
    #[arg(long, value_name = "URL")]
    pub endpoint_url: Option<String>,
    /// The AWS profile of a drill with `--endpoint-url`.
    #[arg(long, requires = "endpoint_url")]
    pub profile: Option<String>,
    /// The AWS region of a drill with `--endpoint-url`.
    #[arg(long, requires = "endpoint_url")]
    pub region: Option<String>,
    #[command(flatten)]
    pub signing: super::SigningArgs,
}

pub fn cmd_rehearse(out: Output, args: &RehearseArgs) -> Result<(), CliError> {
    let pb = valid_playbook(out, &args.playbook)?;
    if args.facilitate
        && !args
            .case_dir
            .as_ref()
            .is_some_and(|d| d.to_string_lossy().starts_with("s3://"))
    {
        return Err(CliError::user(
            "--facilitate runs a team exercise, whose case is on S3",
            "give `--case-dir s3://BUCKET/PREFIX` (docs/rehearsals.md, \"A team exercise\")",
        ));
    }
    let answers = if let (Some(path), true) = (&args.answers, args.headless) {
        Some(Answers::load(path, &pb).map_err(answers_error)?)
    } else {
        if !args.facilitate {
            ui_preflight()?;
        }
        None
    };
    let ctx = session_context(
        args.actor.as_deref(),
        answers.as_ref().and_then(|a| a.actor.as_deref()),
        "rehearse",
        args.signing.signer()?,
    )?;
    let now = ctx.clock.now();
    let req = crate::rehearse::Request {
        scenario: args.scenario.as_deref(),
        seed: args.seed,
        lake: args.lake.as_deref(),
    };
    let bar = std::sync::OnceLock::new();
    let progress = |done: u64, total: u64| {
        bar.get_or_init(|| out.progress(total, "events"))
            .set_position(done);
    };
    let prepared = crate::rehearse::prepare(&args.playbook, &pb, &req, now.date_naive(), &progress).map_err(
        |problems| CliError::User {
            message: problems.join("\n"),
            hints: vec!["see docs/rehearsals.md for scenario files".to_owned()],
        },
    )?;
    if let Some(b) = bar.get() {
        b.finish_and_clear();
    }
    let brief = &prepared.brief;
    if args.case_dir.is_none() {
        note_moved_cases(out);
    }
    let case_dir = args.case_dir.clone().unwrap_or_else(|| {
        crate::rehearse::lake::cases_root().join(format!(
            "{}-{}-{}",
            pb.id,
            brief.scenario,
            now.format("%Y%m%dT%H%M%SZ")
        ))
    });
    let (mode, mut executor) = match &args.endpoint_url {
        Some(url) => {
            let settings = settings_of(args.profile.clone(), args.region.clone(), Some(url.clone()));
            let executor = Executor::live(&settings).map_err(|e| {
                CliError::user(
                    format!("cannot set up the AWS calls: {e}"),
                    "check the endpoint (a moto server: scripts/moto_server.py)",
                )
            })?;
            (Mode::Live, executor)
        }
        None => (Mode::Rehearsal, Executor::Rehearsal),
    };
    out.note(&format!(
        "{}: {} (seed {}), lake {} ({})",
        brief.scenario,
        brief.title,
        brief.seed,
        prepared.lake.display(),
        if args.lake.is_some() {
            "given"
        } else if prepared.reused {
            "cached"
        } else {
            "generated"
        }
    ));
    let shared = super::case::shared_store(
        &case_dir,
        &super::athena::AthenaArgs {
            endpoint_url: args.case_endpoint_url.clone(),
            ..super::athena::AthenaArgs::default()
        },
    )?;
    let rehearse_error =
        |e: crate::rehearse::RehearseError| CliError::user(e.to_string(), "see docs/rehearsals.md");
    let mut session = match shared {
        Some((store, cache)) => {
            // The lake is under the case before the case exists: a player never joins a case
            // whose lake is not all there.
            crate::case::team::publish(&store, &prepared.lake, None)
                .map_err(|e| super::case_error(out, e))?;
            let session = crate::case::Session::create_shared(
                store,
                &cache,
                &args.playbook,
                &prepared.inputs,
                mode,
                ctx,
                None,
            )
            .map_err(|e| super::case_error(out, e))?;
            let session =
                crate::rehearse::playtest::exercise_in(session, &prepared).map_err(rehearse_error)?;
            out.note(&format!(
                "a team exercise: players join with `irp join {} --role ROLE`; this irp lands the injects, so keep it open",
                case_dir.display()
            ));
            session
        }
        None => crate::rehearse::playtest::exercise(&args.playbook, &prepared, &case_dir, ctx, mode)
            .map_err(rehearse_error)?,
    };
    super::run::take_role(out, &mut session, args.role.as_deref())?;
    let lake = session
        .state
        .exercise
        .as_ref()
        .map_or_else(|| prepared.lake.clone(), |x| PathBuf::from(&x.lake));
    let backend =
        LocalRunner::open(&lake, crate::query::backend::local::Options::default()).map_err(|e| {
            CliError::user(
                e.to_string(),
                "the lake is not readable; delete it from the cache to make it again",
            )
        })?;
    let mut backend: Option<Box<dyn crate::case::backend::QueryRunner + Send>> = Some(Box::new(backend));
    out.note(&format!("case {}", case_dir.display()));
    if args.facilitate {
        drop(backend);
        facilitate(out, &mut session)?;
        drop(session);
    } else {
        match answers {
            Some(answers) => {
                let result = super::run::drive(
                    out,
                    &mut session,
                    &answers,
                    &mut backend,
                    &mut executor,
                    args.json,
                );
                drop(session);
                result?;
            }
            None => interactive(out, session, backend, executor)?,
        }
    }
    // A team exercise is scored on this replica, brought up to date.
    let scored = super::case::readable_case(
        out,
        &case_dir,
        &super::AwsArgs {
            endpoint_url: args.case_endpoint_url.clone(),
            ..super::AwsArgs::default()
        },
    )?;
    show_score(out, &scored, &case_dir, args.json)
}

/// Prints the score of a closed exercise (text, or JSON with `--json`).
fn show_score(
    out: Output,
    case_dir: &std::path::Path,
    shown_as: &std::path::Path,
    json: bool,
) -> Result<(), CliError> {
    let now = crate::clock::Clock::from_env().map_or_else(|_| chrono::Utc::now(), |c| c.now());
    match crate::rehearse::score_case(case_dir, now) {
        Ok(Some(score)) if !score.closed => {
            out.status(&format!(
                "the exercise is not over: `irp resume {}` continues it, and the score is shown when the case closes",
                shown_as.display()
            ));
            Ok(())
        }
        Ok(Some(score)) => {
            if json {
                out.data(&format!(
                    "{}\n",
                    serde_json::to_string(&score).unwrap_or_default()
                ));
            } else {
                for line in score.lines() {
                    out.status(&line);
                }
                out.status(&format!(
                    "`irp report {} --format html -o report.html` writes the report with the score",
                    shown_as.display()
                ));
            }
            Ok(())
        }
        Ok(None) => Ok(()),
        Err(e) => Err(CliError::user(e.to_string(), "`irp verify CASE` checks the case")),
    }
}

/// The facilitator's console of a team exercise: every second, the players' new entries are
/// read and printed, and the injects that fall due land; until the case closes.
fn facilitate(out: Output, session: &mut crate::case::Session) -> Result<(), CliError> {
    let exercise = crate::rehearse::exercise_of(session)
        .transpose()
        .map_err(|e| CliError::user(e.to_string(), "`irp verify CASE` checks the case's files"))?
        .ok_or_else(|| CliError::user("the case is not an exercise", "see docs/rehearsals.md"))?;
    let mut shown = session.entries.len();
    loop {
        session.pull().map_err(|e| super::case_error(out, e))?;
        exercise.land_due(session, &mut |_| {}).map_err(|e| {
            super::stopped(
                &e,
                "`irp join CASE` as the facilitator lands the injects from there",
            )
        })?;
        for e in &session.entries[shown..] {
            if e.event.is_housekeeping() {
                continue;
            }
            if let Some(line) = crate::engine::line_for(e.seq, &e.event) {
                out.status(&format!(
                    "{} {}: {}",
                    e.actor,
                    line.kind,
                    match &line.step {
                        Some(s) => format!("{s}: {}", line.outcome),
                        None => line.outcome.clone(),
                    }
                ));
            } else {
                out.status(&format!("{} {}", e.actor, crate::engine::describe(&e.event)));
            }
        }
        shown = session.entries.len();
        if session.state.closed.is_some() {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_secs(1));
    }
}

/// Moves rehearsal cases an older irp kept in the cache to the data folder, and says so.
pub fn note_moved_cases(out: Output) {
    let (moved, left) = crate::rehearse::lake::move_cached_cases();
    if !moved.is_empty() {
        out.note(&format!(
            "moved {} rehearsal case{} from the cache to {} (a cache may be purged; cases are kept)",
            moved.len(),
            if moved.len() == 1 { "" } else { "s" },
            crate::rehearse::lake::cases_root().display()
        ));
    }
    for (path, why) in left {
        out.note(&format!(
            "warning: the rehearsal case {} stays in the cache ({why}); move it by hand to keep it",
            path.display()
        ));
    }
}
