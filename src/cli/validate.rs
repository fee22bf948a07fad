//! `irp validate PATH...`: checks playbook files, or every `*.yaml`/`*.yml` below folders.

use std::path::{Path, PathBuf};

use clap::Args;

use super::{CliError, Output};
use crate::files::load_playbook;
use crate::playbook::model::StepKind;
use crate::playbook::{Diagnostic, Playbook};

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Playbook files, or folders to search for `*.yaml` and `*.yml`.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Print the results as JSON on standard output.
    #[arg(long)]
    pub json: bool,
}

pub fn cmd_validate(out: Output, args: &ValidateArgs) -> Result<(), CliError> {
    let mut results = Vec::new();
    for path in &args.paths {
        match crate::files::playbook_files(path) {
            Ok(files) => {
                for f in files {
                    let loaded = load_playbook(&f);
                    let valid = !loaded.diagnostics.iter().any(Diagnostic::is_error);
                    let companions = match (&loaded.playbook, valid) {
                        (Some(pb), true) => crate::rehearse::playtest::check_companions(&f, pb),
                        _ => Vec::new(),
                    };
                    results.push((f, loaded.playbook, loaded.diagnostics));
                    // A scenario, answers file or test case that does not fit its playbook is
                    // an error of its own file.
                    for (file, diags) in companions {
                        results.push((file, None, diags));
                    }
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
