//! Typed input values: parsing and checking of inputs, relative timestamps and durations.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use regex::Regex;

use super::raw::InputType;

/// A timestamp as written in a playbook or on the command line, before it is resolved against the
/// case's clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeSpec {
    /// An absolute instant (RFC 3339).
    At(DateTime<Utc>),
    /// `now` plus an offset (`-7d` is now minus seven days; `now` is an offset of zero).
    Relative(TimeDelta),
}

/// Why a value (an input, a duration, a time, a pattern) is not what its place takes; the
/// message says what to write instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    #[error("`{0}` is not a duration; write e.g. `90s`, `10m`, `1h`, `7d`")]
    NotDuration(String),
    #[error("`{0}` has no known unit; use s, m, h, d or w (e.g. `10m`)")]
    NoUnit(String),
    #[error("`{0}` is longer than ten years")]
    TooLong(String),
    /// The offset of a relative time (`-7d`) is not a duration.
    #[error("`{text}`: {why}")]
    Offset { text: String, why: Box<ValueError> },
    #[error("`{0}` is too far from now")]
    TooFar(String),
    #[error("`{0}` is not a timestamp; write RFC 3339 (`2026-11-01T00:00:00Z`), `now`, or `-7d`")]
    NotTimestamp(String),
    /// What the input's type takes, and what was given.
    #[error("expected {0}, found {1}")]
    Expected(&'static str, &'static str),
    /// The (1-based) item of a list that is wrong.
    #[error("item {0}: {1}")]
    Item(usize, Box<ValueError>),
    #[error("`{0}` is not an IPv4 or IPv6 address")]
    NotIp(String),
    #[error("`{0}` is not an ARN (`arn:partition:service:region:account:resource`)")]
    NotArn(String),
    #[error("`{0}` is not a 12-digit AWS account id")]
    NotAccount(String),
    #[error("`{0}` is not one of {1}")]
    NotOneOf(String, String),
    #[error("`{0}` does not match the pattern `{1}`")]
    NoMatch(String, String),
    #[error("invalid regular expression: {0}")]
    Pattern(String),
}

impl TimeSpec {
    /// `now`, `-7d`, `+1h`, `now-30m`, or RFC 3339 (`2026-11-01T00:00:00Z`).
    pub fn parse(text: &str) -> Result<TimeSpec, ValueError> {
        let t = text.trim();
        if t.eq_ignore_ascii_case("now") {
            return Ok(TimeSpec::Relative(TimeDelta::zero()));
        }
        let rel = t.strip_prefix("now").unwrap_or(t);
        if let Some(sign) = rel.chars().next().filter(|c| *c == '-' || *c == '+') {
            let d = parse_duration(&rel[1..]).map_err(|e| ValueError::Offset {
                text: t.to_owned(),
                why: Box::new(e),
            })?;
            let delta = TimeDelta::from_std(d).map_err(|_| ValueError::TooFar(t.to_owned()))?;
            return Ok(TimeSpec::Relative(if sign == '-' { -delta } else { delta }));
        }
        DateTime::parse_from_rfc3339(t)
            .map(|dt| TimeSpec::At(dt.with_timezone(&Utc)))
            .map_err(|_| ValueError::NotTimestamp(t.to_owned()))
    }

    /// The instant this names, given the case's "now".
    pub fn resolve(self, now: DateTime<Utc>) -> DateTime<Utc> {
        match self {
            TimeSpec::At(at) => at,
            TimeSpec::Relative(delta) => now + delta,
        }
    }
}

/// `90s`, `10m`, `1h`, `7d`, `2w` (one number, one unit).
pub fn parse_duration(text: &str) -> Result<Duration, ValueError> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num.parse().map_err(|_| ValueError::NotDuration(t.to_owned()))?;
    let secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        "w" => 604_800,
        _ => {
            return Err(ValueError::NoUnit(t.to_owned()));
        }
    };
    n.checked_mul(secs)
        .filter(|s| *s <= 3_650 * 86_400)
        .map(Duration::from_secs)
        .ok_or_else(|| ValueError::TooLong(t.to_owned()))
}

/// Checks a value against an input's type, pattern and allowed values. `items` is the item type
/// of a list. Returns a message saying what is wrong.
pub fn check_input_value(
    value: &serde_json::Value,
    ty: InputType,
    items: InputType,
    pattern: Option<&Regex>,
    values: &[String],
) -> Result<(), ValueError> {
    use serde_json::Value as J;
    if ty == InputType::List {
        let J::Array(list) = value else {
            return Err(ValueError::Expected("a list", json_kind(value)));
        };
        for (i, item) in list.iter().enumerate() {
            check_input_value(item, items, InputType::String, pattern, values)
                .map_err(|e| ValueError::Item(i + 1, Box::new(e)))?;
        }
        return Ok(());
    }
    let text = match (ty, value) {
        (InputType::Integer, J::Number(n)) if n.is_i64() || n.is_u64() => return Ok(()),
        (InputType::Integer, J::String(s)) if s.parse::<i64>().is_ok() => return Ok(()),
        (InputType::Integer, _) => {
            return Err(ValueError::Expected("a whole number", json_kind(value)));
        }
        (InputType::Boolean, J::Bool(_)) => return Ok(()),
        (InputType::Boolean, _) => {
            return Err(ValueError::Expected("`true` or `false`", json_kind(value)));
        }
        (_, J::String(s)) => s.clone(),
        (_, J::Number(n)) => n.to_string(),
        (_, J::Bool(b)) => b.to_string(),
        _ => return Err(ValueError::Expected("a string", json_kind(value))),
    };
    match ty {
        InputType::Timestamp => {
            TimeSpec::parse(&text)?;
        }
        InputType::Ip => {
            text.parse::<std::net::IpAddr>()
                .map_err(|_| ValueError::NotIp(text.clone()))?;
        }
        InputType::Arn => {
            let parts: Vec<&str> = text.splitn(6, ':').collect();
            if parts.len() < 6 || parts[0] != "arn" || parts[1].is_empty() || parts[2].is_empty() {
                return Err(ValueError::NotArn(text));
            }
        }
        InputType::AwsAccountId if (text.len() != 12 || !text.chars().all(|c| c.is_ascii_digit())) => {
            return Err(ValueError::NotAccount(text));
        }
        InputType::Enum if !values.contains(&text) => {
            return Err(ValueError::NotOneOf(text, values.join(", ")));
        }
        _ => {}
    }
    if let Some(re) = pattern
        && !re.is_match(&text)
    {
        let full = re.as_str();
        let shown = full
            .strip_prefix("^(?:")
            .and_then(|p| p.strip_suffix(")$"))
            .unwrap_or(full);
        return Err(ValueError::NoMatch(text, shown.to_owned()));
    }
    Ok(())
}

/// Compiles an input pattern so it must match the whole value.
pub fn compile_pattern(pattern: &str) -> Result<Regex, ValueError> {
    regex::RegexBuilder::new(&format!("^(?:{pattern})$"))
        .size_limit(1 << 20)
        .build()
        .map_err(|e| {
            let text = e.to_string();
            let last = text.lines().last().unwrap_or_default().trim();
            ValueError::Pattern(last.strip_prefix("error: ").unwrap_or(last).to_owned())
        })
}

fn json_kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "a list",
        serde_json::Value::Object(_) => "a mapping",
    }
}

/// A JSON value as a list of texts: a list flattened, a scalar a list of one, null and the empty
/// string nothing. How a capture or a scenario value becomes evidence values or a list input.
pub fn texts(v: &serde_json::Value) -> Vec<String> {
    match v {
        serde_json::Value::Array(items) => items.iter().flat_map(texts).collect(),
        serde_json::Value::Null => Vec::new(),
        serde_json::Value::String(s) if s.is_empty() => Vec::new(),
        serde_json::Value::String(s) => vec![s.clone()],
        other => vec![other.to_string()],
    }
}
