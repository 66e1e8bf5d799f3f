"""Rule conditions: a small declarative language compiled into Python predicates.

A condition is a mapping. Combinators: `all: [...]`, `any: [...]`, `not: {...}`. A leaf names one
fact from `monitor.facts.FACTS` and what it must be:

    recipient: federal                 # equals (for a set fact: contains)
    recipient: [federal, out_of_state] # any of (for a set fact: intersects)
    sharing.batch_size: {gte: 2}       # operators: eq ne in not_in gte gt lte lt present
    search.reach: {past_days: 90}      # the search reached past 90 days plus the grace day

Compiling checks fact names, operators and values against the fact vocabulary, so a typo in a pack
fails at load time with the rule id and key, never at run time. Nothing is `eval`-ed.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from monitor.facts import FACTS, Facts, FactSpec

__all__ = ["NEVER", "ConditionError", "Predicate", "compile_condition", "operands", "retention_periods"]

Predicate = Callable[[Facts], bool]


def NEVER(_: Facts) -> bool:
    """The default exception hook: matches nothing."""
    return False


class ConditionError(ValueError):
    """A condition that cannot be compiled; `path` says where in the rule it is."""

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        super().__init__(f"{path}: {message}")


_COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "gte": operator.ge,
    "gt": operator.gt,
    "lte": operator.le,
    "lt": operator.lt,
}


def compile_condition(condition: object, path: str = "when") -> Predicate:
    """Compile one condition mapping into a predicate over `Facts`."""
    if not isinstance(condition, Mapping) or len(condition) != 1:
        raise ConditionError(path, f"a condition is a mapping with exactly one key, got {condition!r}")
    ((key, value),) = condition.items()
    if key in ("all", "any"):
        if not isinstance(value, Sequence) or isinstance(value, str) or not value:
            raise ConditionError(f"{path}.{key}", "needs a non-empty list of conditions")
        parts = tuple(compile_condition(item, f"{path}.{key}[{i}]") for i, item in enumerate(value))
        return _all_of(parts) if key == "all" else _any_of(parts)
    if key == "not":
        inner = compile_condition(value, f"{path}.not")
        return lambda facts: not inner(facts)
    spec = FACTS.get(str(key))
    if spec is None:
        known = ", ".join(sorted(FACTS))
        raise ConditionError(f"{path}.{key}", f"unknown fact {key!r}; known facts: {known}")
    return _compile_leaf(spec, value, f"{path}.{key}")


def _all_of(parts: tuple[Predicate, ...]) -> Predicate:
    # Explicit loops: a generator inside all() costs several times more per call on the hot path.
    if len(parts) == 1:
        return parts[0]

    def all_of(facts: Facts) -> bool:
        for part in parts:  # noqa: SIM110
            if not part(facts):
                return False
        return True

    return all_of


def _any_of(parts: tuple[Predicate, ...]) -> Predicate:
    if len(parts) == 1:
        return parts[0]

    def any_of(facts: Facts) -> bool:
        for part in parts:  # noqa: SIM110
            if part(facts):
                return True
        return False

    return any_of


def _compile_leaf(spec: FactSpec, value: object, path: str) -> Predicate:
    get = operator.attrgetter(spec.attribute)
    if spec.type == "reach":
        return _compile_reach(get, value, path)
    if isinstance(value, Mapping):
        if len(value) != 1:
            raise ConditionError(path, f"an operator mapping has exactly one operator, got {dict(value)!r}")
        ((op, operand),) = value.items()
    elif isinstance(value, list):
        op, operand = "in", value
    else:
        op, operand = "eq", value

    if op == "present":
        if not isinstance(operand, bool):
            raise ConditionError(path, "`present` takes true or false")
        return (lambda facts: get(facts) is not None) if operand else (lambda facts: get(facts) is None)
    if op in _COMPARISONS:
        if spec.type != "int" or isinstance(operand, bool) or not isinstance(operand, int):
            raise ConditionError(path, f"`{op}` compares an int fact with an int, got {operand!r}")
        compare = _COMPARISONS[op]
        bound = operand
        return lambda facts: (v := get(facts)) is not None and compare(v, bound)
    if op in ("eq", "ne"):
        _check_values(spec, [operand], path)
        if spec.type == "set":
            predicate: Predicate = lambda facts: operand in get(facts)  # noqa: E731
        else:
            predicate = lambda facts: get(facts) == operand  # noqa: E731
        return predicate if op == "eq" else (lambda facts: not predicate(facts))
    if op in ("in", "not_in"):
        if not isinstance(operand, list) or not operand:
            raise ConditionError(path, f"`{op}` takes a non-empty list, got {operand!r}")
        _check_values(spec, operand, path)
        options = frozenset(operand)
        if spec.type == "set":
            predicate = lambda facts: not options.isdisjoint(get(facts))  # noqa: E731
        else:
            predicate = lambda facts: get(facts) in options  # noqa: E731
        return predicate if op == "in" else (lambda facts: not predicate(facts))
    raise ConditionError(path, f"unknown operator {op!r}; use eq, ne, in, not_in, gte, gt, lte, lt or present")


def _compile_reach(get: Callable[[Facts], Any], value: object, path: str) -> Predicate:
    days = _past_days(value)
    if days is None:
        raise ConditionError(path, f"a reach takes `{{past_days: N}}` with N a positive number of days, got {value!r}")
    # The engine computes, per event, which of the periods its rules name the search reached past.
    return lambda facts: days in get(facts)


def _past_days(value: object) -> int | None:
    if not isinstance(value, Mapping) or set(value) != {"past_days"}:
        return None
    days = value["past_days"]
    if isinstance(days, bool) or not isinstance(days, int) or days < 1:
        return None
    return days


def operands(condition: object, fact: str) -> list[object]:
    """Every value a condition compares `fact` with (for a list operand, its items), in order."""
    found: list[object] = []
    if isinstance(condition, Mapping):
        for key, value in condition.items():
            if key in ("all", "any") and isinstance(value, Sequence) and not isinstance(value, str):
                for item in value:
                    found.extend(operands(item, fact))
            elif key == "not":
                found.extend(operands(value, fact))
            elif key == fact:
                inner = next(iter(value.values()), None) if isinstance(value, Mapping) else value
                found.extend(inner if isinstance(inner, list) else [inner])
    return found


def retention_periods(condition: object) -> set[int]:
    """The retention periods (days) a condition tests the search's reach against."""
    periods: set[int] = set()
    for value in operands(condition, "search.reach"):
        if isinstance(value, int) and not isinstance(value, bool):
            periods.add(value)
    return periods


def _check_values(spec: FactSpec, values: Sequence[object], path: str) -> None:
    for value in values:
        if spec.type == "bool" and not isinstance(value, bool):
            raise ConditionError(path, f"expects true or false, got {value!r}")
        if spec.type == "int" and (isinstance(value, bool) or not isinstance(value, int)):
            raise ConditionError(path, f"expects an integer, got {value!r}")
        if spec.type in ("str", "set") and not isinstance(value, str):
            raise ConditionError(path, f"expects a string, got {value!r}")
        if spec.values and value not in spec.values:
            raise ConditionError(path, f"{value!r} is not one of {', '.join(spec.values)}")
