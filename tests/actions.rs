//! Containment actions against moto's server mode on loopback (started by `scripts/test`):
//! every registry operation captures its before-state, makes its change (seen through a separate
//! read with the SDK), verifies it, and rolls back to exactly the prior configuration. moto does
//! not evaluate IAM policies, so these tests check the calls made and the state stored, not
//! whether access is really blocked. Plus the pure parts (policy merge, trust-policy edits), the
//! journal of a live run, rehearsals that call nothing, hostile values, a crash between intent
//! and result, and conflicting changes.

use std::collections::BTreeMap;

use irp::action::aws::{self, Aws, AwsSettings, Params};
use irp::action::find_operation;
use irp::action::policy;
use serde_json::{Value, json};

use crate::athena::moto_for_library;

const ACCOUNT: &str = "123456789012";
const NOW: &str = "2026-11-28T03:00:00Z";

fn settings(endpoint: &str) -> AwsSettings {
    AwsSettings {
        endpoint_url: Some(endpoint.to_owned()),
        region: Some("us-east-1".to_owned()),
        retry_attempts: Some(2),
        retry_backoff: Some(std::time::Duration::from_millis(10)),
        ..AwsSettings::default()
    }
}

/// Plain SDK clients for setting resources up and reading them separately from irp.
struct Sdk {
    s3: aws_sdk_s3::Client,
    iam: aws_sdk_iam::Client,
    ec2: aws_sdk_ec2::Client,
}

async fn sdk(endpoint: &str) -> Sdk {
    let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .load()
        .await;
    let s3 = aws_sdk_s3::config::Builder::from(&conf)
        .force_path_style(true)
        .build();
    Sdk {
        s3: aws_sdk_s3::Client::from_conf(s3),
        iam: aws_sdk_iam::Client::new(&conf),
        ec2: aws_sdk_ec2::Client::new(&conf),
    }
}

/// A name no earlier run on the same moto server has used (buckets and users outlive a test).
fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}-{}", nanos % 1_000_000_000_000)
}

fn params(pairs: &[(&str, Value)]) -> BTreeMap<String, Value> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect()
}

/// Runs one operation through its four parts and returns (before, after-change, after-restore).
async fn cycle(a: &Aws, op: &str, values: &BTreeMap<String, Value>) -> (Value, Value, Value) {
    let op = find_operation(op).unwrap();
    let p = Params::new(op, values).unwrap();
    let before = a
        .read_state(&p)
        .await
        .unwrap_or_else(|e| panic!("{}: read: {e}", op.name));
    let plan = aws::plan(&p, &before, NOW, "contain").unwrap_or_else(|e| panic!("{}: plan: {e}", op.name));
    assert!(plan.already.is_none(), "{}: {:?}", op.name, plan.already);
    assert!(!plan.diff.is_empty(), "{}: a change shows a diff", op.name);
    let applied = a
        .apply(&p, &plan)
        .await
        .unwrap_or_else(|e| panic!("{}: apply: {e}", op.name));
    assert_eq!(applied.calls.len(), 1, "{}", op.name);
    assert!(
        !applied.request_ids.is_empty(),
        "{}: moto returns a request id",
        op.name
    );
    let after = a.read_state(&p).await.unwrap();
    aws::check_applied(&p, &plan.request, Some(&before), &after)
        .unwrap_or_else(|e| panic!("{}: verification: {e}", op.name));
    // Applying again is recognised as already done.
    let again = aws::plan(&p, &after, NOW, "contain").unwrap();
    if op.name != "iam.revoke_role_sessions" {
        assert!(
            again.already.is_some(),
            "{}: a second run sees the change in place",
            op.name
        );
    }
    a.restore(&p, &before)
        .await
        .unwrap_or_else(|e| panic!("{}: restore: {e}", op.name));
    let restored = a.read_state(&p).await.unwrap();
    aws::check_restored(&p, &before, &restored).unwrap_or_else(|e| panic!("{}: {e}", op.name));
    (before, after, restored)
}

#[test]
fn every_operation_captures_changes_verifies_and_restores_on_moto() {
    let Some((endpoint, _lock)) = moto_for_library() else {
        return;
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let a = Aws::connect(&settings(&endpoint)).await.unwrap();
        let c = sdk(&endpoint).await;
        let bucket = &unique("irp-actions");
        let _ = c.s3.create_bucket().bucket(bucket).send().await;
        let bucket_p = params(&[("bucket", json!(bucket))]);

        // The account's Block Public Access outlives a failed run: start from none.
        let op = find_operation("s3control.put_public_access_block").unwrap();
        let account = params(&[("account_id", json!(ACCOUNT))]);
        let _ = a.restore(&Params::new(op, &account).unwrap(), &json!({ "configuration": null })).await;
        // Bucket policy: the merge keeps both existing statements, byte-for-byte restore.
        let existing = json!({"Version": "2012-10-17", "Id": "keep-me", "Statement": [
            {"Sid": "Partner", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "s3:GetObject", "Resource": format!("arn:aws:s3:::{bucket}/*")},
            {"Sid": "TlsOnly", "Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": [format!("arn:aws:s3:::{bucket}"), format!("arn:aws:s3:::{bucket}/*")], "Condition": {"Bool": {"aws:SecureTransport": "false"}}}
        ]});
        let existing_text = serde_json::to_string_pretty(&existing).unwrap();
        c.s3.put_bucket_policy().bucket(bucket).policy(&existing_text).send().await.unwrap();
        let deny = params(&[
            ("bucket", json!(bucket)),
            ("principal_arns", json!(["arn:aws:sts::444455556666:assumed-role/exfil/session-1"])),
            ("account_ids", json!(["444455556666"])),
            ("source_ips", json!(["203.0.113.7", "198.51.100.0/24"])),
        ]);
        let (_, after, _) = cycle(&a, "s3.add_bucket_policy_deny", &deny).await;
        let merged: Value = serde_json::from_str(after["text"].as_str().unwrap()).unwrap();
        let statements = policy::statements(&merged);
        assert_eq!(statements.len(), 5, "two kept, three added: {merged}");
        assert_eq!(merged["Id"], "keep-me");
        for s in policy::statements(&existing) {
            assert!(statements.contains(&s), "kept {s}");
        }
        assert!(
            statements.iter().any(|s| s["Condition"]["ArnEquals"]["aws:PrincipalArn"] == json!(["arn:aws:iam::444455556666:role/exfil"])),
            "a session is denied through its role: {merged}"
        );
        let separate = c.s3.get_bucket_policy().bucket(bucket).send().await.unwrap();
        let separate: Value = serde_json::from_str(separate.policy().unwrap()).unwrap();
        assert_eq!(separate, existing, "the rollback put the policy back exactly");

        // An intruder's grants to an outside account come out of the Allow statements; the
        // partner's grant and the Deny stay; the rollback puts the text back byte for byte.
        let opened = json!({"Version": "2012-10-17", "Statement": [
            {"Sid": "Partner", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "s3:GetObject", "Resource": format!("arn:aws:s3:::{bucket}/*")},
            {"Sid": "Intruder", "Effect": "Allow", "Principal": {"AWS": ["arn:aws:iam::999988887777:root", "arn:aws:iam::999988887777:user/x"]}, "Action": "s3:*", "Resource": [format!("arn:aws:s3:::{bucket}"), format!("arn:aws:s3:::{bucket}/*")]},
            {"Sid": "Mixed", "Effect": "Allow", "Principal": {"AWS": ["arn:aws:iam::999988887777:role/r", "arn:aws:iam::111122223333:role/reader"]}, "Action": "s3:GetObject", "Resource": format!("arn:aws:s3:::{bucket}/*")},
            {"Sid": "DenyIntruderWrites", "Effect": "Deny", "Principal": {"AWS": "arn:aws:iam::999988887777:root"}, "Action": "s3:PutObject", "Resource": format!("arn:aws:s3:::{bucket}/*")}
        ]});
        let opened_text = serde_json::to_string_pretty(&opened).unwrap();
        c.s3.put_bucket_policy().bucket(bucket).policy(&opened_text).send().await.unwrap();
        let grants_p = params(&[("bucket", json!(bucket)), ("account", json!("999988887777"))]);
        let (_, after, _) = cycle(&a, "s3.remove_bucket_policy_account", &grants_p).await;
        let left: Vec<Value> = policy::statements(&after["policy"]);
        let sids: Vec<&str> = left.iter().filter_map(|s| s["Sid"].as_str()).collect();
        assert_eq!(sids, ["Partner", "Mixed", "DenyIntruderWrites"], "{}", after["policy"]);
        assert_eq!(left[1]["Principal"]["AWS"], "arn:aws:iam::111122223333:role/reader");
        assert!(!policy::grants_account(&after["policy"], "999988887777"));
        let separate = c.s3.get_bucket_policy().bucket(bucket).send().await.unwrap();
        assert_eq!(separate.policy().unwrap(), opened_text, "the rollback put the text back byte for byte");
        // The verification names every principal from outside the accounts given, and passes
        // once they are gone; a Deny, and `*` narrowed by a condition, let no one in.
        let verify = find_operation("s3.verify_bucket_policy_accounts").unwrap();
        let trusted = params(&[("bucket", json!(bucket)), ("accounts", json!(["111122223333"]))]);
        let err = a
            .read_state(&Params::new(verify, &trusted).unwrap())
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(&format!(
                "the policy of bucket {bucket} still lets in principals from outside 111122223333: arn:aws:iam::999988887777:role/r, arn:aws:iam::999988887777:root, arn:aws:iam::999988887777:user/x"
            )),
            "{err}"
        );
        let closed = json!({"Version": "2012-10-17", "Statement": [
            {"Sid": "Partner", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "s3:GetObject", "Resource": format!("arn:aws:s3:::{bucket}/*")},
            {"Sid": "Endpoint", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": format!("arn:aws:s3:::{bucket}/*"), "Condition": {"StringEquals": {"aws:SourceVpce": "vpce-1a2b3c4d"}}},
            {"Sid": "DenyIntruderWrites", "Effect": "Deny", "Principal": {"AWS": "arn:aws:iam::999988887777:root"}, "Action": "s3:PutObject", "Resource": format!("arn:aws:s3:::{bucket}/*")}
        ]});
        c.s3.put_bucket_policy().bucket(bucket).policy(closed.to_string()).send().await.unwrap();
        let state = a.read_state(&Params::new(verify, &trusted).unwrap()).await.unwrap();
        assert_eq!(state["policy"], closed);
        // `*` without a condition is anyone.
        let public = json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": format!("arn:aws:s3:::{bucket}/*")}
        ]});
        c.s3.put_bucket_policy().bucket(bucket).policy(public.to_string()).send().await.unwrap();
        let err = a.read_state(&Params::new(verify, &trusted).unwrap()).await.unwrap_err().to_string();
        assert!(err.contains("still lets in a principal from outside 111122223333: *"), "{err}");
        // A policy whose only grants are the account's is deleted, and comes back.
        let only = json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": "999988887777"}, "Action": "s3:GetObject", "Resource": format!("arn:aws:s3:::{bucket}/*")}
        ]});
        c.s3.put_bucket_policy().bucket(bucket).policy(only.to_string()).send().await.unwrap();
        let (_, after, restored) = cycle(&a, "s3.remove_bucket_policy_account", &grants_p).await;
        assert!(after["policy"].is_null(), "{after}");
        assert_eq!(restored["policy"], only);
        c.s3.put_bucket_policy().bucket(bucket).policy(&existing_text).send().await.unwrap();

        let (before, after, _) = cycle(&a, "s3.delete_bucket_policy", &bucket_p).await;
        assert!(after["policy"].is_null() && !before["policy"].is_null());
        assert!(c.s3.get_bucket_policy().bucket(bucket).send().await.is_ok(), "restored");

        // Block Public Access, from "none" and from a partial setting.
        let (before, _, _) = cycle(&a, "s3.put_public_access_block", &bucket_p).await;
        assert!(before["configuration"].is_null());
        assert!(
            c.s3.get_public_access_block().bucket(bucket).send().await.is_err(),
            "no configuration before, none after the rollback"
        );
        c.s3.put_public_access_block()
            .bucket(bucket)
            .public_access_block_configuration(
                aws_sdk_s3::types::PublicAccessBlockConfiguration::builder().block_public_acls(true).build(),
            )
            .send()
            .await
            .unwrap();
        let (before, _, restored) = cycle(&a, "s3.put_public_access_block", &bucket_p).await;
        assert_eq!(before["configuration"]["block_public_acls"], true);
        assert_eq!(restored, before);
        cycle(&a, "s3control.put_public_access_block", &account).await;

        // ACL: a public-read grant goes, and comes back exactly.
        c.s3.put_bucket_acl()
            .bucket(bucket)
            .acl(aws_sdk_s3::types::BucketCannedAcl::PublicRead)
            .send()
            .await
            .unwrap();
        let separate_acl = |c: &Sdk| {
            let s3 = c.s3.clone();
            async move {
                let out = s3.get_bucket_acl().bucket(bucket).send().await.unwrap();
                format!("{:?}", out.grants())
            }
        };
        let acl_before = separate_acl(&c).await;
        let (before, after, _) = cycle(&a, "s3.put_bucket_acl_private", &bucket_p).await;
        assert_eq!(before["grants"].as_array().unwrap().len(), 2, "{before}");
        assert_eq!(after["grants"].as_array().unwrap().len(), 1, "{after}");
        assert_eq!(separate_acl(&c).await, acl_before, "the ACL is equal after the rollback");

        // Object ownership, replication, notifications, lifecycle.
        cycle(&a, "s3.enforce_bucket_owner", &bucket_p).await;
        c.s3.put_bucket_ownership_controls()
            .bucket(bucket)
            .ownership_controls(
                aws_sdk_s3::types::OwnershipControls::builder()
                    .rules(
                        aws_sdk_s3::types::OwnershipControlsRule::builder()
                            .object_ownership(aws_sdk_s3::types::ObjectOwnership::ObjectWriter)
                            .build()
                            .unwrap(),
                    )
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
        let (before, _, _) = cycle(&a, "s3.enforce_bucket_owner", &bucket_p).await;
        assert_eq!(before["object_ownership"], "ObjectWriter");

        let copy = &format!("{bucket}-copy");
        let _ = c.s3.create_bucket().bucket(copy).send().await;
        for b in [bucket, copy] {
            c.s3.put_bucket_versioning()
                .bucket(b)
                .versioning_configuration(
                    aws_sdk_s3::types::VersioningConfiguration::builder()
                        .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
                        .build(),
                )
                .send()
                .await
                .unwrap();
        }
        let rule = aws_sdk_s3::types::ReplicationRule::builder()
            .id("exfil-copy")
            .priority(1)
            .status(aws_sdk_s3::types::ReplicationRuleStatus::Enabled)
            .filter(aws_sdk_s3::types::ReplicationRuleFilter::builder().prefix("").build())
            .delete_marker_replication(
                aws_sdk_s3::types::DeleteMarkerReplication::builder()
                    .status(aws_sdk_s3::types::DeleteMarkerReplicationStatus::Disabled)
                    .build(),
            )
            .destination(
                aws_sdk_s3::types::Destination::builder()
                    .bucket(format!("arn:aws:s3:::{copy}"))
                    .storage_class(aws_sdk_s3::types::StorageClass::StandardIa)
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap();
        c.s3.put_bucket_replication()
            .bucket(bucket)
            .replication_configuration(
                aws_sdk_s3::types::ReplicationConfiguration::builder()
                    .role(format!("arn:aws:iam::{ACCOUNT}:role/replication"))
                    .rules(rule)
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
        let (before, after, restored) = cycle(&a, "s3.delete_bucket_replication", &bucket_p).await;
        assert!(after["xml"].is_null());
        assert_eq!(restored["xml"], before["xml"], "the saved document went back byte for byte");
        let separate = c.s3.get_bucket_replication().bucket(bucket).send().await.unwrap();
        let rules = separate.replication_configuration().unwrap().rules();
        assert_eq!(rules[0].id(), Some("exfil-copy"));

        c.s3.put_bucket_lifecycle_configuration()
            .bucket(bucket)
            .lifecycle_configuration(
                aws_sdk_s3::types::BucketLifecycleConfiguration::builder()
                    .rules(
                        aws_sdk_s3::types::LifecycleRule::builder()
                            .id("expire-tmp")
                            .status(aws_sdk_s3::types::ExpirationStatus::Enabled)
                            .filter(aws_sdk_s3::types::LifecycleRuleFilter::builder().prefix("tmp/").build())
                            .expiration(aws_sdk_s3::types::LifecycleExpiration::builder().days(1).build())
                            .build()
                            .unwrap(),
                    )
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
        let (before, _, restored) = cycle(&a, "s3.delete_bucket_lifecycle", &bucket_p).await;
        assert_eq!(restored["xml"], before["xml"]);

        c.s3.put_bucket_notification_configuration()
            .bucket(bucket)
            .notification_configuration(
                aws_sdk_s3::types::NotificationConfiguration::builder()
                    .queue_configurations(
                        aws_sdk_s3::types::QueueConfiguration::builder()
                            .id("to-attacker")
                            .queue_arn(format!("arn:aws:sqs:us-east-1:{ACCOUNT}:drop"))
                            .events(aws_sdk_s3::types::Event::S3ObjectCreated)
                            .build()
                            .unwrap(),
                    )
                    .build(),
            )
            .send()
            .await
            .unwrap();
        let (before, _, restored) = cycle(&a, "s3.clear_bucket_notifications", &bucket_p).await;
        assert_eq!(before["summary"]["queues"], 1);
        assert_eq!(restored["xml"], before["xml"]);

        // IAM.
        let user = &unique("irp-user");
        let _ = c.iam.create_user().user_name(user).send().await;
        let key = c.iam.create_access_key().user_name(user).send().await.unwrap();
        let key_id = key.access_key().unwrap().access_key_id().to_owned();
        let user_p = params(&[("user_name", json!(user)), ("access_key_id", json!(key_id))]);
        let (before, _, _) = cycle(&a, "iam.deactivate_access_key", &user_p).await;
        assert_eq!(before["keys"][0]["status"], "Active");
        let listed = c.iam.list_access_keys().user_name(user).send().await.unwrap();
        assert_eq!(listed.access_key_metadata()[0].status().unwrap().as_str(), "Active");

        let only_user = params(&[("user_name", json!(user))]);
        cycle(&a, "iam.put_user_deny_all_policy", &only_user).await;
        assert!(
            c.iam.get_user_policy().user_name(user).policy_name(aws::DENY_ALL_POLICY).send().await.is_err(),
            "the rollback deleted the policy the user did not have"
        );
        c.iam.create_login_profile().user_name(user).password("An0ld-Passw0rd!").send().await.unwrap();
        let (before, after, _) = cycle(&a, "iam.delete_login_profile", &only_user).await;
        assert!(!before["login_profile"].is_null() && after["login_profile"].is_null());
        // Recreated (moto 5.2.5 ignores PasswordResetRequired, so only the presence is checked).
        assert!(c.iam.get_login_profile().user_name(user).send().await.is_ok(), "console access is back");

        let role_name = &unique("irp-role");
        let trust = json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": ["arn:aws:iam::444455556666:root", format!("arn:aws:iam::{ACCOUNT}:root")]}, "Action": "sts:AssumeRole"},
            {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ]});
        let _ = c.iam.create_role().role_name(role_name).assume_role_policy_document(trust.to_string()).send().await;
        let role_p = params(&[("role_name", json!(role_name))]);
        let (before, after, _) = cycle(&a, "iam.revoke_role_sessions", &role_p).await;
        assert!(before["document"].is_null());
        assert_eq!(
            after["document"]["Statement"][0]["Condition"]["DateLessThan"]["aws:TokenIssueTime"],
            NOW
        );
        let trust_p = params(&[("role_name", json!(role_name)), ("principal", json!("444455556666"))]);
        let (before, after, _) = cycle(&a, "iam.remove_role_trust_principal", &trust_p).await;
        assert_eq!(before["trust_policy"], trust);
        assert!(!policy::names_principal(&after["trust_policy"], "444455556666"));
        let separate = c.iam.get_role().role_name(role_name).send().await.unwrap();
        let doc = separate.role().unwrap().assume_role_policy_document().unwrap();
        let doc: Value = serde_json::from_str(&percent_encoding::percent_decode_str(doc).decode_utf8_lossy()).unwrap();
        assert_eq!(doc, trust, "the trust policy JSON is equal after the rollback");

        // EC2.
        let run = c
            .ec2
            .run_instances()
            .image_id("ami-12c6146b")
            .min_count(1)
            .max_count(1)
            .send()
            .await
            .unwrap();
        let instance = run.instances()[0].instance_id().unwrap().to_owned();
        let (before, _, _) = cycle(&a, "ec2.require_imdsv2", &params(&[("instance_id", json!(instance))])).await;
        assert_eq!(before["http_tokens"], "optional");
    });
}

#[test]
fn read_only_operations_return_their_evidence_on_moto() {
    let Some((endpoint, _lock)) = moto_for_library() else {
        return;
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let a = Aws::connect(&settings(&endpoint)).await.unwrap();
        let c = sdk(&endpoint).await;
        let bucket = &unique("irp-evidence");
        let _ = c.s3.create_bucket().bucket(bucket).send().await;
        let user = &unique("irp-evidence-user");
        let _ = c.iam.create_user().user_name(user).send().await;
        let key = c.iam.create_access_key().user_name(user).send().await.unwrap();
        let key_id = key.access_key().unwrap().access_key_id().to_owned();
        let _ = c
            .iam
            .create_role()
            .role_name("irp-evidence-role")
            .assume_role_policy_document(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#)
            .send()
            .await;
        for op in irp::action::operations().iter().filter(|o| o.is_read_only()) {
            let values = match op.params[0].name {
                "bucket" => params(&[("bucket", json!(bucket))]),
                "account_id" => params(&[("account_id", json!(ACCOUNT))]),
                "user_name" => params(&[("user_name", json!(user))]),
                "access_key_id" => params(&[("access_key_id", json!(key_id))]),
                "role_name" => params(&[("role_name", json!("irp-evidence-role"))]),
                other => panic!("no fixture for {other}"),
            };
            let mut values = values;
            if op.param("accounts").is_some() {
                values.insert("accounts".to_owned(), json!([ACCOUNT]));
            }
            let p = Params::new(op, &values).unwrap();
            let out = a.read_state(&p).await.unwrap_or_else(|e| panic!("{}: {e}", op.name));
            assert!(out.is_object(), "{}: {out}", op.name);
        }
        // A missing bucket is named, with what to check.
        let op = find_operation("s3.get_bucket_acl").unwrap();
        let values = params(&[("bucket", json!("irp-no-such-bucket"))]);
        let e = a.read_state(&Params::new(op, &values).unwrap()).await.unwrap_err();
        assert!(e.to_string().contains("bucket irp-no-such-bucket was not found"), "{e}");
        assert!(e.hint().contains("parameters"), "{}", e.hint());
    });
}

/// A stored state of another shape (a hand-edited artifact, a state of another operation) is
/// refused with its operation named: never read as an empty state and acted on.
#[test]
fn a_stored_state_of_another_shape_is_refused_and_named() {
    let op = find_operation("s3.add_bucket_policy_deny").unwrap();
    let values = params(&[("bucket", json!("b-1")), ("account_ids", json!(["444455556666"]))]);
    let p = Params::new(op, &values).unwrap();
    let wrong = json!({ "bucket": "b-1", "policy": 5, "text": ["not", "text"] });
    let named = |m: &str| m.contains("`s3.add_bucket_policy_deny`") && m.contains("written by hand");
    let e = aws::plan(&p, &wrong, NOW, "contain").unwrap_err();
    assert!(named(&e.to_string()), "{e}");
    let good = json!({ "bucket": "b-1", "policy": null, "text": null });
    let e = aws::check_applied(&p, &Value::Null, Some(&good), &wrong).unwrap_err();
    assert!(named(&e), "{e}");
    let e = aws::check_restored(&p, &wrong, &good).unwrap_err();
    assert!(named(&e), "{e}");
    // The same state, well formed, is read.
    assert!(aws::plan(&p, &good, NOW, "contain").is_ok());
}

#[test]
fn a_configuration_removal_plans_checks_and_puts_back_nothing_it_did_not_find() {
    let values = params(&[("bucket", json!("b-1"))]);
    let none = json!({ "bucket": "b-1", "summary": null, "xml": null });
    let some = json!({
        "bucket": "b-1",
        "summary": { "role": "arn:aws:iam::123456789012:role/r", "rules": [{ "id": "out", "status": "Enabled", "destination": "arn:aws:s3:::elsewhere" }] },
        "xml": "<ReplicationConfiguration/>"
    });
    let op = find_operation("s3.delete_bucket_replication").unwrap();
    let p = Params::new(op, &values).unwrap();
    // Nothing to remove: the plan says so; something to remove: the diff shows it going.
    let plan = aws::plan(&p, &none, NOW, "contain").unwrap();
    assert_eq!(
        plan.already.as_deref(),
        Some("the bucket has no such configuration")
    );
    let plan = aws::plan(&p, &some, NOW, "contain").unwrap();
    assert!(plan.already.is_none());
    assert!(
        plan.diff
            .lines()
            .any(|l| l.starts_with("- ") && l.contains("elsewhere")),
        "{}",
        plan.diff
    );
    assert_eq!(plan.calls, ["s3:DeleteBucketReplication Bucket=b-1"]);
    // The check reads the state after the call.
    assert_eq!(
        aws::check_applied(&p, &plan.request, Some(&some), &none),
        Ok("the configuration is gone".to_owned())
    );
    let e = aws::check_applied(&p, &plan.request, Some(&some), &some).unwrap_err();
    assert!(
        e.starts_with("the configuration is still there: ") && e.contains("elsewhere"),
        "{e}"
    );
    // Notifications: a document with no notification in it is no configuration.
    let op = find_operation("s3.clear_bucket_notifications").unwrap();
    let p = Params::new(op, &values).unwrap();
    let empty = json!({
        "bucket": "b-1",
        "summary": { "topics": 0, "queues": 0, "lambda_functions": 0, "eventbridge": false },
        "xml": "<NotificationConfiguration/>"
    });
    assert!(aws::plan(&p, &empty, NOW, "contain").unwrap().already.is_some());
    // Restoring a replication or lifecycle configuration the bucket did not have calls nothing:
    // the endpoint below answers nobody, so any call would fail.
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let a = Aws::connect(&settings("http://127.0.0.1:9")).await.unwrap();
        for (name, why) in [
            ("s3.delete_bucket_replication", "the bucket had no replication"),
            ("s3.delete_bucket_lifecycle", "the bucket had no lifecycle rules"),
        ] {
            let p = Params::new(find_operation(name).unwrap(), &values).unwrap();
            let done = a.restore(&p, &none).await.unwrap();
            assert_eq!(done.calls, [format!("nothing: {why}")], "{name}");
        }
    });
}

#[test]
fn hostile_values_never_reach_a_call() {
    let op = find_operation("s3.add_bucket_policy_deny").unwrap();
    for (name, value) in [
        ("bucket", json!("irp\"evil")),
        ("bucket", json!("irp-ok\n-evil")),
        ("bucket", json!("../../etc")),
        ("principal_arns", json!(["arn:aws:iam::1:role/x\"}]}"])),
        ("source_ips", json!(["203.0.113.7; rm -rf /"])),
        ("account_ids", json!(["12345678901$(id)"])),
    ] {
        let mut values = params(&[
            ("bucket", json!("irp-ok")),
            ("account_ids", json!(["444455556666"])),
        ]);
        values.insert(name.to_owned(), value.clone());
        let e = Params::new(op, &values).unwrap_err();
        assert!(
            e.to_string().contains(&format!("`{name}` is not valid")),
            "{value}: {e}"
        );
    }
    let mut values = params(&[("bucket", json!("irp-ok"))]);
    let e = Params::new(op, &values).unwrap_err();
    assert!(e.to_string().contains("at least one of them"), "{e}");
    values.insert("user".to_owned(), json!("x"));
    assert!(Params::new(op, &values).is_err());
}

#[test]
fn the_bucket_policy_merge_keeps_everything_and_refuses_a_changed_statement() {
    let (new, notes) = policy::bucket_deny_statements(
        "b",
        &policy::DenyTargets {
            principal_arns: vec!["arn:aws:iam::444455556666:user/mallory".to_owned()],
            ..Default::default()
        },
        "contain-bucket",
    );
    assert!(notes.is_empty());
    assert_eq!(new[0]["Sid"], "IrpDenyPrincipalscontainbucket");
    // A single statement object (not a list) is kept as the first of the list.
    let one = json!({"Version": "2012-10-17", "Statement": {"Sid": "A", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"}});
    let merged = policy::merge_statements(Some(&one), &new).unwrap();
    assert_eq!(policy::statements(&merged).len(), 2);
    assert_eq!(policy::statements(&merged)[0], one["Statement"]);
    // Running again adds nothing; irp's statement changed by someone else is an error.
    assert_eq!(policy::merge_statements(Some(&merged), &new).unwrap(), merged);
    let mut tampered = merged.clone();
    tampered["Statement"][1]["Action"] = json!("s3:GetObject");
    let e = policy::merge_statements(Some(&tampered), &new).unwrap_err();
    assert!(e.contains("already has a statement with Sid"), "{e}");
    // No policy at all: a new one.
    let fresh = policy::merge_statements(None, &new).unwrap();
    assert_eq!(fresh["Version"], "2012-10-17");
    // The diff shown before confirming only adds lines to a policy whose statements are a list.
    let list = policy::merge_statements(Some(&one), &[]).unwrap();
    let diff = policy::diff(Some(&list), Some(&merged));
    assert!(
        diff.lines()
            .any(|l| l.starts_with("+ ") && l.contains("IrpDenyPrincipals")),
        "{diff}"
    );
    assert!(!diff.lines().any(|l| l.starts_with("- ")), "{diff}");
}

#[test]
fn trust_policy_principals_are_removed_exactly() {
    let trust = json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": ["arn:aws:iam::444455556666:root", "arn:aws:iam::123456789012:role/ci"]}, "Action": "sts:AssumeRole"},
        {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::444455556666:root"}, "Action": "sts:TagSession"}
    ]});
    // An account id names the same principal as its root ARN; the emptied statement goes.
    let (out, removed) = policy::remove_principal(&trust, "444455556666").unwrap();
    assert_eq!(removed, 2);
    assert_eq!(
        out["Statement"],
        json!([{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:role/ci"}, "Action": "sts:AssumeRole"}])
    );
    let e = policy::remove_principal(&trust, "999999999999").unwrap_err();
    assert!(e.contains("is not a principal"), "{e}");
    let only = json!({"Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]});
    let e = policy::remove_principal(&only, "ec2.amazonaws.com").unwrap_err();
    assert!(e.contains("trusts no one"), "{e}");
}

// --- Live runs through the command line --------------------------------------------------

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::athena::{aws_irp, journal, moto, read_request};
use crate::common::{irp, repo, stderr, stdout};

/// What the test proxy does with one request, given its number and first line.
enum Rule {
    Forward,
    /// Keep the connection open and never answer (a call in flight when irp is killed).
    Hang,
    Respond(&'static str, String),
}

/// Every request a test proxy saw, as sent.
type Requests = Arc<std::sync::Mutex<Vec<Vec<u8>>>>;

/// A proxy written for these tests: `rule` decides per request; one request per connection.
fn proxy(upstream: &str, rule: impl Fn(usize, &str) -> Rule + Send + 'static) -> (String, Arc<AtomicUsize>) {
    let (endpoint, seen, _) = recording_proxy(upstream, rule);
    (endpoint, seen)
}

fn recording_proxy(
    upstream: &str,
    rule: impl Fn(usize, &str) -> Rule + Send + 'static,
) -> (String, Arc<AtomicUsize>, Requests) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(AtomicUsize::new(0));
    let count = seen.clone();
    let requests: Requests = Arc::default();
    let record = requests.clone();
    let upstream = upstream.trim_start_matches("http://").to_owned();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in listener.incoming() {
            let Ok(mut client) = conn else { return };
            let Some(request) = read_request(&mut client) else {
                continue;
            };
            record.lock().unwrap().push(request.clone());
            let n = count.fetch_add(1, Ordering::SeqCst);
            let first = String::from_utf8_lossy(&request)
                .lines()
                .next()
                .unwrap_or("")
                .to_owned();
            match rule(n, &first) {
                Rule::Forward => {
                    let mut server = std::net::TcpStream::connect(&upstream).unwrap();
                    server.write_all(&request).unwrap();
                    let mut response = Vec::new();
                    let _ = server.read_to_end(&mut response);
                    let _ = client.write_all(&response);
                }
                Rule::Hang => held.push(client),
                Rule::Respond(status, body) => {
                    let reply = format!(
                        "HTTP/1.1 {status}\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = client.write_all(reply.as_bytes());
                    let _ = client.write_all(body.as_bytes());
                }
            }
        }
    });
    (endpoint, seen, requests)
}

fn contain_playbook() -> PathBuf {
    repo().join("tests/fixtures/cases/contain.yaml")
}

fn write_answers(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn live_run(endpoint: &str, case: &Path, answers: &Path, inputs: &[String]) -> std::process::Command {
    let mut cmd = aws_irp();
    cmd.arg("run")
        .arg(contain_playbook())
        .arg("--case-dir")
        .arg(case)
        .args([
            "--live",
            "--endpoint-url",
            endpoint,
            "--region",
            "us-east-1",
            "--headless",
            "--answers",
        ])
        .arg(answers)
        .env("IRP_AWS_RETRY_BACKOFF_MS", "10");
    for i in inputs {
        cmd.args(["-i", i]);
    }
    cmd
}

fn live_resume(endpoint: &str, case: &Path, answers: &Path) -> std::process::Output {
    aws_irp()
        .arg("resume")
        .arg(case)
        .args([
            "--live",
            "--endpoint-url",
            endpoint,
            "--region",
            "us-east-1",
            "--headless",
            "--answers",
        ])
        .arg(answers)
        .output()
        .unwrap()
}

fn kinds(entries: &[Value]) -> Vec<String> {
    entries
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_owned())
        .collect()
}

fn entry<'a>(entries: &'a [Value], kind: &str, step: &str) -> &'a Value {
    entries
        .iter()
        .rev()
        .find(|e| e["kind"] == kind && e["payload"]["step"] == step)
        .unwrap_or_else(|| panic!("no {kind} for {step}"))
}

async fn bucket_policy(endpoint: &str, bucket: &str) -> Option<Value> {
    let c = sdk(endpoint).await;
    let out = c.s3.get_bucket_policy().bucket(bucket).send().await.ok()?;
    serde_json::from_str(out.policy()?).ok()
}

/// A bucket with a two-statement policy; returns the policy.
async fn bucket_with_policy(endpoint: &str, bucket: &str) -> Value {
    let c = sdk(endpoint).await;
    c.s3.create_bucket().bucket(bucket).send().await.unwrap();
    let policy = json!({"Version": "2012-10-17", "Statement": [
        {"Sid": "Partner", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "s3:GetObject", "Resource": format!("arn:aws:s3:::{bucket}/*")}
    ]});
    c.s3.put_bucket_policy()
        .bucket(bucket)
        .policy(policy.to_string())
        .send()
        .await
        .unwrap();
    policy
}

#[test]
fn a_live_run_journals_identity_intent_and_verified_result_and_rolls_back_exactly() {
    let Some((endpoint, _lock)) = moto() else {
        return;
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let bucket = unique("irp-live");
    let original = rt.block_on(bucket_with_policy(&endpoint, &bucket));
    let dir = tempfile::tempdir().unwrap();
    let case = dir.path().join("case");
    // Without the confirmation, the run stops and shows what it would confirm: the call and the
    // diff of the bucket policy, read from the account.
    let first = write_answers(dir.path(), "first.yaml", "steps: {}\n");
    // A hostile note: it must arrive as one argument, never reach a shell.
    let marker = dir.path().join("pwned");
    let note = format!("x; touch {0} $(touch {0}) `touch {0}`", marker.display());
    let out = live_run(
        &endpoint,
        &case,
        &first,
        &[format!("bucket={bucket}"), format!("note={note}")],
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let printed = stdout(&out);
    assert!(printed.contains("LIVE"), "{printed}");
    assert!(
        printed.contains("acting as arn:aws:sts::123456789012:user/moto"),
        "{printed}"
    );
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "a typed confirmation (`confirm: {bucket}`), for this change"
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!("call: s3:PutBucketPolicy Bucket={bucket}")),
        "{err}"
    );
    assert!(err.contains("+ ") && err.contains("IrpDenyAccountsdeny"), "{err}");
    let answers = write_answers(
        dir.path(),
        "a.yaml",
        &format!(
            "steps:\n  deny: {{ confirm: {bucket} }}\n  block: {{ confirm: \"yes\" }}\n  record: {{ confirm: \"yes\" }}\n"
        ),
    );
    let out = live_resume(&endpoint, &case, &answers);
    assert!(out.status.success(), "{}", stderr(&out));
    let entries = journal(&case);
    let k = kinds(&entries);
    let identity = k
        .iter()
        .position(|x| x == "aws_identity")
        .expect("identity recorded");
    let first_action = k.iter().position(|x| x == "action_started").unwrap();
    assert!(
        identity < first_action,
        "the caller identity comes before the first action: {k:?}"
    );
    // Evidence: stored, no confirmation.
    let ev = entry(&entries, "action_finished", "evidence");
    assert_eq!(ev["payload"]["outcome"], "succeeded");
    let evidence: Value = serde_json::from_slice(
        &std::fs::read(case.join(ev["payload"]["after"]["path"].as_str().unwrap())).unwrap(),
    )
    .unwrap();
    assert_eq!(evidence["policy"], original);
    // The deny: confirmed against the state it showed; intent with before-state and request
    // before the call; the result with request ids and what the read-back showed.
    let confirmed = entry(&entries, "action_confirmed", "deny");
    assert_eq!(confirmed["payload"]["typed"], bucket.as_str());
    assert!(confirmed["payload"]["seen"]["sha256"].is_string());
    let started = entry(&entries, "action_started", "deny");
    assert_eq!(started["payload"]["simulated"], false);
    let before: Value = serde_json::from_slice(
        &std::fs::read(case.join(started["payload"]["before"]["path"].as_str().unwrap())).unwrap(),
    )
    .unwrap();
    assert_eq!(before["policy"], original);
    let request: Value = serde_json::from_slice(
        &std::fs::read(case.join(started["payload"]["request"]["path"].as_str().unwrap())).unwrap(),
    )
    .unwrap();
    assert!(request["diff"].as_str().unwrap().contains("+ "), "{request}");
    let finished = entry(&entries, "action_finished", "deny");
    assert_eq!(finished["payload"]["outcome"], "succeeded", "{finished}");
    assert!(!finished["payload"]["request_ids"].as_array().unwrap().is_empty());
    assert!(
        finished["payload"]["verification"]
            .as_str()
            .unwrap()
            .contains("every statement it had before")
    );
    assert!(entries.iter().position(|e| e == started) < entries.iter().position(|e| e == finished));
    let live_policy = rt.block_on(bucket_policy(&endpoint, &bucket)).unwrap();
    assert_eq!(policy::statements(&live_policy).len(), 2, "{live_policy}");
    assert!(policy::keeps_statements(Some(&original), &live_policy));
    // The command: one argument, run without a shell; output stored.
    let record = entry(&entries, "action_finished", "record");
    assert_eq!(record["payload"]["outcome"], "succeeded", "{record}");
    let stdout_ref = &record["payload"]["outputs"][0];
    assert_eq!(
        std::fs::read_to_string(case.join(stdout_ref["path"].as_str().unwrap())).unwrap(),
        note
    );
    assert!(!marker.exists(), "the note ran a shell");
    let out = irp().arg("verify").arg(&case).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));

    // Rollback: the wrong name is refused; the right one restores the policy exactly.
    let rollback = |confirm: &str, extra: &[&str]| {
        aws_irp()
            .arg("rollback")
            .arg(&case)
            .args([
                "--step",
                "deny",
                "--live",
                "--endpoint-url",
                &endpoint,
                "--region",
                "us-east-1",
                "--confirm",
                confirm,
            ])
            .args(extra)
            .output()
            .unwrap()
    };
    let out = rollback("not-the-bucket", &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("nothing was rolled back"),
        "{}",
        stderr(&out)
    );
    // A before-state whose bytes no longer match the journal is never put back.
    let before_path = case.join(started["payload"]["before"]["path"].as_str().unwrap());
    let stored = std::fs::read(&before_path).unwrap();
    std::fs::write(&before_path, br#"{"bucket":"x","policy":null,"text":null}"#).unwrap();
    let out = rollback(&bucket, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("changed since the journal recorded it"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        rt.block_on(bucket_policy(&endpoint, &bucket)).unwrap(),
        live_policy,
        "nothing restored"
    );
    std::fs::write(&before_path, &stored).unwrap();
    let out = rollback(&bucket, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(rt.block_on(bucket_policy(&endpoint, &bucket)).unwrap(), original);
    let entries = journal(&case);
    let r = entry(&entries, "rollback_finished", "deny");
    assert_eq!(r["payload"]["outcome"], "succeeded", "{r}");
    assert!(
        r["payload"]["detail"]
            .as_str()
            .unwrap()
            .contains("as it was before the action")
    );
    let out = rollback(&bucket, &[]);
    assert!(stderr(&out).contains("rolled back already"), "{}", stderr(&out));
    // A rollback without --live is refused: it would change the account.
    let out = aws_irp()
        .arg("rollback")
        .arg(&case)
        .args(["--step", "block", "--confirm", &bucket])
        .output()
        .unwrap();
    assert!(stderr(&out).contains("live case"), "{}", stderr(&out));
    let out = irp().arg("verify").arg(&case).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn a_rehearsal_calls_nothing_and_records_the_calls_it_would_make() {
    let dir = tempfile::tempdir().unwrap();
    let case = dir.path().join("case");
    let answers = write_answers(
        dir.path(),
        "a.yaml",
        "steps:\n  deny: { confirm: rehearsal-bucket }\n  block: { confirm: \"yes\" }\n",
    );
    // An endpoint nothing listens on and no credentials: any call would fail the run.
    let out = irp()
        .arg("run")
        .arg(contain_playbook())
        .arg("--case-dir")
        .arg(&case)
        .args(["--endpoint-url", "http://127.0.0.1:9", "--headless", "--answers"])
        .arg(&answers)
        .args(["-i", "bucket=rehearsal-bucket"])
        .env_remove("AWS_ACCESS_KEY_ID")
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "waits at `record`: {}", stderr(&out));
    assert!(
        stdout(&out).contains("rehearsal: actions are simulated"),
        "{}",
        stdout(&out)
    );
    // A rehearsal stays one: it cannot be resumed live.
    let out = aws_irp()
        .arg("resume")
        .arg(&case)
        .args(["--live", "--headless", "--answers"])
        .arg(&answers)
        .output()
        .unwrap();
    assert!(
        stderr(&out).contains("this case is a rehearsal"),
        "{}",
        stderr(&out)
    );
    let answers = write_answers(
        dir.path(),
        "b.yaml",
        "steps:\n  deny: { confirm: rehearsal-bucket }\n  block: { confirm: \"yes\" }\n  record: { confirm: \"yes\" }\n",
    );
    let out = irp()
        .arg("resume")
        .arg(&case)
        .args(["--headless", "--answers"])
        .arg(&answers)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let entries = journal(&case);
    assert!(!kinds(&entries).contains(&"aws_identity".to_owned()));
    let deny = entry(&entries, "action_finished", "deny");
    assert_eq!(deny["payload"]["simulated"], true);
    let detail = deny["payload"]["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("simulated: would call s3:GetBucketPolicy (the before-state); s3:PutBucketPolicy Bucket=rehearsal-bucket"),
        "{detail}"
    );
    let record = entry(&entries, "action_finished", "record");
    assert_eq!(
        record["payload"]["detail"],
        r#"simulated: would run ["printf","%s","contained"]"#
    );
    assert!(record["payload"].get("outputs").is_none());
    // Its rollback is simulated too.
    let out = irp()
        .arg("rollback")
        .arg(&case)
        .args(["--step", "deny", "--confirm", "rehearsal-bucket"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let entries = journal(&case);
    let r = entry(&entries, "rollback_finished", "deny");
    assert_eq!(r["payload"]["simulated"], true);
    assert!(
        r["payload"]["detail"]
            .as_str()
            .unwrap()
            .starts_with("simulated: would call s3:PutBucketPolicy with the saved policy")
    );
    let out = irp()
        .arg("rollback")
        .arg(&case)
        .args(["--step", "evidence", "--confirm", "x"])
        .output()
        .unwrap();
    assert!(stderr(&out).contains("only reads"), "{}", stderr(&out));
    // A value that is not its parameter's type stops the step before anything is recorded as
    // called, in a rehearsal too.
    let hostile_case = dir.path().join("hostile");
    let out = irp()
        .arg("run")
        .arg(contain_playbook())
        .arg("--case-dir")
        .arg(&hostile_case)
        .args(["--headless", "--answers"])
        .arg(&answers)
        .args(["-i", "bucket=evil\"}],\"Statement\":[{\"Effect\":\"Allow"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("the parameter `bucket` is not valid"),
        "{}",
        stderr(&out)
    );
    assert!(!kinds(&journal(&hostile_case)).contains(&"action_started".to_owned()));
}

#[test]
fn a_kill_between_intent_and_result_resumes_into_the_outcome_unknown_prompt() {
    let Some((endpoint, _lock)) = moto() else {
        return;
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let bucket = unique("irp-kill");
    let original = rt.block_on(bucket_with_policy(&endpoint, &bucket));
    // The policy write hangs in the proxy: irp is killed with the call in flight.
    let (hanging, _) = proxy(&endpoint, |_, first| {
        if first.starts_with("PUT") && first.contains("policy") {
            Rule::Hang
        } else {
            Rule::Forward
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let case = dir.path().join("case");
    let answers = write_answers(
        dir.path(),
        "a.yaml",
        &format!("steps:\n  deny: {{ confirm: {bucket} }}\n"),
    );
    let mut child = live_run(&hanging, &case, &answers, &[format!("bucket={bucket}")])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_mins(1);
    loop {
        let text = std::fs::read_to_string(case.join("journal.jsonl")).unwrap_or_default();
        if text
            .lines()
            .any(|l| l.contains("\"action_started\"") && l.contains("\"deny\""))
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the intent was never written"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(std::time::Duration::from_millis(200));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    // Resumed: the outcome is recorded as unknown and the responder is asked.
    let out = live_resume(&endpoint, &case, &answers);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "the outcome of s3:PutBucketPolicy on {bucket} is unknown"
        )),
        "{err}"
    );
    assert!(err.contains("unknown: verify"), "{err}");
    let entries = journal(&case);
    assert_eq!(
        entry(&entries, "action_finished", "deny")["payload"]["outcome"],
        "unknown"
    );
    // `verify`: irp reads the policy, finds the deny missing, and asks for the confirmation
    // again before running it.
    let answers = write_answers(
        dir.path(),
        "b.yaml",
        &format!(
            "steps:\n  deny: {{ confirm: {bucket}, unknown: verify }}\n  block: {{ confirm: \"yes\" }}\n  record: {{ confirm: \"yes\" }}\n"
        ),
    );
    let out = live_resume(&endpoint, &case, &answers);
    assert!(out.status.success(), "{}", stderr(&out));
    let entries = journal(&case);
    let verified = entry(&entries, "action_verified", "deny");
    assert_eq!(verified["payload"]["method"], "read");
    assert_eq!(verified["payload"]["in_place"], false, "{verified}");
    let k = kinds(&entries);
    let at = k.iter().rposition(|x| x == "action_verified").unwrap();
    assert_eq!(
        &k[at + 1..at + 4],
        ["action_confirmed", "action_started", "action_finished"],
        "{k:?}"
    );
    assert_eq!(
        entry(&entries, "action_finished", "deny")["payload"]["outcome"],
        "succeeded"
    );
    let live_policy = rt.block_on(bucket_policy(&endpoint, &bucket)).unwrap();
    assert!(policy::keeps_statements(Some(&original), &live_policy));
    assert_eq!(policy::statements(&live_policy).len(), 2);
    let out = irp().arg("verify").arg(&case).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn a_change_between_confirmation_and_call_voids_the_confirmation() {
    use irp::case::actions::{self, ActionStep, Executor};
    use irp::case::moves::MoveError;
    let Some((endpoint, _lock)) = moto_for_library() else {
        return;
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let bucket = unique("irp-conflict");
    rt.block_on(bucket_with_policy(&endpoint, &bucket));
    let dir = tempfile::tempdir().unwrap();
    let mut session = irp::case::Session::create(
        &dir.path().join("case"),
        &contain_playbook(),
        &[("bucket".to_owned(), bucket.clone())],
        irp::engine::Mode::Live,
        crate::journal::ctx("responder"),
    )
    .unwrap();
    let mut executor = Executor::live(&settings(&endpoint)).unwrap();
    session.execute(&irp::engine::Command::Start).unwrap();
    session
        .execute(&irp::engine::Command::Skip {
            step: "evidence".to_owned(),
            reason: "test".to_owned(),
        })
        .unwrap();
    let index = session.playbook.step_index("deny").unwrap();
    let intent =
        irp::engine::render_intent(&session.playbook, &session.state, index, &session.env()).unwrap();
    let step = ActionStep {
        id: "deny",
        intent: &intent,
        confirm: irp::playbook::raw::Confirm::Typed,
        typed: Some(&bucket),
        timeout: None,
    };
    let mut lines = Vec::new();
    actions::advance(&mut session, &mut executor, step, &mut |l| lines.push(l.clone())).unwrap();
    assert!(session.state.step("deny").unwrap().confirmed);
    // Someone else edits the policy after the confirmation.
    let c = rt.block_on(sdk(&endpoint));
    let edited = json!({"Version": "2012-10-17", "Statement": [
        {"Sid": "Other", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::999999999999:root"}, "Action": "s3:GetObject", "Resource": format!("arn:aws:s3:::{bucket}/*")}
    ]});
    rt.block_on(
        c.s3.put_bucket_policy()
            .bucket(&bucket)
            .policy(edited.to_string())
            .send(),
    )
    .unwrap();
    let conflict = actions::advance(&mut session, &mut executor, step, &mut |_| {}).unwrap_err();
    let MoveError::Conflict { difference, .. } = &conflict else {
        panic!("{conflict}")
    };
    assert!(difference.contains("999999999999"), "{difference}");
    assert!(conflict.hints()[0].contains("confirm again"));
    assert!(
        !session.state.step("deny").unwrap().confirmed,
        "the confirmation is void"
    );
    assert!(matches!(
        session.entries.last().unwrap().event,
        irp::engine::Event::ActionConflict(_)
    ));
    // Confirmed again, against the edited policy: the merge keeps the other party's statement.
    actions::advance(&mut session, &mut executor, step, &mut |_| {}).unwrap();
    actions::advance(&mut session, &mut executor, step, &mut |_| {}).unwrap();
    let live = rt.block_on(bucket_policy(&endpoint, &bucket)).unwrap();
    assert!(policy::keeps_statements(Some(&edited), &live), "{live}");
    assert_eq!(
        session.state.step("deny").unwrap().last_outcome,
        Some(irp::engine::Outcome::Succeeded)
    );
}

#[test]
fn access_denied_and_throttling_name_the_permission_and_give_up_clearly() {
    let Some((endpoint, _lock)) = moto_for_library() else {
        return;
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let bucket = unique("irp-errors");
    rt.block_on(bucket_with_policy(&endpoint, &bucket));
    let denied = || {
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message><RequestId>r1</RequestId></Error>".to_owned()
    };
    let slow = || {
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message><RequestId>r2</RequestId></Error>".to_owned()
    };
    let (deny_proxy, _) = proxy(&endpoint, move |_, first| {
        if first.starts_with("PUT") {
            Rule::Respond("403 Forbidden", denied())
        } else {
            Rule::Forward
        }
    });
    let (slow_proxy, seen) = proxy(&endpoint, move |_, first| {
        if first.starts_with("PUT") {
            Rule::Respond("503 Slow Down", slow())
        } else {
            Rule::Forward
        }
    });
    let op = find_operation("s3.put_public_access_block").unwrap();
    let values = params(&[("bucket", json!(bucket))]);
    let p = Params::new(op, &values).unwrap();
    rt.block_on(async {
        let a = Aws::connect(&settings(&deny_proxy)).await.unwrap();
        let before = a.read_state(&p).await.unwrap();
        let plan = aws::plan(&p, &before, NOW, "block").unwrap();
        let e = a.apply(&p, &plan).await.unwrap_err();
        assert!(
            e.to_string()
                .contains("missing permission: s3:PutBucketPublicAccessBlock"),
            "{e}"
        );
        assert!(e.hint().contains("docs/actions.md"), "{}", e.hint());
        let a = Aws::connect(&settings(&slow_proxy)).await.unwrap();
        let e = a.apply(&p, &plan).await.unwrap_err();
        assert!(e.to_string().contains("throttling"), "{e}");
        assert!(e.hint().contains("nothing was changed"), "{}", e.hint());
    });
    assert_eq!(
        seen.load(Ordering::SeqCst),
        2,
        "retried once (two attempts in these settings)"
    );
}

#[test]
fn a_command_action_is_timed_out_and_its_output_capped() {
    use irp::action::command;
    let ran = command::run(
        &["sleep".to_owned(), "5".to_owned()],
        &[],
        std::time::Duration::from_millis(200),
    )
    .unwrap();
    assert!(ran.timed_out && !ran.succeeded());
    assert!(
        ran.elapsed < std::time::Duration::from_secs(3),
        "{:?}",
        ran.elapsed
    );
    let big = command::run(
        &[
            "head".to_owned(),
            "-c".to_owned(),
            (command::OUTPUT_CAP + 10).to_string(),
            "/dev/zero".to_owned(),
        ],
        &[],
        std::time::Duration::from_secs(10),
    )
    .unwrap();
    assert!(big.succeeded());
    assert_eq!(big.stdout.len(), command::OUTPUT_CAP);
    assert_eq!(big.dropped.0, 10);
    assert!(big.summary().contains("10 more dropped"), "{}", big.summary());
    let failed = command::run(&["false".to_owned()], &[], std::time::Duration::from_secs(5)).unwrap();
    assert_eq!(failed.code, Some(1));
    let e = command::run(
        &["/nonexistent/tool".to_owned()],
        &[],
        std::time::Duration::from_secs(5),
    )
    .unwrap_err();
    assert!(e.contains("cannot start `/nonexistent/tool`"), "{e}");
}

/// CRC-32 (IEEE), as S3's `x-amz-checksum-crc32` uses it.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn a_restored_s3_document_is_sent_as_stored_and_checksummed_as_sent() {
    let Some((endpoint, _lock)) = moto_for_library() else {
        return;
    };
    assert_eq!(
        base64(&crc32(b"123456789").to_be_bytes()),
        "y/Q5Jg==",
        "the test's own CRC-32"
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    let bucket = unique("irp-checksum");
    let (recorder, _, requests) = recording_proxy(&endpoint, |_, _| Rule::Forward);
    rt.block_on(async {
        let c = sdk(&endpoint).await;
        c.s3.create_bucket().bucket(&bucket).send().await.unwrap();
        c.s3.put_bucket_acl()
            .bucket(&bucket)
            .acl(aws_sdk_s3::types::BucketCannedAcl::PublicRead)
            .send()
            .await
            .unwrap();
        let a = Aws::connect(&settings(&recorder)).await.unwrap();
        let op = find_operation("s3.put_bucket_acl_private").unwrap();
        let values = params(&[("bucket", json!(bucket))]);
        let p = Params::new(op, &values).unwrap();
        let before = a.read_state(&p).await.unwrap();
        let plan = aws::plan(&p, &before, NOW, "acl").unwrap();
        a.apply(&p, &plan).await.unwrap();
        requests.lock().unwrap().clear();
        a.restore(&p, &before).await.unwrap();
    });
    let sent = requests.lock().unwrap().clone();
    let put = sent
        .iter()
        .find(|r| r.starts_with(b"PUT "))
        .expect("the rollback sent a PUT");
    let at = put.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&put[..at]).to_ascii_lowercase();
    let body = &put[at + 4..];
    assert_eq!(
        String::from_utf8_lossy(body),
        rt.block_on(async {
            let a = Aws::connect(&settings(&endpoint)).await.unwrap();
            let op = find_operation("s3.get_bucket_acl").unwrap();
            let values = params(&[("bucket", json!(bucket))]);
            a.read_state(&Params::new(op, &values).unwrap()).await.unwrap()["xml"]
                .as_str()
                .unwrap()
                .to_owned()
        }),
        "the document S3 returned went back byte for byte"
    );
    let header = |name: &str| {
        head.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}:")).map(|v| v.trim().to_owned()))
    };
    assert_eq!(header("content-length"), Some(body.len().to_string()));
    let checksum = header("x-amz-checksum-crc32").expect("the SDK checksums the request body");
    assert_eq!(
        checksum,
        base64(&crc32(body).to_be_bytes()).to_ascii_lowercase(),
        "the checksum covers the stored document, not the body the SDK serialized"
    );
    assert!(header("content-md5").is_none());
}

#[test]
fn a_throttled_change_fails_the_step_clearly_and_resume_tries_it_again() {
    let Some((endpoint, _lock)) = moto() else {
        return;
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let bucket = unique("irp-throttled");
    let original = rt.block_on(bucket_with_policy(&endpoint, &bucket));
    let slow = || {
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>"
            .to_owned()
    };
    let (throttling, _) = proxy(&endpoint, move |_, first| {
        if first.starts_with("PUT") {
            Rule::Respond("503 Slow Down", slow())
        } else {
            Rule::Forward
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let case = dir.path().join("case");
    let answers = write_answers(
        dir.path(),
        "a.yaml",
        &format!(
            "steps:\n  deny: {{ confirm: {bucket} }}\n  block: {{ confirm: \"yes\" }}\n  record: {{ confirm: \"yes\" }}\n"
        ),
    );
    let out = live_run(&throttling, &case, &answers, &[format!("bucket={bucket}")])
        .env("IRP_AWS_MAX_ATTEMPTS", "2")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("step `deny` failed"), "{err}");
    assert!(
        err.contains("AWS is throttling or failing and the retries are used up: SlowDown"),
        "{err}"
    );
    let entries = journal(&case);
    let failed = entry(&entries, "action_finished", "deny");
    assert_eq!(failed["payload"]["outcome"], "failed");
    assert_eq!(
        rt.block_on(bucket_policy(&endpoint, &bucket)).unwrap(),
        original,
        "nothing changed"
    );
    // Resumed once AWS answers again: the action runs again, without a second confirmation.
    let out = live_resume(&endpoint, &case, &answers);
    assert!(out.status.success(), "{}", stderr(&out));
    let entries = journal(&case);
    assert_eq!(
        entry(&entries, "action_finished", "deny")["payload"]["outcome"],
        "succeeded"
    );
    let confirmations = entries
        .iter()
        .filter(|e| e["kind"] == "action_confirmed" && e["payload"]["step"] == "deny")
        .count();
    assert_eq!(confirmations, 1);
}

/// A live case written before the before-states were typed rolls back: its stored states are
/// read into the typed ones, put back, and checked.
#[test]
fn a_case_from_before_the_typed_states_rolls_back_on_moto() {
    let Some((endpoint, _lock)) = moto() else {
        return;
    };
    let (_dir, case) = crate::review::case_before_typed_states();
    let bucket = "irp-typed-states-fixture";
    let stored = |name: &str| -> Value {
        serde_json::from_slice(&std::fs::read(case.join("artifacts").join(name)).unwrap()).unwrap()
    };
    let (before, after) = (stored("7-deny.before.json"), stored("8-deny.after.json"));
    // The bucket as the case left it: the policy with irp's deny, every public access blocked.
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let c = sdk(&endpoint).await;
        let _ = c.s3.create_bucket().bucket(bucket).send().await;
        c.s3.put_bucket_policy()
            .bucket(bucket)
            .policy(after["text"].as_str().unwrap())
            .send()
            .await
            .unwrap();
        let all = aws_sdk_s3::types::PublicAccessBlockConfiguration::builder()
            .block_public_acls(true)
            .ignore_public_acls(true)
            .block_public_policy(true)
            .restrict_public_buckets(true)
            .build();
        c.s3.put_public_access_block()
            .bucket(bucket)
            .public_access_block_configuration(all)
            .send()
            .await
            .unwrap();
    });
    let rollback = |step: &str| {
        aws_irp()
            .arg("rollback")
            .arg(&case)
            .args(["--step", step, "--live", "--endpoint-url", &endpoint])
            .args(["--region", "us-east-1", "--confirm", bucket])
            .output()
            .unwrap()
    };
    for step in ["deny", "block"] {
        let out = rollback(step);
        assert!(out.status.success(), "{step}: {}", stderr(&out));
        let r = entry(&journal(&case), "rollback_finished", step).clone();
        assert_eq!(r["payload"]["outcome"], "succeeded", "{r}");
        assert!(
            r["payload"]["detail"]
                .as_str()
                .unwrap()
                .contains("as it was before the action"),
            "{r}"
        );
    }
    assert_eq!(
        rt.block_on(bucket_policy(&endpoint, bucket)).unwrap(),
        before["policy"]
    );
    let blocked = rt.block_on(async {
        let c = sdk(&endpoint).await;
        c.s3.get_public_access_block().bucket(bucket).send().await.is_ok()
    });
    assert!(
        !blocked,
        "the bucket had no Block Public Access settings before the case"
    );
    let out = irp().arg("verify").arg(&case).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
}

/// A trail in which the stolen key `AKIAEXAMPLESTOLEN001` created each `(user, key)`.
/// The `for_each` drill run live and headless against `endpoint`: `verb` adds the command and
/// its case (`run …`, `resume CASE`), then the lake, the endpoint and the answers follow.
fn for_each_live(
    endpoint: &str,
    lake: &Path,
    answers: &Path,
    verb: impl FnOnce(&mut std::process::Command) -> &mut std::process::Command,
) -> std::process::Output {
    let mut cmd = aws_irp();
    verb(&mut cmd)
        .arg("--lake")
        .arg(lake)
        .args(["--live", "--endpoint-url", endpoint, "--region", "us-east-1"])
        .args(["--headless", "--answers"])
        .arg(answers)
        .env("IRP_AWS_RETRY_BACKOFF_MS", "10")
        .output()
        .unwrap()
}

/// A lake in `dir` imported from the trail of `created` (users and their keys).
fn created_keys_lake(dir: &Path, created: &[(String, String)]) -> PathBuf {
    let trail = dir.join("trail.json");
    std::fs::write(&trail, trail_of_created_keys(created)).unwrap();
    let lake = dir.join("lake");
    let out = irp()
        .args(["lake", "import", "cloudtrail"])
        .arg(&trail)
        .arg("--lake")
        .arg(&lake)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    lake
}

fn trail_of_created_keys(created: &[(String, String)]) -> String {
    let records: Vec<Value> = created
        .iter()
        .enumerate()
        .map(|(i, (user, key))| {
            json!({
                "eventVersion": "1.09",
                "userIdentity": {"type": "IAMUser", "principalId": "AIDAEXAMPLEVICTIM001", "arn": "arn:aws:iam::123456789012:user/victim", "accountId": "123456789012", "accessKeyId": "AKIAEXAMPLESTOLEN001", "userName": "victim"},
                "eventTime": format!("2026-11-20T09:{:02}:{:02}Z", 10 + i / 60, i % 60),
                "eventSource": "iam.amazonaws.com", "eventName": "CreateAccessKey", "awsRegion": "us-east-1",
                "sourceIPAddress": "203.0.113.9", "userAgent": "aws-cli/2.15.0",
                "requestParameters": {"userName": user},
                "responseElements": {"accessKey": {"accessKeyId": key, "status": "Active", "userName": user}},
                "requestID": format!("00000000-0000-4000-8000-{i:012}"),
                "eventID": format!("00000000-0000-4000-8001-{i:012}"),
                "readOnly": false, "eventType": "AwsApiCall", "managementEvent": true,
                "recipientAccountId": "123456789012", "eventCategory": "Management"
            })
        })
        .collect();
    json!({ "Records": records }).to_string()
}

#[test]
fn for_each_contains_every_created_key_on_its_own_user_and_names_the_one_that_failed() {
    let Some((endpoint, _lock)) = moto() else {
        return;
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let users: Vec<String> = (0..3).map(|i| unique(&format!("intruder{i}-"))).collect();
    let created: Vec<(String, String)> = rt.block_on(async {
        let c = sdk(&endpoint).await;
        let mut out = Vec::new();
        for u in &users {
            c.iam.create_user().user_name(u).send().await.unwrap();
            let k = c.iam.create_access_key().user_name(u).send().await.unwrap();
            out.push((u.clone(), k.access_key().unwrap().access_key_id().to_owned()));
        }
        // The second key is deleted behind the case's back: its item must fail on its own.
        c.iam
            .delete_access_key()
            .user_name(&out[1].0)
            .access_key_id(&out[1].1)
            .send()
            .await
            .unwrap();
        out
    });
    let dir = tempfile::tempdir().unwrap();
    let lake = created_keys_lake(dir.path(), &created);
    let answers = write_answers(
        dir.path(),
        "a.yaml",
        "steps:\n  deactivate-created-keys: { confirm: 3 access keys, items: all }\n",
    );
    let case = dir.path().join("case");
    let out = for_each_live(&endpoint, &lake, &answers, |c| {
        c.arg("run")
            .arg(repo().join("tests/fixtures/cases/for-each.yaml"))
            .arg("--case-dir")
            .arg(&case)
            .args(["-i", "suspect_key=AKIAEXAMPLESTOLEN001"])
    });
    // Two keys contained, one failed and named: the step stops for the responder.
    assert_eq!(out.status.code(), Some(1), "{}\n{}", stdout(&out), stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("item 1: ") && err.contains(&created[1].1),
        "the failed item is named with its key: {err}"
    );
    let status_of = |i: usize| {
        rt.block_on(async {
            let c = sdk(&endpoint).await;
            let keys = c
                .iam
                .list_access_keys()
                .user_name(&created[i].0)
                .send()
                .await
                .unwrap();
            keys.access_key_metadata()
                .iter()
                .find(|m| m.access_key_id() == Some(created[i].1.as_str()))
                .and_then(|m| m.status().map(|s| s.as_str().to_owned()))
        })
    };
    let statuses: Vec<Option<String>> = (0..3).map(status_of).collect();
    assert_eq!(
        statuses,
        [Some("Inactive".to_owned()), None, Some("Inactive".to_owned())],
        "each key deactivated on its own user"
    );
    // The journal holds one intent and one result per item; the two done are verified.
    let entries = journal(&case);
    let finished: Vec<&Value> = entries
        .iter()
        .filter(|e| e["kind"] == "action_finished")
        .collect();
    let by_item = |i: u64| {
        finished
            .iter()
            .find(|e| e["payload"]["item"] == i)
            .unwrap_or_else(|| panic!("no result for item {i}"))
    };
    for i in [0, 2] {
        assert_eq!(by_item(i)["payload"]["outcome"], "succeeded");
        assert!(
            by_item(i)["payload"]["verification"]
                .as_str()
                .is_some_and(|v| v.contains("Inactive")),
            "{}",
            by_item(i)
        );
    }
    assert_eq!(by_item(1)["payload"]["outcome"], "failed");
    let started = entries.iter().filter(|e| e["kind"] == "action_started").count();
    assert_eq!(started, 3, "one intent per item");
    let confirmed = entry(&entries, "action_confirmed", "deactivate-created-keys");
    assert_eq!(confirmed["payload"]["items"]["items"], json!([0, 1, 2]));
    // A resume runs the failed item again (and only it), under the same confirmation.
    let out = for_each_live(&endpoint, &lake, &answers, |c| c.arg("resume").arg(&case));
    assert_eq!(
        out.status.code(),
        Some(1),
        "the key is still gone: {}",
        stderr(&out)
    );
    let entries = journal(&case);
    let starts_of = |i: u64| {
        entries
            .iter()
            .filter(|e| e["kind"] == "action_started" && e["payload"]["item"] == i)
            .count()
    };
    assert_eq!((starts_of(0), starts_of(1), starts_of(2)), (1, 2, 1));
    assert_eq!(
        entries.iter().filter(|e| e["kind"] == "action_confirmed").count(),
        1
    );
    // Each item rolls back on its own; without `--item` the items in place are named.
    let rollback = |extra: &[&str]| {
        aws_irp()
            .arg("rollback")
            .arg(&case)
            .args([
                "--step",
                "deactivate-created-keys",
                "--live",
                "--endpoint-url",
                &endpoint,
            ])
            .args(["--region", "us-east-1"])
            .args(extra)
            .output()
            .unwrap()
    };
    let out = rollback(&["--confirm", &created[0].1]);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        stderr(&out).contains("--item N` (items in place: 0, 2)"),
        "{}",
        stderr(&out)
    );
    let out = rollback(&["--item", "0", "--confirm", &created[0].1]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(status_of(0).as_deref(), Some("Active"), "item 0 restored");
    assert_eq!(status_of(2).as_deref(), Some("Inactive"), "item 2 untouched");
    let out = rollback(&["--item", "0", "--confirm", &created[0].1]);
    assert!(stderr(&out).contains("rolled back already"), "{}", stderr(&out));
    let entries = journal(&case);
    let finished = entry(&entries, "rollback_finished", "deactivate-created-keys");
    assert_eq!(finished["payload"]["item"], 0);
    assert_eq!(finished["payload"]["outcome"], "succeeded");
    let out = irp().arg("verify").arg(&case).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
}

/// IAM's answer when it throttles a caller (the query protocol's error document).
fn throttled() -> String {
    "<ErrorResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><Error><Type>Sender</Type>\
     <Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>irp-test</RequestId></ErrorResponse>"
        .to_owned()
}

/// A list of 40 created keys contained live while IAM throttles one call in three: the SDK's
/// retries (exponential backoff with jitter on each throttled call) carry every item through,
/// each on its own user, one item at a time, and the journal has one result per item.
#[test]
fn a_long_list_is_paced_through_throttling_and_every_item_is_contained() {
    let Some((endpoint, _lock)) = moto() else {
        return;
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let n = 40;
    let created: Vec<(String, String)> = rt.block_on(async {
        let c = sdk(&endpoint).await;
        let mut out = Vec::new();
        for i in 0..n {
            let u = unique(&format!("paced{i}-"));
            c.iam.create_user().user_name(&u).send().await.unwrap();
            let k = c.iam.create_access_key().user_name(&u).send().await.unwrap();
            out.push((u, k.access_key().unwrap().access_key_id().to_owned()));
        }
        out
    });
    let dir = tempfile::tempdir().unwrap();
    let lake = created_keys_lake(dir.path(), &created);
    let refusals = Arc::new(AtomicUsize::new(0));
    let counted = refusals.clone();
    let (through, _) = proxy(&endpoint, move |i, _| {
        if i % 3 == 2 {
            counted.fetch_add(1, Ordering::SeqCst);
            Rule::Respond("400 Bad Request", throttled())
        } else {
            Rule::Forward
        }
    });
    let answers = write_answers(
        dir.path(),
        "a.yaml",
        &format!("steps:\n  deactivate-created-keys: {{ confirm: {n} access keys }}\n"),
    );
    let case = dir.path().join("case");
    let started = std::time::Instant::now();
    let out = for_each_live(&through, &lake, &answers, |c| {
        c.arg("run")
            .arg(repo().join("tests/fixtures/cases/for-each.yaml"))
            .arg("--case-dir")
            .arg(&case)
            .args(["-i", "suspect_key=AKIAEXAMPLESTOLEN001"])
    });
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    let throttled = refusals.load(Ordering::SeqCst);
    assert!(throttled >= n, "IAM throttled {throttled} calls");
    // Every key inactive on its own user, read back from moto directly.
    let inactive = rt.block_on(async {
        let c = sdk(&endpoint).await;
        let mut count = 0;
        for (u, k) in &created {
            let keys = c.iam.list_access_keys().user_name(u).send().await.unwrap();
            count += keys
                .access_key_metadata()
                .iter()
                .filter(|m| m.access_key_id() == Some(k.as_str()))
                .filter(|m| m.status().map(aws_sdk_iam::types::StatusType::as_str) == Some("Inactive"))
                .count();
        }
        count
    });
    assert_eq!(inactive, n);
    let entries = journal(&case);
    let succeeded = entries
        .iter()
        .filter(|e| e["kind"] == "action_finished" && e["payload"]["outcome"] == "succeeded")
        .count();
    assert_eq!(succeeded, n, "one result per item");
    // The progress a responder watches: one line per item as it ends.
    let printed = stdout(&out);
    assert!(
        (0..n).all(|i| printed.contains(&format!(" item {i}: "))),
        "{printed}"
    );
    eprintln!(
        "{n} items through {throttled} throttled calls in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

/// A command sees an explicit environment: no AWS credentials or profile of the responder's, a
/// scratch `HOME`, the metadata service off; and a descendant that leaves the process group and
/// keeps the pipes open does not keep irp waiting.
#[test]
fn a_command_runs_without_the_responders_credentials_and_never_hangs_on_a_descendant() {
    use irp::action::command;
    // The environment a command gets, printed by the command itself: only the allowed names,
    // though this test process has many more (cargo's, and AWS settings when moto runs).
    let env = command::run(&["env".to_owned()], &[], std::time::Duration::from_secs(5)).unwrap();
    let text = String::from_utf8_lossy(&env.stdout).into_owned();
    let allowed: Vec<&str> = command::PASSED_ENV
        .iter()
        .copied()
        .chain(command::SET_BY_IRP)
        .collect();
    for line in text.lines() {
        let name = line.split('=').next().unwrap_or_default();
        assert!(allowed.contains(&name), "`{name}` reached the command:\n{text}");
    }
    assert!(
        std::env::vars().any(|(k, _)| !allowed.contains(&k.as_str())),
        "the test process has variables a command must not see"
    );
    assert!(text.contains("AWS_EC2_METADATA_DISABLED=true"), "{text}");
    let home = text
        .lines()
        .find_map(|l| l.strip_prefix("HOME="))
        .unwrap_or_default()
        .to_owned();
    assert!(home.contains("irp-command-home-"), "{text}");
    assert_ne!(Some(home.as_str()), std::env::var("HOME").ok().as_deref());
    assert!(
        !std::path::Path::new(&home).exists(),
        "the scratch home is removed"
    );
    // A grandchild in a session of its own keeps the output open for a minute.
    let started = std::time::Instant::now();
    let ran = command::run(
        &["setsid".to_owned(), "sleep".to_owned(), "60".to_owned()],
        &[],
        std::time::Duration::from_millis(300),
    )
    .unwrap();
    assert!(
        started.elapsed() < std::time::Duration::from_secs(3),
        "irp waited {:?} for a descendant's pipes",
        started.elapsed()
    );
    let _ = ran;
    let started = std::time::Instant::now();
    let ran = command::run(
        &[
            "sh".to_owned(),
            "-c".to_owned(),
            "setsid sleep 60 & echo started".to_owned(),
        ],
        &[],
        std::time::Duration::from_secs(10),
    )
    .unwrap();
    assert!(ran.succeeded(), "{}", ran.summary());
    assert_eq!(String::from_utf8_lossy(&ran.stdout), "started\n");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(3),
        "irp waited {:?} after the command ended",
        started.elapsed()
    );
}

/// Whether process `pid` is still running (a zombie is not).
fn running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit(')').next().map(|r| !r.trim_start().starts_with('Z')))
        .unwrap_or(false)
}

/// Every descendant dies with the command: in another session (`setsid`), with its environment
/// cleared, at the timeout or when the command ends on its own; irp returns within a second of
/// the timeout.
#[test]
fn no_descendant_of_a_command_outlives_it() {
    let sh = |script: &str| vec!["sh".to_owned(), "-c".to_owned(), script.to_owned()];
    let pids = |ran: &irp::action::command::Ran| -> Vec<u32> {
        String::from_utf8_lossy(&ran.stdout)
            .split_whitespace()
            .filter_map(|w| w.parse().ok())
            .collect()
    };
    for (script, timeout, timed_out) in [
        // At the timeout: a grandchild in a session of its own, and one with no environment (so
        // without the run's mark), both below a shell that is still running.
        (
            "setsid sleep 61 & echo $!; env -i setsid sleep 62 & echo $!; sleep 30",
            700,
            true,
        ),
        // The command ends at once; what it left running is killed too.
        (
            "setsid sleep 63 & echo $!; (setsid sleep 64 & echo $!) ; echo done",
            10_000,
            false,
        ),
    ] {
        let started = std::time::Instant::now();
        let ran =
            irp::action::command::run(&sh(script), &[], std::time::Duration::from_millis(timeout)).unwrap();
        let took = started.elapsed();
        assert_eq!(ran.timed_out, timed_out, "{script}: {}", ran.summary());
        if timed_out {
            assert!(
                took < std::time::Duration::from_millis(timeout + 1000),
                "{script}: irp returned {took:?} after starting, the timeout being {timeout} ms"
            );
        }
        let found = pids(&ran);
        assert_eq!(
            found.len(),
            2,
            "{script}: {}",
            String::from_utf8_lossy(&ran.stdout)
        );
        for pid in found {
            assert!(!running(pid), "{script}: descendant {pid} outlived the command");
        }
    }
}

/// Credentials reach a command only when the step names them, and what the command prints of
/// them is replaced before the output is kept, with a journaled note.
#[test]
fn credentials_reach_a_command_only_by_name_and_never_its_stored_output() {
    let Some((endpoint, _lock)) = crate::athena::moto() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let pb = dir.path().join("pb.yaml");
    std::fs::write(
        &pb,
        r#"irp: 1
id: env-drill
title: Command environment drill
version: "1"
framework: nist-800-61r2
stages:
  - id: contain
    title: Contain
    phase: containment-eradication-recovery
    steps:
      - id: unnamed
        title: A command that names no variable
        action:
          command: [printenv]
      - id: named
        title: A command that names the credentials it needs
        action:
          command: [printenv, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, DRILL_TOKEN]
          env: [AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, DRILL_TOKEN, NOT_THERE]
"#,
    )
    .unwrap();
    let answers = write_answers(
        dir.path(),
        "a.yaml",
        "steps:\n  unnamed: { confirm: \"yes\" }\n  named: { confirm: \"yes\" }\n",
    );
    let (key, secret, token) = (
        "AKIAIOSFODNN7EXAMPLE",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "drill-token-value-123",
    );
    let case = dir.path().join("case");
    let out = aws_irp()
        .arg("run")
        .arg(&pb)
        .arg("--case-dir")
        .arg(&case)
        .args([
            "--live",
            "--endpoint-url",
            &endpoint,
            "--region",
            "us-east-1",
            "--headless",
            "--answers",
        ])
        .arg(&answers)
        .env("AWS_ACCESS_KEY_ID", key)
        .env("AWS_SECRET_ACCESS_KEY", secret)
        .env("DRILL_TOKEN", token)
        .env_remove("NOT_THERE")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let entries = journal(&case);
    let read = |step: &str| {
        let done = entry(&entries, "action_finished", step);
        std::fs::read_to_string(case.join(done["payload"]["outputs"][0]["path"].as_str().unwrap())).unwrap()
    };
    // Unnamed: the command's environment is the allow-list and irp's own variables, no credential.
    let unnamed = read("unnamed");
    assert!(unnamed.contains("PATH="), "{unnamed}");
    for (name, value) in [
        ("AWS_ACCESS_KEY_ID", key),
        ("AWS_SECRET_ACCESS_KEY", secret),
        ("DRILL_TOKEN", token),
    ] {
        assert!(
            !unnamed.contains(name) && !unnamed.contains(value),
            "{name} reached the command:\n{unnamed}"
        );
    }
    // Named: the command saw them (printenv printed three lines and succeeded), and the stored
    // output has none of their values.
    let named = read("named");
    assert_eq!(
        named,
        "[redacted AWS_ACCESS_KEY_ID]\n[redacted AWS_SECRET_ACCESS_KEY]\n[redacted DRILL_TOKEN]\n"
    );
    let confirmed = entry(&entries, "action_started", "named");
    assert_eq!(
        confirmed["payload"]["intent"]["env"],
        json!([
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "DRILL_TOKEN",
            "NOT_THERE"
        ])
    );
    let detail = entry(&entries, "action_finished", "named")["payload"]["detail"]
        .as_str()
        .unwrap()
        .to_owned();
    for name in ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "DRILL_TOKEN"] {
        assert!(
            detail.contains(&format!(
                "the value of {name} was found 1 time in the output and replaced"
            )),
            "{detail}"
        );
    }
    assert!(
        detail.contains("not set in irp's environment, so not passed: NOT_THERE"),
        "{detail}"
    );
    let journal_text = std::fs::read_to_string(case.join("journal.jsonl")).unwrap();
    for value in [key, secret, token] {
        assert!(
            !journal_text.contains(value),
            "a credential value is in the journal"
        );
    }
    for f in std::fs::read_dir(case.join("artifacts")).unwrap() {
        let text = std::fs::read(f.unwrap().path()).unwrap();
        let text = String::from_utf8_lossy(&text);
        assert!(
            !text.contains(secret) && !text.contains(token),
            "a credential value is in an artifact"
        );
    }
}

/// A live case's journal must say when things really happened: a clock or ids pinned for tests
/// are refused before anything is written (no AWS call is needed to see it).
#[test]
fn a_live_case_refuses_a_pinned_clock_or_seed_and_opens_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let answers = write_answers(dir.path(), "a.yaml", "steps: {}\n");
    for (var, value) in [("IRP_NOW", "2026-11-28T03:00:00Z"), ("IRP_SEED", "fixed")] {
        let case = dir.path().join(format!("case-{var}"));
        let out = aws_irp()
            .env_remove("IRP_NOW")
            .env_remove("IRP_SEED")
            .env(var, value)
            .arg("run")
            .arg(contain_playbook())
            .arg("--case-dir")
            .arg(&case)
            .args([
                "--live",
                "--endpoint-url",
                "http://127.0.0.1:9",
                "--region",
                "us-east-1",
                "--headless",
                "-i",
                "bucket=drill-bucket",
                "--answers",
            ])
            .arg(&answers)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{var}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.contains(&format!("{var} is set"))
                && err.contains("a live case's journal must say when things really happened"),
            "{err}"
        );
        assert!(!case.exists(), "{var}: a case folder was made");
    }
}
