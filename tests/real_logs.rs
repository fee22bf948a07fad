//! The shipped playbooks on real `CloudTrail` (not the generator's): each Stratus Red Team
//! detonation in `../shared/data/samples/stratus-detonation/` imported into its own lake with
//! `irp lake import cloudtrail`, and the playbook walked on it by the scripted good responder.
//! What must hold is what a responder needs: every credential and every backdoor the logs show is
//! contained, each on its own resource.
//!
//! The samples are anonymised: regions are made up (`ap-isob-central-3r`) and addresses are
//! zero-padded (`075.050.255.67`, not an address). Before the import, each event is given the
//! region the playbook is asked about and the address the padded one stands for; nothing else of
//! the event changes.

use std::path::Path;

use serde_json::Value;

use crate::common::{irp, shared_data, stderr};

/// One detonation's file, de-anonymised as the module says, imported into `dir/lake`; returns
/// the account and the access key its events were made with.
fn import_detonation(dir: &Path, name: &str) -> Option<(String, String)> {
    let samples = shared_data("samples/stratus-detonation")?;
    let text = std::fs::read_to_string(samples.join(format!("{name}.json"))).unwrap();
    let mut events: Vec<Value> = serde_json::from_str(&text).unwrap();
    for e in &mut events {
        e["awsRegion"] = "us-east-1".into();
        if let Some(ip) = e["sourceIPAddress"]
            .as_str()
            .filter(|s| s.split('.').count() == 4)
        {
            let unpadded: Vec<String> = ip
                .split('.')
                .map(|o| o.parse::<u8>().map_or_else(|_| o.to_owned(), |n| n.to_string()))
                .collect();
            e["sourceIPAddress"] = unpadded.join(".").into();
        }
    }
    let account = events[0]["recipientAccountId"].as_str().unwrap().to_owned();
    let key = events[0]["userIdentity"]["accessKeyId"]
        .as_str()
        .unwrap()
        .to_owned();
    let file = dir.join("events.json");
    std::fs::write(&file, serde_json::to_string(&events).unwrap()).unwrap();
    crate::common::import_cloudtrail(&file, &dir.join("lake"));
    Some((account, key))
}

/// The IAM playbook walked on the lake by the scripted good responder; the journal's entries.
fn walk_iam(dir: &Path, account: &str, key: &str) -> Vec<Value> {
    let out = irp()
        .env("IRP_NOW", "2024-08-03T00:00:00Z")
        .args(["run", "playbooks/iam-credential-compromise.yaml", "--case-dir"])
        .arg(dir.join("case"))
        .arg("--lake")
        .arg(dir.join("lake"))
        .args(["-i", &format!("account={account}"), "-i", "region=us-east-1"])
        .args(["-i", &format!("access_key_id={key}"), "-i", "start_time=-7d"])
        .args(["--headless", "--answers"])
        .arg("playbooks/iam-credential-compromise/answers/responder.yaml")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    journal_entries(&dir.join("case"))
}

/// A case's journal entries, as JSON.
pub fn journal_entries(case: &Path) -> Vec<Value> {
    std::fs::read_to_string(case.join("journal.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The parameters of every item (or the one call) a step acted on, in order.
pub fn acted_on(journal: &[Value], step: &str) -> Vec<Value> {
    journal
        .iter()
        .filter(|e| e["kind"] == "action_started" && e["payload"]["step"] == step)
        .map(|e| e["payload"]["intent"]["params"].clone())
        .collect()
}

/// The S3 playbook's good responder, written into `dir`, answering that the bucket was not
/// public: no query suggests it (an absence of evidence), so that answer is the responder's own.
fn s3_answers_not_public(dir: &Path) -> std::path::PathBuf {
    let answers = std::fs::read_to_string(
        crate::common::repo().join("playbooks/s3-unintended-data-access/answers/responder.yaml"),
    )
    .unwrap()
    .replace(
        "public-path: { choose: suggested }",
        "public-path: { choose: not-public }",
    );
    assert!(
        answers.contains("not-public"),
        "the responder's answers changed shape"
    );
    let file = dir.join("answers.yaml");
    std::fs::write(&file, answers).unwrap();
    file
}

/// Whether a step was journaled as having nothing to act on.
fn nothing_to_do(journal: &[Value], step: &str) -> bool {
    journal
        .iter()
        .any(|e| e["kind"] == "action_nothing_to_do" && e["payload"]["step"] == step)
}

#[test]
fn the_iam_playbook_contains_the_admin_user_its_key_and_the_stolen_key() {
    let tmp = tempfile::tempdir().unwrap();
    let Some((account, key)) = import_detonation(tmp.path(), "aws.persistence.iam-create-admin-user") else {
        return;
    };
    let j = walk_iam(tmp.path(), &account, &key);
    assert_eq!(
        acted_on(&j, "deactivate-key"),
        [serde_json::json!({ "user_name": "christophe", "access_key_id": key })]
    );
    assert_eq!(
        acted_on(&j, "deactivate-created-key"),
        [serde_json::json!({ "user_name": "malicious-iam-user", "access_key_id": "AKIAXAFZN8JEPF6L682H" })]
    );
    assert_eq!(
        acted_on(&j, "deny-created-user"),
        [serde_json::json!({ "user_name": "malicious-iam-user" })]
    );
    assert!(
        nothing_to_do(&j, "delete-created-login"),
        "no console password was set"
    );
}

#[test]
fn the_iam_playbook_deactivates_a_key_added_to_a_user_that_already_existed() {
    let tmp = tempfile::tempdir().unwrap();
    let Some((account, key)) = import_detonation(tmp.path(), "aws.persistence.iam-backdoor-user") else {
        return;
    };
    let j = walk_iam(tmp.path(), &account, &key);
    assert_eq!(
        acted_on(&j, "deactivate-created-key"),
        [serde_json::json!({
            "user_name": "stratus-red-team-backdoor-u-user",
            "access_key_id": "AKIAL80DWDVKKM0UXEER"
        })]
    );
    assert!(nothing_to_do(&j, "deny-created-user"), "no user was created");
}

#[test]
fn the_iam_playbook_deletes_a_console_password_set_on_an_existing_user() {
    let tmp = tempfile::tempdir().unwrap();
    let Some((account, key)) = import_detonation(tmp.path(), "aws.persistence.iam-create-user-login-profile")
    else {
        return;
    };
    let j = walk_iam(tmp.path(), &account, &key);
    assert_eq!(
        acted_on(&j, "delete-created-login"),
        [serde_json::json!({ "user_name": "stratus-red-team-login-profile-user" })]
    );
    assert!(nothing_to_do(&j, "deactivate-created-key"));
}

#[test]
fn the_iam_playbook_removes_the_outside_account_from_a_backdoored_trust_policy() {
    let tmp = tempfile::tempdir().unwrap();
    let Some((account, key)) = import_detonation(tmp.path(), "aws.persistence.iam-backdoor-role") else {
        return;
    };
    let j = walk_iam(tmp.path(), &account, &key);
    // No role was assumed, and the trust policy is still reached and put right.
    assert!(acted_on(&j, "revoke-role-sessions").is_empty());
    assert_eq!(
        acted_on(&j, "remove-trust"),
        [serde_json::json!({
            "role_name": "stratus-red-team-backdoor-r-role",
            "principal": "arn:aws:iam::193672423079:root"
        })]
    );
}

/// Stratus's organizations-leave detonation: the session the stolen key opened tries to take the
/// account out of its organization and is denied. Nothing was turned off, so logging is left as it
/// is, and the failed attempt is captured and shown at that decision.
#[test]
fn the_iam_playbook_reports_a_failed_attempt_to_leave_the_organization() {
    let tmp = tempfile::tempdir().unwrap();
    let Some((account, key)) = import_detonation(tmp.path(), "aws.defense-evasion.organizations-leave")
    else {
        return;
    };
    let j = walk_iam(tmp.path(), &account, &key);
    let tampering = j
        .iter()
        .find(|e| e["payload"]["step"] == "tampering" && e["kind"] == "query_succeeded")
        .unwrap();
    assert_eq!(
        tampering["payload"]["captures"]["tampering_attempts"],
        serde_json::json!(["LeaveOrganization"])
    );
    assert_eq!(
        tampering["payload"]["captures"]["tampering_ops"],
        serde_json::json!([])
    );
    let decided = j
        .iter()
        .find(|e| e["kind"] == "decided" && e["payload"]["step"] == "logging-contain")
        .unwrap();
    assert_eq!(decided["payload"]["option"], "logging-intact");
}

/// Stratus's secretsmanager-retrieve-secrets detonation: every one of the 20 secrets the stolen
/// key read is captured for rotation, and none is set apart as a tool's read (the detonation's
/// user agent is not an infrastructure-as-code tool's).
#[test]
fn the_iam_playbook_lists_every_secret_the_stolen_key_read() {
    let tmp = tempfile::tempdir().unwrap();
    let Some((account, key)) = import_detonation(
        tmp.path(),
        "aws.credential-access.secretsmanager-retrieve-secrets",
    ) else {
        return;
    };
    let j = walk_iam(tmp.path(), &account, &key);
    let harvesting = &j
        .iter()
        .find(|e| e["payload"]["step"] == "harvesting" && e["kind"] == "query_succeeded")
        .unwrap()["payload"]["captures"];
    assert_eq!(harvesting["harvest_calls"], 20);
    let secrets = harvesting["secrets_read"].as_array().unwrap();
    assert_eq!(secrets.len(), 20, "{secrets:?}");
    assert!(secrets.iter().all(|s| {
        s.as_str()
            .unwrap()
            .contains(":secret:stratus-red-team-retrieve-secret-")
    }));
    assert_eq!(harvesting["tool_reads"], serde_json::json!([]));
}

/// The S3 playbook on OTRF's `cloud_breach_s3` (an SSRF leaks an instance profile's session,
/// which lists and reads the bucket): the role's sessions are revoked and the instance made to
/// require `IMDSv2`, each named from the logs.
#[test]
fn the_s3_playbook_contains_the_instance_profile_session_that_read_the_bucket() {
    let Some(otrf) = shared_data("samples/otrf") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    crate::common::import_cloudtrail(&otrf, &tmp.path().join("lake"));
    let answers_file = s3_answers_not_public(tmp.path());
    let out = irp()
        .env("IRP_NOW", "2020-09-15T00:00:00Z")
        .args(["run", "playbooks/s3-unintended-data-access.yaml", "--case-dir"])
        .arg(tmp.path().join("case"))
        .arg("--lake")
        .arg(tmp.path().join("lake"))
        .args([
            "-i",
            "bucket=mordors3stack-s3bucket-llp2yingx64a",
            "-i",
            "bucket_account=123456789123",
        ])
        .args(["-i", "region=us-east-1", "-i", "start_time=2020-09-13T00:00:00Z"])
        .args(["-i", "end_time=2020-09-15T00:00:00Z", "--headless", "--answers"])
        .arg(&answers_file)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let j = journal_entries(&tmp.path().join("case"));
    assert_eq!(
        acted_on(&j, "revoke-role-sessions"),
        [serde_json::json!({ "role_name": "MordorNginxStack-BankingWAFRole-9S3E0UAE1MM0" })]
    );
    assert_eq!(
        acted_on(&j, "require-imdsv2"),
        [serde_json::json!({ "instance_id": "i-0317f6c6b66ae9c40" })]
    );
    // No user key was used: the user path is not taken.
    assert!(acted_on(&j, "deactivate-key").is_empty());
}

/// Panther's labelled `CopyObject` events: `CloudTrail` logs a copy under its destination
/// bucket, with the bucket read in `x-amz-copy-source`. The S3 playbook asked about the victim
/// bucket finds the copy out of it (to an outside bucket) as a read by the role session; the
/// copy within one bucket is not a read of the outside one. The fixtures write 14-digit account
/// ids and a placeholder key; before the import they are given a 12-digit account and a key of
/// the right form, and nothing else changes.
#[test]
fn the_s3_playbook_counts_a_copy_out_of_the_bucket_as_a_read_of_it() {
    let Some(panther) = shared_data("samples/panther-labeled") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(panther.join("selected_cloudtrail_rule_tests.jsonl")).unwrap();
    let copies: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["log"].clone())
        .filter(|e| e["eventName"] == "CopyObject")
        .map(|e| {
            let t = e
                .to_string()
                .replace("12948575929274", "129485759292")
                .replace("AKIA-MOCKACCESSKEYID-1", "AKIAMOCKACCESSKEYID1");
            serde_json::from_str(&t).unwrap()
        })
        .collect();
    assert_eq!(copies.len(), 2, "the fixture's CopyObject events");
    let file = tmp.path().join("copies.json");
    std::fs::write(&file, serde_json::json!({ "Records": copies }).to_string()).unwrap();
    let lake = tmp.path().join("lake");
    crate::common::import_cloudtrail(&file, &lake);
    let answers_file = s3_answers_not_public(tmp.path());
    let case = tmp.path().join("case");
    let out = irp()
        .env("IRP_NOW", "2024-01-16T00:00:00Z")
        .args(["run", "playbooks/s3-unintended-data-access.yaml", "--case-dir"])
        .arg(&case)
        .arg("--lake")
        .arg(&lake)
        .args([
            "-i",
            "bucket=ransomware-test-victim-1764604156",
            "-i",
            "bucket_account=129485759292",
        ])
        .args([
            "-i",
            "region=us-east-1",
            "-i",
            "start_time=2024-01-14T00:00:00Z",
            "--headless",
        ])
        .arg("--answers")
        .arg(&answers_file)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let j = journal_entries(&case);
    let coverage = j
        .iter()
        .find(|e| e["payload"]["step"] == "data-coverage" && e["kind"] == "query_succeeded")
        .expect("the copy is an event of the bucket");
    assert_eq!(coverage["payload"]["rows"], 1);
    let reads = j
        .iter()
        .find(|e| e["payload"]["step"] == "reads-by-principal" && e["kind"] == "query_succeeded")
        .unwrap();
    let principals = &reads["payload"]["captures"]["unknown_principals"];
    assert_eq!(principals.as_array().unwrap().len(), 1, "{principals}");
    assert!(
        principals[0]
            .as_str()
            .unwrap()
            .starts_with("arn:aws:sts::129485759292:assumed-role/sample-role-keen-cohen/"),
        "{principals}"
    );
    assert_eq!(
        reads["payload"]["captures"]["suspect_keys"],
        serde_json::json!(["AKIAMOCKACCESSKEYID1"])
    );
    // The role whose session made the copy has its sessions revoked.
    assert_eq!(
        acted_on(&j, "revoke-role-sessions"),
        [serde_json::json!({ "role_name": "sample-role-keen-cohen" })]
    );
}

/// The EC2 playbook on Stratus Red Team's steal-instance-credentials detonation: the instance
/// session used from the operator's machine is found and contained (`IMDSv2` on the instance, the
/// role's sessions revoked). Again with the session's address made private, as a call through a
/// VPC endpoint or an anonymised log shows it: a session used from an address its role's
/// instances do not use is stolen whether that address is public or not.
#[test]
fn the_ec2_playbook_contains_a_stolen_instance_session_from_a_public_or_a_private_address() {
    let tmp = tempfile::tempdir().unwrap();
    let Some((account, _)) =
        import_detonation(tmp.path(), "aws.credential-access.ec2-steal-instance-credentials")
    else {
        return;
    };
    for private in [false, true] {
        let lake = if private {
            // The detonation's events with every instance-session call's address made private.
            let text = std::fs::read_to_string(tmp.path().join("events.json")).unwrap();
            let mut events: Vec<Value> = serde_json::from_str(&text).unwrap();
            for e in &mut events {
                if e["userIdentity"]["type"] == "AssumedRole" {
                    e["sourceIPAddress"] = "10.0.3.17".into();
                }
            }
            let file = tmp.path().join("private.json");
            std::fs::write(&file, serde_json::to_string(&events).unwrap()).unwrap();
            let lake = tmp.path().join("private-lake");
            crate::common::import_cloudtrail(&file, &lake);
            lake
        } else {
            tmp.path().join("lake")
        };
        let case = tmp.path().join(format!("case-{private}"));
        let out = irp()
            .env("IRP_NOW", "2024-08-03T00:00:00Z")
            .args([
                "run",
                "playbooks/ec2-instance-credential-exfiltration.yaml",
                "--case-dir",
            ])
            .arg(&case)
            .arg("--lake")
            .arg(&lake)
            .args([
                "-i",
                &format!("account={account}"),
                "-i",
                "region=us-east-1",
                "-i",
                "start_time=-7d",
            ])
            .args(["--headless", "--answers"])
            .arg("playbooks/ec2-instance-credential-exfiltration/answers/responder.yaml")
            .output()
            .unwrap();
        assert!(out.status.success(), "private={private}: {}", stderr(&out));
        let j = journal_entries(&case);
        assert_eq!(
            acted_on(&j, "require-imdsv2"),
            [serde_json::json!({ "instance_id": "i-786a3A8B5C0d92eF4" })],
            "private={private}"
        );
        assert_eq!(
            acted_on(&j, "revoke-sessions"),
            [serde_json::json!({ "role_name": "stratus-red-team-ec2-steal-credentials-role" })],
            "private={private}"
        );
    }
}

/// The S3 playbook on Panther's labelled `PutBucketPolicy` events (a grant to `"*"`, a grant to
/// a service, a denied attempt): the policy changes that can expose the bucket are counted, no
/// outside account is read out of `"*"` or a service principal, and with no credential of the
/// account's to stop the case goes to Block Public Access. The fixtures share one event id and
/// name `us-west-2`; before the import each is given its own id and the region the playbook is
/// asked about, and nothing else changes.
#[test]
fn the_s3_playbook_blocks_public_access_after_a_public_bucket_policy() {
    let Some(panther) = shared_data("samples/panther-labeled") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(panther.join("selected_cloudtrail_rule_tests.jsonl")).unwrap();
    let policies: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["log"].clone())
        .filter(|e| e["eventName"] == "PutBucketPolicy" && e["recipientAccountId"] == "123456789012")
        .enumerate()
        .map(|(i, mut e)| {
            e["awsRegion"] = "us-east-1".into();
            e["eventID"] = format!("panther-{i}").into();
            e
        })
        .collect();
    assert_eq!(policies.len(), 4, "the fixture's PutBucketPolicy events");
    let file = tmp.path().join("policies.json");
    std::fs::write(&file, serde_json::json!({ "Records": policies }).to_string()).unwrap();
    let lake = tmp.path().join("lake");
    crate::common::import_cloudtrail(&file, &lake);
    let case = tmp.path().join("case");
    let out = irp()
        .env("IRP_NOW", "2019-01-02T00:00:00Z")
        .args(["run", "playbooks/s3-unintended-data-access.yaml", "--case-dir"])
        .arg(&case)
        .arg("--lake")
        .arg(&lake)
        .args(["-i", "bucket=example-bucket", "-i", "bucket_account=123456789012"])
        .args([
            "-i",
            "region=us-east-1",
            "-i",
            "start_time=2018-12-30T00:00:00Z",
            "--headless",
        ])
        .args([
            "--answers",
            "playbooks/s3-unintended-data-access/answers/responder.yaml",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let j = journal_entries(&case);
    let changes = j
        .iter()
        .find(|e| e["payload"]["step"] == "access-control-changes" && e["kind"] == "query_succeeded")
        .unwrap();
    // The public grant and the service's grant succeeded; the denied attempt is not counted.
    assert_eq!(changes["payload"]["captures"]["exposure_changes"], 2);
    assert_eq!(
        changes["payload"]["captures"]["granted_accounts"],
        serde_json::json!([])
    );
    assert_eq!(
        acted_on(&j, "block-public-access"),
        [serde_json::json!({ "bucket": "example-bucket" })]
    );
    assert!(acted_on(&j, "remove-policy-grants").is_empty());
}
