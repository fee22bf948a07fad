//! One writer per case. The lock is an OS file lock on `case.lock` (released by the kernel when
//! the holder exits, however it exits), and the file's contents say who holds it. A holder that
//! exits cleanly empties the file; finding the lock free but the file still naming a holder means
//! that holder died, and the new holder journals the takeover.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Who holds (or held) a case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    pub pid: u32,
    pub host: String,
    /// RFC 3339.
    pub since: String,
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "process {} on {} since {}", self.pid, self.host, self.since)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("the case is open in another irp: {0}")]
    Held(Holder),
    #[error("the case is open in another irp (it has not said which yet)")]
    HeldUnknown,
    #[error("cannot lock {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
}

/// The held lock; dropping it releases the case.
#[derive(Debug)]
pub struct CaseLock {
    file: File,
}

impl CaseLock {
    /// Takes the lock at `path` for `me`. Returns the previous holder when it died holding it.
    pub fn acquire(path: &Path, me: &Holder) -> Result<(CaseLock, Option<Holder>), LockError> {
        let io_err = |source| LockError::Io {
            path: path.to_owned(),
            source,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(io_err)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut text = String::new();
                let _ = file.read_to_string(&mut text);
                return Err(serde_json::from_str::<Holder>(text.trim())
                    .map_or(LockError::HeldUnknown, LockError::Held));
            }
            Err(TryLockError::Error(e)) => return Err(io_err(e)),
        }
        let mut text = String::new();
        file.read_to_string(&mut text).map_err(io_err)?;
        let stale = if text.trim().is_empty() {
            None
        } else {
            // Unreadable leftovers still mean someone died holding the case.
            Some(serde_json::from_str::<Holder>(text.trim()).unwrap_or(Holder {
                pid: 0,
                host: "unknown".to_owned(),
                since: "unknown".to_owned(),
            }))
        };
        let me_text = serde_json::to_string(me).map_err(|e| io_err(io::Error::other(e)))?;
        file.set_len(0).map_err(io_err)?;
        file.seek(SeekFrom::Start(0)).map_err(io_err)?;
        file.write_all(me_text.as_bytes()).map_err(io_err)?;
        file.write_all(b"\n").map_err(io_err)?;
        file.sync_data().map_err(io_err)?;
        Ok((CaseLock { file }, stale))
    }
}

impl Drop for CaseLock {
    fn drop(&mut self) {
        // A clean release: no holder named. The OS lock goes with the file handle.
        let _ = self.file.set_len(0);
        let _ = self.file.sync_data();
        let _ = self.file.unlock();
    }
}

/// This machine's name, for lock files and session entries.
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}
