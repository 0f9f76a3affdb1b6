"""Lints and renders a Helm chart with Helm's own SDK, and validates what it renders against the
Kubernetes API schemas of one version. Prints a JSON report; the Rust tests assert on it.

Usage: chart.py CHART KUBERNETES_VERSION NAME=VALUES.yaml...

For each value set: the lint messages (strict, as `helm lint --strict --kube-version`), the rendered
manifests, and per manifest the schema errors (kubernetes-validate, strict: unknown fields are
errors). Kinds that are not part of Kubernetes (the Prometheus Operator's ServiceMonitor) have no
schema there and are listed as unvalidated.
"""

import json
import sys

import helm_python as helm
import kubernetes_validate
import yaml

SEVERITIES = {0: "unknown", 1: "info", 2: "warning", 3: "error"}


def check(chart_path: str, kube_version: str, values_path: str) -> dict:
    with open(values_path, encoding="utf-8") as f:
        values = yaml.safe_load(f) or {}
    report = helm.lint(chart_path, values, strict=True, kube_version=f"v{kube_version}")
    lint = [
        {"severity": SEVERITIES.get(m["severity"], str(m["severity"])), "path": m["path"], "error": m["error"]}
        for m in report.get("messages", [])
    ]
    lint += [{"severity": "error", "path": "", "error": e} for e in report.get("errors") or []]
    result = {"lint": lint, "manifests": [], "invalid": [], "unvalidated": []}
    chart = helm.Chart.load(chart_path)
    try:
        rendered = chart.render(values, name="lakehouse", namespace="analytics", is_install=True)
    except helm.HelmError as error:
        result["render_error"] = str(error)
        return result
    for template, text in sorted(rendered.items()):
        if not template.endswith((".yaml", ".yml")):
            continue
        for manifest in yaml.safe_load_all(text):
            if not manifest:
                continue
            result["manifests"].append(manifest)
            name = f"{template}: {manifest.get('kind')}/{manifest.get('metadata', {}).get('name')}"
            try:
                kubernetes_validate.validate(manifest, kube_version, strict=True)
            except kubernetes_validate.SchemaNotFoundError:
                result["unvalidated"].append(name)
            except kubernetes_validate.ValidationError as error:
                result["invalid"].append(f"{name}: {error.message} at {list(error.path)}")
    return result


def main(chart_path: str, kube_version: str, value_sets: list[str]) -> None:
    report = {
        "helm_sdk": helm.helm_sdk_version(),
        "kubernetes": kube_version,
        "value_sets": {},
    }
    for value_set in value_sets:
        name, path = value_set.split("=", 1)
        report["value_sets"][name] = check(chart_path, kube_version, path)
    json.dump(report, sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3:])
