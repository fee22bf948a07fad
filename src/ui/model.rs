//! The UI's state and its one transition: `update(&mut Model, Msg) -> Vec<Cmd>`. Pure: no
//! terminal, no clock (the time comes in `Msg::Tick`), no I/O; the worker does the moves the
//! commands ask for and its replies come back as messages.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use super::keymap::{self, Action, Scope};
use super::table::ResultTable;
use super::text::Theme;
use super::worker::{Reply, Request};
use crate::case::actions::UnknownAnswer;
use crate::case::backend::Progress;
use crate::engine::{self, ArtifactRef, Command, Env, Event, Mode, Observable, Outcome, Position, State};
use crate::journal::entry::Entry;
use crate::playbook::context::TableNaming;
use crate::playbook::model::{ActionKind, Playbook, StepKind};
use crate::playbook::raw::Confirm;

/// What comes in.
#[derive(Debug, Clone)]
pub enum Msg {
    Key(KeyEvent),
    Paste(String),
    Resize(u16, u16),
    /// The clock, once a second or so (and before each frame in tests).
    Tick(DateTime<Utc>),
    Worker(Reply),
}

/// What `update` asks the shell to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Cmd {
    Send(Box<Request>),
    /// Stop the running query (a flag the backend watches).
    CancelQuery,
    Quit,
}

/// The case as the header shows it.
#[derive(Debug, Clone)]
pub struct CaseInfo {
    pub case: String,
    pub folder: String,
    /// The case's mode (`None` before the case is opened).
    pub mode: Option<Mode>,
    /// The AWS account and region a live case acts in, once known.
    pub live_target: Option<String>,
    pub backend: Option<String>,
    /// Read-only review of the case (`irp review`): nothing can be run or recorded.
    pub review: bool,
}

/// One journal entry as a line.
#[derive(Debug, Clone, PartialEq)]
pub struct JournalLine {
    pub seq: u64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub text: String,
    /// The key that signed the entry, in review (`ED25519 SHA256:…`).
    pub signed_by: Option<String>,
}

/// A line or text the responder is typing, and what it is for.
#[derive(Debug, Clone, PartialEq)]
pub struct Input {
    pub purpose: Purpose,
    pub text: String,
    /// The observable type, for evidence.
    pub observable: Observable,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Purpose {
    Note,
    Evidence,
    Skip {
        step: String,
    },
    Pause,
    Rationale,
    Filter,
    /// Why an item of a `for_each` step is left out.
    LeaveOut {
        step: String,
        item: usize,
    },
    /// `word` is what must be typed (`yes` for `confirm: yes`).
    Confirm {
        step: String,
        word: String,
        manual: bool,
    },
    Close,
    /// Review: which entries the timeline shows (`stage=… kind=… actor=…`).
    TimelineFilter,
}

impl Purpose {
    pub fn title(&self) -> String {
        match self {
            Purpose::Note => "Note (Enter: new line · Ctrl-S: save · Esc: cancel)".to_owned(),
            Purpose::Evidence => "Evidence (Tab: type · Enter: save · Esc: cancel)".to_owned(),
            Purpose::Skip { step } => format!("Skip `{step}`: why? (Enter: skip · Esc: cancel)"),
            Purpose::Pause => "Pause the case: why? (Enter: pause · Esc: cancel)".to_owned(),
            Purpose::Rationale => "Rationale for the choice (Enter: keep · Esc: cancel)".to_owned(),
            Purpose::Filter => "Filter rows containing (Enter: apply · Esc: cancel)".to_owned(),
            Purpose::LeaveOut { item, .. } => {
                format!("Leave item {item} out: why? (Enter: leave out · Esc: cancel)")
            }
            Purpose::Confirm { word, .. } => {
                format!("Type `{word}` to confirm (Enter: confirm · Esc: cancel)")
            }
            Purpose::Close => "Close the case: summary (Enter: close · Esc: cancel)".to_owned(),
            Purpose::TimelineFilter => {
                "Show entries with stage=ID kind=KIND actor=NAME (Enter: apply · empty: all · Esc: cancel)"
                    .to_owned()
            }
        }
    }

    fn multiline(&self) -> bool {
        matches!(self, Purpose::Note)
    }
}

/// A list to pick from (going back).
#[derive(Debug, Clone, PartialEq)]
pub struct Picker {
    pub items: Vec<String>,
    pub cursor: usize,
    pub purpose: Pick,
}

/// What a picker is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pick {
    /// Going back to an earlier step (items are step ids).
    GoBack,
    /// Review: jumping to a stage (items are stage ids).
    Stage,
}

/// The screens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screen {
    Main,
    Journal { offset: usize },
    Help { offset: usize },
}

/// How the results table is looked at.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Grid {
    /// The selected row, as a position in `order`.
    pub row: usize,
    pub col: usize,
    /// The first row and column drawn.
    pub top: usize,
    pub left: usize,
    pub sort: Option<(usize, bool)>,
    pub filter: String,
    /// The rows shown, in order; `None` = all rows as returned.
    pub order: Option<Vec<u32>>,
    pub chart: bool,
}

/// A loaded result.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub step: String,
    pub seq: u64,
    pub table: Result<Arc<ResultTable>, String>,
}

/// Review's timeline: every entry, the ones the filter lets through, the one looked at.
#[derive(Debug, Clone)]
pub struct Timeline {
    pub lines: Arc<Vec<JournalLine>>,
    /// Indices into `lines` that pass the filter.
    pub shown: Arc<Vec<usize>>,
    /// The entry the case is shown at (an index into `lines`).
    pub cursor: usize,
    /// The hash chain's status, in words, and whether it verified.
    pub chain: String,
    pub chain_ok: bool,
    /// The filter as typed (empty: every entry).
    pub filter: String,
}

/// A message in the status line.
#[derive(Debug, Clone, PartialEq)]
pub struct Status {
    pub error: bool,
    pub text: String,
}

#[derive(Debug, Clone)]
pub struct Model {
    pub info: CaseInfo,
    pub playbook: Arc<Playbook>,
    pub naming: TableNaming,
    pub state: State,
    pub journal: Vec<JournalLine>,
    pub opened_at: Option<DateTime<Utc>>,
    /// Time spent on each step so far (all visits).
    pub durations: BTreeMap<String, chrono::Duration>,
    /// The responders seen in the journal, each with their last entry (when, what): in a shared
    /// case, the team and what each is doing.
    pub team: BTreeMap<String, (chrono::DateTime<chrono::Utc>, String)>,
    visits: engine::VisitClock,
    pub now: DateTime<Utc>,
    pub size: (u16, u16),
    pub theme: Theme,
    /// A finished step kept on screen (its results, its outcome) until the responder goes on.
    pub pinned: Option<String>,
    pub screen: Screen,
    pub input: Option<Input>,
    pub popup: Option<(String, String)>,
    pub picker: Option<Picker>,
    /// Requests sent and not finished, in order (the worker serves them in order): `true` for
    /// one that runs something (a query, an action), which no other move may start behind;
    /// recording a note or a tick just queues.
    pub in_flight: std::collections::VecDeque<bool>,
    pub progress: Option<(String, Progress)>,
    pub loaded: Option<Loaded>,
    pub grid: Grid,
    pub decision_cursor: usize,
    pub rationale: String,
    /// The cursor on a checklist's items, or on a `for_each` step's.
    pub checklist_cursor: usize,
    /// The items of the current `for_each` step as the responder picks them.
    pub pick: ItemPick,
    pub previews: BTreeMap<(String, u32), Result<String, String>>,
    pub status: Option<Status>,
    pub quitting: bool,
    /// Stored state files (an action's before and after), by path, as loaded for review.
    pub texts: BTreeMap<String, Result<String, String>>,
    /// Review: the whole timeline and where the review stands in it.
    pub timeline: Option<Timeline>,
    /// The step drawn last, to notice when it changes.
    shown: Option<String>,
    requested: Vec<Request>,
}

impl Model {
    pub fn new(
        info: CaseInfo,
        playbook: Arc<Playbook>,
        naming: TableNaming,
        entries: &[Entry],
        now: DateTime<Utc>,
        theme: Theme,
    ) -> Model {
        let mut m = Model {
            info,
            playbook,
            naming,
            state: State::default(),
            journal: Vec::new(),
            opened_at: None,
            durations: BTreeMap::new(),
            team: BTreeMap::new(),
            visits: engine::VisitClock::default(),
            now,
            size: (80, 24),
            theme,
            pinned: None,
            screen: Screen::Main,
            input: None,
            popup: None,
            picker: None,
            in_flight: std::collections::VecDeque::new(),
            progress: None,
            loaded: None,
            grid: Grid::default(),
            decision_cursor: 0,
            rationale: String::new(),
            checklist_cursor: 0,
            pick: ItemPick::default(),
            previews: BTreeMap::new(),
            status: None,
            quitting: false,
            texts: BTreeMap::new(),
            timeline: None,
            shown: None,
            requested: Vec::new(),
        };
        for e in entries {
            m.apply(e);
        }
        m
    }

    /// The step on the right: a pinned finished step, or the current one.
    pub fn viewed(&self) -> Option<&str> {
        self.pinned.as_deref().or_else(|| self.state.current_step())
    }

    pub fn env(&self) -> Env {
        Env {
            now: self.now,
            naming: self.naming.clone(),
            actor: None,
        }
    }

    pub fn busy(&self) -> bool {
        !self.in_flight.is_empty()
    }

    /// Whether a query or an action is in flight.
    pub fn running(&self) -> bool {
        self.in_flight.contains(&true)
    }

    /// Whether the viewed step is the one the case is at (moves apply to it).
    pub fn viewing_current(&self) -> bool {
        self.pinned.is_none() && self.state.current_step().is_some()
    }

    /// The step kind of `id`.
    pub fn kind(&self, id: &str) -> Option<&StepKind> {
        self.playbook.step(id).map(|s| &s.kind)
    }

    /// The scopes whose keys apply now, most specific first.
    pub fn scopes(&self) -> Vec<Scope> {
        let mut out = Vec::new();
        let Some(id) = self.viewed() else {
            out.push(Scope::Case);
            return out;
        };
        match self.kind(id) {
            Some(StepKind::Query(_)) => {
                if self.result_table().is_some() {
                    out.push(Scope::Results);
                }
                out.push(Scope::Query);
            }
            Some(StepKind::Decision(_)) if self.viewing_current() => out.push(Scope::Decision),
            Some(StepKind::Action(a)) if self.viewing_current() => {
                let st = self.state.step(id);
                if st.and_then(|s| s.last_outcome) == Some(Outcome::Unknown) {
                    out.push(Scope::Unknown);
                } else if matches!(a.kind, ActionKind::Manual { .. }) {
                    out.push(Scope::Checklist);
                } else if a.runs_per_item() && a.confirm != Confirm::None && !st.is_some_and(|s| s.confirmed)
                {
                    out.push(Scope::Items);
                }
            }
            _ => {}
        }
        out.push(Scope::Case);
        out
    }

    /// The loaded table of the viewed step, when it is loaded and readable.
    pub fn result_table(&self) -> Option<&Arc<ResultTable>> {
        let l = self.loaded.as_ref()?;
        if Some(l.step.as_str()) != self.viewed() {
            return None;
        }
        l.table.as_ref().ok()
    }

    /// The rows shown, in order.
    pub fn visible_rows(&self) -> usize {
        match (&self.grid.order, self.result_table()) {
            (Some(o), _) => o.len(),
            (None, Some(t)) => t.rows(),
            (None, None) => 0,
        }
    }

    /// The data row at position `pos` of the shown order.
    pub fn row_at(&self, pos: usize) -> Option<usize> {
        match &self.grid.order {
            Some(o) => o.get(pos).map(|&r| r as usize),
            None => (pos < self.visible_rows()).then_some(pos),
        }
    }

    /// Rows of the table that fit on screen (the view lays out the same way).
    pub fn page_rows(&self) -> usize {
        usize::from(super::view::results_height(self.size, self.info.review)).max(1)
    }

    /// The SQL the viewed query step ran (as journaled), or would run now.
    pub fn sql_for(&self, id: &str) -> Result<String, String> {
        if let Some(sql) = self.state.query_run(id).and_then(|q| q.sql.clone()) {
            return Ok(sql);
        }
        let index = self.playbook.step_index(id).ok_or("no such step")?;
        let StepKind::Query(q) = &self.playbook.steps[index].kind else {
            return Err("not a query".to_owned());
        };
        let ctx = engine::template_context(&self.playbook, &self.state, index, &self.env());
        crate::playbook::template::render_sql(&q.sql, &ctx).map_err(|e| e.message)
    }

    /// When entry `seq` was written, if the model has it.
    pub fn at_of(&self, seq: u64) -> Option<DateTime<Utc>> {
        let i = self.journal.binary_search_by_key(&seq, |l| l.seq).ok()?;
        Some(self.journal[i].at)
    }

    /// Applies a journal entry: the state, the journal lines, the time on steps. What a step's
    /// runs were is the state's (`StepState::query`, `StepState::action`).
    pub fn apply(&mut self, e: &Entry) {
        let looking = self.viewed().map(str::to_owned);
        self.state.apply(&e.event);
        if self.opened_at.is_none() {
            self.opened_at = Some(e.at);
        }
        let text = crate::engine::describe(&e.event);
        if e.actor != "irp" {
            self.team.insert(e.actor.clone(), (e.at, text.clone()));
        }
        self.journal.push(JournalLine {
            seq: e.seq,
            at: e.at,
            actor: e.actor.clone(),
            text,
            signed_by: None,
        });
        match &e.event {
            Event::QuerySucceeded(q) => self.pin_if(looking.as_deref(), &q.step),
            Event::SourceNotCollected(n) => self.pin_if(looking.as_deref(), &n.step),
            Event::ActionFinished(a) => self.pin_if(looking.as_deref(), &a.step),
            Event::AwsIdentity(i) => {
                self.info.live_target = Some(format!("{} {}", i.account, i.region));
            }
            _ => {}
        }
        if let Some(v) = self.visits.observe(&self.state, e.at) {
            *self
                .durations
                .entry(v.step)
                .or_insert_with(chrono::Duration::zero) += v.to - v.from;
        }
    }

    /// Keeps a finished step on screen when the responder was looking at it.
    fn pin_if(&mut self, looking: Option<&str>, step: &str) {
        if looking == Some(step) && self.state.current_step() != Some(step) {
            self.pinned = Some(step.to_owned());
        }
    }

    /// Time spent on a step, the current visit included.
    pub fn duration_of(&self, id: &str) -> Option<chrono::Duration> {
        let mut d = self.durations.get(id).copied();
        if let Some((s, since)) = self.visits.open()
            && s == id
        {
            d = Some(
                d.unwrap_or_else(chrono::Duration::zero) + (self.now - since).max(chrono::Duration::zero()),
            );
        }
        d
    }

    fn say(&mut self, text: impl Into<String>) {
        self.status = Some(Status {
            error: false,
            text: text.into(),
        });
    }

    fn complain(&mut self, text: impl Into<String>) {
        self.status = Some(Status {
            error: true,
            text: text.into(),
        });
    }

    fn send(&mut self, req: Request) {
        let long = matches!(
            req,
            Request::RunQuery { .. } | Request::Act { .. } | Request::Settle { .. }
        );
        self.in_flight.push_back(long);
        self.requested.push(req);
    }
}

/// The one transition.
pub fn update(m: &mut Model, msg: Msg) -> Vec<Cmd> {
    let mut cmds = Vec::new();
    match msg {
        Msg::Tick(now) => m.now = now,
        Msg::Resize(w, h) => {
            m.size = (w, h);
            clamp_grid(m);
        }
        Msg::Paste(text) => {
            let text = text.replace("\r\n", "\n").replace('\r', "\n");
            if let Some(input) = &mut m.input {
                let text = if input.purpose.multiline() {
                    text
                } else {
                    text.replace(['\n', '\r'], " ")
                };
                input.text.push_str(&text);
            }
        }
        Msg::Key(k) => {
            if k.kind != KeyEventKind::Release {
                key(m, k, &mut cmds);
            }
        }
        Msg::Worker(reply) => worker(m, reply),
    }
    follow(m);
    cmds.extend(m.requested.drain(..).map(|r| Cmd::Send(Box::new(r))));
    if m.quitting {
        cmds.push(Cmd::Quit);
    }
    cmds
}

fn worker(m: &mut Model, reply: Reply) {
    match reply {
        Reply::Recorded(entries) => {
            for e in &entries {
                m.apply(e);
            }
            if let Some(last) = entries.last() {
                match &last.event {
                    Event::QueryFailed(q) => m.complain(format!("query failed: {}", q.error)),
                    Event::SourceNotCollected(n) => m.say(format!(
                        "`{}`: {} not collected, nothing to read{}",
                        n.step,
                        n.tables.join(", "),
                        if m.pinned.as_deref() == Some(n.step.as_str()) {
                            "; Enter goes on to the next step"
                        } else {
                            ""
                        }
                    )),
                    Event::QuerySucceeded(q) => m.say(format!(
                        "{} rows from `{}`{}",
                        q.rows,
                        q.step,
                        if m.pinned.as_deref() == Some(q.step.as_str()) {
                            "; Enter goes on to the next step"
                        } else {
                            ""
                        }
                    )),
                    Event::ActionFinished(a) if a.outcome == Outcome::Failed => {
                        m.complain(format!("action failed: {}", a.detail));
                    }
                    Event::ActionConflict(c) => m.complain(format!(
                        "the resource changed since the confirmation; confirm again:\n{}",
                        c.difference
                    )),
                    Event::CaseClosed { .. } => m.say("the case is closed; q quits"),
                    Event::InjectLanded(i) => {
                        m.say(format!("INJECT: {}", i.title));
                        m.popup = Some((format!("INJECT · {}", i.title), i.text.clone()));
                    }
                    _ => {}
                }
            }
        }
        Reply::Problem { error, hints } => {
            let mut text = error;
            for h in hints {
                text.push_str(" (");
                text.push_str(&h);
                text.push(')');
            }
            m.complain(text);
        }
        Reply::QueryProgress { step, progress } => m.progress = Some((step, progress)),
        Reply::Preview { step, text } => {
            let visits = m.state.step(&step).map_or(0, |s| s.visits);
            m.previews.insert((step, visits), text);
        }
        Reply::Result { step, seq, table } => {
            m.grid = Grid {
                chart: m.grid.chart,
                ..Grid::default()
            };
            m.loaded = Some(Loaded { step, seq, table });
            if let Some(t) = m.result_table() {
                m.grid.chart = chartable(t).is_some();
            }
        }
        Reply::Text { path, text } => {
            m.texts.insert(path, text);
        }
        Reply::Score(lines) => {
            m.popup = Some(("Rehearsal score".to_owned(), lines.join("\n")));
        }
        Reply::Idle => {
            m.in_flight.pop_front();
            if m.in_flight.is_empty() {
                m.progress = None;
            }
        }
    }
}

/// After every message: when the step on screen changed, reset what belongs to a step and ask
/// for what the new one shows (its result, what its action will do).
fn follow(m: &mut Model) {
    let viewed = m.viewed().map(str::to_owned);
    if viewed != m.shown {
        m.shown.clone_from(&viewed);
        // A message about the last step must not read as one about this one.
        m.status = None;
        m.rationale.clear();
        m.checklist_cursor = 0;
        m.pick = ItemPick::default();
        m.decision_cursor = suggested_index(m).unwrap_or(0);
        if m.loaded.as_ref().map(|l| &l.step) != viewed.as_ref() {
            m.grid = Grid::default();
        }
    }
    let Some(id) = viewed else { return };
    match m.kind(&id) {
        Some(StepKind::Query(_)) => {
            let want = m
                .state
                .query_run(&id)
                .filter(|q| q.rows.is_some())
                .and_then(|q| Some((q.ended?, q.artifact.clone()?)));
            if let Some((seq, artifact)) = want {
                let have = m.loaded.as_ref().is_some_and(|l| l.step == id && l.seq == seq);
                let asked = m
                    .requested
                    .iter()
                    .any(|r| matches!(r, Request::LoadResult { seq: s, .. } if *s == seq));
                if !have && !asked {
                    m.loaded = Some(Loaded {
                        step: id.clone(),
                        seq,
                        table: Err("loading…".to_owned()),
                    });
                    m.send(Request::LoadResult {
                        step: id,
                        seq,
                        artifact,
                    });
                }
            }
        }
        Some(StepKind::Action(_)) if m.info.review => {
            // Review shows the stored states; it never works out what an action would do now.
            let files: Vec<ArtifactRef> = m
                .state
                .action_run(&id)
                .map(|r| r.before.iter().chain(r.after.iter()).cloned().collect())
                .unwrap_or_default();
            for artifact in files {
                let asked = m
                    .requested
                    .iter()
                    .any(|r| matches!(r, Request::LoadText { artifact: a } if a.path == artifact.path));
                if !m.texts.contains_key(&artifact.path) && !asked {
                    m.texts.insert(artifact.path.clone(), Err("loading…".to_owned()));
                    m.send(Request::LoadText { artifact });
                }
            }
        }
        Some(StepKind::Action(a)) if !matches!(a.kind, ActionKind::Manual { .. }) => {
            let visits = m.state.step(&id).map_or(0, |s| s.visits);
            let open = m.viewing_current() && m.state.step(&id).and_then(|s| s.last_outcome).is_none();
            if open && !m.previews.contains_key(&(id.clone(), visits)) {
                m.previews.insert(
                    (id.clone(), visits),
                    Err("working out what this action will do…".to_owned()),
                );
                m.send(Request::Preview { step: id });
            }
        }
        _ => {}
    }
}

fn suggested_index(m: &Model) -> Option<usize> {
    let id = m.viewed()?;
    let index = m.playbook.step_index(id)?;
    let StepKind::Decision(d) = &m.playbook.steps[index].kind else {
        return None;
    };
    let option = engine::suggestion(&m.playbook, &m.state, index, &m.env()).ok()??;
    d.options.iter().position(|o| o.id == option)
}

fn key(m: &mut Model, k: KeyEvent, cmds: &mut Vec<Cmd>) {
    // Ctrl-C quits from anywhere, inputs included.
    if k.code == KeyCode::Char('c') && k.modifiers.contains(KeyModifiers::CONTROL) {
        quit(m, cmds);
        return;
    }
    if m.input.is_some() {
        input_key(m, k);
        return;
    }
    if m.popup.is_some() {
        m.popup = None;
        return;
    }
    if m.picker.is_some() || m.screen != Screen::Main {
        list_key(m, keymap::lookup(k.code, k.modifiers, &[Scope::List]), cmds);
        return;
    }
    let scopes = m.scopes();
    let Some(action) = keymap::lookup(k.code, k.modifiers, &scopes) else {
        return;
    };
    act(m, action, cmds);
}

fn quit(m: &mut Model, cmds: &mut Vec<Cmd>) {
    if m.state.steps.values().any(|s| s.running_query().is_some()) {
        cmds.push(Cmd::CancelQuery);
    }
    m.quitting = true;
}

fn record(m: &mut Model, cmd: Command) {
    m.send(Request::Record(cmd));
}

fn open_input(m: &mut Model, purpose: Purpose, text: String) {
    m.input = Some(Input {
        purpose,
        text,
        observable: Observable::Text,
    });
}

/// Whether a move on the case can be made now; says why not otherwise.
fn can_move(m: &mut Model) -> bool {
    if m.state.closed.is_some() {
        m.complain("the case is closed; nothing more can be recorded");
        return false;
    }
    if m.state.paused.is_some() {
        m.complain("the case is paused; p carries on");
        return false;
    }
    if m.running() {
        m.complain("irp is still running the last move; wait for it (c cancels a running query)");
        return false;
    }
    true
}

fn act(m: &mut Model, action: Action, cmds: &mut Vec<Cmd>) {
    match action {
        Action::Help => m.screen = Screen::Help { offset: 0 },
        Action::Back => {
            m.pinned = None;
            m.status = None;
        }
        // The keys of text boxes and lists are handled where those are open.
        Action::Save
        | Action::Enter
        | Action::DeleteChar
        | Action::ClearText
        | Action::NextType
        | Action::PreviousType
        // Review's keys: `review::update` handles them before the model sees a key.
        | Action::PreviousEntry
        | Action::NextEntry
        | Action::FirstEntry
        | Action::LastEntry
        | Action::PreviousStage
        | Action::NextStage
        | Action::PreviousDecision
        | Action::NextDecision
        | Action::FilterTimeline
        | Action::PickStage => {}
        Action::Quit => quit(m, cmds),
        Action::Journal => {
            m.screen = Screen::Journal {
                offset: m.journal.len().saturating_sub(1),
            }
        }
        Action::AddNote => {
            if m.state.closed.is_some() {
                m.complain("the case is closed; nothing more can be recorded");
            } else {
                open_input(m, Purpose::Note, String::new());
            }
        }
        Action::AddEvidence => {
            if m.state.closed.is_some() {
                m.complain("the case is closed; nothing more can be recorded");
            } else {
                open_input(m, Purpose::Evidence, String::new());
            }
        }
        Action::Pause => {
            if m.state.closed.is_some() {
                m.complain("the case is closed");
            } else if m.state.paused.is_some() {
                record(m, Command::Unpause);
            } else {
                open_input(m, Purpose::Pause, String::new());
            }
        }
        Action::Skip => {
            if !can_move(m) {
                return;
            }
            match m.state.current_step().map(str::to_owned) {
                Some(step) if matches!(m.kind(&step), Some(StepKind::Decision(_))) => {
                    m.complain("a decision is not skipped: choose an option");
                }
                Some(step) => {
                    m.pinned = None;
                    open_input(m, Purpose::Skip { step }, String::new());
                }
                None => m.complain("there is no step to skip"),
            }
        }
        Action::GoBack => {
            if !can_move(m) {
                return;
            }
            let current = m.state.current_step();
            let mut items: Vec<String> = Vec::new();
            for s in m.state.path.iter().rev() {
                if Some(s.as_str()) != current && !items.contains(s) {
                    items.push(s.clone());
                }
            }
            if items.is_empty() {
                m.complain("no earlier step to go back to");
            } else {
                m.picker = Some(Picker {
                    items,
                    cursor: 0,
                    purpose: Pick::GoBack,
                });
            }
        }
        Action::Primary => primary(m),
        Action::RunQuery => run_query(m),
        Action::CancelQuery => {
            let running = m
                .viewed()
                .and_then(|id| m.state.step(id))
                .is_some_and(|s| s.running_query().is_some());
            if running {
                cmds.push(Cmd::CancelQuery);
                m.say("cancelling the query…");
            } else {
                m.complain("no query is running");
            }
        }
        Action::Up
        | Action::Down
        | Action::Left
        | Action::Right
        | Action::PageUp
        | Action::PageDown
        | Action::Top
        | Action::Bottom => {
            navigate(m, action);
        }
        Action::Sort => sort(m),
        Action::Filter => open_input(m, Purpose::Filter, m.grid.filter.clone()),
        Action::ShowCell => {
            if let Some((header, value)) = selected_cell(m) {
                m.popup = Some((header, value));
            }
        }
        Action::MarkEvidence => {
            if m.state.closed.is_some() {
                m.complain("the case is closed; nothing more can be recorded");
            } else if let Some((_, value)) = selected_cell(m) {
                let observable = guess_observable(&value);
                m.input = Some(Input {
                    purpose: Purpose::Evidence,
                    text: value,
                    observable,
                });
            }
        }
        Action::Chart => {
            if m.result_table().is_some_and(|t| chartable(t).is_some()) {
                m.grid.chart = !m.grid.chart;
            } else {
                m.complain("this result has no time column with counts to chart");
            }
        }
        Action::ToggleItem if matches!(m.scopes().first(), Some(Scope::Items)) => toggle_pick(m),
        Action::ToggleItem => {
            let Some(id) = m.state.current_step().map(str::to_owned) else {
                return;
            };
            if !can_move(m) {
                return;
            }
            let st = m.state.step(&id).cloned().unwrap_or_default();
            let needs_confirm =
                matches!(m.kind(&id), Some(StepKind::Action(a)) if a.confirm != Confirm::None);
            if needs_confirm && !st.confirmed {
                m.complain("confirm the checklist first (Enter)");
            } else if st.checklist.contains(&m.checklist_cursor) {
                m.say("already ticked; a tick is journaled and stays");
            } else {
                record(
                    m,
                    Command::CheckItem {
                        step: id,
                        item: m.checklist_cursor,
                    },
                );
            }
        }
        Action::Rationale => open_input(m, Purpose::Rationale, m.rationale.clone()),
        Action::Verify | Action::ConfirmDone | Action::ConfirmNotDone => {
            let Some(id) = m.state.current_step().map(str::to_owned) else {
                return;
            };
            if !can_move(m) {
                return;
            }
            let answer = match action {
                Action::Verify => UnknownAnswer::Verify,
                Action::ConfirmDone => UnknownAnswer::Done,
                _ => UnknownAnswer::NotDone,
            };
            m.send(Request::Settle { step: id, answer });
        }
    }
}

fn primary(m: &mut Model) {
    // A finished step kept on screen: Enter goes on.
    if m.pinned.is_some() {
        m.pinned = None;
        m.status = None;
        return;
    }
    if !can_move(m) {
        return;
    }
    let id = match m.state.position.clone() {
        Position::NotStarted => return record(m, Command::Start),
        Position::End => return open_input(m, Purpose::Close, String::new()),
        Position::At(id) => id,
    };
    let st = m.state.step(&id).cloned().unwrap_or_default();
    let Some(kind) = m.kind(&id).cloned() else { return };
    match kind {
        StepKind::Note(_) => record(m, Command::Complete { step: id }),
        StepKind::Query(_) => run_query(m),
        StepKind::Decision(d) => {
            let Some(option) = d.options.get(m.decision_cursor) else {
                return;
            };
            let rationale = (!m.rationale.trim().is_empty()).then(|| m.rationale.trim().to_owned());
            let option = option.id.clone();
            record(
                m,
                Command::Decide {
                    step: id,
                    option,
                    rationale,
                },
            );
        }
        StepKind::Action(a) => {
            let item_unknown = st.items.values().any(|r| r.outcome == Some(Outcome::Unknown));
            if st.last_outcome == Some(Outcome::Unknown) || item_unknown {
                m.complain("the last run's outcome is unknown: V has irp check, D you checked it was done, N it was not");
                return;
            }
            let manual = matches!(a.kind, ActionKind::Manual { .. });
            // An empty list has nothing to confirm: Enter journals that there was nothing to do.
            let nothing = a.runs_per_item()
                && engine::item_list(&m.playbook, &m.state, index_of(m, &id)).is_ok_and(<[_]>::is_empty);
            if a.confirm != Confirm::None && !st.confirmed && !nothing {
                let word = match a.confirm {
                    Confirm::Typed if a.runs_per_item() => item_count_word(m, &id, &a),
                    Confirm::Typed => {
                        match engine::render_intent(&m.playbook, &m.state, index_of(m, &id), &m.env()) {
                            Ok(intent) => intent.confirmation_word(&id),
                            Err(e) => {
                                m.complain(format!("the action cannot be rendered: {e}"));
                                return;
                            }
                        }
                    }
                    _ => "yes".to_owned(),
                };
                open_input(
                    m,
                    Purpose::Confirm {
                        step: id,
                        word,
                        manual,
                    },
                    String::new(),
                );
                return;
            }
            if manual {
                let Ok(items) = engine::checklist(&m.playbook, &m.state, index_of(m, &id), &m.env()) else {
                    m.complain("the checklist cannot be rendered: a value it reads has none");
                    return;
                };
                if st.checklist.len() < items.len() {
                    m.complain("tick every item first (Space on each)");
                } else {
                    record(m, Command::Complete { step: id });
                }
                return;
            }
            let items = item_choice(m, &id);
            m.send(Request::Act {
                step: id,
                typed: None,
                items,
            });
        }
    }
}

fn index_of(m: &Model, id: &str) -> usize {
    m.playbook.step_index(id).unwrap_or(0)
}

fn run_query(m: &mut Model) {
    let Some(id) = m.viewed().map(str::to_owned) else {
        return;
    };
    if m.state.current_step() != Some(id.as_str()) {
        m.complain("this query's step is behind the case; b goes back to it to run it again");
        return;
    }
    if !can_move(m) {
        return;
    }
    m.pinned = None;
    m.progress = Some((id.clone(), Progress::default()));
    m.say(format!("running `{id}`… (c cancels)"));
    m.send(Request::RunQuery { step: id });
}

/// A key in the journal, the key list or the go-back list; keys they do not bind close them.
fn list_key(m: &mut Model, action: Option<Action>, cmds: &mut Vec<Cmd>) {
    let page = usize::from(m.size.1);
    if let Some(p) = &mut m.picker {
        let last = p.items.len().saturating_sub(1);
        match action {
            Some(Action::Up) => p.cursor = p.cursor.saturating_sub(1),
            Some(Action::Down) => p.cursor = (p.cursor + 1).min(last),
            Some(Action::Top) => p.cursor = 0,
            Some(Action::Bottom) => p.cursor = last,
            // Review takes its stage picker's Enter before it reaches here.
            Some(Action::Primary) if p.purpose == Pick::Stage => {}
            Some(Action::Primary) => {
                let to = p.items.get(p.cursor).cloned();
                m.picker = None;
                if let Some(to) = to {
                    record(m, Command::GoBack { to });
                }
            }
            _ => m.picker = None,
        }
        return;
    }
    let (offset, last) = match m.screen {
        // The key list has a line per binding and a heading per scope at most.
        Screen::Help { offset } => (offset, keymap::all().count() + 8),
        Screen::Journal { offset } => (offset, m.journal.len().saturating_sub(1)),
        Screen::Main => return,
    };
    let offset = match action {
        Some(Action::Up) => Some(offset.saturating_sub(1)),
        Some(Action::Down) => Some(offset.saturating_add(1).min(last)),
        Some(Action::PageUp) => Some(offset.saturating_sub(page)),
        Some(Action::PageDown) => Some(offset.saturating_add(page).min(last)),
        Some(Action::Top) => Some(0),
        Some(Action::Bottom) => Some(last),
        Some(Action::Quit) if matches!(m.screen, Screen::Journal { .. }) => {
            quit(m, cmds);
            None
        }
        _ => None,
    };
    m.screen = match (m.screen, offset) {
        (Screen::Help { .. }, Some(offset)) => Screen::Help { offset },
        (Screen::Journal { .. }, Some(offset)) => Screen::Journal { offset },
        _ => Screen::Main,
    };
}

/// A key in a text box: the box's own keys, and anything else types.
fn input_key(m: &mut Model, k: KeyEvent) {
    let Some(input) = &mut m.input else { return };
    let ctrl = k.modifiers.contains(KeyModifiers::CONTROL);
    let evidence = input.purpose == Purpose::Evidence;
    let step = |o: Observable, by: usize| {
        let n = Observable::ALL.len();
        let i = Observable::ALL.iter().position(|x| *x == o).unwrap_or(0);
        Observable::ALL[(i + by) % n]
    };
    match keymap::lookup(k.code, k.modifiers, &[Scope::TextBox]) {
        Some(Action::Back) => m.input = None,
        Some(Action::Enter) if input.purpose.multiline() => input.text.push('\n'),
        Some(Action::Save | Action::Enter) => submit(m),
        Some(Action::DeleteChar) => {
            input.text.pop();
        }
        Some(Action::ClearText) => input.text.clear(),
        Some(Action::NextType) if evidence => input.observable = step(input.observable, 1),
        Some(Action::PreviousType) if evidence => {
            input.observable = step(input.observable, Observable::ALL.len() - 1);
        }
        Some(_) => {}
        None => {
            if let KeyCode::Char(c) = k.code
                && !ctrl
            {
                input.text.push(c);
            }
        }
    }
}

fn submit(m: &mut Model) {
    let Some(input) = m.input.take() else { return };
    let text = input.text.trim().to_owned();
    match input.purpose {
        Purpose::Filter => {
            m.grid.filter = text;
            apply_order(m);
        }
        Purpose::Rationale => m.rationale = text,
        // Review applies its filter before the box reaches here.
        Purpose::TimelineFilter => {}
        _ if text.is_empty() => {
            m.complain("nothing was typed, so nothing was recorded");
        }
        Purpose::Note => record(m, Command::AddNote { text }),
        Purpose::Evidence => {
            // Checked here too, so a value that does not fit its type keeps the box open with
            // what was typed, instead of being refused after the box is gone.
            if let Err(e) = engine::check_observable(input.observable, &text) {
                m.complain(format!("{e}; Tab changes the type"));
                m.input = Some(input);
                return;
            }
            record(
                m,
                Command::AddEvidence {
                    observable: input.observable,
                    value: text,
                    note: None,
                },
            );
        }
        Purpose::LeaveOut { step, item } => {
            if text.is_empty() {
                m.complain("an item is left out with a reason; it stays chosen");
            } else if m.state.current_step() == Some(step.as_str()) {
                m.pick.left_out.insert(item, text);
            }
        }
        Purpose::Skip { step } => record(m, Command::Skip { step, reason: text }),
        Purpose::Pause => record(m, Command::Pause { reason: text }),
        Purpose::Close => record(m, Command::Close { summary: text }),
        Purpose::Confirm { step, word, manual } => {
            if text != word {
                m.complain(format!(
                    "`{text}` is not `{word}`; nothing was confirmed (Esc leaves)"
                ));
                m.input = Some(Input {
                    purpose: Purpose::Confirm { step, word, manual },
                    ..input
                });
                return;
            }
            if manual {
                record(
                    m,
                    Command::ConfirmAction {
                        step,
                        typed: Some(text),
                        seen: None,
                        items: None,
                    },
                );
            } else {
                let items = item_choice(m, &step);
                m.send(Request::Act {
                    step,
                    typed: Some(text),
                    items,
                });
            }
        }
    }
}

fn navigate(m: &mut Model, action: Action) {
    if matches!(m.scopes().first(), Some(Scope::Decision)) {
        let n = m
            .viewed()
            .and_then(|id| match m.kind(id) {
                Some(StepKind::Decision(d)) => Some(d.options.len()),
                _ => None,
            })
            .unwrap_or(0);
        match action {
            Action::Up => m.decision_cursor = m.decision_cursor.saturating_sub(1),
            Action::Down => m.decision_cursor = (m.decision_cursor + 1).min(n.saturating_sub(1)),
            _ => {}
        }
        return;
    }
    if matches!(m.scopes().first(), Some(Scope::Checklist | Scope::Items)) {
        let n = m
            .viewed()
            .and_then(|id| match m.kind(id) {
                Some(StepKind::Action(a)) => match &a.kind {
                    ActionKind::Manual { .. } => {
                        engine::checklist(&m.playbook, &m.state, index_of(m, id), &m.env())
                            .ok()
                            .map(|c| c.len())
                    }
                    _ if a.runs_per_item() => engine::item_list(&m.playbook, &m.state, index_of(m, id))
                        .ok()
                        .map(<[_]>::len),
                    _ => None,
                },
                _ => None,
            })
            .unwrap_or(0);
        match action {
            Action::Up => m.checklist_cursor = m.checklist_cursor.saturating_sub(1),
            Action::Down => m.checklist_cursor = (m.checklist_cursor + 1).min(n.saturating_sub(1)),
            _ => {}
        }
        return;
    }
    let rows = m.visible_rows();
    let cols = m.result_table().map_or(0, |t| t.columns());
    let page = m.page_rows();
    let g = &mut m.grid;
    match action {
        Action::Up => g.row = g.row.saturating_sub(1),
        Action::Down => g.row = (g.row + 1).min(rows.saturating_sub(1)),
        Action::PageUp => g.row = g.row.saturating_sub(page),
        Action::PageDown => g.row = (g.row + page).min(rows.saturating_sub(1)),
        Action::Top => g.row = 0,
        Action::Bottom => g.row = rows.saturating_sub(1),
        Action::Left => g.col = g.col.saturating_sub(1),
        Action::Right => g.col = (g.col + 1).min(cols.saturating_sub(1)),
        _ => {}
    }
    clamp_grid(m);
}

/// Keeps the selected cell on screen.
fn clamp_grid(m: &mut Model) {
    let page = m.page_rows();
    let g = &mut m.grid;
    if g.row < g.top {
        g.top = g.row;
    } else if g.row >= g.top + page {
        g.top = g.row + 1 - page;
    }
    if g.col < g.left {
        g.left = g.col;
    }
    // How far right the view must start for the selected column to fit is the view's call
    // (it knows the widths); it moves `left` forward as needed when drawing via `first_column`.
}

fn sort(m: &mut Model) {
    let col = m.grid.col;
    m.grid.sort = match m.grid.sort {
        Some((c, false)) if c == col => Some((col, true)),
        Some((c, true)) if c == col => None,
        _ => Some((col, false)),
    };
    apply_order(m);
    let what = match m.grid.sort {
        Some((c, d)) => format!(
            "sorted by {} {}",
            m.result_table().map_or("", |t| t.header(c)),
            if d { "descending" } else { "ascending" }
        ),
        None => "rows as returned".to_owned(),
    };
    m.say(what);
}

/// Recomputes the shown rows from the sort and the filter.
fn apply_order(m: &mut Model) {
    let Some(t) = m.result_table().cloned() else {
        return;
    };
    let sorted = m.grid.sort.and_then(|(c, d)| t.sorted(c, d));
    let filter = m.grid.filter.clone();
    m.grid.order = if filter.is_empty() {
        sorted
    } else {
        let all: Box<dyn Iterator<Item = u32>> = match sorted {
            Some(o) => Box::new(o.into_iter()),
            None => Box::new(0..u32::try_from(t.rows()).unwrap_or(u32::MAX)),
        };
        let rows = t.filtered(all, &filter);
        m.say(format!("{} of {} rows contain `{filter}`", rows.len(), t.rows()));
        Some(rows)
    };
    m.grid.row = 0;
    m.grid.top = 0;
}

fn selected_cell(m: &Model) -> Option<(String, String)> {
    let t = m.result_table()?;
    let row = m.row_at(m.grid.row)?;
    Some((t.header(m.grid.col).to_owned(), t.cell(row, m.grid.col)))
}

/// The time and count columns of a time-bucketed result, if it is one.
pub fn chartable(t: &ResultTable) -> Option<(usize, usize)> {
    if t.rows() < 2 || t.rows() > 10_000 {
        return None;
    }
    let time = (0..t.columns()).find(|&c| t.is_temporal(c))?;
    let count = (0..t.columns()).find(|&c| c != time && t.is_numeric(c))?;
    Some((time, count))
}

/// The observable type a value most likely is.
pub fn guess_observable(v: &str) -> Observable {
    let v = v.trim();
    if v.parse::<std::net::IpAddr>().is_ok() {
        Observable::Ip
    } else if v.starts_with("arn:") {
        Observable::Arn
    } else if v.len() == 20 && (v.starts_with("AKIA") || v.starts_with("ASIA")) {
        Observable::AccessKeyId
    } else if v.len() == 12 && v.bytes().all(|b| b.is_ascii_digit()) {
        Observable::AccountId
    } else {
        Observable::Text
    }
}

/// What confirming a `for_each` step asks the responder to type: the count of the items still
/// to act on, less the protected ones (left out unless named), by what they are (`3 access keys`).
pub fn item_count_word(m: &Model, id: &str, a: &crate::playbook::model::ActionStep) -> String {
    let (open, protected) = open_and_protected(m, id);
    let choice = engine::items::with_protection(&m.pick.choice(&open, &protected), &open, &protected);
    engine::items::count_of(a, engine::items::chosen_items(&open, &choice).len())
}

/// The items of a `for_each` step still to act on, and those that are protected (with why).
pub fn open_and_protected(m: &Model, id: &str) -> (Vec<usize>, BTreeMap<usize, String>) {
    let intents =
        engine::render_item_intents(&m.playbook, &m.state, index_of(m, id), &m.env()).unwrap_or_default();
    let protected = engine::items::protected_items(&m.playbook, &m.state, &intents);
    let st = m.state.step(id).cloned().unwrap_or_default();
    (engine::items::pending(&st, intents.len()), protected)
}

/// The items the responder picked for step `id` (every item still to act on by default).
fn item_choice(m: &Model, id: &str) -> engine::ItemChoice {
    let (open, protected) = open_and_protected(m, id);
    m.pick.choice(&open, &protected)
}

/// Space on an item: leave it out (asking why), take it back, or choose a protected one.
fn toggle_pick(m: &mut Model) {
    let Some(id) = m.state.current_step().map(str::to_owned) else {
        return;
    };
    if !can_move(m) {
        return;
    }
    let i = m.checklist_cursor;
    let (open, protected) = open_and_protected(m, &id);
    if !open.contains(&i) {
        m.complain("this item is done; only the items still to act on can be chosen");
    } else if m.pick.left_out.remove(&i).is_some() {
        m.say(format!("item {i} is chosen again"));
    } else if protected.contains_key(&i) {
        if m.pick.named.remove(&i) {
            m.say(format!("item {i} is protected and left out again"));
        } else {
            m.pick.named.insert(i);
            m.say(format!("item {i} is protected, and chosen all the same"));
        }
    } else {
        open_input(m, Purpose::LeaveOut { step: id, item: i }, String::new());
    }
}

/// The items of the current `for_each` step as the responder picks them before confirming.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ItemPick {
    /// Items left out, with the responder's reason.
    pub left_out: BTreeMap<usize, String>,
    /// Protected items the responder chose all the same.
    pub named: BTreeSet<usize>,
}

impl ItemPick {
    /// The confirmation's choice: every item still to act on (`open`) less those left out, the
    /// protected ones only when chosen (which takes naming every item acted on).
    pub fn choice(&self, open: &[usize], protected: &BTreeMap<usize, String>) -> engine::ItemChoice {
        let left_out = self
            .left_out
            .iter()
            .filter(|(i, _)| open.contains(i))
            .map(|(i, r)| engine::LeftOut {
                item: *i,
                reason: r.clone(),
            })
            .collect();
        let chosen = if self.named.is_empty() {
            Vec::new()
        } else {
            open.iter()
                .copied()
                .filter(|i| !self.left_out.contains_key(i))
                .filter(|i| !protected.contains_key(i) || self.named.contains(i))
                .collect()
        };
        engine::ItemChoice { chosen, left_out }
    }
}
