//! The terminal UI without a terminal: the pure `update` driven key by key against a real
//! session (the worker serves each request in place), and every screen kind drawn on ratatui's
//! `TestBackend` at 80×24 and 160×48 with a pinned clock, compared with insta snapshots
//! (`INSTA_UPDATE=always scripts/test` accepts new ones after review).

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use irp::case::backend::LocalRunner;
use irp::case::backend::{Progress, QueryRunner};
use irp::case::{Context, Session};
use irp::clock::{Clock, Ids};
use irp::engine::{Command, Mode, Observable, Position};
use irp::ui::keymap::{Action, KEYMAP};
use irp::ui::model::{self, Cmd, Model, Msg, Purpose, Screen};
use irp::ui::text::Theme;
use irp::ui::worker::{Reply, Worker};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use tokio::sync::mpsc::UnboundedReceiver;

use crate::query::shared_lake;

/// The pinned clock: the shared lake ends on 2026-11-27.
fn now() -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339("2026-11-27T23:00:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc)
}

fn ctx() -> Context {
    Context {
        actor: "tester".to_owned(),
        clock: Clock::Fixed(now()),
        ids: Ids::Seeded("ui".to_owned()),
        command: "run".to_owned(),
        signer: None,
    }
}

/// A model and the worker serving it, with no thread: each request is served as it is made.
struct Harness {
    model: Model,
    worker: Worker,
    replies: UnboundedReceiver<Reply>,
    /// Every keymap action a key press resolved to.
    used: BTreeSet<String>,
    /// Every query progress the worker reported.
    progress: Vec<Progress>,
    cancels: usize,
    quit: bool,
    _dir: tempfile::TempDir,
}

impl Harness {
    fn new(playbook: &str, inputs: &[(&str, &str)], lake: Option<&Path>) -> Harness {
        Harness::with_mode(playbook, inputs, lake, Mode::Rehearsal)
    }

    fn with_mode(playbook: &str, inputs: &[(&str, &str)], lake: Option<&Path>, mode: Mode) -> Harness {
        let backend: Option<Box<dyn QueryRunner + Send>> = lake.map(|l| {
            Box::new(LocalRunner::open(l, irp::query::backend::local::Options::default()).unwrap())
                as Box<dyn QueryRunner + Send>
        });
        Harness::with_backend(playbook, inputs, backend, mode)
    }

    fn with_backend(
        playbook: &str,
        inputs: &[(&str, &str)],
        backend: Option<Box<dyn QueryRunner + Send>>,
        mode: Mode,
    ) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let inputs: Vec<(String, String)> = inputs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let case = dir.path().join("case");
        let session =
            Session::create(&case, &crate::common::repo().join(playbook), &inputs, mode, ctx()).unwrap();
        Harness::from_session(dir, session, backend)
    }

    /// A harness over a session already open (a resumed case); the worker starts as the UI's
    /// does, settling what a dead process left in flight.
    fn from_session(
        dir: tempfile::TempDir,
        session: Session,
        backend: Option<Box<dyn QueryRunner + Send>>,
    ) -> Harness {
        let mut model = irp::ui::model_for(
            &session,
            backend.as_ref().map(|b| b.name()),
            Theme { color: false },
            now(),
        );
        // Screens show the folder; keep it the same on every machine.
        "cases/drill".clone_into(&mut model.info.folder);
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let mut worker = Worker::new(session, backend, irp::case::actions::Executor::Rehearsal, tx);
        worker.start();
        let mut h = Harness {
            model,
            worker,
            replies: rx,
            used: BTreeSet::new(),
            progress: Vec::new(),
            cancels: 0,
            quit: false,
            _dir: dir,
        };
        let mut started = Vec::new();
        while let Ok(r) = h.replies.try_recv() {
            started.push(r);
        }
        for r in started {
            h.send(Msg::Worker(r));
        }
        h.send(Msg::Resize(80, 24));
        h
    }

    /// Feeds a message, serves what it asks for, and feeds the replies back, until quiet.
    fn send(&mut self, msg: Msg) {
        let mut queue = vec![msg];
        while let Some(msg) = queue.pop() {
            if let Msg::Worker(Reply::QueryProgress { progress, .. }) = &msg {
                self.progress.push(progress.clone());
            }
            for cmd in model::update(&mut self.model, msg) {
                match cmd {
                    Cmd::Send(req) => self.worker.serve(*req),
                    Cmd::CancelQuery => self.cancels += 1,
                    Cmd::Quit => self.quit = true,
                }
            }
            let mut replies = Vec::new();
            while let Ok(r) = self.replies.try_recv() {
                replies.push(Msg::Worker(r));
            }
            replies.reverse();
            queue.extend(replies);
        }
    }

    /// Records a command as if another process had (a crash left it), and lets the model hear it.
    fn record_behind(&mut self, cmd: Command) {
        self.worker.serve(irp::ui::worker::Request::Record(cmd));
        let mut replies = Vec::new();
        while let Ok(r) = self.replies.try_recv() {
            replies.push(r);
        }
        for r in replies {
            self.send(Msg::Worker(r));
        }
    }

    fn press_with(&mut self, code: KeyCode, modifiers: KeyModifiers) {
        if self.model.input.is_none()
            && self.model.popup.is_none()
            && self.model.picker.is_none()
            && self.model.screen == Screen::Main
            && let Some(a) = irp::ui::keymap::lookup(code, modifiers, &self.model.scopes())
        {
            self.used.insert(format!("{a:?}"));
        }
        self.send(Msg::Key(KeyEvent::new(code, modifiers)));
    }

    fn press(&mut self, code: KeyCode) {
        self.press_with(code, KeyModifiers::NONE);
    }

    fn ch(&mut self, c: char) {
        self.press(KeyCode::Char(c));
    }

    fn type_text(&mut self, text: &str) {
        for c in text.chars() {
            self.ch(c);
        }
    }

    fn at(&self) -> Option<String> {
        self.model.state.current_step().map(str::to_owned)
    }

    fn kinds(&self) -> Vec<&'static str> {
        self.worker
            .session()
            .entries
            .iter()
            .map(|e| e.event.kind())
            .collect()
    }

    fn last_kind(&self) -> &'static str {
        self.worker.session().entries.last().unwrap().event.kind()
    }

    /// The screen as text at `w`×`h`.
    fn screen(&mut self, w: u16, h: u16) -> String {
        self.send(Msg::Resize(w, h));
        let mut terminal = Terminal::new(TestBackend::new(w, h)).unwrap();
        terminal.draw(|f| irp::ui::view::view(&self.model, f)).unwrap();
        let buf = terminal.backend().buffer().clone();
        let mut out = String::new();
        for y in 0..h {
            let mut line = String::new();
            for x in 0..w {
                line.push_str(buf[(x, y)].symbol());
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }

    /// Both sizes, as two snapshots.
    fn snapshot(&mut self, name: &str) {
        let small = self.screen(80, 24);
        let large = self.screen(160, 48);
        insta::assert_snapshot!(format!("{name}-80x24"), small);
        insta::assert_snapshot!(format!("{name}-160x48"), large);
    }
}

fn s3(lake: &Path) -> Harness {
    Harness::new(
        "playbooks/s3-unintended-data-access.yaml",
        &[
            ("bucket", "acme-customer-exports"),
            ("bucket_account", "111122223333"),
            ("region", "us-east-1"),
        ],
        Some(lake),
    )
}

fn contain() -> Harness {
    Harness::new(
        "tests/fixtures/cases/contain.yaml",
        &[("bucket", "drill-bucket")],
        None,
    )
}

#[test]
fn a_responder_walks_the_s3_playbook_key_by_key_and_every_screen_is_drawn() {
    let (lake, truth) = shared_lake();
    let mut h = s3(lake);
    h.snapshot("not-started");
    h.press(KeyCode::Enter);
    assert_eq!(h.at().as_deref(), Some("open-case"));
    h.snapshot("note");

    // Notes (multi-line) and evidence from anywhere; typing goes to the box, not to the keymap.
    h.ch('n');
    h.type_text("war room: #ir-2026-11");
    h.press(KeyCode::Enter);
    h.type_text("bridge open");
    h.snapshot("note-editor");
    h.press_with(KeyCode::Char('s'), KeyModifiers::CONTROL);
    assert_eq!(h.last_kind(), "note_added");
    assert_eq!(
        h.model.state.notes.last().unwrap().text,
        "war room: #ir-2026-11\nbridge open"
    );
    h.ch('e');
    h.type_text("203.0.113.9");
    h.press(KeyCode::Tab);
    assert_eq!(h.model.input.as_ref().unwrap().observable, Observable::Ip);
    h.press(KeyCode::Enter);
    assert_eq!(h.last_kind(), "evidence_added");
    // A value that does not fit its type is refused with the box still open, nothing lost.
    h.ch('e');
    h.type_text("not-an-ip");
    h.press(KeyCode::Tab);
    h.press(KeyCode::Enter);
    assert_eq!(h.model.input.as_ref().unwrap().text, "not-an-ip");
    assert!(h.model.status.as_ref().unwrap().error);
    h.press(KeyCode::BackTab);
    assert_eq!(h.model.input.as_ref().unwrap().observable, Observable::Text);
    h.press(KeyCode::Enter);
    assert_eq!(h.last_kind(), "evidence_added");
    // Esc cancels a box and records nothing.
    let before = h.kinds().len();
    h.ch('n');
    h.type_text("never mind");
    h.press(KeyCode::Esc);
    assert_eq!(h.kinds().len(), before);
    assert!(h.model.input.is_none());

    h.press(KeyCode::Enter);
    assert_eq!(h.at().as_deref(), Some("mgmt-coverage"));
    h.snapshot("query-before-run");
    h.ch('r');
    assert_eq!(
        h.kinds()[h.kinds().len() - 2..],
        ["query_submitted", "query_succeeded"],
        "{:?}",
        h.model.status
    );
    // The finished query stays on screen with its results until the responder goes on.
    assert_eq!(h.model.pinned.as_deref(), Some("mgmt-coverage"));
    assert_eq!(h.at().as_deref(), Some("data-coverage"));
    assert!(h.model.result_table().is_some());
    assert!(h.model.grid.chart, "a per-day count is charted");
    h.snapshot("query-results");
    h.ch('g');
    assert!(!h.model.grid.chart);
    h.press(KeyCode::Enter);
    assert_eq!(h.model.pinned, None);
    h.press(KeyCode::Enter);
    h.press(KeyCode::Enter);
    assert_eq!(h.at().as_deref(), Some("coverage-ok"));
    h.snapshot("decision");
    // The suggested option is preselected; a rationale goes with the choice.
    h.ch('a');
    h.type_text("both sources have every day");
    h.press(KeyCode::Enter);
    h.press(KeyCode::Down);
    h.press(KeyCode::Up);
    h.press(KeyCode::Enter);
    let decided = h.worker.session().entries.last().unwrap().event.clone();
    let irp::engine::Event::Decided(d) = decided else {
        panic!("{decided:?}")
    };
    assert_eq!(d.option, "covered");
    assert_eq!(d.rationale.as_deref(), Some("both sources have every day"));

    h.press(KeyCode::Enter); // bucket-known: known (suggested first)
    h.press(KeyCode::Enter); // bucket-control: ours
    assert_eq!(h.at().as_deref(), Some("classify-data"));
    h.snapshot("checklist");
    // Done needs every item; each Space ticks the item under the cursor.
    h.press(KeyCode::Enter);
    assert!(h.model.status.as_ref().unwrap().error);
    for _ in 0..5 {
        h.ch(' ');
        h.ch('j');
    }
    h.ch('k');
    h.ch(' ');
    assert!(h.model.status.as_ref().unwrap().text.contains("already ticked"));
    h.press(KeyCode::Enter);
    assert_eq!(h.at().as_deref(), Some("reads-by-principal"));

    // The results table: rows, columns, sort, filter, the full value, evidence from a cell.
    h.press(KeyCode::Enter);
    assert_eq!(h.model.pinned.as_deref(), Some("reads-by-principal"));
    let rows = h.model.visible_rows();
    assert!(rows > 3, "{rows}");
    h.ch('j');
    h.press(KeyCode::Down);
    h.press(KeyCode::PageDown);
    h.press(KeyCode::PageUp);
    h.press(KeyCode::End);
    assert_eq!(h.model.grid.row, rows - 1);
    h.press(KeyCode::Home);
    assert_eq!(h.model.grid.row, 0);
    h.ch('l');
    h.press(KeyCode::Right);
    h.ch('h');
    h.press(KeyCode::Left);
    h.ch('k');
    h.press(KeyCode::Up);
    assert_eq!((h.model.grid.row, h.model.grid.col), (0, 0));
    // Sort by the principal, descending, then back.
    h.ch('s');
    h.ch('s');
    let first = h.model.row_at(0).unwrap();
    let table = h.model.result_table().unwrap().clone();
    let top = table.cell(first, 0);
    assert!(
        (0..table.rows()).all(|r| table.cell(r, 0) <= top || table.cell(r, 0) == "NULL"),
        "descending"
    );
    h.ch('s');
    assert_eq!(h.model.grid.order, None);
    // Filter on the stolen key's user.
    h.ch('/');
    h.type_text(&truth.incident_details.as_ref().unwrap().user_name);
    h.press(KeyCode::Enter);
    let shown = h.model.visible_rows();
    assert!(shown >= 1 && shown < rows, "{shown} of {rows}");
    h.ch('v');
    let (_, value) = h.model.popup.clone().unwrap();
    assert_eq!(value, truth.incident_details.as_ref().unwrap().principal);
    h.snapshot("cell-popup");
    h.ch('x'); // any key closes the popup (and does nothing else)
    assert!(h.model.popup.is_none() && h.model.input.is_none());
    h.ch('m');
    assert_eq!(h.model.input.as_ref().unwrap().observable, Observable::Arn);
    h.press(KeyCode::Enter);
    let irp::engine::Event::EvidenceAdded(e) = &h.worker.session().entries.last().unwrap().event else {
        panic!()
    };
    assert_eq!(e.value, truth.incident_details.as_ref().unwrap().principal);
    h.ch('/');
    h.press_with(KeyCode::Char('u'), KeyModifiers::CONTROL);
    h.press(KeyCode::Enter);
    assert_eq!(h.model.visible_rows(), rows, "an empty filter shows every row");

    // Help and the journal are overlays; any key leaves them.
    h.ch('?');
    assert!(matches!(h.model.screen, Screen::Help { .. }));
    h.snapshot("help");
    for _ in 0..500 {
        h.press(KeyCode::Down);
    }
    let Screen::Help { offset } = h.model.screen else {
        panic!()
    };
    assert!(
        offset <= irp::ui::keymap::all().count() + 8,
        "scrolling stops at the end: {offset}"
    );
    h.press(KeyCode::Esc);
    h.ch('J');
    assert!(matches!(h.model.screen, Screen::Journal { .. }));
    h.snapshot("journal");
    h.press(KeyCode::Up);
    h.press(KeyCode::PageUp);
    h.press(KeyCode::Home);
    h.press(KeyCode::Esc);
    assert_eq!(h.model.screen, Screen::Main);

    // Skip with a reason; go back; pause and carry on.
    h.press(KeyCode::Esc); // leave the pinned results (Enter does too)
    assert_eq!(h.at().as_deref(), Some("read-bursts"));
    h.ch('x');
    h.type_text("bursts are visible in the previous table");
    h.press(KeyCode::Enter);
    assert_eq!(h.last_kind(), "step_skipped");
    h.ch('b');
    let picker = h.model.picker.clone().unwrap();
    assert_eq!(picker.items[0], "read-bursts", "most recent first");
    h.ch('j');
    h.ch('k');
    h.press(KeyCode::Enter);
    assert_eq!(h.at().as_deref(), Some("read-bursts"));
    assert_eq!(h.last_kind(), "went_back");
    h.ch('p');
    h.type_text("handover to the day shift");
    h.press(KeyCode::Enter);
    assert!(h.model.state.paused.is_some());
    h.snapshot("paused");
    h.press(KeyCode::Enter);
    assert!(
        h.model.status.as_ref().unwrap().text.contains("paused"),
        "no move while paused"
    );
    h.ch('p');
    assert!(h.model.state.paused.is_none());

    h.ch('q');
    assert!(h.quit);
    let missing: Vec<&str> = [
        "Help",
        "Quit",
        "AddNote",
        "AddEvidence",
        "Skip",
        "GoBack",
        "Journal",
        "Pause",
        "Primary",
        "RunQuery",
        "Up",
        "Down",
        "Left",
        "Right",
        "PageUp",
        "PageDown",
        "Top",
        "Bottom",
        "Sort",
        "Filter",
        "ShowCell",
        "Back",
        "MarkEvidence",
        "ToggleItem",
        "Rationale",
        "Chart",
    ]
    .into_iter()
    .filter(|a| !h.used.contains(*a))
    .collect();
    assert!(missing.is_empty(), "keys never pressed in this walk: {missing:?}");
}

#[test]
fn actions_show_what_will_happen_and_wait_for_the_typed_confirmation() {
    let mut h = contain();
    h.press(KeyCode::Enter);
    assert_eq!(h.at().as_deref(), Some("evidence"));
    // A read-only action with no confirmation: Enter runs it (simulated in a rehearsal).
    let preview = h.model.previews.values().next().cloned().unwrap().unwrap();
    assert!(
        preview.starts_with("rehearsal: nothing outside irp is called"),
        "{preview}"
    );
    h.snapshot("action-read");
    h.press(KeyCode::Enter);
    assert_eq!(h.model.pinned.as_deref(), Some("evidence"));
    assert!(
        h.model
            .state
            .action_run("evidence")
            .unwrap()
            .detail
            .as_deref()
            .unwrap()
            .starts_with("simulated")
    );
    h.snapshot("action-result");
    h.press(KeyCode::Enter);
    assert_eq!(h.at().as_deref(), Some("deny"));
    h.snapshot("action-typed");
    // Enter opens the gate; a wrong name confirms nothing and is said so.
    h.press(KeyCode::Enter);
    let Some(Purpose::Confirm { word, .. }) = h.model.input.as_ref().map(|i| i.purpose.clone()) else {
        panic!("{:?}", h.model.input)
    };
    assert_eq!(word, "drill-bucket");
    h.type_text("drill-bucke");
    h.snapshot("confirm-gate");
    h.press(KeyCode::Enter);
    assert!(h.model.status.as_ref().unwrap().error);
    assert!(!h.kinds().contains(&"action_confirmed"));
    // The box stays open with what was typed, to correct.
    assert_eq!(h.model.input.as_ref().unwrap().text, "drill-bucke");
    h.ch('t');
    h.press(KeyCode::Enter);
    let kinds = h.kinds();
    assert_eq!(
        kinds[kinds.len() - 3..],
        ["action_confirmed", "action_started", "action_finished"]
    );
    h.press(KeyCode::Enter);
    // `confirm: yes` asks for `yes`.
    h.press(KeyCode::Enter);
    h.type_text("yes");
    h.press(KeyCode::Enter);
    assert_eq!(h.last_kind(), "action_finished");
    h.press(KeyCode::Enter);
    // A command's gate (`yes` by default for commands).
    assert_eq!(h.at().as_deref(), Some("record"));
    h.press(KeyCode::Enter);
    let Some(Purpose::Confirm { word, .. }) = h.model.input.as_ref().map(|i| i.purpose.clone()) else {
        panic!("{:?}", h.model.input)
    };
    assert_eq!(word, "yes");
    h.type_text("yes");
    h.press(KeyCode::Enter);
    assert!(
        h.model
            .state
            .action_run("record")
            .unwrap()
            .detail
            .as_deref()
            .unwrap()
            .contains("would run"),
        "{:?}",
        h.model.state.action_run("record")
    );
    h.press(KeyCode::Enter);
    assert_eq!(h.model.state.position, Position::End);
    h.snapshot("end");
    h.press(KeyCode::Enter);
    h.type_text("contained in rehearsal");
    h.press(KeyCode::Enter);
    assert_eq!(h.last_kind(), "case_closed");
    h.snapshot("closed");
    // A closed case takes nothing more.
    h.ch('n');
    assert!(h.model.input.is_none());
    assert!(h.model.status.as_ref().unwrap().error);
    h.press_with(KeyCode::Char('c'), KeyModifiers::CONTROL);
    assert!(h.quit);
}

#[test]
fn worker_messages_progress_problems_and_unreadable_results_are_shown_not_fatal() {
    let mut h = contain();
    h.press(KeyCode::Enter);
    // Progress of a running query, a refused move, a result that cannot be read.
    h.send(Msg::Worker(Reply::QueryProgress {
        step: "evidence".to_owned(),
        progress: Progress {
            state: "RUNNING".to_owned(),
            rows: 12,
            bytes_scanned: Some(1_000),
        },
    }));
    assert_eq!(h.model.progress.as_ref().unwrap().1.rows, 12);
    h.send(Msg::Worker(Reply::Problem {
        error: "step `evidence` failed: throttled".to_owned(),
        hints: vec!["try again".to_owned()],
    }));
    let status = h.model.status.clone().unwrap();
    assert!(status.error && status.text.contains("throttled") && status.text.contains("try again"));
    h.send(Msg::Worker(Reply::Result {
        step: "evidence".to_owned(),
        seq: 99,
        table: Err("the result file is not readable Parquet".to_owned()),
    }));
    assert!(h.model.result_table().is_none());
    h.send(Msg::Worker(Reply::Preview {
        step: "evidence".to_owned(),
        text: Err("cannot read the resource before the change: AccessDenied".to_owned()),
    }));
    let _ = h.screen(80, 24);
    // A pasted text goes into a box, on one line for a one-line box.
    h.ch('x');
    h.send(Msg::Paste("line one\nline two".to_owned()));
    assert_eq!(h.model.input.as_ref().unwrap().text, "line one line two");
    h.press(KeyCode::Esc);
    // A move while a query or an action runs is refused, not queued behind it.
    h.model.in_flight.push_back(true);
    h.press(KeyCode::Enter);
    assert!(h.model.status.as_ref().unwrap().text.contains("still running"));
    h.model.in_flight.clear();
    // Tiny and huge terminals draw without panicking.
    for (w, hgt) in [(1, 1), (20, 5), (80, 24), (300, 100), (1000, 300)] {
        let _ = h.screen(w, hgt);
        // The overlays too (their size is a share of the screen's).
        h.ch('?');
        let _ = h.screen(w, hgt);
        h.press(KeyCode::Esc);
        h.ch('n');
        let _ = h.screen(w, hgt);
        h.press(KeyCode::Esc);
    }
    h.send(Msg::Tick(now() + chrono::Duration::seconds(75)));
    assert!(
        h.screen(160, 48).contains("01:15"),
        "the case clock runs from the tick"
    );
}

#[test]
fn a_query_can_be_cancelled_and_quitting_cancels_it() {
    let (lake, _) = shared_lake();
    let mut h = s3(lake);
    h.press(KeyCode::Enter);
    h.press(KeyCode::Enter);
    // Cancel: the flag is set before the query starts, so the backend stops it at once and the
    // worker records it as cancelled; the step stays current to be run again.
    h.worker
        .cancel_flag()
        .store(true, std::sync::atomic::Ordering::Relaxed);
    h.ch('r');
    assert_eq!(h.last_kind(), "query_cancelled");
    assert_eq!(h.at().as_deref(), Some("mgmt-coverage"));
    assert!(
        h.model
            .state
            .query_run("mgmt-coverage")
            .unwrap()
            .cancelled
            .as_deref()
            .unwrap()
            .starts_with("cancelled by the responder")
    );
    h.ch('c');
    assert_eq!(h.cancels, 0, "nothing runs, nothing to cancel");
    h.ch('r');
    assert_eq!(h.last_kind(), "query_succeeded");
    // While a query runs (as the model sees it), c and q ask the shell to stop it.
    h.model
        .state
        .apply(&irp::engine::Event::QuerySubmitted(irp::engine::QuerySubmitted {
            step: "data-coverage".to_owned(),
            sql: "SELECT 1".to_owned(),
            backend: "local".to_owned(),
            not_collected: Vec::new(),
        }));
    h.press(KeyCode::Esc);
    h.ch('c');
    assert_eq!(h.cancels, 1);
    h.ch('q');
    assert_eq!(h.cancels, 2);
    assert!(h.quit);
}

#[test]
fn the_keymap_has_one_meaning_per_key_and_scope_and_help_for_each() {
    let mut seen = BTreeSet::new();
    for b in irp::ui::keymap::all() {
        assert!(!b.help.is_empty());
        assert!(
            seen.insert((format!("{:?}", b.code), b.ctrl, format!("{:?}", b.scope))),
            "{b:?} bound twice"
        );
    }
    // Every action is reachable from some key.
    for a in [
        Action::Verify,
        Action::ConfirmDone,
        Action::ConfirmNotDone,
        Action::CancelQuery,
    ] {
        assert!(KEYMAP.iter().any(|b| b.action == a), "{a:?}");
    }
    // The observable guesses used by "mark as evidence".
    assert_eq!(model::guess_observable("10.0.0.1"), Observable::Ip);
    assert_eq!(model::guess_observable("2001:db8::1"), Observable::Ip);
    assert_eq!(
        model::guess_observable("arn:aws:iam::111122223333:user/x"),
        Observable::Arn
    );
    assert_eq!(
        model::guess_observable("AKIAABCDEFGHIJKLMNOP"),
        Observable::AccessKeyId
    );
    assert_eq!(model::guess_observable("111122223333"), Observable::AccountId);
    assert_eq!(model::guess_observable("hello"), Observable::Text);
}

#[test]
fn hostile_strings_in_results_cannot_reach_the_terminal_as_control_sequences() {
    use arrow::array::StringArray;
    use arrow::datatypes::{DataType, Field, Schema};
    let schema = Arc::new(Schema::new(vec![Field::new("ua", DataType::Utf8, true)]));
    let batch = arrow::record_batch::RecordBatch::try_new(
        schema.clone(),
        vec![Arc::new(StringArray::from(vec![
            Some("\u{1b}]0;pwned\u{7}\u{1b}[2J evil\nline"),
            None,
        ]))],
    )
    .unwrap();
    let t = irp::ui::table::ResultTable::from_batches(schema, &[batch]).unwrap();
    let cell = t.cell(0, 0);
    assert!(!cell.chars().any(char::is_control), "{cell:?}");
    assert_eq!(t.cell(1, 0), "NULL");
    assert_eq!(t.filtered(0..2, "EVIL"), vec![0]);
    let _ = Command::Start;
}

#[test]
fn an_action_whose_outcome_is_unknown_is_settled_with_v_d_or_n() {
    // A live case where irp stopped between an action's intent and its result. The worker here
    // has no AWS executor, so `V` (irp reads the resource) is refused with the reason.
    let mut h = Harness::with_mode(
        "tests/fixtures/cases/contain.yaml",
        &[("bucket", "drill-bucket")],
        None,
        Mode::Live,
    );
    h.press(KeyCode::Enter);
    for step in ["evidence", "block"] {
        if step == "block" {
            h.record_behind(Command::Skip {
                step: "deny".to_owned(),
                reason: "not this drill".to_owned(),
            });
            h.record_behind(Command::ConfirmAction {
                step: "block".to_owned(),
                typed: Some("yes".to_owned()),
                seen: None,
                items: None,
            });
        }
        assert_eq!(h.at().as_deref(), Some(step));
        let index = h.model.playbook.step_index(step).unwrap();
        let intent =
            irp::engine::render_intent(&h.model.playbook, &h.model.state, index, &h.model.env()).unwrap();
        h.record_behind(Command::StartAction {
            step: step.to_owned(),
            intent,
            simulated: false,
            before: None,
            request: None,
            item: None,
        });
        h.record_behind(Command::FinishAction {
            step: step.to_owned(),
            outcome: irp::engine::Outcome::Unknown,
            detail: "irp stopped between recording the intent and the result".to_owned(),
            after: None,
            request_ids: Vec::new(),
            verification: None,
            outputs: Vec::new(),
            item: None,
        });
        assert_eq!(
            h.model.scopes()[0],
            irp::ui::keymap::Scope::Unknown,
            "{:?}",
            h.model.status
        );
        if step == "evidence" {
            h.snapshot("action-unknown");
            h.press(KeyCode::Enter);
            assert!(
                h.model
                    .status
                    .as_ref()
                    .unwrap()
                    .text
                    .contains("outcome is unknown")
            );
            h.ch('V');
            assert!(
                h.model.status.as_ref().unwrap().text.contains("--live"),
                "{:?}",
                h.model.status
            );
            h.ch('N');
            let irp::engine::Event::ActionVerified(v) = &h.worker.session().entries.last().unwrap().event
            else {
                panic!()
            };
            assert!(!v.in_place);
            // Not done: the step is still here, to be confirmed and run again.
            assert_eq!(h.at().as_deref(), Some("evidence"));
            h.record_behind(Command::Skip {
                step: "evidence".to_owned(),
                reason: "checked by hand".to_owned(),
            });
        } else {
            h.ch('D');
            let irp::engine::Event::ActionVerified(v) = &h.worker.session().entries.last().unwrap().event
            else {
                panic!()
            };
            assert!(v.in_place && v.method == "responder");
            assert_eq!(h.at().as_deref(), Some("record"));
        }
    }
}

#[test]
fn without_a_terminal_the_ui_says_so_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let case = dir.path().join("case");
    let out = crate::common::irp()
        .args([
            "run",
            "tests/fixtures/cases/contain.yaml",
            "-i",
            "bucket=drill-bucket",
            "--case-dir",
        ])
        .arg(&case)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = crate::common::stderr(&out);
    assert!(err.contains("the terminal UI needs a terminal"), "{err}");
    assert!(err.contains("--headless --answers FILE"), "{err}");
    assert!(!case.exists(), "no case is opened");
    let out = crate::common::run(&["resume", case.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(crate::common::stderr(&out).contains("needs a terminal"));
}

#[test]
fn on_athena_the_ui_shows_the_querys_states_and_a_cancel_stops_it() {
    use crate::athena::{inject_bulk_readers, moto_for_library, slow_states};
    let Some((endpoint, _lock)) = moto_for_library() else {
        return;
    };
    let region = "eu-north-1";
    let settings = irp::query::backend::athena::AthenaSettings {
        endpoint_url: Some(endpoint.clone()),
        region: Some(region.to_owned()),
        output_location: Some("s3://irp-results/".to_owned()),
        poll_first: std::time::Duration::from_millis(10),
        poll_max: std::time::Duration::from_millis(40),
        ..irp::query::backend::athena::AthenaSettings::default()
    };
    let runner = irp::case::backend::AthenaRunner::open(settings, false).unwrap();
    let mut h = Harness::with_backend(
        "tests/fixtures/cases/lake-drill.yaml",
        &[],
        Some(Box::new(runner)),
        Mode::Rehearsal,
    );
    assert_eq!(h.model.info.backend.as_deref(), Some("athena"));
    h.press(KeyCode::Enter);
    let step = h.at().unwrap();
    // A cancel stops the query on Athena; the step stays to be run again.
    slow_states(&endpoint, Some(1_000));
    h.worker
        .cancel_flag()
        .store(true, std::sync::atomic::Ordering::Relaxed);
    h.ch('r');
    assert_eq!(h.last_kind(), "query_cancelled");
    assert_eq!(h.at().as_deref(), Some(step.as_str()));
    // Run again: the states Athena went through reach the screen, then the result.
    slow_states(&endpoint, Some(2));
    inject_bulk_readers(&endpoint, region);
    h.ch('r');
    slow_states(&endpoint, None);
    assert_eq!(h.last_kind(), "query_succeeded", "{:?}", h.model.status);
    let states: BTreeSet<&str> = h.progress.iter().map(|p| p.state.as_str()).collect();
    assert!(
        states.contains("QUEUED") && states.contains("RUNNING"),
        "{states:?}"
    );
    assert!(h.progress.iter().all(|p| p.bytes_scanned.is_some()));
    assert!(
        h.model.state.query_run(&step).unwrap().bytes_scanned().is_some(),
        "the execution's bytes are kept"
    );
    let table = h
        .model
        .result_table()
        .expect("the result is loaded from its artifact");
    assert_eq!(table.rows(), 2);
    assert_eq!(table.cell(0, 0), "203.0.113.9");
}

#[test]
fn a_case_left_mid_move_by_a_dead_process_opens_ready_to_go_on() {
    let repo = crate::common::repo();
    // A query submitted and an action started, each by a process that then died.
    for (playbook, inputs) in [
        (
            "playbooks/s3-unintended-data-access.yaml",
            vec![
                ("bucket".to_owned(), "acme-customer-exports".to_owned()),
                ("bucket_account".to_owned(), "111122223333".to_owned()),
                ("region".to_owned(), "us-east-1".to_owned()),
            ],
        ),
        (
            "tests/fixtures/cases/contain.yaml",
            vec![("bucket".to_owned(), "drill-bucket".to_owned())],
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let case = dir.path().join("case");
        let step = {
            let mut s =
                Session::create(&case, &repo.join(playbook), &inputs, Mode::Rehearsal, ctx()).unwrap();
            s.execute(&Command::Start).unwrap();
            if s.state.current_step() == Some("open-case") {
                s.execute(&Command::Complete {
                    step: "open-case".to_owned(),
                })
                .unwrap();
                s.execute(&Command::SubmitQuery {
                    step: "mgmt-coverage".to_owned(),
                    sql: "SELECT 1".to_owned(),
                    backend: "local".to_owned(),
                    not_collected: Vec::new(),
                })
                .unwrap();
            } else {
                let index = s.playbook.step_index("evidence").unwrap();
                let intent = irp::engine::render_intent(&s.playbook, &s.state, index, &s.env()).unwrap();
                s.execute(&Command::StartAction {
                    step: "evidence".to_owned(),
                    intent,
                    simulated: true,
                    before: None,
                    request: None,
                    item: None,
                })
                .unwrap();
            }
            s.state.current_step().unwrap().to_owned()
        };
        let (session, _) = Session::resume(&case, irp::case::PlaybookChoice::Source, ctx()).unwrap();
        let mut h = Harness::from_session(dir, session, None);
        if step == "mgmt-coverage" {
            assert_eq!(h.last_kind(), "query_cancelled");
            assert!(
                h.model
                    .state
                    .query_run(&step)
                    .unwrap()
                    .cancelled
                    .as_deref()
                    .unwrap()
                    .contains("irp stopped")
            );
            assert_eq!(h.at().as_deref(), Some("mgmt-coverage"));
            assert!(
                h.model.state.step(&step).unwrap().running_query().is_none(),
                "it can run again"
            );
        } else {
            // In a rehearsal the simulated result is recorded; the case goes on.
            assert_eq!(h.last_kind(), "action_finished");
            assert_eq!(h.at().as_deref(), Some("deny"));
            assert_eq!(h.model.pinned.as_deref(), Some("evidence"));
        }
        h.press(KeyCode::Enter);
        if step == "mgmt-coverage" {
            // Run again: here with no backend, which the responder is told.
            let status = h.model.status.clone().unwrap();
            assert!(status.text.contains("no query backend was given"), "{status:?}");
        } else {
            // The settled action's result was kept on screen; the next Enter is the next step's.
            assert_eq!(h.model.pinned, None);
            h.press(KeyCode::Enter);
            assert!(matches!(
                h.model.input.as_ref().map(|i| &i.purpose),
                Some(Purpose::Confirm { .. })
            ));
        }
    }
}

#[test]
fn a_result_that_changed_on_disk_or_is_not_parquet_is_refused_and_said_so() {
    assert!(
        irp::ui::table::ResultTable::from_parquet(b"PAR1 not really".to_vec())
            .unwrap_err()
            .contains("not readable Parquet")
    );
    let (lake, _) = shared_lake();
    let mut h = s3(lake);
    h.press(KeyCode::Enter);
    h.press(KeyCode::Enter);
    h.ch('r');
    let run = h.model.state.query_run("mgmt-coverage").unwrap().clone();
    let artifact = run.artifact.clone().unwrap();
    // Someone edits the stored result: the table is not shown from it, and the screen says why.
    let path = h.worker.session().dir.path(&artifact.path);
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last / 2] ^= 0xff;
    std::fs::write(&path, bytes).unwrap();
    h.model.loaded = None;
    h.send(Msg::Tick(now()));
    assert!(h.model.result_table().is_none());
    let err = h
        .model
        .loaded
        .as_ref()
        .unwrap()
        .table
        .as_ref()
        .unwrap_err()
        .clone();
    assert!(err.contains("changed"), "{err}");
    assert!(h.screen(160, 48).contains("changed"), "the reason is on screen");
}

#[test]
fn a_for_each_action_lists_its_items_and_is_confirmed_by_their_count() {
    let dir = tempfile::tempdir().unwrap();
    let lake = crate::common::for_each_lake(dir.path());
    let mut h = Harness::new(
        "tests/fixtures/cases/for-each.yaml",
        &[("suspect_key", "AKIAEXAMPLESTOLEN001")],
        Some(&lake),
    );
    h.press(KeyCode::Enter);
    assert_eq!(h.at().as_deref(), Some("created-keys"));
    h.ch('r');
    assert_eq!(h.at().as_deref(), Some("deactivate-created-keys"));
    // Leave the results for the action.
    h.press(KeyCode::Enter);
    assert_eq!(h.model.pinned, None);
    // Every item with its call, counted in the step list, and the count as the gate.
    h.snapshot("items-before");
    h.press(KeyCode::Enter);
    let Some(Purpose::Confirm { word, .. }) = h.model.input.as_ref().map(|i| i.purpose.clone()) else {
        panic!("{:?}", h.model.input)
    };
    assert_eq!(word, "3 access keys");
    h.type_text("3 access keys");
    h.press(KeyCode::Enter);
    let kinds = h.kinds();
    assert_eq!(
        kinds.iter().filter(|k| **k == "action_finished").count(),
        3,
        "{kinds:?}"
    );
    let st = h.model.state.step("deactivate-created-keys").unwrap();
    assert!((0..3).all(|i| st.item_done(i)));
    h.snapshot("items-done");
    h.press(KeyCode::Enter);
    assert_eq!(h.at().as_deref(), Some("done"));
}

#[test]
fn items_are_left_out_with_a_reason_and_a_protected_one_is_chosen_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let lake = crate::common::for_each_lake(dir.path());
    let mut h = Harness::new(
        "tests/fixtures/cases/for-each.yaml",
        &[
            ("suspect_key", "AKIAEXAMPLESTOLEN001"),
            ("protected_principals", "break-glass"),
        ],
        Some(&lake),
    );
    h.press(KeyCode::Enter);
    h.ch('r');
    h.press(KeyCode::Enter);
    assert_eq!(h.at().as_deref(), Some("deactivate-created-keys"));
    // The protected user's key is marked and left out: the count asked for is of the others.
    let screen = h.screen(160, 48);
    assert!(
        screen.contains(
            "protected: `break-glass` is named in input `protected_principals`: left out unless chosen"
        ),
        "{screen}"
    );
    assert!(screen.contains("type `2 access keys`"), "{screen}");
    // Item 1 left out, with a reason typed in the box.
    h.press(KeyCode::Down);
    h.ch(' ');
    assert!(
        matches!(
            h.model.input.as_ref().map(|i| &i.purpose),
            Some(Purpose::LeaveOut { item: 1, .. })
        ),
        "{:?}",
        h.model.input
    );
    h.type_text("the owner rotates it today");
    h.press(KeyCode::Enter);
    // Item 2, the protected one, chosen all the same.
    h.press(KeyCode::Down);
    h.ch(' ');
    let screen = h.screen(160, 48);
    assert!(
        screen.contains("left out: the owner rotates it today"),
        "{screen}"
    );
    assert!(screen.contains("chosen all the same"), "{screen}");
    h.press(KeyCode::Enter);
    let Some(Purpose::Confirm { word, .. }) = h.model.input.as_ref().map(|i| i.purpose.clone()) else {
        panic!("{:?}", h.model.input)
    };
    assert_eq!(word, "2 access keys");
    h.type_text("2 access keys");
    h.press(KeyCode::Enter);
    let st = h.model.state.step("deactivate-created-keys").unwrap();
    let chosen = st.chosen.clone().unwrap();
    assert_eq!(chosen.items, [0, 2]);
    assert_eq!(chosen.left_out.len(), 1);
    assert_eq!(chosen.left_out[0].reason, "the owner rotates it today");
    assert!(st.item_done(0) && st.item_done(2) && !st.item_done(1));
}
