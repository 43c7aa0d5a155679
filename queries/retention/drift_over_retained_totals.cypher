// drift_over_retained_totals: the over-retained copies of drift_over_retained (the same filter:
// keep the two alike) counted, and their bytes summed, by system, region and storage tier: what
// the report's cost and count are made of, without sending a row per copy.
// Params: $as_of (timestamp, end of the day asked), $as_of_date (YYYY-MM-DD), $policy_version.
// Summed from the copies' tallies (`retention_group`, `retention_bytes`, `retention_created`,
// written by `retention apply` on every computed copy not disposed), read from one composite
// index without visiting the copies: the tallied copies past their date and created by
// $as_of, less those an active legal hold covers (holds are few: those copies are visited),
// plus the copies disposed since $as_of, which were live then and are no longer tallied
// (visited: none for a report as of now).
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
  USING INDEX o:ArchiveObject(retain_until, retention_group, retention_bytes, retention_created)
  WHERE o.retain_until < $as_of_date AND o.retention_group STARTS WITH $policy_version + '\t'
    AND o.retention_bytes IS NOT NULL AND o.retention_created <= $as_of
  RETURN split(o.retention_group, '\t') AS grouped, count(*) AS copies,
         sum(o.retention_bytes) AS bytes
  UNION ALL
  UNWIND held AS key
  MATCH (o:ArchiveObject {key: key})
  WHERE o.retain_until < $as_of_date AND o.retention_group STARTS WITH $policy_version + '\t'
    AND o.retention_created <= $as_of
  RETURN split(o.retention_group, '\t') AS grouped, -count(*) AS copies,
         -sum(o.retention_bytes) AS bytes
  UNION ALL
  MATCH (o:ArchiveObject)
  USING INDEX o:ArchiveObject(disposed_at)
  WHERE o.disposed_at > $as_of AND o.retention_group IS NULL
    AND o.retain_until < $as_of_date AND coalesce(o.created_at, '') <= $as_of
    AND o.retention_status = 'computed' AND o.retention_policy_version = $policy_version
    AND NOT o.key IN held
  OPTIONAL MATCH (o)-[:STORED_IN]->(sys:System)
  WITH o, min(sys.key) AS system, min(sys.region_code) AS system_region
  RETURN ['', coalesce(system, ''), coalesce(o.region_code, system_region, ''),
          coalesce(o.storage_tier, '')] AS grouped,
         count(*) AS copies, sum(coalesce(o.bytes, 0)) AS bytes
}
WITH [part IN grouped[1..] | CASE WHEN part = '' THEN null ELSE part END] AS group,
     sum(copies) AS copies, sum(bytes) AS bytes
WHERE copies > 0
RETURN group[0] AS system, group[1] AS region, group[2] AS storage_tier, copies, bytes
ORDER BY system, region, storage_tier
