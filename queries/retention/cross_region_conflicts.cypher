// cross_region_conflicts: studies with live copies in several regions whose obligations
// differ (other jurisdictions, or other retain_until dates). Read from the studies whose stored
// `obligation_count` (study_facts, kept by `retention apply`) says their copies have more than
// one: an index seek, not a scan of every copy. A copy counts for one study: its series'
// study, else its own. Params: $as_of.
// (`only_here`: a copy of a single series that is part of a single study counts for that
// study without looking further, the common case and the cheap one; any other copy is
// tested: the lowest key among its series' studies, else among its own.)
MATCH (s:Study)
WHERE s.obligation_count > 1
CALL (s) {
  MATCH (o:ArchiveObject)-[:COPY_OF]->(s) RETURN o, false AS only_here
  UNION
  MATCH (series:Series)-[:PART_OF]->(s)
  WITH series, COUNT { (series)-[:PART_OF]->() } = 1 AS one_study
  MATCH (o:ArchiveObject)-[:COPY_OF]->(series)
  RETURN o, one_study AND COUNT { (o)-[:COPY_OF]->() } = 1 AS only_here
}
WITH s, o, only_here
WHERE (o.created_at IS NULL OR o.created_at <= $as_of)
  AND (o.disposed_at IS NULL OR o.disposed_at > $as_of)
  AND (only_here OR COLLECT {
         OPTIONAL MATCH (o)-[:COPY_OF]->(:Series)-[:PART_OF]->(parent:Study)
         OPTIONAL MATCH (o)-[:COPY_OF]->(direct:Study)
         RETURN coalesce(min(parent.key), min(direct.key)) AS counted_for
       }[0] = s.key)
OPTIONAL MATCH (o)-[:STORED_IN]->(sys:System)
WITH s.key AS study, o, coalesce(o.region_code, min(sys.region_code)) AS region
WHERE region IS NOT NULL
WITH study, o, region ORDER BY o.key
WITH study, collect({key: o.key, region: region, jurisdictions: o.jurisdictions,
                     retain_until: o.retain_until}) AS copies
WITH study, copies,
     reduce(s = [], c IN copies | CASE WHEN c.region IN s THEN s ELSE s + c.region END) AS regions,
     reduce(s = [], c IN copies |
       CASE WHEN [coalesce(c.jurisdictions, []), coalesce(c.retain_until, '')] IN s THEN s
            ELSE s + [[coalesce(c.jurisdictions, []), coalesce(c.retain_until, '')]] END)
       AS obligations
WHERE size(regions) > 1 AND size(obligations) > 1
UNWIND regions AS region
WITH study, copies, region ORDER BY region
RETURN study AS key, collect(region) AS regions, copies
ORDER BY key
