//! `irp graph`: a playbook's step graph as Mermaid or Graphviz DOT.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::{CliError, Output};
use crate::files::load_playbook;
use crate::playbook::graph::{GraphFormat, render};

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    /// Mermaid flowchart (renders on GitHub and in most Markdown viewers).
    Mermaid,
    /// Graphviz DOT (`dot -Tsvg`).
    Dot,
}

#[derive(Debug, Args)]
pub struct GraphArgs {
    /// The playbook file.
    pub playbook: PathBuf,
    /// Output format.
    #[arg(long, short, value_enum, default_value = "mermaid")]
    pub format: Format,
    /// Write to this file instead of standard output.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
}

pub fn cmd_graph(out: Output, args: &GraphArgs) -> Result<(), CliError> {
    let loaded = load_playbook(&args.playbook);
    for d in &loaded.diagnostics {
        out.diagnostic(&args.playbook, d);
    }
    let Some(pb) = loaded.playbook else {
        return Err(CliError::Reported);
    };
    let format = match args.format {
        Format::Mermaid => GraphFormat::Mermaid,
        Format::Dot => GraphFormat::Dot,
    };
    let text = render(&pb, format);
    if let Some(path) = &args.output {
        std::fs::write(path, text).map_err(|e| {
            CliError::user(
                format!("cannot write {}: {e}", path.display()),
                "check that the folder exists and is writable, or leave out -o to print to standard output",
            )
        })
    } else {
        out.data(&text);
        Ok(())
    }
}
