// holds_restore_needed: studies in the scope of a legal hold active at $as_of whose live copies
// all sit in archive tiers ($archive_tiers): they must be restored before they can be produced.
// A copy counts for one study: its series' study (the lowest key), else its own; a copy of a
// single series of a single study is taken without that test (`only_here`).
MATCH (e:ComplianceEvent)-[:APPLIES_TO]->()-[:INCLUDES*0..1]->()
      <-[:OF_PATIENT|PART_OF|COPY_OF|STORED_IN*0..3]-(o:ArchiveObject)
WHERE e.event_type = 'legal_hold' AND e.started_at <= $as_of
  AND (e.ended_at IS NULL OR e.ended_at > $as_of)
WITH DISTINCT e, o
OPTIONAL MATCH (o)-[:COPY_OF]->(:Series)-[:PART_OF]->(parent:Study)
OPTIONAL MATCH (o)-[:COPY_OF]->(direct:Study)
WITH e, o, coalesce(min(parent.key), min(direct.key)) AS study
WITH DISTINCT e, study
WHERE study IS NOT NULL
MATCH (s:Study {key: study})
CALL (s) {
  MATCH (c:ArchiveObject)-[:COPY_OF]->(s) RETURN c, false AS only_here
  UNION
  MATCH (series:Series)-[:PART_OF]->(s)
  WITH series, COUNT { (series)-[:PART_OF]->() } = 1 AS one_study
  MATCH (c:ArchiveObject)-[:COPY_OF]->(series)
  RETURN c, one_study AND COUNT { (c)-[:COPY_OF]->() } = 1 AS only_here
}
WITH e, study, c, only_here
WHERE (c.created_at IS NULL OR c.created_at <= $as_of)
  AND (c.disposed_at IS NULL OR c.disposed_at > $as_of)
  AND (only_here OR COLLECT {
         OPTIONAL MATCH (c)-[:COPY_OF]->(:Series)-[:PART_OF]->(parent:Study)
         OPTIONAL MATCH (c)-[:COPY_OF]->(direct:Study)
         RETURN coalesce(min(parent.key), min(direct.key)) AS counted_for
       }[0] = study)
WITH e, study, c ORDER BY c.key
WITH e, study, collect(c.key) AS copies, collect(coalesce(c.storage_tier, '')) AS tiers
WHERE size(copies) > 0 AND all(t IN tiers WHERE t IN $archive_tiers)
RETURN study AS key, e.key AS hold, copies, tiers
ORDER BY key, hold
