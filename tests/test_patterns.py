"""Pattern detectors (contract v1.1): each detector's tiers and look-alikes, the runner, offline ordering."""

from __future__ import annotations

import random
from datetime import timedelta

import msgspec
import pytest

from monitor.alerts import Alert
from monitor.events import AccessEvent, Owner
from monitor.patterns import BytesStore, PatternRunner, observe, partition_key, replay
from monitor.patterns.detector import Notes
from monitor.patterns.detectors.isolated_session import IsolatedSession, IsolatedSessionState, usual_block
from monitor.patterns.ordering import in_event_time
from monitor.policy import PatternSettings, PolicyError, load_policy, parse_policy
from tests.patterns_helpers import T0, context, days, engine, observations, of_kind, run, search, sharing

FEDERAL = "Homeland Security Investigations"
STANDING = "sharing.standing_access"
REPEAT = "misuse.repeat_target"


class TestStandingAccess:
    def test_group_approval_alerts_every_day_until_revoke(self) -> None:
        """A group approval letting a federal agency in alerts on day 1 and on each further day, until the revoke."""
        judge = engine()
        grant = sharing(T0, "approve_request", FEDERAL, mode="group")
        revoke = sharing(T0 + days(9) + timedelta(hours=3), "revoke", FEDERAL)
        after = search(T0 + days(20), agency="Long Beach CA PD")
        alerts = of_kind(run(judge, [grant, revoke, after]), STANDING)
        assert [int(a.evidence["active_days"]) for a in alerts] == list(range(1, 11))
        assert [a.occurred_at.date() for a in alerts] == [(T0 + days(n)).date() for n in range(10)]
        assert len({a.alert_id for a in alerts}) == 10
        first = alerts[0]
        assert first.severity == "critical"
        assert first.event_id == grant.event_id
        assert first.evidence["approval_mode"] == "group"
        assert first.evidence["granted_via"] == "sharing_event"
        assert first.evidence["granted_by"].startswith("u:")
        assert "admin-7" not in msgspec.json.encode(alerts).decode()
        assert first.citations

    def test_missed_advances_catch_up_one_alert_per_day(self) -> None:
        """Advanced only once after five days, the detector raises one alert for each of the five days."""
        judge = engine()
        runner = PatternRunner(context(judge))
        obs = observe(judge, sharing(T0, "grant", FEDERAL))
        assert obs is not None
        first = runner.observe(obs)
        later = runner.advance_all(T0 + days(4))
        again = runner.advance_all(T0 + days(4) + timedelta(hours=5))
        assert len(first) == 1
        assert [a.evidence["active_days"] for a in later] == ["2", "3", "4", "5"]
        assert again == []

    def test_a_timestamp_decades_ahead_raises_a_bounded_number_of_alerts(self) -> None:
        """One search dated in 2100 (the latest year an event may carry) catches up a year of alerts, not 27,000."""
        events = [sharing(T0, "grant", FEDERAL), search(T0.replace(year=2100), agency=FEDERAL)]
        alerts = of_kind(run(engine(), events), STANDING)
        assert len(alerts) <= 1 + 366
        assert alerts[-1].occurred_at.year == 2100
        assert int(alerts[-1].evidence["active_days"]) > 27_000

    def test_search_proves_access_without_a_grant(self) -> None:
        """Searches by an out-of-state agency open a row from the first search, flagged as proven by a search."""
        alerts = of_kind(
            run(engine(), [search(T0, agency="Reno NV PD"), search(T0 + days(1), agency="Reno NV PD")]), STANDING
        )
        assert [a.evidence["active_days"] for a in alerts] == ["1", "2"]
        assert alerts[0].evidence["granted_via"] == "search"
        assert alerts[0].requester.jurisdiction == "out_of_state"

    def test_in_state_grant_never_alerts(self) -> None:
        """A grant to a public agency of the owner's state is tracked but never alerts."""
        assert of_kind(run(engine(), [sharing(T0, "grant", "Torrance CA PD"), search(T0 + days(3))]), STANDING) == []

    def test_same_day_regrant_keeps_the_day_id(self) -> None:
        """Revoked and granted again on the same day, the day's alert id does not change."""
        judge = engine()
        events = [
            sharing(T0, "grant", FEDERAL, event_id="g1"),
            sharing(T0 + timedelta(hours=1), "revoke", FEDERAL, event_id="r1"),
            sharing(T0 + timedelta(hours=2), "grant", FEDERAL, event_id="g2"),
        ]
        alerts = of_kind(run(judge, events), STANDING)
        assert len({a.alert_id for a in alerts}) == 1


class TestRepeatTarget:
    def _daily(self, searches_per_day: list[int]) -> list[Alert]:
        events = [
            search(T0 + days(day) + timedelta(minutes=7 * n))
            for day, per_day in enumerate(searches_per_day)
            for n in range(per_day)
        ]
        return of_kind(run(engine(), events), REPEAT)

    def test_medium_at_five_searches_on_three_days(self) -> None:
        """Five searches of one plate on three days within 30 days give one medium alert."""
        alerts = self._daily([2, 2, 1])
        assert [a.severity for a in alerts] == ["medium"]
        assert alerts[0].evidence["count"] == "5"
        assert alerts[0].evidence["distinct_days"] == "3"
        assert alerts[0].plate_hash
        assert alerts[0].plate_hash.startswith("p:")
        assert "7ABC123" not in msgspec.json.encode(alerts).decode()

    def test_four_searches_stay_quiet(self) -> None:
        """Four searches on three days are below every tier."""
        assert self._daily([2, 1, 1]) == []

    def test_high_at_ten_searches_on_four_days(self) -> None:
        """Ten searches on four days within 30 days raise high after the medium."""
        alerts = self._daily([3, 3, 2, 2])
        assert [a.severity for a in alerts] == ["medium", "high"]
        assert "10+ searches on 4+ days" in alerts[1].evidence["baseline"]

    def test_spread_over_three_weeks_is_high(self) -> None:
        """Eight searches spread over 21+ days (the slow, steady stalker) raise high."""
        events = [search(T0 + days(3 * n)) for n in range(8)]
        alerts = of_kind(run(engine(), events), REPEAT)
        assert alerts[-1].severity == "high"
        assert "spread over 21+ days" in alerts[-1].evidence["baseline"]

    def test_bolo_all_day_is_not_flagged(self) -> None:
        """A plate re-checked every 30 minutes for a whole day by one user raises nothing."""
        events = [search(T0 + timedelta(minutes=30 * n), reason="BOLO stolen vehicle") for n in range(40)]
        assert of_kind(run(engine(), events), REPEAT) == []

    def test_case_number_team_is_never_high(self) -> None:
        """Searches under a case number weigh less and cannot make a high alert, even many over weeks."""
        events = [
            search(T0 + days(day) + timedelta(hours=h), case_number="25-00123", reason="homicide")
            for day in range(0, 40, 2)
            for h in range(3)
        ]
        alerts = of_kind(run(engine(), events), REPEAT)
        assert all(a.severity != "high" for a in alerts)

    def test_share_of_user_searches_is_high(self) -> None:
        """A plate that is 20%+ of a user's 50+ searches over 3+ days raises high."""
        rng = random.Random(3)
        events = [search(T0 + days(d) + timedelta(hours=1), plate="8TARGET") for d in range(3) for _ in range(4)]
        events += [search(T0 + days(rng.randrange(3)), plate=f"OTHER{n}") for n in range(40)]
        alerts = of_kind(run(engine(), events), REPEAT)
        assert any(a.severity == "high" and "of the user's" in a.evidence["baseline"] for a in alerts)

    def test_a_list_of_suspects_rechecked_alike_is_not_high(self) -> None:
        """A user re-checking eight plates every week without case numbers is analysis: medium at most."""
        events = [search(T0 + days(7 * week), plate=f"SUSPECT{n}") for week in range(12) for n in range(8)]
        alerts = of_kind(run(engine(), events), REPEAT)
        assert alerts
        assert {a.severity for a in alerts} == {"medium"}

    def test_one_plate_rechecked_alike_is_high(self) -> None:
        """The same weekly rhythm on one plate, beside ordinary one-off searches, is high."""
        events = [search(T0 + days(7 * week), plate="EXPARTNER") for week in range(12)]
        events += [search(T0 + days(7 * week) + timedelta(hours=1), plate=f"ONCE{week}") for week in range(12)]
        alerts = of_kind(run(engine(), events), REPEAT)
        assert "high" in {a.severity for a in alerts}

    def test_realerts_after_thirty_days_while_it_goes_on(self) -> None:
        """A pattern that goes on alerts again once 30 days have passed since its last alert."""
        events = [search(T0 + days(2 * n)) for n in range(40)]
        alerts = of_kind(run(engine(), events), REPEAT)
        highs = [a for a in alerts if a.severity == "high"]
        assert len(highs) >= 2
        assert (highs[1].occurred_at - highs[0].occurred_at) >= timedelta(days=30)

    def test_users_of_different_agencies_are_kept_apart(self) -> None:
        """The same user id at two agencies is two users."""
        events = [search(T0 + days(d), agency=a) for d in range(3) for a in ("Torrance CA PD", "Pasadena CA PD")]
        events += [search(T0 + days(3) + timedelta(minutes=n), agency="Torrance CA PD") for n in range(1)]
        assert of_kind(run(engine(), events), REPEAT) == []


class TestIsolatedSession:
    def _history(self, user: str = "analyst-9") -> list[AccessEvent]:
        return [
            search(T0 + days(d) + timedelta(hours=9 + (n % 8), minutes=n), user=user, plate=f"H{d}-{n}")
            for d in range(25)
            for n in range(10)
        ]

    def test_night_burst_after_quiet_is_low(self) -> None:
        """Three searches at 3 a.m., quiet for 8+ hours on both sides, by a user with history, raise low."""
        burst_day = T0 + days(26)
        burst = [
            search(burst_day + timedelta(hours=3, minutes=5 * n), user="analyst-9", plate=f"N{n}") for n in range(3)
        ]
        after = [search(burst_day + timedelta(hours=14), user="analyst-9", plate="later")]
        alerts = of_kind(run(engine(), [*self._history(), *burst, *after]), "misuse.isolated_session")
        assert [a.severity for a in alerts] == ["low"]
        assert alerts[0].evidence["count"] == "3"
        assert alerts[0].event_id == burst[-1].event_id

    def test_sparse_user_is_not_judged(self) -> None:
        """A user with fewer than 200 searches has no usual hours to leave."""
        burst = [search(T0 + days(30) + timedelta(hours=3, minutes=n), user="new-1", plate=f"N{n}") for n in range(3)]
        history = [search(T0 + days(d) + timedelta(hours=10), user="new-1", plate=f"h{d}") for d in range(20)]
        after = [search(T0 + days(31), user="new-1")]
        assert of_kind(run(engine(), [*history, *burst, *after]), "misuse.isolated_session") == []

    def test_with_a_repeat_target_it_is_medium(self) -> None:
        """The same user's isolated session counts more once that user has a repeat target."""
        stalk = [search(T0 + days(d) + timedelta(hours=10), user="analyst-9", plate="EX") for d in range(1, 12)]
        burst_day = T0 + days(26)
        burst = [search(burst_day + timedelta(hours=3, minutes=5 * n), user="analyst-9", plate="EX") for n in range(3)]
        after = [search(burst_day + timedelta(hours=14), user="analyst-9", plate="later")]
        alerts = run(engine(), [*self._history(), *stalk, *burst, *after])
        assert of_kind(alerts, REPEAT)
        assert [a.severity for a in of_kind(alerts, "misuse.isolated_session")] == ["medium"]

    def test_first_search_state_is_what_step_makes_of_an_empty_state(self) -> None:
        """A new user's state, built in one go, equals stepping an empty state, for owners with any min_history."""
        for min_history in (1, 200):
            override = f"{{isolated_session: {{min_history: {min_history}}}}}"
            judge = engine(f"owners:\n  - {{id: lb, agency: Long Beach CA PD, state: CA, patterns: {override}}}\n")
            ctx = context(judge)
            obs = observations(judge, [search(T0 + timedelta(hours=3, minutes=7), user="u-1", plate="P1")])[0]
            empty = IsolatedSessionState(
                owner_id=obs.owner_id,
                owner_agency=obs.owner_agency,
                owner_state=obs.owner_state,
                requester=obs.requester_agency,
                jurisdiction=obs.jurisdiction,
                user_hash=obs.user_hash or "",
                hours=[0] * 24,
                days=[],
                counts=[],
            )
            detector = IsolatedSession()
            fresh_notes, stepped_notes = Notes(), Notes()
            fresh, _ = detector.step(None, obs, ctx, fresh_notes)
            stepped, _ = detector.step(empty, obs, ctx, stepped_notes)
            assert fresh == stepped
            assert fresh_notes == stepped_notes

    def test_usual_block_is_the_shortest_holding_the_share(self) -> None:
        """The usual block wraps around midnight when the user works nights."""
        hours = [0] * 24
        for hour in (22, 23, 0, 1):
            hours[hour] = 10
        assert usual_block(hours, 0.85) == (22, 4)


class TestVolume:
    def test_new_outside_requester_once(self) -> None:
        """The first search by an out-of-state agency alerts once; its later searches and in-state ones do not."""
        events = [search(T0 + days(n), agency="Reno NV PD", user=f"r{n}") for n in range(3)]
        events.append(search(T0, agency="Torrance CA PD"))
        alerts = of_kind(run(engine(), events), "volume.new_requester")
        assert [a.event_id for a in alerts] == [events[0].event_id]

    def test_surge_over_baseline_once_per_day(self) -> None:
        """An agency at 10 searches a day that runs 60 in one day raises one surge alert; 40 raises none."""
        events = [
            search(T0 + days(d) + timedelta(minutes=n), agency="Torrance CA PD", user=f"t{n}", plate=f"P{d}{n}")
            for d in range(28)
            for n in range(10)
        ]
        quiet = [
            search(T0 + days(28) + timedelta(minutes=n), agency="Torrance CA PD", user="x", plate=f"Q{n}")
            for n in range(40)
        ]
        loud = [
            search(T0 + days(29) + timedelta(seconds=n), agency="Torrance CA PD", user="y", plate=f"L{n}")
            for n in range(60)
        ]
        alerts = of_kind(run(engine(), [*events, *quiet, *loud]), "volume.surge")
        assert len(alerts) == 1
        assert alerts[0].evidence["count"] == "51"
        assert alerts[0].evidence["baseline"] == "50"
        assert alerts[0].occurred_at.date() == (T0 + days(29)).date()

    def test_start_of_an_export_is_not_a_surge(self) -> None:
        """An in-state agency busy from the first day of the data has no baseline yet: no surge."""
        events = [
            search(T0 + days(d) + timedelta(seconds=n), agency="Torrance CA PD", user=f"t{n}", plate=f"P{d}-{n}")
            for d in range(3)
            for n in range(80)
        ]
        assert of_kind(run(engine(), events), "volume.surge") == []

    def test_outside_flood_from_nothing_is_a_surge(self) -> None:
        """An out-of-state agency's first day at 60 searches is a surge (the national-lookup shape)."""
        events = [
            search(T0 + timedelta(seconds=n), agency="Reno NV PD", user=f"r{n}", plate=f"R{n}") for n in range(60)
        ]
        alerts = of_kind(run(engine(), events), "volume.surge")
        assert [a.evidence["count"] for a in alerts] == ["51"]


class TestRunner:
    def _stream(self) -> list[AccessEvent]:
        rng = random.Random(5)
        events = [sharing(T0, "approve_request", FEDERAL, mode="group")]
        for d in range(60):
            for _ in range(rng.randrange(20, 40)):
                user = f"officer-{rng.randrange(6)}"
                plate = "EXPARTNER" if user == "officer-2" and rng.random() < 0.3 else f"P{rng.randrange(400)}"
                hour = 3 if rng.random() < 0.02 else rng.randrange(8, 18)
                agency = rng.choice(["Long Beach CA PD", "Long Beach CA PD", "Reno NV PD", "Torrance CA PD"])
                events.append(
                    search(
                        T0 + days(d) + timedelta(hours=hour, minutes=rng.randrange(60)),
                        user=user,
                        plate=plate,
                        agency=agency,
                    )
                )
        events.append(sharing(T0 + days(50), "revoke", FEDERAL))
        return events

    def test_bytes_store_and_restore_give_the_same_alerts(self) -> None:
        """Objects in a dict, bytes decoded on every read, and a crash/restore mid-stream give identical alerts."""
        judge = engine()
        events = self._stream()
        in_memory = run(judge, events)
        runner = PatternRunner(context(judge))
        as_bytes = PatternRunner(runner.ctx, stores={d.kind: BytesStore(d) for d in runner.detectors})
        assert run(judge, events, as_bytes) == in_memory
        # Crash in the middle: a new runner restores every table from the bytes the first one wrote.
        ordered = list(in_event_time(o for o in (observe(judge, e) for e in events) if o is not None))
        half = len(ordered) // 2
        first = PatternRunner(runner.ctx, stores={d.kind: BytesStore(d) for d in runner.detectors})
        before = list(replay(first, ordered[:half]))
        restored_stores = {}
        for detector in first.detectors:
            store = BytesStore(detector)
            store.data = dict(first.stores[detector.kind].data)  # type: ignore[attr-defined]
            restored_stores[detector.kind] = store
        second = PatternRunner(runner.ctx, stores=restored_stores)
        after = list(replay(second, ordered[half:]))
        assert sorted(before + after, key=lambda a: a.alert_id) == sorted(in_memory, key=lambda a: a.alert_id)
        assert {a.kind for a in in_memory} >= {STANDING, REPEAT, "volume.new_requester"}

    def test_order_of_input_does_not_matter(self) -> None:
        """Reversed or shuffled input, even spilled in small runs, gives the alerts of the ordered input."""
        judge = engine()
        events = self._stream()
        expected = run(judge, events)
        shuffled = list(events)
        random.Random(1).shuffle(shuffled)
        assert run(judge, reversed(events)) == expected
        obs = [o for o in (observe(judge, e) for e in shuffled) if o is not None]
        spilled = list(replay(PatternRunner(context(judge)), in_event_time(obs, run_size=97)))
        assert {a.alert_id for a in spilled} == {a.alert_id for a in expected}

    def test_state_expires_with_its_window(self) -> None:
        """After its window passes without events, every per-plate, per-user and per-agency row is gone."""
        judge = engine()
        runner = PatternRunner(context(judge))
        for event in [search(T0 + days(d), agency="Reno NV PD") for d in range(3)]:
            obs = observe(judge, event)
            assert obs is not None
            runner.observe(obs)
        assert all(len(runner.stores[kind]) for kind in (REPEAT, "misuse.isolated_session", "volume.surge"))
        runner.advance_all(T0 + days(60))
        assert len(runner.stores["volume.surge"]) == 0
        assert len(runner.stores[REPEAT]) == 1
        runner.advance_all(T0 + days(95))
        assert len(runner.stores[REPEAT]) == 0
        assert len(runner.stores["misuse.isolated_session"]) == 0
        # Standing access stays while it is not revoked; the first sighting of an agency stays for good.
        assert len(runner.stores[STANDING]) == 1
        assert len(runner.stores["volume.new_requester"]) == 1

    def test_state_holds_no_plate_or_user(self) -> None:
        """Encoded state of every detector holds hashes, never the plate or the user name."""
        judge = engine()
        runner = PatternRunner(context(judge))
        runner_bytes = PatternRunner(runner.ctx, stores={d.kind: BytesStore(d) for d in runner.detectors})
        run(judge, [search(T0 + days(d), plate="SECRET1", user="jane.doe") for d in range(6)], runner_bytes)
        blob = b"".join(b for d in runner_bytes.detectors for b in runner_bytes.stores[d.kind].data.values())  # type: ignore[attr-defined]
        assert blob
        assert b"SECRET1" not in blob
        assert b"jane.doe" not in blob.lower()


class TestPatternPolicy:
    BASE = "owners:\n  - {id: lb, agency: Long Beach CA PD, state: CA%s}\n"

    def test_owner_override_merges_over_defaults(self) -> None:
        """An owner's override changes one threshold and keeps the rest of the defaults."""
        policy = parse_policy((self.BASE % ", patterns: {repeat_target: {high_searches: 7}}").encode(), "t")
        settings = policy.pattern_settings("lb")
        assert settings.repeat_target.high_searches == 7
        assert settings.repeat_target.medium_searches == 5
        assert policy.pattern_settings("other").repeat_target.high_searches == 10

    @pytest.mark.parametrize(
        ("override", "named"),
        [("{repeat_target: {high_searches: -1}}", "high_searches"), ("{surge: {flor: 3}}", "flor")],
    )
    def test_bad_override_is_refused_naming_owner_and_field(self, override: str, named: str) -> None:
        """A bad threshold stops the policy with the owner and the field named."""
        with pytest.raises(PolicyError, match=rf"lb.*{named}"):
            parse_policy((self.BASE % f", patterns: {override}").encode(), "t")

    def test_shipped_policy_documents_the_defaults(self) -> None:
        """default-policy.yaml's patterns section states exactly the defaults of the code, so it cannot drift."""
        shipped = load_policy()
        assert shipped.patterns == PatternSettings()
        assert set(PatternSettings.model_fields) == set(shipped.patterns.model_dump())

    def test_override_can_switch_a_detector_off(self) -> None:
        """An owner may switch standing access off (for example while an agreement is recorded elsewhere)."""
        yaml = self.BASE % ", patterns: {standing_access: {enabled: false}}"
        alerts = run(engine(yaml), [sharing(T0, "grant", FEDERAL)])
        assert of_kind(alerts, STANDING) == []
        assert of_kind(run(engine(self.BASE % ""), [sharing(T0, "grant", FEDERAL)]), STANDING)


class TestObservation:
    def test_federal_search_is_prohibited_by_the_packs_rule(self) -> None:
        """The engine's federal-recipient rule makes the observation prohibited, with its rule and citations."""
        obs = observe(engine(), search(T0, agency="FBI", plate="7ABC123"))
        assert obs is not None
        assert obs.prohibited == "critical"
        assert obs.prohibited_kind == "recipient.federal"
        assert obs.citations
        assert obs.plate_hash is not None
        assert "7ABC123" not in msgspec.json.encode(obs).decode()

    def test_proxy_holds_its_own_access(self) -> None:
        """An in-state proxy searching for a federal agency is not itself a prohibited holder of access."""
        event = search(T0, agency="NCRIC")
        proxied = msgspec.structs.replace(event, requester=msgspec.structs.replace(event.requester, on_behalf_of="FBI"))
        judge = engine()
        assert any(alert.kind == "recipient.federal" for alert in judge.judge(proxied))
        obs = observe(judge, proxied)
        assert obs is not None
        assert obs.jurisdiction == "in_state"
        assert obs.prohibited is None

    def test_inbound_and_denied_changes_are_not_observed(self) -> None:
        """Inbound sharing and denied requests say nothing about access to the owner's data."""
        judge = engine()
        inbound = sharing(T0, "grant", FEDERAL)
        inbound = msgspec.structs.replace(
            inbound, sharing=msgspec.structs.replace(inbound.sharing, direction="inbound")
        )
        assert observe(judge, inbound) is None
        assert observe(judge, sharing(T0, "deny_request", FEDERAL)) is None

    def test_unlisted_owner_keys_by_its_folded_name(self) -> None:
        """An owner the policy does not list keys its state, and its partition, by its folded name."""
        judge = engine()
        event = search(T0, owner=Owner(agency="Smallville  CA PD", state="CA"), agency="Clovis CA PD")
        obs = observe(judge, event)
        assert obs is not None
        assert obs.owner_key == "~smallville ca pd"
        assert partition_key(judge, event) == b"~smallville ca pd"
        assert obs.owner_id == "other"
