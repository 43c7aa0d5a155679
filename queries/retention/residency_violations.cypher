// residency_violations: live copies held in a country that the origin jurisdiction of their
// study does not allow (and no transfer mechanism adds). Read from the studies whose stored
// `foreign_country_count` (kept by `retention apply` from study_facts and the policy) says a
// copy is somewhere its origin does not allow: an index seek, not a scan of every copy. A copy
// counts for one study: its series' study, else its own. Params: $as_of, $allowed (map: origin
// jurisdiction -> allowed country codes, '*' for anywhere).
// (`only_here`: a copy of a single series that is part of a single study counts for that
// study without looking further, the common case and the cheap one; any other copy is
// tested: the lowest key among its series' studies, else among its own.)
MATCH (study:Study)
WHERE study.foreign_country_count > 0
  AND study.origin_jurisdiction IS NOT NULL
  AND $allowed[study.origin_jurisdiction] IS NOT NULL
  AND NOT '*' IN $allowed[study.origin_jurisdiction]
CALL (study) {
  MATCH (o:ArchiveObject)-[:COPY_OF]->(study) RETURN o, false AS only_here
  UNION
  MATCH (series:Series)-[:PART_OF]->(study)
  WITH series, COUNT { (series)-[:PART_OF]->() } = 1 AS one_study
  MATCH (o:ArchiveObject)-[:COPY_OF]->(series)
  RETURN o, one_study AND COUNT { (o)-[:COPY_OF]->() } = 1 AS only_here
}
WITH study, o, only_here
WHERE (o.created_at IS NULL OR o.created_at <= $as_of)
  AND (o.disposed_at IS NULL OR o.disposed_at > $as_of)
  AND o.country IS NOT NULL
  AND NOT o.country IN $allowed[study.origin_jurisdiction]
  AND (only_here OR COLLECT {
         OPTIONAL MATCH (o)-[:COPY_OF]->(:Series)-[:PART_OF]->(parent:Study)
         OPTIONAL MATCH (o)-[:COPY_OF]->(direct:Study)
         RETURN coalesce(min(parent.key), min(direct.key)) AS counted_for
       }[0] = study.key)
OPTIONAL MATCH (o)-[:STORED_IN]->(sys:System)
WITH study, o, coalesce(o.region_code, min(sys.region_code)) AS region
RETURN o.key AS key, study.key AS study, study.origin_jurisdiction AS origin,
       o.country AS country, region
ORDER BY key
