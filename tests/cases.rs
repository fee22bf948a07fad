//! `irp run` / `resume` / `journal` from the command line: headless output, a missing answer
//! (exit 3, resumable), answers that do not fit, folders that are not cases, hostile strings.

use std::path::Path;

use crate::common::{irp, run, stderr, stdout};

fn headless(root: &Path, answers: &Path, extra: &[&str]) -> std::process::Output {
    irp()
        .env("IRP_NOW", "2026-11-28T03:00:00Z")
        .env("IRP_SEED", "cases")
        .args(["run", "tests/fixtures/cases/drill.yaml", "--case-dir"])
        .arg(root)
        .args(["-i", "bucket=drill-bucket", "--headless", "--answers"])
        .arg(answers)
        .args(extra)
        .output()
        .unwrap()
}

/// The drill's answers without the typed confirmation of `contain-key`: a run stops there.
fn partial_answers(dir: &Path) -> std::path::PathBuf {
    let full = std::fs::read_to_string(crate::common::repo().join("tests/fixtures/cases/drill.answers.yaml"))
        .unwrap();
    let partial = dir.join("partial.yaml");
    std::fs::write(
        &partial,
        full.replace("  contain-key: { confirm: AKIAIOSFODNN7EXAMPLE }\n", ""),
    )
    .unwrap();
    partial
}

#[test]
fn a_missing_answer_stops_with_exit_3_and_the_case_resumes() {
    let tmp = tempfile::tempdir().unwrap();
    let partial = partial_answers(tmp.path());
    let root = tmp.path().join("case");
    let out = headless(&root, &partial, &[]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(
            "step `contain-key` needs an answer: a typed confirmation (`confirm: AKIAIOSFODNN7EXAMPLE`)"
        ),
        "{err}"
    );
    assert!(err.contains("can be resumed"), "{err}");
    assert!(stdout(&out).contains("chose `incident`"), "{}", stdout(&out));
    // Resume with the full answers: nothing recorded is asked again.
    let answers = crate::common::repo().join("tests/fixtures/cases/drill.answers.yaml");
    let out = irp()
        .args(["resume"])
        .arg(&root)
        .args(["--headless", "--json", "--answers"])
        .arg(&answers)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    // With --json, standard output is JSON Lines and nothing else.
    let lines: Vec<serde_json::Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        stderr(&out).contains("resumed at step `contain-key`"),
        "{}",
        stderr(&out)
    );
    assert_eq!(lines.first().unwrap()["step"], "contain-key");
    assert_eq!(lines.last().unwrap()["kind"], "case");
    let journal = stdout(&run(&["journal", root.to_str().unwrap()]));
    assert_eq!(journal.matches(" decided ").count(), 3, "{journal}");
    assert_eq!(journal.matches("session_started").count(), 2);
    // Resuming a closed case does nothing and says so.
    let out = irp()
        .args(["resume"])
        .arg(&root)
        .args(["--headless", "--answers"])
        .arg(&answers)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(stdout(&out).contains("the case is closed"), "{}", stdout(&out));
    assert_eq!(stdout(&run(&["journal", root.to_str().unwrap()])), journal);
}

#[test]
fn answers_that_do_not_fit_the_playbook_are_refused_before_anything_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let answers = tmp.path().join("a.yaml");
    std::fs::write(
        &answers,
        "steps:\n  triage: { choose: maybe }\n  trige: { skip: typo }\n  scope: { confirm: \"yes\" }\n  reads: { evidence: [{ type: ipv4, value: x }] }\n  block: { evidence: [{ type: ip, value: 999.1.1.1 }] }\n",
    )
    .unwrap();
    let root = tmp.path().join("case");
    let out = headless(&root, &answers, &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    for want in [
        "step `triage` has no option `maybe` (options: `incident`, `benign`, or `suggested`)",
        "`trige` is not a step of playbook `drill` (did you mean `triage`?)",
        "step `scope` is a note step; `confirm` does not apply to it",
        "`ipv4` is not an evidence type",
        "ip `999.1.1.1`: not an IPv4 or IPv6 address",
    ] {
        assert!(err.contains(want), "missing `{want}` in:\n{err}");
    }
    assert!(!root.exists(), "nothing was created");
    // Unknown keys are errors too.
    std::fs::write(&answers, "steps:\n  triage: { chose: incident }\n").unwrap();
    let err = stderr(&headless(&root, &answers, &[]));
    assert!(err.contains("chose"), "{err}");
}

#[test]
fn inputs_are_checked_and_named() {
    let tmp = tempfile::tempdir().unwrap();
    let answers = crate::common::repo().join("tests/fixtures/cases/drill.answers.yaml");
    let out = irp()
        .args(["run", "tests/fixtures/cases/drill.yaml", "--case-dir"])
        .arg(tmp.path().join("c"))
        .args([
            "-i",
            "buckt=x",
            "-i",
            "since=yesterday",
            "--headless",
            "--answers",
        ])
        .arg(&answers)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("`buckt` is not an input of playbook `drill`"),
        "{err}"
    );
    assert!(err.contains("input `bucket` is required"), "{err}");
    assert!(
        err.contains("input `since`: `yesterday` is not a timestamp"),
        "{err}"
    );
    let out = run(&[
        "run",
        "tests/fixtures/cases/drill.yaml",
        "--case-dir",
        "x",
        "-i",
        "novalue",
    ]);
    assert_eq!(out.status.code(), Some(2), "a malformed flag is a usage error");
}

#[test]
fn a_case_never_goes_into_someone_elses_folder_or_over_another_case() {
    let tmp = tempfile::tempdir().unwrap();
    let answers = crate::common::repo().join("tests/fixtures/cases/drill.answers.yaml");
    let busy = tmp.path().join("busy");
    std::fs::create_dir(&busy).unwrap();
    std::fs::write(busy.join("notes.txt"), "mine").unwrap();
    let out = headless(&busy, &answers, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("is not empty and is not a case folder (it holds `notes.txt`)"),
        "{}",
        stderr(&out)
    );
    let root = tmp.path().join("case");
    assert!(headless(&root, &answers, &[]).status.success());
    let out = headless(&root, &answers, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("already holds a case"), "{}", stderr(&out));
    assert!(stderr(&out).contains("irp resume"), "{}", stderr(&out));
    let out = run(&[
        "resume",
        tmp.path().join("none").to_str().unwrap(),
        "--headless",
        "--answers",
        answers.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("holds no case"), "{}", stderr(&out));
    let out = run(&["run", "tests/fixtures/cases/drill.yaml", "--case-dir", "x"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("--headless --answers FILE"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn hostile_strings_are_recorded_exactly_and_shown_inert() {
    let tmp = tempfile::tempdir().unwrap();
    let answers = tmp.path().join("a.yaml");
    let full = std::fs::read_to_string(crate::common::repo().join("tests/fixtures/cases/drill.answers.yaml"))
        .unwrap();
    let hostile = "\"\\u001b]0;pwned\\u0007\\u001b[2J\\nseq 99 \\\"}\"";
    std::fs::write(
        &answers,
        full.replace("[part three looks odd]", &format!("[{hostile}]")),
    )
    .unwrap();
    let root = tmp.path().join("case");
    let out = headless(&root, &answers, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let scan = irp::journal::store::read(&root.join("journal.jsonl")).unwrap();
    assert!(scan.corruption.is_none());
    let note = scan
        .entries
        .iter()
        .find_map(|e| match &e.event {
            irp::engine::Event::NoteAdded { text, .. } if text.contains("pwned") => Some(text.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(note, "\u{1b}]0;pwned\u{7}\u{1b}[2J\nseq 99 \"}");
    let shown = stdout(&run(&["journal", root.to_str().unwrap()]));
    assert!(
        !shown.contains('\u{1b}') && !shown.contains('\u{7}'),
        "control characters are escaped"
    );
    assert!(shown.contains("\\u{1b}]0;pwned"), "{shown}");
    assert_eq!(
        shown.lines().count(),
        scan.entries.len(),
        "a newline in a value cannot fake an entry"
    );
}

#[test]
fn the_shipped_s3_playbook_walks_end_to_end_without_a_lake() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("case");
    let out = irp()
        .env("IRP_NOW", "2026-11-28T03:00:00Z")
        .args(["run", "playbooks/s3-unintended-data-access.yaml", "--case-dir"])
        .arg(&root)
        .args([
            "-i",
            "bucket=customer-exports",
            "-i",
            "bucket_account=111122223333",
            "-i",
            "region=us-east-1",
        ])
        .args([
            "--headless",
            "--json",
            "--answers",
            "tests/fixtures/cases/s3-no-lake.answers.yaml",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let scan = irp::journal::store::read(&root.join("journal.jsonl")).unwrap();
    assert!(scan.corruption.is_none());
    let intents: Vec<&irp::engine::ActionStarted> = scan
        .entries
        .iter()
        .filter_map(|e| match &e.event {
            irp::engine::Event::ActionStarted(a) => Some(a),
            _ => None,
        })
        .collect();
    let block = intents
        .iter()
        .find(|a| a.step == "block-public-access")
        .expect("block-public-access ran");
    assert!(block.simulated);
    let irp::engine::Intent::Aws {
        api, target, params, ..
    } = &block.intent
    else {
        panic!("an aws intent")
    };
    assert_eq!(api, "s3:PutPublicAccessBlock");
    assert_eq!(target.as_deref(), Some("customer-exports"));
    assert_eq!(params["bucket"], "customer-exports");
    let account = intents
        .iter()
        .find(|a| a.step == "account-public-access-block")
        .unwrap();
    let irp::engine::Intent::Aws { target, .. } = &account.intent else {
        panic!()
    };
    assert_eq!(target.as_deref(), Some("111122223333"));
    // Every destructive action was confirmed by typing its target before it started; read-only
    // evidence operations run unconfirmed.
    let mut destructive = 0;
    for (i, e) in scan.entries.iter().enumerate() {
        if let irp::engine::Event::ActionStarted(a) = &e.event {
            let irp::engine::Intent::Aws { operation, .. } = &a.intent else {
                continue;
            };
            if irp::action::find_operation(operation).unwrap().is_read_only() {
                continue;
            }
            destructive += 1;
            let confirmed = scan.entries[..i].iter().rev().find_map(|p| match &p.event {
                irp::engine::Event::ActionConfirmed(c) if c.step == a.step => Some(c.confirmation.clone()),
                _ => None,
            });
            assert_eq!(
                confirmed.as_deref(),
                Some("typed"),
                "{} was not confirmed by typing",
                a.step
            );
        }
    }
    assert!(destructive >= 7, "{destructive} destructive actions ran");
    let last: serde_json::Value = serde_json::from_str(stdout(&out).lines().last().unwrap()).unwrap();
    assert_eq!(last["outcome"], "closed: drill finished");
    assert!(run(&["verify", root.to_str().unwrap()]).status.success());
}

#[test]
fn answers_that_send_the_case_round_a_loop_stop_the_run() {
    let tmp = tempfile::tempdir().unwrap();
    let answers = tmp.path().join("a.yaml");
    // `again` answered `yes` on every visit: the walk never ends.
    std::fs::write(
        &answers,
        "steps:\n  reads: { skip: no lake }\n  triage: { choose: incident }\n  again: { choose: \"yes\" }\n",
    )
    .unwrap();
    let out = headless(&tmp.path().join("case"), &answers, &["--quiet"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("has been entered 1001 times; the answers send the case round a loop"),
        "{err}"
    );
    assert!(err.contains("one per visit"), "{err}");
}

#[test]
fn an_action_whose_values_are_missing_stops_before_confirmation() {
    let tmp = tempfile::tempdir().unwrap();
    let full =
        std::fs::read_to_string(crate::common::repo().join("tests/fixtures/cases/s3-no-lake.answers.yaml"))
            .unwrap();
    // `deactivate-key` reads captures of queries this run skips.
    let answers = tmp.path().join("a.yaml");
    std::fs::write(
        &answers,
        full.replace(
            "  deactivate-key: { skip: \"its values come from a skipped query\" }\n",
            "",
        ),
    )
    .unwrap();
    let root = tmp.path().join("case");
    let out = irp()
        .args(["run", "playbooks/s3-unintended-data-access.yaml", "--case-dir"])
        .arg(&root)
        .args([
            "-i",
            "bucket=customer-exports",
            "-i",
            "bucket_account=111122223333",
            "-i",
            "region=us-east-1",
        ])
        .args(["--headless", "--answers"])
        .arg(&answers)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("step `deactivate-key` failed: the action cannot be rendered"),
        "{err}"
    );
    assert!(
        err.contains("the list `stolen_user_keys` the step runs over cannot be read: it has no value"),
        "{err}"
    );
    let journal = stdout(&run(&["journal", root.to_str().unwrap()]));
    assert!(
        !journal.contains("action_confirmed     deactivate-key"),
        "nothing was confirmed: {journal}"
    );
}

/// The `for_each` drill on a lake imported from its `CloudTrail` file.
fn for_each_run(dir: &Path, answers: &str) -> std::process::Output {
    for_each_run_with(dir, answers, &[])
}

/// The drill with more inputs (`-i name=value` each).
fn for_each_run_with(dir: &Path, answers: &str, inputs: &[&str]) -> std::process::Output {
    std::fs::create_dir_all(dir).unwrap();
    let lake = crate::common::for_each_lake(dir);
    let path = dir.join("answers.yaml");
    std::fs::write(&path, answers).unwrap();
    irp()
        .env("IRP_NOW", "2026-11-28T03:00:00Z")
        .args(["run", "tests/fixtures/cases/for-each.yaml", "--case-dir"])
        .arg(dir.join("case"))
        .arg("--lake")
        .arg(&lake)
        .args(["-i", "suspect_key=AKIAEXAMPLESTOLEN001"])
        .args(inputs.iter().flat_map(|i| ["-i", i]))
        .args(["--headless", "--answers"])
        .arg(&path)
        .output()
        .unwrap()
}

#[test]
fn a_protected_principal_is_left_out_unless_its_item_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let protect = ["protected_principals=arn:aws:iam::111122223333:user/break-glass"];
    // The preview marks it and leaves it out; the count asked for is of the others.
    let out = for_each_run_with(tmp.path(), "steps: {}\n", &protect);
    let err = stderr(&out);
    assert!(
        err.contains("(`confirm: 2 access keys`)")
            && err.contains(
                "item 2 left out: protected: `break-glass` is named in input `protected_principals`"
            ),
        "{err}"
    );
    // Confirmed as shown: two keys deactivated, the third journaled as left out, and why.
    let answers = "steps:\n  deactivate-created-keys: { confirm: 2 access keys }\n";
    let out = for_each_run_with(&tmp.path().join("default"), answers, &protect);
    assert!(out.status.success(), "{}", stderr(&out));
    let case = tmp.path().join("default/case");
    let journal = crate::real_logs::journal_entries(&case);
    let acted: Vec<String> = crate::real_logs::acted_on(&journal, "deactivate-created-keys")
        .iter()
        .map(|p| p["user_name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(acted, ["backup-svc", "ops-admin"]);
    let confirmed = journal.iter().find(|e| e["kind"] == "action_confirmed").unwrap();
    assert_eq!(
        confirmed["payload"]["items"]["left_out"],
        serde_json::json!([{ "item": 2, "reason": "protected: `break-glass` is named in input `protected_principals`" }])
    );
    // Named among the items to act on, it is acted on like the others.
    let answers = "steps:\n  deactivate-created-keys: { confirm: 3 access keys, items: [0, 1, 2] }\n";
    let out = for_each_run_with(&tmp.path().join("named"), answers, &protect);
    assert!(out.status.success(), "{}", stderr(&out));
    let journal = crate::real_logs::journal_entries(&tmp.path().join("named/case"));
    assert_eq!(
        crate::real_logs::acted_on(&journal, "deactivate-created-keys").len(),
        3
    );
}

#[test]
fn a_for_each_rehearsal_lists_the_items_confirms_them_by_count_and_journals_each() {
    let tmp = tempfile::tempdir().unwrap();
    // Without a confirmation, the stop lists every item with what would happen to it.
    let out = for_each_run(tmp.path(), "steps: {}\n");
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("a typed confirmation (`confirm: 3 access keys`)")
            && err.contains("item 0: iam:UpdateAccessKey on AKIAEXAMPLECREATED01")
            && err.contains("item 2: iam:UpdateAccessKey on AKIAEXAMPLECREATED03")
            && !err.contains("AKIAEXAMPLEROUTINE01"),
        "{err}"
    );
    // The count must be the count of the items chosen.
    let answers = "steps:\n  deactivate-created-keys:\n    confirm: 3 access keys\n    exclude: [{ item: 2, reason: \"break-glass user: watched, kept for recovery\" }]\n";
    let resume = |answers: &str| {
        let p = tmp.path().join("resume.yaml");
        std::fs::write(&p, answers).unwrap();
        irp()
            .args(["resume"])
            .arg(tmp.path().join("case"))
            .args(["--headless", "--answers"])
            .arg(&p)
            .arg("--lake")
            .arg(tmp.path().join("lake"))
            .output()
            .unwrap()
    };
    let out = resume(answers);
    assert_ne!(out.status.code(), Some(0));
    assert!(stderr(&out).contains("`2 access keys`"), "{}", stderr(&out));
    let out = resume(&answers.replace("3 access keys", "2 access keys"));
    assert!(out.status.success(), "{}", stderr(&out));
    let printed = stdout(&out);
    assert!(
        printed.contains("item 0: simulated: would call")
            && printed.contains("UserName=backup-svc AccessKeyId=AKIAEXAMPLECREATED01")
            && printed.contains("UserName=ops-admin AccessKeyId=AKIAEXAMPLECREATED02")
            && !printed.contains("AKIAEXAMPLECREATED03"),
        "each key on its own user, the excluded one untouched: {printed}"
    );
    let journal = stdout(&run(&["journal", tmp.path().join("case").to_str().unwrap()]));
    assert!(journal.contains("items [0, 1] of 3 · 1 left out"), "{journal}");
    assert_eq!(journal.matches("action_started").count(), 2, "{journal}");
    assert!(
        run(&["verify", tmp.path().join("case").to_str().unwrap()])
            .status
            .success()
    );
    // The report's timeline gives each item's result with the call it was for.
    let case = tmp.path().join("case");
    let report = stdout(&run(&["report", case.to_str().unwrap(), "--format", "json"]));
    let report: serde_json::Value = serde_json::from_str(&report).unwrap();
    let users: Vec<&str> = report["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["kind"] == "action_finished")
        .map(|t| {
            t["detail"]["intent"]["params"]["user_name"]
                .as_str()
                .unwrap_or("?")
        })
        .collect();
    assert_eq!(users, ["backup-svc", "ops-admin"]);
    // The step's row in the metrics counts its items, in JSON and in the Markdown table.
    let step = report["metrics"]["stages"][0]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "deactivate-created-keys")
        .unwrap()
        .clone();
    assert_eq!(
        step["items"],
        serde_json::json!({ "total": 3, "in_place": 2, "failed": 0, "unknown": 0, "left_out": 1 })
    );
    let markdown = stdout(&run(&["report", case.to_str().unwrap()]));
    assert!(
        markdown.contains("| done (2/3 in place, 1 left out) |"),
        "{markdown}"
    );
}

/// Each session says where its times and ids came from, and `irp verify` reports entries whose
/// time goes backwards (here a resume on a clock an hour behind), while the chain stays intact.
#[test]
fn the_clock_source_is_journaled_and_a_clock_that_goes_backwards_is_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let partial = partial_answers(tmp.path());
    let root = tmp.path().join("case");
    let out = headless(&root, &partial, &[]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let out = irp()
        .env("IRP_NOW", "2026-11-28T02:00:00Z")
        .env_remove("IRP_SEED")
        .args(["resume"])
        .arg(&root)
        .args(["--headless", "--answers"])
        .arg(crate::common::repo().join("tests/fixtures/cases/drill.answers.yaml"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let journal = std::fs::read_to_string(root.join("journal.jsonl")).unwrap();
    let sessions: Vec<serde_json::Value> = journal
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|e| e["kind"] == "session_started")
        .collect();
    assert_eq!(sessions.len(), 2);
    assert_eq!(sessions[0]["payload"]["clock"], "fixed");
    assert_eq!(sessions[0]["payload"]["ids"], "seeded");
    assert_eq!(sessions[1]["payload"]["clock"], "fixed");
    assert_eq!(sessions[1]["payload"]["ids"], "random");
    let resumed_at = sessions[1]["seq"].as_u64().unwrap();
    let out = irp().arg("verify").arg(&root).output().unwrap();
    assert!(out.status.success(), "the chain is intact: {}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "warning: seq {resumed_at} is recorded at 2026-11-28T02:00:00.000Z, 3600.0 s before seq"
        )) && err.contains("the clock went backwards or was set"),
        "{err}"
    );
    let out = irp().args(["verify", "--json"]).arg(&root).output().unwrap();
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let backwards = v["clock_backwards"].as_array().unwrap();
    assert!(!backwards.is_empty(), "{v}");
    assert_eq!(backwards[0]["seq"], resumed_at);
    assert_eq!(backwards[0]["by_ms"], 3_600_000);
}

/// Every file under `dir`, with its bytes.
fn folder_bytes(dir: &Path) -> std::collections::BTreeMap<std::path::PathBuf, Vec<u8>> {
    crate::common::files_under(dir)
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect()
}

/// `irp run --case-dir` on a case whose journal cannot be read (a flipped byte in its first line:
/// a bit flip, tampering, or a newer irp's format) refuses, and changes no byte of the folder:
/// not the journal, the playbook snapshot, the inputs, the artifacts or the lock file.
#[test]
fn run_on_a_damaged_case_changes_no_byte_of_it() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("case");
    let answers = crate::common::repo().join("tests/fixtures/cases/drill.answers.yaml");
    let out = headless(&root, &answers, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let journal = root.join("journal.jsonl");
    let mut bytes = std::fs::read(&journal).unwrap();
    // `{"v":1,…`: the `v` of the first key becomes `V`.
    assert_eq!(&bytes[..3], b"{\"v");
    bytes[2] = b'V';
    std::fs::write(&journal, &bytes).unwrap();
    let before = folder_bytes(&root);
    assert!(
        before.len() > 3,
        "the case has its snapshot, inputs and artifacts"
    );
    let out = headless(&root, &answers, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("holds a case whose journal cannot be read (line 1:")
            && err.contains("irp opens no case over it and changes nothing there")
            && err.contains("open the new case in another folder"),
        "{err}"
    );
    assert_eq!(folder_bytes(&root), before, "a byte of the damaged case changed");
}
