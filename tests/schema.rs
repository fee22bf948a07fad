//! `irp schema` is the checked-in `schemas/playbook.schema.json`, and the docs name every operation.

use crate::common::{check_snapshot, repo, run, stdout};

#[test]
fn schema_command_matches_the_checked_in_schema() {
    let out = run(&["schema"]);
    assert!(out.status.success());
    let text = stdout(&out);
    serde_json::from_str::<serde_json::Value>(&text).expect("the schema is JSON");
    check_snapshot(&repo().join("schemas/playbook.schema.json"), &text);
}

#[test]
fn the_schema_is_the_one_the_validator_uses() {
    let text = std::fs::read_to_string(repo().join("schemas/playbook.schema.json")).unwrap();
    let file: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(&file, irp::playbook::schema::playbook_schema());
}

const BEGIN: &str = "<!-- registry:begin (generated; IRP_BLESS=1 cargo test rewrites it) -->\n";
const END: &str = "<!-- registry:end -->";

#[test]
fn the_actions_doc_holds_the_registry_table() {
    let path = repo().join("docs/actions.md");
    let doc = std::fs::read_to_string(&path).unwrap();
    let (head, rest) = doc
        .split_once(BEGIN)
        .expect("docs/actions.md has the registry:begin marker");
    let (_, tail) = rest
        .split_once(END)
        .expect("docs/actions.md has the registry:end marker");
    let fresh = format!(
        "{head}{BEGIN}{}{END}{tail}",
        irp::action::registry::markdown_table()
    );
    check_snapshot(&path, &fresh);
}

#[test]
fn every_registered_operation_is_documented() {
    let doc = std::fs::read_to_string(repo().join("docs/actions.md")).unwrap();
    for op in irp::action::operations() {
        assert!(
            doc.contains(&format!("`{}`", op.name)),
            "docs/actions.md does not document `{}`",
            op.name
        );
        assert!(
            doc.contains(op.cloudtrail_event),
            "docs/actions.md does not name the CloudTrail event of `{}`",
            op.name
        );
    }
}

#[test]
fn journal_entry_schema_matches_the_checked_in_schema() {
    let out = run(&["schema", "journal-entry"]);
    assert!(out.status.success());
    let text = stdout(&out);
    let schema: serde_json::Value = serde_json::from_str(&text).expect("the schema is JSON");
    // Every event kind is in the schema, so a new kind cannot ship undocumented.
    for kind in [
        "case_opened",
        "decided",
        "action_started",
        "torn_tail_set_aside",
        "case_closed",
    ] {
        assert!(text.contains(&format!("\"{kind}\"")), "the schema names `{kind}`");
    }
    assert_eq!(schema["title"], "irp journal entry");
    check_snapshot(&repo().join("schemas/journal-entry.schema.json"), &text);
}

#[test]
fn journal_entries_conform_to_the_journal_entry_schema() {
    let Some(python) = crate::common::required_tool("IRP_PYTHON", "a Python with jsonschema") else {
        return;
    };
    // A journal with most kinds: the drill run, a replayed query, a torn tail, a lock takeover.
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("case");
    crate::journal::finished_case(&root);
    let other = tmp.path().join("other");
    {
        let mut s = crate::journal::new_case(&other);
        s.execute(&irp::engine::Command::Start).unwrap();
        s.execute(&irp::engine::Command::Pause {
            reason: "handover".into(),
        })
        .unwrap();
        s.execute(&irp::engine::Command::Unpause).unwrap();
        s.execute(&irp::engine::Command::SubmitQuery {
            step: "reads".into(),
            sql: "SELECT 1".into(),
            backend: "t".into(),
            not_collected: Vec::new(),
        })
        .unwrap();
        s.execute(&irp::engine::Command::CancelQuery {
            step: "reads".into(),
            reason: "slow".into(),
        })
        .unwrap();
        s.execute(&irp::engine::Command::SubmitQuery {
            step: "reads".into(),
            sql: "SELECT 1".into(),
            backend: "t".into(),
            not_collected: Vec::new(),
        })
        .unwrap();
        s.execute(&irp::engine::Command::QueryFailed {
            step: "reads".into(),
            error: "boom".into(),
            artifact: None,
            execution: None,
        })
        .unwrap();
        s.execute(&irp::engine::Command::Skip {
            step: "reads".into(),
            reason: "no lake".into(),
        })
        .unwrap();
        s.execute(&irp::engine::Command::GoBack { to: "reads".into() })
            .unwrap();
    }
    std::fs::write(
        other.join("case.lock"),
        "{\"pid\":1,\"host\":\"h\",\"since\":\"s\"}",
    )
    .unwrap();
    let mut journal = std::fs::read(other.join("journal.jsonl")).unwrap();
    journal.extend_from_slice(b"{\"v\":1,");
    std::fs::write(other.join("journal.jsonl"), journal).unwrap();
    drop(
        irp::case::Session::resume(
            &other,
            irp::case::PlaybookChoice::Source,
            crate::journal::ctx("bob"),
        )
        .unwrap(),
    );
    let all = tmp.path().join("all.jsonl");
    let bytes = [
        std::fs::read(root.join("journal.jsonl")).unwrap(),
        std::fs::read(other.join("journal.jsonl")).unwrap(),
    ]
    .concat();
    std::fs::write(&all, bytes).unwrap();
    let out = std::process::Command::new(&python)
        .arg(repo().join("scripts/jsonschema_check.py"))
        .arg(repo().join("schemas/journal-entry.schema.json"))
        .arg(&all)
        .output()
        .unwrap();
    let text = format!("{}{}", stdout(&out), crate::common::stderr(&out));
    println!("{text}");
    assert!(
        out.status.success(),
        "entries that do not fit the schema:\n{text}"
    );
}
