//! Only reads reach a backend. A playbook's query step runs without confirmation, so whatever a
//! query can do, whoever wrote the playbook can do on the responder's machine and account: write
//! files (`COPY … TO`), read any local file into a result (`CREATE EXTERNAL TABLE … LOCATION`),
//! drop or create tables, or on Athena write to S3 (`UNLOAD`, `CREATE TABLE AS`). The statement
//! is parsed, exactly one, and judged: `SELECT` (with `WITH`, set operations and `VALUES`),
//! `EXPLAIN` of a read (`EXPLAIN ANALYZE` runs what it wraps, so that is what is judged), and the
//! `SHOW` / `DESCRIBE` family. Anything else is refused with its position, before planning.

use datafusion::sql::parser::Statement as DfStatement;
use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{ObjectName, Query, SetExpr, Statement, TableFactor, Visit, Visitor};
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
    parse_read(sql).map(drop)
}

/// `sql` parsed as one statement and judged a read.
fn parse_read(sql: &str) -> Result<DfStatement, NotARead> {
    let statement = parse(sql).map_err(|e| NotARead {
        what: format!("the query cannot be read as one statement ({e}), so irp cannot tell it only reads"),
        position: None,
        parse: true,
    })?;
    check_parsed(sql, &statement)?;
    Ok(statement)
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

/// What a query may read: tables of the Security Lake database(s), or exactly the tables a
/// step declares. A read can still reach outside the lake: a table of another database or of a
/// federated catalog (Athena's Lambda connectors), a table function (`TABLE(system.query(…))`,
/// `generate_series`, a file URL), or an external function (`USING EXTERNAL FUNCTION … LAMBDA`).
#[derive(Debug, Clone, Default)]
pub struct Reach {
    /// The `(database, table)` pairs a query may read, compared without case.
    pub tables: Vec<(String, String)>,
    /// Databases any table of which may be read (Athena's Security Lake database, for `irp query`);
    /// a name ending in `*` is a prefix (`amazon_security_lake_glue_db_*`: every region's).
    pub databases: Vec<String>,
    /// The catalog a three-part name may name (Athena's `AwsDataCatalog`); none: no three-part names.
    pub catalog: Option<String>,
    /// The database a one-part name that is not a `WITH` name resolves to.
    pub default_database: Option<String>,
}

impl Reach {
    /// Exactly `tables`, each `(database, table)`.
    pub fn tables(tables: impl IntoIterator<Item = (String, String)>) -> Reach {
        Reach {
            tables: tables.into_iter().collect(),
            ..Reach::default()
        }
    }

    fn allows(&self, database: &str, table: &str) -> bool {
        let lower = database.to_ascii_lowercase();
        self.databases.iter().any(|d| match d.strip_suffix('*') {
            Some(prefix) => lower.starts_with(&prefix.to_ascii_lowercase()),
            None => d.eq_ignore_ascii_case(database),
        }) || self
            .tables
            .iter()
            .any(|(d, t)| d.eq_ignore_ascii_case(database) && t.eq_ignore_ascii_case(table))
    }

    fn names(&self) -> String {
        let mut names: Vec<String> = self.tables.iter().map(|(d, t)| format!("{d}.{t}")).collect();
        names.extend(self.databases.iter().map(|d| format!("{d}.*")));
        if names.is_empty() {
            "none".to_owned()
        } else {
            names.join(", ")
        }
    }
}

/// Why a read reaches outside what it may read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{what}: a query reads only the Security Lake tables it names ({allowed}); declare another table in the step's `tables:`, never another database, catalog or function that reads elsewhere"
)]
pub struct OutOfReach {
    pub what: String,
    pub allowed: String,
}

/// Checks that `sql` is one read statement that reads only what `reach` allows.
pub fn check_reach(sql: &str, reach: &Reach) -> Result<(), ReachError> {
    check_external_function(sql, reach).map_err(ReachError::OutOfReach)?;
    let statement = parse_read(sql).map_err(ReachError::NotARead)?;
    check_statement_reach(&statement, reach).map_err(ReachError::OutOfReach)
}

/// A query refused before it runs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReachError {
    #[error(transparent)]
    NotARead(NotARead),
    #[error(transparent)]
    OutOfReach(OutOfReach),
}

/// Refuses Athena's `USING EXTERNAL FUNCTION` (a Lambda function or a `SageMaker` model), which
/// the parser does not read: before parsing, so the refusal says what it is.
pub fn check_external_function(sql: &str, reach: &Reach) -> Result<(), OutOfReach> {
    if external_function(sql) {
        return Err(OutOfReach {
            what: "`USING EXTERNAL FUNCTION` calls a Lambda function or a SageMaker model".to_owned(),
            allowed: reach.names(),
        });
    }
    Ok(())
}

/// Whether the statement starts with Athena's `USING EXTERNAL FUNCTION`.
fn external_function(sql: &str) -> bool {
    let Ok(tokens) = Tokenizer::new(&Athena, sql).tokenize() else {
        return false;
    };
    let words: Vec<String> = tokens
        .iter()
        .filter(|t| !matches!(t, Token::Whitespace(_)))
        .take(3)
        .map(|t| match t {
            Token::Word(w) => w.value.to_ascii_uppercase(),
            _ => String::new(),
        })
        .collect();
    words == ["USING", "EXTERNAL", "FUNCTION"]
}

/// Checks every relation a parsed read names against `reach`.
pub fn check_statement_reach(statement: &DfStatement, reach: &Reach) -> Result<(), OutOfReach> {
    let stmt = match statement {
        DfStatement::Statement(stmt) => stmt.as_ref(),
        DfStatement::Explain(explain) => return check_statement_reach(&explain.statement, reach),
        _ => return Ok(()),
    };
    let mut with_names = Vec::new();
    visit_queries(stmt, |q: &Query| {
        if let Some(with) = &q.with {
            with_names.extend(
                with.cte_tables
                    .iter()
                    .map(|c| c.alias.name.value.to_ascii_lowercase()),
            );
        }
    });
    let out = |what: String| OutOfReach {
        what,
        allowed: reach.names(),
    };
    let mut refused = None;
    visit_table_factors(stmt, |factor: &TableFactor| {
        let verdict = match factor {
            // The dialect reads `UNNEST(array)` as a table function: it reads the row's own array.
            TableFactor::Table {
                name, args: Some(_), ..
            } if name.0.len() == 1
                && name.0[0]
                    .as_ident()
                    .is_some_and(|i| i.value.eq_ignore_ascii_case("unnest")) =>
            {
                Ok(())
            }
            TableFactor::Table {
                name, args: Some(_), ..
            }
            | TableFactor::Function { name, .. } => Err(out(format!(
                "the table function `{name}` reads outside the tables"
            ))),
            TableFactor::Table { name, .. } => judge_name(name, &with_names, reach).map_err(out),
            TableFactor::TableFunction { expr, .. } => Err(out(format!(
                "the table function `{expr}` reads outside the tables"
            ))),
            _ => Ok(()),
        };
        match verdict {
            Ok(()) => ControlFlow::Continue(()),
            Err(e) => {
                refused = Some(e);
                ControlFlow::Break(())
            }
        }
    });
    refused.map_or(Ok(()), Err)
}

/// Visits a statement's queries and table factors with two closures.
struct Walk<Q, T> {
    query: Q,
    factor: T,
}

impl<Q: FnMut(&Query), T: FnMut(&TableFactor) -> ControlFlow<()>> Visitor for Walk<Q, T> {
    type Break = ();

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<()> {
        (self.query)(query);
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<()> {
        (self.factor)(factor)
    }
}

fn visit_queries(stmt: &Statement, f: impl FnMut(&Query)) {
    let _ = stmt.visit(&mut Walk {
        query: f,
        factor: |_: &TableFactor| ControlFlow::Continue(()),
    });
}

fn visit_table_factors(stmt: &Statement, f: impl FnMut(&TableFactor) -> ControlFlow<()>) {
    let _ = stmt.visit(&mut Walk {
        query: |_: &Query| {},
        factor: f,
    });
}

fn judge_name(name: &ObjectName, with_names: &[String], reach: &Reach) -> Result<(), String> {
    let parts: Vec<Option<&str>> = name
        .0
        .iter()
        .map(|p| p.as_ident().map(|i| i.value.as_str()))
        .collect();
    let outside = || format!("`{name}` is not a table the query may read");
    let parts: Vec<&str> = parts.into_iter().collect::<Option<_>>().ok_or_else(outside)?;
    match parts.as_slice() {
        [one] if with_names.iter().any(|w| w.eq_ignore_ascii_case(one)) => Ok(()),
        [one] => match &reach.default_database {
            Some(db) if reach.allows(db, one) => Ok(()),
            _ => Err(outside()),
        },
        [db, table] if reach.allows(db, table) => Ok(()),
        [catalog, db, table]
            if reach
                .catalog
                .as_deref()
                .is_some_and(|c| c.eq_ignore_ascii_case(catalog))
                && reach.allows(db, table) =>
        {
            Ok(())
        }
        [catalog, _, _] => Err(format!(
            "`{name}` is in catalog `{catalog}`, not the Security Lake catalog"
        )),
        _ => Err(outside()),
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

    #[test]
    fn a_step_reads_only_its_declared_tables_and_its_with_names() {
        use super::{Reach, ReachError, check_reach};
        let reach = Reach::tables([("db".to_owned(), "cloud_trail".to_owned())]);
        for ok in [
            "SELECT * FROM db.cloud_trail",
            "SELECT * FROM \"DB\".\"Cloud_Trail\" AS t CROSS JOIN UNNEST(t.resources) AS u(r)",
            "WITH a AS (SELECT * FROM db.cloud_trail) SELECT * FROM a JOIN a AS b ON true",
            "SELECT (SELECT count(*) FROM db.cloud_trail) AS n",
            "SHOW TABLES",
        ] {
            assert_eq!(check_reach(ok, &reach), Ok(()), "{ok}");
        }
        for (refused, said) in [
            ("SELECT * FROM db.s3_data", "`db.s3_data` is not a table"),
            ("SELECT * FROM cloud_trail", "`cloud_trail` is not a table"),
            (
                "SELECT * FROM awsdatacatalog.db.cloud_trail",
                "is in catalog `awsdatacatalog`",
            ),
            (
                "SELECT * FROM db.cloud_trail WHERE x IN (SELECT y FROM other.t)",
                "`other.t`",
            ),
            ("EXPLAIN SELECT * FROM other.t", "`other.t`"),
            ("SELECT * FROM range(10)", "the table function `range`"),
        ] {
            match check_reach(refused, &reach) {
                Err(ReachError::OutOfReach(e)) => assert!(e.to_string().contains(said), "{refused}: {e}"),
                other => panic!("{refused}: {other:?}"),
            }
        }
        let athena = Reach {
            databases: vec!["db".to_owned()],
            catalog: Some("AwsDataCatalog".to_owned()),
            default_database: Some("db".to_owned()),
            ..Reach::default()
        };
        assert_eq!(
            check_reach("SELECT * FROM awsdatacatalog.db.anything", &athena),
            Ok(())
        );
        assert_eq!(check_reach("SELECT * FROM anything", &athena), Ok(()));
        assert!(check_reach("SELECT * FROM \"lambda:x\".db.t", &athena).is_err());
        let regions = Reach {
            databases: vec!["amazon_security_lake_glue_db_*".to_owned()],
            ..Reach::default()
        };
        assert_eq!(
            check_reach("SELECT * FROM amazon_security_lake_glue_db_eu_west_1.t", &regions),
            Ok(())
        );
        assert!(check_reach("SELECT * FROM amazon_security_lake_glue.t", &regions).is_err());
    }
}
