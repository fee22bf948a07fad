//! The report as Markdown (GitHub-flavoured: tables, fenced code, a Mermaid graph). Every value
//! that came from a log, an answer or a responder is escaped, so it cannot break a table, open a
//! link or smuggle HTML into a renderer.

// `o` (the output), `r` (the report), `pb`, `s`, `m`: short because every function here uses them.
#![allow(clippy::many_single_char_names)]

use std::fmt::Write as _;

use super::facts::{self, Piece, Table};
use super::{Detail, Report, duration_text, second_text};
use crate::playbook::model::{Next, Playbook};

/// Plain text: Markdown punctuation and HTML escaped, lines joined, control characters shown.
pub fn text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for (i, c) in s.char_indices() {
        match c {
            // GFM turns bare URLs (`https://…`, `www.…`) and e-mail addresses into links: text
            // from log data must stay text, so the character each autolink needs is escaped.
            ':' if s[i + 1..].starts_with("//") => out.push_str("\\:"),
            '@' => out.push_str("\\@"),
            '.' if out
                .get(out.len().saturating_sub(3)..)
                .is_some_and(|w| w.eq_ignore_ascii_case("www")) =>
            {
                out.push_str("\\.");
            }
            // Parentheses and `!` need no escape once brackets are escaped: no link can form.
            '\\' | '`' | '*' | '_' | '[' | ']' | '#' | '|' | '~' => {
                out.push('\\');
                out.push(c);
            }
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\n' | '\r' => out.push(' '),
            c if c.is_control() => out.push_str(&c.escape_unicode().to_string()),
            c => out.push(c),
        }
    }
    out
}

/// Inline code, safe in a table cell: the fence is longer than any run of backticks inside,
/// pipes are escaped (GFM splits cells before it reads code spans), lines joined.
pub fn code(s: &str) -> String {
    // A backslash before a pipe would pair with the pipe's escape and end the table cell
    // (tables split cells before code spans are read); escaped text is exact there.
    if s.contains('\\') {
        return text(s);
    }
    let mut body = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '|' => body.push_str("\\|"),
            '\n' | '\r' => body.push(' '),
            c if c.is_control() => body.push_str(&c.escape_unicode().to_string()),
            c => body.push(c),
        }
    }
    if body.is_empty() {
        return "` `".to_owned();
    }
    let fence = "`".repeat(longest_run(&body, '`') + 1);
    let pad = if body.starts_with('`') || body.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{body}{pad}{fence}")
}

/// A fenced block that no line of `body` can close.
fn fenced(out: &mut String, info: &str, body: &str, indent: &str) {
    let fence = "`".repeat(longest_run(body, '`').max(2) + 1);
    let _ = writeln!(out, "{indent}{fence}{info}");
    for line in body.lines() {
        let clean: String = line
            .chars()
            .map(|c| {
                if c.is_control() && c != '\t' {
                    '\u{FFFD}'
                } else {
                    c
                }
            })
            .collect();
        let _ = writeln!(out, "{indent}{clean}");
    }
    let _ = writeln!(out, "{indent}{fence}");
}

fn longest_run(s: &str, c: char) -> usize {
    let (mut best, mut run) = (0, 0);
    for x in s.chars() {
        if x == c {
            run += 1;
            best = best.max(run);
        } else {
            run = 0;
        }
    }
    best
}

pub fn render(r: &Report, pb: &Playbook) -> String {
    let mut o = String::new();
    let s = &r.summary;
    let _ = writeln!(o, "# Case report: {}\n", text(&s.playbook.title));
    let _ = writeln!(
        o,
        "Generated {} by {} from the case journal. Times are UTC.\n",
        second_text(&r.generated_at),
        r.generated_by
    );
    o.push_str("| | |\n|---|---|\n");
    let _ = writeln!(o, "| Case | {} |", code(&s.case));
    let _ = writeln!(
        o,
        "| Playbook | {} version {} · SHA-256 {} |",
        code(&s.playbook.id),
        text(&s.playbook.version),
        code(&s.playbook.sha256)
    );
    if !s.playbook.changes.is_empty() {
        let _ = writeln!(
            o,
            "| Playbook changes accepted | {} |",
            s.playbook
                .changes
                .iter()
                .map(|v| text(v))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let _ = writeln!(o, "| Mode | {} |", s.mode);
    let _ = writeln!(o, "| Status | {} |", s.status);
    let _ = writeln!(o, "| Outcome | {} |", text(&s.outcome));
    let _ = writeln!(o, "| Opened | {} |", second_text(&s.opened));
    let _ = writeln!(
        o,
        "| Closed | {} |",
        s.closed
            .as_deref()
            .map_or_else(|| "not closed".to_owned(), second_text)
    );
    let _ = writeln!(
        o,
        "| Duration | {} (paused {}) |",
        duration_text(s.duration_s),
        duration_text(s.paused_s)
    );
    let _ = writeln!(
        o,
        "| Participants | {} |",
        s.participants
            .iter()
            .map(|p| {
                let roles = if p.roles.is_empty() {
                    String::new()
                } else {
                    format!(" [{}]", text(&p.roles.join(", ")))
                };
                format!("{}{roles} ({} entries)", text(&p.actor), p.entries)
            })
            .collect::<Vec<_>>()
            .join(", ")
    );
    let i = &r.integrity;
    let integrity = if i.verified {
        format!(
            "verified: {} entries, hash chain intact, files match; head {}",
            i.entries,
            code(&i.head)
        )
    } else {
        format!(
            "**DAMAGED** at seq {}: {}; the report covers entries 0 to {}",
            i.first_bad_seq.unwrap_or(0),
            text(i.problem.as_deref().unwrap_or("")),
            i.first_bad_seq.unwrap_or(0).saturating_sub(1)
        )
    };
    let _ = writeln!(o, "| Journal | {integrity} |");
    let _ = writeln!(o, "| Signatures | {} |", signatures_text(i, &|s: &str| code(s)));
    if let Some(b) = i.torn_tail_bytes {
        let _ = writeln!(
            o,
            "| Torn tail | {b} bytes after the last entry, cut short by a crash (not part of the chain) |"
        );
    }
    if !s.inputs.is_empty() {
        o.push_str("\n**Inputs**\n\n");
        table(
            &mut o,
            &["Input", "Value"],
            s.inputs.iter().map(|(k, v)| {
                let v = match v {
                    serde_json::Value::String(x) => x.clone(),
                    other => other.to_string(),
                };
                vec![text(k), code(&v)]
            }),
        );
    }

    let m = &r.metrics;
    if let Some(score) = &r.score {
        o.push_str("\n## Rehearsal score\n\n");
        let _ = writeln!(o, "{}\n", text(&score.headline()));
        for t in score.tables() {
            let _ = writeln!(o, "**{}**\n", t.title);
            table(
                &mut o,
                &t.head,
                t.rows.iter().map(|r| r.iter().map(|c| text(c)).collect()),
            );
            o.push('\n');
        }
        if !score.practise.is_empty() {
            o.push_str("**What to practise next**\n\n");
            for p in &score.practise {
                let _ = writeln!(o, "- {}", text(p));
            }
        }
    }
    if let Some(problem) = &r.exercise_problem {
        let _ = writeln!(o, "\n**The rehearsal cannot be scored:** {}", text(problem));
    }
    o.push_str("\n## Metrics\n\n");
    table(
        &mut o,
        &["Measure", "From opening", "At", "Marked by"],
        [
            ("Time to detect", &m.time_to_detect),
            ("Time to contain", &m.time_to_contain),
            ("Time to recover", &m.time_to_recover),
        ]
        .into_iter()
        .map(|(name, ms)| match ms {
            Some(x) => vec![
                name.to_owned(),
                duration_text(x.seconds),
                second_text(&x.at),
                format!("{} (seq {})", text(&x.what), x.seq),
            ],
            None => vec![
                name.to_owned(),
                "—".to_owned(),
                "—".to_owned(),
                "not reached".to_owned(),
            ],
        }),
    );
    let stages = |ids: &[String]| {
        if ids.is_empty() {
            "—".to_owned()
        } else {
            ids.iter().map(|x| code(x)).collect::<Vec<_>>().join(", ")
        }
    };
    o.push_str("\n### By NIST SP 800-61 r2 phase\n\n");
    table(
        &mut o,
        &["Phase", "Time", "Stages"],
        m.phases
            .iter()
            .map(|p| vec![p.title.clone(), duration_text(p.seconds), stages(&p.stages)]),
    );
    o.push_str(
        "\n### By NIST SP 800-61 r3 function (CSF 2.0)\n\nA stage counts for each of its functions.\n\n",
    );
    table(
        &mut o,
        &["Function", "Time", "Stages"],
        m.csf_functions.iter().map(|f| {
            vec![
                format!("{} ({})", f.name, f.function),
                duration_text(f.seconds),
                stages(&f.stages),
            ]
        }),
    );
    o.push_str("\n### By stage and step\n\n| Stage / step | Kind | CSF | Visits | Time | Status |\n|---|---|---|---|---|---|\n");
    for st in &m.stages {
        let _ = writeln!(
            o,
            "| **{}** ({}; {}) | stage | {} | | **{}** | |",
            text(&st.title),
            st.phase,
            if st.functions.is_empty() {
                "—".to_owned()
            } else {
                st.functions.join(", ")
            },
            st.csf.join(", "),
            duration_text(st.seconds)
        );
        for x in &st.steps {
            let _ = writeln!(
                o,
                "| {} {} | {} | {} | {} | {} | {} |",
                if x.visits == 0 { "·" } else { "↳" },
                code(&x.id),
                super::step_kind_text(pb, &x.id),
                x.csf.join(", "),
                x.visits,
                if x.visits == 0 {
                    "—".to_owned()
                } else {
                    duration_text(x.seconds)
                },
                super::ItemCounts::status(&x.status, x.items.as_ref())
            );
        }
    }
    o.push_str("\n### Deviations\n\n");
    if m.deviations.is_empty() {
        o.push_str("None: the case followed the playbook without skips, re-runs, back-steps or failures.\n");
    } else {
        shared_table(&mut o, &facts::deviations(&m.deviations));
    }

    o.push_str("\n## Evidence and indicators\n\n");
    if r.evidence.is_empty() {
        o.push_str("No evidence was recorded.\n");
    } else {
        shared_table(&mut o, &facts::evidence(&r.evidence));
    }

    o.push_str("\n## ATT&CK techniques and D3FEND defences\n\n");
    let t = &r.techniques;
    if t.attack.is_empty() && t.attack_not_evidenced.is_empty() {
        o.push_str("No ATT&CK technique: the steps with evidence name none.\n");
    } else {
        let _ = writeln!(
            o,
            "What the evidence speaks for (MITRE ATT&CK Enterprise v{}):\n",
            t.attack_version
        );
        shared_table(&mut o, &facts::attack(t));
    }
    if t.d3fend.is_empty() {
        o.push_str("\nNo D3FEND defence: no action carried out names one.\n");
    } else {
        o.push_str("\nDefences applied (MITRE D3FEND):\n\n");
        shared_table(&mut o, &facts::d3fend(t));
    }

    o.push_str("\n## Path through the playbook\n\n");
    let _ = writeln!(
        o,
        "Steps entered, in order: {}{}\n",
        if r.path.steps.is_empty() {
            "none".to_owned()
        } else {
            r.path
                .steps
                .iter()
                .map(|x| code(x))
                .collect::<Vec<_>>()
                .join(" → ")
        },
        if r.path.reached_end { " → end" } else { "" }
    );
    o.push_str("Steps and branches not taken are grey; back-steps are dashed.\n\n");
    fenced(&mut o, "mermaid", &mermaid(r, pb), "");

    o.push_str("\n## Timeline\n\n");
    for t in &r.timeline {
        let place = match (&t.step, &t.stage) {
            (Some(s), Some(st)) => format!(" · {} in {}", code(s), code(st)),
            (Some(s), None) => format!(" · {}", code(s)),
            _ => String::new(),
        };
        let _ = writeln!(
            o,
            "- **{}** · seq {} · {} · {}{place} — {}{}",
            second_text(&t.at),
            t.seq,
            text(&t.actor),
            t.kind,
            text(&t.text),
            t.signed_by
                .as_ref()
                .map(|k| format!(" · signed {}", code(k)))
                .unwrap_or_default()
        );
        detail(&mut o, &t.detail);
    }
    if !s.sessions.is_empty() {
        o.push_str("\n## Sessions\n\n");
        shared_table(&mut o, &facts::sessions(&s.sessions));
    }
    o
}

/// A GitHub-flavoured table: the header, then a row per item; cells are Markdown already
/// escaped by the caller.
fn table(o: &mut String, head: &[&str], rows: impl IntoIterator<Item = Vec<String>>) {
    let _ = writeln!(o, "| {} |", head.join(" | "));
    let _ = writeln!(o, "|{}", "---|".repeat(head.len()));
    for row in rows {
        let _ = writeln!(o, "| {} |", row.join(" | "));
    }
}

/// A table the formats share.
fn shared_table(o: &mut String, t: &Table<'_>) {
    table(
        o,
        t.head,
        t.rows
            .iter()
            .map(|row| row.iter().map(|cell| pieces(cell)).collect()),
    );
}

/// Pieces of a fact line or a cell, escaped.
fn pieces(line: &[Piece<'_>]) -> String {
    let mut out = String::new();
    for p in line {
        match p {
            // irp's own words hold no markup.
            Piece::Words(w) => out.push_str(w),
            Piece::Text(t) => out.push_str(&text(t)),
            Piece::Code(c) => out.push_str(&code(c)),
            Piece::File(a) => {
                let _ = write!(
                    out,
                    "{} ({} bytes, SHA-256 {})",
                    code(&a.path),
                    a.bytes,
                    code(&a.sha256)
                );
            }
        }
    }
    out
}

fn detail(o: &mut String, d: &Detail) {
    const IN: &str = "  ";
    let f = super::facts::facts(d);
    for line in &f.lines {
        let out = pieces(line);
        let _ = writeln!(o, "{IN}- {out}");
    }
    if let Some((lang, body)) = f.block {
        fenced(o, lang, body, IN);
    }
}

/// The playbook's Mermaid graph with the path over it: steps not entered and edges not taken
/// grey, back-steps dashed.
fn mermaid(r: &Report, pb: &Playbook) -> String {
    let mut out = crate::playbook::graph::render(pb, crate::playbook::graph::GraphFormat::Mermaid);
    // Edge order in the drawing: `start --> s0`, then `graph::edges` in order.
    let mut index = 0usize;
    let mut taken_links = Vec::new();
    let mut grey_links = Vec::new();
    let id_of = |n: Next| match n {
        Next::Step(j) => pb.steps[j].id.clone(),
        Next::End => "end".to_owned(),
    };
    if let Some(first) = pb.steps.first() {
        let taken = r
            .path
            .edges
            .iter()
            .any(|e| e.from == "start" && e.to == first.id && e.taken > 0);
        if taken { &mut taken_links } else { &mut grey_links }.push(index);
        index += 1;
    }
    for (from, to, _, _) in crate::playbook::graph::edges(pb) {
        let (f, t) = (pb.steps[from].id.clone(), id_of(to));
        let taken = r
            .path
            .edges
            .iter()
            .any(|e| e.from == f && e.to == t && e.via != "back" && e.taken > 0);
        if taken { &mut taken_links } else { &mut grey_links }.push(index);
        index += 1;
    }
    for e in r.path.edges.iter().filter(|e| e.via == "back" && e.taken > 0) {
        if let (Some(a), Some(b)) = (pb.step_index(&e.from), pb.step_index(&e.to)) {
            let _ = writeln!(out, "  s{a} -.->|\"back\"| s{b}");
            taken_links.push(index);
            index += 1;
        }
    }
    out.push_str("  classDef untaken fill:#f4f4f4,stroke:#c8c8c8,color:#9a9a9a\n");
    out.push_str("  classDef taken stroke:#1f4e9c,stroke-width:3px\n");
    for (i, n) in r.path.nodes.iter().enumerate() {
        let _ = writeln!(
            out,
            "  class s{i} {}",
            if n.visits > 0 { "taken" } else { "untaken" }
        );
    }
    if !grey_links.is_empty() {
        let _ = writeln!(
            out,
            "  linkStyle {} stroke:#cfcfcf,stroke-width:1px",
            grey_links
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(",")
        );
    }
    if !taken_links.is_empty() {
        let _ = writeln!(
            out,
            "  linkStyle {} stroke:#1f4e9c,stroke-width:3px",
            taken_links
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(",")
        );
    }
    out
}

/// The signatures row: who signed which entries, or that none is signed.
pub(super) fn signatures_text(i: &super::Integrity, key: &dyn Fn(&str) -> String) -> String {
    if i.signers.is_empty() {
        return format!(
            "none: the entries are not signed ({}, docs/evidence.md)",
            key("irp run --signing-key")
        );
    }
    let mut parts: Vec<String> = i
        .signers
        .iter()
        .map(|s| {
            let seqs = if s.from_seq == s.to_seq {
                format!("seq {}", s.from_seq)
            } else {
                format!("seq {}–{}", s.from_seq, s.to_seq)
            };
            format!("{seqs} by {}", key(&s.key))
        })
        .collect();
    let unsigned = i.entries.saturating_sub(i.signed_entries);
    if unsigned > 0 {
        parts.push(format!("{unsigned} entries unsigned"));
    }
    format!(
        "{} of {} entries signed: {} (keys not checked against an allowed signers file: {})",
        i.signed_entries,
        i.entries,
        parts.join("; "),
        key("irp verify --allowed-signers")
    )
}
