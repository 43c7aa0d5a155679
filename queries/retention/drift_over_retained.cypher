// drift_over_retained: live copies past retain_until that no active legal hold covers, a page
// of them in key order: those after the key $after ('' from the first), $offset rows skipped,
// at most $limit (a top-N, never the whole answer held or sent). Their count and bytes:
// drift_over_retained_totals, which must filter alike (but for $after).
// Params: $as_of (timestamp, end of the day asked), $as_of_date (YYYY-MM-DD), $policy_version,
// $after, $offset, $limit.
// A hold covers a copy through its scope: the copy's system, study, series' study, the study's
// patient, or a dataset including any of those. The copies held are gathered once (holds are
// few), then the copies past their date are sought by the retain_until index (the live test
// written with coalesce, so that it stays a filter and not a second index branch).
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
  AND NOT o.key IN held AND coalesce(o.key, '') > $after
// The page is cut before its copies are expanded to their systems. The grouping leaves `held`
// behind (a projection would not): the top-N holds a copy a row, not the held list with each,
// which Neo4j counts against the transaction's memory row by row.
WITH o, count(*) AS found
WITH o ORDER BY o.key SKIP $offset LIMIT $limit
OPTIONAL MATCH (o)-[:STORED_IN]->(sys:System)
WITH o, min(sys.key) AS system, min(sys.region_code) AS system_region
RETURN o.key AS key, o.retain_until AS retain_until, o.retention_policy_id AS rule,
       system, coalesce(o.region_code, system_region) AS region,
       o.storage_tier AS storage_tier, o.bytes AS bytes
ORDER BY key
