//! Infrastructure as code, in every lake: a CI runner's Terraform run (role and policy changes,
//! now and then a service user with an access key) from the NAT gateway's public IP, and
//! `CloudFormation` creating roles and Lambda permissions. The identity playbooks must not take it
//! for an attack.

use super::background::base;
use crate::lake::ocsf::ApiEvent;
use crate::lake::rng::Rng;

/// The NAT gateway the CI runner's Terraform calls come from.
pub const NAT_IP: &str = "52.94.133.7";
pub const TERRAFORM_UA: &str = "APN/1.0 HashiCorp/1.0 Terraform/1.6.6 (+https://www.terraform.io) terraform-provider-aws/5.31.0 (+https://registry.terraform.io/providers/hashicorp/aws) aws-sdk-go-v2/1.24.0 os/linux lang/go#1.21.5 md/GOOS#linux md/GOARCH#amd64 api/iam#1.28.5";

/// The infrastructure-as-code activity of one day in one account and region: one Terraform run
/// from the CI runner (behind the NAT gateway) and one `CloudFormation` stack update, at office
/// hours. Deterministic from its own random stream, so it does not change the rest of the lake.
pub fn events(seed: u64, label: &str, day_start: i64, region: &str, account: &str) -> Vec<ApiEvent> {
    let mut rng = Rng::derived(seed, &format!("iac/{label}"));
    let mut out = Vec::new();
    let day = &label.rsplit('/').next().unwrap_or_default().replace('-', "");
    // The CI runner is an instance: its role session is named after it, and its calls leave
    // through the NAT gateway's public IP, as a thief's would leave from elsewhere.
    let session = "i-0c15e7a1d2b3f4a59".to_owned();
    let issuer = format!("arn:aws:iam::{account}:role/DeployRole");
    let run_at = day_start + i64::try_from(9 * 3_600_000 + rng.below(8 * 3_600_000)).unwrap_or(0);
    let key = format!("ASIA{}", rng.text(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16));
    let svc = ["etl-loader", "metrics-export", "report-sync", "queue-worker"];
    let apps = ["orders", "billing", "search", "ingest", "notify"];
    let app = *rng.pick(&apps);
    let mut ops: Vec<(&str, String)> = vec![
        (
            "CreateRole",
            format!(
                r#"{{"roleName":"{app}-task-role","assumeRolePolicyDocument":"{{\"Statement\":[{{\"Effect\":\"Allow\",\"Principal\":{{\"Service\":\"ecs-tasks.amazonaws.com\"}},\"Action\":\"sts:AssumeRole\"}}]}}"}}"#
            ),
        ),
        (
            "PutRolePolicy",
            format!(r#"{{"roleName":"{app}-task-role","policyName":"{app}-s3-access"}}"#),
        ),
        (
            "AttachRolePolicy",
            format!(
                r#"{{"roleName":"{app}-task-role","policyArn":"arn:aws:iam::aws:policy/CloudWatchAgentServerPolicy"}}"#
            ),
        ),
        (
            "UpdateAssumeRolePolicy",
            format!(
                r#"{{"roleName":"{app}-deploy-role","policyDocument":"{{\"Statement\":[{{\"Effect\":\"Allow\",\"Principal\":{{\"AWS\":\"arn:aws:iam::{account}:role/DeployRole\"}},\"Action\":\"sts:AssumeRole\"}}]}}"}}"#
            ),
        ),
        (
            "TagRole",
            format!(
                r#"{{"roleName":"{app}-task-role","tags":[{{"key":"managed-by","value":"terraform"}}]}}"#
            ),
        ),
    ];
    // Now and then a service user with its access key, as Terraform modules do.
    if rng.chance(0.35) {
        let user = *rng.pick(&svc);
        ops.push(("CreateUser", format!(r#"{{"userName":"{user}-{day}"}}"#)));
        ops.push(("CreateAccessKey", format!(r#"{{"userName":"{user}-{day}"}}"#)));
        ops.push((
            "AttachUserPolicy",
            format!(
                r#"{{"userName":"{user}-{day}","policyArn":"arn:aws:iam::{account}:policy/{user}-policy"}}"#
            ),
        ));
    }
    for (i, (op, request)) in ops.into_iter().enumerate() {
        let t = run_at + i64::try_from(i).unwrap_or(0) * 2_500 + i64::try_from(rng.below(1_500)).unwrap_or(0);
        let mut e = base(
            t,
            region,
            account,
            "Management",
            op,
            "iam.amazonaws.com",
            &mut rng,
        );
        e.user_type = "AssumedRole".into();
        e.user_name = Some("DeployRole".to_owned());
        e.user_uid = Some(format!(
            "arn:aws:sts::{account}:assumed-role/DeployRole/{session}"
        ));
        e.user_uid_alt = Some(format!("AROADEPLOYROLE00000:{session}"));
        e.user_account = Some(account.to_owned());
        e.credential_uid = Some(key.clone());
        e.session_issuer = Some(issuer.clone());
        e.session_created = Some(run_at - 60_000);
        e.session_mfa = Some(false);
        e.src_ip = Some(NAT_IP.to_owned());
        e.user_agent = Some(TERRAFORM_UA.to_owned());
        (e.class_uid, e.activity_id) = (3001, if op.starts_with("Create") { 1 } else { 99 });
        e.request_data = Some(request);
        e.response_data = response(op, e.request_data.as_deref(), account, &mut rng);
        e.unmapped = vec![
            ("readOnly".into(), "false".to_owned()),
            ("managementEvent".into(), "true".to_owned()),
            ("recipientAccountId".into(), account.to_owned()),
        ];
        out.push(e);
    }
    // CloudFormation, acting for a stack, creates a function's role and permission.
    let cfn_at = day_start + i64::try_from(10 * 3_600_000 + rng.below(6 * 3_600_000)).unwrap_or(0);
    let stack = format!("{app}-service");
    for (i, (op, service, request)) in [
        ("CreateRole", "iam.amazonaws.com", format!(r#"{{"roleName":"{stack}-FunctionRole-{}"}}"#, rng.text(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", 12))),
        ("AddPermission20150331v2", "lambda.amazonaws.com", format!(r#"{{"functionName":"{stack}-handler","principal":"apigateway.amazonaws.com","action":"lambda:InvokeFunction"}}"#)),
    ]
    .into_iter()
    .enumerate()
    {
        let t = cfn_at + i64::try_from(i).unwrap_or(0) * 4_000;
        let mut e = base(t, region, account, "Management", op, service, &mut rng);
        e.user_type = "AssumedRole".into();
        e.user_name = Some("CloudFormationExecutionRole".to_owned());
        e.user_uid = Some(format!(
            "arn:aws:sts::{account}:assumed-role/CloudFormationExecutionRole/AWSCloudFormation"
        ));
        e.user_uid_alt = Some("AROACFNEXECUTION0000:AWSCloudFormation".to_owned());
        e.user_account = Some(account.to_owned());
        e.credential_uid = Some(format!("ASIA{}", rng.text(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16)));
        e.session_issuer = Some(format!("arn:aws:iam::{account}:role/CloudFormationExecutionRole"));
        e.session_created = Some(cfn_at - 30_000);
        e.session_mfa = Some(false);
        e.invoked_by = Some("cloudformation.amazonaws.com".to_owned());
        e.src_domain = Some("cloudformation.amazonaws.com".to_owned());
        e.user_agent = Some("cloudformation.amazonaws.com".to_owned());
        (e.class_uid, e.activity_id) = (3001, 1);
        e.request_data = Some(request);
        e.response_data = response(op, e.request_data.as_deref(), account, &mut rng);
        e.unmapped = vec![
            ("readOnly".into(), "false".to_owned()),
            ("managementEvent".into(), "true".to_owned()),
            ("recipientAccountId".into(), account.to_owned()),
        ];
        out.push(e);
    }
    out.sort_by_key(|e| e.time);
    out
}

/// What IAM answers a create call with: the user, role or key it made (the ARN and id a
/// `CloudTrail` record carries in `responseElements`).
fn response(op: &str, request: Option<&str>, account: &str, rng: &mut Rng) -> Option<String> {
    let request: serde_json::Value = serde_json::from_str(request?).ok()?;
    let id = rng.text(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 17);
    match op {
        "CreateUser" => {
            let user = request.get("userName")?.as_str()?;
            Some(format!(
                r#"{{"user":{{"path":"/","userName":"{user}","userId":"AIDA{id}","arn":"arn:aws:iam::{account}:user/{user}"}}}}"#
            ))
        }
        "CreateRole" => {
            let role = request.get("roleName")?.as_str()?;
            Some(format!(
                r#"{{"role":{{"path":"/","roleName":"{role}","roleId":"AROA{id}","arn":"arn:aws:iam::{account}:role/{role}"}}}}"#
            ))
        }
        "CreateAccessKey" => {
            let user = request.get("userName")?.as_str()?;
            Some(format!(
                r#"{{"accessKey":{{"userName":"{user}","accessKeyId":"AKIA{}","status":"Active"}}}}"#,
                &id[..16]
            ))
        }
        _ => None,
    }
}
