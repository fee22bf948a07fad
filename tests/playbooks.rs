//! The shipped playbooks: they validate, every query renders and parses as Athena SQL in a parser
//! nobody on this project wrote (sqlglot), hostile input values leave every query's shape as it
//! was, and their graphs render.

use std::path::PathBuf;
use std::process::Command;

use chrono::{DateTime, Utc};
use irp::files::load_playbook;
use irp::playbook::Playbook;
use irp::playbook::context::{TableNaming, sample_queries};
use irp::playbook::graph::{GraphFormat, render};
use irp::playbook::model::StepKind;
use irp::playbook::raw::InputType;

use crate::common::{repo, required_tool, run, stderr, stdout};

fn shipped() -> Vec<(PathBuf, Playbook)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(repo().join("playbooks")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            let loaded = load_playbook(&path);
            let pb = loaded
                .playbook
                .unwrap_or_else(|| panic!("{} is invalid: {:#?}", path.display(), loaded.diagnostics));
            out.push((path, pb));
        }
    }
    assert!(!out.is_empty());
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-28T03:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

#[test]
fn validate_playbooks_folder_exits_0() {
    let out = run(&["validate", "playbooks/"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).is_empty(), "no warnings either: {}", stderr(&out));
    assert!(stdout(&out).contains("ok: playbooks/s3-unintended-data-access.yaml: s3-unintended-data-access"));
}

#[test]
fn the_s3_playbook_covers_every_phase_and_the_aws_decision_points() {
    let (_, pb) = shipped()
        .into_iter()
        .find(|(_, p)| p.id == "s3-unintended-data-access")
        .unwrap();
    use irp::playbook::raw::Phase;
    for phase in [
        Phase::Preparation,
        Phase::DetectionAndAnalysis,
        Phase::ContainmentEradicationRecovery,
        Phase::PostIncidentActivity,
    ] {
        assert!(
            pb.stages.iter().any(|s| s.phase == phase),
            "no stage in {phase:?}"
        );
    }
    for id in ["bucket-known", "bucket-control", "principal-known", "ongoing"] {
        assert!(
            matches!(pb.step(id).map(|s| &s.kind), Some(StepKind::Decision(_))),
            "decision `{id}`"
        );
    }
    for s in &pb.steps {
        let has_text =
            s.guidance.as_ref().is_some_and(|g| g.trim().len() > 20) || matches!(&s.kind, StepKind::Note(_));
        assert!(has_text, "step `{}` has no guidance", s.id);
        assert!(s.role.is_some(), "step `{}` names no role", s.id);
        if let StepKind::Query(q) = &s.kind {
            assert!(
                !q.sql.contains("PutPublicAccessBlock'"),
                "`{}` uses the API name, not the CloudTrail event name",
                s.id
            );
        }
    }
    // Containment follows AWS's order: state capture, credentials, bucket policy, public access, ACLs.
    let pos = |id: &str| pb.step_index(id).unwrap();
    assert!(pos("capture-policy") < pos("deactivate-key"));
    assert!(pos("revoke-role-sessions") < pos("deny-in-bucket-policy"));
    assert!(pos("deny-in-bucket-policy") < pos("block-public-access"));
    assert!(pos("block-public-access") < pos("acl-private"));
    assert!(pos("acl-private") < pos("delete-replication"));
}

/// Writes the rendered queries (and their hostile twins) for the Python checker.
fn rendered_queries() -> serde_json::Value {
    let naming = TableNaming::default();
    let mut items = Vec::new();
    for (_, pb) in shipped() {
        for (step, sql) in sample_queries(&pb, now(), &naming) {
            let sql = sql.unwrap_or_else(|e| panic!("{}:{step}: {e}", pb.id));
            items.push(serde_json::json!({ "playbook": pb.id, "step": step, "sql": sql }));
        }
        // The query that reads a finding into the inputs, before the case opens.
        if let Some(sql) =
            irp::playbook::context::finding_sql(&pb, "a0331de80ec86a6c577fe6dc230b97f9", &naming, now())
        {
            let sql = sql.unwrap_or_else(|e| panic!("{}: from_finding: {e}", pb.id));
            items.push(serde_json::json!({ "playbook": pb.id, "step": "from_finding", "sql": sql }));
        }
    }
    serde_json::Value::Array(items)
}

#[test]
fn every_query_parses_as_athena_sql_in_sqlglot() {
    let Some(python) = required_tool("IRP_PYTHON", "a Python with sqlglot") else {
        return;
    };
    let queries = rendered_queries();
    assert!(queries.as_array().unwrap().len() >= 10);
    let (ok, text) = crate::common::sqlglot_check(&python, &[], &queries);
    println!("{text}");
    assert!(ok, "sqlglot rejected queries:\n{text}");
}

#[test]
fn hostile_input_values_do_not_change_any_query_shape() {
    let Some(python) = required_tool("IRP_PYTHON", "a Python with sqlglot") else {
        return;
    };
    let naming = TableNaming::default();
    let hostile = [
        "' OR 1=1 --",
        "x'); DROP TABLE t; --",
        "a\nb' UNION SELECT 1 --",
        "\\' OR ''='",
    ];
    let mut pairs = Vec::new();
    for (_, pb) in shipped() {
        let good = sample_queries(&pb, now(), &naming);
        for value in hostile {
            // Replace every string example with the hostile value, then render again.
            let mut evil = pb.clone();
            // Timestamps and integers are parsed at case start and never reach a template as text.
            for spec in evil.inputs.values_mut().filter(|s| {
                !matches!(
                    s.ty,
                    InputType::Timestamp | InputType::Integer | InputType::Boolean
                )
            }) {
                if matches!(
                    spec.example.as_ref().or(spec.default.as_ref()),
                    Some(serde_json::Value::String(_))
                ) {
                    spec.example = Some(serde_json::Value::String(value.to_owned()));
                }
            }
            for step in &mut evil.steps {
                if let StepKind::Query(q) = &mut step.kind {
                    for cap in q.captures.values_mut() {
                        match &mut cap.example {
                            Some(serde_json::Value::String(s)) => *s = value.to_owned(),
                            Some(serde_json::Value::Array(a)) => a
                                .iter_mut()
                                .for_each(|x| *x = serde_json::Value::String(value.to_owned())),
                            _ => {}
                        }
                    }
                }
            }
            let bad = sample_queries(&evil, now(), &naming);
            for ((step, g), (_, b)) in good.iter().zip(bad) {
                let (g, b) = (g.as_ref().unwrap(), b.unwrap());
                // Every query reads a string input, so the hostile value must be in every twin;
                // otherwise this test would pass without testing anything.
                assert!(
                    b.contains(&value.replace('\'', "''")),
                    "{}:{step}: the hostile value is not in the query",
                    pb.id
                );
                pairs.push(serde_json::json!({ "playbook": pb.id, "step": step, "sql": g, "twin": b }));
            }
        }
    }
    let (ok, text) =
        crate::common::sqlglot_check(&python, &["--same-shape"], &serde_json::Value::Array(pairs));
    assert!(ok, "a hostile value changed a query's shape:\n{text}");
}

#[test]
fn graphs_draw_every_step() {
    for (path, pb) in shipped() {
        let mermaid = render(&pb, GraphFormat::Mermaid);
        assert!(mermaid.contains("flowchart TD"));
        for i in 0..pb.steps.len() {
            // The node's own line: `s1` followed by its shape, so `s10` cannot stand in for `s1`.
            let node = format!("    s{i}");
            let drawn = mermaid.lines().any(|l| {
                l.strip_prefix(&node)
                    .is_some_and(|rest| rest.starts_with(['[', '(', '{']))
            });
            assert!(drawn, "{}: node s{i}", path.display());
        }
        let decisions = pb
            .steps
            .iter()
            .filter(|s| matches!(s.kind, StepKind::Decision(_)))
            .count();
        assert_eq!(
            mermaid.matches("{\"").count(),
            decisions,
            "decisions are diamonds"
        );
        assert_eq!(
            mermaid.matches("subgraph ").count(),
            pb.stages.len(),
            "stages are clusters"
        );
        // An action that runs for each item of a list says over which.
        for s in &pb.steps {
            if let StepKind::Action(a) = &s.kind
                && let Some(list) = &a.for_each
            {
                assert!(
                    mermaid.contains(&format!("{}<br/>[", s.title))
                        && mermaid.contains(&format!(", for each of {list}]")),
                    "{}: {}",
                    path.display(),
                    s.id
                );
            }
        }
        let dot = render(&pb, GraphFormat::Dot);
        assert_eq!(dot.matches("subgraph cluster_").count(), pb.stages.len());
        assert_eq!(dot.matches("shape=diamond").count(), decisions);
        assert!(dot.trim_end().ends_with('}'));
    }
    let out = run(&[
        "graph",
        "playbooks/s3-unintended-data-access.yaml",
        "--format",
        "dot",
    ]);
    assert!(out.status.success());
    assert!(stdout(&out).starts_with("digraph \"s3-unintended-data-access\""));
}

#[test]
fn mermaid_output_renders_in_mermaid() {
    // The real mermaid parser (npm), in Node; scripts/test installs it and sets the variable.
    let Some(_) = required_tool("IRP_MERMAID_MODULES", "mermaid (npm) to parse the graph") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    for (path, _) in shipped() {
        let out = run(&["graph", path.to_str().unwrap()]);
        assert!(out.status.success());
        let file = dir.path().join("graph.mmd");
        std::fs::write(&file, &out.stdout).unwrap();
        let check = Command::new("node")
            .arg(repo().join("scripts/mermaid_check.mjs"))
            .arg(&file)
            .output()
            .unwrap();
        assert!(
            check.status.success(),
            "mermaid rejected the graph of {}:\n{}{}",
            path.display(),
            stdout(&check),
            stderr(&check)
        );
    }
    // And it does reject what is not Mermaid, so the check can fail.
    let file = dir.path().join("broken.mmd");
    std::fs::write(&file, "flowchart TD\n  a --> \n  b[[ \"x\n").unwrap();
    let check = Command::new("node")
        .arg(repo().join("scripts/mermaid_check.mjs"))
        .arg(&file)
        .output()
        .unwrap();
    assert!(!check.status.success());
}

#[test]
fn graph_writes_to_a_file_or_says_why_it_cannot() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("s3.dot");
    let out = run(&[
        "graph",
        "playbooks/s3-unintended-data-access.yaml",
        "-f",
        "dot",
        "-o",
        file.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(std::fs::read_to_string(&file).unwrap().starts_with("digraph"));
    let bad = dir.path().join("no/such/folder/s3.dot");
    let out = run(&[
        "graph",
        "playbooks/s3-unintended-data-access.yaml",
        "-o",
        bad.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("irp: error: cannot write"),
        "{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("hint: check that the folder exists"),
        "{}",
        stderr(&out)
    );
    let out = run(&["graph", "playbooks"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("playbooks: error: is a directory, not a playbook file"),
        "{}",
        stderr(&out)
    );
    let out = run(&["graph", "tests/fixtures/invalid/unknown-key.yaml"]);
    assert_eq!(out.status.code(), Some(1), "an invalid playbook has no graph");
    assert!(stdout(&out).is_empty());
}
