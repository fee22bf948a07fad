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
        let merged: Value = serde_json::from_str(&after["text"].as_str().unwrap()).unwrap();
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

        let role = &unique("irp-role");
        let trust = json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": ["arn:aws:iam::444455556666:root", format!("arn:aws:iam::{ACCOUNT}:root")]}, "Action": "sts:AssumeRole"},
            {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ]});
        let _ = c.iam.create_role().role_name(role).assume_role_policy_document(trust.to_string()).send().await;
        let role_p = params(&[("role_name", json!(role))]);
        let (before, after, _) = cycle(&a, "iam.revoke_role_sessions", &role_p).await;
        assert!(before["document"].is_null());
        assert_eq!(
            after["document"]["Statement"][0]["Condition"]["DateLessThan"]["aws:TokenIssueTime"],
            NOW
        );
        let trust_p = params(&[("role_name", json!(role)), ("principal", json!("444455556666"))]);
        let (before, after, _) = cycle(&a, "iam.remove_role_trust_principal", &trust_p).await;
        assert_eq!(before["trust_policy"], trust);
        assert!(!policy::names_principal(&after["trust_policy"], "444455556666"));
        let separate = c.iam.get_role().role_name(role).send().await.unwrap();
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
