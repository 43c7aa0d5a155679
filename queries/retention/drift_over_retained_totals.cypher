// drift_over_retained_totals: the over-retained copies of drift_over_retained (the same filter:
// keep the two alike) counted, and their bytes summed, by system, region and storage tier: what
// the report's cost and count are made of, without sending a row per copy.
// Params: $as_of (timestamp, end of the day asked), $as_of_date (YYYY-MM-DD), $policy_version.
CALL () {
  MATCH (e:ComplianceEvent)-[:APPLIES_TO]->()-[:INCLUDES*0..1]->()
        <-[:OF_PATIENT|PART_OF|COPY_OF|STORED_IN*0..3]-(held:ArchiveObject)
  USING INDEX e:ComplianceEvent(event_type)
  WHERE e.event_type = 'legal_hold' AND e.started_at <= $as_of
    AND (e.ended_at IS NULL OR e.ended_at > $as_of)
  RETURN collect(DISTINCT held.key) AS held
}
MATCH (o:ArchiveObject)
WHERE o.retain_until < $as_of_date
  AND coalesce(o.created_at, '') <= $as_of AND coalesce(o.disposed_at, '~') > $as_of
  AND o.retention_status = 'computed' AND o.retention_policy_version = $policy_version
  AND NOT o.key IN held
OPTIONAL MATCH (o)-[:STORED_IN]->(sys:System)
WITH o, min(sys.key) AS system, min(sys.region_code) AS system_region
WITH system, coalesce(o.region_code, system_region) AS region, o.storage_tier AS storage_tier,
     count(*) AS copies, sum(coalesce(o.bytes, 0)) AS bytes
RETURN system, region, storage_tier, copies, bytes
ORDER BY system, region, storage_tier
