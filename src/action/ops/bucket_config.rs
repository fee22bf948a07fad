//! A bucket's configurations that are paths out for an intruder: replication (copies data out),
//! event notifications (trigger exfiltration) and lifecycle rules (destroy data early). Each is
//! read with its XML document kept byte for byte, removed, and put back from that document.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Evidence;
use super::{Change, Check, Resource, Verdict};
use crate::action::aws::{ActionError, Applied, Aws, applied, classify, is_absent, stored_xml};
use crate::action::plan::{Params, Plan};
use crate::action::policy;
use crate::action::raw::{Capture, ReplaceBody};
use crate::action::registry::BUCKET;
use crate::action::registry::{AwsOperation, Implementation, evidence};

/// What the three configurations share: a summary to show, and whether there is any.
pub trait Configuration {
    /// The summary as shown in the diff.
    fn summary(&self) -> Value;
    fn is_empty(&self) -> bool;
}

fn value<T: Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// The plan that removes configuration `before` with `call`.
fn removal<C: Configuration>(before: &C, call: String) -> Plan {
    let summary = before.summary();
    let mut plan = Plan::new(call, policy::diff(Some(&summary).filter(|s| !s.is_null()), None));
    if before.is_empty() {
        plan.already = Some("the bucket has no such configuration".to_owned());
    }
    plan
}

/// Whether the configuration is gone in `after`.
fn check_removed<C: Configuration>(after: &C) -> Verdict {
    if after.is_empty() {
        Verdict::Holds("the configuration is gone".to_owned())
    } else {
        Verdict::Fails(format!("the configuration is still there: {}", after.summary()))
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ReplicationRule {
    pub id: Option<String>,
    pub status: Option<String>,
    /// The destination bucket's ARN.
    pub destination: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ReplicationSummary {
    pub role: Option<String>,
    pub rules: Vec<ReplicationRule>,
}

/// A bucket's replication configuration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Replication {
    pub bucket: String,
    /// `None` when the bucket has none.
    pub summary: Option<ReplicationSummary>,
    /// The document S3 returned, byte for byte.
    pub xml: Option<String>,
}

impl Configuration for Replication {
    fn summary(&self) -> Value {
        value(&self.summary)
    }

    fn is_empty(&self) -> bool {
        self.xml.is_none()
    }
}

#[async_trait]
impl Resource for Replication {
    async fn read(aws: &Aws, p: &Params<'_>) -> Result<Replication, ActionError> {
        let bucket = p.str("bucket");
        let cap = Capture::default();
        let result = aws
            .s3
            .get_bucket_replication()
            .bucket(&bucket)
            .customize()
            .interceptor(cap.clone())
            .send()
            .await;
        match result {
            Ok(out) => Ok(Replication {
                summary: out.replication_configuration().map(|c| ReplicationSummary {
                    role: Some(c.role().to_owned()),
                    rules: c
                        .rules()
                        .iter()
                        .map(|r| ReplicationRule {
                            id: r.id().map(str::to_owned),
                            status: Some(r.status().as_str().to_owned()),
                            destination: r.destination().map(|d| d.bucket().to_owned()),
                        })
                        .collect(),
                }),
                xml: cap.text(),
                bucket,
            }),
            Err(e) if is_absent(&e, &["ReplicationConfigurationNotFoundError"]) => Ok(Replication {
                bucket,
                ..Replication::default()
            }),
            Err(e) => Err(classify(
                &e,
                "s3:GetReplicationConfiguration",
                &format!("bucket {bucket}"),
            )),
        }
    }
}

/// `s3.get_bucket_replication`.
pub static GET_REPLICATION: AwsOperation = evidence(
    "s3.get_bucket_replication",
    "Read the bucket's replication rules",
    "s3:GetBucketReplication",
    "GetBucketReplication",
    &[BUCKET],
    "bucket",
    &["s3:GetReplicationConfiguration"],
    &Evidence::<Replication>::NEW,
);

/// `s3.delete_bucket_replication`.
#[derive(Debug)]
pub struct DeleteReplication;

#[async_trait]
impl Change for DeleteReplication {
    type Resource = Replication;

    fn plan(
        &self,
        p: &Params<'_>,
        before: &Replication,
        _now: &str,
        _tag: &str,
    ) -> Result<Plan, ActionError> {
        Ok(removal(
            before,
            format!("s3:DeleteBucketReplication Bucket={}", p.str("bucket")),
        ))
    }

    async fn apply(&self, aws: &Aws, p: &Params<'_>, plan: &Plan) -> Result<Applied, ActionError> {
        let bucket = p.str("bucket");
        let sent = aws.s3.delete_bucket_replication().bucket(&bucket).send().await;
        applied(
            sent,
            "s3:PutReplicationConfiguration",
            &format!("bucket {bucket}"),
            plan.call(),
        )
    }

    fn check_applied(&self, c: &Check<'_, '_, Replication>) -> Verdict {
        let after = c.after;
        check_removed(after)
    }

    async fn restore(&self, aws: &Aws, p: &Params<'_>, before: &Replication) -> Result<Applied, ActionError> {
        let bucket = p.str("bucket");
        if before.is_empty() {
            return Ok(Applied::nothing("the bucket had no replication"));
        }
        // The SDK wants a configuration; the stored document replaces the body it builds.
        let placeholder = aws_sdk_s3::types::ReplicationConfiguration::builder()
            .role("placeholder")
            .set_rules(Some(Vec::new()))
            .build()
            .map_err(|e| ActionError::Other(e.to_string()))?;
        let sent = aws
            .s3
            .put_bucket_replication()
            .bucket(&bucket)
            .replication_configuration(placeholder)
            .customize()
            .interceptor(ReplaceBody(stored_xml(before.xml.as_deref())?))
            .send()
            .await;
        applied(
            sent,
            "s3:PutReplicationConfiguration",
            &format!("bucket {bucket}"),
            format!("s3:PutBucketReplication Bucket={bucket} ReplicationConfiguration=<saved document>"),
        )
    }
}

/// `s3.delete_bucket_replication`.
pub static DELETE_REPLICATION: AwsOperation = AwsOperation {
    name: "s3.delete_bucket_replication",
    api: "s3:DeleteBucketReplication",
    cloudtrail_event: "DeleteBucketReplication",
    target: "bucket",
    summary: "Remove the bucket's replication rules (a path to copy data out)",
    params: &[BUCKET],
    require_any: &[],
    permissions: &[
        "s3:GetReplicationConfiguration",
        "s3:PutReplicationConfiguration",
        "iam:PassRole",
    ],
    before_state: Some("s3:GetBucketReplication"),
    rollback: Some("s3:PutBucketReplication with the saved configuration"),
    imp: Implementation::Change(&DeleteReplication),
};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LifecycleRule {
    pub id: Option<String>,
    pub status: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LifecycleSummary {
    pub rules: Vec<LifecycleRule>,
}

/// A bucket's lifecycle rules.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Lifecycle {
    pub bucket: String,
    /// `None` when the bucket has none.
    pub summary: Option<LifecycleSummary>,
    /// The document S3 returned, byte for byte.
    pub xml: Option<String>,
}

impl Configuration for Lifecycle {
    fn summary(&self) -> Value {
        value(&self.summary)
    }

    fn is_empty(&self) -> bool {
        self.xml.is_none()
    }
}

#[async_trait]
impl Resource for Lifecycle {
    async fn read(aws: &Aws, p: &Params<'_>) -> Result<Lifecycle, ActionError> {
        let bucket = p.str("bucket");
        let cap = Capture::default();
        let result = aws
            .s3
            .get_bucket_lifecycle_configuration()
            .bucket(&bucket)
            .customize()
            .interceptor(cap.clone())
            .send()
            .await;
        match result {
            Ok(out) => Ok(Lifecycle {
                summary: Some(LifecycleSummary {
                    rules: out
                        .rules()
                        .iter()
                        .map(|r| LifecycleRule {
                            id: r.id().map(str::to_owned),
                            status: Some(r.status().as_str().to_owned()),
                        })
                        .collect(),
                }),
                xml: cap.text(),
                bucket,
            }),
            Err(e) if is_absent(&e, &["NoSuchLifecycleConfiguration"]) => Ok(Lifecycle {
                bucket,
                ..Lifecycle::default()
            }),
            Err(e) => Err(classify(
                &e,
                "s3:GetLifecycleConfiguration",
                &format!("bucket {bucket}"),
            )),
        }
    }
}

/// `s3.get_bucket_lifecycle_configuration`.
pub static GET_LIFECYCLE: AwsOperation = evidence(
    "s3.get_bucket_lifecycle_configuration",
    "Read the bucket's lifecycle rules",
    "s3:GetBucketLifecycleConfiguration",
    "GetBucketLifecycle",
    &[BUCKET],
    "bucket",
    &["s3:GetLifecycleConfiguration"],
    &Evidence::<Lifecycle>::NEW,
);

/// `s3.delete_bucket_lifecycle`.
#[derive(Debug)]
pub struct DeleteLifecycle;

#[async_trait]
impl Change for DeleteLifecycle {
    type Resource = Lifecycle;

    fn plan(&self, p: &Params<'_>, before: &Lifecycle, _now: &str, _tag: &str) -> Result<Plan, ActionError> {
        Ok(removal(
            before,
            format!("s3:DeleteBucketLifecycle Bucket={}", p.str("bucket")),
        ))
    }

    async fn apply(&self, aws: &Aws, p: &Params<'_>, plan: &Plan) -> Result<Applied, ActionError> {
        let bucket = p.str("bucket");
        let sent = aws.s3.delete_bucket_lifecycle().bucket(&bucket).send().await;
        applied(
            sent,
            "s3:PutLifecycleConfiguration",
            &format!("bucket {bucket}"),
            plan.call(),
        )
    }

    fn check_applied(&self, c: &Check<'_, '_, Lifecycle>) -> Verdict {
        let after = c.after;
        check_removed(after)
    }

    async fn restore(&self, aws: &Aws, p: &Params<'_>, before: &Lifecycle) -> Result<Applied, ActionError> {
        let bucket = p.str("bucket");
        if before.is_empty() {
            return Ok(Applied::nothing("the bucket had no lifecycle rules"));
        }
        let sent = aws
            .s3
            .put_bucket_lifecycle_configuration()
            .bucket(&bucket)
            .customize()
            .interceptor(ReplaceBody(stored_xml(before.xml.as_deref())?))
            .send()
            .await;
        applied(
            sent,
            "s3:PutLifecycleConfiguration",
            &format!("bucket {bucket}"),
            format!(
                "s3:PutBucketLifecycleConfiguration Bucket={bucket} LifecycleConfiguration=<saved document>"
            ),
        )
    }
}

/// `s3.delete_bucket_lifecycle`.
pub static DELETE_LIFECYCLE: AwsOperation = AwsOperation {
    name: "s3.delete_bucket_lifecycle",
    api: "s3:DeleteBucketLifecycle",
    cloudtrail_event: "DeleteBucketLifecycle",
    target: "bucket",
    summary: "Remove the bucket's lifecycle rules (a path to destroy data early)",
    params: &[BUCKET],
    require_any: &[],
    permissions: &["s3:GetLifecycleConfiguration", "s3:PutLifecycleConfiguration"],
    before_state: Some("s3:GetBucketLifecycleConfiguration"),
    rollback: Some("s3:PutBucketLifecycleConfiguration with the saved rules"),
    imp: Implementation::Change(&DeleteLifecycle),
};

/// How many notifications of each kind the bucket sends.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NotificationSummary {
    pub topics: usize,
    pub queues: usize,
    pub lambda_functions: usize,
    pub eventbridge: bool,
}

/// A bucket's event notifications.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Notifications {
    pub bucket: String,
    pub summary: Option<NotificationSummary>,
    /// The document S3 returned, byte for byte.
    pub xml: Option<String>,
}

impl Configuration for Notifications {
    fn summary(&self) -> Value {
        value(&self.summary)
    }

    fn is_empty(&self) -> bool {
        self.summary
            .as_ref()
            .is_none_or(|s| *s == NotificationSummary::default())
    }
}

#[async_trait]
impl Resource for Notifications {
    async fn read(aws: &Aws, p: &Params<'_>) -> Result<Notifications, ActionError> {
        let bucket = p.str("bucket");
        let cap = Capture::default();
        let out = aws
            .s3
            .get_bucket_notification_configuration()
            .bucket(&bucket)
            .customize()
            .interceptor(cap.clone())
            .send()
            .await
            .map_err(|e| classify(&e, "s3:GetBucketNotification", &format!("bucket {bucket}")))?;
        Ok(Notifications {
            bucket,
            summary: Some(NotificationSummary {
                topics: out.topic_configurations().len(),
                queues: out.queue_configurations().len(),
                lambda_functions: out.lambda_function_configurations().len(),
                eventbridge: out.event_bridge_configuration().is_some(),
            }),
            xml: cap.text(),
        })
    }
}

/// `s3.get_bucket_notification_configuration`.
pub static GET_NOTIFICATIONS: AwsOperation = evidence(
    "s3.get_bucket_notification_configuration",
    "Read the bucket's event notifications",
    "s3:GetBucketNotificationConfiguration",
    "GetBucketNotification",
    &[BUCKET],
    "bucket",
    &["s3:GetBucketNotification"],
    &Evidence::<Notifications>::NEW,
);

/// `s3.clear_bucket_notifications`.
#[derive(Debug)]
pub struct ClearNotifications;

impl ClearNotifications {
    /// Sends `body` (an empty configuration, or the stored document) as the configuration.
    async fn put(
        aws: &Aws,
        bucket: &str,
        body: Option<ReplaceBody>,
        call: String,
    ) -> Result<Applied, ActionError> {
        let request = aws
            .s3
            .put_bucket_notification_configuration()
            .bucket(bucket)
            .notification_configuration(aws_sdk_s3::types::NotificationConfiguration::builder().build());
        let sent = match body {
            Some(body) => request.customize().interceptor(body).send().await,
            None => request.send().await,
        };
        applied(
            sent,
            "s3:PutBucketNotification",
            &format!("bucket {bucket}"),
            call,
        )
    }
}

#[async_trait]
impl Change for ClearNotifications {
    type Resource = Notifications;

    fn plan(
        &self,
        p: &Params<'_>,
        before: &Notifications,
        _now: &str,
        _tag: &str,
    ) -> Result<Plan, ActionError> {
        Ok(removal(
            before,
            format!(
                "s3:PutBucketNotificationConfiguration Bucket={} NotificationConfiguration={{}}",
                p.str("bucket")
            ),
        ))
    }

    async fn apply(&self, aws: &Aws, p: &Params<'_>, plan: &Plan) -> Result<Applied, ActionError> {
        Self::put(aws, &p.str("bucket"), None, plan.call()).await
    }

    fn check_applied(&self, c: &Check<'_, '_, Notifications>) -> Verdict {
        let after = c.after;
        check_removed(after)
    }

    async fn restore(
        &self,
        aws: &Aws,
        p: &Params<'_>,
        before: &Notifications,
    ) -> Result<Applied, ActionError> {
        let bucket = p.str("bucket");
        let body = ReplaceBody(stored_xml(before.xml.as_deref())?);
        Self::put(
            aws,
            &bucket,
            Some(body),
            format!("s3:PutBucketNotificationConfiguration Bucket={bucket} NotificationConfiguration=<saved document>"),
        )
        .await
    }
}

/// `s3.clear_bucket_notifications`.
pub static CLEAR_NOTIFICATIONS: AwsOperation = AwsOperation {
    name: "s3.clear_bucket_notifications",
    api: "s3:PutBucketNotificationConfiguration",
    cloudtrail_event: "PutBucketNotification",
    target: "bucket",
    summary: "Remove every event notification of the bucket (a path to trigger exfiltration)",
    params: &[BUCKET],
    require_any: &[],
    permissions: &["s3:GetBucketNotification", "s3:PutBucketNotification"],
    before_state: Some("s3:GetBucketNotificationConfiguration"),
    rollback: Some("s3:PutBucketNotificationConfiguration with the saved configuration"),
    imp: Implementation::Change(&ClearNotifications),
};
