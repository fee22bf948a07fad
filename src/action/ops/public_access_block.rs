//! S3 Block Public Access, for one bucket (S3) or the whole account (S3 Control): read the four
//! settings, turn them all on, put the saved ones back (or none, when there were none).

use std::marker::PhantomData;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Evidence;
use super::{Change, Check, Resource, Verdict};
use crate::action::aws::{ActionError, Applied, Aws, applied, classify, is_absent};
use crate::action::plan::{Params, Plan};
use crate::action::policy;
use crate::action::registry::{ACCOUNT, BUCKET};
use crate::action::registry::{AwsOperation, Implementation, evidence};

/// The four settings. S3 and S3 Control each have their own SDK type for them.
#[allow(clippy::struct_excessive_bools)] // the four settings S3 has, as S3 names them
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    pub block_public_acls: bool,
    pub ignore_public_acls: bool,
    pub block_public_policy: bool,
    pub restrict_public_buckets: bool,
}

impl Settings {
    pub const ALL_ON: Settings = Settings {
        block_public_acls: true,
        ignore_public_acls: true,
        block_public_policy: true,
        restrict_public_buckets: true,
    };
}

/// Reads the four settings off either SDK type.
macro_rules! settings_of {
    ($c:expr) => {
        Settings {
            block_public_acls: $c.block_public_acls().unwrap_or(false),
            ignore_public_acls: $c.ignore_public_acls().unwrap_or(false),
            block_public_policy: $c.block_public_policy().unwrap_or(false),
            restrict_public_buckets: $c.restrict_public_buckets().unwrap_or(false),
        }
    };
}

/// Builds either SDK type from the four settings.
macro_rules! sdk_settings {
    ($ty:ty, $s:expr) => {
        <$ty>::builder()
            .block_public_acls($s.block_public_acls)
            .ignore_public_acls($s.ignore_public_acls)
            .block_public_policy($s.block_public_policy)
            .restrict_public_buckets($s.restrict_public_buckets)
            .build()
    };
}

/// A bucket's settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BucketSettings {
    pub bucket: String,
    /// `None` when the bucket has none.
    pub configuration: Option<Settings>,
}

#[async_trait]
impl Resource for BucketSettings {
    async fn read(aws: &Aws, p: &Params<'_>) -> Result<BucketSettings, ActionError> {
        let bucket = p.str("bucket");
        let configuration = match aws.s3.get_public_access_block().bucket(&bucket).send().await {
            Ok(out) => out.public_access_block_configuration().map(|c| settings_of!(c)),
            Err(e) if is_absent(&e, &["NoSuchPublicAccessBlockConfiguration"]) => None,
            Err(e) => {
                return Err(classify(
                    &e,
                    "s3:GetBucketPublicAccessBlock",
                    &format!("bucket {bucket}"),
                ));
            }
        };
        Ok(BucketSettings {
            bucket,
            configuration,
        })
    }
}

/// `s3.get_public_access_block`.
pub static GET_BUCKET: AwsOperation = evidence(
    "s3.get_public_access_block",
    "Read the bucket's Block Public Access settings",
    "s3:GetPublicAccessBlock",
    "GetBucketPublicAccessBlock",
    &[BUCKET],
    "bucket",
    &["s3:GetBucketPublicAccessBlock"],
    &Evidence::<BucketSettings>::NEW,
);

/// The account's settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AccountSettings {
    pub account_id: String,
    /// `None` when the account has none.
    pub configuration: Option<Settings>,
}

#[async_trait]
impl Resource for AccountSettings {
    async fn read(aws: &Aws, p: &Params<'_>) -> Result<AccountSettings, ActionError> {
        let account = p.str("account_id");
        let configuration = match aws
            .s3control
            .get_public_access_block()
            .account_id(&account)
            .send()
            .await
        {
            Ok(out) => out.public_access_block_configuration().map(|c| settings_of!(c)),
            Err(e) if is_absent(&e, &["NoSuchPublicAccessBlockConfiguration"]) => None,
            Err(e) => {
                return Err(classify(
                    &e,
                    "s3:GetAccountPublicAccessBlock",
                    &format!("account {account}"),
                ));
            }
        };
        Ok(AccountSettings {
            account_id: account,
            configuration,
        })
    }
}

/// `s3control.get_public_access_block`.
pub static GET_ACCOUNT: AwsOperation = evidence(
    "s3control.get_public_access_block",
    "Read the account's Block Public Access settings",
    "s3control:GetPublicAccessBlock",
    "GetAccountPublicAccessBlock",
    &[ACCOUNT],
    "account_id",
    &["s3:GetAccountPublicAccessBlock"],
    &Evidence::<AccountSettings>::NEW,
);

/// The plan that turns every setting on, from `current`.
fn all_on(current: Option<Settings>, call: String) -> Plan {
    let all = serde_json::to_value(Settings::ALL_ON).unwrap_or(Value::Null);
    let current_value = current.and_then(|c| serde_json::to_value(c).ok());
    let mut plan = Plan::new(call, policy::diff(current_value.as_ref(), Some(&all)));
    if current == Some(Settings::ALL_ON) {
        plan.already = Some("all four Block Public Access settings are already on".to_owned());
    }
    plan.request = all;
    plan
}

/// Whether every setting is on in `after`.
fn check_all_on(after: Option<Settings>) -> Verdict {
    if after == Some(Settings::ALL_ON) {
        Verdict::Holds("all four Block Public Access settings are on".to_owned())
    } else {
        Verdict::Fails(format!(
            "Block Public Access is {}",
            serde_json::to_value(after).unwrap_or(Value::Null)
        ))
    }
}

const ALL_ON_ARGS: &str =
    "BlockPublicAcls=true IgnorePublicAcls=true BlockPublicPolicy=true RestrictPublicBuckets=true";

/// Where the settings apply (a bucket, or the account): the state read there, the parameter
/// that names it, and the calls that put and delete its settings.
#[async_trait]
pub trait Scope: Resource {
    /// The parameter that names the bucket or the account.
    const PARAM: &'static str;
    fn configuration(&self) -> Option<Settings>;
    /// The put call as plans and journals name it, for `id`.
    fn put_call(id: &str) -> String;
    async fn put(aws: &Aws, id: &str, settings: Settings, call: String) -> Result<Applied, ActionError>;
    /// Removes the settings (the restore where there were none).
    async fn delete(aws: &Aws, id: &str) -> Result<Applied, ActionError>;
}

/// The change that turns all four settings on in scope `S`.
#[derive(Debug)]
pub struct Block<S>(PhantomData<S>);

impl<S> Block<S> {
    /// The operation, as a constant the registry's statics can point to.
    pub const NEW: Block<S> = Block(PhantomData);
}

#[async_trait]
impl<S: Scope> Change for Block<S> {
    type Resource = S;

    fn plan(&self, p: &Params<'_>, before: &S, _now: &str, _tag: &str) -> Result<Plan, ActionError> {
        let call = format!("{} {ALL_ON_ARGS}", S::put_call(&p.str(S::PARAM)));
        Ok(all_on(before.configuration(), call))
    }

    async fn apply(&self, aws: &Aws, p: &Params<'_>, plan: &Plan) -> Result<Applied, ActionError> {
        S::put(aws, &p.str(S::PARAM), Settings::ALL_ON, plan.call()).await
    }

    fn check_applied(&self, c: &Check<'_, '_, S>) -> Verdict {
        check_all_on(c.after.configuration())
    }

    async fn restore(&self, aws: &Aws, p: &Params<'_>, before: &S) -> Result<Applied, ActionError> {
        let id = p.str(S::PARAM);
        match before.configuration() {
            Some(saved) => S::put(aws, &id, saved, format!("{} (saved settings)", S::put_call(&id))).await,
            None => S::delete(aws, &id).await,
        }
    }
}

#[async_trait]
impl Scope for BucketSettings {
    const PARAM: &'static str = "bucket";

    fn configuration(&self) -> Option<Settings> {
        self.configuration
    }

    fn put_call(bucket: &str) -> String {
        format!("s3:PutPublicAccessBlock Bucket={bucket}")
    }

    async fn put(aws: &Aws, bucket: &str, settings: Settings, call: String) -> Result<Applied, ActionError> {
        let sent = aws
            .s3
            .put_public_access_block()
            .bucket(bucket)
            .public_access_block_configuration(sdk_settings!(
                aws_sdk_s3::types::PublicAccessBlockConfiguration,
                settings
            ))
            .send()
            .await;
        applied(
            sent,
            "s3:PutBucketPublicAccessBlock",
            &format!("bucket {bucket}"),
            call,
        )
    }

    async fn delete(aws: &Aws, bucket: &str) -> Result<Applied, ActionError> {
        let sent = aws.s3.delete_public_access_block().bucket(bucket).send().await;
        applied(
            sent,
            "s3:PutBucketPublicAccessBlock",
            &format!("bucket {bucket}"),
            format!("s3:DeletePublicAccessBlock Bucket={bucket}"),
        )
    }
}

/// `s3.put_public_access_block`.
pub static BLOCK_BUCKET: AwsOperation = AwsOperation {
    name: "s3.put_public_access_block",
    api: "s3:PutPublicAccessBlock",
    cloudtrail_event: "PutBucketPublicAccessBlock",
    target: "bucket",
    summary: "Turn on all four Block Public Access settings for the bucket",
    params: &[BUCKET],
    require_any: &[],
    permissions: &["s3:GetBucketPublicAccessBlock", "s3:PutBucketPublicAccessBlock"],
    before_state: Some("s3:GetPublicAccessBlock"),
    rollback: Some(
        "s3:PutPublicAccessBlock with the saved settings, or s3:DeletePublicAccessBlock if there were none",
    ),
    imp: Implementation::Change(&Block::<BucketSettings>::NEW),
};

#[async_trait]
impl Scope for AccountSettings {
    const PARAM: &'static str = "account_id";

    fn configuration(&self) -> Option<Settings> {
        self.configuration
    }

    fn put_call(account: &str) -> String {
        format!("s3control:PutPublicAccessBlock AccountId={account}")
    }

    async fn put(aws: &Aws, account: &str, settings: Settings, call: String) -> Result<Applied, ActionError> {
        let sent = aws
            .s3control
            .put_public_access_block()
            .account_id(account)
            .public_access_block_configuration(sdk_settings!(
                aws_sdk_s3control::types::PublicAccessBlockConfiguration,
                settings
            ))
            .send()
            .await;
        applied(sent, "s3:PutAccountPublicAccessBlock", "the account", call)
    }

    async fn delete(aws: &Aws, account: &str) -> Result<Applied, ActionError> {
        let sent = aws
            .s3control
            .delete_public_access_block()
            .account_id(account)
            .send()
            .await;
        applied(
            sent,
            "s3:PutAccountPublicAccessBlock",
            "the account",
            format!("s3control:DeletePublicAccessBlock AccountId={account}"),
        )
    }
}

/// `s3control.put_public_access_block`.
pub static BLOCK_ACCOUNT: AwsOperation = AwsOperation {
    name: "s3control.put_public_access_block",
    api: "s3control:PutPublicAccessBlock",
    cloudtrail_event: "PutAccountPublicAccessBlock",
    target: "account_id",
    summary: "Turn on all four Block Public Access settings for the whole account",
    params: &[ACCOUNT],
    require_any: &[],
    permissions: &["s3:GetAccountPublicAccessBlock", "s3:PutAccountPublicAccessBlock"],
    before_state: Some("s3control:GetPublicAccessBlock"),
    rollback: Some(
        "s3control:PutPublicAccessBlock with the saved settings, or s3control:DeletePublicAccessBlock",
    ),
    imp: Implementation::Change(&Block::<AccountSettings>::NEW),
};
