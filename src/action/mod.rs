//! Containment actions. For now: the static registry of typed AWS operations that playbooks name
//! (what each one takes, whether it changes anything, how its before-state is captured and how it
//! is rolled back). Executing them is built on top of this registry.

pub mod registry;

pub use registry::{AwsOperation, Effect, ParamKind, ParamSpec, find_operation, operations};
