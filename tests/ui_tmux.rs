//! The terminal UI end to end, in a real terminal: `irp rehearse` on the shipped S3 playbook (the
//! README's first command: its default scenario, the lake generated into the cache) inside tmux,
//! driven with `send-keys` from the first step to the closed case (queries, decisions, a skipped
//! step with its reason, a note, simulated actions, the inject's announcement) and the score
//! screen, asserting on `capture-pane` at each stage, then `irp verify` on the journal. `scripts/test` installs tmux;
//! without it the test says it was skipped, and under CI that is a failure.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::{required_tool, run, stdout};

/// A tmux server of the test's own (its own socket), killed when dropped.
pub(crate) struct Tmux {
    bin: String,
    socket: String,
}

impl Tmux {
    /// A private tmux server (its own socket) running `script` in a 160×48 window, with the
    /// clock pinned and `env` (`NAME=VALUE`) added.
    pub(crate) fn start(name: &str, script: &str, env: &[&str]) -> Option<Tmux> {
        let bin = required_tool("IRP_TMUX", "tmux")?;
        let tmux = Tmux {
            bin,
            socket: format!("irp-{name}-{}", std::process::id()),
        };
        let mut cmd = tmux.cmd();
        cmd.args([
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-s",
            "e2e",
            "-x",
            "160",
            "-y",
            "48",
        ])
        .args([
            "-e",
            "IRP_NOW=2026-11-27T23:00:00Z",
            "-e",
            "IRP_ACTOR=e2e",
            "-e",
            "TERM=xterm-256color",
        ]);
        for e in env {
            cmd.args(["-e", e]);
        }
        assert!(cmd.arg(script).status().unwrap().success());
        Some(tmux)
    }

    fn cmd(&self) -> Command {
        let mut c = Command::new(&self.bin);
        c.args(["-L", &self.socket]);
        c
    }

    pub(crate) fn keys(&self, keys: &[&str]) {
        let ok = self
            .cmd()
            .args(["send-keys", "-t", "e2e"])
            .args(keys)
            .status()
            .unwrap();
        assert!(ok.success());
    }

    /// Text typed as it is (no key names).
    pub(crate) fn text(&self, text: &str) {
        let ok = self
            .cmd()
            .args(["send-keys", "-t", "e2e", "-l", text])
            .status()
            .unwrap();
        assert!(ok.success());
    }

    fn capture_once(&self) -> String {
        let out = self
            .cmd()
            .args(["capture-pane", "-p", "-t", "e2e"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The pane once two captures in a row agree (a frame is not caught half drawn).
    fn capture(&self) -> String {
        let mut last = self.capture_once();
        loop {
            std::thread::sleep(Duration::from_millis(20));
            let now = self.capture_once();
            if now == last {
                return now;
            }
            last = now;
        }
    }

    /// Waits until the screen satisfies `pred` (polling the pane; the UI's clock is pinned, so
    /// an idle screen does not change).
    pub(crate) fn wait(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_mins(1);
        loop {
            let screen = self.capture();
            if pred(&screen) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; the screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(40));
        }
    }

    /// Waits for the screen to differ from `before` and to be idle (no move in progress).
    fn settle(&self, before: &str) -> String {
        self.wait("the screen to change and settle", |s| {
            s != before
                && s.contains("Journal (J: all)")
                && !s.contains("working…")
                && !s.contains("⟳")
                && !s.contains("working out what this action")
        })
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd().arg("kill-server").status();
    }
}

/// The step the right-hand pane shows, from its first line: "<kind> `<id>`".
pub(crate) fn shown_step(screen: &str) -> Option<(String, String)> {
    for line in screen.lines() {
        for kind in ["query", "decision", "action", "note"] {
            let tag = format!("│{kind} `");
            if let Some(i) = line.find(&tag) {
                let rest = &line[i + tag.len()..];
                let id = rest.split('`').next()?;
                return Some((kind.to_owned(), id.to_owned()));
            }
        }
    }
    None
}

/// The word the confirmation gate asks for, from "Confirmation: type `X`".
/// Whether an action's screen shows it ended: its result, or every item of a `for_each` step
/// settled (or nothing to do), or a failure.
fn acted(s: &str) -> bool {
    s.contains("Result: ") || s.contains("failed") || (s.contains("Items: ") && s.contains("— finished"))
}

/// Whether it ended as a rehearsal's action should: simulated, every item in place.
fn simulated(s: &str) -> bool {
    if s.contains("Result: simulated") {
        return true;
    }
    let Some(i) = s.find("Items: ") else { return false };
    let counts = s[i + "Items: ".len()..].split(' ').next().unwrap_or_default();
    let (done, total) = counts.split_once('/').unwrap_or_default();
    !s.contains("failed") && done == total
}

fn gate_word(screen: &str) -> Option<String> {
    let i = screen.find("Confirmation: type `")?;
    let rest = &screen[i + "Confirmation: type `".len()..];
    Some(rest.split('`').next()?.to_owned())
}

#[test]
fn a_responder_rehearses_the_s3_playbook_in_a_real_terminal_from_first_step_to_the_score() {
    let tmp = tempfile::tempdir().unwrap();
    let case = tmp.path().join("case");
    let cache = tmp.path().join("cache");
    let irp = env!("CARGO_BIN_EXE_irp");
    let script = format!(
        "cd {repo} && {irp} rehearse playbooks/s3-unintended-data-access.yaml --case-dir {case}; \
         echo IRP-EXIT=$?; sleep 600",
        repo = shell(&crate::common::repo()),
        case = shell(&case),
    );
    let cache_env = format!("IRP_CACHE={}", cache.display());
    let Some(tmux) = Tmux::start("e2e", &script, &["IRP_SEED=e2e", "NO_COLOR=", &cache_env]) else {
        return;
    };
    let pb =
        irp::files::load_playbook(&crate::common::repo().join("playbooks/s3-unintended-data-access.yaml"))
            .playbook
            .unwrap();
    // The decisions a responder makes here; the rest take the suggested option (preselected).
    let choices: BTreeMap<&str, &str> = [
        ("coverage-ok", "covered"),
        ("bucket-known", "known"),
        ("bucket-control", "ours"),
        ("ongoing", "active"),
        ("credential-kind", "user-key"),
        ("credential-stopped", "stopped"),
        ("bucket-policy-path", "deny"),
        ("public-path", "public"),
        ("account-wide-block", "account"),
        ("replication-check", "remove"),
        ("notification-check", "remove"),
        ("lifecycle-check", "remove"),
        ("eradicated", "clean"),
        ("recovered", "recovered"),
    ]
    .into_iter()
    .collect();

    let mut screen = tmux.wait("the first screen", |s| s.contains("Enter: start at `open-case`"));
    assert!(screen.contains("REHEARSAL"), "the mode is on screen:\n{screen}");
    tmux.keys(&["Enter"]);
    screen = tmux.settle(&screen);
    assert_eq!(
        shown_step(&screen),
        Some(("note".to_owned(), "open-case".to_owned()))
    );
    // A note, multi-line, saved with Ctrl-S.
    tmux.keys(&["n"]);
    tmux.settle(&screen);
    tmux.text("bridge open in #ir-drill");
    tmux.keys(&["Enter"]);
    tmux.text("legal informed");
    tmux.keys(&["C-s"]);
    screen = tmux.wait("the note in the journal", |s| {
        s.contains("note: bridge open in #ir-drill")
    });

    let mut seen_phases = Vec::new();
    let mut skipped = false;
    let mut injected = false;
    let mut queries = 0;
    let mut actions = 0;
    for _ in 0..400 {
        if screen.contains("The case is closed.") {
            break;
        }
        if screen.contains("INJECT · ") {
            // The facilitator's inject, announced when it lands; any key closes it.
            assert!(screen.contains("second access key"), "{screen}");
            injected = true;
            tmux.keys(&["Escape"]);
            screen = tmux.wait("the announcement closed", |s| !s.contains("INJECT · "));
            continue;
        }
        for phase in [
            "Preparation",
            "Detection and Analysis",
            "Containment, Eradication, and Recovery",
            "Post-Incident Activity",
        ] {
            if screen.lines().next().is_some_and(|l| l.contains(phase)) && !seen_phases.contains(&phase) {
                seen_phases.push(phase);
            }
        }
        if screen.contains("finished (Enter: next step)") {
            tmux.keys(&["Enter"]);
            screen = tmux.settle(&screen);
            continue;
        }
        if screen.contains("The end of the playbook.") {
            tmux.keys(&["Enter"]);
            tmux.settle(&screen);
            tmux.text("drill finished: key deactivated in rehearsal, bucket closed");
            tmux.keys(&["Enter"]);
            // The score, on screen as soon as the case closes.
            screen = tmux.wait("the score", |s| s.contains("Rehearsal score"));
            assert!(screen.contains("Score: ") && screen.contains("/100"), "{screen}");
            assert!(
                screen.contains("Conclusion: incident (the scenario: incident)"),
                "{screen}"
            );
            assert!(
                screen.contains("second access key"),
                "the inject is in the score:\n{screen}"
            );
            tmux.keys(&["Escape"]);
            screen = tmux.wait("the closed case", |s| s.contains("The case is closed."));
            break;
        }
        let Some((kind, id)) = shown_step(&screen) else {
            panic!("no step on screen:\n{screen}");
        };
        match kind.as_str() {
            "note" => tmux.keys(&["Enter"]),
            "query" if id == "read-bursts" && !skipped => {
                // A skipped step, with its reason.
                tmux.keys(&["x"]);
                screen = tmux.settle(&screen);
                assert!(screen.contains("Skip `read-bursts`: why?"), "{screen}");
                tmux.text("the reads table already shows the burst");
                screen = tmux.wait("the reason typed", |s| s.contains("already shows the burst"));
                tmux.keys(&["Enter"]);
                skipped = true;
            }
            "query" => {
                tmux.keys(&["Enter"]);
                let s = tmux.wait("the query's result", |s| {
                    s.contains("finished (Enter: next step)") || s.contains("failed:")
                });
                assert!(!s.contains("failed:"), "query `{id}` failed:\n{s}");
                assert!(s.contains(" rows"), "{s}");
                queries += 1;
                screen = s;
                continue;
            }
            "decision" => {
                let index = pb.step_index(&id).unwrap();
                let irp::playbook::model::StepKind::Decision(d) = &pb.steps[index].kind else {
                    unreachable!()
                };
                assert!(
                    screen.contains("Why") || d.options.iter().all(|o| o.suggest.is_none()),
                    "{screen}"
                );
                if let Some(want) = choices.get(id.as_str()) {
                    let pos = d.options.iter().position(|o| o.id == *want).unwrap();
                    for _ in 0..d.options.len() {
                        tmux.keys(&["k"]);
                    }
                    for _ in 0..pos {
                        tmux.keys(&["j"]);
                    }
                    let mark = format!("({want})");
                    screen = tmux.wait("the cursor on the option", |s| {
                        s.lines().any(|l| l.contains('›') && l.contains(&mark))
                    });
                }
                tmux.keys(&["Enter"]);
            }
            "action" => {
                if screen.contains("Space: tick") {
                    let index = pb.step_index(&id).unwrap();
                    let irp::playbook::model::StepKind::Action(a) = &pb.steps[index].kind else {
                        unreachable!()
                    };
                    let irp::playbook::model::ActionKind::Manual { items } = &a.kind else {
                        unreachable!()
                    };
                    for n in 1..=items.len() {
                        tmux.keys(&["Space"]);
                        tmux.wait("the item ticked", |s| s.matches("[x]").count() >= n);
                        tmux.keys(&["j"]);
                    }
                    screen = tmux.wait("the cursor on the last item", |s| {
                        s.lines().any(|l| l.contains("›[x]"))
                            && s.matches("[x]").count() == items.len()
                            && s.lines().filter(|l| l.contains("›[x]")).count() == 1
                            && s.lines()
                                .rev()
                                .find(|l| l.contains("[x]"))
                                .is_some_and(|l| l.contains('›'))
                    });
                    tmux.keys(&["Enter"]);
                } else if let Some(word) = gate_word(&screen).filter(|_| !screen.contains("(confirmed)")) {
                    assert!(
                        screen.contains("rehearsal: nothing outside irp is called"),
                        "{screen}"
                    );
                    tmux.keys(&["Enter"]);
                    tmux.wait("the confirmation gate", |s| s.contains("to confirm (Enter"));
                    tmux.text(&word);
                    tmux.keys(&["Enter"]);
                    let s = tmux.wait("the action's result", acted);
                    assert!(simulated(&s), "{s}");
                    actions += 1;
                    screen = s;
                    continue;
                } else if screen.contains("the list is empty") {
                    // Nothing to act on: Enter journals it and the case moves on.
                    tmux.keys(&["Enter"]);
                    let here = format!("action `{id}`");
                    screen = tmux.wait("the next step", |s| !s.contains(&here));
                    continue;
                } else {
                    tmux.keys(&["Enter"]);
                    let s = tmux.wait("the action's result", acted);
                    assert!(simulated(&s), "{s}");
                    actions += 1;
                    screen = s;
                    continue;
                }
            }
            other => panic!("unexpected step kind {other}"),
        }
        screen = tmux.settle(&screen);
    }
    assert!(screen.contains("The case is closed."), "{screen}");
    assert_eq!(
        seen_phases,
        [
            "Preparation",
            "Detection and Analysis",
            "Containment, Eradication, and Recovery",
            "Post-Incident Activity"
        ],
        "every NIST phase was on screen"
    );
    assert!(
        skipped && injected && queries >= 10 && actions >= 10,
        "queries {queries}, actions {actions}, inject announced {injected}"
    );
    tmux.keys(&["q"]);
    let end = tmux.wait("irp to exit", |s| s.contains("IRP-EXIT="));
    assert!(end.contains("IRP-EXIT=0"), "{end}");
    assert!(end.contains("case closed; `irp verify"), "{end}");
    assert!(
        end.contains("Score: ") && end.contains("Findings: precision"),
        "{end}"
    );

    // The journal: intact, and holding what was done on screen.
    let verify = run(&["verify", case.to_str().unwrap()]);
    assert!(verify.status.success(), "{}", stdout(&verify));
    let scan = irp::journal::store::read(&case.join("journal.jsonl")).unwrap();
    let kinds: Vec<&str> = scan.entries.iter().map(|e| e.event.kind()).collect();
    for k in [
        "exercise_set",
        "inject_landed",
        "note_added",
        "step_skipped",
        "decided",
        "query_succeeded",
        "action_confirmed",
        "action_finished",
        "case_closed",
    ] {
        assert!(kinds.contains(&k), "no {k} in {kinds:?}");
    }
    assert!(scan.entries.iter().any(|e| matches!(&e.event,
        irp::engine::Event::StepSkipped { step, reason, .. } if step == "read-bursts" && reason.contains("burst"))));
    assert!(scan.entries.iter().any(|e| matches!(&e.event,
        irp::engine::Event::NoteAdded { text, .. } if text == "bridge open in #ir-drill\nlegal informed")));
    // In a rehearsal every action is simulated.
    assert!(
        scan.entries
            .iter()
            .all(|e| !matches!(&e.event, irp::engine::Event::ActionStarted(a) if !a.simulated))
    );
    let suspects: Vec<_> = scan
        .entries
        .iter()
        .filter_map(|e| match &e.event {
            irp::engine::Event::Decided(d) if d.step == "principal-known" => Some(d.option.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(
        suspects,
        ["unknown"],
        "the injected reader is not among the known principals"
    );
    assert!(Path::new(&case.join("ui.log")).exists());
}

#[test]
fn sigterm_and_a_resize_leave_the_terminal_restored_and_the_case_resumable() {
    let tmp = tempfile::tempdir().unwrap();
    let case = tmp.path().join("case");
    let irp = env!("CARGO_BIN_EXE_irp");
    // After irp: whether the terminal is back in cooked mode (echo and line editing on).
    let script = format!(
        "cd {repo} && {irp} run tests/fixtures/cases/contain.yaml --case-dir {case} -i bucket=drill-bucket; \
         echo IRP-EXIT=$?; stty -a | grep -o -w -e -icanon -e icanon | sed 's/^/TTY-/'; sleep 600",
        repo = shell(&crate::common::repo()),
        case = shell(&case),
    );
    let Some(tmux) = Tmux::start("term", &script, &[]) else {
        return;
    };
    let screen = tmux.wait("the first screen", |s| s.contains("Enter: start at `evidence`"));
    tmux.keys(&["Enter"]);
    let screen = tmux.settle(&screen);
    assert!(screen.contains("action `evidence`"), "{screen}");
    // Smaller: everything is redrawn to the new size.
    let ok = tmux
        .cmd()
        .args(["resize-window", "-t", "e2e", "-x", "80", "-y", "24"])
        .status()
        .unwrap();
    assert!(ok.success());
    let small = tmux.wait("the 80×24 layout", |s| {
        s.lines().count() <= 24
            && s.contains("Journal (J: all)")
            && s.lines().all(|l| l.chars().count() <= 80)
    });
    assert!(small.contains("REHEARSAL"), "{small}");
    // SIGTERM ends the session as `q` does: the terminal restored, the case saved.
    let scan = irp::journal::store::read(&case.join("journal.jsonl")).unwrap();
    let pid = scan
        .entries
        .iter()
        .rev()
        .find_map(|e| match &e.event {
            irp::engine::Event::SessionStarted(s) => Some(s.pid),
            _ => None,
        })
        .unwrap();
    let ok = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
    let end = tmux.wait("irp to exit", |s| s.contains("TTY-"));
    assert!(end.contains("IRP-EXIT=0"), "{end}");
    assert!(
        end.contains("TTY-icanon") && !end.contains("TTY--icanon"),
        "raw mode is off again:\n{end}"
    );
    assert!(end.contains("case saved; `irp resume"), "{end}");
    let log = std::fs::read_to_string(case.join("ui.log")).unwrap();
    assert!(log.contains("SIGTERM"), "{log}");
    // The lock is released: the case opens again, with nothing lost.
    let out = run(&["verify", case.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stdout(&out));
    let answers = tmp.path().join("answers.yaml");
    std::fs::write(&answers, "steps:\n  deny: { confirm: drill-bucket }\n  block: { confirm: \"yes\" }\n  record: { confirm: \"yes\" }\nclose: done\n").unwrap();
    let out = crate::common::irp()
        .args([
            "resume",
            case.to_str().unwrap(),
            "--headless",
            "--answers",
            answers.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        stdout(&out),
        crate::common::stderr(&out)
    );
}

pub(crate) fn shell(p: &Path) -> String {
    format!("'{}'", p.display().to_string().replace('\'', "'\\''"))
}

#[test]
fn review_walks_a_case_in_a_real_terminal_and_leaves_it_untouched() {
    let tmp = tempfile::tempdir().unwrap();
    let case = tmp.path().join("case");
    crate::review::fixture_case(&case, false);
    let journal = std::fs::read(case.join("journal.jsonl")).unwrap();
    let irp = env!("CARGO_BIN_EXE_irp");
    let script = format!(
        "{irp} review {case}; echo IRP-EXIT=$?; stty -a | grep -o -w -e -icanon -e icanon | sed 's/^/TTY-/'; sleep 600",
        case = shell(&case),
    );
    let Some(tmux) = Tmux::start("review", &script, &[]) else {
        return;
    };
    let screen = tmux.wait("the review at the last entry", |s| s.contains("entry 36 of 36"));
    assert!(
        screen.contains("REVIEW live case") && screen.contains("chain verified"),
        "{screen}"
    );
    tmux.keys(&["<"]);
    tmux.wait("the first entry", |s| s.contains("entry 1 of 36"));
    tmux.keys(&["d"]);
    let s = tmux.wait("the decision", |s| s.contains("Chosen: incident"));
    assert!(s.contains("1,200 reads from an IP nobody knows"), "{s}");
    tmux.keys(&["Left"]);
    tmux.wait("the entry before", |s| s.contains("entry 16 of 36"));
    // A responder's key does nothing here but say so.
    tmux.keys(&["n"]);
    tmux.wait("the refusal", |s| s.contains("review is read-only"));
    tmux.keys(&["f"]);
    tmux.text("kind=action");
    tmux.keys(&["Enter"]);
    tmux.wait("the filter", |s| s.contains("entries match `kind=action`"));
    tmux.keys(&["q"]);
    let end = tmux.wait("irp to exit", |s| s.contains("TTY-"));
    assert!(end.contains("IRP-EXIT=0"), "{end}");
    assert!(
        end.contains("TTY-icanon") && !end.contains("TTY--icanon"),
        "{end}"
    );
    assert_eq!(std::fs::read(case.join("journal.jsonl")).unwrap(), journal);
    assert!(
        !case.join("ui.log").exists(),
        "review writes nothing into the case folder"
    );
}
