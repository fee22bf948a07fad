//! The generator's identity incidents and the infrastructure-as-code activity every lake has.
//!
//! - `credential-compromise`: a person's access key used from a new IP, with discovery,
//!   persistence (a new user with a key, a login profile and administrator rights), lateral
//!   movement (a role assumed, its trust policy opened to an outside account), harvesting
//!   (secrets and parameters) and logging tampering (`StopLogging`, `PutEventSelectors`,
//!   `DeleteFlowLogs`).
//! - `instance-credential-exfiltration`: an application server's instance-profile session used
//!   from outside AWS with the credentials `IMDSv1` handed out: discovery, then one bucket listed
//!   and read.
//! - Infrastructure as code, in every lake: a CI runner's Terraform run (role and policy changes,
//!   now and then a service user with an access key) from the NAT gateway's public IP, and
//!   `CloudFormation` creating roles and Lambda permissions. The identity playbooks must not take
//!   it for an attack.

use super::{ApiEvent, IncidentPlan, Resource, World, as_user, base, identify};
use crate::lake::ocsf::{NewSession, TargetUser};
use crate::lake::rng::Rng;

/// Where the identity incidents come from: outside every background pool.
pub const CREDENTIAL_ATTACKER_IP: &str = "91.219.236.18";
pub const INSTANCE_ATTACKER_IP: &str = "104.244.72.115";
pub const CREDENTIAL_ATTACKER_UA: &str = "Boto3/1.34.11 md/Botocore#1.34.11 ua/2.0 os/linux#6.5.0-kali3-amd64 md/arch#x86_64 lang/python#3.11.7 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.34.11";
pub const INSTANCE_ATTACKER_UA: &str = "aws-cli/1.18.136 Python/3.8.5 Darwin/19.6.0 botocore/1.17.59";
/// The user, role session, secrets and trail of the credential compromise.
pub const CREATED_USER: &str = "backup-svc";
pub const ASSUMED_ROLE: &str = "AdminRole";
pub const SECRETS: [&str; 3] = [
    "prod/db-password",
    "prod/stripe-api-key",
    "prod/github-deploy-token",
];
pub const PARAMETERS: [&str; 2] = ["/prod/app/jwt-secret", "/prod/app/smtp-password"];
pub const TRAIL: &str = "org-trail";
/// The NAT gateway the CI runner's Terraform calls come from.
pub const NAT_IP: &str = "52.94.133.7";
pub const TERRAFORM_UA: &str = "APN/1.0 HashiCorp/1.0 Terraform/1.6.6 (+https://www.terraform.io) terraform-provider-aws/5.31.0 (+https://registry.terraform.io/providers/hashicorp/aws) aws-sdk-go-v2/1.24.0 os/linux lang/go#1.21.5 md/GOOS#linux md/GOARCH#amd64 api/iam#1.28.5";

/// The session a role principal has on `day_key`'s day (as `identify` names it).
pub fn role_session(day_key: &str) -> (String, String) {
    (format!("i-0{}", &day_key[..8]), format!("ASIA{}", &day_key[..16]))
}

fn event(plan: &IncidentPlan, t: i64, op: &str, service: &str, rng: &mut Rng) -> ApiEvent {
    let feature = if service == "s3.amazonaws.com" && !matches!(op, "ListBuckets" | "GetCallerIdentity") {
        "Data"
    } else {
        "Management"
    };
    base(t, &plan.region, &plan.account, feature, op, service, rng)
}

/// The credential compromise's events in `source` (management events only).
pub fn credential_compromise(world: &World, plan: &IncidentPlan, rng: &mut Rng) -> Vec<ApiEvent> {
    let victim = &world.principals[plan.victim];
    let account = plan.account.as_str();
    let as_victim = |e: &mut ApiEvent| as_user(e, victim, CREDENTIAL_ATTACKER_IP, CREDENTIAL_ATTACKER_UA);
    let role_arn = format!("arn:aws:iam::{account}:role/{ASSUMED_ROLE}");
    let session_arn = format!("arn:aws:sts::{account}:assumed-role/{ASSUMED_ROLE}/maintenance");
    let as_session = |e: &mut ApiEvent| {
        e.user_type = "AssumedRole".into();
        e.user_name = Some(ASSUMED_ROLE.to_owned());
        e.user_uid = Some(session_arn.clone());
        e.user_uid_alt = Some("AROAEXAMPLEADMINROLE:maintenance".to_owned());
        e.user_account = Some(account.to_owned());
        e.credential_uid = Some(plan.session_key.clone());
        e.session_issuer = Some(role_arn.clone());
        e.session_created = Some(plan.start_ms + 10 * 60_000);
        e.session_mfa = Some(false);
        e.src_ip = Some(CREDENTIAL_ATTACKER_IP.to_owned());
        e.user_agent = Some(CREDENTIAL_ATTACKER_UA.to_owned());
    };
    let t0 = plan.start_ms;
    let s = 1_000;
    let mut out = Vec::new();
    let mut push = |e: ApiEvent| out.push(e);
    // Discovery.
    for (dt, op, service, request) in [
        (0, "GetCallerIdentity", "sts.amazonaws.com", "{}".to_owned()),
        (30, "ListUsers", "iam.amazonaws.com", "{}".to_owned()),
        (45, "ListRoles", "iam.amazonaws.com", "{}".to_owned()),
        (
            60,
            "ListAttachedUserPolicies",
            "iam.amazonaws.com",
            format!(r#"{{"userName":"{}"}}"#, victim.name),
        ),
        (
            90,
            "GetAccountAuthorizationDetails",
            "iam.amazonaws.com",
            "{}".to_owned(),
        ),
    ] {
        let mut e = event(plan, t0 + dt * s, op, service, rng);
        as_victim(&mut e);
        e.request_data = Some(request);
        push(e);
    }
    // Persistence: a user of its own, with a key, a console password and administrator rights.
    let user_arn = format!("arn:aws:iam::{account}:user/{CREATED_USER}");
    let target = || TargetUser {
        uid: Some(user_arn.clone()),
        uid_alt: None,
        name: Some(CREATED_USER.to_owned()),
    };
    let mut e = event(plan, t0 + 300 * s, "CreateUser", "iam.amazonaws.com", rng);
    as_victim(&mut e);
    (e.class_uid, e.activity_id) = (3001, 1);
    e.request_data = Some(format!(r#"{{"userName":"{CREATED_USER}"}}"#));
    e.response_data = Some(format!(
        r#"{{"user":{{"userName":"{CREATED_USER}","arn":"{user_arn}","path":"/"}}}}"#
    ));
    e.target_user = Some(target());
    push(e);
    let mut e = event(plan, t0 + 320 * s, "CreateAccessKey", "iam.amazonaws.com", rng);
    as_victim(&mut e);
    (e.class_uid, e.activity_id) = (3001, 1);
    e.request_data = Some(format!(r#"{{"userName":"{CREATED_USER}"}}"#));
    e.response_data = Some(format!(
        r#"{{"accessKey":{{"userName":"{CREATED_USER}","accessKeyId":"{}","status":"Active"}}}}"#,
        plan.new_key
    ));
    e.target_user = Some(target());
    push(e);
    let mut e = event(plan, t0 + 340 * s, "AttachUserPolicy", "iam.amazonaws.com", rng);
    as_victim(&mut e);
    (e.class_uid, e.activity_id) = (3001, 7);
    e.request_data = Some(format!(
        r#"{{"userName":"{CREATED_USER}","policyArn":"arn:aws:iam::aws:policy/AdministratorAccess"}}"#
    ));
    e.target_user = Some(target());
    push(e);
    let mut e = event(plan, t0 + 360 * s, "CreateLoginProfile", "iam.amazonaws.com", rng);
    as_victim(&mut e);
    (e.class_uid, e.activity_id) = (3001, 1);
    e.request_data = Some(format!(
        r#"{{"userName":"{CREATED_USER}","passwordResetRequired":false}}"#
    ));
    e.target_user = Some(target());
    push(e);
    // Lateral movement: the admin role, assumed with the stolen key.
    let mut e = event(plan, t0 + 600 * s, "AssumeRole", "sts.amazonaws.com", rng);
    as_victim(&mut e);
    (e.class_uid, e.activity_id) = (3002, 1);
    e.request_data = Some(format!(
        r#"{{"roleArn":"{role_arn}","roleSessionName":"maintenance","durationSeconds":3600}}"#
    ));
    e.response_data = Some(format!(
        r#"{{"credentials":{{"accessKeyId":"{}","expiration":"in an hour"}},"assumedRoleUser":{{"arn":"{session_arn}"}}}}"#,
        plan.session_key
    ));
    e.new_session = Some(NewSession {
        uid: Some(session_arn.clone()),
        uid_alt: None,
        credential_uid: Some(plan.session_key.clone()),
        issuer: Some(role_arn.clone()),
    });
    e.resources = vec![Resource {
        uid: role_arn.clone(),
        owner_account: Some(account.to_owned()),
        kind: "AWS::IAM::Role".to_owned(),
    }];
    push(e);
    // With the role: its trust policy opened to an outside account, secrets read, logging stopped.
    let mut e = event(
        plan,
        t0 + 720 * s,
        "UpdateAssumeRolePolicy",
        "iam.amazonaws.com",
        rng,
    );
    as_session(&mut e);
    (e.class_uid, e.activity_id) = (3001, 99);
    e.request_data = Some(format!(
        r#"{{"roleName":"{ASSUMED_ROLE}","policyDocument":"{{\"Version\":\"2012-10-17\",\"Statement\":[{{\"Effect\":\"Allow\",\"Principal\":{{\"AWS\":[\"arn:aws:iam::{account}:root\",\"arn:aws:iam::999988887777:root\"]}},\"Action\":\"sts:AssumeRole\"}}]}}"}}"#
    ));
    push(e);
    for (i, secret) in (0_i64..).zip(SECRETS.iter()) {
        let mut e = event(
            plan,
            t0 + (840 + 20 * i) * s,
            "GetSecretValue",
            "secretsmanager.amazonaws.com",
            rng,
        );
        as_session(&mut e);
        e.request_data = Some(format!(r#"{{"secretId":"{secret}"}}"#));
        push(e);
    }
    let mut e = event(plan, t0 + 960 * s, "GetParameters", "ssm.amazonaws.com", rng);
    as_session(&mut e);
    e.request_data = Some(format!(
        r#"{{"names":["{}","{}"],"withDecryption":true}}"#,
        PARAMETERS[0], PARAMETERS[1]
    ));
    push(e);
    for (dt, op, service, request) in [
        (
            1200,
            "StopLogging",
            "cloudtrail.amazonaws.com",
            format!(
                r#"{{"name":"arn:aws:cloudtrail:{}:{account}:trail/{TRAIL}"}}"#,
                plan.region
            ),
        ),
        (
            1220,
            "PutEventSelectors",
            "cloudtrail.amazonaws.com",
            format!(
                r#"{{"trailName":"{TRAIL}","eventSelectors":[{{"readWriteType":"WriteOnly","includeManagementEvents":false}}]}}"#
            ),
        ),
        (
            1260,
            "DeleteFlowLogs",
            "ec2.amazonaws.com",
            r#"{"DeleteFlowLogsRequest":{"FlowLogId":{"content":"fl-0a1b2c3d4e5f60718","tag":1}}}"#
                .to_owned(),
        ),
    ] {
        let mut e = event(plan, t0 + dt * s, op, service, rng);
        as_session(&mut e);
        e.activity_id = 4;
        e.request_data = Some(request);
        push(e);
    }
    for e in &mut out {
        e.unmapped = vec![
            ("readOnly".into(), (e.activity_id == 2).to_string()),
            ("managementEvent".into(), "true".to_owned()),
            ("recipientAccountId".into(), account.to_owned()),
        ];
    }
    out
}

/// The instance credential exfiltration's events: discovery in the management source, the
/// bucket listed and read in the S3 data source.
pub fn instance_credentials(
    world: &World,
    plan: &IncidentPlan,
    source: crate::playbook::table::LogicalTable,
    rng: &mut Rng,
) -> Vec<ApiEvent> {
    use crate::playbook::table::LogicalTable;
    let victim = &world.principals[plan.victim];
    let bucket = &world.buckets[plan.bucket];
    let as_thief = |e: &mut ApiEvent, rng: &mut Rng| {
        identify(e, victim, &plan.day_key, rng);
        e.src_ip = Some(INSTANCE_ATTACKER_IP.to_owned());
        e.user_agent = Some(INSTANCE_ATTACKER_UA.to_owned());
        // Handed out by the metadata service, version 1 (no session token needed): SSRF.
        e.unmapped = vec![
            (
                "userIdentity.sessionContext.ec2RoleDelivery".into(),
                "1.0".to_owned(),
            ),
            ("recipientAccountId".into(), plan.account.clone()),
        ];
    };
    let t0 = plan.start_ms;
    let mut out = Vec::new();
    match source {
        LogicalTable::CloudTrailMgmt => {
            for (dt, op, service) in [
                (0, "GetCallerIdentity", "sts.amazonaws.com"),
                (40_000, "ListBuckets", "s3.amazonaws.com"),
                (95_000, "DescribeInstances", "ec2.amazonaws.com"),
                (640_000, "ListBuckets", "s3.amazonaws.com"),
            ] {
                let mut e = event(plan, t0 + dt, op, service, rng);
                as_thief(&mut e, rng);
                e.request_data = Some(if op == "ListBuckets" {
                    format!(r#"{{"Host":"s3.{}.amazonaws.com"}}"#, plan.region)
                } else {
                    "{}".to_owned()
                });
                out.push(e);
            }
        }
        LogicalTable::S3Data => {
            let mut t = t0 + 120_000;
            for page in 0..3 {
                t += 4_000;
                let mut e = event(plan, t, "ListObjects", "s3.amazonaws.com", rng);
                as_thief(&mut e, rng);
                e.request_data = Some(format!(
                    r#"{{"list-type":"2","bucketName":"{0}","Host":"{0}.s3.{1}.amazonaws.com","prefix":"","continuation-token":"page-{page}"}}"#,
                    bucket.name, plan.region
                ));
                e.resources = super::s3_resources(bucket, None);
                e.activity_id = 2;
                out.push(e);
            }
            for i in 0..plan.reads {
                t += 400 + i64::try_from(rng.below(1_200)).unwrap_or(0);
                let key = format!("reports/2026/q{}-ledger-{i:04}.csv", 1 + i % 4);
                let mut e = event(plan, t, "GetObject", "s3.amazonaws.com", rng);
                as_thief(&mut e, rng);
                e.request_data = Some(format!(
                    r#"{{"bucketName":"{0}","Host":"{0}.s3.{1}.amazonaws.com","key":"{key}"}}"#,
                    bucket.name, plan.region
                ));
                e.resources = super::s3_resources(bucket, Some(&key));
                e.unmapped.push((
                    "additionalEventData.bytesTransferredOut".into(),
                    (20_000 + rng.below(900_000)).to_string(),
                ));
                out.push(e);
            }
        }
        _ => {}
    }
    out
}

/// The infrastructure-as-code activity of one day in one account and region: one Terraform run
/// from the CI runner (behind the NAT gateway) and one `CloudFormation` stack update, at office
/// hours. Deterministic from its own random stream, so it does not change the rest of the lake.
pub fn iac_events(seed: u64, label: &str, day_start: i64, region: &str, account: &str) -> Vec<ApiEvent> {
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
        if op == "CreateAccessKey" {
            e.response_data = Some(format!(
                r#"{{"accessKey":{{"accessKeyId":"AKIA{}","status":"Active"}}}}"#,
                rng.text(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16)
            ));
        }
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
        e.user_account = Some(account.to_owned());
        e.credential_uid = Some(format!("ASIA{}", rng.text(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16)));
        e.session_issuer = Some(format!("arn:aws:iam::{account}:role/CloudFormationExecutionRole"));
        e.invoked_by = Some("cloudformation.amazonaws.com".to_owned());
        e.src_domain = Some("cloudformation.amazonaws.com".to_owned());
        e.user_agent = Some("cloudformation.amazonaws.com".to_owned());
        (e.class_uid, e.activity_id) = (3001, 1);
        e.request_data = Some(request);
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
