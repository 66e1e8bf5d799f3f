"""Rule conditions and rule packs: compiled predicates, and load errors that name file, rule and key."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from monitor.facts import FACTS, Facts
from monitor.rules.conditions import ConditionError, compile_condition
from monitor.rules.examples import lint_packs
from monitor.rules.pack import PackError, load_builtin_packs, load_pack

BASE_FACTS = Facts(
    event_type="query",
    owner_id="oakland-pd",
    owner_state="CA",
    requester_name="fbi",
    recipient="federal",
    recipient_confidence="high",
    recipient_is_immigration_agency=False,
    grants_access=True,
    purpose=frozenset({"immigration"}),
    purpose_weak=frozenset(),
    reason_redacted=False,
    record_missing=frozenset(),
    sharing_action=None,
    sharing_direction=None,
    sharing_approval_mode=None,
    sharing_batch_size=None,
    sharing_command_review=None,
    agreement_on_file=False,
    declaration_on_file=False,
    retention_exceeded=False,
    owner_requires_agreement=False,
    owner_prohibits_group_approval=False,
    owner_requires_command_review=False,
    purpose_prohibited_by_owner=frozenset(),
)


def facts(**changes: object) -> Facts:
    return dataclasses.replace(BASE_FACTS, **changes)  # type: ignore[arg-type]


class TestCompileCondition:
    @pytest.mark.parametrize(
        ("condition", "expected"),
        [
            ({"recipient": "federal"}, True),
            ({"recipient": "in_state"}, False),
            ({"recipient": ["out_of_state", "federal"]}, True),
            ({"recipient": {"not_in": ["federal"]}}, False),
            ({"purpose": "immigration"}, True),
            ({"purpose": ["missing", "uninformative"]}, False),
            ({"purpose": {"ne": "immigration"}}, False),
            ({"all": [{"grants_access": True}, {"recipient": "federal"}]}, True),
            ({"all": [{"grants_access": True}, {"recipient": "private"}]}, False),
            ({"any": [{"recipient": "private"}, {"purpose": "immigration"}]}, True),
            ({"not": {"recipient": "federal"}}, False),
            ({"sharing.batch_size": {"gte": 2}}, False),
            ({"sharing.batch_size": {"present": False}}, True),
        ],
    )
    def test_condition_truth(self, condition: dict[str, object], expected: bool) -> None:
        """Each operator and combinator evaluates as documented."""
        assert compile_condition(condition)(BASE_FACTS) is expected

    def test_int_comparison_on_present_value(self) -> None:
        """Comparisons test a present integer and are false on an absent one."""
        predicate = compile_condition({"sharing.batch_size": {"gte": 2}})
        assert predicate(facts(sharing_batch_size=312))
        assert not predicate(facts(sharing_batch_size=1))
        assert not predicate(facts(sharing_batch_size=None))

    @pytest.mark.parametrize(
        ("condition", "message"),
        [
            ({"recipeint": "federal"}, "unknown fact 'recipeint'"),
            ({"recipient": "feds"}, "'feds' is not one of"),
            ({"grants_access": "yes"}, "expects true or false"),
            ({"sharing.batch_size": {"gte": "2"}}, "compares an int fact"),
            ({"recipient": {"like": "fed"}}, "unknown operator 'like'"),
            ({"all": []}, "non-empty list"),
            ({"recipient": "federal", "purpose": "immigration"}, "exactly one key"),
        ],
    )
    def test_bad_condition_is_named(self, condition: dict[str, object], message: str) -> None:
        """A typo fails at compile time with the path and what is wrong."""
        with pytest.raises(ConditionError, match=message):
            compile_condition(condition)

    def test_every_fact_names_a_field(self) -> None:
        """Every fact in the vocabulary reads an attribute that Facts has."""
        names = {field.name for field in dataclasses.fields(Facts)}
        assert {spec.attribute for spec in FACTS.values()} <= names


PACK = """
pack: demo
id_prefix: demo.
title: Demo
applies_to: {owner_states: [CA]}
example_owner: {id: demo, agency: Demo CA PD, state: CA}
example_base: {event_type: query}
rules:
  - id: demo.federal
    title: Federal
    kind: recipient.federal
    severity: critical
    summary: "{requester} got {owner}'s data"
    citations: [{authority: Cal. Civ. Code, section: 1798.90.55(b)}]
    when: {recipient: federal}
"""


class TestLoadPack:
    def test_valid_pack_compiles(self) -> None:
        """A valid pack loads and renders its citations as strings."""
        pack = load_pack(PACK, "demo.yaml")
        (rule,) = pack.rules
        assert rule.citations == ("Cal. Civ. Code § 1798.90.55(b)",)
        assert rule.when(BASE_FACTS)
        assert not rule.exception(BASE_FACTS)

    @pytest.mark.parametrize(
        ("old", "new", "message"),
        [
            ("kind: recipient.federal", "kind: recipient.fed", r"demo\.yaml: rules\.rule demo\.federal\.kind"),
            ("severity: critical", "severity: urgent", r"rule demo\.federal\.severity"),
            ("when: {recipient: federal}", "when: {recipient: feds}", r"rule demo\.federal: when\.recipient"),
            ('summary: "{requester}', 'summary: "{plate}', r"unknown placeholders \['plate'\]"),
            ("id: demo.federal", "id: other.federal", r"ids in pack 'demo' start with 'demo\.'"),
            ("    when: {recipient: federal}", "    when: {recipient: federal}\n    colour: red", "colour"),
        ],
    )
    def test_invalid_pack_names_file_rule_and_key(self, old: str, new: str, message: str) -> None:
        """Load errors name the file, the rule id and the key."""
        with pytest.raises(PackError, match=message):
            load_pack(PACK.replace(old, new), "demo.yaml")

    def test_duplicate_rule_id(self) -> None:
        """A rule id defined twice in a pack is refused."""
        doubled = PACK + PACK[PACK.index("  - id") :]
        with pytest.raises(PackError, match="duplicate rule id"):
            load_pack(doubled, "demo.yaml")


class TestBuiltinPacks:
    def test_shipped_packs_load(self) -> None:
        """The shipped packs load, with the ones the issue names among them."""
        packs = load_builtin_packs()
        assert {"us-ca", "us-il", "oakland", "long-beach", "san-francisco"} <= set(packs)

    def test_shipped_packs_pass_lint(self) -> None:
        """Every shipped rule carries a citation and examples that must and must not fire."""
        assert lint_packs(load_builtin_packs()) == []

    def test_lint_finds_an_untested_rule(self) -> None:
        """A rule without citations or examples is reported by lint."""
        pack = load_pack(
            PACK.replace("citations: [{authority: Cal. Civ. Code, section: 1798.90.55(b)}]", "citations: []"),
            "demo.yaml",
        )
        problems = lint_packs({"demo": pack})
        assert any("no citations" in problem for problem in problems)
        assert any("no example that must fire" in problem for problem in problems)
        assert any("no example that must not fire" in problem for problem in problems)


class TestBaselineMachinery:
    def test_supersedes_must_name_a_known_rule(self, tmp_path: Path) -> None:
        """A rule that supersedes a rule id no pack defines is refused at load time."""
        path = tmp_path / "demo.yaml"
        path.write_text(
            PACK.replace(
                "    when: {recipient: federal}",
                "    when: {recipient: federal}\n    supersedes: [policy.no-such-rule]",
            )
        )
        with pytest.raises(PackError, match=r"supersedes unknown rules \['policy.no-such-rule'\]"):
            load_builtin_packs([path])

    def test_one_retention_period_per_rule(self) -> None:
        """A rule testing two retention periods is refused: its evidence could not say which one it broke."""
        text = PACK.replace(
            "when: {recipient: federal}",
            "when: {any: [{search.reach: {past_days: 30}}, {search.reach: {past_days: 90}}]}",
        )
        with pytest.raises(PackError, match=r"more than one retention period \[30, 90\]"):
            load_pack(text, "demo.yaml")

    def test_retention_period_and_owner_document_compiled(self) -> None:
        """A rule's retention period and its owner-document citations are read at load time."""
        text = PACK.replace("when: {recipient: federal}", "when: {search.reach: {past_days: 150}}").replace(
            "citations: [{authority: Cal. Civ. Code, section: 1798.90.55(b)}]",
            "citations: [{authority: Cal. Civ. Code, section: 1798.90.55(b)},"
            " {authority: Owner policy, owner_document: true}]",
        )
        (rule,) = load_pack(text, "demo.yaml").rules
        assert rule.retention_days == 150
        assert rule.owner_document == (1,)
        assert rule.when(facts(retention_past=frozenset({150})))
        assert not rule.when(facts(retention_past=frozenset({30})))
