//! `irp query [--lake DIR] [--format table|csv|json] (SQL | --file F)`: ad-hoc Athena SQL on the
//! embedded engine. Results stream batch by batch to standard output (a large result is never held
//! in memory), and Ctrl-C cancels the query.

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, ValueEnum};
use futures::StreamExt;

use super::{CliError, Output};
use crate::query::local::{LocalEngine, Options};

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    /// Aligned columns, for people (each batch of rows is one block).
    Table,
    /// CSV with a header line.
    Csv,
    /// One JSON object per row (JSON Lines).
    Json,
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
    /// The engine's memory limit, in MiB.
    #[arg(long, default_value_t = 4096)]
    pub memory_mb: usize,
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
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            CliError::user(
                format!("cannot start the query runtime: {e}"),
                "check the system's thread limits",
            )
        })?;
    runtime.block_on(async {
        let options = Options {
            memory_limit,
            ..Options::default()
        };
        let engine = LocalEngine::open(&lake, options)
            .await
            .map_err(|e| CliError::user(e.to_string(), "generate a lake with `irp lake generate DIR`, then `--lake DIR`"))?;
        let run = async {
            let mut stream = engine.execute(&sql).await?;
            let mut rows = 0u64;
            let mut header = true;
            while let Some(batch) = stream.next().await {
                let batch = batch.map_err(|e| engine.stream_error(&e))?;
                rows += batch.num_rows() as u64;
                print_batch(out, &batch, args.format, header)
                    .map_err(crate::query::local::QueryError::Engine)?;
                header = false;
            }
            Ok::<u64, crate::query::local::QueryError>(rows)
        };
        tokio::select! {
            r = run => {
                let rows = r.map_err(|e| CliError::user(e.to_string(), "see docs/sql-dialect.md for the SQL the embedded engine runs"))?;
                out.note(&format!("{rows} rows"));
                Ok(())
            }
            _ = tokio::signal::ctrl_c() => Err(CliError::user("the query was cancelled", "run it again when ready")),
        }
    })
}

/// Prints one batch; a format that cannot hold the result is an error, never missing rows.
fn print_batch(
    out: Output,
    batch: &datafusion::arrow::record_batch::RecordBatch,
    format: Format,
    header: bool,
) -> Result<(), String> {
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
                .map_err(|e| format!("CSV cannot hold this result ({e}); use --format json"))?;
        }
        Format::Json => {
            let mut w = datafusion::arrow::json::LineDelimitedWriter::new(&mut buf);
            w.write(batch).map_err(|e| e.to_string())?;
            w.finish().map_err(|e| e.to_string())?;
        }
    }
    out.data(&String::from_utf8_lossy(&buf));
    Ok(())
}
