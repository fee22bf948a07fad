//! The bucket policy: read it (and whether it makes the bucket public), add irp's deny statements
//! to it, or delete it; a rollback puts the saved text back byte for byte.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::Evidence;
use super::{Change, Check, Resource, Verdict};
use crate::action::aws::{ActionError, Applied, Aws, applied, classify, decode_policy, is_absent};
use crate::action::plan::{Params, Plan};
use crate::action::policy::{self, DenyTargets};
use crate::action::registry::{AwsOperation, Implementation, evidence};
use crate::action::registry::{BUCKET, ParamKind, opt, p};

/// A bucket's policy as S3 returned it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BucketPolicy {
    pub bucket: String,
    /// The policy, parsed; `None` when the bucket has none.
    pub policy: Option<Value>,
    /// The policy exactly as S3 returned it: what a rollback puts back.
    pub text: Option<String>,
}

#[async_trait]
impl Resource for BucketPolicy {
    async fn read(aws: &Aws, p: &Params<'_>) -> Result<BucketPolicy, ActionError> {
        let bucket = p.str("bucket");
        match aws.s3.get_bucket_policy().bucket(&bucket).send().await {
            Ok(out) => {
                let text = out.policy().unwrap_or_default().to_owned();
                Ok(BucketPolicy {
                    policy: Some(decode_policy(&text)?),
                    text: Some(text),
                    bucket,
                })
            }
            Err(e) if is_absent(&e, &["NoSuchBucketPolicy"]) => Ok(BucketPolicy {
                bucket,
                ..BucketPolicy::default()
            }),
            Err(e) => Err(classify(&e, "s3:GetBucketPolicy", &format!("bucket {bucket}"))),
        }
    }
}

/// `s3.get_bucket_policy`.
pub static GET: AwsOperation = evidence(
    "s3.get_bucket_policy",
    "Read the bucket policy",
    "s3:GetBucketPolicy",
    "GetBucketPolicy",
    &[BUCKET],
    "bucket",
    &["s3:GetBucketPolicy"],
    &Evidence::<BucketPolicy>::NEW,
);

/// `s3.verify_bucket_policy_accounts`: reads the bucket policy and fails, naming them, when an
/// `Allow` statement still lets in a principal from outside the accounts given.
#[derive(Debug)]
pub struct VerifyAccounts;

#[async_trait]
impl super::ReadOp for VerifyAccounts {
    async fn read(&self, aws: &Aws, p: &Params<'_>) -> Result<crate::action::aws::Snapshot, ActionError> {
        let state = BucketPolicy::read(aws, p).await?;
        let accounts = p.list("accounts");
        let outside = state
            .existing()
            .map(|pol| policy::outside_grants(pol, &accounts))
            .unwrap_or_default();
        if outside.is_empty() {
            return Ok(serde_json::to_value(&state).unwrap_or(Value::Null));
        }
        Err(ActionError::Refused(format!(
            "the policy of bucket {} still lets in {} from outside {}: {}; remove them (`s3.remove_bucket_policy_account`, or by hand) or, if they are meant to be there, add them to `trusted_accounts` and verify again",
            state.bucket,
            if outside.len() == 1 {
                "a principal"
            } else {
                "principals"
            },
            accounts.join(", "),
            outside.join(", ")
        )))
    }
}

/// `s3.verify_bucket_policy_accounts`.
pub static VERIFY_ACCOUNTS: AwsOperation = evidence(
    "s3.verify_bucket_policy_accounts",
    "Check that no Allow statement of the bucket policy lets in a principal from outside the accounts given (another account's IAM or STS principal, or `*` without a condition); fails naming each one left",
    "s3:GetBucketPolicy",
    "GetBucketPolicy",
    &[
        BUCKET,
        p(
            "accounts",
            ParamKind::AccountIdList,
            "the accounts the policy may let in (the bucket's own and the trusted ones)",
        ),
    ],
    "bucket",
    &["s3:GetBucketPolicy"],
    &VerifyAccounts,
);

impl BucketPolicy {
    /// The policy, when the bucket has one.
    fn existing(&self) -> Option<&Value> {
        self.policy.as_ref().filter(|v| !v.is_null())
    }

    /// Puts this saved policy back: its text byte for byte, or no policy when there was none.
    async fn put_back(&self, aws: &Aws, p: &Params<'_>) -> Result<Applied, ActionError> {
        let bucket = p.str("bucket");
        let call = match &self.text {
            None => format!("s3:DeleteBucketPolicy Bucket={bucket}"),
            Some(_) => format!("s3:PutBucketPolicy Bucket={bucket} (saved policy)"),
        };
        set_policy(aws, &bucket, self.text.as_deref(), call).await
    }
}

/// Sets the bucket's policy to `text`, or deletes it for `None`.
async fn set_policy(
    aws: &Aws,
    bucket: &str,
    text: Option<&str>,
    call: String,
) -> Result<Applied, ActionError> {
    let b = format!("bucket {bucket}");
    match text {
        None => {
            let sent = aws.s3.delete_bucket_policy().bucket(bucket).send().await;
            applied(sent, "s3:DeleteBucketPolicy", &b, call)
        }
        Some(text) => {
            let sent = aws
                .s3
                .put_bucket_policy()
                .bucket(bucket)
                .policy(text)
                .send()
                .await;
            applied(sent, "s3:PutBucketPolicy", &b, call)
        }
    }
}

/// Whether the bucket policy makes the bucket public (evidence only).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PolicyStatus {
    pub bucket: String,
    /// `false` when the bucket has no policy.
    pub is_public: Option<bool>,
}

#[async_trait]
impl Resource for PolicyStatus {
    async fn read(aws: &Aws, p: &Params<'_>) -> Result<PolicyStatus, ActionError> {
        let bucket = p.str("bucket");
        let is_public = match aws.s3.get_bucket_policy_status().bucket(&bucket).send().await {
            Ok(out) => out
                .policy_status()
                .and_then(aws_sdk_s3::types::PolicyStatus::is_public),
            Err(e) if is_absent(&e, &["NoSuchBucketPolicy"]) => Some(false),
            Err(e) => {
                return Err(classify(
                    &e,
                    "s3:GetBucketPolicyStatus",
                    &format!("bucket {bucket}"),
                ));
            }
        };
        Ok(PolicyStatus { bucket, is_public })
    }
}

/// `s3.get_bucket_policy_status`.
pub static GET_STATUS: AwsOperation = evidence(
    "s3.get_bucket_policy_status",
    "Read whether the bucket policy makes the bucket public",
    "s3:GetBucketPolicyStatus",
    "GetBucketPolicyStatus",
    &[BUCKET],
    "bucket",
    &["s3:GetBucketPolicyStatus"],
    &Evidence::<PolicyStatus>::NEW,
);

/// `s3.add_bucket_policy_deny`: a Deny statement merged into the existing policy.
#[derive(Debug)]
pub struct AddDeny;

#[async_trait]
impl Change for AddDeny {
    type Resource = BucketPolicy;

    fn plan(
        &self,
        p: &Params<'_>,
        before: &BucketPolicy,
        _now: &str,
        tag: &str,
    ) -> Result<Plan, ActionError> {
        let targets = DenyTargets {
            principal_arns: p.list("principal_arns"),
            account_ids: p.list("account_ids"),
            source_ips: p.list("source_ips"),
        };
        let (statements, notes) = policy::bucket_deny_statements(&p.str("bucket"), &targets, tag);
        let existing = before.existing();
        let merged = policy::merge_statements(existing, &statements).map_err(ActionError::Refused)?;
        let mut plan = Plan::new(
            format!(
                "s3:PutBucketPolicy Bucket={} Policy=<the existing policy with {} statement(s) added>",
                p.str("bucket"),
                statements.len()
            ),
            policy::diff(existing, Some(&merged)),
        );
        plan.notes = notes;
        if existing.is_some_and(|e| policy::has_statements(e, &statements)) {
            plan.already = Some("the bucket policy already has irp's deny statements".to_owned());
        }
        plan.request = json!({ "policy": merged, "added": statements });
        Ok(plan)
    }

    async fn apply(&self, aws: &Aws, p: &Params<'_>, plan: &Plan) -> Result<Applied, ActionError> {
        let bucket = p.str("bucket");
        let merged = plan.request.get("policy").cloned().unwrap_or(Value::Null);
        let sent = aws
            .s3
            .put_bucket_policy()
            .bucket(&bucket)
            .policy(merged.to_string())
            .send()
            .await;
        applied(
            sent,
            "s3:PutBucketPolicy",
            &format!("bucket {bucket}"),
            plan.call(),
        )
    }

    fn check_applied(&self, c: &Check<'_, '_, BucketPolicy>) -> Verdict {
        let request = c.request;
        let before = c.before;
        let after = c.after;
        let added: Vec<Value> = request
            .get("added")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        match after.existing() {
            None => Verdict::Fails("the bucket has no policy".to_owned()),
            Some(pol) if !policy::has_statements(pol, &added) => {
                Verdict::Fails("the bucket policy lacks irp's deny statements".to_owned())
            }
            Some(pol) if !policy::keeps_statements(before.and_then(BucketPolicy::existing), pol) => {
                Verdict::Fails("the bucket policy lost statements it had before".to_owned())
            }
            Some(pol) => Verdict::Holds(format!(
                "the bucket policy has irp's {} deny statement(s) and every statement it had before ({} in all)",
                added.len(),
                policy::statements(pol).len()
            )),
        }
    }

    async fn restore(
        &self,
        aws: &Aws,
        p: &Params<'_>,
        before: &BucketPolicy,
    ) -> Result<Applied, ActionError> {
        before.put_back(aws, p).await
    }
}

/// `s3.add_bucket_policy_deny`.
pub static ADD_DENY: AwsOperation = AwsOperation {
    name: "s3.add_bucket_policy_deny",
    api: "s3:PutBucketPolicy",
    cloudtrail_event: "PutBucketPolicy",
    target: "bucket",
    summary: "Add a Deny s3:* statement for principals, accounts or source IPs to the bucket policy, merged into the existing policy (never replacing it)",
    params: &[
        BUCKET,
        opt(
            "principal_arns",
            ParamKind::ArnList,
            "principals to deny (aws:PrincipalArn)",
        ),
        opt(
            "account_ids",
            ParamKind::AccountIdList,
            "accounts to deny (aws:PrincipalAccount)",
        ),
        opt(
            "source_ips",
            ParamKind::IpCidrList,
            "source addresses to deny (aws:SourceIp)",
        ),
    ],
    require_any: &["principal_arns", "account_ids", "source_ips"],
    permissions: &[
        "s3:GetBucketPolicy",
        "s3:PutBucketPolicy",
        "s3:DeleteBucketPolicy",
    ],
    before_state: Some("s3:GetBucketPolicy"),
    rollback: Some("s3:PutBucketPolicy with the saved policy, or s3:DeleteBucketPolicy if there was none"),
    imp: Implementation::Change(&AddDeny),
};

/// `s3.remove_bucket_policy_account`.
#[derive(Debug)]
pub struct RemoveAccount;

#[async_trait]
impl Change for RemoveAccount {
    type Resource = BucketPolicy;

    fn assumed(&self, p: &Params<'_>) -> BucketPolicy {
        let bucket = p.str("bucket");
        BucketPolicy {
            policy: Some(json!({ "Version": "2012-10-17", "Statement": [
                { "Effect": "Allow", "Principal": { "AWS": format!("arn:aws:iam::{}:root", p.str("account")) },
                  "Action": "s3:GetObject", "Resource": format!("arn:aws:s3:::{bucket}/*") },
                { "Sid": "(the policy's other statements)" }
            ]})),
            bucket,
            ..BucketPolicy::default()
        }
    }

    fn plan(
        &self,
        p: &Params<'_>,
        before: &BucketPolicy,
        _now: &str,
        _tag: &str,
    ) -> Result<Plan, ActionError> {
        let bucket = p.str("bucket");
        let account = p.str("account");
        let Some(existing) = before.existing() else {
            let mut plan = Plan::empty();
            plan.already = Some("the bucket has no policy: it grants no account anything".to_owned());
            return Ok(plan);
        };
        let Ok((doc, n)) = policy::remove_account_grants(existing, &account) else {
            let mut plan = Plan::empty();
            plan.already = Some(format!(
                "no Allow statement of the bucket policy names account {account}"
            ));
            return Ok(plan);
        };
        let call = match &doc {
            Some(_) => format!(
                "s3:PutBucketPolicy Bucket={bucket} Policy=<the policy without the {n} grant(s) to account {account}>"
            ),
            None => format!(
                "s3:DeleteBucketPolicy Bucket={bucket} (its only statements were the {n} grant(s) to account {account})"
            ),
        };
        let mut plan = Plan::new(call, policy::diff(Some(existing), doc.as_ref()));
        plan.request = json!({ "policy": doc });
        Ok(plan)
    }

    async fn apply(&self, aws: &Aws, p: &Params<'_>, plan: &Plan) -> Result<Applied, ActionError> {
        let doc = plan
            .request
            .get("policy")
            .filter(|v| !v.is_null())
            .map(Value::to_string);
        set_policy(aws, &p.str("bucket"), doc.as_deref(), plan.call()).await
    }

    fn check_applied(&self, c: &Check<'_, '_, BucketPolicy>) -> Verdict {
        let account = c.p.str("account");
        match c.after.existing() {
            None => Verdict::Holds("the bucket has no policy: no account is granted anything".to_owned()),
            Some(pol) if policy::grants_account(pol, &account) => {
                Verdict::Fails(format!("the bucket policy still grants account {account}"))
            }
            Some(pol) => Verdict::Holds(format!(
                "no Allow statement of the bucket policy names account {account} ({} statement(s) left)",
                policy::statements(pol).len()
            )),
        }
    }

    async fn restore(
        &self,
        aws: &Aws,
        p: &Params<'_>,
        before: &BucketPolicy,
    ) -> Result<Applied, ActionError> {
        before.put_back(aws, p).await
    }
}

/// `s3.remove_bucket_policy_account`.
pub static REMOVE_ACCOUNT: AwsOperation = AwsOperation {
    name: "s3.remove_bucket_policy_account",
    api: "s3:PutBucketPolicy",
    cloudtrail_event: "PutBucketPolicy",
    // What is taken away is the account's access (the confirmation names it, or counts accounts).
    target: "account",
    summary: "Remove every grant to an account from the bucket policy's Allow statements (its root, users, roles and sessions; a statement left with no principal is dropped, and a policy left with none is deleted); Deny statements are kept",
    params: &[
        BUCKET,
        p(
            "account",
            ParamKind::AccountId,
            "the account whose grants to remove",
        ),
    ],
    require_any: &[],
    permissions: &[
        "s3:GetBucketPolicy",
        "s3:PutBucketPolicy",
        "s3:DeleteBucketPolicy",
    ],
    before_state: Some("s3:GetBucketPolicy"),
    rollback: Some("s3:PutBucketPolicy with the saved policy"),
    imp: Implementation::Change(&RemoveAccount),
};

/// `s3.delete_bucket_policy`.
#[derive(Debug)]
pub struct Delete;

#[async_trait]
impl Change for Delete {
    type Resource = BucketPolicy;

    fn plan(
        &self,
        p: &Params<'_>,
        before: &BucketPolicy,
        _now: &str,
        _tag: &str,
    ) -> Result<Plan, ActionError> {
        let existing = before.existing();
        let mut plan = Plan::new(
            format!("s3:DeleteBucketPolicy Bucket={}", p.str("bucket")),
            policy::diff(existing, None),
        );
        if existing.is_none() {
            plan.already = Some("the bucket has no policy".to_owned());
        }
        Ok(plan)
    }

    async fn apply(&self, aws: &Aws, p: &Params<'_>, plan: &Plan) -> Result<Applied, ActionError> {
        let bucket = p.str("bucket");
        let sent = aws.s3.delete_bucket_policy().bucket(&bucket).send().await;
        applied(
            sent,
            "s3:DeleteBucketPolicy",
            &format!("bucket {bucket}"),
            plan.call(),
        )
    }

    fn check_applied(&self, c: &Check<'_, '_, BucketPolicy>) -> Verdict {
        let after = c.after;
        if after.existing().is_none() {
            Verdict::Holds("the bucket has no policy".to_owned())
        } else {
            Verdict::Fails("the bucket still has a policy".to_owned())
        }
    }

    async fn restore(
        &self,
        aws: &Aws,
        p: &Params<'_>,
        before: &BucketPolicy,
    ) -> Result<Applied, ActionError> {
        before.put_back(aws, p).await
    }
}

/// `s3.delete_bucket_policy`.
pub static DELETE: AwsOperation = AwsOperation {
    name: "s3.delete_bucket_policy",
    api: "s3:DeleteBucketPolicy",
    cloudtrail_event: "DeleteBucketPolicy",
    target: "bucket",
    summary: "Delete the bucket policy (may break legitimate cross-account access)",
    params: &[BUCKET],
    require_any: &[],
    permissions: &[
        "s3:GetBucketPolicy",
        "s3:DeleteBucketPolicy",
        "s3:PutBucketPolicy",
    ],
    before_state: Some("s3:GetBucketPolicy"),
    rollback: Some("s3:PutBucketPolicy with the saved policy"),
    imp: Implementation::Change(&Delete),
};
