//! The journal: codec round trips, the chain, appends that never touch earlier bytes, replay equal
//! to the live state, tampering named by seq, torn tails set aside, the single-writer lock, and
//! playbook snapshots on resume.

use irp::case::actions::Executor;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use irp::case::{CaseError, Context, PlaybookChoice, Session};
use irp::clock::{Clock, Ids};
use irp::engine::{self, Command, Event, Mode, Observable, State};
use irp::journal::{self, CaseDir, entry};
use proptest::prelude::*;

use crate::common::{repo, run, stderr, stdout};

pub fn drill_path() -> PathBuf {
    repo().join("tests/fixtures/cases/drill.yaml")
}

pub(crate) fn ctx(actor: &str) -> Context {
    Context {
        actor: actor.to_owned(),
        clock: Clock::Fixed(
            DateTime::parse_from_rfc3339("2026-11-28T03:00:00Z")
                .unwrap()
                .with_timezone(&Utc),
        ),
        ids: Ids::Seeded("journal-tests".to_owned()),
        command: "test".to_owned(),
        signer: None,
    }
}

fn inputs() -> Vec<(String, String)> {
    vec![("bucket".to_owned(), "drill-bucket".to_owned())]
}

pub fn new_case(root: &Path) -> Session {
    Session::create(root, &drill_path(), &inputs(), Mode::Rehearsal, ctx("alice")).unwrap()
}

fn text() -> impl Strategy<Value = String> {
    // Hostile text included: quotes, backslashes, control characters, non-ASCII, line breaks.
    prop_oneof![any::<String>(), "[a-z \"\\\\\n\t\u{1b}é中]{0,40}"]
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        (text(), text()).prop_map(|(step, reason)| Event::StepSkipped {
            step,
            reason,
            next: None
        }),
        (text(), proptest::option::of(text())).prop_map(|(text, step)| Event::NoteAdded {
            step,
            text,
            made_offline: None
        }),
        (text(), text(), text(), proptest::option::of(text())).prop_map(
            |(step, option, label, rationale)| {
                Event::Decided(engine::Decided {
                    step: step.clone(),
                    option,
                    label,
                    suggested: None,
                    rationale,
                    next: Some(step),
                })
            }
        ),
        (
            text(),
            any::<u64>(),
            proptest::collection::btree_map(text(), any::<i64>(), 0..4)
        )
            .prop_map(|(step, rows, caps)| {
                Event::QuerySucceeded(engine::QuerySucceeded {
                    step,
                    rows,
                    artifact: None,
                    captures: caps.into_iter().map(|(k, v)| (k, serde_json::json!(v))).collect(),
                    next: None,
                    execution: None,
                })
            }),
        (text(), proptest::collection::vec(text(), 0..4)).prop_map(|(step, argv)| {
            Event::ActionStarted(engine::ActionStarted {
                step,
                intent: engine::Intent::Command {
                    argv,
                    env: Vec::new(),
                },
                simulated: true,
                before: None,
                request: None,
                item: None,
            })
        }),
        (0usize..8, text()).prop_map(|(i, value)| Event::EvidenceAdded(engine::EvidenceAdded {
            step: None,
            observable: Observable::ALL[i],
            value,
            note: None,
            made_offline: None,
        })),
        text().prop_map(|summary| Event::CaseClosed { summary }),
        Just(Event::Unpaused {}),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn decode_of_encode_is_the_entry(e in event(), seq in 0u64..1_000_000, actor in text(), ms in 0i64..4_000_000_000_000) {
        let at = DateTime::from_timestamp_millis(ms).unwrap();
        let id = Ids::Seeded("p".into()).id(at, &seq.to_string());
        let (entry, line) = entry::encode(seq, id, at, &actor, e, entry::GENESIS).unwrap();
        prop_assert_eq!(line.last(), Some(&b'\n'));
        prop_assert_eq!(line.iter().filter(|b| **b == b'\n').count(), 1, "one entry, one line");
        let back = entry::decode(&line[..line.len() - 1]).unwrap();
        prop_assert_eq!(back, entry);
    }
}

/// A command the property test may throw at a case; many are illegal where they land.
fn command() -> impl Strategy<Value = Command> {
    let step = prop_oneof![
        Just("reads"),
        Just("triage"),
        Just("scope"),
        Just("look-1"),
        Just("again"),
        Just("contain-key"),
        Just("checklist")
    ]
    .prop_map(str::to_owned);
    prop_oneof![
        Just(Command::Start),
        step.clone().prop_map(|step| Command::Skip {
            step,
            reason: "not needed".into()
        }),
        step.clone().prop_map(|step| Command::Complete { step }),
        (
            step.clone(),
            prop_oneof![Just("incident"), Just("benign"), Just("yes"), Just("no")]
        )
            .prop_map(|(step, o)| Command::Decide {
                step,
                option: o.into(),
                rationale: Some("why".into())
            }),
        step.clone().prop_map(|step| Command::GoBack { to: step }),
        step.clone().prop_map(|step| Command::ConfirmAction {
            step,
            typed: Some("AKIAIOSFODNN7EXAMPLE".into()),
            seen: None,
            items: None,
        }),
        step.clone().prop_map(|step| Command::SubmitQuery {
            step,
            sql: "SELECT 1".into(),
            backend: "test".into(),
            not_collected: Vec::new(),
        }),
        (step.clone(), 0u64..500).prop_map(|(step, n)| Command::QuerySucceeded {
            step,
            rows: vec![serde_json::json!({"ip": "203.0.113.9", "n": n})],
            row_count: 1,
            artifact: None,
            execution: None,
        }),
        (step.clone(), 0usize..4).prop_map(|(step, item)| Command::CheckItem { step, item }),
        text().prop_map(|text| Command::AddNote { text }),
        Just(Command::AddEvidence {
            observable: Observable::Ip,
            value: "203.0.113.9".into(),
            note: None
        }),
        Just(Command::Pause {
            reason: "break".into()
        }),
        Just(Command::Unpause),
        Just(Command::Close {
            summary: "done".into()
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn replay_gives_the_live_state_and_appends_never_change_earlier_bytes(cmds in proptest::collection::vec(command(), 1..40)) {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("case");
        let mut session = new_case(&root);
        let mut model_notes = session.state.notes.len();
        let mut model_closed = false;
        let mut before = std::fs::read(root.join(CaseDir::JOURNAL)).unwrap();
        for cmd in &cmds {
            let accepted = session.execute(cmd).is_ok();
            if accepted {
                // The reference model: what an accepted command must have done.
                match cmd {
                    Command::AddNote { .. } => model_notes += 1,
                    Command::Close { .. } => model_closed = true,
                    _ => {}
                }
            }
            let now = std::fs::read(root.join(CaseDir::JOURNAL)).unwrap();
            prop_assert!(now.starts_with(&before), "an append changed earlier bytes");
            prop_assert_eq!(now.len() > before.len(), accepted, "one entry per accepted command, none otherwise");
            before = now;
        }
        prop_assert_eq!(session.state.notes.len(), model_notes);
        prop_assert_eq!(session.state.closed.is_some(), model_closed);
        let scan = journal::store::read(&root.join(CaseDir::JOURNAL)).unwrap();
        prop_assert!(scan.corruption.is_none() && scan.torn.is_none());
        for (i, e) in scan.entries.iter().enumerate() {
            prop_assert_eq!(e.seq, i as u64, "seq counts from 0 with no gaps");
        }
        let replayed = State::replay(scan.entries.iter().map(|e| &e.event));
        prop_assert_eq!(&replayed, &session.state, "folding the journal gives the live state");
    }
}

/// A finished case from the drill answers, through the real binary.
pub fn finished_case(root: &Path) {
    let out = crate::common::drill(root).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
}

fn verify(root: &Path) -> (bool, String) {
    let out = run(&["verify", root.to_str().unwrap()]);
    (out.status.success(), format!("{}{}", stdout(&out), stderr(&out)))
}

fn rewrite_lines(root: &Path, f: impl FnOnce(&mut Vec<Vec<u8>>)) {
    let path = root.join(CaseDir::JOURNAL);
    let bytes = std::fs::read(&path).unwrap();
    let mut lines: Vec<Vec<u8>> = bytes
        .split_inclusive(|b| *b == b'\n')
        .map(<[u8]>::to_vec)
        .collect();
    f(&mut lines);
    std::fs::write(&path, lines.concat()).unwrap();
}

#[test]
fn tampering_is_named_by_seq() {
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().join("base");
    finished_case(&base);
    let (ok, msg) = verify(&base);
    assert!(ok, "{msg}");
    assert!(msg.contains("ok: 60 entries"), "{msg}");
    let as_stored = run(&["journal", "--json", base.to_str().unwrap()]);
    assert_eq!(
        as_stored.stdout,
        std::fs::read(base.join(CaseDir::JOURNAL)).unwrap(),
        "--json prints the entries as stored"
    );
    let fresh = |name: &str| {
        let root = tmp.path().join(name);
        std::fs::create_dir(&root).unwrap();
        for f in ["journal.jsonl", "playbook.yaml", "inputs.json"] {
            std::fs::copy(base.join(f), root.join(f)).unwrap();
        }
        root
    };
    // One byte flipped inside entry 17 (a letter of its payload).
    let root = fresh("flip");
    rewrite_lines(&root, |l| {
        let at = l[17].iter().position(|b| *b == b'p').unwrap();
        l[17][at] ^= 0x01;
    });
    let (ok, msg) = verify(&root);
    assert!(!ok);
    assert!(
        msg.contains("seq 17") && msg.contains("changed after it was written"),
        "{msg}"
    );
    // A line deleted.
    let root = fresh("delete");
    rewrite_lines(&root, |l| {
        l.remove(23);
    });
    let (ok, msg) = verify(&root);
    assert!(!ok);
    assert!(msg.contains("seq 23") && msg.contains("says seq 24"), "{msg}");
    // Two lines swapped.
    let root = fresh("swap");
    rewrite_lines(&root, |l| l.swap(30, 31));
    let (ok, msg) = verify(&root);
    assert!(!ok);
    assert!(msg.contains("seq 30"), "{msg}");
    let listing = run(&["journal", root.to_str().unwrap()]);
    assert_eq!(listing.status.code(), Some(1));
    assert_eq!(
        stdout(&listing).lines().count(),
        30,
        "the intact entries are shown, then the damage"
    );
    assert!(stderr(&listing).contains("damaged at seq 30"));
    // A re-hashed forgery still breaks the link from the next entry.
    let root = fresh("forge");
    rewrite_lines(&root, |l| {
        let line = std::str::from_utf8(&l[40]).unwrap().trim_end();
        let mut e = entry::decode(line.as_bytes()).unwrap();
        e.actor = "mallory".into();
        let (_, forged) = entry::encode(e.seq, e.id, e.at, &e.actor, e.event, &e.prev).unwrap();
        l[40] = forged;
    });
    let (ok, msg) = verify(&root);
    assert!(!ok);
    assert!(
        msg.contains("seq 41") && msg.contains("`prev` does not match"),
        "{msg}"
    );
    // The snapshot the first entry vouches for, changed.
    let root = fresh("snapshot");
    std::fs::write(root.join("playbook.yaml"), "changed").unwrap();
    let (ok, msg) = verify(&root);
    assert!(!ok);
    assert!(msg.contains("seq 0") && msg.contains("playbook.yaml"), "{msg}");
    // An entry that names a file outside the case folder, even with a valid hash.
    let root = fresh("outside");
    rewrite_lines(&root, |l| {
        let prev = entry::decode(l[59].strip_suffix(b"\n").unwrap()).unwrap().hash;
        let event = Event::QueryFailed(irp::engine::QueryFailed {
            step: "reads".into(),
            error: "x".into(),
            artifact: Some(irp::engine::ArtifactRef {
                path: "../elsewhere.json".into(),
                sha256: "0".repeat(64),
                bytes: 0,
            }),
            next: None,
            execution: None,
            stay: true,
        });
        let at = chrono::DateTime::from_timestamp_millis(0).unwrap();
        let (_, line) = entry::encode(60, Ids::Random.id(at, "x"), at, "mallory", event, &prev).unwrap();
        l.push(line);
    });
    let (ok, msg) = verify(&root);
    assert!(
        !ok && msg.contains("seq 60") && msg.contains("outside the case folder"),
        "{msg}"
    );
    // Resume refuses a damaged journal with the same message, and writes nothing.
    let root = fresh("refuse");
    rewrite_lines(&root, |l| l.swap(5, 6));
    let before = std::fs::read(root.join(CaseDir::JOURNAL)).unwrap();
    let out = run(&[
        "resume",
        root.to_str().unwrap(),
        "--headless",
        "--answers",
        "tests/fixtures/cases/drill.answers.yaml",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("damaged at seq 5"), "{}", stderr(&out));
    assert_eq!(std::fs::read(root.join(CaseDir::JOURNAL)).unwrap(), before);
}

#[test]
fn a_torn_last_line_is_set_aside_and_journaled() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("case");
    {
        let mut s = new_case(&root);
        s.execute(&Command::Start).unwrap();
        s.execute(&Command::AddNote {
            text: "before the power cut".into(),
        })
        .unwrap();
    }
    let path = root.join(CaseDir::JOURNAL);
    let good = std::fs::read(&path).unwrap();
    let torn = b"{\"v\":1,\"seq\":4,\"id\":\"0192";
    std::fs::write(&path, [good.as_slice(), torn].concat()).unwrap();
    let (ok, msg) = verify(&root);
    assert!(ok, "a torn tail is not tampering: {msg}");
    assert!(msg.contains("cut short (25 bytes after seq 3)"), "{msg}");
    let (session, report) = Session::resume(&root, PlaybookChoice::Source, ctx("bob")).unwrap();
    assert_eq!(report.torn.len(), 1);
    assert_eq!(
        std::fs::read(root.join("journal.4.torn")).unwrap(),
        torn,
        "the bytes are kept, untouched"
    );
    let Event::TornTailSetAside(t) = &session.entries[4].event else {
        panic!("{:?}", session.entries[4])
    };
    assert_eq!(t.bytes, 25);
    assert_eq!(t.sha256, entry::sha256_hex(torn));
    assert_eq!(session.entries[4].actor, "irp");
    assert!(std::fs::read(&path).unwrap().starts_with(&good));
    drop(session);
    let (ok, msg) = verify(&root);
    assert!(ok && !msg.contains("cut short"), "{msg}");
}

#[test]
fn a_set_aside_file_no_entry_mentions_is_journaled_on_the_next_resume() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("case");
    drop(new_case(&root));
    // A crash between moving the torn bytes and journaling it.
    std::fs::write(root.join("journal.2.torn"), b"{\"v\":1,").unwrap();
    let (session, _) = Session::resume(&root, PlaybookChoice::Source, ctx("bob")).unwrap();
    assert!(
        session
            .entries
            .iter()
            .any(|e| matches!(&e.event, Event::TornTailSetAside(t) if t.file == "journal.2.torn"))
    );
}

#[test]
fn one_writer_per_case_and_a_dead_holder_is_taken_over() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("case");
    let first = new_case(&root);
    let err = Session::resume(&root, PlaybookChoice::Source, ctx("bob")).unwrap_err();
    let CaseError::Lock(irp::journal::lock::LockError::Held(h)) = &err else {
        panic!("{err}")
    };
    assert_eq!(h.pid, std::process::id());
    assert!(
        err.to_string()
            .contains(&format!("process {} on ", std::process::id())),
        "{err}"
    );
    assert!(err.to_string().contains("since 2026-11-28T03:00:00Z"), "{err}");
    drop(first);
    // A clean exit leaves no holder: no takeover entry.
    let (second, report) = Session::resume(&root, PlaybookChoice::Source, ctx("bob")).unwrap();
    assert!(report.stale_lock.is_none());
    drop(second);
    // A holder that died leaves its name in the lock file (the OS lock went with it).
    std::fs::write(
        root.join(CaseDir::LOCK),
        "{\"pid\":4242,\"host\":\"laptop\",\"since\":\"2026-11-28T01:00:00Z\"}\n",
    )
    .unwrap();
    let (third, report) = Session::resume(&root, PlaybookChoice::Source, ctx("carol")).unwrap();
    assert_eq!(report.stale_lock.as_ref().map(|h| h.pid), Some(4242));
    let taken = third.entries.iter().find_map(|e| match &e.event {
        Event::LockTakenOver(h) => Some((h.clone(), e.actor.clone())),
        _ => None,
    });
    let (h, actor) = taken.expect("the takeover is journaled");
    assert_eq!((h.pid, h.host.as_str(), actor.as_str()), (4242, "laptop", "irp"));
}

#[test]
fn a_second_irp_on_a_held_case_names_the_holder() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("case");
    let _held = new_case(&root);
    let out = run(&[
        "resume",
        root.to_str().unwrap(),
        "--headless",
        "--answers",
        "tests/fixtures/cases/drill.answers.yaml",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "the case is open in another irp: process {}",
            std::process::id()
        )),
        "{err}"
    );
    assert!(err.contains("hint:"), "{err}");
}

#[test]
fn a_changed_playbook_is_refused_unless_the_snapshot_or_the_change_is_chosen() {
    let tmp = tempfile::tempdir().unwrap();
    let pb = tmp.path().join("drill.yaml");
    std::fs::copy(drill_path(), &pb).unwrap();
    let root = tmp.path().join("case");
    {
        let mut s = Session::create(&root, &pb, &inputs(), Mode::Rehearsal, ctx("alice")).unwrap();
        s.execute(&Command::Start).unwrap();
    }
    let text = std::fs::read_to_string(&pb)
        .unwrap()
        .replace("version: \"1\"", "version: \"1.1\"");
    std::fs::write(&pb, text).unwrap();
    let err = Session::resume(&root, PlaybookChoice::Source, ctx("bob")).unwrap_err();
    assert!(matches!(err, CaseError::PlaybookChanged { .. }), "{err}");
    assert!(err.hints().iter().any(|h| h.contains("--use-snapshot")));
    let journal_len = std::fs::metadata(root.join(CaseDir::JOURNAL)).unwrap().len();
    let (s, _) = Session::resume(&root, PlaybookChoice::Snapshot, ctx("bob")).unwrap();
    assert_eq!(s.playbook.version, "1");
    drop(s);
    let (s, report) = Session::resume(&root, PlaybookChoice::AcceptChange, ctx("bob")).unwrap();
    assert!(report.playbook_changed);
    assert_eq!(s.playbook.version, "1.1");
    let change = s.entries.iter().find_map(|e| match &e.event {
        Event::PlaybookChanged(c) => Some(c.clone()),
        _ => None,
    });
    let change = change.expect("the change is journaled");
    assert_eq!(change.version, "1.1");
    assert!(std::fs::metadata(root.join(CaseDir::JOURNAL)).unwrap().len() > journal_len);
    drop(s);
    // From now on the accepted file is what the case follows.
    let (s, _) = Session::resume(&root, PlaybookChoice::Source, ctx("bob")).unwrap();
    assert_eq!(s.playbook.version, "1.1");
    drop(s);
    let (ok, msg) = verify(&root);
    assert!(ok, "{msg}");
}

/// A query backend double that replays a stored result file (the embedded engine and Athena
/// are the real backends; this only stands in for them in tests).
struct Replay {
    dir: PathBuf,
    fail: bool,
}

impl irp::case::backend::QueryRunner for Replay {
    fn name(&self) -> &'static str {
        "replay"
    }

    fn run(
        &mut self,
        session: &Session,
        step: &str,
        sql: &str,
        _watch: irp::case::backend::Watch<'_>,
    ) -> Result<irp::case::backend::QueryResult, irp::case::backend::QueryFailure> {
        assert!(
            sql.contains("'drill-bucket'"),
            "the inputs are rendered as literals: {sql}"
        );
        if self.fail {
            return Err(String::from("replay: HIVE_BAD_DATA").into());
        }
        let bytes = std::fs::read(self.dir.join(format!("{step}.json"))).map_err(|e| e.to_string())?;
        let rows: Vec<serde_json::Value> = serde_json::from_slice(&bytes).map_err(|e| e.to_string())?;
        let artifact = session
            .write_artifact(step, "json", &bytes)
            .map_err(|e| e.to_string())?;
        Ok(irp::case::backend::QueryResult {
            row_count: rows.len() as u64,
            rows,
            artifact: Some(artifact),
            execution: None,
        })
    }
}

#[test]
fn a_headless_run_with_query_results_takes_the_suggestion_and_keeps_the_evidence() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("case");
    let text = std::fs::read_to_string(repo().join("tests/fixtures/cases/drill.answers.yaml")).unwrap();
    let text = text
        .replace("    skip: the lake is not available in this drill\n", "")
        .replace("choose: incident,", "choose: suggested,");
    std::fs::write(tmp.path().join("a.yaml"), text).unwrap();
    let mut session = new_case(&root);
    let answers = irp::case::answers::Answers::load(&tmp.path().join("a.yaml"), &session.playbook).unwrap();
    let mut backend = Replay {
        dir: repo().join("tests/fixtures/cases/results"),
        fail: false,
    };
    let mut lines = Vec::new();
    irp::case::headless::drive(
        &mut session,
        &answers,
        Some(&mut backend),
        &mut Executor::Rehearsal,
        &mut |l| {
            lines.push(l.clone());
        },
    )
    .unwrap();
    assert_eq!(lines[0].outcome, "2 rows");
    assert_eq!(lines[1].outcome, "chose `incident` (suggested)");
    let q = session
        .entries
        .iter()
        .find_map(|e| match &e.event {
            Event::QuerySucceeded(q) => Some(q.clone()),
            _ => None,
        })
        .unwrap();
    let art = q.artifact.unwrap();
    assert_eq!(art.path, "artifacts/7-reads.json");
    assert_eq!(
        q.captures["ips"],
        serde_json::json!(["203.0.113.9", "198.51.100.7"])
    );
    drop(session);
    assert!(verify(&root).0);
    // The artifact is evidence: changing it is caught, naming the entry that vouches for it.
    std::fs::write(root.join(&art.path), "[]").unwrap();
    let (ok, msg) = verify(&root);
    assert!(
        !ok && msg.contains("seq 7") && msg.contains("artifacts/7-reads.json"),
        "{msg}"
    );
}

#[test]
fn a_failed_query_keeps_the_case_on_the_step_until_the_responder_acts() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("case");
    let mut session = new_case(&root);
    let answers = irp::case::answers::Answers::default();
    let mut backend = Replay {
        dir: tmp.path().to_owned(),
        fail: true,
    };
    let err = irp::case::headless::drive(
        &mut session,
        &answers,
        Some(&mut backend),
        &mut Executor::Rehearsal,
        &mut |_| {},
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("step `reads` failed: replay: HIVE_BAD_DATA"),
        "{err}"
    );
    assert_eq!(irp::cli::exit_code(&err), 1);
    assert!(err.hints()[0].contains("skip: <reason>"));
    assert_eq!(session.state.current_step(), Some("reads"));
    // Without a backend, a query step stops the run and says how to go on.
    let other = tmp.path().join("other");
    let mut fresh = new_case(&other);
    let err = irp::case::headless::drive(&mut fresh, &answers, None, &mut Executor::Rehearsal, &mut |_| {})
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "step `reads` is a query and no query backend was given"
    );
    assert_eq!(irp::cli::exit_code(&err), 1);
    assert!(err.hints()[0].contains("skip: <reason>"), "{:?}", err.hints());
    assert_eq!(
        fresh.state.current_step(),
        Some("reads"),
        "the case waits at the step"
    );
}

#[test]
fn hostile_journal_bytes_give_a_named_problem_not_a_panic() {
    // Found by the `scan_journal` fuzz target: a multi-byte character where the hash field
    // would start used to split a string inside a character.
    let found = b"{\x22vU\x22:2e\x22,\x22h@ash\x22:\x22ac5d 9b08\xcd\x9c\xcc\x930be510d5a7620c6659390trvU\x22:2e\x22,\x22h@ash\x22:\x22ac5dusted_accounts40215a1c9735b6\x22}\x0a\x00\x005";
    let scan = journal::store::scan(found);
    assert!(scan.entries.is_empty());
    assert_eq!(scan.corruption.as_ref().map(|c| c.seq), Some(0));
    for bytes in [
        &b""[..],
        b"\n",
        b"\xff\xfe\n",
        b"{}\n",
        &[b'x'; 200][..],
        "é".repeat(60).as_bytes(),
    ] {
        let scan = journal::store::scan(bytes);
        assert!(scan.entries.is_empty());
    }
}
