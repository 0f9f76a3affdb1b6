//! The alert rules (`prometheus/rules/lakehouse.yml`): `promtool check rules` accepts them,
//! `promtool test rules` passes the unit tests in `prometheus/tests/`, every alert has a test in
//! which it fires and one in which it stays silent, each carries a summary, a severity and a
//! runbook link to a section of `docs/RUNBOOK.md` that exists, and every metric an expression names
//! is one that something exposes. `promtool` comes from Debian's `prometheus` package, which
//! `scripts/stack tools` unpacks (`LAKEHOUSE_PROMTOOL`).

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use lakehouse_e2e::{promql, tools};
use serde_json::Value;

const RULES: &str = "prometheus/rules/lakehouse.yml";
const TESTS: &str = "prometheus/tests";

fn promtool() -> String {
    lakehouse_testkit::stack::setting("LAKEHOUSE_PROMTOOL")
}

/// Runs promtool with `args` from the repository root; panics with its output unless it succeeds.
fn run_promtool(args: &[&str]) -> String {
    let output = Command::new(promtool())
        .args(args)
        .current_dir(tools::repo())
        .output()
        .unwrap_or_else(|e| panic!("run promtool (scripts/stack tools installs it): {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "promtool {args:?} failed:\n{text}");
    text
}

/// The unit-test files, relative to the repository root.
fn test_files() -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(tools::repo().join(TESTS))
        .expect("prometheus/tests")
        .map(|entry| {
            entry
                .expect("a directory entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|name| name.ends_with(".yml"))
        .map(|name| format!("{TESTS}/{name}"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no rule tests in {TESTS}");
    files
}

/// Every alerting rule, by name.
fn alerts() -> BTreeMap<String, Value> {
    let rules = tools::yaml(RULES);
    let mut alerts = BTreeMap::new();
    for group in rules["groups"].as_array().expect("rule groups") {
        for rule in group["rules"].as_array().expect("rules") {
            if let Some(name) = rule["alert"].as_str() {
                assert!(
                    alerts.insert(name.to_string(), rule.clone()).is_none(),
                    "{name} is defined twice"
                );
            }
        }
    }
    assert!(alerts.len() >= 15, "only {} alerts", alerts.len());
    alerts
}

#[test]
fn promtool_checks_the_rules() {
    let output = run_promtool(&["check", "rules", RULES]);
    assert!(output.contains("SUCCESS"), "{output}");
}

#[test]
fn promtool_unit_tests_pass() {
    let files = test_files();
    let mut args = vec!["test", "rules"];
    args.extend(files.iter().map(String::as_str));
    let output = run_promtool(&args);
    assert_eq!(
        output.matches("SUCCESS").count(),
        files.len(),
        "not every test file passed:\n{output}"
    );
}

#[test]
fn every_alert_is_tested_firing_and_silent() {
    let files = test_files();
    let documents = tools::run(
        "yaml_json.py",
        &files.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    let (mut fires, mut silent) = (BTreeSet::new(), BTreeSet::new());
    for file in &files {
        for test in documents[file]["tests"].as_array().expect("tests") {
            for check in test["alert_rule_test"].as_array().into_iter().flatten() {
                let name = check["alertname"].as_str().expect("an alertname").to_string();
                let expected = check["exp_alerts"].as_array().map_or(0, Vec::len);
                if expected > 0 {
                    fires.insert(name);
                } else {
                    silent.insert(name);
                }
            }
        }
    }
    for name in alerts().keys() {
        assert!(fires.contains(name), "no test shows {name} firing");
        assert!(silent.contains(name), "no test shows {name} silent");
    }
}

/// The anchors GitHub gives the headings of a Markdown file: lower case, spaces to dashes, other
/// punctuation dropped.
fn anchors(markdown: &str) -> BTreeSet<String> {
    markdown
        .lines()
        .filter_map(|line| line.strip_prefix('#'))
        .map(|heading| {
            heading
                .trim_start_matches('#')
                .trim()
                .to_lowercase()
                .chars()
                .filter_map(|c| match c {
                    ' ' => Some('-'),
                    c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
                    _ => None,
                })
                .collect()
        })
        .collect()
}

#[test]
fn every_alert_has_a_severity_a_summary_and_a_runbook_section() {
    let runbook = std::fs::read_to_string(tools::repo().join("docs/RUNBOOK.md")).expect("docs/RUNBOOK.md");
    let sections = anchors(&runbook);
    for (name, rule) in alerts() {
        let severity = rule["labels"]["severity"].as_str();
        assert!(
            matches!(severity, Some("critical" | "warning")),
            "{name}: severity {severity:?}"
        );
        for annotation in ["summary", "description"] {
            assert!(
                rule["annotations"][annotation]
                    .as_str()
                    .is_some_and(|s| !s.is_empty()),
                "{name} has no {annotation}"
            );
        }
        let url = rule["annotations"]["runbook_url"].as_str().unwrap_or_default();
        let anchor = url
            .strip_prefix("docs/RUNBOOK.md#")
            .unwrap_or_else(|| panic!("{name}: runbook_url {url:?} is not into docs/RUNBOOK.md"));
        assert_eq!(
            anchor,
            name.to_lowercase(),
            "{name}: the runbook section is named after the alert"
        );
        assert!(sections.contains(anchor), "docs/RUNBOOK.md has no section {name}");
    }
}

#[test]
fn rules_name_only_metrics_that_exist() {
    let known = promql::known_metrics();
    let mut unknown = Vec::new();
    for (name, rule) in alerts() {
        let expr = rule["expr"].as_str().expect("an expression");
        let names = promql::metric_names(expr);
        assert!(!names.is_empty(), "{name}: no metric in {expr}");
        unknown.extend(
            names
                .into_iter()
                .filter(|metric| !known.contains(metric))
                .map(|metric| format!("{name}: {metric}")),
        );
    }
    assert!(
        unknown.is_empty(),
        "metrics nothing exposes:\n{}",
        unknown.join("\n")
    );
}
