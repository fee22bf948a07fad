//! `irp verify CASE`: checks the journal's hash chain and every file its entries vouch for.

use std::path::{Path, PathBuf};

use clap::Args;

use super::{CliError, Output};
use crate::case::seal::{self, Against};
use crate::journal::sign::{self, AllowedSigners, SignatureReport};
use crate::journal::{CaseDir, Corruption, Scan, check_files};

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The case folder (or its `journal.jsonl`), an archive of `irp case export`, or
    /// `s3://BUCKET/PREFIX` of a shared case (read into this responder's replica first).
    pub case: PathBuf,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
    /// Check the entries' signatures against this `allowed_signers` file (ssh-keygen's
    /// format): every entry must then be signed by a key it allows.
    #[arg(long, value_name = "FILE")]
    pub allowed_signers: Option<PathBuf>,
    /// Check the journal against its seals at this S3 location (`irp case seal`): a journal
    /// rewritten or cut short after a seal fails.
    #[arg(long, value_name = "S3_URL")]
    pub against: Option<String>,
    #[command(flatten)]
    pub aws: super::AwsArgs,
}

/// Each seal of the case at `url`, and what the journal says against it.
fn check_seals(
    url: &str,
    aws: &super::AwsArgs,
    entries: &[crate::journal::Entry],
) -> Result<Vec<(String, crate::case::seal::Manifest, Against)>, CliError> {
    let case = match entries.first().map(|e| &e.event) {
        Some(crate::engine::Event::CaseOpened(o)) => o.case.clone(),
        _ => {
            return Err(CliError::user(
                "the journal has no readable first entry, so its case id (which names its seals) is unknown",
                "list the seals with the AWS CLI under the location and compare their heads by hand",
            ));
        }
    };
    let sealer = super::case::sealer(Some(url), aws, None)?;
    let seals = sealer.seals(&case).map_err(|e| {
        CliError::user(
            e.to_string(),
            "check the location, the credentials and the bucket (docs/evidence.md)",
        )
    })?;
    let mut out = Vec::new();
    for (folder, m) in seals {
        let mut verdict = seal::against(entries, &m);
        // A rewrite is named at the first entry that differs from the sealed journal.
        if let Against::Rewritten { seq } = &mut verdict {
            let held = sealer.sealed_journal(&folder, &m).map_err(|e| {
                CliError::user(
                    e.to_string(),
                    "the seal's objects are evidence too: keep them as they are",
                )
            })?;
            if let Some(first) = seal::first_difference(entries, &held) {
                *seq = first;
            }
        }
        out.push((sealer.location.object_url(&folder), m, verdict));
    }
    Ok(out)
}

/// Reads a journal (its bytes and what checking them found), or says plainly why it cannot.
pub fn read_journal(given: &Path) -> Result<(CaseDir, Vec<u8>, Scan), CliError> {
    let (dir, journal) = CaseDir::locate(given);
    let bytes = std::fs::read(&journal).map_err(|e| {
        CliError::user(
            format!("cannot read {}: {e}", journal.display()),
            "give a case folder (the one `irp run --case-dir` created) or its journal.jsonl",
        )
    })?;
    let scan = crate::journal::store::scan(&bytes);
    Ok((dir, bytes, scan))
}

/// How far back an entry's time may be from the latest before it without being reported (the
/// clocks of two machines resuming the same case, or a clock stepped by NTP).
pub const CLOCK_TOLERANCE_MS: i64 = 2_000;

/// An entry recorded earlier than an entry before it, by more than [`CLOCK_TOLERANCE_MS`].
#[derive(Debug, Clone, serde::Serialize)]
pub struct Backwards {
    pub seq: u64,
    pub at: String,
    /// The entry before it with the latest time.
    pub after_seq: u64,
    pub after_at: String,
    pub by_ms: i64,
}

/// Every entry whose time goes backwards beyond the tolerance.
pub fn clock_backwards(entries: &[crate::journal::Entry]) -> Vec<Backwards> {
    let mut latest: Option<&crate::journal::Entry> = None;
    let mut found = Vec::new();
    for e in entries {
        match latest {
            Some(l) if e.at < l.at => {
                let by_ms = (l.at - e.at).num_milliseconds();
                if by_ms > CLOCK_TOLERANCE_MS {
                    found.push(Backwards {
                        seq: e.seq,
                        at: e.at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                        after_seq: l.seq,
                        after_at: l.at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                        by_ms,
                    });
                }
            }
            _ => latest = Some(e),
        }
    }
    found
}

/// `seq 0–41 signed by alice (ED25519 SHA256:…)` lines, and the unsigned runs.
fn signature_lines(report: &SignatureReport) -> Vec<String> {
    let mut lines: Vec<(u64, String)> = report
        .signer_runs()
        .into_iter()
        .map(|(from, to, s)| {
            let who = if s.principals.is_empty() {
                s.key_text.clone()
            } else {
                format!("{} ({})", s.principals.join(", "), s.key_text)
            };
            (from, format!("{} signed by {who}", seq_range(from, to)))
        })
        .collect();
    lines.extend(
        report
            .unsigned_runs()
            .into_iter()
            .map(|(from, to)| (from, format!("{} not signed", seq_range(from, to)))),
    );
    lines.sort();
    lines.into_iter().map(|(_, l)| l).collect()
}

fn load_allowed(path: &Path) -> Result<AllowedSigners, CliError> {
    AllowedSigners::load(path)
        .map_err(|e| CliError::user(e, "see ssh-keygen(1), ALLOWED SIGNERS, and docs/evidence.md"))
}

/// Who signed what, or that nothing is signed (`unsigned` says how much that leaves open).
fn print_signatures(out: Output, report: &SignatureReport, unsigned: &str) {
    if report.signed_count() == 0 {
        out.status(unsigned);
        return;
    }
    for line in signature_lines(report) {
        out.status(&line);
    }
}

fn seq_range(from: u64, to: u64) -> String {
    if from == to {
        format!("seq {from}")
    } else {
        format!("seq {from}–{to}")
    }
}

/// `irp verify FILE` on an export: the archive read once, nothing unpacked.
fn verify_archive(out: Output, args: &VerifyArgs) -> Result<(), CliError> {
    use crate::case::export;
    if args.against.is_some() {
        return Err(CliError::user(
            "`--against` checks a case folder against its seals",
            "unpack the archive (`tar -xf`) and verify the folder against the seals",
        ));
    }
    let archive = export::read(&args.case)
        .map_err(|e| CliError::user(e.to_string(), "give an archive `irp case export` wrote"))?;
    let journal = archive.journal.clone().unwrap_or_default();
    let scan = crate::journal::store::scan(&journal);
    let (allowed, allowed_from) = match (&args.allowed_signers, &archive.allowed_signers) {
        (Some(p), _) => (Some(load_allowed(p)?), "your allowed signers file"),
        (None, Some(bytes)) => (
            Some(
                AllowedSigners::parse(&String::from_utf8_lossy(bytes)).map_err(|e| {
                    CliError::user(
                        format!("the archive's allowed_signers: {e}"),
                        "give your own with --allowed-signers",
                    )
                })?,
            ),
            "the allowed signers the exporter put in the archive",
        ),
        (None, None) => (None, ""),
    };
    let signatures = sign::check_bytes(archive.signatures.as_deref(), &scan.entries, allowed.as_ref());
    let at = Corruption::at;
    let manifest_problem = export::manifest_problem(&archive).map(|w| at(0, w)).or_else(|| {
        let m = archive.manifest.as_ref()?;
        match seal::against(&scan.entries, m) {
            Against::Holds if m.entries == scan.entries.len() as u64 => None,
            Against::Holds => Some(at(
                m.entries,
                format!(
                    "the manifest covers {} entries, the journal holds {}",
                    m.entries,
                    scan.entries.len()
                ),
            )),
            Against::Truncated { sealed, now } => Some(at(
                now,
                format!("the manifest covers {sealed} entries, the journal holds {now}"),
            )),
            Against::Rewritten { seq } => Some(at(
                seq,
                format!("the manifest's head is not the journal's entry {seq}"),
            )),
        }
    });
    let problem = scan
        .corruption
        .clone()
        .or(manifest_problem)
        .or_else(|| {
            crate::journal::check_files_by(&scan.entries, |rel| {
                archive
                    .files
                    .get(rel)
                    .map(|(sha, _)| sha.clone())
                    .ok_or_else(|| format!("`{rel}`, which the entry vouches for, is not in the archive"))
            })
        })
        .or_else(|| sign::first_problem(&signatures, allowed.is_some()));
    if args.json {
        let v = serde_json::json!({
            "ok": problem.is_none(),
            "archive": args.case.display().to_string(),
            "case": archive.case,
            "entries": scan.entries.len(),
            "head": scan.head(),
            "files": archive.files.len(),
            "first_bad_seq": problem.as_ref().map(|p| p.seq),
            "problem": problem.as_ref().map(|p| p.what.clone()),
            "signatures": {
                "signed": signatures.signed_count(),
                "checked_against": allowed.as_ref().map(|_| allowed_from),
                "unsigned_runs": signatures.unsigned_runs(),
            },
        });
        out.data(&format!(
            "{}\n",
            serde_json::to_string_pretty(&v).unwrap_or_default()
        ));
    }
    if let Some(p) = problem {
        if args.json {
            return Err(CliError::Reported);
        }
        return Err(CliError::User {
            message: format!("the archive is damaged at {p}"),
            hints: vec![
                "keep the archive as it is; the case folder it came from may still verify".to_owned(),
            ],
        });
    }
    if !args.json {
        print_signatures(out, &signatures, "unsigned: no entry is signed");
        if allowed.is_some() && signatures.signed_count() > 0 {
            out.status(&format!("signers checked against {allowed_from}"));
        }
        out.status(&format!(
            "ok: archive of case {}: {} entries, hash chain intact, {} files match the entries and the manifest; head {}",
            archive.case.as_deref().unwrap_or("?"),
            scan.entries.len(),
            archive.files.len(),
            scan.head()
        ));
    }
    Ok(())
}

pub fn cmd_verify(out: Output, args: &VerifyArgs) -> Result<(), CliError> {
    if crate::case::export::is_archive(&args.case) {
        return verify_archive(out, args);
    }
    let case = super::case::readable_case(out, &args.case, &args.aws)?;
    let (dir, _, scan) = read_journal(&case)?;
    let allowed = args.allowed_signers.as_deref().map(load_allowed).transpose()?;
    let sig_path = dir.path(CaseDir::SIGNATURES);
    let signatures = sign::check(&sig_path, &scan.entries, allowed.as_ref()).map_err(|e| {
        CliError::user(
            format!("cannot read {}: {e}", sig_path.display()),
            "check the case folder's permissions",
        )
    })?;
    let seals = args
        .against
        .as_deref()
        .map(|url| check_seals(url, &args.aws, &scan.entries))
        .transpose()?;
    let seal_problem = seals.as_ref().and_then(|seals| {
        let at = Corruption::at;
        if seals.is_empty() {
            return Some(at(
                0,
                format!(
                    "no seal of this case under {}: nothing to check the journal against",
                    args.against.as_deref().unwrap_or("")
                ),
            ));
        }
        seals.iter().find_map(|(location, m, verdict)| match verdict {
            Against::Holds => None,
            Against::Truncated { sealed, now } => Some(at(
                *now,
                format!(
                    "the journal was cut short: the seal at {location} ({}) covers {sealed} entries (head {}), the journal holds {now}",
                    m.sealed_at, m.head
                ),
            )),
            Against::Rewritten { seq } => Some(at(
                *seq,
                format!(
                    "the journal was rewritten: entry {seq} is not the one sealed at {location} ({}, entries 0–{}, head {})",
                    m.sealed_at,
                    m.entries.saturating_sub(1),
                    m.head
                ),
            )),
        })
    });
    let problem = scan
        .corruption
        .clone()
        .or(seal_problem)
        .or_else(|| check_files(&dir, &scan.entries))
        .or_else(|| sign::first_problem(&signatures, allowed.is_some()));
    let backwards = clock_backwards(&scan.entries);
    // Objects a shared case's readers refused: recorded, kept aside, skipped by the state.
    let rejected: Vec<serde_json::Value> = scan
        .entries
        .iter()
        .filter_map(|e| match &e.event {
            crate::engine::Event::EntryRejected(r) => Some(serde_json::json!({
                "recorded_at_seq": e.seq, "recorded_by": e.actor, "slot": r.slot,
                "claimed_actor": r.claimed_actor, "why": r.why, "file": r.file,
            })),
            _ => None,
        })
        .collect();
    if args.json {
        let v = serde_json::json!({
            "ok": problem.is_none(),
            "entries": scan.entries.len(),
            "head": scan.head(),
            "first_bad_seq": problem.as_ref().map(|p| p.seq),
            "problem": problem.as_ref().map(|p| p.what.clone()),
            "torn_tail_bytes": scan.torn.as_ref().map(Vec::len),
            "clock_backwards": backwards,
            "rejected": rejected,
            "signatures": {
                "signed": signatures.signed_count(),
                "unsigned": scan.entries.len() - signatures.signed_count(),
                "checked_against_allowed_signers": allowed.is_some(),
                "signers": signatures.signer_runs().into_iter().map(|(from, to, s)| serde_json::json!({
                    "from_seq": from, "to_seq": to, "key": s.key, "key_text": s.key_text, "principals": s.principals,
                })).collect::<Vec<_>>(),
                "unsigned_runs": signatures.unsigned_runs(),
                "bad": signatures.bad,
                "unknown_keys": signatures.unknown,
                "signatures_of_entries_never_written": signatures.orphans,
                "unreadable_lines": signatures.unreadable_lines,
            },
            "seals": seals.as_ref().map(|s| s.iter().map(|(location, m, verdict)| serde_json::json!({
                "location": location, "entries": m.entries, "head": m.head, "sealed_at": m.sealed_at, "verdict": verdict,
            })).collect::<Vec<_>>()),
        });
        out.data(&format!(
            "{}\n",
            serde_json::to_string_pretty(&v).unwrap_or_default()
        ));
    }
    if let Some(p) = problem {
        let message = format!("the journal is damaged at {p}");
        if args.json {
            return Err(CliError::Reported);
        }
        return Err(CliError::User {
            message,
            hints: vec![format!(
                "entries 0 to {} are intact; irp will not resume a damaged case",
                p.seq.saturating_sub(1)
            )],
        });
    }
    if !args.json {
        for r in &rejected {
            out.error(
                &format!(
                    "warning: slot {} of the shared case on S3 held an entry that is not the case's (claimed by {}): it {}; refused by every reader and recorded by {} at seq {}",
                    r["slot"],
                    r["claimed_actor"].as_str().unwrap_or("nobody"),
                    r["why"].as_str().unwrap_or_default(),
                    r["recorded_by"].as_str().unwrap_or_default(),
                    r["recorded_at_seq"]
                ),
                &[format!(
                    "its bytes are kept in {}; find who wrote it in the bucket's CloudTrail data events, and tighten the bucket policy (docs/cases.md)",
                    r["file"].as_str().unwrap_or_default()
                )],
            );
        }
        for b in &backwards {
            out.error(
                &format!(
                    "warning: seq {} is recorded at {}, {}.{} s before seq {} ({}): the clock went backwards or was set",
                    b.seq,
                    b.at,
                    b.by_ms / 1000,
                    b.by_ms % 1000 / 100,
                    b.after_seq,
                    b.after_at
                ),
                &["the hash chain says nothing about the times in it; compare the entries' times with the session_started entries' clock and host".to_owned()],
            );
        }
        if let Some(t) = &scan.torn {
            out.error(
                &format!(
                    "warning: the last line is cut short ({} bytes after seq {}): a write interrupted by a crash",
                    t.len(),
                    scan.entries.len().saturating_sub(1)
                ),
                &[format!("`irp resume {}` sets it aside and journals that it did", dir.root.display())],
            );
        }
        print_signatures(
            out,
            &signatures,
            "unsigned: no entry is signed (the hash chain shows changes only to someone who kept its head; see docs/evidence.md)",
        );
        if allowed.is_none() && signatures.signed_count() > 0 {
            out.status(
                "the signatures hold, but nothing ties their keys to people: give `--allowed-signers FILE`",
            );
        }
        if !signatures.orphans.is_empty() || !signatures.unreadable_lines.is_empty() {
            out.status(&format!(
                "note: {} signature(s) of entries never written and {} cut-short line(s) in {}: a crash between signing an entry and writing it",
                signatures.orphans.len(),
                signatures.unreadable_lines.len(),
                CaseDir::SIGNATURES
            ));
        }
        if let Some(seals) = &seals {
            for (location, m, _) in seals {
                out.status(&format!(
                    "the seal at {location} ({}) holds: entries 0–{}, head {}",
                    m.sealed_at,
                    m.entries.saturating_sub(1),
                    crate::journal::entry::short_hash(&m.head)
                ));
            }
            let last = seals.last().map_or(0, |(_, m, _)| m.entries);
            if (scan.entries.len() as u64) > last {
                out.status(&format!(
                    "entries {}–{} came after the last seal: no seal vouches for them",
                    last,
                    scan.entries.len() - 1
                ));
            }
        }
        out.status(&format!(
            "ok: {} entries, hash chain intact, files match{}; head {}",
            scan.entries.len(),
            if allowed.is_some() {
                ", every entry signed by an allowed signer"
            } else {
                ""
            },
            scan.head()
        ));
    }
    Ok(())
}
