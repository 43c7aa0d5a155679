"""Patient merges, shared by the HL7 (ADT^A40) and FHIR (Patient.link) connectors.

The prior patient is kept, marked `merged_into` the survivor with `merged_at`; every study linked
to it now is re-linked to the survivor, and its old OF_PATIENT edge ends (`valid_to`), so the
history stays and as-of queries still see the picture before the merge.
"""

from __future__ import annotations

from collections.abc import Callable

from lineage.model import Edge, EdgeType, Node, Provenance

# Current studies of a patient (OF_PATIENT edges without valid_to).
StudiesOf = Callable[[str], list[str]]


def merge_patients(prior: str, survivor: str, prov: Provenance,
                   studies_of: StudiesOf) -> list[Node | Edge]:
    facts: list[Node | Edge] = [
        Node(prior, prov, {"merged_into": survivor, "merged_at": prov.seen_at}),
        Node(survivor, prov)]
    for study in studies_of(prior):
        facts += [Edge(study, EdgeType.OF_PATIENT, survivor, prov, {"valid_from": prov.seen_at}),
                  Edge(study, EdgeType.OF_PATIENT, prior, prov, {"valid_to": prov.seen_at})]
    return facts


def current_studies(store: object) -> StudiesOf:
    """Studies linked to a patient now, read from a store."""
    def studies_of(patient: str) -> list[str]:
        edges = store.edges(patient, "in", [EdgeType.OF_PATIENT])  # type: ignore[attr-defined]
        return [e.src for e in edges if "valid_to" not in e.properties]
    return studies_of
