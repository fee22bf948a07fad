//! Post-incident review: `irp report` in its three formats from a fixed journal (pinned clock and
//! ids), the HTML in headless Chromium, `irp cases`, and `irp review` read-only.
#![allow(clippy::many_single_char_names, clippy::needless_pass_by_value)]

use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use irp::case::{Context, PlaybookChoice, Session};
use irp::clock::{Clock, Ids};
use irp::engine::{ArtifactRef, Command, Execution, Mode, Observable, Outcome, RollbackStarted};

use crate::common::{check_snapshot, irp, repo, stderr, stdout};

pub const PLAYBOOK: &str = "tests/fixtures/cases/review.yaml";

fn base() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-20T09:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

/// `minutes:seconds` after the case opened.
fn at(min: i64, sec: i64) -> Clock {
    Clock::Fixed(base() + Duration::minutes(min) + Duration::seconds(sec))
}

fn ctx(actor: &str, clock: Clock) -> Context {
    Context {
        actor: actor.to_owned(),
        clock,
        ids: Ids::Seeded("review-tests".to_owned()),
        command: if actor == "alice" { "run" } else { "resume" }.to_owned(),
        signer: None,
    }
}

/// A small Parquet result (what a backend stores) with `ip` and `n` columns.
fn parquet(rows: &[(&str, i64)]) -> Vec<u8> {
    use arrow::array::{Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    use arrow::record_batch::RecordBatch;
    let schema = Arc::new(Schema::new(vec![
        Field::new("ip", DataType::Utf8, false),
        Field::new("n", DataType::Int64, false),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(StringArray::from(rows.iter().map(|r| r.0).collect::<Vec<_>>())),
            Arc::new(Int64Array::from(rows.iter().map(|r| r.1).collect::<Vec<_>>())),
        ],
    )
    .unwrap();
    let mut out = Vec::new();
    let mut w = parquet::arrow::ArrowWriter::try_new(&mut out, schema, None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    out
}

fn exec(s: &mut Session, clock: Clock, cmd: Command) {
    s.set_clock(clock);
    s.execute(&cmd)
        .unwrap_or_else(|e| panic!("{cmd:?} was refused: {e}"));
}

fn query(
    s: &mut Session,
    step: &str,
    start: Clock,
    end: Clock,
    result: Result<&[(&str, i64)], &str>,
    id: &str,
) {
    let index = s.playbook.step_index(step).unwrap();
    let irp::playbook::model::StepKind::Query(q) = &s.playbook.steps[index].kind else {
        panic!("{step} is a query");
    };
    let ctx = irp::engine::template_context(&s.playbook, &s.state, index, &s.env());
    let sql = irp::playbook::template::render_sql(&q.sql, &ctx).unwrap();
    exec(
        s,
        start,
        Command::SubmitQuery {
            step: step.into(),
            sql,
            backend: "athena".into(),
            not_collected: Vec::new(),
        },
    );
    s.set_clock(end);
    match result {
        Ok(rows) => {
            let artifact = s.write_artifact(step, "parquet", &parquet(rows)).unwrap();
            let json: Vec<serde_json::Value> = rows
                .iter()
                .map(|(ip, n)| serde_json::json!({ "ip": ip, "n": n }))
                .collect();
            exec(
                s,
                end,
                Command::QuerySucceeded {
                    step: step.into(),
                    rows: json,
                    row_count: rows.len() as u64,
                    artifact: Some(artifact),
                    execution: Some(Execution {
                        query_id: id.into(),
                        state: "SUCCEEDED".into(),
                        state_reason: None,
                        bytes_scanned: 1_048_576,
                        run_ms: 1800,
                        fetch_ms: 40,
                    }),
                },
            );
        }
        Err(error) => exec(
            s,
            end,
            Command::QueryFailed {
                step: step.into(),
                error: error.into(),
                artifact: None,
                execution: Some(Execution {
                    query_id: id.into(),
                    state: "FAILED".into(),
                    state_reason: Some("Rate exceeded".into()),
                    bytes_scanned: 0,
                    run_ms: 900,
                    fetch_ms: 0,
                }),
            },
        ),
    }
}

fn json_artifact(s: &Session, step: &str, v: &serde_json::Value) -> ArtifactRef {
    s.write_artifact(step, "json", serde_json::to_string_pretty(v).unwrap().as_bytes())
        .unwrap()
}

fn action(
    s: &mut Session,
    step: &str,
    t: (i64, i64),
    outcome: Outcome,
    detail: &str,
    before: serde_json::Value,
    after: Option<serde_json::Value>,
) {
    let index = s.playbook.step_index(step).unwrap();
    let intent = irp::engine::render_intent(&s.playbook, &s.state, index, &s.env()).unwrap();
    s.set_clock(at(t.0, t.1 + 2));
    let before = json_artifact(s, step, &before);
    exec(
        s,
        at(t.0, t.1 + 2),
        Command::StartAction {
            step: step.into(),
            intent,
            simulated: false,
            before: Some(before),
            request: None,
            item: None,
        },
    );
    s.set_clock(at(t.0, t.1 + 5));
    let after = after.map(|v| json_artifact(s, step, &v));
    exec(
        s,
        at(t.0, t.1 + 5),
        Command::FinishAction {
            step: step.into(),
            outcome,
            detail: detail.into(),
            after,
            request_ids: if outcome == Outcome::Succeeded {
                vec!["0f0e0d0c-1111-2222-3333-444455556666".into()]
            } else {
                Vec::new()
            },
            verification: (outcome == Outcome::Succeeded).then(|| "read back: Status Inactive".to_owned()),
            outputs: Vec::new(),
            item: None,
        },
    );
}

/// The fixed case: a live case by alice, handed to bob, closed and then rolled back. On the
/// way: a failed query and its re-run, a back-step and another re-run, two skips with reasons,
/// a pause, a decision with its rationale, a containment action with before and after, a
/// failed action, a checklist, notes and evidence. `torn` adds a last line cut short.
pub fn fixture_case(case: &Path, torn: bool) {
    let playbook = repo().join(PLAYBOOK);
    let inputs = [("bucket".to_owned(), "drill-bucket".to_owned())];
    {
        let mut s = Session::create(case, &playbook, &inputs, Mode::Live, ctx("alice", at(0, 0))).unwrap();
        exec(&mut s, at(0, 5), Command::Start);
        exec(
            &mut s,
            at(1, 0),
            Command::AddNote {
                text: "Lead: alice; deputy: bob.\nBridge open.".into(),
            },
        );
        exec(
            &mut s,
            at(1, 30),
            Command::Complete {
                step: "open-case".into(),
            },
        );
        query(
            &mut s,
            "coverage",
            at(2, 0),
            at(2, 10),
            Err("TooManyRequestsException: Rate exceeded"),
            "q-0001",
        );
        query(
            &mut s,
            "coverage",
            at(3, 0),
            at(3, 20),
            Ok(&[("all", 42)]),
            "q-0002",
        );
        query(
            &mut s,
            "reads",
            at(4, 0),
            at(4, 30),
            Ok(&[("203.0.113.9", 1200), ("198.51.100.7", 3)]),
            "q-0003",
        );
        exec(
            &mut s,
            at(5, 0),
            Command::AddEvidence {
                observable: Observable::Ip,
                value: "203.0.113.9".into(),
                note: Some("1,200 reads in an hour".into()),
            },
        );
        exec(
            &mut s,
            at(6, 0),
            Command::GoBack {
                to: "coverage".into(),
            },
        );
        query(
            &mut s,
            "coverage",
            at(6, 10),
            at(6, 30),
            Ok(&[("all", 43)]),
            "q-0004",
        );
        exec(
            &mut s,
            at(7, 30),
            Command::Skip {
                step: "reads".into(),
                reason: "the readers are known from the first run".into(),
            },
        );
        exec(
            &mut s,
            at(9, 0),
            Command::Decide {
                step: "triage".into(),
                option: "incident".into(),
                rationale: Some("1,200 reads from an IP nobody knows".into()),
            },
        );
        exec(
            &mut s,
            at(10, 0),
            Command::Pause {
                reason: "waiting for the change approval".into(),
            },
        );
        exec(&mut s, at(25, 0), Command::Unpause);
        exec(
            &mut s,
            at(26, 0),
            Command::ConfirmAction {
                step: "deactivate-key".into(),
                typed: Some("AKIAIOSFODNN7EXAMPLE".into()),
                seen: None,
                items: None,
            },
        );
        action(
            &mut s,
            "deactivate-key",
            (26, 0),
            Outcome::Succeeded,
            "access key AKIAIOSFODNN7EXAMPLE of drill-user is Inactive",
            serde_json::json!({"UserName": "drill-user", "AccessKeyId": "AKIAIOSFODNN7EXAMPLE", "Status": "Active"}),
            Some(
                serde_json::json!({"UserName": "drill-user", "AccessKeyId": "AKIAIOSFODNN7EXAMPLE", "Status": "Inactive"}),
            ),
        );
        exec(
            &mut s,
            at(27, 0),
            Command::ConfirmAction {
                step: "block".into(),
                typed: Some("yes".into()),
                seen: None,
                items: None,
            },
        );
        action(
            &mut s,
            "block",
            (27, 0),
            Outcome::Failed,
            "AccessDenied: not authorized to perform s3:PutBucketPublicAccessBlock",
            serde_json::json!({"Bucket": "drill-bucket", "PublicAccessBlock": null}),
            None,
        );
        exec(
            &mut s,
            at(30, 0),
            Command::Skip {
                step: "block".into(),
                reason: "no permission; the bucket owner blocks it".into(),
            },
        );
    }
    // Bob takes the case over.
    let (mut s, _) = Session::resume(case, PlaybookChoice::Source, ctx("bob", at(35, 0))).unwrap();
    exec(
        &mut s,
        at(36, 0),
        Command::AddEvidence {
            observable: Observable::AccessKeyId,
            value: "AKIAIOSFODNN7EXAMPLE".into(),
            note: None,
        },
    );
    exec(
        &mut s,
        at(40, 0),
        Command::CheckItem {
            step: "restore-access".into(),
            item: 0,
        },
    );
    exec(
        &mut s,
        at(41, 0),
        Command::CheckItem {
            step: "restore-access".into(),
            item: 1,
        },
    );
    exec(
        &mut s,
        at(41, 30),
        Command::Complete {
            step: "restore-access".into(),
        },
    );
    exec(
        &mut s,
        at(45, 0),
        Command::AddNote {
            text: "The key was in a public repository | <script>alert(1)</script> `tick`".into(),
        },
    );
    exec(
        &mut s,
        at(50, 0),
        Command::Complete {
            step: "lessons".into(),
        },
    );
    exec(
        &mut s,
        at(52, 0),
        Command::Close {
            summary: "contained: key deactivated; the bucket owner blocks public access".into(),
        },
    );
    // The key is needed again: rolled back after the close.
    let before = s
        .entries
        .iter()
        .find_map(|e| match &e.event {
            irp::engine::Event::ActionStarted(a) if a.step == "deactivate-key" => a.before.clone(),
            _ => None,
        })
        .unwrap();
    s.set_clock(at(55, 0));
    let current = json_artifact(&s, "deactivate-key", &serde_json::json!({"Status": "Inactive"}));
    exec(
        &mut s,
        at(55, 0),
        Command::StartRollback(RollbackStarted {
            step: "deactivate-key".into(),
            operation: "iam.deactivate_access_key".into(),
            target: "AKIAIOSFODNN7EXAMPLE".into(),
            typed: "AKIAIOSFODNN7EXAMPLE".into(),
            restore: Some(before),
            current: Some(current),
            calls: vec!["iam:UpdateAccessKey Status=Active".into()],
            overwrites_changes: false,
            simulated: false,
            item: None,
        }),
    );
    s.set_clock(at(55, 10));
    let after = json_artifact(&s, "deactivate-key", &serde_json::json!({"Status": "Active"}));
    exec(
        &mut s,
        at(55, 10),
        Command::FinishRollback {
            step: "deactivate-key".into(),
            outcome: Outcome::Succeeded,
            detail: "access key AKIAIOSFODNN7EXAMPLE is Active again".into(),
            after: Some(after),
            request_ids: vec!["77777777-8888-9999-aaaa-bbbbccccdddd".into()],
            item: None,
        },
    );
    drop(s);
    if torn {
        let path = case.join("journal.jsonl");
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.extend_from_slice(b"{\"v\":1,\"seq\":99,\"id\":");
        std::fs::write(&path, bytes).unwrap();
    }
}

/// The fixed case in a fresh folder (the folder goes when the first value is dropped).
fn fixture(torn: bool) -> (tempfile::TempDir, std::path::PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let case = tmp.path().join("case");
    fixture_case(&case, torn);
    (tmp, case)
}

/// Changes one character of entry `seq`'s payload (an actor of alice's): its hash no longer
/// matches.
fn damage(case: &Path, seq: usize) {
    let path = case.join("journal.jsonl");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    assert!(lines[seq].contains("\"actor\":\"alice\""), "{}", lines[seq]);
    lines[seq] = lines[seq].replacen("\"actor\":\"alice\"", "\"actor\":\"mallory\"", 1);
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
}

/// What differs between machines and runs: the host and process in `session_started` (and so
/// the hash chain's head), and where the case and the repository are.
fn normalise(text: &str, case: &Path) -> String {
    let scan = irp::journal::store::read(&case.join("journal.jsonl")).unwrap();
    // The paths first: a short host name (`vm`) can be part of a random temporary folder name.
    let mut out = text.replace(&case.display().to_string(), "[case]");
    out = out.replace(&repo().canonicalize().unwrap().display().to_string(), "[repo]");
    out = out.replace(scan.head(), "[head]");
    for e in &scan.entries {
        if let irp::engine::Event::SessionStarted(s) = &e.event {
            out = out.replace(&s.host, "[host]");
        }
    }
    out
}

fn report(case: &Path, format: &str) -> std::process::Output {
    irp()
        .args(["report", case.to_str().unwrap(), "--format", format])
        .env("IRP_NOW", "2026-11-21T12:00:00Z")
        .output()
        .unwrap()
}

#[test]
fn reports_in_every_format_match_their_snapshots_and_say_what_happened() {
    let (_tmp, case) = fixture(true);
    let mut json_text = String::new();
    for (format, file) in [
        ("md", "report.md"),
        ("html", "report.html"),
        ("json", "report.json"),
    ] {
        let out = report(&case, format);
        assert!(
            out.status.success(),
            "irp report --format {format}: {}",
            stderr(&out)
        );
        assert!(
            stderr(&out).contains("last line is cut short"),
            "the torn tail is said: {}",
            stderr(&out)
        );
        let text = normalise(&stdout(&out), &case);
        check_snapshot(&repo().join("tests/snapshots").join(file), &text);
        if format == "json" {
            json_text = stdout(&out);
        }
    }
    // The facts behind the snapshots, checked one by one.
    let r: serde_json::Value = serde_json::from_str(&json_text).unwrap();
    assert_eq!(r["summary"]["mode"], "live");
    assert_eq!(r["summary"]["status"], "closed");
    assert_eq!(r["summary"]["duration_s"], 52.0 * 60.0);
    assert_eq!(r["summary"]["paused_s"], 15.0 * 60.0);
    let actors: Vec<&str> = r["summary"]["participants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["actor"].as_str().unwrap())
        .collect();
    assert_eq!(actors, ["alice", "bob"]);
    let m = &r["metrics"];
    assert_eq!(
        m["time_to_detect"]["seconds"], 300.0,
        "the first evidence, at 5:00"
    );
    assert_eq!(
        m["time_to_contain"]["seconds"],
        26.0 * 60.0 + 5.0,
        "deactivate-key finished at 26:05"
    );
    assert_eq!(m["time_to_contain"]["step"], "deactivate-key");
    assert_eq!(
        m["time_to_recover"]["seconds"],
        41.0 * 60.0 + 30.0,
        "the checklist done at 41:30"
    );
    let kinds: Vec<&str> = m["deviations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["kind"].as_str().unwrap())
        .collect();
    for (kind, n) in [
        ("query_failed", 1),
        ("rerun", 2),
        ("back_step", 1),
        ("skip", 2),
        ("pause", 1),
        ("action_failed", 1),
        ("rollback", 1),
    ] {
        assert_eq!(
            kinds.iter().filter(|k| **k == kind).count(),
            n,
            "{kind} in {kinds:?}"
        );
    }
    let stage = |id: &str| {
        m["stages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["id"] == id)
            .unwrap()
            .clone()
    };
    // The detect stage: reads from 3:20 to 4:30 and from 6:30 to its skip at 7:30; triage
    // from 4:30 to the back-step at 6:00 and from 7:30 to the decision at 9:00.
    assert_eq!(stage("detect")["seconds"], 70.0 + 60.0 + 90.0 + 90.0);
    let phases = m["phases"].as_array().unwrap();
    assert_eq!(phases.len(), 4);
    let rc = m["csf_functions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["function"] == "RC")
        .unwrap();
    assert_eq!(rc["stages"], serde_json::json!(["recover"]));
    // Evidence: two observables, each with the step the responder was on (the reads' result
    // was read on the decision that follows it).
    let ev = r["evidence"].as_array().unwrap();
    assert_eq!(ev.len(), 2);
    assert_eq!(ev[0]["type"], "ip");
    assert_eq!(ev[0]["step"], "triage");
    assert_eq!(ev[0]["stage"], "detect");
    // A query in the timeline carries its SQL, backend, query id, rows, bytes and artifact.
    let q = r["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["kind"] == "query_succeeded" && t["step"] == "reads")
        .unwrap();
    assert_eq!(q["detail"]["query_id"], "q-0003");
    assert_eq!(q["detail"]["backend"], "athena");
    assert_eq!(q["detail"]["rows"], 2);
    assert_eq!(q["detail"]["bytes_scanned"], 1_048_576);
    assert!(q["detail"]["sql"].as_str().unwrap().contains("'drill-bucket'"));
    assert_eq!(q["detail"]["artifact"]["sha256"].as_str().unwrap().len(), 64);
    let a = r["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["kind"] == "action_finished" && t["step"] == "deactivate-key")
        .unwrap();
    assert!(
        a["detail"]["before"]["path"]
            .as_str()
            .unwrap()
            .starts_with("artifacts/")
    );
    assert!(
        a["detail"]["after"]["path"]
            .as_str()
            .unwrap()
            .starts_with("artifacts/")
    );
    // The path: the branch taken and the one not taken, the back-step.
    let edge = |from: &str, to: &str| {
        r["path"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["from"] == from && e["to"] == to)
            .map(|e| {
                (
                    e["taken"].as_u64().unwrap(),
                    e["via"].as_str().unwrap().to_owned(),
                )
            })
    };
    assert_eq!(edge("triage", "deactivate-key"), Some((1, "option".into())));
    assert_eq!(edge("triage", "lessons"), Some((0, "option".into())));
    assert_eq!(edge("triage", "coverage"), Some((1, "back".into())));
    assert_eq!(edge("coverage", "reads"), Some((2, "next".into())));
    assert_eq!(r["integrity"]["verified"], true);
    assert_eq!(r["integrity"]["torn_tail_bytes"], 21);

    // Hostile text stays text: the note's markup is escaped in HTML and Markdown.
    let html = stdout(&report(&case, "html"));
    assert!(!html.contains("<script"), "no script element in the HTML");
    // Self-contained: nothing is fetched from anywhere (the only URL is SVG's namespace).
    assert!(!html.contains("src=") && !html.contains("href=") && !html.contains("url(http"));
    assert_eq!(
        html.matches("http").count(),
        html.matches("http://www.w3.org/2000/svg").count() + 1,
        "SVG namespaces and the CSP's http-equiv only"
    );
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    let md = stdout(&report(&case, "md"));
    assert!(md.contains("&lt;script&gt;"), "escaped in running text");
    // Raw, it appears only inside fenced code (the note as written), where it is text.
    let mut fence: Option<String> = None;
    for line in md.lines() {
        let t = line.trim_start();
        if let Some(f) = &fence {
            if t.starts_with(f.as_str()) && t.trim_end().chars().all(|c| c == '`') {
                fence = None;
            }
        } else if t.starts_with("```") {
            fence = Some(t.chars().take_while(|c| *c == '`').collect());
        } else {
            assert!(!line.contains("<script>"), "raw markup outside code: {line}");
        }
    }
}

#[test]
fn the_report_json_fits_its_schema_and_the_schema_is_checked_in() {
    let out = crate::common::run(&["schema", "report"]);
    assert!(out.status.success());
    check_snapshot(&repo().join("schemas/report.schema.json"), &stdout(&out));
    let Some(python) = crate::common::required_tool("IRP_PYTHON", "a Python with jsonschema") else {
        return;
    };
    let (tmp, case) = fixture(false);
    let json: serde_json::Value = serde_json::from_str(&stdout(&report(&case, "json"))).unwrap();
    let lines = tmp.path().join("report.jsonl");
    std::fs::write(&lines, format!("{}\n", serde_json::to_string(&json).unwrap())).unwrap();
    let out = std::process::Command::new(&python)
        .arg(repo().join("scripts/jsonschema_check.py"))
        .arg(repo().join("schemas/report.schema.json"))
        .arg(&lines)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the report does not fit its schema:\n{}{}",
        stdout(&out),
        stderr(&out)
    );
}

#[test]
fn a_damaged_journal_is_reported_as_damaged_and_the_report_still_written() {
    let (tmp, case) = fixture(false);
    damage(&case, 12);
    let file = tmp.path().join("report.html");
    let out = irp()
        .args(["report", case.to_str().unwrap(), "--format", "html", "-o"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "a damaged journal is not a success");
    assert!(stderr(&out).contains("damaged at seq 12"), "{}", stderr(&out));
    let html = std::fs::read_to_string(&file).unwrap();
    assert!(html.contains("journal DAMAGED at seq 12"));
    // An artifact changed on disk is damage too.
    fixture_case(&tmp.path().join("other"), false);
    let artifact = std::fs::read_dir(tmp.path().join("other/artifacts"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "parquet"))
        .unwrap();
    let mut bytes = std::fs::read(&artifact).unwrap();
    bytes[10] ^= 1;
    std::fs::write(&artifact, bytes).unwrap();
    let out = report(&tmp.path().join("other"), "md");
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("**DAMAGED**"));
    assert!(
        stderr(&out).contains("does not match the SHA-256"),
        "{}",
        stderr(&out)
    );
    // Not a case at all.
    let out = report(tmp.path(), "md");
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("cannot read"), "{}", stderr(&out));
    assert!(stderr(&out).contains("hint:"), "{}", stderr(&out));
}

#[test]
fn cases_lists_every_case_in_a_folder() {
    let tmp = tempfile::tempdir().unwrap();
    fixture_case(&tmp.path().join("a-closed"), false);
    {
        let playbook = repo().join(PLAYBOOK);
        let inputs = [("bucket".to_owned(), "b".to_owned())];
        let mut s = Session::create(
            &tmp.path().join("b-open"),
            &playbook,
            &inputs,
            Mode::Rehearsal,
            ctx("carol", Clock::Fixed(base() + Duration::days(1))),
        )
        .unwrap();
        exec(
            &mut s,
            Clock::Fixed(base() + Duration::days(1) + Duration::minutes(3)),
            Command::Start,
        );
    }
    std::fs::create_dir_all(tmp.path().join("not-a-case")).unwrap();
    std::fs::write(tmp.path().join("not-a-case/notes.txt"), "x").unwrap();
    let out = irp().args(["cases"]).arg(tmp.path()).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "a header and two cases:\n{text}");
    assert!(lines[0].starts_with("CASE"));
    // Newest first.
    assert!(
        lines[1].contains("review-drill 2") && lines[1].contains("rehearsal") && lines[1].contains("open")
    );
    assert!(lines[1].contains("3m 00s"), "{}", lines[1]);
    assert!(lines[2].contains("live") && lines[2].contains("closed") && lines[2].contains("52m 00s"));
    assert!(lines[2].contains("2026-11-20 09:00:00Z"));
    let out = irp().args(["cases", "--json"]).arg(tmp.path()).output().unwrap();
    let rows: Vec<serde_json::Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[1]["status"], "closed");
    // A case folder itself lists as one.
    let out = irp()
        .args(["cases"])
        .arg(tmp.path().join("a-closed"))
        .output()
        .unwrap();
    assert_eq!(stdout(&out).lines().count(), 2);
    // A folder that is not there.
    let out = irp()
        .args(["cases"])
        .arg(tmp.path().join("nope"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("cannot read"));
}

/// Renders `page` in headless Chromium: a screenshot, the DOM as parsed, and the console lines.
fn chromium(chrome: &str, page: &Path, out: &Path) -> (std::process::Output, std::process::Output) {
    let flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--enable-logging=stderr",
        "--v=0",
    ];
    let url = format!("file://{}", page.display());
    let profile = out.with_extension("profile");
    let shot = std::process::Command::new(chrome)
        .args(flags)
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--screenshot={}", out.display()))
        .arg("--window-size=1280,4000")
        .arg(&url)
        .output()
        .unwrap();
    let dom = std::process::Command::new(chrome)
        .args(flags)
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(&url)
        .output()
        .unwrap();
    (shot, dom)
}

fn console_lines(o: &std::process::Output) -> Vec<String> {
    stderr(o)
        .lines()
        .filter(|l| l.contains(":CONSOLE"))
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_html_report_renders_in_headless_chromium_without_console_errors() {
    let Some(chrome) = crate::common::required_tool("IRP_CHROMIUM", "Chromium") else {
        return;
    };
    let (tmp, case) = fixture(false);
    let page = tmp.path().join("report.html");
    let out = irp()
        .args(["report", case.to_str().unwrap(), "--format", "html", "-o"])
        .arg(&page)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let png = tmp.path().join("report.png");
    let (shot, dom) = chromium(&chrome, &page, &png);
    assert!(shot.status.success(), "chromium: {}", stderr(&shot));
    let image = std::fs::read(&png).unwrap();
    assert!(image.starts_with(b"\x89PNG"), "a PNG screenshot");
    assert!(
        image.len() > 20_000,
        "the screenshot has content ({} bytes)",
        image.len()
    );
    let errors: Vec<String> = console_lines(&shot)
        .into_iter()
        .chain(console_lines(&dom))
        .collect();
    assert!(errors.is_empty(), "console messages: {errors:#?}");
    let dom = stdout(&dom);
    assert!(
        dom.contains("id=\"timeline\""),
        "the timeline section is in the DOM"
    );
    assert_eq!(
        dom.matches("class=\"stage-timeline\"").count(),
        5,
        "one timeline chart per stage the case entered"
    );
    assert!(dom.contains("id=\"path-graph\""), "the path graph is in the DOM");
    assert!(
        dom.contains("class=\"edge\""),
        "the branch not taken (triage → lessons) is drawn grey"
    );
    assert!(dom.contains("class=\"edge taken\""));
    assert!(dom.contains("class=\"node taken\""));
    assert!(dom.contains("journal verified"));
    if let Ok(keep) = std::env::var("IRP_KEEP_SCREENSHOT") {
        std::fs::copy(&png, keep).unwrap();
    }

    // The check can fail: a page that breaks the same policy shows console errors.
    let bad = tmp.path().join("bad.html");
    std::fs::write(
        &bad,
        "<!DOCTYPE html><html><head><meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'\"></head><body><script>console.error('x')</script></body></html>",
    )
    .unwrap();
    let (shot, _) = chromium(&chrome, &bad, &tmp.path().join("bad.png"));
    assert!(
        !console_lines(&shot).is_empty(),
        "a blocked script is seen on the console: {}",
        stderr(&shot)
    );
}

#[test]
fn review_without_a_terminal_refuses_and_points_at_report() {
    let (_tmp, case) = fixture(false);
    let out = irp()
        .args(["review", case.to_str().unwrap()])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("needs a terminal"), "{}", stderr(&out));
    assert!(stderr(&out).contains("irp report"), "{}", stderr(&out));
}

// ---- `irp review`: the UI read-only over the journal ----

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use irp::report::CaseRecord;
use irp::ui::model::{Cmd, Msg};
use irp::ui::review::{Review, serve, update};
use irp::ui::text::Theme;
use irp::ui::worker::Request;

struct Rev {
    review: Review,
    record: CaseRecord,
    /// Every command the review asked of its shell.
    asked: Vec<Cmd>,
}

impl Rev {
    fn open(case: &Path) -> Rev {
        let record = CaseRecord::read(case).unwrap();
        let review = Review::new(&record, Theme { color: false });
        let mut r = Rev {
            review,
            record,
            asked: Vec::new(),
        };
        let cmds = update(&mut r.review, Msg::Resize(110, 34));
        r.serve(cmds);
        let cmds = r.review.show();
        r.serve(cmds);
        r
    }

    fn serve(&mut self, cmds: Vec<Cmd>) {
        self.asked.extend(cmds.iter().cloned());
        serve(&mut self.review, &self.record.dir, cmds);
    }

    fn key(&mut self, code: KeyCode) {
        let cmds = update(
            &mut self.review,
            Msg::Key(KeyEvent::new(code, KeyModifiers::NONE)),
        );
        self.serve(cmds);
    }

    fn ch(&mut self, c: char) {
        self.key(KeyCode::Char(c));
    }

    fn go(&mut self, index: usize) {
        let cmds = self.review.go(index);
        self.serve(cmds);
    }

    /// The index of the first entry of `kind` about `step`.
    fn find(&self, kind: &str, step: &str) -> usize {
        self.record
            .scan
            .entries
            .iter()
            .position(|e| e.event.kind() == kind && e.event.step() == Some(step))
            .unwrap_or_else(|| panic!("no {kind} about {step}"))
    }

    fn screen(&self) -> String {
        use ratatui::Terminal;
        use ratatui::backend::TestBackend;
        let (w, h) = self.review.model.size;
        let mut terminal = Terminal::new(TestBackend::new(w, h)).unwrap();
        terminal
            .draw(|f| irp::ui::view::view(&self.review.model, f))
            .unwrap();
        let buf = terminal.backend().buffer().clone();
        let mut out = String::new();
        for y in 0..h {
            let mut line = String::new();
            for x in 0..w {
                line.push_str(buf[(x, y)].symbol());
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }

    fn kind_at_cursor(&self) -> &'static str {
        self.review.entry().unwrap().event.kind()
    }
}

/// Every file of a case folder and its bytes.
fn folder_bytes(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push((p.display().to_string(), std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn review_shows_the_case_as_it_stood_at_each_entry() {
    let (_tmp, case) = fixture(true);
    let mut r = Rev::open(&case);
    let last = r.record.scan.entries.len() - 1;
    assert_eq!(r.review.cursor(), last, "the review opens at the last entry");
    let s = r.screen();
    assert!(s.contains("REVIEW live case"), "{s}");
    assert!(s.contains("chain verified · torn tail of 21 bytes"), "{s}");

    // To the start, then forward one entry at a time.
    r.ch('<');
    assert_eq!(r.review.cursor(), 0);
    assert_eq!(r.kind_at_cursor(), "case_opened");
    r.key(KeyCode::Right);
    r.key(KeyCode::Right);
    assert_eq!(r.kind_at_cursor(), "started");
    r.key(KeyCode::Left);
    assert_eq!(r.review.cursor(), 1);

    // The decision and its rationale, as it stood then.
    r.ch('d');
    assert_eq!(r.kind_at_cursor(), "decided");
    assert_eq!(r.review.model.viewed(), Some("triage"));
    let s = r.screen();
    assert!(s.contains("Chosen: incident"), "{s}");
    assert!(s.contains("1,200 reads from an IP nobody knows"), "{s}");
    check_snapshot(&repo().join("tests/snapshots/review-decision-110x34.txt"), &s);
    r.ch('d');
    assert_eq!(r.kind_at_cursor(), "decided", "there is no later decision");
    assert!(r.screen().contains("no decision after this entry"));

    // A query's result comes from its stored artifact, never re-queried; the table moves with
    // h/j/k/l and sorts.
    let reads = r.find("query_succeeded", "reads");
    r.go(reads);
    let table = r
        .review
        .model
        .result_table()
        .expect("the stored result is loaded")
        .clone();
    assert_eq!(table.rows(), 2);
    let s = r.screen();
    assert!(s.contains("203.0.113.9") && s.contains("1200"), "{s}");
    r.ch('j');
    assert_eq!(r.review.model.grid.row, 1);
    r.ch('l');
    assert_eq!(r.review.model.grid.col, 1);
    r.ch('s');
    assert!(r.review.model.grid.sort.is_some());
    r.ch('v');
    assert!(r.review.model.popup.is_some(), "a cell's full value");
    r.key(KeyCode::Esc);
    // The state at that moment: the case had not yet been decided, nor contained.
    assert!(
        r.review
            .model
            .state
            .step("triage")
            .is_none_or(|s| s.decided.is_none())
    );

    // The action: the call as journaled, the stored before- and after-states.
    let act = r.find("action_finished", "deactivate-key");
    r.go(act);
    let s = r.screen();
    assert!(s.contains("Before (artifacts/"), "{s}");
    assert!(s.contains("\"Status\": \"Active\""), "{s}");
    assert!(s.contains("After (artifacts/"), "{s}");
    assert!(s.contains("\"Status\": \"Inactive\""), "{s}");
    check_snapshot(&repo().join("tests/snapshots/review-action-110x34.txt"), &s);
    // After the rollback, the same step says so.
    r.ch('>');
    assert_eq!(r.kind_at_cursor(), "rollback_finished");
    assert!(r.screen().contains("rolled back: Succeeded"), "{}", r.screen());

    // While paused, the header says so; a step later it does not.
    let paused = r
        .record
        .scan
        .entries
        .iter()
        .position(|e| e.event.kind() == "paused")
        .unwrap();
    r.go(paused);
    assert!(r.screen().contains("PAUSED"));
    r.go(paused + 1);
    assert!(!r.screen().lines().next().unwrap().contains("PAUSED"));

    // Stages: ] goes to the start of the next stage, [ back.
    r.ch('<');
    r.ch(']');
    let stage_of = |r: &Rev| {
        let e = r.review.entry().unwrap();
        e.event
            .step()
            .and_then(|s| r.record.playbook.step(s))
            .map(|s| r.record.playbook.stages[s.stage].id.clone())
    };
    assert_eq!(stage_of(&r).as_deref(), Some("prepare"));
    r.ch(']');
    assert_eq!(stage_of(&r).as_deref(), Some("detect"));
    assert_eq!(r.kind_at_cursor(), "query_submitted");
    r.ch(']');
    assert_eq!(
        stage_of(&r).as_deref(),
        Some("prepare"),
        "the back-step to coverage"
    );
    r.ch('[');
    assert_eq!(stage_of(&r).as_deref(), Some("detect"));
    assert_eq!(r.kind_at_cursor(), "query_submitted", "the start of that stage");
    // t: a list of the stages; Enter jumps to the first entry of the one chosen.
    r.ch('t');
    let picker = r.review.model.picker.clone().expect("the stage list");
    assert_eq!(picker.items, ["prepare", "detect", "contain", "recover", "post"]);
    assert_eq!(picker.cursor, 1, "the list opens at the stage of the entry shown");
    assert!(r.screen().contains("Jump to the start of a stage"));
    assert!(r.screen().contains("contain — Contain"));
    r.key(KeyCode::Down);
    r.key(KeyCode::Enter);
    assert!(r.review.model.picker.is_none());
    assert_eq!(stage_of(&r).as_deref(), Some("contain"));
    assert_eq!(r.kind_at_cursor(), "action_confirmed");
    r.ch('t');
    r.key(KeyCode::Esc);
    assert!(r.review.model.picker.is_none(), "Esc closes the list");
    assert_eq!(stage_of(&r).as_deref(), Some("contain"));
}

#[test]
fn review_filters_the_timeline_by_stage_kind_and_actor() {
    let (_tmp, case) = fixture(false);
    let mut r = Rev::open(&case);
    let total = r.record.scan.entries.len();
    let filter = |r: &mut Rev, text: &str| {
        r.ch('f');
        // The box opens with the filter in force; clear it first.
        let cmds = update(
            &mut r.review,
            Msg::Key(KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL)),
        );
        r.serve(cmds);
        for c in text.chars() {
            r.ch(c);
        }
        r.key(KeyCode::Enter);
    };
    filter(&mut r, "kind=decision");
    let shown = |r: &Rev| r.review.model.timeline.as_ref().unwrap().shown.len();
    assert_eq!(shown(&r), 1);
    assert_eq!(r.kind_at_cursor(), "decided");
    assert!(r.screen().contains(&format!("1 of {total} entries match")));
    r.key(KeyCode::Right);
    assert_eq!(r.kind_at_cursor(), "decided", "nothing else is shown");
    filter(&mut r, "actor=bob");
    assert_eq!(shown(&r), 10);
    r.ch('<');
    assert_eq!(r.review.entry().unwrap().actor, "bob");
    filter(&mut r, "stage=contain kind=action");
    r.ch('<');
    assert_eq!(r.kind_at_cursor(), "action_confirmed");
    r.ch('>');
    assert_eq!(
        r.kind_at_cursor(),
        "action_finished",
        "the rollback is kind=rollback"
    );
    // A filter that cannot be: said, the text kept, the old filter unchanged.
    filter(&mut r, "stage=nope");
    let input = r.review.model.input.clone().expect("the box stays open");
    assert_eq!(input.text, "stage=nope");
    assert!(
        r.screen()
            .contains("no stage `nope`; the stages are prepare, detect, contain, recover, post")
    );
    r.key(KeyCode::Esc);
    assert_eq!(r.review.filter().stage.as_deref(), Some("contain"));
    filter(&mut r, "colour=red");
    assert!(r.screen().contains("use stage, kind or actor"));
    r.key(KeyCode::Esc);
    filter(&mut r, "actor=nobody");
    assert!(r.screen().contains("no entry matches"));
    assert_eq!(r.review.filter().stage.as_deref(), Some("contain"), "unchanged");
    filter(&mut r, "");
    assert_eq!(shown(&r), total);
}

#[test]
fn review_cannot_run_or_record_anything_whatever_is_pressed() {
    let (_tmp, case) = fixture(false);
    let before = folder_bytes(&case);
    let mut r = Rev::open(&case);
    // A responder's move is refused and said, whichever scope it belongs to.
    for c in ['n', 'e', 'x', 'b', 'p', 'r', 'c', 'a', 'V', 'N', ' '] {
        r.ch(c);
        assert!(
            r.screen().contains("review is read-only"),
            "`{c}` is refused with a reason"
        );
        r.review.model.status = None;
    }
    let mut keys: Vec<KeyCode> = irp::ui::keymap::all().map(|b| b.code).collect();
    keys.extend(('a'..='z').chain('A'..='Z').chain('0'..='9').map(KeyCode::Char));
    keys.extend([KeyCode::Enter, KeyCode::Char(' '), KeyCode::Esc, KeyCode::Tab]);
    // At every entry, every key: the moves a responder makes (run, choose, confirm, note,
    // evidence, skip, back, pause, close, tick, V/D/N) are refused or mean nothing here.
    for index in 0..r.record.scan.entries.len() {
        for &k in &keys {
            r.go(index);
            r.key(k);
            if r.review.model.input.is_some() {
                r.ch('x');
                r.key(KeyCode::Enter);
                r.key(KeyCode::Esc);
            }
            // Close whatever opened, so the next key is pressed on the main screen.
            r.key(KeyCode::Esc);
            if r.review.model.screen != irp::ui::model::Screen::Main {
                r.ch('q');
            }
        }
    }
    for c in &r.asked {
        match c {
            Cmd::Send(req) => assert!(
                matches!(**req, Request::LoadResult { .. } | Request::LoadText { .. }),
                "review asked for {req:?}"
            ),
            Cmd::Quit => {}
            Cmd::CancelQuery => panic!("review asked to cancel a query"),
        }
    }
    assert!(
        r.asked.iter().any(|c| matches!(c, Cmd::Quit)),
        "q quits the review"
    );
    assert_eq!(
        folder_bytes(&case),
        before,
        "the case folder is byte for byte as it was"
    );
}

#[test]
fn a_damaged_case_is_reviewed_up_to_the_damage_and_a_missing_snapshot_is_named() {
    let (_tmp, case) = fixture(false);
    damage(&case, 20);
    let r = Rev::open(&case);
    assert_eq!(r.record.scan.entries.len(), 20, "the entries before the damage");
    let s = r.screen();
    assert!(s.contains("chain DAMAGED at seq 20"), "{s}");
    // The snapshot the case ran with is gone: the report says which file and what to do.
    std::fs::remove_file(case.join("playbook.yaml")).unwrap();
    let out = report(&case, "md");
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("playbook snapshot") && err.contains("playbook.yaml"),
        "{err}"
    );
    assert!(err.contains("irp journal CASE"), "{err}");
}

#[test]
fn the_markdown_reports_path_graph_parses_in_mermaid() {
    let Some(_) = crate::common::required_tool("IRP_MERMAID_MODULES", "mermaid (npm) to parse the graph")
    else {
        return;
    };
    let (tmp, case) = fixture(false);
    let md = stdout(&report(&case, "md"));
    // The fenced block after "```mermaid", up to its closing fence.
    let start = md.find("```mermaid\n").expect("a mermaid block") + "```mermaid\n".len();
    let end = start + md[start..].find("\n```\n").expect("its closing fence");
    let graph = &md[start..end];
    assert!(graph.contains("-.->|\"back\"|"), "the back-step is drawn");
    assert!(graph.contains("linkStyle"), "taken and untaken edges are styled");
    let file = tmp.path().join("path.mmd");
    let parse = |text: &str| {
        std::fs::write(&file, text).unwrap();
        std::process::Command::new("node")
            .arg(repo().join("scripts/mermaid_check.mjs"))
            .arg(&file)
            .output()
            .unwrap()
    };
    let check = parse(graph);
    assert!(
        check.status.success(),
        "mermaid rejected the report's graph:\n{}{}",
        stdout(&check),
        stderr(&check)
    );
    // A linkStyle past the last edge is refused, so the edge counting is checked too.
    let check = parse(&format!("{graph}  linkStyle 999 stroke:#000\n"));
    assert!(!check.status.success(), "{}", stdout(&check));
}

#[test]
fn review_shows_who_signed_each_entry() {
    let tmp = tempfile::tempdir().unwrap();
    let case = tmp.path().join("case");
    let out = crate::common::drill(&case)
        .arg("--signing-key")
        .arg(crate::common::test_key("alice"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let r = Rev::open(&case);
    let s = r.screen();
    assert!(s.contains("60 of 60 signed"), "{s}");
    assert!(
        s.contains("signed ED25519 SHA256:"),
        "each journal line names its key: {s}"
    );
}

#[test]
fn urls_and_addresses_from_a_case_stay_text_in_a_gfm_renderer() {
    let Some(_) = crate::common::required_tool("IRP_MERMAID_MODULES", "marked (npm) to render GFM") else {
        return;
    };
    use irp::report::{build, markdown};
    let hostile = "see https://evil.example/x?a=1, HTTP://EVIL.EXAMPLE, www.evil.example/login, \
                   ftp://files.evil.example and mallory@evil.example (mailto:mallory@evil.example)";
    let tmp = tempfile::tempdir().unwrap();
    let case = tmp.path().join("case");
    let playbook = repo().join(PLAYBOOK);
    let inputs = [("bucket".to_owned(), "drill-bucket".to_owned())];
    let mut s = Session::create(&case, &playbook, &inputs, Mode::Rehearsal, ctx("alice", at(0, 0))).unwrap();
    exec(&mut s, at(0, 1), Command::Start);
    exec(
        &mut s,
        at(0, 2),
        Command::AddNote {
            text: hostile.to_owned(),
        },
    );
    exec(
        &mut s,
        at(0, 3),
        Command::AddEvidence {
            observable: Observable::Text,
            value: hostile.to_owned(),
            note: Some(hostile.to_owned()),
        },
    );
    drop(s);
    let record = CaseRecord::read(&case).unwrap();
    let md = markdown::render(&build(&record, base()), &record.playbook);
    let render = |text: &str| {
        let file = tmp.path().join("r.md");
        std::fs::write(&file, text).unwrap();
        let out = std::process::Command::new("node")
            .arg(repo().join("scripts/gfm_render.mjs"))
            .arg(&file)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        stdout(&out)
    };
    // The renderer does make links of such text when it is not escaped…
    assert!(render(hostile).matches("<a ").count() >= 4, "{}", render(hostile));
    // …and none of the report's.
    let html = render(&md);
    assert!(html.contains("evil.example"), "the text is there");
    assert!(
        !html.contains("<a "),
        "a link from case text: {}",
        html.lines()
            .filter(|l| l.contains("<a "))
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(
        html.contains("https://evil.example/x") && html.contains("mallory@evil.example"),
        "shown as written"
    );
}

/// Text a responder or a log could put in a case: markup, table pipes, backticks, fences, control
/// characters, long runs.
fn hostile() -> impl proptest::strategy::Strategy<Value = String> {
    use proptest::prelude::*;
    prop_oneof![
        "[ -~]{1,40}",
        "[<>&\"'|`*_\\[\\]#~\\\\]{1,20}",
        "\\PC{1,30}",
        Just("</pre><script>alert(1)</script>".to_owned()),
        Just("```\n# not a heading\n```".to_owned()),
        Just("a|b|c\n| --- |".to_owned()),
        // A backslash before a pipe pairs with the pipe's escape (found by this test).
        Just("x\\|y\\\\|z".to_owned()),
        Just("\u{1b}[31mred\u{7}\u{0}".to_owned()),
    ]
    // A blank note or reason is refused by the engine (as it should be), so it is no case here.
    .prop_filter("blank text is refused before it reaches a report", |s| {
        !s.trim().is_empty()
    })
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 16, failure_persistence: None, ..proptest::prelude::ProptestConfig::default() })]
    /// Whatever text a case holds, the Markdown tables keep their columns, the HTML holds no
    /// element or control character it did not write itself, and the JSON round-trips the text.
    #[test]
    fn hostile_text_in_a_case_stays_text_in_every_format(note in hostile(), reason in hostile(), value in hostile(), actor in "[a-z]{1,8}") {
        use irp::report::{build, html, markdown};
        let tmp = tempfile::tempdir().unwrap();
        let case = tmp.path().join("case");
        let playbook = repo().join(PLAYBOOK);
        let inputs = [("bucket".to_owned(), "drill-bucket".to_owned())];
        let mut s = Session::create(&case, &playbook, &inputs, Mode::Rehearsal, ctx(&actor, at(0, 0))).unwrap();
        exec(&mut s, at(0, 1), Command::Start);
        exec(&mut s, at(0, 2), Command::AddNote { text: note.clone() });
        exec(&mut s, at(0, 3), Command::AddEvidence { observable: Observable::Text, value: value.clone(), note: Some(reason.clone()) });
        exec(&mut s, at(0, 4), Command::Skip { step: "open-case".into(), reason: reason.clone() });
        drop(s);
        let record = CaseRecord::read(&case).unwrap();
        let report = build(&record, base());
        // Markdown: every table row has as many cells as its header.
        let md = markdown::render(&report, &record.playbook);
        let cells = |line: &str| {
            let mut n = 0;
            let mut escaped = false;
            for c in line.chars() {
                if c == '|' && !escaped { n += 1; }
                escaped = c == '\\' && !escaped;
            }
            n
        };
        let mut header: Option<usize> = None;
        for line in md.lines() {
            if line.starts_with('|') {
                let n = cells(line);
                match header {
                    None => header = Some(n),
                    Some(h) => proptest::prop_assert_eq!(n, h, "a row lost its shape: {}", line),
                }
            } else {
                header = None;
            }
        }
        // HTML: the only elements are irp's own, and no control character gets through.
        let page = html::render(&report, &record.playbook);
        proptest::prop_assert!(!page.contains("<script"));
        proptest::prop_assert!(!page.chars().any(|c| c.is_control() && c != '\n' && c != '\t'));
        let tags: std::collections::BTreeSet<&str> = page
            .split('<')
            .skip(1)
            .map(|t| t.split([' ', '>', '/', '\n']).find(|x| !x.is_empty()).unwrap_or(""))
            .collect();
        for t in &tags {
            proptest::prop_assert!(
                ["!DOCTYPE", "html", "head", "meta", "title", "style", "body", "h1", "h2", "h3", "p", "span", "table", "tr", "th", "td", "code", "pre", "ul", "li", "div", "figure", "figcaption", "svg", "defs", "marker", "path", "text", "line", "rect", "circle", "g"].contains(t),
                "an element irp does not write: <{}", t
            );
        }
        // JSON: the text as recorded.
        let json = serde_json::to_value(&report).unwrap();
        let notes: Vec<&str> = json["timeline"].as_array().unwrap().iter().filter_map(|t| t["detail"]["text"].as_str()).collect();
        proptest::prop_assert_eq!(notes, vec![note.as_str()]);
    }
}

#[test]
fn what_is_not_a_case_is_named_and_an_unwritable_output_is_said() {
    let tmp = tempfile::tempdir().unwrap();
    // A journal with no complete entry.
    let empty = tmp.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    std::fs::write(empty.join("journal.jsonl"), b"{\"v\":1,\"seq\":0").unwrap();
    let out = report(&empty, "md");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("holds no complete journal entry"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("irp journal CASE"), "{}", stderr(&out));
    // A chain that does not start with the case's opening (the reader refuses it at seq 0).
    let odd = tmp.path().join("odd");
    std::fs::create_dir_all(&odd).unwrap();
    let (_, line) = irp::journal::entry::encode(
        0,
        uuid::Uuid::nil(),
        base(),
        "x",
        irp::engine::Event::Unpaused {},
        irp::journal::GENESIS,
    )
    .unwrap();
    std::fs::write(odd.join("journal.jsonl"), line).unwrap();
    let out = report(&odd, "json");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out)
            .contains("damaged at seq 0 (line 1): the first entry must be `case_opened`, found `unpaused`"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("irp verify CASE"), "{}", stderr(&out));
    // A report that cannot be written says where and what to do; nothing half-written is left.
    let case = tmp.path().join("case");
    fixture_case(&case, false);
    let out = irp()
        .args(["report", case.to_str().unwrap(), "-o"])
        .arg(tmp.path().join("no-such-folder/report.md"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("cannot write"), "{}", stderr(&out));
    assert!(!tmp.path().join("no-such-folder").exists());
    // `irp cases` marks a damaged journal as such, and lists one damaged from its first entry.
    damage(&case, 12);
    let out = irp().args(["cases"]).arg(tmp.path()).output().unwrap();
    assert!(out.status.success());
    let text = stdout(&out);
    let line = text.lines().find(|l| l.contains("review-drill")).unwrap();
    assert!(line.contains("DAMAGED") && line.contains("live"), "{line}");
    let odd_line = text.lines().find(|l| l.contains("/odd")).unwrap();
    assert!(odd_line.contains("DAMAGED"), "{odd_line}");
    assert!(
        !text.contains("/empty"),
        "a start cut short is not a case yet:\n{text}"
    );
}

/// A copy of the live case written by irp before the before-states were typed
/// (`tests/fixtures/cases/live-before-typed-states`, from `contain.yaml` against moto).
pub fn case_before_typed_states() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let case = dir.path().join("case");
    let from = repo().join("tests/fixtures/cases/live-before-typed-states");
    for (path, bytes) in folder_bytes(&from) {
        let to = case.join(Path::new(&path).strip_prefix(&from).unwrap());
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::write(to, bytes).unwrap();
    }
    (dir, case)
}

#[test]
fn a_case_from_before_the_typed_states_verifies_reports_and_reviews() {
    let (_dir, case) = case_before_typed_states();
    let out = irp().arg("verify").arg(&case).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    // The report reads every action's stored states and says how each ended.
    let out = report(&case, "json");
    assert!(out.status.success(), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let finished: Vec<&serde_json::Value> = json["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["kind"] == "action_finished")
        .collect();
    assert_eq!(finished.len(), 4, "{finished:?}");
    for t in &finished {
        assert_eq!(t["detail"]["outcome"], "succeeded", "{t}");
    }
    let deny = finished.iter().find(|t| t["step"] == "deny").unwrap();
    assert!(
        deny["detail"]["before"]["path"]
            .as_str()
            .unwrap()
            .ends_with("deny.before.json")
    );
    assert!(
        deny["detail"]["after"]["path"]
            .as_str()
            .unwrap()
            .ends_with("deny.after.json")
    );
    assert_eq!(deny["detail"]["intent"]["operation"], "s3.add_bucket_policy_deny");
    let out = report(&case, "md");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("contained in the fixture run"));
    // Review shows the deny as it stood: the call as journaled, its result, the stored before-state.
    let mut r = Rev::open(&case);
    let at = r.find("action_finished", "deny");
    r.go(at);
    let screen = r.screen();
    assert!(screen.contains("Result:"), "{screen}");
    assert!(
        screen.contains("Before (artifacts/7-deny.before.json)"),
        "{screen}"
    );
    assert!(screen.contains("\"Sid\": \"Partner\""), "{screen}");
    assert!(r.asked.iter().all(|c| !matches!(c, Cmd::Quit)), "{:?}", r.asked);
}
