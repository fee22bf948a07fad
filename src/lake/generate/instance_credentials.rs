//! `instance-credential-exfiltration`: an application server's instance-profile session used
//! from outside AWS with the credentials `IMDSv1` handed out: discovery, then one bucket listed
//! and read.

use super::Details;
use super::background::{identify, s3_resources};
use super::incident::{Actor, IncidentPlan, Told, event, replayed, role_session};
use super::world::World;
use crate::lake::ocsf::ApiEvent;
use crate::lake::ocsf_other::Finding;
use crate::lake::rng::Rng;
use crate::playbook::table::LogicalTable;

/// Where the thief uses the credentials from: outside every background pool.
const ATTACKER_IP: &str = "104.244.72.115";
const ATTACKER_UA: &str = "aws-cli/1.18.136 Python/3.8.5 Darwin/19.6.0 botocore/1.17.59";

/// The finding the use from outside AWS raises, fifteen minutes in.
pub fn finding(world: &World, plan: &IncidentPlan) -> Finding {
    let victim = &world.principals[plan.victim];
    let (session, key) = role_session(&plan.day_key);
    Finding {
        time: plan.start_ms + 15 * 60_000,
        uid: plan.finding_uid.clone(),
        title: format!(
            "Credentials for instance role {} used from a remote AWS account or external IP.",
            victim.name
        ),
        desc: format!(
            "Credentials that were created exclusively for an EC2 instance using instance role {} have been used from external IP address {} (session {session}).",
            victim.name, ATTACKER_IP
        ),
        finding_type:
            "TTPs/Initial Access/UnauthorizedAccess:IAMUser-InstanceCredentialExfiltration.OutsideAWS"
                .to_owned(),
        severity_id: 4,
        resources: vec![("AwsIamAccessKey".to_owned(), key)],
        observables: vec![("src_endpoint.ip", "IP Address", 2, ATTACKER_IP.to_owned())],
        account: plan.account.clone(),
        region: plan.region.clone(),
    }
}

/// The instance credential exfiltration's events: discovery in the management source, the
/// bucket listed and read in the S3 data source.
pub fn events(world: &World, plan: &IncidentPlan, source: LogicalTable, rng: &mut Rng) -> Vec<ApiEvent> {
    let victim = &world.principals[plan.victim];
    let bucket = &world.buckets[plan.bucket];
    let as_thief = |e: &mut ApiEvent, rng: &mut Rng| {
        identify(e, victim, &plan.day_key, rng);
        e.src_ip = Some(ATTACKER_IP.to_owned());
        e.user_agent = Some(ATTACKER_UA.to_owned());
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
                e.resources = s3_resources(bucket, None);
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
                e.resources = s3_resources(bucket, Some(&key));
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

/// What the truth says of the incident: the stolen session is the principal, and the instance,
/// its role and its own IP are the details.
pub fn told(seed: u64, world: &World, plan: &IncidentPlan) -> Told {
    let victim = &world.principals[plan.victim];
    let (operations, end_ms) = replayed(seed, world, plan);
    let (session, role_key) = role_session(&plan.day_key);
    Told {
        actor: Actor {
            principal: format!(
                "arn:aws:sts::{}:assumed-role/{}/{session}",
                plan.account, victim.name
            ),
            access_key_id: role_key,
            ips: vec![ATTACKER_IP.to_owned()],
            user_agent: ATTACKER_UA.to_owned(),
        },
        operations,
        end_ms,
        details: Details::InstanceCredentials {
            instance_id: session,
            role_name: victim.name.clone(),
            instance_ip: victim.ips.first().cloned(),
        },
    }
}
