//! The translation layer: Athena (Trino) SQL is parsed once, rewritten where `DataFusion` spells a
//! thing differently, and planned. The query text a responder wrote is never edited; rewrites work
//! on the syntax tree, so a value inside a literal can never be mistaken for SQL.
//!
//! Rewrites so far:
//! - `count_if(cond)` → `count(CASE WHEN cond THEN 1 END)`;
//! - a field of an expression's result, `element_at(resources, 1).uid` →
//!   `get_field(element_at(resources, 1), 'uid')` (`DataFusion` reads dots only after names).

use std::ops::ControlFlow;

use datafusion::sql::parser::Statement as DfStatement;
use datafusion::sql::sqlparser::ast::{
    AccessExpr, Expr, FunctionArg, FunctionArgExpr, FunctionArguments, visit_expressions_mut,
};
use datafusion::sql::sqlparser::dialect::AnsiDialect;
use datafusion::sql::sqlparser::parser::Parser;

/// Rewrites a parsed statement in place. An error names the construct and what to write.
pub fn rewrite(statement: &mut DfStatement) -> Result<(), String> {
    let DfStatement::Statement(stmt) = statement else {
        return Ok(());
    };
    let flow = visit_expressions_mut(stmt.as_mut(), |expr| {
        if let Expr::CompoundFieldAccess { root, access_chain } = expr
            && !matches!(root.as_ref(), Expr::Identifier(_) | Expr::CompoundIdentifier(_))
            && access_chain
                .iter()
                .all(|a| matches!(a, AccessExpr::Dot(Expr::Identifier(_))))
        {
            let mut text = root.to_string();
            for a in access_chain.iter() {
                if let AccessExpr::Dot(Expr::Identifier(ident)) = a {
                    text = format!("get_field({text}, '{}')", ident.value.replace('\'', "''"));
                }
            }
            return match reparse(&text) {
                Ok(new) => {
                    *expr = new;
                    ControlFlow::Continue(())
                }
                Err(e) => ControlFlow::Break(format!("`{text}` cannot be rewritten: {e}")),
            };
        }
        let Expr::Function(f) = expr else {
            return ControlFlow::Continue(());
        };
        let name = f.name.to_string().to_ascii_lowercase();
        if name != "count_if" {
            return ControlFlow::Continue(());
        }
        let arg = match &f.args {
            FunctionArguments::List(list) if list.args.len() == 1 && list.duplicate_treatment.is_none() => {
                match &list.args[0] {
                    FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => e.clone(),
                    _ => {
                        return ControlFlow::Break(
                            "count_if takes one condition: count_if(x > 1)".to_owned(),
                        );
                    }
                }
            }
            _ => return ControlFlow::Break("count_if takes one condition: count_if(x > 1)".to_owned()),
        };
        if f.filter.is_some() || f.over.is_some() {
            return ControlFlow::Break(
                "count_if with FILTER or OVER is not supported by the embedded engine".to_owned(),
            );
        }
        // Built by parsing, from the printed condition: the printer quotes literals exactly as
        // the parser read them.
        let text = format!("count(CASE WHEN {arg} THEN 1 END)");
        match reparse(&text) {
            Ok(new) => {
                *expr = new;
                ControlFlow::Continue(())
            }
            Err(e) => ControlFlow::Break(format!("count_if({arg}) cannot be rewritten: {e}")),
        }
    });
    match flow {
        ControlFlow::Break(message) => Err(message),
        ControlFlow::Continue(()) => Ok(()),
    }
}

/// Parses an expression printed from the tree (the printer quotes literals as the parser read
/// them, so a value never turns into SQL).
fn reparse(text: &str) -> Result<Expr, datafusion::sql::sqlparser::parser::ParserError> {
    Parser::new(&AnsiDialect {}).try_with_sql(text)?.parse_expr()
}
