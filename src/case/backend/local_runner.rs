//! The embedded engine as a driver's query backend: a playbook step's SQL runs on the local
//! lake; the whole result is streamed into a Parquet artifact in the case folder (never held in
//! memory), and the first rows feed the step's captures.

use std::path::Path;

use futures::StreamExt;

use crate::case::Session;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::{Progress, QueryFailure, QueryResult, QueryRunner, Watch};
use crate::query::backend::local::{LocalEngine, Options, QueryError};

/// How many rows captures see; the artifact holds them all.
pub const CAPTURE_ROWS: usize = 10_000;

/// How often a running query's cancel flag is looked at.
const CANCEL_TICK: Duration = Duration::from_millis(50);
/// How often a running query reports its progress.
const PROGRESS_EVERY: Duration = Duration::from_millis(200);

#[derive(Debug)]
pub struct LocalRunner {
    engine: LocalEngine,
    runtime: tokio::runtime::Runtime,
}

impl LocalRunner {
    pub fn open(lake: &Path, options: Options) -> Result<LocalRunner, QueryError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(|e| QueryError::Engine(format!("cannot start the query runtime: {e}")))?;
        let engine = runtime.block_on(LocalEngine::open(lake, options))?;
        Ok(LocalRunner { engine, runtime })
    }
}

impl QueryRunner for LocalRunner {
    fn name(&self) -> &'static str {
        "local"
    }

    fn lake_changed(&mut self) {
        self.engine.forget_listings();
    }

    fn has_table(&mut self, database: &str, table: &str) -> Option<bool> {
        Some(self.engine.has_table(database, table))
    }

    fn rows(&mut self, sql: &str) -> Result<Vec<serde_json::Value>, String> {
        let engine = &self.engine;
        self.runtime.block_on(async {
            let mut stream = engine.execute(sql).await.map_err(|e| e.to_string())?;
            let mut rows = Vec::new();
            while let Some(batch) = stream.next().await {
                let batch = batch.map_err(|e| engine.stream_error(&e).to_string())?;
                rows.extend(to_json_rows(&batch)?);
                if rows.len() >= super::ROWS_OUTSIDE_A_STEP {
                    rows.truncate(super::ROWS_OUTSIDE_A_STEP);
                    break;
                }
            }
            Ok(rows)
        })
    }

    fn run(
        &mut self,
        session: &Session,
        step: &str,
        sql: &str,
        watch: Watch<'_>,
    ) -> Result<QueryResult, QueryFailure> {
        let (rel, path) = session
            .artifact_path(step, "parquet")
            .map_err(|e| e.to_string())?;
        let engine = &self.engine;
        let Watch { cancel, progress } = watch;
        let result = self.runtime.block_on(async {
            let run = async {
                let mut stream = engine.execute(sql).await.map_err(|e| e.to_string())?;
                let mut artifact = ResultArtifact::create(&path, stream.schema())?;
                let mut told = std::time::Instant::now();
                while let Some(batch) = stream.next().await {
                    artifact.push(&batch.map_err(|e| engine.stream_error(&e).to_string())?)?;
                    if told.elapsed() >= PROGRESS_EVERY {
                        told = std::time::Instant::now();
                        progress(&Progress {
                            state: "RUNNING".to_owned(),
                            rows: artifact.count,
                            bytes_scanned: None,
                        });
                    }
                }
                artifact.finish()
            };
            // An operator may compute for a long time inside one poll; the flag is looked at
            // on its own clock so a cancel stops the query within a tick.
            let cancelled = async {
                while !cancel.load(Ordering::Relaxed) {
                    tokio::time::sleep(CANCEL_TICK).await;
                }
            };
            tokio::select! {
                r = run => r,
                () = cancelled => Err(super::CANCELLED.to_owned()),
            }
        });
        let (rows, row_count) = result.inspect_err(|_| {
            // A partial result no entry vouches for is not kept.
            let _ = std::fs::remove_file(&path);
        })?;
        let artifact = session.seal_artifact(&rel).map_err(|e| e.to_string())?;
        Ok(QueryResult {
            rows,
            row_count,
            artifact: Some(artifact),
            execution: None,
        })
    }
}

/// A query result on its way into the case folder: every batch into the Parquet artifact, the
/// first `CAPTURE_ROWS` rows kept (as JSON objects) for the captures. Both backends use it.
pub(super) struct ResultArtifact {
    writer: parquet::arrow::ArrowWriter<std::fs::File>,
    rows: Vec<serde_json::Value>,
    count: u64,
}

impl ResultArtifact {
    pub(super) fn create(
        path: &Path,
        schema: datafusion::arrow::datatypes::SchemaRef,
    ) -> Result<ResultArtifact, String> {
        // Never over an existing file: an artifact is written once.
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let writer =
            parquet::arrow::ArrowWriter::try_new(file, schema, Some(crate::lake::writer_properties()))
                .map_err(|e| e.to_string())?;
        Ok(ResultArtifact {
            writer,
            rows: Vec::new(),
            count: 0,
        })
    }

    pub(super) fn push(
        &mut self,
        batch: &datafusion::arrow::record_batch::RecordBatch,
    ) -> Result<(), String> {
        self.count += batch.num_rows() as u64;
        self.writer.write(batch).map_err(|e| e.to_string())?;
        if self.rows.len() < CAPTURE_ROWS {
            let room = CAPTURE_ROWS - self.rows.len();
            self.rows.extend(to_json_rows(batch)?.into_iter().take(room));
        }
        Ok(())
    }

    /// The rows for the captures and the count of all rows.
    pub(super) fn finish(self) -> Result<(Vec<serde_json::Value>, u64), String> {
        self.writer.close().map_err(|e| e.to_string())?;
        Ok((self.rows, self.count))
    }
}

pub(super) fn to_json_rows(
    batch: &datafusion::arrow::record_batch::RecordBatch,
) -> Result<Vec<serde_json::Value>, String> {
    let mut buf = Vec::new();
    // A NULL is `none` to the capture expressions, never a missing attribute.
    let mut w = datafusion::arrow::json::WriterBuilder::new()
        .with_explicit_nulls(true)
        .build::<_, datafusion::arrow::json::writer::JsonArray>(&mut buf);
    w.write(batch).map_err(|e| e.to_string())?;
    w.finish().map_err(|e| e.to_string())?;
    if buf.is_empty() {
        return Ok(Vec::new());
    }
    serde_json::from_slice(&buf).map_err(|e| e.to_string())
}
