//! `irp lake import cloudtrail`: AWS's golden raw → OCSF pairs, the real OTRF and Stratus samples,
//! every awkward input the issue names, and a property test of arbitrary records.

use std::io::Write;
use std::path::{Path, PathBuf};

use irp::lake::import::{self, Imported, Options};
use irp::query::backend::local::{LocalEngine, Options as EngineOptions};
use proptest::prelude::*;
use serde_json::{Value, json};

use crate::common::{files_under, irp, run, shared_data, stderr, stdout};
use crate::query::{S3, captures_of, json_rows, rows, rows_of, runtime};

const MGMT: &str = "amazon_security_lake_table_us_east_1_cloud_trail_mgmt_2_0";

fn import_lib(paths: &[PathBuf], lake: &Path) -> Imported {
    import::import(
        paths,
        lake,
        &Options {
            threads: 2,
            ..Options::default()
        },
        &|_| {},
    )
    .unwrap()
}

/// `irp lake import cloudtrail PATH --lake LAKE`.
fn import_cli(path: &Path, lake: &Path) -> std::process::Output {
    irp()
        .args(["lake", "import", "cloudtrail"])
        .arg(path)
        .arg("--lake")
        .arg(lake)
        .output()
        .unwrap()
}

/// Every record is written, a duplicate, without a table, or a problem: nothing else.
fn accounted(s: &Imported) {
    let no_table: u64 = s.no_table.values().sum();
    assert_eq!(
        s.records,
        s.rows_written() + s.duplicates + no_table + s.problem_count,
        "every record is accounted for: {s:?}"
    );
}

/// The rows of every Parquet file of a lake, as JSON objects.
fn lake_rows(lake: &Path) -> Vec<Value> {
    parquet_files(lake).iter().flat_map(|f| lake_rows_of(f)).collect()
}

fn parquet_files(dir: &Path) -> Vec<PathBuf> {
    files_under(dir)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|x| x == "parquet"))
        .collect()
}

fn at<'v>(row: &'v Value, path: &str) -> &'v Value {
    let mut cur = row;
    for part in path.split('.') {
        match cur.get(part) {
            Some(v) => cur = v,
            None => return &Value::Null,
        }
    }
    cur
}

/// The fields the issue names (class, activity, type, time, status, actor, endpoint, api) and the
/// class-specific ones, compared with what AWS's validation suite expects. Not compared, because
/// AWS's early 1.1.0 mapping differs from the current one (`docs/import.md`): `unmapped` (request
/// parameters sat there), `metadata.product.feature.name`, `observables`, `accountid`, `region`.
const GOLDEN_FIELDS: [&str; 43] = [
    "class_uid",
    "class_name",
    "category_uid",
    "category_name",
    "activity_id",
    "activity_name",
    "type_uid",
    "type_name",
    "severity_id",
    "severity",
    "time",
    "time_dt",
    "status",
    "metadata.uid",
    "metadata.event_code",
    "metadata.product.version",
    "metadata.product.name",
    "metadata.version",
    "cloud.region",
    "actor.user.type",
    "actor.user.name",
    "actor.user.uid",
    "actor.user.uid_alt",
    "actor.user.account.uid",
    "actor.user.credential_uid",
    "actor.session.issuer",
    "actor.session.created_time_dt",
    "actor.session.is_mfa",
    "actor.invoked_by",
    "actor.idp.name",
    "src_endpoint.ip",
    "src_endpoint.domain",
    "src_endpoint.uid",
    "http_request.user_agent",
    "api.operation",
    "api.service.name",
    "api.request.uid",
    "api.response.error",
    "api.response.message",
    "api.version",
    "dst_endpoint.svc_name",
    "user.uid",
    "is_mfa",
];

/// Compared only where the expected file has the column (Authentication and Account Change).
const GOLDEN_CLASS_FIELDS: [&str; 7] = [
    "user.uid_alt",
    "user.name",
    "policy.uid",
    "session.uid",
    "session.uid_alt",
    "session.credential_uid",
    "session.issuer",
];

#[test]
fn the_golden_pairs_map_as_security_lake_expects() {
    let Some(dir) = shared_data("samples/securitylake-golden-pairs") else {
        return;
    };
    let mut inputs: Vec<PathBuf> = ["account_change", "api_activity", "authentication"]
        .iter()
        .flat_map(|class| {
            std::fs::read_dir(dir.join(class).join("input"))
                .unwrap()
                .flatten()
        })
        .map(|e| e.path())
        .collect();
    inputs.sort();
    assert_eq!(inputs.len(), 20, "the 20 pairs");
    let mut mismatches = Vec::new();
    for input in &inputs {
        let name = input.file_stem().unwrap().to_str().unwrap();
        let class_dir = input.parent().unwrap().parent().unwrap();
        let expected_file = class_dir.join(format!("tests_{name}.test.parquet"));
        let expected = lake_rows_of(&expected_file);
        let tmp = tempfile::tempdir().unwrap();
        let s = import_lib(std::slice::from_ref(input), tmp.path());
        assert_eq!((s.rows_written(), s.problem_count), (1, 0), "{name}: {s:?}");
        let ours = lake_rows(tmp.path());
        let schema_has = |path: &str| has_column(&expected_file, path);
        for field in GOLDEN_FIELDS.iter().chain(GOLDEN_CLASS_FIELDS.iter()) {
            if !schema_has(field) {
                continue;
            }
            let (want, got) = (at(&expected[0], field), at(&ours[0], field));
            // AWS's early mapping writes the two characters `''` for a missing `requestID`;
            // irp writes NULL (`docs/import.md`).
            let known = *field == "api.request.uid" && want == "''" && got.is_null();
            if want != got && !known {
                mismatches.push(format!("{name}: {field}: expected {want}, got {got}"));
            }
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

fn lake_rows_of(file: &Path) -> Vec<Value> {
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
        std::fs::File::open(file).unwrap(),
    )
    .unwrap()
    .build()
    .unwrap();
    reader.flat_map(|b| json_rows(&b.unwrap())).collect()
}

/// Whether a Parquet file's schema has a (nested) column.
fn has_column(file: &Path, path: &str) -> bool {
    let builder = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
        std::fs::File::open(file).unwrap(),
    )
    .unwrap();
    builder
        .parquet_schema()
        .columns()
        .iter()
        .any(|c| c.path().string() == path || c.path().string().starts_with(&format!("{path}.")))
}

#[test]
fn the_otrf_and_stratus_samples_import_completely_and_again_change_nothing() {
    let (Some(otrf), Some(stratus)) = (
        shared_data("samples/otrf"),
        shared_data("samples/stratus-detonation"),
    ) else {
        return;
    };
    let expected_records: u64 = std::fs::read_dir(&stratus)
        .unwrap()
        .flatten()
        .map(|e| {
            let v: Value = serde_json::from_slice(&std::fs::read(e.path()).unwrap()).unwrap();
            v.as_array().unwrap().len() as u64
        })
        .sum::<u64>()
        + std::fs::read_to_string(otrf.join("ec2_proxy_s3_exfiltration_2020-09-14011940.json"))
            .unwrap()
            .lines()
            .filter(|l| !l.trim().is_empty())
            .count() as u64;
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("lake");
    let out = run(&[
        "lake",
        "import",
        "cloudtrail",
        otrf.to_str().unwrap(),
        stratus.to_str().unwrap(),
        "--lake",
        lake.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stdout(&out);
    assert!(err.contains(&format!("{expected_records} records")), "{err}");
    assert!(err.contains("0 duplicates skipped; 0 problems"), "{err}");
    let rows = lake_rows(&lake);
    assert_eq!(rows.len() as u64, expected_records, "every event is in the lake");
    // The Stratus anonymiser writes invalid IPv4 strings: they land in `src_endpoint.domain`.
    assert!(
        rows.iter()
            .any(|r| at(r, "src_endpoint.domain") == "255.090.254.5")
    );
    // Each file is sorted by time.
    for file in parquet_files(&lake) {
        let times: Vec<i64> = lake_rows_of(&file)
            .iter()
            .map(|r| r["time"].as_i64().unwrap())
            .collect();
        assert!(times.is_sorted(), "{} is sorted by time", file.display());
    }
    let before = listing(&lake);
    let again = import_lib(&[otrf, stratus], &lake);
    accounted(&again);
    assert_eq!(again.rows_written(), 0);
    assert_eq!(again.duplicates, expected_records);
    assert_eq!(listing(&lake), before, "a second import changes nothing");
}

/// Every file of a folder with its size.
fn listing(dir: &Path) -> Vec<(PathBuf, u64)> {
    files_under(dir)
        .into_iter()
        .map(|p| {
            let len = std::fs::metadata(&p).unwrap().len();
            (p, len)
        })
        .collect()
}

/// The shipped S3 playbook over the imported OTRF scenario (`cloud_breach_s3`: an SSRF leaks an
/// instance-profile credential, which lists and reads the bucket) finds the stolen credential,
/// its IP and the bucket.
#[test]
fn the_s3_playbook_finds_the_otrf_scenarios_stolen_credential() {
    let Some(otrf) = shared_data("samples/otrf") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("lake");
    let s = import_lib(&[otrf], &lake);
    assert_eq!((s.records, s.problem_count), (103, 0), "{s:?}");
    assert_eq!(
        s.written.get("s3_data"),
        Some(&9),
        "the GetObject and ListObjects calls: {s:?}"
    );
    let bucket = "mordors3stack-s3bucket-llp2yingx64a";
    let answers =
        std::fs::read_to_string(crate::common::repo().join("tests/fixtures/cases/s3-lake.answers.yaml"))
            .unwrap()
            .replace("acme-customer-exports", bucket)
            .replace("111122223333", "123456789123");
    let answers_file = tmp.path().join("answers.yaml");
    std::fs::write(&answers_file, answers).unwrap();
    let case = tmp.path().join("case");
    let out = irp()
        .env("IRP_NOW", "2020-09-15T00:00:00Z")
        .args(["run", "playbooks/s3-unintended-data-access.yaml", "--case-dir"])
        .arg(&case)
        .arg("--lake")
        .arg(&lake)
        .args([
            "-i",
            &format!("bucket={bucket}"),
            "-i",
            "bucket_account=123456789123",
        ])
        .args(["-i", "region=us-east-1", "-i", "start_time=2020-09-13T00:00:00Z"])
        .args(["-i", "end_time=2020-09-15T00:00:00Z", "--headless", "--answers"])
        .arg(&answers_file)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let scan = irp::journal::store::read(&case.join("journal.jsonl")).unwrap();
    assert!(
        !scan.entries.iter().any(|e| e.event.kind() == "query_failed"),
        "{}",
        stdout(&out)
    );
    let captures: serde_json::Map<String, Value> = captures_of(&scan);
    let role = "arn:aws:sts::123456789123:assumed-role/MordorNginxStack-BankingWAFRole-9S3E0UAE1MM0/i-0317f6c6b66ae9c40";
    assert_eq!(captures["unknown_principals"], json!([role]), "{captures:?}");
    assert_eq!(
        captures["suspect_keys"],
        json!(["ASIA5FLZVX4OPVKKVBMX"]),
        "{captures:?}"
    );
    assert_eq!(captures["suspect_ips"], json!(["1.2.3.4"]), "{captures:?}");
    // The bucket it read: the playbook's reads come from the imported S3 data events.
    runtime().block_on(async {
        let engine = LocalEngine::open(&lake, EngineOptions::default()).await.unwrap();
        let r = rows(
            &engine,
            &format!(
                "SELECT DISTINCT json_extract_scalar(api.request.data, '$.bucketName') AS bucket FROM {S3} \
                 WHERE actor.user.credential_uid = 'ASIA5FLZVX4OPVKKVBMX' AND api.operation = 'GetObject'"
            ),
        )
        .await
        .unwrap();
        assert_eq!(r, vec![json!({ "bucket": bucket })]);
    });
    assert!(run(&["verify", case.to_str().unwrap()]).status.success());
}

fn event(id: &str, time: &str, name: &str) -> Value {
    json!({
        "eventVersion": "1.09",
        "userIdentity": {
            "type": "IAMUser", "principalId": "AIDAEXAMPLE", "arn": "arn:aws:iam::111122223333:user/alice",
            "accountId": "111122223333", "accessKeyId": "AKIAEXAMPLE", "userName": "alice"
        },
        "eventTime": time,
        "eventSource": "s3.amazonaws.com",
        "eventName": name,
        "awsRegion": "us-east-1",
        "sourceIPAddress": "203.0.113.7",
        "userAgent": "aws-cli/2",
        "requestParameters": { "bucketName": "b1", "Host": "b1.s3.amazonaws.com" },
        "responseElements": null,
        "requestID": format!("R{id}"),
        "eventID": id,
        "readOnly": true,
        "eventType": "AwsApiCall",
        "managementEvent": true,
        "recipientAccountId": "111122223333",
        "eventCategory": "Management"
    })
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

#[test]
fn awkward_input_is_imported_counted_or_reported_never_lost() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("logs");
    std::fs::create_dir_all(src.join("nested/deeper")).unwrap();
    // A delivery file, events out of order.
    let delivery = json!({ "Records": [
        event("e3", "2026-11-20T10:00:03Z", "ListBuckets"),
        event("e1", "2026-11-20T10:00:01Z", "GetBucketAcl"),
    ]});
    std::fs::write(src.join("a.json"), delivery.to_string()).unwrap();
    // The same delivery, gzipped, cut in the middle: the whole first record survives.
    let many: Vec<Value> = (0..40)
        .map(|i| {
            event(
                &format!("g{i:02}"),
                &format!("2026-11-20T11:00:{i:02}Z"),
                "ListBuckets",
            )
        })
        .collect();
    let gz = gzip(
        serde_json::to_string_pretty(&json!({ "Records": many }))
            .unwrap()
            .as_bytes(),
    );
    std::fs::write(src.join("nested/b.json.gz"), &gz[..gz.len() / 2]).unwrap();
    // NDJSON: a duplicate of e1, a malformed line, no userIdentity, an AWS service, an invalid IP,
    // huge request parameters, a hostile region, an Insights event, no time.
    let mut service = event("svc", "2026-11-20T09:00:00Z", "GetBucketLocation");
    service["userIdentity"] = json!({ "type": "AWSService", "invokedBy": "config.amazonaws.com" });
    service["sourceIPAddress"] = json!("config.amazonaws.com");
    let mut no_identity = event("noid", "2026-11-20T09:00:01Z", "ListBuckets");
    no_identity.as_object_mut().unwrap().remove("userIdentity");
    let mut bad_ip = event("badip", "2026-11-20T09:00:02Z", "ListBuckets");
    bad_ip["sourceIPAddress"] = json!("255.090.254.5");
    let mut huge = event("huge", "2026-11-20T09:00:03Z", "PutBucketPolicy");
    let big = "x".repeat(2_000_000);
    huge["requestParameters"] = json!({ "bucketName": "b1", "policy": big });
    let mut hostile = event("hostile", "2026-11-20T09:00:04Z", "ListBuckets");
    hostile["awsRegion"] = json!("../../../etc");
    let mut insight = event("insight", "2026-11-20T09:00:05Z", "ListBuckets");
    insight["eventCategory"] = json!("Insight");
    let mut no_time = event("notime", "x", "ListBuckets");
    no_time.as_object_mut().unwrap().remove("eventTime");
    let lines = [
        event("e1", "2026-11-20T10:00:01Z", "GetBucketAcl").to_string(),
        r#"{"eventName": oops"#.to_owned(),
        no_identity.to_string(),
        service.to_string(),
        bad_ip.to_string(),
        huge.to_string(),
        hostile.to_string(),
        insight.to_string(),
        no_time.to_string(),
    ];
    std::fs::write(src.join("nested/deeper/c.ndjson"), lines.join("\n") + "\n").unwrap();
    // `aws cloudtrail lookup-events` output, pretty-printed, with the event as a string.
    let lookup = json!({ "Events": [ {
        "EventId": "lk1", "EventName": "DeleteBucketPolicy", "ReadOnly": "false",
        "CloudTrailEvent": event("lk1", "2026-11-20T08:00:00Z", "DeleteBucketPolicy").to_string()
    } ], "NextToken": "abc" });
    std::fs::write(
        src.join("lookup.json"),
        serde_json::to_string_pretty(&lookup).unwrap(),
    )
    .unwrap();
    // A Logstash export: `@timestamp`, no `eventTime`; and an S3 data event in a plain array.
    let mut logstash = event("ls1", "x", "ListBuckets");
    logstash.as_object_mut().unwrap().remove("eventTime");
    logstash["@timestamp"] = json!("2026-11-20T07:00:00.000Z");
    logstash["@version"] = json!("1");
    let mut get = event("get1", "2026-11-20T07:30:00Z", "GetObject");
    get["eventCategory"] = json!("Data");
    get["managementEvent"] = json!(false);
    std::fs::write(src.join("export.json"), json!([logstash, get]).to_string()).unwrap();
    std::fs::write(src.join("notes.txt"), "not a log").unwrap();

    let lake = tmp.path().join("lake");
    let out = import_cli(&src, &lake);
    let err = stderr(&out) + &stdout(&out);
    assert_eq!(out.status.code(), Some(4), "imported, with problems: {err}");
    assert!(err.contains("c.ndjson:2: not JSON"), "{err}");
    assert!(
        err.contains("c.ndjson:7: ListBuckets: `awsRegion` \"../../../etc\" is not a region name"),
        "{err}"
    );
    assert!(err.contains("c.ndjson:9: ListBuckets: no `eventTime`"), "{err}");
    assert!(
        err.contains("b.json.gz: the gzip stream is damaged or cut short"),
        "{err}"
    );
    assert!(
        err.contains("the file ends in the middle of this record"),
        "{err}"
    );
    assert!(err.contains("1 duplicates skipped"), "{err}");
    assert!(err.contains("1 skipped: CloudTrail Insights event"), "{err}");
    assert!(!tmp.path().join("etc").exists() && !lake.join("cloud_trail_mgmt/etc").exists());

    let rows = lake_rows(&lake);
    let by_id = |id: &str| -> Value {
        rows.iter()
            .find(|r| at(r, "metadata.uid") == id)
            .unwrap_or_else(|| panic!("{id} imported"))
            .clone()
    };
    for id in [
        "e1", "e3", "noid", "svc", "badip", "huge", "lk1", "ls1", "get1", "g00",
    ] {
        by_id(id);
    }
    let gz_rows = rows
        .iter()
        .filter(|r| {
            at(r, "metadata.uid").as_str().unwrap().starts_with('g') && at(r, "metadata.uid") != "get1"
        })
        .count();
    assert!(
        (1..40).contains(&gz_rows),
        "the records before the cut: {gz_rows}"
    );
    assert_eq!(at(&by_id("noid"), "actor.user.type"), "Unknown");
    assert_eq!(at(&by_id("svc"), "actor.user.type"), "AWSService");
    assert_eq!(at(&by_id("svc"), "actor.invoked_by"), "config.amazonaws.com");
    assert_eq!(at(&by_id("svc"), "src_endpoint.domain"), "config.amazonaws.com");
    assert_eq!(at(&by_id("badip"), "src_endpoint.domain"), "255.090.254.5");
    assert_eq!(at(&by_id("badip"), "src_endpoint.ip"), &Value::Null);
    assert_eq!(at(&by_id("e1"), "src_endpoint.ip"), "203.0.113.7");
    let huge_data = at(&by_id("huge"), "api.request.data")
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        huge_data.len(),
        big.len() + r#"{"bucketName":"b1","policy":""}"#.len()
    );
    assert_eq!(
        at(&by_id("ls1"), "time"),
        1_795_158_000_000_i64,
        "@timestamp is the time"
    );
    assert_eq!(at(&by_id("lk1"), "api.operation"), "DeleteBucketPolicy");
    assert_eq!(
        at(&by_id("lk1"), "api.request.data"),
        r#"{"bucketName":"b1","Host":"b1.s3.amazonaws.com"}"#
    );
    assert!(
        lake.join("s3_data/region=us-east-1/accountid=111122223333/eventday=20261120")
            .is_dir()
    );

    // The lake answers queries, with the tables where Security Lake puts them.
    runtime().block_on(async {
        let engine = LocalEngine::open(&lake, EngineOptions::default()).await.unwrap();
        let r = rows_of(&engine, &format!("SELECT count(*) AS n FROM {S3}")).await;
        assert_eq!(r, 1);
        let n = rows_of(
            &engine,
            &format!("SELECT count(*) AS n FROM {MGMT} WHERE unmapped['readOnly'] = 'true'"),
        )
        .await;
        assert!(n > 5, "{n}");
    });

    // Again: nothing new. Then a later file adds to the lake.
    let before = listing(&lake);
    let again = import_cli(&src, &lake);
    assert_eq!(again.status.code(), Some(4));
    assert!(
        stdout(&again).contains("nothing new (0 new files)"),
        "{}",
        stdout(&again)
    );
    assert_eq!(listing(&lake), before);
    let later = tmp.path().join("later.json");
    std::fs::write(
        &later,
        json!({ "Records": [event("e9", "2026-11-20T10:00:09Z", "ListBuckets")] }).to_string(),
    )
    .unwrap();
    let s = import_lib(&[later], &lake);
    assert_eq!((s.rows_written(), s.duplicates), (1, 0));
    assert_eq!(lake_rows(&lake).len(), rows.len() + 1);
}

#[test]
fn an_import_into_a_folder_that_cannot_be_written_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("a.json");
    std::fs::write(
        &file,
        json!({ "Records": [event("e1", "2026-11-20T10:00:01Z", "ListBuckets")] }).to_string(),
    )
    .unwrap();
    let blocker = tmp.path().join("lake");
    std::fs::write(&blocker, "a file where the lake should be").unwrap();
    let out = import_cli(&file, &blocker);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("import into"), "{}", stderr(&out));
    // A damaged file already in the partition: the import cannot tell what it holds, so it stops
    // and names it rather than risk writing duplicates.
    let lake = tmp.path().join("l3");
    let partition = lake.join("cloud_trail_mgmt/region=us-east-1/accountid=111122223333/eventday=20261120");
    std::fs::create_dir_all(&partition).unwrap();
    std::fs::write(partition.join("bad.parquet"), "not parquet").unwrap();
    let out = import_cli(&file, &lake);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("bad.parquet: this file already in the lake cannot be read"),
        "{}",
        stderr(&out)
    );
    assert_eq!(parquet_files(&lake), vec![partition.join("bad.parquet")]);
    let out = import_cli(Path::new("no/such/file.json"), &tmp.path().join("l2"));
    assert_eq!(out.status.code(), Some(4));
    assert!(
        stderr(&out).contains("no/such/file.json: cannot read"),
        "{}",
        stderr(&out)
    );
}

/// Any text, number, object or missing key where `CloudTrail` puts a field.
fn any_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        "\\PC{0,12}".prop_map(Value::String),
        Just(json!("203.0.113.9")),
        Just(json!("::1")),
        Just(json!("2026-11-20T10:00:00Z")),
    ];
    leaf.prop_recursive(2, 8, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            prop::collection::btree_map("[a-zA-Z.@\\[\\]]{1,6}", inner, 0..3)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn any_record() -> impl Strategy<Value = Value> {
    let keys = [
        "eventVersion",
        "userIdentity",
        "eventTime",
        "eventSource",
        "eventName",
        "awsRegion",
        "sourceIPAddress",
        "userAgent",
        "requestParameters",
        "responseElements",
        "additionalEventData",
        "requestID",
        "eventID",
        "eventType",
        "recipientAccountId",
        "resources",
        "eventCategory",
        "managementEvent",
        "@timestamp",
        "errorCode",
    ];
    (
        prop::collection::vec((0..keys.len(), any_value()), 0..12),
        any::<u32>(),
        prop::sample::select(vec![
            "s3.amazonaws.com",
            "iam.amazonaws.com",
            "sts.amazonaws.com",
            "lambda.amazonaws.com",
        ]),
        prop::sample::select(vec![
            "GetObject",
            "CreateUser",
            "AssumeRole",
            "ConsoleLogin",
            "Invoke",
            "ListBuckets",
        ]),
    )
        .prop_map(move |(fields, id, source, name)| {
            // A valid core, then arbitrary values over any key, the core's included.
            let mut r = event(&format!("p{id}"), "2026-11-20T10:00:00Z", name);
            r["eventSource"] = json!(source);
            for (k, v) in fields {
                r[keys[k]] = v;
            }
            r
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, failure_persistence: None, ..ProptestConfig::default() })]
    #[test]
    fn any_record_imports_without_panic_and_again_is_a_no_op(records in prop::collection::vec(any_record(), 1..6)) {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("r.json");
        std::fs::write(&file, json!({ "Records": records }).to_string()).unwrap();
        let lake = tmp.path().join("lake");
        let first = import_lib(std::slice::from_ref(&file), &lake);
        accounted(&first);
        prop_assert_eq!(first.records, records.len() as u64);
        let before = listing(&lake);
        let second = import_lib(std::slice::from_ref(&file), &lake);
        accounted(&second);
        prop_assert_eq!(second.rows_written(), 0);
        prop_assert_eq!(second.duplicates, first.rows_written() + first.duplicates);
        prop_assert_eq!(listing(&lake), before);
    }
}

/// The golden pairs' rules over the generator's rows: the generator writes `CloudTrail` records
/// and its rows are mapped as an import maps them, so every class and operation it writes must
/// come out as AWS's validation suite expects. For an operation with a golden pair: its class,
/// activity, category, type and (for calls that succeeded on both sides) status. For every row:
/// the type is the class and activity's, and each actor field is null, or set, wherever it is
/// null, or set, in every golden row of the same caller type (an assumed role has no
/// `actor.user.name` and has a session issuer; a service has no ARN).
#[test]
fn generated_rows_follow_the_golden_pairs() {
    let Some(dir) = shared_data("samples/securitylake-golden-pairs") else {
        return;
    };
    let golden: Vec<Value> = ["account_change", "api_activity", "authentication"]
        .iter()
        .flat_map(|class| std::fs::read_dir(dir.join(class)).unwrap().flatten())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "parquet"))
        .flat_map(|p| lake_rows_of(&p))
        .collect();
    assert_eq!(golden.len(), 20);
    let tmp = tempfile::tempdir().unwrap();
    let mut rows = Vec::new();
    for scenario in [
        "credential-compromise",
        "s3-exfiltration",
        "instance-credential-exfiltration",
    ] {
        let lake = tmp.path().join(scenario);
        let out = run(&[
            "lake",
            "generate",
            lake.to_str().unwrap(),
            "--scenario",
            scenario,
            "--events",
            "20000",
            "--days",
            "3",
        ]);
        assert!(out.status.success(), "{}", stderr(&out));
        for table in ["cloud_trail_mgmt", "s3_data", "lambda_execution"] {
            rows.extend(lake_rows(&lake.join(table)));
        }
    }
    const ACTOR: [&str; 8] = [
        "actor.user.name",
        "actor.user.uid",
        "actor.user.uid_alt",
        "actor.user.account.uid",
        "actor.user.credential_uid",
        "actor.session.issuer",
        "actor.session.created_time_dt",
        "actor.invoked_by",
    ];
    let mut problems = std::collections::BTreeSet::new();
    let mut paired = std::collections::BTreeSet::new();
    let mut classes = std::collections::BTreeSet::new();
    for r in &rows {
        let op = at(r, "api.operation").as_str().unwrap_or_default().to_owned();
        let class = at(r, "class_uid").as_i64().unwrap();
        let activity = at(r, "activity_id").as_i64().unwrap();
        classes.insert(class);
        let mut bad = |what: String| {
            problems.insert(format!("{op}: {what}"));
        };
        if at(r, "type_uid").as_i64() != Some(class * 100 + activity) {
            bad(format!(
                "type_uid {} for class {class}, activity {activity}",
                at(r, "type_uid")
            ));
        }
        let category = if class == 6003 { 6 } else { 3 };
        if at(r, "category_uid").as_i64() != Some(category) {
            bad(format!("category_uid {}", at(r, "category_uid")));
        }
        if let Some(g) = golden
            .iter()
            .find(|g| at(g, "api.operation") == at(r, "api.operation"))
        {
            paired.insert(op.clone());
            for f in [
                "class_uid",
                "class_name",
                "activity_id",
                "activity_name",
                "category_uid",
                "type_uid",
            ] {
                if at(g, f) != at(r, f) {
                    bad(format!("{f}: golden {}, generated {}", at(g, f), at(r, f)));
                }
            }
            if at(g, "api.response.error").is_null() && at(r, "api.response.error").is_null() {
                if at(g, "status") != at(r, "status") {
                    bad(format!(
                        "status: golden {}, generated {}",
                        at(g, "status"),
                        at(r, "status")
                    ));
                }
                for f in ["user.uid", "session.credential_uid"] {
                    if at(g, f).is_null() != at(r, f).is_null() {
                        bad(format!("{f}: golden {}, generated {}", at(g, f), at(r, f)));
                    }
                }
            }
        }
        let kind = at(r, "actor.user.type");
        let same: Vec<&Value> = golden
            .iter()
            .filter(|g| at(g, "actor.user.type") == kind)
            .collect();
        if same.is_empty() {
            continue;
        }
        for f in ACTOR {
            if same.iter().all(|g| at(g, f).is_null()) && !at(r, f).is_null() {
                bad(format!("{f} is set for a {kind} caller; AWS leaves it empty"));
            }
            if same.iter().all(|g| !at(g, f).is_null()) && at(r, f).is_null() {
                bad(format!("{f} is empty for a {kind} caller; AWS sets it"));
            }
        }
    }
    assert_eq!(
        classes.into_iter().collect::<Vec<_>>(),
        [3001, 3002, 6003],
        "the classes the generator writes"
    );
    assert!(
        ["AssumeRole", "ConsoleLogin", "CreateUser"]
            .iter()
            .all(|op| paired.contains(*op)),
        "operations compared with their golden pair: {paired:?}"
    );
    assert!(
        problems.is_empty(),
        "{} generated rows; compared with golden pairs: {paired:?}\n{}",
        rows.len(),
        problems.into_iter().collect::<Vec<_>>().join("\n")
    );
}

/// A lake is read as Security Lake with us-east-1 as its rollup region: us-east-1's tables hold
/// every region's rows (a lake of eu-west-1 logs alone included), each other region's tables its
/// own. Before, a case on a lake without us-east-1 partitions found no table at all, and every
/// step read "not collected".
#[test]
fn the_us_east_1_tables_roll_up_every_region() {
    let tmp = tempfile::tempdir().unwrap();
    let record = |id: &str, region: &str| {
        json!({
            "eventVersion": "1.09", "eventID": id, "eventTime": "2024-08-01T13:33:28Z",
            "eventSource": "ec2.amazonaws.com", "eventName": "DescribeInstances",
            "awsRegion": region, "sourceIPAddress": "203.0.113.9", "recipientAccountId": "111122223333",
            "eventType": "AwsApiCall", "managementEvent": true, "readOnly": true,
            "userIdentity": { "type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/dave",
                              "accountId": "111122223333", "accessKeyId": "AKIAIOSFODNN7EXAMPLE", "userName": "dave" }
        })
    };
    let count = |lake: &Path, region: &str| {
        let db = format!("amazon_security_lake_glue_db_{}", region.replace('-', "_"));
        let table = format!(
            "amazon_security_lake_table_{}_cloud_trail_mgmt_2_0",
            region.replace('-', "_")
        );
        runtime().block_on(async {
            let engine = LocalEngine::open(lake, EngineOptions::default()).await.unwrap();
            assert!(engine.has_table(&db, &table), "{db}.{table}");
            rows_of(&engine, &format!("SELECT count(*) AS n FROM {db}.{table}")).await
        })
    };
    // eu-west-1 logs alone: the us-east-1 tables exist and hold them.
    let only = tmp.path().join("only.json");
    std::fs::write(&only, json!([record("a", "eu-west-1")]).to_string()).unwrap();
    import_lib(&[only], &tmp.path().join("eu"));
    assert_eq!(count(&tmp.path().join("eu"), "us-east-1"), 1);
    assert_eq!(count(&tmp.path().join("eu"), "eu-west-1"), 1);
    // Three regions: us-east-1's tables hold all three, the others their own.
    let three = tmp.path().join("three.json");
    std::fs::write(
        &three,
        json!([
            record("b", "eu-west-1"),
            record("c", "us-east-1"),
            record("d", "ap-south-1")
        ])
        .to_string(),
    )
    .unwrap();
    import_lib(&[three], &tmp.path().join("all"));
    let lake = tmp.path().join("all");
    assert_eq!(count(&lake, "us-east-1"), 3);
    assert_eq!(count(&lake, "eu-west-1"), 1);
    assert_eq!(count(&lake, "ap-south-1"), 1);
}

/// A file that decompresses past the cap (a gzip bomb, in miniature) is a problem of that file,
/// skipped before it is held whole; the other files are imported.
#[test]
fn a_file_that_decompresses_past_the_cap_is_skipped_as_a_problem() {
    use std::io::Write as _;
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    // 4 MB of spaces in about 4 KB of gzip.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(&vec![b' '; 4 << 20]).unwrap();
    std::fs::write(logs.join("bomb.json.gz"), gz.finish().unwrap()).unwrap();
    let good = json!({ "Records": [{
        "eventVersion": "1.09", "eventID": "g1", "eventTime": "2026-11-20T10:00:00Z",
        "eventSource": "sts.amazonaws.com", "eventName": "GetCallerIdentity", "awsRegion": "us-east-1",
        "sourceIPAddress": "203.0.113.9", "recipientAccountId": "111122223333", "eventType": "AwsApiCall",
        "userIdentity": { "type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/dave",
                          "accountId": "111122223333", "accessKeyId": "AKIAIOSFODNN7EXAMPLE", "userName": "dave" }
    }]});
    std::fs::write(logs.join("good.json"), good.to_string()).unwrap();
    let summary = import::import(
        &[logs],
        &tmp.path().join("lake"),
        &Options {
            threads: 2,
            max_file_bytes: 1 << 20,
            ..Options::default()
        },
        &|_| {},
    )
    .unwrap();
    assert_eq!(summary.rows_written(), 1, "{summary:?}");
    assert_eq!(summary.problem_count, 1, "{summary:?}");
    let p = &summary.problems[0];
    assert!(p.file.ends_with("bomb.json.gz"), "{p}");
    assert!(
        p.message
            .contains("decompresses to more than 1 MB; reading stopped there"),
        "{p}"
    );
}

/// The de-duplication holds a bounded number of ids: past it, the partitions used least recently
/// are written out and forgotten, and their ids are read back from their files when they come
/// up again, so a record seen before is still skipped.
#[test]
fn deduplication_stays_exact_when_its_ids_are_forgotten_and_read_back() {
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    // Ten days, three events a day; each file holds every day, and the second repeats the first
    // file's events under the same ids, in another order.
    let day = |d: usize, i: usize| {
        event(
            &format!("d{d}-{i}"),
            &format!("2026-11-{:02}T10:00:0{i}Z", d + 1),
            "ListBuckets",
        )
    };
    let first: Vec<Value> = (0..10)
        .flat_map(|d| (0..3).map(move |i| (d, i)))
        .map(|(d, i)| day(d, i))
        .collect();
    let mut second = first.clone();
    second.reverse();
    second.push(day(10, 0));
    std::fs::write(logs.join("a.json"), json!({ "Records": first }).to_string()).unwrap();
    std::fs::write(logs.join("b.json"), json!({ "Records": second }).to_string()).unwrap();
    let lake = tmp.path().join("lake");
    let options = Options {
        threads: 1,
        max_ids: 4,
        ..Options::default()
    };
    let summary = import::import(std::slice::from_ref(&logs), &lake, &options, &|_| {}).unwrap();
    assert_eq!(summary.rows_written(), 31, "{summary:?}");
    assert_eq!(summary.duplicates, 30, "{summary:?}");
    let rows = lake_rows(&lake);
    let mut ids: Vec<String> = rows.iter().map(|r| at(r, "metadata.uid").to_string()).collect();
    ids.sort();
    let before = ids.len();
    ids.dedup();
    assert_eq!(ids.len(), before, "an event was written twice");
    // Again, into the same lake: nothing new.
    let again = import::import(&[logs], &lake, &options, &|_| {}).unwrap();
    assert_eq!(again.rows_written(), 0, "{again:?}");
    assert_eq!(again.duplicates, 61, "{again:?}");
}

#[test]
fn a_second_record_with_the_same_event_id_and_other_content_is_reported_not_dropped_silently() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    let original = event("dup1", "2026-11-20T10:00:00Z", "GetObject");
    let mut other = original.clone();
    other["sourceIPAddress"] = json!("198.51.100.77");
    // The same record delivered twice (a true duplicate), and once changed.
    std::fs::write(
        src.join("a.json"),
        json!({ "Records": [original.clone()] }).to_string(),
    )
    .unwrap();
    std::fs::write(src.join("b.json"), json!({ "Records": [original] }).to_string()).unwrap();
    std::fs::write(src.join("c.json"), json!({ "Records": [other] }).to_string()).unwrap();
    let lake = tmp.path().join("lake");
    // One thread: the files are read in name order, so the first record kept is a.json's.
    let out = irp()
        .args(["lake", "import", "cloudtrail"])
        .arg(&src)
        .arg("--lake")
        .arg(&lake)
        .args(["--threads", "1"])
        .output()
        .unwrap();
    let said = stderr(&out) + &stdout(&out);
    assert_eq!(out.status.code(), Some(4), "imported, with a problem: {said}");
    assert!(said.contains("2 duplicates skipped"), "{said}");
    assert!(
        said.contains("1 of the duplicates had the same eventID as an earlier record but other content"),
        "{said}"
    );
    assert!(
        said.contains("c.json: a record with eventID dup1 (2026-11-20T10:00:00Z) differs from an earlier record with the same eventID"),
        "{said}"
    );
    assert!(
        !said.contains("b.json: a record"),
        "a true duplicate is not a problem: {said}"
    );
}
