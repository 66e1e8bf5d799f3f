"""Write kubeconform-ready Kubernetes JSON schemas, offline, from the PyPI package kubernetes-validate.

    python deploy/helm/ci/k8s_schemas.py VERSION OUT_DIR      (VERSION like 1.33.0)

The package's schemas carry `$id`s on the web and absolute `$ref`s ("/api/_definitions.json#..."), so a
validator would fetch every reference. Each schema is rewritten with a file:// `$id` and references
relative to its own directory; kubeconform then reads them with
`-schema-location 'OUT_DIR/{{ .ResourceKind }}{{ .KindSuffix }}.json'`.
"""

from __future__ import annotations

import json
import sys
from importlib.resources import files
from pathlib import Path
from typing import Any

_ABSOLUTE_DEFINITIONS = "/api/_definitions.json#"


def _relative_refs(node: Any) -> Any:
    if isinstance(node, dict):
        return {
            key: (
                value.replace(_ABSOLUTE_DEFINITIONS, "_definitions.json#", 1)
                if key == "$ref" and isinstance(value, str)
                else _relative_refs(value)
            )
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_relative_refs(item) for item in node]
    return node


def write_schemas(version: str, out_dir: Path) -> int:
    """Rewrite every strict schema of `version` into `out_dir`; returns how many were written."""
    source = files("kubernetes_validate") / "kubernetes-json-schema" / f"v{version}-local-strict"
    if not source.is_dir():
        raise SystemExit(f"k8s_schemas: kubernetes-validate has no schemas for Kubernetes {version}")
    out_dir.mkdir(parents=True, exist_ok=True)
    count = 0
    for entry in source.iterdir():
        if not entry.name.endswith(".json"):
            continue
        schema = _relative_refs(json.loads(entry.read_text()))
        target = (out_dir / entry.name).resolve()
        schema["$id"] = target.as_uri()
        target.write_text(json.dumps(schema))
        count += 1
    return count


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    print(f"{write_schemas(sys.argv[1], Path(sys.argv[2]))} schemas written")
