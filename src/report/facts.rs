//! What a timeline item shows under its one line, independent of the format: lines of pieces
//! (words, literal values, stored files) and at most one block (the SQL, a note). Markdown and
//! HTML render the same facts, each escaping in its own way.

use crate::engine::ArtifactRef;

use super::Detail;

/// A part of a fact line.
#[derive(Debug, Clone, PartialEq)]
pub enum Piece<'a> {
    /// Words of irp's own.
    Words(String),
    /// Text that came from the case (a detail, a reason): shown as text, escaped.
    Text(&'a str),
    /// A literal value (an id, a name, JSON): shown as code, escaped.
    Code(String),
    /// A stored file: its path, size and SHA-256.
    File(&'a ArtifactRef),
}

/// The facts of one timeline item.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Facts<'a> {
    pub lines: Vec<Vec<Piece<'a>>>,
    /// `(language, text)`: the SQL as sent, or a note as written.
    pub block: Option<(&'static str, &'a str)>,
}

impl<'a> Facts<'a> {
    /// `outcome: X — detail`, when there is an outcome.
    fn outcome(&mut self, outcome: Option<&'a str>, detail: Option<&'a str>) {
        if let Some(x) = outcome {
            self.lines.push(vec![
                words("outcome: "),
                Piece::Text(x),
                words(" — "),
                or_dash(detail),
            ]);
        }
    }

    /// A line per stored file that is there.
    fn files(&mut self, files: &[(&'static str, &'a Option<ArtifactRef>)]) {
        for (name, a) in files {
            if let Some(a) = a {
                self.lines.push(vec![words(*name), Piece::File(a)]);
            }
        }
    }
}

fn words(s: impl Into<String>) -> Piece<'static> {
    Piece::Words(s.into())
}

/// A value for a fact line, cut at 200 characters.
fn short(v: &serde_json::Value) -> String {
    let s = match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if s.chars().count() > 200 {
        format!("{}…", s.chars().take(200).collect::<String>())
    } else {
        s
    }
}

fn or_dash(v: Option<&str>) -> Piece<'_> {
    v.map_or_else(|| words("—"), Piece::Text)
}

pub fn facts(d: &Detail) -> Facts<'_> {
    let mut f = Facts::default();
    match d {
        Detail::Query {
            sql,
            backend,
            query_id,
            state,
            rows,
            bytes_scanned,
            artifact,
            error,
            not_collected,
            captures,
            ..
        } => {
            let mut line = Vec::new();
            let sep = |line: &mut Vec<Piece<'_>>| {
                if !line.is_empty() {
                    line.push(words(" · "));
                }
            };
            if let Some(b) = backend {
                line.push(words("backend "));
                line.push(Piece::Text(b));
            }
            if let Some(q) = query_id {
                sep(&mut line);
                line.push(words("query id "));
                line.push(Piece::Code(q.clone()));
            }
            if let Some(s) = state {
                sep(&mut line);
                line.push(words("state "));
                line.push(Piece::Text(s));
            }
            if let Some(n) = rows {
                sep(&mut line);
                line.push(words(format!("{n} rows")));
            }
            if let Some(b) = bytes_scanned {
                sep(&mut line);
                line.push(words(format!("{b} bytes scanned")));
            }
            if !line.is_empty() {
                f.lines.push(line);
            }
            if let Some(a) = artifact {
                f.lines.push(vec![words("result: "), Piece::File(a)]);
            }
            if let Some(e) = error {
                f.lines.push(vec![words("error: "), Piece::Text(e)]);
            }
            if let Some(n) = not_collected {
                f.lines.push(vec![words("not collected: "), Piece::Text(n)]);
            }
            for (k, v) in captures {
                f.lines.push(vec![
                    words("capture "),
                    Piece::Code(k.clone()),
                    words(" = "),
                    Piece::Code(short(v)),
                ]);
            }
            f.block = sql.as_deref().map(|s| ("sql", s));
        }
        Detail::Decision {
            option,
            label,
            suggested,
            rationale,
            next,
        } => {
            f.lines.push(vec![
                words("chose "),
                Piece::Code(option.clone()),
                words(" ("),
                Piece::Text(label),
                words("); suggested: "),
                suggested.clone().map_or_else(|| words("none"), Piece::Code),
                words("; next: "),
                next.clone().map_or_else(|| words("end"), Piece::Code),
            ]);
            f.lines
                .push(vec![words("rationale: "), or_dash(rationale.as_deref())]);
        }
        Detail::Action {
            intent,
            simulated,
            outcome,
            detail,
            before,
            request,
            after,
            request_ids,
            verification,
        } => {
            if let Some(i) = intent {
                f.lines.push(vec![
                    words("call: "),
                    Piece::Code(serde_json::to_string(i).unwrap_or_default()),
                    words(if *simulated { " (simulated)" } else { "" }),
                ]);
            }
            f.outcome(outcome.as_deref(), detail.as_deref());
            f.files(&[
                ("before-state: ", before),
                ("request: ", request),
                ("after-state: ", after),
            ]);
            if !request_ids.is_empty() {
                f.lines
                    .push(vec![words("request ids: "), Piece::Code(request_ids.join(", "))]);
            }
            if let Some(v) = verification {
                f.lines.push(vec![words("read back: "), Piece::Text(v)]);
            }
        }
        Detail::Rollback {
            operation,
            outcome,
            detail,
            restore,
            current,
            after,
            calls,
            simulated,
        } => {
            f.lines.push(vec![
                words("rollback of "),
                or_dash(operation.as_deref()),
                words(if *simulated { " (simulated)" } else { "" }),
            ]);
            for c in calls {
                f.lines.push(vec![words("call: "), Piece::Text(c)]);
            }
            f.files(&[
                ("state restored: ", restore),
                ("state before the rollback: ", current),
                ("state after: ", after),
            ]);
            f.outcome(outcome.as_deref(), detail.as_deref());
        }
        Detail::Note { text } => f.block = Some(("text", text)),
        Detail::Evidence { note: Some(n), .. } => f.lines.push(vec![words("note: "), Piece::Text(n)]),
        Detail::Evidence { .. } | Detail::Other => {}
    }
    f
}

/// A table cell: pieces, as on a fact line.
pub type Cell<'a> = Vec<Piece<'a>>;

/// A table the formats share: its header and its rows, each format escaping the cells its way.
#[derive(Debug, Clone, PartialEq)]
pub struct Table<'a> {
    pub head: &'static [&'static str],
    pub rows: Vec<Vec<Cell<'a>>>,
}

/// A step id as code, or a dash.
fn step_cell(step: Option<&str>) -> Cell<'static> {
    vec![step.map_or_else(|| words("—"), |s| Piece::Code(s.to_owned()))]
}

/// The deviations, one row each.
pub fn deviations(list: &[super::Deviation]) -> Table<'_> {
    Table {
        head: &["Seq", "At", "Who", "Kind", "Step", "Detail"],
        rows: list
            .iter()
            .map(|d| {
                vec![
                    vec![words(d.seq.to_string())],
                    vec![words(super::second_text(&d.at))],
                    vec![Piece::Text(&d.actor)],
                    vec![words(d.kind.as_str())],
                    step_cell(d.step.as_deref()),
                    vec![Piece::Text(&d.detail)],
                ]
            })
            .collect(),
    }
}

/// The evidence, one row per observable.
pub fn evidence(list: &[super::Ioc]) -> Table<'_> {
    Table {
        head: &["Type", "Value", "First seen", "Step", "Stage", "Times", "Notes"],
        rows: list
            .iter()
            .map(|e| {
                let mut notes = Vec::new();
                for (i, n) in e.notes.iter().enumerate() {
                    if i > 0 {
                        notes.push(words("; "));
                    }
                    notes.push(Piece::Text(n));
                }
                vec![
                    vec![words(e.observable.as_str())],
                    vec![Piece::Code(e.value.clone())],
                    vec![words(format!(
                        "{} (seq {})",
                        super::second_text(&e.first_seen),
                        e.seq
                    ))],
                    step_cell(e.step.as_deref()),
                    vec![e.stage.as_deref().map_or_else(|| words("—"), Piece::Text)],
                    vec![words(e.count.to_string())],
                    notes,
                ]
            })
            .collect(),
    }
}

/// The processes that worked on the case.
pub fn sessions(list: &[super::SessionItem]) -> Table<'_> {
    Table {
        head: &["Seq", "At", "Who", "Command", "Host", "irp"],
        rows: list
            .iter()
            .map(|x| {
                vec![
                    vec![words(x.seq.to_string())],
                    vec![words(super::second_text(&x.at))],
                    vec![Piece::Text(&x.actor)],
                    vec![Piece::Text(&x.command)],
                    vec![Piece::Text(&x.host)],
                    vec![Piece::Text(&x.irp)],
                ]
            })
            .collect(),
    }
}

/// Step ids as code, comma-separated, or a dash.
fn step_list(steps: &[String]) -> Cell<'static> {
    let mut out = Vec::new();
    for (i, s) in steps.iter().enumerate() {
        if i > 0 {
            out.push(words(", "));
        }
        out.push(Piece::Code(s.clone()));
    }
    if out.is_empty() {
        out.push(words("—"));
    }
    out
}

/// The ATT&CK techniques the evidence speaks for, then those of the playbook it does not.
pub fn attack(t: &super::Techniques) -> Table<'_> {
    let row = |x: &'_ super::TechniqueItem, evidenced: bool| {
        vec![
            vec![Piece::Code(x.id.clone())],
            vec![words(x.name.as_str())],
            vec![words(x.tactics.join(", "))],
            step_list(&x.steps),
            vec![words(if evidenced {
                format!("{} recorded", x.evidence)
            } else {
                "none recorded (the playbook looks for it)".to_owned()
            })],
        ]
    };
    Table {
        head: &["Technique", "Name", "Tactics", "Steps", "Evidence"],
        rows: t
            .attack
            .iter()
            .map(|x| row(x, true))
            .chain(t.attack_not_evidenced.iter().map(|x| row(x, false)))
            .collect(),
    }
}

/// The D3FEND defences of the actions carried out.
pub fn d3fend(t: &super::Techniques) -> Table<'_> {
    Table {
        head: &["Defence", "Name", "Tactic", "Applied by"],
        rows: t
            .d3fend
            .iter()
            .map(|d| {
                vec![
                    vec![Piece::Code(d.id.clone())],
                    vec![words(d.name.as_str())],
                    vec![words(d.tactic.as_str())],
                    step_list(&d.steps),
                ]
            })
            .collect(),
    }
}
