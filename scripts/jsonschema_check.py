"""Validates JSON Lines against a JSON Schema (draft 2020-12): every line must conform.

Usage: jsonschema_check.py SCHEMA FILE.jsonl
"""
import json
import sys

from jsonschema import Draft202012Validator


def main() -> int:
    schema_path, lines_path = sys.argv[1], sys.argv[2]
    with open(schema_path, encoding="utf-8") as f:
        schema = json.load(f)
    Draft202012Validator.check_schema(schema)
    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    bad = 0
    count = 0
    with open(lines_path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            count += 1
            for error in validator.iter_errors(json.loads(line)):
                bad += 1
                print(f"line {number}: {error.message} at {list(error.absolute_path)}")
    print(f"{count} lines checked, {bad} problems")
    return 1 if bad or count == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
