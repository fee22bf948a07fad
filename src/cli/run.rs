//! `irp run PLAYBOOK --case-dir DIR --headless --answers FILE`: opens a case and walks it.

use std::path::PathBuf;

use clap::Args;

use super::{CliError, Output, case_error, session_context};
use crate::action::aws::AwsSettings;
use crate::case::Session;
use crate::case::actions::Executor;
use crate::case::answers::Answers;
use crate::case::backend::AthenaRunner;
use crate::case::backend::LocalRunner;
use crate::case::{backend, headless};
use crate::engine::Mode;
use crate::playbook::context::TableNaming;

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The playbook file.
    pub playbook: PathBuf,
    /// The folder for the new case (created if missing; must be empty or new), or
    /// `s3://BUCKET/PREFIX` for a case several responders share (docs/cases.md).
    #[arg(long, value_name = "DIR", required_unless_present = "dry_run")]
    pub case_dir: Option<PathBuf>,
    /// Print every query step's SQL as the backend would receive it (rendered with the inputs;
    /// a step that reads earlier captures says so), check each for an unbounded lake scan, and
    /// stop: no case is opened and nothing runs.
    #[arg(long)]
    pub dry_run: bool,
    /// A shared case only (`--case-dir s3://…`): the responders' keys (ssh-keygen's
    /// `allowed_signers` format), kept with the case; every entry must then be signed by one
    /// of them, and a reader stops at an entry that is not.
    #[arg(long, value_name = "FILE")]
    pub allowed_signers: Option<PathBuf>,
    /// An input of the playbook, `name=value` (lists comma-separated). Repeat for each input.
    #[arg(long = "input", short = 'i', value_name = "NAME=VALUE", value_parser = parse_input)]
    pub inputs: Vec<(String, String)>,
    #[command(flatten)]
    pub drive: DriveArgs,
}

/// How a case is driven: the flags `run` and `resume` share.
#[derive(Debug, Args)]
pub struct DriveArgs {
    /// Work without a terminal UI, taking every answer from `--answers`.
    #[arg(long, requires = "answers")]
    pub headless: bool,
    /// The answers file (YAML) of a headless run: per step, the option, confirmation, skip,
    /// notes and evidence.
    #[arg(long, value_name = "FILE")]
    pub answers: Option<PathBuf>,
    /// Where query steps run: `local`, the embedded engine over `--lake` (the default when
    /// `--lake` is given), or `athena`.
    #[arg(long, value_enum)]
    pub backend: Option<Backend>,
    /// The local lake the `local` backend reads.
    #[arg(long, value_name = "DIR")]
    pub lake: Option<PathBuf>,
    /// Who the journal records as acting (default: the answers file's `actor`, `IRP_ACTOR`, `USER`).
    #[arg(long)]
    pub actor: Option<String>,
    /// One JSON object per finished step instead of text.
    #[arg(long)]
    pub json: bool,
    /// Let actions change the AWS account for real (after confirmation). Without it a new case
    /// is a rehearsal, and a live case cannot be resumed. `--endpoint-url` sends the calls
    /// elsewhere (moto, for a drill); `--profile` and `--region` choose the account.
    #[arg(long)]
    pub live: bool,
    /// Take this role of the playbook's `roles` (a case a team works): once a role is taken, a
    /// step's role decides who may act on it (docs/cases.md, "Roles and hand-over").
    #[arg(long)]
    pub role: Option<String>,
    #[command(flatten)]
    pub signing: super::SigningArgs,
    #[command(flatten)]
    pub athena: super::athena::AthenaArgs,
}

/// Takes `role` for the session's responder, unless they hold it already.
pub fn take_role(out: Output, session: &mut Session, role: Option<&str>) -> Result<(), CliError> {
    let Some(role) = role else {
        return Ok(());
    };
    if session.state.roles.get(role).map(String::as_str) == Some(session.actor()) {
        return Ok(());
    }
    session
        .execute(&crate::engine::Command::TakeRole {
            role: role.to_owned(),
        })
        .map_err(|e| case_error(out, e))?;
    out.note(&format!("{} holds the {role} role", session.actor()));
    Ok(())
}

/// The query backends a run can use.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Backend {
    /// The embedded engine over a local lake (`--lake DIR`).
    Local,
    /// Amazon Athena over Security Lake (credentials from the standard AWS configuration).
    Athena,
}

/// Opens the backend the flags ask for, if any, and names the playbook's tables as it finds
/// them.
pub fn open_backend(
    drive: &DriveArgs,
    session: &mut Session,
) -> Result<Option<Box<dyn backend::QueryRunner + Send>>, CliError> {
    let (runner, naming) = open_runner(drive)?;
    if let Some(naming) = naming {
        session.set_naming(naming);
    }
    Ok(runner)
}

type Runner = Box<dyn backend::QueryRunner + Send>;

/// The backend the flags ask for, and how it names the tables when that is not the default.
fn open_runner(drive: &DriveArgs) -> Result<(Option<Runner>, Option<TableNaming>), CliError> {
    match (drive.backend, drive.lake.as_deref()) {
        (Some(Backend::Athena), _) => {
            let config = super::athena::load_config()?;
            let refuse = config.athena.unbounded == Some(super::athena::Unbounded::Refuse);
            let runner = AthenaRunner::open(drive.athena.settings(&config.athena)?, refuse)
                .map_err(|e| CliError::user(e, "see docs/backends.md for the Athena settings"))?;
            let naming = runner.naming();
            Ok((Some(Box::new(runner)), Some(naming)))
        }
        (Some(Backend::Local) | None, Some(lake)) => {
            LocalRunner::open(lake, crate::query::backend::local::Options::default())
                .map(|r| (Some(Box::new(r) as Runner), None))
                .map_err(|e| CliError::user(e.to_string(), "generate a lake with `irp lake generate DIR`"))
        }
        (Some(Backend::Local), None) => Err(CliError::user(
            "the local backend needs a lake",
            "give `--lake DIR` (make one with `irp lake generate DIR`)",
        )),
        (None, None) => Ok((None, None)),
    }
}

/// What a new case opens with.
struct Opening {
    runner: Option<Runner>,
    naming: Option<TableNaming>,
    inputs: crate::case::finding::Inputs,
    note: Option<String>,
}

/// A new case's backend and inputs: with `-i finding_id=…` and a playbook that reads findings
/// (`from_finding`), the finding fills the inputs not given; the note says so for the journal.
fn open_with_finding(
    drive: &DriveArgs,
    pb: &crate::playbook::Playbook,
    given: &[(String, String)],
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Opening, CliError> {
    let (mut runner, naming) = open_runner(drive)?;
    let names = naming.clone().unwrap_or_default();
    let mut read = |sql: &str| match runner.as_mut() {
        Some(r) => r.rows(sql),
        None => Err("no query backend was given to read it from".to_owned()),
    };
    match crate::case::finding::fill(pb, given, &names, now, &mut read) {
        None => Ok(Opening {
            runner,
            naming,
            inputs: given.to_vec(),
            note: None,
        }),
        Some(Ok(filled)) => Ok(Opening {
            runner,
            naming,
            inputs: filled.inputs,
            note: Some(filled.note),
        }),
        Some(Err(e)) => Err(CliError::user(
            format!("cannot open the case from the finding: {e}"),
            "give `--lake DIR` or `--backend athena` to read sh_findings, or the inputs themselves with -i",
        )),
    }
}

/// Journals where the inputs came from, right after the opening.
fn note_finding(out: Output, session: &mut Session, note: Option<String>) -> Result<(), CliError> {
    if let Some(text) = note {
        out.status(&text);
        session
            .execute(&crate::engine::Command::AddNote { text })
            .map_err(|e| case_error(out, e))?;
    }
    Ok(())
}

pub fn parse_input(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.trim().to_owned(), v.to_owned()))
        .filter(|(k, _)| !k.is_empty())
        .ok_or_else(|| format!("`{s}` is not `name=value`"))
}

pub fn cmd_run(out: Output, args: &RunArgs) -> Result<(), CliError> {
    if args.dry_run {
        return dry_run(out, args);
    }
    let Some(case_dir) = args.case_dir.as_ref() else {
        return Err(CliError::user("no case folder", "give `--case-dir DIR`"));
    };
    let Some(answers_path) = args.drive.answers.as_ref().filter(|_| args.drive.headless) else {
        return run_interactive(out, args, case_dir);
    };
    // The playbook is read twice (here for the answers check, then by the session, which
    // snapshots exactly the bytes it runs); a change in between is caught by the snapshot hash.
    let pb = valid_playbook(out, &args.playbook)?;
    let answers = Answers::load(answers_path, &pb).map_err(answers_error)?;
    let ctx = session_context(
        args.drive.actor.as_deref(),
        answers.actor.as_deref(),
        "run",
        args.drive.signing.signer()?,
    )?;
    let mode = if args.drive.live {
        Mode::Live
    } else {
        Mode::Rehearsal
    };
    // Connect first (no call is made yet): a live case needs a region before it opens.
    let mut executor = executor_for(&args.drive, mode)?;
    let Opening {
        runner: mut backend,
        naming,
        inputs,
        note,
    } = open_with_finding(&args.drive, &pb, &args.inputs, ctx.clock.now())?;
    let auto_seal = super::case::auto_seal()?;
    let mut session = open_case(out, args, case_dir, &inputs, mode, ctx)?;
    if let Some(auto) = auto_seal {
        session.seal_as_it_goes(auto);
    }
    if let Some(naming) = naming {
        session.set_naming(naming);
    }
    out.status_beside(
        args.drive.json,
        &format!(
            "case {} opened in {} ({} {}, {})",
            session.state.opened.as_ref().map_or("", |o| o.case.as_str()),
            case_dir.display(),
            session.playbook.id,
            session.playbook.version,
            if args.drive.live {
                "LIVE: confirmed actions change the AWS account"
            } else {
                "rehearsal: actions are simulated"
            },
        ),
    );
    note_finding(out, &mut session, note)?;
    drive(
        out,
        &mut session,
        &answers,
        &mut backend,
        &mut executor,
        args.drive.json,
    )
}

/// `irp run` without `--headless`: the case opens and the terminal UI walks it.
/// A new case in a folder, or shared on S3 when `case_dir` is `s3://BUCKET/PREFIX`.
fn open_case(
    out: Output,
    args: &RunArgs,
    case_dir: &std::path::Path,
    inputs: &[(String, String)],
    mode: Mode,
    ctx: crate::case::Context,
) -> Result<Session, CliError> {
    // Read (and refused for a folder) before anything is opened.
    let allowed = allowed_signers(args)?;
    let opened = match super::case::shared_store(case_dir, &args.drive.athena)? {
        Some((store, cache)) => Session::create_shared(
            store,
            &cache,
            &args.playbook,
            inputs,
            mode,
            ctx,
            allowed.as_deref(),
        ),
        None => Session::create(case_dir, &args.playbook, inputs, mode, ctx),
    };
    let mut session = opened.map_err(|e| case_error(out, e))?;
    take_role(out, &mut session, args.drive.role.as_deref())?;
    Ok(session)
}

/// The `--allowed-signers` file of a new shared case, read.
fn allowed_signers(args: &RunArgs) -> Result<Option<Vec<u8>>, CliError> {
    let Some(path) = &args.allowed_signers else {
        return Ok(None);
    };
    if !args
        .case_dir
        .as_ref()
        .is_some_and(|c| c.to_string_lossy().starts_with("s3://"))
    {
        return Err(CliError::user(
            "`--allowed-signers` on `irp run` is for a shared case (`--case-dir s3://…`)",
            "a case folder's signatures are checked with `irp verify --allowed-signers`",
        ));
    }
    std::fs::read(path).map(Some).map_err(|e| {
        CliError::user(
            format!("cannot read {}: {e}", path.display()),
            "give an allowed_signers file (ssh-keygen's format)",
        )
    })
}

fn run_interactive(out: Output, args: &RunArgs, case_dir: &std::path::Path) -> Result<(), CliError> {
    ui_preflight()?;
    let pb = valid_playbook(out, &args.playbook)?;
    let ctx = session_context(
        args.drive.actor.as_deref(),
        None,
        "run",
        args.drive.signing.signer()?,
    )?;
    let mode = if args.drive.live {
        Mode::Live
    } else {
        Mode::Rehearsal
    };
    let executor = executor_for(&args.drive, mode)?;
    let Opening {
        runner: backend,
        naming,
        inputs,
        note,
    } = open_with_finding(&args.drive, &pb, &args.inputs, ctx.clock.now())?;
    let auto_seal = super::case::auto_seal()?;
    let mut session = open_case(out, args, case_dir, &inputs, mode, ctx)?;
    if let Some(auto) = auto_seal {
        session.seal_as_it_goes(auto);
    }
    if let Some(naming) = naming {
        session.set_naming(naming);
    }
    note_finding(out, &mut session, note)?;
    interactive(out, session, backend, executor)
}

/// Refuses the UI early, before a case is created, when there is no terminal to draw on.
pub fn ui_preflight() -> Result<(), CliError> {
    crate::ui::check_terminal().map_err(|e| {
        CliError::user(
            e.to_string(),
            "run it in a terminal, or walk the case with `--headless --answers FILE`",
        )
    })
}

/// Hands the session to the terminal UI; afterwards says where the case stands.
pub fn interactive(
    out: Output,
    session: Session,
    backend: Option<Box<dyn backend::QueryRunner + Send>>,
    executor: Executor,
) -> Result<(), CliError> {
    let folder = session.dir.root.clone();
    let launch = crate::ui::Launch {
        session,
        backend,
        executor,
        color: out.wants_color(),
    };
    crate::ui::run(launch).map_err(|e| {
        CliError::user(
            format!("{e}; the case is saved"),
            format!("`irp resume {}` continues it", folder.display()),
        )
    })?;
    // The UI has released the case: read where it stands, from the journal.
    let state = crate::journal::store::read(&folder.join(crate::journal::CaseDir::JOURNAL))
        .map(|scan| crate::engine::State::replay(scan.entries.iter().map(|e| &e.event)))
        .unwrap_or_default();
    if state.closed.is_some() {
        out.status(&format!(
            "case closed; `irp verify {}` checks its journal",
            folder.display()
        ));
    } else {
        out.status(&format!(
            "case saved; `irp resume {}` continues it",
            folder.display()
        ));
    }
    Ok(())
}

/// One finished step: `seq kind step outcome`, or the line as JSON.
pub fn print_line(out: Output, line: &crate::engine::StepLine, json: bool) {
    if json {
        out.data(&format!("{}\n", serde_json::to_string(line).unwrap_or_default()));
    } else {
        out.status(&format!(
            "{:>5}  {:<8} {:<28} {}",
            line.seq,
            line.kind,
            line.step.as_deref().unwrap_or("-"),
            line.outcome
        ));
    }
}

/// How the case's actions run: simulated in a rehearsal; with the AWS SDK in a live case, which
/// the command line must say (`--live`) every time it is run or resumed.
pub fn executor_for(drive: &DriveArgs, mode: Mode) -> Result<Executor, CliError> {
    executor(mode, drive.live, &aws_settings(&drive.athena))
}

/// The executor for a case of `mode`, when the command line says `--live` or not.
pub fn executor(mode: Mode, live: bool, settings: &AwsSettings) -> Result<Executor, CliError> {
    match (mode, live) {
        (Mode::Rehearsal, false) => Ok(Executor::Rehearsal),
        (Mode::Rehearsal, true) => Err(CliError::user(
            "this case is a rehearsal: its actions are simulated and stay so",
            "resume it without `--live`, or open a new case with `irp run --live`",
        )),
        (Mode::Live, false) => Err(CliError::user(
            "this is a live case: its actions change the AWS account, and irp does that only when told so on the command line",
            "resume it with `--live` (and the same `--profile`/`--region`/`--endpoint-url`)",
        )),
        (Mode::Live, true) => {
            refuse_pinned_clock()?;
            Executor::live(settings).map_err(|e| {
                CliError::user(
                    format!("cannot set up the AWS calls: {e}"),
                    "see docs/actions.md for the settings a live case needs",
                )
            })
        }
    }
}

/// A live case records when things really happened: a clock or ids pinned for tests and
/// reproducible rehearsals (`IRP_NOW`, `IRP_SEED`) are refused before anything is written.
fn refuse_pinned_clock() -> Result<(), CliError> {
    let pinned: Vec<&str> = ["IRP_NOW", "IRP_SEED"]
        .into_iter()
        .filter(|k| std::env::var(k).is_ok_and(|v| !v.trim().is_empty()))
        .collect();
    if pinned.is_empty() {
        return Ok(());
    }
    Err(CliError::user(
        format!(
            "{} {} set: {} the clock or the ids for tests and reproducible rehearsals, and a live case's journal must say when things really happened",
            pinned.join(" and "),
            if pinned.len() == 1 { "is" } else { "are" },
            if pinned.len() == 1 { "it pins" } else { "they pin" }
        ),
        format!("unset {} for a live case", pinned.join(" and ")),
    ))
}

/// The AWS settings of actions: the same `--profile`, `--region` and `--endpoint-url` as Athena's.
pub fn aws_settings(args: &super::athena::AthenaArgs) -> AwsSettings {
    settings_of(
        args.profile.clone(),
        args.region.clone(),
        args.endpoint_url.clone(),
    )
}

/// AWS settings from the flags; retries may be tuned with `IRP_AWS_MAX_ATTEMPTS` and
/// `IRP_AWS_RETRY_BACKOFF_MS`.
pub fn settings_of(
    profile: Option<String>,
    region: Option<String>,
    endpoint_url: Option<String>,
) -> AwsSettings {
    AwsSettings {
        profile,
        region,
        endpoint_url,
        retry_attempts: std::env::var("IRP_AWS_MAX_ATTEMPTS")
            .ok()
            .and_then(|v| v.parse().ok()),
        retry_backoff: std::env::var("IRP_AWS_RETRY_BACKOFF_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .map(std::time::Duration::from_millis),
    }
}

/// The playbook at `path` if it is valid; otherwise its diagnostics are printed.
pub fn valid_playbook(
    out: Output,
    path: &std::path::Path,
) -> Result<crate::playbook::model::Playbook, CliError> {
    let loaded = crate::files::load_playbook(path);
    let failed = loaded.has_errors();
    loaded.playbook.filter(|_| !failed).ok_or_else(|| {
        for d in &loaded.diagnostics {
            out.diagnostic(path, d);
        }
        CliError::Reported
    })
}

/// `irp run --dry-run`: the playbook's queries as the chosen backend would receive them.
fn dry_run(out: Output, args: &RunArgs) -> Result<(), CliError> {
    use crate::engine::{self, CaseOpened, Command, Env, PlaybookRef, State};
    use crate::playbook::model::StepKind;
    use std::fmt::Write;
    let pb = valid_playbook(out, &args.playbook)?;
    let clock = crate::clock::Clock::from_env()
        .map_err(|e| CliError::user(e, "unset IRP_NOW or give an RFC 3339 time"))?;
    let mut env = Env {
        now: clock.now(),
        ..Env::default()
    };
    if matches!(args.drive.backend, Some(Backend::Athena)) {
        let config = super::athena::load_config()?;
        let settings = args.drive.athena.settings(&config.athena)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| {
                CliError::user(
                    format!("cannot start a runtime: {e}"),
                    "check the system's thread limits",
                )
            })?;
        // Loads the AWS configuration only (for the region); nothing is sent to Athena.
        let athena = runtime
            .block_on(crate::query::backend::athena::Athena::connect(settings))
            .map_err(|e| CliError::user(e.to_string(), e.hint()))?;
        env.naming = athena.naming();
    }
    let inputs = engine::resolve_inputs(&pb, &args.inputs, env.now).map_err(|problems| {
        CliError::user(
            format!("the inputs do not fit the playbook: {}", problems.join("; ")),
            "give each input as `-i NAME=VALUE`",
        )
    })?;
    let open = Command::Open(CaseOpened {
        case: "dry-run".to_owned(),
        mode: Mode::Rehearsal,
        playbook: PlaybookRef {
            id: pb.id.clone(),
            title: pb.title.clone(),
            version: pb.version.clone(),
            sha256: String::new(),
            snapshot: String::new(),
            source: args.playbook.display().to_string(),
        },
        inputs,
    });
    let mut state = State::default();
    let opened = engine::decide(&pb, &state, &open, &env)
        .map_err(|e| CliError::user(e.to_string(), "check the inputs"))?;
    state.apply(&opened);
    let mut text = String::new();
    for (index, step) in pb.steps.iter().enumerate() {
        let StepKind::Query(q) = &step.kind else { continue };
        let _ = writeln!(text, "-- step `{}` ({}): {}", step.id, q.table, step.title);
        let ctx = engine::template_context(&pb, &state, index, &env);
        match crate::playbook::template::render_sql(&q.sql, &ctx) {
            Ok(sql) => {
                let unbounded = crate::query::dialect::guard::unbounded_lake_tables(&sql).unwrap_or_default();
                if !unbounded.is_empty() {
                    let _ = writeln!(
                        text,
                        "-- warning: reads {} with no bound on time_dt or eventday",
                        unbounded.join(", ")
                    );
                }
                text.push_str(sql.trim_end());
                text.push_str(";\n\n");
            }
            Err(e) => {
                let _ = writeln!(
                    text,
                    "-- not rendered yet: {} (it reads values that earlier steps capture)\n",
                    e.message
                );
            }
        }
    }
    out.data(&text);
    Ok(())
}

#[allow(clippy::needless_pass_by_value)] // used as `map_err(answers_error)`
pub fn answers_error(problems: Vec<String>) -> CliError {
    let problems = &problems;
    CliError::User {
        message: format!(
            "the answers file does not fit the playbook:\n  {}",
            problems.join("\n  ")
        ),
        hints: vec!["see docs/cases.md for the answers format".to_owned()],
    }
}

/// Runs the headless driver and prints one line per finished step.
pub fn drive(
    out: Output,
    session: &mut Session,
    answers: &Answers,
    backend: &mut Option<Box<dyn backend::QueryRunner + Send>>,
    executor: &mut Executor,
    json: bool,
) -> Result<(), CliError> {
    let mut print = |line: &crate::engine::StepLine| print_line(out, line, json);
    let backend: Option<&mut dyn backend::QueryRunner> = match backend.as_mut() {
        Some(b) => Some(b.as_mut() as &mut dyn backend::QueryRunner),
        None => None,
    };
    // A rehearsal's injects land between moves (each is printed as a line of its own).
    let exercise = crate::rehearse::exercise_of(session).transpose().map_err(|e| {
        CliError::user(
            e.to_string(),
            "`irp verify CASE` checks the case's files against its journal",
        )
    })?;
    let mut between = |s: &mut Session, report: &mut dyn FnMut(&crate::engine::StepLine)| {
        exercise.as_ref().map_or(Ok(false), |x| x.land_due(s, report))
    };
    match headless::drive_with(session, answers, backend, executor, &mut print, &mut between) {
        Ok(()) => Ok(()),
        Err(stop) => Err(super::stopped(&stop, "the case is saved and can be resumed")),
    }
}
