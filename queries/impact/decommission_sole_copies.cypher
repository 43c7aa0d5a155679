// decommission_sole_copies: series and studies whose only live copies at $as_of are in system
// $system, with the facts that decide migrate-or-dispose: the copies in the system, their
// retention (latest retain_until, whether any is not computed under $policy_version) and the
// legal holds active at $as_of that cover them. The items tested are those of the system's live
// copies, or when $items is a list those items only (`decommission_facts` found them).
MATCH (s:System {key: $system})
CALL (s) {
  WITH s WHERE $items IS NULL
  MATCH (s)<-[:STORED_IN]-(o:ArchiveObject)-[:COPY_OF]->(item)
  WHERE (o.created_at IS NULL OR o.created_at <= $as_of)
    AND (o.disposed_at IS NULL OR o.disposed_at > $as_of)
  RETURN DISTINCT item
  UNION
  UNWIND coalesce($items, []) AS key
  CALL (key) {
    MATCH (item:Series {key: key}) RETURN item
    UNION
    MATCH (item:Study {key: key}) RETURN item
  }
  RETURN item
}
WITH s, item
WHERE NOT EXISTS {
  MATCH (item)<-[:COPY_OF]-(other:ArchiveObject)-[:STORED_IN]->(elsewhere:System)
  WHERE elsewhere <> s
    AND (other.created_at IS NULL OR other.created_at <= $as_of)
    AND (other.disposed_at IS NULL OR other.disposed_at > $as_of)
}
MATCH (item)<-[:COPY_OF]-(o:ArchiveObject)-[:STORED_IN]->(s)
WHERE (o.created_at IS NULL OR o.created_at <= $as_of)
  AND (o.disposed_at IS NULL OR o.disposed_at > $as_of)
WITH item, o ORDER BY o.key
WITH item, collect(o) AS objects
WITH item, objects, [o IN objects | o.key] AS copies,
     [o IN objects WHERE o.retention_status = 'computed'
                     AND o.retention_policy_version = $policy_version] AS current
UNWIND objects AS o
OPTIONAL MATCH (e:ComplianceEvent)-[:APPLIES_TO]->()-[:INCLUDES*0..1]->()
               <-[:OF_PATIENT|PART_OF|COPY_OF|STORED_IN*0..3]-(o)
WHERE e.event_type = 'legal_hold' AND e.started_at <= $as_of
  AND (e.ended_at IS NULL OR e.ended_at > $as_of)
WITH item, copies, current, e ORDER BY e.key
WITH item, copies, current, [k IN collect(DISTINCT e.key) WHERE k IS NOT NULL] AS holds
RETURN item.key AS key, labels(item)[0] AS kind, copies,
       reduce(latest = null, c IN current |
         CASE WHEN latest IS NULL OR c.retain_until > latest THEN c.retain_until ELSE latest END)
         AS retain_until,
       size(copies) - size(current) AS retention_unknown, holds
ORDER BY key
