"""OpenLineage as real producers send it: openlineage-python's own client and HTTP transport
(gzip included) against the running API, RunEvents, static JobEvents and DatasetEvents, and a
run id reused under another job (issue "Protocol fidelity")."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Iterator

import httpx
import pytest
from openlineage.client import OpenLineageClient
from openlineage.client.event_v2 import (
    DatasetEvent,
    InputDataset,
    Job,
    JobEvent,
    OutputDataset,
    Run,
    RunEvent,
    RunState,
    StaticDataset,
)
from openlineage.client.transport.http import (
    ApiKeyTokenProvider,
    HttpCompression,
    HttpConfig,
    HttpTransport,
)

from lineage.impact import trace
from lineage.model import EdgeType
from lineage.stores import GraphStore
from tests.test_api import TOKENS

PRODUCER = "https://github.com/OpenLineage/OpenLineage/tree/1.54.0/client/python"
RUN_ID = "0190b7c4-7d3a-7c55-9a41-6f2b8c1e0a11"
SERIES = "studies/1.2.3/series/1.2.3.4"


@pytest.fixture(params=[None, HttpCompression.GZIP], ids=["plain", "gzip"])
def client(request: pytest.FixtureRequest, any_api_server: str) -> Iterator[OpenLineageClient]:
    config = HttpConfig(url=any_api_server, compression=request.param, timeout=60,
                        auth=ApiKeyTokenProvider({"apiKey": TOKENS["ingest"]}),
                        retry={"total": 0})
    yield OpenLineageClient(transport=HttpTransport(config))


def run_event(state: RunState, run_id: str, job: str, time: str) -> RunEvent:
    return RunEvent(eventType=state, eventTime=time, producer=PRODUCER,
                    run=Run(runId=run_id), job=Job(namespace="ai", name=job),
                    inputs=[InputDataset(namespace="https://pacs/dicom-web", name=SERIES)],
                    outputs=[OutputDataset(namespace="s3://models", name=f"{job}-v1")])


def test_the_official_client_and_transport_are_accepted(client: OpenLineageClient,
                                                       any_store: GraphStore) -> None:
    client.emit(run_event(RunState.START, RUN_ID, "train-nodules", "2025-01-10T08:00:00Z"))
    client.emit(run_event(RunState.COMPLETE, RUN_ID, "train-nodules", "2025-01-10T09:00:00Z"))
    client.emit(JobEvent(eventTime="2025-01-11T00:00:00Z", producer=PRODUCER,
                         job=Job(namespace="ai", name="deid-nightly"),
                         inputs=[InputDataset(namespace="s3://raw", name="ct")],
                         outputs=[OutputDataset(namespace="s3://research", name="ct-deid")]))
    client.emit(DatasetEvent(eventTime="2025-01-11T00:00:00Z", producer=PRODUCER,
                             dataset=StaticDataset(namespace="s3://research", name="cohort-7")))

    run = any_store.get_node(f"run:{RUN_ID}")
    assert run is not None and run.properties["state"] == "COMPLETE"
    # a trace from the job walks through its run to what the run read and wrote
    keys = {n["key"] for n in trace(any_store, "job:ai/train-nodules", "both", 2)["nodes"]}
    assert {f"run:{RUN_ID}", "series:1.2.3.4", "dataset:s3://models/train-nodules-v1"} <= keys
    declared = any_store.get_edge("job:ai/deid-nightly", "WROTE",
                                  "dataset:s3://research/ct-deid")
    assert declared is not None and declared.properties["confidence"] == "declared"
    assert any_store.get_node("dataset:s3://research/cohort-7") is not None


def test_a_run_id_reused_under_another_job_is_a_conflict(client: OpenLineageClient,
                                                         any_store: GraphStore) -> None:
    client.emit(run_event(RunState.COMPLETE, RUN_ID, "train-nodules", "2025-01-10T09:00:00Z"))
    client.emit(run_event(RunState.COMPLETE, RUN_ID, "segment-liver", "2025-01-10T10:00:00Z"))

    run = any_store.get_node(f"run:{RUN_ID}")
    assert run is not None and run.properties["job"] == "job:ai/train-nodules"  # the first
    conflicts = [c for c in any_store.conflicts() if c.element == f"run:{RUN_ID}"]
    assert [(c.property, c.reported_value) for c in conflicts if c.property == "job"] == [
        ("job", "job:ai/segment-liver")]
    assert json.dumps([c.as_dict() for c in conflicts])  # reported as any conflict


def test_senders_at_once_are_all_accepted_while_lineage_is_read(any_api_server: str,
                                                                any_store: GraphStore) -> None:
    """Four producers at once, their jobs sharing datasets, and a reader tracing meanwhile:
    every event is accepted and every edge stored (found by the Marquez peer benchmark: the
    local store's API answered 500 and 503 to concurrent senders)."""
    config = HttpConfig(url=any_api_server, timeout=120, retry={"total": 0},
                        auth=ApiKeyTokenProvider({"apiKey": TOKENS["ingest"]}))
    jobs = [f"step-{n}" for n in range(40)]
    failures: list[BaseException] = []

    def send(share: list[str]) -> None:
        client = OpenLineageClient(transport=HttpTransport(config))
        for job in share:
            run_id = str(uuid.uuid4())
            for state in (RunState.START, RunState.COMPLETE):
                client.emit(RunEvent(
                    eventType=state, eventTime="2025-01-10T08:00:00Z", producer=PRODUCER,
                    run=Run(runId=run_id), job=Job(namespace="ai", name=job),
                    inputs=[InputDataset(namespace="s3://shared", name=f"in-{int(job[5:]) % 3}")],
                    outputs=[OutputDataset(namespace="s3://shared", name=f"out-{job}")]))

    def read(stop: threading.Event) -> None:
        with httpx.Client(timeout=60, headers={"Authorization": f"Bearer {TOKENS['auditor']}"}
                          ) as reader:
            while not stop.is_set():
                answer = reader.get(f"{any_api_server}/lineage/dataset:s3:%2F%2Fshared%2Fin-0",
                                    params={"direction": "both", "depth": 4})
                assert answer.status_code in (200, 404), answer.text

    def guarded(work: Callable[[], None]) -> None:
        try:
            work()
        except BaseException as exc:  # reported by the assertion below
            failures.append(exc)

    stop = threading.Event()
    reader = threading.Thread(target=guarded, args=(lambda: read(stop),))
    reader.start()
    senders = [threading.Thread(target=guarded, args=(lambda share=jobs[n::4]: send(share),))
               for n in range(4)]
    for thread in senders:
        thread.start()
    for thread in senders:
        thread.join()
    stop.set()
    reader.join()
    assert not failures, failures
    for n, job in enumerate(jobs):
        assert any_store.get_node(f"job:ai/{job}") is not None
        runs = [e.src for e in any_store.edges(f"job:ai/{job}", "in", [EdgeType.RUN_OF])]
        assert len(runs) == 1
        assert any_store.get_edge(runs[0], EdgeType.READ, f"dataset:s3://shared/in-{n % 3}")
        assert any_store.get_edge(runs[0], EdgeType.WROTE, f"dataset:s3://shared/out-{job}")
