//! The command line: one file per subcommand (`XxxArgs` + `cmd_xxx`), one output handle, and one
//! classified error at the edge that picks the exit code (0 ok, 1 user or data error, 2 usage).

mod graph;
pub mod output;
mod schema;
mod validate;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub use output::Output;

/// irp runs incident-response playbooks: Athena SQL over Amazon Security Lake, decision points and
/// containment actions, with a tamper-evident case journal.
#[derive(Debug, Parser)]
#[command(name = "irp", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// Never colour the output (also: the `NO_COLOR` environment variable).
    #[arg(long, global = true)]
    pub no_color: bool,
    /// Print only errors.
    #[arg(long, short, global = true)]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check playbooks: YAML, shape, ids, references, reachability, templates, tables, operations.
    Validate(validate::ValidateArgs),
    /// Print the JSON Schema of the playbook format (for editors and other tools).
    Schema(schema::SchemaArgs),
    /// Draw a playbook's step graph as Mermaid or Graphviz DOT.
    Graph(graph::GraphArgs),
}

/// An error at the edge: what to print and which exit code it means.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Bad input or data: the message has already been printed (diagnostics) or is here.
    #[error("{message}")]
    User { message: String, hints: Vec<String> },
    /// Diagnostics were printed already; only the exit code is left.
    #[error("problems were found")]
    Reported,
}

impl CliError {
    pub fn user(message: impl Into<String>, hint: impl Into<String>) -> Self {
        CliError::User {
            message: message.into(),
            hints: vec![hint.into()],
        }
    }
}

/// Runs a parsed command line and maps the outcome to an exit code.
pub fn run(cli: Cli) -> ExitCode {
    let out = Output::new(cli.no_color, cli.quiet);
    let result = match cli.command {
        Command::Validate(args) => validate::cmd_validate(out, &args),
        Command::Schema(args) => schema::cmd_schema(out, &args),
        Command::Graph(args) => graph::cmd_graph(out, &args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(CliError::Reported) => ExitCode::from(1),
        Err(CliError::User { message, hints }) => {
            out.error(&message, &hints);
            ExitCode::from(1)
        }
    }
}
