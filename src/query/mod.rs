//! Query backends: `local`, the embedded engine over a local lake (Apache `DataFusion`). Athena
//! joins it later behind the same interface.

pub mod local;
pub mod translate;
pub mod trino;
