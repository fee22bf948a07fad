//! `irp query [--lake DIR] [--format table|csv|json|parquet] [--output FILE] (SQL | --file F)`:
//! ad-hoc Athena SQL on the embedded engine. Results stream batch by batch to standard output or a
//! file (a large result is never held in memory), a progress line runs on standard error, and
//! Ctrl-C cancels the query.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use datafusion::arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;

use clap::{Args, ValueEnum};
use futures::StreamExt;

use super::athena::{AthenaArgs, Unbounded, load_config};
use super::{CliError, Output};
use crate::query::backend::athena::{Athena, Progress};
use crate::query::backend::local::{LocalEngine, Options, QueryError};

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    /// Aligned columns, for people (each batch of rows is one block).
    Table,
    /// CSV with a header line.
    Csv,
    /// One JSON object per row (JSON Lines).
    Json,
    /// A Parquet file (zstd), which keeps nested values and types; needs `--output` on a terminal.
    Parquet,
}

#[derive(Debug, Args)]
pub struct QueryArgs {
    /// The SQL (or `--file`).
    #[arg(required_unless_present = "file", conflicts_with = "file")]
    pub sql: Option<String>,
    /// Read the SQL from this file.
    #[arg(long, short)]
    pub file: Option<PathBuf>,
    /// The local lake (default: `IRP_LAKE`, else `./lake`).
    #[arg(long)]
    pub lake: Option<PathBuf>,
    /// How rows are printed.
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
    /// Write the result to this file instead of standard output. It appears only when the whole
    /// result is written: a failed or cancelled query leaves no file.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
    /// The engine's memory limit, in MiB.
    #[arg(long, default_value_t = 4096)]
    pub memory_mb: usize,
    /// Where the query runs: the embedded engine over `--lake`, or Amazon Athena.
    #[arg(long, value_enum, default_value = "local")]
    pub backend: QueryBackend,
    /// Print the SQL and where it would run, check it for an unbounded lake scan, and stop.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub athena: AthenaArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum QueryBackend {
    /// The embedded engine over a local lake.
    Local,
    /// Amazon Athena over Security Lake (credentials from the standard AWS configuration).
    Athena,
}

pub fn cmd_query(out: Output, args: &QueryArgs) -> Result<(), CliError> {
    let sql = match (&args.sql, &args.file) {
        (Some(s), _) => s.clone(),
        (None, Some(f)) => std::fs::read_to_string(f).map_err(|e| {
            CliError::user(
                format!("cannot read {}: {e}", f.display()),
                "give a file of SQL, or the SQL itself",
            )
        })?,
        (None, None) => String::new(),
    };
    if args.backend == QueryBackend::Athena {
        return athena_query(out, args, &sql);
    }
    if args.dry_run {
        out.data(&format!("{}\n", sql.trim_end()));
        return Ok(());
    }
    let lake = args
        .lake
        .clone()
        .or_else(|| std::env::var_os("IRP_LAKE").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("lake"));
    let memory_limit = args.memory_mb.max(64).checked_mul(1 << 20).ok_or_else(|| {
        CliError::user(
            format!(
                "--memory-mb {} is more memory than this machine can address",
                args.memory_mb
            ),
            "give the limit in MiB, e.g. `--memory-mb 4096`",
        )
    })?;
    let runtime = query_runtime()?;
    let result = runtime.block_on(async {
        let options = Options {
            memory_limit,
            ..Options::default()
        };
        let engine = LocalEngine::open(&lake, options)
            .await
            .map_err(|e| CliError::user(e.to_string(), "generate a lake with `irp lake generate DIR`, then `--lake DIR`"))?;
        let mut sink = Sink::open(args.output.as_deref(), args.format)?;
        let partial = sink.partial().map(Path::to_owned);
        let progress = out.spinner("running");
        let started = std::time::Instant::now();
        // The query runs as a task on the worker threads, so this thread stays free to notice
        // Ctrl-C even while an operator computes for a long time inside one poll.
        let engine = std::sync::Arc::new(engine);
        let task = {
            let progress = progress.clone();
            tokio::spawn(async move {
                let run = async {
                    let mut stream = engine.execute(&sql).await?;
                    sink.begin(stream.schema()).map_err(QueryError::Engine)?;
                    let mut rows = 0u64;
                    while let Some(batch) = stream.next().await {
                        let batch = batch.map_err(|e| engine.stream_error(&e))?;
                        rows += batch.num_rows() as u64;
                        progress.set_message(format!("{rows} rows"));
                        progress.suspend(|| sink.write(&batch)).map_err(QueryError::Engine)?;
                    }
                    Ok::<u64, QueryError>(rows)
                };
                let result = run.await;
                (result, sink)
            })
        };
        let result = tokio::select! {
            joined = task => match joined {
                Ok((Ok(rows), sink)) => sink.finish().map(|()| rows),
                Ok((Err(e), sink)) => {
                    sink.abandon();
                    Err(CliError::user(e.to_string(), "see docs/sql-dialect.md for the SQL the embedded engine runs"))
                }
                Err(e) => Err(CliError::user(format!("the query stopped: {e}"), "run it again; if it repeats, report it")),
            },
            () = interrupted() => {
                if let Some(p) = &partial {
                    let _ = std::fs::remove_file(p);
                }
                Err(CliError::user("the query was cancelled", "run it again when ready"))
            }
        };
        progress.finish_and_clear();
        let rows = result?;
        out.note(&format!("{rows} rows in {:.2} s", started.elapsed().as_secs_f64()));
        Ok(())
    });
    // A cancelled query may still be inside a long computation on a worker thread; waiting for
    // it would hold Ctrl-C up for as long as that takes. The process is about to exit, so the
    // workers are left to stop with it.
    runtime.shutdown_background();
    result
}

/// `irp query --backend athena`: the guard, then the query's life on Athena with its state on
/// the progress line; Ctrl-C stops the query on Athena too.
fn athena_query(out: Output, args: &QueryArgs, sql: &str) -> Result<(), CliError> {
    let config = load_config()?;
    let settings = args.athena.settings(&config.athena)?;
    let unbounded = crate::query::dialect::guard::unbounded_lake_tables(sql).unwrap_or_default();
    if !unbounded.is_empty() {
        let what = format!(
            "the query reads {} with no bound on time_dt or eventday: Athena will scan the whole table",
            unbounded.join(", ")
        );
        let hint = "add e.g. `WHERE time_dt > current_timestamp - INTERVAL '1' DAY`";
        if config.athena.unbounded == Some(Unbounded::Refuse) {
            return Err(CliError::user(
                what,
                format!("{hint} (the config file says `unbounded = \"refuse\"`)"),
            ));
        }
        out.note(&format!("warning: {what}; {hint}"));
        if std::io::stdin().is_terminal() && !args.dry_run && !confirm("run it anyway? [y/N] ") {
            return Err(CliError::user("not run", hint));
        }
    }
    if args.dry_run {
        out.data(&format!("{}\n", sql.trim_end()));
        out.note(&format!(
            "would run on Athena: workgroup {}, catalog {}, database {}",
            settings.workgroup,
            settings.catalog,
            settings
                .database
                .as_deref()
                .unwrap_or("amazon_security_lake_glue_db_<region>")
        ));
        return Ok(());
    }
    let runtime = query_runtime()?;
    let result = runtime.block_on(async {
        let athena = Athena::connect(settings)
            .await
            .map_err(|e| CliError::user(e.to_string(), e.hint()))?;
        let mut sink = Sink::open(args.output.as_deref(), args.format)?;
        let progress = out.spinner("starting");
        let cancel = std::sync::atomic::AtomicBool::new(false);
        let token = uuid::Uuid::now_v7().simple().to_string();
        let spin = progress.clone();
        let mut report = move |p: &Progress| {
            spin.set_message(format!(
                "{} {:.1} s, {} scanned",
                p.state,
                p.elapsed.as_secs_f64(),
                bytes(p.bytes_scanned)
            ));
        };
        // Each page goes to the output as it arrives: a result of any size is never held.
        let mut begun = false;
        let mut write_error = None;
        let result = {
            let mut page = |batch: datafusion::arrow::record_batch::RecordBatch| {
                let written = (|| {
                    if !begun {
                        sink.begin(batch.schema())?;
                        begun = true;
                    }
                    sink.write(&batch)
                })();
                written.inspect_err(|e| write_error = Some(e.clone()))
            };
            let run = athena.run_paged(sql, &token, &cancel, &mut report, &mut page);
            tokio::pin!(run);
            tokio::select! {
                r = &mut run => r,
                () = interrupted() => {
                    cancel.store(true, std::sync::atomic::Ordering::Relaxed);
                    run.await
                }
            }
        };
        progress.finish_and_clear();
        if let Some(e) = write_error {
            sink.abandon();
            return Err(CliError::user(e, "check the output file's folder and free space"));
        }
        let result = match result {
            Ok(r) => r,
            Err(e) => {
                sink.abandon();
                return Err(CliError::user(e.to_string(), e.hint()));
            }
        };
        if !begun && let Err(e) = sink.begin(result.schema.clone()) {
            sink.abandon();
            return Err(CliError::user(e, "check the output file's folder and free space"));
        }
        sink.finish()?;
        out.note(&format!(
            "{} rows; query {} ran {:.2} s, {} scanned (${:.4}), results fetched in {:.2} s",
            result.rows,
            result.query_id,
            result.run_time.as_secs_f64(),
            bytes(result.bytes_scanned),
            result.cost_usd,
            result.fetch_time.as_secs_f64()
        ));
        Ok(())
    });
    runtime.shutdown_background();
    result
}

fn query_runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            CliError::user(
                format!("cannot start the query runtime: {e}"),
                "check the system's thread limits",
            )
        })
}

/// Asks on the terminal; anything but y/yes is no.
fn confirm(question: &str) -> bool {
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(question.as_bytes());
    let _ = err.flush();
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer).is_ok() && matches!(answer.trim(), "y" | "Y" | "yes")
}

/// `1.2 GB`, in powers of 1000 as Athena bills.
fn bytes(n: u64) -> String {
    #[allow(clippy::cast_precision_loss)]
    let f = n as f64;
    match n {
        0..1_000 => format!("{n} B"),
        1_000..1_000_000 => format!("{:.1} kB", f / 1e3),
        1_000_000..1_000_000_000 => format!("{:.1} MB", f / 1e6),
        _ => format!("{:.2} GB", f / 1e9),
    }
}

/// Resolves at the first Ctrl-C (SIGINT). The signal is watched on a thread of its own with its
/// own runtime, so busy query workers cannot delay it.
async fn interrupted() {
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
            return;
        };
        if rt.block_on(tokio::signal::ctrl_c()).is_ok() {
            let _ = tx.send(());
        }
    });
    if rx.await.is_err() {
        // No signal handling here: never resolve.
        std::future::pending::<()>().await;
    }
}

/// Where the rows go: standard output or a file written beside its final name and renamed into
/// place when complete.
struct Sink {
    format: Format,
    header: bool,
    /// With `--output`: the partial file being written and the name it gets when complete.
    file: Option<(PathBuf, PathBuf)>,
    target: Target,
}

enum Target {
    Text(Box<dyn Write + Send>),
    Parquet {
        /// The file or standard output, until the result's schema is known.
        pending: Option<Box<dyn Write + Send>>,
        writer: Option<Box<ArrowWriter<Box<dyn Write + Send>>>>,
    },
}

impl Sink {
    fn open(output: Option<&Path>, format: Format) -> Result<Sink, CliError> {
        if matches!(format, Format::Parquet) && output.is_none() && std::io::stdout().is_terminal() {
            return Err(CliError::user(
                "Parquet is binary and standard output is a terminal",
                "write it to a file with `--output result.parquet`, or redirect standard output",
            ));
        }
        let (writer, file): (Box<dyn Write + Send>, _) = match output {
            Some(path) => {
                let partial = path.with_file_name(format!(
                    ".{}.partial",
                    path.file_name()
                        .map_or_else(|| "result".into(), |n| n.to_string_lossy().into_owned())
                ));
                let f = std::fs::File::create(&partial).map_err(|e| {
                    CliError::user(
                        format!("cannot write {}: {e}", partial.display()),
                        "give --output a file in a folder you can write to",
                    )
                })?;
                (
                    Box::new(std::io::BufWriter::new(f)),
                    Some((partial, path.to_owned())),
                )
            }
            None => (Box::new(std::io::stdout()), None),
        };
        let target = match format {
            Format::Parquet => Target::Parquet {
                pending: Some(writer),
                writer: None,
            },
            _ => Target::Text(writer),
        };
        Ok(Sink {
            format,
            header: true,
            file,
            target,
        })
    }

    /// Starts the result: a Parquet file needs its schema before the first row (and an empty
    /// result is still a file with the result's columns).
    fn begin(&mut self, schema: datafusion::arrow::datatypes::SchemaRef) -> Result<(), String> {
        if let Target::Parquet { pending, writer } = &mut self.target
            && let Some(sink) = pending.take()
        {
            *writer = Some(Box::new(
                ArrowWriter::try_new(sink, schema, Some(crate::lake::writer_properties()))
                    .map_err(|e| e.to_string())?,
            ));
        }
        Ok(())
    }

    fn write(&mut self, batch: &RecordBatch) -> Result<(), String> {
        match &mut self.target {
            Target::Text(writer) => {
                let text = render(batch, self.format, self.header)?;
                writer
                    .write_all(text.as_bytes())
                    .and_then(|()| writer.flush())
                    .map_err(|e| format!("cannot write the result: {e}"))?;
            }
            Target::Parquet { writer, .. } => {
                if let Some(w) = writer {
                    w.write(batch).map_err(|e| e.to_string())?;
                }
            }
        }
        self.header = false;
        Ok(())
    }

    fn finish(self) -> Result<(), CliError> {
        let io = |what: &Path, e: &dyn std::fmt::Display| {
            CliError::user(
                format!("cannot write {}: {e}", what.display()),
                "check the disk and try again",
            )
        };
        match self.target {
            Target::Text(mut writer) => writer.flush().map_err(|e| io(Path::new("the result"), &e))?,
            Target::Parquet { writer, .. } => {
                if let Some(w) = writer {
                    w.close().map_err(|e| io(Path::new("the result"), &e))?;
                }
            }
        }
        if let Some((partial, path)) = self.file {
            std::fs::rename(&partial, &path).map_err(|e| io(&path, &e))?;
        }
        Ok(())
    }

    /// The file being written, until it is complete.
    fn partial(&self) -> Option<&Path> {
        self.file.as_ref().map(|(p, _)| p.as_path())
    }

    fn abandon(self) {
        if let Some((partial, _)) = self.file {
            let _ = std::fs::remove_file(partial);
        }
    }
}

/// One batch as text; a format that cannot hold the result is an error, never missing rows.
fn render(batch: &RecordBatch, format: Format, header: bool) -> Result<String, String> {
    let mut buf = Vec::new();
    match format {
        Format::Table => {
            let t = datafusion::arrow::util::pretty::pretty_format_batches(std::slice::from_ref(batch))
                .map_err(|e| e.to_string())?;
            let _ = writeln!(buf, "{t}");
        }
        Format::Csv => {
            let mut w = datafusion::arrow::csv::WriterBuilder::new()
                .with_header(header)
                .build(&mut buf);
            w.write(batch)
                .map_err(|e| format!("CSV cannot hold this result ({e}); use --format json or parquet"))?;
        }
        Format::Json => {
            let mut w = datafusion::arrow::json::LineDelimitedWriter::new(&mut buf);
            w.write(batch).map_err(|e| e.to_string())?;
            w.finish().map_err(|e| e.to_string())?;
        }
        Format::Parquet => return Err("Parquet is not text".to_owned()),
    }
    Ok(String::from_utf8_lossy(&buf).into_owned())
}
