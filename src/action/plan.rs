//! The pure part of an AWS action: its parameters checked against the registry (`Params`), the
//! exact change worked out from a before-state (`plan`: the document sent, the calls, the diff),
//! the calls a rehearsal records instead, and the checks that a change is in place
//! (`check_applied`) or that a rollback restored the stored state (`check_restored`). Each is
//! the operation's own (`ops/`); these functions hand the call to it. No call to AWS is made here.

use std::collections::BTreeMap;

use serde_json::Value;

use super::aws::{ActionError, Snapshot};
use super::ops::{Check, Verdict};
use super::policy;
use super::registry::{AwsOperation, Implementation};

/// The parameters of one call, as rendered in the intent.
#[derive(Debug, Clone)]
pub struct Params<'a> {
    op: &'static AwsOperation,
    values: &'a BTreeMap<String, Value>,
}

impl<'a> Params<'a> {
    /// Checks every value against its parameter's type: a rendered value (from an input or a
    /// query result) that is not a bucket name, an ARN, … never reaches a call.
    pub fn new(op: &'static AwsOperation, values: &'a BTreeMap<String, Value>) -> Result<Self, ActionError> {
        for spec in op.params {
            let Some(v) = values.get(spec.name) else {
                if spec.required {
                    return Err(ActionError::InvalidParam {
                        name: spec.name.to_owned(),
                        message: "missing".to_owned(),
                    });
                }
                continue;
            };
            let items: Vec<String> = match v {
                Value::Array(list) => list.iter().map(value_text).collect(),
                Value::Null => Vec::new(),
                other => vec![value_text(other)],
            };
            if !spec.kind.is_list() && items.len() != 1 {
                return Err(ActionError::InvalidParam {
                    name: spec.name.to_owned(),
                    message: format!("expected one value, got {}", items.len()),
                });
            }
            for item in &items {
                spec.kind
                    .check(item)
                    .map_err(|message| ActionError::InvalidParam {
                        name: spec.name.to_owned(),
                        message,
                    })?;
            }
        }
        if let Some(unknown) = values.keys().find(|k| op.param(k).is_none()) {
            return Err(ActionError::InvalidParam {
                name: unknown.clone(),
                message: format!("`{}` takes no such parameter", op.name),
            });
        }
        if !op.require_any.is_empty()
            && !op
                .require_any
                .iter()
                .any(|n| !Self::list_of(values, n).is_empty())
        {
            return Err(ActionError::InvalidParam {
                name: op.require_any.join(" / "),
                message: "at least one of them must have a value".to_owned(),
            });
        }
        Ok(Params { op, values })
    }

    pub fn op(&self) -> &'static AwsOperation {
        self.op
    }

    pub fn str(&self, name: &str) -> String {
        self.values.get(name).map(value_text).unwrap_or_default()
    }

    pub fn opt(&self, name: &str) -> Option<String> {
        self.values.get(name).map(value_text).filter(|s| !s.is_empty())
    }

    pub fn list(&self, name: &str) -> Vec<String> {
        Self::list_of(self.values, name)
    }

    fn list_of(values: &BTreeMap<String, Value>, name: &str) -> Vec<String> {
        match values.get(name) {
            Some(Value::Array(list)) => list.iter().map(value_text).collect(),
            Some(Value::Null) | None => Vec::new(),
            Some(v) => vec![value_text(v)],
        }
    }

    /// The value of the operation's target parameter (the resource that changes).
    pub fn target(&self) -> String {
        self.str(self.op.target)
    }
}

fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The inline policy name `iam.put_user_deny_all_policy` uses unless told otherwise.
pub const DENY_ALL_POLICY: &str = "irp-deny-all";
/// The inline role policy the console's "Revoke active sessions" writes; irp uses the same name.
pub const REVOKE_SESSIONS_POLICY: &str = "AWSRevokeOlderSessions";

/// What the change will send, worked out from the before-state.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Plan {
    /// The document the call sends, when it sends one (a policy), else the call's settings.
    pub request: Value,
    /// The calls, in words, with their parameters.
    pub calls: Vec<String>,
    /// The change to the resource, line by line (`-` removed, `+` added).
    pub diff: String,
    /// Things the responder should know (a role session denied through its role…).
    pub notes: Vec<String>,
    /// When the change is already in place: why nothing will be called.
    pub already: Option<String>,
}

impl Plan {
    /// A plan that makes `call`, changing the resource as `diff` shows.
    pub fn new(call: String, diff: String) -> Plan {
        Plan {
            calls: vec![call],
            diff,
            ..Plan::empty()
        }
    }

    /// A plan that calls nothing.
    pub fn empty() -> Plan {
        Plan {
            request: Value::Null,
            calls: Vec::new(),
            diff: String::new(),
            notes: Vec::new(),
            already: None,
        }
    }

    /// The call, in words (the first, when there are more).
    pub fn call(&self) -> String {
        self.calls.first().cloned().unwrap_or_default()
    }
}

/// The before-state's parts that matter for a conflict or a restore check: volatile fields
/// (dates) are left out, so a resource read twice compares equal when nobody changed it.
pub fn comparable(snapshot: &Snapshot) -> Value {
    let mut v = snapshot.clone();
    if let Some(map) = v.as_object_mut() {
        map.remove("read_at");
        if let Some(Value::Object(lp)) = map.get_mut("login_profile") {
            lp.remove("created");
        }
        if let Some(Value::Array(keys)) = map.get_mut("keys") {
            for k in keys {
                if let Some(k) = k.as_object_mut() {
                    k.remove("created");
                }
            }
        }
    }
    v
}

/// The change between two states of a resource, line by line.
pub fn state_diff(before: &Snapshot, after: &Snapshot) -> String {
    policy::diff(Some(&comparable(before)), Some(&comparable(after)))
}

/// The exact change for `p` against the state `before`. `now` (RFC 3339) is the cut-off of a
/// session revocation; `tag` (the step id) names irp's bucket policy statements. A read plans
/// its one call.
pub fn plan(p: &Params<'_>, before: &Snapshot, now: &str, tag: &str) -> Result<Plan, ActionError> {
    let op = p.op();
    match op.imp {
        Implementation::Change(c) => c.plan(p, before, now, tag),
        Implementation::Read(_) => Ok(Plan::new(format!("{} ({})", op.api, op.name), String::new())),
    }
}

/// The calls a rehearsal records instead of making them, with their parameters (what depends
/// on the account's current state is named, not guessed).
pub fn simulated_calls(p: &Params<'_>, now: &str, tag: &str) -> Vec<String> {
    let op = p.op();
    let mut calls = Vec::new();
    if let Some(b) = op.before_state {
        calls.push(format!("{b} (the before-state)"));
    }
    let planned = match op.imp {
        Implementation::Change(c) => c.plan_assumed(p, now, tag),
        Implementation::Read(_) => plan(p, &Value::Null, now, tag),
    };
    match planned {
        Ok(plan) => calls.extend(plan.calls),
        Err(e) => calls.push(format!("{} ({e})", op.api)),
    }
    calls
}

/// Whether the change of `p` (as planned) is in place in `after`: the verification of a call,
/// and the check that settles an action whose outcome is unknown.
pub fn check_applied(
    p: &Params<'_>,
    plan_request: &Value,
    before: Option<&Snapshot>,
    after: &Snapshot,
) -> Result<String, String> {
    match p.op().imp {
        Implementation::Change(c) => {
            let check = Check {
                p,
                request: plan_request,
                before,
                after,
            };
            c.check_applied(&check).into_result()
        }
        Implementation::Read(_) => Ok("read".to_owned()),
    }
}

/// Whether `after` is the stored `before` again (the check after a rollback).
pub fn check_restored(p: &Params<'_>, before: &Snapshot, after: &Snapshot) -> Result<String, String> {
    match p.op().imp {
        Implementation::Change(c) => c.check_restored(p, before, after),
        Implementation::Read(_) => Verdict::restored(comparable(before) == comparable(after), before, after),
    }
    .into_result()
}
