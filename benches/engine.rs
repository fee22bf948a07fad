//! Embedded engine benchmark (not a test): irp against DuckDB on the same lake, the same
//! queries, in the same run. `scripts/bench-engine` sets it up and runs it; figures go to
//! docs/performance.md.
//!
//! - The lake: `irp lake generate` with 10 million events over 30 days (seed 1, ending
//!   2026-11-27), made once under the target folder and reused.
//! - The queries: the six typical shapes below, and every query of the shipped S3 playbook
//!   exactly as a headless run of the playbook on this lake submitted them (read back from its
//!   journal).
//! - DuckDB (the Python package, pinned by the script) reads the same Parquet files through views
//!   named as Security Lake names its tables. Its SQL is irp's with the few substitutions DuckDB's
//!   dialect needs (`duckdb_sql`).
//! - Per query: one warm-up run each, then five rounds that alternate which engine goes first;
//!   the median of the five. Both fetch every row (irp: the Arrow stream; DuckDB: an Arrow
//!   table). Row counts are compared, so a wrong answer shows.
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::cast_precision_loss,
    clippy::doc_markdown
)]

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Instant;

use futures::StreamExt;
use irp::lake::generate::{self, Config, Story};
use irp::query::backend::local::{LocalEngine, Options};

/// Rounds per query: at least `MIN_ROUNDS`, then more while both engines together have taken
/// less than `ROUND_BUDGET`, up to `MAX_ROUNDS`. A 20 ms query moves 10–30% between runs on a
/// busy two-core machine; 21 rounds make its median steady, and a query of several seconds
/// still gets its 5.
const MIN_ROUNDS: usize = 5;
const MAX_ROUNDS: usize = 21;
const ROUND_BUDGET: std::time::Duration = std::time::Duration::from_secs(4);
const S3: &str = "amazon_security_lake_glue_db_us_east_1.amazon_security_lake_table_us_east_1_s3_data_2_0";
const MGMT: &str =
    "amazon_security_lake_glue_db_us_east_1.amazon_security_lake_table_us_east_1_cloud_trail_mgmt_2_0";

/// The six typical shapes of an investigation.
fn shapes() -> Vec<(String, String)> {
    vec![
        (
            "group-by principal in a window".into(),
            format!(
                "SELECT actor.user.uid AS principal, count(*) AS n FROM {S3} \
                 WHERE time_dt BETWEEN TIMESTAMP '2026-11-20 00:00:00' AND TIMESTAMP '2026-11-27 00:00:00' \
                 GROUP BY 1 ORDER BY n DESC LIMIT 50"
            ),
        ),
        (
            "distinct IPs for a principal".into(),
            format!(
                "SELECT DISTINCT src_endpoint.ip AS ip FROM {S3} \
                 WHERE actor.user.uid = 'arn:aws:iam::111122223333:user/svc-reporting'"
            ),
        ),
        (
            "access-control changes".into(),
            format!(
                "SELECT time_dt, api.operation AS operation, actor.user.uid AS principal, api.request.data AS request \
                 FROM {MGMT} WHERE api.operation IN ('PutBucketPolicy', 'PutBucketAcl', 'DeleteBucketPolicy', \
                 'PutBucketPublicAccessBlock', 'DeleteBucketPublicAccessBlock', 'PutAccountPublicAccessBlock') \
                 ORDER BY time_dt"
            ),
        ),
        (
            "hourly histogram".into(),
            format!(
                "SELECT date_trunc('hour', time_dt) AS hour, count(*) AS n FROM {S3} GROUP BY 1 ORDER BY 1"
            ),
        ),
        (
            "unnest-and-filter resources".into(),
            format!(
                "SELECT r.uid AS bucket, count(*) AS n FROM {S3} t CROSS JOIN UNNEST(t.resources) AS u(r) \
                 WHERE r.type = 'AWS::S3::Bucket' GROUP BY 1 ORDER BY n DESC"
            ),
        ),
        (
            "regexp over user agents".into(),
            format!(
                "SELECT http_request.user_agent AS user_agent, count(*) AS n FROM {S3} \
                 WHERE regexp_like(http_request.user_agent, '^(aws-cli|Boto3|aws-sdk-go)/[0-9.]+ ') GROUP BY 1 ORDER BY n DESC"
            ),
        ),
    ]
}

/// irp's SQL in DuckDB's dialect: the function names that differ, and `element_at` on a map
/// (DuckDB's returns a list; its subscript returns the value, as Trino's `element_at` does).
fn duckdb_sql(sql: &str) -> String {
    let mut out = sql
        .replace("json_extract_scalar(", "json_extract_string(")
        .replace("regexp_like(", "regexp_matches(");
    // element_at(unmapped, 'k') -> unmapped['k']
    while let Some(at) = out.find("element_at(unmapped, ") {
        let rest = &out[at + "element_at(unmapped, ".len()..];
        let close = rest.find(')').expect("element_at(...) closes");
        let key = rest[..close].to_owned();
        out = format!("{}unmapped[{key}]{}", &out[..at], &rest[close + 1..]);
    }
    out
}

struct Duck {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Duck {
    fn start(python: &str, lake: &Path) -> Duck {
        let worker = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/duckdb_worker.py");
        let mut child = Command::new(python)
            .arg(worker)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start {python}: {e} (run scripts/bench-engine, which installs DuckDB)")
            });
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let mut duck = Duck { child, stdin, stdout };
        let r = duck.ask(&serde_json::json!({ "setup": lake }));
        assert_eq!(r["ok"], true, "{r}");
        duck
    }

    fn ask(&mut self, req: &serde_json::Value) -> serde_json::Value {
        writeln!(self.stdin, "{req}").unwrap();
        self.stdin.flush().unwrap();
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        serde_json::from_str(&line).unwrap()
    }

    /// Milliseconds and rows, or the error.
    fn run(&mut self, sql: &str) -> Result<(f64, u64), String> {
        let r = self.ask(&serde_json::json!({ "sql": sql }));
        match (r["ms"].as_f64(), r["rows"].as_u64()) {
            (Some(ms), Some(rows)) => Ok((ms, rows)),
            _ => Err(r["error"].as_str().unwrap_or("no answer").to_owned()),
        }
    }
}

impl Drop for Duck {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn irp_run(engine: &LocalEngine, sql: &str) -> Result<(f64, u64), String> {
    let start = Instant::now();
    let mut stream = engine.execute(sql).await.map_err(|e| e.to_string())?;
    let mut rows = 0u64;
    while let Some(batch) = stream.next().await {
        rows += batch.map_err(|e| e.to_string())?.num_rows() as u64;
    }
    Ok((start.elapsed().as_secs_f64() * 1000.0, rows))
}

/// Milliseconds until the query's stream is ready: parsing, planning, starting the plan.
async fn irp_plan(engine: &LocalEngine, sql: &str) -> Result<f64, String> {
    let start = Instant::now();
    let stream = engine.execute(sql).await.map_err(|e| e.to_string())?;
    let ms = start.elapsed().as_secs_f64() * 1000.0;
    drop(stream);
    Ok(ms)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn release_irp() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    target.join("release/irp")
}

/// The S3 playbook's queries as a headless run on the lake submitted them.
fn playbook_queries(lake: &Path, truth: &serde_json::Value) -> Vec<(String, String)> {
    let case = tempfile::tempdir().unwrap();
    let known: Vec<&str> = truth["known_readers"]["acme-customer-exports"]
        .as_array()
        .expect("truth.json lists known_readers")
        .iter()
        .filter_map(serde_json::Value::as_str)
        .collect();
    let known = known.join(",");
    let out = Command::new(release_irp())
        .env("IRP_NOW", "2026-11-28T00:00:00Z")
        .args(["run", "playbooks/s3-unintended-data-access.yaml", "--case-dir"])
        .arg(case.path().join("c"))
        .arg("--lake")
        .arg(lake)
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
        .args(["-i", "start_time=2026-10-29T00:00:00Z"])
        .args([
            "--headless",
            "--answers",
            "tests/fixtures/cases/s3-lake.answers.yaml",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("the release binary (cargo build --release)");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let scan = irp::journal::store::read(&case.path().join("c/journal.jsonl")).unwrap();
    scan.entries
        .iter()
        .filter_map(|e| match &e.event {
            irp::engine::Event::QuerySubmitted(q) => {
                Some((format!("S3 playbook: {}", q.step), q.sql.clone()))
            }
            _ => None,
        })
        .collect()
}

fn main() {
    let lake = std::env::var_os("IRP_BENCH_LAKE").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-lake"),
        PathBuf::from,
    );
    let python = std::env::var("IRP_BENCH_PYTHON").unwrap_or_else(|_| "python3".into());
    let truth_file = lake.join("truth.json");
    if !truth_file.exists() {
        let _ = std::fs::remove_dir_all(&lake);
        let cfg = Config {
            scenario: Story::S3Exfiltration,
            days: 30,
            events: 10_000_000,
            seed: 1,
            regions: vec!["us-east-1".into()],
            accounts: vec!["111122223333".into()],
            end: chrono::NaiveDate::from_ymd_opt(2026, 11, 27).unwrap(),
            threads: std::thread::available_parallelism().map_or(2, usize::from),
        };
        let start = Instant::now();
        let summary = generate::generate(&lake, &cfg, &|_, _| {}).unwrap();
        let secs = start.elapsed().as_secs_f64();
        println!(
            "lake: {} events, {} files, {:.0} MB in {secs:.1} s ({:.0} events/s)",
            summary.events,
            summary.files,
            summary.bytes as f64 / 1e6,
            summary.events as f64 / secs
        );
    }
    let truth: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&truth_file).unwrap()).unwrap();
    let mut queries = shapes();
    // IRP_BENCH_SHAPES_ONLY: skip the playbook run (for a profiler that should see one query).
    if std::env::var_os("IRP_BENCH_SHAPES_ONLY").is_none() {
        queries.extend(playbook_queries(&lake, &truth));
    }
    let filter = std::env::var("IRP_BENCH_FILTER").unwrap_or_default();
    queries.retain(|(name, _)| name.contains(&filter));
    // IRP_BENCH_SQL: one ad-hoc query instead (`{S3}` and `{MGMT}` stand for the two tables).
    if let Ok(sql) = std::env::var("IRP_BENCH_SQL") {
        let sql = sql.replace("{MGMT}", MGMT).replace("{S3}", S3);
        queries = vec![("ad hoc".into(), sql)];
    }

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let engine = runtime
        .block_on(LocalEngine::open(&lake, Options::default()))
        .unwrap();
    // IRP_BENCH_PROFILE=N: irp alone, N runs per query, for a profiler (no DuckDB, no table);
    // IRP_BENCH_PLAN_ONLY times planning alone: until the stream is ready, no row read.
    if let Ok(n) = std::env::var("IRP_BENCH_PROFILE") {
        let n: usize = n
            .parse()
            .unwrap_or_else(|_| panic!("IRP_BENCH_PROFILE is a number of runs, not {n:?}"));
        let plan_only = std::env::var_os("IRP_BENCH_PLAN_ONLY").is_some();
        for (name, sql) in &queries {
            match (0..n)
                .map(|_| {
                    if plan_only {
                        runtime.block_on(irp_plan(&engine, sql))
                    } else {
                        runtime.block_on(irp_run(&engine, sql)).map(|(ms, _)| ms)
                    }
                })
                .collect::<Result<Vec<f64>, String>>()
            {
                Ok(times) => println!("{name}: median {:.1} ms over {n} runs", median(times)),
                Err(e) => println!("{name}: irp failed: {e}"),
            }
        }
        return;
    }
    let mut duck = Duck::start(&python, &lake);

    println!(
        "| query | rows | rounds | irp median (ms) | DuckDB median (ms) | irp / DuckDB | first {MIN_ROUNDS} rounds |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    let (mut worst, mut worst_first): (f64, f64) = (0.0, 0.0);
    for (name, sql) in &queries {
        let dsql = duckdb_sql(sql);
        // Warm-up: both engines once (file metadata and OS cache).
        let warm_irp = runtime.block_on(irp_run(&engine, sql));
        let warm_duck = duck.run(&dsql);
        let (irp_rows, duck_rows) = match (&warm_irp, &warm_duck) {
            (Ok((_, a)), Ok((_, b))) => (*a, *b),
            (Err(e), _) => {
                println!("| {name} | irp failed: {e} | | | | | |");
                continue;
            }
            (_, Err(e)) => {
                println!(
                    "| {name} | DuckDB failed: {} | | | | | |",
                    e.lines().next().unwrap_or("")
                );
                continue;
            }
        };
        let (mut a, mut b) = (Vec::new(), Vec::new());
        let started = Instant::now();
        for round in 0..MAX_ROUNDS {
            if round >= MIN_ROUNDS && started.elapsed() > ROUND_BUDGET {
                break;
            }
            let irp_once = || runtime.block_on(irp_run(&engine, sql)).unwrap().0;
            if round % 2 == 0 {
                a.push(irp_once());
                b.push(duck.run(&dsql).unwrap().0);
            } else {
                b.push(duck.run(&dsql).unwrap().0);
                a.push(irp_once());
            }
        }
        let rounds = a.len();
        // The measure, the median of the first 5 rounds, beside that of all rounds.
        let first = median(a[..MIN_ROUNDS].to_vec()) / median(b[..MIN_ROUNDS].to_vec());
        worst_first = worst_first.max(first);
        let (ma, mb) = (median(a), median(b));
        let ratio = ma / mb;
        worst = worst.max(ratio);
        let rows = if irp_rows == duck_rows {
            irp_rows.to_string()
        } else {
            format!("**{irp_rows} vs DuckDB {duck_rows}**")
        };
        println!("| {name} | {rows} | {rounds} | {ma:.1} | {mb:.1} | {ratio:.2} | {first:.2} |");
    }
    println!(
        "\nworst ratio: {worst:.2} ({} queries, median of {MIN_ROUNDS}-{MAX_ROUNDS} rounds after a warm-up); \
         of the first {MIN_ROUNDS} rounds: {worst_first:.2}",
        queries.len()
    );
}
