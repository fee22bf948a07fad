//! `irp lake import cloudtrail`: raw `CloudTrail` files → the local lake, in Security Lake's layout.
//!
//! Files are read on every core, one file at a time per worker. Each record is mapped
//! (`cloudtrail.rs`), deduplicated on `eventID` against this import and against the lake's
//! partitions it touches, and buffered per partition; a buffer is written, sorted by time, as
//! its own Parquet file when it is full and at the end. Files are written under a temporary name
//! and renamed, so a killed import leaves only whole files, and running it again adds what is
//! missing. Nothing a record holds can stop the import: each record is written, counted as a
//! duplicate, counted as having no Security Lake table, or reported as a problem with its file and
//! line.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use arrow::array::{Array, AsArray};
use chrono::DateTime;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::value::RawValue;

use super::cloudtrail::{self, NotMapped, Record};
use super::ocsf::{ApiEvent, api_activity_schema, to_batch};
use super::split::{self, Piece};
use super::{LakeError, PartitionWriter, partition_dir};
use crate::playbook::table::LogicalTable;

/// Rows per file written (a partition with more gets several files, each sorted by time).
const CHUNK_ROWS: usize = 65_536;

/// The most one partition's buffer holds (its events' approximate size) before it is written.
const CHUNK_BYTES: usize = 16 << 20;

/// What the buffers hold in memory across all partitions (the events' approximate size): past
/// this, the largest buffers are written out (as smaller files) so that memory stays bounded
/// whatever the input's size.
const MAX_BUFFERED_BYTES: usize = 96 << 20;

/// About how much memory an event takes: the struct, the text it holds, and the allocator's own
/// bytes for each string (about 32).
fn approx_bytes(e: &ApiEvent) -> usize {
    let opt = |s: &Option<String>| s.as_ref().map_or(0, |s| s.len() + 32);
    std::mem::size_of::<ApiEvent>()
        + e.uid.len()
        + e.operation.len()
        + e.request_uid.len()
        + e.service.len()
        + opt(&e.request_data)
        + opt(&e.response_data)
        + opt(&e.error_message)
        + opt(&e.user_agent)
        + opt(&e.user_uid)
        + opt(&e.user_uid_alt)
        + opt(&e.user_name)
        + opt(&e.user_account)
        + opt(&e.credential_uid)
        + opt(&e.src_ip)
        + opt(&e.src_domain)
        + e.unmapped.iter().map(|(_, v)| v.len() + 64).sum::<usize>()
        + e.resources.len() * 192
        + 256
}

/// One partition's events waiting to be written, and their approximate size.
#[derive(Default)]
struct Buffer {
    events: Vec<ApiEvent>,
    bytes: usize,
}

/// At most this many problems are kept with their text (all are counted).
const MAX_PROBLEMS: usize = 1_000;

/// A record or file that could not be imported, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: PathBuf,
    /// 1-based line where the record starts, when known.
    pub line: Option<u64>,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(l) => write!(f, "{}:{l}: {}", self.file.display(), self.message),
            None => write!(f, "{}: {}", self.file.display(), self.message),
        }
    }
}

/// What an import did.
#[derive(Debug, Default, Clone)]
pub struct Imported {
    pub files: u64,
    pub bytes: u64,
    /// Records found in the files (each is written, a duplicate, without table, or a problem).
    pub records: u64,
    /// Rows written, by table (`cloud_trail_mgmt`, `s3_data`, `lambda_execution`).
    pub written: BTreeMap<&'static str, u64>,
    pub files_written: u64,
    /// Records already in the lake or seen earlier in this import (same `eventID`).
    pub duplicates: u64,
    /// Of those, records seen earlier in this import with the same `eventID` but other
    /// content: each is also a problem.
    pub conflicting_duplicates: u64,
    /// Valid records that have no Security Lake table, by reason.
    pub no_table: BTreeMap<&'static str, u64>,
    /// Records (or parts of files) that could not be read; the first `MAX_PROBLEMS` with text.
    pub problems: Vec<Problem>,
    pub problem_count: u64,
}

impl Imported {
    pub fn rows_written(&self) -> u64 {
        self.written.values().sum()
    }
}

/// Options of an import.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub threads: usize,
    pub normalise: Normalise,
    /// The most bytes read from one file, decompressed (0: [`MAX_FILE_BYTES`]); reading stops
    /// there with a problem for that file, so a decompression bomb cannot run for ever. Files are
    /// read as streams, so memory does not grow with this.
    pub max_file_bytes: u64,
    /// The most event ids held for de-duplication across partitions (0: [`MAX_IDS`]).
    pub max_ids: usize,
}

/// Event ids held for de-duplication (16 bytes each, about 25 in a set: about 50 MB). Past it, the
/// partitions used least recently are written out and their ids dropped, to be read back from
/// their files if they come up again; only one partition's (a region, account and day of one
/// table) must fit.
pub const MAX_IDS: usize = 2_000_000;

/// The most bytes read from one input file, decompressed: far above a `CloudTrail` delivery file
/// (a few MB) or a day's export.
pub const MAX_FILE_BYTES: u64 = 4 << 30;

/// Repairs for logs an anonymiser rewrote before publishing them (the Stratus Red Team
/// detonation logs, say): made-up region names and zero-padded addresses such as
/// `075.050.255.67`. `CloudTrail` writes neither, so both are off unless asked for; the raw record
/// kept in `unmapped` stays as it was.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Normalise {
    /// Every record is taken to be from this region (its `region` partition and `cloud.region`).
    #[serde(default)]
    pub region: Option<String>,
    /// A source address of four dot-separated decimal numbers with leading zeros is read as the
    /// IPv4 address they spell (`075.050.255.67` is 75.50.255.67), not as a domain.
    #[serde(default)]
    pub zero_padded_ipv4: bool,
}

impl Normalise {
    /// Checks the settings: the region must be a region name.
    pub fn check(&self) -> Result<(), String> {
        match &self.region {
            Some(r) if !cloudtrail::valid_region(r) => Err(format!(
                "`{r}` is not a region name (4 to 32 lower-case letters, digits and dashes)"
            )),
            _ => Ok(()),
        }
    }

    /// Applies the repairs to a mapped row.
    pub fn apply(&self, e: &mut ApiEvent) {
        if let Some(r) = &self.region {
            e.region.clone_from(r);
            e.cloud_region.clone_from(r);
        }
        if self.zero_padded_ipv4
            && e.src_ip.is_none()
            && let Some(ip) = e.src_domain.as_deref().and_then(zero_padded_ipv4)
        {
            e.src_ip = Some(ip.to_string());
            e.src_domain = None;
        }
    }
}

/// `075.050.255.67` → 75.50.255.67: four decimal numbers of one to three digits, each at most 255.
fn zero_padded_ipv4(text: &str) -> Option<std::net::Ipv4Addr> {
    let mut octets = [0u8; 4];
    let mut parts = text.split('.');
    for o in &mut octets {
        let part = parts.next()?;
        if part.is_empty() || part.len() > 3 || !part.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        *o = part.parse().ok()?;
    }
    parts.next().is_none().then(|| std::net::Ipv4Addr::from(octets))
}

type PartitionKey = (LogicalTable, String, String, i32);

#[derive(Default)]
struct Shared {
    /// The ids of each partition held: its files' and this import's.
    seen: HashMap<PartitionKey, PartitionIds>,
    /// Ids held across all partitions.
    ids: usize,
    /// Counts deliveries, to tell the partitions used least recently.
    clock: u64,
    buffers: HashMap<PartitionKey, Buffer>,
    /// The approximate size of the events in `buffers`.
    buffered: usize,
    summary: Imported,
}

/// Imports `paths` (files or folders, recursively) into the lake at `lake`. `progress` is called
/// with the number of input bytes read so far. Errors only for what stops everything (the lake
/// cannot be written); everything about the input is in the summary.
pub fn import(
    paths: &[PathBuf],
    lake: &Path,
    options: &Options,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<Imported, LakeError> {
    let (files, problems) = input_files(paths);
    std::fs::create_dir_all(lake).map_err(|e| LakeError::io(lake, e))?;
    let shared = Mutex::new(Shared::default());
    {
        let mut s = lock(&shared);
        for p in problems {
            s.problem(p);
        }
    }
    let next = AtomicUsize::new(0);
    let read_bytes = AtomicUsize::new(0);
    on_workers(options.threads, || {
        let i = next.fetch_add(1, Ordering::Relaxed);
        files
            .get(i)
            .map(|path| import_file(path, lake, options, &shared, &read_bytes, progress))
    })?;
    // What is left in the buffers, written on every core.
    let rest = Mutex::new(
        lock(&shared)
            .buffers
            .drain()
            .map(|(k, b)| (k, b.events))
            .collect::<Vec<_>>(),
    );
    on_workers(options.threads, || {
        let (key, events) = lock(&rest).pop()?;
        Some(write_chunk(lake, &key, events, &shared))
    })?;
    let shared = shared
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut summary = shared.summary;
    summary.files = files.len() as u64;
    Ok(summary)
}

/// Runs `next` on `threads` threads until it has no more work (`None`) or one piece of work
/// fails; the first failure is returned, and the others stop at their next piece.
fn on_workers(
    threads: usize,
    next: impl Fn() -> Option<Result<(), LakeError>> + Sync,
) -> Result<(), LakeError> {
    let failure: Mutex<Option<LakeError>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..threads.max(1) {
            scope.spawn(|| {
                while lock(&failure).is_none() {
                    match next() {
                        None => break,
                        Some(Ok(())) => {}
                        Some(Err(e)) => {
                            lock(&failure).get_or_insert(e);
                        }
                    }
                }
            });
        }
    });
    lock(&failure).take().map_or(Ok(()), Err)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Shared {
    /// A chunk of partition `key` is taken out to be written.
    fn writing(&mut self, key: &PartitionKey) {
        if let Some(p) = self.seen.get_mut(key) {
            p.writing += 1;
        }
    }

    /// A chunk of partition `key` is written.
    fn written(&mut self, key: &PartitionKey) {
        if let Some(p) = self.seen.get_mut(key) {
            p.writing = p.writing.saturating_sub(1);
        }
        self.forget_if_written(key);
    }

    /// Forgets the ids of partition `key` when it is to be evicted and all of it is on disk
    /// (nothing buffered, nothing being written), where they are read back from if needed.
    fn forget_if_written(&mut self, key: &PartitionKey) {
        let buffered = self.buffers.get(key).is_some_and(|b| !b.events.is_empty());
        if let Some(p) = self.seen.get(key)
            && p.evict
            && p.writing == 0
            && !buffered
            && let Some(p) = self.seen.remove(key)
        {
            self.ids -= p.ids.len();
        }
    }

    fn problem(&mut self, p: Problem) {
        self.summary.problem_count += 1;
        if self.summary.problems.len() < MAX_PROBLEMS {
            self.summary.problems.push(p);
        }
    }
}

/// The files an import of `paths` reads, sorted, and the paths that cannot be read.
pub fn input_files(paths: &[PathBuf]) -> (Vec<PathBuf>, Vec<Problem>) {
    let mut files = Vec::new();
    let mut problems = Vec::new();
    for p in paths {
        collect(p, &mut files, &mut problems);
    }
    files.sort();
    files.dedup();
    (files, problems)
}

/// Files under `path`: every `.json`, `.json.gz`, `.jsonl`, `.ndjson` (and their `.gz`) in a
/// folder, recursively; a file named on the command line whatever its name.
fn collect(path: &Path, out: &mut Vec<PathBuf>, problems: &mut Vec<Problem>) {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) => {
            problems.push(Problem {
                file: path.to_owned(),
                line: None,
                message: format!("cannot read: {e}"),
            });
            return;
        }
    };
    if meta.is_file() {
        out.push(path.to_owned());
        return;
    }
    let mut stack = vec![path.to_owned()];
    while let Some(dir) = stack.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) => {
                problems.push(Problem {
                    file: dir.clone(),
                    line: None,
                    message: format!("cannot list the folder: {e}"),
                });
                continue;
            }
        };
        for entry in entries.flatten() {
            let p = entry.path();
            // Symbolic links to folders are not followed (no loops); links to files are read.
            let Ok(kind) = entry.file_type() else { continue };
            if kind.is_dir() {
                stack.push(p);
            } else if is_log_name(&p) && std::fs::metadata(&p).is_ok_and(|m| m.is_file()) {
                out.push(p);
            }
        }
    }
}

fn is_log_name(p: &Path) -> bool {
    let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    let name = name.strip_suffix(".gz").unwrap_or(name);
    [".json", ".jsonl", ".ndjson"]
        .iter()
        .any(|ext| name.ends_with(ext))
}

/// Reads, maps and buffers one file; writes the buffers that are full.
fn import_file(
    path: &Path,
    lake: &Path,
    options: &Options,
    shared: &Mutex<Shared>,
    read_bytes: &AtomicUsize,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<(), LakeError> {
    let max_file_bytes = match options.max_file_bytes {
        0 => MAX_FILE_BYTES,
        n => n,
    };
    let problem = |message: String| Problem {
        file: path.to_owned(),
        line: None,
        message,
    };
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) => {
            lock(shared).problem(problem(format!("cannot read: {e}")));
            return Ok(());
        }
    };
    // Raw bytes read, for the progress and the summary.
    let raw = std::sync::Arc::new(AtomicUsize::new(0));
    let mut reader = std::io::BufReader::with_capacity(
        1 << 18,
        Counting {
            inner: file,
            read: std::sync::Arc::clone(&raw),
        },
    );
    let gzip = std::io::BufRead::fill_buf(&mut reader).is_ok_and(|b| b.starts_with(&[0x1f, 0x8b]));
    let src: Box<dyn Read> = if gzip {
        Box::new(flate2::read::MultiGzDecoder::new(reader))
    } else {
        Box::new(reader)
    };
    let mut result = FileResult::default();
    let mut failed = None;
    let (end, decoded, error) = split::split(src, max_file_bytes, &mut |piece| {
        let ok = match piece {
            Piece::Value { text, line, record } => result.value(text, line, record),
            Piece::Problem { line, message } => {
                result.problems.push((Some(line), message));
                true
            }
        };
        // Bounded memory: a file's events go to the partitions' buffers a batch at a time.
        if result.events.len() >= BATCH && failed.is_none() {
            let events = std::mem::take(&mut result.events);
            if let Err(e) = deliver(lake, options, shared, events, path) {
                failed = Some(e);
            }
        }
        ok
    });
    if let Some(e) = failed {
        return Err(e);
    }
    deliver(lake, options, shared, std::mem::take(&mut result.events), path)?;
    let raw_len = raw.load(Ordering::Relaxed);
    let done = read_bytes.fetch_add(raw_len, Ordering::Relaxed) + raw_len;
    progress(done as u64);
    let mut s = lock(shared);
    s.summary.bytes += raw_len as u64;
    s.summary.records += result.records;
    match (end, error) {
        (split::End::Cap, _) => s.problem(problem(format!(
            "it {} more than {} MB; reading stopped there, the records before were imported (a CloudTrail delivery file is a few MB: split an export into smaller files, or check the file is not a decompression bomb)",
            if gzip { "decompresses to" } else { "holds" },
            max_file_bytes >> 20
        ))),
        (_, Some(e)) if gzip => s.problem(problem(format!(
            "the gzip stream is damaged or cut short after {decoded} bytes ({e}); the records before \
             the damage were read, a record cut in half is reported below"
        ))),
        (_, Some(e)) => s.problem(problem(format!("cannot read after {decoded} bytes: {e}"))),
        _ => {}
    }
    for (line, message) in result.problems {
        s.problem(Problem {
            file: path.to_owned(),
            line,
            message,
        });
    }
    for (reason, n) in result.no_table {
        *s.summary.no_table.entry(reason).or_default() += n;
    }
    Ok(())
}

/// Events handed from a file to the partitions' buffers at a time.
const BATCH: usize = 2_048;

/// Counts the bytes read through it.
struct Counting<R> {
    inner: R,
    read: std::sync::Arc<AtomicUsize>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.fetch_add(n, Ordering::Relaxed);
        Ok(n)
    }
}

/// Hands events to their partitions' buffers, skipping those already seen, and writes out
/// what is full.
fn deliver(
    lake: &Path,
    options: &Options,
    shared: &Mutex<Shared>,
    events: Vec<(LogicalTable, ApiEvent)>,
    file: &Path,
) -> Result<(), LakeError> {
    if events.is_empty() {
        return Ok(());
    }
    let normalise = &options.normalise;
    let max_ids = match options.max_ids {
        0 => MAX_IDS,
        n => n,
    };
    // Keys and digests are worked out before taking the lock, which guards only the sets and
    // the buffers.
    let keyed: Vec<(PartitionKey, u128, u64, ApiEvent)> = events
        .into_iter()
        .map(|(table, mut e)| {
            normalise.apply(&mut e);
            let key = (table, e.region.clone(), e.accountid.clone(), day_number(e.time));
            (key, id_hash(&e.uid), content_hash(&e), e)
        })
        .collect();
    let mut full = Vec::new();
    {
        let mut s = lock(shared);
        for (key, hash, content, e) in keyed {
            s.clock += 1;
            let clock = s.clock;
            if !s.seen.contains_key(&key) {
                let dir = partition_dir(lake, key.0, &key.1, &key.2, day_of(e.time));
                // Rows already in the lake: their content is not read back (0: unknown).
                let ids: HashMap<u128, u64> = existing_ids(&dir)?.into_iter().map(|id| (id, 0)).collect();
                s.ids += ids.len();
                s.seen.insert(
                    key.clone(),
                    PartitionIds {
                        ids,
                        last_use: clock,
                        writing: 0,
                        evict: false,
                    },
                );
            }
            let Some(part) = s.seen.get_mut(&key) else {
                continue;
            };
            part.last_use = clock;
            part.evict = false;
            match part.ids.entry(hash) {
                std::collections::hash_map::Entry::Occupied(first) => {
                    let first = *first.get();
                    s.summary.duplicates += 1;
                    // A true duplicate (a file delivered twice) is the same record; the same
                    // id with other content is said, not silently dropped.
                    if first != 0 && first != content {
                        s.summary.conflicting_duplicates += 1;
                        s.problem(Problem {
                            file: file.to_owned(),
                            line: None,
                            message: format!(
                                "a record with eventID {} ({}) differs from an earlier record with the same eventID; the first was kept, this one was not imported",
                                e.uid,
                                DateTime::from_timestamp_millis(e.time)
                                    .unwrap_or_default()
                                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                            ),
                        });
                    }
                    continue;
                }
                std::collections::hash_map::Entry::Vacant(slot) => {
                    slot.insert(content);
                }
            }
            s.ids += 1;
            let size = approx_bytes(&e);
            s.buffered += size;
            let buffer = s.buffers.entry(key.clone()).or_default();
            buffer.events.push(e);
            buffer.bytes += size;
            if buffer.events.len() >= CHUNK_ROWS || buffer.bytes >= CHUNK_BYTES {
                let taken = std::mem::take(buffer);
                s.buffered -= taken.bytes;
                s.writing(&key);
                full.push((key, taken.events));
            }
        }
        // Bounded memory: write out the largest buffers until half the budget is left.
        while s.buffered > MAX_BUFFERED_BYTES {
            let Some(key) = s
                .buffers
                .iter()
                .max_by_key(|(_, b)| b.bytes)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            let taken = s.buffers.remove(&key).unwrap_or_default();
            s.buffered -= taken.bytes;
            s.writing(&key);
            full.push((key, taken.events));
            if s.buffered <= MAX_BUFFERED_BYTES / 2 {
                break;
            }
        }
        // Bounded de-duplication: past the budget of ids held, the partitions used least
        // recently are written out and forgotten; their ids are read back from their files if
        // they come up again.
        if s.ids > max_ids {
            let mut order: Vec<(u64, PartitionKey)> =
                s.seen.iter().map(|(k, p)| (p.last_use, k.clone())).collect();
            order.sort();
            let mut freed = 0;
            for (_, key) in order {
                if s.ids - freed <= max_ids / 2 {
                    break;
                }
                if let Some(taken) = s.buffers.remove(&key) {
                    s.buffered -= taken.bytes;
                    s.writing(&key);
                    full.push((key.clone(), taken.events));
                }
                if let Some(part) = s.seen.get_mut(&key) {
                    part.evict = true;
                    freed += part.ids.len();
                }
                s.forget_if_written(&key);
            }
        }
    }
    for (key, events) in full {
        write_chunk(lake, &key, events, shared)?;
    }
    Ok(())
}

/// The ids of one partition seen so far (in its files and in this import).
struct PartitionIds {
    /// Id digest → content digest (0 for rows read back from the lake's files).
    ids: HashMap<u128, u64>,
    last_use: u64,
    /// Chunks of it being written now.
    writing: usize,
    /// To be forgotten once nothing of it is in memory only.
    evict: bool,
}

/// What one file gave.
#[derive(Default)]
struct FileResult {
    records: u64,
    events: Vec<(LogicalTable, ApiEvent)>,
    no_table: BTreeMap<&'static str, u64>,
    problems: Vec<(Option<u64>, String)>,
}

impl FileResult {
    fn problem(&mut self, line: u64, message: String) {
        self.problems.push((Some(line), message));
    }

    /// A piece of the file: a record of a document's list (`record`), or a top-level value (a
    /// record, or a document holding records). Whether it parsed as JSON.
    fn value(&mut self, text: &[u8], line: u64, record: bool) -> bool {
        let Ok(text) = std::str::from_utf8(text) else {
            if record {
                self.records += 1;
            }
            self.problem(line, "not UTF-8 text".to_owned());
            return !record;
        };
        let parsed = match serde_json::from_str::<Record<'_>>(text) {
            Ok(r) => r,
            Err(e) if e.is_syntax() || e.is_eof() => {
                if record {
                    self.records += 1;
                }
                self.problem(line, format!("not JSON: {e}"));
                return false;
            }
            Err(e) => {
                self.records += 1;
                self.problem(line, format!("not a JSON object: {e}"));
                return true;
            }
        };
        if !record {
            for key in ["Records", "Events"] {
                if let Some(list) = parsed.get(key)
                    && list.get().starts_with('[')
                {
                    self.array(list, line);
                    return true;
                }
            }
        }
        self.records += 1;
        self.record(&parsed, text, line);
        true
    }

    /// A list of records inside a top-level value read whole.
    fn array(&mut self, raw: &RawValue, line: u64) {
        match serde_json::from_str::<Vec<&RawValue>>(raw.get()) {
            Ok(items) => {
                for item in items {
                    self.records += 1;
                    match serde_json::from_str::<Record<'_>>(item.get()) {
                        Ok(r) => self.record(&r, item.get(), line),
                        Err(e) => self.problem(line, format!("not a JSON object: {e}")),
                    }
                }
            }
            Err(e) => self.problem(line, format!("not JSON: {e}")),
        }
    }

    /// One record, as it is or wrapped (`lookup-events` entries, Elasticsearch hits).
    fn record(&mut self, record: &Record<'_>, text: &str, line: u64) {
        // `aws cloudtrail lookup-events`: the event is a JSON string in `CloudTrailEvent`.
        if let Some(inner) = record.text("CloudTrailEvent") {
            let inner = inner.into_owned();
            match serde_json::from_str::<Record<'_>>(&inner) {
                Ok(r) => self.map(&r, &inner, line),
                Err(e) => self.problem(line, format!("`CloudTrailEvent` is not a JSON object: {e}")),
            }
            return;
        }
        // Elasticsearch / OpenSearch exports: the event is `_source`.
        if let Some(source) = record.get("_source")
            && record.get("eventName").is_none()
        {
            match serde_json::from_str::<Record<'_>>(source.get()) {
                Ok(r) => self.map(&r, source.get(), line),
                Err(e) => self.problem(line, format!("`_source` is not a JSON object: {e}")),
            }
            return;
        }
        self.map(record, text, line);
    }

    fn map(&mut self, record: &Record<'_>, text: &str, line: u64) {
        match cloudtrail::map_record(record) {
            Ok(mut m) => {
                if m.event.uid.is_empty() {
                    // No `eventID`: the record's own digest stands in, so importing it again is a
                    // no-op too.
                    m.event.uid = format!("sha256:{}", crate::journal::entry::sha256_hex(text.as_bytes()));
                }
                self.events.push((m.table, m.event));
            }
            Err(NotMapped::NoTable(reason)) => *self.no_table.entry(reason).or_default() += 1,
            Err(NotMapped::Bad(message)) => self.problem(line, message),
        }
    }
}

fn day_of(ms: i64) -> chrono::NaiveDate {
    DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .date_naive()
}

fn day_number(ms: i64) -> i32 {
    i32::try_from(ms.div_euclid(86_400_000)).unwrap_or(i32::MAX)
}

/// A 128-bit digest of an event id, for the deduplication set.
fn id_hash(id: &str) -> u128 {
    let half = |salt: u8| {
        let mut h = DefaultHasher::new();
        salt.hash(&mut h);
        id.hash(&mut h);
        h.finish()
    };
    (u128::from(half(0)) << 64) | u128::from(half(1))
}

/// A digest of what a record says (never 0, which stands for "not known"): two deliveries of
/// the same record have the same one.
fn content_hash(e: &ApiEvent) -> u64 {
    let mut h = DefaultHasher::new();
    // What a second delivery of the same record cannot change: when, who, from where, what was
    // asked and answered (hashed field by field: formatting the whole event would cost the
    // import a fifth of its speed).
    (
        e.time,
        &e.uid,
        &e.event_code,
        &e.operation,
        &e.service,
        &e.request_uid,
    )
        .hash(&mut h);
    (&e.request_data, &e.response_data, &e.error, &e.error_message).hash(&mut h);
    (&e.user_uid, &e.user_name, &e.credential_uid, &e.session_issuer).hash(&mut h);
    (
        &e.src_ip,
        &e.user_agent,
        &e.accountid,
        &e.region,
        e.resources.len(),
    )
        .hash(&mut h);
    h.finish().max(1)
}

/// The `metadata.uid` of every row already in a partition folder.
fn existing_ids(dir: &Path) -> Result<Vec<u128>, LakeError> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(out);
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(".irp-import-") && name.ends_with(".tmp") {
            // Left by an import that was killed while writing; its records are imported again.
            let _ = std::fs::remove_file(&path);
            continue;
        }
        if path.extension().and_then(|e| e.to_str()) != Some("parquet") {
            continue;
        }
        let unreadable = |e: &dyn std::fmt::Display| {
            LakeError::Invalid(format!(
                "{}: this file already in the lake cannot be read ({e}), so the import cannot tell \
                 which records it holds; move it out of the lake or restore it",
                path.display()
            ))
        };
        let file = File::open(&path).map_err(|e| LakeError::io(&path, e))?;
        let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| unreadable(&e))?;
        let leaf = builder
            .parquet_schema()
            .columns()
            .iter()
            .position(|c| c.path().string() == "metadata.uid")
            .ok_or_else(|| {
                LakeError::Invalid(format!(
                    "{}: no `metadata.uid` column; is this folder a lake of CloudTrail tables?",
                    path.display()
                ))
            })?;
        let mask = ProjectionMask::leaves(builder.parquet_schema(), [leaf]);
        for batch in builder
            .with_projection(mask)
            .build()
            .map_err(|e| unreadable(&e))?
        {
            let batch = batch.map_err(|e| unreadable(&e))?;
            let metadata = batch.column(0).as_struct();
            let Some(uid) = metadata.column_by_name("uid") else {
                continue;
            };
            let uid = arrow::compute::cast(uid, &arrow::datatypes::DataType::Utf8)?;
            let uid = uid.as_string::<i32>();
            for i in 0..uid.len() {
                if uid.is_valid(i) {
                    out.push(id_hash(uid.value(i)));
                }
            }
        }
    }
    Ok(out)
}

/// Writes one partition's events as one file, sorted by time, under a temporary name first.
fn write_chunk(
    lake: &Path,
    key: &PartitionKey,
    mut events: Vec<ApiEvent>,
    shared: &Mutex<Shared>,
) -> Result<(), LakeError> {
    if events.is_empty() {
        return Ok(());
    }
    // Sorted in place through cached keys: an event is large, so each moves about once, and no
    // second vector of events is made (memory stays that of the buffer).
    events.sort_by_cached_key(|e| (e.time, e.uid.clone()));
    let (table, region, account, _) = key;
    let dir = partition_dir(lake, *table, region, account, day_of(events[0].time));
    create_dirs_durably(&dir)?;
    let digest = events
        .iter()
        .fold(0u128, |acc, e| acc.wrapping_add(id_hash(&e.uid)));
    let name = format!("irp-import-{digest:032x}.parquet");
    let tmp = dir.join(format!(".{name}.tmp"));
    let path = dir.join(&name);
    let schema = api_activity_schema();
    let mut writer = PartitionWriter::create(&tmp, &schema)?;
    for chunk in events.chunks(4_096) {
        writer.write(&to_batch(chunk)?)?;
    }
    let rows = writer.finish()?;
    File::open(&tmp)
        .and_then(|f| f.sync_all())
        .map_err(|e| LakeError::io(&tmp, e))?;
    std::fs::rename(&tmp, &path).map_err(|e| LakeError::io(&path, e))?;
    // The rename is durable in the partition's folder before the import reports the rows.
    File::open(&dir)
        .and_then(|f| f.sync_all())
        .map_err(|e| LakeError::io(&dir, e))?;
    let mut s = lock(shared);
    *s.summary.written.entry(table.as_str()).or_default() += rows;
    s.summary.files_written += 1;
    s.written(key);
    Ok(())
}

/// Creates `dir` and the folders above it that are missing, each made durable in its parent.
fn create_dirs_durably(dir: &Path) -> Result<(), LakeError> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut missing = Vec::new();
    let mut at = Some(dir);
    while let Some(d) = at.filter(|d| !d.as_os_str().is_empty() && !d.is_dir()) {
        missing.push(d.to_owned());
        at = d.parent();
    }
    std::fs::create_dir_all(dir).map_err(|e| LakeError::io(dir, e))?;
    for d in missing.iter().rev() {
        if let Some(parent) = d.parent().filter(|p| !p.as_os_str().is_empty()) {
            File::open(parent)
                .and_then(|f| f.sync_all())
                .map_err(|e| LakeError::io(parent, e))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::zero_padded_ipv4;

    #[test]
    fn zero_padded_addresses_read_as_the_ipv4_they_spell() {
        assert_eq!(zero_padded_ipv4("075.050.255.67"), Some([75, 50, 255, 67].into()));
        assert_eq!(zero_padded_ipv4("08.1.250.216"), Some([8, 1, 250, 216].into()));
        for not in [
            "256.1.1.1",
            "1.2.3",
            "1.2.3.4.5",
            "a.b.c.d",
            "0001.2.3.4",
            "1..2.3",
            "s3.amazonaws.com",
            "",
        ] {
            assert_eq!(zero_padded_ipv4(not), None, "{not}");
        }
    }
}
