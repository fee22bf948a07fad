//! `journal.jsonl`: reading it back (with the chain checked entry by entry) and appending to it
//! (one `write` and one `fdatasync` per entry, so an entry is durable before its effect is shown).

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::entry::{self, Entry, GENESIS};
use crate::engine::Event;

/// The first thing wrong with a journal: which entry, and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Corruption {
    /// The seq the bad line should have (its position in the journal).
    pub seq: u64,
    /// 1-based line number.
    pub line: u64,
    pub what: String,
}

impl Corruption {
    /// What is wrong with entry `seq` (on line `seq + 1`).
    pub fn at(seq: u64, what: String) -> Corruption {
        Corruption {
            seq,
            line: seq + 1,
            what,
        }
    }
}

impl std::fmt::Display for Corruption {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "seq {} (line {}): {}", self.seq, self.line, self.what)
    }
}

/// A journal read back: the entries that check out, in order, and what follows them.
#[derive(Debug, Default)]
pub struct Scan {
    pub entries: Vec<Entry>,
    /// Bytes up to and including the newline of the last good entry.
    pub good_len: u64,
    /// A last line without its newline: a write cut short.
    pub torn: Option<Vec<u8>>,
    /// The first bad entry; nothing after it is read.
    pub corruption: Option<Corruption>,
}

impl Scan {
    /// The hash the next entry must name as `prev`.
    pub fn head(&self) -> &str {
        self.entries.last().map_or(GENESIS, |e| e.hash.as_str())
    }
}

/// Checks every entry: its hash over its bytes, its seq (0, 1, 2…), its `prev` link.
pub fn scan(bytes: &[u8]) -> Scan {
    let mut out = Scan::default();
    let mut offset = 0usize;
    let mut prev = GENESIS.to_owned();
    while offset < bytes.len() {
        let seq = out.entries.len() as u64;
        let Some(nl) = bytes[offset..].iter().position(|b| *b == b'\n') else {
            out.torn = Some(bytes[offset..].to_vec());
            break;
        };
        let line = &bytes[offset..offset + nl];
        let fail = |what: String| Corruption::at(seq, what);
        match entry::decode(line) {
            Err(p) => {
                out.corruption = Some(fail(p.to_string()));
                break;
            }
            Ok(e) if e.seq != seq => {
                out.corruption = Some(fail(format!(
                    "the entry says seq {}, expected {seq}: an entry is missing, repeated or out of order",
                    e.seq
                )));
                break;
            }
            Ok(e) if e.prev != prev => {
                out.corruption = Some(fail(format!(
                    "`prev` does not match the hash of seq {}: an entry before it was removed, replaced or reordered",
                    seq.saturating_sub(1)
                )));
                break;
            }
            Ok(e) if seq == 0 && !matches!(e.event, Event::CaseOpened(_)) => {
                out.corruption = Some(fail(format!(
                    "the first entry must be `case_opened`, found `{}`",
                    e.event.kind()
                )));
                break;
            }
            Ok(e) => {
                prev.clone_from(&e.hash);
                out.entries.push(e);
                offset += nl + 1;
                out.good_len = offset as u64;
            }
        }
    }
    out
}

/// Reads and checks a journal file.
pub fn read(path: &Path) -> io::Result<Scan> {
    Ok(scan(&std::fs::read(path)?))
}

/// Appends entries to a journal whose tail has been checked.
#[derive(Debug)]
pub struct Writer {
    file: File,
    path: PathBuf,
    next_seq: u64,
    head: String,
    /// Bytes of complete entries: a failed write is cut back to this.
    len: u64,
    /// Signs each entry before it is written, when the responder signs.
    signer: Option<super::sign::SigWriter>,
}

impl Writer {
    /// Opens `path` for appending after `scan` (which must have no torn tail or corruption: the
    /// caller repairs or refuses first).
    pub fn open(path: &Path, scan: &Scan) -> io::Result<Writer> {
        let file = OpenOptions::new().append(true).create(true).open(path)?;
        let len = file.metadata()?.len();
        if len != scan.good_len || scan.torn.is_some() || scan.corruption.is_some() {
            return Err(io::Error::other(format!(
                "{} changed while it was being opened; try again",
                path.display()
            )));
        }
        Ok(Writer {
            file,
            path: path.to_owned(),
            next_seq: scan.entries.len() as u64,
            head: scan.head().to_owned(),
            len,
            signer: None,
        })
    }

    /// Signs every entry written from now on; each signature is durable before its entry.
    pub fn sign_with(&mut self, signer: super::sign::SigWriter) {
        self.signer = Some(signer);
    }

    /// Bytes of complete entries written so far.
    pub fn bytes_written(&self) -> u64 {
        self.len
    }

    /// The journal's path after its folder was renamed (the file handle stays the same).
    pub fn set_path(&mut self, path: &Path) {
        path.clone_into(&mut self.path);
    }

    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes one entry and waits until it is on disk.
    pub fn append(&mut self, id: Uuid, at: DateTime<Utc>, actor: &str, event: Event) -> io::Result<Entry> {
        let (entry, line) = self.prepare(id, at, actor, event)?;
        if let Some(signer) = &mut self.signer {
            signer.sign(entry.seq, &entry.hash)?;
        }
        self.append_line(&entry, &line)?;
        Ok(entry)
    }

    /// The next entry and its line, linked to the head, without writing it (a shared case puts
    /// the line on S3 first, and writes it here only once it holds its place there).
    pub fn prepare(
        &self,
        id: Uuid,
        at: DateTime<Utc>,
        actor: &str,
        event: Event,
    ) -> io::Result<(Entry, Vec<u8>)> {
        entry::encode(self.next_seq, id, at, actor, event, &self.head).map_err(io::Error::other)
    }

    /// Writes an entry's line that is known to be the next one (prepared here, or another
    /// responder's, checked against the head), and waits until it is on disk.
    pub fn append_line(&mut self, entry: &Entry, line: &[u8]) -> io::Result<()> {
        if entry.seq != self.next_seq || entry.prev != self.head {
            return Err(io::Error::other(format!(
                "entry {} does not follow entry {} of this journal",
                entry.seq,
                self.next_seq.saturating_sub(1)
            )));
        }
        if let Err(e) = self.file.write_all(line).and_then(|()| self.file.sync_data()) {
            // A partial line (disk full, I/O error) must not stay in front of the next entry.
            let _ = self.file.set_len(self.len);
            let _ = self.file.sync_data();
            return Err(e);
        }
        self.len += line.len() as u64;
        self.next_seq += 1;
        self.head.clone_from(&entry.hash);
        Ok(())
    }

    /// The hash the next entry must name as `prev`.
    pub fn head(&self) -> &str {
        &self.head
    }
}
