//! The port through which drivers run queries, and its two adapters: `local_runner` (the embedded
//! engine) and `athena_runner` (Amazon Athena) run a step's SQL and keep its result as an
//! artifact of the case. Tests may implement the port with a double that replays stored results.

pub mod athena_runner;
pub mod local_runner;

pub use athena_runner::AthenaRunner;
pub use local_runner::LocalRunner;

use std::sync::atomic::AtomicBool;

use super::Session;
use crate::engine::{ArtifactRef, Execution};

/// Runs playbook queries for a driver. The embedded engine and Athena implement it; tests may
/// use a double that replays stored results.
pub trait QueryRunner {
    /// The backend's name, recorded with each query.
    fn name(&self) -> &str;
    /// Runs `sql` for `step`. Rows go to the captures; the full result is stored as an artifact
    /// with `session.write_artifact` when the backend keeps one. `watch` hears the query's
    /// progress and stops it when its flag is set (the result is then an error).
    fn run(
        &mut self,
        session: &Session,
        step: &str,
        sql: &str,
        watch: Watch<'_>,
    ) -> Result<QueryResult, QueryFailure>;

    /// Files were added to the data the backend reads (a rehearsal's inject landed); the next
    /// query must see them.
    fn lake_changed(&mut self) {}

    /// Whether the backend has table `table` of database `database`: `Some(false)` when it
    /// knows it has not (the source is not collected), `None` when it cannot tell without
    /// running a query (a query on a missing table then fails with `missing_table` set).
    fn has_table(&mut self, _database: &str, _table: &str) -> Option<bool> {
        None
    }

    /// Runs `sql` outside any step, before a case opens (to read the finding it is opened
    /// from), and returns its first rows as JSON objects; nothing is kept.
    fn rows(&mut self, _sql: &str) -> Result<Vec<serde_json::Value>, String> {
        Err(format!(
            "the {} backend cannot read a finding before the case opens",
            self.name()
        ))
    }
}

/// Rows read outside a step: the first this many.
pub const ROWS_OUTSIDE_A_STEP: usize = 100;

/// A driver's view of a query while it runs, and its way to stop it.
pub struct Watch<'a> {
    /// Set to stop the query; the backend checks it at least every 100 ms.
    pub cancel: &'a AtomicBool,
    /// Called as the query advances (not more than a few times a second).
    pub progress: &'a mut (dyn FnMut(&Progress) + Send),
}

impl std::fmt::Debug for Watch<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watch")
            .field("cancel", &self.cancel)
            .finish_non_exhaustive()
    }
}

/// Where a running query stands.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Progress {
    /// The backend's word for it (`RUNNING`, `QUEUED`, `FETCHING`…).
    pub state: String,
    /// Rows received so far.
    pub rows: u64,
    /// Bytes the backend has read so far, when it says.
    pub bytes_scanned: Option<u64>,
}

#[derive(Debug, Clone)]
pub struct QueryResult {
    pub rows: Vec<serde_json::Value>,
    pub row_count: u64,
    pub artifact: Option<ArtifactRef>,
    pub execution: Option<Execution>,
}

/// Why a query failed, and what the backend knows of its run.
#[derive(Debug, Clone)]
pub struct QueryFailure {
    pub error: String,
    pub execution: Option<Box<Execution>>,
    /// The table the backend said does not exist (Athena's `TABLE_NOT_FOUND`), by its name
    /// without database.
    pub missing_table: Option<String>,
}

impl From<String> for QueryFailure {
    fn from(error: String) -> Self {
        QueryFailure {
            error,
            execution: None,
            missing_table: None,
        }
    }
}

/// How a query the responder stopped is recorded (the start of `query_cancelled`'s reason).
/// A query cancelled this way is over on the backend, so running the step again is a new
/// attempt (Athena: a new request token); one cancelled because irp had stopped is not.
pub const CANCELLED: &str = "cancelled by the responder";
