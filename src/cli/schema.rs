//! `irp schema`: the JSON Schema of the playbook format.

use clap::Args;

use super::{CliError, Output};
use crate::playbook::schema::playbook_schema_text;

#[derive(Debug, Args)]
pub struct SchemaArgs {}

#[allow(clippy::unnecessary_wraps)] // every command has the same signature
pub fn cmd_schema(out: Output, _args: &SchemaArgs) -> Result<(), CliError> {
    out.data(&playbook_schema_text());
    Ok(())
}
