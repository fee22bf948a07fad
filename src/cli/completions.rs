//! `irp completions bash|zsh|fish|elvish|powershell` and `irp man`: generated from the command
//! line's own definition, so they never fall behind it.

use clap::{Args, CommandFactory as _};

use super::{Cli, CliError, Output};

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

pub fn cmd_completions(out: Output, args: &CompletionsArgs) {
    let mut cmd = Cli::command();
    let mut bytes = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "irp", &mut bytes);
    out.data(&String::from_utf8_lossy(&bytes));
}

pub fn cmd_man(out: Output) -> Result<(), CliError> {
    let mut bytes = Vec::new();
    clap_mangen::Man::new(Cli::command())
        .render(&mut bytes)
        .map_err(|e| {
            CliError::user(
                format!("cannot write the manual page: {e}"),
                "report this as a bug",
            )
        })?;
    out.data(&String::from_utf8_lossy(&bytes));
    Ok(())
}
