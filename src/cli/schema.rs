//! `irp schema`: the JSON Schema of the playbook format, of one journal entry, or of the report.

use clap::{Args, ValueEnum};

use super::{CliError, Output};
use crate::playbook::schema::playbook_schema_text;

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Which {
    /// A playbook file.
    Playbook,
    /// One line of a case journal.
    JournalEntry,
    /// The JSON report (`irp report --format json`).
    Report,
}

#[derive(Debug, Args)]
pub struct SchemaArgs {
    /// Which schema to print.
    #[arg(value_enum, default_value = "playbook")]
    pub which: Which,
}

#[allow(clippy::unnecessary_wraps)] // every command has the same signature
pub fn cmd_schema(out: Output, args: &SchemaArgs) -> Result<(), CliError> {
    match args.which {
        Which::Playbook => out.data(&playbook_schema_text()),
        Which::JournalEntry => out.data(&crate::journal::entry_schema_text()),
        Which::Report => out.data(&crate::report::schema_text()),
    }
    Ok(())
}
