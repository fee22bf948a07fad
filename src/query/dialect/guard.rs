//! The scan guard: a query that reads a Security Lake table with no bound on `time_dt` or
//! `eventday` reads the whole lake, which on Athena costs money and minutes. The guard finds
//! such queries before they run; the caller warns, asks, or refuses (`unbounded` setting).

use std::ops::ControlFlow;

use datafusion::sql::parser::Statement as DfStatement;
use datafusion::sql::sqlparser::ast::{Expr, visit_expressions, visit_relations};

/// The Security Lake tables `sql` reads when nothing in the query mentions `time_dt` or
/// `eventday`; empty when the query is bounded or reads no lake table. A bound anywhere in the
/// query counts (a subquery's filter bounds the scan it feeds), so this is a guard against the
/// forgotten filter, not a proof of a small scan.
pub fn unbounded_lake_tables(sql: &str) -> Result<Vec<String>, String> {
    let statement = super::translate::parse(sql).map_err(|e| e.to_string())?;
    let DfStatement::Statement(stmt) = statement else {
        return Ok(Vec::new());
    };
    let mut tables = Vec::new();
    let _ = visit_relations(stmt.as_ref(), |name| {
        let last = name.0.last().map(ToString::to_string).unwrap_or_default();
        let last = last.trim_matches('"').to_ascii_lowercase();
        if last.starts_with("amazon_security_lake_table_") && !tables.contains(&last) {
            tables.push(last);
        }
        ControlFlow::<()>::Continue(())
    });
    if tables.is_empty() {
        return Ok(tables);
    }
    let bounded = visit_expressions(stmt.as_ref(), |e| {
        let name = match e {
            Expr::Identifier(i) => Some(i.value.to_ascii_lowercase()),
            Expr::CompoundIdentifier(parts) => parts.last().map(|i| i.value.to_ascii_lowercase()),
            _ => None,
        };
        if matches!(name.as_deref(), Some("time_dt" | "eventday")) {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    });
    Ok(if bounded.is_break() { Vec::new() } else { tables })
}
