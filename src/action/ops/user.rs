//! An IAM user: an inline deny-all policy (a console password cannot be deactivated) and the
//! console password itself, removed and, on rollback, recreated with a reset required.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Change, Check, Resource, Verdict, or_none};
use crate::action::aws::{ActionError, Applied, Aws, applied, classify, date, decode_policy, is_absent};
use crate::action::plan::{DENY_ALL_POLICY, Params, Plan};
use crate::action::policy;
use crate::action::registry::{AwsOperation, Implementation};
use crate::action::registry::{ParamKind, USER, opt};

/// A user's inline policy of the name irp writes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct UserPolicy {
    pub user_name: String,
    pub policy_name: Option<String>,
    /// `None` when the user has no inline policy of that name.
    pub document: Option<Value>,
}

impl UserPolicy {
    fn document(&self) -> Option<&Value> {
        self.document.as_ref().filter(|d| !d.is_null())
    }
}

/// The inline policy's name: the parameter, or irp's default.
fn policy_name(p: &Params<'_>) -> String {
    p.opt("policy_name").unwrap_or_else(|| DENY_ALL_POLICY.to_owned())
}

#[async_trait]
impl Resource for UserPolicy {
    async fn read(aws: &Aws, p: &Params<'_>) -> Result<UserPolicy, ActionError> {
        let user = p.str("user_name");
        let name = policy_name(p);
        let document = match aws
            .iam
            .get_user_policy()
            .user_name(&user)
            .policy_name(&name)
            .send()
            .await
        {
            Ok(out) => Some(decode_policy(out.policy_document())?),
            Err(e) if is_absent(&e, &["NoSuchEntity"]) => {
                // No such policy, or no such user: the user must exist to be contained.
                aws.require_user(&user).await?;
                None
            }
            Err(e) => return Err(classify(&e, "iam:GetUserPolicy", &format!("user {user}"))),
        };
        Ok(UserPolicy {
            user_name: user,
            policy_name: Some(name),
            document,
        })
    }
}

/// `iam.put_user_deny_all_policy`.
#[derive(Debug)]
pub struct DenyAll;

impl DenyAll {
    /// Puts `document` as the user's inline policy `name`; `what` names it in errors.
    async fn put(
        aws: &Aws,
        (user, name, what): (&str, &str, &str),
        document: String,
        call: String,
    ) -> Result<Applied, ActionError> {
        let sent = aws
            .iam
            .put_user_policy()
            .user_name(user)
            .policy_name(name)
            .policy_document(document)
            .send()
            .await;
        applied(sent, "iam:PutUserPolicy", what, call)
    }
}

#[async_trait]
impl Change for DenyAll {
    type Resource = UserPolicy;

    fn plan(&self, p: &Params<'_>, before: &UserPolicy, _now: &str, _tag: &str) -> Result<Plan, ActionError> {
        let doc = policy::deny_all();
        let name = policy_name(p);
        let mut plan = Plan::new(
            format!(
                "iam:PutUserPolicy UserName={} PolicyName={name} PolicyDocument={doc}",
                p.str("user_name")
            ),
            policy::diff(before.document(), Some(&doc)),
        );
        if before.document.as_ref() == Some(&doc) {
            plan.already = Some(format!("the user already has the deny-all policy {name}"));
        }
        plan.request = doc;
        Ok(plan)
    }

    async fn apply(&self, aws: &Aws, p: &Params<'_>, plan: &Plan) -> Result<Applied, ActionError> {
        let doc = plan.request.to_string();
        let (user, name) = (p.str("user_name"), policy_name(p));
        Self::put(aws, (&user, &name, "the user"), doc, plan.call()).await
    }

    fn check_applied(&self, c: &Check<'_, '_, UserPolicy>) -> Verdict {
        let after = c.after;
        if after.document.as_ref() == Some(&policy::deny_all()) {
            Verdict::Holds(format!(
                "inline policy {} denies everything",
                or_none(after.policy_name.as_deref())
            ))
        } else {
            Verdict::Fails("the user's inline policy is not the deny-all document".to_owned())
        }
    }

    async fn restore(&self, aws: &Aws, p: &Params<'_>, before: &UserPolicy) -> Result<Applied, ActionError> {
        let user = p.str("user_name");
        let name = before.policy_name.as_deref().unwrap_or(DENY_ALL_POLICY);
        let Some(document) = before.document() else {
            let sent = aws
                .iam
                .delete_user_policy()
                .user_name(&user)
                .policy_name(name)
                .send()
                .await;
            return applied(
                sent,
                "iam:DeleteUserPolicy",
                "the user's policy",
                format!("iam:DeleteUserPolicy UserName={user} PolicyName={name}"),
            );
        };
        Self::put(
            aws,
            (&user, name, "the user's policy"),
            document.to_string(),
            format!("iam:PutUserPolicy UserName={user} PolicyName={name} (saved document)"),
        )
        .await
    }
}

/// `iam.put_user_deny_all_policy`.
pub static DENY_ALL: AwsOperation = AwsOperation {
    name: "iam.put_user_deny_all_policy",
    api: "iam:PutUserPolicy",
    cloudtrail_event: "PutUserPolicy",
    target: "user_name",
    summary: "Attach an inline deny-all policy to a user (a console password cannot be deactivated)",
    params: &[
        USER,
        opt(
            "policy_name",
            ParamKind::Text,
            "name of the inline policy (default irp-deny-all)",
        ),
    ],
    require_any: &[],
    permissions: &[
        "iam:GetUser",
        "iam:GetUserPolicy",
        "iam:PutUserPolicy",
        "iam:DeleteUserPolicy",
    ],
    before_state: Some("iam:ListUserPolicies"),
    rollback: Some("iam:DeleteUserPolicy"),
    imp: Implementation::Change(&DenyAll),
};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Profile {
    pub created: Option<String>,
    pub password_reset_required: bool,
}

/// A user's console password (only whether there is one, and when it was made).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LoginProfile {
    pub user_name: String,
    /// `None` when the user has no console password.
    pub login_profile: Option<Profile>,
}

#[async_trait]
impl Resource for LoginProfile {
    async fn read(aws: &Aws, p: &Params<'_>) -> Result<LoginProfile, ActionError> {
        let user = p.str("user_name");
        let login_profile = match aws.iam.get_login_profile().user_name(&user).send().await {
            Ok(out) => out.login_profile().map(|lp| Profile {
                created: date(Some(lp.create_date())),
                password_reset_required: lp.password_reset_required(),
            }),
            Err(e) if is_absent(&e, &["NoSuchEntity"]) => {
                aws.require_user(&user).await?;
                None
            }
            Err(e) => return Err(classify(&e, "iam:GetLoginProfile", &format!("user {user}"))),
        };
        Ok(LoginProfile {
            user_name: user,
            login_profile,
        })
    }
}

/// `iam.delete_login_profile`.
#[derive(Debug)]
pub struct DeleteLoginProfile;

#[async_trait]
impl Change for DeleteLoginProfile {
    type Resource = LoginProfile;

    fn plan(
        &self,
        p: &Params<'_>,
        before: &LoginProfile,
        _now: &str,
        _tag: &str,
    ) -> Result<Plan, ActionError> {
        let user = p.str("user_name");
        let mut plan = Plan::new(
            format!("iam:DeleteLoginProfile UserName={user}"),
            policy::diff_lines("console password: yes", "console password: no"),
        );
        if before.login_profile.is_none() {
            plan.already = Some(format!("user {user} has no console password"));
        }
        Ok(plan)
    }

    async fn apply(&self, aws: &Aws, p: &Params<'_>, plan: &Plan) -> Result<Applied, ActionError> {
        let sent = aws
            .iam
            .delete_login_profile()
            .user_name(p.str("user_name"))
            .send()
            .await;
        applied(
            sent,
            "iam:DeleteLoginProfile",
            "the user's console password",
            plan.call(),
        )
    }

    fn check_applied(&self, c: &Check<'_, '_, LoginProfile>) -> Verdict {
        let after = c.after;
        if after.login_profile.is_none() {
            Verdict::Holds("the user has no console password".to_owned())
        } else {
            Verdict::Fails("the user still has a console password".to_owned())
        }
    }

    /// A console password cannot be restored, only recreated: its presence is what returns.
    fn is_restored(&self, _p: &Params<'_>, before: &LoginProfile, after: &LoginProfile) -> bool {
        before.login_profile.is_none() == after.login_profile.is_none()
    }

    async fn restore(
        &self,
        aws: &Aws,
        p: &Params<'_>,
        before: &LoginProfile,
    ) -> Result<Applied, ActionError> {
        if before.login_profile.is_none() {
            return Ok(Applied::nothing("the user had no console password"));
        }
        let user = p.str("user_name");
        // The old password cannot be restored. A random one nobody knows, with a reset
        // required, brings console access back for an administrator to hand out.
        let sent = aws
            .iam
            .create_login_profile()
            .user_name(&user)
            .password(random_password()?)
            .password_reset_required(true)
            .send()
            .await;
        applied(
            sent,
            "iam:CreateLoginProfile",
            "the user",
            format!(
                "iam:CreateLoginProfile UserName={user} Password=<random, not stored> PasswordResetRequired=true"
            ),
        )
    }
}

/// `iam.delete_login_profile`.
pub static DELETE_LOGIN_PROFILE: AwsOperation = AwsOperation {
    name: "iam.delete_login_profile",
    api: "iam:DeleteLoginProfile",
    cloudtrail_event: "DeleteLoginProfile",
    target: "user_name",
    summary: "Remove a user's console password",
    params: &[USER],
    require_any: &[],
    permissions: &[
        "iam:GetUser",
        "iam:GetLoginProfile",
        "iam:DeleteLoginProfile",
        "iam:CreateLoginProfile",
    ],
    before_state: Some("iam:GetLoginProfile"),
    rollback: Some("iam:CreateLoginProfile with a new password that must be reset"),
    imp: Implementation::Change(&DeleteLoginProfile),
};

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
