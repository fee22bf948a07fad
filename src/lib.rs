//! irp: executable incident-response playbooks.
//!
//! Module map, lowest first; a module uses only those above it (`docs/development.md` has the
//! table of which may use which, and a test holds the code to it):
//! - `clock`: the clock and the id source, pinned by `IRP_NOW` / `IRP_SEED`.
//! - `standards`: pinned catalogues playbooks refer to: MITRE ATT&CK Enterprise and D3FEND
//!   techniques, the NIST CSF 2.0 functions.
//! - `cloud`: the AWS configuration (standard credential chain, region, endpoint) the Athena
//!   backend and the actions load.
//! - `action`: the catalogue of containment operations playbooks name (parameters, effects,
//!   IAM permissions) and their execution with the AWS SDK: before-state, change, check, restore.
//! - `playbook`: the playbook language — YAML reader, shape check, validator, templates, schema,
//!   graph. Pure: no file system, no clock, no async.
//! - `cacao`: playbooks to and from OASIS CACAO v2 (`irp export cacao`, `irp import cacao`).
//! - `files`: reading the files users give irp (size limits, UTF-8, helpful I/O errors).
//! - `engine`: the case state machine — commands judged by `decide`, events folded by
//!   `State::apply`, and the events in words. Pure.
//! - `journal`: the case journal on disk — the hash-chained entry codec, the scan, the fsynced
//!   writer, the lock.
//! - `lake`: the local lake in Security Lake's layout: OCSF batches, the generator, `CloudTrail`
//!   import.
//! - `query`: running Athena SQL — the embedded engine and Athena backends, the Trino dialect
//!   layer, the embedded engine's optimiser rules.
//! - `case`: a case being worked on (`Session`), the moves every driver shares, the query-backend
//!   port and its adapters, actions, and the headless driver.
//! - `report`: post-incident review — the case record, the report model, Markdown and HTML, and
//!   the case as an ATT&CK Navigator layer, OCSF Incident Findings and a STIX bundle.
//! - `rehearse`: game-day rehearsals — scenarios, lakes, injects, scores — and playbook tests.
//! - `ui`: the terminal UI (ratatui): a pure model and update, a view, and a worker thread that
//!   owns the case session; `irp review` reuses it read-only.
//! - `cli`: the command line — one file per subcommand, one output handle, exit codes.

pub mod action;
pub mod cacao;
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
pub mod standards;
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
