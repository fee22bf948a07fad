//! A rehearsal a team plays on a shared case: the facilitator's irp publishes the exercise's
//! lake under the case's prefix (`lake/…`) and each inject's files as it lands them; every
//! player's irp keeps a copy of that lake beside its replica and fetches each inject's files
//! when its `inject_landed` entry arrives (docs/rehearsals.md, "A team exercise").

use std::path::{Component, Path, PathBuf};

use super::{CaseError, Session, io, store_error};
use crate::engine::Event;

/// Where a shared case keeps the exercise's lake.
const LAKE: &str = "lake/";

impl Session {
    /// Who opened the case: in a team exercise, the facilitator, whose irp lands the injects.
    pub fn facilitator(&self) -> Option<&str> {
        self.entries.first().map(|e| e.actor.as_str())
    }

    /// Whether this session plays a team exercise it did not open: its lake is a copy of the
    /// facilitator's, fetched from S3, and its injects arrive rather than land.
    pub fn fetches_injects(&self) -> bool {
        self.shared.is_some() && self.state.exercise.is_some() && self.facilitator() != Some(self.actor())
    }

    /// The player's copy of a team exercise's lake: beside the replica, never inside it (the
    /// replica is made anew from S3 at times; the lake is kept).
    pub fn team_lake(&self) -> PathBuf {
        let name = self
            .dir
            .root
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        self.dir.root.with_file_name(format!("{name}.lake"))
    }

    /// Puts the lake's files (every file under `lake`, or the ones named, relative to it)
    /// under the case's `lake/`; a file already there is left as it is. Returns how many were
    /// put. Nothing for a case that is not shared.
    pub fn publish_lake(&self, lake: &Path, files: Option<&[String]>) -> Result<usize, CaseError> {
        match &self.shared {
            Some(store) => publish(store, lake, files),
            None => Ok(0),
        }
    }

    /// Fetches the exercise's lake files this player's copy lacks into `lake`: every file
    /// under the case's `lake/` (a first join), or those of the injects that landed. Returns
    /// how many arrived (the query backend must look again when any did).
    pub fn fetch_lake(&self, lake: &Path, everything: bool) -> Result<usize, CaseError> {
        let Some(store) = &self.shared else {
            return Ok(0);
        };
        let url = store.url();
        let names: Vec<String> = if everything {
            store
                .list(LAKE)
                .map_err(|e| store_error(&url, e))?
                .into_iter()
                .filter_map(|n| n.strip_prefix(LAKE).map(str::to_owned))
                .collect()
        } else {
            self.entries
                .iter()
                .filter_map(|e| match &e.event {
                    Event::InjectLanded(i) => Some(i.file.split(", ").map(str::to_owned).collect::<Vec<_>>()),
                    _ => None,
                })
                .flatten()
                .collect()
        };
        let mut fetched = 0;
        for rel in names {
            if !inside(&rel) {
                return Err(CaseError::Shared {
                    url,
                    what: format!("the exercise's lake names `{rel}`, outside the lake"),
                });
            }
            let path = lake.join(&rel);
            if path.exists() {
                continue;
            }
            let Some(bytes) = store
                .get(&format!("{LAKE}{rel}"))
                .map_err(|e| store_error(&url, e))?
            else {
                return Err(CaseError::Shared {
                    url,
                    what: format!(
                        "the exercise's lake has no `{rel}`: the facilitator's irp puts each file there before the entry that names it"
                    ),
                });
            };
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(io("cannot create", parent))?;
            }
            crate::journal::write_durably(&path, &bytes).map_err(io("cannot write", &path))?;
            fetched += 1;
        }
        Ok(fetched)
    }
}

/// Puts a lake's files under the case at `store` (`lake/…`), before or after the case exists:
/// a facilitator publishes the exercise's lake before opening the case, so that no player who
/// joins finds a case without its lake.
pub fn publish(
    store: &super::shared::Store,
    lake: &Path,
    files: Option<&[String]>,
) -> Result<usize, CaseError> {
    let names = if let Some(f) = files {
        f.to_vec()
    } else {
        let mut all = Vec::new();
        walk(lake, lake, &mut all).map_err(io("cannot read", lake))?;
        all
    };
    let mut put = 0;
    for rel in names {
        let path = lake.join(&rel);
        let bytes = std::fs::read(&path).map_err(io("cannot read", &path))?;
        if store
            .put_new(&format!("{LAKE}{rel}"), &bytes)
            .map_err(|e| store_error(&store.url(), e))?
            == super::shared::Put::Written
        {
            put += 1;
        }
    }
    Ok(put)
}

/// A relative path with plain parts only: no `..`, no root, no prefix.
fn inside(rel: &str) -> bool {
    !rel.is_empty()
        && Path::new(rel)
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
}

/// Every file under `dir`, relative to `root`, `/`-separated.
fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.flatten().collect();
    entries.sort_by_key(std::fs::DirEntry::file_name);
    for entry in entries {
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            walk(root, &path, out)?;
        } else if let Ok(rel) = path.strip_prefix(root) {
            out.push(
                rel.components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
                    .join("/"),
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::inside;

    /// A lake file an entry or a listing names stays under the lake: no climbing out, no root.
    #[test]
    fn a_lake_path_from_the_case_stays_inside_the_lake() {
        for ok in ["s3_data/region=us-east-1/part-inject-x.zstd.parquet", "a"] {
            assert!(inside(ok), "{ok}");
        }
        for bad in [
            "",
            "../outside",
            "s3_data/../../etc/passwd",
            "/etc/passwd",
            "./a/../../b",
        ] {
            assert!(!inside(bad), "{bad}");
        }
    }
}
