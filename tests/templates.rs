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
fn a_list_of_timestamps_renders_as_a_list_of_timestamp_literals() {
    let t = |s: &str| Value::from_object(SqlTimestamp(s.parse().unwrap()));
    let list = Value::from(vec![t("2026-03-01T10:20:30Z"), t("2026-03-02T00:00:00Z")]);
    assert_eq!(
        render_sql("x IN {{ v }}", &ctx(&[("v", list)])).unwrap(),
        "x IN (TIMESTAMP '2026-03-01 10:20:30.000', TIMESTAMP '2026-03-02 00:00:00.000')"
    );
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

/// A value of any type irp renders into SQL, hostile where it can be.
#[derive(Debug, Clone)]
enum Rendered {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Null,
    Time(i64),
    List(Vec<Rendered>),
}

impl Rendered {
    fn value(&self) -> Value {
        match self {
            Rendered::Str(s) => Value::from(s.as_str()),
            Rendered::Int(i) => Value::from(*i),
            Rendered::Float(x) => Value::from(*x),
            Rendered::Bool(b) => Value::from(*b),
            Rendered::Null => Value::from(()),
            Rendered::Time(secs) => Value::from_object(SqlTimestamp(
                chrono::DateTime::from_timestamp(*secs, 0).unwrap_or_default(),
            )),
            Rendered::List(items) => Value::from(items.iter().map(Rendered::value).collect::<Vec<_>>()),
        }
    }

    /// A harmless value of the same type (and length): what the template was written for.
    fn benign(&self) -> Rendered {
        match self {
            Rendered::Str(_) => Rendered::Str("a".to_owned()),
            Rendered::Int(_) => Rendered::Int(1),
            Rendered::Float(_) => Rendered::Float(1.5),
            Rendered::Bool(_) => Rendered::Bool(true),
            Rendered::Null => Rendered::Null,
            Rendered::Time(_) => Rendered::Time(1_700_000_000),
            Rendered::List(items) => Rendered::List(items.iter().map(Rendered::benign).collect()),
        }
    }
}

fn hostile_scalar() -> impl proptest::strategy::Strategy<Value = Rendered> {
    use proptest::prelude::*;
    let alphabet = prop::sample::select(vec![
        "'",
        "''",
        "\"",
        "\\",
        "\n",
        "\r",
        "-",
        "--",
        "/*",
        "*/",
        "/",
        "*",
        ";",
        "$$",
        "{",
        "}",
        "%",
        "#",
        "\u{0}",
        "\u{2028}",
        " ",
        "a",
        "Z",
        "0",
        "9",
        ".",
        "(",
        ")",
        ",",
        "OR 1=1",
        "UNION SELECT",
    ]);
    prop_oneof![
        prop::collection::vec(alphabet, 0..8).prop_map(|parts| Rendered::Str(parts.concat())),
        any::<i64>().prop_map(Rendered::Int),
        prop_oneof![Just(-1i64), Just(-5), Just(i64::MIN), Just(0), Just(i64::MAX)].prop_map(Rendered::Int),
        any::<f64>().prop_map(Rendered::Float),
        prop_oneof![
            Just(-0.0f64),
            Just(-2.5e-7),
            Just(-1e300),
            Just(1e5),
            Just(5e-324)
        ]
        .prop_map(Rendered::Float),
        any::<bool>().prop_map(Rendered::Bool),
        Just(Rendered::Null),
        (0i64..4_102_444_800).prop_map(Rendered::Time),
    ]
}

fn hostile_value() -> impl proptest::strategy::Strategy<Value = Rendered> {
    use proptest::prelude::*;
    prop_oneof![
        4 => hostile_scalar(),
        1 => prop::collection::vec(hostile_scalar(), 0..4).prop_map(Rendered::List),
    ]
}

/// Template text beside a placeholder, as an author might write it (or as a hostile one would):
/// a few fragments of anything, then what usually stands before a value.
fn left_text() -> impl proptest::strategy::Strategy<Value = String> {
    use proptest::prelude::*;
    let before = prop::sample::select(vec![
        "",
        " ",
        "x = ",
        "x - ",
        "x-",
        "-",
        "- ",
        "(",
        "x IN ",
        "-- c\n  ",
        "x <> -- c\n",
        "ARRAY[",
        "CAST(",
        "x || ",
        "NOT ",
        "x <",
        "x",
        "1",
        ".",
        "'s'",
        "\"q\"",
        "-- c\n",
        "/* c */",
        "{{ w }}",
        "{{ w }} ",
        "x +{# n #}",
        "x -{% if true %}",
        "x {% if true %}",
    ]);
    (noise(), before).prop_map(|(n, b)| format!("{n}{b}"))
}

/// What usually stands after a value, then a few fragments of anything.
fn right_text() -> impl proptest::strategy::Strategy<Value = String> {
    use proptest::prelude::*;
    let after = prop::sample::select(vec![
        "",
        " ",
        ")",
        "]",
        " AS varchar)",
        "-1",
        "- 1",
        " = x",
        "\n-- c\n",
        "/* c */",
        "*2",
        ".5",
        "x",
        "'s'",
        "\"q\"",
        "{{ w }}",
        " {{ w }}",
        "{% if true %}x{% endif %}",
        "{# n #}x",
    ]);
    (after, noise()).prop_map(|(a, n)| format!("{a}{n}"))
}

fn noise() -> impl proptest::strategy::Strategy<Value = String> {
    use proptest::prelude::*;
    let fragment = prop::sample::select(vec![
        " ", "x", "-", "+", "*", "/", "(", ")", ",", "=", "||", "\n", "-- c\n", "/* c */", "'s'", "1",
        " AND ", " OR ",
    ]);
    prop::collection::vec(fragment, 0..3).prop_map(|parts| parts.concat())
}

/// The statement with every rendered value blanked: bottom up, a literal (string, number,
/// TRUE/FALSE, NULL, timestamp) is a blank, and so are a negated blank and a blank in
/// parentheses (irp writes `(-5)` and `(1e300)`; a value's own sign or parentheses never change
/// what the statement does).
fn sql_shape(sql: &str) -> Option<String> {
    use datafusion::sql::sqlparser::ast::{Expr, UnaryOperator, Value as SqlValue, VisitMut, VisitorMut};
    use std::ops::ControlFlow;
    struct Blank;
    fn is_blank(e: &Expr) -> bool {
        matches!(e, Expr::Value(v) if matches!(&v.value, SqlValue::Placeholder(p) if p == "?"))
    }
    impl VisitorMut for Blank {
        type Break = ();
        fn post_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
            let blank = match e {
                Expr::Value(_) | Expr::TypedString(_) => true,
                Expr::UnaryOp {
                    op: UnaryOperator::Minus,
                    expr,
                } => is_blank(expr),
                Expr::Nested(inner) => is_blank(inner),
                _ => false,
            };
            if blank {
                *e = Expr::value(SqlValue::Placeholder("?".to_owned()));
            }
            ControlFlow::Continue(())
        }
    }
    let mut statements =
        datafusion::sql::sqlparser::parser::Parser::parse_sql(&irp::playbook::sql::Athena, sql).ok()?;
    if statements.len() != 1 {
        return None;
    }
    let _ = statements.visit(&mut Blank);
    Some(statements[0].to_string())
}

/// Values of every type, hostile, beside hostile template text: a template `irp validate` accepts
/// renders to the same statement with any value as with the value it was written for, in irp's
/// own parser (every case, shrunk on failure) and in sqlglot's Athena parser (a parser nobody on
/// this project wrote, all cases at once).
#[test]
fn no_value_beside_any_accepted_template_text_changes_the_statement() {
    use proptest::test_runner::{Config, TestRunner};
    use std::cell::RefCell;
    let pairs = RefCell::new(Vec::new());
    let refused = RefCell::new(0u32);
    // A fixed seed: the same cases on every run, so a failure here is reproducible.
    let mut runner = TestRunner::new_with_rng(
        Config {
            cases: 6000,
            failure_persistence: None,
            ..Config::default()
        },
        proptest::test_runner::TestRng::deterministic_rng(proptest::test_runner::RngAlgorithm::ChaCha),
    );
    let strategy = (left_text(), right_text(), any_trim(), hostile_value());
    // One template and one value: refused by the validator, or the same statement as with the
    // value the template was written for (the pair is kept for sqlglot).
    let check = |template: &str, value: &Rendered| -> Result<(), String> {
        if irp::playbook::validate::placeholder_out_of_place(template).is_some() {
            *refused.borrow_mut() += 1;
            return Ok(());
        }
        let render = |v: &Rendered| render_sql(template, &ctx(&[("v", v.value()), ("w", Value::from("b"))]));
        let (Ok(good), Ok(bad)) = (render(&value.benign()), render(value)) else {
            return Ok(());
        };
        let Some(shape) = sql_shape(&good) else {
            return Ok(());
        };
        if Some(&shape) != sql_shape(&bad).as_ref() {
            return Err(format!(
                "template {template:?} with {value:?} renders {bad:?}, not the shape of {good:?}"
            ));
        }
        pairs.borrow_mut().push(serde_json::json!({
            "playbook": "property", "step": template, "sql": good, "twin": bad,
        }));
        Ok(())
    };
    // Hazards met before, always tried.
    for (template, value) in [
        ("SELECT a FROM t WHERE x -{{ v }}", Rendered::Int(-5)),
        ("SELECT a FROM t WHERE x -{{ v }}", Rendered::Float(-2.5)),
        ("SELECT a FROM t WHERE x = {{ v }}-1", Rendered::Float(1e5)),
        ("SELECT a FROM t WHERE NOT {{ v }}-1", Rendered::Float(2.1e208)),
        (
            "SELECT a FROM t WHERE x IN {{ v }}",
            Rendered::List(vec![Rendered::Int(-1), Rendered::Time(0)]),
        ),
        (
            "SELECT a FROM t WHERE x = {{ v }}\n-- c",
            Rendered::Str("a\nOR 1=1".to_owned()),
        ),
    ] {
        check(template, &value).unwrap_or_else(|e| panic!("{e}"));
    }
    let result = runner.run(&strategy, |(left, right, (tl, tr), value)| {
        let template = format!(
            "SELECT a FROM t WHERE {left}{{{{{} v {}}}}}{right}{}",
            if tl { "-" } else { "" },
            if tr { "-" } else { "" },
            if left.contains("{% if") { "{% endif %}" } else { "" }
        );
        check(&template, &value).map_err(proptest::test_runner::TestCaseError::fail)
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    let pairs = pairs.into_inner();
    let refused = refused.into_inner();
    // Enough cases reach both checks, and enough are refused, for neither to pass vacuously.
    assert!(pairs.len() >= 300, "only {} cases parsed", pairs.len());
    assert!(refused >= 100, "only {refused} templates were refused");
    let Some(python) = crate::common::required_tool("IRP_PYTHON", "a Python with sqlglot") else {
        return;
    };
    let (ok, text) = crate::common::sqlglot_check(
        &python,
        &["--same-shape", "--skip-unparsed"],
        &serde_json::to_value(&pairs).unwrap(),
    );
    assert!(ok, "a value changed a statement's shape in sqlglot:\n{text}");
    let checked: usize = text
        .split("checked ")
        .nth(1)
        .and_then(|t| t.split(',').next())
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0);
    assert!(
        checked * 2 >= pairs.len(),
        "sqlglot read too few of the {} pairs: {text}",
        pairs.len()
    );
}

fn any_trim() -> impl proptest::strategy::Strategy<Value = (bool, bool)> {
    use proptest::prelude::*;
    (prop::bool::weighted(0.2), prop::bool::weighted(0.2))
}
