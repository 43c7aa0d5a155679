"""OpenLineage as real producers send it: openlineage-python's own client and HTTP transport
(gzip included) against the running API, RunEvents, static JobEvents and DatasetEvents, and a
run id reused under another job (issue "Protocol fidelity")."""

from __future__ import annotations

import json
from collections.abc import Iterator

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
