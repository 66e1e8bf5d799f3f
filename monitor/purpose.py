"""Purpose classifier: what a free-text search reason says about why plates were searched.

Every hit carries the exact span of the original reason that produced it, so an alert can show its
evidence. Matching is by whole word over a normalised copy of the reason (case folded, accents and
zero-width characters removed, ``+`` and ``_`` read as spaces); an index map takes each match back to
the original string.

Certainty: STRONG means the words say it; WEAK means the words are ambiguous and deserve review, but
are not a violation by themselves (``DHS``, a lowercase ``ice``, ``march``, ``church``, ``pregnant``,
an ``investigation`` that names nothing).

Decision on ``ice`` (immigration agency or methamphetamine slang):
immigration context anywhere in the reason (ERO, FUGOPS, HSI, detainer, administrative, agent, hold,
pick up, deport..., immigration) makes it STRONG; otherwise drug context (meth, narcotics, dope,
sale, possession...) makes it WEAK; otherwise the written form decides: ``ICE`` or ``I.C.E.`` is
STRONG, ``ice``/``Ice`` is WEAK. Compounds such as ``ice cream``, ``ice age``, ``ice pick`` (not
``ice pick up``), ``dry ice``, and the traps ``police``, ``justice``, ``icac`` never match.

Evasions are undone before matching, and every hit still reports its span in the ORIGINAL reason:
look-alike letters from other scripts are folded to the Latin letters they imitate (Unicode TR39
confusables, from the data `confusable-homoglyphs` ships: "ІСЕ" in Cyrillic reads as "ice"), after
compatibility decomposition (fullwidth, mathematical and circled letters) and with zero-width and other
invisible characters removed; then, in a second reading whose hits are added where the first found
nothing, unambiguous leetspeak is decoded inside words that are mostly letters ("1mm1grat10n",
"ab0rti0n": 0 1 3 4 5 7 @ $ as o i e a s t a s) and runs of three or more single letters joined by
spaces, dots, hyphens, slashes or stars are read as one word ("I C E", "i.m.m.i.g.r.a.t.i.o.n"). Tokens
without letters (case numbers such as 26-13287) and identifiers that are mostly digits (plates) are left
alone. Not undone: words split at random places ("immi gration"), which no fixed rule reads safely.

Cost: linear in the length of the reason (whole-reason context is looked up once per reading, not once
per hit), so the work per event is bounded by the event size limit; `bench/purpose_classifier.py`
prints the time per KB.

A STRONG term preceded (within three words) by a negation ("not immigration related") is kept as WEAK.

Missing vs uninformative vs redacted: None, blank or punctuation-only ("." "——") is MISSING; a vendor
redaction marker ("***", "###", "* * *", "[REDACTED]") gets no hit (recorded, then withheld; see
``monitor.redaction.is_redacted``, re-exported here: ingest and the engine use the same test).
A reason is UNINFORMATIVE (Cal. Civ. Code 1798.90.52(a)(4): the purpose must be recorded) when it
matched no other category and nothing is left after dropping identifiers (tokens with a digit: case
numbers, plates), placeholder words ("inv", "test", "n/a", "see case", stop words) and generic words
("investigation" and its misspellings, "criminal", "follow up", "search"...). Only placeholders and
identifiers left => STRONG; a generic word left => WEAK (vague rather than empty: low severity, review).
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache, lru_cache
from importlib import resources

from monitor.redaction import is_redacted

__all__ = ["Certainty", "PurposeCategory", "PurposeHit", "classify_purpose", "is_redacted"]


class PurposeCategory(StrEnum):
    """What a search reason reveals about its purpose."""

    IMMIGRATION = "immigration"
    REPRODUCTIVE_HEALTH = "reproductive_health"
    PROTECTED_ACTIVITY = "protected_activity"
    UNINFORMATIVE = "uninformative"
    MISSING = "missing"


class Certainty(StrEnum):
    """STRONG: the words say it. WEAK: ambiguous, deserves review, not a violation by itself."""

    STRONG = "strong"
    WEAK = "weak"


@dataclass(frozen=True, slots=True)
class PurposeHit:
    """One finding in a reason, with its evidence: ``reason[start:end] == matched``."""

    category: PurposeCategory
    term: str
    matched: str
    start: int
    end: int
    certainty: Certainty


_IMM = PurposeCategory.IMMIGRATION
_REPRO = PurposeCategory.REPRODUCTIVE_HEALTH
_PROT = PurposeCategory.PROTECTED_ACTIVITY
_STRONG = Certainty.STRONG
_WEAK = Certainty.WEAK


# --- normalisation -------------------------------------------------------------------------------

# Portal exports encode a space as "+"; drop-down values may use "_". Both are length preserving.
_SPACE_LIKE = str.maketrans({"+": " ", "_": " "})
# Invisible characters that are letters or symbols rather than format characters (Cf is dropped as well).
_INVISIBLE = frozenset("\u115f\u1160\u3164\uffa0\u2800\u180e\u034f")


@cache
def _confusables() -> dict[str, str]:
    """TR39 prototypes (Unicode's confusables.txt, as shipped by confusable-homoglyphs) that are ASCII text.

    The data maps each look-alike to its prototype (one entry); prototypes themselves list their many
    look-alikes and are left out. A prototype that is itself a look-alike is followed to its own.
    """
    data = json.loads((resources.files("confusable_homoglyphs") / "confusables.json").read_text("utf-8"))

    def prototype(ch: str, depth: int = 0) -> str | None:
        entries = data.get(ch)
        if not entries or len(entries) != 1 or depth > 3:
            return None
        target = str(entries[0]["c"]).replace("\u200e", "")  # the data wraps right-to-left glyphs in LRM marks
        if target.isascii():
            return target.lower() if target.isalnum() else None
        return prototype(target, depth + 1) if len(target) == 1 else None

    table = {ch: prototype(ch) for ch in data if not ch.isascii()}
    return {ch: target for ch, target in table.items() if target is not None}


@lru_cache(maxsize=8192)
def _fold(ch: str) -> str:
    """What one non-ASCII character reads as: decomposed, unaccented, case folded, look-alikes as Latin."""
    if unicodedata.category(ch) == "Cf" or ch in _INVISIBLE:
        return ""  # zero-width joiners and the like: an easy way to hide "I\u200bCE"
    out = []
    for part in unicodedata.normalize("NFKD", ch):
        if unicodedata.combining(part):
            continue
        if part.isascii():
            out.append(part.lower())
            continue
        # Try the lowercase first (TR39 maps capital I look-alikes to "l"), then the letter, then its capital
        # (TR39 lists Cyrillic "т" and Greek "ε" only in their capital forms).
        table = _confusables()
        lower = part.casefold()
        target = table.get(lower) or table.get(part) or table.get(part.upper())
        out.append(target if target is not None else lower)
    return "".join(out)


def _normalise(text: str) -> tuple[str, list[int] | None]:
    """Return the normalised text and, when its length differs from the original, the index map.

    ``index[j]`` is the position in ``text`` of the character that produced normalised character j.
    """
    if text.isascii():
        return text.lower().translate(_SPACE_LIKE), None
    out: list[str] = []
    index: list[int] = []
    for i, ch in enumerate(text):
        folded = ch.lower() if ch.isascii() else _fold(ch)
        out.append(folded)
        index.extend([i] * len(folded))
    return "".join(out).translate(_SPACE_LIKE), index


# Leetspeak inside a word that is mostly letters; a run of single letters spelled out with separators.
_LEET_TOKEN = re.compile(r"(?<![a-z0-9@$])(?=[a-z0-9@$]*[a-z])(?=[a-z0-9@$]*[013457@$])[a-z0-9@$]{3,}(?![a-z0-9@$])")
_LEET = str.maketrans("013457@$", "oieastas")
_SPELLED = re.compile(r"(?<![a-z0-9])[a-z](?![a-z0-9])(?:[\s.\-*/]{1,3}[a-z](?![a-z0-9])){2,}")
_SPELLED_SEPARATOR = re.compile(r"[\s.\-*/]")


def _undo_evasions(norm: str, index: list[int] | None) -> tuple[str, list[int], list[int]] | None:
    """The normalised text with leetspeak decoded and spelled-out words joined: the new text, its index map
    to the original reason, and a running count of the characters that were changed (so a hit can be kept
    only where an evasion was undone). None when there is nothing to undo (the common case).
    """
    leet = [m for m in _LEET_TOKEN.finditer(norm) if sum(c.isalpha() for c in m.group()) * 2 > len(m.group())]
    if not leet and _SPELLED.search(norm) is None:
        return None
    chars = list(norm)
    changed = [False] * len(norm)
    for m in leet:
        for position in range(m.start(), m.end()):
            decoded_char = chars[position].translate(_LEET)
            if decoded_char != chars[position]:
                chars[position], changed[position] = decoded_char, True
    decoded = "".join(chars)
    positions = index if index is not None else list(range(len(norm)))
    out: list[str] = []
    mapped: list[int] = []
    flags: list[bool] = []
    done = 0
    for run in _SPELLED.finditer(decoded):
        out.append(decoded[done : run.start()])
        mapped.extend(positions[done : run.start()])
        flags.extend(changed[done : run.start()])
        letters = [offset for offset, ch in enumerate(run.group()) if not _SPELLED_SEPARATOR.fullmatch(ch)]
        apart = _letters_apart(run.group(), letters)
        for number, offset in enumerate(letters):
            if number in apart:  # the separator before this letter stays: it ends a one-letter word
                out.append(" ")
                mapped.append(positions[run.start() + offset - 1])
                flags.append(True)
            out.append(run.group()[offset])
            mapped.append(positions[run.start() + offset])
            flags.append(True)
        done = run.end()
    out.append(decoded[done:])
    mapped.extend(positions[done:])
    flags.extend(changed[done:])
    running = [0]
    for flag in flags:
        running.append(running[-1] + flag)
    return "".join(out), mapped, running


_SPLIT_RUN_LETTERS = 40  # longer runs are joined whole: the split below stays a few matches per run


def _letters_apart(run: str, letters: list[int]) -> frozenset[int]:
    """Letter numbers of a spelled-out run that start a new word: a one-letter word ("a", "x") next to the
    spelled-out term ("help a I C E agent") would otherwise join it ("aice") and hide it."""
    word = "".join(run[offset] for offset in letters)
    if len(word) > _SPLIT_RUN_LETTERS or _TERMS_RE.fullmatch(word):
        return frozenset()
    for first, last in ((1, len(word)), (0, len(word) - 1), (1, len(word) - 1)):
        if last - first >= 3 and _TERMS_RE.fullmatch(word[first:last]):
            return frozenset(n for n in (first, last) if 0 < n < len(word))
    return frozenset()


# --- term table ----------------------------------------------------------------------------------


@dataclass(slots=True)
class _Context:
    """One reading of a reason, and what refiners ask about the whole of it, each found at most once.

    Asking per hit made the classifier quadratic: a 30 KB reason of "ICE " took about 10 s.
    """

    text: str
    _found: dict[str, bool] = field(default_factory=dict)

    def has(self, name: str, pattern: re.Pattern[str]) -> bool:
        """Whether `pattern` occurs anywhere in the text (searched once per reading)."""
        found = self._found.get(name)
        if found is None:
            found = self._found[name] = pattern.search(self.text) is not None
        return found

    @property
    def immigration(self) -> bool:
        return self.has("immigration", _IMMIGRATION_CONTEXT)

    @property
    def drugs(self) -> bool:
        return self.has("drugs", _DRUG_CONTEXT)

    @property
    def surveillance(self) -> bool:
        return self.has("surveillance", _SURVEILLANCE_CONTEXT)


# A refiner looks at the match in context and returns the certainty, or None when the match is a trap.
_Refiner = Callable[[_Context, int, int, str], Certainty | None]

_SEP = r"[\s\-/]+"  # between the words of a phrase
_OPT_SEP = r"[\s\-/]*"

_IMMIGRATION_CONTEXT = re.compile(
    r"(?<!\w)(?:ero|fugops|fug\s*ops|hsi|detainers?|administrative|agents?|hold|custody|deport\w*|"
    r"immigra\w*|removal|pick[\s\-]*up|cbp|usbp|i-?247a?)(?!\w)"
)
_DRUG_CONTEXT = re.compile(
    r"(?<!\w)(?:meth\w*|narcotics?|dope|drugs?|crystal|glass|shards?|grams?|ounces?|oz|sale|sales|sell\w*|"
    r"dealer|dealing|possession|pcs|mdcs|dcs|pwid|controlled|substance|tweak\w*|baggies?|pipe|fentanyl|"
    r"heroin|cocaine)(?!\w)"
)
_ICE_TRAP_AFTER = re.compile(
    r"[\s\-]*(?:cream|creams|age|rink|rinks|skat\w*|storm|chest|machine|maker|box|hockey|cubes?|fishing|"
    r"sculptures?|tea|coffee|water|bath|cold|packs?|picks|pick(?![\s\-]*up))(?!\w)"
)
_ICE_TRAP_BEFORE = re.compile(r"(?<!\w)(?:black|dry|shaved|italian)[\s\-]*$")


def _refine_ice(ctx: _Context, start: int, end: int, matched: str) -> Certainty | None:
    norm = ctx.text
    if _ICE_TRAP_AFTER.match(norm, end) or _ICE_TRAP_BEFORE.search(norm, max(0, start - 12), start):
        return None
    if ctx.immigration:
        return _STRONG
    if ctx.drugs:
        return _WEAK
    return _STRONG if matched.isupper() or "." in matched else _WEAK


def _refine_287g(ctx: _Context, start: int, end: int, matched: str) -> Certainty | None:
    # "287g" is also a weight in grams: with drug words and nothing else about immigration, only review.
    if ctx.drugs and not ctx.immigration:
        return _WEAK
    return _STRONG


_OFFICE_OF_BEFORE = re.compile(r"(?<!\w)office[\s\-]+of[\s\-]+$")


def _refine_homeland_security(ctx: _Context, start: int, end: int, matched: str) -> Certainty | None:
    # "MS Office of Homeland Security" is a state agency's name, not an immigration purpose.
    return None if _OFFICE_OF_BEFORE.search(ctx.text, max(0, start - 16), start) else _WEAK


_MONTH_AFTER = re.compile(r"[\s\-,.]*(?:\d|madness(?!\w))")
_MONTH_BEFORE = re.compile(r"\d(?:st|nd|rd|th)?[\s\-,.]*(?:of[\s\-]+)?$")


def _refine_march(ctx: _Context, start: int, end: int, matched: str) -> Certainty | None:
    norm = ctx.text
    if _MONTH_AFTER.match(norm, end) or _MONTH_BEFORE.search(norm, max(0, start - 10), start):
        return None  # "March 3", "3rd of March", "march 2025", "March Madness"
    return _WEAK


_PLACE_NAME_AFTER = re.compile(
    r"(?:'s)?[\s\-]+(?:st|street|rd|road|ave|avenue|blvd|boulevard|ln|lane|dr|drive|way|ct|court|pl|place|"
    r"hwy|highway|chicken|tx|texas|city|terrace)(?!\w)"
)
_SURVEILLANCE_CONTEXT = re.compile(
    r"(?<!\w)(?:attend\w*|congregation\w*|congregants?|worship\w*|members?|membership|parishioners?|"
    r"surveil\w*|monitor\w*|list|visitors?|who)(?!\w)"
)


def _refine_religious(ctx: _Context, start: int, end: int, matched: str) -> Certainty | None:
    if _PLACE_NAME_AFTER.match(ctx.text, end):
        return None  # "Church St", "Temple TX", "Church's Chicken"
    return _STRONG if ctx.surveillance else _WEAK


_DEMO_TRAP_BEFORE = re.compile(
    r"(?<!\w)(?:product|equipment|system|camera|software|flock|vendor|sales|training|tech|technology|feature|"
    r"tool|platform|lpr|alpr)[\s\-]*$"
)
_DEMO_TRAP_AFTER = re.compile(
    r"[\s\-]+(?:of|for)[\s\-]+(?:(?:the|a|an|our|new)[\s\-]+)?(?:cameras?|system|software|product|equipment|"
    r"flock|features?|tools?|platform|lpr|alpr|search|portal)(?!\w)"
)


def _refine_demonstration(ctx: _Context, start: int, end: int, matched: str) -> Certainty | None:
    norm = ctx.text
    if _DEMO_TRAP_AFTER.match(norm, end) or _DEMO_TRAP_BEFORE.search(norm, max(0, start - 16), start):
        return None  # a demonstration of equipment, not a political one
    return _WEAK


_RALLY_TRAP_AFTER = re.compile(r"(?:'s(?!\w)|[\s\-]+(?:point|car|cars|race|racing|sport|sports)(?!\w))")


def _refine_rally(ctx: _Context, start: int, end: int, matched: str) -> Certainty | None:
    return None if _RALLY_TRAP_AFTER.match(ctx.text, end) else _STRONG  # "Rally's" is a burger chain


_OF_JUSTICE_AFTER = re.compile(r"[\s\-]+of[\s\-]+justice(?!\w)")


def _refine_miscarriage(ctx: _Context, start: int, end: int, matched: str) -> Certainty | None:
    return None if _OF_JUSTICE_AFTER.match(ctx.text, end) else _WEAK


@dataclass(frozen=True, slots=True)
class _Term:
    term: str
    category: PurposeCategory
    pattern: str  # over the normalised text; whole-word boundaries are added around it
    certainty: Certainty
    refine: _Refiner | None = None  # decides certainty in context, or rejects a trap


# Order matters where two patterns can start at the same place: the longer phrase comes first.
_TERMS: tuple[_Term, ...] = (
    # immigration enforcement
    _Term("ice", _IMM, r"(?<!\w\.)i\.c\.e\.?|ice", _STRONG, _refine_ice),
    _Term("ero", _IMM, r"e\.r\.o\.?|ero", _STRONG),
    _Term("hsi", _IMM, rf"h\.s\.i\.?|hsi|homeland{_SEP}security{_SEP}investigations?", _STRONG),
    _Term("cbp", _IMM, rf"c\.b\.p\.?|cbp|customs{_SEP}(?:and|&){_SEP}border{_SEP}protection", _STRONG),
    _Term("usbp", _IMM, r"u\.s\.b\.p\.?|usbp", _STRONG),
    _Term("border-patrol", _IMM, rf"border{_OPT_SEP}patrol", _STRONG),
    _Term("uscis", _IMM, r"u\.s\.c\.i\.s\.?|uscis", _STRONG),
    _Term(
        "immigration",
        _IMM,
        r"immigration\s*\(\s*civil\s*/\s*administrative\s*\)|immigrations?|immig|inmigracion",
        _STRONG,
    ),
    _Term("immigrant", _IMM, r"immigrants?|inmigrantes?", _STRONG),
    _Term("criminal-alien", _IMM, rf"criminal{_SEP}aliens?", _STRONG),
    _Term("illegal-alien", _IMM, rf"illegal{_SEP}aliens?", _STRONG),
    _Term("alien", _IMM, r"aliens?", _WEAK),
    _Term("deportation", _IMM, r"deport(?:ation|ations|ed|ee|ees|able|ing|s)?|deportacion", _STRONG),
    _Term("removal-order", _IMM, rf"removal{_SEP}(?:orders?|proceedings?)|orders?{_SEP}of{_SEP}removal", _STRONG),
    _Term("detainer", _IMM, r"detainers?", _STRONG),
    _Term("i-247", _IMM, r"i[\s\-]?247[a-z]?", _STRONG),
    _Term("287g", _IMM, r"287[\s\-]*\(\s*g\s*\)|287-?g", _STRONG, _refine_287g),  # never a bare 287
    _Term("undocumented", _IMM, r"undocumented", _STRONG),
    _Term("dhs", _IMM, rf"d\.h\.s\.?|dhs|department{_SEP}of{_SEP}homeland{_SEP}security", _WEAK),
    _Term("homeland-security", _IMM, rf"homeland{_SEP}security", _WEAK, _refine_homeland_security),
    _Term("fugops", _IMM, rf"fug(?:itive)?{_OPT_SEP}ops", _WEAK),
    # reproductive and other legally protected health care
    _Term("abortion", _REPRO, r"abortions?|abortionists?", _STRONG),
    _Term("planned-parenthood", _REPRO, rf"planned{_SEP}parenthood", _STRONG),
    _Term("reproductive", _REPRO, rf"reproductive(?:{_SEP}health(?:{_OPT_SEP}care)?)?", _STRONG),
    _Term("mifepristone", _REPRO, r"mifepristone", _STRONG),
    _Term("misoprostol", _REPRO, r"misoprostol", _STRONG),
    _Term(
        "protected-health-care",
        _REPRO,
        rf"legally{_SEP}protected{_SEP}health{_OPT_SEP}care(?:{_SEP}activity)?",
        _STRONG,
    ),
    _Term("gender-affirming", _REPRO, rf"gender{_OPT_SEP}affirm\w*", _STRONG),
    _Term("transgender-care", _REPRO, rf"trans(?:gender)?{_SEP}(?:care|health\w*|clinic|surgery|treatment)", _STRONG),
    _Term("puberty-blockers", _REPRO, rf"puberty{_SEP}blockers?", _STRONG),
    _Term("transgender", _REPRO, r"transgender", _WEAK),
    _Term("pregnancy", _REPRO, r"pregnan\w*", _WEAK),
    _Term("miscarriage", _REPRO, r"miscarriages?", _WEAK, _refine_miscarriage),
    _Term("contraception", _REPRO, r"contracepti\w*", _WEAK),
    _Term("gynecology", _REPRO, rf"ob{_OPT_SEP}gyn|gyn[ae]?e?colog\w*", _WEAK),
    _Term("family-planning", _REPRO, rf"family{_SEP}planning", _WEAK),
    # protected activity (speech, assembly, religion, press, organising)
    _Term("protest", _PROT, r"(?:counter[\s\-]?)?protest(?:s|ed|ing|ers?|ors?)?", _STRONG),
    _Term("demonstration", _PROT, r"demonstrators?", _STRONG),
    _Term("demonstration", _PROT, r"demonstrations?", _WEAK, _refine_demonstration),
    _Term("rally", _PROT, r"rally|rallies", _STRONG, _refine_rally),
    _Term("march", _PROT, r"marchers?", _STRONG),
    _Term("march", _PROT, r"march|marches|marched|marching", _WEAK, _refine_march),
    _Term("no-kings", _PROT, rf"no{_OPT_SEP}kings", _STRONG),
    _Term("first-amendment", _PROT, rf"(?:first|1st){_SEP}amendment", _STRONG),
    _Term("activist", _PROT, r"activists?|activism", _STRONG),
    _Term("journalist", _PROT, r"journalists?|journalism", _STRONG),
    _Term("union-organizing", _PROT, rf"union{_SEP}organi[sz]\w*|labou?r{_SEP}unions?", _STRONG),
    _Term("picket", _PROT, r"picket\w*", _STRONG),
    _Term("civil-disobedience", _PROT, rf"civil{_SEP}disobedience", _STRONG),
    _Term("political", _PROT, r"political|politics", _WEAK),
    _Term("vigil", _PROT, r"vigils?", _WEAK),
    _Term("religion", _PROT, r"religions?|religious", _WEAK, _refine_religious),
    _Term(
        "place-of-worship",
        _PROT,
        r"church(?:es)?|mosques?|masjid|synagogues?|temples?|gurdwaras?",
        _WEAK,
        _refine_religious,
    ),
)

# One pass over the text finds where a term matches. Named groups would say which, but they make the
# scan six times slower, so the rare match is attributed afterwards by trying each term in the same order.
_TERMS_RE = re.compile(r"(?<!\w)(?:" + "|".join(f"(?:{t.pattern})" for t in _TERMS) + r")(?!\w)")
_TERM_RES = tuple((t, re.compile(rf"(?:{t.pattern})(?!\w)")) for t in _TERMS)


def _which_term(norm: str, start: int) -> _Term:
    """The term the alternation chose: the first, in table order, that matches here."""
    for spec, pattern in _TERM_RES:
        if pattern.match(norm, start):
            return spec
    message = f"no term matches at {start} in {norm!r}: the combined and per-term patterns disagree"
    raise AssertionError(message)


_NEGATORS = frozenset({"no", "not", "non", "never", "without"})
_TOKEN_RE = re.compile(r"[^\W_]+")


def _negated(norm: str, since: int, start: int) -> bool:
    """True when one of the three words before the match (after the previous hit) negates it ("not immigration")."""
    before = norm[max(since, start - 32) : start]
    return "w/o" in before or not _NEGATORS.isdisjoint(_TOKEN_RE.findall(before)[-3:])


# --- uninformative reasons -----------------------------------------------------------------------

# Words that carry no purpose at all: placeholders, test runs, stop words. Only these (and identifiers)
# left over => STRONG uninformative.
_PLACEHOLDER_WORDS = frozenset(
    "inv invs inve inves invest invst invt test tests testing tst case cases na n a none nil null other others misc "  # noqa: SIM905 - word lists read better as text
    "unk unknown see per sgt sergeant admin administrative training train demo x xx xxx tbd blank same ok okay "
    "nr no num number the an of for to in on at by with from and or is re as this that it camera system".split()
)
# Words that name the act of investigating or searching but not what is investigated. Any of these
# left over (and nothing else) => WEAK uninformative: vague, low severity, for review.
_GENERIC_WORDS = frozenset(
    "investigation investigations investigative investigate investigating investigator criminal crim crime crimes "  # noqa: SIM905
    "follow followup fu up lead leads police pd cfs call calls service services search searches searching "
    "image images daytime nighttime day night best result results more like alert alerts page associated "
    "vehicle vehicles veh car plate plates lpr alpr flock info information intel intelligence inquiry query "
    "check atl attempt locate patrol officer detective det general routine review related ongoing active open "
    "matter incident report reports purpose purposes law enforcement le lea agency request requested assist "
    "assistance help possible potential".split()
)
_INVESTIGATION_FORMS = ("investigation", "investigations", "investigative", "investigate", "investigating")


def _within_edits(a: str, b: str, k: int) -> bool:
    """Optimal-string-alignment distance (with adjacent transpositions) of at most k; stops early past k."""
    if abs(len(a) - len(b)) > k:
        return False
    big = k + 1
    prev2: list[int] = []
    prev = [j if j <= k else big for j in range(len(b) + 1)]
    for i in range(1, len(a) + 1):
        cur = [big] * (len(b) + 1)
        if i <= k:
            cur[0] = i
        for j in range(max(1, i - k), min(len(b), i + k) + 1):  # cells further off the diagonal exceed k
            cost = 0 if a[i - 1] == b[j - 1] else 1
            best = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                best = min(best, prev2[j - 2] + 1)
            cur[j] = min(best, big)
        if min(cur) > k:
            return False
        prev2, prev = prev, cur
    return prev[-1] <= k


def _is_investigation_word(token: str) -> bool:
    """A spelling or truncation of "investigation": "investiga", "invetigation", "Investigaiton", "invewsigations".

    One slip is allowed from 8 letters, two from 13, so that "instigation(s)" (two slips away) stays a word.
    """
    if token.startswith("investig"):
        return True
    if not 8 <= len(token) <= 16 or token[0] != "i":
        return False
    allowed = 2 if len(token) >= 13 else 1
    return any(_within_edits(token, w, allowed) for w in _INVESTIGATION_FORMS)


def _uninformative(reason: str, norm: str) -> PurposeHit | None:
    """A hit when nothing informative remains after dropping placeholders, generic words and identifiers."""
    generic = placeholder = False
    for token in _TOKEN_RE.findall(norm):
        if token in _PLACEHOLDER_WORDS:
            placeholder = True
        elif token in _GENERIC_WORDS or _is_investigation_word(token):
            generic = True
        elif not any(c.isdigit() for c in token):
            return None  # a word that may say what was investigated: informative
    # only identifiers (case numbers, plates), placeholders and generic words are left
    term = "generic" if generic else "placeholder" if placeholder else "identifier-only"
    start = len(reason) - len(reason.lstrip())
    end = len(reason.rstrip())
    return PurposeHit(PurposeCategory.UNINFORMATIVE, term, reason[start:end], start, end, _WEAK if generic else _STRONG)


# --- public API ----------------------------------------------------------------------------------

_MISSING_NONE = (PurposeHit(PurposeCategory.MISSING, "none", "", 0, 0, _STRONG),)


_CACHED_LENGTH = 512
"""Longer reasons are classified every time, not cached: distinct long reasons would fill the memory."""


def classify_purpose(reason: str | None) -> tuple[PurposeHit, ...]:
    """Classify a search reason; hits are ordered by position. A redacted reason gets no hit (see is_redacted)."""
    if reason is None:
        return _MISSING_NONE
    return _classify(reason) if len(reason) <= _CACHED_LENGTH else _classify.__wrapped__(reason)


def _scan(reason: str, text: str, index: list[int] | None, changed: list[int] | None = None) -> list[PurposeHit]:
    """Every term hit in one reading of the reason, with its span mapped back to the original.

    With `changed` (a running count of undone characters), only hits over an undone evasion are kept: the
    second reading must not revive a trap the first one rejected ("3rd of March" is not a march).
    """
    ctx = _Context(text)
    hits: list[PurposeHit] = []
    previous_end = 0  # "no kings protest": the "no" of one hit does not negate the next
    for m in _TERMS_RE.finditer(text):
        s, e = m.span()
        if changed is not None and changed[e] == changed[s]:
            continue
        spec = _which_term(text, s)
        start, end = (s, e) if index is None else (index[s], index[e - 1] + 1)
        matched = reason[start:end]
        certainty = spec.certainty if spec.refine is None else spec.refine(ctx, s, e, matched)
        if certainty is None:
            continue
        if certainty is _STRONG and _negated(text, previous_end, s):
            certainty = _WEAK
        previous_end = e
        hits.append(PurposeHit(spec.category, spec.term, matched, start, end, certainty))
    return hits


@lru_cache(maxsize=65536)  # real reasons repeat heavily: a few hundred distinct values per agency
def _classify(reason: str) -> tuple[PurposeHit, ...]:
    if is_redacted(reason):
        return ()
    if not any(c.isalnum() for c in reason):
        term = "empty" if not reason.strip() else "punctuation"  # "", "   ", ".", "——"
        return (PurposeHit(PurposeCategory.MISSING, term, reason, 0, len(reason), _STRONG),)
    norm, index = _normalise(reason)
    hits = _scan(reason, norm, index)
    undone = _undo_evasions(norm, index)
    if undone is not None:
        # The second reading only adds: where the plain reading found a term, it stands. Both lists are in
        # order of position and the plain hits do not overlap, so one pass finds the overlaps.
        plain, j = hits, 0
        hits = list(plain)
        for hit in _scan(reason, *undone):
            while j < len(plain) and plain[j].end <= hit.start:
                j += 1
            if j == len(plain) or hit.end <= plain[j].start:
                hits.append(hit)
        hits.sort(key=lambda hit: hit.start)
    if hits:
        return tuple(hits)
    uninformative = _uninformative(reason, norm)
    return () if uninformative is None else (uninformative,)
