//! The operations, one file per family of resources. Each family has a [`Resource`]: the typed
//! state irp stores of it (the before-state of a change, the evidence of a read) and the SDK
//! read that captures it. A read-only operation is [`Evidence`] of a resource; a change
//! implements [`Change`]: its plan from the before-state, the call, the check that it is in
//! place, and the restore of a stored before-state. The registry (`action::registry`) lists the
//! operations' specs, and each spec holds its implementation, so an operation cannot exist
//! without all its parts.
//!
//! Stored states are JSON artifacts. They are read back into the family's state type, so a
//! field the code reads is a field of a struct (a typo does not compile) and a stored state of
//! another shape is a named error, not a `null`.

use std::marker::PhantomData;

use async_trait::async_trait;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::aws::{ActionError, Applied, Aws, Snapshot};
use super::plan::{Params, Plan, comparable, state_diff};

pub mod access_key;
pub mod bucket_acl;
pub mod bucket_config;
pub mod bucket_policy;
pub mod instance_metadata;
pub mod ownership;
pub mod public_access_block;
pub mod role;
pub mod user;

/// A resource irp reads: the state it stores (the type itself; field order is the stored JSON's
/// order) and the read that captures it.
#[async_trait]
pub trait Resource: Serialize + DeserializeOwned + Default + Send + Sync + 'static {
    async fn read(aws: &Aws, p: &Params<'_>) -> Result<Self, ActionError>;
}

/// The state type of a change's resource.
pub type StateOf<C> = <C as Change>::Resource;

/// What a check found, in words either way: the change holds (it is in place), or it fails.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Holds(String),
    Fails(String),
}

impl Verdict {
    /// The check after a rollback: whether the resource is its stored `before` again, and
    /// where it differs when it is not.
    pub fn restored(same: bool, before: &Snapshot, after: &Snapshot) -> Verdict {
        if same {
            Verdict::Holds("the resource is as it was before the action".to_owned())
        } else {
            Verdict::Fails(format!(
                "the resource differs from its stored before-state:\n{}",
                state_diff(before, after)
            ))
        }
    }

    /// As the case journals it: what holds, or what does not.
    pub fn into_result(self) -> Result<String, String> {
        match self {
            Verdict::Holds(m) => Ok(m),
            Verdict::Fails(m) => Err(m),
        }
    }
}

/// What the check that a change is in place reads: the parameters, the request as planned, the
/// state before (when there is one) and the state now.
#[derive(Debug)]
pub struct Check<'a, 'p, S> {
    pub p: &'a Params<'p>,
    pub request: &'a Value,
    pub before: Option<&'a S>,
    pub after: &'a S,
}

/// A change to a resource, worked out from its before-state and undone by putting it back.
#[async_trait]
pub trait Change: Send + Sync + 'static {
    type Resource: Resource;

    /// What a rehearsal plans against, reading nothing: the state the change expects to find.
    fn assumed(&self, _p: &Params<'_>) -> StateOf<Self> {
        StateOf::<Self>::default()
    }

    /// The exact change against `before`: the document sent, the calls, the diff. `now` (RFC
    /// 3339) is the cut-off of a session revocation; `tag` (the step id) names irp's statements.
    fn plan(&self, p: &Params<'_>, before: &StateOf<Self>, now: &str, tag: &str)
    -> Result<Plan, ActionError>;

    /// Makes the change as planned.
    async fn apply(&self, aws: &Aws, p: &Params<'_>, plan: &Plan) -> Result<Applied, ActionError>;

    /// Whether the change (as planned: `c.request`) is in place in `c.after`.
    fn check_applied(&self, c: &Check<'_, '_, StateOf<Self>>) -> Verdict;

    /// Whether `after` is `before` again, as far as a rollback can make it so. By default the
    /// whole state, less its volatile fields (`plan::comparable`).
    fn is_restored(&self, _p: &Params<'_>, before: &StateOf<Self>, after: &StateOf<Self>) -> bool {
        comparable(&to_snapshot(before)) == comparable(&to_snapshot(after))
    }

    /// Puts the stored before-state back.
    async fn restore(
        &self,
        aws: &Aws,
        p: &Params<'_>,
        before: &StateOf<Self>,
    ) -> Result<Applied, ActionError>;
}

/// A read-only operation: the state of `R`, stored as evidence.
#[derive(Debug)]
pub struct Evidence<R>(PhantomData<R>);

impl<R> Evidence<R> {
    /// The operation, as a constant the registry's statics can point to.
    pub const NEW: Evidence<R> = Evidence(PhantomData);
}

/// A read-only operation as the registry holds it.
#[async_trait]
pub trait ReadOp: Send + Sync {
    async fn read(&self, aws: &Aws, p: &Params<'_>) -> Result<Snapshot, ActionError>;
}

#[async_trait]
impl<R: Resource> ReadOp for Evidence<R> {
    async fn read(&self, aws: &Aws, p: &Params<'_>) -> Result<Snapshot, ActionError> {
        R::read(aws, p).await.map(|s| to_snapshot(&s))
    }
}

/// A change as the registry holds it: stored states in and out as JSON, read into the
/// resource's state type.
#[async_trait]
pub trait ChangeOp: Send + Sync {
    async fn read(&self, aws: &Aws, p: &Params<'_>) -> Result<Snapshot, ActionError>;
    fn plan(&self, p: &Params<'_>, before: &Snapshot, now: &str, tag: &str) -> Result<Plan, ActionError>;
    /// The plan against the state the change expects, for a rehearsal.
    fn plan_assumed(&self, p: &Params<'_>, now: &str, tag: &str) -> Result<Plan, ActionError>;
    async fn apply(&self, aws: &Aws, p: &Params<'_>, plan: &Plan) -> Result<Applied, ActionError>;
    fn check_applied(&self, c: &Check<'_, '_, Snapshot>) -> Verdict;
    fn check_restored(&self, p: &Params<'_>, before: &Snapshot, after: &Snapshot) -> Verdict;
    async fn restore(&self, aws: &Aws, p: &Params<'_>, before: &Snapshot) -> Result<Applied, ActionError>;
}

#[async_trait]
impl<C: Change> ChangeOp for C {
    async fn read(&self, aws: &Aws, p: &Params<'_>) -> Result<Snapshot, ActionError> {
        C::Resource::read(aws, p).await.map(|s| to_snapshot(&s))
    }

    fn plan(&self, p: &Params<'_>, before: &Snapshot, now: &str, tag: &str) -> Result<Plan, ActionError> {
        Change::plan(self, p, &typed::<StateOf<C>>(p, before)?, now, tag)
    }

    fn plan_assumed(&self, p: &Params<'_>, now: &str, tag: &str) -> Result<Plan, ActionError> {
        Change::plan(self, p, &self.assumed(p), now, tag)
    }

    async fn apply(&self, aws: &Aws, p: &Params<'_>, plan: &Plan) -> Result<Applied, ActionError> {
        Change::apply(self, aws, p, plan).await
    }

    fn check_applied(&self, c: &Check<'_, '_, Snapshot>) -> Verdict {
        let states = c
            .before
            .map(|b| typed::<StateOf<C>>(c.p, b))
            .transpose()
            .and_then(|before| Ok((before, typed::<StateOf<C>>(c.p, c.after)?)));
        match states {
            Ok((before, after)) => Change::check_applied(
                self,
                &Check {
                    p: c.p,
                    request: c.request,
                    before: before.as_ref(),
                    after: &after,
                },
            ),
            Err(e) => Verdict::Fails(e.to_string()),
        }
    }

    fn check_restored(&self, p: &Params<'_>, before: &Snapshot, after: &Snapshot) -> Verdict {
        let restored = typed::<StateOf<C>>(p, before)
            .and_then(|b| Ok(self.is_restored(p, &b, &typed::<StateOf<C>>(p, after)?)));
        match restored {
            Ok(same) => Verdict::restored(same, before, after),
            Err(e) => Verdict::Fails(e.to_string()),
        }
    }

    async fn restore(&self, aws: &Aws, p: &Params<'_>, before: &Snapshot) -> Result<Applied, ActionError> {
        let before = typed::<StateOf<C>>(p, before)?;
        Change::restore(self, aws, p, &before).await
    }
}

/// A state as stored.
fn to_snapshot<S: Serialize>(state: &S) -> Snapshot {
    serde_json::to_value(state).unwrap_or(Value::Null)
}

/// A stored state read into its type; a state of another shape is refused, its operation named.
fn typed<S: DeserializeOwned>(p: &Params<'_>, snapshot: &Snapshot) -> Result<S, ActionError> {
    S::deserialize(snapshot).map_err(|e| {
        ActionError::Refused(format!(
            "the stored state is not the state `{}` keeps ({e}); was it written by hand?",
            p.op().name
        ))
    })
}

/// `(none)` for a missing value, else the value as text.
pub(crate) fn or_none<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or_else(|| "(none)".to_owned(), |v| v.to_string())
}
