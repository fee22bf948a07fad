//! `credential-compromise`: a person's access key used from a new IP, with discovery,
//! persistence (a new user with a key, a login profile and administrator rights), lateral
//! movement (a role assumed, its trust policy opened to an outside account), harvesting (secrets
//! and parameters) and logging tampering (`StopLogging`, `PutEventSelectors`, `DeleteFlowLogs`).

use super::Details;
use super::background::as_user;
use super::incident::{self, Actor, IncidentPlan, Told, event, replayed};
use super::world::World;
use crate::lake::ocsf::{ApiEvent, NewSession, Resource, TargetUser};
use crate::lake::ocsf_other::Finding;
use crate::lake::rng::Rng;

/// Where the attacker comes from: outside every background pool.
const ATTACKER_IP: &str = "91.219.236.18";
const ATTACKER_UA: &str = "Boto3/1.34.11 md/Botocore#1.34.11 ua/2.0 os/linux#6.5.0-kali3-amd64 md/arch#x86_64 lang/python#3.11.7 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.34.11";
/// The user, role session, secrets and trail of the compromise.
const CREATED_USER: &str = "backup-svc";
const ASSUMED_ROLE: &str = "AdminRole";
const SECRETS: [&str; 3] = [
    "prod/db-password",
    "prod/stripe-api-key",
    "prod/github-deploy-token",
];
const PARAMETERS: [&str; 2] = ["/prod/app/jwt-secret", "/prod/app/smtp-password"];
const TRAIL: &str = "org-trail";
/// Where the owner's one-off Terraform run comes from: a build agent the key has not been used
/// from before.
pub const OWNER_TOOL_IP: &str = "198.51.100.77";

/// The finding the persistence calls raise, twenty-five minutes in.
pub fn finding(world: &World, plan: &IncidentPlan) -> Finding {
    let victim = &world.principals[plan.victim];
    Finding {
        time: plan.start_ms + 25 * 60_000,
        title: format!("Anomalous API calls were made by IAM user {}.", victim.name),
        desc: format!(
            "APIs commonly used for persistence (CreateUser, CreateAccessKey, AttachUserPolicy) were invoked from {} using access key {} of IAM user {}.",
            ATTACKER_IP, victim.key, victim.name
        ),
        finding_type: "TTPs/Persistence/Persistence:IAMUser-AnomalousBehavior".to_owned(),
        account: plan.account.clone(),
        ..incident::on_access_key(world, plan, ATTACKER_IP)
    }
}

/// The credential compromise's events in `source` (management events only).
pub fn events(world: &World, plan: &IncidentPlan, rng: &mut Rng) -> Vec<ApiEvent> {
    let victim = &world.principals[plan.victim];
    let account = plan.account.as_str();
    let as_victim = |e: &mut ApiEvent| as_user(e, victim, ATTACKER_IP, ATTACKER_UA);
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
        e.src_ip = Some(ATTACKER_IP.to_owned());
        e.user_agent = Some(ATTACKER_UA.to_owned());
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

/// The owner's own one-off Terraform run with the key, from a build agent it is not usually used
/// from, ninety minutes before the attack: reads and a role change a playbook must set apart (by
/// the tool's user agent), not take for the intruder's. Not part of the incident (its truth and
/// operations leave it out).
pub fn owner_tool_run(world: &World, plan: &IncidentPlan, rng: &mut Rng) -> Vec<ApiEvent> {
    let victim = &world.principals[plan.victim];
    let t0 = plan.start_ms - 90 * 60_000;
    [
        (0, "GetCallerIdentity", "sts.amazonaws.com", "{}".to_owned()),
        (
            4,
            "GetRole",
            "iam.amazonaws.com",
            r#"{"roleName":"reporting-task-role"}"#.to_owned(),
        ),
        (
            6,
            "GetSecretValue",
            "secretsmanager.amazonaws.com",
            r#"{"secretId":"ci/terraform-state-key"}"#.to_owned(),
        ),
        (
            9,
            "PutRolePolicy",
            "iam.amazonaws.com",
            r#"{"roleName":"reporting-task-role","policyName":"reporting-s3-read"}"#.to_owned(),
        ),
    ]
    .into_iter()
    .map(|(dt, op, service, request)| {
        let mut e = event(plan, t0 + dt * 1_000, op, service, rng);
        as_user(&mut e, victim, OWNER_TOOL_IP, super::iac::TERRAFORM_UA);
        e.request_data = Some(request);
        e.unmapped = vec![
            ("readOnly".into(), op.starts_with("Get").to_string()),
            ("managementEvent".into(), "true".to_owned()),
        ];
        e
    })
    .collect()
}

/// What the truth says of the incident: the user and key the attacker created, the role it
/// assumed with its session key, and the secrets and parameters it read.
pub fn told(seed: u64, world: &World, plan: &IncidentPlan) -> Told {
    let (operations, end_ms) = replayed(seed, world, plan);
    Told {
        actor: Actor::victims_key(world, plan, ATTACKER_IP, ATTACKER_UA),
        operations,
        end_ms,
        details: Details::CredentialCompromise {
            created_user: format!("arn:aws:iam::{}:user/{CREATED_USER}", plan.account),
            created_access_key: plan.new_key.clone(),
            assumed_role: format!("arn:aws:iam::{}:role/{ASSUMED_ROLE}", plan.account),
            session_key: plan.session_key.clone(),
            secrets: SECRETS
                .iter()
                .chain(PARAMETERS.iter())
                .map(|s| (*s).to_owned())
                .collect(),
        },
    }
}
