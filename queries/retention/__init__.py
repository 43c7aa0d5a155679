"""Retention, residency and legal-hold queries: each a Cypher file beside this module and its
NetworkX twin here. Rows are sorted by key (and hold); lists inside rows are sorted.

Parameters: `as_of` (a stored timestamp: the end of the day asked), `as_of_date` (YYYY-MM-DD),
`policy_version` (the fingerprint of the policy whose retention is current), `allowed` (origin
jurisdiction → countries), `archive_tiers`, for the pages of copies `after` and `limit`, and
for their inputs `keys`; for a page of the over-retained copies, drifting studies, conflicts or
residency violations `offset` and `limit` (and `scan`, the copies read in key order for the
over-retained page found that way).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from queries.graph import (
    Graph,
    active_at,
    covered,
    current,
    holds_covering,
    into,
    live,
    maximum,
    minimum,
    nodes,
    out,
    region_of,
    study_of,
    system_of,
)
from queries.library import Query, Row


def _copy_keys(graph: Graph, params: Mapping[str, Any]) -> list[Row]:
    keys = (key for key, _ in nodes(graph, "ArchiveObject") if key > params["after"])
    return [{"key": key} for key, _ in zip(keys, range(params["limit"]), strict=False)]


def _affected(graph: Graph, params: Mapping[str, Any]) -> list[Row]:
    def stored(keys: Any, label: str) -> list[str]:
        return [k for k in keys if k in graph and graph.nodes[k].get("label") == label]

    touched = set(stored(params["studies"], "Study"))
    for series in stored(params["series"], "Series"):
        touched.update(out(graph, series, "PART_OF", "Study"))
    for copy in stored(params["copies"], "ArchiveObject"):
        touched.update(_linked_studies(graph, copy))
    patients = set(stored(params["patients"], "Patient"))
    for study in touched:
        patients.update(out(graph, study, "OF_PATIENT", "Patient"))
    studies = set(touched)
    for patient in patients:
        studies.update(into(graph, patient, "OF_PATIENT", "Study"))
    copies = set(stored(params["copies"], "ArchiveObject"))
    for copy in list(copies):
        for item in out(graph, copy, "COPY_OF"):
            copies.update(into(graph, item, "COPY_OF", "ArchiveObject"))
    for series in stored(params["series"], "Series"):
        copies.update(into(graph, series, "COPY_OF", "ArchiveObject"))
    for study in studies:
        copies.update(into(graph, study, "COPY_OF", "ArchiveObject"))
        for series in into(graph, study, "PART_OF", "Series"):
            copies.update(into(graph, series, "COPY_OF", "ArchiveObject"))
    for system in stored(params["systems"], "System"):
        copies.update(into(graph, system, "STORED_IN", "ArchiveObject"))
    return [{"key": key} for key in sorted(copies)]


def _study_facts(graph: Graph, params: Mapping[str, Any]) -> list[Row]:
    rows = []
    for key in sorted(set(params["studies"])):
        if key not in graph or graph.nodes[key].get("label") != "Study":
            continue
        copies = set(into(graph, key, "COPY_OF", "ArchiveObject"))
        for series in into(graph, key, "PART_OF", "Series"):
            copies.update(into(graph, series, "COPY_OF", "ArchiveObject"))
        attrs = [graph.nodes[c] for c in copies]
        rules = {(a.get("retention_policy_id"), a.get("retain_until")) for a in attrs
                 if a.get("retention_status") == "computed"}
        duties = {(tuple(a.get("jurisdictions") or ()), a.get("retain_until") or "")
                  for c, a in zip(copies, attrs, strict=True) if region_of(graph, c) is not None}
        rows.append({"key": key, "retention_rule_count": len(rules),
                     "obligation_count": len(duties),
                     "countries": sorted({a["country"] for a in attrs
                                          if a.get("country") is not None}),
                     **_live_facts(graph, key, copies, params)})
    return rows


def _live_facts(graph: Graph, study: str, copies: set[str], params: Mapping[str, Any]
                ) -> dict[str, Any]:
    """The study's facts exact as of now (see study_facts.cypher)."""
    live_copies = [c for c in copies if graph.nodes[c].get("disposed_at") is None
                   and study_of(graph, c) == study]
    placed = [(region_of(graph, c), graph.nodes[c]) for c in live_copies]
    placed = [(region, a) for region, a in placed if region is not None]
    moments = [graph.nodes[c].get(name) or "" for c in copies
               for name in ("created_at", "disposed_at")]
    return {
        "live_rule_count": len({(a.get("retention_policy_id"), a.get("retain_until"))
                                for a in (graph.nodes[c] for c in live_copies)
                                if _current(a, params)}),
        "live_region_count": len({region for region, _ in placed}),
        "live_obligation_count": len({(tuple(a.get("jurisdictions") or ()),
                                       a.get("retain_until") or "") for _, a in placed}),
        "live_countries": sorted(graph.nodes[c]["country"] for c in live_copies
                                 if graph.nodes[c].get("country") is not None),
        "exact_from": max(moments, default=""),
    }


def _inputs(graph: Graph, params: Mapping[str, Any]) -> list[Row]:
    rows: list[Row] = []
    for key in sorted(set(params["keys"])):
        attrs = graph.nodes.get(key) if key in graph else None
        if attrs is None or attrs.get("label") != "ArchiveObject":
            continue
        series_modality = minimum(graph.nodes[s].get("modality")
                                  for s in out(graph, key, "COPY_OF", "Series")
                                  if out(graph, s, "PART_OF", "Study"))
        study = study_of(graph, key)
        sattrs = graph.nodes[study] if study else {}
        patient = minimum(p for p in out(graph, study, "OF_PATIENT", "Patient")
                          if current(graph, study, p, "OF_PATIENT")) if study else None
        pattrs = graph.nodes[patient] if patient else {}
        modalities = sattrs.get("modalities") or [None]
        rows.append({
            "key": key, "current_rule": attrs.get("retention_policy_id"),
            "region": region_of(graph, key), "system": system_of(graph, key),
            "storage_tier": attrs.get("storage_tier"), "bytes": attrs.get("bytes"),
            "created_at": attrs.get("created_at"), "disposed_at": attrs.get("disposed_at"),
            "study": study, "study_date": sattrs.get("study_date"),
            "source_study": minimum(out(graph, study, "DERIVED_FROM", "Study")) if study else None,
            "other_studies": sorted(_linked_studies(graph, key) - {study}),
            "modality": series_modality if series_modality is not None else modalities[0],
            "institution": sattrs.get("institution"),
            "age_at_study": sattrs.get("patient_age_at_study"),
            "patient": patient, "birth_year_month": pattrs.get("birth_year_month"),
            "death_date": pattrs.get("death_date"),
            "patient_last_encounter": pattrs.get("last_encounter"),
            "latest_study_date": maximum(graph.nodes[s].get("study_date")
                                         for s in into(graph, patient, "OF_PATIENT", "Study")
                                         if current(graph, s, patient, "OF_PATIENT"))
            if patient else None,
        })
    return rows


def _linked_studies(graph: Graph, copy: str) -> set[str]:
    """The studies a copy is a copy of, directly or through a series."""
    linked = set(out(graph, copy, "COPY_OF", "Study"))
    for series in out(graph, copy, "COPY_OF", "Series"):
        linked.update(out(graph, series, "PART_OF", "Study"))
    return linked


def _current(attrs: Mapping[str, Any], params: Mapping[str, Any]) -> bool:
    return bool(attrs.get("retention_status") == "computed"
                and attrs.get("retention_policy_version") == params["policy_version"])


def _all_over_retained(graph: Graph, params: Mapping[str, Any]) -> list[Row]:
    as_of = params["as_of"]
    held = {obj for event, attrs in nodes(graph, "ComplianceEvent")
            if attrs.get("event_type") == "legal_hold" and active_at(attrs, as_of)
            for obj in covered(graph, event)}
    rows = []
    for key, attrs in nodes(graph, "ArchiveObject"):
        if (live(attrs, as_of) and _current(attrs, params) and key not in held
                and attrs.get("retain_until") is not None
                and attrs["retain_until"] < params["as_of_date"]):
            rows.append({"key": key, "retain_until": attrs["retain_until"],
                         "rule": attrs.get("retention_policy_id"),
                         "system": system_of(graph, key), "region": region_of(graph, key),
                         "storage_tier": attrs.get("storage_tier"), "bytes": attrs.get("bytes")})
    return rows


def _over_retained(graph: Graph, params: Mapping[str, Any]) -> list[Row]:
    offset, after = params["offset"], params["after"]
    found = [row for row in _all_over_retained(graph, params) if row["key"] > after]
    return found[offset:offset + params["limit"]]


def _over_retained_by_key(graph: Graph, params: Mapping[str, Any]) -> list[Row]:
    after = params["after"]
    scanned = [key for key, _ in nodes(graph, "ArchiveObject") if key > after][:params["scan"]]
    last = scanned[-1] if scanned else ""
    found = [row for row in _all_over_retained(graph, params) if after < row["key"] <= last]
    offset = params["offset"]
    return [{"scanned": len(scanned), "copies": found[offset:offset + params["limit"]]}]


def _over_retained_totals(graph: Graph, params: Mapping[str, Any]) -> list[Row]:
    groups: dict[tuple[Any, Any, Any], list[int]] = {}
    for row in _all_over_retained(graph, params):
        group = groups.setdefault((row["system"], row["region"], row["storage_tier"]), [0, 0])
        group[0] += 1
        group[1] += int(row["bytes"] or 0)
    return [{"system": system, "region": region, "storage_tier": tier, "copies": copies,
             "bytes": size}
            for (system, region, tier), (copies, size)
            in sorted(groups.items(), key=lambda item: [(v is None, v or "") for v in item[0]])]


def _premature(graph: Graph, params: Mapping[str, Any]) -> list[Row]:
    covering = holds_covering(graph)
    rows = []
    for key, attrs in nodes(graph, "ArchiveObject"):
        disposed = attrs.get("disposed_at")
        if disposed is None or disposed > params["as_of"]:
            continue
        holds = sorted(e for e in covering.get(key, [])
                       if active_at(graph.nodes[e], disposed))
        until = attrs.get("retain_until")
        early = _current(attrs, params) and until is not None and until > disposed[:10]
        if early or holds:
            rows.append({"key": key, "disposed_at": disposed,
                         "retain_until": until if early else None,
                         "rule": attrs.get("retention_policy_id") if early else None,
                         "holds": holds})
    return rows


def _unknown(graph: Graph, params: Mapping[str, Any]) -> list[Row]:
    rows = []
    for key, attrs in nodes(graph, "ArchiveObject"):
        if not live(attrs, params["as_of"]) or _current(attrs, params):
            continue
        status, version = attrs.get("retention_status"), attrs.get("retention_policy_version")
        reason: str | None
        if status is None:
            reason = "retention not computed"
        elif version != params["policy_version"]:
            reason = "computed under another policy version"
        else:
            reason = attrs.get("retention_reason")
        rows.append({"key": key, "reason": reason})
    return rows


def _live_by_study(graph: Graph, as_of: str) -> dict[str, list[str]]:
    by_study: dict[str, list[str]] = {}
    for key, attrs in nodes(graph, "ArchiveObject"):
        if live(attrs, as_of):
            study = study_of(graph, key)
            if study is not None:
                by_study.setdefault(study, []).append(key)
    return by_study


def _page_of(rows: list[Row], params: Mapping[str, Any], name: str) -> list[Row]:
    """The one row of a paged section: its `count` in all, and the page `name`."""
    offset = params["offset"]
    return [{"count": len(rows), name: rows[offset:offset + params["limit"]]}]


def _policy_drift(graph: Graph, params: Mapping[str, Any]) -> list[Row]:
    return _page_of(_all_policy_drift(graph, params), params, "studies")


def _all_policy_drift(graph: Graph, params: Mapping[str, Any]) -> list[Row]:
    rows = []
    for study, copies in sorted(_live_by_study(graph, params["as_of"]).items()):
        current = [(k, graph.nodes[k]) for k in copies if _current(graph.nodes[k], params)]
        listed = [{"key": k, "rule": a.get("retention_policy_id"),
                   "retain_until": a.get("retain_until")} for k, a in current]
        if len(listed) > 1 and len({(c["rule"], c["retain_until"]) for c in listed}) > 1:
            rows.append({"key": study, "copies": listed})
    return rows


def _cross_region(graph: Graph, params: Mapping[str, Any]) -> list[Row]:
    return _page_of(_all_cross_region(graph, params), params, "studies")


def _all_cross_region(graph: Graph, params: Mapping[str, Any]) -> list[Row]:
    rows = []
    for study, copies in sorted(_live_by_study(graph, params["as_of"]).items()):
        listed = [{"key": k, "region": region_of(graph, k),
                   "jurisdictions": graph.nodes[k].get("jurisdictions"),
                   "retain_until": graph.nodes[k].get("retain_until")} for k in copies]
        listed = [c for c in listed if c["region"] is not None]
        regions = sorted({c["region"] for c in listed})
        obligations = {(tuple(c["jurisdictions"] or ()), c["retain_until"] or "")
                       for c in listed}
        if len(regions) > 1 and len(obligations) > 1:
            rows.append({"key": study, "regions": regions, "copies": listed})
    return rows


def _residency(graph: Graph, params: Mapping[str, Any]) -> list[Row]:
    rows = sorted(_all_residency(graph, params), key=lambda row: (row["study"], row["key"]))
    return _page_of(rows, params, "copies")


def _all_residency(graph: Graph, params: Mapping[str, Any]) -> list[Row]:
    allowed: Mapping[str, list[str]] = params["allowed"]
    rows = []
    for key, attrs in nodes(graph, "ArchiveObject"):
        if not live(attrs, params["as_of"]) or attrs.get("country") is None:
            continue
        study = study_of(graph, key)
        origin = graph.nodes[study].get("origin_jurisdiction") if study else None
        permitted = allowed.get(origin) if origin is not None else None
        if permitted is None or "*" in permitted or attrs["country"] in permitted:
            continue
        rows.append({"key": key, "study": study, "origin": origin, "country": attrs["country"],
                     "region": region_of(graph, key)})
    return rows


def _holds_active(graph: Graph, params: Mapping[str, Any]) -> list[Row]:
    as_of = params["as_of"]
    rows = []
    for key, attrs in nodes(graph, "ComplianceEvent"):
        if not active_at(attrs, as_of):
            continue
        objects = covered(graph, key)
        rows.append({"key": key, "type": attrs.get("event_type"),
                     "started_at": attrs.get("started_at"), "ended_at": attrs.get("ended_at"),
                     "scope": out(graph, key, "APPLIES_TO"), "covered": len(objects),
                     "covered_live": sum(1 for o in objects if live(graph.nodes[o], as_of))})
    return rows


def _holds_conflicts(graph: Graph, params: Mapping[str, Any]) -> list[Row]:
    rows = []
    for obj, holds in holds_covering(graph).items():
        disposed = graph.nodes[obj].get("disposed_at")
        if disposed is None or disposed > params["as_of"]:
            continue
        rows += [{"key": obj, "hold": hold, "disposed_at": disposed}
                 for hold in holds if active_at(graph.nodes[hold], disposed)]
    return sorted(rows, key=lambda r: (r["key"], r["hold"]))


def _restore_needed(graph: Graph, params: Mapping[str, Any]) -> list[Row]:
    as_of, tiers = params["as_of"], params["archive_tiers"]
    by_study = _live_by_study(graph, as_of)
    rows = []
    for event, attrs in nodes(graph, "ComplianceEvent"):
        if attrs.get("event_type") != "legal_hold" or not active_at(attrs, as_of):
            continue
        studies = {study_of(graph, obj) for obj in covered(graph, event)} - {None}
        for study in studies:
            copies = sorted(by_study.get(str(study), []))
            copy_tiers = [graph.nodes[c].get("storage_tier") or "" for c in copies]
            if copies and all(t in tiers for t in copy_tiers):
                rows.append({"key": study, "hold": event, "copies": copies, "tiers": copy_tiers})
    return sorted(rows, key=lambda r: (r["key"], r["hold"]))


def _held_copies(graph: Graph, params: Mapping[str, Any]) -> list[Row]:
    system = params["system"]
    stored = set(into(graph, system, "STORED_IN", "ArchiveObject")) if system in graph else set()
    held: dict[str, list[str]] = {}
    for event, attrs in nodes(graph, "ComplianceEvent"):
        if attrs.get("event_type") == "legal_hold" and active_at(attrs, params["as_of"]):
            for obj in covered(graph, event) & stored:
                held.setdefault(obj, []).append(event)
    return [{"key": key, "holds": sorted(events)} for key, events in sorted(held.items())]


COPY_KEYS = Query("retention/copy_keys", _copy_keys)
AFFECTED_COPIES = Query("retention/affected_copies", _affected)
STUDY_FACTS = Query("retention/study_facts", _study_facts)
RETENTION_INPUTS = Query("retention/retention_inputs", _inputs)
DRIFT_OVER_RETAINED = Query("retention/drift_over_retained", _over_retained)
DRIFT_OVER_RETAINED_BY_KEY = Query("retention/drift_over_retained_by_key", _over_retained_by_key)
DRIFT_OVER_RETAINED_TALLIED = Query("retention/drift_over_retained_tallied", _over_retained)
DRIFT_OVER_RETAINED_TOTALS = Query("retention/drift_over_retained_totals", _over_retained_totals)
DRIFT_PREMATURE = Query("retention/drift_premature_disposal", _premature)
DRIFT_UNKNOWN = Query("retention/drift_unknown", _unknown)
DRIFT_POLICY = Query("retention/drift_policy", _policy_drift)
CROSS_REGION_CONFLICTS = Query("retention/cross_region_conflicts", _cross_region)
RESIDENCY_VIOLATIONS = Query("retention/residency_violations", _residency)
HOLDS_ACTIVE = Query("retention/holds_active", _holds_active)
HOLDS_CONFLICTS = Query("retention/holds_conflicts", _holds_conflicts)
HOLDS_RESTORE_NEEDED = Query("retention/holds_restore_needed", _restore_needed)
HELD_COPIES = Query("retention/held_copies", _held_copies)

ALL = [COPY_KEYS, AFFECTED_COPIES, STUDY_FACTS, RETENTION_INPUTS, DRIFT_OVER_RETAINED,
       DRIFT_OVER_RETAINED_BY_KEY, DRIFT_OVER_RETAINED_TALLIED, DRIFT_OVER_RETAINED_TOTALS,
       DRIFT_PREMATURE, DRIFT_UNKNOWN, DRIFT_POLICY, CROSS_REGION_CONFLICTS,
       RESIDENCY_VIOLATIONS, HOLDS_ACTIVE, HOLDS_CONFLICTS, HOLDS_RESTORE_NEEDED, HELD_COPIES]
