//! The pure part of an AWS action: its parameters checked against the registry (`Params`), the
//! exact change worked out from a before-state (`plan`: the document sent, the calls, the diff),
//! the calls a rehearsal records instead, and the checks that a change is in place
//! (`check_applied`) or that a rollback restored the stored state (`check_restored`). No call is
//! made here; `aws` makes them.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::aws::{ActionError, Snapshot};
use super::policy::{self, DenyTargets};
use super::registry::AwsOperation;

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

pub(crate) fn pab_all_on() -> Value {
    json!({ "block_public_acls": true, "ignore_public_acls": true, "block_public_policy": true, "restrict_public_buckets": true })
}

pub(crate) fn key_status(snapshot: &Snapshot, key: &str) -> Option<String> {
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
