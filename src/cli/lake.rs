//! `irp lake generate DIR`: a synthetic local lake in Security Lake's layout, with an injected
//! incident and its ground truth (`DIR/truth.json`). `irp lake import cloudtrail PATH... --lake DIR`:
//! real `CloudTrail` logs into a lake (`docs/import.md`).

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Instant;

use chrono::NaiveDate;
use clap::{Args, Subcommand};

use super::{CliError, Output};
use crate::lake::generate::{self, Config, Story};
use crate::lake::import;

#[derive(Debug, Args)]
pub struct LakeArgs {
    #[command(subcommand)]
    pub command: LakeCommand,
}

#[derive(Debug, Subcommand)]
pub enum LakeCommand {
    /// Generate a synthetic lake with an injected incident (or none, with `--scenario benign`).
    Generate(GenerateArgs),
    /// Import logs into a lake (created if missing); importing the same files again changes nothing.
    Import(ImportArgs),
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    #[command(subcommand)]
    pub source: ImportSource,
}

#[derive(Debug, Subcommand)]
pub enum ImportSource {
    /// `CloudTrail` records: delivery files (`{"Records":[…]}`), JSON arrays, NDJSON, `aws cloudtrail
    /// lookup-events` output and Logstash/SIEM exports; `.json`, `.jsonl`, `.ndjson`, each also
    /// `.gz`. Management events go to `cloud_trail_mgmt`, S3 object events to `s3_data`, Lambda
    /// invocations to `lambda_execution`. Exit code 4: imported, but some records could not be
    /// (each is listed with its file and line).
    Cloudtrail(CloudtrailArgs),
}

#[derive(Debug, Args)]
pub struct CloudtrailArgs {
    /// Files or folders (read recursively).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// The lake (default: `IRP_LAKE`, else `./lake`).
    #[arg(long)]
    pub lake: Option<PathBuf>,
    /// Worker threads (default: the number of cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Take every record to be from this region: for published logs whose regions an
    /// anonymiser made up (the raw record in `unmapped` keeps what it said).
    #[arg(long, value_name = "REGION")]
    pub set_region: Option<String>,
    /// Read a source address such as `075.050.255.67` (zero-padded by an anonymiser) as the
    /// IPv4 address it spells instead of as a domain name.
    #[arg(long)]
    pub zero_padded_ipv4: bool,
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// The new lake folder (must not exist, or be empty).
    pub dir: PathBuf,
    /// What happens in the lake.
    #[arg(long, value_enum, default_value = "s3-exfiltration")]
    pub scenario: Story,
    /// Days of data, ending with `--end`.
    #[arg(long, default_value_t = 7)]
    pub days: u32,
    /// Background events in all (the incident's events come on top).
    #[arg(long, default_value_t = 1_000_000)]
    pub events: u64,
    /// The same seed gives the same lake.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Regions, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "us-east-1")]
    pub regions: Vec<String>,
    /// AWS account ids, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "111122223333")]
    pub accounts: Vec<String>,
    /// The last day (YYYY-MM-DD; default: today, UTC).
    #[arg(long)]
    pub end: Option<NaiveDate>,
    /// Worker threads (default: the number of cores).
    #[arg(long)]
    pub threads: Option<usize>,
}

pub fn cmd_lake(out: Output, args: &LakeArgs) -> Result<(), CliError> {
    match &args.command {
        LakeCommand::Generate(g) => cmd_generate(out, g),
        LakeCommand::Import(ImportArgs {
            source: ImportSource::Cloudtrail(c),
        }) => cmd_import_cloudtrail(out, c),
    }
}

/// Problems printed before the summary (all are counted).
const PROBLEMS_SHOWN: usize = 50;

fn cmd_import_cloudtrail(out: Output, args: &CloudtrailArgs) -> Result<(), CliError> {
    let lake = args
        .lake
        .clone()
        .or_else(|| {
            std::env::var_os("IRP_LAKE")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        })
        .unwrap_or_else(|| PathBuf::from("lake"));
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, std::num::NonZero::get));
    let total: u64 = args.paths.iter().map(|p| dir_size(p)).sum();
    let bar = out.progress(total, "bytes");
    let started = Instant::now();
    let normalise = import::Normalise {
        region: args.set_region.clone(),
        zero_padded_ipv4: args.zero_padded_ipv4,
    };
    normalise
        .check()
        .map_err(|e| CliError::user(format!("--set-region: {e}"), "give a region such as us-east-1"))?;
    let options = import::Options {
        threads,
        normalise,
        ..import::Options::default()
    };
    let summary = import::import(&args.paths, &lake, &options, &|done| {
        bar.set_position(done);
    })
    .map_err(|e| {
        CliError::user(
            format!("import into {} stopped: {e}", lake.display()),
            "the files written before the error are whole; fix the cause and run the same import again: \
             what is already in the lake is skipped",
        )
    })?;
    bar.finish_and_clear();
    let secs = started.elapsed().as_secs_f64();
    for p in summary.problems.iter().take(PROBLEMS_SHOWN) {
        out.note(&format!("problem: {p}"));
    }
    if summary.problem_count > PROBLEMS_SHOWN as u64 {
        out.note(&format!(
            "… and {} more problems",
            summary.problem_count - PROBLEMS_SHOWN as u64
        ));
    }
    let tables = if summary.written.is_empty() {
        "nothing new".to_owned()
    } else {
        summary
            .written
            .iter()
            .map(|(t, n)| format!("{n} to {t}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let no_table = summary
        .no_table
        .iter()
        .map(|(why, n)| format!("{n} skipped: {why}"))
        .collect::<Vec<_>>();
    #[allow(clippy::cast_precision_loss)] // figures for people
    let (rate, mb) = (
        summary.records as f64 / secs.max(1e-9),
        summary.bytes as f64 / 1e6,
    );
    let mut text = format!(
        "{}: {} files ({:.1} MB), {} records in {secs:.1} s ({rate:.0}/s): {tables} ({} new files); \
         {} duplicates skipped; {} problems",
        lake.display(),
        summary.files,
        mb,
        summary.records,
        summary.files_written,
        summary.duplicates,
        summary.problem_count,
    );
    if summary.conflicting_duplicates > 0 {
        let _ = write!(
            text,
            " ({} of the duplicates had the same eventID as an earlier record but other content: listed below)",
            summary.conflicting_duplicates
        );
    }
    for n in no_table {
        text.push_str("; ");
        text.push_str(&n);
    }
    out.status(&text);
    if summary.problem_count > 0 {
        return Err(CliError::Stopped {
            message: format!(
                "{} records or files could not be imported (listed above); everything else was",
                summary.problem_count
            ),
            hints: vec![
                "fix or remove what is listed and import again: what is already in the lake is skipped"
                    .into(),
            ],
            code: 4,
        });
    }
    Ok(())
}

/// Bytes under a path (for the progress bar).
fn dir_size(p: &std::path::Path) -> u64 {
    match std::fs::metadata(p) {
        Ok(m) if m.is_file() => m.len(),
        Ok(m) if m.is_dir() => std::fs::read_dir(p).map_or(0, |d| {
            d.flatten()
                .filter(|e| e.file_type().is_ok_and(|t| !t.is_symlink()))
                .map(|e| dir_size(&e.path()))
                .sum()
        }),
        _ => 0,
    }
}

fn cmd_generate(out: Output, args: &GenerateArgs) -> Result<(), CliError> {
    let clock = crate::clock::Clock::from_env()
        .map_err(|e| CliError::user(e, "unset IRP_NOW or give an RFC 3339 time"))?;
    let cfg = Config {
        scenario: args.scenario,
        days: args.days,
        events: args.events,
        seed: args.seed,
        regions: args.regions.clone(),
        accounts: args.accounts.clone(),
        end: args.end.unwrap_or_else(|| clock.now().date_naive()),
        threads: args
            .threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, std::num::NonZero::get)),
    };
    let bar = out.progress(cfg.events, "events");
    let started = Instant::now();
    let summary = generate::generate(&args.dir, &cfg, &|done, _total| bar.set_position(done))
        .map_err(|e| CliError::user(e.to_string(), "see `irp lake generate --help`"))?;
    bar.finish_and_clear();
    let secs = started.elapsed().as_secs_f64();
    #[allow(clippy::cast_precision_loss)] // figures for people
    let (rate, mb) = (summary.events as f64 / secs.max(1e-9), summary.bytes as f64 / 1e6);
    out.status(&format!(
        "{}: {} events in {} files ({:.1} MB) in {secs:.1} s ({rate:.0} events/s); scenario {}, truth in {}",
        args.dir.display(),
        summary.events,
        summary.files,
        mb,
        cfg.scenario.as_str(),
        args.dir.join("truth.json").display()
    ));
    Ok(())
}
