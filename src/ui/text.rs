//! Styled text for the UI: the theme (colour, or monochrome under `NO_COLOR`), guidance Markdown
//! and highlighted SQL, turned into ratatui lines.

use pulldown_cmark::{CodeBlockKind, Event, Parser, Tag, TagEnd};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};

use crate::engine::Mode;

/// Every style the UI draws with. Monochrome uses only bold, reverse, underline and dim, so
/// nothing depends on colour to be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Theme {
    pub color: bool,
}

impl Theme {
    pub fn plain(self) -> Style {
        Style::default()
    }
    pub fn dim(self) -> Style {
        if self.color {
            Style::default().fg(Color::DarkGray)
        } else {
            Style::default().add_modifier(Modifier::DIM)
        }
    }
    pub fn bold(self) -> Style {
        Style::default().add_modifier(Modifier::BOLD)
    }
    pub fn heading(self) -> Style {
        let s = self.bold();
        if self.color {
            s.fg(Color::Cyan)
        } else {
            s.add_modifier(Modifier::UNDERLINED)
        }
    }
    pub fn selected(self) -> Style {
        if self.color {
            Style::default().bg(Color::Blue).fg(Color::White)
        } else {
            Style::default().add_modifier(Modifier::REVERSED)
        }
    }
    pub fn error(self) -> Style {
        let s = self.bold();
        if self.color { s.fg(Color::Red) } else { s }
    }
    pub fn ok(self) -> Style {
        if self.color {
            Style::default().fg(Color::Green)
        } else {
            Style::default()
        }
    }
    pub fn warn(self) -> Style {
        let s = self.bold();
        if self.color { s.fg(Color::Yellow) } else { s }
    }
    pub fn code(self) -> Style {
        if self.color {
            Style::default().fg(Color::Yellow)
        } else {
            Style::default().add_modifier(Modifier::ITALIC)
        }
    }
    pub fn link(self) -> Style {
        let s = Style::default().add_modifier(Modifier::UNDERLINED);
        if self.color { s.fg(Color::Blue) } else { s }
    }
    pub fn keyword(self) -> Style {
        let s = self.bold();
        if self.color { s.fg(Color::Magenta) } else { s }
    }
    pub fn string(self) -> Style {
        if self.color {
            Style::default().fg(Color::Green)
        } else {
            Style::default().add_modifier(Modifier::ITALIC)
        }
    }
    pub fn number(self) -> Style {
        if self.color {
            Style::default().fg(Color::Cyan)
        } else {
            Style::default()
        }
    }
    /// The mode badge: a live case is white on red, a rehearsal black on yellow, a review black
    /// on cyan; in monochrome, reversed (live also bold and blinking-free underlined).
    pub fn mode(self, mode: Option<Mode>) -> Style {
        let base = self.bold();
        match (self.color, mode) {
            (true, Some(Mode::Live)) => base.bg(Color::Red).fg(Color::White),
            (true, Some(Mode::Rehearsal)) => base.bg(Color::Yellow).fg(Color::Black),
            (true, None) => base.bg(Color::Cyan).fg(Color::Black),
            (false, Some(Mode::Live)) => base.add_modifier(Modifier::REVERSED | Modifier::UNDERLINED),
            (false, _) => base.add_modifier(Modifier::REVERSED),
        }
    }
}

/// Guidance Markdown as lines: headings, paragraphs, lists, code (inline and blocks), emphasis
/// and links (`text <url>`). Lines are not wrapped here; the paragraph widget wraps them.
pub fn markdown(src: &str, theme: Theme) -> Vec<Line<'static>> {
    let mut lines: Vec<Line<'static>> = Vec::new();
    let mut spans: Vec<Span<'static>> = Vec::new();
    let mut styles: Vec<Style> = vec![theme.plain()];
    let mut lists: Vec<Option<u64>> = Vec::new();
    let mut in_code_block = false;
    let mut link: Option<String> = None;
    let flush = |lines: &mut Vec<Line<'static>>, spans: &mut Vec<Span<'static>>| {
        if !spans.is_empty() {
            lines.push(Line::from(std::mem::take(spans)));
        }
    };
    let top = |styles: &Vec<Style>| styles.last().copied().unwrap_or_default();
    for event in Parser::new(src) {
        match event {
            Event::Start(Tag::Heading { .. }) => {
                flush(&mut lines, &mut spans);
                if !lines.is_empty() {
                    lines.push(Line::default());
                }
                styles.push(theme.heading());
            }
            Event::End(TagEnd::Heading(_)) => {
                styles.pop();
                flush(&mut lines, &mut spans);
            }
            Event::Start(Tag::Paragraph) if lists.is_empty() && !lines.is_empty() && spans.is_empty() => {
                lines.push(Line::default());
            }
            Event::End(TagEnd::Paragraph) => {
                flush(&mut lines, &mut spans);
            }
            Event::Start(Tag::List(start)) => {
                flush(&mut lines, &mut spans);
                lists.push(start);
            }
            Event::End(TagEnd::List(_)) => {
                lists.pop();
            }
            Event::Start(Tag::Item) => {
                flush(&mut lines, &mut spans);
                let depth = lists.len().saturating_sub(1);
                let marker = match lists.last_mut() {
                    Some(Some(n)) => {
                        let m = format!("{n}. ");
                        *n += 1;
                        m
                    }
                    _ => "• ".to_owned(),
                };
                spans.push(Span::raw(format!("{}{marker}", "  ".repeat(depth))));
            }
            Event::Start(Tag::CodeBlock(kind)) => {
                flush(&mut lines, &mut spans);
                in_code_block = true;
                if let CodeBlockKind::Fenced(lang) = kind
                    && !lang.is_empty()
                {
                    lines.push(Line::styled(format!("  ({lang})"), theme.dim()));
                }
            }
            Event::End(TagEnd::CodeBlock) => in_code_block = false,
            Event::Start(Tag::Emphasis) => styles.push(top(&styles).add_modifier(Modifier::ITALIC)),
            Event::Start(Tag::Strong) => styles.push(top(&styles).add_modifier(Modifier::BOLD)),
            Event::End(TagEnd::Emphasis | TagEnd::Strong) => {
                styles.pop();
            }
            Event::Start(Tag::Link { dest_url, .. }) => {
                link = Some(dest_url.to_string());
                styles.push(theme.link());
            }
            Event::End(TagEnd::Link) => {
                styles.pop();
                if let Some(url) = link.take() {
                    spans.push(Span::styled(format!(" <{url}>"), theme.dim()));
                }
            }
            Event::Text(t) if in_code_block => {
                for l in t.lines() {
                    lines.push(Line::styled(format!("  {l}"), theme.code()));
                }
            }
            Event::Text(t) => spans.push(Span::styled(t.to_string(), top(&styles))),
            Event::Code(t) => spans.push(Span::styled(t.to_string(), theme.code())),
            Event::SoftBreak => spans.push(Span::raw(" ")),
            Event::HardBreak | Event::End(TagEnd::Item) => flush(&mut lines, &mut spans),
            Event::Rule => {
                flush(&mut lines, &mut spans);
                lines.push(Line::styled("────", theme.dim()));
            }
            _ => {}
        }
    }
    flush(&mut lines, &mut spans);
    lines
}

/// SQL as lines with keywords, strings, numbers and comments styled. Uses the same tokenizer
/// as the engine's dialect layer; text it cannot tokenize is shown plain.
pub fn sql(src: &str, theme: Theme) -> Vec<Line<'static>> {
    use datafusion::sql::sqlparser::dialect::GenericDialect;
    use datafusion::sql::sqlparser::keywords::Keyword;
    use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer, Whitespace};
    let Ok(tokens) = Tokenizer::new(&GenericDialect {}, src).tokenize() else {
        return src.lines().map(|l| Line::raw(l.to_owned())).collect();
    };
    let mut lines = Vec::new();
    let mut spans: Vec<Span<'static>> = Vec::new();
    let push_text =
        |text: String, style: Style, lines: &mut Vec<Line<'static>>, spans: &mut Vec<Span<'static>>| {
            let mut parts = text.split('\n').peekable();
            while let Some(part) = parts.next() {
                if !part.is_empty() {
                    spans.push(Span::styled(part.to_owned(), style));
                }
                if parts.peek().is_some() {
                    lines.push(Line::from(std::mem::take(spans)));
                }
            }
        };
    for token in tokens {
        let style = match &token {
            Token::Word(w) if w.keyword != Keyword::NoKeyword && w.quote_style.is_none() => theme.keyword(),
            Token::SingleQuotedString(_) | Token::NationalStringLiteral(_) => theme.string(),
            Token::Number(..) => theme.number(),
            Token::Whitespace(Whitespace::SingleLineComment { .. } | Whitespace::MultiLineComment(_)) => {
                theme.dim()
            }
            _ => theme.plain(),
        };
        push_text(token.to_string(), style, &mut lines, &mut spans);
    }
    if !spans.is_empty() {
        lines.push(Line::from(spans));
    }
    lines
}
