"""AgencyResolver: from an organisation's name (and ORI, and the vendor's state field) to a Resolution.

Evidence in order of strength:
1. The owner's registry (agencies it has agreements with or vouches for), matched on the normalised
   name. It wins, except that a registry entry calling a plainly federal name local is a conflict
   ("California Border Patrol" listed as a California agency), which resolves as unresolved.
2. An ORI. Its first two letters give the state; it never gives the class (federal offices hold ORIs
   too), except that a federal agency code in it makes the requester federal. It confirms (HIGH) or
   overrides the state read from a local agency's name, and supplies the state of a public body whose
   name gives none ("Glendale Police Department"). A malformed ORI is ignored and noted.
3. The name (see `_reading`).
4. The vendor's state field (`stated_state`). It may place a public agency whose name is ambiguous, but
   only where the gazetteer has that place in that state; it never changes a federal, tribal, private or
   placeholder reading. When it disagrees with the name the confidence drops one step (HIGH to MEDIUM,
   MEDIUM to unresolved), except that it may name the smaller of two places ("Houston", stated MS).
5. The owner's own state (`home_state`), for a public body named after a place that several states have
   ("Springfield Police Department" in an Oregon agency's list), when that state's place of the name is not
   dwarfed by another (see `_prominence`); California only when its place dwarfs the others anyway.

A California claim that any other piece of evidence contradicts is always unresolved: a wrong
"California" silently passes an access that California law forbids.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from monitor.jurisdiction._gazetteer import gazetteer
from monitor.jurisdiction._ori import Ori, parse_ori
from monitor.jurisdiction._prominence import describe, favours_home, weigh
from monitor.jurisdiction._reading import Reading, read_name, strip_markers
from monitor.jurisdiction._text import normalize
from monitor.jurisdiction.model import AgencyClass, Confidence, RegistryEntry, Resolution

__all__ = ["AgencyResolver"]

_CACHE_LIMIT = 200_000
_CAUTIOUS = "CA"
_NAMED_CLASSES = frozenset({AgencyClass.FEDERAL, AgencyClass.TRIBAL, AgencyClass.PRIVATE, AgencyClass.PLACEHOLDER})
_PLACEABLE = frozenset({"ambiguous-place", "no-evidence"})


def _with_state(found: Resolution, state: str | None) -> Resolution:
    return found if found.state or not state else replace(found, state=state)


def _unresolved(matched: str) -> Resolution:
    return Resolution(AgencyClass.UNRESOLVED, None, Confidence.LOW, "state-conflict", matched)


class AgencyResolver:
    """Resolves organisation names to a class and a state; cheap to call again with the same arguments."""

    def __init__(self, registry: Iterable[RegistryEntry] = (), home_state: str | None = None) -> None:
        gaz = gazetteer()
        self._codes = gaz.state_codes
        if home_state is not None and home_state not in self._codes:
            msg = f"home state {home_state!r} is not a two-letter USPS code"
            raise ValueError(msg)
        self.home_state = home_state
        self._registry: dict[str, RegistryEntry] = {}
        for entry in registry:
            if entry.state is not None and entry.state not in self._codes:
                msg = f"registry entry {entry.name!r}: state {entry.state!r} is not a two-letter USPS code"
                raise ValueError(msg)
            if entry.agency_class is AgencyClass.STATE_LOCAL and entry.state is None:
                msg = f"registry entry {entry.name!r}: a state or local agency needs its state"
                raise ValueError(msg)
            self._registry[normalize(strip_markers(entry.name)[0])] = entry
        self._cache: dict[tuple[str, str | None, str | None], Resolution] = {}

    def resolve(self, name: str, ori: str | None = None, stated_state: str | None = None) -> Resolution:
        """Who `name` is. `ori` and `stated_state` are optional extra evidence (see the module docstring)."""
        key = (name, ori, stated_state)
        found = self._cache.get(key)
        if found is None:
            found = self._resolve(name, ori, stated_state)
            if len(self._cache) >= _CACHE_LIMIT:
                del self._cache[next(iter(self._cache))]  # oldest first: bounded memory on endless new names
            self._cache[key] = found
        return found

    def _resolve(self, name: str, ori: str | None, stated_state: str | None) -> Resolution:
        reading = read_name(name)
        if self._registry:
            entry = self._registry.get(normalize(strip_markers(name)[0]))
            if entry is not None:
                return self._from_registry(entry, reading)
        found = reading.resolution
        notes: list[str] = []
        if ori and ori.strip():
            parsed = parse_ori(ori, self._codes)
            if parsed is None:
                notes.append(f"ORI {ori!r} ignored: not two state letters and seven letters or digits")
            else:
                found = self._with_ori(found, reading, parsed)
        if stated_state and stated_state.strip():
            code = stated_state.strip().upper()
            if code not in self._codes:
                notes.append(f"stated state {stated_state!r} ignored: not a state code")
            else:
                found = self._with_stated(found, reading, code)
        if self.home_state is not None:
            found = self._with_home(found, reading, self.home_state)
        if notes:
            found = replace(found, matched=f"{found.matched}; {'; '.join(notes)}")
        return found

    @staticmethod
    def _from_registry(entry: RegistryEntry, reading: Reading) -> Resolution:
        said = reading.resolution
        if (
            entry.agency_class is AgencyClass.STATE_LOCAL
            and said.agency_class is AgencyClass.FEDERAL
            and said.confidence is Confidence.HIGH
        ):
            return Resolution(
                AgencyClass.UNRESOLVED, entry.state, Confidence.LOW, "registry-conflict",
                f"registry lists {entry.name!r} as {entry.state} but the name names {said.matched!r}",
            )  # fmt: skip
        conf = Confidence.LOW if entry.agency_class is AgencyClass.UNRESOLVED else Confidence.HIGH
        return Resolution(entry.agency_class, entry.state, conf, "registry", entry.name)

    @staticmethod
    def _with_ori(found: Resolution, reading: Reading, ori: Ori) -> Resolution:
        cls = found.agency_class
        if ori.federal and cls is not AgencyClass.FEDERAL:
            return Resolution(
                AgencyClass.FEDERAL, found.state or ori.state, Confidence.MEDIUM, "ori",
                f"ORI {ori.code} (federal agency code {ori.code[2:5]}); name read as {cls}",
            )  # fmt: skip
        if cls in _NAMED_CLASSES:
            return _with_state(found, ori.state)
        if cls is AgencyClass.STATE_LOCAL:
            if found.state == ori.state:
                return Resolution(cls, ori.state, Confidence.HIGH, "ori", f"ORI {ori.code} and {found.matched}")
            if _CAUTIOUS in (found.state, ori.state):
                return _unresolved(f"ORI {ori.code} ({ori.state}) vs name {found.matched} ({found.state})")
            return Resolution(cls, ori.state, Confidence.MEDIUM, "ori", f"ORI {ori.code}; name said {found.state}")
        local_shape = ori.county_coded and ori.state != "DC"
        if found.resolved_by in _PLACEABLE and reading.public_body and local_shape:
            if reading.place_states and ori.state not in reading.place_states and ori.state == _CAUTIOUS:
                return _unresolved(f"ORI {ori.code} ({ori.state}) vs {reading.place} (not in {ori.state})")
            conf = Confidence.HIGH if ori.state in reading.place_states else Confidence.MEDIUM
            return Resolution(AgencyClass.STATE_LOCAL, ori.state, conf, "ori", f"ORI {ori.code}; {found.matched}")
        return _with_state(found, ori.state)

    @staticmethod
    def _with_home(found: Resolution, reading: Reading, home: str) -> Resolution:
        """An ambiguous or merely prominent place that the owner's own state has, and fairly (see `_prominence`)."""
        if found.resolved_by not in {"ambiguous-place", "prominent-place"} or not reading.public_body:
            return found
        if found.state == home:
            return found
        weights = weigh(gazetteer(), reading.place, reading.place_states)
        if not favours_home(reading.place, weights, home):
            return found
        evidence = f"owner's state {home}; {describe(reading.place, weights)}"
        return Resolution(AgencyClass.STATE_LOCAL, home, Confidence.MEDIUM, "home-state", evidence)

    @staticmethod
    def _with_stated(found: Resolution, reading: Reading, code: str) -> Resolution:
        cls = found.agency_class
        if found.resolved_by == "prominent-place" and code != found.state and code in reading.place_states:
            # The vendor names the smaller place's state: it knows which Houston it meant.
            return Resolution(
                AgencyClass.STATE_LOCAL, code, Confidence.MEDIUM, "stated-state",
                f"{reading.place} exists in {code} (stated state); {found.matched}",
            )  # fmt: skip
        if cls is AgencyClass.STATE_LOCAL:
            if found.state == code:
                if found.resolved_by == "place-gazetteer":  # a unique place and the vendor agree
                    return replace(found, confidence=Confidence.HIGH, matched=f"{found.matched}; stated {code}")
                return found
            note = f"{found.matched} ({found.state}) vs stated state {code}"
            if _CAUTIOUS in (found.state, code) or found.confidence is not Confidence.HIGH:
                return _unresolved(note)
            return replace(found, confidence=Confidence.MEDIUM, matched=note)
        if (
            cls is AgencyClass.UNRESOLVED
            and found.resolved_by == "ambiguous-place"
            and reading.public_body
            and code in reading.place_states
        ):
            return Resolution(
                AgencyClass.STATE_LOCAL, code, Confidence.MEDIUM, "stated-state",
                f"{reading.place} exists in {code} (stated state)",
            )  # fmt: skip
        return _with_state(found, code)
