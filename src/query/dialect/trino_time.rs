//! Trino's date and time functions whose semantics differ from `DataFusion`'s built-ins:
//! `date_format` and `date_parse` (MySQL-style specifiers: `%i` is minutes, `%s` seconds),
//! `to_iso8601` and `date_diff`.
//!
//! Timestamps are read in any Arrow unit; a timestamp with a zone is shown in that zone when it is
//! UTC or a fixed offset. A named zone other than UTC is an error, never a guess.

use std::sync::Arc;

use chrono::{DateTime, Datelike, FixedOffset, NaiveDateTime, Utc};
use datafusion::arrow::array::{Array, AsArray, Int64Array, StringArray, TimestampMillisecondArray};
use datafusion::arrow::datatypes::{DataType, Int64Type, TimeUnit};
use datafusion::common::{DataFusionError, ScalarValue};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

type Result<T> = datafusion::error::Result<T>;

fn plan(message: String) -> DataFusionError {
    DataFusionError::Plan(message)
}

/// Translates a MySQL-style format (Trino's `date_format` / `date_parse`) to chrono's. Trino
/// rejects `%D %U %u %V %w %X`; so does this.
pub fn mysql_to_chrono(format: &str) -> std::result::Result<String, String> {
    let mut out = String::with_capacity(format.len() + 8);
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let Some(spec) = chars.next() else {
            return Err(format!("`{format}` ends with a lone %"));
        };
        let mapped = match spec {
            'a' => "%a",
            'b' => "%b",
            'c' => "%-m",
            'd' => "%d",
            'e' => "%-d",
            'f' => "%6f",
            'H' => "%H",
            'h' | 'I' => "%I",
            'i' => "%M",
            'j' => "%j",
            'k' => "%-H",
            'l' => "%-I",
            'M' => "%B",
            'm' => "%m",
            'p' => "%p",
            'r' => "%I:%M:%S %p",
            'S' | 's' => "%S",
            'T' => "%H:%M:%S",
            'v' => "%V",
            'W' => "%A",
            'x' => "%G",
            'Y' => "%Y",
            'y' => "%y",
            '%' => "%%",
            'D' | 'U' | 'u' | 'V' | 'w' | 'X' => {
                return Err(format!(
                    "`%{spec}` in `{format}` is not supported by Trino either"
                ));
            }
            other => {
                // MySQL prints an unknown specifier's letter as itself.
                out.push(other);
                continue;
            }
        };
        out.push_str(mapped);
    }
    Ok(out)
}

/// A timestamp column as nanoseconds since the epoch (UTC instant), with its zone.
fn instants(
    value: &ColumnarValue,
    rows: usize,
    function: &str,
) -> Result<(Vec<Option<i64>>, Option<FixedOffset>)> {
    let data_type = value.data_type();
    let (zone, array) = match &data_type {
        DataType::Timestamp(_, tz) => {
            let zone = match tz.as_deref() {
                None => None,
                Some(z) => Some(zone_offset(z).ok_or_else(|| {
                    plan(format!(
                        "{function}: timestamps in zone `{z}` are not supported (UTC and fixed offsets are)"
                    ))
                })?),
            };
            let a = datafusion::arrow::compute::cast(
                &value.to_array(rows)?,
                &DataType::Timestamp(TimeUnit::Nanosecond, tz.clone()),
            )?;
            (zone, a)
        }
        DataType::Date32 | DataType::Date64 => (
            None,
            datafusion::arrow::compute::cast(
                &value.to_array(rows)?,
                &DataType::Timestamp(TimeUnit::Nanosecond, None),
            )?,
        ),
        DataType::Null => return Ok((vec![None; rows], None)),
        other => {
            return Err(plan(format!("{function} takes a timestamp, not {other}")));
        }
    };
    let ints = datafusion::arrow::compute::cast(&array, &DataType::Int64)?;
    let ints = ints.as_primitive::<Int64Type>();
    Ok((
        (0..rows)
            .map(|i| (!ints.is_null(i)).then(|| ints.value(i)))
            .collect(),
        zone,
    ))
}

fn zone_offset(zone: &str) -> Option<FixedOffset> {
    if zone.eq_ignore_ascii_case("utc") || zone == "Z" {
        return FixedOffset::east_opt(0);
    }
    let (sign, rest) = match zone.as_bytes().first()? {
        b'+' => (1, &zone[1..]),
        b'-' => (-1, &zone[1..]),
        _ => return None,
    };
    let (h, m) = rest
        .split_once(':')
        .unwrap_or((rest.get(..2)?, rest.get(2..).unwrap_or("0")));
    let secs = h.parse::<i32>().ok()? * 3600 + m.parse::<i32>().ok()? * 60;
    FixedOffset::east_opt(sign * secs)
}

fn local(nanos: i64, zone: Option<FixedOffset>) -> DateTime<FixedOffset> {
    let utc = DateTime::<Utc>::from_timestamp_nanos(nanos);
    match zone {
        Some(z) => utc.with_timezone(&z),
        None => utc.fixed_offset(),
    }
}

fn literal_text(value: Option<&ColumnarValue>, what: &str) -> Result<Option<String>> {
    match value {
        Some(ColumnarValue::Scalar(
            ScalarValue::Utf8(s) | ScalarValue::Utf8View(s) | ScalarValue::LargeUtf8(s),
        )) => Ok(s.clone()),
        _ => Err(plan(format!("{what} must be a string literal"))),
    }
}

macro_rules! udf {
    ($ty:ident, $name:literal, $arity:expr) => {
        #[derive(Debug, PartialEq, Eq, Hash)]
        pub struct $ty {
            signature: Signature,
        }
        impl Default for $ty {
            fn default() -> Self {
                $ty {
                    signature: Signature::any($arity, Volatility::Immutable),
                }
            }
        }
        impl $ty {
            const NAME: &'static str = $name;
        }
    };
}

udf!(DateFormat, "date_format", 2);
udf!(ToIso8601, "to_iso8601", 1);
udf!(DateDiff, "date_diff", 3);

impl ScalarUDFImpl for DateFormat {
    fn name(&self) -> &'static str {
        Self::NAME
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let Some(format) = literal_text(args.args.get(1), "the format of date_format")? else {
            return Ok(ColumnarValue::Scalar(ScalarValue::Utf8(None)));
        };
        let chrono_format = mysql_to_chrono(&format).map_err(|e| plan(format!("date_format: {e}")))?;
        let (values, zone) = instants(&args.args[0], rows, "date_format")?;
        let out: StringArray = values
            .iter()
            .map(|v| v.map(|n| local(n, zone).format(&chrono_format).to_string()))
            .collect();
        super::columnar(&args.args, Arc::new(out))
    }
}

/// Parses with chrono; a format without a time of day gives midnight, as Trino does.
pub fn parse_mysql(text: &str, chrono_format: &str) -> Option<NaiveDateTime> {
    use chrono::format::{Parsed, StrftimeItems, parse};
    let mut parsed = Parsed::new();
    parse(&mut parsed, text, StrftimeItems::new(chrono_format)).ok()?;
    if parsed.year().is_none() && parsed.year_mod_100().is_none() {
        parsed.set_year(1970).ok()?;
    }
    if parsed.month().is_none() && parsed.ordinal().is_none() && parsed.isoweek().is_none() {
        parsed.set_month(1).ok()?;
    }
    if parsed.day().is_none() && parsed.ordinal().is_none() && parsed.isoweek().is_none() {
        parsed.set_day(1).ok()?;
    }
    if parsed.hour_div_12().is_none() {
        parsed.set_hour(0).ok()?;
    }
    if parsed.minute().is_none() {
        parsed.set_minute(0).ok()?;
    }
    let date = parsed.to_naive_date().ok()?;
    let time = parsed.to_naive_time().ok()?;
    Some(date.and_time(time))
}

/// `date_parse`; with `tolerant` (inside TRY), text that does not match gives NULL.
fn date_parse(args: &ScalarFunctionArgs, tolerant: bool) -> Result<ColumnarValue> {
    let rows = args.number_rows;
    let Some(format) = literal_text(args.args.get(1), "the format of date_parse")? else {
        return Ok(ColumnarValue::Scalar(ScalarValue::TimestampMillisecond(
            None, None,
        )));
    };
    let chrono_format = mysql_to_chrono(&format).map_err(|e| plan(format!("date_parse: {e}")))?;
    let text = datafusion::arrow::compute::cast(&args.args[0].to_array(rows)?, &DataType::Utf8)?;
    let text = text.as_string::<i32>();
    let mut out = Vec::with_capacity(rows);
    for i in 0..rows {
        if text.is_null(i) {
            out.push(None);
            continue;
        }
        match parse_mysql(text.value(i), &chrono_format) {
            Some(t) => out.push(Some(t.and_utc().timestamp_millis())),
            None if tolerant => out.push(None),
            None => {
                return Err(DataFusionError::Execution(format!(
                    "date_parse: `{}` does not match the format `{format}` (wrap it in TRY(...) to get NULL instead)",
                    text.value(i)
                )));
            }
        }
    }
    super::columnar(&args.args, Arc::new(TimestampMillisecondArray::from(out)))
}

/// `date_parse`, and inside TRY `irp_try_date_parse` (`tolerant`: NULL for text that does not
/// match instead of an error).
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct DateParse {
    tolerant: bool,
    signature: Signature,
}

impl DateParse {
    fn new(tolerant: bool) -> DateParse {
        DateParse {
            tolerant,
            signature: Signature::any(2, Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for DateParse {
    fn name(&self) -> &'static str {
        if self.tolerant {
            "irp_try_date_parse"
        } else {
            "date_parse"
        }
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Timestamp(TimeUnit::Millisecond, None))
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        date_parse(&args, self.tolerant)
    }
}

impl ScalarUDFImpl for ToIso8601 {
    fn name(&self) -> &'static str {
        Self::NAME
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let data_type = args.args[0].data_type();
        // Trino's shape: `2026-11-27T10:11:12.000` for timestamp(3), `Z` for UTC, `+hh:mm` for
        // other offsets. Finer units (literals and CURRENT_TIMESTAMP are nanoseconds here, where
        // Trino's are milliseconds) show as many digits as the value needs, at least 3.
        let (fraction, zoned) = match &data_type {
            DataType::Timestamp(TimeUnit::Second, tz) => (Some(0), tz.is_some()),
            DataType::Timestamp(TimeUnit::Millisecond, tz) => (Some(3), tz.is_some()),
            DataType::Timestamp(_, tz) => (Some(9), tz.is_some()),
            _ => (None, false),
        };
        let (values, zone) = instants(&args.args[0], rows, "to_iso8601")?;
        let out: StringArray = values
            .iter()
            .map(|v| v.map(|n| iso8601(local(n, zone), fraction, zoned)))
            .collect();
        super::columnar(&args.args, Arc::new(out))
    }
}

/// Trino's ISO 8601 text of a time: a date when `fraction` is None, else the time with that
/// many fraction digits (9 meaning "as many as needed, at least 3"), and the zone when `zoned`.
fn iso8601(t: DateTime<FixedOffset>, fraction: Option<u8>, zoned: bool) -> String {
    let Some(digits) = fraction else {
        return t.format("%Y-%m-%d").to_string();
    };
    let mut text = t.format("%Y-%m-%dT%H:%M:%S").to_string();
    let nanos = t.timestamp_subsec_nanos();
    let digits = match digits {
        9 if nanos.is_multiple_of(1_000_000) => 3,
        9 if nanos.is_multiple_of(1_000) => 6,
        d => d,
    };
    let fraction = match digits {
        3 => format!(".{:03}", nanos / 1_000_000),
        6 => format!(".{:06}", nanos / 1_000),
        9 => format!(".{nanos:09}"),
        _ => String::new(),
    };
    text += &fraction;
    if zoned {
        if t.offset().local_minus_utc() == 0 {
            text.push('Z');
        } else {
            text.push_str(&t.format("%:z").to_string());
        }
    }
    text
}

/// Whole calendar months from `a` to `b`, truncated toward zero (Trino's `date_diff('month', …)`).
pub fn months_between(a: NaiveDateTime, b: NaiveDateTime) -> Option<i64> {
    let mut months = i64::from(b.year() - a.year()) * 12 + i64::from(b.month()) - i64::from(a.month());
    let shift = |n: i64| -> Option<NaiveDateTime> {
        if n >= 0 {
            a.checked_add_months(chrono::Months::new(u32::try_from(n).ok()?))
        } else {
            a.checked_sub_months(chrono::Months::new(u32::try_from(-n).ok()?))
        }
    };
    if months > 0 && shift(months)? > b {
        months -= 1;
    } else if months < 0 && shift(months)? < b {
        months += 1;
    }
    Some(months)
}

impl ScalarUDFImpl for DateDiff {
    fn name(&self) -> &'static str {
        Self::NAME
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Int64)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let Some(unit) = literal_text(args.args.first(), "the unit of date_diff")? else {
            return Ok(ColumnarValue::Scalar(ScalarValue::Int64(None)));
        };
        let unit = unit.to_ascii_lowercase();
        let fixed: Option<i64> = match unit.as_str() {
            "millisecond" => Some(1_000_000),
            "second" => Some(1_000_000_000),
            "minute" => Some(60_000_000_000),
            "hour" => Some(3_600_000_000_000),
            "day" => Some(86_400_000_000_000),
            "week" => Some(604_800_000_000_000),
            "month" | "quarter" | "year" => None,
            other => {
                return Err(plan(format!(
                    "date_diff: `{other}` is not a unit (millisecond, second, minute, hour, day, week, month, quarter, year)"
                )));
            }
        };
        let (a, _) = instants(&args.args[1], rows, "date_diff")?;
        let (b, _) = instants(&args.args[2], rows, "date_diff")?;
        let out: Int64Array = a
            .iter()
            .zip(&b)
            .map(|(a, b)| {
                let (a, b) = ((*a)?, (*b)?);
                if let Some(per) = fixed {
                    // In i128: two nanosecond instants can be further apart than i64 holds.
                    i64::try_from((i128::from(b) - i128::from(a)) / i128::from(per)).ok()
                } else {
                    let to = |n: i64| DateTime::<Utc>::from_timestamp_nanos(n).naive_utc();
                    let months = months_between(to(a), to(b))?;
                    Some(match unit.as_str() {
                        "quarter" => months / 3,
                        "year" => months / 12,
                        _ => months,
                    })
                }
            })
            .collect();
        super::columnar(&args.args, Arc::new(out))
    }
}

/// `date_trunc` with a fast path: to a second, minute, hour or day of a UTC (or zone-less)
/// timestamp column it is integer arithmetic on the stored values, where `DataFusion`'s own
/// converts every value through a time-zone-aware date. Everything else goes to `DataFusion`'s
/// (whose signature, types and ordering guarantees this one keeps).
#[derive(Debug)]
pub struct DateTrunc {
    inner: Arc<ScalarUDF>,
}

impl PartialEq for DateTrunc {
    fn eq(&self, other: &Self) -> bool {
        self.inner == other.inner
    }
}
impl Eq for DateTrunc {}
impl std::hash::Hash for DateTrunc {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.inner.name().hash(state);
    }
}

impl Default for DateTrunc {
    fn default() -> Self {
        DateTrunc {
            inner: datafusion::functions::datetime::date_trunc(),
        }
    }
}

impl ScalarUDFImpl for DateTrunc {
    fn name(&self) -> &'static str {
        "date_trunc"
    }
    fn aliases(&self) -> &[String] {
        self.inner.aliases()
    }
    fn signature(&self) -> &Signature {
        self.inner.signature()
    }
    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.inner.return_type(arg_types)
    }
    fn return_field_from_args(
        &self,
        args: datafusion::logical_expr::ReturnFieldArgs,
    ) -> Result<datafusion::arrow::datatypes::FieldRef> {
        self.inner.return_field_from_args(args)
    }
    fn output_ordering(
        &self,
        input: &[datafusion::logical_expr::sort_properties::ExprProperties],
    ) -> Result<datafusion::logical_expr::sort_properties::SortProperties> {
        self.inner.output_ordering(input)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        if let (
            Some(ColumnarValue::Scalar(ScalarValue::Utf8(Some(g)) | ScalarValue::Utf8View(Some(g)))),
            Some(ColumnarValue::Array(values)),
        ) = (args.args.first(), args.args.get(1))
            && let DataType::Timestamp(unit, tz) = values.data_type()
            && tz
                .as_deref()
                .is_none_or(|z| zone_offset(z).is_some_and(|o| o.local_minus_utc() == 0))
        {
            let seconds: Option<i64> = match g.to_ascii_lowercase().as_str() {
                "second" => Some(1),
                "minute" => Some(60),
                "hour" => Some(3_600),
                "day" => Some(86_400),
                _ => None,
            };
            let per_second: i64 = match unit {
                TimeUnit::Second => 1,
                TimeUnit::Millisecond => 1_000,
                TimeUnit::Microsecond => 1_000_000,
                TimeUnit::Nanosecond => 1_000_000_000,
            };
            if let Some(step) = seconds.and_then(|s| s.checked_mul(per_second)) {
                let ints = datafusion::arrow::compute::cast(values, &DataType::Int64)?;
                let ints = ints.as_primitive::<Int64Type>();
                let out: Int64Array = ints.unary(|v| v - v.rem_euclid(step));
                let out = datafusion::arrow::compute::cast(&out, values.data_type())?;
                return Ok(ColumnarValue::Array(out));
            }
        }
        self.inner.invoke_with_args(args)
    }
}

pub fn functions() -> Vec<ScalarUDF> {
    vec![
        ScalarUDF::from(DateTrunc::default()),
        ScalarUDF::from(DateFormat::default()),
        ScalarUDF::from(DateParse::new(false)),
        ScalarUDF::from(DateParse::new(true)),
        ScalarUDF::from(ToIso8601::default()),
        ScalarUDF::from(DateDiff::default()),
    ]
}
