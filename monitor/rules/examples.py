"""Policy tests, as `opa test` does for policies: every rule's own examples must behave.

Each pack names an example owner and a base event; each rule lists event patches on which it must
fire and on which it must not. `run_examples` judges every example with the real engine, so an
example exercises the resolver, the purpose classifier and the compiled condition together.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import msgspec

from monitor.engine import Engine
from monitor.events import EventError, decode_event
from monitor.hashing import Pseudonymizer
from monitor.policy import parse_policy
from monitor.rules.pack import Pack

__all__ = ["ExampleResult", "build_example_event", "lint_packs", "run_examples"]

_EXAMPLE_KEY = b"policy-test-key-not-a-secret-0000"


@dataclass(frozen=True, slots=True)
class ExampleResult:
    pack: str
    rule_id: str
    expectation: str  # "fire" or "pass"
    index: int
    passed: bool
    detail: str


def _merge(base: Any, patch: Any) -> Any:
    """Deep-merge an example patch onto the base event: mappings merge, anything else replaces."""
    if isinstance(base, Mapping) and isinstance(patch, Mapping):
        merged = dict(base)
        for key, value in patch.items():
            merged[key] = _merge(base[key], value) if key in base else copy.deepcopy(value)
        return merged
    return copy.deepcopy(patch)


def build_example_event(pack: Pack, patch: Mapping[str, Any], label: str) -> bytes:
    """The v1 JSON of one example: base event, patch, and a unique event id."""
    document = _merge({"event_id": label, **pack.spec.example_base}, patch)
    return msgspec.json.encode(document)


def _engine_for(pack: Pack, packs: Mapping[str, Pack]) -> Engine:
    owner = {**pack.spec.example_owner, "packs": [pack.name]}
    policy = parse_policy(msgspec.json.encode({"name": f"examples of {pack.name}", "owners": [owner]}), pack.source)
    return Engine(policy, Pseudonymizer(_EXAMPLE_KEY), packs)


def run_examples(packs: Mapping[str, Pack]) -> list[ExampleResult]:
    """Judge every example of every rule; one result per example."""
    results: list[ExampleResult] = []
    for pack in packs.values():
        engine = _engine_for(pack, packs)
        for rule in pack.rules:
            cases = [("fire", patch) for patch in rule.spec.examples.fire]
            cases += [("pass", patch) for patch in rule.spec.examples.not_fire]
            for index, (expectation, patch) in enumerate(cases):
                label = f"{rule.id}:{expectation}:{index}"
                try:
                    event = decode_event(build_example_event(pack, patch, label))
                except EventError as exc:
                    results.append(ExampleResult(pack.name, rule.id, expectation, index, False, f"bad example: {exc}"))
                    continue
                fired = {alert.rule_id for alert in engine.judge(event)}
                should_fire = expectation == "fire"
                passed = (rule.id in fired) == should_fire
                verb = "fired" if rule.id in fired else "did not fire"
                detail = f"{verb} on {msgspec.json.encode(patch).decode()}; rules fired: {sorted(fired) or 'none'}"
                results.append(ExampleResult(pack.name, rule.id, expectation, index, passed, detail))
    return results


def lint_packs(packs: Mapping[str, Pack]) -> list[str]:
    """Problems that loading allows but a shipped pack must not have."""
    problems: list[str] = []
    for pack in packs.values():
        for rule in pack.rules:
            where = f"{pack.source}: rule {rule.id}"
            if not rule.citations:
                problems.append(f"{where}: no citations; every rule carries its legal or policy authority")
            if not rule.spec.examples.fire:
                problems.append(f"{where}: no example that must fire; a rule with no failing example is not tested")
            if not rule.spec.examples.not_fire:
                problems.append(f"{where}: no example that must not fire")
    return problems
