// drift_over_retained_by_key: the page of drift_over_retained (the same copies, the same rows,
// the same filter: keep the two alike) found by reading the copies in key order, at most $scan
// of them, instead of seeking every copy past its date and ranking them. One row: `scanned`
// (copies read) and `copies` (the page). Where over-retained copies are common the first
// pages are found within a few thousand copies; where the page is not full and the scan read
// all $scan copies, the page may lie further: ask drift_over_retained.
// Params: as drift_over_retained, and $scan.
MATCH (o:ArchiveObject)
WHERE o.key > $after
WITH o ORDER BY o.key LIMIT $scan
WITH collect(o) AS scanned
CALL () {
  MATCH (e:ComplianceEvent)-[:APPLIES_TO]->()-[:INCLUDES*0..1]->()
        <-[:OF_PATIENT|PART_OF|COPY_OF|STORED_IN*0..3]-(held:ArchiveObject)
  USING INDEX e:ComplianceEvent(event_type)
  WHERE e.event_type = 'legal_hold' AND e.started_at <= $as_of
    AND (e.ended_at IS NULL OR e.ended_at > $as_of)
  RETURN collect(DISTINCT held.key) AS held
}
CALL (scanned, held) {
  UNWIND scanned AS o
  WITH o, held
  WHERE o.retain_until < $as_of_date
    AND coalesce(o.created_at, '') <= $as_of AND coalesce(o.disposed_at, '~') > $as_of
    AND o.retention_status = 'computed' AND o.retention_policy_version = $policy_version
    AND NOT o.key IN held
  WITH o SKIP $offset LIMIT $limit
  CALL (o) {
    OPTIONAL MATCH (o)-[:STORED_IN]->(sys:System)
    RETURN min(sys.key) AS system, min(sys.region_code) AS system_region
  }
  RETURN collect({key: o.key, retain_until: o.retain_until, rule: o.retention_policy_id,
                  system: system, region: coalesce(o.region_code, system_region),
                  storage_tier: o.storage_tier, bytes: o.bytes}) AS copies
}
RETURN size(scanned) AS scanned, copies
