// drift_over_retained: live copies past retain_until that no active legal hold covers.
// Params: $as_of (timestamp, end of the day asked), $as_of_date (YYYY-MM-DD), $policy_version.
// A hold covers a copy through its scope: the copy's system, study, series' study, the study's
// patient, or a dataset including any of those.
MATCH (o:ArchiveObject)
WHERE (o.created_at IS NULL OR o.created_at <= $as_of)
  AND (o.disposed_at IS NULL OR o.disposed_at > $as_of)
  AND o.retention_status = 'computed' AND o.retention_policy_version = $policy_version
  AND o.retain_until < $as_of_date
  AND NOT EXISTS {
    MATCH (e:ComplianceEvent)-[:APPLIES_TO]->()-[:INCLUDES*0..1]->()
          <-[:OF_PATIENT|PART_OF|COPY_OF|STORED_IN*0..3]-(o)
    WHERE e.event_type = 'legal_hold' AND e.started_at <= $as_of
      AND (e.ended_at IS NULL OR e.ended_at > $as_of)
  }
OPTIONAL MATCH (o)-[:STORED_IN]->(sys:System)
WITH o, min(sys.key) AS system, min(sys.region_code) AS system_region
RETURN o.key AS key, o.retain_until AS retain_until, o.retention_policy_id AS rule,
       system, coalesce(o.region_code, system_region) AS region,
       o.storage_tier AS storage_tier, o.bytes AS bytes
ORDER BY key
