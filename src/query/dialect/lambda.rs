//! Trino's lambda forms: `any_match`, `all_match`, `none_match`, `filter` and `transform` with a
//! one-parameter lambda (`x -> x.name = 'SourceIp'`).
//!
//! `DataFusion` 55 has no lambdas. The translation layer rewrites `any_match(arr, x -> body)` to
//! `irp_any_match(arr, 'x', 'body')`; at run time the body is planned once per batch against a
//! one-column schema (the parameter, typed as the array's elements) and evaluated over all the
//! elements of the batch at once. A body may read only its parameter; anything else is an error
//! that says so.

use std::sync::{Arc, OnceLock};

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, BooleanBuilder, GenericListArray};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::{DFSchema, DataFusionError, ScalarValue};
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::prelude::{SessionConfig, SessionContext};

type Result<T> = datafusion::error::Result<T>;

/// The Trino functions that take a lambda, and the name each is rewritten to.
pub const FORMS: [(&str, &str); 5] = [
    ("any_match", "irp_any_match"),
    ("all_match", "irp_all_match"),
    ("none_match", "irp_none_match"),
    ("filter", "irp_filter"),
    ("transform", "irp_transform"),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Any,
    All,
    None,
    Filter,
    Transform,
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Lambda {
    kind: Kind,
    name: &'static str,
    signature: Signature,
}

/// The session lambda bodies are planned in: the same functions as queries, the same dialect.
fn planner() -> &'static SessionContext {
    static CTX: OnceLock<SessionContext> = OnceLock::new();
    CTX.get_or_init(|| {
        let config = SessionConfig::new().set_str("datafusion.sql_parser.dialect", "Ansi");
        let ctx = SessionContext::new_with_config(config);
        for f in super::functions() {
            ctx.register_udf(f);
        }
        ctx
    })
}

fn text_arg(scalar: Option<&ScalarValue>, what: &str) -> Result<String> {
    match scalar {
        Some(ScalarValue::Utf8(Some(s)) | ScalarValue::Utf8View(Some(s))) => Ok(s.clone()),
        _ => Err(DataFusionError::Plan(format!(
            "{what} of a lambda must be a literal"
        ))),
    }
}

fn element_field(list: &DataType, function: &str) -> Result<FieldRef> {
    match list {
        DataType::List(f) | DataType::LargeList(f) => Ok(f.clone()),
        other => Err(DataFusionError::Plan(format!(
            "{function} takes an array and a lambda, not {other}"
        ))),
    }
}

/// A planned lambda body and the one-column schema it reads.
type Planned = (Arc<dyn PhysicalExpr>, Arc<Schema>);

/// Plans `body` with `param` bound to the array's elements. A body is planned once per parameter,
/// text and element type, not once per batch.
fn plan_body(param: &str, body: &str, element: &FieldRef, function: &str) -> Result<Planned> {
    type Key = (String, String, DataType);
    static PLANNED: OnceLock<std::sync::Mutex<std::collections::HashMap<Key, Planned>>> = OnceLock::new();
    let cache = PLANNED.get_or_init(Default::default);
    let key = (param.to_owned(), body.to_owned(), element.data_type().clone());
    if let Some(planned) = cache.lock().ok().and_then(|c| c.get(&key).cloned()) {
        return Ok(planned);
    }
    let planned = plan_body_uncached(param, body, element, function)?;
    if let Ok(mut c) = cache.lock() {
        c.insert(key, planned.clone());
    }
    Ok(planned)
}

fn plan_body_uncached(param: &str, body: &str, element: &FieldRef, function: &str) -> Result<Planned> {
    let schema = Arc::new(Schema::new(vec![Field::new(
        param,
        element.data_type().clone(),
        true,
    )]));
    let df_schema = DFSchema::try_from(schema.as_ref().clone())?;
    let ctx = planner();
    let lambda_error = |e: DataFusionError| {
        DataFusionError::Plan(format!(
            "in the lambda `{param} -> {body}` of {function}: {e} (on the embedded engine a lambda reads only its parameter)"
        ))
    };
    let expr = ctx.parse_sql_expr(body, &df_schema).map_err(lambda_error)?;
    let physical = ctx.create_physical_expr(expr, &df_schema).map_err(lambda_error)?;
    Ok((physical, schema))
}

impl Lambda {
    fn new(kind: Kind, name: &'static str) -> Lambda {
        Lambda {
            kind,
            name,
            signature: Signature::any(3, Volatility::Immutable),
        }
    }

    fn trino_name(&self) -> &'static str {
        FORMS
            .iter()
            .find(|(_, ours)| *ours == self.name)
            .map_or(self.name, |(t, _)| t)
    }
}

impl ScalarUDFImpl for Lambda {
    fn name(&self) -> &'static str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Err(DataFusionError::Internal(format!(
            "{}: return_field_from_args is used",
            self.name
        )))
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let list = args.arg_fields[0].data_type();
        let out = match self.kind {
            Kind::Any | Kind::All | Kind::None => DataType::Boolean,
            Kind::Filter => {
                element_field(list, self.trino_name())?;
                list.clone()
            }
            Kind::Transform => {
                let element = element_field(list, self.trino_name())?;
                let param = text_arg(args.scalar_arguments[1], "the parameter")?;
                let body = text_arg(args.scalar_arguments[2], "the body")?;
                let (physical, schema) = plan_body(&param, &body, &element, self.trino_name())?;
                let t = physical.data_type(&schema)?;
                DataType::List(Arc::new(Field::new_list_field(t, true)))
            }
        };
        Ok(Arc::new(Field::new(self.name, out, true)))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let scalar = |i: usize| match &args.args[i] {
            ColumnarValue::Scalar(s) => Some(s),
            ColumnarValue::Array(_) => None,
        };
        let param = text_arg(scalar(1), "the parameter")?;
        let body = text_arg(scalar(2), "the body")?;
        let lists = args.args[0].to_array(rows)?;
        let out: ArrayRef = match lists.data_type() {
            DataType::List(_) => self.apply(lists.as_list::<i32>(), &param, &body)?,
            DataType::LargeList(_) => self.apply(lists.as_list::<i64>(), &param, &body)?,
            DataType::Null => Arc::new(BooleanArray::new_null(rows)),
            other => {
                return Err(DataFusionError::Plan(format!(
                    "{} takes an array and a lambda, not {other}",
                    self.trino_name()
                )));
            }
        };
        super::columnar(&args.args, out)
    }
}

impl Lambda {
    fn apply<O: datafusion::arrow::array::OffsetSizeTrait>(
        &self,
        lists: &GenericListArray<O>,
        param: &str,
        body: &str,
    ) -> Result<ArrayRef> {
        let (DataType::List(element) | DataType::LargeList(element)) = lists.data_type() else {
            unreachable!("apply is called on lists")
        };
        let (physical, schema) = plan_body(param, body, element, self.trino_name())?;
        // Only the elements the lists point at (a sliced list array shares a longer buffer).
        let offsets = lists.value_offsets();
        let first = offsets.first().map_or(0, |o| o.as_usize());
        let last = offsets.last().map_or(0, |o| o.as_usize());
        let values = lists.values().slice(first, last - first);
        let batch = RecordBatch::try_new(schema.clone(), vec![values.clone()])?;
        let evaluated = physical.evaluate(&batch)?.into_array(batch.num_rows())?;
        let range = |i: usize| (offsets[i].as_usize() - first, offsets[i + 1].as_usize() - first);
        match self.kind {
            Kind::Transform => {
                let field = Arc::new(Field::new_list_field(evaluated.data_type().clone(), true));
                let new_offsets = OffsetBuffer::<O>::new(
                    offsets
                        .iter()
                        .map(|o| O::usize_as(o.as_usize() - first))
                        .collect::<Vec<_>>()
                        .into(),
                );
                Ok(Arc::new(GenericListArray::<O>::try_new(
                    field,
                    new_offsets,
                    evaluated,
                    lists.nulls().cloned(),
                )?))
            }
            Kind::Filter => {
                let keep = evaluated.as_boolean_opt().ok_or_else(|| {
                    DataFusionError::Plan(format!("the lambda of filter must be a condition: `{body}`"))
                })?;
                let mut new_offsets = Vec::with_capacity(lists.len() + 1);
                let mut indices = Vec::new();
                new_offsets.push(O::usize_as(0));
                for i in 0..lists.len() {
                    let (a, b) = range(i);
                    for j in a..b {
                        if keep.is_valid(j) && keep.value(j) {
                            indices.push(
                                u32::try_from(j)
                                    .map_err(|_| DataFusionError::Execution("array too large".into()))?,
                            );
                        }
                    }
                    new_offsets.push(O::usize_as(indices.len()));
                }
                let taken = datafusion::arrow::compute::take(
                    &values,
                    &datafusion::arrow::array::UInt32Array::from(indices),
                    None,
                )?;
                Ok(Arc::new(GenericListArray::<O>::try_new(
                    element.clone(),
                    OffsetBuffer::new(new_offsets.into()),
                    taken,
                    lists.nulls().cloned(),
                )?))
            }
            Kind::Any | Kind::All | Kind::None => {
                let matched = evaluated.as_boolean_opt().ok_or_else(|| {
                    DataFusionError::Plan(format!(
                        "the lambda of {} must be a condition: `{body}`",
                        self.trino_name()
                    ))
                })?;
                let mut out = BooleanBuilder::with_capacity(lists.len());
                for i in 0..lists.len() {
                    if lists.is_null(i) {
                        out.append_null();
                        continue;
                    }
                    let (a, b) = range(i);
                    let (mut trues, mut falses, mut nulls) = (0usize, 0usize, 0usize);
                    for j in a..b {
                        if matched.is_null(j) {
                            nulls += 1;
                        } else if matched.value(j) {
                            trues += 1;
                        } else {
                            falses += 1;
                        }
                    }
                    // Trino's three-valued answers.
                    let value = match self.kind {
                        Kind::Any if trues > 0 => Some(true),
                        Kind::All if falses > 0 => Some(false),
                        Kind::None if trues > 0 => Some(false),
                        _ if nulls > 0 => None,
                        Kind::Any => Some(false),
                        _ => Some(true),
                    };
                    out.append_option(value);
                }
                Ok(Arc::new(out.finish()))
            }
        }
    }
}

pub fn functions() -> Vec<ScalarUDF> {
    vec![
        ScalarUDF::from(Lambda::new(Kind::Any, "irp_any_match")),
        ScalarUDF::from(Lambda::new(Kind::All, "irp_all_match")),
        ScalarUDF::from(Lambda::new(Kind::None, "irp_none_match")),
        ScalarUDF::from(Lambda::new(Kind::Filter, "irp_filter")),
        ScalarUDF::from(Lambda::new(Kind::Transform, "irp_transform")),
    ]
}
