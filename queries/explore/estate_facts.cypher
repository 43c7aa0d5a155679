// estate_facts: every system's row of `estate_systems` at $as_of from what its copies say of
// themselves (`holding_facts`: holding_system, _exact_from, _others, _tier and _bytes on each
// copy, written by `retention apply` and the recompute after each ingest), read from one index
// without visiting the copies, and what decides whether they stand for a walk of its copies
// (`lineage.estate_overview`). Params: $as_of.
// stored: STORED_IN relationships into the system (a count the store keeps); entries: copies
//   whose facts name it (every copy stored in it has them when the two are equal; a copy
//   stored in several systems names none);
// later: copies whose facts hold only from after $as_of (a copy of their item was created or
//   disposed after it); copies, bytes, tiers: those of the others that are not disposed.
// The entries are grouped unsorted and only the few distinct tiers sorted: an ORDER BY before
// the grouping makes the planner sort every entry of the system.
MATCH (s:System)
CALL (s) {
  OPTIONAL MATCH (o:ArchiveObject)
  WHERE o.holding_system = s.key AND o.holding_exact_from IS NOT NULL
    AND o.holding_others IS NOT NULL AND o.holding_tier IS NOT NULL
    AND o.holding_bytes IS NOT NULL
  WITH o.holding_exact_from > $as_of AS later, o.holding_others <> '-' AS live,
       o.holding_tier AS tier, count(o) AS copies, sum(o.holding_bytes) AS bytes
  WITH later, live AND NOT later AS counted, tier, copies, bytes
  RETURN sum(copies) AS entries, sum(CASE WHEN later THEN copies ELSE 0 END) AS later,
         sum(CASE WHEN counted THEN copies ELSE 0 END) AS copies,
         sum(CASE WHEN counted THEN bytes ELSE 0 END) AS bytes,
         collect(DISTINCT CASE WHEN counted AND tier <> '' THEN tier END) AS tiers
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
       COUNT { (s)<-[:STORED_IN]-() } AS stored, entries, later
ORDER BY key
