//! Athena's dialect on the embedded engine, item by item (docs/sql-dialect.md): UNNEST in all its
//! forms, Athena's column names, Trino's date functions, lambdas, contains, TRY and the
//! aggregates playbooks use. Expected values come from Trino's documented semantics, computed by
//! hand on inline arrays, or checked against a second way of asking the lake.

use chrono::TimeZone;
use irp::query::backend::local::{LocalEngine, Options};
use irp::query::dialect::ip::Cidr;
use irp::query::dialect::json_path::scalar_at;
use irp::query::dialect::trino::{extract_scalar, parse_path, walk};
use irp::query::dialect::trino_time::{months_between, mysql_to_chrono, parse_mysql};
use serde_json::{Value, json};

use crate::query::{DB, S3, rows, runtime, shared_lake};

async fn engine() -> LocalEngine {
    let (dir, _) = shared_lake();
    LocalEngine::open(dir, Options::default()).await.unwrap()
}

async fn one(engine: &LocalEngine, sql: &str) -> Value {
    let r = rows(engine, sql).await.unwrap_or_else(|e| panic!("{sql}\n{e}"));
    assert_eq!(r.len(), 1, "{sql}: {r:?}");
    r.into_iter().next().unwrap()
}

async fn error(engine: &LocalEngine, sql: &str) -> String {
    match rows(engine, sql).await {
        Ok(r) => panic!("{sql} should fail, gave {r:?}"),
        Err(e) => e.to_string(),
    }
}

/// `EXPLAIN` plans the statement it wraps after the same translation, UNNEST included.
#[test]
fn explain_shows_the_plan_of_a_translated_query() {
    runtime().block_on(async {
        let e = engine().await;
        for sql in [
            format!("EXPLAIN SELECT r.uid FROM {S3} CROSS JOIN UNNEST(resources) AS u(r) WHERE actor.user.uid = 'x'"),
            format!("EXPLAIN ANALYZE SELECT count(*) FROM {S3}, UNNEST(resources) AS u(r)"),
        ] {
            let plan = rows(&e, &sql).await.unwrap_or_else(|err| panic!("{sql}\n{err}"));
            let text = plan
                .iter()
                .map(|r| r["plan"].as_str().unwrap_or_default())
                .collect::<String>();
            assert!(text.contains("Unnest"), "{sql}: {text}");
        }
    });
}

#[test]
fn unnest_in_every_form_athena_writes() {
    runtime().block_on(async {
        let e = engine().await;
        // The number of resources, asked without UNNEST.
        let total = one(&e, &format!("SELECT sum(cardinality(resources)) AS n FROM {S3}")).await["n"].clone();
        assert!(total.as_u64().unwrap() > 1000);
        for sql in [
            format!("SELECT count(*) AS n FROM {S3} t CROSS JOIN UNNEST(t.resources) AS u(r)"),
            format!("SELECT count(*) AS n FROM {S3} t, UNNEST(resources) AS u(r)"),
            // Security Lake's public queries reuse the table's alias for the UNNEST.
            format!("SELECT count(*) AS n FROM {S3} AS t, UNNEST(t.resources) AS t(r)"),
            format!("SELECT count(*) AS n FROM {S3} t JOIN UNNEST(resources) AS u(r) ON TRUE"),
            format!("SELECT count(*) AS n FROM {S3} CROSS JOIN UNNEST(resources) AS u(r)"),
            // As AWS's Security Lake examples write it: the database and table quoted, no alias,
            // the table's own name as qualifier.
            format!("SELECT count(*) AS n FROM \"{DB}\".\"{S3}\" CROSS JOIN UNNEST(resources) AS u(r)"),
            format!("SELECT count({S3}.api.operation) AS n FROM {DB}.{S3} CROSS JOIN UNNEST({S3}.resources) AS u(r)"),
        ] {
            assert_eq!(one(&e, &sql).await["n"], total, "{sql}");
        }
        // Fields of the unnested row, bare or qualified by the UNNEST's alias, in every clause.
        let buckets = one(
            &e,
            &format!(
                "SELECT count(*) AS n FROM {S3} t CROSS JOIN UNNEST(t.resources) AS u(r) \
                 WHERE u.r.type = 'AWS::S3::Bucket' AND r.uid LIKE 'arn:aws:s3:::%'"
            ),
        )
        .await;
        let by_any = one(
            &e,
            &format!("SELECT count(*) AS n FROM {S3} WHERE any_match(resources, x -> x.type = 'AWS::S3::Bucket')"),
        )
        .await;
        assert_eq!(buckets["n"], by_any["n"], "each event names its bucket once");
        let top = rows(
            &e,
            &format!(
                "SELECT r.uid, count(*) AS n FROM {S3} t CROSS JOIN UNNEST(t.resources) AS u(r) \
                 WHERE r.type = 'AWS::S3::Bucket' GROUP BY 1 ORDER BY u.r.uid LIMIT 3"
            ),
        )
        .await
        .unwrap();
        assert_eq!(top.len(), 3);
        assert!(top[0]["uid"].as_str().unwrap() < top[1]["uid"].as_str().unwrap(), "{top:?}");
        // Trino's expansion of an array of rows into one column per field, in field order.
        let expanded = rows(
            &e,
            &format!(
                "SELECT DISTINCT uid FROM {S3} t CROSS JOIN UNNEST(resources) AS u(uid, owner, kind) \
                 WHERE kind = 'AWS::S3::Bucket' ORDER BY uid LIMIT 3"
            ),
        )
        .await
        .unwrap();
        assert_eq!(
            expanded.iter().map(|r| r["uid"].clone()).collect::<Vec<_>>(),
            top.iter().map(|r| r["uid"].clone()).collect::<Vec<_>>()
        );
        // Inline arrays: NULL and empty arrays give no rows; several arrays are zipped and the
        // shorter padded with NULL; WITH ORDINALITY counts from 1.
        let r = rows(
            &e,
            "SELECT id, x, y, n FROM (VALUES (1, ARRAY[10, 20, 30], ARRAY['a']), (2, ARRAY[], ARRAY[]), \
             (3, NULL, NULL)) AS v(id, xs, ys) CROSS JOIN UNNEST(xs, ys) WITH ORDINALITY AS u(x, y, n) ORDER BY n",
        )
        .await
        .unwrap();
        assert_eq!(
            r,
            vec![
                json!({"id": 1, "x": 10, "y": "a", "n": 1}),
                json!({"id": 1, "x": 20, "n": 2}),
                json!({"id": 1, "x": 30, "n": 3}),
            ]
        );
        let r = one(&e, "SELECT sum(x) AS s FROM UNNEST(ARRAY[1, 2, 3]) AS u(x)").await;
        assert_eq!(r["s"], 6);
        // An UNNEST of an UNNEST's column.
        let r = one(
            &e,
            "SELECT count(*) AS n FROM (VALUES (ARRAY[ARRAY[1, 2], ARRAY[3]])) AS v(xss) \
             CROSS JOIN UNNEST(xss) AS a(xs) CROSS JOIN UNNEST(xs) AS b(x)",
        )
        .await;
        assert_eq!(r["n"], 3);
        // A hostile literal in an UNNEST stays a literal.
        let r = one(&e, "SELECT x FROM UNNEST(ARRAY['x''); DROP TABLE t; --']) AS u(x)").await;
        assert_eq!(r["x"], "x'); DROP TABLE t; --");
        // What does not run says what and where.
        let err = error(&e, &format!("SELECT count(*) FROM {S3} t LEFT JOIN UNNEST(resources) AS u(r) ON TRUE")).await;
        assert!(err.contains("LEFT JOIN UNNEST is not supported") && err.contains("line 1, column"), "{err}");
        let err = error(&e, &format!("SELECT count(*) FROM {S3} t CROSS JOIN UNNEST(resources) AS u")).await;
        assert!(err.contains("name the columns UNNEST gives"), "{err}");
        let err = error(&e, "SELECT a FROM UNNEST(ARRAY[1, 2]) AS u(a, b)").await;
        assert!(err.contains("names 2 columns, but the array's elements are Int64, not rows"), "{err}");
        // The rewrite's own function, called by hand with an impossible field, is an error.
        let err = error(&e, "SELECT irp_row_field(named_struct('a', 1), 0, 1, 'x')").await;
        assert!(err.contains("internal to the UNNEST rewrite"), "{err}");
        let err = error(&e, &format!("SELECT count(*) FROM {S3} t CROSS JOIN UNNEST(resources) AS u(a, b)")).await;
        assert!(err.contains("have 3 fields (uid, owner, type)") && err.contains("line 1, column"), "{err}");
        let err = error(
            &e,
            &format!("SELECT count(*) FROM {S3} a JOIN {S3} b ON a.metadata.uid = b.metadata.uid CROSS JOIN UNNEST(b.resources) AS u(r)"),
        )
        .await;
        assert!(err.contains("unnests only right after a single table"), "{err}");
    });
}

#[test]
fn unnamed_columns_are_named_as_athena_names_them() {
    runtime().block_on(async {
        let e = engine().await;
        let r = rows(
            &e,
            &format!(
                "SELECT t.api.operation, actor.user.uid, count(*), eventday FROM {S3} t \
                 GROUP BY 1, 2, 4 ORDER BY 3 DESC, 1 LIMIT 1"
            ),
        )
        .await
        .unwrap();
        let mut keys: Vec<&String> = r[0].as_object().unwrap().keys().collect();
        keys.sort();
        assert_eq!(keys, ["_col2", "eventday", "operation", "uid"], "{r:?}");
        // The validator reads the same names off the SQL alone (record captures are checked
        // against them), for plain, aliased, quoted and unioned selects too.
        for (sql, want) in [
            (
                format!("SELECT t.api.operation, actor.user.uid, count(*), eventday FROM {S3} t GROUP BY 1, 2, 4"),
                vec!["operation", "uid", "_col2", "eventday"],
            ),
            (
                format!("SELECT api.operation AS Op, \"CaseKept\", Eventday FROM (SELECT api, 1 AS \"CaseKept\", eventday FROM {S3}) x"),
                vec!["op", "CaseKept", "eventday"],
            ),
            (
                format!("SELECT eventday AS d FROM {S3} UNION ALL SELECT eventday AS e FROM {S3}"),
                vec!["d"],
            ),
        ] {
            let predicted = irp::playbook::sql::result_columns(&sql).expect("the columns are known");
            assert_eq!(predicted, want, "{sql}");
            let r = rows(&e, &format!("{sql} LIMIT 1")).await.unwrap();
            let got: Vec<&String> = r[0].as_object().unwrap().keys().collect();
            assert_eq!(got, want, "the engine names the columns as predicted: {sql}");
        }
        assert_eq!(irp::playbook::sql::result_columns(&format!("SELECT * FROM {S3}")), None);
        // ORDER BY a nested field of a DISTINCT select.
        let r = rows(
            &e,
            &format!("SELECT DISTINCT t.api.operation FROM {S3} t ORDER BY t.api.operation"),
        )
        .await
        .unwrap();
        let ops: Vec<&str> = r.iter().map(|x| x["operation"].as_str().unwrap()).collect();
        let mut sorted = ops.clone();
        sorted.sort_unstable();
        assert_eq!(ops, sorted);
        assert!(ops.contains(&"GetObject"));
    });
}

#[test]
fn date_and_time_functions_follow_trino() {
    runtime().block_on(async {
        let e = engine().await;
        let r = one(
            &e,
            "SELECT date_format(TIMESTAMP '2026-11-27 09:05:07', '%Y-%m-%d %H:%i:%s') AS a, \
             date_format(TIMESTAMP '2026-11-27 09:05:07', '%Y%m%d') AS b, \
             date_format(TIMESTAMP '2026-11-27 21:05:07', '%e %b %Y %l:%i %p %W %j') AS c, \
             CAST(date_parse('2026-11-27 09:05:07', '%Y-%m-%d %H:%i:%s') AS VARCHAR) AS d, \
             CAST(date_parse('20261127', '%Y%m%d') AS VARCHAR) AS e, \
             to_iso8601(TIMESTAMP '2026-11-27 09:05:07') AS f, \
             to_iso8601(from_iso8601_timestamp('2026-11-27T09:05:07.250Z')) AS g, \
             to_iso8601(DATE '2026-11-27') AS h, \
             date_diff('second', TIMESTAMP '2026-11-27 00:00:00', TIMESTAMP '2026-11-27 01:00:01') AS i, \
             date_diff('day', TIMESTAMP '2026-11-27 12:00:00', TIMESTAMP '2026-11-20 13:00:00') AS j, \
             date_diff('month', TIMESTAMP '2026-01-31 00:00:00', TIMESTAMP '2026-02-28 00:00:00') AS k, \
             date_diff('year', TIMESTAMP '2024-02-29 00:00:00', TIMESTAMP '2026-02-28 00:00:00') AS l, \
             CAST(date_trunc('hour', TIMESTAMP '2026-11-27 09:05:07') AS VARCHAR) AS m, \
             CAST(from_unixtime(1764234307) AS VARCHAR) AS n, \
             to_unixtime(TIMESTAMP '2026-11-27 09:05:07') AS o",
        )
        .await;
        assert_eq!(r["a"], "2026-11-27 09:05:07", "%i is minutes and %s seconds, not the epoch");
        assert_eq!(r["b"], "20261127");
        assert_eq!(r["c"], "27 Nov 2026 9:05 PM Friday 331");
        assert_eq!(r["d"], "2026-11-27T09:05:07");
        assert_eq!(r["e"], "2026-11-27T00:00:00");
        assert_eq!(r["f"], "2026-11-27T09:05:07.000");
        assert_eq!(r["g"], "2026-11-27T09:05:07.250Z");
        assert_eq!(r["h"], "2026-11-27");
        assert_eq!(r["i"], 3601);
        assert_eq!(r["j"], -6, "truncated toward zero");
        assert_eq!(r["k"], 1);
        assert_eq!(r["l"], 2, "Joda's count, which Trino uses: Feb 29 + 2 years is Feb 28");
        assert_eq!(r["m"], "2026-11-27T09:00:00");
        assert_eq!(r["n"], "2025-11-27T09:05:07");
        assert_eq!(r["o"].as_f64(), Some(1_795_770_307.0), "one year after from_unixtime's value above");
        // The lake's day partitions, named the way Athena queries name them.
        let by_format = one(
            &e,
            &format!("SELECT count(*) AS n FROM {S3} WHERE eventday = date_format(TIMESTAMP '2026-11-26 12:00:00', '%Y%m%d')"),
        )
        .await;
        let by_parse = one(
            &e,
            &format!(
                "SELECT count(*) AS n FROM {S3} WHERE time_dt >= date_parse('20261126', '%Y%m%d') \
                 AND time_dt < date_parse('20261127', '%Y%m%d')"
            ),
        )
        .await;
        assert_eq!(by_format["n"], by_parse["n"]);
        assert!(by_format["n"].as_u64().unwrap() > 0);
        // date_trunc over the lake's UTC column (integer arithmetic on the stored values) agrees
        // with the day partitions and the clock, and keeps the zone.
        let r = one(
            &e,
            &format!(
                "SELECT count_if(date_format(date_trunc('day', time_dt), '%Y%m%d') <> eventday) AS wrong_day, \
                 count_if(date_format(date_trunc('hour', time_dt), '%i:%s') <> '00:00') AS wrong_hour, \
                 count_if(date_trunc('minute', time_dt) > time_dt OR date_diff('second', date_trunc('minute', time_dt), time_dt) >= 60) AS wrong_minute, \
                 count_if(date_trunc('second', time_dt) > time_dt) AS wrong_second, \
                 max(to_iso8601(date_trunc('hour', time_dt))) AS last_hour, count(*) AS n FROM {S3}"
            ),
        )
        .await;
        assert_eq!((&r["wrong_day"], &r["wrong_hour"], &r["wrong_minute"], &r["wrong_second"]), (&json!(0), &json!(0), &json!(0), &json!(0)), "{r}");
        assert!(r["last_hour"].as_str().unwrap().ends_with(":00:00.000Z"), "{r}");
        let recent = one(&e, &format!("SELECT count(*) AS n FROM {S3} WHERE time_dt > CURRENT_TIMESTAMP - INTERVAL '3650' DAY")).await;
        assert!(recent["n"].as_u64().unwrap() > 0);
        let err = error(&e, "SELECT date_parse('27/11', '%Y-%m-%d')").await;
        assert!(err.contains("`27/11` does not match the format `%Y-%m-%d`"), "{err}");
        let err = error(&e, "SELECT date_format(TIMESTAMP '2026-11-27 09:05:07', '%U')").await;
        assert!(err.contains("not supported by Trino either"), "{err}");
        // Instants further apart than 292 years in nanoseconds still give the difference.
        let r = one(
            &e,
            "SELECT date_diff('millisecond', TIMESTAMP '1700-01-01 00:00:00', TIMESTAMP '2250-01-01 00:00:00') AS ms",
        )
        .await;
        assert_eq!(r["ms"], 17_356_291_200_000_i64);
        let err = error(&e, "SELECT date_diff('fortnight', TIMESTAMP '2026-11-27 09:05:07', TIMESTAMP '2026-11-27 09:05:07')").await;
        assert!(err.contains("`fortnight` is not a unit"), "{err}");
    });
}

#[test]
fn lambdas_follow_trino() {
    runtime().block_on(async {
        let e = engine().await;
        let r = one(
            &e,
            "SELECT any_match(ARRAY[1, 2, 3], x -> x > 2) AS a, any_match(ARRAY[1, NULL], x -> x > 2) AS b, \
             any_match(ARRAY[], x -> x > 2) AS c, all_match(ARRAY[3, 4], x -> x > 2) AS d, \
             all_match(ARRAY[3, NULL], x -> x > 2) AS e, none_match(ARRAY[1, 2], x -> x > 2) AS f, \
             none_match(ARRAY[1, 3], x -> x > 2) AS g, filter(ARRAY[1, 2, 3, NULL], x -> x >= 2) AS h, \
             transform(ARRAY['a', 'b'], s -> upper(s)) AS i, any_match(NULL, x -> x > 1) AS j",
        )
        .await;
        assert_eq!(r["a"], true);
        assert_eq!(r.get("b"), None, "no match and a NULL is NULL, as in Trino");
        assert_eq!(r["c"], false);
        assert_eq!(r["d"], true);
        assert_eq!(r.get("e"), None);
        assert_eq!(r["f"], true);
        assert_eq!(r["g"], false);
        assert_eq!(r["h"], json!([2, 3]));
        assert_eq!(r["i"], json!(["A", "B"]));
        assert_eq!(r.get("j"), None);
        // Over the lake's arrays of rows, as playbooks write them.
        let by_lambda = one(
            &e,
            &format!("SELECT count(*) AS n FROM {S3} WHERE any_match(resources, r -> r.uid LIKE '%acme-customer-exports%')"),
        )
        .await;
        let by_unnest = one(
            &e,
            &format!(
                "SELECT count(DISTINCT metadata.uid) AS n FROM {S3} t CROSS JOIN UNNEST(resources) AS u(r) \
                 WHERE r.uid LIKE '%acme-customer-exports%'"
            ),
        )
        .await;
        assert_eq!(by_lambda["n"], by_unnest["n"]);
        assert!(by_lambda["n"].as_u64().unwrap() > 1000, "the exfiltration touches the bucket");
        let r = one(&e, &format!("SELECT transform(resources, r -> r.type) AS t FROM {S3} WHERE api.operation = 'GetObject' LIMIT 1")).await;
        assert_eq!(r["t"], json!(["AWS::S3::Object", "AWS::S3::Bucket"]));
        // A lambda that reads outside its parameter, and a lambda form that does not run.
        let err = error(&e, &format!("SELECT any_match(resources, r -> r.uid = api.operation) FROM {S3}")).await;
        assert!(err.contains("a lambda reads only its parameter"), "{err}");
        let err = error(&e, "SELECT filter(ARRAY[1, 2], x -> x + 1)").await;
        assert!(err.contains("the lambda of filter must be a condition"), "{err}");
        let err = error(&e, "SELECT reduce(ARRAY[1, 2], 0, (s, x) -> s + x, s -> s)").await;
        assert!(err.contains("`reduce(") && err.contains("lambdas run in any_match") && err.contains("line 1, column 8"), "{err}");
    });
}

#[test]
fn contains_tests_arrays_and_networks() {
    runtime().block_on(async {
        let e = engine().await;
        let r = one(
            &e,
            "SELECT contains(ARRAY['a', 'b'], 'b') AS a, contains(ARRAY['a', 'b'], 'c') AS b, \
             contains('10.0.0.0/8', CAST('10.1.2.3' AS IPADDRESS)) AS c, \
             contains('10.0.0.0/8', CAST('11.1.2.3' AS IPADDRESS)) AS d, \
             contains('2001:db8::/32', CAST('2001:db8::1' AS IPADDRESS)) AS e, \
             contains('10.0.0.0/8', TRY(CAST('s3.amazonaws.com' AS IPADDRESS))) AS f, \
             TRY(contains('10.0.0.0/8', CAST('s3.amazonaws.com' AS IPADDRESS))) AS g",
        )
        .await;
        assert_eq!(
            (&r["a"], &r["b"], &r["c"], &r["d"], &r["e"]),
            (
                &json!(true),
                &json!(false),
                &json!(true),
                &json!(false),
                &json!(true)
            )
        );
        assert_eq!(
            r.get("f"),
            None,
            "TRY turns a value that is not an address into NULL"
        );
        assert_eq!(r.get("g"), None);
        let (_, truth) = shared_lake();
        let inc = truth.incident_details.clone().unwrap();
        let ip = &inc.ips[0];
        let net = format!("{}.0/24", ip.rsplit_once('.').unwrap().0);
        let by_cidr = one(
            &e,
            &format!(
                "SELECT count(*) AS n FROM {S3} WHERE contains('{net}', CAST(src_endpoint.ip AS IPADDRESS))"
            ),
        )
        .await;
        let by_prefix = one(
            &e,
            &format!(
                "SELECT count(*) AS n FROM {S3} WHERE src_endpoint.ip LIKE '{}.%'",
                ip.rsplit_once('.').unwrap().0
            ),
        )
        .await;
        assert_eq!(by_cidr["n"], by_prefix["n"]);
        let err = error(
            &e,
            "SELECT contains('10.0.0.0/8', CAST('not an ip' AS IPADDRESS))",
        )
        .await;
        assert!(
            err.contains("Cannot cast value to IPADDRESS: `not an ip`") && err.contains("TRY"),
            "{err}"
        );
        let err = error(&e, "SELECT CAST('10.0.0.1' AS IPADDRESS)").await;
        assert!(
            err.contains("IPADDRESS runs on the embedded engine only inside contains")
                && err.contains("line 1, column"),
            "{err}"
        );
    });
}

#[test]
fn try_gives_null_where_trino_does() {
    runtime().block_on(async {
        let e = engine().await;
        let r = one(
            &e,
            "SELECT TRY(CAST('x' AS INTEGER)) AS a, TRY(CAST('7' AS INTEGER)) AS b, TRY(1 / 0) AS c, TRY(7 / 2) AS d, \
             TRY(date_parse('nope', '%Y-%m-%d')) AS e, TRY(from_iso8601_timestamp('nope')) AS f, \
             try_cast('x' AS INTEGER) AS g",
        )
        .await;
        assert_eq!(r.get("a"), None);
        assert_eq!(r["b"], 7);
        assert_eq!(r.get("c"), None);
        assert_eq!(r["d"], 3);
        assert_eq!(r.get("e"), None);
        assert_eq!(r.get("f"), None);
        assert_eq!(r.get("g"), None);
        // Without TRY the same values fail the query, as in Trino.
        let err = error(&e, "SELECT from_iso8601_timestamp('nope')").await;
        assert!(err.contains("is not an ISO 8601 timestamp"), "{err}");
    });
}

#[test]
fn aggregates_and_string_functions_playbooks_use() {
    runtime().block_on(async {
        let e = engine().await;
        let r = one(
            &e,
            &format!(
                "SELECT arbitrary(api.operation) AS any_op, array_agg(DISTINCT api.operation ORDER BY api.operation) AS ops, \
                 approx_distinct(src_endpoint.ip) AS ips, count(DISTINCT src_endpoint.ip) AS exact_ips, \
                 count_if(cardinality(resources) = 2) AS two FROM {S3}"
            ),
        )
        .await;
        let ops: Vec<&str> = r["ops"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
        let mut sorted = ops.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(ops, sorted, "distinct and ordered");
        assert!(ops.contains(&r["any_op"].as_str().unwrap()));
        let (approx, exact) = (r["ips"].as_f64().unwrap(), r["exact_ips"].as_f64().unwrap());
        assert!((approx - exact).abs() <= exact * 0.05, "{approx} vs {exact}");
        assert!(r["two"].as_u64().unwrap() > 0);
        let r = one(
            &e,
            "SELECT split_part('arn:aws:iam::111122223333:user/alice', ':', 5) AS a, split_part('a:b', ':', 9) AS b, \
             regexp_like('aws-cli/2.13.25', '^aws-cli/') AS c, regexp_like('Boto3/1.28', 'aws-cli') AS d",
        )
        .await;
        assert_eq!(r["a"], "111122223333");
        assert_eq!(r.get("b"), None, "past the last part is NULL in Trino (DataFusion's own gives '')");
        assert_eq!(r["c"], true);
        assert_eq!(r["d"], false);
        let err = error(&e, "SELECT split_part('a:b', ':', 0)").await;
        assert!(err.contains("index must be greater than zero"), "{err}");
    });
}

#[test]
fn json_comparisons_keep_their_answers_behind_the_substring_prefilter() {
    runtime().block_on(async {
        let e = engine().await;
        // The rewrite puts a substring test in front of `json_extract_scalar(…) = 'v'`. A value
        // spelled with escapes must still match, and a value only elsewhere in the text must not.
        let r = one(
            &e,
            r#"SELECT json_extract_scalar('{"b":"\u0061cme"}', '$.b') = 'acme' AS escaped,
                      json_extract_scalar('{"b":"x","c":"acme"}', '$.b') = 'acme' AS elsewhere,
                      json_extract_scalar('{"b":"acme"}', '$.b') = 'acme' AS plain,
                      'acme' = json_extract_scalar('{"b":"acme"}', '$.b') AS flipped,
                      json_extract_scalar('{"n":5}', '$.n') = '5' AS number"#,
        )
        .await;
        assert_eq!(
            (&r["escaped"], &r["elsewhere"], &r["plain"], &r["flipped"], &r["number"]),
            (&json!(true), &json!(false), &json!(true), &json!(true), &json!(true)),
            "{r}"
        );
        // On the lake: the bucket filter counts what a full parse counts.
        let filtered = one(
            &e,
            &format!("SELECT count(*) AS n FROM {S3} WHERE json_extract_scalar(api.request.data, '$.bucketName') = 'acme-customer-exports'"),
        )
        .await;
        let parsed = one(
            &e,
            &format!(
                "SELECT count_if(b = 'acme-customer-exports') AS n FROM \
                 (SELECT coalesce(json_extract_scalar(api.request.data, '$.bucketName'), '') || '' AS b FROM {S3})"
            ),
        )
        .await;
        assert_eq!(filtered["n"], parsed["n"]);
        assert!(filtered["n"].as_u64().unwrap() > 1000);
        // The same four texts as a WHERE, where the prefilter runs: the escaped and the plain one.
        let r = one(
            &e,
            r#"SELECT count(*) AS n FROM (VALUES ('{"b":"\u0061cme"}'), ('{"b":"x","c":"acme"}'),
                      ('{"b":"acme"}'), ('{"n":5}')) AS t(j)
               WHERE json_extract_scalar(j, '$.b') = 'acme' OR json_extract_scalar(j, '$.n') = '5'"#,
        )
        .await;
        assert_eq!(r["n"], 3, "{r}");
        let plan = rows(
            &e,
            &format!("EXPLAIN SELECT count(*) FROM {S3} WHERE json_extract_scalar(api.request.data, '$.bucketName') = 'b'"),
        )
        .await
        .unwrap();
        assert!(format!("{plan:?}").contains("irp_json_scalar_is"), "{plan:?}");
        // Where a NULL (the path is missing) and a false differ, the comparison decides alone: no
        // row has `$.nokey`, so NOT (… = 'zzz') is NULL for every row and keeps none.
        let negated = one(
            &e,
            &format!("SELECT count(*) AS n FROM {S3} WHERE NOT (json_extract_scalar(api.request.data, '$.nokey') = 'zzz')"),
        )
        .await;
        assert_eq!(negated["n"], 0);
        let r = one(
            &e,
            r#"SELECT (json_extract_scalar('{"a":"x"}', '$.b') = 'zzz') IS NULL AS missing,
                      CASE WHEN json_extract_scalar('{"a":"x"}', '$.b') = 'zzz' THEN 1 WHEN true THEN 2 END AS branch"#,
        )
        .await;
        assert_eq!((&r["missing"], &r["branch"]), (&json!(true), &json!(2)), "{r}");
    });
}

#[test]
fn row_groups_are_skipped_on_nested_statistics_without_changing_answers() {
    runtime().block_on(async {
        let e = engine().await;
        // Each condition on a struct field, and the same condition on an expression the pruning
        // does not read (so every row group is read): the counts must be equal.
        for (pruned, unpruned) in [
            (
                "api.operation = 'GetObject'",
                "concat(api.operation, '') = 'GetObject'",
            ),
            (
                "'GetObject' = api.operation",
                "'GetObject' = concat(api.operation, '')",
            ),
            (
                "api.operation = 'PutObjectAcl'",
                "concat(api.operation, '') = 'PutObjectAcl'",
            ),
            (
                "api.operation IN ('PutObjectAcl', 'HeadObject')",
                "concat(api.operation, '') IN ('PutObjectAcl', 'HeadObject')",
            ),
            (
                "api.operation < 'GetObject'",
                "concat(api.operation, '') < 'GetObject'",
            ),
            (
                "api.operation <= 'GetObject'",
                "concat(api.operation, '') <= 'GetObject'",
            ),
            (
                "api.operation > 'PutObject'",
                "concat(api.operation, '') > 'PutObject'",
            ),
            (
                "api.operation >= 'PutObject'",
                "concat(api.operation, '') >= 'PutObject'",
            ),
            (
                "actor.user.type = 'AWSAccount'",
                "concat(actor.user.type, '') = 'AWSAccount'",
            ),
            (
                "api.operation = 'HeadObjectX'",
                "concat(api.operation, '') = 'HeadObjectX'",
            ),
            (
                "api.operation IN ('HeadObjectX', 'HeadObject')",
                "concat(api.operation, '') IN ('HeadObjectX', 'HeadObject')",
            ),
            (
                "t.actor.user.type = 'IAMUser' AND api.operation = 'GetObject'",
                "concat(t.actor.user.type, '') = 'IAMUser' AND concat(api.operation, '') = 'GetObject'",
            ),
        ] {
            let a = one(&e, &format!("SELECT count(*) AS n FROM {S3} t WHERE {pruned}")).await;
            let b = one(&e, &format!("SELECT count(*) AS n FROM {S3} t WHERE {unpruned}")).await;
            assert_eq!(a["n"], b["n"], "{pruned}");
        }
        // The plan of a count with a condition on `api.operation`, run.
        let analyzed = async |condition: &str| {
            rows(
                &e,
                &format!("EXPLAIN ANALYZE SELECT count(*) FROM {S3} WHERE api.operation {condition}"),
            )
            .await
            .unwrap()
            .iter()
            .map(|r| r["plan"].as_str().unwrap_or_default().to_owned())
            .collect::<String>()
        };
        // A value no row group can hold: no file is even opened.
        let text = analyzed("= 'PutObjectAcl'").await;
        assert!(text.contains("files_opened=0"), "{text}");
        // A value between every row group's minimum and maximum that no dictionary holds: the
        // dictionaries rule every row group out, and again no file is opened.
        let text = analyzed("= 'HeadObjectX'").await;
        assert!(text.contains("files_opened=0"), "{text}");
        let text = analyzed("= 'GetObject'").await;
        assert!(!text.contains("files_opened=0"), "{text}");
    });
}

/// Filters are evaluated while decoding Parquet only where that pays: when the scan reads a leaf
/// much larger than the cheapest condition's (docs/performance.md, eighth round). Never on time
/// alone. Either way the answers are those of an engine that never pushes filters down.
#[test]
fn filters_are_pushed_into_the_decoder_only_where_it_pays() {
    runtime().block_on(async {
        let (dir, _) = shared_lake();
        let pushing = LocalEngine::open(dir, Options::default()).await.unwrap();
        let never = LocalEngine::open(
            dir,
            Options {
                pushdown_filters: false,
                ..Options::default()
            },
        )
        .await
        .unwrap();
        let window = "time_dt >= TIMESTAMP '2000-01-01 00:00:00' AND eventday >= '20000101'";
        let pushed_rows = |text: &str| {
            text.split("pushdown_rows_matched=")
                .skip(1)
                .map(|t| t.split(|c: char| !c.is_ascii_digit()).next().unwrap_or("0"))
                .map(|n| n.parse::<u64>().unwrap_or(0))
                .sum::<u64>()
        };
        let by_principal = |filter: &str| {
            format!("SELECT actor.user.uid AS principal, count(*) AS n FROM {S3} WHERE {filter} GROUP BY 1 ORDER BY 2 DESC, 1")
        };
        for (sql, pushed) in [
            // Time alone: never.
            (by_principal(window), false),
            // The operation is cheap, but so is the principal read beside it.
            (by_principal(&format!("{window} AND api.operation = 'GetObject'")), false),
            (
                format!("SELECT DISTINCT src_endpoint.ip AS ip FROM {S3} WHERE actor.user.uid IS NOT NULL AND actor.user.type = 'IAMUser' ORDER BY 1"),
                false,
            ),
            // The request's JSON is many times the operation's size: only the passing rows'
            // pages of it are decompressed.
            (
                format!("SELECT api.operation AS op, count(DISTINCT api.request.data) AS n FROM {S3} WHERE api.operation = 'PutObject' GROUP BY 1"),
                true,
            ),
            (
                format!("SELECT time_dt, api.request.data AS request FROM {S3} WHERE {window} AND actor.user.type = 'IAMUser' ORDER BY 1, 2 LIMIT 20"),
                true,
            ),
        ] {
            let a = rows(&pushing, &sql).await.unwrap();
            assert!(!a.is_empty(), "{sql}");
            assert_eq!(a, rows(&never, &sql).await.unwrap(), "{sql}");
            let plan = rows(&pushing, &format!("EXPLAIN ANALYZE {sql}")).await.unwrap();
            let text: String = plan.iter().map(|r| r["plan"].as_str().unwrap_or_default()).collect();
            assert!(text.contains("pushdown_rows_matched="), "{text}");
            assert_eq!(pushed_rows(&text) > 0, pushed, "{sql}\n{text}");
        }
        // Statements that are not reads never reach the session (tests/read_only.rs).
        let refused = rows(&pushing, "CREATE VIEW probe AS SELECT 1 AS one").await.unwrap_err();
        assert!(refused.to_string().contains("irp runs only reads"), "{refused}");
    });
}

/// An aggregate's `FILTER (WHERE …)` reads as Trino reads it: the aggregate sees only the rows
/// where the condition is true (checked against `count_if` and a `WHERE`).
#[test]
fn aggregate_filters_follow_trino() {
    runtime().block_on(async {
        let e = engine().await;
        let got = one(
            &e,
            &format!(
                "SELECT count(*) FILTER (WHERE api.operation = 'GetObject') AS a, count_if(api.operation = 'GetObject') AS b, \
                 max(time_dt) FILTER (WHERE api.operation = 'GetObject') AS c FROM {S3}"
            ),
        )
        .await;
        let direct = one(&e, &format!("SELECT count(*) AS a, max(time_dt) AS c FROM {S3} WHERE api.operation = 'GetObject'")).await;
        assert!(got["a"].as_i64().unwrap() > 0, "{got}");
        assert_eq!(got["a"], got["b"]);
        assert_eq!(got["a"], direct["a"]);
        assert_eq!(got["c"], direct["c"]);
    });
}

// The pieces underneath, on their own.

#[test]
fn networks_contain_their_addresses() {
    let c = Cidr::parse("10.0.0.0/8").unwrap();
    assert!(c.contains("10.1.2.3".parse().unwrap()));
    assert!(!c.contains("11.0.0.1".parse().unwrap()));
    assert!(c.contains("::ffff:10.0.0.1".parse().unwrap()));
    let six = Cidr::parse("2001:db8::/32").unwrap();
    assert!(six.contains("2001:db8::1".parse().unwrap()));
    assert!(!six.contains("2001:db9::1".parse().unwrap()));
    assert!(
        Cidr::parse("0.0.0.0/0")
            .unwrap()
            .contains("8.8.8.8".parse().unwrap())
    );
    assert!(Cidr::parse("10.0.0.0/33").is_none());
    assert!(Cidr::parse("10.0.0.0.").is_none());
    assert!(
        Cidr::parse("185.220.101.47/32")
            .unwrap()
            .contains("185.220.101.47".parse().unwrap())
    );
}

#[test]
fn mysql_specifiers_map_to_chrono() {
    assert_eq!(mysql_to_chrono("%Y-%m-%d %H:%i:%s").unwrap(), "%Y-%m-%d %H:%M:%S");
    assert_eq!(mysql_to_chrono("%Y%m%d").unwrap(), "%Y%m%d");
    assert_eq!(mysql_to_chrono("100%%").unwrap(), "100%%");
    assert!(mysql_to_chrono("%U").is_err());
    assert!(mysql_to_chrono("%").is_err());
    let t = parse_mysql("2026-11-27", &mysql_to_chrono("%Y-%m-%d").unwrap()).unwrap();
    assert_eq!(t.to_string(), "2026-11-27 00:00:00");
    let z = chrono::Utc
        .with_ymd_and_hms(2026, 1, 31, 0, 0, 0)
        .unwrap()
        .naive_utc();
    let feb = chrono::Utc
        .with_ymd_and_hms(2026, 2, 28, 0, 0, 0)
        .unwrap()
        .naive_utc();
    // As Joda (Trino) counts: Jan 31 + 1 month is Feb 28, which is not after Feb 28.
    assert_eq!(months_between(z, feb), Some(1));
    assert_eq!(months_between(feb, z), Some(0));
}

#[test]
fn the_fast_path_answers_as_the_full_parse_does() {
    let docs = [
        r#"{"bucketName":"acme","Host":"acme.s3.amazonaws.com","key":"a/b.csv"}"#,
        r#"{"bucketName":"first","bucketName":"last"}"#,
        r#"{"a":{"b":[1,{"c":"deep"},[true,false]]},"n":null,"f":1.5,"i":-7,"u":18446744073709551615,"e":1e3}"#,
        r#"{"s":"esc\"aped \u00e9 \ud83d\ude00 \n"}"#,
        r#"{"bucket\u004eame":"escaped key"}"#,
        r#"  { "x" : [ "y" , { "z" : 0.1 } ] }  "#,
        r#"{"truncated":"#,
        r#"{"a":1} trailing"#,
        "[1,2,3]",
        r#""just a string""#,
        "not json",
        "",
        r#"{"big":123456789012345678901234567890}"#,
    ];
    let paths = [
        "$.bucketName",
        "$.key",
        "$.a.b[0]",
        "$.a.b[1].c",
        "$.a.b[2][1]",
        "$.a.b[9]",
        "$.a",
        "$.n",
        "$.f",
        "$.i",
        "$.u",
        "$.e",
        "$.s",
        "$[\"bucketName\"]",
        "$.x[1].z",
        "$[1]",
        "$.missing.deeper",
        "$.big",
        "$",
    ];
    for doc in docs {
        for path in paths {
            let steps = parse_path(path).unwrap();
            let full = serde_json::from_str::<serde_json::Value>(doc)
                .ok()
                .and_then(|v| walk(&v, &steps).and_then(extract_scalar));
            assert_eq!(scalar_at(doc, &steps), full, "{doc} at {path}");
        }
    }
}
