"""The detectors of contract v1.1, one module each."""

from monitor.patterns.detectors.isolated_session import IsolatedSession
from monitor.patterns.detectors.new_requester import NewRequester
from monitor.patterns.detectors.repeat_target import RepeatTarget
from monitor.patterns.detectors.standing_access import StandingAccess
from monitor.patterns.detectors.surge import Surge

__all__ = ["IsolatedSession", "NewRequester", "RepeatTarget", "StandingAccess", "Surge"]
