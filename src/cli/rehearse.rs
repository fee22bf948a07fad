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
    /// The folder for the case (default: a new folder under the cache's `cases/`).
    #[arg(long, value_name = "DIR")]
    pub case_dir: Option<PathBuf>,
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
    let answers = if let (Some(path), true) = (&args.answers, args.headless) {
        Some(Answers::load(path, &pb).map_err(answers_error)?)
    } else {
        ui_preflight()?;
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
    let case_dir = args.case_dir.clone().unwrap_or_else(|| {
        crate::rehearse::lake::cache_root().join("cases").join(format!(
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
    let mut session = crate::rehearse::playtest::exercise(&args.playbook, &prepared, &case_dir, ctx, mode)
        .map_err(|e| CliError::user(e.to_string(), "see docs/rehearsals.md"))?;
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
    show_score(out, &case_dir, args.json)
}

/// Prints the score of a closed exercise (text, or JSON with `--json`).
fn show_score(out: Output, case_dir: &std::path::Path, json: bool) -> Result<(), CliError> {
    let now = crate::clock::Clock::from_env().map_or_else(|_| chrono::Utc::now(), |c| c.now());
    match crate::rehearse::score_case(case_dir, now) {
        Ok(Some(score)) if !score.closed => {
            out.status(&format!(
                "the exercise is not over: `irp resume {}` continues it, and the score is shown when the case closes",
                case_dir.display()
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
                    case_dir.display()
                ));
            }
            Ok(())
        }
        Ok(None) => Ok(()),
        Err(e) => Err(CliError::user(e.to_string(), "`irp verify CASE` checks the case")),
    }
}
