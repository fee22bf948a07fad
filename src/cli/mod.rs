//! The command line: one file per subcommand (`XxxArgs` + `cmd_xxx`), one output handle, and one
//! classified error at the edge that picks the exit code (0 ok, 1 user or data error, 2 usage,
//! 3 a headless run waiting for an answer).

mod athena;
mod case;
mod cases;
mod completions;
mod graph;
mod interop;
mod journal;
mod lake;
pub mod output;
mod query;
mod rehearse;
mod report;
mod resume;
mod review;
mod rollback;
mod run;
mod schema;
mod test;
mod validate;
mod verify;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub use output::Output;

/// irp runs incident-response playbooks: Athena SQL over Amazon Security Lake, decision points and
/// containment actions, with a tamper-evident case journal.
#[derive(Debug, Parser)]
#[command(name = "irp", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// Never colour the output (also: the `NO_COLOR` environment variable).
    #[arg(long, global = true)]
    pub no_color: bool,
    /// Print only errors.
    #[arg(long, short, global = true)]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check playbooks: YAML, shape, ids, references, reachability, templates, tables, operations.
    Validate(validate::ValidateArgs),
    /// Print the JSON Schema of the playbook format (for editors and other tools).
    Schema(schema::SchemaArgs),
    /// Draw a playbook's step graph as Mermaid or Graphviz DOT.
    Graph(graph::GraphArgs),
    /// Open a case and walk a playbook (headless with `--headless --answers FILE`).
    Run(run::RunArgs),
    /// Continue a case from its journal (repairs a torn last line; refuses a damaged journal).
    Resume(resume::ResumeArgs),
    /// Join a case several responders share on S3 (`irp join s3://BUCKET/PREFIX`).
    Join(resume::ResumeArgs),
    /// Give a role to another responder (`irp handover CASE ROLE --to NAME`), or, as the lead,
    /// reassign it with `--override REASON`; journaled.
    Handover(case::HandoverArgs),
    /// Undo a step's AWS action: put back the before-state it stored, verify, journal.
    Rollback(rollback::RollbackArgs),
    /// Check a case's hash chain and the files its entries vouch for; names the first bad entry.
    Verify(verify::VerifyArgs),
    /// Print a case's journal entries.
    Journal(journal::JournalArgs),
    /// Seal a case outside its folder (S3, Object Lock).
    Case(case::CaseArgs),
    /// Write a playbook in another format: `irp export cacao PLAYBOOK` (OASIS CACAO 2.0).
    Export(interop::ExportArgs),
    /// Make an irp playbook from another format: `irp import cacao FILE -o PLAYBOOK.yaml`.
    Import(interop::ImportArgs),
    /// Walk through a case as it happened, read-only: the timeline, each step as it stood.
    Review(review::ReviewArgs),
    /// Write a case's post-incident report: summary, metrics, timeline, evidence, path, integrity.
    Report(report::ReportArgs),
    /// List the cases in a folder: id, playbook, mode, opened, status, duration.
    Cases(cases::CasesArgs),
    /// Local Security Lake folders: generate a synthetic lake with an injected incident.
    Lake(lake::LakeArgs),
    /// Run Athena SQL on the embedded engine over a local lake, or on Amazon Athena.
    Query(query::QueryArgs),
    /// A game-day rehearsal: the scenario's lake, the playbook walked on it, injects, a score.
    Rehearse(rehearse::RehearseArgs),
    /// Run the test cases playbooks declare (scripted rehearsals with expectations).
    Test(test::TestArgs),
    /// Print a shell completion script: `irp completions bash > /etc/bash_completion.d/irp`.
    Completions(completions::CompletionsArgs),
    /// Print the manual page (roff): `irp man > irp.1; man ./irp.1`.
    Man,
}

/// An error at the edge: what to print and which exit code it means.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Bad input or data: the message has already been printed (diagnostics) or is here.
    #[error("{message}")]
    User { message: String, hints: Vec<String> },
    /// Diagnostics were printed already; only the exit code is left.
    #[error("problems were found")]
    Reported,
    /// A run stopped with the case saved; `code` says why (3: waiting for an answer).
    #[error("{message}")]
    Stopped {
        message: String,
        hints: Vec<String>,
        code: u8,
    },
}

impl CliError {
    pub fn user(message: impl Into<String>, hint: impl Into<String>) -> Self {
        CliError::User {
            message: message.into(),
            hints: vec![hint.into()],
        }
    }
}

/// Runs a parsed command line and maps the outcome to an exit code.
pub fn run(cli: Cli) -> ExitCode {
    let out = Output::new(cli.no_color, cli.quiet);
    let result = match cli.command {
        Command::Validate(args) => validate::cmd_validate(out, &args),
        Command::Schema(args) => schema::cmd_schema(out, &args),
        Command::Graph(args) => graph::cmd_graph(out, &args),
        Command::Run(args) => run::cmd_run(out, &args),
        Command::Resume(args) => resume::cmd_resume(out, &args),
        Command::Join(args) => resume::cmd_join(out, &args),
        Command::Handover(args) => case::cmd_handover(out, &args),
        Command::Rollback(args) => rollback::cmd_rollback(out, &args),
        Command::Verify(args) => verify::cmd_verify(out, &args),
        Command::Journal(args) => journal::cmd_journal(out, &args),
        Command::Case(args) => case::cmd_case(out, &args),
        Command::Export(args) => interop::cmd_export(out, &args),
        Command::Import(args) => interop::cmd_import(out, &args),
        Command::Review(args) => review::cmd_review(out, &args),
        Command::Report(args) => report::cmd_report(out, &args),
        Command::Cases(args) => cases::cmd_cases(out, &args),
        Command::Lake(args) => lake::cmd_lake(out, &args),
        Command::Query(args) => query::cmd_query(out, &args),
        Command::Rehearse(args) => rehearse::cmd_rehearse(out, &args),
        Command::Test(args) => test::cmd_test(out, &args),
        Command::Completions(args) => {
            completions::cmd_completions(out, &args);
            Ok(())
        }
        Command::Man => completions::cmd_man(out),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(CliError::Reported) => ExitCode::from(1),
        Err(CliError::User { message, hints }) => {
            out.error(&message, &hints);
            ExitCode::from(1)
        }
        Err(CliError::Stopped { message, hints, code }) => {
            out.error(&message, &hints);
            ExitCode::from(code)
        }
    }
}

/// Who is acting, and the clock and ids (pinned by `IRP_NOW` / `IRP_SEED`).
fn session_context(
    flag: Option<&str>,
    answers: Option<&str>,
    command: &str,
    signer: Option<std::sync::Arc<crate::journal::sign::Signer>>,
) -> Result<crate::case::Context, CliError> {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
    let actor = flag
        .map(str::to_owned)
        .or_else(|| answers.map(str::to_owned))
        .or_else(|| env("IRP_ACTOR"))
        .or_else(|| env("USER"))
        .unwrap_or_else(|| "responder".to_owned());
    if actor.trim().is_empty() || actor.chars().any(char::is_control) {
        return Err(CliError::user(
            format!("`{}` cannot name an actor", actor.escape_debug()),
            "give a plain name with `--actor`",
        ));
    }
    let clock = crate::clock::Clock::from_env()
        .map_err(|e| CliError::user(e, "unset IRP_NOW or give an RFC 3339 time"))?;
    Ok(crate::case::Context {
        actor,
        clock,
        ids: crate::clock::Ids::from_env(),
        command: command.to_owned(),
        signer,
    })
}

/// `--signing-key`: the flag of every command that writes journal entries.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct SigningArgs {
    /// Sign every journal entry with this SSH key: a private key file, a public key file whose
    /// key is in the ssh-agent, or `agent` (the agent's one key). Default: `IRP_SIGNING_KEY`.
    #[arg(long, value_name = "FILE")]
    pub signing_key: Option<String>,
}

impl SigningArgs {
    /// The responder's signing key, from `--signing-key` or else `IRP_SIGNING_KEY` (none: the
    /// entries are not signed).
    pub fn signer(&self) -> Result<Option<std::sync::Arc<crate::journal::sign::Signer>>, CliError> {
        self.signing_key
            .clone()
            .or_else(|| {
                std::env::var("IRP_SIGNING_KEY")
                    .ok()
                    .filter(|v| !v.trim().is_empty())
            })
            .map(|setting| {
                crate::journal::sign::Signer::from_setting(&setting)
                    .map(std::sync::Arc::new)
                    .map_err(|e| CliError::User {
                        message: format!("cannot sign the journal: {e}"),
                        hints: e.hints(),
                    })
            })
            .transpose()
    }
}

/// Which AWS account and endpoint a command's calls go to (over the standard configuration).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct AwsArgs {
    /// AWS profile.
    #[arg(long)]
    pub profile: Option<String>,
    /// AWS region.
    #[arg(long)]
    pub region: Option<String>,
    /// Send the calls here instead of AWS's own endpoint (moto, for a drill).
    #[arg(long)]
    pub endpoint_url: Option<String>,
}

/// The exit code of a run stopped by a move that could not be made: 3 when a headless run waits
/// for an answer (a script can add it and resume), 1 otherwise.
pub fn exit_code(stop: &crate::case::moves::MoveError) -> u8 {
    match stop {
        crate::case::moves::MoveError::MissingAnswer { .. } => 3,
        _ => 1,
    }
}

/// A run stopped by a move that could not be made, at the edge.
fn stopped(stop: &crate::case::moves::MoveError, saved: &str) -> CliError {
    CliError::Stopped {
        message: format!("{stop}; {saved}"),
        hints: stop.hints(),
        code: exit_code(stop),
    }
}

/// A case error at the edge: diagnostics for an invalid playbook, otherwise message and hints.
#[allow(clippy::needless_pass_by_value)] // used as `map_err(|e| case_error(out, e))`
fn case_error(out: Output, e: crate::case::CaseError) -> CliError {
    if let crate::case::CaseError::InvalidPlaybook { path, diagnostics } = &e {
        for d in diagnostics {
            out.diagnostic(path, d);
        }
        return CliError::Reported;
    }
    CliError::User {
        hints: e.hints(),
        message: e.to_string(),
    }
}
