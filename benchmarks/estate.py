"""A synthetic imaging estate for the scale benchmarks: deterministic by seed, streaming (one
study at a time, nothing held for the whole size), emitting the record types the connectors
emit (a Bundle per study: patient, study, series, copies and their edges), so that ingestion
runs through the real pipeline.

Sizes: S = 10,000 studies, M = 100,000, L = 1,000,000. The shape, per study:
- modality mix CT 35%, CR 25%, MR 15%, US 12%, MG 8%, PT 5%; series per study CT 3, MR 4,
  PT 3, US 2, MG 2, CR 1; instances per series by modality (CT 120, MR 40, PT 200, US 10,
  MG 4, CR 2);
- copies of each series: the primary PACS (studies of the last 8 years), the VNA (all), the
  disaster-recovery vault (all), a cloud bucket in London (30%), Virginia (8%) or Frankfurt
  (5%); de-identified research copies of 2% of studies;
- derivations: a lossy derivative of 5% of CT series, a SEG of 2% of CT studies, the research
  copies DERIVED_FROM their originals;
- patients: three studies each on average, birth dates 1930-2020 (minors included), 2% with a
  death date; a legal hold on one patient in 5,000; 3% of PACS copies disposed.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

from lineage.identity import patient_key
from lineage.model import Confidence, Edge, EdgeType, Node, Provenance, object_key, system_key
from lineage.pipeline import Bundle

SIZES = {"S": 10_000, "M": 100_000, "L": 1_000_000}
MODALITIES = [("CT", 35, 3, 120), ("CR", 25, 1, 2), ("MR", 15, 4, 40), ("US", 12, 2, 10),
              ("MG", 8, 2, 4), ("PT", 5, 3, 200)]
SYSTEMS = {"PACS-PRIMARY": "onprem-london", "VNA": "onprem-leeds", "DR-VAULT": "eu-west-2",
           "CLOUD-LONDON": "europe-west2", "CLOUD-VIRGINIA": "us-east-1",
           "CLOUD-FRANKFURT": "eu-central-1", "RESEARCH": "eu-west-2"}
SECRET = b"benchmark-pseudonym-key-0123456789"


@dataclass(frozen=True, slots=True)
class EstateShape:
    studies: int
    seed: int = 20261128

    def systems(self) -> Iterator[Bundle]:
        prov = Provenance("benchmark:estate", "2026-01-01", Confidence.DECLARED)
        yield Bundle(tuple(Node(system_key(code), prov, {"region_code": region, "kind": "pacs"})
                           for code, region in SYSTEMS.items()), "systems")

    def studies_records(self) -> Iterator[Bundle]:
        for index in range(self.studies):
            yield study_bundle(index, random.Random(self.seed * 1_000_003 + index))

    def records(self) -> Iterator[Bundle]:
        yield from self.systems()
        yield from self.studies_records()
        yield from self.holds()

    def holds(self) -> Iterator[Bundle]:
        prov = Provenance("benchmark:estate", "2026-01-01", Confidence.DECLARED)
        for number in range(max(1, self.studies // 5000)):
            key = f"event:bench-hold-{number}"
            patient = patient_key("BENCH", f"P{number * 1500:07d}", SECRET)
            yield Bundle((Node(key, prov, {"event_type": "legal_hold",
                                           "started_at": "2025-01-01"}),
                          Edge(key, EdgeType.APPLIES_TO, patient, prov)), key)


def _modality(rng: random.Random) -> tuple[str, int, int]:
    pick = rng.randrange(100)
    for name, weight, series, instances in MODALITIES:
        if pick < weight:
            return name, series, instances
        pick -= weight
    raise AssertionError("weights sum to 100")


def study_bundle(index: int, rng: random.Random) -> Bundle:
    prov = Provenance("benchmark:dicom", "2026-01-01", Confidence.OBSERVED)
    patient_number = index // 3
    patient = patient_key("BENCH", f"P{patient_number:07d}", SECRET)
    prng = random.Random(patient_number)  # patient facts agree across its studies
    birth = f"{prng.randint(1930, 2020)}-{prng.randint(1, 12):02d}"
    year = max(int(birth[:4]) + 1, rng.randint(1998, 2026))
    day = f"{year}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    modality, series_count, instances = _modality(rng)
    study_uid = f"2.25.{index + 1}"
    study = f"study:{study_uid}"
    patient_props: dict[str, object] = {"birth_year_month": birth}
    if prng.random() < 0.02:
        patient_props["death_date"] = f"{min(2026, year + prng.randint(0, 5))}-06-01"
    items: list[Node | Edge] = [
        Node(patient, prov, patient_props),
        Node(study, prov, {"study_date": day, "modalities": [modality],
                           "institution": "Bench General"}),
        Edge(study, EdgeType.OF_PATIENT, patient, prov),
    ]
    holders = ["VNA", "DR-VAULT"] + (["PACS-PRIMARY"] if year >= 2018 else [])
    cloud = rng.random()
    if cloud < 0.30:
        holders.append("CLOUD-LONDON")
    elif cloud < 0.38:
        holders.append("CLOUD-VIRGINIA")
    elif cloud < 0.43:
        holders.append("CLOUD-FRANKFURT")
    for number in range(series_count):
        series_uid = f"{study_uid}.{number + 1}"
        items += _series(series_uid, study, modality, instances, holders, day, rng, prov)
        if modality == "CT" and rng.random() < 0.05:
            lossy = f"{series_uid}.9"
            items += _series(lossy, study, modality, instances, ["PACS-PRIMARY"], day, rng, prov)
            items.append(Edge(f"series:{lossy}", EdgeType.DERIVED_FROM, f"series:{series_uid}",
                              prov, {"kind": "lossy_compression", "code": "113040"}))
    if modality == "CT" and rng.random() < 0.02:
        seg = f"{study_uid}.50"
        items += _series(seg, study, "SEG", 1, ["PACS-PRIMARY", "VNA"], day, rng, prov)
        items.append(Edge(f"series:{seg}", EdgeType.DERIVED_FROM, f"series:{study_uid}.1", prov,
                          {"kind": "segmentation", "code": ""}))
    if rng.random() < 0.02:
        research_study = f"study:2.25.9{index + 1}"
        items += [Node(research_study, prov, {"study_date": day}),
                  Edge(research_study, EdgeType.DERIVED_FROM, study, prov,
                       {"kind": "deidentification", "code": "113100"})]
        items += _series(f"2.25.9{index + 1}.1", research_study, modality, instances,
                         ["RESEARCH"], day, rng, prov, deidentified=True)
    return Bundle(tuple(items), study)


def _series(uid: str, study: str, modality: str, instances: int, holders: list[str],
            day: str, rng: random.Random, prov: Provenance,
            deidentified: bool = False) -> list[Node | Edge]:
    series = f"series:{uid}"
    items: list[Node | Edge] = [
        Node(series, prov, {"modality": modality, "instance_count": instances,
                            "deidentified": deidentified or None}),
        Edge(series, EdgeType.PART_OF, study, prov)]
    for code in holders:
        copy = object_key(code, uid)
        disposed = (f"{min(2026, int(day[:4]) + 6)}-03-01" if code == "PACS-PRIMARY"
                    and rng.random() < 0.03 else None)
        items += [Node(copy, prov, {"instance_count": instances, "bytes": instances * 524_288,
                                    "created_at": day, "disposed_at": disposed,
                                    "storage_tier": "archive" if code == "DR-VAULT"
                                    else "online"}),
                  Edge(copy, EdgeType.COPY_OF, series, prov),
                  Edge(copy, EdgeType.STORED_IN, system_key(code), prov)]
    return items
