//! Every key the UI answers to, in one table: `update` looks keys up here and the `?` overlay
//! lists this table, so the help can never disagree with the behaviour.

use crossterm::event::{KeyCode, KeyModifiers};

/// What a key asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Help,
    Quit,
    AddNote,
    AddEvidence,
    Skip,
    GoBack,
    Journal,
    Pause,
    /// The step's main move: run a query, choose the option, confirm an action, mark done,
    /// continue after a finished step, close the case at the end.
    Primary,
    RunQuery,
    CancelQuery,
    Up,
    Down,
    Left,
    Right,
    PageUp,
    PageDown,
    Top,
    Bottom,
    Sort,
    Filter,
    ShowCell,
    MarkEvidence,
    ToggleItem,
    Rationale,
    Verify,
    ConfirmDone,
    ConfirmNotDone,
    Chart,
    /// Close a box, an overlay or a finished step's view (back to the step the case is at).
    Back,
    /// In a text box: save what was typed.
    Save,
    /// In a text box: Enter (a new line in a note, save elsewhere).
    Enter,
    DeleteChar,
    ClearText,
    NextType,
    PreviousType,
    /// Review: the timeline.
    PreviousEntry,
    NextEntry,
    FirstEntry,
    LastEntry,
    PreviousStage,
    NextStage,
    PreviousDecision,
    NextDecision,
    FilterTimeline,
    PickStage,
}

impl Action {
    /// Whether the action only changes what is looked at (allowed in review): moving through a
    /// result or the timeline, the overlays, quitting. Nothing else is ever passed on in review.
    pub fn read_only(self) -> bool {
        matches!(
            self,
            Action::Help
                | Action::Quit
                | Action::Journal
                | Action::Up
                | Action::Down
                | Action::Left
                | Action::Right
                | Action::PageUp
                | Action::PageDown
                | Action::Top
                | Action::Bottom
                | Action::Sort
                | Action::Filter
                | Action::ShowCell
                | Action::Chart
                | Action::PreviousEntry
                | Action::NextEntry
                | Action::FirstEntry
                | Action::LastEntry
                | Action::PreviousStage
                | Action::NextStage
                | Action::PreviousDecision
                | Action::NextDecision
                | Action::FilterTimeline
                | Action::PickStage
        )
    }
}

/// Where a key applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Anywhere on the main screen.
    Case,
    /// A query step (with or without results).
    Query,
    /// A query step's results table.
    Results,
    Decision,
    /// A manual action's checklist.
    Checklist,
    /// A `for_each` action's items, before its confirmation.
    Items,
    /// An action whose outcome is unknown (irp stopped between intent and result).
    Unknown,
    /// A text box (a note, a reason, a confirmation, a filter); other keys type.
    TextBox,
    /// The journal, the key list and the go-back list; other keys close them.
    List,
    /// `irp review`: moving through the case's timeline.
    Review,
}

impl Scope {
    pub fn title(self) -> &'static str {
        match self {
            Scope::Case => "Everywhere",
            Scope::Query => "Query steps",
            Scope::Results => "Results table",
            Scope::Decision => "Decisions",
            Scope::Checklist => "Checklists",
            Scope::Items => "Items of an action that runs for each (before confirming)",
            Scope::Unknown => "Action with an unknown outcome",
            Scope::TextBox => "In a text box (other keys type)",
            Scope::List => "In the journal, this list and the go-back list (other keys close them)",
            Scope::Review => "Review (irp review: read-only; h/l move across a result's columns)",
        }
    }
}

/// One key binding.
#[derive(Debug, Clone, Copy)]
pub struct Binding {
    pub code: KeyCode,
    /// Control must be held (only Control is ever required).
    pub ctrl: bool,
    pub scope: Scope,
    pub action: Action,
    pub help: &'static str,
}

const fn key(c: char, scope: Scope, action: Action, help: &'static str) -> Binding {
    Binding {
        code: KeyCode::Char(c),
        ctrl: false,
        scope,
        action,
        help,
    }
}

const fn special(code: KeyCode, scope: Scope, action: Action, help: &'static str) -> Binding {
    Binding {
        code,
        ctrl: false,
        scope,
        action,
        help,
    }
}

/// The keymap. Earlier entries win when a key is bound in two scopes that apply at once
/// (the results table's keys come before the step's).
pub const KEYMAP: &[Binding] = &[
    special(
        KeyCode::Left,
        Scope::Review,
        Action::PreviousEntry,
        "the previous entry",
    ),
    special(KeyCode::Right, Scope::Review, Action::NextEntry, "the next entry"),
    key('<', Scope::Review, Action::FirstEntry, "the first entry"),
    key('>', Scope::Review, Action::LastEntry, "the last entry"),
    key(
        '[',
        Scope::Review,
        Action::PreviousStage,
        "the start of the previous stage",
    ),
    key(
        ']',
        Scope::Review,
        Action::NextStage,
        "the start of the next stage",
    ),
    key(
        't',
        Scope::Review,
        Action::PickStage,
        "jump to a stage, from a list",
    ),
    key('d', Scope::Review, Action::NextDecision, "the next decision"),
    key(
        'D',
        Scope::Review,
        Action::PreviousDecision,
        "the previous decision",
    ),
    key(
        'f',
        Scope::Review,
        Action::FilterTimeline,
        "filter the timeline: stage=ID kind=KIND actor=NAME",
    ),
    key('?', Scope::Case, Action::Help, "this list of keys"),
    key(
        'q',
        Scope::Case,
        Action::Quit,
        "quit; everything is journaled, `irp resume CASE` continues",
    ),
    Binding {
        code: KeyCode::Char('c'),
        ctrl: true,
        scope: Scope::Case,
        action: Action::Quit,
        help: "quit (as q)",
    },
    special(
        KeyCode::Enter,
        Scope::Case,
        Action::Primary,
        "the step's main move: run, choose, confirm, done, continue, close",
    ),
    special(
        KeyCode::Esc,
        Scope::Case,
        Action::Back,
        "back to the step the case is at",
    ),
    key(
        'n',
        Scope::Case,
        Action::AddNote,
        "add a note to the case (multi-line; Ctrl-S saves)",
    ),
    key(
        'e',
        Scope::Case,
        Action::AddEvidence,
        "add evidence: a typed observable (Tab changes the type)",
    ),
    key('x', Scope::Case, Action::Skip, "skip this step, with a reason"),
    key(
        'b',
        Scope::Case,
        Action::GoBack,
        "go back to a step entered earlier",
    ),
    key('J', Scope::Case, Action::Journal, "the whole journal"),
    key(
        'p',
        Scope::Case,
        Action::Pause,
        "pause the case (with a reason), or carry on",
    ),
    key(
        'r',
        Scope::Query,
        Action::RunQuery,
        "run the query, or run it again",
    ),
    key('c', Scope::Query, Action::CancelQuery, "cancel the running query"),
    special(KeyCode::Up, Scope::Results, Action::Up, "previous row"),
    key('k', Scope::Results, Action::Up, "previous row"),
    special(KeyCode::Down, Scope::Results, Action::Down, "next row"),
    key('j', Scope::Results, Action::Down, "next row"),
    special(KeyCode::Left, Scope::Results, Action::Left, "previous column"),
    key('h', Scope::Results, Action::Left, "previous column"),
    special(KeyCode::Right, Scope::Results, Action::Right, "next column"),
    key('l', Scope::Results, Action::Right, "next column"),
    special(KeyCode::PageUp, Scope::Results, Action::PageUp, "a page up"),
    special(KeyCode::PageDown, Scope::Results, Action::PageDown, "a page down"),
    special(KeyCode::Home, Scope::Results, Action::Top, "first row"),
    special(KeyCode::End, Scope::Results, Action::Bottom, "last row"),
    key(
        's',
        Scope::Results,
        Action::Sort,
        "sort by this column: ascending, descending, as returned",
    ),
    key(
        '/',
        Scope::Results,
        Action::Filter,
        "show only rows containing a text (empty: all rows)",
    ),
    key('v', Scope::Results, Action::ShowCell, "the cell's full value"),
    key(
        'm',
        Scope::Results,
        Action::MarkEvidence,
        "mark the cell as evidence (its type is guessed; Tab changes it)",
    ),
    key(
        'g',
        Scope::Results,
        Action::Chart,
        "show or hide the chart of a time-bucketed result",
    ),
    special(KeyCode::Up, Scope::Decision, Action::Up, "previous option"),
    key('k', Scope::Decision, Action::Up, "previous option"),
    special(KeyCode::Down, Scope::Decision, Action::Down, "next option"),
    key('j', Scope::Decision, Action::Down, "next option"),
    key(
        'a',
        Scope::Decision,
        Action::Rationale,
        "write the rationale recorded with the choice",
    ),
    special(KeyCode::Up, Scope::Checklist, Action::Up, "previous item"),
    key('k', Scope::Checklist, Action::Up, "previous item"),
    special(KeyCode::Down, Scope::Checklist, Action::Down, "next item"),
    key('j', Scope::Checklist, Action::Down, "next item"),
    key(
        ' ',
        Scope::Checklist,
        Action::ToggleItem,
        "tick the item (journaled; a tick is not taken back)",
    ),
    special(KeyCode::Up, Scope::Items, Action::Up, "previous item"),
    key('k', Scope::Items, Action::Up, "previous item"),
    special(KeyCode::Down, Scope::Items, Action::Down, "next item"),
    key('j', Scope::Items, Action::Down, "next item"),
    key(
        ' ',
        Scope::Items,
        Action::ToggleItem,
        "leave the item out (a reason is asked), take it back, or choose a protected one",
    ),
    key(
        'V',
        Scope::Unknown,
        Action::Verify,
        "let irp read the resource and check (live AWS actions)",
    ),
    key(
        'D',
        Scope::Unknown,
        Action::ConfirmDone,
        "you checked: the change was made",
    ),
    key(
        'N',
        Scope::Unknown,
        Action::ConfirmNotDone,
        "you checked: it was not made (confirm and run again)",
    ),
];

/// The keys of text boxes and lists, after the main screen's.
pub const MODAL_KEYMAP: &[Binding] = &[
    special(
        KeyCode::Enter,
        Scope::TextBox,
        Action::Enter,
        "save (in a note: a new line)",
    ),
    Binding {
        code: KeyCode::Char('s'),
        ctrl: true,
        scope: Scope::TextBox,
        action: Action::Save,
        help: "save",
    },
    special(
        KeyCode::Esc,
        Scope::TextBox,
        Action::Back,
        "cancel: nothing is recorded",
    ),
    special(
        KeyCode::Backspace,
        Scope::TextBox,
        Action::DeleteChar,
        "delete the last character",
    ),
    Binding {
        code: KeyCode::Char('u'),
        ctrl: true,
        scope: Scope::TextBox,
        action: Action::ClearText,
        help: "clear the box",
    },
    special(
        KeyCode::Tab,
        Scope::TextBox,
        Action::NextType,
        "evidence: the next observable type",
    ),
    special(
        KeyCode::BackTab,
        Scope::TextBox,
        Action::PreviousType,
        "evidence: the previous observable type",
    ),
    special(KeyCode::Up, Scope::List, Action::Up, "up"),
    key('k', Scope::List, Action::Up, "up"),
    special(KeyCode::Down, Scope::List, Action::Down, "down"),
    key('j', Scope::List, Action::Down, "down"),
    special(KeyCode::PageUp, Scope::List, Action::PageUp, "a page up"),
    special(KeyCode::PageDown, Scope::List, Action::PageDown, "a page down"),
    special(KeyCode::Home, Scope::List, Action::Top, "the first line"),
    special(KeyCode::End, Scope::List, Action::Bottom, "the last line"),
    special(
        KeyCode::Enter,
        Scope::List,
        Action::Primary,
        "go back to the chosen step (go-back list)",
    ),
    key('q', Scope::List, Action::Quit, "quit (the journal)"),
];

/// Every binding: the main screen's, then the text boxes' and lists'.
pub fn all() -> impl Iterator<Item = &'static Binding> {
    KEYMAP.iter().chain(MODAL_KEYMAP)
}

/// The action bound to a key in the first of `scopes` that binds it.
pub fn lookup(code: KeyCode, modifiers: KeyModifiers, scopes: &[Scope]) -> Option<Action> {
    let ctrl = modifiers.contains(KeyModifiers::CONTROL);
    all()
        .filter(|b| b.code == code && b.ctrl == ctrl && scopes.contains(&b.scope))
        .min_by_key(|b| scopes.iter().position(|s| *s == b.scope))
        .map(|b| b.action)
}

/// How a key is written in the help.
pub fn key_name(b: &Binding) -> String {
    let k = match b.code {
        KeyCode::Char(' ') => "Space".to_owned(),
        KeyCode::Char(c) => c.to_string(),
        KeyCode::Enter => "Enter".to_owned(),
        KeyCode::Up => "↑".to_owned(),
        KeyCode::Down => "↓".to_owned(),
        KeyCode::Left => "←".to_owned(),
        KeyCode::Right => "→".to_owned(),
        KeyCode::PageUp => "PgUp".to_owned(),
        KeyCode::PageDown => "PgDn".to_owned(),
        KeyCode::Home => "Home".to_owned(),
        KeyCode::End => "End".to_owned(),
        KeyCode::Esc => "Esc".to_owned(),
        KeyCode::Tab => "Tab".to_owned(),
        KeyCode::BackTab => "Shift-Tab".to_owned(),
        KeyCode::Backspace => "Backspace".to_owned(),
        other => format!("{other:?}"),
    };
    if b.ctrl { format!("Ctrl-{k}") } else { k }
}
