//! An IAM role: its trust policy (read it, remove a principal from it, put the saved one back)
//! and the console's "Revoke active sessions" (an inline policy denying sessions issued before a
//! cut-off).

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::Evidence;
use super::{Change, Check, Resource, Verdict};
use crate::action::aws::{ActionError, Applied, Aws, applied, classify, decode_policy, is_absent};
use crate::action::plan::{Params, Plan, REVOKE_SESSIONS_POLICY};
use crate::action::policy;
use crate::action::registry::{AwsOperation, Implementation, evidence};
use crate::action::registry::{ParamKind, ROLE, p};

/// A role and its trust policy.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RoleTrust {
    pub role_name: String,
    pub arn: Option<String>,
    pub trust_policy: Option<Value>,
}

#[async_trait]
impl Resource for RoleTrust {
    async fn read(aws: &Aws, p: &Params<'_>) -> Result<RoleTrust, ActionError> {
        let role = p.str("role_name");
        let out = aws
            .iam
            .get_role()
            .role_name(&role)
            .send()
            .await
            .map_err(|e| classify(&e, "iam:GetRole", &format!("role {role}")))?;
        let r = out.role();
        let trust_policy = r
            .and_then(|r| r.assume_role_policy_document())
            .map(decode_policy)
            .transpose()?;
        Ok(RoleTrust {
            role_name: role,
            arn: r.map(|r| r.arn().to_owned()),
            trust_policy,
        })
    }
}

/// `iam.get_role`.
pub static GET: AwsOperation = evidence(
    "iam.get_role",
    "Read a role and its trust policy",
    "iam:GetRole",
    "GetRole",
    &[ROLE],
    "role_name",
    &["iam:GetRole"],
    &Evidence::<RoleTrust>::NEW,
);

/// `iam.remove_role_trust_principal`.
#[derive(Debug)]
pub struct RemoveTrustedPrincipal;

impl RemoveTrustedPrincipal {
    async fn update(aws: &Aws, role: &str, document: String, call: String) -> Result<Applied, ActionError> {
        let sent = aws
            .iam
            .update_assume_role_policy()
            .role_name(role)
            .policy_document(document)
            .send()
            .await;
        applied(sent, "iam:UpdateAssumeRolePolicy", "the role", call)
    }
}

#[async_trait]
impl Change for RemoveTrustedPrincipal {
    type Resource = RoleTrust;

    fn assumed(&self, p: &Params<'_>) -> RoleTrust {
        RoleTrust {
            trust_policy: Some(json!({ "Version": "2012-10-17", "Statement": [
                { "Effect": "Allow", "Principal": { "AWS": [p.str("principal"), "(the role's other principals)"] }, "Action": "sts:AssumeRole" }
            ]})),
            ..RoleTrust::default()
        }
    }

    fn plan(&self, p: &Params<'_>, before: &RoleTrust, _now: &str, _tag: &str) -> Result<Plan, ActionError> {
        let trust = before
            .trust_policy
            .as_ref()
            .filter(|t| !t.is_null())
            .ok_or_else(|| ActionError::Refused("the role's trust policy could not be read".to_owned()))?;
        let principal = p.str("principal");
        match policy::remove_principal(trust, &principal) {
            Ok((doc, _)) => {
                let mut plan = Plan::new(
                    format!(
                        "iam:UpdateAssumeRolePolicy RoleName={} PolicyDocument={doc}",
                        p.str("role_name")
                    ),
                    policy::diff(Some(trust), Some(&doc)),
                );
                plan.notes.push(
                    "sessions already issued stay valid: revoke them too (iam.revoke_role_sessions)"
                        .to_owned(),
                );
                plan.request = doc;
                Ok(plan)
            }
            Err(_) if !policy::names_principal(trust, &principal) => {
                let mut plan = Plan::empty();
                plan.already = Some(format!("`{principal}` is not in the role's trust policy"));
                plan.request = trust.clone();
                Ok(plan)
            }
            Err(e) => Err(ActionError::Refused(e)),
        }
    }

    async fn apply(&self, aws: &Aws, p: &Params<'_>, plan: &Plan) -> Result<Applied, ActionError> {
        Self::update(aws, &p.str("role_name"), plan.request.to_string(), plan.call()).await
    }

    fn check_applied(&self, c: &Check<'_, '_, RoleTrust>) -> Verdict {
        let p = c.p;
        let after = c.after;
        let principal = p.str("principal");
        let trust = after.trust_policy.clone().unwrap_or(Value::Null);
        if policy::names_principal(&trust, &principal) {
            Verdict::Fails(format!("the trust policy still names {principal}"))
        } else {
            Verdict::Holds(format!("the trust policy no longer names {principal}"))
        }
    }

    async fn restore(&self, aws: &Aws, p: &Params<'_>, before: &RoleTrust) -> Result<Applied, ActionError> {
        let role = p.str("role_name");
        let saved = before.trust_policy.clone().unwrap_or(Value::Null);
        Self::update(
            aws,
            &role,
            saved.to_string(),
            format!("iam:UpdateAssumeRolePolicy RoleName={role} (saved trust policy)"),
        )
        .await
    }
}

/// `iam.remove_role_trust_principal`.
pub static REMOVE_TRUSTED_PRINCIPAL: AwsOperation = AwsOperation {
    name: "iam.remove_role_trust_principal",
    api: "iam:UpdateAssumeRolePolicy",
    cloudtrail_event: "UpdateAssumeRolePolicy",
    target: "role_name",
    summary: "Remove a principal from a role's trust policy (sessions already issued stay valid: revoke them too)",
    params: &[
        ROLE,
        p(
            "principal",
            ParamKind::Text,
            "the principal (ARN, account id or service) to remove",
        ),
    ],
    require_any: &[],
    permissions: &["iam:GetRole", "iam:UpdateAssumeRolePolicy"],
    before_state: Some("iam:GetRole"),
    rollback: Some("iam:UpdateAssumeRolePolicy with the saved trust policy"),
    imp: Implementation::Change(&RemoveTrustedPrincipal),
};

/// The role's inline policy that revokes older sessions.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SessionPolicy {
    pub role_name: String,
    pub policy_name: String,
    /// `None` when the role has no such policy.
    pub document: Option<Value>,
}

#[async_trait]
impl Resource for SessionPolicy {
    async fn read(aws: &Aws, p: &Params<'_>) -> Result<SessionPolicy, ActionError> {
        let role = p.str("role_name");
        let document = match aws
            .iam
            .get_role_policy()
            .role_name(&role)
            .policy_name(REVOKE_SESSIONS_POLICY)
            .send()
            .await
        {
            Ok(out) => Some(decode_policy(out.policy_document())?),
            Err(e) if is_absent(&e, &["NoSuchEntity"]) => {
                aws.require_role(&role).await?;
                None
            }
            Err(e) => return Err(classify(&e, "iam:GetRolePolicy", &format!("role {role}"))),
        };
        Ok(SessionPolicy {
            role_name: role,
            policy_name: REVOKE_SESSIONS_POLICY.to_owned(),
            document,
        })
    }
}

/// `iam.revoke_role_sessions`.
#[derive(Debug)]
pub struct RevokeSessions;

impl RevokeSessions {
    async fn put(
        aws: &Aws,
        role: &str,
        document: String,
        (call, what): (String, &str),
    ) -> Result<Applied, ActionError> {
        let sent = aws
            .iam
            .put_role_policy()
            .role_name(role)
            .policy_name(REVOKE_SESSIONS_POLICY)
            .policy_document(document)
            .send()
            .await;
        applied(sent, "iam:PutRolePolicy", what, call)
    }
}

#[async_trait]
impl Change for RevokeSessions {
    type Resource = SessionPolicy;

    fn plan(
        &self,
        p: &Params<'_>,
        before: &SessionPolicy,
        now: &str,
        _tag: &str,
    ) -> Result<Plan, ActionError> {
        let doc = policy::revoke_older_sessions(now);
        let mut plan = Plan::new(
            format!(
                "iam:PutRolePolicy RoleName={} PolicyName={REVOKE_SESSIONS_POLICY} PolicyDocument={doc}",
                p.str("role_name")
            ),
            policy::diff(before.document.as_ref().filter(|d| !d.is_null()), Some(&doc)),
        );
        plan.notes.push(format!(
            "every session of the role issued before {now} is denied, legitimate ones too"
        ));
        plan.request = doc;
        Ok(plan)
    }

    async fn apply(&self, aws: &Aws, p: &Params<'_>, plan: &Plan) -> Result<Applied, ActionError> {
        let doc = plan.request.to_string();
        Self::put(aws, &p.str("role_name"), doc, (plan.call(), "the role")).await
    }

    fn check_applied(&self, c: &Check<'_, '_, SessionPolicy>) -> Verdict {
        let request = c.request;
        let after = c.after;
        match &after.document {
            Some(d) if !request.is_null() && d == request => Verdict::Holds(format!(
                "{REVOKE_SESSIONS_POLICY} denies sessions issued before the cut-off"
            )),
            Some(d) if request.is_null() && policy::is_revoke_older_sessions(d) => {
                Verdict::Holds(format!("{REVOKE_SESSIONS_POLICY} is in place"))
            }
            _ => Verdict::Fails(format!(
                "the role has no {REVOKE_SESSIONS_POLICY} policy with the cut-off"
            )),
        }
    }

    async fn restore(
        &self,
        aws: &Aws,
        p: &Params<'_>,
        before: &SessionPolicy,
    ) -> Result<Applied, ActionError> {
        let role = p.str("role_name");
        let Some(document) = before.document.as_ref().filter(|d| !d.is_null()) else {
            let sent = aws
                .iam
                .delete_role_policy()
                .role_name(&role)
                .policy_name(REVOKE_SESSIONS_POLICY)
                .send()
                .await;
            return applied(
                sent,
                "iam:DeleteRolePolicy",
                "the role's policy",
                format!("iam:DeleteRolePolicy RoleName={role} PolicyName={REVOKE_SESSIONS_POLICY}"),
            );
        };
        let call = format!("iam:PutRolePolicy RoleName={role} (saved document)");
        Self::put(aws, &role, document.to_string(), (call, "the role's policy")).await
    }
}

/// `iam.revoke_role_sessions`.
pub static REVOKE_SESSIONS: AwsOperation = AwsOperation {
    name: "iam.revoke_role_sessions",
    api: "iam:PutRolePolicy",
    cloudtrail_event: "PutRolePolicy",
    target: "role_name",
    summary: "Deny every session of a role issued before now (aws:TokenIssueTime), as the console's \"Revoke active sessions\"",
    params: &[ROLE],
    require_any: &[],
    permissions: &[
        "iam:GetRole",
        "iam:GetRolePolicy",
        "iam:PutRolePolicy",
        "iam:DeleteRolePolicy",
    ],
    before_state: Some("iam:GetRolePolicy AWSRevokeOlderSessions"),
    rollback: Some("iam:DeleteRolePolicy AWSRevokeOlderSessions, or put back the saved one"),
    imp: Implementation::Change(&RevokeSessions),
};
