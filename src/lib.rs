//! irp: executable incident-response playbooks.
//!
//! Module map (dependency direction: `cli` -> `files` -> `playbook`, `action`):
//! - `playbook`: the playbook language — YAML reader, shape check, validator, templates, schema,
//!   graph. Pure: no file system, no clock, no async.
//! - `files`: reading the files users give irp (size limits, UTF-8, helpful I/O errors).
//! - `action`: the registry of typed AWS operations that playbook actions name, and their
//!   execution with the AWS SDK.
//! - `cloud`: the AWS configuration the Athena backend and the actions load.
//! - `ui`: the terminal UI (ratatui): a pure model and update, a view, and a worker thread that
//!   owns the case session.
//! - `cli`: the command line — one file per subcommand, one output handle, exit codes.

pub mod action;
pub mod case;
pub mod cli;
pub mod clock;
pub mod cloud;
pub mod engine;
pub mod files;
pub mod journal;
pub mod lake;
pub mod playbook;
pub mod query;
pub mod rehearse;
pub mod report;
pub mod ui;

/// mimalloc instead of the system allocator: the query engine allocates and frees large column
/// buffers for every batch, and glibc's allocator hands them back to the kernel and faults them in
/// again (page faults and zeroing were a seventh of a lake scan; `docs/performance.md`). Built
/// without transparent huge pages (`no_thp` in Cargo.toml): with them, each first touch of a
/// fresh region had the kernel zero 2 MB, a tenth of planning a query and 4-12% of a short scan.
/// Built with `override`, so `malloc` and `free` of the C code linked in are mimalloc's as well:
/// the parquet crate makes a zstd context (about 160 KB) for every column chunk it reads, and
/// glibc mapped and unmapped each one (220 page faults and a sixth of the CPU of a 30 ms query).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
