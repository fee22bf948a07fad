//! The generator's events as a trail delivers them: each drafted call is written as the raw
//! `CloudTrail` record AWS would log for it, and its lake row comes from the importer's mapping
//! (`cloudtrail::map_record`), the one that matches AWS's golden pairs. So no OCSF value of a
//! generated lake is decided here: class, activity, status, actor, session and target user are
//! the importer's, as they are for real logs.
//!
//! A draft is an [`ApiEvent`] whose fields say what happened in `CloudTrail`'s terms: the caller
//! (`user_*`, `credential_uid`, `session_*`), the call (`operation`, `service`, the request and
//! response as JSON text, the error), where from (`src_ip` or `src_domain`, `user_agent`), the
//! resources, and leftovers such as `readOnly` or `additionalEventData.bytesTransferredOut` as
//! dotted `unmapped` keys. Its OCSF fields (`class_uid`, `activity_id`, `status_text`,
//! `target_user`, `new_session`) are not read.

use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use serde::Serialize;
use serde_json::value::RawValue;

use super::background::iso;
use crate::lake::cloudtrail::{NotMapped, Record, map_record};
use crate::lake::ocsf::{ApiEvent, to_batch};
use crate::playbook::table::LogicalTable;

/// Writes the `CloudTrail` record of a drafted call into `out` (cleared first). Serialized from
/// borrowed fields, so a record costs one buffer, reused across a partition.
pub fn write_record(e: &ApiEvent, out: &mut Vec<u8>) {
    out.clear();
    let leftover = |key: &str| e.unmapped.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str());
    let mut extra: Vec<(&str, Scalar<'_>)> = Vec::new();
    if let Some(mfa) = e.is_mfa {
        extra.push(("MFAUsed", Scalar(if mfa { "Yes" } else { "No" }, true)));
    }
    if let Some(to) = &e.dst_svc_name {
        extra.push(("LoginTo", Scalar(to, true)));
    }
    for (k, v) in &e.unmapped {
        if let Some(rest) = k.strip_prefix("additionalEventData.") {
            extra.push((rest, Scalar(v, false)));
        }
    }
    let console = e.response_data.is_none() && e.operation == "ConsoleLogin" && e.status_text.is_some();
    let created = e.session_created.map(|t| iso(t - t % 1000));
    let issuer_id = e
        .user_uid_alt
        .as_deref()
        .map(|alt| alt.split_once(':').map_or(alt, |(p, _)| p));
    let issuer_name = e.user_name.clone().or_else(|| {
        e.session_issuer
            .as_deref()
            .map(|i| i.rsplit('/').next().unwrap_or_default().to_owned())
    });
    let session = (e.session_issuer.is_some() || e.session_created.is_some()).then(|| SessionContext {
        session_issuer: e.session_issuer.as_deref().map(|arn| Issuer {
            kind: "Role",
            principal_id: issuer_id,
            arn,
            account_id: e.user_account.as_deref(),
            user_name: issuer_name.as_deref(),
        }),
        attributes: Attributes {
            creation_date: created.as_deref(),
            mfa_authenticated: if e.session_mfa == Some(true) {
                "true"
            } else {
                "false"
            },
        },
        ec2_role_delivery: leftover("userIdentity.sessionContext.ec2RoleDelivery"),
    });
    let record = Rec {
        event_version: e.event_version.as_deref().unwrap_or("1.09"),
        user_identity: Identity {
            kind: &e.user_type,
            principal_id: e.user_uid_alt.as_deref(),
            arn: e.user_uid.as_deref(),
            account_id: e.user_account.as_deref(),
            access_key_id: e.credential_uid.as_deref(),
            // Only a user's identity carries its name; a role session's is its issuer's.
            user_name: e.user_name.as_deref().filter(|_| e.user_type == "IAMUser"),
            session_context: session,
            invoked_by: e.invoked_by.as_deref(),
            identity_provider: e.idp_name.as_deref(),
        },
        event_time: iso(e.time),
        event_source: &e.service,
        event_name: &e.operation,
        aws_region: &e.cloud_region,
        source_ip_address: e.src_ip.as_deref().or(e.src_domain.as_deref()),
        user_agent: e.user_agent.as_deref(),
        error_code: e.error.as_deref(),
        error_message: e.error_message.as_deref(),
        request_parameters: raw(e.request_data.as_deref()),
        response_elements: raw(e.response_data.as_deref()),
        console_login: console.then_some(Console {
            console_login: e.status_text.as_deref().unwrap_or_default(),
        }),
        api_version: e.api_version.as_deref(),
        request_id: &e.request_uid,
        event_id: &e.uid,
        resources: e
            .resources
            .iter()
            .map(|r| Res {
                account_id: r.owner_account.as_deref(),
                kind: &r.kind,
                arn: &r.uid,
            })
            .collect(),
        event_type: &e.event_code,
        read_only: leftover("readOnly").map(|v| v == "true"),
        management_event: leftover("managementEvent").map(|v| v == "true"),
        recipient_account_id: &e.accountid,
        vpc_endpoint_id: e.src_uid.as_deref(),
        event_category: &e.feature,
        additional_event_data: (!extra.is_empty()).then_some(Extra(&extra)),
    };
    // Writing to a Vec cannot fail, and every field serializes.
    let _ = serde_json::to_writer(&mut *out, &record);
}

/// JSON text as it is (`None` when absent or not JSON).
fn raw(text: Option<&str>) -> Option<&RawValue> {
    text.and_then(|t| serde_json::from_str::<&RawValue>(t).ok())
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Rec<'a> {
    event_version: &'a str,
    user_identity: Identity<'a>,
    event_time: String,
    event_source: &'a str,
    event_name: &'a str,
    aws_region: &'a str,
    #[serde(rename = "sourceIPAddress", skip_serializing_if = "Option::is_none")]
    source_ip_address: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_agent: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_code: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_message: Option<&'a str>,
    request_parameters: Option<&'a RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_elements: Option<&'a RawValue>,
    /// A console sign-in says how it went in its response.
    #[serde(rename = "responseElements", skip_serializing_if = "Option::is_none")]
    console_login: Option<Console<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    api_version: Option<&'a str>,
    #[serde(rename = "requestID")]
    request_id: &'a str,
    #[serde(rename = "eventID")]
    event_id: &'a str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    resources: Vec<Res<'a>>,
    event_type: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    read_only: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    management_event: Option<bool>,
    recipient_account_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    vpc_endpoint_id: Option<&'a str>,
    event_category: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    additional_event_data: Option<Extra<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
#[expect(clippy::struct_field_names, reason = "CloudTrail's own key names")]
struct Identity<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    principal_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    arn: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    account_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    access_key_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    session_context: Option<SessionContext<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    invoked_by: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    identity_provider: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SessionContext<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    session_issuer: Option<Issuer<'a>>,
    attributes: Attributes<'a>,
    #[serde(rename = "ec2RoleDelivery", skip_serializing_if = "Option::is_none")]
    ec2_role_delivery: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Issuer<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    principal_id: Option<&'a str>,
    arn: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    account_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_name: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Attributes<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    creation_date: Option<&'a str>,
    mfa_authenticated: &'a str,
}

#[derive(Serialize)]
struct Console<'a> {
    #[serde(rename = "ConsoleLogin")]
    console_login: &'a str,
}

#[derive(Serialize)]
struct Res<'a> {
    #[serde(rename = "accountId", skip_serializing_if = "Option::is_none")]
    account_id: Option<&'a str>,
    #[serde(rename = "type")]
    kind: &'a str,
    #[serde(rename = "ARN")]
    arn: &'a str,
}

/// A flattened leftover's text, written as the JSON value it was: a boolean, a number or a
/// string (`true` in the second field: always a string).
struct Scalar<'a>(&'a str, bool);

impl Serialize for Scalar<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            _ if self.1 => s.serialize_str(self.0),
            "true" => s.serialize_bool(true),
            "false" => s.serialize_bool(false),
            v => match v.parse::<i64>() {
                Ok(n) => s.serialize_i64(n),
                Err(_) => s.serialize_str(v),
            },
        }
    }
}

/// `additionalEventData`: its keys in the order written.
struct Extra<'a>(&'a [(&'a str, Scalar<'a>)]);

impl Serialize for Extra<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in self.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

/// The lake row of a drafted call in `table`: its record, mapped as an imported one is.
/// `buf` holds the record's text (reused from one call to the next).
pub fn mapped(e: &ApiEvent, table: LogicalTable, buf: &mut Vec<u8>) -> Result<ApiEvent, String> {
    write_record(e, buf);
    let r: Record<'_> = serde_json::from_slice(buf).map_err(|err| err.to_string())?;
    match map_record(&r) {
        // The record names the partition (`recipientAccountId`, `awsRegion`): the row lands
        // where the generator writes it.
        Ok(m) if m.table == table && m.event.accountid == e.accountid && m.event.region == e.region => {
            Ok(m.event)
        }
        Ok(m) => Err(format!(
            "{} {}: the mapping puts it in {} of {} {}, the generator in {table} of {} {}",
            e.service, e.operation, m.table, m.event.accountid, m.event.region, e.accountid, e.region
        )),
        Err(NotMapped::NoTable(why)) => Err(format!("{} {}: {why}", e.service, e.operation)),
        Err(NotMapped::Bad(why)) => Err(format!("{} {}: {why}", e.service, e.operation)),
    }
}

/// Maps the drafted calls of one table, batch after batch, reusing its buffers (the record's
/// text, the rows) so a partition's batches do not each allocate anew.
#[derive(Debug)]
pub struct Mapper {
    table: LogicalTable,
    text: Vec<u8>,
    rows: Vec<ApiEvent>,
}

impl Mapper {
    pub fn new(table: LogicalTable) -> Mapper {
        Mapper {
            table,
            text: Vec::with_capacity(2048),
            rows: Vec::new(),
        }
    }

    /// The batch of `drafts`, each row mapped from its record.
    pub fn batch(&mut self, drafts: &[ApiEvent]) -> Result<RecordBatch, ArrowError> {
        self.rows.clear();
        for e in drafts {
            let row = mapped(e, self.table, &mut self.text).map_err(|why| {
                ArrowError::InvalidArgumentError(format!("a generated event does not map: {why}"))
            })?;
            self.rows.push(row);
        }
        to_batch(&self.rows)
    }
}
