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

/// A read can still reach outside the lake: another database, another catalog, a table function.
#[test]
fn the_embedded_engine_refuses_reads_outside_the_security_lake_tables() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = crate::common::for_each_lake(tmp.path());
    for (sql, said) in [
        (
            "SELECT * FROM information_schema.tables",
            "`information_schema.tables` is not a table the query may read",
        ),
        (
            "SELECT * FROM generate_series(1, 3)",
            "the table function `generate_series` reads outside the tables",
        ),
        (
            "SELECT * FROM \"lambda:cmdb\".default.assets",
            "is in catalog `lambda:cmdb`, not the Security Lake catalog",
        ),
        (
            "USING EXTERNAL FUNCTION f(x VARCHAR) RETURNS VARCHAR LAMBDA 'fn' SELECT f('a')",
            "`USING EXTERNAL FUNCTION` calls a Lambda function",
        ),
        (
            "WITH x AS (SELECT 1 AS a) SELECT a FROM x CROSS JOIN other_db.secrets",
            "`other_db.secrets` is not a table the query may read",
        ),
    ] {
        let out = local_query(&lake, sql);
        assert_eq!(out.status.code(), Some(1), "{sql}");
        let err = stderr(&out);
        assert!(err.contains(said), "{sql}: {err}");
    }
    for read in [
        "SELECT count(*) AS n FROM amazon_security_lake_glue_db_us_east_1.amazon_security_lake_table_us_east_1_cloud_trail_mgmt_2_0",
        "SELECT count(*) AS n FROM awsdatacatalog.amazon_security_lake_glue_db_us_east_1.amazon_security_lake_table_us_east_1_cloud_trail_mgmt_2_0",
        "SELECT count(*) AS n FROM (SELECT 1 AS a) AS d CROSS JOIN UNNEST(ARRAY[1, 2]) AS u(x)",
    ] {
        let out = local_query(&lake, read);
        assert!(out.status.success(), "{read}: {}", stderr(&out));
    }
}

/// A step reads only the tables it declares, even among the Security Lake's.
#[test]
fn validate_refuses_a_query_step_reading_a_table_it_does_not_declare() {
    let tmp = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(repo().join("tests/fixtures/drill/bucket-drill.yaml")).unwrap();
    let undeclared = text.replacen(
        "FROM {{ table }}",
        "FROM {{ table }} CROSS JOIN amazon_security_lake_glue_db_us_east_1.amazon_security_lake_table_us_east_1_vpc_flow_2_0",
        1,
    );
    assert_ne!(undeclared, text, "the drill's query reads {{{{ table }}}}");
    let pb = tmp.path().join("pb.yaml");
    std::fs::write(&pb, undeclared).unwrap();
    let out = run(&["validate", pb.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("amazon_security_lake_table_us_east_1_vpc_flow_2_0` is not a table the query may read")
            && err.contains("declare another table in the step's `tables:`"),
        "{err}"
    );
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
    assert!(err.contains("is refused: `COPY … TO` writes files"), "{err}");
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
        "SELECT * FROM \"lambda:cmdb\".default.assets",
        "SELECT * FROM TABLE(system.query(query => 'SELECT 1'))",
        "SELECT * FROM other_db.accounts",
        "USING EXTERNAL FUNCTION f(x VARCHAR) RETURNS VARCHAR LAMBDA 'fn' SELECT f('a')",
    ] {
        let out = crate::athena::athena_query(&endpoint, "us-east-1", &[sql])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{sql}");
        let err = stderr(&out);
        assert!(
            err.contains("not sent to Athena")
                && (err.contains("irp runs only reads")
                    || err.contains("reads only the Security Lake tables")),
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
        (
            "x{{ bucket }}",
            "a placeholder glued to the text or value beside it (line 1",
        ),
        (
            "{{ bucket }}{{ bucket }}",
            "a placeholder glued to the text or value beside it",
        ),
        (
            "{{ bucket }}.5",
            "a placeholder glued to the text or value beside it",
        ),
        (
            "-- the bucket\n{0}{{- bucket }}",
            "a placeholder trimming the line break that ends a `--` comment",
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
