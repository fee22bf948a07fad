"""Parse rendered playbook queries with sqlglot's Athena dialect (a parser nobody on this project wrote).

Usage:
  sqlglot_check.py QUERIES.json              each item {"playbook", "step", "sql"} must parse
  sqlglot_check.py --same-shape [--skip-unparsed] PAIRS.json  each item also has "twin": the same query rendered with
                                             hostile input values; both must parse to the same tree
                                             once literal values (strings, numbers, booleans,
                                             negative numbers) are blanked out

Prints one line per query and exits 1 if any check fails.
"""
import json
import sys

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, SqlglotError


def parse_one(sql):
    trees = [t for t in sqlglot.parse(sql, read="athena", error_level=sqlglot.ErrorLevel.RAISE) if t is not None]
    if len(trees) != 1:
        raise ParseError(f"expected one statement, found {len(trees)}")
    return trees[0]


BLANK = "?"


def is_blank(node):
    return isinstance(node, exp.Literal) and node.is_string and node.this == BLANK


def shape(tree):
    """The tree with every literal value blanked: what a value must never change. Bottom up, a
    literal (string, number, TRUE/FALSE) is a blank, and so are a negated blank and a blank in
    parentheses: irp writes `(-5)` and `(1e300)`, and a value's own parentheses or sign never
    change what the statement does."""
    def blank(node):
        if isinstance(node, (exp.Literal, exp.Boolean)):
            return exp.Literal.string(BLANK)
        if isinstance(node, (exp.Neg, exp.Paren)) and is_blank(node.this):
            return exp.Literal.string(BLANK)
        return node
    before = None
    while True:
        tree = tree.transform(blank)
        text = tree.sql(dialect="athena")
        if text == before:
            return text
        before = text


def main() -> int:
    args = sys.argv[1:]
    same_shape = "--same-shape" in args
    # Generated templates: a pair whose benign twin sqlglot cannot read is counted, not failed.
    skip_unparsed = "--skip-unparsed" in args
    path = args[-1]
    with open(path, encoding="utf-8") as f:
        queries = json.load(f)
    failed = 0
    skipped = 0
    for q in queries:
        where = f"{q['playbook']}:{q['step']}"
        if skip_unparsed:
            try:
                parse_one(q["sql"])
            except SqlglotError:
                skipped += 1
                continue
        try:
            tree = parse_one(q["sql"])
            if same_shape:
                twin = parse_one(q["twin"])
                if shape(tree) != shape(twin):
                    raise ParseError("the hostile value changed the query's shape:\n" + q["twin"])
        except SqlglotError as e:
            failed += 1
            print(f"FAIL {where}: {e}")
            continue
        if not same_shape:
            print(f"ok   {where}")
    kind = "same shape" if same_shape else "parse"
    checked = len(queries) - skipped
    print(f"sqlglot {sqlglot.__version__} (athena, {kind}): checked {checked}, {checked - failed} passed, {failed} failed, {skipped} skipped (the benign query does not parse)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
