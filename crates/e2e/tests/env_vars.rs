//! Every environment variable that `compose.yaml`, the Helm chart (each value set, rendered) and
//! the `Dockerfile` set for a container of ours is one the binary it runs accepts: a misspelt or
//! stale name would be silently ignored and the service would run on a default. The accepted names
//! come from the binaries' clap definitions, subcommands included.

use std::collections::{BTreeMap, BTreeSet};

use clap::CommandFactory;
use lakehouse_e2e::containers::{self, Container};
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

/// The variables each of our binaries accepts, by binary name.
fn binaries() -> BTreeMap<&'static str, BTreeSet<String>> {
    BTreeMap::from([
        ("lakehouse-api", accepted(&lakehouse_api::ApiConfig::command())),
        (
            "lakehouse-stream-processor",
            accepted(&lakehouse_stream_processor::ProcessorConfig::command()),
        ),
        (
            "lakehouse-delta-writer",
            accepted(&lakehouse_delta_writer::WriterConfig::command()),
        ),
        (
            "lakehouse-warehouse-sync",
            accepted(&lakehouse_warehouse_sync::SyncConfig::command()),
        ),
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
    for name in [
        "KAFKA_BROKERS",
        "LAKE_URI",
        "AWS_SECRET_ACCESS_KEY",
        "RESTORE_WINDOW_HOURS",
    ] {
        assert!(writer.contains(name), "{name} not collected: {writer:?}");
    }
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
