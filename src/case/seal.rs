//! Sealing a case outside its folder: the journal (as far as it goes), its signatures and a
//! manifest of every file (path, size, SHA-256) copied to S3, under the bucket's Object Lock
//! retention when it has one, and the seal journaled (the head it covers and the objects'
//! versions). `irp verify --against` compares a journal with its seals, so a journal rewritten
//! or cut short after a seal is caught. See `docs/evidence.md`.

use std::path::Path;

use aws_sdk_s3::error::SdkError;
use aws_sdk_s3::primitives::ByteStream;
use serde::{Deserialize, Serialize};

use crate::action::aws::AwsSettings;
use crate::engine::{CaseSealed, SealRetention, SealedObject};
use crate::journal::entry::sha256_hex;
use crate::journal::{CaseDir, Entry};

/// The manifest's format, in its `format` field.
pub const MANIFEST_FORMAT: &str = "irp-seal/1";

#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("`{0}` is not an S3 location: write s3://BUCKET/PREFIX")]
    Location(String),
    #[error("{0}")]
    Aws(String),
    #[error("{what} {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: std::path::PathBuf,
        source: std::io::Error,
    },
}

/// Where seals go: `s3://BUCKET/PREFIX`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub bucket: String,
    /// Without a trailing slash; may be empty.
    pub prefix: String,
}

impl Location {
    pub fn parse(url: &str) -> Result<Location, SealError> {
        let rest = url
            .strip_prefix("s3://")
            .ok_or_else(|| SealError::Location(url.to_owned()))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let valid_bucket = (3..=63).contains(&bucket.len())
            && bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
        if !valid_bucket || prefix.split('/').any(|p| p == ".." || p == ".") {
            return Err(SealError::Location(url.to_owned()));
        }
        Ok(Location {
            bucket: bucket.to_owned(),
            prefix: prefix.trim_matches('/').to_owned(),
        })
    }

    /// The folder of one case's seals.
    fn case_prefix(&self, case: &str) -> String {
        if self.prefix.is_empty() {
            format!("{case}/")
        } else {
            format!("{}/{case}/", self.prefix)
        }
    }

    pub fn url(&self) -> String {
        self.object_url(&self.prefix)
    }

    /// `s3://BUCKET/KEY` of a key in the bucket.
    pub fn object_url(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.bucket)
    }
}

/// What a seal holds about the case folder: `manifest.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Manifest {
    pub format: String,
    pub case: String,
    /// Entries covered: seq 0 to `entries - 1`.
    pub entries: u64,
    /// The `hash` of entry `entries - 1`.
    pub head: String,
    /// The journal's bytes covered, and their SHA-256.
    pub journal_bytes: u64,
    pub journal_sha256: String,
    pub sealed_at: String,
    /// Every file of the case folder (the journal as covered), sorted by path.
    pub files: Vec<ManifestFile>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ManifestFile {
    pub path: String,
    pub size: u64,
    pub sha256: String,
}

/// Files of a case folder that are not evidence: they change while nothing is recorded.
fn is_volatile(rel: &str) -> bool {
    rel == CaseDir::LOCK
        || rel == CaseDir::UI_LOG
        || Path::new(rel)
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("tmp"))
}

/// The manifest of a case folder whose journal's bytes `journal` hold `entries`.
pub fn manifest(
    dir: &CaseDir,
    case: &str,
    entries: &[Entry],
    journal: &[u8],
    sealed_at: &str,
) -> Result<Manifest, SealError> {
    // The journal as covered, not as the file stands: the rest of the folder is hashed as it is.
    let journal_sha256 = sha256_hex(journal);
    let mut files = vec![ManifestFile {
        path: CaseDir::JOURNAL.to_owned(),
        size: journal.len() as u64,
        sha256: journal_sha256.clone(),
    }];
    walk(&dir.root, "", &mut files)?;
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(Manifest {
        format: MANIFEST_FORMAT.to_owned(),
        case: case.to_owned(),
        entries: entries.len() as u64,
        head: entries
            .last()
            .map_or_else(|| crate::journal::GENESIS.to_owned(), |e| e.hash.clone()),
        journal_bytes: journal.len() as u64,
        journal_sha256,
        sealed_at: sealed_at.to_owned(),
        files,
    })
}

fn walk(root: &Path, rel: &str, out: &mut Vec<ManifestFile>) -> Result<(), SealError> {
    let here = if rel.is_empty() {
        root.to_owned()
    } else {
        root.join(rel)
    };
    let io = |what, path: &Path| {
        let path = path.to_owned();
        move |source| SealError::Io { what, path, source }
    };
    for item in std::fs::read_dir(&here).map_err(io("cannot read", &here))? {
        let item = item.map_err(io("cannot read", &here))?;
        let name = item.file_name().to_string_lossy().into_owned();
        let rel = if rel.is_empty() {
            name
        } else {
            format!("{rel}/{name}")
        };
        let kind = item.file_type().map_err(io("cannot read", &item.path()))?;
        if kind.is_dir() {
            walk(root, &rel, out)?;
        } else if kind.is_file() && rel != CaseDir::JOURNAL && !is_volatile(&rel) {
            let (sha256, size) =
                crate::journal::entry::sha256_file(&item.path()).map_err(io("cannot hash", &item.path()))?;
            out.push(ManifestFile {
                path: rel,
                size,
                sha256,
            });
        }
    }
    Ok(())
}

/// An S3 client for seals, with a runtime of its own (the callers are synchronous).
#[derive(Debug)]
pub struct Sealer {
    pub location: Location,
    runtime: tokio::runtime::Runtime,
    s3: aws_sdk_s3::Client,
    /// Object Lock retention to set on each object when the bucket has Object Lock but no
    /// default retention: days, COMPLIANCE mode.
    retain_days: Option<u32>,
}

/// What a bucket's Object Lock is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Lock {
    /// Object Lock is not enabled: objects can be replaced by whoever can write the bucket.
    None,
    Enabled {
        default: Option<(String, String)>,
    },
}

/// An S3 call's error as irp classifies every AWS error (access denied with the permission,
/// throttling, credentials, not found).
fn aws_error<E, R>(e: &SdkError<E, R>, permission: &str, what: &str) -> SealError
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    SealError::Aws(crate::action::aws::classify(e, permission, what).to_string())
}

impl Sealer {
    pub fn connect(
        location: Location,
        settings: &AwsSettings,
        retain_days: Option<u32>,
    ) -> Result<Sealer, SealError> {
        let (runtime, s3) = crate::action::aws::blocking_s3(settings).map_err(SealError::Aws)?;
        Ok(Sealer {
            location,
            runtime,
            s3,
            retain_days,
        })
    }

    async fn lock(&self) -> Result<Lock, SealError> {
        match self
            .s3
            .get_object_lock_configuration()
            .bucket(&self.location.bucket)
            .send()
            .await
        {
            Ok(out) => {
                let Some(conf) = out.object_lock_configuration else {
                    return Ok(Lock::None);
                };
                if conf
                    .object_lock_enabled()
                    .map(aws_sdk_s3::types::ObjectLockEnabled::as_str)
                    != Some("Enabled")
                {
                    return Ok(Lock::None);
                }
                let default = conf.rule().and_then(|r| r.default_retention()).map(|d| {
                    let span = match (d.days(), d.years()) {
                        (Some(days), _) => format!("{days} days"),
                        (_, Some(years)) => format!("{years} years"),
                        _ => "?".to_owned(),
                    };
                    (d.mode().map_or("?", |m| m.as_str()).to_owned(), span)
                });
                Ok(Lock::Enabled { default })
            }
            Err(e) if crate::action::aws::is_absent(&e, &["ObjectLockConfigurationNotFoundError"]) => {
                Ok(Lock::None)
            }
            Err(e) => Err(aws_error(
                &e,
                "s3:GetObjectLockConfiguration",
                &self.location.bucket,
            )),
        }
    }

    async fn put(
        &self,
        key: &str,
        body: Vec<u8>,
        lock: &Lock,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<SealedObject, SealError> {
        let sha256 = sha256_hex(&body);
        let bytes = body.len() as u64;
        let mut put = self
            .s3
            .put_object()
            .bucket(&self.location.bucket)
            .key(key)
            .content_type("application/octet-stream")
            .checksum_algorithm(aws_sdk_s3::types::ChecksumAlgorithm::Sha256)
            .body(ByteStream::from(body));
        if let (Lock::Enabled { default: None }, Some(days)) = (lock, self.retain_days) {
            let until = now + chrono::Duration::days(i64::from(days));
            put = put
                .object_lock_mode(aws_sdk_s3::types::ObjectLockMode::Compliance)
                .object_lock_retain_until_date(aws_smithy_types::DateTime::from_millis(
                    until.timestamp_millis(),
                ));
        }
        let out = put.send().await.map_err(|e| {
            aws_error(
                &e,
                "s3:PutObject",
                &format!("s3://{}/{key}", self.location.bucket),
            )
        })?;
        let version_id = out.version_id().map(str::to_owned);
        // Read back what S3 holds: the version and the retention it applied.
        let mut head = self.s3.head_object().bucket(&self.location.bucket).key(key);
        if let Some(v) = &version_id {
            head = head.version_id(v);
        }
        let head = head.send().await.map_err(|e| {
            aws_error(
                &e,
                "s3:HeadObject",
                &format!("s3://{}/{key}", self.location.bucket),
            )
        })?;
        let retention = match (head.object_lock_mode(), head.object_lock_retain_until_date()) {
            (Some(mode), Some(until)) => Some(SealRetention {
                mode: mode.as_str().to_owned(),
                until: until
                    .fmt(aws_smithy_types::date_time::Format::DateTime)
                    .unwrap_or_default(),
            }),
            _ => None,
        };
        Ok(SealedObject {
            key: key.to_owned(),
            version_id,
            bytes,
            sha256,
            retention,
        })
    }

    /// Seals the case: the journal's first bytes (`journal`, holding `entries`), its signatures
    /// and the manifest, the manifest last (a seal without one is not a seal).
    pub fn seal(
        &self,
        dir: &CaseDir,
        case: &str,
        entries: &[Entry],
        journal: &[u8],
        now: chrono::DateTime<chrono::Utc>,
        trigger: &str,
    ) -> Result<CaseSealed, SealError> {
        let sealed_at = now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let manifest = manifest(dir, case, entries, journal, &sealed_at)?;
        let folder = format!(
            "{}{:08}-{}/",
            self.location.case_prefix(case),
            manifest.entries,
            &manifest.head[..16]
        );
        let signatures = match std::fs::read(dir.path(CaseDir::SIGNATURES)) {
            Ok(b) => Some(b),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(source) => {
                return Err(SealError::Io {
                    what: "cannot read",
                    path: dir.path(CaseDir::SIGNATURES),
                    source,
                });
            }
        };
        let manifest_bytes = serde_json::to_vec_pretty(&manifest).unwrap_or_default();
        self.runtime.block_on(async {
            let lock = self.lock().await?;
            let mut objects = vec![
                self.put(&format!("{folder}journal.jsonl"), journal.to_vec(), &lock, now)
                    .await?,
            ];
            if let Some(s) = signatures {
                objects.push(
                    self.put(&format!("{folder}signatures.jsonl"), s, &lock, now)
                        .await?,
                );
            }
            objects.push(
                self.put(&format!("{folder}manifest.json"), manifest_bytes, &lock, now)
                    .await?,
            );
            Ok(CaseSealed {
                location: self.location.object_url(&folder),
                entries: manifest.entries,
                head: manifest.head.clone(),
                trigger: trigger.to_owned(),
                object_lock: match &lock {
                    Lock::None => "not enabled on the bucket".to_owned(),
                    Lock::Enabled {
                        default: Some((mode, span)),
                    } => format!("bucket default {mode} {span}"),
                    Lock::Enabled { default: None } => match self.retain_days {
                        Some(d) => format!("COMPLIANCE {d} days, set per object"),
                        None => "enabled, but no retention (no bucket default, no --retain-days)".to_owned(),
                    },
                },
                objects,
            })
        })
    }

    /// The bytes of one object in the bucket.
    async fn get(&self, key: &str) -> Result<Vec<u8>, SealError> {
        let got = self
            .s3
            .get_object()
            .bucket(&self.location.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| aws_error(&e, "s3:GetObject", key))?;
        got.body
            .collect()
            .await
            .map(|b| b.into_bytes().to_vec())
            .map_err(|e| SealError::Aws(format!("s3:GetObject on {key}: {e}")))
    }

    /// The journal a seal holds (`folder` as `seals` gives it), checked against its manifest.
    pub fn sealed_journal(&self, folder: &str, m: &Manifest) -> Result<Vec<u8>, SealError> {
        let key = format!("{folder}journal.jsonl");
        let bytes = self.runtime.block_on(self.get(&key))?;
        if sha256_hex(&bytes) != m.journal_sha256 {
            return Err(SealError::Aws(format!(
                "{} does not match its manifest: the seal itself was changed",
                self.location.object_url(&key)
            )));
        }
        Ok(bytes)
    }

    /// Every seal of the case under the location: its folder (a key prefix in the bucket, ending
    /// in `/`) and manifest, oldest first.
    pub fn seals(&self, case: &str) -> Result<Vec<(String, Manifest)>, SealError> {
        let prefix = self.location.case_prefix(case);
        self.runtime.block_on(async {
            let mut keys = Vec::new();
            let mut pages = self
                .s3
                .list_objects_v2()
                .bucket(&self.location.bucket)
                .prefix(&prefix)
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| aws_error(&e, "s3:ListObjectsV2", &self.location.url()))?;
                keys.extend(
                    page.contents()
                        .iter()
                        .filter_map(|o| o.key())
                        .filter(|k| k.ends_with("/manifest.json"))
                        .map(str::to_owned),
                );
            }
            let mut out = Vec::new();
            for key in keys {
                let body = self.get(&key).await?;
                let manifest: Manifest = serde_json::from_slice(&body).map_err(|e| {
                    SealError::Aws(format!(
                        "{} is not a seal manifest: {e}",
                        self.location.object_url(&key)
                    ))
                })?;
                out.push((key.trim_end_matches("manifest.json").to_owned(), manifest));
            }
            out.sort_by_key(|(_, m)| m.entries);
            Ok(out)
        })
    }
}

/// What a journal says against one seal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Against {
    /// The journal holds the sealed entries unchanged.
    Holds,
    /// The journal holds fewer entries than the seal covers: it was cut short.
    Truncated { sealed: u64, now: u64 },
    /// The entry at the seal's head differs: the journal was rewritten.
    Rewritten { seq: u64 },
}

/// The first entry where a journal and the journal a seal holds differ.
pub fn first_difference(entries: &[Entry], sealed: &[u8]) -> Option<u64> {
    let sealed = crate::journal::store::scan(sealed);
    sealed
        .entries
        .iter()
        .zip(entries)
        .find(|(s, e)| s.hash != e.hash)
        .map(|(s, _)| s.seq)
}

/// Compares a journal's entries with a seal's manifest.
pub fn against(entries: &[Entry], m: &Manifest) -> Against {
    if m.entries == 0 {
        return Against::Holds;
    }
    let last = m.entries - 1;
    match usize::try_from(last).ok().and_then(|i| entries.get(i)) {
        None => Against::Truncated {
            sealed: m.entries,
            now: entries.len() as u64,
        },
        Some(e) if e.hash == m.head => Against::Holds,
        Some(_) => Against::Rewritten { seq: last },
    }
}
