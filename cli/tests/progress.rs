//! A long command's progress, as the person running it sees it: `rebuild` of 10^5 events from a
//! lake into an empty warehouse, under a pseudo-terminal (util-linux's `script`) shows a bar that
//! reaches its total; with stderr a pipe it writes one line per phase and no bar; `--quiet` writes
//! neither.

mod common;

use std::process::Command;

use lakehouse_testkit::{Stack, TempDatabase, unique};

const EVENTS: u64 = 100_000;
/// Every timestamp of the reference workload.
const RANGE: &str = "--range=2026-10-01..2026-11-02";

/// A lake of EVENTS reference events, and an empty, migrated warehouse: the rebuild's arguments.
async fn stores() -> (Vec<String>, TempDatabase) {
    let dir = std::env::temp_dir().join(unique("rebuild-progress"));
    common::reference_lake(&dir, 7, EVENTS, 25_000).await;
    let database = common::migrated_database(&Stack::from_env()).await;
    let args = vec![
        "warehouse".to_string(),
        "rebuild".to_string(),
        RANGE.to_string(),
        format!("--lake-uri={}", dir.display()),
        format!("--database-url={}", database.url),
        "--log-format=json".to_string(),
    ];
    (args, database)
}

fn lakehouse() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_lakehouse"));
    command.env("RUST_LOG", "warn");
    command
}

#[tokio::test]
async fn rebuild_shows_a_bar_on_a_terminal_and_a_line_per_phase_elsewhere() {
    let (args, _database) = stores().await;

    // A pipe: a summary line per phase, the insert's with its total, and no bar.
    let piped = lakehouse().args(&args).output().expect("lakehouse runs");
    assert!(piped.status.success(), "{piped:?}");
    let stderr = String::from_utf8_lossy(&piped.stderr);
    let inserted = format!("of {EVENTS} rows in");
    let phases: Vec<&str> = stderr
        .lines()
        .filter(|line| line.starts_with("rebuild: "))
        .collect();
    assert!(phases.iter().any(|line| line.contains(&inserted)), "{stderr}");
    assert!(phases.len() >= 5, "a line per phase: {stderr}");
    assert!(
        !stderr.contains('\r') && !stderr.contains("=>"),
        "no bar in a log: {stderr}"
    );

    // A pseudo-terminal: the insert's bar reaches its total (the rebuild is idempotent: the same
    // range again, over the events the first one inserted).
    let command = args
        .iter()
        .map(|arg| format!("'{arg}'"))
        .collect::<Vec<_>>()
        .join(" ");
    let command = format!("{} {command}", env!("CARGO_BIN_EXE_lakehouse"));
    let terminal = Command::new("script")
        .args(["--quiet", "--return", "--command", &command, "/dev/null"])
        .env("RUST_LOG", "warn")
        .output()
        .expect("util-linux's script runs");
    assert!(terminal.status.success(), "{terminal:?}");
    let screen = String::from_utf8_lossy(&terminal.stdout);
    let full = format!("{EVENTS}/{EVENTS} rows");
    assert!(screen.contains(&full), "the bar reaches {full}: {screen}");
    assert!(!screen.contains(&inserted), "a bar, not a log line: {screen}");

    // --quiet: the result alone.
    let quiet = lakehouse()
        .args(&args)
        .arg("--quiet")
        .output()
        .expect("lakehouse runs");
    assert!(quiet.status.success(), "{quiet:?}");
    let stderr = String::from_utf8_lossy(&quiet.stderr);
    assert!(!stderr.contains("rebuild: "), "{stderr}");
    let result: serde_json::Value = serde_json::from_slice(&quiet.stdout).expect("the JSON result");
    assert_eq!(result["inserted_events"], EVENTS, "{result}");
}
