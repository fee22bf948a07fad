//! `irp test [PATH...]`: runs the test cases every playbook under PATH declares (its
//! `tests/*.yaml`), each a scripted rehearsal on the embedded engine, and reports pass or fail
//! per case with a diff of the path and the captures.

use std::path::PathBuf;

use clap::Args;

use super::{CliError, Output, session_context};
use crate::rehearse::playtest;

#[derive(Debug, Args)]
pub struct TestArgs {
    /// Playbook files, or folders holding them (default: `playbooks/`).
    pub paths: Vec<PathBuf>,
    /// Only the test cases whose name contains this text.
    #[arg(long)]
    pub filter: Option<String>,
    /// Keep every case folder here (by default only those of failed cases are kept, in the
    /// cache's `test-cases/`).
    #[arg(long, value_name = "DIR")]
    pub keep: Option<PathBuf>,
    /// One JSON object per test case instead of text.
    #[arg(long)]
    pub json: bool,
    /// A case that cannot run (its scenario's real logs are not on this machine) fails instead
    /// of being skipped: for CI, where the logs must be there.
    #[arg(long)]
    pub strict: bool,
}

pub fn cmd_test(out: Output, args: &TestArgs) -> Result<(), CliError> {
    let paths = if args.paths.is_empty() {
        vec![PathBuf::from("playbooks")]
    } else {
        args.paths.clone()
    };
    let mut playbooks = Vec::new();
    for p in &paths {
        let files = crate::files::playbook_files(p).map_err(|d| {
            CliError::user(
                format!("{}: {}", p.display(), d.message),
                d.hint
                    .unwrap_or_else(|| "give playbook files or folders".to_owned()),
            )
        })?;
        playbooks.extend(files);
    }
    let work = match &args.keep {
        Some(dir) => dir.clone(),
        None => crate::rehearse::lake::cache_root()
            .join("test-cases")
            .join(format!("run-{}", std::process::id())),
    };
    std::fs::create_dir_all(&work).map_err(|e| {
        CliError::user(
            format!("cannot create {}: {e}", work.display()),
            "check the folder",
        )
    })?;
    let (mut passed, mut failed, mut skipped, mut without) = (0, 0, 0, Vec::new());
    for path in &playbooks {
        let loaded = crate::files::load_playbook(path);
        let Some(pb) = loaded.playbook.filter(|_| {
            !loaded
                .diagnostics
                .iter()
                .any(crate::playbook::Diagnostic::is_error)
        }) else {
            for d in &loaded.diagnostics {
                out.diagnostic(path, d);
            }
            failed += 1;
            continue;
        };
        let tests: Vec<PathBuf> = playtest::test_files(path)
            .into_iter()
            .filter(|t| {
                args.filter
                    .as_deref()
                    .is_none_or(|f| t.file_stem().is_some_and(|s| s.to_string_lossy().contains(f)))
            })
            .collect();
        if tests.is_empty() && args.filter.is_none() {
            without.push(pb.id.clone());
        }
        for test in tests {
            let mut ctx = session_context(None, Some("irp-test"), "test", None)?;
            // A test case runs at noon (UTC) of the day, unless `IRP_NOW` says otherwise: the
            // lake ends the day before, so "the last 30 minutes" and the injects' times never
            // depend on when the suite happens to run.
            if matches!(ctx.clock, crate::clock::Clock::System) {
                let noon = ctx
                    .clock
                    .now()
                    .date_naive()
                    .and_hms_opt(12, 0, 0)
                    .map(|t| t.and_utc());
                if let Some(noon) = noon {
                    ctx.clock = crate::clock::Clock::Fixed(noon);
                }
            }
            let today = ctx.clock.now().date_naive();
            let outcome = playtest::run(path, &pb, &test, &work, ctx, today);
            if args.json {
                out.data(&format!(
                    "{}\n",
                    serde_json::to_string(&outcome).unwrap_or_default()
                ));
            } else if let Some(why) = &outcome.skipped {
                out.status(&format!(
                    "{} {} / {}: {why}",
                    if args.strict { "FAIL" } else { "SKIP" },
                    outcome.playbook,
                    outcome.test
                ));
            } else {
                out.status(&format!(
                    "{} {} / {} ({:.1} s){}",
                    if outcome.passed { "ok  " } else { "FAIL" },
                    outcome.playbook,
                    outcome.test,
                    outcome.seconds,
                    outcome
                        .score
                        .as_ref()
                        .map(|s| format!(", score {}/100", s.points))
                        .unwrap_or_default()
                ));
                for p in &outcome.problems {
                    out.status(&indent(p));
                }
                if !outcome.passed {
                    out.status(&format!("     the case: {}", outcome.case.display()));
                }
            }
            if outcome.skipped.is_some() {
                if args.strict {
                    failed += 1;
                } else {
                    skipped += 1;
                }
                let _ = std::fs::remove_dir_all(&outcome.case);
            } else if outcome.passed {
                passed += 1;
                if args.keep.is_none() {
                    let _ = std::fs::remove_dir_all(&outcome.case);
                    if let Some(lake) = &outcome.lake {
                        let _ = std::fs::remove_dir_all(lake);
                    }
                }
            } else {
                failed += 1;
            }
        }
    }
    if args.keep.is_none() && failed == 0 {
        let _ = std::fs::remove_dir_all(&work);
    }
    if !args.json {
        if skipped > 0 {
            out.status(&format!(
                "{passed} passed, {failed} failed, {skipped} SKIPPED (their real logs are not on this machine; \
                 `--strict` makes that a failure)"
            ));
        } else {
            out.status(&format!("{passed} passed, {failed} failed"));
        }
    }
    if !without.is_empty() {
        out.note(&format!(
            "playbooks with no test cases: {} (add them in <playbook>/tests/, see docs/rehearsals.md)",
            without.join(", ")
        ));
    }
    if failed > 0 {
        return Err(CliError::Reported);
    }
    if passed == 0 {
        return Err(CliError::user(
            "no test cases ran",
            "playbooks declare them in <playbook>/tests/*.yaml (docs/rehearsals.md)",
        ));
    }
    Ok(())
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("     {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}
