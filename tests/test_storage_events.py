"""S3, GCS and Azure storage events, in the payload shapes of the reference, into each store."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from connectors.storage_events import (
    KeyPatterns,
    KeyRedaction,
    ObjectState,
    StorageSource,
    event_records,
    read_documents,
)
from lineage.errors import UserError
from lineage.ingest import ingest
from lineage.pipeline import RunReport
from lineage.stores import GraphStore
from tests.test_cli import assert_one_line_error, lineage

KEY = "studies/1.2.3/series/1.2.3.4/{}.dcm"
COPY = "object:pacs-archive-eu:1.2.3.4"


def s3(name: str, key: str, time: str, sequencer: str | None = None, size: int | None = 100,
       **extra: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {"key": key}
    if sequencer:
        obj["sequencer"] = sequencer
    if size is not None:
        obj["size"] = size
    return {"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "eu-west-1",
            "eventTime": time, "eventName": name,
            "s3": {"bucket": {"name": "pacs-archive-eu"}, "object": obj}, **extra}


def run(store: GraphStore, tmp_path: Path, provider: str, *documents: Any,
        regions: dict[str, str] | None = None) -> RunReport:
    paths = []
    for number, document in enumerate(documents):
        path = tmp_path / f"events-{provider}-{len(list(tmp_path.iterdir()))}-{number}.json"
        path.write_text(json.dumps(document))
        paths.append(path)
    state = ObjectState(tmp_path / f"{provider}.state")
    source = StorageSource(provider, KeyPatterns.of(), regions or {})
    try:
        return ingest(store, event_records(read_documents(paths), source, state), provider)
    finally:
        state.close()


def props(store: GraphStore, key: str) -> dict[str, Any]:
    node = store.get_node(key)
    assert node is not None, key
    return dict(node.properties)


def test_s3_life_of_a_series_copy(any_store: GraphStore, tmp_path: Path) -> None:
    run(any_store, tmp_path, "s3", {"Records": [
        s3("ObjectCreated:Put", KEY.format("i1"), "2024-03-01T12:00:00.123Z", "0055AED6DCD90281E5"),
        s3("ObjectCreated:CompleteMultipartUpload", KEY.format("i2"), "2024-03-01T12:00:01Z",
           "0055AED6DCD90281E6", size=300)]})
    copy = props(any_store, COPY)
    assert (copy["instance_count"], copy["bytes"], copy["storage_tier"]) == (2, 400, "standard")
    assert copy["region_code"] == "eu-west-1" and copy["created_at"].startswith("2024-03-01T12:00")
    assert any_store.neighbours(COPY) == ["series:1.2.3.4", "system:pacs-archive-eu"]
    assert any_store.neighbours("series:1.2.3.4") == ["study:1.2.3"]

    run(any_store, tmp_path, "s3", {"Records": [
        s3("LifecycleTransition", KEY.format(name), "2024-06-01T00:00:00Z", size=None,
           lifecycleEventData={"transitionEventData": {"destinationStorageClass": "GLACIER"}})
        for name in ("i1", "i2")]})
    assert props(any_store, COPY)["storage_tier"] == "glacier"

    run(any_store, tmp_path, "s3", {"Records": [
        s3("ObjectRemoved:Delete", KEY.format("i1"), "2030-01-01T00:00:00Z", "0055AED6DCD90281F0",
           size=None),
        s3("LifecycleExpiration:Delete", KEY.format("i2"), "2031-01-01T00:00:00Z", size=None)]})
    gone = props(any_store, COPY)
    assert gone["instance_count"] == 0 and gone["disposed_at"] == "2031-01-01T00:00:00.000000Z"


def test_s3_out_of_order_events_never_resurrect(any_store: GraphStore, tmp_path: Path) -> None:
    created = s3("ObjectCreated:Put", KEY.format("i1"), "2024-03-01T12:00:00Z", "00A1")
    deleted = s3("ObjectRemoved:Delete", KEY.format("i1"), "2024-03-01T12:00:05Z", "00B2", None)
    run(any_store, tmp_path, "s3", {"Records": [deleted]})
    report = run(any_store, tmp_path, "s3", {"Records": [created]})  # late, older sequencer
    assert props(any_store, COPY)["instance_count"] == 0
    assert "disposed_at" in props(any_store, COPY)
    assert any("older than the state" in n.message for n in report.notices)
    recreated = s3("ObjectCreated:Put", KEY.format("i1"), "2024-03-02T00:00:00Z", "0000C3")
    run(any_store, tmp_path, "s3", {"Records": [recreated]})  # newer: padded hex compares
    assert props(any_store, COPY)["instance_count"] == 1
    assert "disposed_at" not in props(any_store, COPY)


def test_s3_envelopes_test_events_and_uncataloged_keys(
    any_store: GraphStore, tmp_path: Path
) -> None:
    sns = {"Type": "Notification", "Message": json.dumps({"Records": [
        s3("ObjectCreated:Copy", "scans/scan+001%28a%29.dcm", "2024-03-01T00:00:00Z", "01")]})}
    bridge = {"version": "0", "detail-type": "Object Created", "source": "aws.s3",
              "time": "2024-03-01T00:00:00Z", "region": "us-east-1",
              "detail": {"bucket": {"name": "ai-us"}, "object": {
                  "key": "studies/9.8/series/9.8.7/x.dcm", "size": 10, "sequencer": "0A"},
                  "reason": "PutObject"}}
    test_event = {"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "pacs-archive-eu"}
    unknown = {"Records": [s3("ObjectTagging:Put", KEY.format("i9"), "2024-03-01T00:00:00Z")]}
    report = run(any_store, tmp_path, "s3", sns, bridge, test_event, unknown)

    [rejected] = report.rejected
    assert "unknown S3 event type 'ObjectTagging:Put'" in rejected.reason
    assert rejected.location.endswith("/Records[0]")
    assert any("'scans/scan 001(a).dcm' matches no key pattern" in n.message
               for n in report.notices)
    orphan = props(any_store, "object:pacs-archive-eu:scans/scan 001(a).dcm")
    assert orphan["uncataloged"] is True and orphan["instance_count"] == 1
    assert props(any_store, "object:ai-us:9.8.7")["region_code"] == "us-east-1"


def gcs(kind: str, generation: int, time: str, **attributes: str) -> dict[str, Any]:
    payload = {"kind": "storage#object", "name": KEY.format("i1"), "bucket": "pacs-eu",
               "generation": str(generation), "size": "524288", "storageClass": "STANDARD",
               "updated": time, "temporaryHold": False, "eventBasedHold": True}
    return {"message": {"attributes": {"eventType": kind, "bucketId": "pacs-eu",
                                       "objectId": KEY.format("i1"),
                                       "objectGeneration": str(generation), "eventTime": time,
                                       "payloadFormat": "JSON_API_V1", **attributes},
                        "data": base64.b64encode(json.dumps(payload).encode()).decode(),
                        "messageId": str(generation)},
            "subscription": "projects/p/subscriptions/s"}


def test_gcs_overwrites_generations_and_configured_region(
    any_store: GraphStore, tmp_path: Path
) -> None:
    regions = {"pacs-eu": "europe-west4"}
    run(any_store, tmp_path, "gcs", gcs("OBJECT_FINALIZE", 1, "2024-03-01T12:00:00Z"),
        gcs("OBJECT_FINALIZE", 2, "2024-03-02T12:00:00Z", overwroteGeneration="1"),
        gcs("OBJECT_DELETE", 1, "2024-03-02T12:00:00Z", overwrittenByGeneration="2"),
        regions=regions)
    copy = props(any_store, "object:pacs-eu:1.2.3.4")
    assert copy["instance_count"] == 1 and copy["region_code"] == "europe-west4"

    run(any_store, tmp_path, "gcs", gcs("OBJECT_DELETE", 1, "2024-03-03T00:00:00Z"),
        regions=regions)  # a late delete of the old generation
    assert props(any_store, "object:pacs-eu:1.2.3.4")["instance_count"] == 1
    run(any_store, tmp_path, "gcs", gcs("OBJECT_DELETE", 2, "2024-04-01T00:00:00Z"),
        regions=regions)
    assert props(any_store, "object:pacs-eu:1.2.3.4")["instance_count"] == 0


def azure(kind: str, time: str, sequencer: str, **data: Any) -> dict[str, Any]:
    return {"topic": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/"
                     "storageAccounts/pacsarchiveweu",
            "subject": "/blobServices/default/containers/dicom/blobs/" + KEY.format("i1"),
            "eventType": kind, "eventTime": time, "id": sequencer,
            "data": {"api": "PutBlockList", "contentLength": 524288, "blobType": "BlockBlob",
                     "sequencer": sequencer, **data}, "dataVersion": "", "metadataVersion": "1"}


def test_azure_created_tiered_deleted(any_store: GraphStore, tmp_path: Path) -> None:
    regions = {"pacsarchiveweu": "westeurope"}
    validation = {"eventType": "Microsoft.EventGrid.SubscriptionValidationEvent", "data": {}}
    run(any_store, tmp_path, "azure", [
        validation,
        azure("Microsoft.Storage.BlobCreated", "2024-03-01T12:00:00.1234567Z", "0001"),
        azure("Microsoft.Storage.BlobTierChanged", "2024-05-01T00:00:00Z", "0002",
              accessTier="Archive", previousTier="Cool")], regions=regions)
    copy = props(any_store, "object:pacsarchiveweu.dicom:1.2.3.4")
    assert (copy["storage_tier"], copy["region_code"]) == ("archive", "westeurope")
    assert copy["created_at"] == "2024-03-01T12:00:00.123456Z"
    cloud_event = {"specversion": "1.0", "type": "Microsoft.Storage.BlobDeleted",
                   "source": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/"
                             "storageAccounts/pacsarchiveweu",
                   "subject": "/blobServices/default/containers/dicom/blobs/" + KEY.format("i1"),
                   "time": "2024-06-01T00:00:00Z", "data": {"api": "DeleteBlob",
                                                            "sequencer": "0003"}}
    run(any_store, tmp_path, "azure", cloud_event, regions=regions)
    assert props(any_store, "object:pacsarchiveweu.dicom:1.2.3.4")["instance_count"] == 0


def test_bad_event_files_are_reported(any_store: GraphStore, tmp_path: Path) -> None:
    lines = tmp_path / "lines.json"
    lines.write_text('{"Records": []}\nnot json\n' + json.dumps({"Records": [
        s3("ObjectCreated:Put", KEY.format("i1"), "yesterday", "01")]}) + "\n")
    state = ObjectState(tmp_path / "s.state")
    report = ingest(any_store, event_records(read_documents([lines]), StorageSource(
        "s3", KeyPatterns.of()), state), "s3")
    assert [(r.location.rsplit("/", 1)[-1], r.reason[:30]) for r in report.rejected] == [
        ("lines.json:2", "not JSON: Expecting value"),
        ("Records[0]", "event time 'yesterday' is not "),
    ]
    with pytest.raises(UserError, match="names neither a study nor a series"):
        KeyPatterns.of(["(?P<patient>.+)"])


def test_storage_events_cli(tmp_path: Path) -> None:
    path = tmp_path / "e.json"
    path.write_text(json.dumps({"Records": [s3("ObjectCreated:Put", KEY.format("i1"),
                                                "2024-03-01T12:00:00Z", "01")]}))
    result = lineage("ingest", "storage-events", str(path), "--provider", "s3", "--json",
                     cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["nodes_by_kind"]["ArchiveObject"] == 1
    assert_one_line_error(lineage("ingest", "storage-events", str(path), "--provider", "ftp",
                                  cwd=tmp_path), "--provider")


def test_key_parts_holding_patient_data_are_redacted_before_storing(
    any_store: GraphStore, tmp_path: Path
) -> None:
    events = tmp_path / "e.json"
    events.write_text(json.dumps({"Records": [
        s3("ObjectCreated:Put", "scans/DOE%5EJANE/MRN12345/scan1.dcm", "2024-03-01T00:00:00Z",
           "01")]}))
    state = ObjectState(tmp_path / "s.state")
    try:
        source = StorageSource("s3", KeyPatterns.of(), {}, KeyRedaction.of(
            [r"(?<=scans/)[^/]+/[^/]+"], b"r" * 32))
        report = ingest(any_store, event_records(read_documents([events]), source, state), "s3")
    finally:
        state.close()
    [copy] = [n for n in any_store.iter_nodes() if n.key.startswith("object:")]
    assert copy.key.startswith("object:pacs-archive-eu:scans/redacted-")
    assert copy.key.endswith("/scan1.dcm")
    text = repr((copy.properties, report.as_dict()))
    assert "DOE" not in text + copy.key and "MRN12345" not in text + copy.key


def sns(message: dict[str, Any]) -> dict[str, Any]:
    """An SNS notification as SNS delivers it over HTTP (and inside SQS bodies)."""
    return {"Type": "Notification", "MessageId": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
            "TopicArn": "arn:aws:sns:eu-west-1:123456789012:pacs-events",
            "Message": json.dumps(message), "Timestamp": "2024-03-01T00:00:01.000Z",
            "SignatureVersion": "1", "Signature": "EXAMPLE", "SigningCertURL": "https://x"}


def test_every_aws_envelope_is_recognised_by_shape(any_store: GraphStore, tmp_path: Path) -> None:
    created = {n: {"Records": [s3("ObjectCreated:Put", KEY.format(f"i{n}"),
                                  "2024-03-01T00:00:00Z", f"0{n}")]} for n in range(1, 7)}
    bridge = {"version": "0", "id": "17793124-05d4-b198-2fde-7ededc63b103",
              "detail-type": "Object Created", "source": "aws.s3", "account": "123456789012",
              "time": "2024-03-01T00:00:00Z", "region": "eu-west-1",
              "detail": {"bucket": {"name": "pacs-archive-eu"}, "object": {
                  "key": KEY.format("i7"), "size": 100, "sequencer": "07"},
                  "reason": "PutObject"}}
    documents = [
        {"Records": [{"EventSource": "aws:sns", "EventVersion": "1.0",  # SNS → Lambda
                      "Sns": {"Type": "Notification", "Message": json.dumps(created[1])}}]},
        {"Records": [{"messageId": "m1", "eventSource": "aws:sqs",  # SQS → Lambda
                      "body": json.dumps(created[2])}]},
        {"Records": [{"messageId": "m2", "eventSource": "aws:sqs",  # SQS(SNS) → Lambda
                      "body": json.dumps(sns(created[3]))}]},
        {"MessageId": "m3", "ReceiptHandle": "r", "Body": json.dumps(created[4])},  # SQS
        sns(created[5]),  # SNS over HTTP
        created[6],  # direct
        {"Records": [{"messageId": "m4", "eventSource": "aws:sqs",  # EventBridge → SQS
                      "body": json.dumps(bridge)}]},
    ]
    report = run(any_store, tmp_path, "s3", *documents)
    assert report.rejected == []
    assert props(any_store, COPY)["instance_count"] == 7


def test_sns_subscription_confirmation_is_reported_with_its_url(any_store: GraphStore,
                                                                tmp_path: Path) -> None:
    url = ("https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription"
           "&TopicArn=arn:aws:sns:eu-west-1:123456789012:pacs-events&Token=2336412f37")
    report = run(any_store, tmp_path, "s3", {
        "Type": "SubscriptionConfirmation", "MessageId": "165545c9", "Token": "2336412f37",
        "TopicArn": "arn:aws:sns:eu-west-1:123456789012:pacs-events",
        "Message": "You have chosen to subscribe to the topic ...", "SubscribeURL": url,
        "Timestamp": "2024-03-01T00:00:00.000Z"})
    assert report.rejected == []
    assert any(url in n.message and "SubscriptionConfirmation" in n.message
               for n in report.notices)


def test_a_delete_marker_hides_without_disposing(any_store: GraphStore, tmp_path: Path) -> None:
    run(any_store, tmp_path, "s3", {"Records": [
        s3("ObjectCreated:Put", KEY.format("i1"), "2024-03-01T00:00:00Z", "01")]})
    report = run(any_store, tmp_path, "s3", {"Records": [
        s3("ObjectRemoved:DeleteMarkerCreated", KEY.format("i1"), "2024-03-02T00:00:00Z",
           "02", None)]}, {"version": "0", "detail-type": "Object Deleted", "source": "aws.s3",
                          "time": "2024-03-02T00:00:01Z", "region": "eu-west-1",
                          "detail": {"bucket": {"name": "pacs-archive-eu"},
                                     "object": {"key": KEY.format("i1"), "sequencer": "03"},
                                     "deletion-type": "Delete Marker Created"}})
    assert "disposed_at" not in props(any_store, COPY)
    assert props(any_store, COPY)["instance_count"] == 1
    assert sum("delete marker" in n.message for n in report.notices) == 2
    run(any_store, tmp_path, "s3", {"Records": [  # a permanent delete of the version disposes
        s3("ObjectRemoved:Delete", KEY.format("i1"), "2024-03-03T00:00:00Z", "04", None)]})
    assert "disposed_at" in props(any_store, COPY)


@pytest.mark.parametrize("key", ["None", "12345", "scans/\u202egpj.dcm", "null"])
def test_implausible_object_keys_are_reported(any_store: GraphStore, tmp_path: Path,
                                              key: str) -> None:
    report = run(any_store, tmp_path, "s3", {"Records": [
        s3("ObjectCreated:Put", key, "2024-03-01T00:00:00Z", "01")]})
    [rejected] = report.rejected
    assert "object key" in rejected.reason
    assert [n for n in any_store.iter_nodes() if n.key.startswith("object:")] == []


def test_sns_handshake_is_confirmed_only_for_allowed_hosts(any_store: GraphStore,
                                                           tmp_path: Path) -> None:
    import re

    from tests.http_recorder import recording_server

    outcomes: list[str] = []
    with recording_server() as server:
        url = f"{server.url}/?Action=ConfirmSubscription&Token=t1"
        document = tmp_path / "confirm.json"
        document.write_text(json.dumps({"Type": "SubscriptionConfirmation", "Token": "t1",
                                        "TopicArn": "arn:aws:sns:eu-west-1:1:t",
                                        "SubscribeURL": url}))
        for hosts in (re.compile(r"sns\.[a-z0-9-]+\.amazonaws\.com"), re.compile(r"127\.0\.0\.1")):
            state = ObjectState(tmp_path / f"{len(outcomes)}.state")
            source = StorageSource("s3", KeyPatterns.of(), {}, None, hosts)
            try:
                report = ingest(any_store, event_records(read_documents([document]), source,
                                                         state), "s3")
            finally:
                state.close()
            outcomes.append(report.notices[0].message)
    assert "confirm it by opening" in outcomes[0]  # not an SNS host: reported, never fetched
    assert outcomes[1].endswith(": confirmed")
    assert server.hits == ["/?Action=ConfirmSubscription&Token=t1"]
