//! The incident a story injects: its plan (who, which bucket, when), and the dispatch to the
//! story that makes its events, its finding and what the truth says of it.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};

use super::background::{base, iso};
use super::world::{UPPER_DIGITS, World};
use super::{
    Config, Details, FirstEvent, Incident, Story, credential_compromise, instance_credentials,
    s3_exfiltration,
};
use crate::lake::ocsf::ApiEvent;
use crate::lake::ocsf_other::Finding;
use crate::lake::rng::Rng;
use crate::playbook::table::LogicalTable;

/// The account the attacker's bucket policy or trust policy grants access to.
pub const EXTERNAL_ACCOUNT: &str = "999988887777";
/// A second outside account the `s3-exfiltration` intruder's bucket policy lets in (a role of it).
pub const SECOND_EXTERNAL_ACCOUNT: &str = "777766665555";

/// The attacks the stories inject (every story but `benign`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attack {
    S3Exfiltration,
    CredentialCompromise,
    InstanceCredentials,
}

impl Attack {
    /// The story's attack, or `None` for a story without an incident.
    pub fn of(story: Story) -> Option<Attack> {
        match story {
            Story::Benign => None,
            Story::S3Exfiltration => Some(Attack::S3Exfiltration),
            Story::CredentialCompromise => Some(Attack::CredentialCompromise),
            Story::InstanceCredentialExfiltration => Some(Attack::InstanceCredentials),
        }
    }

    /// The story that tells this attack.
    pub fn story(self) -> Story {
        match self {
            Attack::S3Exfiltration => Story::S3Exfiltration,
            Attack::CredentialCompromise => Story::CredentialCompromise,
            Attack::InstanceCredentials => Story::InstanceCredentialExfiltration,
        }
    }
}

/// The incident as a plan: which attack, who, which bucket, when, how many reads.
#[derive(Debug)]
pub struct IncidentPlan {
    pub attack: Attack,
    pub victim: usize,
    pub bucket: usize,
    pub region: String,
    pub account: String,
    pub start_ms: i64,
    pub reads: u64,
    /// The `GuardDuty` finding the incident raises.
    pub finding_uid: String,
    /// The incident day's key (`YYYYMMDD` + account + region), as partitions name it.
    pub day_key: String,
    /// The access key the attacker creates, and the role session key it gets
    /// (`credential-compromise`).
    pub new_key: String,
    pub session_key: String,
}

/// The incident of `cfg`'s story in `world`, or `None` for a story without one.
pub fn plan(cfg: &Config, world: &World) -> Option<IncidentPlan> {
    let attack = Attack::of(cfg.scenario)?;
    let (victim_name, bucket_name, at) = match attack {
        Attack::S3Exfiltration => ("svc-reporting", "acme-customer-exports", (2, 13, 7)),
        Attack::CredentialCompromise => ("dave", "acme-finance-reports", (3, 41, 12)),
        Attack::InstanceCredentials => ("AppServerRole", "acme-finance-reports", (1, 27, 45)),
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
    let reads = match attack {
        Attack::InstanceCredentials => (cfg.events / 20_000).clamp(40, 400),
        _ => (cfg.events / 3_000).clamp(1_200, 4_000),
    };
    let finding_uid = rng.text(b"0123456789abcdef", 32);
    let region = cfg.regions[0].clone();
    let day_key = format!("{}{account}{region}", day.format("%Y%m%d"));
    let new_key = format!("AKIA{}", rng.text(UPPER_DIGITS, 16));
    let session_key = format!("ASIA{}", rng.text(UPPER_DIGITS, 16));
    Some(IncidentPlan {
        attack,
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

/// What a story tells of its incident beyond the plan: who acted, what they did, when it ended,
/// and what only this story has.
#[derive(Debug)]
pub struct Told {
    pub actor: Actor,
    pub operations: BTreeMap<String, u64>,
    pub end_ms: i64,
    pub details: Details,
}

/// Who the attacker acted as, and from where.
#[derive(Debug)]
pub struct Actor {
    pub principal: String,
    pub access_key_id: String,
    pub ips: Vec<String>,
    pub user_agent: String,
}

impl Actor {
    /// The victim's own access key, used from `ip` with `user_agent`.
    pub fn victims_key(world: &World, plan: &IncidentPlan, ip: &str, user_agent: &str) -> Actor {
        let victim = &world.principals[plan.victim];
        Actor {
            principal: victim.arn.clone(),
            access_key_id: victim.key.clone(),
            ips: vec![ip.to_owned()],
            user_agent: user_agent.to_owned(),
        }
    }
}

/// The incident's events in one partition's `source`, in time order.
pub fn events(world: &World, plan: &IncidentPlan, source: LogicalTable, rng: &mut Rng) -> Vec<ApiEvent> {
    match plan.attack {
        Attack::S3Exfiltration => s3_exfiltration::events(world, plan, source, rng),
        Attack::CredentialCompromise if source == LogicalTable::CloudTrailMgmt => {
            credential_compromise::events(world, plan, rng)
        }
        Attack::CredentialCompromise => Vec::new(),
        Attack::InstanceCredentials => instance_credentials::events(world, plan, source, rng),
    }
}

/// The Security Hub (`GuardDuty`) finding the incident raises.
pub fn finding(world: &World, plan: &IncidentPlan) -> Finding {
    match plan.attack {
        Attack::S3Exfiltration => s3_exfiltration::finding(world, plan),
        Attack::CredentialCompromise => credential_compromise::finding(world, plan),
        Attack::InstanceCredentials => instance_credentials::finding(world, plan),
    }
}

/// What `truth.json` says of the incident; `first` is the first malicious event written.
pub fn truth(
    seed: u64,
    world: &World,
    plan: &IncidentPlan,
    first: Option<&(ApiEvent, &'static str)>,
) -> Incident {
    let told = match plan.attack {
        Attack::S3Exfiltration => s3_exfiltration::told(world, plan),
        Attack::CredentialCompromise => credential_compromise::told(seed, world, plan),
        Attack::InstanceCredentials => instance_credentials::told(seed, world, plan),
    };
    let victim = &world.principals[plan.victim];
    let bucket = &world.buckets[plan.bucket];
    Incident {
        principal: told.actor.principal,
        user_name: victim.name.clone(),
        access_key_id: told.actor.access_key_id,
        ips: told.actor.ips,
        user_agent: told.actor.user_agent,
        bucket: bucket.name.clone(),
        bucket_account: bucket.account.clone(),
        region: plan.region.clone(),
        external_account: EXTERNAL_ACCOUNT.to_owned(),
        window_start: iso(plan.start_ms),
        window_end: iso(told.end_ms),
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
        operations: told.operations,
        finding_uid: plan.finding_uid.clone(),
        kind: plan.attack.story().as_str(),
        details: told.details,
    }
}

/// The incident's events in every source, made again with the streams `write_part` used:
/// their count by operation and the time of the last one.
pub fn replayed(seed: u64, world: &World, plan: &IncidentPlan) -> (BTreeMap<String, u64>, i64) {
    let day = DateTime::<Utc>::from_timestamp_millis(plan.start_ms)
        .unwrap_or_default()
        .date_naive();
    let mut all = Vec::new();
    for source in [LogicalTable::CloudTrailMgmt, LogicalTable::S3Data] {
        let label = format!("{source}/{}/{}/{day}", plan.region, plan.account);
        let mut irng = Rng::derived(seed, &format!("incident/{label}"));
        all.extend(events(world, plan, source, &mut irng));
    }
    let mut operations = BTreeMap::new();
    for e in &all {
        *operations.entry(e.operation.clone()).or_insert(0) += 1;
    }
    let end = all.iter().map(|e| e.time).max().unwrap_or(plan.start_ms);
    (operations, end)
}

/// The session a role principal has on `day_key`'s day (as `identify` names it).
pub fn role_session(day_key: &str) -> (String, String) {
    (format!("i-0{}", &day_key[..8]), format!("ASIA{}", &day_key[..16]))
}

/// An event of the incident's day, region and account; S3 object calls are data events.
pub fn event(plan: &IncidentPlan, t: i64, op: &str, service: &str, rng: &mut Rng) -> ApiEvent {
    let feature = if service == "s3.amazonaws.com" && !matches!(op, "ListBuckets" | "GetCallerIdentity") {
        "Data"
    } else {
        "Management"
    };
    base(t, &plan.region, &plan.account, feature, op, service, rng)
}

/// A finding on the victim's access key, used from `ip`: the resource and observables the IAM
/// user findings share. The caller names the finding (time, title, description, type).
pub fn on_access_key(world: &World, plan: &IncidentPlan, ip: &str) -> Finding {
    let victim = &world.principals[plan.victim];
    Finding {
        time: plan.start_ms,
        uid: plan.finding_uid.clone(),
        title: String::new(),
        desc: String::new(),
        finding_type: String::new(),
        severity_id: 3,
        resources: vec![("AwsIamAccessKey".to_owned(), victim.key.clone())],
        observables: vec![
            ("src_endpoint.ip", "IP Address", 2, ip.to_owned()),
            ("actor.user.name", "User Name", 4, victim.name.clone()),
        ],
        account: victim.account.clone(),
        region: plan.region.clone(),
    }
}
