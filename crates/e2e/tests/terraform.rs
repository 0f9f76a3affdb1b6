//! The Terraform modules and examples: every file parses (python-hcl2), each module pins its
//! providers and documents its inputs and outputs, the examples use every module, the database
//! module makes the roles the services expect, and checkov finds nothing that is not skipped with a
//! written justification.

use std::collections::BTreeSet;

use lakehouse_e2e::tools;
use serde_json::Value;

const MODULES: [&str; 5] = [
    "bucket-aws",
    "bucket-minio",
    "kafka-topics",
    "postgres",
    "release",
];

/// python-hcl2 writes each block as a list of single-key objects; this yields (label, body).
fn blocks<'a>(file: &'a Value, kind: &str) -> Vec<(&'a String, &'a Value)> {
    file[kind]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_object)
        .flat_map(|block| block.iter())
        .collect()
}

fn files(report: &Value) -> Vec<(&String, &Value)> {
    report["files"].as_object().expect("files").iter().collect()
}

#[test]
fn every_file_parses_and_every_module_is_pinned_and_documented() {
    let report = tools::terraform_report();
    let files = files(&report);
    assert!(files.len() >= 7, "only {} .tf files", files.len());
    for (path, file) in &files {
        assert!(
            file["error"].is_null(),
            "{path} does not parse: {}",
            file["error"]
        );
        for terraform in file["terraform"].as_array().expect("a terraform block") {
            assert!(
                terraform["required_version"].is_string(),
                "{path}: no required_version"
            );
            for (provider, requirement) in blocks(terraform, "required_providers") {
                assert!(
                    requirement["version"]
                        .as_str()
                        .is_some_and(|v| v.starts_with("~>")),
                    "{path}: provider {provider} is not pinned to a minor series"
                );
            }
        }
        for (name, variable) in blocks(file, "variable") {
            assert!(
                variable["description"].is_string(),
                "{path}: variable {name} has no description"
            );
            assert!(
                variable["type"].is_string(),
                "{path}: variable {name} has no type"
            );
            let secret = ["password", "secret", "api_keys", "database_url"]
                .iter()
                .any(|s| name.contains(s));
            if secret {
                assert_eq!(
                    variable["sensitive"], true,
                    "{path}: variable {name} is not sensitive"
                );
                assert!(
                    variable["default"].is_null(),
                    "{path}: secret {name} has a default"
                );
            }
        }
        for (name, output) in blocks(file, "output") {
            assert!(
                output["description"].is_string(),
                "{path}: output {name} has no description"
            );
        }
    }
}

#[test]
fn the_examples_wire_every_module() {
    let report = tools::terraform_report();
    let mut used = BTreeSet::new();
    let mut examples = 0;
    for (path, file) in files(&report) {
        if !path.contains("/examples/") {
            continue;
        }
        examples += 1;
        for (_, module) in blocks(file, "module") {
            let source = module["source"].as_str().unwrap_or_default();
            let name = source
                .strip_prefix("../../modules/")
                .unwrap_or_else(|| panic!("{path}: module source {source}"));
            assert!(MODULES.contains(&name), "{path}: unknown module {name}");
            used.insert(name);
        }
    }
    assert!(examples >= 2, "only {examples} examples");
    assert_eq!(used, BTreeSet::from(MODULES), "modules no example uses");
}

#[test]
fn the_database_module_makes_the_roles_the_services_use() {
    let report = tools::terraform_report();
    let (_, postgres) = files(&report)
        .into_iter()
        .find(|(path, _)| path.ends_with("modules/postgres/main.tf"))
        .expect("the postgres module");
    let roles: Vec<(String, bool)> = blocks(postgres, "resource")
        .into_iter()
        .filter(|(kind, _)| *kind == "postgresql_role")
        .flat_map(|(_, named)| named.as_object().into_iter().flatten())
        .map(|(_, role)| {
            (
                role["name"].as_str().unwrap_or_default().to_string(),
                role["login"] == true,
            )
        })
        .collect();
    // The stream-processor's default WAREHOUSE_READER_ROLE / WAREHOUSE_WRITER_ROLE /
    // WAREHOUSE_KEY_READER_ROLE, Grafana's login and the api's, as scripts/stack, compose and the
    // Grafana provisioning name them.
    let defaults = lakehouse_warehouse::grants::Roles::default();
    for (role, login) in [
        (defaults.reader.as_str(), false),
        (defaults.writer.as_str(), false),
        (defaults.key_reader.as_str(), false),
        ("lakehouse_grafana", true),
        ("lakehouse_api", true),
    ] {
        assert!(
            roles.contains(&(role.to_string(), login)),
            "{role} (login: {login}) not in {roles:?}"
        );
    }
}

#[test]
fn checkov_finds_nothing_unexplained() {
    let report = tools::terraform_report();
    let checkov = &report["checkov"];
    let failed: Vec<String> = checkov["failed"]
        .as_array()
        .expect("failed checks")
        .iter()
        .map(|f| {
            format!(
                "{} {} in {} {}",
                f["check_id"], f["check_name"], f["file_path"], f["resource"]
            )
        })
        .collect();
    assert!(
        failed.is_empty(),
        "checkov failures (fix, or skip with a justification):\n{}",
        failed.join("\n")
    );
    for skipped in checkov["skipped"].as_array().expect("skipped checks") {
        let why = skipped["suppress_comment"].as_str().unwrap_or_default();
        assert!(
            why.len() >= 30,
            "{} is skipped without a justification: {why:?}",
            skipped["check_id"]
        );
    }
    assert!(
        checkov["summary"]["passed"].as_u64().unwrap_or(0) >= 20,
        "{}",
        checkov["summary"]
    );
    assert_eq!(checkov["summary"]["parsing_errors"], 0, "{}", checkov["summary"]);
}
