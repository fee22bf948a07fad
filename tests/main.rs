//! The integration tests: one binary (each test binary links everything), one module per area.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stderr,
    clippy::print_stdout,
    // Test code builds strings and files inline; these pedantic lints only add noise here.
    clippy::format_push_string,
    clippy::format_collect,
    clippy::case_sensitive_file_extension_comparisons,
    clippy::items_after_statements,
    clippy::cast_possible_truncation,
    clippy::unnecessary_literal_bound
)]

mod common;

mod cases;

mod crash;
mod dialect;
mod engine;
mod evidence;

mod actions;
mod athena;
mod athena_corpus;
mod finding;
mod fixtures;
mod hostile;
mod import;
mod journal;
mod lake;
mod playbooks;
mod query;
mod read_only;
mod real_logs;
mod rehearse;
mod review;
mod schema;
mod shared;
mod shell;
mod sources;
mod standards;
mod structure;
mod templates;
mod text_groups;
mod ui;
mod ui_tmux;
mod values;
