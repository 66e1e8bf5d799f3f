"""Agency jurisdiction resolver: who is the requester?

`AgencyResolver(registry).resolve(name, ori, stated_state)` returns a `Resolution`: the class of body
(state or local public agency, federal, tribal, private, placeholder, or unresolved), its state, a
confidence, and the evidence used. Pure Python; place names come from a gazetteer packaged with the
module (`data/`), nothing is fetched at run time.
"""

from monitor.jurisdiction.model import EVIDENCE_IDS, AgencyClass, Confidence, RegistryEntry, Resolution
from monitor.jurisdiction.resolver import AgencyResolver
from monitor.jurisdiction.states import state_code

__all__ = [
    "EVIDENCE_IDS",
    "AgencyClass",
    "AgencyResolver",
    "Confidence",
    "RegistryEntry",
    "Resolution",
    "state_code",
]
