//! The standards irp speaks: CACAO v2 playbooks out and in (checked with OASIS's schemas).

use std::path::{Path, PathBuf};

use irp::cacao::{export, import};
use serde_json::Value;

use crate::common::{irp, repo, required_tool, shared_reference, stderr, stdout};

const SHIPPED: [&str; 3] = [
    "s3-unintended-data-access",
    "iam-credential-compromise",
    "ec2-instance-credential-exfiltration",
];

fn shipped(name: &str) -> PathBuf {
    repo().join("playbooks").join(format!("{name}.yaml"))
}

/// The CACAO export of playbook text, and the text read as data.
fn export_text(src: &str) -> (Value, Value) {
    let loaded = irp::playbook::load_str(src);
    assert!(!loaded.has_errors(), "{:?}", loaded.diagnostics);
    let data = export::source_data(src).unwrap();
    let doc = export::export(loaded.playbook.as_ref().unwrap(), &data)
        .unwrap()
        .document;
    (doc, data)
}

/// Runs `scripts/cacao_check.py` (OASIS's CACAO schemas, draft-07, plus each command and agent
/// against its own schema and every reference resolved) on documents; `None` when the tools are
/// not there (said loudly; a failure under CI).
fn cacao_check(docs: &[(&str, &Value)]) -> Option<(bool, String)> {
    let python = required_tool("IRP_PYTHON", "a Python with jsonschema")?;
    let schemas = shared_reference("cacao-json-schemas/schemas")?;
    let tmp = tempfile::tempdir().unwrap();
    let mut cmd = std::process::Command::new(python);
    cmd.arg(repo().join("scripts/cacao_check.py")).arg(&schemas);
    for (name, doc) in docs {
        let path = tmp.path().join(format!("{name}.json"));
        std::fs::write(&path, serde_json::to_string_pretty(doc).unwrap()).unwrap();
        cmd.arg(path);
    }
    let out = cmd.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Some((out.status.success(), text))
}

#[test]
fn every_shipped_playbook_exports_to_cacao_that_oasis_schemas_accept() {
    let exports: Vec<(String, Value)> = SHIPPED
        .iter()
        .map(|n| {
            (
                n.to_string(),
                export_text(&std::fs::read_to_string(shipped(n)).unwrap()).0,
            )
        })
        .collect();
    for (name, doc) in &exports {
        assert_eq!(doc["spec_version"], "cacao-2.0");
        let workflow = doc["workflow"].as_object().unwrap();
        let pb = irp::files::load_playbook(&shipped(name)).playbook.unwrap();
        // Every step is there, plus a start and an end; decisions are conditions on the answer.
        assert_eq!(workflow.len(), pb.steps.len() + 2, "{name}");
        let conditions = workflow
            .values()
            .filter(|w| matches!(w["type"].as_str(), Some("if-condition" | "switch-condition")))
            .count();
        let decisions = pb.count_kind(|k| matches!(k, irp::playbook::model::StepKind::Decision(_)));
        assert_eq!(conditions, decisions, "{name}");
        assert!(conditions > 0, "{name} has decisions");
        // Queries carry their SQL as a manual command; AWS actions their call, before-state and rollback.
        let ext = irp::cacao::extension_id();
        let aws = workflow
            .values()
            .filter(|w| !w["step_extensions"][&ext]["aws_operation"].is_null())
            .count();
        assert_eq!(
            aws,
            pb.steps
                .iter()
                .filter(|s| matches!(&s.kind, irp::playbook::model::StepKind::Action(a) if matches!(a.kind, irp::playbook::model::ActionKind::Aws { .. })))
                .count()
        );
        // Roles are agents, references external references, the TLP level a standard marking.
        let agents = doc["agent_definitions"].as_object().unwrap();
        for role in pb.roles.keys() {
            assert!(
                agents
                    .values()
                    .any(|a| a["name"] == role.as_str() && a["type"] == "individual"),
                "{name}: role {role}"
            );
        }
        assert_eq!(
            doc["external_references"].as_array().unwrap().len(),
            pb.references.len()
        );
        assert_eq!(
            doc["markings"][0], "marking-tlp--94868c89-83c2-464b-929b-a1a8aa3c8487",
            "{name} is TLP:CLEAR"
        );
        assert_ne!(
            doc["created"], "1970-01-01T00:00:00.000Z",
            "{name} states when it was written"
        );
    }
    let docs: Vec<(&str, &Value)> = exports.iter().map(|(n, d)| (n.as_str(), d)).collect();
    let Some((ok, text)) = cacao_check(&docs) else {
        return;
    };
    assert!(ok, "OASIS's schemas refuse an export:\n{text}");
    assert_eq!(text.matches(": valid").count(), SHIPPED.len(), "{text}");
}

#[test]
fn the_cacao_check_fails_on_a_broken_export() {
    let (doc, _) = export_text(&std::fs::read_to_string(shipped(SHIPPED[0])).unwrap());
    let first_step = doc["workflow"]
        .as_object()
        .unwrap()
        .iter()
        .find(|(_, w)| w["type"] == "action")
        .map(|(k, _)| k.clone())
        .unwrap();
    let breakages = [
        (
            "no-created-by",
            mutated(&doc, |d| {
                d.as_object_mut().unwrap().remove("created_by");
            }),
        ),
        (
            "dangling-step",
            mutated(&doc, |d| {
                d["workflow"][&first_step]["on_completion"] =
                    Value::from("action--00000000-0000-4000-8000-000000000000");
            }),
        ),
        (
            "bad-timestamp",
            mutated(&doc, |d| d["created"] = Value::from("2026-11-01 09:00")),
        ),
        (
            "command-not-text",
            mutated(&doc, |d| {
                d["workflow"][&first_step]["commands"][0]["command"] = Value::from(7);
            }),
        ),
        (
            "unknown-agent",
            mutated(&doc, |d| {
                d["workflow"][&first_step]["agent"] =
                    Value::from("individual--00000000-0000-4000-8000-000000000000");
            }),
        ),
    ];
    for (name, broken) in &breakages {
        let Some((ok, text)) = cacao_check(&[(name, broken)]) else {
            return;
        };
        assert!(!ok, "the check let a broken document ({name}) through:\n{text}");
    }
}

#[test]
fn export_then_import_then_export_is_stable_for_the_shipped_playbooks() {
    for name in SHIPPED {
        let src = std::fs::read_to_string(shipped(name)).unwrap();
        let (first, data) = export_text(&src);
        let json = serde_json::to_string_pretty(&first).unwrap();
        let imported = import::import(&json, "export.json").unwrap();
        assert!(imported.from_irp);
        assert!(
            imported.not_carried.is_empty(),
            "{name}: {:?}",
            imported.not_carried
        );
        // The imported playbook is the same playbook, field for field.
        let back = export::source_data(&imported.yaml).unwrap();
        assert_eq!(back, data, "{name}: the import differs from the playbook");
        let (second, _) = export_text(&imported.yaml);
        assert_eq!(
            serde_json::to_string_pretty(&second).unwrap(),
            json,
            "{name}: export → import → export changed the document"
        );
    }
}

#[test]
fn export_ids_are_derived_from_the_playbook_and_step_ids_alone() {
    let src = std::fs::read_to_string(shipped(SHIPPED[1])).unwrap();
    let (a, _) = export_text(&src);
    let (b, _) = export_text(&src);
    assert_eq!(a, b, "two exports of one playbook are the same");
    // A new title changes no id; a new playbook id changes every one.
    let retitled = src.replacen("title: Compromised IAM credentials", "title: Something else", 1);
    let (c, _) = export_text(&retitled);
    assert_eq!(a["id"], c["id"]);
    let keys = |d: &Value| {
        d["workflow"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(keys(&a), keys(&c));
    let renamed = src.replacen(
        "id: iam-credential-compromise",
        "id: iam-credential-compromise-2",
        1,
    );
    let (d, _) = export_text(&renamed);
    assert_ne!(a["id"], d["id"]);
    assert!(keys(&a).iter().all(|k| !keys(&d).contains(k)));
}

#[test]
fn a_playbook_without_dates_exports_with_a_warning_and_tlp_levels_map_to_cacao_markings() {
    let src = std::fs::read_to_string(shipped(SHIPPED[0])).unwrap();
    let base: String = src
        .lines()
        .filter(|l| !l.starts_with("created:") && !l.starts_with("modified:") && !l.starts_with("tlp:"))
        .map(|l| format!("{l}\n"))
        .collect();
    let loaded = irp::playbook::load_str(&base);
    let out = export::export(
        loaded.playbook.as_ref().unwrap(),
        &export::source_data(&base).unwrap(),
    )
    .unwrap();
    assert_eq!(out.document["created"], "1970-01-01T00:00:00.000Z");
    assert!(
        out.warnings[0].contains("no `created:` date"),
        "{:?}",
        out.warnings
    );
    assert!(out.document.get("markings").is_none());
    for (level, id) in [
        ("red", "marking-tlp--e828b379-4e03-4974-9ac4-e53a884c97c1"),
        (
            "amber+strict",
            "marking-tlp--939a9414-2ddd-4d32-a0cd-375ea402b003",
        ),
    ] {
        let text = base.replacen(
            "\ntitle:",
            &format!("\ntlp: {level}\ncreated: 2026-11-01\ntitle:"),
            1,
        );
        let (doc, _) = export_text(&text);
        assert_eq!(doc["markings"][0], id);
        assert_eq!(doc["created"], "2026-11-01T00:00:00.000Z");
        assert_eq!(
            doc["data_marking_definitions"][id]["tlpv2_level"],
            format!("TLP:{}", level.to_uppercase())
        );
    }
    let bad = base.replacen("\ntitle:", "\ncreated: yesterday\ntitle:", 1);
    let loaded = irp::playbook::load_str(&bad);
    assert!(
        loaded.diagnostics.iter().any(|d| d
            .message
            .contains("`created` is `yesterday`, which is not a date")),
        "{:?}",
        loaded.diagnostics
    );
}

fn fixture(name: &str) -> PathBuf {
    repo().join("tests/fixtures/cacao").join(name)
}

#[test]
fn public_cacao_playbooks_import_as_playbooks_irp_validates() {
    let cases: [(&str, usize, usize); 5] = [
        // (file, steps, decisions)
        ("soarca-docs-example-playbook.json", 6, 2),
        ("soarca-manual-playbook.json", 1, 0),
        ("soarca-ssh-playbook.json", 2, 0),
        ("soarca-http-playbook.json", 1, 0),
        ("cacao-layout-extension-switch-example.json", 5, 1),
    ];
    for (file, steps, decisions) in cases {
        let text = std::fs::read_to_string(fixture(file)).unwrap();
        let imported = import::import(&text, file).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert!(!imported.from_irp);
        let loaded = irp::playbook::load_str(&imported.yaml);
        assert!(!loaded.has_errors(), "{file}: {:?}", loaded.diagnostics);
        let pb = loaded.playbook.unwrap();
        assert_eq!(pb.steps.len(), steps, "{file}:\n{}", imported.yaml);
        assert_eq!(
            pb.count_kind(|k| matches!(k, irp::playbook::model::StepKind::Decision(_))),
            decisions,
            "{file}"
        );
        // Nothing imported is ever a command irp would run.
        assert!(
            !pb.steps.iter().any(|s| matches!(&s.kind, irp::playbook::model::StepKind::Action(a) if !matches!(a.kind, irp::playbook::model::ActionKind::Manual { .. }))),
            "{file}: an imported step runs something"
        );
    }
}

#[test]
fn cacao_branches_rejoin_where_the_condition_says_and_loops_keep_a_way_out() {
    // The layout extension's example: three switch branches each end, then the step after the
    // switch runs (CACAO: a branch's end returns to the condition's on_completion).
    let text = std::fs::read_to_string(fixture("cacao-layout-extension-switch-example.json")).unwrap();
    let pb = irp::playbook::load_str(&import::import(&text, "x").unwrap().yaml)
        .playbook
        .unwrap();
    let after = pb.step_index("action-step-after-switch-condition").unwrap();
    for case in ["handle-case-1", "handle-case-2", "handle-default-case"] {
        let i = pb.step_index(case).unwrap();
        assert_eq!(
            pb.steps[i].next,
            irp::playbook::model::Next::Step(after),
            "{case}"
        );
    }
    // SOARCA's example: the while loop's body comes back to the loop; `done` goes on.
    let text = std::fs::read_to_string(fixture("soarca-docs-example-playbook.json")).unwrap();
    let imported = import::import(&text, "x").unwrap();
    let pb = irp::playbook::load_str(&imported.yaml).playbook.unwrap();
    let w = pb.step_index("while-the-counter-is-not-5").unwrap();
    let body = pb.step_index("increment-the-counter").unwrap();
    assert_eq!(pb.steps[body].next, irp::playbook::model::Next::Step(w));
    // The playbook variables are inputs, and step text refers to them as templates.
    assert!(pb.inputs.contains_key("target_ip"));
    assert!(imported.yaml.contains("{{ target_ip }}"));
    // The ssh command is shown, in full, never run.
    assert!(imported.yaml.contains("date -I | tr -d"), "{}", imported.yaml);
    assert!(imported.not_carried.iter().any(|n| n.contains("`ssh` commands")));
}

#[test]
fn an_import_carries_no_credentials_and_lists_what_it_left_behind() {
    let text = std::fs::read_to_string(fixture("soarca-ssh-playbook.json")).unwrap();
    let imported = import::import(&text, "soarca-ssh-playbook.json").unwrap();
    assert!(!imported.yaml.contains("password"), "{}", imported.yaml);
    assert!(
        imported
            .not_carried
            .iter()
            .any(|n| n.contains("credentials are never imported"))
    );
    // The list is at the top of the file too.
    assert!(imported.yaml.contains("# Not carried over:\n"));
    assert!(
        imported
            .yaml
            .contains("#   - authentication info: credentials are never imported")
    );
}

#[test]
fn hostile_cacao_text_stays_text() {
    let doc = serde_json::json!({
        "type": "playbook",
        "spec_version": "cacao-2.0",
        "id": "playbook--00000000-0000-4000-8000-000000000001",
        "name": "Hostile {{ 7 * 7 }}\nname",
        "created_by": "identity--00000000-0000-4000-8000-000000000002",
        "created": "2026-01-01T00:00:00.000Z",
        "modified": "2026-01-01T00:00:00.000Z",
        "workflow_start": "start--00000000-0000-4000-8000-000000000003",
        "workflow": {
            "start--00000000-0000-4000-8000-000000000003": { "type": "start", "on_completion": "action--00000000-0000-4000-8000-000000000004" },
            "action--00000000-0000-4000-8000-000000000004": {
                "type": "action",
                "name": "{% for i in range(100000000) %}x{% endfor %}",
                "description": "{# comment #} and {{ config }} and ]]> <script>",
                "commands": [
                    { "type": "bash", "command": "rm -rf / --no-preserve-root" },
                    { "type": "manual", "command": "Say {{ 1 + 1 }}: '\"\\\n---\n- a: b" },
                    { "type": "manual", "command_b64": "e3sgZW52IH19IGZyb20gYmFzZTY0" }
                ],
                "agent": "individual--00000000-0000-4000-8000-000000000005",
                "on_completion": "end--00000000-0000-4000-8000-000000000006"
            },
            "end--00000000-0000-4000-8000-000000000006": { "type": "end" }
        },
        "agent_definitions": {
            "individual--00000000-0000-4000-8000-000000000005": { "type": "individual", "name": "{{ x }}: a: b" }
        }
    });
    let imported = import::import(&doc.to_string(), "hostile.json").unwrap();
    let pb = irp::playbook::load_str(&imported.yaml).playbook.unwrap();
    let step = &pb.steps[0];
    let irp::playbook::model::StepKind::Action(a) = &step.kind else {
        panic!("{step:?}")
    };
    let irp::playbook::model::ActionKind::Manual { items } = &a.kind else {
        panic!("a command step: {a:?}")
    };
    // Rendered as a responder sees them, the texts are what CACAO said, character for character.
    let ctx = minijinja::Value::from(());
    let shown: Vec<String> = items
        .iter()
        .map(|i| irp::playbook::template::render_text(i, &ctx).unwrap())
        .collect();
    assert!(
        shown[0].contains("`bash` command 1: rm -rf / --no-preserve-root"),
        "{shown:?}"
    );
    assert_eq!(shown[1], "Say {{ 1 + 1 }}: '\"\\\n---\n- a: b");
    assert_eq!(shown[2], "{{ env }} from base64");
    let guidance = irp::playbook::template::render_text(step.guidance.as_deref().unwrap(), &ctx).unwrap();
    assert!(
        guidance.starts_with("{# comment #} and {{ config }} and ]]> <script>"),
        "{guidance}"
    );
    assert_eq!(step.title, "{% for i in range(100000000) %}x{% endfor %}");
    assert_eq!(pb.title, "Hostile {{ 7 * 7 }} name");
}

#[test]
fn an_import_refuses_what_is_not_a_cacao_2_playbook_and_says_why() {
    let cases: [(&str, &str); 6] = [
        ("{ not json", "is not JSON (line 1, column 3)"),
        ("[1, 2]", "not an object"),
        (r#"{"type": "bundle"}"#, "has no `\"type\": \"playbook\"`"),
        (
            r#"{"type": "playbook", "spec_version": "cacao-1.0"}"#,
            "is a `cacao-1.0` document; irp reads CACAO 2.0",
        ),
        (
            r#"{"type": "playbook", "spec_version": "cacao-2.0", "workflow_start": "start--1", "workflow": {"start--1": {"type": "start", "on_completion": "action--2"}}}"#,
            "refers to step action--2, which is not in its workflow",
        ),
        (
            r#"{"type": "playbook", "spec_version": "cacao-2.0", "workflow_start": "start--1", "workflow": {"start--1": {"type": "start", "on_completion": "end--2"}, "end--2": {"type": "end"}}}"#,
            "nothing to import",
        ),
    ];
    for (text, expected) in cases {
        let err = import::import(text, "x.json").unwrap_err();
        assert!(err.contains(expected), "{text}: {err}");
    }
}

#[test]
fn a_workflow_that_loops_through_parallel_steps_is_refused_not_followed_forever() {
    let doc = serde_json::json!({
        "type": "playbook", "spec_version": "cacao-2.0", "name": "loop",
        "workflow_start": "start--1",
        "workflow": {
            "start--1": { "type": "start", "on_completion": "parallel--2" },
            "parallel--2": { "type": "parallel", "next_steps": ["parallel--3"], "on_completion": "end--4" },
            "parallel--3": { "type": "parallel", "next_steps": ["parallel--2"], "on_completion": "end--4" },
            "end--4": { "type": "end" }
        }
    });
    let err = import::import(&doc.to_string(), "x.json").unwrap_err();
    assert!(err.contains("nests too deep"), "{err}");
}

fn run_irp(args: &[&str]) -> std::process::Output {
    irp().args(args).output().unwrap()
}

#[test]
fn irp_export_and_import_cacao_from_the_command_line() {
    let tmp = tempfile::tempdir().unwrap();
    let json = tmp.path().join("s3.json");
    let yaml = tmp.path().join("s3.yaml");
    let p = |p: &Path| p.to_str().unwrap().to_owned();
    let out = run_irp(&[
        "export",
        "cacao",
        "playbooks/s3-unintended-data-access.yaml",
        "-o",
        &p(&json),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = run_irp(&["import", "cacao", &p(&json), "-o", &p(&yaml)]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("65 steps, read back from irp's extension"),
        "{}",
        stdout(&out)
    );
    let out = run_irp(&["validate", &p(&yaml)]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    // An existing playbook is not replaced unasked.
    let before = std::fs::read(&yaml).unwrap();
    let out = run_irp(&[
        "import",
        "cacao",
        &p(&fixture("soarca-ssh-playbook.json")),
        "-o",
        &p(&yaml),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("exists; irp does not replace a playbook unasked"),
        "{}",
        stderr(&out)
    );
    assert_eq!(std::fs::read(&yaml).unwrap(), before);
    let out = run_irp(&[
        "import",
        "cacao",
        &p(&fixture("soarca-ssh-playbook.json")),
        "-o",
        &p(&yaml),
        "--force",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("not carried over"), "{}", stderr(&out));
    // Not a CACAO file: a clear error, nothing written.
    let out = run_irp(&[
        "import",
        "cacao",
        "playbooks/s3-unintended-data-access.yaml",
        "-o",
        &p(&tmp.path().join("x.yaml")),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("is not JSON"), "{}", stderr(&out));
    assert!(!tmp.path().join("x.yaml").exists());
}

#[test]
fn an_export_edited_in_a_soar_comes_back_with_the_edits_listed() {
    let (mut doc, _) = export_text(&std::fs::read_to_string(shipped(SHIPPED[2])).unwrap());
    let workflow = doc["workflow"].as_object_mut().unwrap();
    let (first, _) = workflow
        .iter()
        .find(|(_, w)| w["type"] == "action")
        .map(|(k, v)| (k.clone(), v.clone()))
        .unwrap();
    workflow[&first]["name"] = Value::from("Renamed in the SOAR");
    workflow.insert(
        "action--00000000-0000-4000-8000-0000000000aa".into(),
        serde_json::json!({ "type": "action", "name": "Call the CISO", "commands": [{ "type": "manual", "command": "call" }], "agent": "individual--x", "on_completion": first }),
    );
    let imported = import::import(&doc.to_string(), "edited.json").unwrap();
    assert!(imported.from_irp);
    let notes = imported.not_carried.join("\n");
    assert!(
        notes.contains("is named `Renamed in the SOAR` in the CACAO workflow; irp's extension, which wins"),
        "{notes}"
    );
    assert!(
        notes.contains("`Call the CISO`) has no irp extension: it was added outside irp"),
        "{notes}"
    );
    // A step the extension lists but the workflow lost is an error, not a silent gap.
    let ext = irp::cacao::extension_id();
    doc["workflow"]
        .as_object_mut()
        .unwrap()
        .retain(|_, w| w["step_extensions"][&ext]["step"]["id"] != "coverage");
    let err = import::import(&doc.to_string(), "edited.json").unwrap_err();
    assert!(err.contains("lists step `coverage`"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// ATT&CK, D3FEND and NIST SP 800-61 r3 in the playbook format

/// A shipped playbook's text with `edit` applied to it, loaded.
fn edited(name: &str, edit: impl Fn(&str) -> String) -> irp::playbook::Loaded {
    let src = std::fs::read_to_string(shipped(name)).unwrap();
    irp::playbook::load_str(&edit(&src))
}

fn messages(l: &irp::playbook::Loaded) -> String {
    l.diagnostics
        .iter()
        .map(|d| format!("{}: {}", d.severity.as_str(), d.message))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn attack_and_d3fend_ids_are_checked_against_the_pinned_catalogues() {
    for name in SHIPPED {
        let l = irp::files::load_playbook(&shipped(name));
        assert!(l.diagnostics.is_empty(), "{name}: {}", messages(&l));
        let pb = l.playbook.unwrap();
        assert!(
            !pb.attack.is_empty(),
            "{name} names the techniques it responds to"
        );
        assert!(
            pb.steps.iter().any(|s| !s.attack.is_empty()),
            "{name} tags its steps"
        );
        assert!(
            pb.steps.iter().any(|s| !s.d3fend.is_empty()),
            "{name} tags its actions"
        );
    }
    let cases: [(&str, &str, &str); 6] = [
        (
            "attack: [T1530, T1078.004, T1537, T1098]",
            "attack: [T15300]",
            "error: `T15300` is not an ATT&CK technique id",
        ),
        (
            "attack: [T1530, T1078.004, T1537, T1098]",
            "attack: [T9999]",
            "error: `T9999` is not a technique of ATT&CK Enterprise v18.1",
        ),
        (
            "attack: [T1530, T1078.004, T1537, T1098]",
            "attack: [T1064]",
            "warning: `T1064` (Scripting) is deprecated in ATT&CK Enterprise v18.1",
        ),
        (
            "        d3fend: [D3-CR]\n",
            "        d3fend: [D3-XYZ]\n",
            "error: `D3-XYZ` is not a D3FEND technique",
        ),
        (
            "        d3fend: [D3-CR]\n",
            "        d3fend: [cr]\n",
            "error: `cr` is not a D3FEND technique id",
        ),
        (
            "        attack: [T1530]\n",
            "        d3fend: [D3-NI]\n",
            "error: `d3fend` names the defence an action applies; this step is not an action",
        ),
    ];
    for (from, to, expected) in cases {
        let l = edited(SHIPPED[0], |s| {
            assert!(s.contains(from), "{from}");
            s.replacen(from, to, 1)
        });
        assert!(messages(&l).contains(expected), "{to}: {}", messages(&l));
    }
}

#[test]
fn nist_800_61r3_stages_have_functions_given_or_from_their_csf_tags() {
    for name in SHIPPED {
        let pb = irp::files::load_playbook(&shipped(name)).playbook.unwrap();
        assert_eq!(pb.frameworks.len(), 2, "{name} declares r2 and r3");
        for st in &pb.stages {
            assert!(!st.functions.is_empty(), "{name}: stage {} has a function", st.id);
        }
    }
    let pb = irp::files::load_playbook(&shipped(SHIPPED[0])).playbook.unwrap();
    let function_of = |id: &str| pb.stages.iter().find(|s| s.id == id).unwrap().functions.clone();
    assert_eq!(
        function_of("preparation"),
        ["GV", "ID", "DE", "RS"],
        "from its and its steps' tags"
    );
    assert_eq!(function_of("containment"), ["RS"]);
    assert_eq!(
        function_of("recovery"),
        ["RS", "RC", "PR"],
        "given: a stage can span functions"
    );
    assert_eq!(function_of("post-incident"), ["ID"]);

    // r3 alone: no phase needed; each stage's phase follows from its first function.
    let l = edited(SHIPPED[0], |s| {
        s.replacen(
            "framework: [nist-800-61r2, nist-800-61r3]",
            "framework: nist-800-61r3",
            1,
        )
        .replace("    phase: containment-eradication-recovery\n", "")
    });
    assert!(!l.has_errors(), "{}", messages(&l));
    let pb = l.playbook.unwrap();
    assert_eq!(
        pb.stages.iter().find(|s| s.id == "containment").unwrap().phase,
        irp::playbook::raw::Phase::ContainmentEradicationRecovery
    );
    // r2 declared: a stage without a phase is an error.
    let l = edited(SHIPPED[0], |s| {
        s.replacen("    phase: containment-eradication-recovery\n", "", 1)
    });
    assert!(
        messages(&l).contains("error: stage `containment` has no `phase`"),
        "{}",
        messages(&l)
    );
    // Unknown and repeated functions; tags outside the given functions; r3 with no function.
    let l = edited(SHIPPED[0], |s| {
        s.replacen("    functions: [RS, RC, PR]", "    functions: [RS, RX, RS]", 1)
    });
    let m = messages(&l);
    assert!(m.contains("error: unknown CSF 2.0 function `RX`"), "{m}");
    assert!(m.contains("error: function `RS` is given twice"), "{m}");
    let l = edited(SHIPPED[0], |s| {
        s.replacen("    functions: [RS, RC, PR]", "    functions: [RC]", 1)
    });
    assert!(
        messages(&l).contains("warning: stage `recovery` has `csf` tags of the function `PR`"),
        "{}",
        messages(&l)
    );
    let l = edited(SHIPPED[0], |s| {
        s.replace("        csf: [ID.IM]\n", "")
            .replace("\n    csf: [ID.IM]\n", "\n")
    });
    assert!(
        messages(&l)
            .contains("error: stage `post-incident` has no CSF 2.0 function, which `nist-800-61r3` needs"),
        "{}",
        messages(&l)
    );
}

#[test]
fn a_scenario_names_its_techniques_and_the_score_says_which_the_evidence_found() {
    let text = std::fs::read_to_string(
        repo().join("playbooks/s3-unintended-data-access/scenarios/exfiltration.yaml"),
    )
    .unwrap();
    assert!(text.contains("attack: [T1530, T1078.004]"));
    let pb = irp::files::load_playbook(&shipped(SHIPPED[0])).playbook.unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("bad.yaml");
    std::fs::write(
        &bad,
        text.replacen("attack: [T1530, T1078.004]", "attack: [T1530, T42]", 1),
    )
    .unwrap();
    let err = irp::rehearse::scenario::Scenario::load(&bad, &pb).unwrap_err();
    assert!(
        err.iter()
            .any(|e| e.contains("`truth.attack`: `T42` is not a technique of ATT&CK Enterprise v18.1")),
        "{err:?}"
    );
    // The exercise's score (kept case of the shipped test).
    let (_, report) = case_report("json");
    let score = &report["score"];
    let attack = score["attack"].as_array().unwrap();
    assert_eq!(attack.len(), 2, "{score}");
    assert_eq!(attack[0]["id"], "T1530");
    assert_eq!(
        attack[0]["found"], true,
        "reads-by-principal captured the evidence"
    );
    assert_eq!(attack[1]["id"], "T1078.004");
}

// ---------------------------------------------------------------------------------------------
// The case out: ATT&CK Navigator, OCSF, STIX

/// The case of the shipped test `exfiltration-from-finding` (made once), kept.
fn kept_case() -> &'static Path {
    static CASE: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    CASE.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("irp-standards-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let out = irp()
            .env("IRP_CACHE", dir.join("cache"))
            .env("IRP_NOW", "2026-11-28T09:00:00Z")
            .args([
                "test",
                "playbooks/s3-unintended-data-access.yaml",
                "--filter",
                "exfiltration-from-finding",
                "--keep",
            ])
            .arg(dir.join("kept"))
            .output()
            .unwrap();
        assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
        dir.join("kept/s3-unintended-data-access--exfiltration-from-finding")
    })
}

/// `irp report` of the kept case in a format: the text, and (for JSON formats) the data.
fn case_report(format: &str) -> (String, Value) {
    let out = irp()
        .args(["report", kept_case().to_str().unwrap(), "--format", format])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let data = serde_json::from_str(&text).unwrap_or(Value::Null);
    (text, data)
}

/// Runs `scripts/standards_check.py KIND` on a document; `None` when the standards' tools are
/// not installed (said loudly; a failure under CI).
fn standards_check(kind: &str, text: &str) -> Option<(bool, String)> {
    let python = required_tool(
        "IRP_STANDARDS_PYTHON",
        "a Python with stix2-validator, mitreattack-python and ocsf-json-schema",
    )?;
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("doc");
    std::fs::write(&path, text).unwrap();
    let out = std::process::Command::new(python)
        .arg(repo().join("scripts/standards_check.py"))
        .arg(kind)
        .arg(&path)
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Some((out.status.success(), said))
}

/// `doc` changed by `edit`: a broken document for a check to refuse.
fn mutated(doc: &Value, edit: impl FnOnce(&mut Value)) -> Value {
    let mut d = doc.clone();
    edit(&mut d);
    d
}

/// Every broken document is refused by the standard's own check (one JSON document per line).
fn assert_all_refused(kind: &str, broken: Vec<(&str, Value)>) {
    for (what, doc) in broken {
        let (ok, said) = standards_check(kind, &format!("{doc}\n")).unwrap();
        assert!(!ok, "{kind}: a document with {what} passed:\n{said}");
    }
}

#[test]
fn the_report_shows_the_techniques_the_evidence_speaks_for_and_the_defences_applied() {
    let (md, _) = case_report("md");
    assert!(md.contains("## ATT&CK techniques and D3FEND defences"), "{md}");
    assert!(
        md.contains("| `T1530` | Data from Cloud Storage | collection | `reads-by-principal` | 3 recorded |"),
        "{md}"
    );
    assert!(md.contains("| `T1537` | Transfer Data to Cloud Account | exfiltration | — | none recorded (the playbook looks for it) |"), "{md}");
    assert!(
        md.contains("| `D3-CR` | Credential Revocation | Evict | `deactivate-key` |"),
        "{md}"
    );
    assert!(md.contains("### By NIST SP 800-61 r3 function (CSF 2.0)"));
    let (_, json) = case_report("json");
    let t = &json["techniques"];
    assert_eq!(t["attack_version"], "18.1");
    assert_eq!(t["attack"][0]["id"], "T1530");
    // Metrics by r3 function come from the stages' functions: recovery counts for RS, RC and PR.
    let functions = json["metrics"]["csf_functions"].as_array().unwrap();
    let counts = |f: &str, stage: &str| {
        functions
            .iter()
            .find(|x| x["function"] == f)
            .is_some_and(|x| x["stages"].as_array().unwrap().iter().any(|s| s == stage))
    };
    assert!(counts("PR", "recovery"));
    assert!(counts("RS", "recovery"));
    assert!(counts("DE", "detection-and-analysis"));
    let (html, _) = case_report("html");
    assert!(html.contains("ATT&amp;CK techniques and D3FEND defences"));
}

#[test]
fn the_attack_navigator_layer_loads_in_mitreattack_python() {
    let (text, layer) = case_report("attack-navigator");
    assert_eq!(layer["versions"]["layer"], "4.5");
    assert_eq!(layer["domain"], "enterprise-attack");
    let techniques = layer["techniques"].as_array().unwrap();
    assert!(
        techniques
            .iter()
            .any(|t| t["techniqueID"] == "T1530" && t["score"] == 1)
    );
    assert!(
        techniques
            .iter()
            .any(|t| t["techniqueID"] == "T1537" && t["score"] == 0)
    );
    let Some((ok, said)) = standards_check("navigator", &text) else {
        return;
    };
    assert!(ok, "{said}");
    let broken = vec![
        (
            "domain",
            mutated(&layer, |l| {
                l["domain"] = Value::from("enterprise");
            }),
        ),
        (
            "score",
            mutated(&layer, |l| {
                l["techniques"][0]["score"] = Value::from("high");
            }),
        ),
        (
            "name",
            mutated(&layer, |l| {
                l.as_object_mut().unwrap().remove("name");
            }),
        ),
    ];
    assert_all_refused("navigator", broken);
}

#[test]
fn the_ocsf_events_follow_ocsf_1_1_incident_finding() {
    let (text, _) = case_report("ocsf");
    let events: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(events.first().unwrap()["activity_id"], 1, "the case opened");
    assert_eq!(events.last().unwrap()["activity_id"], 3, "the case closed");
    let updates: Vec<&Value> = events.iter().filter(|e| e["activity_id"] == 2).collect();
    assert!(!updates.is_empty(), "each action is a finding activity");
    assert!(
        updates
            .iter()
            .any(|e| e["unmapped"]["irp"]["d3fend"][0] == "D3-CR")
    );
    for e in &events {
        assert_eq!(e["class_uid"], 2005);
        assert_eq!(
            e["type_uid"].as_u64().unwrap(),
            200_500 + e["activity_id"].as_u64().unwrap()
        );
        assert!(
            e["observables"]
                .as_array()
                .unwrap()
                .iter()
                .any(|o| o["type_id"] == 2 && o["value"] == "185.220.101.47")
        );
        assert_eq!(e["attacks"][0]["technique"]["uid"], "T1530");
    }
    let Some((ok, said)) = standards_check("ocsf", &text) else {
        return;
    };
    assert!(ok, "{said}");
    let first = &events[0];
    let broken = vec![
        (
            "no status_id",
            mutated(first, |e| {
                e.as_object_mut().unwrap().remove("status_id");
            }),
        ),
        (
            "an observable type that 1.1 does not have",
            mutated(first, |e| {
                e["observables"][0]["type_id"] = Value::from(77);
            }),
        ),
        (
            "an attribute the class does not have",
            mutated(first, |e| {
                e["surprise"] = Value::from(true);
            }),
        ),
    ];
    assert_all_refused("ocsf", broken);
}

#[test]
fn the_stix_bundle_passes_stix2_validator() {
    let (text, bundle) = case_report("stix");
    let objects = bundle["objects"].as_array().unwrap();
    let of = |ty: &str| objects.iter().filter(|o| o["type"] == ty).collect::<Vec<_>>();
    let incident = of("incident");
    assert_eq!(incident.len(), 1);
    assert_eq!(
        incident[0]["extensions"][irp::report::interop::INCIDENT_CORE_EXTENSION]["investigation_status"],
        "closed"
    );
    assert_eq!(of("course-of-action").len(), 1, "the playbook");
    assert!(
        of("indicator")
            .iter()
            .any(|i| i["pattern"] == "[ipv4-addr:value = '185.220.101.47']")
    );
    assert_eq!(
        of("sighting").len(),
        of("indicator").len(),
        "a sighting per indicator"
    );
    assert!(
        of("sighting")
            .iter()
            .all(|s| s["first_seen"].is_string() && s["last_seen"].is_string())
    );
    assert!(
        of("attack-pattern")
            .iter()
            .any(|a| a["external_references"][0]["external_id"] == "T1530")
    );
    // The same case gives the same bundle.
    let (again, _) = case_report("stix");
    assert_eq!(again, text);
    let Some((ok, said)) = standards_check("stix", &text) else {
        return;
    };
    assert!(ok, "{said}");
    let broken = vec![
        (
            "an object without spec_version",
            mutated(&bundle, |b| {
                b["objects"][1].as_object_mut().unwrap().remove("spec_version");
            }),
        ),
        (
            "a pattern cut short",
            mutated(&bundle, |b| {
                let i = objects.iter().position(|o| o["type"] == "indicator").unwrap();
                b["objects"][i]["pattern"] = Value::from("[ipv4-addr:value = ");
            }),
        ),
    ];
    assert_all_refused("stix", broken);
}

#[test]
fn hostile_evidence_stays_data_in_the_ocsf_and_stix_documents() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("case");
    {
        let mut s = crate::journal::new_case(&root);
        s.execute(&irp::engine::Command::Start).unwrap();
        for (observable, value) in [
            (
                irp::engine::Observable::Arn,
                "arn:aws:iam::111122223333:user/o'brien\\x] OR [ipv4-addr:value = '1.2.3.4'",
            ),
            (irp::engine::Observable::Ip, "2001:db8::1"),
            (
                irp::engine::Observable::Text,
                "'); DROP TABLE x; -- \"\n{{ 7 * 7 }} \u{202e}",
            ),
        ] {
            s.execute(&irp::engine::Command::AddEvidence {
                observable,
                value: value.to_owned(),
                note: Some("\"quoted\"\nnote".to_owned()),
            })
            .unwrap();
        }
    }
    let report = |format: &str| {
        let out = irp()
            .args(["report", root.to_str().unwrap(), "--format", format])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        stdout(&out)
    };
    let stix = report("stix");
    let bundle: Value = serde_json::from_str(&stix).unwrap();
    let patterns: Vec<&str> = bundle["objects"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|o| o["pattern"].as_str())
        .collect();
    // The quote is escaped: the pattern compares one value; it does not grow a second clause.
    assert!(
        patterns.contains(&"[user-account:user_id = 'arn:aws:iam::111122223333:user/o\\'brien\\\\x] OR [ipv4-addr:value = \\'1.2.3.4\\'']"),
        "{patterns:?}"
    );
    assert!(
        patterns.contains(&"[ipv6-addr:value = '2001:db8::1']"),
        "{patterns:?}"
    );
    let note = bundle["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["type"] == "note")
        .unwrap();
    assert!(note["content"].as_str().unwrap().contains("{{ 7 * 7 }}"));
    let ocsf = report("ocsf");
    assert_eq!(ocsf.lines().count(), 1, "opened; no action, not closed");
    let event: Value = serde_json::from_str(ocsf.lines().next().unwrap()).unwrap();
    assert!(
        event["observables"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o["value"].as_str().unwrap().contains("DROP TABLE"))
    );
    let Some((ok, said)) = standards_check("stix", &stix) else {
        return;
    };
    assert!(ok, "{said}");
    let (ok, said) = standards_check("ocsf", &ocsf).unwrap();
    assert!(ok, "{said}");
}

/// A CACAO playbook whose workflow is `n` actions in a row.
fn linear_cacao(n: usize) -> String {
    let id = |i: usize| format!("action--00000000-0000-4000-8000-{i:012}");
    let end = "end--00000000-0000-4000-8000-999999999999";
    let mut workflow = serde_json::Map::new();
    workflow.insert(
        "start--00000000-0000-4000-8000-000000000000".into(),
        serde_json::json!({ "type": "start", "on_completion": id(1) }),
    );
    for i in 1..=n {
        let next = if i < n { id(i + 1) } else { end.to_owned() };
        workflow.insert(
            id(i),
            serde_json::json!({ "type": "action", "name": format!("Step {i}"), "commands": [{ "type": "manual", "command": format!("do {i}") }], "agent": "individual--x", "on_completion": next }),
        );
    }
    workflow.insert(end.into(), serde_json::json!({ "type": "end" }));
    serde_json::json!({
        "type": "playbook", "spec_version": "cacao-2.0", "name": "Long",
        "workflow_start": "start--00000000-0000-4000-8000-000000000000", "workflow": workflow,
    })
    .to_string()
}

#[test]
fn a_long_cacao_workflow_imports_whole_and_one_too_long_is_refused() {
    // 1,500 steps in a row: a long path is not a loop, and the walk has the stack it needs.
    let imported = import::import(&linear_cacao(1_500), "long.json").unwrap();
    assert_eq!(imported.steps, 1_500);
    let err = import::import(&linear_cacao(2_100), "longer.json").unwrap_err();
    assert!(err.contains("more than 2000 irp steps"), "{err}");
}
