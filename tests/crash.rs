//! The crash test: a headless run killed with SIGKILL at random instants, then resumed. After
//! every kill the case finishes, verifies, has lost nothing that was recorded, and holds the same
//! entries (kinds and payloads; times, ids and session bookkeeping aside) as a run never killed.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use irp::journal::{self, CaseDir, Entry};

use crate::common::{irp, stderr};

/// Kills that must land while the case is open (between its first entry and its close).
const KILLS: usize = 50;
/// Rounds allowed to get there (some kills land before the case exists or after it closed).
const MAX_ROUNDS: usize = 600;
const ANSWERS: &str = "tests/fixtures/cases/drill.answers.yaml";

/// Every run and resume signs its entries: a kill between signing an entry and writing it must
/// leave a case whose every entry is signed.
fn base(cmd: &mut std::process::Command) -> &mut std::process::Command {
    cmd.env("IRP_NOW", "2026-11-28T03:00:00Z")
        .env("IRP_SEED", "crash")
        .env("IRP_SIGNING_KEY", crate::common::test_key("alice"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
}

fn run_cmd(root: &Path) -> std::process::Command {
    let mut cmd = irp();
    base(&mut cmd)
        .args(["run", "tests/fixtures/cases/drill.yaml", "--case-dir"])
        .arg(root)
        .args(["-i", "bucket=drill-bucket", "--headless", "--answers", ANSWERS]);
    cmd
}

fn resume_cmd(root: &Path) -> std::process::Command {
    let mut cmd = irp();
    base(&mut cmd)
        .arg("resume")
        .arg(root)
        .args(["--headless", "--answers", ANSWERS]);
    cmd
}

/// What a case is made of: kinds and payloads, without the entries about processes.
fn content(entries: &[Entry]) -> Vec<(String, serde_json::Value)> {
    entries
        .iter()
        .filter(|e| !e.event.is_housekeeping())
        .map(|e| {
            let v = serde_json::to_value(&e.event).unwrap();
            (e.event.kind().to_owned(), v["payload"].clone())
        })
        .collect()
}

fn read(root: &Path) -> journal::Scan {
    journal::store::read(&root.join(CaseDir::JOURNAL)).unwrap_or_default()
}

/// xorshift64*: enough randomness to pick kill instants, reproducible from the printed seed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

#[test]
fn killed_runs_resume_to_the_same_case() {
    let tmp = tempfile::tempdir().unwrap();
    let allowed = tmp.path().join("allowed_signers");
    std::fs::write(
        &allowed,
        crate::common::allowed_line("alice@example.org", "alice"),
    )
    .unwrap();
    let reference_root = tmp.path().join("reference");
    let started = Instant::now();
    let out = run_cmd(&reference_root).output().unwrap();
    let full = started.elapsed();
    assert!(out.status.success(), "{}", stderr(&out));
    let reference = content(&read(&reference_root).entries);
    assert_eq!(reference.len(), 59, "the drill has 59 content entries");

    let seed = std::env::var("IRP_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            u64::from(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .subsec_nanos(),
            ) | 1
        });
    eprintln!("crash test: uninterrupted run {full:?}; kill instants from IRP_CRASH_SEED={seed}");
    let mut rng = Rng(seed);
    let window = full.as_micros() as u64 + 1;
    let mut mid_run = 0;
    let mut rounds = 0;
    while mid_run < KILLS {
        assert!(
            rounds < MAX_ROUNDS,
            "only {mid_run} of {rounds} kills landed mid-case (seed {seed})"
        );
        let round = rounds;
        rounds += 1;
        let root = tmp.path().join(format!("case-{round}"));
        let mut child = run_cmd(&root).spawn().unwrap();
        std::thread::sleep(Duration::from_micros(rng.next() % window));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        let before = read(&root);
        // A folder that holds a journal is always a real case: a new case is built beside it
        // and moved into place once its first entries are durable.
        assert!(
            !root.join(CaseDir::JOURNAL).exists() || !before.entries.is_empty(),
            "round {round} (seed {seed}): the case folder holds a journal with no complete entry"
        );
        let kept = before.good_len as usize;
        let before_bytes = std::fs::read(root.join(CaseDir::JOURNAL)).unwrap_or_default();
        let closed = before.entries.iter().any(|e| e.event.kind() == "case_closed");
        if !before.entries.is_empty() && !closed {
            mid_run += 1;
        }
        let out = if before.entries.is_empty() {
            // Killed before the case existed: starting again in the same folder must work.
            run_cmd(&root).output().unwrap()
        } else {
            resume_cmd(&root).output().unwrap()
        };
        assert!(
            out.status.success(),
            "round {round} (seed {seed}): {}",
            stderr(&out)
        );
        let verify = irp()
            .arg("verify")
            .arg(&root)
            .arg("--allowed-signers")
            .arg(&allowed)
            .output()
            .unwrap();
        assert!(
            verify.status.success(),
            "round {round} (seed {seed}): {}",
            stderr(&verify)
        );
        let after_bytes = std::fs::read(root.join(CaseDir::JOURNAL)).unwrap();
        assert!(
            after_bytes.starts_with(&before_bytes[..kept]),
            "round {round} (seed {seed}): an entry recorded before the kill was lost or changed"
        );
        let after = read(&root);
        assert_eq!(
            content(&after.entries),
            reference,
            "round {round} (seed {seed}): the case differs"
        );
        if before.torn.is_some() {
            assert!(
                after
                    .entries
                    .iter()
                    .any(|e| e.event.kind() == "torn_tail_set_aside")
            );
        }
    }
    eprintln!("crash test: {mid_run} of {rounds} kills landed mid-case");
}

/// Kills that must land inside the `for_each` step (after its confirmation, before its last item
/// is settled).
const ITEM_KILLS: usize = 20;

#[test]
fn kills_inside_a_three_item_step_resume_with_each_item_done_once() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = crate::common::for_each_lake(tmp.path());
    let answers = tmp.path().join("answers.yaml");
    std::fs::write(
        &answers,
        "steps:\n  deactivate-created-keys: { confirm: 3 access keys }\n",
    )
    .unwrap();
    let run = |root: &Path| {
        let mut cmd = irp();
        base(&mut cmd)
            .args(["run", "tests/fixtures/cases/for-each.yaml", "--case-dir"])
            .arg(root)
            .arg("--lake")
            .arg(&lake)
            .args([
                "-i",
                "suspect_key=AKIAEXAMPLESTOLEN001",
                "--headless",
                "--answers",
            ])
            .arg(&answers);
        cmd
    };
    let resume = |root: &Path| {
        let mut cmd = irp();
        base(&mut cmd)
            .arg("resume")
            .arg(root)
            .arg("--lake")
            .arg(&lake)
            .args(["--headless", "--answers"])
            .arg(&answers);
        cmd
    };
    // Kills are aimed at the step: the journal is watched for its confirmation, then the process
    // is killed at a random instant within the time the step took in an uninterrupted run.
    let journal_of = |root: &Path| root.join(CaseDir::JOURNAL);
    let wait_for = |root: &Path, needle: &str, child: &mut std::process::Child| -> bool {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if std::fs::read_to_string(journal_of(root)).is_ok_and(|j| j.contains(needle)) {
                return true;
            }
            if child.try_wait().ok().flatten().is_some() {
                return std::fs::read_to_string(journal_of(root)).is_ok_and(|j| j.contains(needle));
            }
            std::thread::sleep(Duration::from_micros(100));
        }
        false
    };
    let reference_root = tmp.path().join("reference");
    let mut child = run(&reference_root).spawn().unwrap();
    assert!(wait_for(&reference_root, "action_confirmed", &mut child));
    let step_started = Instant::now();
    // The step ends with the note after it (`step_completed`), not with the process.
    assert!(wait_for(&reference_root, "step_completed", &mut child));
    let full = step_started.elapsed();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    // The step's entries (a kill during the query adds a cancellation and a new run before it).
    let of_step = |entries: &[Entry]| {
        content(entries)
            .into_iter()
            .filter(|(_, p)| p["step"] == "deactivate-created-keys")
            .collect::<Vec<_>>()
    };
    let reference = of_step(&read(&reference_root).entries);
    assert_eq!(
        reference.len(),
        7,
        "a confirmation, then an intent and a result per item"
    );
    let seed = std::env::var("IRP_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x9E37_79B9_7F4A_7C15_u64);
    let mut rng = Rng(seed);
    let window = full.as_micros() as u64 + 1;
    let (mut inside, mut rounds) = (0, 0);
    while inside < ITEM_KILLS {
        assert!(
            rounds < 300,
            "only {inside} of {rounds} kills landed in the step (seed {seed})"
        );
        let root = tmp.path().join(format!("case-{rounds}"));
        rounds += 1;
        let mut child = run(&root).spawn().unwrap();
        if wait_for(&root, "action_confirmed", &mut child) {
            std::thread::sleep(Duration::from_micros(rng.next() % window));
        }
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        let before = read(&root);
        let kinds: Vec<&str> = before.entries.iter().map(|e| e.event.kind()).collect();
        let confirmed = kinds.contains(&"action_confirmed");
        let finished = kinds.iter().filter(|k| **k == "action_finished").count();
        if confirmed && finished < 3 {
            inside += 1;
        }
        let out = if before.entries.is_empty() {
            run(&root).output().unwrap()
        } else {
            resume(&root).output().unwrap()
        };
        assert!(
            out.status.success(),
            "round {rounds} (seed {seed}): {}",
            stderr(&out)
        );
        assert!(irp().arg("verify").arg(&root).output().unwrap().status.success());
        let after = read(&root);
        // Each item started once and finished once, in place; the case is the uninterrupted one.
        for item in 0..3_u64 {
            let count = |kind: &str| {
                after
                    .entries
                    .iter()
                    .filter(|e| e.event.kind() == kind)
                    .filter(|e| serde_json::to_value(&e.event).unwrap()["payload"]["item"] == item)
                    .count()
            };
            assert_eq!(
                (count("action_started"), count("action_finished")),
                (1, 1),
                "round {rounds} (seed {seed}): item {item}"
            );
        }
        assert_eq!(of_step(&after.entries), reference, "round {rounds} (seed {seed})");
        assert!(after.entries.iter().any(|e| e.event.kind() == "case_closed"));
    }
    eprintln!("crash test: {inside} of {rounds} kills landed inside the for_each step");
}
