//! The terminal UI: a responder walks a case in a ratatui + crossterm screen on a tokio select
//! loop (terminal events, the case worker's replies, a clock tick).
//!
//! - `model`: the state and the one pure `update(&mut Model, Msg) -> Vec<Cmd>`;
//! - `view`: drawing, read-only;
//! - `keymap`: every key, as data (the `?` overlay lists it);
//! - `worker`: the thread that owns the session and runs queries and actions;
//! - `review`: `irp review`, the same screens read-only over a finished journal;
//! - `table`, `text`: results held as Arrow and formatted only when drawn; Markdown and SQL.
//!
//! Nothing but the UI writes to the terminal while it runs: problems also go to `ui.log` in the
//! case folder. The terminal is restored on return, on a panic, and on SIGTERM or SIGHUP (which
//! end the session as `q` does: everything recorded stays recorded).

pub mod keymap;
pub mod model;
pub mod review;
pub mod table;
pub mod text;
pub mod view;
pub mod worker;

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crossterm::event::{DisableBracketedPaste, EnableBracketedPaste, Event as TermEvent, EventStream};
use crossterm::execute;
use crossterm::terminal::{EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode};
use futures::StreamExt;
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;

use crate::case::Session;
use crate::case::actions::Executor;
use crate::case::backend::QueryRunner;
use crate::clock::Clock;
use model::{CaseInfo, Cmd, Model, Msg};
use text::Theme;
use worker::Reply;

/// What the UI needs to start.
pub struct Launch {
    pub session: Session,
    pub backend: Option<Box<dyn QueryRunner + Send>>,
    pub executor: Executor,
    pub color: bool,
}

impl std::fmt::Debug for Launch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Launch").finish_non_exhaustive()
    }
}

/// Why the UI could not run or stopped.
#[derive(Debug, thiserror::Error)]
pub enum UiError {
    #[error("the terminal UI needs a terminal, and {0} is not one")]
    NotATerminal(&'static str),
    #[error("the terminal: {0}")]
    Terminal(#[from] std::io::Error),
    #[error("the case worker stopped unexpectedly; everything it recorded is in the journal")]
    WorkerLost,
}

/// The model for a session, before the worker takes the session over.
pub fn model_for(
    session: &Session,
    backend: Option<&str>,
    theme: Theme,
    now: chrono::DateTime<chrono::Utc>,
) -> Model {
    let opened = session.state.opened.as_ref();
    let info = CaseInfo {
        case: opened.map(|o| o.case.clone()).unwrap_or_default(),
        folder: session.dir.root.display().to_string(),
        mode: opened.map(|o| o.mode),
        live_target: None,
        backend: backend.map(str::to_owned),
        review: false,
    };
    Model::new(
        info,
        Arc::new(session.playbook.clone()),
        session.naming().clone(),
        &session.entries,
        now,
        theme,
    )
}

/// Whether there is a terminal to draw on; a caller asks before opening a case for the UI.
pub fn check_terminal() -> Result<(), UiError> {
    if !std::io::stdin().is_terminal() {
        return Err(UiError::NotATerminal("standard input"));
    }
    if !std::io::stdout().is_terminal() {
        return Err(UiError::NotATerminal("standard output"));
    }
    Ok(())
}

/// Runs the UI until the responder quits. The session is handed to the worker and released
/// (its lock with it) when the UI returns. The caller has checked the terminal
/// (`check_terminal`).
pub fn run(launch: Launch) -> Result<(), UiError> {
    let clock = Clock::from_env().unwrap_or(Clock::System);
    let theme = Theme { color: launch.color };
    let backend_name = launch.backend.as_ref().map(|b| b.name().to_owned());
    let mut model = model_for(&launch.session, backend_name.as_deref(), theme, clock.now());
    let log_path = launch.session.dir.path(crate::journal::CaseDir::UI_LOG);
    let mut log = Log::open(&log_path);
    log.line(&format!("ui started for case {}", model.info.case));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Reply>();
    let (handle, thread) = worker::spawn(launch.session, launch.backend, launch.executor, tx);
    let guard = TerminalGuard::enter()?;
    let result = runtime.block_on(async {
        let mut terminal = Terminal::new(CrosstermBackend::new(std::io::stdout()))?;
        terminal.clear()?;
        let size = terminal.size()?;
        model::update(&mut model, Msg::Resize(size.width, size.height));
        let mut events = EventStream::new();
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
        loop {
            terminal.draw(|f| view::view(&model, f))?;
            let msg = tokio::select! {
                ev = events.next() => match ev {
                    Some(Ok(TermEvent::Key(k))) => Msg::Key(k),
                    Some(Ok(TermEvent::Resize(w, h))) => Msg::Resize(w, h),
                    Some(Ok(TermEvent::Paste(s))) => Msg::Paste(s),
                    Some(Ok(_)) => continue,
                    Some(Err(e)) => return Err(UiError::Terminal(e)),
                    None => break,
                },
                reply = rx.recv() => match reply {
                    Some(r) => {
                        if let Reply::Problem { error, .. } = &r {
                            log.line(&format!("problem: {error}"));
                        }
                        Msg::Worker(r)
                    }
                    None => return Err(UiError::WorkerLost),
                },
                _ = tick.tick() => Msg::Tick(clock.now()),
                _ = term.recv() => { log.line("SIGTERM: leaving"); break }
                _ = hup.recv() => { log.line("SIGHUP: leaving"); break }
            };
            let mut quit = false;
            for cmd in model::update(&mut model, msg) {
                match cmd {
                    Cmd::Send(req) => {
                        if handle.requests.send(*req).is_err() {
                            return Err(UiError::WorkerLost);
                        }
                    }
                    Cmd::CancelQuery => handle.cancel.store(true, Ordering::Relaxed),
                    Cmd::Quit => quit = true,
                }
            }
            if quit {
                break;
            }
        }
        Ok(())
    });
    drop(guard);
    // Leaving: a running query is stopped (and journaled as cancelled); any other move at hand
    // finishes and is journaled before the session, and its lock, is released.
    handle.leaving.store(true, Ordering::Relaxed);
    handle.cancel.store(true, Ordering::Relaxed);
    let worker::Handle { requests, .. } = handle;
    drop(requests);
    if model.busy() {
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "irp: finishing the move at hand before leaving…");
    }
    let joined = thread.join();
    log.line("ui stopped");
    runtime.shutdown_background();
    match joined {
        Ok(_session) => result,
        Err(_) => Err(UiError::WorkerLost),
    }
}

/// Raw mode and the alternate screen, undone on drop and on a panic.
pub(crate) struct TerminalGuard;

impl TerminalGuard {
    pub(crate) fn enter() -> Result<TerminalGuard, std::io::Error> {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore();
            previous(info);
        }));
        enable_raw_mode()?;
        execute!(std::io::stdout(), EnterAlternateScreen, EnableBracketedPaste)?;
        Ok(TerminalGuard)
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore();
        let _ = std::panic::take_hook();
    }
}

fn restore() {
    let _ = disable_raw_mode();
    let _ = execute!(
        std::io::stdout(),
        DisableBracketedPaste,
        LeaveAlternateScreen,
        crossterm::cursor::Show
    );
}

/// The UI's log file; a log that cannot be written is not a reason to stop a responder.
struct Log(Option<std::fs::File>);

impl Log {
    fn open(path: &std::path::Path) -> Log {
        Log(std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .ok())
    }

    fn line(&mut self, text: &str) {
        if let Some(f) = &mut self.0 {
            let _ = writeln!(
                f,
                "{} {text}",
                chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
            );
        }
    }
}
