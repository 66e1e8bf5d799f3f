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

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

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


def _normalise(text: str) -> tuple[str, list[int] | None]:
    """Return the normalised text and, when its length differs from the original, the index map.

    ``index[j]`` is the position in ``text`` of the character that produced normalised character j.
    """
    if text.isascii():
        return text.lower().translate(_SPACE_LIKE), None
    out: list[str] = []
    index: list[int] = []
    for i, ch in enumerate(text):
        if ch.isascii():
            folded = ch.lower()
        elif unicodedata.category(ch) == "Cf":
            continue  # zero-width joiners and the like: an easy way to hide "I\u200bCE"
        else:
            decomposed = unicodedata.normalize("NFKD", ch)
            folded = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
        out.append(folded)
        index.extend([i] * len(folded))
    return "".join(out).translate(_SPACE_LIKE), index


# --- term table ----------------------------------------------------------------------------------

# A refiner looks at the match in context and returns the certainty, or None when the match is a trap.
_Refiner = Callable[[str, int, int, str], Certainty | None]

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


def _refine_ice(norm: str, start: int, end: int, matched: str) -> Certainty | None:
    if _ICE_TRAP_AFTER.match(norm, end) or _ICE_TRAP_BEFORE.search(norm, max(0, start - 12), start):
        return None
    if _IMMIGRATION_CONTEXT.search(norm):
        return _STRONG
    if _DRUG_CONTEXT.search(norm):
        return _WEAK
    return _STRONG if matched.isupper() or "." in matched else _WEAK


def _refine_287g(norm: str, start: int, end: int, matched: str) -> Certainty | None:
    # "287g" is also a weight in grams: with drug words and nothing else about immigration, only review.
    if _DRUG_CONTEXT.search(norm) and not _IMMIGRATION_CONTEXT.search(norm):
        return _WEAK
    return _STRONG


_OFFICE_OF_BEFORE = re.compile(r"(?<!\w)office[\s\-]+of[\s\-]+$")


def _refine_homeland_security(norm: str, start: int, end: int, matched: str) -> Certainty | None:
    # "MS Office of Homeland Security" is a state agency's name, not an immigration purpose.
    return None if _OFFICE_OF_BEFORE.search(norm, max(0, start - 16), start) else _WEAK


_MONTH_AFTER = re.compile(r"[\s\-,.]*(?:\d|madness(?!\w))")
_MONTH_BEFORE = re.compile(r"\d(?:st|nd|rd|th)?[\s\-,.]*(?:of[\s\-]+)?$")


def _refine_march(norm: str, start: int, end: int, matched: str) -> Certainty | None:
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


def _refine_religious(norm: str, start: int, end: int, matched: str) -> Certainty | None:
    if _PLACE_NAME_AFTER.match(norm, end):
        return None  # "Church St", "Temple TX", "Church's Chicken"
    return _STRONG if _SURVEILLANCE_CONTEXT.search(norm) else _WEAK


_DEMO_TRAP_BEFORE = re.compile(
    r"(?<!\w)(?:product|equipment|system|camera|software|flock|vendor|sales|training|tech|technology|feature|"
    r"tool|platform|lpr|alpr)[\s\-]*$"
)
_DEMO_TRAP_AFTER = re.compile(
    r"[\s\-]+(?:of|for)[\s\-]+(?:(?:the|a|an|our|new)[\s\-]+)?(?:cameras?|system|software|product|equipment|"
    r"flock|features?|tools?|platform|lpr|alpr|search|portal)(?!\w)"
)


def _refine_demonstration(norm: str, start: int, end: int, matched: str) -> Certainty | None:
    if _DEMO_TRAP_AFTER.match(norm, end) or _DEMO_TRAP_BEFORE.search(norm, max(0, start - 16), start):
        return None  # a demonstration of equipment, not a political one
    return _WEAK


_RALLY_TRAP_AFTER = re.compile(r"(?:'s(?!\w)|[\s\-]+(?:point|car|cars|race|racing|sport|sports)(?!\w))")


def _refine_rally(norm: str, start: int, end: int, matched: str) -> Certainty | None:
    return None if _RALLY_TRAP_AFTER.match(norm, end) else _STRONG  # "Rally's" is a burger chain


_OF_JUSTICE_AFTER = re.compile(r"[\s\-]+of[\s\-]+justice(?!\w)")


def _refine_miscarriage(norm: str, start: int, end: int, matched: str) -> Certainty | None:
    return None if _OF_JUSTICE_AFTER.match(norm, end) else _WEAK


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


def classify_purpose(reason: str | None) -> tuple[PurposeHit, ...]:
    """Classify a search reason; hits are ordered by position. A redacted reason gets no hit (see is_redacted)."""
    if reason is None:
        return _MISSING_NONE
    return _classify(reason)


@lru_cache(maxsize=65536)  # real reasons repeat heavily: a few hundred distinct values per agency
def _classify(reason: str) -> tuple[PurposeHit, ...]:
    if is_redacted(reason):
        return ()
    if not any(c.isalnum() for c in reason):
        term = "empty" if not reason.strip() else "punctuation"  # "", "   ", ".", "——"
        return (PurposeHit(PurposeCategory.MISSING, term, reason, 0, len(reason), _STRONG),)
    norm, index = _normalise(reason)
    hits: list[PurposeHit] = []
    previous_end = 0  # "no kings protest": the "no" of one hit does not negate the next
    for m in _TERMS_RE.finditer(norm):
        spec = _which_term(norm, m.start())
        s, e = m.span()
        start, end = (s, e) if index is None else (index[s], index[e - 1] + 1)
        matched = reason[start:end]
        certainty = spec.certainty if spec.refine is None else spec.refine(norm, s, e, matched)
        if certainty is None:
            continue
        if certainty is _STRONG and _negated(norm, previous_end, s):
            certainty = _WEAK
        previous_end = e
        hits.append(PurposeHit(spec.category, spec.term, matched, start, end, certainty))
    if hits:
        return tuple(hits)
    uninformative = _uninformative(reason, norm)
    return () if uninformative is None else (uninformative,)
