"""OpenLineage events → lineage: jobs, runs, and what they read and wrote.

- A RunEvent (START, RUNNING, COMPLETE, FAIL, ABORT, OTHER) gives `job:<namespace>/<name>` and
  `run:<runId>` RUN_OF its job (state, started_at at START, ended_at at COMPLETE/FAIL/ABORT),
  READ edges to its inputs and WROTE edges to its outputs (observed). OpenLineage requires run
  ids to be unique: a run id seen again under another job is recorded as a metadata conflict
  on the run's `job` (the first job stays), never merged silently.
- A JobEvent (static lineage: no run) gives the job and READ/WROTE edges from the job itself,
  with confidence `declared`.
- A DatasetEvent (static metadata) gives the dataset, declared.
Events are told apart by shape, as the OpenLineage spec does: `run` → RunEvent, else `job` →
JobEvent, else `dataset` → DatasetEvent. How OpenLineage datasets map to keys:
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
    """The facts of a RunEvent, a JobEvent or a DatasetEvent."""
    if not isinstance(event, dict):
        raise OpenLineageError("an OpenLineage event is a JSON object")
    if "run" not in event and isinstance(event.get("job"), dict):
        return _job_event_facts(event)
    if "run" not in event and "job" not in event and isinstance(event.get("dataset"), dict):
        return dataset_facts(event["dataset"], _declared(event))[1]
    return _run_event_facts(event)


def _declared(event: dict[str, Any]) -> Provenance:
    return Provenance(f"openlineage:{event.get('producer') or 'unknown'}",
                      str(event.get("eventTime") or ""), Confidence.DECLARED)


def _job_facts(job: Any, prov: Provenance) -> tuple[str, Node]:
    try:
        namespace, name = str(job["namespace"]), str(job["name"])
    except (KeyError, TypeError):
        raise OpenLineageError("a job needs a namespace and a name") from None
    key = make_key(NodeKind.JOB, f"{namespace}/{name}")
    return key, Node(key, prov, {"namespace": namespace, "name": name})


def _io_facts(owner: str, event: dict[str, Any], prov: Provenance) -> list[Node | Edge]:
    facts: list[Node | Edge] = []
    for field_name, edge_type in (("inputs", EdgeType.READ), ("outputs", EdgeType.WROTE)):
        for dataset in event.get(field_name) or []:
            key, made = dataset_facts(dataset, prov)
            facts += [*made, Edge(owner, edge_type, key, prov)]
    return facts


def _job_event_facts(event: dict[str, Any]) -> list[Node | Edge]:
    prov = _declared(event)
    job_key, job = _job_facts(event["job"], prov)
    return [job, *_io_facts(job_key, event, prov)]


def _run_event_facts(event: dict[str, Any]) -> list[Node | Edge]:
    state = str(event.get("eventType") or "OTHER")
    if state not in STATES:
        raise OpenLineageError(f"unknown eventType {state!r}")
    try:
        run_id, time = str(event["run"]["runId"]), str(event["eventTime"])
        job = event["job"]
    except (KeyError, TypeError) as exc:
        raise OpenLineageError(f"missing {exc}: a RunEvent needs run.runId, job and eventTime"
                               ) from None
    producer = event.get("producer") or "unknown"
    prov = Provenance(f"openlineage:{producer}", time, Confidence.OBSERVED)
    job_key, job_node = _job_facts(job, prov)
    run = make_key(NodeKind.RUN, run_id)
    # The run's `job` is reported under a source naming that job: the same run id under another
    # job is then another source's different value, which the merge records as a conflict.
    run_prov = Provenance(f"openlineage:{producer}#{job_key}", time, Confidence.OBSERVED)
    return [
        job_node,
        Node(run, run_prov, {"job": job_key, "state": state,
                             "started_at": time if state == "START" else None,
                             "ended_at": time if state in ENDING else None}),
        Edge(run, EdgeType.RUN_OF, job_key, prov),
        *_io_facts(run, event, prov),
    ]


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
