//! Comparing text with literals: `x = 'v'`, `x <> 'v'`, `x IN ('a', 'b')`, `x NOT IN (…)`.
//!
//! Nearly every playbook condition is one of these, on a leaf the lake writes
//! dictionary-encoded: `api.operation = 'UpdateAssumeRolePolicy'`, `actor.user.uid = '…'`,
//! `api.operation IN ('GetObject', 'HeadObject', …)`. `DataFusion` compares each row's string
//! view with each literal (an `IN` list hashes each row's bytes), although the Parquet reader hands
//! such a column over as views that all point into the one dictionary page: within a batch, equal
//! views are equal values. [`TextIn`] answers each row from the view alone when it can — a
//! length or a four-byte prefix no literal has, or a short value held whole in the view — and
//! otherwise compares the bytes once per distinct view of the batch, remembering the answer in a
//! small table that lives for that batch only.
//!
//! [`TextComparisons`] puts it in place of `DataFusion`'s comparisons in filters, after every other
//! rule: in `FilterExec` predicates, and in the predicates Parquet scans evaluate while decoding
//! when the compared text is a struct field (`get_field(…)`), which `DataFusion`'s statistics
//! pruning does not read anyway; a top-level column keeps `DataFusion`'s comparison so its
//! statistics and bloom filters still prune. The answers, NULLs included, are `DataFusion`'s.

// A string view is four 32-bit fields packed in a u128 (length, prefix, buffer, offset); the
// casts below take it apart.
#![allow(clippy::cast_possible_truncation)]

use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, RecordBatch};
use datafusion::arrow::buffer::{BooleanBuffer, Buffer};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Schema};
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode};
use datafusion::common::{Result, ScalarValue, internal_datafusion_err};
use datafusion::datasource::physical_plan::{FileSource, ParquetSource};
use datafusion::datasource::source::DataSourceExec;
use datafusion::logical_expr::{ColumnarValue, Operator};
use datafusion::physical_expr::expressions::{BinaryExpr, Column, InListExpr, Literal};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::filter::{FilterExec, FilterExecBuilder};
use datafusion::physical_plan::{ExecutionPlan, PhysicalExpr};

/// Slots of the per-batch table of views already compared: a power of two.
const SEEN_SLOTS: usize = 256;

/// `arg = value`, `arg IN (values)`, or their negations, on text (`Utf8View`).
#[derive(Debug, Clone)]
pub struct TextIn {
    arg: Arc<dyn PhysicalExpr>,
    values: Arc<[Box<str>]>,
    negated: bool,
}

impl PartialEq for TextIn {
    fn eq(&self, other: &Self) -> bool {
        self.arg.as_ref() == other.arg.as_ref()
            && self.values == other.values
            && self.negated == other.negated
    }
}

impl Eq for TextIn {}

impl Hash for TextIn {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.arg.hash(state);
        self.values.hash(state);
        self.negated.hash(state);
    }
}

impl fmt::Display for TextIn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let quoted = self.quoted();
        let not = if self.negated { "NOT " } else { "" };
        write!(f, "{not}irp_text_in({}, {})", self.arg, quoted.join(", "))
    }
}

impl TextIn {
    /// The values as SQL literals.
    fn quoted(&self) -> Vec<String> {
        self.values
            .iter()
            .map(|v| format!("'{}'", v.replace('\'', "''")))
            .collect()
    }

    /// The comparison `expr` stands for, when it is one this expression computes: text against
    /// non-NULL text literals.
    fn of(expr: &Arc<dyn PhysicalExpr>, schema: &Schema) -> Option<TextIn> {
        let text = |e: &Arc<dyn PhysicalExpr>| matches!(e.data_type(schema), Ok(DataType::Utf8View));
        let literal = |e: &Arc<dyn PhysicalExpr>| match e.downcast_ref::<Literal>()?.value() {
            ScalarValue::Utf8View(Some(s)) | ScalarValue::Utf8(Some(s)) => Some(Box::<str>::from(s.as_str())),
            _ => None,
        };
        if let Some(b) = expr.downcast_ref::<BinaryExpr>() {
            let negated = match b.op() {
                Operator::Eq => false,
                Operator::NotEq => true,
                _ => return None,
            };
            let (arg, value) = match (literal(b.left()), literal(b.right())) {
                (None, Some(v)) => (b.left(), v),
                (Some(v), None) => (b.right(), v),
                _ => return None,
            };
            return text(arg).then(|| TextIn {
                arg: Arc::clone(arg),
                values: Arc::from(vec![value]),
                negated,
            });
        }
        let list = expr.downcast_ref::<InListExpr>()?;
        let values: Option<Vec<Box<str>>> = list.list().iter().map(literal).collect();
        let mut values = values?;
        values.sort();
        values.dedup();
        (text(list.expr()) && !values.is_empty()).then(|| TextIn {
            arg: Arc::clone(list.expr()),
            values: Arc::from(values),
            negated: list.negated(),
        })
    }

    /// Whether each view of `array` holds one of the values.
    fn matches(&self, array: &datafusion::arrow::array::StringViewArray) -> BooleanBuffer {
        let mut matcher = Matcher::new(&self.values, array.data_buffers());
        let views = array.views();
        let mut words = Vec::with_capacity(views.len().div_ceil(64));
        for chunk in views.chunks(64) {
            // One value: a test without branches per row, which the compiler vectorises; a long
            // value's candidates (its length and first four bytes) are then compared one by one.
            let word = match matcher.single {
                Some(Single::Short { mask, view: value }) => bits(chunk, |view| view & mask == value),
                Some(Single::Long { head }) => {
                    let mut candidates = bits(chunk, |view| view as u64 == head);
                    let mut word = 0u64;
                    while candidates != 0 {
                        let bit = candidates.trailing_zeros();
                        candidates &= candidates - 1;
                        word |= u64::from(matcher.compare(chunk[bit as usize])) << bit;
                    }
                    word
                }
                None => bits(chunk, |view| matcher.test(view)),
            };
            words.push(word);
        }
        BooleanBuffer::new(Buffer::from_vec(words), 0, views.len())
    }
}

/// Bit `n` set when `test` holds for the `n`th of up to 64 views.
#[allow(clippy::inline_always)]
#[inline(always)]
fn bits(chunk: &[u128], mut test: impl FnMut(u128) -> bool) -> u64 {
    chunk
        .iter()
        .enumerate()
        .fold(0u64, |word, (bit, &view)| word | u64::from(test(view)) << bit)
}

#[derive(Clone, Copy)]
enum Single {
    Short { mask: u128, view: u128 },
    Long { head: u64 },
}

/// The mask that keeps a short view's length and its `len` bytes.
fn short_mask(len: usize) -> u128 {
    if len >= 12 {
        u128::MAX
    } else {
        (1u128 << (32 + 8 * len)) - 1
    }
}

/// Answers, for one batch, whether a view holds one of the values.
struct Matcher<'a> {
    /// Bit `n` set when some value is `n` bytes long (`n` < 128).
    lengths: [u64; 2],
    /// With a single value: its view under the mask of its length when it is short, else the
    /// length and first four bytes every view holding it starts with.
    single: Option<Single>,
    /// The views of the values of up to twelve bytes.
    short: Vec<u128>,
    /// The longer values, with their length and first four bytes.
    long: Vec<(u32, u32, &'a [u8])>,
    buffers: &'a [Buffer],
    /// Views already compared in this batch (equal views are equal values), and the answers.
    seen_view: [u128; SEEN_SLOTS],
    seen_answer: [bool; SEEN_SLOTS],
}

impl<'a> Matcher<'a> {
    fn new(values: &'a [Box<str>], buffers: &'a [Buffer]) -> Matcher<'a> {
        let mut lengths = [0u64; 2];
        for v in values {
            if v.len() < 128 {
                lengths[v.len() >> 6] |= 1 << (v.len() & 63);
            }
        }
        let single = match values {
            [v] if v.len() <= 12 => Some(Single::Short {
                mask: short_mask(v.len()),
                view: inline_view(v.as_bytes()),
            }),
            [v] => Some(Single::Long {
                head: inline_view(&v.as_bytes()[..4]) as u64 & 0xFFFF_FFFF_0000_0000 | v.len() as u64,
            }),
            _ => None,
        };
        Matcher {
            lengths,
            single,
            short: values
                .iter()
                .filter(|v| v.len() <= 12)
                .map(|v| inline_view(v.as_bytes()))
                .collect(),
            long: values
                .iter()
                .filter(|v| v.len() > 12)
                .map(|v| {
                    let b = v.as_bytes();
                    (b.len() as u32, u32::from_le_bytes([b[0], b[1], b[2], b[3]]), b)
                })
                .collect(),
            buffers,
            seen_view: [0; SEEN_SLOTS],
            seen_answer: [false; SEEN_SLOTS],
        }
    }

    /// With several values: most rows end at the length, which no value has. Inlined into the
    /// loop: as a call per row it took twice the time of `DataFusion`'s comparison
    /// (docs/performance.md).
    #[allow(clippy::inline_always)]
    #[inline(always)]
    fn test(&mut self, view: u128) -> bool {
        let len = view as u32 as usize;
        if len < 128 && self.lengths[len >> 6] & (1 << (len & 63)) == 0 {
            return false;
        }
        self.compare(view)
    }

    #[inline(never)]
    fn compare(&mut self, view: u128) -> bool {
        let len = view as u32;
        if len <= 12 {
            // The bytes past the value are zero in a valid view; the mask keeps one that is not
            // from being misread.
            return self.short.contains(&(view & short_mask(len as usize)));
        }
        let prefix = (view >> 32) as u32;
        if !self.long.iter().any(|(l, p, _)| *l == len && *p == prefix) {
            return false;
        }
        let slot = (((view >> 64) as u64 ^ view as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56) as usize;
        if self.seen_view[slot] == view {
            return self.seen_answer[slot];
        }
        let buffer = (view >> 64) as u32 as usize;
        let offset = (view >> 96) as u32 as usize;
        let bytes = &self.buffers[buffer][offset..offset + len as usize];
        let answer = self.long.iter().any(|(_, _, v)| *v == bytes);
        self.seen_view[slot] = view;
        self.seen_answer[slot] = answer;
        answer
    }
}

/// The view of a value of up to twelve bytes: its length, then its bytes, zero-padded.
fn inline_view(bytes: &[u8]) -> u128 {
    let mut view = [0u8; 16];
    view[..4].copy_from_slice(&(bytes.len() as u32).to_le_bytes());
    view[4..4 + bytes.len()].copy_from_slice(bytes);
    u128::from_le_bytes(view)
}

impl PhysicalExpr for TextIn {
    fn return_field(&self, input_schema: &Schema) -> Result<FieldRef> {
        Ok(Arc::new(Field::new(
            "text_in",
            DataType::Boolean,
            self.arg.nullable(input_schema)?,
        )))
    }

    fn evaluate(&self, batch: &RecordBatch) -> Result<ColumnarValue> {
        match self.arg.evaluate(batch)? {
            ColumnarValue::Scalar(s) => {
                let answer = match &s {
                    ScalarValue::Utf8View(Some(v))
                    | ScalarValue::Utf8(Some(v))
                    | ScalarValue::LargeUtf8(Some(v)) => {
                        Some(self.values.iter().any(|x| **x == **v) != self.negated)
                    }
                    _ if s.is_null() => None,
                    other => {
                        return Err(internal_datafusion_err!(
                            "TextIn: a {} is not text",
                            other.data_type()
                        ));
                    }
                };
                Ok(ColumnarValue::Scalar(ScalarValue::Boolean(answer)))
            }
            ColumnarValue::Array(array) => {
                let array: ArrayRef = array;
                let views = array
                    .as_string_view_opt()
                    .ok_or_else(|| internal_datafusion_err!("TextIn: a {} is not text", array.data_type()))?;
                let mut answers = self.matches(views);
                if self.negated {
                    answers = !&answers;
                }
                Ok(ColumnarValue::Array(Arc::new(BooleanArray::new(
                    answers,
                    views.nulls().cloned(),
                ))))
            }
        }
    }

    fn children(&self) -> Vec<&Arc<dyn PhysicalExpr>> {
        vec![&self.arg]
    }

    fn with_new_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn PhysicalExpr>>,
    ) -> Result<Arc<dyn PhysicalExpr>> {
        let arg = children
            .pop()
            .ok_or_else(|| internal_datafusion_err!("TextIn takes one child"))?;
        Ok(Arc::new(TextIn {
            arg,
            values: Arc::clone(&self.values),
            negated: self.negated,
        }))
    }

    fn fmt_sql(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.arg.fmt_sql(f)?;
        let quoted = self.quoted();
        match (quoted.as_slice(), self.negated) {
            ([one], false) => write!(f, " = {one}"),
            ([one], true) => write!(f, " <> {one}"),
            (all, negated) => write!(f, " {}IN ({})", if negated { "NOT " } else { "" }, all.join(", ")),
        }
    }
}

/// Rewrites `expr`'s text comparisons into [`TextIn`]; `fields_only` keeps those on a bare column.
fn rewrite(
    expr: &Arc<dyn PhysicalExpr>,
    schema: &Schema,
    fields_only: bool,
) -> Result<Transformed<Arc<dyn PhysicalExpr>>> {
    Arc::clone(expr).transform_up(|e| match TextIn::of(&e, schema) {
        Some(t) if !(fields_only && t.arg.downcast_ref::<Column>().is_some()) => {
            Ok(Transformed::yes(Arc::new(t) as Arc<dyn PhysicalExpr>))
        }
        _ => Ok(Transformed::no(e)),
    })
}

/// The physical optimizer rule that puts [`TextIn`] in filters (see the module's documentation).
#[derive(Debug, Default)]
pub struct TextComparisons;

impl PhysicalOptimizerRule for TextComparisons {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|node| {
            if let Some(filter) = node.downcast_ref::<FilterExec>() {
                let schema = filter.input().schema();
                let predicate = rewrite(filter.predicate(), &schema, false)?;
                if !predicate.transformed {
                    return Ok(Transformed::no(node));
                }
                let exec = FilterExecBuilder::from(filter)
                    .with_predicate(predicate.data)
                    .build()?;
                return Ok(Transformed::yes(Arc::new(exec) as Arc<dyn ExecutionPlan>));
            }
            if let Some(scan) = node.downcast_ref::<DataSourceExec>()
                && let Some((config, parquet)) = scan.downcast_to_file_source::<ParquetSource>()
                && let Some(predicate) = parquet.filter()
            {
                let schema = config.file_source.table_schema().table_schema();
                let predicate = rewrite(&predicate, schema, true)?;
                if !predicate.transformed {
                    return Ok(Transformed::no(node));
                }
                let mut config = config.clone();
                config.file_source = Arc::new(parquet.with_predicate(predicate.data));
                return Ok(Transformed::yes(
                    DataSourceExec::from_data_source(config) as Arc<dyn ExecutionPlan>
                ));
            }
            Ok(Transformed::no(node))
        })
        .data()
    }

    fn name(&self) -> &'static str {
        "text_comparisons"
    }

    fn schema_check(&self) -> bool {
        true
    }
}
