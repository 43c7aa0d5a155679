"""OpenLineage RunEvents → lineage: jobs, runs, and what they read and wrote.

A RunEvent (START, RUNNING, COMPLETE, FAIL, ABORT, OTHER) gives `job:<namespace>/<name>` and
`run:<runId>` (its job, state, started_at at START, ended_at at COMPLETE/FAIL/ABORT), READ edges
to its inputs and WROTE edges to its outputs. How OpenLineage datasets map to keys:
- a name or namespace holding a DICOMweb path `.../studies/<uid>/series/<uid>` → `series:<uid>`;
- `.../studies/<uid>` alone → `dataset:<namespace>/<name>` that INCLUDES `study:<uid>`;
- any other dataset → `dataset:<namespace>/<name>`.
Namespaces `dicom://host` and DICOMweb URLs are both recognised by the path.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

from connectors.json_input import Document, documents_of, items_of, read_documents
from lineage.errors import UserError
from lineage.model import Confidence, Edge, EdgeType, Node, NodeKind, Provenance, make_key
from lineage.pipeline import Pending, Record, Rejected
from lineage.sources import FileInputs, Source, SourceContext

_SERIES = re.compile(r"studies/(?P<study>[0-9.]+)/series/(?P<series>[0-9.]+)")
_STUDY = re.compile(r"studies/(?P<study>[0-9.]+)(?:/|$)")
STATES = {"START", "RUNNING", "COMPLETE", "FAIL", "ABORT", "OTHER"}
ENDING = {"COMPLETE", "FAIL", "ABORT"}


class OpenLineageError(UserError):
    """A RunEvent that cannot be used."""


def dataset_facts(dataset: dict[str, Any], prov: Provenance) -> tuple[str, list[Node | Edge]]:
    """The key an OpenLineage dataset maps to, and the facts that make it."""
    namespace, name = str(dataset.get("namespace", "")), str(dataset.get("name", ""))
    if not namespace or not name:
        raise OpenLineageError("a dataset needs a namespace and a name")
    both = f"{namespace}/{name}"
    series = _SERIES.search(both)
    if series:
        study = make_key(NodeKind.STUDY, series["study"])
        key = make_key(NodeKind.SERIES, series["series"])
        return key, [Node(key, prov), Edge(key, EdgeType.PART_OF, study, prov)]
    key = make_key(NodeKind.DATASET, both)
    facts: list[Node | Edge] = [Node(key, prov, {"namespace": namespace, "name": name})]
    whole_study = _STUDY.search(both)
    if whole_study:
        facts.append(Edge(key, EdgeType.INCLUDES,
                          make_key(NodeKind.STUDY, whole_study["study"]), prov))
    return key, facts


def event_facts(event: Any) -> list[Node | Edge]:
    if not isinstance(event, dict):
        raise OpenLineageError("a RunEvent is a JSON object")
    state = str(event.get("eventType") or "OTHER")
    if state not in STATES:
        raise OpenLineageError(f"unknown eventType {state!r}")
    try:
        run_id, job = str(event["run"]["runId"]), event["job"]
        job_key = make_key(NodeKind.JOB, f"{job['namespace']}/{job['name']}")
        time = str(event["eventTime"])
    except (KeyError, TypeError) as exc:
        raise OpenLineageError(f"missing {exc}: a RunEvent needs run.runId, job and eventTime"
                               ) from None
    prov = Provenance(f"openlineage:{event.get('producer') or 'unknown'}", time,
                      Confidence.OBSERVED)
    run = make_key(NodeKind.RUN, run_id)
    facts: list[Node | Edge] = [
        Node(job_key, prov, {"namespace": job["namespace"], "name": job["name"]}),
        Node(run, prov, {"job": job_key, "state": state,
                         "started_at": time if state == "START" else None,
                         "ended_at": time if state in ENDING else None}),
    ]
    for field_name, edge_type in (("inputs", EdgeType.READ), ("outputs", EdgeType.WROTE)):
        for dataset in event.get(field_name) or []:
            key, made = dataset_facts(dataset, prov)
            facts += [*made, Edge(run, edge_type, key, prov)]
    return facts


def read_events(paths: Iterable[Path]) -> Iterator[Record]:
    """RunEvents of JSON files (one event or a list) and ndjson files."""
    yield from event_records(read_documents(paths))


def event_records(documents: Iterable[Document | Rejected]) -> Iterator[Record]:
    """RunEvents of JSON documents (one event or a list each)."""
    for item in items_of(documents):
        if isinstance(item, Rejected):
            yield item
        else:
            yield Pending(item[0], partial(event_facts, item[1]))


class OpenLineageConfig(FileInputs):
    pass


def _source_records(config: OpenLineageConfig, context: SourceContext) -> Iterator[Record]:
    return event_records(documents_of(config.texts()))


SOURCE = Source(
    kind="openlineage", summary="OpenLineage RunEvents (JSON, ndjson, or a request body)",
    config_class=OpenLineageConfig, records=_source_records, label=lambda c: "openlineage")
