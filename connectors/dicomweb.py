"""DICOMweb QIDO-RS (PS3.18 JSON) → reconciliation of what a PACS holds with what the graph
believes it holds.

- `lost`: copies the graph has as live in the system (not disposed, not rejected) whose series
  the PACS does not return;
- `uncataloged`: series the PACS returns that have no live copy of the system in the graph;
- `instance_count_mismatch`: both have it, with different instance counts.
Studies are listed page by page (`limit`/`offset`), then the series of each study.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from connectors.http import JsonSource
from lineage.model import EdgeType, NodeKind, kind_of, system_key
from lineage.stores import GraphStore
from lineage.timefmt import utc_now

STUDY_UID, SERIES_UID, MODALITY = "0020000D", "0020000E", "00080060"
SERIES_INSTANCES = "00201209"


def first_value(dataset: dict[str, Any], tag: str) -> Any:
    values = (dataset.get(tag) or {}).get("Value") or []
    return values[0] if values else None


@dataclass(frozen=True, slots=True)
class PacsSeries:
    study_uid: str
    series_uid: str
    modality: str | None
    instances: int | None


@dataclass(frozen=True, slots=True)
class GraphCopy:
    key: str
    series_uid: str
    instance_count: int | None


class QidoClient:
    def __init__(self, source: JsonSource, page_size: int = 100):
        self.source = source
        self.page_size = page_size

    def studies(self) -> Iterator[str]:
        offset = 0
        while True:
            page = self.source.get("/studies", {"limit": self.page_size, "offset": offset}) or []
            for study in page:
                uid = first_value(study, STUDY_UID)
                if uid:
                    yield str(uid)
            if len(page) < self.page_size:
                return
            offset += self.page_size

    def series(self) -> Iterator[PacsSeries]:
        for study in self.studies():
            for item in self.source.get(f"/studies/{study}/series") or []:
                uid = first_value(item, SERIES_UID)
                if uid:
                    count = first_value(item, SERIES_INSTANCES)
                    yield PacsSeries(study, str(uid), first_value(item, MODALITY),
                                     int(count) if count is not None else None)


def live_copies(store: GraphStore, system: str) -> list[GraphCopy]:
    """Copies of series the graph believes live (not disposed, not rejected) in the system."""
    found = []
    for stored_in in store.edges(system_key(system), "in", [EdgeType.STORED_IN]):
        copy = store.get_node(stored_in.src)
        if copy is None or "disposed_at" in copy.properties or "rejected_at" in copy.properties:
            continue
        for copy_of in store.edges(copy.key, "out", [EdgeType.COPY_OF]):
            if kind_of(copy_of.dst) is NodeKind.SERIES:
                uid = copy_of.dst.split(":", 1)[1]
                count = copy.properties.get("instance_count")
                found.append(GraphCopy(copy.key, uid, int(count) if count is not None else None))  # type: ignore[arg-type]
    return found


@dataclass(slots=True)
class Reconciliation:
    system: str
    url: str
    at: str = field(default_factory=utc_now)
    pacs_series: int = 0
    graph_copies: int = 0
    lost: list[dict[str, Any]] = field(default_factory=list)
    uncataloged: list[dict[str, Any]] = field(default_factory=list)
    instance_count_mismatch: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "system": self.system, "url": self.url, "at": self.at,
            "pacs_series": self.pacs_series, "graph_copies": self.graph_copies,
            "lost": self.lost, "uncataloged": self.uncataloged,
            "instance_count_mismatch": self.instance_count_mismatch,
        }


def reconcile(qido: QidoClient, store: GraphStore, system: str) -> Reconciliation:
    result = Reconciliation(system, qido.source.base_url)
    pacs = {s.series_uid: s for s in qido.series()}
    graph = {c.series_uid: c for c in live_copies(store, system)}
    result.pacs_series, result.graph_copies = len(pacs), len(graph)
    for uid, copy in sorted(graph.items()):
        held = pacs.get(uid)
        if held is None:
            result.lost.append({"key": copy.key, "series": f"series:{uid}",
                                "instance_count": copy.instance_count})
        elif None not in (held.instances, copy.instance_count) and (
                held.instances != copy.instance_count):
            result.instance_count_mismatch.append({
                "key": copy.key, "series": f"series:{uid}",
                "graph": copy.instance_count, "pacs": held.instances})
    for uid, held in sorted(pacs.items()):
        if uid not in graph:
            result.uncataloged.append({"key": f"series:{uid}", "study": f"study:{held.study_uid}",
                                       "modality": held.modality, "instances": held.instances})
    return result
