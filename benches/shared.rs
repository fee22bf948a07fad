//! Shared-case benchmark (not a test): appends per second and the time for one responder to see
//! another's entry, against moto's server on loopback answering one request at a time
//! (`scripts/bench-shared` starts it). Library-level: `Session::execute` of notes on a case
//! shared on S3, each writer with its own replica.
//!
//! - One writer: 300 notes, appends per second.
//! - Four writers at once (threads, one session each, all joined before a barrier): 150 notes
//!   each, appends per second in all, and how many entries the writers read from each other
//!   while writing (each read follows a lost race or precedes an append).
//! - Seeing: a reader reads (`Session::pull`) every 100 ms, as the terminal UI does once a
//!   second; 30 notes written one at a time, the time from each note's append to the reader's
//!   replica holding it (median and worst).
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::cast_precision_loss,
    clippy::doc_markdown
)]

use std::io::{Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use irp::case::seal::Location;
use irp::case::shared::Store;
use irp::case::{Context, Session};
use irp::engine::{Command, Mode};

fn http_put(endpoint: &str, path: &str) {
    let host = endpoint.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(host).unwrap();
    write!(
        s,
        "PUT {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut r = String::new();
    s.read_to_string(&mut r).unwrap();
}

fn settings(endpoint: &str) -> irp::action::aws::AwsSettings {
    irp::action::aws::AwsSettings {
        profile: None,
        region: Some("us-east-1".to_owned()),
        endpoint_url: Some(endpoint.to_owned()),
        retry_attempts: Some(3),
        retry_backoff: None,
    }
}

fn ctx(who: &str) -> Context {
    Context {
        actor: who.to_owned(),
        clock: irp::clock::Clock::System,
        ids: irp::clock::Ids::Random,
        command: "bench".to_owned(),
        signer: None,
    }
}

fn store(endpoint: &str, url: &str) -> Store {
    Store::connect(Location::parse(url).unwrap(), &settings(endpoint)).unwrap()
}

fn join(endpoint: &str, url: &str, who: &str, dir: &Path) -> Session {
    Session::join_shared(store(endpoint, url), &dir.join(format!("{who}-cache")), ctx(who)).unwrap()
}

fn note(s: &mut Session, text: String) {
    s.execute(&Command::AddNote { text }).unwrap();
}

fn main() {
    let Ok(endpoint) = std::env::var("IRP_MOTO_SERIAL_ENDPOINT") else {
        eprintln!("IRP_MOTO_SERIAL_ENDPOINT is not set: run scripts/bench-shared");
        std::process::exit(2);
    };
    let tmp = tempfile::tempdir().unwrap();
    let bucket = format!("irp-bench-{}", std::process::id());
    http_put(&endpoint, &format!("/{bucket}"));
    let playbook = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cases/drill.yaml");
    let open = |name: &str| {
        let url = format!("s3://{bucket}/cases/{name}");
        let s = Session::create_shared(
            store(&endpoint, &url),
            &tmp.path().join(format!("{name}-lead-cache")),
            &playbook,
            &[("bucket".to_owned(), "drill-bucket".to_owned())],
            Mode::Rehearsal,
            ctx("lead"),
            None,
        )
        .unwrap();
        drop(s);
        url
    };

    // One writer.
    let url = open("one");
    let mut w = join(&endpoint, &url, "w", tmp.path());
    let t = Instant::now();
    for i in 0..300 {
        note(&mut w, format!("note {i}"));
    }
    let one = 300.0 / t.elapsed().as_secs_f64();
    println!(
        "one writer: 300 appends, {one:.0} appends/s ({:.1} ms each)",
        1000.0 / one
    );

    // Four writers, all joined first, then writing at once.
    let url = open("four");
    let start = std::sync::Arc::new(std::sync::Barrier::new(5));
    let handles: Vec<_> = (0..4)
        .map(|k| {
            let (endpoint, url, dir, start) = (
                endpoint.clone(),
                url.clone(),
                tmp.path().to_owned(),
                start.clone(),
            );
            std::thread::spawn(move || {
                let mut s = join(&endpoint, &url, &format!("w{k}"), &dir);
                start.wait();
                let before = s.entries.len();
                for i in 0..150 {
                    note(&mut s, format!("w{k} note {i}"));
                }
                // Entries this session read from the others while writing its own.
                s.entries.len() - before - 150
            })
        })
        .collect();
    start.wait();
    let t = Instant::now();
    let read_from_others: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
    let four = 600.0 / t.elapsed().as_secs_f64();
    println!(
        "four writers at once: 600 appends, {four:.0} appends/s in all; {read_from_others} entries read from the others while writing"
    );

    // Seeing another responder's entry.
    let url = open("see");
    let mut writer = join(&endpoint, &url, "writer", tmp.path());
    let mut reader = join(&endpoint, &url, "reader", tmp.path());
    reader.pull().unwrap();
    let mut delays = Vec::new();
    for i in 0..30 {
        note(&mut writer, format!("see {i}"));
        let written = Instant::now();
        let want = writer.entries.len();
        loop {
            reader.pull().unwrap();
            if reader.entries.len() >= want {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        delays.push(written.elapsed());
    }
    delays.sort();
    println!(
        "seeing another's entry (reader reads every 100 ms): median {:.0} ms, worst {:.0} ms; the terminal UI reads once a second when idle",
        delays[delays.len() / 2].as_secs_f64() * 1000.0,
        delays[delays.len() - 1].as_secs_f64() * 1000.0
    );
}
