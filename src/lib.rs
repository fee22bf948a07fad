//! irp: executable incident-response playbooks.
//!
//! Module map (dependency direction: `cli` -> `action`, `playbook`):
//! - `playbook`: the playbook language — YAML reader, shape check, validator, templates, schema, graph.
//! - `action`: the registry of typed AWS operations that playbook actions name.
//! - `cli`: the command line — one file per subcommand, one output handle, exit codes.

pub mod action;
pub mod cli;
pub mod playbook;
