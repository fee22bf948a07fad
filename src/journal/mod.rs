//! The case journal: an append-only JSON Lines file where every entry carries the SHA-256 of the
//! one before it, written with one `fdatasync` per entry; the case folder around it; the
//! single-writer lock. See `docs/journal-format.md`.

pub mod entry;
pub mod lock;
pub mod sign;
pub mod store;

use std::path::{Path, PathBuf};

use crate::engine::{ArtifactRef, Event};
use entry::sha256_file;

pub use entry::{Entry, GENESIS, VERSION};
pub use store::{Corruption, Scan, Writer};

/// The files of a case folder.
#[derive(Debug, Clone)]
pub struct CaseDir {
    pub root: PathBuf,
}

impl CaseDir {
    pub const JOURNAL: &'static str = "journal.jsonl";
    pub const SNAPSHOT: &'static str = "playbook.yaml";
    pub const INPUTS: &'static str = "inputs.json";
    pub const LOCK: &'static str = "case.lock";
    pub const ARTIFACTS: &'static str = "artifacts";
    /// The terminal UI's log (problems it showed, when it started and stopped).
    pub const UI_LOG: &'static str = "ui.log";
    /// The entries' signatures (`docs/evidence.md`).
    pub const SIGNATURES: &'static str = "signatures.jsonl";

    pub fn new(root: impl Into<PathBuf>) -> CaseDir {
        CaseDir { root: root.into() }
    }

    /// The case folder and journal for a path a user gave: the folder, or its `journal.jsonl`.
    pub fn locate(given: &Path) -> (CaseDir, PathBuf) {
        if given.is_file() {
            let root = given.parent().unwrap_or(Path::new(".")).to_owned();
            (CaseDir::new(root), given.to_owned())
        } else {
            let dir = CaseDir::new(given);
            let journal = dir.journal();
            (dir, journal)
        }
    }

    pub fn journal(&self) -> PathBuf {
        self.root.join(Self::JOURNAL)
    }

    pub fn lock(&self) -> PathBuf {
        self.root.join(Self::LOCK)
    }

    pub fn path(&self, relative: &str) -> PathBuf {
        self.root.join(relative)
    }

    /// The path of a file an entry names, or `None` when the name leads out of the case folder
    /// (entries name files inside it only).
    pub fn inside(&self, relative: &str) -> Option<PathBuf> {
        let escapes = relative.starts_with('/') || relative.split('/').any(|p| p == "..");
        (!escapes).then(|| self.root.join(relative))
    }

    /// Whether `name` is a file irp keeps in a case folder (anything else means the folder is
    /// someone else's, and irp will not start a case in it).
    pub fn is_case_file(name: &str) -> bool {
        [
            Self::JOURNAL,
            Self::SNAPSHOT,
            Self::INPUTS,
            Self::LOCK,
            Self::ARTIFACTS,
            Self::UI_LOG,
            Self::SIGNATURES,
        ]
        .contains(&name)
            || {
                let ext = Path::new(name).extension().and_then(|e| e.to_str());
                (name.starts_with("playbook-") && ext == Some("yaml")) || matches!(ext, Some("torn" | "tmp"))
            }
    }
}

/// The JSON Schema of one journal entry, pretty-printed with a trailing newline, exactly as
/// checked in at `schemas/journal-entry.schema.json`.
pub fn entry_schema_text() -> String {
    schema_text::<Entry>()
}

/// The JSON Schema (draft 2020-12, as serialized) of `T`, pretty-printed with a trailing newline:
/// how irp's checked-in schemas of its own outputs are made.
pub fn schema_text<T: schemars::JsonSchema>() -> String {
    let schema = schemars::generate::SchemaSettings::draft2020_12()
        .for_serialize()
        .into_generator()
        .into_root_schema_for::<T>();
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
    text.push('\n');
    text
}

/// Writes `bytes` to `path` durably: a temporary file, fsync, rename, fsync of the folder.
pub fn write_durably(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let tmp = path.with_extension("tmp");
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    sync_dir(parent_dir(path))
}

/// Writes a new file durably, never replacing one (`create_new`): the bytes, fsync, then the
/// folder. A crash mid-write leaves a partial file no entry vouches for.
pub fn write_new_durably(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    sync_dir(parent_dir(path))
}

/// The folder that holds `path` (`.` for a bare name), the one to sync after changing its entries.
pub fn parent_dir(path: &Path) -> &Path {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// Makes a folder's entries (new files, renames) durable.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// Every file an entry vouches for must exist and hash to what the entry says.
pub fn check_files(dir: &CaseDir, entries: &[Entry]) -> Option<Corruption> {
    check_files_by(entries, |rel| match dir.inside(rel) {
        Some(path) => sha256_file(&path)
            .map(|(sha, _)| sha)
            .map_err(|err| format!("`{rel}`, which the entry vouches for, cannot be read: {err}")),
        None => Err(format!(
            "the entry names `{rel}`, which is outside the case folder"
        )),
    })
}

/// The files an entry vouches for: (path in the case folder, SHA-256).
pub fn files_vouched(e: &Entry) -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> = Vec::new();
    let mut art = |a: &Option<ArtifactRef>| {
        if let Some(a) = a {
            files.push((a.path.clone(), a.sha256.clone()));
        }
    };
    match &e.event {
        Event::CaseOpened(o) => files.push((o.playbook.snapshot.clone(), o.playbook.sha256.clone())),
        Event::PlaybookChanged(c) => files.push((c.snapshot.clone(), c.new_sha256.clone())),
        Event::TornTailSetAside(t) => files.push((t.file.clone(), t.sha256.clone())),
        Event::QuerySucceeded(q) => art(&q.artifact),
        Event::QueryFailed(q) => art(&q.artifact),
        Event::SourceNotCollected(n) => art(&n.artifact),
        Event::ActionConfirmed(a) => art(&a.seen),
        Event::ActionStarted(a) => {
            art(&a.before);
            art(&a.request);
        }
        Event::ActionFinished(a) => {
            art(&a.after);
            for o in &a.outputs {
                art(&Some(o.clone()));
            }
        }
        Event::ActionConflict(c) => {
            art(&c.seen);
            art(&Some(c.now.clone()));
        }
        Event::ActionVerified(v) => art(&v.after),
        Event::RollbackStarted(r) => {
            art(&r.restore);
            art(&r.current);
        }
        Event::RollbackFinished(r) => art(&r.after),
        Event::ExerciseSet(x) => art(&Some(x.brief.clone())),
        Event::EntryRejected(r) => files.push((r.file.clone(), r.object_sha256.clone())),
        // Listed, not `_`: a new kind of entry that vouches for a file must be added above.
        Event::SessionStarted(_)
        | Event::LockTakenOver(_)
        | Event::Started { .. }
        | Event::ActionNothingToDo { .. }
        | Event::QuerySubmitted(_)
        | Event::QueryCancelled { .. }
        | Event::Decided(_)
        | Event::AwsIdentity(_)
        | Event::ChecklistItemDone { .. }
        | Event::StepCompleted { .. }
        | Event::StepSkipped { .. }
        | Event::WentBack { .. }
        | Event::NoteAdded { .. }
        | Event::EvidenceAdded(_)
        | Event::Paused { .. }
        | Event::Unpaused {}
        | Event::CaseClosed { .. }
        | Event::InjectLanded(_)
        | Event::CaseSealed(_)
        | Event::SealFailed { .. }
        | Event::RoleTaken(_)
        | Event::RoleHandedOver(_)
        | Event::RoleOverridden(_) => {}
    }
    files
}

/// The same check, with the SHA-256 of a file the entries name from `sha_of` (a folder, or an
/// archive read without unpacking): `Err` says why the file cannot be had.
pub fn check_files_by(
    entries: &[Entry],
    sha_of: impl Fn(&str) -> Result<String, String>,
) -> Option<Corruption> {
    for e in entries {
        let files = files_vouched(e);
        for (rel, sha) in files {
            let what = match sha_of(&rel) {
                Ok(actual) if actual == sha => continue,
                Ok(_) => format!("`{rel}` does not match the SHA-256 the entry recorded: it was changed"),
                Err(why) => why,
            };
            return Some(Corruption::at(e.seq, what));
        }
    }
    None
}
