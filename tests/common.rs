//! Shared test helpers: the real binary in a clean environment, snapshots, and the shared data.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The `irp` binary, run from the repository root with a clean, colourless environment.
pub fn irp() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_irp"));
    cmd.current_dir(repo())
        .env("NO_COLOR", "1")
        .env_remove("RUST_LOG")
        .env_remove("RUST_BACKTRACE")
        // No signing key and no agent of the developer's: a test that signs says so.
        .env_remove("IRP_SIGNING_KEY")
        .env_remove("SSH_AUTH_SOCK")
        // Rehearsal cases go to the data folder: never the developer's own.
        .env(
            "IRP_DATA",
            std::env::temp_dir().join(format!("irp-tests-data-{}", std::process::id())),
        );
    cmd
}

/// `irp run` of the drill playbook into `root`, headless with `answers`, at a fixed time and
/// seed (add flags and environment to it).
pub fn drill_with(root: &Path, answers: &Path) -> Command {
    let mut cmd = irp();
    cmd.env("IRP_NOW", "2026-11-28T03:00:00Z")
        .env("IRP_SEED", "7")
        .args(["run", "tests/fixtures/cases/drill.yaml", "--case-dir"])
        .arg(root)
        .args(["-i", "bucket=drill-bucket", "--headless", "--answers"])
        .arg(answers);
    cmd
}

/// The same with the drill's full answers: a run to the end.
pub fn drill(root: &Path) -> Command {
    drill_with(root, &repo().join("tests/fixtures/cases/drill.answers.yaml"))
}

/// A test key of `tests/fixtures/keys/` (test-only), copied with mode 0600 (git checks it out
/// readable by others, which irp refuses, as OpenSSH does); its `.pub` beside it.
pub fn test_key(name: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt as _;
    let dir =
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("irp-test-keys-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let key = dir.join(name);
    if !key.exists() {
        let src = repo().join("tests/fixtures/keys").join(name);
        let tmp = dir.join(format!("{name}.{:?}.part", std::thread::current().id()));
        std::fs::copy(&src, &tmp).unwrap();
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::copy(src.with_extension("pub"), dir.join(format!("{name}.pub"))).unwrap();
        std::fs::rename(&tmp, &key).unwrap();
    }
    key
}

/// An `allowed_signers` line for a test key: `principal <its public key>`.
pub fn allowed_line(principal: &str, name: &str) -> String {
    let public =
        std::fs::read_to_string(repo().join("tests/fixtures/keys").join(format!("{name}.pub"))).unwrap();
    format!("{principal} {}\n", public.trim())
}

/// A program from OpenSSH (`ssh-keygen`, `ssh-agent`, `ssh-add`), or `None` (said loudly; a
/// failure under CI) when it is not installed.
pub fn openssh(program: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(program))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        skipped(&format!(
            "OpenSSH's {program} is not installed (Debian: openssh-client)"
        ));
    }
    found
}

pub fn run(args: &[&str]) -> Output {
    irp().args(args).output().expect("irp runs")
}

/// The `for_each` drill's lake (`tests/fixtures/cases/for-each.cloudtrail.json`, imported) in
/// `dir/lake`, imported once.
pub fn for_each_lake(dir: &std::path::Path) -> std::path::PathBuf {
    let lake = dir.join("lake");
    if !lake.exists() {
        let out = irp()
            .args([
                "lake",
                "import",
                "cloudtrail",
                "tests/fixtures/cases/for-each.cloudtrail.json",
                "--lake",
            ])
            .arg(&lake)
            .output()
            .expect("irp runs");
        assert!(out.status.success(), "{}", stderr(&out));
    }
    lake
}

/// `irp lake import cloudtrail -q --lake LAKE SRC`, which must succeed.
pub fn import_cloudtrail(src: &Path, lake: &Path) {
    let out = irp()
        .args(["lake", "import", "cloudtrail", "-q", "--lake"])
        .arg(lake)
        .arg(src)
        .output()
        .expect("irp runs");
    assert!(out.status.success(), "{}", stderr(&out));
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn is_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// `IRP_BLESS=1` rewrites snapshots instead of comparing them.
pub fn bless() -> bool {
    std::env::var("IRP_BLESS").is_ok_and(|v| v == "1")
}

/// Compares `actual` with the snapshot file, or writes it when blessing.
pub fn check_snapshot(path: &Path, actual: &str) {
    if bless() {
        std::fs::write(path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(path).unwrap_or_else(|_| {
        panic!(
            "missing snapshot {}; run with IRP_BLESS=1 to create it, then review it",
            path.display()
        )
    });
    assert_eq!(
        expected,
        actual,
        "snapshot {} differs (run with IRP_BLESS=1 to accept the new output after reviewing it)",
        path.display()
    );
}

/// Says loudly that a test was skipped and why: on standard error (which the harness hides for a
/// passing test) and as a line of `IRP_SKIP_LOG`, which `scripts/test` prints after the suite.
/// Under CI a skip is a failure.
pub fn skipped(msg: &str) {
    assert!(!is_ci(), "{msg}: under CI this is a failure");
    eprintln!("SKIPPED: {msg}");
    if let Some(log) = std::env::var_os("IRP_SKIP_LOG") {
        use std::io::Write as _;
        if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(log) {
            let test = std::thread::current().name().unwrap_or("?").to_owned();
            let _ = writeln!(f, "{test}: {msg}");
        }
    }
}

/// A figure a test measured that the suite's output should show (a pass count): a line of
/// `IRP_SUMMARY_LOG`, which `scripts/test` prints after the suite, and of standard output.
pub fn summary(line: &str) {
    println!("{line}");
    if let Some(log) = std::env::var_os("IRP_SUMMARY_LOG") {
        use std::io::Write as _;
        if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(log) {
            let _ = writeln!(f, "{line}");
        }
    }
}

/// Runs `scripts/sqlglot_check.py FLAGS` (sqlglot's Athena parser) on `items` (written to a
/// temporary JSON file): whether every check passed, and what it printed.
pub fn sqlglot_check(python: &str, flags: &[&str], items: &serde_json::Value) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("queries.json");
    std::fs::write(&file, serde_json::to_string(items).unwrap()).unwrap();
    let out = Command::new(python)
        .arg(repo().join("scripts/sqlglot_check.py"))
        .args(flags)
        .arg(&file)
        .output()
        .unwrap();
    (out.status.success(), format!("{}{}", stdout(&out), stderr(&out)))
}

/// A tool the test needs from outside the repository (set up by `scripts/test`). Missing: the
/// test says loudly that it was skipped, and under CI that is a failure.
pub fn required_tool(env_var: &str, what: &str) -> Option<String> {
    match std::env::var(env_var) {
        Ok(v) if !v.is_empty() => Some(v),
        _ => {
            skipped(&format!(
                "{what} is not available ({env_var} is not set; scripts/test sets it up)"
            ));
            None
        }
    }
}

/// A folder of `../shared/data/` (real third-party samples, never copied into the repository), or
/// `None` when this clone has no `../shared` next to it: the test says loudly that it was
/// skipped, and under CI that is a failure. `IRP_SHARED_DATA` points elsewhere.
pub fn shared_data(sub: &str) -> Option<PathBuf> {
    let root =
        std::env::var_os("IRP_SHARED_DATA").map_or_else(|| repo().join("../shared/data"), PathBuf::from);
    let dir = root.join(sub);
    if dir.exists() {
        return Some(dir);
    }
    skipped(&format!(
        "the shared sample data {} is not there (a clone of the repository alone has no ../shared)",
        dir.display()
    ));
    None
}

/// A folder of `../shared/reference/` (third-party standards material, such as OASIS's CACAO
/// schemas), or `None`, said loudly, when this clone has none (a failure under CI).
/// `IRP_SHARED_REFERENCE` points elsewhere.
pub fn shared_reference(sub: &str) -> Option<PathBuf> {
    let root = std::env::var_os("IRP_SHARED_REFERENCE")
        .map_or_else(|| repo().join("../shared/reference"), PathBuf::from);
    let dir = root.join(sub);
    if dir.exists() {
        return Some(dir);
    }
    skipped(&format!(
        "the shared reference {} is not there (a clone of the repository alone has no ../shared)",
        dir.display()
    ));
    None
}

/// Every file below a folder, sorted.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}
