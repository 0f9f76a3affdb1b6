//! Metric names in PromQL, and the metrics that exist: what the dashboards' and the alert rules'
//! expressions may name. Used by `tests/grafana.rs` and `tests/alert_rules.rs`.

use std::collections::BTreeSet;

/// The metric names our programs define: the services' (`crates/telemetry/src/metrics.rs`) and
/// the ones reconcile writes for the textfile collector (`cli/src/metrics.rs`), read
/// from the checkout the test runs in.
pub fn our_metrics() -> BTreeSet<String> {
    let root = lakehouse_testkit::repo::root();
    let source = ["crates/telemetry/src/metrics.rs", "cli/src/metrics.rs"]
        .map(|file| std::fs::read_to_string(root.join(file)).unwrap_or_else(|e| panic!("{file}: {e}")))
        .join("\n");
    let names: BTreeSet<String> = source
        .lines()
        .filter(|line| line.trim_start().starts_with("pub const"))
        .filter_map(|line| line.split('"').nth(1))
        .map(str::to_string)
        .collect();
    assert!(names.len() >= 8, "metric constants not found: {names:?}");
    names
}

/// Metrics from outside our code that the dashboards and rules may use, and why they exist.
pub const STANDARD_METRICS: [(&str, &str); 3] = [
    ("up", "Prometheus itself, per scrape target"),
    (
        "kafka_consumergroup_lag",
        "kafka-exporter (compose and any Kafka platform): lag from the offsets our consumers commit for monitoring",
    ),
    (
        "kube_job_status_failed",
        "kube-state-metrics (Kubernetes): the maintenance CronJobs' failed Jobs",
    ),
];

/// Every name an expression may use: ours, a summary's `_sum` / `_count` (what our recorder renders
/// histograms as unless given buckets), a histogram's `_bucket`, and the standard ones.
pub fn known_metrics() -> BTreeSet<String> {
    let ours = our_metrics();
    let derived = ours
        .iter()
        .flat_map(|name| ["_sum", "_count", "_bucket"].map(|suffix| format!("{name}{suffix}")));
    let standard = STANDARD_METRICS.iter().map(|(name, _)| name.to_string());
    ours.iter().cloned().chain(derived).chain(standard).collect()
}

/// PromQL functions, aggregations and keywords: identifiers that are not metric names.
const PROMQL_WORDS: [&str; 18] = [
    "sum",
    "max",
    "min",
    "avg",
    "count",
    "rate",
    "irate",
    "increase",
    "delta",
    "and",
    "or",
    "unless",
    "histogram_quantile",
    "quantile_over_time",
    "max_over_time",
    "time",
    "clamp_min",
    "offset",
];

/// Keywords followed by a list of labels.
const LABEL_LISTS: [&str; 6] = ["by", "without", "on", "ignoring", "group_left", "group_right"];

/// The metric names in a PromQL expression: identifiers outside label matchers, ranges, strings
/// and grouping clauses that are not functions or keywords.
pub fn metric_names(expr: &str) -> BTreeSet<String> {
    let mut cleaned = String::new();
    let mut depth_brace = 0;
    let mut depth_bracket = 0;
    let mut in_string = false;
    for c in expr.chars() {
        match c {
            '"' => in_string = !in_string,
            '{' if !in_string => depth_brace += 1,
            '}' if !in_string => depth_brace -= 1,
            '[' if !in_string => depth_bracket += 1,
            ']' if !in_string => depth_bracket -= 1,
            _ if depth_brace == 0 && depth_bracket == 0 && !in_string => cleaned.push(c),
            _ => {}
        }
        if matches!(c, '{' | '}' | '[' | ']') {
            cleaned.push(' ');
        }
    }
    // `by (...)`, `without (...)`, `on (...)` and the like list labels, not metrics.
    let mut names = BTreeSet::new();
    let mut rest = cleaned.as_str();
    while let Some(start) = rest.find(|c: char| c.is_ascii_alphabetic() || c == '_') {
        rest = &rest[start..];
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
            .unwrap_or(rest.len());
        let word = &rest[..end];
        rest = &rest[end..];
        if LABEL_LISTS.contains(&word) {
            if let Some(list) = rest.trim_start().strip_prefix('(') {
                rest = list.split_once(')').map_or("", |(_, after)| after);
            }
        } else if !PROMQL_WORDS.contains(&word) {
            names.insert(word.to_string());
        }
    }
    names
}

#[test]
fn metric_names_are_found_outside_matchers_and_groupings() {
    assert_eq!(
        metric_names(
            r#"sum by (group, status) (rate(lakehouse_x_total{a="b{c}",d=~"e"}[$__rate_interval])) / on (x) up"#
        ),
        BTreeSet::from(["lakehouse_x_total".to_string(), "up".to_string()])
    );
}
