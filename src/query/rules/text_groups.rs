//! The first, per-partition stage of a `GROUP BY` on one text column, which remembers where each
//! value lives.
//!
//! Responders group by text far more than by anything else: by principal (`actor.user.uid`), by
//! source IP, by bucket, by operation. `DataFusion` 55 groups text by hashing every row's bytes and
//! comparing them with the group found: a million 40-byte ARNs cost a million hashes and
//! comparisons, about half of the query (docs/performance.md, "Eighth round"). Yet the lake writes
//! those columns dictionary-encoded, and the Parquet reader hands them over as string views that
//! all point into the one decompressed dictionary page of the column chunk: the day's 99
//! principals are 99 locations, whatever the number of rows. `DuckDB` groups on the dictionary
//! codes for the same reason.
//!
//! [`TextGroupBy`] replaces `DataFusion`'s partial aggregation by [`TextGroupByExec`] when the
//! group key is a single text (`Utf8View`) expression and every aggregate can update by group
//! index. For each row it looks the value's location up first — which buffer, which offset, which
//! length — in a small direct-mapped cache, and only on a miss hashes the bytes into the real
//! table of groups. Values of up to twelve bytes live inside the view itself; they are cached by
//! the view. The answer never depends on the cache: a location is trusted only while the buffer
//! that holds it is held, so the bytes it names cannot change, and a value met at two locations
//! meets the same group through the table. The aggregates themselves are `DataFusion`'s own
//! group accumulators, and the output is the partial state `DataFusion`'s final stage expects.
//!
//! Like `DataFusion`'s, the stage emits what it has and starts again when the memory pool refuses
//! it more, and stops grouping (passing each row on as its own partial state) when nearly every
//! row is a new group, per the session's `skip_partial_aggregation_probe_*` settings.

use std::collections::VecDeque;
use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, ByteView, RecordBatch, StringViewArray, StringViewBuilder,
};
use datafusion::arrow::buffer::Buffer;
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode, TreeNodeRecursion};
use datafusion::common::{HashMap, Result, Statistics, internal_datafusion_err};
use datafusion::execution::memory_pool::{MemoryConsumer, MemoryReservation};
use datafusion::execution::{RecordBatchStream, SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::{EmitTo, GroupsAccumulator};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::aggregates::{AggregateExec, AggregateMode};
use datafusion::physical_plan::metrics::{BaselineMetrics, ExecutionPlanMetricsSet, MetricsSet};
use datafusion::physical_plan::{
    ChildStats, ChildrenPropertiesMode, DisplayAs, DisplayFormatType, ExecutionPlan, InputOrderMode,
    PhysicalExpr, PlanProperties, ReplaceChildrenOptions, StatisticsArgs,
};
use futures::{Stream, StreamExt};

/// The physical optimizer rule that puts [`TextGroupByExec`] in place of `DataFusion`'s partial
/// aggregation wherever it applies (see [`TextGroupByExec::applies_to`]).
#[derive(Debug, Default)]
pub struct TextGroupBy;

impl PhysicalOptimizerRule for TextGroupBy {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|node| {
            let Some(agg) = node.downcast_ref::<AggregateExec>() else {
                return Ok(Transformed::no(node));
            };
            if !TextGroupByExec::applies_to(agg) {
                return Ok(Transformed::no(node));
            }
            let exec: Arc<dyn ExecutionPlan> = Arc::new(TextGroupByExec::new(agg.clone()));
            Ok(Transformed::yes(exec))
        })
        .data()
    }

    fn name(&self) -> &'static str {
        "text_group_by"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// `DataFusion`'s partial aggregation, run with a group table that caches text by location. It
/// keeps the `AggregateExec` it stands for: the expressions, the output schema and every plan
/// property are that node's.
#[derive(Debug)]
pub struct TextGroupByExec {
    agg: AggregateExec,
    metrics: ExecutionPlanMetricsSet,
}

impl TextGroupByExec {
    fn new(agg: AggregateExec) -> TextGroupByExec {
        TextGroupByExec {
            agg,
            metrics: ExecutionPlanMetricsSet::new(),
        }
    }

    /// Whether `agg` is a partial aggregation this stage computes exactly as `DataFusion` would:
    /// one text group key and no grouping sets; aggregates that update by group index, with no
    /// `DISTINCT` and no `ORDER BY` of their own; no ordered input (whose output ordering the plan
    /// may rely on), no limit and no dynamic filter.
    pub fn applies_to(agg: &AggregateExec) -> bool {
        let group_by = agg.group_expr();
        let [(key, _)] = group_by.expr() else {
            return false;
        };
        matches!(agg.mode(), AggregateMode::Partial)
            && group_by.null_expr().is_empty()
            && !group_by.has_grouping_set()
            && matches!(key.data_type(&agg.input_schema()), Ok(DataType::Utf8View))
            && agg
                .aggr_expr()
                .iter()
                .all(|a| a.groups_accumulator_supported() && !a.is_distinct() && a.order_bys().is_empty())
            && *agg.input_order_mode() == InputOrderMode::Linear
            && agg.limit_options().is_none()
            && agg.dynamic_expressions_produced().is_empty()
    }
}

impl DisplayAs for TextGroupByExec {
    fn fmt_as(&self, t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "TextGroupByExec: ")?;
        self.agg.fmt_as(t, f)
    }
}

impl ExecutionPlan for TextGroupByExec {
    fn name(&self) -> &'static str {
        "TextGroupByExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        self.agg.properties()
    }

    fn input_distribution_requirements(&self) -> datafusion::physical_plan::InputDistributionRequirements {
        self.agg.input_distribution_requirements()
    }

    fn required_input_ordering(&self) -> Vec<Option<datafusion::physical_expr::OrderingRequirements>> {
        self.agg.required_input_ordering()
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        self.agg.maintains_input_order()
    }

    fn benefits_from_input_partitioning(&self) -> Vec<bool> {
        self.agg.benefits_from_input_partitioning()
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![self.agg.input()]
    }

    fn apply_expressions(
        &self,
        f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        self.agg.apply_expressions(f)
    }

    fn replace_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
        options: ReplaceChildrenOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let agg = Arc::new(self.agg.clone()).replace_children(children, options)?;
        let agg = agg
            .downcast_ref::<AggregateExec>()
            .ok_or_else(|| internal_datafusion_err!("TextGroupByExec: its aggregation changed kind"))?;
        Ok(Arc::new(TextGroupByExec::new(agg.clone())))
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.replace_children(
            children,
            ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute),
        )
    }

    fn with_new_children_and_same_properties(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.replace_children(
            children,
            ReplaceChildrenOptions::new(ChildrenPropertiesMode::Keep),
        )
    }

    fn execute(&self, partition: usize, context: Arc<TaskContext>) -> Result<SendableRecordBatchStream> {
        let input = self.agg.input().execute(partition, Arc::clone(&context))?;
        let (key, _) = &self.agg.group_expr().expr()[0];
        let accumulators = self
            .agg
            .aggr_expr()
            .iter()
            .map(|a| a.create_groups_accumulator())
            .collect::<Result<Vec<_>>>()?;
        let options = &context.session_config().options().execution;
        let reservation = MemoryConsumer::new(format!("TextGroupByExec[{partition}]"))
            .with_can_spill(true)
            .register(context.memory_pool());
        Ok(Box::pin(TextGroupByStream {
            input,
            schema: self.schema(),
            key: Arc::clone(key),
            inputs: self
                .agg
                .aggr_expr()
                .iter()
                .zip(self.agg.filter_expr())
                .map(|(a, filter)| AggregateInput {
                    arguments: a.expressions(),
                    filter: filter.clone(),
                })
                .collect(),
            accumulators,
            groups: TextGroups::default(),
            indices: Vec::new(),
            reservation,
            probe_rows: options.skip_partial_aggregation_probe_rows_threshold,
            probe_ratio: options.skip_partial_aggregation_probe_ratio_threshold,
            rows_seen: 0,
            skipping: false,
            ready: VecDeque::new(),
            done: false,
            baseline: BaselineMetrics::new(&self.metrics, partition),
        }))
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }

    fn child_stats_requests(&self, partition: Option<usize>) -> Vec<ChildStats> {
        self.agg.child_stats_requests(partition)
    }

    fn statistics_from_inputs(
        &self,
        input_stats: &[Arc<Statistics>],
        args: &StatisticsArgs,
    ) -> Result<Arc<Statistics>> {
        self.agg.statistics_from_inputs(input_stats, args)
    }
}

struct TextGroupByStream {
    input: SendableRecordBatchStream,
    schema: SchemaRef,
    key: Arc<dyn PhysicalExpr>,
    /// What each aggregate reads.
    inputs: Vec<AggregateInput>,
    accumulators: Vec<Box<dyn GroupsAccumulator>>,
    groups: TextGroups,
    /// The group of each row of the batch being aggregated.
    indices: Vec<usize>,
    reservation: MemoryReservation,
    probe_rows: usize,
    probe_ratio: f64,
    rows_seen: usize,
    /// Nearly every row was a new group: rows now pass on as their own partial states.
    skipping: bool,
    /// Batches to hand on before reading more input.
    ready: VecDeque<RecordBatch>,
    done: bool,
    baseline: BaselineMetrics,
}

impl TextGroupByStream {
    fn consume(&mut self, batch: &RecordBatch) -> Result<()> {
        if self.skipping {
            let states = self.as_states(batch)?;
            self.ready.push_back(states);
            return Ok(());
        }
        let key = self.key.evaluate(batch)?.into_array(batch.num_rows())?;
        let key = key.as_string_view_opt().ok_or_else(|| {
            internal_datafusion_err!("TextGroupByExec: the group key is {}, not text", key.data_type())
        })?;
        self.groups.assign(key, &mut self.indices);
        let num_groups = self.groups.len();
        for (acc, input) in self.accumulators.iter_mut().zip(&self.inputs) {
            let (values, filter) = input.evaluate(batch)?;
            acc.update_batch(&values, &self.indices, filter.as_ref(), num_groups)?;
        }
        if self.reservation.try_resize(self.size()).is_err() {
            // As DataFusion's partial stage does: hand on what is grouped so far and start again;
            // the final stage merges the pieces. Fails only if even an empty table does not fit.
            if let Some(out) = self.emit()? {
                self.ready.push_back(out);
            }
            self.reservation.try_resize(self.size())?;
        }
        self.rows_seen += batch.num_rows();
        #[allow(clippy::cast_precision_loss)] // a ratio of counts: 52 bits are plenty
        // A ratio of 1 or more (DataFusion's way to turn this off) is never exceeded: there are
        // never more groups than rows.
        if self.rows_seen >= self.probe_rows
            && self.groups.len() as f64 / self.rows_seen as f64 > self.probe_ratio
        {
            self.skipping = true;
            if let Some(out) = self.emit()? {
                self.ready.push_back(out);
            }
        }
        Ok(())
    }

    /// The rows of `batch`, each as its own group's partial state.
    fn as_states(&self, batch: &RecordBatch) -> Result<RecordBatch> {
        let mut columns = vec![self.key.evaluate(batch)?.into_array(batch.num_rows())?];
        for (acc, input) in self.accumulators.iter().zip(&self.inputs) {
            let (values, filter) = input.evaluate(batch)?;
            columns.extend(acc.convert_to_state(&values, filter.as_ref())?);
        }
        Ok(RecordBatch::try_new(Arc::clone(&self.schema), columns)?)
    }

    /// Every group so far with its partial states, leaving the table empty.
    fn emit(&mut self) -> Result<Option<RecordBatch>> {
        if self.groups.len() == 0 {
            return Ok(None);
        }
        let mut columns = vec![self.groups.take()?];
        for acc in &mut self.accumulators {
            columns.extend(acc.state(EmitTo::All)?);
        }
        Ok(Some(RecordBatch::try_new(Arc::clone(&self.schema), columns)?))
    }

    fn size(&self) -> usize {
        self.groups.size()
            + self.accumulators.iter().map(|a| a.size()).sum::<usize>()
            + self.indices.capacity() * 8
    }
}

/// An aggregate's argument expressions and its `FILTER (WHERE …)`.
struct AggregateInput {
    arguments: Vec<Arc<dyn PhysicalExpr>>,
    filter: Option<Arc<dyn PhysicalExpr>>,
}

impl AggregateInput {
    /// The aggregate's arguments over `batch`, and which rows its filter keeps.
    fn evaluate(&self, batch: &RecordBatch) -> Result<(Vec<ArrayRef>, Option<BooleanArray>)> {
        let values = self
            .arguments
            .iter()
            .map(|e| e.evaluate(batch)?.into_array(batch.num_rows()))
            .collect::<Result<Vec<_>>>()?;
        let Some(filter) = &self.filter else {
            return Ok((values, None));
        };
        let mask = filter.evaluate(batch)?.into_array(batch.num_rows())?;
        let mask = mask.as_boolean_opt().cloned().ok_or_else(|| {
            internal_datafusion_err!("TextGroupByExec: an aggregate's FILTER is {}", mask.data_type())
        })?;
        Ok((values, Some(mask)))
    }
}

impl Stream for TextGroupByStream {
    type Item = Result<RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            if let Some(batch) = this.ready.pop_front() {
                return this.baseline.record_poll(Poll::Ready(Some(Ok(batch))));
            }
            if this.done {
                return Poll::Ready(None);
            }
            match this.input.poll_next_unpin(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(batch))) => {
                    let elapsed = this.baseline.elapsed_compute().clone();
                    let timer = elapsed.timer();
                    let consumed = this.consume(&batch);
                    timer.done();
                    if let Err(e) = consumed {
                        this.done = true;
                        return Poll::Ready(Some(Err(e)));
                    }
                }
                Poll::Ready(Some(Err(e))) => {
                    this.done = true;
                    return Poll::Ready(Some(Err(e)));
                }
                Poll::Ready(None) => {
                    this.done = true;
                    let elapsed = this.baseline.elapsed_compute().clone();
                    let timer = elapsed.timer();
                    let emitted = this.emit();
                    timer.done();
                    match emitted {
                        Ok(Some(batch)) => this.ready.push_back(batch),
                        Ok(None) => {}
                        Err(e) => return Poll::Ready(Some(Err(e))),
                    }
                    this.reservation.free();
                }
            }
        }
    }
}

impl RecordBatchStream for TextGroupByStream {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }
}

/// Slots of each location cache: a power of two. 4,096 slots of 24 bytes stay in the second-level
/// cache and leave collisions rare for dictionaries of up to a few thousand values.
const CACHE_BITS: u32 = 12;

/// A value kept in a buffer, by where it is: the buffer's id (never 0), the offset, the length.
#[derive(Debug, Clone, Copy, Default)]
struct Located {
    buffer: u64,
    offset: u32,
    len: u32,
    group: u32,
}

/// A value of up to twelve bytes, by its whole view (length and bytes). `group` is one more than
/// the group, 0 for an empty slot.
#[derive(Debug, Clone, Copy, Default)]
struct Inline {
    view: u128,
    group: u32,
}

/// The groups met so far: the table of text values, and the caches in front of it.
#[derive(Debug)]
struct TextGroups {
    /// Each value's group.
    table: HashMap<Box<[u8]>, u32>,
    /// The group of NULL, once met.
    null_group: Option<u32>,
    /// The number of groups.
    count: u32,
    /// The bytes of all the values in `table`.
    bytes: usize,
    located: Vec<Located>,
    inline: Vec<Inline>,
    /// The buffers of the last batch, with their ids: while a buffer is held here no other buffer
    /// can take its address, so a location in it still names the same bytes.
    held: Vec<(Buffer, u64)>,
    next_buffer: u64,
}

impl Default for TextGroups {
    fn default() -> Self {
        TextGroups {
            table: HashMap::default(),
            null_group: None,
            count: 0,
            bytes: 0,
            located: vec![Located::default(); 1 << CACHE_BITS],
            inline: vec![Inline::default(); 1 << CACHE_BITS],
            held: Vec::new(),
            next_buffer: 1,
        }
    }
}

impl TextGroups {
    fn len(&self) -> usize {
        self.count as usize
    }

    /// Writes the group of each row of `key` into `out`, making new groups as values are met.
    fn assign(&mut self, key: &StringViewArray, out: &mut Vec<usize>) {
        out.clear();
        out.reserve(key.len());
        let ids = self.buffer_ids(key.data_buffers());
        let buffers = key.data_buffers();
        let views = key.views();
        match key.nulls().filter(|n| n.null_count() > 0) {
            None => {
                for &view in views {
                    out.push(self.group_of(view, &ids, buffers) as usize);
                }
            }
            Some(nulls) => {
                for (i, &view) in views.iter().enumerate() {
                    let group = if nulls.is_valid(i) {
                        self.group_of(view, &ids, buffers)
                    } else {
                        self.null_group()
                    };
                    out.push(group as usize);
                }
            }
        }
    }

    /// An id for each buffer: the id it had in the last batch when it is the same buffer, a new
    /// one otherwise. The batch's buffers are then held until the next batch.
    fn buffer_ids(&mut self, buffers: &[Buffer]) -> Vec<u64> {
        let mut held: Vec<(Buffer, u64)> = Vec::with_capacity(buffers.len());
        let mut ids = Vec::with_capacity(buffers.len());
        for b in buffers {
            let same = |(h, _): &&(Buffer, u64)| h.as_ptr() == b.as_ptr() && h.len() == b.len();
            if let Some((_, id)) = held.iter().find(same) {
                ids.push(*id);
                continue;
            }
            let id = if let Some((_, id)) = self.held.iter().find(same) {
                *id
            } else {
                self.next_buffer += 1;
                self.next_buffer
            };
            held.push((b.clone(), id));
            ids.push(id);
        }
        self.held = held;
        ids
    }

    #[inline]
    fn group_of(&mut self, view: u128, ids: &[u64], buffers: &[Buffer]) -> u32 {
        let ByteView {
            length: len,
            buffer_index,
            offset,
            ..
        } = ByteView::from(view);
        if len <= 12 {
            let bytes = view.to_le_bytes();
            let (low, high) = bytes.split_at(8);
            let halves = |h: &[u8]| u64::from_le_bytes(h.try_into().unwrap_or_default());
            let slot = slot_of(halves(low) ^ halves(high));
            let cached = self.inline[slot];
            if cached.view == view && cached.group != 0 {
                return cached.group - 1;
            }
            let group = self.intern(&bytes[4..4 + len as usize]);
            self.inline[slot] = Inline {
                view,
                group: group + 1,
            };
            return group;
        }
        let index = buffer_index as usize;
        let buffer = ids[index];
        // The length is left out of the slot on purpose: a value and its prefix at one offset
        // share the slot, and the length check below tells them apart.
        let slot = slot_of(buffer ^ (u64::from(offset) << 32));
        let cached = self.located[slot];
        if cached.buffer == buffer && cached.offset == offset && cached.len == len {
            return cached.group;
        }
        let start = offset as usize;
        let group = self.intern(&buffers[index][start..start + len as usize]);
        self.located[slot] = Located {
            buffer,
            offset,
            len,
            group,
        };
        group
    }

    fn intern(&mut self, value: &[u8]) -> u32 {
        if let Some(&group) = self.table.get(value) {
            return group;
        }
        let group = self.count;
        self.count += 1;
        self.bytes += value.len();
        self.table.insert(value.into(), group);
        group
    }

    fn null_group(&mut self) -> u32 {
        *self.null_group.get_or_insert_with(|| {
            self.count += 1;
            self.count - 1
        })
    }

    /// The values of the groups in group order, leaving no group (and forgetting the caches, whose
    /// groups those were).
    fn take(&mut self) -> Result<ArrayRef> {
        let mut values: Vec<Option<&[u8]>> = vec![None; self.len()];
        for (value, &group) in &self.table {
            values[group as usize] = Some(value);
        }
        let mut out = StringViewBuilder::with_capacity(values.len());
        for value in values {
            match value {
                Some(v) => out.append_value(std::str::from_utf8(v).map_err(|e| {
                    internal_datafusion_err!("TextGroupByExec: a group key is not UTF-8: {e}")
                })?),
                None => out.append_null(),
            }
        }
        let array: ArrayRef = Arc::new(out.finish());
        self.table = HashMap::default();
        self.null_group = None;
        self.count = 0;
        self.bytes = 0;
        self.located.fill(Located::default());
        self.inline.fill(Inline::default());
        Ok(array)
    }

    fn size(&self) -> usize {
        self.table.capacity() * (size_of::<(Box<[u8]>, u32)>() + 1)
            + self.bytes
            + self.located.len() * size_of::<Located>()
            + self.inline.len() * size_of::<Inline>()
    }
}

#[inline]
fn slot_of(key: u64) -> usize {
    (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - CACHE_BITS)) as usize
}
