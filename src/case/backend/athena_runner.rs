//! Athena as a driver's query backend: a playbook step's SQL, rendered with the Security Lake
//! names of the settings' region and database, runs on Athena; the whole result is stored as a
//! Parquet artifact, the first rows feed the captures, and the query's id, state, reason, bytes
//! scanned and timings go into the journal entry that ends the step's query.

use super::local_runner::ResultArtifact;
use super::{CANCELLED, Progress, QueryFailure, QueryResult, QueryRunner, Watch};
use crate::case::Session;
use crate::engine::{Event, Execution};
use crate::playbook::context::TableNaming;
use crate::query::backend::athena::{Athena, AthenaError, AthenaSettings, request_token};

#[derive(Debug)]
pub struct AthenaRunner {
    athena: Athena,
    runtime: tokio::runtime::Runtime,
    /// Refuse a query on a Security Lake table with no `time_dt` / `eventday` bound.
    refuse_unbounded: bool,
}

impl AthenaRunner {
    pub fn open(settings: AthenaSettings, refuse_unbounded: bool) -> Result<AthenaRunner, String> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the query runtime: {e}"))?;
        let athena = runtime
            .block_on(Athena::connect(settings))
            .map_err(|e| format!("{e} ({})", e.hint()))?;
        Ok(AthenaRunner {
            athena,
            runtime,
            refuse_unbounded,
        })
    }

    /// How the playbook's `table` names resolve on this backend.
    pub fn naming(&self) -> TableNaming {
        self.athena.naming()
    }
}

impl QueryRunner for AthenaRunner {
    fn name(&self) -> &'static str {
        "athena"
    }

    fn rows(&mut self, sql: &str) -> Result<Vec<serde_json::Value>, String> {
        let token = request_token("before-opening", "from-finding", sql, 0);
        let cancel = std::sync::atomic::AtomicBool::new(false);
        let result = self
            .runtime
            .block_on(self.athena.run(sql, &token, &cancel, &mut |_| {}))
            .map_err(|e| format!("{e} ({})", e.hint()))?;
        let mut rows = Vec::new();
        for batch in &result.batches {
            rows.extend(super::local_runner::to_json_rows(batch)?);
        }
        rows.truncate(super::ROWS_OUTSIDE_A_STEP);
        Ok(rows)
    }

    fn run(
        &mut self,
        session: &Session,
        step: &str,
        sql: &str,
        watch: Watch<'_>,
    ) -> Result<QueryResult, QueryFailure> {
        if self.refuse_unbounded {
            let tables = crate::query::dialect::guard::unbounded_lake_tables(sql).unwrap_or_default();
            if !tables.is_empty() {
                return Err(QueryFailure {
                    error: format!(
                        "not sent to Athena: the query reads {} with no bound on time_dt or eventday, and the config file says `unbounded = \"refuse\"` (bound the step's SQL in the playbook, or skip the step)",
                        tables.join(", ")
                    ),
                    execution: None,
                    missing_table: None,
                });
            }
        }
        // The same step, SQL and attempt give the same token: a run killed after starting the
        // query and resumed gets the same query back from Athena instead of a second one.
        let attempt = session
            .entries
            .iter()
            .filter(|e| match &e.event {
                Event::QuerySucceeded(q) => q.step == step,
                Event::QueryFailed(q) => q.step == step,
                // Stopped by the responder: that query is over, and the next run is a new one.
                Event::QueryCancelled { step: s, reason } => s == step && reason.starts_with(CANCELLED),
                _ => false,
            })
            .count();
        let case = session.state.opened.as_ref().map_or("", |o| o.case.as_str());
        let token = request_token(case, step, sql, u32::try_from(attempt).unwrap_or(u32::MAX));
        let Watch { cancel, progress } = watch;
        let mut last = None;
        // The step's own timeout, when the playbook gives one, replaces the settings'.
        let step_timeout = session
            .playbook
            .step_index(step)
            .and_then(|i| session.playbook.steps[i].timeout);
        let athena = match step_timeout {
            Some(t) => self.athena.with_timeout(Some(t)),
            None => self.athena.clone(),
        };
        // The result goes into the Parquet artifact page by page as Athena hands it over, so
        // a result of any size is never held whole.
        let (rel, path) = session.artifact_path(step, "parquet").map_err(|e| QueryFailure {
            error: e.to_string(),
            execution: None,
            missing_table: None,
        })?;
        let mut artifact: Option<ResultArtifact> = None;
        let outcome = self.runtime.block_on(athena.run_paged(
            sql,
            &token,
            cancel,
            &mut |p| {
                progress(&Progress {
                    state: p.state.clone(),
                    rows: 0,
                    bytes_scanned: Some(p.bytes_scanned),
                });
                last = Some(p.clone());
            },
            &mut |batch| {
                let into = match &mut artifact {
                    Some(a) => a,
                    None => artifact.insert(ResultArtifact::create(&path, batch.schema())?),
                };
                into.push(&batch)
            },
        ));
        let result = match outcome {
            Ok(r) => r,
            Err(e) => {
                // A partial result no entry vouches for is not kept.
                drop(artifact);
                let _ = std::fs::remove_file(&path);
                let execution = last.map(|p| Execution {
                    query_id: p.query_id,
                    state: p.state,
                    state_reason: match &e {
                        AthenaError::Failed { reason, .. } => Some(reason.clone()),
                        _ => None,
                    },
                    bytes_scanned: p.bytes_scanned,
                    run_ms: u64::try_from(p.elapsed.as_millis()).unwrap_or(u64::MAX),
                    fetch_ms: 0,
                });
                let missing_table = match &e {
                    AthenaError::Failed { reason, .. } => missing_table(reason),
                    _ => None,
                };
                return Err(QueryFailure {
                    error: format!("{e} ({})", e.hint()),
                    execution: execution.map(Box::new),
                    missing_table,
                });
            }
        };
        let execution = Execution {
            query_id: result.query_id.clone(),
            state: "SUCCEEDED".to_owned(),
            state_reason: None,
            bytes_scanned: result.bytes_scanned,
            run_ms: u64::try_from(result.run_time.as_millis()).unwrap_or(u64::MAX),
            fetch_ms: u64::try_from(result.fetch_time.as_millis()).unwrap_or(u64::MAX),
        };
        let failed = |error: String| QueryFailure {
            error,
            execution: Some(Box::new(execution.clone())),
            missing_table: None,
        };
        let finish = || match artifact {
            Some(a) => a.finish(),
            None => ResultArtifact::create(&path, result.schema.clone())?.finish(),
        };
        let (rows, _) = finish().map_err(|e| {
            let _ = std::fs::remove_file(&path);
            failed(e)
        })?;
        let artifact = session.seal_artifact(&rel).map_err(|e| failed(e.to_string()))?;
        Ok(QueryResult {
            rows,
            row_count: result.rows,
            artifact: Some(artifact),
            execution: Some(execution),
        })
    }
}

/// The table a `TABLE_NOT_FOUND` failure names, without catalog and database:
/// `TABLE_NOT_FOUND: line 3:6: Table 'awsdatacatalog.db.t' does not exist` gives `t`.
/// A missing schema or catalog is not a missing source (the settings name the wrong database).
pub fn missing_table(reason: &str) -> Option<String> {
    let rest = &reason[reason.find("TABLE_NOT_FOUND")?..];
    let quoted = rest.split('\'').nth(1)?;
    let name = quoted.rsplit('.').next()?.trim_matches('"');
    (!name.is_empty()).then(|| name.to_ascii_lowercase())
}
