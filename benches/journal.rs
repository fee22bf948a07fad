//! Journal benchmark (not a test): appends with fsync, and replay and verify of a
//! 100,000-entry journal. `cargo bench --bench journal`; figures go to docs/performance.md.
//!
//! Replay = read the file, check every entry's hash and link, decode it, fold the state.
//! Verify = `irp verify` through the release binary: the same checks plus the files the entries
//! vouch for, and process start-up.
#![allow(
    clippy::print_stdout,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::cast_precision_loss
)]

use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use irp::case::{Context, Session};
use irp::clock::{Clock, Ids};
use irp::engine::{Command, Event, Mode, State};
use irp::journal::{self, CaseDir, entry};

const ENTRIES: usize = 100_000;
const APPENDS: usize = 2_000;
const RUNS: usize = 5;

fn ctx() -> Context {
    ctx_signed(None)
}

fn ctx_signed(signer: Option<std::sync::Arc<irp::journal::sign::Signer>>) -> Context {
    Context {
        actor: "bench".into(),
        clock: Clock::Fixed(
            DateTime::parse_from_rfc3339("2026-11-28T03:00:00Z")
                .unwrap()
                .with_timezone(&Utc),
        ),
        ids: Ids::Seeded("bench".into()),
        command: "bench".into(),
        signer,
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let drill = repo.join("tests/fixtures/cases/drill.yaml");
    let base = std::env::var_os("IRP_BENCH_DIR").map_or_else(|| repo.join("target"), Into::into);
    let tmp = tempfile::tempdir_in(base).unwrap();

    // 1. Appends, each written and fdatasync'd before the next.
    let root = tmp.path().join("appends");
    let inputs = [("bucket".to_owned(), "drill-bucket".to_owned())];
    let mut session = Session::create(&root, &drill, &inputs, Mode::Rehearsal, ctx()).unwrap();
    let start = Instant::now();
    for i in 0..APPENDS {
        let text = format!("note {i}: looked at the console");
        session.execute(&Command::AddNote { text }).unwrap();
    }
    let elapsed = start.elapsed();
    println!(
        "append+fsync: {APPENDS} entries in {:.2?} = {:.0} entries/s ({:.2} ms each)",
        elapsed,
        APPENDS as f64 / elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 1000.0 / APPENDS as f64
    );
    let events: Vec<Event> = session.entries.iter().map(|e| e.event.clone()).collect();
    drop(session);

    // 1b. The same appends, each entry signed first (its signature written and fdatasync'd
    //     before the entry): ed25519 in-process, and ECDSA P-256 (an agent's signature costs an
    //     agent round trip on top).
    for name in ["alice", "bob"] {
        let key = tmp.path().join(name);
        std::fs::copy(repo.join("tests/fixtures/keys").join(name), &key).unwrap();
        std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
        let signer = irp::journal::sign::Signer::from_setting(key.to_str().unwrap()).unwrap();
        let what = signer.describe();
        let root = tmp.path().join(format!("signed-{name}"));
        let mut session = Session::create(
            &root,
            &drill,
            &inputs,
            Mode::Rehearsal,
            ctx_signed(Some(signer.into())),
        )
        .unwrap();
        let start = Instant::now();
        for i in 0..APPENDS {
            let text = format!("note {i}: looked at the console");
            session.execute(&Command::AddNote { text }).unwrap();
        }
        let with_signing = start.elapsed();
        let sign_only = {
            let signer = irp::journal::sign::Signer::from_setting(key.to_str().unwrap()).unwrap();
            let start = Instant::now();
            for e in &session.entries[..APPENDS.min(session.entries.len())] {
                std::hint::black_box(signer.sign_entry(e.seq, &e.hash).unwrap());
            }
            start.elapsed() / u32::try_from(APPENDS.min(session.entries.len())).unwrap()
        };
        println!(
            "signed append+2 fsyncs ({}): {APPENDS} entries in {:.2?} = {:.2} ms each (unsigned {:.2} ms); signing alone {:.1?} per entry",
            what.split(' ').next().unwrap_or(""),
            with_signing,
            with_signing.as_secs_f64() * 1000.0 / APPENDS as f64,
            elapsed.as_secs_f64() * 1000.0 / APPENDS as f64,
            sign_only
        );
    }

    // 2. A 100,000-entry journal of the same case, written in one go (the cost of fsync per
    //    entry is measured above).
    let big = tmp.path().join("big");
    std::fs::create_dir_all(&big).unwrap();
    for f in [CaseDir::SNAPSHOT, CaseDir::INPUTS] {
        std::fs::copy(root.join(f), big.join(f)).unwrap();
    }
    let mut bytes = Vec::new();
    let mut prev = entry::GENESIS.to_owned();
    let at = ctx().clock.now();
    let ids = Ids::Seeded("bench".into());
    for seq in 0..ENTRIES {
        let event = events.get(seq).cloned().unwrap_or_else(|| Event::NoteAdded {
            step: Some("scope".into()),
            text: format!("note {seq}: an observation of ordinary length"),
            made_offline: None,
        });
        let id = ids.id(at, &seq.to_string());
        let (e, line) = entry::encode(seq as u64, id, at, "bench", event, &prev).unwrap();
        prev = e.hash;
        bytes.extend_from_slice(&line);
    }
    let journal_path = big.join(CaseDir::JOURNAL);
    std::fs::write(&journal_path, &bytes).unwrap();
    println!("journal: {ENTRIES} entries, {:.1} MB", bytes.len() as f64 / 1e6);

    let mut replay = Vec::new();
    for _ in 0..=RUNS {
        let start = Instant::now();
        let scan = journal::store::read(&journal_path).unwrap();
        assert!(scan.corruption.is_none() && scan.entries.len() == ENTRIES);
        let state = State::replay(scan.entries.iter().map(|e| &e.event));
        assert!(state.notes.len() >= ENTRIES - events.len());
        replay.push(start.elapsed());
    }
    replay.remove(0); // warm-up
    println!(
        "replay (read, check chain, decode, fold): median {:.2?} of {RUNS}",
        median(replay)
    );

    // Checking the signatures of the same 100,000 entries (ed25519), as `irp verify` does.
    let scan = journal::store::read(&journal_path).unwrap();
    let key = tmp.path().join("alice");
    let signer = irp::journal::sign::Signer::from_setting(key.to_str().unwrap()).unwrap();
    let mut sigs = Vec::new();
    for e in &scan.entries {
        sigs.extend(serde_json::to_vec(&signer.sign_entry(e.seq, &e.hash).unwrap()).unwrap());
        sigs.push(b'\n');
    }
    let mut checks = Vec::new();
    for _ in 0..3 {
        let start = Instant::now();
        let report = irp::journal::sign::check_bytes(Some(&sigs), &scan.entries, None);
        assert_eq!(report.signed_count(), ENTRIES);
        checks.push(start.elapsed());
    }
    println!(
        "signatures of {ENTRIES} entries checked (ed25519, {:.1} MB): median {:.2?} of 3",
        sigs.len() as f64 / 1e6,
        median(checks)
    );

    // The release binary, wherever cargo builds it (`CARGO_TARGET_DIR`, else `target/`).
    let exe = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| repo.join("target"), std::path::PathBuf::from)
        .join("release/irp");
    if exe.is_file() {
        let mut verify = Vec::new();
        for _ in 0..=RUNS {
            let start = Instant::now();
            let out = std::process::Command::new(&exe)
                .arg("verify")
                .arg(&big)
                .output()
                .unwrap();
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            verify.push(start.elapsed());
        }
        verify.remove(0);
        println!(
            "irp verify (release binary, whole process): median {:.2?} of {RUNS}",
            median(verify)
        );
    } else {
        println!("irp verify: skipped (build the release binary first: cargo build --release)");
    }
}
