// drift_unknown: live copies whose retention cannot be computed, or was computed under another
// policy version (a recomputation that has not finished). Params: $as_of, $policy_version.
// Index seeks on retention_status and retention_policy_version; copies with neither (written
// after the policy was applied and never recomputed) cannot be sought, and are looked for
// only when the two indexes hold fewer copies than the label (never after a complete apply).
CALL () {
  MATCH (o:ArchiveObject) WHERE o.retention_status < 'computed' RETURN o
  UNION
  MATCH (o:ArchiveObject) WHERE o.retention_status > 'computed' RETURN o
  UNION
  MATCH (o:ArchiveObject) WHERE o.retention_policy_version < $policy_version RETURN o
  UNION
  MATCH (o:ArchiveObject) WHERE o.retention_policy_version > $policy_version RETURN o
  UNION
  CALL () {
    MATCH (o:ArchiveObject)
    WITH count(o) AS copies
    CALL () {
      MATCH (o:ArchiveObject) WHERE o.retention_status IS NOT NULL RETURN count(o) AS with_status
    }
    CALL () {
      MATCH (o:ArchiveObject) WHERE o.retention_policy_version IS NOT NULL
      RETURN count(o) AS with_version
    }
    RETURN copies > with_status OR copies > with_version AS missing
  }
  WITH missing WHERE missing
  MATCH (o:ArchiveObject)
  WHERE o.retention_status IS NULL OR o.retention_policy_version IS NULL
  RETURN o
}
WITH o
WHERE (o.created_at IS NULL OR o.created_at <= $as_of)
  AND (o.disposed_at IS NULL OR o.disposed_at > $as_of)
RETURN o.key AS key,
       CASE
         WHEN o.retention_status IS NULL THEN 'retention not computed'
         WHEN o.retention_policy_version IS NULL OR o.retention_policy_version <> $policy_version
           THEN 'computed under another policy version'
         ELSE o.retention_reason
       END AS reason
ORDER BY key
