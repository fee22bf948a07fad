//! The bucket ACL: read it, make it private, put the saved access control policy back (its XML
//! document byte for byte).

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Evidence;
use super::{Change, Check, Resource, Verdict};
use crate::action::aws::{ActionError, Applied, Aws, applied, classify, stored_xml};
use crate::action::plan::{Params, Plan};
use crate::action::policy;
use crate::action::raw::{Capture, ReplaceBody};
use crate::action::registry::BUCKET;
use crate::action::registry::{AwsOperation, Implementation, evidence};

/// One grant of the ACL.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Grant {
    /// The canonical user id, group URI or e-mail address.
    pub grantee: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub permission: Option<String>,
}

/// A bucket's ACL.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BucketAcl {
    pub bucket: String,
    /// The owner's canonical user id.
    pub owner: Option<String>,
    pub grants: Vec<Grant>,
    /// The document S3 returned, byte for byte: what a rollback puts back.
    pub xml: Option<String>,
}

#[async_trait]
impl Resource for BucketAcl {
    async fn read(aws: &Aws, p: &Params<'_>) -> Result<BucketAcl, ActionError> {
        let bucket = p.str("bucket");
        let cap = Capture::default();
        let out = aws
            .s3
            .get_bucket_acl()
            .bucket(&bucket)
            .customize()
            .interceptor(cap.clone())
            .send()
            .await
            .map_err(|e| classify(&e, "s3:GetBucketAcl", &format!("bucket {bucket}")))?;
        let grants = out
            .grants()
            .iter()
            .map(|g| {
                let who = g.grantee();
                Grant {
                    grantee: who
                        .and_then(|w| w.id().or(w.uri()).or(w.email_address()))
                        .map(str::to_owned),
                    kind: who.map(|w| w.r#type().as_str().to_owned()),
                    permission: g.permission().map(|p| p.as_str().to_owned()),
                }
            })
            .collect();
        Ok(BucketAcl {
            bucket,
            owner: out.owner().and_then(|o| o.id()).map(str::to_owned),
            grants,
            xml: cap.text(),
        })
    }
}

/// `s3.get_bucket_acl`.
pub static GET: AwsOperation = evidence(
    "s3.get_bucket_acl",
    "Read the bucket ACL",
    "s3:GetBucketAcl",
    "GetBucketAcl",
    &[BUCKET],
    "bucket",
    &["s3:GetBucketAcl"],
    &Evidence::<BucketAcl>::NEW,
);

/// `s3.put_bucket_acl_private`.
#[derive(Debug)]
pub struct MakePrivate;

impl MakePrivate {
    /// The one grant a private ACL has: the owner's full control.
    fn private(owner: Option<&String>) -> Vec<Grant> {
        vec![Grant {
            grantee: owner.cloned(),
            kind: Some("CanonicalUser".to_owned()),
            permission: Some("FULL_CONTROL".to_owned()),
        }]
    }
}

#[async_trait]
impl Change for MakePrivate {
    type Resource = BucketAcl;

    fn plan(&self, p: &Params<'_>, before: &BucketAcl, _now: &str, _tag: &str) -> Result<Plan, ActionError> {
        let private = Self::private(before.owner.as_ref());
        let value = |g: &Vec<Grant>| serde_json::to_value(g).unwrap_or(Value::Null);
        let mut plan = Plan::new(
            format!("s3:PutBucketAcl Bucket={} ACL=private", p.str("bucket")),
            policy::diff(Some(&value(&before.grants)), Some(&value(&private))),
        );
        if before.grants == private {
            plan.already = Some("the bucket ACL is already private".to_owned());
        }
        Ok(plan)
    }

    async fn apply(&self, aws: &Aws, p: &Params<'_>, plan: &Plan) -> Result<Applied, ActionError> {
        let bucket = p.str("bucket");
        let sent = aws
            .s3
            .put_bucket_acl()
            .bucket(&bucket)
            .acl(aws_sdk_s3::types::BucketCannedAcl::Private)
            .send()
            .await;
        applied(sent, "s3:PutBucketAcl", &format!("bucket {bucket}"), plan.call())
    }

    fn check_applied(&self, c: &Check<'_, '_, BucketAcl>) -> Verdict {
        let after = c.after;
        let grants = &after.grants;
        if grants.len() == 1
            && grants[0].grantee == after.owner
            && grants[0].permission.as_deref() == Some("FULL_CONTROL")
        {
            Verdict::Holds("the ACL grants only the owner FULL_CONTROL".to_owned())
        } else {
            Verdict::Fails(format!("the ACL still has {} grant(s)", grants.len()))
        }
    }

    async fn restore(&self, aws: &Aws, p: &Params<'_>, before: &BucketAcl) -> Result<Applied, ActionError> {
        let bucket = p.str("bucket");
        let sent = aws
            .s3
            .put_bucket_acl()
            .bucket(&bucket)
            .customize()
            .interceptor(ReplaceBody(stored_xml(before.xml.as_deref())?))
            .send()
            .await;
        applied(
            sent,
            "s3:PutBucketAcl",
            &format!("bucket {bucket}"),
            format!("s3:PutBucketAcl Bucket={bucket} AccessControlPolicy=<saved document>"),
        )
    }
}

/// `s3.put_bucket_acl_private`.
pub static MAKE_PRIVATE: AwsOperation = AwsOperation {
    name: "s3.put_bucket_acl_private",
    api: "s3:PutBucketAcl",
    cloudtrail_event: "PutBucketAcl",
    target: "bucket",
    summary: "Set the bucket ACL to private (object ACLs are not changed)",
    params: &[BUCKET],
    require_any: &[],
    permissions: &["s3:GetBucketAcl", "s3:PutBucketAcl"],
    before_state: Some("s3:GetBucketAcl"),
    rollback: Some("s3:PutBucketAcl with the saved access control policy"),
    imp: Implementation::Change(&MakePrivate),
};
