//! The report as one self-contained HTML file: inline CSS, inline SVG (a timeline chart per
//! stage, the path graph), no script, no font, no request of any kind (a Content-Security-Policy
//! forbids them), readable on paper. Every value is HTML-escaped.

// `o` (the output), `r` (the report), `pb`, `s`, `m`: short because every function here uses them.
#![allow(clippy::many_single_char_names)]
// Drawing coordinates: counts and milliseconds far below 2^52, rounded to pixels on purpose.
#![allow(clippy::cast_precision_loss, clippy::cast_possible_truncation)]

use std::fmt::Write as _;

use chrono::{DateTime, Utc};

use super::facts::{self, Piece, Table};
use super::{Detail, Report, StageMetric, duration_text, second_text};
use crate::playbook::model::Playbook;

/// Text made safe for HTML element content and attribute values; control characters shown as
/// escapes (HTML cannot carry most of them).
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\n' | '\t' => out.push(c),
            c if c.is_control() => out.push_str(&c.escape_unicode().to_string()),
            c => out.push(c),
        }
    }
    out
}

fn time(at: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(at)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

const STYLE: &str = r"
body { font-family: system-ui, -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif; margin: 2em auto; max-width: 1100px; color: #1b1b1b; line-height: 1.4; padding: 0 1em; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; } h2 { border-bottom: 2px solid #ddd; padding-bottom: 0.2em; margin-top: 1.8em; }
table { border-collapse: collapse; margin: 0.6em 0; width: 100%; font-size: 0.92em; }
th, td { border: 1px solid #d6d6d6; padding: 0.25em 0.5em; text-align: left; vertical-align: top; }
th { background: #f2f2f2; }
code, pre { font-family: ui-monospace, 'SFMono-Regular', Menlo, Consolas, monospace; font-size: 0.9em; }
code { background: #f4f4f4; padding: 0 0.2em; word-break: break-all; }
pre { background: #f7f7f7; border: 1px solid #e2e2e2; padding: 0.5em; white-space: pre-wrap; word-break: break-word; margin: 0.3em 0; }
.badge { display: inline-block; padding: 0.15em 0.6em; border-radius: 0.3em; font-weight: 600; }
.ok { background: #dff3e1; color: #14532d; border: 1px solid #7cc58a; }
.bad { background: #fde2e2; color: #7f1d1d; border: 1px solid #e08a8a; }
.warn { background: #fff4d6; color: #6b4b00; border: 1px solid #e0c068; }
.muted { color: #777; }
.entry { border-left: 3px solid #ccc; padding: 0.2em 0 0.2em 0.6em; margin: 0.35em 0; page-break-inside: avoid; }
.entry.query { border-color: #2f6fb3; } .entry.decision { border-color: #b07a00; } .entry.action { border-color: #b32f2f; }
.entry.rollback { border-color: #7a3fb3; } .entry.note { border-color: #6b6b6b; } .entry.evidence { border-color: #1f8a4c; }
.entry .when { font-weight: 600; } .facts { margin: 0.1em 0 0 0; padding-left: 1.2em; }
svg text { font-family: system-ui, Helvetica, Arial, sans-serif; }
svg { max-width: 100%; height: auto; }
figure { margin: 0.8em 0; } figcaption { font-size: 0.85em; color: #555; }
@media print { body { margin: 0; max-width: none; } h2 { page-break-after: avoid; } svg { max-width: 100%; height: auto; } }
";

pub fn render(r: &Report, pb: &Playbook) -> String {
    let mut o = String::new();
    let s = &r.summary;
    o.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    o.push_str("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">\n");
    o.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    let _ = writeln!(
        o,
        "<title>Case report: {} — {}</title>",
        esc(&s.playbook.title),
        esc(&s.case)
    );
    let _ = writeln!(o, "<style>{STYLE}</style>\n</head>\n<body>");
    let _ = writeln!(o, "<h1>Case report: {}</h1>", esc(&s.playbook.title));
    let i = &r.integrity;
    let badge = if i.verified {
        format!(
            "<span class=\"badge ok\" id=\"integrity\">journal verified: {} entries, hash chain intact, files match</span>",
            i.entries
        )
    } else {
        format!(
            "<span class=\"badge bad\" id=\"integrity\">journal DAMAGED at seq {}: {}</span>",
            i.first_bad_seq.unwrap_or(0),
            esc(i.problem.as_deref().unwrap_or(""))
        )
    };
    let _ = writeln!(
        o,
        "<p>{badge} <span class=\"muted\">Generated {} by {}. Times are UTC.</span></p>",
        esc(&second_text(&r.generated_at)),
        esc(&r.generated_by)
    );

    // Summary.
    o.push_str("<h2 id=\"summary\">Summary</h2>\n<table>\n");
    let row = |o: &mut String, k: &str, v: String| {
        let _ = writeln!(o, "<tr><th>{k}</th><td>{v}</td></tr>");
    };
    row(&mut o, "Case", format!("<code>{}</code>", esc(&s.case)));
    row(
        &mut o,
        "Playbook",
        format!(
            "<code>{}</code> version {} · SHA-256 <code>{}</code>",
            esc(&s.playbook.id),
            esc(&s.playbook.version),
            esc(&s.playbook.sha256)
        ),
    );
    if !s.playbook.changes.is_empty() {
        row(
            &mut o,
            "Playbook changes accepted",
            esc(&s.playbook.changes.join(", ")),
        );
    }
    row(&mut o, "Mode", esc(&s.mode));
    row(&mut o, "Status", esc(&s.status));
    row(&mut o, "Outcome", esc(&s.outcome));
    row(&mut o, "Opened", esc(&second_text(&s.opened)));
    row(
        &mut o,
        "Closed",
        esc(&s
            .closed
            .as_deref()
            .map_or_else(|| "not closed".to_owned(), second_text)),
    );
    row(
        &mut o,
        "Duration",
        format!(
            "{} (paused {})",
            duration_text(s.duration_s),
            duration_text(s.paused_s)
        ),
    );
    row(
        &mut o,
        "Participants",
        s.participants
            .iter()
            .map(|p| {
                let roles = if p.roles.is_empty() {
                    String::new()
                } else {
                    format!(" [{}]", esc(&p.roles.join(", ")))
                };
                format!("{}{roles} ({} entries)", esc(&p.actor), p.entries)
            })
            .collect::<Vec<_>>()
            .join(", "),
    );
    row(
        &mut o,
        "Signatures",
        super::markdown::signatures_text(i, &|s: &str| format!("<code>{}</code>", esc(s))),
    );
    row(
        &mut o,
        "Journal",
        if i.verified {
            format!("head <code>{}</code>", esc(&i.head))
        } else {
            format!(
                "the report covers entries 0 to {}; `irp verify` names the damage",
                i.first_bad_seq.unwrap_or(0).saturating_sub(1)
            )
        },
    );
    if let Some(b) = i.torn_tail_bytes {
        row(
            &mut o,
            "Torn tail",
            format!("<span class=\"badge warn\">{b} bytes after the last entry, cut short by a crash</span>"),
        );
    }
    o.push_str("</table>\n");
    if !s.inputs.is_empty() {
        table(
            &mut o,
            &["Input", "Value"],
            s.inputs.iter().map(|(k, v)| {
                let v = match v {
                    serde_json::Value::String(x) => x.clone(),
                    other => other.to_string(),
                };
                vec![esc(k), format!("<code>{}</code>", esc(&v))]
            }),
        );
    }

    if let Some(score) = &r.score {
        o.push_str("<h2 id=\"score\">Rehearsal score</h2>\n");
        let _ = writeln!(o, "<p><strong>{}</strong></p>", esc(&score.headline()));
        for t in score.tables() {
            let _ = writeln!(o, "<h3>{}</h3>", esc(t.title));
            table(
                &mut o,
                &t.head,
                t.rows.iter().map(|r| r.iter().map(|c| esc(c)).collect()),
            );
        }
        if !score.practise.is_empty() {
            o.push_str("<h3>What to practise next</h3>\n<ul>\n");
            for p in &score.practise {
                let _ = writeln!(o, "<li>{}</li>", esc(p));
            }
            o.push_str("</ul>\n");
        }
    }
    if let Some(problem) = &r.exercise_problem {
        let _ = writeln!(
            o,
            "<p class=\"badge bad\">The rehearsal cannot be scored: {}</p>",
            esc(problem)
        );
    }

    // Metrics.
    let m = &r.metrics;
    o.push_str("<h2 id=\"metrics\">Metrics</h2>\n");
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
                esc(&second_text(&x.at)),
                format!("{} (seq {})", esc(&x.what), x.seq),
            ],
            None => vec![
                name.to_owned(),
                "—".to_owned(),
                "—".to_owned(),
                "<span class=\"muted\">not reached</span>".to_owned(),
            ],
        }),
    );
    o.push_str("<h3>By NIST SP 800-61 r2 phase</h3>\n");
    table(
        &mut o,
        &["Phase", "Time", "Stages"],
        m.phases
            .iter()
            .map(|p| vec![esc(&p.title), duration_text(p.seconds), esc(&p.stages.join(", "))]),
    );
    o.push_str("<h3>By NIST SP 800-61 r3 function (CSF 2.0)</h3>\n<p>A stage counts for each of its functions.</p>\n");
    table(
        &mut o,
        &["Function", "Time", "Stages"],
        m.csf_functions.iter().map(|f| {
            vec![
                format!("{} ({})", esc(&f.name), esc(&f.function)),
                duration_text(f.seconds),
                esc(&f.stages.join(", ")),
            ]
        }),
    );
    o.push_str("<h3>By stage and step</h3>\n<table><tr><th>Stage / step</th><th>Kind</th><th>CSF</th><th>Visits</th><th>Time</th><th>Status</th></tr>\n");
    for st in &m.stages {
        let _ = writeln!(
            o,
            "<tr><th>{} <span class=\"muted\">({}; {})</span></th><th>stage</th><th>{}</th><th></th><th>{}</th><th></th></tr>",
            esc(&st.title),
            esc(&st.phase),
            esc(&if st.functions.is_empty() {
                "—".to_owned()
            } else {
                st.functions.join(", ")
            }),
            esc(&st.csf.join(", ")),
            duration_text(st.seconds)
        );
        for x in &st.steps {
            let class = if x.visits == 0 { " class=\"muted\"" } else { "" };
            let _ = writeln!(
                o,
                "<tr{class}><td><code>{}</code> {}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&x.id),
                esc(&x.title),
                esc(&super::step_kind_text(pb, &x.id)),
                esc(&x.csf.join(", ")),
                x.visits,
                if x.visits == 0 {
                    "—".to_owned()
                } else {
                    duration_text(x.seconds)
                },
                esc(&super::ItemCounts::status(&x.status, x.items.as_ref()))
            );
        }
    }
    o.push_str("</table>\n<h3 id=\"deviations\">Deviations</h3>\n");
    if m.deviations.is_empty() {
        o.push_str(
            "<p>None: the case followed the playbook without skips, re-runs, back-steps or failures.</p>\n",
        );
    } else {
        shared_table(&mut o, &facts::deviations(&m.deviations));
    }

    // Evidence.
    o.push_str("<h2 id=\"evidence\">Evidence and indicators</h2>\n");
    if r.evidence.is_empty() {
        o.push_str("<p>No evidence was recorded.</p>\n");
    } else {
        shared_table(&mut o, &facts::evidence(&r.evidence));
    }

    o.push_str("<h2 id=\"techniques\">ATT&amp;CK techniques and D3FEND defences</h2>\n");
    let t = &r.techniques;
    if t.attack.is_empty() && t.attack_not_evidenced.is_empty() {
        o.push_str("<p>No ATT&amp;CK technique: the steps with evidence name none.</p>\n");
    } else {
        let _ = writeln!(
            o,
            "<p>What the evidence speaks for (MITRE ATT&amp;CK Enterprise v{}):</p>",
            esc(&t.attack_version)
        );
        shared_table(&mut o, &facts::attack(t));
    }
    if t.d3fend.is_empty() {
        o.push_str("<p>No D3FEND defence: no action carried out names one.</p>\n");
    } else {
        o.push_str("<p>Defences applied (MITRE D3FEND):</p>\n");
        shared_table(&mut o, &facts::d3fend(t));
    }

    // The path.
    o.push_str("<h2 id=\"path\">Path through the playbook</h2>\n");
    let _ = writeln!(
        o,
        "<p>Steps entered, in order: {}{}</p>",
        if r.path.steps.is_empty() {
            "none".to_owned()
        } else {
            r.path
                .steps
                .iter()
                .map(|x| format!("<code>{}</code>", esc(x)))
                .collect::<Vec<_>>()
                .join(" → ")
        },
        if r.path.reached_end { " → end" } else { "" }
    );
    o.push_str("<figure>\n");
    graph_svg(&mut o, r, pb);
    o.push_str("<figcaption>One column per stage. Steps entered are outlined in blue with their visits; steps and branches not taken are grey; back-steps are dashed orange.</figcaption>\n</figure>\n");

    // Timeline.
    o.push_str("<h2 id=\"timeline\">Timeline</h2>\n");
    for st in &m.stages {
        stage_svg(&mut o, r, st);
    }
    for t in &r.timeline {
        let class = t.detail.class();
        let place = match (&t.step, &t.stage) {
            (Some(s), Some(st)) => format!(" · <code>{}</code> in {}", esc(s), esc(st)),
            (Some(s), None) => format!(" · <code>{}</code>", esc(s)),
            _ => String::new(),
        };
        let _ = writeln!(
            o,
            "<div class=\"entry {class}\" id=\"seq-{}\"><span class=\"when\">{}</span> · seq {} · {} · {}{place} — {}",
            t.seq,
            esc(&second_text(&t.at)),
            t.seq,
            esc(&t.actor),
            esc(&t.kind),
            esc(&t.text)
        );
        if let Some(k) = &t.signed_by {
            let _ = write!(
                o,
                " · <span class=\"signed\">signed <code>{}</code></span>",
                esc(k)
            );
        }
        detail(&mut o, &t.detail);
        o.push_str("</div>\n");
    }
    if !s.sessions.is_empty() {
        o.push_str("<h2 id=\"sessions\">Sessions</h2>\n");
        shared_table(&mut o, &facts::sessions(&s.sessions));
    }
    o.push_str("</body>\n</html>\n");
    o
}

/// A table: the header, then a row per item; cells are HTML already escaped by the caller.
fn table(o: &mut String, head: &[&str], rows: impl IntoIterator<Item = Vec<String>>) {
    o.push_str("<table><tr>");
    for h in head {
        let _ = write!(o, "<th>{h}</th>");
    }
    o.push_str("</tr>\n");
    for row in rows {
        o.push_str("<tr>");
        for cell in row {
            let _ = write!(o, "<td>{cell}</td>");
        }
        o.push_str("</tr>\n");
    }
    o.push_str("</table>\n");
}

/// A table the formats share.
fn shared_table(o: &mut String, t: &Table<'_>) {
    table(
        o,
        t.head,
        t.rows.iter().map(|row| {
            row.iter()
                .map(|cell| {
                    let mut out = String::new();
                    pieces(&mut out, cell);
                    out
                })
                .collect()
        }),
    );
}

/// Pieces of a fact line or a cell, escaped.
fn pieces(o: &mut String, line: &[Piece<'_>]) {
    for p in line {
        match p {
            Piece::Words(w) => o.push_str(&esc(w)),
            Piece::Text(t) => o.push_str(&esc(t)),
            Piece::Code(c) => {
                let _ = write!(o, "<code>{}</code>", esc(c));
            }
            Piece::File(a) => {
                let _ = write!(
                    o,
                    "<code>{}</code> ({} bytes, SHA-256 <code>{}</code>)",
                    esc(&a.path),
                    a.bytes,
                    esc(&a.sha256)
                );
            }
        }
    }
}

fn detail(o: &mut String, d: &Detail) {
    let f = super::facts::facts(d);
    if !f.lines.is_empty() {
        o.push_str("<ul class=\"facts\">");
        for line in &f.lines {
            o.push_str("<li>");
            pieces(o, line);
            o.push_str("</li>");
        }
        o.push_str("</ul>\n");
    }
    if let Some((_, body)) = f.block {
        let _ = writeln!(o, "<pre>{}</pre>", esc(body));
    }
}

const KIND_COLOURS: [(&str, &str); 7] = [
    ("query", "#2f6fb3"),
    ("decision", "#b07a00"),
    ("action", "#b32f2f"),
    ("rollback", "#7a3fb3"),
    ("note", "#6b6b6b"),
    ("evidence", "#1f8a4c"),
    ("other", "#444444"),
];

fn colour_of(kind: &str) -> &'static str {
    KIND_COLOURS
        .iter()
        .find(|(k, _)| *k == kind)
        .map_or("#999999", |(_, c)| c)
}

/// One chart per stage the case entered: a row per step, bars for the time the case stood on it,
/// and a mark for every entry about it, coloured by kind.
fn stage_svg(o: &mut String, r: &Report, st: &StageMetric) {
    let rows: Vec<_> = st.steps.iter().filter(|s| !s.spans.is_empty()).collect();
    if rows.is_empty() {
        return;
    }
    let mut lo: Option<DateTime<Utc>> = None;
    let mut hi: Option<DateTime<Utc>> = None;
    let mut widen = |t: Option<DateTime<Utc>>| {
        if let Some(t) = t {
            lo = Some(lo.map_or(t, |x| x.min(t)));
            hi = Some(hi.map_or(t, |x| x.max(t)));
        }
    };
    for s in &rows {
        for sp in &s.spans {
            widen(time(&sp.from));
            widen(time(&sp.to));
        }
    }
    let marks: Vec<_> = r
        .timeline
        .iter()
        .filter(|t| t.stage.as_deref() == Some(st.id.as_str()))
        .collect();
    for t in &marks {
        widen(time(&t.at));
    }
    let (Some(lo), Some(hi)) = (lo, hi) else { return };
    let span_ms = (hi - lo).num_milliseconds().max(1) as f64;
    let (left, width, row_h, top) = (190.0, 700.0, 22.0, 26.0);
    let height = top + row_h * rows.len() as f64 + 30.0;
    let x = |t: DateTime<Utc>| left + width * ((t - lo).num_milliseconds() as f64 / span_ms);
    let _ = writeln!(
        o,
        "<figure><svg class=\"stage-timeline\" data-stage=\"{}\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{height:.0}\" viewBox=\"0 0 {} {height:.0}\" role=\"img\" aria-label=\"Timeline of stage {}\">",
        esc(&st.id),
        left + width + 20.0,
        left + width + 20.0,
        esc(&st.title)
    );
    let _ = writeln!(
        o,
        "<text x=\"0\" y=\"16\" font-size=\"13\" font-weight=\"600\">{} — {}</text>",
        esc(&st.title),
        duration_text(st.seconds)
    );
    for (i, s) in rows.iter().enumerate() {
        let y = top + row_h * i as f64;
        let _ = writeln!(
            o,
            "<text x=\"0\" y=\"{:.1}\" font-size=\"11\">{}</text>",
            y + 14.0,
            esc(&clip(&s.id, 30))
        );
        let _ = writeln!(
            o,
            "<line x1=\"{left}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" stroke=\"#eeeeee\"/>",
            y + row_h / 2.0,
            left + width,
            y + row_h / 2.0
        );
        for sp in &s.spans {
            if let (Some(a), Some(b)) = (time(&sp.from), time(&sp.to)) {
                let _ = writeln!(
                    o,
                    "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"#dbe6f5\" stroke=\"#8fb0dc\"><title>{} on {}: {} to {}</title></rect>",
                    x(a),
                    y + 4.0,
                    (x(b) - x(a)).max(1.5),
                    row_h - 8.0,
                    esc(&s.id),
                    esc(&st.id),
                    esc(&second_text(&sp.from)),
                    esc(&second_text(&sp.to))
                );
            }
        }
        for t in marks.iter().filter(|t| t.step.as_deref() == Some(s.id.as_str())) {
            if let Some(at) = time(&t.at) {
                let kind = t.detail.class();
                let _ = writeln!(
                    o,
                    "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"4\" fill=\"{}\"><title>seq {} {}: {}</title></circle>",
                    x(at),
                    y + row_h / 2.0,
                    colour_of(kind),
                    t.seq,
                    esc(&second_text(&t.at)),
                    esc(&t.text)
                );
            }
        }
    }
    // The axis: start, middle, end.
    let base = top + row_h * rows.len() as f64 + 6.0;
    let _ = writeln!(
        o,
        "<line x1=\"{left}\" y1=\"{base:.1}\" x2=\"{:.1}\" y2=\"{base:.1}\" stroke=\"#888888\"/>",
        left + width
    );
    for (frac, anchor) in [(0.0, "start"), (0.5, "middle"), (1.0, "end")] {
        let t = lo + chrono::Duration::milliseconds((span_ms * frac) as i64);
        let _ = writeln!(
            o,
            "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\" text-anchor=\"{anchor}\" fill=\"#555555\">{}</text>",
            left + width * frac,
            base + 14.0,
            t.format("%H:%M:%S")
        );
    }
    o.push_str("</svg>\n");
    let _ = writeln!(
        o,
        "<figcaption>{}: bars are the time the case stood on a step; marks are entries (blue query, amber decision, red action, purple rollback, grey note, green evidence).</figcaption></figure>",
        esc(&st.title)
    );
}

fn clip(s: &str, n: usize) -> String {
    if s.chars().count() > n {
        format!("{}…", s.chars().take(n - 1).collect::<String>())
    } else {
        s.to_owned()
    }
}

/// The playbook's steps in one column per stage, with every edge: taken ones bold and blue,
/// the others grey, back-steps dashed orange.
fn graph_svg(o: &mut String, r: &Report, pb: &Playbook) {
    let (col_w, box_w, box_h, gap, top) = (230.0, 190.0, 30.0, 14.0, 4.0);
    let mut pos: std::collections::HashMap<&str, (f64, f64)> = std::collections::HashMap::new();
    let mut tallest = 0usize;
    for (si, st) in pb.stages.iter().enumerate() {
        for (k, i) in st.steps.clone().enumerate() {
            pos.insert(
                pb.steps[i].id.as_str(),
                (20.0 + col_w * si as f64, top + 30.0 + (box_h + gap) * k as f64),
            );
        }
        tallest = tallest.max(st.steps.len());
    }
    let width = 40.0 + col_w * pb.stages.len() as f64;
    let end_y = top + 30.0 + (box_h + gap) * tallest as f64 + 10.0;
    let height = end_y + 50.0;
    pos.insert("end", (width - col_w, end_y));
    let _ = writeln!(
        o,
        "<svg id=\"path-graph\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{width:.0}\" height=\"{height:.0}\" viewBox=\"0 0 {width:.0} {height:.0}\" role=\"img\" aria-label=\"The path through the playbook\">"
    );
    o.push_str("<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"9\" refY=\"5\" markerWidth=\"5\" markerHeight=\"5\" orient=\"auto-start-reverse\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"#1f4e9c\"/></marker>");
    o.push_str("<marker id=\"arrow-grey\" viewBox=\"0 0 10 10\" refX=\"9\" refY=\"5\" markerWidth=\"5\" markerHeight=\"5\" orient=\"auto-start-reverse\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"#cfcfcf\"/></marker></defs>\n");
    for (si, st) in pb.stages.iter().enumerate() {
        let _ = writeln!(
            o,
            "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"12\" font-weight=\"600\">{}</text>",
            20.0 + col_w * si as f64,
            top + 14.0,
            esc(&clip(&st.title, 30))
        );
    }
    // Edges under the boxes: grey first, then taken, then back-steps.
    // An edge's path: down a column from the bottom of one box to the top of the next; across
    // columns from the side facing the target; up a column (a loop) around the boxes' left.
    let route = |from: &str, to: &str| -> Option<String> {
        let (fx, fy) = *pos.get(from)?;
        let (tx, ty) = *pos.get(to)?;
        let fw = if from == "end" { 60.0 } else { box_w };
        let tw = if to == "end" { 60.0 } else { box_w };
        let d = if (fx - tx).abs() < 1.0 && ty > fy {
            let (x, y1, y2) = (fx + fw / 2.0, fy + box_h, ty);
            let mid = f64::midpoint(y1, y2);
            format!("M{x:.1},{y1:.1} C{x:.1},{mid:.1} {x:.1},{mid:.1} {x:.1},{y2:.1}")
        } else if (fx - tx).abs() < 1.0 {
            let (x, y1, y2) = (fx, fy + box_h / 2.0, ty + box_h / 2.0);
            let bulge = x - 14.0;
            format!("M{x:.1},{y1:.1} C{bulge:.1},{y1:.1} {bulge:.1},{y2:.1} {x:.1},{y2:.1}")
        } else {
            let right = tx > fx;
            let x1 = if right { fx + fw } else { fx };
            let x2 = if right { tx } else { tx + tw };
            let (y1, y2) = (fy + box_h / 2.0, ty + box_h / 2.0);
            let mid = f64::midpoint(x1, x2);
            format!("M{x1:.1},{y1:.1} C{mid:.1},{y1:.1} {mid:.1},{y2:.1} {x2:.1},{y2:.1}")
        };
        Some(d)
    };
    let mut layers = [String::new(), String::new(), String::new()];
    for e in &r.path.edges {
        // The first step is marked by its place; no start node is drawn.
        if e.from == "start" {
            continue;
        }
        let Some(d) = route(&e.from, &e.to) else {
            continue;
        };
        let (layer, style) = if e.via == "back" {
            (
                2,
                "stroke=\"#d9822b\" stroke-width=\"2\" stroke-dasharray=\"6 4\" fill=\"none\" marker-end=\"url(#arrow)\"",
            )
        } else if e.taken > 0 {
            (
                1,
                "stroke=\"#1f4e9c\" stroke-width=\"2.5\" fill=\"none\" marker-end=\"url(#arrow)\"",
            )
        } else {
            (
                0,
                "stroke=\"#cfcfcf\" stroke-width=\"1\" fill=\"none\" marker-end=\"url(#arrow-grey)\"",
            )
        };
        let _ = writeln!(
            layers[layer],
            "<path class=\"edge{}\" d=\"{d}\" {style}><title>{} → {}{}{}</title></path>",
            if e.taken > 0 { " taken" } else { "" },
            esc(&e.from),
            esc(&e.to),
            e.label
                .as_deref()
                .map(|l| format!(" ({})", esc(l)))
                .unwrap_or_default(),
            if e.taken > 0 {
                format!(", taken {}×", e.taken)
            } else {
                String::new()
            }
        );
    }
    for l in &layers {
        o.push_str(l);
    }
    for n in &r.path.nodes {
        let Some(&(x, y)) = pos.get(n.id.as_str()) else {
            continue;
        };
        let (fill, stroke, colour, width) = if n.visits > 0 {
            ("#eef4fc", "#1f4e9c", "#111111", "2")
        } else {
            ("#f4f4f4", "#cccccc", "#9a9a9a", "1")
        };
        let _ = writeln!(
            o,
            "<g class=\"node{}\"><rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{box_w}\" height=\"{box_h}\" rx=\"4\" fill=\"{fill}\" stroke=\"{stroke}\" stroke-width=\"{width}\"/><text x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\" fill=\"{colour}\">{}</text><text x=\"{:.1}\" y=\"{:.1}\" font-size=\"9\" fill=\"{colour}\">{}{}</text><title>{}: {}</title></g>",
            if n.visits > 0 { " taken" } else { " untaken" },
            x + 5.0,
            y + 12.0,
            esc(&clip(&n.id, 32)),
            x + 5.0,
            y + 25.0,
            esc(&n.kind),
            if n.visits > 1 {
                format!(" · {} visits", n.visits)
            } else {
                String::new()
            },
            esc(&n.id),
            esc(&n.title)
        );
    }
    // The end of the playbook, blue when the case reached it.
    let (x, y) = pos["end"];
    let (fill, stroke) = if r.path.reached_end {
        ("#eef4fc", "#1f4e9c")
    } else {
        ("#f4f4f4", "#cccccc")
    };
    let _ = writeln!(
        o,
        "<g><rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"60\" height=\"{box_h}\" rx=\"15\" fill=\"{fill}\" stroke=\"{stroke}\"/><text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"middle\">end</text></g>",
        x + 30.0,
        y + 19.0
    );
    o.push_str("</svg>\n");
}
