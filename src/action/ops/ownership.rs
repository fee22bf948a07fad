//! Object ownership: read it, enforce the bucket owner (which turns every ACL off), put the saved
//! rule back (or none).

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::Evidence;
use super::{Change, Check, Resource, Verdict, or_none};
use crate::action::aws::{ActionError, Applied, Aws, applied, classify, is_absent};
use crate::action::plan::{Params, Plan};
use crate::action::policy;
use crate::action::registry::BUCKET;
use crate::action::registry::{AwsOperation, Implementation, evidence};

const ENFORCED: &str = "BucketOwnerEnforced";

/// A bucket's object ownership rule.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Ownership {
    pub bucket: String,
    /// `None` when the bucket has no ownership controls.
    pub object_ownership: Option<String>,
}

#[async_trait]
impl Resource for Ownership {
    async fn read(aws: &Aws, p: &Params<'_>) -> Result<Ownership, ActionError> {
        let bucket = p.str("bucket");
        let object_ownership = match aws
            .s3
            .get_bucket_ownership_controls()
            .bucket(&bucket)
            .send()
            .await
        {
            Ok(out) => out
                .ownership_controls()
                .and_then(|c| c.rules().first())
                .map(|r| r.object_ownership().as_str().to_owned()),
            Err(e) if is_absent(&e, &["OwnershipControlsNotFoundError"]) => None,
            Err(e) => {
                return Err(classify(
                    &e,
                    "s3:GetBucketOwnershipControls",
                    &format!("bucket {bucket}"),
                ));
            }
        };
        Ok(Ownership {
            bucket,
            object_ownership,
        })
    }
}

/// `s3.get_bucket_ownership_controls`.
pub static GET: AwsOperation = evidence(
    "s3.get_bucket_ownership_controls",
    "Read the bucket's object ownership setting",
    "s3:GetBucketOwnershipControls",
    "GetBucketOwnershipControls",
    &[BUCKET],
    "bucket",
    &["s3:GetBucketOwnershipControls"],
    &Evidence::<Ownership>::NEW,
);

/// `s3.enforce_bucket_owner`.
#[derive(Debug)]
pub struct Enforce;

#[async_trait]
impl Change for Enforce {
    type Resource = Ownership;

    fn plan(&self, p: &Params<'_>, before: &Ownership, _now: &str, _tag: &str) -> Result<Plan, ActionError> {
        let current = before.object_ownership.as_deref();
        let mut plan = Plan::new(
            format!(
                "s3:PutBucketOwnershipControls Bucket={} ObjectOwnership={ENFORCED}",
                p.str("bucket")
            ),
            policy::diff_lines(
                &format!("object ownership: {}", or_none(current)),
                &format!("object ownership: {ENFORCED}"),
            ),
        );
        if current == Some(ENFORCED) {
            plan.already = Some(format!("object ownership is already {ENFORCED}"));
        }
        plan.notes
            .push("every ACL on the bucket and its objects stops having effect".to_owned());
        Ok(plan)
    }

    async fn apply(&self, aws: &Aws, p: &Params<'_>, plan: &Plan) -> Result<Applied, ActionError> {
        put(aws, &p.str("bucket"), ENFORCED, plan.call()).await
    }

    fn check_applied(&self, c: &Check<'_, '_, Ownership>) -> Verdict {
        let after = c.after;
        match after.object_ownership.as_deref() {
            Some(ENFORCED) => Verdict::Holds(format!("object ownership is {ENFORCED}")),
            other => Verdict::Fails(format!("object ownership is {}", or_none(other))),
        }
    }

    async fn restore(&self, aws: &Aws, p: &Params<'_>, before: &Ownership) -> Result<Applied, ActionError> {
        let bucket = p.str("bucket");
        let Some(rule) = &before.object_ownership else {
            let sent = aws
                .s3
                .delete_bucket_ownership_controls()
                .bucket(&bucket)
                .send()
                .await;
            return applied(
                sent,
                "s3:PutBucketOwnershipControls",
                &format!("bucket {bucket}"),
                format!("s3:DeleteBucketOwnershipControls Bucket={bucket}"),
            );
        };
        put(
            aws,
            &bucket,
            rule,
            format!("s3:PutBucketOwnershipControls Bucket={bucket} ObjectOwnership={rule}"),
        )
        .await
    }
}

/// `s3.enforce_bucket_owner`.
pub static ENFORCE: AwsOperation = AwsOperation {
    name: "s3.enforce_bucket_owner",
    api: "s3:PutBucketOwnershipControls",
    cloudtrail_event: "PutBucketOwnershipControls",
    target: "bucket",
    summary: "Set object ownership to BucketOwnerEnforced, which disables every ACL on the bucket",
    params: &[BUCKET],
    require_any: &[],
    permissions: &["s3:GetBucketOwnershipControls", "s3:PutBucketOwnershipControls"],
    before_state: Some("s3:GetBucketOwnershipControls"),
    rollback: Some("s3:PutBucketOwnershipControls with the saved rule, or s3:DeleteBucketOwnershipControls"),
    imp: Implementation::Change(&Enforce),
};

async fn put(aws: &Aws, bucket: &str, rule: &str, call: String) -> Result<Applied, ActionError> {
    let other = |e: aws_sdk_s3::error::BuildError| ActionError::Other(e.to_string());
    let rule = aws_sdk_s3::types::OwnershipControlsRule::builder()
        .object_ownership(aws_sdk_s3::types::ObjectOwnership::from(rule))
        .build()
        .map_err(other)?;
    let controls = aws_sdk_s3::types::OwnershipControls::builder()
        .rules(rule)
        .build()
        .map_err(other)?;
    let sent = aws
        .s3
        .put_bucket_ownership_controls()
        .bucket(bucket)
        .ownership_controls(controls)
        .send()
        .await;
    applied(
        sent,
        "s3:PutBucketOwnershipControls",
        &format!("bucket {bucket}"),
        call,
    )
}
