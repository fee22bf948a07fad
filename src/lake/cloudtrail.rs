//! One raw `CloudTrail` record → one OCSF 1.1 row, the way Security Lake source version 2 maps it
//! (`../shared/reference/domain.md` §3, `docs/import.md` for the table and the known differences).
//!
//! A record is read once into its top-level keys and the raw JSON text of each value; the fields
//! OCSF names are decoded from those, `requestParameters` and `responseElements` become compact
//! JSON text, and everything else is flattened into `unmapped` with dotted keys (`a.b`, arrays as
//! `a[]` with the values joined by commas).

use std::borrow::Cow;
use std::fmt;
use std::net::IpAddr;

use chrono::DateTime;
use serde::Deserialize;
use serde::de::{MapAccess, Visitor};
use serde_json::Value;
use serde_json::value::RawValue;

use super::ocsf::{ApiEvent, NewSession, Resource, TargetUser};
use crate::playbook::table::LogicalTable;

/// The top-level keys of one record and the raw JSON of each value, in the order written.
#[derive(Debug, Default)]
pub struct Record<'a> {
    fields: Vec<(Cow<'a, str>, &'a RawValue)>,
}

impl<'de> Deserialize<'de> for Record<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Record<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Record<'de>, A::Error> {
                let mut fields = Vec::with_capacity(24);
                while let Some(key) = map.next_key::<Cow<'de, str>>()? {
                    let value: &'de RawValue = map.next_value()?;
                    fields.push((key, value));
                }
                Ok(Record { fields })
            }
        }
        d.deserialize_map(V)
    }
}

impl<'a> Record<'a> {
    pub fn get(&self, key: &str) -> Option<&'a RawValue> {
        self.fields.iter().find(|(k, _)| k == key).map(|(_, v)| *v)
    }

    /// A top-level value as text: strings unquoted, numbers and booleans as written; `None` for
    /// null, objects, arrays and missing keys.
    pub fn text(&self, key: &str) -> Option<Cow<'a, str>> {
        self.get(key).and_then(scalar_text)
    }

    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.fields.iter().map(|(k, _)| k.as_ref())
    }
}

fn scalar_text(raw: &RawValue) -> Option<Cow<'_, str>> {
    let t = raw.get();
    match t.as_bytes().first() {
        Some(b'"') => {
            // Borrowed when the string has no escapes.
            let inner = &t[1..t.len() - 1];
            if inner.contains('\\') {
                serde_json::from_str::<String>(t).ok().map(Cow::Owned)
            } else {
                Some(Cow::Borrowed(inner))
            }
        }
        Some(b'n' | b'{' | b'[') | None => None,
        Some(_) => Some(Cow::Borrowed(t)),
    }
}

/// Why a record was not turned into a row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotMapped {
    /// A valid record that has no Security Lake `CloudTrail` table (Insights events, data events of
    /// services other than S3 and Lambda). Counted by reason; not an error.
    NoTable(&'static str),
    /// A record that cannot be imported: the message says what is wrong.
    Bad(String),
}

/// A mapped row: its table, its row, and the key it is deduplicated on (`eventID`).
#[derive(Debug, Clone)]
pub struct Mapped {
    pub table: LogicalTable,
    pub event: ApiEvent,
}

/// Maps one record. `time` is `eventTime` or, in Logstash/SIEM exports, `@timestamp`.
pub fn map_record(r: &Record<'_>) -> Result<Mapped, NotMapped> {
    let bad = |m: String| NotMapped::Bad(m);
    let name = r
        .text("eventName")
        .ok_or_else(|| bad("no `eventName`: not a CloudTrail record".into()))?;
    let source = r
        .text("eventSource")
        .ok_or_else(|| bad(format!("{name}: no `eventSource`")))?;
    let time = match r.get("eventTime").or_else(|| r.get("@timestamp")) {
        Some(raw) => parse_time(raw).ok_or_else(|| {
            bad(format!(
                "{name}: `eventTime` {} is not an RFC 3339 time",
                clip(raw.get())
            ))
        })?,
        None => return Err(bad(format!("{name}: no `eventTime` (nor `@timestamp`)"))),
    };
    let region = r
        .text("awsRegion")
        .ok_or_else(|| bad(format!("{name}: no `awsRegion`")))?;
    if !valid_region(&region) {
        return Err(bad(format!(
            "{name}: `awsRegion` {} is not a region name",
            clip(&region)
        )));
    }
    let identity = Identity::parse(r.get("userIdentity"));
    let account = r
        .text("recipientAccountId")
        .map(Cow::into_owned)
        .or_else(|| identity.top.text("accountId").map(Cow::into_owned))
        .filter(|a| valid_account(a))
        .ok_or_else(|| {
            bad(format!(
                "{name}: no account id (digits) in `recipientAccountId` or `userIdentity.accountId`"
            ))
        })?;
    let event_type = r.text("eventType");
    let category = r.text("eventCategory");
    if category.as_deref() == Some("Insight") || event_type.as_deref() == Some("AwsCloudTrailInsight") {
        return Err(NotMapped::NoTable("CloudTrail Insights event"));
    }
    let table = table_of(
        &source,
        &name,
        category.as_deref(),
        r.text("managementEvent").as_deref(),
    )?;

    let mut e = ApiEvent {
        time,
        uid: r.text("eventID").map(Cow::into_owned).unwrap_or_default(),
        event_code: event_type.map_or(Cow::Borrowed("AwsApiCall"), |t| Cow::Owned(t.into_owned())),
        feature: Cow::Owned(category.map_or_else(
            || {
                if table == LogicalTable::CloudTrailMgmt {
                    "Management".to_owned()
                } else {
                    "Data".to_owned()
                }
            },
            Cow::into_owned,
        )),
        event_version: r.text("eventVersion").map(Cow::into_owned),
        operation: name.clone().into_owned(),
        service: source.into_owned(),
        api_version: r.text("apiVersion").map(Cow::into_owned),
        request_uid: r.text("requestID").map(Cow::into_owned).unwrap_or_default(),
        request_data: r.get("requestParameters").and_then(compact_json),
        response_data: r.get("responseElements").and_then(compact_json),
        error: r.text("errorCode").map(Cow::into_owned),
        error_message: r.text("errorMessage").map(Cow::into_owned),
        cloud_region: region.clone().into_owned(),
        user_agent: r.text("userAgent").map(Cow::into_owned),
        src_uid: r.text("vpcEndpointId").map(Cow::into_owned),
        accountid: account,
        region: region.into_owned(),
        ..ApiEvent::default()
    };
    if let Some(ip) = r.text("sourceIPAddress") {
        // An IP goes to `ip`, anything else (a service name, "AWS Internal", a malformed
        // address) to `domain`.
        match ip.parse::<IpAddr>() {
            Ok(parsed) => e.src_ip = Some(parsed.to_string()),
            Err(_) => e.src_domain = Some(ip.into_owned()),
        }
    }
    let mut unmapped = Vec::new();
    actor(&identity, &mut e, &mut unmapped);
    let (class_uid, activity_id) = classify(&name, &e);
    e.class_uid = class_uid;
    e.activity_id = activity_id;

    let request: Option<Value> = match class_uid {
        3001 | 3002 => r
            .get("requestParameters")
            .and_then(|raw| serde_json::from_str(raw.get()).ok()),
        _ => None,
    };
    let response: Option<Value> = match class_uid {
        3001 | 3002 => r
            .get("responseElements")
            .and_then(|raw| serde_json::from_str(raw.get()).ok()),
        _ => None,
    };
    let extra: Option<Value> = match class_uid {
        3002 => r
            .get("additionalEventData")
            .and_then(|raw| serde_json::from_str(raw.get()).ok()),
        _ => None,
    };
    match class_uid {
        3002 => authentication(
            &mut e,
            &identity,
            request.as_ref(),
            response.as_ref(),
            extra.as_ref(),
        ),
        3001 => account_change(&mut e, request.as_ref(), response.as_ref()),
        _ => {}
    }

    for (key, raw) in &r.fields {
        let key = key.as_ref();
        match key {
            "eventTime" | "eventName" | "eventSource" | "awsRegion" | "sourceIPAddress" | "userAgent"
            | "requestID" | "apiVersion" | "requestParameters" | "responseElements" | "errorCode"
            | "errorMessage" | "eventID" | "eventType" | "eventVersion" | "eventCategory"
            | "vpcEndpointId" | "userIdentity" => {}
            // Exporters' own fields (Logstash `@timestamp`, `@version`): not part of the event.
            k if k.starts_with('@') => {}
            "resources" if class_uid != 3002 => {
                e.resources = resources(raw);
            }
            "additionalEventData" if class_uid == 3002 => {
                let mut flat = Vec::new();
                flatten_raw(key, raw, &mut flat);
                flat.retain(|(k, _)| {
                    !matches!(
                        k.as_ref(),
                        "additionalEventData.LoginTo" | "additionalEventData.MFAUsed"
                    )
                });
                unmapped.extend(flat);
            }
            _ => flatten_raw(key, raw, &mut unmapped),
        }
    }
    e.unmapped = unmapped;
    Ok(Mapped { table, event: e })
}

/// The Security Lake table of a record.
fn table_of(
    source: &str,
    name: &str,
    category: Option<&str>,
    management: Option<&str>,
) -> Result<LogicalTable, NotMapped> {
    let data = match (category, management) {
        (Some("Data"), _) | (None, Some("false")) => true,
        (Some(_), _) | (None, Some(_)) => false,
        // Records older than `eventCategory` (event version < 1.08): S3 object operations and
        // Lambda invocations are data events.
        (None, None) => match source {
            "s3.amazonaws.com" => S3_OBJECT_OPERATIONS.contains(&name),
            "lambda.amazonaws.com" => name == "Invoke",
            _ => false,
        },
    };
    if !data {
        return Ok(LogicalTable::CloudTrailMgmt);
    }
    match source {
        "s3.amazonaws.com" => Ok(LogicalTable::S3Data),
        "lambda.amazonaws.com" => Ok(LogicalTable::LambdaExecution),
        _ => Err(NotMapped::NoTable(
            "data event of a service other than S3 and Lambda (Security Lake has no table for it)",
        )),
    }
}

/// S3 object-level operations (`domain.md` §3.3): data events.
const S3_OBJECT_OPERATIONS: [&str; 23] = [
    "GetObject",
    "HeadObject",
    "PutObject",
    "CopyObject",
    "DeleteObject",
    "DeleteObjects",
    "GetObjectAcl",
    "PutObjectAcl",
    "GetObjectTagging",
    "PutObjectTagging",
    "GetObjectAttributes",
    "RestoreObject",
    "CreateMultipartUpload",
    "UploadPart",
    "UploadPartCopy",
    "CompleteMultipartUpload",
    "AbortMultipartUpload",
    "ListParts",
    "SelectObjectContent",
    "ListObjects",
    "ListObjectsV2",
    "ListObjectVersions",
    "HeadBucket",
];

const AUTHENTICATION: [&str; 9] = [
    "ConsoleLogin",
    "ExternalIdPDirectoryLogin",
    "CheckMfa",
    "CredentialChallenge",
    "CredentialVerification",
    "UserAuthentication",
    "AssumeRole",
    "AssumeRoleWithSAML",
    "AssumeRoleWithWebIdentity",
];

/// Account Change (3001) operations of IAM and their `activity_id`.
const ACCOUNT_CHANGE: [(&str, i32); 33] = [
    ("CreateUser", 1),
    ("CreateRole", 1),
    ("CreateServiceLinkedRole", 1),
    ("CreateAccessKey", 1),
    ("CreateLoginProfile", 1),
    ("ChangePassword", 3),
    ("UpdateLoginProfile", 4),
    ("DeleteUser", 6),
    ("DeleteRole", 6),
    ("DeleteServiceLinkedRole", 6),
    ("DeleteAccessKey", 6),
    ("DeleteLoginProfile", 6),
    ("AttachUserPolicy", 7),
    ("AttachRolePolicy", 7),
    ("AttachGroupPolicy", 7),
    ("PutUserPolicy", 7),
    ("PutRolePolicy", 7),
    ("PutGroupPolicy", 7),
    ("PutUserPermissionsBoundary", 7),
    ("PutRolePermissionsBoundary", 7),
    ("DetachUserPolicy", 8),
    ("DetachRolePolicy", 8),
    ("DetachGroupPolicy", 8),
    ("DeleteUserPolicy", 8),
    ("DeleteRolePolicy", 8),
    ("DeleteGroupPolicy", 8),
    // As AWS's validation suite maps them (`docs/import.md`).
    ("AddRoleToInstanceProfile", 8),
    ("RemoveRoleFromInstanceProfile", 8),
    ("EnableMFADevice", 10),
    ("DeactivateMFADevice", 11),
    ("DeleteVirtualMFADevice", 11),
    // `UpdateAccessKey` is decided by its `status` below; listed so it is Account Change.
    ("UpdateAccessKey", 0),
    ("AddUserToGroup", 7),
];

/// `(class_uid, activity_id)` of an operation.
fn classify(name: &str, e: &ApiEvent) -> (i32, i32) {
    if AUTHENTICATION.contains(&name) {
        let activity = if matches!(
            name,
            "CheckMfa" | "CredentialChallenge" | "CredentialVerification"
        ) {
            99
        } else {
            1
        };
        return (3002, activity);
    }
    if e.service == "iam.amazonaws.com"
        && let Some((_, a)) = ACCOUNT_CHANGE.iter().find(|(n, _)| *n == name)
    {
        let a = if name == "UpdateAccessKey" {
            let status = e
                .request_data
                .as_deref()
                .and_then(|d| serde_json::from_str::<Value>(d).ok())
                .and_then(|v| v.get("status").and_then(Value::as_str).map(str::to_owned));
            match status.as_deref() {
                Some("Active") => 2,
                Some("Inactive") => 5,
                _ => 99,
            }
        } else {
            *a
        };
        return (3001, a);
    }
    (6003, api_activity(name))
}

/// API Activity's `activity_id` from the verb the operation starts with.
fn api_activity(name: &str) -> i32 {
    const VERBS: [(&str, i32); 30] = [
        ("Get", 2),
        ("List", 2),
        ("Describe", 2),
        ("Search", 2),
        ("Lookup", 2),
        ("Head", 2),
        ("Select", 2),
        ("BatchGet", 2),
        ("Create", 1),
        ("Run", 1),
        ("Generate", 1),
        ("Put", 3),
        ("Update", 3),
        ("Modify", 3),
        ("Add", 3),
        ("Remove", 3),
        ("Attach", 3),
        ("Detach", 3),
        ("Enable", 3),
        ("Disable", 3),
        ("Tag", 3),
        ("Untag", 3),
        ("Set", 3),
        ("Associate", 3),
        ("Disassociate", 3),
        ("Start", 3),
        ("Stop", 3),
        ("Reset", 3),
        ("Delete", 4),
        ("Terminate", 4),
    ];
    VERBS
        .iter()
        .find(|(v, _)| {
            name.strip_prefix(v)
                .is_some_and(|rest| rest.chars().next().is_none_or(|c| c.is_ascii_uppercase()))
        })
        .map_or(99, |(_, a)| *a)
}

/// `userIdentity` and the objects inside it that `actor` reads, each read once, borrowing the
/// record's text.
#[derive(Debug, Default)]
struct Identity<'a> {
    top: Record<'a>,
    session: Record<'a>,
    attributes: Record<'a>,
    issuer: Record<'a>,
    web: Record<'a>,
    on_behalf: Record<'a>,
    present: bool,
}

impl<'a> Identity<'a> {
    fn parse(raw: Option<&'a RawValue>) -> Identity<'a> {
        let Some(top) = raw.and_then(object) else {
            return Identity::default();
        };
        let session = top.get("sessionContext").and_then(object).unwrap_or_default();
        Identity {
            attributes: session.get("attributes").and_then(object).unwrap_or_default(),
            issuer: session.get("sessionIssuer").and_then(object).unwrap_or_default(),
            web: session
                .get("webIdFederationData")
                .and_then(object)
                .unwrap_or_default(),
            on_behalf: top.get("onBehalfOf").and_then(object).unwrap_or_default(),
            session,
            top,
            present: true,
        }
    }
}

/// A JSON object's keys and raw values (`None` for anything else).
fn object(raw: &RawValue) -> Option<Record<'_>> {
    if raw.get().starts_with('{') {
        serde_json::from_str(raw.get()).ok()
    } else {
        None
    }
}

/// The caller: `userIdentity` → `actor` (and what OCSF does not name → `unmapped`).
fn actor(id: &Identity<'_>, e: &mut ApiEvent, unmapped: &mut Vec<(Cow<'static, str>, String)>) {
    if !id.present {
        e.user_type = Cow::Borrowed("Unknown");
        return;
    }
    let own = |r: &Record<'_>, k: &str| r.text(k).map(Cow::into_owned);
    e.user_type = own(&id.top, "type").map_or(Cow::Borrowed("Unknown"), Cow::Owned);
    e.user_uid = own(&id.top, "arn");
    e.user_uid_alt = own(&id.top, "principalId").or_else(|| own(&id.on_behalf, "userId"));
    e.user_name = own(&id.top, "userName");
    e.user_account = own(&id.top, "accountId");
    e.credential_uid = own(&id.top, "accessKeyId").or_else(|| own(&id.top, "credentialId"));
    e.invoked_by = own(&id.top, "invokedBy");
    e.idp_name = own(&id.top, "identityProvider").or_else(|| own(&id.web, "federatedProvider"));
    e.session_issuer = own(&id.issuer, "arn");
    e.session_created = id
        .attributes
        .text("creationDate")
        .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
        .map(|t| t.timestamp_millis());
    e.session_mfa = id.attributes.text("mfaAuthenticated").map(|v| v == "true");
    // One key buffer for every leftover (most are common keys, kept as static text).
    let mut key = String::with_capacity(64);
    let mut rest = |prefix: &str, r: &Record<'_>, mapped: &[&str], out: &mut Vec<_>| {
        for (k, raw) in &r.fields {
            if !mapped.contains(&k.as_ref()) {
                key.clear();
                key.push_str(prefix);
                key.push('.');
                key.push_str(k);
                flatten_raw(&key, raw, out);
            }
        }
    };
    rest(
        "userIdentity",
        &id.top,
        &[
            "type",
            "arn",
            "principalId",
            "userName",
            "accountId",
            "accessKeyId",
            "credentialId",
            "invokedBy",
            "identityProvider",
            "sessionContext",
            "onBehalfOf",
        ],
        unmapped,
    );
    let sc = "userIdentity.sessionContext";
    rest(
        sc,
        &id.session,
        &["attributes", "sessionIssuer", "webIdFederationData"],
        unmapped,
    );
    rest(
        &format!("{sc}.attributes"),
        &id.attributes,
        &["creationDate", "mfaAuthenticated"],
        unmapped,
    );
    rest(&format!("{sc}.sessionIssuer"), &id.issuer, &["arn"], unmapped);
    rest(
        &format!("{sc}.webIdFederationData"),
        &id.web,
        &["federatedProvider"],
        unmapped,
    );
    rest("userIdentity.onBehalfOf", &id.on_behalf, &["userId"], unmapped);
}

fn authentication(
    e: &mut ApiEvent,
    id: &Identity<'_>,
    request: Option<&Value>,
    response: Option<&Value>,
    extra: Option<&Value>,
) {
    e.status_text = Some(match text_at(response, &["ConsoleLogin"]) {
        Some(outcome) => Cow::Owned(outcome),
        None if e.error.is_some() => Cow::Borrowed("Failure"),
        None => Cow::Borrowed("Other"),
    });
    e.dst_svc_name = text_at(extra, &["LoginTo"]);
    e.is_mfa = text_at(extra, &["MFAUsed"]).map(|v| v == "Yes");
    e.target_user = Some(if e.operation.starts_with("AssumeRole") {
        TargetUser {
            uid: text_at(request, &["roleArn"]),
            uid_alt: None,
            name: text_at(request, &["roleSessionName"]),
        }
    } else {
        TargetUser {
            uid: id.top.text("arn").map(Cow::into_owned),
            uid_alt: id.top.text("principalId").map(Cow::into_owned),
            name: None,
        }
    });
    let new = NewSession {
        uid: text_at(response, &["assumedRoleUser", "arn"]),
        uid_alt: text_at(response, &["assumedRoleUser", "assumedRoleId"]),
        credential_uid: text_at(response, &["credentials", "accessKeyId"]),
        issuer: text_at(response, &["issuer"]).or_else(|| text_at(response, &["provider"])),
    };
    // Only the session the event created: the caller's own credentials are `actor`'s.
    e.new_session = Some(new);
}

fn account_change(e: &mut ApiEvent, request: Option<&Value>, response: Option<&Value>) {
    e.policy_uid = text_at(request, &["policyArn"]);
    // The name as requested; the ARN and id from what IAM answered.
    let requested = text_at(request, &["userName"]).or_else(|| text_at(request, &["roleName"]));
    let user = if let Some(role) = response.and_then(|r| r.get("role")) {
        TargetUser {
            uid: str_at(role, &["arn"]).map(str::to_owned),
            uid_alt: str_at(role, &["roleId"]).map(str::to_owned),
            name: requested.or_else(|| str_at(role, &["roleName"]).map(str::to_owned)),
        }
    } else if let Some(user) = response.and_then(|r| r.get("user")) {
        TargetUser {
            uid: str_at(user, &["arn"]).map(str::to_owned),
            uid_alt: str_at(user, &["userId"]).map(str::to_owned),
            name: requested.or_else(|| str_at(user, &["userName"]).map(str::to_owned)),
        }
    } else {
        TargetUser {
            uid: None,
            uid_alt: None,
            name: requested,
        }
    };
    if user != TargetUser::default() {
        e.target_user = Some(user);
    }
}

fn resources(raw: &RawValue) -> Vec<Resource> {
    #[derive(Deserialize)]
    struct Raw<'a> {
        #[serde(rename = "ARN", borrow)]
        arn: Option<Cow<'a, str>>,
        #[serde(rename = "accountId", borrow)]
        account: Option<Cow<'a, str>>,
        #[serde(rename = "type", borrow)]
        kind: Option<Cow<'a, str>>,
    }
    // The usual shape, read in place; anything else (other types, `arn` spelt in lower case)
    // through the generic path below.
    if let Ok(items) = serde_json::from_str::<Vec<Raw<'_>>>(raw.get())
        && items.iter().all(|r| r.arn.is_some())
    {
        return items
            .into_iter()
            .filter_map(|r| {
                Some(Resource {
                    uid: r.arn?.into_owned(),
                    owner_account: r.account.map(Cow::into_owned),
                    kind: r.kind.map(Cow::into_owned).unwrap_or_default(),
                })
            })
            .collect();
    }
    let Ok(Value::Array(items)) = serde_json::from_str::<Value>(raw.get()) else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|r| {
            let uid = str_at(r, &["ARN"]).or_else(|| str_at(r, &["arn"]))?;
            Some(Resource {
                uid: uid.to_owned(),
                owner_account: str_at(r, &["accountId"]).map(str::to_owned),
                kind: str_at(r, &["type"]).unwrap_or_default().to_owned(),
            })
        })
        .collect()
}

/// `str_at` in an optional document, owned.
fn text_at(v: Option<&Value>, path: &[&str]) -> Option<String> {
    v.and_then(|v| str_at(v, path)).map(str::to_owned)
}

/// The string (or number, or boolean, as text) at a path of object keys.
fn str_at<'v>(v: &'v Value, path: &[&str]) -> Option<&'v str> {
    let mut cur = v;
    for p in path {
        cur = cur.get(p)?;
    }
    cur.as_str()
}

/// Unmapped keys that nearly every record has, kept as static text (no allocation per record).
const COMMON_KEYS: [&str; 20] = [
    "readOnly",
    "managementEvent",
    "recipientAccountId",
    "sharedEventID",
    "sessionCredentialFromConsole",
    "eventCategory",
    "tlsDetails.tlsVersion",
    "tlsDetails.cipherSuite",
    "tlsDetails.clientProvidedHostHeader",
    "additionalEventData.bytesTransferredIn",
    "additionalEventData.bytesTransferredOut",
    "additionalEventData.x-amz-id-2",
    "additionalEventData.SignatureVersion",
    "additionalEventData.CipherSuite",
    "additionalEventData.AuthenticationMethod",
    "userIdentity.sessionContext.sessionIssuer.type",
    "userIdentity.sessionContext.sessionIssuer.principalId",
    "userIdentity.sessionContext.sessionIssuer.accountId",
    "userIdentity.sessionContext.sessionIssuer.userName",
    "userIdentity.sessionContext.ec2RoleDelivery",
];

fn key(k: &str) -> Cow<'static, str> {
    COMMON_KEYS
        .iter()
        .find(|c| **c == k)
        .map_or_else(|| Cow::Owned(k.to_owned()), |c| Cow::Borrowed(*c))
}

/// `flatten` on the raw text: objects are walked without building a JSON tree; arrays (rare
/// outside the request and response) go through `flatten`.
fn flatten_raw(prefix: &str, raw: &RawValue, out: &mut Vec<(Cow<'static, str>, String)>) {
    match raw.get().as_bytes().first() {
        Some(b'{') => {
            if let Some(rec) = object(raw) {
                for (k, v) in &rec.fields {
                    flatten_raw(&format!("{prefix}.{k}"), v, out);
                }
            }
        }
        Some(b'[') => {
            if let Ok(v) = serde_json::from_str::<Value>(raw.get()) {
                flatten(prefix, &v, out);
            }
        }
        Some(b'n') | None => {}
        Some(_) => {
            if let Some(text) = scalar_text(raw) {
                out.push((key(prefix), text.into_owned()));
            }
        }
    }
}

/// Dotted keys for nested objects, `key[]` for arrays (values joined by commas), nulls left out.
pub fn flatten(prefix: &str, v: &Value, out: &mut Vec<(Cow<'static, str>, String)>) {
    match v {
        Value::Null => {}
        Value::Bool(b) => out.push((Cow::Owned(prefix.to_owned()), b.to_string())),
        Value::Number(n) => out.push((Cow::Owned(prefix.to_owned()), n.to_string())),
        Value::String(s) => out.push((Cow::Owned(prefix.to_owned()), s.clone())),
        Value::Object(m) => {
            for (k, v) in m {
                flatten(&format!("{prefix}.{k}"), v, out);
            }
        }
        Value::Array(items) => {
            let key = format!("{prefix}[]");
            let mut flat: Vec<(Cow<'static, str>, String)> = Vec::new();
            for item in items {
                let mut one = Vec::new();
                flatten(&key, item, &mut one);
                for (k, v) in one {
                    match flat.iter_mut().find(|(fk, _)| *fk == k) {
                        Some((_, joined)) => {
                            joined.push(',');
                            joined.push_str(&v);
                        }
                        None => flat.push((k, v)),
                    }
                }
            }
            out.extend(flat);
        }
    }
}

/// `requestParameters` / `responseElements` as compact JSON text (`None` for null). The text is
/// the record's own, with the whitespace between tokens removed, so the same event imported from a
/// pretty-printed export and from a delivery file gives the same row.
fn compact_json(raw: &RawValue) -> Option<String> {
    let t = raw.get();
    if t == "null" {
        return None;
    }
    let mut out = String::with_capacity(t.len());
    let mut in_string = false;
    let mut escaped = false;
    for c in t.chars() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
            out.push(c);
        } else if !c.is_ascii_whitespace() {
            out.push(c);
        }
    }
    Some(out)
}

/// Epoch milliseconds of an RFC 3339 string, or of a number (epoch seconds or milliseconds, as
/// some SIEM exports write).
fn parse_time(raw: &RawValue) -> Option<i64> {
    match scalar_text(raw)? {
        t if raw.get().starts_with('"') => DateTime::parse_from_rfc3339(&t)
            .ok()
            .map(|d| d.timestamp_millis()),
        n => {
            let f: f64 = n.parse().ok()?;
            if !f.is_finite() || !(0.0..=1e15).contains(&f) {
                return None;
            }
            #[allow(clippy::cast_possible_truncation)] // bounded above
            let v = f as i64;
            Some(if v < 100_000_000_000 { v * 1000 } else { v })
        }
    }
}

/// A region as a folder name: lower-case letters, digits and dashes (Security Lake's `region=`).
pub fn valid_region(r: &str) -> bool {
    (4..=32).contains(&r.len())
        && r.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && r.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
}

pub fn valid_account(a: &str) -> bool {
    (1..=20).contains(&a.len()) && a.bytes().all(|b| b.is_ascii_digit())
}

/// At most 80 characters of a value for a message.
fn clip(s: &str) -> String {
    let mut out: String = s.chars().take(80).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    format!("{out:?}")
}
