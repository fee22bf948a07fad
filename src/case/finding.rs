//! Opening a case from a `GuardDuty` or Security Hub finding: the playbook's `from_finding` query
//! reads the finding from `sh_findings`, and each column it returns fills the input it is named
//! after, unless the responder gave that input. Runs before the case opens, so the inputs the
//! case is opened with are complete; the note it returns goes into the journal right after.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::playbook::Playbook;
use crate::playbook::context::{FINDING_ID, TableNaming, finding_sql};
use crate::playbook::raw::InputType;

/// A case's inputs as given: `name=value` pairs.
pub type Inputs = Vec<(String, String)>;

/// The inputs a finding filled, and what the journal says of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filled {
    /// Every input of the case: the ones given, then the ones the finding filled.
    pub inputs: Vec<(String, String)>,
    /// The names of the inputs the finding filled, in the order its query returned them.
    pub filled: Vec<String>,
    /// For the journal: which finding, which inputs it filled, what it said that differs.
    pub note: String,
}

/// Fills the inputs from the finding `given` names (`finding_id=…`). `None` when the playbook
/// reads no findings or no finding id is given; an error says what went wrong and what to do.
pub fn fill(
    pb: &Playbook,
    given: &[(String, String)],
    naming: &TableNaming,
    now: DateTime<Utc>,
    rows: &mut dyn FnMut(&str) -> Result<Vec<Value>, String>,
) -> Option<Result<Filled, String>> {
    let id = given
        .iter()
        .rev()
        .find(|(k, _)| k == FINDING_ID)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())?;
    let sql = match finding_sql(pb, id, naming, now)? {
        Ok(sql) => sql,
        Err(e) => {
            return Some(Err(format!(
                "the playbook's `from_finding.sql` cannot be rendered: {}",
                e.message
            )));
        }
    };
    Some(
        rows(&sql)
            .and_then(|rows| fill_from_rows(pb, given, id, &rows))
            .and_then(|filled| {
                // What the finding says must fit the inputs as what a responder types must.
                match crate::engine::resolve_inputs(pb, &filled.inputs, now) {
                    Err(problems) if !filled.filled.is_empty() => Err(format!(
                        "finding `{id}` filled {}, and the inputs do not fit: {}; give them with -i",
                        filled.filled.join(", "),
                        problems.join("; ")
                    )),
                    _ => Ok(filled),
                }
            }),
    )
}

fn fill_from_rows(
    pb: &Playbook,
    given: &[(String, String)],
    id: &str,
    rows: &[Value],
) -> Result<Filled, String> {
    if rows.is_empty() {
        return Err(format!(
            "there is no finding `{id}` in sh_findings: check the id (GuardDuty's, or Security Hub's finding ARN), \
             the window Security Lake holds, and that Security Hub findings are collected; or give the inputs with -i"
        ));
    }
    // Each column, its distinct non-empty values in the order the rows give them.
    let mut values: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    for row in rows {
        let Some(obj) = row.as_object() else { continue };
        for (column, v) in obj {
            if !pb.inputs.contains_key(column) || column == FINDING_ID {
                return Err(format!(
                    "the playbook's `from_finding.sql` returned column `{column}`, which is not an input it can fill"
                ));
            }
            if !order.contains(column) {
                order.push(column.clone());
            }
            let text = match v {
                Value::Null => continue,
                Value::String(s) => s.trim().to_owned(),
                other => other.to_string(),
            };
            let seen = values.entry(column.clone()).or_default();
            if !text.is_empty() && !seen.contains(&text) {
                seen.push(text);
            }
        }
    }
    let mut inputs = given.to_vec();
    let mut filled = Vec::new();
    let mut said = Vec::new();
    let mut differs = Vec::new();
    for column in order {
        let Some(found) = values.get(&column).filter(|v| !v.is_empty()) else {
            continue;
        };
        let list = pb.inputs.get(&column).is_some_and(|s| s.ty == InputType::List);
        if !list && found.len() > 1 {
            return Err(format!(
                "finding `{id}` names {} values of `{column}` ({}): give the one to follow with -i {column}=…",
                found.len(),
                found.join(", ")
            ));
        }
        let value = found.join(",");
        match given.iter().rev().find(|(k, _)| *k == column) {
            Some((_, mine)) if *mine != value => {
                differs.push(format!("{column}: given {mine}, the finding says {value}"));
            }
            Some(_) => {}
            None => {
                said.push(format!("{column}={value}"));
                filled.push(column.clone());
                inputs.push((column, value));
            }
        }
    }
    let filled_text = if said.is_empty() {
        ": it filled no input (every one it names was given).".to_owned()
    } else {
        format!(": {} filled from it.", said.join(", "))
    };
    let differs_text = if differs.is_empty() {
        String::new()
    } else {
        format!(
            " Given values kept where the finding differs ({}).",
            differs.join("; ")
        )
    };
    let note = format!("Opened from finding {id}{filled_text}{differs_text}");
    Ok(Filled { inputs, filled, note })
}
