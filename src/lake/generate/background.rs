//! The background activity every lake has: API calls of the world's principals with their daily
//! rhythms, Lambda invocations, VPC flows, DNS queries and the odd finding, and the helpers that
//! fill an event's identity.

use chrono::{DateTime, SecondsFormat, Utc};

use super::world::{Bucket, KEY_PREFIXES, Kind, OFFICE, Principal, ROLES, SERVICE_USERS, World};
use crate::lake::ocsf::{ApiEvent, Resource};
use crate::lake::ocsf_other::{Dns, EksCall, Finding, Flow, WafRequest};
use crate::lake::rng::Rng;

pub fn iso(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

pub fn event_uid(rng: &mut Rng) -> String {
    let a = rng.next_u64();
    let b = rng.next_u64();
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        0x8000 | (b >> 48) & 0x3fff,
        b & 0xffff_ffff_ffff
    )
}

pub fn request_id(rng: &mut Rng) -> String {
    rng.text(b"ABCDEF0123456789", 16)
}

pub fn object_key(rng: &mut Rng) -> String {
    format!(
        "{}/{:05}.{}",
        rng.pick(KEY_PREFIXES),
        rng.below(40_000),
        rng.pick(&["csv", "json", "parquet", "pdf", "png"])
    )
}

/// Makes `e` a call with user `p`'s access key from `ip` with `agent`: how a stolen key looks.
pub fn as_user(e: &mut ApiEvent, p: &Principal, ip: &str, agent: &str) {
    e.user_type = "IAMUser".into();
    e.user_name = Some(p.name.clone());
    e.user_uid = Some(p.arn.clone());
    e.user_uid_alt = Some(format!("AIDA{}", &p.key[4..]));
    e.user_account = Some(p.account.clone());
    e.credential_uid = Some(p.key.clone());
    e.src_ip = Some(ip.to_owned());
    e.user_agent = Some(agent.to_owned());
}

/// Fills the identity fields of an event for principal `p`.
pub fn identify(e: &mut ApiEvent, p: &Principal, day_key: &str, rng: &mut Rng) {
    match p.kind {
        Kind::User => {
            let ip: &String = rng.pick(&p.ips);
            as_user(e, p, ip, p.user_agent);
        }
        Kind::Role => {
            let session = format!("i-0{}", &day_key[..8]);
            e.user_type = "AssumedRole".into();
            e.user_name = Some(p.name.clone());
            e.user_uid = Some(format!(
                "arn:aws:sts::{}:assumed-role/{}/{session}",
                p.account, p.name
            ));
            e.user_uid_alt = Some(format!("AROA{}:{session}", &day_key[..12]));
            e.user_account = Some(p.account.clone());
            e.credential_uid = Some(format!("ASIA{}", &day_key[..16]));
            e.session_issuer = Some(p.arn.clone());
            e.session_created = Some(e.time - (e.time % 3_600_000));
            e.session_mfa = Some(false);
            e.src_ip = Some(rng.pick(&p.ips).clone());
            e.user_agent = Some(p.user_agent.to_owned());
        }
        Kind::Service => {
            e.user_type = "AWSService".into();
            e.invoked_by = Some(p.name.clone());
            e.src_domain = Some(p.name.clone());
            e.user_agent = Some(p.name.clone());
        }
    }
}

pub fn s3_resources(bucket: &Bucket, key: Option<&str>) -> Vec<Resource> {
    let mut out = Vec::with_capacity(2);
    if let Some(k) = key {
        out.push(Resource {
            uid: format!("arn:aws:s3:::{}/{k}", bucket.name),
            owner_account: None,
            kind: "AWS::S3::Object".to_owned(),
        });
    }
    out.push(Resource {
        uid: format!("arn:aws:s3:::{}", bucket.name),
        owner_account: Some(bucket.account.clone()),
        kind: "AWS::S3::Bucket".to_owned(),
    });
    out
}

/// One partition's day: where its background events happen, and the key that names the day's
/// sessions and role credentials.
#[derive(Debug, Clone, Copy)]
pub struct Day<'a> {
    pub world: &'a World,
    pub region: &'a str,
    pub account: &'a str,
    pub key: &'a str,
}

impl<'a> Day<'a> {
    /// Who acts at `time`: a principal of the day's account, people by the office rhythm.
    fn principal(&self, time: i64, rng: &mut Rng) -> &'a Principal {
        pick_principal(self.world, self.account, time, rng)
    }
}

/// A background S3 data event at `time`.
pub fn s3_event(day: &Day<'_>, time: i64, rng: &mut Rng) -> ApiEvent {
    let (region, account) = (day.region, day.account);
    let p = day.principal(time, rng);
    let bucket = &day.world.buckets[*rng.pick(&p.buckets)];
    #[allow(clippy::items_after_statements)] // the table sits where it is used
    const OPS: [&str; 7] = [
        "GetObject",
        "PutObject",
        "HeadObject",
        "ListObjects",
        "DeleteObject",
        "GetObjectAcl",
        "GetObjectTagging",
    ];
    let op = OPS[rng.weighted(&[52, 15, 16, 10, 3, 2, 2])];
    let key = (op != "ListObjects").then(|| object_key(rng));
    let mut e = base(time, region, account, "Data", op, "s3.amazonaws.com", rng);
    identify(&mut e, p, day.key, rng);
    e.request_data = Some(match &key {
        Some(k) => format!(
            r#"{{"bucketName":"{}","Host":"{}.s3.{region}.amazonaws.com","key":"{k}"}}"#,
            bucket.name, bucket.name
        ),
        None => format!(
            r#"{{"list-type":"2","bucketName":"{}","Host":"{}.s3.{region}.amazonaws.com","prefix":"{}/"}}"#,
            bucket.name,
            bucket.name,
            rng.pick(KEY_PREFIXES)
        ),
    });
    e.resources = s3_resources(bucket, key.as_deref());
    e.activity_id = if op.starts_with("Put") {
        1
    } else if op.starts_with("Delete") {
        4
    } else {
        2
    };
    let read_only = matches!(
        op,
        "GetObject" | "HeadObject" | "ListObjects" | "GetObjectAcl" | "GetObjectTagging"
    );
    e.unmapped = vec![
        ("readOnly".into(), read_only.to_string()),
        ("managementEvent".into(), "false".to_owned()),
        ("recipientAccountId".into(), account.to_owned()),
    ];
    if op == "GetObject" {
        e.unmapped.push((
            "additionalEventData.bytesTransferredOut".into(),
            (200 + rng.below(2_000_000)).to_string(),
        ));
    }
    if rng.chance(0.015) {
        e.error = Some("AccessDenied".to_owned());
        e.error_message = Some("Access Denied".to_owned());
    }
    e
}

/// A background management event at `time`.
pub fn mgmt_event(day: &Day<'_>, time: i64, rng: &mut Rng) -> ApiEvent {
    let (world, region, account) = (day.world, day.region, day.account);
    let p = day.principal(time, rng);
    #[allow(clippy::items_after_statements)] // the table sits where it is used
    const OPS: [(&str, &str, i32, i32); 12] = [
        ("ListBuckets", "s3.amazonaws.com", 6003, 2),
        ("GetBucketPolicy", "s3.amazonaws.com", 6003, 2),
        ("GetBucketAcl", "s3.amazonaws.com", 6003, 2),
        ("GetBucketLocation", "s3.amazonaws.com", 6003, 2),
        ("DescribeInstances", "ec2.amazonaws.com", 6003, 2),
        ("GetCallerIdentity", "sts.amazonaws.com", 6003, 2),
        ("AssumeRole", "sts.amazonaws.com", 3002, 1),
        ("Decrypt", "kms.amazonaws.com", 6003, 2),
        ("PutBucketPolicy", "s3.amazonaws.com", 6003, 3),
        ("CreateAccessKey", "iam.amazonaws.com", 3001, 1),
        ("ConsoleLogin", "signin.amazonaws.com", 3002, 1),
        ("GetBucketPublicAccessBlock", "s3.amazonaws.com", 6003, 2),
    ];
    let mut i = rng.weighted(&[14, 10, 6, 8, 14, 10, 16, 16, 1, 1, 2, 2]);
    // Only administrators change bucket policies or create keys; only people sign in.
    if (matches!(i, 8 | 9) && !p.admin) || (i == 10 && !p.office_hours) {
        i = 4;
    }
    let (op, service, class_uid, activity) = OPS[i];
    let mut e = base(time, region, account, "Management", op, service, rng);
    identify(&mut e, p, day.key, rng);
    e.class_uid = class_uid;
    e.activity_id = activity;
    if op == "ConsoleLogin" {
        e.event_code = "AwsConsoleSignIn".into();
        e.response_data = Some(r#"{"ConsoleLogin":"Success"}"#.to_owned());
    }
    let bucket = &world.buckets[*rng.pick(&p.buckets)];
    e.request_data = Some(match op {
        "ListBuckets" => format!(r#"{{"Host":"s3.{region}.amazonaws.com"}}"#),
        "GetBucketPolicy" | "GetBucketAcl" | "GetBucketLocation" | "GetBucketPublicAccessBlock" => {
            e.resources = s3_resources(bucket, None);
            format!(
                r#"{{"bucketName":"{}","Host":"{}.s3.{region}.amazonaws.com","{}":""}}"#,
                bucket.name,
                bucket.name,
                op[3..].to_ascii_lowercase()
            )
        }
        "PutBucketPolicy" => {
            e.resources = s3_resources(bucket, None);
            // Benign policy changes: TLS-only statements, within the account.
            format!(
                r#"{{"bucketName":"{0}","bucketPolicy":{{"Version":"2012-10-17","Statement":[{{"Sid":"DenyInsecureTransport","Effect":"Deny","Principal":"*","Action":"s3:*","Resource":["arn:aws:s3:::{0}","arn:aws:s3:::{0}/*"],"Condition":{{"Bool":{{"aws:SecureTransport":"false"}}}}}}]}},"Host":"{0}.s3.{region}.amazonaws.com","policy":""}}"#,
                bucket.name
            )
        }
        "AssumeRole" => {
            let role = rng.pick(ROLES);
            let session = format!("session-{}", rng.below(100_000));
            // What STS answers: the new session's key and its ARN.
            e.response_data = Some(format!(
                r#"{{"credentials":{{"accessKeyId":"ASIA{}","sessionToken":"<redacted>","expiration":"in an hour"}},"assumedRoleUser":{{"assumedRoleId":"AROA{}:{session}","arn":"arn:aws:sts::{account}:assumed-role/{role}/{session}"}}}}"#,
                rng.text(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16),
                rng.text(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 17),
            ));
            e.resources = vec![Resource {
                uid: format!("arn:aws:iam::{account}:role/{role}"),
                owner_account: Some(account.to_owned()),
                kind: "AWS::IAM::Role".to_owned(),
            }];
            format!(
                r#"{{"roleArn":"arn:aws:iam::{account}:role/{role}","roleSessionName":"{session}","durationSeconds":3600}}"#
            )
        }
        "CreateAccessKey" => {
            let user = rng.pick(SERVICE_USERS);
            e.response_data = Some(format!(
                r#"{{"accessKey":{{"userName":"{user}","accessKeyId":"AKIA{}","status":"Active"}}}}"#,
                rng.text(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16),
            ));
            format!(r#"{{"userName":"{user}"}}"#)
        }
        "DescribeInstances" => r#"{"instancesSet":{},"filterSet":{}}"#.to_owned(),
        "Decrypt" => r#"{"encryptionAlgorithm":"SYMMETRIC_DEFAULT"}"#.to_owned(),
        _ => "{}".to_owned(),
    });
    e.unmapped = vec![
        ("readOnly".into(), (activity == 2).to_string()),
        ("managementEvent".into(), "true".to_owned()),
        ("recipientAccountId".into(), account.to_owned()),
    ];
    if rng.chance(0.02) {
        e.error = Some("AccessDenied".to_owned());
        e.error_message = Some(format!("User is not authorized to perform: {op}"));
    }
    e
}

pub fn base(
    time: i64,
    region: &str,
    account: &str,
    feature: &'static str,
    op: &str,
    service: &str,
    rng: &mut Rng,
) -> ApiEvent {
    ApiEvent {
        time,
        uid: event_uid(rng),
        event_code: "AwsApiCall".into(),
        feature: feature.into(),
        operation: op.to_owned(),
        service: service.to_owned(),
        request_uid: request_id(rng),
        cloud_region: region.to_owned(),
        class_uid: 6003,
        activity_id: 2,
        accountid: account.to_owned(),
        region: region.to_owned(),
        user_type: "Unknown".into(),
        ..ApiEvent::default()
    }
}

pub fn pick_principal<'a>(world: &'a World, account: &str, time: i64, rng: &mut Rng) -> &'a Principal {
    // Rhythm: a human outside office hours is redrawn most of the time.
    let hour = usize::try_from((time / 3_600_000) % 24).unwrap_or(0);
    for _ in 0..8 {
        let p = &world.principals[rng.weighted(&world.weights)];
        if p.account != account {
            continue;
        }
        if p.office_hours && rng.below(16) >= u64::from(OFFICE[hour]) {
            continue;
        }
        return p;
    }
    world
        .principals
        .iter()
        .find(|p| p.account == account && !p.office_hours)
        .unwrap_or(&world.principals[0])
}

const LAMBDA_FUNCTIONS: &[&str] = &[
    "ingest-orders",
    "resize-images",
    "nightly-report",
    "webhook-handler",
    "audit-forwarder",
];
const INVOKERS: &[&str] = &[
    "events.amazonaws.com",
    "apigateway.amazonaws.com",
    "s3.amazonaws.com",
    "sqs.amazonaws.com",
];
const HOSTNAMES: &[&str] = &[
    "s3.us-east-1.amazonaws.com.",
    "sts.amazonaws.com.",
    "dynamodb.us-east-1.amazonaws.com.",
    "api.github.com.",
    "pypi.org.",
    "files.pythonhosted.org.",
    "db.internal.acme.",
    "cache.internal.acme.",
    "sqs.us-east-1.amazonaws.com.",
    "logs.us-east-1.amazonaws.com.",
    "registry.npmjs.org.",
    "ntp.ubuntu.com.",
];

/// A background Lambda data event (`Invoke`).
pub fn lambda_event(day: &Day<'_>, time: i64, rng: &mut Rng) -> ApiEvent {
    let (world, region, account) = (day.world, day.region, day.account);
    let function = rng.pick(LAMBDA_FUNCTIONS);
    let arn = format!("arn:aws:lambda:{region}:{account}:function:{function}");
    let mut e = base(
        time,
        region,
        account,
        "Data",
        "Invoke",
        "lambda.amazonaws.com",
        rng,
    );
    let role = world
        .principals
        .iter()
        .find(|p| p.account == account && p.name == "LambdaIngestRole")
        .unwrap_or(&world.principals[0]);
    identify(&mut e, role, day.key, rng);
    let invoker = rng.pick(INVOKERS);
    e.invoked_by = Some((*invoker).to_owned());
    e.src_ip = None;
    e.src_domain = Some((*invoker).to_owned());
    e.user_agent = Some((*invoker).to_owned());
    e.api_version = Some("2015-03-31".to_owned());
    e.request_data = Some(format!(r#"{{"functionName":"{arn}","invocationType":"Event"}}"#));
    e.resources = vec![Resource {
        uid: arn,
        owner_account: Some(account.to_owned()),
        kind: "AWS::Lambda::Function".to_owned(),
    }];
    e.unmapped = vec![
        ("readOnly".into(), "false".to_owned()),
        ("managementEvent".into(), "false".to_owned()),
    ];
    e
}

/// A background VPC flow record: instances talking to AWS endpoints, each other and the
/// internet; scanners knocking and being rejected.
pub fn flow_record(time: i64, region: &str, account: &str, rng: &mut Rng) -> Flow {
    let instance = rng.below(40);
    let local_ip = format!("10.0.{}.{}", instance / 10, 10 + instance);
    let kind = rng.weighted(&[40, 25, 20, 15]);
    let (remote_ip, remote_port, protocol, direction, accepted) = match kind {
        // To S3 / AWS APIs over HTTPS.
        0 => (
            format!("52.216.{}.{}", rng.below(256), rng.below(256)),
            443,
            6,
            2,
            true,
        ),
        // To the database.
        1 => (format!("10.0.9.{}", 5 + rng.below(3)), 5432, 6, 2, true),
        // DNS.
        2 => ("10.0.0.2".to_owned(), 53, 17, 2, true),
        // Internet scanners, mostly rejected.
        _ => (
            format!("45.{}.{}.{}", 1 + rng.below(250), rng.below(256), rng.below(256)),
            *rng.pick(&[22, 23, 3389, 445, 8080]),
            6,
            1,
            rng.chance(0.1),
        ),
    };
    let ephemeral = 32_768 + i32::try_from(rng.below(28_000)).unwrap_or(0);
    let (src_ip, src_port, dst_ip, dst_port) = if direction == 2 {
        (local_ip, ephemeral, remote_ip, remote_port)
    } else {
        (remote_ip, ephemeral, local_ip, remote_port)
    };
    let packets = i64::try_from(1 + rng.below(if accepted { 400 } else { 3 })).unwrap_or(1);
    Flow {
        start: time - 60_000,
        end: time,
        src_ip,
        src_port,
        dst_ip,
        dst_port,
        protocol,
        packets,
        bytes: packets * i64::try_from(60 + rng.below(1400)).unwrap_or(60),
        accepted,
        direction,
        vpc: "vpc-0a1b2c3d4e5f60718".to_owned(),
        subnet: format!("subnet-0{:016x}", instance / 10),
        instance: Some(format!("i-0{:016x}", 0xabc_0000 + instance)),
        interface: format!("eni-0{:016x}", 0xdef_0000 + instance),
        account: account.to_owned(),
        region: region.to_owned(),
    }
}

/// A background Route 53 Resolver query.
pub fn dns_query(time: i64, region: &str, account: &str, rng: &mut Rng) -> Dns {
    let instance = rng.below(40);
    let hostname = (*rng.pick(HOSTNAMES)).to_owned();
    let nx = rng.chance(0.03);
    Dns {
        time,
        src_ip: format!("10.0.{}.{}", instance / 10, 10 + instance),
        instance: Some(format!("i-0{:016x}", 0xabc_0000 + instance)),
        vpc: "vpc-0a1b2c3d4e5f60718".to_owned(),
        hostname: if nx {
            format!("wpad.{}", rng.text(b"abcdefghij", 6))
        } else {
            hostname
        },
        qtype: if rng.chance(0.8) { "A" } else { "AAAA" },
        rcode: if nx { 3 } else { 0 },
        answers: if nx {
            Vec::new()
        } else {
            vec![format!(
                "52.{}.{}.{}",
                200 + rng.below(20),
                rng.below(256),
                rng.below(256)
            )]
        },
        account: account.to_owned(),
        region: region.to_owned(),
    }
}

/// A background finding: the low-severity noise every account has.
pub fn finding(time: i64, region: &str, account: &str, rng: &mut Rng) -> Finding {
    let instance = format!("i-0{:016x}", 0xabc_0000 + rng.below(40));
    let (title, kind, severity) = *rng.pick(&[
        (
            "Unprotected port on EC2 instance is being probed.",
            "TTPs/Discovery/Recon:EC2-PortProbeUnprotectedPort",
            2,
        ),
        (
            "EC2 instance is querying a domain name associated with a known cryptocurrency-related activity.",
            "TTPs/Impact/CryptoCurrency:EC2-BitcoinTool.B!DNS",
            2,
        ),
        (
            "Security group allows unrestricted SSH access.",
            "Software and Configuration Checks/AWS Security Best Practices",
            3,
        ),
    ]);
    Finding {
        time,
        uid: rng.text(b"0123456789abcdef", 32),
        title: title.to_owned(),
        desc: format!("{title} The instance {instance} is involved."),
        finding_type: kind.to_owned(),
        severity_id: severity,
        resources: vec![(
            "AwsEc2Instance".to_owned(),
            format!("arn:aws:ec2:{region}:{account}:instance/{instance}"),
        )],
        observables: vec![("resources.uid", "Resource UID", 10, instance)],
        account: account.to_owned(),
        region: region.to_owned(),
    }
}

/// A background Kubernetes API call of an EKS cluster: controllers and nodes reading and watching,
/// now and then a deployment updated or a pod created by the CI role.
pub fn eks_call(time: i64, region: &str, account: &str, rng: &mut Rng) -> EksCall {
    let (user, groups, verb, kind, namespace): (&str, &[&str], &str, &str, &str) = *rng.pick(&[
        (
            "system:kube-controller-manager",
            &["system:authenticated"][..],
            "get",
            "leases",
            "kube-system",
        ),
        (
            "system:kube-scheduler",
            &["system:authenticated"][..],
            "update",
            "leases",
            "kube-system",
        ),
        (
            "system:node:ip-10-0-1-17.ec2.internal",
            &["system:nodes"][..],
            "watch",
            "pods",
            "default",
        ),
        (
            "system:node:ip-10-0-2-31.ec2.internal",
            &["system:nodes"][..],
            "list",
            "services",
            "default",
        ),
        (
            "system:serviceaccount:kube-system:coredns",
            &["system:serviceaccounts"][..],
            "watch",
            "endpointslices",
            "kube-system",
        ),
        (
            "arn:aws:sts::111122223333:assumed-role/ci-deploy/gitlab",
            &["system:masters"][..],
            "patch",
            "deployments",
            "shop",
        ),
        (
            "arn:aws:sts::111122223333:assumed-role/ci-deploy/gitlab",
            &["system:masters"][..],
            "create",
            "pods",
            "shop",
        ),
    ]);
    let name = match kind {
        "leases" => "kube-controller-manager".to_owned(),
        "deployments" => "checkout".to_owned(),
        _ => format!("{kind}-{}", rng.text(b"abcdefghijklmnopqrstuvwxyz0123456789", 5)),
    };
    let api = if matches!(kind, "leases") {
        "/apis/coordination.k8s.io/v1/"
    } else if kind == "deployments" {
        "/apis/apps/v1/"
    } else {
        "/api/v1/"
    };
    // A read now and then refused: a workload's service account without the RBAC it asks for.
    let denied = verb == "get" && rng.chance(0.02);
    EksCall {
        time,
        verb,
        user: user.to_owned(),
        groups: groups.iter().map(|g| (*g).to_owned()).collect(),
        src_ip: format!("10.0.{}.{}", 1 + rng.below(3), 10 + rng.below(40)),
        user_agent: if user.starts_with("arn:") {
            "kubectl/v1.30.2 (linux/amd64) kubernetes/3968350".to_owned()
        } else {
            format!(
                "{}/v1.30.2 (linux/amd64) kubernetes/3968350",
                user.rsplit(':').next().unwrap_or("kube")
            )
        },
        path: format!("{api}namespaces/{namespace}/{kind}/{name}"),
        resource: (kind.to_owned(), name, namespace.to_owned()),
        code: if denied { 403 } else { 200 },
        account: account.to_owned(),
        region: region.to_owned(),
    }
}

/// A background request to a web application behind AWS WAF: mostly pages and API calls allowed,
/// a managed rule group blocking the scanners that ask for credentials files and admin pages.
pub fn waf_request(time: i64, region: &str, account: &str, rng: &mut Rng) -> WafRequest {
    let scanner = rng.chance(0.04);
    let (method, path): (&str, &str) = if scanner {
        *rng.pick(&[
            ("GET", "/.aws/credentials"),
            ("GET", "/.env"),
            ("GET", "/wp-login.php"),
            ("POST", "/cgi-bin/luci"),
        ])
    } else {
        *rng.pick(&[
            ("GET", "/"),
            ("GET", "/products"),
            ("GET", "/static/app.js"),
            ("POST", "/api/cart"),
            ("POST", "/api/login"),
        ])
    };
    let country = *rng.pick(&["US", "US", "DE", "GB", "FR", "BR", "IN", "NL"]);
    WafRequest {
        time,
        method,
        hostname: "shop.example.com".to_owned(),
        path: path.to_owned(),
        src_ip: format!(
            "{}.{}.{}.{}",
            20 + rng.below(180),
            rng.below(256),
            rng.below(256),
            1 + rng.below(254)
        ),
        country,
        user_agent: if scanner {
            "python-requests/2.31.0".to_owned()
        } else {
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36".to_owned()
        },
        rule: scanner.then(|| {
            (
                "AWS-AWSManagedRulesCommonRuleSet".to_owned(),
                "MANAGED_RULE_GROUP",
                if path.starts_with("/.") { "REGEX" } else { "MATCH" },
            )
        }),
        allowed: !scanner,
        status: if scanner { 403 } else { 200 },
        account: account.to_owned(),
        region: region.to_owned(),
    }
}
