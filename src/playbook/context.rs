//! Template contexts: turning typed inputs, captures and resolved table names into the values
//! templates see. The engine builds real contexts from a case; `sample_context` builds the one
//! `irp validate` renders every template with (inputs' `example` or `default`, captures' `example`).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use minijinja::Value;

use super::model::{InputSpec, Playbook, QueryStep, StepKind};
use super::raw::InputType;
use super::table::LogicalTable;
use super::template::{SqlIdent, SqlTimestamp, value_from_json};
use super::value::TimeSpec;

/// Variables every template may read, besides inputs and captures.
pub const BUILTINS: &[&str] = &["case", "now"];
/// Variables only a query's SQL may read.
pub const SQL_BUILTINS: &[&str] = &["table", "tables"];
/// The variable a capture expression reads the query result from.
pub const ROWS: &str = "rows";
/// The variable a record capture's `where` reads one row of the result from.
pub const ROW: &str = "row";

/// The variables a `for_each` action's templates read its item by.
pub const ITEM_VARS: &[&str] = &["item", "index"];

/// Names irp provides, which inputs and captures cannot take.
pub fn is_reserved(name: &str) -> bool {
    BUILTINS.contains(&name)
        || SQL_BUILTINS.contains(&name)
        || name == ROWS
        || name == ROW
        || ITEM_VARS.contains(&name)
}

/// Where a backend finds Security Lake tables.
#[derive(Debug, Clone)]
pub struct TableNaming {
    pub region: String,
    /// Security Lake source version, e.g. (2, 0).
    pub source_version: (u32, u32),
    /// The database, when it is not `amazon_security_lake_glue_db_<region>` (a Lake Formation
    /// resource link in a subscriber account, say).
    pub database: Option<String>,
    /// Tables the backend does not have (sources not collected): a query's other tables
    /// (`tables:`) among them read as empty relations with its primary table's columns.
    pub absent: Vec<LogicalTable>,
}

impl Default for TableNaming {
    fn default() -> Self {
        TableNaming {
            region: "us-east-1".to_owned(),
            source_version: (2, 0),
            database: None,
            absent: Vec::new(),
        }
    }
}

impl TableNaming {
    /// `"amazon_security_lake_glue_db_us_east_1"."amazon_security_lake_table_us_east_1_<src>_2_0"`.
    pub fn qualified(&self, table: LogicalTable) -> Value {
        self.ident(table)
            .map_or_else(|| Value::from(()), Value::from_object)
    }

    /// The database the tables are in.
    pub fn database(&self) -> String {
        self.database
            .clone()
            .unwrap_or_else(|| LogicalTable::database_name(&self.region))
    }

    fn ident(&self, table: LogicalTable) -> Option<SqlIdent> {
        let name = table.table_name(&self.region, self.source_version);
        SqlIdent::quoted_parts(&[&self.database(), &name])
    }
}

/// The value of one input as templates see it: timestamps resolved against `now`.
pub fn input_value(spec: &InputSpec, raw: &serde_json::Value, now: DateTime<Utc>) -> Value {
    let one = |ty: InputType, v: &serde_json::Value| -> Value {
        match (ty, v) {
            (InputType::Timestamp, serde_json::Value::String(s)) => match TimeSpec::parse(s) {
                Ok(t) => Value::from_object(SqlTimestamp(t.resolve(now))),
                Err(_) => value_from_json(v),
            },
            _ => value_from_json(v),
        }
    };
    match (spec.ty, raw) {
        (InputType::List, serde_json::Value::Array(items)) => {
            Value::from(items.iter().map(|i| one(spec.items, i)).collect::<Vec<_>>())
        }
        (ty, v) => one(ty, v),
    }
}

/// The sample context for step `step`: every input's example (or default), every capture's
/// example, the step's tables, and a fixed `now`. Variables without a sample are left out.
pub fn sample_context(pb: &Playbook, step: usize, now: DateTime<Utc>, naming: &TableNaming) -> Value {
    let mut vars: BTreeMap<String, Value> = BTreeMap::new();
    for (name, spec) in &pb.inputs {
        if let Some(v) = spec.example.as_ref().or(spec.default.as_ref()) {
            vars.insert(name.clone(), input_value(spec, v, now));
        }
    }
    for s in &pb.steps {
        if let StepKind::Query(q) = &s.kind {
            for (name, cap) in &q.captures {
                if let Some(ex) = &cap.example {
                    vars.insert(name.clone(), value_from_json(ex));
                }
            }
        }
    }
    if let StepKind::Query(q) = &pb.steps[step].kind {
        insert_tables(&mut vars, q, naming);
    }
    vars.insert("now".to_owned(), Value::from_object(SqlTimestamp(now)));
    let case: BTreeMap<String, Value> = [
        (
            "id".to_owned(),
            Value::from("00000000-0000-7000-8000-000000000000"),
        ),
        ("mode".to_owned(), Value::from("rehearsal")),
        ("not_collected".to_owned(), Value::from(Vec::<String>::new())),
        ("playbook".to_owned(), Value::from(pb.id.as_str())),
    ]
    .into_iter()
    .collect();
    vars.insert("case".to_owned(), Value::from(case));
    Value::from(vars)
}

/// A query's `table` and `tables.<name>` variables, named as `naming` says.
pub fn insert_tables(vars: &mut BTreeMap<String, Value>, q: &QueryStep, naming: &TableNaming) {
    vars.insert("table".to_owned(), naming.qualified(q.table));
    let tables: BTreeMap<String, Value> = q
        .tables
        .iter()
        .map(|t| {
            let v = if *t != q.table && naming.absent.contains(t) {
                naming.ident(q.table).map_or_else(
                    || Value::from(()),
                    |p| Value::from_object(SqlIdent::empty_like(&p)),
                )
            } else {
                naming.qualified(*t)
            };
            (t.as_str().to_owned(), v)
        })
        .collect();
    vars.insert("tables".to_owned(), Value::from(tables));
}

/// Every query of the playbook rendered with the sample context: what a reviewer pastes into the
/// Athena console, and what the SQL-parser check in the test suite reads.
pub fn sample_queries(
    pb: &Playbook,
    now: DateTime<Utc>,
    naming: &TableNaming,
) -> Vec<(String, Result<String, super::template::TemplateError>)> {
    pb.steps
        .iter()
        .enumerate()
        .filter_map(|(i, s)| match &s.kind {
            StepKind::Query(q) => {
                let ctx = sample_context(pb, i, now, naming);
                Some((s.id.clone(), super::template::render_sql(&q.sql, &ctx)))
            }
            _ => None,
        })
        .collect()
}

/// The input a case opened from a finding names it by.
pub const FINDING_ID: &str = "finding_id";

/// The SQL that reads finding `finding_id` into the inputs: the playbook's `from_finding.sql`
/// with `finding_id` (an input, so escaped as every input is) and `table` (Security Lake's
/// `sh_findings`, named as the backend names it). `None` when the playbook has no `from_finding`.
pub fn finding_sql(
    pb: &Playbook,
    finding_id: &str,
    naming: &TableNaming,
    now: DateTime<Utc>,
) -> Option<Result<String, super::template::TemplateError>> {
    let sql = pb.from_finding.as_ref()?;
    let raw = serde_json::Value::from(finding_id);
    let id = pb
        .inputs
        .get(FINDING_ID)
        .map_or_else(|| value_from_json(&raw), |spec| input_value(spec, &raw, now));
    let vars: BTreeMap<String, Value> = [
        (FINDING_ID.to_owned(), id),
        ("table".to_owned(), naming.qualified(LogicalTable::ShFindings)),
    ]
    .into_iter()
    .collect();
    Some(super::template::render_sql(sql, &Value::from(vars)))
}
