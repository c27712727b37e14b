//! Every `idlog` command the documentation (README.md, docs/*.md) names exists.

use std::process::Stdio;

/// The commands the documentation names: `idlog` and the subcommand words after it, in code
/// (inline spans and fenced blocks) of README.md and docs/*.md.
fn documented_commands() -> std::collections::BTreeSet<Vec<String>> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut pages = vec![root.join("README.md")];
    for entry in std::fs::read_dir(root.join("docs")).expect("docs folder") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|extension| extension == "md") {
            pages.push(path);
        }
    }
    let mut commands = std::collections::BTreeSet::new();
    for page in pages {
        let text = std::fs::read_to_string(&page).expect("page");
        let mut fenced = false;
        for line in text.lines() {
            if line.trim_start().starts_with("```") {
                fenced = !fenced;
                continue;
            }
            // Inline code spans are the odd pieces between backticks; a fenced line is code, up
            // to a comment (`# ...` in shell and TOML), which is prose.
            let code: Vec<&str> = if fenced {
                vec![line.split_once('#').map_or(line, |(code, _)| code)]
            } else {
                line.split('`').skip(1).step_by(2).collect()
            };
            for piece in code {
                let mut words = piece.split_whitespace().peekable();
                while let Some(word) = words.next() {
                    if word != "idlog" {
                        continue;
                    }
                    let mut command = Vec::new();
                    while let Some(next) = words.peek() {
                        let is_word = next
                            .chars()
                            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                            && next.starts_with(|c: char| c.is_ascii_lowercase());
                        if !is_word {
                            break;
                        }
                        command.push((*next).to_owned());
                        words.next();
                    }
                    if !command.is_empty() {
                        commands.insert(command);
                    }
                }
            }
        }
    }
    commands
}

#[test]
fn every_command_the_documentation_names_exists() {
    let commands = documented_commands();
    assert!(
        commands.len() > 20,
        "the docs name {} commands: {commands:?}",
        commands.len()
    );
    for command in &commands {
        // clap stops at --help: the words before it must be subcommands (or arguments) it knows.
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_idlog"))
            .args(command)
            .arg("--help")
            .stdin(Stdio::null())
            .output()
            .expect("run idlog");
        assert!(
            output.status.success(),
            "`idlog {} --help` failed: {}",
            command.join(" "),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
