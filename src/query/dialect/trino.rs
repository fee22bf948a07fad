//! Trino functions the embedded engine adds to `DataFusion`, with Trino's semantics. So far:
//! `json_extract_scalar(json, path)`, `json_extract(json, path)`, `element_at`,
//! `regexp_extract`, `date_add` and `from_iso8601_timestamp`.
//!
//! JSON paths: `$`, `.key`, `["key"]` / `['key']`, `[n]` (Trino's subset that playbooks use).
//! Invalid JSON, a path that does not match, or a path that is not understood gives NULL, as in
//! Trino, except that a malformed path is an error naming it (Trino rejects those too).

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, StringArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{DataFusionError, ScalarValue};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, TypeSignature, Volatility,
    create_udf,
};

/// One step of a JSON path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Key(String),
    Index(usize),
}

/// Parses `$.a.b[0]["c d"]`.
pub fn parse_path(path: &str) -> Result<Vec<Step>, String> {
    let bad = || {
        format!(
            "`{path}` is not a JSON path this engine understands (write `$.key`, `$.a.b`, `$[0]`, `$[\"key\"]`)"
        )
    };
    let rest = path.trim().strip_prefix('$').ok_or_else(bad)?;
    let mut steps = Vec::new();
    let chars: Vec<char> = rest.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '.' => {
                let start = i + 1;
                let mut j = start;
                while j < chars.len() && chars[j] != '.' && chars[j] != '[' {
                    j += 1;
                }
                if j == start {
                    return Err(bad());
                }
                steps.push(Step::Key(chars[start..j].iter().collect()));
                i = j;
            }
            '[' => {
                let close = chars[i..].iter().position(|c| *c == ']').ok_or_else(bad)? + i;
                let inner: String = chars[i + 1..close].iter().collect();
                let inner = inner.trim();
                if let Some(q) = inner
                    .strip_prefix('"')
                    .and_then(|s| s.strip_suffix('"'))
                    .or_else(|| inner.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')))
                {
                    steps.push(Step::Key(q.to_owned()));
                } else {
                    steps.push(Step::Index(inner.parse().map_err(|_| bad())?));
                }
                i = close + 1;
            }
            _ => return Err(bad()),
        }
    }
    Ok(steps)
}

pub fn walk<'a>(mut v: &'a serde_json::Value, steps: &[Step]) -> Option<&'a serde_json::Value> {
    for s in steps {
        v = match (s, v) {
            (Step::Key(k), serde_json::Value::Object(m)) => m.get(k)?,
            (Step::Index(n), serde_json::Value::Array(a)) => a.get(*n)?,
            _ => return None,
        };
    }
    Some(v)
}

/// Trino's `json_extract_scalar` on a parsed document: the scalar at the path as text; NULL for
/// objects and arrays. The engine uses the faster `json_path::scalar_at`; this is the reference
/// its tests compare with.
pub fn extract_scalar(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Trino's `json_extract`: the JSON at the path, as JSON text.
#[allow(clippy::unnecessary_wraps)] // the same signature as `extract_scalar`
fn extract_json(v: &serde_json::Value) -> Option<String> {
    Some(v.to_string())
}

/// A text literal argument, of any Arrow string type.
fn literal_text(v: &ColumnarValue) -> Option<&str> {
    match v {
        ColumnarValue::Scalar(
            ScalarValue::Utf8(Some(t)) | ScalarValue::LargeUtf8(Some(t)) | ScalarValue::Utf8View(Some(t)),
        ) => Some(t),
        _ => None,
    }
}

/// `json_extract_scalar` and `json_extract`. Text columns of any Arrow string type are read in
/// place (no cast to `Utf8` first).
#[derive(Debug, PartialEq, Eq, Hash)]
struct JsonUdf {
    name: &'static str,
    scalar: bool,
    signature: Signature,
}

impl JsonUdf {
    fn new(name: &'static str, scalar: bool) -> JsonUdf {
        JsonUdf {
            name,
            scalar,
            signature: Signature::any(2, Volatility::Immutable),
        }
    }

    fn one(&self, text: Option<&str>, steps: &[Step]) -> Option<String> {
        let text = text?;
        if self.scalar {
            // The fast path: walk the text to the value, build nothing else.
            super::json_path::scalar_at(text, steps)
        } else {
            let v: serde_json::Value = serde_json::from_str(text).ok()?;
            extract_json(walk(&v, steps)?)
        }
    }
}

impl ScalarUDFImpl for JsonUdf {
    fn name(&self) -> &'static str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> datafusion::error::Result<DataType> {
        match arg_types.first() {
            Some(DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8 | DataType::Null) => {
                Ok(DataType::Utf8)
            }
            Some(other) => Err(DataFusionError::Plan(format!(
                "{} reads JSON text, not {other}",
                self.name
            ))),
            None => Err(DataFusionError::Plan(format!(
                "{} takes two arguments: (json, path)",
                self.name
            ))),
        }
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> datafusion::error::Result<ColumnarValue> {
        let name = self.name;
        let [json, path] = args.args.as_slice() else {
            return Err(DataFusionError::Plan(format!(
                "{name} takes two arguments: (json, path)"
            )));
        };
        let Some(path) = literal_text(path) else {
            return Err(DataFusionError::Plan(format!(
                "the path of {name} must be a string literal such as '$.bucketName'"
            )));
        };
        let steps = parse_path(path).map_err(DataFusionError::Plan)?;
        match json {
            ColumnarValue::Scalar(s) => {
                let text = match s {
                    ScalarValue::Utf8(t) | ScalarValue::LargeUtf8(t) | ScalarValue::Utf8View(t) => t.clone(),
                    _ => None,
                };
                Ok(ColumnarValue::Scalar(ScalarValue::Utf8(
                    self.one(text.as_deref(), &steps),
                )))
            }
            ColumnarValue::Array(a) => {
                let out: StringArray = if let Some(v) = a.as_string_view_opt() {
                    v.iter().map(|t| self.one(t, &steps)).collect()
                } else if let Some(v) = a.as_string_opt::<i32>() {
                    v.iter().map(|t| self.one(t, &steps)).collect()
                } else if let Some(v) = a.as_string_opt::<i64>() {
                    v.iter().map(|t| self.one(t, &steps)).collect()
                } else if a.data_type() == &DataType::Null {
                    StringArray::new_null(a.len())
                } else {
                    return Err(DataFusionError::Plan(format!(
                        "{name} reads JSON text, not {}",
                        a.data_type()
                    )));
                };
                Ok(ColumnarValue::Array(Arc::new(out) as ArrayRef))
            }
        }
    }
}

/// `irp_json_scalar_is(text, path, value)`: `json_extract_scalar(text, path) = value`, for the
/// conditions of a `WHERE` or `HAVING` (where the translation layer puts it). A row whose text
/// does not contain the value and has no escape sequence (which could spell it differently)
/// cannot match and gives false without a parse; such a row would give false or NULL (path
/// missing) as written, and both drop the row there. The others give exactly what the
/// comparison gives. One function, not a prefilter joined to the comparison by `AND`: the
/// Parquet decoder evaluates the conditions of an `AND` one after the other and decoded the JSON
/// column once for each.
fn json_scalar_is() -> ScalarUDF {
    let fun = Arc::new(
        |args: &[ColumnarValue]| -> datafusion::error::Result<ColumnarValue> {
            let text_of = |v: &ColumnarValue, what: &str| {
                literal_text(v).map(str::to_owned).ok_or_else(|| {
                    DataFusionError::Plan(format!("irp_json_scalar_is takes a literal {what}"))
                })
            };
            let [json, path, value] = args else {
                return Err(DataFusionError::Plan(
                    "irp_json_scalar_is takes (json, path, value)".to_owned(),
                ));
            };
            let steps = parse_path(&text_of(path, "path")?).map_err(DataFusionError::Plan)?;
            let value = text_of(value, "value")?;
            let finder = memchr::memmem::Finder::new(value.as_bytes());
            let test = |t: Option<&str>| {
                let t = t?;
                if finder.find(t.as_bytes()).is_none() && memchr::memchr(b'\\', t.as_bytes()).is_none() {
                    return Some(false);
                }
                super::json_path::scalar_at(t, &steps).map(|s| s == value)
            };
            match json {
                ColumnarValue::Scalar(s) => {
                    let doc = match s {
                        ScalarValue::Utf8(t) | ScalarValue::LargeUtf8(t) | ScalarValue::Utf8View(t) => {
                            t.clone()
                        }
                        _ => None,
                    };
                    Ok(ColumnarValue::Scalar(ScalarValue::Boolean(test(doc.as_deref()))))
                }
                ColumnarValue::Array(a) => {
                    let out: datafusion::arrow::array::BooleanArray = if let Some(v) = a.as_string_view_opt()
                    {
                        v.iter().map(test).collect()
                    } else if let Some(v) = a.as_string_opt::<i32>() {
                        v.iter().map(test).collect()
                    } else if let Some(v) = a.as_string_opt::<i64>() {
                        v.iter().map(test).collect()
                    } else {
                        return Err(DataFusionError::Plan(format!(
                            "irp_json_scalar_is reads text, not {}",
                            a.data_type()
                        )));
                    };
                    Ok(ColumnarValue::Array(Arc::new(out) as ArrayRef))
                }
            }
        },
    );
    create_udf(
        "irp_json_scalar_is",
        vec![DataType::Utf8View, DataType::Utf8, DataType::Utf8],
        DataType::Boolean,
        Volatility::Immutable,
        fun,
    )
}

/// The functions to register on a session.
pub fn functions() -> Vec<ScalarUDF> {
    vec![
        ScalarUDF::from(JsonUdf::new("json_extract_scalar", true)),
        ScalarUDF::from(JsonUdf::new("json_extract", false)),
        json_scalar_is(),
        ScalarUDF::from(ElementAt::new()),
        ScalarUDF::from(RegexpExtract::new()),
        ScalarUDF::from(RegexpExtract::all()),
        ScalarUDF::from(DateAdd::new()),
        from_iso8601_timestamp("from_iso8601_timestamp", false),
        from_iso8601_timestamp("irp_try_from_iso8601_timestamp", true),
        ScalarUDF::from(RowField::new()),
        split_part(),
    ]
}

/// Trino's `element_at`: `element_at(map, key)` is the value or NULL (`DataFusion`'s returns a
/// list); `element_at(array, i)` is the i-th element counting from 1, from the end when negative,
/// NULL when out of range.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct ElementAt {
    signature: Signature,
}

impl ElementAt {
    pub fn new() -> ElementAt {
        ElementAt {
            signature: Signature::any(2, Volatility::Immutable),
        }
    }
}

impl Default for ElementAt {
    fn default() -> Self {
        ElementAt::new()
    }
}

impl ScalarUDFImpl for ElementAt {
    fn name(&self) -> &'static str {
        "element_at"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> datafusion::error::Result<DataType> {
        match arg_types.first() {
            Some(DataType::Map(entries, _)) => match entries.data_type() {
                DataType::Struct(fields) if fields.len() == 2 => Ok(fields[1].data_type().clone()),
                other => Err(DataFusionError::Plan(format!(
                    "element_at: unexpected map entries {other}"
                ))),
            },
            Some(DataType::List(f) | DataType::LargeList(f)) => Ok(f.data_type().clone()),
            Some(other) => Err(DataFusionError::Plan(format!(
                "element_at takes an array or a map, not {other}"
            ))),
            None => Err(DataFusionError::Plan("element_at takes two arguments".to_owned())),
        }
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> datafusion::error::Result<ColumnarValue> {
        let rows = args.number_rows;
        let [container, key] = args.args.as_slice() else {
            return Err(DataFusionError::Plan("element_at takes two arguments".to_owned()));
        };
        let container = container.to_array(rows)?;
        let key = key.to_array(rows)?;
        // For each row, the index of the chosen element in the flat values, or None.
        let (values, picks): (ArrayRef, Vec<Option<u64>>) = match container.data_type() {
            DataType::Map(..) => {
                let map = container.as_map();
                let keys = datafusion::arrow::compute::cast(map.keys(), &DataType::Utf8)?;
                let keys = keys.as_string::<i32>();
                let wanted = datafusion::arrow::compute::cast(&key, &DataType::Utf8)?;
                let wanted = wanted.as_string::<i32>();
                let offsets = map.value_offsets();
                let picks = (0..rows)
                    .map(|r| {
                        if map.is_null(r) || wanted.is_null(r) {
                            return None;
                        }
                        let (start, end) = (
                            usize::try_from(offsets[r]).ok()?,
                            usize::try_from(offsets[r + 1]).ok()?,
                        );
                        (start..end)
                            .find(|i| keys.is_valid(*i) && keys.value(*i) == wanted.value(r))
                            .map(|i| i as u64)
                    })
                    .collect();
                (map.values().clone(), picks)
            }
            DataType::List(_) => {
                let list = container.as_list::<i32>();
                let index = datafusion::arrow::compute::cast(&key, &DataType::Int64)?;
                let index = index.as_primitive::<datafusion::arrow::datatypes::Int64Type>();
                let offsets = list.value_offsets();
                let picks = (0..rows)
                    .map(|r| {
                        if list.is_null(r) || index.is_null(r) {
                            return None;
                        }
                        let (start, end) = (i64::from(offsets[r]), i64::from(offsets[r + 1]));
                        let i = index.value(r);
                        let at = match i {
                            0 => return None,
                            i if i > 0 => start + i - 1,
                            i => end + i,
                        };
                        (at >= start && at < end)
                            .then(|| u64::try_from(at).ok())
                            .flatten()
                    })
                    .collect();
                (list.values().clone(), picks)
            }
            other => {
                return Err(DataFusionError::Plan(format!(
                    "element_at takes an array or a map, not {other}"
                )));
            }
        };
        let indices: datafusion::arrow::array::UInt64Array = picks.into_iter().collect();
        let out = datafusion::arrow::compute::take(values.as_ref(), &indices, None)?;
        Ok(ColumnarValue::Array(out))
    }
}

/// Trino's `regexp_extract(string, pattern [, group])`: the first match (or its group), NULL when
/// nothing matches; and `regexp_extract_all(string, pattern [, group])`: every match (or its
/// group), an empty array when nothing matches. The pattern must be a literal; Rust's regex syntax
/// covers the Java patterns playbooks use (no look-around or back-references, which are refused
/// with an error naming them).
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct RegexpExtract {
    signature: Signature,
    all: bool,
}

impl RegexpExtract {
    fn with(all: bool) -> RegexpExtract {
        RegexpExtract {
            signature: Signature::one_of(
                vec![
                    TypeSignature::Exact(vec![DataType::Utf8, DataType::Utf8]),
                    TypeSignature::Exact(vec![DataType::Utf8, DataType::Utf8, DataType::Int64]),
                ],
                Volatility::Immutable,
            ),
            all,
        }
    }

    /// `regexp_extract`.
    pub fn new() -> RegexpExtract {
        RegexpExtract::with(false)
    }

    /// `regexp_extract_all`.
    pub fn all() -> RegexpExtract {
        RegexpExtract::with(true)
    }

    fn name(&self) -> &'static str {
        if self.all {
            "regexp_extract_all"
        } else {
            "regexp_extract"
        }
    }
}

impl Default for RegexpExtract {
    fn default() -> Self {
        RegexpExtract::new()
    }
}

impl ScalarUDFImpl for RegexpExtract {
    fn name(&self) -> &'static str {
        RegexpExtract::name(self)
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> datafusion::error::Result<DataType> {
        Ok(if self.all {
            DataType::new_list(DataType::Utf8, true)
        } else {
            DataType::Utf8
        })
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> datafusion::error::Result<ColumnarValue> {
        let rows = args.number_rows;
        let literal = |v: &ColumnarValue| match v {
            ColumnarValue::Scalar(ScalarValue::Utf8(Some(s)) | ScalarValue::Utf8View(Some(s))) => {
                Some(s.clone())
            }
            _ => None,
        };
        let f = RegexpExtract::name(self);
        let pattern =
            args.args.get(1).and_then(literal).ok_or_else(|| {
                DataFusionError::Plan(format!("the pattern of {f} must be a string literal"))
            })?;
        let group = match args.args.get(2) {
            Some(ColumnarValue::Scalar(ScalarValue::Int64(Some(g)))) => usize::try_from(*g)
                .map_err(|_| DataFusionError::Plan(format!("{f} group {g} is negative")))?,
            Some(_) => {
                return Err(DataFusionError::Plan(format!(
                    "the group of {f} must be a number literal"
                )));
            }
            None => 0,
        };
        let re = regex::Regex::new(&pattern).map_err(|e| {
            DataFusionError::Plan(format!(
                "{f}: `{pattern}` is not a pattern this engine supports: {e}"
            ))
        })?;
        if group > re.captures_len() - 1 {
            return Err(DataFusionError::Plan(format!(
                "{f}: `{pattern}` has no group {group}"
            )));
        }
        let input = args.args[0].to_array(rows)?;
        let input = datafusion::arrow::compute::cast(&input, &DataType::Utf8)?;
        let input = input.as_string::<i32>();
        if self.all {
            let mut out =
                datafusion::arrow::array::ListBuilder::new(datafusion::arrow::array::StringBuilder::new());
            for i in 0..rows {
                if input.is_null(i) {
                    out.append_null();
                    continue;
                }
                for c in re.captures_iter(input.value(i)) {
                    out.values().append_option(c.get(group).map(|m| m.as_str()));
                }
                out.append(true);
            }
            return Ok(ColumnarValue::Array(Arc::new(out.finish())));
        }
        let out: StringArray = (0..rows)
            .map(|i| {
                if input.is_null(i) {
                    return None;
                }
                re.captures(input.value(i))
                    .and_then(|c| c.get(group))
                    .map(|m| m.as_str().to_owned())
            })
            .collect();
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}

/// Trino's `date_add(unit, value, timestamp)`: `unit` is a literal among millisecond, second,
/// minute, hour, day, week, month, quarter, year; months and years keep the day of month where it
/// exists (Jan 31 + 1 month = Feb 28/29), as Trino does.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct DateAdd {
    signature: Signature,
}

impl DateAdd {
    pub fn new() -> DateAdd {
        DateAdd {
            signature: Signature::any(3, Volatility::Immutable),
        }
    }
}

impl Default for DateAdd {
    fn default() -> Self {
        DateAdd::new()
    }
}

impl ScalarUDFImpl for DateAdd {
    fn name(&self) -> &'static str {
        "date_add"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> datafusion::error::Result<DataType> {
        match arg_types.get(2) {
            Some(t @ DataType::Timestamp(..)) => Ok(t.clone()),
            Some(other) => Err(DataFusionError::Plan(format!(
                "date_add takes a timestamp, not {other}"
            ))),
            None => Err(DataFusionError::Plan(
                "date_add takes (unit, value, timestamp)".to_owned(),
            )),
        }
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> datafusion::error::Result<ColumnarValue> {
        use datafusion::arrow::datatypes::{Int64Type, TimeUnit};
        let rows = args.number_rows;
        let unit = match args.args.first() {
            Some(ColumnarValue::Scalar(ScalarValue::Utf8(Some(u)) | ScalarValue::Utf8View(Some(u)))) => {
                u.to_ascii_lowercase()
            }
            _ => {
                return Err(DataFusionError::Plan(
                    "the unit of date_add must be a string literal such as 'day'".to_owned(),
                ));
            }
        };
        let DataType::Timestamp(ts_unit, tz) = args.args[2].data_type() else {
            return Err(DataFusionError::Plan("date_add takes a timestamp".to_owned()));
        };
        let per_ms: i64 = match ts_unit {
            TimeUnit::Second => 0,
            TimeUnit::Millisecond => 1,
            TimeUnit::Microsecond => 1_000,
            TimeUnit::Nanosecond => 1_000_000,
        };
        let fixed_ms: Option<i64> = match unit.as_str() {
            "millisecond" => Some(1),
            "second" => Some(1_000),
            "minute" => Some(60_000),
            "hour" => Some(3_600_000),
            "day" => Some(86_400_000),
            "week" => Some(604_800_000),
            "month" | "quarter" | "year" => None,
            other => {
                return Err(DataFusionError::Plan(format!(
                    "date_add: `{other}` is not a unit (millisecond, second, minute, hour, day, week, month, quarter, year)"
                )));
            }
        };
        let months = match unit.as_str() {
            "quarter" => 3,
            "year" => 12,
            _ => 1,
        };
        let n = datafusion::arrow::compute::cast(&args.args[1].to_array(rows)?, &DataType::Int64)?;
        let n = n.as_primitive::<Int64Type>();
        let ts = datafusion::arrow::compute::cast(&args.args[2].to_array(rows)?, &DataType::Int64)?;
        let ts = ts.as_primitive::<Int64Type>();
        // Work in the column's unit; seconds have no sub-unit, so scale explicitly.
        let to_units = |ms: i64| {
            if per_ms == 0 {
                ms / 1_000
            } else {
                ms.saturating_mul(per_ms)
            }
        };
        let out: Vec<Option<i64>> = (0..rows)
            .map(|i| {
                if n.is_null(i) || ts.is_null(i) {
                    return None;
                }
                let (k, t) = (n.value(i), ts.value(i));
                if let Some(ms) = fixed_ms {
                    t.checked_add(to_units(k.checked_mul(ms)?))
                } else {
                    // Month arithmetic on the calendar, in UTC.
                    let (secs, sub) = if per_ms == 0 {
                        (t, 0)
                    } else {
                        let per_sec = per_ms * 1_000;
                        (t.div_euclid(per_sec), t.rem_euclid(per_sec))
                    };
                    let dt = chrono::DateTime::<chrono::Utc>::from_timestamp(secs, 0)?;
                    let shifted = if k >= 0 {
                        dt.checked_add_months(chrono::Months::new(
                            u32::try_from(k.checked_mul(months)?).ok()?,
                        ))?
                    } else {
                        dt.checked_sub_months(chrono::Months::new(
                            u32::try_from(k.checked_mul(-months)?).ok()?,
                        ))?
                    };
                    let secs = shifted.timestamp();
                    Some(if per_ms == 0 {
                        secs
                    } else {
                        secs * per_ms * 1_000 + sub
                    })
                }
            })
            .collect();
        let array: ArrayRef = Arc::new(datafusion::arrow::array::Int64Array::from(out));
        let out = datafusion::arrow::compute::cast(&array, &DataType::Timestamp(ts_unit, tz.clone()))?;
        Ok(ColumnarValue::Array(out))
    }
}

/// Trino's `from_iso8601_timestamp(text)`: `2026-11-01T02:13:07Z`, with an offset, without one
/// (UTC, the session zone here) or a bare date. Text that is not ISO 8601 is an error naming it,
/// as in Trino.
fn from_iso8601_timestamp(name: &str, tolerant: bool) -> ScalarUDF {
    use datafusion::arrow::datatypes::TimeUnit;
    let fun = Arc::new(
        move |args: &[ColumnarValue]| -> datafusion::error::Result<ColumnarValue> {
            let [text] = args else {
                return Err(DataFusionError::Plan(
                    "from_iso8601_timestamp takes one argument".to_owned(),
                ));
            };
            let rows = match text {
                ColumnarValue::Array(a) => a.len(),
                ColumnarValue::Scalar(_) => 1,
            };
            let input = datafusion::arrow::compute::cast(&text.to_array(rows)?, &DataType::Utf8)?;
            let input = input.as_string::<i32>();
            let mut out = Vec::with_capacity(rows);
            for i in 0..rows {
                if input.is_null(i) {
                    out.push(None);
                    continue;
                }
                let s = input.value(i).trim();
                let parsed = chrono::DateTime::parse_from_rfc3339(s)
                    .map(|t| t.timestamp_millis())
                    .or_else(|_| {
                        chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
                            .map(|t| t.and_utc().timestamp_millis())
                    })
                    .or_else(|_| {
                        chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").map(|d| {
                            d.and_hms_opt(0, 0, 0)
                                .map_or(0, |t| t.and_utc().timestamp_millis())
                        })
                    })
                    .ok();
                match parsed {
                    Some(p) => out.push(Some(p)),
                    None if tolerant => out.push(None),
                    None => {
                        return Err(DataFusionError::Execution(format!(
                            "from_iso8601_timestamp: `{s}` is not an ISO 8601 timestamp (wrap it in TRY(...) to get NULL instead)"
                        )));
                    }
                }
            }
            let array = datafusion::arrow::array::TimestampMillisecondArray::from(out).with_timezone("UTC");
            let array: ArrayRef = Arc::new(array);
            Ok(match text {
                ColumnarValue::Scalar(_) => ColumnarValue::Scalar(ScalarValue::try_from_array(&array, 0)?),
                ColumnarValue::Array(_) => ColumnarValue::Array(array),
            })
        },
    );
    create_udf(
        name,
        vec![DataType::Utf8],
        DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
        Volatility::Immutable,
        fun,
    )
}

/// The function the UNNEST rewrite uses for Trino's expansion of an array of rows into one
/// column per field: `irp_row_field(row, i, n, 'UNNEST(…)')` is field `i` (from 1) of a row that
/// must have exactly `n` fields.
pub const ROW_FIELD: &str = "irp_row_field";

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct RowField {
    signature: Signature,
}

impl RowField {
    pub fn new() -> RowField {
        RowField {
            signature: Signature::any(4, Volatility::Immutable),
        }
    }
}

impl Default for RowField {
    fn default() -> Self {
        RowField::new()
    }
}

impl RowField {
    /// The field index (from 0) and the field, checked against the row's type.
    fn pick(
        arg_types: &[DataType],
        scalars: &[Option<&ScalarValue>],
    ) -> datafusion::error::Result<(usize, datafusion::arrow::datatypes::FieldRef)> {
        let int = |i: usize| match scalars.get(i).copied().flatten() {
            Some(ScalarValue::Int64(Some(n))) => usize::try_from(*n).ok(),
            _ => None,
        };
        let text = match scalars.get(3).copied().flatten() {
            Some(ScalarValue::Utf8(Some(t))) => t.clone(),
            _ => "`UNNEST`".to_owned(),
        };
        let (Some(index), Some(count)) = (int(1), int(2)) else {
            return Err(DataFusionError::Plan(format!(
                "{ROW_FIELD} is internal to the UNNEST rewrite"
            )));
        };
        if index == 0 || index > count {
            return Err(DataFusionError::Plan(format!(
                "{ROW_FIELD} is internal to the UNNEST rewrite"
            )));
        }
        let DataType::Struct(fields) = &arg_types[0] else {
            return Err(DataFusionError::Plan(format!(
                "{text} names {count} columns, but the array's elements are {}, not rows; name one column",
                arg_types[0]
            )));
        };
        if fields.len() != count {
            let names: Vec<&str> = fields.iter().map(|f| f.name().as_str()).collect();
            return Err(DataFusionError::Plan(format!(
                "{text} names {count} columns, but the array's rows have {} fields ({}); \
                 name one column, or one per field",
                fields.len(),
                names.join(", ")
            )));
        }
        Ok((index - 1, fields[index - 1].clone()))
    }
}

impl ScalarUDFImpl for RowField {
    fn name(&self) -> &'static str {
        ROW_FIELD
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> datafusion::error::Result<DataType> {
        Err(DataFusionError::Internal(format!(
            "{ROW_FIELD}: return_field_from_args is used"
        )))
    }

    fn return_field_from_args(
        &self,
        args: datafusion::logical_expr::ReturnFieldArgs,
    ) -> datafusion::error::Result<datafusion::arrow::datatypes::FieldRef> {
        let types: Vec<DataType> = args.arg_fields.iter().map(|f| f.data_type().clone()).collect();
        let (_, field) = RowField::pick(&types, args.scalar_arguments)?;
        Ok(Arc::new(field.as_ref().clone().with_nullable(true)))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> datafusion::error::Result<ColumnarValue> {
        let scalars: Vec<Option<ScalarValue>> = args
            .args
            .iter()
            .map(|a| match a {
                ColumnarValue::Scalar(s) => Some(s.clone()),
                ColumnarValue::Array(_) => None,
            })
            .collect();
        let refs: Vec<Option<&ScalarValue>> = scalars.iter().map(Option::as_ref).collect();
        let types: Vec<DataType> = args.args.iter().map(ColumnarValue::data_type).collect();
        let (index, _) = RowField::pick(&types, &refs)?;
        let rows = args.args[0].to_array(args.number_rows)?;
        let rows = rows.as_struct();
        let column = rows.column(index).clone();
        // A NULL row gives NULL fields.
        let column = match datafusion::arrow::buffer::NullBuffer::union(rows.nulls(), column.nulls()) {
            Some(nulls) if rows.nulls().is_some_and(|n| n.null_count() > 0) => {
                let data = column.to_data().into_builder().nulls(Some(nulls));
                datafusion::arrow::array::make_array(data.build()?)
            }
            _ => column,
        };
        Ok(ColumnarValue::Array(column))
    }
}

/// Trino's `split_part(string, delimiter, index)`: the index-th field counting from 1, NULL past
/// the last field (`DataFusion`'s gives an empty string), an error for an index below 1.
fn split_part() -> ScalarUDF {
    let fun = Arc::new(
        |args: &[ColumnarValue]| -> datafusion::error::Result<ColumnarValue> {
            let rows = args
                .iter()
                .find_map(|a| match a {
                    ColumnarValue::Array(a) => Some(a.len()),
                    ColumnarValue::Scalar(_) => None,
                })
                .unwrap_or(1);
            let text = |i: usize| datafusion::arrow::compute::cast(&args[i].to_array(rows)?, &DataType::Utf8);
            let (strings, delimiters) = (text(0)?, text(1)?);
            let (strings, delimiters) = (strings.as_string::<i32>(), delimiters.as_string::<i32>());
            let index = datafusion::arrow::compute::cast(&args[2].to_array(rows)?, &DataType::Int64)?;
            let index = index.as_primitive::<datafusion::arrow::datatypes::Int64Type>();
            let mut out = Vec::with_capacity(rows);
            for i in 0..rows {
                if strings.is_null(i) || delimiters.is_null(i) || index.is_null(i) {
                    out.push(None);
                    continue;
                }
                let n = index.value(i);
                if n < 1 {
                    return Err(DataFusionError::Execution(format!(
                        "split_part: index must be greater than zero, not {n}"
                    )));
                }
                let (s, d) = (strings.value(i), delimiters.value(i));
                let skip = usize::try_from(n - 1).unwrap_or(usize::MAX);
                let part = if d.is_empty() {
                    // Trino splits on every character when the delimiter is empty.
                    s.chars().nth(skip).map(String::from)
                } else {
                    s.split(d).nth(skip).map(str::to_owned)
                };
                out.push(part);
            }
            super::columnar(args, Arc::new(StringArray::from(out)))
        },
    );
    create_udf(
        "split_part",
        vec![DataType::Utf8, DataType::Utf8, DataType::Int64],
        DataType::Utf8,
        Volatility::Immutable,
        fun,
    )
}
