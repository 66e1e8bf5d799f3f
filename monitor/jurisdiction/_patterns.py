"""Word lists that recognise kinds of bodies in a normalised name.

These are lists of agency names, acronyms and unit words, never of places: places come from the
gazetteer. Phrases are written in normalised form (see `_text`): lower case, "saint" for "St.",
"county" for "Co". Acronyms are matched against tokens written in capitals only.

Decisions worth knowing:
- Federal beats everything else in the name: a state code or place in a federal unit's name ("ATF
  Nashville TN", "Roudebush Medical Center Veterans Affairs IN PD") says where it sits, not whose it is.
  It is checked even before placeholder words, because missing a federal requester is worse than calling
  a federal demo account federal.
- "Weak" federal words (homeland security, department of justice, inspector general, park police,
  forest service, capitol police) are federal only when the name names no state, county or city:
  "MS Office of Homeland Security" and "WI Department of Justice" are state agencies.
- Amtrak Police count as federal: Amtrak is a federally chartered corporation owned by the United States,
  not a state or local agency. Railroad and other company police are private.
- A HIDTA or a RISS centre (ROCIC, MOCIC, WSIN, ...) is neither: its members span states and include
  federal agencies, so it resolves as unresolved for review. Task forces led by a federal agency (JTTF,
  Safe Streets, regional fugitive task forces) are federal.
- Public universities are state agencies, private ones are private; a name that does not say which
  ("Purdue University IN PD") is unresolved. In California only UC, CSU and community colleges count
  as public from the name alone, because "University of Southern California" and "California Institute
  of Technology" are private.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = [
    "AMBIGUOUS_HEALTH",
    "CA_BODIES",
    "CA_COMMUNITY_COLLEGES",
    "CA_PUBLIC_INSTITUTIONS",
    "DEPRECATION_MARKERS",
    "FEDERAL_ACRONYMS",
    "FEDERAL_INSTALLATIONS",
    "FEDERAL_PHRASES",
    "FEDERAL_WEAK_ACRONYMS",
    "FEDERAL_WEAK_PHRASES",
    "INSTITUTION",
    "LOCAL_SUFFIXES",
    "NETWORK",
    "PLACEHOLDER",
    "PLACE_TYPES",
    "PRIVATE_ACRONYMS",
    "PRIVATE_INSTITUTION",
    "PRIVATE_SCHOOL",
    "PRIVATE_STRONG",
    "PRIVATE_WEAK",
    "PUBLIC_BODY",
    "PUBLIC_HEALTH_BODY",
    "PUBLIC_INSTITUTION",
    "SCHOOL_NOT_PRIVATE",
    "STATE_AGENCY_NEXT",
    "TRANSIT_AGENCIES",
    "TRIBAL",
    "phrases",
]


def phrases(items: Iterable[str]) -> re.Pattern[str]:
    """A pattern matching any of `items` as whole words in padded normalised text (longest first)."""
    ordered = sorted(set(items), key=len, reverse=True)
    return re.compile("(?<= )(?:" + "|".join(re.escape(i) for i in ordered) + ")(?= )")


# -- federal -------------------------------------------------------------------------------------

FEDERAL_ACRONYMS = frozenset(
    {
        "FBI", "ATF", "DEA", "ICE", "HSI", "CBP", "USBP", "ERO", "USCIS", "USMS", "USSS", "USPIS", "USPS",
        "NCIS", "AFOSI", "CGIS", "USCG", "USMC", "USAF", "USN", "TSA", "FPS", "IRS", "BLM", "NPS", "USFS",
        "USFWS", "BIA", "BOP", "FLETC", "TVA", "VAMC", "GSA", "CIA", "DOD", "USDA", "FEMA", "DCIS", "USCP",
        "USPP", "NASA", "NIH", "FDA", "USAO", "JTTF", "OCDETF", "AFB", "JBLM", "MCAS", "DHS-HSI", "US",
        "AMTRAK",
    }
)  # fmt: skip

# The twenty Border Patrol sectors; "<name> Sector" alone is how their accounts are often written.
_BORDER_PATROL_SECTORS = [
    "big bend", "del rio", "el centro", "el paso", "laredo", "rio grande valley", "san diego", "tucson", "yuma",
    "blaine", "buffalo", "detroit", "grand forks", "havre", "houlton", "spokane", "swanton", "miami",
    "new orleans", "ramey",
]  # fmt: skip

FEDERAL_PHRASES = phrases(
    [
        "federal bureau of investigation", "bureau of alcohol", "alcohol tobacco and firearms",
        "alcohol tobacco firearms", "drug enforcement administration", "immigration and customs",
        "immigration customs enforcement", "enforcement and removal operations", "homeland security investigations",
        "customs and border", "border patrol", "border protection", "united states", "us marshal", "marshals service",
        "secret service", "postal inspection", "postal inspector", "postal service", "postal police",
        "veterans affairs", "veterans administration", "va medical center", "va hospital", "va health care",
        "va healthcare", "army", "navy", "naval", "air force", "space force", "marine corps", "coast guard",
        "military police", "provost marshal", "joint base", "army depot", "department of defense",
        "defense logistics", "defense intelligence", "defense criminal investigative", "pentagon force protection",
        "national park service", "national park", "national parks", "national forest", "national forests",
        "national recreation area", "river nra", "lake nra", "national wildlife refuge", "national monument",
        "national seashore", "national lakeshore", "national historic site", "national historical park",
        "national battlefield", "national grassland", "national preserve", "national scenic", "national mall",
        "bureau of land management", "fish and wildlife service", "bureau of indian affairs", "bureau of prisons",
        "federal correctional", "federal prison", "federal detention", "federal protective", "federal reserve",
        "federal air marshal", "federal law enforcement", "federal agency", "federal police", "federal task force",
        "transportation security administration", "internal revenue", "amtrak", "tennessee valley authority",
        "army corps", "corps of engineers", "bureau of reclamation", "social security administration",
        "diplomatic security", "us capitol police", "us park police", "us attorney", "smithsonian",
        "library of congress", "government publishing office", "bureau of engraving", "us mint",
        "national institutes of health", "central intelligence", "national security agency",
        "federal emergency management", "joint terrorism task force", "safe streets task force",
        "regional fugitive task force", "department of veterans affairs", "food and drug administration",
        # ICE and CBP written out, their offices, and Border Patrol sectors and stations by name
        "immigration and customs enforcement", "immigration customs and enforcement",
        "citizenship and immigration services", "office of field operations", "air and marine operations",
        "border patrol station", "border patrol sector", "homeland security task force",
        *(f"{sector} sector" for sector in _BORDER_PATROL_SECTORS),
    ]
)  # fmt: skip

# Federal only when the name names no state, county or city.
FEDERAL_WEAK_ACRONYMS = frozenset({"DHS", "DOJ", "OIG", "DOI", "DOE", "DOT", "EPA", "HHS"})
FEDERAL_WEAK_PHRASES = phrases(
    [
        "homeland security", "department of justice", "inspector general", "park police", "forest service",
        "capitol police", "supreme court police", "department of the interior", "department of energy",
        "department of the treasury", "department of agriculture", "department of labor",
        "department of state", "department of transportation", "department of health and human services",
    ]
)  # fmt: skip

# Army posts and bases named "Fort/Camp X", with the state they are in: federal when the name gives no
# other state ("Fort Bragg CA PD" is the city of Fort Bragg, California).
FEDERAL_INSTALLATIONS = {
    "fort eustis": "VA", "fort bragg": "NC", "fort liberty": "NC", "fort hood": "TX", "fort cavazos": "TX",
    "fort benning": "GA", "fort moore": "GA", "fort gordon": "GA", "fort eisenhower": "GA", "fort stewart": "GA",
    "fort lee": "VA", "fort gregg adams": "VA", "fort polk": "LA", "fort johnson": "LA", "fort knox": "KY",
    "fort campbell": "KY", "fort drum": "NY", "fort carson": "CO", "fort riley": "KS", "fort leavenworth": "KS",
    "fort sill": "OK", "fort bliss": "TX", "fort irwin": "CA", "fort hunter liggett": "CA", "fort huachuca": "AZ",
    "fort leonard wood": "MO", "fort jackson": "SC", "fort rucker": "AL", "fort novosel": "AL",
    "fort wainwright": "AK", "fort greely": "AK", "fort meade": "MD", "fort george g meade": "MD",
    "fort detrick": "MD", "fort belvoir": "VA", "fort myer": "VA", "fort mccoy": "WI", "fort dix": "NJ",
    "fort hamilton": "NY", "fort sam houston": "TX", "fort shafter": "HI", "fort buchanan": "PR",
    "fort walker": "VA", "fort a p hill": "VA", "fort ap hill": "VA", "fort barfoot": "VA", "fort pickett": "VA",
    "fort story": "VA", "camp pendleton": "CA", "camp lejeune": "NC", "presidio of monterey": "CA",
    "vandenberg space force base": "CA", "redstone arsenal": "AL", "picatinny arsenal": "NJ",
}  # fmt: skip

# -- placeholder ----------------------------------------------------------------------------------

PLACEHOLDER = phrases(
    [
        "test", "tests", "testing", "demo", "demos", "demonstration", "example", "sample", "sandbox", "dummy",
        "fake", "placeholder", "le training", "flock training", "training org", "training account", "flock pd",
        "test org", "dnu",
    ]
)  # fmt: skip

# Account markers stripped before reading the name ("Bristol RI PD (Do Not Use)" is still Bristol RI PD);
# a name that is nothing but markers is a placeholder.
DEPRECATION_MARKERS = re.compile(
    r"\b(?:do\s*n[o']?t\s+use|don'?t\s+use|not\s+in\s+use|dnu|inactive|duplicate(?:\s+account)?|"
    r"revoked\s+mou|former)\b|[-(]\s*(?:old|original)\s*\)?\s*$|\berror\s*$|^\s*z\s+(?=do\b)",
    re.IGNORECASE,
)

# -- tribal ---------------------------------------------------------------------------------------

TRIBAL = phrases(
    [
        "tribal", "tribe", "tribes", "nation", "nations", "rancheria", "reservation", "band of", "pueblo of",
        "indian community", "indians", "indian tribe", "native village", "confederated", "foxwoods",
        "mashantucket", "mohegan", "coushatta", "pokagon", "miccosukee", "tonto apache", "white mountain apache",
        "san carlos apache", "gila river", "salt river pima", "tohono oodham", "hopi", "lummi", "tulalip",
        "muckleshoot", "suquamish", "swinomish",
    ]
)  # fmt: skip

# -- private --------------------------------------------------------------------------------------

PRIVATE_STRONG = phrases(
    [
        "inc", "incorporated", "llc", "l l c", "ltd", "corp", "corporation", "company", "llp", "pllc",
        "credit union", "bank", "properties", "property management", "apartments", "homeowners",
        "homeowners association", "hoa", "mall", "shopping center", "railroad", "railway", "rr", "bnsf",
        "union pacific", "csx", "norfolk southern", "cn railroad", "fedex", "walmart", "home depot", "lowes",
        "business league", "chamber of commerce", "casino", "hotel", "country club", "loss prevention",
        "security services", "private", "flock safety", "flock", "axon", "genetec", "verra mobility",
        "motorola solutions", "vigilant solutions", "rekor", "skycop", "ubicquia", "ontic", "applied intel",
        "fusus", "digital recognition network", "lexisnexis", "thomson reuters", "transunion", "palantir",
        "clearview", "southern company", "salvation army",
        # private (non-profit or for-profit) hospital systems, by names no place shares
        "promedica", "cleveland clinic", "mayo clinic", "kaiser permanente", "sutter health", "dignity health",
        "providence health", "ascension health", "hca healthcare", "atrium health", "advocate health",
        "advocate aurora", "intermountain health", "intermountain healthcare", "geisinger", "ochsner",
        "banner health", "adventhealth", "trinity health", "tenet health", "commonspirit", "wakemed",
        "appalachian regional healthcare", "baylor scott and white", "novant health", "sentara",
    ]
)  # fmt: skip

# K-12 schools that are private by their kind; "academy" is not private when it trains police or soldiers,
# and a charter or district school is public.
PRIVATE_SCHOOL = phrases(
    ["academy", "preparatory", "prep school", "prep", "day school", "country day", "montessori", "boarding school"]
)
SCHOOL_NOT_PRIVATE = phrases(
    [
        "police", "sheriff", "sheriffs", "law enforcement", "criminal justice", "training", "fire", "corrections",
        "correctional", "military", "naval", "air force", "public safety", "charter", "public", "district",
        "isd", "usd", "unified", "county", "city", "state", "regional", "board of education", "academy of sciences",
    ]
)  # fmt: skip
# Hospital bodies that are public by their kind (a hospital district or authority is a unit of government).
PUBLIC_HEALTH_BODY = phrases(["hospital district", "hospital authority", "health district", "healthcare district"])
PRIVATE_ACRONYMS = frozenset({"DRN", "LLC", "INC", "HOA"})
# Company-like words: private only when the name has no public-body word at all.
PRIVATE_WEAK = phrases(
    [
        "security", "systems", "technologies", "technology", "solutions", "labs", "group", "partners",
        "associates", "foundation", "church", "ministries", "association", "club", "power", "energy",
        "electric", "enterprises", "holdings",
    ]
)  # fmt: skip

# -- institutions ---------------------------------------------------------------------------------

INSTITUTION = phrases(
    [
        "university", "universities", "college", "campus", "institute of technology", "polytechnic", "suny",
        "cuny", "a and m", "a and t", "tech", "seminary",
    ]
)  # fmt: skip
PRIVATE_INSTITUTION = phrases(
    [
        "christian", "baptist", "methodist", "lutheran", "catholic", "presbyterian", "wesleyan", "adventist",
        "episcopal", "jesuit", "bible", "seminary", "theological", "notre dame", "loyola", "concordia",
        "yeshiva", "brigham young", "pepperdine", "stanford", "campus safety", "campus security",
        "saint", "sainte", "mercy", "rensselaer", "rensselear", "university of pennsylvania", "upenn",
        "new york university", "nyu", "washington university", "ohio northern", "indiana tech",
    ]
)  # fmt: skip
# Public whatever the state; the state itself still has to come from the name or the gazetteer.
PUBLIC_INSTITUTION = phrases(
    [
        "state university", "state college", "community college", "junior college", "technical college",
        "college district", "community college district", "ccd", "university system", "suny", "cuny",
    ]
)  # fmt: skip
# In California only these are public from the name alone (private colleges abound).
CA_PUBLIC_INSTITUTIONS = phrases(
    ["state university", "community college", "community college district", "college district", "ccd"]
)
AMBIGUOUS_HEALTH = phrases(
    [
        "hospital", "hospitals", "medical center", "medical centers", "health system", "health systems",
        "healthcare", "health care", "clinic", "medical campus", "health",
    ]
)  # fmt: skip

# -- multi-state networks ----------------------------------------------------------------------------

NETWORK = phrases(
    [
        "riss", "rocic", "mocic", "magloclen", "rmin", "wsin", "nespin", "hidta",
        "western states information network", "regional information sharing",
        "regional organized crime information center", "mid states organized crime",
        "middle atlantic great lakes organized crime", "new england state police information network",
        "rocky mountain information network", "high intensity drug trafficking",
    ]
)  # fmt: skip

# -- California bodies --------------------------------------------------------------------------------

_UC = ["berkeley", "davis", "irvine", "los angeles", "merced", "riverside", "san diego", "san francisco",
       "santa barbara", "santa cruz", "hastings", "law san francisco"]  # fmt: skip
_CSU = ["bakersfield", "channel islands", "chico", "dominguez hills", "east bay", "fresno", "fullerton",
        "humboldt", "long beach", "los angeles", "maritime", "monterey bay", "northridge", "pomona",
        "sacramento", "san bernardino", "san bernadino", "san diego", "san francisco", "san jose", "san marcos",
        "sonoma", "stanislaus", "san luis obispo"]  # fmt: skip
CA_BODIES = phrases(
    [
        "california highway patrol", "cal fire", "calfire", "california department of forestry", "ncric",
        "northern california regional intelligence center", "jric", "joint regional intelligence center",
        "sd lecc", "sdlecc", "san diego law enforcement coordination center", "central california intelligence center",
        "orange county intelligence assessment center", "ociac", "california state threat assessment",
        "california state parks", "california department of parks", "ca state parks", "university of california",
        "ucla", "ucsf", "ucsd", "ucsb", "ucsc", "california state university", "cal state", "cal poly",
        "california polytechnic", "california state polytechnic", "cal maritime", "california maritime academy",
        "california department of corrections", "cdcr", "california department of justice", "california doj",
        "ca doj", "california attorney general", "california department of insurance",
        "california department of motor vehicles", "california dmv", "caltrans",
        "california department of transportation", "california department of fish", "cdfw", "cal oes", "caloes",
        "california office of emergency services", "lapd", "lasd", "la county",
        "los angeles county sheriff", "los angeles police department", "bart police", "bart pd",
        "east bay regional park", "bay area rapid transit", "la metro", "los angeles metro", "lacmta",
        "los angeles county metropolitan transportation", "san jose state", "san diego state", "sacramento state",
        "fresno state",
        "sf state", "san francisco state", "sonoma state", "humboldt state", "chp",
        *(f"uc {campus}" for campus in _UC),
        *(f"csu {campus}" for campus in _CSU),
    ]
)  # fmt: skip

# -- public bodies and the shape of local names ----------------------------------------------------

PLACE_TYPES = frozenset({"county", "parish", "borough", "city", "town", "township", "village", "municipality"})
# Agency words after a place name: "<Place> PD", "<Place> County Sheriff Office".
LOCAL_SUFFIXES = frozenset({"pd", "so", "sd", "fd", "da", "dps", "police", "sheriff", "marshal", "marshall"})
PUBLIC_BODY = frozenset(
    {
        "police", "pd", "dps", "sheriff", "so", "sd", "marshal", "marshall", "constable", "precinct", "county",
        "parish", "city", "town", "township", "village", "borough", "municipal", "municipality", "department",
        "office", "bureau", "division", "district", "authority", "commission", "board", "agency", "court", "courts",
        "attorney", "da", "das", "prosecutor", "prosecuting", "solicitor", "probation", "parole", "corrections",
        "correctional", "patrol", "trooper", "troopers", "highway", "state", "public", "safety", "fire", "fd",
        "rescue", "ems", "dispatch", "911", "communications", "ecc", "psap", "emergency", "task", "tf", "dtf",
        "unit", "fusion", "intelligence", "investigation", "investigations", "enforcement", "law", "le", "school",
        "schools", "isd", "cisd", "usd", "parks", "park", "rangers", "ranger", "port", "harbor", "airport",
        "transit", "metro", "housing", "levee", "conservation", "wildlife", "dnr", "abc", "revenue", "insurance",
        "labor", "gaming", "capitol", "government", "commonwealth", "narcotics", "drug", "crime", "crimes",
        "center", "rtcc", "jail", "detention", "coroner", "judicial", "circuit", "precincts", "guard",
    }
)  # fmt: skip
# Words that make "<State name> ..." a state agency ("Ohio State Highway Patrol", "Kansas KBI").
STATE_AGENCY_NEXT = frozenset(
    {
        "state", "department", "departments", "bureau", "office", "division", "highway", "attorney", "commission",
        "board", "agency", "alcoholic", "alcohol", "law", "parks", "wildlife", "fish", "game", "conservation",
        "natural", "revenue", "insurance", "labor", "gaming", "lottery", "national", "capitol", "information",
        "financial", "drug", "auto", "statewide", "fusion", "crime", "criminal", "medicaid", "public", "emergency",
        "homeland", "racing", "treasury", "secretary", "supreme", "judicial", "courts", "corrections",
        "correctional", "probation", "parole", "juvenile", "youth", "human", "motor", "transportation",
        "turnpike", "regional", "governor", "general", "environmental", "investigative", "investigation",
        "a", "tech", "university", "polytechnic", "technical", "college", "community",
    }
)  # fmt: skip

# California community colleges with police or campus safety departments, by names that say "college"
# without "community": public (the California Community Colleges system), but only with a California code,
# since other states have colleges of similar names.
CA_COMMUNITY_COLLEGES = phrases(
    [
        "allan hancock college", "american river college", "antelope valley college", "bakersfield college",
        "barstow college", "berkeley city college", "butte college", "cabrillo college", "canada college",
        "cerritos college", "cerro coso", "chabot college", "chaffey college", "citrus college", "clovis college",
        "coastline college", "college of alameda", "college of marin", "college of san mateo",
        "college of the canyons", "college of the desert", "college of the redwoods", "college of the sequoias",
        "college of the siskiyous", "columbia college", "compton college", "contra costa college",
        "copper mountain college", "cosumnes river college", "crafton hills college", "cuesta college",
        "cuyamaca college", "cypress college", "de anza college", "diablo valley college", "east los angeles college",
        "el camino college", "evergreen valley college", "feather river college", "folsom lake college",
        "foothill college", "fresno city college", "fullerton college", "gavilan college", "golden west college",
        "grossmont college", "hartnell college", "imperial valley college", "irvine valley college",
        "lake tahoe community college", "laney college", "las positas college", "lassen college",
        "long beach city college", "los angeles city college", "los angeles harbor college",
        "los angeles mission college", "los angeles pierce college", "pierce college", "los angeles southwest college",
        "los angeles trade technical college", "los angeles valley college", "los medanos college",
        "mendocino college", "merced college", "merritt college", "miracosta college", "mission college",
        "modesto junior college", "monterey peninsula college", "moorpark college", "moreno valley college",
        "mt san antonio college", "mount san antonio college", "mt san jacinto college", "napa valley college",
        "norco college", "ohlone college", "orange coast college", "oxnard college", "palo verde college",
        "palomar college", "pasadena city college", "porterville college", "reedley college", "rio hondo college",
        "riverside city college", "sacramento city college", "saddleback college", "san bernardino valley college",
        "san diego city college", "san diego mesa college", "san diego miramar college", "san joaquin delta college",
        "san jose city college", "santa ana college", "santa barbara city college", "santa monica college",
        "santa rosa junior college", "santiago canyon college", "shasta college", "sierra college", "skyline college",
        "solano community college", "southwestern college", "taft college", "ventura college",
        "victor valley college", "west hills college", "west los angeles college", "west valley college",
        "woodland community college", "yuba college", "city college of san francisco",
    ]
)  # fmt: skip

# Public transit police written by their agency's acronym or name, with the state the agency belongs to.
TRANSIT_AGENCIES = {
    "marta": "GA", "metropolitan atlanta rapid transit": "GA", "septa": "PA",
    "southeastern pennsylvania transportation": "PA", "mbta": "MA", "massachusetts bay transportation": "MA",
    "wmata": "DC", "washington metropolitan area transit": "DC", "nj transit": "NJ", "new jersey transit": "NJ",
    "nfta": "NY", "niagara frontier transportation": "NY", "niagara frontier transit": "NY", "trimet": "OR",
    "sound transit": "WA", "metra": "IL", "dallas area rapid transit": "TX",
    "metropolitan transit authority of harris county": "TX", "greater cleveland regional transit": "OH",
}  # fmt: skip
