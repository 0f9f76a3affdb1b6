//! The conventions of DESIGN.md §13, checked on every `lakehouse` command's `--help` as the binary
//! prints it: the same flag name for the same thing everywhere, `--output table|json|csv` on
//! every listing, the global flags on every command, a program `--version` at the top and a table
//! `--version` below; and the man pages and completions made from the same definitions.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

/// `lakehouse <args>`: its stdout, which must be a success.
fn lakehouse(args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_lakehouse"))
        .args(args)
        .output()
        .expect("lakehouse runs");
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8")
}

/// The subcommands a help lists under `Commands:`, without `help`.
fn subcommands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|line| !line.starts_with("Commands:"))
        .skip(1)
        .take_while(|line| !line.trim().is_empty())
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_string)
        .collect()
}

/// Every command with its help, walked from the top as a person would: `lakehouse --help`, then
/// each subcommand's, down to the leaves. Keyed by path (`lake vacuum`).
fn every_help() -> BTreeMap<String, String> {
    let mut helps = BTreeMap::new();
    let mut pending = vec![Vec::<String>::new()];
    while let Some(path) = pending.pop() {
        let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
        args.push("--help");
        let help = lakehouse(&args);
        for sub in subcommands(&help) {
            let mut deeper = path.clone();
            deeper.push(sub);
            pending.push(deeper);
        }
        helps.insert(path.join(" "), help);
    }
    helps
}

/// The long flags a help lists (`--lake-uri`), with the value name they take, if any.
fn flags(help: &str) -> BTreeMap<String, Option<String>> {
    help.lines()
        .map(str::trim_start)
        .filter_map(|line| {
            let line = line
                .strip_prefix("-o, ")
                .or(line.strip_prefix("-h, "))
                .unwrap_or(line);
            let line = line.strip_prefix("-V, ").unwrap_or(line);
            let rest = line.strip_prefix("--")?;
            let mut words = rest.split_whitespace();
            let name = words.next()?.to_string();
            let value = words.next().filter(|w| w.starts_with('<')).map(str::to_string);
            Some((name, value))
        })
        .collect()
}

/// The commands that list things (their `about` says so, or they are known listings).
fn is_listing(path: &str, help: &str) -> bool {
    const LISTINGS: &[&str] = &[
        "keys list",
        "lake query",
        "lake history",
        "lake diff",
        "dlq list",
        "audit",
        "warehouse reconcile",
    ];
    LISTINGS.contains(&path) || help.starts_with("List ")
}

#[test]
fn every_command_follows_the_flag_conventions() {
    let helps = every_help();
    let leaves: Vec<(&String, &String)> = helps
        .iter()
        .filter(|(_, help)| subcommands(help).is_empty())
        .collect();
    assert!(
        leaves.len() >= 20,
        "only {} commands: {:?}",
        leaves.len(),
        helps.keys()
    );
    for group in [
        "keys",
        "lake",
        "warehouse",
        "user",
        "dlq",
        "audit",
        "offsets",
        "completions",
    ] {
        assert!(helps.contains_key(group), "`lakehouse --help` lists no {group}");
    }

    // Names that mean what another name already means; the canonical one is on the right.
    let synonyms = [
        ("project", "--project-id"),
        ("user", "--user-id"),
        ("json", "--output json"),
        ("format", "--output"),
        ("table-version", "--version"),
        ("at-version", "--version"),
        ("asof", "--as-of"),
        ("dryrun", "--dry-run"),
        ("database", "--database-url"),
    ];
    let mut problems = Vec::new();
    let mut listings = 0;
    for (path, help) in &leaves {
        let flags = flags(help);
        for (wrong, right) in synonyms {
            if flags.contains_key(wrong) {
                problems.push(format!("`{path}` takes --{wrong}: use {right}"));
            }
        }
        for global in ["log-format", "quiet", "actor"] {
            if !flags.contains_key(global) {
                problems.push(format!("`{path}` does not take the global --{global}"));
            }
        }
        // Below the top, --version is always a table version (a number).
        if let Some(value) = flags.get("version")
            && value.as_deref() != Some("<VERSION>")
        {
            problems.push(format!(
                "`{path}`: --version takes {value:?}, not a table version"
            ));
        }
        if is_listing(path, help) {
            listings += 1;
            let output = flags.get("output");
            let values = help.contains("- table:") && help.contains("- json:") && help.contains("- csv:");
            if output != Some(&Some("<OUTPUT>".to_string())) || !values {
                problems.push(format!("`{path}` lists but has no --output table|json|csv"));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(listings >= 7, "{listings} listings found");

    // The program's own version at the top.
    let version = lakehouse(&["--version"]);
    assert!(
        version.starts_with("lakehouse ") && version.contains(env!("CARGO_PKG_VERSION")),
        "{version}"
    );
}

#[test]
fn global_flags_go_before_or_after_the_command_and_usage_errors_exit_2() {
    for args in [
        ["--quiet", "lake", "verify", "--help"],
        ["lake", "--quiet", "verify", "--help"],
        ["lake", "verify", "--quiet", "--help"],
    ] {
        lakehouse(&args);
    }
    for wrong in [
        vec!["lake", "vacuum", "--no-such-flag"],
        vec!["lake", "restore"], // neither --version nor --as-of
        vec!["user", "erase", "--user-id=u", "--lake-only", "--warehouse-only"],
        vec!["nothing"],
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_lakehouse"))
            .args(&wrong)
            .output()
            .expect("lakehouse runs");
        assert_eq!(output.status.code(), Some(2), "{wrong:?}: {output:?}");
    }
}

#[test]
fn man_pages_and_completions_cover_every_command() {
    let helps = every_help();
    let dir = std::env::temp_dir().join(format!("lakehouse-man-{}", uuid::Uuid::new_v4()));
    lakehouse(&["man-pages", "--out", &dir.display().to_string()]);
    let pages: BTreeSet<String> = std::fs::read_dir(&dir)
        .expect("the man pages")
        .map(|entry| {
            entry
                .expect("an entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    for path in helps.keys() {
        let page = if path.is_empty() {
            "lakehouse.1".to_string()
        } else {
            format!("lakehouse-{}.1", path.replace(' ', "-"))
        };
        assert!(pages.contains(&page), "no {page} in {pages:?}");
    }
    let vacuum = std::fs::read_to_string(dir.join("lakehouse-lake-vacuum.1")).expect("a page");
    assert!(vacuum.contains(".TH") && vacuum.contains("retention"), "{vacuum}");
    std::fs::remove_dir_all(&dir).ok();

    for shell in ["bash", "zsh", "fish"] {
        let script = lakehouse(&["completions", shell]);
        for word in ["vacuum", "reconcile", "project-id"] {
            assert!(script.contains(word), "{shell} completion lacks {word}");
        }
    }
}
