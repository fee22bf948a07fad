//! `irp export cacao` and `irp import cacao`: playbooks to and from OASIS CACAO v2
//! (docs/cacao.md).

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::{CliError, Output};
use crate::cacao;
use crate::files::{load_playbook, read_playbook_source};

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(subcommand)]
    pub format: ExportFormat,
}

#[derive(Debug, Subcommand)]
pub enum ExportFormat {
    /// A playbook as an OASIS CACAO 2.0 playbook (JSON), nothing lost: irp's own fields travel
    /// in a documented extension.
    Cacao {
        /// The playbook file.
        playbook: PathBuf,
        /// Write to this file instead of standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    #[command(subcommand)]
    pub format: ImportFormat,
}

#[derive(Debug, Subcommand)]
pub enum ImportFormat {
    /// An OASIS CACAO 2.0 playbook (JSON) as an irp playbook; commands irp does not run itself
    /// become checklists, and what cannot be carried is listed.
    Cacao {
        /// The CACAO playbook (JSON).
        file: PathBuf,
        /// The irp playbook to write (YAML).
        #[arg(long, short)]
        output: PathBuf,
        /// Replace the output file if it exists.
        #[arg(long)]
        force: bool,
    },
}

pub fn cmd_export(out: Output, args: &ExportArgs) -> Result<(), CliError> {
    let ExportFormat::Cacao { playbook, output } = &args.format;
    let loaded = load_playbook(playbook);
    for d in &loaded.diagnostics {
        out.diagnostic(playbook, d);
    }
    let Some(pb) = loaded.playbook else {
        return Err(CliError::Reported);
    };
    let src =
        read_playbook_source(playbook).map_err(|d| CliError::user(d.message, "read the playbook again"))?;
    let data = cacao::export::source_data(&src)
        .map_err(|m| CliError::user(m, "run `irp validate` on the playbook"))?;
    let exported = cacao::export::export(&pb, &data)
        .map_err(|m| CliError::user(m, "run `irp validate` on the playbook"))?;
    for w in &exported.warnings {
        out.note(&format!("warning: {w}"));
    }
    let mut text = serde_json::to_string_pretty(&exported.document).unwrap_or_default();
    text.push('\n');
    let Some(path) = output else {
        out.data(&text);
        return Ok(());
    };
    crate::journal::write_durably(path, text.as_bytes()).map_err(|e| {
        CliError::user(
            format!("cannot write {}: {e}", path.display()),
            "check that the folder exists and is writable, or leave out -o to print to standard output",
        )
    })
}

pub fn cmd_import(out: Output, args: &ImportArgs) -> Result<(), CliError> {
    let ImportFormat::Cacao { file, output, force } = &args.format;
    let text = read_cacao(file)?;
    if output.exists() && !force {
        return Err(CliError::user(
            format!(
                "{} exists; irp does not replace a playbook unasked",
                output.display()
            ),
            "give another -o, or --force to replace it",
        ));
    }
    let name = file.file_name().map_or_else(
        || file.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let imported = cacao::import::import(&text, &name).map_err(|m| {
        CliError::user(
            format!("{} {m}", file.display()),
            "irp imports CACAO 2.0 playbooks in JSON (OASIS's schemas: docs/cacao.md)",
        )
    })?;
    crate::journal::write_durably(output, imported.yaml.as_bytes()).map_err(|e| {
        CliError::user(
            format!("cannot write {}: {e}", output.display()),
            "check that the folder exists and is writable",
        )
    })?;
    out.status(&format!(
        "wrote {} (playbook `{}`, {} steps{}); `irp validate` accepts it",
        output.display(),
        imported.playbook_id,
        imported.steps,
        if imported.from_irp {
            ", read back from irp's extension"
        } else {
            ""
        }
    ));
    if !imported.not_carried.is_empty() {
        out.note(&format!(
            "not carried over ({}), also listed at the top of the file:",
            imported.not_carried.len()
        ));
        for n in &imported.not_carried {
            out.note(&format!("  - {n}"));
        }
    }
    Ok(())
}

/// Reads a CACAO file: a regular file, at most `MAX_CACAO_BYTES`, UTF-8.
fn read_cacao(path: &std::path::Path) -> Result<String, CliError> {
    use std::io::Read;
    let fail = |what: String| {
        CliError::user(
            format!("{}: {what}", path.display()),
            "give the path of a CACAO playbook (JSON)",
        )
    };
    let meta = std::fs::metadata(path).map_err(|e| fail(e.to_string()))?;
    if !meta.is_file() {
        return Err(fail("is not a regular file".to_owned()));
    }
    let limit = cacao::import::MAX_CACAO_BYTES;
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(limit + 1).read_to_end(&mut bytes))
        .map_err(|e| fail(e.to_string()))?;
    if bytes.len() as u64 > limit {
        return Err(fail(format!(
            "is larger than {limit} bytes, more than any playbook"
        )));
    }
    String::from_utf8(bytes).map_err(|e| {
        fail(format!(
            "is not UTF-8 text (byte {})",
            e.utf8_error().valid_up_to()
        ))
    })
}
