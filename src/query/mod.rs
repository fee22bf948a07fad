//! Running Athena SQL: the backends that run it, the dialect layer that lets the embedded engine
//! read it as Athena (Trino) does, and the optimiser rules that make the embedded engine fast on
//! Security Lake's nested OCSF columns.
//!
//! - `backend`: `local`, Apache `DataFusion` over a local lake in Security Lake's layout, and
//!   `athena`, a query's life on Amazon Athena; `files`, how the embedded engine reads the lake.
//! - `dialect`: the Athena dialect on `DataFusion` — parsing and rewriting the syntax tree
//!   (`translate`), Trino's functions with Trino's semantics, and the scan guard.
//! - `rules`: physical and logical optimiser rules of the embedded engine (nested-column pruning,
//!   text group-by, text comparisons). Each keeps `DataFusion`'s answers and only changes speed.

pub mod backend;
pub mod dialect;
pub mod rules;
