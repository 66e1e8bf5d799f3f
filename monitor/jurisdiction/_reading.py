"""Reading an organisation's name alone: what kind of body it is, and which state it names.

Two questions are answered separately and then combined. Where: a state code written in capitals
("Acworth GA PD", "OR - Josephine County SO", "Chino PD (CA)"), a state name in an agency's position
("Ohio State Highway Patrol", "Attorney General of Illinois") or at the end, or failing both a place or
county from the gazetteer that exists in exactly one state ("Yuba County Sheriffs Office"). What: in
this order federal, placeholder, tribal, private, multi-state network, National Guard (dual status),
weak federal, California body, university or college, hospital, company-like words, and only then a
public agency of the state found.

A public agency needs a state and either a public-body word (police, sheriff, county, department, ...)
or a place confirmed by the gazetteer: "Lynne Drake" or "Acme CA" is not an agency of anything.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from monitor.jurisdiction import _patterns as p
from monitor.jurisdiction._gazetteer import Gazetteer, gazetteer
from monitor.jurisdiction._prominence import MIN_PEOPLE, describe, prominent_state, weigh
from monitor.jurisdiction._text import Tokens, tokenize
from monitor.jurisdiction.model import AgencyClass, Confidence, Resolution

__all__ = ["Reading", "read_name", "strip_markers"]

_PAREN_CODE = re.compile(r"\(\s*([A-Z]{2})\s*\)")
_DIRECTIONS = frozenset(
    {"the", "north", "south", "east", "west", "northern", "southern", "eastern", "western", "central",
     "northeast", "northwest", "southeast", "southwest"}
)  # fmt: skip
# Words after a state name that make it part of a place ("Kansas City", "Virginia Beach").
_PLACE_NEXT = p.PLACE_TYPES | {
    "beach", "springs", "heights", "falls", "hills", "dunes", "rapids", "lake", "river", "park", "valley", "grove",
    "island", "harbor", "bay", "point", "creek", "mills", "metropolitan", "metro", "area", "avenue", "street",
}  # fmt: skip
# After a state name at the start, these make it a city's agency ("Washington Police Department").
_CITY_AGENCY = p.LOCAL_SUFFIXES | {"fire", "township", "village", "town", "city", "county", "municipal"}
# Words that end a place name whatever the gazetteer says; other agency words ("Park", "Harbor") may be
# part of a place ("Baldwin Park CA PD") when the gazetteer knows the longer name.
_HARD_STOP = frozenset(
    {"pd", "so", "sd", "fd", "da", "dps", "police", "sheriff", "department", "office", "of", "the", "and"}
)
_NEVER_FIRST = _HARD_STOP | {"state", "county", "city", "town"}
_CITY_SUFFIXES = frozenset({"pd", "so", "sd", "fd", "da"})  # "Washington PD" is a city's; "Ohio DPS" is not
# Words that end a place name without naming a public body ("Memphis Intl Airport").
_PLACE_STOP = frozenset({"international", "regional", "metropolitan", "consolidated", "unified", "joint", "area"})
_INSTITUTION_PLACES = frozenset({"park", "city", "place", "heights", "station", "hill", "hills", "grove", "point"})
_CITY_TYPES = frozenset({"city", "town", "township", "village", "borough"})
_DIRECTIONAL = "(?:(?:north|south|east|west|central|northern|southern|eastern|western) )?"
_CAUTIOUS = "CA"
# Words after a Veterans Affairs "VA" ("VA Police", "VA PD", "VA Medical Center").
_VA_UNITS = frozenset({"police", "pd", "medical", "hospital", "health", "healthcare", "clinic", "vamc"})


@dataclass(frozen=True, slots=True)
class Reading:
    """What the name alone says, plus the facts later evidence (ORI, vendor state) is checked against."""

    resolution: Resolution
    place: str  # the place phrase read from the name, normalised ("" if none)
    place_states: frozenset[str]  # states where the gazetteer knows that place
    public_body: bool  # the name has a word naming a public body (police, county, ...)


@dataclass(frozen=True, slots=True)
class _Where:
    code: str | None  # the state code written in the name
    conflict: tuple[str, ...]  # codes that could not be reconciled
    agency_state: str | None  # a state named as an agency's owner ("Ohio State ...", "... of Illinois")
    agency_span: str
    other_state: str | None  # a state named at the end or after a direction word
    other_span: str
    place: str
    place_states: frozenset[str]

    @property
    def locality(self) -> bool:
        """Whether the name points at any state at all."""
        return bool(self.code or self.conflict or self.agency_state or self.other_state)

    def informational(self) -> str | None:
        """Where a body sits as its name says it, for classes where the state is informational."""
        return self.code or self.agency_state or self.other_state


def strip_markers(name: str) -> tuple[str, tuple[str, ...]]:
    """The name without account markers ("(Do Not Use)", "- Old", "DNU"), and the markers found."""
    found = tuple(m.group().strip(" -(") for m in p.DEPRECATION_MARKERS.finditer(name))
    if not found:
        return name, ()
    cleaned = p.DEPRECATION_MARKERS.sub(" ", name)
    cleaned = re.sub(r"\(\s*[-\s]*\)", " ", cleaned)
    return cleaned, found


def _cut_place(words: list[str]) -> str:
    """The place at the start of `words`: up to the first agency word, keeping "County"/"City" and the like."""
    while words and words[0] == "the":
        words = words[1:]
    if len(words) > 2 and words[0] in p.PLACE_TYPES and words[1] == "of":
        words = words[2:]
    out: list[str] = []
    for word in words:
        if word in p.PLACE_TYPES:
            if out:
                out.append(word)
            break
        # A body word may start a place name ("Marshall TX", "Park City UT"), never an agency suffix.
        stop = word in p.PUBLIC_BODY or word in _PLACE_STOP or word.isdigit() or word == "of"
        if stop and (out or word in _NEVER_FIRST):
            break
        out.append(word)
    return " ".join(out)


def _place_states(gaz: Gazetteer, place: str) -> frozenset[str]:
    """States with this place; "Ogden City" falls back to "Ogden", "Athens Clarke County" to "Clarke County"."""
    if not place:
        return frozenset()
    found = gaz.states_of(place)
    words = place.split()
    if not found and len(words) > 1 and words[-1] in _CITY_TYPES:
        found = gaz.states_of(" ".join(words[:-1]))
    if not found and len(words) > 2 and words[-1] in p.PLACE_TYPES:
        found = gaz.states_of(" ".join(words[-2:]))
    return found


def _va_facility(tokens: Tokens, index: int, gaz: Gazetteer) -> bool:
    """Whether the "VA" at `index` is Veterans Affairs, not Virginia: "VA Police ...", or "VA Police|PD|Medical
    ..." right after another state code ("Loma Linda CA VA Police", "Salem VA VA Medical Center"), where a
    second state code could not be the agency's state, or after a place Virginia does not have ("Tomah VA
    Police"). "Richmond VA PD" stays Virginia.
    """
    caps, norm = tokens.caps, tokens.norm
    if caps[index] != "VA" or index + 1 >= len(norm) or norm[index + 1] not in _VA_UNITS:
        return False
    if index == 0 or (caps[index - 1].isupper() and caps[index - 1] in gaz.state_codes):
        return True
    # "Tomah VA Police": when all that comes before is a place that exists, but not in Virginia, it is where
    # a VA medical centre sits ("Virginia Commonwealth University VA PD" has more than a place before it).
    before = list(norm[:index])
    where = gaz.states_of(" ".join(before))
    return _cut_place(before) == " ".join(before) and bool(where) and "VA" not in where


def _codes(tokens: Tokens, gaz: Gazetteer) -> list[tuple[int, str]]:
    """State codes written in the name, with their token positions (a Veterans Affairs "VA" is none)."""
    out: list[tuple[int, str]] = []
    n = len(tokens.caps)
    for i, raw in enumerate(tokens.caps):
        if len(raw) != 2 or raw.upper() not in gaz.state_codes or _va_facility(tokens, i, gaz):
            continue
        if raw != raw.upper() and (raw == "Co" or i != n - 2 or tokens.norm[-1] not in {"pd", "so"}):
            continue  # lower case only in the Flock slot: "Crestview Fl PD"
        following = tokens.norm[i + 1] if i + 1 < n else ""
        if raw.upper() == "LA" and following in {"county", "city", "port", "metro"}:
            continue  # Los Angeles
        out.append((i, raw.upper()))
    return out


def _words_for(tokens: Tokens, index: int, dropped: dict[int, str]) -> list[str]:
    """The words naming the place next to the code at `index`: before it, or after it when it leads."""
    span = range(index) if index > 0 else range(index + 1, len(tokens.norm))
    return [dropped.get(i, tokens.norm[i]) for i in span if dropped.get(i, tokens.norm[i])]


def _choose_code(
    tokens: Tokens, raw_name: str, gaz: Gazetteer
) -> tuple[str | None, tuple[str, ...], int, dict[int, str]]:
    """The one state code of the name, or the conflicting candidates."""
    found = _codes(tokens, gaz)
    distinct = {code for _, code in found}
    dropped: dict[int, str] = {}
    for extra, meaning in (("CO", "county"), ("SD", "")):  # "Wagoner CO OK SO", "Riverside County CA SD"
        if len(distinct) > 1 and extra in distinct:
            distinct.discard(extra)
            dropped.update({i: meaning for i, code in found if code == extra})
    if len(distinct) > 1 and _CAUTIOUS in distinct:
        # A California claim contradicted by another code is never settled by a tie-break (parentheses,
        # the gazetteer): a wrong "California" silently passes an access California law forbids.
        return None, tuple(sorted(distinct)), -1, dropped
    if len(distinct) > 1:
        in_parens = set(_PAREN_CODE.findall(raw_name)) & distinct
        if len(in_parens) == 1:
            distinct = in_parens
    if len(distinct) > 1:
        supported = {
            code for i, code in found if code in distinct and code in _place_states(
                gaz, _cut_place(_words_for(tokens, i, dropped)))
        }  # fmt: skip
        if len(supported) == 1:
            distinct = supported
    if len(distinct) != 1:
        return None, tuple(sorted(distinct)), -1, dropped
    code = distinct.pop()
    index = next(i for i, c in found if c == code)
    if code == "CO" and len(found) == 1:
        # "Grundy CO SO": Colorado, or "County"? Colorado only if Colorado has that place or county.
        before = _cut_place(_words_for(tokens, index, {}))
        counties = gaz.states_of(f"{before} county") if before else frozenset()
        if counties and "CO" not in counties and "CO" not in _place_states(gaz, before):
            return None, (), -1, {index: "county"}
    return code, (), index, dropped


def _state_names(
    tokens: Tokens, gaz: Gazetteer, code: str | None, place: str
) -> tuple[str | None, str, str | None, str]:
    """States named in words: as an agency's owner, and elsewhere (at the end, after a direction)."""
    norm = tokens.norm
    public_body = any(w in p.PUBLIC_BODY for w in norm)
    n = len(norm)
    agency: tuple[str | None, str] = (None, "")
    other: tuple[str | None, str] = (None, "")
    i = 0
    while i < n:
        for length in (3, 2, 1):
            span = " ".join(norm[i : i + length])
            if i + length <= n and span in gaz.state_names:
                break
        else:
            i += 1
            continue
        start, end, state = i, i + length, gaz.state_names[span]
        i = end
        following = norm[end] if end < n else ""
        before = norm[start - 1] if start > 0 else ""
        if following in _PLACE_NEXT or (following and gaz.states_of(f"{span} {following}")):
            continue  # "Kansas City", "Indiana Township", "Nevada City"
        if f" {span} " in f" {place} " and (code in gaz.states_of(place) or (code and code in gaz.states_of(span))):
            continue  # "Nevada MO PD", "Port Washington WI PD": a place named like a state
        rest = norm[end:]
        at_start = start == 0 or (start == 1 and norm[0] in _DIRECTIONS)
        acronym = end < n and tokens.caps[end].isupper() and len(tokens.caps[end]) > 1
        generic = public_body and following not in _CITY_AGENCY  # "Northern California Computer Crimes Task Force"
        if at_start and (following in p.STATE_AGENCY_NEXT or generic or (acronym and following not in _CITY_SUFFIXES)):
            agency = agency if agency[0] else (state, " ".join(norm[start : end + 1]))
        elif before == "of" and not (start > 1 and norm[start - 2] in p.PLACE_TYPES):
            agency = agency if agency[0] else (state, " ".join(norm[max(0, start - 2) : end]))
        elif start > 0 and all(w in p.LOCAL_SUFFIXES or w in p.PUBLIC_BODY or len(w) == 2 for w in rest):
            other = other if other[0] else (state, span)
        elif before in _DIRECTIONS and start > 1:
            other = other if other[0] else (state, " ".join(norm[start - 1 : end]))
    return agency[0], agency[1], other[0], other[1]


def _longest_place(gaz: Gazetteer, words: list[str], state: str | None) -> tuple[str, frozenset[str]]:
    """The longest leading run of `words` that the gazetteer knows (in `state`, when given)."""
    if words and words[0] == "the":
        words = words[1:]
    if len(words) > 2 and words[0] in p.PLACE_TYPES and words[1] == "of":
        words = words[2:]
    best = ("", frozenset[str]())
    for k in range(1, min(len(words), 6) + 1):
        if words[k - 1] in _HARD_STOP or words[k - 1].isdigit():
            break
        if state is None and all(w in p.PUBLIC_BODY or w in _PLACE_STOP for w in words[:k]):
            continue  # uncorroborated, "Public" is not a place however many Publics there are
        phrase = " ".join(words[:k])
        states = _place_states(gaz, phrase)
        if states and (state is None or state in states):
            best = (phrase, states)
    return best


def _where(tokens: Tokens, raw_name: str, gaz: Gazetteer) -> _Where:
    code, conflict, index, dropped = _choose_code(tokens, raw_name, gaz)
    if code is not None:
        words = _words_for(tokens, index, dropped)
        if words and words[-1] in gaz.state_names and gaz.state_names[words[-1]] == code:
            words = words[:-1]  # "Hartland Wisconsin WI PD"
    else:
        words = [dropped.get(i, w) for i, w in enumerate(tokens.norm) if dropped.get(i, w)]
    place, states = _longest_place(gaz, words, code)
    if not place:
        place = _cut_place(words)
        generic = all(w in p.PUBLIC_BODY or w in _PLACE_STOP for w in place.split())
        states = frozenset() if code is None and generic else _place_states(gaz, place)
    agency, agency_span, other, other_span = _state_names(tokens, gaz, code, place)
    return _Where(code, conflict, agency, agency_span, other, other_span, place, states)


@functools.cache
def _named_institution() -> re.Pattern[str]:
    """ "University of <State>", "<State> (State) University", "<State> Tech", "<State> A&M"."""
    names = "|".join(re.escape(s) for s in sorted(gazetteer().state_names, key=len, reverse=True))
    return re.compile(
        f" university of (?:the )?{_DIRECTIONAL}({names}) "
        f"| ({names}) {_DIRECTIONAL}(?:state )?university "
        f"| ({names}) (?:tech|a and m|a and t) "
    )


def _res(cls: AgencyClass, state: str | None, conf: Confidence, by: str, matched: str) -> Resolution:
    return Resolution(cls, state, conf, by, matched)


def _unresolved(state: str | None, by: str, matched: str) -> Resolution:
    return Resolution(AgencyClass.UNRESOLVED, state, Confidence.LOW, by, matched)


def _institution_word(text: str, where: _Where) -> str | None:
    """A university or college word that is not the start of a place ("College Park", "University City")."""
    for match in p.INSTITUTION.finditer(text):
        following = text[match.end() :].split(" ", 2)[1:2]
        if following and following[0] in _INSTITUTION_PLACES:
            continue
        if _search(p.INSTITUTION, f" {match.group()} ", where):
            return match.group()
    return None


def _search(pattern: re.Pattern[str], text: str, where: _Where) -> str | None:
    """The first match outside a confirmed place name ("Red Bank NJ" has no bank in it)."""
    confirmed = (where.code or where.other_state) in where.place_states or (
        len(where.place_states) == 1 and not where.locality
    )
    guarded = f" {where.place} " if where.place and confirmed else ""
    for match in pattern.finditer(text):
        if not guarded or f" {match.group()} " not in guarded:
            return match.group()
    return None


def _named_after_city(where: _Where, text: str, public: str) -> str | None:
    """The state of "<City> Community College": a city of one state, large enough to be what the name means
    (colleges are named after people as often as places: Nicholls State University is not in Nicholls, GA)."""
    if len(where.place_states) != 1 or f" {where.place} {public} " not in text:
        return None
    (state,) = where.place_states
    return state if gazetteer().population(where.place, state) >= MIN_PEOPLE else None


def _starts_inside_place(hit: str, text: str, place: str) -> bool:
    """Whether `hit` begins with the last word of the place name just before it ("highland park" + "park police")."""
    if not place:
        return False
    first, _, rest = hit.partition(" ")
    return place.split()[-1] == first and f" {place} {rest} " in text


def _transit_agency(text: str, where: _Where) -> Resolution | None:
    """A public transit agency's police named by the agency ("MARTA PD", "SEPTA Transit Police")."""
    for name, state in p.TRANSIT_AGENCIES.items():
        if f" {name} " in text:
            said = where.code or where.agency_state or where.other_state
            if said and said != state:
                return None  # another state's body that shares the words ("Fox Valley Metro WI PD")
            return _res(AgencyClass.STATE_LOCAL, state, Confidence.MEDIUM, "transit-agency", name)
    return None


def _federal(tokens: Tokens, where: _Where) -> str | None:
    """A strong federal marker: an agency, a unit, an installation, a federal land-management area."""
    acronym = next((c for c in tokens.caps if c in p.FEDERAL_ACRONYMS and c.isupper() and c != "US"), None)
    if acronym:
        return acronym
    text = tokens.text
    for match in p.FEDERAL_PHRASES.finditer(text):
        hit = match.group()
        if hit in {"army", "navy", "naval"} and (p.PRIVATE_STRONG.search(text) or " national guard " in text):
            continue  # "Salvation Army", "Navy Federal Credit Union", "Army National Guard" (state)
        if "veterans affairs" in hit and where.agency_state:
            continue  # "California Department of Veterans Affairs" is a state department
        return hit
    gaz = gazetteer()
    va = next((i for i in range(len(tokens.caps)) if _va_facility(tokens, i, gaz)), None)
    if va is not None:
        return f"VA {tokens.norm[va + 1]}"
    for name, state in p.FEDERAL_INSTALLATIONS.items():
        if f" {name} " in text and where.code in (None, state):
            return name
    return "US" if "US" in tokens.caps else None


def _institution(tokens: Tokens, where: _Where, hit: str) -> Resolution:
    """A university or college: public, private, or unknown."""
    text = tokens.text
    # Not the gazetteer: colleges are named after people as often as places ("Nicholls State University").
    state = where.code or where.agency_state or where.other_state
    community_college = p.CA_COMMUNITY_COLLEGES.search(text)
    if state == "CA" and community_college:
        return _res(AgencyClass.STATE_LOCAL, "CA", Confidence.MEDIUM, "public-institution", community_college.group())
    public = p.PUBLIC_INSTITUTION.search(text)
    if public and state is None:
        state = _named_after_city(where, text, public.group())
    if public and state:
        if state == "CA" and not p.CA_PUBLIC_INSTITUTIONS.search(text):
            return _unresolved(state, "ambiguous-institution", public.group())
        return _res(AgencyClass.STATE_LOCAL, state, Confidence.MEDIUM, "public-institution", public.group())
    private = p.PRIVATE_INSTITUTION.search(text)
    if private:
        return _res(AgencyClass.PRIVATE, state, Confidence.MEDIUM, "private-pattern", private.group())
    named = _named_institution().search(text)
    if named:
        span = next(g for g in named.groups() if g)
        named_state = gazetteer().state_names[span]
        if named_state != "CA" and (where.code or named_state) == named_state:
            return _res(AgencyClass.STATE_LOCAL, named_state, Confidence.MEDIUM, "public-institution",
                        named.group().strip())  # fmt: skip
    if where.code and f" university of {where.code.lower()} " in text and where.code != "CA":
        return _res(AgencyClass.STATE_LOCAL, where.code, Confidence.MEDIUM, "public-institution",
                    f"university of {where.code}")  # fmt: skip
    return _unresolved(state, "ambiguous-institution", hit)


def _local(tokens: Tokens, where: _Where, public_body: bool) -> Resolution:
    """A public agency of the state the name gives, or unresolved when the name gives too little."""
    confirmed = bool(where.code and where.code in where.place_states)
    if where.conflict:
        return _unresolved(None, "state-conflict", "state codes " + ", ".join(where.conflict))
    if where.agency_state:
        if where.code and where.code != where.agency_state:
            return _unresolved(None, "state-conflict", f"{where.agency_span} vs {where.code}")
        conf = Confidence.HIGH if where.code == where.agency_state else Confidence.MEDIUM
        return _res(AgencyClass.STATE_LOCAL, where.agency_state, conf, "state-agency-name", where.agency_span)
    if where.code:
        if where.other_state and where.other_state != where.code:
            return _unresolved(None, "state-conflict", f"{where.other_span} vs {where.code}")
        if confirmed:
            return _res(AgencyClass.STATE_LOCAL, where.code, Confidence.HIGH, "state-code-in-name",
                        f"{where.place} {where.code}")  # fmt: skip
        if public_body:
            return _res(AgencyClass.STATE_LOCAL, where.code, Confidence.MEDIUM, "state-code-in-name", where.code)
        return _unresolved(where.code, "no-evidence", f"{where.code}, but no agency word")
    if where.other_state:
        if where.other_state in where.place_states:
            return _res(AgencyClass.STATE_LOCAL, where.other_state, Confidence.HIGH, "state-code-in-name",
                        f"{where.place} {where.other_span}")  # fmt: skip
        if public_body:
            return _res(AgencyClass.STATE_LOCAL, where.other_state, Confidence.MEDIUM, "state-code-in-name",
                        where.other_span)  # fmt: skip
        return _unresolved(where.other_state, "no-evidence", f"{where.other_span}, but no agency word")
    if len(where.place_states) == 1 and public_body:
        (state,) = where.place_states
        return _res(AgencyClass.STATE_LOCAL, state, Confidence.MEDIUM, "place-gazetteer", where.place)
    if len(where.place_states) > 1:
        weights = weigh(gazetteer(), where.place, where.place_states)
        prominent = prominent_state(where.place, weights) if public_body else None
        if prominent:
            return _res(AgencyClass.STATE_LOCAL, prominent, Confidence.MEDIUM, "prominent-place",
                        describe(where.place, weights))  # fmt: skip
        return _unresolved(None, "ambiguous-place", describe(where.place, weights))
    return _unresolved(None, "no-evidence", where.place or tokens.text.strip())


def _classify(tokens: Tokens, where: _Where, public_body: bool) -> Resolution:
    text = tokens.text
    info = where.informational()
    federal = _federal(tokens, where)
    if federal:
        return _res(AgencyClass.FEDERAL, info, Confidence.HIGH, "federal-agency", federal)
    hit = p.PLACEHOLDER.search(text)
    if hit:
        return _res(AgencyClass.PLACEHOLDER, info, Confidence.HIGH, "placeholder-pattern", hit.group())
    found = _search(p.TRIBAL, text, where)
    if found:
        return _res(AgencyClass.TRIBAL, info, Confidence.HIGH, "tribal-pattern", found)
    found = _search(p.PRIVATE_STRONG, text, where) or next((c for c in tokens.caps if c in p.PRIVATE_ACRONYMS), None)
    if found:
        return _res(AgencyClass.PRIVATE, info, Confidence.HIGH, "private-pattern", found)
    found = _search(p.PRIVATE_SCHOOL, text, where)
    if found and not p.SCHOOL_NOT_PRIVATE.search(text):
        return _res(AgencyClass.PRIVATE, info, Confidence.MEDIUM, "private-pattern", found)
    transit = _transit_agency(text, where)
    if transit is not None:
        return transit
    hit = p.NETWORK.search(text)
    if hit:
        return _unresolved(info, "interagency-network", hit.group())
    if " national guard " in text:
        return _unresolved(info, "dual-status", "national guard")
    weak = next((c for c in tokens.caps if c in p.FEDERAL_WEAK_ACRONYMS and c.isupper()), None)
    weak = weak or _search(p.FEDERAL_WEAK_PHRASES, text, where)
    if weak and _starts_inside_place(weak, text, where.place):
        weak = None  # "Highland Park Police Department" is the city's police, not the U.S. Park Police
    if weak and not where.locality and not any(w in p.PLACE_TYPES for w in tokens.norm):
        return _res(AgencyClass.FEDERAL, info, Confidence.MEDIUM, "federal-agency", weak)
    hit = p.CA_BODIES.search(text)
    if hit:
        others = {s for s in (where.code, where.agency_state, where.other_state, *where.conflict) if s} - {"CA"}
        if others:
            return _unresolved(None, "state-conflict", f"{hit.group()} vs {', '.join(sorted(others))}")
        return _res(AgencyClass.STATE_LOCAL, "CA", Confidence.HIGH, "california-body", hit.group())
    found = _institution_word(text, where)
    if found:
        return _institution(tokens, where, found)
    found = _search(p.AMBIGUOUS_HEALTH, text, where)
    if found and not p.PUBLIC_HEALTH_BODY.search(text):
        general = found in {"health", "health care"}
        if not (general and any(w in {"department", "county", "city", "state", "district", "public"}
                                for w in tokens.norm)):  # fmt: skip
            religious = p.PRIVATE_INSTITUTION.search(text)
            if religious:
                return _res(AgencyClass.PRIVATE, info, Confidence.MEDIUM, "private-pattern", religious.group())
            return _unresolved(info, "ambiguous-institution", found)
    found = _search(p.PRIVATE_WEAK, text, where)
    if found and not public_body:
        return _res(AgencyClass.PRIVATE, info, Confidence.MEDIUM, "private-pattern", found)
    return _local(tokens, where, public_body)


@functools.lru_cache(maxsize=65_536)
def read_name(name: str) -> Reading:
    """Read one name; cached process-wide because the reading does not depend on the owner."""
    gaz = gazetteer()
    cleaned, markers = strip_markers(name)
    tokens = tokenize(cleaned)
    note = f" (marked {', '.join(markers)})" if markers else ""
    if not any(len(w) > 1 for w in tokens.norm):
        if markers:
            return Reading(_res(AgencyClass.PLACEHOLDER, None, Confidence.HIGH, "placeholder-pattern",
                                ", ".join(markers)), "", frozenset(), False)  # fmt: skip
        return Reading(_unresolved(None, "no-evidence", name.strip()), "", frozenset(), False)
    where = _where(tokens, cleaned, gaz)
    public_body = any(w in p.PUBLIC_BODY for w in tokens.norm)
    found = _classify(tokens, where, public_body)
    if note:
        found = Resolution(found.agency_class, found.state, found.confidence, found.resolved_by, found.matched + note)
    return Reading(found, where.place, where.place_states, public_body)
