// estate_systems: every system (or only those of $systems, when not null) with its kind, region,
// status and vendor, its live copies at $as_of with their bytes and storage tiers (sorted; an
// empty tier is none), and the systems it feeds (FEEDS valid at $as_of, sorted).
// Params: $as_of, $systems.
// A system's copies are summed per storage tier first, so that only its few tiers are sorted:
// sorting the copies themselves held every copy of the estate in one transaction's memory.
// `estate_facts` gives the same rows from the copies' holding facts without this walk.
MATCH (s:System)
WHERE $systems IS NULL OR s.key IN $systems
CALL (s) {
  OPTIONAL MATCH (s)<-[:STORED_IN]-(o:ArchiveObject)
  WHERE (o.created_at IS NULL OR o.created_at <= $as_of)
    AND (o.disposed_at IS NULL OR o.disposed_at > $as_of)
  WITH o.storage_tier AS tier, count(o) AS copies, sum(coalesce(o.bytes, 0)) AS bytes
  ORDER BY tier
  RETURN sum(copies) AS copies, sum(bytes) AS bytes,
         collect(CASE tier WHEN '' THEN null ELSE tier END) AS tiers
}
CALL (s) {
  OPTIONAL MATCH (s)-[f:FEEDS]->(t:System)
  WHERE (f.valid_from IS NULL OR f.valid_from <= $as_of)
    AND (f.valid_to IS NULL OR f.valid_to > $as_of)
  WITH t ORDER BY t.key
  RETURN collect(t.key) AS feeds
}
RETURN s.key AS key, s.kind AS kind, s.region_code AS region, s.status AS status,
       s.vendor AS vendor, copies, bytes, tiers, feeds
ORDER BY key
