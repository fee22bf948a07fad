//! A query result as the UI holds it: Arrow columns, formatted only when a cell is drawn, so a
//! million rows cost their Arrow size and no more. Sorting and filtering produce a row order
//! (indices); the data itself never moves.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef};
use arrow::compute::{SortOptions, concat, sort_to_indices};
use arrow::datatypes::{DataType, SchemaRef};
use arrow::record_batch::RecordBatch;
use arrow::util::display::{ArrayFormatter, FormatOptions};

/// The widest a column is fitted to; longer values are cut and shown whole in the cell popup.
pub const MAX_COLUMN_WIDTH: usize = 40;

/// A loaded result: one array per column.
#[derive(Debug, Clone)]
pub struct ResultTable {
    schema: SchemaRef,
    columns: Vec<ArrayRef>,
    rows: usize,
}

impl ResultTable {
    /// Joins the batches of a result into one array per column.
    pub fn from_batches(schema: SchemaRef, batches: &[RecordBatch]) -> Result<ResultTable, String> {
        let mut columns = Vec::with_capacity(schema.fields().len());
        for i in 0..schema.fields().len() {
            let parts: Vec<&dyn Array> = batches.iter().map(|b| b.column(i).as_ref()).collect();
            let col = if parts.is_empty() {
                arrow::array::new_empty_array(schema.field(i).data_type())
            } else {
                concat(&parts).map_err(|e| format!("cannot join the result's column {i}: {e}"))?
            };
            columns.push(col);
        }
        let rows = batches.iter().map(RecordBatch::num_rows).sum();
        Ok(ResultTable {
            schema,
            columns,
            rows,
        })
    }

    /// Reads a Parquet result (the artifact of a query step).
    pub fn from_parquet(bytes: Vec<u8>) -> Result<ResultTable, String> {
        let reader =
            parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(bytes))
                .map_err(|e| format!("the result file is not readable Parquet: {e}"))?
                .with_batch_size(65_536)
                .build()
                .map_err(|e| format!("the result file is not readable Parquet: {e}"))?;
        let schema = arrow::record_batch::RecordBatchReader::schema(&reader);
        let batches = reader
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("the result file is not readable Parquet: {e}"))?;
        ResultTable::from_batches(schema, &batches)
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn columns(&self) -> usize {
        self.columns.len()
    }

    pub fn header(&self, col: usize) -> &str {
        self.schema.field(col).name()
    }

    /// Whether the column holds numbers (right-aligned, chartable).
    pub fn is_numeric(&self, col: usize) -> bool {
        self.columns.get(col).is_some_and(|c| c.data_type().is_numeric())
    }

    /// Whether the column holds times or dates (a time bucket).
    pub fn is_temporal(&self, col: usize) -> bool {
        self.columns.get(col).is_some_and(|c| c.data_type().is_temporal())
            || self.columns.get(col).is_some_and(|c| {
                matches!(
                    c.data_type(),
                    DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8
                ) && looks_like_bucket(self.header(col))
            })
    }

    /// The value of one cell as text; NULL as `NULL`. Text is shown as it is, control
    /// characters made visible so log data cannot move the cursor or change colours.
    pub fn cell(&self, row: usize, col: usize) -> String {
        let Some(array) = self.columns.get(col) else {
            return String::new();
        };
        if row >= array.len() {
            return String::new();
        }
        if array.is_null(row) {
            return "NULL".to_owned();
        }
        let options = FormatOptions::default().with_null("NULL");
        let text = match ArrayFormatter::try_new(array.as_ref(), &options) {
            Ok(f) => f.value(row).to_string(),
            Err(e) => format!("<{e}>"),
        };
        visible(&text)
    }

    /// The cells of one column for the given rows, with one formatter (what a frame draws).
    pub fn column_cells(&self, col: usize, rows: &[usize]) -> Vec<String> {
        let Some(array) = self.columns.get(col) else {
            return vec![String::new(); rows.len()];
        };
        let options = FormatOptions::default().with_null("NULL");
        let formatter = ArrayFormatter::try_new(array.as_ref(), &options);
        rows.iter()
            .map(|&r| match &formatter {
                _ if r >= array.len() => String::new(),
                _ if array.is_null(r) => "NULL".to_owned(),
                Ok(f) => visible(&f.value(r).to_string()),
                Err(e) => format!("<{e}>"),
            })
            .collect()
    }

    /// The number in a numeric cell, for the chart.
    pub fn number(&self, row: usize, col: usize) -> Option<f64> {
        if !self.is_numeric(col) {
            return None;
        }
        self.cell(row, col).parse().ok()
    }

    /// The row order sorted by `col`; `None` when the column cannot be sorted.
    pub fn sorted(&self, col: usize, descending: bool) -> Option<Vec<u32>> {
        let array = self.columns.get(col)?;
        let options = SortOptions {
            descending,
            nulls_first: false,
        };
        let indices = sort_to_indices(array.as_ref(), Some(options), None).ok()?;
        Some(indices.values().to_vec())
    }

    /// The rows of `order` whose cells contain `needle` (case-insensitive), in that order.
    pub fn filtered(&self, order: impl Iterator<Item = u32>, needle: &str) -> Vec<u32> {
        use std::fmt::Write as _;
        let needle = needle.to_lowercase();
        let options = FormatOptions::default().with_null("NULL");
        let formatters: Vec<_> = self
            .columns
            .iter()
            .filter_map(|c| ArrayFormatter::try_new(c.as_ref(), &options).ok())
            .collect();
        let mut buf = String::new();
        order
            .filter(|&r| {
                formatters.iter().any(|f| {
                    buf.clear();
                    let _ = write!(buf, "{}", f.value(r as usize));
                    buf.to_lowercase().contains(&needle)
                })
            })
            .collect()
    }

    /// The bytes the columns' buffers hold.
    pub fn memory_size(&self) -> usize {
        self.columns
            .iter()
            .map(|c| Array::get_array_memory_size(c.as_ref()))
            .sum()
    }

    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }
}

/// A shared handle: the model and the worker pass results around without copying them.
pub type SharedTable = Arc<ResultTable>;

fn looks_like_bucket(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    ["hour", "day", "minute", "bucket", "time", "date", "window"]
        .iter()
        .any(|w| n.contains(w))
}

/// Control characters (escape sequences in log data) as visible escapes.
pub fn visible(text: &str) -> String {
    if !text.chars().any(char::is_control) {
        return text.to_owned();
    }
    text.chars()
        .map(|c| match c {
            '\n' => "\u{21b5}".to_owned(),
            '\t' => " ".to_owned(),
            c if c.is_control() => c.escape_unicode().to_string(),
            c => c.to_string(),
        })
        .collect()
}
