//! `s3-exfiltration`: a stolen access key used from a Tor exit node: `GetCallerIdentity` and
//! `ListBuckets`, five pages of `ListObjects` and thousands of `GetObject` on one bucket, then a
//! `PutBucketPolicy` that grants two external accounts (one's root, the other's role).

use std::collections::BTreeMap;

use super::Details;
use super::background::{as_user, base, s3_resources};
use super::incident::{self, Actor, EXTERNAL_ACCOUNT, IncidentPlan, SECOND_EXTERNAL_ACCOUNT, Told};
use super::world::World;
use crate::lake::ocsf::ApiEvent;
use crate::lake::ocsf_other::Finding;
use crate::lake::rng::Rng;
use crate::playbook::table::LogicalTable;

/// The IP the stolen key is used from: in no background pool (TEST-NET ranges are used for the
/// background; this one is outside them).
const ATTACKER_IP: &str = "185.220.101.47";
const ATTACKER_UA: &str =
    "aws-cli/2.13.25 Python/3.11.5 Linux/6.5.0-kali3-amd64 exe/x86_64.kali.2023 prompt/off command/s3.cp";

/// When the last malicious event is: the policy change after the reads.
fn end_ms(plan: &IncidentPlan) -> i64 {
    plan.start_ms + 4 * 60_000 + i64::try_from(plan.reads).unwrap_or(0) * 800 + 5 * 60_000
}

/// The finding the attacker's Tor exit IP raises, twenty minutes in.
pub fn finding(world: &World, plan: &IncidentPlan) -> Finding {
    let victim = &world.principals[plan.victim];
    Finding {
        time: plan.start_ms + 20 * 60_000,
        title: format!(
            "API GetObject was invoked from a Tor exit node IP address by {}.",
            victim.name
        ),
        desc: format!(
            "API GetObject was invoked from Tor exit node IP address {ATTACKER_IP} using access key {} of IAM user {}.",
            victim.key, victim.name
        ),
        // GuardDuty's S3 protection finding names the bucket beside the key.
        finding_type: "TTPs/Initial Access/UnauthorizedAccess:S3-TorIPCaller".to_owned(),
        resources: vec![
            ("AwsIamAccessKey".to_owned(), victim.key.clone()),
            (
                "AwsS3Bucket".to_owned(),
                format!("arn:aws:s3:::{}", world.buckets[plan.bucket].name),
            ),
        ],
        ..incident::on_access_key(world, plan, ATTACKER_IP)
    }
}

/// The incident's events in `source`, in time order.
pub fn events(world: &World, plan: &IncidentPlan, source: LogicalTable, rng: &mut Rng) -> Vec<ApiEvent> {
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
            let end = end_ms(plan);
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
                r#"{{"bucketName":"{0}","bucketPolicy":{{"Version":"2012-10-17","Statement":[{{"Sid":"Replication","Effect":"Allow","Principal":{{"AWS":["arn:aws:iam::{EXTERNAL_ACCOUNT}:root","arn:aws:iam::{SECOND_EXTERNAL_ACCOUNT}:role/loader"]}},"Action":["s3:GetObject","s3:ListBucket"],"Resource":["arn:aws:s3:::{0}","arn:aws:s3:::{0}/*"]}}]}},"Host":"{0}.s3.{region}.amazonaws.com","policy":""}}"#,
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

/// What the truth says of the incident.
pub fn told(world: &World, plan: &IncidentPlan) -> Told {
    let operations = BTreeMap::from([
        ("GetCallerIdentity".to_owned(), 1),
        ("ListBuckets".to_owned(), 1),
        ("ListObjects".to_owned(), 5),
        ("GetObject".to_owned(), plan.reads),
        ("PutBucketPolicy".to_owned(), 1),
    ]);
    Told {
        actor: Actor::victims_key(world, plan, ATTACKER_IP, ATTACKER_UA),
        operations,
        end_ms: end_ms(plan),
        details: Details::S3Exfiltration {},
    }
}
