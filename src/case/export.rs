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
use crate::journal::entry::{hex, sha256_hex};
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

/// Writes the archive of the case in `dir` (whose journal's complete entries are `entries`,
/// its first `journal` bytes) to `out`, with `allowed_signers` beside it when given. The
/// archive is written beside `out` and renamed into place, never over an existing file.
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
    let writer: Box<dyn Write> = if gzipped(out) {
        Box::new(flate2::write::GzEncoder::new(
            file,
            flate2::Compression::default(),
        ))
    } else {
        Box::new(file)
    };
    let mut tar = tar::Builder::new(writer);
    let mtime = u64::try_from(now.timestamp()).unwrap_or(0);
    let mut add = |name: &str, bytes: &[u8]| -> Result<(), ExportError> {
        let mut header = tar::Header::new_ustar();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(mtime);
        header.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut header, name, bytes)
            .map_err(io("cannot write", &tmp))
    };
    add(
        MANIFEST,
        &serde_json::to_vec_pretty(&manifest).unwrap_or_default(),
    )?;
    if let Some(a) = allowed_signers {
        add(ALLOWED_SIGNERS, a)?;
    }
    for f in &manifest.files {
        let bytes = if f.path == CaseDir::JOURNAL {
            journal.to_vec()
        } else {
            let path = dir.path(&f.path);
            let bytes = std::fs::read(&path).map_err(io("cannot read", &path))?;
            // A file that changed between the manifest and now would make the archive lie.
            if sha256_hex(&bytes) != f.sha256 {
                return Err(ExportError::Archive(format!(
                    "{} changed while the case was being exported; export again",
                    path.display()
                )));
            }
            bytes
        };
        add(&format!("{case}/{}", f.path), &bytes)?;
    }
    let writer = tar.into_inner().map_err(io("cannot write", &tmp))?;
    drop(writer); // the gzip trailer is written on drop; the file is synced below
    std::fs::File::open(&tmp)
        .and_then(|f| f.sync_all())
        .map_err(io("cannot sync", &tmp))?;
    std::fs::hard_link(&tmp, out).map_err(io("cannot create", out))?;
    std::fs::remove_file(&tmp).map_err(io("cannot remove", &tmp))?;
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        crate::journal::sync_dir(parent).map_err(io("cannot sync", parent))?;
    }
    Ok(manifest)
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
        let keep = rel == CaseDir::JOURNAL || rel == CaseDir::SIGNATURES;
        let mut kept = Vec::new();
        let mut hasher = <sha2::Sha256 as sha2::Digest>::new();
        let mut size = 0u64;
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = member.read(&mut buf).map_err(bad)?;
            if n == 0 {
                break;
            }
            sha2::Digest::update(&mut hasher, &buf[..n]);
            size += n as u64;
            if keep {
                kept.extend_from_slice(&buf[..n]);
            }
        }
        let sha = hex(&sha2::Digest::finalize(hasher));
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
