//! The embedded engine over a generated lake: Security Lake's table names in every form Athena
//! accepts, partition and time filters, results that match the generator's truth, the memory
//! limit, and `irp query` from the command line.

use std::path::Path;

use futures::StreamExt;
use irp::lake::generate::{self, Config, Story, Truth};
use irp::query::backend::local::{LocalEngine, Options, QueryError};

use crate::common::{run, stderr, stdout};

fn lake(dir: &Path) -> Truth {
    let cfg = Config {
        scenario: Story::S3Exfiltration,
        days: 3,
        events: 20_000,
        seed: 9,
        regions: vec!["us-east-1".into()],
        accounts: vec!["111122223333".into()],
        end: chrono::NaiveDate::from_ymd_opt(2026, 11, 27).unwrap(),
        threads: 2,
    };
    generate::generate(dir, &cfg, &|_, _| {}).unwrap().truth
}

/// One generated lake for the tests that only read it (generating is the slow part).
/// It lives in cargo's test scratch folder (statics are never dropped, so a temporary folder
/// would outlive the run) and is made anew by each run.
pub(crate) fn shared_lake() -> (&'static Path, &'static Truth) {
    static LAKE: std::sync::OnceLock<(std::path::PathBuf, Truth)> = std::sync::OnceLock::new();
    let (dir, truth) = LAKE.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("query-shared-lake");
        let _ = std::fs::remove_dir_all(&dir);
        let truth = lake(&dir);
        (dir, truth)
    });
    (dir, truth)
}

pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Runs a query and returns its rows as JSON objects.
pub(crate) async fn rows(engine: &LocalEngine, sql: &str) -> Result<Vec<serde_json::Value>, QueryError> {
    let mut stream = engine.execute(sql).await?;
    let mut out = Vec::new();
    while let Some(batch) = stream.next().await {
        let batch = batch.map_err(|e| engine.stream_error(&e))?;
        out.extend(json_rows(&batch));
    }
    Ok(out)
}

/// A batch's rows as JSON objects (NULL values left out, as Arrow's JSON writer does).
pub(crate) fn json_rows(batch: &datafusion::arrow::record_batch::RecordBatch) -> Vec<serde_json::Value> {
    let mut buf = Vec::new();
    let mut w = datafusion::arrow::json::ArrayWriter::new(&mut buf);
    w.write(batch).unwrap();
    w.finish().unwrap();
    if buf.is_empty() {
        return Vec::new();
    }
    serde_json::from_slice(&buf).unwrap()
}

pub(crate) const DB: &str = "amazon_security_lake_glue_db_us_east_1";
pub(crate) const S3: &str = "amazon_security_lake_table_us_east_1_s3_data_2_0";

#[test]
fn tables_answer_to_security_lakes_names_and_match_the_truth() {
    let (dir, truth) = shared_lake();
    let inc = truth.incident_details.clone().unwrap();
    runtime().block_on(async {
        let engine = LocalEngine::open(dir, Options::default()).await.unwrap();
        assert_eq!(engine.tables.len(), 8, "{:?}", engine.tables);
        // The same count through every spelling Athena accepts.
        let forms = [
            format!("\"{DB}\".\"{S3}\""),
            format!("{DB}.{S3}"),
            format!("awsdatacatalog.{DB}.{S3}"),
            format!("\"awsdatacatalog\".\"{DB}\".\"{S3}\""),
            S3.to_owned(),
        ];
        let mut counts = Vec::new();
        for form in &forms {
            let r = rows(&engine, &format!("SELECT count(*) AS n FROM {form}")).await.unwrap();
            counts.push(r[0]["n"].as_u64().unwrap());
        }
        assert!(counts.iter().all(|c| *c == counts[0] && *c > 0), "{counts:?}");
        // Partition columns are columns, and filter.
        let r = rows(&engine, &format!("SELECT region, accountid, count(*) AS n FROM {S3} GROUP BY 1, 2")).await.unwrap();
        assert_eq!(r.len(), 1);
        assert_eq!(r[0]["accountid"], "111122223333");
        assert_eq!(r[0]["region"], "us-east-1");
        let days = rows(&engine, &format!("SELECT eventday, count(*) AS n FROM {S3} GROUP BY 1 ORDER BY 1")).await.unwrap();
        assert_eq!(days.len(), 3);
        let one = rows(&engine, &format!("SELECT count(*) AS n FROM {S3} WHERE eventday = '20261126'")).await.unwrap();
        assert_eq!(one[0]["n"], days[1]["n"]);
        // A time_dt bound gives the rows of that window.
        let window = rows(
            &engine,
            &format!("SELECT count(*) AS n FROM {S3} WHERE time_dt >= TIMESTAMP '2026-11-26 00:00:00' AND time_dt < TIMESTAMP '2026-11-27 00:00:00'"),
        )
        .await
        .unwrap();
        assert_eq!(window[0]["n"], days[1]["n"]);
        // The attacker's reads, found by IP, are the truth's.
        let reads = rows(
            &engine,
            &format!(
                "SELECT api.operation AS op, count(*) AS n FROM {S3} WHERE src_endpoint.ip = '{}' GROUP BY 1 ORDER BY 1",
                inc.ips[0]
            ),
        )
        .await
        .unwrap();
        let found: std::collections::BTreeMap<String, u64> =
            reads.iter().map(|r| (r["op"].as_str().unwrap().to_owned(), r["n"].as_u64().unwrap())).collect();
        assert_eq!(found["GetObject"], inc.operations["GetObject"]);
        assert_eq!(found["ListObjects"], inc.operations["ListObjects"]);
        // An unknown table is an error that names it, not an empty answer.
        let err = rows(&engine, "SELECT 1 FROM amazon_security_lake_table_us_east_1_nope_2_0").await.unwrap_err();
        assert!(err.to_string().contains("amazon_security_lake_table_us_east_1_nope_2_0"), "{err}");
    });
}

/// A torn file in the lake (an interrupted copy, a full disk) is named when the engine opens, with
/// what to do; `DataFusion` alone says only "Corrupt footer".
#[test]
fn a_torn_parquet_file_is_named_when_the_lake_opens() {
    let dir = tempfile::tempdir().unwrap();
    lake(dir.path());
    let day = dir
        .path()
        .join("s3_data/region=us-east-1/accountid=111122223333/eventday=20261126");
    let file = std::fs::read_dir(&day).unwrap().flatten().next().unwrap().path();
    let bytes = std::fs::read(&file).unwrap();
    std::fs::write(&file, &bytes[..bytes.len() / 2]).unwrap();
    let err = runtime()
        .block_on(LocalEngine::open(dir.path(), Options::default()))
        .unwrap_err()
        .to_string();
    assert!(err.contains(&file.display().to_string()), "{err}");
    assert!(
        err.contains("not a readable Parquet file") && err.contains("move it out of the lake"),
        "{err}"
    );
}

#[test]
fn a_query_over_the_memory_limit_fails_clearly() {
    let (dir, _) = shared_lake();
    runtime().block_on(async {
        let options = Options {
            memory_limit: 1 << 20,
            ..Options::default()
        };
        let engine = LocalEngine::open(dir, options).await.unwrap();
        let err = rows(
            &engine,
            &format!("SELECT api.request.data, count(*) FROM {S3} GROUP BY 1 ORDER BY 2 DESC"),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, QueryError::Memory { limit_mb: 1, .. }), "{err}");
    });
}

#[test]
fn irp_query_streams_rows_as_csv_and_json() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("lake");
    let truth = lake(&dir);
    let ip = &truth.incident_details.unwrap().ips[0];
    let sql = format!(
        "SELECT api.operation AS op, count(*) AS n FROM \"{DB}\".\"{S3}\" WHERE src_endpoint.ip = '{ip}' GROUP BY 1 ORDER BY 1"
    );
    let out = run(&["query", "--lake", dir.to_str().unwrap(), "--format", "csv", &sql]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).lines().next(), Some("op,n"));
    assert!(stdout(&out).contains("GetObject,"), "{}", stdout(&out));
    let out = run(&["query", "--lake", dir.to_str().unwrap(), "--format", "json", &sql]);
    let first: serde_json::Value = serde_json::from_str(stdout(&out).lines().next().unwrap()).unwrap();
    assert_eq!(first["op"], "GetObject");
    assert!(stderr(&out).contains("2 rows"), "{}", stderr(&out));
    let out = run(&[
        "query",
        "--lake",
        tmp.path().join("none").to_str().unwrap(),
        "SELECT 1",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("is not a lake"), "{}", stderr(&out));
    let out = run(&[
        "query",
        "--lake",
        dir.to_str().unwrap(),
        "--memory-mb",
        "18446744073709551615",
        "SELECT 1",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("more memory than this machine can address"),
        "{}",
        stderr(&out)
    );
    let out = run(&["query", "--lake", dir.to_str().unwrap(), "SELEC 1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("error"), "{}", stderr(&out));
}

#[test]
fn irp_query_writes_whole_parquet_files_and_ctrl_c_cancels_within_a_second() {
    let (dir, _) = shared_lake();
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("result.parquet");
    let sql =
        format!("SELECT resources, time_dt, api.operation AS op FROM {S3} WHERE api.operation = 'GetObject'");
    let out = run(&[
        "query",
        "--lake",
        dir.to_str().unwrap(),
        "--format",
        "parquet",
        "--output",
        file.to_str().unwrap(),
        &sql,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
        std::fs::File::open(&file).unwrap(),
    )
    .unwrap();
    let schema = reader.schema().clone();
    assert!(
        matches!(
            schema.field_with_name("resources").unwrap().data_type(),
            datafusion::arrow::datatypes::DataType::List(_)
        ),
        "nested values keep their type: {schema:?}"
    );
    let rows: usize = reader.build().unwrap().map(|b| b.unwrap().num_rows()).sum();
    let expected = runtime().block_on(async {
        let engine = LocalEngine::open(dir, Options::default()).await.unwrap();
        rows_of(
            &engine,
            &format!("SELECT count(*) AS n FROM {S3} WHERE api.operation = 'GetObject'"),
        )
        .await
    });
    assert_eq!(rows as u64, expected);
    assert!(
        stderr(&out).contains(&format!("{rows} rows in ")),
        "{}",
        stderr(&out)
    );
    // A file in a folder that does not exist: an error that says where, before the query runs.
    let out = run(&[
        "query",
        "--lake",
        dir.to_str().unwrap(),
        "-o",
        tmp.path().join("no/such/folder/r.csv").to_str().unwrap(),
        "SELECT 1",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("cannot write") && stderr(&out).contains("no/such/folder"),
        "{}",
        stderr(&out)
    );
    // A query that fails leaves no file (and no partial one) behind.
    let bad = tmp.path().join("bad.csv");
    let out = run(&[
        "query",
        "--lake",
        dir.to_str().unwrap(),
        "--format",
        "csv",
        "-o",
        bad.to_str().unwrap(),
        "SELECT nope FROM x",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        std::fs::read_dir(tmp.path()).unwrap().count(),
        1,
        "only result.parquet"
    );
    // Parquet is binary: not onto a terminal, and otherwise it needs a file or a pipe (tested
    // here through the pipe: standard output is not a terminal under the test).
    let out = run(&[
        "query",
        "--lake",
        dir.to_str().unwrap(),
        "--format",
        "parquet",
        "SELECT 1 AS x",
    ]);
    assert!(out.status.success());
    assert!(out.stdout.starts_with(b"PAR1") && out.stdout.ends_with(b"PAR1"));

    // Ctrl-C: a query that would run for minutes stops within a second of SIGINT.
    let mut child = crate::common::irp()
        .args([
            "query",
            "--lake",
            dir.to_str().unwrap(),
            &format!("SELECT count(*) AS n FROM {S3} a CROSS JOIN {S3} b WHERE a.time < b.time AND a.api.operation <> b.api.operation"),
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert!(child.try_wait().unwrap().is_none(), "the query is still running");
    let sent = std::time::Instant::now();
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    let took = sent.elapsed();
    assert!(
        took < std::time::Duration::from_secs(1),
        "stopped {took:?} after Ctrl-C"
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("the query was cancelled"),
        "{}",
        stderr(&out)
    );
}

pub(crate) async fn rows_of(engine: &LocalEngine, sql: &str) -> u64 {
    rows(engine, sql).await.unwrap()[0]["n"].as_u64().unwrap()
}

/// `irp run --backend local --lake`: the playbook's query runs on the lake, its result becomes
/// a Parquet artifact the journal vouches for, and the suggestion follows the data.
fn run_drill(scenario: Story) -> (tempfile::TempDir, String) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("lake");
    let cfg = Config {
        scenario,
        days: 3,
        events: 20_000,
        seed: 4,
        regions: vec!["us-east-1".into()],
        accounts: vec!["111122223333".into()],
        end: chrono::NaiveDate::from_ymd_opt(2026, 11, 27).unwrap(),
        threads: 2,
    };
    generate::generate(&dir, &cfg, &|_, _| {}).unwrap();
    let case = tmp.path().join("case");
    let out = crate::common::irp()
        .env("IRP_NOW", "2026-11-28T00:00:00Z")
        .args(["run", "tests/fixtures/cases/lake-drill.yaml", "--case-dir"])
        .arg(&case)
        .args(["--backend", "local", "--lake"])
        .arg(&dir)
        .args([
            "--headless",
            "--answers",
            "tests/fixtures/cases/lake-drill.answers.yaml",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let verify = run(&["verify", case.to_str().unwrap()]);
    assert!(verify.status.success(), "{}", stderr(&verify));
    (tmp, stdout(&out))
}

#[test]
fn a_playbook_query_runs_on_the_lake_and_the_suggestion_follows_the_data() {
    let (tmp, out) = run_drill(Story::S3Exfiltration);
    assert!(out.contains("chose `incident` (suggested)"), "{out}");
    let scan = irp::journal::store::read(&tmp.path().join("case/journal.jsonl")).unwrap();
    let q = scan
        .entries
        .iter()
        .find_map(|e| match &e.event {
            irp::engine::Event::QuerySucceeded(q) => Some(q.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(q.captures["bulk_ips"], serde_json::json!(["185.220.101.47"]));
    let art = q.artifact.unwrap();
    assert!(art.path.ends_with("-bulk-readers.parquet"));
    assert!(tmp.path().join("case").join(&art.path).is_file());
    let (_tmp, out) = run_drill(Story::Benign);
    assert!(out.contains("chose `benign` (suggested)"), "{out}");
}

#[test]
fn json_extract_scalar_and_json_extract_follow_trino() {
    let (dir, truth) = shared_lake();
    let inc = truth.incident_details.clone().unwrap();
    runtime().block_on(async {
        let engine = LocalEngine::open(dir, Options::default()).await.unwrap();
        let doc = r#"'{"a":{"b":[1,{"c":"x"}],"n":42,"t":true,"o":{"k":1},"sp ace":"y"}}'"#;
        let cases = [
            ("json_extract_scalar", "$.a.b[1].c", serde_json::json!("x")),
            ("json_extract_scalar", "$.a.n", serde_json::json!("42")),
            ("json_extract_scalar", "$.a.t", serde_json::json!("true")),
            ("json_extract_scalar", "$.a.o", serde_json::Value::Null),
            ("json_extract_scalar", "$.a.missing", serde_json::Value::Null),
            ("json_extract_scalar", "$.a[\"sp ace\"]", serde_json::json!("y")),
            ("json_extract", "$.a.o", serde_json::json!("{\"k\":1}")),
            ("json_extract", "$.a.b[0]", serde_json::json!("1")),
        ];
        for (f, path, want) in cases {
            let r = rows(&engine, &format!("SELECT {f}({doc}, '{path}') AS v")).await.unwrap();
            assert_eq!(r[0].get("v").cloned().unwrap_or(serde_json::Value::Null), want, "{f}({path})");
        }
        let r = rows(&engine, "SELECT json_extract_scalar('not json', '$.a') AS v").await.unwrap();
        assert_eq!(r[0].get("v"), None, "invalid JSON gives NULL");
        let err = rows(&engine, "SELECT json_extract_scalar('{}', 'a.b') AS v").await.unwrap_err();
        assert!(err.to_string().contains("`a.b` is not a JSON path"), "{err}");
        // The same in a WHERE, where the comparison runs behind the substring prefilter.
        let err = rows(
            &engine,
            "SELECT count(*) AS n FROM (VALUES ('{}')) AS t(j) WHERE json_extract_scalar(j, 'a.b') = 'x'",
        )
        .await
        .unwrap_err();
        assert!(err.to_string().contains("`a.b` is not a JSON path"), "{err}");
        // On the lake: the attacker's reads of the bucket, found through the request parameters.
        let r = rows(
            &engine,
            &format!(
                "SELECT count(*) AS n FROM {S3} WHERE api.operation = 'GetObject' AND json_extract_scalar(api.request.data, '$.bucketName') = '{}' AND src_endpoint.ip = '{}'",
                inc.bucket, inc.ips[0]
            ),
        )
        .await
        .unwrap();
        assert_eq!(r[0]["n"].as_u64(), Some(inc.operations["GetObject"]));
    });
}

#[test]
fn struct_fields_are_read_at_any_depth_including_user() {
    let (dir, truth) = shared_lake();
    let inc = truth.incident_details.clone().unwrap();
    runtime().block_on(async {
        let engine = LocalEngine::open(dir, Options::default()).await.unwrap();
        let r = rows(
            &engine,
            &format!(
                "SELECT t.actor.user.uid AS principal, actor.user.account.uid AS account, count(*) AS n \
                 FROM \"{DB}\".\"{S3}\" t WHERE actor.user.credential_uid = '{}' AND src_endpoint.ip = '{}' GROUP BY 1, 2",
                inc.access_key_id, inc.ips[0]
            ),
        )
        .await
        .unwrap();
        assert_eq!(r.len(), 1, "{r:?}");
        assert_eq!(r[0]["principal"], inc.principal.as_str());
        assert_eq!(r[0]["account"], inc.bucket_account.as_str());
    });
}

#[test]
fn count_if_is_rewritten_on_the_syntax_tree_and_literals_stay_literals() {
    let (dir, truth) = shared_lake();
    let inc = truth.incident_details.clone().unwrap();
    runtime().block_on(async {
        let engine = LocalEngine::open(dir, Options::default()).await.unwrap();
        let r = rows(
            &engine,
            &format!(
                "SELECT src_endpoint.ip AS ip, count_if(api.operation = 'GetObject') AS gets, \
                 count_if(api.operation IN ('ListObjects', 'ListObjectsV2')) AS lists \
                 FROM {S3} GROUP BY 1 HAVING count_if(api.operation = 'GetObject') >= 1000 ORDER BY 2 DESC"
            ),
        )
        .await
        .unwrap();
        let attacker = r
            .iter()
            .find(|x| x["ip"] == inc.ips[0].as_str())
            .expect("the attacker's IP is a burst");
        assert_eq!(attacker["gets"].as_u64(), Some(inc.operations["GetObject"]));
        assert_eq!(attacker["lists"].as_u64(), Some(inc.operations["ListObjects"]));
        // A hostile string inside the condition is compared as a string, nothing more.
        let r = rows(
            &engine,
            &format!("SELECT count_if(src_endpoint.ip = 'x''); DROP TABLE t; -- count_if(') AS n FROM {S3}"),
        )
        .await
        .unwrap();
        assert_eq!(r[0]["n"], 0);
        let err = rows(&engine, &format!("SELECT count_if(a, b) FROM {S3}"))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("count_if takes one condition"), "{err}");
    });
}

#[test]
fn element_at_follows_trino_on_maps_and_arrays() {
    let (dir, _) = shared_lake();
    runtime().block_on(async {
        let engine = LocalEngine::open(dir, Options::default()).await.unwrap();
        let r = rows(
            &engine,
            &format!(
                "SELECT element_at(unmapped, 'readOnly') AS ro, element_at(unmapped, 'no such key') AS missing, \
                 get_field(element_at(resources, 1), 'type') AS first, get_field(element_at(resources, -1), 'type') AS last, \
                 element_at(resources, 9) AS beyond, element_at(resources, 0) AS zero, \
                 TRY_CAST(element_at(unmapped, 'additionalEventData.bytesTransferredOut') AS double) AS bytes \
                 FROM {S3} WHERE api.operation = 'GetObject' LIMIT 1"
            ),
        )
        .await
        .unwrap();
        let row = &r[0];
        assert!(row["ro"] == "true" || row["ro"] == "false", "{row}");
        assert_eq!(row.get("missing"), None, "a missing key is NULL");
        assert_eq!(row["first"], "AWS::S3::Object");
        assert_eq!(row["last"], "AWS::S3::Bucket");
        assert_eq!(row.get("beyond"), None, "out of range is NULL");
        assert_eq!(row.get("zero"), None);
        assert!(row["bytes"].as_f64().is_some_and(|b| b > 0.0), "{row}");
        // Fields of a function's result, any depth, as Athena writes them.
        let r = rows(
            &engine,
            &format!(
                "SELECT element_at(resources, -1).type AS last, element_at(resources, -1).owner.account.uid AS owner \
                 FROM {S3} WHERE api.operation = 'GetObject' LIMIT 1"
            ),
        )
        .await
        .unwrap();
        assert_eq!(r[0]["last"], "AWS::S3::Bucket");
        assert_eq!(r[0]["owner"], "111122223333");
    });
    // CSV cannot hold a struct: an error that says so, not missing rows.
    let out = run(&[
        "query",
        "--lake",
        dir.to_str().unwrap(),
        "--format",
        "csv",
        &format!("SELECT element_at(resources, 1) AS r FROM {S3} LIMIT 1"),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("CSV cannot hold this result"),
        "{}",
        stderr(&out)
    );
}

/// Runs the shipped S3 playbook headless on a generated lake, with the bucket's expected readers
/// (from the truth) as `known_principals`. Returns the truth, the captures, the case folder and
/// the run's output.
fn run_s3_playbook(
    scenario: Story,
    tmp: &Path,
    with_known: bool,
    seed: u64,
) -> (
    Truth,
    std::collections::BTreeMap<String, serde_json::Value>,
    std::path::PathBuf,
    String,
) {
    let dir = tmp.join("lake");
    let cfg = Config {
        scenario,
        days: 7,
        events: 60_000,
        seed,
        regions: vec!["us-east-1".into()],
        accounts: vec!["111122223333".into()],
        end: chrono::NaiveDate::from_ymd_opt(2026, 11, 27).unwrap(),
        threads: 2,
    };
    let truth = generate::generate(&dir, &cfg, &|_, _| {}).unwrap().truth;
    let known = truth.known_readers["acme-customer-exports"].join(",");
    assert!(!known.is_empty());
    let known = if with_known { known } else { String::new() };
    let case = tmp.join("case");
    let out = crate::common::irp()
        .env("IRP_NOW", "2026-11-28T00:00:00Z")
        .args(["run", "playbooks/s3-unintended-data-access.yaml", "--case-dir"])
        .arg(&case)
        .arg("--lake")
        .arg(&dir)
        .args([
            "-i",
            "bucket=acme-customer-exports",
            "-i",
            "bucket_account=111122223333",
        ])
        .args([
            "-i",
            "region=us-east-1",
            "-i",
            &format!("known_principals={known}"),
        ])
        .args([
            "--headless",
            "--answers",
            "tests/fixtures/cases/s3-lake.answers.yaml",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let scan = irp::journal::store::read(&case.join("journal.jsonl")).unwrap();
    assert_eq!(
        scan.entries
            .iter()
            .filter(|e| e.event.kind() == "query_failed")
            .count(),
        0,
        "every query runs on the engine: {}",
        stdout(&out)
    );
    let captures = captures_of(&scan);
    assert!(run(&["verify", case.to_str().unwrap()]).status.success());
    (truth, captures, case, stdout(&out))
}

/// Every capture the case's succeeded queries made.
pub(crate) fn captures_of<C: FromIterator<(String, serde_json::Value)>>(scan: &irp::journal::Scan) -> C {
    scan.entries
        .iter()
        .filter_map(|e| match &e.event {
            irp::engine::Event::QuerySucceeded(q) => Some(q.captures.clone()),
            _ => None,
        })
        .flatten()
        .collect()
}

/// The rows of a result artifact the case wrote for a step.
fn artifact_rows(case: &Path, step: &str) -> Vec<serde_json::Value> {
    let dir = case.join("artifacts");
    let file = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().ends_with(&format!("-{step}.parquet")))
        .unwrap_or_else(|| panic!("no artifact for {step} in {}", dir.display()));
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
        std::fs::File::open(file).unwrap(),
    )
    .unwrap()
    .build()
    .unwrap();
    reader.flat_map(|batch| json_rows(&batch.unwrap())).collect()
}

#[test]
fn the_s3_playbook_finds_the_injected_incident_on_a_generated_lake() {
    let tmp = tempfile::tempdir().unwrap();
    let (truth, captures, case, out) = run_s3_playbook(Story::S3Exfiltration, tmp.path(), true, 3);
    let inc = truth.incident_details.unwrap();
    // The principal, the credential, the IPs: exactly the injected ones, nothing else.
    assert_eq!(
        captures["unknown_principals"],
        serde_json::json!([inc.principal]),
        "{out}"
    );
    assert_eq!(captures["suspect_keys"], serde_json::json!([inc.access_key_id]));
    assert_eq!(captures["suspect_ips"], serde_json::json!(inc.ips));
    assert_eq!(captures["suspect_user_names"], serde_json::json!([inc.user_name]));
    assert_eq!(
        captures["stolen_user_keys"],
        serde_json::json!([{ "principal_name": inc.user_name, "access_key": inc.access_key_id }])
    );
    assert_eq!(captures["unknown_accounts"], serde_json::json!([]));
    // The bulk read and the policy that grants the external account.
    assert!(captures["burst_minutes"].as_u64().unwrap() >= 1, "{captures:?}");
    assert_eq!(
        captures["exposure_changes"], 1,
        "only the attacker's Allow policy, not the TLS-only ones"
    );
    assert!(
        out.contains("principal-known              chose `unknown` (suggested)"),
        "{out}"
    );
    // The window: the suspect credential's activity starts with the first malicious event and
    // ends with the last.
    let activity = artifact_rows(&case, "suspect-activity");
    let attacker: Vec<&serde_json::Value> = activity
        .iter()
        .filter(|r| r["ip"] == inc.ips[0].as_str())
        .collect();
    let first = attacker.first().expect("the attacker's events");
    assert_eq!(first["operation"], inc.first_event.operation.as_str());
    assert_eq!(
        first["time_dt"].as_str().unwrap()[..19],
        inc.first_event.time[..19]
    );
    assert_eq!(first["time_dt"].as_str().unwrap()[..19], inc.window_start[..19]);
    assert!(attacker.last().unwrap()["time_dt"].as_str().unwrap()[..19] <= inc.window_end[..19]);
    let gets = attacker.iter().filter(|r| r["operation"] == "GetObject").count() as u64;
    assert_eq!(gets, inc.operations["GetObject"]);
    let policy = artifact_rows(&case, "access-control-changes");
    let exposing: Vec<&serde_json::Value> = policy.iter().filter(|r| r["may_expose"] == true).collect();
    assert_eq!(exposing.len(), 1);
    assert!(
        exposing[0]["request"]
            .as_str()
            .unwrap()
            .contains(&inc.external_account)
    );
}

/// The README's rehearsal: no `known_principals`, so every reader is unknown and NULL columns
/// (the role of an IAM user) reach the capture expressions as `none`.
#[test]
fn the_s3_playbook_runs_without_known_principals() {
    let tmp = tempfile::tempdir().unwrap();
    let (truth, captures, case, out) = run_s3_playbook(Story::S3Exfiltration, tmp.path(), false, 1);
    let inc = truth.incident_details.unwrap();
    let readers = artifact_rows(&case, "reads-by-principal");
    assert!(
        readers.iter().any(|r| r.get("principal").is_none()),
        "this lake has reads by AWS services, whose principal is NULL: {readers:?}"
    );
    let unknown = captures["unknown_principals"].as_array().unwrap();
    assert!(
        unknown.len() > 1 && unknown.contains(&serde_json::json!(inc.principal)),
        "{out}"
    );
    assert!(
        out.contains("principal-known              chose `unknown` (suggested)"),
        "{out}"
    );
}

#[test]
fn the_s3_playbook_finds_nothing_on_a_benign_lake() {
    let tmp = tempfile::tempdir().unwrap();
    let (truth, captures, _, out) = run_s3_playbook(Story::Benign, tmp.path(), true, 3);
    assert!(truth.incident_details.is_none());
    assert_eq!(captures["unknown_principals"], serde_json::json!([]), "{out}");
    assert_eq!(captures["unknown_accounts"], serde_json::json!([]));
    assert_eq!(captures["suspect_keys"], serde_json::json!([]));
    assert_eq!(captures["burst_minutes"], 0);
    assert_eq!(captures["exposure_changes"], 0);
    assert_eq!(captures["anonymous_reads"], 0);
    assert!(
        out.contains("principal-known              chose `all-known` (suggested)"),
        "{out}"
    );
    assert!(
        out.contains("benign-cause                 chose `benign` (suggested)"),
        "{out}"
    );
    assert!(
        !out.contains("suspect-activity"),
        "the case closes without a suspect: {out}"
    );
}

#[test]
fn regexp_extract_follows_trino() {
    let (dir, _) = shared_lake();
    runtime().block_on(async {
        let engine = LocalEngine::open(dir, Options::default()).await.unwrap();
        let r = rows(
            &engine,
            "SELECT regexp_extract('aws-cli/2.13.25 Python/3.11.5', '^([a-z-]+)/([0-9.]+)', 2) AS v, \
             regexp_extract('aws-cli/2.13.25', '[0-9]+') AS first, regexp_extract('none', '[0-9]+') AS missing",
        )
        .await
        .unwrap();
        assert_eq!(r[0]["v"], "2.13.25");
        assert_eq!(r[0]["first"], "2");
        assert_eq!(r[0].get("missing"), None, "no match is NULL");
        let err = rows(&engine, "SELECT regexp_extract('a', '(a)', 2)").await.unwrap_err();
        assert!(err.to_string().contains("has no group 2"), "{err}");
        let err = rows(&engine, "SELECT regexp_extract('ab', '(?<=a)b')").await.unwrap_err();
        assert!(err.to_string().contains("is not a pattern this engine supports"), "{err}");
        let r = rows(
            &engine,
            &format!("SELECT count(*) AS n FROM {S3} WHERE regexp_extract(http_request.user_agent, '^(aws-cli)/') = 'aws-cli/'"),
        )
        .await
        .unwrap();
        assert!(r[0]["n"].as_u64().unwrap() > 0);
    });
}

/// Trino's `regexp_extract_all`: every match (or group) as an array; empty when nothing
/// matches; NULL for NULL. As a bucket policy's outside accounts are read.
#[test]
fn regexp_extract_all_follows_trino() {
    let (dir, _) = shared_lake();
    runtime().block_on(async {
        let engine = LocalEngine::open(dir, Options::default()).await.unwrap();
        let policy = r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::999988887777:root","arn:aws:iam::444455556666:role/r"]}}]}"#;
        let r = rows(
            &engine,
            &format!(
                "SELECT regexp_extract_all('{policy}', 'arn:aws:iam::([0-9]{{12}}):', 1) AS accounts, \
                 cardinality(regexp_extract_all('none', '[0-9]+')) AS none, \
                 regexp_extract_all(CAST(NULL AS varchar), '[0-9]+') AS null_in, \
                 array_join(regexp_extract_all('a1b22c333', '[0-9]+'), ',') AS joined"
            ),
        )
        .await
        .unwrap();
        assert_eq!(r[0]["accounts"], serde_json::json!(["999988887777", "444455556666"]));
        assert_eq!(r[0]["none"], 0);
        assert_eq!(r[0].get("null_in"), None, "NULL in, NULL out");
        assert_eq!(r[0]["joined"], "1,22,333");
        let err = rows(&engine, "SELECT regexp_extract_all('a', '(a)', 2)").await.unwrap_err();
        assert!(err.to_string().contains("regexp_extract_all: `(a)` has no group 2"), "{err}");
    });
}

#[test]
fn date_add_follows_trino() {
    let (dir, _) = shared_lake();
    runtime().block_on(async {
        let engine = LocalEngine::open(dir, Options::default()).await.unwrap();
        let r = rows(
            &engine,
            "SELECT CAST(date_add('day', -1, TIMESTAMP '2026-03-01 10:00:00') AS VARCHAR) AS a, \
             CAST(date_add('month', 1, TIMESTAMP '2026-01-31 00:00:00') AS VARCHAR) AS b, \
             CAST(date_add('year', -1, TIMESTAMP '2024-02-29 00:00:00') AS VARCHAR) AS c, \
             CAST(date_add('minute', 90, TIMESTAMP '2026-11-27 23:00:00') AS VARCHAR) AS d",
        )
        .await
        .unwrap();
        assert_eq!(r[0]["a"], "2026-02-28T10:00:00");
        assert_eq!(r[0]["b"], "2026-02-28T00:00:00", "the day of month is clamped, as in Trino");
        assert_eq!(r[0]["c"], "2023-02-28T00:00:00");
        assert_eq!(r[0]["d"], "2026-11-28T00:30:00");
        // On the lake's timestamp column, in a window bound.
        let day = rows(&engine, &format!("SELECT count(*) AS n FROM {S3} WHERE eventday = '20261126'")).await.unwrap();
        let bound = rows(
            &engine,
            &format!(
                "SELECT count(*) AS n FROM {S3} WHERE time_dt >= date_add('day', -1, TIMESTAMP '2026-11-27 00:00:00') \
                 AND time_dt < TIMESTAMP '2026-11-27 00:00:00'"
            ),
        )
        .await
        .unwrap();
        assert_eq!(day[0]["n"], bound[0]["n"]);
        let err = rows(&engine, "SELECT date_add('fortnight', 1, TIMESTAMP '2026-01-01 00:00:00')").await.unwrap_err();
        assert!(err.to_string().contains("`fortnight` is not a unit"), "{err}");
    });
}

#[test]
fn from_iso8601_timestamp_follows_trino() {
    let (dir, _) = shared_lake();
    runtime().block_on(async {
        let engine = LocalEngine::open(dir, Options::default()).await.unwrap();
        let r = rows(
            &engine,
            "SELECT CAST(from_iso8601_timestamp('2026-11-25T04:13:07.500+02:00') AS VARCHAR) AS offset, \
             CAST(from_iso8601_timestamp('2026-11-25') AS VARCHAR) AS day",
        )
        .await
        .unwrap();
        assert_eq!(r[0]["offset"], "2026-11-25T02:13:07.500Z");
        assert_eq!(r[0]["day"], "2026-11-25T00:00:00Z");
        let window = rows(
            &engine,
            &format!("SELECT count(*) AS n FROM {S3} WHERE time_dt >= from_iso8601_timestamp('2026-11-27T00:00:00Z')"),
        )
        .await
        .unwrap();
        let day = rows(&engine, &format!("SELECT count(*) AS n FROM {S3} WHERE eventday = '20261127'")).await.unwrap();
        assert_eq!(window[0]["n"], day[0]["n"]);
        let err = rows(&engine, "SELECT from_iso8601_timestamp('yesterday')").await.unwrap_err();
        assert!(err.to_string().contains("`yesterday` is not an ISO 8601 timestamp"), "{err}");
    });
}

/// The engine's reads of Parquet byte ranges: the bytes asked for, in order; a range past the
/// end of a file (a file cut short after the engine read its footer) and a missing file are
/// errors that name the file, never short or padded data.
#[test]
fn the_lakes_byte_ranges_are_read_whole_or_fail_naming_the_file() {
    use datafusion::object_store::ObjectStore;
    use datafusion::object_store::path::Path as StorePath;

    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("part.parquet");
    let data: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
    std::fs::write(&file, &data).unwrap();
    let store = irp::query::backend::files::LakeFiles::new();
    let location = StorePath::from_filesystem_path(&file).unwrap();
    let rt = runtime();
    let got = rt
        .block_on(store.get_ranges(&location, &[5..9, 0..0, 9_000..10_000, 300..301]))
        .unwrap();
    assert_eq!(got[0].as_ref(), &data[5..9]);
    assert!(got[1].is_empty());
    assert_eq!(got[2].as_ref(), &data[9_000..10_000]);
    assert_eq!(got[3].as_ref(), &data[300..301]);

    let past = rt
        .block_on(store.get_ranges(&location, std::slice::from_ref(&(9_990..10_010))))
        .unwrap_err();
    assert!(past.to_string().contains("part.parquet"), "{past}");
    let huge = rt
        .block_on(store.get_ranges(&location, std::slice::from_ref(&(0..u64::MAX))))
        .unwrap_err();
    assert!(huge.to_string().contains("10000 bytes"), "{huge}");

    let missing = StorePath::from_absolute_path(tmp.path().join("gone.parquet")).unwrap();
    let err = rt
        .block_on(store.get_ranges(&missing, std::slice::from_ref(&(0..1))))
        .unwrap_err();
    assert!(
        matches!(err, datafusion::object_store::Error::NotFound { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("gone.parquet"), "{err}");
}
