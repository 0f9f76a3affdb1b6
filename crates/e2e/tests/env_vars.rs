//! Every environment variable that `compose.yaml`, the Helm chart (each value set, rendered) and
//! the `Dockerfile` set for a container of ours is one the binary it runs accepts: a misspelt or
//! stale name would be silently ignored and the service would run on a default. The accepted names
//! come from the binaries' clap definitions, subcommands included: linked in, or, for the
//! stream-processor, whose crate is a binary only, read from the built binary's help.

use std::collections::{BTreeMap, BTreeSet};

use clap::CommandFactory;
use lakehouse_e2e::containers::{self, Container};
use lakehouse_e2e::services::binary;
use lakehouse_e2e::tools;

/// Every `env = "..."` of a command, its arguments and its subcommands.
fn accepted(command: &clap::Command) -> BTreeSet<String> {
    let mut names: BTreeSet<String> = command
        .get_arguments()
        .filter_map(|arg| arg.get_env())
        .map(|env| env.to_string_lossy().into_owned())
        .collect();
    for subcommand in command.get_subcommands() {
        names.extend(accepted(subcommand));
    }
    names
}

/// Every variable the built binary `name` shows in its help (`[env: NAME...]`), for the command and
/// each of its subcommands.
fn accepted_by_binary(name: &str) -> BTreeSet<String> {
    let help = |subcommand: Option<&str>| -> String {
        let output = std::process::Command::new(binary(name))
            .args(subcommand)
            .arg("--help")
            .output()
            .expect("the binary runs");
        assert!(output.status.success(), "{name} {subcommand:?} --help");
        String::from_utf8(output.stdout).expect("UTF-8 help")
    };
    let top = help(None);
    let subcommands: Vec<&str> = top
        .lines()
        .skip_while(|line| !line.starts_with("Commands:"))
        .skip(1)
        .take_while(|line| !line.trim().is_empty())
        .filter_map(|line| line.split_whitespace().next())
        .filter(|subcommand| *subcommand != "help")
        .collect();
    assert!(!subcommands.is_empty(), "{name}'s subcommands in {top}");
    let mut names = env_names(&top);
    for subcommand in subcommands {
        names.extend(env_names(&help(Some(subcommand))));
    }
    names
}

/// The names of the `[env: NAME=...]` notes of a help text (wrapped lines joined first).
fn env_names(help: &str) -> BTreeSet<String> {
    let text = help.split_whitespace().collect::<Vec<_>>().join(" ");
    text.split("[env: ")
        .skip(1)
        .map(|rest| {
            rest.chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect()
        })
        .collect()
}

/// The variables each of our binaries accepts, by binary name.
fn binaries() -> BTreeMap<&'static str, BTreeSet<String>> {
    BTreeMap::from([
        ("lakehouse-api", accepted(&lakehouse_api::ApiConfig::command())),
        (
            "lakehouse-stream-processor",
            accepted_by_binary("lakehouse-stream-processor"),
        ),
        (
            "lakehouse-delta-writer",
            accepted(&lakehouse_delta_writer::WriterConfig::command()),
        ),
        ("lakehouse", accepted(&lakehouse_cli::Cli::command())),
        (
            "lakehouse-lake-browser",
            accepted(&lakehouse_lake_browser::BrowserConfig::command()),
        ),
    ])
}

/// Every container of ours in compose and in the chart's value sets.
fn containers() -> Vec<Container> {
    let mut all = containers::from_compose(&tools::yaml("compose.yaml"));
    let sets = tools::chart_value_sets();
    for name in tools::VALUE_SETS {
        let manifests = sets[name]["manifests"].as_array().expect("manifests");
        all.extend(containers::from_manifests(name, manifests));
    }
    all
}

#[test]
fn accepted_names_include_flattened_and_subcommand_variables() {
    let binaries = binaries();
    let writer = &binaries["lakehouse-delta-writer"];
    for name in ["KAFKA_BROKERS", "LAKE_URI", "AWS_SECRET_ACCESS_KEY"] {
        assert!(writer.contains(name), "{name} not collected: {writer:?}");
    }
    // A variable of a subcommand of a group: `lakehouse lake vacuum`.
    let tools = &binaries["lakehouse"];
    assert!(tools.contains("RESTORE_WINDOW_HOURS"), "{tools:?}");
    assert!(
        binaries["lakehouse-api"].contains("DATABASE_URL"),
        "the api's stored keys"
    );
    assert!(
        !binaries["lakehouse-api"].contains("LAKE_URI"),
        "the api never reads the lake"
    );
}

#[test]
fn every_variable_set_for_a_container_is_accepted_by_its_binary() {
    let binaries = binaries();
    let containers = containers();
    let mut unknown = Vec::new();
    let mut seen = BTreeSet::new();
    let mut checked = 0;
    for container in &containers {
        let accepted = binaries.get(container.binary.as_str()).unwrap_or_else(|| {
            panic!(
                "{} runs {}, which is not a binary of ours",
                container.source, container.binary
            )
        });
        seen.insert(container.binary.as_str());
        for name in &container.env {
            checked += 1;
            if !accepted.contains(name) {
                unknown.push(format!(
                    "{}: {name} is not accepted by {}",
                    container.source, container.binary
                ));
            }
        }
    }
    assert!(unknown.is_empty(), "{}", unknown.join("\n"));
    assert_eq!(
        seen.len(),
        binaries.len(),
        "every binary is run somewhere: {seen:?}"
    );
    assert!(
        checked >= 60,
        "only {checked} variables checked in {} containers",
        containers.len()
    );
}

#[test]
fn the_image_sets_only_variables_every_binary_accepts() {
    let dockerfile = std::fs::read_to_string(tools::repo().join("Dockerfile")).expect("the Dockerfile");
    let binaries = binaries();
    let names: Vec<&str> = dockerfile
        .lines()
        .filter_map(|line| line.strip_prefix("ENV "))
        .filter_map(|assignment| assignment.split('=').next())
        .collect();
    assert!(!names.is_empty(), "the Dockerfile sets no ENV");
    for name in names {
        for (binary, accepted) in &binaries {
            assert!(
                accepted.contains(name),
                "the image sets {name}, which {binary} does not accept"
            );
        }
    }
}
