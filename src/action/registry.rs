//! The registry of typed AWS operations (see `docs/actions.md`). A playbook's `aws:` names one of
//! these; the validator checks its parameters against `params`. Operation names are
//! `<service>.<verb_object>` in snake case; `api` is the AWS API call, `cloudtrail_event` the event
//! name the call leaves in `CloudTrail` (which is what verification queries look for — e.g. S3's
//! `PutPublicAccessBlock` is logged as `PutBucketPublicAccessBlock`).

use std::fmt::Write as _;
use std::net::IpAddr;

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

/// A typed AWS operation a playbook can name.
#[derive(Debug, Clone, Copy)]
pub struct AwsOperation {
    pub name: &'static str,
    pub summary: &'static str,
    /// The AWS API call, `service:Operation`.
    pub api: &'static str,
    /// The event name this call leaves in `CloudTrail`.
    pub cloudtrail_event: &'static str,
    pub effect: Effect,
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
}

impl AwsOperation {
    pub fn param(&self, name: &str) -> Option<&'static ParamSpec> {
        self.params.iter().find(|p| p.name == name)
    }

    pub fn is_read_only(&self) -> bool {
        self.effect == Effect::ReadOnly
    }
}

const fn p(name: &'static str, kind: ParamKind, description: &'static str) -> ParamSpec {
    ParamSpec {
        name,
        kind,
        required: true,
        description,
    }
}

const fn opt(name: &'static str, kind: ParamKind, description: &'static str) -> ParamSpec {
    ParamSpec {
        name,
        kind,
        required: false,
        description,
    }
}

const BUCKET: ParamSpec = p("bucket", ParamKind::BucketName, "the bucket");
const ACCOUNT: ParamSpec = p("account_id", ParamKind::AccountId, "the account");
const USER: ParamSpec = p("user_name", ParamKind::UserName, "the IAM user");
const ROLE: ParamSpec = p("role_name", ParamKind::RoleName, "the IAM role");

const fn read(
    name: &'static str,
    summary: &'static str,
    api: &'static str,
    event: &'static str,
    params: &'static [ParamSpec],
    target: &'static str,
    permissions: &'static [&'static str],
) -> AwsOperation {
    AwsOperation {
        name,
        summary,
        api,
        cloudtrail_event: event,
        effect: Effect::ReadOnly,
        params,
        require_any: &[],
        target,
        before_state: None,
        rollback: None,
        permissions,
    }
}

static OPERATIONS: &[AwsOperation] = &[
    // Evidence: read-only, run without confirmation, output stored as evidence.
    read(
        "s3.get_bucket_policy",
        "Read the bucket policy",
        "s3:GetBucketPolicy",
        "GetBucketPolicy",
        &[BUCKET],
        "bucket",
        &["s3:GetBucketPolicy"],
    ),
    read(
        "s3.get_bucket_policy_status",
        "Read whether the bucket policy makes the bucket public",
        "s3:GetBucketPolicyStatus",
        "GetBucketPolicyStatus",
        &[BUCKET],
        "bucket",
        &["s3:GetBucketPolicyStatus"],
    ),
    read(
        "s3.get_bucket_acl",
        "Read the bucket ACL",
        "s3:GetBucketAcl",
        "GetBucketAcl",
        &[BUCKET],
        "bucket",
        &["s3:GetBucketAcl"],
    ),
    read(
        "s3.get_public_access_block",
        "Read the bucket's Block Public Access settings",
        "s3:GetPublicAccessBlock",
        "GetBucketPublicAccessBlock",
        &[BUCKET],
        "bucket",
        &["s3:GetBucketPublicAccessBlock"],
    ),
    read(
        "s3control.get_public_access_block",
        "Read the account's Block Public Access settings",
        "s3control:GetPublicAccessBlock",
        "GetAccountPublicAccessBlock",
        &[ACCOUNT],
        "account_id",
        &["s3:GetAccountPublicAccessBlock"],
    ),
    read(
        "s3.get_bucket_ownership_controls",
        "Read the bucket's object ownership setting",
        "s3:GetBucketOwnershipControls",
        "GetBucketOwnershipControls",
        &[BUCKET],
        "bucket",
        &["s3:GetBucketOwnershipControls"],
    ),
    read(
        "s3.get_bucket_replication",
        "Read the bucket's replication rules",
        "s3:GetBucketReplication",
        "GetBucketReplication",
        &[BUCKET],
        "bucket",
        &["s3:GetReplicationConfiguration"],
    ),
    read(
        "s3.get_bucket_notification_configuration",
        "Read the bucket's event notifications",
        "s3:GetBucketNotificationConfiguration",
        "GetBucketNotification",
        &[BUCKET],
        "bucket",
        &["s3:GetBucketNotification"],
    ),
    read(
        "s3.get_bucket_lifecycle_configuration",
        "Read the bucket's lifecycle rules",
        "s3:GetBucketLifecycleConfiguration",
        "GetBucketLifecycle",
        &[BUCKET],
        "bucket",
        &["s3:GetLifecycleConfiguration"],
    ),
    read(
        "iam.list_access_keys",
        "List a user's access keys",
        "iam:ListAccessKeys",
        "ListAccessKeys",
        &[USER],
        "user_name",
        &["iam:ListAccessKeys"],
    ),
    read(
        "iam.get_access_key_last_used",
        "Read when and where an access key was last used",
        "iam:GetAccessKeyLastUsed",
        "GetAccessKeyLastUsed",
        &[p("access_key_id", ParamKind::AccessKeyId, "the access key")],
        "access_key_id",
        &["iam:GetAccessKeyLastUsed"],
    ),
    read(
        "iam.get_role",
        "Read a role and its trust policy",
        "iam:GetRole",
        "GetRole",
        &[ROLE],
        "role_name",
        &["iam:GetRole"],
    ),
    // Containment: credentials.
    AwsOperation {
        name: "iam.deactivate_access_key",
        summary: "Deactivate (not delete) a long-term access key, keeping its id searchable in logs",
        api: "iam:UpdateAccessKey",
        cloudtrail_event: "UpdateAccessKey",
        effect: Effect::Destructive,
        params: &[
            USER,
            p(
                "access_key_id",
                ParamKind::AccessKeyId,
                "the access key to deactivate",
            ),
        ],
        require_any: &[],
        target: "access_key_id",
        before_state: Some("iam:ListAccessKeys"),
        rollback: Some("iam:UpdateAccessKey with Status=Active"),
        permissions: &["iam:ListAccessKeys", "iam:UpdateAccessKey"],
    },
    AwsOperation {
        name: "iam.put_user_deny_all_policy",
        summary: "Attach an inline deny-all policy to a user (a console password cannot be deactivated)",
        api: "iam:PutUserPolicy",
        cloudtrail_event: "PutUserPolicy",
        effect: Effect::Destructive,
        params: &[
            USER,
            opt(
                "policy_name",
                ParamKind::Text,
                "name of the inline policy (default irp-deny-all)",
            ),
        ],
        require_any: &[],
        target: "user_name",
        before_state: Some("iam:ListUserPolicies"),
        rollback: Some("iam:DeleteUserPolicy"),
        permissions: &[
            "iam:GetUser",
            "iam:GetUserPolicy",
            "iam:PutUserPolicy",
            "iam:DeleteUserPolicy",
        ],
    },
    AwsOperation {
        name: "iam.delete_login_profile",
        summary: "Remove a user's console password",
        api: "iam:DeleteLoginProfile",
        cloudtrail_event: "DeleteLoginProfile",
        effect: Effect::Destructive,
        params: &[USER],
        require_any: &[],
        target: "user_name",
        before_state: Some("iam:GetLoginProfile"),
        rollback: Some("iam:CreateLoginProfile with a new password that must be reset"),
        permissions: &[
            "iam:GetUser",
            "iam:GetLoginProfile",
            "iam:DeleteLoginProfile",
            "iam:CreateLoginProfile",
        ],
    },
    AwsOperation {
        name: "iam.revoke_role_sessions",
        summary: "Deny every session of a role issued before now (aws:TokenIssueTime), as the console's \"Revoke active sessions\"",
        api: "iam:PutRolePolicy",
        cloudtrail_event: "PutRolePolicy",
        effect: Effect::Destructive,
        params: &[ROLE],
        require_any: &[],
        target: "role_name",
        before_state: Some("iam:GetRolePolicy AWSRevokeOlderSessions"),
        rollback: Some("iam:DeleteRolePolicy AWSRevokeOlderSessions, or put back the saved one"),
        permissions: &[
            "iam:GetRole",
            "iam:GetRolePolicy",
            "iam:PutRolePolicy",
            "iam:DeleteRolePolicy",
        ],
    },
    AwsOperation {
        name: "iam.remove_role_trust_principal",
        summary: "Remove a principal from a role's trust policy (sessions already issued stay valid: revoke them too)",
        api: "iam:UpdateAssumeRolePolicy",
        cloudtrail_event: "UpdateAssumeRolePolicy",
        effect: Effect::Destructive,
        params: &[
            ROLE,
            p(
                "principal",
                ParamKind::Text,
                "the principal (ARN, account id or service) to remove",
            ),
        ],
        require_any: &[],
        target: "role_name",
        before_state: Some("iam:GetRole"),
        rollback: Some("iam:UpdateAssumeRolePolicy with the saved trust policy"),
        permissions: &["iam:GetRole", "iam:UpdateAssumeRolePolicy"],
    },
    // Containment: the bucket.
    AwsOperation {
        name: "s3.put_public_access_block",
        summary: "Turn on all four Block Public Access settings for the bucket",
        api: "s3:PutPublicAccessBlock",
        cloudtrail_event: "PutBucketPublicAccessBlock",
        effect: Effect::Destructive,
        params: &[BUCKET],
        require_any: &[],
        target: "bucket",
        before_state: Some("s3:GetPublicAccessBlock"),
        rollback: Some(
            "s3:PutPublicAccessBlock with the saved settings, or s3:DeletePublicAccessBlock if there were none",
        ),
        permissions: &["s3:GetBucketPublicAccessBlock", "s3:PutBucketPublicAccessBlock"],
    },
    AwsOperation {
        name: "s3control.put_public_access_block",
        summary: "Turn on all four Block Public Access settings for the whole account",
        api: "s3control:PutPublicAccessBlock",
        cloudtrail_event: "PutAccountPublicAccessBlock",
        effect: Effect::Destructive,
        params: &[ACCOUNT],
        require_any: &[],
        target: "account_id",
        before_state: Some("s3control:GetPublicAccessBlock"),
        rollback: Some(
            "s3control:PutPublicAccessBlock with the saved settings, or s3control:DeletePublicAccessBlock",
        ),
        permissions: &["s3:GetAccountPublicAccessBlock", "s3:PutAccountPublicAccessBlock"],
    },
    AwsOperation {
        name: "s3.add_bucket_policy_deny",
        summary: "Add a Deny s3:* statement for principals, accounts or source IPs to the bucket policy, merged into the existing policy (never replacing it)",
        api: "s3:PutBucketPolicy",
        cloudtrail_event: "PutBucketPolicy",
        effect: Effect::Destructive,
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
        target: "bucket",
        before_state: Some("s3:GetBucketPolicy"),
        rollback: Some(
            "s3:PutBucketPolicy with the saved policy, or s3:DeleteBucketPolicy if there was none",
        ),
        permissions: &[
            "s3:GetBucketPolicy",
            "s3:PutBucketPolicy",
            "s3:DeleteBucketPolicy",
        ],
    },
    AwsOperation {
        name: "s3.delete_bucket_policy",
        summary: "Delete the bucket policy (may break legitimate cross-account access)",
        api: "s3:DeleteBucketPolicy",
        cloudtrail_event: "DeleteBucketPolicy",
        effect: Effect::Destructive,
        params: &[BUCKET],
        require_any: &[],
        target: "bucket",
        before_state: Some("s3:GetBucketPolicy"),
        rollback: Some("s3:PutBucketPolicy with the saved policy"),
        permissions: &[
            "s3:GetBucketPolicy",
            "s3:DeleteBucketPolicy",
            "s3:PutBucketPolicy",
        ],
    },
    AwsOperation {
        name: "s3.put_bucket_acl_private",
        summary: "Set the bucket ACL to private (object ACLs are not changed)",
        api: "s3:PutBucketAcl",
        cloudtrail_event: "PutBucketAcl",
        effect: Effect::Destructive,
        params: &[BUCKET],
        require_any: &[],
        target: "bucket",
        before_state: Some("s3:GetBucketAcl"),
        rollback: Some("s3:PutBucketAcl with the saved access control policy"),
        permissions: &["s3:GetBucketAcl", "s3:PutBucketAcl"],
    },
    AwsOperation {
        name: "s3.enforce_bucket_owner",
        summary: "Set object ownership to BucketOwnerEnforced, which disables every ACL on the bucket",
        api: "s3:PutBucketOwnershipControls",
        cloudtrail_event: "PutBucketOwnershipControls",
        effect: Effect::Destructive,
        params: &[BUCKET],
        require_any: &[],
        target: "bucket",
        before_state: Some("s3:GetBucketOwnershipControls"),
        rollback: Some(
            "s3:PutBucketOwnershipControls with the saved rule, or s3:DeleteBucketOwnershipControls",
        ),
        permissions: &["s3:GetBucketOwnershipControls", "s3:PutBucketOwnershipControls"],
    },
    AwsOperation {
        name: "ec2.require_imdsv2",
        summary: "Require IMDSv2 session tokens on an instance (stops SSRF credential theft through IMDSv1)",
        api: "ec2:ModifyInstanceMetadataOptions",
        cloudtrail_event: "ModifyInstanceMetadataOptions",
        effect: Effect::Destructive,
        params: &[p("instance_id", ParamKind::InstanceId, "the instance")],
        require_any: &[],
        target: "instance_id",
        before_state: Some("ec2:DescribeInstances (MetadataOptions)"),
        rollback: Some("ec2:ModifyInstanceMetadataOptions with the saved HttpTokens setting"),
        permissions: &["ec2:DescribeInstances", "ec2:ModifyInstanceMetadataOptions"],
    },
    // Eradication: persistence paths.
    AwsOperation {
        name: "s3.delete_bucket_replication",
        summary: "Remove the bucket's replication rules (a path to copy data out)",
        api: "s3:DeleteBucketReplication",
        cloudtrail_event: "DeleteBucketReplication",
        effect: Effect::Destructive,
        params: &[BUCKET],
        require_any: &[],
        target: "bucket",
        before_state: Some("s3:GetBucketReplication"),
        rollback: Some("s3:PutBucketReplication with the saved configuration"),
        permissions: &[
            "s3:GetReplicationConfiguration",
            "s3:PutReplicationConfiguration",
            "iam:PassRole",
        ],
    },
    AwsOperation {
        name: "s3.clear_bucket_notifications",
        summary: "Remove every event notification of the bucket (a path to trigger exfiltration)",
        api: "s3:PutBucketNotificationConfiguration",
        cloudtrail_event: "PutBucketNotification",
        effect: Effect::Destructive,
        params: &[BUCKET],
        require_any: &[],
        target: "bucket",
        before_state: Some("s3:GetBucketNotificationConfiguration"),
        rollback: Some("s3:PutBucketNotificationConfiguration with the saved configuration"),
        permissions: &["s3:GetBucketNotification", "s3:PutBucketNotification"],
    },
    AwsOperation {
        name: "s3.delete_bucket_lifecycle",
        summary: "Remove the bucket's lifecycle rules (a path to destroy data early)",
        api: "s3:DeleteBucketLifecycle",
        cloudtrail_event: "DeleteBucketLifecycle",
        effect: Effect::Destructive,
        params: &[BUCKET],
        require_any: &[],
        target: "bucket",
        before_state: Some("s3:GetBucketLifecycleConfiguration"),
        rollback: Some("s3:PutBucketLifecycleConfiguration with the saved rules"),
        permissions: &["s3:GetLifecycleConfiguration", "s3:PutLifecycleConfiguration"],
    },
];

/// Every registered operation, in registry order.
pub fn operations() -> &'static [AwsOperation] {
    OPERATIONS
}

pub fn find_operation(name: &str) -> Option<&'static AwsOperation> {
    OPERATIONS.iter().find(|op| op.name == name)
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
