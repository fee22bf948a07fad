//! `irp completions` and `irp man`: generated from the command line's definition, checked by the
//! tools that read them (bash itself, groff).

use std::process::{Command, Stdio};

use crate::common::{run, skipped, stderr, stdout};

/// Every subcommand `irp --help` lists.
fn subcommands() -> Vec<String> {
    let help = stdout(&run(&["--help"]));
    help.lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        // A command's line is indented two spaces; its wrapped description, more.
        .filter(|l| !l[2..].starts_with(' '))
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .filter(|c| c != "help")
        .collect()
}

#[test]
fn bash_completes_every_subcommand_and_their_options() {
    let script = stdout(&run(&["completions", "bash"]));
    let commands = subcommands();
    assert!(commands.len() >= 18, "{commands:?}");
    // bash sources the script and completes as it would on a terminal.
    let complete = |words: &str, current: usize| {
        let program = format!(
            "{script}\nCOMP_WORDS=({words}); COMP_CWORD={current}; _irp irp \"${{COMP_WORDS[$COMP_CWORD]}}\" \"${{COMP_WORDS[$COMP_CWORD-1]}}\"; printf '%s\\n' \"${{COMPREPLY[@]}}\""
        );
        let out = Command::new("bash")
            .arg("-c")
            .arg(program)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        stdout(&out).lines().map(str::to_owned).collect::<Vec<_>>()
    };
    let all = complete("irp ''", 1);
    for c in &commands {
        assert!(all.contains(c), "`{c}` is not completed: {all:?}");
    }
    assert_eq!(complete("irp ver", 1), vec!["verify".to_owned()]);
    let flags = complete("irp verify --all", 2);
    assert_eq!(flags, vec!["--allowed-signers".to_owned()]);
    let seal = complete("irp case s", 2);
    assert_eq!(seal, vec!["seal".to_owned()]);
    // The other shells' scripts are generated too.
    for shell in ["zsh", "fish", "elvish", "powershell"] {
        let out = run(&["completions", shell]);
        assert!(out.status.success() && stdout(&out).contains("verify"), "{shell}");
    }
    let out = run(&["completions", "tcsh"]);
    assert_eq!(out.status.code(), Some(2), "an unknown shell is a usage error");
}

#[test]
fn the_manual_page_renders_with_groff_and_names_every_subcommand() {
    let page = stdout(&run(&["man"]));
    assert!(page.starts_with(".ie") || page.contains(".TH irp 1"), "{page}");
    let Ok(mut child) = Command::new("groff")
        .args(["-man", "-Tutf8", "-ww"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    else {
        skipped("groff is not installed (Debian: groff-base)");
        return;
    };
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), page.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).trim().is_empty(), "groff warns: {}", stderr(&out));
    let text = stdout(&out).replace('\u{8}', "");
    for c in subcommands() {
        assert!(
            text.contains(&format!("irp-{c}(1)")),
            "`{c}` is not in the page: {text}"
        );
    }
}
