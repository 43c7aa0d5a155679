// residency_violations: live copies held in a country that the origin jurisdiction of their
// study does not allow (and no transfer mechanism adds). Read from the studies whose stored
// `foreign_country_count` (kept by `retention apply` from study_facts and the policy) says a
// copy is somewhere its origin does not allow: an index seek, not a scan of every copy. A copy
// counts for one study: its series' study, else its own. Params: $as_of, $allowed (map: origin
// jurisdiction -> allowed country codes, '*' for anywhere).
MATCH (study:Study)
WHERE study.foreign_country_count > 0
  AND study.origin_jurisdiction IS NOT NULL
  AND $allowed[study.origin_jurisdiction] IS NOT NULL
  AND NOT '*' IN $allowed[study.origin_jurisdiction]
CALL (study) {
  MATCH (o:ArchiveObject)-[:COPY_OF]->(study) RETURN o
  UNION
  MATCH (o:ArchiveObject)-[:COPY_OF]->(:Series)-[:PART_OF]->(study) RETURN o
}
WITH study, o
WHERE (o.created_at IS NULL OR o.created_at <= $as_of)
  AND (o.disposed_at IS NULL OR o.disposed_at > $as_of)
  AND o.country IS NOT NULL
  AND NOT o.country IN $allowed[study.origin_jurisdiction]
OPTIONAL MATCH (o)-[:STORED_IN]->(sys:System)
OPTIONAL MATCH (o)-[:COPY_OF]->(:Series)-[:PART_OF]->(parent:Study)
OPTIONAL MATCH (o)-[:COPY_OF]->(direct:Study)
WITH study, o, coalesce(o.region_code, min(sys.region_code)) AS region,
     coalesce(min(parent.key), min(direct.key)) AS study_key
WHERE study_key = study.key
RETURN o.key AS key, study.key AS study, study.origin_jurisdiction AS origin,
       o.country AS country, region
ORDER BY key
