//! The case worker: one thread that owns the session (and so the journal), the query backend
//! and the action executor. The UI asks it for moves and hears back in messages; nothing the
//! UI does waits on a query, an AWS call or a disk write.
//!
//! Every move goes through the same functions the headless driver uses (`Session::execute`,
//! `actions::advance`, `actions::settle_unknown`), so the UI and a headless run record a step
//! the same way and the same safety gates apply.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::mpsc::UnboundedSender;

use super::table::ResultTable;
use crate::case::Session;
use crate::case::actions::{self, ActionStep, Executor, UnknownAnswer};
use crate::case::backend::{Progress, QueryRunner, Watch};
use crate::case::items;
use crate::case::moves::{MoveError, query_step, settle_leftover};
use crate::engine::{self, ArtifactRef, Command, Event, Outcome};
use crate::journal::entry::Entry;
use crate::playbook::model::{ActionKind, StepKind};

/// A move the UI asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    /// Record one command (a note, a choice, a skip…).
    Record(Command),
    /// Render the step's SQL, record it, run it and record the result.
    RunQuery { step: String },
    /// Work out what confirming the action step will do.
    Preview { step: String },
    /// Confirm (with what the responder typed, and for a `for_each` step the items picked) and
    /// run the action step to its result.
    Act {
        step: String,
        typed: Option<String>,
        items: engine::ItemChoice,
    },
    /// Settle an action whose outcome is unknown.
    Settle { step: String, answer: UnknownAnswer },
    /// Read a stored result for the table.
    LoadResult {
        step: String,
        seq: u64,
        artifact: ArtifactRef,
    },
    /// Read a stored state file (an action's before or after) as text.
    LoadText { artifact: ArtifactRef },
}

/// What the worker reports.
#[derive(Debug, Clone)]
pub enum Reply {
    /// Entries written to the journal, in order.
    Recorded(Vec<Entry>),
    /// A move was refused or failed; nothing about it was recorded beyond what `Recorded` said.
    Problem {
        error: String,
        hints: Vec<String>,
    },
    QueryProgress {
        step: String,
        progress: Progress,
    },
    Preview {
        step: String,
        text: Result<String, String>,
    },
    Result {
        step: String,
        seq: u64,
        table: Result<Arc<ResultTable>, String>,
    },
    Text {
        path: String,
        text: Result<String, String>,
    },
    /// The request is finished; the worker waits for the next.
    Idle,
    /// A closed exercise's score, as lines of text.
    Score(Vec<String>),
}

/// The handle the UI keeps: the request queue and the running query's stop flag.
#[derive(Debug, Clone)]
pub struct Handle {
    pub requests: std::sync::mpsc::Sender<Request>,
    pub cancel: Arc<AtomicBool>,
    /// Set when the UI leaves: moves still queued that would run something (a query, an
    /// action) are dropped; what the responder typed (notes, evidence) is still recorded.
    pub leaving: Arc<AtomicBool>,
}

/// Starts the worker on its own thread. It stops when the request queue is dropped, after
/// finishing the move at hand; a query still running then is stopped and recorded as cancelled.
pub fn spawn(
    session: Session,
    backend: Option<Box<dyn QueryRunner + Send>>,
    executor: Executor,
    replies: UnboundedSender<Reply>,
) -> (Handle, std::thread::JoinHandle<Session>) {
    let (tx, rx) = std::sync::mpsc::channel::<Request>();
    let mut w = Worker::new(session, backend, executor, replies);
    let cancel = w.cancel.clone();
    let leaving = Arc::new(AtomicBool::new(false));
    let left = leaving.clone();
    let thread = std::thread::Builder::new()
        .name("irp-case".to_owned())
        .spawn(move || {
            w.start();
            loop {
                match rx.recv_timeout(std::time::Duration::from_secs(1)) {
                    Ok(req) => {
                        if left.load(Ordering::Relaxed) && !matches!(req, Request::Record(_)) {
                            continue;
                        }
                        w.serve(req);
                    }
                    // An exercise's injects land by the clock too, between moves.
                    Err(std::sync::mpsc::RecvTimeoutError::Timeout) => w.tick(),
                    Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
                }
            }
            w.session
        })
        .unwrap_or_else(|e| panic!("cannot start the case worker thread: {e}"));
    (
        Handle {
            requests: tx,
            cancel,
            leaving,
        },
        thread,
    )
}

/// The worker's state; `spawn` runs it on a thread, tests call `serve` directly.
pub struct Worker {
    session: Session,
    backend: Option<Box<dyn QueryRunner + Send>>,
    executor: Executor,
    replies: UnboundedSender<Reply>,
    cancel: Arc<AtomicBool>,
    /// Entries already sent to the UI.
    reported: usize,
    /// A rehearsal's exercise: its brief and the lake its injects land in.
    exercise: Option<crate::rehearse::Exercise>,
    /// Whether the closed exercise's score was sent.
    scored: bool,
    /// The last problem reading a shared case's new entries, said once until it changes.
    pull_problem: Option<String>,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("session", &self.session)
            .finish_non_exhaustive()
    }
}

impl Worker {
    pub fn new(
        session: Session,
        backend: Option<Box<dyn QueryRunner + Send>>,
        executor: Executor,
        replies: UnboundedSender<Reply>,
    ) -> Worker {
        let reported = session.entries.len();
        let exercise = match crate::rehearse::exercise_of(&session) {
            Some(Ok(x)) => Some(x),
            Some(Err(error)) => {
                let _ = replies.send(Reply::Problem {
                    error: format!("{error}; injects will not land and there will be no score"),
                    hints: vec!["`irp verify CASE` checks the case's files".to_owned()],
                });
                None
            }
            None => None,
        };
        let scored = session.state.closed.is_some();
        Worker {
            session,
            backend,
            executor,
            replies,
            cancel: Arc::new(AtomicBool::new(false)),
            pull_problem: None,
            reported,
            exercise,
            scored,
        }
    }

    /// Between moves: lands the exercise's injects that are due, and sends the score once the
    /// exercise is closed.
    pub fn tick(&mut self) {
        // A shared case: the other responders' entries land on this screen as they are read.
        if self.session.shared_url().is_some() {
            match self
                .session
                .pull()
                .and_then(|n| Ok(n + self.session.flush_outbox()?))
            {
                Ok(n) => {
                    self.pull_problem = None;
                    if n > 0 {
                        self.flush();
                    }
                }
                Err(e) => {
                    let error = e.to_string();
                    if self.pull_problem.as_deref() != Some(error.as_str()) {
                        self.pull_problem = Some(error.clone());
                        let _ = self.replies.send(Reply::Problem {
                            error,
                            hints: e.hints(),
                        });
                    }
                }
            }
        }
        let Some(exercise) = &self.exercise else {
            return;
        };
        self.reported = self.session.entries.len();
        let result = exercise.land_due(&mut self.session, &mut |_| {});
        if result.as_ref().is_ok_and(|landed| *landed)
            && let Some(b) = self.backend.as_mut()
        {
            b.lake_changed();
        }
        self.report(result.map(|_| ()));
        if self.session.state.closed.is_some() && !self.scored {
            self.scored = true;
            let now = self.session.env().now;
            let reply = match crate::rehearse::score_case(&self.session.dir.root, now) {
                Ok(Some(score)) => Reply::Score(score.lines()),
                Ok(None) => return,
                Err(error) => Reply::Problem {
                    error: format!("the score cannot be worked out: {error}"),
                    hints: Vec::new(),
                },
            };
            let _ = self.replies.send(reply);
        }
    }

    /// Settles what a process that died left in flight on the current step (as a headless
    /// resume does), so the responder starts from a step that can be worked on.
    pub fn start(&mut self) {
        let Some(id) = self.session.state.current_step().map(str::to_owned) else {
            return;
        };
        let result = settle_leftover(&mut self.session, &id, &mut |_| {});
        self.report(result.map(|_| ()));
    }

    /// Sends the entries recorded since the last report, then the problem, if any.
    /// Sends the entries recorded since the last report.
    fn flush(&mut self) {
        let new = self.session.entries[self.reported..].to_vec();
        self.reported = self.session.entries.len();
        if !new.is_empty() {
            let _ = self.replies.send(Reply::Recorded(new));
        }
    }

    fn report(&mut self, result: Result<(), MoveError>) {
        self.flush();
        if let Err(e) = result {
            let (error, hints) = describe(&e);
            let _ = self.replies.send(Reply::Problem { error, hints });
        }
    }

    /// The flag that stops the running query.
    pub fn cancel_flag(&self) -> Arc<AtomicBool> {
        self.cancel.clone()
    }

    pub fn session(&self) -> &Session {
        &self.session
    }

    /// Carries out one request, reports what it recorded and found, then `Idle`.
    pub fn serve(&mut self, req: Request) {
        self.handle(req);
        self.tick();
        let _ = self.replies.send(Reply::Idle);
    }

    fn handle(&mut self, req: Request) {
        self.reported = self.session.entries.len();
        let result = match req {
            Request::Record(cmd) => self.session.execute(&cmd).map(|_| ()).map_err(MoveError::Case),
            Request::RunQuery { step } => self.run_query(&step),
            Request::Preview { step } => {
                let text = self.preview(&step).map_err(|e| describe(&e).0);
                let _ = self.replies.send(Reply::Preview { step, text });
                Ok(())
            }
            Request::Act { step, typed, items } => self.act(&step, typed.as_deref(), &items),
            Request::Settle { step, answer } => self.settle(&step, answer),
            Request::LoadResult { .. } | Request::LoadText { .. } => {
                if let Some(reply) = load(&self.session.dir, req) {
                    let _ = self.replies.send(reply);
                }
                Ok(())
            }
        };
        self.report(result);
    }

    fn run_query(&mut self, id: &str) -> Result<(), MoveError> {
        let Some(backend) = self.backend.as_deref_mut() else {
            return Err(MoveError::NoBackend { step: id.to_owned() });
        };
        let replies = self.replies.clone();
        let step = id.to_owned();
        let mut progress = move |p: &Progress| {
            let _ = replies.send(Reply::QueryProgress {
                step: step.clone(),
                progress: p.clone(),
            });
        };
        // The flag is cleared after each run, not before: a leaving UI sets it, and a query
        // that starts after that stops at once.
        let watch = Watch {
            cancel: &self.cancel,
            progress: &mut progress,
        };
        let reported = &mut self.reported;
        let replies = &self.replies;
        // The submission is journaled before the query starts: say so now, not after the run.
        let mut submitted = |s: &Session| {
            let _ = replies.send(Reply::Recorded(s.entries[*reported..].to_vec()));
            *reported = s.entries.len();
        };
        let result = query_step(&mut self.session, backend, id, watch, &mut submitted, &mut |_| {});
        self.cancel.store(false, Ordering::Relaxed);
        result
    }

    fn intent(&self, id: &str) -> Result<(usize, engine::Intent), MoveError> {
        let s = &self.session;
        let index = s
            .playbook
            .step_index(id)
            .ok_or_else(|| MoveError::Case(engine::EngineError::UnknownStep(id.to_owned()).into()))?;
        let intent = engine::render_intent(&s.playbook, &s.state, index, &s.env()).map_err(|m| {
            failed(
                id,
                &format!(
                    "the action cannot be rendered: {m}; a value it reads has none (was the query that captures it skipped or failed?)"
                ),
            )
        })?;
        Ok((index, intent))
    }

    /// The step's action, when it runs once per item of a list.
    fn for_each(&self, id: &str) -> Option<(usize, crate::playbook::model::ActionStep)> {
        let index = self.session.playbook.step_index(id)?;
        match &self.session.playbook.steps[index].kind {
            StepKind::Action(a) if a.runs_per_item() => Some((index, a.clone())),
            _ => None,
        }
    }

    fn preview(&mut self, id: &str) -> Result<String, MoveError> {
        if let Some((index, action)) = self.for_each(id) {
            let choice = engine::ItemChoice::default();
            let step = items::ItemsStep {
                id,
                index,
                action: &action,
                typed: None,
                choice: &choice,
                timeout: None,
            };
            let mut report = |_: &crate::engine::StepLine| {};
            return items::preview(&mut self.session, &mut self.executor, step, &mut report).map(|p| p.text);
        }
        let (_, intent) = self.intent(id)?;
        let mut report = |_: &crate::engine::StepLine| {};
        actions::preview(&mut self.session, &mut self.executor, id, &intent, &mut report)
    }

    /// Confirms and runs an `aws` or `command` action, one recorded move at a time, until the
    /// step has its result (or a move fails, or the confirmation is refused).
    fn act(&mut self, id: &str, typed: Option<&str>, items: &engine::ItemChoice) -> Result<(), MoveError> {
        if let Some((index, action)) = self.for_each(id) {
            return self.act_items(id, index, &action, typed, items);
        }
        let (index, intent) = self.intent(id)?;
        let StepKind::Action(action) = &self.session.playbook.steps[index].kind else {
            return Err(failed(id, "this step is not an action"));
        };
        if matches!(action.kind, ActionKind::Manual { .. }) {
            return Err(failed(id, "a checklist is ticked item by item"));
        }
        let confirm = action.confirm;
        let timeout = self.session.playbook.steps[index].timeout;
        let mut report = |_: &crate::engine::StepLine| {};
        // Each call makes one move (confirm, intent, result); a handful is enough for any action.
        for _ in 0..8 {
            if self.session.state.current_step() != Some(id) {
                return Ok(());
            }
            let step = ActionStep {
                id,
                intent: &intent,
                confirm,
                typed,
                timeout,
            };
            let before = self.session.entries.len();
            actions::advance(&mut self.session, &mut self.executor, step, &mut report)?;
            let new = &self.session.entries[before..];
            let settled = new
                .iter()
                .any(|e| matches!(e.event, Event::ActionFinished(_) | Event::ActionConflict(_)));
            if new.is_empty() || settled {
                return Ok(());
            }
        }
        Ok(())
    }

    /// Confirms every item still to act on and runs each in turn, one recorded move at a time,
    /// until the step is settled (or a move fails, or the confirmation is refused).
    fn act_items(
        &mut self,
        id: &str,
        index: usize,
        action: &crate::playbook::model::ActionStep,
        typed: Option<&str>,
        choice: &engine::ItemChoice,
    ) -> Result<(), MoveError> {
        let timeout = self.session.playbook.steps[index].timeout;
        let mut report = |_: &crate::engine::StepLine| {};
        let total =
            engine::item_list(&self.session.playbook, &self.session.state, index).map_or(0, <[_]>::len);
        // A confirmation, then an intent and a result per item. Asked on a step whose items are
        // settled with failures, it runs the failed ones again; it stops when they are settled
        // again, or when an outcome is unknown.
        let start = self.session.entries.len();
        for _ in 0..2 + 2 * total {
            if self.session.state.current_step() != Some(id) {
                return Ok(());
            }
            let st = self.session.state.step(id).cloned().unwrap_or_default();
            let moved = self.session.entries.len() > start;
            if (moved && st.status == engine::StepStatus::Failed)
                || st.items.values().any(|r| r.outcome == Some(Outcome::Unknown))
            {
                return Ok(());
            }
            let step = items::ItemsStep {
                id,
                index,
                action,
                typed,
                choice,
                timeout,
            };
            let before = self.session.entries.len();
            items::advance(&mut self.session, &mut self.executor, step, &mut report)?;
            let new = &self.session.entries[before..];
            if new.is_empty() || new.iter().any(|e| matches!(e.event, Event::ActionConflict(_))) {
                return Ok(());
            }
            // Each item's entries reach the screen as they are made: a long list shows its
            // progress (`Items: 37/200 in place`) while it runs.
            self.flush();
        }
        Ok(())
    }

    fn settle(&mut self, id: &str, answer: UnknownAnswer) -> Result<(), MoveError> {
        if self.for_each(id).is_some() {
            let mut report = |_: &crate::engine::StepLine| {};
            return items::settle_unknown_item(
                &mut self.session,
                &mut self.executor,
                id,
                Some(answer),
                &mut report,
            )
            .and_then(|settled| {
                if settled {
                    Ok(())
                } else {
                    Err(failed(id, "no item of this step has an unknown outcome"))
                }
            });
        }
        let intent = self
            .session
            .state
            .action_run(id)
            .map(|run| run.intent.clone())
            .ok_or_else(|| failed(id, "this step has no action whose outcome is unknown"))?;
        if self.session.state.step(id).and_then(|s| s.last_outcome) != Some(Outcome::Unknown) {
            return Err(failed(id, "this step's outcome is known"));
        }
        let mut report = |_: &crate::engine::StepLine| {};
        actions::settle_unknown(
            &mut self.session,
            &mut self.executor,
            actions::Target::step(id),
            &intent,
            Some(answer),
            &mut report,
        )
    }
}

fn failed(step: &str, error: &str) -> MoveError {
    MoveError::StepFailed {
        step: step.to_owned(),
        error: error.to_owned(),
    }
}

/// A stop as the UI shows it: the message, and what to do.
fn describe(stop: &MoveError) -> (String, Vec<String>) {
    let hints = match stop {
        // The headless hints speak of answers files; in the UI the step is in front of the
        // responder.
        MoveError::MissingAnswer { .. }
        | MoveError::StepFailed { .. }
        | MoveError::NoBackend { .. }
        | MoveError::Loop { .. } => Vec::new(),
        other => other.hints(),
    };
    (stop.to_string(), hints)
}

/// Serves a request that only reads the case folder (a stored result, a stored state), for the
/// worker and for review alike; `None` for any other request.
pub fn load(dir: &crate::journal::CaseDir, req: Request) -> Option<Reply> {
    match req {
        Request::LoadResult { step, seq, artifact } => {
            let table = crate::case::read_artifact(dir, &artifact)
                .map_err(|e| e.to_string())
                .and_then(ResultTable::from_parquet)
                .map(Arc::new);
            Some(Reply::Result { step, seq, table })
        }
        Request::LoadText { artifact } => {
            let text = crate::case::read_artifact(dir, &artifact)
                .map_err(|e| e.to_string())
                .map(|bytes| {
                    // States are JSON; shown pretty, whatever their bytes.
                    match serde_json::from_slice::<serde_json::Value>(&bytes) {
                        Ok(v) => serde_json::to_string_pretty(&v).unwrap_or_default(),
                        Err(_) => String::from_utf8_lossy(&bytes).into_owned(),
                    }
                });
            Some(Reply::Text {
                path: artifact.path,
                text,
            })
        }
        _ => None,
    }
}
