//! Game-day rehearsals: a playbook walked on a lake with an injected incident, its actions
//! simulated, the facilitator's injects landing as it runs, and a score at the end against the
//! scenario's truth and expected path. Also playbook tests (`irp test`), which are scripted
//! rehearsals with expectations.
//!
//! - `scenario`: the scenario files beside a playbook, resolved against a lake into a brief;
//! - `lake`: the cached generated lakes, working copies, and injects landing in them;
//! - `score`: the score of a case against its brief;
//! - `playtest`: the test cases a playbook declares, and their runner.

pub mod lake;
pub mod playtest;
pub mod scenario;
pub mod score;

use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDate, Utc};

use crate::case::Session;
use crate::case::moves::{MoveError, exec};
use crate::engine::StepLine;
use crate::engine::{Command, Event, ExerciseSet};
use crate::playbook::Playbook;
use crate::report::score::Score;
pub use scenario::{Brief, Scenario};

/// Why a rehearsal or a playbook test cannot go on: what is missing or wrong, and where.
#[derive(Debug, thiserror::Error)]
pub enum RehearseError {
    #[error("`{name}` is not a scenario: {} has none", .dir.display())]
    NoScenarioNamed { name: String, dir: PathBuf },
    #[error("`{name}` is not a scenario of this playbook (scenarios: {known})")]
    UnknownScenario { name: String, known: String },
    #[error("the playbook has no scenarios (looked in {})", .0.display())]
    NoScenarios(PathBuf),
    #[error("say which scenario with `--scenario` (scenarios: {0})")]
    WhichScenario(String),
    /// A scenario or test-case file that cannot be read, with the line and column of a YAML
    /// problem.
    #[error("{}", .diagnostic.display(.path))]
    File {
        path: PathBuf,
        diagnostic: crate::playbook::Diagnostic,
    },
    #[error("`{0}` opens `{{{{` without closing it")]
    Unclosed(String),
    #[error("`{{{{ {0} }}}}` reads the generator's truth, and this lake has no truth.json")]
    NoTruth(String),
    #[error("`{{{{ {path} }}}}` names nothing (at `{at}`)")]
    NamesNothing { path: String, at: String },
    #[error("{} holds no eventday= partitions: it is not a lake (make one with `irp lake generate` or `irp lake import`)", .0.display())]
    NotALake(PathBuf),
    #[error("the scenario imports {}, and it is not there (real logs the repository does not hold: see docs/rehearsals.md, \"Scenarios on real logs\")", .0.display())]
    MissingLogs(PathBuf),
    #[error("cannot copy the lake to {}: {source}", .path.display())]
    Copy { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Case(#[from] crate::case::CaseError),
    #[error("the exercise's brief cannot be read: {0}")]
    Brief(serde_json::Error),
    #[error(transparent)]
    Report(#[from] crate::report::ReportError),
    #[error("the case has no exercise")]
    NoExercise,
    #[error(transparent)]
    Query(#[from] crate::query::backend::local::QueryError),
    #[error(transparent)]
    Move(#[from] MoveError),
    #[error("the scripted rehearsal stopped: {0}")]
    Stopped(MoveError),
    /// An inject's event (1-based) that cannot be landed, and why.
    #[error("inject `{inject}`: event {event}: {why}")]
    InjectEvent {
        inject: String,
        event: usize,
        why: String,
    },
    #[error("inject `{inject}`: event {event} is not a record")]
    InjectNotRecord { inject: String, event: usize },
    #[error("inject `{inject}`: event {event} has no Security Lake table ({why})")]
    InjectNoTable {
        inject: String,
        event: usize,
        why: String,
    },
    #[error("inject `{inject}`: {why}")]
    InjectBatch {
        inject: String,
        why: arrow::error::ArrowError,
    },
    #[error("cannot create {}: {source}", .path.display())]
    Create { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Lake(#[from] crate::lake::LakeError),
}

/// An exercise ready to open: the scenario resolved against its lake.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub scenario: Scenario,
    pub brief: Brief,
    /// The lake as generated or given (the exercise's working copy is made from it).
    pub lake: PathBuf,
    /// The playbook's inputs the scenario sets, as `name=value`.
    pub inputs: Vec<(String, String)>,
    /// Whether a cached lake was reused.
    pub reused: bool,
    /// What `{{ … }}` references in the scenario and its tests resolve against.
    pub env: serde_json::Value,
    /// Where the inputs came from, when the scenario opens the case from a finding.
    pub finding_note: Option<String>,
}

/// What a rehearsal asks for.
#[derive(Debug, Clone, Default)]
pub struct Request<'a> {
    /// A scenario id beside the playbook, or a path; the playbook's default when `None`.
    pub scenario: Option<&'a str>,
    pub seed: Option<u64>,
    /// A lake to use instead of the scenario's generated one (an imported real lake).
    pub lake: Option<&'a Path>,
}

/// Finds and loads the scenario, generates (or reuses) its lake, and resolves it.
pub fn prepare(
    playbook_path: &Path,
    pb: &Playbook,
    req: &Request<'_>,
    today: NaiveDate,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> Result<Prepared, Vec<String>> {
    let path = scenario::find(playbook_path, req.scenario).map_err(|e| vec![e.to_string()])?;
    let scenario = Scenario::load(&path, pb)?;
    let seed = req
        .seed
        .or_else(|| scenario.file.lake.as_ref().map(|l| l.seed))
        .unwrap_or(0);
    let (lake, reused, window, region, account) = if let Some(dir) = req.lake {
        let window = lake_window(dir).map_err(|e| vec![e.to_string()])?;
        let (region, account) = first_partition(dir);
        (dir.to_owned(), true, window, region, account)
    } else if let Some(spec) = scenario.file.lake.as_ref().filter(|l| !l.import.is_empty()) {
        let paths = spec.import_paths(&path);
        if let Some(missing) = paths.iter().find(|p| !p.exists()) {
            return Err(vec![format!(
                "{}: {}",
                path.display(),
                RehearseError::MissingLogs(missing.clone())
            )]);
        }
        let (dir, reused) =
            lake::imported_lake(&lake::cache_root(), &paths, &spec.normalise).map_err(|e| vec![e])?;
        let window = lake_window(&dir).map_err(|e| vec![e.to_string()])?;
        let (region, account) = first_partition(&dir);
        (dir, reused, window, region, account)
    } else {
        let (Some(spec), Some(generator)) = (&scenario.file.lake, scenario.generator) else {
            return Err(vec![format!(
                "{}: the scenario has no `lake:` to generate; it runs on a lake you give with `--lake DIR`",
                path.display()
            )]);
        };
        let cfg = lake::config(spec, generator, seed, today);
        let (dir, reused) = lake::cached_lake(&lake::cache_root(), &cfg, progress).map_err(|e| vec![e])?;
        let first = cfg.end - chrono::Duration::days(i64::from(cfg.days) - 1);
        (
            dir,
            reused,
            (first, cfg.end),
            cfg.regions[0].clone(),
            cfg.accounts[0].clone(),
        )
    };
    let truth = std::fs::read(lake.join("truth.json"))
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .unwrap_or(serde_json::Value::Null);
    let env = scenario::env(&truth, window, &region, &account);
    let (brief, inputs) = scenario
        .resolve(&env, seed)
        .map_err(|e| vec![format!("{}: {e}", path.display())])?;
    let (inputs, finding_note) = from_finding(pb, inputs, &lake, today).map_err(|e| {
        vec![format!(
            "{}: cannot open the case from the finding: {e}",
            path.display()
        )]
    })?;
    Ok(Prepared {
        scenario,
        brief,
        lake,
        inputs,
        reused,
        env,
        finding_note,
    })
}

/// The scenario's inputs, completed from the finding they name (`finding_id`) when the playbook
/// reads findings; and the note that says so.
fn from_finding(
    pb: &Playbook,
    inputs: Vec<(String, String)>,
    lake: &Path,
    today: NaiveDate,
) -> Result<(crate::case::finding::Inputs, Option<String>), String> {
    use crate::case::backend::QueryRunner;
    let names_finding = inputs
        .iter()
        .any(|(k, v)| k == crate::playbook::context::FINDING_ID && !v.trim().is_empty());
    if pb.from_finding.is_none() || !names_finding {
        return Ok((inputs, None));
    }
    let mut runner =
        crate::case::backend::LocalRunner::open(lake, crate::query::backend::local::Options::default())
            .map_err(|e| e.to_string())?;
    let now = today
        .and_hms_opt(12, 0, 0)
        .map_or_else(chrono::Utc::now, |t| t.and_utc());
    let naming = crate::playbook::context::TableNaming::default();
    match crate::case::finding::fill(pb, &inputs, &naming, now, &mut |sql| runner.rows(sql)) {
        Some(Ok(filled)) => Ok((filled.inputs, Some(filled.note))),
        Some(Err(e)) => Err(e),
        None => Ok((inputs, None)),
    }
}

/// The first and last `eventday` partitions in a lake.
pub fn lake_window(lake: &Path) -> Result<(NaiveDate, NaiveDate), RehearseError> {
    let mut days = Vec::new();
    let mut stack = vec![lake.to_owned()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(day) = name.strip_prefix("eventday=") {
                if let Ok(day) = NaiveDate::parse_from_str(day, "%Y%m%d") {
                    days.push(day);
                }
            } else if e.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(e.path());
            }
        }
    }
    match (days.iter().min(), days.iter().max()) {
        (Some(a), Some(b)) => Ok((*a, *b)),
        _ => Err(RehearseError::NotALake(lake.to_owned())),
    }
}

/// The region and account of the lake's first partition (where injects land by default).
fn first_partition(lake: &Path) -> (String, String) {
    let pick = |dir: &Path, prefix: &str| -> Option<(String, PathBuf)> {
        let mut names: Vec<PathBuf> = std::fs::read_dir(dir).ok()?.flatten().map(|e| e.path()).collect();
        names.sort();
        names.into_iter().find_map(|p| {
            let n = p.file_name()?.to_string_lossy().into_owned();
            n.strip_prefix(prefix).map(|v| (v.to_owned(), p.clone()))
        })
    };
    let found = crate::playbook::table::LogicalTable::ALL.iter().find_map(|t| {
        let (region, rdir) = pick(&lake.join(t.as_str()), "region=")?;
        let (account, _) = pick(&rdir, "accountid=")?;
        Some((region, account))
    });
    found.unwrap_or_else(|| ("us-east-1".to_owned(), "111122223333".to_owned()))
}

/// Records the exercise in a new rehearsal case: the brief as an artifact, then `exercise_set`.
pub fn begin(session: &mut Session, prepared: &Prepared, lake: &Path) -> Result<(), MoveError> {
    let bytes = serde_json::to_vec_pretty(&prepared.brief).unwrap_or_default();
    let brief = session.write_artifact("exercise", "json", &bytes)?;
    let cmd = Command::SetExercise(ExerciseSet {
        scenario: prepared.brief.scenario.clone(),
        title: prepared.brief.title.clone(),
        seed: prepared.brief.seed,
        lake: lake.display().to_string(),
        brief,
    });
    exec(session, &cmd, &mut |_| {})
}

/// A case's exercise as a driver needs it: the brief and the lake its injects land in.
#[derive(Debug, Clone)]
pub struct Exercise {
    pub brief: Brief,
    pub lake: PathBuf,
    /// A player's copy of a team exercise: injects are not landed here but fetched, once the
    /// facilitator's irp has landed them.
    pub fetches: bool,
}

/// The case's exercise, if it is one: its brief read back from the case (checked against the
/// hash the journal holds) and its lake.
pub fn exercise_of(session: &Session) -> Option<Result<Exercise, RehearseError>> {
    let x = session.state.exercise.as_ref()?;
    let fetches = session.fetches_injects();
    Some(read_brief(&session.dir, x).map(|brief| Exercise {
        brief,
        lake: if fetches {
            session.team_lake()
        } else {
            PathBuf::from(&x.lake)
        },
        fetches,
    }))
}

fn read_brief(dir: &crate::journal::CaseDir, x: &ExerciseSet) -> Result<Brief, RehearseError> {
    let bytes = crate::case::read_artifact(dir, &x.brief)?;
    serde_json::from_slice(&bytes).map_err(RehearseError::Brief)
}

impl Exercise {
    /// Lands every inject that is due and has not landed: those whose time since the case
    /// opened has come, and those whose step the case has entered. Each is written into the
    /// lake, then journaled. Says whether any landed (the query backend must then look again).
    pub fn land_due(
        &self,
        session: &mut Session,
        report: &mut dyn FnMut(&StepLine),
    ) -> Result<bool, MoveError> {
        if self.fetches {
            // A player's irp: the facilitator's lands them; the files follow the entries.
            return Ok(session.fetch_lake(&self.lake, false)? > 0);
        }
        if session.state.closed.is_some() {
            return Ok(false);
        }
        let now = session.env().now;
        let opened = session.entries.first().map_or(now, |e| e.at);
        let mut landed = false;
        for inject in &self.brief.injects {
            if session.state.injects.contains(&inject.name) {
                continue;
            }
            // A time beyond what a clock can hold (only a hand-edited brief has one) never comes.
            let due = inject.at_s.is_some_and(|s| {
                i64::try_from(s)
                    .ok()
                    .and_then(chrono::Duration::try_seconds)
                    .and_then(|d| opened.checked_add_signed(d))
                    .is_some_and(|at| now >= at)
            }) || inject
                .at_step
                .as_ref()
                .is_some_and(|s| session.state.path.contains(s));
            if !due {
                continue;
            }
            let event = lake::land(&self.lake, inject, now).map_err(|e| MoveError::StepFailed {
                step: format!("inject {}", inject.name),
                error: e.to_string(),
            })?;
            landed = true;
            // A team exercise: the files are on S3 before the entry that names them.
            let files: Vec<String> = event.file.split(", ").map(str::to_owned).collect();
            session.publish_lake(&self.lake, Some(&files))?;
            exec(session, &Command::LandInject(event), report)?;
        }
        Ok(landed)
    }
}

/// The score of the case in `dir` if it is an exercise; `now` stamps the report it is worked
/// out from.
pub fn score_case(dir: &Path, now: DateTime<Utc>) -> Result<Option<Score>, RehearseError> {
    let record = crate::report::CaseRecord::read(dir)?;
    let Some(brief) = brief_of(&record).transpose()? else {
        return Ok(None);
    };
    let report = crate::report::build(&record, now);
    Ok(Some(score::score(&report, &record.playbook, &brief)))
}

/// Scores a report built from `record` against its exercise's brief, read from the case folder,
/// and attaches the score, or why there is none, to it. A case that is not an exercise gets
/// neither. `report::build` never reads the brief: scoring is the rehearsal's business.
pub fn attach_score(record: &crate::report::CaseRecord, report: &mut crate::report::Report) {
    match brief_of(record) {
        Some(Ok(brief)) => report.score = Some(score::score(report, &record.playbook, &brief)),
        Some(Err(problem)) => report.exercise_problem = Some(problem.to_string()),
        None => {}
    }
}

/// The brief of the case's exercise, if it is one.
fn brief_of(record: &crate::report::CaseRecord) -> Option<Result<Brief, RehearseError>> {
    let x = record.scan.entries.iter().find_map(|e| match &e.event {
        Event::ExerciseSet(x) => Some(x),
        _ => None,
    })?;
    Some(read_brief(&record.dir, x))
}
