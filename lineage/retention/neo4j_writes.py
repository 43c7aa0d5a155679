"""Writing a page of recomputed retention to Neo4j in one transaction, without the general
batch's round trips: the page's copies are locked and read with their GOVERNED_BY edges in one
query, each report is merged in the client by `lineage.merge.merge` (the same rules as every
write), and what changed is written back in one query per kind: of a copy only the properties
that changed (`SET +=`), where the general batch rewrites the whole property map.

Nothing here decides a merged value: it only spares the general batch's work that a page of
retention results does not need (key validation of keys read from the store, placeholders, a
second look-up of edges whose ends are known).
"""

from __future__ import annotations

from typing import Any

from neo4j import ManagedTransaction

from lineage.merge import merge, node_mutable
from lineage.model import (
    EDGE_MUTABLE_PROPERTIES,
    EdgeType,
    NodeKind,
    Properties,
    Provenance,
    edge_id,
)
from lineage.retention.apply import Outcome
from lineage.stores import cypher
from lineage.stores.neo4j import Neo4jStore

_COPY = NodeKind.ARCHIVE_OBJECT
_MUTABLE = node_mutable(_COPY)
_GOVERNED_BY = EdgeType.GOVERNED_BY.value


def changes(before: Properties, after: Properties) -> dict[str, Any]:
    """What turns `before` into `after` under `SET n += changes`: new and changed values, and
    None for each property `after` no longer has."""
    found: dict[str, Any] = {name: None for name in before if name not in after}
    found.update((name, value) for name, value in after.items() if before.get(name) != value)
    return found


def _merged_rows(outcomes: list[Outcome], prov: Provenance,
                 stored: dict[str, tuple[Properties, dict[str, Properties]]]
                 ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    nodes, new_edges, changed_edges = [], [], []
    for outcome in outcomes:
        if outcome.key not in stored:  # no longer stored: nothing to govern
            continue
        before, governed = stored[outcome.key]
        merged = merge(outcome.key, before, outcome.properties, prov, _MUTABLE,
                       frozenset(outcome.removed))
        if merged.properties != before:
            nodes.append({"key": outcome.key, "changes": changes(before, merged.properties)})
        for policy, props in outcome.edges:
            edge_before = governed.get(policy)
            edge = merge(edge_id(outcome.key, _GOVERNED_BY, policy), edge_before, props, prov,
                         EDGE_MUTABLE_PROPERTIES)
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
