// drift_premature_disposal: copies disposed before their retain_until, or while a legal hold
// covering them was active. Params: $as_of, $policy_version.
MATCH (o:ArchiveObject)
WHERE o.disposed_at IS NOT NULL AND o.disposed_at <= $as_of
OPTIONAL MATCH (e:ComplianceEvent)-[:APPLIES_TO]->()-[:INCLUDES*0..1]->()
               <-[:OF_PATIENT|PART_OF|COPY_OF|STORED_IN*0..3]-(o)
WHERE e.event_type = 'legal_hold' AND e.started_at <= o.disposed_at
  AND (e.ended_at IS NULL OR e.ended_at > o.disposed_at)
WITH o, e ORDER BY e.key
WITH o, [key IN collect(DISTINCT e.key) WHERE key IS NOT NULL] AS holds
WITH o, holds,
     o.retention_status = 'computed' AND o.retention_policy_version = $policy_version
       AND o.retain_until > substring(o.disposed_at, 0, 10) AS early
WHERE early OR size(holds) > 0
RETURN o.key AS key, o.disposed_at AS disposed_at,
       CASE WHEN early THEN o.retain_until END AS retain_until,
       CASE WHEN early THEN o.retention_policy_id END AS rule, holds
ORDER BY key
