"""Orthanc change feed → lineage: follow `/changes?since=&limit=` of a real Orthanc.

Per page of changes:
- `NewInstance` (and new/stable/modified/anonymized series): the series is read again from
  Orthanc (its instances' tags, transfer syntax, size, reception date) and ingested like files
  from a scan, so the copy's instance count and manifest always describe what Orthanc holds;
- `Deleted` of a series disposes the copy (`disposed_at`, and `valid_to` on STORED_IN); the
  series key comes from the follower state, since Orthanc IDs are hashes and the resource is
  gone; `Deleted` of an instance re-reads its series;
- `AnonymizedFrom` / `ModifiedFrom` of an instance become DERIVED_FROM (kind `anonymization` /
  `modification`) from its series to the source's series.
The checkpoint moves (a `Commit` in the record stream) only after the page is in the store.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

from pydantic import Field
from pydicom.datadict import tag_for_keyword
from pydicom.dataset import Dataset

from connectors.dicom_files import InstanceIndex, instance_records
from connectors.dicom_header import (
    TAGS,
    DicomHeader,
    HeaderError,
    parse_header,
    parsed_with_warnings,
)
from connectors.dicom_records import (
    DicomSource,
    SeenInstance,
    copy_key,
    series_key_of,
)
from connectors.http import JsonSource
from connectors.orthanc_state import FollowerState
from lineage.errors import SourceUnavailableError
from lineage.model import Confidence, Edge, EdgeType, Node, Provenance, system_key
from lineage.pipeline import Bundle, Commit, Notice, Record, Rejected
from lineage.sources import Source, SourceConfig, SourceContext, SystemCode
from lineage.timefmt import utc_now

SERIES_CHANGES = frozenset({"NewSeries", "StableSeries", "CompletedSeries", "ModifiedSeries",
                            "AnonymizedSeries"})
DERIVATION_METADATA = {"AnonymizedFrom": "anonymization", "ModifiedFrom": "modification"}
_WANTED = frozenset(TAGS)


def dataset_from_simplified(tags: dict[str, Any], top_level: bool = True) -> Dataset:
    """A pydicom Dataset from Orthanc's `simplified-tags` JSON (keyword → value or items)."""
    ds = Dataset()
    for keyword, value in tags.items():
        if (top_level and keyword not in _WANTED) or tag_for_keyword(keyword) is None:
            continue
        try:
            if isinstance(value, list):
                setattr(ds, keyword, [dataset_from_simplified(item, False) for item in value
                                      if isinstance(item, dict)])
            elif isinstance(value, str):
                setattr(ds, keyword, value)
        except (TypeError, ValueError):
            continue  # a value pydicom cannot take for that VR: as good as absent
    return ds


# What malformed simplified tags raise from inside pydicom: that instance is rejected.
UNUSABLE_TAGS = (TypeError, ValueError, AttributeError, KeyError, OverflowError, RecursionError,
                 IndexError)


def header_of(tags: dict[str, Any], transfer_syntax: str) -> DicomHeader:
    return parse_header(dataset_from_simplified(tags), transfer_syntax)


def orthanc_time(value: str | None) -> str | None:
    """Orthanc's `20261128T082507` (UTC) as an ISO time."""
    if not value or len(value) < 15 or value[8] != "T":
        return None
    return f"{value[:4]}-{value[4:6]}-{value[6:8]}T{value[9:11]}:{value[11:13]}:{value[13:15]}Z"


class OrthancFollower:
    """Turns an Orthanc's change feed into records, page by page."""

    def __init__(self, client: JsonSource, source: DicomSource, state: FollowerState,
                 index: InstanceIndex, page_size: int = 100):
        self.client = client
        self.source = source
        self.state = state
        self.index = index
        self.page_size = page_size
        self.changes_seen = 0
        self.last_seq = state.checkpoint

    def records(
        self, follow: bool = False, poll_seconds: float = 2.0,
        should_stop: Callable[[], bool] = lambda: False, sweep_every: int = 30,
    ) -> Iterator[Record]:
        """Pages of changes from the checkpoint on, then a deletion sweep; when following,
        polls again every `poll_seconds` and sweeps every `sweep_every` polls."""
        since = self.state.checkpoint
        polls = 0
        while True:
            page = self.client.get("/changes", {"since": since, "limit": self.page_size})
            if not isinstance(page, dict) or "Changes" not in page:
                raise SourceUnavailableError(
                    f"{self.client.base_url}/changes is not an Orthanc change feed")
            changes: list[dict[str, Any]] = page["Changes"]
            last = int(page.get("Last", since))
            if changes:
                self.changes_seen += len(changes)
                touched, deleted = self._collect(changes)
                yield from self._records(touched, deleted)
            else:
                deleted = {}
            yield Commit(partial(self._checkpoint, last, list(deleted)))
            since = last
            if page.get("Done", True):
                stopping = not follow or should_stop()
                if stopping or polls % sweep_every == 0:
                    touched, deleted, gone = self._sweep()
                    yield from self._records(touched, deleted)
                    yield Commit(partial(self.state.forget, list(deleted), gone))
                if stopping:
                    return
                polls += 1
                time.sleep(poll_seconds)

    def _checkpoint(self, seq: int, deleted_series: list[str]) -> None:
        """After the store committed a page: move the checkpoint, forget what was disposed."""
        self.state.save_checkpoint(seq)
        self.state.forget(deleted_series, [])
        self.last_seq = seq

    def _collect(self, changes: list[dict[str, Any]]) -> tuple[list[str], dict[str, str]]:
        """Series to read again, and series deleted (with when), from a page of changes."""
        touched: dict[str, None] = {}
        deleted: dict[str, str] = {}
        for change in changes:
            kind, resource, rid = change.get("ChangeType"), change.get("ResourceType"), change["ID"]
            if kind == "NewInstance":
                instance = self.client.get(f"/instances/{rid}")
                if instance:
                    self.state.remember_instances({rid: instance["ParentSeries"]})
                    touched[instance["ParentSeries"]] = None
            elif kind in SERIES_CHANGES:
                touched[rid] = None
            elif kind == "Deleted" and resource == "Series":
                deleted[rid] = orthanc_time(change.get("Date")) or utc_now()
            elif kind == "Deleted" and resource == "Instance":
                parent = self.state.series_of_instance(rid)
                if parent:
                    touched[parent] = None
        return list(touched), deleted

    def _sweep(self) -> tuple[list[str], dict[str, str], list[str]]:
        """Deletions the change log did not show: series and instances the state knows that
        Orthanc no longer lists. Deleted series are disposed as of now; series that lost
        instances are read again. Returns (series to read, deleted series, gone instances)."""
        live_series = set(self._list("/series"))
        live_instances = set(self._list("/instances"))
        now = utc_now()
        deleted = {sid: now for sid in self.state.known_series() if sid not in live_series}
        gone = {iid: sid for iid, sid in self.state.known_instances().items()
                if iid not in live_instances}
        touched = sorted({sid for sid in gone.values() if sid in live_series})
        return touched, deleted, list(gone)

    def _list(self, path: str, page: int = 1000) -> Iterator[str]:
        since = 0
        while True:
            ids = self.client.get(path, {"since": since, "limit": page}) or []
            yield from ids
            if len(ids) < page:
                return
            since += page

    def _records(self, touched: list[str], deleted: dict[str, str]) -> Iterator[Record]:
        prov = Provenance(self.source.connector("orthanc"), utc_now(), Confidence.OBSERVED)
        seen: list[SeenInstance] = []
        derivations: list[tuple[SeenInstance, str, str]] = []
        for series_id in touched:
            if series_id in deleted:
                continue
            for instance, origin in self._read_series(series_id):
                if isinstance(instance, Rejected):
                    yield instance
                    continue
                seen.append(instance)
                derivations += [(instance, kind, src) for kind, src in origin]
        yield from instance_records(seen, self.source, self.index, "orthanc", prov.seen_at)
        yield from self._derivations(derivations, prov)
        for series_id, at in deleted.items():
            yield self._disposal(series_id, at, prov)

    def _read_series(
        self, series_id: str
    ) -> Iterator[tuple[SeenInstance | Rejected, list[tuple[str, str]]]]:
        instances = self.client.get(f"/series/{series_id}/instances")
        if not instances:
            return  # gone already: its Deleted change disposes the copy
        keys: dict[str, str] = {}
        for instance in instances:
            rid = instance["ID"]
            location = f"{self.client.base_url}/instances/{rid}"
            tags = self.client.get(f"/instances/{rid}/simplified-tags")
            metadata = self.client.get(f"/instances/{rid}/metadata", {"expand": ""}) or {}
            if tags is None:
                continue
            try:
                header = parsed_with_warnings(partial(
                    header_of, tags, metadata.get("TransferSyntax", "")))
            except HeaderError as exc:
                yield Rejected(location, str(exc)), []
                continue
            except UNUSABLE_TAGS as exc:
                yield Rejected(location, f"unusable tags ({type(exc).__name__})"), []
                continue
            seen = SeenInstance(header, location, size=instance.get("FileSize"),
                                stored_at=orthanc_time(metadata.get("ReceptionDate")),
                                native_id=rid)
            keys[series_id] = series_key_of(header, self.source)
            origin = [(kind, str(instance[name])) for name, kind in DERIVATION_METADATA.items()
                      if instance.get(name)]
            yield seen, origin
        self.state.remember_instances({i["ID"]: series_id for i in instances})
        self.state.remember_series(keys)

    def _derivations(
        self, derivations: list[tuple[SeenInstance, str, str]], prov: Provenance
    ) -> Iterator[Record]:
        edges: dict[tuple[str, str], Edge] = {}
        for instance, kind, source_instance in derivations:
            source_series = self.state.series_of_instance(source_instance)
            if source_series is None:
                found = self.client.get(f"/instances/{source_instance}")
                source_series = found["ParentSeries"] if found else None
            source_key = self.state.series_key(source_series) if source_series else None
            derived_key = series_key_of(instance.header, self.source)
            if source_key is None:
                yield Bundle((), instance.location, (Notice(
                    instance.location, f"{kind} source instance {source_instance} is unknown"),))
            elif source_key != derived_key:
                edges[(derived_key, source_key)] = Edge(
                    derived_key, EdgeType.DERIVED_FROM, source_key, prov,
                    {"kind": kind, "code": ""})
        if edges:
            yield Bundle(tuple(edges.values()), "orthanc: AnonymizedFrom / ModifiedFrom")

    def _disposal(self, series_id: str, at: str, prov: Provenance) -> Bundle:
        series_key = self.state.series_key(series_id)
        location = f"{self.client.base_url}/series/{series_id}"
        if series_key is None:
            return Bundle((), location, (Notice(
                location, "deleted before it was ever ingested: nothing to dispose"),))
        key = copy_key(self.source.system, series_key.split(":", 1)[1])
        return Bundle((
            Node(key, prov, {"disposed_at": at}),
            Edge(key, EdgeType.STORED_IN, system_key(self.source.system), prov, {"valid_to": at}),
        ), location)


class OrthancConfig(SourceConfig):
    url: str
    system: SystemCode
    follow: bool = False
    state: Path | None = None  # follower state file; default: the context's
    poll: float = Field(default=2.0, ge=0.1)
    region: str | None = None
    patient_issuer: str | None = None


def _source_records(config: OrthancConfig, context: SourceContext) -> Iterator[Record]:
    source = DicomSource(system=config.system, secret=context.secret, region=config.region,
                         patient_issuer=config.patient_issuer)
    state_path = config.state or context.state_path(f"orthanc-{config.system}.state")
    url = config.url.rstrip("/")
    state = FollowerState(state_path, url)
    client = JsonSource(url, name="Orthanc")
    follower = OrthancFollower(client, source, state, context.store)

    def records() -> Iterator[Record]:
        try:
            yield from follower.records(config.follow, config.poll, context.stop)
        finally:
            client.close()
            state.close()
            context.extra["orthanc"] = {"url": config.url, "changes": follower.changes_seen,
                                        "checkpoint": follower.last_seq, "state": str(state_path)}
    return records()


SOURCE = Source(
    kind="orthanc", summary="An Orthanc change feed, followed from a durable checkpoint",
    config_class=OrthancConfig, records=_source_records, label=lambda c: f"orthanc:{c.system}")
