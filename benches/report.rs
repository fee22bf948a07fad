//! Report benchmark (not a test): `irp report` on a 100,000-entry journal, in each format.
//! `cargo bench --bench report`; figures go to docs/performance.md (target under 2 s).
//!
//! The journal loops over the review drill's detection steps (two queries with stored results,
//! a note, a piece of evidence, a back-step) so every part of the report has work to do. Timed:
//! reading and checking the case (every hash, every file an entry vouches for), working the
//! report out, and writing it; in-process, and through the release binary end to end.
#![allow(
    clippy::print_stdout,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::cast_precision_loss
)]

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use irp::engine::{
    ArtifactRef, CaseOpened, Event, EvidenceAdded, Mode, Observable, PlaybookRef, QuerySubmitted,
    QuerySucceeded, SessionStarted,
};
use irp::journal::{GENESIS, entry};
use irp::report::{CaseRecord, build, html, markdown};

const ENTRIES: usize = 100_000;
const RUNS: usize = 5;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn sha(bytes: &[u8]) -> String {
    irp::journal::entry::sha256_hex(bytes)
}

/// Writes a case folder whose journal holds `ENTRIES` entries.
fn write_case(root: &Path, playbook: &Path) {
    std::fs::create_dir_all(root.join("artifacts")).unwrap();
    let source = std::fs::read(playbook).unwrap();
    std::fs::write(root.join("playbook.yaml"), &source).unwrap();
    let result = b"PAR1 a stand-in result: the report hashes it, never parses it";
    std::fs::write(root.join("artifacts/result.parquet"), result).unwrap();
    let artifact = ArtifactRef {
        path: "artifacts/result.parquet".into(),
        sha256: sha(result),
        bytes: result.len() as u64,
    };
    let t0 = DateTime::parse_from_rfc3339("2026-11-20T09:00:00Z")
        .unwrap()
        .with_timezone(&Utc);
    let mut events = vec![
        Event::CaseOpened(CaseOpened {
            case: "01a1f82f-1e80-7faf-a64f-4733b51f519b".into(),
            mode: Mode::Rehearsal,
            playbook: PlaybookRef {
                id: "review-drill".into(),
                title: "Review drill".into(),
                version: "2".into(),
                sha256: sha(&source),
                snapshot: "playbook.yaml".into(),
                source: playbook.display().to_string(),
            },
            inputs: BTreeMap::from([("bucket".to_owned(), serde_json::json!("drill-bucket"))]),
        }),
        Event::SessionStarted(SessionStarted {
            pid: 1,
            host: "bench".into(),
            irp: "0.1.0".into(),
            command: "run".into(),
            clock: Some("fixed".into()),
            ids: Some("seeded".into()),
        }),
        Event::Started {
            first: "open-case".into(),
        },
        Event::StepCompleted {
            step: "open-case".into(),
            next: Some("coverage".into()),
        },
    ];
    let mut i = 0u32;
    while events.len() < ENTRIES {
        i += 1;
        let ip = format!("10.{}.{}.{}", i % 200, (i / 200) % 250, i % 250);
        for (step, next) in [("coverage", "reads"), ("reads", "triage")] {
            events.push(Event::QuerySubmitted(QuerySubmitted {
                step: step.into(),
                sql: format!("SELECT src_endpoint.ip AS ip, count(*) AS n FROM t WHERE run = {i} GROUP BY 1"),
                backend: "local".into(),
                not_collected: Vec::new(),
            }));
            events.push(Event::QuerySucceeded(QuerySucceeded {
                step: step.into(),
                rows: 2,
                artifact: Some(artifact.clone()),
                captures: BTreeMap::from([("ips".to_owned(), serde_json::json!([ip.clone()]))]),
                next: Some(next.into()),
                execution: None,
            }));
        }
        events.push(Event::NoteAdded {
            step: Some("triage".into()),
            text: format!("run {i}: the readers are {ip} and 198.51.100.7"),
            made_offline: None,
        });
        events.push(Event::EvidenceAdded(EvidenceAdded {
            step: Some("triage".into()),
            observable: Observable::Ip,
            value: ip,
            note: None,
            made_offline: None,
        }));
        events.push(Event::WentBack {
            from: Some("triage".into()),
            to: "coverage".into(),
        });
    }
    events.truncate(ENTRIES);
    let mut out = std::io::BufWriter::new(std::fs::File::create(root.join("journal.jsonl")).unwrap());
    let mut prev = GENESIS.to_owned();
    for (seq, event) in events.into_iter().enumerate() {
        let at = t0 + chrono::Duration::seconds(i64::try_from(seq).unwrap() * 3);
        let id = irp::clock::Ids::Seeded("bench".into()).id(at, &seq.to_string());
        let (e, line) = entry::encode(seq as u64, id, at, "bench", event, &prev).unwrap();
        out.write_all(&line).unwrap();
        prev = e.hash;
    }
    out.flush().unwrap();
}

fn main() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let playbook = repo.join("tests/fixtures/cases/review.yaml");
    let base = std::env::var_os("IRP_BENCH_DIR").map_or_else(|| repo.join("target"), Into::into);
    let tmp = tempfile::tempdir_in(base).unwrap();
    let case = tmp.path().join("case");
    write_case(&case, &playbook);
    let size = std::fs::metadata(case.join("journal.jsonl")).unwrap().len();
    println!("journal: {ENTRIES} entries, {:.1} MB", size as f64 / 1_000_000.0);

    // In-process: each part on its own.
    let mut read = Vec::new();
    let mut work = Vec::new();
    let mut render: BTreeMap<&str, Vec<Duration>> = BTreeMap::new();
    let mut sizes: BTreeMap<&str, usize> = BTreeMap::new();
    let now = Utc::now();
    for _ in 0..RUNS {
        let t = Instant::now();
        let record = CaseRecord::read(&case).unwrap();
        read.push(t.elapsed());
        assert!(record.problem.is_none());
        let t = Instant::now();
        let report = build(&record, now);
        work.push(t.elapsed());
        assert!(report.timeline.len() > ENTRIES / 2 && report.evidence.len() > 10_000);
        for (name, f) in [
            ("md", markdown::render as fn(&_, &_) -> String),
            ("html", html::render),
        ] {
            let t = Instant::now();
            let text = f(&report, &record.playbook);
            render.entry(name).or_default().push(t.elapsed());
            sizes.insert(name, text.len());
        }
        let t = Instant::now();
        let text = serde_json::to_string_pretty(&report).unwrap();
        render.entry("json").or_default().push(t.elapsed());
        sizes.insert("json", text.len());
    }
    println!("read and check the case (chain, every file): {:?}", median(read));
    println!("work the report out: {:?}", median(work));
    for (name, v) in render {
        println!(
            "render {name}: {:?} ({:.1} MB)",
            median(v),
            sizes[name] as f64 / 1_000_000.0
        );
    }

    // Review: opening at the last entry, then stepping back and forward through the timeline.
    let record = CaseRecord::read(&case).unwrap();
    let t = Instant::now();
    let mut review = irp::ui::review::Review::new(&record, irp::ui::text::Theme { color: false });
    let _ = review.show();
    let open = t.elapsed();
    let last = review.cursor();
    let mut back = Vec::new();
    let mut forward = Vec::new();
    for i in 1..=RUNS {
        let t = Instant::now();
        let _ = review.go(last - i);
        back.push(t.elapsed());
        let t = Instant::now();
        let _ = review.go(last - i + 1);
        forward.push(t.elapsed());
    }
    println!(
        "irp review: open at the last entry {open:?}; one entry back {:?}, one forward {:?} (medians)",
        median(back),
        median(forward)
    );

    // End to end through the release binary, as a responder runs it.
    let bin = Path::new(env!("CARGO_BIN_EXE_irp"));
    {
        for format in ["md", "html", "json"] {
            let mut times = Vec::new();
            for _ in 0..RUNS {
                let out = tmp.path().join(format!("report.{format}"));
                let t = Instant::now();
                let status = std::process::Command::new(bin)
                    .args(["report", case.to_str().unwrap(), "--format", format, "-o"])
                    .arg(&out)
                    .arg("--quiet")
                    .status()
                    .unwrap();
                times.push(t.elapsed());
                assert!(status.success());
            }
            println!(
                "irp report --format {format} (the bench-profile binary, end to end): {:?} median of {RUNS} (target under 2 s)",
                median(times)
            );
        }
    }
}
