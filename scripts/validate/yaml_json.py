"""Prints YAML files as one JSON object, {path: document}, for tests written in Rust.

Usage: yaml_json.py FILE...

YAML merge keys (`<<: *anchor`) are resolved, as docker compose resolves them.
"""

import json
import sys

import yaml


def main(paths: list[str]) -> None:
    documents = {}
    for path in paths:
        with open(path, encoding="utf-8") as f:
            documents[path] = yaml.safe_load(f)
    json.dump(documents, sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1:])
