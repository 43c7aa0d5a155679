// drift_policy: studies whose live copies are governed by different rules or dates.
// Params: $as_of, $policy_version. Copies listed by key. Only the studies that drift have their
// copies listed (collected), so that the memory the query takes follows the answer, not the estate.
MATCH (o:ArchiveObject)
WHERE (o.created_at IS NULL OR o.created_at <= $as_of)
  AND (o.disposed_at IS NULL OR o.disposed_at > $as_of)
  AND o.retention_status = 'computed' AND o.retention_policy_version = $policy_version
OPTIONAL MATCH (o)-[:COPY_OF]->(:Series)-[:PART_OF]->(parent:Study)
OPTIONAL MATCH (o)-[:COPY_OF]->(direct:Study)
WITH o, coalesce(min(parent.key), min(direct.key)) AS study
WHERE study IS NOT NULL
WITH study, collect(o) AS copies,
     count(DISTINCT [o.retention_policy_id, o.retain_until]) AS governed
WHERE governed > 1
UNWIND copies AS o
WITH study, o ORDER BY o.key
RETURN study AS key,
       collect({key: o.key, rule: o.retention_policy_id, retain_until: o.retain_until}) AS copies
ORDER BY key
