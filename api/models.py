"""The API's answers as pydantic models: the OpenAPI schema names every field, so that generated
clients get types. Rows of the reports are the query library's rows (`queries/`)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Answer(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FieldProblem(Answer):
    field: str = Field(description="Where: e.g. query.as_of, body.query")
    message: str


class Problem(Answer):
    """RFC 9457 problem details: every error the API returns."""

    type: str = Field(description="A URI naming the kind of problem")
    title: str = Field(description="The kind of problem, in words")
    status: int
    detail: str = Field(description="What was wrong in this request, and where")
    errors: list[FieldProblem] | None = Field(default=None,
                                              description="The fields that failed validation")


class Health(Answer):
    status: str
    version: str


class Paging(Answer):
    offset: int
    limit: int | None
    truncated: bool = Field(description="A list was cut to the page")


class HeldElsewhere(Answer):
    system: str
    items: int = Field(description="How many of those series or studies it holds too")


class Holdings(Answer):
    copies: int = Field(description="Live copies the system holds")
    items: int = Field(description="Series or studies those copies are copies of")
    elsewhere: list[HeldElsewhere]


class SoleCopy(Answer):
    key: str
    kind: str | None
    copies: list[str]
    retain_until: str | None
    retention_unknown: int
    holds: list[str]


class SoleItem(Answer):
    key: str
    copies: list[str]
    retain_until: str | None
    holds: list[str]
    reason: str | None = None


class Downstream(Answer):
    key: str
    via: list[str]


class AccessProfile(Answer):
    key: str
    role: str | None
    actions: list[str] | None


class LineageGap(Answer):
    key: str
    reasons: list[str]


class Decommission(Paging):
    system: str
    as_of: str
    verdict: str = Field(description="ready or blocked")
    reasons: list[str]
    policy_version: str | None
    counts: dict[str, int]
    holdings: Holdings
    sole_copies: list[SoleCopy]
    must_migrate: list[SoleItem]
    may_dispose: list[SoleItem]
    downstream: list[Downstream]
    access_profiles: list[AccessProfile]
    lineage_gaps: list[LineageGap]
    answered_from: str = Field(description="holding facts (the copies' write-time facts, read "
                               "from one index) or copies (a walk of the system's copies)")
    warnings: list[str] = Field(default_factory=list, description="The store's indexes that "
                                "are not ONLINE: the answer is right, read by scans")


class GraphNode(Answer):
    key: str
    kind: str
    properties: dict[str, Any]


class GraphEdge(Answer):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    source: str = Field(alias="from")
    type: str
    to: str
    properties: dict[str, Any]


class Trace(Answer):
    root: str
    direction: str
    depth: int
    as_of: str
    nodes: list[GraphNode]
    edges: list[GraphEdge]
    truncated: bool
    count: int


class NodeDetail(Answer):
    key: str
    kind: str
    properties: dict[str, Any]
    edges: list[GraphEdge]
    count: int
    offset: int
    limit: int


class PolicyState(Paging):
    as_of: str
    policy_applied: bool = Field(description="false: no policy was ever applied; the lists "
                                             "are not computed, never read them as compliant")
    uncomputed_copies: int | None = Field(description="Live copies with no retention under "
                                                      "the applied policy")
    study_facts_current: bool | None = Field(
        default=None, description="false: the policy was applied by an engine without the "
        "per-study facts drift and cross-region read; apply it again")
    warnings: list[str]
    counts: dict[str, int]


class OverRetained(Answer):
    key: str
    retain_until: str | None
    rule: str | None
    system: str | None
    region: str | None
    storage_tier: str | None
    bytes: int | None


class PrematureDisposal(Answer):
    key: str
    disposed_at: str
    retain_until: str | None
    rule: str | None
    holds: list[str]


class GovernedCopy(Answer):
    key: str
    rule: str | None
    retain_until: str | None


class PolicyDrift(Answer):
    key: str
    copies: list[GovernedCopy]


class UnknownRetention(Answer):
    key: str
    reason: str | None


class Cost(Answer):
    bytes: int
    by_system: dict[str, int]
    by_region: dict[str, int]
    by_storage_tier: dict[str, int]
    monthly_cost: float
    currency: str | None
    unpriced_bytes: int


class Drift(PolicyState):
    policy_version: str | None
    over_retained: list[OverRetained]
    over_retained_count: int = Field(description="Over-retained copies in all (the list is a "
                                                 "page of them, in key order)")
    over_retained_next: str | None = Field(
        description="The page was full: the key to pass as `after` for the copies that follow "
                    "(GET /retention/over-retained)")
    premature_disposal: list[PrematureDisposal]
    policy_drift: list[PolicyDrift]
    policy_drift_count: int = Field(description="Studies with policy drift in all (the list is "
                                                "a page of them, in key order)")
    unknown: list[UnknownRetention]
    cost: Cost


class OverRetainedPage(Answer):
    as_of: str
    policy_version: str | None
    policy_applied: bool = Field(description="false: no policy was ever applied; the list is "
                                             "not computed, never read it as compliant")
    uncomputed_copies: int | None = Field(description="Live copies with no retention under "
                                                      "the applied policy (first page only)")
    study_facts_current: bool | None = None
    warnings: list[str]
    after: str
    limit: int
    copies: list[OverRetained]
    next: str | None = Field(description="The key to pass as `after` for the following page; "
                                         "null after the last")


class RegionalCopy(Answer):
    key: str
    region: str | None
    jurisdictions: list[str] | None
    retain_until: str | None


class CrossRegionConflict(Answer):
    key: str
    regions: list[str]
    copies: list[RegionalCopy]


class ResidencyViolation(Answer):
    key: str
    study: str | None
    origin: str | None
    country: str | None
    region: str | None


class CrossRegion(PolicyState):
    conflicts: list[CrossRegionConflict]
    conflicts_count: int = Field(description="Studies with conflicts in all (the list is a page "
                                             "of them, in key order)")
    residency_violations: list[ResidencyViolation]
    residency_violations_count: int = Field(description="Residency violations in all (the list "
                                                        "is a page of them, by study then key)")


class ActiveHold(Answer):
    key: str
    type: str | None
    started_at: str | None
    ended_at: str | None
    scope: list[str]
    covered: int
    covered_live: int


class HoldConflict(Answer):
    key: str
    hold: str
    disposed_at: str


class RestoreNeeded(Answer):
    key: str
    hold: str
    copies: list[str]
    tiers: list[str]


class Holds(PolicyState):
    holds: list[ActiveHold]
    conflicts: list[HoldConflict]
    restore_needed: list[RestoreNeeded]


class Stats(Answer):
    nodes: dict[str, int]
    edges: dict[str, int]
    conflicts: int
    unresolved: int


class CatalogueEntry(Answer):
    name: str
    description: str


class Catalogue(Answer):
    queries: list[CatalogueEntry]


class Rows(Answer):
    columns: list[str]
    rows: list[dict[str, Any]]
    count: int
    truncated: bool


class Written(Answer):
    created: int
    updated: int
    unchanged: int


class Located(Answer):
    location: str
    reason: str


class Notice(Answer):
    location: str
    message: str


class IngestReport(Answer):
    """What one ingestion did; connectors may add their own figures (extra fields)."""

    model_config = ConfigDict(extra="allow")

    source: str
    started_at: str
    finished_at: str
    seconds: float
    records: int
    batches: int
    nodes_by_kind: dict[str, int] = Field(description="Nodes in the records, by kind (a node "
                                                      "in several records counted each time)")
    edges_by_type: dict[str, int]
    nodes_changed_by_kind: dict[str, int] = Field(description="Distinct nodes created or "
                                                              "changed, by kind")
    edges_changed_by_type: dict[str, int]
    nodes: Written
    edges: Written
    placeholders_created: int
    conflicts: list[dict[str, Any]]
    rejected: list[Located]
    notices: list[Notice]


class AzureValidation(Answer):
    validationResponse: str


class AuditPage(Answer):
    data: list[dict[str, Any]]
    count: int
    offset: int
    limit: int


class EstateSystem(Answer):
    key: str
    kind: str | None
    region: str | None
    status: str | None
    vendor: str | None
    copies: int
    bytes: int
    tiers: list[str]
    feeds: list[str]


class Estate(Answer):
    as_of: str
    systems: list[EstateSystem]
    count: int
    answered_from: str = Field(description="holding facts (each system's sums read from its "
                               "copies' write-time facts), copies (every system's copies "
                               "walked), or holding facts and copies (some systems walked)")
    warnings: list[str] = Field(default_factory=list, description="The store's indexes that "
                                "are not ONLINE: the answer is right, read by scans")


class Found(Answer):
    key: str
    kind: str
    name: Any = None
    accession: Any = None


class SearchResult(Answer):
    query: str
    results: list[Found]


class Conflict(Answer):
    element: str
    property: str
    current_value: Any
    current_source: str
    reported_value: Any
    reported_source: str
    first_seen: str
    last_seen: str
    recorded_at: str | None


class Conflicts(Answer):
    conflicts: list[Conflict]
    count: int
    offset: int
    limit: int


class Session(Answer):
    name: str
    role: str
    may_read: bool
    may_export: bool
    may_ingest: bool
    may_query: bool
