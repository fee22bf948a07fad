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

use chrono::{Duration, NaiveDate};
use serde::Serialize;

use self::incident::IncidentPlan;
use self::world::World;
use super::ocsf::{ApiEvent, api_activity_schema};
use super::ocsf_other::{
    Finding, dns_batch, dns_schema, eks_batch, eks_schema, finding_batch, finding_schema, flow_batch,
    flow_schema, waf_batch, waf_schema,
};
use super::rng::Rng;
use super::{LakeError, PartitionWriter, partition_dir};

mod background;
mod credential_compromise;
mod iac;
mod incident;
mod instance_credentials;
mod s3_exfiltration;
pub mod trail;
mod world;
use crate::playbook::table::LogicalTable;

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

/// The sources the generator writes, with their share of the events (per 100 of the events
/// asked for): data events outnumber management events on a busy account, flow logs and DNS come
/// next, findings are rare. EKS audit logs and WAF, added later, come on top (1 each), so the six
/// first sources hold the events they always held.
pub const SOURCES: [(LogicalTable, u64); 8] = [
    (LogicalTable::S3Data, 45),
    (LogicalTable::CloudTrailMgmt, 22),
    (LogicalTable::VpcFlow, 20),
    (LogicalTable::Route53, 9),
    (LogicalTable::LambdaExecution, 3),
    (LogicalTable::ShFindings, 1),
    (LogicalTable::EksAudit, 1),
    (LogicalTable::Waf, 1),
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
    /// What only this story's incident has (flattened into the incident's fields).
    #[serde(flatten)]
    pub details: Details,
}

/// What only one story's incident has.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(untagged)]
pub enum Details {
    /// `s3-exfiltration`: nothing beyond the common fields.
    S3Exfiltration {},
    /// The user the attacker created and its access key, the role it assumed with the session
    /// key it got, and the secrets and parameters read.
    CredentialCompromise {
        created_user: String,
        created_access_key: String,
        assumed_role: String,
        session_key: String,
        secrets: Vec<String>,
    },
    /// The instance whose credentials were stolen (its role session's name), its role, and its
    /// own private IP (where its credentials are normally used from).
    InstanceCredentials {
        instance_id: String,
        role_name: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        instance_ip: Option<String>,
    },
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
    let world = World::new(cfg);
    let plan = incident::plan(cfg, &world);
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
            .map(|p| incident::truth(cfg.seed, &world, p, first_malicious.as_ref())),
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

/// Where `CloudTrail` delivers the calls to global services (IAM, Organizations), whatever region
/// the caller named.
pub const GLOBAL_REGION: &str = "us-east-1";

/// Services whose management events are delivered in [`GLOBAL_REGION`]. (STS answers in each
/// region: its calls stay where they were made, as the SDKs' regional endpoints make them.)
pub const GLOBAL_SERVICES: [&str; 2] = ["iam.amazonaws.com", "organizations.amazonaws.com"];

/// The incident's call as the partition of `region` holds it: a global service's call only in
/// [`GLOBAL_REGION`] (its region set to it), any other call only in its own region.
fn delivered_in(mut e: ApiEvent, region: &str) -> Option<ApiEvent> {
    if GLOBAL_SERVICES.contains(&e.service.as_str()) {
        if region != GLOBAL_REGION {
            return None;
        }
        GLOBAL_REGION.clone_into(&mut e.region);
        GLOBAL_REGION.clone_into(&mut e.cloud_region);
    }
    (e.region == region).then_some(e)
}

/// The version of what the generator writes: caches of generated lakes are keyed by it, so a
/// change to the events the same settings give must bump it (2: every row is mapped from the
/// `CloudTrail` record of its call, as an import maps it; 3: the owner's one-off Terraform run in
/// `credential-compromise`; 4: the `s3-exfiltration` policy grants a second outside account; 5: the
/// incident's calls to IAM and Organizations are delivered in us-east-1; 6: the S3 finding names the
/// bucket among its resources; 7: findings carry Security Lake's `resource`, `vulnerabilities` and
/// `finding_info.modified_time_dt`; 8: EKS audit logs and WAF).
pub const FORMAT: u32 = 8;

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
        if a.len() != 12
            || !a.chars().all(|c| c.is_ascii_digit())
            || a == incident::EXTERNAL_ACCOUNT
            || a == incident::SECOND_EXTERNAL_ACCOUNT
        {
            return Err(LakeError::Invalid(format!(
                "`{a}` is not a 12-digit AWS account id (or is one of the scenarios' external accounts)"
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
    // The incident's partitions: its region's, and us-east-1's management events, where
    // `CloudTrail` delivers the calls to global services whatever region the caller named.
    let in_scope = |p: &&IncidentPlan| {
        p.account == part.account
            && (p.region == part.region
                || (part.source == LogicalTable::CloudTrailMgmt && part.region == GLOBAL_REGION))
    };
    let in_day = |t: i64| t >= day_start && t < day_start + 86_400_000;
    // Drawn as in the incident region's partition, so the calls split between it and us-east-1
    // are one story.
    let incident_label =
        |p: &IncidentPlan| format!("{}/{}/{}/{}", part.source, p.region, part.account, part.day);
    let mut irng = Rng::derived(
        cfg.seed,
        &format!(
            "incident/{}",
            plan.filter(in_scope).map_or(label.clone(), incident_label)
        ),
    );
    let path = partition_dir(dir, part.source, &part.region, &part.account, part.day)
        .join("part-00000.zstd.parquet");
    let (region, account) = (part.region.as_str(), part.account.as_str());
    let mut sink = Sink { path, progress };
    match part.source {
        LogicalTable::S3Data | LogicalTable::CloudTrailMgmt | LogicalTable::LambdaExecution => {
            let mut injected: Vec<ApiEvent> = plan
                .filter(in_scope)
                .map(|p| incident::events(world, p, part.source, &mut irng))
                .unwrap_or_default()
                .into_iter()
                .filter(|e| in_day(e.time))
                .filter_map(|e| delivered_in(e, region))
                .collect();
            let first = injected.first().cloned();
            if part.source == LogicalTable::CloudTrailMgmt
                && let Some(p) = plan.filter(in_scope)
                && p.attack == incident::Attack::CredentialCompromise
            {
                let mut orng = Rng::derived(cfg.seed, &format!("owner-run/{}", incident_label(p)));
                injected.extend(
                    credential_compromise::owner_tool_run(world, p, &mut orng)
                        .into_iter()
                        .filter(|e| in_day(e.time))
                        .filter_map(|e| delivered_in(e, region)),
                );
                injected.sort_by_key(|e| e.time);
            }
            if part.source == LogicalTable::CloudTrailMgmt && part.events > 0 {
                injected.extend(iac::events(cfg.seed, &label, day_start, region, account));
                injected.sort_by_key(|e| e.time);
            }
            let source = part.source;
            let day = background::Day {
                world,
                region,
                account,
                key: &day_key,
            };
            let rows = sink.write(
                times,
                injected,
                |e| e.time,
                &api_activity_schema(),
                {
                    let mut mapper = trail::Mapper::new(source);
                    move |drafts: &[ApiEvent]| mapper.batch(drafts)
                },
                |t| match source {
                    LogicalTable::S3Data => background::s3_event(&day, t, &mut rng),
                    LogicalTable::LambdaExecution => background::lambda_event(&day, t, &mut rng),
                    _ => background::mgmt_event(&day, t, &mut rng),
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
                |t| background::flow_record(t, region, account, &mut rng),
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
                |t| background::dns_query(t, region, account, &mut rng),
            )?;
            Ok((rows, u64::from(rows > 0), None))
        }
        LogicalTable::EksAudit => {
            let rows = sink.write(
                times,
                Vec::new(),
                |c| c.time,
                &eks_schema(),
                eks_batch,
                |t| background::eks_call(t, region, account, &mut rng),
            )?;
            Ok((rows, u64::from(rows > 0), None))
        }
        LogicalTable::Waf => {
            let rows = sink.write(
                times,
                Vec::new(),
                |w| w.time,
                &waf_schema(),
                waf_batch,
                |t| background::waf_request(t, region, account, &mut rng),
            )?;
            Ok((rows, u64::from(rows > 0), None))
        }
        LogicalTable::ShFindings => {
            let injected: Vec<Finding> = plan
                .filter(in_scope)
                .map(|p| incident::finding(world, p))
                .into_iter()
                .filter(|f| in_day(f.time))
                .collect();
            let rows = sink.write(
                times,
                injected,
                |f| f.time,
                &finding_schema(),
                finding_batch,
                |t| background::finding(t, region, account, &mut rng),
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
        mut to_batch: impl FnMut(&[R]) -> Result<arrow::record_batch::RecordBatch, arrow::error::ArrowError>,
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
