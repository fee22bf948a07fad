//! Long-term access keys: list a user's keys, read when one was last used, deactivate one (never
//! delete it: its id stays searchable in the logs), and set its status back.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::Evidence;
use super::{Change, Check, Resource, Verdict};
use crate::action::aws::{ActionError, Applied, Aws, applied, classify, date};
use crate::action::plan::{Params, Plan};
use crate::action::policy;
use crate::action::registry::{AwsOperation, Implementation, evidence};
use crate::action::registry::{ParamKind, USER, p};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Key {
    pub id: Option<String>,
    /// `Active` or `Inactive`.
    pub status: Option<String>,
    pub created: Option<String>,
}

/// A user's access keys.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Keys {
    pub user_name: String,
    pub keys: Vec<Key>,
}

impl Keys {
    /// The status of key `id`, when the user has it.
    pub fn status(&self, id: &str) -> Option<String> {
        self.keys
            .iter()
            .find(|k| k.id.as_deref() == Some(id))
            .map(|k| k.status.clone().unwrap_or_default())
    }
}

#[async_trait]
impl Resource for Keys {
    async fn read(aws: &Aws, p: &Params<'_>) -> Result<Keys, ActionError> {
        let user = p.str("user_name");
        let out = aws
            .iam
            .list_access_keys()
            .user_name(&user)
            .send()
            .await
            .map_err(|e| classify(&e, "iam:ListAccessKeys", &format!("user {user}")))?;
        let keys = out
            .access_key_metadata()
            .iter()
            .map(|k| Key {
                id: k.access_key_id().map(str::to_owned),
                status: k.status().map(|s| s.as_str().to_owned()),
                created: date(k.create_date()),
            })
            .collect();
        Ok(Keys {
            user_name: user,
            keys,
        })
    }
}

/// `iam.list_access_keys`.
pub static LIST: AwsOperation = evidence(
    "iam.list_access_keys",
    "List a user's access keys",
    "iam:ListAccessKeys",
    "ListAccessKeys",
    &[USER],
    "user_name",
    &["iam:ListAccessKeys"],
    &Evidence::<Keys>::NEW,
);

/// When and where a key was last used (evidence only).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LastUsed {
    pub access_key_id: String,
    pub user_name: Option<String>,
    pub last_used: Option<String>,
    pub service: Option<String>,
    pub region: Option<String>,
}

#[async_trait]
impl Resource for LastUsed {
    async fn read(aws: &Aws, p: &Params<'_>) -> Result<LastUsed, ActionError> {
        let key = p.str("access_key_id");
        let out = aws
            .iam
            .get_access_key_last_used()
            .access_key_id(&key)
            .send()
            .await
            .map_err(|e| classify(&e, "iam:GetAccessKeyLastUsed", &format!("access key {key}")))?;
        let used = out.access_key_last_used();
        Ok(LastUsed {
            access_key_id: key,
            user_name: out.user_name().map(str::to_owned),
            last_used: used.and_then(|u| date(u.last_used_date())),
            service: used.map(|u| u.service_name().to_owned()),
            region: used.map(|u| u.region().to_owned()),
        })
    }
}

/// `iam.get_access_key_last_used`.
pub static GET_LAST_USED: AwsOperation = evidence(
    "iam.get_access_key_last_used",
    "Read when and where an access key was last used",
    "iam:GetAccessKeyLastUsed",
    "GetAccessKeyLastUsed",
    &[p("access_key_id", ParamKind::AccessKeyId, "the access key")],
    "access_key_id",
    &["iam:GetAccessKeyLastUsed"],
    &Evidence::<LastUsed>::NEW,
);

/// `iam.deactivate_access_key`.
#[derive(Debug)]
pub struct Deactivate;

impl Deactivate {
    async fn set(aws: &Aws, p: &Params<'_>, status: &str, call: String) -> Result<Applied, ActionError> {
        let sent = aws
            .iam
            .update_access_key()
            .user_name(p.str("user_name"))
            .access_key_id(p.str("access_key_id"))
            .status(aws_sdk_iam::types::StatusType::from(status))
            .send()
            .await;
        applied(sent, "iam:UpdateAccessKey", "the access key", call)
    }
}

#[async_trait]
impl Change for Deactivate {
    type Resource = Keys;

    fn assumed(&self, p: &Params<'_>) -> Keys {
        Keys {
            user_name: String::new(),
            keys: vec![Key {
                id: Some(p.str("access_key_id")),
                status: Some("Active".to_owned()),
                created: None,
            }],
        }
    }

    fn plan(&self, p: &Params<'_>, before: &Keys, _now: &str, _tag: &str) -> Result<Plan, ActionError> {
        let (user, key) = (p.str("user_name"), p.str("access_key_id"));
        let status = before.status(&key).ok_or_else(|| ActionError::NotFound {
            what: format!("access key {key}"),
            message: format!("user {user} has no such key"),
        })?;
        let mut plan = Plan::new(
            format!("iam:UpdateAccessKey UserName={user} AccessKeyId={key} Status=Inactive"),
            policy::diff_lines(&format!("status: {status}"), "status: Inactive"),
        );
        if status == "Inactive" {
            plan.already = Some(format!("access key {key} is already inactive"));
        }
        plan.request = json!({ "UserName": user, "AccessKeyId": key, "Status": "Inactive" });
        Ok(plan)
    }

    async fn apply(&self, aws: &Aws, p: &Params<'_>, plan: &Plan) -> Result<Applied, ActionError> {
        Self::set(aws, p, "Inactive", plan.call()).await
    }

    fn check_applied(&self, c: &Check<'_, '_, Keys>) -> Verdict {
        let p = c.p;
        let after = c.after;
        let key = p.str("access_key_id");
        match after.status(&key).as_deref() {
            Some("Inactive") => Verdict::Holds(format!("access key {key} is Inactive")),
            Some(s) => Verdict::Fails(format!("access key {key} is {s}, not Inactive")),
            None => Verdict::Fails(format!("access key {key} is not listed for the user")),
        }
    }

    /// Only the key irp changed is restored; the others are not irp's to judge.
    fn is_restored(&self, p: &Params<'_>, before: &Keys, after: &Keys) -> bool {
        let key = p.str("access_key_id");
        before.status(&key) == after.status(&key)
    }

    async fn restore(&self, aws: &Aws, p: &Params<'_>, before: &Keys) -> Result<Applied, ActionError> {
        let key = p.str("access_key_id");
        let status = before.status(&key).unwrap_or_default();
        Self::set(
            aws,
            p,
            &status,
            format!("iam:UpdateAccessKey AccessKeyId={key} Status={status}"),
        )
        .await
    }
}

/// `iam.deactivate_access_key`.
pub static DEACTIVATE: AwsOperation = AwsOperation {
    name: "iam.deactivate_access_key",
    api: "iam:UpdateAccessKey",
    cloudtrail_event: "UpdateAccessKey",
    target: "access_key_id",
    summary: "Deactivate (not delete) a long-term access key, keeping its id searchable in logs",
    params: &[
        USER,
        p(
            "access_key_id",
            ParamKind::AccessKeyId,
            "the access key to deactivate",
        ),
    ],
    require_any: &[],
    permissions: &["iam:ListAccessKeys", "iam:UpdateAccessKey"],
    before_state: Some("iam:ListAccessKeys"),
    rollback: Some("iam:UpdateAccessKey with Status=Active"),
    imp: Implementation::Change(&Deactivate),
};
