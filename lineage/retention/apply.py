"""Recompute retention over a whole store: batched passes, never one transaction per object.

1. The RetentionPolicy nodes of the policy (`policy:<rule id>`) are upserted.
2. The copies are read a page at a time (query `retention_inputs`), computed
   (`lineage.retention.engine`), and written back a page per batch: `retain_until`,
   `retention_policy_id`, `retention_status`, `retention_reason`, `jurisdictions`, `country`,
   `retention_policy_version`, and GOVERNED_BY to the deciding rule (the previous rule's edge gets
   `valid_to`); a computed copy not disposed also gets the tally the over-retained totals sum
   (`TALLY_PROPERTIES`). Values that no longer hold (a date that became unknown) are withdrawn.
   Every copy also gets its holding facts (`holding_*`: query `holding_facts`), which a
   decommission reads instead of walking the system's copies (`lineage.impact`).
3. Each study gets its `origin_jurisdiction` (institution, else the place of its earliest copy;
   a study derived from another inherits the origin of its source), and the facts the reports
   seek by (`retention_rule_count`, `obligation_count`, `foreign_country_count`: query
   `study_facts`), and what they count when their answer is as of `facts_exact_from` or later
   (`live_rule_count`, `live_conflict`, `live_foreign_copies`).
4. Only then does the store record the policy as applied (meta `retention_policy`): queries read
   the version from there, so a run that fails half-way leaves the copies it already rewrote
   flagged as "computed under another policy version", never silently mixed.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Collection, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from lineage.model import (
    Confidence,
    Edge,
    EdgeType,
    Node,
    NodeKind,
    Properties,
    Provenance,
    kind_of,
    make_key,
)
from lineage.retention.engine import COMPUTED, RetentionInputs, RetentionResult, compute
from lineage.retention.engine import origin_jurisdiction as origin_of
from lineage.retention.policy import Policy
from lineage.stores import GraphStore, UpsertResult
from lineage.timefmt import utc_now
from queries.impact import ESTATE_FACTS, HOLDING_FACTS, HOLDING_FACTS_QUERY
from queries.library import Row, run_query
from queries.retention import AFFECTED_COPIES, COPY_KEYS, RETENTION_INPUTS, STUDY_FACTS

POLICY_META = "retention_policy"
# Set by a whole apply that wrote every study's facts (`study_facts`), which drift and
# cross-region read, and every copy's tally (TALLY_PROPERTIES), which drift's totals sum; a
# store applied by an engine without them must be applied again (2: with the tallies).
STUDY_FACTS_META, STUDY_FACTS_VERSION = "retention_study_facts", "2"
# Set by a whole apply that wrote every copy's holding facts (`holding_facts`), which a
# decommission reads instead of walking the system's copies. An ingest counts itself in
# HOLDING_PENDING_META from its first write until the recompute that rewrites the facts it moved
# (`lineage.ingest`): while it is not 0, decommissions walk.
HOLDING_FACTS_META, HOLDING_FACTS_VERSION = "decommission_facts", "1"
HOLDING_PENDING_META = "decommission_facts_pending"
# Set by a whole apply that also wrote every copy's tier, bytes and own dates with its holding
# facts (ESTATE_FACTS), which the explorer's estate sums instead of walking each system's copies
# (`lineage.estate_overview`); the same pending count holds them in doubt (2: with the dates).
ESTATE_FACTS_META, ESTATE_FACTS_VERSION = "estate_facts", "2"
RESULT_PROPERTIES = ("retain_until", "retention_policy_id", "retention_reason", "jurisdictions",
                     "country")


@dataclass(slots=True)
class ApplyReport:
    policy_version: str
    objects: int = 0
    computed: int = 0
    unknown: int = 0
    studies: int = 0
    seconds: float = 0.0
    unknown_reasons: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"policy_version": self.policy_version, "objects": self.objects,
                "computed": self.computed, "unknown": self.unknown, "studies": self.studies,
                "seconds": round(self.seconds, 3), "unknown_reasons": self.unknown_reasons}


def policy_key(rule_id: str) -> str:
    return make_key(NodeKind.RETENTION_POLICY, rule_id)


def inputs_of(row: Row) -> RetentionInputs:
    encounters = [d for d in (row.get("patient_last_encounter"), row.get("latest_study_date"))
                  if d]
    return RetentionInputs(
        key=row["key"], region=row.get("region"), study=row.get("study"),
        study_date=row.get("study_date"), modality=row.get("modality"),
        institution=row.get("institution"), patient=row.get("patient"),
        birth_year_month=row.get("birth_year_month"), age_at_study=row.get("age_at_study"),
        death_date=row.get("death_date"), last_encounter=max(encounters) if encounters else None,
    )


def result_properties(result: RetentionResult, version: str) -> tuple[Properties, set[str]]:
    """What a copy reports after its retention is computed, and what it withdraws."""
    props: dict[str, Any] = {
        "retention_status": result.status, "retention_policy_version": version,
        "retain_until": result.retain_until, "retention_policy_id": result.rule_id,
        "retention_reason": result.reason,
        "jurisdictions": list(result.jurisdictions) or None, "country": result.country,
    }
    removed = {name for name in RESULT_PROPERTIES if props[name] is None}
    return {name: value for name, value in props.items() if value is not None}, removed


# What the over-retained totals sum a copy under, written with its retention while it is
# computed and not disposed (`drift_over_retained_totals` reads them from one index, without
# visiting the copies): its group (the policy version, then its system, region and tier,
# tab-separated, '' for none), its bytes (0 for unknown) and its creation ('' for unknown).
TALLY_PROPERTIES = ("retention_group", "retention_bytes", "retention_created")


def tally_properties(row: Row, result: RetentionResult, version: str
                     ) -> tuple[Properties, set[str]]:
    """A copy's tally (TALLY_PROPERTIES) from its `retention_inputs` row and its computed
    retention, or the names to withdraw when it has none."""
    if result.status != COMPUTED or row.get("disposed_at") is not None:
        return {}, set(TALLY_PROPERTIES)
    group = "\t".join(str(part or "") for part in (
        version, row.get("system"), row.get("region"), row.get("storage_tier")))
    return {"retention_group": group, "retention_bytes": row.get("bytes") or 0,
            "retention_created": row.get("created_at") or ""}, set()


def holding_properties(store: GraphStore, keys: list[str]) -> dict[str, Properties]:
    """The holding facts of these copies (query `holding_facts`), as the `holding_*` properties
    to write on each, by key."""
    return {row["key"]: {f"holding_{name}": row[name] for name in HOLDING_FACTS + ESTATE_FACTS}
            for row in run_query(store, HOLDING_FACTS_QUERY, {"keys": keys})}


def governed_edges(result: RetentionResult, current_rule: str | None, at: str
                   ) -> list[tuple[str, Properties]]:
    """(policy key, properties) of the GOVERNED_BY edges a computed copy reports: to its rule,
    and `valid_to` on the edge to the rule that governed it until now."""
    edges: list[tuple[str, Properties]] = []
    if result.rule_id:
        edges.append((policy_key(result.rule_id), {}))
    if current_rule and current_rule != result.rule_id:
        edges.append((policy_key(current_rule), {"valid_to": at}))
    return edges


@dataclass(slots=True)
class Outcome:
    """One copy's computed retention, as reports to merge."""

    key: str
    properties: Properties
    removed: set[str]
    edges: list[tuple[str, Properties]]


def compute_page(rows: list[Row], policy: Policy, version: str, at: str, report: ApplyReport,
                 studies: dict[str, tuple[str, set[str], str | None]],
                 sources: dict[str, str], linked: set[str]) -> list[Outcome]:
    """The outcomes of a page of `retention_inputs` rows; counts go to the report, each study's
    earliest copies and source study to `studies` and `sources`, and the other studies the
    copies are copies of (whose facts they may have left) to `linked`."""
    outcomes = []
    for row in rows:
        result = compute(inputs_of(row), policy)
        props, removed = result_properties(result, version)
        tally, untallied = tally_properties(row, result, version)
        props, removed = {**props, **tally}, removed | untallied
        outcomes.append(Outcome(result.key, props, removed,
                                governed_edges(result, row.get("current_rule"), at)))
        _count(report, result)
        if row.get("study"):
            _earliest(studies, row)
            if row.get("source_study"):
                sources[row["study"]] = row["source_study"]
        linked.update(row.get("other_studies") or ())
    return outcomes


def write_outcomes(store: GraphStore, outcomes: list[Outcome], prov: Provenance) -> None:
    """Merge and write a page of outcomes through the store's batch (any store)."""
    nodes = [Node(o.key, prov, o.properties, removed=o.removed) for o in outcomes]
    edges = [Edge(o.key, EdgeType.GOVERNED_BY, policy, prov, props)
             for o in outcomes for policy, props in o.edges]
    store.upsert(nodes, edges)


def copy_pages(store: GraphStore, only: Collection[str] | None, size: int
               ) -> Iterator[list[str]]:
    """Keys of the copies to recompute, a page at a time: `only` (in pages), else every stored
    copy, read page by page by key."""
    if only is not None:
        keys = sorted(only)
        for start in range(0, len(keys), size):
            yield keys[start:start + size]
        return
    after = ""
    while page := [r["key"] for r in run_query(store, COPY_KEYS, {"after": after,
                                                                  "limit": size})]:
        yield page
        after = page[-1]


WORKERS = 3  # pages at once on a server store: one is read, one computed, one written


def apply_retention(
    store: GraphStore, policy: Policy, batch_size: int = 5000,
    progress: Callable[[int], None] | None = None, only: Collection[str] | None = None,
    seen_at: str | None = None,
) -> ApplyReport:
    """Recompute every copy (`only`: just these copies, under the policy already applied)."""
    started = time.perf_counter()
    version = policy.fingerprint
    report = ApplyReport(version)
    prov = Provenance("retention", seen_at or utc_now(), Confidence.INFERRED)
    store.upsert([_policy_node(name, rule_id, policy, prov)
                  for rule_id, (name, _) in sorted(policy.rules_by_id().items())])
    studies: dict[str, tuple[str, set[str], str | None]] = {}
    sources: dict[str, str] = {}
    linked: set[str] = set()
    lock = threading.Lock()
    write_page = _page_writer(store, prov)

    def one_page(keys: list[str]) -> int:
        rows = run_query(store, RETENTION_INPUTS, {"keys": keys})
        holding = holding_properties(store, keys)
        with lock:
            outcomes = compute_page(rows, policy, version, prov.seen_at, report, studies,
                                    sources, linked)
        for outcome in outcomes:
            outcome.properties.update(holding.get(outcome.key, {}))
        write_page(outcomes)
        return len(rows)

    if only is None:  # a whole apply rewrites every copy's facts: decommissions walk until it
        store.set_meta(HOLDING_FACTS_META, "")  # ends, and an ingest that died open no longer
        store.set_meta(ESTATE_FACTS_META, "")  # leaves them in doubt after it
        store.set_meta(HOLDING_PENDING_META, "0")

    for done in _in_parallel(one_page, copy_pages(store, only, batch_size),
                             WORKERS if store.concurrent_reads else 1):
        if progress is not None:
            progress(done)
    _write_study_facts(store, policy, studies, sources, linked, prov, batch_size,
                       _node_writer(store))
    report.studies = len(studies)
    if only is None:
        store.set_meta(POLICY_META, policy.model_dump_json())
        store.set_meta(STUDY_FACTS_META, STUDY_FACTS_VERSION)
        store.set_meta(HOLDING_FACTS_META, HOLDING_FACTS_VERSION)
        store.set_meta(ESTATE_FACTS_META, ESTATE_FACTS_VERSION)
    report.seconds = time.perf_counter() - started
    return report


def _page_writer(store: GraphStore, prov: Provenance) -> Callable[[list[Outcome]], None]:
    """How a page is written: on Neo4j merged in the client under the copies' locks
    (`neo4j_writes`), elsewhere through the store's batch."""
    from lineage.stores.neo4j import Neo4jStore

    if isinstance(store, Neo4jStore):
        from lineage.retention.neo4j_writes import write_merged

        return lambda outcomes: write_merged(store, outcomes, prov)
    return lambda outcomes: write_outcomes(store, outcomes, prov)


def _node_writer(store: GraphStore) -> Callable[[list[Node]], object]:
    """How the studies' facts are written: on Neo4j merged in the client under their locks,
    elsewhere through the store's batch."""
    from lineage.stores.neo4j import Neo4jStore

    if isinstance(store, Neo4jStore):
        from lineage.retention.neo4j_writes import write_merged_nodes

        return lambda nodes: write_merged_nodes(store, nodes)
    return lambda nodes: store.upsert(nodes)


def _in_parallel(work: Callable[[list[str]], int], pages: Iterator[list[str]],
                 workers: int) -> Iterator[int]:
    """`work` on each page, `workers` pages at a time; yields what each returned."""
    if workers == 1:
        yield from map(work, pages)
        return
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="retention") as pool:
        running: list[Future[int]] = []
        for page in pages:
            running.append(pool.submit(work, page))
            if len(running) >= workers * 2:
                yield running.pop(0).result()
        for future in running:
            yield future.result()


def _earliest(studies: dict[str, tuple[str, set[str], str | None]], row: Row) -> None:
    """Keep, per study, the regions of its earliest copies (ties kept together)."""
    created = row.get("created_at") or "~"  # unknown creation sorts last
    regions = {row["region"]} if row.get("region") else set()
    known = studies.get(row["study"])
    if known is None or created < known[0]:
        studies[row["study"]] = (created, regions, row.get("institution"))
    elif created == known[0]:
        known[1].update(regions)


def _count(report: ApplyReport, result: RetentionResult) -> None:
    report.objects += 1
    if result.status == COMPUTED:
        report.computed += 1
    else:
        report.unknown += 1
        reason = (result.reason or "").split(" and rule ")[0]
        report.unknown_reasons[reason] = report.unknown_reasons.get(reason, 0) + 1


def _write_study_facts(store: GraphStore, policy: Policy,
                       studies: dict[str, tuple[str, set[str], str | None]],
                       sources: dict[str, str], linked: set[str], prov: Provenance,
                       batch_size: int, write: Callable[[list[Node]], object]) -> None:
    """Each study's origin jurisdiction (a study derived from another, a de-identified copy,
    originates where its source does, when that is known), and its facts (query
    `study_facts`), read once its copies are written; the `linked` studies' facts too (a copy
    counted for another study may have left them), their origin as stored."""
    own: dict[str, str | None] = {study: origin_of(policy, institution, regions)
                                  for study, (_, regions, institution) in studies.items()}

    def origin_of_study(study: str) -> str | None:
        if study not in own:  # a source outside this run: as stored
            node = store.get_node(study)
            stored = node.properties.get("origin_jurisdiction") if node else None
            own[study] = str(stored) if stored is not None else None
        return own[study]

    allowed = policy.allowed_countries()
    keys = sorted(studies.keys() | linked)
    for start in range(0, len(keys), batch_size):
        chunk = keys[start:start + batch_size]
        facts = {row["key"]: row for row in run_query(
            store, STUDY_FACTS, {"studies": chunk, "policy_version": policy.fingerprint})}
        nodes = []
        for study in chunk:
            origin, seen, current = origin_of_study(study), {study}, study
            while current in sources and sources[current] not in seen:
                current = sources[current]
                seen.add(current)
                inherited = origin_of_study(current)
                if inherited is not None:
                    origin = inherited
            counts = _facts(facts[study], allowed.get(origin) if origin else None,
                            policy.fingerprint) if study in facts else {}
            nodes.append(Node(study, prov, {"origin_jurisdiction": origin, **counts},
                              removed={"origin_jurisdiction"} if origin is None else set()))
        write(nodes)


def _facts(row: Row, allowed: list[str] | None, version: str) -> dict[str, Any]:
    """A study's facts from its `study_facts` row and the countries its origin allows: the
    upper bounds the reports seek by, and what the reports count as of `facts_exact_from` on
    under policy `facts_policy_version` (`live_*`)."""
    def foreign(countries: list[str]) -> list[str]:
        if allowed is None or "*" in allowed:
            return []
        return [country for country in countries if country not in allowed]

    return {"retention_rule_count": row["retention_rule_count"],
            "obligation_count": row["obligation_count"],
            "foreign_country_count": len(foreign(row["countries"])),
            "facts_policy_version": version, "facts_exact_from": row["exact_from"],
            "live_rule_count": row["live_rule_count"],
            "live_conflict": row["live_region_count"] > 1 and row["live_obligation_count"] > 1,
            "live_foreign_copies": len(foreign(row["live_countries"]))}


def _policy_node(jurisdiction: str, rule_id: str, policy: Policy, prov: Provenance) -> Node:
    rule = policy.rules_by_id()[rule_id][1]
    return Node(policy_key(rule_id), prov, {
        "jurisdiction": jurisdiction, "description": rule.description, "trigger": str(rule.trigger),
        "years": rule.years, "months": rule.months, "modalities": rule.modalities,
        "age_below": rule.age_below, "age_at_least": rule.age_at_least, "citation": rule.source,
        "uncertain": rule.uncertain,
    })


def applied_policy(store: GraphStore) -> Policy | None:
    """The policy last applied to the store completely, or None."""
    text = store.get_meta(POLICY_META)
    return Policy.model_validate(json.loads(text)) if text else None


def affected_copies(store: GraphStore, touched: Iterable[str]) -> set[str]:
    """The copies whose retention may change when these nodes changed (query
    `affected_copies`: every copy of every study of a patient touched directly or through a
    study, series or copy, and the copies of touched systems), in one query per chunk."""
    by_kind: dict[NodeKind, list[str]] = {kind: [] for kind in _TOUCHING}
    for key in sorted(set(touched)):
        kind = kind_of(key)
        if kind in by_kind:
            by_kind[kind].append(key)
    found: set[str] = set()  # a union over the keys: chunks are exact
    longest = max(len(keys) for keys in by_kind.values())
    for start in range(0, longest, AFFECTED_CHUNK):
        params = {name: by_kind[kind][start:start + AFFECTED_CHUNK]
                  for kind, name in _TOUCHING.items()}
        found.update(row["key"] for row in run_query(store, AFFECTED_COPIES, params))
    return found


_TOUCHING = {NodeKind.ARCHIVE_OBJECT: "copies", NodeKind.SERIES: "series",
             NodeKind.STUDY: "studies", NodeKind.PATIENT: "patients",
             NodeKind.SYSTEM: "systems"}
AFFECTED_CHUNK = 20_000


# Edges whose creation or change moves the retention inputs of the copies at their source end.
RETENTION_LINKS = frozenset({EdgeType.COPY_OF.value, EdgeType.STORED_IN.value,
                             EdgeType.PART_OF.value, EdgeType.OF_PATIENT.value,
                             EdgeType.DERIVED_FROM.value})


def changed_inputs(written: UpsertResult) -> set[str]:
    """The keys whose retention inputs a write changed: nodes whose own properties changed,
    and the source end of new or changed links between copies, series, studies and patients.
    A system only linked to (a new copy STORED_IN it, a FEEDS) is not among them: that does not
    move the retention of the system's other copies."""
    keys = set(written.changed_nodes)
    keys.update(src for src, edge_type, _ in written.changed_edges if edge_type in RETENTION_LINKS)
    return keys


def recompute_affected(store: GraphStore, written: UpsertResult) -> ApplyReport | None:
    """After an ingest: recompute the copies whose inputs changed, under the policy last
    applied to the store (nothing when no policy was ever applied)."""
    policy = applied_policy(store)
    if policy is None:
        return None
    copies = affected_copies(store, changed_inputs(written))
    return apply_retention(store, policy, only=copies) if copies else ApplyReport(
        policy.fingerprint)
