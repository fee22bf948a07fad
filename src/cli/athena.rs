//! Athena settings from the command line and the config file
//! (`$XDG_CONFIG_HOME/irp/config.toml`, else `~/.config/irp/config.toml`, or `IRP_CONFIG`):
//! a flag wins over the file, the file over the defaults; credentials, and the region and endpoint
//! when neither names them, come from the standard AWS configuration (`AWS_PROFILE`,
//! `AWS_REGION`, `AWS_ENDPOINT_URL`, profiles, SSO, IMDS, …).

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use serde::Deserialize;

use super::CliError;
use crate::query::backend::athena::AthenaSettings;

#[derive(Debug, Clone, Default, Args)]
pub struct AthenaArgs {
    /// AWS profile (Athena backend).
    #[arg(long)]
    pub profile: Option<String>,
    /// AWS region of the Security Lake tables (Athena backend).
    #[arg(long)]
    pub region: Option<String>,
    /// Athena workgroup (default `primary`).
    #[arg(long)]
    pub workgroup: Option<String>,
    /// S3 location for Athena's results, `s3://bucket/prefix/` (default: the workgroup's).
    #[arg(long)]
    pub output_location: Option<String>,
    /// Data catalog (default `AwsDataCatalog`).
    #[arg(long)]
    pub catalog: Option<String>,
    /// Security Lake database (default `amazon_security_lake_glue_db_<region>`).
    #[arg(long)]
    pub database: Option<String>,
    /// Send AWS calls here instead of AWS's own endpoint (e.g. moto on loopback).
    #[arg(long)]
    pub endpoint_url: Option<String>,
    /// Stop an Athena query still running after this many seconds (default 1800).
    #[arg(long)]
    pub timeout: Option<u64>,
}

/// What to do with a query on a Security Lake table with no `time_dt` or `eventday` bound.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Unbounded {
    /// Warn, and in interactive use ask before running.
    #[default]
    Warn,
    /// Refuse to run it.
    Refuse,
}

/// The `[athena]` table of the config file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AthenaFile {
    pub profile: Option<String>,
    pub region: Option<String>,
    pub workgroup: Option<String>,
    pub output_location: Option<String>,
    pub catalog: Option<String>,
    pub database: Option<String>,
    pub endpoint_url: Option<String>,
    /// Security Lake's rollup region: where the contributing regions' data is gathered. When
    /// set, queries go to its tables unless `--region` names another.
    pub rollup_region: Option<String>,
    /// Security Lake source version of the tables, `2.0` (default) or `1.0`.
    pub source_version: Option<String>,
    pub price_per_tb: Option<f64>,
    pub timeout_secs: Option<u64>,
    pub unbounded: Option<Unbounded>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    #[serde(default)]
    pub athena: AthenaFile,
    #[serde(default)]
    pub seal: super::case::SealFile,
}

/// The config file's path, whether or not it exists.
pub fn config_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("IRP_CONFIG") {
        return Some(PathBuf::from(p));
    }
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(base.join("irp").join("config.toml"))
}

/// Reads the config file; a missing file is the defaults, a bad one is an error naming the
/// line.
pub fn load_config() -> Result<ConfigFile, CliError> {
    let Some(path) = config_path() else {
        return Ok(ConfigFile::default());
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(ConfigFile::default()),
        Err(e) => {
            return Err(CliError::user(
                format!("cannot read {}: {e}", path.display()),
                "fix the file's permissions, or point IRP_CONFIG at another file",
            ));
        }
    };
    toml::from_str(&text).map_err(|e| {
        CliError::user(
            format!("{}: {}", path.display(), e.to_string().trim_end()),
            "see docs/backends.md for the config file's keys",
        )
    })
}

impl AthenaArgs {
    /// The settings: flags over the config file over the defaults.
    pub fn settings(&self, file: &AthenaFile) -> Result<AthenaSettings, CliError> {
        let d = AthenaSettings::default();
        let source_version = match file.source_version.as_deref() {
            None | Some("2.0" | "2") => (2, 0),
            Some("1.0" | "1") => (1, 0),
            Some(other) => {
                return Err(CliError::user(
                    format!(
                        "source_version = \"{other}\" in the config file is not a Security Lake source version"
                    ),
                    "write `source_version = \"2.0\"` (or \"1.0\" for version 1 tables)",
                ));
            }
        };
        let region = self
            .region
            .clone()
            .or_else(|| file.rollup_region.clone())
            .or_else(|| file.region.clone());
        let pick = |flag: &Option<String>, conf: &Option<String>| flag.clone().or_else(|| conf.clone());
        Ok(AthenaSettings {
            profile: pick(&self.profile, &file.profile),
            region,
            source_version,
            endpoint_url: pick(&self.endpoint_url, &file.endpoint_url),
            workgroup: pick(&self.workgroup, &file.workgroup).unwrap_or(d.workgroup),
            output_location: pick(&self.output_location, &file.output_location),
            catalog: pick(&self.catalog, &file.catalog).unwrap_or(d.catalog),
            database: pick(&self.database, &file.database),
            price_per_tb: file.price_per_tb.unwrap_or(d.price_per_tb),
            poll_first: d.poll_first,
            poll_max: d.poll_max,
            timeout: self
                .timeout
                .or(file.timeout_secs)
                .map_or(d.timeout, |s| Some(Duration::from_secs(s))),
            retry_attempts: d.retry_attempts,
            retry_backoff: d.retry_backoff,
        })
    }
}
