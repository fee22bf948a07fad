//! `irp case seal CASE --to s3://BUCKET/PREFIX`: the journal, its signatures and a manifest of the
//! case folder copied to S3 (under Object Lock when the bucket has it), and the seal journaled.
//! The `[seal]` section of the config file seals as a case goes. `irp case note` adds notes from
//! the shell, to a folder or to a case shared on S3.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde::Deserialize;

use super::{CliError, Output, case_error, session_context};
use crate::case::seal::{Location, Sealer};
use crate::case::{AutoSeal, PlaybookChoice, Session};

#[derive(Debug, Args)]
pub struct CaseArgs {
    #[command(subcommand)]
    pub command: CaseCommand,
}

#[derive(Debug, Subcommand)]
pub enum CaseCommand {
    /// Copy the journal, its signatures and a manifest of every file to S3 (Object Lock when the
    /// bucket has it), and journal the seal; `irp verify --against` checks a journal against it.
    Seal(SealArgs),
    /// Write the case as one archive (tar; gzipped for `.tar.gz`): the folder, a manifest of
    /// every file, the signatures and the allowed signers, which `irp verify FILE` checks
    /// without unpacking and `tar -xf` unpacks.
    Export(ExportArgs),
    /// Add notes to a case, from the shell: each TEXT, or each line of `--from FILE`, is one
    /// note, journaled as `--actor`. The case is a folder or a shared case (`s3://…`).
    Note(NoteArgs),
}

#[derive(Debug, Args)]
pub struct NoteArgs {
    /// The case folder, or `s3://BUCKET/PREFIX` of a shared case.
    pub case: PathBuf,
    /// The notes.
    pub text: Vec<String>,
    /// Also one note per non-empty line of this file.
    #[arg(long, value_name = "FILE")]
    pub from: Option<PathBuf>,
    /// Who the journal records as writing them.
    #[arg(long)]
    pub actor: Option<String>,
    #[command(flatten)]
    pub aws: super::AwsArgs,
    #[command(flatten)]
    pub signing: super::SigningArgs,
}

/// `irp handover CASE ROLE --to NAME`: a role given to another responder, journaled.
#[derive(Debug, Args)]
pub struct HandoverArgs {
    /// The case folder, or `s3://BUCKET/PREFIX` of a shared case.
    pub case: PathBuf,
    /// The role, an id from the playbook's `roles`.
    pub role: String,
    /// Who takes it (their name, as their irp records them: `--actor`, `IRP_ACTOR`, `USER`).
    #[arg(long, value_name = "NAME")]
    pub to: String,
    /// The lead reassigns the role without its holder (who is not there to hand it over); the
    /// reason is journaled.
    #[arg(long = "override", value_name = "REASON")]
    pub override_reason: Option<String>,
    /// Who the journal records as handing it over.
    #[arg(long)]
    pub actor: Option<String>,
    #[command(flatten)]
    pub aws: super::AwsArgs,
    #[command(flatten)]
    pub signing: super::SigningArgs,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The case folder, or `s3://BUCKET/PREFIX` of a shared case.
    pub case: PathBuf,
    #[command(flatten)]
    pub aws: super::AwsArgs,
    /// The archive to write (`.tar`, `.tar.gz` or `.tgz`); never overwritten.
    #[arg(long, short)]
    pub output: PathBuf,
    /// The allowed signers file to put in the archive (the keys the case's signers use).
    #[arg(long, value_name = "FILE")]
    pub allowed_signers: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct SealArgs {
    /// The case folder.
    pub case: PathBuf,
    /// Where: `s3://BUCKET/PREFIX` (the seal goes under `PREFIX/<case id>/`). Default: the
    /// config file's `[seal] to`.
    #[arg(long, value_name = "S3_URL")]
    pub to: Option<String>,
    /// When the bucket has Object Lock but no default retention: keep each object this many
    /// days in COMPLIANCE mode (nobody, the account's root included, can delete it sooner).
    #[arg(long, value_name = "DAYS")]
    pub retain_days: Option<u32>,
    #[command(flatten)]
    pub aws: super::AwsArgs,
    /// Who the journal records as sealing.
    #[arg(long)]
    pub actor: Option<String>,
    #[command(flatten)]
    pub signing: super::SigningArgs,
}

/// The config file's `[seal]`: where, as whom, and when a case seals itself as it goes.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SealFile {
    /// `s3://BUCKET/PREFIX`; without it nothing is sealed automatically.
    pub to: Option<String>,
    /// Seal after every N entries.
    pub every_entries: Option<u64>,
    /// Seal at the end of each stage (and when the case closes).
    #[serde(default)]
    pub at_stage_end: bool,
    pub retain_days: Option<u32>,
    pub profile: Option<String>,
    pub region: Option<String>,
    pub endpoint_url: Option<String>,
}

pub fn cmd_case(out: Output, args: &CaseArgs) -> Result<(), CliError> {
    match &args.command {
        CaseCommand::Seal(a) => cmd_seal(out, a),
        CaseCommand::Export(a) => cmd_export(out, a),
        CaseCommand::Note(a) => cmd_note(out, a),
    }
}

fn cmd_export(out: Output, args: &ExportArgs) -> Result<(), CliError> {
    if crate::case::export::archive_name(&args.output).is_none() {
        return Err(CliError::user(
            format!("{} does not end in .tar, .tar.gz or .tgz", args.output.display()),
            "name the archive so that irp verify and tar know what it is",
        ));
    }
    let case = readable_case(out, &args.case, &args.aws)?;
    let (dir, bytes, scan) = super::verify::read_journal(&case)?;
    let Some(crate::engine::Event::CaseOpened(opened)) = scan.entries.first().map(|e| &e.event) else {
        return Err(CliError::user(
            format!("{} holds no readable case", args.case.display()),
            format!("`irp verify {}` says what is wrong", args.case.display()),
        ));
    };
    if let Some(c) = &scan.corruption {
        out.error(
            &format!("warning: the journal is damaged at {c}; the archive holds it as it is"),
            &[],
        );
    }
    let allowed = args
        .allowed_signers
        .as_deref()
        .map(|p| {
            let bytes = std::fs::read(p).map_err(|e| {
                CliError::user(
                    format!("cannot read {}: {e}", p.display()),
                    "give an allowed_signers file (ssh-keygen's format)",
                )
            })?;
            crate::journal::sign::AllowedSigners::parse(&String::from_utf8_lossy(&bytes)).map_err(|e| {
                CliError::user(
                    format!("{}: {e}", p.display()),
                    "see ssh-keygen(1), ALLOWED SIGNERS",
                )
            })?;
            Ok::<_, CliError>(bytes)
        })
        .transpose()?;
    let clock = crate::clock::Clock::from_env()
        .map_err(|e| CliError::user(e, "unset IRP_NOW or give an RFC 3339 time"))?;
    let manifest = crate::case::export::export(
        &dir,
        &opened.case,
        &scan.entries,
        // The journal file as it is (a torn tail or damage included: the archive is evidence).
        &bytes,
        allowed.as_deref(),
        clock.now(),
        &args.output,
    )
    .map_err(|e| CliError::user(e.to_string(), "export to a new file in a folder you can write"))?;
    out.status(&format!(
        "exported case {} ({} entries, head {}, {} files) to {}; check it with `irp verify {}`",
        manifest.case,
        manifest.entries,
        crate::journal::entry::short_hash(&manifest.head),
        manifest.files.len(),
        args.output.display(),
        args.output.display()
    ));
    Ok(())
}

/// The S3 side and the local replica folder of a shared case, when `case` is `s3://…`.
pub fn shared_store(
    case: &std::path::Path,
    aws: &super::athena::AthenaArgs,
) -> Result<Option<(crate::case::shared::Store, PathBuf)>, CliError> {
    let flags = super::AwsArgs {
        profile: aws.profile.clone(),
        region: aws.region.clone(),
        endpoint_url: aws.endpoint_url.clone(),
    };
    shared_store_with(case, &flags)
}

fn shared_store_with(
    case: &std::path::Path,
    aws: &super::AwsArgs,
) -> Result<Option<(crate::case::shared::Store, PathBuf)>, CliError> {
    let text = case.to_string_lossy();
    if !text.starts_with("s3://") {
        return Ok(None);
    }
    let location = Location::parse(&text).map_err(|e| {
        CliError::user(
            e.to_string(),
            "a shared case is `s3://BUCKET/PREFIX`, the prefix naming the case",
        )
    })?;
    if location.prefix.is_empty() {
        return Err(CliError::user(
            format!("{text} names a bucket, not a case"),
            "give the case its own prefix: `s3://BUCKET/cases/2026-12-08-s3`",
        ));
    }
    // This responder's replica: a cache, rebuilt from S3 whenever the case is opened here.
    let cache = crate::rehearse::lake::cache_root()
        .join("shared")
        .join(&location.bucket)
        .join(location.prefix.replace('/', "%2F"));
    let settings = super::run::settings_of(aws.profile.clone(), aws.region.clone(), aws.endpoint_url.clone());
    let store = crate::case::shared::Store::connect(location, &settings).map_err(|e| {
        CliError::user(
            e.to_string(),
            "check the credentials and the endpoint (docs/cases.md)",
        )
    })?;
    Ok(Some((store, cache)))
}

/// The folder a read-only command reads: the case folder given, or, for a shared case
/// (`s3://…`), this responder's replica brought up to date (nothing is written to the case).
pub fn readable_case(out: Output, case: &std::path::Path, aws: &super::AwsArgs) -> Result<PathBuf, CliError> {
    match shared_store_with(case, aws)? {
        Some((store, cache)) => {
            let (dir, refused) = Session::read_shared(store, &cache).map_err(|e| CliError::User {
                hints: e.hints(),
                message: e.to_string(),
            })?;
            for line in refused {
                out.note(&format!("warning: {line}"));
            }
            Ok(dir)
        }
        None => Ok(case.to_owned()),
    }
}

fn cmd_note(out: Output, args: &NoteArgs) -> Result<(), CliError> {
    let mut notes: Vec<String> = args
        .text
        .iter()
        .filter(|t| !t.trim().is_empty())
        .cloned()
        .collect();
    if let Some(path) = &args.from {
        let text = std::fs::read_to_string(path).map_err(|e| {
            CliError::user(
                format!("cannot read {}: {e}", path.display()),
                "give a UTF-8 text file, one note per line",
            )
        })?;
        notes.extend(text.lines().filter(|l| !l.trim().is_empty()).map(str::to_owned));
    }
    if notes.is_empty() {
        return Err(CliError::user(
            "no note given",
            "give the text, or `--from FILE` with one note per line",
        ));
    }
    let ctx = session_context(args.actor.as_deref(), None, "case note", args.signing.signer()?)?;
    let mut session = open_for_move(out, &args.case, &args.aws, ctx)?;
    let mut kept = None;
    for text in &notes {
        match session.execute(&crate::engine::Command::AddNote { text: text.clone() }) {
            Ok(_) => {}
            Err(crate::case::CaseError::Queued { waiting, .. }) => kept = Some(waiting),
            Err(e) => return Err(case_error(out, e)),
        }
    }
    if let Some(waiting) = kept {
        out.note(&format!(
            "S3 cannot be reached: the note{} kept in this replica's outbox ({waiting} waiting), appended the next time irp reaches the case",
            if notes.len() == 1 { " is" } else { "s are" }
        ));
        return Ok(());
    }
    out.status(&format!(
        "{} note{} added; the journal holds {} entries",
        notes.len(),
        if notes.len() == 1 { "" } else { "s" },
        session.entries.len()
    ));
    Ok(())
}

/// A case to record one move in from the shell: a folder resumed with its snapshot, or a
/// shared case joined.
fn open_for_move(
    out: Output,
    case: &std::path::Path,
    aws: &super::AwsArgs,
    ctx: crate::case::Context,
) -> Result<Session, CliError> {
    match shared_store_with(case, aws)? {
        Some((store, cache)) => Session::join_shared(store, &cache, ctx).map_err(|e| case_error(out, e)),
        None => Session::resume(case, PlaybookChoice::Snapshot, ctx)
            .map(|(s, _)| s)
            .map_err(|e| case_error(out, e)),
    }
}

/// `irp handover`: the role's holder gives it to `--to`; with `--override REASON`, the lead
/// reassigns it.
pub fn cmd_handover(out: Output, args: &HandoverArgs) -> Result<(), CliError> {
    let ctx = session_context(args.actor.as_deref(), None, "handover", args.signing.signer()?)?;
    let mut session = open_for_move(out, &args.case, &args.aws, ctx)?;
    let cmd = match &args.override_reason {
        Some(reason) => crate::engine::Command::OverrideRole {
            role: args.role.clone(),
            to: args.to.clone(),
            reason: reason.clone(),
        },
        None => crate::engine::Command::HandOverRole {
            role: args.role.clone(),
            to: args.to.clone(),
        },
    };
    let entry = session.execute(&cmd).map_err(|e| case_error(out, e))?;
    out.status(&format!(
        "the {} role is now {}'s (entry {})",
        args.role, args.to, entry.seq
    ));
    Ok(())
}

fn settings(flags: &super::AwsArgs, file: &SealFile) -> crate::action::aws::AwsSettings {
    super::run::settings_of(
        flags.profile.clone().or_else(|| file.profile.clone()),
        flags.region.clone().or_else(|| file.region.clone()),
        flags.endpoint_url.clone().or_else(|| file.endpoint_url.clone()),
    )
}

fn seal_error(e: &crate::case::seal::SealError) -> CliError {
    CliError::user(
        e.to_string(),
        "check the location, the credentials and the bucket (docs/evidence.md, \"Sealing\")",
    )
}

/// A client for the seal location `to` (or the config file's).
pub fn sealer(
    to: Option<&str>,
    flags: &super::AwsArgs,
    retain_days: Option<u32>,
) -> Result<Sealer, CliError> {
    sealer_with(&super::athena::load_config()?.seal, to, flags, retain_days)
}

fn sealer_with(
    file: &SealFile,
    to: Option<&str>,
    flags: &super::AwsArgs,
    retain_days: Option<u32>,
) -> Result<Sealer, CliError> {
    let Some(url) = to.or(file.to.as_deref()) else {
        return Err(CliError::user(
            "no seal location",
            "give `--to s3://BUCKET/PREFIX`, or set `[seal] to` in the config file",
        ));
    };
    let location = Location::parse(url).map_err(|e| seal_error(&e))?;
    Sealer::connect(location, &settings(flags, file), retain_days.or(file.retain_days))
        .map_err(|e| seal_error(&e))
}

/// The config file's automatic sealing, if it asks for it.
pub fn auto_seal() -> Result<Option<AutoSeal>, CliError> {
    let file = super::athena::load_config()?.seal;
    if file.to.is_none() || (file.every_entries.is_none() && !file.at_stage_end) {
        return Ok(None);
    }
    let sealer = sealer_with(&file, None, &super::AwsArgs::default(), None)?;
    Ok(Some(AutoSeal::new(sealer, file.every_entries, file.at_stage_end)))
}

fn cmd_seal(out: Output, args: &SealArgs) -> Result<(), CliError> {
    let sealer = sealer(args.to.as_deref(), &args.aws, args.retain_days)?;
    let ctx = session_context(args.actor.as_deref(), None, "case seal", args.signing.signer()?)?;
    // The snapshot is what the case ran: sealing never depends on the playbook file now.
    let (mut session, _) =
        Session::resume(&args.case, PlaybookChoice::Snapshot, ctx).map_err(|e| case_error(out, e))?;
    let entry = session
        .seal_now(&sealer, "command")
        .map_err(|e| case_error(out, e))?;
    if let crate::engine::Event::CaseSealed(s) = &entry.event {
        out.status(&format!(
            "sealed entries 0–{} (head {}) to {}",
            s.entries.saturating_sub(1),
            s.head,
            s.location
        ));
        for o in &s.objects {
            out.status(&format!(
                "  {} · {} bytes · version {} · {}",
                o.key.rsplit('/').next().unwrap_or(&o.key),
                o.bytes,
                o.version_id.as_deref().unwrap_or("(none: versioning is off)"),
                o.retention.as_ref().map_or_else(
                    || "no retention".to_owned(),
                    |r| format!("{} until {}", r.mode, r.until)
                )
            ));
        }
        if s.objects.iter().any(|o| o.retention.is_none()) {
            out.error(
                "warning: the seal's objects have no Object Lock retention: whoever can write the bucket can replace them",
                &["seal to a bucket in another account with Object Lock in COMPLIANCE mode (docs/evidence.md)".to_owned()],
            );
        }
    }
    Ok(())
}
