// copies_per_system_region: live stored copies at $as_of per system and storage region, with
// their bytes. Params: $as_of (e.g. '2026-11-28T23:59:59.999999Z').
MATCH (o:ArchiveObject)-[:STORED_IN]->(s:System)
WHERE (o.created_at IS NULL OR o.created_at <= $as_of)
  AND (o.disposed_at IS NULL OR o.disposed_at > $as_of)
RETURN s.key AS system, coalesce(o.region_code, s.region_code) AS region,
       count(o) AS copies, sum(coalesce(o.bytes, 0)) AS bytes
ORDER BY system, region
