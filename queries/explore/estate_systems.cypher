// estate_systems: every system with its kind, region, status and vendor, its live copies at
// $as_of with their bytes and storage tiers (sorted), and the systems it feeds (FEEDS valid at
// $as_of, sorted). Params: $as_of.
// A system's copies are summed per storage tier first, so that only its few tiers are sorted:
// sorting the copies themselves held every copy of the estate in one transaction's memory.
MATCH (s:System)
CALL (s) {
  OPTIONAL MATCH (s)<-[:STORED_IN]-(o:ArchiveObject)
  WHERE (o.created_at IS NULL OR o.created_at <= $as_of)
    AND (o.disposed_at IS NULL OR o.disposed_at > $as_of)
  WITH o.storage_tier AS tier, count(o) AS copies, sum(coalesce(o.bytes, 0)) AS bytes
  ORDER BY tier
  RETURN sum(copies) AS copies, sum(bytes) AS bytes, collect(tier) AS tiers
}
OPTIONAL MATCH (s)-[f:FEEDS]->(t:System)
WHERE (f.valid_from IS NULL OR f.valid_from <= $as_of)
  AND (f.valid_to IS NULL OR f.valid_to > $as_of)
WITH s, copies, bytes, tiers, t ORDER BY t.key
RETURN s.key AS key, s.kind AS kind, s.region_code AS region, s.status AS status,
       s.vendor AS vendor, copies, bytes, tiers, collect(t.key) AS feeds
ORDER BY key
