//! `irp validate PATH...`: checks playbook files, or every `*.yaml`/`*.yml` below folders.

use std::path::{Path, PathBuf};

use clap::Args;

use super::{CliError, Output};
use crate::files::load_playbook;
use crate::playbook::model::StepKind;
use crate::playbook::{Diagnostic, Playbook, Pos};

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Playbook files, or folders to search for `*.yaml` and `*.yml`.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Print the results as JSON on standard output.
    #[arg(long)]
    pub json: bool,
}

/// How deep folder search goes; playbook trees are shallow.
const MAX_DEPTH: usize = 8;

pub fn cmd_validate(out: Output, args: &ValidateArgs) -> Result<(), CliError> {
    let mut results = Vec::new();
    for path in &args.paths {
        match collect(path) {
            Ok(files) => {
                for f in files {
                    let loaded = load_playbook(&f);
                    results.push((f, loaded.playbook, loaded.diagnostics));
                }
            }
            Err(d) => results.push((path.clone(), None, vec![d])),
        }
    }
    let failed = results
        .iter()
        .filter(|(_, _, d)| d.iter().any(Diagnostic::is_error))
        .count();
    if args.json {
        let items: Vec<serde_json::Value> = results
            .iter()
            .map(|(p, pb, d)| json_result(p, pb.as_ref(), d))
            .collect();
        out.data(&format!(
            "{}\n",
            serde_json::to_string_pretty(&items).unwrap_or_default()
        ));
    } else {
        for (path, pb, diags) in &results {
            for d in diags {
                out.diagnostic(path, d);
            }
            if let Some(pb) = pb {
                out.status(&format!("ok: {}: {}", path.display(), summary(pb)));
            }
        }
        if results.len() > 1 {
            let ok = results.len() - failed;
            out.status(&format!(
                "{} files checked: {ok} valid, {failed} with errors",
                results.len()
            ));
        }
    }
    if failed > 0 {
        Err(CliError::Reported)
    } else {
        Ok(())
    }
}

/// One line: what the playbook holds.
pub fn summary(pb: &Playbook) -> String {
    let count = |f: fn(&StepKind) -> bool| pb.count_kind(f);
    format!(
        "{} {}: {} stages, {} steps ({} queries, {} decisions, {} actions, {} notes), {} inputs",
        pb.id,
        pb.version,
        pb.stages.len(),
        pb.steps.len(),
        count(|k| matches!(k, StepKind::Query(_))),
        count(|k| matches!(k, StepKind::Decision(_))),
        count(|k| matches!(k, StepKind::Action(_))),
        count(|k| matches!(k, StepKind::Note(_))),
        pb.inputs.len()
    )
}

/// The files a path names: itself, or the YAML files below a folder (sorted, hidden ones skipped).
fn collect(path: &Path) -> Result<Vec<PathBuf>, Diagnostic> {
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
            walk(&path, depth + 1, files);
        } else if path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| e == "yaml" || e == "yml")
        {
            files.push(path);
        }
    }
}

fn json_result(path: &Path, pb: Option<&Playbook>, diags: &[Diagnostic]) -> serde_json::Value {
    serde_json::json!({
        "path": path.display().to_string(),
        "valid": !diags.iter().any(Diagnostic::is_error),
        "playbook": pb.map(|p| serde_json::json!({
            "id": p.id, "version": p.version, "stages": p.stages.len(), "steps": p.steps.len(),
        })),
        "diagnostics": diags.iter().map(|d| serde_json::json!({
            "severity": d.severity.as_str(),
            "line": d.pos.line,
            "column": d.pos.col,
            "message": d.message,
            "hint": d.hint,
        })).collect::<Vec<_>>(),
    })
}
