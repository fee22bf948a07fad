//! The query backends: `local`, the embedded engine over a local lake (`files` is how it reads
//! the lake's files), and `athena`, Amazon Athena. Both take Athena SQL and give Arrow batches.

pub mod athena;
pub mod files;
pub mod local;
