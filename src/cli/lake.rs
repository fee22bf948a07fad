//! `irp lake generate DIR`: a synthetic local lake in Security Lake's layout, with an injected
//! incident and its ground truth (`DIR/truth.json`).

use std::path::PathBuf;
use std::time::Instant;

use chrono::NaiveDate;
use clap::{Args, Subcommand};

use super::{CliError, Output};
use crate::lake::generate::{self, Config, Scenario};

#[derive(Debug, Args)]
pub struct LakeArgs {
    #[command(subcommand)]
    pub command: LakeCommand,
}

#[derive(Debug, Subcommand)]
pub enum LakeCommand {
    /// Generate a synthetic lake with an injected incident (or none, with `--scenario benign`).
    Generate(GenerateArgs),
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// The new lake folder (must not exist, or be empty).
    pub dir: PathBuf,
    /// What happens in the lake.
    #[arg(long, value_enum, default_value = "s3-exfiltration")]
    pub scenario: Scenario,
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
