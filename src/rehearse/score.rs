//! The score of a rehearsal: the case as the report reads it, against the exercise's brief.
//!
//! Out of 100 points:
//! - **conclusion** (30): the case concluded "incident" (it entered a containment, eradication
//!   and recovery stage) exactly when the scenario has one;
//! - **findings** (30): evidence recorded against the truth, per evidence type the scenario
//!   scores: the F1 of precision and recall over all of them (a benign scenario with nothing
//!   recorded scores in full);
//! - **decisions** (25): the share of the expected decisions taken as expected (one not reached
//!   counts as missed);
//! - **time** (15): the share of the time targets met (first correct finding, containment,
//!   recovery); in full when the scenario sets none.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};

use super::scenario::Brief;
use crate::playbook::Playbook;
use crate::playbook::raw::Phase;
use crate::report::score::{Conclusion, DecisionScore, FindingScore, Part, Score, TimeScore};
use crate::report::{Detail, Milestone, Report, duration_text};

/// Scores the case `report` describes against `brief`.
pub fn score(report: &Report, pb: &Playbook, brief: &Brief) -> Score {
    let opened = parse(&report.summary.opened);

    // Conclusion: did the case go into containment?
    let contained = report.path.steps.iter().any(|s| {
        pb.step(s)
            .is_some_and(|st| pb.stages[st.stage].phase == Phase::ContainmentEradicationRecovery)
    });
    let closed = report.summary.closed.is_some();
    let reached = if contained {
        "incident"
    } else if closed {
        "no incident"
    } else {
        "open"
    };
    let expected = if brief.incident { "incident" } else { "no incident" };
    let conclusion = Conclusion {
        expected: expected.to_owned(),
        reached: reached.to_owned(),
        correct: reached == expected,
    };

    // Findings, per scored type.
    let mut recorded: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for ioc in &report.evidence {
        recorded
            .entry(ioc.observable.as_str())
            .or_default()
            .insert(ioc.value.as_str());
    }
    let mut findings = Vec::new();
    let (mut all_correct, mut all_recorded, mut all_expected) = (0usize, 0usize, 0usize);
    for (observable, truth) in &brief.findings {
        let got = recorded.get(observable.as_str()).cloned().unwrap_or_default();
        let truth_set: BTreeSet<&str> = truth.iter().map(String::as_str).collect();
        let correct: Vec<String> = got.intersection(&truth_set).map(|s| (*s).to_owned()).collect();
        let missed: Vec<String> = truth_set.difference(&got).map(|s| (*s).to_owned()).collect();
        let wrong: Vec<String> = got.difference(&truth_set).map(|s| (*s).to_owned()).collect();
        all_correct += correct.len();
        all_recorded += got.len();
        all_expected += truth_set.len();
        findings.push(FindingScore {
            observable: observable.clone(),
            expected: truth.clone(),
            precision: ratio(correct.len(), got.len()),
            recall: ratio(correct.len(), truth_set.len()),
            correct,
            missed,
            wrong,
        });
    }
    let precision = ratio(all_correct, all_recorded);
    let recall = ratio(all_correct, all_expected);
    let f1 = match (precision, recall) {
        (None, None) => 1.0,
        (Some(p), Some(r)) if p + r > 0.0 => 2.0 * p * r / (p + r),
        _ => 0.0,
    };

    // Decisions: the last choice made at each expected step.
    let mut chosen: BTreeMap<&str, (&str, Option<&str>)> = BTreeMap::new();
    for item in &report.timeline {
        if let (
            Some(step),
            Detail::Decision {
                option, rationale, ..
            },
        ) = (&item.step, &item.detail)
        {
            chosen.insert(step.as_str(), (option.as_str(), rationale.as_deref()));
        }
    }
    let decisions: Vec<DecisionScore> = brief
        .decisions
        .iter()
        .map(|(step, want)| {
            let got = chosen.get(step.as_str());
            DecisionScore {
                step: step.clone(),
                expected: want.clone(),
                chosen: got.map(|(o, _)| (*o).to_owned()),
                rationale: got.and_then(|(_, r)| r.map(str::to_owned)),
                verdict: match got {
                    Some((o, _)) if o == want => "as expected",
                    Some(_) => "differs",
                    None => "not reached",
                }
                .to_owned(),
            }
        })
        .collect();
    // In the playbook's order, as the responder met them.
    let mut decisions = decisions;
    decisions.sort_by_key(|d| pb.step_index(&d.step));
    let as_expected = decisions.iter().filter(|d| d.verdict == "as expected").count();

    // Times against the targets.
    let first_finding = opened.and_then(|o| {
        report
            .evidence
            .iter()
            .filter(|i| {
                brief
                    .findings
                    .get(&i.observable)
                    .is_some_and(|t| t.contains(&i.value))
            })
            .filter_map(|i| parse(&i.first_seen).map(|at| (at, i)))
            .min_by_key(|(at, _)| *at)
            .map(|(at, i)| (seconds(at - o), format!("{} {}", i.observable, i.value)))
    });
    let target = |t: &Option<String>| {
        t.as_deref()
            .and_then(|d| crate::playbook::value::parse_duration(d).ok())
            .map(|d| d.as_secs_f64())
    };
    let milestone = |m: &Option<Milestone>| m.as_ref().map(|m| (m.seconds, m.what.clone()));
    let times: Vec<TimeScore> = [
        // With nothing to find there is no time to the first finding to meet.
        (
            "first correct finding",
            first_finding,
            target(&brief.targets.first_finding).filter(|_| all_expected > 0),
        ),
        (
            "containment",
            milestone(&report.metrics.time_to_contain),
            target(&brief.targets.contain),
        ),
        (
            "recovery",
            milestone(&report.metrics.time_to_recover),
            target(&brief.targets.recover),
        ),
    ]
    .into_iter()
    .map(|(what, got, target_s)| TimeScore {
        what: what.to_owned(),
        seconds: got.as_ref().map(|g| g.0),
        target_s,
        met: target_s.map(|t| got.as_ref().is_some_and(|g| g.0 <= t)),
        detail: got.map(|g| g.1),
    })
    .collect();
    let targets = times.iter().filter(|t| t.met.is_some()).count();
    let met = times.iter().filter(|t| t.met == Some(true)).count();

    let parts = vec![
        part("conclusion", if conclusion.correct { 1.0 } else { 0.0 }, 30),
        part("findings", f1, 30),
        part(
            "decisions",
            ratio(as_expected, decisions.len()).unwrap_or(1.0),
            25,
        ),
        part("time", ratio(met, targets).unwrap_or(1.0), 15),
    ];
    let points = parts.iter().map(|p| p.points).sum();

    let deviations: Vec<String> = report
        .metrics
        .deviations
        .iter()
        .map(|d| {
            format!(
                "{}{}: {}",
                d.kind.replace('_', " "),
                d.step.as_deref().map(|s| format!(" at {s}")).unwrap_or_default(),
                d.detail
            )
        })
        .collect();
    let injects = report
        .timeline
        .iter()
        .filter(|t| t.kind == "inject_landed")
        .map(|t| t.text.clone())
        .collect();
    let practise = practise(report, &conclusion, &findings, &decisions, &times);
    Score {
        scenario: brief.scenario.clone(),
        title: brief.title.clone(),
        seed: brief.seed,
        closed,
        points,
        parts,
        conclusion,
        findings,
        precision,
        recall,
        decisions,
        times,
        deviations,
        practise,
        injects,
        attack: brief
            .attack
            .iter()
            .map(|id| crate::report::score::TechniqueFound {
                id: id.clone(),
                name: crate::standards::technique(id).map_or_else(String::new, |t| t.name.to_owned()),
                found: report.techniques.attack.iter().any(|t| t.id == *id),
            })
            .collect(),
        players: players(report, brief),
    }
}

/// What each player of a team exercise did; nobody for a case one responder worked.
fn players(report: &Report, brief: &Brief) -> Vec<crate::report::score::PlayerScore> {
    use crate::report::score::PlayerScore;
    // Players are who moved the case: not irp, not a facilitator who only set the exercise
    // up and landed its injects.
    let actors: BTreeSet<&str> = report
        .timeline
        .iter()
        .filter(|t| !matches!(t.kind.as_str(), "case_opened" | "exercise_set" | "inject_landed"))
        .map(|t| t.actor.as_str())
        .filter(|a| *a != crate::case::SYSTEM_ACTOR)
        .collect();
    if actors.len() < 2 {
        return Vec::new();
    }
    let mut by: BTreeMap<&str, PlayerScore> = actors
        .iter()
        .map(|a| {
            let roles = report
                .summary
                .participants
                .iter()
                .find(|p| p.actor == *a)
                .map(|p| p.roles.clone())
                .unwrap_or_default();
            (
                *a,
                PlayerScore {
                    actor: (*a).to_owned(),
                    roles,
                    correct_findings: Vec::new(),
                    wrong_findings: Vec::new(),
                    decisions: Vec::new(),
                    queries: 0,
                    actions: 0,
                    notes: 0,
                },
            )
        })
        .collect();
    let actor_of = |seq: u64| {
        report
            .timeline
            .iter()
            .find(|t| t.seq == seq)
            .map(|t| t.actor.as_str())
    };
    for ioc in &report.evidence {
        let (Some(truth), Some(p)) = (
            brief.findings.get(&ioc.observable),
            actor_of(ioc.seq).and_then(|a| by.get_mut(a)),
        ) else {
            continue;
        };
        let what = format!("{} {}", ioc.observable, ioc.value);
        if truth.contains(&ioc.value) {
            p.correct_findings.push(what);
        } else {
            p.wrong_findings.push(what);
        }
    }
    // The last choice at each expected decision is the one scored, and its maker's.
    let mut chosen: BTreeMap<&str, (&str, &str)> = BTreeMap::new();
    for t in &report.timeline {
        if let (Some(step), Detail::Decision { option, .. }) = (&t.step, &t.detail) {
            chosen.insert(step.as_str(), (option.as_str(), t.actor.as_str()));
            continue;
        }
        let Some(p) = by.get_mut(t.actor.as_str()) else {
            continue;
        };
        match t.kind.as_str() {
            "query_succeeded" | "query_failed" | "source_not_collected" => p.queries += 1,
            "action_finished" => p.actions += 1,
            "note_added" => p.notes += 1,
            _ => {}
        }
    }
    for (step, want) in &brief.decisions {
        if let Some((option, actor)) = chosen.get(step.as_str())
            && let Some(p) = by.get_mut(actor)
        {
            let verdict = if option == want { "as expected" } else { "differs" };
            p.decisions.push(format!("{step}: {verdict}"));
        }
    }
    by.into_values().collect()
}

/// What to practise next: the conclusion, decisions, findings and times that fell short, each
/// with where in the case the answer was to be had. At most six items.
fn practise(
    report: &Report,
    conclusion: &Conclusion,
    findings: &[FindingScore],
    decisions: &[DecisionScore],
    times: &[TimeScore],
) -> Vec<String> {
    let mut out = Vec::new();
    if !conclusion.correct {
        let first_wrong = decisions.iter().find(|d| d.verdict == "differs");
        out.push(format!(
            "Telling an incident from normal activity: the case concluded `{}`, the scenario was `{}`{}.",
            conclusion.reached,
            conclusion.expected,
            first_wrong
                .map(|d| format!(
                    "; the path turned at `{}` (chose `{}`, expected `{}`)",
                    d.step,
                    d.chosen.as_deref().unwrap_or("-"),
                    d.expected
                ))
                .unwrap_or_default()
        ));
    }
    for d in decisions.iter().filter(|d| d.verdict == "differs") {
        out.push(format!(
            "The decision at `{}`: chose `{}`{}, a good responder chooses `{}`; read the evidence the step's suggestion rests on.",
            d.step,
            d.chosen.as_deref().unwrap_or("-"),
            d.rationale
                .as_deref()
                .map(|r| format!(" (\"{r}\")"))
                .unwrap_or_default(),
            d.expected
        ));
    }
    // One item per evidence type: what was missed (and where it was to be had), what was
    // recorded that is not part of the incident.
    for f in findings {
        let what = f.observable.replace('_', " ");
        let mut parts = Vec::new();
        if !f.missed.is_empty() {
            let held = where_captured(report, &f.missed);
            parts.push(format!(
                "{} {} not recorded as evidence{}",
                list(&f.missed),
                if f.missed.len() == 1 { "was" } else { "were" },
                held.map(|s| format!(" (step `{s}` had it in its results)"))
                    .unwrap_or_default()
            ));
        }
        if !f.wrong.is_empty() {
            parts.push(format!(
                "{} {} recorded but {} not part of the incident",
                list(&f.wrong),
                if f.wrong.len() == 1 { "was" } else { "were" },
                if f.wrong.len() == 1 { "is" } else { "are" }
            ));
        }
        if !parts.is_empty() {
            out.push(format!("Findings of type {what}: {}.", parts.join("; ")));
        }
    }
    for t in times.iter().filter(|t| t.met == Some(false)) {
        out.push(match t.seconds {
            Some(s) => format!(
                "Speed to {}: {} against a target of {}.",
                t.what,
                duration_text(s),
                duration_text(t.target_s.unwrap_or_default())
            ),
            None => format!("Reaching {}: the case never got there.", t.what),
        });
    }
    for d in decisions.iter().filter(|d| d.verdict == "not reached") {
        out.push(format!("Getting to `{}`: the case never reached it.", d.step));
    }
    out.truncate(6);
    out
}

/// The first step whose captures held any of `values`.
fn where_captured(report: &Report, values: &[String]) -> Option<String> {
    report.timeline.iter().find_map(|t| match &t.detail {
        Detail::Query { captures, .. }
            if captures.values().any(|v| {
                crate::playbook::value::texts(v)
                    .iter()
                    .any(|x| values.contains(x))
            }) =>
        {
            t.step.clone()
        }
        _ => None,
    })
}

fn list(values: &[String]) -> String {
    values
        .iter()
        .map(|v| format!("`{v}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // 0..=1 scaled to 0..=out_of
fn part(name: &str, share: f64, out_of: u32) -> Part {
    Part {
        name: name.to_owned(),
        points: (share.clamp(0.0, 1.0) * f64::from(out_of)).round() as u32,
        out_of,
    }
}

#[allow(clippy::cast_precision_loss)] // small counts
fn ratio(n: usize, d: usize) -> Option<f64> {
    (d > 0).then(|| n as f64 / d as f64)
}

fn parse(at: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(at)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

#[allow(clippy::cast_precision_loss)] // milliseconds of a case
fn seconds(d: chrono::TimeDelta) -> f64 {
    d.num_milliseconds() as f64 / 1000.0
}
