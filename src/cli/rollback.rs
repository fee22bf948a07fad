//! `irp rollback CASE --step ID [--item N]`: puts back the before-state a step's AWS action (or
//! one item of a `for_each` step) stored. The
//! responder confirms by typing the resource name (`--confirm NAME`, or at the prompt on a
//! terminal); if the resource changed since the action, the difference is shown and the rollback
//! runs only with `--overwrite-changes`. A closed case can be rolled back too.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;

use clap::Args;

use super::{CliError, Output, case_error, session_context};
use crate::case::actions::{prepare_rollback, run_rollback};
use crate::case::moves::MoveError;
use crate::case::{PlaybookChoice, Session};
use crate::engine::StepLine;

#[derive(Debug, Args)]
pub struct RollbackArgs {
    /// The case folder.
    pub case: PathBuf,
    /// The action step whose change to undo.
    #[arg(long)]
    pub step: String,
    /// For a step that ran once per item (`for_each`): the item whose change to undo (from 0).
    #[arg(long, value_name = "N")]
    pub item: Option<usize>,
    /// The confirmation: the name of the resource being restored (asked for on a terminal).
    #[arg(long, value_name = "NAME")]
    pub confirm: Option<String>,
    /// Restore even though the resource changed since the action (the difference is shown).
    #[arg(long)]
    pub overwrite_changes: bool,
    /// Required for a live case: the rollback changes the AWS account.
    #[arg(long)]
    pub live: bool,
    #[command(flatten)]
    pub aws: super::AwsArgs,
    /// Who the journal records as acting.
    #[arg(long)]
    pub actor: Option<String>,
    #[command(flatten)]
    pub signing: super::SigningArgs,
}

fn stopped(stop: &MoveError) -> CliError {
    super::stopped(stop, "the case is saved")
}

pub fn cmd_rollback(out: Output, args: &RollbackArgs) -> Result<(), CliError> {
    let ctx = session_context(args.actor.as_deref(), None, "rollback", args.signing.signer()?)?;
    // The snapshot is what the case ran: a rollback never depends on the playbook file now.
    let (mut session, _) =
        Session::resume(&args.case, PlaybookChoice::Snapshot, ctx).map_err(|e| case_error(out, e))?;
    let mode = session
        .state
        .opened
        .as_ref()
        .map_or(crate::engine::Mode::Rehearsal, |o| o.mode);
    let settings = super::run::settings_of(
        args.aws.profile.clone(),
        args.aws.region.clone(),
        args.aws.endpoint_url.clone(),
    );
    let mut executor = super::run::executor(mode, args.live, &settings)?;
    let mut print = |line: &StepLine| super::run::print_line(out, line, false);
    let plan = prepare_rollback(&mut session, &mut executor, &args.step, args.item, &mut print)
        .map_err(|s| stopped(&s))?;
    out.status(&format!(
        "rollback of `{}`{} ({} on {}): {}",
        plan.step,
        plan.item.map(|i| format!(" item {i}")).unwrap_or_default(),
        plan.operation,
        plan.target,
        plan.calls.join("; ")
    ));
    if let Some(diff) = &plan.changed_since {
        out.status(&format!(
            "the resource changed since the action; the rollback would also undo this:\n{diff}"
        ));
        if !args.overwrite_changes {
            return Err(CliError::user(
                "not rolled back: the resource changed since the action",
                "find out who changed it; run again with `--overwrite-changes` to restore the before-state anyway",
            ));
        }
    }
    let typed = match &args.confirm {
        Some(t) => t.clone(),
        None if std::io::stdin().is_terminal() => {
            let mut err = std::io::stderr();
            let _ = write!(err, "type `{}` to roll back: ", plan.target);
            let _ = err.flush();
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line).map_err(|e| {
                CliError::user(
                    format!("cannot read the confirmation: {e}"),
                    "give `--confirm NAME`",
                )
            })?;
            line.trim().to_owned()
        }
        None => {
            return Err(CliError::user(
                format!(
                    "the rollback needs a typed confirmation: the resource name `{}`",
                    plan.target
                ),
                format!("give `--confirm {}`", plan.target),
            ));
        }
    };
    if typed != plan.target {
        return Err(CliError::user(
            format!("`{typed}` is not `{}`; nothing was rolled back", plan.target),
            "type the resource name exactly",
        ));
    }
    run_rollback(
        &mut session,
        &mut executor,
        &plan,
        &typed,
        args.overwrite_changes,
        &mut print,
    )
    .map_err(|s| stopped(&s))
}
