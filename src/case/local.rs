//! The embedded engine as a driver's query backend: a playbook step's SQL runs on the local
//! lake; the whole result is streamed into a Parquet artifact in the case folder (never held in
//! memory), and the first rows feed the step's captures.

use std::path::Path;

use futures::StreamExt;

use super::Session;
use super::headless::{QueryFailure, QueryResult, QueryRunner};
use crate::query::local::{LocalEngine, Options, QueryError};

/// How many rows captures see; the artifact holds them all.
pub const CAPTURE_ROWS: usize = 10_000;

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

    fn run(&mut self, session: &Session, step: &str, sql: &str) -> Result<QueryResult, QueryFailure> {
        let (rel, path) = session
            .artifact_path(step, "parquet")
            .map_err(|e| e.to_string())?;
        let engine = &self.engine;
        let result = self.runtime.block_on(async {
            let mut stream = engine.execute(sql).await.map_err(|e| e.to_string())?;
            let file = std::fs::File::create(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            let mut writer = parquet::arrow::ArrowWriter::try_new(
                file,
                stream.schema(),
                Some(crate::lake::writer_properties()),
            )
            .map_err(|e| e.to_string())?;
            let mut rows: Vec<serde_json::Value> = Vec::new();
            let mut count = 0u64;
            while let Some(batch) = stream.next().await {
                let batch = batch.map_err(|e| engine.stream_error(&e).to_string())?;
                count += batch.num_rows() as u64;
                writer.write(&batch).map_err(|e| e.to_string())?;
                if rows.len() < CAPTURE_ROWS {
                    rows.extend(to_json_rows(&batch)?.into_iter().take(CAPTURE_ROWS - rows.len()));
                }
            }
            writer.close().map_err(|e| e.to_string())?;
            Ok::<_, String>((rows, count))
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
