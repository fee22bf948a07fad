//! `irp case export CASE -o FILE`: the case as one archive (POSIX tar, gzipped when the name ends
//! in `.gz`/`.tgz`) that `tar -xf` unpacks and `irp verify FILE` checks without unpacking:
//!
//! ```text
//! manifest.json          every file of the case with its size and SHA-256, the head
//! allowed_signers        the allowed signers the exporter named (when given)
//! <case id>/...          the case folder (journal, signatures, snapshot, inputs, artifacts…)
//! ```

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::Path;

use crate::case::seal::{self, Manifest};
use crate::journal::entry::hex;
use crate::journal::{CaseDir, Entry};

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("{what} {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Archive(String),
}

fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> ExportError {
    let path = path.to_owned();
    move |source| ExportError::Io { what, path, source }
}

/// The names at the archive's top level besides the case folder.
pub const MANIFEST: &str = "manifest.json";
pub const ALLOWED_SIGNERS: &str = "allowed_signers";

/// What an archive's name says it is: `Some(true)` gzipped (`.tar.gz`, `.tgz`), `Some(false)`
/// plain (`.tar`), `None` not an archive name.
pub fn archive_name(path: &Path) -> Option<bool> {
    let ext = |p: &Path, e: &str| p.extension().is_some_and(|x| x.eq_ignore_ascii_case(e));
    if ext(path, "tgz") || (ext(path, "gz") && ext(&path.with_extension(""), "tar")) {
        Some(true)
    } else if ext(path, "tar") {
        Some(false)
    } else {
        None
    }
}

/// Whether a path names an archive rather than a case folder or journal.
pub fn is_archive(path: &Path) -> bool {
    path.is_file() && archive_name(path).is_some()
}

fn gzipped(path: &Path) -> bool {
    archive_name(path) == Some(true)
}

/// Writes the archive of the case in `dir` (its journal's bytes `journal`, holding `entries`)
/// to `out`, with `allowed_signers` beside it when given. The archive is written beside `out`
/// and linked into place, never over an existing file; a failed export leaves nothing.
pub fn export(
    dir: &CaseDir,
    case: &str,
    entries: &[Entry],
    journal: &[u8],
    allowed_signers: Option<&[u8]>,
    now: chrono::DateTime<chrono::Utc>,
    out: &Path,
) -> Result<Manifest, ExportError> {
    if out.exists() {
        return Err(ExportError::Archive(format!(
            "{} exists; irp does not overwrite it (choose another name)",
            out.display()
        )));
    }
    let sealed_at = now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let manifest = seal::manifest(dir, case, entries, journal, &sealed_at)
        .map_err(|e| ExportError::Archive(e.to_string()))?;
    let tmp = out.with_extension("part");
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .map_err(io("cannot create", &tmp))?;
    let mtime = u64::try_from(now.timestamp()).unwrap_or(0);
    let written = if gzipped(out) {
        write_tar(
            flate2::write::GzEncoder::new(file, flate2::Compression::default()),
            dir,
            case,
            &manifest,
            journal,
            allowed_signers,
            mtime,
        )
        // The gzip trailer is written by `finish`: its error is an error of the archive.
        .and_then(|gz| {
            gz.finish()
                .map_err(|e| ExportError::Archive(format!("{}: {e}", tmp.display())))
        })
    } else {
        write_tar(file, dir, case, &manifest, journal, allowed_signers, mtime)
    };
    let placed = written
        .and_then(|f| f.sync_all().map_err(io("cannot sync", &tmp)))
        .and_then(|()| std::fs::hard_link(&tmp, out).map_err(io("cannot create", out)));
    // The partial archive goes, whether it was placed (linked) or not.
    let _ = std::fs::remove_file(&tmp);
    placed?;
    crate::journal::sync_dir(crate::journal::parent_dir(out)).map_err(io("cannot sync", out))?;
    Ok(manifest)
}

/// The tar stream of the case into `w`: the manifest, the allowed signers, then every file the
/// manifest lists, each streamed from its file and checked against the manifest's size and hash.
fn write_tar<W: Write>(
    w: W,
    dir: &CaseDir,
    case: &str,
    manifest: &Manifest,
    journal: &[u8],
    allowed_signers: Option<&[u8]>,
    mtime: u64,
) -> Result<W, ExportError> {
    let mut tar = tar::Builder::new(w);
    let bad = |e: std::io::Error| ExportError::Archive(format!("cannot write the archive: {e}"));
    let header = |size: u64| {
        let mut header = tar::Header::new_ustar();
        header.set_size(size);
        header.set_mode(0o644);
        header.set_mtime(mtime);
        header.set_entry_type(tar::EntryType::Regular);
        header
    };
    let manifest_bytes = serde_json::to_vec_pretty(manifest).unwrap_or_default();
    tar.append_data(
        &mut header(manifest_bytes.len() as u64),
        MANIFEST,
        manifest_bytes.as_slice(),
    )
    .map_err(bad)?;
    if let Some(a) = allowed_signers {
        tar.append_data(&mut header(a.len() as u64), ALLOWED_SIGNERS, a)
            .map_err(bad)?;
    }
    for f in &manifest.files {
        let name = format!("{case}/{}", f.path);
        if f.path == CaseDir::JOURNAL {
            tar.append_data(&mut header(journal.len() as u64), &name, journal)
                .map_err(bad)?;
            continue;
        }
        let path = dir.path(&f.path);
        let file = std::fs::File::open(&path).map_err(io("cannot read", &path))?;
        // Streamed (artifacts can be large), at most the size the manifest gives, hashed on the way.
        let mut reader = Hashing::new(std::io::Read::take(file, f.size));
        tar.append_data(&mut header(f.size), &name, &mut reader)
            .map_err(bad)?;
        // A file that changed between the manifest and now would make the archive lie.
        if reader.bytes != f.size || hex(&sha2::Digest::finalize(reader.hasher)) != f.sha256 {
            return Err(ExportError::Archive(format!(
                "{} changed while the case was being exported; export again",
                path.display()
            )));
        }
    }
    tar.into_inner().map_err(bad)
}

/// A reader that hashes and counts what goes through it.
struct Hashing<R> {
    inner: R,
    hasher: sha2::Sha256,
    bytes: u64,
}

impl<R> Hashing<R> {
    fn new(inner: R) -> Hashing<R> {
        Hashing {
            inner,
            hasher: <sha2::Sha256 as sha2::Digest>::new(),
            bytes: 0,
        }
    }
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        sha2::Digest::update(&mut self.hasher, &buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
}

/// An archive read without unpacking: the manifest, the case's files by path (relative to the
/// case folder) with their SHA-256 and size, and the bytes irp checks.
#[derive(Debug, Default)]
pub struct Archived {
    pub manifest: Option<Manifest>,
    pub allowed_signers: Option<Vec<u8>>,
    /// The case folder's name in the archive.
    pub case: Option<String>,
    pub files: BTreeMap<String, (String, u64)>,
    pub journal: Option<Vec<u8>>,
    pub signatures: Option<Vec<u8>>,
    /// Members that are not where an export puts them.
    pub strays: Vec<String>,
}

/// The most an export's manifest or allowed signers file may hold.
const MAX_SMALL: u64 = 64 * 1024 * 1024;

pub fn read(path: &Path) -> Result<Archived, ExportError> {
    let file = std::fs::File::open(path).map_err(io("cannot read", path))?;
    let reader: Box<dyn Read> = if gzipped(path) {
        Box::new(flate2::read::GzDecoder::new(file))
    } else {
        Box::new(file)
    };
    let bad = |e: std::io::Error| {
        ExportError::Archive(format!("{} is not a readable archive: {e}", path.display()))
    };
    let mut archive = tar::Archive::new(reader);
    let mut out = Archived::default();
    for member in archive.entries().map_err(bad)? {
        let mut member = member.map_err(bad)?;
        let name = member.path().map_err(bad)?.to_string_lossy().into_owned();
        if !matches!(member.header().entry_type(), tar::EntryType::Regular) {
            out.strays.push(name);
            continue;
        }
        let small = |member: &mut tar::Entry<'_, Box<dyn Read>>| -> Result<Vec<u8>, ExportError> {
            if member.size() > MAX_SMALL {
                return Err(ExportError::Archive(format!(
                    "{name} is too large for what it is"
                )));
            }
            let mut bytes = Vec::new();
            member.read_to_end(&mut bytes).map_err(bad)?;
            Ok(bytes)
        };
        if name == MANIFEST {
            let bytes = small(&mut member)?;
            out.manifest = Some(serde_json::from_slice(&bytes).map_err(|e| {
                ExportError::Archive(format!("the archive's {MANIFEST} cannot be read: {e}"))
            })?);
            continue;
        }
        if name == ALLOWED_SIGNERS {
            out.allowed_signers = Some(small(&mut member)?);
            continue;
        }
        let Some((case, rel)) = name.split_once('/') else {
            out.strays.push(name);
            continue;
        };
        if out.case.as_deref().is_some_and(|c| c != case) || rel.split('/').any(|p| p == ".." || p.is_empty())
        {
            out.strays.push(name);
            continue;
        }
        out.case = Some(case.to_owned());
        // Every file hashed on the way; only the journal and the signatures kept.
        let mut reader = Hashing::new(&mut member);
        let mut kept = Vec::new();
        if rel == CaseDir::JOURNAL || rel == CaseDir::SIGNATURES {
            reader.read_to_end(&mut kept).map_err(bad)?;
        } else {
            std::io::copy(&mut reader, &mut std::io::sink()).map_err(bad)?;
        }
        let (size, sha) = (reader.bytes, hex(&sha2::Digest::finalize(reader.hasher)));
        if rel == CaseDir::JOURNAL {
            out.journal = Some(kept);
        } else if rel == CaseDir::SIGNATURES {
            out.signatures = Some(kept);
        }
        out.files.insert(rel.to_owned(), (sha, size));
    }
    Ok(out)
}

/// The first way the archive's files and its manifest disagree.
pub fn manifest_problem(a: &Archived) -> Option<String> {
    let Some(m) = &a.manifest else {
        return Some(format!(
            "the archive has no {MANIFEST}: it is not an irp case export"
        ));
    };
    if a.case.as_deref() != Some(m.case.as_str()) {
        return Some(format!(
            "the manifest is of case {}, the archive holds {}",
            m.case,
            a.case.as_deref().unwrap_or("no case folder")
        ));
    }
    for f in &m.files {
        match a.files.get(&f.path) {
            None => return Some(format!("`{}`, in the manifest, is not in the archive", f.path)),
            Some((sha, size)) if *sha != f.sha256 || *size != f.size => {
                return Some(format!(
                    "`{}` does not match the manifest: it was changed",
                    f.path
                ));
            }
            Some(_) => {}
        }
    }
    if let Some(extra) = a.files.keys().find(|p| !m.files.iter().any(|f| &f.path == *p)) {
        return Some(format!("`{extra}` is in the archive but not in its manifest"));
    }
    if let Some(s) = a.strays.first() {
        return Some(format!("`{s}` is not where an export puts files"));
    }
    None
}
