//! `irp lake generate`: a deterministic synthetic lake — many principals (IAM users, assumed
//! roles, AWS services) with daily rhythms, many buckets, realistic user agents, IPs and errors —
//! with an injected incident whose ground truth goes to `truth.json`.
//!
//! Every partition (source × region × account × day) draws from its own random stream derived
//! from the seed, so the lake is the same whatever the number of threads. Within a partition the
//! event times are drawn first and sorted, then events are made in time order and written in
//! row groups, so memory stays bounded by one row group per thread.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Duration, NaiveDate, SecondsFormat, Utc};
use serde::Serialize;

use super::ocsf::{ApiEvent, Resource, api_activity_schema, to_batch};
use super::ocsf_other::{
    Dns, Finding, Flow, dns_batch, dns_schema, finding_batch, finding_schema, flow_batch, flow_schema,
};
use super::rng::Rng;
use super::{LakeError, PartitionWriter, partition_dir};
use crate::playbook::table::LogicalTable;

mod more;

/// The stories the generator tells: an incident (or none) in the background activity. The CLI
/// names them `--scenario`; a rehearsal's scenario file (`rehearse::Scenario`) picks one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Story {
    /// A stolen access key used from a new IP: `ListBuckets`, `ListObjects`, thousands of
    /// `GetObject` on one bucket, then a `PutBucketPolicy` granting an external account.
    S3Exfiltration,
    /// Background activity only: a playbook must conclude there is no incident.
    Benign,
    /// A person's access key used from a new IP: discovery, a new user with a key, a login
    /// profile and administrator rights, a role assumed and its trust policy opened to an outside
    /// account, secrets and parameters read, logging stopped.
    CredentialCompromise,
    /// An application server's instance-profile credentials, stolen through its metadata
    /// service (`IMDSv1`), used from outside AWS: discovery, then a bucket listed and read.
    InstanceCredentialExfiltration,
}

impl Story {
    pub fn as_str(self) -> &'static str {
        match self {
            Story::S3Exfiltration => "s3-exfiltration",
            Story::Benign => "benign",
            Story::CredentialCompromise => "credential-compromise",
            Story::InstanceCredentialExfiltration => "instance-credential-exfiltration",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    pub scenario: Story,
    pub days: u32,
    /// Background events in all, across sources, regions, accounts and days.
    pub events: u64,
    pub seed: u64,
    pub regions: Vec<String>,
    pub accounts: Vec<String>,
    /// The last day of the lake (inclusive).
    pub end: NaiveDate,
    pub threads: usize,
}

/// The sources the generator writes, with their share of the events (per 100): data events
/// outnumber management events on a busy account, flow logs and DNS come next, findings are rare.
pub const SOURCES: [(LogicalTable, u64); 6] = [
    (LogicalTable::S3Data, 45),
    (LogicalTable::CloudTrailMgmt, 22),
    (LogicalTable::VpcFlow, 20),
    (LogicalTable::Route53, 9),
    (LogicalTable::LambdaExecution, 3),
    (LogicalTable::ShFindings, 1),
];

/// What a good responder should find: written to `truth.json`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Truth {
    pub scenario: &'static str,
    pub seed: u64,
    pub incident: bool,
    pub first_day: String,
    pub last_day: String,
    pub incident_details: Option<Incident>,
    /// For each bucket, the principals (user and role ARNs) that use it in the background
    /// activity: what a data owner would list as its expected readers (the S3 playbook's
    /// `known_principals`). The victim of the incident never uses the incident's bucket normally,
    /// so its reads there stand out.
    pub known_readers: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Incident {
    /// The principal whose credential was stolen.
    pub principal: String,
    pub user_name: String,
    pub access_key_id: String,
    /// Where the attacker came from.
    pub ips: Vec<String>,
    pub user_agent: String,
    pub bucket: String,
    pub bucket_account: String,
    pub region: String,
    /// The account the attacker's bucket policy grants access to.
    pub external_account: String,
    /// First and last malicious event (RFC 3339, ms).
    pub window_start: String,
    pub window_end: String,
    pub first_event: FirstEvent,
    /// Malicious events by operation.
    pub operations: BTreeMap<String, u64>,
    /// The Security Hub (`GuardDuty`) finding the incident raised, in `sh_findings`.
    pub finding_uid: String,
    /// The generator scenario.
    pub kind: &'static str,
    /// The user the attacker created, its access key, and the secrets and parameters read
    /// (`credential-compromise`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_user: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_access_key: Option<String>,
    /// The role the attacker assumed, the session key it got, and the role whose trust policy
    /// was opened (`credential-compromise`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assumed_role: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_key: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<String>,
    /// The instance whose credentials were stolen and its role (`instance-credential-exfiltration`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role_name: Option<String>,
    /// The instance's own private IP (where its credentials are normally used from).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance_ip: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FirstEvent {
    pub uid: String,
    pub source: &'static str,
    pub operation: String,
    pub time: String,
}

/// The outcome of a generation.
#[derive(Debug, Clone)]
pub struct Generated {
    pub files: u64,
    pub events: u64,
    pub bytes: u64,
    pub truth: Truth,
}

/// Rows built and handed to the Parquet writer at a time (the writer gathers them into row
/// groups of up to `ROW_GROUP_ROWS`).
const BATCH_ROWS: usize = 65_536;

/// The IP the stolen key is used from: in no background pool (TEST-NET ranges are used for the
/// background; this one is outside them).
const ATTACKER_IP: &str = "185.220.101.47";
const ATTACKER_UA: &str =
    "aws-cli/2.13.25 Python/3.11.5 Linux/6.5.0-kali3-amd64 exe/x86_64.kali.2023 prompt/off command/s3.cp";
const EXTERNAL_ACCOUNT: &str = "999988887777";

const FIRST_NAMES: &[&str] = &[
    "alice",
    "bob",
    "carol",
    "dave",
    "erin",
    "frank",
    "grace",
    "heidi",
    "ivan",
    "judy",
    "mallory-j",
    "niaj",
    "olivia",
    "peggy",
    "rupert",
    "sybil",
    "trent",
    "victor",
    "walter",
    "yusuf",
    "zoe",
    "amir",
    "bea",
    "chen",
];
const SERVICE_USERS: &[&str] = &[
    "svc-reporting",
    "ci-deployer",
    "backup-agent",
    "etl-loader",
    "metrics-export",
];
const ROLES: &[&str] = &[
    "AppServerRole",
    "DataPipelineRole",
    "LambdaIngestRole",
    "AdminRole",
    "ReadOnlyAuditor",
    "BackupRole",
    "EKSNodeRole",
    "GlueCrawlerRole",
    "AnalyticsRole",
    "DeployRole",
];
const SERVICES: &[(&str, &str)] = &[
    ("cloudtrail.amazonaws.com", "cloudtrail.amazonaws.com"),
    ("config.amazonaws.com", "config.amazonaws.com"),
    ("securitylake.amazonaws.com", "securitylake.amazonaws.com"),
    ("athena.amazonaws.com", "athena.amazonaws.com"),
];
const BUCKET_WORDS: &[&str] = &[
    "customer-exports",
    "finance-reports",
    "app-logs",
    "media-assets",
    "backups",
    "data-lake-raw",
    "ml-training",
    "web-static",
    "invoices",
    "hr-documents",
    "analytics-curated",
    "build-artifacts",
    "audit-archive",
    "partner-drop",
    "tmp-scratch",
];
const USER_AGENTS: &[&str] = &[
    "aws-cli/2.15.30 Python/3.11.8 Darwin/23.4.0 exe/x86_64 prompt/off command/s3.ls",
    "aws-cli/2.17.5 Python/3.11.9 Linux/5.15.0-1061-aws exe/x86_64.ubuntu.22 prompt/off command/s3.cp",
    "Boto3/1.34.84 md/Botocore#1.34.84 ua/2.0 os/linux#5.10.214-202.855.amzn2.x86_64 md/arch#x86_64 lang/python#3.11.8 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.34.84",
    "aws-sdk-java/2.25.26 Linux/5.10.213-201.855.amzn2.x86_64 OpenJDK_64-Bit_Server_VM/17.0.10+7-LTS Java/17.0.10 vendor/Amazon.com_Inc. io/sync http/Apache cfg/retry-mode/legacy",
    "[S3Console/0.4, aws-internal/3 aws-sdk-java/1.12.660 Linux/5.10.213-180.871.amzn2int.x86_64 OpenJDK_64-Bit_Server_VM/25.402-b08 java/1.8.0_402 vendor/Oracle_Corporation cfg/retry-mode/standard]",
    "aws-sdk-go-v2/1.26.1 os/linux lang/go#1.22.2 md/GOOS#linux md/GOARCH#amd64 api/s3#1.53.1",
    "aws-sdk-js/3.554.0 ua/2.0 os/linux#5.10.214 lang/js md/nodejs#20.12.2 api/s3#3.554.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
];
const KEY_PREFIXES: &[&str] = &[
    "reports/2026",
    "exports/daily",
    "raw/events",
    "images",
    "invoices/2026",
    "tmp",
    "models",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    User,
    Role,
    Service,
}

/// Someone (or something) who makes API calls.
#[derive(Debug, Clone)]
struct Principal {
    kind: Kind,
    name: String,
    arn: String,
    account: String,
    /// The access key of a user (`AKIA…`); roles get a session key (`ASIA…`) per day.
    key: String,
    ips: Vec<String>,
    user_agent: &'static str,
    /// Relative activity.
    weight: u32,
    /// Humans work office hours; machines around the clock.
    office_hours: bool,
    /// Buckets this principal uses (indices into `World::buckets`).
    buckets: Vec<usize>,
    admin: bool,
}

#[derive(Debug, Clone)]
struct Bucket {
    name: String,
    account: String,
}

/// The population of the lake, made from the seed.
#[derive(Debug)]
struct World {
    principals: Vec<Principal>,
    weights: Vec<u32>,
    buckets: Vec<Bucket>,
}

const UPPER_DIGITS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

fn world(cfg: &Config) -> World {
    let mut rng = Rng::derived(cfg.seed, "world");
    let mut buckets = Vec::new();
    for (a, account) in cfg.accounts.iter().enumerate() {
        for w in BUCKET_WORDS {
            buckets.push(Bucket {
                name: if a == 0 {
                    format!("acme-{w}")
                } else {
                    format!("acme-{w}-{}", &account[8..])
                },
                account: account.clone(),
            });
        }
    }
    let corp_ips: Vec<String> = (0..24).map(|i| format!("198.51.100.{}", 10 + i)).collect();
    let mut principals = Vec::new();
    for account in &cfg.accounts {
        let own: Vec<usize> = (0..buckets.len())
            .filter(|i| buckets[*i].account == *account)
            .collect();
        let some_buckets =
            |rng: &mut Rng, n: usize| -> Vec<usize> { (0..n).map(|_| *rng.pick(&own)).collect() };
        for (i, name) in FIRST_NAMES.iter().chain(SERVICE_USERS).enumerate() {
            let human = i < FIRST_NAMES.len();
            let ips = if human {
                vec![
                    rng.pick(&corp_ips).clone(),
                    format!("203.0.113.{}", 1 + rng.below(250)),
                ]
            } else {
                vec![format!("192.0.2.{}", 10 + rng.below(200))]
            };
            principals.push(Principal {
                kind: Kind::User,
                name: (*name).to_owned(),
                arn: format!("arn:aws:iam::{account}:user/{name}"),
                account: account.clone(),
                key: format!("AKIA{}", rng.text(UPPER_DIGITS, 16)),
                ips,
                user_agent: if human {
                    USER_AGENTS[rng.index(5)]
                } else {
                    USER_AGENTS[2 + rng.index(5)]
                },
                weight: if human {
                    2 + u32::try_from(rng.below(6)).unwrap_or(0)
                } else {
                    12
                },
                office_hours: human,
                buckets: some_buckets(&mut rng, if human { 3 } else { 2 }),
                admin: i < 3,
            });
        }
        for role in ROLES {
            principals.push(Principal {
                kind: Kind::Role,
                name: (*role).to_owned(),
                arn: format!("arn:aws:iam::{account}:role/{role}"),
                account: account.clone(),
                key: String::new(),
                ips: vec![format!(
                    "10.{}.{}.{}",
                    rng.below(8),
                    rng.below(250),
                    1 + rng.below(250)
                )],
                user_agent: USER_AGENTS[2 + rng.index(5)],
                weight: 25,
                office_hours: false,
                buckets: some_buckets(&mut rng, 4),
                admin: *role == "AdminRole",
            });
        }
        for (service, _) in SERVICES {
            principals.push(Principal {
                kind: Kind::Service,
                name: (*service).to_owned(),
                arn: String::new(),
                account: account.clone(),
                key: String::new(),
                ips: Vec::new(),
                user_agent: service,
                weight: 8,
                office_hours: false,
                buckets: some_buckets(&mut rng, 2),
                admin: false,
            });
        }
    }
    // The incident's victim (a reporting service) has no business on the customer-exports
    // bucket, which is what makes its stolen key's reads there suspicious.
    for p in principals.iter_mut().filter(|p| p.name == "svc-reporting") {
        let alternatives: Vec<usize> = (0..buckets.len())
            .filter(|i| {
                buckets[*i].account == p.account && !buckets[*i].name.starts_with("acme-customer-exports")
            })
            .collect();
        for b in &mut p.buckets {
            if buckets[*b].name.starts_with("acme-customer-exports") {
                *b = alternatives[*b % alternatives.len()];
            }
        }
    }
    let weights = principals.iter().map(|p| p.weight).collect();
    World {
        principals,
        weights,
        buckets,
    }
}

/// Relative activity per UTC hour: office hours (US and EU overlap) peak in the afternoon.
const OFFICE: [u32; 24] = [
    2, 1, 1, 1, 1, 2, 4, 8, 12, 14, 15, 15, 14, 15, 16, 16, 15, 13, 10, 7, 5, 4, 3, 2,
];

/// The incident as a plan: which scenario, who, which bucket, when, how many reads.
struct IncidentPlan {
    kind: Story,
    victim: usize,
    bucket: usize,
    region: String,
    account: String,
    start_ms: i64,
    reads: u64,
    /// The `GuardDuty` finding the incident raises.
    finding_uid: String,
    /// The incident day's key (`YYYYMMDD` + account + region), as partitions name it.
    day_key: String,
    /// The access key the attacker creates, and the role session key it gets
    /// (`credential-compromise`).
    new_key: String,
    session_key: String,
}

fn plan(cfg: &Config, world: &World) -> Option<IncidentPlan> {
    let (victim_name, bucket_name, at) = match cfg.scenario {
        Story::Benign => return None,
        Story::S3Exfiltration => ("svc-reporting", "acme-customer-exports", (2, 13, 7)),
        Story::CredentialCompromise => ("dave", "acme-finance-reports", (3, 41, 12)),
        Story::InstanceCredentialExfiltration => ("AppServerRole", "acme-finance-reports", (1, 27, 45)),
    };
    let mut rng = Rng::derived(cfg.seed, "incident");
    let victim = world.principals.iter().position(|p| p.name == victim_name)?;
    let account = world.principals[victim].account.clone();
    let bucket = world
        .buckets
        .iter()
        .position(|b| b.name == bucket_name && b.account == account)?;
    // Two days before the end (or the first day of a short lake), at night UTC.
    let back = if cfg.days >= 3 { 2 } else { i64::from(cfg.days) - 1 };
    let day = cfg.end - Duration::days(back);
    let start = day.and_hms_opt(at.0, at.1, at.2)?.and_utc()
        + Duration::milliseconds(i64::try_from(rng.below(1000)).unwrap_or(0));
    let reads = match cfg.scenario {
        Story::InstanceCredentialExfiltration => (cfg.events / 20_000).clamp(40, 400),
        _ => (cfg.events / 3_000).clamp(1_200, 4_000),
    };
    let finding_uid = rng.text(b"0123456789abcdef", 32);
    let region = cfg.regions[0].clone();
    let day_key = format!("{}{account}{region}", day.format("%Y%m%d"));
    let new_key = format!("AKIA{}", rng.text(UPPER_DIGITS, 16));
    let session_key = format!("ASIA{}", rng.text(UPPER_DIGITS, 16));
    Some(IncidentPlan {
        kind: cfg.scenario,
        victim,
        bucket,
        region,
        account,
        start_ms: start.timestamp_millis(),
        reads,
        finding_uid,
        day_key,
        new_key,
        session_key,
    })
}

fn known_readers(world: &World) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (i, bucket) in world.buckets.iter().enumerate() {
        let mut arns: Vec<String> = world
            .principals
            .iter()
            .filter(|p| !p.arn.is_empty() && p.buckets.contains(&i))
            .map(|p| p.arn.clone())
            .collect();
        arns.sort();
        arns.dedup();
        out.insert(bucket.name.clone(), arns);
    }
    out
}

fn iso(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn event_uid(rng: &mut Rng) -> String {
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

fn request_id(rng: &mut Rng) -> String {
    rng.text(b"ABCDEF0123456789", 16)
}

fn object_key(rng: &mut Rng) -> String {
    format!(
        "{}/{:05}.{}",
        rng.pick(KEY_PREFIXES),
        rng.below(40_000),
        rng.pick(&["csv", "json", "parquet", "pdf", "png"])
    )
}

/// Makes `e` a call with user `p`'s access key from `ip` with `agent`: how a stolen key looks.
fn as_user(e: &mut ApiEvent, p: &Principal, ip: &str, agent: &str) {
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
fn identify(e: &mut ApiEvent, p: &Principal, day_key: &str, rng: &mut Rng) {
    match p.kind {
        Kind::User => {
            e.user_type = "IAMUser".into();
            e.user_name = Some(p.name.clone());
            e.user_uid = Some(p.arn.clone());
            e.user_uid_alt = Some(format!("AIDA{}", &p.key[4..]));
            e.user_account = Some(p.account.clone());
            e.credential_uid = Some(p.key.clone());
            e.src_ip = Some(rng.pick(&p.ips).clone());
            e.user_agent = Some(p.user_agent.to_owned());
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

fn s3_resources(bucket: &Bucket, key: Option<&str>) -> Vec<Resource> {
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

/// A background S3 data event at `time`.
fn s3_event(world: &World, time: i64, region: &str, account: &str, day_key: &str, rng: &mut Rng) -> ApiEvent {
    let p = pick_principal(world, account, time, rng);
    let bucket = &world.buckets[*rng.pick(&p.buckets)];
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
    identify(&mut e, p, day_key, rng);
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
fn mgmt_event(
    world: &World,
    time: i64,
    region: &str,
    account: &str,
    day_key: &str,
    rng: &mut Rng,
) -> ApiEvent {
    let p = pick_principal(world, account, time, rng);
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
    identify(&mut e, p, day_key, rng);
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
            format!(
                r#"{{"roleArn":"arn:aws:iam::{account}:role/{role}","roleSessionName":"session-{}","durationSeconds":3600}}"#,
                rng.below(100_000)
            )
        }
        "CreateAccessKey" => format!(r#"{{"userName":"{}"}}"#, rng.pick(SERVICE_USERS)),
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

fn base(
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

fn pick_principal<'a>(world: &'a World, account: &str, time: i64, rng: &mut Rng) -> &'a Principal {
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
fn lambda_event(
    world: &World,
    time: i64,
    region: &str,
    account: &str,
    day_key: &str,
    rng: &mut Rng,
) -> ApiEvent {
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
    identify(&mut e, role, day_key, rng);
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
fn flow_record(time: i64, region: &str, account: &str, rng: &mut Rng) -> Flow {
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
fn dns_query(time: i64, region: &str, account: &str, rng: &mut Rng) -> Dns {
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
fn background_finding(time: i64, region: &str, account: &str, rng: &mut Rng) -> Finding {
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
        resource_type: "AwsEc2Instance".to_owned(),
        resource_uid: format!("arn:aws:ec2:{region}:{account}:instance/{instance}"),
        observables: vec![("resources.uid", "Resource UID", 10, instance)],
        account: account.to_owned(),
        region: region.to_owned(),
    }
}

/// The finding the attacker's Tor exit IP raises, twenty minutes in.
fn incident_finding(world: &World, plan: &IncidentPlan) -> Finding {
    let victim = &world.principals[plan.victim];
    match plan.kind {
        Story::CredentialCompromise => {
            return Finding {
                time: plan.start_ms + 25 * 60_000,
                uid: plan.finding_uid.clone(),
                title: format!("Anomalous API calls were made by IAM user {}.", victim.name),
                desc: format!(
                    "APIs commonly used for persistence (CreateUser, CreateAccessKey, AttachUserPolicy) were invoked from {} using access key {} of IAM user {}.",
                    more::CREDENTIAL_ATTACKER_IP,
                    victim.key,
                    victim.name
                ),
                finding_type: "TTPs/Persistence/Persistence:IAMUser-AnomalousBehavior".to_owned(),
                severity_id: 3,
                resource_type: "AwsIamAccessKey".to_owned(),
                resource_uid: victim.key.clone(),
                observables: vec![
                    (
                        "src_endpoint.ip",
                        "IP Address",
                        2,
                        more::CREDENTIAL_ATTACKER_IP.to_owned(),
                    ),
                    ("actor.user.name", "User Name", 4, victim.name.clone()),
                ],
                account: plan.account.clone(),
                region: plan.region.clone(),
            };
        }
        Story::InstanceCredentialExfiltration => {
            let (session, key) = more::role_session(&plan.day_key);
            return Finding {
                time: plan.start_ms + 15 * 60_000,
                uid: plan.finding_uid.clone(),
                title: format!(
                    "Credentials for instance role {} used from a remote AWS account or external IP.",
                    victim.name
                ),
                desc: format!(
                    "Credentials that were created exclusively for an EC2 instance using instance role {} have been used from external IP address {} (session {session}).",
                    victim.name,
                    more::INSTANCE_ATTACKER_IP
                ),
                finding_type:
                    "TTPs/Initial Access/UnauthorizedAccess:IAMUser-InstanceCredentialExfiltration.OutsideAWS"
                        .to_owned(),
                severity_id: 4,
                resource_type: "AwsIamAccessKey".to_owned(),
                resource_uid: key,
                observables: vec![(
                    "src_endpoint.ip",
                    "IP Address",
                    2,
                    more::INSTANCE_ATTACKER_IP.to_owned(),
                )],
                account: plan.account.clone(),
                region: plan.region.clone(),
            };
        }
        Story::S3Exfiltration | Story::Benign => {}
    }
    Finding {
        time: plan.start_ms + 20 * 60_000,
        uid: plan.finding_uid.clone(),
        title: format!(
            "API GetObject was invoked from a Tor exit node IP address by {}.",
            victim.name
        ),
        desc: format!(
            "API GetObject was invoked from Tor exit node IP address {ATTACKER_IP} using access key {} of IAM user {}.",
            victim.key, victim.name
        ),
        finding_type: "TTPs/Initial Access/UnauthorizedAccess:IAMUser-TorIPCaller".to_owned(),
        severity_id: 3,
        resource_type: "AwsIamAccessKey".to_owned(),
        resource_uid: victim.key.clone(),
        observables: vec![
            ("src_endpoint.ip", "IP Address", 2, ATTACKER_IP.to_owned()),
            ("actor.user.name", "User Name", 4, victim.name.clone()),
        ],
        account: victim.account.clone(),
        region: plan.region.clone(),
    }
}

/// The incident's events in one partition, in time order.
fn incident_events(world: &World, plan: &IncidentPlan, source: LogicalTable, rng: &mut Rng) -> Vec<ApiEvent> {
    match plan.kind {
        Story::CredentialCompromise if source == LogicalTable::CloudTrailMgmt => {
            return more::credential_compromise(world, plan, rng);
        }
        Story::CredentialCompromise => return Vec::new(),
        Story::InstanceCredentialExfiltration => {
            return more::instance_credentials(world, plan, source, rng);
        }
        Story::S3Exfiltration | Story::Benign => {}
    }
    let victim = &world.principals[plan.victim];
    let bucket = &world.buckets[plan.bucket];
    let region = plan.region.as_str();
    let account = victim.account.as_str();
    let attacker = |e: &mut ApiEvent| as_user(e, victim, ATTACKER_IP, ATTACKER_UA);
    let mut out = Vec::new();
    let t0 = plan.start_ms;
    match source {
        LogicalTable::CloudTrailMgmt => {
            let mut e = base(
                t0,
                region,
                account,
                "Management",
                "GetCallerIdentity",
                "sts.amazonaws.com",
                rng,
            );
            attacker(&mut e);
            e.request_data = Some("{}".to_owned());
            out.push(e);
            let mut e = base(
                t0 + 41_000,
                region,
                account,
                "Management",
                "ListBuckets",
                "s3.amazonaws.com",
                rng,
            );
            attacker(&mut e);
            e.request_data = Some(format!(r#"{{"Host":"s3.{region}.amazonaws.com"}}"#));
            out.push(e);
            let end = t0 + 4 * 60_000 + i64::try_from(plan.reads).unwrap_or(0) * 800 + 5 * 60_000;
            let mut e = base(
                end,
                region,
                account,
                "Management",
                "PutBucketPolicy",
                "s3.amazonaws.com",
                rng,
            );
            attacker(&mut e);
            e.activity_id = 3;
            e.resources = s3_resources(bucket, None);
            e.request_data = Some(format!(
                r#"{{"bucketName":"{0}","bucketPolicy":{{"Version":"2012-10-17","Statement":[{{"Sid":"Replication","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{EXTERNAL_ACCOUNT}:root"}},"Action":["s3:GetObject","s3:ListBucket"],"Resource":["arn:aws:s3:::{0}","arn:aws:s3:::{0}/*"]}}]}},"Host":"{0}.s3.{region}.amazonaws.com","policy":""}}"#,
                bucket.name
            ));
            out.push(e);
        }
        LogicalTable::S3Data => {
            for page in 0..5 {
                let mut e = base(
                    t0 + 120_000 + page * 3_000,
                    region,
                    account,
                    "Data",
                    "ListObjects",
                    "s3.amazonaws.com",
                    rng,
                );
                attacker(&mut e);
                e.request_data = Some(format!(
                    r#"{{"list-type":"2","bucketName":"{0}","Host":"{0}.s3.{region}.amazonaws.com","prefix":"","continuation-token":"page-{page}"}}"#,
                    bucket.name
                ));
                e.resources = s3_resources(bucket, None);
                out.push(e);
            }
            let mut t = t0 + 4 * 60_000;
            for i in 0..plan.reads {
                t += 300 + i64::try_from(rng.below(1_000)).unwrap_or(0);
                let key = format!("exports/daily/customers-{i:05}.csv");
                let mut e = base(t, region, account, "Data", "GetObject", "s3.amazonaws.com", rng);
                attacker(&mut e);
                e.request_data = Some(format!(
                    r#"{{"bucketName":"{0}","Host":"{0}.s3.{region}.amazonaws.com","key":"{key}"}}"#,
                    bucket.name
                ));
                e.resources = s3_resources(bucket, Some(&key));
                e.unmapped = vec![
                    ("readOnly".into(), "true".to_owned()),
                    ("managementEvent".into(), "false".to_owned()),
                    (
                        "additionalEventData.bytesTransferredOut".into(),
                        (40_000 + rng.below(4_000_000)).to_string(),
                    ),
                ];
                out.push(e);
            }
        }
        _ => {}
    }
    out
}

/// What writing one partition gave: events, files, and the first incident event in it.
type Written = (u64, u64, Option<ApiEvent>);

/// One partition to write.
#[derive(Debug, Clone)]
struct Part {
    source: LogicalTable,
    region: String,
    account: String,
    day: NaiveDate,
    events: u64,
}

/// Generates the lake into `dir` (which must be new or empty) and writes `truth.json`.
pub fn generate(
    dir: &Path,
    cfg: &Config,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> Result<Generated, LakeError> {
    check(cfg)?;
    if dir.exists()
        && std::fs::read_dir(dir)
            .map_err(|e| LakeError::io(dir, e))?
            .next()
            .is_some()
    {
        return Err(LakeError::Invalid(format!(
            "{} is not empty; give a new folder (a lake is generated whole)",
            dir.display()
        )));
    }
    let world = world(cfg);
    let plan = plan(cfg, &world);
    let first = cfg.end - Duration::days(i64::from(cfg.days) - 1);
    let mut parts = Vec::new();
    let cells = u64::try_from(cfg.regions.len() * cfg.accounts.len()).unwrap_or(1) * u64::from(cfg.days);
    for (source, share) in SOURCES {
        // This source's events, spread evenly over its partitions (the first ones take the rest).
        let own = cfg.events * share / 100;
        let per = own / cells.max(1);
        let mut left = own - per * cells;
        for d in 0..cfg.days {
            let day = first + Duration::days(i64::from(d));
            for region in &cfg.regions {
                for account in &cfg.accounts {
                    let extra = u64::from(left > 0);
                    left -= extra;
                    parts.push(Part {
                        source,
                        region: region.clone(),
                        account: account.clone(),
                        day,
                        events: per + extra,
                    });
                }
            }
        }
    }
    // Big partitions first, so the threads finish together.
    parts.sort_by_key(|p| std::cmp::Reverse(p.events));
    let done = AtomicU64::new(0);
    let total = cfg.events;
    let next = AtomicU64::new(0);
    let results: Vec<Result<Written, LakeError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..cfg.threads.max(1))
            .map(|_| {
                scope.spawn(|| {
                    let mut out = Vec::new();
                    loop {
                        let i = usize::try_from(next.fetch_add(1, Ordering::Relaxed)).unwrap_or(usize::MAX);
                        let Some(part) = parts.get(i) else { break };
                        let r = write_part(dir, cfg, &world, plan.as_ref(), part, &|n| {
                            let d = done.fetch_add(n, Ordering::Relaxed) + n;
                            progress(d.min(total), total);
                        });
                        out.push(r);
                    }
                    out
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    });
    let mut files = 0;
    let mut events = 0;
    let mut first_malicious: Option<(ApiEvent, &'static str)> = None;
    for r in results {
        let (n, f, first_event) = r?;
        events += n;
        files += f;
        if let Some(e) = first_event {
            let source = if e.feature == "Data" {
                "s3_data"
            } else {
                "cloud_trail_mgmt"
            };
            if first_malicious.as_ref().is_none_or(|(x, _)| e.time < x.time) {
                first_malicious = Some((e, source));
            }
        }
    }
    let bytes = folder_size(dir);
    let truth = Truth {
        scenario: cfg.scenario.as_str(),
        seed: cfg.seed,
        incident: plan.is_some(),
        first_day: first.to_string(),
        last_day: cfg.end.to_string(),
        incident_details: plan
            .as_ref()
            .map(|p| incident_truth(cfg.seed, &world, p, first_malicious.as_ref())),
        known_readers: known_readers(&world),
    };
    let text = serde_json::to_string_pretty(&truth).unwrap_or_default() + "\n";
    let path = dir.join("truth.json");
    std::fs::write(&path, text).map_err(|e| LakeError::io(&path, e))?;
    Ok(Generated {
        files,
        events,
        bytes,
        truth,
    })
}

/// The most background events one lake may hold: far beyond any rehearsal, and small enough that
/// every count fits its type.
pub const MAX_EVENTS: u64 = 10_000_000_000;

fn check(cfg: &Config) -> Result<(), LakeError> {
    if cfg.events > MAX_EVENTS {
        return Err(LakeError::Invalid(format!(
            "--events {} is more than a lake may hold ({MAX_EVENTS})",
            cfg.events
        )));
    }
    if cfg.days == 0 || cfg.days > 400 {
        return Err(LakeError::Invalid(format!(
            "--days {} is out of range (1 to 400)",
            cfg.days
        )));
    }
    if cfg.regions.is_empty() || cfg.accounts.is_empty() {
        return Err(LakeError::Invalid(
            "give at least one region and one account".to_owned(),
        ));
    }
    for a in &cfg.accounts {
        if a.len() != 12 || !a.chars().all(|c| c.is_ascii_digit()) || a == EXTERNAL_ACCOUNT {
            return Err(LakeError::Invalid(format!(
                "`{a}` is not a 12-digit AWS account id (or is the scenario's external account)"
            )));
        }
    }
    for r in &cfg.regions {
        if r.is_empty()
            || !r
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            return Err(LakeError::Invalid(format!(
                "`{r}` is not an AWS region name (e.g. us-east-1)"
            )));
        }
    }
    Ok(())
}

/// The incident's events in every source, made again with the streams `write_part` used.
fn incident_all(seed: u64, world: &World, plan: &IncidentPlan) -> Vec<ApiEvent> {
    let day = DateTime::<Utc>::from_timestamp_millis(plan.start_ms)
        .unwrap_or_default()
        .date_naive();
    let mut all = Vec::new();
    for source in [LogicalTable::CloudTrailMgmt, LogicalTable::S3Data] {
        let label = format!("{source}/{}/{}/{day}", plan.region, plan.account);
        let mut irng = Rng::derived(seed, &format!("incident/{label}"));
        all.extend(incident_events(world, plan, source, &mut irng));
    }
    all.sort_by_key(|e| e.time);
    all
}

fn incident_truth(
    seed: u64,
    world: &World,
    plan: &IncidentPlan,
    first: Option<&(ApiEvent, &'static str)>,
) -> Incident {
    let victim = &world.principals[plan.victim];
    let bucket = &world.buckets[plan.bucket];
    let mut end = plan.start_ms + 4 * 60_000 + i64::try_from(plan.reads).unwrap_or(0) * 800 + 5 * 60_000;
    let mut operations = BTreeMap::new();
    let (mut principal, mut key, ips, user_agent) = (
        victim.arn.clone(),
        victim.key.clone(),
        vec![ATTACKER_IP.to_owned()],
        ATTACKER_UA.to_owned(),
    );
    // What only some scenarios have.
    let (mut created_user, mut created_access_key, mut assumed_role, mut session_key) =
        (None, None, None, None);
    let (mut secrets, mut instance_id, mut role_name, mut own_ip) = (Vec::new(), None, None, None);
    let ips = match plan.kind {
        Story::S3Exfiltration | Story::Benign => {
            operations.insert("GetCallerIdentity".to_owned(), 1);
            operations.insert("ListBuckets".to_owned(), 1);
            operations.insert("ListObjects".to_owned(), 5);
            operations.insert("GetObject".to_owned(), plan.reads);
            operations.insert("PutBucketPolicy".to_owned(), 1);
            ips
        }
        Story::CredentialCompromise | Story::InstanceCredentialExfiltration => {
            let events = incident_all(seed, world, plan);
            for e in &events {
                *operations.entry(e.operation.clone()).or_insert(0) += 1;
            }
            end = events.last().map_or(end, |e| e.time);
            if plan.kind == Story::CredentialCompromise {
                created_user = Some(format!(
                    "arn:aws:iam::{}:user/{}",
                    plan.account,
                    more::CREATED_USER
                ));
                created_access_key = Some(plan.new_key.clone());
                assumed_role = Some(format!(
                    "arn:aws:iam::{}:role/{}",
                    plan.account,
                    more::ASSUMED_ROLE
                ));
                session_key = Some(plan.session_key.clone());
                secrets = more::SECRETS
                    .iter()
                    .chain(more::PARAMETERS.iter())
                    .map(|s| (*s).to_owned())
                    .collect();
                vec![more::CREDENTIAL_ATTACKER_IP.to_owned()]
            } else {
                let (session, role_key) = more::role_session(&plan.day_key);
                principal = format!(
                    "arn:aws:sts::{}:assumed-role/{}/{session}",
                    plan.account, victim.name
                );
                key = role_key;
                instance_id = Some(session);
                role_name = Some(victim.name.clone());
                own_ip = victim.ips.first().cloned();
                vec![more::INSTANCE_ATTACKER_IP.to_owned()]
            }
        }
    };
    let user_agent = match plan.kind {
        Story::CredentialCompromise => more::CREDENTIAL_ATTACKER_UA.to_owned(),
        Story::InstanceCredentialExfiltration => more::INSTANCE_ATTACKER_UA.to_owned(),
        _ => user_agent,
    };
    Incident {
        principal,
        user_name: victim.name.clone(),
        access_key_id: key,
        ips,
        user_agent,
        bucket: bucket.name.clone(),
        bucket_account: bucket.account.clone(),
        region: plan.region.clone(),
        external_account: EXTERNAL_ACCOUNT.to_owned(),
        window_start: iso(plan.start_ms),
        window_end: iso(end),
        first_event: first.map_or_else(
            || FirstEvent {
                uid: String::new(),
                source: "cloud_trail_mgmt",
                operation: String::new(),
                time: iso(plan.start_ms),
            },
            |(e, source)| FirstEvent {
                uid: e.uid.clone(),
                source,
                operation: e.operation.clone(),
                time: iso(e.time),
            },
        ),
        operations,
        finding_uid: plan.finding_uid.clone(),
        kind: plan.kind.as_str(),
        created_user,
        created_access_key,
        assumed_role,
        session_key,
        secrets,
        instance_id,
        role_name,
        instance_ip: own_ip,
    }
}

/// Writes one partition; returns (events, files, the first incident event in it).
fn write_part(
    dir: &Path,
    cfg: &Config,
    world: &World,
    plan: Option<&IncidentPlan>,
    part: &Part,
    progress: &dyn Fn(u64),
) -> Result<Written, LakeError> {
    let day_key = format!("{}{}{}", part.day.format("%Y%m%d"), part.account, part.region);
    let label = format!("{}/{}/{}/{}", part.source, part.region, part.account, part.day);
    let mut rng = Rng::derived(cfg.seed, &label);
    let day_start = part
        .day
        .and_hms_opt(0, 0, 0)
        .map_or(0, |t| t.and_utc().timestamp_millis());
    // Times first, sorted: machines spread evenly, people by the office rhythm (through the
    // principal choice), so a uniform draw is right here.
    let mut times: Vec<i64> = (0..part.events)
        .map(|_| day_start + i64::try_from(rng.below(86_400_000)).unwrap_or(0))
        .collect();
    times.sort_unstable();
    let in_scope = |p: &&IncidentPlan| p.region == part.region && p.account == part.account;
    let in_day = |t: i64| t >= day_start && t < day_start + 86_400_000;
    let mut irng = Rng::derived(cfg.seed, &format!("incident/{label}"));
    let path = partition_dir(dir, part.source, &part.region, &part.account, part.day)
        .join("part-00000.zstd.parquet");
    let (region, account) = (part.region.as_str(), part.account.as_str());
    let mut sink = Sink { path, progress };
    match part.source {
        LogicalTable::S3Data | LogicalTable::CloudTrailMgmt | LogicalTable::LambdaExecution => {
            let mut injected: Vec<ApiEvent> = plan
                .filter(in_scope)
                .map(|p| incident_events(world, p, part.source, &mut irng))
                .unwrap_or_default()
                .into_iter()
                .filter(|e| in_day(e.time))
                .collect();
            let first = injected.first().cloned();
            if part.source == LogicalTable::CloudTrailMgmt && part.events > 0 {
                injected.extend(more::iac_events(cfg.seed, &label, day_start, region, account));
                injected.sort_by_key(|e| e.time);
            }
            let source = part.source;
            let rows = sink.write(
                times,
                injected,
                |e| e.time,
                &api_activity_schema(),
                to_batch,
                |t| match source {
                    LogicalTable::S3Data => s3_event(world, t, region, account, &day_key, &mut rng),
                    LogicalTable::LambdaExecution => {
                        lambda_event(world, t, region, account, &day_key, &mut rng)
                    }
                    _ => mgmt_event(world, t, region, account, &day_key, &mut rng),
                },
            )?;
            Ok((rows, u64::from(rows > 0), first))
        }
        LogicalTable::VpcFlow => {
            let rows = sink.write(
                times,
                Vec::new(),
                |f| f.end,
                &flow_schema(),
                flow_batch,
                |t| flow_record(t, region, account, &mut rng),
            )?;
            Ok((rows, u64::from(rows > 0), None))
        }
        LogicalTable::Route53 => {
            let rows = sink.write(
                times,
                Vec::new(),
                |d| d.time,
                &dns_schema(),
                dns_batch,
                |t| dns_query(t, region, account, &mut rng),
            )?;
            Ok((rows, u64::from(rows > 0), None))
        }
        _ => {
            let injected: Vec<Finding> = plan
                .filter(in_scope)
                .map(|p| incident_finding(world, p))
                .into_iter()
                .filter(|f| in_day(f.time))
                .collect();
            let rows = sink.write(
                times,
                injected,
                |f| f.time,
                &finding_schema(),
                finding_batch,
                |t| background_finding(t, region, account, &mut rng),
            )?;
            Ok((rows, u64::from(rows > 0), None))
        }
    }
}

/// Where one partition's rows go.
struct Sink<'a> {
    path: PathBuf,
    progress: &'a dyn Fn(u64),
}

impl Sink<'_> {
    /// Merges background rows (made at `times`, in order) with injected ones (in time order)
    /// and writes them in row groups. Writes nothing for a partition with no rows.
    #[allow(clippy::too_many_arguments)]
    fn write<R>(
        &mut self,
        times: Vec<i64>,
        mut injected: Vec<R>,
        time_of: fn(&R) -> i64,
        schema: &arrow::datatypes::SchemaRef,
        to_batch: fn(&[R]) -> Result<arrow::record_batch::RecordBatch, arrow::error::ArrowError>,
        mut make: impl FnMut(i64) -> R,
    ) -> Result<u64, LakeError> {
        if times.is_empty() && injected.is_empty() {
            return Ok(0);
        }
        injected.reverse(); // pop() takes the earliest
        let mut writer = PartitionWriter::create(&self.path, schema)?;
        let mut chunk: Vec<R> = Vec::with_capacity(BATCH_ROWS.min(times.len() + injected.len()));
        let mut bg = times.into_iter().peekable();
        loop {
            let row = match (injected.last().map(time_of), bg.peek()) {
                (Some(i), Some(t)) if i <= *t => injected.pop(),
                (Some(_), None) => injected.pop(),
                (_, Some(_)) => bg.next().map(&mut make),
                (None, None) => break,
            };
            let Some(row) = row else { break };
            chunk.push(row);
            if chunk.len() == BATCH_ROWS {
                writer.write(&to_batch(&chunk)?)?;
                (self.progress)(chunk.len() as u64);
                chunk.clear();
            }
        }
        if !chunk.is_empty() {
            writer.write(&to_batch(&chunk)?)?;
            (self.progress)(chunk.len() as u64);
        }
        writer.finish()
    }
}

fn folder_size(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack: Vec<PathBuf> = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        let Ok(list) = std::fs::read_dir(&d) else { continue };
        for e in list.flatten() {
            match e.metadata() {
                Ok(m) if m.is_dir() => stack.push(e.path()),
                Ok(m) => total += m.len(),
                Err(_) => {}
            }
        }
    }
    total
}
