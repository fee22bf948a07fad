//! A case in the standards other tools read (docs/standards.md):
//!
//! - `attack-navigator`: a MITRE ATT&CK Navigator layer (format 4.5) of the techniques the
//!   evidence speaks for, and those the playbook looks for that it does not;
//! - `ocsf`: OCSF 1.1 Incident Finding events (class 2005), one JSON object per line: `Create`
//!   when the case opened, an `Update` for each containment action that finished, `Close` when
//!   it closed; the evidence as observables, the techniques as `attacks`;
//! - `stix`: a STIX 2.1 bundle: the incident (with the Incident Core Extension), the playbook as
//!   a course of action, the evidence as observed data and indicators with their sightings, and
//!   the techniques as attack patterns.
//!
//! Every id is derived (`UUIDv5`) from the case id and what it names, so the same case gives the
//! same documents.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

use super::{Detail, Report};
use crate::playbook::Playbook;

/// The namespace of the ids irp derives for these documents.
const NAMESPACE: Uuid = Uuid::from_u128(0x2c4e_91a7_5b3d_4f08_8e62_0d1f_9a7b_c351);
/// STIX 2.1's namespace for the deterministic ids of cyber-observable objects (§2.9).
const STIX_SCO_NAMESPACE: Uuid = Uuid::from_u128(0x00ab_edb4_aa42_466c_9c01_fed2_3315_a9b7);
/// The STIX Incident Core Extension (OASIS cti-stix-common-objects).
pub const INCIDENT_CORE_EXTENSION: &str = "extension-definition--ef765651-680c-498d-9894-99799f2fa126";

fn id(kind: &str, case: &str, what: &str) -> String {
    format!(
        "{kind}--{}",
        Uuid::new_v5(&NAMESPACE, format!("{case}/{what}").as_bytes())
    )
}

fn parse(t: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(t)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

fn millis(t: &str) -> i64 {
    parse(t).map_or(0, |t| t.timestamp_millis())
}

/// STIX timestamps: UTC with milliseconds.
fn stix_time(t: &str) -> String {
    parse(t).map_or_else(
        || t.to_owned(),
        |t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
    )
}

/// When each evidence value was first and last recorded, from the timeline.
fn evidence_times(r: &Report) -> BTreeMap<(String, String), (String, String)> {
    let mut out: BTreeMap<(String, String), (String, String)> = BTreeMap::new();
    for item in &r.timeline {
        if let Detail::Evidence {
            observable, value, ..
        } = &item.detail
        {
            out.entry((observable.clone(), value.clone()))
                .and_modify(|(_, last)| last.clone_from(&item.at))
                .or_insert_with(|| (item.at.clone(), item.at.clone()));
        }
    }
    out
}

/// The responders: every participant but irp itself.
fn responders(r: &Report) -> Vec<&str> {
    r.summary
        .participants
        .iter()
        .map(|p| p.actor.as_str())
        .filter(|a| *a != "irp")
        .collect()
}

/// The containment actions that finished, in order: (time, line, step).
fn actions(r: &Report) -> Vec<(&str, &str, Option<&str>)> {
    r.timeline
        .iter()
        .filter(|t| matches!(&t.detail, Detail::Action { outcome: Some(_), .. }))
        .map(|t| (t.at.as_str(), t.text.as_str(), t.step.as_deref()))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// ATT&CK Navigator

/// An ATT&CK Navigator layer (format 4.5) of the case.
pub fn navigator(r: &Report, pb: &Playbook) -> Value {
    let t = &r.techniques;
    let major = crate::standards::ATTACK_VERSION.split('.').next().unwrap_or("18");
    let mut techniques = Vec::new();
    let mut parents: Vec<String> = Vec::new();
    for x in &t.attack {
        techniques.push(json!({
            "techniqueID": x.id,
            "score": 1,
            "color": "#e8684a",
            "comment": format!(
                "{} evidence recorded on {} (first {}, last {})",
                x.evidence,
                x.steps.join(", "),
                x.first_seen.as_deref().unwrap_or("-"),
                x.last_seen.as_deref().unwrap_or("-")
            ),
            "enabled": true,
            "metadata": x.steps.iter().map(|s| json!({ "name": "step", "value": s })).collect::<Vec<_>>(),
            "showSubtechniques": false,
        }));
        if let Some((parent, _)) = x.id.split_once('.') {
            parents.push(parent.to_owned());
        }
    }
    for x in &t.attack_not_evidenced {
        techniques.push(json!({
            "techniqueID": x.id,
            "score": 0,
            "color": "#d9d9d9",
            "comment": "The playbook looks for it; no evidence of it was recorded in this case.",
            "enabled": true,
            "showSubtechniques": false,
        }));
        if let Some((parent, _)) = x.id.split_once('.') {
            parents.push(parent.to_owned());
        }
    }
    parents.sort();
    parents.dedup();
    for p in parents {
        if !techniques.iter().any(|x| x["techniqueID"] == p.as_str()) {
            techniques.push(json!({ "techniqueID": p, "enabled": true, "showSubtechniques": true }));
        }
    }
    let defences: Vec<String> = t.d3fend.iter().map(|d| format!("{} {}", d.id, d.name)).collect();
    json!({
        "name": format!("irp case {}", r.summary.case),
        "versions": { "attack": major, "navigator": "5.1.0", "layer": "4.5" },
        "domain": "enterprise-attack",
        "description": format!(
            "{} ({} {}): the ATT&CK techniques the case's evidence speaks for, and those the playbook looks for that no evidence showed.{}",
            pb.title,
            r.summary.playbook.id,
            r.summary.playbook.version,
            if defences.is_empty() { String::new() } else { format!(" D3FEND defences applied: {}.", defences.join(", ")) }
        ),
        "sorting": 3,
        "hideDisabled": false,
        "techniques": techniques,
        "gradient": { "colors": ["#d9d9d9", "#e8684a"], "minValue": 0, "maxValue": 1 },
        "legendItems": [
            { "label": "evidence recorded", "color": "#e8684a" },
            { "label": "looked for, none recorded", "color": "#d9d9d9" }
        ],
        "metadata": [
            { "name": "case", "value": r.summary.case },
            { "name": "playbook", "value": format!("{} {}", r.summary.playbook.id, r.summary.playbook.version) },
            { "name": "status", "value": r.summary.status },
            { "name": "ATT&CK version", "value": crate::standards::ATTACK_VERSION }
        ],
        "showTacticRowBackground": false,
        "selectTechniquesAcrossTactics": true,
        "selectSubtechniquesWithParent": false,
        "selectVisibleTechniques": false
    })
}

// ---------------------------------------------------------------------------------------------
// OCSF

/// OCSF 1.1 observable types (`type_id`) of irp's evidence types.
fn ocsf_observable(observable: &str) -> (u64, &'static str) {
    match observable {
        "ip" => (2, "IP Address"),
        "arn" => (10, "Resource UID"),
        "object_key" => (7, "File Name"),
        _ => (99, "Other"),
    }
}

/// The case as OCSF 1.1 Incident Finding events, in order.
pub fn ocsf(r: &Report, pb: &Playbook) -> Vec<Value> {
    let case = &r.summary.case;
    let times = evidence_times(r);
    let first_seen = times.values().map(|(f, _)| f.as_str()).min();
    let last_seen = times.values().map(|(_, l)| l.as_str()).max();
    let observables: Vec<Value> = r
        .evidence
        .iter()
        .map(|e| {
            let (type_id, ty) = ocsf_observable(&e.observable);
            json!({ "name": format!("evidence.{}", e.observable), "type_id": type_id, "type": ty, "value": e.value })
        })
        .collect();
    let attacks: Vec<Value> = r
        .techniques
        .attack
        .iter()
        .map(|t| {
            let mut a = json!({
                "technique": { "uid": t.id, "name": t.name },
                "version": crate::standards::ATTACK_VERSION,
            });
            if let Some(tactic) = t.tactics.first() {
                a["tactic"] = json!({ "name": tactic });
            }
            a
        })
        .collect();
    let mut finding_info = json!({
        "uid": case,
        "title": format!("{}: case {case}", pb.title),
        "desc": r.summary.outcome,
        "created_time": millis(&r.summary.opened),
        "types": ["irp case", r.summary.mode.as_str()],
        "analytic": { "type_id": 99, "type": "Other", "name": r.summary.playbook.id, "version": r.summary.playbook.version },
    });
    if let Some(f) = first_seen {
        finding_info["first_seen_time"] = json!(millis(f));
    }
    if let Some(l) = last_seen {
        finding_info["last_seen_time"] = json!(millis(l));
    }
    let who = responders(r);
    let assignee = json!({ "name": who.first().copied().unwrap_or("irp"), "type_id": 99, "type": "Other" });
    let event =
        |activity: u64, status: u64, at: &str, seq: String, comment: Option<String>, extra: Option<Value>| {
            let (activity_name, status_name) = (
                ["", "Create", "Update", "Close"][usize::try_from(activity).unwrap_or(0)],
                ["", "New", "In Progress", "On Hold", "Resolved", "Closed"]
                    [usize::try_from(status).unwrap_or(0)],
            );
            let mut e = json!({
                "activity_id": activity,
                "activity_name": activity_name,
                "category_uid": 2,
                "category_name": "Findings",
                "class_uid": 2005,
                "class_name": "Incident Finding",
                "type_uid": 200_500 + activity,
                "type_name": format!("Incident Finding: {activity_name}"),
                "severity_id": 0,
                "severity": "Unknown",
                "status_id": status,
                "status": status_name,
                "time": millis(at),
                "finding_info_list": [finding_info.clone()],
                "assignee": assignee.clone(),
                "desc": format!("{} ({} {})", pb.title, r.summary.playbook.id, r.summary.playbook.version),
                "metadata": {
                    "uid": seq,
                    "product": { "name": "irp", "vendor_name": "irp", "version": env!("CARGO_PKG_VERSION") },
                    "version": "1.1.0",
                    "logged_time": millis(at),
                },
            });
            if !observables.is_empty() {
                e["observables"] = json!(observables);
            }
            if !attacks.is_empty() {
                e["attacks"] = json!(attacks);
            }
            if let Some(f) = first_seen {
                e["start_time"] = json!(millis(f));
            }
            if let Some(l) = last_seen {
                e["end_time"] = json!(millis(l));
            }
            if let Some(c) = comment {
                e["comment"] = json!(c);
            }
            if let Some(x) = extra {
                e["unmapped"] = x;
            }
            e
        };
    let mut out = vec![event(
        1,
        1,
        &r.summary.opened,
        format!("{case}/opened"),
        None,
        None,
    )];
    for (i, (at, line, step)) in actions(r).into_iter().enumerate() {
        let d3fend: Vec<&str> = step
            .and_then(|s| pb.step(s))
            .map(|s| s.d3fend.iter().map(String::as_str).collect())
            .unwrap_or_default();
        let extra = json!({ "irp": { "step": step, "d3fend": d3fend } });
        out.push(event(
            2,
            2,
            at,
            format!("{case}/action/{i}"),
            Some(format!("Action: {line}")),
            Some(extra),
        ));
    }
    if let Some(closed) = &r.summary.closed {
        out.push(event(
            3,
            5,
            closed,
            format!("{case}/closed"),
            Some(r.summary.outcome.clone()),
            None,
        ));
    }
    out
}

// ---------------------------------------------------------------------------------------------
// STIX 2.1

/// A cyber-observable object for an evidence value, with its deterministic id, or `None` for
/// types STIX has no object for (they are listed in a note).
fn sco(observable: &str, value: &str) -> Option<(Value, Option<String>)> {
    let (ty, contributing, pattern) = match observable {
        "ip" if value.contains(':') => (
            "ipv6-addr",
            json!({ "value": value }),
            Some(format!("[ipv6-addr:value = '{}']", stix_quote(value))),
        ),
        "ip" => (
            "ipv4-addr",
            json!({ "value": value }),
            Some(format!("[ipv4-addr:value = '{}']", stix_quote(value))),
        ),
        "arn" | "access_key_id" => (
            "user-account",
            json!({ "user_id": value }),
            Some(format!("[user-account:user_id = '{}']", stix_quote(value))),
        ),
        _ => return None,
    };
    // STIX 2.1 §2.9: UUIDv5 of the canonical JSON of the id-contributing properties.
    let canonical = serde_json::to_string(&contributing).unwrap_or_default();
    let sco_id = format!(
        "{ty}--{}",
        Uuid::new_v5(&STIX_SCO_NAMESPACE, canonical.as_bytes())
    );
    let mut object = json!({ "type": ty, "spec_version": "2.1", "id": sco_id });
    if let (Some(o), Some(c)) = (object.as_object_mut(), contributing.as_object()) {
        for (k, v) in c {
            o.insert(k.clone(), v.clone());
        }
    }
    Some((object, pattern))
}

/// A string inside a STIX pattern's single quotes.
fn stix_quote(s: &str) -> String {
    s.replace('\\', "\\\\").replace('\'', "\\'")
}

/// The case as a STIX 2.1 bundle.
#[allow(clippy::many_single_char_names)] // one short name per STIX object being built
pub fn stix(r: &Report, pb: &Playbook) -> Value {
    let case = &r.summary.case;
    let created = stix_time(&r.summary.opened);
    let modified = stix_time(r.summary.closed.as_deref().unwrap_or(&r.summary.last_entry));
    let identity = id("identity", case, "irp");
    let incident = id("incident", case, "incident");
    let mut objects = vec![json!({
        "type": "identity",
        "spec_version": "2.1",
        "id": identity,
        "created": created,
        "modified": created,
        "name": "irp",
        "identity_class": "system",
        "description": "irp, the incident-response playbook runner that recorded the case.",
    })];
    let common = |kind: &str| json!({ "type": kind, "spec_version": "2.1", "created_by_ref": identity, "created": created, "modified": modified });
    let status = match r.summary.status.as_str() {
        "closed" => "closed",
        _ => "open",
    };
    let mut inc = common("incident");
    inc["id"] = json!(incident);
    inc["name"] = json!(format!("{}: case {case}", pb.title));
    inc["description"] = json!(r.summary.outcome);
    inc["external_references"] = json!([{ "source_name": "irp", "external_id": case, "description": format!("irp case, playbook {} {}", r.summary.playbook.id, r.summary.playbook.version) }]);
    let contained = r
        .timeline
        .iter()
        .any(|t| matches!(&t.detail, Detail::Action { outcome: Some(_), .. }));
    inc["extensions"] = json!({ INCIDENT_CORE_EXTENSION: {
        "extension_type": "property-extension",
        "determination": if !contained && status == "closed" && r.evidence.is_empty() { "false-positive" } else { "suspected" },
        "investigation_status": status,
    }});
    objects.push(inc);
    let mut related = Vec::new();

    // The playbook as a course of action, with the D3FEND defences applied.
    let coa = id("course-of-action", case, "playbook");
    let mut c = common("course-of-action");
    c["id"] = json!(coa);
    c["name"] = json!(pb.title);
    c["description"] = json!(pb.description.clone().unwrap_or_else(|| pb.title.clone()));
    let mut refs = vec![
        json!({ "source_name": "irp", "external_id": format!("{} {}", r.summary.playbook.id, r.summary.playbook.version), "description": format!("playbook file SHA-256 {}", r.summary.playbook.sha256) }),
    ];
    for d in &r.techniques.d3fend {
        refs.push(json!({ "source_name": "d3fend", "external_id": d.id, "description": format!("{} ({}), applied by {}", d.name, d.tactic, d.steps.join(", ")) }));
    }
    c["external_references"] = json!(refs);
    objects.push(c);
    related.push(coa);

    // Evidence: observed data (with its objects), an indicator and a sighting per value.
    let times = evidence_times(r);
    let mut unmapped = Vec::new();
    for e in &r.evidence {
        let key = (e.observable.clone(), e.value.clone());
        let (first, last) = times
            .get(&key)
            .cloned()
            .unwrap_or_else(|| (e.first_seen.clone(), e.first_seen.clone()));
        let Some((object, pattern)) = sco(&e.observable, &e.value) else {
            unmapped.push(format!("{}: {}", e.observable, e.value));
            continue;
        };
        let sco_id = object["id"].as_str().unwrap_or_default().to_owned();
        if !objects.iter().any(|o| o["id"] == sco_id.as_str()) {
            objects.push(object);
        }
        let what = format!("{}/{}", e.observable, e.value);
        let observed = id("observed-data", case, &what);
        let mut o = common("observed-data");
        o["id"] = json!(observed);
        o["first_observed"] = json!(stix_time(&first));
        o["last_observed"] = json!(stix_time(&last));
        o["number_observed"] = json!(e.count.max(1));
        o["object_refs"] = json!([sco_id]);
        objects.push(o);
        related.push(observed.clone());
        if let Some(p) = pattern {
            let indicator = id("indicator", case, &what);
            let mut i = common("indicator");
            i["id"] = json!(indicator);
            i["name"] = json!(format!("{} {} (case {case})", e.observable, e.value));
            i["description"] = json!(format!(
                "Recorded as evidence in irp case {case}{}{}.",
                e.step
                    .as_deref()
                    .map(|s| format!(" on step {s}"))
                    .unwrap_or_default(),
                if e.notes.is_empty() {
                    String::new()
                } else {
                    format!(": {}", e.notes.join("; "))
                }
            ));
            i["indicator_types"] = json!(["malicious-activity"]);
            i["pattern"] = json!(p);
            i["pattern_type"] = json!("stix");
            i["valid_from"] = json!(stix_time(&first));
            objects.push(i);
            related.push(indicator.clone());
            let mut s = common("sighting");
            s["id"] = json!(id("sighting", case, &what));
            s["sighting_of_ref"] = json!(indicator);
            s["observed_data_refs"] = json!([observed]);
            s["where_sighted_refs"] = json!([identity]);
            s["first_seen"] = json!(stix_time(&first));
            s["last_seen"] = json!(stix_time(&last));
            s["count"] = json!(e.count.max(1));
            objects.push(s);
        }
    }
    // The techniques the evidence speaks for.
    for t in &r.techniques.attack {
        let ap = id("attack-pattern", case, &t.id);
        let mut a = common("attack-pattern");
        a["id"] = json!(ap);
        a["name"] = json!(t.name);
        // No `url`: STIX asks for a hash beside a URL, and ATT&CK's consumers key on the id.
        a["external_references"] = json!([{ "source_name": "mitre-attack", "external_id": t.id }]);
        if !t.tactics.is_empty() {
            a["kill_chain_phases"] = json!(
                t.tactics
                    .iter()
                    .map(|x| json!({ "kill_chain_name": "mitre-attack", "phase_name": x }))
                    .collect::<Vec<_>>()
            );
        }
        objects.push(a);
        related.push(ap);
    }
    if !unmapped.is_empty() {
        let mut n = common("note");
        n["id"] = json!(id("note", case, "evidence"));
        n["abstract"] = json!("Evidence with no STIX cyber-observable type");
        n["content"] = json!(unmapped.join("\n"));
        n["object_refs"] = json!([incident]);
        objects.push(n);
    }
    for target in related {
        let mut rel = common("relationship");
        rel["id"] = json!(id("relationship", case, &format!("incident/{target}")));
        rel["relationship_type"] = json!("related-to");
        rel["source_ref"] = json!(incident);
        rel["target_ref"] = json!(target);
        objects.push(rel);
    }
    json!({ "type": "bundle", "id": id("bundle", case, "bundle"), "objects": objects })
}
