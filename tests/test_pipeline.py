"""The ingestion pipeline against each real store: batching, bundles, rejections, idempotency."""

from __future__ import annotations

from collections.abc import Iterator

from lineage.errors import InvalidRecordError
from lineage.model import Edge, EdgeType, Node, Provenance
from lineage.pipeline import Bundle, Pending, Pipeline, Record, Rejected
from lineage.stores import GraphStore

PROV = Provenance("test:pipeline", "2026-01-01T00:00:00Z")


def series_bundle(n: int) -> Bundle:
    study, series = f"study:1.{n}", f"series:1.{n}.1"
    return Bundle((Node(study, PROV, {"accession": f"A{n}"}), Node(series, PROV),
                   Edge(series, EdgeType.PART_OF, study, PROV)), location=f"file{n}.dcm")


def test_batches_never_split_a_bundle(any_store: GraphStore) -> None:
    report = Pipeline(any_store, batch_size=4).run([series_bundle(n) for n in range(5)], "test")
    assert report.batches == 5  # 3 items per bundle, 4 per batch: one bundle a batch
    assert report.records == 5
    assert report.nodes_by_kind == {"Study": 5, "Series": 5}
    assert report.edges_by_type == {"PART_OF": 5}
    assert any_store.stats().nodes == {"Series": 5, "Study": 5}


def test_loose_records_are_batched_by_size(any_store: GraphStore) -> None:
    nodes = [Node(f"study:2.{n}", PROV) for n in range(10)]
    report = Pipeline(any_store, batch_size=3).run(nodes, "test")
    assert report.batches == 4
    assert report.written.nodes_created == 10


def test_rejected_records_are_reported_and_the_rest_ingested(any_store: GraphStore) -> None:
    def broken() -> list[Node]:
        raise InvalidRecordError("study:9: study_date: '2024-13-45' is not a date")

    def crashing() -> list[Node]:
        fields: dict[str, str] = {}
        return [Node("study:8", PROV, {"accession": fields["missing"]})]

    records: list[Record] = [
        series_bundle(1), Pending("bad.dcm", broken), Rejected("notdicom.txt", "not DICOM"),
        Pending("odd.json", crashing), series_bundle(2)]
    report = Pipeline(any_store, batch_size=100).run(records, "test")

    assert [(r.location, r.reason) for r in report.rejected] == [
        ("bad.dcm", "study:9: study_date: '2024-13-45' is not a date"),
        ("notdicom.txt", "not DICOM"),
        ("odd.json", "a required field is missing (KeyError)"),
    ]
    assert any_store.stats().nodes == {"Series": 2, "Study": 2}
    assert report.as_dict()["rejected"][0]["location"] == "bad.dcm"


def test_store_rejection_drops_the_culprit_bundle_whole(any_store: GraphStore) -> None:
    culprit = Bundle((Node("study:3.1", PROV),
                      Node("object:PACS1:3.1", PROV, {"bytes": 2**70})), location="events.json:2")
    records = [series_bundle(1), culprit, series_bundle(2)]

    report = Pipeline(any_store, batch_size=100).run(records, "test")

    [rejected] = report.rejected
    assert rejected.location == "events.json:2" and "64-bit" in rejected.reason
    assert any_store.get_node("study:3.1") is None  # nothing partial of the culprit's record
    assert any_store.stats().nodes == {"Series": 2, "Study": 2}
    assert report.batches == 2  # the rejected batch, then the same batch without the culprit


def test_rerun_changes_nothing_but_last_seen(any_store: GraphStore) -> None:
    Pipeline(any_store).run([series_bundle(n) for n in range(3)], "test")
    later = Provenance("test:pipeline", "2026-02-01T00:00:00Z")
    rerun = [Bundle(tuple(_with(item, later) for item in series_bundle(n).items))
             for n in range(3)]
    report = Pipeline(any_store).run(rerun, "test")
    assert report.written.nodes_created == report.written.nodes_updated == 0
    assert report.written.nodes_unchanged == 6 and report.written.edges_unchanged == 3
    assert any_store.get_node("study:1.0").properties["last_seen"] == (  # type: ignore[union-attr]
        "2026-02-01T00:00:00.000000Z")


def _with(item: Node | Edge, prov: Provenance) -> Node | Edge:
    if isinstance(item, Node):
        return Node(item.key, prov, item.properties)
    return Edge(item.src, item.type, item.dst, prov, item.properties)


def test_a_source_that_fails_while_read_keeps_what_came_before(any_store: GraphStore) -> None:
    def source() -> Iterator[Bundle]:
        yield series_bundle(1)
        yield series_bundle(2)
        raise OSError("disk gone")

    report = Pipeline(any_store).run(source(), "test")
    [rejected] = report.rejected
    assert rejected.location == "test after file2.dcm"
    assert rejected.reason == "the source stopped: the record could not be read (OSError)"
    assert any_store.stats().nodes == {"Series": 2, "Study": 2}
