// decommission_gaps: live copies in system $system at $as_of whose origin is unknown:
// - a reference never resolved (the copy, its series or its study is a placeholder);
// - a de-identified series with no DERIVED_FROM to its original;
// - no COPIED_FROM, while the system is fed by other (non-modality) systems none of which holds
//   or held a copy of the same series or study.
// The copies tested are all the system's, or when $copies is a list those only
// (`decommission_facts` flagged them).
MATCH (s:System {key: $system})
CALL (s) {
  WITH s WHERE $copies IS NULL
  MATCH (s)<-[:STORED_IN]-(o:ArchiveObject)
  RETURN o
  UNION
  UNWIND coalesce($copies, []) AS key
  MATCH (s)<-[:STORED_IN]-(o:ArchiveObject {key: key})
  RETURN o
}
WITH s, o
WHERE (o.created_at IS NULL OR o.created_at <= $as_of)
  AND (o.disposed_at IS NULL OR o.disposed_at > $as_of)
OPTIONAL MATCH (o)-[:COPY_OF]->(item)
OPTIONAL MATCH (item)-[:PART_OF]->(study:Study)
WITH s, o, item, study,
     coalesce(o.unresolved, false) OR coalesce(item.unresolved, false)
       OR coalesce(study.unresolved, false) AS unresolved,
     coalesce(item.deidentified, false) AND NOT EXISTS { (item)-[:DERIVED_FROM]->() }
       AS unlinked_deid,
     EXISTS { MATCH (up:System)-[:FEEDS]->(s) WHERE coalesce(up.kind, '') <> 'modality' }
       AND NOT EXISTS { (o)-[:COPIED_FROM]->() }
       AND NOT EXISTS {
         MATCH (up:System)-[:FEEDS]->(s), (item)<-[:COPY_OF]-(:ArchiveObject)-[:STORED_IN]->(up)
         WHERE coalesce(up.kind, '') <> 'modality'
       } AS no_source
WITH o, [reason IN [CASE WHEN item IS NULL THEN 'copy of nothing known' END,
                    CASE WHEN unresolved THEN 'unresolved reference' END,
                    CASE WHEN unlinked_deid THEN 'de-identified with no link to its original' END,
                    CASE WHEN no_source THEN 'no recorded source in the systems feeding it' END]
         WHERE reason IS NOT NULL] AS reasons
UNWIND reasons AS reason
WITH o.key AS key, reason ORDER BY key, reason
RETURN key, collect(DISTINCT reason) AS reasons
ORDER BY key
