// residency_violations: live copies held in a country that the origin jurisdiction of their
// study does not allow (and no transfer mechanism adds). Params: $as_of, $allowed (map:
// origin jurisdiction -> allowed country codes, '*' for anywhere).
MATCH (o:ArchiveObject)
WHERE (o.created_at IS NULL OR o.created_at <= $as_of)
  AND (o.disposed_at IS NULL OR o.disposed_at > $as_of)
  AND o.country IS NOT NULL
OPTIONAL MATCH (o)-[:STORED_IN]->(sys:System)
OPTIONAL MATCH (o)-[:COPY_OF]->(:Series)-[:PART_OF]->(parent:Study)
OPTIONAL MATCH (o)-[:COPY_OF]->(direct:Study)
WITH o, coalesce(o.region_code, min(sys.region_code)) AS region,
     coalesce(min(parent.key), min(direct.key)) AS study_key
MATCH (study:Study {key: study_key})
WHERE study.origin_jurisdiction IS NOT NULL
  AND $allowed[study.origin_jurisdiction] IS NOT NULL
  AND NOT '*' IN $allowed[study.origin_jurisdiction]
  AND NOT o.country IN $allowed[study.origin_jurisdiction]
RETURN o.key AS key, study.key AS study, study.origin_jurisdiction AS origin,
       o.country AS country, region
ORDER BY key
