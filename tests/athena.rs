//! The Athena backend against moto's server mode on loopback (started by `scripts/test`, which
//! sets `IRP_MOTO_ENDPOINT`). Results are injected with moto's own API
//! (`/moto-api/static/athena/query-results`, a FIFO per account and region, one entry per
//! started query) and query states slowed with its state manager. Where moto 5.2.5 lacks an
//! Athena behaviour — paging, FAILED, the client request token, bytes scanned — the launcher
//! `scripts/moto_server.py` patches moto's own backend; the tests that rely on a patch say so.
//!
//! moto's queues and state manager are shared by the whole server, so these tests take a lock
//! and each uses a region of its own.

#![allow(clippy::cast_sign_loss, clippy::cast_precision_loss, clippy::float_cmp)]

use std::io::{Read, Write};
use std::sync::atomic::AtomicBool;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use irp::query::backend::athena::{Athena, AthenaSettings};
use serde_json::{Value, json};

use crate::common::{irp, required_tool, stderr, stdout};

static MOTO: Mutex<()> = Mutex::new(());

/// moto's endpoint and the lock on its shared state, or `None` (skipped loudly; a failure
/// under CI).
pub(crate) fn moto() -> Option<(String, MutexGuard<'static, ()>)> {
    let endpoint = required_tool("IRP_MOTO_ENDPOINT", "moto's server")?;
    let guard = MOTO.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    Some((endpoint, guard))
}

/// As `moto`, for tests that call the library in this process: its AWS credentials come from
/// the environment, which `scripts/test` sets.
pub(crate) fn moto_for_library() -> Option<(String, MutexGuard<'static, ()>)> {
    let found = moto()?;
    assert!(
        std::env::var("AWS_ACCESS_KEY_ID").is_ok(),
        "scripts/test sets AWS_ACCESS_KEY_ID for moto; set it (any value) to run this test by hand"
    );
    Some(found)
}

/// A plain HTTP/1.1 request to moto (its control API, or an Athena call moto does not check
/// the signature of). Returns the status and the body.
pub(crate) fn http(endpoint: &str, path: &str, headers: &[(&str, &str)], body: &str) -> (u16, String) {
    let host = endpoint.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(host).unwrap();
    let mut req = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    let status = resp.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = resp
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// Queues result sets for the next queries started in `region` (header row included).
fn inject(endpoint: &str, region: &str, results: &[Value]) {
    let body = json!({ "account_id": "123456789012", "region": region, "results": results });
    let (status, text) = http(
        endpoint,
        "/moto-api/static/athena/query-results",
        &[],
        &body.to_string(),
    );
    assert_eq!(status, 201, "moto refused the results: {text}");
}

/// Queues the lake-drill playbook's result for the next query in `region`: two bulk readers,
/// 203.0.113.9 (4,210 reads) and 198.51.100.7 (733).
pub(crate) fn inject_bulk_readers(endpoint: &str, region: &str) {
    let rows = vec![
        vec![Some("203.0.113.9".to_owned()), Some("4210".to_owned())],
        vec![Some("198.51.100.7".to_owned()), Some("733".to_owned())],
    ];
    inject(
        endpoint,
        region,
        &[result(&[("ip", "varchar"), ("reads", "bigint")], &rows)],
    );
}

/// Makes every new query take `polls` polls in each of QUEUED and RUNNING (moto's state
/// manager); `None` puts moto's default back.
pub(crate) fn slow_states(endpoint: &str, polls: Option<u32>) {
    let (path, body) = match polls {
        Some(n) => (
            "/moto-api/state-manager/set-transition",
            json!({ "model_name": "athena::execution", "transition": { "progression": "manual", "times": n } }),
        ),
        None => (
            "/moto-api/state-manager/unset-transition",
            json!({ "model_name": "athena::execution" }),
        ),
    };
    let (status, text) = http(endpoint, path, &[], &body.to_string());
    assert!(status < 300, "moto's state manager: {status} {text}");
}

/// The state `GetQueryExecution` gives, asked of moto directly.
fn state_of(endpoint: &str, region: &str, id: &str) -> String {
    let auth = format!(
        "AWS4-HMAC-SHA256 Credential=testing/20261128/{region}/athena/aws4_request, SignedHeaders=host, Signature=0"
    );
    let (status, text) = http(
        endpoint,
        "/",
        &[
            ("X-Amz-Target", "AmazonAthena.GetQueryExecution"),
            ("Content-Type", "application/x-amz-json-1.1"),
            ("Authorization", &auth),
        ],
        &json!({ "QueryExecutionId": id }).to_string(),
    );
    assert_eq!(status, 200, "{text}");
    let v: Value = serde_json::from_str(&text).unwrap();
    v["QueryExecution"]["Status"]["State"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn column(name: &str, ty: &str) -> Value {
    let (precision, scale) = match ty {
        "decimal" => (12, 2),
        _ => (0, 0),
    };
    json!({ "Name": name, "Label": name, "Type": ty, "CatalogName": "hive", "SchemaName": "", "TableName": "",
            "Nullable": "UNKNOWN", "CaseSensitive": false, "Precision": precision, "Scale": scale })
}

/// A result set: the header row first, as Athena gives it for a SELECT.
fn result(columns: &[(&str, &str)], rows: &[Vec<Option<String>>]) -> Value {
    let header: Vec<Value> = columns
        .iter()
        .map(|(n, _)| json!({ "VarCharValue": n }))
        .collect();
    let mut all = vec![json!({ "Data": header })];
    for r in rows {
        let data: Vec<Value> = r
            .iter()
            .map(|c| {
                c.as_ref()
                    .map_or_else(|| json!({}), |v| json!({ "VarCharValue": v }))
            })
            .collect();
        all.push(json!({ "Data": data }));
    }
    json!({ "rows": all, "column_info": columns.iter().map(|(n, t)| column(n, t)).collect::<Vec<_>>() })
}

/// `irp` with credentials only moto accepts, and no AWS profile files or irp config file of
/// the machine's (a test that wants a config file sets `IRP_CONFIG` again).
pub(crate) fn aws_irp() -> std::process::Command {
    let mut cmd = irp();
    cmd.env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env_remove("AWS_PROFILE")
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .env("IRP_CONFIG", "/nonexistent/config.toml");
    cmd
}

/// `irp query --backend athena` against moto.
pub(crate) fn athena_query(endpoint: &str, region: &str, args: &[&str]) -> std::process::Command {
    let mut cmd = aws_irp();
    cmd.args([
        "query",
        "--backend",
        "athena",
        "--endpoint-url",
        endpoint,
        "--region",
        region,
    ])
    .args(["--output-location", "s3://irp-results/"])
    .args(args);
    cmd
}

fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn a_small_result_comes_back_as_rows() {
    let Some((endpoint, _lock)) = moto() else { return };
    let region = "us-east-1";
    let rows = vec![
        vec![
            Some("arn:aws:iam::111122223333:user/mallory".to_owned()),
            Some("4210".to_owned()),
        ],
        vec![
            Some("arn:aws:iam::111122223333:role/etl".to_owned()),
            Some("17".to_owned()),
        ],
        vec![None, Some("3".to_owned())],
    ];
    inject(
        &endpoint,
        region,
        &[result(&[("principal", "varchar"), ("reads", "bigint")], &rows)],
    );
    let out = athena_query(
        &endpoint,
        region,
        &[
            "--format",
            "json",
            "SELECT principal, reads FROM t /* moto:scanned 2500000000 */",
        ],
    )
    .output()
    .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let got = json_lines(&stdout(&out));
    assert_eq!(
        got,
        vec![
            json!({ "principal": "arn:aws:iam::111122223333:user/mallory", "reads": 4210 }),
            json!({ "principal": "arn:aws:iam::111122223333:role/etl", "reads": 17 }),
            // `--format json` leaves NULL columns out, as for the embedded engine.
            json!({ "reads": 3 }),
        ]
    );
    // Bytes scanned (reported through the launcher's patch) and their cost at $5 per TB.
    let err = stderr(&out);
    assert!(err.contains("3 rows; query "), "{err}");
    assert!(err.contains("2.50 GB scanned ($0.0125)"), "{err}");
}

#[test]
fn several_pages_of_every_column_type_convert_exactly() {
    let Some((endpoint, _lock)) = moto() else { return };
    let region = "us-west-2";
    let columns = [
        ("v", "varchar"),
        ("b", "bigint"),
        ("i", "integer"),
        ("s", "smallint"),
        ("t", "tinyint"),
        ("d", "double"),
        ("r", "real"),
        ("ok", "boolean"),
        ("day", "date"),
        ("at", "timestamp"),
        ("amount", "decimal"),
        ("tags", "array(varchar)"),
        ("attrs", "map(varchar, varchar)"),
        ("who", "row(name varchar, uid varchar)"),
    ];
    let n = 3_456;
    let rows: Vec<Vec<Option<String>>> = (0..n)
        .map(|k: i64| {
            let cells = vec![
                format!("row {k} \"quoted\", with, commas"),
                (k * 1_000_000_007).to_string(),
                (k - 1_000).to_string(),
                (k % 30_000).to_string(),
                (k % 100 - 50).to_string(),
                format!("{}.25", k),
                "0.5".to_owned(),
                (k % 2 == 0).to_string(),
                format!("2026-11-{:02}", k % 28 + 1),
                format!("2026-11-27 23:{:02}:{:02}.{:03}", k % 60, k % 60, k % 1000),
                format!("{}.{:02}", k - 100, k % 100),
                "[a, b]".to_owned(),
                "{k=v}".to_owned(),
                "{name=x, uid=y}".to_owned(),
            ];
            // Every seventh row is all NULL.
            cells.into_iter().map(|c| (k % 7 != 3).then_some(c)).collect()
        })
        .collect();
    inject(&endpoint, region, &[result(&columns, &rows)]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("out.jsonl");
    let out = athena_query(
        &endpoint,
        region,
        &[
            "--format",
            "json",
            "--output",
            file.to_str().unwrap(),
            "SELECT * FROM t",
        ],
    )
    .output()
    .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let got = json_lines(&std::fs::read_to_string(&file).unwrap());
    // 3,456 rows are four pages of GetQueryResults (paging through the launcher's patch).
    assert_eq!(got.len(), n as usize);
    for k in [0i64, 3, 998, 999, 1000, 1001, 2999, 3000, 3455] {
        let row = &got[k as usize];
        if k % 7 == 3 {
            assert!(
                row.as_object().unwrap().values().all(Value::is_null),
                "row {k}: {row}"
            );
            continue;
        }
        assert_eq!(
            row["v"],
            json!(format!("row {k} \"quoted\", with, commas")),
            "row {k}"
        );
        assert_eq!(row["b"], json!(k * 1_000_000_007));
        assert_eq!(row["i"], json!(k - 1_000));
        assert_eq!(row["s"], json!(k % 30_000));
        assert_eq!(row["t"], json!(k % 100 - 50));
        assert_eq!(row["d"].as_f64().unwrap(), k as f64 + 0.25);
        assert_eq!(row["r"].as_f64().unwrap(), 0.5);
        assert_eq!(row["ok"], json!(k % 2 == 0));
        assert_eq!(row["day"], json!(format!("2026-11-{:02}", k % 28 + 1)));
        let at = chrono::DateTime::parse_from_rfc3339(row["at"].as_str().unwrap()).unwrap();
        let want = format!("2026-11-27T23:{:02}:{:02}.{:03}Z", k % 60, k % 60, k % 1000);
        assert_eq!(
            at,
            chrono::DateTime::parse_from_rfc3339(&want).unwrap(),
            "row {k}"
        );
        // Decimal(12, 2) exactly; JSON prints it as a number.
        let amount: f64 = format!("{}.{:02}", k - 100, k % 100).parse().unwrap();
        assert_eq!(row["amount"].as_f64().unwrap(), amount, "row {k}");
        assert_eq!(row["tags"], json!("[a, b]"));
        assert_eq!(row["attrs"], json!("{k=v}"));
        assert_eq!(row["who"], json!("{name=x, uid=y}"));
    }
}

#[test]
fn a_failed_query_names_athenas_reason_and_position() {
    let Some((endpoint, _lock)) = moto() else { return };
    // FAILED comes from the launcher's patch: moto has no FAILED transition.
    let sql = "SELECT nope\nFROM t /* moto:fail line 2:15: Column 'nope' cannot be resolved */";
    let out = athena_query(&endpoint, "eu-west-1", &[sql]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("the query failed at line 2, column 15"), "{err}");
    assert!(err.contains("Column 'nope' cannot be resolved"), "{err}");
    assert!(err.contains("fix the SQL and re-run the step"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn a_missing_security_lake_table_names_the_settings_to_check() {
    let Some((endpoint, _lock)) = moto() else { return };
    // Athena reports a missing table as a FAILED query (through the launcher's patch here).
    let sql = "SELECT 1 FROM t /* moto:fail TABLE_NOT_FOUND: line 1:15: Table 'awsdatacatalog.amazon_security_lake_glue_db_eu_west_1.amazon_security_lake_table_eu_west_1_s3_data_2_0' does not exist */";
    let out = athena_query(&endpoint, "eu-south-1", &[sql]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("the query failed at line 1, column 15: TABLE_NOT_FOUND"),
        "{err}"
    );
    assert!(
        err.contains("`--database` the database or its Lake Formation resource link"),
        "{err}"
    );
}

#[test]
fn a_query_past_its_timeout_is_stopped_on_athena() {
    let Some((endpoint, _lock)) = moto() else { return };
    let region = "eu-west-2";
    slow_states(&endpoint, Some(100_000));
    let started = Instant::now();
    let out = athena_query(&endpoint, region, &["--timeout", "1", "SELECT 1"])
        .output()
        .unwrap();
    slow_states(&endpoint, None);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
    let err = stderr(&out);
    assert!(
        err.contains("ran longer than its timeout of 1s and was stopped"),
        "{err}"
    );
    let id = err
        .split("stopped (")
        .nth(1)
        .and_then(|r| r.split(')').next())
        .unwrap();
    assert_eq!(state_of(&endpoint, region, id), "CANCELLED");
}

#[test]
fn ctrl_c_cancels_the_query_on_athena() {
    let Some((endpoint, _lock)) = moto() else { return };
    let region = "ap-southeast-2";
    slow_states(&endpoint, Some(100_000));
    let child = athena_query(&endpoint, region, &["SELECT 1"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let sent = Instant::now();
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    slow_states(&endpoint, None);
    assert!(
        sent.elapsed() < Duration::from_secs(2),
        "stopped after {:?}",
        sent.elapsed()
    );
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("the query was cancelled ("), "{err}");
    let id = err
        .split("cancelled (")
        .nth(1)
        .and_then(|r| r.split(')').next())
        .unwrap();
    assert_eq!(state_of(&endpoint, region, id), "CANCELLED");
}

/// The library with moto's endpoint; credentials from the environment `scripts/test` sets.
async fn library(endpoint: &str, region: &str) -> Athena {
    Athena::connect(AthenaSettings {
        endpoint_url: Some(endpoint.to_owned()),
        region: Some(region.to_owned()),
        output_location: Some("s3://irp-results/".to_owned()),
        poll_first: Duration::from_millis(10),
        poll_max: Duration::from_millis(40),
        ..AthenaSettings::default()
    })
    .await
    .unwrap()
}

#[test]
fn the_client_request_token_never_runs_a_query_twice() {
    let Some((endpoint, _lock)) = moto_for_library() else {
        return;
    };
    // Idempotency comes from the launcher's patch (moto starts a new query every time).
    let region = "ca-central-1";
    let one = |v: &str| result(&[("x", "varchar")], &[vec![Some(v.to_owned())]]);
    inject(&endpoint, region, &[one("first"), one("second")]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let athena = library(&endpoint, region).await;
        let cancel = AtomicBool::new(false);
        // A case id of this run's own: moto's server may outlive one test run.
        let case = uuid::Uuid::now_v7().to_string();
        let token = irp::query::backend::athena::request_token(&case, "reads-by-principal", "SELECT 1", 0);
        let a = athena
            .run("SELECT 1", &token, &cancel, &mut |_| {})
            .await
            .unwrap();
        let b = athena
            .run("SELECT 1", &token, &cancel, &mut |_| {})
            .await
            .unwrap();
        assert_eq!(
            a.query_id, b.query_id,
            "a retried start with the same token is the same query"
        );
        let other = irp::query::backend::athena::request_token(&case, "reads-by-principal", "SELECT 1", 1);
        assert_ne!(token, other);
        let c = athena
            .run("SELECT 1", &other, &cancel, &mut |_| {})
            .await
            .unwrap();
        assert_ne!(c.query_id, a.query_id);
        let text = |r: &irp::query::backend::athena::AthenaResult| {
            let col =
                arrow::compute::cast(r.batches[0].column(0), &arrow::datatypes::DataType::Utf8).unwrap();
            arrow::array::AsArray::as_string::<i32>(&col).value(0).to_owned()
        };
        // The second start consumed no queued result: the new token's query gets the second.
        assert_eq!(
            (text(&a), text(&b), text(&c)),
            ("first".into(), "first".into(), "second".into())
        );
    });
}

#[test]
fn progress_reports_queued_then_running_then_succeeded() {
    let Some((endpoint, _lock)) = moto_for_library() else {
        return;
    };
    let region = "sa-east-1";
    slow_states(&endpoint, Some(2));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (states, polls) = rt.block_on(async {
        let athena = library(&endpoint, region).await;
        let cancel = AtomicBool::new(false);
        let mut states: Vec<String> = Vec::new();
        let r = athena
            .run(
                "SELECT 1",
                &uuid::Uuid::now_v7().simple().to_string(),
                &cancel,
                &mut |p| states.push(p.state.clone()),
            )
            .await;
        (states, r.map(|r| r.polls))
    });
    slow_states(&endpoint, None);
    let polls = polls.unwrap();
    let mut distinct = states.clone();
    distinct.dedup();
    assert_eq!(distinct, ["QUEUED", "RUNNING", "SUCCEEDED"], "{states:?}");
    assert_eq!(polls as usize, states.len());
}

#[test]
fn an_unbounded_lake_scan_is_refused_when_the_config_says_so() {
    // No AWS call is made: the guard runs before anything connects.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(&config, "[athena]\nunbounded = \"refuse\"\nworkgroup = \"ir\"\n").unwrap();
    let table = "amazon_security_lake_glue_db_us_east_1.amazon_security_lake_table_us_east_1_s3_data_2_0";
    let out = irp()
        .env("IRP_CONFIG", &config)
        .args([
            "query",
            "--backend",
            "athena",
            "--endpoint-url",
            "http://127.0.0.1:9",
        ])
        .arg(format!("SELECT count(*) FROM {table}"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("amazon_security_lake_table_us_east_1_s3_data_2_0 with no bound on time_dt or eventday"),
        "{err}"
    );
    assert!(err.contains("unbounded = \"refuse\""), "{err}");
    // A bound anywhere is enough; --dry-run shows where it would run and stops.
    let out = irp()
        .env("IRP_CONFIG", &config)
        .args(["query", "--backend", "athena", "--dry-run"])
        .arg(format!(
            "SELECT count(*) FROM {table} WHERE eventday >= '20261120'"
        ))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("WHERE eventday >= '20261120'"));
    assert!(stderr(&out).contains("workgroup ir"), "{}", stderr(&out));
    // A mistyped key in the config file is named, with its line.
    std::fs::write(&config, "[athena]\nworkgorup = \"ir\"\n").unwrap();
    let out = irp()
        .env("IRP_CONFIG", &config)
        .args(["query", "--backend", "athena", "--dry-run", "SELECT 1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("workgorup") && err.contains("line 2"), "{err}");
}

#[test]
fn sdk_errors_become_actionable_messages() {
    // moto answers with the error codes Athena uses; nothing is mocked here.
    let Some((endpoint, _lock)) = moto() else { return };
    let out = athena_query(
        &endpoint,
        "eu-north-1",
        &["--workgroup", "no-such-workgroup", "SELECT 1"],
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("Athena cannot find the workgroup: WorkGroup does not exist"),
        "{err}"
    );
    assert!(
        err.contains("check the Security Lake database and table names"),
        "{err}"
    );
    // No credentials anywhere in the standard chain (IMDS off, no files, no variables).
    let out = athena_query(&endpoint, "eu-north-1", &["SELECT 1"])
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_WEB_IDENTITY_TOKEN_FILE")
        .env_remove("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
        .env_remove("AWS_CONTAINER_CREDENTIALS_FULL_URI")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("no AWS credentials were found"), "{err}");
    assert!(err.contains("aws sso login"), "{err}");
}

/// `irp run`/`irp resume` of a playbook with `--backend athena` against moto.
fn athena_run(endpoint: &str, region: &str, verb: &[&str], extra: &[&str]) -> std::process::Output {
    let mut cmd = aws_irp();
    cmd.args(verb)
        .args([
            "--headless",
            "--answers",
            "tests/fixtures/cases/lake-drill.answers.yaml",
        ])
        .args([
            "--backend",
            "athena",
            "--endpoint-url",
            endpoint,
            "--region",
            region,
        ])
        .args(["--output-location", "s3://irp-results/"])
        .args(extra);
    cmd.output().unwrap()
}

pub(crate) fn journal(case: &std::path::Path) -> Vec<Value> {
    let out = irp().args(["journal", "--json"]).arg(case).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    json_lines(&stdout(&out))
}

#[test]
fn a_playbook_runs_on_athena_and_the_journal_records_the_query() {
    let Some((endpoint, _lock)) = moto() else { return };
    let region = "eu-central-1";
    let dir = tempfile::tempdir().unwrap();
    let case = dir.path().join("case");
    let case_arg = case.to_str().unwrap();
    let run = [
        "run",
        "tests/fixtures/cases/lake-drill.yaml",
        "--case-dir",
        case_arg,
    ];
    // First a workgroup that does not exist: the query fails, the case is kept, and the step
    // can be run again.
    let out = athena_run(&endpoint, region, &run, &["--workgroup", "no-such-workgroup"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("Athena cannot find the workgroup"),
        "{}",
        stderr(&out)
    );
    let failed = journal(&case);
    assert_eq!(failed.last().unwrap()["kind"], "query_failed");
    // Then the right settings: resume runs the step again on Athena.
    inject_bulk_readers(&endpoint, region);
    let out = athena_run(&endpoint, region, &["resume", case_arg], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let entries = journal(&case);
    let submitted: Vec<&Value> = entries
        .iter()
        .filter(|e| e["kind"] == "query_submitted")
        .collect();
    assert_eq!(submitted.len(), 2);
    let sql = submitted[1]["payload"]["sql"].as_str().unwrap();
    // The only backend-specific part of the SQL: Security Lake's names for the region.
    assert!(
        sql.contains(r#""amazon_security_lake_glue_db_eu_central_1"."amazon_security_lake_table_eu_central_1_s3_data_2_0""#),
        "{sql}"
    );
    assert_eq!(submitted[1]["payload"]["backend"], "athena");
    let ok = entries.iter().find(|e| e["kind"] == "query_succeeded").unwrap();
    let exec = &ok["payload"]["execution"];
    assert_eq!(exec["state"], "SUCCEEDED");
    assert_eq!(exec["query_id"].as_str().unwrap().len(), 36, "{exec}");
    assert!(exec["run_ms"].is_u64() && exec["fetch_ms"].is_u64(), "{exec}");
    assert_eq!(ok["payload"]["rows"], 2);
    assert_eq!(
        ok["payload"]["captures"]["bulk_ips"],
        json!(["203.0.113.9", "198.51.100.7"])
    );
    let decided = entries.iter().find(|e| e["kind"] == "decided").unwrap();
    assert_eq!(decided["payload"]["option"], "incident");
    let out = irp().arg("verify").arg(&case).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
}

/// A fault-injecting proxy written for these tests: it answers the first `faults` requests
/// itself with `status` and an Athena error body, and passes the rest to moto unchanged. One
/// request per connection (it answers `Connection: close`). Returns its endpoint and the count
/// of requests it has seen.
fn faulty_proxy(
    upstream: &str,
    faults: usize,
    status: &'static str,
    error: &'static str,
    message: &'static str,
) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    proxy(upstream, move |n, _| {
        (n < faults).then(|| {
            let body = json!({ "__type": error, "message": message }).to_string();
            let head = format!(
                "HTTP/1.1 {status}\r\nContent-Type: application/x-amz-json-1.1\r\nx-amzn-ErrorType: {error}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            format!("{head}{body}").into_bytes()
        })
    })
}

/// A request's first line (`PUT /bucket/key HTTP/1.1`), for a proxy's `answer` to choose by.
pub(crate) fn request_line(request: &[u8]) -> String {
    let end = request.iter().position(|b| *b == b'\r').unwrap_or(0);
    String::from_utf8_lossy(&request[..end]).into_owned()
}

/// What a proxy's `answer` gives to pass a request to moto and then lose moto's reply: the
/// connection closes with no response, after the request has had its effect.
pub(crate) const LOSE_REPLY: &[u8] = b"\0lose the reply";

/// A proxy in front of moto on loopback: for each request (its number from 0, its bytes),
/// `answer` gives the response to send instead ([`LOSE_REPLY`]: none, after moto took it), or
/// `None` to pass it to moto unchanged. One request per connection. Returns its endpoint and
/// the count of requests it has seen.
pub(crate) fn proxy(
    upstream: &str,
    answer: impl Fn(usize, &[u8]) -> Option<Vec<u8>> + Send + 'static,
) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let seen = std::sync::Arc::new(AtomicUsize::new(0));
    let upstream = upstream.trim_start_matches("http://").to_owned();
    let count = seen.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut client) = conn else { return };
            let n = count.fetch_add(1, Ordering::SeqCst);
            let Some(request) = read_request(&mut client) else {
                continue;
            };
            let answered = answer(n, &request);
            if let Some(response) = answered.as_deref().filter(|r| *r != LOSE_REPLY) {
                let _ = client.write_all(response);
                continue;
            }
            let mut server = std::net::TcpStream::connect(&upstream).unwrap();
            server.write_all(&request).unwrap();
            let mut response = Vec::new();
            let _ = server.read_to_end(&mut response);
            if answered.is_none() {
                let _ = client.write_all(&response);
            }
        }
    });
    (endpoint, seen)
}

/// One HTTP request (headers and a Content-Length body), rewritten to close the connection.
pub(crate) fn read_request(client: &mut std::net::TcpStream) -> Option<Vec<u8>> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 4096];
    let head_end = loop {
        let n = client.read(&mut byte).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&byte[..n]);
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let length: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().parse().unwrap_or(0))
        })
        .unwrap_or(0);
    while buf.len() < head_end + length {
        let n = client.read(&mut byte).ok()?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&byte[..n]);
    }
    let head: String = head
        .lines()
        .filter(|l| !l.to_ascii_lowercase().starts_with("connection:") && !l.is_empty())
        .map(|l| format!("{l}\r\n"))
        .collect();
    let mut out = format!("{head}Connection: close\r\n\r\n").into_bytes();
    out.extend_from_slice(&buf[head_end..]);
    Some(out)
}

#[test]
fn throttling_and_server_errors_are_retried_then_reported() {
    let Some((endpoint, _lock)) = moto_for_library() else {
        return;
    };
    let region = "ap-northeast-1";
    let rt = tokio::runtime::Runtime::new().unwrap();
    let settings = |proxy: &str| AthenaSettings {
        endpoint_url: Some(proxy.to_owned()),
        region: Some(region.to_owned()),
        output_location: Some("s3://irp-results/".to_owned()),
        poll_first: Duration::from_millis(10),
        poll_max: Duration::from_millis(40),
        retry_attempts: 4,
        retry_backoff: Duration::from_millis(20),
        ..AthenaSettings::default()
    };
    // One query through a proxy, with a fresh token.
    let through = |proxy: &str| {
        rt.block_on(async {
            let athena = Athena::connect(settings(proxy)).await.unwrap();
            let token = uuid::Uuid::now_v7().simple().to_string();
            athena
                .run("SELECT 1", &token, &AtomicBool::new(false), &mut |_| {})
                .await
        })
    };
    // Two 500s, then the query goes through: the SDK retried and the responder sees rows.
    inject(
        &endpoint,
        region,
        &[result(&[("x", "varchar")], &[vec![Some("ok".to_owned())]])],
    );
    let (proxy, seen) = faulty_proxy(
        &endpoint,
        2,
        "500 Internal Server Error",
        "InternalServerException",
        "We encountered an internal error. Please try again.",
    );
    assert_eq!(through(&proxy).unwrap().rows, 1);
    assert!(
        seen.load(std::sync::atomic::Ordering::SeqCst) >= 5,
        "2 faults + start, poll, results"
    );
    // Throttled on every attempt: after 4 attempts, a message that says so and what to do.
    let (proxy, seen) = faulty_proxy(
        &endpoint,
        usize::MAX,
        "400 Bad Request",
        "ThrottlingException",
        "Rate exceeded",
    );
    let err = through(&proxy).unwrap_err();
    assert_eq!(
        seen.load(std::sync::atomic::Ordering::SeqCst),
        4,
        "one call, four attempts"
    );
    assert!(
        err.to_string().contains("Athena is throttling or failing"),
        "{err}"
    );
    assert!(err.to_string().contains("Rate exceeded"), "{err}");
    assert!(
        err.hint().contains("re-run the step; the case is kept"),
        "{}",
        err.hint()
    );
    // Access denied names the permission Athena says is missing.
    let (proxy, _) = faulty_proxy(
        &endpoint,
        usize::MAX,
        "400 Bad Request",
        "AccessDeniedException",
        "User: arn:aws:sts::123456789012:assumed-role/ir/responder is not authorized to perform: athena:GetWorkGroup on resource: arn:aws:athena:ap-northeast-1:123456789012:workgroup/primary",
    );
    let err = through(&proxy).unwrap_err();
    // Athena's own message names the action (here not the call's own), and irp passes it on.
    assert!(
        err.to_string()
            .contains("access denied (missing permission: athena:GetWorkGroup)"),
        "{err}"
    );
    assert!(
        err.hint().contains("docs/backends.md lists the minimal policy"),
        "{}",
        err.hint()
    );
    // Expired credentials are not retried: one attempt, and a message that says what to do.
    let (proxy, seen) = faulty_proxy(
        &endpoint,
        usize::MAX,
        "400 Bad Request",
        "ExpiredTokenException",
        "The security token included in the request is expired",
    );
    let err = through(&proxy).unwrap_err();
    assert_eq!(seen.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert!(
        err.to_string()
            .contains("the AWS credentials have expired or are not valid"),
        "{err}"
    );
    assert!(err.hint().contains("aws sso login"), "{}", err.hint());
}

#[test]
fn a_playbook_query_with_no_time_bound_is_refused_when_the_config_says_so() {
    // Nothing reaches Athena: the endpoint is a closed port, and the step fails before any call.
    let dir = tempfile::tempdir().unwrap();
    let playbook =
        std::fs::read_to_string(crate::common::repo().join("tests/fixtures/cases/lake-drill.yaml"))
            .unwrap()
            .replace(
                "WHERE time_dt BETWEEN {{ start_time }} AND {{ end_time }}\n              AND api",
                "WHERE api",
            );
    assert!(
        !playbook.contains("time_dt"),
        "the fixture changed; update this test"
    );
    let path = dir.path().join("unbounded.yaml");
    std::fs::write(&path, playbook).unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(&config, "[athena]\nunbounded = \"refuse\"\n").unwrap();
    let case = dir.path().join("case");
    let out = aws_irp()
        .env("IRP_CONFIG", &config)
        .arg("run")
        .arg(&path)
        .arg("--case-dir")
        .arg(&case)
        .args([
            "--headless",
            "--answers",
            "tests/fixtures/cases/lake-drill.answers.yaml",
        ])
        .args([
            "--backend",
            "athena",
            "--region",
            "us-east-1",
            "--endpoint-url",
            "http://127.0.0.1:9",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("not sent to Athena"), "{err}");
    assert!(
        err.contains("amazon_security_lake_table_us_east_1_s3_data_2_0"),
        "{err}"
    );
    let entries = journal(&case);
    let failed = entries.last().unwrap();
    assert_eq!(failed["kind"], "query_failed");
    assert!(failed["payload"].get("execution").is_none(), "{failed}");
}

#[test]
fn a_steps_own_timeout_stops_its_query_on_athena() {
    let Some((endpoint, _lock)) = moto() else { return };
    let region = "eu-west-3";
    let dir = tempfile::tempdir().unwrap();
    let playbook =
        std::fs::read_to_string(crate::common::repo().join("tests/fixtures/cases/lake-drill.yaml"))
            .unwrap()
            .replace(
                "        title: Addresses with bulk reads\n",
                "        title: Addresses with bulk reads\n        timeout: 1s\n",
            );
    assert!(
        playbook.contains("timeout: 1s"),
        "the fixture changed; update this test"
    );
    let path = dir.path().join("timeout.yaml");
    std::fs::write(&path, playbook).unwrap();
    let case = dir.path().join("case");
    slow_states(&endpoint, Some(100_000));
    let started = Instant::now();
    let out = athena_run(
        &endpoint,
        region,
        &[
            "run",
            path.to_str().unwrap(),
            "--case-dir",
            case.to_str().unwrap(),
        ],
        &[],
    );
    slow_states(&endpoint, None);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
    assert!(stderr(&out).contains("timeout of 1s"), "{}", stderr(&out));
    let entries = journal(&case);
    let failed = entries.last().unwrap();
    assert_eq!(failed["kind"], "query_failed");
    let exec = &failed["payload"]["execution"];
    assert_eq!(exec["state"], "QUEUED", "{failed}");
    let id = exec["query_id"].as_str().unwrap();
    assert_eq!(state_of(&endpoint, region, id), "CANCELLED");
}

#[test]
fn the_rollup_region_and_source_version_name_the_tables() {
    let Some((endpoint, _lock)) = moto() else { return };
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        "[athena]\nregion = \"eu-west-1\"\nrollup_region = \"us-east-2\"\nsource_version = \"1.0\"\n",
    )
    .unwrap();
    inject(
        &endpoint,
        "us-east-2",
        &[result(&[("ip", "varchar"), ("reads", "bigint")], &[])],
    );
    let case = dir.path().join("case");
    let out = aws_irp()
        .env("IRP_CONFIG", &config)
        .args(["run", "tests/fixtures/cases/lake-drill.yaml", "--case-dir"])
        .arg(&case)
        .args([
            "--headless",
            "--answers",
            "tests/fixtures/cases/lake-drill.answers.yaml",
        ])
        .args(["--backend", "athena", "--endpoint-url", &endpoint])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let entries = journal(&case);
    let sql = entries.iter().find(|e| e["kind"] == "query_submitted").unwrap()["payload"]["sql"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        sql.contains(
            r#""amazon_security_lake_glue_db_us_east_2"."amazon_security_lake_table_us_east_2_s3_data_1_0""#
        ),
        "{sql}"
    );
    // No bulk readers in the (empty) result: the suggestion is `benign`.
    let decided = entries.iter().find(|e| e["kind"] == "decided").unwrap();
    assert_eq!(decided["payload"]["option"], "benign");
    std::fs::write(&config, "[athena]\nsource_version = \"3\"\n").unwrap();
    let out = irp()
        .env("IRP_CONFIG", &config)
        .args(["query", "--backend", "athena", "SELECT 1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out)
            .contains("source_version = \"3\" in the config file is not a Security Lake source version"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn run_dry_run_prints_the_sql_the_backend_would_receive_and_opens_no_case() {
    // The S3 playbook for Athena in eu-west-1: every query step, rendered with the inputs and
    // Athena's names for the region; nothing is sent and no case folder appears.
    let dir = tempfile::tempdir().unwrap();
    let out = irp()
        .current_dir(dir.path())
        .env("IRP_NOW", "2026-11-28T00:00:00Z")
        .env("IRP_CONFIG", "/nonexistent/config.toml")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .arg("run")
        .arg(crate::common::repo().join("playbooks/s3-unintended-data-access.yaml"))
        .args([
            "--dry-run",
            "-i",
            "bucket=acme-customer-exports",
            "-i",
            "bucket_account=111122223333",
        ])
        .args([
            "-i",
            "region=eu-west-1",
            "--backend",
            "athena",
            "--region",
            "eu-west-1",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert_eq!(text.matches("-- step `").count(), 14, "{text}");
    assert!(text.contains(
        r#"FROM "amazon_security_lake_glue_db_eu_west_1"."amazon_security_lake_table_eu_west_1_s3_data_2_0""#
    ));
    assert!(
        text.contains("TIMESTAMP '2026-11-21 00:00:00.000' AND TIMESTAMP '2026-11-28 00:00:00.000'"),
        "{text}"
    );
    assert!(
        text.contains("-- not rendered yet: undefined value: `suspect_keys` is undefined"),
        "{text}"
    );
    assert!(
        !text.contains("-- warning"),
        "every shipped query is bounded in time: {text}"
    );
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "no case folder"
    );
}

#[test]
fn an_sso_profile_whose_token_cannot_be_used_points_to_sso_login() {
    // A real SSO profile whose cached token expired in 2020. The SDK's SSO provider still asks
    // the SSO portal (unreachable here), so what the responder sees is that no credentials could
    // be loaded, with `aws sso login` as the way out; nothing panics and nothing reaches Athena.
    let home = tempfile::tempdir().unwrap();
    let aws = home.path().join(".aws");
    std::fs::create_dir_all(aws.join("sso/cache")).unwrap();
    let start_url = "https://irp-test.awsapps.com/start";
    std::fs::write(
        aws.join("config"),
        format!(
            "[profile responder]\nsso_start_url = {start_url}\nsso_region = us-east-1\nsso_account_id = 123456789012\nsso_role_name = Responder\nregion = us-east-1\n"
        ),
    )
    .unwrap();
    // The SDK names the cache file by the SHA-1 of the start URL.
    let name = {
        let mut child = std::process::Command::new("sha1sum")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(start_url.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        String::from_utf8(out.stdout)
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap()
            .to_owned()
    };
    std::fs::write(
        aws.join("sso/cache").join(format!("{name}.json")),
        json!({ "accessToken": "expired", "expiresAt": "2020-01-01T00:00:00Z", "region": "us-east-1", "startUrl": start_url })
            .to_string(),
    )
    .unwrap();
    let out = irp()
        .env("HOME", home.path())
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_CONFIG_FILE")
        .env_remove("AWS_SHARED_CREDENTIALS_FILE")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("IRP_CONFIG", "/nonexistent/config.toml")
        .args([
            "query",
            "--backend",
            "athena",
            "--profile",
            "responder",
            "--endpoint-url",
            "http://127.0.0.1:9",
            "SELECT 1",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("the AWS SSO session has expired") || err.contains("no AWS credentials were found"),
        "{err}"
    );
    assert!(err.contains("aws sso login"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn no_region_is_an_error_not_a_guess() {
    // The region names Security Lake's tables: irp never falls back to a default one.
    let out = irp()
        .env_remove("AWS_REGION")
        .env_remove("AWS_DEFAULT_REGION")
        .env_remove("AWS_PROFILE")
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("IRP_CONFIG", "/nonexistent/config.toml")
        .args([
            "query",
            "--backend",
            "athena",
            "--endpoint-url",
            "http://127.0.0.1:9",
            "SELECT 1",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("no AWS region is set"), "{err}");
    assert!(err.contains("give `--region`"), "{err}");
}

#[test]
fn a_value_that_does_not_fit_its_column_type_is_named_not_guessed() {
    let Some((endpoint, _lock)) = moto() else { return };
    let region = "us-west-1";
    let rows = vec![
        vec![Some("a".to_owned()), Some("1".to_owned())],
        vec![Some("b".to_owned()), Some("twelve".to_owned())],
    ];
    inject(
        &endpoint,
        region,
        &[result(&[("k", "varchar"), ("n", "bigint")], &rows)],
    );
    let out = athena_query(&endpoint, region, &["SELECT k, n FROM t"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("row 2 of the result has `twelve` in column `n`, which is not a bigint value"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    assert!(stdout(&out).is_empty(), "no partial rows: {}", stdout(&out));
}
