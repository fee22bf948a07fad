//! The Athena backend: a query's life on Amazon Athena, from `StartQueryExecution` to the last
//! row converted into the Arrow types the embedded engine returns.
//!
//! Credentials and region come from `aws-config`'s standard chain (environment, profiles, SSO,
//! web identity, IMDS), overridable by the settings. A query is started with a client request
//! token, so a retried start never runs it twice; its state is polled with capped exponential
//! backoff; a cancel or a timeout stops it with `StopQueryExecution`; results are paged 1,000
//! rows at a time and converted column by column from `ResultSetMetadata`'s types.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use arrow::array::{
    ArrayRef, BooleanBuilder, Date32Builder, Decimal128Builder, Float32Builder, Float64Builder, Int8Builder,
    Int16Builder, Int32Builder, Int64Builder, StringBuilder, TimestampMillisecondBuilder,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use arrow::record_batch::RecordBatch;
use aws_sdk_athena::Client;
use aws_sdk_athena::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_athena::types::{
    ColumnInfo, QueryExecutionContext, QueryExecutionState, ResultConfiguration, Row,
};

/// Athena's largest page of `GetQueryResults`.
pub const PAGE_ROWS: i32 = 1_000;

/// Where and how queries run. Every field but `workgroup` and `catalog` may be left to the
/// standard AWS configuration or to the workgroup's own settings.
#[derive(Debug, Clone)]
pub struct AthenaSettings {
    pub profile: Option<String>,
    pub region: Option<String>,
    /// Security Lake source version of the table names, `(2, 0)` by default.
    pub source_version: (u32, u32),
    pub endpoint_url: Option<String>,
    pub workgroup: String,
    /// `s3://bucket/prefix/` for results; `None` uses the workgroup's.
    pub output_location: Option<String>,
    pub catalog: String,
    /// The Security Lake database; `None` is `amazon_security_lake_glue_db_<region>`.
    pub database: Option<String>,
    /// US dollars per TB scanned, for the cost shown with each query.
    pub price_per_tb: f64,
    /// The first and the longest wait between two polls of a query's state.
    pub poll_first: Duration,
    pub poll_max: Duration,
    /// A query still running after this is stopped.
    pub timeout: Option<Duration>,
    /// Attempts per call (the SDK's standard retry: throttling and 5xx are retried with
    /// exponential backoff from `retry_backoff`) before the error reaches the responder.
    pub retry_attempts: u32,
    pub retry_backoff: Duration,
}

impl Default for AthenaSettings {
    fn default() -> Self {
        AthenaSettings {
            profile: None,
            region: None,
            source_version: (2, 0),
            endpoint_url: None,
            workgroup: "primary".to_owned(),
            output_location: None,
            catalog: "AwsDataCatalog".to_owned(),
            database: None,
            price_per_tb: 5.0,
            poll_first: Duration::from_millis(200),
            poll_max: Duration::from_secs(5),
            timeout: Some(Duration::from_mins(30)),
            retry_attempts: 5,
            retry_backoff: Duration::from_secs(1),
        }
    }
}

/// What went wrong, in words a responder can act on. The step stays re-runnable after any of
/// them.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AthenaError {
    #[error("no AWS region is set: irp needs one to find Athena and to name Security Lake's tables")]
    NoRegion,
    #[error("no AWS credentials were found: {0}")]
    NoCredentials(String),
    #[error("the AWS SSO session has expired: {0}")]
    SsoExpired(String),
    #[error("the AWS credentials have expired or are not valid: {0}")]
    ExpiredCredentials(String),
    #[error("access denied{}: {message}", permission.as_ref().map(|p| format!(" (missing permission: {p})")).unwrap_or_default())]
    AccessDenied {
        permission: Option<String>,
        message: String,
    },
    #[error("Athena cannot find {what}: {message}")]
    NotFound { what: String, message: String },
    #[error("not sent to Athena: {0}")]
    NotARead(crate::playbook::read_only::ReachError),
    #[error("the query failed{}: {reason}", position.map(|(l, c)| format!(" at line {l}, column {c}")).unwrap_or_default())]
    Failed {
        query_id: String,
        reason: String,
        position: Option<(u32, u32)>,
    },
    #[error("the query was cancelled ({query_id})")]
    Cancelled { query_id: String },
    #[error("the query ran longer than its timeout of {}s and was stopped ({query_id})", timeout.as_secs())]
    TimedOut { query_id: String, timeout: Duration },
    #[error("Athena is throttling or failing ({0}); the SDK's retries are used up")]
    Unavailable(String),
    #[error("Athena returned {0}")]
    Result(String),
    #[error("calling Athena: {0}")]
    Other(String),
}

impl AthenaError {
    /// What to do next.
    pub fn hint(&self) -> String {
        match self {
            AthenaError::NoRegion => "give `--region`, `region` in the config file's [athena] table, AWS_REGION, or `region` in the AWS profile".to_owned(),
            AthenaError::NoCredentials(_) => "configure credentials (`aws configure`, `aws sso login`, AWS_PROFILE or `--profile`)".to_owned(),
            AthenaError::SsoExpired(_) => "run `aws sso login` (with `--profile` if you use one), then re-run the step".to_owned(),
            AthenaError::ExpiredCredentials(_) => "refresh the credentials (`aws sso login`, a new session token, or the profile's keys), then re-run the step".to_owned(),
            AthenaError::AccessDenied { .. } => "grant the permission to the role irp runs as (docs/backends.md lists the minimal policy)".to_owned(),
            AthenaError::NotFound { .. } => "check the Security Lake database and table names (`--database`, `--catalog`, `--region`, or `[athena]` in the config file) and that this account subscribes to the lake".to_owned(),
            AthenaError::Failed { reason, .. }
                if ["SCHEMA_NOT_FOUND", "TABLE_NOT_FOUND", "CATALOG_NOT_FOUND"]
                    .iter()
                    .any(|code| reason.contains(code)) =>
            {
                "check the Security Lake names: `--region` (or `region`/`rollup_region` in the config file) names the tables, `--database` the database or its Lake Formation resource link, `--catalog` the catalog; and that this account subscribes to the source".to_owned()
            }
            AthenaError::Failed { .. } => "fix the SQL and re-run the step".to_owned(),
            AthenaError::NotARead(crate::playbook::read_only::ReachError::OutOfReach(_)) => "read only tables of the Security Lake database (a step declares them in `tables:`); join other data outside irp".to_owned(),
            AthenaError::NotARead(_) => "write the step as one read (SELECT, WITH … SELECT); export or change data outside irp".to_owned(),
            AthenaError::Cancelled { .. } => "re-run the step when you are ready".to_owned(),
            AthenaError::TimedOut { .. } => "narrow the time range, or raise the step's timeout".to_owned(),
            AthenaError::Unavailable(_) => "wait a minute and re-run the step; the case is kept".to_owned(),
            AthenaError::Result(_) | AthenaError::Other(_) => "re-run the step; if it fails again, run with the query id in the Athena console".to_owned(),
        }
    }
}

/// A query's progress, as the poller sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    pub query_id: String,
    /// QUEUED, RUNNING, SUCCEEDED, FAILED or CANCELLED.
    pub state: String,
    pub elapsed: Duration,
    pub bytes_scanned: u64,
}

/// A finished query: its rows as Arrow batches (one per page) and what the journal records.
#[derive(Debug, Clone)]
pub struct AthenaResult {
    pub query_id: String,
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
    pub rows: u64,
    pub bytes_scanned: u64,
    /// US dollars, at the settings' price per TB.
    pub cost_usd: f64,
    /// From start to SUCCEEDED, as irp saw it.
    pub run_time: Duration,
    /// From SUCCEEDED to the last row converted.
    pub fetch_time: Duration,
    /// The part of `fetch_time` spent converting pages into Arrow (the rest is the calls).
    pub convert_time: Duration,
    pub polls: u32,
}

#[derive(Debug, Clone)]
pub struct Athena {
    client: Client,
    settings: AthenaSettings,
    region: String,
}

impl Athena {
    /// Loads the AWS configuration (standard chain, then the settings' overrides). No call is
    /// made; a missing region is an error here rather than a guess, since the region names the
    /// tables.
    pub async fn connect(settings: AthenaSettings) -> Result<Athena, AthenaError> {
        let overrides = crate::cloud::Overrides {
            profile: settings.profile.as_deref(),
            region: settings.region.as_deref(),
            endpoint_url: settings.endpoint_url.as_deref(),
        };
        let conf = crate::cloud::load(overrides, settings.retry_attempts, settings.retry_backoff).await;
        let region = conf
            .region()
            .map(ToString::to_string)
            .ok_or(AthenaError::NoRegion)?;
        Ok(Athena {
            client: Client::new(&conf),
            settings,
            region,
        })
    }

    /// The same connection with another timeout (a playbook step's own).
    #[must_use]
    pub fn with_timeout(&self, timeout: Option<Duration>) -> Athena {
        let mut a = self.clone();
        a.settings.timeout = timeout;
        a
    }

    /// Where a playbook's `table` points on Athena: the region's Security Lake names, or the
    /// settings' database, at the settings' source version.
    pub fn naming(&self) -> crate::playbook::context::TableNaming {
        crate::playbook::context::TableNaming {
            region: self.region.clone(),
            source_version: self.settings.source_version,
            database: Some(self.database()),
            absent: Vec::new(),
        }
    }

    /// The Security Lake database: the settings', else the region's own name.
    fn database(&self) -> String {
        self.settings
            .database
            .clone()
            .unwrap_or_else(|| crate::playbook::table::LogicalTable::database_name(&self.region))
    }

    /// What a query may read: tables of the Security Lake databases, in its catalog. Another
    /// database, a federated catalog (a Lambda connector), a table function and an external
    /// function are refused before anything is sent.
    pub fn reach(&self) -> crate::playbook::read_only::Reach {
        crate::playbook::read_only::Reach {
            tables: Vec::new(),
            // Every region's Security Lake database (a rollup region's case reads another
            // region's tables), and the configured one (a Lake Formation resource link).
            databases: vec![self.database(), "amazon_security_lake_glue_db_*".to_owned()],
            catalog: Some(self.settings.catalog.clone()),
            default_database: Some(self.database()),
        }
    }

    /// Runs `sql` to the end and keeps every page in `batches`: for results known to be small.
    /// `token` makes the start idempotent (the same token never starts a second query);
    /// `cancel` stops the query when set; `progress` sees every poll.
    pub async fn run(
        &self,
        sql: &str,
        token: &str,
        cancel: &AtomicBool,
        progress: &mut (dyn FnMut(&Progress) + Send),
    ) -> Result<AthenaResult, AthenaError> {
        let mut batches = Vec::new();
        let mut result = self
            .run_paged(sql, token, cancel, progress, &mut |b| {
                batches.push(b);
                Ok(())
            })
            .await?;
        result.batches = batches;
        Ok(result)
    }

    /// Runs `sql` to the end and hands each page of results to `page` as it arrives (an empty
    /// batch at least, with the result's columns), so a result of any size goes to a file
    /// without being held; `batches` of the result is empty. An error from `page` stops the
    /// fetch and is returned as `AthenaError::Result`.
    pub async fn run_paged(
        &self,
        sql: &str,
        token: &str,
        cancel: &AtomicBool,
        progress: &mut (dyn FnMut(&Progress) + Send),
        page: &mut dyn FnMut(RecordBatch) -> Result<(), String>,
    ) -> Result<AthenaResult, AthenaError> {
        // Only reads reach Athena: no UNLOAD, CREATE TABLE AS, DROP or INSERT.
        crate::playbook::read_only::check_reach(sql, &self.reach()).map_err(AthenaError::NotARead)?;
        let started = Instant::now();
        let mut start = self
            .client
            .start_query_execution()
            .query_string(sql)
            .client_request_token(token)
            .work_group(&self.settings.workgroup)
            .query_execution_context(
                QueryExecutionContext::builder()
                    .catalog(&self.settings.catalog)
                    .database(self.database())
                    .build(),
            );
        if let Some(loc) = &self.settings.output_location {
            start = start.result_configuration(ResultConfiguration::builder().output_location(loc).build());
        }
        let id = start
            .send()
            .await
            .map_err(|e| classify(&e, "athena:StartQueryExecution"))?
            .query_execution_id()
            .unwrap_or_default()
            .to_owned();
        let mut wait = self.settings.poll_first;
        let mut polls = 0u32;
        let (bytes_scanned, dml) = loop {
            if cancel.load(Ordering::Relaxed) {
                self.stop(&id).await;
                return Err(AthenaError::Cancelled { query_id: id });
            }
            if let Some(t) = self.settings.timeout
                && started.elapsed() > t
            {
                self.stop(&id).await;
                return Err(AthenaError::TimedOut {
                    query_id: id,
                    timeout: t,
                });
            }
            polls += 1;
            let out = self
                .client
                .get_query_execution()
                .query_execution_id(&id)
                .send()
                .await
                .map_err(|e| classify(&e, "athena:GetQueryExecution"))?;
            let qe = out.query_execution();
            let status = qe.and_then(|q| q.status());
            let state = status.and_then(|s| s.state()).cloned();
            let scanned = qe
                .and_then(|q| q.statistics())
                .and_then(aws_sdk_athena::types::QueryExecutionStatistics::data_scanned_in_bytes)
                .map_or(0, |b| u64::try_from(b).unwrap_or(0));
            progress(&Progress {
                query_id: id.clone(),
                state: state
                    .as_ref()
                    .map_or("UNKNOWN", QueryExecutionState::as_str)
                    .to_owned(),
                elapsed: started.elapsed(),
                bytes_scanned: scanned,
            });
            match state {
                Some(QueryExecutionState::Succeeded) => {
                    let dml = qe
                        .and_then(|q| q.statement_type())
                        .is_none_or(|t| t.as_str() == "DML");
                    break (scanned, dml);
                }
                Some(QueryExecutionState::Failed) => {
                    let reason = status
                        .and_then(|s| s.state_change_reason())
                        .unwrap_or("Athena gave no reason")
                        .to_owned();
                    return Err(failure(id, reason));
                }
                Some(QueryExecutionState::Cancelled) => return Err(AthenaError::Cancelled { query_id: id }),
                _ => {}
            }
            // Slept in slices, so a cancel is seen within a tenth of a second.
            let until = Instant::now() + wait;
            while Instant::now() < until && !cancel.load(Ordering::Relaxed) {
                tokio::time::sleep((until - Instant::now()).min(Duration::from_millis(100))).await;
            }
            wait = (wait * 2).min(self.settings.poll_max);
        };
        let run_time = started.elapsed();
        let fetched = Instant::now();
        let (schema, rows, convert_time) = self.fetch(&id, dml, page).await?;
        #[allow(clippy::cast_precision_loss)]
        let cost_usd = bytes_scanned as f64 / 1e12 * self.settings.price_per_tb;
        Ok(AthenaResult {
            query_id: id,
            schema,
            batches: Vec::new(),
            rows,
            bytes_scanned,
            cost_usd,
            run_time,
            fetch_time: fetched.elapsed(),
            convert_time,
            polls,
        })
    }

    /// Best effort: the query may have finished meanwhile.
    async fn stop(&self, id: &str) {
        let _ = self
            .client
            .stop_query_execution()
            .query_execution_id(id)
            .send()
            .await;
    }

    /// Pages through the results, each converted and handed to `page` before the next is
    /// asked for. The first row of a DML result is the header.
    async fn fetch(
        &self,
        id: &str,
        dml: bool,
        page: &mut dyn FnMut(RecordBatch) -> Result<(), String>,
    ) -> Result<(SchemaRef, u64, Duration), AthenaError> {
        let mut next: Option<String> = None;
        let mut schema: Option<(SchemaRef, Vec<String>)> = None;
        let mut rows = 0u64;
        let mut first = true;
        let mut converting = Duration::ZERO;
        loop {
            let out = self
                .client
                .get_query_results()
                .query_execution_id(id)
                .max_results(PAGE_ROWS)
                .set_next_token(next.take())
                .send()
                .await
                .map_err(|e| classify(&e, "athena:GetQueryResults"))?;
            let Some(rs) = out.result_set() else {
                return Err(AthenaError::Result("a page without a result set".to_owned()));
            };
            if schema.is_none() {
                let info = rs
                    .result_set_metadata()
                    .map(aws_sdk_athena::types::ResultSetMetadata::column_info)
                    .unwrap_or_default();
                schema = Some(columns(info));
            }
            let (sch, types) = schema
                .as_ref()
                .ok_or_else(|| AthenaError::Result("no columns".to_owned()))?;
            let got = rs.rows();
            let got = if first && dml && !got.is_empty() {
                &got[1..]
            } else {
                got
            };
            first = false;
            let started = Instant::now();
            let batch = convert(sch, types, got, rows)?;
            converting += started.elapsed();
            rows += batch.num_rows() as u64;
            page(batch).map_err(AthenaError::Result)?;
            match out.next_token() {
                Some(t) if !t.is_empty() => next = Some(t.to_owned()),
                _ => break,
            }
        }
        let (sch, _) = schema.ok_or_else(|| AthenaError::Result("no result set".to_owned()))?;
        Ok((sch, rows, converting))
    }
}

/// `line 3:14: …` in Athena's reasons.
fn failure(query_id: String, reason: String) -> AthenaError {
    let position = reason.find("line ").and_then(|at| {
        let rest = &reason[at + 5..];
        let (line, rest) = rest.split_once(':')?;
        let col: String = rest.chars().take_while(char::is_ascii_digit).collect();
        Some((line.trim().parse().ok()?, col.parse().ok()?))
    });
    AthenaError::Failed {
        query_id,
        reason,
        position,
    }
}

/// An SDK error in a responder's words. `permission` is the IAM action of the call.
pub fn classify<E, R>(err: &SdkError<E, R>, permission: &str) -> AthenaError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let text = DisplayErrorContext(err).to_string();
    if let Some(svc) = err.as_service_error() {
        let code = svc.code().unwrap_or_default();
        let message = svc.message().unwrap_or(&text).to_owned();
        let lower = message.to_ascii_lowercase();
        return match code {
            "AccessDeniedException" | "AccessDenied" | "UnauthorizedOperation" => AthenaError::AccessDenied {
                permission: named_permission(&message).or_else(|| Some(permission.to_owned())),
                message,
            },
            "ThrottlingException"
            | "TooManyRequestsException"
            | "InternalServerException"
            | "ServiceUnavailable" => AthenaError::Unavailable(message),
            "ExpiredTokenException" | "UnrecognizedClientException" | "InvalidSignatureException" => {
                AthenaError::ExpiredCredentials(message)
            }
            _ if lower.contains("not authorized") || lower.contains("access denied") => {
                AthenaError::AccessDenied {
                    permission: named_permission(&message).or_else(|| Some(permission.to_owned())),
                    message,
                }
            }
            _ if lower.contains("does not exist") || lower.contains("not found") => AthenaError::NotFound {
                what: if lower.contains("workgroup") {
                    "the workgroup"
                } else if lower.contains("database") || lower.contains("schema") {
                    "the database"
                } else if lower.contains("table") {
                    "the table"
                } else {
                    "a resource"
                }
                .to_owned(),
                message,
            },
            _ => AthenaError::Other(format!("{code}: {message}")),
        };
    }
    let lower = text.to_ascii_lowercase();
    if lower.contains("sso") && (lower.contains("expired") || lower.contains("token")) {
        AthenaError::SsoExpired(text)
    } else if lower.contains("credential") {
        AthenaError::NoCredentials(text)
    } else if matches!(err, SdkError::TimeoutError(_) | SdkError::DispatchFailure(_)) {
        AthenaError::Unavailable(text)
    } else if let SdkError::ResponseError(_) = err {
        AthenaError::Unavailable(text)
    } else {
        AthenaError::Other(text)
    }
}

/// `… is not authorized to perform: athena:StartQueryExecution on resource …`.
fn named_permission(message: &str) -> Option<String> {
    let at = message.find("perform: ")? + "perform: ".len();
    let word: String = message[at..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == ':' || *c == '-')
        .collect();
    (word.contains(':')).then_some(word)
}

/// The Arrow schema of a result, and Athena's own type of each column (for messages).
fn columns(info: &[ColumnInfo]) -> (SchemaRef, Vec<String>) {
    let fields: Vec<Field> = info
        .iter()
        .map(|c| {
            let ty = c.r#type().to_ascii_lowercase();
            let dt = match ty.split(['(', ' ']).next().unwrap_or_default() {
                "boolean" => DataType::Boolean,
                "tinyint" => DataType::Int8,
                "smallint" => DataType::Int16,
                "integer" | "int" => DataType::Int32,
                "bigint" => DataType::Int64,
                "real" | "float" => DataType::Float32,
                "double" => DataType::Float64,
                "date" => DataType::Date32,
                "timestamp" => DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
                "decimal" => DataType::Decimal128(
                    u8::try_from(c.precision()).unwrap_or(38).clamp(1, 38),
                    i8::try_from(c.scale()).unwrap_or(0),
                ),
                // varchar, char, json, array, map, row, ipaddress, …: the text Athena gives.
                _ => DataType::Utf8,
            };
            Field::new(c.name(), dt, true)
        })
        .collect();
    let types = info.iter().map(|c| c.r#type().to_owned()).collect();
    (Arc::new(Schema::new(fields)), types)
}

/// One page of rows into a batch. `before` is the count of rows already converted, for errors.
#[allow(clippy::many_single_char_names)]
fn convert(
    schema: &SchemaRef,
    types: &[String],
    rows: &[Row],
    before: u64,
) -> Result<RecordBatch, AthenaError> {
    let n = rows.len();
    let mut arrays: Vec<ArrayRef> = Vec::with_capacity(types.len());
    for (i, field) in schema.fields().iter().enumerate() {
        let bad = |row: usize, v: &str| {
            AthenaError::Result(format!(
                "row {} of the result has `{v}` in column `{}`, which is not a {} value",
                before + row as u64 + 1,
                field.name(),
                types.get(i).map_or("", String::as_str)
            ))
        };
        macro_rules! parsed {
            ($builder:ty, $parse:expr) => {{
                let mut b = <$builder>::with_capacity(n);
                for (k, r) in rows.iter().enumerate() {
                    match cell(r, i) {
                        None => b.append_null(),
                        Some(v) => b.append_value($parse(v).ok_or_else(|| bad(k, v))?),
                    }
                }
                Arc::new(b.finish()) as ArrayRef
            }};
        }
        let array = match *field.data_type() {
            DataType::Utf8 => {
                let mut b = StringBuilder::with_capacity(n, n * 16);
                for r in rows {
                    b.append_option(cell(r, i));
                }
                Arc::new(b.finish()) as ArrayRef
            }
            DataType::Boolean => parsed!(BooleanBuilder, |v: &str| match v {
                "true" => Some(true),
                "false" => Some(false),
                _ => None,
            }),
            DataType::Int8 => parsed!(Int8Builder, |v: &str| v.parse().ok()),
            DataType::Int16 => parsed!(Int16Builder, |v: &str| v.parse().ok()),
            DataType::Int32 => parsed!(Int32Builder, |v: &str| v.parse().ok()),
            DataType::Int64 => parsed!(Int64Builder, |v: &str| v.parse().ok()),
            DataType::Float32 => parsed!(Float32Builder, parse_float::<f32>),
            DataType::Float64 => parsed!(Float64Builder, parse_float::<f64>),
            DataType::Date32 => parsed!(Date32Builder, parse_date),
            DataType::Timestamp(..) => {
                let mut b = TimestampMillisecondBuilder::with_capacity(n).with_timezone("UTC");
                for (k, r) in rows.iter().enumerate() {
                    match cell(r, i) {
                        None => b.append_null(),
                        Some(v) => b.append_value(parse_timestamp(v).ok_or_else(|| bad(k, v))?),
                    }
                }
                Arc::new(b.finish()) as ArrayRef
            }
            DataType::Decimal128(p, s) => {
                let mut b = Decimal128Builder::with_capacity(n)
                    .with_precision_and_scale(p, s)
                    .map_err(|e| AthenaError::Result(e.to_string()))?;
                for (k, r) in rows.iter().enumerate() {
                    match cell(r, i) {
                        None => b.append_null(),
                        Some(v) => b.append_value(parse_decimal(v, s).ok_or_else(|| bad(k, v))?),
                    }
                }
                Arc::new(b.finish()) as ArrayRef
            }
            ref other => {
                return Err(AthenaError::Result(format!("no conversion into {other}")));
            }
        };
        arrays.push(array);
    }
    RecordBatch::try_new_with_options(
        schema.clone(),
        arrays,
        &arrow::record_batch::RecordBatchOptions::new().with_row_count(Some(n)),
    )
    .map_err(|e| AthenaError::Result(e.to_string()))
}

/// The text of column `i` of a row; `None` is SQL NULL.
fn cell(r: &Row, i: usize) -> Option<&str> {
    r.data().get(i).and_then(|d| d.var_char_value())
}

/// Athena writes `NaN`, `Infinity` and `-Infinity` as Java does.
fn parse_float<T: std::str::FromStr + From<f32>>(v: &str) -> Option<T> {
    match v {
        "NaN" => Some(T::from(f32::NAN)),
        "Infinity" => Some(T::from(f32::INFINITY)),
        "-Infinity" => Some(T::from(f32::NEG_INFINITY)),
        _ => v.parse().ok(),
    }
}

/// Days since 1970-01-01 of `YYYY-MM-DD`.
fn parse_date(v: &str) -> Option<i32> {
    let d = chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d").ok()?;
    let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1)?;
    i32::try_from((d - epoch).num_days()).ok()
}

/// `2026-11-27 23:58:19.974`, with an optional fraction and an optional ` UTC` (timestamp with
/// time zone); milliseconds since the epoch.
fn parse_timestamp(v: &str) -> Option<i64> {
    let v = v.strip_suffix(" UTC").unwrap_or(v);
    chrono::NaiveDateTime::parse_from_str(v, "%Y-%m-%d %H:%M:%S%.f")
        .ok()
        .map(|t| t.and_utc().timestamp_millis())
}

/// `-12.340` at scale `s` as an unscaled integer.
fn parse_decimal(v: &str, s: i8) -> Option<i128> {
    let (neg, digits) = v.strip_prefix('-').map_or((false, v), |d| (true, d));
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let scale = usize::try_from(s).ok()?;
    if frac.len() > scale || int.is_empty() && frac.is_empty() {
        return None;
    }
    if !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let text = format!("{int}{frac:0<scale$}");
    let n: i128 = text.parse().ok()?;
    Some(if neg { -n } else { n })
}

/// A client request token for a query of a case step: the same step, SQL and attempt always
/// give the same token, so a start retried after a lost answer never runs the query twice.
pub fn request_token(case: &str, step: &str, sql: &str, attempt: u32) -> String {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    for part in [case, step, sql, &attempt.to_string()] {
        h.update(part.len().to_le_bytes());
        h.update(part.as_bytes());
    }
    let digest = h.finalize();
    digest
        .iter()
        .take(24)
        .fold(String::with_capacity(48), |mut s, b| {
            use std::fmt::Write;
            let _ = write!(s, "{b:02x}");
            s
        })
}
