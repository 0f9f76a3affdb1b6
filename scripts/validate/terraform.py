"""Parses every Terraform file with python-hcl2 and runs checkov over the folder. Prints a JSON
report; the Rust tests assert on it.

Usage: terraform.py FOLDER CHECKOV

{"files": {path: parsed HCL or {"error": message}},
 "checkov": {"summary": {...}, "failed": [...], "skipped": [...]}}

checkov runs offline (--skip-download): without Prisma Cloud it reports no severities, so every
failed check counts, whatever its severity.
"""

import glob
import json
import os
import subprocess
import sys

import hcl2


def plain(value):
    """python-hcl2 8 keeps HCL's quotes around keys and string literals, and marks blocks; this
    gives plain JSON: `"name"` becomes `name`, expressions stay as `${...}`."""
    if isinstance(value, dict):
        return {plain(k): plain(v) for k, v in value.items() if not str(k).startswith("__")}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def parse(folder: str) -> dict:
    files = {}
    for path in sorted(glob.glob(os.path.join(folder, "**", "*.tf"), recursive=True)):
        try:
            with open(path, encoding="utf-8") as f:
                files[path] = plain(hcl2.load(f))
        except Exception as error:  # the parser's errors have no common base class
            files[path] = {"error": f"{type(error).__name__}: {error}"}
    return files


def checkov(folder: str, executable: str) -> dict:
    run = subprocess.run(
        [executable, "--directory", folder, "--framework", "terraform", "--skip-download",
         "--output", "json", "--compact"],
        capture_output=True, text=True, check=False,
    )
    # 0: all passed, 1: some failed; anything else (or no JSON) is checkov itself failing.
    if run.returncode not in (0, 1):
        raise SystemExit(f"checkov exited {run.returncode}: {run.stderr}")
    report = json.loads(run.stdout)
    reports = report if isinstance(report, list) else [report]
    result = {"summary": {}, "failed": [], "skipped": []}
    for one in reports:
        for key, value in one.get("summary", {}).items():
            if isinstance(value, int):
                result["summary"][key] = result["summary"].get(key, 0) + value
        checks = one.get("results", {})
        for check in checks.get("failed_checks", []):
            result["failed"].append({k: check.get(k) for k in
                                     ("check_id", "check_name", "file_path", "file_line_range", "resource", "severity")})
        for check in checks.get("skipped_checks", []):
            skipped = {k: check.get(k) for k in ("check_id", "check_name", "file_path", "resource")}
            skipped["suppress_comment"] = check.get("check_result", {}).get("suppress_comment")
            result["skipped"].append(skipped)
    return result


def main(folder: str, executable: str) -> None:
    json.dump({"files": parse(folder), "checkov": checkov(folder, executable)}, sys.stdout, default=str)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
