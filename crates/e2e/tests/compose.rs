//! `compose.yaml`, checked structurally (there is no Docker engine where the tests run): our
//! services are health-checked, every dependency waits on a condition, no secret has a default,
//! Prometheus scrapes every service and loads the alert rules, and Grafana gets its provisioning.

use std::collections::BTreeSet;

use lakehouse_e2e::{containers, tools};
use serde_json::Value;

fn compose() -> Value {
    tools::yaml("compose.yaml")
}

fn services(compose: &Value) -> Vec<(&String, &Value)> {
    compose["services"]
        .as_object()
        .expect("compose.yaml has services")
        .iter()
        .collect()
}

#[test]
fn our_services_run_each_binary_and_are_health_checked() {
    let compose = compose();
    let ours = containers::from_compose(&compose);
    let binaries: BTreeSet<_> = ours.iter().map(|c| c.binary.as_str()).collect();
    assert_eq!(
        binaries,
        BTreeSet::from([
            "lakehouse-api",
            "lakehouse-delta-writer",
            "lakehouse-lake-browser",
            "lakehouse-stream-processor"
        ])
    );
    for (name, service) in services(&compose) {
        let is_ours = ours.iter().any(|c| c.source == format!("compose: {name}"));
        if !is_ours {
            continue;
        }
        let test = &service["healthcheck"]["test"];
        assert!(
            test.as_array().is_some_and(|t| t.len() > 1),
            "{name} has no health check"
        );
        assert!(
            test.to_string().contains("/ready"),
            "{name}'s health check is not its readiness endpoint: {test}"
        );
        assert!(
            service["image"]
                .as_str()
                .is_some_and(|i| i.starts_with("lakehouse:")),
            "{name}"
        );
        assert_eq!(
            service["read_only"], true,
            "{name} has a writable root file system"
        );
        assert_eq!(
            service["cap_drop"],
            serde_json::json!(["ALL"]),
            "{name} keeps capabilities"
        );
    }
}

#[test]
fn every_image_is_pinned_to_a_version() {
    let compose = compose();
    for (name, service) in services(&compose) {
        let image = service["image"]
            .as_str()
            .unwrap_or_else(|| panic!("{name} has no image"));
        let tag = image.rsplit_once(':').map(|(_, tag)| tag).unwrap_or("latest");
        assert!(
            tag != "latest" && !tag.is_empty(),
            "{name}: {image} is not pinned"
        );
    }
}

#[test]
fn every_dependency_waits_on_a_condition() {
    let compose = compose();
    let all = compose["services"].as_object().expect("services");
    let mut dependencies = 0;
    for (name, service) in services(&compose) {
        if service["depends_on"].is_null() {
            continue;
        }
        let Some(depends_on) = service["depends_on"].as_object() else {
            panic!("{name}: depends_on is a list, which waits only for a start, not for health");
        };
        for (target, rule) in depends_on {
            dependencies += 1;
            let target_service = &all
                .get(target)
                .unwrap_or_else(|| panic!("{name} depends on {target}, which is not a service"));
            match rule["condition"].as_str() {
                Some("service_healthy") => assert!(
                    target_service["healthcheck"]["test"].is_array(),
                    "{name} waits for {target} to be healthy, but {target} has no health check"
                ),
                Some("service_completed_successfully") => assert_eq!(
                    target_service["restart"], "no",
                    "{name} waits for {target} to complete, but {target} restarts"
                ),
                other => panic!("{name} depends on {target} with condition {other:?}"),
            }
        }
    }
    assert!(dependencies >= 8, "only {dependencies} dependencies");
}

/// `${NAME:?message}`: compose refuses to start while NAME is unset or empty.
fn required_variable(value: &str) -> Option<&str> {
    let inner = value.strip_prefix("${")?.strip_suffix('}')?;
    let (name, _) = inner.split_once(":?")?;
    Some(name)
}

fn is_secret(key: &str) -> bool {
    ["PASSWORD", "SECRET", "API_KEYS", "ACCESS_KEY", "TOKEN"]
        .iter()
        .any(|word| key.contains(word))
}

#[test]
fn no_password_or_key_has_a_default() {
    let compose = compose();
    let example = std::fs::read_to_string(tools::repo().join(".env.example")).expect(".env.example");
    let mut secrets = 0;
    for (name, service) in services(&compose) {
        for (key, value) in service["environment"].as_object().into_iter().flatten() {
            let value = value.as_str().unwrap_or_default();
            // A password inside a URL: postgres://user:${PASSWORD:?...}@host/db
            let in_url = value
                .split_once("://")
                .and_then(|(_, rest)| rest.split_once('@'))
                .and_then(|(credentials, _)| credentials.split_once(':'))
                .map(|(_, password)| password);
            let secret = match in_url {
                Some(password) => password,
                None if is_secret(key) => value,
                None => continue,
            };
            secrets += 1;
            let variable = required_variable(secret).unwrap_or_else(|| {
                panic!("{name}: {key} is {value:?}, not a required variable (${{NAME:?message}})")
            });
            assert!(
                example.lines().any(|line| line == format!("{variable}=")),
                "{name}: {variable} is not listed (empty) in .env.example"
            );
        }
    }
    assert!(secrets >= 8, "only {secrets} secrets found");
}

#[test]
fn the_lake_browser_reads_the_writers_lake_behind_its_token() {
    let compose = compose();
    let writer = &compose["services"]["delta-writer"]["environment"];
    let browser = &compose["services"]["lake-browser"]["environment"];
    let lake: Vec<&String> = writer
        .as_object()
        .expect("the delta-writer's environment")
        .keys()
        .filter(|key| key.starts_with("LAKE_") || key.starts_with("AWS_"))
        .collect();
    assert!(lake.len() >= 5, "the delta-writer's lake settings: {lake:?}");
    for key in lake {
        assert_eq!(browser[key], writer[key], "the lake browser's {key}");
    }
    // Listening beyond loopback, it starts only with a token, which .env must provide.
    let listen = browser["LISTEN_ADDR"].as_str().expect("LISTEN_ADDR");
    assert!(listen.starts_with("0.0.0.0:"), "{listen}");
    assert_eq!(
        required_variable(browser["LAKE_BROWSER_TOKEN"].as_str().unwrap_or_default()),
        Some("LAKE_BROWSER_TOKEN")
    );
    let listen_port = port(&browser["LISTEN_ADDR"]).expect("a port");
    assert_eq!(
        compose["services"]["lake-browser"]["ports"],
        serde_json::json!([format!("{listen_port}:{listen_port}")]),
        "the browser's port is published as the other web pages' are"
    );
    assert_eq!(
        browser["LAKE_BROWSER_ALLOW_RESTORE"], "${LAKE_BROWSER_ALLOW_RESTORE:-false}",
        "restore stays off unless .env turns it on"
    );
}

/// The port of `0.0.0.0:PORT`.
fn port(address: &Value) -> Option<&str> {
    address.as_str()?.rsplit_once(':').map(|(_, port)| port)
}

#[test]
fn prometheus_scrapes_every_service_of_ours() {
    let compose = compose();
    let prometheus = tools::yaml("compose/prometheus.yml");
    let targets: BTreeSet<String> = prometheus["scrape_configs"]
        .as_array()
        .expect("scrape_configs")
        .iter()
        .flat_map(|job| job["static_configs"].as_array().into_iter().flatten())
        .flat_map(|config| config["targets"].as_array().into_iter().flatten())
        .filter_map(|t| t.as_str().map(str::to_string))
        .collect();
    let ours = containers::from_compose(&compose);
    for container in &ours {
        let name = container.source.trim_start_matches("compose: ");
        let env = &compose["services"][name]["environment"];
        let port = port(&env["METRICS_ADDR"])
            .or_else(|| port(&env["LISTEN_ADDR"]))
            .unwrap_or_else(|| panic!("{name} sets neither METRICS_ADDR nor LISTEN_ADDR"));
        assert!(
            targets.contains(&format!("{name}:{port}")),
            "Prometheus does not scrape {name}:{port} ({targets:?})"
        );
    }
    assert!(
        targets.iter().any(|t| t.starts_with("kafka-exporter:")),
        "consumer lag comes from kafka-exporter"
    );
}

#[test]
fn prometheus_loads_the_alert_rules() {
    let compose = compose();
    let volumes: Vec<&str> = compose["services"]["prometheus"]["volumes"]
        .as_array()
        .expect("Prometheus' volumes")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let mount = volumes
        .iter()
        .find_map(|v| v.strip_prefix("./prometheus/rules:"))
        .and_then(|v| v.strip_suffix(":ro"))
        .unwrap_or_else(|| panic!("prometheus/rules is not mounted read-only: {volumes:?}"));
    let prometheus = tools::yaml("compose/prometheus.yml");
    let rule_files: Vec<&str> = prometheus["rule_files"]
        .as_array()
        .expect("rule_files")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        rule_files.contains(&format!("{mount}/*.yml").as_str()),
        "Prometheus does not read the mounted rules ({mount}): {rule_files:?}"
    );
    assert!(tools::repo().join("prometheus/rules/lakehouse.yml").is_file());
}

#[test]
fn grafana_is_provisioned_from_the_repository() {
    let compose = compose();
    let grafana = &compose["services"]["grafana"];
    let volumes: Vec<&str> = grafana["volumes"]
        .as_array()
        .expect("Grafana's volumes")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let provider = tools::yaml("grafana/provisioning/dashboards/lakehouse.yaml");
    let dashboards_path = provider["providers"][0]["options"]["path"]
        .as_str()
        .expect("a path");
    assert!(
        volumes.contains(&"./grafana/provisioning:/etc/grafana/provisioning:ro"),
        "{volumes:?}"
    );
    assert!(
        volumes.contains(&format!("./grafana/dashboards:{dashboards_path}:ro").as_str()),
        "dashboards are not mounted where the provider reads them ({dashboards_path}): {volumes:?}"
    );
    // Every variable the data source provisioning reads is set for Grafana.
    let datasources =
        std::fs::read_to_string(tools::repo().join("grafana/provisioning/datasources/lakehouse.yaml"))
            .expect("the data sources");
    let settings = datasources
        .lines()
        .filter(|line| !line.trim_start().starts_with('#'));
    let variables =
        settings.flat_map(|line| line.split("${").skip(1).filter_map(|rest| rest.split_once('}')));
    for (variable, _) in variables {
        assert!(
            grafana["environment"][variable].is_string(),
            "Grafana's provisioning reads {variable}, which compose does not set"
        );
    }
}
