//! Grouping by one text column through `TextGroupByExec` (`src/query/text_groups.rs`): the same
//! answers as `DataFusion`'s own partial aggregation on the lake, and the right ones on string
//! views laid out to fool a cache by location — one offset read at two lengths, one value at
//! two places, a buffer freed and its address reused by other bytes — when it stops grouping, and
//! when the memory pool refuses it more.
//!
//! And comparisons of text with literals through `TextIn` (`src/query/text_in.rs`): the answers of
//! `DataFusion`'s own, on hand-made values and on the lake, with filters pushed into the decoder
//! and without.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, ByteView, Int64Array, RecordBatch, StringViewArray,
};
use datafusion::arrow::buffer::{Buffer, NullBuffer, ScalarBuffer};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::MemTable;
use datafusion::catalog::streaming::StreamingTable;
use datafusion::execution::TaskContext;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::PartitionStream;
use datafusion::physical_plan::{ExecutionPlan, SendableRecordBatchStream};
use datafusion::prelude::{SessionConfig, SessionContext};
use futures::StreamExt;
use irp::query::backend::local::{LocalEngine, Options};
use irp::query::rules::text_groups::TextGroupBy;
use irp::query::rules::text_in::TextComparisons;

use crate::query::{S3, rows, runtime, shared_lake};

/// A string view of `bytes`, stored at `offset` of buffer `buffer` when longer than twelve bytes.
fn view(bytes: &[u8], buffer: u32, offset: u32) -> u128 {
    if bytes.len() <= 12 {
        let mut inline = [0u8; 16];
        inline[..4].copy_from_slice(&(bytes.len() as u32).to_le_bytes());
        inline[4..4 + bytes.len()].copy_from_slice(bytes);
        return u128::from_le_bytes(inline);
    }
    ByteView {
        length: bytes.len() as u32,
        prefix: u32::from_le_bytes(bytes[..4].try_into().unwrap()),
        buffer_index: buffer,
        offset,
    }
    .as_u128()
}

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![Field::new("k", DataType::Utf8View, true)]))
}

/// A session with (or without) the text group-by rule, on `partitions` partitions.
fn session(with_rule: bool, config: SessionConfig, memory_limit: Option<usize>) -> SessionContext {
    let mut runtime = RuntimeEnvBuilder::new();
    if let Some(limit) = memory_limit {
        runtime = runtime.with_memory_limit(limit, 1.0);
    }
    let mut state = SessionStateBuilder::new()
        .with_config(config)
        .with_runtime_env(runtime.build_arc().unwrap())
        .with_default_features();
    if with_rule {
        state = state.with_physical_optimizer_rule(Arc::new(TextGroupBy));
    }
    SessionContext::new_with_state(state.build())
}

/// `key -> count` from a result with columns `k` and `n`.
fn counts(batches: &[RecordBatch]) -> BTreeMap<Option<String>, i64> {
    let mut out = BTreeMap::new();
    for b in batches {
        let k = b.column(0).as_string_view();
        let n = b.column(1).as_any().downcast_ref::<Int64Array>().unwrap();
        for i in 0..b.num_rows() {
            let key = k.is_valid(i).then(|| k.value(i).to_owned());
            *out.entry(key).or_insert(0) += n.value(i);
        }
    }
    out
}

/// The `TextGroupByExec` of a plan.
fn text_group_by(plan: &Arc<dyn ExecutionPlan>) -> Option<Arc<dyn ExecutionPlan>> {
    if plan.name() == "TextGroupByExec" {
        return Some(Arc::clone(plan));
    }
    plan.children().into_iter().find_map(text_group_by)
}

const GROUP_COUNT: &str = "SELECT k, count(*) AS n FROM t GROUP BY k";

/// One offset read at two lengths, one value stored at two places and inline, values of twelve
/// and thirteen bytes, the empty string, non-ASCII text and NULLs: each value is its own group,
/// counted once per row.
#[test]
fn groups_follow_the_values_not_where_they_are_stored() {
    runtime().block_on(async {
        let alice = "arn:aws:iam::111122223333:user/alice";
        let admin = "arn:aws:iam::111122223333:user/alice-admin";
        let accent = "arn:aws:iam::111122223333:user/zoë";
        let thirteen = "thirteen-byte";
        // Buffer 0 holds `admin` (so `alice` too, as its prefix) then the accented name; buffer 1
        // holds `alice` again; buffer 2 the thirteen bytes.
        let buffers = vec![
            Buffer::from(format!("{admin}{accent}").into_bytes()),
            Buffer::from(format!("xx{alice}").into_bytes()),
            Buffer::from(thirteen.as_bytes().to_vec()),
        ];
        let accent_at = admin.len() as u32;
        let rows: Vec<(u128, Option<&str>)> = vec![
            (view(alice.as_bytes(), 0, 0), Some(alice)),
            (view(admin.as_bytes(), 0, 0), Some(admin)),
            (view(alice.as_bytes(), 1, 2), Some(alice)),
            (view(accent.as_bytes(), 0, accent_at), Some(accent)),
            (view(b"twelve-bytes", 0, 0), Some("twelve-bytes")),
            (view(thirteen.as_bytes(), 2, 0), Some(thirteen)),
            (view(b"", 0, 0), Some("")),
            (0, None),
            (view(alice.as_bytes(), 0, 0), Some(alice)),
            (view(admin.as_bytes(), 0, 0), Some(admin)),
            (view(b"twelve-bytes", 0, 0), Some("twelve-bytes")),
            (0, None),
        ];
        let values: Vec<Option<&str>> = rows.iter().map(|(_, s)| *s).collect();
        let nulls = NullBuffer::from(values.iter().map(Option::is_some).collect::<Vec<_>>());
        let views: Vec<u128> = rows.iter().map(|(v, _)| *v).collect();
        let array = StringViewArray::try_new(ScalarBuffer::from(views), buffers, Some(nulls)).unwrap();
        let got: Vec<Option<&str>> = array.iter().collect();
        assert_eq!(got, values, "the fixture holds what it means to");
        let mut expected = BTreeMap::new();
        for v in &values {
            *expected.entry(v.map(str::to_owned)).or_insert(0i64) += 1;
        }
        // The same batch three times, in one partition and in two.
        let batch = RecordBatch::try_new(schema(), vec![Arc::new(array) as ArrayRef]).unwrap();
        let times3: BTreeMap<_, _> = expected.iter().map(|(k, n)| (k.clone(), n * 3)).collect();
        for partitions in [
            vec![vec![batch.clone(); 3]],
            vec![vec![batch.clone(); 2], vec![batch.clone()]],
        ] {
            for with_rule in [true, false] {
                let ctx = session(with_rule, SessionConfig::new().with_target_partitions(2), None);
                let table = MemTable::try_new(schema(), partitions.clone()).unwrap();
                ctx.register_table("t", Arc::new(table)).unwrap();
                let df = ctx.sql(GROUP_COUNT).await.unwrap();
                let plan = df.clone().create_physical_plan().await.unwrap();
                assert_eq!(text_group_by(&plan).is_some(), with_rule);
                assert_eq!(
                    counts(&df.collect().await.unwrap()),
                    times3,
                    "with the rule: {with_rule}"
                );
            }
        }
    });
}

/// A source that makes each batch when asked, so the buffer of a batch is freed once read and
/// the allocator may hand its address to a later batch holding other bytes.
#[derive(Debug)]
struct Fresh {
    schema: SchemaRef,
    batches: usize,
    rows: usize,
    /// The address of each batch's buffer, with the batch's number.
    addresses: Arc<Mutex<Vec<(usize, usize)>>>,
}

/// The value batch `i` holds in every row: 40 bytes, one of five.
fn fresh_value(i: usize) -> String {
    format!("{:->40}", format!("principal-{}", i % 5))
}

impl PartitionStream for Fresh {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let (schema, rows, addresses) = (Arc::clone(&self.schema), self.rows, Arc::clone(&self.addresses));
        let batches = (0..self.batches).map(move |i| {
            let buffer = Buffer::from(fresh_value(i).into_bytes());
            addresses.lock().unwrap().push((buffer.as_ptr() as usize, i));
            let views = vec![view(buffer.as_slice(), 0, 0); rows];
            let array = StringViewArray::try_new(ScalarBuffer::from(views), vec![buffer], None)?;
            Ok(RecordBatch::try_new(
                Arc::clone(&schema),
                vec![Arc::new(array) as ArrayRef],
            )?)
        });
        Box::pin(RecordBatchStreamAdapter::new(
            Arc::clone(&self.schema),
            futures::stream::iter(batches),
        ))
    }
}

#[test]
fn an_address_reused_by_other_bytes_is_not_taken_for_the_old_value() {
    // One thread, and the stage's partitions read one after the other straight from their
    // sources: each batch is made and freed on this thread with nothing queued in between. The
    // allocator hands a freed block out again once it has gone through the blocks of its size
    // it had free, hence thousands of small batches.
    let one_thread = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    one_thread.block_on(async {
        let (batches, rows) = (4000, 64);
        let addresses = Arc::new(Mutex::new(Vec::new()));
        let source = || {
            Arc::new(Fresh {
                schema: schema(),
                batches,
                rows,
                addresses: Arc::clone(&addresses),
            }) as Arc<dyn PartitionStream>
        };
        let ctx = session(true, SessionConfig::new().with_target_partitions(2), None);
        let table = StreamingTable::try_new(schema(), vec![source(), source()]).unwrap();
        ctx.register_table("t", Arc::new(table)).unwrap();
        let (_, got) = partial_sequentially(&ctx).await.unwrap();
        let mut expected = BTreeMap::new();
        for i in 0..batches {
            *expected.entry(Some(fresh_value(i))).or_insert(0i64) += 2 * i64::try_from(rows).unwrap();
        }
        assert_eq!(got, expected);
        // The premise: some address did come back with other bytes in it.
        let addresses = addresses.lock().unwrap();
        let mut values_at: std::collections::HashMap<usize, std::collections::HashSet<usize>> =
            std::collections::HashMap::new();
        for (address, i) in addresses.iter() {
            values_at.entry(*address).or_default().insert(i % 5);
        }
        let reused = values_at.values().any(|values| values.len() > 1);
        assert!(
            reused,
            "no buffer address was reused with another value, so this test proves nothing: {addresses:?}"
        );
    });
}

/// The counts of `distinct_values(values, …)`.
fn each_three_times(values: usize) -> BTreeMap<Option<String>, i64> {
    (0..values)
        .map(|i| (Some(format!("value-number-{i:08}")), 3))
        .collect()
}

/// Many distinct values, each three times, in batches of `rows`.
fn distinct_values(values: usize, rows: usize) -> Vec<RecordBatch> {
    let all: Vec<String> = (0..values * 3)
        .map(|i| format!("value-number-{:08}", i % values))
        .collect();
    all.chunks(rows)
        .map(|c| {
            let array = StringViewArray::from_iter_values(c.iter());
            RecordBatch::try_new(schema(), vec![Arc::new(array) as ArrayRef]).unwrap()
        })
        .collect()
}

/// Runs the `TextGroupByExec` of `GROUP_COUNT` alone over `batches`, dealt into two input
/// partitions that it reads one after the other (so each meets the memory pool alone), and
/// returns its output rows with the counts they add up to, or the error.
async fn partial_alone(
    ctx: &SessionContext,
    batches: Vec<RecordBatch>,
) -> datafusion::error::Result<(usize, BTreeMap<Option<String>, i64>)> {
    let (even, odd): (Vec<_>, Vec<_>) = batches.into_iter().enumerate().partition(|(i, _)| i % 2 == 0);
    let dealt = [even, odd].map(|p| p.into_iter().map(|(_, b)| b).collect::<Vec<_>>());
    let table = MemTable::try_new(schema(), dealt.to_vec()).unwrap();
    ctx.register_table("t", Arc::new(table)).unwrap();
    partial_sequentially(ctx).await
}

/// Runs the `TextGroupByExec` of `GROUP_COUNT` over table `t` alone, its partitions one after
/// the other, and returns its output rows with the counts they add up to, or the error.
async fn partial_sequentially(
    ctx: &SessionContext,
) -> datafusion::error::Result<(usize, BTreeMap<Option<String>, i64>)> {
    let plan = ctx.sql(GROUP_COUNT).await?.create_physical_plan().await?;
    let partial = text_group_by(&plan).expect("the rule applies");
    assert_eq!(
        partial.children()[0].properties().partitioning.partition_count(),
        2
    );
    let mut out = Vec::new();
    for partition in 0..2 {
        let mut stream = partial.execute(partition, ctx.task_ctx())?;
        while let Some(batch) = stream.next().await {
            out.push(batch?);
        }
    }
    Ok((out.iter().map(RecordBatch::num_rows).sum(), counts(&out)))
}

#[test]
fn grouping_stops_when_nearly_every_row_is_new_and_answers_stay() {
    runtime().block_on(async {
        let values = 20_000;
        let expected = each_three_times(values);
        let mut config = SessionConfig::new().with_target_partitions(2);
        config
            .options_mut()
            .execution
            .skip_partial_aggregation_probe_rows_threshold = 1000;
        config
            .options_mut()
            .execution
            .skip_partial_aggregation_probe_ratio_threshold = 0.5;
        // Every row of the first batch is new: the stage passes the rest on row by row.
        let ctx = session(true, config.clone(), None);
        let (out_rows, got) = partial_alone(&ctx, distinct_values(values, 4096)).await.unwrap();
        assert_eq!(got, expected);
        assert_eq!(out_rows, values * 3, "every row passed on as its own state");
        // The whole query still answers each value once.
        let ctx = session(true, config, None);
        let table = MemTable::try_new(schema(), vec![distinct_values(values, 4096)]).unwrap();
        ctx.register_table("t", Arc::new(table)).unwrap();
        let df = ctx.sql(GROUP_COUNT).await.unwrap();
        let batches = df.collect().await.unwrap();
        assert_eq!(batches.iter().map(RecordBatch::num_rows).sum::<usize>(), values);
        assert_eq!(counts(&batches), expected);
    });
}

#[test]
fn a_refusing_memory_pool_makes_the_stage_hand_on_early_or_fail_clearly() {
    runtime().block_on(async {
        let values = 20_000;
        let expected = each_three_times(values);
        let mut config = SessionConfig::new().with_target_partitions(2);
        // Never stop grouping: only the memory pool makes the stage emit.
        config
            .options_mut()
            .execution
            .skip_partial_aggregation_probe_ratio_threshold = 1.0;
        let ctx = session(true, config.clone(), None);
        let (roomy, got) = partial_alone(&ctx, distinct_values(values, 4096)).await.unwrap();
        assert_eq!(got, expected);
        let ctx = session(true, config.clone(), Some(600_000));
        let (tight, got) = partial_alone(&ctx, distinct_values(values, 4096)).await.unwrap();
        assert_eq!(got, expected);
        assert!(
            tight > roomy,
            "the stage handed on groups before the end ({tight} rows, {roomy} with room)"
        );
        // Less than an empty table needs: a clear error, no panic.
        let ctx = session(true, config, Some(64 << 10));
        let err = partial_alone(&ctx, distinct_values(values, 4096))
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("Resources exhausted") && err.contains("TextGroupByExec"),
            "{err}"
        );
    });
}

/// On the lake, against `DataFusion`'s own partial aggregation: principals (NULL for AWS services),
/// IP addresses (inline in the view), computed text, unnested fields, `DISTINCT`, aggregate
/// filters and `HAVING`. Shapes the stage does not take (two keys, `array_agg(DISTINCT …)`) keep
/// `DataFusion`'s; `count(DISTINCT …)` is planned as two aggregations, the outer of which it takes.
#[test]
fn the_lakes_groups_are_those_of_datafusions_own_aggregation() {
    runtime().block_on(async {
        let (dir, _) = shared_lake();
        let ours = LocalEngine::open(dir, Options::default()).await.unwrap();
        let theirs = LocalEngine::open(
            dir,
            Options {
                text_group_by: false,
                ..Options::default()
            },
        )
        .await
        .unwrap();
        for (sql, taken) in [
            (format!("SELECT actor.user.uid AS k, count(*) AS n, count_if(api.response.error IS NULL) AS ok, min(time_dt) AS first, max(src_endpoint.ip) AS ip, approx_distinct(src_endpoint.ip) AS ips FROM {S3} GROUP BY 1"), true),
            (format!("SELECT src_endpoint.ip AS k, count(*) AS n, array_agg(DISTINCT api.operation) AS ops FROM {S3} GROUP BY 1"), false),
            (format!("SELECT src_endpoint.ip AS k, count(*) AS n, sum(CASE WHEN api.operation = 'GetObject' THEN 1 ELSE 0 END) AS gets FROM {S3} GROUP BY 1 HAVING count(*) > 2"), true),
            (format!("SELECT lower(api.operation) AS k, count_if(actor.user.type = 'IAMUser') AS n FROM {S3} GROUP BY 1"), true),
            (format!("SELECT api.operation AS k, count(*) FILTER (WHERE actor.user.type = 'IAMUser') AS n, max(src_endpoint.ip) FILTER (WHERE status = 'Failure') AS ip FROM {S3} GROUP BY 1"), true),
            (format!("SELECT r.uid AS k, count(*) AS n FROM {S3} CROSS JOIN UNNEST(resources) AS u(r) GROUP BY 1"), true),
            (format!("SELECT DISTINCT actor.user.uid AS k FROM {S3} WHERE api.operation = 'GetObject'"), true),
            (format!("SELECT actor.user.uid AS k, src_endpoint.ip AS ip, count(*) AS n FROM {S3} GROUP BY 1, 2"), false),
            (format!("SELECT actor.user.uid AS k, count(DISTINCT src_endpoint.ip) AS n FROM {S3} GROUP BY 1"), true),
        ] {
            let sorted = |mut r: Vec<serde_json::Value>| {
                r.sort_by_key(ToString::to_string);
                r
            };
            let a = sorted(rows(&ours, &sql).await.unwrap());
            assert!(a.len() > 1, "{sql}: {a:?}");
            assert_eq!(a, sorted(rows(&theirs, &sql).await.unwrap()), "{sql}");
            let plan: String = rows(&ours, &format!("EXPLAIN {sql}"))
                .await
                .unwrap()
                .iter()
                .map(|r| r["plan"].as_str().unwrap_or_default().to_owned())
                .collect();
            assert_eq!(plan.contains("TextGroupByExec"), taken, "{sql}\n{plan}");
        }
    });
}

// Comparing text with literals through `TextIn` (`src/query/text_in.rs`).

/// A session with (or without) the text comparison rule.
fn comparing(with_rule: bool) -> SessionContext {
    let mut state = SessionStateBuilder::new()
        .with_config(SessionConfig::new().with_target_partitions(2))
        .with_default_features();
    if with_rule {
        state = state.with_physical_optimizer_rule(Arc::new(TextComparisons));
    }
    SessionContext::new_with_state(state.build())
}

/// Values one length and prefix apart, a value at two places in a batch, more long values of one
/// length and prefix than the table of views already compared has slots, NULLs, the empty
/// string, twelve and thirteen bytes, quotes: every comparison answers as `DataFusion`'s own.
#[test]
fn text_comparisons_answer_as_datafusions_own() {
    runtime().block_on(async {
        let alice = "arn:aws:iam::111122223333:user/alice";
        let twin = "arn:aws:iam::111122223333:user/alicf";
        let mut values: Vec<Option<String>> = vec![
            Some(alice.into()),
            Some(twin.into()),
            None,
            Some(String::new()),
            Some("twelve-bytes".into()),
            Some("thirteen-byte".into()),
            Some("it's".into()),
            Some("GetObject".into()),
            Some("GetObjectX".into()),
        ];
        // 600 distinct values of one length and one prefix, each twice: the 256-slot table
        // of compared views collides and must recompute, not misremember.
        for i in 0..600 {
            let v = format!("arn:aws:iam::111122223333:user/u{i:04}");
            values.push(Some(v.clone()));
            values.push(Some(v));
        }
        let array = StringViewArray::from(values.iter().map(Option::as_deref).collect::<Vec<_>>());
        // The same value at two places: `alice` again from a second buffer.
        let batch = RecordBatch::try_new(schema(), vec![Arc::new(array) as ArrayRef]).unwrap();
        let again = RecordBatch::try_new(
            schema(),
            vec![Arc::new(StringViewArray::from(vec![Some(alice), None, Some("GetObject")])) as ArrayRef],
        )
        .unwrap();
        let conditions = [
            format!("k = '{alice}'"),
            format!("k <> '{alice}'"),
            format!("'{twin}' = k"),
            "k = 'arn:aws:iam::111122223333:user/u0417'".to_owned(),
            "k = ''".to_owned(),
            "k = 'twelve-bytes'".to_owned(),
            "k = 'thirteen-byte'".to_owned(),
            "k = 'it''s'".to_owned(),
            "k = 'GetObject'".to_owned(),
            "k IN ('GetObject', 'twelve-bytes', 'thirteen-byte', 'arn:aws:iam::111122223333:user/u0001')"
                .to_owned(),
            format!("k NOT IN ('GetObject', '{alice}', '', 'nothing-like-it-at-all')"),
            "k IN ('a', 'b', 'c') OR k = 'GetObjectX'".to_owned(),
        ];
        for condition in conditions {
            let sql = format!("SELECT k, count(*) AS n FROM t WHERE {condition} GROUP BY k");
            let mut answers = Vec::new();
            for with_rule in [true, false] {
                let ctx = comparing(with_rule);
                let table =
                    MemTable::try_new(schema(), vec![vec![batch.clone()], vec![again.clone()]]).unwrap();
                ctx.register_table("t", Arc::new(table)).unwrap();
                let df = ctx.sql(&sql).await.unwrap();
                let plan = datafusion::physical_plan::displayable(
                    df.clone().create_physical_plan().await.unwrap().as_ref(),
                )
                .indent(true)
                .to_string();
                assert_eq!(plan.contains("irp_text_in("), with_rule, "{sql}\n{plan}");
                answers.push(counts(&df.collect().await.unwrap()));
            }
            assert!(!answers[0].is_empty(), "{condition}");
            assert_eq!(answers[0], answers[1], "{condition}");
        }
    });
}

/// On the lake, with filters pushed into the decoder and without: principals (NULL for AWS
/// services), operations, IN lists long and short, negations.
#[test]
fn the_lakes_text_comparisons_answer_as_datafusions_own() {
    runtime().block_on(async {
        let (dir, _) = shared_lake();
        let engine = async |text_comparisons: bool, pushdown_filters: bool| {
            LocalEngine::open(
                dir,
                Options {
                    text_comparisons,
                    pushdown_filters,
                    ..Options::default()
                },
            )
            .await
            .unwrap()
        };
        let theirs = engine(false, false).await;
        let ours = [engine(true, true).await, engine(true, false).await];
        let principal: String = rows(&theirs, &format!("SELECT max(actor.user.uid) AS p FROM {S3}"))
            .await
            .unwrap()[0]["p"]
            .as_str()
            .unwrap()
            .to_owned();
        for condition in [
            format!("actor.user.uid = '{principal}'"),
            format!("actor.user.uid <> '{principal}'"),
            "api.operation = 'GetObject'".to_owned(),
            "api.operation IN ('PutObject', 'DeleteObject', 'HeadObject', 'ListObjects')".to_owned(),
            format!("api.operation NOT IN ('GetObject', 'HeadObject', 'PutObject') AND actor.user.uid <> '{principal}'"),
            format!("actor.user.uid IN ('{principal}', 'arn:aws:iam::111122223333:user/nobody', 'x')"),
        ] {
            for sql in [
                format!("SELECT api.operation AS op, actor.user.uid AS who, count(*) AS n FROM {S3} WHERE {condition} GROUP BY 1, 2 ORDER BY 1, 2"),
                format!("SELECT time_dt, api.request.data AS request FROM {S3} WHERE {condition} ORDER BY 1, 2 LIMIT 50"),
            ] {
                let expected = rows(&theirs, &sql).await.unwrap();
                assert!(!expected.is_empty(), "{sql}");
                for engine in &ours {
                    assert_eq!(rows(engine, &sql).await.unwrap(), expected, "{sql}");
                    let plan: String = rows(engine, &format!("EXPLAIN {sql}"))
                        .await
                        .unwrap()
                        .iter()
                        .map(|r| r["plan"].as_str().unwrap_or_default().to_owned())
                        .collect();
                    assert!(plan.contains("irp_text_in("), "{sql}\n{plan}");
                }
            }
        }
    });
}
