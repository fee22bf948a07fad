//! The translation layer: Athena (Trino) SQL is parsed once, rewritten where `DataFusion` spells a
//! thing differently, and planned. The query text a responder wrote is never edited; rewrites work
//! on the syntax tree, so a value inside a literal can never be mistaken for SQL.
//!
//! Rewrites (docs/sql-dialect.md has the user's view):
//! - UNNEST in FROM (`CROSS JOIN`, comma, `JOIN … ON TRUE`, several arrays, `WITH ORDINALITY`,
//!   rows expanded into columns) → a derived table projecting `unnest(…)`;
//! - unnamed select items → Athena's names (`operation`, `_col1`);
//! - `count_if`, `arbitrary`, `contains` (arrays and CIDRs), `TRY`, and the lambda forms
//!   (`any_match`, `all_match`, `none_match`, `filter`, `transform`) → `DataFusion` expressions or
//!   the functions of `trino`, `trino_time`, `lambda` and `ip`;
//! - a field of an expression's result, `element_at(resources, 1).uid` → `get_field(…, 'uid')`.
//!
//! What no rewrite takes and `DataFusion` would misread or reject without a position (other
//! lambdas, `IPADDRESS` outside `contains`) is refused here with its line and column.

use std::ops::ControlFlow;

use datafusion::sql::parser::Statement as DfStatement;
use datafusion::sql::sqlparser::ast::{
    AccessExpr, BinaryOperator, CastKind, DataType, Expr, FunctionArg, FunctionArgExpr, FunctionArguments,
    Ident, Join, JoinConstraint, JoinOperator, LambdaFunctionParameter, ObjectName, OneOrManyWithParens,
    OrderBy, OrderByKind, Query, Select, SelectItem, SetExpr, Spanned, TableAlias, TableFactor,
    TableWithJoins, Value, VisitMut, VisitorMut, visit_expressions, visit_expressions_mut,
};
use datafusion::sql::sqlparser::tokenizer::Span;

use super::lambda;
use super::trino::ROW_FIELD;
use crate::playbook::sql::{Athena, implicit_name, normalized};
use datafusion::sql::sqlparser::parser::Parser;

/// Parses one statement of Athena SQL.
pub fn parse(sql: &str) -> Result<DfStatement, datafusion::error::DataFusionError> {
    let mut statements = datafusion::sql::parser::DFParserBuilder::new(sql)
        .with_dialect(&Athena)
        .build()?
        .parse_statements()?;
    if statements.len() > 1 {
        return Err(datafusion::error::DataFusionError::Plan(
            "one statement at a time: remove the text after the first `;`".to_owned(),
        ));
    }
    statements
        .pop_front()
        .ok_or_else(|| datafusion::error::DataFusionError::Plan("the query is empty".to_owned()))
}

/// Rewrites a parsed statement in place. An error names the construct and what to write.
pub fn rewrite(statement: &mut DfStatement) -> Result<(), String> {
    // `EXPLAIN` wraps the statement it plans: that one is rewritten like any other.
    if let DfStatement::Explain(explain) = statement {
        return rewrite(&mut explain.statement);
    }
    let DfStatement::Statement(stmt) = statement else {
        return Ok(());
    };
    if let ControlFlow::Break(message) = stmt.visit(&mut Unnests) {
        return Err(message);
    }
    let flow = visit_expressions_mut(stmt.as_mut(), |expr| match rewrite_expr(expr) {
        Ok(()) => ControlFlow::Continue(()),
        Err(message) => ControlFlow::Break(message),
    });
    if let ControlFlow::Break(message) = flow {
        return Err(message);
    }
    let _ = stmt.visit(&mut JsonPrefilters);
    // What no rewrite took is refused here, with its position, rather than left to a planner
    // error that cannot say where it is.
    let flow = visit_expressions(stmt.as_ref(), |expr| match expr {
        Expr::Function(f) if arg_exprs(f).flatten().any(|a| matches!(a, Expr::Lambda(_))) => {
            ControlFlow::Break(format!(
                "`{f}` {}: on the embedded engine lambdas run in any_match, all_match, none_match, filter and transform",
                position(f.span())
            ))
        }
        Expr::Lambda(l) => ControlFlow::Break(format!(
            "the lambda `{l}` {}: on the embedded engine lambdas run in any_match, all_match, none_match, filter and transform",
            position(expr.span())
        )),
        Expr::Cast { data_type, .. } if is_ipaddress(data_type) => ControlFlow::Break(format!(
            "`{expr}` {}: IPADDRESS runs on the embedded engine only inside contains(cidr, CAST(ip AS IPADDRESS))",
            position(expr.span())
        )),
        _ => ControlFlow::Continue(()),
    });
    match flow {
        ControlFlow::Break(message) => Err(message),
        ControlFlow::Continue(()) => Ok(()),
    }
}

/// Rewrites one expression whose children are already rewritten (the visit is bottom-up).
fn rewrite_expr(expr: &mut Expr) -> Result<(), String> {
    if let Expr::CompoundFieldAccess { root, access_chain } = expr
        && !matches!(root.as_ref(), Expr::Identifier(_) | Expr::CompoundIdentifier(_))
        && access_chain
            .iter()
            .all(|a| matches!(a, AccessExpr::Dot(Expr::Identifier(_))))
    {
        let mut text = root.to_string();
        for a in access_chain.iter() {
            if let AccessExpr::Dot(Expr::Identifier(ident)) = a {
                text = format!("get_field({text}, {})", quoted(&ident.value));
            }
        }
        *expr = reparse(&text).map_err(|e| format!("`{text}` cannot be rewritten: {e}"))?;
        return Ok(());
    }
    let Expr::Function(f) = expr else {
        return Ok(());
    };
    let at = position(f.span());
    let name = f.name.to_string().to_ascii_lowercase();
    let written = f.to_string();
    let args = plain_args(f);
    let simple = f.filter.is_none() && f.over.is_none() && f.within_group.is_empty();
    // Built by parsing printed SQL: the printer quotes literals exactly as the parser read them,
    // so a value inside a literal stays a value.
    let text = match name.as_str() {
        "count_if" => {
            let Some([arg]) = args.as_deref() else {
                return Err(format!(
                    "`{written}` {at}: count_if takes one condition: count_if(x > 1)"
                ));
            };
            if !simple {
                return Err(format!(
                    "`{written}` {at}: count_if with FILTER or OVER is not supported by the embedded engine"
                ));
            }
            format!("count(CASE WHEN {arg} THEN 1 END)")
        }
        "arbitrary" => {
            let Some([arg]) = args.as_deref() else {
                return Err(format!("`{written}` {at}: arbitrary takes one value"));
            };
            if !simple {
                return Err(format!(
                    "`{written}` {at}: arbitrary with FILTER or OVER is not supported by the embedded engine"
                ));
            }
            // Any non-NULL value of the group, as Trino's; the first one met.
            format!("first_value({arg}) IGNORE NULLS")
        }
        "contains" => {
            let Some([container, element]) = args.as_deref() else {
                return Err(format!(
                    "`{written}` {at}: contains takes (array, value) or (cidr, CAST(ip AS IPADDRESS))"
                ));
            };
            let mut inner: &Expr = element;
            while let Expr::Nested(e) = inner {
                inner = e;
            }
            match inner {
                Expr::Cast {
                    kind,
                    expr: ip,
                    data_type,
                    ..
                } if is_ipaddress(data_type) => {
                    let function = if matches!(kind, CastKind::TryCast) {
                        "irp_try_cidr_contains"
                    } else {
                        "irp_cidr_contains"
                    };
                    format!("{function}({container}, {ip})")
                }
                // Trino's contains is for arrays only (a string test is strpos or LIKE).
                _ => format!("array_has({container}, {element})"),
            }
        }
        "try" => {
            let Some([arg]) = args.as_deref() else {
                return Err(format!("`{written}` {at}: TRY takes one expression"));
            };
            let mut inner = (*arg).clone();
            let _ = visit_expressions_mut(&mut inner, |e| {
                make_tolerant(e);
                ControlFlow::<()>::Continue(())
            });
            format!("({inner})")
        }
        lambda if lambda::FORMS.iter().any(|(t, _)| *t == lambda) => {
            let ours = lambda::FORMS
                .iter()
                .find(|(t, _)| *t == lambda)
                .map_or(lambda, |(_, o)| *o);
            let Some([array, Expr::Lambda(l)]) = args.as_deref() else {
                return Err(format!(
                    "`{written}` {at}: {lambda} takes an array and a lambda: {lambda}(arr, x -> …)"
                ));
            };
            let params: Vec<&LambdaFunctionParameter> = match &l.params {
                OneOrManyWithParens::One(p) => vec![p],
                OneOrManyWithParens::Many(ps) => ps.iter().collect(),
            };
            let [param] = params.as_slice() else {
                return Err(format!(
                    "`{written}` {at}: the lambda of {lambda} takes one parameter"
                ));
            };
            format!(
                "{ours}({array}, {}, {})",
                quoted(&param.name.value),
                quoted(&l.body.to_string())
            )
        }
        _ => return Ok(()),
    };
    *expr = reparse(&text).map_err(|e| format!("`{written}` {at} cannot be rewritten: {e}"))?;
    Ok(())
}

/// Puts the JSON prefilter in front of the comparisons of `WHERE` and `HAVING` that it cannot
/// change: those reached from the clause through `AND`, `OR` and parentheses only, where a false
/// and a NULL both drop the row. Under `NOT`, in a `CASE` or in the select list, a NULL (the
/// path is missing) and a false (another value) differ, and only the comparison itself can tell
/// them apart.
struct JsonPrefilters;

impl VisitorMut for JsonPrefilters {
    type Break = ();

    fn post_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        fn body(set: &mut SetExpr) {
            match set {
                SetExpr::Select(select) => {
                    for clause in [&mut select.selection, &mut select.having].into_iter().flatten() {
                        guard(clause);
                    }
                }
                SetExpr::SetOperation { left, right, .. } => {
                    body(left);
                    body(right);
                }
                // Nested queries are visited on their own.
                _ => {}
            }
        }
        fn guard(expr: &mut Expr) {
            match expr {
                Expr::BinaryOp {
                    left,
                    op: BinaryOperator::And | BinaryOperator::Or,
                    right,
                } => {
                    guard(left);
                    guard(right);
                }
                Expr::Nested(inner) => guard(inner),
                _ => {
                    if let Some(guarded) = json_prefilter(expr) {
                        *expr = guarded;
                    }
                }
            }
        }
        body(query.body.as_mut());
        ControlFlow::Continue(())
    }
}

/// `json_extract_scalar(j, path) = 'v'` → `irp_json_scalar_is(j, path, 'v')`: rows whose text
/// cannot hold the value are rejected by a substring search before any JSON is parsed (see
/// `irp_json_scalar_is`). The playbooks' bucket filters are of this form. Where a false and a
/// NULL differ this would change the answer, so only `JsonPrefilters` calls it.
fn json_prefilter(expr: &Expr) -> Option<Expr> {
    let Expr::BinaryOp {
        left,
        op: BinaryOperator::Eq,
        right,
    } = expr
    else {
        return None;
    };
    let ((Expr::Function(call), Expr::Value(value)) | (Expr::Value(value), Expr::Function(call))) =
        (left.as_ref(), right.as_ref())
    else {
        return None;
    };
    let Value::SingleQuotedString(text) = &value.value else {
        return None;
    };
    if !call.name.to_string().eq_ignore_ascii_case("json_extract_scalar") || text.is_empty() {
        return None;
    }
    let args = plain_args(call);
    let Some([json, path @ Expr::Value(literal)]) = args.as_deref() else {
        return None;
    };
    if !matches!(literal.value, Value::SingleQuotedString(_)) {
        return None;
    }
    reparse(&format!("irp_json_scalar_is({json}, {path}, {})", quoted(text))).ok()
}

/// A function's arguments, each `None` when it is not a plain expression (`name => value`, `*`).
fn arg_exprs(f: &datafusion::sql::sqlparser::ast::Function) -> impl Iterator<Item = Option<&Expr>> {
    let args = match &f.args {
        FunctionArguments::List(list) => list.args.as_slice(),
        _ => &[],
    };
    args.iter().map(|a| match a {
        FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e),
        _ => None,
    })
}

/// A function's arguments when they are all plain expressions and not `DISTINCT`.
fn plain_args(f: &datafusion::sql::sqlparser::ast::Function) -> Option<Vec<&Expr>> {
    match &f.args {
        FunctionArguments::List(list) if list.duplicate_treatment.is_some() => None,
        _ => arg_exprs(f).collect(),
    }
}

/// Inside TRY(…): what would fail on bad data gives NULL instead.
fn make_tolerant(expr: &mut Expr) {
    match expr {
        Expr::Cast { kind, .. } if matches!(kind, CastKind::Cast | CastKind::DoubleColon) => {
            *kind = CastKind::TryCast;
        }
        Expr::Function(f) => {
            let name = f.name.to_string().to_ascii_lowercase();
            let tolerant = match name.as_str() {
                "date_parse" => "irp_try_date_parse",
                "from_iso8601_timestamp" => "irp_try_from_iso8601_timestamp",
                "irp_cidr_contains" => "irp_try_cidr_contains",
                _ => return,
            };
            f.name = ObjectName::from(vec![Ident::new(tolerant)]);
        }
        Expr::BinaryOp {
            op: BinaryOperator::Divide | BinaryOperator::Modulo,
            right,
            ..
        } => {
            if let Ok(guarded) = reparse(&format!("nullif({right}, 0)")) {
                **right = guarded;
            }
        }
        _ => {}
    }
}

fn is_ipaddress(data_type: &DataType) -> bool {
    data_type.to_string().eq_ignore_ascii_case("ipaddress")
}

/// A SQL string literal.
fn quoted(text: &str) -> String {
    Value::SingleQuotedString(text.to_owned()).to_string()
}

/// Parses an expression printed from the tree (the printer quotes literals as the parser read
/// them, so a value never turns into SQL).
fn reparse(text: &str) -> Result<Expr, datafusion::sql::sqlparser::parser::ParserError> {
    Parser::new(&Athena).try_with_sql(text)?.parse_expr()
}

/// The UNNEST rewrite (Trino's `CROSS JOIN UNNEST(…) AS u(x)` and `, UNNEST(…)`), applied to
/// every query, innermost first.
struct Unnests;

impl VisitorMut for Unnests {
    type Break = String;

    fn post_visit_query(&mut self, query: &mut Query) -> ControlFlow<String> {
        let renames = match query.body.as_mut() {
            SetExpr::Select(select) => match rewrite_select_unnests(select) {
                Ok(r) => {
                    athena_names(select);
                    r
                }
                Err(e) => return ControlFlow::Break(e),
            },
            other => {
                if let Err(e) = rewrite_set_unnests(other) {
                    return ControlFlow::Break(e);
                }
                Vec::new()
            }
        };
        if !renames.is_empty()
            && let Some(order_by) = query.order_by.as_mut()
        {
            let _ = visit_expressions_mut(order_by, |e| {
                rename_qualifier(e, &renames);
                ControlFlow::<()>::Continue(())
            });
        }
        distinct_order_by_output(query);
        ControlFlow::Continue(())
    }
}

/// `SELECT DISTINCT t.api.operation … ORDER BY t.api.operation`: `DataFusion` does not match a
/// nested field in ORDER BY with the same field in a DISTINCT select list, so an ORDER BY
/// expression that repeats a select item orders by that output column instead (same meaning).
fn distinct_order_by_output(query: &mut Query) {
    let SetExpr::Select(select) = query.body.as_ref() else {
        return;
    };
    if select.distinct.is_none() {
        return;
    }
    let Some(OrderBy {
        kind: OrderByKind::Expressions(exprs),
        ..
    }) = query.order_by.as_mut()
    else {
        return;
    };
    for order in exprs.iter_mut() {
        let output = select.projection.iter().find_map(|item| match item {
            SelectItem::ExprWithAlias { expr, alias } if *expr == order.expr => Some(alias.clone()),
            _ => None,
        });
        if let Some(alias) = output {
            order.expr = Expr::Identifier(alias);
        }
    }
}

/// The selects of a `UNION` / `INTERSECT` / `EXCEPT`.
fn rewrite_set_unnests(set: &mut SetExpr) -> Result<(), String> {
    match set {
        SetExpr::Select(select) => {
            rewrite_select_unnests(select)?;
            athena_names(select);
            Ok(())
        }
        SetExpr::SetOperation { left, right, .. } => {
            rewrite_set_unnests(left)?;
            rewrite_set_unnests(right)
        }
        _ => Ok(()),
    }
}

/// An UNNEST in a FROM clause, as written.
struct Unnest {
    arrays: Vec<Expr>,
    ordinality: bool,
    alias: Option<TableAlias>,
    /// `UNNEST(…)` as written, for messages.
    text: String,
    /// `line L, column C` of the UNNEST.
    at: String,
}

fn position(span: Span) -> String {
    if span.start.line == 0 {
        "in the query".to_owned()
    } else {
        format!("at line {}, column {}", span.start.line, span.start.column)
    }
}

/// The UNNEST a table factor is, if it is one: sqlparser's ANSI dialect reads `UNNEST(x)` as a
/// table function named UNNEST, its BigQuery/PostgreSQL dialects as `TableFactor::UNNEST`.
fn as_unnest(factor: &TableFactor) -> Result<Option<Unnest>, String> {
    let at = position(factor.span());
    let text = factor.to_string();
    match factor {
        TableFactor::Table {
            name,
            args: Some(args),
            alias,
            with_ordinality,
            ..
        } if name.0.len() == 1
            && name.0[0]
                .as_ident()
                .is_some_and(|i| i.quote_style.is_none() && i.value.eq_ignore_ascii_case("unnest")) =>
        {
            let mut arrays = Vec::new();
            for a in &args.args {
                match a {
                    FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => arrays.push(e.clone()),
                    _ => {
                        return Err(format!(
                            "`{text}` {at}: UNNEST takes arrays, e.g. UNNEST(resources)"
                        ));
                    }
                }
            }
            if arrays.is_empty() {
                return Err(format!("`{text}` {at}: UNNEST needs at least one array"));
            }
            Ok(Some(Unnest {
                arrays,
                ordinality: *with_ordinality,
                alias: alias.clone(),
                text,
                at,
            }))
        }
        TableFactor::UNNEST {
            alias,
            array_exprs,
            with_offset,
            with_ordinality,
            ..
        } => {
            if *with_offset {
                return Err(format!(
                    "`{text}` {at}: WITH OFFSET is BigQuery's; Athena writes WITH ORDINALITY"
                ));
            }
            Ok(Some(Unnest {
                arrays: array_exprs.clone(),
                ordinality: *with_ordinality,
                alias: alias.clone(),
                text,
                at,
            }))
        }
        _ => Ok(None),
    }
}

/// The name a relation's columns are qualified with.
fn relation_alias(factor: &TableFactor) -> Option<Ident> {
    match factor {
        TableFactor::Table { alias: Some(a), .. } | TableFactor::Derived { alias: Some(a), .. } => {
            Some(a.name.clone())
        }
        TableFactor::Table {
            name, alias: None, ..
        } => name.0.last().and_then(|p| p.as_ident()).cloned(),
        _ => None,
    }
}

/// Whether a join to an UNNEST keeps every row of both sides (`CROSS JOIN`, `,`, or
/// `[INNER] JOIN … ON TRUE`).
fn is_cross(op: &JoinOperator) -> bool {
    let on_true = |c: &JoinConstraint| match c {
        JoinConstraint::None => true,
        JoinConstraint::On(Expr::Value(v)) => matches!(v.value, Value::Boolean(true)),
        _ => false,
    };
    match op {
        JoinOperator::CrossJoin(c) | JoinOperator::Join(c) | JoinOperator::Inner(c) => on_true(c),
        _ => false,
    }
}

/// Rewrites the UNNESTs of one SELECT's FROM clause. `t CROSS JOIN UNNEST(a) AS u(x)` becomes
/// `(SELECT t.*, unnest(a) AS x FROM t) AS t`, which `DataFusion` plans; references to `u.x`
/// become `t.x`. Returns those renames.
fn rewrite_select_unnests(select: &mut Select) -> Result<Vec<(Ident, Ident)>, String> {
    let mut any = false;
    for twj in &select.from {
        any |= as_unnest(&twj.relation)?.is_some();
        for j in &twj.joins {
            any |= as_unnest(&j.relation)?.is_some();
        }
    }
    if !any {
        return Ok(Vec::new());
    }
    // The FROM clause as one chain: `a, b` is `a CROSS JOIN b`.
    let mut chain: Vec<(TableFactor, JoinOperator)> = Vec::new();
    for twj in std::mem::take(&mut select.from) {
        chain.push((twj.relation, JoinOperator::CrossJoin(JoinConstraint::None)));
        for j in twj.joins {
            chain.push((j.relation, j.join_operator));
        }
    }
    let mut renames = Vec::new();
    let mut chain = chain.into_iter();
    let Some((first, _)) = chain.next() else {
        return Ok(Vec::new());
    };
    let mut current = match as_unnest(&first)? {
        Some(u) => {
            let alias = unnest_alias(&u)?;
            unnest_relation(None, &alias, &u)?
        }
        None => first,
    };
    let mut joins: Vec<Join> = Vec::new();
    for (factor, op) in chain {
        let Some(u) = as_unnest(&factor)? else {
            joins.push(Join {
                relation: factor,
                global: false,
                join_operator: op,
            });
            continue;
        };
        if !is_cross(&op) {
            return Err(format!(
                "`{}` {}: only CROSS JOIN UNNEST, `, UNNEST` and JOIN UNNEST … ON TRUE run on the embedded engine \
                 (LEFT JOIN UNNEST is not supported yet)",
                u.text, u.at
            ));
        }
        if !joins.is_empty() {
            return Err(format!(
                "`{}` {}: the embedded engine unnests only right after a single table; \
                 join in a subquery or WITH clause first, then UNNEST its result",
                u.text, u.at
            ));
        }
        // An un-aliased table (`FROM "db"."t" CROSS JOIN UNNEST(…)`, as AWS's Security Lake
        // examples write it) is given its own name as an alias: the derived table selects
        // `t.*`, which DataFusion resolves only against an alias or the reference as written.
        if let TableFactor::Table {
            name,
            alias: alias @ None,
            ..
        } = &mut current
            && let Some(last) = name.0.last().and_then(|p| p.as_ident()).cloned()
        {
            *alias = Some(TableAlias {
                explicit: true,
                name: last,
                columns: Vec::new(),
                at: None,
            });
        }
        let Some(left_alias) = relation_alias(&current) else {
            return Err(format!(
                "`{}` {}: give the relation before it an alias (`FROM (…) AS t CROSS JOIN UNNEST(…)`)",
                u.text, u.at
            ));
        };
        let own = unnest_alias(&u)?;
        if normalized(&own) != normalized(&left_alias) {
            renames.push((own, left_alias.clone()));
        }
        current = unnest_relation(Some(&current), &left_alias, &u)?;
    }
    select.from = vec![TableWithJoins {
        relation: current,
        joins,
    }];
    if !renames.is_empty() {
        let _ = visit_expressions_mut(select, |e| {
            rename_qualifier(e, &renames);
            ControlFlow::<()>::Continue(())
        });
    }
    Ok(renames)
}

/// `u.x.f` → `t.x.f` for each rename `(u, t)`.
fn rename_qualifier(expr: &mut Expr, renames: &[(Ident, Ident)]) {
    if let Expr::CompoundIdentifier(parts) = expr
        && parts.len() >= 2
        && let Some((_, to)) = renames
            .iter()
            .find(|(from, _)| normalized(from) == normalized(&parts[0]))
    {
        parts[0] = to.clone();
    }
}

fn unnest_alias(u: &Unnest) -> Result<Ident, String> {
    match &u.alias {
        Some(a) if !a.columns.is_empty() => Ok(a.name.clone()),
        _ => Err(format!(
            "`{}` {}: name the columns UNNEST gives, as Athena needs too: `UNNEST(resources) AS t(r)`",
            u.text, u.at
        )),
    }
}

/// The derived table that stands for `left CROSS JOIN UNNEST(…)`, aliased `alias`.
fn unnest_relation(left: Option<&TableFactor>, alias: &Ident, u: &Unnest) -> Result<TableFactor, String> {
    let columns: Vec<&Ident> = u
        .alias
        .as_ref()
        .map(|a| a.columns.iter().map(|c| &c.name).collect())
        .unwrap_or_default();
    let arrays = u.arrays.len();
    let ordinal = usize::from(u.ordinality);
    let mut items: Vec<String> = Vec::new();
    if columns.len() == arrays + ordinal {
        for (array, column) in u.arrays.iter().zip(&columns) {
            items.push(format!("unnest({array}) AS {column}"));
        }
    } else if arrays == 1 && columns.len() > 1 + ordinal {
        // Trino's expansion of an array of rows into one column per field.
        let fields = columns.len() - ordinal;
        let text = Value::SingleQuotedString(format!("`{}` {}", u.text, u.at));
        for (i, column) in columns.iter().take(fields).enumerate() {
            items.push(format!(
                "{ROW_FIELD}(unnest({}), {}, {fields}, {text}) AS {column}",
                u.arrays[0],
                i + 1
            ));
        }
    } else {
        return Err(format!(
            "`{}` {}: {} array(s){} name {} column(s); name one column per array{}, \
             or one per field of an array of rows",
            u.text,
            u.at,
            arrays,
            if u.ordinality { " WITH ORDINALITY" } else { "" },
            columns.len(),
            if u.ordinality {
                " plus one for the ordinal"
            } else {
                ""
            },
        ));
    }
    if u.ordinality {
        let longest = if arrays == 1 {
            format!("cardinality({})", u.arrays[0])
        } else {
            let all: Vec<String> = u.arrays.iter().map(|a| format!("cardinality({a})")).collect();
            format!("greatest({})", all.join(", "))
        };
        let Some(column) = columns.last() else {
            return Err(format!(
                "`{}` {}: WITH ORDINALITY needs a column name for the ordinal",
                u.text, u.at
            ));
        };
        items.push(format!("unnest(generate_series(1, {longest})) AS {column}"));
    }
    let text = match &left {
        Some(left) => format!("SELECT {alias}.*, {} FROM {left}", items.join(", ")),
        None => format!("SELECT {}", items.join(", ")),
    };
    let subquery = Parser::new(&Athena)
        .try_with_sql(&text)
        .and_then(|mut p| p.parse_query())
        .map_err(|e| format!("`{}` {} cannot be rewritten: {e}", u.text, u.at))?;
    Ok(TableFactor::Derived {
        lateral: false,
        subquery,
        alias: Some(TableAlias {
            explicit: true,
            name: alias.clone(),
            columns: Vec::new(),
            at: None,
        }),
        sample: None,
    })
}

/// Names unnamed columns as Athena does, so a playbook's captures read the same column names on
/// both backends: a column or field reference is named after its last part (`t.api.operation`
/// → `operation`), any other expression `_col<i>` (from 0). A name that would repeat another
/// column's is left to `DataFusion`.
fn athena_names(select: &mut Select) {
    let mut taken: Vec<String> = select
        .projection
        .iter()
        .filter_map(|item| match item {
            SelectItem::ExprWithAlias { alias, .. } => Some(normalized(alias)),
            SelectItem::UnnamedExpr(Expr::Identifier(i)) => Some(normalized(i)),
            _ => None,
        })
        .collect();
    for (i, item) in select.projection.iter_mut().enumerate() {
        let Some(name) = implicit_name(i, item) else {
            continue;
        };
        let SelectItem::UnnamedExpr(expr) = item else {
            continue;
        };
        let key = normalized(&name);
        if taken.contains(&key) {
            continue;
        }
        taken.push(key);
        *item = SelectItem::ExprWithAlias {
            expr: expr.clone(),
            alias: name,
        };
    }
}
