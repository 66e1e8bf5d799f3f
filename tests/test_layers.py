"""The house is one-way: the pure core never imports the Kafka shell or the command line."""

from __future__ import annotations

import ast
from pathlib import Path

CORE = Path(__file__).resolve().parents[1] / "monitor"
FORBIDDEN = ("streams", "cli", "faust", "aiokafka", "confluent_kafka", "mode")


def _imported_roots(path: Path) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


class TestCoreLayer:
    def test_core_imports_nothing_above_it(self) -> None:
        """No module under monitor/ imports streams/, cli/ or a Kafka client, even lazily inside a function."""
        offenders = {
            str(path.relative_to(CORE.parent)): sorted(_imported_roots(path) & set(FORBIDDEN))
            for path in sorted(CORE.rglob("*.py"))
        }
        assert {path: roots for path, roots in offenders.items() if roots} == {}

    def test_the_scan_sees_lazy_imports(self, tmp_path: Path) -> None:
        """An import nested in a function body is found (so the test above can fail)."""
        module = tmp_path / "lazy.py"
        module.write_text("def f():\n    from streams.worker import run_worker\n    import faust\n", encoding="utf-8")
        assert _imported_roots(module) == {"streams", "faust"}
