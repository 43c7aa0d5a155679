// access_paths: who can read a study ($key): access profiles granting on a system that holds a
// live copy of it at $as_of, or on a dataset that includes it (or its series, or a copy).
// Params: $key, $as_of.
MATCH (study:Study {key: $key})
CALL (study) {
  MATCH (study)<-[:PART_OF]-(:Series)<-[:COPY_OF]-(o:ArchiveObject)-[:STORED_IN]->(s:System)
        <-[g:GRANTS]-(p:AccessProfile)
  WHERE (o.created_at IS NULL OR o.created_at <= $as_of)
    AND (o.disposed_at IS NULL OR o.disposed_at > $as_of)
  RETURN p, g, s.key AS through
  UNION
  MATCH (study)<-[:COPY_OF]-(o:ArchiveObject)-[:STORED_IN]->(s:System)<-[g:GRANTS]-(p:AccessProfile)
  WHERE (o.created_at IS NULL OR o.created_at <= $as_of)
    AND (o.disposed_at IS NULL OR o.disposed_at > $as_of)
  RETURN p, g, s.key AS through
  UNION
  MATCH (study)<-[:PART_OF*0..1]-()<-[:COPY_OF*0..1]-(x)<-[:INCLUDES]-(d:Dataset)
        <-[g:GRANTS]-(p:AccessProfile)
  RETURN p, g, d.key AS through
}
RETURN DISTINCT p.key AS profile, p.role AS role, through, g.actions AS actions
ORDER BY profile, through
