// cross_region_conflicts: studies with live copies in several regions whose obligations
// differ (other jurisdictions, or other retain_until dates). Read from the studies whose stored
// `obligation_count` (study_facts, kept by `retention apply`) says their copies have more than
// one: an index seek, not a scan of every copy. A copy counts for one study: its series'
// study, else its own. Params: $as_of.
MATCH (s:Study)
WHERE s.obligation_count > 1
CALL (s) {
  MATCH (o:ArchiveObject)-[:COPY_OF]->(s) RETURN o
  UNION
  MATCH (o:ArchiveObject)-[:COPY_OF]->(:Series)-[:PART_OF]->(s) RETURN o
}
WITH s, o
WHERE (o.created_at IS NULL OR o.created_at <= $as_of)
  AND (o.disposed_at IS NULL OR o.disposed_at > $as_of)
OPTIONAL MATCH (o)-[:STORED_IN]->(sys:System)
OPTIONAL MATCH (o)-[:COPY_OF]->(:Series)-[:PART_OF]->(parent:Study)
OPTIONAL MATCH (o)-[:COPY_OF]->(direct:Study)
WITH s, o, coalesce(o.region_code, min(sys.region_code)) AS region,
     coalesce(min(parent.key), min(direct.key)) AS study
WHERE study = s.key AND region IS NOT NULL
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
