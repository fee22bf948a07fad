//! The local Security Lake: folders in Security Lake's layout holding OCSF 1.1 Parquet files,
//! `<lake>/<source>/region=<r>/accountid=<a>/eventday=<YYYYMMDD>/*.parquet`, rows sorted by
//! `time` inside each file, zstd-compressed; and the synthetic scenario generator that fills it.

pub mod cloudtrail;
pub mod generate;
pub mod import;
pub mod ocsf;
pub mod ocsf_other;
mod rng;
mod split;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use chrono::NaiveDate;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;

use crate::playbook::table::LogicalTable;

/// Rows per Parquet row group, at most. A day's file of a source is one row group up to a
/// million rows, as in the files Security Lake writes (row groups of about 128 MB). A query then
/// sets up one reader, one decompressor and one dictionary per column and file instead of one
/// per 65,536 rows, which was a tenth to a fifth of the selective queries' time (docs/lake.md,
/// docs/performance.md "Seventh round"). `time_dt` bounds still skip most of a day: statistics
/// are kept for every page, and the page index skips pages inside a row group.
pub const ROW_GROUP_ROWS: usize = 1 << 20;

/// The folder of one partition.
pub fn partition_dir(
    lake: &Path,
    source: LogicalTable,
    region: &str,
    account: &str,
    day: NaiveDate,
) -> PathBuf {
    lake.join(source.as_str())
        .join(format!("region={region}"))
        .join(format!("accountid={account}"))
        .join(format!("eventday={}", day.format("%Y%m%d")))
}

/// Writer settings of every lake file: zstd, page-level statistics (so `time_dt` bounds prune
/// row groups and pages) and delta-encoded timestamps.
pub fn writer_properties() -> WriterProperties {
    let builder = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(3).unwrap_or_default()))
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_created_by(format!("irp {}", env!("CARGO_PKG_VERSION")));
    TIME_COLUMNS
        .iter()
        .fold(builder, |b, name| {
            b.set_column_dictionary_enabled(ColumnPath::from(*name), false)
                .set_column_encoding(ColumnPath::from(*name), Encoding::DELTA_BINARY_PACKED)
        })
        .build()
}

/// Timestamp columns, written with delta encoding instead of a dictionary. Nearly every value is
/// distinct, so a dictionary grew to its size limit in each row group and the rest fell back to
/// plain 8-byte values: 650 KB per 65,536 rows before zstd, 255 KB after. Rows are sorted by
/// time, so the deltas are small: 99 KB before zstd. Every query that filters or groups by time
/// decodes this column (docs/performance.md, "Sixth round").
pub const TIME_COLUMNS: [&str; 6] = [
    "time",
    "time_dt",
    "start_time",
    "start_time_dt",
    "end_time",
    "end_time_dt",
];

/// Columns that live in the folder names (Hive partitions), not in the files.
pub const PARTITION_COLUMNS: [&str; 2] = ["region", "accountid"];

/// A Parquet file being written batch by batch (batches must already be in `time` order).
#[derive(Debug)]
pub struct PartitionWriter {
    writer: ArrowWriter<File>,
    /// The file's schema: the batches' schema with text as string views.
    schema: SchemaRef,
    /// Indices of the columns written (all but the partition columns).
    keep: Vec<usize>,
    pub rows: u64,
}

impl PartitionWriter {
    pub fn create(path: &Path, schema: &SchemaRef) -> Result<PartitionWriter, LakeError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| LakeError::io(dir, e))?;
        }
        let keep: Vec<usize> = (0..schema.fields().len())
            .filter(|i| !PARTITION_COLUMNS.contains(&schema.field(*i).name().as_str()))
            .collect();
        let schema = Arc::new(with_string_views(&schema.project(&keep)?));
        let file = File::create(path).map_err(|e| LakeError::io(path, e))?;
        let writer = ArrowWriter::try_new(file, schema.clone(), Some(writer_properties()))?;
        Ok(PartitionWriter {
            writer,
            schema,
            keep,
            rows: 0,
        })
    }

    pub fn write(&mut self, batch: &RecordBatch) -> Result<(), LakeError> {
        self.rows += batch.num_rows() as u64;
        let batch = batch.project(&self.keep)?;
        let columns = batch
            .columns()
            .iter()
            .zip(self.schema.fields())
            .map(|(c, f)| arrow::compute::cast(c, f.data_type()))
            .collect::<Result<Vec<_>, _>>()?;
        self.writer
            .write(&RecordBatch::try_new(self.schema.clone(), columns)?)?;
        Ok(())
    }

    pub fn finish(self) -> Result<u64, LakeError> {
        self.writer.close()?;
        Ok(self.rows)
    }
}

/// The schema with every text column, nested ones included, as a string view (`Utf8View`); map
/// keys and values stay plain strings. The Parquet bytes are the same either way (UTF-8 byte arrays); the
/// Arrow schema stored in the file tells readers to decode text as views, which for a
/// dictionary-encoded column points into the dictionary instead of copying every value.
/// `DataFusion` asks for views only for top-level columns, and most of OCSF is nested.
pub fn with_string_views(schema: &Schema) -> Schema {
    fn field(f: &Field) -> Field {
        f.clone().with_data_type(view(f.data_type()))
    }
    fn view(t: &DataType) -> DataType {
        match t {
            DataType::Utf8 => DataType::Utf8View,
            DataType::Struct(fields) => DataType::Struct(fields.iter().map(|f| field(f)).collect()),
            DataType::List(item) => DataType::List(Arc::new(field(item))),
            other => other.clone(),
        }
    }
    Schema::new_with_metadata(
        schema.fields().iter().map(|f| field(f)).collect::<Vec<_>>(),
        schema.metadata().clone(),
    )
}

#[derive(Debug, thiserror::Error)]
pub enum LakeError {
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("writing Parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    #[error("building Arrow data: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
    #[error("{0}")]
    Invalid(String),
}

impl LakeError {
    fn io(path: &Path, source: std::io::Error) -> LakeError {
        LakeError::Io {
            path: path.to_owned(),
            source,
        }
    }
}
