//! One journal entry and its line codec. The canonical form of an entry is its JSON object with
//! the fields in the order `v, seq, id, at, actor, kind, payload, prev` and no whitespace; `hash`
//! is the SHA-256 of exactly those bytes, appended as the last field. Verification recomputes
//! the hash over the bytes as written, never over a re-encoding, so a later codec cannot change
//! what an old entry proves.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::engine::Event;

/// The entry format version this build writes and reads.
pub const VERSION: u32 = 1;

/// The `prev` of entry 0.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One line of `journal.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(
    title = "irp journal entry",
    description = "One line of an irp case journal (journal.jsonl)."
)]
pub struct Entry {
    /// Entry format version.
    pub v: u32,
    /// 0, 1, 2, … with no gaps.
    pub seq: u64,
    /// A `UUIDv7`.
    pub id: Uuid,
    /// When the entry was written: RFC 3339, UTC, milliseconds.
    #[serde(with = "at_format")]
    #[schemars(
        with = "String",
        regex(pattern = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
    )]
    pub at: DateTime<Utc>,
    /// Who: the responder's name, or `irp` for entries irp writes on its own.
    pub actor: String,
    #[serde(flatten)]
    pub event: Event,
    /// The `hash` of the previous entry (64 zeros for seq 0).
    pub prev: String,
    /// SHA-256 (hex) of this entry's canonical form without `hash`.
    pub hash: String,
}

/// The canonical body: an entry without its hash, in field order.
#[derive(Serialize)]
struct Body<'a> {
    v: u32,
    seq: u64,
    id: &'a Uuid,
    #[serde(with = "at_format")]
    at: &'a DateTime<Utc>,
    actor: &'a str,
    #[serde(flatten)]
    event: &'a Event,
    prev: &'a str,
}

/// Builds an entry (computing its hash) and the exact line to write, newline included.
pub fn encode(
    seq: u64,
    id: Uuid,
    at: DateTime<Utc>,
    actor: &str,
    event: Event,
    prev: &str,
) -> Result<(Entry, Vec<u8>), serde_json::Error> {
    let at = truncate_ms(at);
    let body = serde_json::to_vec(&Body {
        v: VERSION,
        seq,
        id: &id,
        at: &at,
        actor,
        event: &event,
        prev,
    })?;
    let hash = sha256_hex(&body);
    let mut line = body;
    line.pop(); // the closing brace
    line.extend_from_slice(b",\"hash\":\"");
    line.extend_from_slice(hash.as_bytes());
    line.extend_from_slice(b"\"}\n");
    Ok((
        Entry {
            v: VERSION,
            seq,
            id,
            at,
            actor: actor.to_owned(),
            event,
            prev: prev.to_owned(),
            hash,
        },
        line,
    ))
}

/// What is wrong with one line (without its newline).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineProblem {
    NotUtf8,
    /// The line does not end in `,"hash":"<64 hex digits>"}`.
    NoHash,
    /// The hash does not match the bytes: the entry was changed after it was written.
    HashMismatch,
    /// The hash matches but the entry cannot be read (unknown kind, missing field…).
    Unreadable(String),
    UnsupportedVersion(u32),
}

impl std::fmt::Display for LineProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LineProblem::NotUtf8 => f.write_str("the line is not UTF-8 text"),
            LineProblem::NoHash => {
                f.write_str("the line does not end with its hash (it was cut or rewritten)")
            }
            LineProblem::HashMismatch => {
                f.write_str("the hash does not match the entry: it was changed after it was written")
            }
            LineProblem::Unreadable(e) => write!(f, "the entry cannot be read: {e}"),
            LineProblem::UnsupportedVersion(v) => write!(
                f,
                "entry format version {v} is newer than this irp understands (it reads {VERSION}); upgrade irp"
            ),
        }
    }
}

/// Reads one line (without its newline), checking that its hash matches its bytes.
pub fn decode(line: &[u8]) -> Result<Entry, LineProblem> {
    const PREFIX: &[u8] = b",\"hash\":\"";
    const SUFFIX_LEN: usize = PREFIX.len() + 64 + 2;
    let text = std::str::from_utf8(line).map_err(|_| LineProblem::NotUtf8)?;
    // Work on bytes: the split point is only meaningful if the suffix is the ASCII hash field.
    if line.len() < SUFFIX_LEN + 2 {
        return Err(LineProblem::NoHash);
    }
    let split = line.len() - SUFFIX_LEN;
    let (head, suffix) = line.split_at(split);
    let hash = &suffix[PREFIX.len()..PREFIX.len() + 64];
    if !suffix.starts_with(PREFIX)
        || !suffix.ends_with(b"\"}")
        || !hash
            .iter()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
    {
        return Err(LineProblem::NoHash);
    }
    let mut body = Vec::with_capacity(split + 1);
    body.extend_from_slice(head);
    body.push(b'}');
    if sha256_hex(&body).as_bytes() != hash {
        return Err(LineProblem::HashMismatch);
    }
    let entry: Entry = serde_json::from_str(text).map_err(|e| LineProblem::Unreadable(e.to_string()))?;
    if entry.v > VERSION {
        return Err(LineProblem::UnsupportedVersion(entry.v));
    }
    Ok(entry)
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// SHA-256 (hex) and size of a file, read in blocks (artifacts can be large).
pub fn sha256_file(path: &std::path::Path) -> std::io::Result<(String, u64)> {
    use std::io::Read as _;
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut bytes = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            return Ok((hex(&hasher.finalize()), bytes));
        }
        hasher.update(&buf[..n]);
        bytes += n as u64;
    }
}

/// The first 12 characters of a hash, for people. A hash read from a file may be anything: a
/// string whose 12th byte is inside a character is shown whole rather than cut.
pub fn short_hash(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}

pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Journal times have millisecond precision.
pub fn truncate_ms(at: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(at.timestamp_millis()).unwrap_or(at)
}

mod at_format {
    use chrono::{DateTime, SecondsFormat, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    // serde's `with` passes the field by reference; for `Body` the field is itself a reference.
    pub fn serialize<S: Serializer, T: std::borrow::Borrow<DateTime<Utc>>>(
        at: &T,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.serialize_str(&at.borrow().to_rfc3339_opts(SecondsFormat::Millis, true))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        DateTime::parse_from_rfc3339(&text)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| serde::de::Error::custom(format!("`at` is not an RFC 3339 time: {e}")))
    }
}
