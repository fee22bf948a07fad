//! Containment actions: the registry of typed AWS operations that playbooks name (`registry`),
//! the exact change worked out from a before-state and its checks (`plan`, pure), its execution
//! with the AWS SDK (`aws`: before-state, change, read-back, rollback), the policy documents they
//! write (`policy`), and `command` actions run as argv lists (`command`).

pub mod aws;
pub mod command;
pub mod plan;
pub mod policy;
mod raw;
pub mod registry;

pub use registry::{AwsOperation, Effect, ParamKind, ParamSpec, find_operation, operations};
