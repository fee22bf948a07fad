//! The registry's operations, executed with the AWS SDK for Rust. Every operation has four parts:
//! `read_state` captures the resource as it is (stored as the before-state), `apply` makes the
//! change, `check_applied` reads the state back and says whether the change took, and `restore`
//! puts a stored before-state back. `plan` is the pure part in between: from the before-state it
//! works out the exact document the call will send (a merged bucket policy, a trust policy
//! without a principal) and the diff the responder confirms.
//!
//! States are JSON (`Snapshot`), the shape per resource is in `docs/actions.md`. S3's XML
//! configuration documents are kept byte for byte (see `raw`).

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::operation::RequestId;
use serde_json::{Value, json};

pub use super::plan::{
    DENY_ALL_POLICY, Params, Plan, REVOKE_SESSIONS_POLICY, check_applied, check_restored, comparable, plan,
    simulated_calls, state_diff,
};
use super::plan::{key_status, pab_all_on};
use super::raw::{Capture, ReplaceBody};

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
        let overrides = crate::cloud::Overrides {
            profile: settings.profile.as_deref(),
            region: settings.region.as_deref(),
            endpoint_url: settings.endpoint_url.as_deref(),
        };
        let conf = crate::cloud::load(
            overrides,
            settings.retry_attempts.unwrap_or(4),
            settings.retry_backoff.unwrap_or(Duration::from_millis(500)),
        )
        .await;
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

    /// An absent inline policy or login profile is a state; an absent user is an error.
    async fn require_user(&self, user: &str) -> Result<(), ActionError> {
        self.iam
            .get_user()
            .user_name(user)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify(&e, "iam:GetUser", &format!("user {user}")))
    }

    async fn require_role(&self, role: &str) -> Result<(), ActionError> {
        self.iam
            .get_role()
            .role_name(role)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify(&e, "iam:GetRole", &format!("role {role}")))
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
                        Ok(json!({ "bucket": bucket, "configuration": c.map(|c| pab_json!(c)) }))
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
                        Ok(json!({ "account_id": account, "configuration": c.map(|c| pab_json!(c)) }))
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
                        self.require_user(&user).await?;
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
                        self.require_user(&user).await?;
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
                        self.require_role(&role).await?;
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

/// The four Block Public Access settings as stored (S3 and S3 Control each have their own type).
macro_rules! pab_json {
    ($c:expr) => {
        json!({
            "block_public_acls": $c.block_public_acls().unwrap_or(false),
            "ignore_public_acls": $c.ignore_public_acls().unwrap_or(false),
            "block_public_policy": $c.block_public_policy().unwrap_or(false),
            "restrict_public_buckets": $c.restrict_public_buckets().unwrap_or(false),
        })
    };
}
use pab_json;

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
