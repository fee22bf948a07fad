//! Athena backend benchmark (not a test): the overhead irp adds on top of Athena, measured
//! against moto's server on loopback (`scripts/bench-athena` starts it and installs the AWS CLI).
//!
//! - 100,000 rows of eight columns (text, integers, a double, a timestamp, a boolean, a date and
//!   a decimal) are queued in moto as a query's result, once per run.
//! - irp: `Athena::run` from start to the last row converted into Arrow. Reported: the fetch
//!   (SUCCEEDED to the last row converted: 100 pages of GetQueryResults plus conversion) and the
//!   polling overhead (start to SUCCEEDED; moto finishes queries at once, so this is irp's own
//!   calls and waits).
//! - The peer: `aws athena get-query-results` (the AWS CLI, pinned by the script) paging the same
//!   query's result to JSON, in the same run.
//! - One warm-up each, then five alternating rounds; medians.
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::cast_precision_loss,
    clippy::doc_markdown
)]

use std::io::{Read, Write};
use std::process::Command;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use irp::query::backend::athena::{Athena, AthenaSettings};
use serde_json::json;

const ROWS: usize = 100_000;
const ROUNDS: usize = 5;
const REGION: &str = "us-east-1";

fn post(endpoint: &str, path: &str, body: &str) {
    let host = endpoint.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(host).unwrap();
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    assert!(resp.starts_with("HTTP/1.1 2"), "{resp}");
}

fn result_set() -> serde_json::Value {
    let columns = [
        ("principal", "varchar"),
        ("ip", "varchar"),
        ("reads", "bigint"),
        ("bytes_out", "double"),
        ("first_seen", "timestamp"),
        ("known", "boolean"),
        ("day", "date"),
        ("cost", "decimal"),
    ];
    let mut rows = vec![
        json!({ "Data": columns.iter().map(|(n, _)| json!({ "VarCharValue": n })).collect::<Vec<_>>() }),
    ];
    for k in 0..ROWS {
        let cells = [
            format!("arn:aws:iam::111122223333:user/user-{}", k % 5000),
            format!("198.51.{}.{}", k / 256 % 256, k % 256),
            (k * 37).to_string(),
            format!("{}.5", k * 1024),
            format!(
                "2026-11-{:02} {:02}:{:02}:{:02}.{:03}",
                k % 28 + 1,
                k % 24,
                k % 60,
                k % 60,
                k % 1000
            ),
            (k % 3 == 0).to_string(),
            format!("2026-11-{:02}", k % 28 + 1),
            format!("{}.{:02}", k, k % 100),
        ];
        rows.push(json!({ "Data": cells.iter().map(|c| json!({ "VarCharValue": c })).collect::<Vec<_>>() }));
    }
    let info: Vec<_> = columns
        .iter()
        .map(|(n, t)| {
            json!({ "Name": n, "Label": n, "Type": t, "CatalogName": "hive", "SchemaName": "", "TableName": "",
                    "Nullable": "UNKNOWN", "CaseSensitive": false, "Precision": if *t == "decimal" { 18 } else { 0 },
                    "Scale": if *t == "decimal" { 2 } else { 0 } })
        })
        .collect();
    json!({ "rows": rows, "column_info": info })
}

/// One Athena call as plain HTTP to moto (which does not check signatures): the whole raw
/// response, headers included.
fn call(host: &str, target: &str, body: &str) -> Vec<u8> {
    let mut s = std::net::TcpStream::connect(host).unwrap();
    let req = format!(
        "POST / HTTP/1.1\r\nHost: {host}\r\nX-Amz-Target: AmazonAthena.{target}\r\nContent-Type: application/x-amz-json-1.1\r\nAuthorization: AWS4-HMAC-SHA256 Credential=testing/20261128/{REGION}/athena/aws4_request, SignedHeaders=host, Signature=0\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).unwrap();
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).unwrap();
    resp
}

/// moto's raw answers for one query: its execution and every page, by the token that asks for
/// it (`""` for the first); and how long moto took to serve the pages to this bare client (plain
/// HTTP, one connection per page, nothing parsed but `NextToken`), in milliseconds.
struct Recorded {
    execution: Vec<u8>,
    pages: std::collections::HashMap<String, Vec<u8>>,
    pages_ms: f64,
}

fn record(endpoint: &str, id: &str) -> Recorded {
    let host = endpoint.trim_start_matches("http://");
    let execution = call(
        host,
        "GetQueryExecution",
        &json!({ "QueryExecutionId": id }).to_string(),
    );
    let mut pages = std::collections::HashMap::new();
    let mut token = String::new();
    let started = Instant::now();
    loop {
        let body = if token.is_empty() {
            json!({ "QueryExecutionId": id, "MaxResults": 1000 })
        } else {
            json!({ "QueryExecutionId": id, "MaxResults": 1000, "NextToken": token })
        };
        let resp = call(host, "GetQueryResults", &body.to_string());
        let next = String::from_utf8_lossy(&resp)
            .split("\"NextToken\": \"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .map(str::to_owned);
        pages.insert(token.clone(), resp);
        match next {
            Some(t) => token = t,
            None => break,
        }
    }
    assert_eq!(
        pages.len(),
        (ROWS + 1).div_ceil(1000),
        "the header row makes one more page"
    );
    Recorded {
        execution,
        pages,
        pages_ms: started.elapsed().as_secs_f64() * 1000.0,
    }
}

/// A server that answers instantly with moto's recorded bytes, so that what remains of the
/// fetch is irp's own work: HTTP on loopback, the SDK's parsing, the conversion into Arrow.
fn replay(rec: Recorded, id: &str) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let started = {
        let body = json!({ "QueryExecutionId": id }).to_string();
        format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    };
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut c) = conn else { return };
            let mut buf = Vec::new();
            let mut chunk = [0u8; 8192];
            let (head, body) = loop {
                let n = c.read(&mut chunk).unwrap_or(0);
                if n == 0 {
                    break (String::new(), String::new());
                }
                buf.extend_from_slice(&chunk[..n]);
                if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    let head = String::from_utf8_lossy(&buf[..at]).to_ascii_lowercase();
                    let len: usize = head
                        .lines()
                        .find_map(|l| {
                            l.strip_prefix("content-length:")
                                .map(|v| v.trim().parse().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    while buf.len() < at + 4 + len {
                        let n = c.read(&mut chunk).unwrap_or(0);
                        if n == 0 {
                            break;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                    }
                    break (head, String::from_utf8_lossy(&buf[at + 4..]).into_owned());
                }
            };
            let answer: &[u8] = if head.contains("startqueryexecution") {
                &started
            } else if head.contains("getqueryexecution") {
                &rec.execution
            } else {
                let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
                let token = v["NextToken"].as_str().unwrap_or_default();
                &rec.pages[token]
            };
            let _ = c.write_all(answer);
        }
    });
    endpoint
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let endpoint = std::env::var("IRP_MOTO_ENDPOINT").expect("run scripts/bench-athena, which starts moto");
    let aws = std::env::var("IRP_AWS_CLI").expect("run scripts/bench-athena, which installs the AWS CLI");
    let set = result_set();
    let body = json!({ "account_id": "123456789012", "region": REGION, "results": vec![set; ROUNDS + 1] })
        .to_string();
    eprintln!(
        "queueing {} results of {ROWS} rows ({:.0} MB of JSON) in moto",
        ROUNDS + 1,
        body.len() as f64 / 1e6
    );
    post(&endpoint, "/moto-api/static/athena/query-results", &body);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let athena = rt
        .block_on(Athena::connect(AthenaSettings {
            endpoint_url: Some(endpoint.clone()),
            region: Some(REGION.to_owned()),
            output_location: Some("s3://irp-results/".to_owned()),
            poll_first: Duration::from_millis(100),
            ..AthenaSettings::default()
        }))
        .unwrap();
    let cancel = AtomicBool::new(false);
    let (mut fetch, mut polling, mut cli, mut convert, mut raw) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut replayed = Vec::new();
    for round in 0..=ROUNDS {
        let token = uuid::Uuid::now_v7().simple().to_string();
        let r = rt
            .block_on(athena.run("SELECT * FROM bench", &token, &cancel, &mut |_| {}))
            .unwrap();
        assert_eq!(r.rows, ROWS as u64);
        let started = Instant::now();
        let out = Command::new(&aws)
            .args(["athena", "get-query-results", "--query-execution-id", &r.query_id])
            .args([
                "--endpoint-url",
                &endpoint,
                "--region",
                REGION,
                "--output",
                "json",
            ])
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .output()
            .unwrap();
        let cli_ms = started.elapsed().as_secs_f64() * 1000.0;
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(
            v["ResultSet"]["Rows"].as_array().unwrap().len(),
            ROWS + 1,
            "the CLI pages every row"
        );
        if round > 0 {
            fetch.push(r.fetch_time.as_secs_f64() * 1000.0);
            convert.push(r.convert_time.as_secs_f64() * 1000.0);
            let recorded = record(&endpoint, &r.query_id);
            raw.push(recorded.pages_ms);
            let server = replay(recorded, &r.query_id);
            let local = rt
                .block_on(Athena::connect(AthenaSettings {
                    endpoint_url: Some(server),
                    region: Some(REGION.to_owned()),
                    output_location: Some("s3://irp-results/".to_owned()),
                    ..AthenaSettings::default()
                }))
                .unwrap();
            let token = uuid::Uuid::now_v7().simple().to_string();
            let again = rt
                .block_on(local.run("SELECT * FROM bench", &token, &cancel, &mut |_| {}))
                .unwrap();
            assert_eq!(again.rows, ROWS as u64);
            replayed.push(again.fetch_time.as_secs_f64() * 1000.0);
            polling.push(r.run_time.as_secs_f64() * 1000.0);
            cli.push(cli_ms);
        }
        eprintln!(
            "round {round}: irp fetch {:.0} ms ({} polls, {:.0} ms to SUCCEEDED), aws cli {cli_ms:.0} ms",
            r.fetch_time.as_secs_f64() * 1000.0,
            r.polls,
            r.run_time.as_secs_f64() * 1000.0
        );
    }
    println!("| what ({ROWS} rows, 101 pages with the header row) | median (ms) |");
    println!("|---|---:|");
    println!(
        "| irp: SUCCEEDED to the last row converted into Arrow | {:.0} |",
        median(fetch.clone())
    );
    println!(
        "| of which irp converting the pages into Arrow | {:.0} |",
        median(convert)
    );
    println!(
        "| moto serving the same 101 pages to a bare HTTP client (no parsing) | {:.0} |",
        median(raw)
    );
    println!(
        "| irp's own overhead: the same fetch from a server replaying moto's recorded pages instantly | {:.0} |",
        median(replayed)
    );
    println!(
        "| irp: start to SUCCEEDED (polling overhead; moto finishes at once) | {:.0} |",
        median(polling)
    );
    println!(
        "| AWS CLI `aws athena get-query-results`, all pages to JSON | {:.0} |",
        median(cli.clone())
    );
    println!("\nirp / AWS CLI: {:.2}", median(fetch) / median(cli));
}
