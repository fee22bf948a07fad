//! Only reads reach a backend. A playbook's query step runs without confirmation, so whatever a
//! query can do, whoever wrote the playbook can do on the responder's machine and account: write
//! files (`COPY … TO`), read any local file into a result (`CREATE EXTERNAL TABLE … LOCATION`),
//! drop or create tables, or on Athena write to S3 (`UNLOAD`, `CREATE TABLE AS`). The statement
//! is parsed, exactly one, and judged: `SELECT` (with `WITH`, set operations and `VALUES`),
//! `EXPLAIN` of a read (`EXPLAIN ANALYZE` runs what it wraps, so that is what is judged), and the
//! `SHOW` / `DESCRIBE` family. Anything else is refused with its position, before planning.

use datafusion::sql::parser::Statement as DfStatement;
use datafusion::sql::sqlparser::ast::{Query, SetExpr, Statement};
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};

use super::sql::Athena;

/// Why a query is not run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what}{}: irp runs only reads (SELECT, WITH … SELECT, VALUES, EXPLAIN, SHOW, DESCRIBE){}", position.map(|(l, c)| format!(" at line {l}, column {c}")).unwrap_or_default(), if *parse { "" } else { "; a query step, `irp query` and Athena never write, create, drop or export" })]
pub struct NotARead {
    pub what: String,
    /// Line and column (1-based) of the statement's first word.
    pub position: Option<(u64, u64)>,
    /// The SQL did not parse, so irp cannot tell what it does.
    pub parse: bool,
}

/// Checks that `sql` is one read statement.
pub fn check(sql: &str) -> Result<(), NotARead> {
    let statement = parse(sql).map_err(|e| NotARead {
        what: format!("the query cannot be read as one statement ({e}), so irp cannot tell it only reads"),
        position: None,
        parse: true,
    })?;
    check_parsed(sql, &statement)
}

/// One statement of Athena SQL, read as the embedded engine reads it.
fn parse(sql: &str) -> Result<DfStatement, String> {
    let mut statements = datafusion::sql::parser::DFParserBuilder::new(sql)
        .with_dialect(&Athena)
        .build()
        .and_then(|mut p| p.parse_statements())
        .map_err(|e| e.to_string())?;
    if statements.len() != 1 {
        return Err(format!(
            "{} statements; one statement at a time",
            statements.len()
        ));
    }
    statements
        .pop_front()
        .ok_or_else(|| "the query is empty".to_owned())
}

/// Checks a statement already parsed from `sql`.
pub fn check_parsed(sql: &str, statement: &DfStatement) -> Result<(), NotARead> {
    judge(statement).map_err(|what| NotARead {
        what,
        position: first_word(sql),
        parse: false,
    })
}

/// Checks a statement already parsed.
// Any statement kind not named here, including kinds a newer parser adds, is refused.
#[allow(clippy::match_wildcard_for_single_variants)]
pub fn judge(statement: &DfStatement) -> Result<(), String> {
    match statement {
        DfStatement::Statement(stmt) => judge_sql(stmt),
        DfStatement::Explain(explain) => judge(&explain.statement),
        DfStatement::CreateExternalTable(_) => {
            Err("`CREATE EXTERNAL TABLE` reads files from anywhere into the engine".to_owned())
        }
        DfStatement::CopyTo(_) => Err("`COPY … TO` writes files".to_owned()),
        other => Err(format!("`{}` is not a read", words(&other.to_string()))),
    }
}

fn judge_sql(stmt: &Statement) -> Result<(), String> {
    match stmt {
        Statement::Query(q) => judge_query(q),
        // `EXPLAIN ANALYZE` executes what it explains.
        Statement::Explain { statement, .. } => judge_sql(statement),
        Statement::ExplainTable { .. }
        | Statement::ShowTables { .. }
        | Statement::ShowColumns { .. }
        | Statement::ShowCreate { .. }
        | Statement::ShowFunctions { .. }
        | Statement::ShowDatabases { .. }
        | Statement::ShowSchemas { .. }
        | Statement::ShowViews { .. }
        | Statement::ShowObjects { .. } => Ok(()),
        other => Err(format!("`{}` is not a read", words(&other.to_string()))),
    }
}

fn judge_query(q: &Query) -> Result<(), String> {
    if let Some(with) = &q.with {
        for cte in &with.cte_tables {
            judge_query(&cte.query)?;
        }
    }
    judge_body(&q.body)
}

fn judge_body(body: &SetExpr) -> Result<(), String> {
    match body {
        SetExpr::Select(select) if select.into.is_some() => Err("`SELECT … INTO` creates a table".to_owned()),
        SetExpr::Select(_) | SetExpr::Values(_) | SetExpr::Table(_) => Ok(()),
        SetExpr::Query(q) => judge_query(q),
        SetExpr::SetOperation { left, right, .. } => {
            judge_body(left)?;
            judge_body(right)
        }
        other => Err(format!("`{}` is not a read", words(&other.to_string()))),
    }
}

/// The first two words of a statement, to name it.
fn words(text: &str) -> String {
    text.split_whitespace().take(2).collect::<Vec<_>>().join(" ")
}

/// Where the statement's first word is (past whitespace and comments).
fn first_word(sql: &str) -> Option<(u64, u64)> {
    let tokens = Tokenizer::new(&Athena, sql).tokenize_with_location().ok()?;
    tokens
        .iter()
        .find(|t| !matches!(t.token, Token::Whitespace(_)))
        .map(|t| (t.span.start.line, t.span.start.column))
}

#[cfg(test)]
mod tests {
    use super::check;

    #[test]
    fn reads_pass_and_everything_else_is_refused_with_its_position() {
        for read in [
            "SELECT 1",
            "WITH x AS (SELECT 1 AS a) SELECT a FROM x",
            "VALUES (1), (2)",
            "SELECT 1 UNION ALL SELECT 2",
            "EXPLAIN SELECT 1",
            "EXPLAIN ANALYZE SELECT 1",
            "SHOW TABLES",
        ] {
            assert_eq!(check(read), Ok(()), "{read}");
        }
        for (write, what) in [
            ("COPY (SELECT 1) TO '/tmp/x.csv'", "`COPY … TO` writes files"),
            (
                "CREATE EXTERNAL TABLE t STORED AS CSV LOCATION '/etc/passwd'",
                "`CREATE EXTERNAL TABLE`",
            ),
            (
                "EXPLAIN ANALYZE COPY (SELECT 1) TO '/tmp/x.csv'",
                "`COPY … TO` writes files",
            ),
            ("DROP TABLE t", "`DROP TABLE` is not a read"),
            ("INSERT INTO t VALUES (1)", "`INSERT INTO` is not a read"),
            ("CREATE TABLE t AS SELECT 1", "`CREATE TABLE` is not a read"),
            ("  -- a comment\n  DELETE FROM t", "`DELETE FROM` is not a read"),
        ] {
            let e = check(write).unwrap_err();
            assert!(e.to_string().contains(what), "{write}: {e}");
            assert!(!e.parse, "{write}");
        }
        let e = check("  -- a comment\n  DELETE FROM t").unwrap_err();
        assert_eq!(e.position, Some((2, 3)));
        let e = check("SELECT 1; DROP TABLE t").unwrap_err();
        assert!(e.parse && e.to_string().contains("one statement"), "{e}");
        let e = check("UNLOAD (SELECT 1) TO 's3://b/x' WITH (format = 'JSON')").unwrap_err();
        assert!(e.to_string().contains("irp runs only reads"), "{e}");
    }
}
