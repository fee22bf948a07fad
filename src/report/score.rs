//! The score of a rehearsal as the report shows it: the figures, and their text and tables.
//! `rehearse::score` computes it against the exercise's brief; whoever read the brief attaches it
//! to the report, so building a report never reads one.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::duration_text;

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
pub struct Score {
    pub scenario: String,
    pub title: String,
    pub seed: u64,
    /// Whether the case is closed (a score before that is provisional).
    pub closed: bool,
    /// 0–100.
    pub points: u32,
    pub parts: Vec<Part>,
    pub conclusion: Conclusion,
    pub findings: Vec<FindingScore>,
    /// Over every scored type; `None` when nothing was recorded.
    pub precision: Option<f64>,
    /// Over every scored type; `None` when the truth holds nothing.
    pub recall: Option<f64>,
    pub decisions: Vec<DecisionScore>,
    pub times: Vec<TimeScore>,
    /// Deviations from the playbook (skips, back-steps, pauses…), with their reasons.
    pub deviations: Vec<String>,
    /// What to practise next, most important first.
    pub practise: Vec<String>,
    /// Injects that landed, in order.
    pub injects: Vec<String>,
    /// The exercise's ATT&CK techniques (its `truth.attack`), each with whether the evidence
    /// recorded speaks for it. Not part of the points.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attack: Vec<TechniqueFound>,
    /// A team exercise (more than one responder): what each player did. Not part of the points.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub players: Vec<PlayerScore>,
}

/// One player's contribution to a team exercise.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
pub struct PlayerScore {
    pub actor: String,
    /// The roles they held when the case ended.
    pub roles: Vec<String>,
    /// Scored evidence they were first to record that the truth holds (`type value`).
    pub correct_findings: Vec<String>,
    /// Scored evidence they were first to record that the truth does not hold.
    pub wrong_findings: Vec<String>,
    /// The expected decisions they took, each `step: verdict`.
    pub decisions: Vec<String>,
    /// Query results they recorded.
    pub queries: u64,
    /// Actions they carried out (finished, one per item).
    pub actions: u64,
    pub notes: u64,
}

/// One ATT&CK technique of an exercise, and whether the case's evidence speaks for it.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
pub struct TechniqueFound {
    pub id: String,
    pub name: String,
    pub found: bool,
}

/// One part of the points.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
pub struct Part {
    pub name: String,
    pub points: u32,
    pub out_of: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq, Eq)]
pub struct Conclusion {
    /// `incident` or `no incident`.
    pub expected: String,
    /// What the case concluded; `open` while it is not closed and never reached containment.
    pub reached: String,
    pub correct: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
pub struct FindingScore {
    /// The evidence type (`ip`, `arn`, …).
    pub observable: String,
    pub expected: Vec<String>,
    /// Recorded and part of the truth.
    pub correct: Vec<String>,
    /// Part of the truth, never recorded.
    pub missed: Vec<String>,
    /// Recorded, not part of the truth.
    pub wrong: Vec<String>,
    pub precision: Option<f64>,
    pub recall: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq, Eq)]
pub struct DecisionScore {
    pub step: String,
    pub expected: String,
    /// The last option chosen there, if the case reached it.
    pub chosen: Option<String>,
    pub rationale: Option<String>,
    /// `as expected`, `differs` or `not reached`.
    pub verdict: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
pub struct TimeScore {
    /// `first correct finding`, `containment` or `recovery`.
    pub what: String,
    pub seconds: Option<f64>,
    pub target_s: Option<f64>,
    /// `None` when there is no target.
    pub met: Option<bool>,
    pub detail: Option<String>,
}

impl Score {
    /// The score as text, for the terminal and the CLI.
    pub fn lines(&self) -> Vec<String> {
        let pct = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v:.2}"));
        let mut out = vec![
            format!("Score: {}/100 — {} (seed {})", self.points, self.title, self.seed),
            self.parts
                .iter()
                .map(|p| format!("{} {}/{}", p.name, p.points, p.out_of))
                .collect::<Vec<_>>()
                .join(" · "),
            format!(
                "Conclusion: {} (the scenario: {}){}",
                self.conclusion.reached,
                self.conclusion.expected,
                if self.conclusion.correct { "" } else { "  ✗" }
            ),
            format!(
                "Findings: precision {}, recall {}",
                pct(self.precision),
                pct(self.recall)
            ),
        ];
        for f in &self.findings {
            out.push(format!(
                "  {:<14} {}/{} found, {} wrong (precision {}, recall {})",
                f.observable,
                f.correct.len(),
                f.expected.len(),
                f.wrong.len(),
                pct(f.precision),
                pct(f.recall)
            ));
        }
        if !self.decisions.is_empty() {
            out.push("Decisions:".to_owned());
            for d in &self.decisions {
                out.push(format!(
                    "  {:<28} {:<12} chose {} (expected {})",
                    d.step,
                    d.verdict,
                    d.chosen.as_deref().unwrap_or("-"),
                    d.expected
                ));
            }
        }
        out.push("Times:".to_owned());
        for t in &self.times {
            out.push(format!(
                "  {:<22} {}{}",
                t.what,
                t.seconds.map_or_else(|| "not reached".to_owned(), duration_text),
                match (t.target_s, t.met) {
                    (Some(target), Some(met)) => format!(
                        " (target {}{})",
                        duration_text(target),
                        if met { ", met" } else { ", missed" }
                    ),
                    _ => String::new(),
                }
            ));
        }
        if !self.deviations.is_empty() {
            out.push("Deviations:".to_owned());
            out.extend(self.deviations.iter().map(|d| format!("  {d}")));
        }
        if !self.injects.is_empty() {
            out.push("Injects:".to_owned());
            out.extend(self.injects.iter().map(|d| format!("  {d}")));
        }
        if !self.players.is_empty() {
            out.push("Players:".to_owned());
            for p in &self.players {
                out.push(format!("  {}", p.line()));
            }
        }
        if !self.practise.is_empty() {
            out.push("Practise next:".to_owned());
            out.extend(self.practise.iter().map(|p| format!("  - {p}")));
        }
        out
    }
}

/// One table of the score as plain text, for the report writers to escape and lay out.
#[derive(Debug, Clone)]
pub struct ScoreTable {
    pub title: &'static str,
    pub head: Vec<&'static str>,
    pub rows: Vec<Vec<String>>,
}

impl Score {
    /// The headline: points, conclusion, precision and recall.
    pub fn headline(&self) -> String {
        let pct = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v:.2}"));
        format!(
            "{}/100 on scenario `{}` (seed {}){}: concluded {} where the scenario is {}; findings precision {}, recall {}.",
            self.points,
            self.scenario,
            self.seed,
            if self.closed {
                ""
            } else {
                ", provisional (the case is not closed)"
            },
            self.conclusion.reached,
            self.conclusion.expected,
            pct(self.precision),
            pct(self.recall)
        )
    }

    /// The score's tables: points by part, findings by type, decisions, times.
    pub fn tables(&self) -> Vec<ScoreTable> {
        let pct = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v:.2}"));
        let mut tables = vec![
            ScoreTable {
                title: "Points",
                head: vec!["Part", "Points", "Out of"],
                rows: self
                    .parts
                    .iter()
                    .map(|p| vec![p.name.clone(), p.points.to_string(), p.out_of.to_string()])
                    .collect(),
            },
            ScoreTable {
                title: "Findings against the truth",
                head: vec!["Type", "Found", "Missed", "Wrong", "Precision", "Recall"],
                rows: self
                    .findings
                    .iter()
                    .map(|f| {
                        vec![
                            f.observable.clone(),
                            f.correct.join(", "),
                            f.missed.join(", "),
                            f.wrong.join(", "),
                            pct(f.precision),
                            pct(f.recall),
                        ]
                    })
                    .collect(),
            },
            ScoreTable {
                title: "Decisions against the expected path",
                head: vec!["Step", "Expected", "Chosen", "Verdict", "Rationale"],
                rows: self
                    .decisions
                    .iter()
                    .map(|d| {
                        vec![
                            d.step.clone(),
                            d.expected.clone(),
                            d.chosen.clone().unwrap_or_default(),
                            d.verdict.clone(),
                            d.rationale.clone().unwrap_or_default(),
                        ]
                    })
                    .collect(),
            },
            ScoreTable {
                title: "Times against the targets",
                head: vec!["Milestone", "Time", "Target", "Met"],
                rows: self
                    .times
                    .iter()
                    .map(|t| {
                        vec![
                            t.what.clone(),
                            t.seconds.map_or_else(|| "not reached".to_owned(), duration_text),
                            t.target_s.map(duration_text).unwrap_or_default(),
                            match t.met {
                                Some(true) => "yes",
                                Some(false) => "no",
                                None => "",
                            }
                            .to_owned(),
                        ]
                    })
                    .collect(),
            },
            ScoreTable {
                title: "ATT&CK techniques of the exercise (not scored)",
                head: vec!["Technique", "Name", "The evidence speaks for it"],
                rows: self
                    .attack
                    .iter()
                    .map(|t| {
                        vec![
                            t.id.clone(),
                            t.name.clone(),
                            if t.found { "yes" } else { "no" }.to_owned(),
                        ]
                    })
                    .collect(),
            },
        ];
        if self.attack.is_empty() {
            tables.pop();
        }
        if !self.players.is_empty() {
            tables.push(ScoreTable {
                title: "Players (not scored)",
                head: vec![
                    "Player",
                    "Roles",
                    "Findings (correct)",
                    "Findings (wrong)",
                    "Decisions",
                    "Queries",
                    "Actions",
                    "Notes",
                ],
                rows: self
                    .players
                    .iter()
                    .map(|p| {
                        vec![
                            p.actor.clone(),
                            p.roles.join(", "),
                            p.correct_findings.join(", "),
                            p.wrong_findings.join(", "),
                            p.decisions.join(", "),
                            p.queries.to_string(),
                            p.actions.to_string(),
                            p.notes.to_string(),
                        ]
                    })
                    .collect(),
            });
        }
        tables
    }
}

impl PlayerScore {
    /// One line: who, their roles, and what they did.
    pub fn line(&self) -> String {
        let mut parts = Vec::new();
        if !self.correct_findings.is_empty() {
            parts.push(format!("found {}", self.correct_findings.join(", ")));
        }
        if !self.wrong_findings.is_empty() {
            parts.push(format!("{} wrong", self.wrong_findings.len()));
        }
        if !self.decisions.is_empty() {
            parts.push(format!("decided {}", self.decisions.join(", ")));
        }
        parts.push(format!(
            "{} queries, {} actions, {} notes",
            self.queries, self.actions, self.notes
        ));
        format!(
            "{}{}: {}",
            self.actor,
            if self.roles.is_empty() {
                String::new()
            } else {
                format!(" [{}]", self.roles.join(", "))
            },
            parts.join("; ")
        )
    }
}
