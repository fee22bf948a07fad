//! `command` actions: a program and its arguments as a list, run without a shell, with a timeout,
//! its standard output and error kept up to a cap. The exit code decides success. The program
//! runs in its own process group, and every descendant is found (the process tree, a mark in the
//! environment, irp adopting orphans as a child subreaper) and killed when the command ends or
//! times out, so nothing it started outlives the step. It runs in an explicit environment (no
//! credentials of the responder's unless the step names them), and irp never waits on its pipes
//! for long.

use std::fmt::Write as _;
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
    /// Credential values found in the output and replaced before it was kept.
    pub redacted: Vec<Redaction>,
    /// Variables the step names that irp's environment does not have.
    pub unset: Vec<String>,
}

/// A credential value found in a command's output and replaced by `[redacted NAME]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redaction {
    /// The variable whose value it is.
    pub name: String,
    /// `output` or `errors`.
    pub stream: &'static str,
    pub count: usize,
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
        let mut redacted = String::new();
        for r in &self.redacted {
            let _ = write!(
                redacted,
                "; the value of {} was found {} time{} in the {} and replaced by `[redacted {}]` before it was kept",
                r.name,
                r.count,
                if r.count == 1 { "" } else { "s" },
                r.stream,
                r.name
            );
        }
        let unset = if self.unset.is_empty() {
            String::new()
        } else {
            format!(
                "; not set in irp's environment, so not passed: {}",
                self.unset.join(", ")
            )
        };
        format!(
            "{ended} in {:.1}s, {} bytes of output, {} of errors{}{}{unset}{redacted}",
            self.elapsed.as_secs_f64(),
            self.stdout.len(),
            self.stderr.len(),
            cut(self.dropped.0, "output"),
            cut(self.dropped.1, "errors")
        )
    }
}

/// The variables a command sees from irp's own environment; nothing else is passed on (no AWS
/// credentials or profile, no tokens). `HOME` is a scratch folder of the command's own, so the
/// AWS CLI's files and SSO caches under the responder's home are out of reach, and the instance
/// metadata service is switched off for AWS tools.
pub const PASSED_ENV: [&str; 5] = ["PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ"];

/// How long the output is read after the command ends or is stopped: what a descendant that
/// keeps the pipes open writes later is not waited for.
const DRAIN: Duration = Duration::from_secs(1);

/// The variables whose values are credentials wherever they come from: a command's output is
/// searched for their values (irp's own, passed or not) and they are replaced before it is kept.
pub const CREDENTIAL_VARS: [&str; 4] = [
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
];

/// Variables irp sets itself, which a step cannot name.
pub const SET_BY_IRP: [&str; 3] = ["HOME", "AWS_EC2_METADATA_DISABLED", MARK_VAR];

/// Values shorter than this are not searched for (they would match by chance).
const SHORTEST_SECRET: usize = 8;

/// Whether a variable's name says its value is a secret (searched for in the output when the
/// step passes it).
fn secret_name(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    CREDENTIAL_VARS.contains(&upper.as_str())
        || ["SECRET", "TOKEN", "PASSWORD", "PASSWD", "CREDENTIAL", "KEY"]
            .iter()
            .any(|w| upper.contains(w))
}

/// The credential values irp knows: its environment's AWS credentials, and the values of the
/// variables the step passes whose names say secret.
fn known_secrets(env: &[String]) -> Vec<(String, Vec<u8>)> {
    let mut names: Vec<&str> = CREDENTIAL_VARS.to_vec();
    names.extend(env.iter().map(String::as_str).filter(|n| secret_name(n)));
    names.sort_unstable();
    names.dedup();
    names
        .into_iter()
        .filter_map(|n| {
            let v = std::env::var_os(n)?;
            let v = v.as_encoded_bytes().to_vec();
            (v.len() >= SHORTEST_SECRET).then(|| (n.to_owned(), v))
        })
        .collect()
}

/// Replaces every occurrence of each secret in `buf` by `[redacted NAME]`; the counts per name.
fn redact(buf: &mut Vec<u8>, secrets: &[(String, Vec<u8>)]) -> Vec<(String, usize)> {
    let mut counts = Vec::new();
    // Longest first, so a value that contains another is replaced whole.
    let mut order: Vec<&(String, Vec<u8>)> = secrets.iter().collect();
    order.sort_by_key(|(_, v)| std::cmp::Reverse(v.len()));
    for (name, value) in order {
        let mut out = Vec::with_capacity(buf.len());
        let (mut i, mut n) = (0, 0);
        while i < buf.len() {
            if buf[i..].starts_with(value) {
                out.extend_from_slice(format!("[redacted {name}]").as_bytes());
                i += value.len();
                n += 1;
            } else {
                out.push(buf[i]);
                i += 1;
            }
        }
        if n > 0 {
            *buf = out;
            counts.push((name.clone(), n));
        }
    }
    counts
}

/// Runs `argv` (never through a shell) with `timeout`, in an explicit environment
/// ([`PASSED_ENV`], the variables `env` names, a scratch `HOME`), and returns its output with
/// every credential value irp knows replaced.
pub fn run(argv: &[String], env: &[String], timeout: Duration) -> Result<Ran, String> {
    let (program, rest) = argv.split_first().ok_or("the command is empty")?;
    let started = Instant::now();
    let home = ScratchHome::new().map_err(|e| format!("cannot make a scratch home for `{program}`: {e}"))?;
    let mut cmd = Command::new(program);
    cmd.args(rest).env_clear();
    for name in PASSED_ENV {
        if let Some(v) = std::env::var_os(name) {
            cmd.env(name, v);
        }
    }
    if std::env::var_os("PATH").is_none() {
        cmd.env("PATH", "/usr/local/bin:/usr/bin:/bin");
    }
    let mut unset = Vec::new();
    for name in env {
        if SET_BY_IRP.contains(&name.as_str()) {
            return Err(format!(
                "`{name}` is set by irp and cannot be passed to a command"
            ));
        }
        match std::env::var_os(name) {
            Some(v) => {
                cmd.env(name, v);
            }
            None => unset.push(name.clone()),
        }
    }
    // Orphans of the command (a `setsid` grandchild whose parent exited) are re-parented to irp
    // rather than to init, and every descendant carries the run's mark, so none is lost.
    let _ = rustix::process::set_child_subreaper(Some(rustix::process::getpid()));
    let mark = home.mark();
    let mut child = cmd
        .env("HOME", &home.0)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env(MARK_VAR, &mark)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(|e| format!("cannot start `{program}`: {e}"))?;
    let pgid = child.id();
    let out = child.stdout.take().map(reader);
    let err = child.stderr.take().map(reader);
    let mut timed_out = false;
    let mut seen = Descendants::new(pgid);
    let mut polls = 0u32;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() >= timeout => {
                timed_out = true;
                let _ = seen.look(&mark);
                kill_group(pgid);
                seen.kill_all(&mark);
                break child
                    .wait()
                    .map_err(|e| format!("waiting for `{program}`: {e}"))?;
            }
            Ok(None) => {
                // Every tenth of a second, note the command's descendants, so one that drops
                // the mark (a cleared environment) is still known when the time comes.
                if polls.is_multiple_of(10) {
                    let _ = seen.look(&mark);
                }
                polls += 1;
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => return Err(format!("waiting for `{program}`: {e}")),
        }
    };
    // Everything the command left behind: its group, and every descendant in another group or
    // session (`setsid`), which would otherwise outlive the step and hold the pipes.
    kill_group(pgid);
    seen.kill_all(&mark);
    let deadline = Instant::now() + DRAIN;
    let take = |r: Option<Reader>| r.map(|r| r.take(deadline)).unwrap_or_default();
    let (mut stdout, d_out) = take(out);
    let (mut stderr, d_err) = take(err);
    drop(home);
    let secrets = known_secrets(env);
    let mut redacted = Vec::new();
    for (buf, stream) in [(&mut stdout, "output"), (&mut stderr, "errors")] {
        for (name, count) in redact(buf, &secrets) {
            redacted.push(Redaction { name, stream, count });
        }
    }
    Ok(Ran {
        code: status.code(),
        timed_out,
        stdout,
        stderr,
        dropped: (d_out, d_err),
        elapsed: started.elapsed(),
        redacted,
        unset,
    })
}

fn kill_group(pgid: u32) {
    if let Some(pgid) = i32::try_from(pgid).ok().and_then(rustix::process::Pid::from_raw) {
        // The group is gone already when everything in it has exited; nothing to do then.
        let _ = rustix::process::kill_process_group(pgid, rustix::process::Signal::KILL);
    }
}

/// The variable that marks every process of one command run (its value is unique to the run).
pub const MARK_VAR: &str = "IRP_COMMAND_RUN";

/// The processes of one command run, found in `/proc`: the command, everything below it in the
/// process tree, and every process whose environment carries the run's mark. Each is kept with
/// its start time, so a process id the system has since given to another process is never hit.
struct Descendants {
    root: u32,
    known: std::collections::BTreeMap<u32, u64>,
}

impl Descendants {
    fn new(root: u32) -> Descendants {
        Descendants {
            root,
            known: std::collections::BTreeMap::new(),
        }
    }

    /// Adds what is in the tree below the command, below a known process, or marked, now;
    /// returns the processes it saw. Only processes not known yet have their environment read.
    fn look(&mut self, mark: &str) -> Vec<Proc> {
        let procs = processes();
        let wanted = format!("{MARK_VAR}={mark}");
        for p in &procs {
            if self.known.get(&p.pid) != Some(&p.start) && (p.pid == self.root || carries(p.pid, &wanted)) {
                self.known.insert(p.pid, p.start);
            }
        }
        // Down the tree from every known process, until nothing new is found.
        loop {
            let before = self.known.len();
            for p in &procs {
                if self.known.contains_key(&p.ppid) && !self.known.contains_key(&p.pid) {
                    self.known.insert(p.pid, p.start);
                }
            }
            if self.known.len() == before {
                break;
            }
        }
        procs
    }

    /// Kills every known process still running (the same process: same id, same start), and
    /// reaps those re-parented to irp. Looks again after each round, for forks in flight.
    fn kill_all(&mut self, mark: &str) {
        let me = rustix::process::getpid().as_raw_nonzero().get().unsigned_abs();
        for _ in 0..4 {
            let alive: Vec<Proc> = self
                .look(mark)
                .into_iter()
                .filter(|p| self.known.get(&p.pid) == Some(&p.start) && p.pid != self.root)
                .collect();
            if alive.iter().all(|p| p.zombie) {
                for p in alive.iter().filter(|p| p.ppid == me) {
                    reap(p.pid);
                }
                return;
            }
            for p in &alive {
                if let Some(pid) = i32::try_from(p.pid).ok().and_then(rustix::process::Pid::from_raw) {
                    let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
                }
            }
            std::thread::sleep(Duration::from_millis(20));
            for p in alive.iter().filter(|p| p.ppid == me) {
                reap(p.pid);
            }
        }
    }
}

/// One process as `/proc/<pid>/stat` says.
#[derive(Debug, Clone)]
struct Proc {
    pid: u32,
    ppid: u32,
    /// Clock ticks after boot.
    start: u64,
    zombie: bool,
}

/// Every process `/proc` shows (the others' too: only those found through the tree or the mark
/// are ever touched).
fn processes() -> Vec<Proc> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| {
        let pid: u32 = e.ok()?.file_name().to_str()?.parse().ok()?;
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // `pid (comm) state ppid …`: comm may hold spaces and parentheses; it ends at the last `)`.
        let rest = stat.get(stat.rfind(')')? + 2..)?;
        let fields: Vec<&str> = rest.split(' ').collect();
        Some(Proc {
            pid,
            zombie: fields.first() == Some(&"Z"),
            ppid: fields.get(1)?.parse().ok()?,
            start: fields.get(19)?.parse().ok()?,
        })
    })
    .collect()
}

/// Whether process `pid`'s environment holds `wanted` (`NAME=value`); unreadable is no.
fn carries(pid: u32, wanted: &str) -> bool {
    std::fs::read(format!("/proc/{pid}/environ"))
        .is_ok_and(|env| env.split(|b| *b == 0).any(|var| var == wanted.as_bytes()))
}

/// Collects the exit of a killed process that irp adopted, so no zombie is left.
fn reap(pid: u32) {
    if let Some(pid) = i32::try_from(pid).ok().and_then(rustix::process::Pid::from_raw) {
        let _ = rustix::process::waitpid(Some(pid), rustix::process::WaitOptions::NOHANG);
    }
}

/// An empty folder for the command's `HOME`, removed when it is dropped.
struct ScratchHome(std::path::PathBuf);

impl ScratchHome {
    fn new() -> std::io::Result<ScratchHome> {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let dir = std::env::temp_dir().join(format!("irp-command-home-{}-{n}-{nanos}", std::process::id()));
        std::fs::create_dir(&dir)?;
        Ok(ScratchHome(dir))
    }

    /// A value unique to this run (the folder's name is).
    fn mark(&self) -> String {
        self.0
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }
}

impl Drop for ScratchHome {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A stream read on a thread of its own into a shared buffer, so the caller can stop waiting for
/// it (a descendant in another process group, `setsid`, may keep it open for ever).
struct Reader {
    shared: std::sync::Arc<std::sync::Mutex<(Vec<u8>, u64)>>,
    done: std::sync::mpsc::Receiver<()>,
}

fn reader(r: impl Read + Send + 'static) -> Reader {
    let shared = std::sync::Arc::new(std::sync::Mutex::new((Vec::new(), 0u64)));
    let (tx, done) = std::sync::mpsc::channel();
    let into = std::sync::Arc::clone(&shared);
    std::thread::spawn(move || {
        capped(r, &into);
        let _ = tx.send(());
    });
    Reader { shared, done }
}

impl Reader {
    /// What was read by the end of the stream, or by `deadline` if it stays open.
    fn take(self, deadline: Instant) -> (Vec<u8>, u64) {
        let _ = self
            .done
            .recv_timeout(deadline.saturating_duration_since(Instant::now()));
        let mut g = self
            .shared
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        (std::mem::take(&mut g.0), g.1)
    }
}

fn capped(mut r: impl Read, into: &std::sync::Mutex<(Vec<u8>, u64)>) {
    let mut buf = [0u8; 8192];
    loop {
        match r.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let mut g = into.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                let room = OUTPUT_CAP.saturating_sub(g.0.len());
                g.0.extend_from_slice(&buf[..n.min(room)]);
                g.1 += (n - n.min(room)) as u64;
            }
        }
    }
}
