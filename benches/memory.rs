//! Bounded memory on big input (not a test: `scripts/bench-memory` runs it, after checking free
//! disk, and starts moto). Each case runs the release `irp` as its own process under GNU time,
//! whose peak resident set size is irp's alone (moto runs in another process):
//!
//! - a gzip bomb: a 2 MB gzip file that decompresses to 2 GiB of blanks, imported;
//! - a 5 GB folder of CloudTrail delivery files (3.6 million unique records over 30 days, three
//!   regions, two accounts, a quarter of them S3 data events), imported into an empty lake;
//! - a 2,000,000-row Athena result (moto holds it), fetched by a query step of a headless case
//!   into its Parquet artifact.
//!
//! Each peak is checked against its bound, printed with the time taken, and the run fails when a
//! bound is passed. The inputs are made once under `target/bench-memory` (or
//! `IRP_BENCH_MEMORY_DIR`) and kept for the next run.
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::cast_precision_loss,
    clippy::doc_markdown
)]

use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

const BOMB_BYTES: u64 = 2 << 30;
const FOLDER_RECORDS: usize = 3_600_000;
const RECORDS_PER_FILE: usize = 50_000;
const ATHENA_ROWS: usize = 2_000_000;
/// Peak resident set size allowed per case, in MB.
const IMPORT_BOUND_MB: f64 = 400.0;
const ATHENA_BOUND_MB: f64 = 300.0;

fn irp() -> &'static str {
    env!("CARGO_BIN_EXE_irp")
}

/// Runs `cmd` under GNU time; its peak RSS in MB and seconds, and its output.
fn measured(cmd: &Command) -> (f64, f64, std::process::Output) {
    let program = cmd.get_program().to_owned();
    let args: Vec<_> = cmd.get_args().map(ToOwned::to_owned).collect();
    let mut timed = Command::new("/usr/bin/time");
    timed.args(["-f", "IRP-PEAK %M %e"]).arg(program).args(args);
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => timed.env(k, v),
            None => timed.env_remove(k),
        };
    }
    let out = timed.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    let line = err
        .lines()
        .rev()
        .find(|l| l.starts_with("IRP-PEAK "))
        .expect("GNU time's line");
    let mut f = line.split_whitespace().skip(1);
    let kb: f64 = f.next().unwrap().parse().unwrap();
    let secs: f64 = f.next().unwrap().parse().unwrap();
    (kb / 1024.0, secs, out)
}

/// Free space under `dir`, in bytes (`df -Pk`).
fn free_bytes(dir: &Path) -> u64 {
    let out = Command::new("df").arg("-Pk").arg(dir).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let kb: u64 = text
        .lines()
        .nth(1)
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|n| n.parse().ok())
        .expect("df's available column");
    kb * 1024
}

fn bomb(dir: &Path) -> PathBuf {
    let folder = dir.join("bomb");
    let file = folder.join("bomb.json.gz");
    if file.exists() {
        return folder;
    }
    std::fs::create_dir_all(&folder).unwrap();
    let tmp = folder.join(".bomb.tmp");
    let mut gz = flate2::write::GzEncoder::new(
        BufWriter::new(std::fs::File::create(&tmp).unwrap()),
        flate2::Compression::best(),
    );
    let blanks = vec![b' '; 1 << 20];
    for _ in 0..(BOMB_BYTES >> 20) {
        gz.write_all(&blanks).unwrap();
    }
    gz.finish().unwrap().flush().unwrap();
    std::fs::rename(&tmp, &file).unwrap();
    folder
}

/// One CloudTrail record, unique by `n`.
fn record(out: &mut String, n: usize) {
    use std::fmt::Write as _;
    const REGIONS: [&str; 3] = ["us-east-1", "eu-west-1", "ap-southeast-2"];
    const ACCOUNTS: [&str; 2] = ["111122223333", "444455556666"];
    const NAMES: [(&str, &str); 4] = [
        ("s3.amazonaws.com", "GetObject"),
        ("iam.amazonaws.com", "ListUsers"),
        ("sts.amazonaws.com", "AssumeRole"),
        ("ec2.amazonaws.com", "DescribeInstances"),
    ];
    let region = REGIONS[n % 3];
    let account = ACCOUNTS[(n / 3) % 2];
    let (source, name) = NAMES[(n / 7) % 4];
    // S3 object reads are data events; the others are management events.
    let (category, management) = if source.starts_with("s3.") {
        ("Data", false)
    } else {
        ("Management", true)
    };
    // Thirty days, in order within a file.
    let secs = 1_764_547_200 + i64::try_from(n * 30 * 86_400 / FOLDER_RECORDS).unwrap();
    let time = chrono::DateTime::from_timestamp(secs, 0)
        .unwrap()
        .format("%Y-%m-%dT%H:%M:%SZ");
    let _ = write!(
        out,
        r#"{{"eventVersion":"1.09","userIdentity":{{"type":"IAMUser","principalId":"AIDA{n:016}","arn":"arn:aws:iam::{account}:user/user{u}","accountId":"{account}","accessKeyId":"AKIA{n:016}","userName":"user{u}"}},"eventTime":"{time}","eventSource":"{source}","eventName":"{name}","awsRegion":"{region}","sourceIPAddress":"198.51.{a}.{b}","userAgent":"aws-cli/2.15.0 Python/3.11.6 Linux/6.1 exe/x86_64","requestParameters":{{"bucketName":"bucket-{u}","key":"reports/2026/{n}.csv","Host":"bucket-{u}.s3.amazonaws.com"}},"responseElements":null,"additionalEventData":{{"SignatureVersion":"SigV4","CipherSuite":"TLS_AES_128_GCM_SHA256","bytesTransferredIn":0,"bytesTransferredOut":{n}}},"requestID":"R{n:020}","eventID":"{n:08x}-0000-4000-8000-{n:012x}","readOnly":true,"resources":[{{"type":"AWS::S3::Object","ARN":"arn:aws:s3:::bucket-{u}/reports/2026/{n}.csv"}}],"eventType":"AwsApiCall","managementEvent":{management},"recipientAccountId":"{account}","eventCategory":"{category}","tlsDetails":{{"tlsVersion":"TLSv1.3","cipherSuite":"TLS_AES_128_GCM_SHA256","clientProvidedHostHeader":"bucket-{u}.s3.amazonaws.com"}},"padding":"{pad}"}}"#,
        u = n % 500,
        a = (n / 256) % 256,
        b = n % 256,
        pad = "x".repeat(220),
    );
}

fn folder(dir: &Path) -> PathBuf {
    let folder = dir.join("cloudtrail-v2");
    let done = folder.join(".complete");
    if done.exists() {
        return folder;
    }
    std::fs::create_dir_all(&folder).unwrap();
    let mut text = String::with_capacity(RECORDS_PER_FILE * 1_200);
    for f in 0..FOLDER_RECORDS / RECORDS_PER_FILE {
        text.clear();
        text.push_str("{\"Records\":[");
        for i in 0..RECORDS_PER_FILE {
            if i > 0 {
                text.push(',');
            }
            record(&mut text, f * RECORDS_PER_FILE + i);
        }
        text.push_str("]}");
        std::fs::write(folder.join(format!("delivery-{f:04}.json")), &text).unwrap();
    }
    std::fs::write(&done, "").unwrap();
    folder
}

fn folder_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.metadata().map_or(0, |m| m.len()))
        .sum()
}

fn import(input: &Path, lake: &Path) -> (f64, f64, String) {
    let _ = std::fs::remove_dir_all(lake);
    let mut cmd = Command::new(irp());
    cmd.args(["lake", "import", "cloudtrail"])
        .arg(input)
        .arg("--lake")
        .arg(lake);
    let (mb, secs, out) = measured(&cmd);
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let summary = said
        .lines()
        .find(|l| l.contains("records"))
        .unwrap_or_default()
        .to_owned();
    (mb, secs, summary)
}

fn post(endpoint: &str, path: &str, body: &[u8]) {
    let host = endpoint.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(host).unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    assert!(resp.starts_with("HTTP/1.1 2"), "{resp}");
}

/// A headless case whose one query step reads a 2,000,000-row Athena result into its artifact.
fn athena(dir: &Path, endpoint: &str) -> (f64, f64, u64) {
    let mut body = String::with_capacity(ATHENA_ROWS * 110);
    body.push_str(r#"{"account_id":"123456789012","region":"us-east-1","results":[{"rows":[{"Data":[{"VarCharValue":"principal"},{"VarCharValue":"ip"},{"VarCharValue":"n"}]}"#);
    for i in 0..ATHENA_ROWS {
        use std::fmt::Write as _;
        let _ = write!(
            body,
            r#",{{"Data":[{{"VarCharValue":"arn:aws:iam::111122223333:user/u{}"}},{{"VarCharValue":"198.51.{}.{}"}},{{"VarCharValue":"{i}"}}]}}"#,
            i % 1000,
            (i / 256) % 256,
            i % 256
        );
    }
    body.push_str(r#"],"column_info":[{"Name":"principal","Label":"principal","Type":"varchar"},{"Name":"ip","Label":"ip","Type":"varchar"},{"Name":"n","Label":"n","Type":"bigint"}]}]}"#);
    eprintln!(
        "queueing {ATHENA_ROWS} rows ({:.0} MB of JSON) in moto",
        body.len() as f64 / 1e6
    );
    post(endpoint, "/moto-api/static/athena/query-results", body.as_bytes());
    drop(body);
    let work = dir.join("athena");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).unwrap();
    let pb = work.join("pb.yaml");
    std::fs::write(
        &pb,
        r#"irp: 1
id: big-result
title: A large Athena result
version: "1"
framework: nist-800-61r2
stages:
  - id: detect
    title: Detect
    phase: detection-and-analysis
    steps:
      - id: reads
        title: Every read
        query:
          table: s3_data
          sql: |
            SELECT actor.user.uid AS principal, src_endpoint.ip AS ip, 1 AS n FROM {{ table }}
            WHERE time_dt > TIMESTAMP '2026-11-01 00:00:00'
"#,
    )
    .unwrap();
    std::fs::write(work.join("a.yaml"), "steps: {}\n").unwrap();
    let mut cmd = Command::new(irp());
    cmd.arg("run")
        .arg(&pb)
        .arg("--case-dir")
        .arg(work.join("case"))
        .args([
            "--backend",
            "athena",
            "--endpoint-url",
            endpoint,
            "--region",
            "us-east-1",
            "--headless",
            "--answers",
        ])
        .arg(work.join("a.yaml"))
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .env("IRP_CONFIG", "/nonexistent/config.toml");
    let (mb, secs, out) = measured(&cmd);
    let journal = std::fs::read_to_string(work.join("case/journal.jsonl")).unwrap_or_default();
    let rows = journal
        .lines()
        .filter(|l| l.contains("\"query_succeeded\""))
        .find_map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).ok()?;
            v["payload"]["rows"].as_u64()
        });
    let Some(rows) = rows else {
        panic!(
            "the case did not record the query's result:\n{}\n{journal}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    (mb, secs, rows)
}

fn main() {
    assert!(
        Path::new("/usr/bin/time").exists(),
        "GNU time (/usr/bin/time) measures the peak RSS; install it (Debian: `apt install time`)"
    );
    let dir = std::env::var_os("IRP_BENCH_MEMORY_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-memory"),
        PathBuf::from,
    );
    std::fs::create_dir_all(&dir).unwrap();
    let need: u64 = 8 << 30;
    let free = free_bytes(&dir);
    assert!(
        free >= need || dir.join("cloudtrail-v2/.complete").exists(),
        "{} has {:.1} GB free; the benchmark needs {:.0} GB (5 GB of CloudTrail, the lakes, the bomb)",
        dir.display(),
        free as f64 / 1e9,
        need as f64 / 1e9
    );
    let mut failed = false;
    let mut table = vec![
        "| input | peak RSS | bound | time | what irp said |".to_owned(),
        "|---|---|---|---|---|".to_owned(),
    ];
    let mut row = |what: String, mb: f64, bound: f64, secs: f64, said: String| {
        let ok = mb <= bound;
        failed |= !ok;
        let line = format!(
            "| {what} | {mb:.0} MB | {bound:.0} MB{} | {secs:.1} s | {said} |",
            if ok { "" } else { " **passed**" }
        );
        eprintln!("{line}");
        table.push(line);
    };

    let b = bomb(&dir);
    eprintln!("importing the gzip bomb");
    let (mb, secs, said) = import(&b, &dir.join("lake-bomb"));
    row(
        format!(
            "gzip bomb: {:.1} MB decompressing to {} GiB of blanks",
            folder_size(&b) as f64 / 1e6,
            BOMB_BYTES >> 30
        ),
        mb,
        IMPORT_BOUND_MB,
        secs,
        said,
    );

    eprintln!("making the CloudTrail folder (once)");
    let f = folder(&dir);
    eprintln!("importing the CloudTrail folder");
    let (mb, secs, said) = import(&f, &dir.join("lake-folder"));
    row(
        format!(
            "CloudTrail folder: {:.2} GB, {} files, {FOLDER_RECORDS} records",
            folder_size(&f) as f64 / 1e9,
            FOLDER_RECORDS / RECORDS_PER_FILE
        ),
        mb,
        IMPORT_BOUND_MB,
        secs,
        said,
    );
    let _ = std::fs::remove_dir_all(dir.join("lake-folder"));

    match std::env::var("IRP_MOTO_ENDPOINT") {
        Ok(endpoint) => {
            let (mb, secs, rows) = athena(&dir, &endpoint);
            assert_eq!(rows, ATHENA_ROWS as u64, "every row reached the artifact");
            row(
                format!("Athena result: {ATHENA_ROWS} rows through moto, into a step's artifact"),
                mb,
                ATHENA_BOUND_MB,
                secs,
                format!("{rows} rows"),
            );
        }
        Err(_) => eprintln!(
            "IRP_MOTO_ENDPOINT is not set (scripts/bench-memory starts moto): the Athena case is not run"
        ),
    }
    for line in &table {
        println!("{line}");
    }
    assert!(!failed, "a peak passed its bound");
}
