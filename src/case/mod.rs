//! A case being worked on: its folder, its lock, its journal and the engine's state, kept in step.
//! `Session::execute` is the one path from a command to a recorded fact: the engine decides, the
//! entry is written and fsynced, and only then is the state changed. Drivers (the headless runner,
//! the UI's worker, rollback) hold a `Session`; the moves they share are in `moves`, the query
//! backend port in `backend`.

pub mod actions;
pub mod answers;
pub mod backend;
pub mod export;
pub mod finding;
pub mod headless;
pub mod items;
pub mod moves;
pub mod seal;
pub mod shared;
pub mod team;

use std::path::{Path, PathBuf};

use chrono::{DateTime, SecondsFormat, Utc};

use crate::clock::{Clock, Ids};
use crate::engine::{
    self, ArtifactRef, CaseOpened, Command, EngineError, Env, Event, LockHolder, Mode, PlaybookChanged,
    PlaybookRef, SessionStarted, State, TornTail,
};
use crate::journal::entry::{sha256_hex, short_hash as short};
use crate::journal::lock::{CaseLock, Holder, LockError, host_name};
use crate::journal::{self, CaseDir, Corruption, Entry, Writer};
use crate::playbook::{Diagnostic, Playbook};

/// The actor of entries irp writes on its own (lock takeovers, repairs).
pub const SYSTEM_ACTOR: &str = "irp";

/// Who is working and with which clock and ids.
#[derive(Debug, Clone)]
pub struct Context {
    pub actor: String,
    pub clock: Clock,
    pub ids: Ids,
    /// The subcommand, recorded in `session_started`.
    pub command: String,
    /// The responder's key, when entries are signed (`--signing-key`).
    pub signer: Option<std::sync::Arc<journal::sign::Signer>>,
}

/// How `resume` treats the playbook file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlaybookChoice {
    /// The file the case was started from, which must not have changed.
    Source,
    /// The snapshot in the case folder (what the case ran so far).
    Snapshot,
    /// The file as it is now, changed or not; a change is journaled.
    AcceptChange,
}

#[derive(Debug, thiserror::Error)]
pub enum CaseError {
    #[error("{what} {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the playbook {} is not valid", path.display())]
    InvalidPlaybook {
        path: PathBuf,
        diagnostics: Vec<Diagnostic>,
    },
    #[error("the inputs are not right:\n  {}", .0.join("\n  "))]
    Inputs(Vec<String>),
    #[error("{} already holds a case", .0.display())]
    CaseExists(PathBuf),
    #[error("{} holds a case whose journal cannot be read ({}); irp opens no case over it and changes nothing there", path.display(), what)]
    DamagedCase { path: PathBuf, what: String },
    #[error("{} is not empty and is not a case folder (it holds `{}`)", .0.display(), .1)]
    NotCaseFolder(PathBuf, String),
    #[error("{} holds no case (no journal entries)", .0.display())]
    NoCase(PathBuf),
    #[error("the journal {} is damaged at {}", path.display(), corruption)]
    Corrupt { path: PathBuf, corruption: Corruption },
    #[error(transparent)]
    Lock(#[from] LockError),
    #[error("the playbook {} changed since the case started (snapshot {}, now {})", path.display(), short(old), short(new))]
    PlaybookChanged { path: PathBuf, old: String, new: String },
    #[error("the playbook the case started from, {}, cannot be read: {reason}", path.display())]
    PlaybookMissing { path: PathBuf, reason: String },
    #[error("the snapshot {} does not match the journal (SHA-256 {}, the journal says {})", path.display(), short(actual), short(expected))]
    SnapshotMismatch {
        path: PathBuf,
        actual: String,
        expected: String,
    },
    #[error("the artifact {} changed since the journal recorded it (SHA-256 {}, the journal says {})", path.display(), short(actual), short(expected))]
    ArtifactChanged {
        path: PathBuf,
        expected: String,
        actual: String,
    },
    #[error("the changed playbook no longer has step `{0}`, where the case stands")]
    IncompatibleChange(String),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Sign(#[from] journal::sign::SignError),
    #[error("cannot seal the case: {0}")]
    Seal(#[from] seal::SealError),
    #[error("the shared case {url}: {what}")]
    Shared { url: String, what: String },
    #[error("the shared case {url} cannot be reached: {what}")]
    Offline { url: String, what: String },
    #[error(
        "the shared case {url} cannot be reached; kept in this replica's outbox ({waiting} waiting), to be appended when irp reaches S3 again"
    )]
    Queued { url: String, waiting: usize },
    /// Another responder's entry landed first, and the move is no longer legal after it.
    #[error("{refused} ({by} got there first: {what})")]
    Overtaken {
        refused: Box<EngineError>,
        by: String,
        what: String,
    },
}

impl CaseError {
    /// What the responder can do about it.
    pub fn hints(&self) -> Vec<String> {
        match self {
            CaseError::CaseExists(p) => vec![format!("continue it with `irp resume {}`", p.display())],
            CaseError::DamagedCase { path, .. } => vec![
                format!(
                    "keep the folder as it is (it is evidence); `irp verify {}` says what is wrong",
                    path.display()
                ),
                "open the new case in another folder".to_owned(),
            ],
            CaseError::NotCaseFolder(..) => vec!["give `--case-dir` a new or empty folder".to_owned()],
            CaseError::NoCase(p) => vec![format!(
                "start a case there with `irp run PLAYBOOK --case-dir {}`",
                p.display()
            )],
            CaseError::Corrupt { path, .. } => vec![
                format!(
                    "`irp verify {}` shows the same; the entries before it are intact",
                    path.parent().unwrap_or(path).display()
                ),
                "restore the journal from a backup; irp will not write after a damaged entry".to_owned(),
            ],
            CaseError::Lock(LockError::Held(_) | LockError::HeldUnknown) => {
                vec!["work on the case in that irp, or wait until it exits".to_owned()]
            }
            CaseError::PlaybookChanged { .. } | CaseError::PlaybookMissing { .. } => vec![
                "`--use-snapshot` continues with the playbook as the case ran it so far".to_owned(),
                "`--accept-playbook-change` continues with the file as it is now (the change is journaled)"
                    .to_owned(),
            ],
            CaseError::Sign(e) => e.hints(),
            CaseError::Seal(_) => vec![
                "check the location, the credentials and the bucket (docs/evidence.md, \"Sealing\"); nothing was journaled".to_owned(),
            ],
            CaseError::Offline { url, .. } => vec![
                "notes and evidence are kept offline and appended later; other moves wait for the network".to_owned(),
                format!("`irp verify {url}` reads the case again when the network is back"),
            ],
            CaseError::Queued { url, .. } => vec![format!(
                "any irp command on {url} (a note, `irp join`) appends what waits, once S3 answers"
            )],
            CaseError::Shared { url, .. } => vec![
                format!("check the bucket, the credentials and the network; `irp case note {url} TEXT` tries again"),
            ],
            CaseError::IncompatibleChange(_) => {
                vec!["resume with `--use-snapshot`, or restore the step in the playbook".to_owned()]
            }
            _ => Vec::new(),
        }
    }
}

/// What `resume` found and repaired, for the responder to read.
#[derive(Debug, Default)]
pub struct ResumeReport {
    pub stale_lock: Option<Holder>,
    pub torn: Vec<TornTail>,
    pub playbook_changed: bool,
}

#[derive(Debug)]
pub struct Session {
    pub dir: CaseDir,
    pub playbook: Playbook,
    pub state: State,
    pub entries: Vec<Entry>,
    writer: Writer,
    _lock: CaseLock,
    ctx: Context,
    naming: crate::playbook::context::TableNaming,
    auto_seal: Option<AutoSeal>,
    /// The case's S3 side when it is shared (`s3://…`): the journal there is the case, the
    /// folder is this responder's replica.
    shared: Option<shared::Store>,
    /// A shared case's allowed signers (`allowed_signers` under its prefix): every entry read
    /// must be signed by a key they allow.
    shared_signers: Option<journal::sign::AllowedSigners>,
    /// A shared case opened from its replica while S3 could not be reached.
    offline: bool,
    /// A shared case's next slot on S3 (`journal/<slot>`): the next seq plus the slots refused.
    next_slot: u64,
    /// Slots on S3 this replica refused (a forged or broken entry) that no entry records yet:
    /// this responder's next write records them first.
    unjournaled: Vec<(engine::EntryRejected, Vec<u8>)>,
}

/// The replica's outbox: notes and evidence written while S3 could not be reached.
const OUTBOX: &str = "outbox.jsonl";
/// What the outbox held that the case refused when it was appended, with the reason.
const OUTBOX_REFUSED: &str = "outbox-refused.jsonl";

/// A note or evidence kept offline.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Pending {
    /// The id its entry gets, whichever attempt writes it: how a retry knows it was written.
    id: uuid::Uuid,
    /// When it was written (RFC 3339, UTC): the entry's `made_offline`.
    made: String,
    actor: String,
    text: Option<String>,
    #[serde(default)]
    observable: Option<engine::Observable>,
    value: Option<String>,
    note: Option<String>,
}

impl Pending {
    /// The commands that may be kept offline: notes and evidence.
    fn of(cmd: &Command) -> Option<Pending> {
        let blank = Pending {
            id: uuid::Uuid::nil(),
            made: String::new(),
            actor: String::new(),
            text: None,
            observable: None,
            value: None,
            note: None,
        };
        match cmd {
            Command::AddNote { text } => Some(Pending {
                text: Some(text.clone()),
                ..blank
            }),
            Command::AddEvidence {
                observable,
                value,
                note,
            } => Some(Pending {
                observable: Some(*observable),
                value: Some(value.clone()),
                note: note.clone(),
                ..blank
            }),
            _ => None,
        }
    }

    fn command(&self) -> Command {
        match (&self.text, self.observable, &self.value) {
            (_, Some(observable), Some(value)) => Command::AddEvidence {
                observable,
                value: value.clone(),
                note: self.note.clone(),
            },
            (text, _, _) => Command::AddNote {
                text: text.clone().unwrap_or_default(),
            },
        }
    }
}

/// What waits in a replica's outbox, in order. A line that does not read is a write a crash cut
/// short, which the responder was never told was kept; it is skipped.
fn read_outbox(dir: &CaseDir) -> Vec<Pending> {
    std::fs::read(dir.path(OUTBOX))
        .unwrap_or_default()
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .filter_map(|l| serde_json::from_slice(l).ok())
        .collect()
}

/// How many times a shared case's append reads what landed ahead of it and tries again before
/// it gives up (each try judges the command on the new state; the waits between tries grow to
/// about 30 s in all).
const SHARED_ATTEMPTS: usize = 200;

/// The wait after losing the race for a seq: random (so that writers who lost together do not
/// try again together), up to 1, 2, 4 … 256 ms.
fn back_off(attempt: usize) {
    let ceiling = 1u64 << attempt.min(8);
    let mut b = [0u8; 8];
    let r = getrandom::fill(&mut b).map_or(0, |()| u64::from_le_bytes(b));
    std::thread::sleep(std::time::Duration::from_millis(r % (ceiling + 1)));
}

/// Sealing as the case goes (`[seal]` in the config file): after every `every` entries, and at
/// the end of each stage and of the case.
#[derive(Debug)]
pub struct AutoSeal {
    pub sealer: seal::Sealer,
    pub every: Option<u64>,
    pub at_stage_end: bool,
    /// Entries the last seal covered.
    sealed: u64,
    /// The stage the case stood in after the last entry.
    stage: Option<usize>,
}

impl AutoSeal {
    pub fn new(sealer: seal::Sealer, every: Option<u64>, at_stage_end: bool) -> AutoSeal {
        AutoSeal {
            sealer,
            every: every.filter(|n| *n > 0),
            at_stage_end,
            sealed: 0,
            stage: None,
        }
    }
}

impl Session {
    /// A session over a case folder whose journal holds `entries`, `state` being theirs; not
    /// shared.
    fn assembled(
        dir: CaseDir,
        playbook: Playbook,
        state: State,
        entries: Vec<Entry>,
        writer: Writer,
        lock: CaseLock,
        ctx: Context,
    ) -> Session {
        let next_slot = next_slot(&entries_slots(&entries));
        Session {
            dir,
            playbook,
            state,
            entries,
            writer,
            _lock: lock,
            ctx,
            naming: crate::playbook::context::TableNaming::default(),
            auto_seal: None,
            shared: None,
            shared_signers: None,
            offline: false,
            next_slot,
            unjournaled: Vec::new(),
        }
    }

    /// Opens a new case in `root` for the playbook at `playbook_path`.
    pub fn create(
        root: &Path,
        playbook_path: &Path,
        inputs: &[(String, String)],
        mode: Mode,
        ctx: Context,
    ) -> Result<Session, CaseError> {
        let (playbook, source) = load(playbook_path)?;
        let now = ctx.clock.now();
        let resolved = engine::resolve_inputs(&playbook, inputs, now).map_err(CaseError::Inputs)?;
        let dir = CaseDir::new(root);
        // A journal with a complete line is a case, readable or not (a bit flip, tampering, a
        // newer irp's format): refused before anything there is touched, the lock file
        // included. Only a journal cut short in its first line (a start killed mid-write) is
        // taken over below.
        refuse_existing_case(&dir)?;
        if let Some(signer) = &ctx.signer {
            signer.check_outside(root)?;
        }
        // A new case is built in a staging folder beside `root` and renamed into place once its
        // first entries are durable: a folder that holds a journal is always a real case.
        let staging = staging_folder(root)?;
        let dir = if let Some(s) = &staging {
            CaseDir::new(s)
        } else {
            prepare_folder(&dir)?;
            dir
        };
        let (lock, stale) = CaseLock::acquire(&dir.lock(), &holder(now))?;
        // A journal left by a start that was cut short holds no complete entry; its bytes are set
        // aside like any torn tail, never dropped.
        let journal_path = dir.journal();
        let mut torn = Vec::new();
        if let Ok(bytes) = std::fs::read(&journal_path) {
            let scan = journal::store::scan(&bytes);
            if !scan.entries.is_empty() {
                return Err(CaseError::CaseExists(root.to_owned()));
            }
            if !bytes.is_empty() {
                torn.push(set_aside(&dir, 0, &bytes)?);
            }
            std::fs::remove_file(&journal_path).map_err(io("cannot remove", &journal_path))?;
        }
        journal::write_durably(&dir.path(CaseDir::SNAPSHOT), source.as_bytes())
            .map_err(io("cannot write", &dir.path(CaseDir::SNAPSHOT)))?;
        let inputs_text = serde_json::to_vec_pretty(&resolved).unwrap_or_default();
        journal::write_durably(&dir.path(CaseDir::INPUTS), &inputs_text)
            .map_err(io("cannot write", &dir.path(CaseDir::INPUTS)))?;
        let mut writer = Writer::open(&journal_path, &journal::Scan::default())
            .map_err(io("cannot create", &journal_path))?;
        start_signing(&dir, &ctx, &mut writer)?;
        journal::sync_dir(&dir.root).map_err(io("cannot sync", &dir.root))?;
        let opened = case_opened(&ctx, now, mode, &playbook, &source, playbook_path, resolved);
        let mut session = Session::assembled(dir, playbook, State::default(), Vec::new(), writer, lock, ctx);
        session.execute(&Command::Open(opened))?;
        session.housekeeping(stale, torn)?;
        if let Some(staging) = staging {
            session.move_into_place(&staging, root)?;
        }
        Ok(session)
    }

    /// Opens a new case shared on S3 (`store`), this responder's replica in `cache` (a cache:
    /// whatever it held is replaced). The playbook snapshot and the inputs are written there once;
    /// the journal's first entry is a conditional write like every other.
    pub fn create_shared(
        store: shared::Store,
        cache: &Path,
        playbook_path: &Path,
        inputs: &[(String, String)],
        mode: Mode,
        ctx: Context,
        allowed_signers: Option<&[u8]>,
    ) -> Result<Session, CaseError> {
        let (playbook, source) = load(playbook_path)?;
        let now = ctx.clock.now();
        let resolved = engine::resolve_inputs(&playbook, inputs, now).map_err(CaseError::Inputs)?;
        let url = store.url();
        let fail = |what: String| CaseError::Shared {
            url: url.clone(),
            what,
        };
        if let Some(signer) = &ctx.signer {
            signer.check_outside(cache)?;
        }
        if store.get_entry(0).map_err(|e| fail(e.0))?.is_some() {
            return Err(fail(
                "a case is there already; join it with `irp join`".to_owned(),
            ));
        }
        let inputs_text = serde_json::to_vec_pretty(&resolved).unwrap_or_default();
        let signers = allowed_signers
            .map(|b| journal::sign::AllowedSigners::parse(&String::from_utf8_lossy(b)).map(|a| (b, a)))
            .transpose()
            .map_err(|e| fail(format!("the allowed signers: {e}")))?;
        if signers.is_some() && ctx.signer.is_none() {
            return Err(fail(
                "the case would require signed entries (--allowed-signers), but this responder signs none: give --signing-key".to_owned(),
            ));
        }
        let mut files = vec![
            (CaseDir::SNAPSHOT, source.as_bytes()),
            (CaseDir::INPUTS, inputs_text.as_slice()),
        ];
        if let Some((bytes, _)) = &signers {
            files.push((shared::ALLOWED_SIGNERS, bytes));
        }
        for (name, bytes) in files {
            if store.put_new(name, bytes).map_err(|e| fail(e.0))? == shared::Put::Taken
                && store.get(name).map_err(|e| fail(e.0))?.as_deref() != Some(bytes)
            {
                return Err(fail(format!(
                    "another case is being opened there (its {name} differs); join it or choose another prefix"
                )));
            }
        }
        let (dir, lock, writer) = fresh_replica(cache, &source, &inputs_text, now)?;
        let opened = case_opened(&ctx, now, mode, &playbook, &source, playbook_path, resolved);
        let mut session = Session {
            shared: Some(store),
            shared_signers: signers.map(|(_, a)| a),
            offline: false,
            ..Session::assembled(dir, playbook, State::default(), Vec::new(), writer, lock, ctx)
        };
        session.execute(&Command::Open(opened))?;
        session.housekeeping(None, Vec::new())?;
        Ok(session)
    }

    /// Joins a case shared on S3: the snapshot, the inputs and every entry are read into this
    /// responder's replica in `cache` (the one kept there when it is still a prefix of the
    /// journal, else a fresh one; each entry checked and linked), and a session is journaled.
    pub fn join_shared(store: shared::Store, cache: &Path, ctx: Context) -> Result<Session, CaseError> {
        let mut session = Session::open_replica(store, cache, ctx)?;
        if !session.offline {
            session.housekeeping(None, Vec::new())?;
            session.flush_outbox()?;
        }
        Ok(session)
    }

    /// Brings the replica of a shared case in `cache` up to date and returns its folder, writing
    /// nothing to the case: what `irp verify`, `irp report`, `irp review` and `irp case export`
    /// read.
    /// With it, a line for each object on S3 it refused that no entry records yet, and one saying
    /// so when S3 could not be reached and the replica is read as it was.
    pub fn read_shared(store: shared::Store, cache: &Path) -> Result<(PathBuf, Vec<String>), CaseError> {
        let ctx = Context {
            actor: SYSTEM_ACTOR.to_owned(),
            clock: crate::clock::Clock::System,
            ids: crate::clock::Ids::from_env(),
            command: "read".to_owned(),
            signer: None,
        };
        let session = Session::open_replica(store, cache, ctx)?;
        let mut said = session.refused_slots();
        if session.offline {
            said.push(format!(
                "S3 cannot be reached: this is the replica as last read ({} entries, the last written at {}); it lacks whatever other responders wrote since",
                session.entries.len(),
                session
                    .entries
                    .last()
                    .map(|e| e.at.to_rfc3339_opts(SecondsFormat::Secs, true))
                    .unwrap_or_default()
            ));
        }
        Ok((session.dir.root.clone(), said))
    }

    /// The replica kept in `cache`, opened while S3 cannot be reached: read-only but for notes
    /// and evidence, which wait in its outbox.
    fn open_offline(
        store: shared::Store,
        cache: &Path,
        ctx: Context,
        why: &str,
    ) -> Result<Session, CaseError> {
        let url = store.url();
        let offline = || CaseError::Offline {
            url: url.clone(),
            what: format!("{why}; and there is no replica of the case here to work on offline"),
        };
        let dir = CaseDir::new(cache);
        let source = std::fs::read_to_string(dir.path(CaseDir::SNAPSHOT)).map_err(|_| offline())?;
        let Some(playbook) = crate::playbook::load_str(&source).playbook else {
            return Err(offline());
        };
        let journal_path = dir.journal();
        let (lock, _) = CaseLock::acquire(&dir.lock(), &holder(ctx.clock.now()))?;
        let scan = journal::store::read(&journal_path).map_err(|_| offline())?;
        if scan.entries.is_empty() || scan.corruption.is_some() || scan.torn.is_some() {
            return Err(offline());
        }
        let writer = Writer::open(&journal_path, &scan).map_err(io("cannot open", &journal_path))?;
        Ok(Session {
            shared: Some(store),
            shared_signers: None,
            offline: true,
            ..Session::assembled(
                dir,
                playbook,
                State::replay(scan.entries.iter().map(|e| &e.event)),
                scan.entries,
                writer,
                lock,
                ctx,
            )
        })
    }

    /// Whether this shared case was opened from its replica while S3 could not be reached.
    pub fn is_offline(&self) -> bool {
        self.offline
    }

    fn open_replica(store: shared::Store, cache: &Path, ctx: Context) -> Result<Session, CaseError> {
        let url = store.url();
        let fail = |what: String| CaseError::Shared {
            url: url.clone(),
            what,
        };
        let missing = || fail("holds no case (no playbook snapshot there)".to_owned());
        let source = match store.get(CaseDir::SNAPSHOT) {
            Ok(found) => found.ok_or_else(missing)?,
            // S3 cannot be reached: a responder with a replica keeps reading it and writing
            // notes and evidence, kept in its outbox.
            Err(e) if e.1 => return Session::open_offline(store, cache, ctx, &e.0),
            Err(e) => return Err(fail(e.0)),
        };
        let inputs_text = store
            .get(CaseDir::INPUTS)
            .map_err(|e| fail(e.0))?
            .ok_or_else(missing)?;
        let source =
            String::from_utf8(source).map_err(|_| fail("its playbook snapshot is not UTF-8".to_owned()))?;
        let shared_signers = store
            .get(shared::ALLOWED_SIGNERS)
            .map_err(|e| fail(e.0))?
            .map(|b| journal::sign::AllowedSigners::parse(&String::from_utf8_lossy(&b)))
            .transpose()
            .map_err(|e| fail(format!("its allowed signers: {e}")))?;
        let loaded = crate::playbook::load_str(&source);
        let Some(playbook) = loaded.playbook else {
            return Err(CaseError::InvalidPlaybook {
                path: PathBuf::from(format!("{url}/{}", CaseDir::SNAPSHOT)),
                diagnostics: loaded.diagnostics,
            });
        };
        let first = store.get_entry(0).map_err(|e| fail(e.0))?;
        let kept = kept_replica(cache, &source, first.as_deref(), ctx.clock.now())?;
        let (dir, lock, writer, entries) = if let Some(kept) = kept {
            kept
        } else {
            let (dir, lock, writer) = fresh_replica(cache, &source, &inputs_text, ctx.clock.now())?;
            (dir, lock, writer, Vec::new())
        };
        let mut session = Session {
            shared: Some(store),
            shared_signers,
            offline: false,
            ..Session::assembled(
                dir,
                playbook,
                State::replay(entries.iter().map(|e| &e.event)),
                entries,
                writer,
                lock,
                ctx,
            )
        };
        session.pull()?;
        let Some(first) = session.entries.first() else {
            return Err(fail("holds no journal entry yet".to_owned()));
        };
        if let Event::CaseOpened(o) = &first.event
            && o.playbook.sha256 != sha256_hex(source.as_bytes())
        {
            return Err(fail(
                "its playbook snapshot is not the one the case opened with".to_owned(),
            ));
        }
        Ok(session)
    }

    /// Continues the case in `root`: checks the journal, repairs a torn tail, rebuilds the state.
    pub fn resume(
        root: &Path,
        choice: PlaybookChoice,
        ctx: Context,
    ) -> Result<(Session, ResumeReport), CaseError> {
        let dir = CaseDir::new(root);
        let journal_path = dir.journal();
        if !journal_path.is_file() {
            return Err(CaseError::NoCase(root.to_owned()));
        }
        if let Some(signer) = &ctx.signer {
            signer.check_outside(root)?;
        }
        let now = ctx.clock.now();
        let (lock, stale) = CaseLock::acquire(&dir.lock(), &holder(now))?;
        let scan = journal::store::read(&journal_path).map_err(io("cannot read", &journal_path))?;
        if let Some(corruption) = scan.corruption.clone() {
            return Err(CaseError::Corrupt {
                path: journal_path,
                corruption,
            });
        }
        if scan.entries.is_empty() {
            return Err(CaseError::NoCase(root.to_owned()));
        }
        let mut torn = Vec::new();
        if let Some(bytes) = &scan.torn {
            torn.push(set_aside(&dir, scan.entries.len() as u64, bytes)?);
            let f = std::fs::OpenOptions::new()
                .write(true)
                .open(&journal_path)
                .map_err(io("cannot open", &journal_path))?;
            f.set_len(scan.good_len)
                .map_err(io("cannot repair", &journal_path))?;
            f.sync_all().map_err(io("cannot repair", &journal_path))?;
        }
        // A set-aside file no entry mentions: a crash came between moving the bytes and saying so.
        for t in unrecorded_torn_files(&dir, &scan.entries)? {
            if !torn.iter().any(|x: &TornTail| x.file == t.file) {
                torn.push(t);
            }
        }
        let scan = journal::store::Scan { torn: None, ..scan };
        let folded = State::replay(scan.entries.iter().map(|e| &e.event));
        let (playbook, change) = resume_playbook(&dir, &folded, choice, scan.entries.len() as u64)?;
        let mut writer = Writer::open(&journal_path, &scan).map_err(io("cannot open", &journal_path))?;
        start_signing(&dir, &ctx, &mut writer)?;
        let mut session = Session::assembled(dir, playbook, folded, scan.entries, writer, lock, ctx);
        let report = ResumeReport {
            stale_lock: stale.clone(),
            torn: torn.clone(),
            playbook_changed: change.is_some(),
        };
        session.housekeeping(stale, torn)?;
        if let Some(change) = change {
            session.record(&session.ctx.actor.clone(), Event::PlaybookChanged(change))?;
        }
        Ok((session, report))
    }

    /// Entries about the session itself: who took over, what was repaired, who is working.
    fn housekeeping(&mut self, stale: Option<Holder>, torn: Vec<TornTail>) -> Result<(), CaseError> {
        if let Some(h) = stale {
            self.record(
                SYSTEM_ACTOR,
                Event::LockTakenOver(LockHolder {
                    pid: h.pid,
                    host: h.host,
                    since: h.since,
                }),
            )?;
        }
        for t in torn {
            self.record(SYSTEM_ACTOR, Event::TornTailSetAside(t))?;
        }
        if self.state.closed.is_some() {
            return Ok(());
        }
        let started = Event::SessionStarted(SessionStarted {
            pid: std::process::id(),
            host: host_name(),
            irp: env!("CARGO_PKG_VERSION").to_owned(),
            command: self.ctx.command.clone(),
            clock: Some(self.ctx.clock.source().to_owned()),
            ids: Some(self.ctx.ids.source().to_owned()),
        });
        self.record(&self.ctx.actor.clone(), started)?;
        Ok(())
    }

    pub fn env(&self) -> Env {
        Env {
            now: self.ctx.clock.now(),
            naming: self.naming.clone(),
            actor: Some(self.ctx.actor.clone()),
        }
    }

    /// Names Security Lake's tables as the query backend finds them (Athena: the region and
    /// database of the settings). The embedded engine's names are the default.
    pub fn set_naming(&mut self, naming: crate::playbook::context::TableNaming) {
        self.naming = naming;
    }

    /// The session's "now" as the journal's action details write it (RFC 3339, seconds).
    pub fn now_text(&self) -> String {
        self.env().now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    }

    /// How the backend names Security Lake's tables.
    pub fn naming(&self) -> &crate::playbook::context::TableNaming {
        &self.naming
    }

    /// Changes where the session's time comes from: a driver that scripts a case at given
    /// times (a test, a replayed exercise) pins each move's time.
    pub fn set_clock(&mut self, clock: crate::clock::Clock) {
        self.ctx.clock = clock;
    }

    pub fn actor(&self) -> &str {
        &self.ctx.actor
    }

    /// Records who a live case's AWS calls are made as (before the first call of a session).
    pub fn record_identity(&mut self, identity: engine::AwsIdentity) -> Result<&Entry, CaseError> {
        self.record(SYSTEM_ACTOR, Event::AwsIdentity(identity))
    }

    /// Reads an artifact an entry vouches for, refusing one whose bytes no longer match the hash
    /// the entry recorded.
    pub fn read_artifact(&self, r: &ArtifactRef) -> Result<Vec<u8>, CaseError> {
        read_artifact(&self.dir, r)
    }

    /// Judges a command and, if it is legal, records it: written and fsynced, then applied. In a
    /// shared case the entry is first put on S3 at the next seq; when another responder's entry
    /// got there first, this one reads what landed and judges the command again on that state
    /// (it may now be refused: the refusal is the answer).
    pub fn execute(&mut self, cmd: &Command) -> Result<&Entry, CaseError> {
        let actor = self.ctx.actor.clone();
        if self.shared.is_none() {
            let event = engine::decide(&self.playbook, &self.state, cmd, &self.env())?;
            return self.record(&actor, event);
        }
        // Judged now, so that what cannot be recorded is said now, offline too; online, a
        // refusal may come of entries not read yet, so it is judged again after reading them.
        let legal = match engine::decide(&self.playbook, &self.state, cmd, &self.env()) {
            Err(refused) if self.offline => return Err(refused.into()),
            judged => judged.is_ok(),
        };
        let offline_kind = Pending::of(cmd).filter(|_| legal);
        // The move's entry id, fixed now: an append whose reply was lost and that waits in the
        // outbox keeps it, so that the flush finds it on S3 and does not write it twice.
        let id = self.ctx.ids.id(self.ctx.clock.now(), "move");
        if offline_kind.is_some() && self.offline {
            return Err(self.queue(offline_kind, &actor, id));
        }
        if let Err(e) = self.flush_outbox() {
            if matches!(e, CaseError::Offline { .. }) && offline_kind.is_some() {
                return Err(self.queue(offline_kind, &actor, id));
            }
            return Err(e);
        }
        match self.append_judged(cmd, &actor, Some(id), None) {
            Ok(i) => Ok(&self.entries[i]),
            Err(CaseError::Offline { .. }) if offline_kind.is_some() => {
                Err(self.queue(offline_kind, &actor, id))
            }
            Err(e) => Err(e),
        }
    }

    /// Appends a command to a shared case: read what landed, judge, put; again on a lost race.
    /// `id` and `made_offline` are those of a command kept offline.
    fn append_judged(
        &mut self,
        cmd: &Command,
        actor: &str,
        id: Option<uuid::Uuid>,
        made_offline: Option<&str>,
    ) -> Result<usize, CaseError> {
        let start = self.entries.len();
        self.append_shared(actor, id, |s| {
            let env = Env {
                actor: Some(actor.to_owned()),
                ..s.env()
            };
            let mut event = engine::decide(&s.playbook, &s.state, cmd, &env)
                .map_err(|refused| s.overtaken(refused, start, actor))?;
            if let Some(t) = made_offline {
                match &mut event {
                    Event::NoteAdded { made_offline, .. } => *made_offline = Some(t.to_owned()),
                    Event::EvidenceAdded(e) => e.made_offline = Some(t.to_owned()),
                    _ => {}
                }
            }
            Ok(event)
        })
    }

    /// The append loop of a shared case: read what landed, make the event on the case as it now
    /// stands (`event_for` may refuse), put it at the next slot; again after a short random wait
    /// when another responder's entry got there first. Returns the entry's index.
    fn append_shared(
        &mut self,
        actor: &str,
        id: Option<uuid::Uuid>,
        mut event_for: impl FnMut(&Session) -> Result<Event, CaseError>,
    ) -> Result<usize, CaseError> {
        for attempt in 0..SHARED_ATTEMPTS {
            self.pull()?;
            let event = event_for(self)?;
            if let Some(i) = self.put_shared_as(actor, event, id)? {
                self.seal_if_due()?;
                return Ok(i);
            }
            back_off(attempt);
        }
        Err(self.busy())
    }

    /// A refusal after other responders' entries landed (since entry `start`) names the last of
    /// them about the same step (else the last), so the responder learns who got there first.
    fn overtaken(&self, refused: EngineError, start: usize, actor: &str) -> CaseError {
        let step = match &refused {
            EngineError::NotCurrent { step, .. } => Some(step.as_str()),
            _ => None,
        };
        let others: Vec<&Entry> = self.entries[start.min(self.entries.len())..]
            .iter()
            .filter(|e| e.actor != actor && e.actor != SYSTEM_ACTOR)
            .collect();
        let Some(last) = others
            .iter()
            .rev()
            .find(|e| step.is_some() && e.event.step() == step)
            .or_else(|| others.last())
        else {
            return CaseError::Engine(refused);
        };
        CaseError::Overtaken {
            refused: Box::new(refused),
            by: last.actor.clone(),
            what: match last.event.step() {
                Some(step) => format!("`{}` at step `{step}`, entry {}", last.event.kind(), last.seq),
                None => format!("`{}`, entry {}", last.event.kind(), last.seq),
            },
        }
    }

    /// Keeps a note or evidence in the replica's outbox while S3 cannot be reached; the error
    /// says how many wait.
    fn queue(&mut self, pending: Option<Pending>, actor: &str, id: uuid::Uuid) -> CaseError {
        let url = self.shared_url().unwrap_or_default();
        let Some(mut p) = pending else {
            return CaseError::Offline {
                url,
                what: "only notes and evidence are kept offline".to_owned(),
            };
        };
        let now = self.ctx.clock.now();
        actor.clone_into(&mut p.actor);
        p.made = now.to_rfc3339_opts(SecondsFormat::Millis, true);
        p.id = id;
        let path = self.dir.path(OUTBOX);
        let mut line = serde_json::to_vec(&p).unwrap_or_default();
        line.push(b'\n');
        let written = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|mut f| {
                use std::io::Write as _;
                f.write_all(&line)?;
                f.sync_data()
            });
        if let Err(e) = written {
            return CaseError::Io {
                what: "cannot keep the note offline in",
                path,
                source: e,
            };
        }
        CaseError::Queued {
            url,
            waiting: read_outbox(&self.dir).len(),
        }
    }

    /// Appends what waits in the outbox, in order, each judged again on the case as it now is:
    /// one already on S3 (written before a reply was lost) is not written twice; one the case now
    /// refuses goes to `outbox-refused.jsonl` with the reason, never dropped. Returns how many
    /// were appended.
    pub fn flush_outbox(&mut self) -> Result<usize, CaseError> {
        let pending = read_outbox(&self.dir);
        if pending.is_empty() || self.shared.is_none() {
            return Ok(0);
        }
        let mut appended = 0;
        let mut left = pending.clone();
        for p in pending {
            self.pull()?;
            if !self.entries.iter().any(|e| e.id == p.id) {
                match self.append_judged(&p.command(), &p.actor, Some(p.id), Some(&p.made)) {
                    Ok(_) => appended += 1,
                    Err(e @ (CaseError::Engine(_) | CaseError::Overtaken { .. })) => {
                        let refused = e.to_string();
                        let path = self.dir.path(OUTBOX_REFUSED);
                        let mut line =
                            serde_json::to_vec(&serde_json::json!({ "pending": &p, "refused": refused }))
                                .unwrap_or_default();
                        line.push(b'\n');
                        let mut all = std::fs::read(&path).unwrap_or_default();
                        all.extend_from_slice(&line);
                        journal::write_durably(&path, &all).map_err(io("cannot write", &path))?;
                    }
                    Err(e) => return Err(e),
                }
            }
            left.remove(0);
            let text: Vec<u8> = left
                .iter()
                .flat_map(|x| {
                    let mut l = serde_json::to_vec(x).unwrap_or_default();
                    l.push(b'\n');
                    l
                })
                .collect();
            let path = self.dir.path(OUTBOX);
            journal::write_durably(&path, &text).map_err(io("cannot write", &path))?;
        }
        Ok(appended)
    }

    /// Reads the entries other responders added to a shared case since the last read: each is
    /// checked (its hash, its seq, its link to the one before, its signature where the case
    /// requires them, the files it vouches for), written to the replica and applied. An object
    /// that fails a check takes its slot and nothing else: its bytes are kept aside in
    /// `rejected/`, the state skips it, and this responder's next write records it
    /// (`entry_rejected`). Returns how many entries were added; 0 for a case that is not shared.
    pub fn pull(&mut self) -> Result<usize, CaseError> {
        let Some(store) = &self.shared else {
            return Ok(0);
        };
        let url = store.url();
        let mut added = 0;
        loop {
            let slot = self.next_slot;
            let Some(store) = &self.shared else {
                break;
            };
            let Some(line) = store.get_entry(slot).map_err(|e| store_error(&url, e))? else {
                break;
            };
            match self.check_slot(&line)? {
                Ok((entry, signature)) => {
                    if let Event::EntryRejected(r) = &entry.event {
                        self.unjournaled.retain(|(u, _)| u.slot != r.slot);
                    }
                    if let Some(bytes) = &signature {
                        self.append_signature(bytes)?;
                    }
                    self.writer
                        .append_line(&entry, &line)
                        .map_err(io("cannot append to", self.writer.path()))?;
                    self.state.apply(&entry.event);
                    self.entries.push(entry);
                    added += 1;
                }
                Err((why, claimed_actor)) => {
                    let file = format!("{REJECTED}/slot-{slot}");
                    let path = self.dir.path(&file);
                    std::fs::create_dir_all(self.dir.path(REJECTED)).map_err(io("cannot create", &path))?;
                    journal::write_durably(&path, &line).map_err(io("cannot write", &path))?;
                    if !self.state.rejected.iter().any(|r| r.slot == slot)
                        && !self.unjournaled.iter().any(|(u, _)| u.slot == slot)
                    {
                        let rejected = engine::EntryRejected {
                            slot,
                            object_sha256: sha256_hex(&line),
                            claimed_actor,
                            why,
                            file,
                        };
                        self.unjournaled.push((rejected, line));
                    }
                }
            }
            self.next_slot += 1;
        }
        Ok(added)
    }

    /// What irp refused on S3 and no entry records yet (a reader that writes nothing leaves it to
    /// the next writer): one line each.
    pub fn refused_slots(&self) -> Vec<String> {
        self.unjournaled
            .iter()
            .map(|(r, _)| {
                format!(
                    "slot {} on S3 was refused and skipped: it {} (kept in {}; the next responder to write records it)",
                    r.slot, r.why, r.file
                )
            })
            .collect()
    }

    /// Checks one object read from a slot: `Ok(Err((why, claimed actor)))` when it is not an
    /// entry of this case (forged or broken); errors only for what is not the object's fault.
    #[allow(clippy::type_complexity)]
    fn check_slot(
        &self,
        line: &[u8],
    ) -> Result<Result<(Entry, Option<Vec<u8>>), (String, Option<String>)>, CaseError> {
        let seq = self.writer.next_seq();
        let Some(body) = line.strip_suffix(b"\n") else {
            return Ok(Err(("does not end its line".to_owned(), None)));
        };
        let entry = match journal::entry::decode(body) {
            Ok(entry) => entry,
            Err(p) => return Ok(Err((p.to_string(), None))),
        };
        let claimed = Some(entry.actor.clone());
        if entry.seq != seq || entry.prev != self.writer.head() {
            return Ok(Err((
                format!(
                    "is not linked to entry {} (its seq says {}, its prev {})",
                    seq.saturating_sub(1),
                    entry.seq,
                    short(&entry.prev)
                ),
                claimed,
            )));
        }
        let Some(store) = &self.shared else {
            return Ok(Err(("has no case to belong to".to_owned(), claimed)));
        };
        let signature = store
            .get(&shared::signature_name(seq, &entry.hash))
            .map_err(|e| store_error(&store.url(), e))?;
        if let Some(allowed) = &self.shared_signers
            && let Err(why) = check_shared_signature(allowed, &entry, signature.as_deref())
        {
            return Ok(Err((why, claimed)));
        }
        if let Some(why) = self.fetch_vouched(&entry)? {
            return Ok(Err((why, claimed)));
        }
        Ok(Ok((entry, signature)))
    }

    /// Puts `event` on S3 at the next slot, after an entry for each slot this replica refused
    /// and no entry records yet; `None` when another responder's entry got a slot first.
    fn put_shared_as(
        &mut self,
        actor: &str,
        event: Event,
        id: Option<uuid::Uuid>,
    ) -> Result<Option<usize>, CaseError> {
        while let Some((rejected, bytes)) = self.unjournaled.first().cloned() {
            if let Some(store) = &self.shared {
                store
                    .put_new(&format!("artifacts/{}", rejected.object_sha256), &bytes)
                    .map_err(|e| store_error(&store.url(), e))?;
            }
            if self
                .put_slot(actor, Event::EntryRejected(rejected), None)?
                .is_none()
            {
                return Ok(None);
            }
            self.unjournaled.remove(0);
        }
        self.put_slot(actor, event, id)
    }

    fn put_slot(
        &mut self,
        actor: &str,
        event: Event,
        id: Option<uuid::Uuid>,
    ) -> Result<Option<usize>, CaseError> {
        let at = self.ctx.clock.now();
        let id = id.unwrap_or_else(|| self.ctx.ids.id(at, &self.writer.next_seq().to_string()));
        let (entry, line) = self
            .writer
            .prepare(id, at, actor, event)
            .map_err(io("cannot prepare an entry for", self.writer.path()))?;
        let Some(store) = &self.shared else {
            return Ok(None);
        };
        let fail = |what: String| CaseError::Shared {
            url: store.url(),
            what,
        };
        if let Some(allowed) = &self.shared_signers {
            let Some(signer) = &self.ctx.signer else {
                return Err(fail(
                    "every entry of this case must be signed; give --signing-key".to_owned(),
                ));
            };
            if allowed.principals(signer.public_key().key_data(), at).is_empty() {
                return Err(fail(format!(
                    "{} is not a key the case's allowed signers allow; its entries would be refused by every reader",
                    signer.describe()
                )));
            }
        }
        // A signed entry's signature is on S3 before the entry (named by the entry's hash, so a
        // signature of an entry that loses its seq names nothing that was written).
        let signature = match &self.ctx.signer {
            Some(signer) => {
                let sig = signer.sign_entry(entry.seq, &entry.hash)?;
                let mut bytes = serde_json::to_vec(&sig).unwrap_or_default();
                bytes.push(b'\n');
                store
                    .put_new(&shared::signature_name(entry.seq, &entry.hash), &bytes)
                    .map_err(|e| store_error(&store.url(), e))?;
                Some(bytes)
            }
            None => None,
        };
        let put = store
            .put_entry(self.next_slot, &line)
            .map_err(|e| store_error(&store.url(), e))?;
        // Taken by our own line: an earlier try of this very put reached S3 and its reply was
        // lost (the SDK tried again). The entry is ours, written once.
        if put == shared::Put::Taken
            && store
                .get_entry(self.next_slot)
                .map_err(|e| store_error(&store.url(), e))?
                .as_deref()
                != Some(line.as_slice())
        {
            return Ok(None);
        }
        self.next_slot += 1;
        if let Some(bytes) = signature {
            self.append_signature(&bytes)?;
        }
        self.writer
            .append_line(&entry, &line)
            .map_err(io("cannot append to", self.writer.path()))?;
        self.state.apply(&entry.event);
        self.entries.push(entry);
        Ok(Some(self.entries.len() - 1))
    }

    /// Appends a signature line to the replica's `signatures.jsonl`, durably.
    fn append_signature(&self, line: &[u8]) -> Result<(), CaseError> {
        use std::io::Write as _;
        let path = self.dir.path(CaseDir::SIGNATURES);
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io("cannot open", &path))?;
        f.write_all(line)
            .and_then(|()| f.sync_data())
            .map_err(io("cannot append to", &path))
    }

    fn busy(&self) -> CaseError {
        CaseError::Shared {
            url: self.shared.as_ref().map(shared::Store::url).unwrap_or_default(),
            what: format!(
                "other responders' entries landed ahead of this one {SHARED_ATTEMPTS} times in a row; nothing was recorded"
            ),
        }
    }

    /// The S3 location of a shared case.
    pub fn shared_url(&self) -> Option<String> {
        self.shared.as_ref().map(shared::Store::url)
    }

    fn record(&mut self, actor: &str, event: Event) -> Result<&Entry, CaseError> {
        if self.shared.is_some() {
            let i = self.append_shared(actor, None, |_| Ok(event.clone()))?;
            return Ok(&self.entries[i]);
        }
        let at = self.ctx.clock.now();
        let id = self.ctx.ids.id(at, &self.writer.next_seq().to_string());
        let entry = self
            .writer
            .append(id, at, actor, event)
            .map_err(io("cannot append to", self.writer.path()))?;
        self.state.apply(&entry.event);
        let index = self.entries.len();
        self.entries.push(entry);
        self.seal_if_due()?;
        Ok(&self.entries[index])
    }

    /// Renames the staging folder a new case was built in to `root` (replacing an empty folder
    /// there) and makes the rename durable.
    fn move_into_place(&mut self, staging: &Path, root: &Path) -> Result<(), CaseError> {
        if let Err(e) = std::fs::rename(staging, root) {
            return Err(CaseError::Io {
                what: "cannot move the new case into",
                path: root.to_owned(),
                source: std::io::Error::new(
                    e.kind(),
                    format!(
                        "{e} (the case this run opened is in {}, untouched)",
                        staging.display()
                    ),
                ),
            });
        }
        let parent = journal::parent_dir(root);
        journal::sync_dir(parent).map_err(io("cannot sync", parent))?;
        self.dir = CaseDir::new(root);
        self.writer.set_path(&self.dir.journal());
        Ok(())
    }

    /// Seals the case from now on as `auto` says.
    pub fn seal_as_it_goes(&mut self, mut auto: AutoSeal) {
        auto.sealed = self
            .entries
            .iter()
            .rev()
            .find_map(|e| match &e.event {
                Event::CaseSealed(s) => Some(s.entries),
                _ => None,
            })
            .unwrap_or(0);
        auto.stage = self.stage_now();
        self.auto_seal = Some(auto);
    }

    fn stage_now(&self) -> Option<usize> {
        self.state
            .current_step()
            .and_then(|s| self.playbook.step(s))
            .map(|s| s.stage)
    }

    /// An automatic seal, when one is due. While it is made the settings are out of the session,
    /// so the entries the seal itself writes never start another.
    fn seal_if_due(&mut self) -> Result<(), CaseError> {
        let Some(mut auto) = self.auto_seal.take() else {
            return Ok(());
        };
        let result = self.seal_if_due_with(&mut auto);
        self.auto_seal = Some(auto);
        result
    }

    /// A seal that fails is journaled and the case goes on: the next one tries again.
    fn seal_if_due_with(&mut self, auto: &mut AutoSeal) -> Result<(), CaseError> {
        let stage = self.stage_now();
        let left = std::mem::replace(&mut auto.stage, stage).filter(|s| Some(*s) != stage);
        let count = self.entries.len() as u64;
        let trigger = if self.state.closed.is_some() {
            "case closed".to_owned()
        } else if let Some(ended) = left.filter(|_| auto.at_stage_end) {
            let id = self.playbook.stages.get(ended).map_or("?", |s| s.id.as_str());
            format!("end of stage {id}")
        } else if let Some(n) = auto.every.filter(|n| count - auto.sealed >= *n) {
            format!("every {n} entries")
        } else {
            return Ok(());
        };
        if count == auto.sealed {
            return Ok(());
        }
        match self.seal_now(&auto.sealer, &trigger) {
            Ok(_) => {
                auto.sealed = count;
                Ok(())
            }
            Err(CaseError::Seal(e)) => {
                let location = auto.sealer.location.url();
                self.record(
                    SYSTEM_ACTOR,
                    Event::SealFailed {
                        location,
                        error: e.to_string(),
                    },
                )
                .map(|_| ())
            }
            Err(e) => Err(e),
        }
    }

    /// Seals the case now: the journal as written, its signatures and the manifest to S3, then
    /// the seal journaled.
    pub fn seal_now(&mut self, sealer: &seal::Sealer, trigger: &str) -> Result<&Entry, CaseError> {
        let path = self.writer.path().to_owned();
        let mut journal = std::fs::read(&path).map_err(io("cannot read", &path))?;
        journal.truncate(usize::try_from(self.writer.bytes_written()).unwrap_or(usize::MAX));
        let case = self
            .state
            .opened
            .as_ref()
            .map(|o| o.case.clone())
            .unwrap_or_default();
        let seal = sealer.seal(
            &self.dir,
            &case,
            &self.entries,
            &journal,
            self.ctx.clock.now(),
            trigger,
        )?;
        let actor = self.ctx.actor.clone();
        self.record(&actor, Event::CaseSealed(seal))
    }

    /// Where an artifact for the next entry goes (`artifacts/<seq>-<step>.<ext>`), for writers
    /// that stream into the file (created with `create_new`: an artifact is never replaced);
    /// `seal_artifact` makes it durable and describes it. A name already taken — an artifact
    /// written before a crash or a failed attempt, which no entry vouches for — is left as it
    /// is, and the next free `<seq>-<step>-<n>.<ext>` is used.
    pub fn artifact_path(&self, step: &str, ext: &str) -> Result<(String, PathBuf), CaseError> {
        let folder = self.dir.path(CaseDir::ARTIFACTS);
        if !folder.is_dir() {
            std::fs::create_dir_all(&folder).map_err(io("cannot create", &folder))?;
            // The new folder's name is durable in the case folder before anything in it is.
            journal::sync_dir(&self.dir.root).map_err(io("cannot sync", &self.dir.root))?;
        }
        let seq = self.writer.next_seq();
        for n in 1u32.. {
            let rel = if n == 1 {
                format!("{}/{seq}-{step}.{ext}", CaseDir::ARTIFACTS)
            } else {
                format!("{}/{seq}-{step}-{n}.{ext}", CaseDir::ARTIFACTS)
            };
            let path = self.dir.path(&rel);
            if std::fs::symlink_metadata(&path).is_err() {
                return Ok((rel, path));
            }
        }
        Err(CaseError::Io {
            what: "cannot name an artifact in",
            path: folder,
            source: std::io::Error::other("every name is taken"),
        })
    }

    /// Syncs a streamed artifact to disk and hashes it.
    pub fn seal_artifact(&self, rel: &str) -> Result<ArtifactRef, CaseError> {
        let path = self.dir.path(rel);
        std::fs::File::open(&path)
            .and_then(|f| f.sync_all())
            .map_err(io("cannot seal", &path))?;
        journal::sync_dir(&self.dir.path(CaseDir::ARTIFACTS)).map_err(io("cannot seal", &path))?;
        let (sha256, bytes) = journal::entry::sha256_file(&path).map_err(io("cannot hash", &path))?;
        let r = ArtifactRef {
            path: rel.to_owned(),
            sha256,
            bytes,
        };
        if self.shared.is_some() {
            let data = std::fs::read(&path).map_err(io("cannot read", &path))?;
            self.share_artifact(&r, &data)?;
        }
        Ok(r)
    }

    /// Stores an artifact for the next entry (`artifacts/<seq>-<step>.<ext>`), durably, before
    /// the entry that vouches for it is written.
    pub fn write_artifact(&self, step: &str, ext: &str, bytes: &[u8]) -> Result<ArtifactRef, CaseError> {
        let (rel, path) = self.artifact_path(step, ext)?;
        journal::write_new_durably(&path, bytes).map_err(io("cannot write", &path))?;
        let r = ArtifactRef {
            path: rel,
            sha256: sha256_hex(bytes),
            bytes: bytes.len() as u64,
        };
        self.share_artifact(&r, bytes)?;
        Ok(r)
    }

    /// In a shared case, puts an artifact under the case's prefix by its SHA-256
    /// (`artifacts/<sha256>`), before any entry vouches for it: the other responders' replicas
    /// fetch it from there.
    fn share_artifact(&self, r: &ArtifactRef, bytes: &[u8]) -> Result<(), CaseError> {
        let Some(store) = &self.shared else {
            return Ok(());
        };
        store
            .put_new(&format!("artifacts/{}", r.sha256), bytes)
            .map(|_| ())
            .map_err(|e| CaseError::Shared {
                url: store.url(),
                what: e.0,
            })
    }

    /// Makes sure the replica holds every file `entry` vouches for, fetching each from
    /// `artifacts/<sha256>` when it is missing (a file of the same name with other bytes, a
    /// leftover of this replica's, is set aside in `artifacts/unvouched/`, never dropped).
    fn fetch_vouched(&self, entry: &Entry) -> Result<Option<String>, CaseError> {
        let Some(store) = &self.shared else {
            return Ok(None);
        };
        for (rel, sha) in journal::files_vouched(entry) {
            if rel == CaseDir::SNAPSHOT {
                continue;
            }
            let Some(path) = self.dir.inside(&rel) else {
                return Ok(Some(format!("names `{rel}`, outside the case folder")));
            };
            if let Ok((have, _)) = journal::entry::sha256_file(&path) {
                if have == sha {
                    continue;
                }
                let aside = self.dir.path(&format!("{}/unvouched", CaseDir::ARTIFACTS));
                std::fs::create_dir_all(&aside).map_err(io("cannot create", &aside))?;
                let name = path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let to = aside.join(format!("{name}.{}", &have[..12]));
                std::fs::rename(&path, &to).map_err(io("cannot set aside", &path))?;
            }
            let Some(bytes) = store
                .get(&format!("artifacts/{sha}"))
                .map_err(|e| store_error(&store.url(), e))?
            else {
                return Ok(Some(format!(
                    "vouches for `{rel}`, which is not under artifacts/ on S3"
                )));
            };
            if sha256_hex(&bytes) != sha {
                return Ok(Some(format!(
                    "vouches for artifacts/{sha}, which does not hash to its name"
                )));
            }
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(io("cannot create", parent))?;
            }
            journal::write_durably(&path, &bytes).map_err(io("cannot write", &path))?;
        }
        Ok(None)
    }
}

/// Reads an artifact an entry vouches for from a case folder, refusing a path outside it and
/// bytes that no longer match the hash the entry recorded. Review reads through this too: it
/// needs no session and takes no lock.
pub fn read_artifact(dir: &CaseDir, r: &ArtifactRef) -> Result<Vec<u8>, CaseError> {
    let Some(path) = dir.inside(&r.path) else {
        return Err(CaseError::Io {
            what: "refusing to read",
            path: dir.path(&r.path),
            source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "outside the case folder"),
        });
    };
    let bytes = std::fs::read(&path).map_err(io("cannot read", &path))?;
    let actual = sha256_hex(&bytes);
    if actual != r.sha256 {
        return Err(CaseError::ArtifactChanged {
            path,
            expected: r.sha256.clone(),
            actual,
        });
    }
    Ok(bytes)
}

/// Turns an I/O error about `path` into a case error saying what irp was doing.
fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> CaseError + use<> {
    let path = path.to_owned();
    move |source| CaseError::Io { what, path, source }
}

/// Where a shared case's replica keeps the objects it refused, untouched.
const REJECTED: &str = "rejected";

/// The slot on S3 of each entry (`journal/<slot>`): slots refused by readers (recorded by
/// `entry_rejected` entries after them) hold no entry.
fn entries_slots(entries: &[Entry]) -> Vec<u64> {
    let refused: std::collections::BTreeSet<u64> = entries
        .iter()
        .filter_map(|e| match &e.event {
            Event::EntryRejected(r) => Some(r.slot),
            _ => None,
        })
        .collect();
    let mut slot = 0;
    let mut slots = Vec::with_capacity(entries.len());
    for _ in entries {
        while refused.contains(&slot) {
            slot += 1;
        }
        slots.push(slot);
        slot += 1;
    }
    slots
}

/// The slot after the last entry's.
fn next_slot(slots: &[u64]) -> u64 {
    slots.last().map_or(0, |s| s + 1)
}

/// Whether a shared case's entry carries a signature that holds, of that entry, by a key its
/// allowed signers allow at the entry's time; `Err` says what is wrong.
fn check_shared_signature(
    allowed: &journal::sign::AllowedSigners,
    entry: &Entry,
    signature: Option<&[u8]>,
) -> Result<(), String> {
    let Some(bytes) = signature else {
        return Err("is not signed, and the case's allowed signers require it".to_owned());
    };
    let line: journal::sign::SignatureLine =
        serde_json::from_slice(bytes.strip_suffix(b"\n").unwrap_or(bytes))
            .map_err(|e| format!("has an unreadable signature ({e})"))?;
    if line.seq != entry.seq || line.hash != entry.hash {
        return Err("has a signature of another entry".to_owned());
    }
    let key =
        journal::sign::verify_line(&line).map_err(|e| format!("has a signature that does not hold ({e})"))?;
    if allowed.principals(key.key_data(), entry.at).is_empty() {
        return Err(format!(
            "is signed by {}, a key the case's allowed signers do not allow",
            journal::sign::fingerprint(&key)
        ));
    }
    Ok(())
}

/// The replica this responder kept of a shared case, locked, when it is one: the same snapshot,
/// a journal that reads clean and starts with the case's first entry on S3. Anything else is
/// `None`, and the replica is made anew.
#[allow(clippy::type_complexity)]
fn kept_replica(
    cache: &Path,
    source: &str,
    first_on_s3: Option<&[u8]>,
    now: DateTime<Utc>,
) -> Result<Option<(CaseDir, CaseLock, Writer, Vec<Entry>)>, CaseError> {
    let dir = CaseDir::new(cache);
    let (Ok(snapshot), Ok(bytes), Some(first)) = (
        std::fs::read(dir.path(CaseDir::SNAPSHOT)),
        std::fs::read(dir.journal()),
        first_on_s3,
    ) else {
        return Ok(None);
    };
    if snapshot != source.as_bytes() || !bytes.starts_with(first) {
        return Ok(None);
    }
    let (lock, _) = CaseLock::acquire(&dir.lock(), &holder(now))?;
    let scan = journal::store::scan(&bytes);
    if scan.corruption.is_some() || scan.torn.is_some() || scan.entries.is_empty() {
        return Ok(None);
    }
    let journal_path = dir.journal();
    let writer = Writer::open(&journal_path, &scan).map_err(io("cannot open", &journal_path))?;
    Ok(Some((dir, lock, writer, scan.entries)))
}

/// A replica folder made anew (a cache: what it held is replaced, but for its outbox, whose
/// notes and evidence are not on S3 yet), locked, with the snapshot
/// and the inputs, and a writer for the journal as it comes from S3.
fn fresh_replica(
    cache: &Path,
    source: &str,
    inputs: &[u8],
    now: DateTime<Utc>,
) -> Result<(CaseDir, CaseLock, Writer), CaseError> {
    std::fs::create_dir_all(cache).map_err(io("cannot create", cache))?;
    let dir = CaseDir::new(cache);
    let (lock, _) = CaseLock::acquire(&dir.lock(), &holder(now))?;
    for entry in std::fs::read_dir(cache)
        .map_err(io("cannot read", cache))?
        .flatten()
    {
        let path = entry.path();
        if path == dir.lock() || path == dir.path(OUTBOX) || path == dir.path(OUTBOX_REFUSED) {
            continue;
        }
        let removed = if path.is_dir() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        removed.map_err(io("cannot clear the replica", &path))?;
    }
    journal::write_durably(&dir.path(CaseDir::SNAPSHOT), source.as_bytes())
        .map_err(io("cannot write", &dir.path(CaseDir::SNAPSHOT)))?;
    journal::write_durably(&dir.path(CaseDir::INPUTS), inputs)
        .map_err(io("cannot write", &dir.path(CaseDir::INPUTS)))?;
    let journal_path = dir.journal();
    let writer =
        Writer::open(&journal_path, &journal::Scan::default()).map_err(io("cannot create", &journal_path))?;
    journal::sync_dir(&dir.root).map_err(io("cannot sync", &dir.root))?;
    Ok((dir, lock, writer))
}

/// The first entry of a new case: its id, mode, the playbook it runs (the snapshot's hash and
/// where it came from) and the inputs.
fn case_opened(
    ctx: &Context,
    now: DateTime<Utc>,
    mode: Mode,
    playbook: &Playbook,
    source: &str,
    playbook_path: &Path,
    inputs: std::collections::BTreeMap<String, serde_json::Value>,
) -> CaseOpened {
    let source_path = std::fs::canonicalize(playbook_path).unwrap_or_else(|_| playbook_path.to_owned());
    CaseOpened {
        case: ctx.ids.id(now, "case").to_string(),
        mode,
        playbook: PlaybookRef {
            id: playbook.id.clone(),
            title: playbook.title.clone(),
            version: playbook.version.clone(),
            sha256: sha256_hex(source.as_bytes()),
            snapshot: CaseDir::SNAPSHOT.to_owned(),
            source: source_path.display().to_string(),
        },
        inputs,
    }
}

/// A store error as a case error: `Offline` when S3 could not be reached at all.
fn store_error(url: &str, e: shared::StoreError) -> CaseError {
    if e.1 {
        CaseError::Offline {
            url: url.to_owned(),
            what: e.0,
        }
    } else {
        CaseError::Shared {
            url: url.to_owned(),
            what: e.0,
        }
    }
}

fn holder(now: DateTime<Utc>) -> Holder {
    Holder {
        pid: std::process::id(),
        host: host_name(),
        since: now.to_rfc3339_opts(SecondsFormat::Secs, true),
    }
}

fn load(path: &Path) -> Result<(Playbook, String), CaseError> {
    let source = crate::files::read_playbook_source(path).map_err(|d| CaseError::InvalidPlaybook {
        path: path.to_owned(),
        diagnostics: vec![d],
    })?;
    let loaded = crate::playbook::load_str(&source);
    match loaded.playbook {
        Some(pb) if !loaded.has_errors() => Ok((pb, source)),
        _ => Err(CaseError::InvalidPlaybook {
            path: path.to_owned(),
            diagnostics: loaded.diagnostics,
        }),
    }
}

/// The staging folder a new case is built in, beside `root` (`.<name>.irp-new-<pid>-<n>`), or
/// `None` when `root` already holds files (a start cut short by an older irp: built in place,
/// as before) or has no name of its own.
fn staging_folder(root: &Path) -> Result<Option<PathBuf>, CaseError> {
    match std::fs::read_dir(root) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Ok(None);
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(source) => {
            return Err(CaseError::Io {
                what: "cannot read",
                path: root.to_owned(),
                source,
            });
        }
    }
    let Some(name) = root.file_name().map(|n| n.to_string_lossy().into_owned()) else {
        return Ok(None);
    };
    let parent = journal::parent_dir(root);
    std::fs::create_dir_all(parent).map_err(io("cannot create", parent))?;
    for n in 0u32..1000 {
        let staging = parent.join(format!(".{name}.irp-new-{}-{n}", std::process::id()));
        match std::fs::create_dir(&staging) {
            Ok(()) => return Ok(Some(staging)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(source) => {
                return Err(CaseError::Io {
                    what: "cannot create",
                    path: staging,
                    source,
                });
            }
        }
    }
    Ok(None)
}

/// Signs the entries `writer` writes, when the responder gave a key.
fn start_signing(dir: &CaseDir, ctx: &Context, writer: &mut Writer) -> Result<(), CaseError> {
    if let Some(signer) = &ctx.signer {
        let path = dir.path(CaseDir::SIGNATURES);
        let sigs = journal::sign::SigWriter::open(&path, signer.clone()).map_err(io("cannot open", &path))?;
        writer.sign_with(sigs);
    }
    Ok(())
}

/// Refuses a folder whose journal holds a complete line: a case, readable or not.
fn refuse_existing_case(dir: &CaseDir) -> Result<(), CaseError> {
    let path = dir.journal();
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(CaseError::Io {
                what: "cannot read",
                path,
                source,
            });
        }
    };
    let scan = journal::store::scan(&bytes);
    if !scan.entries.is_empty() {
        return Err(CaseError::CaseExists(dir.root.clone()));
    }
    if bytes.contains(&b'\n') {
        let what = scan.corruption.map_or_else(
            || "its first line is not an entry".to_owned(),
            |c| format!("line {}: {}", c.line, c.what),
        );
        return Err(CaseError::DamagedCase {
            path: dir.root.clone(),
            what,
        });
    }
    Ok(())
}

/// A new case goes into a missing or empty folder, or one holding only the leftovers of a start
/// that was cut short; never into a folder with someone else's files.
fn prepare_folder(dir: &CaseDir) -> Result<(), CaseError> {
    let root = &dir.root;
    match std::fs::read_dir(root) {
        Ok(entries) => {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if !CaseDir::is_case_file(&name) {
                    return Err(CaseError::NotCaseFolder(root.clone(), name));
                }
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(root).map_err(io("cannot create", root))?;
            let _ = journal::sync_dir(journal::parent_dir(root));
            Ok(())
        }
        Err(source) => Err(CaseError::Io {
            what: "cannot read",
            path: root.clone(),
            source,
        }),
    }
}

/// Moves torn bytes to `journal.<seq>.torn` (durably) and describes them.
fn set_aside(dir: &CaseDir, seq: u64, bytes: &[u8]) -> Result<TornTail, CaseError> {
    let file = format!("journal.{seq}.torn");
    journal::write_durably(&dir.path(&file), bytes).map_err(io("cannot write", &dir.path(&file)))?;
    Ok(TornTail {
        bytes: bytes.len() as u64,
        sha256: sha256_hex(bytes),
        file,
    })
}

fn unrecorded_torn_files(dir: &CaseDir, entries: &[Entry]) -> Result<Vec<TornTail>, CaseError> {
    let recorded: Vec<&str> = entries
        .iter()
        .filter_map(|e| match &e.event {
            Event::TornTailSetAside(t) => Some(t.file.as_str()),
            _ => None,
        })
        .collect();
    let mut out = Vec::new();
    let Ok(list) = std::fs::read_dir(&dir.root) else {
        return Ok(out);
    };
    let mut names: Vec<String> = list
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| is_torn_file(n) && !recorded.contains(&n.as_str()))
        .collect();
    names.sort();
    for name in names {
        let bytes = std::fs::read(dir.path(&name)).map_err(io("cannot read", &dir.path(&name)))?;
        out.push(TornTail {
            bytes: bytes.len() as u64,
            sha256: sha256_hex(&bytes),
            file: name,
        });
    }
    Ok(out)
}

/// The playbook a resumed case continues with, and the change entry to write if it changed.
fn resume_playbook(
    dir: &CaseDir,
    state: &State,
    choice: PlaybookChoice,
    next_seq: u64,
) -> Result<(Playbook, Option<PlaybookChanged>), CaseError> {
    let Some(opened) = &state.opened else {
        return Err(CaseError::NoCase(dir.root.clone()));
    };
    let expected = state.playbook_sha256.clone();
    let snapshot_path = dir.path(state.playbook_snapshot.as_deref().unwrap_or(CaseDir::SNAPSHOT));
    if choice == PlaybookChoice::Snapshot {
        let bytes = std::fs::read(&snapshot_path).map_err(io("cannot read", &snapshot_path))?;
        let actual = sha256_hex(&bytes);
        if actual != expected {
            return Err(CaseError::SnapshotMismatch {
                path: snapshot_path,
                actual,
                expected,
            });
        }
        return Ok((load(&snapshot_path)?.0, None));
    }
    let source = PathBuf::from(&opened.playbook.source);
    let bytes = std::fs::read(&source).map_err(|e| CaseError::PlaybookMissing {
        path: source.clone(),
        reason: e.to_string(),
    })?;
    let actual = sha256_hex(&bytes);
    if actual == expected {
        return Ok((load(&source)?.0, None));
    }
    if choice == PlaybookChoice::Source {
        return Err(CaseError::PlaybookChanged {
            path: source,
            old: expected,
            new: actual,
        });
    }
    let (playbook, text) = load(&source)?;
    for step in state.current_step().into_iter().chain(
        state
            .steps
            .iter()
            .filter(|(_, s)| s.action_in_flight().is_some() || s.running_query().is_some())
            .map(|(id, _)| id.as_str()),
    ) {
        if playbook.step(step).is_none() {
            return Err(CaseError::IncompatibleChange(step.to_owned()));
        }
    }
    let rel = format!("playbook-{next_seq}.yaml");
    journal::write_durably(&dir.path(&rel), text.as_bytes()).map_err(io("cannot write", &dir.path(&rel)))?;
    Ok((
        playbook.clone(),
        Some(PlaybookChanged {
            old_sha256: expected,
            new_sha256: actual,
            version: playbook.version,
            snapshot: rel,
        }),
    ))
}

fn is_torn_file(name: &str) -> bool {
    name.starts_with("journal.") && Path::new(name).extension().is_some_and(|e| e == "torn")
}
