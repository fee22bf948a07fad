//! `command` actions: a program and its arguments as a list, run without a shell, with a timeout,
//! its standard output and error kept up to a cap. The exit code decides success. The program
//! runs in its own process group so a timeout stops everything it started.

use std::io::Read;
use std::os::unix::process::CommandExt as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The most of each stream kept; the rest is counted and dropped.
pub const OUTPUT_CAP: usize = 1 << 20;
/// A command's timeout when its step gives none.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_mins(5);

#[derive(Debug, Clone)]
pub struct Ran {
    /// The exit code; `None` when a signal ended it (the timeout's included).
    pub code: Option<i32>,
    pub timed_out: bool,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// Bytes beyond the cap, per stream.
    pub dropped: (u64, u64),
    pub elapsed: Duration,
}

impl Ran {
    pub fn succeeded(&self) -> bool {
        self.code == Some(0) && !self.timed_out
    }

    /// One line for the journal.
    pub fn summary(&self) -> String {
        let ended = if self.timed_out {
            format!("stopped after the timeout of {:.0}s", self.elapsed.as_secs_f64())
        } else {
            match self.code {
                Some(c) => format!("exit code {c}"),
                None => "ended by a signal".to_owned(),
            }
        };
        let cut = |n: u64, what: &str| {
            if n > 0 {
                format!(", {what} cut after {OUTPUT_CAP} bytes ({n} more dropped)")
            } else {
                String::new()
            }
        };
        format!(
            "{ended} in {:.1}s, {} bytes of output, {} of errors{}{}",
            self.elapsed.as_secs_f64(),
            self.stdout.len(),
            self.stderr.len(),
            cut(self.dropped.0, "output"),
            cut(self.dropped.1, "errors")
        )
    }
}

/// Runs `argv` (never through a shell) with `timeout`.
pub fn run(argv: &[String], timeout: Duration) -> Result<Ran, String> {
    let (program, rest) = argv.split_first().ok_or("the command is empty")?;
    let started = Instant::now();
    let mut child = Command::new(program)
        .args(rest)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(|e| format!("cannot start `{program}`: {e}"))?;
    let pgid = child.id();
    let out = child.stdout.take().map(|s| std::thread::spawn(move || capped(s)));
    let err = child.stderr.take().map(|s| std::thread::spawn(move || capped(s)));
    let mut timed_out = false;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() >= timeout => {
                timed_out = true;
                kill_group(pgid);
                break child
                    .wait()
                    .map_err(|e| format!("waiting for `{program}`: {e}"))?;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => return Err(format!("waiting for `{program}`: {e}")),
        }
    };
    let join = |h: Option<std::thread::JoinHandle<(Vec<u8>, u64)>>| {
        h.and_then(|h| h.join().ok()).unwrap_or_default()
    };
    let (stdout, d_out) = join(out);
    let (stderr, d_err) = join(err);
    Ok(Ran {
        code: status.code(),
        timed_out,
        stdout,
        stderr,
        dropped: (d_out, d_err),
        elapsed: started.elapsed(),
    })
}

fn kill_group(pgid: u32) {
    if let Some(pgid) = i32::try_from(pgid).ok().and_then(rustix::process::Pid::from_raw) {
        // The group is gone already when everything in it has exited; nothing to do then.
        let _ = rustix::process::kill_process_group(pgid, rustix::process::Signal::KILL);
    }
}

fn capped(mut r: impl Read) -> (Vec<u8>, u64) {
    let mut kept = Vec::new();
    let mut dropped = 0u64;
    let mut buf = [0u8; 8192];
    loop {
        match r.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let room = OUTPUT_CAP.saturating_sub(kept.len());
                kept.extend_from_slice(&buf[..n.min(room)]);
                dropped += (n - n.min(room)) as u64;
            }
        }
    }
    (kept, dropped)
}
