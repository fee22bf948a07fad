//! `irp review CASE`: the UI's screens, read-only, over a case's journal. The review holds the
//! entries and a cursor; the model is the case folded up to the cursor, so the screen shows the
//! case exactly as it stood after that entry: the step, its stored result, the decision and its
//! rationale, the action's before and after.
//!
//! Read-only by construction: there is no session (no lock, no journal writer), no query
//! backend and no executor. Keys go to the model only when their action is `read_only`, and the
//! only requests served are reads of files the entries vouch for, checked against their hashes.

use std::sync::Arc;

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind};

use super::keymap::{self, Action, Scope};
use super::model::{self, CaseInfo, Cmd, JournalLine, Model, Msg, Purpose, Screen, Status, Timeline};
use super::text::Theme;
use super::worker::{self, Request};
use crate::engine::Event;
use crate::journal::Entry;
use crate::playbook::context::TableNaming;
use crate::playbook::model::Playbook;
use crate::report::{CaseRecord, kind_class};

/// Which entries the timeline shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    pub stage: Option<String>,
    pub kind: Option<String>,
    pub actor: Option<String>,
}

impl Filter {
    /// Parses `stage=ID kind=KIND actor=NAME` (any of them, any order; empty: everything).
    pub fn parse(text: &str, playbook: &Playbook) -> Result<Filter, String> {
        let mut f = Filter::default();
        for word in text.split_whitespace() {
            let Some((k, v)) = word.split_once('=') else {
                return Err(format!(
                    "`{word}` is not a filter: write stage=ID, kind=KIND or actor=NAME"
                ));
            };
            match k {
                "stage" => {
                    if !playbook.stages.iter().any(|s| s.id == v) {
                        let ids: Vec<&str> = playbook.stages.iter().map(|s| s.id.as_str()).collect();
                        return Err(format!("no stage `{v}`; the stages are {}", ids.join(", ")));
                    }
                    f.stage = Some(v.to_owned());
                }
                "kind" => {
                    if !crate::report::KIND_CLASSES.contains(&v) {
                        return Err(format!(
                            "no kind `{v}`; the kinds are {}",
                            crate::report::KIND_CLASSES.join(", ")
                        ));
                    }
                    f.kind = Some(v.to_owned());
                }
                "actor" => f.actor = Some(v.to_owned()),
                other => {
                    return Err(format!(
                        "`{other}` cannot filter the timeline: use stage, kind or actor"
                    ));
                }
            }
        }
        Ok(f)
    }
}

/// One entry's facts the filter and the jumps look at.
#[derive(Debug, Clone)]
struct Facts {
    stage: Option<String>,
    kind: &'static str,
    decision: bool,
}

#[derive(Debug)]
pub struct Review {
    entries: Arc<Vec<Entry>>,
    facts: Vec<Facts>,
    /// Every entry's line, the ones the filter shows, the cursor, the chain's status: handed to
    /// the model after each move (the model is rebuilt when the cursor goes back).
    timeline: Timeline,
    filter: Filter,
    pub model: Model,
    quitting: bool,
}

impl Review {
    /// Opens the review at the last entry.
    pub fn new(record: &CaseRecord, theme: Theme) -> Review {
        let entries = Arc::new(record.scan.entries.clone());
        let playbook = Arc::new(record.playbook.clone());
        let facts = entries
            .iter()
            .map(|e| Facts {
                stage: e
                    .event
                    .step()
                    .and_then(|s| playbook.step(s))
                    .map(|s| playbook.stages[s.stage].id.clone()),
                kind: kind_class(&e.event),
                decision: matches!(e.event, Event::Decided(_)),
            })
            .collect();
        let lines = entries
            .iter()
            .map(|e| JournalLine {
                seq: e.seq,
                at: e.at,
                actor: e.actor.clone(),
                text: crate::engine::describe(&e.event),
                signed_by: record.signatures.key_of(e.seq).map(str::to_owned),
            })
            .collect::<Vec<_>>();
        let head = record.scan.head();
        let signed = record.signatures.signed_count();
        let signed = if signed == 0 {
            " · unsigned".to_owned()
        } else {
            format!(" · {signed} of {} signed", entries.len())
        };
        let (chain_ok, mut chain) = match (&record.problem, &record.scan.torn) {
            (Some(p), _) => (false, format!("chain DAMAGED at seq {}: {}", p.seq, p.what)),
            (None, Some(t)) => (true, format!("chain verified · torn tail of {} bytes", t.len())),
            (None, None) => (
                true,
                format!(
                    "chain verified · head {}",
                    crate::journal::entry::short_hash(head)
                ),
            ),
        };
        chain.push_str(&signed);
        let info = CaseInfo {
            case: record.opened.case.clone(),
            folder: record.dir.root.display().to_string(),
            mode: Some(record.opened.mode),
            live_target: None,
            backend: None,
            review: true,
        };
        let last = entries.len().saturating_sub(1);
        let model = Model::new(
            info,
            playbook,
            TableNaming::default(),
            &[],
            entries.first().map_or_else(chrono::Utc::now, |e| e.at),
            theme,
        );
        let mut r = Review {
            timeline: Timeline {
                shown: Arc::new((0..lines.len()).collect()),
                lines: Arc::new(lines),
                cursor: 0,
                chain,
                chain_ok,
                filter: String::new(),
            },
            entries,
            facts,
            filter: Filter::default(),
            model,
            quitting: false,
        };
        r.rebuild(last);
        r
    }

    /// The entry the case is shown at.
    pub fn cursor(&self) -> usize {
        self.timeline.cursor
    }

    pub fn entry(&self) -> Option<&Entry> {
        self.entries.get(self.timeline.cursor)
    }

    pub fn filter(&self) -> &Filter {
        &self.filter
    }

    /// The case folded from scratch up to `index`.
    fn rebuild(&mut self, index: usize) {
        let end = (index + 1).min(self.entries.len());
        let mut m = Model::new(
            self.model.info.clone(),
            self.model.playbook.clone(),
            TableNaming::default(),
            &self.entries[..end],
            self.model.now,
            self.model.theme,
        );
        // What is loaded stays loaded: files do not change with the cursor.
        m.size = self.model.size;
        m.texts = std::mem::take(&mut self.model.texts);
        m.loaded = self.model.loaded.take();
        m.grid = std::mem::take(&mut self.model.grid);
        m.screen = self.model.screen;
        m.status = self.model.status.take();
        self.model = m;
        self.timeline.cursor = index.min(self.entries.len().saturating_sub(1));
    }

    /// Moves the cursor to entry `index` and shows the case as it stood then.
    pub fn go(&mut self, index: usize) -> Vec<Cmd> {
        let index = index.min(self.entries.len().saturating_sub(1));
        if index > self.timeline.cursor {
            for e in &self.entries[self.timeline.cursor + 1..=index] {
                self.model.apply(e);
            }
            self.timeline.cursor = index;
        } else if index < self.timeline.cursor {
            self.rebuild(index);
        }
        self.show()
    }

    /// After a move (and once after opening): the step on screen is the one the entry is about (or where the case stood),
    /// the clock is the entry's time, and the timeline is drawn around the cursor.
    pub fn show(&mut self) -> Vec<Cmd> {
        let Some(e) = self.entries.get(self.timeline.cursor) else {
            return Vec::new();
        };
        let at = e.at;
        let about = e
            .event
            .step()
            .filter(|s| self.model.playbook.step(s).is_some())
            .map(str::to_owned)
            .or_else(|| self.model.state.current_step().map(str::to_owned));
        self.model.pinned = about;
        self.model.timeline = Some(self.timeline.clone());
        let status = self.model.status.take();
        let cmds = model::update(&mut self.model, Msg::Tick(at));
        self.model.status = status;
        cmds
    }

    fn say(&mut self, error: bool, text: impl Into<String>) {
        self.model.status = Some(Status {
            error,
            text: text.into(),
        });
    }

    /// The shown entry after (or before) the cursor that `pred` accepts.
    fn find(&self, forward: bool, pred: impl Fn(usize) -> bool) -> Option<usize> {
        if forward {
            self.timeline
                .shown
                .iter()
                .copied()
                .find(|&i| i > self.timeline.cursor && pred(i))
        } else {
            self.timeline
                .shown
                .iter()
                .rev()
                .copied()
                .find(|&i| i < self.timeline.cursor && pred(i))
        }
    }

    fn jump(&mut self, action: Action) -> Vec<Cmd> {
        let stage_here = self.facts.get(self.timeline.cursor).and_then(|f| f.stage.clone());
        let target = match action {
            Action::NextEntry => self.find(true, |_| true),
            Action::PreviousEntry => self.find(false, |_| true),
            Action::FirstEntry => self.timeline.shown.first().copied(),
            Action::LastEntry => self.timeline.shown.last().copied(),
            Action::NextDecision => self.find(true, |i| self.facts[i].decision),
            Action::PreviousDecision => self.find(false, |i| self.facts[i].decision),
            Action::NextStage => self.find(true, |i| {
                self.facts[i].stage.is_some() && self.facts[i].stage != stage_here
            }),
            Action::PreviousStage => {
                // The start of the stage before the one at the cursor.
                let before = self.find(false, |i| {
                    self.facts[i].stage.is_some() && self.facts[i].stage != stage_here
                });
                before.map(|b| {
                    let stage = self.facts[b].stage.clone();
                    let mut start = b;
                    for &j in self.timeline.shown.iter().rev().filter(|&&j| j < b) {
                        match &self.facts[j].stage {
                            Some(s) if Some(s) == stage.as_ref() => start = j,
                            Some(_) => break,
                            None => {}
                        }
                    }
                    start
                })
            }
            _ => None,
        };
        if let Some(i) = target {
            self.model.status = None;
            self.go(i)
        } else {
            let what = match action {
                Action::NextEntry | Action::LastEntry => "this is the last entry shown",
                Action::PreviousEntry | Action::FirstEntry => "this is the first entry shown",
                Action::NextDecision => "no decision after this entry",
                Action::PreviousDecision => "no decision before this entry",
                Action::NextStage => "no later stage",
                _ => "no earlier stage",
            };
            self.say(false, what);
            Vec::new()
        }
    }

    fn apply_filter(&mut self, text: &str) -> Vec<Cmd> {
        let filter = match Filter::parse(text, &self.model.playbook) {
            Ok(f) => f,
            Err(e) => {
                self.say(true, e);
                // Keep what was typed.
                self.model.input = Some(model::Input {
                    purpose: Purpose::TimelineFilter,
                    text: text.to_owned(),
                    observable: crate::engine::Observable::Text,
                });
                return Vec::new();
            }
        };
        let shown: Vec<usize> = (0..self.entries.len())
            .filter(|&i| {
                let f = &self.facts[i];
                filter.stage.as_ref().is_none_or(|s| f.stage.as_ref() == Some(s))
                    && filter.kind.as_deref().is_none_or(|k| f.kind == k)
                    && filter.actor.as_ref().is_none_or(|a| self.entries[i].actor == *a)
            })
            .collect();
        if shown.is_empty() {
            self.say(
                true,
                format!("no entry matches `{text}`; the filter is unchanged"),
            );
            return Vec::new();
        }
        let here = shown
            .iter()
            .copied()
            .find(|&i| i >= self.timeline.cursor)
            .or_else(|| shown.last().copied())
            .unwrap_or(0);
        self.say(
            false,
            if text.trim().is_empty() {
                format!("all {} entries", self.entries.len())
            } else {
                format!(
                    "{} of {} entries match `{}`",
                    shown.len(),
                    self.entries.len(),
                    text.trim()
                )
            },
        );
        self.filter = filter;
        text.trim().clone_into(&mut self.timeline.filter);
        self.timeline.shown = Arc::new(shown);
        let mut cmds = self.go(here);
        if here == self.timeline.cursor {
            cmds.extend(self.show());
        }
        cmds
    }
}

/// The review's one transition. Commands are only `Send` of reads and `Quit`.
pub fn update(r: &mut Review, msg: Msg) -> Vec<Cmd> {
    let mut cmds = match msg {
        Msg::Key(k) if k.kind != KeyEventKind::Release => key(r, k),
        // A key's release; and the clock, which is the entry's, not the wall's.
        Msg::Key(_) | Msg::Tick(_) => Vec::new(),
        other => model::update(&mut r.model, other),
    };
    // Nothing but reads leaves the review; anything else would be a bug, refused here too.
    let before = cmds.len();
    cmds.retain(|c| match c {
        Cmd::Send(req) => matches!(**req, Request::LoadResult { .. } | Request::LoadText { .. }),
        Cmd::CancelQuery => false,
        Cmd::Quit => true,
    });
    if cmds.len() != before {
        r.say(true, "review is read-only: nothing can be run or recorded");
    }
    if r.quitting || r.model.quitting {
        cmds.push(Cmd::Quit);
    }
    cmds
}

fn key(r: &mut Review, k: KeyEvent) -> Vec<Cmd> {
    let ctrl_c =
        k.code == KeyCode::Char('c') && k.modifiers.contains(crossterm::event::KeyModifiers::CONTROL);
    if ctrl_c {
        r.quitting = true;
        return Vec::new();
    }
    if let Some(input) = &r.model.input {
        if input.purpose == Purpose::TimelineFilter
            && matches!(
                keymap::lookup(k.code, k.modifiers, &[Scope::TextBox]),
                Some(Action::Save | Action::Enter)
            )
        {
            let text = input.text.clone();
            r.model.input = None;
            return r.apply_filter(&text);
        }
        return model::update(&mut r.model, Msg::Key(k));
    }
    if let Some(p) = &r.model.picker
        && p.purpose == model::Pick::Stage
        && keymap::lookup(k.code, k.modifiers, &[Scope::List]) == Some(Action::Primary)
    {
        let stage = p.items.get(p.cursor).cloned();
        r.model.picker = None;
        let first = stage.and_then(|st| {
            r.timeline
                .shown
                .iter()
                .copied()
                .find(|&i| r.facts[i].stage.as_deref() == Some(st.as_str()))
        });
        if let Some(i) = first {
            r.model.status = None;
            return r.go(i);
        }
        r.say(false, "no entry of that stage is shown");
        return Vec::new();
    }
    if r.model.popup.is_some() || r.model.picker.is_some() || r.model.screen != Screen::Main {
        return model::update(&mut r.model, Msg::Key(k));
    }
    let mut scopes = vec![Scope::Review];
    if r.model.result_table().is_some() {
        scopes.push(Scope::Results);
    }
    scopes.push(Scope::Case);
    let Some(action) = keymap::lookup(k.code, k.modifiers, &scopes) else {
        // A key that moves a case elsewhere (run, cancel, tick, rationale, V/D/N) says why it
        // does nothing here.
        let moves = [Scope::Query, Scope::Decision, Scope::Checklist, Scope::Unknown];
        if keymap::lookup(k.code, k.modifiers, &moves).is_some() {
            r.say(true, "review is read-only: nothing can be run or recorded");
        }
        return Vec::new();
    };
    match action {
        Action::Quit => {
            r.quitting = true;
            Vec::new()
        }
        Action::PickStage => {
            // The stages the shown entries touch, in the playbook's order.
            let items: Vec<String> = r
                .model
                .playbook
                .stages
                .iter()
                .filter(|st| {
                    r.timeline
                        .shown
                        .iter()
                        .any(|&i| r.facts[i].stage.as_deref() == Some(st.id.as_str()))
                })
                .map(|st| st.id.clone())
                .collect();
            if items.is_empty() {
                r.say(false, "no entry shown belongs to a stage");
            } else {
                let here = r.facts.get(r.timeline.cursor).and_then(|f| f.stage.clone());
                let cursor = items.iter().position(|s| Some(s) == here.as_ref()).unwrap_or(0);
                r.model.picker = Some(model::Picker {
                    items,
                    cursor,
                    purpose: model::Pick::Stage,
                });
            }
            Vec::new()
        }
        Action::FilterTimeline => {
            r.model.input = Some(model::Input {
                purpose: Purpose::TimelineFilter,
                text: r.timeline.filter.clone(),
                observable: crate::engine::Observable::Text,
            });
            Vec::new()
        }
        Action::PreviousEntry
        | Action::NextEntry
        | Action::FirstEntry
        | Action::LastEntry
        | Action::PreviousStage
        | Action::NextStage
        | Action::PreviousDecision
        | Action::NextDecision => r.jump(action),
        a if a.read_only() => model::update(&mut r.model, Msg::Key(k)),
        _ => {
            r.say(true, "review is read-only: nothing can be run or recorded");
            Vec::new()
        }
    }
}

/// Serves the review's reads in place (they are files in the case folder) and feeds the
/// replies back.
pub fn serve(r: &mut Review, dir: &crate::journal::CaseDir, cmds: Vec<Cmd>) -> bool {
    let mut quit = false;
    let mut queue = cmds;
    while !queue.is_empty() {
        let mut next = Vec::new();
        for c in queue {
            match c {
                Cmd::Send(req) => {
                    if let Some(reply) = worker::load(dir, *req) {
                        next.extend(update(r, Msg::Worker(reply)));
                    }
                    next.extend(update(r, Msg::Worker(worker::Reply::Idle)));
                }
                Cmd::Quit => quit = true,
                Cmd::CancelQuery => {}
            }
        }
        queue = next;
    }
    quit
}

/// Runs the review in the terminal until `q`.
pub fn run(record: &CaseRecord, color: bool) -> Result<(), super::UiError> {
    use crossterm::event::{Event as TermEvent, EventStream};
    use futures::StreamExt;
    use ratatui::Terminal;
    use ratatui::backend::CrosstermBackend;

    let mut review = Review::new(record, Theme { color });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let guard = super::TerminalGuard::enter()?;
    let result = runtime.block_on(async {
        let mut terminal = Terminal::new(CrosstermBackend::new(std::io::stdout()))?;
        terminal.clear()?;
        let size = terminal.size()?;
        let cmds = update(&mut review, Msg::Resize(size.width, size.height));
        let mut quit = serve(&mut review, &record.dir, cmds);
        let first = review.show();
        quit |= serve(&mut review, &record.dir, first);
        let mut events = EventStream::new();
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
        while !quit {
            terminal.draw(|f| super::view::view(&review.model, f))?;
            let msg = tokio::select! {
                ev = events.next() => match ev {
                    Some(Ok(TermEvent::Key(k))) => Msg::Key(k),
                    Some(Ok(TermEvent::Resize(w, h))) => Msg::Resize(w, h),
                    Some(Ok(TermEvent::Paste(s))) => Msg::Paste(s),
                    Some(Ok(_)) => continue,
                    Some(Err(e)) => return Err(super::UiError::Terminal(e)),
                    None => break,
                },
                _ = term.recv() => break,
                _ = hup.recv() => break,
            };
            let cmds = update(&mut review, msg);
            quit = serve(&mut review, &record.dir, cmds);
        }
        Ok(())
    });
    drop(guard);
    runtime.shutdown_background();
    result
}
