//! Containment actions: the registry of typed AWS operations that playbooks name (`registry`),
//! one file per family of operations (`ops/`: each resource's typed state, its read, and each
//! change's plan, call, checks and restore), the entry points a case uses (`plan`, pure, and
//! `aws`, the SDK clients), the policy documents they write (`policy`), and `command` actions run
//! as argv lists (`command`).

pub mod aws;
pub mod command;
pub mod ops;
pub mod plan;
pub mod policy;
mod raw;
pub mod registry;

pub use registry::{AwsOperation, Effect, ParamKind, ParamSpec, find_operation, operations};
