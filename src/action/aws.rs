//! The AWS side of the operations: the SDK clients (the standard configuration chain), who the
//! calls are made as, errors classified for the responder, and the entry points a case uses.
//! Every operation has four parts, each its own (`ops/`): `read_state` captures the resource as
//! it is (stored as the before-state), `apply` makes the change, `check_applied` reads the state
//! back and says whether the change took, and `restore` puts a stored before-state back. `plan`
//! is the pure part in between: from the before-state it works out the exact document the call
//! will send (a merged bucket policy, a trust policy without a principal) and the diff the
//! responder confirms.
//!
//! States are stored as JSON (`Snapshot`), read back into each family's state type; the shape
//! per resource is in `docs/actions.md`. S3's XML configuration documents are kept byte for byte
//! (see `raw`).

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::operation::RequestId;
use serde_json::Value;

pub use super::plan::{
    DENY_ALL_POLICY, Params, Plan, REVOKE_SESSIONS_POLICY, check_applied, check_restored, comparable, plan,
    simulated_calls, state_diff,
};
use super::registry::Implementation;

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
    pub(super) s3: aws_sdk_s3::Client,
    pub(super) s3control: aws_sdk_s3control::Client,
    pub(super) iam: aws_sdk_iam::Client,
    pub(super) ec2: aws_sdk_ec2::Client,
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
    /// One call made, with the request id AWS gave it.
    pub fn one(call: String, request_id: Option<&str>) -> Applied {
        Applied {
            request_ids: request_id.map(str::to_owned).into_iter().collect(),
            calls: vec![call],
        }
    }

    /// No call was needed, and why.
    pub fn nothing(why: &str) -> Applied {
        Applied {
            request_ids: Vec::new(),
            calls: vec![format!("nothing: {why}")],
        }
    }
}

pub(crate) fn classify<E, R>(err: &SdkError<E, R>, permission: &str, resource: &str) -> ActionError
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

/// The outcome of one change call: its error classified (`permission` is the IAM action it
/// needs, `resource` what it acts on), or the call in words with the request id AWS gave it.
pub(super) fn applied<O, E, R>(
    sent: Result<O, SdkError<E, R>>,
    permission: &str,
    resource: &str,
    call: String,
) -> Result<Applied, ActionError>
where
    O: RequestId,
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let out = sent.map_err(|e| classify(&e, permission, resource))?;
    Ok(Applied::one(call, out.request_id()))
}

/// Whether the error says the thing read does not exist (no policy, no configuration…).
pub(crate) fn is_absent<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>, codes: &[&str]) -> bool {
    err.as_service_error()
        .and_then(ProvideErrorMetadata::code)
        .is_some_and(|c| codes.contains(&c))
}

/// A policy document as IAM (URL-encoded) or S3 returns it, parsed.
pub(super) fn decode_policy(text: &str) -> Result<Value, ActionError> {
    let decoded = percent_encoding::percent_decode_str(text).decode_utf8_lossy();
    serde_json::from_str(&decoded)
        .or_else(|_| serde_json::from_str(text))
        .map_err(|e| ActionError::Other(format!("AWS returned a policy that is not JSON ({e}): {text}")))
}

/// A date as RFC 3339 text.
pub(super) fn date(d: Option<&aws_smithy_types::DateTime>) -> Option<String> {
    d.and_then(|d| d.fmt(aws_smithy_types::date_time::Format::DateTime).ok())
}

/// The S3 document a stored state keeps, to send back byte for byte.
pub(super) fn stored_xml(xml: Option<&str>) -> Result<Arc<Vec<u8>>, ActionError> {
    xml.map(|x| Arc::new(x.as_bytes().to_vec())).ok_or_else(|| {
        ActionError::Refused("the stored before-state holds no S3 document to put back".to_owned())
    })
}

/// The AWS configuration the settings name, and its region (required). No call is made.
pub(crate) async fn load_config(
    settings: &AwsSettings,
) -> Result<(aws_config::SdkConfig, String), ActionError> {
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
    Ok((conf, region))
}

/// An S3 client for the configuration: path-style when the endpoint is given on purpose (moto).
pub(crate) fn s3_client(conf: &aws_config::SdkConfig, settings: &AwsSettings) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(conf)
            .force_path_style(settings.endpoint_url.is_some())
            .build(),
    )
}

/// An S3 client with a runtime of its own, for callers that are synchronous (seals, a shared
/// case). No call is made.
pub(crate) fn blocking_s3(
    settings: &AwsSettings,
) -> Result<(tokio::runtime::Runtime, aws_sdk_s3::Client), String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the AWS client: {e}"))?;
    let (conf, _) = runtime
        .block_on(load_config(settings))
        .map_err(|e| e.to_string())?;
    let s3 = s3_client(&conf, settings);
    Ok((runtime, s3))
}

impl Aws {
    /// Loads the AWS configuration (the standard chain, then the settings). No call is made.
    pub async fn connect(settings: &AwsSettings) -> Result<Aws, ActionError> {
        let (conf, region) = load_config(settings).await?;
        // S3 Control puts the account id in front of the host (`123456789012.s3-control…`); an
        // endpoint given on purpose (moto) is used as it is, the account going in its header.
        let mut s3control = aws_sdk_s3control::config::Builder::from(&conf);
        if let Some(e) = &settings.endpoint_url {
            s3control = s3control.endpoint_resolver(FixedEndpoint(e.clone()));
        }
        Ok(Aws {
            s3: s3_client(&conf, settings),
            s3control: aws_sdk_s3control::Client::from_conf(s3control.build()),
            iam: aws_sdk_iam::Client::new(&conf),
            ec2: aws_sdk_ec2::Client::new(&conf),
            sts: aws_sdk_sts::Client::new(&conf),
            region,
            endpoint: settings.endpoint_url.clone(),
        })
    }

    /// An absent inline policy or login profile is a state; an absent user is an error.
    pub(super) async fn require_user(&self, user: &str) -> Result<(), ActionError> {
        self.iam
            .get_user()
            .user_name(user)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify(&e, "iam:GetUser", &format!("user {user}")))
    }

    pub(super) async fn require_role(&self, role: &str) -> Result<(), ActionError> {
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
        match p.op().imp {
            Implementation::Read(r) => r.read(self, p).await,
            Implementation::Change(c) => c.read(self, p).await,
        }
    }

    /// Makes the change of `p` as planned.
    pub async fn apply(&self, p: &Params<'_>, plan: &Plan) -> Result<Applied, ActionError> {
        match p.op().imp {
            Implementation::Change(c) => c.apply(self, p, plan).await,
            Implementation::Read(_) => Err(ActionError::Other(format!("`{}` changes nothing", p.op().name))),
        }
    }

    /// Puts the stored before-state of `p` back.
    pub async fn restore(&self, p: &Params<'_>, before: &Snapshot) -> Result<Applied, ActionError> {
        match p.op().imp {
            Implementation::Change(c) => c.restore(self, p, before).await,
            Implementation::Read(_) => Err(ActionError::Other(format!("`{}` has no rollback", p.op().name))),
        }
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
