// drift_policy: studies whose live copies are governed by different rules or dates, copies
// listed by key. Read from the studies whose stored `retention_rule_count` (study_facts, kept by
// `retention apply`) says their copies have more than one rule or date: an index seek, not a
// scan of every copy. A copy counts for one study: its series' study, else its own.
// Params: $as_of, $policy_version.
MATCH (s:Study)
WHERE s.retention_rule_count > 1
CALL (s) {
  MATCH (o:ArchiveObject)-[:COPY_OF]->(s) RETURN o
  UNION
  MATCH (o:ArchiveObject)-[:COPY_OF]->(:Series)-[:PART_OF]->(s) RETURN o
}
WITH s, o
WHERE (o.created_at IS NULL OR o.created_at <= $as_of)
  AND (o.disposed_at IS NULL OR o.disposed_at > $as_of)
  AND o.retention_status = 'computed' AND o.retention_policy_version = $policy_version
OPTIONAL MATCH (o)-[:COPY_OF]->(:Series)-[:PART_OF]->(parent:Study)
OPTIONAL MATCH (o)-[:COPY_OF]->(direct:Study)
WITH s, o, coalesce(min(parent.key), min(direct.key)) AS study
WHERE study = s.key
WITH study, collect(o) AS copies,
     count(DISTINCT [o.retention_policy_id, o.retain_until]) AS governed
WHERE governed > 1
UNWIND copies AS o
WITH study, o ORDER BY o.key
RETURN study AS key,
       collect({key: o.key, rule: o.retention_policy_id, retain_until: o.retain_until}) AS copies
ORDER BY key
