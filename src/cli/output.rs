//! The one output handle: data to stdout, diagnostics and progress to stderr, colour only on a
//! terminal and never with `NO_COLOR`, nothing but errors with `--quiet`.

use std::io::{IsTerminal, Write};
use std::path::Path;

use crate::playbook::{Diagnostic, Severity};

#[derive(Debug, Clone, Copy)]
pub struct Output {
    color: bool,
    quiet: bool,
    /// `--no-color` or `NO_COLOR`: no colour anywhere, terminal or not.
    no_color: bool,
}

impl Output {
    pub fn new(no_color: bool, quiet: bool) -> Self {
        let env_no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let color = !no_color && !env_no_color && std::io::stderr().is_terminal();
        Output {
            color,
            quiet,
            no_color: no_color || env_no_color,
        }
    }

    /// Whether a full-screen UI may use colour (`--no-color` and `NO_COLOR` say no).
    pub fn wants_color(&self) -> bool {
        !self.no_color
    }

    /// Data the user asked for (schema, graph, JSON): always printed.
    pub fn data(&self, text: &str) {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
    }

    /// A short status line (summaries): stdout, suppressed by `--quiet`.
    pub fn status(&self, text: &str) {
        if !self.quiet {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{text}");
        }
    }

    /// A status line that stays off stdout when stdout carries JSON: `note` with `--json`,
    /// `status` without.
    pub fn status_beside(&self, json: bool, text: &str) {
        if json { self.note(text) } else { self.status(text) }
    }

    /// Something the user should know that is not the data asked for (a repair, a takeover):
    /// stderr, so `--json` output stays clean; suppressed by `--quiet`.
    pub fn note(&self, text: &str) {
        if !self.quiet {
            let mut err = std::io::stderr().lock();
            let _ = writeln!(err, "irp: {text}");
        }
    }

    /// A spinner with the elapsed time and a message, on standard error, drawn only on a
    /// terminal and never with `--quiet`.
    pub fn spinner(&self, message: &str) -> indicatif::ProgressBar {
        if self.quiet || !std::io::stderr().is_terminal() {
            return indicatif::ProgressBar::hidden();
        }
        let bar = indicatif::ProgressBar::new_spinner();
        if let Ok(style) = indicatif::ProgressStyle::with_template("{spinner} {elapsed_precise} {msg}") {
            bar.set_style(style);
        }
        bar.set_message(message.to_owned());
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        bar
    }

    /// A progress bar on standard error, drawn only on a terminal and never with `--quiet`.
    pub fn progress(&self, total: u64, unit: &str) -> indicatif::ProgressBar {
        if self.quiet || !std::io::stderr().is_terminal() {
            return indicatif::ProgressBar::hidden();
        }
        let bar = indicatif::ProgressBar::new(total);
        let template =
            format!("{{spinner}} {{bar:40}} {{human_pos}}/{{human_len}} {unit} ({{per_sec}}, {{eta}} left)");
        if let Ok(style) = indicatif::ProgressStyle::with_template(&template) {
            bar.set_style(style);
        }
        bar
    }

    /// A diagnostic about a file: stderr.
    pub fn diagnostic(&self, path: &Path, d: &Diagnostic) {
        if self.quiet && d.severity == Severity::Warning {
            return;
        }
        let text = d.display(path).to_string();
        let text = if self.color {
            colorize(&text, d.severity)
        } else {
            text
        };
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "{text}");
    }

    /// An error not tied to a position: `irp: error: …` on stderr, hints on their own lines.
    pub fn error(&self, message: &str, hints: &[String]) {
        let mut err = std::io::stderr().lock();
        let head = if self.color {
            "\x1b[1;31merror\x1b[0m"
        } else {
            "error"
        };
        let _ = writeln!(err, "irp: {head}: {message}");
        for h in hints {
            let _ = writeln!(err, "  hint: {h}");
        }
    }
}

fn colorize(text: &str, severity: Severity) -> String {
    let (word, code) = match severity {
        Severity::Error => ("error", "1;31"),
        Severity::Warning => ("warning", "1;33"),
    };
    text.replacen(
        &format!(": {word}: "),
        &format!(": \x1b[{code}m{word}\x1b[0m: "),
        1,
    )
    .replacen("\n  hint:", "\n  \x1b[36mhint\x1b[0m:", 1)
}
