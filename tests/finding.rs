//! Opening a case from a `GuardDuty` / Security Hub finding (`-i finding_id=…`): the playbook's
//! `from_finding` query reads `sh_findings` and fills the inputs not given, before the case
//! opens, and the journal says so; a finding that is not there stops before anything is created.

use std::path::Path;

use serde_json::Value;

use crate::common::{irp, run, stderr, stdout};
use crate::real_logs::journal_entries;

const IAM: &str = "playbooks/iam-credential-compromise.yaml";
const IAM_RESPONDER: &str = "playbooks/iam-credential-compromise/answers/responder.yaml";

/// A small generated `credential-compromise` lake; its truth.
fn lake(dir: &Path) -> Value {
    let out = run(&[
        "lake",
        "generate",
        dir.to_str().unwrap(),
        "--scenario",
        "credential-compromise",
        "--events",
        "20000",
        "--days",
        "3",
        "--end",
        "2026-12-06",
        "--seed",
        "4",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_str(&std::fs::read_to_string(dir.join("truth.json")).unwrap()).unwrap()
}

fn run_iam(lake: &Path, case: &Path, inputs: &[&str]) -> std::process::Output {
    let mut cmd = irp();
    cmd.env("IRP_NOW", "2026-12-07T00:00:00Z")
        .args(["run", IAM, "--case-dir"])
        .arg(case)
        .arg("--lake")
        .arg(lake)
        .args(["-i", "start_time=-7d", "--headless", "--answers", IAM_RESPONDER]);
    for i in inputs {
        cmd.args(["-i", i]);
    }
    cmd.output().unwrap()
}

#[test]
fn a_case_opens_from_the_finding_id_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let truth = lake(&tmp.path().join("lake"));
    let finding = truth["incident_details"]["finding_uid"].as_str().unwrap();
    let key = truth["incident_details"]["access_key_id"].as_str().unwrap();
    let case = tmp.path().join("case");
    let out = run_iam(
        &tmp.path().join("lake"),
        &case,
        &[&format!("finding_id={finding}")],
    );
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let j = journal_entries(&case);
    let inputs = &j[0]["payload"]["inputs"];
    assert_eq!(inputs["account"], "111122223333", "{inputs}");
    assert_eq!(inputs["region"], "us-east-1");
    assert_eq!(inputs["access_key_id"], key);
    assert_eq!(inputs["finding_id"], finding);
    let note = j
        .iter()
        .find(|e| e["kind"] == "note_added")
        .map(|e| e["payload"]["text"].as_str().unwrap().to_owned())
        .unwrap();
    assert_eq!(
        note,
        format!(
            "Opened from finding {finding}: account=111122223333, region=us-east-1, access_key_id={key} filled from it."
        )
    );
    // The case then follows the key as if it had been typed: the key is contained.
    assert!(
        j.iter().any(|e| e["kind"] == "action_started"
            && e["payload"]["step"] == "deactivate-key"
            && e["payload"]["intent"]["params"]["access_key_id"] == key),
        "the stolen key is deactivated"
    );

    // A Security Hub finding ARN ending in the id is the same finding; a given input wins over
    // the finding's, and the note says where they differ.
    let case = tmp.path().join("case-arn");
    let arn = format!("arn:aws:guardduty:us-east-1:111122223333:detector/x/finding/{finding}");
    let out = run_iam(
        &tmp.path().join("lake"),
        &case,
        &[&format!("finding_id={arn}"), "access_key_id=AKIAIOSFODNN7EXAMPLE"],
    );
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let j = journal_entries(&case);
    assert_eq!(j[0]["payload"]["inputs"]["access_key_id"], "AKIAIOSFODNN7EXAMPLE");
    let note = j.iter().find(|e| e["kind"] == "note_added").unwrap()["payload"]["text"].clone();
    assert!(
        note.as_str().unwrap().contains(&format!(
            "access_key_id: given AKIAIOSFODNN7EXAMPLE, the finding says {key}"
        )),
        "{note}"
    );
}

#[test]
fn a_finding_that_is_not_there_stops_before_the_case_opens() {
    let tmp = tempfile::tempdir().unwrap();
    lake(&tmp.path().join("lake"));
    let case = tmp.path().join("case");
    // Hostile text is a literal: it finds nothing and changes no query.
    let out = run_iam(&tmp.path().join("lake"), &case, &["finding_id=x' OR '1'='1"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("there is no finding `x' OR '1'='1` in sh_findings"),
        "{}",
        stderr(&out)
    );
    assert!(!case.join("journal.jsonl").exists(), "no case is opened");
    // Without a backend there is nothing to read the finding from.
    let out = irp()
        .args(["run", IAM, "--case-dir"])
        .arg(&case)
        .args(["-i", "finding_id=abc", "--headless", "--answers", IAM_RESPONDER])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("no query backend was given to read it from"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_from_finding_query_that_cannot_fill_inputs_is_refused_by_validate() {
    let tmp = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(crate::common::repo().join(IAM)).unwrap();
    let pb = tmp.path().join("pb.yaml");
    // A column that is no input.
    std::fs::write(&pb, text.replace("AS access_key_id\n", "AS the_key\n")).unwrap();
    let err = stderr(&run(&["validate", pb.to_str().unwrap()]));
    assert!(
        err.contains("`from_finding.sql` returns column `the_key`, which is not an input it can fill"),
        "{err}"
    );
    // No `finding_id` input to bind it to.
    let start = text.find("  finding_id:\n").unwrap();
    let end = start + text[start..].find("  account:\n").unwrap();
    let without = format!("{}{}", &text[..start], &text[end..]);
    std::fs::write(&pb, &without).unwrap();
    let err = stderr(&run(&["validate", pb.to_str().unwrap()]));
    assert!(
        err.contains("`from_finding` needs an input `finding_id`"),
        "{err}"
    );
}
