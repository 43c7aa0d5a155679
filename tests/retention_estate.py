"""Estates for the retention and compliance tests: a fixed one with hand-worked answers, and a
hypothesis strategy for random ones (for the Cypher-vs-NetworkX differential tests)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from lineage.identity import patient_key
from lineage.model import Edge, EdgeType, Node, Provenance, object_key, system_key
from lineage.stores import GraphStore

PROV = Provenance("test:estate", "2024-01-01T00:00:00Z")
SECRET = b"r" * 32
SYSTEMS = {"PACS-LON": "onprem-london", "S3-US": "us-east-1", "S3-FR": "eu-west-3",
           "GCS-DE": "europe-west3", "ARCHIVE-GB": "eu-west-2"}


def patient(name: str) -> str:
    return patient_key("TEST", name, SECRET)


@dataclass
class EstateBuilder:
    nodes: list[Node]
    edges: list[Edge]

    @classmethod
    def empty(cls) -> EstateBuilder:
        builder = cls([], [])
        for code, region in SYSTEMS.items():
            builder.nodes.append(Node(system_key(code), PROV, {"kind": "pacs",
                                                               "region_code": region}))
        return builder

    def patient(self, name: str, birth: str | None = None, death: str | None = None) -> str:
        key = patient(name)
        self.nodes.append(Node(key, PROV, {"birth_year_month": birth, "death_date": death}))
        return key

    def study(self, uid: str, patient_key: str, day: str, modality: str,
              **props: Any) -> str:
        key = f"study:{uid}"
        self.nodes.append(Node(key, PROV, {"study_date": day, "modalities": [modality], **props}))
        self.nodes.append(Node(f"series:{uid}.1", PROV, {"modality": modality}))
        self.edges += [Edge(key, EdgeType.OF_PATIENT, patient_key, PROV),
                       Edge(f"series:{uid}.1", EdgeType.PART_OF, key, PROV)]
        return key

    def copy(self, system: str, uid: str, created: str, disposed: str | None = None,
             tier: str = "online", size: int = 1000) -> str:
        key = object_key(system, f"{uid}.1")
        self.nodes.append(Node(key, PROV, {"created_at": created, "disposed_at": disposed,
                                           "storage_tier": tier, "bytes": size}))
        self.edges += [Edge(key, EdgeType.COPY_OF, f"series:{uid}.1", PROV),
                       Edge(key, EdgeType.STORED_IN, system_key(system), PROV)]
        return key

    def event(self, name: str, kind: str, started: str, ended: str | None,
              scope: list[str]) -> str:
        key = f"event:{name}"
        self.nodes.append(Node(key, PROV, {"event_type": kind, "started_at": started,
                                           "ended_at": ended}))
        self.edges += [Edge(key, EdgeType.APPLIES_TO, target, PROV) for target in scope]
        return key

    def feeds(self, source: str, target: str, since: str | None = None,
              until: str | None = None) -> None:
        self.edges.append(Edge(system_key(source), EdgeType.FEEDS, system_key(target), PROV,
                               {"valid_from": since, "valid_to": until}))

    def copied(self, copy: str, source: str) -> None:
        self.edges.append(Edge(copy, EdgeType.COPIED_FROM, source, PROV))

    def derived(self, uid: str, source_uid: str, kind: str = "lossy_compression") -> None:
        self.edges.append(Edge(f"series:{uid}.1", EdgeType.DERIVED_FROM, f"series:{source_uid}.1",
                               PROV, {"kind": kind}))

    def dataset(self, name: str, includes: list[str]) -> str:
        key = f"dataset:{name}"
        self.nodes.append(Node(key, PROV, {"purpose": "research"}))
        self.edges += [Edge(key, EdgeType.INCLUDES, target, PROV) for target in includes]
        return key

    def grant(self, name: str, system: str, actions: list[str]) -> None:
        key = f"profile:{name}"
        self.nodes.append(Node(key, PROV, {"role": name}))
        self.edges.append(Edge(key, EdgeType.GRANTS, system_key(system), PROV,
                               {"actions": actions}))

    def load(self, store: GraphStore) -> None:
        store.upsert(self.nodes, self.edges)

    def load_applied(self, store: GraphStore) -> GraphStore:
        """Load into a store and apply the default pack."""
        from lineage.retention.apply import apply_retention
        from lineage.retention.policy import load_policy

        self.load(store)
        apply_retention(store, load_policy())
        return store


def fixed_estate() -> EstateBuilder:
    """Worked by hand in tests/test_retention.py (as of 2024-06-01, default pack)."""
    b = EstateBuilder.empty()
    p1, p2 = b.patient("P1", "1960-05"), b.patient("P2", "2015-03")
    p3, p4 = b.patient("P3"), b.patient("P4", "1970-01")
    b.study("1.1", p1, "2010-01-10", "CT")
    b.study("1.4", p1, "2012-03-03", "MG")
    s2 = b.study("1.2", p2, "2020-06-01", "MR")
    b.study("1.3", p3, "2019-02-02", "CT")
    b.study("1.5", p4, "2005-05-05", "CT")
    b.copy("PACS-LON", "1.1", "2010-01-10")
    b.copy("S3-US", "1.1", "2018-01-01")
    b.copy("PACS-LON", "1.4", "2012-03-03")
    b.copy("S3-US", "1.4", "2018-01-01")
    b.copy("PACS-LON", "1.2", "2020-06-01", disposed="2022-01-01")
    b.copy("S3-FR", "1.2", "2020-07-01", disposed="2021-01-01")
    b.copy("ARCHIVE-GB", "1.2", "2020-08-01", tier="archive", size=5000)
    b.copy("PACS-LON", "1.3", "2019-02-02")
    b.copy("PACS-LON", "1.5", "2005-05-05", size=2000)
    b.copy("GCS-DE", "1.5", "2006-01-01", tier="standard", size=1000)
    b.event("H1", "legal_hold", "2023-01-01", None, [p1])
    b.event("H2", "legal_hold", "2020-06-01", "2021-06-01", [system_key("S3-FR")])
    b.event("H3", "legal_hold", "2024-01-01", None, [s2])
    b.event("A1", "audit", "2024-01-01", "2024-12-31", [system_key("PACS-LON")])
    return b


def impact_estate() -> EstateBuilder:
    """The fixed estate plus what impact analysis reads: feeds, replication, a derivative, a
    de-identified copy, a dataset and access. Worked by hand in tests/test_impact.py."""
    b = fixed_estate()
    b.nodes.append(Node(system_key("CT-1"), PROV, {"kind": "modality",
                                                   "region_code": "onprem-london"}))
    b.feeds("CT-1", "PACS-LON", "2000-01-01")
    b.feeds("PACS-LON", "S3-US", "2018-01-01")
    b.feeds("PACS-LON", "GCS-DE", "2005-01-01", "2010-01-01")  # ended
    b.copied(object_key("S3-US", "1.1.1"), object_key("PACS-LON", "1.1.1"))
    b.study("1.6", patient("P4"), "2006-02-02", "CT")  # a lossy derivative of 1.5, only in PACS
    b.copy("PACS-LON", "1.6", "2006-02-03")
    b.derived("1.6", "1.5")
    b.study("1.7", patient("P4"), "2006-03-03", "CT")  # de-identified, origin unknown, in S3-US
    b.nodes.append(Node("series:1.7.1", PROV, {"deidentified": True}))
    b.copy("S3-US", "1.7", "2019-01-01")
    b.dataset("cohort-1", [object_key("PACS-LON", "1.3.1")])
    b.grant("readers", "PACS-LON", ["view"])
    return b


# Settings of the Cypher-vs-NetworkX differential tests: each example loads two stores.
DIFFERENTIAL = settings(max_examples=40, deadline=None, suppress_health_check=[
    HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


# -- random estates ------------------------------------------------------------------------
days = st.dates(min_value=date(1995, 1, 1), max_value=date(2035, 12, 31)).map(date.isoformat)
months = st.one_of(st.none(), st.dates(min_value=date(1930, 1, 1), max_value=date(2030, 12, 1))
                   .map(lambda d: d.isoformat()[:7]))


def later(start: str, end: str | None) -> str | None:
    return end if end is not None and end > start else None


@st.composite
def random_estates(draw: st.DrawFn) -> EstateBuilder:
    b = EstateBuilder.empty()
    patients = [b.patient(f"P{i}", draw(months)) for i in range(draw(st.integers(1, 4)))]
    studies = []
    for i in range(draw(st.integers(1, 6))):
        uid = f"2.{i}"
        studies.append(b.study(uid, draw(st.sampled_from(patients)), draw(days),
                               draw(st.sampled_from(["CT", "MR", "MG"]))))
        for system in draw(st.lists(st.sampled_from(sorted(SYSTEMS)), min_size=1, max_size=3,
                                    unique=True)):
            created = draw(days)
            disposed = later(created, draw(st.one_of(st.none(), days)))
            b.copy(system, uid, created, disposed, draw(st.sampled_from(
                ["online", "archive", "standard"])), draw(st.integers(0, 10**9)))
    codes = sorted(SYSTEMS)
    for _ in range(draw(st.integers(0, 4))):
        source, target = draw(st.sampled_from(codes)), draw(st.sampled_from(codes))
        if source != target:
            start = draw(days)
            b.feeds(source, target, start, later(start, draw(st.one_of(st.none(), days))))
    copies = [n.key for n in b.nodes if n.key.startswith("object:")]
    for _ in range(draw(st.integers(0, 3))):
        copy, source = draw(st.sampled_from(copies)), draw(st.sampled_from(copies))
        if copy != source:
            b.copied(copy, source)
    uids = [s.split(":", 1)[1] for s in studies]
    for _ in range(draw(st.integers(0, 2))):
        derived, source = draw(st.sampled_from(uids)), draw(st.sampled_from(uids))
        if derived != source:
            b.derived(derived, source)
    if draw(st.booleans()):
        b.dataset("D0", draw(st.lists(st.sampled_from(copies), min_size=1, max_size=2,
                                      unique=True)))
    if draw(st.booleans()):
        b.grant("G0", draw(st.sampled_from(codes)), ["view"])
    targets = patients + studies + [system_key(s) for s in SYSTEMS]
    for i in range(draw(st.integers(0, 3))):
        started = draw(days)
        ended = later(started, draw(st.one_of(st.none(), days)))
        b.event(f"E{i}", draw(st.sampled_from(["legal_hold", "legal_hold", "audit"])), started,
                ended, draw(st.lists(st.sampled_from(targets), min_size=1, max_size=3,
                                     unique=True)))
    return b
