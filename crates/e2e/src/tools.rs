//! The deployment validators of `scripts/validate`, run with the Python that `scripts/stack tools`
//! installs them in (`LAKEHOUSE_DEPLOY_PYTHON` and `LAKEHOUSE_CHECKOV`, settings of the stack).
//! Each prints JSON; the tests assert on it.

use std::path::PathBuf;
use std::process::Command;

use lakehouse_testkit::stack::setting;
use serde_json::Value;

/// The repository root (of the checkout the test runs in).
pub fn repo() -> PathBuf {
    lakehouse_testkit::repo::root().to_path_buf()
}

/// The Python with the deployment tools.
pub fn python() -> String {
    setting("LAKEHOUSE_DEPLOY_PYTHON")
}

/// Runs `scripts/validate/<script>` with `args` (from the repository root) and parses its JSON.
pub fn run(script: &str, args: &[&str]) -> Value {
    let python = python();
    let output = Command::new(&python)
        .arg(repo().join("scripts/validate").join(script))
        .args(args)
        .current_dir(repo())
        .output()
        .unwrap_or_else(|e| panic!("run {python} (scripts/stack tools installs it): {e}"));
    assert!(
        output.status.success(),
        "{script} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "{script} printed no JSON ({e}): {}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

/// YAML files of the repository as JSON, by path relative to the root.
pub fn yaml(path: &str) -> Value {
    run("yaml_json.py", &[path])[path].clone()
}

/// The Kubernetes version the chart is linted for and its manifests validated against.
pub const KUBERNETES_VERSION: &str = "1.33.0";

/// The chart's value sets under `helm/lakehouse/ci`, by name.
pub const VALUE_SETS: [&str; 3] = ["defaults", "full", "minimal"];

/// The chart linted, rendered and validated for `value_sets` (`name=path` pairs).
pub fn chart_report(value_sets: &[String]) -> Value {
    let mut args = vec!["helm/lakehouse", KUBERNETES_VERSION];
    args.extend(value_sets.iter().map(String::as_str));
    run("chart.py", &args)
}

/// The report for the chart's own value sets (rendered once per test binary).
pub fn chart_value_sets() -> Value {
    static REPORT: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    REPORT
        .get_or_init(|| {
            let sets: Vec<String> = VALUE_SETS
                .iter()
                .map(|name| format!("{name}=helm/lakehouse/ci/{name}-values.yaml"))
                .collect();
            chart_report(&sets)["value_sets"].clone()
        })
        .clone()
}

/// Every Terraform file parsed with python-hcl2, and checkov's findings over `terraform/` (run
/// once per test binary: checkov takes seconds).
pub fn terraform_report() -> Value {
    static REPORT: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    REPORT
        .get_or_init(|| run("terraform.py", &["terraform", &setting("LAKEHOUSE_CHECKOV")]))
        .clone()
}
