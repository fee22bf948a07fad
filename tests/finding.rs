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

/// AWS's own mapping of a Security Hub finding (a Macie finding on an S3 bucket, from AWS's OCSF
/// validation samples, `tests/fixtures/findings/`), in a lake as Security Lake writes it: the
/// file carries `region` and `accountid` columns of its own beside the folders. The S3
/// playbook's `from_finding` reads the bucket among the finding's resources and its region; the
/// sample's anonymised account and bucket (`arn:aws:EXAMPLE`) do not fit the inputs, which stops
/// with both named, and given values take their place.
#[test]
fn the_s3_playbook_reads_a_finding_as_security_lake_maps_it() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("lake");
    let part = lake.join("sh_findings/region=us-east-2/accountid=123456789012/eventday=20230304");
    std::fs::create_dir_all(&part).unwrap();
    std::fs::copy(
        crate::common::repo().join("tests/fixtures/findings/macie_discovery.ocsf.parquet"),
        part.join("part-00000.zstd.parquet"),
    )
    .unwrap();
    let s3 = |case: &Path, extra: &[&str]| {
        let mut cmd = irp();
        cmd.args(["run", "playbooks/s3-unintended-data-access.yaml", "--case-dir"])
            .arg(case)
            .arg("--lake")
            .arg(&lake)
            .args(["-i", "finding_id=3ca5234aa7bc4f19ce1afdb1c1648998"])
            .args([
                "-i",
                "start_time=2023-03-01T00:00:00Z",
                "-i",
                "end_time=2023-03-05T00:00:00Z",
            ])
            .args([
                "--headless",
                "--answers",
                "playbooks/s3-unintended-data-access/answers/responder.yaml",
            ]);
        for i in extra {
            cmd.args(["-i", i]);
        }
        cmd.output().unwrap()
    };
    let case = tmp.path().join("case");
    let out = s3(&case, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let err = stderr(&out);
    assert!(
        err.contains("filled bucket_account, region, bucket, and the inputs do not fit")
            && err.contains("input `bucket`: `arn:aws:EXAMPLE` does not match the pattern")
            && err.contains("input `bucket_account`: `arn:aws:EXAMPLE` is not a 12-digit AWS account id"),
        "{err}"
    );
    assert!(!case.exists(), "nothing is created");
    let out = s3(&case, &["bucket=cdk-staging", "bucket_account=123456789012"]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let j = journal_entries(&case);
    assert_eq!(j[0]["payload"]["inputs"]["region"], "us-east-2");
    let note = j.iter().find(|e| e["kind"] == "note_added").unwrap()["payload"]["text"].clone();
    assert_eq!(
        note,
        "Opened from finding 3ca5234aa7bc4f19ce1afdb1c1648998: region=us-east-2 filled from it. Given values kept where the finding differs (bucket_account: given 123456789012, the finding says arn:aws:EXAMPLE; bucket: given cdk-staging, the finding says arn:aws:EXAMPLE)."
    );
}
