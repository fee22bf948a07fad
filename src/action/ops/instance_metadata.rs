//! An EC2 instance's metadata options: require `IMDSv2` session tokens (stops SSRF credential
//! theft through `IMDSv1`), and put the saved options back.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::{Change, Check, Resource, Verdict, or_none};
use crate::action::aws::{ActionError, Applied, Aws, applied, classify};
use crate::action::plan::{Params, Plan};
use crate::action::policy;
use crate::action::registry::{AwsOperation, Implementation};
use crate::action::registry::{ParamKind, p};

/// An instance's metadata options.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MetadataOptions {
    pub instance_id: String,
    /// `required` (`IMDSv2` only) or `optional`.
    pub http_tokens: Option<String>,
    pub http_endpoint: Option<String>,
    pub http_put_response_hop_limit: Option<i32>,
}

#[async_trait]
impl Resource for MetadataOptions {
    async fn read(aws: &Aws, p: &Params<'_>) -> Result<MetadataOptions, ActionError> {
        let id = p.str("instance_id");
        let out = aws
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
        Ok(MetadataOptions {
            http_tokens: m.and_then(|m| m.http_tokens()).map(|t| t.as_str().to_owned()),
            http_endpoint: m.and_then(|m| m.http_endpoint()).map(|e| e.as_str().to_owned()),
            http_put_response_hop_limit: m
                .and_then(aws_sdk_ec2::types::InstanceMetadataOptionsResponse::http_put_response_hop_limit),
            instance_id: id,
        })
    }
}

impl MetadataOptions {
    /// Sets the instance's options to these (an option that is `None` is left as it is).
    async fn send(&self, aws: &Aws, call: String) -> Result<Applied, ActionError> {
        use aws_sdk_ec2::types::{HttpTokensState, InstanceMetadataEndpointState};
        let sent = aws
            .ec2
            .modify_instance_metadata_options()
            .instance_id(&self.instance_id)
            .set_http_tokens(self.http_tokens.as_deref().map(HttpTokensState::from))
            .set_http_endpoint(
                self.http_endpoint
                    .as_deref()
                    .map(InstanceMetadataEndpointState::from),
            )
            .set_http_put_response_hop_limit(self.http_put_response_hop_limit)
            .send()
            .await;
        applied(sent, "ec2:ModifyInstanceMetadataOptions", "the instance", call)
    }
}

/// `ec2.require_imdsv2`.
#[derive(Debug)]
pub struct RequireImdsV2;

#[async_trait]
impl Change for RequireImdsV2 {
    type Resource = MetadataOptions;

    fn plan(
        &self,
        p: &Params<'_>,
        before: &MetadataOptions,
        _now: &str,
        _tag: &str,
    ) -> Result<Plan, ActionError> {
        let current = before.http_tokens.as_deref();
        let mut plan = Plan::new(
            format!(
                "ec2:ModifyInstanceMetadataOptions InstanceId={} HttpTokens=required HttpEndpoint=enabled",
                p.str("instance_id")
            ),
            policy::diff_lines(
                &format!("http_tokens: {}", or_none(current)),
                "http_tokens: required",
            ),
        );
        if current == Some("required") {
            plan.already = Some("the instance already requires IMDSv2".to_owned());
        }
        Ok(plan)
    }

    async fn apply(&self, aws: &Aws, p: &Params<'_>, plan: &Plan) -> Result<Applied, ActionError> {
        let wanted = MetadataOptions {
            instance_id: p.str("instance_id"),
            http_tokens: Some("required".to_owned()),
            http_endpoint: Some("enabled".to_owned()),
            http_put_response_hop_limit: None,
        };
        wanted.send(aws, plan.call()).await
    }

    fn check_applied(&self, c: &Check<'_, '_, MetadataOptions>) -> Verdict {
        let after = c.after;
        match after.http_tokens.as_deref() {
            Some("required") => Verdict::Holds("the instance requires IMDSv2 tokens".to_owned()),
            other => Verdict::Fails(format!("http_tokens is {}", or_none(other))),
        }
    }

    /// Every saved option is sent back: moto resets the ones a call leaves out.
    async fn restore(
        &self,
        aws: &Aws,
        p: &Params<'_>,
        before: &MetadataOptions,
    ) -> Result<Applied, ActionError> {
        let tokens = before.http_tokens.as_deref().unwrap_or("optional");
        let call = format!(
            "ec2:ModifyInstanceMetadataOptions InstanceId={} HttpTokens={tokens}",
            p.str("instance_id")
        );
        let restored = MetadataOptions {
            instance_id: p.str("instance_id"),
            http_tokens: Some(tokens.to_owned()),
            ..before.clone()
        };
        restored.send(aws, call).await
    }
}

/// `ec2.require_imdsv2`.
pub static REQUIRE_IMDSV2: AwsOperation = AwsOperation {
    name: "ec2.require_imdsv2",
    api: "ec2:ModifyInstanceMetadataOptions",
    cloudtrail_event: "ModifyInstanceMetadataOptions",
    target: "instance_id",
    summary: "Require IMDSv2 session tokens on an instance (stops SSRF credential theft through IMDSv1)",
    params: &[p("instance_id", ParamKind::InstanceId, "the instance")],
    require_any: &[],
    permissions: &["ec2:DescribeInstances", "ec2:ModifyInstanceMetadataOptions"],
    before_state: Some("ec2:DescribeInstances (MetadataOptions)"),
    rollback: Some("ec2:ModifyInstanceMetadataOptions with the saved HttpTokens setting"),
    imp: Implementation::Change(&RequireImdsV2),
};
