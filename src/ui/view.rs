//! Drawing: `view(&Model, &mut Frame)` lays the model out and never changes it.

// `m` (the model), `f` (the frame), `t` (the theme), `r` (a row): ratatui's own idiom, kept
// short because every function here uses them.
#![allow(clippy::many_single_char_names)]

use ratatui::Frame;
use ratatui::layout::{Alignment, Constraint, Direction, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span, Text};
use ratatui::widgets::{Bar, BarChart, BarGroup, Block, Borders, Clear, Paragraph, Row, Table, Wrap};

use super::keymap::{self, Scope, key_name};
use super::model::{Model, Purpose, Screen, chartable};
use super::table::{MAX_COLUMN_WIDTH, ResultTable, visible};
use super::text::{self, Theme};
use crate::engine::{self, Mode, Outcome, Position, StepStatus};
use crate::playbook::model::{ActionKind, StepKind};
use crate::playbook::raw::Confirm;

/// Rows of journal shown under the step.
const JOURNAL_LINES: u16 = 3;
/// Rows of timeline shown under the step in review.
const TIMELINE_LINES: u16 = 7;
/// Lines of guidance and SQL kept above a query's results.
const GUIDANCE_WITH_RESULTS: u16 = 2;
const SQL_WITH_RESULTS: u16 = 4;

/// The screen's regions.
struct Regions {
    header: Rect,
    steps: Rect,
    detail: Rect,
    journal: Rect,
    footer: Rect,
}

fn regions(area: Rect, review: bool) -> Regions {
    let below = if review { TIMELINE_LINES } else { JOURNAL_LINES };
    let rows = Layout::default()
        .direction(Direction::Vertical)
        .constraints([
            Constraint::Length(1),
            Constraint::Min(4),
            Constraint::Length(below + 1),
            Constraint::Length(1),
        ])
        .split(area);
    let left = (area.width / 3).clamp(24, 40);
    let cols = Layout::default()
        .direction(Direction::Horizontal)
        .constraints([Constraint::Length(left), Constraint::Min(20)])
        .split(rows[1]);
    Regions {
        header: rows[0],
        steps: cols[0],
        detail: cols[1],
        journal: rows[2],
        footer: rows[3],
    }
}

/// How many table rows a query's results get on a screen of `size` (the model pages by it).
pub fn results_height(size: (u16, u16), review: bool) -> u16 {
    let r = regions(Rect::new(0, 0, size.0, size.1), review);
    // Inside the border: title, guidance, SQL, the result line, the table's header row.
    r.detail
        .height
        .saturating_sub(2 + 1 + GUIDANCE_WITH_RESULTS + SQL_WITH_RESULTS + 1 + 1)
}

pub fn view(m: &Model, f: &mut Frame) {
    let area = f.area();
    let t = m.theme;
    match m.screen {
        Screen::Journal { offset } => return journal_screen(m, f, area, offset),
        Screen::Main | Screen::Help { .. } => {}
    }
    let r = regions(area, m.info.review);
    header(m, f, r.header);
    steps(m, f, r.steps);
    detail(m, f, r.detail);
    match &m.timeline {
        Some(tl) => timeline(m, tl, f, r.journal),
        None => journal(m, f, r.journal),
    }
    footer(m, f, r.footer);
    if let Screen::Help { offset } = m.screen {
        help(m, f, area, offset);
    }
    if let Some(p) = &m.picker {
        let items: Vec<Line> = p
            .items
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let title = match p.purpose {
                    super::model::Pick::GoBack => m.playbook.step(s).map_or("", |x| x.title.as_str()),
                    super::model::Pick::Stage => m
                        .playbook
                        .stages
                        .iter()
                        .find(|x| x.id == *s)
                        .map_or("", |x| x.title.as_str()),
                };
                let style = if i == p.cursor { t.selected() } else { t.plain() };
                Line::styled(format!(" {s} — {}", visible(title)), style)
            })
            .collect();
        let rect = centered(
            area,
            70,
            (u16::try_from(items.len()).unwrap_or(u16::MAX).saturating_add(2))
                .min(area.height.saturating_sub(2)),
        );
        let title = match p.purpose {
            super::model::Pick::GoBack => " Go back to (Enter: go · Esc: cancel) ",
            super::model::Pick::Stage => " Jump to the start of a stage (Enter: go · Esc: cancel) ",
        };
        f.render_widget(Clear, rect);
        f.render_widget(Paragraph::new(items).block(boxed(title, t)), rect);
    }
    if let Some((title, value)) = &m.popup {
        let lines = u16::try_from(value.lines().count()).unwrap_or(u16::MAX);
        let rect = centered(
            area,
            76,
            area.height.saturating_sub(4).min(lines.saturating_add(2).max(20)),
        );
        f.render_widget(Clear, rect);
        f.render_widget(
            Paragraph::new(value.clone())
                .wrap(Wrap { trim: false })
                .block(boxed(&format!(" {title} (any key closes) "), t)),
            rect,
        );
    }
    if let Some(input) = &m.input {
        let lines = u16::try_from(input.text.split('\n').count()).unwrap_or(u16::MAX);
        let extra = u16::from(input.purpose == Purpose::Evidence);
        let rect = centered(
            area,
            76,
            lines
                .saturating_add(2 + extra)
                .clamp(3, area.height.saturating_sub(2).max(3)),
        );
        f.render_widget(Clear, rect);
        let mut body: Vec<Line> = Vec::new();
        if input.purpose == Purpose::Evidence {
            body.push(Line::from(vec![
                Span::styled("type: ", t.dim()),
                Span::styled(input.observable.as_str(), t.bold()),
            ]));
        }
        let n = input.text.split('\n').count();
        for (i, l) in input.text.split('\n').enumerate() {
            let mut spans = vec![Span::raw(visible(l))];
            if i + 1 == n {
                spans.push(Span::styled("▏", t.bold()));
            }
            body.push(Line::from(spans));
        }
        f.render_widget(
            Paragraph::new(body)
                .wrap(Wrap { trim: false })
                .block(boxed(&format!(" {} ", input.purpose.title()), t)),
            rect,
        );
    }
}

fn boxed(title: &str, t: Theme) -> Block<'static> {
    Block::default()
        .borders(Borders::ALL)
        .title(Span::styled(title.to_owned(), t.bold()))
}

fn centered(area: Rect, percent: u16, height: u16) -> Rect {
    let scaled = u32::from(area.width) * u32::from(percent) / 100;
    let w = u16::try_from(scaled)
        .unwrap_or(area.width)
        .max(area.width.min(40));
    let x = area.x + (area.width.saturating_sub(w)) / 2;
    let y = area.y + (area.height.saturating_sub(height)) / 2;
    Rect::new(x, y, w, height.min(area.height))
}

fn clock(d: chrono::Duration) -> String {
    let s = d.num_seconds().max(0);
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{:02}:{:02}", s / 60, s % 60)
    }
}

fn header(m: &Model, f: &mut Frame, area: Rect) {
    let t = m.theme;
    let mode = match (m.info.review, m.info.mode, &m.info.live_target) {
        (true, Some(mode), _) => format!(" REVIEW {} case ", mode.as_str()),
        (_, None, _) => " REVIEW ".to_owned(),
        (false, Some(Mode::Live), Some(target)) => format!(" LIVE {target} "),
        (false, Some(Mode::Live), None) => " LIVE ".to_owned(),
        (false, Some(Mode::Rehearsal), _) => " REHEARSAL ".to_owned(),
    };
    let badge = if m.info.review { None } else { m.info.mode };
    let stage = m
        .viewed()
        .and_then(|id| m.playbook.step(id))
        .and_then(|s| m.playbook.stages.get(s.stage))
        .map_or_else(
            || match m.state.position {
                Position::End => "end of playbook".to_owned(),
                _ => String::new(),
            },
            |s| s.phase.title().to_owned(),
        );
    let elapsed = m.opened_at.map(|o| clock(m.now - o)).unwrap_or_default();
    let sep = Span::styled(" │ ", t.dim());
    let mut spans = vec![Span::styled(mode, t.mode(badge)), Span::raw(" ")];
    if let Some(tl) = &m.timeline {
        spans.push(Span::styled(
            format!(" {} ", visible(&tl.chain)),
            if tl.chain_ok {
                t.ok().add_modifier(Modifier::BOLD)
            } else {
                t.error().add_modifier(Modifier::REVERSED)
            },
        ));
        spans.push(Span::raw(" "));
    }
    spans.push(Span::styled(stage, t.heading()));
    spans.push(sep.clone());
    spans.push(Span::raw(elapsed));
    spans.push(sep.clone());
    spans.push(Span::styled(
        format!("{} {}", m.playbook.id, m.playbook.version),
        t.bold(),
    ));
    spans.push(sep.clone());
    spans.push(Span::raw(
        m.info
            .backend
            .clone()
            .unwrap_or_else(|| "no query backend".to_owned()),
    ));
    spans.push(sep);
    spans.push(Span::raw(format!("case {}", m.info.case)));
    if m.state.paused.is_some() {
        spans.push(Span::styled("  PAUSED", t.warn()));
    }
    if m.state.closed.is_some() {
        spans.push(Span::styled("  CLOSED", t.warn()));
    }
    // Several responders: who they are, their roles, and when each last wrote and what,
    // latest first; a role's holder who has written nothing yet too.
    if m.team.len() > 1 || !m.state.roles.is_empty() {
        let mut team: Vec<(&String, &(chrono::DateTime<chrono::Utc>, String))> = m.team.iter().collect();
        team.sort_by_key(|x| std::cmp::Reverse(x.1.0));
        let roles_of = |who: &str| -> String {
            let held: Vec<&str> = m
                .state
                .roles
                .iter()
                .filter(|(_, h)| h.as_str() == who)
                .map(|(r, _)| r.as_str())
                .collect();
            if held.is_empty() {
                String::new()
            } else {
                format!(" [{}]", visible(&held.join(",")))
            }
        };
        let mut names: Vec<String> = team
            .iter()
            .map(|(who, (at, what))| {
                // What each last did, cut short: the journal below has it whole.
                let short: String = visible(what).chars().take(28).collect();
                let cut = if visible(what).chars().count() > 28 {
                    "…"
                } else {
                    ""
                };
                format!(
                    "{}{} {} ({short}{cut})",
                    visible(who),
                    roles_of(who),
                    at.format("%H:%M")
                )
            })
            .collect();
        let mut quiet: Vec<&String> = m
            .state
            .roles
            .values()
            .filter(|h| !m.team.contains_key(*h))
            .collect();
        quiet.sort();
        quiet.dedup();
        names.extend(
            quiet
                .into_iter()
                .map(|who| format!("{}{}", visible(who), roles_of(who))),
        );
        spans.push(Span::styled(" │ ", t.dim()));
        spans.push(Span::styled(format!("team: {}", names.join(", ")), t.dim()));
    }
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn glyph(status: StepStatus, visited: bool) -> &'static str {
    match status {
        StepStatus::Done => "✓",
        StepStatus::Current => "▶",
        StepStatus::Running => "⟳",
        StepStatus::Failed => "✗",
        StepStatus::Skipped => "↷",
        StepStatus::Pending if visited => "○",
        StepStatus::Pending => "·",
    }
}

fn steps(m: &Model, f: &mut Frame, area: Rect) {
    let t = m.theme;
    let inner = area;
    let width = usize::from(inner.width);
    let mut lines: Vec<Line> = Vec::new();
    let mut focus = 0usize;
    let viewed = m.viewed();
    let mut phase = None;
    for stage in &m.playbook.stages {
        if phase != Some(stage.phase) {
            phase = Some(stage.phase);
            lines.push(Line::styled(stage.phase.title(), t.heading()));
        }
        lines.push(Line::styled(format!(" {}", visible(&stage.title)), t.bold()));
        for i in stage.steps.clone() {
            let s = &m.playbook.steps[i];
            let st = m.state.step(&s.id);
            let status = st.map(|x| x.status).unwrap_or_default();
            let visited = st.is_some_and(|x| x.visits > 0);
            let mut dur = m.duration_of(&s.id).map(clock).unwrap_or_default();
            // A `for_each` step counts its items in place: `2/3`.
            if let (StepKind::Action(a), Some(st)) = (&s.kind, st)
                && a.runs_per_item()
                && let Ok(list) = engine::item_list(&m.playbook, &m.state, i)
                && st.visits > 0
            {
                let done = (0..list.len()).filter(|j| st.item_done(*j)).count();
                dur = if dur.is_empty() {
                    format!("{done}/{}", list.len())
                } else {
                    format!("{done}/{} {dur}", list.len())
                };
            }
            let title_w = width.saturating_sub(4 + dur.len());
            let title: String = visible(&s.title).chars().take(title_w).collect();
            let pad = width.saturating_sub(3 + title.chars().count() + dur.len());
            let mut style = if visited { t.plain() } else { t.dim() };
            if status == StepStatus::Failed {
                style = t.error();
            }
            if Some(s.id.as_str()) == viewed {
                style = t.selected();
                focus = lines.len();
            }
            lines.push(Line::from(vec![
                Span::styled(format!(" {} ", glyph(status, visited)), style),
                Span::styled(title, style),
                Span::styled(" ".repeat(pad), style),
                Span::styled(
                    dur,
                    if Some(s.id.as_str()) == viewed {
                        style
                    } else {
                        t.dim()
                    },
                ),
            ]));
        }
    }
    let h = usize::from(inner.height);
    let top = focus.saturating_sub(h / 2).min(lines.len().saturating_sub(h));
    let shown: Vec<Line> = lines.into_iter().skip(top).take(h).collect();
    f.render_widget(Paragraph::new(shown), inner);
}

fn detail(m: &Model, f: &mut Frame, area: Rect) {
    let t = m.theme;
    let Some(id) = m.viewed().map(str::to_owned) else {
        return position_screen(m, f, area);
    };
    let Some(step) = m.playbook.step(&id) else { return };
    let pinned = m.pinned.is_some();
    let title = match &m.timeline {
        Some(tl) => format!(
            " {} — as at seq {} ",
            step.title,
            tl.lines.get(tl.cursor).map_or(0, |l| l.seq)
        ),
        None if pinned => format!(" {} — finished (Enter: next step) ", step.title),
        None => format!(" {} ", step.title),
    };
    let block = Block::default()
        .borders(Borders::ALL)
        .title(Span::styled(visible(&title), t.bold()));
    let inner = block.inner(area);
    f.render_widget(block, area);
    let mut head: Vec<Line> = Vec::new();
    let mut meta = vec![Span::styled(format!("{} ", step.kind.name()), t.dim())];
    meta.push(Span::styled(format!("`{id}`"), t.dim()));
    if let Some(role) = &step.role {
        meta.push(Span::styled(format!(" · role: {role}"), t.dim()));
    }
    if let Some(reason) = &m.state.paused {
        meta.push(Span::styled(
            format!("  PAUSED: {reason} (p carries on)"),
            t.warn(),
        ));
    }
    head.push(Line::from(meta));
    let guidance = step
        .guidance
        .as_deref()
        .map(|g| {
            let ctx = engine::template_context(
                &m.playbook,
                &m.state,
                m.playbook.step_index(&id).unwrap_or(0),
                &m.env(),
            );
            crate::playbook::template::render_text(g, &ctx).unwrap_or_else(|_| g.to_owned())
        })
        .map(|g| text::markdown(&g, t))
        .unwrap_or_default();
    match &step.kind {
        StepKind::Query(_) => query_detail(m, f, inner, &id, head, guidance),
        StepKind::Decision(d) => {
            // The question, the options and why come first; the guidance follows.
            let mut lines = head;
            let ctx = engine::template_context(
                &m.playbook,
                &m.state,
                m.playbook.step_index(&id).unwrap_or(0),
                &m.env(),
            );
            let prompt =
                crate::playbook::template::render_text(&d.prompt, &ctx).unwrap_or_else(|_| d.prompt.clone());
            lines.extend(prompt.lines().map(|l| Line::styled(visible(l), t.bold())));
            let st = m.state.step(&id);
            let current = m.viewing_current();
            let index = m.playbook.step_index(&id).unwrap_or(0);
            let reasons = engine::explain_suggestions(&m.playbook, &m.state, index, &m.env());
            let suggested = engine::suggestion_of(&reasons).ok().flatten();
            for (i, o) in d.options.iter().enumerate() {
                let chosen = st.and_then(|s| s.decided.as_deref()) == Some(o.id.as_str());
                let mark = if chosen { "●" } else { "○" };
                let pointer = if current && i == m.decision_cursor {
                    "›"
                } else {
                    " "
                };
                let mut spans = vec![Span::raw(format!("{pointer}{mark} {} ", visible(&o.label)))];
                spans.push(Span::styled(format!("({})", o.id), t.dim()));
                if suggested.as_deref() == Some(o.id.as_str()) {
                    spans.push(Span::styled("  ← suggested", t.ok().add_modifier(Modifier::BOLD)));
                }
                let mut line = Line::from(spans);
                if current && i == m.decision_cursor {
                    line = line.style(t.selected());
                }
                lines.push(line);
            }
            if !reasons.is_empty() {
                lines.push(Line::default());
                lines.push(Line::styled("Why", t.heading()));
                for r in &reasons {
                    let verdict = match &r.value {
                        Ok(true) => Span::styled("true", t.ok()),
                        Ok(false) => Span::styled("false", t.dim()),
                        Err(e) => Span::styled(format!("cannot tell: {e}"), t.warn()),
                    };
                    lines.push(Line::from(vec![
                        Span::raw(format!(" {}: ", r.option)),
                        Span::styled(visible(&r.expr), t.code()),
                        Span::raw(" → "),
                        verdict,
                    ]));
                    for (name, v) in &r.evidence {
                        lines.push(Line::styled(
                            format!("     {name} = {}", short_json(v, 60)),
                            t.dim(),
                        ));
                    }
                }
            }
            if let (Some(chosen), false) = (st.and_then(|s| s.decided.as_ref()), current) {
                lines.push(Line::default());
                lines.push(Line::from(vec![
                    Span::styled("Chosen: ", t.bold()),
                    Span::raw(visible(chosen)),
                    Span::styled("  Rationale: ", t.bold()),
                    match st.and_then(|s| s.rationale.clone()) {
                        Some(r) => Span::raw(visible(&r)),
                        None => Span::styled("none given", t.dim()),
                    },
                ]));
            }
            if current {
                lines.push(Line::default());
                lines.push(Line::from(vec![
                    Span::styled("Rationale: ", t.bold()),
                    if m.rationale.is_empty() {
                        Span::styled("none yet (a writes one)", t.dim())
                    } else {
                        Span::raw(visible(&m.rationale))
                    },
                ]));
                lines.push(Line::styled("↑/↓ option · Enter choose", t.dim()));
            }
            if !guidance.is_empty() {
                lines.push(Line::default());
                lines.extend(guidance);
            }
            f.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), inner);
        }
        StepKind::Action(a) => {
            // What will happen and the gate come first; the guidance follows.
            let mut lines = head;
            let st = m.state.step(&id).cloned().unwrap_or_default();
            let current = m.viewing_current();
            let index = m.playbook.step_index(&id).unwrap_or(0);
            let intent = match (m.info.review, m.state.action_run(&id)) {
                // Review shows the call as it was journaled, not as it would render now.
                (true, Some(run)) => Ok(run.intent.clone()),
                _ => engine::render_intent(&m.playbook, &m.state, index, &m.env()),
            };
            if a.runs_per_item() {
                lines.extend(item_lines(m, index, &st, t));
                let preview = if m.info.review {
                    None
                } else {
                    m.previews.get(&(id.clone(), st.visits))
                };
                match preview {
                    Some(Ok(p)) => lines.extend(p.lines().take(1).map(|l| Line::styled(visible(l), t.dim()))),
                    Some(Err(e)) => lines.push(Line::styled(visible(e), t.warn())),
                    None => {}
                }
            } else if let ActionKind::Manual { items } = &a.kind {
                let items = match &intent {
                    Ok(engine::Intent::Manual { items }) => items.clone(),
                    _ => items.clone(),
                };
                lines.push(Line::styled("Checklist", t.heading()));
                for (i, item) in items.iter().enumerate() {
                    let ticked = st.checklist.contains(&i);
                    let pointer = if current && i == m.checklist_cursor {
                        "›"
                    } else {
                        " "
                    };
                    let mut line = Line::raw(format!(
                        "{pointer}[{}] {}",
                        if ticked { "x" } else { " " },
                        visible(item)
                    ));
                    if current && i == m.checklist_cursor {
                        line = line.style(t.selected());
                    }
                    lines.push(line);
                }
            } else {
                lines.push(Line::styled(
                    if m.info.review {
                        "The call, as journaled"
                    } else {
                        "What will happen"
                    },
                    t.heading(),
                ));
                // The intent exactly as it will be journaled and run.
                match &intent {
                    Ok(engine::Intent::Aws {
                        operation,
                        api,
                        params,
                        target,
                    }) => {
                        lines.push(Line::from(vec![
                            Span::styled("operation  ", t.dim()),
                            Span::styled(format!("{operation} ({api})"), t.bold()),
                        ]));
                        if let Some(target) = target {
                            lines.push(Line::from(vec![
                                Span::styled("target     ", t.dim()),
                                Span::styled(visible(target), t.bold()),
                            ]));
                        }
                        for (k, v) in params {
                            lines.push(Line::from(vec![
                                Span::styled(format!("  {k} = "), t.dim()),
                                Span::raw(short_json(v, 200)),
                            ]));
                        }
                    }
                    Ok(engine::Intent::Command { argv, env }) => lines.push(Line::from(vec![
                        Span::styled("argv       ", t.dim()),
                        Span::styled(visible(&crate::engine::event::command_words(argv, env)), t.bold()),
                    ])),
                    _ => {}
                }
                let visits = st.visits;
                let preview = if m.info.review {
                    None
                } else {
                    m.previews.get(&(id.clone(), visits))
                };
                match preview {
                    Some(Ok(p)) => lines.extend(p.lines().map(|l| Line::raw(visible(l)))),
                    Some(Err(e)) => lines.push(Line::styled(visible(e), t.warn())),
                    // Review shows what was done (below), not what would be.
                    None if m.info.review => {}
                    None => match &intent {
                        Ok(i) => lines.push(Line::raw(visible(&crate::engine::simulated_detail(i)))),
                        Err(e) => lines.push(Line::styled(visible(&e.to_string()), t.warn())),
                    },
                }
            }
            lines.push(Line::default());
            let gate = match a.confirm {
                Confirm::None => "none".to_owned(),
                Confirm::Yes => "type `yes`".to_owned(),
                _ if a.runs_per_item()
                    && engine::item_list(&m.playbook, &m.state, index).is_ok_and(<[_]>::is_empty) =>
                {
                    "none: the list is empty (Enter journals that there is nothing to do)".to_owned()
                }
                Confirm::Typed if a.runs_per_item() => match (&st.chosen, st.confirmed) {
                    (Some(c), true) => format!("`{}`", engine::items::count_of(a, c.items.len())),
                    _ => format!("type `{}`", super::model::item_count_word(m, &id, a)),
                },
                Confirm::Typed => match &intent {
                    Ok(i) => format!("type `{}`", i.confirmation_word(&id)),
                    Err(_) => "typed (the resource name)".to_owned(),
                },
            };
            lines.push(Line::from(vec![
                Span::styled("Confirmation: ", t.bold()),
                Span::raw(gate),
                Span::styled(if st.confirmed { "  (confirmed)" } else { "" }, t.ok()),
            ]));
            if let Some(run) = m.state.action_run(&id) {
                // An action in flight reads as unknown until its result is journaled.
                let outcome = run.outcome.unwrap_or(Outcome::Unknown);
                let style = match outcome {
                    Outcome::Succeeded => t.ok(),
                    Outcome::Failed => t.error(),
                    Outcome::Unknown => t.warn(),
                };
                lines.push(Line::from(vec![
                    Span::styled("Result: ", t.bold()),
                    Span::styled(visible(run.detail.as_deref().unwrap_or("running")), style),
                ]));
                if let Some(rb) = &run.rollback {
                    lines.push(Line::styled(visible(&rollback_text(rb)), t.warn()));
                }
                if m.info.review {
                    for (name, file) in [("Before", &run.before), ("After", &run.after)] {
                        let Some(file) = file else { continue };
                        lines.push(Line::styled(
                            format!("{name} ({}):", visible(&file.path)),
                            t.heading(),
                        ));
                        match m.texts.get(&file.path) {
                            Some(Ok(text)) => {
                                let n = text.lines().count();
                                lines.extend(text.lines().take(12).map(|l| Line::raw(visible(l))));
                                if n > 12 {
                                    lines.push(Line::styled(format!("… {} more lines", n - 12), t.dim()));
                                }
                            }
                            Some(Err(e)) => lines.push(Line::styled(visible(e), t.warn())),
                            None => {}
                        }
                    }
                } else if run.before.is_some() && outcome == Outcome::Succeeded && !run.simulated {
                    lines.push(Line::styled(
                        format!(
                            "Rollback: the before-state is stored; `irp rollback {} --step {id} --live` puts it back",
                            m.info.folder
                        ),
                        t.dim(),
                    ));
                }
            }
            if st.last_outcome == Some(Outcome::Unknown) && current {
                lines.push(Line::styled(
                    "The outcome is unknown: V irp checks · D you checked it was done · N it was not",
                    t.warn(),
                ));
            } else if current {
                let hint = match (&a.kind, a.confirm, st.confirmed) {
                    (ActionKind::Manual { .. }, c, false) if c != Confirm::None => {
                        "Enter: confirm the checklist"
                    }
                    (ActionKind::Manual { .. }, _, _) => "Space: tick · Enter: done when all are ticked",
                    (_, c, false) if c != Confirm::None => "Enter: confirm and run",
                    _ => "Enter: run",
                };
                lines.push(Line::styled(hint, t.dim()));
            }
            if let Some(e) = &st.last_error {
                lines.push(Line::styled(format!("Last error: {}", visible(e)), t.error()));
            }
            if !guidance.is_empty() {
                lines.push(Line::default());
                lines.extend(guidance);
            }
            f.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), inner);
        }
        StepKind::Note(_) => {
            let mut lines = head;
            lines.extend(guidance);
            lines.push(Line::default());
            if m.viewing_current() {
                lines.push(Line::styled("Enter: done", t.dim()));
            }
            f.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), inner);
        }
    }
}

fn short_json(v: &serde_json::Value, max: usize) -> String {
    let s = match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let s = visible(&s);
    if s.chars().count() > max {
        format!("{}…", s.chars().take(max).collect::<String>())
    } else {
        s
    }
}

fn position_screen(m: &Model, f: &mut Frame, area: Rect) {
    let t = m.theme;
    let block = Block::default().borders(Borders::ALL);
    let inner = block.inner(area);
    f.render_widget(block, area);
    let mut lines = Vec::new();
    if let Some(summary) = &m.state.closed {
        lines.push(Line::styled("The case is closed.", t.heading()));
        lines.push(Line::raw(format!("Summary: {}", visible(summary))));
        lines.push(Line::default());
        lines.push(Line::raw(format!(
            "`irp verify {}` checks its journal.",
            m.info.folder
        )));
        lines.push(Line::styled("q quits", t.dim()));
    } else {
        match &m.state.position {
            Position::NotStarted => {
                lines.push(Line::styled(visible(&m.playbook.title), t.heading()));
                if let Some(d) = &m.playbook.description {
                    lines.extend(text::markdown(d, t));
                }
                lines.push(Line::default());
                lines.push(Line::styled(
                    format!(
                        "Enter: start at `{}`",
                        m.playbook.steps.first().map_or("", |s| s.id.as_str())
                    ),
                    t.bold(),
                ));
            }
            Position::End | Position::At(_) => {
                lines.push(Line::styled("The end of the playbook.", t.heading()));
                lines.push(Line::raw(format!(
                    "{} notes and {} pieces of evidence recorded.",
                    m.state.notes.len(),
                    m.state.evidence.len()
                )));
                lines.push(Line::default());
                lines.push(Line::styled(
                    "Enter: close the case with a summary · b: go back",
                    t.bold(),
                ));
            }
        }
    }
    f.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), inner);
}

fn query_detail(
    m: &Model,
    f: &mut Frame,
    area: Rect,
    id: &str,
    head: Vec<Line<'static>>,
    guidance: Vec<Line<'static>>,
) {
    let t = m.theme;
    let table = m.result_table().cloned();
    let sql = match m.sql_for(id) {
        Ok(s) => text::sql(&s, t),
        Err(e) => vec![Line::styled(
            format!("the SQL cannot be rendered yet: {e}"),
            t.warn(),
        )],
    };
    let run = m.state.query_run(id).cloned().unwrap_or_default();
    let mut status: Vec<Span> = Vec::new();
    if m.state.step(id).is_some_and(|s| s.running_query().is_some()) {
        let elapsed = run
            .submitted
            .and_then(|seq| m.at_of(seq))
            .map(|s| m.now - s)
            .map(clock)
            .unwrap_or_default();
        let p = m
            .progress
            .as_ref()
            .filter(|(s, _)| s == id)
            .map(|(_, p)| p.clone())
            .unwrap_or_default();
        status.push(Span::styled(
            format!(
                "⟳ {} {elapsed} · {} rows{} · c cancels",
                if p.state.is_empty() {
                    "RUNNING"
                } else {
                    p.state.as_str()
                },
                p.rows,
                p.bytes_scanned
                    .map(|b| format!(" · {} scanned", bytes(b)))
                    .unwrap_or_default()
            ),
            t.warn(),
        ));
    } else if let Some(rows) = run.rows {
        status.push(Span::styled(format!("{rows} rows"), t.ok()));
        if let Some(b) = run.bytes_scanned() {
            status.push(Span::raw(format!(" · {} scanned", bytes(b))));
        }
        if let Some((c, d)) = m.grid.sort
            && let Some(tb) = &table
        {
            status.push(Span::raw(format!(
                " · sorted by {} {}",
                tb.header(c),
                if d { "↓" } else { "↑" }
            )));
        }
        if !m.grid.filter.is_empty() {
            status.push(Span::raw(format!(
                " · {} match `{}`",
                m.visible_rows(),
                visible(&m.grid.filter)
            )));
        }
        if m.viewing_current() || m.pinned.as_deref() == Some(id) {
            status.push(Span::styled(" · r re-runs", t.dim()));
        }
    } else if let Some(e) = &run.error {
        status.push(Span::styled(format!("✗ failed: {}", visible(e)), t.error()));
    } else if m.viewing_current() {
        status.push(Span::styled("Enter or r: run the query", t.bold()));
    }
    if let Some(e) = m
        .loaded
        .as_ref()
        .filter(|l| l.step == id)
        .and_then(|l| l.table.as_ref().err())
    {
        status.push(Span::styled(format!(" · {e}"), t.dim()));
    }
    let Some(table) = table else {
        let mut lines = head;
        lines.extend(guidance);
        lines.push(Line::default());
        lines.extend(sql);
        lines.push(Line::default());
        lines.push(Line::from(status));
        f.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), area);
        return;
    };
    let chart = m.grid.chart && area.height >= 24;
    let parts = Layout::default()
        .direction(Direction::Vertical)
        .constraints([
            Constraint::Length(1),
            Constraint::Length(GUIDANCE_WITH_RESULTS),
            Constraint::Length(SQL_WITH_RESULTS),
            Constraint::Length(1),
            Constraint::Length(if chart { 7 } else { 0 }),
            Constraint::Min(2),
        ])
        .split(area);
    f.render_widget(Paragraph::new(head), parts[0]);
    f.render_widget(Paragraph::new(guidance).wrap(Wrap { trim: true }), parts[1]);
    f.render_widget(Paragraph::new(sql), parts[2]);
    f.render_widget(Paragraph::new(Line::from(status)), parts[3]);
    if chart {
        bar_chart(&table, f, parts[4], t);
    }
    results(m, &table, f, parts[5]);
}

fn bytes(b: u64) -> String {
    #[allow(clippy::cast_precision_loss)]
    let v = b as f64;
    if v >= 1e9 {
        format!("{:.1} GB", v / 1e9)
    } else if v >= 1e6 {
        format!("{:.1} MB", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.1} kB", v / 1e3)
    } else {
        format!("{b} B")
    }
}

fn bar_chart(table: &ResultTable, f: &mut Frame, area: Rect, t: Theme) {
    let Some((time, count)) = chartable(table) else {
        return;
    };
    let slots = usize::from(area.width / 6).max(1);
    let n = table.rows();
    let start = n.saturating_sub(slots);
    let bars: Vec<Bar> = (start..n)
        .map(|r| {
            let label = bucket_label(&table.cell(r, time));
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let v = table.number(r, count).unwrap_or(0.0).max(0.0) as u64;
            Bar::default().value(v).label(Line::from(label))
        })
        .collect();
    let chart = BarChart::default()
        .block(Block::default().title(Span::styled(
            format!(" {} by {} (g hides) ", table.header(count), table.header(time)),
            t.dim(),
        )))
        .bar_width(5)
        .bar_gap(1)
        .bar_style(t.ok())
        .data(BarGroup::default().bars(&bars));
    f.render_widget(chart, area);
}

/// A time bucket's label in five characters: the part that changes (`11-27` for days, `27T02`
/// for hours).
fn bucket_label(text: &str) -> String {
    let mut s = text.trim_end_matches('Z');
    while let Some(rest) = s.strip_suffix(":00") {
        s = rest;
    }
    let s = s
        .strip_suffix("T00")
        .or_else(|| s.strip_suffix(" 00"))
        .unwrap_or(s);
    let n = s.chars().count();
    s.chars().skip(n.saturating_sub(5)).collect()
}

/// The first column to draw so that the selected one fits.
fn first_column(widths: &[u16], left: usize, col: usize, space: u16) -> usize {
    let mut first = left.min(col);
    loop {
        let used: u16 = widths[first..=col].iter().map(|w| w + 1).sum();
        if used <= space || first == col {
            return first;
        }
        first += 1;
    }
}

fn results(m: &Model, table: &ResultTable, f: &mut Frame, area: Rect) {
    let t = m.theme;
    let page = usize::from(area.height.saturating_sub(1));
    let rows = m.visible_rows();
    let top = m.grid.top.min(rows.saturating_sub(1));
    let shown: Vec<usize> = (top..(top + page).min(rows))
        .filter_map(|p| m.row_at(p))
        .collect();
    // Each column's cells on screen, formatted once; fitted widths from them and the header.
    let cells: Vec<Vec<String>> = (0..table.columns())
        .map(|c| table.column_cells(c, &shown))
        .collect();
    let widths: Vec<u16> = (0..table.columns())
        .map(|c| {
            let lens = cells[c].iter().map(|v| v.chars().count());
            let w = lens
                .chain(std::iter::once(table.header(c).chars().count() + 2))
                .max()
                .unwrap_or(4);
            u16::try_from(w.clamp(4, MAX_COLUMN_WIDTH)).unwrap_or(4)
        })
        .collect();
    if widths.is_empty() {
        f.render_widget(Paragraph::new("(no columns)"), area);
        return;
    }
    let col = m.grid.col.min(widths.len() - 1);
    let first = first_column(&widths, m.grid.left, col, area.width);
    let mut cols = Vec::new();
    let mut used = 0u16;
    for (c, w) in widths.iter().enumerate().skip(first) {
        if used + w > area.width && !cols.is_empty() {
            break;
        }
        cols.push(c);
        used += w + 1;
    }
    let sort_mark = |c: usize| match m.grid.sort {
        Some((s, false)) if s == c => "↑",
        Some((s, true)) if s == c => "↓",
        _ => "",
    };
    let header = Row::new(cols.iter().map(|&c| {
        let style = if c == col {
            t.bold().add_modifier(Modifier::UNDERLINED)
        } else {
            t.bold()
        };
        Line::styled(format!("{}{}", visible(table.header(c)), sort_mark(c)), style)
    }));
    let selected = m.grid.row;
    let body: Vec<Row> = (0..shown.len())
        .map(|i| {
            let is_sel = top + i == selected;
            Row::new(cols.iter().map(|&c| {
                let text: String = cells[c][i].chars().take(usize::from(widths[c])).collect();
                let mut line = Line::raw(text);
                if table.is_numeric(c) {
                    line = line.alignment(Alignment::Right);
                }
                if is_sel && c == col {
                    line = line.style(t.selected().add_modifier(Modifier::BOLD));
                }
                line
            }))
            .style(if is_sel {
                Style::default().add_modifier(Modifier::BOLD)
            } else {
                Style::default()
            })
        })
        .collect();
    let more_left = first > 0;
    let more_right = cols.last().is_some_and(|&c| c + 1 < widths.len());
    let w: Vec<Constraint> = cols.iter().map(|&c| Constraint::Length(widths[c])).collect();
    let tbl = Table::new(body, w).header(header).column_spacing(1);
    f.render_widget(tbl, area);
    if (more_left || more_right) && area.width >= 2 {
        let mark = format!(
            "{}{}",
            if more_left { "◀" } else { "" },
            if more_right { "▶" } else { "" }
        );
        let x = area.x
            + area
                .width
                .saturating_sub(u16::try_from(mark.chars().count()).unwrap_or(2));
        f.render_widget(
            Paragraph::new(Span::styled(mark, t.dim())),
            Rect::new(x, area.y, 2, 1),
        );
    }
}

fn journal(m: &Model, f: &mut Frame, area: Rect) {
    let t = m.theme;
    let block = Block::default()
        .borders(Borders::TOP)
        .title(Span::styled(" Journal (J: all) ", t.dim()));
    let inner = block.inner(area);
    f.render_widget(block, area);
    let n = usize::from(inner.height);
    let lines: Vec<Line> = m
        .journal
        .iter()
        .skip(m.journal.len().saturating_sub(n))
        .map(|l| journal_line(l, t))
        .collect();
    f.render_widget(Paragraph::new(lines), inner);
}

/// Review's timeline: the shown entries around the cursor, the cursor highlighted.
fn timeline(m: &Model, tl: &super::model::Timeline, f: &mut Frame, area: Rect) {
    let t = m.theme;
    let at = tl.shown.iter().position(|&i| i == tl.cursor).unwrap_or(0);
    let title = format!(
        " Timeline: entry {} of {}{} (←/→ entry · [ ] stage · d/D decision · f filter) ",
        at + 1,
        tl.shown.len(),
        if tl.filter.is_empty() {
            String::new()
        } else {
            format!(", filter {}", visible(&tl.filter))
        }
    );
    let block = Block::default()
        .borders(Borders::TOP)
        .title(Span::styled(title, t.dim()));
    let inner = block.inner(area);
    f.render_widget(block, area);
    let n = usize::from(inner.height);
    let first = at.saturating_sub(n / 2).min(tl.shown.len().saturating_sub(n));
    let lines: Vec<Line> = tl
        .shown
        .iter()
        .skip(first)
        .take(n)
        .filter_map(|&i| {
            let l = tl.lines.get(i)?;
            let line = journal_line(l, t);
            Some(if i == tl.cursor {
                line.style(t.selected())
            } else {
                line
            })
        })
        .collect();
    f.render_widget(Paragraph::new(lines), inner);
}

fn journal_line(l: &super::model::JournalLine, t: Theme) -> Line<'static> {
    Line::from(vec![
        Span::styled(format!("{:>4} {} ", l.seq, l.at.format("%H:%M:%S")), t.dim()),
        Span::styled(format!("{} ", visible(&l.actor)), t.dim()),
        Span::raw(visible(&l.text)),
        Span::styled(
            l.signed_by
                .as_ref()
                .map(|k| format!("  signed {}", visible(k)))
                .unwrap_or_default(),
            t.dim(),
        ),
    ])
}

fn footer(m: &Model, f: &mut Frame, area: Rect) {
    let t = m.theme;
    let line = if let Some(s) = &m.status {
        Line::styled(
            visible(&s.text.replace('\n', " ")),
            if s.error { t.error() } else { t.ok() },
        )
    } else if m.info.review {
        Line::styled(
            "read-only · ←/→ entry · [ ] t stage · d/D decision · f filter · h/l columns · J journal · ? keys · q quit",
            t.dim(),
        )
    } else {
        let busy = if m.busy() { "working… · " } else { "" };
        Line::styled(
            format!(
                "{busy}Enter next move · n note · e evidence · x skip · b back · J journal · ? keys · q quit"
            ),
            t.dim(),
        )
    };
    f.render_widget(Paragraph::new(line), area);
}

fn help(m: &Model, f: &mut Frame, area: Rect, offset: usize) {
    let t = m.theme;
    let mut lines: Vec<Line> = Vec::new();
    let scopes: &[Scope] = if m.info.review {
        &[
            Scope::Review,
            Scope::Results,
            Scope::Case,
            Scope::TextBox,
            Scope::List,
        ]
    } else {
        &[
            Scope::Case,
            Scope::Query,
            Scope::Results,
            Scope::Decision,
            Scope::Checklist,
            Scope::Unknown,
            Scope::TextBox,
            Scope::List,
        ]
    };
    // Review lists only what it answers to: the keys that change nothing.
    let shown = |b: &keymap::Binding| {
        !m.info.review || matches!(b.scope, Scope::TextBox | Scope::List) || b.action.read_only()
    };
    for &scope in scopes {
        lines.push(Line::styled(scope.title(), t.heading()));
        let mut seen: Vec<&str> = Vec::new();
        for b in keymap::all().filter(|b| b.scope == scope && shown(b)) {
            // Keys bound to the same move are listed on one line.
            if seen.contains(&b.help) {
                continue;
            }
            seen.push(b.help);
            let keys: Vec<String> = keymap::all()
                .filter(|x| x.scope == scope && x.help == b.help)
                .map(key_name)
                .collect();
            lines.push(Line::from(vec![
                Span::styled(format!("  {:<12}", keys.join(" ")), t.bold()),
                Span::raw(b.help),
            ]));
        }
    }
    let rect = centered(area, 90, area.height.saturating_sub(2));
    let h = usize::from(rect.height.saturating_sub(2));
    let offset = offset.min(lines.len().saturating_sub(h));
    f.render_widget(Clear, rect);
    f.render_widget(
        Paragraph::new(Text::from(lines.into_iter().skip(offset).collect::<Vec<_>>()))
            .block(boxed(" Keys (↑/↓ scroll · any other key closes) ", t)),
        rect,
    );
}

fn journal_screen(m: &Model, f: &mut Frame, area: Rect, offset: usize) {
    let t = m.theme;
    let block = boxed(
        &format!(
            " Journal of case {} — {} entries (↑/↓ PgUp/PgDn · Esc back) ",
            m.info.case,
            m.journal.len()
        ),
        t,
    );
    let inner = block.inner(area);
    f.render_widget(block, area);
    let h = usize::from(inner.height);
    let top = offset.saturating_sub(h.saturating_sub(1));
    let lines: Vec<Line> = m
        .journal
        .iter()
        .enumerate()
        .skip(top)
        .take(h)
        .map(|(i, l)| {
            let line = journal_line(l, t);
            if i == offset {
                line.style(t.selected())
            } else {
                line
            }
        })
        .collect();
    f.render_widget(Paragraph::new(lines), inner);
}

/// How a step's last rollback stands, in words.
fn rollback_text(rb: &engine::RollbackRun) -> String {
    match rb.outcome {
        None => format!("rollback of {} started", rb.operation),
        Some(outcome) => format!(
            "rolled back{}: {outcome:?}, {}",
            if rb.simulated { " (simulated)" } else { "" },
            rb.detail.as_deref().unwrap_or_default()
        ),
    }
}

/// A `for_each` step's items: each one's call, and how it stands (`✓` in place, `✗` failed,
/// `?` unknown, `…` running, `·` to do, `-` left out).
fn item_lines(
    m: &Model,
    index: usize,
    st: &crate::engine::StepState,
    t: super::text::Theme,
) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    let list = match engine::item_list(&m.playbook, &m.state, index) {
        Ok(list) => list,
        Err(e) => {
            lines.push(Line::styled(visible(&e.to_string()), t.warn()));
            return lines;
        }
    };
    let done = (0..list.len()).filter(|i| st.item_done(*i)).count();
    lines.push(Line::styled(
        format!("Items: {done}/{} in place", list.len()),
        t.heading(),
    ));
    if list.is_empty() {
        lines.push(Line::raw("the list is empty: nothing to act on"));
    }
    // Before the confirmation the items are as the responder picks them; after, as confirmed.
    let picking = m.scopes().first() == Some(&super::keymap::Scope::Items);
    let left_out = |i: usize| {
        if picking {
            return m.pick.left_out.get(&i).cloned();
        }
        st.chosen
            .as_ref()
            .and_then(|c| c.left_out.iter().find(|l| l.item == i))
            .map(|l| l.reason.clone())
    };
    // Rendered once per frame: the items not yet run show the call they would make.
    let rendered = engine::render_item_intents(&m.playbook, &m.state, index, &m.env());
    let protected = rendered
        .as_ref()
        .map(|r| engine::items::protected_items(&m.playbook, &m.state, r))
        .unwrap_or_default();
    let unconfirmed = !st.confirmed;
    for i in 0..list.len() {
        let run = st.items.get(&i);
        let (glyph, style) = match run.map(|r| (r.finished.is_some(), r.outcome)) {
            Some((_, Some(Outcome::Succeeded))) => ("✓", t.ok()),
            Some((_, Some(Outcome::Failed))) => ("✗", t.error()),
            Some((_, Some(Outcome::Unknown))) => ("?", t.warn()),
            Some((false, None)) => ("…", t.warn()),
            _ if left_out(i).is_some() => ("-", t.dim()),
            _ if unconfirmed && protected.contains_key(&i) && !m.pick.named.contains(&i) => ("-", t.warn()),
            _ => ("·", t.dim()),
        };
        let what = match run.map(|r| &r.intent).or_else(|| rendered.as_ref().ok()?.get(i)) {
            Some(engine::Intent::Aws { api, target, .. }) => {
                format!("{api} on {}", target.as_deref().unwrap_or("?"))
            }
            Some(engine::Intent::Command { argv, .. }) => serde_json::to_string(argv).unwrap_or_default(),
            Some(engine::Intent::Manual { items }) => items.join("; "),
            None => rendered
                .as_ref()
                .err()
                .map(ToString::to_string)
                .unwrap_or_default(),
        };
        let pointer = if picking && i == m.checklist_cursor {
            "›"
        } else {
            " "
        };
        let mut line = Line::from(vec![
            Span::raw(pointer),
            Span::styled(format!("{glyph} "), style),
            Span::raw(format!("{i:>3}  {}", visible(&what))),
        ]);
        if picking && i == m.checklist_cursor {
            line = line.style(t.selected());
        }
        lines.push(line);
        let note = left_out(i)
            .map(|r| format!("left out: {r}"))
            .or_else(|| {
                let why = protected.get(&i).filter(|_| unconfirmed && run.is_none())?;
                Some(if m.pick.named.contains(&i) {
                    format!("{why}: chosen all the same")
                } else {
                    format!("{why}: left out unless chosen (Space)")
                })
            })
            .or_else(|| run.and_then(|r| r.detail.clone()));
        if let Some(note) = note {
            lines.push(Line::styled(format!("        {}", visible(&note)), t.dim()));
        }
    }
    lines
}
