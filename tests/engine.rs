//! The engine on its own: legal moves record one event, illegal ones are refused and change
//! nothing; captures feed later steps; suggestions are evaluated against them.

use chrono::{DateTime, Utc};
use irp::engine::{
    self, CaseOpened, Command, EngineError, Env, Event, Intent, Mode, Observable, Outcome, PlaybookRef,
    Position, State, StepStatus,
};
use irp::playbook::Playbook;

use crate::common::repo;

pub fn drill() -> Playbook {
    let src = std::fs::read_to_string(repo().join("tests/fixtures/cases/drill.yaml")).unwrap();
    irp::playbook::load_str(&src)
        .playbook
        .expect("the drill playbook is valid")
}

pub fn env() -> Env {
    Env {
        now: DateTime::parse_from_rfc3339("2026-11-28T03:00:00Z")
            .unwrap()
            .with_timezone(&Utc),
        naming: irp::playbook::context::TableNaming::default(),
        actor: None,
    }
}

pub fn opened(pb: &Playbook) -> Command {
    let inputs = engine::resolve_inputs(pb, &[("bucket".into(), "drill-bucket".into())], env().now).unwrap();
    Command::Open(CaseOpened {
        case: "01900000-0000-7000-8000-000000000000".into(),
        mode: Mode::Rehearsal,
        playbook: PlaybookRef {
            id: pb.id.clone(),
            title: pb.title.clone(),
            version: pb.version.clone(),
            sha256: "0".repeat(64),
            snapshot: "playbook.yaml".into(),
            source: "drill.yaml".into(),
        },
        inputs,
    })
}

/// Decides and applies; returns the event.
fn apply(pb: &Playbook, state: &mut State, cmd: &Command) -> Result<Event, EngineError> {
    let e = engine::decide(pb, state, cmd, &env())?;
    state.apply(&e);
    Ok(e)
}

fn refused(pb: &Playbook, state: &State, cmd: &Command) -> EngineError {
    let before = state.clone();
    let err = engine::decide(pb, state, cmd, &env()).expect_err("the command is refused");
    assert_eq!(*state, before, "a refused command changes nothing");
    err
}

fn s(x: &str) -> String {
    x.to_owned()
}

/// A case at step `reads` (the query).
fn started(pb: &Playbook) -> State {
    let mut st = State::default();
    apply(pb, &mut st, &opened(pb)).unwrap();
    apply(pb, &mut st, &Command::Start).unwrap();
    st
}

fn run_query(pb: &Playbook, st: &mut State, rows: Vec<serde_json::Value>) -> Event {
    let count = rows.len() as u64;
    query_result(pb, st, rows, count)
}

#[test]
fn captures_feed_the_suggestion_of_the_next_decision() {
    let pb = drill();
    let mut st = started(&pb);
    let rows = vec![
        serde_json::json!({"ip": "203.0.113.9", "n": 5000}),
        serde_json::json!({"ip": "198.51.100.7", "n": 3}),
    ];
    let Event::QuerySucceeded(q) = run_query(&pb, &mut st, rows) else {
        panic!("query_succeeded")
    };
    assert_eq!(
        q.captures["ips"],
        serde_json::json!(["203.0.113.9", "198.51.100.7"])
    );
    assert_eq!(q.captures["heavy"], serde_json::json!(1));
    assert_eq!(q.next.as_deref(), Some("triage"));
    assert_eq!(st.position, Position::At(s("triage")));
    let idx = pb.step_index("triage").unwrap();
    assert_eq!(
        engine::suggestion(&pb, &st, idx, &env()).unwrap().as_deref(),
        Some("incident")
    );
    let Event::Decided(d) = apply(
        &pb,
        &mut st,
        &Command::Decide {
            step: s("triage"),
            option: s("benign"),
            rationale: None,
        },
    )
    .unwrap() else {
        panic!("decided")
    };
    assert_eq!(
        d.suggested.as_deref(),
        Some("incident"),
        "the suggestion is recorded with the choice"
    );
    assert_eq!(d.next.as_deref(), Some("close-out"));
}

#[test]
fn no_heavy_reader_suggests_nothing_for_incident() {
    let pb = drill();
    let mut st = started(&pb);
    run_query(
        &pb,
        &mut st,
        vec![serde_json::json!({"ip": "198.51.100.7", "n": 3})],
    );
    let idx = pb.step_index("triage").unwrap();
    assert_eq!(engine::suggestion(&pb, &st, idx, &env()).unwrap(), None);
}

#[test]
fn a_capture_that_fails_fails_the_query_step_and_keeps_the_case_there() {
    let pb = drill();
    let mut st = started(&pb);
    // The rows lack the column `ips` reads.
    let ev = run_query(&pb, &mut st, vec![serde_json::json!({"n": 5})]);
    let Event::QueryFailed(f) = ev else {
        panic!("query_failed, got {ev:?}")
    };
    assert!(
        f.error.contains("capture `ips`") && f.error.contains("undefined"),
        "{}",
        f.error
    );
    assert!(f.stay);
    assert_eq!(st.position, Position::At(s("reads")));
    assert_eq!(st.step("reads").unwrap().status, StepStatus::Failed);
    // Re-running the query is allowed and succeeds with good rows.
    run_query(&pb, &mut st, vec![]);
    assert_eq!(st.position, Position::At(s("triage")));
}

#[test]
fn illegal_commands_are_refused_and_change_nothing() {
    let pb = drill();
    let fresh = State::default();
    assert_eq!(refused(&pb, &fresh, &Command::Start), EngineError::NotOpened);
    let mut st = started(&pb);
    assert_eq!(refused(&pb, &st, &opened(&pb)), EngineError::AlreadyOpened);
    assert_eq!(refused(&pb, &st, &Command::Start), EngineError::AlreadyStarted);
    // Deciding on a query step.
    let e = refused(
        &pb,
        &st,
        &Command::Decide {
            step: s("reads"),
            option: s("x"),
            rationale: None,
        },
    );
    assert!(
        matches!(
            e,
            EngineError::WrongKind {
                expected: "decision",
                ..
            }
        ),
        "{e}"
    );
    // A command for a step that is not current.
    let e = refused(
        &pb,
        &st,
        &Command::Decide {
            step: s("triage"),
            option: s("incident"),
            rationale: None,
        },
    );
    assert!(matches!(e, EngineError::NotCurrent { .. }), "{e}");
    assert!(matches!(
        refused(&pb, &st, &Command::Complete { step: s("nope") }),
        EngineError::UnknownStep(_)
    ));
    // Skipping without a reason.
    let e = refused(
        &pb,
        &st,
        &Command::Skip {
            step: s("reads"),
            reason: s("  "),
        },
    );
    assert_eq!(e, EngineError::ReasonRequired("skipping a step"));
    // A result without a submitted query.
    let e = refused(
        &pb,
        &st,
        &Command::QuerySucceeded {
            step: s("reads"),
            rows: vec![],
            row_count: 0,
            artifact: None,
            execution: None,
        },
    );
    assert_eq!(e, EngineError::NoQueryRunning(s("reads")));
    apply(
        &pb,
        &mut st,
        &Command::SubmitQuery {
            step: s("reads"),
            sql: s("SELECT 1"),
            backend: s("t"),
            not_collected: Vec::new(),
        },
    )
    .unwrap();
    let e = refused(
        &pb,
        &st,
        &Command::SubmitQuery {
            step: s("reads"),
            sql: s("SELECT 1"),
            backend: s("t"),
            not_collected: Vec::new(),
        },
    );
    assert_eq!(e, EngineError::QueryRunning(s("reads")));
    apply(
        &pb,
        &mut st,
        &Command::CancelQuery {
            step: s("reads"),
            reason: s("too slow"),
        },
    )
    .unwrap();
    apply(
        &pb,
        &mut st,
        &Command::Skip {
            step: s("reads"),
            reason: s("no lake"),
        },
    )
    .unwrap();
    // A decision cannot be skipped; an unknown option names the real ones.
    assert_eq!(
        refused(
            &pb,
            &st,
            &Command::Skip {
                step: s("triage"),
                reason: s("r")
            }
        ),
        EngineError::CannotSkipDecision
    );
    let e = refused(
        &pb,
        &st,
        &Command::Decide {
            step: s("triage"),
            option: s("maybe"),
            rationale: None,
        },
    );
    assert!(e.to_string().contains("`incident`, `benign`"), "{e}");
    // Going back to a step never entered.
    assert!(matches!(
        refused(&pb, &st, &Command::GoBack { to: s("block") }),
        EngineError::NotVisited(_)
    ));
    // Evidence is typed.
    let e = refused(
        &pb,
        &st,
        &Command::AddEvidence {
            observable: Observable::Ip,
            value: s("not-an-ip"),
            note: None,
        },
    );
    assert!(e.to_string().contains("not an IPv4 or IPv6 address"), "{e}");
    let e = refused(
        &pb,
        &st,
        &Command::AddEvidence {
            observable: Observable::AccessKeyId,
            value: s("AKIA123"),
            note: None,
        },
    );
    assert!(matches!(e, EngineError::BadObservable { .. }));
    assert_eq!(
        refused(&pb, &st, &Command::AddNote { text: s("") }),
        EngineError::Empty("note")
    );
    // Paused: step work waits, notes do not.
    apply(
        &pb,
        &mut st,
        &Command::Pause {
            reason: s("shift change"),
        },
    )
    .unwrap();
    let e = refused(
        &pb,
        &st,
        &Command::Decide {
            step: s("triage"),
            option: s("incident"),
            rationale: None,
        },
    );
    assert_eq!(e, EngineError::Paused(s("shift change")));
    apply(
        &pb,
        &mut st,
        &Command::AddNote {
            text: s("handing over to Bob"),
        },
    )
    .unwrap();
    assert_eq!(
        refused(&pb, &st, &Command::Pause { reason: s("again") }),
        EngineError::Paused(s("shift change"))
    );
    apply(&pb, &mut st, &Command::Unpause).unwrap();
    assert_eq!(refused(&pb, &st, &Command::Unpause), EngineError::NotPaused);
    // Closing needs a summary; after closing nothing more is recorded.
    assert_eq!(
        refused(&pb, &st, &Command::Close { summary: s("") }),
        EngineError::ReasonRequired("closing a case")
    );
    apply(
        &pb,
        &mut st,
        &Command::Close {
            summary: s("drill over"),
        },
    )
    .unwrap();
    for cmd in [
        Command::Decide {
            step: s("triage"),
            option: s("incident"),
            rationale: None,
        },
        Command::AddNote { text: s("late") },
        Command::Close { summary: s("again") },
        Command::Unpause,
    ] {
        assert_eq!(refused(&pb, &st, &cmd), EngineError::Closed);
    }
}

/// Walks to step `contain-key` (the typed-confirmation action).
fn at_contain_key(pb: &Playbook) -> State {
    let mut st = started(pb);
    apply(
        pb,
        &mut st,
        &Command::Skip {
            step: s("reads"),
            reason: s("no lake"),
        },
    )
    .unwrap();
    apply(
        pb,
        &mut st,
        &Command::Decide {
            step: s("triage"),
            option: s("incident"),
            rationale: None,
        },
    )
    .unwrap();
    apply(pb, &mut st, &Command::Complete { step: s("scope") }).unwrap();
    for i in 1..=8 {
        apply(
            pb,
            &mut st,
            &Command::Complete {
                step: format!("look-{i}"),
            },
        )
        .unwrap();
    }
    apply(
        pb,
        &mut st,
        &Command::Decide {
            step: s("again"),
            option: s("no"),
            rationale: None,
        },
    )
    .unwrap();
    assert_eq!(st.position, Position::At(s("contain-key")));
    st
}

#[test]
fn actions_need_the_typed_confirmation_once_and_the_exact_intent() {
    let pb = drill();
    let mut st = at_contain_key(&pb);
    let idx = pb.step_index("contain-key").unwrap();
    let intent = engine::render_intent(&pb, &st, idx, &env()).unwrap();
    let Intent::Aws { target, params, .. } = &intent else {
        panic!("aws intent")
    };
    assert_eq!(target.as_deref(), Some("AKIAIOSFODNN7EXAMPLE"));
    assert_eq!(params["user_name"], "drill-user");
    let start = Command::StartAction {
        step: s("contain-key"),
        intent: intent.clone(),
        simulated: true,
        before: None,
        request: None,
        item: None,
    };
    assert_eq!(
        refused(&pb, &st, &start),
        EngineError::NotConfirmed(s("contain-key"))
    );
    let e = refused(
        &pb,
        &st,
        &Command::ConfirmAction {
            step: s("contain-key"),
            typed: Some(s("yes")),
            seen: None,
            items: None,
        },
    );
    assert!(
        e.to_string().contains("type `AKIAIOSFODNN7EXAMPLE` exactly"),
        "{e}"
    );
    apply(
        &pb,
        &mut st,
        &Command::ConfirmAction {
            step: s("contain-key"),
            typed: Some(s("AKIAIOSFODNN7EXAMPLE")),
            seen: None,
            items: None,
        },
    )
    .unwrap();
    let e = refused(
        &pb,
        &st,
        &Command::ConfirmAction {
            step: s("contain-key"),
            typed: Some(s("AKIAIOSFODNN7EXAMPLE")),
            seen: None,
            items: None,
        },
    );
    assert_eq!(e, EngineError::AlreadyConfirmed(s("contain-key")));
    // A driver cannot record one call and make another.
    let mut forged = intent.clone();
    if let Intent::Aws { params, .. } = &mut forged {
        params.insert(s("user_name"), serde_json::json!("someone-else"));
    }
    let e = refused(
        &pb,
        &st,
        &Command::StartAction {
            step: s("contain-key"),
            intent: forged,
            simulated: true,
            before: None,
            request: None,
            item: None,
        },
    );
    assert_eq!(e, EngineError::IntentMismatch(s("contain-key")));
    apply(&pb, &mut st, &start).unwrap();
    assert_eq!(
        refused(&pb, &st, &start),
        EngineError::ActionInFlight(s("contain-key"))
    );
    // The case cannot be closed or left while an action is in flight.
    assert_eq!(
        refused(&pb, &st, &Command::Close { summary: s("x") }),
        EngineError::ActionInFlight(s("contain-key"))
    );
    assert_eq!(
        refused(&pb, &st, &Command::GoBack { to: s("scope") }),
        EngineError::ActionInFlight(s("contain-key"))
    );
    let finish = Command::FinishAction {
        step: s("contain-key"),
        outcome: Outcome::Failed,
        detail: s("throttled"),
        after: None,
        request_ids: Vec::new(),
        verification: None,
        outputs: Vec::new(),
        item: None,
    };
    let Event::ActionFinished(f) = apply(&pb, &mut st, &finish).unwrap() else {
        panic!()
    };
    assert!(f.stay, "on_failure: ask keeps the case on the step");
    assert_eq!(st.step("contain-key").unwrap().status, StepStatus::Failed);
    // Retrying needs no second confirmation; success moves on.
    apply(&pb, &mut st, &start).unwrap();
    let ok = Command::FinishAction {
        step: s("contain-key"),
        outcome: Outcome::Succeeded,
        detail: s("done"),
        after: None,
        request_ids: Vec::new(),
        verification: None,
        outputs: Vec::new(),
        item: None,
    };
    apply(&pb, &mut st, &ok).unwrap();
    assert_eq!(st.position, Position::At(s("block")));
}

#[test]
fn checklists_are_ticked_item_by_item() {
    let pb = drill();
    let mut st = at_contain_key(&pb);
    apply(
        &pb,
        &mut st,
        &Command::Skip {
            step: s("contain-key"),
            reason: s("key already gone"),
        },
    )
    .unwrap();
    apply(
        &pb,
        &mut st,
        &Command::Skip {
            step: s("block"),
            reason: s("already blocked"),
        },
    )
    .unwrap();
    apply(
        &pb,
        &mut st,
        &Command::Skip {
            step: s("ticket"),
            reason: s("no ticket tool"),
        },
    )
    .unwrap();
    assert_eq!(st.position, Position::At(s("checklist")));
    let e = refused(&pb, &st, &Command::Complete { step: s("checklist") });
    assert_eq!(
        e,
        EngineError::ChecklistOpen {
            step: s("checklist"),
            left: 3
        }
    );
    let Event::ChecklistItemDone { text, .. } = apply(
        &pb,
        &mut st,
        &Command::CheckItem {
            step: s("checklist"),
            item: 0,
        },
    )
    .unwrap() else {
        panic!()
    };
    assert_eq!(text, "Tell the owner of drill-bucket", "items are rendered");
    let e = refused(
        &pb,
        &st,
        &Command::CheckItem {
            step: s("checklist"),
            item: 0,
        },
    );
    assert_eq!(
        e,
        EngineError::ItemDone {
            step: s("checklist"),
            item: 0
        }
    );
    assert!(matches!(
        refused(
            &pb,
            &st,
            &Command::CheckItem {
                step: s("checklist"),
                item: 7
            }
        ),
        EngineError::NoSuchItem { .. }
    ));
    apply(
        &pb,
        &mut st,
        &Command::CheckItem {
            step: s("checklist"),
            item: 1,
        },
    )
    .unwrap();
    apply(
        &pb,
        &mut st,
        &Command::CheckItem {
            step: s("checklist"),
            item: 2,
        },
    )
    .unwrap();
    apply(&pb, &mut st, &Command::Complete { step: s("checklist") }).unwrap();
    assert_eq!(st.position, Position::At(s("verify-1")));
}

#[test]
fn going_back_re_enters_a_step_and_keeps_the_history() {
    let pb = drill();
    let mut st = at_contain_key(&pb);
    apply(&pb, &mut st, &Command::GoBack { to: s("look-2") }).unwrap();
    assert_eq!(st.position, Position::At(s("look-2")));
    assert_eq!(st.visits("look-2"), 2);
    assert_eq!(st.step("contain-key").unwrap().status, StepStatus::Pending);
    assert_eq!(
        st.path.iter().filter(|p| *p == "look-2").count(),
        2,
        "the path keeps both visits"
    );
    // The loop decision can be answered differently on the second visit.
    for i in 2..=8 {
        apply(
            &pb,
            &mut st,
            &Command::Complete {
                step: format!("look-{i}"),
            },
        )
        .unwrap();
    }
    apply(
        &pb,
        &mut st,
        &Command::Decide {
            step: s("again"),
            option: s("Again"),
            rationale: Some(s("by label")),
        },
    )
    .unwrap();
    assert_eq!(st.position, Position::At(s("look-1")));
    assert_eq!(st.visits("look-1"), 2);
}

#[test]
fn an_unknown_outcome_keeps_the_case_on_the_step_until_it_is_verified() {
    let pb = drill();
    let mut st = at_contain_key(&pb);
    let idx = pb.step_index("contain-key").unwrap();
    let intent = engine::render_intent(&pb, &st, idx, &env()).unwrap();
    let confirm = Command::ConfirmAction {
        step: s("contain-key"),
        typed: Some(s("AKIAIOSFODNN7EXAMPLE")),
        seen: None,
        items: None,
    };
    let start = Command::StartAction {
        step: s("contain-key"),
        intent,
        simulated: true,
        before: None,
        request: None,
        item: None,
    };
    let finish = |outcome| Command::FinishAction {
        step: s("contain-key"),
        outcome,
        detail: s("x"),
        after: None,
        request_ids: Vec::new(),
        verification: None,
        outputs: Vec::new(),
        item: None,
    };
    let verify = |in_place| Command::VerifyAction {
        step: s("contain-key"),
        method: s("responder"),
        in_place,
        detail: s("checked the console"),
        after: None,
        item: None,
    };
    // Nothing to verify while the outcome is known.
    assert_eq!(
        refused(&pb, &st, &verify(true)),
        EngineError::OutcomeKnown(s("contain-key"))
    );
    apply(&pb, &mut st, &confirm).unwrap();
    apply(&pb, &mut st, &start).unwrap();
    let Event::ActionFinished(f) = apply(&pb, &mut st, &finish(Outcome::Unknown)).unwrap() else {
        panic!()
    };
    assert!(
        f.stay && f.next.is_none(),
        "an unknown outcome never moves the case on"
    );
    assert_eq!(st.position, Position::At(s("contain-key")));
    assert_eq!(
        refused(&pb, &st, &start),
        EngineError::OutcomeUnknown(s("contain-key"))
    );
    // Not in place: the action is confirmed and run again.
    apply(&pb, &mut st, &verify(false)).unwrap();
    assert!(!st.step("contain-key").unwrap().confirmed);
    assert_eq!(
        refused(&pb, &st, &start),
        EngineError::NotConfirmed(s("contain-key"))
    );
    apply(&pb, &mut st, &confirm).unwrap();
    apply(&pb, &mut st, &start).unwrap();
    apply(&pb, &mut st, &finish(Outcome::Unknown)).unwrap();
    // In place: the step is done and the case moves on.
    apply(&pb, &mut st, &verify(true)).unwrap();
    assert_eq!(st.step("contain-key").unwrap().status, StepStatus::Done);
    assert_eq!(st.position, Position::At(s("block")));
}

/// A playbook whose query keeps the keys it finds as records, and a note that reads them.
fn records_playbook() -> Playbook {
    let src = r"
irp: 1
id: records
title: Records
version: 1.0.0
inputs:
  bucket: { type: string, example: b }
stages:
  - id: detect
    title: Detect
    phase: detection-and-analysis
    steps:
      - id: reads
        title: Keys created
        query:
          table: cloud_trail_mgmt
          sql: SELECT user_name, access_key_id, time FROM {{ table }}
          capture:
            created_keys:
              fields: [user_name, access_key_id]
              example: [{ user_name: alice, access_key_id: AKIAEXAMPLE }]
            later_creators:
              fields: [user_name]
              where: row.access_key_id and row.time > 1
      - id: done
        title: Done
        note: '{% for k in created_keys %}{{ k.user_name }}={{ k.access_key_id }} {% endfor %}'
";
    let loaded = irp::playbook::load_str(src);
    loaded
        .playbook
        .unwrap_or_else(|| panic!("valid: {:?}", loaded.diagnostics))
}

/// Runs the `reads` query; `row_count` may exceed the rows kept (a result cut to a prefix).
fn query_result(pb: &Playbook, st: &mut State, rows: Vec<serde_json::Value>, row_count: u64) -> Event {
    apply(
        pb,
        st,
        &Command::SubmitQuery {
            step: s("reads"),
            sql: s("SELECT 1"),
            backend: s("test"),
            not_collected: Vec::new(),
        },
    )
    .unwrap();
    apply(
        pb,
        st,
        &Command::QuerySucceeded {
            step: s("reads"),
            rows,
            row_count,
            artifact: None,
            execution: None,
        },
    )
    .unwrap()
}

#[test]
fn a_record_capture_keeps_each_rows_values_together_once() {
    let pb = records_playbook();
    let mut st = started(&pb);
    let rows = vec![
        serde_json::json!({"user_name": "backup-svc", "access_key_id": "AKIA1", "time": 1}),
        serde_json::json!({"user_name": "ops-admin", "access_key_id": "AKIA2", "time": 2}),
        // The same key seen again: one record, in the order first seen.
        serde_json::json!({"user_name": "backup-svc", "access_key_id": "AKIA1", "time": 3}),
        serde_json::json!({"user_name": "ops-admin", "access_key_id": null, "time": 4}),
    ];
    let Event::QuerySucceeded(q) = query_result(&pb, &mut st, rows, 4) else {
        panic!("the query succeeds");
    };
    assert_eq!(
        q.captures["created_keys"],
        serde_json::json!([
            {"user_name": "backup-svc", "access_key_id": "AKIA1"},
            {"user_name": "ops-admin", "access_key_id": "AKIA2"},
            {"user_name": "ops-admin", "access_key_id": null},
        ])
    );
    // `where` keeps the rows it holds for, then the same distinct records in row order.
    assert_eq!(
        q.captures["later_creators"],
        serde_json::json!([{"user_name": "ops-admin"}, {"user_name": "backup-svc"}])
    );
    let irp::playbook::model::StepKind::Note(note) = &pb.steps[1].kind else {
        panic!("the second step is a note");
    };
    let ctx = engine::template_context(&pb, &st, 1, &env());
    let text = irp::playbook::template::render_text(note, &ctx).unwrap();
    assert_eq!(text, "backup-svc=AKIA1 ops-admin=AKIA2 ops-admin= ");
}

#[test]
fn a_record_capture_without_its_column_or_with_rows_cut_off_fails_the_step() {
    let pb = records_playbook();
    let mut st = started(&pb);
    let rows = vec![serde_json::json!({"user_name": "backup-svc", "key": "AKIA1"})];
    let Event::QueryFailed(f) = query_result(&pb, &mut st, rows, 1) else {
        panic!("a missing column fails the step");
    };
    assert_eq!(
        f.error,
        "capture `created_keys` (`fields: [user_name, access_key_id]`): the result has no column `access_key_id` (its columns: user_name, key)"
    );
    // A column `where` reads and the result lacks fails the step too: an unknown column must not
    // quietly empty a list that actions run over.
    let mut st = started(&pb);
    let rows = vec![serde_json::json!({"user_name": "a", "access_key_id": "AKIA1"})];
    let Event::QueryFailed(f) = query_result(&pb, &mut st, rows, 1) else {
        panic!("a column `where` reads is missing");
    };
    assert_eq!(
        f.error,
        "capture `later_creators` (`fields: [user_name] where: row.access_key_id and row.time > 1`): `where` reads `row.time`: the result has no column `time` (its columns: user_name, access_key_id)"
    );
    // Only a prefix of the result kept: the records would miss some, so the step fails.
    let mut st = started(&pb);
    let rows = vec![serde_json::json!({"user_name": "a", "access_key_id": "AKIA1"})];
    let Event::QueryFailed(f) = query_result(&pb, &mut st, rows, 20_000) else {
        panic!("a cut-off result fails the step");
    };
    assert!(
        f.error
            .contains("the result has 20000 rows and irp keeps the first 1 for captures")
            && f.error.contains("GROUP BY user_name, access_key_id"),
        "{}",
        f.error
    );
}

/// A playbook that finds created keys and deactivates each on its own user.
fn for_each_playbook() -> Playbook {
    let src = r"
irp: 1
id: items
title: Items
version: 1.0.0
inputs:
  bucket: { type: string, example: b }
stages:
  - id: contain
    title: Contain
    phase: containment-eradication-recovery
    steps:
      - id: reads
        title: Keys created
        query:
          table: cloud_trail_mgmt
          sql: SELECT user_name, access_key_id FROM {{ table }}
          capture:
            created_keys:
              fields: [user_name, access_key_id]
              example: [{ user_name: alice, access_key_id: AKIAEXAMPLE0000000001 }]
      - id: deactivate
        title: Deactivate every created key
        action:
          for_each: created_keys
          aws: iam.deactivate_access_key
          params:
            user_name: '{{ item.user_name }}'
            access_key_id: '{{ item.access_key_id }}'
      - id: done
        title: Done
        note: Contained.
";
    let loaded = irp::playbook::load_str(src);
    loaded
        .playbook
        .unwrap_or_else(|| panic!("valid: {:?}", loaded.diagnostics))
}

fn keys(n: usize) -> Vec<serde_json::Value> {
    (0..n)
        .map(|i| serde_json::json!({"user_name": format!("intruder-{i}"), "access_key_id": format!("AKIAEXAMPLE00000000{i:02}")}))
        .collect()
}

fn item_start(pb: &Playbook, st: &State, item: usize) -> Command {
    let index = pb.step_index("deactivate").unwrap();
    Command::StartAction {
        step: s("deactivate"),
        item: Some(item),
        intent: engine::render_item_intent(pb, st, index, item, &env()).unwrap(),
        simulated: true,
        before: None,
        request: None,
    }
}

fn item_finish(item: usize, outcome: Outcome) -> Command {
    Command::FinishAction {
        step: s("deactivate"),
        item: Some(item),
        outcome,
        detail: format!("item {item}"),
        after: None,
        request_ids: vec![],
        verification: None,
        outputs: vec![],
    }
}

#[test]
fn a_for_each_step_runs_each_item_on_its_own_and_settles_when_all_are() {
    let pb = for_each_playbook();
    let mut st = started(&pb);
    query_result(&pb, &mut st, keys(3), 3);
    assert_eq!(st.current_step(), Some("deactivate"));
    // Each item renders with its own record: the key stays on its own user.
    let index = pb.step_index("deactivate").unwrap();
    let Intent::Aws { params, target, .. } = engine::render_item_intent(&pb, &st, index, 2, &env()).unwrap()
    else {
        panic!("an aws intent");
    };
    assert_eq!(params["user_name"], "intruder-2");
    assert_eq!(target.as_deref(), Some("AKIAEXAMPLE0000000002"));
    // Nothing runs before the confirmation, which counts the items by what they are.
    assert_eq!(
        refused(&pb, &st, &item_start(&pb, &st, 0)),
        EngineError::NotConfirmed(s("deactivate"))
    );
    let confirm = |typed: &str, items: Option<engine::ItemChoice>| Command::ConfirmAction {
        step: s("deactivate"),
        typed: Some(typed.to_owned()),
        seen: None,
        items,
    };
    assert_eq!(
        refused(&pb, &st, &confirm("AKIAEXAMPLE0000000000", None)),
        EngineError::ConfirmationMismatch {
            step: s("deactivate"),
            expected: s("3 access keys")
        }
    );
    // Leaving an item out takes a reason.
    let no_reason = engine::ItemChoice {
        chosen: vec![],
        left_out: vec![engine::LeftOut {
            item: 1,
            reason: " ".into(),
        }],
    };
    assert!(matches!(
        refused(&pb, &st, &confirm("2 access keys", Some(no_reason))),
        EngineError::BadChoice { .. }
    ));
    let Event::ActionConfirmed(c) = apply(&pb, &mut st, &confirm("3 access keys", None)).unwrap() else {
        panic!("confirmed");
    };
    assert_eq!(
        c.items.as_ref().map(|c| (c.total, c.items.clone())),
        Some((3, vec![0, 1, 2]))
    );
    // One item at a time; a failure does not undo the others or stop them.
    let start = item_start(&pb, &st, 0);
    apply(&pb, &mut st, &start).unwrap();
    assert_eq!(
        refused(&pb, &st, &item_start(&pb, &st, 1)),
        EngineError::ActionInFlight(s("deactivate"))
    );
    apply(&pb, &mut st, &item_finish(0, Outcome::Succeeded)).unwrap();
    let start = item_start(&pb, &st, 1);
    apply(&pb, &mut st, &start).unwrap();
    apply(&pb, &mut st, &item_finish(1, Outcome::Failed)).unwrap();
    assert_eq!(
        refused(&pb, &st, &item_start(&pb, &st, 0)),
        EngineError::ActionDone(s("deactivate"))
    );
    let start = item_start(&pb, &st, 2);
    apply(&pb, &mut st, &start).unwrap();
    let Event::ActionFinished(last) = apply(&pb, &mut st, &item_finish(2, Outcome::Succeeded)).unwrap()
    else {
        panic!("finished");
    };
    // Every item settled, one failed: `on_failure: ask` keeps the case on the step.
    assert!(last.stay, "{last:?}");
    assert_eq!(st.current_step(), Some("deactivate"));
    let step = st.step("deactivate").unwrap();
    assert!(step.item_done(0) && !step.item_done(1) && step.item_done(2));
    // The failed item runs again under the same confirmation; then the case moves on.
    let start = item_start(&pb, &st, 1);
    apply(&pb, &mut st, &start).unwrap();
    let Event::ActionFinished(last) = apply(&pb, &mut st, &item_finish(1, Outcome::Succeeded)).unwrap()
    else {
        panic!("finished");
    };
    assert!(!last.stay);
    assert_eq!(st.current_step(), Some("done"));
}

#[test]
fn the_identity_irp_acts_as_is_left_out_of_a_confirmation_unless_named() {
    let pb = for_each_playbook();
    let mut st = started(&pb);
    query_result(&pb, &mut st, keys(3), 3);
    // The case acts as a session of the role `intruder-1` (a user of the same name is the same
    // principal by name, as the preview shows it).
    st.apply(&Event::AwsIdentity(engine::AwsIdentity {
        account: s("111122223333"),
        arn: s("arn:aws:sts::111122223333:assumed-role/intruder-1/responder"),
        user_id: s("AROAEXAMPLE:responder"),
        region: s("us-east-1"),
        endpoint: None,
    }));
    let index = pb.step_index("deactivate").unwrap();
    let intents = engine::render_item_intents(&pb, &st, index, &env()).unwrap();
    let protected = engine::items::protected_items(&pb, &st, &intents);
    assert_eq!(
        protected.keys().copied().collect::<Vec<_>>(),
        [1],
        "{protected:?}"
    );
    assert!(
        protected[&1].contains(
            "the identity irp acts as (arn:aws:sts::111122223333:assumed-role/intruder-1/responder)"
        )
    );
    // Every item by default: refused, since that would take the protected one.
    let all = Command::ConfirmAction {
        step: s("deactivate"),
        typed: Some(s("3 access keys")),
        seen: None,
        items: Some(engine::ItemChoice::default()),
    };
    match refused(&pb, &st, &all) {
        EngineError::BadChoice { why, .. } => assert!(why.starts_with("item 1 is protected"), "{why}"),
        other => panic!("refused for another reason: {other:?}"),
    }
    // Left out with its reason: accepted. Named among the items: accepted too.
    let left_out = Command::ConfirmAction {
        step: s("deactivate"),
        typed: Some(s("2 access keys")),
        seen: None,
        items: Some(engine::ItemChoice {
            chosen: vec![],
            left_out: vec![engine::LeftOut {
                item: 1,
                reason: protected[&1].clone(),
            }],
        }),
    };
    assert!(engine::decide(&pb, &st, &left_out, &env()).is_ok());
    let named = Command::ConfirmAction {
        step: s("deactivate"),
        typed: Some(s("3 access keys")),
        seen: None,
        items: Some(engine::ItemChoice {
            chosen: vec![0, 1, 2],
            left_out: vec![],
        }),
    };
    assert!(engine::decide(&pb, &st, &named, &env()).is_ok());
}

#[test]
fn a_for_each_step_with_items_left_out_or_none_to_act_on_says_so() {
    let pb = for_each_playbook();
    let mut st = started(&pb);
    query_result(&pb, &mut st, keys(3), 3);
    let choice = engine::ItemChoice {
        chosen: vec![0, 2],
        left_out: vec![engine::LeftOut {
            item: 1,
            reason: "the break-glass user's key".into(),
        }],
    };
    apply(
        &pb,
        &mut st,
        &Command::ConfirmAction {
            step: s("deactivate"),
            typed: Some(s("2 access keys")),
            seen: None,
            items: Some(choice),
        },
    )
    .unwrap();
    assert!(matches!(
        refused(&pb, &st, &item_start(&pb, &st, 1)),
        EngineError::ItemNotChosen { item: 1, .. }
    ));
    for i in [0, 2] {
        let start = item_start(&pb, &st, i);
        apply(&pb, &mut st, &start).unwrap();
        apply(&pb, &mut st, &item_finish(i, Outcome::Succeeded)).unwrap();
    }
    assert_eq!(
        st.current_step(),
        Some("done"),
        "the chosen items settle the step"
    );
    // An empty list: nothing to do, journaled, and the case moves on.
    let mut st = started(&pb);
    query_result(&pb, &mut st, vec![], 0);
    let nothing = Command::NothingToDo {
        step: s("deactivate"),
    };
    let e = apply(&pb, &mut st, &nothing).unwrap();
    assert_eq!(
        e,
        Event::ActionNothingToDo {
            step: s("deactivate"),
            list: s("created_keys"),
            next: Some(s("done")),
        }
    );
    // A list with items cannot be called empty.
    let mut st = started(&pb);
    query_result(&pb, &mut st, keys(1), 1);
    assert_eq!(
        refused(&pb, &st, &nothing),
        EngineError::ItemsToDo(s("deactivate"))
    );
}

#[test]
fn an_unknown_item_outcome_is_settled_before_anything_else_runs() {
    let pb = for_each_playbook();
    let mut st = started(&pb);
    query_result(&pb, &mut st, keys(2), 2);
    apply(
        &pb,
        &mut st,
        &Command::ConfirmAction {
            step: s("deactivate"),
            typed: Some(s("2 access keys")),
            seen: None,
            items: None,
        },
    )
    .unwrap();
    let start = item_start(&pb, &st, 0);
    apply(&pb, &mut st, &start).unwrap();
    apply(&pb, &mut st, &item_finish(0, Outcome::Unknown)).unwrap();
    assert_eq!(
        refused(&pb, &st, &item_start(&pb, &st, 0)),
        EngineError::OutcomeUnknown(s("deactivate"))
    );
    let verify = |in_place: bool| Command::VerifyAction {
        step: s("deactivate"),
        item: Some(0),
        method: s("responder"),
        in_place,
        detail: s("checked"),
        after: None,
    };
    apply(&pb, &mut st, &verify(true)).unwrap();
    assert!(st.step("deactivate").unwrap().item_done(0));
    let start = item_start(&pb, &st, 1);
    apply(&pb, &mut st, &start).unwrap();
    apply(&pb, &mut st, &item_finish(1, Outcome::Succeeded)).unwrap();
    assert_eq!(st.current_step(), Some("done"));
}

#[test]
fn item_commands_on_the_wrong_step_or_item_are_refused_and_named() {
    let pb = for_each_playbook();
    let mut st = started(&pb);
    query_result(&pb, &mut st, keys(2), 2);
    let confirm = |items: Option<engine::ItemChoice>| Command::ConfirmAction {
        step: s("deactivate"),
        typed: Some(s("2 access keys")),
        seen: None,
        items,
    };
    // An item named twice, or one the list does not hold.
    let twice = engine::ItemChoice {
        chosen: vec![0, 1],
        left_out: vec![engine::LeftOut {
            item: 1,
            reason: "kept".into(),
        }],
    };
    assert!(matches!(
        refused(&pb, &st, &confirm(Some(twice))),
        EngineError::BadChoice { why, .. } if why == "item 1 is named twice"
    ));
    apply(&pb, &mut st, &confirm(None)).unwrap();
    let mut start = item_start(&pb, &st, 0);
    if let Command::StartAction { item, .. } = &mut start {
        *item = Some(5);
    }
    assert_eq!(
        refused(&pb, &st, &start),
        EngineError::NoListItem {
            step: s("deactivate"),
            item: 5,
            total: 2
        }
    );
    if let Command::StartAction { item, .. } = &mut start {
        *item = None;
    }
    assert_eq!(
        refused(&pb, &st, &start),
        EngineError::ItemRequired(s("deactivate"))
    );
    // A step that acts once takes no item and has no list to be empty.
    let drill = drill();
    let st = started(&drill);
    assert_eq!(
        refused(&drill, &st, &Command::NothingToDo { step: s("reads") }),
        EngineError::NoItems(s("reads"))
    );
}

/// A checklist over a list: its lines once per item, ticked as one checklist.
#[test]
fn a_checklist_with_for_each_repeats_its_lines_for_every_item() {
    let src = r"
irp: 1
id: checklist-items
title: Checklist items
version: 1.0.0
inputs:
  bucket: { type: string, example: b }
stages:
  - id: contain
    title: Contain
    phase: containment-eradication-recovery
    steps:
      - id: reads
        title: Instances
        query:
          table: cloud_trail_mgmt
          sql: SELECT user_name, access_key_id FROM {{ table }}
          capture:
            created_keys:
              fields: [user_name, access_key_id]
              example: [{ user_name: alice, access_key_id: AKIAEXAMPLE0000000001 }]
      - id: tell-owners
        title: Tell each key's owner
        action:
          for_each: created_keys
          manual:
            - 'Tell the owner of {{ item.user_name }} that {{ item.access_key_id }} is off'
            - 'Record when {{ item.user_name }} was told (item {{ index }})'
      - id: done
        title: Done
        note: Contained.
";
    let loaded = irp::playbook::load_str(src);
    let pb = loaded
        .playbook
        .unwrap_or_else(|| panic!("valid: {:?}", loaded.diagnostics));
    let mut st = started(&pb);
    query_result(&pb, &mut st, keys(2), 2);
    let index = pb.step_index("tell-owners").unwrap();
    let lines = engine::checklist(&pb, &st, index, &env()).unwrap();
    assert_eq!(
        lines,
        [
            "Tell the owner of intruder-0 that AKIAEXAMPLE0000000000 is off",
            "Record when intruder-0 was told (item 0)",
            "Tell the owner of intruder-1 that AKIAEXAMPLE0000000001 is off",
            "Record when intruder-1 was told (item 1)",
        ]
    );
    let complete = Command::Complete {
        step: s("tell-owners"),
    };
    assert!(matches!(
        refused(&pb, &st, &complete),
        EngineError::ChecklistOpen { left: 4, .. }
    ));
    for (item, line) in lines.iter().enumerate() {
        let e = apply(
            &pb,
            &mut st,
            &Command::CheckItem {
                step: s("tell-owners"),
                item,
            },
        )
        .unwrap();
        let Event::ChecklistItemDone { text, .. } = e else {
            panic!("{e:?}")
        };
        assert_eq!(&text, line);
    }
    apply(&pb, &mut st, &complete).unwrap();
    assert_eq!(st.current_step(), Some("done"));
}

/// The drill with roles, as a team would run it: the lead (first declared) decides, the analyst
/// runs `reads`, the engineer acts on `contain-key`.
pub fn team_drill_source() -> String {
    let src = std::fs::read_to_string(repo().join("tests/fixtures/cases/drill.yaml")).unwrap();
    let src = src
        .replacen(
            "stages:\n",
            "roles:\n  lead: IR lead\n  analyst: Analyst\n  engineer: Cloud engineer\nstages:\n",
            1,
        )
        .replacen(
            "      - id: reads\n        title: Reads of the bucket\n",
            "      - id: reads\n        title: Reads of the bucket\n        role: analyst\n",
            1,
        )
        .replacen(
            "      - id: contain-key\n        title: Deactivate the key\n",
            "      - id: contain-key\n        title: Deactivate the key\n        role: engineer\n",
            1,
        );
    assert_eq!(
        src.matches("role: ").count(),
        2,
        "the drill changed: the team drill needs new anchors"
    );
    src
}

fn as_who(who: &str) -> Env {
    Env {
        actor: Some(who.to_owned()),
        ..env()
    }
}

fn by(pb: &Playbook, st: &mut State, who: &str, cmd: &Command) -> Result<Event, EngineError> {
    let before = st.clone();
    match engine::decide(pb, st, cmd, &as_who(who)) {
        Ok(e) => {
            st.apply(&e);
            Ok(e)
        }
        Err(e) => {
            assert_eq!(*st, before, "a refused command changes nothing");
            Err(e)
        }
    }
}

#[test]
fn once_roles_are_taken_a_steps_role_decides_who_moves_and_hand_overs_are_journaled() {
    let pb = irp::playbook::load_str(&team_drill_source()).playbook.unwrap();
    let mut st = State::default();
    apply(&pb, &mut st, &opened(&pb)).unwrap();
    let take = |role: &str| Command::TakeRole { role: s(role) };
    // Before anyone takes a role, anyone moves (a responder alone needs no roles).
    assert!(engine::decide(&pb, &st, &Command::Start, &as_who("anyone")).is_ok());
    // Roles are the playbook's, one holder each.
    assert!(matches!(
        by(&pb, &mut st, "alice", &take("boss")).unwrap_err(),
        EngineError::UnknownRole { .. }
    ));
    by(&pb, &mut st, "alice", &take("lead")).unwrap();
    by(&pb, &mut st, "bob", &take("analyst")).unwrap();
    let held = by(&pb, &mut st, "mallory", &take("analyst")).unwrap_err();
    assert!(held.to_string().contains("held by bob"), "{held}");
    assert!(
        engine::decide(&pb, &st, &take("lead"), &env()).is_err(),
        "a role move names who"
    );
    // Starting is the lead's; the query step is the analyst's.
    assert!(by(&pb, &mut st, "bob", &Command::Start).is_err());
    by(&pb, &mut st, "alice", &Command::Start).unwrap();
    let submit = Command::SubmitQuery {
        step: s("reads"),
        sql: s("SELECT 1"),
        backend: s("local"),
        not_collected: vec![],
    };
    let not_hers = by(&pb, &mut st, "alice", &submit).unwrap_err();
    assert_eq!(
        not_hers.to_string(),
        "step `reads` is the analyst's to do, and bob holds that role: ask bob to hand it over (`irp handover CASE analyst --to NAME`) or the lead to override"
    );
    // Notes and evidence are open to everyone.
    by(&pb, &mut st, "mallory", &Command::AddNote { text: s("seen it") }).unwrap();
    by(&pb, &mut st, "bob", &submit).unwrap();
    // A result is recorded whoever holds the role by then.
    by(
        &pb,
        &mut st,
        "alice",
        &Command::QuerySucceeded {
            step: s("reads"),
            rows: vec![serde_json::json!({"ip": "203.0.113.9", "n": 500})],
            row_count: 1,
            artifact: None,
            execution: None,
        },
    )
    .unwrap();
    // A decision with no role is the lead's.
    let decide = Command::Decide {
        step: s("triage"),
        option: s("incident"),
        rationale: None,
    };
    assert!(matches!(
        by(&pb, &mut st, "bob", &decide).unwrap_err(),
        EngineError::NotYourRole { ref role, ref holder, .. } if role == "lead" && holder == "alice"
    ));
    by(&pb, &mut st, "alice", &decide).unwrap();
    // The engineer's role nobody holds: the lead stands in for it.
    assert_eq!(engine::acting_for(&pb, &st, "engineer"), Some("alice"));
    // Hand-over: only by the holder, to someone else.
    let hand = |to: &str| Command::HandOverRole {
        role: s("analyst"),
        to: s(to),
    };
    assert!(matches!(
        by(&pb, &mut st, "alice", &hand("carol")).unwrap_err(),
        EngineError::NotHolder { .. }
    ));
    assert!(by(&pb, &mut st, "bob", &hand("bob")).is_err());
    let e = by(&pb, &mut st, "bob", &hand("carol")).unwrap();
    assert!(matches!(e, Event::RoleHandedOver(ref h) if h.from == "bob" && h.to == "carol"));
    assert_eq!(st.roles.get("analyst").map(String::as_str), Some("carol"));
    // Override: the lead's, with a reason; anyone else is refused.
    let over = |to: &str, reason: &str| Command::OverrideRole {
        role: s("analyst"),
        to: s(to),
        reason: s(reason),
    };
    assert!(matches!(
        by(&pb, &mut st, "carol", &over("dave", "")).unwrap_err(),
        EngineError::ReasonRequired(_)
    ));
    assert!(matches!(
        by(&pb, &mut st, "carol", &over("dave", "carol is tired")).unwrap_err(),
        EngineError::NotLead { .. }
    ));
    let e = by(&pb, &mut st, "alice", &over("dave", "carol went off shift")).unwrap();
    assert!(matches!(e, Event::RoleOverridden(ref o) if o.from.as_deref() == Some("carol")));
    // The lead role itself, when its holder is gone: any role holder may take it over, in the
    // journal; a responder with no role may not.
    let lead_over = |to: &str| Command::OverrideRole {
        role: s("lead"),
        to: s(to),
        reason: s("alice is unreachable"),
    };
    assert!(by(&pb, &mut st, "mallory", &lead_over("mallory")).is_err());
    by(&pb, &mut st, "dave", &lead_over("dave")).unwrap();
    // Closing is the lead's.
    assert!(by(&pb, &mut st, "alice", &Command::Close { summary: s("done") }).is_err());
    assert_eq!(st.roles.get("lead").map(String::as_str), Some("dave"));
    by(&pb, &mut st, "dave", &Command::Close { summary: s("done") }).unwrap();
}
