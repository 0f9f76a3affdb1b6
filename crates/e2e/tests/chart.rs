//! The Helm chart, linted and rendered by Helm's own SDK (helm-python-sdk) for each value set under
//! `helm/lakehouse/ci`, its manifests validated against the Kubernetes schemas of a pinned version
//! (kubernetes-validate), and what operators rely on asserted on the rendered objects.

use std::collections::BTreeMap;

use lakehouse_e2e::containers::pod_spec;
use lakehouse_e2e::tools;
use serde_json::{Value, json};

fn manifests(set: &Value) -> Vec<&Value> {
    set["manifests"].as_array().expect("manifests").iter().collect()
}

fn kinds(set: &Value) -> BTreeMap<String, usize> {
    let mut kinds = BTreeMap::new();
    for manifest in manifests(set) {
        *kinds
            .entry(manifest["kind"].as_str().unwrap_or_default().to_string())
            .or_default() += 1;
    }
    kinds
}

/// Whether a value set of `helm/lakehouse/ci` turns the lake browser on.
fn lake_browser_on(set: &str) -> bool {
    tools::yaml(&format!("helm/lakehouse/ci/{set}-values.yaml"))["lakeBrowser"]["enabled"] == true
}

fn named<'a>(set: &'a Value, kind: &str, name: &str) -> &'a Value {
    manifests(set)
        .into_iter()
        .find(|m| m["kind"] == kind && m["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind}/{name}"))
}

#[test]
fn every_value_set_lints_clean_and_renders_valid_manifests() {
    let sets = tools::chart_value_sets();
    for name in tools::VALUE_SETS {
        let set = &sets[name];
        assert!(set["render_error"].is_null(), "{name}: {}", set["render_error"]);
        let problems: Vec<_> = set["lint"]
            .as_array()
            .expect("lint messages")
            .iter()
            .filter(|m| m["severity"] != "info")
            .collect();
        assert!(problems.is_empty(), "{name}: helm lint --strict: {problems:#?}");
        assert_eq!(
            set["invalid"],
            json!([]),
            "{name}: invalid for Kubernetes {}",
            tools::KUBERNETES_VERSION
        );
        // Only the Prometheus Operator's kinds have no schema in Kubernetes; they are checked below.
        for unvalidated in set["unvalidated"].as_array().expect("unvalidated") {
            assert!(
                unvalidated
                    .as_str()
                    .is_some_and(|u| u.contains("ServiceMonitor/") || u.contains("PrometheusRule/")),
                "{name}: {unvalidated}"
            );
        }
        assert!(
            manifests(set).len() >= 10,
            "{name}: only {} manifests",
            manifests(set).len()
        );
    }
}

#[test]
fn each_value_set_renders_what_it_turns_on() {
    let sets = tools::chart_value_sets();
    let count = |set: &str, kind: &str| kinds(&sets[set]).get(kind).copied().unwrap_or(0);
    for set in tools::VALUE_SETS {
        // The lake browser is on only where its value set says so (full), with its Service.
        let browser = usize::from(lake_browser_on(set));
        assert_eq!(browser, usize::from(set == "full"), "{set}");
        assert_eq!(
            count(set, "Deployment"),
            3 + browser,
            "{set}: api, stream-processor, delta-writer (and the lake browser)"
        );
        assert_eq!(count(set, "PodDisruptionBudget"), 3, "{set}");
        assert_eq!(count(set, "Service"), 3 + browser, "{set}");
        assert_eq!(
            count(set, "Secret"),
            0,
            "{set}: secrets are referenced, never rendered"
        );
    }
    // The defaults: optimize, vacuum and reconcile.
    assert_eq!(count("defaults", "CronJob"), 3);
    assert_eq!(
        count("defaults", "HorizontalPodAutoscaler") + count("defaults", "Ingress"),
        0
    );
    assert_eq!(count("defaults", "ServiceMonitor"), 0);
    assert_eq!(count("defaults", "PrometheusRule"), 0);
    let full = &sets["full"];
    assert_eq!(count("full", "CronJob"), 3);
    assert_eq!(count("full", "HorizontalPodAutoscaler"), 1);
    assert_eq!(count("full", "Ingress"), 1);
    assert_eq!(count("full", "ServiceMonitor"), 4);
    assert_eq!(count("full", "PrometheusRule"), 1);
    assert!(
        named(full, "Deployment", "lakehouse-api")["spec"]["replicas"].is_null(),
        "with the HPA on, the Deployment leaves replicas to it"
    );
    assert_eq!(count("minimal", "CronJob"), 0);
    assert_eq!(count("minimal", "ServiceAccount"), 0);
}

#[test]
fn every_container_runs_unprivileged_with_resources() {
    let sets = tools::chart_value_sets();
    for name in tools::VALUE_SETS {
        for manifest in manifests(&sets[name]) {
            let Some(pod) = pod_spec(manifest) else { continue };
            let what = format!("{name}: {}/{}", manifest["kind"], manifest["metadata"]["name"]);
            assert_eq!(pod["securityContext"]["runAsNonRoot"], true, "{what}");
            assert_eq!(pod["automountServiceAccountToken"], false, "{what}");
            for container in pod["containers"].as_array().expect("containers") {
                let security = &container["securityContext"];
                assert_eq!(security["readOnlyRootFilesystem"], true, "{what}");
                assert_eq!(security["allowPrivilegeEscalation"], false, "{what}");
                assert_eq!(security["capabilities"]["drop"], json!(["ALL"]), "{what}");
                for bound in ["requests", "limits"] {
                    assert!(
                        container["resources"][bound]["memory"].is_string(),
                        "{what}: no memory {bound}"
                    );
                }
            }
        }
    }
}

#[test]
fn deployments_probe_health_and_readiness_on_a_port_they_expose() {
    let sets = tools::chart_value_sets();
    for name in tools::VALUE_SETS {
        for manifest in manifests(&sets[name])
            .into_iter()
            .filter(|m| m["kind"] == "Deployment")
        {
            let what = format!("{name}: {}", manifest["metadata"]["name"]);
            let container = &pod_spec(manifest).expect("a pod")["containers"][0];
            let ports: Vec<&Value> = container["ports"]
                .as_array()
                .expect("ports")
                .iter()
                .map(|p| &p["name"])
                .collect();
            for (probe, path) in [
                ("livenessProbe", "/health"),
                ("readinessProbe", "/ready"),
                ("startupProbe", "/health"),
            ] {
                let get = &container[probe]["httpGet"];
                assert_eq!(get["path"], path, "{what}: {probe}");
                assert!(
                    ports.contains(&&get["port"]),
                    "{what}: {probe} port {} is not exposed",
                    get["port"]
                );
            }
        }
    }
}

#[test]
fn secrets_are_only_referenced() {
    let sets = tools::chart_value_sets();
    let secret_vars = [
        "API_KEYS",
        "DATABASE_URL",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "KAFKA_SASL_PASSWORD",
        "LAKE_BROWSER_TOKEN",
        "VISITOR_ID_SECRET",
    ];
    let mut referenced = 0;
    for name in tools::VALUE_SETS {
        for manifest in manifests(&sets[name]) {
            let Some(pod) = pod_spec(manifest) else { continue };
            for var in pod["containers"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|c| c["env"].as_array().into_iter().flatten())
            {
                if secret_vars.contains(&var["name"].as_str().unwrap_or_default()) {
                    assert!(
                        var["value"].is_null(),
                        "{name}: {} has a literal value",
                        var["name"]
                    );
                    assert!(
                        var["valueFrom"]["secretKeyRef"]["name"].is_string(),
                        "{name}: {}",
                        var["name"]
                    );
                    referenced += 1;
                }
            }
        }
    }
    assert!(referenced >= 10, "only {referenced} secret references");
    // A pod identity (minimal) gets no S3 keys at all.
    let minimal = tools::chart_value_sets()["minimal"].clone();
    let writer = named(&minimal, "Deployment", "lakehouse-delta-writer");
    assert!(!writer.to_string().contains("AWS_SECRET_ACCESS_KEY"));
}

#[test]
fn services_monitors_budgets_and_autoscaler_find_their_targets() {
    let sets = tools::chart_value_sets();
    let full = &sets["full"];
    let labels_match = |selector: &Value, labels: &Value| {
        selector
            .as_object()
            .expect("a selector")
            .iter()
            .all(|(k, v)| &labels[k] == v)
    };
    let deployments: Vec<&Value> = manifests(full)
        .into_iter()
        .filter(|m| m["kind"] == "Deployment")
        .collect();
    for manifest in manifests(full) {
        let kind = manifest["kind"].as_str().unwrap_or_default();
        let what = format!("{kind}/{}", manifest["metadata"]["name"]);
        let selector = match kind {
            "Service" => &manifest["spec"]["selector"],
            "PodDisruptionBudget" => &manifest["spec"]["selector"]["matchLabels"],
            _ => continue,
        };
        let matched: Vec<_> = deployments
            .iter()
            .filter(|d| labels_match(selector, &d["spec"]["template"]["metadata"]["labels"]))
            .collect();
        assert_eq!(matched.len(), 1, "{what} selects {} Deployments", matched.len());
        if kind == "Service" {
            let ports = matched[0]["spec"]["template"]["spec"]["containers"][0]["ports"].to_string();
            for port in manifest["spec"]["ports"].as_array().expect("ports") {
                assert!(
                    ports.contains(&format!("\"{}\"", port["targetPort"].as_str().unwrap_or("?"))),
                    "{what}: {port}"
                );
            }
        }
    }
    for monitor in manifests(full)
        .into_iter()
        .filter(|m| m["kind"] == "ServiceMonitor")
    {
        let service = manifests(full)
            .into_iter()
            .find(|s| {
                s["kind"] == "Service"
                    && labels_match(
                        &monitor["spec"]["selector"]["matchLabels"],
                        &s["metadata"]["labels"],
                    )
            })
            .unwrap_or_else(|| panic!("{} selects no Service", monitor["metadata"]["name"]));
        let port = &monitor["spec"]["endpoints"][0]["port"];
        assert!(
            service["spec"]["ports"]
                .as_array()
                .expect("ports")
                .iter()
                .any(|p| &p["name"] == port)
        );
        assert_eq!(monitor["spec"]["endpoints"][0]["path"], "/metrics");
    }
    let hpa = named(full, "HorizontalPodAutoscaler", "lakehouse-api");
    assert_eq!(hpa["spec"]["scaleTargetRef"]["name"], "lakehouse-api");
    let ingress = named(full, "Ingress", "lakehouse-api");
    assert_eq!(
        ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"],
        "lakehouse-api"
    );
}

#[test]
fn the_prometheus_rule_is_the_repositorys_alert_rules_with_absolute_runbook_links() {
    let sets = tools::chart_value_sets();
    let full = &sets["full"];
    let rule = named(full, "PrometheusRule", "lakehouse");
    let base = tools::yaml("helm/lakehouse/ci/full-values.yaml")["prometheusRule"]["runbookBaseUrl"]
        .as_str()
        .expect("a runbook base URL")
        .trim_end_matches('/')
        .to_string();
    let mut expected = tools::yaml("prometheus/rules/lakehouse.yml")["groups"].clone();
    let mut alerts = 0;
    for group in expected.as_array_mut().expect("groups") {
        for rule in group["rules"].as_array_mut().expect("rules") {
            let relative = rule["annotations"]["runbook_url"]
                .as_str()
                .expect("a runbook link");
            rule["annotations"]["runbook_url"] = json!(format!("{base}/{relative}"));
            alerts += 1;
        }
    }
    assert!(alerts >= 15, "only {alerts} alerts");
    assert_eq!(rule["spec"]["groups"], expected);
    assert_eq!(rule["metadata"]["labels"]["release"], "prometheus");
}

#[test]
fn maintenance_jobs_run_the_lake_commands_one_at_a_time() {
    let sets = tools::chart_value_sets();
    let full = &sets["full"];
    for (job, command) in [
        ("lakehouse-optimize", "lakehouse lake optimize"),
        ("lakehouse-vacuum", "lakehouse lake vacuum"),
        ("lakehouse-reconcile", "lakehouse warehouse reconcile"),
    ] {
        let cron = named(full, "CronJob", job);
        assert_eq!(cron["spec"]["concurrencyPolicy"], "Forbid", "{job}");
        let args: Vec<&str> = pod_spec(cron).expect("a pod")["containers"][0]["command"]
            .as_array()
            .expect("a command")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert!(args.join(" ").starts_with(command), "{job}: {args:?}");
    }
    // reconcile reads both stores, from the same secrets and values as the consumers.
    let reconcile = &pod_spec(named(full, "CronJob", "lakehouse-reconcile")).expect("a pod")["containers"][0];
    let env: Vec<&str> = reconcile["env"]
        .as_array()
        .expect("env")
        .iter()
        .filter_map(|var| var["name"].as_str())
        .collect();
    for name in ["DATABASE_URL", "LAKE_URI", "AWS_REGION"] {
        assert!(env.contains(&name), "reconcile lacks {name}: {env:?}");
    }
    // The lake's maintenance records itself in the warehouse's audit log, as the CronJob.
    for job in ["lakehouse-optimize", "lakehouse-vacuum"] {
        let container = &pod_spec(named(full, "CronJob", job)).expect("a pod")["containers"][0];
        let env = container["env"].as_array().expect("env");
        let value = |name: &str| env.iter().find(|var| var["name"] == name).cloned();
        assert!(
            value("DATABASE_URL").is_some(),
            "{job} cannot write the audit log"
        );
        assert_eq!(
            value("LAKEHOUSE_ACTOR").map(|var| var["value"].clone()),
            Some(Value::String(format!("cronjob/{job}"))),
            "{job}"
        );
    }
}

#[test]
fn the_api_sees_each_clients_address_behind_a_load_balancer_or_its_ingress() {
    let sets = tools::chart_value_sets();
    // A Service of type LoadBalancer (minimal) keeps the client's address: no proxy to trust.
    let minimal = &sets["minimal"];
    let service = named(minimal, "Service", "lakehouse-api");
    assert_eq!(service["spec"]["type"], "LoadBalancer");
    assert_eq!(service["spec"]["externalTrafficPolicy"], "Local");
    let api = env_of(named(minimal, "Deployment", "lakehouse-api"));
    assert!(!api.contains_key("TRUSTED_PROXIES"), "{api:?}");
    // Behind the chart's Ingress (full), its controller is the one proxy to read past.
    let full = env_of(named(&sets["full"], "Deployment", "lakehouse-api"));
    assert_eq!(full["TRUSTED_PROXIES"]["value"], "1");
    // The defaults: a ClusterIP Service, nothing in front.
    let defaults = &sets["defaults"];
    assert!(named(defaults, "Service", "lakehouse-api")["spec"]["externalTrafficPolicy"].is_null());
    assert!(!env_of(named(defaults, "Deployment", "lakehouse-api")).contains_key("TRUSTED_PROXIES"));
}

#[test]
fn the_schema_refuses_wrong_values() {
    let dir = std::env::temp_dir().join(lakehouse_testkit::unique("chart-values"));
    std::fs::create_dir_all(&dir).expect("a temp folder");
    let bad = dir.join("bad.yaml");
    std::fs::write(
        &bad,
        "lake:\n  uri: ftp://lake\napi:\n  replicas: -1\n  extraEnv:\n    MAX_BATCH_EVENTS: {value: \"1\"}\n\
         secrets:\n  visitorId:\n    existingSecret: \"\"\nunknownKey: 1\n",
    )
    .expect("write values");
    let report = tools::chart_report(&[format!("bad={}", bad.display())]);
    let lint = report["value_sets"]["bad"]["lint"].to_string();
    for expected in [
        "/lake/uri",
        "/api/replicas",
        "/api/extraEnv/MAX_BATCH_EVENTS",
        "/secrets/visitorId/existingSecret",
        "unknownKey",
    ] {
        assert!(
            lint.contains(expected),
            "the schema let {expected} through: {lint}"
        );
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn consumers_are_static_members_named_after_their_pod_unless_turned_off() {
    let sets = tools::chart_value_sets();
    let instance_of = |set: &str, component: &str| -> Option<Value> {
        let deployment = named(&sets[set], "Deployment", &format!("lakehouse-{component}"));
        let env = pod_spec(deployment).expect("a pod")["containers"][0]["env"]
            .as_array()
            .expect("env");
        env.iter()
            .find(|var| var["name"] == "KAFKA_GROUP_INSTANCE_ID")
            .map(|var| var["valueFrom"].clone())
    };
    let pod_name = json!({"fieldRef": {"fieldPath": "metadata.name"}});
    for set in tools::VALUE_SETS {
        assert_eq!(
            instance_of(set, "stream-processor"),
            Some(pod_name.clone()),
            "{set}: the stream-processor"
        );
    }
    for set in ["defaults", "full"] {
        assert_eq!(
            instance_of(set, "delta-writer"),
            Some(pod_name.clone()),
            "{set}: the delta-writer"
        );
    }
    assert_eq!(
        instance_of("minimal", "delta-writer"),
        None,
        "staticMembership: false leaves the member dynamic"
    );
}

/// The environment of a Deployment's first container, by name.
fn env_of(deployment: &Value) -> BTreeMap<String, Value> {
    pod_spec(deployment).expect("a pod")["containers"][0]["env"]
        .as_array()
        .expect("env")
        .iter()
        .map(|var| (var["name"].as_str().expect("a name").to_string(), var.clone()))
        .collect()
}

#[test]
fn the_lake_writers_log_retention_and_compaction_are_set_only_when_given() {
    let sets = tools::chart_value_sets();
    let names = [
        "LOG_RETENTION_HOURS",
        "COMPACT_SMALL_FILES",
        "COMPACT_TARGET_SIZE",
    ];
    let writer = env_of(named(&sets["full"], "Deployment", "lakehouse-delta-writer"));
    let values: Vec<&Value> = names.iter().map(|name| &writer[*name]["value"]).collect();
    assert_eq!(
        values,
        [&json!("1440"), &json!("20"), &json!("268435456")],
        "whole numbers, not Helm's floats (2.68435456e+08)"
    );
    let defaults = env_of(named(&sets["defaults"], "Deployment", "lakehouse-delta-writer"));
    for name in names {
        assert!(
            !defaults.contains_key(name),
            "{name}: the writer's own default applies"
        );
    }
}

#[test]
fn the_lake_browser_is_internal_needs_its_token_and_only_previews_restores_by_default() {
    let sets = tools::chart_value_sets();
    for set in ["defaults", "minimal"] {
        assert!(
            !manifests(&sets[set])
                .iter()
                .any(|m| m["metadata"]["name"] == "lakehouse-lake-browser"),
            "{set}: the lake browser is off unless turned on"
        );
    }
    let full = &sets["full"];
    // Internal only: a ClusterIP Service and no Ingress leading to it.
    let service = named(full, "Service", "lakehouse-lake-browser");
    assert_eq!(service["spec"]["type"], "ClusterIP");
    for manifest in manifests(full) {
        if manifest["kind"] == "Ingress" {
            assert!(
                !manifest.to_string().contains("lake-browser"),
                "{} publishes the lake browser",
                manifest["metadata"]["name"]
            );
        }
    }
    let browser = named(full, "Deployment", "lakehouse-lake-browser");
    let container = &pod_spec(browser).expect("a pod")["containers"][0];
    assert_eq!(container["command"], json!(["lakehouse-lake-browser"]));
    let env = env_of(browser);
    // Off loopback, so it starts only with its token, which comes from the named Secret.
    let listen = env["LISTEN_ADDR"]["value"].as_str().expect("LISTEN_ADDR");
    assert_eq!(listen, format!("0.0.0.0:{}", service["spec"]["ports"][0]["port"]));
    assert_eq!(
        env["LAKE_BROWSER_TOKEN"]["valueFrom"]["secretKeyRef"],
        json!({"name": "lakehouse-lake-browser", "key": "LAKE_BROWSER_TOKEN"})
    );
    assert_eq!(env["LAKE_BROWSER_ALLOW_RESTORE"]["value"], "false");
    // The lake as the delta-writer gets it, value for value (secrets by the same reference).
    let writer = env_of(named(full, "Deployment", "lakehouse-delta-writer"));
    let lake: Vec<&String> = writer
        .keys()
        .filter(|name| name.starts_with("LAKE_") || name.starts_with("AWS_"))
        .collect();
    assert_eq!(lake.len(), 5, "the delta-writer's lake settings: {lake:?}");
    for name in lake {
        assert_eq!(env.get(name), writer.get(name), "the lake browser's {name}");
    }
    // A value turns restores on; the schema allows no Ingress or Service type for the browser.
    let dir = std::env::temp_dir().join(lakehouse_testkit::unique("chart-browser"));
    std::fs::create_dir_all(&dir).expect("a temp folder");
    let restore = dir.join("restore.yaml");
    std::fs::write(&restore, "lakeBrowser:\n  enabled: true\n  allowRestore: true\n").expect("write values");
    let public = dir.join("public.yaml");
    std::fs::write(
        &public,
        "lakeBrowser:\n  enabled: true\n  ingress: {enabled: true}\n  service: {type: LoadBalancer}\n",
    )
    .expect("write values");
    let report = tools::chart_report(&[
        format!("restore={}", restore.display()),
        format!("public={}", public.display()),
    ]);
    let restoring = &report["value_sets"]["restore"];
    assert!(
        restoring["render_error"].is_null(),
        "{}",
        restoring["render_error"]
    );
    let env = env_of(named(restoring, "Deployment", "lakehouse-lake-browser"));
    assert_eq!(env["LAKE_BROWSER_ALLOW_RESTORE"]["value"], "true");
    let lint = report["value_sets"]["public"]["lint"].to_string();
    assert!(lint.contains("/lakeBrowser"), "{lint}");
    for refused in ["'ingress'", "'service'"] {
        assert!(
            lint.contains(refused),
            "the schema let lakeBrowser.{refused} through: {lint}"
        );
    }
    let _ = std::fs::remove_dir_all(dir);
}
