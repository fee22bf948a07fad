//! The Athena (Trino) dialect on the embedded engine: the SQL is parsed and its syntax tree
//! rewritten (`translate`) into forms `DataFusion` plans, with functions that keep Trino's
//! semantics (`trino`, `trino_time`, `lambda`, `ip`, `json_path`); `guard` finds queries that
//! would read a whole Security Lake table.

pub mod guard;
pub mod ip;
pub mod json_path;
pub mod lambda;
pub mod translate;
pub mod trino;
pub mod trino_time;

/// Every function the translation layer adds to `DataFusion`, to register on a session.
pub fn functions() -> Vec<datafusion::logical_expr::ScalarUDF> {
    let mut all = trino::functions();
    all.extend(trino_time::functions());
    all.extend(lambda::functions());
    all.extend(ip::functions());
    all
}

/// A function's result: a scalar when every argument was a scalar, else the array.
pub(crate) fn columnar(
    args: &[datafusion::logical_expr::ColumnarValue],
    array: datafusion::arrow::array::ArrayRef,
) -> datafusion::error::Result<datafusion::logical_expr::ColumnarValue> {
    use datafusion::logical_expr::ColumnarValue;
    if args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_))) {
        Ok(ColumnarValue::Scalar(
            datafusion::common::ScalarValue::try_from_array(&array, 0)?,
        ))
    } else {
        Ok(ColumnarValue::Array(array))
    }
}
