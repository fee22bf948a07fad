//! Playbook tests: the cases a playbook declares in `playbooks/<playbook>/tests/*.yaml`, each a
//! scenario, a seed and an answers file with the path, captures, conclusion and score the
//! scripted rehearsal must give. `irp test` runs them headlessly on the embedded engine.

use super::RehearseError;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{Prepared, Request, Score};
use crate::case::answers::Answers;
use crate::case::backend::LocalRunner;
use crate::case::headless;
use crate::case::{Context, Session};
use crate::engine::Mode;
use crate::engine::StepLine;
use crate::playbook::{Diagnostic, Playbook, Pos};

/// A test case file as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestFile {
    pub title: String,
    /// A scenario of the playbook (its id).
    pub scenario: String,
    /// The generator's seed (the scenario's when left out).
    #[serde(default)]
    pub seed: Option<u64>,
    /// The answers file, relative to this file.
    pub answers: String,
    pub expect: Expect,
}

/// What the scripted rehearsal must give.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// `incident` or `no incident`.
    #[serde(default)]
    pub conclusion: Option<String>,
    /// Every step entered, in order.
    #[serde(default)]
    pub path: Option<Vec<String>>,
    /// Captures and their values (`{{ truth.… }}` references allowed).
    #[serde(default)]
    pub captures: BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    pub score: Option<ScoreExpect>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScoreExpect {
    #[serde(default)]
    pub min_points: Option<u32>,
    #[serde(default)]
    pub max_points: Option<u32>,
    #[serde(default)]
    pub precision: Option<f64>,
    #[serde(default)]
    pub recall: Option<f64>,
    /// Words each of which some "practise next" item must contain.
    #[serde(default)]
    pub practise: Vec<String>,
}

/// How one test case went.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Outcome {
    pub playbook: String,
    pub test: String,
    pub title: String,
    pub passed: bool,
    /// Why the case did not run: the real logs its scenario imports are not on this machine.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
    /// What did not match, each with its diff.
    pub problems: Vec<String>,
    pub score: Option<Score>,
    /// The case folder (kept when the test failed).
    pub case: PathBuf,
    /// The exercise's working lake, when it had one of its own (for its injects).
    pub lake: Option<PathBuf>,
    pub seconds: f64,
}

/// The test case files beside a playbook, sorted.
pub fn test_files(playbook: &Path) -> Vec<PathBuf> {
    super::scenario::yaml_files(&super::scenario::companion_dir(playbook).join("tests"))
}

/// Checks the files in a playbook's companion folder against it, without running anything:
/// every scenario (`scenarios/`), answers file (`answers/`) and test case (`tests/`, whose
/// scenario must exist and whose answers file must fit). Returns the problems per file.
pub fn check_companions(playbook: &Path, pb: &Playbook) -> Vec<(PathBuf, Vec<Diagnostic>)> {
    let dir = super::scenario::companion_dir(playbook);
    let mut out = Vec::new();
    // The loaders name the file in each message; the diagnostic is about that file already.
    let strip = |path: &Path, problems: Vec<String>| -> Vec<Diagnostic> {
        let prefix = format!("{}: ", path.display());
        problems
            .into_iter()
            .map(|p| {
                Diagnostic::error(
                    Pos::UNKNOWN,
                    p.strip_prefix(&prefix).map(str::to_owned).unwrap_or(p),
                )
            })
            .collect()
    };
    let scenarios = super::scenario::scenario_files(playbook);
    for path in &scenarios {
        // A YAML problem keeps its line and column.
        if let Err(d) = super::scenario::read_yaml_at::<super::scenario::ScenarioFile>(path) {
            out.push((path.clone(), vec![d]));
            continue;
        }
        if let Err(problems) = super::Scenario::load(path, pb) {
            out.push((path.clone(), strip(path, problems)));
        }
    }
    for path in super::scenario::yaml_files(&dir.join("answers")) {
        if let Err(problems) = Answers::load(&path, pb) {
            out.push((path.clone(), strip(&path, problems)));
        }
    }
    for path in test_files(playbook) {
        let file: TestFile = match super::scenario::read_yaml_at(&path) {
            Ok(f) => f,
            Err(d) => {
                out.push((path.clone(), vec![d]));
                continue;
            }
        };
        let mut problems = Vec::new();
        if !scenarios
            .iter()
            .any(|p| p.file_stem().is_some_and(|s| s == file.scenario.as_str()))
        {
            problems.push(format!(
                "`scenario: {}` is not a scenario of playbook `{}`",
                file.scenario, pb.id
            ));
        }
        let answers = path.parent().unwrap_or(Path::new(".")).join(&file.answers);
        if !answers.is_file() {
            problems.push(format!("`answers: {}`: there is no such file", file.answers));
        }
        if let Some(steps) = &file.expect.path {
            for id in steps.iter().filter(|id| pb.step(id).is_none()) {
                problems.push(format!("`expect.path`: playbook `{}` has no step `{id}`", pb.id));
            }
        }
        for name in file.expect.captures.keys() {
            if !pb.captures().any(|c| c == name) {
                problems.push(format!(
                    "`expect.captures.{name}`: playbook `{}` has no such capture",
                    pb.id
                ));
            }
        }
        if let Some(c) = &file.expect.conclusion
            && c != "incident"
            && c != "no incident"
        {
            problems.push(format!("`expect.conclusion: {c}` is `incident` or `no incident`"));
        }
        if !problems.is_empty() {
            out.push((path.clone(), strip(&path, problems)));
        }
    }
    out
}

/// Runs one test case in `work` (a folder of its own is made there for the case).
pub fn run(
    playbook_path: &Path,
    pb: &Playbook,
    test_path: &Path,
    work: &Path,
    ctx: Context,
    today: chrono::NaiveDate,
) -> Outcome {
    let started = std::time::Instant::now();
    let test = test_path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let case = work.join(format!("{}--{test}", pb.id));
    let mut outcome = Outcome {
        playbook: pb.id.clone(),
        test,
        title: String::new(),
        passed: false,
        skipped: None,
        problems: Vec::new(),
        score: None,
        case: case.clone(),
        lake: None,
        seconds: 0.0,
    };
    match run_inner(playbook_path, pb, test_path, &case, ctx, today, &mut outcome) {
        Ok(()) => {}
        Err(problems) => outcome.problems.extend(problems),
    }
    outcome.passed = outcome.problems.is_empty() && outcome.skipped.is_none();
    outcome.seconds = started.elapsed().as_secs_f64();
    outcome
}

fn run_inner(
    playbook_path: &Path,
    pb: &Playbook,
    test_path: &Path,
    case: &Path,
    ctx: Context,
    today: chrono::NaiveDate,
    outcome: &mut Outcome,
) -> Result<(), Vec<String>> {
    let file: TestFile = super::scenario::read_yaml(test_path).map_err(|e| vec![e.to_string()])?;
    outcome.title.clone_from(&file.title);
    let answers_path = test_path.parent().unwrap_or(Path::new(".")).join(&file.answers);
    let answers = Answers::load(&answers_path, pb)?;
    if let Some(missing) = missing_logs(playbook_path, &file.scenario) {
        outcome.skipped = Some(super::RehearseError::MissingLogs(missing).to_string());
        return Ok(());
    }
    let req = Request {
        scenario: Some(&file.scenario),
        seed: file.seed,
        lake: None,
    };
    let prepared = super::prepare(playbook_path, pb, &req, today, &|_, _| {})?;
    let session =
        exercise(playbook_path, &prepared, case, ctx, Mode::Rehearsal).map_err(|e| vec![e.to_string()])?;
    outcome.lake = session
        .state
        .exercise
        .as_ref()
        .map(|x| PathBuf::from(&x.lake))
        .filter(|l| *l != prepared.lake);
    walk(session, &answers).map_err(|e| vec![e.to_string()])?;
    check(&file.expect, &prepared, case, pb, outcome);
    Ok(())
}

/// The first file or folder of real logs the scenario imports that is not on this machine.
fn missing_logs(playbook_path: &Path, scenario: &str) -> Option<PathBuf> {
    let path = super::scenario::find(playbook_path, Some(scenario)).ok()?;
    let file: super::scenario::ScenarioFile = super::scenario::read_yaml(&path).ok()?;
    file.lake?.import_paths(&path).into_iter().find(|p| !p.exists())
}

/// Opens a rehearsal case for the exercise (with a working copy of the lake when it has
/// injects) and records the exercise in it.
pub fn exercise(
    playbook_path: &Path,
    prepared: &Prepared,
    case: &Path,
    ctx: Context,
    mode: Mode,
) -> Result<Session, RehearseError> {
    let session = Session::create(case, playbook_path, &prepared.inputs, mode, ctx)?;
    exercise_in(session, prepared)
}

/// Sets a new case up as the exercise `prepared`: its working lake (a copy the injects land
/// in, when there are any) and the exercise journaled. A team's case on S3 has its lake put
/// under it before it is opened (`case::team::publish`).
pub fn exercise_in(mut session: Session, prepared: &Prepared) -> Result<Session, RehearseError> {
    let lake = if prepared.brief.injects.is_empty() {
        prepared.lake.clone()
    } else {
        let id = session
            .state
            .opened
            .as_ref()
            .map(|o| o.case.clone())
            .unwrap_or_default();
        let dir = working_lake(&id);
        let _ = std::fs::remove_dir_all(&dir);
        super::lake::working_copy(&prepared.lake, &dir)?;
        dir
    };
    super::begin(&mut session, prepared, &lake)?;
    if let Some(text) = &prepared.finding_note {
        session.execute(&crate::engine::Command::AddNote { text: text.clone() })?;
    }
    Ok(session)
}

/// The working lake of the exercise of case `id` (in the cache's `lakes/work/`).
pub fn working_lake(id: &str) -> PathBuf {
    super::lake::cache_root().join("lakes").join("work").join(id)
}

/// Walks the case headlessly to its end on the exercise's lake, injects landing as they fall due.
fn walk(mut session: Session, answers: &Answers) -> Result<(), RehearseError> {
    let exercise = super::exercise_of(&session).ok_or(RehearseError::NoExercise)??;
    let mut runner = LocalRunner::open(&exercise.lake, crate::query::backend::local::Options::default())?;
    let mut executor = crate::case::actions::Executor::Rehearsal;
    let mut between = |s: &mut Session, report: &mut dyn FnMut(&StepLine)| exercise.land_due(s, report);
    headless::drive_with(
        &mut session,
        answers,
        Some(&mut runner),
        &mut executor,
        &mut |_| {},
        &mut between,
    )
    .map_err(RehearseError::Stopped)
}

/// Compares the case with what the test expects; each difference is one problem.
fn check(expect: &Expect, prepared: &Prepared, case: &Path, pb: &Playbook, outcome: &mut Outcome) {
    let problems = &mut outcome.problems;
    let record = match crate::report::CaseRecord::read(case) {
        Ok(r) => r,
        Err(e) => {
            problems.push(e.to_string());
            return;
        }
    };
    if let Some(p) = &record.problem {
        problems.push(format!("the case's journal does not verify: {p:?}"));
    }
    let state = crate::engine::State::replay(record.scan.entries.iter().map(|e| &e.event));
    if let Some(want) = &expect.path
        && *want != state.path
    {
        problems.push(format!(
            "the path differs (- expected, + taken):\n{}",
            diff(want, &state.path)
        ));
    }
    for (name, want) in &expect.captures {
        let want = match super::scenario::resolve_value(want, &prepared.env) {
            Ok(v) => v,
            Err(e) => {
                problems.push(format!("`expect.captures.{name}`: {e}"));
                continue;
            }
        };
        match state.captures.get(name) {
            Some(got) if *got == want => {}
            Some(got) => problems.push(format!("capture `{name}`:\n  - {want}\n  + {got}")),
            None => problems.push(format!("capture `{name}`:\n  - {want}\n  + (never captured)")),
        }
    }
    let now = record.scan.entries.last().map_or_else(chrono::Utc::now, |e| e.at);
    let report = crate::report::build(&record, now);
    let score = super::score::score(&report, pb, &prepared.brief);
    if let Some(want) = &expect.conclusion
        && *want != score.conclusion.reached
    {
        problems.push(format!(
            "the conclusion:\n  - {want}\n  + {}",
            score.conclusion.reached
        ));
    }
    if let Some(want) = &expect.score {
        if let Some(min) = want.min_points
            && score.points < min
        {
            problems.push(format!("the score is {} points, below {min}", score.points));
        }
        if let Some(max) = want.max_points
            && score.points > max
        {
            problems.push(format!("the score is {} points, above {max}", score.points));
        }
        let near = |a: Option<f64>, b: f64| a.is_some_and(|a| (a - b).abs() < 1e-9);
        if let Some(p) = want.precision
            && !near(score.precision, p)
        {
            problems.push(format!("precision: expected {p}, got {:?}", score.precision));
        }
        if let Some(r) = want.recall
            && !near(score.recall, r)
        {
            problems.push(format!("recall: expected {r}, got {:?}", score.recall));
        }
        for word in &want.practise {
            let word =
                match super::scenario::resolve_value(&serde_json::Value::String(word.clone()), &prepared.env)
                {
                    Ok(serde_json::Value::String(w)) => w,
                    Ok(other) => other.to_string(),
                    Err(e) => {
                        problems.push(format!("`expect.score.practise`: {e}"));
                        continue;
                    }
                };
            if !score.practise.iter().any(|p| p.contains(word.as_str())) {
                problems.push(format!(
                    "no \"practise next\" item mentions `{word}`; they are:\n{}",
                    score
                        .practise
                        .iter()
                        .map(|p| format!("  - {p}"))
                        .collect::<Vec<_>>()
                        .join("\n")
                ));
            }
        }
    }
    outcome.score = Some(score);
}

/// A line diff of two step lists (longest common subsequence): `  ` kept, `- ` expected only,
/// `+ ` taken only.
pub fn diff(want: &[String], got: &[String]) -> String {
    let (n, m) = (want.len(), got.len());
    let mut lcs = vec![vec![0u32; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if want[i] == got[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::new();
    while i < n || j < m {
        if i < n && j < m && want[i] == got[j] {
            out.push(format!("    {}", want[i]));
            i += 1;
            j += 1;
        } else if j < m && (i == n || lcs[i][j + 1] >= lcs[i + 1][j]) {
            out.push(format!("  + {}", got[j]));
            j += 1;
        } else {
            out.push(format!("  - {}", want[i]));
            i += 1;
        }
    }
    out.join("\n")
}
