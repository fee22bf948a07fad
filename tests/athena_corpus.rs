//! Athena SQL as people write it: the public Security Lake queries in
//! `tests/fixtures/athena-corpus/` (each file names its source and licence), run unchanged on the
//! embedded engine over the generated lake, and parsed by sqlglot's Athena dialect. A file's
//! `-- expect:` line says what it must do: `runs`, or `refused: <reason>` where the query cannot
//! mean on irp's lakes what it means on Athena (a source version 1 table, a column the table
//! does not have on Athena either), and the engine must say so.

use std::path::PathBuf;

use irp::query::backend::local::{LocalEngine, Options};

use crate::common::{repo, required_tool};
use crate::query::{rows, runtime, shared_lake};

/// One query of the corpus: its file, what it must do, and its text as published.
struct Query {
    file: String,
    expect: Result<(), String>,
    sql: String,
}

fn corpus() -> Vec<Query> {
    let dir = repo().join("tests/fixtures/athena-corpus");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "sql"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).unwrap();
            let file = path.file_name().unwrap().to_string_lossy().into_owned();
            for key in ["-- title: ", "-- source: ", "-- licence: "] {
                assert!(text.contains(key), "{file} has no `{key}` line");
            }
            let expect = text
                .lines()
                .find_map(|l| l.strip_prefix("-- expect: "))
                .unwrap_or_else(|| panic!("{file} has no `-- expect:` line"));
            let expect = match expect.strip_prefix("refused: ") {
                Some(reason) => Err(reason.to_owned()),
                None if expect == "runs" => Ok(()),
                None => panic!("{file}: `-- expect: {expect}` is neither `runs` nor `refused: REASON`"),
            };
            let sql: String = text
                .lines()
                .skip_while(|l| l.starts_with("--"))
                .collect::<Vec<_>>()
                .join("\n");
            Query { file, expect, sql }
        })
        .collect()
}

#[test]
fn the_public_athena_corpus_runs_unchanged_or_is_refused_with_its_reason() {
    let queries = corpus();
    assert!(queries.len() >= 60, "the corpus holds {} queries", queries.len());
    let (lake, _) = shared_lake();
    let (mut ran, mut refused, mut wrong) = (0, 0, Vec::new());
    runtime().block_on(async {
        let engine = LocalEngine::open(lake, Options::default()).await.unwrap();
        for q in &queries {
            match (rows(&engine, &q.sql).await, &q.expect) {
                (Ok(_), Ok(())) => ran += 1,
                (Err(e), Err(reason)) if e.to_string().contains(reason.as_str()) => refused += 1,
                (Ok(r), Err(reason)) => wrong.push(format!(
                    "{}: expected a refusal ({reason}), gave {} rows",
                    q.file,
                    r.len()
                )),
                (Err(e), _) => wrong.push(format!("{}: {e}", q.file)),
            }
        }
    });
    crate::common::summary(&format!(
        "athena corpus: {} queries, {ran} run unchanged, {refused} refused with their reason",
        queries.len()
    ));
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn every_query_of_the_athena_corpus_parses_in_sqlglot() {
    let Some(python) = required_tool("IRP_PYTHON", "a Python with sqlglot") else {
        return;
    };
    let items: Vec<serde_json::Value> = corpus()
        .into_iter()
        .map(|q| serde_json::json!({ "playbook": "athena-corpus", "step": q.file, "sql": q.sql }))
        .collect();
    let count = items.len();
    let (ok, text) = crate::common::sqlglot_check(&python, &[], &serde_json::Value::Array(items));
    assert!(ok, "sqlglot rejected queries:\n{text}");
    crate::common::summary(&format!("athena corpus: sqlglot parses all {count} queries"));
}

/// A Security Lake table the lake does not hold is named with why, in words a responder can act
/// on: a source version 1 table (and the version 2 one to query), or a source the lake has no data
/// of (an imported lake holds only the sources its logs did).
#[test]
fn a_table_the_lake_does_not_hold_is_refused_with_why() {
    let (lake, _) = shared_lake();
    let tmp = tempfile::tempdir().unwrap();
    let copy = tmp.path().join("lake");
    for file in crate::common::files_under(lake) {
        let rel = file.strip_prefix(lake).unwrap();
        if rel.starts_with("waf") {
            continue;
        }
        std::fs::create_dir_all(copy.join(rel).parent().unwrap()).unwrap();
        std::fs::copy(&file, copy.join(rel)).unwrap();
    }
    runtime().block_on(async {
        let engine = LocalEngine::open(&copy, Options::default()).await.unwrap();
        let refused = |sql: &str| {
            let engine = &engine;
            let sql = sql.to_owned();
            async move { rows(engine, &sql).await.map(|r| r.len()).unwrap_err().to_string() }
        };
        let said = refused(
            "SELECT count(*) FROM amazon_security_lake_glue_db_us_east_1.amazon_security_lake_table_us_east_1_waf_2_0",
        )
        .await;
        assert!(
            said.starts_with("`amazon_security_lake_table_us_east_1_waf_2_0` is not in this lake: it holds no waf data (Security Lake's `WAF` source); its tables: "),
            "{said}"
        );
        assert!(said.contains("amazon_security_lake_table_us_east_1_eks_audit_2_0"), "{said}");
        let said = refused(
            "SELECT * FROM \"amazon_security_lake_glue_db_us_east_1\".\"amazon_security_lake_table_us_east_1_route53_1_0\"",
        )
        .await;
        assert!(
            said.contains("is a Security Lake source version 1 table")
                && said.contains("query `amazon_security_lake_table_us_east_1_route53_2_0`"),
            "{said}"
        );
        // Any other missing table keeps the engine's own words.
        let said = refused("SELECT * FROM nowhere").await;
        assert!(!said.contains("Security Lake"), "{said}");
    });
}
