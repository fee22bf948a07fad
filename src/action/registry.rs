//! The registry of typed AWS operations (see `docs/actions.md`). A playbook's `aws:` names one of
//! these; the validator checks its parameters against `params`. Each operation's spec lives in
//! its family's file under `ops/` with its implementation; this file lists them. Operation names are
//! `<service>.<verb_object>` in snake case; `api` is the AWS API call, `cloudtrail_event` the event
//! name the call leaves in `CloudTrail` (which is what verification queries look for — e.g. S3's
//! `PutPublicAccessBlock` is logged as `PutBucketPublicAccessBlock`).

use std::fmt::Write as _;
use std::net::IpAddr;

use super::ops::{self, ChangeOp, ReadOp};

/// What an operation does to the account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Reads only; its output is stored as evidence. Runs without confirmation.
    ReadOnly,
    /// Changes the account and may cut off legitimate access: typed confirmation by default.
    Destructive,
}

/// The type of an operation parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamKind {
    BucketName,
    AccountId,
    UserName,
    RoleName,
    AccessKeyId,
    InstanceId,
    /// Any principal ARN (user, role, assumed-role session, root).
    Arn,
    ArnList,
    AccountIdList,
    /// IPv4/IPv6 addresses or CIDR blocks.
    IpCidrList,
    Text,
}

impl ParamKind {
    pub fn is_list(self) -> bool {
        matches!(
            self,
            ParamKind::ArnList | ParamKind::AccountIdList | ParamKind::IpCidrList
        )
    }

    /// What one value and several are called, as a responder counts them (`3 access keys`).
    pub fn noun(self) -> (&'static str, &'static str) {
        match self {
            ParamKind::BucketName => ("bucket", "buckets"),
            ParamKind::AccountId | ParamKind::AccountIdList => ("account", "accounts"),
            ParamKind::UserName => ("user", "users"),
            ParamKind::RoleName => ("role", "roles"),
            ParamKind::AccessKeyId => ("access key", "access keys"),
            ParamKind::InstanceId => ("instance", "instances"),
            ParamKind::Arn | ParamKind::ArnList => ("principal", "principals"),
            ParamKind::IpCidrList => ("address", "addresses"),
            ParamKind::Text => ("item", "items"),
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            ParamKind::BucketName => "an S3 bucket name",
            ParamKind::AccountId => "a 12-digit AWS account id",
            ParamKind::UserName => "an IAM user name",
            ParamKind::RoleName => "an IAM role name",
            ParamKind::AccessKeyId => "an access key id (AKIA… or ASIA…)",
            ParamKind::InstanceId => "an EC2 instance id (i-…)",
            ParamKind::Arn => "an ARN",
            ParamKind::ArnList => "a list of ARNs",
            ParamKind::AccountIdList => "a list of 12-digit AWS account ids",
            ParamKind::IpCidrList => "a list of IP addresses or CIDR blocks",
            ParamKind::Text => "text",
        }
    }

    /// What one value is: for list kinds, one item.
    fn describe_one(self) -> &'static str {
        match self {
            ParamKind::ArnList => ParamKind::Arn.describe(),
            ParamKind::AccountIdList => ParamKind::AccountId.describe(),
            ParamKind::IpCidrList => "an IP address or CIDR block",
            other => other.describe(),
        }
    }

    /// Checks one literal value (one item, for list kinds).
    pub fn check(self, value: &str) -> Result<(), String> {
        let ok = match self {
            ParamKind::BucketName => {
                (3..=63).contains(&value.len())
                    && value
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
                    && value.starts_with(|c: char| c.is_ascii_alphanumeric())
                    && value.ends_with(|c: char| c.is_ascii_alphanumeric())
            }
            ParamKind::AccountId | ParamKind::AccountIdList => {
                value.len() == 12 && value.chars().all(|c| c.is_ascii_digit())
            }
            ParamKind::UserName | ParamKind::RoleName => {
                (1..=64).contains(&value.len())
                    && value
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c))
            }
            ParamKind::AccessKeyId => {
                value.len() == 20
                    && (value.starts_with("AKIA") || value.starts_with("ASIA"))
                    && value
                        .chars()
                        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
            }
            ParamKind::InstanceId => value
                .strip_prefix("i-")
                .is_some_and(|h| (8..=17).contains(&h.len()) && h.chars().all(|c| c.is_ascii_hexdigit())),
            ParamKind::Arn | ParamKind::ArnList => is_arn(value),
            ParamKind::IpCidrList => {
                let (ip, bits) = value.split_once('/').map_or((value, None), |(a, b)| (a, Some(b)));
                ip.parse::<IpAddr>().is_ok_and(|addr| {
                    let max = if addr.is_ipv4() { 32 } else { 128 };
                    bits.is_none_or(|b| b.parse::<u8>().is_ok_and(|n| n <= max))
                })
            }
            ParamKind::Text => true,
        };
        if ok {
            Ok(())
        } else {
            Err(format!("`{value}` is not {}", self.describe_one()))
        }
    }
}

/// `arn:partition:service:region:account:resource`, with only the characters ARNs use: a quote,
/// a brace, a space or a shell character can never be part of one.
fn is_arn(value: &str) -> bool {
    let parts: Vec<&str> = value.splitn(6, ':').collect();
    let word = |s: &str| {
        s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    };
    parts.len() == 6
        && parts[0] == "arn"
        && !parts[1].is_empty()
        && word(parts[1])
        && !parts[2].is_empty()
        && word(parts[2])
        && word(parts[3])
        && (parts[4].is_empty()
            || parts[4] == "aws"
            || (parts[4].len() == 12 && parts[4].chars().all(|c| c.is_ascii_digit())))
        && !parts[5].is_empty()
        && parts[5]
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+=,.@_/:-*".contains(c))
}

/// One parameter of an operation.
#[derive(Debug, Clone, Copy)]
pub struct ParamSpec {
    pub name: &'static str,
    pub kind: ParamKind,
    pub required: bool,
    pub description: &'static str,
}

/// How an operation runs: a read stored as evidence, or a change with its before-state, plan,
/// checks and restore.
#[derive(Clone, Copy)]
pub enum Implementation {
    Read(&'static dyn ReadOp),
    Change(&'static dyn ChangeOp),
}

impl std::fmt::Debug for Implementation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Implementation::Read(_) => "Read",
            Implementation::Change(_) => "Change",
        })
    }
}

/// A typed AWS operation a playbook can name.
#[derive(Debug, Clone, Copy)]
pub struct AwsOperation {
    pub name: &'static str,
    pub summary: &'static str,
    /// The AWS API call, `service:Operation`.
    pub api: &'static str,
    /// The event name this call leaves in `CloudTrail`.
    pub cloudtrail_event: &'static str,
    pub params: &'static [ParamSpec],
    /// At least one of these parameters must be given.
    pub require_any: &'static [&'static str],
    /// The parameter naming the resource that changes; with `confirm: typed` the responder types it.
    pub target: &'static str,
    /// The read call that captures the before-state, stored as a case artifact before the change.
    pub before_state: Option<&'static str>,
    /// How the change is undone from the stored before-state.
    pub rollback: Option<&'static str>,
    /// The IAM actions irp needs for it: the reads (before-state, verification), the change and
    /// its rollback.
    pub permissions: &'static [&'static str],
    pub imp: Implementation,
}

impl AwsOperation {
    pub fn param(&self, name: &str) -> Option<&'static ParamSpec> {
        self.params.iter().find(|p| p.name == name)
    }

    /// What it does to the account: a read changes nothing.
    pub fn effect(&self) -> Effect {
        match self.imp {
            Implementation::Read(_) => Effect::ReadOnly,
            Implementation::Change(_) => Effect::Destructive,
        }
    }

    pub fn is_read_only(&self) -> bool {
        self.effect() == Effect::ReadOnly
    }
}

pub(crate) const fn p(name: &'static str, kind: ParamKind, description: &'static str) -> ParamSpec {
    ParamSpec {
        name,
        kind,
        required: true,
        description,
    }
}

pub(crate) const fn opt(name: &'static str, kind: ParamKind, description: &'static str) -> ParamSpec {
    ParamSpec {
        name,
        kind,
        required: false,
        description,
    }
}

pub(crate) const BUCKET: ParamSpec = p("bucket", ParamKind::BucketName, "the bucket");
pub(crate) const ACCOUNT: ParamSpec = p("account_id", ParamKind::AccountId, "the account");
pub(crate) const USER: ParamSpec = p("user_name", ParamKind::UserName, "the IAM user");
pub(crate) const ROLE: ParamSpec = p("role_name", ParamKind::RoleName, "the IAM role");

/// A read-only operation: its state is stored as evidence, and it runs without confirmation.
#[allow(clippy::too_many_arguments)] // one per field of the spec, read in the registry's order
pub(crate) const fn evidence(
    name: &'static str,
    summary: &'static str,
    api: &'static str,
    event: &'static str,
    params: &'static [ParamSpec],
    target: &'static str,
    permissions: &'static [&'static str],
    imp: &'static dyn ReadOp,
) -> AwsOperation {
    AwsOperation {
        name,
        summary,
        api,
        cloudtrail_event: event,
        params,
        require_any: &[],
        target,
        before_state: None,
        rollback: None,
        permissions,
        imp: Implementation::Read(imp),
    }
}

/// Every operation, in the order the docs list them. Adding one: its file under `ops/`, and its
/// line here.
static OPERATIONS: &[&AwsOperation] = &[
    &ops::bucket_policy::GET,
    &ops::bucket_policy::GET_STATUS,
    &ops::bucket_policy::VERIFY_ACCOUNTS,
    &ops::bucket_acl::GET,
    &ops::public_access_block::GET_BUCKET,
    &ops::public_access_block::GET_ACCOUNT,
    &ops::ownership::GET,
    &ops::bucket_config::GET_REPLICATION,
    &ops::bucket_config::GET_NOTIFICATIONS,
    &ops::bucket_config::GET_LIFECYCLE,
    &ops::access_key::LIST,
    &ops::access_key::GET_LAST_USED,
    &ops::role::GET,
    &ops::access_key::DEACTIVATE,
    &ops::user::DENY_ALL,
    &ops::user::DELETE_LOGIN_PROFILE,
    &ops::role::REVOKE_SESSIONS,
    &ops::role::REMOVE_TRUSTED_PRINCIPAL,
    &ops::public_access_block::BLOCK_BUCKET,
    &ops::public_access_block::BLOCK_ACCOUNT,
    &ops::bucket_policy::ADD_DENY,
    &ops::bucket_policy::REMOVE_ACCOUNT,
    &ops::bucket_policy::DELETE,
    &ops::bucket_acl::MAKE_PRIVATE,
    &ops::ownership::ENFORCE,
    &ops::instance_metadata::REQUIRE_IMDSV2,
    &ops::bucket_config::DELETE_REPLICATION,
    &ops::bucket_config::CLEAR_NOTIFICATIONS,
    &ops::bucket_config::DELETE_LIFECYCLE,
];

/// Every registered operation, in registry order.
pub fn operations() -> &'static [&'static AwsOperation] {
    OPERATIONS
}

pub fn find_operation(name: &str) -> Option<&'static AwsOperation> {
    OPERATIONS.iter().copied().find(|op| op.name == name)
}

/// The registry as a Markdown table, for `docs/actions.md` (a test keeps the two equal).
pub fn markdown_table() -> String {
    let mut out = String::from(
        "| operation | what it does | parameters | AWS call | CloudTrail event | before-state | rollback | IAM permissions |\n|---|---|---|---|---|---|---|---|\n",
    );
    for op in OPERATIONS {
        let params: Vec<String> = op
            .params
            .iter()
            .map(|p| format!("`{}`{}", p.name, if p.required { "" } else { " (optional)" }))
            .collect();
        let mut params = params.join(", ");
        if !op.require_any.is_empty() {
            let _ = write!(params, "; at least one of {}", op.require_any.join(", "));
        }
        let kind = if op.is_read_only() {
            "read-only evidence: "
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "| `{}` | {kind}{} | {params} | `{}` | `{}` | {} | {} | {} |",
            op.name,
            op.summary,
            op.api,
            op.cloudtrail_event,
            op.before_state
                .map_or_else(|| "—".to_owned(), |b| format!("`{b}`")),
            op.rollback.unwrap_or("—"),
            op.permissions
                .iter()
                .map(|p| format!("`{p}`"))
                .collect::<Vec<_>>()
                .join(", "),
        );
    }
    out
}
