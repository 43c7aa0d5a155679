"""How a reported node or edge merges into what a store already holds: one pure function for
both stores, so that they cannot disagree.

Rules, for each property of the report:
- not stored yet: take it, and remember which source set it (`property_sources`);
- equal to the stored value: nothing changes;
- a list that sources each see part of (`model.UNION_PROPERTIES`: a study's modalities): the
  union of the reports;
- a mutable state (`model.MUTABLE_PROPERTIES`: disposal, storage tier, retention...): the newer
  report wins, an older one (out of order) is ignored. Newer is judged against the element's
  latest sighting (`last_seen`), except for what the engine derives from the graph
  (`model.DERIVED_PROPERTIES`: retention, holding facts, study facts), which is judged against
  the engine's last computation of them (`derived_at`): a source dating its reports ahead of
  the engine's clock cannot freeze them;
- reported differently by the source that set it: a correction, the newer report wins;
- reported differently by another source: the stored value stays and a `Conflict` is recorded.
Provenance: `first_seen` is the earliest sighting, `last_seen` the latest (a report of derived
values only is a computation, not a sighting: it moves `derived_at` instead), `sources` every
source that reported the element, `confidence` the strongest report. A placeholder
(`unresolved`, made by an edge to a node not yet seen) is resolved by the first real report of
the node.

Re-reporting the same facts therefore changes nothing but `last_seen` (or `derived_at`).
"""

from __future__ import annotations

import builtins
import functools
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from lineage.model import (
    DERIVED_CLOCK,
    DERIVED_PROPERTIES,
    MUTABLE_PROPERTIES,
    UNION_PROPERTIES,
    Confidence,
    NodeKind,
    Properties,
    Provenance,
    Value,
)
from lineage.timefmt import utc_now


@dataclass(frozen=True, slots=True)
class Conflict:
    """Two sources disagree about one property of one node or edge."""

    element: str
    property: str
    current_value: Value
    current_source: str
    reported_value: Value
    reported_source: str
    first_seen: str  # the source's times of the reports
    last_seen: str
    recorded_at: str | None = None  # when the engine first learned of it (its clock)

    @builtins.property  # the field `property` shadows the builtin here
    def id(self) -> str:
        """Stable identity: the same disagreement reported again is the same conflict."""
        parts = [self.element, self.property, _canonical(self.current_value),
                 self.current_source, _canonical(self.reported_value), self.reported_source]
        return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]

    def as_dict(self) -> dict[str, Value | None]:
        return {
            "element": self.element, "property": self.property,
            "current_value": self.current_value, "current_source": self.current_source,
            "reported_value": self.reported_value, "reported_source": self.reported_source,
            "first_seen": self.first_seen, "last_seen": self.last_seen,
            "recorded_at": self.recorded_at,
        }


@dataclass(slots=True)
class Merged:
    """The properties to store for one element, and what the merge found."""

    properties: Properties
    created: bool
    changed: bool
    conflicts: list[Conflict] = field(default_factory=list)


def _canonical(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def new_element(reported: Properties, provenance: Provenance,
                derived: frozenset[str] = frozenset()) -> Properties:
    """The stored properties of an element seen for the first time (`derived`: the names of
    the engine's derived values for its kind)."""
    stored: Properties = dict(reported)
    if not derived.isdisjoint(reported):
        stored[DERIVED_CLOCK] = provenance.seen_at
    stored.update(
        source=provenance.source,
        sources=[provenance.source],
        first_seen=provenance.seen_at,
        last_seen=provenance.seen_at,
        confidence=str(provenance.confidence),
        property_sources=_single_owner(tuple(reported), provenance.source),
    )
    return stored


@functools.lru_cache(maxsize=4096)
def _single_owner(names: tuple[str, ...], source: str) -> str:
    """`property_sources` of properties all set by one source (the same few shapes recur)."""
    return _canonical(dict.fromkeys(names, source))


def placeholder(provenance: Provenance) -> Properties:
    """A node referenced by an edge before the node itself was reported."""
    stored = new_element({}, Provenance(
        provenance.source, provenance.seen_at, Confidence.INFERRED))
    stored["unresolved"] = True
    return stored


def merge(
    element: str,
    stored: Mapping[str, Value] | None,
    reported: Properties,
    provenance: Provenance,
    mutable: frozenset[str],
    removed: frozenset[str] = frozenset(),
    derived: frozenset[str] = frozenset(),
) -> Merged:
    """Merge one report into the stored properties of `element` (None: not stored yet);
    `removed` names properties the report withdraws, `derived` the engine's derived values
    among the mutable ones (`node_derived`)."""
    if stored is None:
        return Merged(new_element(reported, provenance, derived), created=True, changed=True)
    result: Properties = dict(stored)
    owners: dict[str, str] = json.loads(str(stored.get("property_sources", "{}")))
    sighted_newer = provenance.seen_at >= str(stored.get("last_seen", ""))
    computed_newer = provenance.seen_at >= str(stored.get(DERIVED_CLOCK, ""))

    def newer(name: str) -> bool:
        return computed_newer if name in derived else sighted_newer

    conflicts: list[Conflict] = []
    for name, value in reported.items():
        current = stored.get(name)
        if current is None:
            if name in derived and not computed_newer:
                continue  # withdrawn by a later computation (or never derived by one)
            result[name] = value
            owners[name] = provenance.source
        elif current == value:
            continue
        elif name in UNION_PROPERTIES and isinstance(current, list) and isinstance(value, list):
            result[name] = sorted({*current, *value})
        elif name in mutable or owners.get(name) == provenance.source:
            if newer(name):
                result[name] = value
                owners[name] = provenance.source
        else:
            conflicts.append(Conflict(
                element=element, property=name,
                current_value=current, current_source=owners.get(name, str(stored["source"])),
                reported_value=value, reported_source=provenance.source,
                first_seen=provenance.seen_at, last_seen=provenance.seen_at,
                recorded_at=utc_now(),
            ))
    for name in removed:
        if name in result and newer(name) and (name in mutable
                                               or owners.get(name) == provenance.source):
            del result[name]
            owners.pop(name, None)
    named = reported.keys() | removed
    if not derived.isdisjoint(named):
        result[DERIVED_CLOCK] = max(str(stored.get(DERIVED_CLOCK, "")), provenance.seen_at)
    _merge_provenance(result, provenance, sighted=not named or not named <= derived)
    result["property_sources"] = _canonical(owners)
    changed = any(result.get(name) != stored.get(name)
                  for name in set(result) | set(stored) if name not in _CLOCKS)
    return Merged(result, created=False, changed=changed, conflicts=conflicts)


_CLOCKS = frozenset({"last_seen", DERIVED_CLOCK})  # moved by every report: not a change


def _merge_provenance(result: Properties, provenance: Provenance, sighted: bool) -> None:
    if result.pop("unresolved", False):
        # The first real report replaces the reference's provenance, but keeps when it was seen.
        result["source"] = provenance.source
        result["confidence"] = str(provenance.confidence)
    if sighted:
        result["first_seen"] = min(str(result["first_seen"]), provenance.seen_at)
        result["last_seen"] = max(str(result["last_seen"]), provenance.seen_at)
    sources = [str(s) for s in result.get("sources", [])]  # type: ignore[union-attr]
    if provenance.source not in sources:
        result["sources"] = sorted([*sources, provenance.source])
    if provenance.confidence.rank > Confidence(str(result["confidence"])).rank:
        result["confidence"] = str(provenance.confidence)


def node_mutable(kind: NodeKind) -> frozenset[str]:
    return MUTABLE_PROPERTIES.get(kind, frozenset())


def node_derived(kind: NodeKind) -> frozenset[str]:
    return DERIVED_PROPERTIES.get(kind, frozenset())


def node_rules(kind: NodeKind) -> tuple[frozenset[str], frozenset[str]]:
    """The mutable and the derived properties of a node kind (`merge`'s `mutable`, `derived`)."""
    return node_mutable(kind), node_derived(kind)


def merge_conflict(stored: Conflict | None, reported: Conflict) -> Conflict:
    """The same disagreement seen again keeps its first sighting and moves its last."""
    if stored is None:
        return reported
    return Conflict(
        element=stored.element, property=stored.property,
        current_value=stored.current_value, current_source=stored.current_source,
        reported_value=stored.reported_value, reported_source=stored.reported_source,
        first_seen=min(stored.first_seen, reported.first_seen),
        last_seen=max(stored.last_seen, reported.last_seen),
        recorded_at=stored.recorded_at or reported.recorded_at,
    )
