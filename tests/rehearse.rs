//! Rehearsals and playbook tests: `irp rehearse` generates the scenario's lake into the cache and
//! reuses it, records the exercise and its injects, and scores the case against the truth and the
//! expected path; `irp test` runs the shipped playbooks' test cases and shows a diff when one
//! fails; scenario and answers files that do not fit the playbook are refused with every problem.

use std::path::{Path, PathBuf};
use std::process::Output;

use crate::common::{irp, repo, run, stderr, stdout};

const S3: &str = "playbooks/s3-unintended-data-access.yaml";
const RESPONDER: &str = "playbooks/s3-unintended-data-access/answers/responder.yaml";
const CARELESS: &str = "playbooks/s3-unintended-data-access/answers/careless.yaml";

/// `irp` with its own cache and a pinned clock (the lake ends the day before).
fn irp_in(cache: &Path, args: &[&str]) -> Output {
    irp()
        .env("IRP_CACHE", cache)
        .env("IRP_DATA", cache.join("data"))
        .env("IRP_NOW", "2026-11-28T09:00:00Z")
        .env("IRP_SEED", "rehearse")
        .args(args)
        .output()
        .unwrap()
}

fn headless(cache: &Path, case: &Path, answers: &str, extra: &[&str]) -> Output {
    let mut args = vec![
        "rehearse",
        S3,
        "--case-dir",
        case.to_str().unwrap(),
        "--headless",
        "--answers",
        answers,
        "--json",
    ];
    args.extend_from_slice(extra);
    irp_in(cache, &args)
}

/// The score: the last line of a `--json` rehearsal.
fn score_of(out: &Output) -> serde_json::Value {
    let text = stdout(out);
    let last = text.lines().last().unwrap_or_default();
    serde_json::from_str(last).unwrap_or_else(|e| panic!("{e}: {text}{}", stderr(out)))
}

fn truth(cache: &Path) -> serde_json::Value {
    let lakes: Vec<PathBuf> = std::fs::read_dir(cache.join("lakes"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("truth.json").is_file())
        .collect();
    assert_eq!(lakes.len(), 1, "{lakes:?}");
    serde_json::from_slice(&std::fs::read(lakes[0].join("truth.json")).unwrap()).unwrap()
}

#[test]
fn a_headless_rehearsal_finds_the_truth_exactly_and_the_report_carries_the_score() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let case = tmp.path().join("case");
    let out = headless(&cache, &case, RESPONDER, &[]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert!(stderr(&out).contains("(generated)"), "{}", stderr(&out));
    let score = score_of(&out);
    assert_eq!(score["points"], 100, "{score:#}");
    assert_eq!(score["precision"], 1.0);
    assert_eq!(score["recall"], 1.0);
    assert_eq!(score["conclusion"]["reached"], "incident");
    let truth = truth(&cache);
    let inc = &truth["incident_details"];
    let found: Vec<(&str, &serde_json::Value)> = score["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["observable"].as_str().unwrap(), &f["correct"]))
        .collect();
    assert_eq!(
        found,
        [
            ("access_key_id", &serde_json::json!([inc["access_key_id"]])),
            ("arn", &serde_json::json!([inc["principal"]])),
            ("ip", &inc["ips"]),
        ]
    );
    assert!(score["practise"].as_array().unwrap().is_empty(), "{score:#}");
    assert_eq!(score["injects"].as_array().unwrap().len(), 1);

    // The journal: the exercise first, the inject landed before the query that sees it.
    assert!(run(&["verify", case.to_str().unwrap()]).status.success());
    let scan = irp::journal::store::read(&case.join("journal.jsonl")).unwrap();
    let kinds: Vec<&str> = scan.entries.iter().map(|e| e.event.kind()).collect();
    assert_eq!(kinds[2], "exercise_set", "{kinds:?}");
    let landed = kinds.iter().position(|k| *k == "inject_landed").unwrap();
    assert!(matches!(&scan.entries[landed + 1].event,
        irp::engine::Event::QuerySubmitted(q) if q.step == "suspect-activity"));
    // The inject went into the exercise's own copy of the lake, never into the cached one.
    let irp::engine::Event::ExerciseSet(x) = &scan.entries[2].event else {
        unreachable!()
    };
    let work = PathBuf::from(&x.lake);
    assert!(work.starts_with(cache.join("lakes/work")), "{}", work.display());
    let injected = |lake: &Path| {
        walk(lake)
            .iter()
            .filter(|p| p.to_string_lossy().contains("part-inject-second-access-key"))
            .count()
    };
    assert_eq!(injected(&work), 1);
    let cached: PathBuf = std::fs::read_dir(cache.join("lakes"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.join("truth.json").is_file())
        .unwrap();
    assert_eq!(injected(&cached), 0);

    // The report shows the same score in every format.
    let json = run(&["report", case.to_str().unwrap(), "--format", "json"]);
    let report: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(report["score"], score);
    let md = stdout(&run(&["report", case.to_str().unwrap(), "--format", "md"]));
    assert!(
        md.contains("## Rehearsal score") && md.contains("100/100 on scenario"),
        "{md}"
    );
    let html = stdout(&run(&["report", case.to_str().unwrap(), "--format", "html"]));
    assert!(html.contains("<h2 id=\"score\">Rehearsal score</h2>"));

    // A second rehearsal of the same scenario reuses the cached lake.
    let again = headless(&cache, &tmp.path().join("case2"), RESPONDER, &[]);
    assert!(again.status.success(), "{}", stderr(&again));
    assert!(stderr(&again).contains("(cached)"), "{}", stderr(&again));
    assert_eq!(score_of(&again)["points"], 100);
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else {
                out.push(e.path());
            }
        }
    }
    out
}

#[test]
fn careless_answers_score_lower_for_the_reasons_the_score_names() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let out = headless(&cache, &tmp.path().join("case"), CARELESS, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let score = score_of(&out);
    let truth = truth(&cache);
    assert!(score["points"].as_u64().unwrap() <= 40, "{score:#}");
    assert_eq!(score["conclusion"]["correct"], false);
    assert_eq!(score["precision"], 0.0);
    assert_eq!(score["recall"], 0.0);
    let decision = score["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["step"] == "principal-known")
        .unwrap();
    assert_eq!(decision["verdict"], "differs");
    assert_eq!(
        decision["rationale"],
        "the data owner says svc-reporting is allowed"
    );
    let ip = score["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["observable"] == "ip")
        .unwrap();
    assert_eq!(ip["wrong"], serde_json::json!(["198.51.100.10"]));
    assert_eq!(ip["missed"], truth["incident_details"]["ips"]);
    let practise = score["practise"].to_string();
    for word in [
        "Telling an incident from normal activity",
        "`principal-known`",
        "`198.51.100.10`",
        "step `reads-by-principal` had it in its results",
    ] {
        assert!(practise.contains(word), "{word}: {practise}");
    }
    // The parts say where the points went.
    let parts: Vec<(String, u64)> = score["parts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_owned(),
                p["points"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(parts[0], ("conclusion".to_owned(), 0));
    assert_eq!(parts[1], ("findings".to_owned(), 0));
}

#[test]
fn the_benign_scenario_concludes_no_incident_with_nothing_recorded() {
    let tmp = tempfile::tempdir().unwrap();
    let out = headless(
        &tmp.path().join("cache"),
        &tmp.path().join("case"),
        RESPONDER,
        &["--scenario", "benign"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let score = score_of(&out);
    assert_eq!(score["conclusion"]["reached"], "no incident");
    assert_eq!(score["points"], 100, "{score:#}");
    assert_eq!(score["precision"], serde_json::Value::Null);
    assert!(
        stdout(&out).contains("\"step\":\"close-benign\""),
        "{}",
        stdout(&out)
    );
}

#[test]
fn irp_test_passes_the_shipped_playbooks_and_a_failing_case_shows_its_diff() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let out = irp_in(&cache, &["test", "playbooks/"]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let text = stdout(&out);
    for case in ["benign", "careless", "exfiltration"] {
        assert!(
            text.contains(&format!("ok   s3-unintended-data-access / {case}")),
            "{text}"
        );
    }
    // Passing cases leave nothing behind but the cached lakes.
    assert!(!cache.join("test-cases").exists() || walk(&cache.join("test-cases")).is_empty());
    assert!(!cache.join("lakes/work").exists() || walk(&cache.join("lakes/work")).is_empty());

    // A copy of the playbook whose test expects another path and another capture.
    let pbs = tmp.path().join("pbs");
    let companion = pbs.join("s3-unintended-data-access");
    std::fs::create_dir_all(companion.join("tests")).unwrap();
    std::fs::copy(repo().join(S3), pbs.join("s3-unintended-data-access.yaml")).unwrap();
    for sub in ["scenarios", "answers"] {
        std::fs::create_dir_all(companion.join(sub)).unwrap();
        for e in std::fs::read_dir(repo().join("playbooks/s3-unintended-data-access").join(sub)).unwrap() {
            let e = e.unwrap();
            std::fs::copy(e.path(), companion.join(sub).join(e.file_name())).unwrap();
        }
    }
    std::fs::write(
        companion.join("tests/wrong.yaml"),
        "title: expects what does not happen\nscenario: benign\nanswers: ../answers/responder.yaml\n\
         expect:\n  conclusion: incident\n  path: [open-case, mgmt-coverage, suspect-activity, data-coverage]\n\
         \x20 captures:\n    suspect_keys: [AKIANOTTHEREATALL000]\n",
    )
    .unwrap();
    // `irp validate` checks the companion files without running them.
    std::fs::write(
        companion.join("tests/typo.yaml"),
        "title: typos\nscenario: benignn\nanswers: ../answers/nope.yaml\n\
         expect:\n  conclusion: maybe\n  path: [open-case, opne-case]\n  captures: { suspect_key: [] }\n",
    )
    .unwrap();
    std::fs::write(
        companion.join("tests/broken.yaml"),
        "title: x\nscenario: [unclosed\n",
    )
    .unwrap();
    let out = run(&["validate", pbs.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    for want in [
        "typo.yaml: error: `scenario: benignn` is not a scenario of playbook `s3-unintended-data-access`",
        "`answers: ../answers/nope.yaml`: there is no such file",
        "`expect.path`: playbook `s3-unintended-data-access` has no step `opne-case`",
        "`expect.captures.suspect_key`: playbook `s3-unintended-data-access` has no such capture",
        "`expect.conclusion: maybe` is `incident` or `no incident`",
        "broken.yaml:2:11: error: invalid YAML",
    ] {
        assert!(err.contains(want), "missing `{want}` in:\n{err}");
    }
    std::fs::remove_file(companion.join("tests/typo.yaml")).unwrap();
    std::fs::remove_file(companion.join("tests/broken.yaml")).unwrap();
    let out = irp_in(&cache, &["test", pbs.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let text = stdout(&out);
    assert!(text.contains("FAIL s3-unintended-data-access / wrong"), "{text}");
    assert!(text.contains("the path differs (- expected, + taken)"), "{text}");
    assert!(text.contains("  - suspect-activity"), "{text}");
    assert!(
        text.contains("      mgmt-coverage"),
        "kept lines are shown: {text}"
    );
    assert!(text.contains("  + coverage-ok"), "{text}");
    assert!(
        text.contains("capture `suspect_keys`:") && text.contains("- [\"AKIANOTTHEREATALL000\"]"),
        "{text}"
    );
    assert!(
        text.contains("the conclusion:\n       - incident\n       + no incident"),
        "{text}"
    );
    assert!(text.contains("1 failed"), "{text}");
    // The failed case is kept, and can be reviewed.
    let kept = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("the case: "))
        .unwrap();
    assert!(run(&["verify", kept]).status.success());
}

#[test]
fn a_scenario_that_does_not_fit_the_playbook_is_refused_with_every_problem() {
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("bad.yaml");
    std::fs::write(
        &bad,
        r"title: bad
lake: { generator: s3-exfiltraton }
inputs: { buckit: x }
truth:
  incident: true
  findings: { ipaddress: [1.2.3.4], text: [x] }
expected:
  decisions: { principal-known: maybe, open-case: x, nowhere: y }
targets: { contain: soon }
injects:
  - name: Bad Name
    title: t
    at: 10m
    at_step: open-case
    events: [{ eventName: X }]
",
    )
    .unwrap();
    let case = tmp.path().join("case");
    let out = irp_in(
        &tmp.path().join("cache"),
        &[
            "rehearse",
            S3,
            "--scenario",
            bad.to_str().unwrap(),
            "--headless",
            "--answers",
            RESPONDER,
            "--case-dir",
            case.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    for want in [
        "`lake.generator: s3-exfiltraton` is not a generator scenario (generators: s3-exfiltration, benign, credential-compromise, instance-credential-exfiltration)",
        "`inputs.buckit` is not an input of playbook `s3-unintended-data-access`",
        "`truth.findings.ipaddress` is not an evidence type",
        "`truth.findings.text` is not an evidence type",
        "`expected.decisions.principal-known: maybe`: the decision has no such option (options: `unknown`, `all-known`, `reads-unknown`)",
        "`expected.decisions.open-case`: step `open-case` is not a decision",
        "`expected.decisions.nowhere`: playbook `s3-unintended-data-access` has no step `nowhere`",
        "`targets.contain`: `soon` is not a duration",
        "a name is lowercase letters, digits and `-`",
        "give exactly one of `at` (e.g. `10m`) and `at_step`",
        "`events[0]` is not a CloudTrail record",
    ] {
        assert!(err.contains(want), "missing `{want}` in:\n{err}");
    }
    assert!(!case.exists(), "nothing is created");
    // An unknown scenario name lists the playbook's scenarios.
    let out = irp_in(
        &tmp.path().join("cache"),
        &[
            "rehearse",
            S3,
            "--scenario",
            "nope",
            "--headless",
            "--answers",
            RESPONDER,
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out)
            .contains("`nope` is not a scenario of this playbook (scenarios: `benign`, `exfiltration-from-finding`, `exfiltration`, `otrf-cloudgoat`)"),
        "{}",
        stderr(&out)
    );
    // A scenario with no `lake:` runs only on a lake given.
    let lakeless = tmp.path().join("lakeless.yaml");
    std::fs::write(&lakeless, "title: t\ntruth: { incident: false }\n").unwrap();
    let out = irp_in(
        &tmp.path().join("cache"),
        &[
            "rehearse",
            "playbooks/ec2-instance-credential-exfiltration.yaml",
            "--scenario",
            lakeless.to_str().unwrap(),
            "--headless",
            "--answers",
            "playbooks/ec2-instance-credential-exfiltration/answers/responder.yaml",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains(
            "the scenario has no `lake:` to generate; it runs on a lake you give with `--lake DIR`"
        ),
        "{}",
        stderr(&out)
    );
    // A playbook without scenarios says where it looked.
    let empty = tmp.path().join("empty.yaml");
    std::fs::write(&empty, "steps: {}\n").unwrap();
    let out = irp_in(
        &tmp.path().join("cache"),
        &[
            "rehearse",
            "tests/fixtures/cases/contain.yaml",
            "--headless",
            "--answers",
            empty.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out)
            .contains("the playbook has no scenarios (looked in tests/fixtures/cases/contain/scenarios)"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_lake_without_truth_cannot_feed_a_scenario_that_reads_it() {
    let (lake, _) = crate::query::shared_lake();
    let tmp = tempfile::tempdir().unwrap();
    // A copy of the lake without its truth.json, as an imported lake is.
    let copy = tmp.path().join("lake");
    irp::rehearse::lake::working_copy(lake, &copy).unwrap();
    std::fs::remove_file(copy.join("truth.json")).unwrap();
    let out = irp_in(
        &tmp.path().join("cache"),
        &[
            "rehearse",
            S3,
            "--lake",
            copy.to_str().unwrap(),
            "--headless",
            "--answers",
            RESPONDER,
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("reads the generator's truth, and this lake has no truth.json"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn answers_that_record_evidence_from_a_capture_must_name_one() {
    let tmp = tempfile::tempdir().unwrap();
    let answers = tmp.path().join("a.yaml");
    std::fs::write(
        &answers,
        "steps:\n  principal-known:\n    choose: suggested\n    evidence:\n      - { type: arn, capture: unknown_principal }\n      - { type: ip }\n      - { type: ip, value: 1.2.3.4, capture: suspect_ips }\n",
    )
    .unwrap();
    let out = irp_in(
        &tmp.path().join("cache"),
        &[
            "rehearse",
            S3,
            "--headless",
            "--answers",
            answers.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("evidence `capture: unknown_principal` names no capture of playbook `s3-unintended-data-access` (did you mean `unknown_principals`?)"),
        "{err}"
    );
    assert_eq!(
        err.matches("evidence takes one of `value` and `capture`").count(),
        2,
        "{err}"
    );
}

#[test]
fn the_otrf_sample_imported_is_investigated_by_the_ec2_playbook_headless() {
    let Some(dir) = crate::common::shared_data("samples/otrf") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("lake");
    let sample = dir.join("ec2_proxy_s3_exfiltration_2020-09-14011940.json");
    let out = run(&[
        "lake",
        "import",
        "cloudtrail",
        sample.to_str().unwrap(),
        "--lake",
        lake.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let case = tmp.path().join("case");
    let out = irp_in(
        &tmp.path().join("cache"),
        &[
            "rehearse",
            "playbooks/ec2-instance-credential-exfiltration.yaml",
            "--scenario",
            "otrf-cloudgoat",
            "--lake",
            lake.to_str().unwrap(),
            "--case-dir",
            case.to_str().unwrap(),
            "--headless",
            "--answers",
            "playbooks/ec2-instance-credential-exfiltration/answers/responder.yaml",
            "--json",
        ],
    );
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    // The stolen credential, the attacker's address and the bucket, captured by the queries.
    let scan = irp::journal::store::read(&case.join("journal.jsonl")).unwrap();
    let captures: std::collections::BTreeMap<String, serde_json::Value> = crate::query::captures_of(&scan);
    assert_eq!(
        captures["suspect_keys"],
        serde_json::json!(["ASIA5FLZVX4OPVKKVBMX"])
    );
    assert_eq!(captures["suspect_ips"], serde_json::json!(["1.2.3.4"]));
    assert_eq!(
        captures["accessed_buckets"],
        serde_json::json!(["mordors3stack-s3bucket-llp2yingx64a"])
    );
    assert_eq!(
        captures["suspect_instances"],
        serde_json::json!(["i-0317f6c6b66ae9c40"])
    );
    assert_eq!(
        captures["suspect_roles"],
        serde_json::json!(["MordorNginxStack-BankingWAFRole-9S3E0UAE1MM0"])
    );
    // Containment acts on that instance and that role, each once.
    let journal = crate::real_logs::journal_entries(&case);
    assert_eq!(
        crate::real_logs::acted_on(&journal, "require-imdsv2"),
        [serde_json::json!({ "instance_id": "i-0317f6c6b66ae9c40" })]
    );
    assert_eq!(
        crate::real_logs::acted_on(&journal, "revoke-sessions"),
        [serde_json::json!({ "role_name": "MordorNginxStack-BankingWAFRole-9S3E0UAE1MM0" })]
    );
    // The IAM user browsing the console from the same address is not a suspect.
    assert!(!captures["suspect_principals"].to_string().contains("pedro"));
    let score = score_of(&out);
    assert_eq!(score["precision"], 1.0, "{score:#}");
    assert_eq!(score["recall"], 1.0);
    assert_eq!(score["conclusion"]["reached"], "incident");
}

/// An S3 client of moto's, for setting a drill up and reading its result separately from irp.
async fn moto_s3(endpoint: &str) -> aws_sdk_s3::Client {
    let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_s3::config::Credentials::new(
            "testing", "testing", None, None, "test",
        ))
        .load()
        .await;
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&conf)
            .force_path_style(true)
            .build(),
    )
}

#[test]
fn a_drill_with_an_endpoint_sends_the_confirmed_actions_there_and_scores_them() {
    let Some((endpoint, _lock)) = crate::athena::moto() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let bucket = format!(
        "drill-{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
            % 1_000_000_000_000
    );
    // The bucket exists on moto; the playbook and its scenario are copied beside each other.
    let rt = crate::query::runtime();
    rt.block_on(async {
        let s3 = moto_s3(&endpoint).await;
        s3.create_bucket().bucket(&bucket).send().await.unwrap();
    });
    let pbs = tmp.path().join("pbs");
    std::fs::create_dir_all(pbs.join("bucket-drill/scenarios")).unwrap();
    std::fs::copy(
        repo().join("tests/fixtures/drill/bucket-drill.yaml"),
        pbs.join("bucket-drill.yaml"),
    )
    .unwrap();
    std::fs::write(
        pbs.join("bucket-drill/scenarios/exfiltration.yaml"),
        format!(
            "title: drill\nlake: {{ generator: s3-exfiltration, days: 3, events: 20000, seed: 2 }}\n\
             inputs: {{ bucket: {bucket}, start_time: \"{{{{ lake.start }}}}\" }}\n\
             truth:\n  incident: true\n  findings: {{ ip: \"{{{{ truth.incident_details.ips }}}}\" }}\n\
             expected: {{ decisions: {{ triage: contain }} }}\n"
        ),
    )
    .unwrap();
    let answers = tmp.path().join("answers.yaml");
    std::fs::write(
        &answers,
        "steps:\n  triage:\n    choose: suggested\n    evidence: [{ type: ip, capture: bulk_ips }]\n  block: { confirm: \"{{ bucket }}\" }\n",
    )
    .unwrap();
    let case = tmp.path().join("case");
    let out = crate::athena::aws_irp()
        .env("IRP_CACHE", tmp.path().join("cache"))
        .env("IRP_NOW", "2026-11-28T09:00:00Z")
        .env("IRP_AWS_RETRY_BACKOFF_MS", "10")
        .args(["rehearse"])
        .arg(pbs.join("bucket-drill.yaml"))
        .args(["--case-dir", case.to_str().unwrap(), "--headless", "--answers"])
        .arg(&answers)
        .args(["--endpoint-url", &endpoint, "--region", "us-east-1", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let score = score_of(&out);
    assert_eq!(score["points"], 100, "{score:#}");
    // A live case against the endpoint: who the calls were made as, then real (not simulated) calls.
    let scan = irp::journal::store::read(&case.join("journal.jsonl")).unwrap();
    let identity = scan
        .entries
        .iter()
        .find_map(|e| match &e.event {
            irp::engine::Event::AwsIdentity(i) => Some(i.clone()),
            _ => None,
        })
        .expect("the drill records who its calls are made as");
    assert_eq!(identity.endpoint.as_deref(), Some(endpoint.as_str()));
    assert!(scan.entries.iter().any(|e| matches!(&e.event,
        irp::engine::Event::ActionStarted(a) if a.step == "block" && !a.simulated)));
    // The change is on moto.
    rt.block_on(async {
        let s3 = moto_s3(&endpoint).await;
        let block = s3.get_public_access_block().bucket(&bucket).send().await.unwrap();
        let conf = block.public_access_block_configuration().unwrap();
        assert_eq!(conf.block_public_acls(), Some(true));
    });
}

#[test]
fn in_the_ui_an_inject_lands_by_the_clock_the_next_query_sees_it_and_the_score_follows_the_close() {
    use irp::ui::worker::{Reply, Request, Worker};
    let (lake, _) = crate::query::shared_lake();
    let tmp = tempfile::tempdir().unwrap();
    let pb_path = repo().join("tests/fixtures/drill/inject-drill.yaml");
    let pb = irp::files::load_playbook(&pb_path).playbook.unwrap();
    let req = irp::rehearse::Request {
        scenario: Some("clock"),
        seed: None,
        lake: Some(lake),
    };
    let prepared = irp::rehearse::prepare(&pb_path, &pb, &req, chrono::NaiveDate::MIN, &|_, _| {}).unwrap();
    let ctx = irp::case::Context {
        actor: "facilitated".to_owned(),
        clock: irp::clock::Clock::System,
        ids: irp::clock::Ids::Seeded("clock-inject".to_owned()),
        command: "rehearse".to_owned(),
        signer: None,
    };
    let case = tmp.path().join("case");
    let opened = std::time::Instant::now();
    let session =
        irp::rehearse::playtest::exercise(&pb_path, &prepared, &case, ctx, irp::engine::Mode::Rehearsal)
            .unwrap();
    let work = PathBuf::from(&session.state.exercise.as_ref().unwrap().lake);
    let backend =
        irp::case::backend::LocalRunner::open(&work, irp::query::backend::local::Options::default()).unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut worker = Worker::new(
        session,
        Some(Box::new(backend)),
        irp::case::actions::Executor::Rehearsal,
        tx,
    );
    worker.start();
    let landed = |replies: &[Reply]| {
        replies.iter().any(|r| matches!(r, Reply::Recorded(entries)
            if entries.iter().any(|e| matches!(&e.event, irp::engine::Event::InjectLanded(i) if i.name == "new-key"))))
    };
    let mut drain = || {
        let mut out = Vec::new();
        while let Ok(r) = rx.try_recv() {
            out.push(r);
        }
        out
    };
    worker.serve(Request::Record(irp::engine::Command::Start));
    worker.serve(Request::RunQuery {
        step: "before".to_owned(),
    });
    // On a machine so slow that five seconds have passed already, the inject is rightly due.
    let early = opened.elapsed() < std::time::Duration::from_millis(4_500);
    if early {
        assert!(!landed(&drain()), "not due yet");
    }
    // Five seconds after the opening the inject is due; the worker lands it between moves (the
    // UI's worker looks every second), and the next query reads the new file although the
    // engine listed the lake's files before it was there.
    std::thread::sleep(std::time::Duration::from_millis(5_200).saturating_sub(opened.elapsed()));
    worker.tick();
    let replies = drain();
    assert!(landed(&replies), "{replies:?}");
    worker.serve(Request::RunQuery {
        step: "after".to_owned(),
    });
    drain();
    let captures = &worker.session().state.captures;
    if early {
        assert_eq!(captures["n_before"], 0, "{captures:?}");
    }
    assert_eq!(captures["n_after"], 1, "the landed inject is read: {captures:?}");
    // Closing the exercise sends the score.
    worker.serve(Request::Record(irp::engine::Command::Close {
        summary: "drill over".to_owned(),
    }));
    let replies = drain();
    let score = replies.iter().find_map(|r| match r {
        Reply::Score(lines) => Some(lines.join("\n")),
        _ => None,
    });
    let score = score.unwrap_or_else(|| panic!("no score in {replies:?}"));
    assert!(score.contains("Score: ") && score.contains("Injects:"), "{score}");
    let _ = std::fs::remove_dir_all(&work);
}

#[test]
fn a_changed_brief_is_named_and_the_rehearsal_is_not_scored() {
    let tmp = tempfile::tempdir().unwrap();
    let case = tmp.path().join("case");
    let out = headless(
        &tmp.path().join("cache"),
        &case,
        RESPONDER,
        &["--scenario", "benign"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let brief = walk(&case.join("artifacts"))
        .into_iter()
        .find(|p| p.to_string_lossy().ends_with("-exercise.json"))
        .unwrap();
    // Someone makes the exercise look easier after the fact.
    let text = std::fs::read_to_string(&brief).unwrap();
    std::fs::write(&brief, text.replace("\"incident\": false", "\"incident\": true")).unwrap();
    let out = run(&["report", case.to_str().unwrap(), "--format", "json"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["score"], serde_json::Value::Null);
    assert!(
        report["exercise_problem"]
            .as_str()
            .is_some_and(|p| p.contains("exercise.json")),
        "{:#}",
        report["exercise_problem"]
    );
    assert!(!run(&["verify", case.to_str().unwrap()]).status.success());
}

#[test]
fn an_inject_that_cannot_be_mapped_stops_the_rehearsal_with_its_name_and_the_case_resumes() {
    let tmp = tempfile::tempdir().unwrap();
    let pbs = tmp.path().join("pbs");
    std::fs::create_dir_all(pbs.join("s3-unintended-data-access/scenarios")).unwrap();
    std::fs::copy(repo().join(S3), pbs.join("s3-unintended-data-access.yaml")).unwrap();
    let scenario = std::fs::read_to_string(
        repo().join("playbooks/s3-unintended-data-access/scenarios/exfiltration.yaml"),
    )
    .unwrap();
    // A DynamoDB data event: CloudTrail has it, Security Lake has no table for it.
    let broken = scenario.replace(
        "      - offsetSeconds: -3600\n        eventSource: iam.amazonaws.com",
        "      - eventCategory: Data\n        eventSource: dynamodb.amazonaws.com\n        eventName: GetItem\n      - offsetSeconds: -3600\n        eventSource: iam.amazonaws.com",
    );
    assert_ne!(broken, scenario);
    std::fs::write(
        pbs.join("s3-unintended-data-access/scenarios/exfiltration.yaml"),
        broken,
    )
    .unwrap();
    let case = tmp.path().join("case");
    let out = irp_in(
        &tmp.path().join("cache"),
        &[
            "rehearse",
            pbs.join("s3-unintended-data-access.yaml").to_str().unwrap(),
            "--case-dir",
            case.to_str().unwrap(),
            "--headless",
            "--answers",
            RESPONDER,
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let err = stderr(&out);
    assert!(
        err.contains("inject second-access-key") && err.contains("event 1 has no Security Lake table"),
        "{err}"
    );
    assert!(err.contains("the case is saved and can be resumed"), "{err}");
    // Nothing half-landed: no file, no entry; the journal verifies.
    assert!(run(&["verify", case.to_str().unwrap()]).status.success());
    let scan = irp::journal::store::read(&case.join("journal.jsonl")).unwrap();
    assert!(scan.entries.iter().all(|e| e.event.kind() != "inject_landed"));
}

#[test]
fn scenario_lookups_and_references_that_fail_say_what_and_where() {
    use irp::rehearse::scenario::{find, resolve_value};
    use serde_json::json;
    let tmp = tempfile::tempdir().unwrap();
    // Two scenarios, neither the default: the responder must say which.
    let pb = tmp.path().join("pb.yaml");
    std::fs::create_dir_all(tmp.path().join("pb/scenarios")).unwrap();
    for name in ["a", "b"] {
        std::fs::write(
            tmp.path().join(format!("pb/scenarios/{name}.yaml")),
            "default: false\n",
        )
        .unwrap();
    }
    assert_eq!(
        find(&pb, None).unwrap_err().to_string(),
        "say which scenario with `--scenario` (scenarios: `a`, `b`)"
    );
    assert_eq!(
        find(&pb, Some("c")).unwrap_err().to_string(),
        "`c` is not a scenario of this playbook (scenarios: `a`, `b`)"
    );
    // References into the environment.
    let env = json!({ "truth": { "incident_details": { "ips": ["192.0.2.1"] } } });
    assert_eq!(
        resolve_value(&json!("{{ truth.incident_details.ips }}"), &env).unwrap(),
        json!(["192.0.2.1"])
    );
    assert_eq!(
        resolve_value(&json!("ip {{ truth.incident_details.ipz }}"), &env)
            .unwrap_err()
            .to_string(),
        "`{{ truth.incident_details.ipz }}` names nothing (at `ipz`)"
    );
    assert_eq!(
        resolve_value(&json!("ip {{ truth"), &env)
            .unwrap_err()
            .to_string(),
        "`ip {{ truth` opens `{{` without closing it"
    );
    // A folder with no partitions is not a lake.
    let e = irp::rehearse::lake_window(tmp.path()).unwrap_err().to_string();
    assert!(e.ends_with("holds no eventday= partitions: it is not a lake (make one with `irp lake generate` or `irp lake import`)"), "{e}");
}

/// A scenario on real logs: `lake.import` names the files (relative to the scenario), the
/// anonymiser's repairs are applied, the lake is imported once into the cache, and `irp test`
/// scores the case; without the files the case is skipped loudly, and `--strict` fails it.
#[test]
fn a_scenario_on_imported_logs_is_scored_and_skipped_loudly_without_them() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let pbs = tmp.path().join("pbs");
    let companion = pbs.join("iam-credential-compromise");
    for sub in ["scenarios", "tests", "answers"] {
        std::fs::create_dir_all(companion.join(sub)).unwrap();
    }
    std::fs::copy(
        repo().join("playbooks/iam-credential-compromise.yaml"),
        pbs.join("iam-credential-compromise.yaml"),
    )
    .unwrap();
    std::fs::copy(
        repo().join("playbooks/iam-credential-compromise/answers/responder.yaml"),
        companion.join("answers/responder.yaml"),
    )
    .unwrap();
    // Two calls as an anonymiser publishes them: a made-up region, a zero-padded address.
    let logs = tmp.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let call = |id: &str, name: &str, request: &str, response: &str| {
        format!(
            r#"{{"eventVersion":"1.09","eventID":"{id}","eventTime":"2024-08-01T13:33:28Z","eventSource":"iam.amazonaws.com","eventName":"{name}","awsRegion":"ap-isob-central-3r","sourceIPAddress":"075.050.255.067","userAgent":"stratus-red-team","recipientAccountId":"229654561268","eventType":"AwsApiCall","managementEvent":true,"readOnly":false,"requestParameters":{request},"responseElements":{response},"userIdentity":{{"type":"IAMUser","arn":"arn:aws:iam::229654561268:user/christophe","accountId":"229654561268","principalId":"AIDAZ49AHUAJ9OEK73O5","accessKeyId":"AKIAOZUDECYXYM4ONAN4","userName":"christophe"}}}}"#
        )
    };
    std::fs::write(
        logs.join("detonation.json"),
        format!(
            "[{},{}]",
            call("e1", "CreateUser", r#"{"userName":"backdoor"}"#, "null"),
            call(
                "e2",
                "CreateAccessKey",
                r#"{"userName":"backdoor"}"#,
                r#"{"accessKey":{"accessKeyId":"AKIAXAFZN8JEPF6L682H","status":"Active","userName":"backdoor"}}"#
            )
        ),
    )
    .unwrap();
    std::fs::write(
        companion.join("scenarios/real.yaml"),
        r#"title: a detonation, from its logs
lake:
  import: ["../../../logs/detonation.json"]
  normalise: { region: us-east-1, zero_padded_ipv4: true }
inputs:
  account: "229654561268"
  region: us-east-1
  access_key_id: AKIAOZUDECYXYM4ONAN4
  start_time: 2024-07-25T00:00:00Z
  end_time: 2024-08-02T00:00:00Z
truth:
  incident: true
  findings:
    arn: ["arn:aws:iam::229654561268:user/christophe"]
    access_key_id: [AKIAOZUDECYXYM4ONAN4, AKIAXAFZN8JEPF6L682H]
    ip: [75.50.255.67]
"#,
    )
    .unwrap();
    std::fs::write(
        companion.join("tests/real.yaml"),
        "title: found and contained\nscenario: real\nanswers: ../answers/responder.yaml\n\
         expect:\n  conclusion: incident\n  captures:\n    suspect_ips: [75.50.255.67]\n    created_users: [backdoor]\n\
         \x20 score: { precision: 1.0, recall: 1.0 }\n",
    )
    .unwrap();
    let out = run(&["validate", pbs.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = irp_in(&cache, &["test", pbs.to_str().unwrap()]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert!(
        stdout(&out).contains("ok   iam-credential-compromise / real"),
        "{}",
        stdout(&out)
    );
    // Imported once, into the cache, marked whole.
    let imported: Vec<PathBuf> = std::fs::read_dir(cache.join("lakes"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("imported.txt").is_file())
        .collect();
    assert_eq!(imported.len(), 1, "{imported:?}");

    // Without the logs: skipped, saying why; `--strict` makes it a failure.
    std::fs::remove_dir_all(&logs).unwrap();
    let out = irp_in(&cache, &["test", pbs.to_str().unwrap()]);
    let text = stdout(&out);
    assert!(
        text.contains("SKIP iam-credential-compromise / real: the scenario imports")
            && text.contains("logs/detonation.json, and it is not there"),
        "{text}"
    );
    assert!(text.contains("1 SKIPPED"), "{text}");
    let out = irp_in(&cache, &["test", pbs.to_str().unwrap(), "--strict"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(stdout(&out).contains("FAIL iam-credential-compromise / real"));

    // A lake is generated or imported, and the generator's settings do not go with logs.
    std::fs::write(
        companion.join("scenarios/real.yaml"),
        "title: t\nlake: { import: [x.json], generator: benign, days: 3 }\ntruth: { incident: false }\n",
    )
    .unwrap();
    let out = run(&["validate", pbs.to_str().unwrap()]);
    let err = stderr(&out);
    assert!(
        err.contains("`lake:` has both `generator:` and `import:`"),
        "{err}"
    );
    std::fs::write(
        companion.join("scenarios/real.yaml"),
        "title: t\nlake: { import: [x.json], days: 3, normalise: { region: Nowhere } }\ntruth: { incident: false }\n",
    )
    .unwrap();
    let err = stderr(&run(&["validate", pbs.to_str().unwrap()]));
    assert!(
        err.contains("`lake.days` applies to generated lakes only"),
        "{err}"
    );
    assert!(
        err.contains("`lake.normalise.region`: `Nowhere` is not a region name"),
        "{err}"
    );
    // A misspelt key is named as such (the schema error lists `events`, a field of `lake:`).
    std::fs::write(
        companion.join("scenarios/real.yaml"),
        "title: t\nlake: { imports: [x.json] }\ntruth: { incident: false }\n",
    )
    .unwrap();
    let err = stderr(&run(&["validate", pbs.to_str().unwrap()]));
    assert!(err.contains("unknown field `imports`"), "{err}");
    // Logs that do not import cleanly stop the case, naming the first problem; nothing is cached.
    let bad = tmp.path().join("bad");
    std::fs::create_dir_all(&bad).unwrap();
    std::fs::write(bad.join("bad.json"), r#"[{"eventSource": "iam.amazonaws.com"}]"#).unwrap();
    std::fs::write(
        companion.join("scenarios/real.yaml"),
        "title: t\nlake: { import: [\"../../../bad\"] }\ninputs: { account: \"229654561268\", region: us-east-1 }\n\
         truth: { incident: true }\n",
    )
    .unwrap();
    let out = irp_in(&cache, &["test", pbs.to_str().unwrap()]);
    let text = stdout(&out);
    assert!(
        text.contains("FAIL iam-credential-compromise / real")
            && text.contains("the scenario's logs do not import cleanly (1 problem(s)); the first:")
            && text.contains("no `eventName`"),
        "{text}"
    );
    let partial = std::fs::read_dir(cache.join("lakes"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .contains(".partial-")
        })
        .count();
    assert_eq!(partial, 0, "a failed import leaves nothing in the cache");
}

#[test]
fn rehearsal_cases_are_kept_in_the_data_folder_and_those_in_the_cache_are_moved_there() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    // A case an older irp opened under the cache's `cases/`.
    let old = cache.join("cases/drill-old");
    std::fs::create_dir_all(cache.join("cases")).unwrap();
    let out = crate::common::drill(&old).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let list = |extra: &[&str]| {
        irp()
            .env("IRP_CACHE", &cache)
            .env_remove("IRP_DATA")
            .env("XDG_DATA_HOME", tmp.path().join("xdg-data"))
            .args(["cases", "--rehearsals", "--json"])
            .args(extra)
            .output()
            .unwrap()
    };
    let out = list(&[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("moved 1 rehearsal case from the cache to"),
        "{}",
        stderr(&out)
    );
    let moved = tmp.path().join("xdg-data/irp/cases/drill-old");
    assert!(
        moved.join("journal.jsonl").is_file(),
        "the case is in the data folder"
    );
    assert!(!old.exists(), "and no longer in the cache");
    assert!(stdout(&out).contains("drill-old"), "{}", stdout(&out));
    // Moved once: a second listing says nothing of moving, and the case verifies where it is.
    let out = list(&[]);
    assert!(!stderr(&out).contains("moved"), "{}", stderr(&out));
    let out = irp().arg("verify").arg(&moved).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    // A rehearsal without --case-dir opens its case there.
    let out = irp()
        .env("IRP_CACHE", &cache)
        .env("IRP_DATA", tmp.path().join("data"))
        .env("IRP_NOW", "2026-11-28T09:00:00Z")
        .args(["rehearse", S3, "--headless", "--answers", RESPONDER, "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let cases: Vec<PathBuf> = std::fs::read_dir(tmp.path().join("data/cases"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(cases.len(), 1, "{cases:?}");
    assert!(!cache.join("cases").exists(), "nothing under the cache's cases/");
}
