"""DICOMweb QIDO-RS (PS3.18 JSON) → reconciliation of what a PACS holds with what the graph
believes it holds (`compare` is shared with the DIMSE C-FIND reconciliation).

- `lost`: copies the graph has as live in the system (not disposed, not rejected) whose series
  the PACS does not return;
- `uncataloged`: series the PACS returns that have no live copy of the system in the graph;
- `instance_count_mismatch`: both have it, with different instance counts.
Studies are listed page by page (`limit`/`offset`, to the first empty page: a server may send
fewer than asked and more after), then the series of each study. A server that cuts its
answers without saying so (Orthanc's `LimitFindResults` sends that many, and one more, to any
query, whatever the offset) lists only its cap: given that cap (`max_results`), studies are
listed over study-date windows that are halved when answered in full, and what cannot be split
is reported as incomplete, as for DIMSE (`connectors.listing`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from connectors.http import JsonSource
from connectors.listing import (
    Answers,
    Window,
    date_range,
    note_cut,
    refuse_sweep_if_incomplete,
    study_uids,
)
from lineage.ingest import Sweep, ingest
from lineage.model import NodeKind, kind_of, object_key, system_key
from lineage.stores import GraphStore
from lineage.timefmt import utc_now
from queries.holdings import LIVE_COPIES
from queries.library import run_query

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
    def __init__(self, source: JsonSource, page_size: int = 100, *,
                 max_results: int | None = None, since: date = date(1990, 1, 1),
                 until: date | None = None, window_days: int = 365):
        self.source = source
        self.page_size = page_size
        self.max_results = max_results  # the server's cap on one query's answers, if it has one
        self.since, self.until, self.window_days = since, until, window_days

    def find_studies(self, window: Window) -> Answers:
        """The UIDs of every page of the studies dated in `window` (None: all)."""
        asked = {} if window is None else {"StudyDate": date_range(window)}
        uids: dict[str, None] = {}  # in the order sent, each once
        offset = 0
        while True:
            page = self.source.get("/studies", {**asked, "limit": self.page_size,
                                                "offset": offset}) or []
            new = {uid: None for study in page if (uid := _study_uid(study)) not in uids}
            if page and not new:
                return Answers(list(uids), "sent the same studies again past the first page "
                                           "(it ignores offset)")
            if not page:
                return Answers(list(uids))
            uids |= new
            offset += len(page)

    def studies(self, incomplete: list[dict[str, str]]) -> Iterator[str]:
        """Study UIDs, over date windows when the server has a cap (`max_results`)."""
        yield from study_uids(
            self.find_studies, str, since=self.since,
            until=self.until or date.today() + timedelta(days=1),
            window_days=0 if self.max_results is None else self.window_days,
            max_results=self.max_results, incomplete=incomplete)

    def series(self, incomplete: list[dict[str, str]]) -> Iterator[PacsSeries]:
        for study in self.studies(incomplete):
            answers = Answers(self.source.get(f"/studies/{study}/series") or [])
            note_cut(incomplete, answers, self.max_results, f"series of study {study}")
            for item in answers.matches:
                uid = first_value(item, SERIES_UID)
                if uid:
                    count = first_value(item, SERIES_INSTANCES)
                    yield PacsSeries(study, str(uid), first_value(item, MODALITY),
                                     int(count) if count is not None else None)


def _study_uid(study: dict[str, Any]) -> str:
    return str(first_value(study, STUDY_UID) or "")


def live_copies(store: GraphStore, system: str) -> list[GraphCopy]:
    """Copies of series the graph believes live (not disposed, not rejected) in the system."""
    rows = run_query(store, LIVE_COPIES, {"system": system_key(system)})
    return [GraphCopy(row["key"], row["holds"].split(":", 1)[1],
                      int(row["instance_count"]) if row["instance_count"] is not None else None)
            for row in rows if row["holds"] and kind_of(row["holds"]) is NodeKind.SERIES]


@dataclass(slots=True)
class Reconciliation:
    system: str
    url: str
    at: str = field(default_factory=utc_now)
    pacs_series: int = 0
    graph_copies: int = 0
    pacs_copies: frozenset[str] = frozenset()  # copy keys of what the PACS holds
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


def reconcile(qido: QidoClient, store: GraphStore, system: str,
              incomplete: list[dict[str, str]] | None = None) -> Reconciliation:
    """`incomplete` receives the queries the server may have cut (`connectors.listing`)."""
    cut = [] if incomplete is None else incomplete
    return compare(list(qido.series(cut)), store, system, qido.source.base_url)


def compare(listing: Iterable[PacsSeries], store: GraphStore, system: str,
            where: str) -> Reconciliation:
    """What a system's own listing (DICOMweb, DIMSE) says against the graph's live copies."""
    result = Reconciliation(system, where)
    pacs = {s.series_uid: s for s in listing}
    graph = {c.series_uid: c for c in live_copies(store, system)}
    result.pacs_series, result.graph_copies = len(pacs), len(graph)
    result.pacs_copies = frozenset(object_key(system, uid) for uid in pacs)
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


def reconcile_url(store: GraphStore, url: str, system: str, sweep: bool = False, *,
                  max_results: int | None = None, since: date = date(1990, 1, 1),
                  window_days: int = 365) -> dict[str, Any]:
    """The reconciliation of a DICOMweb server with the graph (`lineage reconcile dicomweb`);
    `sweep`: the listing is everything the system holds, so the lost copies are disposed
    (refused, before anything is written, when the server may have cut it); `max_results`: the
    server's cap on one query's answers, if it has one (module docstring)."""
    system_key(system)
    source = JsonSource(url, name="DICOMweb", headers={"Accept": "application/dicom+json"})
    incomplete: list[dict[str, str]] = []
    try:
        qido = QidoClient(source, max_results=max_results, since=since, window_days=window_days)
        result = reconcile(qido, store, system, incomplete)
    finally:
        source.close()
    if sweep:  # nothing written yet: the comparison only reads
        refuse_sweep_if_incomplete(incomplete, f"DICOMweb at {url}", system)
    found = result.as_dict() | {"incomplete": incomplete}
    if sweep:
        report = ingest(store, [Sweep(system, result.pacs_copies, url)], f"dicomweb:{system}")
        found["sweep"] = report.extra["sweeps"][0]
    return found
