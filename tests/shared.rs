//! A case shared on S3 by several responders, against a moto that answers one request at a
//! time (`IRP_MOTO_SERIAL_ENDPOINT`: moto's conditional write checks and writes in two steps, so
//! a threaded moto could lose a race of its own): concurrent writers agree on one journal, lose
//! nothing and repeat nothing; a writer killed at any point leaves no gap; two responders making
//! the same move: one wins, the other is told.

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{irp, required_tool, stderr, stdout};

/// The serial moto's endpoint, or `None` (said loudly; a failure under CI).
fn serial_moto() -> Option<String> {
    required_tool("IRP_MOTO_SERIAL_ENDPOINT", "a serial moto server")
}

/// A plain HTTP request to moto (it does not check signatures): status and body.
fn http(endpoint: &str, method: &str, path: &str) -> (u16, String) {
    let host = endpoint.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(host).unwrap();
    let req =
        format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    let status = resp
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = resp
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}-{}", nanos % 1_000_000_000_000)
}

/// A new bucket on the serial moto and the URL of a case in it.
fn new_case_url(endpoint: &str) -> (String, String) {
    let bucket = unique("irp-shared");
    let (status, body) = http(endpoint, "PUT", &format!("/{bucket}"));
    assert_eq!(status, 200, "{body}");
    let url = format!("s3://{bucket}/cases/{}", unique("case"));
    (bucket, url)
}

/// `irp` against the serial moto, with its own cache (its replica of shared cases).
fn irp_on(cache: &Path) -> Command {
    let mut cmd = irp();
    cmd.env("IRP_CACHE", cache)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_PROFILE")
        .env("IRP_AWS_MAX_ATTEMPTS", "5");
    cmd
}

/// Opens the drill case at `url` (it stops at its first query: there is no query backend).
fn open_case(endpoint: &str, url: &str, tmp: &Path) {
    let answers = tmp.join("lead.answers.yaml");
    std::fs::write(&answers, "actor: lead\nsteps: {}\n").unwrap();
    let out = irp_on(&tmp.join("lead-cache"))
        .args([
            "run",
            "tests/fixtures/cases/drill.yaml",
            "--case-dir",
            url,
            "-i",
            "bucket=drill-bucket",
        ])
        .args(["--headless", "--answers"])
        .arg(&answers)
        .args(["--endpoint-url", endpoint])
        .output()
        .unwrap();
    assert!(
        stdout(&out).contains(&format!("opened in {url}")),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
}

/// `irp case note URL --from FILE --actor ACTOR`.
fn notes(endpoint: &str, url: &str, cache: &Path, file: &Path, actor: &str) -> Command {
    let mut cmd = irp_on(cache);
    cmd.args(["case", "note", url, "--from"])
        .arg(file)
        .args(["--actor", actor, "--endpoint-url", endpoint]);
    cmd
}

/// `who`'s session on the shared case at `url`, joined through the library, replica in `cache`.
fn join_as(endpoint: &str, url: &str, cache: &Path, who: &str) -> irp::case::Session {
    let store = irp::case::shared::Store::connect(
        irp::case::seal::Location::parse(url).unwrap(),
        &moto_settings(endpoint),
    )
    .unwrap();
    let ctx = irp::case::Context {
        actor: who.to_owned(),
        clock: irp::clock::Clock::from_env().unwrap(),
        ids: irp::clock::Ids::from_env(),
        command: "test".to_owned(),
        signer: None,
    };
    irp::case::Session::join_shared(store, cache, ctx).unwrap()
}

/// The replica folder a cache holds for `url`.
fn replica(cache: &Path, url: &str) -> PathBuf {
    let rest = url.trim_start_matches("s3://");
    let (bucket, prefix) = rest.split_once('/').unwrap();
    cache.join("shared").join(bucket).join(prefix.replace('/', "%2F"))
}

/// The journal's keys on S3, as seqs, from a listing.
fn listed_seqs(endpoint: &str, bucket: &str, url: &str) -> Vec<u64> {
    let prefix = url.trim_start_matches(&format!("s3://{bucket}/"));
    let mut seqs = Vec::new();
    let mut after = String::new();
    loop {
        let (_, body) = http(
            endpoint,
            "GET",
            &format!("/{bucket}?list-type=2&prefix={prefix}/journal/&start-after={after}"),
        );
        let keys: Vec<String> = body
            .split("<Key>")
            .skip(1)
            .filter_map(|k| k.split("</Key>").next())
            .map(str::to_owned)
            .collect();
        for k in &keys {
            seqs.push(k.rsplit('/').next().unwrap().parse::<u64>().unwrap());
        }
        if !body.contains("<IsTruncated>true</IsTruncated>") || keys.is_empty() {
            break;
        }
        after.clone_from(keys.last().unwrap());
    }
    seqs
}

/// `irp verify` of a replica folder passes; what it said.
fn assert_verifies(replica: &Path) -> String {
    let out = irp().args(["verify"]).arg(replica).output().unwrap();
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    stdout(&out)
}

/// AWS settings for the library, against the serial moto.
fn moto_settings(endpoint: &str) -> irp::action::aws::AwsSettings {
    irp::action::aws::AwsSettings {
        profile: None,
        region: Some("us-east-1".to_owned()),
        endpoint_url: Some(endpoint.to_owned()),
        retry_attempts: Some(3),
        retry_backoff: None,
    }
}

fn journal_of(replica: &Path) -> Vec<u8> {
    std::fs::read(replica.join("journal.jsonl")).unwrap()
}

/// The note texts of a journal, in order.
fn note_texts(journal: &[u8]) -> Vec<String> {
    journal
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .filter_map(|l| {
            let v: serde_json::Value = serde_json::from_slice(l).unwrap();
            (v["kind"] == "note_added").then(|| v["payload"]["text"].as_str().unwrap_or_default().to_owned())
        })
        .collect()
}

#[test]
fn four_responders_append_a_thousand_notes_and_every_replica_agrees() {
    let Some(endpoint) = serial_moto() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let (_, url) = new_case_url(&endpoint);
    open_case(&endpoint, &url, tmp.path());
    // Four writers, five batches of 50 notes each, random pauses between batches.
    let writers: Vec<std::thread::JoinHandle<()>> = (1..=4)
        .map(|w| {
            let (endpoint, url, dir) = (endpoint.clone(), url.clone(), tmp.path().to_owned());
            std::thread::spawn(move || {
                let cache = dir.join(format!("w{w}-cache"));
                for b in 1..=5 {
                    let file = dir.join(format!("w{w}-b{b}.txt"));
                    let lines: String = (1..=50).map(|l| format!("w{w}-b{b}-l{l}\n")).collect();
                    std::fs::write(&file, lines).unwrap();
                    let out = notes(&endpoint, &url, &cache, &file, &format!("w{w}"))
                        .output()
                        .unwrap();
                    assert!(out.status.success(), "writer {w} batch {b}: {}", stderr(&out));
                    let mut r = [0u8; 1];
                    getrandom::fill(&mut r).unwrap();
                    std::thread::sleep(std::time::Duration::from_millis(u64::from(r[0])));
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    // A responder who joins afterwards reads the whole journal (and adds one note).
    let last = tmp.path().join("checker.txt");
    std::fs::write(&last, "checked\n").unwrap();
    let checker = tmp.path().join("checker-cache");
    let out = notes(&endpoint, &url, &checker, &last, "checker")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let full = journal_of(&replica(&checker, &url));
    // Every writer's replica is the same journal, as far as it read it.
    for w in 1..=4 {
        let mine = journal_of(&replica(&tmp.path().join(format!("w{w}-cache")), &url));
        assert!(!mine.is_empty());
        assert!(
            full.starts_with(&mine),
            "writer {w}'s replica differs from the journal on S3"
        );
    }
    // Each of the 1,000 notes is there exactly once.
    let texts = note_texts(&full);
    let mut wanted: Vec<String> = (1..=4)
        .flat_map(|w| (1..=5).flat_map(move |b| (1..=50).map(move |l| format!("w{w}-b{b}-l{l}"))))
        .collect();
    wanted.push("checked".to_owned());
    let mut got = texts.clone();
    got.sort();
    wanted.sort();
    assert_eq!(got.len(), 1001, "lost or repeated notes");
    let differ = got.iter().zip(&wanted).filter(|(a, b)| a != b).count();
    assert_eq!(differ, 0, "{differ} notes differ from what the writers wrote");
    // The chain verifies.
    assert_verifies(&replica(&checker, &url));
}

#[test]
fn a_writer_killed_at_any_point_leaves_no_gap_and_no_half_entry() {
    let Some(endpoint) = serial_moto() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let (bucket, url) = new_case_url(&endpoint);
    open_case(&endpoint, &url, tmp.path());
    let file = tmp.path().join("many.txt");
    std::fs::write(
        &file,
        (1..=400).map(|l| format!("line {l}\n")).collect::<String>(),
    )
    .unwrap();
    let cache = tmp.path().join("killed-cache");
    for kill in 0..20u64 {
        let mut child = notes(&endpoint, &url, &cache, &file, "killed")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(60 + (kill * 37) % 300));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
    }
    // The journal on S3 has seq 0…n-1, no gap, and every entry reads and links (a checker
    // joining reads and checks each one).
    let seqs = listed_seqs(&endpoint, &bucket, &url);
    assert!(!seqs.is_empty());
    assert_eq!(
        seqs,
        (0..seqs.len() as u64).collect::<Vec<_>>(),
        "a gap in the journal on S3"
    );
    let checker = tmp.path().join("checker-cache");
    let one = tmp.path().join("one.txt");
    std::fs::write(&one, "after the kills\n").unwrap();
    let out = notes(&endpoint, &url, &checker, &one, "checker")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let full = journal_of(&replica(&checker, &url));
    assert_eq!(
        full.iter().filter(|b| **b == b'\n').count(),
        seqs.len() + 2,
        "every entry, then the checker's session and note"
    );
    // The killed writer's replica is either a prefix of the journal, or is made anew when it
    // comes back: its next notes land.
    let out = notes(&endpoint, &url, &cache, &one, "killed").output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let out = notes(&endpoint, &url, &checker, &one, "checker")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let full = journal_of(&replica(&checker, &url));
    assert!(full.starts_with(&journal_of(&replica(&cache, &url))));
    assert_verifies(&replica(&checker, &url));
}

#[test]
fn two_responders_making_the_same_move_one_wins_and_the_other_is_told() {
    let Some(endpoint) = serial_moto() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let (_, url) = new_case_url(&endpoint);
    open_case(&endpoint, &url, tmp.path());
    assert!(
        std::env::var("AWS_ACCESS_KEY_ID").is_ok(),
        "scripts/test sets AWS credentials for moto"
    );
    let session = |who: &str| join_as(&endpoint, &url, &tmp.path().join(format!("{who}-cache")), who);
    // Both stand on the drill's first query, `reads`; both skip it.
    let mut alice = session("alice");
    let mut bob = session("bob");
    let skip = |reason: &str| irp::engine::Command::Skip {
        step: "reads".to_owned(),
        reason: reason.to_owned(),
    };
    // A query alice has running is hers to finish: bob's irp does not settle it as a leftover
    // of a crash (as it would its own), and his moves on the step are refused meanwhile.
    alice
        .execute(&irp::engine::Command::SubmitQuery {
            step: "reads".to_owned(),
            sql: "SELECT 1".to_owned(),
            backend: "local".to_owned(),
            not_collected: vec![],
        })
        .unwrap();
    bob.pull().unwrap();
    let before = bob.entries.len();
    assert!(!irp::case::moves::settle_leftover(&mut bob, "reads", &mut |_| {}).unwrap());
    assert_eq!(bob.entries.len(), before, "nothing recorded for alice's query");
    let refused = bob
        .execute(&skip("bob skips a running query"))
        .map(|e| e.seq)
        .unwrap_err();
    assert!(refused.to_string().contains("already running"), "{refused}");
    assert!(irp::case::moves::settle_leftover(&mut alice, "reads", &mut |_| {}).unwrap());
    alice.execute(&skip("alice skips")).unwrap();
    let refused = bob.execute(&skip("bob skips")).map(|e| e.seq).unwrap_err();
    let said = refused.to_string();
    assert!(said.contains("reads"), "bob is told why: {said}");
    assert!(
        said.contains("alice got there first: `step_skipped` at step `reads`"),
        "bob is told who: {said}"
    );
    // Bob's replica now holds alice's skip: he sees who did it.
    let skipped: Vec<&irp::journal::Entry> = bob
        .entries
        .iter()
        .filter(|e| matches!(&e.event, irp::engine::Event::StepSkipped { .. }))
        .collect();
    assert_eq!(skipped.len(), 1);
    assert_eq!(skipped[0].actor, "alice");
    // And the case goes on for both.
    assert_eq!(alice.state.position, bob.state.position);
}

#[test]
fn artifacts_travel_by_hash_and_every_replica_verifies() {
    let Some(endpoint) = serial_moto() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let (bucket, url) = new_case_url(&endpoint);
    let lake = crate::common::for_each_lake(tmp.path());
    let answers = tmp.path().join("answers.yaml");
    std::fs::write(&answers, "steps: {}\n").unwrap();
    let out = irp_on(&tmp.path().join("lead-cache"))
        .env("IRP_NOW", "2026-11-28T03:00:00Z")
        .args([
            "run",
            "tests/fixtures/cases/for-each.yaml",
            "--case-dir",
            &url,
            "--lake",
        ])
        .arg(&lake)
        .args([
            "-i",
            "suspect_key=AKIAEXAMPLESTOLEN001",
            "--headless",
            "--answers",
        ])
        .arg(&answers)
        .args(["--endpoint-url", &endpoint])
        .output()
        .unwrap();
    assert!(
        stdout(&out).contains(&format!("opened in {url}")),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    let lead = journal_of(&replica(&tmp.path().join("lead-cache"), &url));
    let vouched: Vec<String> = lead
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .filter_map(|l| {
            let v: serde_json::Value = serde_json::from_slice(l).unwrap();
            (v["kind"] == "query_succeeded")
                .then(|| v["payload"]["artifact"]["sha256"].as_str().unwrap().to_owned())
        })
        .collect();
    assert!(!vouched.is_empty(), "the query's result is an artifact");
    // On S3 under its hash (as a listing shows: moto refuses an unsigned read of an object).
    let prefix = url.trim_start_matches(&format!("s3://{bucket}/"));
    let (_, listing) = http(
        &endpoint,
        "GET",
        &format!("/{bucket}?list-type=2&prefix={prefix}/artifacts/"),
    );
    for sha in &vouched {
        assert!(
            listing.contains(&format!("{prefix}/artifacts/{sha}</Key>")),
            "artifacts/{sha}: {listing}"
        );
    }
    // Another responder's replica fetches it and verifies.
    let checker = tmp.path().join("checker-cache");
    let one = tmp.path().join("one.txt");
    std::fs::write(&one, "seen\n").unwrap();
    let out = notes(&endpoint, &url, &checker, &one, "checker")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let said = assert_verifies(&replica(&checker, &url));
    assert!(said.contains("files match"), "{said}");
}

#[test]
fn two_terminal_uis_on_one_case_see_each_others_moves_within_five_seconds_and_a_race_is_told() {
    let Some(endpoint) = serial_moto() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let (_, url) = new_case_url(&endpoint);
    open_case(&endpoint, &url, tmp.path());
    let irp_bin = env!("CARGO_BIN_EXE_irp");
    let ui = |who: &str| {
        let script = format!(
            "{irp_bin} join {url} --endpoint-url {endpoint} --actor {who}; echo IRP-EXIT=$?; sleep 600"
        );
        let env = [
            format!("IRP_CACHE={}", tmp.path().join(format!("{who}-cache")).display()),
            "AWS_ACCESS_KEY_ID=testing".to_owned(),
            "AWS_SECRET_ACCESS_KEY=testing".to_owned(),
            "AWS_REGION=us-east-1".to_owned(),
            "AWS_EC2_METADATA_DISABLED=true".to_owned(),
        ];
        let env: Vec<&str> = env.iter().map(String::as_str).collect();
        crate::ui_tmux::Tmux::start(&format!("shared-{who}"), &script, &env)
    };
    let Some(alice) = ui("alice") else { return };
    let bob = ui("bob").unwrap();
    for (who, t) in [("alice", &alice), ("bob", &bob)] {
        t.wait(&format!("{who}'s screen"), |s| s.contains("Journal (J: all)"));
    }
    let within = |what: &str, since: std::time::Instant| {
        let seen = since.elapsed();
        assert!(seen < std::time::Duration::from_secs(5), "{what} after {seen:?}");
    };
    // Carol, at a shell elsewhere, adds a note; it lands on alice's screen.
    let note = tmp.path().join("carol.txt");
    std::fs::write(&note, "carol checked the bucket policy\n").unwrap();
    let started = std::time::Instant::now();
    let out = notes(&endpoint, &url, &tmp.path().join("carol-cache"), &note, "carol")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    alice.wait("carol's note on alice's screen", |s| {
        s.contains("carol checked the bucket policy")
    });
    within("alice saw carol's note", started);
    // Alice skips the query, then decides; bob's screen shows each within 5 s.
    alice.keys(&["x"]);
    alice.wait("the reason box", |s| s.contains("Skip `reads`: why?"));
    alice.text("no lake in this drill");
    alice.wait("the reason typed", |s| s.contains("no lake in this drill"));
    let started = std::time::Instant::now();
    alice.keys(&["Enter"]);
    bob.wait("alice's skip on bob's screen", |s| {
        s.contains("skipped: no lake in this drill")
    });
    within("bob saw alice's skip", started);
    alice.wait("alice at the decision", |s| {
        crate::ui_tmux::shown_step(s).is_some_and(|(_, id)| id == "triage")
    });
    let started = std::time::Instant::now();
    alice.keys(&["Enter"]);
    bob.wait("alice's decision on bob's screen", |s| {
        s.lines()
            .any(|l| l.contains("triage") && l.contains("chose `incident`"))
    });
    within("bob saw alice's decision", started);
    // Both finish the same note step at once: one entry is recorded, and the other responder
    // is told who got there first. (Keys reach the two terminals a few ms apart; should one UI
    // have read the other's entry in between, the two moves are on different steps and both
    // hold: the next note step tries again.)
    let mut told = None;
    for _ in 0..9 {
        let step = |t: &crate::ui_tmux::Tmux| {
            crate::ui_tmux::shown_step(&t.wait("a step", |s| crate::ui_tmux::shown_step(s).is_some()))
        };
        let both = alice.wait("both on the same step", |a| {
            let (sa, sb) = (crate::ui_tmux::shown_step(a), step(&bob));
            sa.is_some() && sa == sb
        });
        let Some((kind, id)) = crate::ui_tmux::shown_step(&both) else {
            unreachable!()
        };
        if kind != "note" {
            break;
        }
        alice.keys(&["Enter"]);
        bob.keys(&["Enter"]);
        let past = |s: &str| crate::ui_tmux::shown_step(s).is_some_and(|(_, now)| now != id);
        let (a, b) = (
            alice.wait("alice past the step", |s| {
                past(s) || s.contains("got there first")
            }),
            bob.wait("bob past the step", |s| past(s) || s.contains("got there first")),
        );
        if let Some(screen) = [a, b].into_iter().find(|s| s.contains("got there first")) {
            told = Some(screen);
            break;
        }
    }
    let told = told.expect("two moves at once on one step: one of the responders is told");
    assert!(
        told.contains("alice got there first") || told.contains("bob got there first"),
        "{told}"
    );
    alice.keys(&["q"]);
    bob.keys(&["q"]);
}

#[test]
fn a_signed_shared_case_takes_its_responders_entries_and_skips_a_forged_one() {
    let Some(endpoint) = serial_moto() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let (bucket, url) = new_case_url(&endpoint);
    let allowed = tmp.path().join("allowed_signers");
    std::fs::write(
        &allowed,
        format!(
            "{}{}",
            crate::common::allowed_line("alice@example.org", "alice"),
            crate::common::allowed_line("bob@example.org", "bob")
        ),
    )
    .unwrap();
    let alice_key = crate::common::test_key("alice");
    let bob_key = crate::common::test_key("bob");
    let mallory_key = crate::common::test_key("mallory");
    // Alice opens the case, requiring signed entries; her entries and their signatures are on S3.
    let answers = tmp.path().join("lead.answers.yaml");
    std::fs::write(&answers, "actor: alice\nsteps: {}\n").unwrap();
    let out = irp_on(&tmp.path().join("alice-cache"))
        .args([
            "run",
            "tests/fixtures/cases/drill.yaml",
            "--case-dir",
            &url,
            "-i",
            "bucket=drill-bucket",
        ])
        .args([
            "--allowed-signers",
            allowed.to_str().unwrap(),
            "--signing-key",
            alice_key.to_str().unwrap(),
        ])
        .args(["--headless", "--answers"])
        .arg(&answers)
        .args(["--endpoint-url", &endpoint])
        .output()
        .unwrap();
    assert!(
        stdout(&out).contains(&format!("opened in {url}")),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    let note = tmp.path().join("note.txt");
    std::fs::write(&note, "bob's note\n").unwrap();
    let with_key = |cache: &str, actor: &str, key: Option<&Path>| {
        let mut cmd = notes(&endpoint, &url, &tmp.path().join(cache), &note, actor);
        if let Some(k) = key {
            cmd.args(["--signing-key", k.to_str().unwrap()]);
        }
        cmd.output().unwrap()
    };
    let out = with_key("bob-cache", "bob", Some(&bob_key));
    assert!(out.status.success(), "{}", stderr(&out));
    // Unsigned, or signed by a key the case does not allow: refused before anything is written.
    let out = with_key("carol-cache", "carol", None);
    assert!(
        stderr(&out).contains("every entry of this case must be signed"),
        "{}",
        stderr(&out)
    );
    let out = with_key("mallory-cache", "mallory", Some(&mallory_key));
    assert!(
        stderr(&out).contains("is not a key the case's allowed signers allow"),
        "{}",
        stderr(&out)
    );
    // Every reader checks every entry's signature: the replica verifies against the keys.
    let reader = tmp.path().join("reader-cache");
    let out = irp_on(&reader)
        .args([
            "verify",
            &url,
            "--allowed-signers",
            allowed.to_str().unwrap(),
            "--endpoint-url",
            &endpoint,
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert!(
        stdout(&out).contains("signed by alice@example.org"),
        "{}",
        stdout(&out)
    );
    assert!(
        stdout(&out).contains("signed by bob@example.org"),
        "{}",
        stdout(&out)
    );

    // Someone with s3:PutObject on the prefix wins the next seq with an entry of their making,
    // linked as an honest one would be, but unsigned.
    let replica_journal = journal_of(&replica(&reader, &url));
    let last: irp::journal::Entry = irp::journal::entry::decode(
        replica_journal
            .split(|b| *b == b'\n')
            .rfind(|l| !l.is_empty())
            .unwrap(),
    )
    .unwrap();
    let (_, forged) = irp::journal::entry::encode(
        last.seq + 1,
        uuid::Uuid::nil(),
        chrono::Utc::now(),
        "alice",
        irp::engine::Event::NoteAdded {
            step: None,
            text: "close it, nothing to see".to_owned(),
            made_offline: None,
        },
        &last.hash,
    )
    .unwrap();
    let settings = moto_settings(&endpoint);
    let store = irp::case::shared::Store::connect(irp::case::seal::Location::parse(&url).unwrap(), &settings)
        .unwrap();
    assert_eq!(
        store.put_entry(last.seq + 1, &forged).unwrap(),
        irp::case::shared::Put::Written
    );
    // A reader that writes nothing skips it and says so; the case reads on without it.
    let forged_slot = last.seq + 1;
    let verify = |json: bool| {
        let mut cmd = irp_on(&reader);
        cmd.args(["verify", &url, "--endpoint-url", &endpoint]);
        if json {
            cmd.arg("--json");
        }
        cmd.output().unwrap()
    };
    let out = verify(false);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert!(
        stderr(&out).contains(&format!(
            "slot {forged_slot} on S3 was refused and skipped: it is not signed"
        )),
        "{}",
        stderr(&out)
    );
    // The next honest writer records it (`entry_rejected`, signed by bob) before bob's note, and
    // a second object of nobody's making (not even an entry) after it is refused the same way.
    let out = with_key("bob-cache", "bob", Some(&bob_key));
    assert!(out.status.success(), "{}", stderr(&out));
    let garbage_slot = listed_seqs(&endpoint, &bucket, &url).into_iter().max().unwrap() + 1;
    assert_eq!(
        store
            .put_entry(garbage_slot, b"{\"kind\":\"case_closed\"}\n")
            .unwrap(),
        irp::case::shared::Put::Written
    );
    let note_by_alice = tmp.path().join("alice-note.txt");
    std::fs::write(&note_by_alice, "alice carries on\n").unwrap();
    let mut alice_note = notes(
        &endpoint,
        &url,
        &tmp.path().join("alice-cache"),
        &note_by_alice,
        "alice",
    );
    let out = alice_note
        .args(["--signing-key", alice_key.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let out = verify(true);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let rejected = v["rejected"].as_array().unwrap();
    assert_eq!(rejected.len(), 2, "{v}");
    assert_eq!(rejected[0]["slot"], forged_slot);
    assert_eq!(rejected[0]["recorded_by"], "bob");
    assert_eq!(rejected[0]["claimed_actor"], "alice");
    assert_eq!(rejected[1]["slot"], garbage_slot);
    assert_eq!(rejected[1]["recorded_by"], "alice");
    assert_eq!(
        v["signatures"]["unsigned"], 0,
        "every entry the case holds is signed: {v}"
    );
    // The state skips them: the forged note is nowhere, the honest ones are there; the forged
    // bytes are kept, untouched, and every replica agrees.
    let journal = journal_of(&replica(&reader, &url));
    let texts = note_texts(&journal);
    assert!(!texts.iter().any(|t| t.contains("nothing to see")), "{texts:?}");
    assert!(texts.contains(&"bob's note".to_owned()) && texts.contains(&"alice carries on".to_owned()));
    let kept = std::fs::read(replica(&reader, &url).join(format!("rejected/slot-{forged_slot}"))).unwrap();
    assert!(kept == forged, "the forged bytes are kept as they were");
    // Bob's replica is as he last read it (before alice's note): the same entries, fewer.
    assert!(journal.starts_with(&journal_of(&replica(&tmp.path().join("bob-cache"), &url))));
    assert!(journal == journal_of(&replica(&tmp.path().join("alice-cache"), &url)));
    let out = verify(false);
    assert!(
        stderr(&out).contains(&format!("slot {forged_slot} of the shared case on S3 held an entry that is not the case's (claimed by alice)")),
        "{}",
        stderr(&out)
    );
}

#[test]
fn notes_written_offline_wait_in_the_outbox_and_land_once_when_the_network_returns() {
    let Some(endpoint) = serial_moto() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let (_, url) = new_case_url(&endpoint);
    open_case(&endpoint, &url, tmp.path());
    let cache = tmp.path().join("field-cache");
    let write = |text: &str, endpoint: &str| {
        let file = tmp.path().join("note.txt");
        std::fs::write(&file, format!("{text}\n")).unwrap();
        notes(endpoint, &url, &cache, &file, "field")
            .env("IRP_AWS_MAX_ATTEMPTS", "1")
            .output()
            .unwrap()
    };
    // Offline with no replica here: nothing to work on, and it says so.
    let out = write("too early", "http://127.0.0.1:9");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("no replica of the case here"),
        "{}",
        stderr(&out)
    );
    // Online once: the replica is there.
    let out = write("online before", &endpoint);
    assert!(out.status.success(), "{}", stderr(&out));
    // The network goes (nothing listens there): the notes are kept, not lost.
    let dead = "http://127.0.0.1:9";
    for text in ["offline one", "offline two"] {
        let out = write(text, dead);
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(
            stderr(&out).contains("kept in this replica's outbox"),
            "{}",
            stderr(&out)
        );
    }
    let outbox = std::fs::read_to_string(replica(&cache, &url).join("outbox.jsonl")).unwrap();
    assert_eq!(outbox.lines().count(), 2, "{outbox}");
    // Review offline reads the replica as it was, and says that it may be behind.
    let out = irp_on(&cache)
        .args(["verify", &url, "--endpoint-url", dead])
        .env("IRP_AWS_MAX_ATTEMPTS", "1")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("S3 cannot be reached: this is the replica as last read"),
        "{}",
        stderr(&out)
    );
    // The replica's journal is damaged meanwhile, so it is made anew from S3: the outbox stays.
    let journal = replica(&cache, &url).join("journal.jsonl");
    let mut bytes = std::fs::read(&journal).unwrap();
    bytes.extend_from_slice(b"not an entry\n");
    std::fs::write(&journal, bytes).unwrap();
    // Back online: what waited lands first, in order, once; then the new note.
    let out = write("online after", &endpoint);
    assert!(out.status.success(), "{}", stderr(&out));
    let checker = tmp.path().join("checker-cache");
    let file = tmp.path().join("c.txt");
    std::fs::write(&file, "checked\n").unwrap();
    let out = notes(&endpoint, &url, &checker, &file, "checker")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let full = journal_of(&replica(&checker, &url));
    assert_eq!(
        note_texts(&full),
        [
            "online before",
            "offline one",
            "offline two",
            "online after",
            "checked"
        ],
    );
    // The entries made offline say when they were written.
    let offline: Vec<serde_json::Value> = full
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .filter(|v: &serde_json::Value| v["kind"] == "note_added" && v["payload"]["made_offline"].is_string())
        .collect();
    assert_eq!(offline.len(), 2);
    assert!(
        std::fs::read_to_string(replica(&cache, &url).join("outbox.jsonl"))
            .unwrap()
            .is_empty()
    );
    // A second run does not write them again.
    let out = write("and once more", &endpoint);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = notes(&endpoint, &url, &checker, &file, "checker")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let texts = note_texts(&journal_of(&replica(&checker, &url)));
    assert_eq!(
        texts.iter().filter(|t| t.starts_with("offline")).count(),
        2,
        "{texts:?}"
    );
}

/// A proxy in front of moto that answers every `PUT` of an object (a write) itself with `status`
/// and an S3 error (`code`), and passes the rest through: a denied, throttled or expired write.
fn refusing_writes(upstream: &str, status: &'static str, code: &'static str) -> String {
    crate::athena::proxy(upstream, move |_, request| {
        let first = crate::athena::request_line(request);
        let path = first.split_whitespace().nth(1).unwrap_or_default();
        (first.starts_with("PUT ") && path.matches('/').count() > 1).then(|| {
            let body = format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code><Message>{code} (injected)</Message></Error>");
            format!(
                "HTTP/1.1 {status}\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )
            .into_bytes()
        })
    })
    .0
}

#[test]
fn a_denied_throttled_or_expired_write_says_what_to_do_and_records_nothing() {
    let Some(endpoint) = serial_moto() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let (bucket, url) = new_case_url(&endpoint);
    open_case(&endpoint, &url, tmp.path());
    let before = listed_seqs(&endpoint, &bucket, &url);
    let file = tmp.path().join("n.txt");
    std::fs::write(&file, "a note\n").unwrap();
    for (status, code, expected) in [
        ("403 Forbidden", "AccessDenied", "s3:PutObject"),
        ("503 Slow Down", "SlowDown", "SlowDown"),
        ("400 Bad Request", "ExpiredToken", "ExpiredToken"),
    ] {
        let proxy = refusing_writes(&endpoint, status, code);
        let out = notes(
            &proxy,
            &url,
            &tmp.path().join(format!("{code}-cache")),
            &file,
            "w",
        )
        .env("IRP_AWS_MAX_ATTEMPTS", "2")
        .output()
        .unwrap();
        assert_eq!(out.status.code(), Some(1), "{code}: {}", stderr(&out));
        let said = stderr(&out);
        assert!(said.contains(expected), "{code}: {said}");
        assert!(said.contains(&url), "{code}: {said}");
        assert!(
            !said.contains("kept in this replica's outbox"),
            "S3 answered: nothing is kept offline: {said}"
        );
        assert!(said.contains("hint:"), "{code}: {said}");
    }
    assert_eq!(
        listed_seqs(&endpoint, &bucket, &url),
        before,
        "nothing was recorded"
    );
}

#[test]
fn what_is_not_a_shared_case_is_named_with_what_to_do() {
    let Some(endpoint) = serial_moto() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let (bucket, _) = new_case_url(&endpoint);
    let cache = tmp.path().join("cache");
    let note = |case: &str| {
        irp_on(&cache)
            .args(["case", "note", case, "text", "--endpoint-url", &endpoint])
            .output()
            .unwrap()
    };
    // A bucket, not a case.
    let out = note(&format!("s3://{bucket}"));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("names a bucket, not a case"),
        "{}",
        stderr(&out)
    );
    // Not an S3 URL at all, or a prefix that climbs.
    let out = note(&format!("s3://{bucket}/../x"));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    // Nothing there yet.
    let out = note(&format!("s3://{bucket}/cases/none"));
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("holds no case"), "{}", stderr(&out));
    // `irp join` takes only a shared case.
    let out = irp_on(&cache)
        .args(["join", tmp.path().to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("continue a case folder with `irp resume`"),
        "{}",
        stderr(&out)
    );
    // Opening a case where one is already: refused, and the case is untouched.
    let (_, url) = new_case_url(&endpoint);
    open_case(&endpoint, &url, tmp.path());
    let again = tmp.path().join("again");
    std::fs::create_dir_all(&again).unwrap();
    let answers = again.join("lead.answers.yaml");
    std::fs::write(&answers, "actor: lead\nsteps: {}\n").unwrap();
    let out = irp_on(&again.join("cache"))
        .args([
            "run",
            "tests/fixtures/cases/drill.yaml",
            "--case-dir",
            &url,
            "-i",
            "bucket=drill-bucket",
        ])
        .args(["--headless", "--answers"])
        .arg(&answers)
        .args(["--endpoint-url", &endpoint])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("a case is there already; join it with `irp join`"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn case_note_and_shared_flags_given_wrong_are_refused_with_what_to_do() {
    let tmp = tempfile::tempdir().unwrap();
    let case = tmp.path().join("case");
    crate::journal::finished_case(&case);
    let run = |args: &[&str]| irp().args(args).output().unwrap();
    let c = case.to_str().unwrap();
    // No note at all; a notes file that is not there.
    let out = run(&["case", "note", c]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("no note given"), "{}", stderr(&out));
    let out = run(&[
        "case",
        "note",
        c,
        "--from",
        tmp.path().join("missing.txt").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("cannot read"), "{}", stderr(&out));
    // A note to a closed case (a folder) is refused by the engine, and the journal is untouched.
    let before = std::fs::read(case.join("journal.jsonl")).unwrap();
    let out = run(&["case", "note", c, "too late"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("closed"), "{}", stderr(&out));
    assert!(
        std::fs::read(case.join("journal.jsonl"))
            .unwrap()
            .starts_with(&before)
    );
    // --allowed-signers is for a shared case only.
    let out = run(&[
        "run",
        "tests/fixtures/cases/drill.yaml",
        "--case-dir",
        tmp.path().join("new").to_str().unwrap(),
        "-i",
        "bucket=b",
        "--allowed-signers",
        "/dev/null",
        "--headless",
        "--answers",
        "tests/fixtures/cases/drill.answers.yaml",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("is for a shared case"), "{}", stderr(&out));
    assert!(!tmp.path().join("new").exists(), "no case was opened");
}

#[test]
fn a_team_takes_roles_and_hands_them_over_and_only_the_roles_holder_moves() {
    let Some(endpoint) = serial_moto() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let (_, url) = new_case_url(&endpoint);
    let playbook = tmp.path().join("team.yaml");
    std::fs::write(&playbook, crate::engine::team_drill_source()).unwrap();
    let answers = |who: &str| {
        let path = tmp.path().join(format!("{who}.answers.yaml"));
        std::fs::write(&path, format!("actor: {who}\nsteps: {{}}\n")).unwrap();
        path
    };
    // The lead opens the case with their role; the analyst joins with theirs.
    let out = irp_on(&tmp.path().join("alice-cache"))
        .args(["run"])
        .arg(&playbook)
        .args(["--case-dir", &url, "-i", "bucket=drill-bucket", "--role", "lead"])
        .args(["--headless", "--answers"])
        .arg(answers("alice"))
        .args(["--endpoint-url", &endpoint])
        .output()
        .unwrap();
    let said = format!("{}{}", stdout(&out), stderr(&out));
    assert!(said.contains("alice holds the lead role"), "{said}");
    let join = |who: &str, role: &str| {
        irp_on(&tmp.path().join(format!("{who}-cache")))
            .args(["join", &url, "--role", role, "--headless", "--answers"])
            .arg(answers(who))
            .args(["--endpoint-url", &endpoint])
            .output()
            .unwrap()
    };
    let out = join("bob", "analyst");
    let said = format!("{}{}", stdout(&out), stderr(&out));
    assert!(said.contains("bob holds the analyst role"), "{said}");
    assert!(said.contains("roles: analyst: bob, lead: alice"), "{said}");
    // A role held is refused to another, with who holds it.
    let out = join("mallory", "analyst");
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("the analyst role is held by bob"),
        "{}",
        stderr(&out)
    );

    // The query step is the analyst's: the lead is refused, the analyst moves.
    let session = |who: &str| join_as(&endpoint, &url, &tmp.path().join(format!("{who}-cache")), who);
    let skip = irp::engine::Command::Skip {
        step: "reads".to_owned(),
        reason: "no backend in this test".to_owned(),
    };
    let mut alice = session("alice");
    let refused = alice.execute(&skip).map(|e| e.seq).unwrap_err().to_string();
    assert!(
        refused.contains("the analyst's to do, and bob holds that role"),
        "{refused}"
    );
    drop(alice);
    session("bob").execute(&skip).unwrap();
    // The decision is the lead's.
    let decide = irp::engine::Command::Decide {
        step: "triage".to_owned(),
        option: "benign".to_owned(),
        rationale: None,
    };
    let refused = session("bob")
        .execute(&decide)
        .map(|e| e.seq)
        .unwrap_err()
        .to_string();
    assert!(
        refused.contains("the lead's to do, and alice holds that role"),
        "{refused}"
    );

    // Hand-over from the shell, by the holder; an override by anyone but the lead is refused.
    let handover = |actor: &str, role: &str, to: &str, over: Option<&str>| {
        let mut cmd = irp_on(&tmp.path().join(format!("{actor}-cache")));
        cmd.args([
            "handover",
            &url,
            role,
            "--to",
            to,
            "--actor",
            actor,
            "--endpoint-url",
            &endpoint,
        ]);
        if let Some(reason) = over {
            cmd.args(["--override", reason]);
        }
        cmd.output().unwrap()
    };
    let out = handover("bob", "analyst", "carol", None);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("the analyst role is now carol's"),
        "{}",
        stdout(&out)
    );
    let out = handover("bob", "analyst", "bob", Some("I want it back"));
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("only the lead (lead, held by alice)"),
        "{}",
        stderr(&out)
    );
    let out = handover("alice", "analyst", "dave", Some("carol went off shift"));
    assert!(out.status.success(), "{}", stderr(&out));

    // Every replica holds the same entries, and the report's timeline tells the story.
    let mut alice = session("alice");
    alice.pull().unwrap();
    assert_eq!(alice.state.roles.get("analyst").map(String::as_str), Some("dave"));
    let kinds: Vec<(String, &str)> = alice
        .entries
        .iter()
        .filter(|e| e.event.kind().starts_with("role_"))
        .map(|e| (e.actor.clone(), e.event.kind()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("alice".to_owned(), "role_taken"),
            ("bob".to_owned(), "role_taken"),
            ("bob".to_owned(), "role_handed_over"),
            ("alice".to_owned(), "role_overridden"),
        ]
    );
    let out = irp_on(&tmp.path().join("reader-cache"))
        .args(["report", &url, "--endpoint-url", &endpoint])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let report = stdout(&out);
    for line in [
        "bob hands analyst to carol",
        "analyst given to dave by override (held by carol): carol went off shift",
    ] {
        assert!(report.contains(line), "{line} not in\n{report}");
    }
}

/// Whether an entry of `kind` is in the journal on S3.
fn journal_on_s3_has(endpoint: &str, url: &str, kind: &str) -> bool {
    let store = irp::case::shared::Store::connect(
        irp::case::seal::Location::parse(url).unwrap(),
        &moto_settings(endpoint),
    )
    .unwrap();
    (0..)
        .map_while(|slot| store.get_entry(slot).unwrap())
        .any(|line| String::from_utf8_lossy(&line).contains(&format!("\"kind\":\"{kind}\"")))
}

#[test]
fn a_team_plays_an_exercise_the_facilitator_lands_its_injects_and_the_score_names_each_player() {
    let Some(endpoint) = serial_moto() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let (_, url) = new_case_url(&endpoint);
    let s3 = "playbooks/s3-unintended-data-access.yaml";
    let responder = "playbooks/s3-unintended-data-access/answers/responder.yaml";
    let team = |who: &str| {
        let mut cmd = irp_on(&tmp.path().join(format!("{who}-cache")));
        cmd.env("IRP_NOW", "2026-11-28T09:00:00Z").env("IRP_SEED", "team");
        cmd
    };
    // The facilitator opens the exercise on S3 and stays, landing the injects.
    let mut facilitator = team("fiona")
        .args([
            "rehearse",
            s3,
            "--case-dir",
            &url,
            "--case-endpoint-url",
            &endpoint,
        ])
        .args(["--facilitate", "--actor", "fiona", "--json"])
        .stdout(std::fs::File::create(tmp.path().join("fiona.out")).unwrap())
        .stderr(std::fs::File::create(tmp.path().join("fiona.err")).unwrap())
        .spawn()
        .unwrap();
    let said = |name: &str| std::fs::read_to_string(tmp.path().join(name)).unwrap_or_default();
    let started = std::time::Instant::now();
    while !journal_on_s3_has(&endpoint, &url, "exercise_set") {
        if started.elapsed() > std::time::Duration::from_mins(2) || facilitator.try_wait().unwrap().is_some()
        {
            let _ = facilitator.kill();
            let _ = facilitator.wait();
            panic!(
                "the facilitator did not open the exercise: {}{}",
                said("fiona.out"),
                said("fiona.err")
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
    // The players join by role (with nothing to answer yet), then take turns: each runs the
    // scripted answers until a step that is another's role stops them.
    let empty = tmp.path().join("empty.yaml");
    std::fs::write(&empty, "steps: {}\n").unwrap();
    let join = |who: &str, answers: &Path, role: Option<&str>| {
        let mut cmd = team(who);
        cmd.args(["join", &url, "--headless", "--answers"])
            .arg(answers)
            .args(["--actor", who, "--endpoint-url", &endpoint]);
        if let Some(r) = role {
            cmd.args(["--role", r]);
        }
        cmd.output().unwrap()
    };
    for (who, role) in [("alice", "ir-lead"), ("bob", "analyst")] {
        let out = join(who, &empty, Some(role));
        assert!(
            stderr(&out).contains(&format!("{who} holds the {role} role")),
            "{}",
            stderr(&out)
        );
    }
    let mut refusals = String::new();
    let mut closed = false;
    for _ in 0..40 {
        for who in ["bob", "alice"] {
            let out = join(who, Path::new(responder), None);
            refusals.push_str(&stderr(&out));
            closed |= stdout(&out).contains("closed:") || stdout(&out).contains("the case is closed");
        }
        if closed {
            break;
        }
    }
    assert!(closed, "the players did not finish the exercise:\n{refusals}");
    assert!(
        refusals.contains("is the ir-lead's to do, and alice holds that role"),
        "{refusals}"
    );
    assert!(
        refusals.contains("is the analyst's to do, and bob holds that role"),
        "{refusals}"
    );
    assert!(
        refusals.contains("nobody has taken that role, so the lead (alice) stands in for it"),
        "{refusals}"
    );
    // The facilitator sees the case close and scores it; the score names each player.
    let started = std::time::Instant::now();
    while facilitator.try_wait().unwrap().is_none() {
        if started.elapsed() > std::time::Duration::from_mins(1) {
            let _ = facilitator.kill();
            panic!("the facilitator did not end with the case");
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert!(facilitator.wait().unwrap().success(), "{}", said("fiona.err"));
    let text = said("fiona.out");
    let score: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    let players = score["players"].as_array().unwrap();
    let player = |name: &str| players.iter().find(|p| p["actor"] == name).unwrap().clone();
    assert_eq!(players.len(), 2, "the facilitator is not a player: {players:?}");
    let (alice, bob) = (player("alice"), player("bob"));
    assert_eq!(alice["roles"], serde_json::json!(["ir-lead"]));
    assert_eq!(bob["roles"], serde_json::json!(["analyst"]));
    assert!(!alice["decisions"].as_array().unwrap().is_empty(), "{alice}");
    assert!(
        bob["queries"].as_u64().unwrap() > 0 && bob["decisions"].as_array().unwrap().is_empty(),
        "{bob}"
    );
    // The facilitator's console showed the players' moves as they landed.
    assert!(
        text.contains("bob query") && text.contains("alice decision"),
        "{text}"
    );
    // The inject landed once, from the facilitator's irp, and reached every player's lake.
    assert_eq!(score["injects"].as_array().unwrap().len(), 1, "{score}");
    for who in ["alice", "bob"] {
        let lake = replica(&tmp.path().join(format!("{who}-cache")), &url).with_extension("lake");
        let mut stack = vec![lake.clone()];
        let mut injected = 0;
        while let Some(dir) = stack.pop() {
            for e in std::fs::read_dir(&dir).unwrap().flatten() {
                if e.path().is_dir() {
                    stack.push(e.path());
                } else if e.file_name().to_string_lossy().starts_with("part-inject-") {
                    injected += 1;
                }
            }
        }
        assert!(
            injected >= 1,
            "{who}'s lake {} has no inject file",
            lake.display()
        );
    }
    let out = irp_on(&tmp.path().join("reader-cache"))
        .args(["verify", &url, "--endpoint-url", &endpoint])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn an_append_whose_reply_is_lost_after_s3_took_it_is_written_once() {
    let Some(endpoint) = serial_moto() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let (_, url) = new_case_url(&endpoint);
    open_case(&endpoint, &url, tmp.path());
    // Every PUT of a journal entry reaches moto, and the replies of the first two that carry a
    // note and of the first that carries a session are lost on the way back: the writer cannot
    // know whether S3 took them.
    let lost = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = lost.clone();
    let seen_notes = std::sync::atomic::AtomicUsize::new(0);
    let (flaky, _) = crate::athena::proxy(&endpoint, move |_, request| {
        let first = crate::athena::request_line(request);
        let body = String::from_utf8_lossy(request);
        let kind = ["note_added", "session_started"]
            .into_iter()
            .find(|k| body.contains(k));
        (first.starts_with("PUT ") && first.contains("/journal/") && kind.is_some()).then_some(())?;
        let n = counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        // A note whose every reply is lost: the writer gives up, not knowing S3 has it.
        if body.contains("lost entirely") {
            return Some(crate::athena::LOSE_REPLY.to_vec());
        }
        let drop_reply = match kind {
            Some("note_added") => seen_notes.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < 2,
            _ => n == 0,
        };
        drop_reply.then(|| crate::athena::LOSE_REPLY.to_vec())
    });
    let cache = tmp.path().join("writer-cache");
    let file = tmp.path().join("n.txt");
    for text in ["said once", "lost entirely", "and once more"] {
        std::fs::write(&file, format!("{text}\n")).unwrap();
        let out = notes(&flaky, &url, &cache, &file, "writer").output().unwrap();
        if text == "lost entirely" {
            // Kept in the outbox under the id it was sent with, or said to have failed.
            continue;
        }
        assert!(out.status.success(), "{}", stderr(&out));
    }
    assert!(
        lost.load(std::sync::atomic::Ordering::SeqCst) >= 2,
        "the replies were lost"
    );
    // A reader with a good network: each note once, in order, and the case verifies.
    let reader = tmp.path().join("reader-cache");
    std::fs::write(&file, "read\n").unwrap();
    let out = notes(&endpoint, &url, &reader, &file, "reader").output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let journal = journal_of(&replica(&reader, &url));
    assert_eq!(
        note_texts(&journal),
        ["said once", "lost entirely", "and once more", "read"]
    );
    let sessions = journal
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice::<serde_json::Value>(l).unwrap())
        .filter(|v| v["kind"] == "session_started" && v["actor"] == "writer")
        .count();
    assert_eq!(sessions, 3, "one session per command, none written twice");
    assert_verifies(&replica(&reader, &url));
}

#[test]
fn a_player_who_joins_before_the_exercise_is_set_is_asked_to_wait() {
    let Some(endpoint) = serial_moto() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let (_, url) = new_case_url(&endpoint);
    // The facilitator's irp has opened the case (its first session is `rehearse`) and not yet
    // journaled the exercise.
    let store = irp::case::shared::Store::connect(
        irp::case::seal::Location::parse(&url).unwrap(),
        &moto_settings(&endpoint),
    )
    .unwrap();
    let ctx = irp::case::Context {
        actor: "fiona".to_owned(),
        clock: irp::clock::Clock::from_env().unwrap(),
        ids: irp::clock::Ids::from_env(),
        command: "rehearse".to_owned(),
        signer: None,
    };
    let facilitator = irp::case::Session::create_shared(
        store,
        &tmp.path().join("fiona-cache"),
        &crate::common::repo().join("tests/fixtures/cases/drill.yaml"),
        &[("bucket".to_owned(), "drill-bucket".to_owned())],
        irp::engine::Mode::Rehearsal,
        ctx,
        None,
    )
    .unwrap();
    drop(facilitator);
    let answers = tmp.path().join("a.yaml");
    std::fs::write(&answers, "actor: bob\nsteps: {}\n").unwrap();
    let out = irp_on(&tmp.path().join("bob-cache"))
        .args(["join", &url, "--headless", "--answers"])
        .arg(&answers)
        .args(["--endpoint-url", &endpoint])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("still setting this exercise up") && stderr(&out).contains("join again"),
        "{}",
        stderr(&out)
    );
    // Nothing was started: the facilitator can still set the exercise.
    let reader = join_as(&endpoint, &url, &tmp.path().join("reader-cache"), "reader");
    assert_eq!(reader.state.position, irp::engine::Position::NotStarted);
}
