//! The registry's operations, executed with the AWS SDK for Rust. Every operation has four parts:
//! `read_state` captures the resource as it is (stored as the before-state), `apply` makes the
//! change, `check_applied` reads the state back and says whether the change took, and `restore`
//! puts a stored before-state back. `plan` is the pure part in between: from the before-state it
//! works out the exact document the call will send (a merged bucket policy, a trust policy
//! without a principal) and the diff the responder confirms.
//!
//! States are JSON (`Snapshot`), the shape per resource is in `docs/actions.md`. S3's XML
//! configuration documents are kept byte for byte (see `raw`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::operation::RequestId;
use serde_json::{Value, json};

use super::policy::{self, DenyTargets};
use super::raw::{Capture, ReplaceBody};
use super::registry::AwsOperation;

/// A resource's state as irp stores it.
pub type Snapshot = Value;

/// Where the calls go and as whom: the standard AWS configuration, overridden by these.
#[derive(Debug, Clone, Default)]
pub struct AwsSettings {
    pub profile: Option<String>,
    pub region: Option<String>,
    /// Another endpoint for every service (moto on loopback for a drill); S3 is then addressed
    /// path-style.
    pub endpoint_url: Option<String>,
    pub retry_attempts: Option<u32>,
    pub retry_backoff: Option<Duration>,
}

/// Who the calls are made as (STS `GetCallerIdentity`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Identity {
    pub account: String,
    pub arn: String,
    pub user_id: String,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum ActionError {
    #[error("no AWS region is set")]
    NoRegion,
    #[error("no usable AWS credentials: {0}")]
    Credentials(String),
    #[error("access denied{}: {message}", permission.as_ref().map(|p| format!(" (missing permission: {p})")).unwrap_or_default())]
    AccessDenied {
        permission: Option<String>,
        message: String,
    },
    #[error("{what} was not found: {message}")]
    NotFound { what: String, message: String },
    #[error("AWS is throttling or failing and the retries are used up: {0}")]
    Throttled(String),
    #[error("AWS cannot be reached: {0}")]
    Unreachable(String),
    #[error("the parameter `{name}` is not valid: {message}")]
    InvalidParam { name: String, message: String },
    #[error("{0}")]
    Refused(String),
    #[error("{0}")]
    Other(String),
}

impl ActionError {
    /// What the responder can do about it.
    pub fn hint(&self) -> String {
        match self {
            ActionError::NoRegion => "give `--region`, set AWS_REGION, or a region in the profile".to_owned(),
            ActionError::Credentials(_) => {
                "sign in (`aws sso login`, or refresh the keys) and resume the case".to_owned()
            }
            ActionError::AccessDenied { permission, .. } => format!(
                "grant {} to the identity irp runs as (docs/actions.md lists each operation's permissions), then resume",
                permission.as_deref().unwrap_or("the operation's permission")
            ),
            ActionError::NotFound { .. } => {
                "check the step's parameters (the resource name in the playbook or its captures)".to_owned()
            }
            ActionError::Throttled(_) => {
                "wait a minute and resume; nothing was changed by the failed call".to_owned()
            }
            ActionError::Unreachable(_) => {
                "check the network, the region and `--endpoint-url`, then resume".to_owned()
            }
            ActionError::InvalidParam { .. } => {
                "the value came from the case's inputs or captures: correct it, or skip the step".to_owned()
            }
            ActionError::Refused(_) | ActionError::Other(_) => {
                "see the message; the case is unchanged and can be resumed".to_owned()
            }
        }
    }
}

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
/// session revocation; `tag` (the step id) names irp's bucket policy statements.
pub fn plan(p: &Params<'_>, before: &Snapshot, now: &str, tag: &str) -> Result<Plan, ActionError> {
    let op = p.op();
    let mut plan = Plan {
        request: Value::Null,
        calls: Vec::new(),
        diff: String::new(),
        notes: Vec::new(),
        already: None,
    };
    let refused = |m: String| ActionError::Refused(m);
    match op.name {
        "iam.deactivate_access_key" => {
            let key = p.str("access_key_id");
            let status = key_status(before, &key).ok_or_else(|| ActionError::NotFound {
                what: format!("access key {key}"),
                message: format!("user {} has no such key", p.str("user_name")),
            })?;
            if status == "Inactive" {
                plan.already = Some(format!("access key {key} is already inactive"));
            }
            plan.request =
                json!({ "UserName": p.str("user_name"), "AccessKeyId": key, "Status": "Inactive" });
            plan.calls.push(format!(
                "iam:UpdateAccessKey UserName={} AccessKeyId={key} Status=Inactive",
                p.str("user_name")
            ));
            plan.diff = policy::diff_lines(&format!("status: {status}"), "status: Inactive");
        }
        "iam.put_user_deny_all_policy" => {
            let doc = policy::deny_all();
            let name = p.opt("policy_name").unwrap_or_else(|| DENY_ALL_POLICY.to_owned());
            if before.get("document") == Some(&doc) {
                plan.already = Some(format!("the user already has the deny-all policy {name}"));
            }
            plan.diff = policy::diff(before.get("document").filter(|d| !d.is_null()), Some(&doc));
            plan.calls.push(format!(
                "iam:PutUserPolicy UserName={} PolicyName={name} PolicyDocument={doc}",
                p.str("user_name")
            ));
            plan.request = doc;
        }
        "iam.delete_login_profile" => {
            if before.get("login_profile").is_none_or(Value::is_null) {
                plan.already = Some(format!("user {} has no console password", p.str("user_name")));
            }
            plan.calls
                .push(format!("iam:DeleteLoginProfile UserName={}", p.str("user_name")));
            plan.diff = policy::diff_lines("console password: yes", "console password: no");
        }
        "iam.revoke_role_sessions" => {
            let doc = policy::revoke_older_sessions(now);
            plan.diff = policy::diff(before.get("document").filter(|d| !d.is_null()), Some(&doc));
            plan.calls.push(format!(
                "iam:PutRolePolicy RoleName={} PolicyName={REVOKE_SESSIONS_POLICY} PolicyDocument={doc}",
                p.str("role_name")
            ));
            plan.notes.push(format!(
                "every session of the role issued before {now} is denied, legitimate ones too"
            ));
            plan.request = doc;
        }
        "iam.remove_role_trust_principal" => {
            let trust = before
                .get("trust_policy")
                .filter(|t| !t.is_null())
                .ok_or_else(|| refused("the role's trust policy could not be read".to_owned()))?;
            let principal = p.str("principal");
            match policy::remove_principal(trust, &principal) {
                Ok((doc, _)) => {
                    plan.diff = policy::diff(Some(trust), Some(&doc));
                    plan.calls.push(format!(
                        "iam:UpdateAssumeRolePolicy RoleName={} PolicyDocument={doc}",
                        p.str("role_name")
                    ));
                    plan.notes.push(
                        "sessions already issued stay valid: revoke them too (iam.revoke_role_sessions)"
                            .to_owned(),
                    );
                    plan.request = doc;
                }
                Err(_) if !policy::names_principal(trust, &principal) => {
                    plan.already = Some(format!("`{principal}` is not in the role's trust policy"));
                    plan.request = trust.clone();
                }
                Err(e) => return Err(refused(e)),
            }
        }
        "s3.put_public_access_block" | "s3control.put_public_access_block" => {
            let all = pab_all_on();
            let current = before.get("configuration").cloned().unwrap_or(Value::Null);
            if current == all {
                plan.already = Some("all four Block Public Access settings are already on".to_owned());
            }
            plan.diff = policy::diff(Some(&current).filter(|c| !c.is_null()), Some(&all));
            plan.calls.push(if op.name.starts_with("s3control") {
                format!(
                    "s3control:PutPublicAccessBlock AccountId={} BlockPublicAcls=true IgnorePublicAcls=true BlockPublicPolicy=true RestrictPublicBuckets=true",
                    p.str("account_id")
                )
            } else {
                format!(
                    "s3:PutPublicAccessBlock Bucket={} BlockPublicAcls=true IgnorePublicAcls=true BlockPublicPolicy=true RestrictPublicBuckets=true",
                    p.str("bucket")
                )
            });
            plan.request = all;
        }
        "s3.add_bucket_policy_deny" => {
            let targets = DenyTargets {
                principal_arns: p.list("principal_arns"),
                account_ids: p.list("account_ids"),
                source_ips: p.list("source_ips"),
            };
            let (statements, notes) = policy::bucket_deny_statements(&p.str("bucket"), &targets, tag);
            plan.notes = notes;
            let existing = before.get("policy").filter(|v| !v.is_null());
            let merged = policy::merge_statements(existing, &statements).map_err(refused)?;
            if existing.is_some_and(|e| policy::has_statements(e, &statements)) {
                plan.already = Some("the bucket policy already has irp's deny statements".to_owned());
            }
            plan.diff = policy::diff(existing, Some(&merged));
            plan.calls.push(format!(
                "s3:PutBucketPolicy Bucket={} Policy=<the existing policy with {} statement(s) added>",
                p.str("bucket"),
                statements.len()
            ));
            plan.request = json!({ "policy": merged, "added": statements });
        }
        "s3.delete_bucket_policy" => {
            let existing = before.get("policy").filter(|v| !v.is_null());
            if existing.is_none() {
                plan.already = Some("the bucket has no policy".to_owned());
            }
            plan.diff = policy::diff(existing, None);
            plan.calls
                .push(format!("s3:DeleteBucketPolicy Bucket={}", p.str("bucket")));
        }
        "s3.put_bucket_acl_private" => {
            let private = json!([{ "grantee": before.get("owner").cloned().unwrap_or(Value::Null), "type": "CanonicalUser", "permission": "FULL_CONTROL" }]);
            let grants = before.get("grants").cloned().unwrap_or(Value::Null);
            if grants == private {
                plan.already = Some("the bucket ACL is already private".to_owned());
            }
            plan.diff = policy::diff(Some(&grants), Some(&private));
            plan.calls
                .push(format!("s3:PutBucketAcl Bucket={} ACL=private", p.str("bucket")));
        }
        "s3.enforce_bucket_owner" => {
            let current = before.get("object_ownership").cloned().unwrap_or(Value::Null);
            if current == json!("BucketOwnerEnforced") {
                plan.already = Some("object ownership is already BucketOwnerEnforced".to_owned());
            }
            plan.diff = policy::diff_lines(
                &format!("object ownership: {}", value_or_none(&current)),
                "object ownership: BucketOwnerEnforced",
            );
            plan.calls.push(format!(
                "s3:PutBucketOwnershipControls Bucket={} ObjectOwnership=BucketOwnerEnforced",
                p.str("bucket")
            ));
            plan.notes
                .push("every ACL on the bucket and its objects stops having effect".to_owned());
        }
        "ec2.require_imdsv2" => {
            let current = before.get("http_tokens").cloned().unwrap_or(Value::Null);
            if current == json!("required") {
                plan.already = Some("the instance already requires IMDSv2".to_owned());
            }
            plan.diff = policy::diff_lines(
                &format!("http_tokens: {}", value_or_none(&current)),
                "http_tokens: required",
            );
            plan.calls.push(format!(
                "ec2:ModifyInstanceMetadataOptions InstanceId={} HttpTokens=required HttpEndpoint=enabled",
                p.str("instance_id")
            ));
        }
        "s3.delete_bucket_replication" | "s3.delete_bucket_lifecycle" | "s3.clear_bucket_notifications" => {
            let summary = before.get("summary").cloned().unwrap_or(Value::Null);
            if is_empty_config(op.name, before) {
                plan.already = Some("the bucket has no such configuration".to_owned());
            }
            plan.diff = policy::diff(Some(&summary).filter(|s| !s.is_null()), None);
            plan.calls.push(match op.name {
                "s3.delete_bucket_replication" => {
                    format!("s3:DeleteBucketReplication Bucket={}", p.str("bucket"))
                }
                "s3.delete_bucket_lifecycle" => {
                    format!("s3:DeleteBucketLifecycle Bucket={}", p.str("bucket"))
                }
                _ => format!(
                    "s3:PutBucketNotificationConfiguration Bucket={} NotificationConfiguration={{}}",
                    p.str("bucket")
                ),
            });
        }
        other if op.is_read_only() => {
            plan.calls.push(format!("{} ({other})", op.api));
        }
        other => return Err(ActionError::Other(format!("no executor for `{other}`"))),
    }
    Ok(plan)
}

/// The calls a rehearsal records instead of making them, with their parameters (what depends
/// on the account's current state is named, not guessed).
pub fn simulated_calls(p: &Params<'_>, now: &str, tag: &str) -> Vec<String> {
    let empty = match p.op().name {
        "iam.deactivate_access_key" => {
            json!({ "keys": [{ "id": p.str("access_key_id"), "status": "Active" }] })
        }
        "iam.remove_role_trust_principal" => json!({
            "trust_policy": { "Version": "2012-10-17", "Statement": [
                { "Effect": "Allow", "Principal": { "AWS": [p.str("principal"), "(the role's other principals)"] }, "Action": "sts:AssumeRole" }
            ]}
        }),
        _ => json!({}),
    };
    let mut calls = Vec::new();
    if let Some(b) = p.op().before_state {
        calls.push(format!("{b} (the before-state)"));
    }
    match plan(p, &empty, now, tag) {
        Ok(plan) => calls.extend(plan.calls),
        Err(e) => calls.push(format!("{} ({e})", p.op().api)),
    }
    calls
}

fn value_or_none(v: &Value) -> String {
    match v {
        Value::Null => "(none)".to_owned(),
        other => value_text(other),
    }
}

fn pab_all_on() -> Value {
    json!({ "block_public_acls": true, "ignore_public_acls": true, "block_public_policy": true, "restrict_public_buckets": true })
}

fn key_status(snapshot: &Snapshot, key: &str) -> Option<String> {
    snapshot.get("keys")?.as_array()?.iter().find_map(|k| {
        (k.get("id").and_then(Value::as_str) == Some(key))
            .then(|| k.get("status").and_then(Value::as_str).unwrap_or("").to_owned())
    })
}

fn is_empty_config(op: &str, snapshot: &Snapshot) -> bool {
    match op {
        "s3.clear_bucket_notifications" => snapshot.get("summary").is_none_or(|s| {
            s.as_object()
                .is_none_or(|m| m.values().all(|v| v == &json!(0) || v == &json!(false)))
        }),
        _ => snapshot.get("xml").is_none_or(Value::is_null),
    }
}

/// Whether the change of `p` (as planned) is in place in `after`: the verification of a call,
/// and the check that settles an action whose outcome is unknown.
pub fn check_applied(
    p: &Params<'_>,
    plan_request: &Value,
    before: Option<&Snapshot>,
    after: &Snapshot,
) -> Result<String, String> {
    let op = p.op();
    let ok = |m: String| Ok(m);
    match op.name {
        "iam.deactivate_access_key" => {
            let key = p.str("access_key_id");
            match key_status(after, &key).as_deref() {
                Some("Inactive") => ok(format!("access key {key} is Inactive")),
                Some(s) => Err(format!("access key {key} is {s}, not Inactive")),
                None => Err(format!("access key {key} is not listed for the user")),
            }
        }
        "iam.put_user_deny_all_policy" => {
            if after.get("document") == Some(&policy::deny_all()) {
                ok(format!(
                    "inline policy {} denies everything",
                    value_or_none(&after["policy_name"])
                ))
            } else {
                Err("the user's inline policy is not the deny-all document".to_owned())
            }
        }
        "iam.delete_login_profile" => {
            if after.get("login_profile").is_none_or(Value::is_null) {
                ok("the user has no console password".to_owned())
            } else {
                Err("the user still has a console password".to_owned())
            }
        }
        "iam.revoke_role_sessions" => match after.get("document") {
            Some(d) if !plan_request.is_null() && d == plan_request => ok(format!(
                "{REVOKE_SESSIONS_POLICY} denies sessions issued before the cut-off"
            )),
            Some(d) if plan_request.is_null() && policy::is_revoke_older_sessions(d) => {
                ok(format!("{REVOKE_SESSIONS_POLICY} is in place"))
            }
            _ => Err(format!(
                "the role has no {REVOKE_SESSIONS_POLICY} policy with the cut-off"
            )),
        },
        "iam.remove_role_trust_principal" => {
            let principal = p.str("principal");
            match after.get("trust_policy") {
                Some(t) if !policy::names_principal(t, &principal) => {
                    ok(format!("the trust policy no longer names {principal}"))
                }
                _ => Err(format!("the trust policy still names {principal}")),
            }
        }
        "s3.put_public_access_block" | "s3control.put_public_access_block" => {
            if after.get("configuration") == Some(&pab_all_on()) {
                ok("all four Block Public Access settings are on".to_owned())
            } else {
                Err(format!(
                    "Block Public Access is {}",
                    after
                        .get("configuration")
                        .map(Value::to_string)
                        .unwrap_or_default()
                ))
            }
        }
        "s3.add_bucket_policy_deny" => {
            let policy = after.get("policy").filter(|v| !v.is_null());
            let added: Vec<Value> = plan_request
                .get("added")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            match policy {
                None => Err("the bucket has no policy".to_owned()),
                Some(pol) if !policy::has_statements(pol, &added) => {
                    Err("the bucket policy lacks irp's deny statements".to_owned())
                }
                Some(pol)
                    if !policy::keeps_statements(
                        before.and_then(|b| b.get("policy")).filter(|v| !v.is_null()),
                        pol,
                    ) =>
                {
                    Err("the bucket policy lost statements it had before".to_owned())
                }
                Some(pol) => ok(format!(
                    "the bucket policy has irp's {} deny statement(s) and every statement it had before ({} in all)",
                    added.len(),
                    policy::statements(pol).len()
                )),
            }
        }
        "s3.delete_bucket_policy" => {
            if after.get("policy").is_none_or(Value::is_null) {
                ok("the bucket has no policy".to_owned())
            } else {
                Err("the bucket still has a policy".to_owned())
            }
        }
        "s3.put_bucket_acl_private" => {
            let grants = after
                .get("grants")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let owner = after.get("owner");
            if grants.len() == 1
                && grants[0].get("grantee") == owner
                && grants[0]["permission"] == "FULL_CONTROL"
            {
                ok("the ACL grants only the owner FULL_CONTROL".to_owned())
            } else {
                Err(format!("the ACL still has {} grant(s)", grants.len()))
            }
        }
        "s3.enforce_bucket_owner" => {
            if after.get("object_ownership") == Some(&json!("BucketOwnerEnforced")) {
                ok("object ownership is BucketOwnerEnforced".to_owned())
            } else {
                Err(format!(
                    "object ownership is {}",
                    value_or_none(&after["object_ownership"])
                ))
            }
        }
        "ec2.require_imdsv2" => {
            if after.get("http_tokens") == Some(&json!("required")) {
                ok("the instance requires IMDSv2 tokens".to_owned())
            } else {
                Err(format!("http_tokens is {}", value_or_none(&after["http_tokens"])))
            }
        }
        "s3.delete_bucket_replication" | "s3.delete_bucket_lifecycle" | "s3.clear_bucket_notifications" => {
            if is_empty_config(op.name, after) {
                ok("the configuration is gone".to_owned())
            } else {
                Err(format!(
                    "the configuration is still there: {}",
                    after.get("summary").map(Value::to_string).unwrap_or_default()
                ))
            }
        }
        _ => ok("read".to_owned()),
    }
}

/// Whether `after` is the stored `before` again (the check after a rollback).
pub fn check_restored(p: &Params<'_>, before: &Snapshot, after: &Snapshot) -> Result<String, String> {
    let (b, a) = (comparable(before), comparable(after));
    let same = match p.op().name {
        // A console password cannot be restored, only recreated: its presence is what returns.
        "iam.delete_login_profile" => b["login_profile"].is_null() == a["login_profile"].is_null(),
        // Only the key irp changed is restored; the others are not irp's to judge.
        "iam.deactivate_access_key" => {
            let key = p.str("access_key_id");
            key_status(&b, &key) == key_status(&a, &key)
        }
        _ => b == a,
    };
    if same {
        Ok("the resource is as it was before the action".to_owned())
    } else {
        Err(format!(
            "the resource differs from its stored before-state:\n{}",
            state_diff(before, after)
        ))
    }
}

/// The SDK clients, one set per case.
#[derive(Debug, Clone)]
pub struct Aws {
    s3: aws_sdk_s3::Client,
    s3control: aws_sdk_s3control::Client,
    iam: aws_sdk_iam::Client,
    ec2: aws_sdk_ec2::Client,
    sts: aws_sdk_sts::Client,
    pub region: String,
    pub endpoint: Option<String>,
}

/// Results of a change: the request ids AWS gave, for `CloudTrail` and support.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Applied {
    pub request_ids: Vec<String>,
    pub calls: Vec<String>,
}

impl Applied {
    fn call(&mut self, call: impl Into<String>, request_id: Option<&str>) {
        self.calls.push(call.into());
        if let Some(id) = request_id {
            self.request_ids.push(id.to_owned());
        }
    }
}

fn classify<E, R>(err: &SdkError<E, R>, permission: &str, resource: &str) -> ActionError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let text = aws_smithy_types::error::display::DisplayErrorContext(err).to_string();
    if let Some(svc) = err.as_service_error() {
        let code = svc.code().unwrap_or_default();
        let message = svc.message().unwrap_or(&text).to_owned();
        let lower = message.to_ascii_lowercase();
        return match code {
            "AccessDenied" | "AccessDeniedException" | "UnauthorizedOperation" | "UnauthorizedAccess" => {
                ActionError::AccessDenied {
                    permission: Some(permission.to_owned()),
                    message,
                }
            }
            "Throttling"
            | "ThrottlingException"
            | "SlowDown"
            | "RequestLimitExceeded"
            | "TooManyRequestsException"
            | "ServiceUnavailable"
            | "InternalError" => ActionError::Throttled(format!("{code}: {message}")),
            "ExpiredToken"
            | "ExpiredTokenException"
            | "InvalidClientTokenId"
            | "SignatureDoesNotMatch"
            | "InvalidAccessKeyId"
            | "AuthFailure" => ActionError::Credentials(format!("{code}: {message}")),
            "NoSuchBucket"
            | "NoSuchEntity"
            | "InvalidInstanceID.NotFound"
            | "InvalidInstanceID.Malformed" => ActionError::NotFound {
                what: resource.to_owned(),
                message: format!("{code}: {message}"),
            },
            _ if lower.contains("not authorized") => ActionError::AccessDenied {
                permission: Some(permission.to_owned()),
                message,
            },
            _ => ActionError::Other(format!("{permission} failed: {code}: {message}")),
        };
    }
    let lower = text.to_ascii_lowercase();
    if lower.contains("credential") || lower.contains("sso") {
        ActionError::Credentials(text)
    } else if matches!(
        err,
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_)
    ) {
        ActionError::Throttled(text)
    } else {
        ActionError::Other(format!("{permission} failed: {text}"))
    }
}

/// Whether the error says the thing read does not exist (no policy, no configuration…).
fn is_absent<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>, codes: &[&str]) -> bool {
    err.as_service_error()
        .and_then(ProvideErrorMetadata::code)
        .is_some_and(|c| codes.contains(&c))
}

fn decode_policy(text: &str) -> Result<Value, ActionError> {
    let decoded = percent_encoding::percent_decode_str(text).decode_utf8_lossy();
    serde_json::from_str(&decoded)
        .or_else(|_| serde_json::from_str(text))
        .map_err(|e| ActionError::Other(format!("AWS returned a policy that is not JSON ({e}): {text}")))
}

fn date(d: Option<&aws_smithy_types::DateTime>) -> Value {
    d.and_then(|d| d.fmt(aws_smithy_types::date_time::Format::DateTime).ok())
        .map_or(Value::Null, Value::String)
}

impl Aws {
    /// Loads the AWS configuration (the standard chain, then the settings). No call is made.
    pub async fn connect(settings: &AwsSettings) -> Result<Aws, ActionError> {
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest()).retry_config(
            aws_config::retry::RetryConfig::standard()
                .with_max_attempts(settings.retry_attempts.unwrap_or(4).max(1))
                .with_initial_backoff(settings.retry_backoff.unwrap_or(Duration::from_millis(500))),
        );
        if let Some(p) = &settings.profile {
            loader = loader.profile_name(p);
        }
        if let Some(r) = &settings.region {
            loader = loader.region(aws_config::Region::new(r.clone()));
        }
        if let Some(e) = &settings.endpoint_url {
            loader = loader.endpoint_url(e);
        }
        let conf = loader.load().await;
        let region = conf
            .region()
            .map(ToString::to_string)
            .ok_or(ActionError::NoRegion)?;
        let s3_conf = aws_sdk_s3::config::Builder::from(&conf)
            .force_path_style(settings.endpoint_url.is_some())
            .build();
        // S3 Control puts the account id in front of the host (`123456789012.s3-control…`); an
        // endpoint given on purpose (moto) is used as it is, the account going in its header.
        let mut s3control = aws_sdk_s3control::config::Builder::from(&conf);
        if let Some(e) = &settings.endpoint_url {
            s3control = s3control.endpoint_resolver(FixedEndpoint(e.clone()));
        }
        Ok(Aws {
            s3: aws_sdk_s3::Client::from_conf(s3_conf),
            s3control: aws_sdk_s3control::Client::from_conf(s3control.build()),
            iam: aws_sdk_iam::Client::new(&conf),
            ec2: aws_sdk_ec2::Client::new(&conf),
            sts: aws_sdk_sts::Client::new(&conf),
            region,
            endpoint: settings.endpoint_url.clone(),
        })
    }

    pub async fn identity(&self) -> Result<Identity, ActionError> {
        let out = self
            .sts
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| classify(&e, "sts:GetCallerIdentity", "the caller"))?;
        Ok(Identity {
            account: out.account().unwrap_or_default().to_owned(),
            arn: out.arn().unwrap_or_default().to_owned(),
            user_id: out.user_id().unwrap_or_default().to_owned(),
        })
    }

    /// The state `p` reads or changes: the before-state of a change, the evidence of a read.
    pub async fn read_state(&self, p: &Params<'_>) -> Result<Snapshot, ActionError> {
        let bucket = p.str("bucket");
        let b = format!("bucket {bucket}");
        match p.op().name {
            "s3.get_bucket_policy" | "s3.add_bucket_policy_deny" | "s3.delete_bucket_policy" => {
                match self.s3.get_bucket_policy().bucket(&bucket).send().await {
                    Ok(out) => {
                        let text = out.policy().unwrap_or_default();
                        Ok(json!({ "bucket": bucket, "policy": decode_policy(text)?, "text": text }))
                    }
                    Err(e) if is_absent(&e, &["NoSuchBucketPolicy"]) => {
                        Ok(json!({ "bucket": bucket, "policy": null, "text": null }))
                    }
                    Err(e) => Err(classify(&e, "s3:GetBucketPolicy", &b)),
                }
            }
            "s3.get_bucket_policy_status" => {
                match self.s3.get_bucket_policy_status().bucket(&bucket).send().await {
                    Ok(out) => Ok(json!({
                        "bucket": bucket,
                        "is_public": out.policy_status().and_then(aws_sdk_s3::types::PolicyStatus::is_public),
                    })),
                    Err(e) if is_absent(&e, &["NoSuchBucketPolicy"]) => {
                        Ok(json!({ "bucket": bucket, "is_public": false, "policy": null }))
                    }
                    Err(e) => Err(classify(&e, "s3:GetBucketPolicyStatus", &b)),
                }
            }
            "s3.get_bucket_acl" | "s3.put_bucket_acl_private" => {
                let cap = Capture::default();
                let out = self
                    .s3
                    .get_bucket_acl()
                    .bucket(&bucket)
                    .customize()
                    .interceptor(cap.clone())
                    .send()
                    .await
                    .map_err(|e| classify(&e, "s3:GetBucketAcl", &b))?;
                let grants: Vec<Value> = out
                    .grants()
                    .iter()
                    .map(|g| {
                        let who = g.grantee();
                        json!({
                            "grantee": who.and_then(|w| w.id().or(w.uri()).or(w.email_address())),
                            "type": who.map(|w| w.r#type().as_str()),
                            "permission": g.permission().map(aws_sdk_s3::types::Permission::as_str),
                        })
                    })
                    .collect();
                Ok(json!({
                    "bucket": bucket,
                    "owner": out.owner().and_then(|o| o.id()),
                    "grants": grants,
                    "xml": cap.text(),
                }))
            }
            "s3.get_public_access_block" | "s3.put_public_access_block" => {
                match self.s3.get_public_access_block().bucket(&bucket).send().await {
                    Ok(out) => {
                        let c = out.public_access_block_configuration();
                        Ok(json!({ "bucket": bucket, "configuration": c.map(|c| json!({
                            "block_public_acls": c.block_public_acls().unwrap_or(false),
                            "ignore_public_acls": c.ignore_public_acls().unwrap_or(false),
                            "block_public_policy": c.block_public_policy().unwrap_or(false),
                            "restrict_public_buckets": c.restrict_public_buckets().unwrap_or(false),
                        })) }))
                    }
                    Err(e) if is_absent(&e, &["NoSuchPublicAccessBlockConfiguration"]) => {
                        Ok(json!({ "bucket": bucket, "configuration": null }))
                    }
                    Err(e) => Err(classify(&e, "s3:GetBucketPublicAccessBlock", &b)),
                }
            }
            "s3control.get_public_access_block" | "s3control.put_public_access_block" => {
                let account = p.str("account_id");
                match self
                    .s3control
                    .get_public_access_block()
                    .account_id(&account)
                    .send()
                    .await
                {
                    Ok(out) => {
                        let c = out.public_access_block_configuration();
                        Ok(json!({ "account_id": account, "configuration": c.map(|c| json!({
                            "block_public_acls": c.block_public_acls().unwrap_or(false),
                            "ignore_public_acls": c.ignore_public_acls().unwrap_or(false),
                            "block_public_policy": c.block_public_policy().unwrap_or(false),
                            "restrict_public_buckets": c.restrict_public_buckets().unwrap_or(false),
                        })) }))
                    }
                    Err(e) if is_absent(&e, &["NoSuchPublicAccessBlockConfiguration"]) => {
                        Ok(json!({ "account_id": account, "configuration": null }))
                    }
                    Err(e) => Err(classify(
                        &e,
                        "s3:GetAccountPublicAccessBlock",
                        &format!("account {account}"),
                    )),
                }
            }
            "s3.get_bucket_ownership_controls" | "s3.enforce_bucket_owner" => {
                match self
                    .s3
                    .get_bucket_ownership_controls()
                    .bucket(&bucket)
                    .send()
                    .await
                {
                    Ok(out) => {
                        let rule = out
                            .ownership_controls()
                            .and_then(|c| c.rules().first())
                            .map(|r| r.object_ownership().as_str().to_owned());
                        Ok(json!({ "bucket": bucket, "object_ownership": rule }))
                    }
                    Err(e) if is_absent(&e, &["OwnershipControlsNotFoundError"]) => {
                        Ok(json!({ "bucket": bucket, "object_ownership": null }))
                    }
                    Err(e) => Err(classify(&e, "s3:GetBucketOwnershipControls", &b)),
                }
            }
            "s3.get_bucket_replication" | "s3.delete_bucket_replication" => {
                let cap = Capture::default();
                match self
                    .s3
                    .get_bucket_replication()
                    .bucket(&bucket)
                    .customize()
                    .interceptor(cap.clone())
                    .send()
                    .await
                {
                    Ok(out) => {
                        let c = out.replication_configuration();
                        let summary = c.map(|c| {
                            json!({
                                "role": c.role(),
                                "rules": c.rules().iter().map(|r| json!({
                                    "id": r.id(),
                                    "status": r.status().as_str(),
                                    "destination": r.destination().map(aws_sdk_s3::types::Destination::bucket),
                                })).collect::<Vec<_>>(),
                            })
                        });
                        Ok(json!({ "bucket": bucket, "summary": summary, "xml": cap.text() }))
                    }
                    Err(e) if is_absent(&e, &["ReplicationConfigurationNotFoundError"]) => {
                        Ok(json!({ "bucket": bucket, "summary": null, "xml": null }))
                    }
                    Err(e) => Err(classify(&e, "s3:GetReplicationConfiguration", &b)),
                }
            }
            "s3.get_bucket_lifecycle_configuration" | "s3.delete_bucket_lifecycle" => {
                let cap = Capture::default();
                match self
                    .s3
                    .get_bucket_lifecycle_configuration()
                    .bucket(&bucket)
                    .customize()
                    .interceptor(cap.clone())
                    .send()
                    .await
                {
                    Ok(out) => {
                        let rules: Vec<Value> = out
                            .rules()
                            .iter()
                            .map(|r| json!({ "id": r.id(), "status": r.status().as_str() }))
                            .collect();
                        Ok(json!({ "bucket": bucket, "summary": { "rules": rules }, "xml": cap.text() }))
                    }
                    Err(e) if is_absent(&e, &["NoSuchLifecycleConfiguration"]) => {
                        Ok(json!({ "bucket": bucket, "summary": null, "xml": null }))
                    }
                    Err(e) => Err(classify(&e, "s3:GetLifecycleConfiguration", &b)),
                }
            }
            "s3.get_bucket_notification_configuration" | "s3.clear_bucket_notifications" => {
                let cap = Capture::default();
                let out = self
                    .s3
                    .get_bucket_notification_configuration()
                    .bucket(&bucket)
                    .customize()
                    .interceptor(cap.clone())
                    .send()
                    .await
                    .map_err(|e| classify(&e, "s3:GetBucketNotification", &b))?;
                Ok(json!({
                    "bucket": bucket,
                    "summary": {
                        "topics": out.topic_configurations().len(),
                        "queues": out.queue_configurations().len(),
                        "lambda_functions": out.lambda_function_configurations().len(),
                        "eventbridge": out.event_bridge_configuration().is_some(),
                    },
                    "xml": cap.text(),
                }))
            }
            "iam.list_access_keys" | "iam.deactivate_access_key" => {
                let user = p.str("user_name");
                let out = self
                    .iam
                    .list_access_keys()
                    .user_name(&user)
                    .send()
                    .await
                    .map_err(|e| classify(&e, "iam:ListAccessKeys", &format!("user {user}")))?;
                let keys: Vec<Value> = out
                    .access_key_metadata()
                    .iter()
                    .map(|k| {
                        json!({
                            "id": k.access_key_id(),
                            "status": k.status().map(aws_sdk_iam::types::StatusType::as_str),
                            "created": date(k.create_date()),
                        })
                    })
                    .collect();
                Ok(json!({ "user_name": user, "keys": keys }))
            }
            "iam.get_access_key_last_used" => {
                let key = p.str("access_key_id");
                let out = self
                    .iam
                    .get_access_key_last_used()
                    .access_key_id(&key)
                    .send()
                    .await
                    .map_err(|e| classify(&e, "iam:GetAccessKeyLastUsed", &format!("access key {key}")))?;
                let used = out.access_key_last_used();
                Ok(json!({
                    "access_key_id": key,
                    "user_name": out.user_name(),
                    "last_used": used.map(|u| date(u.last_used_date())),
                    "service": used.map(aws_sdk_iam::types::AccessKeyLastUsed::service_name),
                    "region": used.map(aws_sdk_iam::types::AccessKeyLastUsed::region),
                }))
            }
            "iam.get_role" | "iam.remove_role_trust_principal" => {
                let role = p.str("role_name");
                let out = self
                    .iam
                    .get_role()
                    .role_name(&role)
                    .send()
                    .await
                    .map_err(|e| classify(&e, "iam:GetRole", &format!("role {role}")))?;
                let r = out.role();
                let trust = match r.and_then(|r| r.assume_role_policy_document()) {
                    Some(t) => decode_policy(t)?,
                    None => Value::Null,
                };
                Ok(json!({
                    "role_name": role,
                    "arn": r.map(aws_sdk_iam::types::Role::arn),
                    "trust_policy": trust,
                }))
            }
            "iam.put_user_deny_all_policy" => {
                let user = p.str("user_name");
                let name = p.opt("policy_name").unwrap_or_else(|| DENY_ALL_POLICY.to_owned());
                let doc = match self
                    .iam
                    .get_user_policy()
                    .user_name(&user)
                    .policy_name(&name)
                    .send()
                    .await
                {
                    Ok(out) => decode_policy(out.policy_document())?,
                    Err(e) if is_absent(&e, &["NoSuchEntity"]) => {
                        // No such policy, or no such user: the user must exist to be contained.
                        self.iam
                            .get_user()
                            .user_name(&user)
                            .send()
                            .await
                            .map_err(|e| classify(&e, "iam:GetUser", &format!("user {user}")))?;
                        Value::Null
                    }
                    Err(e) => return Err(classify(&e, "iam:GetUserPolicy", &format!("user {user}"))),
                };
                Ok(json!({ "user_name": user, "policy_name": name, "document": doc }))
            }
            "iam.delete_login_profile" => {
                let user = p.str("user_name");
                let profile = match self.iam.get_login_profile().user_name(&user).send().await {
                    Ok(out) => out.login_profile().map(|lp| {
                        json!({ "created": date(Some(lp.create_date())), "password_reset_required": lp.password_reset_required() })
                    }),
                    Err(e) if is_absent(&e, &["NoSuchEntity"]) => {
                        self.iam
                            .get_user()
                            .user_name(&user)
                            .send()
                            .await
                            .map_err(|e| classify(&e, "iam:GetUser", &format!("user {user}")))?;
                        None
                    }
                    Err(e) => return Err(classify(&e, "iam:GetLoginProfile", &format!("user {user}"))),
                };
                Ok(json!({ "user_name": user, "login_profile": profile }))
            }
            "iam.revoke_role_sessions" => {
                let role = p.str("role_name");
                let doc = match self
                    .iam
                    .get_role_policy()
                    .role_name(&role)
                    .policy_name(REVOKE_SESSIONS_POLICY)
                    .send()
                    .await
                {
                    Ok(out) => decode_policy(out.policy_document())?,
                    Err(e) if is_absent(&e, &["NoSuchEntity"]) => {
                        self.iam
                            .get_role()
                            .role_name(&role)
                            .send()
                            .await
                            .map_err(|e| classify(&e, "iam:GetRole", &format!("role {role}")))?;
                        Value::Null
                    }
                    Err(e) => return Err(classify(&e, "iam:GetRolePolicy", &format!("role {role}"))),
                };
                Ok(json!({ "role_name": role, "policy_name": REVOKE_SESSIONS_POLICY, "document": doc }))
            }
            "ec2.require_imdsv2" => {
                let id = p.str("instance_id");
                let out = self
                    .ec2
                    .describe_instances()
                    .instance_ids(&id)
                    .send()
                    .await
                    .map_err(|e| classify(&e, "ec2:DescribeInstances", &format!("instance {id}")))?;
                let inst = out
                    .reservations()
                    .iter()
                    .flat_map(aws_sdk_ec2::types::Reservation::instances)
                    .find(|i| i.instance_id() == Some(id.as_str()))
                    .ok_or_else(|| ActionError::NotFound {
                        what: format!("instance {id}"),
                        message: "DescribeInstances did not return it".to_owned(),
                    })?;
                let m = inst.metadata_options();
                Ok(json!({
                    "instance_id": id,
                    "http_tokens": m.and_then(|m| m.http_tokens()).map(aws_sdk_ec2::types::HttpTokensState::as_str),
                    "http_endpoint": m.and_then(|m| m.http_endpoint()).map(aws_sdk_ec2::types::InstanceMetadataEndpointState::as_str),
                    "http_put_response_hop_limit": m.and_then(aws_sdk_ec2::types::InstanceMetadataOptionsResponse::http_put_response_hop_limit),
                }))
            }
            other => Err(ActionError::Other(format!("no executor for `{other}`"))),
        }
    }

    /// Makes the change of `p` as planned.
    pub async fn apply(&self, p: &Params<'_>, plan: &Plan) -> Result<Applied, ActionError> {
        let mut done = Applied::default();
        let bucket = p.str("bucket");
        let b = format!("bucket {bucket}");
        let call = plan.calls.first().cloned().unwrap_or_default();
        match p.op().name {
            "iam.deactivate_access_key" => {
                let out = self
                    .iam
                    .update_access_key()
                    .user_name(p.str("user_name"))
                    .access_key_id(p.str("access_key_id"))
                    .status(aws_sdk_iam::types::StatusType::Inactive)
                    .send()
                    .await
                    .map_err(|e| classify(&e, "iam:UpdateAccessKey", "the access key"))?;
                done.call(call, out.request_id());
            }
            "iam.put_user_deny_all_policy" => {
                let name = p.opt("policy_name").unwrap_or_else(|| DENY_ALL_POLICY.to_owned());
                let out = self
                    .iam
                    .put_user_policy()
                    .user_name(p.str("user_name"))
                    .policy_name(name)
                    .policy_document(plan.request.to_string())
                    .send()
                    .await
                    .map_err(|e| classify(&e, "iam:PutUserPolicy", "the user"))?;
                done.call(call, out.request_id());
            }
            "iam.delete_login_profile" => {
                let out = self
                    .iam
                    .delete_login_profile()
                    .user_name(p.str("user_name"))
                    .send()
                    .await
                    .map_err(|e| classify(&e, "iam:DeleteLoginProfile", "the user's console password"))?;
                done.call(call, out.request_id());
            }
            "iam.revoke_role_sessions" => {
                let out = self
                    .iam
                    .put_role_policy()
                    .role_name(p.str("role_name"))
                    .policy_name(REVOKE_SESSIONS_POLICY)
                    .policy_document(plan.request.to_string())
                    .send()
                    .await
                    .map_err(|e| classify(&e, "iam:PutRolePolicy", "the role"))?;
                done.call(call, out.request_id());
            }
            "iam.remove_role_trust_principal" => {
                let out = self
                    .iam
                    .update_assume_role_policy()
                    .role_name(p.str("role_name"))
                    .policy_document(plan.request.to_string())
                    .send()
                    .await
                    .map_err(|e| classify(&e, "iam:UpdateAssumeRolePolicy", "the role"))?;
                done.call(call, out.request_id());
            }
            "s3.put_public_access_block" => {
                let out = self
                    .s3
                    .put_public_access_block()
                    .bucket(&bucket)
                    .public_access_block_configuration(s3_pab(&pab_all_on()))
                    .send()
                    .await
                    .map_err(|e| classify(&e, "s3:PutBucketPublicAccessBlock", &b))?;
                done.call(call, out.request_id());
            }
            "s3control.put_public_access_block" => {
                let out = self
                    .s3control
                    .put_public_access_block()
                    .account_id(p.str("account_id"))
                    .public_access_block_configuration(s3control_pab(&pab_all_on()))
                    .send()
                    .await
                    .map_err(|e| classify(&e, "s3:PutAccountPublicAccessBlock", "the account"))?;
                done.call(call, out.request_id());
            }
            "s3.add_bucket_policy_deny" => {
                let merged = plan.request.get("policy").cloned().unwrap_or(Value::Null);
                let out = self
                    .s3
                    .put_bucket_policy()
                    .bucket(&bucket)
                    .policy(merged.to_string())
                    .send()
                    .await
                    .map_err(|e| classify(&e, "s3:PutBucketPolicy", &b))?;
                done.call(call, out.request_id());
            }
            "s3.delete_bucket_policy" => {
                let out = self
                    .s3
                    .delete_bucket_policy()
                    .bucket(&bucket)
                    .send()
                    .await
                    .map_err(|e| classify(&e, "s3:DeleteBucketPolicy", &b))?;
                done.call(call, out.request_id());
            }
            "s3.put_bucket_acl_private" => {
                let out = self
                    .s3
                    .put_bucket_acl()
                    .bucket(&bucket)
                    .acl(aws_sdk_s3::types::BucketCannedAcl::Private)
                    .send()
                    .await
                    .map_err(|e| classify(&e, "s3:PutBucketAcl", &b))?;
                done.call(call, out.request_id());
            }
            "s3.enforce_bucket_owner" => {
                let out = self
                    .s3
                    .put_bucket_ownership_controls()
                    .bucket(&bucket)
                    .ownership_controls(ownership("BucketOwnerEnforced")?)
                    .send()
                    .await
                    .map_err(|e| classify(&e, "s3:PutBucketOwnershipControls", &b))?;
                done.call(call, out.request_id());
            }
            "ec2.require_imdsv2" => {
                let out = self
                    .ec2
                    .modify_instance_metadata_options()
                    .instance_id(p.str("instance_id"))
                    .http_tokens(aws_sdk_ec2::types::HttpTokensState::Required)
                    .http_endpoint(aws_sdk_ec2::types::InstanceMetadataEndpointState::Enabled)
                    .send()
                    .await
                    .map_err(|e| classify(&e, "ec2:ModifyInstanceMetadataOptions", "the instance"))?;
                done.call(call, out.request_id());
            }
            "s3.delete_bucket_replication" => {
                let out = self
                    .s3
                    .delete_bucket_replication()
                    .bucket(&bucket)
                    .send()
                    .await
                    .map_err(|e| classify(&e, "s3:PutReplicationConfiguration", &b))?;
                done.call(call, out.request_id());
            }
            "s3.delete_bucket_lifecycle" => {
                let out = self
                    .s3
                    .delete_bucket_lifecycle()
                    .bucket(&bucket)
                    .send()
                    .await
                    .map_err(|e| classify(&e, "s3:PutLifecycleConfiguration", &b))?;
                done.call(call, out.request_id());
            }
            "s3.clear_bucket_notifications" => {
                let out = self
                    .s3
                    .put_bucket_notification_configuration()
                    .bucket(&bucket)
                    .notification_configuration(
                        aws_sdk_s3::types::NotificationConfiguration::builder().build(),
                    )
                    .send()
                    .await
                    .map_err(|e| classify(&e, "s3:PutBucketNotification", &b))?;
                done.call(call, out.request_id());
            }
            other => return Err(ActionError::Other(format!("`{other}` changes nothing"))),
        }
        Ok(done)
    }

    /// Puts the stored before-state of `p` back.
    pub async fn restore(&self, p: &Params<'_>, before: &Snapshot) -> Result<Applied, ActionError> {
        let mut done = Applied::default();
        let bucket = p.str("bucket");
        let b = format!("bucket {bucket}");
        let absent = |key: &str| before.get(key).is_none_or(Value::is_null);
        match p.op().name {
            "iam.deactivate_access_key" => {
                let key = p.str("access_key_id");
                let status = key_status(before, &key).unwrap_or_default();
                let out = self
                    .iam
                    .update_access_key()
                    .user_name(p.str("user_name"))
                    .access_key_id(&key)
                    .status(aws_sdk_iam::types::StatusType::from(status.as_str()))
                    .send()
                    .await
                    .map_err(|e| classify(&e, "iam:UpdateAccessKey", "the access key"))?;
                done.call(
                    format!("iam:UpdateAccessKey AccessKeyId={key} Status={status}"),
                    out.request_id(),
                );
            }
            "iam.put_user_deny_all_policy" => {
                let user = p.str("user_name");
                let name = before["policy_name"]
                    .as_str()
                    .unwrap_or(DENY_ALL_POLICY)
                    .to_owned();
                if absent("document") {
                    let out = self
                        .iam
                        .delete_user_policy()
                        .user_name(&user)
                        .policy_name(&name)
                        .send()
                        .await
                        .map_err(|e| classify(&e, "iam:DeleteUserPolicy", "the user's policy"))?;
                    done.call(
                        format!("iam:DeleteUserPolicy UserName={user} PolicyName={name}"),
                        out.request_id(),
                    );
                } else {
                    let out = self
                        .iam
                        .put_user_policy()
                        .user_name(&user)
                        .policy_name(&name)
                        .policy_document(before["document"].to_string())
                        .send()
                        .await
                        .map_err(|e| classify(&e, "iam:PutUserPolicy", "the user's policy"))?;
                    done.call(
                        format!("iam:PutUserPolicy UserName={user} PolicyName={name} (saved document)"),
                        out.request_id(),
                    );
                }
            }
            "iam.delete_login_profile" => {
                if absent("login_profile") {
                    done.calls
                        .push("nothing: the user had no console password".to_owned());
                } else {
                    let user = p.str("user_name");
                    // The old password cannot be restored. A random one nobody knows, with a
                    // reset required, brings console access back for an administrator to hand out.
                    let out = self
                        .iam
                        .create_login_profile()
                        .user_name(&user)
                        .password(random_password()?)
                        .password_reset_required(true)
                        .send()
                        .await
                        .map_err(|e| classify(&e, "iam:CreateLoginProfile", "the user"))?;
                    done.call(
                        format!("iam:CreateLoginProfile UserName={user} Password=<random, not stored> PasswordResetRequired=true"),
                        out.request_id(),
                    );
                }
            }
            "iam.revoke_role_sessions" => {
                let role = p.str("role_name");
                if absent("document") {
                    let out = self
                        .iam
                        .delete_role_policy()
                        .role_name(&role)
                        .policy_name(REVOKE_SESSIONS_POLICY)
                        .send()
                        .await
                        .map_err(|e| classify(&e, "iam:DeleteRolePolicy", "the role's policy"))?;
                    done.call(
                        format!("iam:DeleteRolePolicy RoleName={role} PolicyName={REVOKE_SESSIONS_POLICY}"),
                        out.request_id(),
                    );
                } else {
                    let out = self
                        .iam
                        .put_role_policy()
                        .role_name(&role)
                        .policy_name(REVOKE_SESSIONS_POLICY)
                        .policy_document(before["document"].to_string())
                        .send()
                        .await
                        .map_err(|e| classify(&e, "iam:PutRolePolicy", "the role's policy"))?;
                    done.call(
                        format!("iam:PutRolePolicy RoleName={role} (saved document)"),
                        out.request_id(),
                    );
                }
            }
            "iam.remove_role_trust_principal" => {
                let role = p.str("role_name");
                let out = self
                    .iam
                    .update_assume_role_policy()
                    .role_name(&role)
                    .policy_document(before["trust_policy"].to_string())
                    .send()
                    .await
                    .map_err(|e| classify(&e, "iam:UpdateAssumeRolePolicy", "the role"))?;
                done.call(
                    format!("iam:UpdateAssumeRolePolicy RoleName={role} (saved trust policy)"),
                    out.request_id(),
                );
            }
            "s3.put_public_access_block" => {
                if absent("configuration") {
                    let out = self
                        .s3
                        .delete_public_access_block()
                        .bucket(&bucket)
                        .send()
                        .await
                        .map_err(|e| classify(&e, "s3:PutBucketPublicAccessBlock", &b))?;
                    done.call(
                        format!("s3:DeletePublicAccessBlock Bucket={bucket}"),
                        out.request_id(),
                    );
                } else {
                    let out = self
                        .s3
                        .put_public_access_block()
                        .bucket(&bucket)
                        .public_access_block_configuration(s3_pab(&before["configuration"]))
                        .send()
                        .await
                        .map_err(|e| classify(&e, "s3:PutBucketPublicAccessBlock", &b))?;
                    done.call(
                        format!("s3:PutPublicAccessBlock Bucket={bucket} (saved settings)"),
                        out.request_id(),
                    );
                }
            }
            "s3control.put_public_access_block" => {
                let account = p.str("account_id");
                if absent("configuration") {
                    let out = self
                        .s3control
                        .delete_public_access_block()
                        .account_id(&account)
                        .send()
                        .await
                        .map_err(|e| classify(&e, "s3:PutAccountPublicAccessBlock", "the account"))?;
                    done.call(
                        format!("s3control:DeletePublicAccessBlock AccountId={account}"),
                        out.request_id(),
                    );
                } else {
                    let out = self
                        .s3control
                        .put_public_access_block()
                        .account_id(&account)
                        .public_access_block_configuration(s3control_pab(&before["configuration"]))
                        .send()
                        .await
                        .map_err(|e| classify(&e, "s3:PutAccountPublicAccessBlock", "the account"))?;
                    done.call(
                        format!("s3control:PutPublicAccessBlock AccountId={account} (saved settings)"),
                        out.request_id(),
                    );
                }
            }
            "s3.add_bucket_policy_deny" | "s3.delete_bucket_policy" => {
                if absent("text") {
                    let out = self
                        .s3
                        .delete_bucket_policy()
                        .bucket(&bucket)
                        .send()
                        .await
                        .map_err(|e| classify(&e, "s3:DeleteBucketPolicy", &b))?;
                    done.call(format!("s3:DeleteBucketPolicy Bucket={bucket}"), out.request_id());
                } else {
                    // The saved text itself, byte for byte.
                    let out = self
                        .s3
                        .put_bucket_policy()
                        .bucket(&bucket)
                        .policy(before["text"].as_str().unwrap_or_default())
                        .send()
                        .await
                        .map_err(|e| classify(&e, "s3:PutBucketPolicy", &b))?;
                    done.call(
                        format!("s3:PutBucketPolicy Bucket={bucket} (saved policy)"),
                        out.request_id(),
                    );
                }
            }
            "s3.put_bucket_acl_private" => {
                let xml = stored_xml(before)?;
                let out = self
                    .s3
                    .put_bucket_acl()
                    .bucket(&bucket)
                    .customize()
                    .interceptor(ReplaceBody(xml))
                    .send()
                    .await
                    .map_err(|e| classify(&e, "s3:PutBucketAcl", &b))?;
                done.call(
                    format!("s3:PutBucketAcl Bucket={bucket} AccessControlPolicy=<saved document>"),
                    out.request_id(),
                );
            }
            "s3.enforce_bucket_owner" => {
                if absent("object_ownership") {
                    let out = self
                        .s3
                        .delete_bucket_ownership_controls()
                        .bucket(&bucket)
                        .send()
                        .await
                        .map_err(|e| classify(&e, "s3:PutBucketOwnershipControls", &b))?;
                    done.call(
                        format!("s3:DeleteBucketOwnershipControls Bucket={bucket}"),
                        out.request_id(),
                    );
                } else {
                    let rule = before["object_ownership"].as_str().unwrap_or_default();
                    let out = self
                        .s3
                        .put_bucket_ownership_controls()
                        .bucket(&bucket)
                        .ownership_controls(ownership(rule)?)
                        .send()
                        .await
                        .map_err(|e| classify(&e, "s3:PutBucketOwnershipControls", &b))?;
                    done.call(
                        format!("s3:PutBucketOwnershipControls Bucket={bucket} ObjectOwnership={rule}"),
                        out.request_id(),
                    );
                }
            }
            "ec2.require_imdsv2" => {
                let id = p.str("instance_id");
                let tokens = before["http_tokens"].as_str().unwrap_or("optional");
                let mut call = self
                    .ec2
                    .modify_instance_metadata_options()
                    .instance_id(&id)
                    .http_tokens(aws_sdk_ec2::types::HttpTokensState::from(tokens));
                if let Some(e) = before["http_endpoint"].as_str() {
                    call = call.http_endpoint(aws_sdk_ec2::types::InstanceMetadataEndpointState::from(e));
                }
                if let Some(h) = before["http_put_response_hop_limit"]
                    .as_i64()
                    .and_then(|h| i32::try_from(h).ok())
                {
                    call = call.http_put_response_hop_limit(h);
                }
                let out = call
                    .send()
                    .await
                    .map_err(|e| classify(&e, "ec2:ModifyInstanceMetadataOptions", "the instance"))?;
                done.call(
                    format!("ec2:ModifyInstanceMetadataOptions InstanceId={id} HttpTokens={tokens}"),
                    out.request_id(),
                );
            }
            "s3.delete_bucket_replication" => {
                if absent("xml") {
                    done.calls
                        .push("nothing: the bucket had no replication".to_owned());
                } else {
                    let placeholder = aws_sdk_s3::types::ReplicationConfiguration::builder()
                        .role("placeholder")
                        .set_rules(Some(Vec::new()))
                        .build()
                        .map_err(|e| ActionError::Other(e.to_string()))?;
                    let out = self
                        .s3
                        .put_bucket_replication()
                        .bucket(&bucket)
                        .replication_configuration(placeholder)
                        .customize()
                        .interceptor(ReplaceBody(stored_xml(before)?))
                        .send()
                        .await
                        .map_err(|e| classify(&e, "s3:PutReplicationConfiguration", &b))?;
                    done.call(format!("s3:PutBucketReplication Bucket={bucket} ReplicationConfiguration=<saved document>"), out.request_id());
                }
            }
            "s3.delete_bucket_lifecycle" => {
                if absent("xml") {
                    done.calls
                        .push("nothing: the bucket had no lifecycle rules".to_owned());
                } else {
                    let out = self
                        .s3
                        .put_bucket_lifecycle_configuration()
                        .bucket(&bucket)
                        .customize()
                        .interceptor(ReplaceBody(stored_xml(before)?))
                        .send()
                        .await
                        .map_err(|e| classify(&e, "s3:PutLifecycleConfiguration", &b))?;
                    done.call(format!("s3:PutBucketLifecycleConfiguration Bucket={bucket} LifecycleConfiguration=<saved document>"), out.request_id());
                }
            }
            "s3.clear_bucket_notifications" => {
                let out = self
                    .s3
                    .put_bucket_notification_configuration()
                    .bucket(&bucket)
                    .notification_configuration(
                        aws_sdk_s3::types::NotificationConfiguration::builder().build(),
                    )
                    .customize()
                    .interceptor(ReplaceBody(stored_xml(before)?))
                    .send()
                    .await
                    .map_err(|e| classify(&e, "s3:PutBucketNotification", &b))?;
                done.call(format!("s3:PutBucketNotificationConfiguration Bucket={bucket} NotificationConfiguration=<saved document>"), out.request_id());
            }
            other => return Err(ActionError::Other(format!("`{other}` has no rollback"))),
        }
        Ok(done)
    }
}

/// Every S3 Control call goes to one endpoint, as given.
#[derive(Debug)]
struct FixedEndpoint(String);

impl aws_sdk_s3control::config::endpoint::ResolveEndpoint for FixedEndpoint {
    fn resolve_endpoint<'a>(
        &'a self,
        _params: &'a aws_sdk_s3control::config::endpoint::Params,
    ) -> aws_sdk_s3control::config::endpoint::EndpointFuture<'a> {
        aws_sdk_s3control::config::endpoint::EndpointFuture::ready(Ok(
            aws_sdk_s3control::config::endpoint::Endpoint::builder()
                .url(self.0.clone())
                .build(),
        ))
    }
}

fn stored_xml(before: &Snapshot) -> Result<Arc<Vec<u8>>, ActionError> {
    before
        .get("xml")
        .and_then(Value::as_str)
        .map(|x| Arc::new(x.as_bytes().to_vec()))
        .ok_or_else(|| {
            ActionError::Refused("the stored before-state holds no S3 document to put back".to_owned())
        })
}

fn flag(v: &Value, key: &str) -> bool {
    v.get(key).and_then(Value::as_bool).unwrap_or(false)
}

fn s3_pab(v: &Value) -> aws_sdk_s3::types::PublicAccessBlockConfiguration {
    aws_sdk_s3::types::PublicAccessBlockConfiguration::builder()
        .block_public_acls(flag(v, "block_public_acls"))
        .ignore_public_acls(flag(v, "ignore_public_acls"))
        .block_public_policy(flag(v, "block_public_policy"))
        .restrict_public_buckets(flag(v, "restrict_public_buckets"))
        .build()
}

fn s3control_pab(v: &Value) -> aws_sdk_s3control::types::PublicAccessBlockConfiguration {
    aws_sdk_s3control::types::PublicAccessBlockConfiguration::builder()
        .block_public_acls(flag(v, "block_public_acls"))
        .ignore_public_acls(flag(v, "ignore_public_acls"))
        .block_public_policy(flag(v, "block_public_policy"))
        .restrict_public_buckets(flag(v, "restrict_public_buckets"))
        .build()
}

fn ownership(rule: &str) -> Result<aws_sdk_s3::types::OwnershipControls, ActionError> {
    let rule = aws_sdk_s3::types::OwnershipControlsRule::builder()
        .object_ownership(aws_sdk_s3::types::ObjectOwnership::from(rule))
        .build()
        .map_err(|e| ActionError::Other(e.to_string()))?;
    aws_sdk_s3::types::OwnershipControls::builder()
        .rules(rule)
        .build()
        .map_err(|e| ActionError::Other(e.to_string()))
}

/// 32 random characters from every class IAM's password policies ask for; never stored.
fn random_password() -> Result<String, ActionError> {
    const SETS: [&[u8]; 4] = [
        b"ABCDEFGHJKLMNPQRSTUVWXYZ",
        b"abcdefghijkmnopqrstuvwxyz",
        b"23456789",
        b"!@#%^*-_=+",
    ];
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|e| ActionError::Other(format!("no randomness for a new console password: {e}")))?;
    Ok(bytes
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let set = SETS[i % 4];
            set[usize::from(*b) % set.len()] as char
        })
        .collect())
}
