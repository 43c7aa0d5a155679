"""The ingestion pipeline: connectors yield records, the pipeline writes them to a store in batches
and returns a run report.

What a connector yields (`Record`):
- `Node` / `Edge`: one fact;
- `Bundle`: the facts of one source record (one DICOM file, one HL7 message), never split across
  batches, so that a source record is written whole or not at all;
- `Rejected`: a source record the connector could not use, with where it was and why;
- `Pending(location, build)`: one source record whose facts the pipeline builds itself, so that
  *any* error while building (a model `UserError`, a `ValueError`, a `KeyError` on a missing
  field, a `RecursionError` on deep input, an error of a parsing library) rejects that record
  alone and the run goes on;
- `Commit(then)`: write everything so far, then call `then` (a follower's checkpoint, the
  instance index): nothing a connector keeps about its progress is written ahead of the store.
A source whose iteration itself fails (not one record: the reading) is reported as a rejected
record at the place it stopped; what it yielded before is written. An unreachable source or
store (`SourceUnavailableError`, `StoreError`) is raised: that run failed.

When the store rejects a batch (nothing of it is written) and names the record that caused it,
the bundle of that record is reported as rejected and the rest of the batch is written again as a
new batch; when the store cannot name the record, the whole batch is reported rejected.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from lineage.errors import BatchRejectedError, SourceUnavailableError, StoreError, UserError
from lineage.model import Edge, Node, kind_of_valid
from lineage.stores.base import GraphStore, UpsertResult
from lineage.timefmt import utc_now


@dataclass(frozen=True, slots=True)
class Rejected:
    """A source record that was not ingested."""

    location: str
    reason: str


@dataclass(frozen=True, slots=True)
class Notice:
    """Something of a source record that was left out or doubtful, while the rest was ingested
    (an invalid birth date, an unknown age)."""

    location: str
    message: str


@dataclass(frozen=True, slots=True)
class Bundle:
    """The facts of one source record, kept in one batch, with its notices."""

    items: tuple[Node | Edge, ...]
    location: str = ""
    notices: tuple[Notice, ...] = ()


@dataclass(frozen=True, slots=True)
class Pending:
    """One source record, built by the pipeline (`build` returns its facts or a `Bundle`)."""

    location: str
    build: Callable[[], Iterable[Node | Edge] | Bundle]


@dataclass(frozen=True, slots=True)
class Commit:
    """A point in a record stream: everything before it is written to the store, then `then()`
    runs. Followers save their checkpoints this way, never ahead of what the store holds."""

    then: Callable[[], None]


Record = Node | Edge | Bundle | Rejected | Pending | Commit
log = logging.getLogger("lineage.ingest")


def build_record(record: Pending) -> Bundle | Rejected:
    """The facts of one pending source record, or why it cannot be used. Never raises for a bad
    record: the MLLP listener checks a message with this before it acknowledges it."""
    try:
        built = record.build()
        if isinstance(built, Bundle):
            notices = tuple(n if n.location else Notice(record.location, n.message)
                            for n in built.notices)
            return Bundle(built.items, built.location or record.location, notices)
        return Bundle(tuple(built), record.location)
    except UserError as exc:
        return Rejected(record.location, str(exc))
    except RecursionError:
        return Rejected(record.location, "nested too deeply to be read")
    except Exception as exc:  # any bug or library error costs this record, never the run
        # the kind only: a library's message (and so a traceback) may quote the input's values
        log.debug("record %s rejected: %s", record.location, type(exc).__name__)
        return Rejected(record.location, describe_error(exc))


def describe_error(exc: BaseException) -> str:
    """An unexpected error as one line: its kind, and the message only where it is the engine's
    own (library messages may repeat the input)."""
    if isinstance(exc, UserError):
        return " ".join(str(exc).split())
    if isinstance(exc, KeyError):
        return f"a required field is missing ({type(exc).__name__})"
    return f"the record could not be read ({type(exc).__name__})"


@dataclass(slots=True)
class RunReport:
    """What one ingestion run did; `as_dict()` is the --json form."""

    source: str
    started_at: str = field(default_factory=utc_now)
    finished_at: str = ""
    seconds: float = 0.0
    records: int = 0
    batches: int = 0
    nodes_by_kind: Counter[str] = field(default_factory=Counter)
    edges_by_type: Counter[str] = field(default_factory=Counter)
    # nodes created or whose reported properties changed, and edges created or changed, by
    # kind: each once per batch (the same node changed by two batches counts twice)
    nodes_changed_by_kind: Counter[str] = field(default_factory=Counter)
    edges_changed_by_type: Counter[str] = field(default_factory=Counter)
    written: UpsertResult = field(default_factory=UpsertResult)
    rejected: list[Rejected] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)  # connector-specific figures

    def as_dict(self) -> dict[str, Any]:
        written = self.written
        return {
            "source": self.source,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "seconds": round(self.seconds, 3),
            "records": self.records,
            "batches": self.batches,
            "nodes_by_kind": dict(sorted(self.nodes_by_kind.items())),
            "edges_by_type": dict(sorted(self.edges_by_type.items())),
            "nodes_changed_by_kind": dict(sorted(self.nodes_changed_by_kind.items())),
            "edges_changed_by_type": dict(sorted(self.edges_changed_by_type.items())),
            "nodes": {"created": written.nodes_created, "updated": written.nodes_updated,
                      "unchanged": written.nodes_unchanged},
            "edges": {"created": written.edges_created, "updated": written.edges_updated,
                      "unchanged": written.edges_unchanged},
            "placeholders_created": written.placeholders_created,
            "conflicts": [c.as_dict() for c in written.conflicts],
            "rejected": [{"location": r.location, "reason": r.reason} for r in self.rejected],
            "notices": [{"location": n.location, "message": n.message} for n in self.notices],
            **self.extra,
        }


class Pipeline:
    """`Pipeline(store, batch_size).run(records, source="estate:site.yaml")`."""

    def __init__(
        self,
        store: GraphStore,
        batch_size: int = 1000,
        progress: Callable[[int], None] | None = None,
        before_write: Callable[[], None] | None = None,
    ):
        """`before_write` runs before each batch is written (the ingest service counts itself
        among the writers whose changes are not yet reflected in the write-time facts)."""
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.store = store
        self.batch_size = batch_size
        self.progress = progress
        self.before_write = before_write

    def run(self, records: Iterable[Record], source: str,
            report: RunReport | None = None) -> RunReport:
        """Write the records; `report` (of this source) to fill in, else a new one."""
        report = report or RunReport(source=source)
        started = time.perf_counter()
        pending: list[Bundle] = []
        size = 0
        for bundle in self._bundles(records, report):
            if isinstance(bundle, Commit):
                if pending:
                    self._write(pending, report)
                    pending, size = [], 0
                bundle.then()
                continue
            if pending and size + len(bundle.items) > self.batch_size:
                self._write(pending, report)
                pending, size = [], 0
            pending.append(bundle)
            size += len(bundle.items)
        if pending:
            self._write(pending, report)
        report.finished_at = utc_now()
        report.seconds = time.perf_counter() - started
        return report

    def _bundles(self, records: Iterable[Record], report: RunReport) -> Iterator[Bundle | Commit]:
        for record in _guarded(records, report):
            if isinstance(record, Commit):
                yield record
                continue
            report.records += 1
            if self.progress is not None:
                self.progress(1)
            if isinstance(record, Pending):
                record = build_record(record)
            if isinstance(record, Rejected):
                report.rejected.append(record)
            elif isinstance(record, Bundle):
                if record.items:
                    yield record
                else:
                    report.notices.extend(record.notices)
            else:
                yield Bundle((record,), record.location)

    def _write(self, bundles: list[Bundle], report: RunReport) -> None:
        while bundles:
            nodes = [(i, item) for i, b in enumerate(bundles) for item in b.items
                     if isinstance(item, Node)]
            edges = [(i, item) for i, b in enumerate(bundles) for item in b.items
                     if isinstance(item, Edge)]
            report.batches += 1
            if self.before_write is not None:
                self.before_write()
            try:
                result = self.store.upsert([n for _, n in nodes], [e for _, e in edges])
            except BatchRejectedError as exc:
                if exc.record_index is None:
                    where = ", ".join(sorted({b.location for b in bundles if b.location}))
                    report.rejected.append(Rejected(where or "batch", str(exc)))
                    return
                owner = [i for i, _ in nodes + edges][exc.record_index]
                culprit = bundles.pop(owner)
                report.rejected.append(Rejected(culprit.location or str(exc.record), exc.reason))
                continue
            report.written.add(result)
            report.nodes_changed_by_kind.update(kind_of_valid(key).value
                                                for key in result.changed_nodes)
            report.edges_changed_by_type.update(kind for _, kind, _ in result.changed_edges)
            report.notices.extend(notice for b in bundles for notice in b.notices)
            report.nodes_by_kind.update(n.kind.value for _, n in nodes)
            report.edges_by_type.update(e.type.value for _, e in edges)
            return


def _guarded(records: Iterable[Record], report: RunReport) -> Iterator[Record]:
    """The records of a source; when reading the source itself fails, that is reported as a
    rejection where it stopped, and the run ends with what came before."""
    iterator = iter(records)
    last = "the start"
    while True:
        try:
            record = next(iterator)
        except StopIteration:
            return
        except (SourceUnavailableError, StoreError):
            raise  # the source or the store is unreachable: the command fails (exit 2)
        except Exception as exc:
            log.warning("source %s stopped after %s: %s", report.source, last,
                        type(exc).__name__)
            report.rejected.append(Rejected(f"{report.source} after {last}",
                                            f"the source stopped: {describe_error(exc)}"))
            return
        location = getattr(record, "location", "")
        if location:
            last = location
        yield record
