"""The `alpr-monitor` command line: it wires the pure core (`monitor/`) and the Kafka shell (`streams/`).

It sits above both layers so that nothing in `monitor/` ever imports `streams/`.
"""

from cli.main import main

__all__ = ["main"]
