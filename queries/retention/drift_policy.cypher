// drift_policy: studies whose live copies are governed by different rules or dates.
// Params: $as_of, $policy_version. Copies listed by key.
MATCH (o:ArchiveObject)
WHERE (o.created_at IS NULL OR o.created_at <= $as_of)
  AND (o.disposed_at IS NULL OR o.disposed_at > $as_of)
  AND o.retention_status = 'computed' AND o.retention_policy_version = $policy_version
OPTIONAL MATCH (o)-[:COPY_OF]->(:Series)-[:PART_OF]->(parent:Study)
OPTIONAL MATCH (o)-[:COPY_OF]->(direct:Study)
WITH o, coalesce(min(parent.key), min(direct.key)) AS study
WHERE study IS NOT NULL
WITH study, o ORDER BY o.key
WITH study, collect({key: o.key, rule: o.retention_policy_id, retain_until: o.retain_until})
     AS copies
WHERE size(copies) > 1
  AND size(reduce(seen = [], c IN copies |
        CASE WHEN [c.rule, c.retain_until] IN seen THEN seen
             ELSE seen + [[c.rule, c.retain_until]] END)) > 1
RETURN study AS key, copies
ORDER BY key
