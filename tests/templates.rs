//! Templates: values never change the shape of SQL or of a command.

use minijinja::Value;

use irp::playbook::template::{SqlIdent, SqlTimestamp, render_argv, render_sql, render_text};

fn ctx(pairs: &[(&str, Value)]) -> Value {
    Value::from(
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect::<std::collections::BTreeMap<_, _>>(),
    )
}

const HOSTILE: &[&str] = &[
    "' OR 1=1 --",
    "x'; DROP TABLE t; --",
    "line one\nline two' OR 'a'='a",
    "back\\slash' --",
    "/* comment */ ' UNION SELECT * FROM secrets --",
    "''",
    "\u{0}nul",
];

#[test]
fn strings_are_quoted_literals() {
    for h in HOSTILE {
        let sql = render_sql("SELECT 1 WHERE b = {{ v }}", &ctx(&[("v", Value::from(*h))])).unwrap();
        let expected = format!("SELECT 1 WHERE b = '{}'", h.replace('\'', "''"));
        assert_eq!(sql, expected, "value {h:?}");
    }
}

#[test]
fn no_filter_or_block_lets_a_value_through_raw() {
    let c = ctx(&[("v", Value::from("' OR 1=1 --"))]);
    // Removed filters.
    for t in ["{{ v | safe }}", "{{ v | escape }}", "{{ v | e }}"] {
        assert!(render_sql(t, &c).is_err(), "{t} must not render");
    }
    // Autoescape blocks do not change the SQL formatter.
    let sql = render_sql("{% autoescape false %}{{ v }}{% endautoescape %}", &c).unwrap();
    assert_eq!(sql, "''' OR 1=1 --'");
    // Filters that keep or build strings still produce literals.
    for (t, want) in [
        ("{{ v | upper }}", "''' OR 1=1 --'"),
        ("{{ v | replace('x', 'y') }}", "''' OR 1=1 --'"),
        ("{{ [v, v] | join(',') }}", "''' OR 1=1 --,'' OR 1=1 --'"),
        ("{{ v ~ '' }}", "''' OR 1=1 --'"),
    ] {
        assert_eq!(render_sql(t, &c).unwrap(), want, "{t}");
    }
}

#[test]
fn typed_values_render_as_sql_literals() {
    let ts = chrono::DateTime::parse_from_rfc3339("2026-03-01T10:20:30.5Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    let c = ctx(&[
        ("n", Value::from(42)),
        ("x", Value::from(1.5)),
        ("b", Value::from(true)),
        ("none", Value::from(())),
        ("ts", Value::from_object(SqlTimestamp(ts))),
        ("list", Value::from(vec![Value::from("a'b"), Value::from(7)])),
        ("empty", Value::from(Vec::<Value>::new())),
    ]);
    let sql = render_sql(
        "{{ n }} {{ x }} {{ b }} {{ none }} {{ ts }} {{ list }} {{ empty }}",
        &c,
    )
    .unwrap();
    assert_eq!(
        sql,
        "42 1.5 TRUE NULL TIMESTAMP '2026-03-01 10:20:30.500' ('a''b', 7) (NULL)"
    );
    assert_eq!(render_text("{{ ts }}", &c).unwrap(), "2026-03-01T10:20:30.500Z");
}

/// A negative number after a `-` of the template text would make `--`, a comment that swallows
/// the rest of the line (a time bound, a filter): negative numbers are parenthesised.
#[test]
fn negative_numbers_never_turn_the_rest_of_a_line_into_a_comment() {
    use datafusion::sql::sqlparser::parser::Parser;
    let c = ctx(&[
        ("n", Value::from(-5)),
        ("x", Value::from(-1.5)),
        ("list", Value::from(vec![Value::from(-1), Value::from(2)])),
    ]);
    let sql = render_sql(
        "SELECT a FROM t WHERE b = 10-{{ n }} AND c = 2-{{ x }} AND d IN {{ list }} AND e = 1",
        &c,
    )
    .unwrap();
    assert_eq!(
        sql,
        "SELECT a FROM t WHERE b = 10-(-5) AND c = 2-(-1.5) AND d IN ((-1), 2) AND e = 1"
    );
    let parsed = Parser::parse_sql(&irp::playbook::sql::Athena, &sql).unwrap();
    assert!(parsed[0].to_string().ends_with("e = 1"), "{}", parsed[0]);
}

#[test]
fn what_has_no_literal_form_is_an_error_not_a_guess() {
    let map = Value::from(std::collections::BTreeMap::from([(
        "k".to_owned(),
        Value::from("v"),
    )]));
    let nested = Value::from(vec![Value::from(vec![Value::from(1)])]);
    for (name, v) in [("map", map), ("nested", nested)] {
        assert!(render_sql("{{ v }}", &ctx(&[("v", v)])).is_err(), "{name}");
    }
    assert!(
        render_sql("{{ missing }}", &ctx(&[])).is_err(),
        "undefined values are errors"
    );
}

#[test]
fn identifiers_only_through_the_checked_filter() {
    let ok = render_sql(
        "SELECT {{ c | ident }}",
        &ctx(&[("c", Value::from("actor.user.uid"))]),
    )
    .unwrap();
    assert_eq!(ok, "SELECT actor.user.uid");
    for bad in ["uid; DROP TABLE t", "a b", "\"quoted\"", "1abc", "a..b", ""] {
        assert!(
            render_sql("{{ c | ident }}", &ctx(&[("c", Value::from(bad))])).is_err(),
            "{bad:?}"
        );
    }
    assert!(SqlIdent::quoted_parts(&["db", "t\"x"]).is_none());
    assert_eq!(
        SqlIdent::quoted_parts(&["db", "t"]).unwrap().as_str(),
        "\"db\".\"t\""
    );
}

#[test]
fn argv_elements_stay_one_argument_each() {
    let c = ctx(&[
        ("host", Value::from("example.com; rm -rf / #")),
        ("q", Value::from("a b\nc")),
    ]);
    let argv = render_argv(
        &[
            "dig".to_owned(),
            "{{ host }}".to_owned(),
            "+short".to_owned(),
            "{{ q }}".to_owned(),
        ],
        &c,
    )
    .unwrap();
    assert_eq!(argv, ["dig", "example.com; rm -rf / #", "+short", "a b\nc"]);
}

/// A value that starts with `-` would be an option of the program (`-f/etc/passwd`,
/// `--output=…`): refused unless the playbook's argv puts a literal `--` before it.
#[test]
fn a_value_that_looks_like_an_option_is_refused_unless_after_double_dash() {
    let c = ctx(&[("pattern", Value::from("-f/etc/passwd")), ("n", Value::from(-1))]);
    let s = |v: &[&str]| v.iter().map(|x| (*x).to_owned()).collect::<Vec<_>>();
    let e = render_argv(&s(&["grep", "{{ pattern }}", "log.txt"]), &c).unwrap_err();
    assert!(
        e.message
            .contains("argument 1 would be `-f/etc/passwd`, which the program reads as an option"),
        "{e}"
    );
    assert!(
        render_argv(&s(&["head", "-n", "{{ n }}"]), &c).is_err(),
        "a negative number too"
    );
    assert_eq!(
        render_argv(&s(&["grep", "-v", "--", "{{ pattern }}", "log.txt"]), &c).unwrap(),
        ["grep", "-v", "--", "-f/etc/passwd", "log.txt"]
    );
    // A value of `--` is not the playbook's own `--`.
    let dd = ctx(&[("a", Value::from("--")), ("b", Value::from("-x"))]);
    assert!(render_argv(&s(&["tool", "{{ a }}", "{{ b }}"]), &dd).is_err());
}

#[test]
fn hostile_templates_stop_on_their_fuel() {
    let started = std::time::Instant::now();
    let r = render_text(
        "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}",
        &ctx(&[]),
    );
    assert!(r.is_err());
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
}
