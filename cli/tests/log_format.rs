//! `LOG_FORMAT` left at its default (`auto`): JSON lines when stderr is not a terminal (a
//! container's log, a pipe), human lines when it is (a person at a shell), here a pseudo-terminal
//! made by util-linux's `script`. The command is one that logs and fails at once: `vacuum` of a lake
//! with no table, without `DATABASE_URL`, warns that its audit record goes to the log only.

use std::process::Command;

const WARNING: &str = "DATABASE_URL is not set";

fn lake() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("log-format-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("a temporary folder");
    dir
}

/// `command` without the settings that would change what it logs.
fn quiet(mut command: Command) -> Command {
    command
        .env_remove("LOG_FORMAT")
        .env_remove("DATABASE_URL")
        .env_remove("RUST_LOG");
    command
}

#[test]
fn logs_are_json_lines_when_stderr_is_not_a_terminal() {
    let mut vacuum = Command::new(env!("CARGO_BIN_EXE_lakehouse"));
    vacuum
        .args(["lake", "vacuum", "--dry-run"])
        .arg(format!("--lake-uri={}", lake().display()));
    let output = quiet(vacuum).output().expect("lakehouse runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let line = stderr
        .lines()
        .find(|line| line.contains(WARNING))
        .unwrap_or_else(|| panic!("no warning in {stderr}"));
    let parsed: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
    assert_eq!(parsed["level"], "WARN", "{line}");
    assert_eq!(parsed["service"], "lakehouse", "{line}");
}

#[test]
fn logs_are_for_people_when_stderr_is_a_terminal() {
    let command = format!(
        "{} lake vacuum --dry-run --lake-uri={}",
        env!("CARGO_BIN_EXE_lakehouse"),
        lake().display()
    );
    // `script` runs the command on a pseudo-terminal and copies what it wrote to stdout.
    let mut script = Command::new("script");
    script.args(["--quiet", "--return", "--command", &command, "/dev/null"]);
    let output = quiet(script).output().expect("util-linux's script runs");
    let terminal = String::from_utf8_lossy(&output.stdout);
    let line = terminal
        .lines()
        .find(|line| line.contains(WARNING))
        .unwrap_or_else(|| panic!("no warning in {terminal}"));
    assert!(
        serde_json::from_str::<serde_json::Value>(line.trim()).is_err(),
        "a human line, not JSON: {line}"
    );
    assert!(line.contains("WARN"), "{line}");
}
