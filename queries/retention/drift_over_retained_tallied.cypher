// drift_over_retained_tallied: the page of drift_over_retained (the same copies, the same rows,
// the same filter: keep the two alike) read from the copies' tallies in key order, so that a
// page after any key, at any depth, reads the index entries from there to its end and visits
// only the copies it returns. Written by `retention apply` on every computed copy not disposed
// (`retention_group`, `retention_created`; see drift_over_retained_totals), one composite index
// (key, retain_until, retention_group, retention_created) holds them in key order: the tallied
// copies past their date and created by $as_of, less those an active legal hold covers, plus the
// copies disposed since $as_of (live then, no longer tallied: visited; none as of now).
// Params: as drift_over_retained ($after, $offset, $limit).
CALL () {
  MATCH (e:ComplianceEvent)-[:APPLIES_TO]->()-[:INCLUDES*0..1]->()
        <-[:OF_PATIENT|PART_OF|COPY_OF|STORED_IN*0..3]-(held:ArchiveObject)
  USING INDEX e:ComplianceEvent(event_type)
  WHERE e.event_type = 'legal_hold' AND e.started_at <= $as_of
    AND (e.ended_at IS NULL OR e.ended_at > $as_of)
  RETURN collect(DISTINCT held.key) AS held
}
CALL (held) {
  MATCH (o:ArchiveObject)
  USING INDEX o:ArchiveObject(key, retain_until, retention_group, retention_created)
  WHERE o.key > $after AND o.retain_until < $as_of_date
    AND o.retention_group STARTS WITH $policy_version + '\t' AND o.retention_created <= $as_of
    AND NOT o.key IN held
  RETURN o ORDER BY o.key LIMIT $offset + $limit
  UNION ALL
  MATCH (o:ArchiveObject)
  USING INDEX o:ArchiveObject(disposed_at)
  WHERE o.disposed_at > $as_of AND o.retention_group IS NULL
    AND o.retain_until < $as_of_date AND coalesce(o.created_at, '') <= $as_of
    AND o.retention_status = 'computed' AND o.retention_policy_version = $policy_version
    AND NOT o.key IN held AND coalesce(o.key, '') > $after
  RETURN o ORDER BY o.key LIMIT $offset + $limit
}
// The two parts are apart (a tally or none): UNION ALL, no distinct set of rows. The grouping
// leaves `held` behind before the page is cut (see drift_over_retained).
WITH o, count(*) AS found
WITH o ORDER BY o.key SKIP $offset LIMIT $limit
OPTIONAL MATCH (o)-[:STORED_IN]->(sys:System)
WITH o, min(sys.key) AS system, min(sys.region_code) AS system_region
RETURN o.key AS key, o.retain_until AS retain_until, o.retention_policy_id AS rule,
       system, coalesce(o.region_code, system_region) AS region,
       o.storage_tier AS storage_tier, o.bytes AS bytes
ORDER BY key
