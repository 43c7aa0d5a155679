"""The ingest service: the one way records of any source reach a store.

The CLI's `ingest` commands, the API's `/ingest/*` routes and the MLLP listener all call
`ingest(store, records, source)`; nothing else writes a connector's records. It alone:
- isolates bad records: a `Pending` record whose building raises anything becomes
  `Rejected(location, reason)` for that record, and the run goes on (`lineage.pipeline`);
- runs commit hooks (`Commit`) after the store holds everything before them, so a connector's
  checkpoints and instance index never run ahead of the graph;
- performs sweeps (`Sweep`): after a scan of everything a system holds, the copies of that
  system the scan did not see are disposed (`disposed_at`, `disposal_reason`), never deleted;
- recomputes retention for the copies whose inputs the run changed, under the policy last
  applied, and says how many; from each first write until the recompute after it, counts
  itself in the store's HOLDING_PENDING_META (decommissions walk the copies meanwhile, as the
  holding facts may lag: a run that fails leaves the count up until a whole `retention apply`);
- logs one line per run to the `lineage.ingest` logger, and returns the `RunReport`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from lineage.model import Confidence, Node, Provenance, system_key
from lineage.pipeline import Bundle, Commit, Pipeline, Record, RunReport
from lineage.retention.apply import HOLDING_PENDING_META, recompute_affected
from lineage.stores import GraphStore
from lineage.timefmt import utc_now
from queries.holdings import LIVE_COPIES
from queries.library import run_query

log = logging.getLogger("lineage.ingest")
NOT_FOUND_ON_RESCAN = "not found on rescan"


@dataclass(frozen=True, slots=True)
class Sweep:
    """The end of a scan of everything `system` holds: its live copies not in `seen` are
    disposed. Yield it only after a *whole* scan (a partial one, of a sub-folder or a file list,
    would dispose what it did not look at)."""

    system: str
    seen: frozenset[str]
    scope: str  # what was scanned, for the report (a folder, an Orthanc URL)
    reason: str = NOT_FOUND_ON_RESCAN


SourceRecord = Record | Sweep


def ingest(
    store: GraphStore,
    records: Iterable[SourceRecord],
    source: str,
    *,
    batch_size: int = 1000,
    progress: Callable[[int], None] | None = None,
    retention_every: float = 10.0,
) -> RunReport:
    """Write a source's records to `store` and recompute the retention they moved: at the end,
    and at commit points at most every `retention_every` seconds (a follower that runs for
    days keeps retention current)."""
    report = RunReport(source=source)
    retention = _Retention(store, report, retention_every)
    pipeline = Pipeline(store, batch_size, progress, before_write=retention.before_write)
    pipeline.run(_service_records(records, store, report, retention), source, report)
    retention.recompute()
    log.info("%s: %d records, %d rejected, %d nodes and %d edges created, %s", source,
             report.records, len(report.rejected), report.written.nodes_created,
             report.written.edges_created,
             f"retention recomputed for {retention.copies} copies" if retention.applied
             else "no retention policy applied")
    return report


class _Retention:
    """Retention of what a run changed, recomputed in steps; the report says how many copies."""

    def __init__(self, store: GraphStore, report: RunReport, every: float):
        self.store, self.report, self.every = store, report, every
        self.last = time.monotonic()
        self.applied = False
        self.copies = self.unknown = 0
        self.seconds = 0.0
        self.counted = False  # in HOLDING_PENDING_META: written since the last recompute

    def before_write(self) -> None:
        if not self.counted:
            self.store.add_to_meta(HOLDING_PENDING_META, 1)
            self.counted = True

    def due(self) -> None:
        if time.monotonic() - self.last >= self.every:
            self.recompute()

    def recompute(self) -> None:
        self.last = started = time.monotonic()
        written = self.report.written
        result = recompute_affected(self.store, written)
        written.changed_nodes.clear()  # consumed: a later change is recomputed again
        written.changed_edges.clear()
        if self.counted:  # the facts reflect every write so far
            self.store.add_to_meta(HOLDING_PENDING_META, -1)
            self.counted = False
        self.seconds += time.monotonic() - started
        if result is not None:
            self.applied = True
            self.copies += result.objects
            self.unknown += result.unknown
            self.report.extra["retention"] = {"recomputed": self.copies, "unknown": self.unknown,
                                              "seconds": round(self.seconds, 3)}


def _service_records(records: Iterable[SourceRecord], store: GraphStore, report: RunReport,
                     retention: _Retention) -> Iterator[Record]:
    for record in records:
        if isinstance(record, Sweep):
            yield Commit(lambda: None)  # what the scan saw is written before anything goes
            yield from _sweep(record, store, report)
        elif isinstance(record, Commit):
            yield Commit(_then_retention(record.then, retention))
        else:
            yield record


def _then_retention(then: Callable[[], None], retention: _Retention) -> Callable[[], None]:
    def run() -> None:
        then()
        retention.due()
    return run


def _sweep(sweep: Sweep, store: GraphStore, report: RunReport) -> Iterator[Record]:
    at = utc_now()
    prov = Provenance(f"sweep:{sweep.system}", at, Confidence.OBSERVED)
    live = run_query(store, LIVE_COPIES, {"system": system_key(sweep.system)})
    gone = [row["key"] for row in live if row["key"] not in sweep.seen]
    sweeps = report.extra.setdefault("sweeps", [])
    sweeps.append({"system": sweep.system, "scope": sweep.scope, "live_before": len(live),
                   "seen": len(sweep.seen), "disposed": len(gone)})
    for key in gone:
        yield Bundle((Node(key, prov, {"disposed_at": at, "disposal_reason": sweep.reason}),),
                     f"sweep of {sweep.scope}")
