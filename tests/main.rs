//! The integration tests: one binary (each test binary links everything), one module per area.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stderr,
    clippy::print_stdout
)]

mod common;

mod fixtures;
mod hostile;
mod playbooks;
mod schema;
mod templates;
mod values;
