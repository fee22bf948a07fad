//! Each file in `tests/fixtures/invalid/` is named after the error it shows; the expected output of
//! `irp validate` on it (positions, messages, hints, exit code) is in the `.expected` beside it.
//! Each file in `tests/fixtures/valid/` must validate.

use crate::common::{check_snapshot, repo, run, stderr, stdout};

fn yaml_files(dir: &str) -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(repo().join(dir))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yaml") || n.ends_with(".yml"))
        .collect();
    files.sort();
    files
}

#[test]
fn invalid_fixtures_give_their_expected_diagnostics() {
    let files = yaml_files("tests/fixtures/invalid");
    assert!(
        files.len() >= 20,
        "expected one fixture per problem kind, found {}",
        files.len()
    );
    for name in files {
        let rel = format!("tests/fixtures/invalid/{name}");
        let out = run(&["validate", &rel]);
        let code = out.status.code().unwrap_or(-1);
        assert_eq!(
            code,
            1,
            "{rel} should fail validation with exit code 1\n{}",
            stderr(&out)
        );
        assert!(
            stdout(&out).is_empty(),
            "{rel}: nothing on stdout for an invalid file"
        );
        let err = stderr(&out);
        assert!(err.contains(": error: "), "{rel}: no error reported");
        assert!(!err.contains("panicked"), "{rel}: panic\n{err}");
        let snapshot = format!("{err}exit code: {code}\n");
        check_snapshot(&repo().join(rel.replace(".yaml", ".expected")), &snapshot);
    }
}

#[test]
fn every_invalid_fixture_reports_the_error_it_is_named_after() {
    // The name says what the fixture is for; make sure the first diagnostic mentions the subject,
    // so a fixture cannot silently start failing for another reason.
    for name in yaml_files("tests/fixtures/invalid") {
        let expected = std::fs::read_to_string(
            repo()
                .join("tests/fixtures/invalid")
                .join(name.replace(".yaml", ".expected")),
        )
        .unwrap_or_default();
        let key = std::fs::read_to_string(repo().join("tests/fixtures/invalid").join(&name))
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("# expect: "))
            .map_or_else(
                || panic!("{name} has no `# expect: <text>` line naming its error"),
                str::to_owned,
            );
        assert!(
            expected.contains(&key),
            "{name}: expected output does not mention `{key}`"
        );
    }
}

#[test]
fn valid_fixtures_validate() {
    for name in yaml_files("tests/fixtures/valid") {
        let rel = format!("tests/fixtures/valid/{name}");
        let out = run(&["validate", &rel]);
        assert!(out.status.success(), "{rel} should be valid:\n{}", stderr(&out));
        assert!(
            stdout(&out).starts_with(&format!("ok: {rel}: ")),
            "{}",
            stdout(&out)
        );
    }
}

#[test]
fn a_folder_reports_every_file_and_a_total() {
    let out = run(&[
        "validate",
        "tests/fixtures/valid",
        "tests/fixtures/invalid/unknown-key.yaml",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(text.contains("files checked:"), "{text}");
    assert!(text.contains("with errors"), "{text}");
}

#[test]
fn json_output_is_machine_readable() {
    let out = run(&["validate", "--json", "tests/fixtures/invalid/unknown-key.yaml"]);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let d = &v[0]["diagnostics"][0];
    assert_eq!(v[0]["valid"], false);
    assert_eq!(d["severity"], "error");
    assert!(d["line"].as_u64().unwrap() > 0);
    assert!(d["message"].as_str().unwrap().contains("unknown key"));
}

#[test]
fn usage_errors_exit_with_2() {
    let out = run(&["validate"]);
    assert_eq!(out.status.code(), Some(2));
    let out = run(&["no-such-command"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn positions_inside_block_scalars_point_at_the_text() {
    // saphyr places a block scalar's span on its first non-blank content line; blank lines before
    // it must not shift positions further down.
    for header in ["|", "|-", "|2", "|+"] {
        let src = format!(
            "irp: 1\nid: b\ntitle: T\nversion: \"1\"\nstages:\n  - id: s\n    title: S\n    phase: preparation\n    steps:\n      - id: q\n        title: Q\n        query:\n          table: s3_data\n          sql: {header}\n\n            SELECT 1\n            FROM {{{{ table }}}} WHERE x = {{{{ nope }}}}\n"
        );
        let offset = src.find("nope").unwrap();
        let line = src[..offset].matches('\n').count() as u64 + 1;
        let col = (offset - src[..offset].rfind('\n').unwrap()) as u64;
        let loaded = irp::playbook::load_str(&src);
        let d = &loaded.diagnostics[0];
        assert!(
            d.message.contains("unknown variable `nope`"),
            "{header}: {}",
            d.message
        );
        assert_eq!((d.pos.line, d.pos.col), (line, col), "sql: {header}");
    }
}
