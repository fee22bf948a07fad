//! Reading the files users give irp: size limits, UTF-8, and errors that say what to do. The
//! playbook language itself (`playbook`) never touches the file system.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::playbook::node::{MAX_FILE_BYTES, decode_utf8};
use crate::playbook::{Diagnostic, Loaded, Pos, load_str};

/// Reads, parses and validates a playbook file.
pub fn load_playbook(path: &Path) -> Loaded {
    match read_playbook_source(path) {
        Ok(src) => load_str(&src),
        Err(d) => Loaded {
            playbook: None,
            diagnostics: vec![d],
        },
    }
}

/// Reads a playbook file's text, refusing what cannot be a playbook before any parsing.
pub fn read_playbook_source(path: &Path) -> Result<String, Diagnostic> {
    let meta = std::fs::metadata(path).map_err(|e| io_diag(path, &e))?;
    if meta.is_dir() {
        return Err(Diagnostic::error(
            Pos::UNKNOWN,
            "is a directory, not a playbook file",
        ));
    }
    // A FIFO or device would block or never end: only regular files (or links to them) are read.
    if !meta.is_file() {
        return Err(Diagnostic::error(Pos::UNKNOWN, "is not a regular file")
            .with_hint("give the path of a playbook file"));
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(Diagnostic::error(
            Pos::UNKNOWN,
            format!(
                "file is {} bytes; a playbook may be at most {MAX_FILE_BYTES} bytes",
                meta.len()
            ),
        )
        .with_hint("is this really a playbook? split very large guidance into linked documents"));
    }
    // Read at most one byte past the limit, in case the file grew since `metadata`.
    let mut bytes = Vec::new();
    let file = std::fs::File::open(path).map_err(|e| io_diag(path, &e))?;
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| io_diag(path, &e))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(Diagnostic::error(
            Pos::UNKNOWN,
            format!("file is larger than {MAX_FILE_BYTES} bytes; a playbook may be at most that"),
        ));
    }
    decode_utf8(bytes)
}

fn io_diag(path: &Path, e: &std::io::Error) -> Diagnostic {
    let hint = match e.kind() {
        std::io::ErrorKind::NotFound => Some(format!("check the path; `{}` does not exist", path.display())),
        std::io::ErrorKind::PermissionDenied => Some("check the file's permissions".to_owned()),
        _ => None,
    };
    Diagnostic::error(Pos::UNKNOWN, format!("cannot read file: {e}")).with_hint_opt(hint)
}

/// How deep `playbook_files` looks below a folder.
const MAX_DEPTH: usize = 8;

/// The playbook files a path names: itself, or the YAML files below a folder (sorted, hidden
/// ones skipped). A playbook's companion folder (`x/` beside `x.yaml`, holding its scenarios,
/// tests and answers) holds no playbooks and is not searched.
pub fn playbook_files(path: &Path) -> Result<Vec<PathBuf>, Diagnostic> {
    let meta = std::fs::metadata(path).map_err(|e| {
        let d = Diagnostic::error(Pos::UNKNOWN, format!("cannot read: {e}"));
        if e.kind() == std::io::ErrorKind::NotFound {
            d.with_hint("check the path; it does not exist")
        } else {
            d
        }
    })?;
    if !meta.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files = Vec::new();
    walk(path, 0, &mut files);
    files.sort();
    if files.is_empty() {
        return Err(
            Diagnostic::error(Pos::UNKNOWN, "no playbooks (*.yaml, *.yml) in this folder")
                .with_hint("name playbook files with a .yaml or .yml extension"),
        );
    }
    Ok(files)
}

fn is_yaml(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e == "yaml" || e == "yml")
}

fn walk(dir: &Path, depth: usize, files: &mut Vec<PathBuf>) {
    if depth > MAX_DEPTH {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let hidden = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.'));
        if hidden {
            continue;
        }
        let Ok(ft) = entry.file_type() else { continue };
        if ft.is_dir() {
            let companion = ["yaml", "yml"]
                .iter()
                .any(|ext| path.with_extension(ext).is_file());
            if !companion {
                walk(&path, depth + 1, files);
            }
        } else if is_yaml(&path) {
            files.push(path);
        }
    }
}
