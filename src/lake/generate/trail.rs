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
use serde_json::{Map, Value};

use super::background::iso;
use crate::lake::cloudtrail::{NotMapped, Record, map_record};
use crate::lake::ocsf::{ApiEvent, to_batch};
use crate::playbook::table::LogicalTable;

/// The `CloudTrail` record of a drafted call.
pub fn record(e: &ApiEvent) -> Value {
    let mut m = Map::with_capacity(20);
    let text = |s: &str| Value::String(s.to_owned());
    m.insert(
        "eventVersion".into(),
        text(e.event_version.as_deref().unwrap_or("1.09")),
    );
    m.insert("userIdentity".into(), identity(e));
    m.insert("eventTime".into(), text(&iso(e.time)));
    m.insert("eventSource".into(), text(&e.service));
    m.insert("eventName".into(), text(&e.operation));
    m.insert("awsRegion".into(), text(&e.cloud_region));
    if let Some(from) = e.src_ip.as_deref().or(e.src_domain.as_deref()) {
        m.insert("sourceIPAddress".into(), text(from));
    }
    if let Some(a) = &e.user_agent {
        m.insert("userAgent".into(), text(a));
    }
    if let Some(code) = &e.error {
        m.insert("errorCode".into(), text(code));
    }
    if let Some(msg) = &e.error_message {
        m.insert("errorMessage".into(), text(msg));
    }
    m.insert("requestParameters".into(), json(e.request_data.as_deref()));
    let response = match (&e.response_data, e.operation.as_str(), e.status_text.as_deref()) {
        (Some(r), _, _) => json(Some(r)),
        // A console sign-in says how it went in its response.
        (None, "ConsoleLogin", Some(outcome)) => serde_json::json!({ "ConsoleLogin": outcome }),
        (None, _, _) => Value::Null,
    };
    m.insert("responseElements".into(), response);
    if let Some(v) = &e.api_version {
        m.insert("apiVersion".into(), text(v));
    }
    m.insert("requestID".into(), text(&e.request_uid));
    m.insert("eventID".into(), text(&e.uid));
    if !e.resources.is_empty() {
        let resources = e
            .resources
            .iter()
            .map(|r| {
                let mut o = Map::new();
                if let Some(a) = &r.owner_account {
                    o.insert("accountId".into(), text(a));
                }
                o.insert("type".into(), text(&r.kind));
                o.insert("ARN".into(), text(&r.uid));
                Value::Object(o)
            })
            .collect();
        m.insert("resources".into(), Value::Array(resources));
    }
    m.insert("eventType".into(), text(&e.event_code));
    m.insert("recipientAccountId".into(), text(&e.accountid));
    if let Some(v) = &e.src_uid {
        m.insert("vpcEndpointId".into(), text(v));
    }
    m.insert("eventCategory".into(), text(&e.feature));
    let mut extra = Map::new();
    if let Some(mfa) = e.is_mfa {
        extra.insert("MFAUsed".into(), text(if mfa { "Yes" } else { "No" }));
    }
    if let Some(to) = &e.dst_svc_name {
        extra.insert("LoginTo".into(), text(to));
    }
    for (k, v) in &e.unmapped {
        // Written by the record itself (`recipientAccountId`, `eventCategory`) or kept as
        // they are (`readOnly`, `managementEvent`, `additionalEventData.*`).
        match k.split_once('.') {
            Some(("additionalEventData", rest)) => {
                extra.insert(rest.to_owned(), scalar(v));
            }
            Some(_) => {}
            None if m.contains_key(k.as_ref()) => {}
            None => {
                m.insert(k.to_string(), scalar(v));
            }
        }
    }
    if !extra.is_empty() {
        m.insert("additionalEventData".into(), Value::Object(extra));
    }
    Value::Object(m)
}

/// `userIdentity` of a drafted call.
fn identity(e: &ApiEvent) -> Value {
    let mut id = Map::new();
    let text = |s: &str| Value::String(s.to_owned());
    id.insert("type".into(), text(&e.user_type));
    if let Some(v) = &e.user_uid_alt {
        id.insert("principalId".into(), text(v));
    }
    if let Some(v) = &e.user_uid {
        id.insert("arn".into(), text(v));
    }
    if let Some(v) = &e.user_account {
        id.insert("accountId".into(), text(v));
    }
    if let Some(v) = &e.credential_uid {
        id.insert("accessKeyId".into(), text(v));
    }
    // Only a user's identity carries its name; a role session's is its issuer's.
    if e.user_type == "IAMUser"
        && let Some(v) = &e.user_name
    {
        id.insert("userName".into(), text(v));
    }
    if e.session_issuer.is_some() || e.session_created.is_some() {
        let mut ctx = Map::new();
        if let Some(issuer) = &e.session_issuer {
            let mut i = Map::new();
            i.insert("type".into(), text("Role"));
            if let Some(alt) = &e.user_uid_alt {
                i.insert(
                    "principalId".into(),
                    text(alt.split_once(':').map_or(alt.as_str(), |(p, _)| p)),
                );
            }
            i.insert("arn".into(), text(issuer));
            if let Some(a) = &e.user_account {
                i.insert("accountId".into(), text(a));
            }
            let name = e
                .user_name
                .clone()
                .unwrap_or_else(|| issuer.rsplit('/').next().unwrap_or_default().to_owned());
            i.insert("userName".into(), Value::String(name));
            ctx.insert("sessionIssuer".into(), Value::Object(i));
        }
        let mut attributes = Map::new();
        if let Some(t) = e.session_created {
            attributes.insert("creationDate".into(), text(&iso(t - t % 1000)));
        }
        attributes.insert(
            "mfaAuthenticated".into(),
            text(if e.session_mfa == Some(true) {
                "true"
            } else {
                "false"
            }),
        );
        ctx.insert("attributes".into(), Value::Object(attributes));
        id.insert("sessionContext".into(), Value::Object(ctx));
    }
    if let Some(v) = &e.invoked_by {
        id.insert("invokedBy".into(), text(v));
    }
    if let Some(v) = &e.idp_name {
        id.insert("identityProvider".into(), text(v));
    }
    Value::Object(id)
}

/// JSON text as a value (`null` when absent or not JSON).
fn json(text: Option<&str>) -> Value {
    text.and_then(|t| serde_json::from_str(t).ok())
        .unwrap_or(Value::Null)
}

/// A flattened leftover's text as the JSON value it was: a boolean, a number or a string.
fn scalar(v: &str) -> Value {
    match v {
        "true" => Value::Bool(true),
        "false" => Value::Bool(false),
        _ => v
            .parse::<i64>()
            .map_or_else(|_| Value::String(v.to_owned()), Value::from),
    }
}

/// The lake row of a drafted call in `table`: its record, mapped as an imported one is.
pub fn mapped(e: &ApiEvent, table: LogicalTable) -> Result<ApiEvent, String> {
    let text = record(e).to_string();
    let r: Record<'_> = serde_json::from_str(&text).map_err(|err| err.to_string())?;
    match map_record(&r) {
        Ok(m) if m.table == table => {
            let mut row = m.event;
            // The partition the generator writes it to.
            row.accountid.clone_from(&e.accountid);
            row.region.clone_from(&e.region);
            Ok(row)
        }
        Ok(m) => Err(format!(
            "{} {}: the mapping puts it in {}, the generator in {table}",
            e.service, e.operation, m.table
        )),
        Err(NotMapped::NoTable(why)) => Err(format!("{} {}: {why}", e.service, e.operation)),
        Err(NotMapped::Bad(why)) => Err(format!("{} {}: {why}", e.service, e.operation)),
    }
}

/// The batch of drafted calls of one table, each row mapped from its record.
pub fn batch(table: LogicalTable, drafts: &[ApiEvent]) -> Result<RecordBatch, ArrowError> {
    let rows = drafts
        .iter()
        .map(|e| mapped(e, table))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|why| ArrowError::InvalidArgumentError(format!("a generated event does not map: {why}")))?;
    to_batch(&rows)
}
