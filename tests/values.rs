//! Input values: timestamps (absolute and relative), durations, typed checks.

use chrono::{TimeZone, Utc};
use irp::playbook::raw::InputType;
use irp::playbook::value::{TimeSpec, check_input_value, compile_pattern, parse_duration};
use serde_json::json;

#[test]
fn timestamps_absolute_and_relative() {
    let now = Utc.with_ymd_and_hms(2026, 11, 28, 3, 0, 0).unwrap();
    let cases = [
        ("now", "2026-11-28T03:00:00+00:00"),
        ("-7d", "2026-11-21T03:00:00+00:00"),
        ("now-24h", "2026-11-27T03:00:00+00:00"),
        ("+30m", "2026-11-28T03:30:00+00:00"),
        ("2026-11-01T00:00:00Z", "2026-11-01T00:00:00+00:00"),
        ("2026-11-01T02:00:00+02:00", "2026-11-01T00:00:00+00:00"),
    ];
    for (text, want) in cases {
        assert_eq!(
            TimeSpec::parse(text).unwrap().resolve(now).to_rfc3339(),
            want,
            "{text}"
        );
    }
    for bad in ["yesterday", "-7", "-7x", "2026-11-01", "", "now-"] {
        assert!(TimeSpec::parse(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn durations() {
    assert_eq!(parse_duration("90s").unwrap().as_secs(), 90);
    assert_eq!(parse_duration("10m").unwrap().as_secs(), 600);
    assert_eq!(parse_duration("2w").unwrap().as_secs(), 1_209_600);
    for bad in ["10", "m", "10 minutes", "99999999999999999999d", "-1m"] {
        assert!(parse_duration(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn typed_inputs() {
    let s = InputType::String;
    let ok = |v, ty, items| check_input_value(&v, ty, items, None, &[]).is_ok();
    assert!(ok(json!("10.0.0.1"), InputType::Ip, s));
    assert!(ok(json!("2001:db8::1"), InputType::Ip, s));
    assert!(!ok(json!("255.090.254.5"), InputType::Ip, s));
    assert!(ok(json!("arn:aws:iam::111122223333:role/x"), InputType::Arn, s));
    assert!(!ok(json!("arn:aws"), InputType::Arn, s));
    assert!(ok(json!("111122223333"), InputType::AwsAccountId, s));
    assert!(!ok(json!("11112222333"), InputType::AwsAccountId, s));
    assert!(ok(json!(5), InputType::Integer, s));
    assert!(!ok(json!("five"), InputType::Integer, s));
    assert!(ok(
        json!(["111122223333"]),
        InputType::List,
        InputType::AwsAccountId
    ));
    assert!(!ok(json!(["x"]), InputType::List, InputType::AwsAccountId));
    let re = compile_pattern("[a-z]+").unwrap();
    assert!(check_input_value(&json!("abc"), s, s, Some(&re), &[]).is_ok());
    assert!(
        check_input_value(&json!("abc1"), s, s, Some(&re), &[]).is_err(),
        "patterns match the whole value"
    );
    assert!(
        compile_pattern("(a+)+$").is_ok(),
        "the regex engine has no catastrophic backtracking"
    );
}

#[test]
fn a_wrong_value_says_what_is_wrong_and_what_to_write() {
    let s = InputType::String;
    let said = |v, ty, items| {
        check_input_value(&v, ty, items, None, &[])
            .unwrap_err()
            .to_string()
    };
    assert_eq!(
        said(json!("x"), InputType::List, s),
        "expected a list, found a string"
    );
    assert_eq!(
        said(
            json!(["111122223333", "x"]),
            InputType::List,
            InputType::AwsAccountId
        ),
        "item 2: `x` is not a 12-digit AWS account id"
    );
    assert_eq!(
        said(json!("arn:aws"), InputType::Arn, s),
        "`arn:aws` is not an ARN (`arn:partition:service:region:account:resource`)"
    );
    assert_eq!(
        said(json!(true), InputType::Integer, s),
        "expected a whole number, found a boolean"
    );
    assert_eq!(
        TimeSpec::parse("yesterday").unwrap_err().to_string(),
        "`yesterday` is not a timestamp; write RFC 3339 (`2026-11-01T00:00:00Z`), `now`, or `-7d`"
    );
    assert_eq!(
        TimeSpec::parse("-7x").unwrap_err().to_string(),
        "`-7x`: `7x` has no known unit; use s, m, h, d or w (e.g. `10m`)"
    );
    assert_eq!(
        parse_duration("3651d").unwrap_err().to_string(),
        "`3651d` is longer than ten years"
    );
    assert!(
        compile_pattern("(")
            .unwrap_err()
            .to_string()
            .starts_with("invalid regular expression: ")
    );
}
