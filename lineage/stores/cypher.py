"""Cypher text of the Neo4j store, generated from the model's allow-lists only.

Labels and relationship types are interpolated exclusively from `NodeKind` / `EdgeType` members
(backtick-quoted); every value travels as a `$parameter`. That is what makes the `LiteralString`
cast in `query()` sound: no text from a record, a file or a user ever reaches a query string.
"""

from __future__ import annotations

from functools import cache
from typing import LiteralString

from lineage.model import EdgeType, NodeKind

CONFLICT_LABEL = "LineageConflict"
META_LABEL = "LineageMeta"
INSTANCE_LABEL = "LineageInstance"
_LOCK = "_lineage_lock"


def query(text: str) -> LiteralString:
    """Mark allow-list-generated Cypher as a literal for the driver's type hints."""
    literal: LiteralString = text  # mypy treats LiteralString as str; pyright checks it
    return literal


def _label(kind: NodeKind) -> str:
    return f"`{NodeKind(kind).value}`"


def _rel(edge_type: EdgeType) -> str:
    return f"`{EdgeType(edge_type).value}`"


# Range indexes on what the reports filter by: over-retained copies seek by retain_until,
# disposals by disposed_at, unknown retention by status and version, drift and cross-region
# by the study facts `retention apply` keeps, legal holds by event type; the explorer's search
# reads accessions from their index.
INDEXED = {
    NodeKind.ARCHIVE_OBJECT: ("retain_until", "disposed_at", "retention_status",
                              "retention_policy_version"),
    NodeKind.STUDY: ("retention_rule_count", "obligation_count", "foreign_country_count",
                     "accession"),
    NodeKind.COMPLIANCE_EVENT: ("event_type",),
    NodeKind.ORDER: ("accession",),
    NodeKind.REPORT: ("accession",),
}
# Composite range indexes, read without visiting the copies: the over-retained totals sum the
# tallies' entries, a page of over-retained copies reads them in key order, a decommission
# groups the holding facts', the explorer's estate sums each system's live copies, tiers and
# bytes from them at any moment (all written by `retention apply`; the holding facts' order is
# `queries.impact.HOLDING_FACTS`: gaps are an equality seek).
COMPOSITE = {
    "archiveobject_tally": (NodeKind.ARCHIVE_OBJECT, ("retain_until", "retention_group",
                                                      "retention_bytes", "retention_created")),
    "archiveobject_tally_by_key": (NodeKind.ARCHIVE_OBJECT, ("key", "retain_until",
                                                             "retention_group",
                                                             "retention_created")),
    "archiveobject_holding": (NodeKind.ARCHIVE_OBJECT, ("holding_system", "holding_gap",
                                                        "holding_exact_from", "holding_others",
                                                        "holding_item")),
    "archiveobject_estate": (NodeKind.ARCHIVE_OBJECT, ("holding_system", "holding_tier",
                                                       "holding_bytes", "holding_created_at",
                                                       "holding_disposed_at")),
}
# Indexes an earlier engine made that nothing reads any more (each costs every write on its
# label): dropped when a store opens.
RETIRED_INDEXES = ("archiveobject_presence",)


def _constraint_labels() -> list[str]:
    return [kind.value for kind in NodeKind] + [CONFLICT_LABEL, META_LABEL, INSTANCE_LABEL]


@cache
def index_names() -> frozenset[str]:
    """The names of the indexes `constraints()` makes (a uniqueness constraint's index is named
    as the constraint)."""
    return frozenset([f"{label.lower()}_key" for label in _constraint_labels()]
                     + [f"{kind.value.lower()}_{name}" for kind, names in INDEXED.items()
                        for name in names] + list(COMPOSITE))


@cache
def constraints() -> tuple[LiteralString, ...]:
    """The schema the store expects: a uniqueness constraint on `key` for every label, and the
    range indexes of `INDEXED` and `COMPOSITE`; each created if missing, and those of
    `RETIRED_INDEXES` dropped."""
    unique = [query(f"CREATE CONSTRAINT `{label.lower()}_key` IF NOT EXISTS "
                    f"FOR (n:`{label}`) REQUIRE n.key IS UNIQUE") for label in _constraint_labels()]
    indexes = [query(f"CREATE INDEX `{kind.value.lower()}_{name}` IF NOT EXISTS "
                     f"FOR (n:{_label(kind)}) ON (n.`{name}`)")
               for kind, names in INDEXED.items() for name in names]
    composite = [query(f"CREATE INDEX `{name}` IF NOT EXISTS FOR (n:{_label(kind)}) ON ("
                       + ", ".join(f"n.`{prop}`" for prop in props) + ")")
                 for name, (kind, props) in COMPOSITE.items()]
    retired = [query(f"DROP INDEX `{name}` IF EXISTS") for name in RETIRED_INDEXES]
    return (*unique, *indexes, *composite, *retired)


@cache
def lock_nodes(kind: NodeKind, rows: str = "rows") -> LiteralString:
    """MERGE every key, creating a new one with its properties, and take the write lock of the
    others (so that no other writer can interleave between read and write): returns the stored
    properties of the nodes that existed."""
    return query(
        f"UNWIND ${rows} AS row MERGE (n:{_label(kind)} {{key: row.key}}) "
        f"ON CREATE SET n = row.props, n.{_LOCK} = 'new' "
        f"WITH n, row, n.{_LOCK} = 'new' AS created "
        f"SET n.{_LOCK} = true REMOVE n.{_LOCK} "
        "WITH n, row WHERE created IS NULL RETURN row.key AS key, properties(n) AS props"
    )


@cache
def lock_nodes_of(kinds: tuple[NodeKind, ...]) -> LiteralString:
    """`lock_nodes` of several kinds in one statement (one round trip): `$rows0` holds the
    first kind's rows, `$rows1` the second's..."""
    return query(" UNION ALL ".join(lock_nodes(kind, f"rows{part}")
                                    for part, kind in enumerate(kinds)))


@cache
def update_nodes(kind: NodeKind, rows: str = "rows") -> LiteralString:
    return query(
        f"UNWIND ${rows} AS row MATCH (n:{_label(kind)} {{key: row.key}}) SET n = row.props"
    )


@cache
def patch_nodes(kind: NodeKind) -> LiteralString:
    """Write only what changed: `row.changes` holds the new values and null for each property
    withdrawn (a null in `SET +=` removes the property)."""
    return query(
        f"UNWIND $rows AS row MATCH (n:{_label(kind)} {{key: row.key}}) SET n += row.changes"
    )


EdgeGroup = tuple[NodeKind, EdgeType, NodeKind]


@cache
def read_edges_of(groups: tuple[EdgeGroup, ...]) -> LiteralString:
    """The stored properties of edges, several groups in one statement: `$rows0`... hold the
    first group's {src, dst}, and a `part` column says which group a row answers."""
    return query(" UNION ALL ".join(_read_edges(group, f"rows{part}", f"{part} AS part, ")
                                    for part, group in enumerate(groups)))


def _read_edges(group: EdgeGroup, rows: str, part: str) -> LiteralString:
    src, edge_type, dst = group
    return query(
        f"UNWIND ${rows} AS row MATCH (s:{_label(src)} {{key: row.src}})-[r:{_rel(edge_type)}]->"
        f"(t:{_label(dst)} {{key: row.dst}}) RETURN {part}row.src AS src, row.dst AS dst, "
        "properties(r) AS props"
    )


@cache
def write_edges(src: NodeKind, edge_type: EdgeType, dst: NodeKind, new: bool,
                rows: str = "rows") -> LiteralString:
    """Replace the properties of edges (`new`: create edges known not to exist, under the
    batch's locks on both ends, without MERGE's look-up)."""
    return query(
        f"UNWIND ${rows} AS row MATCH (s:{_label(src)} {{key: row.src}}) "
        f"MATCH (t:{_label(dst)} {{key: row.dst}}) "
        f"{'CREATE' if new else 'MERGE'} (s)-[r:{_rel(edge_type)}]->(t) SET r = row.props"
    )


@cache
def write_plan(kinds: tuple[NodeKind, ...], edge_groups: tuple[tuple[EdgeGroup, bool], ...],
               conflicts: bool) -> LiteralString:
    """A batch's whole write in one statement: node updates (`$nodes0`...), then edges
    (`$edges0`..., each group new or not), then conflicts (`$conflicts`)."""
    parts = [update_nodes(kind, f"nodes{n}") for n, kind in enumerate(kinds)]
    parts += [write_edges(*group, new, f"edges{n}")
              for n, (group, new) in enumerate(edge_groups)]
    if conflicts:
        parts.append(WRITE_CONFLICTS)
    return query(" ".join(f"CALL () {{ {part} }}" for part in parts))


@cache
def lock_stored(kind: NodeKind) -> LiteralString:
    """Take the write lock of the stored nodes of these `$keys` (a key not stored is left out)
    and return their properties, for a read-merge-write in one transaction."""
    return query(
        f"UNWIND $keys AS key MATCH (n:{_label(kind)} {{key: key}}) "
        f"SET n.{_LOCK} = true REMOVE n.{_LOCK} RETURN key, properties(n) AS props"
    )


SPECIAL_LABELS = (CONFLICT_LABEL, META_LABEL, INSTANCE_LABEL)
# Lock copies for a read-merge-write in one transaction, returning their properties and their
# GOVERNED_BY edges by policy key (`lineage.retention.neo4j_writes`).
LOCK_COPIES = query(
    f"UNWIND $keys AS key MATCH (o:`ArchiveObject` {{key: key}}) "
    f"SET o.{_LOCK} = true REMOVE o.{_LOCK} "
    "RETURN key, properties(o) AS props, "
    "[(o)-[g:`GOVERNED_BY`]->(p:`RetentionPolicy`) | [p.key, properties(g)]] AS governed"
)


@cache
def create_nodes(label: str) -> LiteralString:
    """Create nodes with exactly these properties (a backfill's leftovers): `label` is a node
    kind or one of the store's own labels, never anything else."""
    if label not in SPECIAL_LABELS:
        label = NodeKind(label).value
    return query(f"UNWIND $rows AS row CREATE (n:`{label}`) SET n = row.props")


READ_CONFLICTS = query(
    f"UNWIND $ids AS id MATCH (c:`{CONFLICT_LABEL}` {{key: id}}) RETURN properties(c) AS props"
)
WRITE_CONFLICTS = query(
    f"UNWIND $conflicts AS row MERGE (c:`{CONFLICT_LABEL}` {{key: row.key}}) SET c = row.props"
)
ALL_CONFLICTS = query(f"MATCH (c:`{CONFLICT_LABEL}`) RETURN properties(c) AS props")
GET_META = query(f"MATCH (m:`{META_LABEL}` {{key: $name}}) RETURN m.value AS value")
SET_META = query(f"MERGE (m:`{META_LABEL}` {{key: $name}}) SET m.value = $value")
# The write lock is taken (`_counting`) before the value is read: no increment is lost.
ADD_TO_META = query(
    f"MERGE (m:`{META_LABEL}` {{key: $name}}) SET m._counting = true "
    "WITH m, coalesce(toInteger(m.value), 0) + $delta AS sum "
    "SET m.value = toString(CASE WHEN sum < 0 THEN 0 ELSE sum END) REMOVE m._counting "
    "RETURN toInteger(m.value) AS value")
RECORD_INSTANCES = query(
    f"UNWIND $rows AS row MERGE (i:`{INSTANCE_LABEL}` {{key: row.sop}}) "
    "WITH i, row, i.waiters AS waiters SET i.series = row.series "
    "WITH row, waiters WHERE waiters IS NOT NULL RETURN row.sop AS sop, waiters"
)
FORGET_WAITERS = query(
    f"UNWIND $sops AS sop MATCH (i:`{INSTANCE_LABEL}` {{key: sop}}) REMOVE i.waiters"
)
KNOWN_INSTANCES = query(
    f"UNWIND $sops AS sop MATCH (i:`{INSTANCE_LABEL}` {{key: sop}}) "
    "WHERE i.series IS NOT NULL RETURN sop, i.series AS series"
)
AWAIT_INSTANCES = query(
    f"UNWIND $rows AS row MERGE (i:`{INSTANCE_LABEL}` {{key: row.sop}}) "
    "WITH i, row, coalesce(i.waiters, []) AS known "
    "SET i.waiters = known + [w IN row.waiters WHERE NOT w IN known]"
)
COUNT_CONFLICTS = query(f"MATCH (c:`{CONFLICT_LABEL}`) RETURN count(c) AS n")
COUNT_UNRESOLVED = query("MATCH (n) WHERE n.unresolved = true RETURN count(n) AS n")
# Relationships first, then nodes, each in transactions of 10,000 rows: one big delete runs out
# of heap (seen at 3M records with a 1 GiB heap), and so do 5,000 nodes at a time when one of
# them is a system or policy node with hundreds of thousands of relationships.
CLEAR = (
    query("MATCH ()-[r]->() CALL (r) { DELETE r } IN TRANSACTIONS OF 10000 ROWS"),
    query("MATCH (n) CALL (n) { DELETE n } IN TRANSACTIONS OF 10000 ROWS"),
)


@cache
def get_node(kind: NodeKind) -> LiteralString:
    return query(f"MATCH (n:{_label(kind)} {{key: $key}}) RETURN properties(n) AS props")


@cache
def get_edge(src: NodeKind, edge_type: EdgeType, dst: NodeKind) -> LiteralString:
    return query(
        f"MATCH (:{_label(src)} {{key: $src}})-[r:{_rel(edge_type)}]->(:{_label(dst)} "
        "{key: $dst}) RETURN properties(r) AS props"
    )


_PATTERNS = {"out": "-[r]->", "in": "<-[r]-"}
_PATTERNS_BOTH = {**_PATTERNS, "both": "-[r]-"}


@cache
def edges_at(kind: NodeKind, direction: str) -> LiteralString:
    """Edges leaving ("out") or entering ("in") one node, optionally of some types."""
    src, dst = ("n", "m") if direction == "out" else ("m", "n")
    return query(
        f"MATCH (n:{_label(kind)} {{key: $key}}){_PATTERNS[direction]}(m) "
        "WHERE $types IS NULL OR type(r) IN $types "
        f"RETURN {src}.key AS src, type(r) AS type, {dst}.key AS dst, properties(r) AS props"
    )


@cache
def get_nodes(kind: NodeKind) -> LiteralString:
    """The properties of the nodes of a kind named in $keys, in one record."""
    return query(f"UNWIND $keys AS key MATCH (n:{_label(kind)} {{key: key}}) "
                 "RETURN collect(properties(n)) AS page")


@cache
def out_edges(kind: NodeKind) -> LiteralString:
    """The edges leaving the nodes of a kind named in $keys (an index seek each)."""
    return query(
        f"UNWIND $keys AS key MATCH (s:{_label(kind)} {{key: key}})-[r]->(t) "
        "RETURN s.key AS src, type(r) AS type, t.key AS dst, properties(r) AS props"
    )


@cache
def neighbour_keys(kind: NodeKind, direction: str) -> LiteralString:
    """Keys of the nodes joined to one node, each once, at most $limit: DISTINCT and LIMIT
    stream, so a hub's millions of edges are not all read."""
    return query(
        f"MATCH (n:{_label(kind)} {{key: $key}}){_PATTERNS_BOTH[direction]}(m) "
        "WHERE $types IS NULL OR type(r) IN $types "
        "RETURN DISTINCT m.key AS key LIMIT $limit"
    )


_PATH_PATTERNS = {"out": "-[*..64]->", "in": "<-[*..64]-", "both": "-[*..64]-"}


@cache
def shortest_path(src: NodeKind, dst: NodeKind, direction: str) -> LiteralString:
    return query(
        f"MATCH (a:{_label(src)} {{key: $src}}), (b:{_label(dst)} {{key: $dst}}) "
        f"MATCH p = shortestPath((a){_PATH_PATTERNS[direction]}(b)) "
        "WHERE $types IS NULL OR all(r IN relationships(p) WHERE type(r) IN $types) "
        "RETURN [n IN nodes(p) | n.key] AS keys"
    )


@cache
def keys_starting(kind: NodeKind) -> LiteralString:
    """A prefix seek in the range index of the key constraint, in index order."""
    return query(f"MATCH (n:{_label(kind)}) WHERE n.key STARTS WITH $prefix "
                 "RETURN n.key AS key ORDER BY key LIMIT $limit")


# A whole store is read a page at a time, each page one record: the driver's cost is per record
# (~12 µs of Python each), and a page seeks from where the last ended through the range index
# of the key constraint, so that no query holds or sorts a whole label.
@cache
def node_page(kind: NodeKind) -> LiteralString:
    """The nodes of a kind whose key follows `$after`, at most `$size`, in key order."""
    return query(f"MATCH (n:{_label(kind)}) WHERE n.key > $after "
                 "WITH n ORDER BY n.key LIMIT $size RETURN collect(properties(n)) AS page")


@cache
def edge_page(edge_type: EdgeType, source: NodeKind) -> LiteralString:
    """The edges of a type out of the next `$size` nodes of a kind after `$after`, sorted by
    (src, dst), and the last of those nodes' key (null when there were none)."""
    return query(
        f"MATCH (s:{_label(source)}) WHERE s.key > $after WITH s ORDER BY s.key LIMIT $size "
        "WITH collect(s) AS sources "
        f"CALL (sources) {{ UNWIND sources AS s MATCH (s)-[r:{_rel(edge_type)}]->(t) "
        "WITH s.key AS src, t.key AS dst, properties(r) AS props ORDER BY src, dst "
        "RETURN collect([src, dst, props]) AS edges } "
        "RETURN sources[-1].key AS last, edges"
    )


@cache
def edges_from_other_kinds(edge_type: EdgeType, sources: tuple[NodeKind, ...]) -> LiteralString:
    """Edges of a type whose source is none of the kinds the model allows (written before an
    allow-list changed): read only when the pages missed some."""
    labels = "|".join(_label(kind) for kind in sources)
    return query(
        f"MATCH (s)-[r:{_rel(edge_type)}]->(t) WHERE NOT s:{labels} "
        "RETURN s.key AS src, t.key AS dst, properties(r) AS props ORDER BY src, dst"
    )


@cache
def count_nodes(kind: NodeKind) -> LiteralString:
    return query(f"MATCH (n:{_label(kind)}) RETURN count(n) AS n")


@cache
def count_edges(edge_type: EdgeType) -> LiteralString:
    return query(f"MATCH ()-[r:{_rel(edge_type)}]->() RETURN count(r) AS n")
