"""What an architect's ad-hoc Cypher may do: read the graph, nothing else.

Every query is planned with `EXPLAIN` (which runs nothing) and refused, with the reason, when its
plan does more than read the lineage graph:
- `LOAD CSV` (it reads files on the Neo4j host and makes the server fetch URLs);
- administration commands (`SHOW ...`, `TERMINATE TRANSACTIONS`: one architect could end every
  ingest), and `CALL {...} IN TRANSACTIONS`;
- procedures other than the read-only schema ones in `ALLOWED_PROCEDURES` (`dbms.*` reads the
  server's configuration and kills connections, `db.clearQueryCaches` slows everyone);
- anything Neo4j itself does not type as a read (`query_type` other than `r`: writes, schema).
The read-only transaction the query then runs in, and Neo4j's own settings (no file URLs in LOAD
CSV, no unrestricted procedures), are further lines of defence, not the only one.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

ALLOWED_PROCEDURES = frozenset({
    "db.labels", "db.relationshipTypes", "db.propertyKeys", "db.schema.visualization",
    "db.schema.nodeTypeProperties", "db.schema.relTypeProperties",
})
READ = "r"


def operators(plan: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """(operator, details) of every step of a plan, without the runtime suffix (`@neo4j`)."""
    name = str(plan.get("operatorType", "")).split("@", 1)[0]
    details = str((plan.get("args") or {}).get("Details", ""))
    yield name, details
    for child in plan.get("children") or []:
        yield from operators(child)


def refusal(query_type: str | None, plan: Mapping[str, Any] | None) -> str | None:
    """Why a planned query may not run, or None when it only reads the graph."""
    for name, details in operators(plan or {}):
        if name == "LoadCSV":
            return "LOAD CSV is not allowed: it reads files and URLs from the database server"
        if name.startswith(("Show", "Terminate")) or name in ("SystemProcedureCall",):
            return "administration commands (SHOW, TERMINATE) are not allowed"
        if name.startswith("Transaction"):
            return "CALL { ... } IN TRANSACTIONS is not allowed: queries run read-only"
        if name == "ProcedureCall":
            procedure = details.split("(", 1)[0].strip()
            if procedure not in ALLOWED_PROCEDURES:
                return (f"procedure {procedure or '(unknown)'} is not allowed; allowed: "
                        + ", ".join(sorted(ALLOWED_PROCEDURES)))
    if query_type != READ:
        return "the query writes, changes the schema or the server: queries run read-only"
    return None
