//! The step graph of a playbook as Mermaid or Graphviz DOT: stages as clusters, decisions as
//! diamonds, queries as cylinders, actions as boxes marked by what they do, failure paths dotted.

use std::fmt::Write as _;

use super::model::{ActionKind, FailurePolicy, Next, Playbook, StepKind};
use crate::action::Effect;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GraphFormat {
    Mermaid,
    Dot,
}

pub fn render(pb: &Playbook, format: GraphFormat) -> String {
    match format {
        GraphFormat::Mermaid => mermaid(pb),
        GraphFormat::Dot => dot(pb),
    }
}

/// What the node says: the step's kind (and operation) and its title.
fn label(pb: &Playbook, i: usize) -> String {
    let s = &pb.steps[i];
    let kind = match &s.kind {
        StepKind::Query(q) => format!("query {}", q.table),
        StepKind::Decision(_) => "decision".to_owned(),
        StepKind::Action(a) => {
            let what = match &a.kind {
                ActionKind::Aws { op, .. } if op.effect() == Effect::ReadOnly => {
                    format!("evidence {}", op.name)
                }
                ActionKind::Aws { op, .. } => format!("ACTION {}", op.name),
                ActionKind::Command { .. } => "ACTION command".to_owned(),
                ActionKind::Manual { .. } => "manual checklist".to_owned(),
            };
            match &a.for_each {
                Some(list) => format!("{what}, for each of {list}"),
                None => what,
            }
        }
        StepKind::Note(_) => "note".to_owned(),
    };
    format!("{}\n[{kind}]", s.title)
}

fn is_change(kind: &StepKind) -> bool {
    match kind {
        StepKind::Action(a) => match &a.kind {
            ActionKind::Aws { op, .. } => op.effect() != Effect::ReadOnly,
            ActionKind::Command { .. } => true,
            ActionKind::Manual { .. } => false,
        },
        _ => false,
    }
}

/// Edges: (from, to, label, `is_failure_path`).
pub fn edges(pb: &Playbook) -> Vec<(usize, Next, Option<String>, bool)> {
    let mut out = Vec::new();
    for (i, s) in pb.steps.iter().enumerate() {
        match &s.kind {
            StepKind::Decision(d) => {
                for o in &d.options {
                    out.push((i, o.next, Some(o.label.clone()), false));
                }
            }
            _ => out.push((i, s.next, None, false)),
        }
        if let FailurePolicy::Goto(g) = s.on_failure {
            out.push((i, Next::Step(g), Some("on failure".to_owned()), true));
        }
    }
    out
}

fn mermaid_text(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        match c {
            '"' => out.push_str("#quot;"),
            '<' => out.push_str("#lt;"),
            '>' => out.push_str("#gt;"),
            '#' => out.push_str("#35;"),
            '\n' => out.push_str("<br/>"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

fn mermaid(pb: &Playbook) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "---\ntitle: \"{} {}\"\n---",
        mermaid_text(&pb.title),
        mermaid_text(&pb.version)
    );
    out.push_str("flowchart TD\n");
    out.push_str("  start((start))\n");
    for (si, stage) in pb.stages.iter().enumerate() {
        let _ = writeln!(
            out,
            "  subgraph stage{si}[\"{}\"]",
            mermaid_text(&format!("{} · {}", stage.title, stage.phase.title()))
        );
        out.push_str("    direction TB\n");
        for i in stage.steps.clone() {
            let text = mermaid_text(&label(pb, i));
            let node = match &pb.steps[i].kind {
                StepKind::Query(_) => format!("s{i}[(\"{text}\")]"),
                StepKind::Decision(_) => format!("s{i}{{\"{text}\"}}"),
                StepKind::Action(_) => format!("s{i}[[\"{text}\"]]"),
                StepKind::Note(_) => format!("s{i}([\"{text}\"])"),
            };
            let _ = writeln!(out, "    {node}");
        }
        out.push_str("  end\n");
    }
    out.push_str("  finish((end))\n");
    if !pb.steps.is_empty() {
        out.push_str("  start --> s0\n");
    }
    for (from, to, text, failure) in edges(pb) {
        let target = match to {
            Next::Step(j) => format!("s{j}"),
            Next::End => "finish".to_owned(),
        };
        let arrow = if failure { "-.->" } else { "-->" };
        match text {
            Some(t) => {
                let _ = writeln!(out, "  s{from} {arrow}|\"{}\"| {target}", mermaid_text(&t));
            }
            None => {
                let _ = writeln!(out, "  s{from} {arrow} {target}");
            }
        }
    }
    out.push_str("  classDef change fill:#fdd,stroke:#b00,stroke-width:2px\n");
    out.push_str("  classDef decision fill:#ffd,stroke:#a80\n");
    for (i, s) in pb.steps.iter().enumerate() {
        if is_change(&s.kind) {
            let _ = writeln!(out, "  class s{i} change");
        } else if matches!(s.kind, StepKind::Decision(_)) {
            let _ = writeln!(out, "  class s{i} decision");
        }
    }
    out
}

fn dot_text(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

fn dot(pb: &Playbook) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "digraph \"{}\" {{", dot_text(&pb.id));
    let _ = writeln!(
        out,
        "  label=\"{}\";",
        dot_text(&format!("{} {}", pb.title, pb.version))
    );
    out.push_str("  rankdir=TB;\n  node [fontname=\"Helvetica\", fontsize=10];\n  edge [fontname=\"Helvetica\", fontsize=9];\n");
    out.push_str("  start [shape=circle, label=\"start\"];\n  finish [shape=doublecircle, label=\"end\"];\n");
    for (si, stage) in pb.stages.iter().enumerate() {
        let _ = writeln!(out, "  subgraph cluster_{si} {{");
        let _ = writeln!(
            out,
            "    label=\"{}\";\n    style=rounded;",
            dot_text(&format!("{} ({})", stage.title, stage.phase.title()))
        );
        for i in stage.steps.clone() {
            let s = &pb.steps[i];
            let attrs = match &s.kind {
                StepKind::Query(_) => "shape=cylinder",
                StepKind::Decision(_) => "shape=diamond, style=filled, fillcolor=\"#ffffdd\"",
                StepKind::Action(_) if is_change(&s.kind) => {
                    "shape=box, style=\"filled,bold\", fillcolor=\"#ffdddd\", color=\"#bb0000\""
                }
                StepKind::Action(_) => "shape=box, style=filled, fillcolor=\"#eeeeee\"",
                StepKind::Note(_) => "shape=note",
            };
            let _ = writeln!(out, "    s{i} [label=\"{}\", {attrs}];", dot_text(&label(pb, i)));
        }
        out.push_str("  }\n");
    }
    if !pb.steps.is_empty() {
        out.push_str("  start -> s0;\n");
    }
    for (from, to, text, failure) in edges(pb) {
        let target = match to {
            Next::Step(j) => format!("s{j}"),
            Next::End => "finish".to_owned(),
        };
        let mut attrs = Vec::new();
        if let Some(t) = text {
            attrs.push(format!("label=\"{}\"", dot_text(&t)));
        }
        if failure {
            attrs.push("style=dashed".to_owned());
        }
        if attrs.is_empty() {
            let _ = writeln!(out, "  s{from} -> {target};");
        } else {
            let _ = writeln!(out, "  s{from} -> {target} [{}];", attrs.join(", "));
        }
    }
    out.push_str("}\n");
    out
}
