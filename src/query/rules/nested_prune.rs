//! Row-group pruning on nested leaf columns.
//!
//! Nearly every column of an OCSF table is a field of a struct: `api.operation`,
//! `actor.user.type`, `actor.user.uid`. The lake writes min/max statistics for every leaf column of
//! every row group. But `DataFusion` 55's pruning reads only top-level columns ("`PruningPredicate`
//! does not support pruning on nested fields yet"). So a search for a value that is not there
//! (`api.operation = 'PutObjectAcl'`) decodes the whole column, where `DuckDB` skips the row groups.
//!
//! This table wraps the lake's listing table. It takes the plan `DataFusion` makes and reads each
//! file's footer (cached by path, size and modification time). For the conditions
//! `struct.field… = / < / <= / > / >= 'text'` and `IN ('a', 'b')` it tests each row group's leaf
//! statistics, and gives the file a `ParquetAccessPlan` that skips the row groups that cannot
//! match. For `=` and `IN` on a leaf whose every data page is dictionary-encoded, it also reads the
//! leaf's dictionary (one small page, cached like the footers) and skips the row group when none
//! of the values is in it, as `DuckDB` does: `api.operation = 'UpdateAssumeRolePolicy'` lies
//! between the minimum and the maximum of nearly every row group, but is in few dictionaries.
//! A file with no row group left is dropped from the scan. Only UTF-8 leaves are used, and
//! only when their statistics have the unsigned (byte-wise) order that comparing text needs. In
//! every other case the row group is read. The filters themselves still run on what is read, so a
//! skipped row group is one whose rows the filters would all have rejected.

use std::any::Any;
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{ScanArgs, ScanResult, Session, TableProvider};
use datafusion::common::ScalarValue;
use datafusion::datasource::TableType;
use datafusion::datasource::listing::ListingTable;
use datafusion::datasource::physical_plan::parquet::ParquetAccessPlan;
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfig, FileScanConfigBuilder};
use datafusion::datasource::source::DataSourceExec;
use datafusion::logical_expr::utils::split_conjunction;
use datafusion::logical_expr::{BinaryExpr, Expr, Operator, TableProviderFilterPushDown};
use datafusion::object_store::ObjectMeta;
use datafusion::physical_plan::ExecutionPlan;
use parquet::basic::{ColumnOrder, ConvertedType, Encoding, LogicalType, SortOrder};
use parquet::column::page::{Page, PageReader};
use parquet::file::metadata::ColumnChunkMetaData;
use parquet::file::metadata::{ParquetMetaData, ParquetMetaDataReader};
use parquet::file::serialized_reader::SerializedPageReader;
use parquet::file::statistics::Statistics;

/// A condition on a text leaf that row-group statistics can refute.
#[derive(Debug, Clone)]
enum Test {
    Eq(Vec<u8>),
    In(Vec<Vec<u8>>),
    Lt(Vec<u8>),
    LtEq(Vec<u8>),
    Gt(Vec<u8>),
    GtEq(Vec<u8>),
}

#[derive(Debug, Clone)]
struct Condition {
    /// The leaf's path: the column, then the fields (`["api", "operation"]`).
    path: Vec<String>,
    test: Test,
}

impl Test {
    /// The values an `=` or `IN` accepts; None for a range.
    fn values(&self) -> Option<Vec<&[u8]>> {
        match self {
            Test::Eq(v) => Some(vec![v.as_slice()]),
            Test::In(vs) => Some(vs.iter().map(Vec::as_slice).collect()),
            _ => None,
        }
    }

    /// Whether a row group whose values lie in `[min, max]` can hold a row that passes.
    fn can_match(&self, min: &[u8], max: &[u8]) -> bool {
        let inside = |v: &[u8]| min <= v && v <= max;
        match self {
            Test::Eq(v) => inside(v),
            Test::In(vs) => vs.iter().any(|v| inside(v)),
            Test::Lt(v) => min < v.as_slice(),
            Test::LtEq(v) => min <= v.as_slice(),
            Test::Gt(v) => max > v.as_slice(),
            Test::GtEq(v) => max >= v.as_slice(),
        }
    }
}

/// `get_field(get_field(col, 'a'), 'b')` or `get_field(col, 'a', 'b')` as a path; a bare column
/// as a path of one.
pub(crate) fn leaf_path(expr: &Expr) -> Option<Vec<String>> {
    match expr {
        Expr::Column(c) => Some(vec![c.name.clone()]),
        Expr::ScalarFunction(f) if f.name() == "get_field" => {
            let (base, fields) = f.args.split_first()?;
            let mut path = leaf_path(base)?;
            for field in fields {
                match field {
                    Expr::Literal(ScalarValue::Utf8(Some(s)) | ScalarValue::Utf8View(Some(s)), _) => {
                        path.push(s.clone());
                    }
                    _ => return None,
                }
            }
            (path.len() > 1).then_some(path)
        }
        _ => None,
    }
}

fn text(expr: &Expr) -> Option<Vec<u8>> {
    match expr {
        Expr::Literal(
            ScalarValue::Utf8(Some(s)) | ScalarValue::Utf8View(Some(s)) | ScalarValue::LargeUtf8(Some(s)),
            _,
        ) => Some(s.as_bytes().to_vec()),
        _ => None,
    }
}

fn condition(expr: &Expr) -> Option<Condition> {
    match expr {
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
            let (path, value, op) = match (leaf_path(left), text(right), leaf_path(right), text(left)) {
                (Some(path), Some(value), _, _) => (path, value, *op),
                (_, _, Some(path), Some(value)) => (path, value, op.swap()?),
                _ => return None,
            };
            let test = match op {
                Operator::Eq => Test::Eq(value),
                Operator::Lt => Test::Lt(value),
                Operator::LtEq => Test::LtEq(value),
                Operator::Gt => Test::Gt(value),
                Operator::GtEq => Test::GtEq(value),
                _ => return None,
            };
            Some(Condition { path, test })
        }
        Expr::InList(list) if !list.negated => {
            let path = leaf_path(&list.expr)?;
            let values: Option<Vec<Vec<u8>>> = list.list.iter().map(text).collect();
            Some(Condition {
                path,
                test: Test::In(values?),
            })
        }
        _ => None,
    }
}

/// The Parquet file with the greatest path under `dir` (folders by name, descending), at most
/// `depth` folders down: a lake is three (`region=`, `accountid=`, `eventday=`), and a link that
/// loops must not recurse forever.
fn latest_parquet(dir: &std::path::Path, depth: usize) -> Option<PathBuf> {
    let mut entries: Vec<_> = std::fs::read_dir(dir).ok()?.flatten().map(|e| e.path()).collect();
    entries.sort();
    entries.into_iter().rev().find_map(|path| {
        if path.is_dir() {
            (depth > 0).then(|| latest_parquet(&path, depth - 1)).flatten()
        } else {
            (path.extension().is_some_and(|e| e == "parquet")).then_some(path)
        }
    })
}

/// A file's footer as last read: its size and modification time (as the listing saw them) say
/// whether it still holds.
type Footer = (u64, chrono::DateTime<chrono::Utc>, Arc<ParquetMetaData>);

/// The lake's listing table, with row groups pruned on nested leaves.
#[derive(Debug)]
pub struct NestedPruning {
    inner: Arc<ListingTable>,
    /// Footers read so far: path → (size, modification time, metadata).
    footers: Mutex<HashMap<PathBuf, Footer>>,
    /// Dictionaries read so far, by file (path, size, modification time), row group and leaf;
    /// None for a column chunk that is not dictionary-encoded throughout.
    dictionaries: Mutex<HashMap<DictionaryKey, Option<Dictionary>>>,
    /// Each leaf's uncompressed bytes per row group, from one file's footer (see `leaf_sizes`).
    sizes: Mutex<Option<LeafSizes>>,
}

/// Uncompressed bytes per row group of each Parquet leaf, by its dotted path
/// (`actor.user.uid`, `resources.list.element.uid`).
pub type LeafSizes = Arc<HashMap<String, u64>>;

type DictionaryKey = (PathBuf, u64, chrono::DateTime<chrono::Utc>, usize, usize);

/// The values of a column chunk's dictionary.
type Dictionary = Arc<HashSet<Vec<u8>>>;

impl NestedPruning {
    pub fn new(inner: Arc<ListingTable>) -> NestedPruning {
        NestedPruning {
            inner,
            footers: Mutex::new(HashMap::new()),
            dictionaries: Mutex::new(HashMap::new()),
            sizes: Mutex::new(None),
        }
    }

    /// How large each leaf of the table is: the mean uncompressed bytes per row group, from the
    /// footer of the table's latest file (by path: the latest `eventday`), read once. Only the
    /// proportions between leaves are used, which one day's file shows as well as all of them.
    /// None when the table has no file yet or its footer cannot be read.
    pub fn leaf_sizes(&self) -> Option<LeafSizes> {
        if let Ok(sizes) = self.sizes.lock()
            && let Some(known) = sizes.as_ref()
        {
            return Some(Arc::clone(known));
        }
        let root = self.inner.table_paths().first()?;
        let dir = PathBuf::from(format!("/{}", root.prefix().as_ref()));
        let file = latest_parquet(&dir, 8)?;
        let meta = ParquetMetaDataReader::new()
            .parse_and_finish(&std::fs::File::open(file).ok()?)
            .ok()?;
        let groups = meta.num_row_groups().max(1) as u64;
        let mut sizes = HashMap::new();
        for group in meta.row_groups() {
            for chunk in group.columns() {
                let size = u64::try_from(chunk.uncompressed_size()).unwrap_or(0);
                *sizes.entry(chunk.column_path().string()).or_insert(0) += size;
            }
        }
        for size in sizes.values_mut() {
            *size /= groups;
        }
        let sizes = Arc::new(sizes);
        if let Ok(mut known) = self.sizes.lock() {
            *known = Some(Arc::clone(&sizes));
        }
        Some(sizes)
    }

    fn footer(&self, path: &PathBuf, file: &ObjectMeta) -> Option<Arc<ParquetMetaData>> {
        let (size, modified) = (file.size, file.last_modified);
        if let Ok(cache) = self.footers.lock()
            && let Some((s, m, meta)) = cache.get(path)
            && *s == size
            && *m == modified
        {
            return Some(Arc::clone(meta));
        }
        let file = std::fs::File::open(path).ok()?;
        let meta = Arc::new(ParquetMetaDataReader::new().parse_and_finish(&file).ok()?);
        if let Ok(mut cache) = self.footers.lock() {
            cache.insert(path.clone(), (size, modified, Arc::clone(&meta)));
        }
        Some(meta)
    }

    /// The values of one column chunk's dictionary, when every data page of the chunk is
    /// dictionary-encoded (then no other value occurs in it); None when it is not, or cannot be
    /// read (the row group is then read, as without this test).
    fn dictionary(
        &self,
        path: &PathBuf,
        file: &ObjectMeta,
        group: usize,
        leaf: usize,
        chunk: &ColumnChunkMetaData,
        rows: i64,
    ) -> Option<Dictionary> {
        let key = (path.clone(), file.size, file.last_modified, group, leaf);
        if let Ok(cache) = self.dictionaries.lock()
            && let Some(known) = cache.get(&key)
        {
            return known.clone();
        }
        let read = || -> Option<Dictionary> {
            let all_dictionary = chunk.dictionary_page_offset().is_some()
                && chunk.page_encoding_stats_mask().is_some_and(|mask| {
                    mask.is_only(Encoding::RLE_DICTIONARY) || mask.is_only(Encoding::PLAIN_DICTIONARY)
                });
            if !all_dictionary {
                return None;
            }
            let reader = Arc::new(std::fs::File::open(path).ok()?);
            let mut pages =
                SerializedPageReader::new(reader, chunk, usize::try_from(rows).ok()?, None).ok()?;
            let Some(Page::DictionaryPage {
                buf,
                num_values,
                encoding: Encoding::PLAIN | Encoding::PLAIN_DICTIONARY,
                ..
            }) = pages.get_next_page().ok()?
            else {
                return None;
            };
            // PLAIN byte arrays: a 4-byte little-endian length, then the bytes, for each value.
            // The count comes from the file: each value takes at least its 4-byte length.
            let count = usize::try_from(num_values).ok()?;
            let mut values = HashSet::with_capacity(count.min(buf.len() / 4));
            let mut rest: &[u8] = &buf;
            for _ in 0..count {
                let (len, tail) = rest.split_first_chunk::<4>()?;
                let len = usize::try_from(u32::from_le_bytes(*len)).ok()?;
                if tail.len() < len {
                    return None;
                }
                let (value, tail) = tail.split_at(len);
                values.insert(value.to_vec());
                rest = tail;
            }
            Some(Arc::new(values))
        };
        let found = read();
        if let Ok(mut cache) = self.dictionaries.lock() {
            cache.insert(key, found.clone());
        }
        found
    }

    /// The row groups of one file that can match, or None to read it all.
    fn access_plan(
        &self,
        path: &PathBuf,
        file: &ObjectMeta,
        conditions: &[Condition],
    ) -> Option<ParquetAccessPlan> {
        let meta = self.footer(path, file)?;
        let schema = meta.file_metadata().schema_descr();
        // Each condition's leaf, if it is a text leaf whose statistics sort byte-wise.
        let leaves: Vec<(usize, &Condition)> = conditions
            .iter()
            .filter_map(|c| {
                let i = schema.columns().iter().position(|col| {
                    let parts = col.path().parts();
                    parts.len() == c.path.len() && parts.iter().zip(&c.path).all(|(a, b)| a == b)
                })?;
                let col = schema.column(i);
                let is_text = matches!(col.logical_type_ref(), Some(LogicalType::String))
                    || col.converted_type() == ConvertedType::UTF8;
                let ordered = matches!(
                    meta.file_metadata().column_order(i),
                    ColumnOrder::TYPE_DEFINED_ORDER(SortOrder::UNSIGNED)
                );
                (is_text && ordered).then_some((i, c))
            })
            .collect();
        if leaves.is_empty() {
            return None;
        }
        let groups = meta.row_groups();
        let mut plan = ParquetAccessPlan::new_all(groups.len());
        for (g, rg) in groups.iter().enumerate() {
            let refuted = leaves.iter().any(|(i, c)| {
                let by_bounds = match rg.column(*i).statistics() {
                    Some(stats @ Statistics::ByteArray(s)) if !stats.is_min_max_deprecated() => {
                        match (s.min_bytes_opt(), s.max_bytes_opt()) {
                            (Some(min), Some(max)) => !c.test.can_match(min, max),
                            _ => false,
                        }
                    }
                    _ => false,
                };
                by_bounds
                    || c.test.values().is_some_and(|values| {
                        self.dictionary(path, file, g, *i, rg.column(*i), rg.num_rows())
                            .is_some_and(|dict| values.iter().all(|v| !dict.contains(*v)))
                    })
            });
            if refuted {
                plan.skip(g);
            }
        }
        Some(plan)
    }
}

#[async_trait]
impl TableProvider for NestedPruning {
    fn schema(&self) -> SchemaRef {
        self.inner.schema()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> datafusion::error::Result<Vec<TableProviderFilterPushDown>> {
        self.inner.supports_filters_pushdown(filters)
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> datafusion::error::Result<Arc<dyn ExecutionPlan>> {
        let plan = self.inner.scan(state, projection, filters, limit).await?;
        Ok(self.prune(plan, filters))
    }

    async fn scan_with_args<'a>(
        &self,
        state: &dyn Session,
        args: ScanArgs<'a>,
    ) -> datafusion::error::Result<ScanResult> {
        let filters: Vec<Expr> = args.filters().map(<[Expr]>::to_vec).unwrap_or_default();
        let result = self.inner.scan_with_args(state, args).await?;
        Ok(ScanResult::new(self.prune(Arc::clone(result.plan()), &filters)))
    }
}

impl NestedPruning {
    fn prune(&self, plan: Arc<dyn ExecutionPlan>, filters: &[Expr]) -> Arc<dyn ExecutionPlan> {
        let conditions: Vec<Condition> = filters
            .iter()
            .flat_map(split_conjunction)
            .filter_map(condition)
            .collect();
        if conditions.is_empty() {
            return plan;
        }
        let any: &dyn Any = plan.as_ref();
        let Some(exec) = any.downcast_ref::<DataSourceExec>() else {
            return plan;
        };
        let source: &dyn Any = exec.data_source().as_ref();
        let Some(config) = source.downcast_ref::<FileScanConfig>() else {
            return plan;
        };
        let mut groups = Vec::with_capacity(config.file_groups.len());
        for group in &config.file_groups {
            let mut files = Vec::with_capacity(group.len());
            for file in group.iter() {
                let path = PathBuf::from("/").join(file.object_meta.location.as_ref());
                match self.access_plan(&path, &file.object_meta, &conditions) {
                    None => files.push(file.clone()),
                    Some(access) if access.row_group_indexes().is_empty() => {}
                    Some(access) => files.push(file.clone().with_extension(access)),
                }
            }
            groups.push(FileGroup::new(files));
        }
        let config = FileScanConfigBuilder::from(config.clone())
            .with_file_groups(groups)
            .build();
        DataSourceExec::from_data_source(config)
    }
}
