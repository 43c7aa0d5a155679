// drift_unknown: live copies whose retention cannot be computed, or was computed under another
// policy version (a recomputation that has not finished). Params: $as_of, $policy_version.
MATCH (o:ArchiveObject)
WHERE (o.created_at IS NULL OR o.created_at <= $as_of)
  AND (o.disposed_at IS NULL OR o.disposed_at > $as_of)
  AND (o.retention_status IS NULL OR o.retention_status <> 'computed'
       OR o.retention_policy_version IS NULL OR o.retention_policy_version <> $policy_version)
RETURN o.key AS key,
       CASE
         WHEN o.retention_status IS NULL THEN 'retention not computed'
         WHEN o.retention_policy_version IS NULL OR o.retention_policy_version <> $policy_version
           THEN 'computed under another policy version'
         ELSE o.retention_reason
       END AS reason
ORDER BY key
