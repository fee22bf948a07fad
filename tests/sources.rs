//! Sources that are not collected: a query step on a table the backend does not have, or a
//! coverage check that finds no events, is journaled as `source_not_collected`; its captures take
//! the values of an empty result, later steps say why they have nothing, and the shipped
//! playbooks run to a conclusion on a lake of management events only.

use std::path::Path;

use irp::engine::{self, Command, EngineError, Event, NotCollected, State};
use irp::playbook::Playbook;
use serde_json::{Value, json};

use crate::common::{irp, shared_data, stderr};
use crate::engine::env;
use crate::real_logs::journal_entries;

const PLAYBOOK: &str = r#"
irp: 1
id: sources
title: Sources drill
version: '1'
framework: nist-800-61r2
inputs:
  bucket: { type: string, required: true, example: drill-bucket }
stages:
  - id: detect
    title: Detect
    phase: detection-and-analysis
    steps:
      - id: data-coverage
        title: S3 data events?
        query:
          table: s3_data
          coverage: true
          sql: SELECT date_trunc('day', time_dt) AS day FROM {{ table }} GROUP BY 1
          capture:
            data_days: { expr: rows | length, example: 3 }
      - id: coverage-ok
        title: Covered?
        decision:
          prompt: "Not collected: {{ case.not_collected | join(', ') }}"
          options:
            - { id: covered, label: Covered, next: reads, suggest: 'not case.not_collected' }
            - { id: gap, label: Gap, next: reads, suggest: '''s3_data'' in case.not_collected' }
      - id: reads
        title: Reads
        query:
          table: s3_data
          sql: SELECT src_endpoint.ip AS ip FROM {{ table }}
          capture:
            ips: { expr: rows | map(attribute='ip') | list, example: [203.0.113.9] }
            readers: { fields: [ip], example: [{ ip: 203.0.113.9 }] }
      - id: both
        title: Both sources
        query:
          table: cloud_trail_mgmt
          tables: [s3_data]
          sql: |
            SELECT src_endpoint.ip AS ip FROM {{ tables.cloud_trail_mgmt }}
            UNION ALL
            SELECT src_endpoint.ip AS ip FROM {{ tables.s3_data }}
          capture:
            all_ips: { expr: rows | map(attribute='ip') | list, example: [203.0.113.9] }
"#;

fn playbook() -> Playbook {
    let loaded = irp::playbook::load_str(PLAYBOOK);
    assert!(
        !loaded
            .diagnostics
            .iter()
            .any(irp::playbook::diag::Diagnostic::is_error),
        "{:?}",
        loaded.diagnostics
    );
    loaded.playbook.expect("the drill is valid")
}

fn apply(pb: &Playbook, st: &mut State, cmd: &Command) -> Result<Event, EngineError> {
    let e = engine::decide(pb, st, cmd, &env())?;
    st.apply(&e);
    Ok(e)
}

fn started(pb: &Playbook) -> State {
    let mut st = State::default();
    apply(pb, &mut st, &crate::engine::opened(pb)).unwrap();
    apply(pb, &mut st, &Command::Start).unwrap();
    st
}

fn query(pb: &Playbook, st: &mut State, step: &str, rows: Vec<Value>) -> Event {
    apply(
        pb,
        st,
        &Command::SubmitQuery {
            step: step.into(),
            sql: "SELECT 1".into(),
            backend: "test".into(),
            not_collected: Vec::new(),
        },
    )
    .unwrap();
    let row_count = rows.len() as u64;
    apply(
        pb,
        st,
        &Command::QuerySucceeded {
            step: step.into(),
            rows,
            row_count,
            artifact: None,
            execution: None,
        },
    )
    .unwrap()
}

fn decide_suggested(pb: &Playbook, st: &mut State, step: &str) -> String {
    let idx = pb.step_index(step).unwrap();
    let suggested = engine::suggestion(pb, st, idx, &env())
        .unwrap()
        .expect("a suggestion");
    apply(
        pb,
        st,
        &Command::Decide {
            step: step.into(),
            option: suggested.clone(),
            rationale: None,
        },
    )
    .unwrap();
    suggested
}

#[test]
fn a_missing_table_is_an_outcome_with_empty_captures_and_later_steps_say_why() {
    let pb = playbook();
    let mut st = started(&pb);
    // The backend has no s3_data table: the driver says so without running anything.
    let e = apply(
        &pb,
        &mut st,
        &Command::SourceNotCollected {
            step: "data-coverage".into(),
            tables: vec!["s3_data".into()],
            reason: "no table".into(),
            execution: None,
        },
    )
    .unwrap();
    let Event::SourceNotCollected(n) = &e else {
        panic!("{e:?}")
    };
    assert_eq!(n.found, NotCollected::NoTable);
    assert_eq!(n.captures["data_days"], json!(0));
    assert_eq!(n.next.as_deref(), Some("coverage-ok"));
    assert_eq!(e.kind(), "source_not_collected");
    // The decision sees it.
    assert_eq!(decide_suggested(&pb, &mut st, "coverage-ok"), "gap");
    // A later step on the source: its list and record captures are empty, not missing.
    let e = apply(
        &pb,
        &mut st,
        &Command::SourceNotCollected {
            step: "reads".into(),
            tables: vec!["s3_data".into()],
            reason: "no table".into(),
            execution: None,
        },
    )
    .unwrap();
    let Event::SourceNotCollected(n) = &e else {
        panic!("{e:?}")
    };
    assert_eq!(n.captures["ips"], json!([]));
    assert_eq!(n.captures["readers"], json!([]));
    assert_eq!(st.captures["readers"], json!([]));
    assert_eq!(st.current_step(), Some("both"), "the case moved on by itself");
}

#[test]
fn a_table_the_step_does_not_read_is_refused() {
    let pb = playbook();
    let st = started(&pb);
    let before = st.clone();
    let err = engine::decide(
        &pb,
        &st,
        &Command::SourceNotCollected {
            step: "data-coverage".into(),
            tables: vec!["vpc_flow".into()],
            reason: "no table".into(),
            execution: None,
        },
        &env(),
    )
    .unwrap_err();
    assert!(matches!(err, EngineError::NotTheStepsTables { .. }), "{err}");
    assert_eq!(st, before);
}

#[test]
fn a_coverage_check_with_no_rows_marks_the_source_and_an_empty_later_step_names_it() {
    let pb = playbook();
    let mut st = started(&pb);
    let e = query(&pb, &mut st, "data-coverage", vec![]);
    let Event::SourceNotCollected(n) = &e else {
        panic!("{e:?}")
    };
    assert_eq!(n.found, NotCollected::NoEvents);
    assert_eq!(n.tables, ["s3_data"]);
    assert!(
        n.reason.contains("coverage check found no s3_data events"),
        "{}",
        n.reason
    );
    assert_eq!(decide_suggested(&pb, &mut st, "coverage-ok"), "gap");
    // Empty later: journaled as not collected, naming the coverage step.
    let e = query(&pb, &mut st, "reads", vec![]);
    let Event::SourceNotCollected(n) = &e else {
        panic!("{e:?}")
    };
    assert!(n.reason.contains("step `data-coverage`"), "{}", n.reason);
    // A step that finds rows records them as usual, even on a source found empty before.
    let e = query(&pb, &mut st, "both", vec![json!({"ip": "203.0.113.9"})]);
    assert!(matches!(e, Event::QuerySucceeded(_)), "{e:?}");
}

#[test]
fn a_coverage_check_that_finds_events_suggests_covered() {
    let pb = playbook();
    let mut st = started(&pb);
    let e = query(&pb, &mut st, "data-coverage", vec![json!({"day": "2026-11-27"})]);
    assert!(matches!(e, Event::QuerySucceeded(_)), "{e:?}");
    assert_eq!(decide_suggested(&pb, &mut st, "coverage-ok"), "covered");
    // Rows of a non-coverage step, with nothing marked: an ordinary empty result.
    let e = query(&pb, &mut st, "reads", vec![]);
    assert!(matches!(e, Event::QuerySucceeded(_)), "{e:?}");
}

/// A lake of `CloudTrail` management events only (a small real log, imported).
fn management_only_lake(dir: &Path) -> std::path::PathBuf {
    crate::common::for_each_lake(dir)
}

/// `irp run` of the drill playbook headless into `dir/case` (its answers take the coverage
/// decision's suggestion), with `backend`'s flags; `cmd` is `irp` with its environment.
fn run_drill(
    mut cmd: std::process::Command,
    dir: &Path,
    case: &str,
    backend: &[&str],
) -> std::process::Output {
    let playbook = dir.join("sources.yaml");
    std::fs::write(&playbook, PLAYBOOK).unwrap();
    let answers = dir.join("answers.yaml");
    std::fs::write(&answers, "steps:\n  coverage-ok: { choose: suggested }\n").unwrap();
    cmd.arg("run")
        .arg(&playbook)
        .arg("--case-dir")
        .arg(dir.join(case))
        .args(["-i", "bucket=b", "--headless", "--answers"])
        .arg(&answers)
        .args(backend)
        .output()
        .unwrap()
}

fn run_headless(dir: &Path, lake: &Path, case: &str) -> (std::process::Output, Vec<Value>) {
    let mut cmd = irp();
    cmd.env("IRP_NOW", "2026-11-28T12:00:00Z");
    let out = run_drill(cmd, dir, case, &["--lake", lake.to_str().unwrap()]);
    (out, journal_entries(&dir.join(case)))
}

fn kinds_of(journal: &[Value], step: &str) -> Vec<String> {
    journal
        .iter()
        .filter(|e| e["payload"]["step"] == step)
        .map(|e| e["kind"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn on_the_embedded_engine_a_lake_without_the_source_runs_to_the_end() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = management_only_lake(tmp.path());
    assert!(
        !lake.join("s3_data").exists(),
        "the fixture holds management events only"
    );
    let (out, j) = run_headless(tmp.path(), &lake, "case");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(kinds_of(&j, "data-coverage"), ["source_not_collected"]);
    let n = j.iter().find(|e| e["kind"] == "source_not_collected").unwrap();
    assert_eq!(n["payload"]["found"], "no_table");
    assert!(
        n["payload"]["reason"]
            .as_str()
            .unwrap()
            .contains("amazon_security_lake_table_us_east_1_s3_data_2_0"),
        "{n}"
    );
    assert_eq!(kinds_of(&j, "reads"), ["source_not_collected"]);
    // The step reading both sources ran, with the missing one read as empty.
    let submitted = j
        .iter()
        .find(|e| e["kind"] == "query_submitted" && e["payload"]["step"] == "both")
        .unwrap();
    assert_eq!(submitted["payload"]["not_collected"], json!(["s3_data"]));
    assert!(
        submitted["payload"]["sql"]
            .as_str()
            .unwrap()
            .contains("(SELECT * FROM \"amazon_security_lake_glue_db_us_east_1\".\"amazon_security_lake_table_us_east_1_cloud_trail_mgmt_2_0\" WHERE false)"),
        "{submitted}"
    );
    let both = j
        .iter()
        .find(|e| e["kind"] == "query_succeeded" && e["payload"]["step"] == "both")
        .unwrap();
    assert!(both["payload"]["rows"].as_u64().unwrap() > 0, "{both}");
    // The report and the journal listing say it too.
    let report = irp()
        .args(["report", "--format", "json"])
        .arg(tmp.path().join("case"))
        .output()
        .unwrap();
    assert!(report.status.success(), "{}", stderr(&report));
    let text = String::from_utf8_lossy(&report.stdout);
    assert!(text.contains("source_not_collected"), "{text}");
}

/// The three shipped playbooks on real management events only (Stratus Red Team's
/// steal-instance-credentials detonation, and OTRF's capture with its S3 data events left out):
/// each runs headless to its end, with the missing S3 data events journaled.
#[test]
fn every_shipped_playbook_concludes_on_management_events_only() {
    let Some(otrf) = shared_data("samples/otrf") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(otrf.join("ec2_proxy_s3_exfiltration_2020-09-14011940.json")).unwrap();
    let mgmt: Vec<&str> = text
        .lines()
        .filter(|l| {
            serde_json::from_str::<Value>(l)
                .is_ok_and(|e| e["managementEvent"] != false && e["eventCategory"] != "Data")
        })
        .collect();
    assert!(
        mgmt.len() > 10 && mgmt.len() < text.lines().count(),
        "{}",
        mgmt.len()
    );
    let file = tmp.path().join("mgmt.json");
    std::fs::write(&file, mgmt.join("\n")).unwrap();
    let lake = tmp.path().join("lake");
    crate::common::import_cloudtrail(&file, &lake);
    assert!(!lake.join("s3_data").exists());
    let common = [
        "-i",
        "region=us-east-1",
        "-i",
        "start_time=2020-09-13T00:00:00Z",
        "-i",
        "end_time=2020-09-15T00:00:00Z",
    ];
    let runs: [(&str, Vec<&str>); 3] = [
        (
            "s3-unintended-data-access",
            vec![
                "-i",
                "bucket=mordors3stack-s3bucket-llp2yingx64a",
                "-i",
                "bucket_account=123456789123",
            ],
        ),
        (
            "ec2-instance-credential-exfiltration",
            vec!["-i", "account=123456789123"],
        ),
        (
            "iam-credential-compromise",
            vec![
                "-i",
                "account=123456789123",
                "-i",
                "access_key_id=ASIA5FLZVX4OPVKKVBMX",
            ],
        ),
    ];
    for (playbook, inputs) in runs {
        let case = tmp.path().join(playbook);
        let out = irp()
            .env("IRP_NOW", "2020-09-15T00:00:00Z")
            .args(["run", &format!("playbooks/{playbook}.yaml"), "--case-dir"])
            .arg(&case)
            .arg("--lake")
            .arg(&lake)
            .args(common)
            .args(&inputs)
            .args(["--headless", "--answers"])
            .arg(format!("playbooks/{playbook}/answers/responder.yaml"))
            .output()
            .unwrap();
        assert!(out.status.success(), "{playbook}: {}", stderr(&out));
        let j = journal_entries(&case);
        let last = j.last().unwrap();
        assert_eq!(last["kind"], "case_closed", "{playbook} did not conclude: {last}");
        if playbook != "iam-credential-compromise" {
            assert!(
                j.iter().any(|e| e["kind"] == "source_not_collected"
                    && e["payload"]["tables"] == json!(["s3_data"])
                    || e["kind"] == "query_submitted" && e["payload"]["not_collected"] == json!(["s3_data"])),
                "{playbook}: the missing S3 data events are not journaled"
            );
        }
    }
}

/// A Glue call to moto, in `region` (moto reads the region from the credential scope and does
/// not check the signature).
fn glue(endpoint: &str, region: &str, target: &str, body: &Value) {
    let auth = format!(
        "AWS4-HMAC-SHA256 Credential=testing/20260101/{region}/glue/aws4_request, SignedHeaders=host, Signature=0"
    );
    let (status, text) = crate::athena::http(
        endpoint,
        "/",
        &[
            ("X-Amz-Target", &format!("AWSGlue.{target}")),
            ("Content-Type", "application/x-amz-json-1.1"),
            ("Authorization", &auth),
        ],
        &body.to_string(),
    );
    assert!(
        status == 200 || text.contains("AlreadyExists"),
        "{target}: {status} {text}"
    );
}

/// On Athena (moto, whose launcher fails a query on a table its Glue catalog lacks as Athena
/// does): a step whose primary table does not exist is journaled as not collected; a step
/// whose other table does not exist runs again with it read as empty.
#[test]
fn on_athena_a_table_not_found_is_a_source_not_collected() {
    let Some((endpoint, _lock)) = crate::athena::moto() else {
        return;
    };
    // A region no other test uses: the Glue catalog decides what its queries find.
    let region = "ap-south-2";
    let db = "amazon_security_lake_glue_db_ap_south_2";
    glue(
        &endpoint,
        region,
        "CreateDatabase",
        &json!({ "DatabaseInput": { "Name": db } }),
    );
    glue(
        &endpoint,
        region,
        "CreateTable",
        &json!({ "DatabaseName": db, "TableInput": { "Name": "amazon_security_lake_table_ap_south_2_cloud_trail_mgmt_2_0" } }),
    );
    let dir = tempfile::tempdir().unwrap();
    let athena = [
        "--backend",
        "athena",
        "--endpoint-url",
        &endpoint,
        "--region",
        region,
        "--output-location",
        "s3://irp-results/",
    ];
    let case = dir.path().join("case");
    let out = run_drill(crate::athena::aws_irp(), dir.path(), "case", &athena);
    assert!(out.status.success(), "{}", stderr(&out));
    let j = journal_entries(&case);
    assert_eq!(
        kinds_of(&j, "data-coverage"),
        ["query_submitted", "source_not_collected"]
    );
    let n = j.iter().find(|e| e["kind"] == "source_not_collected").unwrap();
    assert_eq!(n["payload"]["found"], "no_table");
    assert_eq!(n["payload"]["execution"]["state"], "FAILED");
    assert!(
        n["payload"]["reason"]
            .as_str()
            .unwrap()
            .contains("says there is no table amazon_security_lake_table_ap_south_2_s3_data_2_0"),
        "{n}"
    );
    let decided = j.iter().find(|e| e["kind"] == "decided").unwrap();
    assert_eq!(decided["payload"]["option"], "gap");
    // `both`: Athena said s3_data does not exist; the query ran again without it.
    assert_eq!(
        kinds_of(&j, "both"),
        [
            "query_submitted",
            "query_cancelled",
            "query_submitted",
            "query_succeeded"
        ]
    );
    let again = j
        .iter()
        .filter(|e| e["kind"] == "query_submitted" && e["payload"]["step"] == "both")
        .nth(1)
        .unwrap();
    assert_eq!(again["payload"]["not_collected"], json!(["s3_data"]));
    assert_eq!(j.last().unwrap()["kind"], "case_closed");
    // A wrong database is a failure the responder fixes, never "not collected".
    let case2 = dir.path().join("case2");
    let wrong_database = [&athena[..], &["--database", "no_such_db"]].concat();
    let out = run_drill(crate::athena::aws_irp(), dir.path(), "case2", &wrong_database);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("SCHEMA_NOT_FOUND"), "{}", stderr(&out));
    assert!(
        !journal_entries(&case2)
            .iter()
            .any(|e| e["kind"] == "source_not_collected")
    );
}

/// A call by dave's access key from 203.0.113.9 on 2026-11-20, as `CloudTrail` logs it.
fn dave_call(id: &str, source: &str, name: &str, request: &serde_json::Value) -> serde_json::Value {
    serde_json::json!({
        "eventVersion": "1.09", "eventID": id, "eventTime": "2026-11-20T10:00:00Z",
        "eventSource": source, "eventName": name, "awsRegion": "us-east-1",
        "sourceIPAddress": "203.0.113.9", "userAgent": "aws-cli/2.15.0", "recipientAccountId": "111122223333",
        "eventType": "AwsApiCall", "managementEvent": true, "readOnly": false, "requestParameters": request,
        "responseElements": null,
        "userIdentity": { "type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/dave", "accountId": "111122223333",
                          "accessKeyId": "AKIAIOSFODNN7EXAMPLE", "userName": "dave" }
    })
}

/// `records` imported into a lake and walked by `playbook`'s good responder (the case opened
/// with `inputs`, the window from 2026-11-19); the case's journal.
fn walk_records(
    tmp: &std::path::Path,
    records: &[serde_json::Value],
    playbook: &str,
    inputs: &[&str],
) -> Vec<serde_json::Value> {
    let file = tmp.join("records.json");
    std::fs::write(&file, serde_json::json!({ "Records": records }).to_string()).unwrap();
    let lake = tmp.join("lake");
    crate::common::import_cloudtrail(&file, &lake);
    let case = tmp.join("case");
    let mut cmd = crate::common::irp();
    cmd.env("IRP_NOW", "2026-11-21T00:00:00Z")
        .args(["run", &format!("playbooks/{playbook}.yaml"), "--case-dir"])
        .arg(&case)
        .arg("--lake")
        .arg(&lake)
        .args(["-i", "start_time=2026-11-19T00:00:00Z", "--headless", "--answers"])
        .arg(format!("playbooks/{playbook}/answers/responder.yaml"));
    for i in inputs {
        cmd.args(["-i", i]);
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", crate::common::stderr(&out));
    crate::real_logs::journal_entries(&case)
}

/// Bucket ACL changes in the three forms `CloudTrail` logs them (a canned ACL, a grant header,
/// the request's grants): the S3 playbook names whom each let in, without the owner's own id,
/// counts them as exposure, and makes the ACL private.
#[test]
fn the_s3_playbook_names_whom_a_bucket_acl_change_let_in() {
    let tmp = tempfile::tempdir().unwrap();
    let owner = "a".repeat(64);
    let outsider = "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be";
    let acl =
        |id: &str, request: serde_json::Value| dave_call(id, "s3.amazonaws.com", "PutBucketAcl", &request);
    // A canned private ACL closes the bucket: not exposure, nobody let in.
    let private = acl(
        "a4",
        serde_json::json!({ "bucketName": "corp-exports", "acl": [""], "x-amz-acl": ["private"] }),
    );
    let records = [
        private,
        acl(
            "a1",
            serde_json::json!({ "bucketName": "corp-exports", "acl": [""], "x-amz-acl": ["public-read"] }),
        ),
        acl(
            "a2",
            serde_json::json!({ "bucketName": "corp-exports", "acl": [""],
            "x-amz-grant-read": [format!("id={outsider}, uri=http://acs.amazonaws.com/groups/global/AuthenticatedUsers")] }),
        ),
        acl(
            "a3",
            serde_json::json!({ "bucketName": "corp-exports", "acl": [""], "AccessControlPolicy": {
            "AccessControlList": { "Grant": [
                { "Grantee": { "xsi:type": "CanonicalUser", "ID": owner }, "Permission": "FULL_CONTROL" },
                { "Grantee": { "xsi:type": "Group", "URI": "http://acs.amazonaws.com/groups/global/AllUsers" }, "Permission": "READ" }
            ] },
            "Owner": { "ID": owner } } }),
        ),
    ];
    let j = walk_records(
        tmp.path(),
        &records,
        "s3-unintended-data-access",
        &[
            "bucket=corp-exports",
            "bucket_account=111122223333",
            "region=us-east-1",
        ],
    );
    let changes = j
        .iter()
        .find(|e| e["payload"]["step"] == "access-control-changes" && e["kind"] == "query_succeeded")
        .unwrap();
    let mut grants: Vec<&str> = changes["payload"]["captures"]["acl_grants"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(serde_json::Value::as_str)
        .collect();
    grants.sort_unstable();
    assert_eq!(
        grants,
        [
            outsider,
            "groups/global/AllUsers",
            "groups/global/AuthenticatedUsers",
            "public-read"
        ]
    );
    assert_eq!(changes["payload"]["captures"]["exposure_changes"], 3);
    assert_eq!(
        crate::real_logs::acted_on(&j, "acl-private"),
        [serde_json::json!({ "bucket": "corp-exports" })]
    );
}

/// A trust policy that opens a role to several outside principals (another account's root, a
/// role of a second account, a bare account id) is contained principal by principal, exactly.
#[test]
fn the_iam_playbook_removes_every_outside_principal_a_trust_policy_let_in() {
    let tmp = tempfile::tempdir().unwrap();
    let doc = serde_json::json!({ "Version": "2012-10-17", "Statement": [
        { "Effect": "Allow", "Principal": { "AWS": ["arn:aws:iam::111122223333:root",
            "arn:aws:iam::999988887777:root", "arn:aws:iam::444455556666:role/ops"] }, "Action": "sts:AssumeRole" },
        { "Effect": "Allow", "Principal": { "AWS": "777766665555" }, "Action": "sts:AssumeRole" },
        { "Effect": "Allow", "Principal": { "Service": "ec2.amazonaws.com" }, "Action": "sts:AssumeRole" }
    ]});
    let records = [dave_call(
        "t1",
        "iam.amazonaws.com",
        "UpdateAssumeRolePolicy",
        &serde_json::json!({ "roleName": "AdminRole", "policyDocument": doc.to_string() }),
    )];
    let j = walk_records(
        tmp.path(),
        &records,
        "iam-credential-compromise",
        &[
            "account=111122223333",
            "region=us-east-1",
            "access_key_id=AKIAIOSFODNN7EXAMPLE",
        ],
    );
    assert_eq!(
        crate::real_logs::acted_on(&j, "remove-trust"),
        [
            serde_json::json!({ "role_name": "AdminRole", "principal": "arn:aws:iam::444455556666:role/ops" }),
            serde_json::json!({ "role_name": "AdminRole", "principal": "arn:aws:iam::777766665555:root" }),
            serde_json::json!({ "role_name": "AdminRole", "principal": "arn:aws:iam::999988887777:root" }),
        ]
    );
}

/// A lake that does not collect us-east-1 holds none of the calls `CloudTrail` delivers there
/// (IAM, Organizations): the IAM playbook's coverage step says so (`global_days` is 0 beside the
/// region's own days), so an empty persistence step is not read as "nothing created".
#[test]
fn without_us_east_1_the_iam_playbook_says_global_calls_are_not_collected() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("lake");
    let out = crate::common::run(&[
        "lake",
        "generate",
        lake.to_str().unwrap(),
        "--scenario",
        "credential-compromise",
        "--events",
        "12000",
        "--days",
        "3",
        "--end",
        "2026-12-06",
        "--regions",
        "eu-west-1",
    ]);
    assert!(out.status.success(), "{}", crate::common::stderr(&out));
    let truth: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(lake.join("truth.json")).unwrap()).unwrap();
    let key = truth["incident_details"]["access_key_id"].as_str().unwrap();
    let case = tmp.path().join("case");
    let out = crate::common::irp()
        .env("IRP_NOW", "2026-12-07T00:00:00Z")
        .args(["run", "playbooks/iam-credential-compromise.yaml", "--case-dir"])
        .arg(&case)
        .arg("--lake")
        .arg(&lake)
        .args([
            "-i",
            "account=111122223333",
            "-i",
            "region=eu-west-1",
            "-i",
            &format!("access_key_id={key}"),
        ])
        .args([
            "--headless",
            "--answers",
            "playbooks/iam-credential-compromise/answers/responder.yaml",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", crate::common::stderr(&out));
    let j = crate::real_logs::journal_entries(&case);
    let captures = |step: &str| {
        j.iter()
            .find(|e| e["payload"]["step"] == step && e["kind"] == "query_succeeded")
            .map(|e| e["payload"]["captures"].clone())
            .unwrap()
    };
    let coverage = captures("coverage");
    assert!(coverage["mgmt_days"].as_u64().unwrap() > 0, "{coverage}");
    assert_eq!(coverage["global_days"], 0, "{coverage}");
    // The intruder's region-bound calls are still followed (its role session and tampering).
    assert_eq!(
        captures("lateral-movement")["assumed_roles"],
        serde_json::json!(["AdminRole"])
    );
    assert_eq!(captures("persistence")["persistence_ops"], serde_json::json!([]));
}
