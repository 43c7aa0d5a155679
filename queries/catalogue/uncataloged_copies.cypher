// uncataloged_copies: stored copies whose content is not catalogued: no COPY_OF at all, or a
// COPY_OF to a placeholder never resolved (the object arrived, its header never did).
MATCH (o:ArchiveObject)
OPTIONAL MATCH (o)-[:COPY_OF]->(item)
WITH o, item
WHERE item IS NULL OR item.unresolved = true
OPTIONAL MATCH (o)-[:STORED_IN]->(s:System)
RETURN o.key AS key, s.key AS system, item.key AS copy_of,
       CASE WHEN item IS NULL THEN 'no COPY_OF' ELSE 'COPY_OF an unresolved reference' END
         AS reason
ORDER BY key, system, copy_of
