"""Validates CACAO 2.0 playbooks against OASIS's JSON schemas (cacao-json-schemas).

Usage: cacao_check.py SCHEMA_DIR FILE.json...

Each document is validated against playbook.json with the draft the schemas declare (draft-07),
every `$ref` resolved locally (nothing is fetched). The playbook schema does not say which
command, agent or target schema applies to which object, so each command is also validated
against commands/<type>.json, each agent and target against agent-target/<type>.json (when CACAO
defines the type), and every step, agent, target and marking a document refers to must exist.
Prints each problem and exits 1 when there is any.
"""
import json
import pathlib
import sys

from jsonschema import Draft7Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

STEP_REFS = ("on_completion", "on_success", "on_failure", "on_true", "on_false")


def registry(schema_dir: pathlib.Path) -> Registry:
    resources = []
    for path in sorted(schema_dir.rglob("*.json")):
        schema = json.loads(path.read_text(encoding="utf-8"))
        resources.append((schema["$id"], Resource.from_contents(schema, default_specification=DRAFT7)))
    return Registry().with_resources(resources)


def validator(reg: Registry, schema_dir: pathlib.Path, rel: str):
    path = schema_dir / rel
    if not path.exists():
        return None
    schema = json.loads(path.read_text(encoding="utf-8"))
    Draft7Validator.check_schema(schema)
    return Draft7Validator(schema, registry=reg, format_checker=Draft7Validator.FORMAT_CHECKER)


def problems(doc, reg, schema_dir):
    found = []
    for e in validator(reg, schema_dir, "playbook.json").iter_errors(doc):
        found.append(f"{e.message} at /{'/'.join(map(str, e.absolute_path))}")
    if not isinstance(doc, dict):
        return found
    workflow = doc.get("workflow") or {}
    agents = doc.get("agent_definitions") or {}
    targets = doc.get("target_definitions") or {}
    for sid, step in workflow.items():
        if not isinstance(step, dict):
            continue
        for key in STEP_REFS:
            ref = step.get(key)
            if ref is not None and ref not in workflow:
                found.append(f"step {sid}: {key} names {ref}, which is not in the workflow")
        for ref in step.get("next_steps") or []:
            if ref not in workflow:
                found.append(f"step {sid}: next_steps names {ref}, which is not in the workflow")
        for case, ref in (step.get("cases") or {}).items():
            if ref not in workflow:
                found.append(f"step {sid}: case {case!r} names {ref}, which is not in the workflow")
        if step.get("agent") is not None and step["agent"] not in agents:
            found.append(f"step {sid}: agent {step['agent']} is not in agent_definitions")
        for t in step.get("targets") or []:
            if t not in targets:
                found.append(f"step {sid}: target {t} is not in target_definitions")
        for n, command in enumerate(step.get("commands") or []):
            v = validator(reg, schema_dir, f"commands/{command.get('type')}.json")
            for e in (v.iter_errors(command) if v else []):
                found.append(f"step {sid} command {n}: {e.message}")
    for kind, defs in (("agent", agents), ("target", targets)):
        for aid, agent in defs.items():
            v = validator(reg, schema_dir, f"agent-target/{agent.get('type')}.json")
            for e in (v.iter_errors(agent) if v else []):
                found.append(f"{kind} {aid}: {e.message}")
    start = doc.get("workflow_start")
    if start is not None and start not in workflow:
        found.append(f"workflow_start {start} is not in the workflow")
    markings = doc.get("data_marking_definitions") or {}
    for m in doc.get("markings") or []:
        if m not in markings:
            found.append(f"marking {m} is not in data_marking_definitions")
    return found


def main() -> int:
    schema_dir = pathlib.Path(sys.argv[1])
    reg = registry(schema_dir)
    bad = 0
    for name in sys.argv[2:]:
        doc = json.loads(pathlib.Path(name).read_text(encoding="utf-8"))
        found = problems(doc, reg, schema_dir)
        bad += len(found)
        for p in found:
            print(f"{name}: {p}")
        print(f"{name}: {'valid' if not found else f'{len(found)} problems'}")
    return 1 if bad or len(sys.argv) < 3 else 0


if __name__ == "__main__":
    sys.exit(main())
