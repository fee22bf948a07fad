//! A bucket's configurations that are paths out for an intruder: replication (copies data out),
//! event notifications (trigger exfiltration) and lifecycle rules (destroy data early). Each is
//! read with its XML document kept byte for byte, removed, and put back from that document: one
//! [`Stored`] state and one [`Remove`] change serve the three, and each configuration says only
//! its own calls ([`Document`]).

use std::marker::PhantomData;

use async_trait::async_trait;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::Evidence;
use super::{Change, Check, Resource, Verdict};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};

use crate::action::aws::{ActionError, Applied, Aws, applied, classify, is_absent, stored_xml};
use crate::action::plan::{Params, Plan};
use crate::action::policy;
use crate::action::raw::{Capture, ReplaceBody};
use crate::action::registry::BUCKET;
use crate::action::registry::{AwsOperation, Implementation, evidence};

/// A bucket's configuration as stored: the summary shown in the diff (`None` when the bucket
/// has none) and the document S3 returned, byte for byte.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Stored<D> {
    pub bucket: String,
    pub summary: Option<D>,
    pub xml: Option<String>,
}

/// One kind of configuration: its summary type, and the calls that read, remove and put it back.
#[async_trait]
pub trait Document: Serialize + DeserializeOwned + Default + PartialEq + Send + Sync + 'static {
    /// What the removal is called in the plan.
    fn removal(bucket: &str) -> String;
    /// Why a restore has nothing to put back, where an empty configuration is left alone.
    const NOTHING: Option<&'static str>;
    /// The permission the read needs.
    const READ: &'static str;
    /// The permission the removal and the restore need.
    const WRITE: &'static str;
    /// The error codes by which S3 says the bucket has no such configuration.
    const ABSENT: &'static [&'static str] = &[];

    /// Whether the bucket has no such configuration.
    fn is_empty(stored: &Stored<Self>) -> bool {
        stored.xml.is_none()
    }

    async fn read(aws: &Aws, bucket: String) -> Result<Stored<Self>, ActionError>;
    async fn remove(aws: &Aws, bucket: &str, call: String) -> Result<Applied, ActionError>;
    /// Puts the stored document (`xml`) back.
    async fn put_back(aws: &Aws, bucket: &str, xml: ReplaceBody) -> Result<Applied, ActionError>;
}

impl<D: Document> Stored<D> {
    /// The state a read found: the summary of what S3 returned and the document `cap` kept, or
    /// no configuration where S3 says there is none.
    fn from_read<O, E, R>(
        bucket: String,
        cap: &Capture,
        sent: Result<O, SdkError<E, R>>,
        summary: impl FnOnce(O) -> Option<D>,
    ) -> Result<Self, ActionError>
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        match sent {
            Ok(out) => Ok(Stored {
                summary: summary(out),
                xml: cap.text(),
                bucket,
            }),
            Err(e) if is_absent(&e, D::ABSENT) => Ok(Stored {
                bucket,
                summary: None,
                xml: None,
            }),
            Err(e) => Err(classify(&e, D::READ, &format!("bucket {bucket}"))),
        }
    }
}

#[async_trait]
impl<D: Document> Resource for Stored<D> {
    async fn read(aws: &Aws, p: &Params<'_>) -> Result<Stored<D>, ActionError> {
        D::read(aws, p.str("bucket")).await
    }
}

/// The change that removes a configuration, put back from its stored document.
#[derive(Debug)]
pub struct Remove<D>(PhantomData<D>);

impl<D> Remove<D> {
    /// The operation, as a constant the registry's statics can point to.
    pub const NEW: Remove<D> = Remove(PhantomData);
}

#[async_trait]
impl<D: Document> Change for Remove<D> {
    type Resource = Stored<D>;

    fn plan(&self, p: &Params<'_>, before: &Stored<D>, _now: &str, _tag: &str) -> Result<Plan, ActionError> {
        let summary = serde_json::to_value(&before.summary).unwrap_or_default();
        let mut plan = Plan::new(
            D::removal(&p.str("bucket")),
            policy::diff(Some(&summary).filter(|s| !s.is_null()), None),
        );
        if D::is_empty(before) {
            plan.already = Some("the bucket has no such configuration".to_owned());
        }
        Ok(plan)
    }

    async fn apply(&self, aws: &Aws, p: &Params<'_>, plan: &Plan) -> Result<Applied, ActionError> {
        D::remove(aws, &p.str("bucket"), plan.call()).await
    }

    fn check_applied(&self, c: &Check<'_, '_, Stored<D>>) -> Verdict {
        if D::is_empty(c.after) {
            Verdict::Holds("the configuration is gone".to_owned())
        } else {
            let summary = serde_json::to_value(&c.after.summary).unwrap_or_default();
            Verdict::Fails(format!("the configuration is still there: {summary}"))
        }
    }

    async fn restore(&self, aws: &Aws, p: &Params<'_>, before: &Stored<D>) -> Result<Applied, ActionError> {
        if let Some(why) = D::NOTHING.filter(|_| D::is_empty(before)) {
            return Ok(Applied::nothing(why));
        }
        let xml = ReplaceBody(stored_xml(before.xml.as_deref())?);
        D::put_back(aws, &p.str("bucket"), xml).await
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

/// A bucket's replication rules, as the diff shows them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ReplicationSummary {
    pub role: Option<String>,
    pub rules: Vec<ReplicationRule>,
}

/// A bucket's replication configuration.
pub type Replication = Stored<ReplicationSummary>;

#[async_trait]
impl Document for ReplicationSummary {
    const NOTHING: Option<&'static str> = Some("the bucket had no replication");
    const READ: &'static str = "s3:GetReplicationConfiguration";
    const WRITE: &'static str = "s3:PutReplicationConfiguration";
    const ABSENT: &'static [&'static str] = &["ReplicationConfigurationNotFoundError"];

    fn removal(bucket: &str) -> String {
        format!("s3:DeleteBucketReplication Bucket={bucket}")
    }

    async fn read(aws: &Aws, bucket: String) -> Result<Replication, ActionError> {
        let cap = Capture::default();
        let sent = aws
            .s3
            .get_bucket_replication()
            .bucket(&bucket)
            .customize()
            .interceptor(cap.clone())
            .send()
            .await;
        Stored::from_read(bucket, &cap, sent, |out| {
            out.replication_configuration().map(|c| ReplicationSummary {
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
            })
        })
    }

    async fn remove(aws: &Aws, bucket: &str, call: String) -> Result<Applied, ActionError> {
        let sent = aws.s3.delete_bucket_replication().bucket(bucket).send().await;
        applied(sent, Self::WRITE, &format!("bucket {bucket}"), call)
    }

    async fn put_back(aws: &Aws, bucket: &str, xml: ReplaceBody) -> Result<Applied, ActionError> {
        // The SDK wants a configuration; the stored document replaces the body it builds.
        let placeholder = aws_sdk_s3::types::ReplicationConfiguration::builder()
            .role("placeholder")
            .set_rules(Some(Vec::new()))
            .build()
            .map_err(|e| ActionError::Other(e.to_string()))?;
        let sent = aws
            .s3
            .put_bucket_replication()
            .bucket(bucket)
            .replication_configuration(placeholder)
            .customize()
            .interceptor(xml)
            .send()
            .await;
        let call =
            format!("s3:PutBucketReplication Bucket={bucket} ReplicationConfiguration=<saved document>");
        applied(sent, Self::WRITE, &format!("bucket {bucket}"), call)
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
    imp: Implementation::Change(&Remove::<ReplicationSummary>::NEW),
};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LifecycleRule {
    pub id: Option<String>,
    pub status: Option<String>,
}

/// A bucket's lifecycle rules, as the diff shows them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LifecycleSummary {
    pub rules: Vec<LifecycleRule>,
}

/// A bucket's lifecycle configuration.
pub type Lifecycle = Stored<LifecycleSummary>;

#[async_trait]
impl Document for LifecycleSummary {
    const NOTHING: Option<&'static str> = Some("the bucket had no lifecycle rules");
    const READ: &'static str = "s3:GetLifecycleConfiguration";
    const WRITE: &'static str = "s3:PutLifecycleConfiguration";
    const ABSENT: &'static [&'static str] = &["NoSuchLifecycleConfiguration"];

    fn removal(bucket: &str) -> String {
        format!("s3:DeleteBucketLifecycle Bucket={bucket}")
    }

    async fn read(aws: &Aws, bucket: String) -> Result<Lifecycle, ActionError> {
        let cap = Capture::default();
        let sent = aws
            .s3
            .get_bucket_lifecycle_configuration()
            .bucket(&bucket)
            .customize()
            .interceptor(cap.clone())
            .send()
            .await;
        Stored::from_read(bucket, &cap, sent, |out| {
            Some(LifecycleSummary {
                rules: out
                    .rules()
                    .iter()
                    .map(|r| LifecycleRule {
                        id: r.id().map(str::to_owned),
                        status: Some(r.status().as_str().to_owned()),
                    })
                    .collect(),
            })
        })
    }

    async fn remove(aws: &Aws, bucket: &str, call: String) -> Result<Applied, ActionError> {
        let sent = aws.s3.delete_bucket_lifecycle().bucket(bucket).send().await;
        applied(sent, Self::WRITE, &format!("bucket {bucket}"), call)
    }

    async fn put_back(aws: &Aws, bucket: &str, xml: ReplaceBody) -> Result<Applied, ActionError> {
        let sent = aws
            .s3
            .put_bucket_lifecycle_configuration()
            .bucket(bucket)
            .customize()
            .interceptor(xml)
            .send()
            .await;
        let call = format!(
            "s3:PutBucketLifecycleConfiguration Bucket={bucket} LifecycleConfiguration=<saved document>"
        );
        applied(sent, Self::WRITE, &format!("bucket {bucket}"), call)
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
    imp: Implementation::Change(&Remove::<LifecycleSummary>::NEW),
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
pub type Notifications = Stored<NotificationSummary>;

/// Sends `body` (an empty configuration, or the stored document) as the configuration.
async fn put_notifications(
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
        NotificationSummary::WRITE,
        &format!("bucket {bucket}"),
        call,
    )
}

#[async_trait]
impl Document for NotificationSummary {
    /// An empty configuration is put back too (S3 always returns a document).
    const NOTHING: Option<&'static str> = None;
    const READ: &'static str = "s3:GetBucketNotification";
    const WRITE: &'static str = "s3:PutBucketNotification";

    fn removal(bucket: &str) -> String {
        format!("s3:PutBucketNotificationConfiguration Bucket={bucket} NotificationConfiguration={{}}")
    }

    fn is_empty(stored: &Notifications) -> bool {
        stored
            .summary
            .as_ref()
            .is_none_or(|s| *s == NotificationSummary::default())
    }

    async fn read(aws: &Aws, bucket: String) -> Result<Notifications, ActionError> {
        let cap = Capture::default();
        let sent = aws
            .s3
            .get_bucket_notification_configuration()
            .bucket(&bucket)
            .customize()
            .interceptor(cap.clone())
            .send()
            .await;
        Stored::from_read(bucket, &cap, sent, |out| {
            Some(NotificationSummary {
                topics: out.topic_configurations().len(),
                queues: out.queue_configurations().len(),
                lambda_functions: out.lambda_function_configurations().len(),
                eventbridge: out.event_bridge_configuration().is_some(),
            })
        })
    }

    async fn remove(aws: &Aws, bucket: &str, call: String) -> Result<Applied, ActionError> {
        put_notifications(aws, bucket, None, call).await
    }

    async fn put_back(aws: &Aws, bucket: &str, xml: ReplaceBody) -> Result<Applied, ActionError> {
        let call = format!(
            "s3:PutBucketNotificationConfiguration Bucket={bucket} NotificationConfiguration=<saved document>"
        );
        put_notifications(aws, bucket, Some(xml), call).await
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
    imp: Implementation::Change(&Remove::<NotificationSummary>::NEW),
};
