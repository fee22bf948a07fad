"""Parse rendered playbook queries with sqlglot's Athena dialect (a parser nobody on this project wrote).

Usage:
  sqlglot_check.py QUERIES.json              each item {"playbook", "step", "sql"} must parse
  sqlglot_check.py --same-shape PAIRS.json   each item also has "twin": the same query rendered with
                                             hostile input values; both must parse to the same tree
                                             once string literals are blanked out

Prints one line per query and exits 1 if any check fails.
"""
import json
import sys

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError


def parse_one(sql):
    trees = [t for t in sqlglot.parse(sql, read="athena", error_level=sqlglot.ErrorLevel.RAISE) if t is not None]
    if len(trees) != 1:
        raise ParseError(f"expected one statement, found {len(trees)}")
    return trees[0]


def shape(tree):
    """The tree with every string literal's text blanked: what a value must never change."""
    def blank(node):
        if isinstance(node, exp.Literal) and node.is_string:
            return exp.Literal.string("?")
        return node
    return tree.transform(blank).sql(dialect="athena")


def main() -> int:
    args = sys.argv[1:]
    same_shape = args and args[0] == "--same-shape"
    path = args[-1]
    with open(path, encoding="utf-8") as f:
        queries = json.load(f)
    failed = 0
    for q in queries:
        where = f"{q['playbook']}:{q['step']}"
        try:
            tree = parse_one(q["sql"])
            if same_shape:
                twin = parse_one(q["twin"])
                if shape(tree) != shape(twin):
                    raise ParseError("the hostile value changed the query's shape:\n" + q["twin"])
        except ParseError as e:
            failed += 1
            print(f"FAIL {where}: {e}")
            continue
        if not same_shape:
            print(f"ok   {where}")
    kind = "same shape" if same_shape else "parse"
    print(f"sqlglot {sqlglot.__version__} (athena, {kind}): {len(queries) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
