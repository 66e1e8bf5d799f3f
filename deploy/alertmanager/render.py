#!/usr/bin/env python3
"""Render alertmanager.yml from alertmanager.yml.tmpl with values from the environment.

Alertmanager 0.25 does not expand environment variables in its configuration, so the
deployment renders the template once at start-up:

    python3 deploy/alertmanager/render.py -o /etc/alpr-monitor/alertmanager.yml
    amtool check-config /etc/alpr-monitor/alertmanager.yml

Placeholders: ``${NAME}`` (required: missing or empty stops the render) and
``${NAME:-default}`` (optional). ``$$`` stands for a literal ``$``. Each placeholder must be a
whole YAML scalar: the value is written as a double-quoted YAML string, so quotes, ``#``
or newlines in a secret cannot change the structure of the file. The output file is
created with mode 0600 because it holds secrets. Standard library only, so it runs on a
host without the project's virtualenv.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

__all__ = ["RenderError", "main", "parse_env_file", "placeholders", "render"]

DEFAULT_TEMPLATE = Path(__file__).with_name("alertmanager.yml.tmpl")

# $$ | ${NAME} | ${NAME:-default}; anything else after "$" is left as written.
_TOKEN = re.compile(r"\$\$|\$\{(?P<name>[A-Z][A-Z0-9_]*)(?::-(?P<default>[^}]*))?\}")
_BAD_PLACEHOLDER = re.compile(r"\$\{(?![A-Z][A-Z0-9_]*(?::-[^}]*)?\})[^}]*\}?")


class RenderError(Exception):
    """The template cannot be rendered: set the variables named in the message and re-run."""


def placeholders(template: str) -> dict[str, str | None]:
    """Return every placeholder name with its default (None when the variable is required).

    A name is required when any of its occurrences is ``${NAME}``: a ``${NAME:-default}``
    elsewhere does not make the bare occurrence optional. Otherwise the first default is given.
    """
    found: dict[str, str | None] = {}
    for match in _TOKEN.finditer(template):
        name = match.group("name")
        if name is None:
            continue
        default = match.group("default")
        if default is None:
            found[name] = None
        else:
            found.setdefault(name, default)
    return found


def render(template: str, env: Mapping[str, str]) -> str:
    """Substitute every placeholder of ``template`` from ``env``; raise RenderError listing all gaps."""
    bad = sorted({m.group(0) for m in _BAD_PLACEHOLDER.finditer(_TOKEN.sub("", template))})
    if bad:
        msg = f"malformed placeholder(s) {', '.join(bad)}: use ${{NAME}} or ${{NAME:-default}}"
        raise RenderError(msg)
    missing = sorted(name for name, default in placeholders(template).items() if default is None and not env.get(name))
    if missing:
        msg = (
            f"environment variable(s) not set or empty: {', '.join(missing)}; "
            "set them (see deploy/alertmanager/example.env) and render again"
        )
        raise RenderError(msg)

    def substitute(match: re.Match[str]) -> str:
        name = match.group("name")
        if name is None:
            return "$"
        value = env.get(name) or match.group("default") or ""
        # A JSON string is a valid YAML double-quoted scalar.
        return json.dumps(value)

    return _TOKEN.sub(substitute, template)


def parse_env_file(text: str) -> dict[str, str]:
    """Parse NAME=value lines (blank lines and # comments ignored; values taken verbatim)."""
    env: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        if not sep or not re.fullmatch(r"[A-Z][A-Z0-9_]*", name.strip()):
            msg = f"line {number}: expected NAME=value, got {raw!r}"
            raise RenderError(msg)
        env[name.strip()] = value.strip()
    return env


def _write_private(path: Path, text: str) -> None:
    # Write next to the target and rename, so Alertmanager never reads a half-written file.
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit status (2 when rendering fails)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--template", type=Path, default=DEFAULT_TEMPLATE)
    parser.add_argument(
        "--env-file",
        type=Path,
        help="read the variables from this NAME=value file instead of the environment",
    )
    parser.add_argument("-o", "--output", type=Path, help="write here (mode 0600) instead of stdout")
    args = parser.parse_args(argv)

    try:
        template = args.template.read_text(encoding="utf-8")
        env = (
            parse_env_file(args.env_file.read_text(encoding="utf-8")) if args.env_file is not None else dict(os.environ)
        )
        header = (
            f"# GENERATED by deploy/alertmanager/render.py from {args.template.name}: "
            "edit the template, not this file.\n"
        )
        text = header + render(template, env)
    except (RenderError, OSError) as exc:
        print(f"render.py: {exc}", file=sys.stderr)
        return 2
    if args.output is None:
        sys.stdout.write(text)
    else:
        _write_private(args.output, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
