//! Terminal UI benchmark (not a test): the time to draw one frame with a 100,000-row result on
//! screen (target: under 5 ms), and the memory a 1,000,000-row result costs (bounded: rows are
//! held as Arrow columns and only the rows on screen are formatted).
//! `cargo bench --bench ui` (or `scripts/bench-ui`); figures go to docs/performance.md.
#![allow(
    clippy::print_stdout,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss
)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::{ArrayRef, Int64Array, StringArray, TimestampMillisecondArray};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use arrow::record_batch::RecordBatch;
use chrono::{DateTime, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use irp::case::{Context, Session};
use irp::clock::{Clock, Ids};
use irp::engine::{Command, Mode};
use irp::ui::model::{self, Model, Msg};
use irp::ui::table::ResultTable;
use irp::ui::text::Theme;
use irp::ui::worker::Reply;
use ratatui::Terminal;
use ratatui::backend::TestBackend;

const FRAMES: usize = 300;

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-27T23:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

/// A result shaped like the S3 playbook's reads-by-principal: text, an IP, a user agent,
/// counts and times.
fn result(rows: usize) -> ResultTable {
    let schema = Arc::new(Schema::new(vec![
        Field::new("principal", DataType::Utf8, true),
        Field::new("ip", DataType::Utf8, true),
        Field::new("user_agent", DataType::Utf8, true),
        Field::new("reads", DataType::Int64, false),
        Field::new("bytes_out", DataType::Int64, false),
        Field::new(
            "first_seen",
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            false,
        ),
    ]));
    let mut batches = Vec::new();
    let base = now().timestamp_millis();
    let mut start = 0usize;
    while start < rows {
        let n = (rows - start).min(65_536);
        let r = start..start + n;
        let cols: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from_iter_values(r.clone().map(|i| {
                format!("arn:aws:iam::111122223333:user/user-{:06}", i % 50_000)
            }))),
            Arc::new(StringArray::from_iter_values(
                r.clone()
                    .map(|i| format!("10.{}.{}.{}", i % 200, (i / 200) % 250, i % 7)),
            )),
            Arc::new(StringArray::from_iter_values(r.clone().map(|i| {
                format!(
                    "aws-cli/2.13.{} Python/3.11.5 Linux/6.5.0 exe/x86_64 command/s3.cp",
                    i % 40
                )
            }))),
            Arc::new(Int64Array::from_iter_values(
                r.clone().map(|i| (i * 7919 % 100_000) as i64),
            )),
            Arc::new(Int64Array::from_iter_values(
                r.clone().map(|i| (i * 104_729 % 10_000_000) as i64),
            )),
            Arc::new(
                TimestampMillisecondArray::from_iter_values(r.map(|i| base - (i as i64) * 1000))
                    .with_timezone("UTC"),
            ),
        ];
        batches.push(RecordBatch::try_new(schema.clone(), cols).unwrap());
        start += n;
    }
    ResultTable::from_batches(schema, &batches).unwrap()
}

/// A model at the S3 playbook's first query step.
fn model(dir: &std::path::Path) -> Model {
    let ctx = Context {
        actor: "bench".into(),
        clock: Clock::Fixed(now()),
        ids: Ids::Seeded("bench".into()),
        command: "bench".into(),
        signer: None,
    };
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let inputs = [
        ("bucket".to_owned(), "acme-customer-exports".to_owned()),
        ("bucket_account".to_owned(), "111122223333".to_owned()),
        ("region".to_owned(), "us-east-1".to_owned()),
    ];
    let mut session = Session::create(
        &dir.join("case"),
        &repo.join("playbooks/s3-unintended-data-access.yaml"),
        &inputs,
        Mode::Rehearsal,
        ctx,
    )
    .unwrap();
    session.execute(&Command::Start).unwrap();
    session
        .execute(&Command::Complete {
            step: "open-case".into(),
        })
        .unwrap();
    irp::ui::model_for(&session, Some("local"), Theme { color: true }, now())
}

fn key(m: &mut Model, code: KeyCode) {
    let _ = model::update(m, Msg::Key(KeyEvent::new(code, KeyModifiers::NONE)));
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Draws `FRAMES` frames, moving the selection a row down before each (as a responder holding
/// ↓ does); per-frame median and 99th percentile.
fn frames(m: &mut Model, w: u16, h: u16) -> (Duration, Duration) {
    let _ = model::update(m, Msg::Resize(w, h));
    let mut terminal = Terminal::new(TestBackend::new(w, h)).unwrap();
    let mut times = Vec::with_capacity(FRAMES);
    for _ in 0..FRAMES {
        key(m, KeyCode::Down);
        let t = Instant::now();
        terminal.draw(|f| irp::ui::view::view(m, f)).unwrap();
        times.push(t.elapsed());
    }
    times.sort();
    let p99 = times[times.len() * 99 / 100];
    (median(times), p99)
}

/// Resident memory of this process, in bytes.
fn rss() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

fn mb(b: u64) -> f64 {
    b as f64 / 1e6
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let mut m = model(dir.path());
    let step = m.state.current_step().unwrap().to_owned();

    println!("## Frame render time, 100,000-row result on screen ({FRAMES} frames each)\n");
    println!("| terminal | view | median | p99 |");
    println!("|---|---|---:|---:|");
    let table = Arc::new(result(100_000));
    let _ = model::update(
        &mut m,
        Msg::Worker(Reply::Result {
            step: step.clone(),
            seq: 0,
            table: Ok(table),
        }),
    );
    for (w, h) in [(80u16, 24u16), (160, 48), (250, 70)] {
        let (med, p99) = frames(&mut m, w, h);
        println!(
            "| {w}×{h} | as returned | {:.3} ms | {:.3} ms |",
            med.as_secs_f64() * 1e3,
            p99.as_secs_f64() * 1e3
        );
    }
    // Sorted by the user agent, descending, then filtered: the frame cost stays the same; the
    // sort and the filter are paid once, when asked for.
    for _ in 0..2 {
        key(&mut m, KeyCode::Right);
    }
    let t = Instant::now();
    key(&mut m, KeyCode::Char('s'));
    key(&mut m, KeyCode::Char('s'));
    let sort = t.elapsed();
    let (med, p99) = frames(&mut m, 160, 48);
    println!(
        "| 160×48 | sorted by user_agent ↓ | {:.3} ms | {:.3} ms |",
        med.as_secs_f64() * 1e3,
        p99.as_secs_f64() * 1e3
    );
    key(&mut m, KeyCode::Char('/'));
    for c in "user-0421".chars() {
        key(&mut m, KeyCode::Char(c));
    }
    let t = Instant::now();
    key(&mut m, KeyCode::Enter);
    let filter = t.elapsed();
    let (med, p99) = frames(&mut m, 160, 48);
    println!(
        "| 160×48 | filtered (`user-0421`, {} rows) | {:.3} ms | {:.3} ms |",
        m.visible_rows(),
        med.as_secs_f64() * 1e3,
        p99.as_secs_f64() * 1e3
    );
    println!(
        "\nSorting 100,000 rows (once): {:.1} ms; filtering them (once): {:.1} ms.",
        sort.as_secs_f64() * 1e3,
        filter.as_secs_f64() * 1e3
    );

    // Memory: a million rows, held and drawn, against formatting every row up front.
    drop(m);
    let mut m = model(dir.path().join("m").as_path());
    let before = rss();
    let table = Arc::new(result(1_000_000));
    let built = rss();
    let arrow_bytes = table.memory_size();
    let _ = model::update(
        &mut m,
        Msg::Worker(Reply::Result {
            step,
            seq: 0,
            table: Ok(table.clone()),
        }),
    );
    let (med, _) = frames(&mut m, 160, 48);
    key(&mut m, KeyCode::End);
    let (med_end, _) = frames(&mut m, 160, 48);
    let drawn = rss();
    // The alternative the UI avoids: every cell formatted to a String.
    let t = Instant::now();
    let formatted: Vec<Vec<String>> = (0..table.rows())
        .map(|r| (0..table.columns()).map(|c| table.cell(r, c)).collect())
        .collect();
    let format_time = t.elapsed();
    let all_formatted = rss();
    println!("\n## Memory, 1,000,000-row result\n");
    println!("| what | resident memory added |");
    println!("|---|---:|");
    println!(
        "| the result as Arrow columns ({:.1} MB of buffers) | {:.1} MB |",
        mb(arrow_bytes as u64),
        mb(built.saturating_sub(before))
    );
    println!(
        "| drawing {} frames at the top and the bottom (median {:.3} / {:.3} ms) | {:.1} MB |",
        2 * FRAMES,
        med.as_secs_f64() * 1e3,
        med_end.as_secs_f64() * 1e3,
        mb(drawn.saturating_sub(built))
    );
    println!(
        "| for comparison: every cell formatted up front ({:.1} s), which the UI never does | {:.1} MB |",
        format_time.as_secs_f64(),
        mb(all_formatted.saturating_sub(drawn))
    );
    drop(formatted);
}
