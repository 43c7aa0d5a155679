// sole_copies: series (and studies copied whole) whose only live copy at $as_of is in one
// system: what is lost if that system goes. Params: $as_of. Copies sorted by key.
MATCH (o:ArchiveObject)-[:COPY_OF]->(item)
WHERE (o.created_at IS NULL OR o.created_at <= $as_of)
  AND (o.disposed_at IS NULL OR o.disposed_at > $as_of)
MATCH (o)-[:STORED_IN]->(s:System)
WITH item, o, s ORDER BY o.key
WITH item, collect(DISTINCT s.key) AS systems, collect(o.key) AS copies
WHERE size(systems) = 1
RETURN item.key AS key, systems[0] AS system, copies
ORDER BY key
