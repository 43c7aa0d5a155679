// drift_policy: studies whose live copies are governed by different rules or dates, copies
// listed by key. Read from the studies whose stored `retention_rule_count` (study_facts, kept by
// `retention apply`) says their copies have more than one rule or date: an index seek, not a
// scan of every copy. A copy counts for one study: its series' study, else its own.
// Params: $as_of, $policy_version.
// (`only_here`: a copy of a single series that is part of a single study counts for that
// study without looking further, the common case and the cheap one; any other copy is
// tested: the lowest key among its series' studies, else among its own.)
MATCH (s:Study)
WHERE s.retention_rule_count > 1
CALL (s) {
  MATCH (o:ArchiveObject)-[:COPY_OF]->(s) RETURN o, false AS only_here
  UNION
  MATCH (series:Series)-[:PART_OF]->(s)
  WITH series, COUNT { (series)-[:PART_OF]->() } = 1 AS one_study
  MATCH (o:ArchiveObject)-[:COPY_OF]->(series)
  RETURN o, one_study AND COUNT { (o)-[:COPY_OF]->() } = 1 AS only_here
}
WITH s, o, only_here
WHERE (o.created_at IS NULL OR o.created_at <= $as_of)
  AND (o.disposed_at IS NULL OR o.disposed_at > $as_of)
  AND o.retention_status = 'computed' AND o.retention_policy_version = $policy_version
  AND (only_here OR COLLECT {
         OPTIONAL MATCH (o)-[:COPY_OF]->(:Series)-[:PART_OF]->(parent:Study)
         OPTIONAL MATCH (o)-[:COPY_OF]->(direct:Study)
         RETURN coalesce(min(parent.key), min(direct.key)) AS counted_for
       }[0] = s.key)
WITH s.key AS study, collect(o) AS copies,
     count(DISTINCT [o.retention_policy_id, o.retain_until]) AS governed
WHERE governed > 1
UNWIND copies AS o
WITH study, o ORDER BY o.key
RETURN study AS key,
       collect({key: o.key, rule: o.retention_policy_id, retain_until: o.retain_until}) AS copies
ORDER BY key
