//! OCSF 1.1 API Activity rows as Security Lake source version 2 writes them for `CloudTrail`
//! management, S3 data and Lambda data events (`../shared/reference/domain.md` §3.1), and their
//! Arrow form: nested structs, `resources` and `observables` as lists of structs, `unmapped` as a
//! map, `time` (epoch ms) and `time_dt`, `accountid` and `region` columns.
//!
//! The Arrow schema is built by the same code that builds the columns, so every file of a source
//! has exactly the same schema.

use std::borrow::Cow;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, BooleanArray, Int32Array, Int64Array, ListArray, MapArray, StringArray, StructArray,
    TimestampMillisecondArray,
};
use arrow::buffer::{NullBuffer, OffsetBuffer};
use arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;

/// One resource of an event (`resources[]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    pub uid: String,
    pub owner_account: Option<String>,
    pub kind: String,
}

/// One observable (`observables[]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observable<'a> {
    pub name: &'static str,
    pub value: &'a str,
    pub kind: &'static str,
    pub type_id: i32,
}

/// One API Activity event: the fields playbooks read, as strings and numbers.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ApiEvent {
    /// Epoch milliseconds.
    pub time: i64,
    pub uid: String,
    /// `AwsApiCall`, `AwsConsoleSignIn`, …
    pub event_code: Cow<'static, str>,
    /// `Management` or `Data`.
    pub feature: Cow<'static, str>,
    /// `metadata.product.version`: `CloudTrail`'s `eventVersion` (`None`: the current one, 1.09).
    pub event_version: Option<String>,
    pub operation: String,
    pub service: String,
    pub api_version: Option<String>,
    pub request_uid: String,
    /// `requestParameters` as JSON text.
    pub request_data: Option<String>,
    pub response_data: Option<String>,
    pub error: Option<String>,
    pub error_message: Option<String>,
    pub cloud_region: String,
    pub user_type: Cow<'static, str>,
    pub user_name: Option<String>,
    pub user_uid: Option<String>,
    pub user_uid_alt: Option<String>,
    pub user_account: Option<String>,
    pub credential_uid: Option<String>,
    pub session_issuer: Option<String>,
    pub session_created: Option<i64>,
    pub session_mfa: Option<bool>,
    pub invoked_by: Option<String>,
    pub user_agent: Option<String>,
    pub src_ip: Option<String>,
    pub src_domain: Option<String>,
    /// `src_endpoint.uid`: the VPC endpoint the call came through.
    pub src_uid: Option<String>,
    /// `actor.idp.name`: the identity provider of a federated caller.
    pub idp_name: Option<String>,
    /// Top-level `is_mfa` (Authentication: `additionalEventData.MFAUsed`).
    pub is_mfa: Option<bool>,
    /// `dst_endpoint.svc_name` (Authentication: `additionalEventData.LoginTo`).
    pub dst_svc_name: Option<String>,
    /// `policy.uid` (Account Change: the policy attached or detached).
    pub policy_uid: Option<String>,
    /// The top-level `user`: the user or role an Authentication or Account Change event is about.
    pub target_user: Option<TargetUser>,
    /// The top-level `session`, when the event says more than the caller's credentials
    /// (Authentication: the session it created).
    pub new_session: Option<NewSession>,
    /// `status` when it is not simply Success or Failure by `errorCode` (Authentication: `Other`, or
    /// the `ConsoleLogin` outcome).
    pub status_text: Option<Cow<'static, str>>,
    pub resources: Vec<Resource>,
    /// OCSF class: 6003 API Activity, 3002 Authentication, 3001 Account Change.
    pub class_uid: i32,
    pub activity_id: i32,
    /// Flattened leftovers (`readOnly`, `additionalEventData.bytesTransferredOut`, …).
    pub unmapped: Vec<(Cow<'static, str>, String)>,
    pub accountid: String,
    pub region: String,
}

/// The top-level `user` of an event (who it is about, not who did it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TargetUser {
    pub uid: Option<String>,
    pub uid_alt: Option<String>,
    pub name: Option<String>,
}

/// The top-level `session` of an event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewSession {
    pub uid: Option<String>,
    pub uid_alt: Option<String>,
    pub credential_uid: Option<String>,
    pub issuer: Option<String>,
}

impl ApiEvent {
    pub fn class_name(&self) -> &'static str {
        match self.class_uid {
            3001 => "Account Change",
            3002 => "Authentication",
            _ => "API Activity",
        }
    }

    fn category(&self) -> (i32, &'static str) {
        match self.class_uid {
            3001 | 3002 => (3, "Identity & Access Management"),
            _ => (6, "Application Activity"),
        }
    }

    pub fn activity_name(&self) -> &'static str {
        match (self.class_uid, self.activity_id) {
            (3002, 1) => "Logon",
            (3001 | 6003, 1) => "Create",
            (6003, 2) => "Read",
            (6003, 3) => "Update",
            (3001, 2) => "Enable",
            (3001, 3) => "Password Change",
            (3001, 4) => "Password Reset",
            (3001, 5) => "Disable",
            (3001, 6) | (6003, 4) => "Delete",
            (3001, 7) => "Attach Policy",
            (3001, 8) => "Detach Policy",
            (3001, 9) => "Lock",
            (3001, 10) => "MFA Factor Enable",
            (3001, 11) => "MFA Factor Disable",
            (_, 0) => "Unknown",
            _ => "Other",
        }
    }

    /// `type_name`: the class and activity names, as OCSF writes them.
    pub fn type_name(&self) -> String {
        format!("{}: {}", self.class_name(), self.activity_name())
    }

    pub fn status(&self) -> &str {
        if let Some(s) = &self.status_text {
            s
        } else if self.error.is_some() {
            "Failure"
        } else {
            "Success"
        }
    }

    /// IPs, user names and resource ARNs, as Security Lake lists them.
    pub fn observables(&self) -> Vec<Observable<'_>> {
        let mut out = Vec::new();
        if let Some(ip) = &self.src_ip {
            out.push(Observable {
                name: "src_endpoint.ip",
                value: ip,
                kind: "IP Address",
                type_id: 2,
            });
        }
        if let Some(name) = &self.user_name {
            out.push(Observable {
                name: "actor.user.name",
                value: name,
                kind: "User Name",
                type_id: 4,
            });
        }
        for r in &self.resources {
            out.push(Observable {
                name: "resources.uid",
                value: &r.uid,
                kind: "Resource UID",
                type_id: 10,
            });
        }
        out
    }
}

pub(super) fn utf8<'a>(values: impl Iterator<Item = Option<&'a str>>) -> ArrayRef {
    Arc::new(values.collect::<StringArray>())
}

/// A column of a batch or a child of a struct column: its name, its values, and whether a row
/// may lack it.
pub(super) struct Child<'a> {
    name: &'a str,
    values: ArrayRef,
    nullable: bool,
}

impl Child<'_> {
    fn field(&self) -> Field {
        Field::new(self.name, self.values.data_type().clone(), self.nullable)
    }
}

/// A child that every row has: the code that builds it fills it for every event. The file declares
/// it required, so Parquet stores no definition level for it, and a field under required structs
/// (`actor.user.uid`, `src_endpoint.ip`, `api.operation`) is read without rebuilding the
/// validity of each struct above it (docs/lake.md, "Required and optional fields"). Arrow checks
/// the claim: a null in a required child fails the batch instead of reaching the file.
pub(super) fn req(name: &str, values: ArrayRef) -> Child<'_> {
    Child {
        name,
        values,
        nullable: false,
    }
}

/// A child that some rows lack.
pub(super) fn opt(name: &str, values: ArrayRef) -> Child<'_> {
    Child {
        name,
        values,
        nullable: true,
    }
}

/// A struct column from its children, with an optional validity.
pub(super) fn structure(children: Vec<Child<'_>>, nulls: Option<NullBuffer>) -> Result<ArrayRef, ArrowError> {
    let fields: Fields = children.iter().map(Child::field).collect();
    let arrays = children.into_iter().map(|c| c.values).collect();
    Ok(Arc::new(StructArray::try_new(fields, arrays, nulls)?))
}

/// A record batch from its columns.
pub(super) fn batch(columns: Vec<Child<'_>>) -> Result<RecordBatch, ArrowError> {
    let fields: Vec<Field> = columns.iter().map(Child::field).collect();
    let arrays = columns.into_iter().map(|c| c.values).collect();
    RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)
}

/// A list column: `lengths[i]` items of `values` for row i.
pub(super) fn list(values: ArrayRef, lengths: impl Iterator<Item = usize>) -> Result<ArrayRef, ArrowError> {
    let item = Arc::new(Field::new("element", values.data_type().clone(), true));
    let offsets = OffsetBuffer::from_lengths(lengths);
    Ok(Arc::new(ListArray::try_new(item, offsets, values, None)?))
}

pub(super) fn nulls_where(present: impl Iterator<Item = bool>) -> Option<NullBuffer> {
    let buf: NullBuffer = present.collect::<Vec<bool>>().into();
    (buf.null_count() > 0).then_some(buf)
}

/// The Arrow schema of an API Activity source (the schema of `to_batch` of no rows).
pub fn api_activity_schema() -> SchemaRef {
    to_batch(&[]).map_or_else(|_| Arc::new(Schema::empty()), |b| b.schema())
}

/// Builds the record batch of `events` (in the order given).
pub fn to_batch(events: &[ApiEvent]) -> Result<RecordBatch, ArrowError> {
    let e = events;
    let s = |f: fn(&ApiEvent) -> Option<&str>| utf8(e.iter().map(f));
    let feature = structure(vec![req("name", s(|x| Some(x.feature.as_ref())))], None)?;
    let product = structure(
        vec![
            req(
                "version",
                s(|x| Some(x.event_version.as_deref().unwrap_or("1.09"))),
            ),
            req("name", s(|_| Some("CloudTrail"))),
            req("vendor_name", s(|_| Some("AWS"))),
            req("feature", feature),
        ],
        None,
    )?;
    let profiles_values = utf8(e.iter().flat_map(|_| [Some("cloud"), Some("datetime")]));
    let metadata = structure(
        vec![
            req("product", product),
            req("event_code", s(|x| Some(x.event_code.as_ref()))),
            req("uid", s(|x| Some(x.uid.as_str()))),
            req("profiles", list(profiles_values, e.iter().map(|_| 2))?),
            req("version", s(|_| Some("1.1.0"))),
        ],
        None,
    )?;
    let time: ArrayRef = Arc::new(e.iter().map(|x| Some(x.time)).collect::<Int64Array>());
    let time_dt: ArrayRef = Arc::new(
        e.iter()
            .map(|x| Some(x.time))
            .collect::<TimestampMillisecondArray>()
            .with_timezone("UTC"),
    );
    let cloud = structure(
        vec![
            req("region", s(|x| Some(x.cloud_region.as_str()))),
            req("provider", s(|_| Some("AWS"))),
        ],
        None,
    )?;
    let response = structure(
        vec![
            opt("error", s(|x| x.error.as_deref())),
            opt("message", s(|x| x.error_message.as_deref())),
            opt("data", s(|x| x.response_data.as_deref())),
        ],
        None,
    )?;
    let api = structure(
        vec![
            req("response", response),
            req("operation", s(|x| Some(x.operation.as_str()))),
            opt("version", s(|x| x.api_version.as_deref())),
            req(
                "service",
                structure(vec![req("name", s(|x| Some(x.service.as_str())))], None)?,
            ),
            req(
                "request",
                structure(
                    vec![
                        opt("data", s(|x| x.request_data.as_deref())),
                        opt(
                            "uid",
                            s(|x| Some(x.request_uid.as_str()).filter(|u| !u.is_empty())),
                        ),
                    ],
                    None,
                )?,
            ),
        ],
        None,
    )?;
    let dst_endpoint = structure(vec![opt("svc_name", s(|x| x.dst_svc_name.as_deref()))], None)?;
    let user = structure(
        vec![
            req("type", s(|x| Some(x.user_type.as_ref()))),
            opt("name", s(|x| x.user_name.as_deref())),
            opt("uid_alt", s(|x| x.user_uid_alt.as_deref())),
            opt("uid", s(|x| x.user_uid.as_deref())),
            req(
                "account",
                structure(vec![opt("uid", s(|x| x.user_account.as_deref()))], None)?,
            ),
            opt("credential_uid", s(|x| x.credential_uid.as_deref())),
        ],
        None,
    )?;
    let session = structure(
        vec![
            opt(
                "created_time_dt",
                Arc::new(
                    e.iter()
                        .map(|x| x.session_created)
                        .collect::<TimestampMillisecondArray>()
                        .with_timezone("UTC"),
                ),
            ),
            opt(
                "is_mfa",
                Arc::new(e.iter().map(|x| x.session_mfa).collect::<BooleanArray>()),
            ),
            opt("issuer", s(|x| x.session_issuer.as_deref())),
        ],
        nulls_where(
            e.iter()
                .map(|x| x.session_issuer.is_some() || x.session_created.is_some()),
        ),
    )?;
    let actor = structure(
        vec![
            req("user", user),
            opt("session", session),
            opt("invoked_by", s(|x| x.invoked_by.as_deref())),
            req(
                "idp",
                structure(vec![opt("name", s(|x| x.idp_name.as_deref()))], None)?,
            ),
        ],
        None,
    )?;
    let http_request = structure(vec![opt("user_agent", s(|x| x.user_agent.as_deref()))], None)?;
    let src_endpoint = structure(
        vec![
            opt("uid", s(|x| x.src_uid.as_deref())),
            opt("ip", s(|x| x.src_ip.as_deref())),
            opt("domain", s(|x| x.src_domain.as_deref())),
        ],
        None,
    )?;
    let top_session = structure(
        vec![
            opt("uid", s(|x| ns(x).and_then(|n| n.uid.as_deref()))),
            opt("uid_alt", s(|x| ns(x).and_then(|n| n.uid_alt.as_deref()))),
            // Only the session an event created (Authentication); the caller's own is
            // `actor.session`, as AWS's mapping has it.
            opt(
                "credential_uid",
                s(|x| ns(x).and_then(|n| n.credential_uid.as_deref())),
            ),
            opt("issuer", s(|x| ns(x).and_then(|n| n.issuer.as_deref()))),
        ],
        None,
    )?;
    let policy = structure(vec![opt("uid", s(|x| x.policy_uid.as_deref()))], None)?;
    let all_resources: Vec<&Resource> = e.iter().flat_map(|x| x.resources.iter()).collect();
    let owner_account = structure(
        vec![opt(
            "uid",
            utf8(all_resources.iter().map(|r| r.owner_account.as_deref())),
        )],
        None,
    )?;
    let resources_values = structure(
        vec![
            req("uid", utf8(all_resources.iter().map(|r| Some(r.uid.as_str())))),
            req("owner", structure(vec![req("account", owner_account)], None)?),
            req("type", utf8(all_resources.iter().map(|r| Some(r.kind.as_str())))),
        ],
        None,
    )?;
    let resources = list(resources_values, e.iter().map(|x| x.resources.len()))?;
    let int32 = |f: fn(&ApiEvent) -> i32| -> ArrayRef {
        Arc::new(e.iter().map(|x| Some(f(x))).collect::<Int32Array>())
    };
    let user_target = structure(
        vec![
            opt("uid_alt", s(|x| tu(x).and_then(|u| u.uid_alt.as_deref()))),
            opt("uid", s(|x| tu(x).and_then(|u| u.uid.as_deref()))),
            opt("name", s(|x| tu(x).and_then(|u| u.name.as_deref()))),
        ],
        None,
    )?;
    let unmapped = map(e)?;
    let observables_all: Vec<Vec<Observable<'_>>> = e.iter().map(ApiEvent::observables).collect();
    let flat: Vec<&Observable<'_>> = observables_all.iter().flatten().collect();
    let observables_values = structure(
        vec![
            req("name", utf8(flat.iter().map(|o| Some(o.name)))),
            req("value", utf8(flat.iter().map(|o| Some(o.value)))),
            req("type", utf8(flat.iter().map(|o| Some(o.kind)))),
            req(
                "type_id",
                Arc::new(flat.iter().map(|o| Some(o.type_id)).collect::<Int32Array>()),
            ),
        ],
        None,
    )?;
    let observables = list(observables_values, observables_all.iter().map(Vec::len))?;
    let columns = vec![
        req("metadata", metadata),
        req("time", time),
        req("time_dt", time_dt),
        req("cloud", cloud),
        req("api", api),
        req("dst_endpoint", dst_endpoint),
        req("actor", actor),
        req("http_request", http_request),
        req("src_endpoint", src_endpoint),
        req("session", top_session),
        req("policy", policy),
        req("resources", resources),
        req("class_name", s(|x| Some(x.class_name()))),
        req("class_uid", int32(|x| x.class_uid)),
        req("category_name", s(|x| Some(x.category().1))),
        req("category_uid", int32(|x| x.category().0)),
        req("severity_id", int32(|_| 1)),
        req("severity", s(|_| Some("Informational"))),
        req("user", user_target),
        req("activity_name", s(|x| Some(x.activity_name()))),
        req("activity_id", int32(|x| x.activity_id)),
        req(
            "type_uid",
            Arc::new(
                e.iter()
                    .map(|x| Some(i64::from(x.class_uid) * 100 + i64::from(x.activity_id)))
                    .collect::<Int64Array>(),
            ),
        ),
        req(
            "type_name",
            Arc::new(e.iter().map(|x| Some(x.type_name())).collect::<StringArray>()) as ArrayRef,
        ),
        req("status", s(|x| Some(x.status()))),
        opt(
            "is_mfa",
            Arc::new(e.iter().map(|x| x.is_mfa).collect::<BooleanArray>()),
        ),
        req("unmapped", unmapped),
        req("accountid", s(|x| Some(x.accountid.as_str()))),
        req("region", s(|x| Some(x.region.as_str()))),
        req("asl_version", s(|_| Some("2.0"))),
        req("observables", observables),
    ];
    batch(columns)
}

fn ns(x: &ApiEvent) -> Option<&NewSession> {
    x.new_session.as_ref()
}

fn tu(x: &ApiEvent) -> Option<&TargetUser> {
    x.target_user.as_ref()
}

fn map(e: &[ApiEvent]) -> Result<ArrayRef, ArrowError> {
    string_map(
        e.iter()
            .map(|x| x.unmapped.iter().map(|(k, v)| (k.as_ref(), v.as_str())).collect()),
    )
}

/// A `map<string,string>` column, one list of pairs per row.
pub(super) fn string_map<'a>(
    rows: impl Iterator<Item = Vec<(&'a str, &'a str)>>,
) -> Result<ArrayRef, ArrowError> {
    let rows: Vec<Vec<(&str, &str)>> = rows.collect();
    let keys: ArrayRef = Arc::new(
        rows.iter()
            .flatten()
            .map(|(k, _)| Some(*k))
            .collect::<StringArray>(),
    );
    let values = utf8(rows.iter().flatten().map(|(_, v)| Some(*v)));
    let entries = StructArray::try_new(
        Fields::from(vec![
            Field::new("key", DataType::Utf8, false),
            Field::new("value", DataType::Utf8, true),
        ]),
        vec![keys, values],
        None,
    )?;
    let entries_field = Arc::new(Field::new("key_value", entries.data_type().clone(), false));
    let offsets = OffsetBuffer::from_lengths(rows.iter().map(Vec::len));
    Ok(Arc::new(MapArray::try_new(
        entries_field,
        offsets,
        entries,
        None,
        false,
    )?))
}
