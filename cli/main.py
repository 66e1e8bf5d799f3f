"""The `alpr-monitor` command line, above both `monitor/` and `streams/`.

Subcommands import what they need lazily, so `check` never loads Kafka.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, NoReturn

__all__ = ["main"]

DESCRIPTION = """\
Monitor police licence-plate-reader (ALPR) data access against the law and the data owner's policy.

Every search of ALPR data, and every change to who may search it, is judged against rule packs grounded
in law (California SB 34, the Values Act, Penal Code 13778.2, Illinois 625 ILCS 5/2-130, local policies)
and the owner's policy file. Run it live on a Kafka topic (`worker`), offline over files (`check`, `audit`),
or try it with no setup (`demo`). Plates and user names only ever appear as keyed hashes.
"""


def _settings(args: argparse.Namespace, *, kafka: bool = False, **extra: Any) -> Any:
    """The settings from flags and environment; unusable ones (Kafka security, a secret file) exit 2."""
    from pydantic import ValidationError

    from monitor.kafka_security import KafkaSecurityError
    from monitor.secret_files import SecretFileError
    from monitor.settings import Settings

    flags = {
        "broker": getattr(args, "broker", None),
        "policy_path": getattr(args, "policy", None),
        "metrics_port": getattr(args, "metrics_port", None),
        "input_topic": getattr(args, "topic", None),
    }
    try:
        settings = Settings(**{key: value for key, value in {**flags, **extra}.items() if value is not None})
        if kafka:
            from streams.kafka_clients import check_usable

            check_usable(settings.kafka)  # TLS files and token hook load now, not at the first connection
    except (KafkaSecurityError, SecretFileError) as exc:
        print(f"alpr-monitor {args.command}: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    except ValidationError as exc:
        _unusable_settings(args.command, "ALPR_", exc)
    return settings


def _unusable_settings(command: str, prefix: str, exc: Any) -> NoReturn:
    """A bad setting value: exit 2 (never restarted), not a traceback and 1 (a crash loop)."""
    for error in exc.errors(include_url=False, include_input=False):  # never echo a value: it may be a secret
        name = prefix + "_".join(str(part) for part in error["loc"]).upper()
        print(f"alpr-monitor {command}: {name}: {error['msg']}", file=sys.stderr)
    raise SystemExit(2)


def _pseudonymizer(settings: Any, *, required: bool) -> Any:
    from monitor.hashing import Pseudonymizer

    # A missing or short key is unusable configuration: exit 2 (never restarted), not 1 or a traceback.
    if settings.pseudonym_key is not None:
        try:
            return Pseudonymizer(settings.pseudonym_key.get_secret_value().encode())
        except ValueError as exc:  # the message names the setting, never the key
            print(f"alpr-monitor: {exc}", file=sys.stderr)
            raise SystemExit(2) from None
    if required:
        print("alpr-monitor: set ALPR_PSEUDONYM_KEY (16+ bytes) so plate and user hashes stay stable", file=sys.stderr)
        raise SystemExit(2)
    print("alpr-monitor: ALPR_PSEUDONYM_KEY is not set; plate hashes use a one-off random key", file=sys.stderr)
    return Pseudonymizer(secrets.token_bytes(32))


def _engine(settings: Any, pseudonymizer: Any) -> Any:
    from monitor.engine import load_engine
    from monitor.policy import PolicyError
    from monitor.rules.pack import PackError

    try:
        return load_engine(settings.policy_path, pseudonymizer)
    except (PolicyError, PackError) as exc:
        print(f"alpr-monitor: cannot use the policy: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def _ingest_options(args: argparse.Namespace) -> Any:

    from monitor.events import Owner, Requester
    from monitor.ingest import IngestOptions

    owner = Owner(agency=args.owner, state=args.owner_state) if args.owner else None
    requester = Requester(agency=args.default_requester) if args.default_requester else None
    times = _as_of(args)
    as_of = times[0] if len(times) == 1 else None
    return IngestOptions(
        owner=owner,
        default_requester=requester,
        source_vendor=args.source_vendor,
        assume_tz=args.assume_tz,
        as_of=as_of,
        encoding=args.encoding,
    )


def _as_of(args: argparse.Namespace) -> list[datetime]:
    """`--as-of` as given: once for every file, or once per snapshot with `--snapshots`."""
    return [datetime.fromisoformat(value) for value in args.as_of or []]


def _cmd_check(args: argparse.Namespace) -> int:
    from monitor.check import run_check
    from monitor.ingest import IngestError

    settings = _settings(args)
    engine = _engine(settings, _pseudonymizer(settings, required=False))
    try:
        status, summary = run_check(
            engine,
            args.paths,
            args.format,
            _ingest_options(args),
            patterns=not args.no_patterns,
            snapshots=_as_of(args) if args.snapshots else None,
        )
    except (IngestError, OSError) as exc:
        print(f"alpr-monitor check: cannot read the input: {exc}", file=sys.stderr)
        return 2
    print(summary.render(), file=sys.stderr)
    return status


def _cmd_audit(args: argparse.Namespace) -> int:
    from monitor.audit import AuditRun
    from monitor.ingest import IngestError

    settings = _settings(args)
    engine = _engine(settings, _pseudonymizer(settings, required=False))
    run = AuditRun(
        engine, Path(args.out), owner=args.owner, retention_days=args.retention_days, patterns=not args.no_patterns
    )
    try:
        if args.snapshots:
            from monitor.ingest import read_snapshots

            run.consume(read_snapshots(args.paths, args.format, _ingest_options(args), _as_of(args)))
        else:
            run.audit_files(args.paths or ["-"], args.format, _ingest_options(args))
    except (IngestError, OSError) as exc:
        print(f"alpr-monitor audit: cannot read the input: {exc}", file=sys.stderr)
        return 2
    result = run.finish()
    totals = result.totals
    print(
        f"audit: {totals.records} records: {totals.events} events ({totals.clean} clean, {totals.alerted} with "
        f"findings), {totals.invalid} invalid, {totals.skipped} skipped; {totals.alerts} alerts; "
        f"report: {result.files['report']}",
        file=sys.stderr,
    )
    return result.exit_status


def _cmd_policy(args: argparse.Namespace) -> int:
    from monitor.rules.examples import lint_packs, run_examples
    from monitor.rules.pack import PackError, load_builtin_packs

    try:
        packs = load_builtin_packs([Path(p) for p in args.packs])
    except PackError as exc:
        print(f"policy {args.action}: {exc}", file=sys.stderr)
        return 1
    if args.action == "lint":
        problems = lint_packs(packs)
        if args.policy:
            problems += _lint_policy(Path(args.policy), packs)
        for problem in problems:
            print(problem)
        rules = sum(len(pack.rules) for pack in packs.values())
        print(f"policy lint: {len(packs)} packs, {rules} rules, {len(problems)} problems")
        return 1 if problems else 0
    results = run_examples(packs)
    failed = [result for result in results if not result.passed]
    for result in failed:
        print(f"FAIL {result.rule_id} [{result.expectation} #{result.index}]: {result.detail}")
    if args.verbose:
        for result in results:
            if result.passed:
                print(f"ok   {result.rule_id} [{result.expectation} #{result.index}]")
    print(f"{len(results) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


def _lint_policy(path: Path, packs: Any) -> list[str]:
    from monitor.engine import Engine
    from monitor.hashing import Pseudonymizer
    from monitor.policy import PolicyError, load_policy

    try:
        Engine(load_policy(path), Pseudonymizer(secrets.token_bytes(32)), packs)
    except PolicyError as exc:
        return [str(exc)]
    return []


def _cmd_schema(args: argparse.Namespace) -> int:
    from monitor.schema import write_schemas

    for path in write_schemas(Path(args.out)):
        print(path)
    return 0


def _cmd_streams(args: argparse.Namespace) -> int:
    """worker, demo, produce and ingest live in streams/ (Kafka); imported only here."""
    from monitor.logging import configure_logging

    settings = _settings(args, kafka=args.command != "demo")
    # The demo prints alerts for a person to read; the framework's lifecycle chatter would bury them.
    quiet_demo = args.command == "demo" and "ALPR_LOG_LEVEL" not in os.environ
    configure_logging(settings.log_format, "WARNING" if quiet_demo else settings.log_level)
    if args.command == "worker":
        from streams.kafka_refusals import preflight
        from streams.produce import bootstrap_servers
        from streams.worker import run_worker

        pseudonymizer = _pseudonymizer(settings, required=True)  # configuration first, before the broker
        # A TLS, SASL or ACL refusal would leave Faust retrying forever: name it and stop (exit 2).
        topics = [settings.input_topic, settings.alerts_topic, settings.dlq_topic]
        refused = asyncio.run(preflight(bootstrap_servers(settings.broker), settings.kafka, topics, settings.app_id))
        if refused is not None:
            print(f"alpr-monitor worker: the Kafka broker refused us: {refused}", file=sys.stderr)
            return 2
        import structlog

        structlog.get_logger("cli").info("kafka connection", security=settings.kafka.describe())

        return run_worker(settings, pseudonymizer)
    if args.command == "demo":
        from streams.demo import run_demo

        return run_demo(settings, _pseudonymizer(settings, required=False), once=args.once)
    from streams.produce import produce_files

    return produce_files(settings, args.paths, fmt=args.format, rate=args.rate, options=_ingest_options(args))


def _cmd_notify(args: argparse.Namespace) -> int:
    """Per-violation notifier (streams/notifier.py): alerts topic -> webhook, Slack, PagerDuty."""
    from pydantic import ValidationError

    from monitor.logging import configure_logging
    from monitor.notify import NotifierSettings

    settings = _settings(args, kafka=True, alerts_topic=args.alerts_topic)
    configure_logging(settings.log_format, settings.log_level)
    flags = {"config_path": args.config, "group_id": args.group, "metrics_port": args.notify_metrics_port}
    try:
        notify = NotifierSettings(**{key: value for key, value in flags.items() if value is not None})
    except ValidationError as exc:
        _unusable_settings(args.command, "ALPR_NOTIFY_", exc)
    from streams.notifier import run_notifier

    return run_notifier(settings, notify)


SNAPSHOTS_HELP = "the files are consecutive snapshots of one sharing list: who appears is granted, who goes revoked"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="alpr-monitor", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)

    def common(sub: argparse.ArgumentParser, *, kafka: bool) -> None:
        sub.add_argument("--policy", help="owner policy file (env ALPR_POLICY_PATH; default: built-in)")
        if kafka:
            sub.add_argument("--broker", help="Kafka bootstrap URL (env ALPR_BROKER)")
            sub.add_argument("--topic", help="input topic (env ALPR_INPUT_TOPIC)")

    def input_options(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("paths", nargs="*", help="input files; '-' or none for standard input")
        sub.add_argument("--format", help="input format (default: detected from the header); see `--format list`")
        sub.add_argument("--owner", help="owner agency, for exports that do not name it")
        sub.add_argument("--owner-state", help="owner's two-letter state")
        sub.add_argument("--default-requester", help="requester agency for rows that name none (org audits)")
        sub.add_argument(
            "--as-of",
            action="append",
            help="ISO date a sharing list was observed (lists carry no per-row time); with --snapshots, once per file",
        )
        sub.add_argument("--assume-tz", default="UTC", help="zone for timestamps written without one")
        sub.add_argument("--encoding", default="utf-8", help="text encoding of CSV and text exports")
        sub.add_argument("--source-vendor", help="override source.vendor (white-label resellers)")

    check = commands.add_parser("check", help="judge events in files; alerts as JSON lines on stdout")
    common(check, kafka=False)
    input_options(check)
    check.add_argument(
        "--no-patterns", action="store_true", help="judge each event alone (no pattern detectors over time)"
    )
    check.add_argument("--snapshots", action="store_true", help=SNAPSHOTS_HELP)
    check.set_defaults(handler=_cmd_check)

    audit = commands.add_parser("audit", help="judge whole exports; write findings and a report to a directory")
    common(audit, kafka=False)
    input_options(audit)
    audit.add_argument("--snapshots", action="store_true", help=SNAPSHOTS_HELP)
    audit.add_argument("--no-patterns", action="store_true", help="no pattern detectors (no pattern sections)")
    audit.add_argument("--out", required=True, help="directory for report.html, summary.md, findings and errors")
    audit.add_argument(
        "--retention-days", type=int, help="retention period searches are measured against (default: the policy's)"
    )
    audit.set_defaults(handler=_cmd_audit)

    worker = commands.add_parser("worker", help="run the live Faust worker")
    common(worker, kafka=True)
    worker.add_argument("--metrics-port", type=int, help="port for /metrics (env ALPR_METRICS_PORT)")
    worker.set_defaults(handler=_cmd_streams)

    demo = commands.add_parser("demo", help="run the worker on an embedded Kafka mock cluster with a sample")
    common(demo, kafka=False)
    demo.add_argument("--metrics-port", type=int, help="port for /metrics")
    demo.add_argument("--once", action="store_true", help="stop after the sample has been judged")
    demo.set_defaults(handler=_cmd_streams)

    produce = commands.add_parser(
        "produce", aliases=["ingest"], help="send events (v1 JSONL or a vendor export) to the input topic"
    )
    common(produce, kafka=True)
    input_options(produce)
    produce.add_argument("--rate", type=float, default=0.0, help="events per second (0: as fast as possible)")
    produce.set_defaults(handler=_cmd_streams)

    notify = commands.add_parser("notify", help="post each alert to webhook, Slack and PagerDuty endpoints")
    notify.add_argument("--config", help="endpoints YAML file (env ALPR_NOTIFY_CONFIG_PATH)")
    notify.add_argument("--broker", help="Kafka bootstrap URL (env ALPR_BROKER)")
    notify.add_argument("--topic", dest="alerts_topic", help="alerts topic (env ALPR_ALERTS_TOPIC)")
    notify.add_argument("--group", help="consumer group (env ALPR_NOTIFY_GROUP_ID)")
    notify.add_argument(
        "--metrics-port", dest="notify_metrics_port", type=int, help="port for /metrics (env ALPR_NOTIFY_METRICS_PORT)"
    )
    notify.set_defaults(handler=_cmd_notify)

    policy = commands.add_parser("policy", help="rule-pack tests and lint")
    policy.add_argument("action", choices=["test", "lint"])
    policy.add_argument("--packs", nargs="*", default=[], help="extra pack files")
    policy.add_argument("--policy", help="also lint this owner policy file")
    policy.add_argument("-v", "--verbose", action="store_true")
    policy.set_defaults(handler=_cmd_policy)

    schema = commands.add_parser("schema", help="write the JSON Schema files of the contract")
    schema.add_argument("--out", default="schemas")
    schema.set_defaults(handler=_cmd_schema)
    return parser


# Commands that read input files: whatever the input, they end with a message and a status, never a traceback.
_INPUT_COMMANDS = frozenset({"check", "audit", "produce", "ingest"})


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command not in _INPUT_COMMANDS:
        status: int = args.handler(args)
        return status
    try:
        status = args.handler(args)
    except Exception as exc:  # a bug of ours: name it without its message (which may quote the input)
        from monitor.failures import exception_site

        where = exception_site(exc)
        print(
            f"alpr-monitor {args.command}: internal error ({type(exc).__name__}{' at ' + where if where else ''}); "
            "the input was not fully used. Please report this with the command line (not the input).",
            file=sys.stderr,
        )
        return 2
    return status


if __name__ == "__main__":
    raise SystemExit(main())
