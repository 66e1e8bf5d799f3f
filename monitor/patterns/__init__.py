"""Patterns over time (contract v1.1): small pure state machines over a stream of observations.

Every event judged by the engine becomes at most one `Observation` (`observe(engine, event, alerts)`):
the facts a pattern needs, pseudonymised (owner key, recipient key and jurisdiction class, whether the
rule packs found the recipient prohibited, plate and user hashes, case number given, reason quality,
sharing action). Detectors never see a plate or a user name.

A detector (`Detector`) is a pure state machine, one module each under `monitor.patterns.detectors`:

- `state_key(obs) -> str | None`: the key its state lives under, always `"<owner key>|..."`, so state is
  co-located with the owner when the input topic is keyed by `partition_key(engine, event)`. None: the
  observation does not concern this detector.
- `step(state | None, obs, ctx, notes) -> (state | KEEP | None, alerts)`: one observation in. `notes` (`Notes`) is
  scratch passed along the detectors in the runner's order for this observation only: the alerts raised so
  far and the user's search count, so the per-plate detector can weigh a plate's share of the user's
  searches. A detector may change the state it is given in place and return it; it returns `KEEP` when
  nothing changed, and the runner skips the write (live, a write is a changelog message); None deletes the
  key. `settle(state, obs, ctx, notes) -> state | KEEP` (detectors with `settles = True`) runs after every
  detector stepped, before the single write, so the per-user detector learns of a repeat target raised
  after it.
- `advance(key, state, now, ctx) -> (state | KEEP | None, alerts)`: time passes without an event. Standing access
  raises its daily alerts here; every detector drops what fell out of its window, and returns None when
  nothing is left, so state expires with its window. `now` is event time offline, and event time or the
  wall clock live; detectors with `ticks_daily = True` must be advanced at least once per UTC day to say
  all they have to say (each day of exposure gets its own alert whenever the advance comes).
- `encode(state) -> bytes` / `decode(bytes) -> state`: msgspec MessagePack of the detector's `state_type`
  (a msgspec Struct): what the live side keeps in a Faust table, and what a crash/restore round-trips.

State is bounded per key (day buckets over the window, capped lists of at most 50 event ids).

`PatternRunner(ctx, stores)` feeds an observation to every detector through one `StateStore` per detector
(`get`/`set`/`delete`/`keys`; `MemoryStore` keeps objects, `BytesStore` keeps encoded bytes as a Faust
table would) and returns the alerts; `advance_key` / `advance_all(now)` let time pass. Offline, `replay`
feeds observations in event-time order and advances at every UTC day boundary (`offline.OfflinePatterns`
collects them while `check` or `audit` judges, `ordering.EventTimeSorter` orders them in bounded memory);
live, the worker decides when to advance (see streams/). The gauge of prohibited active grants reads the
standing-access rows: `StandingAccessState.active`, `.prohibited` and `.label` (owner, jurisdiction class).

Alert ids are deterministic (`pattern_alert_id`): the same pattern over the same events gives the same id
whatever the store, so a replay after a crash repeats ids. Standing access: one id per owner, recipient and
day of exposure, `occurred_at` on that day. `detected_at` is the context's clock, the only field that is
not a function of the input. Thresholds come from the policy file (`patterns:` defaults and per-owner
overrides) through `PatternContext.settings_for(owner_id)`.
"""

from monitor.patterns.detector import KEEP, Detector, Keep, Notes, PatternContext, pattern_alert_id
from monitor.patterns.observation import Observation, observe, owner_key, partition_key
from monitor.patterns.runner import PatternRunner, default_detectors, replay
from monitor.patterns.store import BytesStore, MemoryStore, StateStore
from monitor.policy import PatternSettings

__all__ = [
    "KEEP",
    "BytesStore",
    "Detector",
    "Keep",
    "MemoryStore",
    "Notes",
    "Observation",
    "PatternContext",
    "PatternRunner",
    "PatternSettings",
    "StateStore",
    "default_detectors",
    "observe",
    "owner_key",
    "partition_key",
    "pattern_alert_id",
    "replay",
]
