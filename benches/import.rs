//! CloudTrail import benchmark (not a test): `irp lake import cloudtrail` against two references
//! on the same files in the same run. `scripts/bench-import` sets it up and runs it; figures go to
//! docs/performance.md.
//!
//! - The input: 1,000,000 raw CloudTrail records made from the synthetic generator (a generated
//!   lake's `cloud_trail_mgmt`, `s3_data` and `lambda_execution` rows turned back into CloudTrail
//!   JSON), sorted by time, written as delivery files (`{"Records":[…]}`, 2,000 records each,
//!   uncompressed) under `target/bench-cloudtrail` (or `IRP_BENCH_CLOUDTRAIL`), made once.
//! - The floor: only parsing the JSON (`serde_json` into `IgnoredAny`), one file at a time per
//!   thread, with the same two threads irp uses; also on one thread.
//! - DuckDB (the Python package, pinned by the script): `read_json` of the main fields (the
//!   nested ones as JSON text) and `COPY … TO` one zstd Parquet file, with 2 threads
//!   (`benches/duckdb_import.py`).
//! - irp: the whole import into an empty lake (mapping, deduplication, sorting, Parquet in
//!   Security Lake's layout), 2 threads.
//! - Each is run once to warm the page cache, then 3 times; the table gives the median.
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::cast_precision_loss,
    clippy::doc_markdown
)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use irp::lake::generate::{self, Config, Story};
use irp::lake::import::{self, Options};
use serde_json::{Map, Value, json};

const RECORDS: usize = 1_000_000;
const PER_FILE: usize = 2_000;
const RUNS: usize = 3;
const THREADS: usize = 2;

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let data = std::env::var_os("IRP_BENCH_CLOUDTRAIL")
        .map_or_else(|| root.join("target/bench-cloudtrail"), PathBuf::from);
    let logs = data.join("AWSLogs");
    if !data.join("complete").exists() {
        make_input(&data);
    }
    let files = files_with_ext(&logs, "json");
    let bytes: u64 = files.iter().map(|f| std::fs::metadata(f).unwrap().len()).sum();
    println!(
        "input: {} records in {} files, {:.1} MB of JSON",
        RECORDS,
        files.len(),
        bytes as f64 / 1e6
    );

    if let Ok(n) = std::env::var("IRP_BENCH_PROFILE") {
        // irp alone, N times, for a profiler.
        let work = data.join("work");
        for _ in 0..n.parse::<usize>().expect("IRP_BENCH_PROFILE=N") {
            println!("irp import: {:.2} s", irp_import(&logs, &work));
        }
        return;
    }
    let python = std::env::var("IRP_BENCH_PYTHON").expect("IRP_BENCH_PYTHON: run scripts/bench-import");
    let work = data.join("work");
    let mut results: Vec<(&str, Vec<f64>)> = vec![
        ("parse only, 1 thread (floor)", Vec::new()),
        ("parse only, 2 threads (floor)", Vec::new()),
        ("DuckDB read_json + COPY TO Parquet", Vec::new()),
        ("irp lake import cloudtrail", Vec::new()),
    ];
    for run in 0..=RUNS {
        let times = [
            parse_only(&files, 1),
            parse_only(&files, THREADS),
            duckdb(&python, &root, &logs, &work),
            irp_import(&logs, &work),
        ];
        if run == 0 {
            continue; // warm-up
        }
        for (r, t) in results.iter_mut().zip(times) {
            r.1.push(t);
        }
    }
    println!();
    println!("| what | median (s) | events/s | MB/s of JSON | irp / this |");
    println!("|---|---:|---:|---:|---:|");
    let irp_median = median(&results[3].1);
    for (name, times) in &results {
        let m = median(times);
        println!(
            "| {name} | {m:.2} | {:.0} | {:.0} | {:.2} |",
            RECORDS as f64 / m,
            bytes as f64 / 1e6 / m,
            irp_median / m
        );
    }
    let _ = std::fs::remove_dir_all(&work);
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Files below `dir` whose extension is `ext`, sorted (missing folders give none).
fn files_with_ext(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == ext) {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Seconds to parse every file into `IgnoredAny` on `threads` threads.
fn parse_only(files: &[PathBuf], threads: usize) -> f64 {
    let started = Instant::now();
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(f) = files.get(i) else { break };
                    let bytes = std::fs::read(f).unwrap();
                    let _: serde::de::IgnoredAny = serde_json::from_slice(&bytes).unwrap();
                }
            });
        }
    });
    started.elapsed().as_secs_f64()
}

fn irp_import(logs: &Path, work: &Path) -> f64 {
    let lake = work.join("lake");
    let _ = std::fs::remove_dir_all(&lake);
    let started = Instant::now();
    let s = import::import(
        &[logs.to_owned()],
        &lake,
        &Options {
            threads: THREADS,
            ..Options::default()
        },
        &|_| {},
    )
    .unwrap();
    let secs = started.elapsed().as_secs_f64();
    assert_eq!(s.rows_written(), RECORDS as u64, "{s:?}");
    assert_eq!(s.problem_count, 0, "{:?}", s.problems);
    secs
}

fn duckdb(python: &str, root: &Path, logs: &Path, work: &Path) -> f64 {
    std::fs::create_dir_all(work).unwrap();
    let out = Command::new(python)
        .arg(root.join("benches/duckdb_import.py"))
        .arg(logs)
        .arg(work.join("duckdb.parquet"))
        .env("IRP_BENCH_THREADS", THREADS.to_string())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["rows"].as_u64(), Some(RECORDS as u64), "{v}");
    v["seconds"].as_f64().unwrap()
}

/// Generates a lake, turns its CloudTrail rows back into raw records and writes delivery files.
fn make_input(data: &Path) {
    let started = Instant::now();
    let _ = std::fs::remove_dir_all(data);
    let lake = data.join("lake");
    let cfg = Config {
        scenario: Story::S3Exfiltration,
        days: 7,
        events: 1_450_000,
        seed: 7,
        regions: vec!["us-east-1".into()],
        accounts: vec!["111122223333".into()],
        end: chrono::NaiveDate::from_ymd_opt(2026, 11, 27).unwrap(),
        threads: THREADS,
    };
    generate::generate(&lake, &cfg, &|_, _| {}).unwrap();
    let mut records: Vec<(i64, Value)> = Vec::new();
    for table in ["cloud_trail_mgmt", "s3_data", "lambda_execution"] {
        for file in files_with_ext(&lake.join(table), "parquet") {
            let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
                std::fs::File::open(&file).unwrap(),
            )
            .unwrap()
            .build()
            .unwrap();
            for batch in reader {
                let mut buf = Vec::new();
                let mut w = datafusion::arrow::json::ArrayWriter::new(&mut buf);
                w.write(&batch.unwrap()).unwrap();
                w.finish().unwrap();
                let rows: Vec<Value> = serde_json::from_slice(&buf).unwrap();
                records.extend(
                    rows.iter()
                        .map(|r| (r["time"].as_i64().unwrap(), to_cloudtrail(r))),
                );
            }
        }
    }
    assert!(
        records.len() >= RECORDS,
        "{} CloudTrail rows generated",
        records.len()
    );
    records.sort_by_key(|(t, _)| *t);
    records.truncate(RECORDS);
    let dir = data.join("AWSLogs/111122223333/CloudTrail/us-east-1");
    for (i, chunk) in records.chunks(PER_FILE).enumerate() {
        let day = chrono::DateTime::from_timestamp_millis(chunk[0].0).unwrap();
        let d = dir.join(day.format("%Y/%m/%d").to_string());
        std::fs::create_dir_all(&d).unwrap();
        let name = format!(
            "111122223333_CloudTrail_us-east-1_{}_{i:05}.json",
            day.format("%Y%m%dT%H%MZ")
        );
        let body = json!({ "Records": chunk.iter().map(|(_, r)| r).collect::<Vec<_>>() });
        let mut f = std::io::BufWriter::new(std::fs::File::create(d.join(name)).unwrap());
        serde_json::to_writer(&mut f, &body).unwrap();
        f.flush().unwrap();
    }
    std::fs::remove_dir_all(&lake).unwrap();
    std::fs::write(data.join("complete"), "").unwrap();
    eprintln!("made the input in {:.0} s", started.elapsed().as_secs_f64());
}

fn get<'v>(row: &'v Value, path: &str) -> &'v Value {
    let mut cur = row;
    for p in path.split('.') {
        match cur.get(p) {
            Some(v) => cur = v,
            None => return &Value::Null,
        }
    }
    cur
}

/// The raw CloudTrail record an OCSF row came from (the inverse of the import's mapping, for the
/// fields the generator fills).
fn to_cloudtrail(r: &Value) -> Value {
    let mut o = Map::new();
    let mut put = |k: &str, v: &Value| {
        if !v.is_null() {
            o.insert(k.to_owned(), v.clone());
        }
    };
    put("eventVersion", get(r, "metadata.product.version"));
    let mut id = Map::new();
    for (k, path) in [
        ("type", "actor.user.type"),
        ("principalId", "actor.user.uid_alt"),
        ("arn", "actor.user.uid"),
        ("accountId", "actor.user.account.uid"),
        ("accessKeyId", "actor.user.credential_uid"),
        ("userName", "actor.user.name"),
        ("invokedBy", "actor.invoked_by"),
    ] {
        let v = get(r, path);
        if !v.is_null() {
            id.insert(k.to_owned(), v.clone());
        }
    }
    if !get(r, "actor.session.issuer").is_null() {
        id.insert(
            "sessionContext".into(),
            json!({
                "sessionIssuer": { "type": "Role", "arn": get(r, "actor.session.issuer") },
                "attributes": {
                    "creationDate": get(r, "actor.session.created_time_dt").as_str().map(|t| format!("{}Z", &t[..19])),
                    "mfaAuthenticated": get(r, "actor.session.is_mfa").as_bool().unwrap_or(false).to_string(),
                },
            }),
        );
    }
    o.insert("userIdentity".into(), Value::Object(id));
    let time = chrono::DateTime::from_timestamp_millis(r["time"].as_i64().unwrap()).unwrap();
    o.insert(
        "eventTime".into(),
        json!(time.format("%Y-%m-%dT%H:%M:%SZ").to_string()),
    );
    let mut put = |k: &str, v: &Value| {
        if !v.is_null() {
            o.insert(k.to_owned(), v.clone());
        }
    };
    put("eventSource", get(r, "api.service.name"));
    put("eventName", get(r, "api.operation"));
    put("awsRegion", get(r, "cloud.region"));
    let ip = get(r, "src_endpoint.ip");
    put(
        "sourceIPAddress",
        if ip.is_null() {
            get(r, "src_endpoint.domain")
        } else {
            ip
        },
    );
    put("userAgent", get(r, "http_request.user_agent"));
    put("errorCode", get(r, "api.response.error"));
    put("errorMessage", get(r, "api.response.message"));
    let doc = |path: &str| {
        get(r, path)
            .as_str()
            .map_or(Value::Null, |t| serde_json::from_str(t).unwrap_or(Value::Null))
    };
    o.insert("requestParameters".into(), doc("api.request.data"));
    o.insert("responseElements".into(), doc("api.response.data"));
    let mut put = |k: &str, v: &Value| {
        if !v.is_null() {
            o.insert(k.to_owned(), v.clone());
        }
    };
    put("requestID", get(r, "api.request.uid"));
    put("eventID", get(r, "metadata.uid"));
    let unmapped = get(r, "unmapped");
    if let Some(v) = unmapped.get("readOnly").and_then(Value::as_str) {
        o.insert("readOnly".into(), json!(v == "true"));
    }
    if let Some(v) = unmapped
        .get("additionalEventData.bytesTransferredOut")
        .and_then(Value::as_str)
    {
        o.insert(
            "additionalEventData".into(),
            json!({ "bytesTransferredOut": v.parse::<f64>().unwrap_or(0.0) }),
        );
    }
    if let Some(items) = get(r, "resources").as_array() {
        let res: Vec<Value> = items
            .iter()
            .map(|x| {
                let mut m = Map::new();
                m.insert("ARN".into(), get(x, "uid").clone());
                if let Some(a) = get(x, "owner.account.uid").as_str() {
                    m.insert("accountId".into(), json!(a));
                }
                m.insert("type".into(), get(x, "type").clone());
                Value::Object(m)
            })
            .collect();
        if !res.is_empty() {
            o.insert("resources".into(), Value::Array(res));
        }
    }
    o.insert("eventType".into(), get(r, "metadata.event_code").clone());
    let feature = get(r, "metadata.product.feature.name")
        .as_str()
        .unwrap_or("Management");
    o.insert("managementEvent".into(), json!(feature == "Management"));
    // `accountid` is a partition (a folder name), not in the files.
    o.insert("recipientAccountId".into(), json!("111122223333"));
    o.insert("eventCategory".into(), json!(feature));
    if let Some(v) = unmapped.get("tlsDetails.tlsVersion") {
        o.insert("tlsDetails".into(), json!({ "tlsVersion": v }));
    }
    Value::Object(o)
}
