//! Hostile files: each gets one clear error, fast, never a panic or a hang. Files are made here,
//! in a temporary folder, so nothing large is committed.

use std::path::Path;
use std::time::{Duration, Instant};

use irp::playbook::Diagnostic;

use crate::common::{irp, stderr};

/// Generous for a debug build on a loaded 2-core machine; the release binary is far faster. The
/// slowest file here, 200,000 keys stopped by the node budget, takes 1.2-1.5 s on a slow 2-core
/// machine: the limit catches a hang or a blow-up (a quadratic cost on a 1 MB file takes
/// minutes), not a slow machine.
const LIMIT: Duration = Duration::from_secs(3);

/// Runs `irp validate` on `path`; checks exit code 1, exactly one error containing `expect`, no
/// panic, and the time taken by the library call (the process start is not the playbook's fault).
/// Returns that error, so callers can check its position.
fn one_clear_error(path: &Path, expect: &str) -> Diagnostic {
    let started = Instant::now();
    let loaded = irp::files::load_playbook(path);
    let took = started.elapsed();
    assert!(took < LIMIT, "{}: took {took:?}", path.display());
    let errors: Vec<_> = loaded.diagnostics.iter().filter(|d| d.is_error()).collect();
    assert_eq!(
        errors.len(),
        1,
        "{}: expected one error, got {:#?}",
        path.display(),
        loaded.diagnostics
    );
    assert!(
        errors[0].message.contains(expect),
        "{}: `{}` does not mention `{expect}`",
        path.display(),
        errors[0].message
    );

    let out = irp().args(["validate"]).arg(path).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(err.matches(": error: ").count(), 1, "{err}");
    errors[0].clone()
}

#[test]
fn a_missing_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nope.yaml");
    one_clear_error(&path, "cannot read file");
    let out = irp().args(["validate"]).arg(&path).output().unwrap();
    assert!(stderr(&out).contains("hint: check the path"), "{}", stderr(&out));
}

#[test]
fn non_utf8_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("latin1.yaml");
    std::fs::write(&path, b"irp: 1\nid: caf\xe9\ntitle: x\n").unwrap();
    let error = one_clear_error(&path, "not valid UTF-8");
    assert_eq!((error.pos.line, error.pos.col), (2, 8));
}

#[test]
fn a_50_mb_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huge.yaml");
    let f = std::fs::File::create(&path).unwrap();
    f.set_len(50 * 1024 * 1024).unwrap();
    one_clear_error(&path, "a playbook may be at most");
}

#[test]
fn ten_thousand_deep_nesting() {
    let dir = tempfile::tempdir().unwrap();
    let flow = dir.path().join("deep-flow.yaml");
    std::fs::write(
        &flow,
        format!("irp: {}{}\n", "[".repeat(10_000), "]".repeat(10_000)),
    )
    .unwrap();
    one_clear_error(&flow, "invalid YAML");
    let block = dir.path().join("deep-block.yaml");
    let mut text = String::from("stages:\n");
    for depth in 1..1_200 {
        text.push_str(&" ".repeat(depth));
        text.push_str("- \n");
    }
    std::fs::write(&block, text).unwrap();
    one_clear_error(&block, "invalid YAML");
}

#[test]
fn an_alias_bomb() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("laughs.yaml");
    let mut text = String::from(
        "a0: &a0 [\"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\"]\n",
    );
    for i in 1..10 {
        let prev = format!("*a{}", i - 1);
        text.push_str(&format!("a{i}: &a{i} [{}]\n", [prev.as_str(); 9].join(", ")));
    }
    text.push_str("stages: *a9\n");
    std::fs::write(&path, text).unwrap();
    one_clear_error(&path, "invalid YAML");
}

#[test]
fn a_tab_indented_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tabs.yaml");
    std::fs::write(&path, "irp: 1\nstages:\n\t- id: s\n").unwrap();
    let error = one_clear_error(&path, "tab character in indentation");
    assert_eq!((error.pos.line, error.pos.col), (3, 1));
}

#[test]
fn binary_garbage_and_a_yaml_bomb_of_keys() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("garbage.yaml");
    let bytes: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8 | 0x80)
        .collect();
    std::fs::write(&path, bytes).unwrap();
    one_clear_error(&path, "not valid UTF-8");
    let keys = dir.path().join("keys.yaml");
    let text: String = (0..200_000).map(|i| format!("k{i}: {i}\n")).collect();
    std::fs::write(&keys, &text[..text.len().min(1_000_000)]).unwrap();
    one_clear_error(&keys, "invalid YAML");
}

#[test]
fn a_directory_of_mixed_files() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.txt"), "not a playbook").unwrap();
    std::fs::write(dir.path().join("logo.png"), [0x89, b'P', b'N', b'G', 0, 1, 2]).unwrap();
    std::fs::create_dir(dir.path().join(".git")).unwrap();
    std::fs::write(dir.path().join(".git/config.yaml"), "{{{").unwrap();
    std::fs::write(dir.path().join("broken.yaml"), "irp: [1\n").unwrap();
    let started = Instant::now();
    let out = irp().args(["validate"]).arg(dir.path()).output().unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        err.matches(": error: ").count(),
        1,
        "only broken.yaml is a playbook file: {err}"
    );
    assert!(err.contains("broken.yaml"), "{err}");

    let empty = tempfile::tempdir().unwrap();
    std::fs::write(empty.path().join("readme.md"), "# hi").unwrap();
    let out = irp().args(["validate"]).arg(empty.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("no playbooks (*.yaml, *.yml) in this folder"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_fifo_named_like_a_playbook() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pipe.yaml");
    let made = std::process::Command::new("mkfifo")
        .arg(&path)
        .status()
        .is_ok_and(|s| s.success());
    if !made {
        crate::common::skipped("mkfifo is not available");
        return;
    }
    one_clear_error(&path, "not a regular file");
}
