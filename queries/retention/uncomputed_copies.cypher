// uncomputed_copies: how many live copies have no retention computed under the policy applied
// last (written after it was applied and never recomputed, e.g. by an interrupted ingest).
// Params: $as_of, $policy_version.
MATCH (o:ArchiveObject)
WHERE (o.created_at IS NULL OR o.created_at <= $as_of)
  AND (o.disposed_at IS NULL OR o.disposed_at > $as_of)
  AND (o.retention_status IS NULL OR o.retention_policy_version IS NULL
       OR o.retention_policy_version <> $policy_version)
RETURN count(o) AS copies
