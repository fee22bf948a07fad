"""Checks irp's exports with the tools of the standards they follow.

Usage:
  standards_check.py stix FILE.json        STIX 2.1 bundle, with OASIS's stix2-validator
  standards_check.py ocsf FILE.jsonl       OCSF 1.1.0 Incident Finding (2005) events, one per
                                           line, against the class as ocsf-json-schema compiles it
  standards_check.py navigator FILE.json   ATT&CK Navigator layer, with mitreattack-python's loader

Prints what it found and exits 1 on any problem.
"""
import contextlib
import io
import json
import sys


def stix(path):
    from stix2validator import ValidationOptions, validate_file

    result = validate_file(path, ValidationOptions(strict=False))
    problems = []
    for obj in result.object_results:
        for e in obj.errors:
            problems.append(f"error: {obj.object_id}: {e}")
        for w in obj.warnings:
            # {103}: SDO and SRO ids SHOULD be UUIDv4. irp derives them (UUIDv5) from the case,
            # so a second export of a case updates the same objects instead of duplicating them
            # (docs/standards.md); every other warning counts.
            if "{103}" not in str(w):
                problems.append(f"warning: {obj.object_id}: {w}")
    if not result.is_valid:
        problems.append("stix2-validator: invalid")
    with open(path, encoding="utf-8") as f:
        count = len(json.load(f).get("objects", []))
    return problems, f"{count} objects"


def ocsf(path):
    from jsonschema import Draft202012Validator
    from ocsf_json_schema import OcsfJsonSchemaEmbedded, get_ocsf_schema

    schema = OcsfJsonSchemaEmbedded(get_ocsf_schema(version="1.1.0")).get_class_schema("incident_finding", profiles=[])
    validator = Draft202012Validator(schema)
    problems = []
    count = 0
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            count += 1
            event = json.loads(line)
            for e in validator.iter_errors(event):
                problems.append(f"line {number}: {e.message} at /{'/'.join(map(str, e.absolute_path))}")
            if event.get("class_uid") != 2005:
                problems.append(f"line {number}: class_uid is {event.get('class_uid')}, not 2005")
    if count == 0:
        problems.append("no events")
    return problems, f"{count} events"


def navigator(path):
    from mitreattack.navlayers import Layer

    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    out = io.StringIO()
    layer = Layer()
    # The loader prints what it rejects or skips instead of raising: anything it says is a problem.
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        layer.from_dict(data)
        loaded = layer.to_dict() if layer.layer is not None else None
    problems = [l for l in out.getvalue().splitlines() if l.strip()]
    if loaded is None:
        problems.append("the layer did not load")
    elif len(loaded.get("techniques", [])) != len(data.get("techniques", [])):
        problems.append(f"{len(data.get('techniques', []))} techniques given, {len(loaded.get('techniques', []))} loaded")
    return problems, f"{len(data.get('techniques', []))} techniques"


def main():
    kind, path = sys.argv[1], sys.argv[2]
    problems, what = {"stix": stix, "ocsf": ocsf, "navigator": navigator}[kind](path)
    for p in problems:
        print(p)
    print(f"{kind}: {what}, {'valid' if not problems else f'{len(problems)} problems'}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
