//! The lake's population, made from the seed: people and service users with their keys, IPs and
//! buckets, roles, AWS services, and the buckets of every account.

use crate::lake::rng::Rng;

use super::Config;

pub const FIRST_NAMES: &[&str] = &[
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
pub const SERVICE_USERS: &[&str] = &[
    "svc-reporting",
    "ci-deployer",
    "backup-agent",
    "etl-loader",
    "metrics-export",
];
pub const ROLES: &[&str] = &[
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
pub const SERVICES: &[(&str, &str)] = &[
    ("cloudtrail.amazonaws.com", "cloudtrail.amazonaws.com"),
    ("config.amazonaws.com", "config.amazonaws.com"),
    ("securitylake.amazonaws.com", "securitylake.amazonaws.com"),
    ("athena.amazonaws.com", "athena.amazonaws.com"),
];
pub const BUCKET_WORDS: &[&str] = &[
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
pub const USER_AGENTS: &[&str] = &[
    "aws-cli/2.15.30 Python/3.11.8 Darwin/23.4.0 exe/x86_64 prompt/off command/s3.ls",
    "aws-cli/2.17.5 Python/3.11.9 Linux/5.15.0-1061-aws exe/x86_64.ubuntu.22 prompt/off command/s3.cp",
    "Boto3/1.34.84 md/Botocore#1.34.84 ua/2.0 os/linux#5.10.214-202.855.amzn2.x86_64 md/arch#x86_64 lang/python#3.11.8 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.34.84",
    "aws-sdk-java/2.25.26 Linux/5.10.213-201.855.amzn2.x86_64 OpenJDK_64-Bit_Server_VM/17.0.10+7-LTS Java/17.0.10 vendor/Amazon.com_Inc. io/sync http/Apache cfg/retry-mode/legacy",
    "[S3Console/0.4, aws-internal/3 aws-sdk-java/1.12.660 Linux/5.10.213-180.871.amzn2int.x86_64 OpenJDK_64-Bit_Server_VM/25.402-b08 java/1.8.0_402 vendor/Oracle_Corporation cfg/retry-mode/standard]",
    "aws-sdk-go-v2/1.26.1 os/linux lang/go#1.22.2 md/GOOS#linux md/GOARCH#amd64 api/s3#1.53.1",
    "aws-sdk-js/3.554.0 ua/2.0 os/linux#5.10.214 lang/js md/nodejs#20.12.2 api/s3#3.554.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
];
pub const KEY_PREFIXES: &[&str] = &[
    "reports/2026",
    "exports/daily",
    "raw/events",
    "images",
    "invoices/2026",
    "tmp",
    "models",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    User,
    Role,
    Service,
}

/// Someone (or something) who makes API calls.
#[derive(Debug, Clone)]
pub struct Principal {
    pub kind: Kind,
    pub name: String,
    pub arn: String,
    pub account: String,
    /// The access key of a user (`AKIA…`); roles get a session key (`ASIA…`) per day.
    pub key: String,
    pub ips: Vec<String>,
    pub user_agent: &'static str,
    /// Relative activity.
    pub weight: u32,
    /// Humans work office hours; machines around the clock.
    pub office_hours: bool,
    /// Buckets this principal uses (indices into `World::buckets`).
    pub buckets: Vec<usize>,
    pub admin: bool,
}

#[derive(Debug, Clone)]
pub struct Bucket {
    pub name: String,
    pub account: String,
}

/// The population of the lake, made from the seed.
#[derive(Debug)]
pub struct World {
    pub principals: Vec<Principal>,
    pub weights: Vec<u32>,
    pub buckets: Vec<Bucket>,
}

pub const UPPER_DIGITS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

impl World {
    /// The population `cfg`'s seed makes.
    pub fn new(cfg: &Config) -> World {
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
}

/// Relative activity per UTC hour: office hours (US and EU overlap) peak in the afternoon.
pub const OFFICE: [u32; 24] = [
    2, 1, 1, 1, 1, 2, 4, 8, 12, 14, 15, 15, 14, 15, 16, 16, 15, 13, 10, 7, 5, 4, 3, 2,
];
