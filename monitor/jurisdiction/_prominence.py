"""Which of several places of one name a bare agency name most likely means.

"Houston Police Department" names no state, and the gazetteer knows ten Houstons; but one has two million
people and the next a few thousand, so a person reads it as Texas. That is what `prominent_state` does: the
largest place wins only when it dwarfs every other of the name. Near equals ("Glendale": Arizona 240,000,
California 201,000) stay ambiguous, and the candidates with their populations go into the evidence.

The owner's own state is the other evidence a person uses ("Springfield Police Department" in an Oregon
agency's sharing list): `favours_home` accepts it when that state has a place of the name that is not
dwarfed by another. Both lean towards calling a requester local, the direction that can hide a violation,
so California, where a wrong "local" silently passes a forbidden access, needs a far larger margin.
"""

from __future__ import annotations

from collections.abc import Iterable

from monitor.jurisdiction._gazetteer import Gazetteer

__all__ = ["describe", "favours_home", "prominent_state", "weigh"]

_CAUTIOUS = "CA"
MIN_PEOPLE = 20_000  # a place smaller than this is nobody's obvious referent
SMALL_PLACE = 1_000  # a place missing from the population list (under 500 people, or a postal alias)
DWARF = 10  # the largest place must be this many times every other
CAUTIOUS_DWARF = 25
HOME_MARGIN = 20  # the owner's state wins unless another place of the name is this many times larger
_UNKNOWN_SIZE = frozenset({"county", "parish", "borough"})  # no population data for these


Weights = tuple[tuple[str, int], ...]


def weigh(gaz: Gazetteer, place: str, states: Iterable[str]) -> Weights:
    """The candidate states with the population of their place of this name, largest first."""
    return tuple(sorted(((s, gaz.population(place, s)) for s in states), key=lambda sp: (-sp[1], sp[0])))


def describe(place: str, weights: Weights, *, limit: int = 6) -> str:
    """Evidence text: `glendale: AZ 240,126; CA 201,020; NY 34,389; +9 smaller`."""
    shown = [f"{state} {people:,}" if people else state for state, people in weights[:limit]]
    more = f"; +{len(weights) - limit} smaller" if len(weights) > limit else ""
    return f"{place}: {'; '.join(shown)}{more}"


def _sized(place: str) -> bool:
    return not (set(place.split()) & _UNKNOWN_SIZE)


def prominent_state(place: str, weights: Weights) -> str | None:
    """The state whose place of this name dwarfs all others, or None when none does."""
    if len(weights) < 2 or not _sized(place):
        return None
    (top, people), (_, runner_up) = weights[0], weights[1]
    factor = CAUTIOUS_DWARF if top == _CAUTIOUS else DWARF
    if people >= MIN_PEOPLE and people >= factor * max(runner_up, SMALL_PLACE):
        return top
    return None


def favours_home(place: str, weights: Weights, home: str) -> bool:
    """Whether the owner's state `home` is a fair reading: it has the place, and no other dwarfs it."""
    people = dict(weights)
    if home not in people or not _sized(place):
        return False
    largest_other = max((p for s, p in weights if s != home), default=0)
    ours = max(people[home], SMALL_PLACE)
    if home == _CAUTIOUS:
        # California needs the name to mean California without the owner's help.
        return people[home] >= MIN_PEOPLE and people[home] >= DWARF * max(largest_other, SMALL_PLACE)
    return ours * HOME_MARGIN >= largest_other
