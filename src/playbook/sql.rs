//! Athena SQL as the playbook language knows it: the grammar a query is read with (the embedded
//! engine's translation layer reads it the same way) and the names of the columns a query
//! returns, as Athena gives them, which captures read.

use datafusion::sql::sqlparser::ast::{Expr, Ident, Query, SelectItem, SetExpr};
use datafusion::sql::sqlparser::dialect::Dialect;
use datafusion::sql::sqlparser::parser::Parser;

/// Athena's SQL as sqlparser should read it: ANSI identifiers (so `user` in `actor.user.uid` is a
/// name, not the `USER` function of the generic and `PostgreSQL` dialects), Trino's lambdas
/// (`x -> x > 1`, which ANSI would read as a JSON arrow operator) and aggregates' `FILTER`.
#[derive(Debug, Default, Clone, Copy)]
pub struct Athena;

impl Dialect for Athena {
    fn is_identifier_start(&self, ch: char) -> bool {
        ch.is_ascii_alphabetic() || ch == '_'
    }

    fn is_identifier_part(&self, ch: char) -> bool {
        ch.is_ascii_alphanumeric() || ch == '_'
    }

    fn require_interval_qualifier(&self) -> bool {
        true
    }

    fn supports_nested_comments(&self) -> bool {
        true
    }

    fn supports_lambda_functions(&self) -> bool {
        true
    }

    /// `count(*) FILTER (WHERE …)`, as Trino has it.
    fn supports_filter_during_aggregation(&self) -> bool {
        true
    }
}

/// An identifier as Athena compares it: quoted ones exactly, others in lowercase.
pub fn normalized(ident: &Ident) -> String {
    if ident.quote_style.is_some() {
        ident.value.clone()
    } else {
        ident.value.to_ascii_lowercase()
    }
}

/// The name Athena gives the `i`th select item when it has no alias: a column or field reference
/// is named after its last part (`t.api.operation` → `operation`), any other expression
/// `_col<i>` (from 0). `None` for an item that names itself (an alias, a plain column) or
/// stands for several columns (`*`).
pub fn implicit_name(i: usize, item: &SelectItem) -> Option<Ident> {
    match item {
        SelectItem::UnnamedExpr(Expr::Identifier(_)) => None,
        SelectItem::UnnamedExpr(Expr::CompoundIdentifier(parts)) => parts.last().cloned(),
        SelectItem::UnnamedExpr(_) => Some(Ident::new(format!("_col{i}"))),
        _ => None,
    }
}

/// The columns `sql` (one query, templates already rendered) returns, named as Athena names
/// them, in order. `None` where that cannot be known without the tables: a `*`, or SQL that does
/// not parse (the run says why).
pub fn result_columns(sql: &str) -> Option<Vec<String>> {
    let query = Parser::new(&Athena).try_with_sql(sql).ok()?.parse_query().ok()?;
    columns_of_query(&query)
}

fn columns_of_query(query: &Query) -> Option<Vec<String>> {
    columns_of_body(&query.body)
}

fn columns_of_body(body: &SetExpr) -> Option<Vec<String>> {
    match body {
        SetExpr::Select(select) => select
            .projection
            .iter()
            .enumerate()
            .map(|(i, item)| match item {
                SelectItem::ExprWithAlias { alias, .. } => Some(normalized(alias)),
                SelectItem::UnnamedExpr(Expr::Identifier(id)) => Some(normalized(id)),
                _ => implicit_name(i, item).map(|id| normalized(&id)),
            })
            .collect(),
        SetExpr::Query(q) => columns_of_query(q),
        // A UNION's columns are named by its first part.
        SetExpr::SetOperation { left, .. } => columns_of_body(left),
        _ => None,
    }
}
