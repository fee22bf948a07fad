//! Only reads reach a backend: a playbook is code someone else wrote, and its query steps run
//! without confirmation. Every statement that writes, creates, drops or exports is refused on the
//! embedded engine, on Athena and by `irp validate`, with nothing done.

use crate::common::{irp, repo, run, stderr};

fn local_query(lake: &std::path::Path, sql: &str) -> std::process::Output {
    irp()
        .args(["query", "--lake"])
        .arg(lake)
        .arg(sql)
        .output()
        .unwrap()
}

#[test]
fn the_embedded_engine_refuses_every_statement_that_is_not_a_read() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = crate::common::for_each_lake(tmp.path());
    let copied = tmp.path().join("copied.csv");
    let secret = tmp.path().join("secret.csv");
    std::fs::write(&secret, "a,b\n1,2\n").unwrap();
    for (sql, said) in [
        (
            format!("COPY (SELECT 1) TO '{}'", copied.display()),
            "`COPY … TO` writes files",
        ),
        (
            format!("EXPLAIN ANALYZE COPY (SELECT 1) TO '{}'", copied.display()),
            "`COPY … TO` writes files",
        ),
        (
            format!(
                "CREATE EXTERNAL TABLE t STORED AS CSV LOCATION '{}'",
                secret.display()
            ),
            "`CREATE EXTERNAL TABLE` reads files from anywhere",
        ),
        (
            "CREATE TABLE t AS SELECT 1".to_owned(),
            "`CREATE TABLE` is not a read",
        ),
        (
            "CREATE VIEW v AS SELECT 1".to_owned(),
            "`CREATE VIEW` is not a read",
        ),
        (
            "DROP TABLE amazon_security_lake_table_us_east_1_cloud_trail_mgmt_2_0".to_owned(),
            "`DROP TABLE` is not a read",
        ),
        (
            "INSERT INTO t VALUES (1)".to_owned(),
            "`INSERT INTO` is not a read",
        ),
        (
            "SET datafusion.execution.batch_size = 1".to_owned(),
            "is not a read",
        ),
        ("SELECT 1; SELECT 2".to_owned(), "one statement"),
    ] {
        let out = local_query(&lake, &sql);
        assert_eq!(out.status.code(), Some(1), "{sql}");
        let err = stderr(&out);
        assert!(err.contains(said), "{sql}: {err}");
        assert!(
            said == "one statement" || err.contains("irp runs only reads"),
            "{sql}: {err}"
        );
    }
    assert!(!copied.exists(), "the refused COPY wrote nothing");
    for read in [
        "SELECT count(*) AS n FROM amazon_security_lake_table_us_east_1_cloud_trail_mgmt_2_0",
        "WITH x AS (SELECT 1 AS a) SELECT a FROM x",
        "VALUES (1)",
        "EXPLAIN SELECT 1",
        "SHOW TABLES",
    ] {
        let out = local_query(&lake, read);
        assert!(out.status.success(), "{read}: {}", stderr(&out));
    }
}

#[test]
fn validate_refuses_a_query_step_that_is_not_a_read() {
    let tmp = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(repo().join("tests/fixtures/drill/bucket-drill.yaml")).unwrap();
    assert!(text.contains("SELECT"), "the drill has a query step");
    let start = text.find("sql: |").unwrap();
    let body_start = start + "sql: |\n".len();
    let indent: String = text[body_start..].chars().take_while(|c| *c == ' ').collect();
    let body_end = body_start
        + text[body_start..]
            .lines()
            .take_while(|l| l.starts_with(&indent) || l.trim().is_empty())
            .map(|l| l.len() + 1)
            .sum::<usize>();
    let hostile = format!(
        "{}{indent}COPY (SELECT * FROM {{{{ table }}}}) TO '/tmp/irp-exfil.csv'\n{}",
        &text[..body_start],
        &text[body_end..]
    );
    let pb = tmp.path().join("pb.yaml");
    std::fs::write(&pb, hostile).unwrap();
    let out = run(&["validate", pb.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("is not a read statement: `COPY … TO` writes files"),
        "{err}"
    );
}

#[test]
fn athena_is_never_sent_a_statement_that_is_not_a_read() {
    let Some((endpoint, _lock)) = crate::athena::moto() else {
        return;
    };
    for sql in [
        "UNLOAD (SELECT 1) TO 's3://irp-results/out/' WITH (format = 'JSON')",
        "CREATE TABLE t AS SELECT 1",
        "DROP TABLE amazon_security_lake_table_us_east_1_cloud_trail_mgmt_2_0",
        "INSERT INTO t VALUES (1)",
    ] {
        let out = crate::athena::athena_query(&endpoint, "us-east-1", &[sql])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{sql}");
        let err = stderr(&out);
        assert!(
            err.contains("not sent to Athena") && err.contains("irp runs only reads"),
            "{sql}: {err}"
        );
    }
}

/// A placeholder inside a comment or a quoted string is refused: a newline in the value ends the
/// comment, and a quoted placeholder renders a literal inside a literal.
#[test]
fn validate_refuses_a_placeholder_where_no_value_may_stand() {
    let tmp = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(repo().join("tests/fixtures/drill/bucket-drill.yaml")).unwrap();
    let start = text.find("sql: |\n").unwrap() + "sql: |\n".len();
    let indent: String = text[start..].chars().take_while(|c| *c == ' ').collect();
    for (line, said) in [
        (
            "-- bucket {{ bucket }}",
            "a placeholder inside a `--` comment (line 1 of the SQL)",
        ),
        ("/* {{ bucket }} */", "a placeholder inside a `/* */` comment"),
        (
            "-- it's fine here\n{0}/* and '{{ start_time }}' */",
            "a `/* */` comment (line 2",
        ),
    ] {
        let line = line.replace("{0}", &indent);
        let hostile = format!("{}{indent}{line}\n{}", &text[..start], &text[start..]);
        let pb = tmp.path().join("pb.yaml");
        std::fs::write(&pb, hostile).unwrap();
        let err = stderr(&run(&["validate", pb.to_str().unwrap()]));
        assert!(err.contains(said), "{line}: {err}");
    }
    // Inside a string literal.
    let quoted = text.replacen("time_dt >= {{ start_time }}", "time_dt >= '{{ start_time }}'", 1);
    assert_ne!(quoted, text, "the drill's SQL reads the start time");
    let pb = tmp.path().join("pb.yaml");
    std::fs::write(&pb, quoted).unwrap();
    let err = stderr(&run(&["validate", pb.to_str().unwrap()]));
    assert!(err.contains("a placeholder inside a quoted string"), "{err}");
    // A Jinja comment is the template's own and may say anything.
    let commented = format!(
        "{}{indent}{{# {{{{ bucket }}}} in a template comment #}}\n{}",
        &text[..start],
        &text[start..]
    );
    std::fs::write(&pb, commented).unwrap();
    let out = run(&["validate", pb.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
}
