//! The lakes rehearsals run on: generated once per scenario, seed and end day into a cache
//! folder and reused; copied (as hard links) into a working lake of its own when the exercise
//! has injects, so an inject never changes the cached lake another rehearsal reads.

use super::RehearseError;
use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};

use super::scenario::{Inject, LakeSpec};
use crate::engine::InjectLanded;
use crate::lake::cloudtrail::{Mapped, NotMapped, Record, map_record};
use crate::lake::generate::{self, Config, Story as Generator};
use crate::lake::import::{self, Normalise};
use crate::lake::ocsf::{api_activity_schema, to_batch};
use crate::lake::{PartitionWriter, partition_dir};

/// irp's cache folder: `IRP_CACHE`, else `$XDG_CACHE_HOME/irp`, else `~/.cache/irp`.
pub fn cache_root() -> PathBuf {
    let env = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from);
    env("IRP_CACHE")
        .or_else(|| env("XDG_CACHE_HOME").map(|d| d.join("irp")))
        .or_else(|| env("HOME").map(|h| h.join(".cache").join("irp")))
        .unwrap_or_else(|| std::env::temp_dir().join("irp-cache"))
}

/// Where irp keeps what a team reviews later, which a system's cache cleaning must not take:
/// `IRP_DATA`, else `$XDG_DATA_HOME/irp`, else `~/.local/share/irp`. Rehearsal cases live under
/// its `cases/`; lakes stay in the cache (they are made again from their scenario).
pub fn data_root() -> PathBuf {
    let env = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from);
    env("IRP_DATA")
        .or_else(|| env("XDG_DATA_HOME").map(|d| d.join("irp")))
        .or_else(|| env("HOME").map(|h| h.join(".local").join("share").join("irp")))
        .unwrap_or_else(|| std::env::temp_dir().join("irp-data"))
}

/// The folder rehearsal cases open in by default.
pub fn cases_root() -> PathBuf {
    data_root().join("cases")
}

/// Moves the rehearsal cases an older irp left under the cache's `cases/` to [`cases_root`]
/// (a rename: the same bytes, nothing rewritten). Returns the cases moved and, for each one
/// that could not be (another file system, a name taken), where it stays and why.
pub fn move_cached_cases() -> (Vec<PathBuf>, Vec<(PathBuf, String)>) {
    let old = cache_root().join("cases");
    let new = cases_root();
    let (mut moved, mut left) = (Vec::new(), Vec::new());
    let Ok(entries) = std::fs::read_dir(&old) else {
        return (moved, left);
    };
    if old == new {
        return (moved, left);
    }
    if let Err(e) = std::fs::create_dir_all(&new) {
        left.push((old, format!("cannot create {}: {e}", new.display())));
        return (moved, left);
    }
    for entry in entries.flatten() {
        let from = entry.path();
        let to = new.join(entry.file_name());
        if to.exists() {
            left.push((from, format!("{} exists already", to.display())));
            continue;
        }
        match std::fs::rename(&from, &to) {
            Ok(()) => moved.push(to),
            Err(e) => left.push((from, e.to_string())),
        }
    }
    // Gone when it is empty; kept (with what stayed) otherwise.
    let _ = std::fs::remove_dir(&old);
    (moved, left)
}

/// The generator settings a scenario's lake is made with; without an `end`, the lake ends
/// yesterday.
pub fn config(spec: &LakeSpec, generator: Generator, seed: u64, today: NaiveDate) -> Config {
    Config {
        scenario: generator,
        days: spec.days,
        events: spec.events,
        seed,
        regions: spec
            .regions
            .clone()
            .unwrap_or_else(|| vec!["us-east-1".to_owned()]),
        accounts: spec
            .accounts
            .clone()
            .unwrap_or_else(|| vec!["111122223333".to_owned()]),
        // Yesterday: the lake is the past, and today belongs to the exercise (its injects).
        end: spec.end.unwrap_or(today - chrono::Duration::days(1)),
        threads: std::thread::available_parallelism().map_or(2, std::num::NonZero::get),
    }
}

/// The cache folder of a generated lake: one per set of generator settings.
pub fn cached_dir(root: &Path, cfg: &Config) -> PathBuf {
    root.join("lakes").join(format!(
        "g{}-{}-d{}-e{}-s{}-{}-{}-{}",
        crate::lake::generate::FORMAT,
        cfg.scenario.as_str(),
        cfg.days,
        cfg.events,
        cfg.seed,
        cfg.end.format("%Y%m%d"),
        cfg.regions.join("+"),
        cfg.accounts.join("+"),
    ))
}

/// The lake for `cfg`, generated into the cache unless it is there already. Generation goes to
/// a temporary folder renamed into place at the end, so a lake in the cache is always whole.
/// Returns the folder and whether it was reused.
pub fn cached_lake(
    root: &Path,
    cfg: &Config,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> Result<(PathBuf, bool), String> {
    let dir = cached_dir(root, cfg);
    build_once(&dir, "truth.json", |tmp| {
        generate::generate(tmp, cfg, progress)
            .map(drop)
            .map_err(|e| format!("cannot generate the lake: {e}"))
    })
}

/// The cache folder `dir`, built by `build` unless it is whole already (it holds `marker`). The
/// build goes to a temporary folder renamed into place at the end, so a lake in the cache is
/// always whole; a failed build leaves nothing. Returns the folder and whether it was reused.
fn build_once(
    dir: &Path,
    marker: &str,
    build: impl FnOnce(&Path) -> Result<(), String>,
) -> Result<(PathBuf, bool), String> {
    let done = dir.join(marker);
    if done.is_file() {
        return Ok((dir.to_owned(), true));
    }
    let parent = dir.parent().unwrap_or(dir);
    std::fs::create_dir_all(parent).map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
    let tmp = parent.join(format!(
        ".{}.partial-{}",
        dir.file_name().unwrap_or_default().to_string_lossy(),
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&tmp);
    if let Err(e) = build(&tmp) {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e);
    }
    match std::fs::rename(&tmp, dir) {
        Ok(()) => Ok((dir.to_owned(), false)),
        // Another rehearsal made the same lake meanwhile: theirs is as good.
        Err(_) if done.is_file() => {
            let _ = std::fs::remove_dir_all(&tmp);
            Ok((dir.to_owned(), true))
        }
        Err(e) => Err(format!("cannot move the lake into {}: {e}", dir.display())),
    }
}

/// The lake real `CloudTrail` logs make, imported into the cache unless they are there already:
/// one folder per content (the files' bytes, their names and the repairs asked for), so the
/// scenarios that import the same files share one lake. Returns the folder and whether it was
/// reused.
pub fn imported_lake(
    root: &Path,
    paths: &[PathBuf],
    normalise: &Normalise,
) -> Result<(PathBuf, bool), String> {
    use sha2::Digest;
    let (files, problems) = import::input_files(paths);
    if let Some(p) = problems.first() {
        return Err(p.to_string());
    }
    if files.is_empty() {
        return Err(format!(
            "no CloudTrail files (.json, .jsonl, .ndjson, optionally .gz) under {}",
            paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let mut digest = sha2::Sha256::new();
    digest.update(format!("format {}\n", crate::lake::generate::FORMAT));
    digest.update(serde_json::to_vec(normalise).unwrap_or_default());
    for f in &files {
        let bytes = std::fs::read(f).map_err(|e| format!("cannot read {}: {e}", f.display()))?;
        let name = f.file_name().unwrap_or_default().to_string_lossy();
        digest.update(format!("\n{name} {}\n", bytes.len()));
        digest.update(&bytes);
    }
    let hex = crate::journal::entry::hex(&digest.finalize()[..8]);
    let dir = root
        .join("lakes")
        .join(format!("i{}-{hex}", crate::lake::generate::FORMAT));
    build_once(&dir, IMPORTED, |tmp| {
        let options = import::Options {
            threads: std::thread::available_parallelism().map_or(2, std::num::NonZero::get),
            normalise: normalise.clone(),
            ..import::Options::default()
        };
        let summary = import::import(&files, tmp, &options, &|_| {})
            .map_err(|e| format!("cannot import the scenario's logs: {e}"))?;
        if let Some(p) = summary.problems.first() {
            return Err(format!(
                "the scenario's logs do not import cleanly ({} problem(s)); the first: {p}",
                summary.problem_count
            ));
        }
        let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
        let note = format!(
            "{} record(s) from {} file(s): {}\n",
            summary.records,
            summary.files,
            names.join(", ")
        );
        std::fs::write(tmp.join(IMPORTED), note)
            .map_err(|e| format!("cannot write into {}: {e}", tmp.display()))
    })
}

/// The file that marks an imported lake in the cache as whole (what was imported).
const IMPORTED: &str = "imported.txt";

/// A lake of the exercise's own for injects to land in: `from`'s files hard-linked (copied where
/// links are not possible) into `to`.
pub fn working_copy(from: &Path, to: &Path) -> Result<(), RehearseError> {
    let err = |p: &Path, source: std::io::Error| RehearseError::Copy {
        path: p.to_owned(),
        source,
    };
    std::fs::create_dir_all(to).map_err(|e| err(to, e))?;
    for entry in std::fs::read_dir(from).map_err(|e| err(from, e))?.flatten() {
        let src = entry.path();
        let dst = to.join(entry.file_name());
        let ft = entry.file_type().map_err(|e| err(&src, e))?;
        if ft.is_dir() {
            working_copy(&src, &dst)?;
        } else if std::fs::hard_link(&src, &dst).is_err() {
            std::fs::copy(&src, &dst).map_err(|e| err(&dst, e))?;
        }
    }
    Ok(())
}

/// Writes an inject's events into `lake` as they would arrive at `now`, each record mapped to
/// OCSF as the `CloudTrail` importer maps it, into one new file per partition
/// (`part-inject-<name>.zstd.parquet`). Returns what the journal records.
pub fn land(lake: &Path, inject: &Inject, now: DateTime<Utc>) -> Result<InjectLanded, RehearseError> {
    let mut rows: Vec<Mapped> = Vec::with_capacity(inject.events.len());
    for (i, record) in inject.events.iter().enumerate() {
        let mut record = record.clone();
        let Some(obj) = record.as_object_mut() else {
            return Err(RehearseError::InjectNotRecord {
                inject: inject.name.clone(),
                event: i + 1,
            });
        };
        let offset = obj.remove("offsetSeconds").and_then(|v| v.as_i64()).unwrap_or(0);
        let at = now + chrono::Duration::seconds(offset);
        obj.insert(
            "eventTime".into(),
            at.to_rfc3339_opts(SecondsFormat::Secs, true).into(),
        );
        obj.insert(
            "eventID".into(),
            format!("inject-{}-{}-{}", inject.name, at.timestamp_millis(), i + 1).into(),
        );
        obj.entry("eventVersion").or_insert_with(|| "1.09".into());
        obj.entry("eventType").or_insert_with(|| "AwsApiCall".into());
        obj.entry("awsRegion")
            .or_insert_with(|| inject.region.clone().into());
        obj.entry("recipientAccountId")
            .or_insert_with(|| inject.account.clone().into());
        let text = serde_json::to_string(&record).unwrap_or_default();
        let parsed: Record<'_> = serde_json::from_str(&text).map_err(|e| RehearseError::InjectEvent {
            inject: inject.name.clone(),
            event: i + 1,
            why: e.to_string(),
        })?;
        match map_record(&parsed) {
            Ok(m) => rows.push(m),
            Err(NotMapped::Bad(why)) => {
                return Err(RehearseError::InjectEvent {
                    inject: inject.name.clone(),
                    event: i + 1,
                    why,
                });
            }
            Err(NotMapped::NoTable(why)) => {
                return Err(RehearseError::InjectNoTable {
                    inject: inject.name.clone(),
                    event: i + 1,
                    why: why.to_owned(),
                });
            }
        }
    }
    rows.sort_by_key(|m| m.event.time);
    // One file per partition the events fall in.
    let mut groups: std::collections::BTreeMap<PathBuf, Vec<crate::lake::ocsf::ApiEvent>> =
        std::collections::BTreeMap::new();
    for m in rows {
        let day = DateTime::<Utc>::from_timestamp_millis(m.event.time)
            .unwrap_or(now)
            .date_naive();
        let dir = partition_dir(lake, m.table, &m.event.region, &m.event.accountid, day);
        groups.entry(dir).or_default().push(m.event);
    }
    let mut files = Vec::new();
    let mut count = 0;
    for (dir, events) in groups {
        std::fs::create_dir_all(&dir).map_err(|source| RehearseError::Create {
            path: dir.clone(),
            source,
        })?;
        let path = dir.join(format!("part-inject-{}.zstd.parquet", inject.name));
        let schema = api_activity_schema();
        let batch = to_batch(&events).map_err(|why| RehearseError::InjectBatch {
            inject: inject.name.clone(),
            why,
        })?;
        let mut w = PartitionWriter::create(&path, &schema)?;
        w.write(&batch)?;
        w.finish()?;
        count += events.len() as u64;
        files.push(path.strip_prefix(lake).unwrap_or(&path).display().to_string());
    }
    Ok(InjectLanded {
        name: inject.name.clone(),
        title: inject.title.clone(),
        text: inject.announce.clone(),
        events: count,
        file: files.join(", "),
    })
}
