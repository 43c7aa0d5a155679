"""Writing a page of recomputed retention to Neo4j in one transaction, without the general
batch's round trips: the page's copies are locked and read with their GOVERNED_BY edges in one
query, each report is merged in the client by `lineage.merge.merge` (the same rules as every
write), and what changed is written back in one query per kind: of a copy only the properties
that changed (`SET +=`), where the general batch rewrites the whole property map. The studies'
facts are written the same way (`write_merged_nodes`).

Every property retention reports is mutable for its kind (`lineage.model.MUTABLE_PROPERTIES`),
so these merges cannot find a metadata conflict; one that did would be an error here, never
dropped.

Nothing here decides a merged value: it only spares the general batch's work that a page of
retention results does not need (key validation of keys read from the store, placeholders, a
second look-up of edges whose ends are known).
"""

from __future__ import annotations

from typing import Any

from neo4j import ManagedTransaction

from lineage.errors import LineageError
from lineage.merge import Merged, merge, node_rules
from lineage.model import (
    EDGE_MUTABLE_PROPERTIES,
    EdgeType,
    Node,
    NodeKind,
    Properties,
    Provenance,
    edge_id,
    kind_of,
)
from lineage.retention.apply import Outcome
from lineage.stores import cypher
from lineage.stores.neo4j import Neo4jStore

_COPY = NodeKind.ARCHIVE_OBJECT
_RULES = node_rules(_COPY)
_GOVERNED_BY = EdgeType.GOVERNED_BY.value


def changes(before: Properties, after: Properties) -> dict[str, Any]:
    """What turns `before` into `after` under `SET n += changes`: new and changed values, and
    None for each property `after` no longer has."""
    found: dict[str, Any] = {name: None for name in before if name not in after}
    found.update((name, value) for name, value in after.items() if before.get(name) != value)
    return found


def _checked(merged: Merged) -> Merged:
    if merged.conflicts:
        conflict = merged.conflicts[0]
        raise LineageError(f"retention reported an immutable property: {conflict.property!r} of "
                           f"{conflict.element}")
    return merged


def _patch_row(key: str, before: Properties, reported: Properties, prov: Provenance,
               rules: tuple[frozenset[str], frozenset[str]], removed: frozenset[str]
               ) -> dict[str, Any] | None:
    """The `patch_nodes` row that merges a report into a stored node (`rules`: the mutable
    and derived properties of its kind), None when nothing changes."""
    mutable, derived = rules
    merged = _checked(merge(key, before, reported, prov, mutable, removed, derived))
    return {"key": key, "changes": changes(before, merged.properties)} \
        if merged.properties != before else None


def _merged_rows(outcomes: list[Outcome], prov: Provenance,
                 stored: dict[str, tuple[Properties, dict[str, Properties]]]
                 ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    nodes, new_edges, changed_edges = [], [], []
    for outcome in outcomes:
        if outcome.key not in stored:  # no longer stored: nothing to govern
            continue
        before, governed = stored[outcome.key]
        row = _patch_row(outcome.key, before, outcome.properties, prov, _RULES,
                         frozenset(outcome.removed))
        if row is not None:
            nodes.append(row)
        for policy, props in outcome.edges:
            edge_before = governed.get(policy)
            edge = _checked(merge(edge_id(outcome.key, _GOVERNED_BY, policy), edge_before, props,
                                  prov, EDGE_MUTABLE_PROPERTIES))
            row = {"src": outcome.key, "dst": policy, "props": edge.properties}
            if edge_before is None:
                new_edges.append(row)
            elif edge.properties != edge_before:
                changed_edges.append(row)
    return nodes, new_edges, changed_edges


def write_merged(store: Neo4jStore, outcomes: list[Outcome], prov: Provenance) -> None:
    keys = [outcome.key for outcome in outcomes]

    def work(tx: ManagedTransaction) -> None:
        stored = {
            record["key"]: ({k: v for k, v in record["props"].items() if k != "key"},
                            {policy: dict(props) for policy, props in record["governed"]})
            for record in tx.run(cypher.LOCK_COPIES, keys=keys)
        }
        nodes, new_edges, changed_edges = _merged_rows(outcomes, prov, stored)
        tx.run(cypher.patch_nodes(_COPY), rows=nodes).consume()
        for new, rows in ((True, new_edges), (False, changed_edges)):
            if rows:
                tx.run(cypher.write_edges(_COPY, EdgeType.GOVERNED_BY,
                                          NodeKind.RETENTION_POLICY, new), rows=rows).consume()

    store.execute_write(work)


def write_merged_nodes(store: Neo4jStore, nodes: list[Node]) -> None:
    """Merge reports on stored nodes of one kind (a node no longer stored is skipped) and write
    what changed, in one transaction."""
    if not nodes:
        return
    kind = kind_of(nodes[0].key)
    rules = node_rules(kind)

    def work(tx: ManagedTransaction) -> None:
        stored = {record["key"]: {k: v for k, v in record["props"].items() if k != "key"}
                  for record in tx.run(cypher.lock_stored(kind), keys=[n.key for n in nodes])}
        rows = [row for node in nodes if node.key in stored
                and (row := _patch_row(node.key, stored[node.key], node.properties,
                                       node.provenance, rules, frozenset(node.removed)))]
        tx.run(cypher.patch_nodes(kind), rows=rows).consume()

    store.execute_write(work)
