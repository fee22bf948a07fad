//! Post-incident review: `irp report` in its three formats from a fixed journal (pinned clock and
//! ids), the HTML in headless Chromium, `irp cases`, and `irp review` read-only.

use std::path::{Path, PathBuf};
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

/// What differs between machines and runs: the host and process in `session_started` (and so
/// the hash chain's head), and where the case and the repository are.
fn normalise(text: &str, case: &Path) -> String {
    let scan = irp::journal::store::read(&case.join("journal.jsonl")).unwrap();
    let mut out = text.to_owned();
    for e in &scan.entries {
        if let irp::engine::Event::SessionStarted(s) = &e.event {
            out = out.replace(&s.host, "[host]");
        }
    }
    out = out.replace(scan.head(), "[head]");
    out = out.replace(&repo().canonicalize().unwrap().display().to_string(), "[repo]");
    out = out.replace(&case.display().to_string(), "[case]");
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
    let tmp = tempfile::tempdir().unwrap();
    let case = tmp.path().join("case");
    fixture_case(&case, true);
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
    assert!(!html.contains("<script>"), "no script element in the HTML");
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
    let tmp = tempfile::tempdir().unwrap();
    let case = tmp.path().join("case");
    fixture_case(&case, false);
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
    let tmp = tempfile::tempdir().unwrap();
    let case = tmp.path().join("case");
    fixture_case(&case, false);
    let path = case.join("journal.jsonl");
    let text = std::fs::read_to_string(&path).unwrap();
    // Change one character inside entry 12's payload: its hash no longer matches.
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    assert!(lines[12].contains("\"actor\":\"alice\""), "{}", lines[12]);
    lines[12] = lines[12].replacen("\"actor\":\"alice\"", "\"actor\":\"mallory\"", 1);
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
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
    let tmp = tempfile::tempdir().unwrap();
    let case = tmp.path().join("case");
    fixture_case(&case, false);
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
    let tmp = tempfile::tempdir().unwrap();
    let case = tmp.path().join("case");
    fixture_case(&case, false);
    let out = irp()
        .args(["review", case.to_str().unwrap()])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("needs a terminal"), "{}", stderr(&out));
    assert!(stderr(&out).contains("irp report"), "{}", stderr(&out));
}
