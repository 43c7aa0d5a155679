// estate_facts: every system's row of `estate_systems` at $as_of from what its copies say of
// themselves (`holding_facts`: holding_system, _tier, _bytes, _created_at and _disposed_at on
// each copy, written by `retention apply` and the recompute after each ingest), read from one
// index without visiting the copies, and what decides whether they stand for a walk of its
// copies (`lineage.estate_overview`). Params: $as_of.
// stored: STORED_IN relationships into the system (a count the store keeps); entries: copies
//   whose facts name it (every copy stored in it has them when the two are equal; a copy
//   stored in several systems names none); copies, bytes, tiers: those of its entries live at
//   $as_of (created then or before, or at no known moment; not disposed by then), as the walk
//   counts them. A copy's own dates decide, so any moment is answered from the facts.
// The entries are grouped unsorted and only the few distinct tiers sorted: an ORDER BY before
// the grouping makes the planner sort every entry of the system.
MATCH (s:System)
CALL (s) {
  OPTIONAL MATCH (o:ArchiveObject)
  WHERE o.holding_system = s.key AND o.holding_tier IS NOT NULL
    AND o.holding_bytes IS NOT NULL AND o.holding_created_at IS NOT NULL
    AND o.holding_disposed_at IS NOT NULL
  WITH (o.holding_created_at = '' OR o.holding_created_at <= $as_of)
         AND (o.holding_disposed_at = '' OR o.holding_disposed_at > $as_of) AS live,
       o.holding_tier AS tier, count(o) AS copies, sum(o.holding_bytes) AS bytes
  RETURN sum(copies) AS entries, sum(CASE WHEN live THEN copies ELSE 0 END) AS copies,
         sum(CASE WHEN live THEN bytes ELSE 0 END) AS bytes,
         collect(DISTINCT CASE WHEN live AND tier <> '' THEN tier END) AS tiers
}
CALL (s) {
  OPTIONAL MATCH (s)-[f:FEEDS]->(t:System)
  WHERE (f.valid_from IS NULL OR f.valid_from <= $as_of)
    AND (f.valid_to IS NULL OR f.valid_to > $as_of)
  WITH t ORDER BY t.key
  RETURN collect(t.key) AS feeds
}
RETURN s.key AS key, s.kind AS kind, s.region_code AS region, s.status AS status,
       s.vendor AS vendor, copies, bytes,
       COLLECT { UNWIND tiers AS tier RETURN tier ORDER BY tier } AS tiers, feeds,
       COUNT { (s)<-[:STORED_IN]-() } AS stored, entries
ORDER BY key
