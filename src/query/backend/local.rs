//! The embedded engine: Apache `DataFusion` over a local lake, with the lake's tables registered
//! under Security Lake's own names — catalog `awsdatacatalog`, database
//! `amazon_security_lake_glue_db_<region>`, table `amazon_security_lake_table_<region>_<source>_2_0`
//! — so a query copied from the Athena console finds its tables, quoted or not, with or without
//! the catalog.
//!
//! Each table is the source's folder read as one listing table with the Hive partitions
//! `region`, `accountid` and `eventday` (so a bound on any of them skips whole folders), seen
//! through a view that keeps the table's own region. `time_dt` bounds prune row groups and pages
//! by the Parquet statistics the lake writes. The lake is read as rolling up into us-east-1
//! ([`ROLLUP_REGION`]): us-east-1's tables hold every region, as a rollup region's do.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::catalog::{CatalogProvider, MemoryCatalogProvider, MemorySchemaProvider, SchemaProvider};
use datafusion::common::ScalarValue;
use datafusion::common::stats::Precision;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl};
use datafusion::execution::SendableRecordBatchStream;
use datafusion::execution::cache::cache_manager::{CachedFileMetadata, FileStatisticsCache};
use datafusion::execution::cache::{Cache, TableScopedPath};
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::{SessionConfig, SessionContext, col, lit};

use crate::playbook::table::LogicalTable;

/// Athena's catalog name, which queries may name.
pub const CATALOG: &str = "awsdatacatalog";
/// The partition folders of a lake source, in path order.
pub const PARTITIONS: [&str; 3] = ["region", "accountid", "eventday"];

/// The region a local lake is read as rolling up into, as Security Lake's rollup region: its
/// tables hold every region's partitions (the `region` column tells them apart), each other
/// region's tables only its own. Local cases name the tables of this region, so a case for any
/// region finds its events, and the calls `CloudTrail` delivers in us-east-1 (IAM,
/// Organizations) beside them.
pub const ROLLUP_REGION: &str = "us-east-1";

#[derive(Debug, Clone)]
pub struct Options {
    /// The most memory queries may use, in bytes; beyond it a query fails with a clear error.
    pub memory_limit: usize,
    /// Security Lake source version of the table names (`_2_0`).
    pub source_version: (u32, u32),
    /// Evaluate filters while decoding Parquet (late materialisation): the filter's columns are
    /// decoded first, the rest only for the rows that pass. Even when on, it is used only for a
    /// query where it pays (`pushdown_pays`). See docs/performance.md.
    pub pushdown_filters: bool,
    /// Group by one text column through [`crate::query::rules::text_groups::TextGroupBy`], which caches each
    /// value by where it lives in the Parquet dictionary instead of hashing every row's bytes.
    /// Off, `DataFusion`'s own partial aggregation runs; the answers are the same.
    pub text_group_by: bool,
    /// Compare text with literals in filters through [`crate::query::rules::text_in::TextComparisons`], which
    /// answers each row from its string view where it can and compares the bytes of each distinct
    /// view once. Off, `DataFusion`'s comparisons run; the answers are the same.
    pub text_comparisons: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            memory_limit: 4 << 30,
            source_version: (2, 0),
            pushdown_filters: true,
            text_group_by: true,
            text_comparisons: true,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error("{} is not a lake: {reason}", path.display())]
    NotALake { path: PathBuf, reason: String },
    #[error("the query needs more than the engine's memory limit ({limit_mb} MB): {detail}")]
    Memory { limit_mb: usize, detail: String },
    #[error("{0}")]
    Engine(String),
}

impl QueryError {
    fn from_df(e: &datafusion::error::DataFusionError, limit: usize) -> QueryError {
        let text = e.to_string();
        if text.contains("Resources exhausted") {
            QueryError::Memory {
                limit_mb: limit >> 20,
                detail: text,
            }
        } else {
            QueryError::Engine(text)
        }
    }
}

/// A lake opened for queries.
pub struct LocalEngine {
    ctx: SessionContext,
    /// The tables registered, as `database.table`.
    pub tables: Vec<String>,
    options: Options,
    /// What a query may read (worked out once, from the tables registered).
    reach: crate::playbook::read_only::Reach,
}

impl std::fmt::Debug for LocalEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalEngine")
            .field("tables", &self.tables)
            .finish_non_exhaustive()
    }
}

impl LocalEngine {
    /// Registers every source and region found in `lake`.
    pub async fn open(lake: &Path, options: Options) -> Result<LocalEngine, QueryError> {
        let not_a_lake = |reason: String| QueryError::NotALake {
            path: lake.to_owned(),
            reason,
        };
        let sources = discover(lake).map_err(|e| not_a_lake(e.to_string()))?;
        if sources.is_empty() {
            return Err(not_a_lake(
                "it holds no source folders (cloud_trail_mgmt/, s3_data/, …); make one with `irp lake generate`".to_owned(),
            ));
        }
        let regions: Vec<String> = {
            let mut all: Vec<String> = sources.iter().flat_map(|(_, r)| r.iter().cloned()).collect();
            all.push(ROLLUP_REGION.to_owned());
            all.sort();
            all.dedup();
            all
        };
        let default_db = LogicalTable::database_name(&regions[0]);
        let config = SessionConfig::new()
            .with_default_catalog_and_schema(CATALOG, &default_db)
            .with_create_default_catalog_and_schema(false)
            .with_information_schema(true)
            // sqlparser's generic and PostgreSQL dialects read `user` in `actor.user.uid` as the
            // USER function; the ANSI dialect reads it as a name, as Trino does.
            .set_str("datafusion.sql_parser.dialect", "Ansi")
            .set_bool(
                "datafusion.execution.parquet.pushdown_filters",
                options.pushdown_filters,
            )
            .set_bool(
                "datafusion.execution.parquet.reorder_filters",
                options.pushdown_filters,
            );
        let runtime = RuntimeEnvBuilder::new()
            .with_memory_limit(options.memory_limit, 1.0)
            .build_arc()
            .map_err(|e| QueryError::from_df(&e, options.memory_limit))?;
        let mut state = SessionStateBuilder::new()
            .with_config(config)
            .with_runtime_env(runtime)
            .with_default_features();
        if options.text_group_by {
            state =
                state.with_physical_optimizer_rule(Arc::new(crate::query::rules::text_groups::TextGroupBy));
        }
        if options.text_comparisons {
            state =
                state.with_physical_optimizer_rule(Arc::new(crate::query::rules::text_in::TextComparisons));
        }
        let ctx = SessionContext::new_with_state(state.build());
        ctx.register_object_store(
            ObjectStoreUrl::local_filesystem().as_ref(),
            Arc::new(super::files::LakeFiles::new()),
        );
        for f in crate::query::dialect::functions() {
            ctx.register_udf(f);
        }
        let catalog = Arc::new(MemoryCatalogProvider::new());
        let df_err = |e: datafusion::error::DataFusionError| QueryError::from_df(&e, options.memory_limit);
        let mut tables = Vec::new();
        for region in &regions {
            let db = LogicalTable::database_name(region);
            let schema = Arc::new(MemorySchemaProvider::new());
            let rollup = region == ROLLUP_REGION;
            for (source, source_regions) in &sources {
                if !rollup && !source_regions.contains(region) {
                    continue;
                }
                let base = listing_table(&ctx, lake, *source).await.map_err(df_err)?;
                let base = Arc::new(crate::query::rules::nested_prune::NestedPruning::new(base));
                let view = if rollup {
                    ctx.read_table(base)
                } else {
                    ctx.read_table(base)
                        .and_then(|df| df.filter(col("region").eq(lit(region.as_str()))))
                }
                .map_err(df_err)?
                .into_view();
                let name = source.table_name(region, options.source_version);
                schema.register_table(name.clone(), view).map_err(df_err)?;
                tables.push(format!("{db}.{name}"));
            }
            catalog.register_schema(&db, schema).map_err(df_err)?;
        }
        ctx.register_catalog(CATALOG, catalog);
        let mut databases: Vec<String> = tables
            .iter()
            .filter_map(|t| t.split_once('.').map(|(db, _)| db.to_owned()))
            .collect();
        databases.sort();
        databases.dedup();
        let reach = crate::playbook::read_only::Reach {
            tables: Vec::new(),
            databases,
            catalog: Some(CATALOG.to_owned()),
            default_database: Some(default_db),
        };
        Ok(LocalEngine {
            ctx,
            tables,
            options,
            reach,
        })
    }

    /// Forgets the file listings the session keeps, so files added to the lake since (a
    /// rehearsal's injects) are read by the next query.
    pub fn forget_listings(&self) {
        if let Some(cache) = self.ctx.runtime_env().cache_manager.get_list_files_cache() {
            cache.clear();
        }
    }

    /// Whether the lake has table `table` of database `database` (a source it holds files of,
    /// in that region).
    pub fn has_table(&self, database: &str, table: &str) -> bool {
        self.tables
            .iter()
            .any(|t| t.split_once('.') == Some((database, table)))
    }

    /// What a query on this lake may read: its Security Lake tables, nothing else of the session
    /// (no `information_schema`, no table function).
    pub fn reach(&self) -> &crate::playbook::read_only::Reach {
        &self.reach
    }

    /// Plans and starts a query; rows arrive as a stream of Arrow batches.
    pub async fn execute(&self, sql: &str) -> Result<SendableRecordBatchStream, QueryError> {
        let limit = self.options.memory_limit;
        let err = |e: datafusion::error::DataFusionError| QueryError::from_df(&e, limit);
        let state = self.ctx.state();
        let reach = &self.reach;
        crate::playbook::read_only::check_external_function(sql, reach)
            .map_err(|e| QueryError::Engine(e.to_string()))?;
        let mut statement = crate::query::dialect::translate::parse(sql).map_err(err)?;
        // Only reads: nothing a query says may write, create, drop or reach outside the lake.
        crate::playbook::read_only::check_parsed(sql, &statement)
            .map_err(|e| QueryError::Engine(e.to_string()))?;
        crate::playbook::read_only::check_statement_reach(&statement, reach)
            .map_err(|e| QueryError::Engine(e.to_string()))?;
        crate::query::dialect::translate::rewrite(&mut statement).map_err(QueryError::Engine)?;
        let plan = match state.statement_to_plan(statement).await {
            Ok(plan) => plan,
            Err(e) => return Err(self.absent_table(&e).unwrap_or_else(|| err(e))),
        };
        let mut state = state;
        let plan = state.optimize(&plan).map_err(err)?;
        let pushdown = self.options.pushdown_filters && pushdown_pays(&plan);
        let parquet = &mut state.config_mut().options_mut().execution.parquet;
        parquet.pushdown_filters = pushdown;
        parquet.reorder_filters = pushdown;
        let physical = state
            .query_planner()
            .create_physical_plan(&plan, &state)
            .await
            .map_err(err)?;
        datafusion::physical_plan::execute_stream(physical, state.task_ctx()).map_err(err)
    }

    /// A Security Lake table the query names that this lake does not hold, said with why: a
    /// source version 1 table (irp's lakes are version 2), or a source this lake has no data of.
    /// `None` for any other error.
    fn absent_table(&self, e: &datafusion::error::DataFusionError) -> Option<QueryError> {
        let text = e.to_string();
        let name = text.split_once("table '")?.1.split_once("' not found")?.0;
        let table = name.rsplit('.').next()?.to_ascii_lowercase();
        let rest = table.strip_prefix("amazon_security_lake_table_")?;
        let source = crate::playbook::table::LogicalTable::ALL
            .into_iter()
            .find(|t| rest.contains(&format!("_{}_", t.as_str())))?;
        let held: Vec<&str> = self
            .tables
            .iter()
            .map(|t| t.rsplit('.').next().unwrap_or(t))
            .collect();
        if rest.ends_with("_1_0") {
            let v2 = format!("{}_2_0", table.trim_end_matches("_1_0"));
            return Some(QueryError::Engine(format!(
                "`{table}` is a Security Lake source version 1 table (OCSF 1.0.0-rc.2); irp's lakes hold source version 2 (OCSF 1.1.0): query `{v2}`, partitioned by `time_dt`, `region` and `accountid` (irp's lakes keep `eventday` too), several of whose fields differ (docs/sql-dialect.md, \"Source version 1 queries\")"
            )));
        }
        Some(QueryError::Engine(format!(
            "`{table}` is not in this lake: it holds no {} data (Security Lake's `{}` source); its tables: {}",
            source.as_str(),
            source.as_str().to_ascii_uppercase(),
            held.join(", ")
        )))
    }

    /// Classifies an error met while reading a result stream (the memory limit is usually hit
    /// there, not when the query starts).
    pub fn stream_error(&self, e: &datafusion::error::DataFusionError) -> QueryError {
        QueryError::from_df(e, self.options.memory_limit)
    }
}

/// How much larger than the cheapest condition's leaves another leaf a scan reads must be for
/// evaluating filters while decoding to pay (see `pushdown_pays`).
const PUSHDOWN_RATIO: u64 = 16;

/// Whether to evaluate filters while decoding Parquet (late materialisation): the leaves of the
/// cheapest condition are decoded for every row, every other leaf only for the rows that pass.
/// That pays when some other leaf the scan reads is much larger than the condition's, such as
/// `api.request.data` beside `api.operation`: whole pages of it that hold no passing row are then
/// never decompressed. When the other leaves are as small as the condition's (`src_endpoint.ip`
/// beside `actor.user.uid`), the mask and the second pass cost more than they spare, and filtering
/// after decoding is faster (docs/performance.md, "Eighth round"). A scan that filters on time and
/// partitions alone never pays: files are sorted by time, so the page index already cuts a
/// window to whole pages and nearly every row decoded passes. Sizes come from one footer of
/// each table (`NestedPruning::leaf_sizes`); when a scan pays, the query is planned with pushdown
/// (the setting is the session's, for all its scans).
fn pushdown_pays(plan: &LogicalPlan) -> bool {
    use datafusion::common::tree_node::TreeNodeRecursion;
    let mut pays = false;
    // Visiting cannot fail: the closures only read.
    let _ = plan.apply_with_subqueries(|node| {
        if let LogicalPlan::TableScan(scan) = node {
            pays |= scan_pays(plan, scan);
        }
        Ok(if pays {
            TreeNodeRecursion::Stop
        } else {
            TreeNodeRecursion::Continue
        })
    });
    pays
}

fn scan_pays(plan: &LogicalPlan, scan: &datafusion::logical_expr::TableScan) -> bool {
    use datafusion::logical_expr::utils::split_conjunction;
    let Some(sizes) = datafusion::datasource::source_as_provider(&scan.source)
        .ok()
        .and_then(|p| {
            p.downcast_ref::<crate::query::rules::nested_prune::NestedPruning>()
                .and_then(crate::query::rules::nested_prune::NestedPruning::leaf_sizes)
        })
    else {
        return false;
    };
    let after_decoding = |name: &str| ["time", "time_dt"].contains(&name) || PARTITIONS.contains(&name);
    let leaves_of = |e: &datafusion::prelude::Expr| {
        let mut paths = Vec::new();
        scan_paths(e, &scan.table_name, &mut paths);
        let mut leaves: Vec<&str> = paths
            .iter()
            .flat_map(|p| {
                let path = p.join(".");
                let under = format!("{path}.");
                sizes
                    .keys()
                    .filter(move |leaf| **leaf == path || leaf.starts_with(&under))
                    .map(String::as_str)
                    .collect::<Vec<_>>()
            })
            .collect();
        leaves.sort_unstable();
        leaves.dedup();
        leaves
    };
    let size = |leaves: &[&str]| {
        leaves
            .iter()
            .map(|l| sizes.get(*l).copied().unwrap_or(0))
            .sum::<u64>()
    };
    let cheapest = scan
        .filters
        .iter()
        .flat_map(|f| split_conjunction(f))
        .filter(|c| {
            c.column_refs()
                .iter()
                .any(|col| !after_decoding(col.name.as_str()))
        })
        .map(&leaves_of)
        .min_by_key(|leaves| size(leaves));
    let Some(cheapest) = cheapest else {
        return false;
    };
    let mut read = Vec::new();
    // Every leaf of this scan the plan reads: its filters, and what the nodes above take.
    let _ = plan.apply_with_subqueries(|node| {
        for e in node.expressions() {
            read.extend(leaves_of(&e));
        }
        Ok(datafusion::common::tree_node::TreeNodeRecursion::Continue)
    });
    for f in &scan.filters {
        read.extend(leaves_of(f));
    }
    let floor = size(&cheapest).max(1);
    read.iter()
        .filter(|leaf| !cheapest.contains(leaf))
        .any(|leaf| sizes.get(*leaf).copied().unwrap_or(0) >= PUSHDOWN_RATIO * floor)
}

/// The paths (`["actor", "user", "uid"]`, or a whole column) that `expr` reads from the scan
/// named `table`.
fn scan_paths(
    expr: &datafusion::prelude::Expr,
    table: &datafusion::common::TableReference,
    out: &mut Vec<Vec<String>>,
) {
    use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
    use datafusion::prelude::Expr;
    let column_of = |e: &Expr| -> Option<bool> {
        let mut base = e;
        while let Expr::ScalarFunction(f) = base
            && f.name() == "get_field"
        {
            base = f.args.first()?;
        }
        match base {
            Expr::Column(c) => Some(c.relation.as_ref() == Some(table)),
            _ => None,
        }
    };
    if let Some(ours) = column_of(expr)
        && let Some(path) = crate::query::rules::nested_prune::leaf_path(expr)
    {
        if ours {
            out.push(path);
        }
        return;
    }
    let _ = expr.apply_children(|child| {
        scan_paths(child, table, out);
        Ok(TreeNodeRecursion::Continue)
    });
}

/// The sources in a lake and the regions each holds.
fn discover(lake: &Path) -> std::io::Result<Vec<(LogicalTable, Vec<String>)>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(lake)?.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(source) = LogicalTable::parse(&name) else {
            continue;
        };
        let mut regions: Vec<String> = std::fs::read_dir(entry.path())?
            .flatten()
            .filter_map(|r| {
                r.file_name()
                    .to_string_lossy()
                    .strip_prefix("region=")
                    .map(str::to_owned)
            })
            .collect();
        regions.sort();
        if !regions.is_empty() {
            out.push((source, regions));
        }
    }
    out.sort_by_key(|(s, _)| *s);
    Ok(out)
}

async fn listing_table(
    ctx: &SessionContext,
    lake: &Path,
    source: LogicalTable,
) -> datafusion::error::Result<Arc<ListingTable>> {
    let dir = lake.join(source.as_str());
    let dir = std::fs::canonicalize(&dir).unwrap_or(dir);
    let url = ListingTableUrl::parse(format!("{}/", dir.display()))?;
    let options = ListingOptions::new(Arc::new(ParquetFormat::default()))
        .with_file_extension(".parquet")
        .with_table_partition_cols(
            PARTITIONS
                .iter()
                .map(|p| ((*p).to_owned(), DataType::Utf8))
                .collect(),
        );
    let schema = match options.infer_schema(&ctx.state(), &url).await {
        Ok(schema) => schema,
        Err(e) => return Err(unreadable_file(&dir).unwrap_or(e)),
    };
    // Files Security Lake writes carry `region` and `accountid` columns of their own beside the
    // folders' partitions (copies of its bucket do); the folders' values are the ones read.
    let schema = Arc::new(datafusion::arrow::datatypes::Schema::new_with_metadata(
        schema
            .fields()
            .iter()
            .filter(|f| !PARTITIONS.contains(&f.name().as_str()))
            .cloned()
            .collect::<Vec<_>>(),
        schema.metadata().clone(),
    ));
    let config = ListingTableConfig::new(url)
        .with_listing_options(options)
        .with_schema(schema);
    // The session's statistics cache (keyed by path, size and modification time): without it a
    // hand-built listing table re-reads every file's statistics at each query.
    let cache = ctx
        .runtime_env()
        .cache_manager
        .get_file_statistic_cache()
        .map(|c| Arc::new(FlatStatistics(c)) as Arc<FileStatisticsCache>);
    Ok(Arc::new(ListingTable::try_new(config)?.with_cache(cache)))
}

/// When a source's schema cannot be read, the first of its files whose Parquet footer cannot be
/// read, named, with what to do: `DataFusion`'s own error ("Corrupt footer") does not say which
/// of the lake's files it is.
fn unreadable_file(dir: &Path) -> Option<datafusion::error::DataFusionError> {
    fn files(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for path in entries.flatten().map(|e| e.path()) {
            if path.is_dir() {
                if depth > 0 {
                    files(&path, depth - 1, out);
                }
            } else if path.extension().is_some_and(|e| e == "parquet") {
                out.push(path);
            }
        }
    }
    let mut all = Vec::new();
    // The lake's layout is three folders deep (region=, accountid=, eventday=).
    files(dir, 8, &mut all);
    all.sort();
    all.into_iter().find_map(|path| {
        let read = std::fs::File::open(&path)
            .map_err(|e| e.to_string())
            .and_then(|f| parquet::file::metadata::ParquetMetaDataReader::new().parse_and_finish(&f).map_err(|e| e.to_string()));
        read.err().map(|reason| {
            datafusion::error::DataFusionError::Plan(format!(
                "{} is not a readable Parquet file ({reason}); move it out of the lake, or import or generate that day again",
                path.display()
            ))
        })
    })
}

/// The session's file-statistics cache, storing no minimum or maximum of a nested column (a
/// struct, list or map as a whole). Every scan merges the statistics of all its files, and
/// comparing whole OCSF structs was about 40% of planning; nothing uses those bounds. Row
/// groups are pruned on nested leaves from the Parquet footers (`nested_prune`), and flat
/// columns (`time_dt`, `class_uid`) keep their bounds.
#[derive(Debug)]
struct FlatStatistics(Arc<FileStatisticsCache>);

impl Cache<TableScopedPath, CachedFileMetadata> for FlatStatistics {
    fn get(&self, key: &TableScopedPath) -> Option<CachedFileMetadata> {
        self.0.get(key)
    }

    fn put(&self, key: &TableScopedPath, mut value: CachedFileMetadata) -> Option<CachedFileMetadata> {
        let nested = |p: &Precision<ScalarValue>| {
            matches!(
                p.get_value(),
                Some(
                    ScalarValue::Struct(_)
                        | ScalarValue::List(_)
                        | ScalarValue::LargeList(_)
                        | ScalarValue::FixedSizeList(_)
                        | ScalarValue::Map(_)
                )
            )
        };
        if value
            .statistics
            .column_statistics
            .iter()
            .any(|c| nested(&c.min_value) || nested(&c.max_value))
        {
            let stats = Arc::make_mut(&mut value.statistics);
            for c in &mut stats.column_statistics {
                if nested(&c.min_value) || nested(&c.max_value) {
                    c.min_value = Precision::Absent;
                    c.max_value = Precision::Absent;
                }
            }
        }
        self.0.put(key, value)
    }

    fn remove(&self, key: &TableScopedPath) -> Option<CachedFileMetadata> {
        self.0.remove(key)
    }

    fn contains_key(&self, key: &TableScopedPath) -> bool {
        self.0.contains_key(key)
    }

    fn len(&self) -> usize {
        self.0.len()
    }

    fn clear(&self) {
        self.0.clear();
    }

    fn name(&self) -> String {
        format!("flat {}", self.0.name())
    }

    fn cache_limit(&self) -> usize {
        self.0.cache_limit()
    }

    fn update_cache_limit(&self, limit: usize) {
        self.0.update_cache_limit(limit);
    }

    fn cache_ttl(&self) -> Option<std::time::Duration> {
        self.0.cache_ttl()
    }

    fn update_cache_ttl(&self, ttl: Option<std::time::Duration>) {
        self.0.update_cache_ttl(ttl);
    }

    fn drop_table_entries(
        &self,
        table: &datafusion::common::TableReference,
    ) -> datafusion::error::Result<()> {
        self.0.drop_table_entries(table)
    }

    fn list_entries(
        &self,
    ) -> datafusion::common::HashMap<
        TableScopedPath,
        datafusion::execution::cache::CacheEntryInfo<CachedFileMetadata>,
    > {
        self.0.list_entries()
    }
}
